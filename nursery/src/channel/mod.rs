//! Channels (Trio's memory channels): [`channel`]`(capacity)` gives a cloneable [`Sender`] and a
//! cloneable [`Receiver`]; capacity 0 is a rendezvous, `usize::MAX` is unbounded (the buffer
//! grows as needed and never allocates for its capacity up front).
//!
//! # State
//!
//! One `Mutex` per channel guards its `State`: the buffer (a `VecDeque`) and two FIFO queues of
//! parked operations (`WaitList`): senders waiting for room, each holding its value, and
//! receivers waiting for a value. A parked operation owns one slot of its queue until it
//! completes or is dropped; the slot is *linked* while the operation really waits. Critical
//! sections are short, nothing is allocated per operation once the queues have grown, and
//! wakers are woken and values dropped only after the lock is released. The numbers of open
//! handles are atomics beside the lock (see "Counts").
//!
//! Invariant: when receivers are queued the buffer is empty and no sender is queued (a sender
//! that finds a queued receiver hands its value over instead of queueing, and a receiver that
//! finds a value or a queued sender takes it instead of queueing).
//!
//! # Protocol: hand-over (FIFO, Trio's fairness)
//!
//! - `send(v)`: with a receiver queued, unlink the first one, store `v` in its slot (the slot is
//!   now *granted*) and wake it; else, if the buffer has room and no sender is queued, push `v`;
//!   else queue `v` with the sender's waker. A queued sender is complete once a receiver took its
//!   value (its slot is unlinked, the value gone).
//! - `recv()`: pop the buffer's front; that frees a slot, so the first queued sender's value
//!   moves into the buffer and that sender is woken. With an empty buffer, take the first
//!   queued sender's value directly (this is the rendezvous at capacity 0). Else queue.
//! - A woken operation finds its result in its slot: nobody can take it back, not a `try_recv`
//!   from the sender's task nor a new arrival (Q1 of the test plan). Values granted to a
//!   receiver that has not yet looked at them are counted (`in_flight`).
//!
//! # Protocol: cancellation (by drop)
//!
//! `send` and `recv` are cancellation points: in a cancelled context a poll returns `Pending`
//! **before** taking or giving anything (and a granted slot stays granted), so the decision
//! point drops the future. Each poll spends one unit of coop budget; a ready operation does
//! not yield otherwise. `try_*` are plain calls, never cancellation points. Dropping a future:
//! - a queued send unlinks; its value is dropped with it (once). A send whose value a receiver
//!   already took did complete: nothing to undo.
//! - a queued recv unlinks. A *granted* recv forwards its value to the next queued receiver, or
//!   if none pushes it back at the **front** of the buffer (even at capacity 0, where the buffer
//!   then holds one value over capacity until a receiver takes it), or drops it if every
//!   receiver is closed. Nothing is lost or duplicated.
//!
//! # Protocol: close
//!
//! `close` is per handle and idempotent; dropping a handle closes it. Closing a sender handle
//! unlinks the sends queued on that handle (they wake and fail with `Closed(v)`, the value back);
//! when it was the last sender and no value is in flight, every queued receiver is unlinked and
//! woken: it re-checks and sees the end ([`RecvError::End`]) once the buffer is drained. Closing
//! a receiver handle unlinks the receives queued on it (they fail with `Closed`); when it was
//! the last receiver, the buffer is dropped at once and every queued send is unlinked and fails
//! with `Disconnected(v)`. Any operation unlinked without a grant re-runs its check: the
//! conditions it then meets (a closed handle, no receivers, no senders) never go back.
//!
//! A handle's `closed` flag is only read and written under the channel lock (or in the
//! handle's own `Drop`, which has it exclusively), so a close and an operation on the same
//! handle are ordered by the lock.
//!
//! # Counts
//!
//! The numbers of open senders and receivers are atomics beside the lock, so that dropping a
//! handle that is not the last costs one decrement (a dropped handle has no queued operation:
//! they borrow it). Operations read a count under the lock, in the same critical section in
//! which they act on it (queue, or report the end / `Disconnected`). Whoever takes a count to
//! 0 then takes the lock and does the close work (wake the queued receivers; drop the buffer
//! and fail the queued sends). So an operation that read the old count either queued before
//! that work, which then finds and wakes it, or acted before it (a value pushed into the
//! buffer is dropped with it); one that reads 0 fails at once. The last handle overall (the
//! `Arc` is unique) skips all of this: nobody is left to see it.

