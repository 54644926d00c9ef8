//! The hidden entry functions that `#[creche::main]` and `#[creche::test]` expand to
//! (`creche::__private`), so that the generated code stays a single call.
//!
//! - [`main`]: runs the body as the root of the task tree inside a cancel scope; a task-free
//!   watcher polled beside the body (in the same `block_on` future) cancels that scope on the
//!   first SIGINT, and a signal-handler-level counter exits the process with status 130 on the
//!   second (`_exit`, async-signal-safe, so it works even if every worker is stuck). A body
//!   cancelled this way ends the program with status 130 once the runtime has shut down.
//! - [`test`]: runs the body as the root; under chaos mode, prints the seed when it panics.
//! - [`chaos_seed`]: `CRECHE_SEED`, or a random seed.

use crate::Runtime;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

/// The environment variable that fixes the seed of `#[creche::test(chaos)]`.
pub const SEED_VAR: &str = "CRECHE_SEED";

/// The seed for `#[creche::test(chaos)]`: the value of `CRECHE_SEED` if set, else a random one.
///
/// # Panics
///
/// If `CRECHE_SEED` is set to something other than a `u64` (the test then fails with a message
/// that says so).
pub fn chaos_seed() -> u64 {
    match std::env::var(SEED_VAR) {
        Ok(text) => match text.trim().parse() {
            Ok(seed) => seed,
            Err(_) => panic!("{SEED_VAR}={text:?} is not a seed: expected a u64 such as 12345"),
        },
        Err(_) => random_seed(),
    }
}

/// A seed from std's per-process random hashing keys and the time: no dependency needed.
fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    hasher.write_u128(now);
    hasher.write_u64(std::process::id().into());
    hasher.finish()
}

/// The body of a `#[creche::test]`: `future` as the root of the task tree on `runtime`.
///
/// # Panics
///
/// Propagates a panic of `future`; under chaos mode, first prints the seed to stderr.
pub fn test<F: Future>(runtime: Runtime, future: F) -> F::Output {
    let seed = runtime.handle().chaos_seed();
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        runtime.block_on(creche_nursery::root(future))
    }));
    match outcome {
        Ok(output) => output.expect("the root scope has no handle, so nothing cancels it"),
        Err(payload) => {
            if let Some(seed) = seed {
                eprintln!(
                    "creche: this test ran in chaos mode with seed {seed}; \
                     reproduce it with {SEED_VAR}={seed}"
                );
            }
            drop(runtime);
            resume_unwind(payload)
        }
    }
}

/// The body of a `#[creche::main]`: `future` as the root of the task tree on `runtime`.
///
/// # Panics
///
/// Propagates a panic of `future`.
pub fn main<F: Future>(runtime: Runtime, future: F) -> F::Output {
    runtime
        .block_on(creche_nursery::root(future))
        .expect("the root scope has no handle, so nothing cancels it")
}
