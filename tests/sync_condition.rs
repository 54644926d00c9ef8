//! `creche::sync::Condition` (SYNC_TESTPLAN §1.5): `notify(1)` wakes the oldest waiter and
//! `notify_all` the rest; notified waiters move to the lock's queue and get the lock in order;
//! a cancelled `wait` holds nothing in either phase and never unlocks twice; a notified waiter
//! cancelled before it relocks forwards its notification; `wait` is a cancellation point.

mod common;

use common::{Counter, watchdog};
use creche::sync::{Condition, Event};
use creche::testing::wait_all_tasks_blocked;
use creche::{CancelScope, Nursery, open_nursery};
use std::sync::{Arc, Mutex};

type Record = Arc<Mutex<Vec<usize>>>;

/// Spawns waiter `i` (inside `scope` if given): lock, wait once, record `i`, unlock. Returns
/// once every task is blocked, so waiters queue in spawn order.
async fn waiter(
    n: &Nursery<()>,
    cond: &Arc<Condition>,
    i: usize,
    record: &Record,
    scope: Option<CancelScope>,
) {
    holding_waiter(n, cond, i, record, scope, None).await;
}

/// [`waiter`], which after relocking keeps the lock until `hold` is set (if given).
async fn holding_waiter(
    n: &Nursery<()>,
    cond: &Arc<Condition>,
    i: usize,
    record: &Record,
    scope: Option<CancelScope>,
    hold: Option<Arc<Event>>,
) {
    let (cond, record) = (cond.clone(), record.clone());
    let body = async move {
        let guard = cond.lock().await;
        let guard = guard.wait().await;
        record.lock().unwrap().push(i);
        if let Some(hold) = hold {
            hold.wait().await;
        }
        drop(guard);
    };
    let scope = scope.unwrap_or_default();
    let body = scope.run(body);
    n.spawn(async move {
        body.await;
        Ok(())
    });
    wait_all_tasks_blocked().await;
}

fn recorded(record: &Record) -> Vec<usize> {
    record.lock().unwrap().clone()
}

#[creche::test(autojump, worker_threads = 2)]
async fn notify_one_then_all() {
    let _w = watchdog("notify_one_then_all");
    let cond = Arc::new(Condition::new());
    let record = Record::default();
    open_nursery(|n| {
        let (cond, record) = (cond.clone(), record.clone());
        async move {
            for i in 0..3 {
                waiter(&n, &cond, i, &record, None).await;
            }
            assert_eq!(cond.statistics().tasks_waiting, 3);
            assert!(!cond.locked(), "waiting released the lock");
            cond.lock().await.notify(1);
            wait_all_tasks_blocked().await;
            assert_eq!(recorded(&record), [0]);
            assert_eq!(cond.statistics().tasks_waiting, 2);
            cond.lock().await.notify_all();
            wait_all_tasks_blocked().await;
            assert_eq!(recorded(&record), [0, 1, 2]);
            Ok(())
        }
    })
    .await
    .unwrap();
    assert!(!cond.locked());
    assert_eq!(cond.__queued_nodes(), 0);
}

#[creche::test(autojump, worker_threads = 2)]
async fn notify_moves_waiters_to_lock_queue() {
    let _w = watchdog("notify_moves_waiters_to_lock_queue");
    let cond = Arc::new(Condition::new());
    let record = Record::default();
    let hold = Arc::new(Event::new());
    open_nursery(|n| {
        let (cond, record, hold) = (cond.clone(), record.clone(), hold.clone());
        async move {
            for i in 0..3 {
                holding_waiter(&n, &cond, i, &record, None, Some(hold.clone())).await;
            }
            let guard = cond.lock().await;
            guard.notify(2);
            let stats = cond.statistics();
            assert_eq!((stats.tasks_waiting, stats.lock.tasks_waiting), (1, 2));
            drop(guard); // handed to waiter 0 (which holds it); waiter 1 still queued for it
            wait_all_tasks_blocked().await;
            let stats = cond.statistics();
            assert!(stats.lock.locked);
            assert_eq!((stats.tasks_waiting, stats.lock.tasks_waiting), (1, 1));
            assert_eq!(recorded(&record), [0]);
            hold.set();
            wait_all_tasks_blocked().await;
            assert_eq!(recorded(&record), [0, 1]);
            cond.lock().await.notify_all();
            Ok(())
        }
    })
    .await
    .unwrap();
    assert_eq!(recorded(&record), [0, 1, 2]);
}

/// A waiter dropped while waiting for the notify, and one dropped after the notify while it
/// waits for the lock: the lock ends free or with the next waiter, and the forwarded
/// notification reaches the waiter behind.
#[creche::test(autojump, worker_threads = 2)]
async fn cancelled_wait_holds_nothing() {
    let _w = watchdog("cancelled_wait_holds_nothing");
    let cond = Arc::new(Condition::new());
    let record = Record::default();
    let scopes: Vec<CancelScope> = (0..3).map(|_| CancelScope::new()).collect();
    open_nursery(|n| {
        let (cond, record, scopes) = (cond.clone(), record.clone(), scopes.clone());
        async move {
            for (i, scope) in scopes.iter().enumerate() {
                waiter(&n, &cond, i, &record, Some(scope.clone())).await;
            }
            // Phase 1: waiter 2 is cancelled while it waits for a notify.
            scopes[2].cancel();
            wait_all_tasks_blocked().await;
            assert_eq!(cond.statistics().tasks_waiting, 2);
            assert!(!cond.locked());
            // Phase 2: waiter 0 is notified, then cancelled while it waits for the lock.
            let guard = cond.lock().await;
            guard.notify(1);
            scopes[0].cancel();
            wait_all_tasks_blocked().await;
            let stats = cond.statistics();
            // Its notification went on to waiter 1, now queued for the lock.
            assert_eq!((stats.tasks_waiting, stats.lock.tasks_waiting), (0, 1));
            drop(guard);
            wait_all_tasks_blocked().await;
            assert_eq!(recorded(&record), [1]);
            assert!(!cond.locked());
            Ok(())
        }
    })
    .await
    .unwrap();
    assert_eq!(cond.__queued_nodes(), 0);
    // The lock is usable and was never unlocked twice: a guard still excludes.
    let guard = cond.try_lock().unwrap();
    assert!(cond.try_lock().is_err());
    drop(guard);
}

