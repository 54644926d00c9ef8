//! Scheduler, timer and structured-concurrency comparison: creche vs tokio (multi-thread)
//! vs smol (`async-executor`), and vs rayon for fork-join.
//!
//! The scheduler workloads and their parameters are those of tokio's
//! `benches/rt_multi_threaded.rs` (spawn_many_local, spawn_many_remote_idle,
//! spawn_many_remote_busy1/2, yield_many, ping_pong, chained_spawn). One deliberate
//! deviation: instead of tokio's fixed `NUM_WORKERS = 4`, every runtime gets one worker
//! thread per core (`std::thread::available_parallelism()`), so the figures scale with
//! the machine; the busy workloads scale their background task count with it.
//!
//! Every scheduler workload is one criterion group with the functions `creche`, `tokio`
//! and `smol`. Only the executor differs: all three use `std::sync::mpsc` for the "done"
//! signal and `tokio::sync::oneshot` (runtime-agnostic) in ping_pong. For smol, a
//! leaked `async_executor::Executor<'static>` is driven by one thread per core, and
//! `block_on` is `futures_lite::future::block_on` on the bench thread, which (as with
//! tokio's and creche's `block_on`) is not one of the workers.
//!
//! Two timer workloads compare creche's `creche::time` (the facade runtime's timer
//! driver on the system clock) with `tokio::time`, with the same worker count and the
//! same shape; smol has no comparable timer in `async-executor` and is left out of
//! these groups (its cells read "—"):
//! - timeout_ready: 100_000 ready futures, each wrapped in `timeout(1 s, ..)`, which
//!   never fires; one task per worker awaits its share in a loop, checking each result
//!   is `Ok`, and the bench joins the tasks.
//! - sleep_many: 100_000 tasks spawned from `block_on`, task `i` sleeping
//!   `1 + i % 10` ms, all awaited.
//!
//! Four structured-concurrency workloads compare creche's nurseries and cancel scopes
//! with the nearest idiom of the others; each runs inside one task spawned from the bench
//! thread, except rayon's:
//! - nursery_fanout (creche, tokio, smol): spawn 100_000 children that return at once and
//!   wait for them all: a nursery closing, a tokio `JoinSet` drained with `join_next`, a
//!   `Vec` of smol `Task`s awaited one by one.
//! - nursery_cancel (creche, tokio): 10_000 children sleeping an hour, all parked; then
//!   cancel them all and wait until they are gone (a nursery's cancel scope, or
//!   `JoinSet::abort_all` + `join_next`). Only the cancel and the wait are timed.
//! - move_on_after_ready (creche, tokio): timeout_ready with creche's
//!   `move_on_after(1 s, ..)` (a cancel scope) against `tokio::time::timeout`.
//! - fib_fork_join (creche, tokio, rayon): `fib(36)` by fork-join recursion, sequential
//!   below 18: a nursery per fork, `tokio::spawn` + `JoinHandle`, `rayon::join` on a pool
//!   of one thread per core.
//!
//! Run with `cargo bench --bench compare`. After criterion finishes, the medians are
//! printed as a markdown table and spliced into `BENCHMARKS.md` between the
//! `<!-- compare:begin -->` / `<!-- compare:end -->` markers (see `report/mod.rs`).
//!
//! Then, if this run measured sleep_many, the peak resident set size of sleep_many is
//! probed for creche and tokio: one process has one high-water mark, so the bench
//! re-executes itself (`std::env::current_exe()`) with `CRECHE_BENCH_RSS_PROBE=creche`
//! or `=tokio`, three times each. Such a child runs one sleep_many iteration on that
//! runtime only, prints `VmHWM` of `/proc/self/status` (before building the runtime and
//! at the end; `n/a` off Linux) and the most sleeps pending at once, and exits before
//! criterion starts. The medians are printed and, on a full run only, spliced between
//! `<!-- rss:begin -->` / `<!-- rss:end -->`. A filtered run
//! (`cargo bench --bench compare -- 'timeout_ready|sleep_many'`) prints both tables and
//! leaves `BENCHMARKS.md` alone.

mod report;

use std::convert::Infallible;
use std::future::Future;
use std::hint::black_box;
use std::pin::Pin;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, SamplingMode};
use tokio::sync::oneshot;

/// Tasks spawned per iteration by the spawn_many_* workloads (tokio: `NUM_SPAWN`).
const NUM_SPAWN: usize = 10_000;
/// CPU time burnt per step by the background tasks of the busy workloads
/// (tokio: `STALL_DUR`).
const STALL_DUR: Duration = Duration::from_micros(10);

/// Criterion defaults for every group (command-line flags still override them).
/// Sized so the 34 functions finish well within ten minutes on two cores (about three
/// and a half minutes in all).
const SAMPLE_SIZE: usize = 20;
const WARM_UP: Duration = Duration::from_secs(1);
const MEASUREMENT: Duration = Duration::from_secs(3);

type Group<'a> = BenchmarkGroup<'a, WallTime>;

// ---------------------------------------------------------------------------
// The three runtimes behind one small interface.
// ---------------------------------------------------------------------------

/// Spawning from inside the runtime (inside a task or inside `block_on`).
///
/// creche and tokio use their context-based free functions (`creche::spawn`,
/// `tokio::spawn`), like tokio's bench; smol uses the executor captured in the task.
trait Spawner: Clone + Send + Sync + 'static {
    /// Spawns a detached task.
    fn spawn<F>(&self, fut: F)
    where
        F: Future<Output = ()> + Send + 'static;

    /// The runtime's cooperative yield.
    fn yield_now(&self) -> impl Future<Output = ()> + Send;

    /// Spawns `count` children that return at once and waits until they are all done, the
    /// runtime's idiomatic way: creche a nursery (joined by its closing), tokio a `JoinSet`
    /// (drained with `join_next`), smol a `Vec` of `Task`s (each awaited).
    fn fan_out(&self, count: usize) -> impl Future<Output = ()> + Send;
}

/// A runtime under test, owned by the bench thread.
trait Flavor: Sized {
    /// Criterion function name inside each group.
    const NAME: &'static str;
    /// In-runtime spawner handed to tasks.
    type Spawner: Spawner;

    /// Builds the runtime with `workers` worker threads.
    fn build(workers: usize) -> Self;

    /// Returns the spawner that tasks capture.
    fn spawner(&self) -> Self::Spawner;

