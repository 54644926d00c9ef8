//! Sleeps, timeouts, intervals and timer entries on the `MockClock` (no test reads the wall
//! clock): exact virtual times, deadlines moved both ways, the coop budget, clear errors.

mod common;

use common::{runtime_on, secs, watchdog};
use creche::time::{
    Elapsed, Instant, MockClock, TimerEntry, TimerHandle, current_time, interval_at, sleep,
    sleep_forever, sleep_until, timeout, timeout_at,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::task::{Wake, Waker};
use std::time::Duration;

#[test]
fn a_one_hour_sleep_advances_virtual_time_by_exactly_one_hour() {
    let _watchdog = watchdog("one hour");
    let rt = runtime_on(2, MockClock::autojump());
    rt.block_on(async {
        let start = current_time();
        sleep(secs(3600)).await;
        assert_eq!(current_time() - start, secs(3600));
        // And again from a spawned task, on a worker.
        let task = creche::spawn(async {
            let start = current_time();
            sleep(secs(3600)).await;
            current_time() - start
        });
        assert_eq!(task.await.unwrap(), secs(3600));
    });
}

#[test]
fn without_autojump_time_moves_only_when_jumped() {
    let _watchdog = watchdog("manual jumps");
    let clock = MockClock::new();
    let rt = creche::Builder::new().clock(clock.clone()).build().unwrap();
    let sleeper = rt.spawn(async {
        sleep_until(Instant::ZERO + secs(10)).await;
        current_time()
    });
    clock.jump(secs(4)).unwrap(); // not due yet
    clock.jump(secs(20)).unwrap(); // wakes the driver, which fires the timer
    assert_eq!(rt.block_on(sleeper).unwrap(), Instant::ZERO + secs(24));
    // A timer registered while nothing moves the clock waits for the next jump.
    let sleeper = rt.spawn(async { sleep(secs(1)).await });
    let jumper = std::thread::spawn(move || {
        while !sleeper.is_finished() {
            clock.jump(secs(1)).unwrap();
            std::thread::yield_now();
        }
    });
    jumper.join().unwrap();
}

/// Records the clock's time when woken.
struct Record {
    clock: MockClock,
    at: AtomicU64,
}

impl Wake for Record {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        use creche::time::Clock;
        self.at.store(self.clock.now().as_nanos(), SeqCst);
    }
}

#[test]
fn reset_moves_a_registered_deadline_earlier_and_later() {
    let _watchdog = watchdog("reset");
    let clock = MockClock::autojump();
    let rt = runtime_on(2, clock.clone());
    rt.block_on(async {
        let handle = TimerHandle::current();
        let record = |clock: &MockClock| {
            Arc::new(Record {
                clock: clock.clone(),
                at: AtomicU64::new(0),
            })
        };
        // Earlier: 100 s moved to 30 s.
        let early = record(&clock);
        let mut entry = TimerEntry::new(&handle, Instant::ZERO + secs(100));
        assert!(entry.register(&Waker::from(early.clone())));
        entry.reset(Instant::ZERO + secs(30));
        // Later: 10 s moved to 60 s, from another thread.
        let late = record(&clock);
        let mut other = TimerEntry::new(&handle, Instant::ZERO + secs(10));
        assert!(other.register(&Waker::from(late.clone())));
        let other = std::thread::spawn(move || {
            other.reset(Instant::ZERO + secs(60));
            other
        })
        .join()
        .unwrap();
        sleep_until(Instant::ZERO + secs(40)).await;
        assert_eq!(early.at.load(SeqCst), secs(30).as_nanos() as u64);
        assert_eq!(
            late.at.load(SeqCst),
            0,
            "moved later, it must not fire at 10 s"
        );
        sleep_until(Instant::ZERO + secs(70)).await;
        assert_eq!(late.at.load(SeqCst), secs(60).as_nanos() as u64);
        assert!(entry.is_elapsed() && other.is_elapsed());

        // A sleep moved both ways while it is being awaited by another task.
        let start = current_time();
        let mut nap = sleep(secs(50));
        nap.reset(start + secs(5));
        nap.reset(start + secs(500));
        nap.reset(start + secs(20));
        nap.await;
        assert_eq!(current_time() - start, secs(20));

        // A reset into the past wakes at once; a cancelled entry never fires.
        let past = record(&clock);
        let mut entry = TimerEntry::new(&handle, current_time() + secs(5));
        assert!(entry.register(&Waker::from(past.clone())));
        entry.reset(current_time());
        assert_eq!(past.at.load(SeqCst), current_time().as_nanos());
        let cancelled = record(&clock);
        let mut entry = TimerEntry::new(&handle, current_time() + secs(5));
        assert!(entry.register(&Waker::from(cancelled.clone())));
        entry.cancel();
        sleep(secs(10)).await;
        assert_eq!(cancelled.at.load(SeqCst), 0);
        assert!(
            !entry.register(&Waker::from(cancelled.clone())),
            "already elapsed"
        );
    });
}

