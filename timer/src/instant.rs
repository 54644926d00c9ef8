//! [`Instant`]: a point in time on the runtime's clock.
//!
//! An `Instant` counts nanoseconds from its clock's origin: process start for the
//! [`SystemClock`](crate::SystemClock), zero for a fresh [`MockClock`](crate::MockClock). The
//! range is about 584 years; arithmetic saturates at both ends instead of overflowing. Instants
//! from two different clocks are not comparable in any meaningful way (a runtime has one clock).

use std::fmt;
use std::ops::{Add, AddAssign, Sub, SubAssign};
use std::time::Duration;

/// A point in time on the runtime's clock ([`current_time`](crate::current_time) reads it).
///
/// Adding or subtracting a [`Duration`] saturates at [`Instant::ZERO`] and [`Instant::MAX`];
/// subtracting two instants gives the [`Duration`] between them, or zero if the right one is
/// later.
///
/// # Examples
///
/// ```
/// use creche_timer::Instant;
/// use std::time::Duration;
///
/// let start = Instant::ZERO + Duration::from_secs(5);
/// let later = start + Duration::from_millis(250);
/// assert!(later > start);
/// assert_eq!(later - start, Duration::from_millis(250));
/// assert_eq!(start - later, Duration::ZERO); // saturates
/// assert_eq!(Instant::MAX + Duration::from_secs(1), Instant::MAX);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant {
    nanos: u64,
}

impl Instant {
    /// The clock's origin.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(creche_timer::Instant::ZERO.as_nanos(), 0);
    /// ```
    pub const ZERO: Instant = Instant { nanos: 0 };

    /// The latest representable instant (about 584 years after the origin); a deadline at
    /// `MAX` never fires.
    ///
    /// # Examples
    ///
    /// ```
    /// use creche_timer::Instant;
    /// assert!(Instant::MAX > Instant::ZERO + std::time::Duration::from_secs(1 << 33));
    /// ```
    pub const MAX: Instant = Instant { nanos: u64::MAX };

    /// The instant `nanos` nanoseconds after the origin.
    ///
    /// # Examples
    ///
    /// ```
    /// use creche_timer::Instant;
    /// assert_eq!(Instant::from_nanos(1_500).as_nanos(), 1_500);
    /// ```
    pub const fn from_nanos(nanos: u64) -> Instant {
        Instant { nanos }
    }

    /// Nanoseconds since the origin.
    ///
    /// # Examples
    ///
    /// ```
    /// use creche_timer::Instant;
    /// let t = Instant::ZERO + std::time::Duration::from_micros(3);
    /// assert_eq!(t.as_nanos(), 3_000);
    /// ```
    pub const fn as_nanos(self) -> u64 {
        self.nanos
    }

    /// The time since the origin, as a [`Duration`].
    ///
    /// # Examples
    ///
    /// ```
    /// use creche_timer::Instant;
    /// use std::time::Duration;
    /// let t = Instant::ZERO + Duration::from_secs(2);
    /// assert_eq!(t.since_origin(), Duration::from_secs(2));
    /// ```
    pub const fn since_origin(self) -> Duration {
        Duration::from_nanos(self.nanos)
    }

    /// `self + duration`, or `None` past [`Instant::MAX`].
    ///
    /// # Examples
    ///
    /// ```
    /// use creche_timer::Instant;
    /// use std::time::Duration;
    /// assert_eq!(Instant::MAX.checked_add(Duration::from_nanos(1)), None);
    /// assert!(Instant::ZERO.checked_add(Duration::from_secs(1)).is_some());
    /// ```
    pub fn checked_add(self, duration: Duration) -> Option<Instant> {
        let nanos = u64::try_from(duration.as_nanos()).ok()?;
        self.nanos.checked_add(nanos).map(Instant::from_nanos)
    }

    /// `self - duration`, or `None` before [`Instant::ZERO`].
    ///
    /// # Examples
    ///
    /// ```
    /// use creche_timer::Instant;
    /// use std::time::Duration;
    /// assert_eq!(Instant::ZERO.checked_sub(Duration::from_nanos(1)), None);
    /// ```
    pub fn checked_sub(self, duration: Duration) -> Option<Instant> {
        let nanos = u64::try_from(duration.as_nanos()).ok()?;
        self.nanos.checked_sub(nanos).map(Instant::from_nanos)
    }

    /// The time from `earlier` to `self`, or zero if `earlier` is later.
    ///
    /// # Examples
    ///
    /// ```
    /// use creche_timer::Instant;
    /// use std::time::Duration;
    /// let a = Instant::ZERO + Duration::from_secs(1);
    /// let b = a + Duration::from_secs(1);
    /// assert_eq!(b.saturating_duration_since(a), Duration::from_secs(1));
    /// assert_eq!(a.saturating_duration_since(b), Duration::ZERO);
    /// ```
    pub fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration::from_nanos(self.nanos.saturating_sub(earlier.nanos))
    }
}

fn saturating_nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, rhs: Duration) -> Instant {
        Instant::from_nanos(self.nanos.saturating_add(saturating_nanos(rhs)))
    }
}

impl AddAssign<Duration> for Instant {
    fn add_assign(&mut self, rhs: Duration) {
        *self = *self + rhs;
    }
}

impl Sub<Duration> for Instant {
    type Output = Instant;
    fn sub(self, rhs: Duration) -> Instant {
        Instant::from_nanos(self.nanos.saturating_sub(saturating_nanos(rhs)))
    }
}

impl SubAssign<Duration> for Instant {
    fn sub_assign(&mut self, rhs: Duration) {
        *self = *self - rhs;
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    fn sub(self, rhs: Instant) -> Duration {
        self.saturating_duration_since(rhs)
    }
}

impl fmt::Debug for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Instant({:?})", self.since_origin())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates_and_orders() {
        let t = Instant::from_nanos(10);
        assert_eq!(t - Duration::from_nanos(20), Instant::ZERO);
        assert_eq!(Instant::MAX + Duration::MAX, Instant::MAX);
        let mut u = t;
        u += Duration::from_nanos(5);
        assert_eq!(u.as_nanos(), 15);
        u -= Duration::from_nanos(15);
        assert_eq!(u, Instant::ZERO);
        assert!(Instant::ZERO < t && t < Instant::MAX);
        assert_eq!(t.checked_add(Duration::MAX), None);
        assert_eq!(t.checked_sub(Duration::from_nanos(10)), Some(Instant::ZERO));
        assert_eq!(format!("{t:?}"), "Instant(10ns)");
    }
}
