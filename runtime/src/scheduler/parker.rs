//! Parking one thread, and handing the driver from thread to thread.
//!
//! # Per-thread state machine
//!
//! | state | meaning |
//! |---|---|
//! | `EMPTY` | running, no pending wake |
//! | `PARKED_CONDVAR` | asleep on its own condition variable |
//! | `PARKED_DRIVER` | blocked inside the driver's `park` |
//! | `NOTIFIED` | a wake arrived (consumed by the next `park`, which then returns at once) |
//!
//! `unpark` swaps in `NOTIFIED` and then wakes the thread the way its old state says (condvar
//! notify, or the driver's `Unpark`). The condvar sleeper changes and consumes its state only
//! under its mutex and only with read-modify-writes, and `unpark` takes that mutex before
//! notifying, so a notification can neither slip between the sleeper's check and its wait nor
//! be erased by it.
//!
//! # Driver ownership
//!
//! At most one thread blocks in the driver: the one that wins `try_lock` on the slot. The
//! others sleep on their condvar. When the owner comes back from the driver to run tasks, it
//! offers the driver to one condvar sleeper (`offer_driver`), a worker:
//! under the sleeper's mutex, and only if it is still `PARKED_CONDVAR`, the offer sets the
//! sleeper's `offered` flag and notifies it. The sleeper, when it wakes, takes the driver — or,
//! if it was also notified (it has work to do), reports the offer so that its caller passes
//! the driver on again. The flag is separate from the state so that an `unpark` cannot erase
//! an offer. A thread about to sleep on its condvar re-checks, after publishing
//! `PARKED_CONDVAR`, that the driver is still owned; the owner unlocks and withdraws its
//! ticket from `owned` before it looks for someone to offer the driver to; both with `SeqCst`,
//! so one of them sees the other and the driver is never left unowned while a thread sleeps
//! beside it. (`owned` holds the holder's ticket rather than a flag, so a late withdrawal
//! cannot erase the next holder's claim and send sleepers spinning.)
//!
//! A `block_on` caller's parker is a *passenger* (`Parker::passenger`): it never takes the
//! driver, is not counted among the sleepers an owner offers it to, and does not re-check
//! `owned` before sleeping (the workers keep the invariant among themselves: a runtime has at
//! least one). It still counts itself in and out of the runtime's activity, for autojump.
//!
//! At shutdown the slot is closed: no thread takes the driver any more, and `shutdown` keeps
//! unparking the driver until its owner has let go of it.

use super::activity::Activity;
use crate::park::{Park, Unpark};
use crate::sync::{Arc, AtomicBool, AtomicUsize, Condvar, Mutex, Ordering::SeqCst};

const EMPTY: usize = 0;
const PARKED_CONDVAR: usize = 1;
const PARKED_DRIVER: usize = 2;
const NOTIFIED: usize = 3;

/// The runtime's driver, shared by all threads that may park in it.
pub(crate) struct DriverSlot {
    driver: Mutex<Box<dyn Park>>,
    /// The ticket of the thread holding the driver (0: nobody). A ticket, not a flag: a
    /// holder that has unlocked clears only its own ticket, never the next holder's.
    owned: AtomicUsize,
    next_ticket: AtomicUsize,
    /// Threads asleep on their condvar beside this driver (candidates for an offer).
    condvar_sleepers: AtomicUsize,
    closed: AtomicBool,
    unparker: std::sync::Arc<dyn Unpark>,
    /// Who is active beside the driver (see `activity`); starts with the `workers` counted in.
    pub(crate) activity: Arc<Activity>,
}

impl DriverSlot {
    pub(crate) fn new(driver: Box<dyn Park>, workers: usize) -> DriverSlot {
        let unparker = driver.unparker();
        DriverSlot {
            activity: Arc::new(Activity::new(workers)),
            driver: Mutex::new(driver),
            owned: AtomicUsize::new(0),
            next_ticket: AtomicUsize::new(1),
            condvar_sleepers: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            unparker,
        }
    }

