//! Wakers and join handles: wakes from threads foreign to the runtime, wakes of tasks that
//! have completed (or whose runtime is gone), and `JoinHandle`s dropped before and after
//! their task completes (the task runs on; the output is dropped exactly once), handles
//! awaited again by another task, and a stampede of wakes that must lose none.

mod common;

use common::{Counter, DropCount, Gate, tracked, watchdog};
use creche::Runtime;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll, Waker};

fn runtime(workers: usize) -> Runtime {
    Runtime::builder().worker_threads(workers).build().unwrap()
}

/// A signal a task waits on and a foreign std thread raises, one round at a time.
#[derive(Default)]
struct Signal {
    state: Mutex<SignalState>,
    /// Notified when a waiter registers its waker.
    registered: Condvar,
}

#[derive(Default)]
struct SignalState {
    raised: bool,
    waker: Option<Waker>,
}

impl Signal {
    /// Waits until the task has registered a waker (so it is pending), raises the signal and
    /// wakes the task from this thread, by value or by reference.
    fn raise_when_waited(&self, by_ref: bool) {
        let mut state = self.state.lock().unwrap();
        while state.waker.is_none() {
            state = self.registered.wait(state).unwrap();
        }
        state.raised = true;
        let waker = state.waker.take().unwrap();
        drop(state);
        if by_ref {
            waker.wake_by_ref();
        } else {
            waker.wake();
        }
    }
}

/// The future of one round: completes once the signal is raised (and lowers it).
struct Wait<'a>(&'a Signal);

impl Future for Wait<'_> {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.0.state.lock().unwrap();
        if state.raised {
            state.raised = false;
            return Poll::Ready(());
        }
        state.waker = Some(cx.waker().clone());
        self.0.registered.notify_one();
        Poll::Pending
    }
}

fn wake_from_foreign_thread_on(workers: usize) {
    const ROUNDS: usize = 1000;
    let rt = runtime(workers);
    let signal = Arc::new(Signal::default());
    let polls = Counter::new();
    let drops = Counter::new();
    let task = rt.spawn(tracked(
        {
            let signal = signal.clone();
            async move {
                for _ in 0..ROUNDS {
                    Wait(&signal).await;
                }
                ROUNDS
            }
        },
        &polls,
        &drops,
    ));
    let raiser = std::thread::spawn(move || {
        for round in 0..ROUNDS {
            signal.raise_when_waited(round % 2 == 0);
        }
    });
    assert_eq!(rt.block_on(task).unwrap(), ROUNDS);
    raiser.join().unwrap();
    // Each round is one pending poll, woken from the foreign thread, then one more poll.
    assert!(polls.get() > ROUNDS, "{} polls", polls.get());
    assert_eq!(drops.get(), 1);
}

#[test]
fn wake_from_foreign_thread_one_worker() {
    let _w = watchdog("wake_from_foreign_thread_one_worker");
    wake_from_foreign_thread_on(1);
}

#[test]
fn wake_from_foreign_thread_two_workers() {
    let _w = watchdog("wake_from_foreign_thread_two_workers");
    wake_from_foreign_thread_on(2);
}

/// A future that keeps a clone of its waker in `slot`, wakes itself once, and completes on
/// its second poll.
fn keeps_its_waker(slot: Arc<Mutex<Option<Waker>>>) -> impl Future<Output = u32> + Send {
    let mut polled = false;
    poll_fn(move |cx| {
        if polled {
            return Poll::Ready(5);
        }
        polled = true;
        *slot.lock().unwrap() = Some(cx.waker().clone());
        cx.waker().wake_by_ref();
        Poll::Pending
    })
}

#[test]
fn wake_after_completion_does_not_resurrect() {
    let _w = watchdog("wake_after_completion_does_not_resurrect");
    // One worker: a task resubmitted by a stray wake would be queued ahead of `flush` below.
    let rt = runtime(1);
    let flush = |rt: &Runtime| assert_eq!(rt.block_on(rt.spawn(async { 1 })).unwrap(), 1);
    let slot = Arc::new(Mutex::new(None));
    let polls = Counter::new();
    let drops = Counter::new();
    let task = rt.spawn(tracked(keeps_its_waker(slot.clone()), &polls, &drops));
    assert_eq!(rt.block_on(task).unwrap(), 5);
    assert_eq!((polls.get(), drops.get()), (2, 1));

    let waker = slot
        .lock()
        .unwrap()
        .take()
        .expect("the task stored its waker");
    waker.wake_by_ref();
    waker.wake_by_ref();
    let by_value = waker.clone();
    by_value.wake();
    let clone = waker.clone();
    drop(waker);
    flush(&rt);
    // Wakes from inside a task (the worker's local path) too.
    rt.block_on(rt.spawn(async move {
        clone.wake_by_ref();
        clone.wake();
    }))
    .unwrap();
    flush(&rt);
    assert_eq!(
        (polls.get(), drops.get()),
        (2, 1),
        "the completed task ran again"
    );
}

