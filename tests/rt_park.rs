//! A custom `Park` driver installed with `Builder::park`: tasks still run, an idle worker
//! blocks in the driver and is unparked through the driver's `Unpark` when work arrives,
//! events the driver fires wake their tasks, and `shutdown` runs once, after the workers
//! stopped.

mod common;

use common::{Counter, DropCount, spawn_and_sum, watchdog};
use creche::runtime::Runtime;
use creche::runtime::park::{Park, Unpark};
use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

/// The driver's state, shared by the driver, its unparker, the event futures and the test.
#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    /// Wakes the thread blocked in `park`.
    wake_driver: Condvar,
    /// Notified on every change of `state`, for the test to wait on.
    changed: Condvar,
    unparks: Counter,
}

#[derive(Default)]
struct State {
    /// An unpark arrived (consumed by the next `park`).
    token: bool,
    /// Events to fire at the next `park`: the waiting task's waker and its "fired" flag.
    events: Vec<(Waker, Arc<AtomicBool>)>,
    /// Calls of `park`: all, and the ones that may block (no zero timeout).
    parks: usize,
    blocking_parks: usize,
    /// The name of the thread blocked in `park` right now, if any.
    blocked: Option<String>,
    /// Calls of `shutdown`, with the number of stopped worker threads at the time.
    shutdowns: Vec<usize>,
    /// Names of the threads that called `park`.
    park_threads: HashSet<String>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    /// Waits until `condition` holds on the state (a condition, not a duration: the
    /// watchdog guards the wait).
    fn wait_until(&self, condition: impl Fn(&State) -> bool) {
        let mut state = self.lock();
        while !condition(&state) {
            state = self.changed.wait(state).unwrap();
        }
    }
}

impl Unpark for Shared {
    fn unpark(&self) {
        self.unparks.incr();
        self.lock().token = true;
        self.wake_driver.notify_one();
    }
}

/// The driver: a condvar park (as in the `park` module's example) that also fires events.
struct TestDriver {
    shared: Arc<Shared>,
    stopped_workers: Counter,
    _drop: DropCount,
}

impl Park for TestDriver {
    fn park(&mut self, timeout: Option<Duration>) {
        let shared = &*self.shared;
        let mut state = shared.lock();
        state.parks += 1;
        let name = std::thread::current().name().unwrap_or("").to_owned();
        state.park_threads.insert(name);
        let may_block = timeout != Some(Duration::ZERO);
        if may_block {
            state.blocking_parks += 1;
        }
        if may_block && !state.token && state.events.is_empty() {
            state.blocked = std::thread::current().name().map(str::to_owned);
            shared.changed.notify_all();
            state = match timeout {
                Some(t) => shared.wake_driver.wait_timeout(state, t).unwrap().0,
                None => shared.wake_driver.wait(state).unwrap(),
            };
            state.blocked = None;
        }
        state.token = false;
        let events = std::mem::take(&mut state.events);
        shared.changed.notify_all();
        drop(state);
        for (waker, fired) in events {
            fired.store(true, SeqCst);
            waker.wake();
        }
    }

    fn unparker(&self) -> Arc<dyn Unpark> {
        self.shared.clone()
    }

    fn shutdown(&mut self) {
        let stopped = self.stopped_workers.get();
        self.shared.lock().shutdowns.push(stopped);
        self.shared.changed.notify_all();
    }
}

/// A future completed by the driver: it registers with the driver, kicks it, and is ready
/// once the driver fired it.
struct DriverEvent {
    shared: Arc<Shared>,
    fired: Option<Arc<AtomicBool>>,
}

impl Future for DriverEvent {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if let Some(fired) = &self.fired {
            if fired.load(SeqCst) {
                return Poll::Ready(());
            }
        }
        let fired = self.fired.get_or_insert_with(Default::default).clone();
        self.shared.lock().events.push((cx.waker().clone(), fired));
        self.shared.unpark();
        Poll::Pending
    }
}

struct Fixture {
    rt: Runtime,
    shared: Arc<Shared>,
    stopped_workers: Counter,
    driver_drops: Counter,
}

fn runtime_with_driver(workers: usize) -> Fixture {
    let shared = Arc::new(Shared::default());
    let stopped_workers = Counter::new();
    let driver_drops = Counter::new();
    let rt = Runtime::builder()
        .worker_threads(workers)
        .thread_name("parked")
        .on_thread_stop({
            let stopped = stopped_workers.clone();
            move || {
                if std::thread::current().name().unwrap().contains("-worker-") {
                    stopped.incr();
                }
            }
        })
        .park(TestDriver {
            shared: shared.clone(),
            stopped_workers: stopped_workers.clone(),
            _drop: DropCount(driver_drops.clone()),
        })
        .build()
        .unwrap();
    Fixture {
        rt,
        shared,
        stopped_workers,
        driver_drops,
    }
}

fn sum_of_tasks(rt: &Runtime, count: u64) -> u64 {
    rt.block_on(spawn_and_sum(count))
}

#[test]
fn park_custom_driver_runs_tasks_and_parks_when_idle() {
    let _w = watchdog("park_custom_driver_runs_tasks_and_parks_when_idle");
    for workers in [1, 2] {
        let f = runtime_with_driver(workers);
        assert_eq!(sum_of_tasks(&f.rt, 1_000), 499_500);
        // Idle now: a worker ends up blocked in the driver.
        f.shared.wait_until(|s| s.blocked.is_some());
        let state = f.shared.lock();
        assert!(state.parks >= 1 && state.blocking_parks >= 1);
        let blocked = state.blocked.clone().unwrap();
        assert!(blocked.starts_with("parked-worker-"), "{blocked}");
    }
}

