//! The blocking pool: threads for closures that block (`spawn_blocking`).
//!
//! Threads are started on demand, up to `max_blocking_threads`; one that stays idle for
//! the keep-alive (`Builder::thread_keep_alive`, 10 s by default) retires. A blocking closure
//! runs as a task (so its `JoinHandle`, panic
//! capture and cancellation are those of every task) whose scheduler is this pool: it is
//! scheduled exactly once, onto the pool's queue. Shutdown cancels what is still queued and
//! joins every thread, waiting for the closures that are running (a blocking closure cannot be
//! interrupted), except a thread whose job was [detached](JobControl::detach).
//!
//! # Jobs that manage their own activity (`to_thread`)
//!
//! A job counts as an active party (see `scheduler::activity`) from its queueing until it has
//! run. A job that waits for the runtime (`from_thread`) or is abandoned by its caller
//! (`to_thread_abandon_on_cancel`) must not count while it does: the runtime would never look
//! idle. For them, [`current_job`] gives the running job a [`JobControl`]:
//!
//! - [`JobControl::take_activity`] (on the job's thread) moves the job's unit into an
//!   [`ActivityLease`], which the caller then holds, drops (leave) and renews
//!   ([`Handle::activity_lease`](crate::Handle::activity_lease), an enter by an active party) as
//!   it likes; the pool no longer leaves for the job, and a `block_on` inside counts itself;
//! - [`JobControl::detach`]: the pool's shutdown does not join the thread while it runs this
//!   job.
//!
//! A job submitted with [`spawn_uncounted`] is not counted at all: its submitter counts it
//! with a lease of its own, which it can drop while the job is still queued (`to_thread` does
//! this, so that an abandon before the job starts stops the counting at once).
//!
//! Each pool thread has a slot holding its current job's state, created only when the job asks
//! for its `JobControl` (plain `spawn_blocking` jobs allocate nothing more). The slot is read
//! at the job's end (was the unit taken?) and by shutdown (detached?), under its lock.

use crate::scheduler::activity::Activity;
use crate::sync::{Arc, AtomicBool, Condvar, Mutex, Ordering::SeqCst, thread};
use crate::task::{self, JoinHandle, Notified, Schedule, TaskId, TaskRef};
use crate::{Handle, builder::ThreadConfig, context};
use std::cell::Cell;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// How long an idle blocking thread waits for work before it retires, by default.
pub(crate) const DEFAULT_KEEP_ALIVE: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub(crate) struct BlockingPool {
    inner: Arc<Inner>,
}

struct Inner {
    state: Mutex<State>,
    condvar: Condvar,
    max_threads: usize,
    keep_alive: Duration,
    config: Arc<ThreadConfig>,
    /// With a driver: a job is active from its queueing until it has run (see `activity`).
    activity: Option<Arc<Activity>>,
}

struct State {
    /// Queued jobs, each with whether it counts as an active party (see [`spawn_uncounted`]).
    queue: VecDeque<(Notified, bool)>,
    shutdown: bool,
    num_threads: usize,
    idle_threads: usize,
    /// Wake-ups sent to idle threads and not yet taken (so one job wakes one thread).
    pending_wakeups: usize,
    next_id: usize,
    threads: Vec<(usize, thread::JoinHandle<()>, Arc<ThreadSlot>)>,
    /// The handle of the thread that retired last, joined by the next one to retire or at
    /// shutdown.
    last_exited: Option<thread::JoinHandle<()>>,
}

/// What the pool knows of the job a thread is running.
#[derive(Default)]
struct ThreadSlot {
    /// The running job's state, if the job asked for its [`JobControl`].
    job: Mutex<Option<Arc<JobState>>>,
    /// The runtime's activity counter (with a driver).
    activity: Option<Arc<Activity>>,
    /// Whether the running job counts as an active party (`false`: [`spawn_uncounted`]).
    counted: AtomicBool,
}

/// One job's flags; see [`JobControl`].
#[derive(Default)]
struct JobState {
    /// The job's activity unit was moved into an `ActivityLease`.
    unit_taken: AtomicBool,
    /// Shutdown does not join the thread while it runs this job.
    detached: AtomicBool,
}

