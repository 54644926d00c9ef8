//! [`AbortHandle`]: a counted reference to a task that can wake it or cancel it, without the
//! right to its output. Nurseries keep one per child, to wake children when a scope is cancelled
//! and to drop them in place when an open nursery is dropped from outside.

use super::raw::{Header, drop_reference};
use super::{TaskId, state};
use std::fmt;
use std::ptr::NonNull;

/// A handle that wakes or cancels a task; obtained from [`JoinHandle::abort_handle`].
///
/// Unlike a [`JoinHandle`], it carries no right to the output, and any number of them may
/// exist. Dropping one does nothing to the task.
///
/// [`JoinHandle`]: super::JoinHandle
/// [`JoinHandle::abort_handle`]: super::JoinHandle::abort_handle
///
/// # Examples
///
/// ```
/// let rt = creche_runtime::Runtime::builder().build().unwrap();
/// let handle = rt.spawn(std::future::pending::<()>());
/// let abort = handle.abort_handle();
/// abort.abort();
/// assert!(rt.block_on(handle).unwrap_err().is_cancelled());
/// assert!(abort.is_finished());
/// ```
pub struct AbortHandle {
    raw: NonNull<Header>,
}

// SAFETY: the handle touches the task only through its atomic state word and the vtable's
// thread-safe entry points; it owns one reference (I1 in raw.rs).
unsafe impl Send for AbortHandle {}
// SAFETY: as above; every method takes `&self` and is atomic.
unsafe impl Sync for AbortHandle {}

impl AbortHandle {
    /// Wraps a pointer whose reference the caller has already counted.
    pub(crate) fn from_counted(raw: NonNull<Header>) -> AbortHandle {
        AbortHandle { raw }
    }

    fn header(&self) -> &Header {
        // SAFETY: the handle owns a reference, which keeps the allocation alive.
        unsafe { self.raw.as_ref() }
    }

    /// Cancels the task the way [`JoinHandle::abort`](super::JoinHandle::abort) does: a worker
    /// drops the future shortly, or at the end of the poll it is in.
    ///
    /// # Examples
    ///
    /// See [`AbortHandle`].
    pub fn abort(&self) {
        let header = self.header();
        if header.state.transition_to_cancelled() == state::WakeAction::Submit {
            // SAFETY: the transition took the reference the submitted Notified owns.
            unsafe { (header.vtable.schedule)(self.raw) }
        }
    }

    /// Cancels the task at once: if no thread is polling it, its future is dropped on the
    /// calling thread before this returns; if one is, the future is dropped as soon as that
    /// poll returns. Does nothing to a completed task.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use std::sync::Arc;
    ///
    /// struct SetOnDrop(Arc<AtomicBool>);
    /// impl Drop for SetOnDrop {
    ///     fn drop(&mut self) { self.0.store(true, Ordering::SeqCst) }
    /// }
    ///
    /// let rt = creche_runtime::Runtime::builder().build().unwrap();
    /// let dropped = Arc::new(AtomicBool::new(false));
    /// let guard = SetOnDrop(dropped.clone());
    /// let handle = rt.spawn(async move {
    ///     let _guard = guard;
    ///     std::future::pending::<()>().await
    /// });
    /// handle.abort_handle().abort_now();
    /// assert!(rt.block_on(handle).unwrap_err().is_cancelled());
    /// assert!(dropped.load(Ordering::SeqCst));
    /// ```
    pub fn abort_now(&self) {
        let header = self.header();
        header.state.ref_inc();
        // SAFETY: `shutdown` consumes the reference taken just above; it claims the task only
        // if nobody polls it, and otherwise leaves CANCELLED for the runner to act on.
        unsafe { (header.vtable.shutdown)(self.raw) }
    }

    /// Schedules the task to be polled, as its waker's `wake_by_ref` does.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = creche_runtime::Runtime::builder().build().unwrap();
    /// let handle = rt.spawn(async { 1 });
    /// handle.abort_handle().wake(); // a spurious wake is harmless
    /// assert_eq!(rt.block_on(handle).unwrap(), 1);
    /// ```
    pub fn wake(&self) {
        let header = self.header();
        if header.state.transition_to_notified_by_ref() == state::WakeAction::Submit {
            // SAFETY: the transition took a reference for the Notified being submitted.
            unsafe { (header.vtable.schedule)(self.raw) }
        }
    }

    /// Whether the task has completed.
    ///
    /// # Examples
    ///
    /// See [`AbortHandle`].
    pub fn is_finished(&self) -> bool {
        self.header().state.load().is(state::COMPLETE)
    }

    /// The id of the task.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = creche_runtime::Runtime::builder().build().unwrap();
    /// let handle = rt.spawn(async {});
    /// assert_eq!(handle.abort_handle().id(), handle.id());
    /// ```
    pub fn id(&self) -> TaskId {
        self.header().id
    }
}

impl Clone for AbortHandle {
    fn clone(&self) -> AbortHandle {
        self.header().state.ref_inc();
        AbortHandle { raw: self.raw }
    }
}

impl Drop for AbortHandle {
    fn drop(&mut self) {
        // SAFETY: the handle owns one reference and gives it up.
        unsafe { drop_reference(self.raw) }
    }
}

impl fmt::Debug for AbortHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AbortHandle")
            .field("id", &self.id())
            .finish()
    }
}
