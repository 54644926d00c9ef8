//! The task state word: one `AtomicUsize` per task, every transition one atomic operation.
//!
//! # Bits
//!
//! | bit | name | set by | cleared by | meaning |
//! |---|---|---|---|---|
//! | 0 | `RUNNING` | a runner claiming a notified task (`transition_to_running`), shutdown claiming an idle one | the runner when the poll returns (`transition_to_idle`, `transition_to_complete`) | a thread has exclusive access to the future |
//! | 1 | `COMPLETE` | the runner, once the output (or the cancellation error) is stored | never | the future is gone; the stage holds the output or is consumed |
//! | 2 | `NOTIFIED` | a wake or an abort of an idle task (which then submits a `Notified` handle), a wake of a running task | the runner (`transition_to_running`) | a `Notified` handle is queued, or the running poll must be repeated |
//! | 3 | `CANCELLED` | `abort()` and runtime shutdown | never | the next runner drops the future instead of polling it |
//! | 4 | `JOIN_INTEREST` | creation | the `JoinHandle` when it is dropped | a `JoinHandle` exists and owns the output once complete |
//! | 5 | `JOIN_WAKER` | the `JoinHandle` after writing its waker | the `JoinHandle` (to replace the waker) or the runner (taking it to wake) | the join-waker slot belongs to the task side; while clear it belongs to the `JoinHandle` |
//! | 6.. | refcount | `Waker` clones, `Notified` submissions | `Waker`/`Notified`/`JoinHandle` drops, completion | number of handles; the last one frees the allocation |
//!
//! The states of the classic diagram are combinations: *idle* = none of RUNNING, NOTIFIED,
//! COMPLETE; *scheduled* = NOTIFIED; *running* = RUNNING; *notified while running* =
//! RUNNING|NOTIFIED; *complete* = COMPLETE; *cancelled* = CANCELLED (with COMPLETE once the
//! future has been dropped).
//!
//! # Ownership rules that the unsafe code relies on
//!
//! 1. The future (the stage while not COMPLETE) is touched only by the thread that set RUNNING.
//! 2. After COMPLETE, the output belongs to the `JoinHandle` if JOIN_INTEREST was set at the
//!    moment COMPLETE was set, otherwise to the runner that set COMPLETE (which drops it).
//! 3. The join-waker slot belongs to the `JoinHandle` while JOIN_WAKER is clear and the task is
//!    not complete, and to the task side while JOIN_WAKER is set.
//! 4. At most one `Notified` handle exists at a time: only the transition that sets NOTIFIED on
//!    an idle task creates one.
//!
//! Orderings: every read-modify-write is `AcqRel` (each transition both publishes what its
//! thread wrote to the task and acquires what the previous owner wrote); reference-count
//! increments are `Relaxed` (a new handle is made from an existing one, as for `Arc`).

use crate::sync::{AtomicUsize, Ordering::*};

pub(crate) const RUNNING: usize = 1 << 0;
pub(crate) const COMPLETE: usize = 1 << 1;
pub(crate) const NOTIFIED: usize = 1 << 2;
pub(crate) const CANCELLED: usize = 1 << 3;
pub(crate) const JOIN_INTEREST: usize = 1 << 4;
pub(crate) const JOIN_WAKER: usize = 1 << 5;
const REF_SHIFT: usize = 6;
pub(crate) const REF_ONE: usize = 1 << REF_SHIFT;

/// A snapshot of the state word.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Snapshot(pub(crate) usize);

impl Snapshot {
    pub(crate) fn is(self, bit: usize) -> bool {
        self.0 & bit != 0
    }
    pub(crate) fn refs(self) -> usize {
        self.0 >> REF_SHIFT
    }
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("running", &self.is(RUNNING))
            .field("complete", &self.is(COMPLETE))
            .field("notified", &self.is(NOTIFIED))
            .field("cancelled", &self.is(CANCELLED))
            .field("join_interest", &self.is(JOIN_INTEREST))
            .field("join_waker", &self.is(JOIN_WAKER))
            .field("refs", &self.refs())
            .finish()
    }
}

/// What the caller of a wake transition must do next.
#[must_use]
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum WakeAction {
    /// Nothing: the task is already queued, running (it will be re-queued) or complete.
    Nothing,
    /// Submit a `Notified` handle to the scheduler (the reference it needs is accounted for).
    Submit,
    /// Nothing to schedule, and the caller held the last reference: free the task.
    Dealloc,
}

