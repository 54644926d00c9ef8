//! [`interval`]: ticks at a fixed period.
//!
//! Missed ticks are **skipped**: when the task comes to `tick()` late, past one or more whole
//! periods, the first missed tick is delivered at once (its scheduled instant is returned) and
//! the others are dropped; the next tick is the first one of the original schedule that lies
//! in the future. The phase is kept (ticks stay at `start + k * period`) and a slow consumer
//! never sees a burst of back-to-back ticks.

use crate::Instant;
use crate::sleep::{Sleep, current_time, sleep_until};
use std::future::poll_fn;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

/// Ticks every `period`, the first tick at once. Missed ticks are skipped: a late tick comes
/// at once, the ticks missed after it are dropped, and the phase is kept. A zero period ticks
/// back to back (each tick is still a coop-budget operation, so it cannot starve the worker).
///
/// # Panics
///
/// Outside a runtime with a timer driver.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// let rt = creche_timer::__doc_runtime();
/// rt.block_on(async {
///     let start = creche_timer::current_time();
///     let mut ticks = creche_timer::interval(Duration::from_secs(10));
///     assert_eq!(ticks.tick().await, start);
///     assert_eq!(ticks.tick().await, start + Duration::from_secs(10));
///     // Late by 25 s: the tick at 20 s comes at once, the one at 30 s is skipped.
///     creche_timer::sleep(Duration::from_secs(25)).await;
///     assert_eq!(ticks.tick().await, start + Duration::from_secs(20));
///     assert_eq!(ticks.tick().await, start + Duration::from_secs(40));
/// });
/// ```
pub fn interval(period: Duration) -> Interval {
    interval_at(current_time(), period)
}

/// Ticks every `period`, the first tick at `start`; see [`interval`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// let rt = creche_timer::__doc_runtime();
/// rt.block_on(async {
///     let start = creche_timer::current_time() + Duration::from_secs(5);
///     let mut ticks = creche_timer::interval_at(start, Duration::from_secs(1));
///     assert_eq!(ticks.tick().await, start);
///     assert_eq!(creche_timer::current_time(), start);
/// });
/// ```
pub fn interval_at(start: Instant, period: Duration) -> Interval {
    Interval {
        next: start,
        period,
        sleep: sleep_until(start),
    }
}

/// The ticker of [`interval`] and [`interval_at`].
///
/// # Examples
///
/// See [`interval`].
#[derive(Debug)]
pub struct Interval {
    /// The instant of the next tick.
    next: Instant,
    period: Duration,
    sleep: Sleep,
}

impl Interval {
    /// Waits for the next tick and returns its scheduled instant (not the time it was
    /// delivered). Cancel-safe: dropping the future loses no tick.
    ///
    /// # Examples
    ///
    /// See [`interval`].
    pub async fn tick(&mut self) -> Instant {
        poll_fn(|cx| self.poll_tick(cx)).await
    }

    /// The poll behind [`tick`](Interval::tick).
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = creche_timer::__doc_runtime();
    /// rt.block_on(async {
    ///     let mut ticks = creche_timer::interval(std::time::Duration::from_secs(1));
    ///     let first = std::future::poll_fn(|cx| ticks.poll_tick(cx)).await;
    ///     assert_eq!(first, creche_timer::current_time());
    /// });
    /// ```
    pub fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<Instant> {
        ready!(Pin::new(&mut self.sleep).poll(cx));
        let tick = self.next;
        let now = current_time();
        let mut next = tick + self.period;
        if next <= now && !self.period.is_zero() {
            // Skip the missed ticks: the first scheduled tick after `now`.
            let period = self.period.as_nanos();
            let behind = (now - tick).as_nanos();
            let periods = behind / period + 1;
            let skip = u64::try_from(period.saturating_mul(periods)).unwrap_or(u64::MAX);
            next = tick + Duration::from_nanos(skip);
        }
        self.next = next;
        self.sleep.reset(next);
        Poll::Ready(tick)
    }

    /// The period.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = creche_timer::__doc_runtime();
    /// rt.block_on(async {
    ///     let ticks = creche_timer::interval(std::time::Duration::from_secs(2));
    ///     assert_eq!(ticks.period(), std::time::Duration::from_secs(2));
    /// });
    /// ```
    pub fn period(&self) -> Duration {
        self.period
    }
}

use std::future::Future as _;
