//! [`sleep`], [`sleep_until`], [`sleep_forever`], [`timeout`] and [`current_time`].
//!
//! Every future here is a coop-budget operation: each poll takes one unit of the task's budget
//! and, when the budget is spent, yields to the scheduler instead of completing, so a loop of
//! ready sleeps or timeouts cannot starve a worker. A [`Sleep`] registers its timer lazily, at
//! the first poll that finds the deadline in the future: a timeout whose future is ready at
//! once never touches the timer wheel.

use crate::Instant;
use crate::driver::{NO_TIMER, TimerHandle, with_current};
use crate::entry::TimerEntry;
use creche_runtime::coop;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

/// The current time on the runtime's clock.
///
/// This reads the clock and returns; it is not an await point, so it neither spends nor
/// checks the coop budget (there is nothing to yield from).
///
/// # Panics
///
/// Outside a runtime with a timer driver (see [`TimerHandle::current`](crate::TimerHandle::current)).
///
/// # Examples
///
/// ```
/// let rt = creche_timer::__doc_runtime();
/// rt.block_on(async {
///     let before = creche_timer::current_time();
///     creche_timer::sleep(std::time::Duration::from_secs(3600)).await;
///     assert_eq!(creche_timer::current_time() - before, std::time::Duration::from_secs(3600));
/// });
/// ```
pub fn current_time() -> Instant {
    with_current(|handle| handle.expect(NO_TIMER).now())
}

/// The current time on the runtime's clock, or `None` outside a runtime with a timer driver.
/// Reads the clock without touching any shared reference count.
///
/// # Examples
///
/// ```
/// assert_eq!(creche_timer::try_current_time(), None);
/// let rt = creche_timer::__doc_runtime();
/// rt.block_on(async { assert!(creche_timer::try_current_time().is_some()) });
/// ```
pub fn try_current_time() -> Option<Instant> {
    with_current(|handle| handle.map(TimerHandle::now))
}

/// Waits until `duration` has passed on the runtime's clock (counted from now: the deadline is
/// fixed when the sleep is created).
///
/// # Panics
///
/// When called outside a runtime with a timer driver (it reads the clock).
///
/// # Examples
///
/// ```
/// let rt = creche_timer::__doc_runtime();
/// rt.block_on(async {
///     let start = creche_timer::current_time();
///     creche_timer::sleep(std::time::Duration::from_millis(1500)).await;
///     assert!(creche_timer::current_time() >= start + std::time::Duration::from_millis(1500));
/// });
/// ```
pub fn sleep(duration: Duration) -> Sleep {
    Sleep::new(current_time() + duration)
}

/// Waits until the runtime's clock reads `deadline`.
///
/// # Panics
///
/// When first polled outside a runtime with a timer driver.
///
/// # Examples
///
/// ```
/// let rt = creche_timer::__doc_runtime();
/// rt.block_on(async {
///     let deadline = creche_timer::current_time() + std::time::Duration::from_secs(60);
///     creche_timer::sleep_until(deadline).await;
///     assert_eq!(creche_timer::current_time(), deadline);
/// });
/// ```
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep::new(deadline)
}

/// Never completes (a deadline of [`Instant::MAX`], which registers no timer). Useful as the
/// body of a task that only waits to be cancelled.
///
/// # Examples
///
/// ```
/// let rt = creche_timer::__doc_runtime();
/// rt.block_on(async {
///     let task = creche_runtime::spawn(creche_timer::sleep_forever());
///     creche_timer::sleep(std::time::Duration::from_secs(1)).await;
///     assert!(!task.is_finished());
///     task.abort();
///     assert!(task.await.unwrap_err().is_cancelled());
/// });
/// ```
pub fn sleep_forever() -> Sleep {
    Sleep::new(Instant::MAX)
}