    /// Runs `fut` to completion on the calling (bench) thread.
    fn block_on<F: Future>(&self, fut: F) -> F::Output;

    /// `rt.spawn(fut)` from outside the runtime; the handle is dropped (detached).
    fn spawn_detached<F>(&self, fut: F)
    where
        F: Future<Output = ()> + Send + 'static;

    /// `rt.spawn(fut)` from outside the runtime; the result resolves when the task
    /// finished (a join error panics).
    fn spawn_joined<F>(&self, fut: F) -> impl Future<Output = ()>
    where
        F: Future<Output = ()> + Send + 'static;

    /// `rt.handle().spawn(fut)` from outside the runtime, awaited like
    /// [`Flavor::spawn_joined`].
    fn handle_spawn_joined<F>(&self, fut: F) -> impl Future<Output = ()>
    where
        F: Future<Output = ()> + Send + 'static;
}

/// creche's work-stealing runtime.
struct Creche {
    rt: creche::Runtime,
}

#[derive(Clone, Copy)]
struct CrecheSpawner;

impl Spawner for CrecheSpawner {
    fn spawn<F>(&self, fut: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        // Dropping the JoinHandle detaches the task.
        let _detached = creche::spawn(fut);
    }

    fn yield_now(&self) -> impl Future<Output = ()> + Send {
        creche::yield_now()
    }

    async fn fan_out(&self, count: usize) {
        let closed = creche::open_nursery(|nursery| async move {
            for _ in 0..count {
                // The handle is dropped: the nursery's closing is the join.
                nursery.spawn(async { Ok::<(), Infallible>(()) });
            }
            Ok::<(), Infallible>(())
        })
        .await;
        assert_eq!(closed, Ok(Some(())));
    }
}

impl Flavor for Creche {
    const NAME: &'static str = "creche";
    type Spawner = CrecheSpawner;

    fn build(workers: usize) -> Self {
        let rt = creche::Runtime::builder()
            .worker_threads(workers)
            .build()
            .expect("failed to build the creche runtime");
        Self { rt }
    }

    fn spawner(&self) -> CrecheSpawner {
        CrecheSpawner
    }

    fn block_on<F: Future>(&self, fut: F) -> F::Output {
        self.rt.block_on(fut)
    }

    fn spawn_detached<F>(&self, fut: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let _detached = self.rt.spawn(fut);
    }

    fn spawn_joined<F>(&self, fut: F) -> impl Future<Output = ()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let handle = self.rt.spawn(fut);
        async move { assert!(handle.await.is_ok(), "creche task failed") }
    }

    fn handle_spawn_joined<F>(&self, fut: F) -> impl Future<Output = ()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let handle = self.rt.handle().spawn(fut);
        async move { assert!(handle.await.is_ok(), "creche task failed") }
    }
}

/// tokio's multi-thread runtime.
struct Tokio {
    rt: tokio::runtime::Runtime,
}

#[derive(Clone, Copy)]
struct TokioSpawner;

impl Spawner for TokioSpawner {
    fn spawn<F>(&self, fut: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let _detached = tokio::spawn(fut);
    }

    fn yield_now(&self) -> impl Future<Output = ()> + Send {
        tokio::task::yield_now()
    }

    async fn fan_out(&self, count: usize) {
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..count {
            set.spawn(async {});
        }
        while let Some(joined) = set.join_next().await {
            joined.expect("a tokio child failed");
        }
    }
}

impl Flavor for Tokio {
    const NAME: &'static str = "tokio";
    type Spawner = TokioSpawner;

    fn build(workers: usize) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_all()
            .build()
            .expect("failed to build the tokio runtime");
        Self { rt }
    }

    fn spawner(&self) -> TokioSpawner {
        TokioSpawner
    }

    fn block_on<F: Future>(&self, fut: F) -> F::Output {
        self.rt.block_on(fut)
    }

    fn spawn_detached<F>(&self, fut: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let _detached = self.rt.spawn(fut);
    }

    fn spawn_joined<F>(&self, fut: F) -> impl Future<Output = ()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let handle = self.rt.spawn(fut);
        async move { assert!(handle.await.is_ok(), "tokio task failed") }
    }

    fn handle_spawn_joined<F>(&self, fut: F) -> impl Future<Output = ()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let handle = self.rt.handle().spawn(fut);
        async move { assert!(handle.await.is_ok(), "tokio task failed") }
    }
}

/// The runtime's timers, used from inside its tasks. Only creche and tokio implement it:
/// smol's `async-executor` has no timer driver of its own (`async-io`'s timers run on a
/// separate reactor thread, not a comparable design), so the timer groups leave smol out.
trait TimerSpawner: Spawner {
    /// The runtime's `sleep(duration)`.
    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send;

    /// The runtime's `timeout(duration, fut)`: `Some(output)`, or `None` if the deadline
    /// came first.
    fn timeout<F>(
        &self,
        duration: Duration,
        fut: F,
    ) -> impl Future<Output = Option<F::Output>> + Send
    where
        F: Future + Send,
        F::Output: Send;
}

/// A runtime with timers (creche and tokio).
trait TimerFlavor: Flavor<Spawner: TimerSpawner> {}

impl TimerSpawner for CrecheSpawner {
    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send {
        creche::time::sleep(duration)
    }

    fn timeout<F>(
        &self,
        duration: Duration,
        fut: F,
    ) -> impl Future<Output = Option<F::Output>> + Send
    where
        F: Future + Send,
        F::Output: Send,
    {
        let timeout = creche::time::timeout(duration, fut);
        async move { timeout.await.ok() }
    }
}

impl TimerFlavor for Creche {}

impl TimerSpawner for TokioSpawner {
    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send {
        tokio::time::sleep(duration)
    }

    fn timeout<F>(
        &self,
        duration: Duration,
        fut: F,
    ) -> impl Future<Output = Option<F::Output>> + Send
    where
        F: Future + Send,
        F::Output: Send,
    {
        let timeout = tokio::time::timeout(duration, fut);
        async move { timeout.await.ok() }
    }
}

impl TimerFlavor for Tokio {}

/// smol: a leaked `async_executor::Executor` run by `workers` threads.
struct Smol {
    ex: &'static async_executor::Executor<'static>,
    /// Dropping the sender closes the channel, which completes every worker's
    /// `ex.run(..)` future.
    stop: Option<async_channel::Sender<()>>,
    threads: Vec<thread::JoinHandle<()>>,
}

