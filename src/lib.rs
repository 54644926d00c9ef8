//! creche: Trio's structured concurrency on a multi-threaded, work-stealing Rust runtime.
//!
//! Every task lives in a nursery, cancel scopes with deadlines bound any piece of work, and the
//! children of one nursery run in parallel on every core. This facade re-exports the crates of
//! the workspace; today that is the executor (`creche-runtime`): [`run`], [`Runtime`],
//! [`spawn`], [`JoinHandle`]. Time, nurseries, I/O and sync arrive with their crates.
//!
//! ```
//! let answer = creche::run(async {
//!     let left = creche::spawn(async { 20 });
//!     let right = creche::spawn(async { 22 });
//!     left.await.unwrap() + right.await.unwrap()
//! });
//! assert_eq!(answer, 42);
//! ```

use std::future::Future;

pub use creche_runtime::{
    spawn, spawn_blocking, yield_now, BuildError, Builder, EnterGuard, Handle, JoinError,
    JoinHandle, Runtime, TaskId, TryCurrentError, YieldNow,
};

/// Tasks: ids, join handles, the current task.
pub mod task {
    pub use creche_runtime::task::{id, try_id, JoinError, JoinHandle, TaskId};
    pub use creche_runtime::{spawn, spawn_blocking, yield_now};
}

/// Low-level runtime pieces for integrations: the coop budget and the `Park` driver trait.
pub mod runtime {
    pub use creche_runtime::coop;
    pub use creche_runtime::park;
    pub use creche_runtime::{BuildError, Builder, Handle, Runtime};
}

/// Builds the default runtime (one worker per core), runs `future` on the calling thread as
/// the root of the program, and returns its output. The runtime is shut down before `run`
/// returns: tasks still running are cancelled and their futures dropped.
///
/// # Panics
///
/// Panics if the runtime cannot start its threads, if called from inside a runtime, and
/// propagates a panic of `future` itself.
///
/// # Examples
///
/// ```
/// let n = creche::run(async { creche::spawn(async { 1 }).await.unwrap() });
/// assert_eq!(n, 1);
/// ```
pub fn run<F: Future>(future: F) -> F::Output {
    let runtime = match Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => panic!("creche::run could not start the runtime: {e}"),
    };
    runtime.block_on(future)
}
