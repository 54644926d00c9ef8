//! [`Condition`]: a condition variable that owns its [`Lock`] (Trio's `trio.Condition`).
//! `wait`, `notify` and `notify_all` hang off the [`ConditionGuard`], so none of them can be
//! called without holding the lock (SYNC_TESTPLAN Q6).
//!
//! # Protocol
//!
//! The condition's waiters live in the lock's own [`WaitQueue`](crate::waitq), under the lock's
//! mutex, on a second list ([`COND_LIST`]); the lock's waiters are on [`LOCK_LIST`]. A waiter's
//! node goes through three places:
//!
//! 1. *waiting for a notify* (on the condition list). `guard.wait()` queues the node there and
//!    unlocks the lock (handing it to the next lock waiter), both in one critical section of
//!    the mutex, so no notify can fall in between.
//! 2. *notified, waiting for the lock* (on the lock list). `notify(n)` moves the `n` oldest
//!    nodes, in order, to the back of the lock list. The notifier holds the lock, so the lock
//!    invariant (lock list non-empty only while locked) holds, and the notifier's unlock hands
//!    the lock to the oldest of them.
//! 3. *granted the lock*: the unlock handed it over; the waiter's next poll returns the guard.
//!
//! A `wait` future dropped (cancelled) in each place (Q2):
//!
//! | place | what its drop does |
//! |---|---|
//! | not started (first poll was cancelled) | drops the guard it owns: an ordinary unlock |
//! | 1, waiting for a notify | unlinks its node |
//! | 2, notified, waiting for the lock | forwards the notification (moves the oldest condition waiter, if any, to the lock list), then unlinks |
//! | 3, granted the lock | forwards the notification, then unlocks (handing the lock on) |
//!
//! So a cancelled waiter never holds the lock afterwards, never unlocks it twice (it owns the
//! lock only in place 3, and `wait` consumed the guard), and never swallows a notification
//! another waiter should have had; the price is a possible spurious wake-up, which condition
//! users allow for anyway.
//!
//! `lock()` is [`Lock::lock`]'s cancellation point. `wait` is a cancellation point too: it
//! checks before releasing anything, and each poll spends one unit of coop budget.

use crate::lock::{COND_LIST, LOCK_LIST, Lock, LockAcquire, LockGuard, LockStatistics};
use crate::semaphore::WouldBlock;
use crate::waitq::{Key, Place};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

/// A condition variable with its own lock: take the lock with [`lock`](Condition::lock), then
/// [`wait`](ConditionGuard::wait) for a [`notify`](ConditionGuard::notify) (which gives the
/// lock back to the waiter, in FIFO order). `Send + Sync`: share it with an `Arc`.
///
/// # Examples
///
/// A consumer waits until a producer has put something in a shared queue:
///
/// ```
/// use creche_nursery::{Condition, open_nursery};
/// use std::sync::{Arc, Mutex};
/// # let rt = creche_timer::__doc_runtime();
/// # rt.block_on(async {
/// let cond = Arc::new(Condition::new());
/// let items = Arc::new(Mutex::new(Vec::new()));
/// open_nursery(|n| async move {
///     let (c, i) = (cond.clone(), items.clone());
///     n.spawn(async move {
///         let mut guard = c.lock().await;
///         while i.lock().unwrap().is_empty() {
///             guard = guard.wait().await; // unlocks while waiting, relocks before returning
///         }
///         assert_eq!(i.lock().unwrap().pop(), Some(7));
///         Ok::<_, ()>(())
///     });
///     let guard = cond.lock().await;
///     items.lock().unwrap().push(7);
///     guard.notify(1);
///     Ok(())
/// })
/// .await
/// .unwrap();
/// # });
/// ```
#[derive(Default)]
pub struct Condition {
    lock: Lock,
}

impl fmt::Debug for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let stats = self.statistics();
        f.debug_struct("Condition")
            .field("tasks_waiting", &stats.tasks_waiting)
            .field("lock", &stats.lock)
            .finish()
    }
}

