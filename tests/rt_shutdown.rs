//! Shutdown: dropping the runtime drops every remaining future exactly once (pending tasks,
//! tasks holding each other's wakers in a cycle, tasks still queued, tasks spawned by
//! destructors during the shutdown itself), its `JoinHandle`s report `is_cancelled`, the
//! worker and blocking threads are joined, and spawning on a dead runtime cancels at once.

mod common;

use common::{Counter, DropCount, Gate, spawn_and_sum, tracked, watchdog};
use creche::{Handle, JoinHandle, Runtime};
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Barrier, Mutex};
use std::task::{Context, Poll, Waker};

type WakerSlot = Arc<Mutex<Option<Waker>>>;

/// One half of a pair of tasks that hold each other's wakers: a reference cycle between the
/// two task allocations that only dropping the futures breaks. Pending forever; its
/// destructor wakes the partner (a wake during shutdown).
struct CycleHalf {
    /// Where the partner deposits its waker; owned (through the Arc) by this future.
    own: WakerSlot,
    /// The partner's slot, where this future deposits its waker.
    partner: WakerSlot,
    polled: Counter,
    _drop: DropCount,
}

impl Future for CycleHalf {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        *self.partner.lock().unwrap() = Some(cx.waker().clone());
        self.polled.incr();
        Poll::Pending
    }
}

impl Drop for CycleHalf {
    fn drop(&mut self) {
        let partner = self.own.lock().unwrap().take();
        if let Some(waker) = partner {
            waker.wake();
        }
    }
}

