//! `creche::thread::to_thread`: the closure runs on another thread and its value, error or
//! panic comes back; cancelling waits for the thread (no abandon) or returns at once (abandon,
//! the thread finishing later, even after `run` returned); a call in a cancelled scope never
//! starts its thread; the closure is dropped when the call returns.

mod common;

use common::{Counter, DropCount, Gate, panic_message, watchdog};
use creche::thread::{default_thread_limiter, to_thread, to_thread_abandon_on_cancel};
use creche::{CancelScope, checkpoint};
use std::sync::mpsc;

#[creche::test(worker_threads = 2)]
async fn runs_elsewhere_and_returns() {
    let _w = watchdog("runs_elsewhere_and_returns");
    let caller = std::thread::current().id();
    let (id, value) = to_thread(|| (std::thread::current().id(), 42)).await;
    assert_ne!(id, caller);
    assert_eq!(value, 42);
    let err: Result<(), String> = to_thread(|| Err("no".to_owned())).await;
    assert_eq!(err, Err("no".to_owned())); // an error is a value like any other
}

#[creche::test(worker_threads = 2)]
async fn panic_resumes_in_caller() {
    let _w = watchdog("panic_resumes_in_caller");
    let task = creche::spawn(async { to_thread(|| -> u8 { panic!("boom in the thread") }).await });
    let payload = task.await.unwrap_err().into_panic();
    assert_eq!(panic_message(&*payload), "boom in the thread");
    assert_eq!(default_thread_limiter().borrowed_tokens(), 0);
}

#[creche::test(worker_threads = 2)]
async fn cancel_waits_for_thread() {
    let _w = watchdog("cancel_waits_for_thread");
    let scope = CancelScope::new();
    let cancel = scope.clone();
    let inside = Gate::new();
    let (release, parked) = mpsc::channel::<()>();
    let (done, got, after) = (Counter::new(), Counter::new(), Counter::new());
    let task = {
        let (inside, done, got, after) = (inside.clone(), done.clone(), got.clone(), after.clone());
        creche::spawn(scope.run(async move {
            let v = to_thread(move || {
                inside.open();
                parked.recv().unwrap();
                done.incr();
                7
            })
            .await;
            got.incr();
            checkpoint().await;
            after.incr();
            v
        }))
    };
    inside.wait().await;
    cancel.cancel();
    for _ in 0..100 {
        creche::yield_now().await;
    }
    assert!(
        !task.is_finished(),
        "the cancelled scope waits for the thread"
    );
    release.send(()).unwrap();
    assert_eq!(task.await.unwrap(), None);
    assert_eq!((done.get(), got.get(), after.get()), (1, 1, 0));
}

#[creche::test(worker_threads = 2)]
async fn abandon_returns_at_once() {
    let _w = watchdog("abandon_returns_at_once");
    let scope = CancelScope::new();
    let cancel = scope.clone();
    let inside = Gate::new();
    let (release, parked) = mpsc::channel::<()>();
    let (finished_tx, finished) = mpsc::channel::<()>();
    let drops = Counter::new();
    let dropped_on = std::sync::Arc::new(std::sync::Mutex::new(None));
    let task = {
        let (inside, drops, dropped_on) = (inside.clone(), drops.clone(), dropped_on.clone());
        creche::spawn(scope.run(async move {
            to_thread_abandon_on_cancel(move || {
                inside.open();
                parked.recv().unwrap();
                // The result is dropped on this thread, after the call was abandoned.
                *dropped_on.lock().unwrap() = Some(std::thread::current().id());
                let _done = finished_tx;
                DropCount(drops)
            })
            .await
        }))
    };
    inside.wait().await;
    cancel.cancel();
    assert!(
        task.await.unwrap().is_none(),
        "returned while the thread is parked"
    );
    assert_eq!(drops.get(), 0);
    release.send(()).unwrap();
    let _ = finished.recv(); // the closure has returned (its sender is dropped)
    drops.wait_for(1);
    assert_eq!(drops.get(), 1);
    assert_ne!(
        dropped_on.lock().unwrap().unwrap(),
        std::thread::current().id()
    );
    assert_eq!(default_thread_limiter().borrowed_tokens(), 0);
}

