//! A worker thread: its run loop, its queues, how it finds work and how it parks.
//!
//! Each worker owns a [`Core`]: a LIFO slot (the task it woke last runs next, so a
//! message-passing pair ping-pongs on one warm core), a FIFO run queue whose other end the
//! other workers steal from, a tick counter and a random-number state for picking victims.
//!
//! Loop, per tick: every [`GLOBAL_QUEUE_INTERVAL`] ticks the injector is checked first (tasks
//! from outside cannot starve behind local ones); otherwise the LIFO slot, then the local queue,
//! then a batch from the injector. With nothing local, the worker searches (steal half of a
//! random victim's queue, then the injector) if the search bound allows, and otherwise parks
//! following the protocol in `idle.rs`. A task polled from the LIFO slot shares the coop budget
//! of the task that woke it, and at most [`MAX_LIFO_POLLS`] run back to back, so a ping-pong
//! pair cannot monopolise a worker.
//!
//! Chaos mode (`Builder::chaos(seed)`, for tests): the LIFO slot is not used, every task picked
//! from the local queue is drawn at random from all of it (the queue is popped into a buffer and
//! the rest pushed back, O(n) per pick: a test setting), and the steal victims are visited from
//! a start drawn from the seed. The draws come from a splitmix64 state derived from the seed and
//! the worker's index, one state for the queue and one for the victims, so the queue's draws
//! depend only on what was queued and not on how often the worker went searching: on one
//! worker, one seed gives one order. Off, it costs one branch on a bool per pick.

use super::Shared;
use super::queue::{Steal, Worker};
use crate::Handle;
use crate::coop;
use crate::task::Notified;
use std::cell::{Cell, RefCell};
use std::task::Waker;
use std::time::{Duration, Instant};

/// Check the injector first every this many ticks (tokio's figure).
pub(crate) const GLOBAL_QUEUE_INTERVAL: u32 = 61;
/// The real time of local work the injector's fairness check aims to leave between checks.
pub(crate) const INJECTOR_CHECK_TARGET: Duration = Duration::from_micros(100);
/// The fewest ticks between two fairness checks of the injector.
pub(crate) const INJECTOR_MIN_INTERVAL: u32 = 2;
/// Consecutive polls from the LIFO slot before its task goes to the back of the queue.
pub(crate) const MAX_LIFO_POLLS: usize = 3;
/// Yielded tasks are resumed when the worker runs out of other work, at fairness ticks when
/// the injector is empty, and at the latest every this many ticks (a multiple of
/// GLOBAL_QUEUE_INTERVAL).
pub(crate) const DEFERRED_WAKE_INTERVAL: u32 = 4 * GLOBAL_QUEUE_INTERVAL;
/// While yielded tasks are waiting, every this many times the worker runs out of other work
/// it steals before resuming them: a yield loop here must not starve tasks queued behind a
/// long poll on another worker, yet stealing every time only shuffles tasks between caches.
pub(crate) const STEAL_WHILE_YIELDING_INTERVAL: u32 = 8;

/// A worker's own state; only its thread touches it (through `&self` and cells, since tasks
/// polled by the loop reach it again through the thread-local context to schedule locally).
pub(crate) struct Core {
    pub(crate) index: usize,
    pub(crate) shared: *const Shared,
    lifo: Cell<Option<Notified>>,
    local: Worker<Notified>,
    tick: Cell<u32>,
    searching: Cell<bool>,
    rng: Cell<u64>,
    /// Chaos mode: the state of the draws from the local queue (`None`: off).
    chaos: Option<Cell<u64>>,
    /// Wakers of tasks that yielded (`yield_now`, spent coop budget) during a poll on this
    /// worker. They are woken when the worker has nothing else to run, and at every
    /// fairness tick: a yield lets every other runnable task go first, without starving.
    deferred: RefCell<Vec<Waker>>,
    /// Set while waking `deferred`: those tasks go to the back of the local queue.
    waking_deferred: Cell<bool>,
    /// Set while this worker is in `Parker::park` (perhaps blocked in the driver): a task the
    /// driver wakes on this thread must not sit in the LIFO slot unannounced.
    parked: Cell<bool>,
    /// Set once a task woken while `parked` has notified (one notification per batch).
    announced: Cell<bool>,
    /// How many times the worker ran out of local work (paces stealing while yielding).
    out_of_work: Cell<u32>,
    /// Ticks until the next fairness check of the injector, the current interval between
    /// checks, and when the last one happened (see `check_injector`).
    injector_countdown: Cell<u32>,
    injector_interval: Cell<u32>,
    last_injector_check: Cell<Instant>,
}

