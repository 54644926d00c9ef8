//! The blocking pool: threads for closures that block (`spawn_blocking`).
//!
//! Threads are started on demand, up to `max_blocking_threads`; one that stays idle for
//! the keep-alive (`Builder::thread_keep_alive`, [`DEFAULT_KEEP_ALIVE`] by default) retires. A blocking closure runs as a task (so its `JoinHandle`, panic
//! capture and cancellation are those of every task) whose scheduler is this pool: it is
//! scheduled exactly once, onto the pool's queue. Shutdown cancels what is still queued and
//! joins every thread, waiting for the closures that are running (a blocking closure cannot be
//! interrupted).

use crate::scheduler::activity::Activity;
use crate::sync::{Arc, Condvar, Mutex, thread};
use crate::task::{self, JoinHandle, Notified, Schedule, TaskId, TaskRef};
use crate::{Handle, builder::ThreadConfig, context};
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
    queue: VecDeque<Notified>,
    shutdown: bool,
    num_threads: usize,
    idle_threads: usize,
    /// Wake-ups sent to idle threads and not yet taken (so one job wakes one thread).
    pending_wakeups: usize,
    next_id: usize,
    threads: Vec<(usize, thread::JoinHandle<()>)>,
    /// The handle of the thread that retired last, joined by the next one to retire or at
    /// shutdown.
    last_exited: Option<thread::JoinHandle<()>>,
}

/// The scheduler reference held by blocking tasks.
struct BlockingSchedule {
    pool: BlockingPool,
}

impl Schedule for BlockingSchedule {
    fn schedule(&self, task: Notified, _is_yield: bool) {
        self.pool.push(task, None);
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

    pub(crate) fn spawn<F, R>(&self, handle: &Handle, f: F) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let scheduler = BlockingSchedule { pool: self.clone() };
        // Two references: the Notified and the JoinHandle (no owner list).
        let (notified, join) = task::new_task(BlockingTask(Some(f)), scheduler, TaskId::next(), 2);
        self.push(notified, Some(handle));
        join
    }

    fn push(&self, task: Notified, handle: Option<&Handle>) {
        let inner = &*self.inner;
        let mut state = inner.state.lock();
        if state.shutdown {
            drop(state);
            task.shutdown();
            return;
        }
        if let Some(activity) = &inner.activity {
            activity.enter();
        }
        state.queue.push_back(task);
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
            let handle = crate::builder::spawn_thread(&inner.config, "blocking", move || {
                let _context = handle.as_ref().map(context::enter_handle);
                pool.run(id)
            });
            match handle {
                Ok(handle) => state.threads.push((id, handle)),
                Err(_) => {
                    // No thread could be started: the job waits for a running thread (if there
                    // is none, it waits until one can be started by a later spawn).
                    state.num_threads -= 1;
                }
            }
        }
    }

    /// The body of a blocking thread.
    fn run(&self, id: usize) {
        let inner = &*self.inner;
        let mut state = inner.state.lock();
        loop {
            if let Some(task) = state.queue.pop_front() {
                drop(state);
                // `run` catches the closure's panic; this catches what is left (a joiner's
                // waker, say) so that the thread and its accounting survive.
                let _counted = inner
                    .activity
                    .as_ref()
                    .map(|activity| context::counted_by(Arc::as_ptr(activity).cast()));
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| task.run()));
                drop(_counted);
                // After the run: its completion has woken whoever waits for it.
                inner.job_done();
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
                if let Some(position) = state.threads.iter().position(|(i, _)| *i == id) {
                    let (_, me) = state.threads.swap_remove(position);
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

    /// Cancels the queued jobs and joins every thread (waiting for running closures).
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
        for task in queued {
            task.shutdown();
            inner.job_done();
        }
        let me = thread::current().id();
        for (_, handle) in threads.into_iter().chain(last.map(|h| (0, h))) {
            if handle.thread().id() != me {
                let _ = handle.join();
            }
        }
    }
}
