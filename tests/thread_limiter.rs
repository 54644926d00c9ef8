//! `to_thread` under a `CapacityLimiter`: at most its total runs at once (explicit limiter and
//! the runtime's default one, with and without abandon), and every way out gives the token
//! back.

mod common;

use common::{Counter, Gate, watchdog};
use creche::sync::CapacityLimiter;
use creche::thread::{
    default_thread_limiter, to_thread, to_thread_abandon_on_cancel_limited, to_thread_limited,
};
use creche::{CancelScope, open_nursery};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, mpsc};

/// Runs `2 * max` calls through `limiter`, each parking its thread until released; checks
/// that `max` threads run at once while `max` callers wait for a token.
async fn at_most(max: usize, limiter: CapacityLimiter, explicit: bool, abandon: bool) {
    let running = Arc::new(AtomicUsize::new(0));
    let high_water = Arc::new(AtomicUsize::new(0));
    let (ran, parked) = (Counter::new(), Counter::new());
    let (release, released) = mpsc::channel::<()>();
    let released = Arc::new(std::sync::Mutex::new(released));
    let calls = open_nursery(|n| {
        let (limiter, running, high_water) = (limiter.clone(), running.clone(), high_water.clone());
        let (ran, parked, released) = (ran.clone(), parked.clone(), released.clone());
        async move {
            for _ in 0..2 * max {
                let (running, high_water, limiter) =
                    (running.clone(), high_water.clone(), limiter.clone());
                let (ran, parked, released) = (ran.clone(), parked.clone(), released.clone());
                n.spawn(async move {
                    let job = move || {
                        let now = running.fetch_add(1, SeqCst) + 1;
                        high_water.fetch_max(now, SeqCst);
                        parked.incr();
                        let next = released.lock().unwrap().recv();
                        next.unwrap();
                        running.fetch_sub(1, SeqCst);
                        ran.incr();
                    };
                    match (explicit, abandon) {
                        (true, false) => to_thread_limited(&limiter, job).await,
                        (true, true) => to_thread_abandon_on_cancel_limited(&limiter, job).await,
                        (false, _) => to_thread(job).await,
                    }
                    Ok::<_, ()>(())
                });
            }
            Ok::<_, ()>(())
        }
    });
    let releaser = async {
        // `max` threads parked, `max` acquires queued behind them.
        while parked.get() < max || limiter.statistics().tasks_waiting < max {
            creche::yield_now().await;
        }
        assert_eq!(parked.get(), max, "no more than the limit got in");
        for _ in 0..2 * max {
            release.send(()).unwrap();
        }
    };
    let (out, ()) = creche::join(calls, releaser).await;
    assert_eq!(out, Ok(Some(())));
    assert_eq!(high_water.load(SeqCst), max);
    assert_eq!(ran.get(), 2 * max);
    assert_eq!(limiter.borrowed_tokens(), 0);
}

#[creche::test(worker_threads = 2)]
async fn at_most_limit_at_once() {
    let _w = watchdog("at_most_limit_at_once");
    for max in [2, 3] {
        at_most(max, CapacityLimiter::new(max), true, false).await;
        at_most(max, CapacityLimiter::new(max), true, true).await;
        let default = default_thread_limiter();
        default.set_total_tokens(max);
        at_most(max, default, false, false).await;
    }
}

#[creche::test(worker_threads = 2)]
async fn token_released_on_every_exit() {
    let _w = watchdog("token_released_on_every_exit");
    let limiter = CapacityLimiter::new(1);
    assert_eq!(to_thread_limited(&limiter, || 1).await, 1);
    assert_eq!(limiter.borrowed_tokens(), 0);
    let e: Result<(), ()> = to_thread_limited(&limiter, || Err(())).await;
    assert_eq!((e, limiter.borrowed_tokens()), (Err(()), 0));
    let panicked = {
        let limiter = limiter.clone();
        creche::spawn(async move { to_thread_limited(&limiter, || panic!("p")).await })
    };
    assert!(panicked.await.unwrap_err().is_panic());
    assert_eq!(limiter.borrowed_tokens(), 0);
    let scope = CancelScope::new();
    scope.cancel();
    assert_eq!(scope.run(to_thread_limited(&limiter, || ())).await, None);
    assert_eq!(limiter.borrowed_tokens(), 0);
    // Abandoned: the token stays with the thread until it ends.
    let (release, parked) = mpsc::channel::<()>();
    let inside = Gate::new();
    let scope = CancelScope::new();
    let cancel = scope.clone();
    let task = {
        let (limiter, inside) = (limiter.clone(), inside.clone());
        creche::spawn(scope.run(async move {
            to_thread_abandon_on_cancel_limited(&limiter, move || {
                inside.open();
                parked.recv().unwrap();
            })
            .await
        }))
    };
    inside.wait().await;
    cancel.cancel();
    assert_eq!(task.await.unwrap(), None);
    assert_eq!(
        limiter.borrowed_tokens(),
        1,
        "the abandoned thread keeps its token"
    );
    release.send(()).unwrap();
    while limiter.borrowed_tokens() != 0 {
        creche::yield_now().await;
    }
}