// SAFETY: a core is moved into its worker thread before that thread sets `shared` (in `run`);
// from then on only that thread touches it. `Notified` and crossbeam's `Worker` are Send.
unsafe impl Send for Core {}

impl Core {
    pub(crate) fn new(index: usize, local: Worker<Notified>, chaos: Option<u64>) -> Core {
        let rng = match chaos {
            // Never zero: xorshift would stay at zero.
            Some(seed) => splitmix64(seed ^ splitmix64(index as u64 + 1)) | 1,
            None => 0x9E37_79B9_7F4A_7C15 ^ (index as u64 + 1).wrapping_mul(0xA24B_AED4_963E_E407),
        };
        Core {
            index,
            shared: std::ptr::null(),
            lifo: Cell::new(None),
            local,
            tick: Cell::new(0),
            searching: Cell::new(false),
            rng: Cell::new(rng),
            chaos: chaos.map(|seed| Cell::new(splitmix64(seed.wrapping_add(index as u64)))),
            deferred: RefCell::new(Vec::new()),
            waking_deferred: Cell::new(false),
            parked: Cell::new(false),
            announced: Cell::new(false),
            out_of_work: Cell::new(0),
            injector_countdown: Cell::new(GLOBAL_QUEUE_INTERVAL),
            injector_interval: Cell::new(GLOBAL_QUEUE_INTERVAL),
            last_injector_check: Cell::new(Instant::now()),
        }
    }

    /// Queues a task woken or spawned on this worker.
    #[inline]
    pub(crate) fn schedule_local(&self, shared: &Shared, task: Notified, is_yield: bool) {
        if self.waking_deferred.get() {
            // `wake_deferred` notifies once for the whole batch.
            return self.local.push(task);
        }
        if self.parked.get() {
            // Woken by the driver this thread is parked in: queue it where others can steal it.
            // The first task of the batch unparks this very worker: that counts it in (holding
            // an autojump and `wait_all_tasks_blocked` back) and makes its driver return, even
            // if the driver dispatches again before returning (its loop). A notification of
            // another worker would do neither: that worker can run and park again, uncounted,
            // before the driver's next dispatch, whose tasks nobody announces. The batch is
            // announced to the other workers by `park`, once the driver has returned.
            self.local.push(task);
            if !self.announced.replace(true) {
                shared.parkers[self.index].unpark();
            }
            return;
        }
        if is_yield || self.chaos.is_some() {
            self.local.push(task);
        } else {
            match self.lifo.replace(Some(task)) {
                None => return, // runs next on this worker: nobody else needs waking
                Some(previous) => self.local.push(previous),
            }
        }
        shared.notify_parked();
    }

    /// Records the waker of a task that yields; see `deferred`.
    pub(crate) fn defer(&self, waker: Waker) {
        self.deferred.borrow_mut().push(waker);
    }

    /// Wakes the tasks that yielded; returns whether there were any.
    fn wake_deferred(&self, shared: &Shared) -> bool {
        let wakers = std::mem::take(&mut *self.deferred.borrow_mut());
        if wakers.is_empty() {
            return false;
        }
        self.waking_deferred.set(true);
        for waker in wakers {
            // Usually a creche task's waker, but a task may hand `yield_now` a foreign one
            // (a sub-executor): a panic there must not take the worker down.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| waker.wake()));
        }
        self.waking_deferred.set(false);
        shared.notify_parked();
        true
    }

    fn next_random(&self, bound: usize) -> usize {
        // xorshift64*
        let mut x = self.rng.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng.set(x);
        ((x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 32) as usize) % bound
    }

