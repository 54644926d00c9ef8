//! Cooperative scheduling: a task whose operations are always ready cannot starve the others
//! (the coop budget makes it yield), `yield_now` lets every other runnable task of the worker
//! go first, and the public budget API (`poll_proceed`, `Progress`, `consume_budget`,
//! `has_budget_remaining`) behaves as documented.

mod common;

use common::{Counter, Gate, tracked, watchdog};
use creche::Runtime;
use creche::runtime::coop::{self, BUDGET};
use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::task::{Poll, ready};

fn runtime(workers: usize) -> Runtime {
    Runtime::builder().worker_threads(workers).build().unwrap()
}

/// How many budget units the looping task may spend before the test declares it starved
/// the other task (instead of hanging).
const STARVATION_LIMIT: u64 = 200_000;

/// Loops on `consume_budget` (always ready) until `flag` is set; returns the iterations, or
/// `Err` if the limit was reached without the flag being set. Iterations count only once
/// `counting` is set (after the test has made the other task runnable), so a test thread that
/// the OS delays before it gets there cannot be mistaken for starvation.
async fn spin_on_budget_until(
    flag: Arc<AtomicBool>,
    started: Counter,
    counting: Arc<AtomicBool>,
) -> Result<u64, u64> {
    started.incr();
    let mut iterations = 0;
    while !flag.load(SeqCst) {
        if iterations == STARVATION_LIMIT {
            return Err(iterations);
        }
        coop::consume_budget().await;
        if counting.load(SeqCst) {
            iterations += 1;
        }
    }
    Ok(iterations)
}

#[test]
fn no_starvation_budget_loop_vs_task_spawned_from_outside() {
    let _w = watchdog("no_starvation_budget_loop_vs_task_spawned_from_outside");
    let rt = runtime(1);
    let flag = Arc::new(AtomicBool::new(false));
    let started = Counter::new();
    let counting = Arc::new(AtomicBool::new(false));
    let looping = rt.spawn(spin_on_budget_until(
        flag.clone(),
        started.clone(),
        counting.clone(),
    ));
    started.wait_for(1); // the only worker is now inside the loop
    let setter = rt.spawn(async move { flag.store(true, SeqCst) });
    counting.store(true, SeqCst);
    let iterations = rt
        .block_on(looping)
        .unwrap()
        .unwrap_or_else(|n| panic!("the looping task starved the other one ({n} iterations)"));
    assert!(iterations >= 1);
    rt.block_on(setter).unwrap();
}

#[test]
fn no_starvation_budget_loop_vs_task_it_spawned() {
    let _w = watchdog("no_starvation_budget_loop_vs_task_it_spawned");
    let rt = runtime(1);
    let result = rt.block_on(rt.spawn(async {
        let flag = Arc::new(AtomicBool::new(false));
        // Queued on this worker (its LIFO slot), behind the loop below.
        let setter = creche::spawn({
            let flag = flag.clone();
            async move { flag.store(true, SeqCst) }
        });
        let counting = Arc::new(AtomicBool::new(true));
        let result = spin_on_budget_until(flag, Counter::new(), counting).await;
        setter.await.unwrap();
        result
    }));
    let iterations = result.unwrap().unwrap_or_else(|n| {
        panic!("the looping task starved the task it spawned ({n} iterations)")
    });
    assert!(iterations >= BUDGET as u64 - 1, "{iterations}");
}

#[test]
fn no_starvation_budget_loop_vs_task_woken_from_foreign_thread() {
    let _w = watchdog("no_starvation_budget_loop_vs_task_woken_from_foreign_thread");
    let rt = runtime(1);
    let flag = Arc::new(AtomicBool::new(false));
    let gate = Gate::new();
    // Pending on the gate before the loop starts.
    let setter = rt.spawn({
        let (flag, gate) = (flag.clone(), gate.clone());
        async move {
            gate.wait().await;
            flag.store(true, SeqCst)
        }
    });
    while gate.registrations() == 0 {
        std::thread::yield_now();
    }
    let started = Counter::new();
    let counting = Arc::new(AtomicBool::new(false));
    let looping = rt.spawn(spin_on_budget_until(
        flag,
        started.clone(),
        counting.clone(),
    ));
    started.wait_for(1);
    // Woken from this (non-runtime) thread while the only worker loops.
    gate.open();
    counting.store(true, SeqCst);
    let iterations = rt
        .block_on(looping)
        .unwrap()
        .unwrap_or_else(|n| panic!("the looping task starved the woken one ({n} iterations)"));
    assert!(iterations >= 1);
    rt.block_on(setter).unwrap();
}

#[test]
fn coop_budget_is_spent_per_poll() {
    let _w = watchdog("coop_budget_is_spent_per_poll");
    let rt = runtime(1);
    let polls = Counter::new();
    let observed = rt
        .block_on(rt.spawn(tracked(
            {
                let polls = polls.clone();
                async move {
                    let first = polls.get();
                    assert!(coop::has_budget_remaining());
                    for _ in 0..BUDGET {
                        coop::consume_budget().await; // ready: same poll
                    }
                    let after_budget = (polls.get() - first, coop::has_budget_remaining());
                    coop::consume_budget().await; // spent: yields, resumes in a new poll
                    let after_yield = (polls.get() - first, coop::has_budget_remaining());
                    (after_budget, after_yield)
                }
            },
            &polls,
            &Counter::new(),
        )))
        .unwrap();
    assert_eq!(observed, ((0, false), (1, true)));
    // Outside a task's poll the budget is unlimited.
    assert!(coop::has_budget_remaining());
}

