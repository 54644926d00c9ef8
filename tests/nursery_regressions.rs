//! Regression tests for bugs a review of the nursery crate found, one test each, on the
//! MockClock (the watchdog turns a hang into a failure).

mod common;

use common::{secs, watchdog};
use creche::time::{Instant, current_time, sleep, sleep_forever};
use creche::{CancelScope, Nursery, TaskStatus, checkpoint, open_nursery};

/// Dropping a pending `start` whose child sits idle dropped the child in place while holding
/// the hidden node's lock, which the child's drop takes again: the thread deadlocked.
#[creche::test(autojump)]
async fn dropping_a_pending_start_does_not_deadlock() {
    let _w = watchdog("dropping_a_pending_start_does_not_deadlock");
    let out = open_nursery(|n: Nursery<()>| async move {
        let mut start = n.start(|_status: TaskStatus<()>| async move {
            sleep_forever().await;
            Ok::<(), ()>(())
        });
        assert!(futures_lite::future::poll_once(&mut start).await.is_none());
        creche::testing::wait_all_tasks_blocked().await; // the child is idle in its sleep
        drop(start);
        Ok(())
    })
    .await;
    assert_eq!(out, Ok(Some(())));
}

/// A `start` polled in one task, moved to another and dropped after the first task ended used
/// to write to that task's freed root decision (found with AddressSanitizer). The decision
/// points are now kept alive by whoever may adjust them.
#[creche::test(autojump)]
async fn start_moved_out_of_its_task_is_dropped_safely() {
    let _w = watchdog("start_moved_out_of_its_task_is_dropped_safely");
    open_nursery(|n: Nursery<()>| async move {
        let (tx, rx) = std::sync::mpsc::channel();
        let n2 = n.clone();
        let h = n.spawn(async move {
            let mut start = n2.start(|_status: TaskStatus<()>| async move {
                sleep(secs(1)).await;
                Ok::<(), ()>(()) // ends without `started`
            });
            let _ = futures_lite::future::poll_once(&mut start).await; // pins this task's root
            tx.send(start).unwrap();
            Ok(())
        });
        h.join().await.unwrap();
        for _ in 0..200 {
            n.spawn(async { Ok(()) }).join().await.unwrap(); // sweeps the finished entry
        }
        sleep(secs(2)).await; // the started child has ended
        drop(rx.recv().unwrap());
        Ok(())
    })
    .await
    .unwrap();
}

/// A `start` that hands its child over to an already-cancelled nursery must reach the child's
/// own nurseries: their tasks were not woken, and the block never ended.
#[creche::test(autojump)]
async fn handover_into_cancelled_nursery_reaches_grandchildren() {
    let _w = watchdog("handover_into_cancelled_nursery_reaches_grandchildren");
    let out = open_nursery(|t: Nursery<()>| async move {
        t.cancel_scope().cancel();
        let shield = CancelScope::new();
        shield.set_shield(true);
        let t2 = t.clone();
        let started = shield
            .run(async move {
                t2.start(|status: TaskStatus<()>| async move {
                    open_nursery(|inner: Nursery<()>| async move {
                        inner.spawn(async {
                            sleep_forever().await;
                            Ok(())
                        });
                        creche::testing::wait_all_tasks_blocked().await;
                        status.started(());
                        sleep_forever().await;
                        Ok(())
                    })
                    .await
                    .map(drop)
                })
                .await
            })
            .await;
        assert!(matches!(started, Some(Ok(()))));
        Ok(()) // no await after the shielded region: the body completes
    })
    .await;
    assert_eq!(out, Ok(Some(())));
}

/// A panic in `start`'s closure (before any child exists) left an entry the nursery waited
/// for forever; now it undoes the entry and the panic reaches the nursery's caller.
#[creche::test(autojump)]
async fn panic_in_start_closure_propagates() {
    let _w = watchdog("panic_in_start_closure_propagates");
    let out = std::panic::AssertUnwindSafe(open_nursery(|n: Nursery<()>| async move {
        let _ = n
            .start(|_s: TaskStatus<()>| -> std::future::Ready<Result<(), ()>> {
                panic!("boom in start's closure")
            })
            .await;
        Ok(())
    }));
    let caught = futures_lite::FutureExt::catch_unwind(out).await;
    let payload = caught.expect_err("the panic propagates");
    assert_eq!(common::panic_message(&*payload), "boom in start's closure");
}

/// A deadline moved to `Instant::MAX` and then into the past from a plain thread (no clock to
/// read there) was lost: the timer entry's refusal was ignored.
#[creche::test(autojump)]
async fn foreign_deadline_in_the_past_after_max_cancels() {
    let _w = watchdog("foreign_deadline_in_the_past_after_max_cancels");
    let scope = CancelScope::new();
    scope.set_deadline(current_time() + secs(3600));
    let s2 = scope.clone();
    let out = scope
        .run(async move {
            checkpoint().await; // the deadline is armed after this first Pending
            let now = current_time();
            std::thread::spawn(move || {
                s2.set_deadline(Instant::MAX);
                s2.set_deadline(now); // already passed
            })
            .join()
            .unwrap();
            sleep_forever().await
        })
        .await;
    assert_eq!(out, None);
    assert!(scope.cancel_called() && scope.cancelled_caught());
}
