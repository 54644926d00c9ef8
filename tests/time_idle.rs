//! `wait_all_tasks_blocked`: returns once every other task is blocked, before a virtual clock
//! jumps, not while a task is runnable or a blocking job runs, on any clock.

mod common;

use common::{runtime_on, watchdog};
use creche::testing::{MockClock, wait_all_tasks_blocked};
use creche::time::{Instant, current_time, sleep, sleep_forever};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

#[test]
fn returns_once_the_other_tasks_have_run_out_of_work() {
    let _watchdog = watchdog("idle: runnable");
    let rt = runtime_on(2, MockClock::new());
    rt.block_on(async {
        let steps = Arc::new(AtomicUsize::new(0));
        for _ in 0..4 {
            let steps = steps.clone();
            creche::spawn(async move {
                for _ in 0..500 {
                    steps.fetch_add(1, SeqCst);
                    creche::yield_now().await;
                }
                sleep_forever().await;
            });
        }
        wait_all_tasks_blocked().await;
        assert_eq!(steps.load(SeqCst), 2_000);
        // Again: a second wait needs a second quiescent moment, and gets it.
        wait_all_tasks_blocked().await;
    });
}

#[test]
fn waits_for_a_blocking_job_and_comes_before_an_autojump() {
    let _watchdog = watchdog("idle: blocking");
    let rt = runtime_on(2, MockClock::autojump());
    rt.block_on(async {
        let done = Arc::new(AtomicUsize::new(0));
        let flag = done.clone();
        let job = creche::spawn_blocking(move || {
            for _ in 0..10_000 {
                std::thread::yield_now();
            }
            flag.store(1, SeqCst);
        });
        let sleeper = creche::spawn(sleep(Duration::from_secs(60)));
        wait_all_tasks_blocked().await;
        assert_eq!(done.load(SeqCst), 1, "returned while a blocking job ran");
        assert_eq!(
            current_time(),
            Instant::ZERO,
            "the clock jumped before the waiter ran"
        );
        job.await.unwrap();
        sleeper.await.unwrap();
        assert_eq!(current_time(), Instant::ZERO + Duration::from_secs(60));
    });
}

#[test]
fn works_on_the_system_clock_and_from_many_waiters() {
    let _watchdog = watchdog("idle: system clock");
    let rt = creche::Builder::new().worker_threads(2).build().unwrap();
    rt.block_on(async {
        let released = Arc::new(AtomicUsize::new(0));
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let released = released.clone();
                creche::spawn(async move {
                    wait_all_tasks_blocked().await;
                    released.fetch_add(1, SeqCst);
                })
            })
            .collect();
        let _forever = creche::spawn(sleep_forever());
        for waiter in waiters {
            waiter.await.unwrap();
        }
        assert_eq!(released.load(SeqCst), 3);
    });
}
