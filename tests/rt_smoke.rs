//! Smoke tests of the runtime's entry points: `run`, `block_on`, spawning from inside and
//! outside the runtime, `Handle::{current, try_current, enter}`, and the clear panics of the
//! calls that have no runtime or would block one.

mod common;

use common::{Gate, panic_message, watchdog};
use creche::{Handle, Runtime};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;

fn runtime(workers: usize, name: &str) -> Runtime {
    Runtime::builder()
        .worker_threads(workers)
        .thread_name(name)
        .build()
        .unwrap()
}

fn thread_name() -> String {
    std::thread::current().name().unwrap_or("").to_owned()
}

#[test]
fn smoke_run_returns_value() {
    let _w = watchdog("smoke_run_returns_value");
    assert_eq!(creche::run(async { 42 }), 42);
    let sum = creche::run(async {
        let a = creche::spawn(async { 20 });
        let b = creche::spawn(async { 22 });
        a.await.unwrap() + b.await.unwrap()
    });
    assert_eq!(sum, 42);
}

#[test]
fn smoke_block_on_returns_value_and_borrows() {
    let _w = watchdog("smoke_block_on_returns_value_and_borrows");
    let rt = runtime(2, "smoke-bo");
    // The future of block_on may borrow locals and need not be Send.
    let local = [1, 2, 3];
    let shared = Rc::new(10);
    let out = rt.block_on(async {
        let doubled = creche::spawn(async { 2 * 21 }).await.unwrap();
        local.iter().sum::<i32>() + *shared + doubled
    });
    assert_eq!(out, 6 + 10 + 42);
    // block_on can be called again on the same runtime.
    assert_eq!(rt.block_on(async { "again" }), "again");
}

#[test]
fn smoke_spawn_from_inside_a_task() {
    let _w = watchdog("smoke_spawn_from_inside_a_task");
    let rt = runtime(2, "smoke-in");
    let out = rt.block_on(async {
        creche::spawn(async {
            // Nested three levels deep, each level on a worker.
            let inner = creche::spawn(async {
                let innermost = creche::spawn(async { thread_name() });
                (thread_name(), innermost.await.unwrap())
            });
            let (middle, innermost) = inner.await.unwrap();
            (thread_name(), middle, innermost)
        })
        .await
        .unwrap()
    });
    for name in [out.0, out.1, out.2] {
        assert!(name.starts_with("smoke-in-worker"), "task ran on {name:?}");
    }
}

#[test]
fn smoke_spawn_from_block_on() {
    let _w = watchdog("smoke_spawn_from_block_on");
    let rt = runtime(2, "smoke-bo2");
    let names = rt.block_on(async {
        let tasks: Vec<_> = (0..16)
            .map(|i| creche::spawn(async move { (i, thread_name()) }))
            .collect();
        let mut out = Vec::new();
        for task in tasks {
            out.push(task.await.unwrap());
        }
        out
    });
    for (i, (j, name)) in names.into_iter().enumerate() {
        assert_eq!(i, j);
        // Spawned tasks run on the workers, not on the block_on thread.
        assert!(name.starts_with("smoke-bo2-worker"), "task ran on {name:?}");
    }
}

#[test]
fn smoke_spawn_from_outside() {
    let _w = watchdog("smoke_spawn_from_outside");
    let rt = runtime(2, "smoke-out");
    // Runtime::spawn from the owning thread, outside any block_on.
    let task = rt.spawn(async { thread_name() });
    let name = rt.block_on(task).unwrap();
    assert!(name.starts_with("smoke-out-worker"), "task ran on {name:?}");

    // Handle::spawn from another std thread; the JoinHandle is awaited there with an executor
    // foreign to creche (so the join waker is not one of creche's).
    let handle = rt.handle().clone();
    let from_thread = std::thread::spawn(move || {
        let task = handle.spawn(async { 7 * 6 });
        futures_lite::future::block_on(task).unwrap()
    })
    .join()
    .unwrap();
    assert_eq!(from_thread, 42);

    // The JoinHandle crosses threads: spawned on one, awaited on another.
    let handle = rt.handle().clone();
    let task = std::thread::spawn(move || handle.spawn(async { thread_name() }))
        .join()
        .unwrap();
    let name = rt.block_on(task).unwrap();
    assert!(name.starts_with("smoke-out-worker"), "task ran on {name:?}");

    // Handle::block_on from another std thread.
    let handle = rt.handle().clone();
    let out = std::thread::spawn(move || {
        handle.block_on(async { creche::spawn(async { 5 }).await.unwrap() + 1 })
    })
    .join()
    .unwrap();
    assert_eq!(out, 6);
}

#[test]
fn smoke_enter_then_spawn() {
    let _w = watchdog("smoke_enter_then_spawn");
    let rt = runtime(1, "smoke-enter");
    assert!(Handle::try_current().is_err());
    let guard = rt.handle().enter();
    let current = Handle::try_current().expect("entered");
    assert_eq!(current.num_workers(), 1);
    let task = creche::spawn(async { thread_name() });
    let blocking = creche::spawn_blocking(thread_name);
    drop(guard);
    assert!(
        Handle::try_current().is_err(),
        "the guard's drop leaves the runtime"
    );
    let name = rt.block_on(task).unwrap();
    assert!(
        name.starts_with("smoke-enter-worker"),
        "task ran on {name:?}"
    );
    let name = rt.block_on(blocking).unwrap();
    assert!(
        name.starts_with("smoke-enter-blocking"),
        "closure ran on {name:?}"
    );

    // Guards nest and restore the previous runtime.
    let other = runtime(3, "smoke-enter2");
    let outer = rt.handle().enter();
    {
        let _inner = other.handle().enter();
        assert_eq!(Handle::current().num_workers(), 3);
    }
    assert_eq!(Handle::current().num_workers(), 1);
    drop(outer);
    assert!(Handle::try_current().is_err());
}

