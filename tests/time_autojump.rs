//! Autojump on the multi-threaded runtime: virtual time jumps to the next deadline only when
//! every worker is idle, no task is runnable and no blocking job runs; tasks waking each other
//! across workers see exact virtual times. No test reads the wall clock.

mod common;

use common::{runtime_on, secs, watchdog};
use creche::time::{Instant, MockClock, current_time, sleep};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::time::Duration;

/// Two tasks pass a token back and forth through channels, sleeping in between; with two or
/// three workers they run on different threads. Every hand-off happens at an exact virtual time.
#[test]
fn tasks_waking_each_other_across_workers_see_exact_virtual_times() {
    let _watchdog = watchdog("ping pong");
    for workers in [2, 3] {
        let rt = runtime_on(workers, MockClock::autojump());
        rt.block_on(async {
            let (to_b, mut at_b) = tokio::sync::mpsc::channel::<u32>(1);
            let (to_a, mut at_a) = tokio::sync::mpsc::channel::<u32>(1);
            let start = current_time();
            let b = creche::spawn(async move {
                let mut seen = Vec::new();
                while let Some(round) = at_b.recv().await {
                    seen.push(current_time() - start);
                    sleep(secs(2)).await;
                    if to_a.send(round).await.is_err() {
                        break;
                    }
                }
                seen
            });
            let a = creche::spawn(async move {
                let mut seen = Vec::new();
                for round in 0..20 {
                    sleep(secs(1)).await;
                    to_b.send(round).await.unwrap();
                    at_a.recv().await.unwrap();
                    seen.push(current_time() - start);
                }
                seen
            });
            let a = a.await.unwrap();
            let b = b.await.unwrap();
            for round in 0..20_u64 {
                assert_eq!(b[round as usize], secs(3 * round + 1), "b, round {round}");
                assert_eq!(a[round as usize], secs(3 * round + 3), "a, round {round}");
            }
            assert_eq!(current_time() - start, secs(60));
        });
    }
}

/// Spawns a task that sleeps an hour, then reports what `flag` said when it woke.
fn sleep_an_hour_then_read(flag: Arc<AtomicBool>) -> creche::JoinHandle<bool> {
    creche::spawn(async move {
        sleep(secs(3600)).await;
        flag.load(SeqCst)
    })
}

/// A task that stays runnable (it yields, again and again) holds time still: the hour-long
/// sleep cannot end before it has finished.
#[test]
fn no_jump_while_a_task_is_runnable() {
    let _watchdog = watchdog("runnable");
    let rt = runtime_on(2, MockClock::autojump());
    rt.block_on(async {
        let done = Arc::new(AtomicBool::new(false));
        let sleeper = sleep_an_hour_then_read(done.clone());
        let busy = creche::spawn(async move {
            for _ in 0..20_000 {
                creche::yield_now().await;
            }
            done.store(true, SeqCst);
        });
        assert!(
            sleeper.await.unwrap(),
            "time jumped while a task was runnable"
        );
        busy.await.unwrap();
    });
}

/// A task waiting for a blocking job (a wake that a pool thread will deliver) holds time still.
#[test]
fn no_jump_while_a_blocking_job_runs() {
    let _watchdog = watchdog("blocking");
    let rt = runtime_on(2, MockClock::autojump());
    rt.block_on(async {
        let done = Arc::new(AtomicBool::new(false));
        let sleeper = sleep_an_hour_then_read(done.clone());
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job = creche::spawn_blocking(move || {
            for _ in 0..20_000 {
                std::thread::yield_now();
            }
            done.store(true, SeqCst);
            tx.send(current_time()).unwrap();
        });
        let waiter = creche::spawn(async move { rx.await.unwrap() });
        assert_eq!(
            waiter.await.unwrap(),
            Instant::ZERO,
            "the job saw time move"
        );
        job.await.unwrap();
        assert!(
            sleeper.await.unwrap(),
            "time jumped while a blocking job ran"
        );
        assert_eq!(current_time(), Instant::ZERO + secs(3600));
    });
}

/// The `block_on` thread counts as a worker: while it computes, nothing jumps.
#[test]
fn no_jump_while_the_block_on_future_runs() {
    let _watchdog = watchdog("block_on");
    let rt = runtime_on(2, MockClock::autojump());
    let woke = Arc::new(AtomicBool::new(false));
    let flag = woke.clone();
    // One `block_on`, busy from before the sleep exists (spawned from outside, the runtime
    // could go idle and jump before `block_on` began).
    rt.block_on(async {
        let sleeper = creche::spawn(async move {
            sleep(secs(10)).await;
            flag.store(true, SeqCst);
        });
        let mut total = 0_u64;
        for i in 0..200_000_u64 {
            total = total.wrapping_add(i * i);
            assert!(!woke.load(SeqCst), "time jumped while block_on was busy");
        }
        std::hint::black_box(total);
        sleeper.await.unwrap();
        assert!(woke.load(SeqCst));
    });
}

/// A positive threshold: time still jumps once the runtime has been idle for it.
#[test]
fn a_positive_threshold_still_jumps() {
    let _watchdog = watchdog("threshold");
    let clock = MockClock::new();
    clock.set_autojump_threshold(Some(Duration::from_millis(1)));
    let rt = runtime_on(2, clock);
    rt.block_on(async {
        sleep(secs(86_400)).await;
        assert_eq!(current_time(), Instant::ZERO + secs(86_400));
    });
}

/// Turning autojump on while a task waits wakes the driver, which then jumps.
#[test]
fn enabling_autojump_later_takes_effect() {
    let _watchdog = watchdog("enable later");
    let clock = MockClock::new();
    let rt = runtime_on(1, clock.clone());
    let sleeper = rt.spawn(async { sleep(secs(5)).await });
    clock.set_autojump_threshold(Some(Duration::ZERO));
    rt.block_on(sleeper).unwrap();
    assert_eq!(
        rt.block_on(async { current_time() }),
        Instant::ZERO + secs(5)
    );
}

/// Regression (review): a registered sleep moved to `Instant::MAX` ("never") was jumped to,
/// and the clock then read `Instant::MAX` for good.
#[test]
fn a_deadline_of_instant_max_is_never_jumped_to() {
    let _watchdog = watchdog("never");
    let rt = runtime_on(2, MockClock::autojump());
    rt.block_on(async {
        let mut never = sleep(secs(10));
        // Register it (first poll), then move it to "never".
        assert!(futures_lite::future::poll_once(&mut never).await.is_none());
        never.reset(Instant::MAX);
        sleep(secs(20)).await;
        assert_eq!(current_time(), Instant::ZERO + secs(20));
        assert!(!never.is_elapsed());
        // Moved back, it fires again.
        never.reset(Instant::ZERO + secs(30));
        never.await;
        assert_eq!(current_time(), Instant::ZERO + secs(30));
    });
}

/// Regression (review): `block_on` inside a blocking job counted the thread twice, so the
/// runtime never looked idle again and autojump stopped.
#[test]
fn block_on_inside_a_blocking_job_still_lets_time_jump() {
    let _watchdog = watchdog("blocking block_on");
    let rt = runtime_on(2, MockClock::autojump());
    let handle = rt.handle().clone();
    let waited = rt.block_on(async move {
        creche::spawn_blocking(move || {
            handle.block_on(async {
                let start = current_time();
                sleep(secs(3600)).await;
                current_time() - start
            })
        })
        .await
        .unwrap()
    });
    assert_eq!(waited, secs(3600));
    // And afterwards time still jumps.
    rt.block_on(async { sleep(secs(1)).await });
}