/// The future of [`sleep`], [`sleep_until`] and [`sleep_forever`]. `Unpin`: it can be polled
/// in a `select!` loop by reference, and moved by [`reset`](Sleep::reset).
///
/// # Examples
///
/// ```
/// let rt = creche_timer::__doc_runtime();
/// rt.block_on(async {
///     let mut sleep = creche_timer::sleep(std::time::Duration::from_secs(5));
///     let later = sleep.deadline() + std::time::Duration::from_secs(5);
///     sleep.reset(later);
///     (&mut sleep).await;
///     assert!(sleep.is_elapsed());
///     assert_eq!(creche_timer::current_time(), later);
/// });
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct Sleep {
    deadline: Instant,
    /// Created at the first poll that finds the deadline in the future.
    entry: Option<TimerEntry>,
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sleep")
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

impl Sleep {
    fn new(deadline: Instant) -> Sleep {
        Sleep {
            deadline,
            entry: None,
        }
    }

    /// The deadline.
    ///
    /// # Examples
    ///
    /// See [`Sleep`].
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Whether the deadline has passed.
    ///
    /// # Examples
    ///
    /// See [`Sleep`].
    pub fn is_elapsed(&self) -> bool {
        match &self.entry {
            Some(entry) => entry.is_elapsed(),
            None => current_time() >= self.deadline,
        }
    }

    /// Moves the deadline, earlier or later (the sleep completes at the new one, even if it had
    /// completed before).
    ///
    /// # Examples
    ///
    /// See [`Sleep`].
    pub fn reset(&mut self, deadline: Instant) {
        self.deadline = deadline;
        if let Some(entry) = &mut self.entry {
            entry.reset(deadline);
        }
    }

    /// Polls the timer without spending budget.
    fn poll_timer(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.deadline == Instant::MAX {
            return Poll::Pending;
        }
        let registered = match &mut self.entry {
            Some(entry) => entry.register(cx.waker()),
            None => {
                let deadline = self.deadline;
                let entry = with_current(|handle| {
                    let handle = handle.expect(NO_TIMER);
                    (handle.now() < deadline).then(|| TimerEntry::new(handle, deadline))
                });
                match entry {
                    None => return Poll::Ready(()),
                    // The clock was read just now: skip `register`'s own read.
                    Some(entry) => self.entry.insert(entry).register_in_future(cx.waker()),
                }
            }
        };
        if registered {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // A sleep is a cancellation point: in a cancelled scope it never completes (the scope
        // wakes the task and drops the body), even when its deadline has passed.
        if creche_runtime::cancel::is_cancelled() {
            return Poll::Pending;
        }
        let progress = ready!(coop::poll_proceed(cx));
        ready!(self.poll_timer(cx));
        progress.made_progress();
        Poll::Ready(())
    }
}

/// Runs `future` for at most `duration`: its output, or [`Elapsed`] if the deadline came
/// first (the future is then dropped, as cancel scopes drop their bodies).
///
/// The future is polled before the deadline is checked, so a future that is ready completes
/// even when the deadline has passed, and a ready future never registers a timer. Each poll
/// takes one unit of coop budget.
///
/// # Panics
///
/// When called outside a runtime with a timer driver (it reads the clock).
///
/// # Examples
///
/// ```
/// use creche_timer::{sleep, timeout, Elapsed};
/// use std::time::Duration;
///
/// let rt = creche_timer::__doc_runtime();
/// rt.block_on(async {
///     assert_eq!(timeout(Duration::from_secs(1), async { 7 }).await, Ok(7));
///     let slow = timeout(Duration::from_secs(1), sleep(Duration::from_secs(60)));
///     assert_eq!(slow.await, Err(Elapsed));
/// });
/// ```
pub fn timeout<F: Future>(duration: Duration, future: F) -> Timeout<F> {
    timeout_at(current_time() + duration, future)
}

/// Runs `future` until the clock reads `deadline`; see [`timeout`].
///
/// # Panics
///
/// When polled past the future's first pending poll outside a runtime with a timer driver.
///
/// # Examples
///
/// ```
/// let rt = creche_timer::__doc_runtime();
/// rt.block_on(async {
///     let deadline = creche_timer::current_time() + std::time::Duration::from_secs(1);
///     let result = creche_timer::timeout_at(deadline, creche_timer::sleep_forever()).await;
///     assert!(result.is_err());
///     assert_eq!(creche_timer::current_time(), deadline);
/// });
/// ```
pub fn timeout_at<F: Future>(deadline: Instant, future: F) -> Timeout<F> {
    Timeout {
        future,
        sleep: Sleep::new(deadline),
    }
}

pin_project_lite::pin_project! {
    /// The future of [`timeout`] and [`timeout_at`].
    ///
    /// # Examples
    ///
    /// See [`timeout`].
    #[must_use = "futures do nothing unless polled"]
    #[derive(Debug)]
    pub struct Timeout<F> {
        #[pin]
        future: F,
        sleep: Sleep,
    }
}

impl<F> Timeout<F> {
    /// The deadline.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = creche_timer::__doc_runtime();
    /// rt.block_on(async {
    ///     let t = creche_timer::timeout(std::time::Duration::from_secs(1), async {});
    ///     assert_eq!(t.deadline(), creche_timer::current_time() + std::time::Duration::from_secs(1));
    /// });
    /// ```
    pub fn deadline(&self) -> Instant {
        self.sleep.deadline
    }

    /// The wrapped future.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = creche_timer::__doc_runtime();
    /// rt.block_on(async {
    ///     let t = creche_timer::timeout(std::time::Duration::from_secs(1), std::future::ready(3));
    ///     assert_eq!(t.into_inner().await, 3);
    /// });
    /// ```
    pub fn into_inner(self) -> F {
        self.future
    }
}

/// The deadline of a [`timeout`] passed before its future completed.
///
/// # Examples
///
/// ```
/// assert_eq!(creche_timer::Elapsed.to_string(), "deadline has elapsed");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed;

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

impl std::error::Error for Elapsed {}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        // One unit of budget per poll, so that a loop of ready timeouts yields too.
        let progress = ready!(coop::poll_proceed(cx));
        if let Poll::Ready(output) = this.future.poll(cx) {
            progress.made_progress();
            return Poll::Ready(Ok(output));
        }
        // The deadline is checked even when the future spent the rest of the budget, so that a
        // future that is always busy still times out.
        ready!(this.sleep.poll_timer(cx));
        progress.made_progress();
        Poll::Ready(Err(Elapsed))
    }
}
