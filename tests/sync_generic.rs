//! The generic lock tests of SYNC_TESTPLAN §1.2, once per lock-like kind (`Lock`,
//! `Semaphore::new(1)`, `CapacityLimiter::new(1)`, `Condition`'s lock): mutual exclusion on
//! one and two workers; FIFO fairness (a strict round robin in queue order, on one and two
//! workers); a hold taken with `try_*` blocks a later acquire; and acquire is a cancellation
//! point that spends coop budget (SYNC_TESTPLAN Q3). The channel-built locks of the plan
//! belong with the channels.

mod common;

use common::{Counter, tracked, watchdog};
use creche::sync::{CapacityLimiter, Condition, Lock, Semaphore};
use creche::testing::wait_all_tasks_blocked;
use creche::{CancelScope, checkpoint, open_nursery};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};

/// Emits the generic tests for one kind: `$make` builds it, `$acquire` (an expression using
/// `$l`, with `.await`) and `$try` (using `$t`) take it; the guard releases when dropped.
macro_rules! lock_like {
    ($kind:ident, $make:expr, |$l:ident| $acquire:expr, |$t:ident| $try:expr) => {
        mod $kind {
            use super::*;

            /// 5 tasks × 10 rounds, two checkpoints inside: nobody else is ever inside.
            async fn exclusion() {
                let lock = Arc::new($make);
                let inside = Arc::new(AtomicBool::new(false));
                let acquires = Arc::new(AtomicUsize::new(0));
                open_nursery(|n| {
                    let (lock, inside, acquires) = (lock.clone(), inside.clone(), acquires.clone());
                    async move {
                        for _ in 0..5 {
                            let (lock, inside, acquires) =
                                (lock.clone(), inside.clone(), acquires.clone());
                            n.spawn(async move {
                                for _ in 0..10 {
                                    let $l = &*lock;
                                    let _guard = $acquire;
                                    assert!(!inside.swap(true, SeqCst), "two holders at once");
                                    checkpoint().await;
                                    checkpoint().await;
                                    inside.store(false, SeqCst);
                                    acquires.fetch_add(1, SeqCst);
                                }
                                Ok::<_, ()>(())
                            });
                        }
                        Ok(())
                    }
                })
                .await
                .unwrap();
                assert_eq!(acquires.load(SeqCst), 50);
            }

            #[creche::test(autojump, worker_threads = 1)]
            async fn exclusion_one_worker() {
                let _w = watchdog("exclusion_one_worker");
                exclusion().await;
            }

            #[creche::test(autojump, worker_threads = 2)]
            async fn exclusion_two_workers() {
                let _w = watchdog("exclusion_two_workers");
                exclusion().await;
            }

            /// The body holds the lock until 3 tasks have queued (in index order); then each of
            /// the 3 takes it 5 times, re-queueing behind the others: a strict round robin.
            async fn fifo_fairness() {
                let lock = Arc::new($make);
                let record = Arc::new(Mutex::new(Vec::new()));
                open_nursery(|n| {
                    let (lock, record) = (lock.clone(), record.clone());
                    async move {
                        let held = {
                            let $t = &*lock;
                            $try.unwrap()
                        };
                        for i in 0..3 {
                            let (lock, record) = (lock.clone(), record.clone());
                            n.spawn(async move {
                                for _ in 0..5 {
                                    let $l = &*lock;
                                    let _guard = $acquire;
                                    record.lock().unwrap().push(i);
                                    checkpoint().await;
                                }
                                Ok::<_, ()>(())
                            });
                            wait_all_tasks_blocked().await;
                        }
                        drop(held);
                        Ok(())
                    }
                })
                .await
                .unwrap();
                let expected: Vec<usize> = (0..15).map(|k| k % 3).collect();
                assert_eq!(*record.lock().unwrap(), expected);
            }

            #[creche::test(autojump, worker_threads = 1)]
            async fn fifo_fairness_one_worker() {
                let _w = watchdog("fifo_fairness_one_worker");
                fifo_fairness().await;
            }

            #[creche::test(autojump, worker_threads = 2)]
            async fn fifo_fairness_two_workers() {
                let _w = watchdog("fifo_fairness_two_workers");
                fifo_fairness().await;
            }

            /// Rule 1 of SYNC_TESTPLAN §0: in a cancelled scope a free lock-like is not
            /// taken; and a loop of ready acquires spends coop budget, so its task yields.
            #[creche::test(autojump, worker_threads = 1)]
            async fn acquire_is_a_cancel_point_and_spends_budget() {
                let _w = watchdog("acquire_is_a_cancel_point_and_spends_budget");
                let lock = Arc::new($make);
                let scope = CancelScope::new();
                scope.cancel();
                let after = Counter::new();
                let out = scope
                    .run(async {
                        let $l = &*lock;
                        let _guard = $acquire;
                        after.incr();
                    })
                    .await;
                assert_eq!((out, after.get()), (None, 0));
                let probe = {
                    let $t = &*lock;
                    $try
                };
                assert!(probe.is_ok(), "nothing was taken");
                drop(probe);

                let (polls, drops) = (Counter::new(), Counter::new());
                let looping = lock.clone();
                creche::spawn(tracked(
                    async move {
                        for _ in 0..1000 {
                            let $l = &*looping;
                            drop($acquire);
                        }
                    },
                    &polls,
                    &drops,
                ))
                .await
                .unwrap();
                assert!(
                    polls.get() >= 1000 / 128,
                    "{} polls: never yielded",
                    polls.get()
                );
                assert_eq!(drops.get(), 1);
            }

            /// Taken with `try_*`, the lock keeps a later acquire waiting until released.
            #[creche::test(autojump, worker_threads = 2)]
            async fn try_acquire_blocks_acquire() {
                let _w = watchdog("try_acquire_blocks_acquire");
                let lock = Arc::new($make);
                let record = Arc::new(Mutex::new(Vec::new()));
                open_nursery(|n| {
                    let (lock, record) = (lock.clone(), record.clone());
                    async move {
                        let held = {
                            let $t = &*lock;
                            $try.unwrap()
                        };
                        let (l, r) = (lock.clone(), record.clone());
                        n.spawn(async move {
                            r.lock().unwrap().push("started");
                            let $l = &*l;
                            let _guard = $acquire;
                            r.lock().unwrap().push("got");
                            Ok::<_, ()>(())
                        });
                        wait_all_tasks_blocked().await;
                        assert_eq!(*record.lock().unwrap(), ["started"]);
                        drop(held);
                        wait_all_tasks_blocked().await;
                        assert_eq!(*record.lock().unwrap(), ["started", "got"]);
                        Ok(())
                    }
                })
                .await
                .unwrap();
            }
        }
    };
}

lock_like!(lock, Lock::new(), |l| l.lock().await, |t| t.try_lock());
lock_like!(semaphore, Semaphore::new(1), |l| l.acquire().await, |t| t
    .try_acquire());
lock_like!(
    limiter,
    CapacityLimiter::new(1),
    |l| l.acquire().await,
    |t| t.try_acquire()
);
lock_like!(condition, Condition::new(), |l| l.lock().await, |t| t
    .try_lock());
