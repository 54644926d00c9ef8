//! Panics in tasks: delivered to the `JoinHandle` with their payload, the worker that ran the
//! task survives, and panics in a future's destructor (on completion, abort or shutdown) or
//! in an unread output's destructor are captured instead of unwinding through the runtime.

mod common;

use common::{Counter, Gate, panic_message, spawn_and_sum, tracked, watchdog};
use creche::Runtime;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::thread::ThreadId;

fn runtime(workers: usize) -> Runtime {
    Runtime::builder().worker_threads(workers).build().unwrap()
}

/// Panics with `message` when dropped.
struct PanicOnDrop(&'static str);

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        panic!("{}", self.0);
    }
}

#[test]
fn panic_reaches_join_handle() {
    let _w = watchdog("panic_reaches_join_handle");
    let rt = runtime(1);

    // A formatted message (String payload).
    let task = rt.spawn(async {
        let n = 7;
        if n == 7 {
            panic!("boom {n}");
        }
        n
    });
    let id = task.id();
    let err = rt.block_on(task).unwrap_err();
    assert!(err.is_panic(), "{err:?}");
    assert!(!err.is_cancelled());
    assert_eq!(err.id(), id);
    assert!(err.to_string().contains("boom 7"), "{err}");
    let payload = err.into_panic();
    assert_eq!(payload.downcast_ref::<String>().unwrap(), "boom 7");

    // A static message (&str payload), through try_into_panic.
    let err = rt
        .block_on(rt.spawn(async { panic!("static boom") }))
        .unwrap_err();
    let payload = err.try_into_panic().expect("a panic, not a cancellation");
    assert_eq!(*payload.downcast::<&str>().unwrap(), "static boom");

    // Any payload type.
    let err = rt
        .block_on(rt.spawn(async { std::panic::panic_any(42_u64) }))
        .unwrap_err();
    assert_eq!(*err.into_panic().downcast::<u64>().unwrap(), 42);

    // A panic after the task was pending once (later poll), in a nested task.
    let err = rt
        .block_on(rt.spawn(async {
            creche::yield_now().await;
            creche::spawn(async { panic!("inner") }).await.unwrap_err()
        }))
        .expect("the outer task got the inner panic as a value");
    assert_eq!(panic_message(err.into_panic().as_ref()), "inner");
}

#[test]
fn panic_worker_survives() {
    let _w = watchdog("panic_worker_survives");
    let threads_started = Arc::new(AtomicUsize::new(0));
    let rt = Runtime::builder()
        .worker_threads(1)
        .on_thread_start({
            let threads_started = threads_started.clone();
            move || {
                threads_started.fetch_add(1, SeqCst);
            }
        })
        .build()
        .unwrap();
    let worker = |rt: &Runtime| -> ThreadId {
        rt.block_on(rt.spawn(async { std::thread::current().id() }))
            .unwrap()
    };
    let before = worker(&rt);
    let panicking: Vec<_> = (0..20)
        .map(|i| rt.spawn(async move { panic!("task {i}") }))
        .collect();
    for (i, task) in panicking.into_iter().enumerate() {
        let err = rt.block_on(task).unwrap_err();
        assert_eq!(
            panic_message(err.into_panic().as_ref()),
            format!("task {i}")
        );
    }
    // Detached panicking tasks: nobody reads the panic, the worker goes on.
    for _ in 0..20 {
        drop(rt.spawn(async { panic!("detached") }));
    }
    let sum = rt.block_on(spawn_and_sum(100));
    assert_eq!(sum, 4950);
    assert_eq!(worker(&rt), before, "the same worker thread runs on");
    drop(rt);
    assert_eq!(threads_started.load(SeqCst), 1, "no worker was restarted");
}

#[test]
fn panic_in_destructor_during_abort_is_captured() {
    let _w = watchdog("panic_in_destructor_during_abort_is_captured");
    let rt = runtime(1);
    let polls = Counter::new();
    let task = rt.spawn(tracked(
        async {
            let _bomb = PanicOnDrop("drop boom on abort");
            std::future::pending::<()>().await;
        },
        &polls,
        &Counter::new(),
    ));
    polls.wait_for(1);
    task.abort();
    let err = rt.block_on(task).unwrap_err();
    assert!(
        err.is_panic(),
        "the destructor's panic is reported: {err:?}"
    );
    assert_eq!(
        panic_message(err.into_panic().as_ref()),
        "drop boom on abort"
    );
    assert_eq!(
        rt.block_on(rt.spawn(async { 5 })).unwrap(),
        5,
        "worker survived"
    );
}

#[test]
fn panic_in_destructor_after_completion_is_captured() {
    let _w = watchdog("panic_in_destructor_after_completion_is_captured");
    let rt = runtime(1);
    let task = rt.spawn(async {
        let _bomb = PanicOnDrop("drop boom on completion");
        creche::yield_now().await;
        5
    });
    let err = rt.block_on(task).unwrap_err();
    assert!(err.is_panic(), "{err:?}");
    assert_eq!(
        panic_message(err.into_panic().as_ref()),
        "drop boom on completion"
    );
    assert_eq!(
        rt.block_on(rt.spawn(async { 6 })).unwrap(),
        6,
        "worker survived"
    );
}

#[test]
fn panic_in_destructor_during_shutdown_is_captured() {
    let _w = watchdog("panic_in_destructor_during_shutdown_is_captured");
    let rt = runtime(2);
    let gate = Gate::new();
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let gate = gate.clone();
            rt.spawn(async move {
                let _bomb = PanicOnDrop("drop boom on shutdown");
                gate.wait().await;
            })
        })
        .collect();
    while gate.registrations() < tasks.len() {
        std::thread::yield_now();
    }
    drop(rt); // must not unwind
    for task in tasks {
        let err = futures_lite::future::block_on(task).unwrap_err();
        assert!(err.is_panic(), "{err:?}");
        assert_eq!(
            panic_message(err.into_panic().as_ref()),
            "drop boom on shutdown"
        );
    }
}

#[test]
fn panic_in_unread_output_destructor_is_swallowed() {
    let _w = watchdog("panic_in_unread_output_destructor_is_swallowed");
    let rt = runtime(1);
    // Dropped by the JoinHandle's drop...
    let task = rt.spawn(async { PanicOnDrop("output boom") });
    while !task.is_finished() {
        std::thread::yield_now();
    }
    drop(task); // must not unwind into the caller
    // ...and by the worker, for a detached task.
    drop(rt.spawn(async { PanicOnDrop("detached output boom") }));
    assert_eq!(
        rt.block_on(rt.spawn(async { 8 })).unwrap(),
        8,
        "worker survived"
    );
}