impl Spawner for &'static async_executor::Executor<'static> {
    fn spawn<F>(&self, fut: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        // An async-executor `Task` cancels on drop; detach it like the other runtimes.
        async_executor::Executor::spawn(self, fut).detach();
    }

    fn yield_now(&self) -> impl Future<Output = ()> + Send {
        futures_lite::future::yield_now()
    }

    fn fan_out(&self, count: usize) -> impl Future<Output = ()> + Send {
        let ex = *self;
        async move {
            let tasks: Vec<_> = (0..count)
                .map(|_| async_executor::Executor::spawn(ex, async {}))
                .collect();
            for task in tasks {
                task.await;
            }
        }
    }
}

impl Flavor for Smol {
    const NAME: &'static str = "smol";
    type Spawner = &'static async_executor::Executor<'static>;

    fn build(workers: usize) -> Self {
        let ex: &'static async_executor::Executor<'static> =
            Box::leak(Box::new(async_executor::Executor::new()));
        let (stop, stopped) = async_channel::bounded::<()>(1);
        let threads = (0..workers)
            .map(|i| {
                let stopped = stopped.clone();
                thread::Builder::new()
                    .name(format!("smol-worker-{i}"))
                    .spawn(move || {
                        futures_lite::future::block_on(ex.run(async move {
                            // Err(Closed) once `stop` is dropped.
                            let _ = stopped.recv().await;
                        }));
                    })
                    .expect("failed to spawn a smol worker thread")
            })
            .collect();
        Self {
            ex,
            stop: Some(stop),
            threads,
        }
    }

    fn spawner(&self) -> Self::Spawner {
        self.ex
    }

    fn block_on<F: Future>(&self, fut: F) -> F::Output {
        futures_lite::future::block_on(fut)
    }

    fn spawn_detached<F>(&self, fut: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        async_executor::Executor::spawn(self.ex, fut).detach();
    }

    fn spawn_joined<F>(&self, fut: F) -> impl Future<Output = ()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        async_executor::Executor::spawn(self.ex, fut)
    }

    fn handle_spawn_joined<F>(&self, fut: F) -> impl Future<Output = ()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        // The executor reference is smol's handle.
        async_executor::Executor::spawn(self.ex, fut)
    }
}

impl Drop for Smol {
    fn drop(&mut self) {
        drop(self.stop.take());
        for thread in self.threads.drain(..) {
            if thread.join().is_err() && !thread::panicking() {
                panic!("a smol worker thread panicked");
            }
        }
    }
}

/// Busy-waits for [`STALL_DUR`], yielding the OS thread in between (as tokio's bench).
fn stall() {
    let now = Instant::now();
    while now.elapsed() < STALL_DUR {
        std::thread::yield_now();
    }
}

// ---------------------------------------------------------------------------
// Workloads (tokio's benches/rt_multi_threaded.rs, same parameters).
// ---------------------------------------------------------------------------

/// One workload = one criterion group with one function per runtime.
trait Workload {
    /// Criterion group name (also the `target/criterion/<group>` directory).
    const NAME: &'static str;

    /// Builds a fresh `R`, benchmarks it as function `R::NAME`, tears it down.
    fn run<R: Flavor>(group: &mut Group<'_>, workers: usize);
}

/// spawn_many_local: from inside `block_on`, spawn `NUM_SPAWN` = 10_000 empty tasks
/// with the in-runtime spawn and wait (blocking `mpsc` recv) until the last one ran.
/// Measures spawn + schedule + run throughput when spawning from the runtime context.
struct SpawnManyLocal;

impl Workload for SpawnManyLocal {
    const NAME: &'static str = "spawn_many_local";

    fn run<R: Flavor>(group: &mut Group<'_>, workers: usize) {
        let rt = R::build(workers);
        let spawner = rt.spawner();
        let (tx, rx) = mpsc::sync_channel(1000);
        let rem = Arc::new(AtomicUsize::new(0));

        group.bench_function(R::NAME, |b| {
            b.iter(|| {
                rem.store(NUM_SPAWN, Relaxed);

                rt.block_on(async {
                    for _ in 0..NUM_SPAWN {
                        let tx = tx.clone();
                        let rem = rem.clone();

                        spawner.spawn(async move {
                            if 1 == rem.fetch_sub(1, Relaxed) {
                                tx.send(()).unwrap();
                            }
                        });
                    }

                    rx.recv().unwrap();
                });
            })
        });
    }
}

/// spawn_many_remote_idle: from the bench thread, `rt.spawn` `NUM_SPAWN` = 10_000
/// empty tasks into an idle runtime, then `block_on` awaiting every JoinHandle.
/// Measures the remote (injection) spawn path plus join-handle completion.
struct SpawnManyRemoteIdle;

impl Workload for SpawnManyRemoteIdle {
    const NAME: &'static str = "spawn_many_remote_idle";

    fn run<R: Flavor>(group: &mut Group<'_>, workers: usize) {
        let rt = R::build(workers);
        let mut handles = Vec::with_capacity(NUM_SPAWN);

        group.bench_function(R::NAME, |b| {
            b.iter(|| {
                for _ in 0..NUM_SPAWN {
                    handles.push(rt.spawn_joined(async {}));
                }

                rt.block_on(async {
                    for handle in handles.drain(..) {
                        handle.await;
                    }
                });
            })
        });
    }
}

/// spawn_many_remote_busy1: like remote_idle (`NUM_SPAWN` = 10_000 via
/// `rt.handle().spawn`), while `2 * workers` background tasks loop
/// `yield_now(); stall(STALL_DUR = 10 µs)`. Measures remote spawns competing with
/// yielding CPU-bound tasks (yield is a lower notification priority than spawn).
struct SpawnManyRemoteBusy1;

impl Workload for SpawnManyRemoteBusy1 {
    const NAME: &'static str = "spawn_many_remote_busy1";

