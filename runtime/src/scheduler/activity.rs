//! Activity accounting: knowing when the whole runtime is idle (for the timer driver's
//! autojump), with two atomic operations per park and per blocking job.
//!
//! # The count
//!
//! One word: the low 32 bits count *active* parties, the high 32 bits are an epoch that grows
//! with every increment. Active parties are:
//! - every worker and every `block_on` caller that is not parked (its parker state is not
//!   `PARKED_*`), counted from its start to its exit;
//! - every blocking job from its submission until it has run (or was dropped at shutdown).
//!
//! The count is never below the truth, so "zero" is safe to act on:
//! - a thread *leaves* (`leave`) only after publishing `PARKED_*`;
//! - whoever moves a thread out of `PARKED_*` *enters* for it: the thread itself when it comes
//!   back on its own (driver returned, offer taken), or the unparker — which enters *before*
//!   its swap to `NOTIFIED` and leaves again if the swap shows the thread was not parked, so
//!   that the thread can never be counted out twice before the unparker counts it in;
//! - a task woken by a running thread is queued before that thread can leave, and the wake
//!   unparks a parked worker (entering for it) before the waker leaves;
//! - a blocking job enters when it is queued (by a party that is itself active) and leaves
//!   after it has run, i.e. after its completion woke whoever awaited it.
//!
//! What the count cannot see: a wake delivered by a thread that is not the runtime's (a plain
//! `std::thread` holding a waker). That is what the autojump threshold is for.
//!
//! # Idle notification
//!
//! The driver *arms* the monitor (a swap) and then re-reads the count; a party whose `leave`
//! takes the count from one to zero then swaps the armed flag off and, if it was set, calls the
//! registered `on_idle` unparker. Both flag operations are read-modify-writes on one location,
//! so one comes first: if the driver's, the leaver sees it and notifies; if the leaver's, the
//! driver's swap synchronises with it and its re-read sees the count at zero. The driver never
//! sleeps through the moment the runtime goes idle. The epoch lets the driver check that the runtime stayed idle for a whole wait:
//! the word is unchanged only if nobody entered meanwhile.

use crate::park::Unpark;
use crate::sync::{AtomicBool, AtomicU64, Mutex, Ordering::SeqCst};

const COUNT_MASK: u64 = (1 << 32) - 1;
const EPOCH_ONE: u64 = 1 << 32;

pub(crate) struct Activity {
    word: AtomicU64,
    armed: AtomicBool,
    on_idle: Mutex<Option<std::sync::Arc<dyn Unpark>>>,
}

impl Activity {
    /// Starts with `active` parties counted in (the workers, which start running).
    pub(crate) fn new(active: usize) -> Activity {
        Activity {
            word: AtomicU64::new(active as u64),
            armed: AtomicBool::new(false),
            on_idle: Mutex::new(None),
        }
    }

    /// One more active party.
    pub(crate) fn enter(&self) {
        self.word.fetch_add(1 + EPOCH_ONE, SeqCst);
    }

    /// One active party fewer; the last one notifies an armed monitor.
    pub(crate) fn leave(&self) {
        let previous = self.word.fetch_sub(1, SeqCst);
        debug_assert!(previous & COUNT_MASK != 0, "activity count underflow");
        // A read-modify-write, not a load: it reads the latest `armed`, and the driver's arming
        // (an RMW too) then synchronises with it.
        if previous & COUNT_MASK == 1 && self.armed.swap(false, SeqCst) {
            let on_idle = self.on_idle.lock().clone();
            if let Some(on_idle) = on_idle {
                on_idle.unpark();
            }
        }
    }

    /// `Some(epoch)` if no party is active now.
    pub(crate) fn idle_epoch(&self) -> Option<u64> {
        let word = self.word.load(SeqCst);
        (word & COUNT_MASK == 0).then_some(word >> 32)
    }

    /// Asks for the `on_idle` call at the next transition to idle, then reads the count.
    pub(crate) fn arm(&self) -> Option<u64> {
        self.armed.swap(true, SeqCst);
        self.idle_epoch()
    }

    pub(crate) fn set_on_idle(&self, unpark: std::sync::Arc<dyn Unpark>) {
        *self.on_idle.lock() = Some(unpark);
    }
}
