//! `creche::map_concurrent`: values in input order; at most `limit` jobs at once (exact
//! virtual times on the autojump clock); limit 0 means 1; the first error cancels the other
//! jobs (and no new job starts, even when the jobs never wait) and is returned; a panic is
//! resumed with its payload; empty input; a cancelled scope or a passed deadline around the
//! call stops the workers between jobs; the jobs run in parallel on several workers.

mod common;

use common::{Counter, DropCount, panic_message, runtime_on, secs, watchdog};
use creche::time::{Instant, MockClock, current_time, sleep, sleep_forever};
use creche::{CancelScope, current_effective_deadline, map_concurrent, move_on_after};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

/// Counts jobs running at once and keeps the highest count seen.
#[derive(Clone, Default)]
struct Concurrency {
    now: Arc<AtomicUsize>,
    max: Arc<AtomicUsize>,
}

impl Concurrency {
    fn enter(&self) -> Running {
        let now = self.now.fetch_add(1, SeqCst) + 1;
        self.max.fetch_max(now, SeqCst);
        Running(self.now.clone())
    }
    fn max(&self) -> usize {
        self.max.load(SeqCst)
    }
}

/// One running job; leaves the count when dropped (completed or cancelled).
struct Running(Arc<AtomicUsize>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.fetch_sub(1, SeqCst);
    }
}

/// Jobs that finish in the reverse order of their input still come back in input order, and
/// values that are neither `Copy` nor `Clone`-needed move through.
#[creche::test(autojump)]
async fn values_come_back_in_input_order() {
    let _w = watchdog("values_come_back_in_input_order");
    let items: Vec<String> = (0..200).map(|i| format!("item {i}")).collect();
    let start = current_time();
    let out = map_concurrent(items, 16, |item: String| async move {
        let i: u64 = item[5..].parse().unwrap();
        sleep(Duration::from_millis(1000 - i)).await; // later items finish first
        Ok::<_, ()>(format!("{item} done"))
    })
    .await
    .unwrap();
    let expected: Vec<String> = (0..200).map(|i| format!("item {i} done")).collect();
    assert_eq!(out, expected);
    assert!(current_time() > start);
}

/// Many CPU-only jobs (they never wait) over several workers, in order.
#[test]
fn cpu_jobs_in_order_on_several_workers() {
    let _w = watchdog("cpu_jobs_in_order_on_several_workers");
    let rt = runtime_on(3, MockClock::autojump());
    let out = rt
        .block_on(map_concurrent(0..10_000u64, 3, |i| async move {
            Ok::<_, ()>((0..i % 100).sum::<u64>() + i)
        }))
        .unwrap();
    assert_eq!(out.len(), 10_000);
    for (i, v) in out.into_iter().enumerate() {
        let i = i as u64;
        assert_eq!(v, (0..i % 100).sum::<u64>() + i, "item {i}");
    }
}

/// limit 2, 8 jobs of `d`: never more than 2 at once, and exactly ceil(8 / 2) × d of virtual
/// time (the two workers each run four jobs back to back).
#[creche::test(autojump, worker_threads = 2)]
async fn at_most_limit_jobs_run_at_once() {
    let _w = watchdog("at_most_limit_jobs_run_at_once");
    let d = secs(5);
    let conc = Concurrency::default();
    let c = conc.clone();
    let start = current_time();
    let out = map_concurrent(0..8u32, 2, move |i| {
        let c = c.clone();
        async move {
            let _running = c.enter();
            sleep(d).await;
            Ok::<_, ()>(i)
        }
    })
    .await;
    assert_eq!(out, Ok((0..8).collect::<Vec<_>>()));
    assert_eq!(conc.max(), 2);
    assert_eq!(current_time() - start, 4 * d);
}

/// A limit above the number of jobs runs them all at once (one worker per job).
#[creche::test(autojump, worker_threads = 2)]
async fn a_limit_above_the_count_runs_every_job_at_once() {
    let _w = watchdog("a_limit_above_the_count_runs_every_job_at_once");
    let conc = Concurrency::default();
    let c = conc.clone();
    let start = current_time();
    let out = map_concurrent(0..8u32, 100, move |i| {
        let c = c.clone();
        async move {
            let _running = c.enter();
            sleep(secs(3)).await;
            Ok::<_, ()>(i * 2)
        }
    })
    .await;
    assert_eq!(out, Ok((0..8).map(|i| i * 2).collect::<Vec<_>>()));
    assert_eq!(conc.max(), 8);
    assert_eq!(current_time() - start, secs(3));
}

