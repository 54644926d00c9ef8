//! `Runtime::scope`: tasks that borrow local data, spawned from synchronous code. Borrowed
//! data is written in parallel and visible afterwards; `scope` returns only once every task's
//! future has been dropped, even when `f` or a task panics; the first unobserved task panic is
//! resumed with its payload; joins (blocking and `.await`), nested spawns, many tasks.
//! Every test runs on 1 and 2 workers.

mod common;

use common::{Counter, DropCount, Gate, panic_message, tracked, watchdog};
use creche::Runtime;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::task::{Context, Poll};

const WORKERS: [usize; 2] = [1, 2];

fn runtime(workers: usize) -> Runtime {
    Runtime::builder().worker_threads(workers).build().unwrap()
}

/// Yields `n` times, so that other tasks get to run in between.
async fn yields(n: usize) {
    for _ in 0..n {
        creche::yield_now().await;
    }
}

/// A task that waits until `gate` has `waiters` registered waiters, then opens it.
async fn open_when_waited_on(gate: &Gate, waiters: usize) {
    while gate.registrations() < waiters {
        creche::yield_now().await;
    }
    gate.open();
}

#[test]
fn smoke_chunks_mut_written_in_parallel() {
    let _w = watchdog("smoke_chunks_mut_written_in_parallel");
    for workers in WORKERS {
        let rt = runtime(workers);
        let mut data = vec![0_u64; 10_000];
        rt.scope(|s| {
            for (chunk_index, chunk) in data.chunks_mut(1_000).enumerate() {
                s.spawn(async move {
                    for (i, slot) in chunk.iter_mut().enumerate() {
                        *slot = (chunk_index * 1_000 + i) as u64 * 3;
                    }
                });
            }
        });
        assert!(data.iter().enumerate().all(|(i, &v)| v == i as u64 * 3));
    }
}

#[test]
fn smoke_returns_what_f_returns() {
    let _w = watchdog("smoke_returns_what_f_returns");
    for workers in WORKERS {
        let rt = runtime(workers);
        let words = [String::from("alpha"), String::from("beta")];
        // R may borrow from the environment, and may be computed from the tasks' outputs.
        let (first, lengths) = rt.scope(|s| {
            let lengths: Vec<_> = words.iter().map(|w| s.spawn(async { w.len() })).collect();
            let lengths: Vec<usize> = lengths.into_iter().map(|h| h.join().unwrap()).collect();
            (&words[0], lengths)
        });
        assert_eq!(first, "alpha");
        assert_eq!(lengths, [5, 4]);
    }
}

/// In its destructor, watches for a while whether `scope` has returned (which it must not
/// have), then counts its drop.
struct WatchfulDrop<'a> {
    drops: Counter,
    scope_returned: &'a AtomicBool,
    violated: &'a AtomicBool,
}

impl Drop for WatchfulDrop<'_> {
    fn drop(&mut self) {
        for _ in 0..1_000 {
            if self.scope_returned.load(SeqCst) {
                self.violated.store(true, SeqCst);
                break;
            }
            std::thread::yield_now();
        }
        self.drops.incr();
    }
}

/// A future that holds a [`WatchfulDrop`] until the future itself is dropped (a local of an
/// `async` block would be dropped when the block completes, inside its last poll).
struct Watched<'a, F> {
    future: Pin<Box<F>>,
    _watch: WatchfulDrop<'a>,
}

impl<F: Future> Future for Watched<'_, F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.future.as_mut().poll(cx)
    }
}

#[test]
fn destructors_every_future_dropped_when_scope_returns() {
    let _w = watchdog("destructors_every_future_dropped_when_scope_returns");
    const WAITERS: usize = 8;
    for workers in WORKERS {
        let rt = runtime(workers);
        let (gate, release) = (Gate::new(), Gate::new());
        let (polls, drops, watchful_drops) = (Counter::new(), Counter::new(), Counter::new());
        let (scope_returned, violated) = (AtomicBool::new(false), AtomicBool::new(false));
        let done = AtomicUsize::new(0);
        rt.scope(|s| {
            for _ in 0..WAITERS {
                let waiter = async {
                    gate.wait().await;
                    done.fetch_add(1, SeqCst);
                };
                let watched = Watched {
                    future: Box::pin(tracked(waiter, &polls, &drops)),
                    _watch: WatchfulDrop {
                        drops: watchful_drops.clone(),
                        scope_returned: &scope_returned,
                        violated: &violated,
                    },
                };
                s.spawn(watched);
            }
            // Opens the gate only after `f` has returned, so the waiters are still pending then.
            s.spawn(async {
                release.wait().await;
                open_when_waited_on(&gate, WAITERS).await;
            });
            assert_eq!(drops.get(), 0);
            release.open();
        });
        scope_returned.store(true, SeqCst);
        // Not eventually: at once.
        assert_eq!(drops.get(), WAITERS);
        assert_eq!(watchful_drops.get(), WAITERS);
        assert_eq!(done.load(SeqCst), WAITERS);
        assert!(!violated.load(SeqCst));
    }
}

