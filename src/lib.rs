//! creche: Trio's structured concurrency on a multi-threaded, work-stealing Rust runtime.
//!
//! Every task lives in a nursery, cancel scopes with deadlines bound any piece of work, and the
//! children of one nursery run in parallel on every core. This facade composes the crates of
//! the workspace: the executor (`creche-runtime`: [`run`], [`Runtime`], [`spawn`],
//! [`JoinHandle`]) and time (`creche-timer`: [`time`], with a virtual clock for tests and the
//! [`main`] and [`test`] attributes) and structured concurrency (`creche-nursery`:
//! [`open_nursery`], [`CancelScope`], [`move_on_after`], [`fail_after`], [`checkpoint`], the
//! local [`join`]/[`try_join`]/[`race`], [`map_concurrent`], and [`lowlevel::task_tree`]) and
//! I/O (`creche-io`: [`net`], sockets on the reactor).
//!
//! ```
//! let answer = creche::run(async {
//!     let left = creche::spawn(async { 20 });
//!     let right = creche::spawn(async { 22 });
//!     left.await.unwrap() + right.await.unwrap()
//! });
//! assert_eq!(answer, 42);
//! ```

use std::future::Future;

mod builder;
mod entry;

/// What the expansions of `#[creche::main]` and `#[creche::test]` call. Not a public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::entry::{INTERRUPTED_STATUS, SEED_VAR, chaos_seed, main, test};
}

pub use builder::{Builder, Runtime};
pub use creche_macros::{main, test};
pub use creche_nursery::{
    CancelScope, Cancelled, Checkpoint, Closed, FailAt, Nursery, OpenNursery, Run, Start,
    StartError, TaskHandle, TaskStatus, TooSlow, checkpoint, current_effective_deadline,
    fail_after, fail_at, join, join_all, map_concurrent, move_on_after, move_on_at, open_nursery,
    race, try_join,
};
pub use creche_runtime::{
    BuildError, EnterGuard, Handle, JoinError, JoinHandle, TaskId, TryCurrentError, YieldNow,
    spawn, spawn_blocking, yield_now,
};

/// Time on the runtime's clock: [`sleep`](time::sleep), [`timeout`](time::timeout),
/// [`interval`](time::interval), [`current_time`](time::current_time), and the clocks
/// ([`SystemClock`](time::SystemClock), and [`MockClock`](time::MockClock) for tests, with
/// autojump).
///
/// ```
/// use creche::time::{current_time, sleep, MockClock};
/// use std::time::Duration;
///
/// let rt = creche::Builder::new().clock(MockClock::autojump()).build().unwrap();
/// rt.block_on(async {
///     let start = current_time();
///     sleep(Duration::from_secs(3600)).await;
///     assert_eq!(current_time() - start, Duration::from_secs(3600));
/// });
/// ```
pub mod time {
    pub use creche_timer::{
        Clock, ClockError, Elapsed, Instant, Interval, MockClock, Sleep, SystemClock, Timeout,
        TimerEntry, TimerHandle, current_time, interval, interval_at, sleep, sleep_forever,
        sleep_until, timeout, timeout_at,
    };
}