#[test]
fn wake_after_completion_as_last_reference() {
    let _w = watchdog("wake_after_completion_as_last_reference");
    let rt = runtime(1);
    // The JoinHandle is dropped first: the kept waker ends up holding the last reference,
    // and releases it by `wake` (by value) or by `drop`.
    for by_wake in [true, false] {
        let slot = Arc::new(Mutex::new(None));
        let polls = Counter::new();
        let drops = Counter::new();
        let task = rt.spawn(tracked(keeps_its_waker(slot.clone()), &polls, &drops));
        while !task.is_finished() {
            std::thread::yield_now();
        }
        // Let the single worker finish with the task (release its own references).
        assert_eq!(rt.block_on(rt.spawn(async { 1 })).unwrap(), 1);
        drop(task);
        let waker = slot
            .lock()
            .unwrap()
            .take()
            .expect("the task stored its waker");
        waker.wake_by_ref();
        if by_wake {
            waker.wake();
        } else {
            drop(waker);
        }
        assert_eq!(rt.block_on(rt.spawn(async { 1 })).unwrap(), 1);
        assert_eq!((polls.get(), drops.get()), (2, 1));
    }
}

#[test]
fn wake_after_runtime_dropped() {
    let _w = watchdog("wake_after_runtime_dropped");
    let rt = runtime(2);
    let gate = Gate::new();
    let polls = Counter::new();
    let drops = Counter::new();
    let task = rt.spawn(tracked(gate.wait(), &polls, &drops));
    while gate.registrations() == 0 {
        std::thread::yield_now();
    }
    // The gate keeps the waker the pending task registered: it outlives the runtime.
    drop(rt);
    assert_eq!(drops.get(), 1, "shutdown drops the pending future");
    let polls_at_drop = polls.get();
    // Opening the gate now wakes a cancelled task of a dead runtime: nothing may happen.
    gate.open();
    assert!(
        futures_lite::future::block_on(task)
            .unwrap_err()
            .is_cancelled()
    );
    assert_eq!((polls.get(), drops.get()), (polls_at_drop, 1));
}

#[test]
fn join_handle_dropped_before_completion_task_still_runs() {
    let _w = watchdog("join_handle_dropped_before_completion_task_still_runs");
    let rt = runtime(2);
    let gate = Gate::new();
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let future_drops = Counter::new();
    let output_drops = Counter::new();
    let task = rt.spawn(tracked(
        {
            let gate = gate.clone();
            let output_drops = output_drops.clone();
            async move {
                gate.wait().await;
                done_tx.send("side effect").unwrap();
                DropCount(output_drops)
            }
        },
        &Counter::new(),
        &future_drops,
    ));
    while gate.registrations() == 0 {
        std::thread::yield_now();
    }
    assert!(!task.is_finished());
    drop(task); // detach while it is pending
    gate.open();
    assert_eq!(done_rx.recv().unwrap(), "side effect");
    // Nobody will read the output: the runtime drops it, once.
    output_drops.wait_for(1);
    future_drops.wait_for(1);
    drop(rt);
    assert_eq!((output_drops.get(), future_drops.get()), (1, 1));
}

#[test]
fn join_handle_dropped_after_completion_drops_output_once() {
    let _w = watchdog("join_handle_dropped_after_completion_drops_output_once");
    let rt = runtime(2);

    // Dropped unread: the handle's drop drops the stored output.
    let output_drops = Counter::new();
    let task = rt.spawn({
        let output_drops = output_drops.clone();
        async move { DropCount(output_drops) }
    });
    while !task.is_finished() {
        std::thread::yield_now();
    }
    assert_eq!(
        output_drops.get(),
        0,
        "the output is kept for the JoinHandle"
    );
    drop(task);
    assert_eq!(output_drops.get(), 1);

    // Read through `&mut`, then the handle dropped: the output is not dropped a second time.
    let output_drops = Counter::new();
    let mut task = rt.spawn({
        let output_drops = output_drops.clone();
        async move { DropCount(output_drops) }
    });
    let output = rt.block_on(&mut task).unwrap();
    assert!(task.is_finished());
    drop(task);
    assert_eq!(output_drops.get(), 0, "the output was handed out");
    drop(output);
    assert_eq!(output_drops.get(), 1);

    drop(rt);
    assert_eq!(output_drops.get(), 1);
}

