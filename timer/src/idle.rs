//! [`wait_all_tasks_blocked`]: a test helper that waits until every other task is blocked.
//!
//! The waiter registers with the timer driver and wakes it; the driver, which hears from the
//! runtime's idle monitor when no worker, `block_on` caller or blocking job is active (the
//! protocol of ARCHITECTURE.md, "Knowing when the runtime is idle"), wakes every waiter the
//! next time the runtime is idle — before it would autojump a virtual clock, so a test can
//! look at a quiescent state at the current virtual time. As with autojump, a wake that a
//! thread outside the runtime is about to deliver is not visible.

use crate::driver::{NO_TIMER, with_current};
use creche_runtime::coop;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

/// Waits until every other task of the runtime is blocked (no worker has anything to run, no
/// blocking job runs, no `block_on` future is being polled), then returns. On a virtual clock
/// it returns before time would jump.
///
/// # Panics
///
/// When polled outside a runtime with a timer driver.
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
///
/// let rt = creche_timer::__doc_runtime();
/// rt.block_on(async {
///     let steps = Arc::new(AtomicUsize::new(0));
///     let counter = steps.clone();
///     let _busy = creche_runtime::spawn(async move {
///         for _ in 0..100 {
///             counter.fetch_add(1, Ordering::SeqCst);
///             creche_runtime::yield_now().await;
///         }
///         creche_timer::sleep_forever().await;
///     });
///     creche_timer::wait_all_tasks_blocked().await;
///     assert_eq!(steps.load(Ordering::SeqCst), 100);
///     assert_eq!(creche_timer::current_time(), creche_timer::Instant::ZERO);
/// });
/// ```
pub fn wait_all_tasks_blocked() -> WaitAllTasksBlocked {
    WaitAllTasksBlocked { registered: None }
}

/// The future of [`wait_all_tasks_blocked`].
///
/// # Examples
///
/// See [`wait_all_tasks_blocked`].
#[must_use = "futures do nothing unless polled"]
#[derive(Debug)]
pub struct WaitAllTasksBlocked {
    /// The release generation when this waiter registered.
    registered: Option<u64>,
}

impl Future for WaitAllTasksBlocked {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let progress = ready!(coop::poll_proceed(cx));
        let registered = self.registered;
        let released = with_current(|handle| {
            let shared = &*handle.expect(NO_TIMER).shared;
            let mut waiters = shared.idle_waiters.lock();
            if registered.is_some_and(|generation| waiters.generation > generation) {
                return Ok(());
            }
            if !waiters.wakers.iter().any(|w| w.will_wake(cx.waker())) {
                waiters.wakers.push(cx.waker().clone());
            }
            let generation = waiters.generation;
            drop(waiters);
            // The driver may be blocked with nothing armed: make it look.
            shared.wake_driver();
            Err(generation)
        });
        match released {
            Ok(()) => {
                progress.made_progress();
                Poll::Ready(())
            }
            Err(generation) => {
                self.registered.get_or_insert(generation);
                Poll::Pending
            }
        }
    }
}
