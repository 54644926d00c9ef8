//! [`TimerEntry`]: one timer, registered with a runtime's driver; the building block of
//! [`Sleep`](crate::Sleep) and of cancel-scope deadlines.
//!
//! An entry is a node in the driver's wheel, created at the first registration and freed when
//! the entry drops. Every operation takes the wheel's lock for O(1) work, from any thread.
//! When the deadline passes, the driver takes the entry's waker and wakes it, once; a
//! [`reset`](TimerEntry::reset) re-arms it.

use crate::Instant;
use crate::driver::TimerHandle;
use crate::wheel::NodeState;
use std::fmt;
use std::task::{Context, Poll, Waker};

/// One timer on a runtime's driver. `Send + Sync`; every method is O(1).
///
/// # Examples
///
/// A deadline that fires a callback (any waker will do), moved later, then earlier:
///
/// ```
/// use creche_timer::{Instant, TimerEntry, TimerHandle};
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use std::sync::Arc;
/// use std::task::Wake;
/// use std::time::Duration;
///
/// struct Fired(AtomicBool);
/// impl Wake for Fired {
///     fn wake(self: Arc<Self>) { self.0.store(true, Ordering::SeqCst) }
/// }
///
/// let rt = creche_timer::__doc_runtime();
/// rt.block_on(async {
///     let handle = TimerHandle::current();
///     let fired = Arc::new(Fired(AtomicBool::new(false)));
///     let mut entry = TimerEntry::new(&handle, handle.now() + Duration::from_secs(10));
///     assert!(entry.register(&fired.clone().into()));
///     entry.reset(handle.now() + Duration::from_secs(20)); // later
///     entry.reset(handle.now() + Duration::from_secs(5)); // earlier
///     creche_timer::sleep(Duration::from_secs(6)).await;
///     assert!(fired.0.load(Ordering::SeqCst));
///     assert!(entry.is_elapsed());
/// });
/// ```
pub struct TimerEntry {
    handle: TimerHandle,
    deadline: Instant,
    /// The wheel node, once registered.
    key: Option<usize>,
}

impl fmt::Debug for TimerEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimerEntry")
            .field("deadline", &self.deadline)
            .field("registered", &self.key.is_some())
            .finish()
    }
}

impl TimerEntry {
    /// An entry for `deadline`; nothing is registered until [`register`](TimerEntry::register)
    /// or [`poll_elapsed`](TimerEntry::poll_elapsed).
    ///
    /// # Examples
    ///
    /// See [`TimerEntry`].
    pub fn new(handle: &TimerHandle, deadline: Instant) -> TimerEntry {
        TimerEntry {
            handle: handle.clone(),
            deadline,
            key: None,
        }
    }

    /// The deadline.
    ///
    /// # Examples
    ///
    /// ```
    /// # let rt = creche_timer::__doc_runtime();
    /// # rt.block_on(async {
    /// let handle = creche_timer::TimerHandle::current();
    /// let entry = creche_timer::TimerEntry::new(&handle, creche_timer::Instant::MAX);
    /// assert_eq!(entry.deadline(), creche_timer::Instant::MAX);
    /// # });
    /// ```
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Whether the deadline has passed on the clock (or the driver fired the entry).
    ///
    /// # Examples
    ///
    /// See [`TimerEntry`].
    pub fn is_elapsed(&self) -> bool {
        self.handle.now() >= self.deadline
            || self
                .key
                .is_some_and(|key| self.handle.shared.wheel.lock().state(key) == NodeState::Fired)
    }

    /// Arms the entry: `waker` is woken once the deadline passes (it replaces an earlier
    /// waker). Returns `false`, registering nothing, if the deadline has already passed.
    ///
    /// # Examples
    ///
    /// See [`TimerEntry`].
    pub fn register(&mut self, waker: &Waker) -> bool {
        // A queued entry learns from its node whether it fired (no clock read); a new one from
        // the clock.
        if self.key.is_none() && self.handle.shared.clock.now() >= self.deadline {
            return false;
        }
        self.register_in_future(waker)
    }