    /// Locks the driver for the calling thread, unless it is held or the slot is closed;
    /// publishes the holder's ticket in `owned`.
    fn acquire(&self) -> Option<(crate::sync::TryLockGuard<'_, Box<dyn Park>>, usize)> {
        if self.closed.load(SeqCst) {
            return None;
        }
        let guard = self.driver.try_lock()?;
        if self.closed.load(SeqCst) {
            // Closed between the check and the lock: shutdown may have run already.
            return None;
        }
        let ticket = self.next_ticket.fetch_add(1, SeqCst).max(1);
        self.owned.swap(ticket, SeqCst);
        Some((guard, ticket))
    }

    /// Unlocks, then withdraws the holder's ticket (if no later holder has replaced it): a
    /// sleeper that still sees a ticket will be offered the driver by the caller.
    fn release(&self, guard: crate::sync::TryLockGuard<'_, Box<dyn Park>>, ticket: usize) {
        drop(guard);
        let _ = self.owned.compare_exchange(ticket, 0, SeqCst, SeqCst);
    }

    /// Whether any thread sleeps on its condvar beside the driver. Read by an owner after it
    /// released the driver: a sleeper counts itself before it re-checks `owned`, so when this
    /// says no, any thread about to sleep will see the driver free and take it.
    pub(crate) fn has_sleepers(&self) -> bool {
        self.condvar_sleepers.load(SeqCst) != 0
    }

    fn is_owned(&self) -> bool {
        self.owned.load(SeqCst) != 0
    }

    /// Hands the driver the runtime's idle monitor (`Park::attach`), before any thread uses it.
    pub(crate) fn attach(&self) {
        let monitor = crate::park::IdleMonitor {
            activity: self.activity.clone(),
        };
        self.driver.lock().attach(&monitor);
    }

    /// Lets the driver process ready events without blocking, if no thread is parked in it.
    /// Returns whether it did (the caller must then offer the driver to a sleeper, who may
    /// have gone to sleep on its condvar while the driver was held here).
    pub(crate) fn poll_without_blocking(&self) -> bool {
        let Some((mut driver, ticket)) = self.acquire() else {
            return false;
        };
        driver.park(Some(std::time::Duration::ZERO));
        self.release(driver, ticket);
        true
    }

    /// Closes the slot and runs the driver's shutdown, once whoever is parked in it has left.
    pub(crate) fn shutdown(&self) {
        self.closed.store(true, SeqCst);
        loop {
            if let Some(mut driver) = self.driver.try_lock() {
                driver.shutdown();
                return;
            }
            // A thread (a `block_on` caller) is blocked in the driver: wake it; it will not
            // take the driver again.
            self.unparker.unpark();
            crate::sync::thread::yield_now();
        }
    }
}

/// One thread's parking spot (a worker's, or a `block_on` caller's).
#[derive(Clone)]
pub(crate) struct Parker {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    state: AtomicUsize,
    /// Set (under `mutex`) by `offer_driver`; consumed by the sleeper under `mutex`.
    offered: AtomicBool,
    /// Whether this thread may block in the driver (a worker); `false`: a passenger.
    drives: bool,
    mutex: Mutex<()>,
    condvar: Condvar,
    driver: Option<Arc<DriverSlot>>,
}

/// How a thread came out of `park`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unparked {
    /// It was notified on its condvar.
    Notified,
    /// It was notified, and was offered the driver meanwhile: the caller, who has work to
    /// do, must pass the driver on (`Shared::offer_driver`).
    NotifiedWhileOffered,
    /// It came back from the driver (notified, or the driver had events); the caller must
    /// offer the driver to a sleeper before running tasks.
    Driver,
}

impl Unparked {
    /// Whether the caller must offer the driver to another sleeper.
    pub(crate) fn must_offer_driver(self) -> bool {
        self != Unparked::Notified
    }
}

/// How a condvar sleep ended.
enum CondvarWake {
    Notified,
    NotifiedWhileOffered,
    /// Go and take the driver.
    TakeDriver,
}

impl Parker {
    pub(crate) fn new(driver: Option<Arc<DriverSlot>>) -> Parker {
        Parker::with_role(driver, true)
    }

