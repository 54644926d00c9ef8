//! `creche::thread::from_thread`: a blocking thread runs async code back in the task that
//! called `to_thread` (on the autojump clock, with exact virtual times: its wait does not keep
//! time from moving), inherits that task's cancellation, is refused on runtime workers and
//! foreign threads, and gets `Err(Cancelled)` once its caller is gone.

mod common;

use common::{Counter, Gate, panic_message, secs, watchdog};
use creche::thread::{from_thread, to_thread, to_thread_abandon_on_cancel};
use creche::time::{current_time, sleep, sleep_forever};
use creche::{CancelScope, Cancelled, checkpoint, open_nursery};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;

#[creche::test(autojump, worker_threads = 2)]
async fn round_trip() {
    let _w = watchdog("round_trip");
    let t0 = current_time();
    let t = to_thread(|| {
        from_thread::run(async {
            sleep(secs(1)).await;
            current_time()
        })
    })
    .await;
    assert_eq!(t, Ok(t0 + secs(1)));
    // An error of the future comes back unchanged.
    let e = to_thread(|| from_thread::run(async { Err::<(), _>("nope") })).await;
    assert_eq!(e, Ok(Err("nope")));
    // A panic in the future resumes in the thread.
    let message = to_thread(|| {
        let caught = catch_unwind(AssertUnwindSafe(|| {
            from_thread::run(async { panic!("in the task") })
        }));
        panic_message(&*caught.unwrap_err())
    })
    .await;
    assert_eq!(message, "in the task");
}

#[creche::test(worker_threads = 2)]
async fn runs_in_calling_task() {
    let _w = watchdog("runs_in_calling_task");
    let task = creche::spawn(async {
        let caller = creche::task::id();
        let inside = to_thread(|| from_thread::run(async { creche::task::id() })).await;
        (caller, inside)
    });
    let (caller, inside) = task.await.unwrap();
    assert_eq!(inside, Ok(caller));
}

#[creche::test(worker_threads = 2)]
#[should_panic(expected = "to_thread did not start")]
async fn run_on_worker_panics() {
    let task = creche::spawn(async { from_thread::run(async {}) });
    if let Err(e) = task.await {
        std::panic::resume_unwind(e.into_panic());
    }
}

#[test]
#[should_panic(expected = "to_thread did not start")]
fn run_on_foreign_thread_panics() {
    let thread = std::thread::spawn(|| from_thread::run(async {}));
    if let Err(payload) = thread.join() {
        std::panic::resume_unwind(payload);
    }
}

#[test]
#[should_panic(expected = "from_thread::check_cancelled called on a thread")]
fn check_cancelled_on_foreign_thread_panics() {
    let _ = from_thread::check_cancelled();
}

#[creche::test(worker_threads = 2)]
async fn host_cancelled_ready_future_completes() {
    let _w = watchdog("host_cancelled_ready_future_completes");
    let scope = CancelScope::new();
    let cancel = scope.clone();
    let out = scope
        .run(to_thread(move || {
            from_thread::run(async move { cancel.cancel() }).unwrap();
            from_thread::run(async { 1 })
        }))
        .await;
    assert_eq!(
        out,
        Some(Ok(1)),
        "no await after the call: the scope catches nothing"
    );
    assert!(!scope.cancelled_caught());
}

#[creche::test(worker_threads = 2)]
async fn host_cancelled_waiting_future_is_dropped() {
    let _w = watchdog("host_cancelled_waiting_future_is_dropped");
    let scope = CancelScope::new();
    let cancel = scope.clone();
    let (got, after) = (Counter::new(), Counter::new());
    let out = scope
        .run(async {
            let r = to_thread(move || {
                from_thread::run(async move { cancel.cancel() }).unwrap();
                from_thread::run(sleep_forever())
            })
            .await;
            got.incr();
            assert_eq!(r, Err(Cancelled));
            checkpoint().await;
            after.incr();
        })
        .await;
    assert_eq!((out, got.get(), after.get()), (None, 1, 0));
    assert!(scope.cancelled_caught());
}