mod error;
mod waiters;

pub use error::{RecvError, SendError, TryRecvError, TrySendError};

use crate::sync::{AtomicBool, AtomicUsize, Mutex, MutexGuard};
use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed};
use std::task::{Context, Poll, Waker, ready};
use waiters::WaitList;

/// Creates a channel that buffers up to `capacity` values: 0 is a rendezvous (a `send`
/// completes only when a receiver takes the value), `usize::MAX` is unbounded (allocated as it
/// fills, never up front).
///
/// # Examples
///
/// ```
/// use creche_nursery::channel::channel;
/// use creche_nursery::open_nursery;
/// # let rt = creche_timer::__doc_runtime();
/// # rt.block_on(async {
/// let (tx, rx) = channel::<u32>(0);
/// let total = open_nursery(|n| async move {
///     n.spawn(async move {
///         for i in 1..=3 {
///             tx.send(i).await.unwrap();
///         }
///         Ok::<_, ()>(()) // `tx` is dropped here: the receiver sees the end
///     });
///     let mut total = 0;
///     while let Ok(v) = rx.recv().await {
///         total += v;
///     }
///     Ok(total)
/// })
/// .await;
/// assert_eq!(total, Ok(Some(6)));
/// # });
/// ```
pub fn channel<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    let chan = Arc::new(Chan {
        state: Mutex::new(State {
            buffer: VecDeque::new(),
            capacity,
            next_handle: 2,
            send_waiters: WaitList::new(),
            recv_waiters: WaitList::new(),
            in_flight: 0,
            peak: 0,
        }),
        senders: AtomicUsize::new(1),
        receivers: AtomicUsize::new(1),
    });
    let sender = Sender {
        chan: chan.clone(),
        handle: Handle::new(0, false),
    };
    let receiver = Receiver {
        chan,
        handle: Handle::new(1, false),
        stream_key: None,
    };
    (sender, receiver)
}

/// A snapshot of a channel's state, from [`Sender::statistics`] or [`Receiver::statistics`].
///
/// At capacity 0, `buffer_used` can read 1: a value handed to a receiver that was dropped
/// before it looked goes back to the buffer (see the module doc).
///
/// # Examples
///
/// ```
/// let (tx, rx) = creche_nursery::channel::channel::<u8>(4);
/// tx.try_send(1).unwrap();
/// tx.try_send(2).unwrap();
/// rx.try_recv().unwrap();
/// let stats = rx.statistics();
/// assert_eq!((stats.buffer_used, stats.peak_buffer_used, stats.capacity), (1, 2, 4));
/// assert_eq!((stats.open_senders, stats.open_receivers), (1, 1));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChannelStatistics {
    /// Values in the buffer now.
    pub buffer_used: usize,
    /// The most values the buffer has held at once.
    pub peak_buffer_used: usize,
    /// The capacity the channel was made with (`usize::MAX`: unbounded).
    pub capacity: usize,
    /// Sender handles not yet closed.
    pub open_senders: usize,
    /// Receiver handles not yet closed.
    pub open_receivers: usize,
    /// `send` operations queued, waiting for room or a receiver.
    pub senders_waiting: usize,
    /// `recv` operations queued, waiting for a value.
    pub receivers_waiting: usize,
}

/// What the channel's lock guards; see the module doc.
struct State<T> {
    buffer: VecDeque<T>,
    capacity: usize,
    /// The id of the next handle made by `clone`.
    next_handle: u64,
    send_waiters: WaitList<Waiter<T>>,
    recv_waiters: WaitList<Waiter<T>>,
    /// Values granted to a queued receiver that has not looked at them yet. The end is not
    /// reported while one is in flight: its receiver may be dropped and pass it on.
    in_flight: usize,
    peak: usize,
}

