//! Loom models of the crate's lock-free protocols.
//!
//! Run with `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p creche-runtime
//! --release --lib loom`. Every model runs the crate's real code (the `sync` shim swaps in
//! loom's atomics, locks, threads and thread-locals; the run queues use the stand-in in
//! `scheduler::queue`).
//!
//! - `task_*`: the task state machine (`task/state.rs`) with a stand-in scheduler: wake while
//!   running, wake racing completion, join racing completion, abort racing a poll and a
//!   `JoinHandle` drop. Leaks are caught by loom's `Arc` leak check: every task holds a clone
//!   of the stand-in scheduler's `Arc` until it is freed.
//! - `park_*`: the whole runtime with 2 and 3 workers: spawns from outside and from inside,
//!   a wake from a foreign thread. A lost wakeup, or a worker left asleep while work is queued,
//!   leaves every thread blocked, which loom reports as a deadlock.

use crate::sync::{Arc, AtomicUsize, Mutex, Ordering::SeqCst, thread};
use crate::task::{self, JoinHandle, Notified, Schedule, TaskId, TaskRef};
use std::collections::VecDeque;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

// ---- task state machine --------------------------------------------------------------------

#[derive(Default)]
struct Queue(Mutex<VecDeque<Notified>>);

#[derive(Clone, Default)]
struct MockScheduler(Arc<Queue>);

impl Schedule for MockScheduler {
    fn schedule(&self, task: Notified, _is_yield: bool) {
        self.0.0.lock().push_back(task);
    }
    fn release(&self, _task: TaskRef) -> bool {
        false
    }
}

impl MockScheduler {
    fn pop(&self) -> Option<Notified> {
        self.0.0.lock().pop_front()
    }
    /// Runs queued tasks until none is left.
    fn run_all(&self) {
        while let Some(task) = self.pop() {
            task.run();
        }
    }
}

fn spawn_mock<F>(future: F) -> (MockScheduler, Notified, JoinHandle<F::Output>)
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let scheduler = MockScheduler::default();
    let (notified, join) = task::new_task(future, scheduler.clone(), TaskId::next(), 2);
    (scheduler, notified, join)
}

/// Counts drops of the value it is attached to.
struct DropCounter(Arc<AtomicUsize>);
impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

type WakerSlot = Arc<Mutex<Option<Waker>>>;

/// A future that parks its waker in `slot` and completes on its second poll.
fn two_step(slot: WakerSlot, drops: Arc<AtomicUsize>) -> impl Future<Output = u32> + Send {
    let guard = DropCounter(drops);
    let mut polls = 0;
    poll_fn(move |cx| {
        let _ = &guard;
        polls += 1;
        if polls == 1 {
            *slot.lock() = Some(cx.waker().clone());
            Poll::Pending
        } else {
            Poll::Ready(7)
        }
    })
}

fn noop_waker() -> Waker {
    fn clone(_: *const ()) -> RawWaker {
        RawWaker::new(std::ptr::null(), &VTABLE)
    }
    fn noop(_: *const ()) {}
    static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, noop, noop, noop);
    // SAFETY: every vtable function is a no-op on a null pointer.
    unsafe { Waker::from_raw(RawWaker::new(std::ptr::null(), &VTABLE)) }
}

fn poll_join<T>(join: &mut JoinHandle<T>, waker: &Waker) -> Poll<Result<T, crate::JoinError>> {
    Pin::new(join).poll(&mut Context::from_waker(waker))
}

/// Takes the waker out of `slot` once the task has stored it, and wakes it.
fn wake_when_stored(slot: &WakerSlot) {
    loop {
        if let Some(waker) = slot.lock().take() {
            waker.wake();
            return;
        }
        thread::yield_now();
    }
}

#[test]
fn task_wake_while_running() {
    loom::model(|| {
        let slot = WakerSlot::default();
        let drops = Arc::new(AtomicUsize::new(0));
        let (scheduler, notified, mut join) = spawn_mock(two_step(slot.clone(), drops.clone()));
        let waker_thread = thread::spawn(move || wake_when_stored(&slot));
        notified.run();
        waker_thread.join().unwrap();
        // The wake happened during or after the first poll: either way it was not lost.
        scheduler.run_all();
        assert_eq!(drops.load(SeqCst), 1);
        match poll_join(&mut join, &noop_waker()) {
            Poll::Ready(Ok(7)) => {}
            other => panic!("task did not complete: {:?}", other.map(|r| r.is_ok())),
        }
    });
}