    fn run<R: Flavor>(group: &mut Group<'_>, workers: usize) {
        let rt = R::build(workers);
        let mut handles = Vec::with_capacity(NUM_SPAWN);
        let flag = Arc::new(AtomicBool::new(true));

        // Keep the workers busy (tokio: 2 * NUM_WORKERS tasks).
        for _ in 0..(2 * workers) {
            let flag = flag.clone();
            let spawner = rt.spawner();
            rt.spawn_detached(async move {
                while flag.load(Relaxed) {
                    spawner.yield_now().await;
                    stall();
                }
            });
        }

        group.bench_function(R::NAME, |b| {
            b.iter(|| {
                for _ in 0..NUM_SPAWN {
                    handles.push(rt.handle_spawn_joined(async {}));
                }

                rt.block_on(async {
                    for handle in handles.drain(..) {
                        handle.await;
                    }
                });
            })
        });

        flag.store(false, Relaxed);
    }
}

/// spawn_many_remote_busy2: `NUM_SPAWN` = 1_000 remote spawns via
/// `rt.handle().spawn`, awaited from `block_on`, while `workers` chains of
/// CPU-bound tasks each `stall(STALL_DUR = 10 µs)` and then spawn their successor.
/// Measures remote spawns competing with spawning CPU-bound tasks.
struct SpawnManyRemoteBusy2;

impl Workload for SpawnManyRemoteBusy2 {
    const NAME: &'static str = "spawn_many_remote_busy2";

    fn run<R: Flavor>(group: &mut Group<'_>, workers: usize) {
        const NUM_SPAWN: usize = 1_000;

        fn iter<S: Spawner>(spawner: S, flag: Arc<AtomicBool>) {
            let next = spawner.clone();
            spawner.spawn(async move {
                if flag.load(Relaxed) {
                    stall();
                    iter(next, flag);
                }
            });
        }

        let rt = R::build(workers);
        let mut handles = Vec::with_capacity(NUM_SPAWN);
        let flag = Arc::new(AtomicBool::new(true));

        // Keep the workers busy (tokio: NUM_WORKERS chains).
        for _ in 0..workers {
            let flag = flag.clone();
            let spawner = rt.spawner();
            rt.spawn_detached(async move {
                iter(spawner, flag);
            });
        }

        group.bench_function(R::NAME, |b| {
            b.iter(|| {
                for _ in 0..NUM_SPAWN {
                    handles.push(rt.handle_spawn_joined(async {}));
                }

                rt.block_on(async {
                    for handle in handles.drain(..) {
                        handle.await;
                    }
                });
            })
        });

        flag.store(false, Relaxed);
    }
}

/// yield_many: `rt.spawn` `TASKS` = 200 tasks from the bench thread, each yielding
/// `NUM_YIELD` = 1_000 times, then wait for all 200 (blocking `mpsc` recv).
/// Measures the cost of `yield_now` and re-scheduling (200_000 yields per iteration).
struct YieldMany;

impl Workload for YieldMany {
    const NAME: &'static str = "yield_many";

    fn run<R: Flavor>(group: &mut Group<'_>, workers: usize) {
        const NUM_YIELD: usize = 1_000;
        const TASKS: usize = 200;

        let rt = R::build(workers);
        let (tx, rx) = mpsc::sync_channel(TASKS);

        group.bench_function(R::NAME, |b| {
            b.iter(|| {
                for _ in 0..TASKS {
                    let tx = tx.clone();
                    let spawner = rt.spawner();

                    rt.spawn_detached(async move {
                        for _ in 0..NUM_YIELD {
                            spawner.yield_now().await;
                        }

                        tx.send(()).unwrap();
                    });
                }

                for _ in 0..TASKS {
                    rx.recv().unwrap();
                }
            })
        });
    }
}

/// ping_pong: inside `block_on`, one task spawns `NUM_PINGS` = 1_000 tasks; each
/// spawns a partner and they exchange one message each way over
/// `tokio::sync::oneshot`; the last one signals the bench thread (`mpsc`).
/// Measures spawn + cross-task wake-up latency (3_000 spawns, 2_000 wakes).
struct PingPong;

impl Workload for PingPong {
    const NAME: &'static str = "ping_pong";

    fn run<R: Flavor>(group: &mut Group<'_>, workers: usize) {
        const NUM_PINGS: usize = 1_000;

        let rt = R::build(workers);
        let spawner = rt.spawner();
        let (done_tx, done_rx) = mpsc::sync_channel(1000);
        let rem = Arc::new(AtomicUsize::new(0));

        group.bench_function(R::NAME, |b| {
            b.iter(|| {
                let done_tx = done_tx.clone();
                let rem = rem.clone();
                rem.store(NUM_PINGS, Relaxed);

                rt.block_on(async {
                    let outer = spawner.clone();
                    spawner.spawn(async move {
                        for _ in 0..NUM_PINGS {
                            let rem = rem.clone();
                            let done_tx = done_tx.clone();
                            let inner = outer.clone();

                            outer.spawn(async move {
                                let (tx1, rx1) = oneshot::channel();
                                let (tx2, rx2) = oneshot::channel();

                                inner.spawn(async move {
                                    rx1.await.unwrap();
                                    tx2.send(()).unwrap();
                                });

                                tx1.send(()).unwrap();
                                rx2.await.unwrap();

                                if 1 == rem.fetch_sub(1, Relaxed) {
                                    done_tx.send(()).unwrap();
                                }
                            });
                        }
                    });

                    done_rx.recv().unwrap();
                });
            })
        });
    }
}

/// chained_spawn: inside `block_on`, a chain of `ITER` = 1_000 tasks where each task
/// spawns the next one and the last signals the bench thread (`mpsc`).
/// Measures sequential spawn-to-run latency (no parallelism available).
struct ChainedSpawn;

impl Workload for ChainedSpawn {
    const NAME: &'static str = "chained_spawn";

    fn run<R: Flavor>(group: &mut Group<'_>, workers: usize) {
        const ITER: usize = 1_000;

        fn iter<S: Spawner>(spawner: S, done_tx: mpsc::SyncSender<()>, n: usize) {
            if n == 0 {
                done_tx.send(()).unwrap();
            } else {
                let next = spawner.clone();
                spawner.spawn(async move {
                    iter(next, done_tx, n - 1);
                });
            }
        }

        let rt = R::build(workers);
        let spawner = rt.spawner();
        let (done_tx, done_rx) = mpsc::sync_channel(1000);

        group.bench_function(R::NAME, |b| {
            b.iter(|| {
                let done_tx = done_tx.clone();

                rt.block_on(async {
                    let next = spawner.clone();
                    spawner.spawn(async move {
                        iter(next, done_tx, ITER);
                    });

                    done_rx.recv().unwrap();
                });
            })
        });
    }
}

// ---------------------------------------------------------------------------
// Timer workloads (creche and tokio only).
// ---------------------------------------------------------------------------

/// A timer workload = one criterion group with the functions `creche` and `tokio`.
trait TimerWorkload {
    /// Criterion group name (also the `target/criterion/<group>` directory).
    const NAME: &'static str;