/// A queued operation's slot. Linked: waiting (a sender's `value` is its value, a receiver's
/// is `None`). Unlinked: the outcome: a sender's `value` taken means sent, still there means
/// re-check; a receiver's `value` present means granted, absent means re-check.
struct Waiter<T> {
    /// The id of the handle the operation was made on (a close fails only its own operations).
    handle: u64,
    waker: Option<Waker>,
    value: Option<T>,
}

struct Chan<T> {
    state: Mutex<State<T>>,
    /// Open sender handles; 0 means no value will ever be sent again. Changed by `clone` and
    /// `close` under the lock; dropping a handle decrements it without the lock and takes the
    /// lock only when it reaches 0, to wake whoever that concerns (see "Counts" in the module
    /// doc).
    senders: AtomicUsize,
    /// Open receiver handles; 0 means the buffer is gone and sends fail. As `senders`.
    receivers: AtomicUsize,
}

/// One handle's identity and `closed` flag (read and written under the channel lock, or in the
/// handle's own `Drop`).
struct Handle {
    id: u64,
    closed: AtomicBool,
}

impl Handle {
    fn new(id: u64, closed: bool) -> Handle {
        Handle {
            id,
            closed: AtomicBool::new(closed),
        }
    }

    #[inline]
    fn is_closed(&self) -> bool {
        self.closed.load(Relaxed)
    }
}

/// Whether the code polling us sits in a cancelled region: what
/// `creche_runtime::cancel::is_cancelled` answers once this crate installed its probe, asked
/// directly (the probe is this crate's own), without the indirect call.
#[inline]
fn cancelled() -> bool {
    crate::context::probe()
}

/// Wakers collected under the lock, woken after it is released.
type Wakers = Vec<Waker>;

fn wake_all(wakers: Wakers) {
    for waker in wakers {
        waker.wake();
    }
}

impl<T> State<T> {
    fn push_buffer(&mut self, value: T) {
        self.buffer.push_back(value);
        self.peak = self.peak.max(self.buffer.len());
    }

    /// The non-blocking send: `Ok` carries the waker of the receiver that was handed the value.
    fn try_send(
        &mut self,
        closed: bool,
        no_receivers: bool,
        value: T,
    ) -> Result<Option<Waker>, TrySendError<T>> {
        if closed {
            return Err(TrySendError::Closed(value));
        }
        if no_receivers {
            return Err(TrySendError::Disconnected(value));
        }
        if let Some(key) = self.recv_waiters.pop_front() {
            return Ok(self.grant(key, value));
        }
        if self.buffer.len() < self.capacity && self.send_waiters.is_empty() {
            self.push_buffer(value);
            return Ok(None);
        }
        Err(TrySendError::Full(value))
    }

    /// Hands `value` to the (already unlinked) queued receiver `key`; returns its waker.
    fn grant(&mut self, key: usize, value: T) -> Option<Waker> {
        self.in_flight += 1;
        let waiter = self.recv_waiters.get_mut(key);
        waiter.value = Some(value);
        waiter.waker.take()
    }

    /// The non-blocking receive: `Ok` carries the waker of a sender whose value was taken.
    fn try_recv(
        &mut self,
        closed: bool,
        no_senders: bool,
    ) -> Result<(T, Option<Waker>), TryRecvError> {
        if closed {
            return Err(TryRecvError::Closed);
        }
        if let Some(value) = self.buffer.pop_front() {
            let mut waker = None;
            if self.buffer.len() < self.capacity {
                if let Some(key) = self.send_waiters.pop_front() {
                    let waiter = self.send_waiters.get_mut(key);
                    let moved = waiter.value.take().expect("a queued send holds its value");
                    waker = waiter.waker.take();
                    self.buffer.push_back(moved);
                }
            }
            return Ok((value, waker));
        }
        if let Some(key) = self.send_waiters.pop_front() {
            let waiter = self.send_waiters.get_mut(key);
            let value = waiter.value.take().expect("a queued send holds its value");
            return Ok((value, waiter.waker.take()));
        }
        if no_senders && self.in_flight == 0 {
            return Err(TryRecvError::End);
        }
        Err(TryRecvError::Empty)
    }

