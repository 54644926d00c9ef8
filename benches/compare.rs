//! Scheduler and timer comparison: creche vs tokio (multi-thread) vs smol
//! (`async-executor`).
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

use std::future::Future;
use std::hint::black_box;
use std::sync::atomic::Ordering::Relaxed;
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
/// Sized so the 25 functions finish well within ten minutes on two cores (about two
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
        const NUM_TIMEOUTS: usize = 100_000;
        const DEADLINE: Duration = Duration::from_secs(1);

        let rt = R::build(workers);
        let mut handles = Vec::with_capacity(workers);

        group.bench_function(R::NAME, |b| {
            b.iter(|| {
                for worker in 0..workers {
                    let share =
                        NUM_TIMEOUTS / workers + usize::from(worker < NUM_TIMEOUTS % workers);
                    let spawner = rt.spawner();

                    handles.push(rt.spawn_joined(async move {
                        let mut sum = 0usize;
                        for i in 0..share {
                            let ready = async move { black_box(i) };
                            let output = spawner.timeout(DEADLINE, ready).await;
                            sum += output.expect("a 1 s timeout fired on a ready future");
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
}

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
// Driver.
// ---------------------------------------------------------------------------

/// Runtime names = criterion function names, in table column order.
const RUNTIMES: [&str; 3] = [Creche::NAME, Tokio::NAME, Smol::NAME];
/// The runtimes of the timer groups.
const TIMER_RUNTIMES: [&str; 2] = [Creche::NAME, Tokio::NAME];

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

type GroupFn = fn(&mut Criterion, usize);

/// All workloads in run (and table) order, with the runtimes each one runs.
const WORKLOADS: [(&str, &[&str], GroupFn); 9] = [
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
    let report = measuring.then(|| report::Report::before_run(&groups, &RUNTIMES));

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
