//! The hidden entry functions that `#[creche::main]` and `#[creche::test]` expand to
//! (`creche::__private`), so that the generated code stays a single call.
//!
//! - [`main`]: runs the body as the root of the task tree inside a cancel scope. A
//!   [`ctrl_c`](crate::signal::ctrl_c) future polled beside the body (in the same root future,
//!   no extra task) cancels that scope on the first SIGINT, and a counter in the signal handler
//!   itself exits the process with status 130 on the second (`_exit`, async-signal-safe, so it
//!   works even when every worker is stuck). A body cancelled this way ends the program with
//!   status 130 once the runtime has shut down. Both listen from before the body's first poll
//!   until `main` returns; afterwards SIGINT is ignored (signal-hook does not restore default
//!   actions), which matters only to programs that call such a `main` as a function.
//! - [`test`]: runs the body as the root; under chaos mode, prints the seed when it panics.
//! - [`chaos_seed`]: `CRECHE_SEED`, or a random seed.

use crate::{CancelScope, Runtime};
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::Poll;

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

/// The exit status of a program ended by ctrl-c (128 + SIGINT, as shells report it).
pub const INTERRUPTED_STATUS: i32 = 130;

/// The body of a `#[creche::main]`: `future` as the root of the task tree on `runtime`, in a
/// cancel scope that the first ctrl-c cancels; the second ctrl-c exits the process at once.
///
/// A body cancelled by ctrl-c ends the process with status 130 once the runtime has shut down.
/// If the handlers cannot be installed, a line on stderr says so and the body runs without
/// them.
///
/// # Panics
///
/// Propagates a panic of `future`.
pub fn main<F: Future>(runtime: Runtime, future: F) -> F::Output {
    let exit_on_second = ExitOnSecond::install();
    let mut interrupt = Some(crate::signal::ctrl_c());
    let scope = CancelScope::new();
    let cancel = scope.clone();
    let body = scope.run(future);
    let root = creche_nursery::root(async move {
        let mut body = std::pin::pin!(body);
        std::future::poll_fn(|cx| {
            if let Some(ctrl_c) = &mut interrupt {
                match Pin::new(ctrl_c).poll(cx) {
                    Poll::Ready(Ok(())) => {
                        cancel.cancel();
                        interrupt = None;
                    }
                    Poll::Ready(Err(e)) => {
                        eprintln!("creche: ctrl-c will not cancel the program: {e}");
                        interrupt = None;
                    }
                    Poll::Pending => {}
                }
            }
            body.as_mut().poll(cx)
        })
        .await
    });
    let output = runtime
        .block_on(root)
        .expect("the root scope has no handle, so nothing cancels it");
    match output {
        Some(output) => output,
        None => {
            drop(runtime); // shut down: every task is dropped before the process ends
            drop(exit_on_second);
            std::process::exit(INTERRUPTED_STATUS)
        }
    }
}

/// Exits the process with status 130 from the signal handler on the second SIGINT after
/// `install`, however busy the runtime is.
struct ExitOnSecond(Option<signal_hook::SigId>);

impl ExitOnSecond {
    fn install() -> ExitOnSecond {
        let count = AtomicUsize::new(0);
        let action = move || {
            if count.fetch_add(1, Ordering::SeqCst) >= 1 {
                signal_hook::low_level::exit(INTERRUPTED_STATUS);
            }
        };
        // SAFETY: the action runs in a signal handler: an atomic add on memory the action owns,
        // and `_exit(2)`, both async-signal-safe; it neither allocates, locks nor panics.
        match unsafe { signal_hook::low_level::register(crate::signal::SIGINT, action) } {
            Ok(id) => ExitOnSecond(Some(id)),
            Err(e) => {
                eprintln!("creche: a second ctrl-c will not exit the program: {e}");
                ExitOnSecond(None)
            }
        }
    }
}

impl Drop for ExitOnSecond {
    fn drop(&mut self) {
        if let Some(id) = self.0.take() {
            signal_hook::low_level::unregister(id);
        }
    }
}