    /// Unlinks every queued operation of `list` made on handle `only` (or every one if `None`),
    /// collecting their wakers; they re-check when polled.
    fn unlink_all(list: &mut WaitList<Waiter<T>>, only: Option<u64>, wakers: &mut Wakers) {
        let mut at = list.front();
        while let Some(key) = at {
            at = list.next(key);
            let waiter = list.get_mut(key);
            if only.is_none_or(|id| waiter.handle == id) {
                wakers.extend(waiter.waker.take());
                list.unlink(key);
            }
        }
    }

    /// The last sender is closed and nothing is in flight: queued receivers see the end.
    fn end_if_done(&mut self, no_senders: bool, wakers: &mut Wakers) {
        if no_senders && self.in_flight == 0 {
            Self::unlink_all(&mut self.recv_waiters, None, wakers);
        }
    }

    /// Records `cx`'s waker in the linked slot `key` of `list`.
    fn update_waker(list: &mut WaitList<Waiter<T>>, key: usize, cx: &Context<'_>) {
        match &mut list.get_mut(key).waker {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            slot => *slot = Some(cx.waker().clone()),
        }
    }

    fn statistics(&self, senders: usize, receivers: usize) -> ChannelStatistics {
        ChannelStatistics {
            buffer_used: self.buffer.len(),
            peak_buffer_used: self.peak,
            capacity: self.capacity,
            open_senders: senders,
            open_receivers: receivers,
            senders_waiting: self.send_waiters.len(),
            receivers_waiting: self.recv_waiters.len(),
        }
    }
}