    fn next_task(&self, shared: &Shared, tick: u32) -> Option<Notified> {
        if tick % GLOBAL_QUEUE_INTERVAL == 0 {
            if let Some(driver) = &shared.driver {
                if driver.poll_without_blocking() {
                    shared.offer_driver(&shared.parkers[self.index]);
                }
            }
            // Resume yielded tasks here unless tasks from outside are waiting (they go first),
            // and in any case every DEFERRED_WAKE_INTERVAL ticks.
            if tick % DEFERRED_WAKE_INTERVAL == 0 || shared.injector.is_empty() {
                self.wake_deferred(shared);
            }
        }
        if let Some(task) = self.check_injector(shared) {
            return Some(task);
        }
        if let Some(state) = &self.chaos {
            if let Some(task) = self.chaos_pick(state) {
                return Some(task);
            }
        } else {
            if let Some(task) = self.lifo.take() {
                return Some(task);
            }
            if let Some(task) = self.local.pop() {
                return Some(task);
            }
        }
        if shared.injector.is_empty() {
            return None;
        }
        steal_loop(|| shared.injector.steal_batch_and_pop(&self.local))
    }

    /// Chaos mode: a task drawn at random from the local queue (see the module doc).
    #[cold]
    fn chaos_pick(&self, state: &Cell<u64>) -> Option<Notified> {
        let mut tasks: Vec<Notified> = self.lifo.take().into_iter().collect();
        while let Some(task) = self.local.pop() {
            tasks.push(task);
        }
        if tasks.len() > 1 {
            let next = state.get().wrapping_add(0x9E37_79B9_7F4A_7C15);
            state.set(next);
            let pick = (splitmix64(next) % tasks.len() as u64) as usize;
            let last = tasks.len() - 1;
            tasks.swap(pick, last);
        }
        let picked = tasks.pop();
        for task in tasks {
            self.local.push(task);
        }
        picked
    }

    /// The fairness check of the injector, while local work never runs out. It takes a batch,
    /// not one task, and its interval adapts to how long the local tasks run: it aims at one
    /// check per INJECTOR_CHECK_TARGET of work, between INJECTOR_MIN_INTERVAL and
    /// GLOBAL_QUEUE_INTERVAL ticks. So tasks from outside wait about the same real time behind
    /// long polls (a 10 µs poll: a check every ~10 ticks) as behind short ones (every 61), at
    /// the cost of one clock read per check.
    fn check_injector(&self, shared: &Shared) -> Option<Notified> {
        let countdown = self.injector_countdown.get();
        if countdown > 1 {
            self.injector_countdown.set(countdown - 1);
            return None;
        }
        let now = Instant::now();
        let elapsed = now.saturating_duration_since(self.last_injector_check.replace(now));
        let interval = self.injector_interval.get();
        let interval = if elapsed > INJECTOR_CHECK_TARGET {
            (interval / 2).max(INJECTOR_MIN_INTERVAL)
        } else if elapsed < INJECTOR_CHECK_TARGET / 4 {
            (interval * 2).min(GLOBAL_QUEUE_INTERVAL)
        } else {
            interval
        };
        self.injector_interval.set(interval);
        self.injector_countdown.set(interval);
        steal_loop(|| shared.injector.steal_batch_and_pop(&self.local))
    }

    fn steal_work(&self, shared: &Shared) -> Option<Notified> {
        if !self.searching.get() {
            if !shared.idle.transition_worker_to_searching() {
                return None;
            }
            self.searching.set(true);
        }
        let count = shared.stealers.len();
        let start = self.next_random(count);
        for offset in 0..count {
            let victim = (start + offset) % count;
            if victim == self.index {
                continue;
            }
            let stealer = &shared.stealers[victim];
            if let Some(task) = steal_loop(|| stealer.steal_batch_and_pop(&self.local)) {
                return Some(task);
            }
        }
        steal_loop(|| shared.injector.steal_batch_and_pop(&self.local))
    }