#[test]
fn panic_in_task_resumed_after_the_others_finished() {
    let _w = watchdog("panic_in_task_resumed_after_the_others_finished");
    for workers in WORKERS {
        let rt = runtime(workers);
        let gate = Gate::new();
        let finished = AtomicBool::new(false);
        let drops = Counter::new();
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            rt.scope(|s| {
                s.spawn(async {
                    let _drop = DropCount(drops.clone());
                    gate.wait().await;
                    yields(10).await;
                    finished.store(true, SeqCst);
                });
                s.spawn(async {
                    gate.open();
                    std::panic::panic_any(String::from("boom 7"));
                });
            })
        }));
        let payload = outcome.unwrap_err();
        assert_eq!(*payload.downcast::<String>().unwrap(), "boom 7");
        assert!(finished.load(SeqCst));
        assert_eq!(drops.get(), 1);
    }
}

#[test]
fn panic_first_one_resumed() {
    let _w = watchdog("panic_first_one_resumed");
    for workers in WORKERS {
        let rt = runtime(workers);
        let payload = catch_unwind(AssertUnwindSafe(|| {
            rt.scope(|s| {
                let first = s.spawn(async { panic!("first") });
                // Dropped unobserved once the first has panicked (its handle says finished).
                s.spawn(async move {
                    while !first.is_finished() {
                        creche::yield_now().await;
                    }
                    drop(first);
                    panic!("second");
                });
            })
        }))
        .unwrap_err();
        assert_eq!(panic_message(payload.as_ref()), "first");
    }
}

#[test]
fn panic_observed_by_join_not_resumed() {
    let _w = watchdog("panic_observed_by_join_not_resumed");
    for workers in WORKERS {
        let rt = runtime(workers);
        let result = rt.scope(|s| {
            let failed = s.spawn(async { std::panic::panic_any(7_u32) });
            let err = failed.join().unwrap_err();
            assert!(err.is_panic());
            *err.into_panic().downcast::<u32>().unwrap()
        });
        assert_eq!(result, 7);
        // Awaited from another task of the scope: observed as well.
        let result = rt.scope(|s| {
            let failed = s.spawn(async { panic!("awaited") });
            let observer = s.spawn(async move {
                let payload = failed.await.unwrap_err().into_panic();
                panic_message(payload.as_ref())
            });
            observer.join().unwrap()
        });
        assert_eq!(result, "awaited");
    }
}

#[test]
fn panic_of_forgotten_handle_still_resumed() {
    let _w = watchdog("panic_of_forgotten_handle_still_resumed");
    for workers in WORKERS {
        let rt = runtime(workers);
        let payload = catch_unwind(AssertUnwindSafe(|| {
            rt.scope(|s| {
                std::mem::forget(s.spawn(async { panic!("forgotten") }));
            })
        }))
        .unwrap_err();
        assert_eq!(panic_message(payload.as_ref()), "forgotten");
    }
}

/// Panics with its message when dropped.
struct PanicOnDrop(&'static str);

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        panic!("{}", self.0);
    }
}

#[test]
fn panic_in_destructors_counts_as_task_panic() {
    let _w = watchdog("panic_in_destructors_counts_as_task_panic");
    for workers in WORKERS {
        let rt = runtime(workers);
        // The future's destructor, after it completed.
        let payload = catch_unwind(AssertUnwindSafe(|| {
            rt.scope(|s| {
                let bomb = PanicOnDrop("future destructor");
                s.spawn(async move {
                    let _bomb = &bomb;
                    yields(1).await;
                });
            })
        }))
        .unwrap_err();
        assert_eq!(panic_message(payload.as_ref()), "future destructor");
        // An output whose handle was dropped before it was ready.
        let gate = Gate::new();
        let payload = catch_unwind(AssertUnwindSafe(|| {
            rt.scope(|s| {
                drop(s.spawn(async {
                    gate.wait().await;
                    PanicOnDrop("output destructor")
                }));
                gate.open();
            })
        }))
        .unwrap_err();
        assert_eq!(panic_message(payload.as_ref()), "output destructor");
    }
}