    /// A parker that never blocks in the driver (a `block_on` caller's); see the module
    /// documentation.
    pub(crate) fn passenger(driver: Option<Arc<DriverSlot>>) -> Parker {
        Parker::with_role(driver, false)
    }

    fn with_role(driver: Option<Arc<DriverSlot>>, drives: bool) -> Parker {
        Parker {
            inner: Arc::new(Inner {
                state: AtomicUsize::new(EMPTY),
                offered: AtomicBool::new(false),
                drives,
                mutex: Mutex::new(()),
                condvar: Condvar::new(),
                driver,
            }),
        }
    }

    /// Blocks until unparked (or the driver returns). A pending notification returns at once.
    pub(crate) fn park(&self) -> Unparked {
        let inner = &*self.inner;
        if inner
            .state
            .compare_exchange(NOTIFIED, EMPTY, SeqCst, SeqCst)
            .is_ok()
        {
            return Unparked::Notified;
        }
        let mut retry = false;
        loop {
            if let Some(slot) = inner.driver.as_ref().filter(|_| inner.drives) {
                if let Some((mut driver, ticket)) = slot.acquire() {
                    inner.park_driver(&mut **driver);
                    slot.release(driver, ticket);
                    return Unparked::Driver;
                }
            }
            if retry {
                // Told to take the driver, but another thread got to it first and has not
                // published `owned` yet: let it run.
                crate::sync::thread::yield_now();
            }
            match inner.park_condvar() {
                CondvarWake::Notified => return Unparked::Notified,
                CondvarWake::NotifiedWhileOffered => return Unparked::NotifiedWhileOffered,
                CondvarWake::TakeDriver => retry = true,
            }
        }
    }

    /// Wakes the thread (or makes its next `park` return at once).
    pub(crate) fn unpark(&self) {
        self.inner.unpark();
    }

    /// If this thread sleeps on its condvar, asks it to come and take the free driver.
    /// Returns whether it was asked.
    pub(crate) fn offer_driver(&self) -> bool {
        let guard = self.inner.mutex.lock();
        self.inner.offer_driver_locked(&guard)
    }

    /// Whether two handles are the same parker.
    pub(crate) fn ptr_eq(&self, other: &Parker) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// A pointer identifying this parker, for wakers (see `block_on`).
    pub(crate) fn into_raw(self) -> *const Inner {
        Arc::into_raw(self.inner)
    }

    /// Rebuilds a parker from `into_raw`.
    ///
    /// # Safety
    ///
    /// `ptr` comes from `into_raw` and its reference has not been released yet.
    pub(crate) unsafe fn from_raw(ptr: *const Inner) -> Parker {
        Parker {
            // SAFETY: guaranteed by the caller.
            inner: unsafe { Arc::from_raw(ptr) },
        }
    }
}

impl Inner {
    /// `offer_driver`, with the sleeper's mutex held by the caller.
    fn offer_driver_locked(&self, _guard: &crate::sync::MutexGuard<'_, ()>) -> bool {
        if self.state.load(SeqCst) != PARKED_CONDVAR {
            return false;
        }
        self.offered.store(true, SeqCst);
        self.condvar.notify_one();
        true
    }

    fn activity(&self) -> Option<&Activity> {
        self.driver.as_deref().map(|slot| &*slot.activity)
    }

    fn unpark(&self) {
        // Counted in before the swap (see `activity`): if the thread is parked, the count is
        // now its own; if not, it is given back below.
        let activity = self.activity();
        if let Some(activity) = activity {
            activity.enter();
        }
        match self.state.swap(NOTIFIED, SeqCst) {
            EMPTY | NOTIFIED => {
                if let Some(activity) = activity {
                    activity.leave();
                }
            }
            PARKED_CONDVAR => {
                drop(self.mutex.lock());
                self.condvar.notify_one();
            }
            PARKED_DRIVER => {
                if let Some(slot) = &self.driver {
                    slot.unparker.unpark();
                }
            }
            state => unreachable!("parker state {state}"),
        }
    }