impl<T> Chan<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock()
    }

    /// A new handle cloned from `of`: closed if `of` is, else counted as open.
    fn new_handle(&self, sender: bool, of: &Handle) -> Handle {
        let mut st = self.lock();
        let closed = of.is_closed();
        if !closed {
            // `of` is open and counted, so the count is not 0 and cannot reach 0 meanwhile.
            if sender {
                self.senders.fetch_add(1, AcqRel);
            } else {
                self.receivers.fetch_add(1, AcqRel);
            }
        }
        let id = st.next_handle;
        st.next_handle += 1;
        Handle::new(id, closed)
    }

    #[inline]
    fn no_senders(&self) -> bool {
        self.senders.load(Acquire) == 0
    }

    #[inline]
    fn no_receivers(&self) -> bool {
        self.receivers.load(Acquire) == 0
    }

    fn statistics(&self) -> ChannelStatistics {
        let st = self.lock();
        st.statistics(self.senders.load(Acquire), self.receivers.load(Acquire))
    }

    fn close_sender(&self, handle: &Handle) {
        let mut wakers = Wakers::new();
        {
            let mut st = self.lock();
            if handle.is_closed() {
                return;
            }
            handle.closed.store(true, Relaxed);
            let last = self.senders.fetch_sub(1, AcqRel) == 1;
            State::unlink_all(&mut st.send_waiters, Some(handle.id), &mut wakers);
            st.end_if_done(last, &mut wakers);
        }
        wake_all(wakers);
    }

    /// Drops the open sender `handle`: no send can be queued on it (a send borrows its
    /// handle), so only the count changes; the lock is taken only by the last sender.
    fn drop_sender(&self, handle: &Handle) {
        if handle.is_closed() || self.senders.fetch_sub(1, AcqRel) != 1 {
            return;
        }
        let mut wakers = Wakers::new();
        self.lock().end_if_done(true, &mut wakers);
        wake_all(wakers);
    }

    /// Drops the open receiver `handle` (no receive queued on it, as for `drop_sender`).
    fn drop_receiver(&self, handle: &Handle) {
        if handle.is_closed() || self.receivers.fetch_sub(1, AcqRel) != 1 {
            return;
        }
        self.disconnect();
    }

    /// The last receiver is gone: drop the buffer, fail every queued send.
    fn disconnect(&self) {
        let mut wakers = Wakers::new();
        let dropped = {
            let mut st = self.lock();
            State::unlink_all(&mut st.send_waiters, None, &mut wakers);
            std::mem::take(&mut st.buffer)
        };
        drop(dropped);
        wake_all(wakers);
    }

    fn close_receiver(&self, handle: &Handle) {
        let mut wakers = Wakers::new();
        let last;
        {
            let mut st = self.lock();
            if handle.is_closed() {
                return;
            }
            handle.closed.store(true, Relaxed);
            last = self.receivers.fetch_sub(1, AcqRel) == 1;
            State::unlink_all(&mut st.recv_waiters, Some(handle.id), &mut wakers);
        }
        wake_all(wakers);
        if last {
            self.disconnect();
        }
    }

    /// One poll of a receive on `handle` whose queue slot is `*key` (if it has one).
    fn poll_recv(
        &self,
        handle: &Handle,
        key: &mut Option<usize>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<T, RecvError>> {
        if cancelled() {
            return Poll::Pending; // before taking anything; the scope drops us
        }
        let progress = ready!(creche_runtime::coop::poll_proceed(cx));
        let mut st = self.lock();
        if let Some(k) = *key {
            if st.recv_waiters.is_linked(k) {
                State::update_waker(&mut st.recv_waiters, k, cx);
                return Poll::Pending;
            }
            *key = None;
            let waiter = st.recv_waiters.remove(k);
            if let Some(value) = waiter.value {
                st.in_flight -= 1;
                if st.in_flight == 0 && !st.recv_waiters.is_empty() && self.no_senders() {
                    // The last in-flight value after the last sender closed: the others end.
                    let mut wakers = Wakers::new();
                    st.end_if_done(true, &mut wakers);
                    drop(st);
                    wake_all(wakers);
                } else {
                    drop(st);
                }
                drop(waiter.waker);
                progress.made_progress();
                return Poll::Ready(Ok(value));
            }
            // Unlinked without a value: a close woke us; re-check.
        }
        match st.try_recv(handle.is_closed(), self.no_senders()) {
            Ok((value, waker)) => {
                drop(st);
                if let Some(waker) = waker {
                    waker.wake();
                }
                progress.made_progress();
                Poll::Ready(Ok(value))
            }
            Err(TryRecvError::Empty) => {
                *key = Some(st.recv_waiters.push_back(Waiter {
                    handle: handle.id,
                    waker: Some(cx.waker().clone()),
                    value: None,
                }));
                Poll::Pending
            }
            Err(TryRecvError::Closed) => {
                drop(st);
                progress.made_progress();
                Poll::Ready(Err(RecvError::Closed))
            }
            Err(TryRecvError::End) => {
                drop(st);
                progress.made_progress();
                Poll::Ready(Err(RecvError::End))
            }
        }
    }

    /// A receive with slot `key` is dropped: unlink it, and pass on a value it was granted.
    fn drop_recv(&self, key: usize) {
        let mut waker = None;
        let mut dropped = None;
        let mut st = self.lock();
        let waiter = st.recv_waiters.remove(key);
        if let Some(value) = waiter.value {
            if let Some(next) = st.recv_waiters.pop_front() {
                st.in_flight -= 1; // `grant` counts it again
                waker = st.grant(next, value);
            } else {
                st.in_flight -= 1;
                if !self.no_receivers() {
                    st.buffer.push_front(value);
                    st.peak = st.peak.max(st.buffer.len());
                } else {
                    dropped = Some(value);
                }
            }
        }
        drop(st);
        drop(waiter.waker);
        drop(dropped);
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// The sending half of a channel. Clone it for more producers; each clone is a handle of its
/// own that [`close`](Sender::close) closes (dropping it closes it too). When every sender
/// handle is closed, receivers see the end after draining the buffer.
///
/// # Examples
///
/// ```
/// let (tx, rx) = creche_nursery::channel::channel::<&str>(2);
/// let tx2 = tx.clone();
/// tx.try_send("a").unwrap();
/// tx2.try_send("b").unwrap();
/// drop((tx, tx2));
/// assert_eq!(rx.try_recv(), Ok("a"));
/// assert_eq!(rx.try_recv(), Ok("b"));
/// assert_eq!(rx.try_recv(), Err(creche_nursery::channel::TryRecvError::End));
/// ```
pub struct Sender<T> {
    chan: Arc<Chan<T>>,
    handle: Handle,
}

impl<T> Sender<T> {
    /// Sends `value`, waiting while the buffer is full (at capacity 0: until a receiver takes
    /// it). Waiting senders are served in FIFO order.
    ///
    /// A cancellation point: in a cancelled context it does not complete, and gives nothing.
    /// Dropping the future before it completes drops the value (once); a send whose value a
    /// receiver already took has completed even if nobody saw `Ok`.
    ///
    /// # Errors
    ///
    /// The value comes back in [`SendError::Closed`] if this handle is (or gets) closed, and
    /// in [`SendError::Disconnected`] if every receiver is closed.
    ///
    /// # Panics
    ///
    /// The future panics if it is polled again after it completed.
    ///
    /// # Examples
    ///
    /// ```
    /// # let rt = creche_timer::__doc_runtime();
    /// # rt.block_on(async {
    /// let (tx, rx) = creche_nursery::channel::channel::<u32>(1);
    /// tx.send(1).await.unwrap();
    /// assert_eq!(rx.recv().await, Ok(1));
    /// # });
    /// ```
    pub fn send(&self, value: T) -> SendFuture<'_, T> {
        SendFuture {
            sender: self,
            value: Some(value),
            key: None,
        }
    }

    /// Sends `value` if that needs no waiting: a receiver is queued, or the buffer has room
    /// and no sender queued before. Not a cancellation point.
    ///
    /// # Errors
    ///
    /// The value comes back: [`TrySendError::Full`] when it would have to wait,
    /// [`TrySendError::Closed`] when this handle is closed, [`TrySendError::Disconnected`] when
    /// every receiver is.
    ///
    /// # Examples
    ///
    /// ```
    /// use creche_nursery::channel::{channel, TrySendError};
    /// let (tx, _rx) = channel::<u32>(0);
    /// // Rendezvous: nobody is receiving.
    /// assert_eq!(tx.try_send(5), Err(TrySendError::Full(5)));
    /// ```
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        let mut st = self.chan.lock();
        let waker = st.try_send(self.handle.is_closed(), self.chan.no_receivers(), value)?;
        drop(st);
        if let Some(waker) = waker {
            waker.wake();
        }
        Ok(())
    }

    /// Closes this handle (idempotent). Its queued sends fail with [`SendError::Closed`];
    /// later sends on it fail the same way. When it was the last open sender, receivers see
    /// the end once the buffer is drained. Dropping the handle closes it.
    ///
    /// # Examples
    ///
    /// ```
    /// use creche_nursery::channel::{channel, TrySendError};
    /// let (tx, _rx) = channel::<u32>(1);
    /// tx.close();
    /// tx.close(); // no effect
    /// assert_eq!(tx.try_send(1), Err(TrySendError::Closed(1)));
    /// ```
    pub fn close(&self) {
        self.chan.close_sender(&self.handle);
    }

    /// Whether this handle is closed.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, _rx) = creche_nursery::channel::channel::<u32>(1);
    /// let tx2 = tx.clone();
    /// tx.close();
    /// assert!(tx.is_closed() && !tx2.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        let _st = self.chan.lock();
        self.handle.is_closed()
    }

    /// A snapshot of the channel's counters.
    ///
    /// # Examples
    ///
    /// See [`ChannelStatistics`].
    pub fn statistics(&self) -> ChannelStatistics {
        self.chan.statistics()
    }
}