#[test]
fn deadlines_in_the_past_and_zero_durations_complete_at_once() {
    let rt = runtime_on(1, MockClock::autojump());
    rt.block_on(async {
        sleep(secs(5)).await;
        let now = current_time();
        sleep_until(Instant::ZERO).await;
        sleep(Duration::ZERO).await;
        assert_eq!(current_time(), now);
        // A ready future beats a deadline that has passed.
        assert_eq!(timeout_at(Instant::ZERO, async { 1 }).await, Ok(1));
    });
}

#[test]
fn a_timeout_fires_exactly_at_its_deadline_and_drops_the_future() {
    let _watchdog = watchdog("timeout");
    let rt = runtime_on(2, MockClock::autojump());
    rt.block_on(async {
        let dropped = Arc::new(AtomicBool::new(false));
        struct SetOnDrop(Arc<AtomicBool>);
        impl Drop for SetOnDrop {
            fn drop(&mut self) {
                self.0.store(true, SeqCst);
            }
        }
        let guard = SetOnDrop(dropped.clone());
        let start = current_time();
        let result = timeout(secs(7), async move {
            let _guard = guard;
            sleep_forever().await;
        })
        .await;
        assert_eq!(result, Err(Elapsed));
        assert_eq!(current_time() - start, secs(7));
        assert!(dropped.load(SeqCst));
        let inner = timeout(secs(7), sleep(secs(3))).await;
        assert_eq!(inner, Ok(()));
        assert_eq!(current_time() - start, secs(10));
    });
}

#[test]
fn an_interval_skips_missed_ticks_and_keeps_its_phase() {
    let rt = runtime_on(1, MockClock::autojump());
    rt.block_on(async {
        let start = current_time() + secs(1);
        let mut ticks = interval_at(start, secs(3));
        assert_eq!(ticks.tick().await, start);
        assert_eq!(ticks.tick().await, start + secs(3));
        sleep(secs(10)).await; // now start + 13: ticks at 6, 9 and 12 are missed
        let late = current_time();
        assert_eq!(
            ticks.tick().await,
            start + secs(6),
            "the first missed tick, at once"
        );
        assert_eq!(current_time(), late);
        assert_eq!(ticks.tick().await, start + secs(15), "9 and 12 skipped");
        assert_eq!(current_time(), start + secs(15));
        assert_eq!(ticks.period(), secs(3));
    });
}

/// On a single worker, a task that loops on ready timers must still let another task run:
/// each sleep and timeout spends coop budget. Without it the loop below never ends.
#[test]
fn ready_sleeps_and_timeouts_spend_the_coop_budget() {
    let _watchdog = watchdog("coop");
    let rt = runtime_on(1, MockClock::autojump());
    rt.block_on(async {
        let flag = Arc::new(AtomicBool::new(false));
        let started = Arc::new(AtomicBool::new(false));
        let (f, s) = (flag.clone(), started.clone());
        let spinner = creche::spawn(async move {
            s.store(true, SeqCst);
            let mut rounds = 0_u64;
            while !f.load(SeqCst) {
                sleep(Duration::ZERO).await;
                let _ = timeout(secs(1), async {}).await;
                rounds += 1;
            }
            rounds
        });
        while !started.load(SeqCst) {
            creche::yield_now().await;
        }
        // The spinner occupies the only worker; this task runs only if it yields.
        let setter = creche::spawn(async move { flag.store(true, SeqCst) });
        setter.await.unwrap();
        assert!(spinner.await.unwrap() > 0);
    });
}

