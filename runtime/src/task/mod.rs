//! Tasks: the allocation, its state machine, its handles.
//!
//! - `state`: the atomic state word, bit by bit, and its transitions.
//! - `raw`: the single allocation (header + scheduler + future/output + join waker), the
//!   vtable and the `RawWaker` functions.
//! - `join` / `error`: [`JoinHandle`] and [`JoinError`].
//! - `list`: the owner list the runtime keeps so that shutdown can drop every future.
//!
//! Handles passed around inside the crate: `Notified` (a queued task, owning one reference,
//! the item type of every run queue) and `TaskRef` (a borrowed pointer for the owner list).

mod abort;
mod error;
mod id;
mod join;
pub(crate) mod list;
mod raw;
pub(crate) mod state;

pub use abort::AbortHandle;
pub use error::JoinError;
pub use id::TaskId;
pub use join::JoinHandle;

pub(crate) use raw::Header;

use std::future::Future;
use std::ptr::NonNull;

/// Where a task goes when it is woken, and who is told when it completes.
pub(crate) trait Schedule: Send + Sync + Sized + 'static {
    /// Queues a notified task. `is_yield` asks for the back of the queue (the task was woken
    /// while it was running, as `yield_now` does) rather than the LIFO slot.
    fn schedule(&self, task: Notified, is_yield: bool);

    /// The task completed: unlink it from the owner list. Returns whether the list held a
    /// reference, which the caller releases.
    fn release(&self, task: TaskRef) -> bool;
}

/// A task that has been woken and waits in a queue; owns one reference.
pub(crate) struct Notified(NonNull<Header>);

// SAFETY: a task is Send (its future and output are Send); the handle is a counted pointer.
unsafe impl Send for Notified {}

impl Notified {
    pub(crate) fn from_raw(ptr: NonNull<Header>) -> Notified {
        Notified(ptr)
    }

    /// Polls the task once (or cancels it, if it was aborted).
    pub(crate) fn run(self) {
        let ptr = self.0;
        std::mem::forget(self);
        // SAFETY: the Notified owned a reference; `run` consumes it.
        unsafe { (ptr.as_ref().vtable.run)(ptr) }
    }

    /// Drops the future in place if nobody is polling it (runtime shutdown).
    pub(crate) fn shutdown(self) {
        let ptr = self.0;
        std::mem::forget(self);
        // SAFETY: the Notified owned a reference; `shutdown` consumes it.
        unsafe { (ptr.as_ref().vtable.shutdown)(ptr) }
    }

    pub(crate) fn header(&self) -> &Header {
        // SAFETY: the handle's reference keeps the allocation alive.
        unsafe { self.0.as_ref() }
    }
}

impl Drop for Notified {
    fn drop(&mut self) {
        // SAFETY: the handle owned a reference and gives it up.
        unsafe { raw::drop_reference(self.0) }
    }
}

impl std::fmt::Debug for Notified {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Notified").field(&self.header().id).finish()
    }
}

/// A borrowed task pointer, valid while the caller holds some reference to the task.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct TaskRef(pub(crate) NonNull<Header>);

impl TaskRef {
    pub(crate) fn header(&self) -> &Header {
        // SAFETY: a TaskRef is only made while a reference keeps the task alive.
        unsafe { self.0.as_ref() }
    }
}

/// Allocates a task with `refs` references (one for the returned `Notified`, one for the
/// `JoinHandle`, and one per owner-list entry the caller is about to make).
pub(crate) fn new_task<F, S>(
    future: F,
    scheduler: S,
    id: TaskId,
    refs: usize,
) -> (Notified, JoinHandle<F::Output>)
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
    S: Schedule,
{
    let ptr = raw::allocate(future, scheduler, id, refs);
    (Notified(ptr), JoinHandle::from_raw(ptr))
}

/// The id of the task being polled on this thread.
///
/// # Panics
///
/// Panics outside a task; see [`try_id`].
///
/// # Examples
///
/// ```
/// let rt = creche_runtime::Runtime::new().unwrap();
/// let handle = rt.spawn(async { creche_runtime::task::id() });
/// let expected = handle.id();
/// assert_eq!(rt.block_on(handle).unwrap(), expected);
/// ```
pub fn id() -> TaskId {
    try_id().expect("creche_runtime::task::id() called outside a task")
}

/// The id of the task being polled on this thread, or `None` outside a task (including the
/// future of `block_on`, which is not a task).
///
/// # Examples
///
/// ```
/// assert_eq!(creche_runtime::task::try_id(), None);
/// ```
pub fn try_id() -> Option<TaskId> {
    crate::context::current_task()
}