#[test]
fn task_wake_by_ref_vs_complete() {
    loom::model(|| {
        let slot = WakerSlot::default();
        let drops = Arc::new(AtomicUsize::new(0));
        let (scheduler, notified, join) = spawn_mock(two_step(slot.clone(), drops.clone()));
        notified.run(); // first poll: stores the waker
        let waker = slot.lock().take().expect("stored by the first poll");
        let second = waker.clone();
        let waker_thread = thread::spawn(move || {
            second.wake_by_ref();
            drop(second);
        });
        waker.wake(); // queue the second poll
        let runner = {
            let scheduler = scheduler.clone();
            thread::spawn(move || scheduler.run_all())
        };
        waker_thread.join().unwrap();
        runner.join().unwrap();
        scheduler.run_all();
        assert_eq!(drops.load(SeqCst), 1);
        drop(join);
    });
}

#[test]
fn task_join_vs_complete() {
    loom::model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let guard = DropCounter(drops.clone());
        let (_scheduler, notified, mut join) = spawn_mock(async move {
            drop(guard);
            5_u32
        });
        let runner = thread::spawn(move || notified.run());

        // The joiner's waker records whether it was woken.
        let woken = Arc::new(AtomicUsize::new(0));
        let waker = counting_waker(woken.clone());
        let first = poll_join(&mut join, &waker);
        runner.join().unwrap();
        match first {
            Poll::Ready(out) => assert_eq!(out.unwrap(), 5),
            Poll::Pending => {
                // Completion came after our registration: it must have woken us.
                assert_eq!(woken.load(SeqCst), 1);
                assert_eq!(
                    poll_join(&mut join, &waker).map(Result::unwrap),
                    Poll::Ready(5)
                );
            }
        }
        assert_eq!(drops.load(SeqCst), 1);
    });
}

#[test]
fn task_abort_vs_poll_vs_join_drop() {
    loom::model(|| {
        let slot = WakerSlot::default();
        let drops = Arc::new(AtomicUsize::new(0));
        let (scheduler, notified, join) = spawn_mock(two_step(slot.clone(), drops.clone()));
        let runner = thread::spawn(move || notified.run());
        let aborter = thread::spawn(move || {
            join.abort();
            drop(join);
        });
        runner.join().unwrap();
        aborter.join().unwrap();
        // Whatever the interleaving, the abort has queued (or the runner has done) the
        // cancellation: after draining, the future is gone exactly once.
        scheduler.run_all();
        assert_eq!(drops.load(SeqCst), 1);
        drop(slot); // releases the waker the first poll may have stored
    });
}

fn counting_waker(count: Arc<AtomicUsize>) -> Waker {
    struct Count(Arc<AtomicUsize>);
    fn vtable() -> &'static RawWakerVTable {
        &RawWakerVTable::new(clone, wake, wake_by_ref, drop_waker)
    }
    unsafe fn clone(data: *const ()) -> RawWaker {
        // SAFETY: data is a leaked Box<Count> owned by the waker being cloned.
        let count = unsafe { &*(data as *const Count) };
        RawWaker::new(
            Box::into_raw(Box::new(Count(count.0.clone()))) as *const (),
            vtable(),
        )
    }
    unsafe fn wake(data: *const ()) {
        // SAFETY: as in `clone`; wake by value consumes the box.
        unsafe {
            wake_by_ref(data);
            drop_waker(data);
        }
    }
    unsafe fn wake_by_ref(data: *const ()) {
        // SAFETY: as in `clone`.
        unsafe { &*(data as *const Count) }.0.fetch_add(1, SeqCst);
    }
    unsafe fn drop_waker(data: *const ()) {
        // SAFETY: as in `clone`; the box is released once.
        drop(unsafe { Box::from_raw(data as *mut Count) });
    }
    let raw = RawWaker::new(Box::into_raw(Box::new(Count(count))) as *const (), vtable());
    // SAFETY: the vtable above follows the RawWaker contract for a boxed Count.
    unsafe { Waker::from_raw(raw) }
}

// ---- park / unpark with the whole runtime -------------------------------------------------

