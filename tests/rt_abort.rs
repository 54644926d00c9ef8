//! `JoinHandle::abort`: of idle, not-yet-polled, running and completed tasks. A cancelled
//! task's future is dropped exactly once, it is never polled after the poll in which the abort
//! landed, and its `JoinHandle` reports `is_cancelled`; aborting a completed task does nothing.

mod common;

use common::{Counter, DropCount, Gate, tracked, watchdog};
use creche::{JoinHandle, Runtime};
use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::task::Poll;

fn runtime(workers: usize) -> Runtime {
    Runtime::builder().worker_threads(workers).build().unwrap()
}

#[test]
fn abort_idle_task() {
    let _w = watchdog("abort_idle_task");
    let rt = runtime(2);
    let polls = Counter::new();
    let drops = Counter::new();
    let mut task = rt.spawn(tracked(std::future::pending::<()>(), &polls, &drops));
    let id = task.id();
    polls.wait_for(1); // it ran once and is now idle, pending forever
    task.abort();
    task.abort(); // idempotent
    let err = rt.block_on(&mut task).unwrap_err();
    assert!(err.is_cancelled(), "{err:?}");
    assert!(!err.is_panic());
    assert_eq!(err.id(), id);
    assert!(task.is_finished());
    task.abort(); // after completion: nothing
    drop(task);
    drop(rt);
    assert_eq!((polls.get(), drops.get()), (1, 1));
}

/// A task that occupies the only worker until `release` is set (it signals `started` first).
fn spawn_blocker(rt: &Runtime, started: &Counter, release: &Arc<AtomicBool>) -> JoinHandle<()> {
    let (signal, release) = (started.clone(), release.clone());
    let task = rt.spawn(poll_fn(move |_| {
        signal.incr();
        while !release.load(SeqCst) {
            std::thread::yield_now();
        }
        Poll::Ready(())
    }));
    started.wait_for(1);
    task
}

#[test]
fn abort_before_first_poll() {
    let _w = watchdog("abort_before_first_poll");
    let rt = runtime(1);
    let started = Counter::new();
    let release = Arc::new(AtomicBool::new(false));
    let blocker = spawn_blocker(&rt, &started, &release);
    // The only worker is busy: these stay queued, one per spawn path.
    let polls = Counter::new();
    let drops = Counter::new();
    let outside = rt.spawn(tracked(async { 1 }, &polls, &drops));
    let handle = rt.handle().clone();
    let (polls2, drops2) = (polls.clone(), drops.clone());
    let from_thread =
        std::thread::spawn(move || handle.spawn(tracked(async { 2 }, &polls2, &drops2)))
            .join()
            .unwrap();
    outside.abort();
    from_thread.abort();
    assert_eq!(
        drops.get(),
        0,
        "the futures are dropped by the runtime, not by abort()"
    );
    release.store(true, SeqCst);
    rt.block_on(blocker).unwrap();
    assert!(rt.block_on(outside).unwrap_err().is_cancelled());
    assert!(rt.block_on(from_thread).unwrap_err().is_cancelled());
    assert_eq!(polls.get(), 0, "an aborted task is never polled");
    assert_eq!(drops.get(), 2);
}

#[test]
fn abort_running_task_from_another_task() {
    let _w = watchdog("abort_running_task_from_another_task");
    const LIMIT: usize = 100_000;
    let rt = runtime(2);
    let polls = Counter::new();
    let drops = Counter::new();
    let in_poll = Counter::new();
    let aborted = Counter::new();
    let looping = rt.spawn(tracked(
        {
            let (in_poll, aborted) = (in_poll.clone(), aborted.clone());
            async move {
                for i in 0..LIMIT {
                    if i == 10 {
                        // Stay inside this poll until the other task has called abort(): the
                        // abort lands while the task is running.
                        in_poll.incr();
                        aborted.wait_for(1);
                    }
                    creche::yield_now().await;
                }
                "ran to the end: abort() had no effect"
            }
        },
        &polls,
        &drops,
    ));
    in_poll.wait_for(1);
    // This worker is busy inside `looping`'s poll: the aborter runs on the other one.
    let aborter = rt.spawn({
        let (polls, aborted) = (polls.clone(), aborted.clone());
        async move {
            looping.abort();
            aborted.incr();
            let polls_at_abort = polls.get();
            (polls_at_abort, looping.await)
        }
    });
    let (polls_at_abort, result) = rt.block_on(aborter).unwrap();
    let err = result.unwrap_err();
    assert!(err.is_cancelled(), "{err:?}");
    assert_eq!(polls_at_abort, 11, "the abort landed during the 11th poll");
    assert_eq!(polls.get(), polls_at_abort, "polled again after the abort");
    assert_eq!(drops.get(), 1);
    drop(rt);
    assert_eq!(drops.get(), 1);
}

