//! Channels (Trio's memory channels): [`channel`]`(capacity)` gives a cloneable [`Sender`] and a
//! cloneable [`Receiver`]; capacity 0 is a rendezvous, `usize::MAX` is unbounded (the buffer
//! grows as needed and never allocates for its capacity up front).
//!
//! Files: `state.rs` (the shared state and every operation on it under the lock), `handles.rs`
//! (the public handles, futures and `Stream`), `waiters.rs` (the wait lists), `error.rs`.
//!
//! # State
//!
//! One `Mutex` per channel guards its `State`: the buffer (a `VecDeque`) and two FIFO queues of
//! parked operations (`WaitList`): senders waiting for room, each holding its value, and
//! receivers waiting for a value. A parked operation owns one slot of its queue until it
//! completes or is dropped; the slot is *linked* while the operation really waits. Critical
//! sections are short, nothing is allocated per operation once the queues have grown, and
//! wakers are woken and values dropped only after the lock is released (wakers replaced on a
//! re-poll too: dropping one can run any code, even a handle's `Drop`, which takes the lock). The numbers of open
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
//! - the receive a `Stream` has in progress lives in its `Receiver` (its slot key is an atomic
//!   read and written under the lock, or by `poll_next` through `&mut`), not in the `next()`
//!   future: dropping that future gives nothing up. It ends as a dropped receive when the
//!   receiver is dropped or closed, and a `recv`/`try_recv` on the same receiver takes it over
//!   (a value already handed to it is that call's result), so it never hides a value from its
//!   own handle.
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
mod handles;
mod state;
mod waiters;

pub use error::{RecvError, SendError, TryRecvError, TrySendError};
pub use handles::{Receiver, RecvFuture, SendFuture, Sender};

use crate::sync::{AtomicUsize, Mutex};
use state::{Chan, Handle, State};
use std::collections::VecDeque;
use std::sync::Arc;
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
        stream_key: AtomicUsize::new(state::NO_SLOT),
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