impl<T> Clone for Sender<T> {
    /// Another sender handle on the same channel; a clone of a closed handle is closed.
    fn clone(&self) -> Self {
        Sender {
            chan: self.chan.clone(),
            handle: self.chan.new_handle(true, &self.handle),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        if Arc::strong_count(&self.chan) == 1 {
            return; // the last handle: nobody can see the close; the state goes with the Arc
        }
        self.chan.drop_sender(&self.handle);
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("closed", &self.is_closed())
            .field("channel", &self.statistics())
            .finish()
    }
}

/// The receiving half of a channel. Clone it for more consumers (each value goes to one
/// receiver); each clone is a handle that [`close`](Receiver::close) closes (dropping it closes
/// it too). When every receiver handle is closed, the buffer is dropped and sends fail.
///
/// `Receiver` is a [`Stream`](futures_core::Stream) of the values, which ends when
/// [`recv`](Receiver::recv) would fail.
///
/// # Examples
///
/// ```
/// let (tx, rx) = creche_nursery::channel::channel::<u32>(1);
/// let rx2 = rx.clone();
/// tx.try_send(3).unwrap();
/// assert_eq!(rx2.try_recv(), Ok(3));
/// drop((rx, rx2));
/// assert!(tx.try_send(4).is_err());
/// ```
pub struct Receiver<T> {
    chan: Arc<Chan<T>>,
    handle: Handle,
    /// The queue slot of the receive that `poll_next` has in progress.
    stream_key: Option<usize>,
}

impl<T> Receiver<T> {
    /// Receives the next value, waiting until one comes. Waiting receivers are served in FIFO
    /// order, and a value sent while a receiver waits belongs to that receiver.
    ///
    /// A cancellation point: in a cancelled context it does not complete, and takes nothing.
    /// Dropping the future loses nothing: a value already handed to it goes to the next
    /// waiting receiver, or back to the front of the buffer.
    ///
    /// # Errors
    ///
    /// [`RecvError::End`] once every sender is closed and the buffer is drained;
    /// [`RecvError::Closed`] if this handle is (or gets) closed.
    ///
    /// # Examples
    ///
    /// See [`Sender::send`].
    pub fn recv(&self) -> RecvFuture<'_, T> {
        RecvFuture {
            receiver: self,
            key: None,
        }
    }

