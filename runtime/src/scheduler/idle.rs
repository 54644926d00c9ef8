//! Idle-worker accounting: who is searching for work, who is parked, whom to wake.
//!
//! # Protocol
//!
//! One atomic word packs `searching` (workers looking for work to steal) and `unparked`
//! (workers not registered as parked). The list of parked workers (`sleepers`) is under a lock.
//!
//! - **Work submitted** (`worker_to_notify`, called after pushing a task where other workers
//!   could take it): a `SeqCst` fence orders the push before the read of the word; if a worker
//!   is searching, or none is parked, nobody is woken (the searcher will find the task). Else,
//!   under the lock and re-checked, one sleeper is popped and counted as unparked *and
//!   searching* before it is unparked: a wake from outside unparks at most one worker, and
//!   none while another searches (no thundering herd).
//! - **Searching** (`transition_worker_to_searching`): allowed while fewer than half of the
//!   workers search, so that most of them do not hammer the queues.
//! - **Found work** (`transition_worker_from_searching`): the last searcher to find work wakes
//!   another worker, since more work may be queued behind what it found.
//! - **Parking** (`transition_worker_to_parked`): under the lock, `unparked` (and `searching`,
//!   if it was searching) drop and the worker joins `sleepers`. If no searcher is left after
//!   that, it then re-checks every queue and wakes a worker if any holds work. That re-check closes the
//!   race with a submitter that saw `searching > 0` and relied on this searcher: the
//!   submitter's push precedes its fence and read; the parker's `SeqCst` decrement precedes
//!   its re-check; so either the submitter sees no searcher (and wakes someone) or the parker
//!   sees the task. A worker that was kept from searching re-checks too when the searchers
//!   have all gone by the time it parks (the last of them may have found work and, seeing
//!   this worker still unparked, woken nobody). The loom models `park_*` check this protocol.
//! - **Woken without a notification** (a driver event or a spurious wake): the worker removes
//!   itself from `sleepers` (`unpark_worker_by_id`) before running what it found.

use crate::sync::{AtomicUsize, Mutex, Ordering::SeqCst, fence};

const UNPARKED_SHIFT: usize = 16;
const SEARCHING_MASK: usize = (1 << UNPARKED_SHIFT) - 1;
const ONE_UNPARKED: usize = 1 << UNPARKED_SHIFT;
const ONE_SEARCHING: usize = 1;

pub(crate) struct Idle {
    state: AtomicUsize,
    sleepers: Mutex<Vec<usize>>,
    num_workers: usize,
}

fn searching(state: usize) -> usize {
    state & SEARCHING_MASK
}

fn unparked(state: usize) -> usize {
    state >> UNPARKED_SHIFT
}

impl Idle {
    pub(crate) fn new(num_workers: usize) -> Idle {
        assert!(num_workers < SEARCHING_MASK, "too many workers");
        Idle {
            state: AtomicUsize::new(num_workers << UNPARKED_SHIFT),
            sleepers: Mutex::new(Vec::with_capacity(num_workers)),
            num_workers,
        }
    }

    fn should_wake(&self, state: usize) -> bool {
        searching(state) == 0 && unparked(state) < self.num_workers
    }

    /// Picks a parked worker to wake for newly submitted work, if one should be woken; the
    /// worker is already counted as unparked and searching.
    pub(crate) fn worker_to_notify(&self) -> Option<usize> {
        fence(SeqCst);
        if !self.should_wake(self.state.load(SeqCst)) {
            return None;
        }
        let mut sleepers = self.sleepers.lock();
        if !self.should_wake(self.state.load(SeqCst)) {
            return None;
        }
        let index = sleepers.pop()?;
        self.state.fetch_add(ONE_UNPARKED | ONE_SEARCHING, SeqCst);
        Some(index)
    }

    /// Whether the calling worker may start searching; counts it if so.
    pub(crate) fn transition_worker_to_searching(&self) -> bool {
        let state = self.state.load(SeqCst);
        if 2 * searching(state) >= self.num_workers {
            return false;
        }
        self.state.fetch_add(ONE_SEARCHING, SeqCst);
        true
    }

    /// A searching worker found work. Returns whether it was the last searcher (the caller
    /// then wakes another worker).
    pub(crate) fn transition_worker_from_searching(&self) -> bool {
        let prev = self.state.fetch_sub(ONE_SEARCHING, SeqCst);
        debug_assert!(searching(prev) > 0);
        searching(prev) == 1
    }

    /// The worker `index` found nothing and parks. Returns whether no worker is left
    /// searching (the caller must then re-check every queue).
    pub(crate) fn transition_worker_to_parked(&self, index: usize, is_searching: bool) -> bool {
        let mut sleepers = self.sleepers.lock();
        let own = usize::from(is_searching);
        let prev = self
            .state
            .fetch_sub(ONE_UNPARKED + own * ONE_SEARCHING, SeqCst);
        sleepers.push(index);
        searching(prev) == own
    }

    /// Whether worker `index` is still registered as parked (nobody notified it).
    pub(crate) fn is_parked(&self, index: usize) -> bool {
        self.sleepers.lock().contains(&index)
    }

    /// Worker `index` woke up without a notification and has work: unregister it. Returns
    /// `false` if it was notified meanwhile (it is then counted as searching).
    pub(crate) fn unpark_worker_by_id(&self, index: usize) -> bool {
        let mut sleepers = self.sleepers.lock();
        match sleepers.iter().position(|&i| i == index) {
            Some(position) => {
                sleepers.swap_remove(position);
                self.state.fetch_add(ONE_UNPARKED, SeqCst);
                true
            }
            None => false,
        }
    }
}
