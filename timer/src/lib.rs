//! creche-timer: time on the runtime's clock.
//!
//! - [`Instant`], [`Clock`], [`SystemClock`] and the virtual [`MockClock`] (rate, jumps and
//!   autojump).
//! - A hierarchical timing wheel (module `wheel`): six levels of 64 slots over a 1 ms tick (a level-`L` slot spans `64^L` ticks), O(1)
//!   insert, move and cancel, firing in deadline order.
//! - [`TimerDriver`]: the runtime's [`creche_runtime::park::Park`], wrapping an inner
//!   park (the I/O driver, or a plain thread park); it also autojumps a mock clock when the
//!   whole runtime is idle.
//! - [`sleep`], [`sleep_until`], [`sleep_forever`], [`interval`], [`timeout`],
//!   [`current_time`]; and [`TimerEntry`], the register / reset / cancel API that cancel
//!   scopes build their deadlines on; [`wait_all_tasks_blocked`] for tests.
//!
//! Most programs reach these through `creche::time`; the facade's runtime builder installs
//! the driver. [`build_runtime`] does the same for this crate alone:
//!
//! ```
//! use creche_timer::{build_runtime, current_time, sleep, MockClock};
//! use std::time::Duration;
//!
//! let clock = MockClock::autojump();
//! let rt = build_runtime(creche_runtime::Builder::new().worker_threads(2), clock).unwrap();
//! rt.block_on(async {
//!     let start = current_time();
//!     sleep(Duration::from_secs(3600)).await; // virtual: returns at once
//!     assert_eq!(current_time() - start, Duration::from_secs(3600));
//! });
//! ```

mod clock;
pub mod driver;
mod entry;
mod idle;
mod instant;
mod interval;
mod sleep;
mod wheel;

pub use clock::{Clock, ClockError, MockClock, SystemClock};
pub use driver::{TimerDriver, TimerHandle};
pub use entry::TimerEntry;
pub use idle::{WaitAllTasksBlocked, wait_all_tasks_blocked};
pub use instant::Instant;
pub use interval::{Interval, interval, interval_at};
pub use sleep::{
    Elapsed, Sleep, Timeout, current_time, sleep, sleep_forever, sleep_until, timeout, timeout_at,
    try_current_time,
};

use creche_runtime::park::{Park, ThreadPark};
use creche_runtime::{BuildError, Builder, Runtime};

/// Builds `builder` with a [`TimerDriver`] on `clock` over a [`ThreadPark`], and installs its
/// handle as the runtime's extension (where timers find it).
///
/// # Errors
///
/// What [`Builder::build`] returns.
///
/// # Examples
///
/// See the [crate documentation](crate).
pub fn build_runtime(builder: Builder, clock: impl Clock) -> Result<Runtime, BuildError> {
    build_runtime_with_park(builder, ThreadPark::new(), std::sync::Arc::new(clock))
}

/// [`build_runtime`] with a given inner park and a shared clock: what the facade uses to put
/// the timer driver over the I/O driver.
///
/// # Errors
///
/// What [`Builder::build`] returns.
///
/// # Examples
///
/// ```
/// use creche_runtime::park::ThreadPark;
/// use creche_timer::{build_runtime_with_park, Clock, SystemClock};
/// use std::sync::Arc;
///
/// let clock: Arc<dyn Clock> = Arc::new(SystemClock);
/// let rt = build_runtime_with_park(creche_runtime::Builder::new(), ThreadPark::new(), clock)
///     .unwrap();
/// rt.block_on(async { creche_timer::sleep(std::time::Duration::from_millis(1)).await });
/// ```
pub fn build_runtime_with_park<P: Park>(
    builder: Builder,
    inner: P,
    clock: std::sync::Arc<dyn Clock>,
) -> Result<Runtime, BuildError> {
    let driver = TimerDriver::with_shared_clock(inner, clock);
    let handle = driver.handle();
    builder.park(driver).extension(handle).build()
}

/// A two-worker runtime on an autojumping [`MockClock`], for this crate's doc examples.
#[doc(hidden)]
pub fn __doc_runtime() -> Runtime {
    build_runtime(Builder::new().worker_threads(2), MockClock::autojump())
        .expect("doc runtime builds")
}
