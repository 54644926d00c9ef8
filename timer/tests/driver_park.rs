//! `TimerDriver` driven by hand as a `Park`, outside any runtime: due timers fire at the next
//! park, a runtime unpark releases a park with no deadline, a cancelled entry is not woken,
//! timed parks return; the `Clock` trait's defaults on a clock of the test's own.

use creche_runtime::park::{Park, ThreadPark};
use creche_timer::{Clock, Instant, MockClock, SystemClock, TimerDriver, TimerEntry};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::task::{Wake, Waker};
use std::time::Duration;

/// A waker that counts its wakes.
#[derive(Default)]
struct CountingWaker(AtomicUsize);

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, SeqCst);
    }
}

fn counting_waker() -> (Arc<CountingWaker>, Waker) {
    let count = Arc::new(CountingWaker::default());
    (count.clone(), Waker::from(count))
}

fn at(millis: u64) -> Instant {
    Instant::ZERO + Duration::from_millis(millis)
}

#[test]
fn manual_mock_clock_fires_due_timers_at_the_next_park() {
    let clock = MockClock::new();
    let mut driver = TimerDriver::new(ThreadPark::new(), clock.clone());
    let handle = driver.handle();
    let debug = format!("{driver:?}");
    assert!(
        debug.starts_with("TimerDriver") && debug.contains("MockClock"),
        "{debug}"
    );
    let debug = format!("{handle:?}");
    assert!(
        debug.starts_with("TimerHandle") && debug.contains("MockClock"),
        "{debug}"
    );
    assert!(format!("{:?}", handle.clock()).contains("MockClock"));
    assert_eq!(handle.now(), Instant::ZERO);

    let (fired, waker) = counting_waker();
    let mut entry = TimerEntry::new(&handle, at(5_000));
    assert_eq!(entry.deadline(), at(5_000));
    assert!(format!("{entry:?}").contains("registered: false"));
    assert!(entry.register(&waker));
    assert!(format!("{entry:?}").contains("registered: true"));
    let (cancelled_count, cancelled_waker) = counting_waker();
    let mut cancelled = TimerEntry::new(&handle, at(5_000));
    assert!(cancelled.register(&cancelled_waker));
    cancelled.cancel();

    // Not due yet: a non-blocking park fires nothing.
    driver.park(Some(Duration::ZERO));
    assert_eq!(fired.0.load(SeqCst), 0);
    assert!(!entry.is_elapsed());

    clock.jump(Duration::from_secs(5)).unwrap();
    driver.park(Some(Duration::ZERO));
    assert_eq!(fired.0.load(SeqCst), 1, "fired at the park after the jump");
    assert!(entry.is_elapsed());
    assert_eq!(
        cancelled_count.0.load(SeqCst),
        0,
        "a cancelled entry is not woken"
    );

    // A later timer and a clock that stands still: `park(None)` would block for good, but the
    // runtime's unpark (a token, given before) makes it return, firing nothing.
    let (later_count, later_waker) = counting_waker();
    let mut later = TimerEntry::new(&handle, at(60_000));
    assert!(later.register(&later_waker));
    driver.unparker().unpark();
    driver.park(None);
    assert_eq!(later_count.0.load(SeqCst), 0);
    // A bounded park on a standing clock returns after its timeout, still firing nothing.
    driver.park(Some(Duration::from_millis(1)));
    assert_eq!(later_count.0.load(SeqCst), 0);
    // Past the deadline, registering again reports it elapsed.
    clock.jump(Duration::from_secs(60)).unwrap();
    driver.park(Some(Duration::ZERO));
    assert_eq!(later_count.0.load(SeqCst), 1);
    assert!(!later.register(&later_waker) || later.is_elapsed());

    // `poll_elapsed` registers the task's waker until the deadline; an entry at
    // `Instant::MAX` is never due.
    let (polled_count, polled_waker) = counting_waker();
    let mut cx = std::task::Context::from_waker(&polled_waker);
    let mut polled = TimerEntry::new(&handle, handle.now() + Duration::from_secs(1));
    assert!(polled.poll_elapsed(&mut cx).is_pending());
    let mut never = TimerEntry::new(&handle, Instant::MAX);
    assert!(never.poll_elapsed(&mut cx).is_pending());
    clock.jump(Duration::from_secs(1)).unwrap();
    driver.park(Some(Duration::ZERO));
    assert_eq!(polled_count.0.load(SeqCst), 1, "only the due entry fired");
    assert!(polled.poll_elapsed(&mut cx).is_ready());
    assert!(!never.is_elapsed());
    driver.shutdown();
}

#[test]
fn system_clock_park_waits_for_the_next_timer() {
    let mut driver = TimerDriver::new(ThreadPark::new(), SystemClock);
    let handle = driver.handle();
    let (fired, waker) = counting_waker();
    let mut entry = TimerEntry::new(&handle, handle.now() + Duration::from_millis(2));
    assert!(entry.register(&waker));
    // A real clock fires at whole ticks: each park returns by itself (at most at the tick that
    // makes the timer due), so the timer fires within some rounds. Within the deadline's own
    // tick a park may return without blocking, so the bound is generous; it only keeps a
    // broken driver from looping forever and does not measure time.
    for _ in 0..10_000_000 {
        if fired.0.load(SeqCst) == 1 {
            break;
        }
        driver.park(None);
    }
    assert_eq!(fired.0.load(SeqCst), 1);
    assert!(entry.is_elapsed());
    // A timed park with nothing queued returns by itself.
    driver.park(Some(Duration::from_millis(1)));
}

/// A real (not virtual) clock the test sets by hand; it uses every default of `Clock`.
#[derive(Debug, Default)]
struct SetClock(AtomicU64);

impl Clock for SetClock {
    fn now(&self) -> Instant {
        Instant::ZERO + Duration::from_nanos(self.0.load(SeqCst))
    }

    fn real_time_until(&self, deadline: Instant) -> Option<Duration> {
        Some(deadline.saturating_duration_since(self.now()))
    }
}

#[test]
fn clock_trait_defaults_and_a_custom_clock_under_the_driver() {
    let clock = Arc::new(SetClock::default());
    assert_eq!(clock.autojump_threshold(), None);
    assert!(!clock.is_virtual());
    clock.autojump_to(at(1_000)); // ignored by default
    assert_eq!(clock.now(), Instant::ZERO);
    let unpark: Arc<dyn creche_runtime::park::Unpark> = ThreadPark::new().unparker();
    clock.subscribe(Arc::downgrade(&unpark)); // ignored by default

    let mut driver = TimerDriver::with_shared_clock(ThreadPark::new(), clock.clone());
    let handle = driver.handle();
    let (fired, waker) = counting_waker();
    let mut entry = TimerEntry::new(&handle, at(5));
    assert!(entry.register(&waker));
    driver.park(Some(Duration::ZERO));
    assert_eq!(fired.0.load(SeqCst), 0);
    // A real clock works at whole milliseconds: past the deadline's tick, the timer fires.
    clock
        .0
        .store(Duration::from_millis(7).as_nanos() as u64, SeqCst);
    driver.park(Some(Duration::ZERO));
    assert_eq!(fired.0.load(SeqCst), 1);
}