    /// [`register`](TimerEntry::register), for a caller that has just read the clock before
    /// the deadline (or holds a node, whose state says).
    pub(crate) fn register_in_future(&mut self, waker: &Waker) -> bool {
        let shared = &*self.handle.shared;
        let deadline = self.deadline.as_nanos();
        // A replaced waker is dropped after the lock is released: dropping a waker can drop a
        // task, and with it a timer that takes this lock.
        let mut replaced = None;
        let wake_driver = {
            let mut wheel = shared.wheel.lock();
            let key = match self.key {
                Some(key) => {
                    match wheel.state(key) {
                        NodeState::Fired => {
                            // Seen fired: free the node now, under the lock we hold, so that
                            // dropping the entry costs no second lock.
                            let waker = wheel.remove(key);
                            drop(wheel);
                            drop(waker);
                            self.key = None;
                            return false;
                        }
                        NodeState::Queued { .. } => {
                            let slot = wheel.payload_mut(key);
                            if !slot.as_ref().is_some_and(|w| w.will_wake(waker)) {
                                replaced = slot.replace(waker.clone());
                            }
                            drop(wheel);
                            drop(replaced);
                            return true;
                        }
                        NodeState::Idle => {
                            // Cancelled or moved: the clock decides, as for a new entry.
                            if shared.clock.now() >= self.deadline {
                                return false;
                            }
                        }
                    }
                    replaced = wheel.payload_mut(key).replace(waker.clone());
                    key
                }
                None => {
                    let key = wheel.insert(Some(waker.clone()));
                    self.key = Some(key);
                    key
                }
            };
            if self.deadline == Instant::MAX {
                // Never due: keep the waker (a later `reset` queues it) but queue nothing.
                drop(wheel);
                drop(replaced);
                return true;
            }
            let Some(attention) = wheel.schedule(key, deadline) else {
                // The wheel has already passed the deadline (the clock moved meanwhile).
                let ours = wheel.payload_mut(key).take();
                drop(wheel);
                drop((ours, replaced));
                return false;
            };
            shared.registered(attention)
        };
        drop(replaced);
        if wake_driver {
            shared.wake_driver();
        }
        true
    }

    /// [`register`](TimerEntry::register)s the task's waker: `Ready` once the deadline has
    /// passed. Not a coop-budget operation by itself ([`Sleep`](crate::Sleep) is).
    ///
    /// # Examples
    ///
    /// ```
    /// # let rt = creche_timer::__doc_runtime();
    /// # rt.block_on(async {
    /// use creche_timer::{TimerEntry, TimerHandle};
    /// use std::time::Duration;
    /// let handle = TimerHandle::current();
    /// let mut entry = TimerEntry::new(&handle, handle.now() + Duration::from_millis(10));
    /// std::future::poll_fn(|cx| entry.poll_elapsed(cx)).await;
    /// assert!(entry.is_elapsed());
    /// # });
    /// ```
    pub fn poll_elapsed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.register(cx.waker()) {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    }

    /// Moves the deadline, earlier or later. A registered entry that has not fired stays
    /// registered with its waker, and is woken at once if the new deadline has passed. An entry
    /// that fired gave its waker away, and one that is not registered has none: for them
    /// `reset` records the deadline, and the next [`register`](TimerEntry::register) (or poll)
    /// queues it. A deadline of [`Instant::MAX`] is never due: nothing is queued for it.
    ///
    /// # Examples
    ///
    /// See [`TimerEntry`].
    pub fn reset(&mut self, deadline: Instant) {
        self.deadline = deadline;
        let Some(key) = self.key else { return };
        let shared = &*self.handle.shared;
        let (wake_now, wake_driver) = {
            let mut wheel = shared.wheel.lock();
            if wheel.payload_mut(key).is_none() {
                // Cancelled, or fired and its waker taken: registered again by the next poll.
                wheel.unschedule(key);
                wheel.rearm(key);
                return;
            }
            wheel.rearm(key);
            if deadline == Instant::MAX {
                wheel.unschedule(key); // never due: keeps its waker, queued nowhere
                return;
            }
            let nanos = deadline.as_nanos();
            match wheel.schedule(key, nanos) {
                Some(attention) if shared.clock.now() < deadline => {
                    (None, shared.registered(attention))
                }
                _ => {
                    wheel.unschedule(key);
                    (wheel.payload_mut(key).take(), false)
                }
            }
        };
        if let Some(waker) = wake_now {
            waker.wake();
        }
        if wake_driver {
            shared.wake_driver();
        }
    }

    /// Disarms the entry: its waker will not be woken (until it is registered again).
    ///
    /// # Examples
    ///
    /// ```
    /// # let rt = creche_timer::__doc_runtime();
    /// # rt.block_on(async {
    /// use creche_timer::{TimerEntry, TimerHandle};
    /// use std::time::Duration;
    /// let handle = TimerHandle::current();
    /// let mut entry = TimerEntry::new(&handle, handle.now() + Duration::from_secs(1));
    /// assert!(entry.register(&std::task::Waker::noop()));
    /// entry.cancel();
    /// assert!(!entry.is_elapsed());
    /// # });
    /// ```
    pub fn cancel(&mut self) {
        if let Some(key) = self.key {
            let waker = {
                let mut wheel = self.handle.shared.wheel.lock();
                wheel.unschedule(key);
                wheel.rearm(key);
                wheel.payload_mut(key).take()
            };
            drop(waker); // outside the lock
        }
    }
}

impl Drop for TimerEntry {
    fn drop(&mut self) {
        if let Some(key) = self.key {
            let waker = self.handle.shared.wheel.lock().remove(key);
            drop(waker); // outside the lock
        }
    }
}
