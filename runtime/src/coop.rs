//! Cooperative scheduling budget.
//!
//! Every poll of a task by the runtime starts with a budget of [`BUDGET`] operations. Each
//! creche leaf operation (a `JoinHandle` poll, a channel or socket operation, a sleep, a
//! checkpoint) first calls [`poll_proceed`]: while budget remains it takes one unit and lets
//! the operation go on; once the budget is spent it wakes the task and returns `Pending`, so a
//! task whose operations are always ready still yields to the others and still reaches an
//! `await` where cancellation can land. Outside a runtime-driven poll the budget is unlimited.
//!
//! Operations in other crates use the public API: call [`poll_proceed`] at the top of
//! `poll`, and [`Progress::made_progress`] when the operation completed (an operation that
//! returns `Pending` anyway gets its unit back when the [`Progress`] is dropped).
//!
//! # Examples
//!
//! A leaf future that is always ready, made cooperative:
//!
//! ```
//! use std::future::Future;
//! use std::pin::Pin;
//! use std::task::{ready, Context, Poll};
//!
//! struct AlwaysReady;
//!
//! impl Future for AlwaysReady {
//!     type Output = ();
//!     fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
//!         let progress = ready!(creche_runtime::coop::poll_proceed(cx));
//!         progress.made_progress();
//!         Poll::Ready(())
//!     }
//! }
//!
//! let rt = creche_runtime::Runtime::builder().worker_threads(1).build().unwrap();
//! rt.block_on(async {
//!     for _ in 0..1000 {
//!         AlwaysReady.await; // yields to the scheduler every 128 iterations
//!     }
//! });
//! ```

use crate::context;
use std::future::poll_fn;
use std::task::{Context, Poll};

/// Operations a task may perform per poll before it must yield.
pub const BUDGET: u8 = 128;

/// The remaining budget of the current poll; `None` means unconstrained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Budget(Option<u8>);

impl Budget {
    pub(crate) const fn initial() -> Budget {
        Budget(Some(BUDGET))
    }
    pub(crate) const fn unconstrained() -> Budget {
        Budget(None)
    }
}

/// Runs `f` (one poll of a task) with a fresh budget, restoring the previous one after.
#[inline]
pub(crate) fn with_budget<R>(f: impl FnOnce() -> R) -> R {
    struct Restore(Budget);
    impl Drop for Restore {
        fn drop(&mut self) {
            context::set_budget(self.0);
        }
    }
    let _restore = Restore(context::set_budget(Budget::initial()));
    f()
}

/// Permission to perform one operation, returned by [`poll_proceed`].
///
/// Dropping it without calling [`made_progress`](Self::made_progress) gives the unit back.
#[derive(Debug)]
#[must_use = "call made_progress() when the operation completes"]
pub struct Progress {
    /// Whether a unit was taken (false outside a budgeted poll).
    taken: bool,
}

impl Progress {
    /// The operation completed: keep the unit spent.
    ///
    /// # Examples
    ///
    /// See the [module documentation](self).
    #[inline]
    pub fn made_progress(mut self) {
        self.taken = false;
    }
}

impl Drop for Progress {
    #[inline]
    fn drop(&mut self) {
        if self.taken {
            // Give one unit back to whatever budget is current now (not a snapshot, which
            // would erase what was spent meanwhile), and only inside a budgeted poll.
            if let Budget(Some(n)) = context::budget() {
                context::set_budget(Budget(Some(n.saturating_add(1).min(BUDGET))));
            }
        }
    }
}

/// Takes one unit of budget, or, if the budget is spent, wakes the task and returns `Pending`.
///
/// # Examples
///
/// See the [module documentation](self).
#[inline]
pub fn poll_proceed(cx: &mut Context<'_>) -> Poll<Progress> {
    match context::budget().0 {
        None => Poll::Ready(Progress { taken: false }),
        Some(0) => {
            if !context::defer(cx.waker()) {
                cx.waker().wake_by_ref();
            }
            Poll::Pending
        }
        Some(n) => {
            context::set_budget(Budget(Some(n - 1)));
            Poll::Ready(Progress { taken: true })
        }
    }
}

/// Whether the current poll still has budget (always true outside the runtime).
///
/// # Examples
///
/// ```
/// assert!(creche_runtime::coop::has_budget_remaining());
/// ```
pub fn has_budget_remaining() -> bool {
    context::budget().0 != Some(0)
}

/// Consumes one unit of budget, yielding to the scheduler first if it is spent.
///
/// # Examples
///
/// ```
/// let rt = creche_runtime::Runtime::builder().worker_threads(1).build().unwrap();
/// rt.block_on(async {
///     let mut sum = 0_u64;
///     for i in 0..10_000 {
///         sum += i;
///         creche_runtime::coop::consume_budget().await;
///     }
///     assert_eq!(sum, 49_995_000);
/// });
/// ```
pub async fn consume_budget() {
    poll_fn(|cx| poll_proceed(cx).map(Progress::made_progress)).await
}
