//! Clocks: the [`Clock`] trait, the monotonic [`SystemClock`] and the virtual [`MockClock`].
//!
//! The timer driver reads its clock for the current time, asks it how much real time to block
//! until a deadline, and, on a clock with autojump, moves it to the next deadline when the
//! whole runtime is idle (the protocol is in the [`driver`](crate::driver) module).

use crate::Instant;
use creche_runtime::park::Unpark;
use parking_lot::Mutex;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

/// A source of time for a runtime. Implemented by [`SystemClock`] and [`MockClock`]; a custom
/// clock implements at least [`now`](Clock::now) and
/// [`real_time_until`](Clock::real_time_until).
///
/// # Examples
///
/// ```
/// use creche_timer::{Clock, Instant, MockClock, SystemClock};
/// use std::time::Duration;
///
/// let mock = MockClock::new();
/// assert_eq!(mock.now(), Instant::ZERO);
/// // Virtual time at rate 0 never gets anywhere by itself:
/// assert_eq!(mock.real_time_until(Instant::ZERO + Duration::from_secs(1)), None);
///
/// let system = SystemClock;
/// let soon = system.now() + Duration::from_secs(1);
/// assert!(system.real_time_until(soon).unwrap() <= Duration::from_secs(1));
/// ```
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// The current time.
    fn now(&self) -> Instant;

    /// How much real time passes until the clock reads `deadline` (zero if it already does), or
    /// `None` if the clock will not get there by itself (a virtual clock that stands still).
    fn real_time_until(&self, deadline: Instant) -> Option<Duration>;

    /// `Some(threshold)` if the driver may jump this clock to the next deadline once the runtime
    /// has been idle for `threshold` of real time; `None` (the default) if it may not.
    fn autojump_threshold(&self) -> Option<Duration> {
        None
    }

    /// Moves the clock forward to `deadline` (the driver calls this to autojump). A clock
    /// without autojump ignores it (the default).
    fn autojump_to(&self, deadline: Instant) {
        let _ = deadline;
    }

    /// Whether this is a virtual clock, whose time jumps: then timers fire exactly at their
    /// deadlines (a test sees `current_time()` equal to the deadline it slept until). On a real
    /// clock (`false`, the default) the driver works at whole milliseconds, and a timer fires
    /// up to one millisecond after its deadline, never before.
    fn is_virtual(&self) -> bool {
        false
    }

    /// Asks the clock to call `unpark` whenever its time or its settings change other than by
    /// the passing of real time (a jump), so that a driver blocked in `park` can fire the
    /// timers that became due. Clocks that never jump ignore it (the default).
    fn subscribe(&self, unpark: Weak<dyn Unpark>) {
        let _ = unpark;
    }
}

/// The operating system's monotonic clock. Its origin is the first time any `SystemClock` was
/// read in this process.
///
/// # Examples
///
/// ```
/// use creche_timer::{Clock, SystemClock};
/// let a = SystemClock.now();
/// let b = SystemClock.now();
/// assert!(b >= a);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

fn process_origin() -> std::time::Instant {
    static ORIGIN: OnceLock<std::time::Instant> = OnceLock::new();
    *ORIGIN.get_or_init(std::time::Instant::now)
}

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        let origin = process_origin();
        Instant::ZERO + origin.elapsed()
    }

    fn real_time_until(&self, deadline: Instant) -> Option<Duration> {
        Some(deadline.saturating_duration_since(self.now()))
    }
}

/// A clock setting was refused; returned by [`MockClock`]'s setters.
///
/// # Examples
///
/// ```
/// use creche_timer::{ClockError, Instant, MockClock};
/// use std::time::Duration;
///
/// let clock = MockClock::new();
/// clock.jump(Duration::from_secs(10)).unwrap();
/// let err = clock.jump_to(Instant::ZERO).unwrap_err();
/// assert!(matches!(err, ClockError::Backwards { .. }));
/// assert_eq!(clock.set_rate(-1.0), Err(ClockError::InvalidRate(-1.0)));
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ClockError {
    /// A jump to an instant earlier than the current time (virtual time never goes back).
    Backwards {
        /// The clock's time when the jump was asked for.
        now: Instant,
        /// The instant asked for.
        target: Instant,
    },
    /// A jump past [`Instant::MAX`].
    Overflow,
    /// A jump by a negative (or not-a-number) count of seconds
    /// ([`MockClock::jump_secs`]).
    InvalidJump(f64),
    /// A rate that is negative, infinite or not a number.
    InvalidRate(f64),
}