/// Synchronization primitives for tasks: [`Event`](sync::Event), [`Lock`](sync::Lock),
/// [`Semaphore`](sync::Semaphore), [`CapacityLimiter`](sync::CapacityLimiter) and
/// [`Condition`](sync::Condition). All are FIFO and cancellation-safe: a cancelled acquire
/// leaves nothing acquired, and a grant made to a waiter that is then cancelled goes on to the
/// next one.
/// Channels: [`channel`](sync::channel) with cloneable [`Sender`](sync::Sender) and
/// [`Receiver`](sync::Receiver) (rendezvous at capacity 0, per-handle close, a `Stream`).
///
/// ```
/// let event = std::sync::Arc::new(creche::sync::Event::new());
/// let waiter = event.clone();
/// creche::run(async move {
///     let task = creche::spawn(async move { waiter.wait().await });
///     event.set();
///     task.await.unwrap();
/// });
///
/// let sum = creche::run(async {
///     let (tx, rx) = creche::sync::channel::<u32>(16);
///     creche::spawn(async move {
///         for i in 0..100 {
///             tx.send(i).await.unwrap();
///         }
///     });
///     let mut sum = 0;
///     while let Ok(v) = rx.recv().await {
///         sum += v;
///     }
///     sum
/// });
/// assert_eq!(sum, 4950);
/// ```
pub mod sync {
    pub use creche_nursery::channel::{
        ChannelStatistics, Receiver, RecvError, RecvFuture, SendError, SendFuture, Sender,
        TryRecvError, TrySendError, channel,
    };
    pub use creche_nursery::{
        Borrower, CapacityLimiter, LimiterAcquire, LimiterStatistics, LimiterToken, Semaphore,
        SemaphoreAcquire, SemaphorePermit, SemaphoreStatistics, WouldBlock,
    };
    pub use creche_nursery::{
        Condition, ConditionGuard, ConditionLock, ConditionStatistics, ConditionWait, Lock,
        LockAcquire, LockGuard, LockStatistics,
    };
    pub use creche_nursery::{Event, EventStatistics, EventWait};
}

/// Networking: TCP, UDP and Unix sockets on the reactor (`creche-io`). Every async operation
/// is a cancellation point and a coop operation; a dropped `accept` loses no connection and a
/// dropped `read` no bytes. Also: `lookup_host` on the blocking pool, happy eyeballs
/// (`open_tcp_stream`, `OpenTcpStream`), `open_tcp_listeners` and `serve_tcp`.
///
/// ```
/// use creche::net::{TcpListener, TcpStream};
/// creche::run(async {
///     let listener = TcpListener::bind("127.0.0.1:0")?;
///     let client = TcpStream::connect(listener.local_addr()?).await?;
///     let (server, _) = listener.accept().await?;
///     client.write_all(b"hi").await?;
///     let mut buf = [0; 2];
///     server.read_exact(&mut buf).await?;
///     assert_eq!(&buf, b"hi");
///     std::io::Result::Ok(())
/// })
/// .unwrap();
/// ```
pub mod net {
    pub use creche_io::tcp;
    pub use creche_io::unix;
    // Happy eyeballs, name resolution, listeners and serve_tcp (the `eyeballs` branch).
    pub use creche_io::{
        ACCEPT_BACKOFF, ConnectError, Connector, DEFAULT_ATTEMPT_DELAY, LISTEN_BACKLOG, Listener,
        LookupHost, OpenTcpStream, Resolver, SystemResolver, TcpConnector, lookup_host,
        open_tcp_listeners, open_tcp_stream, serve_tcp,
    };
    pub use creche_io::{
        IoDriver, IoHandle, ListenOptions, NoReactor, TcpListener, TcpStream, UdpSocket,
        UnixListener, UnixStream,
    };
}

/// Blocking work on threads, structured: [`to_thread`](thread::to_thread) (under the
/// runtime's [default limiter](thread::default_thread_limiter) of 40 threads, or one passed
/// in), [`to_thread_abandon_on_cancel`](thread::to_thread_abandon_on_cancel), and
/// [`from_thread`](thread::from_thread) to run async code back in the calling task. The
/// protocol and the cancellation rules are in `creche_nursery::thread`.
///
/// ```
/// use creche::thread::{from_thread, to_thread};
/// use creche::time::{current_time, sleep, Instant, MockClock};
/// use std::time::Duration;
///
/// let rt = creche::Builder::new().clock(MockClock::autojump()).build().unwrap();
/// let t = rt.block_on(async {
///     to_thread(|| {
///         // On a blocking thread: run async code back in the calling task.
///         from_thread::run(async {
///             sleep(Duration::from_secs(1)).await;
///             current_time()
///         })
///     })
///     .await
/// });
/// assert_eq!(t, Ok(Instant::ZERO + Duration::from_secs(1))); // virtual time moved
/// ```
pub mod thread {
    pub use creche_nursery::thread::{
        DEFAULT_THREAD_LIMIT, default_thread_limiter, from_thread, to_thread,
        to_thread_abandon_on_cancel, to_thread_abandon_on_cancel_limited, to_thread_limited,
    };
}

