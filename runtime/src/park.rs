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

    /// Called once when the runtime shuts down, after every worker has stopped.
    fn shutdown(&mut self) {}
}

/// Wakes a thread blocked in [`Park::park`]; see the [module documentation](self).
pub trait Unpark: Send + Sync + 'static {
    /// Makes the current or next `park` call return.
    fn unpark(&self);
}
