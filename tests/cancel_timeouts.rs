//! Timeouts (TESTPLAN §1.4, §1.6): `move_on_at`, `move_on_after`, `fail_at`, `fail_after`
//! return at their deadline, counted from the first poll; a shielded timeout scope ignores the
//! outer cancellation until it is unshielded, and its own deadline still fires; `TooSlow` is an
//! error type.

mod common;

use common::{Counter, secs, watchdog};
use creche::time::{current_time, sleep, sleep_forever};
use creche::{CancelScope, TooSlow, checkpoint, fail_after, fail_at, move_on_after, move_on_at};
use std::time::Duration;

/// `move_on_at(now, ..)` cancels even `sleep(ZERO)`: `None`, the code after the sleep never
/// runs, and no time passes.
#[creche::test(autojump)]
async fn move_on_at_now_cancels_sleep_zero() {
    let _w = watchdog("move_on_at_now_cancels_sleep_zero");
    let t0 = current_time();
    let (before, after) = (Counter::new(), Counter::new());
    let (b, a) = (before.clone(), after.clone());
    let out = move_on_at(current_time(), async move {
        b.incr();
        sleep(Duration::ZERO).await;
        a.incr();
    })
    .await;
    assert_eq!(out, None);
    assert_eq!((before.get(), after.get()), (1, 0));
    assert_eq!(current_time(), t0);
}

/// `move_on_after(1 s, sleep(100 s))` returns `None` at exactly t=1, not when the sleep would
/// have ended; a body that finishes first gives its value.
#[creche::test(autojump)]
async fn move_on_after_returns_at_deadline() {
    let _w = watchdog("move_on_after_returns_at_deadline");
    let t0 = current_time();
    assert_eq!(move_on_after(secs(1), sleep(secs(100))).await, None);
    assert_eq!(current_time() - t0, secs(1));
    let quick = move_on_after(secs(5), async {
        sleep(secs(2)).await;
        "done"
    })
    .await;
    assert_eq!(quick, Some("done"));
    assert_eq!(current_time() - t0, secs(3));
}

/// `fail_after` and `fail_at` give `Err(TooSlow)` at the deadline, and the body's value when it
/// finishes first.
#[creche::test(autojump)]
async fn fail_after_and_fail_at() {
    let _w = watchdog("fail_after_and_fail_at");
    let t0 = current_time();
    assert_eq!(fail_after(secs(1), sleep_forever()).await, Err(TooSlow));
    assert_eq!(current_time() - t0, secs(1));
    assert_eq!(
        fail_at(current_time() + secs(1), sleep(secs(100))).await,
        Err(TooSlow)
    );
    assert_eq!(current_time() - t0, secs(2));
    assert_eq!(fail_after(secs(100), sleep(Duration::ZERO)).await, Ok(()));
    assert_eq!(
        fail_at(current_time() + secs(100), async { 3 }).await,
        Ok(3)
    );
    let slept = fail_after(secs(100), async {
        sleep(secs(4)).await;
        4
    })
    .await;
    assert_eq!(slept, Ok(4));
    assert_eq!(current_time() - t0, secs(6));
}

/// A relative deadline is counted from the first poll, not from construction: build a 5 s
/// `move_on_after`, sleep 3 s, then await it: cancelled at t=8. Same for `fail_after`.
#[creche::test(autojump)]
async fn move_on_after_counts_from_first_poll() {
    let _w = watchdog("move_on_after_counts_from_first_poll");
    let t0 = current_time();
    let timeout = move_on_after(secs(5), sleep_forever());
    sleep(secs(3)).await;
    assert_eq!(timeout.await, None);
    assert_eq!(current_time() - t0, secs(8));

    let t1 = current_time();
    let timeout = fail_after(secs(5), sleep_forever());
    sleep(secs(3)).await;
    assert_eq!(timeout.await, Err(TooSlow));
    assert_eq!(current_time() - t1, secs(8));
}

