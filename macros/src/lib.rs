//! creche-macros: the `#[creche::main]` and `#[creche::test]` attributes, which run an
//! `async fn` to completion on a creche runtime. Use them through the facade's re-exports,
//! `creche::main` and `creche::test`; the expansion names `::creche`, so the crate using them
//! must depend on `creche`.
//!
//! This crate owns the parsing of the attributes' options (`autojump`, `worker_threads = N`,
//! `clock = <expr>`: the `options` module), the checks of the function they are put on and the
//! expansion (the `entry` module). Each attribute turns
//!
//! ```text
//! async fn name() -> T { body }
//! ```
//!
//! into a plain `fn name() -> T` that builds a runtime with `creche::Builder` and the options,
//! and returns `runtime.block_on(async move { body })`. Every misuse is a compile error that
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
/// builds a creche runtime and blocks on the body.
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
///     match ::creche::Builder::new().worker_threads(2).build() {
///         Ok(runtime) => runtime,
///         Err(error) => panic!("`#[creche::main]` could not build the runtime: {}", error),
///     }
///     .block_on(async move { body })
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

/// Runs an `async fn` as a test: `#[creche::main]` plus the standard `#[test]` attribute.
///
/// Other attributes, such as `#[should_panic]` and `#[ignore]`, are kept, and the test may
/// return `Result<(), E>` as a `#[test]` can. Do not add `#[test]` yourself. The options,
/// comma-separated in any order, each at most once:
///
/// - `autojump`: the clock is `creche::time::MockClock::autojump()`, virtual time that jumps
///   to the next timer whenever the runtime is idle, so a test that sleeps an hour takes no
///   time. It cannot be combined with `clock` (give that clock the autojump instead).
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
///     match ::creche::Builder::new().clock(::creche::time::MockClock::autojump()).build() {
///         Ok(runtime) => runtime,
///         Err(error) => panic!("`#[creche::test]` could not build the runtime: {}", error),
///     }
///     .block_on(async move { body })
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