#[test]
fn smoke_handle_current_inside_tasks() {
    let _w = watchdog("smoke_handle_current_inside_tasks");
    let rt = runtime(3, "smoke-cur");
    let (workers, name) = rt.block_on(async {
        // In block_on's future...
        assert_eq!(Handle::current().num_workers(), 3);
        // ...and in a task, where the handle spawns onto the same runtime.
        creche::spawn(async {
            let handle = Handle::current();
            let name = handle.spawn(async { thread_name() }).await.unwrap();
            (handle.num_workers(), name)
        })
        .await
        .unwrap()
    });
    assert_eq!(workers, 3);
    assert!(name.starts_with("smoke-cur-worker"), "task ran on {name:?}");

    // A spawn_blocking thread has the runtime current too.
    let workers = rt
        .block_on(rt.spawn_blocking(|| Handle::current().num_workers()))
        .unwrap();
    assert_eq!(workers, 3);
}

#[test]
fn smoke_try_current_outside_is_err() {
    let _w = watchdog("smoke_try_current_outside_is_err");
    let err = Handle::try_current().unwrap_err();
    assert!(err.to_string().contains("creche runtime"), "{err}");
    // Also on a fresh thread, and after a runtime was used and dropped on this thread.
    assert!(
        std::thread::spawn(|| Handle::try_current().is_err())
            .join()
            .unwrap()
    );
    let rt = runtime(1, "smoke-tc");
    rt.block_on(async {});
    drop(rt);
    assert!(Handle::try_current().is_err());
    assert!(creche::task::try_id().is_none());
}

#[test]
fn smoke_spawn_outside_runtime_panics() {
    let _w = watchdog("smoke_spawn_outside_runtime_panics");
    let payload = catch_unwind(|| drop(creche::spawn(async {}))).unwrap_err();
    let message = panic_message(payload.as_ref());
    assert!(message.contains("creche runtime"), "{message:?}");

    let payload = catch_unwind(|| drop(creche::spawn_blocking(|| {}))).unwrap_err();
    let message = panic_message(payload.as_ref());
    assert!(message.contains("creche runtime"), "{message:?}");

    let payload = catch_unwind(|| drop(Handle::current())).unwrap_err();
    let message = panic_message(payload.as_ref());
    assert!(message.contains("creche runtime"), "{message:?}");
}

#[test]
fn smoke_block_on_inside_task_panics() {
    let _w = watchdog("smoke_block_on_inside_task_panics");
    let rt = runtime(1, "smoke-nested");
    let handle = rt.handle().clone();
    let err = rt
        .block_on(rt.spawn(async move { handle.block_on(async { 1 }) }))
        .unwrap_err();
    assert!(err.is_panic(), "{err:?}");
    let message = panic_message(err.into_panic().as_ref());
    assert!(message.contains("block_on"), "{message:?}");

    // Runtime::block_on through Handle::current, from a task.
    let err = rt
        .block_on(rt.spawn(async { Handle::current().block_on(async {}) }))
        .unwrap_err();
    assert!(err.is_panic(), "{err:?}");

    // block_on inside block_on's own future panics on the calling thread.
    let handle = rt.handle().clone();
    let payload = catch_unwind(AssertUnwindSafe(|| {
        rt.block_on(async { handle.block_on(async {}) });
    }))
    .unwrap_err();
    let message = panic_message(payload.as_ref());
    assert!(message.contains("block_on"), "{message:?}");

    // The single worker survived, and the calling thread can block_on again.
    assert_eq!(rt.block_on(rt.spawn(async { 3 })).unwrap(), 3);
}

#[test]
fn smoke_block_on_from_spawn_blocking() {
    let _w = watchdog("smoke_block_on_from_spawn_blocking");
    let rt = runtime(1, "smoke-sb");
    let handle = rt.handle().clone();
    let out = rt
        .block_on(rt.spawn_blocking(move || {
            handle.block_on(async {
                let a = creche::spawn(async { 40 });
                a.await.unwrap() + 2
            })
        }))
        .unwrap();
    assert_eq!(out, 42);

    // From inside a task: hand the blocking part to the pool and await it. The blocked pool
    // thread waits on a gate opened by another task, so the worker keeps running meanwhile.
    let gate = Gate::new();
    let (waiting, opening) = (gate.clone(), gate.clone());
    let out = rt.block_on(async move {
        let waiter = creche::spawn_blocking(move || {
            Handle::current().block_on(async move {
                waiting.wait().await;
                "opened"
            })
        });
        let opener = creche::spawn(async move { opening.open() });
        opener.await.unwrap();
        waiter.await.unwrap()
    });
    assert_eq!(out, "opened");
    assert!(gate.is_open());
}