#[test]
fn f_panics_scope_still_waits() {
    let _w = watchdog("f_panics_scope_still_waits");
    for workers in WORKERS {
        let rt = runtime(workers);
        let gate = Gate::new();
        let flag = AtomicBool::new(false);
        let drops = Counter::new();
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            rt.scope(|s| {
                s.spawn(async {
                    let _drop = DropCount(drops.clone());
                    gate.wait().await;
                    yields(10).await;
                    flag.store(true, SeqCst);
                });
                s.spawn(open_when_waited_on(&gate, 1));
                // A task panic loses to `f`'s.
                s.spawn(async { panic!("task") });
                panic!("f failed");
            })
        }));
        assert!(flag.load(SeqCst), "scope unwound before its task finished");
        assert_eq!(drops.get(), 1);
        assert_eq!(panic_message(outcome.unwrap_err().as_ref()), "f failed");
    }
}

#[test]
fn join_returns_value() {
    let _w = watchdog("join_returns_value");
    for workers in WORKERS {
        let rt = runtime(workers);
        let words = ["zero", "one", "two"];
        rt.scope(|s| {
            // The output may borrow from the environment too.
            let task = s.spawn(async { &words[1] });
            assert_eq!(*task.join().unwrap(), "one");
            let task = s.spawn(async {
                yields(3).await;
                vec![1, 2, 3]
            });
            assert_eq!(task.join().unwrap(), [1, 2, 3]);
            let task = s.spawn(async { 5 });
            while !task.is_finished() {
                std::thread::yield_now();
            }
            assert_eq!(task.join().unwrap(), 5);
        });
    }
}

#[test]
fn nested_spawn_through_scope_reference() {
    let _w = watchdog("nested_spawn_through_scope_reference");
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<creche_runtime::Scope<'static, 'static>>();
    assert_send_sync::<creche_runtime::ScopedJoinHandle<'static, u64>>();
    for workers in WORKERS {
        let rt = runtime(workers);
        let total = AtomicU64::new(0);
        let sum = rt.scope(|s| {
            let outer: Vec<_> = (0..10_u64)
                .map(|i| {
                    let total = &total;
                    s.spawn(async move {
                        let inner: Vec<_> = (0..10_u64)
                            .map(|j| {
                                s.spawn(async move {
                                    total.fetch_add(1, SeqCst);
                                    i * 10 + j
                                })
                            })
                            .collect();
                        let mut sum = 0;
                        for handle in inner {
                            sum += handle.await.unwrap();
                        }
                        // A grandchild nobody joins: the scope still waits for it.
                        s.spawn(async move {
                            yields(2).await;
                            total.fetch_add(1, SeqCst);
                        });
                        sum
                    })
                })
                .collect();
            outer.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
        });
        assert_eq!(sum, (0..100).sum::<u64>());
        assert_eq!(total.load(SeqCst), 110);
    }
}

#[test]
fn stress_many_tasks_counter_sum() {
    let _w = watchdog("stress_many_tasks_counter_sum");
    const TASKS: u64 = 10_000;
    for workers in WORKERS {
        let rt = runtime(workers);
        let counter = AtomicU64::new(0);
        let joined = rt.scope(|s| {
            let handles: Vec<_> = (0..TASKS)
                .map(|i| {
                    let counter = &counter;
                    s.spawn(async move {
                        counter.fetch_add(i, SeqCst);
                        i
                    })
                })
                .collect();
            // Join every other one; the rest are dropped unjoined.
            handles
                .into_iter()
                .step_by(2)
                .map(|h| h.join().unwrap())
                .sum::<u64>()
        });
        assert_eq!(counter.load(SeqCst), (0..TASKS).sum::<u64>());
        assert_eq!(joined, (0..TASKS).step_by(2).sum::<u64>());
    }
}

