//! Cancel scope basics (TESTPLAN §1.3): `cancel` is idempotent and level-triggered; a scope can
//! be cancelled before `run`, from another task, or from a thread outside the runtime; a body
//! that never awaits after the cancel keeps its value; a scope runs one body; an error from a
//! region that had to finish first goes through a cancelled scope as a value; opening and
//! closing a nursery is not a cancellation point; `Debug` shows the state.

mod common;

use common::{Counter, DropCount, Gate, secs, tracked, watchdog};
use creche::time::{Instant, current_time, sleep, sleep_forever};
use creche::{CancelScope, checkpoint, open_nursery};
use std::time::Duration;

/// A child's or body's error, unique to this file.
#[derive(Debug, PartialEq, Eq)]
struct K;

/// `cancel()` twice gives the same result as once: `run` returns `None`, called and caught.
/// Level-triggered: a shielded region inside the cancelled body still finishes (at t=1), the
/// code after it runs until the next await, and the body is dropped there.
#[creche::test(autojump)]
async fn cancel_is_idempotent_and_level_triggered() {
    let _w = watchdog("cancel_is_idempotent_and_level_triggered");
    let t0 = current_time();

    // Idempotent, before the run.
    let scope = CancelScope::new();
    scope.cancel();
    scope.cancel();
    assert!(scope.cancel_called());
    assert!(
        !scope.cancelled_caught(),
        "nothing was caught before the run"
    );
    assert_eq!(scope.run(sleep_forever()).await, None);
    assert!(scope.cancel_called() && scope.cancelled_caught());
    scope.cancel(); // after the end: still fine, changes nothing
    assert!(scope.cancel_called() && scope.cancelled_caught());

    // Level-triggered, from inside the body.
    let scope = CancelScope::new();
    let (shield_done, after_shield, after_await) = (Counter::new(), Counter::new(), Counter::new());
    let (s, sd, asd, aa) = (
        scope.clone(),
        shield_done.clone(),
        after_shield.clone(),
        after_await.clone(),
    );
    let out = scope
        .run(async move {
            s.cancel();
            s.cancel();
            let shielded = CancelScope::new();
            shielded.set_shield(true);
            let inner = shielded
                .run(async {
                    sleep(secs(1)).await;
                    sd.incr();
                    5
                })
                .await;
            assert_eq!(inner, Some(5));
            assert!(!shielded.cancel_called() && !shielded.cancelled_caught());
            asd.incr(); // still running: no await since the shielded region ended
            checkpoint().await; // the (still pending) cancellation lands here
            aa.incr();
        })
        .await;
    assert_eq!(out, None);
    assert_eq!(shield_done.get(), 1);
    assert_eq!(after_shield.get(), 1);
    assert_eq!(after_await.get(), 0);
    assert!(scope.cancel_called() && scope.cancelled_caught());
    assert_eq!(current_time() - t0, secs(1));
}

/// A scope cancelled before `run`: the body is polled exactly once, then dropped at its first
/// `Pending`; `run` gives `None`.
#[creche::test]
async fn cancel_before_run() {
    let _w = watchdog("cancel_before_run");
    let scope = CancelScope::new();
    scope.cancel();
    let (polls, drops, reached) = (Counter::new(), Counter::new(), Counter::new());
    let r = reached.clone();
    let body = tracked(
        async move {
            r.incr(); // the first poll runs up to the first await
            sleep_forever().await;
            r.incr();
        },
        &polls,
        &drops,
    );
    assert_eq!(scope.run(body).await, None);
    assert_eq!(polls.get(), 1, "polled once");
    assert_eq!(drops.get(), 1, "dropped once, before run returned");
    assert_eq!(reached.get(), 1);
    assert!(scope.cancel_called() && scope.cancelled_caught());
}

