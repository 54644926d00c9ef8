//! Deadlines (TESTPLAN §1.5, §1.9): a deadline cancels the body and the scope catches it;
//! moving it later, earlier or into the past while the body waits takes effect; the deadline
//! of an exited scope never fires; a passed deadline on an unentered scope is sticky;
//! `current_effective_deadline` walks outward up to a shield; resetting a deadline many times
//! leaves no stray timers; a huge relative deadline saturates to "none".

mod common;

use common::{Counter, runtime_on, secs, tracked, watchdog};
use creche::time::{Instant, MockClock, current_time, sleep, sleep_forever};
use creche::{CancelScope, checkpoint, current_effective_deadline, fail_after, move_on_after};
use std::time::Duration;

/// `deadline_after(1 s)` with a body that sleeps forever: `None` at exactly t=1, called and
/// caught.
#[creche::test(autojump)]
async fn deadline_cancels_and_is_caught() {
    let _w = watchdog("deadline_cancels_and_is_caught");
    let t0 = current_time();
    let scope = CancelScope::new();
    scope.deadline_after(secs(1));
    assert_eq!(scope.deadline(), t0 + secs(1));
    assert!(!scope.cancel_called());
    let (polls, drops) = (Counter::new(), Counter::new());
    let out = scope.run(tracked(sleep_forever(), &polls, &drops)).await;
    assert_eq!(out, None);
    assert_eq!(current_time() - t0, secs(1));
    assert_eq!(drops.get(), 1);
    assert!(scope.cancel_called() && scope.cancelled_caught());
}

/// Runs `scope` around a body that sleeps forever while a sibling task sleeps `at`, then moves
/// the deadline to `to`; returns the result and when `run` returned.
async fn move_deadline_at(scope: &CancelScope, at: Duration, to: Instant) -> (Option<()>, Instant) {
    let mover = creche::spawn({
        let scope = scope.clone();
        async move {
            sleep(at).await;
            scope.set_deadline(to);
        }
    });
    let out = scope.run(sleep_forever()).await;
    let ended = current_time();
    mover.await.unwrap();
    (out, ended)
}

/// must show: the deadline moves while the body waits. 10 s moved to 20 s at t=5: no
/// cancellation at 10, `None` at exactly 20. 10 s moved to 4 s at t=2: `None` at 4. 10 s moved
/// into the past at t=1: `None` at once (t=1).
#[creche::test(autojump)]
async fn move_deadline_later_and_earlier_while_waiting() {
    let _w = watchdog("move_deadline_later_and_earlier_while_waiting");

    // Later.
    let t0 = current_time();
    let scope = CancelScope::new();
    scope.set_deadline(t0 + secs(10));
    let (out, ended) = move_deadline_at(&scope, secs(5), t0 + secs(20)).await;
    assert_eq!(out, None);
    assert_eq!(ended - t0, secs(20));
    assert_eq!(scope.deadline(), t0 + secs(20));
    assert!(scope.cancelled_caught());

    // Earlier.
    let t1 = current_time();
    let scope = CancelScope::new();
    scope.set_deadline(t1 + secs(10));
    let (out, ended) = move_deadline_at(&scope, secs(2), t1 + secs(4)).await;
    assert_eq!(out, None);
    assert_eq!(ended - t1, secs(4));
    assert!(scope.cancelled_caught());

    // Into the past.
    let t2 = current_time();
    let scope = CancelScope::new();
    scope.set_deadline(t2 + secs(10));
    let (out, ended) = move_deadline_at(&scope, secs(1), Instant::ZERO).await;
    assert_eq!(out, None);
    assert_eq!(ended - t2, secs(1));
    assert!(scope.cancelled_caught());

    // Removed (`Instant::MAX`): the body outlives the old deadline and finishes.
    let t3 = current_time();
    let scope = CancelScope::new();
    scope.set_deadline(t3 + secs(3));
    let s = scope.clone();
    let out = scope
        .run(async move {
            sleep(secs(1)).await;
            s.set_deadline(Instant::MAX);
            sleep(secs(5)).await;
            7
        })
        .await;
    assert_eq!(out, Some(7));
    assert_eq!(current_time() - t3, secs(6));
    assert!(!scope.cancel_called());
}

/// Builds a one-worker runtime on a `MockClock` that only moves when the test jumps it.
fn manual_clock_runtime() -> (creche::Runtime, MockClock) {
    let clock = MockClock::new();
    (runtime_on(1, clock.clone()), clock)
}

/// The deadline of a scope that has exited never fires: set 1 s out, the body finishes, the
/// clock jumps 2 s, and the scope is still not cancelled. An explicit `cancel()` after exit is
/// recorded (called), but nothing is caught.
#[test]
fn exited_scope_deadline_never_fires() {
    let _w = watchdog("exited_scope_deadline_never_fires");
    let (rt, clock) = manual_clock_runtime();
    rt.block_on(async {
        let scope = CancelScope::new();
        scope.set_deadline(current_time() + secs(1));
        let out = scope
            .run(async {
                checkpoint().await; // Pending once: the deadline is in the timer wheel
                5
            })
            .await;
        assert_eq!(out, Some(5));
        clock.jump(secs(2)).unwrap();
        for _ in 0..3 {
            checkpoint().await;
            creche::yield_now().await;
        }
        assert!(!scope.cancel_called());
        assert!(!scope.cancelled_caught());
        scope.cancel();
        assert!(scope.cancel_called() && !scope.cancelled_caught());
    });
}