#[test]
fn scope_inside_runtime_panics_like_block_on() {
    let _w = watchdog("scope_inside_runtime_panics_like_block_on");
    for workers in WORKERS {
        let rt = runtime(workers);
        let called = AtomicBool::new(false);
        // Inside block_on.
        let payload = catch_unwind(AssertUnwindSafe(|| {
            rt.block_on(async { rt.scope(|_| called.store(true, SeqCst)) })
        }))
        .unwrap_err();
        assert!(panic_message(payload.as_ref()).contains("inside a creche runtime"));
        // Inside a task: the task panics, before `f` runs.
        let handle = rt.handle().clone();
        let err = rt
            .block_on(rt.spawn(async move { handle.scope(|_| ()) }))
            .unwrap_err();
        assert!(panic_message(err.into_panic().as_ref()).contains("inside a creche runtime"));
        assert!(!called.load(SeqCst));
        // From the blocking pool it is allowed.
        let handle = rt.handle().clone();
        let out = rt.block_on(rt.spawn_blocking(move || {
            let local = [1, 2, 3];
            handle.scope(|s| s.spawn(async { local.iter().sum::<i32>() }).join().unwrap())
        }));
        assert_eq!(out.unwrap(), 6);
    }
}

#[test]
fn shutdown_from_another_thread_cancels_handle_scope() {
    let _w = watchdog("shutdown_from_another_thread_cancels_handle_scope");
    for workers in WORKERS {
        let rt = runtime(workers);
        let handle = rt.handle().clone();
        let (drop_now, dropped) = (Gate::new(), Gate::new());
        let dropper = {
            let (drop_now, dropped) = (drop_now.clone(), dropped.clone());
            std::thread::spawn(move || {
                futures_lite::future::block_on(drop_now.wait());
                drop(rt);
                dropped.open();
            })
        };
        let drops = Counter::new();
        let local = String::from("borrowed");
        let outcome = handle.scope(|s| {
            // Counted by a wrapper: the task may be cancelled before its first poll.
            let pending = s.spawn(tracked(
                async {
                    let _borrow = &local;
                    std::future::pending::<()>().await;
                },
                &Counter::new(),
                &drops,
            ));
            drop_now.open();
            let cancelled = pending.join().unwrap_err().is_cancelled();
            futures_lite::future::block_on(dropped.wait());
            // Spawned after shutdown: cancelled at once.
            let late = s.spawn(async { local.len() });
            (cancelled, late.join().unwrap_err().is_cancelled())
        });
        assert_eq!(outcome, (true, true));
        assert_eq!(drops.get(), 1);
        dropper.join().unwrap();
    }
}

/// The passing twins of the `compile_fail` doctests on `Scope`: each differs from its failing
/// twin only in the point the doctest is about, so those fail for that reason.
#[test]
fn compile_fail_twins_compile() {
    let _w = watchdog("compile_fail_twins_compile");
    let rt = runtime(2);
    // The borrowed local outlives the scope.
    let local = vec![1, 2, 3];
    rt.scope(|s| {
        let borrowed = &local;
        s.spawn(async move { borrowed.len() });
    });
    // What leaves the closure does not hold the scope or a handle.
    let _debug = rt.scope(|s| format!("{s:?}"));
    let value = rt.scope(|s| s.spawn(async { 1 }).join());
    assert_eq!(value.unwrap(), 1);
    // An `Arc` instead of an `Rc` across the await.
    rt.scope(|s| {
        s.spawn(async {
            let shared = std::sync::Arc::new(1);
            creche::yield_now().await;
            *shared
        });
    });
    // Shared borrows only, while the tasks may run; the mutation after the scope.
    let mut data = vec![1, 2, 3];
    rt.scope(|s| {
        s.spawn(async { data.len() });
        s.spawn(async { data.first().copied() });
        let _ = data.len();
    });
    data.push(4);
}

/// A handle tells whether its task is done, also once the task panicked (its panic reported
/// to the scope) and once it ran to the end; its `Debug` says the same.
#[test]
fn is_finished_and_debug_for_panicked_and_finished_tasks() {
    let _w = watchdog("is_finished_and_debug_for_panicked_and_finished_tasks");
    let rt = runtime(1);
    let gate = Gate::new();
    let result = rt.scope(|s| {
        let waiting = s.spawn(async { gate.wait().await });
        assert_eq!(
            format!("{waiting:?}"),
            "ScopedJoinHandle { finished: false, .. }"
        );
        let failed = s.spawn(async { std::panic::panic_any(9_u32) });
        while !failed.is_finished() {
            std::thread::yield_now();
        }
        assert_eq!(
            format!("{failed:?}"),
            "ScopedJoinHandle { finished: true, .. }"
        );
        gate.open();
        waiting.join().unwrap();
        let err = failed.join().unwrap_err();
        *err.into_panic().downcast::<u32>().unwrap()
    });
    assert_eq!(result, 9);
}