pub mod signal;

#[cfg(feature = "tokio")]
pub mod compat;
/// Running futures of other runtimes inside creche: `compat::tokio`, with the `tokio` feature.
#[cfg(not(feature = "tokio"))]
pub mod compat {}

/// Tasks: ids, join handles, the current task.
pub mod task {
    pub use creche_runtime::task::{JoinError, JoinHandle, TaskId, id, try_id};
    pub use creche_runtime::{spawn, spawn_blocking, yield_now};
}

/// Helpers for tests (DESIGN §8): the virtual clock and
/// [`wait_all_tasks_blocked`](testing::wait_all_tasks_blocked).
///
/// ```
/// let rt = creche::Builder::new()
///     .clock(creche::testing::MockClock::autojump())
///     .build()
///     .unwrap();
/// rt.block_on(async {
///     let sleeper = creche::spawn(creche::time::sleep(std::time::Duration::from_secs(5)));
///     creche::testing::wait_all_tasks_blocked().await; // the sleeper is blocked now
///     assert_eq!(creche::time::current_time(), creche::time::Instant::ZERO);
///     sleeper.await.unwrap();
/// });
/// ```
pub mod testing {
    pub use creche_timer::{MockClock, WaitAllTasksBlocked, wait_all_tasks_blocked};
}

/// Introspection and hooks: the task tree, failure reports, io events (such as `serve_tcp`
/// backing off when out of file descriptors), and the runtime's low-level task handles.
///
/// ```
/// let tree = creche::run(async {
///     creche::open_nursery(|n| async move {
///         n.spawn_named("worker", async { Ok::<_, ()>(()) });
///         Ok::<_, ()>(creche::lowlevel::task_tree().to_string())
///     })
///     .await
/// });
/// assert!(tree.unwrap().unwrap().contains("nursery opened at"));
/// ```
pub mod lowlevel {
    pub use creche_io::{IoEvent, IoEventHook, set_io_event_hook};
    pub use creche_nursery::report::{
        FailureHook, FailureKind, FailureReport, Fate, Origin, set_failure_hook,
    };
    pub use creche_nursery::{TaskTree, task_tree};
    pub use creche_runtime::AbortHandle;
}

/// Low-level runtime pieces for integrations: the coop budget, the `Park` driver trait, and
/// the executor's own builder and runtime (without drivers: no timers).
pub mod runtime {
    pub use creche_runtime::coop;
    pub use creche_runtime::park;
    pub use creche_runtime::{BuildError, Builder, Handle, Runtime, Scope, ScopedJoinHandle};
    pub use creche_timer::{TimerDriver, build_runtime, build_runtime_with_park};
}

/// Builds the default runtime (one worker per core, the system clock), runs `future` on the calling thread as
/// the root of the program, and returns its output. The runtime is shut down before `run`
/// returns: tasks still running are cancelled and their futures dropped.
///
/// # Panics
///
/// Panics if the runtime cannot start its threads, if called from inside a runtime, and
/// propagates a panic of `future` itself.
///
/// # Examples
///
/// ```
/// let n = creche::run(async { creche::spawn(async { 1 }).await.unwrap() });
/// assert_eq!(n, 1);
/// ```
pub fn run<F: Future>(future: F) -> F::Output {
    let runtime = match Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => panic!("creche::run could not start the runtime: {e}"),
    };
    runtime
        .block_on(creche_nursery::root(future))
        .expect("the root scope has no handle, so nothing cancels it")
}
