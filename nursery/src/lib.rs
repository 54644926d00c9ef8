//! creche-nursery: structured concurrency on the creche runtime.
//!
//! - [`CancelScope`]: a region of code that can be cancelled as a whole, from anywhere, or by a
//!   deadline; [`move_on_after`], [`fail_after`], [`checkpoint`],
//!   [`current_effective_deadline`].
//! - [`open_nursery`] and [`Nursery`]: children that run in parallel on every worker and never
//!   outlive the block; first failure wins; panics travel up the tree; [`Nursery::start`].
//! - [`task_tree`]: a printable snapshot of every nursery and its tasks.
//! - [`local`]: `join`, `try_join`, `race` inside one task, borrowing freely.
//! - Sync primitives (issue 6), all FIFO and cancellation-safe: [`Event`], [`Semaphore`],
//!   [`CapacityLimiter`], [`Lock`], [`Condition`].
//! - [`channel()`]: Trio's memory channels (cloneable [`Sender`] / [`Receiver`], per-handle
//!   close, FIFO hand-over, rendezvous at capacity 0).
//!
//! Cancellation is by drop: a cancelled scope drops its body at the body's next cancellation
//! point, except that shielded scopes and nurseries with live children inside it finish first
//! (see the `node` module and ARCHITECTURE.md for the protocol).
//!
//! ```
//! use creche_nursery::{move_on_after, open_nursery};
//! use std::time::Duration;
//! # let rt = creche_timer::__doc_runtime();
//! # rt.block_on(async {
//! let squares = open_nursery(|n| async move {
//!     let handles: Vec<_> = (1..=4u64).map(|i| n.spawn(async move { Ok(i * i) })).collect();
//!     let mut sum = 0;
//!     for h in handles {
//!         sum += h.join().await.unwrap();
//!     }
//!     Ok::<_, ()>(sum)
//! }).await;
//! assert_eq!(squares, Ok(Some(30)));
//! assert_eq!(move_on_after(Duration::from_millis(1), creche_timer::sleep_forever()).await, None);
//! # });
//! ```

pub mod channel;
mod condition;
mod context;
mod event;
mod limiter;
pub mod local;
mod lock;
mod map;
mod node;
mod nursery;
pub mod report;
mod scope;
mod semaphore;
mod start;
mod sync;
pub mod thread;
mod tree;
mod waitq;

#[cfg(all(test, loom))]
mod loom_tests;
#[cfg(all(test, loom))]
mod sync_loom;

pub use channel::{ChannelStatistics, Receiver, Sender, channel};
pub use condition::{Condition, ConditionGuard, ConditionLock, ConditionStatistics, ConditionWait};
pub use event::{Event, EventStatistics, EventWait};
pub use limiter::{Borrower, CapacityLimiter, LimiterAcquire, LimiterStatistics, LimiterToken};
pub use local::{join, join_all, race, try_join};
pub use lock::{Lock, LockAcquire, LockGuard, LockStatistics};
pub use map::map_concurrent;
pub use nursery::{Cancelled, Closed, Nursery, OpenNursery, TaskHandle, open_nursery};
pub use scope::{
    CancelScope, Checkpoint, FailAt, Run, TooSlow, checkpoint, current_effective_deadline,
    fail_after, fail_at, move_on_after, move_on_at,
};
pub use semaphore::{
    Semaphore, SemaphoreAcquire, SemaphorePermit, SemaphoreStatistics, WouldBlock,
};
pub use start::{Start, StartError, TaskStatus};
pub use tree::{TaskTree, task_tree};

/// Runs `future` as the root of a task tree (what `creche::run` does): nurseries opened in it
/// appear under a `run` line in [`task_tree`].
///
/// # Examples
///
/// ```
/// # let rt = creche_timer::__doc_runtime();
/// assert_eq!(rt.block_on(creche_nursery::root(async { 3 })), Some(3));
/// ```
pub fn root<F: std::future::Future>(future: F) -> Run<F> {
    scope::root(future)
}