/// Another task cancels the scope once the body is blocked on `sleep_forever`: `run` gives
/// `None`, and no virtual time passed.
#[creche::test(autojump)]
async fn cancel_from_another_task() {
    let _w = watchdog("cancel_from_another_task");
    let t0 = current_time();
    let scope = CancelScope::new();
    let (polls, drops) = (Counter::new(), Counter::new());
    let runner = creche::spawn({
        let scope = scope.clone();
        let body = tracked(sleep_forever(), &polls, &drops);
        async move { scope.run(body).await }
    });
    creche::testing::wait_all_tasks_blocked().await;
    assert_eq!(polls.get(), 1, "the body is blocked");
    assert_eq!(drops.get(), 0);
    scope.cancel();
    assert_eq!(runner.await.unwrap(), None);
    assert_eq!(drops.get(), 1);
    assert!(scope.cancel_called() && scope.cancelled_caught());
    assert_eq!(current_time(), t0, "time did not move");
}

/// A plain `std::thread` cancels the scope once the body has opened a gate and is about to
/// block: the body is woken and dropped, and no virtual time passed.
#[creche::test(autojump)]
async fn cancel_from_foreign_thread() {
    let _w = watchdog("cancel_from_foreign_thread");
    let t0 = current_time();
    let scope = CancelScope::new();
    let blocked = Gate::new();
    let canceller = std::thread::spawn({
        let (scope, blocked) = (scope.clone(), blocked.clone());
        move || {
            while !blocked.is_open() {
                std::thread::yield_now();
            }
            scope.cancel();
        }
    });
    let after = Counter::new();
    let (b, a) = (blocked.clone(), after.clone());
    let out = scope
        .run(async move {
            b.open();
            sleep_forever().await;
            a.incr();
        })
        .await;
    canceller.join().unwrap();
    assert_eq!(out, None);
    assert_eq!(after.get(), 0);
    assert!(scope.cancel_called() && scope.cancelled_caught());
    assert_eq!(current_time(), t0, "time did not move");
}

/// A body that cancels its own scope and returns without awaiting keeps its value: `Some(7)`,
/// called but not caught.
#[creche::test]
async fn cancel_without_await_keeps_value() {
    let _w = watchdog("cancel_without_await_keeps_value");
    let scope = CancelScope::new();
    let s = scope.clone();
    let out = scope
        .run(async move {
            s.cancel();
            7
        })
        .await;
    assert_eq!(out, Some(7));
    assert!(scope.cancel_called());
    assert!(!scope.cancelled_caught());
}

/// A scope runs one body: a second `run` panics when polled.
#[creche::test]
#[should_panic(expected = "has already run a body")]
async fn run_twice_panics() {
    let scope = CancelScope::new();
    assert_eq!(scope.run(async { 1 }).await, Some(1));
    let _ = scope.run(async { 2 }).await;
}

/// A scope whose body is still running in another task cannot run a second one.
#[creche::test]
#[should_panic(expected = "has already run a body")]
async fn run_while_running_elsewhere_panics() {
    let scope = CancelScope::new();
    let _runner = creche::spawn({
        let scope = scope.clone();
        async move { scope.run(sleep_forever()).await }
    });
    creche::testing::wait_all_tasks_blocked().await;
    let _ = scope.run(async { 2 }).await;
}