    fn park_driver(&self, driver: &mut dyn Park) {
        match self
            .state
            .compare_exchange(EMPTY, PARKED_DRIVER, SeqCst, SeqCst)
        {
            Ok(_) => {}
            Err(NOTIFIED) => {
                self.state.swap(EMPTY, SeqCst);
                return;
            }
            Err(state) => unreachable!("parker state {state}"),
        }
        let activity = self.activity().expect("a thread parks in a driver it has");
        activity.leave();
        driver.park(None);
        // Consumes a notification that arrived meanwhile (its unparker counted us in), or
        // leaves PARKED_DRIVER (we count ourselves in).
        if self.state.swap(EMPTY, SeqCst) == PARKED_DRIVER {
            activity.enter();
        }
    }

    /// Leaves the condvar sleep (under the mutex), consuming a notification and an offer.
    fn wake_from_condvar(&self) -> CondvarWake {
        let offered = self.offered.swap(false, SeqCst);
        let notified = self.state.swap(EMPTY, SeqCst) == NOTIFIED;
        if !notified {
            if let Some(activity) = self.activity() {
                activity.enter();
            }
        }
        match (notified, offered) {
            (true, false) => CondvarWake::Notified,
            (true, true) => CondvarWake::NotifiedWhileOffered,
            (false, _) => CondvarWake::TakeDriver,
        }
    }

    fn park_condvar(&self) -> CondvarWake {
        let mut guard = self.mutex.lock();
        match self
            .state
            .compare_exchange(EMPTY, PARKED_CONDVAR, SeqCst, SeqCst)
        {
            Ok(_) => {}
            Err(NOTIFIED) => {
                self.state.swap(EMPTY, SeqCst);
                return CondvarWake::Notified;
            }
            Err(state) => unreachable!("parker state {state}"),
        }
        let _sleeping = match &self.driver {
            Some(slot) if !self.drives => {
                slot.activity.leave();
                None
            }
            Some(slot) => {
                slot.activity.leave();
                // Counted before the re-check of `owned`, so that an owner who finds no
                // sleeper to offer the driver to has released it before we look (see
                // `DriverSlot::has_sleepers`).
                let sleeping = CondvarSleeper::new(slot);
                if !slot.is_owned() && !slot.closed.load(SeqCst) {
                    // The owner left between our try_lock and now: go and take the driver.
                    return self.wake_from_condvar();
                }
                Some(sleeping)
            }
            None => None,
        };
        loop {
            guard = self.condvar.wait(guard);
            // Both the state and the offer are consumed with read-modify-writes under the
            // mutex: an RMW reads the latest value, so it synchronises with the `unpark` or
            // the offer that wrote it and cannot erase a newer one.
            if self.state.load(SeqCst) == NOTIFIED || self.offered.load(SeqCst) {
                return self.wake_from_condvar();
            }
            // Spurious wake-up: keep sleeping.
        }
    }
}

/// Counts a thread asleep on its condvar beside a driver, while it lives.
struct CondvarSleeper<'a>(&'a DriverSlot);

impl<'a> CondvarSleeper<'a> {
    fn new(slot: &'a DriverSlot) -> Self {
        slot.condvar_sleepers.fetch_add(1, SeqCst);
        CondvarSleeper(slot)
    }
}

