//! Checkpoints (TESTPLAN §1.3, §1.5, §1.10): creche's leaf operations are where cancellation
//! lands; `checkpoint()` yields exactly once, spends coop budget, notices a deadline that
//! passed on the clock before the timer fired, and lets a busy loop be cancelled from another
//! worker.

mod common;

use common::{Counter, runtime_on, tracked, watchdog};
use creche::runtime::coop::{self, BUDGET};
use creche::time::{MockClock, current_time, sleep, sleep_forever};
use creche::{CancelScope, checkpoint};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::time::Duration;

type Op = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A named way to make a leaf operation.
type NamedOp = (&'static str, fn() -> Op);

/// For each of `checkpoint()`, `sleep(ZERO)` and `sleep_forever()`: the body cancels its own
/// scope, then awaits the operation. `run` gives `None`, the code after the await never runs,
/// and the scope catches.
#[creche::test]
async fn leaf_ops_are_cancellation_points() {
    let _w = watchdog("leaf_ops_are_cancellation_points");
    let ops: [NamedOp; 3] = [
        ("checkpoint", || Box::pin(checkpoint())),
        ("sleep(ZERO)", || Box::pin(sleep(Duration::ZERO))),
        ("sleep_forever", || Box::pin(sleep_forever())),
    ];
    for (name, op) in ops {
        let scope = CancelScope::new();
        let (before, after) = (Counter::new(), Counter::new());
        let (s, b, a) = (scope.clone(), before.clone(), after.clone());
        let out = scope
            .run(async move {
                b.incr();
                s.cancel();
                op().await;
                a.incr();
            })
            .await;
        assert_eq!(out, None, "{name}");
        assert_eq!((before.get(), after.get()), (1, 0), "{name}");
        assert!(scope.cancel_called() && scope.cancelled_caught(), "{name}");
    }
}

/// `checkpoint()` yields exactly once: a tracked wrapper sees 2 polls, inside a scope or not.
#[creche::test]
async fn checkpoint_yields_once() {
    let _w = watchdog("checkpoint_yields_once");
    let (polls, drops) = (Counter::new(), Counter::new());
    tracked(checkpoint(), &polls, &drops).await;
    assert_eq!((polls.get(), drops.get()), (2, 1));

    let (polls, drops) = (Counter::new(), Counter::new());
    let out = CancelScope::new()
        .run(tracked(checkpoint(), &polls, &drops))
        .await;
    assert_eq!(out, Some(()));
    assert_eq!((polls.get(), drops.get()), (2, 1));
}

/// How many checkpoints the looping task may pass before the test declares that it starved the
/// other task (instead of hanging).
const STARVATION_LIMIT: u64 = 100_000;

/// `checkpoint()` is a scheduling point that spends coop budget. On a 1-worker runtime, a task
/// looping on `checkpoint()` lets a task spawned from outside run (and set the flag that ends
/// the loop). And a completed checkpoint takes one unit of the poll's budget: after it, the
/// same poll completes `BUDGET - 1` budgeted operations before it must yield.
#[test]
fn checkpoint_spends_budget() {
    let _w = watchdog("checkpoint_spends_budget");
    let rt = creche::Builder::new().worker_threads(1).build().unwrap();

    // A loop of checkpoints does not starve a task that becomes runnable meanwhile.
    let flag = Arc::new(AtomicBool::new(false));
    let started = Counter::new();
    let looping = rt.spawn({
        let (flag, started) = (flag.clone(), started.clone());
        async move {
            started.incr();
            let mut turns = 0;
            while !flag.load(SeqCst) {
                if turns == STARVATION_LIMIT {
                    return Err(turns);
                }
                checkpoint().await;
                turns += 1;
            }
            Ok(turns)
        }
    });
    started.wait_for(1); // the only worker is now inside the loop
    let setter = rt.spawn(async move { flag.store(true, SeqCst) });
    let turns = rt
        .block_on(looping)
        .unwrap()
        .unwrap_or_else(|n| panic!("the checkpoint loop starved the other task ({n} turns)"));
    assert!(turns >= 1);
    rt.block_on(setter).unwrap();

    // The unit a checkpoint spends.
    let polls = Counter::new();
    let ready_in_same_poll = rt
        .block_on(rt.spawn(tracked(
            {
                let polls = polls.clone();
                async move {
                    checkpoint().await; // completes at the start of a fresh poll
                    let poll = polls.get();
                    let mut ready = 0;
                    loop {
                        coop::consume_budget().await;
                        if polls.get() != poll {
                            break; // that one had to yield first
                        }
                        ready += 1;
                    }
                    ready
                }
            },
            &polls,
            &Counter::new(),
        )))
        .unwrap();
    assert_eq!(ready_in_same_poll, usize::from(BUDGET) - 1);
}

/// A checkpoint notices a deadline that has passed on the clock, even before the timer wheel
/// fires it: deadline at 5 s; checkpoint; the clock jumps 10 s; checkpoint: the body is
/// dropped there.
#[test]
fn checkpoint_sees_expired_deadline() {
    let _w = watchdog("checkpoint_sees_expired_deadline");
    let clock = MockClock::new();
    let rt = runtime_on(1, clock.clone());
    rt.block_on(async {
        let t0 = current_time();
        let scope = CancelScope::new();
        scope.set_deadline(t0 + Duration::from_secs(5));
        let (first, after) = (Counter::new(), Counter::new());
        let (f, a) = (first.clone(), after.clone());
        let out = scope
            .run(async move {
                checkpoint().await;
                f.incr();
                clock.jump(Duration::from_secs(10)).unwrap();
                checkpoint().await;
                a.incr();
            })
            .await;
        assert_eq!(out, None);
        assert_eq!((first.get(), after.get()), (1, 0));
        assert!(scope.cancel_called() && scope.cancelled_caught());
        assert_eq!(current_time() - t0, Duration::from_secs(10));
    });
}

/// With 2 workers, a task busy-looping on `checkpoint()` (it never sleeps) is cancelled by
/// another task: its scope drops the body, which stops looping.
#[creche::test(worker_threads = 2)]
async fn busy_loop_with_checkpoint_is_cancelled_from_another_worker() {
    let _w = watchdog("busy_loop_with_checkpoint_is_cancelled_from_another_worker");
    let scope = CancelScope::new();
    let (turns, polls, drops) = (Counter::new(), Counter::new(), Counter::new());
    let busy = creche::spawn({
        let (scope, turns) = (scope.clone(), turns.clone());
        let body = tracked(
            async move {
                loop {
                    turns.incr();
                    checkpoint().await;
                }
            },
            &polls,
            &drops,
        );
        async move { scope.run(body).await }
    });
    let canceller = creche::spawn({
        let (scope, turns) = (scope.clone(), turns.clone());
        async move {
            while turns.get() < 100 {
                creche::yield_now().await;
            }
            scope.cancel();
        }
    });
    canceller.await.unwrap();
    let out: Option<()> = busy.await.unwrap();
    assert_eq!(out, None);
    assert_eq!(drops.get(), 1);
    let final_turns = turns.get();
    assert!(final_turns >= 100);
    creche::yield_now().await;
    assert_eq!(turns.get(), final_turns, "the loop stopped");
    assert!(scope.cancel_called() && scope.cancelled_caught());
}