crate::sync::thread_local! {
    /// The slot of the pool thread this is (null elsewhere).
    static SLOT: Cell<*const ThreadSlot> = const { Cell::new(std::ptr::null()) };
}

/// Control over the blocking job running on this thread: see the module documentation.
///
/// # Examples
///
/// ```
/// let rt = creche_runtime::Runtime::new().unwrap();
/// let inside = rt.block_on(rt.spawn_blocking(|| {
///     creche_runtime::blocking::current_job().is_some()
/// }));
/// assert!(inside.unwrap());
/// assert!(creche_runtime::blocking::current_job().is_none());
/// ```
#[derive(Clone)]
pub struct JobControl {
    job: Arc<JobState>,
    activity: Option<Arc<Activity>>,
}

impl std::fmt::Debug for JobControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobControl")
            .field("unit_taken", &self.job.unit_taken.load(SeqCst))
            .field("detached", &self.job.detached.load(SeqCst))
            .finish()
    }
}

/// The [`JobControl`] of the blocking job running on this thread (`None` on any other thread).
///
/// # Examples
///
/// See [`JobControl`].
pub fn current_job() -> Option<JobControl> {
    let slot = SLOT.with(Cell::get);
    // SAFETY: a non-null pointer was set by `BlockingPool::run` on this thread from the `Arc`
    // it holds until it resets the pointer, after its loop.
    let slot = unsafe { slot.as_ref() }?;
    let job = slot
        .job
        .lock()
        .get_or_insert_with(|| {
            // An uncounted job has no unit to take.
            let state = JobState::default();
            state.unit_taken.store(!slot.counted.load(SeqCst), SeqCst);
            Arc::new(state)
        })
        .clone();
    Some(JobControl {
        job,
        activity: slot.activity.clone(),
    })
}

impl JobControl {
    /// Moves this job's activity unit into a lease: the pool no longer counts the job as active
    /// past the lease's drop. Call it on the job's own thread (elsewhere, or a second time, it
    /// returns `None`). Without a driver there is no counting, and the lease is empty.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = creche_runtime::Runtime::new().unwrap();
    /// let taken = rt.block_on(rt.spawn_blocking(|| {
    ///     let job = creche_runtime::blocking::current_job().unwrap();
    ///     let lease = job.take_activity();
    ///     (lease.is_some(), job.take_activity().is_none())
    /// }));
    /// assert_eq!(taken.unwrap(), (true, true));
    /// ```
    pub fn take_activity(&self) -> Option<ActivityLease> {
        let on_its_thread = current_job().is_some_and(|job| Arc::ptr_eq(&job.job, &self.job));
        if !on_its_thread || self.job.unit_taken.swap(true, SeqCst) {
            return None;
        }
        // A `block_on` on this thread must now count itself.
        context::set_counted_by(std::ptr::null());
        Some(ActivityLease(self.activity.clone()))
    }

    /// The pool's shutdown will not wait for this thread while it runs this job (an abandoned
    /// job). Callable from any thread.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = creche_runtime::Runtime::new().unwrap();
    /// let (tx, rx) = std::sync::mpsc::channel::<()>();
    /// let job = rt.block_on(async {
    ///     let (job_tx, job_rx) = std::sync::mpsc::channel();
    ///     let _running = creche_runtime::spawn_blocking(move || {
    ///         job_tx.send(creche_runtime::blocking::current_job().unwrap()).unwrap();
    ///         let _ = rx.recv(); // blocks until `tx` is dropped
    ///     });
    ///     job_rx.recv().unwrap()
    /// });
    /// job.detach();
    /// drop(rt); // does not wait for the job, still blocked in `recv`
    /// drop(tx);
    /// ```
    pub fn detach(&self) {
        self.job.detached.store(true, SeqCst);
    }
}