#[test]
fn join_handle_awaited_again_with_a_new_waker() {
    let _w = watchdog("join_handle_awaited_again_with_a_new_waker");
    let rt = runtime(2);
    for await_in_task in [false, true] {
        let gate = Gate::new();
        let inner = rt.spawn({
            let gate = gate.clone();
            async move {
                gate.wait().await;
                11
            }
        });
        // A first task polls the JoinHandle once (registering its waker), then hands it on.
        let (first, inner) = rt
            .block_on(rt.spawn(async move {
                let mut inner = inner;
                let first = futures_lite::future::poll_once(&mut inner).await;
                (first.is_none(), inner)
            }))
            .unwrap();
        assert!(first, "the inner task waits on the gate");
        // The second awaiter polls with another waker, then the inner task completes: the
        // second waker must be the one woken (the first task is gone).
        let second = async move {
            let mut inner = inner;
            assert!(futures_lite::future::poll_once(&mut inner).await.is_none());
            gate.open();
            inner.await.unwrap()
        };
        let out = if await_in_task {
            rt.block_on(rt.spawn(second)).unwrap()
        } else {
            rt.block_on(second)
        };
        assert_eq!(out, 11);
    }
}

/// Completes once `counter` reaches `target`; registers its waker before each check.
struct CountTo {
    counter: Arc<AtomicUsize>,
    slot: Arc<Mutex<Option<Waker>>>,
    target: usize,
}

impl Future for CountTo {
    type Output = usize;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<usize> {
        *self.slot.lock().unwrap() = Some(cx.waker().clone());
        let now = self.counter.load(SeqCst);
        if now >= self.target {
            Poll::Ready(now)
        } else {
            Poll::Pending
        }
    }
}

#[test]
fn wake_stampede_from_foreign_threads_loses_no_wakeup() {
    let _w = watchdog("wake_stampede_from_foreign_threads_loses_no_wakeup");
    const THREADS: usize = 4;
    const WAKES: usize = 10_000;
    for workers in [1, 2] {
        let rt = runtime(workers);
        let counter = Arc::new(AtomicUsize::new(0));
        let slot: Arc<Mutex<Option<Waker>>> = Arc::default();
        let polls = Counter::new();
        let drops = Counter::new();
        let task = rt.spawn(tracked(
            CountTo {
                counter: counter.clone(),
                slot: slot.clone(),
                target: THREADS * WAKES,
            },
            &polls,
            &drops,
        ));
        polls.wait_for(1); // the waker is registered
        let wakers: Vec<_> = (0..THREADS)
            .map(|t| {
                let (counter, slot) = (counter.clone(), slot.clone());
                std::thread::spawn(move || {
                    for i in 0..WAKES {
                        counter.fetch_add(1, SeqCst);
                        let waker = slot.lock().unwrap().clone().unwrap();
                        if (t + i) % 2 == 0 {
                            waker.wake_by_ref();
                        } else {
                            waker.wake();
                        }
                    }
                })
            })
            .collect();
        for thread in wakers {
            thread.join().unwrap();
        }
        // A lost wakeup leaves the task pending forever (the watchdog reports the hang).
        assert_eq!(rt.block_on(task).unwrap(), THREADS * WAKES);
        assert_eq!(drops.get(), 1);
        drop(slot); // the last waker: releases the task
    }
}

#[test]
fn join_handle_dropped_by_its_own_task() {
    let _w = watchdog("join_handle_dropped_by_its_own_task");
    let rt = runtime(2);
    let slot: Arc<Mutex<Option<creche::JoinHandle<DropCount>>>> = Arc::default();
    let gate = Gate::new();
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let output_drops = Counter::new();
    let future_drops = Counter::new();
    let task = rt.spawn(tracked(
        {
            let (slot, gate, output_drops) = (slot.clone(), gate.clone(), output_drops.clone());
            async move {
                gate.wait().await;
                // Detach itself while running.
                drop(slot.lock().unwrap().take().expect("handle stored"));
                creche::yield_now().await;
                done_tx.send("ran on").unwrap();
                DropCount(output_drops)
            }
        },
        &Counter::new(),
        &future_drops,
    ));
    *slot.lock().unwrap() = Some(task);
    gate.open();
    assert_eq!(done_rx.recv().unwrap(), "ran on");
    output_drops.wait_for(1);
    future_drops.wait_for(1);
    drop(rt);
    assert_eq!((output_drops.get(), future_drops.get()), (1, 1));
}