impl fmt::Display for ClockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClockError::Backwards { now, target } => write!(
                f,
                "a MockClock cannot jump backwards (from {now:?} to {target:?})"
            ),
            ClockError::Overflow => f.write_str("a MockClock jump would pass Instant::MAX"),
            ClockError::InvalidJump(seconds) => write!(
                f,
                "a MockClock jump must be a non-negative number of seconds, got {seconds}"
            ),
            ClockError::InvalidRate(rate) => write!(
                f,
                "a MockClock rate must be finite and not negative, got {rate}"
            ),
        }
    }
}

impl std::error::Error for ClockError {}

/// A virtual clock for tests: time moves only when told to.
///
/// - [`jump`](MockClock::jump) / [`jump_to`](MockClock::jump_to) move it forward at once.
/// - [`set_rate`](MockClock::set_rate) makes it run at `rate` virtual seconds per real
///   second (0, the default, stands still).
/// - [`set_autojump_threshold`](MockClock::set_autojump_threshold): once every worker is idle,
///   no task is runnable, no blocking job runs and nothing happened for `threshold` of real
///   time, the runtime's timer driver jumps the clock to the next deadline. With a threshold of
///   zero a test that sleeps an hour finishes at once.
///
/// Cloning gives another handle to the same clock, so a test can keep one and hand one to the
/// runtime. A fresh clock reads [`Instant::ZERO`].
///
/// # Examples
///
/// ```
/// use creche_timer::{Clock, Instant, MockClock};
/// use std::time::Duration;
///
/// let clock = MockClock::new();
/// clock.jump(Duration::from_secs(3600)).unwrap();
/// assert_eq!(clock.now(), Instant::ZERO + Duration::from_secs(3600));
/// clock.set_autojump_threshold(Some(Duration::ZERO));
/// assert_eq!(clock.autojump_threshold(), Some(Duration::ZERO));
/// ```
#[derive(Clone, Default)]
pub struct MockClock {
    inner: Arc<MockInner>,
}

#[derive(Default)]
struct MockInner {
    /// The virtual time when the rate is zero (read without the lock); with a rate, the
    /// virtual time at `Settings::real_base`.
    base: AtomicU64,
    /// Whether the rate is not zero (then `now` takes the lock).
    running: std::sync::atomic::AtomicBool,
    settings: Mutex<Settings>,
    subscribers: Mutex<Vec<Weak<dyn Unpark>>>,
}

#[derive(Default)]
struct Settings {
    rate: f64,
    /// The real time at which the virtual time was `base` (only while the rate is not zero).
    real_base: Option<std::time::Instant>,
    autojump: Option<Duration>,
}

impl fmt::Debug for MockClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let settings = self.inner.settings.lock();
        f.debug_struct("MockClock")
            .field("now", &self.now_locked(&settings))
            .field("rate", &settings.rate)
            .field("autojump_threshold", &settings.autojump)
            .finish()
    }
}

impl MockClock {
    /// A clock at [`Instant::ZERO`] that stands still (rate 0, no autojump).
    ///
    /// # Examples
    ///
    /// ```
    /// use creche_timer::{Clock, Instant, MockClock};
    /// assert_eq!(MockClock::new().now(), Instant::ZERO);
    /// ```
    pub fn new() -> MockClock {
        MockClock::default()
    }

    /// A clock at [`Instant::ZERO`] that autojumps as soon as the runtime is idle (threshold
    /// zero): what `#[creche::test(autojump)]` uses.
    ///
    /// # Examples
    ///
    /// ```
    /// use creche_timer::{Clock, MockClock};
    /// use std::time::Duration;
    /// assert_eq!(MockClock::autojump().autojump_threshold(), Some(Duration::ZERO));
    /// ```
    pub fn autojump() -> MockClock {
        let clock = MockClock::new();
        clock.set_autojump_threshold(Some(Duration::ZERO));
        clock
    }

    /// Virtual seconds per real second.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(creche_timer::MockClock::new().rate(), 0.0);
    /// ```
    pub fn rate(&self) -> f64 {
        self.inner.settings.lock().rate
    }