/// Pending forever; its destructor spawns another `SpawnOnDrop` of depth - 1 through
/// `handle` (during shutdown: onto a runtime that is shutting down).
struct SpawnOnDrop {
    handle: Handle,
    depth: usize,
    drops: Counter,
    spawned: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Future for SpawnOnDrop {
    type Output = ();
    fn poll(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<()> {
        Poll::Pending
    }
}

impl Drop for SpawnOnDrop {
    fn drop(&mut self) {
        self.drops.incr();
        if self.depth > 0 {
            let child = self.handle.spawn(SpawnOnDrop {
                handle: self.handle.clone(),
                depth: self.depth - 1,
                drops: self.drops.clone(),
                spawned: self.spawned.clone(),
            });
            self.spawned.lock().unwrap().push(child);
        }
    }
}

/// A task that occupies a worker until `release` is set; it signals `started` first and,
/// before spinning, runs `then` (to spawn onto this worker's own queue).
fn spawn_blocker(
    rt: &Runtime,
    started: &Counter,
    release: &Arc<AtomicBool>,
    drops: &Counter,
    then: impl FnOnce() + Send + 'static,
) -> JoinHandle<()> {
    let (signal, release) = (started.clone(), release.clone());
    let mut then = Some(then);
    let already = started.get();
    let task = rt.spawn(tracked(
        poll_fn(move |_| {
            signal.incr();
            (then.take().unwrap())();
            while !release.load(SeqCst) {
                std::thread::yield_now();
            }
            Poll::Ready(())
        }),
        &Counter::new(),
        drops,
    ));
    started.wait_for(already + 1);
    task
}

fn cancelled(task: JoinHandle<()>) -> bool {
    futures_lite::future::block_on(task)
        .unwrap_err()
        .is_cancelled()
}

#[test]
fn destructors_every_future_dropped_once_on_runtime_drop() {
    let _w = watchdog("destructors_every_future_dropped_once_on_runtime_drop");
    const PENDING: usize = 200;
    const PAIRS: usize = 50;
    const SPAWNERS: usize = 20;
    const DEPTH: usize = 2; // each spawner's destructor spawns a chain of 2 more
    const QUEUED: usize = 200;
    const QUEUED_LOCAL: usize = 50;

    let rt = Runtime::builder().worker_threads(2).build().unwrap();
    let mut handles: Vec<JoinHandle<()>> = Vec::new();

    // Pending forever, after one poll.
    let pending_polls = Counter::new();
    let pending_drops = Counter::new();
    for _ in 0..PENDING {
        let gate = Gate::new(); // never opened
        handles.push(rt.spawn(tracked(gate.wait(), &pending_polls, &pending_drops)));
    }

    // Pairs holding each other's wakers.
    let cycle_polls = Counter::new();
    let cycle_drops = Counter::new();
    for _ in 0..PAIRS {
        let (slot_a, slot_b) = (WakerSlot::default(), WakerSlot::default());
        for (own, partner) in [(&slot_a, &slot_b), (&slot_b, &slot_a)] {
            handles.push(rt.spawn(CycleHalf {
                own: own.clone(),
                partner: partner.clone(),
                polled: cycle_polls.clone(),
                _drop: DropCount(cycle_drops.clone()),
            }));
        }
    }

    // Destructors that spawn.
    let spawner_drops = Counter::new();
    let spawned_in_drop = Arc::new(Mutex::new(Vec::new()));
    for _ in 0..SPAWNERS {
        handles.push(rt.spawn(SpawnOnDrop {
            handle: rt.handle().clone(),
            depth: DEPTH,
            drops: spawner_drops.clone(),
            spawned: spawned_in_drop.clone(),
        }));
    }
    pending_polls.wait_for(PENDING);
    cycle_polls.wait_for(2 * PAIRS);

    // Both workers busy; then tasks queued behind them, on a worker's own queue and on the
    // injector. Few or none of them are polled: the workers see the shutdown as soon as the
    // blockers return (the task in a worker's LIFO slot may run first, and one could slip in
    // if this thread were preempted between `release` and `drop`). Either way each future
    // must be dropped once.
    let release = Arc::new(AtomicBool::new(false));
    let started = Counter::new();
    let blocker_drops = Counter::new();
    let queued_polls = Counter::new();
    let queued_drops = Counter::new();
    let local_handles = Arc::new(Mutex::new(Vec::new()));
    let blockers = [
        spawn_blocker(&rt, &started, &release, &blocker_drops, || {}),
        spawn_blocker(&rt, &started, &release, &blocker_drops, {
            let (polls, drops, local_handles) = (
                queued_polls.clone(),
                queued_drops.clone(),
                local_handles.clone(),
            );
            move || {
                let mut local_handles = local_handles.lock().unwrap();
                for _ in 0..QUEUED_LOCAL {
                    local_handles.push(creche::spawn(tracked(
                        std::future::pending::<()>(),
                        &polls,
                        &drops,
                    )));
                }
            }
        }),
    ];
    for _ in 0..QUEUED {
        handles.push(rt.spawn(tracked(
            std::future::pending::<()>(),
            &queued_polls,
            &queued_drops,
        )));
    }
    assert_eq!(
        pending_drops.get() + cycle_drops.get() + queued_drops.get(),
        0
    );

    release.store(true, SeqCst);
    drop(rt);

    eprintln!(
        "{} of {} queued tasks were polled before the workers stopped",
        queued_polls.get(),
        QUEUED + QUEUED_LOCAL
    );
    assert_eq!(pending_drops.get(), PENDING, "pending tasks");
    assert_eq!(pending_polls.get(), PENDING, "pending tasks polled again");
    assert_eq!(cycle_drops.get(), 2 * PAIRS, "tasks in waker cycles");
    assert_eq!(cycle_polls.get(), 2 * PAIRS, "cycle tasks polled again");
    assert_eq!(
        spawner_drops.get(),
        SPAWNERS * (1 + DEPTH),
        "spawned by destructors"
    );
    assert_eq!(queued_drops.get(), QUEUED + QUEUED_LOCAL, "queued tasks");
    assert_eq!(blocker_drops.get(), 2, "blockers");

    for blocker in blockers {
        futures_lite::future::block_on(blocker).unwrap();
    }
    let spawned_in_drop = std::mem::take(&mut *spawned_in_drop.lock().unwrap());
    assert_eq!(spawned_in_drop.len(), SPAWNERS * DEPTH);
    let local_handles = std::mem::take(&mut *local_handles.lock().unwrap());
    for (i, task) in handles
        .into_iter()
        .chain(spawned_in_drop)
        .chain(local_handles)
        .enumerate()
    {
        assert!(cancelled(task), "JoinHandle {i} is not cancelled");
    }
}

#[test]
fn shutdown_joins_worker_threads() {
    let _w = watchdog("shutdown_joins_worker_threads");
    const WORKERS: usize = 3;
    let started = Counter::new();
    let stopped = Counter::new();
    let names = Arc::new(Mutex::new(Vec::new()));
    let rt = Runtime::builder()
        .worker_threads(WORKERS)
        .thread_name("hooked")
        .on_thread_start({
            let (started, names) = (started.clone(), names.clone());
            move || {
                started.incr();
                let name = std::thread::current().name().unwrap().to_owned();
                names.lock().unwrap().push(name);
            }
        })
        .on_thread_stop({
            let stopped = stopped.clone();
            move || {
                stopped.incr();
            }
        })
        .build()
        .unwrap();
    let sum = rt.block_on(spawn_and_sum(100));
    assert_eq!(sum, 4950);
    drop(rt); // joins: every worker's stop hook has run when drop returns
    assert_eq!((started.get(), stopped.get()), (WORKERS, WORKERS));
    let mut names = Arc::into_inner(names).unwrap().into_inner().unwrap();
    names.sort();
    assert_eq!(
        names,
        ["hooked-worker-0", "hooked-worker-1", "hooked-worker-2"]
    );
}

#[test]
fn shutdown_joins_blocking_threads() {
    let _w = watchdog("shutdown_joins_blocking_threads");
    let started = Counter::new();
    let stopped = Counter::new();
    let rt = Runtime::builder()
        .worker_threads(1)
        .max_blocking_threads(2)
        .on_thread_start({
            let started = started.clone();
            move || {
                started.incr();
            }
        })
        .on_thread_stop({
            let stopped = stopped.clone();
            move || {
                stopped.incr();
            }
        })
        .build()
        .unwrap();
    // Two closures that wait for each other: two blocking threads.
    let barrier = Arc::new(Barrier::new(2));
    let tasks: Vec<_> = (0..2)
        .map(|_| {
            let barrier = barrier.clone();
            rt.spawn_blocking(move || {
                barrier.wait();
            })
        })
        .collect();
    for task in tasks {
        rt.block_on(task).unwrap();
    }
    drop(rt);
    assert_eq!(
        (started.get(), stopped.get()),
        (3, 3),
        "1 worker + 2 blocking threads"
    );
}

#[test]
fn shutdown_cancels_queued_blocking_closures_and_waits_for_running_one() {
    let _w = watchdog("shutdown_cancels_queued_blocking_closures_and_waits_for_running_one");
    const QUEUED: usize = 20;
    let rt = Runtime::builder()
        .worker_threads(1)
        .max_blocking_threads(1)
        .build()
        .unwrap();
    let queued_drops = Counter::new();
    let ran = Counter::new();
    let running_started = Counter::new();
    let running_finished = Arc::new(AtomicBool::new(false));
    // Occupies the only blocking thread until the shutdown cancels the first queued closure.
    let running = rt.spawn_blocking({
        let (queued_drops, started, finished) = (
            queued_drops.clone(),
            running_started.clone(),
            running_finished.clone(),
        );
        move || {
            started.incr();
            queued_drops.wait_for(1);
            finished.store(true, SeqCst);
        }
    });
    running_started.wait_for(1);
    let queued: Vec<_> = (0..QUEUED)
        .map(|_| {
            let (token, ran) = (DropCount(queued_drops.clone()), ran.clone());
            rt.spawn_blocking(move || {
                let _token = token;
                ran.incr();
            })
        })
        .collect();
    drop(rt);
    assert!(
        running_finished.load(SeqCst),
        "drop returned before the running closure finished"
    );
    assert_eq!(ran.get(), 0, "a queued closure ran after the shutdown");
    assert_eq!(queued_drops.get(), QUEUED);
    futures_lite::future::block_on(running).unwrap();
    for task in queued {
        assert!(cancelled(task));
    }
}

#[test]
fn shutdown_spawn_after_drop_is_cancelled() {
    let _w = watchdog("shutdown_spawn_after_drop_is_cancelled");
    let rt = Runtime::builder().worker_threads(2).build().unwrap();
    let handle = rt.handle().clone();
    drop(rt);

    let polls = Counter::new();
    let drops = Counter::new();
    let task = handle.spawn(tracked(async {}, &polls, &drops));
    assert_eq!(drops.get(), 1, "the future is dropped at once");
    assert!(cancelled(task));

    // Through Handle::enter and the free function, from another thread.
    let (polls2, drops2, handle2) = (polls.clone(), drops.clone(), handle.clone());
    let task = std::thread::spawn(move || {
        let _guard = handle2.enter();
        creche::spawn(tracked(async {}, &polls2, &drops2))
    })
    .join()
    .unwrap();
    assert_eq!(drops.get(), 2);
    assert!(cancelled(task));

    // A blocking closure: never runs, dropped.
    let token = DropCount(drops.clone());
    let ran = Counter::new();
    let blocking = handle.spawn_blocking({
        let ran = ran.clone();
        move || {
            let _token = token;
            ran.incr();
        }
    });
    assert!(
        futures_lite::future::block_on(blocking)
            .unwrap_err()
            .is_cancelled()
    );
    assert_eq!((polls.get(), ran.get(), drops.get()), (0, 0, 3));
}

/// Builds a runtime whose worker stop hook counts into `stopped`.
fn runtime_counting_stops(workers: usize, stopped: &Counter) -> Runtime {
    let stopped = stopped.clone();
    Runtime::builder()
        .worker_threads(workers)
        .on_thread_stop(move || {
            if std::thread::current().name().unwrap().contains("-worker-") {
                stopped.incr();
            }
        })
        .build()
        .unwrap()
}

#[test]
fn shutdown_runtime_dropped_inside_its_own_task() {
    let _w = watchdog("shutdown_runtime_dropped_inside_its_own_task");
    const PENDING: usize = 50;
    let stopped = Counter::new();
    let rt = runtime_counting_stops(2, &stopped);
    let polls = Counter::new();
    let drops = Counter::new();
    let pending: Vec<_> = (0..PENDING)
        .map(|_| rt.spawn(tracked(std::future::pending::<()>(), &polls, &drops)))
        .collect();
    polls.wait_for(PENDING);
    let handle = rt.handle().clone();
    let slot = Arc::new(Mutex::new(Some(rt)));
    let dropper = handle.spawn({
        let slot = slot.clone();
        let drops = drops.clone();
        async move {
            let rt: Runtime = slot.lock().unwrap().take().unwrap();
            drop(rt); // joins the other worker, not this one
            let drops_seen = drops.get();
            // Still running: the pending tasks are gone, spawning cancels at once.
            let late = creche::spawn(tracked(async {}, &Counter::new(), &drops));
            (drops_seen, late.await.unwrap_err().is_cancelled())
        }
    });
    let (drops_seen, late_cancelled) = futures_lite::future::block_on(dropper).unwrap();
    assert_eq!(drops_seen, PENDING);
    assert!(late_cancelled);
    assert_eq!(drops.get(), PENDING + 1);
    for task in pending {
        assert!(cancelled(task));
    }
    // The worker that dropped the runtime exits once its task is done.
    stopped.wait_for(2);
}

#[test]
fn shutdown_runtime_dropped_inside_spawn_blocking() {
    let _w = watchdog("shutdown_runtime_dropped_inside_spawn_blocking");
    let stopped = Counter::new();
    let rt = runtime_counting_stops(2, &stopped);
    let polls = Counter::new();
    let drops = Counter::new();
    let pending = rt.spawn(tracked(std::future::pending::<()>(), &polls, &drops));
    polls.wait_for(1);
    let handle = rt.handle().clone();
    let slot = Arc::new(Mutex::new(Some(rt)));
    let dropper = handle.spawn_blocking({
        let (slot, drops) = (slot.clone(), drops.clone());
        move || {
            let rt: Runtime = slot.lock().unwrap().take().unwrap();
            drop(rt); // joins the workers and every blocking thread but this one
            drops.get()
        }
    });
    assert_eq!(futures_lite::future::block_on(dropper).unwrap(), 1);
    assert_eq!(stopped.get(), 2, "the workers were joined");
    assert!(cancelled(pending));
}