    fn run_task(&self, shared: &Shared, task: Notified) {
        if self.searching.replace(false) && shared.idle.transition_worker_from_searching() {
            // The last searcher found work: more may be queued, let another worker look.
            shared.notify_parked();
        }
        coop::with_budget(|| {
            task.run();
            let mut lifo_polls = 0;
            while let Some(next) = self.lifo.take() {
                if lifo_polls >= MAX_LIFO_POLLS || !coop::has_budget_remaining() {
                    self.local.push(next);
                    shared.notify_parked();
                    break;
                }
                lifo_polls += 1;
                next.run();
            }
        });
    }

    fn has_local_work(&self) -> bool {
        // SAFETY-free peek: take and put back (Cell has no `get` for non-Copy types).
        let lifo = self.lifo.take();
        let has = lifo.is_some();
        self.lifo.set(lifo);
        has || !self.local.is_empty()
    }

    /// Parks until notified or until local work appears. Returns `false` on shutdown.
    fn park(&self, shared: &Shared) -> bool {
        let was_searching = self.searching.replace(false);
        if shared
            .idle
            .transition_worker_to_parked(self.index, was_searching)
        {
            shared.notify_if_work_pending();
        }
        loop {
            let parker = &shared.parkers[self.index];
            self.parked.set(true);
            self.announced.set(false);
            let unparked = parker.park();
            self.parked.set(false);
            if self.announced.get() && self.local.len() > 1 {
                // The driver woke a batch here: a notification, so that a parked worker can
                // steal from it while this one runs the first task.
                shared.notify_parked();
            }
            if unparked.must_offer_driver() {
                shared.offer_driver(parker);
            }
            if shared.is_shutdown() {
                return false;
            }
            if !shared.idle.is_parked(self.index) {
                // Notified: the notifier counted us as searching.
                self.searching.set(true);
                return true;
            }
            if self.has_local_work() {
                // The driver woke tasks on this thread: run them.
                if !shared.idle.unpark_worker_by_id(self.index) {
                    self.searching.set(true);
                }
                return true;
            }
        }
    }

    /// Drops the tasks still queued locally (shutdown; the owner list cancels them).
    fn drain(&self) {
        for waker in std::mem::take(&mut *self.deferred.borrow_mut()) {
            // A foreign waker's destructor is user code too.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(waker)));
        }
        drop(self.lifo.take());
        while let Some(task) = self.local.pop() {
            drop(task);
        }
    }
}

/// The splitmix64 output function: a well-mixed 64-bit value for each input.
pub(crate) fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn steal_loop(mut steal: impl FnMut() -> Steal<Notified>) -> Option<Notified> {
    loop {
        match steal() {
            Steal::Success(task) => return Some(task),
            Steal::Empty => return None,
            Steal::Retry => std::hint::spin_loop(),
        }
    }
}

/// The body of a worker thread.
pub(crate) fn run(handle: Handle, mut core: Box<Core>) {
    core.shared = handle.shared_ptr();
    let shared: &Shared = &handle.shared;
    let _context = crate::context::enter_worker(&handle, &core);
    loop {
        if shared.is_shutdown() {
            break;
        }
        let tick = core.tick.get().wrapping_add(1);
        core.tick.set(tick);
        if let Some(task) = core.next_task(shared, tick) {
            core.run_task(shared, task);
            continue;
        }
        // Tasks that yielded here are resumed before stealing, except every
        // STEAL_WHILE_YIELDING_INTERVAL-th time.
        let out_of_work = core.out_of_work.get().wrapping_add(1);
        core.out_of_work.set(out_of_work);
        if out_of_work % STEAL_WHILE_YIELDING_INTERVAL != 0 && core.wake_deferred(shared) {
            continue;
        }
        if let Some(task) = core.steal_work(shared) {
            core.run_task(shared, task);
            continue;
        }
        if core.wake_deferred(shared) {
            continue;
        }
        if !core.park(shared) {
            break;
        }
        // Time asleep is not time spent on local work (see `check_injector`).
        core.last_injector_check.set(Instant::now());
    }
    core.drain();
    if let Some(slot) = &shared.driver {
        slot.activity.leave();
    }
}
