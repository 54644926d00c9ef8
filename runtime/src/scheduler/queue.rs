//! Run queues: crossbeam-deque in normal builds, a loom-aware stand-in under `--cfg loom`.
//!
//! Contract the scheduler relies on (crossbeam's): `Worker` is the owner's end of a FIFO
//! queue (`push`, `pop`), `Stealer` takes from another worker's queue (`steal_batch_and_pop`
//! moves about half of it into the thief's queue and returns one task), `Injector` is the
//! shared queue for tasks scheduled from outside the workers. Steals may answer `Retry`
//! (a lost race) and must be retried; `is_empty` is a hint that may be stale.

#[cfg(not(loom))]
pub(crate) use crossbeam_deque::{Injector, Steal, Stealer, Worker};

#[cfg(loom)]
pub(crate) use super::queue_loom::{Injector, Steal, Stealer, Worker};