impl Drop for CondvarSleeper<'_> {
    fn drop(&mut self) {
        self.0.condvar_sleepers.fetch_sub(1, SeqCst);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::time::Duration;

    struct IdlePark;
    struct IdleUnpark;
    impl Unpark for IdleUnpark {
        fn unpark(&self) {}
    }
    impl Park for IdlePark {
        fn park(&mut self, _timeout: Option<Duration>) {}
        fn unparker(&self) -> std::sync::Arc<dyn Unpark> {
            std::sync::Arc::new(IdleUnpark)
        }
    }

    fn wait_for_state(parker: &Parker, state: usize) {
        while parker.inner.state.load(SeqCst) != state {
            std::thread::yield_now();
        }
    }

    /// Regression (review): an `unpark` landing between a driver offer and the sleeper's
    /// wake-up used to overwrite the offer, leaving the driver unowned.
    #[test]
    fn an_unpark_does_not_erase_a_driver_offer() {
        let slot = Arc::new(DriverSlot::new(Box::new(IdlePark), 1));
        let _owner = slot.acquire().expect("free"); // someone else owns the driver
        let sleeper = Parker::new(Some(slot.clone()));
        let parked = {
            let sleeper = sleeper.clone();
            std::thread::spawn(move || sleeper.park())
        };
        wait_for_state(&sleeper, PARKED_CONDVAR);
        // Hold the sleeper's mutex so that it cannot look before the unpark has landed.
        let hold = sleeper.inner.mutex.lock();
        assert!(sleeper.inner.offer_driver_locked(&hold));
        let unparker = {
            let sleeper = sleeper.clone();
            std::thread::spawn(move || sleeper.unpark())
        };
        wait_for_state(&sleeper, NOTIFIED);
        drop(hold);
        unparker.join().unwrap();
        assert_eq!(parked.join().unwrap(), Unparked::NotifiedWhileOffered);
    }

    /// An offer to a thread that is not asleep on its condvar is refused.
    #[test]
    fn an_offer_to_a_running_thread_is_refused() {
        let slot = Arc::new(DriverSlot::new(Box::new(IdlePark), 1));
        let parker = Parker::new(Some(slot));
        assert!(!parker.offer_driver());
        parker.unpark();
        assert_eq!(parker.park(), Unparked::Notified);
    }

    /// Regression (second review): a holder that had unlocked used to clear `owned` after the
    /// next holder had set it, and sleepers then spun instead of sleeping. The driver checks,
    /// each time a thread blocks in it, that the slot says it is owned.
    #[test]
    fn the_slot_is_owned_whenever_a_thread_is_parked_in_the_driver() {
        use std::sync::OnceLock;
        use std::sync::atomic::AtomicUsize as StdAtomicUsize;
        static SLOT: OnceLock<Arc<DriverSlot>> = OnceLock::new();
        static VIOLATIONS: StdAtomicUsize = StdAtomicUsize::new(0);
        static PARKS: StdAtomicUsize = StdAtomicUsize::new(0);
        struct CheckingPark;
        impl Park for CheckingPark {
            fn park(&mut self, timeout: Option<Duration>) {
                if timeout.is_none() {
                    PARKS.fetch_add(1, SeqCst);
                    for _ in 0..200 {
                        std::hint::spin_loop();
                    }
                    if !SLOT.get().expect("set").is_owned() {
                        VIOLATIONS.fetch_add(1, SeqCst);
                    }
                }
            }
            fn unparker(&self) -> std::sync::Arc<dyn Unpark> {
                std::sync::Arc::new(IdleUnpark)
            }
        }
        let slot = SLOT
            .get_or_init(|| Arc::new(DriverSlot::new(Box::new(CheckingPark), 3)))
            .clone();
        let parkers: Vec<Parker> = (0..3).map(|_| Parker::new(Some(slot.clone()))).collect();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let threads: Vec<_> = (0..3)
            .map(|i| {
                let (parkers, stop) = (parkers.clone(), stop.clone());
                std::thread::spawn(move || {
                    while !stop.load(SeqCst) {
                        if parkers[i].park().must_offer_driver() {
                            let _ = parkers
                                .iter()
                                .enumerate()
                                .filter(|(j, _)| *j != i)
                                .any(|(_, p)| p.offer_driver());
                        }
                    }
                })
            })
            .collect();
        while PARKS.load(SeqCst) < 20_000 {
            std::thread::yield_now();
        }
        stop.store(true, SeqCst);
        while !threads.iter().all(|t| t.is_finished()) {
            for parker in &parkers {
                parker.unpark();
            }
            std::thread::yield_now();
        }
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(
            VIOLATIONS.load(SeqCst),
            0,
            "of {} driver parks",
            PARKS.load(SeqCst)
        );
    }
}
