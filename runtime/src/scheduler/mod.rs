//! The multi-threaded work-stealing scheduler.
//!
//! - `worker`: the run loop of one worker, its LIFO slot and local queue.
//! - `idle`: who searches, who is parked, whom to wake (the no-lost-wakeup protocol).
//! - `parker`: how one thread sleeps, and how the driver passes from thread to thread.
//! - `queue`: crossbeam-deque, or its loom stand-in.
//!
//! [`Shared`] is what every worker, handle and task (through its scheduler reference) sees:
//! the injector, the stealers, the idle accounting, the parkers, the driver, the owner list of
//! live tasks and the shutdown flag.

pub(crate) mod activity;
pub(crate) mod idle;
pub(crate) mod parker;
pub(crate) mod queue;
#[cfg(loom)]
mod queue_loom;
pub(crate) mod worker;

use crate::Handle;
use crate::blocking::BlockingPool;
use crate::context;
use crate::sync::{Arc, AtomicBool, Ordering::SeqCst};
use crate::task::list::OwnedTasks;
use crate::task::{self, JoinHandle, Notified, Schedule, TaskId, TaskRef};
use idle::Idle;
use parker::{DriverSlot, Parker};
use queue::{Injector, Stealer};
use std::future::Future;

/// State shared by all threads of one runtime.
pub(crate) struct Shared {
    pub(crate) injector: Injector<Notified>,
    pub(crate) stealers: Box<[Stealer<Notified>]>,
    pub(crate) idle: Idle,
    pub(crate) parkers: Box<[Parker]>,
    pub(crate) driver: Option<Arc<DriverSlot>>,
    pub(crate) owned: OwnedTasks,
    pub(crate) blocking: BlockingPool,
    shutdown: AtomicBool,
    /// Values from `Builder::extension`.
    pub(crate) extensions: Box<[crate::builder::Extension]>,
    /// The seed of chaos mode (`Builder::chaos`), if on.
    pub(crate) chaos: Option<u64>,
}

impl Shared {
    pub(crate) fn new(
        stealers: Vec<Stealer<Notified>>,
        driver: Option<Arc<DriverSlot>>,
        blocking: BlockingPool,
        extensions: Vec<crate::builder::Extension>,
        chaos: Option<u64>,
    ) -> Shared {
        let workers = stealers.len();
        Shared {
            injector: Injector::new(),
            parkers: (0..workers).map(|_| Parker::new(driver.clone())).collect(),
            stealers: stealers.into_boxed_slice(),
            idle: Idle::new(workers),
            driver,
            // Under loom one shard keeps the model small; the sharding is not part of a protocol.
            owned: OwnedTasks::new(if cfg!(loom) { 1 } else { workers * 4 }),
            blocking,
            shutdown: AtomicBool::new(false),
            extensions: extensions.into_boxed_slice(),
            chaos,
        }
    }

    pub(crate) fn is_shutdown(&self) -> bool {
        self.shutdown.load(SeqCst)
    }

    /// Spawns a future onto this runtime.
    pub(crate) fn spawn<F>(handle: &Handle, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        // Three references: the first Notified, the JoinHandle, the owner list.
        let (notified, join) = task::new_task(future, handle.clone(), TaskId::next(), 3);
        let shared = &*handle.shared;
        if shared.owned.insert(TaskRef(notified_ptr(&notified))) {
            shared.schedule(notified, false);
        } else {
            // Shut down: the list refused the task, so it is cancelled on the spot. The list's
            // reference was never taken up: release it along with the Notified's.
            let ptr = notified_ptr(&notified);
            notified.shutdown();
            drop(Notified::from_raw(ptr));
        }
        join
    }

    /// Queues a task: on the current worker if this thread is one of ours, else the injector.
    #[inline]
    pub(crate) fn schedule(&self, task: Notified, is_yield: bool) {
        context::with_current(|current| match current {
            Some((_, Some(core))) if std::ptr::eq(core.shared, self) => {
                core.schedule_local(self, task, is_yield)
            }
            _ => self.schedule_remote(task),
        })
    }

    fn schedule_remote(&self, task: Notified) {
        self.injector.push(task);
        // `worker_to_notify` begins with a SeqCst fence: the push is ordered before both the
        // idle check and the shutdown check below.
        if let Some(index) = self.idle.worker_to_notify() {
            self.parkers[index].unpark();
        }
        if self.is_shutdown() {
            // Shutdown may have drained the injector before our push: drain it again.
            self.drain_injector();
        }
    }

    /// Wakes a parked worker if work may be waiting and nobody is searching.
    #[inline]
    pub(crate) fn notify_parked(&self) {
        if let Some(index) = self.idle.worker_to_notify() {
            self.parkers[index].unpark();
        }
    }

    /// The last searcher is parking: if any queue holds work, wake a worker for it.
    pub(crate) fn notify_if_work_pending(&self) {
        let pending =
            !self.injector.is_empty() || self.stealers.iter().any(|stealer| !stealer.is_empty());
        if pending {
            self.notify_parked();
        }
    }

    /// The driver was released by the thread parked on `from`: offer it to another worker
    /// asleep on its condvar (`block_on` callers never drive: see `parker`).
    pub(crate) fn offer_driver(&self, from: &Parker) {
        if !self.driver.as_ref().is_some_and(|slot| slot.has_sleepers()) {
            return;
        }
        let _ = self
            .parkers
            .iter()
            .filter(|parker| !parker.ptr_eq(from))
            .any(Parker::offer_driver);
    }

    /// Step 1 of shutdown: stop the workers (they finish the poll they are in).
    pub(crate) fn begin_shutdown(&self) {
        self.shutdown.store(true, SeqCst);
        for parker in self.parkers.iter() {
            parker.unpark();
        }
    }

    /// Step 2, once the workers have stopped: drop every remaining future.
    pub(crate) fn finish_shutdown(&self) {
        self.owned.close_and_shutdown_all();
        self.drain_injector();
        if let Some(driver) = &self.driver {
            driver.shutdown();
        }
        debug_assert!(self.owned.is_empty());
    }

    fn drain_injector(&self) {
        loop {
            match self.injector.steal() {
                queue::Steal::Success(task) => drop(task),
                queue::Steal::Retry => std::hint::spin_loop(),
                queue::Steal::Empty => break,
            }
        }
    }
}

fn notified_ptr(task: &Notified) -> std::ptr::NonNull<task::Header> {
    std::ptr::NonNull::from(task.header())
}

impl Schedule for Handle {
    #[inline]
    fn schedule(&self, task: Notified, is_yield: bool) {
        self.shared.schedule(task, is_yield)
    }

    #[inline]
    fn release(&self, task: TaskRef) -> bool {
        self.shared.owned.remove(task)
    }
}