#[test]
fn abort_self_while_running() {
    let _w = watchdog("abort_self_while_running");
    let rt = runtime(1);
    let slot: Arc<Mutex<Option<JoinHandle<&str>>>> = Arc::default();
    let gate = Gate::new();
    let polls = Counter::new();
    let drops = Counter::new();
    let resumed = Counter::new();
    let task = rt.spawn(tracked(
        {
            let (slot, gate, resumed) = (slot.clone(), gate.clone(), resumed.clone());
            async move {
                gate.wait().await;
                slot.lock()
                    .unwrap()
                    .as_ref()
                    .expect("handle stored")
                    .abort();
                // Cancelled at this yield: the rest never runs.
                creche::yield_now().await;
                resumed.incr();
                "resumed after abort"
            }
        },
        &polls,
        &drops,
    ));
    *slot.lock().unwrap() = Some(task);
    while gate.registrations() == 0 {
        std::thread::yield_now();
    }
    gate.open();
    drops.wait_for(1);
    let task = slot.lock().unwrap().take().unwrap();
    assert!(rt.block_on(task).unwrap_err().is_cancelled());
    assert_eq!((polls.get(), resumed.get(), drops.get()), (2, 0, 1));
}

#[test]
fn abort_then_wake() {
    let _w = watchdog("abort_then_wake");
    let rt = runtime(2);
    let gate = Gate::new();
    let polls = Counter::new();
    let drops = Counter::new();
    let task = rt.spawn(tracked(gate.wait(), &polls, &drops));
    while gate.registrations() == 0 {
        std::thread::yield_now();
    }
    task.abort();
    gate.open(); // wakes the aborted task: it must not be polled again
    assert!(rt.block_on(task).unwrap_err().is_cancelled());
    assert_eq!(rt.block_on(rt.spawn(async { 7 })).unwrap(), 7);
    drop(rt);
    assert_eq!((polls.get(), drops.get()), (1, 1));
}

#[test]
fn abort_task_awaiting_another_task() {
    let _w = watchdog("abort_task_awaiting_another_task");
    let rt = runtime(2);
    let gate = Gate::new();
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let inner = rt.spawn({
        let gate = gate.clone();
        async move {
            gate.wait().await;
            done_tx.send(11).unwrap();
        }
    });
    let drops = Counter::new();
    let polls = Counter::new();
    // The outer task's waker sits in the inner task's join-waker slot when it is aborted.
    let outer = rt.spawn(tracked(inner, &polls, &drops));
    polls.wait_for(1);
    outer.abort();
    assert!(rt.block_on(outer).unwrap_err().is_cancelled());
    assert_eq!(drops.get(), 1);
    // The inner task was detached by the outer future's drop; it still runs to completion,
    // and completing wakes no one.
    gate.open();
    assert_eq!(done_rx.recv().unwrap(), 11);
    assert_eq!(rt.block_on(rt.spawn(async { 12 })).unwrap(), 12);
}

#[test]
fn abort_completed_task_is_noop() {
    let _w = watchdog("abort_completed_task_is_noop");
    let rt = runtime(2);
    let output_drops = Counter::new();
    let future_drops = Counter::new();
    let task = rt.spawn(tracked(
        {
            let output_drops = output_drops.clone();
            async move { (7, DropCount(output_drops)) }
        },
        &Counter::new(),
        &future_drops,
    ));
    while !task.is_finished() {
        std::thread::yield_now();
    }
    task.abort();
    task.abort();
    assert_eq!(
        output_drops.get(),
        0,
        "abort() dropped the output of a completed task"
    );
    let (value, output) = rt.block_on(task).expect("completed before the abort: Ok");
    assert_eq!(value, 7);
    drop(output);
    assert_eq!((output_drops.get(), future_drops.get()), (1, 1));
}

#[test]
fn abort_stampede_of_running_tasks() {
    let _w = watchdog("abort_stampede_of_running_tasks");
    const TASKS: usize = 1_000;
    let rt = runtime(2);
    let polls = Counter::new();
    let drops = Counter::new();
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            rt.spawn(tracked(
                async {
                    loop {
                        creche::yield_now().await;
                    }
                },
                &polls,
                &drops,
            ))
        })
        .collect();
    polls.wait_for(TASKS); // they are all spinning through their yields by now
    let tasks = Arc::new(tasks);
    // Abort from a foreign thread and from a task at once, half each, while they run.
    let foreign = std::thread::spawn({
        let tasks = tasks.clone();
        move || tasks.iter().step_by(2).for_each(JoinHandle::abort)
    });
    rt.block_on(rt.spawn({
        let tasks = tasks.clone();
        async move { tasks.iter().skip(1).step_by(2).for_each(JoinHandle::abort) }
    }))
    .unwrap();
    foreign.join().unwrap();
    let tasks = Arc::into_inner(tasks).unwrap();
    for task in tasks {
        assert!(rt.block_on(task).unwrap_err().is_cancelled());
    }
    assert_eq!(drops.get(), TASKS);
    drop(rt);
    assert_eq!(drops.get(), TASKS);
}
