//! Helpers shared by the integration tests: a hang watchdog, drop and poll counters, a
//! one-shot gate that any thread can open, and a collector of failure reports.
//!
//! Each test file uses a subset of these, hence the `dead_code` allowance below.
#![allow(dead_code)]

use std::future::Future;
use std::io::Write;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, mpsc};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

/// How long a test may run before the watchdog declares it hung.
pub(crate) const HANG_TIMEOUT: Duration = Duration::from_secs(30);

/// Aborts the whole process if still alive [`HANG_TIMEOUT`] after it was armed: a hang guard,
/// never a measure of speed. Disarmed on drop.
#[must_use = "the watchdog is disarmed when dropped"]
pub(crate) struct Watchdog {
    _disarm: mpsc::Sender<()>,
}

/// Arms a [`Watchdog`] for the test `name`.
pub(crate) fn watchdog(name: &'static str) -> Watchdog {
    let (disarm, armed) = mpsc::channel::<()>();
    std::thread::Builder::new()
        .name(format!("watchdog-{name}"))
        .spawn(move || {
            if let Err(mpsc::RecvTimeoutError::Timeout) = armed.recv_timeout(HANG_TIMEOUT) {
                // Straight to the process's stderr: the test harness's capture is lost on abort.
                let _ = writeln!(
                    std::io::stderr(),
                    "\n*** test `{name}` still running after {HANG_TIMEOUT:?}: it hangs; \
                     aborting the test process ***"
                );
                std::process::abort();
            }
        })
        .expect("start the watchdog thread");
    Watchdog { _disarm: disarm }
}

/// A shared counter (drops, polls, starts...).
#[derive(Clone, Default)]
pub(crate) struct Counter(Arc<AtomicUsize>);

impl Counter {
    pub(crate) fn new() -> Counter {
        Counter::default()
    }
    pub(crate) fn get(&self) -> usize {
        self.0.load(SeqCst)
    }
    pub(crate) fn incr(&self) -> usize {
        self.0.fetch_add(1, SeqCst) + 1
    }
    /// Spins (yielding the thread) until the count reaches `n`; the watchdog guards the wait.
    pub(crate) fn wait_for(&self, n: usize) {
        while self.get() < n {
            std::thread::yield_now();
        }
    }
}

/// Increments its counter when dropped.
pub(crate) struct DropCount(pub(crate) Counter);

impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.incr();
    }
}

/// Wraps a future: counts its polls, and its drop (through a [`DropCount`] it owns).
pub(crate) struct Tracked<F> {
    future: Pin<Box<F>>,
    polls: Counter,
    _drop: DropCount,
}

/// Tracks `future`: `polls` counts every poll, `drops` the drop of the wrapper (and so of the
/// future, which it owns).
pub(crate) fn tracked<F: Future>(future: F, polls: &Counter, drops: &Counter) -> Tracked<F> {
    Tracked {
        future: Box::pin(future),
        polls: polls.clone(),
        _drop: DropCount(drops.clone()),
    }
}

impl<F: Future> Future for Tracked<F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.polls.incr();
        self.future.as_mut().poll(cx)
    }
}

/// A one-shot gate: futures from [`Gate::wait`] complete once [`Gate::open`] is called, from
/// any thread. The waiting futures store their wakers in a mutex; `open` wakes them from the
/// calling thread (which may be a plain std thread, foreign to the runtime).
#[derive(Clone, Default)]
pub(crate) struct Gate {
    inner: Arc<Mutex<GateState>>,
    /// Wakers ever registered (a waiter registers on each pending poll).
    registered: Counter,
}

#[derive(Default)]
struct GateState {
    open: bool,
    wakers: Vec<Waker>,
}

impl Gate {
    pub(crate) fn new() -> Gate {
        Gate::default()
    }

    /// Opens the gate and wakes every waiter, on the calling thread.
    pub(crate) fn open(&self) {
        let wakers = {
            let mut state = self.inner.lock().unwrap();
            state.open = true;
            std::mem::take(&mut state.wakers)
        };
        for waker in wakers {
            waker.wake();
        }
    }

