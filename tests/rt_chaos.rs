//! Chaos mode (`Builder::chaos`, `#[creche::test(chaos)]`): one seed gives one order of
//! runnable tasks on one worker, different seeds give different orders, several workers still
//! run everything, and a test that fails under chaos prints the seed that reproduces it.

mod common;

use common::{spawn_and_sum, watchdog};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

/// Pending once, waking itself: the task goes back to the run queue (a plain wake, not a
/// yield, so no fairness timer of the worker decides when it comes back).
struct Requeue(bool);

impl Future for Requeue {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// The order in which 12 tasks, each running 3 steps, ran their steps on one worker under
/// chaos with `seed`.
fn observed_order(seed: Option<u64>) -> Vec<(usize, usize)> {
    let mut builder = creche::Builder::new().worker_threads(1);
    if let Some(seed) = seed {
        builder = builder.chaos(seed);
    }
    let rt = builder.build().unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let spawner_log = log.clone();
    // Everything runs on the worker, spawned from a task there: the block_on thread takes no
    // part after the first spawn.
    rt.block_on(rt.spawn(async move {
        let tasks: Vec<_> = (0..12)
            .map(|i| {
                let log = spawner_log.clone();
                creche::spawn(async move {
                    for step in 0..3 {
                        log.lock().unwrap().push((i, step));
                        Requeue(false).await;
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
    }))
    .unwrap();
    Arc::into_inner(log).unwrap().into_inner().unwrap()
}

#[test]
fn same_seed_same_order_on_one_worker() {
    let _w = watchdog("same_seed_same_order_on_one_worker");
    let first = observed_order(Some(0xC0FFEE));
    assert_eq!(first.len(), 36);
    let mut sorted = first.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), 36, "every step ran exactly once");
    for _ in 0..3 {
        assert_eq!(observed_order(Some(0xC0FFEE)), first);
    }
}

#[test]
fn different_seeds_give_different_orders() {
    let _w = watchdog("different_seeds_give_different_orders");
    let orders: Vec<_> = (1..=4).map(|seed| observed_order(Some(seed))).collect();
    for (i, a) in orders.iter().enumerate() {
        for b in &orders[i + 1..] {
            assert_ne!(a, b);
        }
    }
    // Without chaos: the LIFO slot's task first, then the queue in spawn order.
    let plain = observed_order(None);
    let firsts: Vec<usize> = plain
        .iter()
        .filter(|(_, step)| *step == 0)
        .map(|(i, _)| *i)
        .collect();
    assert_eq!(firsts, [11, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    assert!(orders.iter().all(|order| *order != plain));
}

#[creche::test(chaos, worker_threads = 3)]
async fn multi_worker_smoke() {
    let _w = watchdog("multi_worker_smoke");
    assert!(creche::Handle::current().chaos_seed().is_some());
    let sums: Vec<_> = (0..4).map(|_| creche::spawn(spawn_and_sum(200))).collect();
    for sum in sums {
        assert_eq!(sum.await.unwrap(), 199 * 200 / 2);
    }
    let out = creche::open_nursery(|n| async move {
        for i in 0..50u64 {
            n.spawn(async move {
                Requeue(false).await;
                creche::yield_now().await;
                Ok::<_, ()>(i)
            });
        }
        Ok::<_, ()>(())
    })
    .await;
    assert_eq!(out, Ok(Some(())));
}

#[creche::test(chaos = 77, worker_threads = 2)]
async fn an_explicit_seed() {
    assert_eq!(creche::Handle::current().chaos_seed(), Some(77));
}

/// Run by `a_failing_chaos_test_prints_its_seed` in a child process; passes otherwise.
#[creche::test(chaos, worker_threads = 2)]
#[ignore = "run as a child process by a_failing_chaos_test_prints_its_seed"]
async fn fails_under_chaos() {
    if std::env::var_os("CRECHE_CHAOS_SELF_TEST").is_some() {
        let seed = creche::Handle::current().chaos_seed();
        panic!("deliberate failure, seed {seed:?}");
    }
}

#[test]
fn a_failing_chaos_test_prints_its_seed() {
    let _w = watchdog("a_failing_chaos_test_prints_its_seed");
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", "fails_under_chaos", "--nocapture"])
        .args(["--test-threads", "1"])
        .env("CRECHE_SEED", "4242")
        .env("CRECHE_CHAOS_SELF_TEST", "1")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{text}");
    assert!(
        text.contains("deliberate failure, seed Some(4242)"),
        "{text}"
    );
    assert!(
        text.contains("chaos mode with seed 4242; reproduce it with CRECHE_SEED=4242"),
        "{text}"
    );
}

#[test]
#[should_panic(expected = "is not a seed")]
fn a_bad_seed_variable_is_reported() {
    // The variable is set in a child process: this one's environment stays untouched.
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", "fails_under_chaos", "--nocapture"])
        .env("CRECHE_SEED", "banana")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    panic!("{text}");
}