/// Runs a whole-runtime model. With more than one worker the state space at two preemptions
/// is beyond a CI budget (millions of executions), so those models are bounded at one
/// preemption, which is what the no-lost-wakeup races (a push racing a park) need; the
/// one-worker models take `LOOM_MAX_PREEMPTIONS` as it is.
fn model_runtime(workers: usize, f: impl Fn(crate::Runtime) + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if workers > 1 {
        builder.preemption_bound = Some(builder.preemption_bound.map_or(1, |b| b.min(1)));
    }
    builder.check(move || f(runtime(workers)));
}

fn runtime(workers: usize) -> crate::Runtime {
    crate::Runtime::builder()
        .worker_threads(workers)
        .build()
        .expect("runtime")
}

/// A task whose waker a foreign thread takes and wakes; block_on waits for its output.
fn wake_from_foreign_thread(rt: &crate::Runtime) {
    let slot = WakerSlot::default();
    let drops = Arc::new(AtomicUsize::new(0));
    let join = rt.spawn(two_step(slot.clone(), drops));
    let waker_thread = thread::spawn(move || wake_when_stored(&slot));
    assert_eq!(rt.block_on(join).unwrap(), 7);
    waker_thread.join().unwrap();
}

#[test]
fn park_spawn_from_outside_one_worker() {
    model_runtime(1, |rt| {
        let join = rt.spawn(async { 1 });
        assert_eq!(rt.block_on(join).unwrap(), 1);
    });
}

#[test]
fn park_wake_from_foreign_thread_one_worker() {
    model_runtime(1, |rt| {
        wake_from_foreign_thread(&rt);
    });
}

#[test]
fn park_spawn_from_outside_two_workers() {
    model_runtime(2, |rt| {
        let join = rt.spawn(async { 1 });
        assert_eq!(rt.block_on(join).unwrap(), 1);
    });
}

#[test]
fn park_spawn_from_inside_two_workers() {
    model_runtime(2, |rt| {
        let out = rt.block_on(async {
            let outer = crate::spawn(async { crate::spawn(async { 2 }).await.unwrap() });
            outer.await.unwrap()
        });
        assert_eq!(out, 2);
    });
}

#[test]
fn park_wake_from_foreign_thread_two_workers() {
    model_runtime(2, |rt| {
        wake_from_foreign_thread(&rt);
    });
}

#[test]
fn park_two_tasks_three_workers() {
    model_runtime(3, |rt| {
        let a = rt.spawn(async { 1 });
        let b = rt.spawn(async { 2 });
        let sum = rt.block_on(async { a.await.unwrap() + b.await.unwrap() });
        assert_eq!(sum, 3);
    });
}

// ---- the driver: ownership, offers, shutdown ---------------------------------------------

/// A driver with no events of its own: `park` blocks until `unpark` (a token).
struct TokenDriver(std::sync::Arc<Token>);

struct Token {
    set: Mutex<bool>,
    condvar: crate::sync::Condvar,
}

impl crate::park::Unpark for Token {
    fn unpark(&self) {
        *self.set.lock() = true;
        self.condvar.notify_one();
    }
}

impl crate::park::Park for TokenDriver {
    fn park(&mut self, timeout: Option<std::time::Duration>) {
        let mut set = self.0.set.lock();
        if !*set && timeout.is_none() {
            set = self.0.condvar.wait(set);
        }
        *set = false;
    }
    fn unparker(&self) -> std::sync::Arc<dyn crate::park::Unpark> {
        self.0.clone()
    }
}

fn runtime_with_driver(workers: usize) -> crate::Runtime {
    let token = std::sync::Arc::new(Token {
        set: Mutex::new(false),
        condvar: crate::sync::Condvar::new(),
    });
    crate::Runtime::builder()
        .worker_threads(workers)
        .park(TokenDriver(token))
        .build()
        .expect("runtime")
}

#[test]
fn driver_spawn_from_outside_two_workers() {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(builder.preemption_bound.map_or(1, |b| b.min(1)));
    builder.max_branches = 100_000;
    builder.check(|| {
        let rt = runtime_with_driver(2);
        let join = rt.spawn(async { 1 });
        assert_eq!(rt.block_on(join).unwrap(), 1);
    });
}

#[test]
fn driver_wake_from_foreign_thread_one_worker() {
    let mut builder = loom::model::Builder::new();
    builder.max_branches = 100_000;
    builder.check(|| {
        let rt = runtime_with_driver(1);
        wake_from_foreign_thread(&rt);
    });
}