    /// Builds a fresh `R`, benchmarks it as function `R::NAME`, tears it down.
    fn run<R: TimerFlavor>(group: &mut Group<'_>, workers: usize);
}

/// timeout_ready: `NUM_TIMEOUTS` = 100_000 ready futures, each wrapped in the runtime's
/// `timeout(1 s, ..)`, which never fires. `rt.spawn` one task per worker from the bench
/// thread, each awaiting its share of the timeouts one after the other and checking every
/// result is `Ok`, then `block_on` awaiting the tasks. Measures the cost of arming (or,
/// when the future is ready at once, not arming) a deadline: clock read, timer
/// construction and drop, coop budget.
struct TimeoutReady;

impl TimerWorkload for TimeoutReady {
    const NAME: &'static str = "timeout_ready";

    fn run<R: TimerFlavor>(group: &mut Group<'_>, workers: usize) {
        ready_under_deadlines::<R, ByTimeout>(group, workers);
    }
}

/// How a ready future gets its deadline in [`ready_under_deadlines`].
trait WrapReady<S> {
    fn wrap(
        spawner: &S,
        deadline: Duration,
        ready: Ready,
    ) -> impl Future<Output = Option<usize>> + Send;
}

/// `timeout_ready`: the runtime's `timeout`.
struct ByTimeout;

impl<S: TimerSpawner> WrapReady<S> for ByTimeout {
    fn wrap(
        spawner: &S,
        deadline: Duration,
        ready: Ready,
    ) -> impl Future<Output = Option<usize>> + Send {
        spawner.timeout(deadline, ready)
    }
}

/// `move_on_after_ready`: creche's cancel scope (tokio: `timeout`).
struct ByMoveOnAfter;

impl<S: NurserySpawner> WrapReady<S> for ByMoveOnAfter {
    fn wrap(
        spawner: &S,
        deadline: Duration,
        ready: Ready,
    ) -> impl Future<Output = Option<usize>> + Send {
        spawner.move_on_after(deadline, ready)
    }
}

/// The loop of `timeout_ready` and `move_on_after_ready`: `NUM_TIMEOUTS` = 100_000 ready
/// futures, each given a 1 s deadline by `W` (which must give `Some`); one task per worker,
/// `rt.spawn`ed from the bench thread, awaits its share one after the other and checks the
/// sum, then `block_on` awaits the tasks.
fn ready_under_deadlines<R: Flavor, W: WrapReady<R::Spawner>>(
    group: &mut Group<'_>,
    workers: usize,
) {
    const NUM_TIMEOUTS: usize = 100_000;
    const DEADLINE: Duration = Duration::from_secs(1);

    let rt = R::build(workers);
    let mut handles = Vec::with_capacity(workers);

    group.bench_function(R::NAME, |b| {
        b.iter(|| {
            for worker in 0..workers {
                let share = NUM_TIMEOUTS / workers + usize::from(worker < NUM_TIMEOUTS % workers);
                let spawner = rt.spawner();

                handles.push(rt.spawn_joined(async move {
                    let mut sum = 0usize;
                    for i in 0..share {
                        let output = W::wrap(&spawner, DEADLINE, std::future::ready(black_box(i)));
                        sum += output
                            .await
                            .expect("a 1 s deadline fired on a ready future");
                    }
                    assert_eq!(sum, share * share.saturating_sub(1) / 2);
                }));
            }

            rt.block_on(async {
                for handle in handles.drain(..) {
                    handle.await;
                }
            });
        })
    });
}

/// The ready future of [`ready_under_deadlines`].
type Ready = std::future::Ready<usize>;

/// sleep_many: inside `block_on`, spawn `NUM_SLEEPS` = 100_000 tasks with the
/// in-runtime spawn; task `i` sleeps `1 + i % 10` ms (a fixed spread over 1..=10 ms),
/// and the last one to wake signals the bench thread (blocking `mpsc` recv). Measures
/// timer registration from many tasks at once, the driver firing 100_000 timers over
/// ~10 ms, and the wake-ups; an iteration cannot be shorter than the 10 ms sleeps.
/// Also the workload of the peak-RSS probe (see [`rss_probe`]).
struct SleepMany;

/// Sleeps per `sleep_many` iteration.
const NUM_SLEEPS: usize = 100_000;
/// Criterion measurement time of the `sleep_many` group (instead of [`MEASUREMENT`]).
const SLEEP_MANY_MEASUREMENT: Duration = Duration::from_secs(5);

impl TimerWorkload for SleepMany {
    const NAME: &'static str = "sleep_many";

    fn run<R: TimerFlavor>(group: &mut Group<'_>, workers: usize) {
        let rig = SleepManyRig::<R>::new(workers);

        // An iteration takes ~100 ms on two cores: a fixed iteration count per sample,
        // and room for 20 samples (this group only).
        group.sampling_mode(SamplingMode::Flat);
        group.measurement_time(SLEEP_MANY_MEASUREMENT);
        group.bench_function(R::NAME, |b| b.iter(|| rig.iter(false)));
    }
}

/// One runtime and the "done" signal of `sleep_many`; shared by the bench and the probe.
struct SleepManyRig<R: TimerFlavor> {
    rt: R,
    rem: Arc<AtomicUsize>,
    tx: mpsc::SyncSender<()>,
    rx: mpsc::Receiver<()>,
}

impl<R: TimerFlavor> SleepManyRig<R> {
    fn new(workers: usize) -> Self {
        let (tx, rx) = mpsc::sync_channel(1);
        Self {
            rt: R::build(workers),
            rem: Arc::new(AtomicUsize::new(0)),
            tx,
            rx,
        }
    }