/// `outer.run(open_nursery(..))`: the nursery's scope and `outer` are both cancelled while a
/// child is inside a shielded scope (so it outlives the cancel, until t=1); the child then
/// returns `Err(K)`. The error goes through the cancelled `outer` as a value: `Some(Err(K))`,
/// and `outer` did not catch anything. The sleeping nursery body was dropped.
#[creche::test(autojump)]
async fn error_from_pinned_nursery_escapes_cancelled_scope() {
    let _w = watchdog("error_from_pinned_nursery_escapes_cancelled_scope");
    let t0 = current_time();
    let outer = CancelScope::new();
    let o = outer.clone();
    let (body_polls, body_drops, child_drops) = (Counter::new(), Counter::new(), Counter::new());
    let (bp, bd, cd) = (body_polls.clone(), body_drops.clone(), child_drops.clone());
    let out = outer
        .run(open_nursery(move |n| {
            tracked(
                async move {
                    n.spawn(async move {
                        let _drop = DropCount(cd);
                        let shielded = CancelScope::new();
                        shielded.set_shield(true);
                        shielded.run(sleep(secs(1))).await;
                        Err::<(), K>(K)
                    });
                    creche::testing::wait_all_tasks_blocked().await; // the child is shielded
                    n.cancel_scope().cancel();
                    o.cancel();
                    sleep_forever().await;
                    Ok::<(), K>(())
                },
                &bp,
                &bd,
            )
        }))
        .await;
    assert_eq!(out, Some(Err(K)));
    assert!(outer.cancel_called());
    assert!(!outer.cancelled_caught());
    assert_eq!(current_time() - t0, secs(1));
    assert_eq!(body_drops.get(), 1);
    assert_eq!(child_drops.get(), 1);
}

/// The nursery body cancels its own scope (and the outer one) and returns `Err` without
/// awaiting: the error comes out of the cancelled outer scope as a value, called but not caught.
#[creche::test(autojump)]
async fn error_from_cancelled_nursery_body_without_await_is_a_value() {
    let _w = watchdog("error_from_cancelled_nursery_body_without_await_is_a_value");
    let t0 = current_time();
    let outer = CancelScope::new();
    let o = outer.clone();
    let out = outer
        .run(open_nursery(move |n| async move {
            n.cancel_scope().cancel();
            o.cancel();
            Err::<(), K>(K)
        }))
        .await;
    assert_eq!(out, Some(Err(K)));
    assert!(outer.cancel_called() && !outer.cancelled_caught());
    assert_eq!(current_time(), t0);
}

/// Inside a cancelled scope, opening and closing a nursery is not a cancellation point: an
/// empty body gives `Some(Ok(Some(())))`, and a body error comes out as `Some(Err)`. Neither is
/// caught.
#[creche::test]
async fn nursery_open_close_is_not_a_cancel_point() {
    let _w = watchdog("nursery_open_close_is_not_a_cancel_point");
    let scope = CancelScope::new();
    scope.cancel();
    let out = scope
        .run(open_nursery(|_n| async { Ok::<(), K>(()) }))
        .await;
    assert_eq!(out, Some(Ok(Some(()))));
    assert!(scope.cancel_called() && !scope.cancelled_caught());

    let scope = CancelScope::new();
    scope.cancel();
    let out = scope
        .run(open_nursery(|_n| async { Err::<(), K>(K) }))
        .await;
    assert_eq!(out, Some(Err(K)));
    assert!(scope.cancel_called() && !scope.cancelled_caught());
}

/// Inside a cancelled scope, a nursery whose body returns at once and whose child never awaits
/// completes: the child runs and the nursery's value comes out (`Some(Ok(Some(..)))`), not
/// caught. (TESTPLAN §1.3, test_trivial_yields.)
#[creche::test]
async fn nursery_with_awaitless_child_in_cancelled_scope_keeps_value() {
    let _w = watchdog("nursery_with_awaitless_child_in_cancelled_scope_keeps_value");
    let scope = CancelScope::new();
    scope.cancel();
    let child_ran = Counter::new();
    let c = child_ran.clone();
    let out = scope
        .run(open_nursery(move |n| async move {
            let h = n.spawn(async move {
                c.incr();
                Ok::<u32, K>(3)
            });
            Ok::<_, K>(h)
        }))
        .await;
    let handle = out.unwrap().unwrap().unwrap();
    assert_eq!(child_ran.get(), 1);
    assert_eq!(handle.join().await, Ok(3));
    assert!(scope.cancel_called() && !scope.cancelled_caught());
}

