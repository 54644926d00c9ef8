//! Spawning under contention: many threads spawning and blocking on one runtime at once,
//! and long chains of tasks that each spawn and await the next.

mod common;

use common::{spawn_and_sum, watchdog};
use creche::Runtime;
use std::sync::Arc;

fn runtime(workers: usize) -> Runtime {
    Runtime::builder().worker_threads(workers).build().unwrap()
}

#[test]
fn stampede_spawn_from_many_threads() {
    let _w = watchdog("stampede_spawn_from_many_threads");
    const THREADS: u64 = 4;
    const PER_THREAD: u64 = 2_500;
    let rt = runtime(2);
    let barrier = Arc::new(std::sync::Barrier::new(THREADS as usize + 1));
    // Foreign threads spawn through handles (onto the injector) and await with another
    // executor...
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let (handle, barrier) = (rt.handle().clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                let tasks: Vec<_> = (0..PER_THREAD)
                    .map(|i| handle.spawn(async move { t * PER_THREAD + i }))
                    .collect();
                tasks
                    .into_iter()
                    .map(|task| futures_lite::future::block_on(task).unwrap())
                    .sum::<u64>()
            })
        })
        .collect();
    // ...while a task spawns onto the workers' own queues.
    let inside = rt.spawn(spawn_and_sum(PER_THREAD));
    barrier.wait();
    let mut total: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    total += rt.block_on(inside).unwrap();
    let n = THREADS * PER_THREAD;
    assert_eq!(total, n * (n - 1) / 2 + PER_THREAD * (PER_THREAD - 1) / 2);
}

#[test]
fn stampede_block_on_from_many_threads() {
    let _w = watchdog("stampede_block_on_from_many_threads");
    const THREADS: u64 = 4;
    const TASKS: u64 = 500;
    let rt = runtime(2);
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let handle = rt.handle().clone();
            std::thread::spawn(move || {
                handle.block_on(async move {
                    let tasks: Vec<_> = (0..TASKS)
                        .map(|i| {
                            creche::spawn(async move {
                                // Each task spawns and awaits a child.
                                creche::spawn(async move { t * TASKS + i }).await.unwrap()
                            })
                        })
                        .collect();
                    let mut sum = 0;
                    for task in tasks {
                        sum += task.await.unwrap();
                    }
                    sum
                })
            })
        })
        .collect();
    let total: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    let n = THREADS * TASKS;
    assert_eq!(total, n * (n - 1) / 2);
}

/// Spawns a chain of `depth` tasks, each spawning the next and awaiting it.
fn chain(depth: u32) -> std::pin::Pin<Box<dyn std::future::Future<Output = u32> + Send>> {
    Box::pin(async move {
        if depth == 0 {
            0
        } else {
            creche::spawn(chain(depth - 1)).await.unwrap() + 1
        }
    })
}

#[test]
fn spawn_chain_of_nested_tasks() {
    let _w = watchdog("spawn_chain_of_nested_tasks");
    for workers in [1, 2] {
        let rt = runtime(workers);
        assert_eq!(rt.block_on(chain(2_000)), 2_000);
    }
}

/// A blocking job sees its own `JobControl`: it can take the runtime's activity unit once,
/// and detach; both show in its `Debug`. Outside the blocking pool there is no job.
#[test]
fn blocking_job_control_take_activity_once_and_detach() {
    use creche_runtime::blocking::current_job;
    let _w = watchdog("blocking_job_control_take_activity_once_and_detach");
    assert!(current_job().is_none());
    let rt = Runtime::builder().worker_threads(1).build().unwrap();
    let (before, lease, again, after) = rt.block_on(async {
        creche::spawn_blocking(|| {
            let job = current_job().expect("on the blocking pool");
            let before = format!("{job:?}");
            let lease = job.take_activity().map(|lease| format!("{lease:?}"));
            let again = job.take_activity().is_some();
            job.detach();
            (before, lease, again, format!("{job:?}"))
        })
        .await
        .unwrap()
    });
    assert_eq!(before, "JobControl { unit_taken: false, detached: false }");
    let lease = lease.expect("the first take gets the unit");
    assert!(lease.starts_with("ActivityLease { counted: "), "{lease}");
    assert!(!again, "the unit is taken once");
    assert_eq!(after, "JobControl { unit_taken: true, detached: true }");
}