    /// One iteration: 100_000 concurrent sleeps of 1..=10 ms, to completion.
    ///
    /// With `track` (the RSS probe), returns the largest number of sleeps pending at
    /// once: spawning 100_000 tasks can take longer than the 10 ms sleeps, so the first
    /// ones may finish before the last ones start. Without it, returns 0 and reads
    /// nothing.
    fn iter(&self, track: bool) -> usize {
        let spawner = self.rt.spawner();
        self.rem.store(NUM_SLEEPS, Relaxed);
        let mut max_pending = 0;

        self.rt.block_on(async {
            for i in 0..NUM_SLEEPS {
                if track {
                    // i spawned so far, minus those done.
                    let done = NUM_SLEEPS - self.rem.load(Relaxed);
                    max_pending = max_pending.max(i - done);
                }

                let tx = self.tx.clone();
                let rem = self.rem.clone();
                let timers = spawner.clone();
                let duration = Duration::from_millis(1 + (i % 10) as u64);

                spawner.spawn(async move {
                    timers.sleep(duration).await;
                    if 1 == rem.fetch_sub(1, Relaxed) {
                        tx.send(()).unwrap();
                    }
                });
            }

            if track {
                max_pending = max_pending.max(self.rem.load(Relaxed));
            }
            self.rx.recv().unwrap();
        });
        max_pending
    }
}

// ---------------------------------------------------------------------------
// Structured-concurrency workloads: creche's nurseries and cancel scopes against the
// nearest tokio equivalent (and rayon for fork-join).
// ---------------------------------------------------------------------------

/// nursery_fanout: inside one task `rt.spawn`ed from the bench thread, spawn
/// `NUM_FANOUT` = 100_000 children that return at once and wait for them all, each
/// runtime's idiomatic way ([`Spawner::fan_out`]): creche opens a nursery, spawns into it
/// (dropping the handles) and is joined by the nursery's closing; tokio spawns into a
/// `JoinSet` and drains it with `join_next`; smol collects its `Task`s and awaits each.
/// Measures spawn + run + join of short children, with the bookkeeping each API needs.
struct NurseryFanout;

/// Children per `nursery_fanout` iteration.
const NUM_FANOUT: usize = 100_000;

impl Workload for NurseryFanout {
    const NAME: &'static str = "nursery_fanout";

    fn run<R: Flavor>(group: &mut Group<'_>, workers: usize) {
        let rt = R::build(workers);

        group.bench_function(R::NAME, |b| {
            b.iter(|| {
                let spawner = rt.spawner();
                let task = rt.spawn_joined(async move { spawner.fan_out(NUM_FANOUT).await });
                rt.block_on(task);
            })
        });
    }
}

/// The operations of the structured-concurrency workloads that need timers, as creche's
/// nursery API and as the nearest tokio equivalent.
trait NurserySpawner: TimerSpawner {
    /// Spawns `count` children that each sleep an hour; once every one of them has returned
    /// `Pending` from its sleep, cancels them all at once and waits until they are gone.
    /// Returns the time from the cancellation to the end of the wait. creche: a nursery whose
    /// cancel scope is cancelled (the wait is the nursery's closing); tokio: a `JoinSet`,
    /// `abort_all` and `join_next` until empty.
    fn cancel_parked(&self, count: usize) -> impl Future<Output = Duration> + Send;

    /// `move_on_after(duration, fut)` (creche: a cancel scope with a relative deadline), or its
    /// tokio equivalent `tokio::time::timeout`: `Some(output)`, or `None` if the deadline
    /// came first.
    fn move_on_after<F>(
        &self,
        duration: Duration,
        fut: F,
    ) -> impl Future<Output = Option<F::Output>> + Send
    where
        F: Future + Send,
        F::Output: Send;

    /// `fib(n)` by fork-join recursion (see [`FibForkJoin`]): spawns `fib(n - 2)` as a child,
    /// computes `fib(n - 1)` itself, then joins; sequential below [`FIB_CUTOFF`].
    fn fib(&self, n: u32) -> Pin<Box<dyn Future<Output = u64> + Send>>;
}

/// A runtime with the structured-concurrency operations (creche and tokio).
trait NurseryFlavor: Flavor<Spawner: NurserySpawner> {}

/// How long the children of `nursery_cancel` sleep (they are cancelled long before).
const PARKED_SLEEP: Duration = Duration::from_secs(3600);

/// Awaits `fut` and counts, in `parked`, its first `Pending`: from then on the child is
/// parked on it.
async fn count_parked<F: Future>(fut: F, parked: Arc<AtomicUsize>) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let mut counted = false;
    std::future::poll_fn(|cx| {
        let poll = fut.as_mut().poll(cx);
        if poll.is_pending() && !counted {
            counted = true;
            parked.fetch_add(1, Release);
        }
        poll
    })
    .await
}

impl NurserySpawner for CrecheSpawner {
    async fn cancel_parked(&self, count: usize) -> Duration {
        let parked = Arc::new(AtomicUsize::new(0));
        let closed = creche::open_nursery(|nursery| async move {
            for _ in 0..count {
                let sleep = count_parked(creche::time::sleep(PARKED_SLEEP), parked.clone());
                nursery.spawn(async move {
                    sleep.await;
                    Ok::<(), Infallible>(())
                });
            }
            while parked.load(Acquire) < count {
                creche::yield_now().await;
            }
            let start = Instant::now();
            nursery.cancel_scope().cancel();
            // The body returns at once; the nursery then waits for every child to be
            // dropped before it closes.
            Ok::<_, Infallible>(start)
        })
        .await;
        closed.unwrap().expect("the body completed").elapsed()
    }

    fn move_on_after<F>(
        &self,
        duration: Duration,
        fut: F,
    ) -> impl Future<Output = Option<F::Output>> + Send
    where
        F: Future + Send,
        F::Output: Send,
    {
        creche::move_on_after(duration, fut)
    }

    fn fib(&self, n: u32) -> Pin<Box<dyn Future<Output = u64> + Send>> {
        creche_fib(n)
    }
}

/// creche's fork-join `fib`: a nursery per fork; the child's handle is joined after the
/// nursery has closed, when its value is already there.
fn creche_fib(n: u32) -> Pin<Box<dyn Future<Output = u64> + Send>> {
    Box::pin(async move {
        if n < FIB_CUTOFF {
            return fib_seq(n);
        }
        let closed = creche::open_nursery(|nursery| async move {
            let right = nursery.spawn(async move { Ok::<_, Infallible>(creche_fib(n - 2).await) });
            let left = creche_fib(n - 1).await;
            Ok::<_, Infallible>((left, right))
        })
        .await;
        let (left, right) = closed.unwrap().expect("the body completed");
        left + right.join().await.expect("the child completed")
    })
}

impl NurseryFlavor for Creche {}

impl NurserySpawner for TokioSpawner {
    async fn cancel_parked(&self, count: usize) -> Duration {
        let parked = Arc::new(AtomicUsize::new(0));
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..count {
            set.spawn(count_parked(
                tokio::time::sleep(PARKED_SLEEP),
                parked.clone(),
            ));
        }
        while parked.load(Acquire) < count {
            tokio::task::yield_now().await;
        }
        let start = Instant::now();
        set.abort_all();
        while let Some(joined) = set.join_next().await {
            assert!(joined.expect_err("a child slept an hour").is_cancelled());
        }
        start.elapsed()
    }

