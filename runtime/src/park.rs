//! The [`Park`] trait: how an idle worker blocks, and where drivers plug in.
//!
//! A runtime is built with an optional driver (the timer driver wrapping the I/O driver, in
//! the facade). Exactly one idle thread at a time owns the driver and blocks in
//! [`Park::park`]; the other idle workers sleep on their own condition variable. Without a
//! driver, every idle worker sleeps on its condition variable (the default).
//!
//! The runtime wakes the owner with the [`Unpark`] handle from [`Park::unparker`] when work
//! arrives; the driver itself returns from `park` when its own events (timers, I/O readiness)
//! are due, after it has woken the tasks that wait for them.
//!
//! # Examples
//!
//! A driver that only knows how to be woken (what the condvar park does internally):
//!
//! ```
//! use creche_runtime::park::{Park, Unpark};
//! use std::sync::{Arc, Condvar, Mutex};
//! use std::time::Duration;
//!
//! #[derive(Default)]
//! struct Flag { set: Mutex<bool>, condvar: Condvar }
//!
//! impl Unpark for Flag {
//!     fn unpark(&self) {
//!         *self.set.lock().unwrap() = true;
//!         self.condvar.notify_one();
//!     }
//! }
//!
//! struct FlagPark(Arc<Flag>);
//!
//! impl Park for FlagPark {
//!     fn park(&mut self, timeout: Option<Duration>) {
//!         let mut set = self.0.set.lock().unwrap();
//!         if !*set {
//!             set = match timeout {
//!                 Some(t) => self.0.condvar.wait_timeout(set, t).unwrap().0,
//!                 None => self.0.condvar.wait(set).unwrap(),
//!             };
//!         }
//!         *set = false;
//!     }
//!     fn unparker(&self) -> Arc<dyn Unpark> {
//!         self.0.clone()
//!     }
//! }
//!
//! let rt = creche_runtime::Runtime::builder()
//!     .park(FlagPark(Arc::default()))
//!     .build()
//!     .unwrap();
//! assert_eq!(rt.block_on(async { rt.spawn(async { 1 }).await.unwrap() }), 1);
//! ```

use std::sync::Arc;
use std::time::Duration;

/// Blocks the calling thread until it is unparked, its own events are due, or `timeout` passes.
///
/// Contract: an [`Unpark::unpark`] that happens before `park` makes the next `park` return
/// promptly (a token, as `std::thread::park` has); spurious returns are allowed; `park(Some(0))`
/// processes ready events without blocking. Before returning, the driver wakes the tasks whose
/// events fired.
pub trait Park: Send + 'static {
    /// Blocks as described above.
    fn park(&mut self, timeout: Option<Duration>);

    /// A handle that makes a current or future `park` return; callable from any thread.
    fn unparker(&self) -> Arc<dyn Unpark>;

    /// Called once when the runtime is built, before its workers start, with its
    /// [`IdleMonitor`]: a driver that needs to know when the runtime is idle (the timer
    /// driver's autojump) keeps it. The default ignores it.
    fn attach(&mut self, monitor: &IdleMonitor) {
        let _ = monitor;
    }

    /// Called once when the runtime shuts down, after every worker has stopped.
    fn shutdown(&mut self) {}
}

/// Wakes a thread blocked in [`Park::park`]; see the [module documentation](self).
pub trait Unpark: Send + Sync + 'static {
    /// Makes the current or next `park` call return.
    fn unpark(&self);
}

/// Tells a driver whether the whole runtime is idle: every worker and `block_on` caller
/// parked, no blocking job queued or running. The timer driver uses it to autojump a virtual
/// clock. A driver receives it in [`Park::attach`]; it can also be obtained from
/// [`Handle::idle_monitor`](crate::Handle::idle_monitor) on a runtime built with a driver.
///
/// The answer is never "idle" while a runtime thread could still make a task runnable; a wake
/// delivered by a thread that is not the runtime's (a plain `std::thread` holding a waker) is
/// not visible to it. The protocol is documented in ARCHITECTURE.md ("Knowing when the
/// runtime is idle").
///
/// # Examples
///
/// ```
/// use creche_runtime::park::{Park, ThreadPark};
///
/// let rt = creche_runtime::Runtime::builder()
///     .worker_threads(1)
///     .park(ThreadPark::new())
///     .build()
///     .unwrap();
/// let monitor = rt.handle().idle_monitor().expect("built with a driver");
/// // While this thread runs a future, the runtime is not idle.
/// rt.block_on(async { assert_eq!(monitor.idle_epoch(), None) });
/// ```
#[derive(Clone)]
pub struct IdleMonitor {
    pub(crate) activity: crate::sync::Arc<crate::scheduler::activity::Activity>,
}

