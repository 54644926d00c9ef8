//! [`yield_now`]: give the other tasks a turn.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Yields once to the scheduler: every other task that is ready to run on this worker (local
/// queue, injector, stealable work) goes first; the yielding task is polled again when the
/// worker runs out of such work, or at the next fairness tick, whichever comes first.
///
/// # Examples
///
/// ```
/// let rt = creche_runtime::Runtime::builder().worker_threads(1).build().unwrap();
/// rt.block_on(async {
///     for _ in 0..3 {
///         creche_runtime::yield_now().await;
///     }
/// });
/// ```
pub fn yield_now() -> YieldNow {
    YieldNow { yielded: false }
}

/// The future returned by [`yield_now`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct YieldNow {
    yielded: bool,
}

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        if !crate::context::defer(cx.waker()) {
            // Not on a worker (e.g. the future of block_on): wake right away.
            cx.waker().wake_by_ref();
        }
        Poll::Pending
    }
}