    fn move_on_after<F>(
        &self,
        duration: Duration,
        fut: F,
    ) -> impl Future<Output = Option<F::Output>> + Send
    where
        F: Future + Send,
        F::Output: Send,
    {
        let timeout = tokio::time::timeout(duration, fut);
        async move { timeout.await.ok() }
    }

    fn fib(&self, n: u32) -> Pin<Box<dyn Future<Output = u64> + Send>> {
        tokio_fib(n)
    }
}

/// tokio's fork-join `fib`: `tokio::spawn` the child, await its `JoinHandle`.
fn tokio_fib(n: u32) -> Pin<Box<dyn Future<Output = u64> + Send>> {
    Box::pin(async move {
        if n < FIB_CUTOFF {
            return fib_seq(n);
        }
        let right = tokio::spawn(tokio_fib(n - 2));
        let left = tokio_fib(n - 1).await;
        left + right.await.expect("the tokio child completed")
    })
}

impl NurseryFlavor for Tokio {}

/// A structured-concurrency workload = one criterion group with the functions `creche` and
/// `tokio` (and `rayon` for [`FibForkJoin`]).
trait NurseryWorkload {
    /// Criterion group name (also the `target/criterion/<group>` directory).
    const NAME: &'static str;

    /// Builds a fresh `R`, benchmarks it as function `R::NAME`, tears it down.
    fn run<R: NurseryFlavor>(group: &mut Group<'_>, workers: usize);
}

/// nursery_cancel: inside one task `rt.spawn`ed from the bench thread, spawn
/// `NUM_PARKED` = 10_000 children that each sleep an hour, wait (yielding) until every one
/// has returned `Pending` from its sleep, then cancel them all and wait until they are gone
/// ([`NurserySpawner::cancel_parked`]): creche cancels the nursery's cancel scope and waits
/// for the nursery to close; tokio calls `JoinSet::abort_all` and drains `join_next`. Only
/// the cancel + wait is timed (`iter_custom`): waking every child, dropping its future
/// (which deregisters its timer) and completing the join.
struct NurseryCancel;

/// Children per `nursery_cancel` iteration.
const NUM_PARKED: usize = 10_000;

impl NurseryWorkload for NurseryCancel {
    const NAME: &'static str = "nursery_cancel";

    fn run<R: NurseryFlavor>(group: &mut Group<'_>, workers: usize) {
        let rt = R::build(workers);

        group.bench_function(R::NAME, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let spawner = rt.spawner();
                    let (tx, rx) = mpsc::sync_channel(1);
                    let task = rt.spawn_joined(async move {
                        tx.send(spawner.cancel_parked(NUM_PARKED).await).unwrap();
                    });
                    rt.block_on(task);
                    total += rx.recv().unwrap();
                }
                total
            })
        });
    }
}

/// move_on_after_ready: [`TimeoutReady`] with a cancel scope instead of a timer future:
/// `NUM_TIMEOUTS` = 100_000 ready futures, each wrapped in creche's
/// `move_on_after(1 s, ..)` (tokio: `tokio::time::timeout(1 s, ..)`, the nearest
/// equivalent), which never fires; one task per worker awaits its share one after the other
/// and checks every result is `Some`. Measures the cost of a cancel scope with a deadline
/// around work that finishes at once: creating the scope, entering and leaving it, reading
/// the clock for the relative deadline.
struct MoveOnAfterReady;

impl NurseryWorkload for MoveOnAfterReady {
    const NAME: &'static str = "move_on_after_ready";

    fn run<R: NurseryFlavor>(group: &mut Group<'_>, workers: usize) {
        ready_under_deadlines::<R, ByMoveOnAfter>(group, workers);
    }
}

/// fib_fork_join: `fib(FIB_N)` = `fib(36)` by fork-join recursion, sequential (plain
/// recursive `fib_seq`) below `FIB_CUTOFF` = 18, the same split for all three: at each
/// fork, `fib(n - 2)` becomes a child that another worker may take and `fib(n - 1)` is
/// computed in place, then the child is joined (10,945 forks per iteration; a leaf is
/// `fib(16)` or `fib(17)`, a few microseconds of work). creche
/// opens a nursery per fork ([`creche_fib`]), tokio `tokio::spawn`s and awaits the
/// `JoinHandle` ([`tokio_fib`]), rayon calls `rayon::join` on a pool of the same size. The
/// async ones run from one task `rt.spawn`ed from the bench thread, rayon inside
/// `ThreadPool::install`. Measures fork-join overhead on CPU-bound work spread over every
/// worker.
struct FibForkJoin;

/// The `n` of `fib_fork_join`.
const FIB_N: u32 = 36;
/// Below this `n`, `fib_fork_join` computes sequentially.
const FIB_CUTOFF: u32 = 18;

/// Sequential `fib`, the leaves of every `fib_fork_join` variant.
fn fib_seq(n: u32) -> u64 {
    if n < 2 {
        u64::from(n)
    } else {
        fib_seq(n - 1) + fib_seq(n - 2)
    }
}

/// rayon's fork-join `fib`.
fn rayon_fib(n: u32) -> u64 {
    if n < FIB_CUTOFF {
        return fib_seq(n);
    }
    let (left, right) = rayon::join(|| rayon_fib(n - 1), || rayon_fib(n - 2));
    left + right
}

/// The rayon function name of the `fib_fork_join` group (and table column).
const RAYON: &str = "rayon";

impl NurseryWorkload for FibForkJoin {
    const NAME: &'static str = "fib_fork_join";

    fn run<R: NurseryFlavor>(group: &mut Group<'_>, workers: usize) {
        let rt = R::build(workers);
        let expected = fib_seq(FIB_N);

        group.bench_function(R::NAME, |b| {
            b.iter(|| {
                let spawner = rt.spawner();
                let (tx, rx) = mpsc::sync_channel(1);
                let task = rt.spawn_joined(async move {
                    tx.send(spawner.fib(black_box(FIB_N)).await).unwrap();
                });
                rt.block_on(task);
                assert_eq!(rx.recv().unwrap(), expected);
            })
        });
    }
}