/// Must show: A and B wait; `notify(1)` picks A; the notifier's unlock hands A the lock and
/// A's scope is cancelled before A runs (one worker, the same poll): B is woken instead. Then
/// `notify_all` and cancel everyone: the lock ends free.
#[creche::test(autojump, worker_threads = 1)]
async fn notified_then_cancelled_forwards() {
    let _w = watchdog("notified_then_cancelled_forwards");
    let cond = Arc::new(Condition::new());
    let record = Record::default();
    let a_scope = CancelScope::new();
    let go = Arc::new(Event::new());
    open_nursery(|n| {
        let (cond, record, a_scope, go) =
            (cond.clone(), record.clone(), a_scope.clone(), go.clone());
        async move {
            waiter(&n, &cond, 0, &record, Some(a_scope.clone())).await;
            waiter(&n, &cond, 1, &record, None).await;
            let (c, g) = (cond.clone(), go.clone());
            n.spawn(async move {
                g.wait().await;
                let guard = c.lock().await;
                guard.notify(1);
                drop(guard); // A is handed the lock
                a_scope.cancel(); // and cancelled before it runs
                Ok(())
            });
            go.set();
            wait_all_tasks_blocked().await;
            assert_eq!(recorded(&record), [1], "B got A's notification");
            assert!(!cond.locked());
            Ok(())
        }
    })
    .await
    .unwrap();
    assert_eq!(cond.__queued_nodes(), 0);

    // notify_all, then everyone is cancelled before relocking.
    let everyone = CancelScope::new();
    let drops = Counter::new();
    let out = everyone
        .clone()
        .run(open_nursery(|n| {
            let (cond, record, everyone, drops) = (
                cond.clone(),
                record.clone(),
                everyone.clone(),
                drops.clone(),
            );
            async move {
                for i in 10..13 {
                    waiter(&n, &cond, i, &record, None).await;
                }
                let guard = cond.lock().await;
                guard.notify_all();
                assert_eq!(cond.statistics().lock.tasks_waiting, 3);
                everyone.cancel();
                drops.incr();
                drop(guard);
                creche::time::sleep_forever().await;
                Ok(())
            }
        }))
        .await;
    assert_eq!(out, None);
    assert_eq!(drops.get(), 1);
    assert_eq!(recorded(&record), [1]);
    assert!(!cond.locked());
    assert_eq!(cond.__queued_nodes(), 0);
}

/// `wait` is a cancellation point checked before the lock is released: in a cancelled scope
/// it does not complete, and the lock it owned is released with it exactly once.
#[creche::test(autojump)]
async fn wait_is_a_cancel_point() {
    let _w = watchdog("wait_is_a_cancel_point");
    let cond = Condition::new();
    let guard = cond.lock().await;
    let scope = CancelScope::new();
    scope.cancel();
    let out = scope.run(async { drop(guard.wait().await) }).await;
    assert_eq!(out, None);
    assert!(!cond.locked());
    assert_eq!(cond.statistics().tasks_waiting, 0);
    assert!(format!("{cond:?}").contains("tasks_waiting: 0"));
}

#[test]
#[should_panic(expected = "ConditionWait polled after completion")]
fn wait_polled_after_completion_panics() {
    use std::future::Future;
    use std::task::{Context, Poll, Waker};
    let cond = Condition::new();
    let mut cx = Context::from_waker(Waker::noop());
    let mut wait = std::pin::pin!(cond.try_lock().unwrap().wait());
    assert!(wait.as_mut().poll(&mut cx).is_pending()); // queued, lock released
    let notifier = cond.try_lock().unwrap();
    notifier.notify(1);
    drop(notifier); // hands the lock to the waiter
    let Poll::Ready(guard) = wait.as_mut().poll(&mut cx) else {
        panic!("notified and handed the lock");
    };
    drop(guard);
    let _ = wait.as_mut().poll(&mut cx);
}

/// The futures and the guard describe themselves, and a `notify(n)` with fewer waiters than
/// `n` moves the one there is and stops (one task drives everything, so nothing races).
#[creche::test]
async fn debug_forms_and_notify_more_than_waiting() {
    let _w = watchdog("debug_forms_and_notify_more_than_waiting");
    let cond = Condition::new();
    let lock = cond.lock();
    assert!(format!("{lock:?}").starts_with("ConditionLock"));
    let guard = lock.await;
    assert_eq!(format!("{guard:?}"), "ConditionGuard { .. }");
    let mut wait = std::pin::pin!(guard.wait());
    assert_eq!(format!("{wait:?}"), "ConditionWait { started: false }");
    assert!(
        futures_lite::future::poll_once(wait.as_mut())
            .await
            .is_none()
    );
    assert_eq!(format!("{wait:?}"), "ConditionWait { started: true }");
    // The waiter released the lock while it waits.
    assert!(!cond.locked());
    let other = cond.try_lock().expect("unlocked while waiting");
    other.notify(5);
    drop(other);
    let guard = wait.await;
    assert!(cond.locked());
    drop(guard);
    assert!(!cond.locked());
}
