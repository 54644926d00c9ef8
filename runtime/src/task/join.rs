//! [`JoinHandle`]: awaiting, aborting or detaching a spawned task.

use super::raw::Header;
use super::{JoinError, TaskId, state};
use crate::coop;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll};

/// An owned permission to await a spawned task's output.
///
/// Awaiting it yields `Ok(output)`, or a [`JoinError`] if the task panicked or was cancelled.
/// Dropping it detaches the task, which keeps running. Awaiting a `JoinHandle` is
/// cancellation-safe: dropping the `await` loses nothing, the handle can be awaited again.
///
/// # Examples
///
/// ```
/// let rt = creche_runtime::Runtime::builder().build().unwrap();
/// let answer = rt.block_on(async {
///     let handle = creche_runtime::spawn(async { 6 * 7 });
///     handle.await.unwrap()
/// });
/// assert_eq!(answer, 42);
/// ```
pub struct JoinHandle<T> {
    raw: NonNull<Header>,
    _output: PhantomData<T>,
}

// SAFETY: the handle only hands out `T` (which is Send for every spawned task) and touches the
// task through its atomic state protocol.
unsafe impl<T: Send> Send for JoinHandle<T> {}
// SAFETY: `&JoinHandle` only allows `abort`, `is_finished` and `id`, all atomic.
unsafe impl<T: Send> Sync for JoinHandle<T> {}

impl<T> Unpin for JoinHandle<T> {}

impl<T> JoinHandle<T> {
    pub(crate) fn from_raw(raw: NonNull<Header>) -> JoinHandle<T> {
        JoinHandle {
            raw,
            _output: PhantomData,
        }
    }

    fn header(&self) -> &Header {
        // SAFETY: the handle owns a reference to the task.
        unsafe { self.raw.as_ref() }
    }

    /// Cancels the task: if it is not running its future is dropped by a worker shortly; if it
    /// is running, at the end of the current poll. Awaiting the handle then gives a
    /// [`JoinError`] for which `is_cancelled()` is true, unless the task completed first.
    /// Aborting a completed task does nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = creche_runtime::Runtime::builder().build().unwrap();
    /// let handle = rt.spawn(std::future::pending::<()>());
    /// handle.abort();
    /// assert!(rt.block_on(handle).unwrap_err().is_cancelled());
    /// ```
    pub fn abort(&self) {
        let header = self.header();
        if header.state.transition_to_cancelled() == state::WakeAction::Submit {
            // SAFETY: the transition took the reference the submitted Notified owns.
            unsafe { (header.vtable.schedule)(self.raw) }
        }
    }

    /// A handle that can wake or cancel the task without owning its output.
    ///
    /// # Examples
    ///
    /// See [`AbortHandle`](super::AbortHandle).
    pub fn abort_handle(&self) -> super::AbortHandle {
        self.header().state.ref_inc();
        super::AbortHandle::from_counted(self.raw)
    }

    /// Whether the task has completed (with an output, a panic or a cancellation).
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = creche_runtime::Runtime::builder().build().unwrap();
    /// let handle = rt.spawn(async {});
    /// while !handle.is_finished() {
    ///     std::thread::yield_now();
    /// }
    /// ```
    pub fn is_finished(&self) -> bool {
        self.header().state.load().is(state::COMPLETE)
    }

    /// The id of the task.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = creche_runtime::Runtime::builder().build().unwrap();
    /// let handle = rt.spawn(async { creche_runtime::task::id() });
    /// let id = handle.id();
    /// assert_eq!(rt.block_on(handle).unwrap(), id);
    /// ```
    pub fn id(&self) -> TaskId {
        self.header().id
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let progress = std::task::ready!(coop::poll_proceed(cx));
        let mut output: Poll<Result<T, JoinError>> = Poll::Pending;
        // SAFETY: the handle owns a reference and JOIN_INTEREST; `output` has the type the
        // task's vtable writes.
        unsafe {
            (self.header().vtable.try_read_output)(
                self.raw,
                &mut output as *mut Poll<Result<T, JoinError>> as *mut (),
                cx.waker(),
            )
        };
        if output.is_ready() {
            progress.made_progress();
        }
        output
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        // SAFETY: the handle gives up its JOIN_INTEREST and its reference.
        unsafe { (self.header().vtable.drop_join_handle)(self.raw) }
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("id", &self.id())
            .finish()
    }
}