/// The outcome of claiming a notified task for a poll.
#[must_use]
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum RunAction {
    /// Poll the future.
    Poll,
    /// The task was aborted: drop the future and complete with a cancellation error.
    Cancel,
    /// The task is running elsewhere or complete: just drop the handle's reference.
    Skip,
}

/// The outcome of the end of a poll that returned `Pending`.
#[must_use]
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum IdleAction {
    /// The task is idle now and the runner's reference was released (it was not the last one).
    Done,
    /// The task was woken during the poll: re-submit it (the runner's reference moves along).
    Resubmit,
    /// The task was aborted during the poll: cancel it now (RUNNING is still held).
    Cancel,
}

/// The atomic state word of one task.
pub(crate) struct State(AtomicUsize);

impl State {
    /// A new task: notified (its first `Notified` is about to be submitted), with a
    /// `JoinHandle`, and `refs` references.
    pub(crate) fn new(refs: usize) -> State {
        State(AtomicUsize::new(
            NOTIFIED | JOIN_INTEREST | (refs * REF_ONE),
        ))
    }

    pub(crate) fn load(&self) -> Snapshot {
        Snapshot(self.0.load(Acquire))
    }

    /// Runs a compare-and-swap loop: `f` returns the new word and a result, or `Err(result)` to
    /// stop without writing.
    #[inline]
    fn fetch_update<R>(&self, mut f: impl FnMut(Snapshot) -> Result<(usize, R), R>) -> R {
        let mut current = self.0.load(Acquire);
        loop {
            let (next, result) = match f(Snapshot(current)) {
                Ok(pair) => pair,
                Err(result) => return result,
            };
            match self.0.compare_exchange_weak(current, next, AcqRel, Acquire) {
                Ok(_) => return result,
                Err(actual) => current = actual,
            }
        }
    }

    /// A `wake_by_ref`: takes a new reference only when a `Notified` must be submitted.
    #[inline]
    pub(crate) fn transition_to_notified_by_ref(&self) -> WakeAction {
        self.fetch_update(|s| {
            if s.is(COMPLETE) {
                Err(WakeAction::Nothing)
            } else if s.is(NOTIFIED) {
                // Confirm NOTIFIED with a CAS writing the word back unchanged, not a plain load:
                // a waker with no happens-before edge to the last poll (an `AbortHandle` woken
                // by the nursery's cancel walk) can load a stale NOTIFIED from before the
                // runner's `transition_to_running`, while that poll missed the waker's prior
                // write and goes idle: the wake would be lost. The CAS reads the latest word
                // and, if NOTIFIED is still pending, releases the waker's writes to the runner
                // that claims it.
                Ok((s.0, WakeAction::Nothing))
            } else if s.is(RUNNING) {
                Ok((s.0 | NOTIFIED, WakeAction::Nothing))
            } else {
                Ok(((s.0 | NOTIFIED) + REF_ONE, WakeAction::Submit))
            }
        })
    }

    /// A `wake` by value: the waker's reference becomes the `Notified`'s, or is released.
    #[inline]
    pub(crate) fn transition_to_notified_by_val(&self) -> WakeAction {
        self.fetch_update(|s| {
            if s.is(COMPLETE) || s.is(NOTIFIED) || s.is(RUNNING) {
                let next = (s.0 | if s.is(RUNNING) { NOTIFIED } else { 0 }) - REF_ONE;
                let action = if Snapshot(next).refs() == 0 {
                    WakeAction::Dealloc
                } else {
                    WakeAction::Nothing
                };
                Ok((next, action))
            } else {
                Ok((s.0 | NOTIFIED, WakeAction::Submit))
            }
        })
    }

    /// A runner took a `Notified` off a queue (it now owns that handle's reference).
    #[inline]
    pub(crate) fn transition_to_running(&self) -> RunAction {
        self.fetch_update(|s| {
            if s.is(RUNNING) || s.is(COMPLETE) {
                return Err(RunAction::Skip);
            }
            debug_assert!(s.is(NOTIFIED), "{s:?}");
            let next = (s.0 & !NOTIFIED) | RUNNING;
            let action = if s.is(CANCELLED) {
                RunAction::Cancel
            } else {
                RunAction::Poll
            };
            Ok((next, action))
        })
    }

