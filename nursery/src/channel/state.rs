//! The shared state of a channel and the operations on it under its lock: the protocol of the
//! module doc of [`channel`](super), written once for `try_*`, the futures and the stream.

use super::waiters::WaitList;
use super::{ChannelStatistics, RecvError, TryRecvError, TrySendError};
use crate::sync::{AtomicBool, AtomicUsize, Mutex, MutexGuard};
use std::collections::VecDeque;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed};
use std::task::{Context, Poll, Waker, ready};

/// What the channel's lock guards; see the module doc of [`channel`](super).
pub(super) struct State<T> {
    pub(super) buffer: VecDeque<T>,
    pub(super) capacity: usize,
    /// The id of the next handle made by `clone`.
    pub(super) next_handle: u64,
    pub(super) send_waiters: WaitList<Waiter<T>>,
    pub(super) recv_waiters: WaitList<Waiter<T>>,
    /// Values granted to a queued receiver that has not looked at them yet. The end is not
    /// reported while one is in flight: its receiver may be dropped and pass it on.
    pub(super) in_flight: usize,
    pub(super) peak: usize,
}

/// A queued operation's slot. Linked: waiting (a sender's `value` is its value, a receiver's
/// is `None`). Unlinked: the outcome: a sender's `value` taken means sent, still there means
/// re-check; a receiver's `value` present means granted, absent means re-check.
pub(super) struct Waiter<T> {
    /// The id of the handle the operation was made on (a close fails only its own operations).
    pub(super) handle: u64,
    pub(super) waker: Option<Waker>,
    pub(super) value: Option<T>,
}

pub(super) struct Chan<T> {
    pub(super) state: Mutex<State<T>>,
    /// Open sender handles; 0 means no value will ever be sent again. Changed by `clone` and
    /// `close` under the lock; dropping a handle decrements it without the lock and takes the
    /// lock only when it reaches 0, to wake whoever that concerns (see "Counts" in the module
    /// doc).
    pub(super) senders: AtomicUsize,
    /// Open receiver handles; 0 means the buffer is gone and sends fail. As `senders`.
    pub(super) receivers: AtomicUsize,
}

/// One handle's identity and `closed` flag (read and written under the channel lock, or in the
/// handle's own `Drop`).
pub(super) struct Handle {
    pub(super) id: u64,
    pub(super) closed: AtomicBool,
}

impl Handle {
    pub(super) fn new(id: u64, closed: bool) -> Handle {
        Handle {
            id,
            closed: AtomicBool::new(closed),
        }
    }

    #[inline]
    pub(super) fn is_closed(&self) -> bool {
        self.closed.load(Relaxed)
    }
}

/// Whether the code polling us sits in a cancelled region: what
/// `creche_runtime::cancel::is_cancelled` answers once this crate installed its probe, asked
/// directly (the probe is this crate's own), without the indirect call.
#[inline]
pub(super) fn cancelled() -> bool {
    crate::context::probe()
}

/// `Receiver::stream_key` when its `Stream` has no receive in progress.
pub(super) const NO_SLOT: usize = usize::MAX;

/// Wakers collected under the lock, woken after it is released.
pub(super) type Wakers = Vec<Waker>;

pub(super) fn wake_all(wakers: Wakers) {
    for waker in wakers {
        waker.wake();
    }
}

impl<T> State<T> {
    pub(super) fn push_buffer(&mut self, value: T) {
        self.buffer.push_back(value);
        self.peak = self.peak.max(self.buffer.len());
    }