#[creche::test(worker_threads = 2)]
async fn host_cancelled_abandoned_thread_sees_cancel() {
    let _w = watchdog("host_cancelled_abandoned_thread_sees_cancel");
    let scope = CancelScope::new();
    let cancel = scope.clone();
    let (seen_tx, seen) = mpsc::channel();
    let out = scope
        .run(to_thread_abandon_on_cancel(move || {
            from_thread::run(async move { cancel.cancel() }).unwrap();
            seen_tx.send(from_thread::run(async { 1 })).unwrap();
        }))
        .await;
    assert_eq!(
        out, None,
        "an abandoning call returns at once when cancelled"
    );
    assert!(scope.cancelled_caught());
    // The thread's second request came after the abandon, or while its caller was cancelled
    // (then it completes if it does not wait, as a future with no await does).
    let answer = seen.recv().unwrap();
    assert!(answer == Err(Cancelled) || answer == Ok(1), "{answer:?}");
}

#[creche::test(worker_threads = 2)]
async fn check_cancelled_follows_caller() {
    let _w = watchdog("check_cancelled_follows_caller");
    let scope = CancelScope::new();
    let cancel = scope.clone();
    let inside = Gate::new();
    let (release, parked) = mpsc::channel::<()>();
    let after = Counter::new();
    let task = {
        let (inside, after) = (inside.clone(), after.clone());
        creche::spawn(scope.run(async move {
            let checks = to_thread(move || {
                let before = from_thread::check_cancelled();
                inside.open();
                parked.recv().unwrap();
                (before, from_thread::check_cancelled())
            })
            .await;
            assert_eq!(checks, (Ok(()), Err(Cancelled)));
            checkpoint().await;
            after.incr();
        }))
    };
    inside.wait().await;
    cancel.cancel();
    release.send(()).unwrap();
    assert_eq!(task.await.unwrap(), None);
    assert_eq!(after.get(), 0);

    // After an abandon, too.
    let scope = CancelScope::new();
    let cancel = scope.clone();
    let (release, parked) = mpsc::channel::<()>();
    let (check_tx, check) = mpsc::channel();
    let inside = Gate::new();
    let task = {
        let inside = inside.clone();
        creche::spawn(scope.run(to_thread_abandon_on_cancel(move || {
            inside.open();
            parked.recv().unwrap();
            check_tx.send(from_thread::check_cancelled()).unwrap();
        })))
    };
    inside.wait().await;
    cancel.cancel();
    assert_eq!(task.await.unwrap(), None); // the caller has returned
    release.send(()).unwrap();
    assert_eq!(check.recv().unwrap(), Err(Cancelled));
}

#[test]
fn run_during_shutdown_errs() {
    let _w = watchdog("run_during_shutdown_errs");
    let (release, parked) = mpsc::channel::<()>();
    let (answer_tx, answer) = mpsc::channel();
    creche::run(async move {
        let scope = CancelScope::new();
        let cancel = scope.clone();
        let inside = Gate::new();
        let thread_inside = inside.clone();
        let task = creche::spawn(scope.run(to_thread_abandon_on_cancel(move || {
            thread_inside.open();
            parked.recv().unwrap();
            answer_tx.send(from_thread::run(async { 5 })).unwrap();
        })));
        inside.wait().await;
        cancel.cancel();
        assert!(task.await.unwrap().is_none());
    });
    release.send(()).unwrap(); // `run` has returned: the runtime is gone
    assert_eq!(answer.recv().unwrap(), Err(Cancelled));
}

#[creche::test(worker_threads = 2)]
async fn nested_round_trips() {
    let _w = watchdog("nested_round_trips");
    let outer = to_thread(|| {
        let outer_thread = std::thread::current().id();
        let inner = from_thread::run(to_thread(|| std::thread::current().id())).unwrap();
        (outer_thread, inner)
    })
    .await;
    assert_ne!(outer.0, outer.1);
    let total = Counter::new();
    let out = open_nursery(|n| {
        let total = total.clone();
        async move {
            for _ in 0..4 {
                let total = total.clone();
                n.spawn(async move {
                    for _ in 0..50 {
                        let total = total.clone();
                        to_thread(move || {
                            from_thread::run(to_thread(move || total.incr())).unwrap()
                        })
                        .await;
                    }
                    Ok::<_, ()>(())
                });
            }
            Ok::<_, ()>(())
        }
    })
    .await;
    assert_eq!((out, total.get()), (Ok(Some(())), 200));
}