    /// Makes the clock run at `rate` virtual seconds per real second from now on.
    ///
    /// # Errors
    ///
    /// [`ClockError::InvalidRate`] for a negative, infinite or NaN rate.
    ///
    /// # Examples
    ///
    /// ```
    /// use creche_timer::{ClockError, MockClock};
    /// let clock = MockClock::new();
    /// clock.set_rate(2.0).unwrap();
    /// assert_eq!(clock.rate(), 2.0);
    /// assert_eq!(clock.set_rate(f64::NAN).unwrap_err().to_string(),
    ///            "a MockClock rate must be finite and not negative, got NaN");
    /// ```
    pub fn set_rate(&self, rate: f64) -> Result<(), ClockError> {
        if !rate.is_finite() || rate < 0.0 {
            return Err(ClockError::InvalidRate(rate));
        }
        {
            let mut settings = self.inner.settings.lock();
            let now = self.now_locked(&settings);
            self.inner.base.store(now.as_nanos(), Ordering::SeqCst);
            settings.rate = rate;
            settings.real_base = (rate > 0.0).then(std::time::Instant::now);
            self.inner.running.store(rate > 0.0, Ordering::SeqCst);
        }
        self.notify_subscribers();
        Ok(())
    }

    /// The autojump threshold, `None` when autojump is off.
    ///
    /// # Examples
    ///
    /// ```
    /// use creche_timer::{Clock, MockClock};
    /// assert_eq!(MockClock::new().autojump_threshold(), None);
    /// ```
    pub fn autojump_threshold(&self) -> Option<Duration> {
        self.inner.settings.lock().autojump
    }

    /// Turns autojump on with `threshold` of real idleness before each jump (`Some`), or off
    /// (`None`). Takes effect at the driver's next park.
    ///
    /// # Examples
    ///
    /// ```
    /// use creche_timer::MockClock;
    /// use std::time::Duration;
    /// let clock = MockClock::new();
    /// clock.set_autojump_threshold(Some(Duration::from_millis(5)));
    /// assert_eq!(clock.autojump_threshold(), Some(Duration::from_millis(5)));
    /// clock.set_autojump_threshold(None);
    /// assert_eq!(clock.autojump_threshold(), None);
    /// ```
    pub fn set_autojump_threshold(&self, threshold: Option<Duration>) {
        self.inner.settings.lock().autojump = threshold;
        self.notify_subscribers();
    }

    /// Moves the clock forward by `duration`; timers that become due fire.
    ///
    /// # Errors
    ///
    /// [`ClockError::Overflow`] if the clock would pass [`Instant::MAX`] (it is not moved).
    ///
    /// # Examples
    ///
    /// ```
    /// use creche_timer::{Clock, ClockError, Instant, MockClock};
    /// use std::time::Duration;
    /// let clock = MockClock::new();
    /// clock.jump(Duration::from_millis(1500)).unwrap();
    /// assert_eq!(clock.now() - Instant::ZERO, Duration::from_millis(1500));
    /// assert_eq!(clock.jump(Duration::MAX), Err(ClockError::Overflow));
    /// ```
    pub fn jump(&self, duration: Duration) -> Result<(), ClockError> {
        self.move_clock(|now| now.checked_add(duration).ok_or(ClockError::Overflow))
    }

    /// Moves the clock forward by `seconds` (Trio's `jump`, which takes a float).
    ///
    /// # Errors
    ///
    /// [`ClockError::InvalidJump`] for a negative or NaN count (virtual time never goes back),
    /// [`ClockError::Overflow`] past [`Instant::MAX`]; the clock is not moved.
    ///
    /// # Examples
    ///
    /// ```
    /// use creche_timer::{Clock, ClockError, Instant, MockClock};
    /// use std::time::Duration;
    /// let clock = MockClock::new();
    /// clock.jump_secs(0.25).unwrap();
    /// assert_eq!(clock.now(), Instant::ZERO + Duration::from_millis(250));
    /// assert_eq!(clock.jump_secs(-1.0), Err(ClockError::InvalidJump(-1.0)));
    /// assert_eq!(clock.jump_secs(f64::INFINITY), Err(ClockError::Overflow));
    /// assert_eq!(clock.now(), Instant::ZERO + Duration::from_millis(250));
    /// ```
    pub fn jump_secs(&self, seconds: f64) -> Result<(), ClockError> {
        if seconds.is_nan() || seconds < 0.0 {
            return Err(ClockError::InvalidJump(seconds));
        }
        let duration = Duration::try_from_secs_f64(seconds).map_err(|_| ClockError::Overflow)?;
        self.jump(duration)
    }

