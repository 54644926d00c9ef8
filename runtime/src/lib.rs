//! creche-runtime: the multi-threaded, work-stealing executor under creche.
//!
//! One worker thread per core, each with a LIFO slot and a local FIFO queue that the others
//! steal from; one injector for tasks scheduled from outside; a bounded number of searching
//! workers; idle workers parked so that no wakeup is lost and no herd is woken. A task is one
//! allocation whose state machine is a single atomic word (see `task::state`). A driver (timers,
//! I/O) plugs in through [`park::Park`]; [`coop`] keeps always-ready tasks from starving the
//! others.
//!
//! Most users reach this crate through the `creche` facade, which adds nurseries, cancel
//! scopes and time. Used directly:
//!
//! ```
//! use creche_runtime::Runtime;
//!
//! let rt = Runtime::builder().worker_threads(2).build().unwrap();
//! let sum = rt.block_on(async {
//!     let handles: Vec<_> = (1..=100_u64)
//!         .map(|i| creche_runtime::spawn(async move { i }))
//!         .collect();
//!     let mut sum = 0;
//!     for handle in handles {
//!         sum += handle.await.unwrap();
//!     }
//!     sum
//! });
//! assert_eq!(sum, 5050);
//! ```
//!
//! # Loom
//!
//! Every atomic, lock and thread of the crate's protocols comes from the private `sync` shim,
//! which swaps in loom's under `--cfg loom`; the models live in `loom_tests` and run with
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p creche-runtime --release --lib`.

mod block_on;
pub mod blocking;
mod builder;
pub mod cancel;
mod context;
pub mod coop;
mod handle;
pub mod park;
mod runtime;
mod scheduler;
mod scope;
mod sync;
pub mod task;
mod yield_now;

#[cfg(all(test, loom))]
mod loom_tests;

pub use builder::{BuildError, Builder};
pub use handle::{EnterGuard, Handle, TryCurrentError, spawn, spawn_blocking};
pub use runtime::Runtime;
pub use scope::{Scope, ScopedJoinHandle};
pub use task::{AbortHandle, JoinError, JoinHandle, TaskId};
pub use yield_now::{YieldNow, yield_now};