/// `limit == 0` is treated as 1: the jobs run one after the other.
#[creche::test(autojump, worker_threads = 2)]
async fn limit_zero_runs_one_job_at_a_time() {
    let _w = watchdog("limit_zero_runs_one_job_at_a_time");
    let conc = Concurrency::default();
    let c = conc.clone();
    let start = current_time();
    let out = map_concurrent(0..5u32, 0, move |i| {
        let c = c.clone();
        async move {
            let _running = c.enter();
            sleep(secs(2)).await;
            Ok::<_, ()>(i)
        }
    })
    .await;
    assert_eq!(out, Ok(vec![0, 1, 2, 3, 4]));
    assert_eq!(conc.max(), 1);
    assert_eq!(current_time() - start, secs(10));
}

/// Empty input: `Ok(vec![])` without calling `f`, also outside any runtime (no nursery).
#[test]
fn empty_input_returns_an_empty_vec_without_a_runtime() {
    let calls = Counter::new();
    let c = calls.clone();
    let out = futures_lite::future::block_on(map_concurrent(Vec::<u32>::new(), 4, move |i| {
        c.incr();
        async move { Ok::<_, ()>(i) }
    }));
    assert_eq!(out, Ok(vec![]));
    assert_eq!(calls.get(), 0);
}

/// Empty input inside a runtime, with limit 0.
#[creche::test(autojump)]
async fn empty_input_in_a_runtime() {
    let out = map_concurrent(
        std::iter::empty::<u8>(),
        0,
        |i| async move { Ok::<u8, ()>(i) },
    )
    .await;
    assert_eq!(out, Ok(vec![]));
    assert_eq!(current_time(), Instant::ZERO);
}

/// The first error is returned as soon as the jobs are gone: the jobs still sleeping are
/// dropped (cancelled) and none completes.
#[creche::test(autojump, worker_threads = 2)]
async fn the_first_error_cancels_the_other_jobs_and_is_returned() {
    let _w = watchdog("the_first_error_cancels_the_other_jobs_and_is_returned");
    let drops = Counter::new();
    let completed = Counter::new();
    let (d, c) = (drops.clone(), completed.clone());
    let start = current_time();
    let out = map_concurrent(0..8u32, 8, move |i| {
        let guard = DropCount(d.clone());
        let c = c.clone();
        async move {
            let _guard = guard;
            if i == 3 {
                sleep(secs(1)).await;
                return Err(format!("job {i} failed"));
            }
            sleep(secs(3600)).await;
            c.incr();
            Ok(i)
        }
    })
    .await;
    assert_eq!(out, Err("job 3 failed".to_owned()));
    assert_eq!(current_time() - start, secs(1));
    assert_eq!(drops.get(), 8, "every job's future was dropped");
    assert_eq!(completed.get(), 0);
}

/// With a limit below the count, the jobs not yet started never start after a failure.
#[creche::test(autojump, worker_threads = 2)]
async fn no_job_starts_after_a_failure() {
    let _w = watchdog("no_job_starts_after_a_failure");
    let started = Counter::new();
    let s = started.clone();
    let start = current_time();
    let out = map_concurrent(0..50u32, 2, move |i| {
        s.incr();
        async move {
            match i {
                0 => sleep(secs(10)).await,
                1 => {
                    sleep(secs(1)).await;
                    return Err(i);
                }
                _ => unreachable!("job {i} started after the failure"),
            }
            Ok(i)
        }
    })
    .await;
    assert_eq!(out, Err(1));
    assert_eq!(started.get(), 2);
    assert_eq!(current_time() - start, secs(1));
}

/// Jobs that never wait (pure CPU work) cannot be dropped mid-way, but a failure stops the
/// other workers before their next job: job 1 spins until it sees the cancellation caused by
/// job 0's error, and no job after it starts.
#[test]
fn cpu_jobs_stop_between_items_after_a_failure() {
    let _w = watchdog("cpu_jobs_stop_between_items_after_a_failure");
    let rt = runtime_on(2, MockClock::autojump());
    let started = Counter::new();
    let s = started.clone();
    let out = rt.block_on(map_concurrent(0..100u32, 2, move |i| {
        s.incr();
        async move {
            match i {
                0 => Err("job 0 failed"),
                1 => {
                    // Never awaits: spins until the nursery is cancelled by job 0's error.
                    while current_effective_deadline() != Instant::ZERO {
                        std::thread::yield_now();
                    }
                    Ok(i)
                }
                _ => Ok(i),
            }
        }
    }));
    assert_eq!(out, Err("job 0 failed"));
    // Job 1 may not have started at all (its worker saw the cancellation first).
    assert!(started.get() <= 2, "{} jobs started", started.get());
}