// ---- autojump: knowing that the runtime is idle ------------------------------------------

/// A stand-in for the timer driver's autojump (the real one is in creche-timer, on std
/// atomics): one virtual timer; `park(None)` arms the idle monitor and, when the runtime is
/// idle and a timer waits, "jumps": checks the model's invariant, then fires the timer.
/// Wakes are told apart as in the timer driver: the runtime's (return) and the internal ones
/// (the idle notification: look again).
struct JumpDriver(std::sync::Arc<JumpShared>);

struct JumpShared {
    state: Mutex<JumpState>,
    condvar: crate::sync::Condvar,
    timer: Mutex<Option<Waker>>,
    monitor: Mutex<Option<crate::park::IdleMonitor>>,
    /// What must hold whenever the driver jumps.
    invariant: Box<dyn Fn() -> bool + Send + Sync>,
}

#[derive(Default)]
struct JumpState {
    runtime: bool,
    internal: bool,
}

/// The unparker the runtime gets.
struct RuntimeWake(std::sync::Arc<JumpShared>);
/// The idle monitor's (weak: the shared state holds the monitor, which holds this).
struct InternalWake(std::sync::Weak<JumpShared>);

impl crate::park::Unpark for RuntimeWake {
    fn unpark(&self) {
        self.0.state.lock().runtime = true;
        self.0.condvar.notify_one();
    }
}

impl crate::park::Unpark for InternalWake {
    fn unpark(&self) {
        if let Some(shared) = self.0.upgrade() {
            shared.state.lock().internal = true;
            shared.condvar.notify_one();
        }
    }
}

impl crate::park::Park for JumpDriver {
    fn park(&mut self, timeout: Option<std::time::Duration>) {
        let shared = &*self.0;
        if timeout.is_some() {
            shared.state.lock().runtime = false;
            return;
        }
        loop {
            let monitor = shared.monitor.lock().clone();
            if let Some(monitor) = monitor {
                // As the timer driver does: arm and find the runtime idle (epoch `e`), then read
                // the timers, and jump only if the epoch is still `e` (nobody entered since).
                if let Some(epoch) = monitor.arm() {
                    let has_timer = shared.timer.lock().is_some();
                    if monitor.idle_epoch() != Some(epoch) {
                        continue;
                    }
                    if has_timer {
                        let waker = shared.timer.lock().take().expect("only the driver");
                        assert!((shared.invariant)(), "jumped while the runtime was busy");
                        waker.wake();
                        return;
                    }
                }
            }
            let mut state = shared.state.lock();
            while !state.runtime && !state.internal {
                state = shared.condvar.wait(state);
            }
            let runtime = std::mem::take(&mut state.runtime);
            state.internal = false;
            if runtime {
                return;
            }
        }
    }
    fn unparker(&self) -> std::sync::Arc<dyn crate::park::Unpark> {
        std::sync::Arc::new(RuntimeWake(self.0.clone()))
    }
    fn attach(&mut self, monitor: &crate::park::IdleMonitor) {
        let internal = InternalWake(std::sync::Arc::downgrade(&self.0));
        monitor.set_on_idle(std::sync::Arc::new(internal));
        *self.0.monitor.lock() = Some(monitor.clone());
    }
}

/// A runtime with a `JumpDriver` whose invariant is `invariant`; the runtime hands it the
/// monitor through `Park::attach` before its workers start, as it does the timer driver.
fn runtime_with_jump_driver(
    workers: usize,
    invariant: impl Fn() -> bool + Send + Sync + 'static,
) -> (crate::Runtime, std::sync::Arc<JumpShared>) {
    let shared = std::sync::Arc::new(JumpShared {
        state: Mutex::new(JumpState::default()),
        condvar: crate::sync::Condvar::new(),
        timer: Mutex::new(None),
        monitor: Mutex::new(None),
        invariant: Box::new(invariant),
    });
    let rt = crate::Runtime::builder()
        .worker_threads(workers)
        .park(JumpDriver(shared.clone()))
        .build()
        .expect("runtime");
    (rt, shared)
}

/// A future that registers the virtual timer and completes once it fired.
fn virtual_sleep(shared: std::sync::Arc<JumpShared>) -> impl Future<Output = ()> + Send {
    let mut registered = false;
    poll_fn(move |cx| {
        if !registered {
            registered = true;
            *shared.timer.lock() = Some(cx.waker().clone());
            return Poll::Pending;
        }
        if shared.timer.lock().is_some() {
            Poll::Pending // a spurious poll: the timer has not fired
        } else {
            Poll::Ready(())
        }
    })
}