/// `Debug` shows the state (unentered, running, finished), `cancel_called`, and the deadline
/// when there is one.
#[creche::test]
async fn debug_shows_state() {
    let _w = watchdog("debug_shows_state");
    let scope = CancelScope::new();
    let text = format!("{scope:?}");
    assert!(text.starts_with("CancelScope"), "{text}");
    assert!(text.contains("unentered"), "{text}");
    assert!(text.contains("cancel_called: false"), "{text}");
    assert!(text.contains("cancelled_caught: false"), "{text}");
    assert!(!text.contains("deadline"), "no deadline: {text}");

    scope.set_deadline(Instant::from_nanos(0) + Duration::from_secs(3600 * 24 * 365));
    let text = format!("{scope:?}");
    assert!(text.contains("deadline"), "{text}");
    assert!(
        text.contains(&format!("{:?}", scope.deadline())),
        "shows the deadline itself: {text}"
    );

    let s = scope.clone();
    let inside = scope
        .run(async move {
            let running = format!("{s:?}");
            s.cancel();
            (running, format!("{s:?}"))
        })
        .await
        .unwrap();
    assert!(inside.0.contains("running"), "{}", inside.0);
    assert!(inside.0.contains("cancel_called: false"), "{}", inside.0);
    assert!(inside.1.contains("running"), "{}", inside.1);
    assert!(inside.1.contains("cancel_called: true"), "{}", inside.1);

    let text = format!("{scope:?}");
    assert!(text.contains("finished"), "{text}");
    assert!(text.contains("cancel_called: true"), "{text}");
    assert!(text.contains("cancelled_caught: false"), "{text}");

    let caught = CancelScope::new();
    caught.cancel();
    caught.run(sleep_forever()).await;
    let text = format!("{caught:?}");
    assert!(text.contains("finished"), "{text}");
    assert!(text.contains("cancelled_caught: true"), "{text}");
}

/// A scope handle can be cloned and shared across threads, and so can the future of `run`
/// over a `Send` body.
#[test]
fn scope_is_clone_send_sync() {
    fn clone_send_sync<T: Clone + Send + Sync + 'static>() {}
    fn send<T: Send>(_: &T) {}
    clone_send_sync::<CancelScope>();
    let scope = CancelScope::new();
    send(&scope.run(async { 1 }));
    // Clones are the same scope.
    let other = scope.clone();
    other.cancel();
    assert!(scope.cancel_called());
    // `Default` is a fresh scope.
    let fresh = CancelScope::default();
    assert!(!fresh.cancel_called() && !fresh.shield());
    assert_eq!(fresh.deadline(), Instant::MAX);
}

/// A scope's `Debug` follows its life (unentered, running, finished) and shows a deadline once
/// it has one; its `run` future shows the scope.
#[creche::test(autojump)]
async fn debug_follows_the_scope_and_its_run() {
    let _w = watchdog("debug_follows_the_scope_and_its_run");
    let scope = CancelScope::new();
    let shown = format!("{scope:?}");
    assert!(
        shown.starts_with("CancelScope { state: \"unentered\""),
        "{shown}"
    );
    assert!(!shown.contains("deadline"), "{shown}");
    let observer = scope.clone();
    let run = scope.run(async move { format!("{observer:?}") });
    let shown = format!("{run:?}");
    assert!(
        shown.starts_with("Run { scope: CancelScope { state: \"unentered\""),
        "{shown}"
    );
    let inside = run.await.unwrap();
    assert!(
        inside.starts_with("CancelScope { state: \"running\""),
        "{inside}"
    );
    let shown = format!("{scope:?}");
    assert!(
        shown.starts_with("CancelScope { state: \"finished\""),
        "{shown}"
    );

    let timed = CancelScope::new();
    timed.set_deadline(current_time() + secs(3));
    let shown = format!("{timed:?}");
    assert!(shown.contains("deadline: "), "{shown}");
}
