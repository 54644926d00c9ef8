//! [`yield_now`]: give the other tasks a turn.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Yields once to the scheduler: the task goes to the back of its worker's queue and is polled
/// again after the tasks already waiting there.
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
        // A wake during the task's own poll re-queues it at the back (see task::state).
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