/// Runs an autojump model: a `JumpDriver` runtime whose invariant is "`done` was set", handed
/// to `body` with the driver's state. `bounded` caps the model at one preemption (the models
/// with a blocking thread or two workers).
fn autojump_model(
    workers: usize,
    bounded: bool,
    body: impl Fn(&crate::Runtime, std::sync::Arc<JumpShared>, Arc<AtomicUsize>) + Sync + Send + 'static,
) {
    let mut builder = loom::model::Builder::new();
    if bounded {
        builder.preemption_bound = Some(builder.preemption_bound.map_or(1, |b| b.min(1)));
    }
    builder.max_branches = 100_000;
    builder.check(move || {
        let done = Arc::new(AtomicUsize::new(0));
        let seen = done.clone();
        let (rt, shared) = runtime_with_jump_driver(workers, move || seen.load(SeqCst) == 1);
        body(&rt, shared, done);
    });
}

/// A task spawned before the sleep starts must be finished when time jumps: while it is
/// queued or running, the runtime is not idle. If the idle notification could be lost, the
/// driver would wait for it forever and loom would report a deadlock.
#[test]
fn autojump_waits_for_a_runnable_task() {
    autojump_model(1, false, |rt, shared, done| {
        rt.block_on(async move {
            let other = crate::spawn(async move {
                done.store(1, SeqCst);
            });
            virtual_sleep(shared).await;
            other.await.unwrap();
        });
    });
}

/// A blocking job is work in progress: no jump until it has run.
#[test]
fn autojump_waits_for_a_blocking_job() {
    autojump_model(1, true, |rt, shared, done| {
        rt.block_on(async move {
            let job = crate::spawn_blocking(move || done.store(1, SeqCst));
            virtual_sleep(shared).await;
            job.await.unwrap();
        });
    });
}

/// A job that takes its activity unit into a lease (what `to_thread` does) is still work in
/// progress until it drops the lease: no jump before its work is done. Dropping the lease
/// before the work fails the model (the driver jumps with `done` still 0).
#[test]
fn autojump_waits_for_a_leased_job() {
    autojump_model(1, true, |rt, shared, done| {
        rt.block_on(async move {
            let job = crate::spawn_blocking(move || {
                let lease = crate::blocking::current_job()
                    .expect("a blocking job")
                    .take_activity();
                done.store(1, SeqCst);
                drop(lease);
            });
            virtual_sleep(shared).await;
            job.await.unwrap();
        });
    });
}

/// `from_thread`'s hand-over: the job wakes a task and only then drops its lease; the task,
/// running, renews the lease and hands it back; the job does its work and drops it. The
/// runtime is never seen idle between the two (no jump before the work is done), and the
/// job's wait does not keep it busy forever (the jump comes).
#[test]
fn autojump_sees_a_lease_handed_to_a_task_and_back() {
    autojump_model(1, true, |rt, shared, done| {
        let handed: Arc<Mutex<Option<crate::blocking::ActivityLease>>> = Arc::default();
        let renewed = Arc::new(AtomicUsize::new(0));
        let slot = WakerSlot::default();
        let (task_handed, task_renewed, task_slot) =
            (handed.clone(), renewed.clone(), slot.clone());
        let task = rt.spawn(poll_fn(move |cx| {
            *task_slot.lock() = Some(cx.waker().clone());
            if task_renewed.load(SeqCst) == 1 {
                let lease = crate::Handle::current().activity_lease();
                *task_handed.lock() = Some(lease);
                task_renewed.store(2, SeqCst);
                return Poll::Ready(());
            }
            Poll::Pending
        }));
        rt.block_on(async move {
            let job = crate::spawn_blocking(move || {
                let lease = crate::blocking::current_job()
                    .expect("a blocking job")
                    .take_activity();
                renewed.store(1, SeqCst);
                let waker = slot.lock().take();
                if let Some(waker) = waker {
                    waker.wake();
                }
                drop(lease); // after the wake, as from_thread does
                while renewed.load(SeqCst) != 2 {
                    thread::yield_now();
                }
                let lease = handed.lock().take();
                done.store(1, SeqCst);
                drop(lease);
            });
            virtual_sleep(shared).await;
            task.await.unwrap();
            job.await.unwrap();
        });
    });
}