#[test]
fn abandoned_thread_outlives_run() {
    let _w = watchdog("abandoned_thread_outlives_run");
    let (release, parked) = mpsc::channel::<()>();
    let (finished_tx, finished) = mpsc::channel::<u32>();
    creche::run(async move {
        let scope = CancelScope::new();
        let cancel = scope.clone();
        let inside = Gate::new();
        let thread_inside = inside.clone();
        let task = creche::spawn(scope.run(to_thread_abandon_on_cancel(move || {
            thread_inside.open();
            parked.recv().unwrap();
            finished_tx.send(1).unwrap();
        })));
        inside.wait().await;
        cancel.cancel();
        assert!(task.await.unwrap().is_none());
    });
    // `run` returned and its runtime is gone (it did not wait), with the thread still parked.
    release.send(()).unwrap();
    assert_eq!(finished.recv().unwrap(), 1);
}

#[creche::test(worker_threads = 2)]
async fn precancelled_never_starts_thread() {
    let _w = watchdog("precancelled_never_starts_thread");
    let scope = CancelScope::new();
    scope.cancel();
    let (ran, drops) = (Counter::new(), Counter::new());
    let out = {
        let (ran, guard) = (ran.clone(), DropCount(drops.clone()));
        scope
            .run(to_thread(move || {
                let _guard = guard;
                ran.incr();
            }))
            .await
    };
    assert_eq!((out, ran.get(), drops.get()), (None, 0, 1));
    assert_eq!(default_thread_limiter().borrowed_tokens(), 0);
}

#[creche::test(worker_threads = 2)]
async fn closure_dropped_when_call_returns() {
    let _w = watchdog("closure_dropped_when_call_returns");
    let drops = Counter::new();
    let guard = DropCount(drops.clone());
    to_thread(move || {
        let _ = &guard;
    })
    .await;
    assert_eq!(drops.get(), 1);
}

#[creche::test(autojump, worker_threads = 2)]
async fn an_abandoned_thread_does_not_hold_autojump() {
    let _w = watchdog("an_abandoned_thread_does_not_hold_autojump");
    let (release, parked) = mpsc::channel::<()>();
    let inside = Gate::new();
    let scope = CancelScope::new();
    let cancel = scope.clone();
    let task = {
        let inside = inside.clone();
        creche::spawn(scope.run(to_thread_abandon_on_cancel(move || {
            inside.open();
            parked.recv().unwrap();
        })))
    };
    inside.wait().await;
    cancel.cancel();
    assert!(task.await.unwrap().is_none());
    // The thread is still parked, abandoned: it no longer counts as active, so time moves.
    let t0 = creche::time::current_time();
    creche::time::sleep(std::time::Duration::from_secs(60)).await;
    assert_eq!(
        creche::time::current_time() - t0,
        std::time::Duration::from_secs(60)
    );
    creche::testing::wait_all_tasks_blocked().await; // and W returns
    release.send(()).unwrap();
}

/// Outside a runtime, the default thread limiter is the process-wide one (the same limiter
/// each time) with `DEFAULT_THREAD_LIMIT` tokens.
#[test]
fn default_thread_limiter_outside_a_runtime_is_process_wide() {
    use creche::thread::DEFAULT_THREAD_LIMIT;
    let a = default_thread_limiter();
    let b = default_thread_limiter();
    assert_eq!(a.total_tokens(), DEFAULT_THREAD_LIMIT);
    let token = a.try_acquire().unwrap();
    assert_eq!(b.borrowed_tokens(), 1, "one limiter behind both handles");
    drop(token);
    assert_eq!(b.borrowed_tokens(), 0);
}