    /// Takes a value if one is ready now: in the buffer, or (at capacity 0) held by a waiting
    /// sender. Not a cancellation point.
    ///
    /// # Errors
    ///
    /// [`TryRecvError::Empty`] when it would have to wait; otherwise as [`recv`](Self::recv).
    ///
    /// # Examples
    ///
    /// ```
    /// use creche_nursery::channel::{channel, TryRecvError};
    /// let (tx, rx) = channel::<u32>(4);
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    /// tx.try_send(1).unwrap();
    /// assert_eq!(rx.try_recv(), Ok(1));
    /// ```
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        let mut st = self.chan.lock();
        let (value, waker) = st.try_recv(self.handle.is_closed(), self.chan.no_senders())?;
        drop(st);
        if let Some(waker) = waker {
            waker.wake();
        }
        Ok(value)
    }

    /// Closes this handle (idempotent). Its queued receives fail with [`RecvError::Closed`].
    /// When it was the last open receiver, the buffered values are dropped at once and every
    /// send fails with `Disconnected`, handing its value back. Dropping the handle closes it.
    ///
    /// # Examples
    ///
    /// ```
    /// use creche_nursery::channel::{channel, TrySendError, TryRecvError};
    /// let (tx, rx) = channel::<u32>(4);
    /// tx.try_send(1).unwrap();
    /// rx.close();
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    /// assert_eq!(tx.try_send(2), Err(TrySendError::Disconnected(2)));
    /// assert_eq!(tx.statistics().buffer_used, 0);
    /// ```
    pub fn close(&self) {
        self.chan.close_receiver(&self.handle);
    }

    /// Whether this handle is closed.
    ///
    /// # Examples
    ///
    /// ```
    /// let (_tx, rx) = creche_nursery::channel::channel::<u32>(1);
    /// rx.close();
    /// assert!(rx.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        let _st = self.chan.lock();
        self.handle.is_closed()
    }

    /// A snapshot of the channel's counters.
    ///
    /// # Examples
    ///
    /// See [`ChannelStatistics`].
    pub fn statistics(&self) -> ChannelStatistics {
        self.chan.statistics()
    }
}