    /// Moves the clock forward to `target`.
    ///
    /// # Errors
    ///
    /// [`ClockError::Backwards`] if `target` is earlier than the current time.
    ///
    /// # Examples
    ///
    /// ```
    /// use creche_timer::{Clock, Instant, MockClock};
    /// use std::time::Duration;
    /// let clock = MockClock::new();
    /// let target = Instant::ZERO + Duration::from_secs(60);
    /// clock.jump_to(target).unwrap();
    /// assert_eq!(clock.now(), target);
    /// assert!(clock.jump_to(Instant::ZERO).is_err());
    /// ```
    pub fn jump_to(&self, target: Instant) -> Result<(), ClockError> {
        self.move_clock(|now| {
            if target < now {
                Err(ClockError::Backwards { now, target })
            } else {
                Ok(target)
            }
        })
    }

    fn move_clock(
        &self,
        target: impl FnOnce(Instant) -> Result<Instant, ClockError>,
    ) -> Result<(), ClockError> {
        {
            let mut settings = self.inner.settings.lock();
            let now = self.now_locked(&settings);
            let target = target(now)?;
            self.inner.base.store(target.as_nanos(), Ordering::SeqCst);
            if settings.real_base.is_some() {
                settings.real_base = Some(std::time::Instant::now());
            }
        }
        self.notify_subscribers();
        Ok(())
    }

    fn now_locked(&self, settings: &Settings) -> Instant {
        let base = Instant::from_nanos(self.inner.base.load(Ordering::SeqCst));
        match settings.real_base {
            None => base,
            // Saturating: a huge rate pins the clock at `Instant::MAX` instead of panicking.
            Some(real_base) => {
                let virtual_secs = real_base.elapsed().as_secs_f64() * settings.rate;
                base + Duration::try_from_secs_f64(virtual_secs).unwrap_or(Duration::MAX)
            }
        }
    }

    fn notify_subscribers(&self) {
        let subscribers: Vec<_> = {
            let mut subscribers = self.inner.subscribers.lock();
            subscribers.retain(|weak| weak.strong_count() > 0);
            subscribers.iter().filter_map(Weak::upgrade).collect()
        };
        for unpark in subscribers {
            unpark.unpark();
        }
    }
}

impl Clock for MockClock {
    fn now(&self) -> Instant {
        // Rate 0 (the common case in tests): one atomic load. A moving clock takes the lock.
        if !self.inner.running.load(Ordering::SeqCst) {
            return Instant::from_nanos(self.inner.base.load(Ordering::SeqCst));
        }
        let settings = self.inner.settings.lock();
        self.now_locked(&settings)
    }

    fn real_time_until(&self, deadline: Instant) -> Option<Duration> {
        let settings = self.inner.settings.lock();
        let now = self.now_locked(&settings);
        if deadline <= now {
            return Some(Duration::ZERO);
        }
        // `None` when the wait does not fit a `Duration` (a vanishing rate): never, in effect.
        settings.real_base.and_then(|_| {
            Duration::try_from_secs_f64((deadline - now).as_secs_f64() / settings.rate).ok()
        })
    }

    fn autojump_threshold(&self) -> Option<Duration> {
        MockClock::autojump_threshold(self)
    }

    fn autojump_to(&self, deadline: Instant) {
        if self.autojump_threshold().is_some() {
            // A deadline that is not in the future leaves the clock where it is.
            let _ = self.jump_to(deadline);
        }
    }

    fn subscribe(&self, unpark: Weak<dyn Unpark>) {
        self.inner.subscribers.lock().push(unpark);
    }