#[test]
#[should_panic(expected = "no creche timer")]
fn sleeping_outside_a_runtime_says_how_to_get_into_one() {
    drop(sleep(secs(1)));
}

#[test]
fn a_runtime_without_timers_is_reported_clearly() {
    let rt = creche::runtime::Runtime::builder().build().unwrap();
    assert!(rt.block_on(async { TimerHandle::try_current() }).is_none());
    let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.block_on(async { current_time() })
    }))
    .unwrap_err();
    let message = err
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .unwrap_or_else(|| err.downcast_ref::<String>().cloned().unwrap_or_default());
    assert!(message.contains("creche::Builder"), "{message}");
}

/// Regression (review): a replaced or cancelled waker was dropped under the wheel's lock; a
/// waker that owns a timer (a task whose output holds one, say) then deadlocked.
#[test]
fn a_waker_that_owns_a_timer_can_be_dropped_by_the_wheel() {
    let _watchdog = watchdog("waker drop");
    struct OwnsTimer(#[allow(dead_code)] TimerEntry);
    impl Wake for OwnsTimer {
        fn wake(self: Arc<Self>) {}
    }
    let rt = runtime_on(1, MockClock::autojump());
    rt.block_on(async {
        let handle = TimerHandle::current();
        let owning_waker = || {
            let mut inner = TimerEntry::new(&handle, current_time() + secs(50));
            assert!(inner.register(&Waker::noop().clone()));
            Waker::from(Arc::new(OwnsTimer(inner)))
        };
        let mut entry = TimerEntry::new(&handle, current_time() + secs(5));
        assert!(entry.register(&owning_waker()));
        assert!(entry.register(&Waker::noop().clone())); // replaces (drops) the owning waker
        assert!(entry.register(&owning_waker()));
        entry.cancel(); // drops it
        assert!(entry.register(&owning_waker()));
        drop(entry); // and so does dropping the entry
    });
}

#[test]
fn timer_types_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<TimerEntry>();
    send_sync::<TimerHandle>();
    send_sync::<creche::time::Sleep>();
    send_sync::<creche::time::Interval>();
    send_sync::<MockClock>();
    send_sync::<creche::time::Timeout<std::future::Ready<()>>>();
}

/// A sleep knows its deadline and whether it has passed, before and after its first poll; a
/// timeout knows its deadline and gives its future back; `Elapsed` says what happened.
#[creche::test(autojump)]
async fn sleep_and_timeout_accessors() {
    use creche::time::{Elapsed, current_time, sleep, timeout};
    let _w = watchdog("sleep_and_timeout_accessors");
    let start = current_time();
    let mut nap = std::pin::pin!(sleep(secs(5)));
    assert_eq!(nap.deadline(), start + secs(5));
    assert!(!nap.is_elapsed(), "not polled yet: read from the clock");
    let shown = format!("{nap:?}");
    assert!(shown.starts_with("Sleep { deadline: "), "{shown}");
    assert!(
        futures_lite::future::poll_once(nap.as_mut())
            .await
            .is_none()
    );
    assert!(!nap.is_elapsed(), "registered: read from its timer");
    nap.as_mut().await;
    assert!(nap.is_elapsed());
    assert_eq!(current_time(), start + secs(5));
    // Unpolled and past its deadline.
    assert!(sleep(Duration::ZERO).is_elapsed());

    let limited = timeout(secs(1), async { 3 });
    assert_eq!(limited.deadline(), current_time() + secs(1));
    assert_eq!(limited.into_inner().await, 3);
    let err = timeout(secs(1), std::future::pending::<()>())
        .await
        .unwrap_err();
    assert_eq!(err, Elapsed);
    assert_eq!(err.to_string(), "deadline has elapsed");
}