/// A job's panic is resumed (payload unchanged) once the other jobs are dropped.
#[test]
fn a_panic_propagates_with_its_payload() {
    let _w = watchdog("a_panic_propagates_with_its_payload");
    let rt = runtime_on(2, MockClock::autojump());
    let drops = Counter::new();
    let d = drops.clone();
    let result = catch_unwind(AssertUnwindSafe(|| {
        rt.block_on(map_concurrent(0..6u32, 6, move |i| {
            let guard = DropCount(d.clone());
            async move {
                let _guard = guard;
                if i == 4 {
                    sleep(secs(2)).await;
                    panic!("job {i} panicked");
                }
                sleep_forever().await;
                Ok::<u32, ()>(i)
            }
        }))
    }));
    let payload = result.expect_err("the panic reached block_on's caller");
    assert_eq!(panic_message(&*payload), "job 4 panicked");
    assert_eq!(drops.get(), 6);
}

/// A scope around the call that is cancelled cancels the jobs; the scope catches (run returns
/// `None`) once every job is dropped.
#[creche::test(autojump, worker_threads = 2)]
async fn cancelling_the_scope_around_it_cancels_the_jobs() {
    let _w = watchdog("cancelling_the_scope_around_it_cancels_the_jobs");
    let scope = CancelScope::new();
    let canceller = scope.clone();
    let started = Counter::new();
    let drops = Counter::new();
    let (s, d) = (started.clone(), drops.clone());
    let start = current_time();
    let out = scope
        .run(async move {
            creche::spawn(async move {
                sleep(secs(7)).await;
                canceller.cancel();
            });
            map_concurrent(0..10u32, 4, move |i| {
                s.incr();
                let guard = DropCount(d.clone());
                async move {
                    let _guard = guard;
                    sleep_forever().await;
                    Ok::<u32, ()>(i)
                }
            })
            .await
        })
        .await;
    assert_eq!(out, None);
    assert!(scope.cancelled_caught());
    assert_eq!(current_time() - start, secs(7));
    assert_eq!(started.get(), 4, "only `limit` jobs started");
    assert_eq!(drops.get(), 4);
}

/// A deadline that passes on the clock while every job is CPU work (no timer gets a chance to
/// fire) stops the workers before their next job; `move_on_after` returns `None`.
#[test]
fn a_passed_deadline_stops_cpu_jobs_between_items() {
    let _w = watchdog("a_passed_deadline_stops_cpu_jobs_between_items");
    let clock = MockClock::new(); // stands still unless jumped
    let rt = runtime_on(2, clock.clone());
    let started = Counter::new();
    let at_jump = Arc::new(AtomicUsize::new(usize::MAX));
    let (s, j) = (started.clone(), at_jump.clone());
    let out = rt.block_on(move_on_after(
        secs(10),
        map_concurrent(0..1000u32, 2, move |i| {
            s.incr();
            let (clock, s, j) = (clock.clone(), s.clone(), j.clone());
            async move {
                if i == 10 {
                    clock.jump(secs(20)).unwrap();
                    j.store(s.get(), SeqCst); // counted once the jump is done
                }
                Ok::<_, ()>(i)
            }
        }),
    ));
    assert_eq!(out, None);
    // After the jump, each worker starts at most the one job it had already claimed (the
    // other worker may have run ahead before job 10 was polled: only the count matters).
    let at_jump = at_jump.load(SeqCst);
    assert!(at_jump < 1000, "job 10 ran");
    assert!(
        started.get() <= at_jump + 2,
        "{} jobs started, {at_jump} when the clock jumped",
        started.get()
    );
}

/// The jobs run in parallel on different worker threads: two jobs that never wait each spin
/// until both have started.
#[test]
fn jobs_run_in_parallel_on_several_workers() {
    let _w = watchdog("jobs_run_in_parallel_on_several_workers");
    let rt = runtime_on(2, MockClock::autojump());
    let arrived = Counter::new();
    let a = arrived.clone();
    let threads = rt
        .block_on(map_concurrent(0..2u32, 2, move |_| {
            let a = a.clone();
            async move {
                a.incr();
                a.wait_for(2);
                Ok::<_, ()>(std::thread::current().id())
            }
        }))
        .unwrap();
    assert_ne!(threads[0], threads[1]);
}

/// The workers appear in the task tree under their name, with the caller's site.
#[creche::test(autojump)]
async fn workers_are_named_after_the_call_site() {
    let _w = watchdog("workers_are_named_after_the_call_site");
    let line = line!() + 1;
    let trees = map_concurrent(0..2u32, 2, |_| async {
        Ok::<_, ()>(creche::lowlevel::task_tree().to_string())
    })
    .await
    .unwrap();
    let needle = format!("map_concurrent worker (called at tests/nursery_map.rs:{line}:");
    assert!(trees[0].contains(&needle), "{}", trees[0]);
}
