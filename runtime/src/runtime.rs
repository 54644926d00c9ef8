//! [`Runtime`]: owns the worker threads and shuts them down.
//!
//! Shutdown (on drop): the workers are told to stop and finish the poll they are in; they are
//! joined; every task still alive is then cancelled in place from the owner list (its future
//! dropped exactly once, its `JoinHandle` told `Cancelled`); the injector is drained; the
//! driver's `shutdown` runs; last, the blocking pool cancels its queue and joins its threads.

use crate::builder::{BuildError, Builder};
use crate::sync::thread;
use crate::task::JoinHandle;
use crate::{Handle, Scope};
use std::fmt;
use std::future::Future;

/// A multi-threaded work-stealing runtime.
///
/// # Examples
///
/// ```
/// let rt = creche_runtime::Runtime::new().unwrap();
/// let total = rt.block_on(async {
///     let tasks: Vec<_> = (0..10_u64).map(|i| creche_runtime::spawn(async move { i * i })).collect();
///     let mut total = 0;
///     for task in tasks {
///         total += task.await.unwrap();
///     }
///     total
/// });
/// assert_eq!(total, 285);
/// ```
pub struct Runtime {
    handle: Handle,
    threads: Vec<thread::JoinHandle<()>>,
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("handle", &self.handle)
            .finish()
    }
}

impl Runtime {
    pub(crate) fn from_parts(handle: Handle, threads: Vec<thread::JoinHandle<()>>) -> Runtime {
        Runtime { handle, threads }
    }

    /// A runtime with the default settings (one worker per core).
    ///
    /// # Errors
    ///
    /// [`BuildError::Spawn`] if a thread cannot be started.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = creche_runtime::Runtime::new().unwrap();
    /// assert_eq!(rt.block_on(async { 5 }), 5);
    /// ```
    pub fn new() -> Result<Runtime, BuildError> {
        Builder::new().build()
    }

    /// A [`Builder`] to configure a runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = creche_runtime::Runtime::builder().worker_threads(2).build().unwrap();
    /// assert_eq!(rt.handle().num_workers(), 2);
    /// ```
    pub fn builder() -> Builder {
        Builder::new()
    }

    /// The runtime's handle.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = creche_runtime::Runtime::new().unwrap();
    /// let handle: creche_runtime::Handle = rt.handle().clone();
    /// assert_eq!(rt.block_on(handle.spawn(async { 1 })).unwrap(), 1);
    /// ```
    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    /// Runs `future` to completion on the calling thread, with the runtime current (tasks it
    /// spawns run on the workers).
    ///
    /// # Panics
    ///
    /// Panics when called from inside a runtime (a task, or another `block_on`).
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = creche_runtime::Runtime::new().unwrap();
    /// assert_eq!(rt.block_on(async { creche_runtime::spawn(async { 2 }).await.unwrap() }), 2);
    /// ```
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.handle.block_on(future)
    }

    /// Runs `f` with a [`Scope`] on which to spawn tasks that borrow local data, and returns
    /// what `f` returns once every task spawned on the scope is done: the async counterpart
    /// of `std::thread::scope`.
    ///
    /// The tasks run in parallel on the workers and may borrow anything that outlives the call
    /// (`'env`); the calling thread runs `f`, then blocks until the future of every task of
    /// the scope — including tasks spawned by tasks — has been dropped. A task's
    /// [`ScopedJoinHandle`](crate::ScopedJoinHandle) joins it from `f` (blocking) or from
    /// another task of the scope (`.await`).
    ///
    /// # Panics
    ///
    /// - When called from inside a runtime (a task, or a future run by `block_on`), as
    ///   [`block_on`](Self::block_on) does there, and before `f` runs: blocking a worker could
    ///   deadlock the runtime. Call it from a thread of your own or from
    ///   [`spawn_blocking`](Self::spawn_blocking) (through [`Handle::scope`]).
    /// - If `f` panics, once every task is done, with `f`'s panic.
    /// - Otherwise, if a task panicked and no join of its handle returned that panic, once
    ///   every task is done, with the first such panic's payload.
    ///
    /// # Examples
    ///
    /// A parallel sum over slices of a local vector:
    ///
    /// ```
    /// let rt = creche_runtime::Runtime::builder().worker_threads(2).build().unwrap();
    /// let numbers: Vec<u64> = (1..=1000).collect();
    /// let total = rt.scope(|s| {
    ///     let parts: Vec<_> = numbers
    ///         .chunks(100)
    ///         .map(|chunk| s.spawn(async move { chunk.iter().sum::<u64>() }))
    ///         .collect();
    ///     parts.into_iter().map(|part| part.join().unwrap()).sum::<u64>()
    /// });
    /// assert_eq!(total, 500_500);
    /// assert_eq!(numbers.len(), 1000); // still ours
    /// ```
    pub fn scope<'env, F, R>(&'env self, f: F) -> R
    where
        F: for<'scope> FnOnce(&'scope Scope<'scope, 'env>) -> R,
    {
        self.handle.scope(f)
    }

    /// Spawns a task; see [`Handle::spawn`].
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = creche_runtime::Runtime::new().unwrap();
    /// let task = rt.spawn(async { 7 });
    /// assert_eq!(rt.block_on(task).unwrap(), 7);
    /// ```
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handle.spawn(future)
    }

    /// Runs a blocking closure on the blocking pool; see [`Handle::spawn_blocking`].
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = creche_runtime::Runtime::new().unwrap();
    /// let task = rt.spawn_blocking(|| 2 + 2);
    /// assert_eq!(rt.block_on(task).unwrap(), 4);
    /// ```
    pub fn spawn_blocking<F, R>(&self, f: F) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        self.handle.spawn_blocking(f)
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        let shared = &self.handle.shared;
        shared.begin_shutdown();
        let me = thread::current().id();
        for worker in self.threads.drain(..) {
            // A runtime dropped from one of its own workers cannot join that worker.
            if worker.thread().id() != me {
                let _ = worker.join();
            }
        }
        shared.finish_shutdown();
        shared.blocking.shutdown();
    }
}