/// `spawn_blocking` for a job that does **not** count as an active party, neither while it is
/// queued nor while it runs: whoever submits it keeps the runtime busy on its behalf as long as
/// it likes, with an [`ActivityLease`] of its own, which it can drop while the job still waits
/// for a pool thread (`to_thread` abandoned before its thread started). Such a job has no unit
/// to take: [`JobControl::take_activity`] returns `None` in it, and a `block_on` inside it
/// counts itself.
///
/// # Panics
///
/// Outside a runtime, as [`spawn_blocking`](crate::spawn_blocking).
///
/// # Examples
///
/// ```
/// let rt = creche_runtime::Runtime::new().unwrap();
/// let took = rt.block_on(async {
///     let lease = creche_runtime::Handle::current().activity_lease();
///     let job = creche_runtime::blocking::spawn_uncounted(|| {
///         creche_runtime::blocking::current_job().unwrap().take_activity().is_none()
///     });
///     let took = job.await.unwrap();
///     drop(lease);
///     took
/// });
/// assert!(took);
/// ```
#[track_caller]
pub fn spawn_uncounted<F, R>(f: F) -> JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    match context::current_handle() {
        Some(handle) => handle.shared.blocking.spawn(&handle, f, false),
        None => panic!("creche::blocking::spawn_uncounted called outside a creche runtime"),
    }
}

/// One active party, counted from the lease's creation (or from the job whose unit it took)
/// until its drop, from any thread. See [`Handle::activity_lease`](crate::Handle::activity_lease).
///
/// # Examples
///
/// ```
/// let rt = creche_runtime::Runtime::new().unwrap();
/// let lease = rt.handle().activity_lease();
/// drop(lease);
/// ```
pub struct ActivityLease(pub(crate) Option<Arc<Activity>>);

impl ActivityLease {
    /// A lease of `activity` (entering now).
    pub(crate) fn enter(activity: Option<&Arc<Activity>>) -> ActivityLease {
        ActivityLease(activity.map(|activity| {
            activity.enter();
            activity.clone()
        }))
    }
}

impl std::fmt::Debug for ActivityLease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActivityLease")
            .field("counted", &self.0.is_some())
            .finish()
    }
}

impl Drop for ActivityLease {
    fn drop(&mut self) {
        if let Some(activity) = self.0.take() {
            activity.leave();
        }
    }
}

/// The scheduler reference held by blocking tasks.
struct BlockingSchedule {
    pool: BlockingPool,
    /// Whether the job counts as an active party while queued and running.
    counted: bool,
}

impl Schedule for BlockingSchedule {
    fn schedule(&self, task: Notified, _is_yield: bool) {
        self.pool.push(task, None, self.counted);
    }

    fn release(&self, _task: TaskRef) -> bool {
        false
    }
}

/// The future that runs the closure, once.
struct BlockingTask<F>(Option<F>);

impl<F> Unpin for BlockingTask<F> {}