impl FibForkJoin {
    /// The `rayon` function of the group: `rayon::join` on a pool of `workers` threads.
    fn run_rayon(group: &mut Group<'_>, workers: usize) {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(workers)
            .build()
            .expect("failed to build the rayon pool");
        let expected = fib_seq(FIB_N);

        group.bench_function(RAYON, |b| {
            b.iter(|| assert_eq!(pool.install(|| rayon_fib(black_box(FIB_N))), expected))
        });
    }
}

// ---------------------------------------------------------------------------
// Driver.
// ---------------------------------------------------------------------------

/// The runtimes of the scheduler groups (criterion function names).
const RUNTIMES: [&str; 3] = [Creche::NAME, Tokio::NAME, Smol::NAME];
/// The runtimes of the timer groups and of most structured-concurrency groups.
const TIMER_RUNTIMES: [&str; 2] = [Creche::NAME, Tokio::NAME];
/// The runtimes of `fib_fork_join`.
const FORK_JOIN_RUNTIMES: [&str; 3] = [Creche::NAME, Tokio::NAME, RAYON];
/// Every runtime, in table column order.
const COLUMNS: [&str; 4] = [Creche::NAME, Tokio::NAME, Smol::NAME, RAYON];

/// Runs workload `W` as one group: creche, then tokio, then smol (one runtime alive
/// at a time).
fn group<W: Workload>(c: &mut Criterion, workers: usize) {
    let mut group = c.benchmark_group(W::NAME);
    W::run::<Creche>(&mut group, workers);
    W::run::<Tokio>(&mut group, workers);
    W::run::<Smol>(&mut group, workers);
    group.finish();
}

/// Runs timer workload `W` as one group: creche, then tokio.
fn timer_group<W: TimerWorkload>(c: &mut Criterion, workers: usize) {
    let mut group = c.benchmark_group(W::NAME);
    W::run::<Creche>(&mut group, workers);
    W::run::<Tokio>(&mut group, workers);
    group.finish();
}

/// Runs structured-concurrency workload `W` as one group: creche, then tokio.
fn nursery_group<W: NurseryWorkload>(c: &mut Criterion, workers: usize) {
    let mut group = c.benchmark_group(W::NAME);
    W::run::<Creche>(&mut group, workers);
    W::run::<Tokio>(&mut group, workers);
    group.finish();
}

/// Runs `fib_fork_join` as one group: creche, then tokio, then rayon.
fn fork_join_group(c: &mut Criterion, workers: usize) {
    let mut group = c.benchmark_group(FibForkJoin::NAME);
    FibForkJoin::run::<Creche>(&mut group, workers);
    FibForkJoin::run::<Tokio>(&mut group, workers);
    FibForkJoin::run_rayon(&mut group, workers);
    group.finish();
}

type GroupFn = fn(&mut Criterion, usize);

/// All workloads in run (and table) order, with the runtimes each one runs.
const WORKLOADS: [(&str, &[&str], GroupFn); 13] = [
    (SpawnManyLocal::NAME, &RUNTIMES, group::<SpawnManyLocal>),
    (
        SpawnManyRemoteIdle::NAME,
        &RUNTIMES,
        group::<SpawnManyRemoteIdle>,
    ),
    (
        SpawnManyRemoteBusy1::NAME,
        &RUNTIMES,
        group::<SpawnManyRemoteBusy1>,
    ),
    (
        SpawnManyRemoteBusy2::NAME,
        &RUNTIMES,
        group::<SpawnManyRemoteBusy2>,
    ),
    (YieldMany::NAME, &RUNTIMES, group::<YieldMany>),
    (PingPong::NAME, &RUNTIMES, group::<PingPong>),
    (ChainedSpawn::NAME, &RUNTIMES, group::<ChainedSpawn>),
    (
        TimeoutReady::NAME,
        &TIMER_RUNTIMES,
        timer_group::<TimeoutReady>,
    ),
    (SleepMany::NAME, &TIMER_RUNTIMES, timer_group::<SleepMany>),
    (NurseryFanout::NAME, &RUNTIMES, group::<NurseryFanout>),
    (
        NurseryCancel::NAME,
        &TIMER_RUNTIMES,
        nursery_group::<NurseryCancel>,
    ),
    (
        MoveOnAfterReady::NAME,
        &TIMER_RUNTIMES,
        nursery_group::<MoveOnAfterReady>,
    ),
    (FibForkJoin::NAME, &FORK_JOIN_RUNTIMES, fork_join_group),
];

/// The peak-RSS probe, run in a child process (see [`report::rss`]): one `sleep_many`
/// iteration on runtime `R` alone, then the process's peak resident set size.
fn rss_probe<R: TimerFlavor>(workers: usize) {
    report::rss::print_baseline();
    let rig = SleepManyRig::<R>::new(workers);
    let max_pending = rig.iter(true);
    report::rss::print_peak();
    report::rss::print_pending(max_pending);
}

fn main() {
    let cores = thread::available_parallelism().map_or(1, |n| n.get());

    // A re-executed child of the run below: probe, print, exit before criterion starts.
    if let Some(runtime) = report::rss::probe_request() {
        match runtime.as_str() {
            Creche::NAME => rss_probe::<Creche>(cores),
            Tokio::NAME => rss_probe::<Tokio>(cores),
            other => {
                eprintln!(
                    "compare: unknown {} runtime `{other}`",
                    report::rss::PROBE_ENV
                );
                std::process::exit(2);
            }
        }
        return;
    }

    let args: Vec<String> = std::env::args().collect();
    let measuring = report::is_measuring(&args);

    let mut c = Criterion::default()
        .sample_size(SAMPLE_SIZE)
        .warm_up_time(WARM_UP)
        .measurement_time(MEASUREMENT)
        .configure_from_args();

    if measuring {
        println!("compare: {cores} worker thread(s) per runtime (available_parallelism)");
    }

    let groups = WORKLOADS.map(|(name, runtimes, _)| (name, runtimes));
    let report = measuring.then(|| report::Report::before_run(&groups, &COLUMNS));

    for (_, _, run_group) in WORKLOADS {
        run_group(&mut c, cores);
    }

    c.final_summary();

    if let Some(report) = report {
        let summary = report.finish(cores);
        // Peak RSS of sleep_many whenever this run measured that group; written into
        // BENCHMARKS.md only when the whole table was (a full run).
        if summary.measured(SleepMany::NAME) {
            report::rss::run(&TIMER_RUNTIMES, cores, NUM_SLEEPS, summary.complete());
        }
    }
}