impl<T> Clone for Receiver<T> {
    /// Another receiver handle on the same channel; a clone of a closed handle is closed.
    fn clone(&self) -> Self {
        Receiver {
            chan: self.chan.clone(),
            handle: self.chan.new_handle(false, &self.handle),
            stream_key: None,
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        if let Some(key) = self.stream_key.take() {
            self.chan.drop_recv(key);
        }
        if Arc::strong_count(&self.chan) == 1 {
            return; // the last handle: nobody can see the close; the state goes with the Arc
        }
        self.chan.drop_receiver(&self.handle);
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("closed", &self.is_closed())
            .field("channel", &self.statistics())
            .finish()
    }
}

impl<T> futures_core::Stream for Receiver<T> {
    type Item = T;

    /// The next value, as [`recv`](Receiver::recv) (a cancellation point, FIFO among
    /// receivers); `None` where `recv` fails. A receive in progress is dropped with the
    /// receiver, passing on any value already handed to it.
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let this = self.get_mut();
        this.chan
            .poll_recv(&this.handle, &mut this.stream_key, cx)
            .map(Result::ok)
    }
}

/// The future of [`Sender::send`].
///
/// # Examples
///
/// See [`Sender::send`].
#[must_use = "futures do nothing unless polled"]
pub struct SendFuture<'a, T> {
    sender: &'a Sender<T>,
    /// The value, until it is queued or sent.
    value: Option<T>,
    /// The queue slot, while queued or until the outcome is read.
    key: Option<usize>,
}

// The value is never pinned: it is moved in and out by value.
impl<T> Unpin for SendFuture<'_, T> {}

impl<T> Future for SendFuture<'_, T> {
    type Output = Result<(), SendError<T>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if cancelled() {
            return Poll::Pending; // before giving anything; the scope drops us
        }
        let progress = ready!(creche_runtime::coop::poll_proceed(cx));
        let handle = &this.sender.handle;
        let mut st = this.sender.chan.lock();
        let value = match this.key {
            Some(key) => {
                if st.send_waiters.is_linked(key) {
                    State::update_waker(&mut st.send_waiters, key, cx);
                    return Poll::Pending;
                }
                this.key = None;
                let waiter = st.send_waiters.remove(key);
                match waiter.value {
                    None => {
                        drop(st);
                        progress.made_progress();
                        return Poll::Ready(Ok(()));
                    }
                    // Unlinked with the value: a close woke us; re-check (and fail).
                    Some(value) => value,
                }
            }
            None => this
                .value
                .take()
                .expect("SendFuture polled after completion"),
        };
        let outcome = match st.try_send(handle.is_closed(), this.sender.chan.no_receivers(), value)
        {
            Ok(waker) => {
                drop(st);
                if let Some(waker) = waker {
                    waker.wake();
                }
                Ok(())
            }
            Err(TrySendError::Full(value)) => {
                this.key = Some(st.send_waiters.push_back(Waiter {
                    handle: handle.id,
                    waker: Some(cx.waker().clone()),
                    value: Some(value),
                }));
                return Poll::Pending;
            }
            Err(TrySendError::Closed(value)) => Err(SendError::Closed(value)),
            Err(TrySendError::Disconnected(value)) => Err(SendError::Disconnected(value)),
        };
        progress.made_progress();
        Poll::Ready(outcome)
    }
}

impl<T> Drop for SendFuture<'_, T> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            let waiter = self.sender.chan.lock().send_waiters.remove(key);
            drop(waiter); // its value, if not sent, outside the lock
        }
    }
}

impl<T> fmt::Debug for SendFuture<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendFuture")
            .field("queued", &self.key.is_some())
            .finish()
    }
}

/// The future of [`Receiver::recv`].
///
/// # Examples
///
/// See [`Receiver::recv`].
#[must_use = "futures do nothing unless polled"]
pub struct RecvFuture<'a, T> {
    receiver: &'a Receiver<T>,
    /// The queue slot, while queued or until the outcome is read.
    key: Option<usize>,
}

impl<T> Future for RecvFuture<'_, T> {
    type Output = Result<T, RecvError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let receiver = this.receiver;
        receiver.chan.poll_recv(&receiver.handle, &mut this.key, cx)
    }
}

impl<T> Drop for RecvFuture<'_, T> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.receiver.chan.drop_recv(key);
        }
    }
}

impl<T> fmt::Debug for RecvFuture<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecvFuture")
            .field("queued", &self.key.is_some())
            .finish()
    }
}