#[test]
fn park_idle_worker_unparked_through_driver() {
    let _w = watchdog("park_idle_worker_unparked_through_driver");
    // One worker, blocked in the driver: new work can only reach it through `Unpark`.
    let f = runtime_with_driver(1);
    for round in 0..20_u32 {
        f.shared.wait_until(|s| s.blocked.is_some());
        let unparks = f.shared.unparks.get();
        let task = f.rt.spawn(async move { round });
        assert_eq!(f.rt.block_on(task).unwrap(), round);
        assert!(f.shared.unparks.get() > unparks, "round {round}: no unpark");
    }
}

#[test]
fn park_driver_events_wake_tasks() {
    let _w = watchdog("park_driver_events_wake_tasks");
    const TASKS: usize = 4;
    const EVENTS: usize = 50;
    for workers in [1, 2] {
        let f = runtime_with_driver(workers);
        let done = f.rt.block_on({
            let shared = f.shared.clone();
            async move {
                let tasks: Vec<_> = (0..TASKS)
                    .map(|_| {
                        let shared = shared.clone();
                        creche::spawn(async move {
                            for _ in 0..EVENTS {
                                DriverEvent {
                                    shared: shared.clone(),
                                    fired: None,
                                }
                                .await;
                            }
                            EVENTS
                        })
                    })
                    .collect();
                let mut done = 0;
                for task in tasks {
                    done += task.await.unwrap();
                }
                done
            }
        });
        assert_eq!(done, TASKS * EVENTS, "{workers} workers");
        // The block_on thread may also have driven the driver; events ran either way.
        assert!(f.shared.lock().events.is_empty());
    }
}

#[test]
fn park_driver_shutdown_once_after_workers_stopped() {
    let _w = watchdog("park_driver_shutdown_once_after_workers_stopped");
    const WORKERS: usize = 2;
    let f = runtime_with_driver(WORKERS);
    assert_eq!(sum_of_tasks(&f.rt, 100), 4950);
    f.shared.wait_until(|s| s.blocked.is_some());
    assert!(f.shared.lock().shutdowns.is_empty());
    drop(f.rt);
    assert_eq!(
        f.shared.lock().shutdowns,
        [WORKERS],
        "one shutdown, after every worker"
    );
    assert_eq!(f.stopped_workers.get(), WORKERS);
    assert_eq!(f.driver_drops.get(), 1, "the runtime dropped its driver");
}

#[test]
fn park_block_on_leaves_the_driver_to_the_workers() {
    let _w = watchdog("park_block_on_leaves_the_driver_to_the_workers");
    let f = runtime_with_driver(1);
    // block_on's own future waits on driver events: the worker runs the driver, and the
    // calling thread (a passenger) sleeps on its condvar until the events wake it.
    f.rt.block_on(async {
        for _ in 0..10 {
            DriverEvent {
                shared: f.shared.clone(),
                fired: None,
            }
            .await;
        }
    });
    let me = std::thread::current().name().unwrap().to_owned();
    let park_threads = f.shared.lock().park_threads.clone();
    assert!(!park_threads.is_empty(), "a worker drove the driver");
    assert!(!park_threads.contains(&me), "{me} in {park_threads:?}");
}

/// The stock `ThreadPark` by hand: an unpark leaves a token that makes the next `park(None)`
/// return (without it this test would block forever and the watchdog would fire), the token
/// is consumed, and timed parks return on their own.
#[test]
fn thread_park_token_and_timeouts() {
    use creche::runtime::park::ThreadPark;
    let _w = watchdog("thread_park_token_and_timeouts");
    let mut park = ThreadPark::new();
    assert!(format!("{park:?}").contains("ThreadPark"));
    park.park(Some(Duration::ZERO));
    let unparker = park.unparker();
    unparker.unpark();
    park.park(None);
    // The token was consumed: a timed park now waits for its timeout and returns.
    park.park(Some(Duration::from_millis(1)));
    // An unpark from another thread releases a park that blocks with no timeout.
    let from_thread = std::thread::spawn(move || unparker.unpark());
    park.park(None);
    from_thread.join().unwrap();
}

/// A runtime built on `ThreadPark` runs tasks spawned from outside it (the idle worker is
/// woken through the park's unparker) and reports idleness through its `IdleMonitor`.
#[test]
fn thread_park_under_a_runtime_runs_outside_spawns() {
    use creche::runtime::park::ThreadPark;
    let _w = watchdog("thread_park_under_a_runtime_runs_outside_spawns");
    let rt = Runtime::builder()
        .worker_threads(1)
        .park(ThreadPark::new())
        .build()
        .unwrap();
    let monitor = rt.handle().idle_monitor().expect("built with a driver");
    rt.block_on(async {
        let debug = format!("{monitor:?}");
        assert_eq!(debug, "IdleMonitor { idle_epoch: None }");
    });
    assert_eq!(sum_of_tasks(&rt, 100), 4_950);
    // Spawns from plain threads reach the (by now probably parked) worker.
    let handle = rt.handle().clone();
    let joins: Vec<_> = (0..4u64)
        .map(|i| {
            let handle = handle.clone();
            std::thread::spawn(move || handle.spawn(async move { i * 10 }))
        })
        .collect();
    let tasks: Vec<_> = joins.into_iter().map(|j| j.join().unwrap()).collect();
    let total = rt.block_on(async move {
        let mut total = 0;
        for task in tasks {
            total += task.await.unwrap();
        }
        total
    });
    assert_eq!(total, 60);
}
