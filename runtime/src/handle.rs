//! [`Handle`]: a clonable reference to a running runtime, and the free `spawn` functions.

use crate::Scope;
use crate::context;
use crate::scheduler::Shared;
use crate::sync::Arc;
use crate::task::JoinHandle;
use std::fmt;
use std::future::Future;

/// A clonable, `Send + Sync` reference to a runtime: spawn onto it or block on it from any
/// thread. It does not keep the runtime's threads alive: once the [`Runtime`](crate::Runtime)
/// is dropped, tasks spawned through a handle are cancelled at once.
///
/// # Examples
///
/// ```
/// let rt = creche_runtime::Runtime::builder().build().unwrap();
/// let handle = rt.handle().clone();
/// let answer = std::thread::spawn(move || handle.block_on(async { 40 + 2 }))
///     .join()
///     .unwrap();
/// assert_eq!(answer, 42);
/// ```
#[derive(Clone)]
pub struct Handle {
    pub(crate) shared: Arc<Shared>,
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("workers", &self.num_workers())
            .finish_non_exhaustive()
    }
}

/// There is no current runtime on this thread; returned by [`Handle::try_current`].
///
/// # Examples
///
/// ```
/// let err = creche_runtime::Handle::try_current().unwrap_err();
/// assert!(err.to_string().contains("no creche runtime"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TryCurrentError(());

impl fmt::Display for TryCurrentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(NO_RUNTIME)
    }
}

impl std::error::Error for TryCurrentError {}

const NO_RUNTIME: &str = "there is no creche runtime on this thread: call this from inside \
    creche::run, Runtime::block_on or a task spawned on a runtime, or enter one with \
    Handle::enter";

/// Makes a handle current on this thread until dropped; returned by [`Handle::enter`].
#[must_use = "the handle is current only while the guard lives"]
pub struct EnterGuard {
    _guard: context::ContextGuard,
}

impl fmt::Debug for EnterGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnterGuard").finish_non_exhaustive()
    }
}

impl Handle {
    pub(crate) fn from_shared(shared: Arc<Shared>) -> Handle {
        Handle { shared }
    }

    pub(crate) fn shared_ptr(&self) -> *const Shared {
        &*self.shared
    }

    /// The handle of the runtime this thread belongs to.
    ///
    /// # Panics
    ///
    /// Panics outside a runtime; see [`try_current`](Self::try_current).
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = creche_runtime::Runtime::builder().build().unwrap();
    /// rt.block_on(async {
    ///     let handle = creche_runtime::Handle::current();
    ///     assert_eq!(handle.spawn(async { 3 }).await.unwrap(), 3);
    /// });
    /// ```
    pub fn current() -> Handle {
        match Handle::try_current() {
            Ok(handle) => handle,
            Err(e) => panic!("{e}"),
        }
    }

    /// The handle of the runtime this thread belongs to, if any.
    ///
    /// # Errors
    ///
    /// [`TryCurrentError`] outside a runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(creche_runtime::Handle::try_current().is_err());
    /// ```
    pub fn try_current() -> Result<Handle, TryCurrentError> {
        context::current_handle().ok_or(TryCurrentError(()))
    }

