//! The one place the crate takes its synchronisation primitives from.
//!
//! Every atomic, lock, condition variable, `UnsafeCell`, thread and thread-local used by a
//! protocol of this crate is imported from here. Under `--cfg loom` the module swaps in loom's
//! instrumented versions, so the loom models in `loom_tests` explore the real code; in normal
//! builds it re-exports `std` atomics and `parking_lot` locks. crossbeam's deque is not
//! loom-aware: `scheduler::queue` provides a stand-in with the same contract under loom.

#[cfg(not(loom))]
mod std_impl;
#[cfg(not(loom))]
pub(crate) use std_impl::*;

#[cfg(loom)]
mod loom_impl;
#[cfg(loom)]
pub(crate) use loom_impl::*;