/// A timeout scope (`deadline_after(10 s)`) with its shield up ignores the cancelled `outer`;
/// its body sleeps past t=1. At t=1 a sibling task lowers the shield: the body is dropped at
/// once, by `outer` (which catches), long before the scope's own deadline.
#[creche::test(autojump)]
async fn shielded_timeout_scope_then_unshield() {
    let _w = watchdog("shielded_timeout_scope_then_unshield");
    let t0 = current_time();
    let (outer, timeout) = (CancelScope::new(), CancelScope::new());
    timeout.deadline_after(secs(10));
    timeout.set_shield(true);
    let unshield = creche::spawn({
        let timeout = timeout.clone();
        async move {
            sleep(secs(1)).await;
            timeout.set_shield(false);
        }
    });
    let (slept, after) = (Counter::new(), Counter::new());
    let out = outer
        .run({
            let (o, t, s, a) = (outer.clone(), timeout.clone(), slept.clone(), after.clone());
            async move {
                o.cancel();
                t.run(async move {
                    sleep(Duration::from_millis(500)).await; // shielded: it ends
                    s.incr();
                    sleep_forever().await;
                })
                .await;
                a.incr();
            }
        })
        .await;
    unshield.await.unwrap();
    assert_eq!(out, None);
    assert_eq!(slept.get(), 1);
    assert_eq!(after.get(), 0);
    assert_eq!(current_time() - t0, secs(1));
    assert!(outer.cancelled_caught());
    assert!(!timeout.cancel_called() && !timeout.cancelled_caught());
}

/// `outer` is cancelled; a shielded scope runs `move_on_after(1 s, sleep_forever())`, whose
/// own deadline still fires: `Some(None)` at t=1. The code after it runs until the next await,
/// where `outer` drops the body. The same with `fail_after` gives `Some(Err(TooSlow))`.
#[creche::test(autojump)]
async fn shielded_deadline_still_fires() {
    let _w = watchdog("shielded_deadline_still_fires");
    let t0 = current_time();

    let outer = CancelScope::new();
    let (got, after) = (
        std::sync::Arc::new(std::sync::Mutex::new(None)),
        Counter::new(),
    );
    let out = outer
        .run({
            let (o, g, a) = (outer.clone(), got.clone(), after.clone());
            async move {
                o.cancel();
                let shielded = CancelScope::new();
                shielded.set_shield(true);
                let r = shielded.run(move_on_after(secs(1), sleep_forever())).await;
                *g.lock().unwrap() = Some((r, current_time()));
                checkpoint().await;
                a.incr();
            }
        })
        .await;
    assert_eq!(out, None);
    assert_eq!(*got.lock().unwrap(), Some((Some(None), t0 + secs(1))));
    assert_eq!(after.get(), 0);
    assert!(outer.cancelled_caught());

    let t1 = current_time();
    let outer = CancelScope::new();
    let (got, after) = (
        std::sync::Arc::new(std::sync::Mutex::new(None)),
        Counter::new(),
    );
    let out = outer
        .run({
            let (o, g, a) = (outer.clone(), got.clone(), after.clone());
            async move {
                o.cancel();
                let shielded = CancelScope::new();
                shielded.set_shield(true);
                let r = shielded.run(fail_after(secs(1), sleep_forever())).await;
                *g.lock().unwrap() = Some((r, current_time()));
                sleep(Duration::ZERO).await;
                a.incr();
            }
        })
        .await;
    assert_eq!(out, None);
    assert_eq!(
        *got.lock().unwrap(),
        Some((Some(Err(TooSlow)), t1 + secs(1)))
    );
    assert_eq!(after.get(), 0);
    assert!(outer.cancelled_caught());
}

/// `TooSlow` is an error: `Display`, `std::error::Error` (no source), `?` into a boxed error.
#[test]
fn too_slow_is_an_error() {
    assert_eq!(
        TooSlow.to_string(),
        "the deadline passed before the operation completed"
    );
    let boxed: Box<dyn std::error::Error + Send + Sync> = TooSlow.into();
    assert!(boxed.source().is_none());
    assert_eq!(boxed.to_string(), TooSlow.to_string());
    fn through_question_mark() -> Result<(), Box<dyn std::error::Error>> {
        Err(TooSlow)?;
        Ok(())
    }
    assert!(through_question_mark().unwrap_err().is::<TooSlow>());
    let copy = TooSlow;
    assert_eq!(copy, TooSlow);
    assert_eq!(format!("{copy:?}"), "TooSlow");
}