    /// Spawns a task onto the runtime. It starts running at once, in parallel with the caller.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = creche_runtime::Runtime::builder().build().unwrap();
    /// let handle = rt.handle().spawn(async { "done" });
    /// assert_eq!(rt.block_on(handle).unwrap(), "done");
    /// ```
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        Shared::spawn(self, future)
    }

    /// Runs a blocking closure on the blocking pool.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = creche_runtime::Runtime::builder().build().unwrap();
    /// let sum = rt.block_on(rt.handle().spawn_blocking(|| (1..=10).sum::<u32>()));
    /// assert_eq!(sum.unwrap(), 55);
    /// ```
    pub fn spawn_blocking<F, R>(&self, f: F) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        self.shared.blocking.spawn(self, f, true)
    }

    /// Runs `future` to completion on the calling thread, with this runtime current.
    ///
    /// # Panics
    ///
    /// Panics when called from a runtime worker or from inside another `block_on` (it would
    /// deadlock the runtime). Blocking-pool threads may call it.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = creche_runtime::Runtime::builder().build().unwrap();
    /// let handle = rt.handle().clone();
    /// let out = rt.block_on(rt.spawn_blocking(move || handle.block_on(async { 9 })));
    /// assert_eq!(out.unwrap(), 9);
    /// ```
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        crate::block_on::block_on(self, future)
    }

    /// Runs `f` with a [`Scope`] whose tasks may borrow local data; see
    /// [`Runtime::scope`](crate::Runtime::scope).
    ///
    /// A handle does not keep the runtime alive: if the runtime is dropped meanwhile, the
    /// scope's tasks are cancelled (their futures dropped; a join returns a cancellation
    /// [`JoinError`](crate::JoinError)) and `scope` returns once they are gone.
    ///
    /// # Panics
    ///
    /// As [`Runtime::scope`](crate::Runtime::scope): inside a runtime, before `f` runs; with
    /// `f`'s panic; with the first unjoined task panic.
    ///
    /// # Examples
    ///
    /// From a blocking-pool thread (where blocking is allowed), inside async code:
    ///
    /// ```
    /// let rt = creche_runtime::Runtime::builder().worker_threads(2).build().unwrap();
    /// let lengths = rt.block_on(rt.spawn_blocking(|| {
    ///     let handle = creche_runtime::Handle::current();
    ///     let words = vec!["borrowed", "by", "tasks"];
    ///     handle.scope(|s| {
    ///         let tasks: Vec<_> = words.iter().map(|w| s.spawn(async move { w.len() })).collect();
    ///         tasks.into_iter().map(|t| t.join().unwrap()).collect::<Vec<_>>()
    ///     })
    /// }));
    /// assert_eq!(lengths.unwrap(), [8, 2, 5]);
    /// ```
    pub fn scope<'env, F, R>(&'env self, f: F) -> R
    where
        F: for<'scope> FnOnce(&'scope Scope<'scope, 'env>) -> R,
    {
        crate::scope::scope(self, f)
    }

    /// Makes this runtime current on the calling thread (so that [`spawn`](crate::spawn) and
    /// [`Handle::current`] work there) until the guard is dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = creche_runtime::Runtime::builder().build().unwrap();
    /// let _guard = rt.handle().enter();
    /// let task = creche_runtime::spawn(async { 1 });
    /// drop(_guard);
    /// assert_eq!(rt.block_on(task).unwrap(), 1);
    /// ```
    pub fn enter(&self) -> EnterGuard {
        EnterGuard {
            _guard: context::enter_handle(self),
        }
    }

    /// The value of type `T` installed with [`Builder::extension`](crate::Builder::extension).
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = creche_runtime::Runtime::builder().extension(7_u32).build().unwrap();
    /// assert_eq!(rt.handle().extension::<u32>(), Some(&7));
    /// assert_eq!(rt.handle().extension::<u64>(), None);
    /// ```
    pub fn extension<T: std::any::Any>(&self) -> Option<&T> {
        self.shared.extensions.iter().find_map(|e| e.downcast_ref())
    }

    /// Calls `f` with the current runtime's extension of type `T` (`None` outside a runtime or
    /// without one), without cloning the handle: the fast path for per-operation lookups.
    ///
    /// # Examples
    ///
    /// ```
    /// use creche_runtime::Handle;
    /// assert_eq!(Handle::with_current_extension(|v: Option<&u32>| v.copied()), None);
    /// let rt = creche_runtime::Runtime::builder().extension(7_u32).build().unwrap();
    /// let v = rt.block_on(async { Handle::with_current_extension(|v: Option<&u32>| v.copied()) });
    /// assert_eq!(v, Some(7));
    /// ```
    #[inline]
    pub fn with_current_extension<T: std::any::Any, R>(f: impl FnOnce(Option<&T>) -> R) -> R {
        context::with_current(|current| f(current.and_then(|(handle, _)| handle.extension())))
    }

    /// The runtime's [`IdleMonitor`](crate::park::IdleMonitor), if it was built with a driver
    /// ([`Builder::park`](crate::Builder::park)); `None` otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = creche_runtime::Runtime::builder().build().unwrap();
    /// assert!(rt.handle().idle_monitor().is_none());
    /// ```
    pub fn idle_monitor(&self) -> Option<crate::park::IdleMonitor> {
        let slot = self.shared.driver.as_ref()?;
        Some(crate::park::IdleMonitor {
            activity: slot.activity.clone(),
        })
    }

    /// Number of worker threads.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = creche_runtime::Runtime::builder().worker_threads(3).build().unwrap();
    /// assert_eq!(rt.handle().num_workers(), 3);
    /// ```
    pub fn num_workers(&self) -> usize {
        self.shared.parkers.len()
    }

    /// Counts one more active party until the lease is dropped, for work done for the runtime
    /// on a thread it does not know of (what `to_thread` gives back to a thread it woke: see
    /// [`blocking`](crate::blocking)). Create it from an active party (a task being polled, a
    /// running blocking job): the runtime cannot have gone idle then. Without a driver there
    /// is no counting and the lease is empty.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = creche_runtime::Runtime::new().unwrap();
    /// let lease = rt.block_on(async { creche_runtime::Handle::current().activity_lease() });
    /// std::thread::spawn(move || drop(lease)).join().unwrap(); // droppable anywhere
    /// ```
    pub fn activity_lease(&self) -> crate::blocking::ActivityLease {
        crate::blocking::ActivityLease::enter(
            self.shared.driver.as_ref().map(|slot| &slot.activity),
        )
    }

    /// The seed of chaos mode, if the runtime was built with
    /// [`Builder::chaos`](crate::Builder::chaos).
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = creche_runtime::Runtime::builder().chaos(42).build().unwrap();
    /// assert_eq!(rt.handle().chaos_seed(), Some(42));
    /// assert_eq!(creche_runtime::Runtime::builder().build().unwrap().handle().chaos_seed(), None);
    /// ```
    pub fn chaos_seed(&self) -> Option<u64> {
        self.shared.chaos
    }
}