impl<F: FnOnce() -> R, R> Future for BlockingTask<F> {
    type Output = R;
    fn poll(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<R> {
        let f = self.0.take().expect("a blocking task is polled once");
        Poll::Ready(f())
    }
}

impl Inner {
    fn job_done(&self) {
        if let Some(activity) = &self.activity {
            activity.leave();
        }
    }
}

impl BlockingPool {
    pub(crate) fn new(
        max_threads: usize,
        keep_alive: Duration,
        config: Arc<ThreadConfig>,
        activity: Option<Arc<Activity>>,
    ) -> BlockingPool {
        BlockingPool {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    queue: VecDeque::new(),
                    shutdown: false,
                    num_threads: 0,
                    idle_threads: 0,
                    pending_wakeups: 0,
                    next_id: 0,
                    threads: Vec::new(),
                    last_exited: None,
                }),
                condvar: Condvar::new(),
                max_threads,
                keep_alive,
                config,
                activity,
            }),
        }
    }

    /// Queues `f`; `counted`: it counts as an active party until it has run (see the module
    /// documentation and [`spawn_uncounted`]).
    pub(crate) fn spawn<F, R>(&self, handle: &Handle, f: F, counted: bool) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let scheduler = BlockingSchedule {
            pool: self.clone(),
            counted,
        };
        // Two references: the Notified and the JoinHandle (no owner list).
        let (notified, join) = task::new_task(BlockingTask(Some(f)), scheduler, TaskId::next(), 2);
        self.push(notified, Some(handle), counted);
        join
    }

    fn push(&self, task: Notified, handle: Option<&Handle>, counted: bool) {
        let inner = &*self.inner;
        let mut state = inner.state.lock();
        if state.shutdown {
            drop(state);
            task.shutdown();
            return;
        }
        if let Some(activity) = inner.activity.as_ref().filter(|_| counted) {
            activity.enter();
        }
        state.queue.push_back((task, counted));
        if state.idle_threads > state.pending_wakeups {
            state.pending_wakeups += 1;
            drop(state);
            inner.condvar.notify_one();
        } else if state.num_threads < inner.max_threads {
            let id = state.next_id;
            state.next_id += 1;
            state.num_threads += 1;
            let pool = self.clone();
            let handle = handle.cloned();
            let slot = Arc::new(ThreadSlot {
                job: Mutex::new(None),
                activity: inner.activity.clone(),
                counted: AtomicBool::new(true),
            });
            let thread_slot = slot.clone();
            let handle = crate::builder::spawn_thread(&inner.config, "blocking", move || {
                let _context = handle.as_ref().map(context::enter_handle);
                SLOT.with(|current| current.set(Arc::as_ptr(&thread_slot)));
                pool.run(id, &thread_slot);
                SLOT.with(|current| current.set(std::ptr::null()));
            });
            match handle {
                Ok(handle) => state.threads.push((id, handle, slot)),
                Err(_) => {
                    // No thread could be started: the job waits for a running thread (if there
                    // is none, it waits until one can be started by a later spawn).
                    state.num_threads -= 1;
                }
            }
        }
    }

    /// The body of a blocking thread.
    fn run(&self, id: usize, slot: &ThreadSlot) {
        let inner = &*self.inner;
        let mut state = inner.state.lock();
        loop {
            if let Some((task, counted)) = state.queue.pop_front() {
                drop(state);
                slot.counted.store(counted, SeqCst);
                // `run` catches the closure's panic; this catches what is left (a joiner's
                // waker, say) so that the thread and its accounting survive.
                let _counted = inner
                    .activity
                    .as_ref()
                    .filter(|_| counted)
                    .map(|activity| context::counted_by(Arc::as_ptr(activity).cast()));
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| task.run()));
                drop(_counted);
                // After the run: its completion has woken whoever waits for it. A job that took
                // its unit (`JobControl::take_activity`) gave it back itself.
                let job = slot.job.lock().take();
                if counted && !job.is_some_and(|job| job.unit_taken.load(SeqCst)) {
                    inner.job_done();
                }
                state = inner.state.lock();
                continue;
            }
            if state.shutdown {
                break;
            }
            state.idle_threads += 1;
            let (guard, timed_out) =
                crate::sync::wait_timeout(&inner.condvar, state, inner.keep_alive);
            state = guard;
            state.idle_threads -= 1;
            if state.pending_wakeups > 0 {
                state.pending_wakeups -= 1;
            } else if timed_out && state.queue.is_empty() && !state.shutdown {
                // Retire.
                if let Some(position) = state.threads.iter().position(|(i, _, _)| *i == id) {
                    let (_, me, _) = state.threads.swap_remove(position);
                    let previous = state.last_exited.replace(me);
                    state.num_threads -= 1;
                    drop(state);
                    if let Some(previous) = previous {
                        let _ = previous.join();
                    }
                    return;
                }
            }
        }
        state.num_threads -= 1;
    }

    /// Cancels the queued jobs and joins every thread (waiting for running closures), except
    /// the threads running a detached job.
    pub(crate) fn shutdown(&self) {
        let inner = &*self.inner;
        let (queued, threads, last) = {
            let mut state = inner.state.lock();
            state.shutdown = true;
            (
                std::mem::take(&mut state.queue),
                std::mem::take(&mut state.threads),
                state.last_exited.take(),
            )
        };
        inner.condvar.notify_all();
        for (task, counted) in queued {
            task.shutdown();
            if counted {
                inner.job_done();
            }
        }
        let me = thread::current().id();
        let threads = threads.into_iter().filter_map(|(_, handle, slot)| {
            let detached = slot
                .job
                .lock()
                .as_ref()
                .is_some_and(|job| job.detached.load(SeqCst));
            // A detached job's thread goes on alone (its handle dropped: not joined).
            (!detached).then_some(handle)
        });
        for handle in threads.chain(last) {
            if handle.thread().id() != me {
                let _ = handle.join();
            }
        }
    }
}
