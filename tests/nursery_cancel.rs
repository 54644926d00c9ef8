//! Cancelling a nursery: its children (and their nurseries' children) are dropped exactly once
//! before `open_nursery` returns; a child of a cancelled nursery stops at its first await;
//! children follow the nursery's cancellation, not the spawner's scope; a scope around a
//! nursery waits for the children to be dropped before it drops the nursery; a deadline on the
//! nursery's scope bounds the whole block.

mod common;

use common::{Counter, DropCount, secs, tracked, watchdog};
use creche::testing::wait_all_tasks_blocked;
use creche::time::{Instant, current_time, sleep, sleep_forever};
use creche::{CancelScope, checkpoint, open_nursery};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};

/// Snapshots a counter when dropped.
struct SnapshotOnDrop(Counter, Arc<AtomicUsize>);

impl Drop for SnapshotOnDrop {
    fn drop(&mut self) {
        self.1.store(self.0.get(), SeqCst);
    }
}

#[creche::test(autojump)]
async fn cancelled_children_dropped_once_before_return() {
    let _w = watchdog("cancelled_children_dropped_once_before_return");
    const N: usize = 8;
    let t0 = current_time();
    let (polls, drops, finished) = (Counter::new(), Counter::new(), Counter::new());
    let moved_drops = Counter::new();
    let moved = DropCount(moved_drops.clone());
    let (p, d, f) = (polls.clone(), drops.clone(), finished.clone());
    let result = open_nursery(|n| async move {
        let _moved = moved;
        for _ in 0..N {
            let f = f.clone();
            n.spawn(tracked(
                async move {
                    sleep_forever().await;
                    f.incr();
                    Ok::<(), ()>(())
                },
                &p,
                &d,
            ));
        }
        wait_all_tasks_blocked().await;
        n.cancel_scope().cancel();
        sleep_forever().await;
        Ok(())
    })
    .await;
    assert_eq!(result, Ok(None));
    assert_eq!(drops.get(), N);
    assert_eq!(
        moved_drops.get(),
        1,
        "the body's value was dropped before the return"
    );
    assert_eq!(finished.get(), 0);
    assert_eq!(
        polls.get(),
        N,
        "each child polled once, then dropped without a poll"
    );
    assert_eq!(current_time(), t0);
}

#[creche::test(worker_threads = 2, autojump)]
async fn cancellation_reaches_grandchildren() {
    let _w = watchdog("cancellation_reaches_grandchildren");
    let (leaf_polls, leaf_drops) = (Counter::new(), Counter::new());
    let (body_polls, body_drops) = (Counter::new(), Counter::new());
    let inner_returned = Counter::new();
    let (lp, ld, bp, bd, ir) = (
        leaf_polls.clone(),
        leaf_drops.clone(),
        body_polls.clone(),
        body_drops.clone(),
        inner_returned.clone(),
    );
    let result = open_nursery(|n| async move {
        for _ in 0..2 {
            let (lp, ld, bp, bd, ir) = (lp.clone(), ld.clone(), bp.clone(), bd.clone(), ir.clone());
            n.spawn(async move {
                let out = open_nursery(|inner| {
                    tracked(
                        async move {
                            for _ in 0..2 {
                                inner.spawn(tracked(
                                    async {
                                        sleep_forever().await;
                                        Ok::<(), ()>(())
                                    },
                                    &lp,
                                    &ld,
                                ));
                            }
                            sleep_forever().await;
                            Ok(())
                        },
                        &bp,
                        &bd,
                    )
                })
                .await;
                ir.incr();
                out.map(drop)
            });
        }
        while lp.get() < 4 {
            checkpoint().await;
        }
        n.cancel_scope().cancel();
        sleep_forever().await;
        Ok(())
    })
    .await;
    assert_eq!(result, Ok(None));
    assert_eq!(leaf_drops.get(), 4);
    assert_eq!(body_drops.get(), 2);
    assert_eq!(
        inner_returned.get(),
        0,
        "the children were dropped inside their await"
    );
    assert_eq!(leaf_polls.get(), 4);
}

#[creche::test(autojump)]
async fn child_in_cancelled_nursery_stops_at_first_await() {
    let _w = watchdog("child_in_cancelled_nursery_stops_at_first_await");
    let (polls, drops) = (Counter::new(), Counter::new());
    let (started, after) = (Counter::new(), Counter::new());
    let (p, d, s, a) = (polls.clone(), drops.clone(), started.clone(), after.clone());
    let result = open_nursery(|n| async move {
        n.cancel_scope().cancel();
        n.spawn(tracked(
            async move {
                s.incr();
                sleep_forever().await;
                a.incr();
                Ok::<(), ()>(())
            },
            &p,
            &d,
        ));
        sleep_forever().await;
        Ok(())
    })
    .await;
    assert_eq!(result, Ok(None));
    assert_eq!(started.get(), 1, "the child is polled once");
    assert_eq!(after.get(), 0);
    assert_eq!(drops.get(), 1);
    assert_eq!(polls.get(), 1);
}