/// Spawns a task onto the current runtime.
///
/// # Panics
///
/// Panics when called outside a runtime (the message says how to get inside one).
///
/// # Examples
///
/// ```
/// let rt = creche_runtime::Runtime::builder().build().unwrap();
/// let v = rt.block_on(async {
///     let a = creche_runtime::spawn(async { 1 });
///     let b = creche_runtime::spawn(async { 2 });
///     a.await.unwrap() + b.await.unwrap()
/// });
/// assert_eq!(v, 3);
/// ```
#[track_caller]
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let mut future = Some(future);
    let spawned = context::with_current(|current| {
        current.map(|(handle, _)| Shared::spawn(handle, future.take().expect("taken once")))
    });
    match spawned {
        Some(join) => join,
        None => panic!("creche::spawn: {NO_RUNTIME}"),
    }
}

/// Runs a blocking closure on the current runtime's blocking pool.
///
/// # Panics
///
/// Panics when called outside a runtime.
///
/// # Examples
///
/// ```
/// let rt = creche_runtime::Runtime::builder().build().unwrap();
/// let n = rt.block_on(async {
///     creche_runtime::spawn_blocking(|| std::fs::read_dir(".").map(|d| d.count()).unwrap_or(0))
///         .await
///         .unwrap()
/// });
/// let _ = n;
/// ```
#[track_caller]
pub fn spawn_blocking<F, R>(f: F) -> JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    match context::current_handle() {
        Some(handle) => handle.spawn_blocking(f),
        None => panic!("creche::spawn_blocking: {NO_RUNTIME}"),
    }
}