impl std::fmt::Debug for IdleMonitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdleMonitor")
            .field("idle_epoch", &self.idle_epoch())
            .finish()
    }
}

impl IdleMonitor {
    /// `Some(epoch)` if the runtime is idle right now. The epoch changes whenever anything
    /// becomes active, so two equal answers mean the runtime stayed idle in between.
    ///
    /// # Examples
    ///
    /// See [`IdleMonitor`].
    pub fn idle_epoch(&self) -> Option<u64> {
        self.activity.idle_epoch()
    }

    /// Asks for a call to the [`on_idle`](IdleMonitor::set_on_idle) unparker the next time
    /// the runtime becomes idle, then returns [`idle_epoch`](IdleMonitor::idle_epoch) (read
    /// after arming: if it says busy, the call is guaranteed to come).
    ///
    /// # Examples
    ///
    /// ```
    /// use creche_runtime::park::{ThreadPark, Unpark};
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use std::sync::Arc;
    ///
    /// struct Flag(AtomicBool);
    /// impl Unpark for Flag {
    ///     fn unpark(&self) { self.0.store(true, Ordering::SeqCst) }
    /// }
    ///
    /// let rt = creche_runtime::Runtime::builder()
    ///     .worker_threads(1)
    ///     .park(ThreadPark::new())
    ///     .build()
    ///     .unwrap();
    /// let monitor = rt.handle().idle_monitor().unwrap();
    /// let flag = Arc::new(Flag(AtomicBool::new(false)));
    /// monitor.set_on_idle(flag.clone());
    /// rt.block_on(async { assert_eq!(monitor.arm(), None) });
    /// // Leaving block_on made the runtime idle once the worker is parked as well.
    /// while !flag.0.load(Ordering::SeqCst) {
    ///     std::thread::yield_now();
    /// }
    /// ```
    pub fn arm(&self) -> Option<u64> {
        self.activity.arm()
    }

    /// Sets the unparker that [`arm`](IdleMonitor::arm) asks to be called (one per runtime:
    /// a later call replaces it).
    ///
    /// # Examples
    ///
    /// See [`arm`](IdleMonitor::arm).
    pub fn set_on_idle(&self, unpark: Arc<dyn Unpark>) {
        self.activity.set_on_idle(unpark);
    }
}

/// The plain driver: blocks the thread on a condition variable, with a timeout. What the
/// facade puts under its timer driver when there is no I/O driver.
///
/// # Examples
///
/// ```
/// use creche_runtime::park::{Park, ThreadPark};
/// use std::time::Duration;
///
/// let mut park = ThreadPark::new();
/// park.unparker().unpark();
/// park.park(None); // returns at once: the unpark left a token
/// park.park(Some(Duration::ZERO)); // never blocks
/// ```
#[derive(Debug, Default)]
pub struct ThreadPark {
    inner: Arc<ThreadParkInner>,
}

#[derive(Debug, Default)]
struct ThreadParkInner {
    notified: parking_lot::Mutex<bool>,
    condvar: parking_lot::Condvar,
}

impl ThreadPark {
    /// A park with no pending token.
    ///
    /// # Examples
    ///
    /// See [`ThreadPark`].
    pub fn new() -> ThreadPark {
        ThreadPark::default()
    }
}

impl Park for ThreadPark {
    fn park(&mut self, timeout: Option<Duration>) {
        let mut notified = self.inner.notified.lock();
        if !*notified {
            match timeout {
                Some(timeout) if timeout.is_zero() => {}
                Some(timeout) => {
                    self.inner.condvar.wait_for(&mut notified, timeout);
                }
                None => self.inner.condvar.wait(&mut notified),
            }
        }
        *notified = false;
    }

    fn unparker(&self) -> Arc<dyn Unpark> {
        self.inner.clone()
    }
}

impl Unpark for ThreadParkInner {
    fn unpark(&self) {
        *self.notified.lock() = true;
        self.condvar.notify_one();
    }
}