#[test]
fn coop_progress_dropped_gives_the_unit_back() {
    let _w = watchdog("coop_progress_dropped_gives_the_unit_back");
    let rt = runtime(1);
    let polls = Counter::new();
    let extra_polls = rt
        .block_on(rt.spawn(tracked(
            {
                let polls = polls.clone();
                async move {
                    let first = polls.get();
                    // An operation that never completes its unit: no budget is spent.
                    for _ in 0..10 * BUDGET as usize {
                        poll_fn(|cx| {
                            let progress = ready!(coop::poll_proceed(cx));
                            drop(progress);
                            Poll::Ready(())
                        })
                        .await;
                    }
                    assert!(coop::has_budget_remaining());
                    let without_progress = polls.get() - first;
                    // The same with made_progress: yields every BUDGET operations.
                    for _ in 0..10 * BUDGET as usize {
                        poll_fn(|cx| {
                            ready!(coop::poll_proceed(cx)).made_progress();
                            Poll::Ready(())
                        })
                        .await;
                    }
                    (without_progress, polls.get() - first)
                }
            },
            &polls,
            &Counter::new(),
        )))
        .unwrap();
    assert_eq!(
        extra_polls,
        (0, 9),
        "yields after every BUDGET completed operations"
    );
}

/// Runs `tasks` tasks of `steps` steps (a step: log the task's index, then `yield_now`), all
/// spawned in one poll of a spawner task so that they start together, and returns the log.
fn yield_log(rt: &Runtime, tasks: usize, steps: usize) -> Vec<usize> {
    let log = Arc::new(Mutex::new(Vec::with_capacity(tasks * steps)));
    rt.block_on(rt.spawn({
        let log = log.clone();
        async move {
            let handles: Vec<_> = (0..tasks)
                .map(|task| {
                    let log = log.clone();
                    creche::spawn(async move {
                        for _ in 0..steps {
                            log.lock().unwrap().push(task);
                            creche::yield_now().await;
                        }
                    })
                })
                .collect();
            for handle in handles {
                handle.await.unwrap();
            }
        }
    }))
    .unwrap();
    let log = Arc::into_inner(log).unwrap().into_inner().unwrap();
    assert_eq!(log.len(), tasks * steps);
    log
}

/// The brief's fairness property: no task takes its last step before every task has taken
/// its first.
fn assert_all_start_before_any_finishes(log: &[usize], tasks: usize, steps: usize) {
    let mut first = vec![None; tasks];
    let mut last = vec![0; tasks];
    let mut count = vec![0; tasks];
    for (position, &task) in log.iter().enumerate() {
        first[task].get_or_insert(position);
        last[task] = position;
        count[task] += 1;
    }
    assert!(count.iter().all(|&c| c == steps), "{count:?}");
    let latest_start = first.iter().map(|f| f.unwrap()).max().unwrap();
    let earliest_end = *last.iter().min().unwrap();
    assert!(
        latest_start < earliest_end,
        "task {} took all its {steps} steps (ending at {earliest_end}) before task {} took \
         its first (at {latest_start})",
        last.iter().position(|&l| l == earliest_end).unwrap(),
        first.iter().position(|&f| f == Some(latest_start)).unwrap(),
    );
}

#[test]
fn yield_now_interleaves_tasks_one_worker() {
    let _w = watchdog("yield_now_interleaves_tasks_one_worker");
    const TASKS: usize = 8;
    const STEPS: usize = 200;
    let rt = runtime(1);
    let log = yield_log(&rt, TASKS, STEPS);
    assert_all_start_before_any_finishes(&log, TASKS, STEPS);
    // Stronger, on one worker: between two steps of a task, every other unfinished task takes
    // a step (a yield lets every other runnable task go first).
    let mut remaining = [STEPS; TASKS];
    let mut previous_step: [Option<usize>; TASKS] = [None; TASKS];
    for (position, &task) in log.iter().enumerate() {
        if let Some(previous) = previous_step[task] {
            for other in (0..TASKS).filter(|&o| o != task && remaining[o] > 0) {
                let stepped = log[previous + 1..position].contains(&other);
                assert!(
                    stepped,
                    "task {task} stepped at {previous} and {position} while task {other} \
                     (unfinished) did not step in between"
                );
            }
        }
        previous_step[task] = Some(position);
        remaining[task] -= 1;
    }
}

#[test]
fn yield_now_interleaves_tasks_two_workers() {
    let _w = watchdog("yield_now_interleaves_tasks_two_workers");
    // Tasks are spread over two workers; if one worker thread were descheduled by the OS for
    // the whole time the other takes to run a task through all its steps, the property could
    // fail without a runtime bug: many steps make that window long (tens of ms of CPU).
    const TASKS: usize = 8;
    const STEPS: usize = 20_000;
    let rt = runtime(2);
    let log = yield_log(&rt, TASKS, STEPS);
    assert_all_start_before_any_finishes(&log, TASKS, STEPS);
}

#[test]
fn yield_now_and_budget_in_block_on() {
    let _w = watchdog("yield_now_and_budget_in_block_on");
    let rt = runtime(1);
    // block_on's future is not a task: yields and spent budgets wake it right away.
    let out = rt.block_on(async {
        for _ in 0..100 {
            creche::yield_now().await;
        }
        for _ in 0..10 * BUDGET as usize {
            coop::consume_budget().await;
        }
        creche::spawn(async { 3 }).await.unwrap()
    });
    assert_eq!(out, 3);
}