    fn is_virtual(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_leave_the_clock_unchanged() {
        let clock = MockClock::new();
        clock.jump(Duration::from_secs(5)).unwrap();
        let before = clock.now();
        assert_eq!(clock.jump(Duration::MAX), Err(ClockError::Overflow));
        assert!(clock.jump_to(Instant::ZERO).is_err());
        assert!(clock.set_rate(f64::INFINITY).is_err());
        assert!(matches!(
            clock.jump_secs(f64::NAN),
            Err(ClockError::InvalidJump(_))
        ));
        assert_eq!(clock.jump_secs(-0.5), Err(ClockError::InvalidJump(-0.5)));
        assert_eq!(clock.jump_secs(1e30), Err(ClockError::Overflow));
        assert_eq!(clock.now(), before);
        assert_eq!(clock.rate(), 0.0);
        for err in [
            ClockError::Overflow,
            ClockError::InvalidJump(-1.0),
            ClockError::Backwards {
                now: before,
                target: Instant::ZERO,
            },
        ] {
            assert!(!err.to_string().is_empty());
        }
        assert!(format!("{clock:?}").contains("MockClock"));
    }

    #[test]
    fn a_running_clock_never_goes_back_and_a_still_one_never_moves() {
        let clock = MockClock::new();
        let far = Instant::ZERO + Duration::from_secs(1);
        assert_eq!(clock.real_time_until(far), None);
        assert_eq!(clock.real_time_until(Instant::ZERO), Some(Duration::ZERO));
        clock.set_rate(1000.0).unwrap();
        let a = clock.now();
        let b = clock.now();
        assert!(b >= a);
        // At 1000x, one virtual second is at most a real millisecond away.
        assert!(
            clock.real_time_until(a + Duration::from_secs(1)).unwrap() <= Duration::from_millis(1)
        );
        clock.set_rate(0.0).unwrap();
        let c = clock.now();
        assert!(c >= b);
        assert_eq!(clock.now(), c);
    }

    #[test]
    fn subscribers_hear_of_jumps_until_they_are_gone() {
        use std::sync::atomic::AtomicUsize;
        struct Count(AtomicUsize);
        impl Unpark for Count {
            fn unpark(&self) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let clock = MockClock::new();
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let weak: Weak<dyn Unpark> = Arc::downgrade(&(count.clone() as Arc<dyn Unpark>));
        clock.subscribe(weak);
        clock.jump(Duration::from_secs(1)).unwrap();
        Clock::autojump_to(&clock, Instant::MAX); // autojump off: ignored
        clock.set_autojump_threshold(Some(Duration::ZERO));
        Clock::autojump_to(&clock, Instant::ZERO + Duration::from_secs(2));
        assert_eq!(clock.now(), Instant::ZERO + Duration::from_secs(2));
        assert_eq!(count.0.load(Ordering::SeqCst), 3);
        drop(count);
        clock.jump(Duration::from_secs(1)).unwrap();
        assert!(clock.inner.subscribers.lock().is_empty());
    }

    /// Regression (review): formatting a running clock took its lock twice.
    #[test]
    fn a_running_clock_can_be_formatted() {
        let clock = MockClock::new();
        clock.set_rate(1.0).unwrap();
        assert!(format!("{clock:?}").contains("rate: 1.0"));
    }

    /// Regression (review): extreme rates overflowed `Duration` arithmetic and panicked.
    #[test]
    fn extreme_rates_saturate_instead_of_panicking() {
        let clock = MockClock::new();
        clock.set_rate(1e-300).unwrap();
        assert_eq!(clock.real_time_until(Instant::MAX), None);
        clock.set_rate(1e300).unwrap();
        std::thread::yield_now();
        let now = clock.now();
        assert!(now >= Instant::ZERO);
        assert_eq!(clock.real_time_until(now), Some(Duration::ZERO));
    }

    #[test]
    fn a_jump_on_a_running_clock_adds_to_where_it_is() {
        let clock = MockClock::new();
        clock.set_rate(1.0).unwrap();
        let before = clock.now();
        clock.jump(Duration::from_secs(3600)).unwrap();
        let after = clock.now();
        // At least the jump (real time may have run meanwhile), and it keeps running from
        // there: never back below the jumped-to time.
        assert!(after >= before + Duration::from_secs(3600));
        assert!(clock.now() >= after);
        assert_eq!(clock.rate(), 1.0);
        assert!(matches!(
            clock.jump_secs(f64::NAN),
            Err(ClockError::InvalidJump(s)) if s.is_nan()
        ));
    }
}