/// On an unentered scope, a deadline that has passed sets `cancel_called`, and moving the
/// deadline later again does not undo it; running the scope then gives `None` after one poll.
#[test]
fn unentered_expired_deadline_is_sticky() {
    let _w = watchdog("unentered_expired_deadline_is_sticky");
    let (rt, clock) = manual_clock_runtime();
    rt.block_on(async {
        let now = current_time();
        let scope = CancelScope::new();
        scope.set_deadline(now + secs(1));
        assert!(!scope.cancel_called());
        scope.set_deadline(now);
        assert!(scope.cancel_called());
        scope.set_deadline(now + secs(1));
        assert!(scope.cancel_called(), "sticky");

        // The same through the clock instead of the setter.
        let by_clock = CancelScope::new();
        by_clock.set_deadline(now + secs(5));
        clock.jump(secs(5)).unwrap();
        assert!(by_clock.cancel_called());
        by_clock.set_deadline(current_time() + secs(60));
        assert!(by_clock.cancel_called(), "sticky");

        let (polls, drops) = (Counter::new(), Counter::new());
        assert_eq!(
            scope.run(tracked(sleep_forever(), &polls, &drops)).await,
            None
        );
        assert_eq!((polls.get(), drops.get()), (1, 1));
        assert!(scope.cancelled_caught());
    });
}

/// must show: `current_effective_deadline` is the nearest deadline of the enclosing scopes,
/// walking outward up to and including the first shielded one; `Instant::ZERO` once an
/// unshielded enclosing scope is cancelled; `Instant::MAX` with no deadline.
#[test]
fn current_effective_deadline_stops_at_shield() {
    let _w = watchdog("current_effective_deadline_stops_at_shield");
    let (rt, _clock) = manual_clock_runtime();
    rt.block_on(async {
        assert_eq!(current_effective_deadline(), Instant::MAX);
        let t0 = current_time();
        let (s1, s2) = (CancelScope::new(), CancelScope::new());
        s1.set_deadline(t0 + secs(5));
        s2.set_deadline(t0 + secs(10));
        let steps = s1
            .run(async {
                let mut steps = vec![("s1", current_effective_deadline())];
                let inner = s2
                    .run(async {
                        let mut steps = Vec::new();
                        let mut record = |what| steps.push((what, current_effective_deadline()));
                        record("s1 5 > s2 10");
                        s2.set_deadline(t0 + secs(3));
                        record("s2 -> 3");
                        s2.set_deadline(t0 + secs(10));
                        record("s2 -> 10");
                        s2.set_shield(true);
                        record("shield s2");
                        s2.set_shield(false);
                        record("unshield s2");
                        s1.cancel();
                        record("s1 cancelled");
                        s2.set_shield(true);
                        record("shield s2 again");
                        steps
                    })
                    .await;
                steps.extend(inner.expect("s2 never awaits"));
                steps.push(("after s2", current_effective_deadline()));
                steps
            })
            .await
            .expect("s1's body never awaits after the cancel");
        let at = |n| t0 + secs(n);
        assert_eq!(
            steps,
            vec![
                ("s1", at(5)),
                ("s1 5 > s2 10", at(5)),
                ("s2 -> 3", at(3)),
                ("s2 -> 10", at(5)),
                ("shield s2", at(10)),
                ("unshield s2", at(5)),
                ("s1 cancelled", Instant::ZERO),
                ("shield s2 again", at(10)),
                ("after s2", Instant::ZERO),
            ]
        );
        assert_eq!(current_effective_deadline(), Instant::MAX, "after s1");
        assert!(s1.cancel_called() && !s1.cancelled_caught());
        assert!(!s2.cancel_called());
    });
}

/// 10^4 `set_deadline` calls alternating between t0+0.5 s and t0+10 s while the deadline is in
/// the timer wheel, ending on 10 s: the body then sleeps 1 s and completes (no stale 0.5 s
/// timer cancelled it). After the exit nothing fires: a following 1 s sleep ends at exactly
/// +1 s, and the scope is still not cancelled once its last deadline has passed.
#[creche::test(autojump)]
async fn many_resets_use_one_timer() {
    let _w = watchdog("many_resets_use_one_timer");
    let t0 = current_time();
    let scope = CancelScope::new();
    scope.set_deadline(t0 + secs(10));
    let s = scope.clone();
    let out = scope
        .run(async move {
            checkpoint().await; // Pending once: the deadline is in the timer wheel
            for i in 0..10_000 {
                let d = if i % 2 == 0 {
                    Duration::from_millis(500)
                } else {
                    secs(10)
                };
                s.set_deadline(t0 + d);
            }
            sleep(secs(1)).await;
            1
        })
        .await;
    assert_eq!(out, Some(1));
    assert_eq!(current_time() - t0, secs(1));
    assert_eq!(scope.deadline(), t0 + secs(10));
    sleep(secs(1)).await;
    assert_eq!(current_time() - t0, secs(2));
    sleep(secs(10)).await;
    assert_eq!(current_time() - t0, secs(12));
    assert!(!scope.cancel_called());
}

/// `deadline_after(Duration::MAX)` saturates to no deadline (`Instant::MAX`); so do the
/// relative timeouts.
#[creche::test(autojump)]
async fn huge_relative_deadline_saturates() {
    let _w = watchdog("huge_relative_deadline_saturates");
    let t0 = current_time();
    let scope = CancelScope::new();
    scope.deadline_after(Duration::MAX);
    assert_eq!(scope.deadline(), Instant::MAX);
    assert!(!scope.cancel_called());
    let out = move_on_after(Duration::MAX, async {
        let inside = current_effective_deadline();
        sleep(secs(1)).await;
        inside
    })
    .await;
    assert_eq!(out, Some(Instant::MAX));
    assert_eq!(fail_after(Duration::MAX, sleep(secs(1))).await, Ok(()));
    assert_eq!(current_time() - t0, secs(2));
}
