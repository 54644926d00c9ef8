//! `creche::sync::Lock` (SYNC_TESTPLAN §1.2): `locked`, `try_lock`, statistics with the owner
//! task and the waiters; a cancelled holder's guard is dropped with it and the next waiter
//! gets the lock at that time; a lock handed to a waiter that is then cancelled goes on; `lock`
//! is a cancellation point.

mod common;

use common::{Counter, watchdog};
use creche::sync::{Event, Lock, WouldBlock};
use creche::testing::wait_all_tasks_blocked;
use creche::time::{current_time, sleep_forever};
use creche::{CancelScope, move_on_after, open_nursery};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[creche::test(autojump, worker_threads = 2)]
async fn basics_and_statistics() {
    let _w = watchdog("basics_and_statistics");
    let lock = Arc::new(Lock::new());
    assert!(!lock.locked());
    let holder_id = Arc::new(Mutex::new(None));
    let scope = CancelScope::new();
    let out = scope
        .clone()
        .run(open_nursery(|n| {
            let (lock, holder_id, scope) = (lock.clone(), holder_id.clone(), scope.clone());
            async move {
                let (l, id) = (lock.clone(), holder_id.clone());
                n.spawn(async move {
                    let _guard = l.lock().await;
                    *id.lock().unwrap() = Some(creche::task::id());
                    sleep_forever().await;
                    Ok::<_, ()>(())
                });
                wait_all_tasks_blocked().await;
                assert!(lock.locked());
                assert_eq!(lock.try_lock().unwrap_err(), WouldBlock);
                let stats = lock.statistics();
                assert_eq!(stats.owner, *holder_id.lock().unwrap());
                assert!(stats.owner.is_some());
                assert_eq!(stats.tasks_waiting, 0);
                let l = lock.clone();
                n.spawn(async move {
                    let _guard = l.lock().await;
                    Ok::<_, ()>(())
                });
                wait_all_tasks_blocked().await;
                assert_eq!(lock.statistics().tasks_waiting, 1);
                scope.cancel(); // the holder and the waiter are both cancelled
                sleep_forever().await;
                Ok(())
            }
        }))
        .await;
    assert_eq!(out, None);
    let stats = lock.statistics();
    assert!(!stats.locked && !lock.locked());
    assert_eq!((stats.owner, stats.tasks_waiting), (None, 0));
    assert_eq!(lock.__queued_nodes(), 0);
    assert!(format!("{lock:?}").contains("locked: false"));
}

#[creche::test(autojump, worker_threads = 2)]
async fn guard_dropped_with_cancelled_task() {
    let _w = watchdog("guard_dropped_with_cancelled_task");
    let lock = Arc::new(Lock::new());
    let got_at = Arc::new(Mutex::new(None));
    let t0 = current_time();
    open_nursery(|n| {
        let (lock, got_at) = (lock.clone(), got_at.clone());
        async move {
            let l = lock.clone();
            n.spawn(async move {
                move_on_after(Duration::from_secs(10), async {
                    let _guard = l.lock().await;
                    sleep_forever().await;
                })
                .await;
                Ok::<_, ()>(())
            });
            wait_all_tasks_blocked().await;
            let l = lock.clone();
            n.spawn(async move {
                let _guard = l.lock().await;
                *got_at.lock().unwrap() = Some(current_time());
                Ok::<_, ()>(())
            });
            Ok(())
        }
    })
    .await
    .unwrap();
    assert_eq!(
        *got_at.lock().unwrap(),
        Some(t0 + Duration::from_secs(10)),
        "the waiter got the lock when the holder's scope was cancelled"
    );
    assert!(!lock.locked());
}

/// SYNC_TESTPLAN §0 for the lock: A is handed the lock and cancelled before it runs; B gets it.
/// The holder is a task on the only worker that unlocks and cancels A in one poll.
#[creche::test(autojump, worker_threads = 1)]
async fn granted_then_cancelled_passes_on() {
    let _w = watchdog("granted_then_cancelled_passes_on");
    let lock = Arc::new(Lock::new());
    let (a_got, b_got) = (Counter::new(), Counter::new());
    let a_scope = CancelScope::new();
    let go = Arc::new(Event::new());
    open_nursery(|n| {
        let (lock, a_got, b_got, a_scope, go) = (
            lock.clone(),
            a_got.clone(),
            b_got.clone(),
            a_scope.clone(),
            go.clone(),
        );
        async move {
            let (l, g, s) = (lock.clone(), go.clone(), a_scope.clone());
            n.spawn(async move {
                let guard = l.lock().await;
                g.wait().await;
                drop(guard); // handed to A, which has not run
                s.cancel(); // no await in between: A is dropped at its decision point
                Ok::<_, ()>(())
            });
            wait_all_tasks_blocked().await;
            let l = lock.clone();
            let a_body = a_scope.run(async move {
                let _g = l.lock().await;
                a_got.incr();
            });
            n.spawn(async move {
                a_body.await;
                Ok::<_, ()>(())
            });
            wait_all_tasks_blocked().await;
            let l = lock.clone();
            n.spawn(async move {
                let _g = l.lock().await;
                b_got.incr();
                Ok::<_, ()>(())
            });
            wait_all_tasks_blocked().await;
            assert_eq!(lock.statistics().tasks_waiting, 2);
            go.set();
            Ok(())
        }
    })
    .await
    .unwrap();
    assert_eq!((a_got.get(), b_got.get()), (0, 1));
    assert!(!lock.locked());
    assert_eq!(lock.__queued_nodes(), 0);
}

/// Rule 1 of SYNC_TESTPLAN §0: in a cancelled scope a free lock is not taken.
#[creche::test(autojump)]
async fn lock_is_a_cancel_point() {
    let _w = watchdog("lock_is_a_cancel_point");
    let lock = Lock::new();
    let scope = CancelScope::new();
    scope.cancel();
    let out = scope
        .run(async { std::mem::forget(lock.lock().await) })
        .await;
    assert_eq!(out, None);
    assert!(!lock.locked());
}

#[creche::test(autojump)]
async fn dropped_pending_lock_unqueues_or_hands_on() {
    let _w = watchdog("dropped_pending_lock_unqueues_or_hands_on");
    let lock = Lock::new();
    let guard = lock.try_lock().unwrap();
    let mut a = Box::pin(lock.lock());
    let mut b = Box::pin(lock.lock());
    let mut c = Box::pin(lock.lock());
    for f in [&mut a, &mut b, &mut c] {
        assert!(futures_lite::future::poll_once(f).await.is_none());
    }
    assert_eq!(lock.statistics().tasks_waiting, 3);
    drop(b); // queued: just unlinked
    assert_eq!(lock.statistics().tasks_waiting, 2);
    drop(guard); // handed to a
    assert!(lock.locked());
    drop(a); // granted, never observed: handed on to c
    assert_eq!(lock.statistics().tasks_waiting, 0);
    let guard = futures_lite::future::poll_once(&mut c)
        .await
        .expect("handed on");
    drop(guard);
    drop(c);
    assert!(!lock.locked());
    assert_eq!(lock.__queued_nodes(), 0);
}