/// What [`Condition::statistics`] reports.
///
/// # Examples
///
/// ```
/// let cond = creche_nursery::Condition::new();
/// let stats = cond.statistics();
/// assert_eq!(stats.tasks_waiting, 0);
/// assert!(!stats.lock.locked);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConditionStatistics {
    /// Tasks waiting for a notify.
    pub tasks_waiting: usize,
    /// The condition's lock (its `tasks_waiting` includes notified tasks waiting to relock).
    pub lock: LockStatistics,
}

impl Condition {
    /// A condition with an unlocked lock and no waiters.
    ///
    /// # Examples
    ///
    /// See [`ConditionStatistics`].
    pub fn new() -> Condition {
        Condition { lock: Lock::new() }
    }

    /// Waits for the condition's lock; see [`Lock::lock`] (a cancellation point, FIFO).
    ///
    /// # Examples
    ///
    /// See [`Condition`].
    pub fn lock(&self) -> ConditionLock<'_> {
        ConditionLock {
            inner: self.lock.lock(),
            cond: self,
        }
    }

    /// Takes the condition's lock if it is free; see [`Lock::try_lock`].
    ///
    /// # Errors
    ///
    /// [`WouldBlock`] if the lock is held.
    ///
    /// # Examples
    ///
    /// ```
    /// let cond = creche_nursery::Condition::new();
    /// let guard = cond.try_lock().unwrap();
    /// assert!(cond.try_lock().is_err());
    /// guard.notify_all(); // nobody waits: no effect
    /// ```
    pub fn try_lock(&self) -> Result<ConditionGuard<'_>, WouldBlock> {
        let guard = self.lock.try_lock()?;
        Ok(ConditionGuard { guard, cond: self })
    }

    /// Whether the condition's lock is held.
    ///
    /// # Examples
    ///
    /// ```
    /// let cond = creche_nursery::Condition::new();
    /// assert!(!cond.locked());
    /// ```
    pub fn locked(&self) -> bool {
        self.lock.locked()
    }

    /// Tasks waiting for a notify, and the lock's statistics.
    ///
    /// # Examples
    ///
    /// See [`ConditionStatistics`].
    pub fn statistics(&self) -> ConditionStatistics {
        let state = self.lock.state();
        ConditionStatistics {
            tasks_waiting: state.queue.len(COND_LIST),
            lock: LockStatistics {
                locked: state.locked,
                owner: state.owner,
                tasks_waiting: state.queue.len(LOCK_LIST),
            },
        }
    }

    /// How many nodes the queue holds, granted ones included (tests: nothing leaks).
    #[doc(hidden)]
    pub fn __queued_nodes(&self) -> usize {
        self.lock.__queued_nodes()
    }
}

/// The future of [`Condition::lock`].
///
/// # Examples
///
/// See [`Condition`].
#[must_use = "futures do nothing unless polled"]
pub struct ConditionLock<'a> {
    inner: LockAcquire<'a>,
    cond: &'a Condition,
}

impl fmt::Debug for ConditionLock<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConditionLock")
            .field("inner", &self.inner)
            .finish()
    }
}

impl<'a> Future for ConditionLock<'a> {
    type Output = ConditionGuard<'a>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<ConditionGuard<'a>> {
        let cond = self.cond;
        let guard = ready!(Pin::new(&mut self.inner).poll(cx));
        Poll::Ready(ConditionGuard { guard, cond })
    }
}

/// The condition's lock, held; dropping it unlocks. [`wait`](Self::wait),
/// [`notify`](Self::notify) and [`notify_all`](Self::notify_all) need it.
///
/// # Examples
///
/// See [`Condition`].
#[must_use = "the lock is released when the guard is dropped"]
pub struct ConditionGuard<'a> {
    guard: LockGuard<'a>,
    cond: &'a Condition,
}

impl fmt::Debug for ConditionGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConditionGuard").finish_non_exhaustive()
    }
}