#[creche::test(autojump)]
async fn child_follows_nursery_not_spawner() {
    let _w = watchdog("child_follows_nursery_not_spawner");
    let t0 = current_time();
    let (polls, drops) = (Counter::new(), Counter::new());
    let done_at: Arc<Mutex<Option<Instant>>> = Arc::default();
    let caught = Arc::new(AtomicUsize::new(0));
    let (p, d, at, c) = (
        polls.clone(),
        drops.clone(),
        done_at.clone(),
        caught.clone(),
    );
    let result = open_nursery(|n| async move {
        let n2 = n.clone();
        n.spawn(async move {
            let scope = CancelScope::new();
            let s = scope.clone();
            let out = scope
                .run(async move {
                    n2.spawn(tracked(
                        async move {
                            sleep(secs(1)).await;
                            *at.lock().unwrap() = Some(current_time());
                            Ok(())
                        },
                        &p,
                        &d,
                    ));
                    s.cancel();
                    sleep_forever().await;
                })
                .await;
            assert_eq!(out, None);
            if scope.cancelled_caught() {
                c.store(1, SeqCst);
            }
            Ok(())
        });
        Ok::<_, ()>(())
    })
    .await;
    assert_eq!(result, Ok(Some(())));
    assert_eq!(
        caught.load(SeqCst),
        1,
        "the spawner's scope caught its own cancel"
    );
    assert_eq!(
        *done_at.lock().unwrap(),
        Some(t0 + secs(1)),
        "the child survived"
    );
    assert_eq!(drops.get(), 1);
    assert_eq!(current_time() - t0, secs(1));
}

#[creche::test(autojump)]
async fn outer_scope_waits_for_nursery_children() {
    let _w = watchdog("outer_scope_waits_for_nursery_children");
    const N: usize = 5;
    let t0 = current_time();
    let (polls, drops) = (Counter::new(), Counter::new());
    let seen_at_body_drop = Arc::new(AtomicUsize::new(usize::MAX));
    let returned = Counter::new();
    let outer = CancelScope::new();
    let (p, d, snap, o, r) = (
        polls.clone(),
        drops.clone(),
        seen_at_body_drop.clone(),
        outer.clone(),
        returned.clone(),
    );
    let out = outer
        .run(async move {
            let result = open_nursery(|n| async move {
                let _snapshot = SnapshotOnDrop(d.clone(), snap);
                for _ in 0..N {
                    n.spawn(tracked(
                        async {
                            sleep_forever().await;
                            Ok::<(), ()>(())
                        },
                        &p,
                        &d,
                    ));
                }
                n.spawn(async move {
                    sleep(secs(1)).await;
                    o.cancel();
                    Ok(())
                });
                sleep_forever().await;
                Ok(())
            })
            .await;
            r.incr();
            result
        })
        .await;
    assert_eq!(out, None);
    assert!(outer.cancel_called() && outer.cancelled_caught());
    assert_eq!(returned.get(), 0, "the nursery was dropped, not returned");
    assert_eq!(drops.get(), N, "every child dropped before run returned");
    assert_eq!(
        seen_at_body_drop.load(SeqCst),
        N,
        "the children were dropped before the nursery's body"
    );
    assert_eq!(current_time() - t0, secs(1));
}

#[creche::test(autojump)]
async fn deadline_on_nursery_scope_bounds_block() {
    let _w = watchdog("deadline_on_nursery_scope_bounds_block");
    let t0 = current_time();
    let (polls, drops) = (Counter::new(), Counter::new());
    let (p, d) = (polls.clone(), drops.clone());
    let mut kept = None;
    let result = open_nursery(|n| {
        kept = Some(n.cancel_scope());
        async move {
            n.cancel_scope().deadline_after(secs(5));
            n.spawn(tracked(
                async {
                    sleep_forever().await;
                    Ok::<(), ()>(())
                },
                &p,
                &d,
            ));
            sleep_forever().await;
            Ok(())
        }
    })
    .await;
    assert_eq!(result, Ok(None));
    assert_eq!(current_time() - t0, secs(5));
    assert_eq!(drops.get(), 1);
    let scope = kept.unwrap();
    assert!(scope.cancel_called() && scope.cancelled_caught());
    assert_eq!(scope.deadline(), t0 + secs(5));
}

#[creche::test(autojump)]
async fn deadline_on_nursery_scope_after_body_returned() {
    let _w = watchdog("deadline_on_nursery_scope_after_body_returned");
    let t0 = current_time();
    let (polls, drops) = (Counter::new(), Counter::new());
    let (p, d) = (polls.clone(), drops.clone());
    let result = open_nursery(|n| async move {
        let n2 = n.clone();
        n.spawn(tracked(
            async move {
                // The body has returned (without ever being Pending): the block is closing.
                n2.cancel_scope().deadline_after(secs(1));
                sleep_forever().await;
                Ok::<(), ()>(())
            },
            &p,
            &d,
        ));
        Ok(())
    })
    .await;
    assert_eq!(result, Ok(Some(())));
    assert_eq!(drops.get(), 1);
    assert_eq!(current_time() - t0, secs(1));
}

#[test]
fn deadline_set_from_foreign_thread_fires_under_autojump() {
    let _w = watchdog("deadline_set_from_foreign_thread_fires_under_autojump");
    let (tx, rx) = std::sync::mpsc::channel::<(CancelScope, Instant)>();
    let foreign = std::thread::spawn(move || {
        for (scope, at) in rx {
            scope.set_deadline(at);
        }
    });
    let rt = common::runtime_on(1, creche::time::MockClock::autojump());
    for _ in 0..1_000 {
        let tx = tx.clone();
        let scope = CancelScope::new();
        let s = scope.clone();
        let out = rt.block_on(scope.run(async move {
            checkpoint().await; // Pending once: the scope's deadline is armed
            let at = current_time() + std::time::Duration::from_millis(1);
            tx.send((s, at)).unwrap();
            sleep_forever().await;
        }));
        assert_eq!(out, None);
    }
    drop(tx);
    foreign.join().unwrap();
}
