//! `creche::sync::Semaphore` (SYNC_TESTPLAN §1.3): a release while tasks wait hands the permit
//! over (the count stays 0 and `try_acquire` fails); a permit granted to a waiter that is then
//! cancelled goes to the next one; cancelled waiters take nothing; `acquire` is a
//! cancellation point and spends coop budget.

mod common;

use common::{Counter, DropCount, tracked, watchdog};
use creche::sync::{Event, Semaphore, WouldBlock};
use creche::testing::wait_all_tasks_blocked;
use creche::{CancelScope, open_nursery};
use std::sync::{Arc, Mutex};

#[creche::test(autojump, worker_threads = 2)]
async fn release_hands_off_to_waiter() {
    let _w = watchdog("release_hands_off_to_waiter");
    let sem = Arc::new(Semaphore::new(1));
    sem.add_permits(1);
    assert_eq!(sem.available_permits(), 2);
    let first = sem.try_acquire().unwrap();
    let second = sem.try_acquire().unwrap();
    assert_eq!(sem.try_acquire().unwrap_err(), WouldBlock);
    let got = Counter::new();
    let release = Arc::new(Event::new());
    open_nursery(|n| {
        let (sem, got, release) = (sem.clone(), got.clone(), release.clone());
        async move {
            let (child_sem, child_got, r) = (sem.clone(), got.clone(), release.clone());
            n.spawn(async move {
                let _permit = child_sem.acquire().await;
                child_got.incr();
                r.wait().await; // holds the permit until the checks are done
                Ok::<_, ()>(())
            });
            wait_all_tasks_blocked().await;
            assert_eq!(sem.statistics().tasks_waiting, 1);
            drop(first);
            // Handed to the waiter: nothing became free, and a barging try_acquire fails.
            assert_eq!(sem.available_permits(), 0);
            assert_eq!(sem.try_acquire().unwrap_err(), WouldBlock);
            wait_all_tasks_blocked().await;
            assert_eq!(got.get(), 1);
            assert_eq!(sem.available_permits(), 0);
            release.set();
            Ok(())
        }
    })
    .await
    .unwrap();
    assert_eq!(sem.available_permits(), 1, "the child released its permit");
    drop(second);
    assert_eq!(sem.available_permits(), 2);
    assert_eq!(sem.__queued_nodes(), 0);
}

/// SYNC_TESTPLAN §0: A is granted the permit and cancelled before it runs; B gets it. On one
/// worker the release and the cancel happen inside one poll of a controller task, so A cannot
/// run in between.
#[creche::test(autojump, worker_threads = 1)]
async fn granted_then_cancelled_passes_on() {
    let _w = watchdog("granted_then_cancelled_passes_on");
    let sem = Arc::new(Semaphore::new(1));
    sem.try_acquire().unwrap().forget(); // "held": given back below with add_permits(1)
    let (a_got, b_got, a_drops) = (Counter::new(), Counter::new(), Counter::new());
    let a_scope = CancelScope::new();
    open_nursery(|n| {
        let (sem, a_got, b_got, a_drops) =
            (sem.clone(), a_got.clone(), b_got.clone(), a_drops.clone());
        let a_scope = a_scope.clone();
        async move {
            let (sem_a, sem_b) = (sem.clone(), sem.clone());
            let a_body = a_scope.clone().run(async move {
                let _d = DropCount(a_drops);
                let _p = sem_a.acquire().await;
                a_got.incr();
            });
            n.spawn(async move {
                a_body.await;
                Ok::<_, ()>(())
            });
            wait_all_tasks_blocked().await; // A queued first
            n.spawn(async move {
                let _p = sem_b.acquire().await;
                b_got.incr();
                Ok::<_, ()>(())
            });
            wait_all_tasks_blocked().await; // B queued behind A
            assert_eq!(sem.statistics().tasks_waiting, 2);
            let controller_sem = sem.clone();
            n.spawn(async move {
                controller_sem.add_permits(1); // the permit is handed to A, which has not run
                a_scope.cancel(); // no await in between: A is dropped at its decision point
                Ok::<_, ()>(())
            });
            Ok(())
        }
    })
    .await
    .unwrap();
    assert_eq!(
        (
            a_got.get(),
            b_got.get(),
            a_drops.get(),
            sem.available_permits()
        ),
        (0, 1, 1, 1)
    );
    assert_eq!(sem.__queued_nodes(), 0);
}