impl<'a> ConditionGuard<'a> {
    /// Unlocks, waits for a notify, then waits for the lock again and returns the guard. A
    /// cancellation point (checked before the lock is released). Dropping the future holds
    /// nothing afterwards: the lock is released (or handed on) if it was held or granted, and
    /// a notification it had received goes to the next waiter.
    ///
    /// # Examples
    ///
    /// See [`Condition`].
    pub fn wait(self) -> ConditionWait<'a> {
        ConditionWait {
            cond: self.cond,
            guard: Some(self),
            key: None,
        }
    }

    /// Wakes the `n` tasks that have waited longest (fewer if fewer wait). They get the lock
    /// in that order once it is released.
    ///
    /// # Examples
    ///
    /// See [`Condition`].
    pub fn notify(&self, n: usize) {
        let mut state = self.cond.lock.state();
        for _ in 0..n {
            if !state.queue.move_front(COND_LIST, LOCK_LIST) {
                break;
            }
        }
    }

    /// Wakes every waiting task; they get the lock in waiting order once it is released.
    ///
    /// # Examples
    ///
    /// See [`Condition::try_lock`].
    pub fn notify_all(&self) {
        let mut state = self.cond.lock.state();
        while state.queue.move_front(COND_LIST, LOCK_LIST) {}
    }
}

/// The future of [`ConditionGuard::wait`].
///
/// # Examples
///
/// See [`Condition`].
#[must_use = "futures do nothing unless polled"]
pub struct ConditionWait<'a> {
    cond: &'a Condition,
    /// The guard, until the first (uncancelled) poll queues the node and unlocks.
    guard: Option<ConditionGuard<'a>>,
    /// This waiter's node, once queued.
    key: Option<Key>,
}

impl fmt::Debug for ConditionWait<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConditionWait")
            .field("started", &self.guard.is_none())
            .finish()
    }
}

impl<'a> Future for ConditionWait<'a> {
    type Output = ConditionGuard<'a>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<ConditionGuard<'a>> {
        if creche_runtime::cancel::is_cancelled() {
            return Poll::Pending; // the cancelled scope wakes the task and drops us
        }
        let progress = ready!(creche_runtime::coop::poll_proceed(cx));
        let cond = self.cond;
        let mut state = cond.lock.state();
        if let Some(guard) = self.guard.take() {
            // Queue for a notify and unlock in one critical section.
            let me = creche_runtime::task::try_id();
            self.key = Some(state.queue.push(COND_LIST, me, cx.waker()));
            std::mem::forget(guard.guard); // its unlock happens here, under the mutex
            let waker = state.unlock();
            drop(state);
            if let Some(waker) = waker {
                waker.wake();
            }
            return Poll::Pending;
        }
        let key = self.key.expect("ConditionWait polled after completion");
        if state.queue.place(key) != Place::Granted {
            let replaced = state.queue.register(key, cx.waker());
            drop(state);
            drop(replaced);
            return Poll::Pending;
        }
        state.queue.remove(key); // granted: its waker was taken by the granter
        self.key = None;
        drop(state);
        progress.made_progress();
        Poll::Ready(ConditionGuard {
            guard: LockGuard { lock: &cond.lock },
            cond,
        })
    }
}

impl Drop for ConditionWait<'_> {
    fn drop(&mut self) {
        // Not started: `guard` (if any) unlocks by itself when dropped.
        let Some(key) = self.key.take() else { return };
        let mut state = self.cond.lock.state();
        let (place, _, own) = state.queue.remove(key);
        let next = match place {
            Place::Queued(COND_LIST) => None,
            Place::Queued(_) => {
                state.queue.move_front(COND_LIST, LOCK_LIST);
                None
            }
            Place::Granted => {
                state.queue.move_front(COND_LIST, LOCK_LIST);
                state.unlock()
            }
        };
        drop(state);
        drop(own);
        if let Some(next) = next {
            next.wake();
        }
    }
}