    /// The poll returned `Pending`.
    #[inline]
    pub(crate) fn transition_to_idle(&self) -> IdleAction {
        self.fetch_update(|s| {
            debug_assert!(s.is(RUNNING) && !s.is(COMPLETE), "{s:?}");
            if s.is(CANCELLED) {
                return Err(IdleAction::Cancel);
            }
            if s.is(NOTIFIED) {
                // Stay notified; the runner's reference travels with the new `Notified`.
                Ok((s.0 & !RUNNING, IdleAction::Resubmit))
            } else {
                debug_assert!(s.refs() >= 2, "the owner list or a handle still holds one");
                Ok(((s.0 & !RUNNING) - REF_ONE, IdleAction::Done))
            }
        })
    }

    /// The future is gone and its output is stored: RUNNING → COMPLETE. Returns the state
    /// before the swap, from which the caller reads JOIN_INTEREST and JOIN_WAKER.
    pub(crate) fn transition_to_complete(&self) -> Snapshot {
        let prev = Snapshot(self.0.fetch_xor(RUNNING | COMPLETE, AcqRel));
        debug_assert!(prev.is(RUNNING) && !prev.is(COMPLETE), "{prev:?}");
        prev
    }

    /// `abort()`: marks the task cancelled. Returns `Submit` when the task was idle (a
    /// `Notified` must be submitted so that a worker drops the future; its reference is taken).
    pub(crate) fn transition_to_cancelled(&self) -> WakeAction {
        self.fetch_update(|s| {
            if s.is(COMPLETE) || s.is(CANCELLED) {
                Err(WakeAction::Nothing)
            } else if s.is(RUNNING) || s.is(NOTIFIED) {
                Ok((s.0 | CANCELLED, WakeAction::Nothing))
            } else {
                Ok(((s.0 | CANCELLED | NOTIFIED) + REF_ONE, WakeAction::Submit))
            }
        })
    }

    /// Runtime shutdown: claims the task (sets RUNNING) if nobody is polling it, so that the
    /// caller can drop the future in place. Returns whether it was claimed.
    pub(crate) fn transition_to_shutdown(&self) -> bool {
        self.fetch_update(|s| {
            if s.is(RUNNING) || s.is(COMPLETE) {
                Ok((s.0 | CANCELLED, false))
            } else {
                Ok((s.0 | CANCELLED | RUNNING, true))
            }
        })
    }

    /// The `JoinHandle` is dropped. Returns `Err(())` when the task is already complete (the
    /// handle must then drop the output itself); on `Ok(had_waker)` the handle gave up
    /// JOIN_INTEREST and, if `had_waker`, the join-waker slot is the handle's to clear.
    pub(crate) fn unset_join_interest(&self) -> Result<bool, ()> {
        self.fetch_update(|s| {
            debug_assert!(s.is(JOIN_INTEREST));
            if s.is(COMPLETE) {
                Err(Err(()))
            } else {
                Ok((s.0 & !(JOIN_INTEREST | JOIN_WAKER), Ok(s.is(JOIN_WAKER))))
            }
        })
    }

    /// The `JoinHandle` has written its waker: hand the slot to the task side. Fails (and the
    /// slot stays the handle's) when the task completed meanwhile.
    pub(crate) fn set_join_waker(&self) -> Result<(), Snapshot> {
        self.fetch_update(|s| {
            debug_assert!(s.is(JOIN_INTEREST) && !s.is(JOIN_WAKER));
            if s.is(COMPLETE) {
                Err(Err(s))
            } else {
                Ok((s.0 | JOIN_WAKER, Ok(())))
            }
        })
    }

    /// The `JoinHandle` wants to replace its waker: take the slot back. Fails when the task
    /// completed meanwhile (the slot then stays the task side's).
    pub(crate) fn unset_join_waker(&self) -> Result<(), Snapshot> {
        self.fetch_update(|s| {
            debug_assert!(s.is(JOIN_INTEREST) && s.is(JOIN_WAKER));
            if s.is(COMPLETE) {
                Err(Err(s))
            } else {
                Ok((s.0 & !JOIN_WAKER, Ok(())))
            }
        })
    }

    /// Takes one more reference (a `Waker` clone).
    #[inline]
    pub(crate) fn ref_inc(&self) {
        let prev = self.0.fetch_add(REF_ONE, Relaxed);
        if prev > isize::MAX as usize {
            // As `Arc` does: a refcount this high means leaked handles; continuing would overflow.
            std::process::abort();
        }
    }

    /// Releases `count` references; returns whether they were the last ones.
    #[inline]
    pub(crate) fn ref_dec(&self, count: usize) -> bool {
        let prev = Snapshot(self.0.fetch_sub(count * REF_ONE, AcqRel));
        debug_assert!(prev.refs() >= count, "{prev:?} - {count}");
        prev.refs() == count
    }
}