#[creche::test(autojump, worker_threads = 2)]
async fn cancelled_waiter_takes_nothing() {
    let _w = watchdog("cancelled_waiter_takes_nothing");
    let sem = Arc::new(Semaphore::new(1));
    let held = sem.try_acquire().unwrap();
    let order = Arc::new(Mutex::new(Vec::new()));
    let scopes: Vec<CancelScope> = (0..10).map(|_| CancelScope::new()).collect();
    open_nursery(|n| {
        let (sem, order, scopes) = (sem.clone(), order.clone(), scopes.clone());
        async move {
            for (i, scope) in scopes.iter().enumerate() {
                let (sem, order) = (sem.clone(), order.clone());
                let body = scope.clone().run(async move {
                    let _p = sem.acquire().await;
                    order.lock().unwrap().push(i);
                });
                n.spawn(async move {
                    body.await;
                    Ok::<_, ()>(())
                });
                wait_all_tasks_blocked().await; // queued in index order
            }
            assert_eq!(sem.statistics().tasks_waiting, 10);
            for scope in scopes.iter().skip(1).step_by(2) {
                scope.cancel();
            }
            wait_all_tasks_blocked().await;
            assert_eq!(sem.statistics().tasks_waiting, 5);
            assert_eq!(sem.available_permits(), 0);
            drop(held);
            Ok(())
        }
    })
    .await
    .unwrap();
    assert_eq!(*order.lock().unwrap(), [0, 2, 4, 6, 8]);
    assert_eq!(sem.available_permits(), 1);
    assert_eq!(sem.__queued_nodes(), 0);
}

/// Rule 1 of SYNC_TESTPLAN §0: in a cancelled scope a ready acquire does not complete and
/// takes nothing; and acquiring spends coop budget, so a loop of ready acquires yields.
#[creche::test(autojump, worker_threads = 1)]
async fn acquire_is_a_cancel_point_and_spends_budget() {
    let _w = watchdog("acquire_is_a_cancel_point_and_spends_budget");
    let sem = Arc::new(Semaphore::new(1));
    let scope = CancelScope::new();
    scope.cancel();
    let out = scope.run(async { sem.acquire().await.forget() }).await;
    assert_eq!(out, None);
    assert_eq!(sem.available_permits(), 1, "nothing was taken");

    let (polls, drops) = (Counter::new(), Counter::new());
    let looping_sem = sem.clone();
    let task = creche::spawn(tracked(
        async move {
            for _ in 0..1000 {
                drop(looping_sem.acquire().await);
            }
        },
        &polls,
        &drops,
    ));
    task.await.unwrap();
    assert!(
        polls.get() >= 1000 / 128,
        "the budget made the loop yield: {} polls",
        polls.get()
    );
    assert_eq!(drops.get(), 1);
    assert_eq!(sem.available_permits(), 1);
}

#[creche::test(autojump)]
async fn dropped_pending_acquire_unqueues() {
    let _w = watchdog("dropped_pending_acquire_unqueues");
    let sem = Semaphore::new(0);
    let mut first = Box::pin(sem.acquire());
    let mut second = Box::pin(sem.acquire());
    assert!(futures_lite::future::poll_once(&mut first).await.is_none());
    assert!(futures_lite::future::poll_once(&mut second).await.is_none());
    assert_eq!(sem.statistics().tasks_waiting, 2);
    sem.add_permits(1); // granted to `first`, which never looks
    assert_eq!(sem.statistics().tasks_waiting, 1);
    drop(first); // the grant goes on to `second`
    assert_eq!(sem.available_permits(), 0);
    let permit = futures_lite::future::poll_once(&mut second)
        .await
        .expect("forwarded");
    drop(permit);
    drop(second);
    assert_eq!(sem.available_permits(), 1);
    assert_eq!(sem.__queued_nodes(), 0);
    assert!(format!("{sem:?}").contains("available_permits: 1"));
}

#[test]
#[should_panic(expected = "more than Semaphore::MAX_PERMITS")]
fn add_permits_over_the_maximum_panics() {
    let sem = Semaphore::new(Semaphore::MAX_PERMITS - 1);
    let _permit = sem.try_acquire().unwrap(); // held permits count too
    sem.add_permits(2);
}

#[test]
fn forget_shrinks_the_semaphore() {
    let sem = Semaphore::new(Semaphore::MAX_PERMITS);
    sem.try_acquire().unwrap().forget();
    sem.add_permits(1); // room again after the forget
    assert_eq!(sem.available_permits(), Semaphore::MAX_PERMITS);
}

/// The permit and the acquire future describe themselves; `WouldBlock` says what it means.
#[creche::test]
async fn debug_forms_and_would_block_message() {
    let _w = watchdog("debug_forms_and_would_block_message");
    let sem = Semaphore::new(1);
    let permit = sem.try_acquire().unwrap();
    assert_eq!(format!("{permit:?}"), "SemaphorePermit { .. }");
    let err = sem.try_acquire().unwrap_err();
    assert_eq!(err, WouldBlock);
    assert_eq!(err.to_string(), "the operation would block");
    let mut acquire = std::pin::pin!(sem.acquire());
    assert!(format!("{acquire:?}").contains("queued: false"));
    assert!(
        futures_lite::future::poll_once(acquire.as_mut())
            .await
            .is_none()
    );
    assert!(format!("{acquire:?}").contains("queued: true"));
    drop(permit);
    let second = acquire.await;
    assert_eq!(sem.available_permits(), 0);
    drop(second);
    assert_eq!(sem.available_permits(), 1);
}
