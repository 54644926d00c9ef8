//! The public handles ([`Sender`], [`Receiver`]) and the futures of their operations; the
//! work happens in `state`, under the channel's lock.

use super::state::{Chan, Handle, NO_SLOT, State, Waiter, Wakers, cancelled, wake_all};
use super::{ChannelStatistics, RecvError, SendError, TryRecvError, TrySendError};
use crate::sync::AtomicUsize;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::task::{Context, Poll, ready};

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
    pub(super) chan: Arc<Chan<T>>,
    pub(super) handle: Handle,
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
    pub(super) chan: Arc<Chan<T>>,
    pub(super) handle: Handle,
    /// The queue slot of the receive that `poll_next` has in progress (`NO_SLOT`: none).
    /// Written by `poll_next` (which has the receiver by `&mut`) and, under the channel lock,
    /// by a `recv` or `try_recv` on this handle, which takes that receive over.
    pub(super) stream_key: AtomicUsize,
}

impl<T> Receiver<T> {
    /// Receives the next value, waiting until one comes. Waiting receivers are served in FIFO
    /// order, and a value sent while a receiver waits belongs to that receiver.
    ///
    /// A cancellation point: in a cancelled context it does not complete, and takes nothing.
    /// Dropping the future loses nothing: a value already handed to it goes to the next
    /// waiting receiver, or back to the front of the buffer.
    ///
    /// A receive that this receiver's [`Stream`](futures_core::Stream) left in progress (its
    /// `next()` future was dropped) is taken over: a value already handed to it is returned
    /// first.
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

    /// Takes a value if one is ready now: handed to this receiver's stream (as for
    /// [`recv`](Self::recv)), in the buffer, or (at capacity 0) held by a waiting sender. Not a
    /// cancellation point.
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
        let mut wakers = Wakers::new();
        let mut stale = None;
        let mut st = self.chan.lock();
        let no_senders = self.chan.no_senders();
        let outcome =
            match st.take_stream_slot(&self.stream_key, no_senders, &mut wakers, &mut stale) {
                Some(value) => Ok((value, None)),
                None => st.try_recv(self.handle.is_closed(), no_senders),
            };
        drop(st);
        drop(stale);
        wake_all(wakers);
        let (value, waker) = outcome?;
        if let Some(waker) = waker {
            waker.wake();
        }
        Ok(value)
    }

    /// Closes this handle (idempotent). Its queued receives fail with [`RecvError::Closed`];
    /// a value already handed to the receive its `Stream` has in progress is passed on, as when
    /// the receiver is dropped.
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
        // The stream's receive in progress goes first, as if dropped: a value already handed
        // to it is passed on (while this handle still counts as open, so it can go back to
        // the buffer), instead of staying with a closed receiver.
        if let Some(key) = self.chan.take_stream_key(&self.stream_key) {
            self.chan.drop_recv(key);
        }
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
            stream_key: AtomicUsize::new(NO_SLOT),
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let key = self.stream_key.load(Relaxed);
        if key != NO_SLOT {
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
    /// receiver, passing on any value already handed to it, or taken over by a `recv` or
    /// `try_recv` on this receiver.
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let this = self.get_mut();
        let mut key = Some(this.stream_key.load(Relaxed)).filter(|&k| k != NO_SLOT);
        let outcome = this.chan.poll_recv(&this.handle, &mut key, None, cx);
        this.stream_key.store(key.unwrap_or(NO_SLOT), Relaxed);
        outcome.map(Result::ok)
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
                    let old = State::update_waker(&mut st.send_waiters, key, cx);
                    drop(st);
                    drop(old);
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
        receiver.chan.poll_recv(
            &receiver.handle,
            &mut this.key,
            Some(&receiver.stream_key),
            cx,
        )
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
