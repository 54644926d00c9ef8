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
//! | `DRIVER_FREE` | asleep on the condvar and asked to come and take the free driver |
//!
//! `unpark` swaps in `NOTIFIED` and then wakes the thread the way its old state says (condvar
//! notify, or the driver's `Unpark`). The condvar sleeper changes state only under its mutex,
//! and `unpark` takes that mutex before notifying, so a notification cannot slip between the
//! sleeper's check and its wait.
//!
//! # Driver ownership
//!
//! At most one thread blocks in the driver: the one that wins `try_lock` on the slot. The others
//! sleep on their condvar. When the owner returns from the driver to run tasks, it offers the
//! driver to one condvar sleeper (`offer_driver`: `PARKED_CONDVAR` → `DRIVER_FREE`), which goes
//! back to park and takes the driver, so timers and I/O keep being served while the former
//! owner runs a long poll. A thread about to sleep on its condvar re-checks, after publishing
//! `PARKED_CONDVAR`, that the driver is still owned; the owner clears `owned` before it looks
//! for someone to offer the driver to; both with `SeqCst`, so one of them sees the other and
//! the driver is never left unowned while a thread sleeps beside it.

use crate::park::{Park, Unpark};
use crate::sync::{Arc, AtomicBool, AtomicUsize, Condvar, Mutex, Ordering::SeqCst};

const EMPTY: usize = 0;
const PARKED_CONDVAR: usize = 1;
const PARKED_DRIVER: usize = 2;
const NOTIFIED: usize = 3;
const DRIVER_FREE: usize = 4;

/// The runtime's driver, shared by all threads that may park in it.
pub(crate) struct DriverSlot {
    driver: Mutex<Box<dyn Park>>,
    owned: AtomicBool,
    unparker: std::sync::Arc<dyn Unpark>,
}

impl DriverSlot {
    pub(crate) fn new(driver: Box<dyn Park>) -> DriverSlot {
        let unparker = driver.unparker();
        DriverSlot {
            driver: Mutex::new(driver),
            owned: AtomicBool::new(false),
            unparker,
        }
    }

    /// Lets the driver process ready events without blocking, if no thread is parked in it.
    pub(crate) fn poll_without_blocking(&self) {
        if let Some(mut driver) = self.driver.try_lock() {
            driver.park(Some(std::time::Duration::ZERO));
        }
    }

    /// Runs the driver's shutdown (after every worker has stopped).
    pub(crate) fn shutdown(&self) {
        self.driver.lock().shutdown();
    }
}

/// One thread's parking spot (a worker's, or a `block_on` caller's).
#[derive(Clone)]
pub(crate) struct Parker {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    state: AtomicUsize,
    mutex: Mutex<()>,
    condvar: Condvar,
    driver: Option<Arc<DriverSlot>>,
}

/// How a thread came out of `park`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unparked {
    /// It was notified, or woken spuriously, on its condvar.
    Condvar,
    /// It came back from the driver (notified, or the driver had events).
    Driver,
}

impl Parker {
    pub(crate) fn new(driver: Option<Arc<DriverSlot>>) -> Parker {
        Parker {
            inner: Arc::new(Inner {
                state: AtomicUsize::new(EMPTY),
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
            return Unparked::Condvar;
        }
        loop {
            if let Some(slot) = &inner.driver {
                if let Some(mut driver) = slot.driver.try_lock() {
                    slot.owned.store(true, SeqCst);
                    inner.park_driver(&mut **driver);
                    slot.owned.store(false, SeqCst);
                    return Unparked::Driver;
                }
            }
            if inner.park_condvar() {
                return Unparked::Condvar;
            }
            // Offered the driver: loop to take it.
        }
    }

    /// Wakes the thread (or makes its next `park` return at once).
    pub(crate) fn unpark(&self) {
        self.inner.unpark();
    }

    /// If this thread sleeps on its condvar, asks it to come and take the free driver.
    /// Returns whether it was asked.
    pub(crate) fn offer_driver(&self) -> bool {
        let inner = &*self.inner;
        if inner
            .state
            .compare_exchange(PARKED_CONDVAR, DRIVER_FREE, SeqCst, SeqCst)
            .is_err()
        {
            return false;
        }
        drop(inner.mutex.lock());
        inner.condvar.notify_one();
        true
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
    fn unpark(&self) {
        match self.state.swap(NOTIFIED, SeqCst) {
            EMPTY | NOTIFIED => {}
            PARKED_CONDVAR | DRIVER_FREE => {
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
        driver.park(None);
        // Consumes a notification that arrived meanwhile, or leaves PARKED_DRIVER.
        self.state.swap(EMPTY, SeqCst);
    }

    /// Sleeps on the condvar. Returns `true` when woken (notified or spuriously), `false` when
    /// the driver is free for this thread to take.
    fn park_condvar(&self) -> bool {
        let mut guard = self.mutex.lock();
        match self
            .state
            .compare_exchange(EMPTY, PARKED_CONDVAR, SeqCst, SeqCst)
        {
            Ok(_) => {}
            Err(NOTIFIED) => {
                self.state.swap(EMPTY, SeqCst);
                return true;
            }
            Err(state) => unreachable!("parker state {state}"),
        }
        if let Some(slot) = &self.driver {
            if !slot.owned.load(SeqCst) {
                // The owner left between our try_lock and now: go and take the driver.
                return match self
                    .state
                    .compare_exchange(PARKED_CONDVAR, EMPTY, SeqCst, SeqCst)
                {
                    Ok(_) => false,
                    Err(_) => {
                        // NOTIFIED or DRIVER_FREE arrived meanwhile; both end the sleep.
                        self.state.swap(EMPTY, SeqCst) == NOTIFIED
                    }
                };
            }
        }
        loop {
            guard = self.condvar.wait(guard);
            // Consume with read-modify-writes only: an RMW reads the latest value and so
            // synchronises with the `unpark` that wrote it (a plain load + store could read an
            // older NOTIFIED and then erase a newer one without acquiring what it published).
            match self.state.compare_exchange(NOTIFIED, EMPTY, SeqCst, SeqCst) {
                Ok(_) => return true,
                Err(DRIVER_FREE) => {
                    // An unpark racing with us swaps NOTIFIED in first; either ends the sleep.
                    return self.state.swap(EMPTY, SeqCst) == NOTIFIED;
                }
                Err(_) => {} // spurious wake-up: keep sleeping
            }
        }
    }
}