    /// The non-blocking send: `Ok` carries the waker of the receiver that was handed the value.
    pub(super) fn try_send(
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
    pub(super) fn grant(&mut self, key: usize, value: T) -> Option<Waker> {
        self.in_flight += 1;
        let waiter = self.recv_waiters.get_mut(key);
        waiter.value = Some(value);
        waiter.waker.take()
    }

    /// The non-blocking receive: `Ok` carries the waker of a sender whose value was taken.
    pub(super) fn try_recv(
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
    pub(super) fn unlink_all(
        list: &mut WaitList<Waiter<T>>,
        only: Option<u64>,
        wakers: &mut Wakers,
    ) {
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
    pub(super) fn end_if_done(&mut self, no_senders: bool, wakers: &mut Wakers) {
        if no_senders && self.in_flight == 0 {
            Self::unlink_all(&mut self.recv_waiters, None, wakers);
        }
    }

    /// A granted value is being taken by its receiver: it is no longer in flight, and the last
    /// one in flight after the last sender closed ends the other queued receivers.
    fn observe_granted(&mut self, no_senders: bool, wakers: &mut Wakers) {
        self.in_flight -= 1;
        if self.in_flight == 0 && !self.recv_waiters.is_empty() && no_senders {
            self.end_if_done(true, wakers);
        }
    }

    /// Gives up the receive that the receiver's `Stream` left in progress in `slot` (a `recv`
    /// or `try_recv` on the same handle supersedes it: nobody polls the stream meanwhile, as
    /// `poll_next` takes the receiver by `&mut`). Frees its queue slot and returns a value
    /// already handed to it, which is the handle's next value. Its waker goes to `stale`, to be
    /// dropped after the lock.
    pub(super) fn take_stream_slot(
        &mut self,
        slot: &AtomicUsize,
        no_senders: bool,
        wakers: &mut Wakers,
        stale: &mut Option<Waker>,
    ) -> Option<T> {
        let key = slot.load(Relaxed);
        if key == NO_SLOT {
            return None;
        }
        slot.store(NO_SLOT, Relaxed);
        let waiter = self.recv_waiters.remove(key);
        *stale = waiter.waker;
        let value = waiter.value?;
        self.observe_granted(no_senders, wakers);
        Some(value)
    }

    /// Records `cx`'s waker in the linked slot `key` of `list`; returns the waker it replaces,
    /// for the caller to drop after the lock (dropping a waker can run any code, such as
    /// dropping a handle of this channel, which takes the lock).
    #[must_use = "drop the old waker after the lock is released"]
    pub(super) fn update_waker(
        list: &mut WaitList<Waiter<T>>,
        key: usize,
        cx: &Context<'_>,
    ) -> Option<Waker> {
        match &mut list.get_mut(key).waker {
            Some(waker) if waker.will_wake(cx.waker()) => None,
            slot => slot.replace(cx.waker().clone()),
        }
    }

    pub(super) fn statistics(&self, senders: usize, receivers: usize) -> ChannelStatistics {
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
    pub(super) fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock()
    }

    /// A new handle cloned from `of`: closed if `of` is, else counted as open.
    pub(super) fn new_handle(&self, sender: bool, of: &Handle) -> Handle {
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
    pub(super) fn no_senders(&self) -> bool {
        self.senders.load(Acquire) == 0
    }

    #[inline]
    pub(super) fn no_receivers(&self) -> bool {
        self.receivers.load(Acquire) == 0
    }

    pub(super) fn statistics(&self) -> ChannelStatistics {
        let st = self.lock();
        st.statistics(self.senders.load(Acquire), self.receivers.load(Acquire))
    }

    pub(super) fn close_sender(&self, handle: &Handle) {
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
    pub(super) fn drop_sender(&self, handle: &Handle) {
        if handle.is_closed() || self.senders.fetch_sub(1, AcqRel) != 1 {
            return;
        }
        let mut wakers = Wakers::new();
        self.lock().end_if_done(true, &mut wakers);
        wake_all(wakers);
    }

    /// Drops the open receiver `handle` (no receive queued on it, as for `drop_sender`).
    pub(super) fn drop_receiver(&self, handle: &Handle) {
        if handle.is_closed() || self.receivers.fetch_sub(1, AcqRel) != 1 {
            return;
        }
        self.disconnect();
    }

    /// The last receiver is gone: drop the buffer, fail every queued send.
    pub(super) fn disconnect(&self) {
        let mut wakers = Wakers::new();
        let dropped = {
            let mut st = self.lock();
            State::unlink_all(&mut st.send_waiters, None, &mut wakers);
            std::mem::take(&mut st.buffer)
        };
        drop(dropped);
        wake_all(wakers);
    }

    pub(super) fn close_receiver(&self, handle: &Handle) {
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
    pub(super) fn poll_recv(
        &self,
        handle: &Handle,
        key: &mut Option<usize>,
        stream: Option<&AtomicUsize>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<T, RecvError>> {
        if cancelled() {
            return Poll::Pending; // before taking anything; the scope drops us
        }
        let progress = ready!(creche_runtime::coop::poll_proceed(cx));
        // Declared before the guard, so dropped after it.
        let mut stale = None;
        let mut wakers = Wakers::new();
        let mut st = self.lock();
        if let Some(k) = *key {
            if st.recv_waiters.is_linked(k) {
                let old = State::update_waker(&mut st.recv_waiters, k, cx);
                drop(st);
                drop(old);
                return Poll::Pending;
            }
            *key = None;
            let waiter = st.recv_waiters.remove(k);
            if let Some(value) = waiter.value {
                st.observe_granted(self.no_senders(), &mut wakers);
                drop(st);
                wake_all(wakers);
                drop(waiter.waker);
                progress.made_progress();
                return Poll::Ready(Ok(value));
            }
            // Unlinked without a value: a close woke us; re-check.
        } else if let Some(slot) = stream {
            // A new receive: the value handed to this receiver's stream, if any, comes first.
            let no_senders = self.no_senders();
            if let Some(value) = st.take_stream_slot(slot, no_senders, &mut wakers, &mut stale) {
                drop(st);
                wake_all(wakers);
                progress.made_progress();
                return Poll::Ready(Ok(value));
            }
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

    /// Takes the key of the receive a receiver's `Stream` has in progress out of `slot`
    /// (under the lock, as `recv`/`try_recv` on the same handle read it), for the caller to
    /// `drop_recv` it.
    pub(super) fn take_stream_key(&self, slot: &AtomicUsize) -> Option<usize> {
        let _st = self.lock();
        let key = slot.swap(NO_SLOT, Relaxed);
        (key != NO_SLOT).then_some(key)
    }

    /// A receive with slot `key` is dropped: unlink it, and pass on a value it was granted.
    pub(super) fn drop_recv(&self, key: usize) {
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