/// Two workers: one task wakes another (possibly on the other worker) through a one-shot
/// flag; the jump comes only after the waker task has finished, and it does come.
#[test]
fn autojump_two_workers_wake_each_other() {
    autojump_model(2, true, |rt, shared, done| {
        let flag = Arc::new(AtomicUsize::new(0));
        let slot = WakerSlot::default();
        let (wait_flag, wait_slot) = (flag.clone(), slot.clone());
        let waiter = rt.spawn(poll_fn(move |cx| {
            *wait_slot.lock() = Some(cx.waker().clone());
            if wait_flag.load(SeqCst) == 1 {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        }));
        rt.block_on(async move {
            crate::spawn(async move {
                flag.store(1, SeqCst);
                let waker = slot.lock().take();
                if let Some(waker) = waker {
                    waker.wake();
                }
                done.store(1, SeqCst);
            });
            waiter.await.unwrap();
            virtual_sleep(shared).await;
        });
    });
}

/// A task parked after its first poll, woken through an `AbortHandle` from a foreign thread
/// while `block_on` waits for it (the nursery's cancellation walk does this).
#[test]
fn park_abort_handle_wake_from_foreign_thread_two_workers() {
    model_runtime(2, |rt| {
        let polled = Arc::new(AtomicUsize::new(0));
        let seen = polled.clone();
        let mut polls = 0;
        let join = rt.spawn(poll_fn(move |_cx| {
            polls += 1;
            seen.store(polls, SeqCst);
            if polls == 1 {
                Poll::Pending
            } else {
                Poll::Ready(3)
            }
        }));
        let handle = join.abort_handle();
        let waker_thread = thread::spawn(move || {
            while polled.load(SeqCst) == 0 {
                thread::yield_now();
            }
            handle.wake();
        });
        assert_eq!(rt.block_on(join).unwrap(), 3);
        waker_thread.join().unwrap();
    });
}

/// As above, and the foreign thread then also wakes the `block_on` future, which polls again
/// and parks (the nursery's cancellation walk wakes the scope's owner after the children).
#[test]
fn park_abort_handle_wake_then_block_on_wake_two_workers() {
    model_runtime(2, |rt| {
        let polled = Arc::new(AtomicUsize::new(0));
        let seen = polled.clone();
        let mut polls = 0;
        let mut join = rt.spawn(poll_fn(move |_cx| {
            polls += 1;
            seen.store(polls, SeqCst);
            if polls == 1 {
                Poll::Pending
            } else {
                Poll::Ready(3)
            }
        }));
        let handle = join.abort_handle();
        let main_waker = WakerSlot::default();
        let slot = main_waker.clone();
        let waker_thread = thread::spawn(move || {
            while polled.load(SeqCst) == 0 {
                thread::yield_now();
            }
            handle.wake();
            wake_when_stored(&slot);
        });
        let out = rt.block_on(poll_fn(|cx| {
            *main_waker.lock() = Some(cx.waker().clone());
            std::pin::Pin::new(&mut join).poll(cx)
        }));
        assert_eq!(out.unwrap(), 3);
        waker_thread.join().unwrap();
    });
}

/// Regression: the waker thread sets a flag the task checks in its poll, then wakes the task
/// through an `AbortHandle`, with nothing else ordering it after the poll (the nursery's cancel
/// walk: set `CANCEL_CALLED`, wake every child). `wake` used to return early on a plain load
/// reading NOTIFIED; that load could return the word from before the runner's
/// `transition_to_running` (the spawn's NOTIFIED), while the poll had missed the flag and
/// gone idle: the wake was lost and the model deadlocked.
#[test]
fn park_abort_handle_wake_unsynchronised_with_poll_one_worker() {
    model_runtime(1, |rt| {
        let flag = Arc::new(AtomicUsize::new(0));
        let seen = flag.clone();
        let join = rt.spawn(poll_fn(move |_cx| {
            if seen.load(SeqCst) == 0 {
                Poll::Pending
            } else {
                Poll::Ready(5)
            }
        }));
        let handle = join.abort_handle();
        let waker_thread = thread::spawn(move || {
            flag.fetch_add(1, SeqCst);
            handle.wake();
        });
        assert_eq!(rt.block_on(join).unwrap(), 5);
        waker_thread.join().unwrap();
    });
}
