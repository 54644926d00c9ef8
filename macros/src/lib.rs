//! creche-macros: the `#[creche::main]` and `#[creche::test]` attributes, which run an
//! `async fn` to completion on a creche runtime. Use them through the facade's re-exports,
//! `creche::main` and `creche::test`; the expansion names `::creche`, so the crate using them
//! must depend on `creche`.
//!
//! This crate owns the parsing of the attributes' options (`autojump`, `chaos`,
//! `worker_threads = N`, `clock = <expr>`: the `options` module), the checks of the function they are put on and the
//! expansion (the `entry` module). Each attribute turns
//!
//! ```text
//! async fn name() -> T { body }
//! ```
//!
//! into a plain `fn name() -> T` that builds a runtime with `creche::Builder` and the options,
//! and hands it and `async move { body }` to a hidden function of the facade
//! (`creche::__private::main` or `::test`), which runs the body as the root of the task tree. Every misuse is a compile error that
//! points at the token at fault and says what is expected. The facade's tests pin both: the
//! behaviour in `tests/macros.rs`, each error message in `tests/macros_ui.rs` (`tests/ui/`).
//!
//! ```
//! #[creche::main(worker_threads = 2)]
//! async fn main() {
//!     let left = creche::spawn(async { 20 });
//!     let right = creche::spawn(async { 22 });
//!     assert_eq!(left.await.unwrap() + right.await.unwrap(), 42);
//! }
//! ```

use proc_macro::TokenStream;

mod entry;
mod options;

use options::Kind;

/// Runs an `async fn` as a program's entry point: the function becomes a plain `fn` that
/// builds a creche runtime and runs the body on it as the root of the task tree (as
/// `creche::run` does).
///
/// The first ctrl-c (SIGINT) cancels the body's root scope: the body is dropped at its next
/// cancellation point, after what it shields has finished, the runtime shuts down, and the
/// process exits with status 130. A second ctrl-c exits the process with status 130 at once.
/// A body that completes although cancelled (it reached no cancellation point) returns its
/// value as usual.
///
/// It goes on an `async fn` with no parameters and no generics, of any name, visibility and
/// return type (a `fn main` may return `Result<(), E>` as usual); attributes on the function
/// are kept. The options, comma-separated in any order, each at most once:
///
/// - `worker_threads = N`: the number of worker threads, an integer literal of at least 1
///   (`creche::Builder::worker_threads`). By default, one per core.
/// - `clock = <expr>`: the runtime's clock, any expression whose value implements
///   `creche::time::Clock` (`creche::Builder::clock`). By default, the system clock.
///
/// The expansion of `#[creche::main(worker_threads = 2)] async fn main() -> T { body }` is
///
/// ```text
/// fn main() -> T {
///     ::creche::__private::main(
///         match ::creche::Builder::new().worker_threads(2).build() {
///             Ok(runtime) => runtime,
///             Err(error) => panic!("`#[creche::main]` could not build the runtime: {}", error),
///         },
///         async move { body },
///     )
/// }
/// ```
///
/// The runtime is shut down when the function returns.
///
/// # Panics
///
/// The generated function panics if the runtime cannot be built (the message carries the
/// `creche::BuildError`), and propagates a panic of the body.
///
/// # Examples
///
/// ```
/// use creche::time::{current_time, sleep, Instant, MockClock};
/// use std::time::Duration;
///
/// #[creche::main(worker_threads = 1, clock = MockClock::autojump())]
/// async fn main() -> Result<(), String> {
///     sleep(Duration::from_secs(60)).await; // virtual time: returns at once
///     if current_time() != Instant::ZERO + Duration::from_secs(60) {
///         return Err("the clock did not jump".to_owned());
///     }
///     Ok(())
/// }
/// ```
#[proc_macro_attribute]
pub fn main(args: TokenStream, item: TokenStream) -> TokenStream {
    entry::expand(Kind::Main, args.into(), item.into()).into()
}

/// Runs an `async fn` as a test: `#[creche::main]` plus the standard `#[test]` attribute,
/// without the ctrl-c handling. The body runs as the root of the task tree.
///
/// Other attributes, such as `#[should_panic]` and `#[ignore]`, are kept, and the test may
/// return `Result<(), E>` as a `#[test]` can. Do not add `#[test]` yourself. The options,
/// comma-separated in any order, each at most once:
///
/// - `autojump`: the clock is `creche::time::MockClock::autojump()`, virtual time that jumps
///   to the next timer whenever the runtime is idle, so a test that sleeps an hour takes no
///   time. It cannot be combined with `clock` (give that clock the autojump instead).
/// - `chaos`: chaos mode (`creche::Builder::chaos`): the order of runnable tasks and of steal
///   victims is drawn from a seed, taken from the `CRECHE_SEED` environment variable or drawn
///   at random. When the body panics, the seed is printed to stderr with the command line
///   that reproduces the run. `chaos = <seed>` gives the seed (a `u64` expression) instead.
/// - `worker_threads = N`: the number of worker threads, an integer literal of at least 1.
///   By default, one per core.
/// - `clock = <expr>`: the runtime's clock, any expression whose value implements
///   `creche::time::Clock`, such as a `MockClock` set up by a block expression. By default,
///   the system clock.
///
/// The expansion of `#[creche::test(autojump)] async fn t() { body }` is
///
/// ```text
/// #[::core::prelude::v1::test]
/// fn t() {
///     ::creche::__private::test(
///         match ::creche::Builder::new().clock(::creche::time::MockClock::autojump()).build() {
///             Ok(runtime) => runtime,
///             Err(error) => panic!("`#[creche::test]` could not build the runtime: {}", error),
///         },
///         async move { body },
///     )
/// }
/// ```
///
/// # Panics
///
/// The test panics (fails) if the runtime cannot be built, with the `creche::BuildError` in the
/// message, and when its body panics.
///
/// # Examples
///
/// ```
/// use creche::time::{current_time, sleep, Instant};
/// use std::time::Duration;
///
/// #[creche::test(autojump)]
/// async fn an_hour_passes_at_once() {
///     sleep(Duration::from_secs(3600)).await;
///     assert_eq!(current_time(), Instant::ZERO + Duration::from_secs(3600));
/// }
///
/// #[creche::test(worker_threads = 2)]
/// async fn two_workers() {
///     assert_eq!(creche::Handle::current().num_workers(), 2);
/// }
///
/// #[creche::test(chaos, worker_threads = 1)]
/// async fn under_chaos() {
///     assert!(creche::Handle::current().chaos_seed().is_some());
/// }
/// # fn main() {}
/// ```
#[proc_macro_attribute]
pub fn test(args: TokenStream, item: TokenStream) -> TokenStream {
    entry::expand(Kind::Test, args.into(), item.into()).into()
}

/// Adds `error` to the errors found so far: every mistake is reported, each where it is.
fn push_error(errors: &mut Option<syn::Error>, error: syn::Error) {
    match errors {
        Some(errors) => errors.combine(error),
        None => *errors = Some(error),
    }
}