    pub(crate) fn is_open(&self) -> bool {
        self.inner.lock().unwrap().open
    }

    /// Number of pending polls so far (each registered a waker).
    pub(crate) fn registrations(&self) -> usize {
        self.registered.get()
    }

    /// A future that completes when the gate is open.
    pub(crate) fn wait(&self) -> GateWait {
        GateWait { gate: self.clone() }
    }
}

/// The future of [`Gate::wait`].
pub(crate) struct GateWait {
    gate: Gate,
}

impl Future for GateWait {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.gate.inner.lock().unwrap();
        if state.open {
            return Poll::Ready(());
        }
        state.wakers.push(cx.waker().clone());
        drop(state);
        self.gate.registered.incr();
        Poll::Pending
    }
}

/// The message of a panic payload (`&str` or `String`), or `""`.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        String::new()
    }
}

/// Spawns tasks returning `0..count` on the current runtime and sums their outputs.
pub(crate) async fn spawn_and_sum(count: u64) -> u64 {
    let tasks: Vec<_> = (0..count)
        .map(|i| creche::spawn(async move { i }))
        .collect();
    let mut sum = 0;
    for task in tasks {
        sum += task.await.unwrap();
    }
    sum
}

/// A runtime with `workers` worker threads on `clock` (the time tests).
pub(crate) fn runtime_on(workers: usize, clock: impl creche::time::Clock) -> creche::Runtime {
    creche::Builder::new()
        .worker_threads(workers)
        .clock(clock)
        .build()
        .unwrap()
}

/// `n` seconds.
pub(crate) fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

// ---- the failure hook, shared by the tests that read failure reports ------------------

/// A failure report as seen by the hook, owned.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub(crate) name: Option<String>,
    pub(crate) file: String,
    pub(crate) line: u32,
    pub(crate) body: bool,
    pub(crate) kind: creche::lowlevel::FailureKind,
    pub(crate) fate: creche::lowlevel::Fate,
    pub(crate) text: String,
}

type Hook = creche::lowlevel::FailureHook;

/// Every report seen while at least one [`HookGuard`] is alive (the hook is process-global and
/// tests run in parallel: each test filters by its own unique names or sites).
static SEEN: Mutex<Vec<Seen>> = Mutex::new(Vec::new());
/// Number of live guards, and the hook that was installed before the first one.
static INSTALLED: Mutex<(usize, Option<Hook>)> = Mutex::new((0, None));

/// Locks `m`, taking the data even if a test panicked while holding it.
pub(crate) fn lock_ignoring_poison<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Keeps the collecting hook installed; the last guard dropped restores the previous hook.
pub(crate) struct HookGuard;

pub(crate) fn install_hook() -> HookGuard {
    let mut installed = lock_ignoring_poison(&INSTALLED);
    if installed.0 == 0 {
        let hook: Hook = Arc::new(|r: &creche::lowlevel::FailureReport<'_>| {
            lock_ignoring_poison(&SEEN).push(Seen {
                name: r.origin.name().map(String::from),
                file: r.origin.site().file().to_owned(),
                line: r.origin.site().line(),
                body: r.origin.is_body(),
                kind: r.kind,
                fate: r.fate,
                text: r.to_string(),
            });
        });
        installed.1 = creche::lowlevel::set_failure_hook(Some(hook));
    }
    installed.0 += 1;
    HookGuard
}

impl Drop for HookGuard {
    fn drop(&mut self) {
        let mut installed = lock_ignoring_poison(&INSTALLED);
        installed.0 -= 1;
        if installed.0 == 0 {
            let previous = installed.1.take();
            creche::lowlevel::set_failure_hook(previous);
        }
    }
}

/// The reports seen so far for the task named `name`.
pub(crate) fn seen_named(name: &str) -> Vec<Seen> {
    lock_ignoring_poison(&SEEN)
        .iter()
        .filter(|s| s.name.as_deref() == Some(name))
        .cloned()
        .collect()
}

/// Every report seen so far (while a [`HookGuard`] was alive), in order.
pub(crate) fn seen_reports() -> Vec<Seen> {
    lock_ignoring_poison(&SEEN).clone()
}
