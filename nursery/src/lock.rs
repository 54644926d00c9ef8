//! [`Lock`]: a fair mutual-exclusion lock for tasks (Trio's `trio.Lock`, which is FIFO like
//! `StrictFIFOLock`); it protects no data of its own, the [`LockGuard`] is the right to be in
//! the critical section. Its state is shared with [`Condition`](crate::Condition), which owns
//! a `Lock`.
//!
//! # Protocol
//!
//! Everything lives under one mutex: `locked`, `owner` (the task that took the lock, for
//! statistics only) and a [`WaitQueue`] whose list [`LOCK_LIST`] holds the tasks waiting for
//! the lock (`Condition` keeps its waiters for a notify on [`COND_LIST`]). Invariant: **the
//! lock queue is non-empty only while `locked`.**
//!
//! - *lock*: if unlocked, take it (by the invariant nobody waits then); otherwise queue a node
//!   carrying the task's id.
//! - *unlock* (a guard dropped): if a node waits on the lock list, **hand the lock over**: it
//!   stays locked, `owner` becomes the node's task, the node is marked granted and woken after
//!   unlocking the mutex (FIFO hand-off, Q1). Otherwise clear `locked` and `owner`.
//! - *a pending lock dropped*: remove its node; if it had been granted the lock and not
//!   observed it, unlock again as above, handing the lock to the next waiter or freeing it
//!   (Q2).
//!
//! `lock` is a cancellation point checked before anything is taken, and spends one unit of
//! coop budget per poll (Q3). Locking again from the task that holds the guard deadlocks (the
//! owner is recorded for statistics only, SYNC_TESTPLAN Q7).

use crate::semaphore::WouldBlock;
use crate::sync::{Mutex, MutexGuard};
use crate::waitq::{Key, Place, WaitQueue};
use creche_runtime::TaskId;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker, ready};

/// The list of the tasks waiting for the lock.
pub(crate) const LOCK_LIST: usize = 0;
/// The list of `Condition`'s tasks waiting for a notify.
pub(crate) const COND_LIST: usize = 1;

pub(crate) struct LockState {
    pub(crate) locked: bool,
    pub(crate) owner: Option<TaskId>,
    /// Nodes carry the id of their task (`None` outside a task), the owner once granted.
    pub(crate) queue: WaitQueue<Option<TaskId>>,
}

impl LockState {
    /// Unlocks: hands the lock to the oldest waiter (returning its waker, to wake after the
    /// mutex is released) or frees it.
    pub(crate) fn unlock(&mut self) -> Option<Waker> {
        match self.queue.front(LOCK_LIST) {
            Some(key) => {
                self.owner = *self.queue.data(key);
                self.queue.grant(key)
            }
            None => {
                self.locked = false;
                self.owner = None;
                None
            }
        }
    }
}

/// A fair lock: [`lock`](Lock::lock) waits until the lock is free and returns a guard that
/// unlocks when dropped; waiting tasks get the lock in arrival order. `Send + Sync`: share it
/// with an `Arc`.
///
/// # Examples
///
/// ```
/// use creche_nursery::{Lock, open_nursery};
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicBool, Ordering};
/// # let rt = creche_timer::__doc_runtime();
/// # rt.block_on(async {
/// let lock = Arc::new(Lock::new());
/// let inside = Arc::new(AtomicBool::new(false));
/// open_nursery(|n| async move {
///     for _ in 0..4 {
///         let (lock, inside) = (lock.clone(), inside.clone());
///         n.spawn(async move {
///             let _guard = lock.lock().await;
///             assert!(!inside.swap(true, Ordering::SeqCst), "one task at a time");
///             creche_nursery::checkpoint().await;
///             inside.store(false, Ordering::SeqCst);
///             Ok::<_, ()>(())
///         });
///     }
///     Ok(())
/// })
/// .await
/// .unwrap();
/// # });
/// ```
pub struct Lock {
    state: Mutex<LockState>,
}

impl Default for Lock {
    fn default() -> Self {
        Lock::new()
    }
}

impl fmt::Debug for Lock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let stats = self.statistics();
        f.debug_struct("Lock")
            .field("locked", &stats.locked)
            .field("owner", &stats.owner)
            .field("tasks_waiting", &stats.tasks_waiting)
            .finish()
    }
}

/// What [`Lock::statistics`] reports.
///
/// # Examples
///
/// ```
/// let lock = creche_nursery::Lock::new();
/// let _guard = lock.try_lock().unwrap();
/// let stats = lock.statistics();
/// assert!(stats.locked);
/// assert_eq!((stats.owner, stats.tasks_waiting), (None, 0)); // not taken inside a task
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct LockStatistics {
    /// Whether the lock is held (or handed to a waiter that has not run yet).
    pub locked: bool,
    /// The task that took the lock (or was handed it); `None` when unlocked, or when it was
    /// taken outside a task (a `block_on` future).
    pub owner: Option<TaskId>,
    /// Tasks waiting for the lock.
    pub tasks_waiting: usize,
}

impl Lock {
    /// An unlocked lock.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!creche_nursery::Lock::new().locked());
    /// ```
    pub fn new() -> Lock {
        Lock {
            state: Mutex::new(LockState {
                locked: false,
                owner: None,
                queue: WaitQueue::new(),
            }),
        }
    }

    /// Waits until the lock is free, first come first served, and takes it. A cancellation
    /// point (checked before anything is taken) that spends one unit of coop budget. Dropping
    /// the future before it completes takes nothing: a lock already handed to it goes to the
    /// next waiter, or is freed.
    ///
    /// Locking again from the task that holds the guard waits forever.
    ///
    /// # Examples
    ///
    /// ```
    /// # let rt = creche_timer::__doc_runtime();
    /// # rt.block_on(async {
    /// let lock = creche_nursery::Lock::new();
    /// let guard = lock.lock().await;
    /// assert!(lock.locked());
    /// drop(guard);
    /// assert!(!lock.locked());
    /// # });
    /// ```
    pub fn lock(&self) -> LockAcquire<'_> {
        LockAcquire {
            lock: self,
            key: None,
        }
    }

    /// Takes the lock if it is free. Not a cancellation point.
    ///
    /// # Errors
    ///
    /// [`WouldBlock`] if the lock is held (or handed to a waiter).
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = creche_nursery::Lock::new();
    /// let guard = lock.try_lock().unwrap();
    /// assert!(lock.try_lock().is_err());
    /// drop(guard);
    /// assert!(lock.try_lock().is_ok());
    /// ```
    pub fn try_lock(&self) -> Result<LockGuard<'_>, WouldBlock> {
        let mut state = self.state.lock();
        if state.locked {
            return Err(WouldBlock);
        }
        state.locked = true;
        state.owner = creche_runtime::task::try_id();
        Ok(LockGuard { lock: self })
    }

    /// Whether the lock is held.
    ///
    /// # Examples
    ///
    /// See [`Lock::lock`].
    pub fn locked(&self) -> bool {
        self.state.lock().locked
    }

    /// Whether the lock is held, by whom, and how many tasks wait.
    ///
    /// # Examples
    ///
    /// See [`LockStatistics`].
    pub fn statistics(&self) -> LockStatistics {
        let state = self.state.lock();
        LockStatistics {
            locked: state.locked,
            owner: state.owner,
            tasks_waiting: state.queue.len(LOCK_LIST),
        }
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, LockState> {
        self.state.lock()
    }

    /// Unlocks (a guard's drop, or a granted waiter's).
    pub(crate) fn unlock(&self) {
        let waker = self.state.lock().unlock();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// How many nodes the queue holds, granted ones included (tests: nothing leaks).
    #[doc(hidden)]
    pub fn __queued_nodes(&self) -> usize {
        self.state.lock().queue.nodes_len()
    }
}

/// The right to be inside a [`Lock`]; dropping it unlocks (handing the lock to the oldest
/// waiter if there is one).
///
/// # Examples
///
/// See [`Lock::lock`].
#[must_use = "the lock is released when the guard is dropped"]
pub struct LockGuard<'a> {
    pub(crate) lock: &'a Lock,
}

impl fmt::Debug for LockGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockGuard").finish_non_exhaustive()
    }
}

impl Drop for LockGuard<'_> {
    fn drop(&mut self) {
        self.lock.unlock();
    }
}

/// The future of [`Lock::lock`].
///
/// # Examples
///
/// See [`Lock::lock`].
#[must_use = "futures do nothing unless polled"]
pub struct LockAcquire<'a> {
    lock: &'a Lock,
    /// This acquire's node, while queued or granted.
    key: Option<Key>,
}

impl fmt::Debug for LockAcquire<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockAcquire")
            .field("queued", &self.key.is_some())
            .finish()
    }
}

impl<'a> Future for LockAcquire<'a> {
    type Output = LockGuard<'a>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<LockGuard<'a>> {
        if creche_runtime::cancel::is_cancelled() {
            return Poll::Pending; // the cancelled scope wakes the task and drops us
        }
        let progress = ready!(creche_runtime::coop::poll_proceed(cx));
        let lock = self.lock;
        let mut state = lock.state.lock();
        match self.key {
            None if !state.locked => {
                state.locked = true;
                state.owner = creche_runtime::task::try_id();
            }
            None => {
                let me = creche_runtime::task::try_id();
                self.key = Some(state.queue.push(LOCK_LIST, me, cx.waker()));
                return Poll::Pending;
            }
            Some(key) => {
                if state.queue.place(key) != Place::Granted {
                    let replaced = state.queue.register(key, cx.waker());
                    drop(state);
                    drop(replaced);
                    return Poll::Pending;
                }
                state.queue.remove(key); // granted: its waker was taken by the granter
                self.key = None;
            }
        }
        drop(state);
        progress.made_progress();
        Poll::Ready(LockGuard { lock })
    }
}

impl Drop for LockAcquire<'_> {
    fn drop(&mut self) {
        let Some(key) = self.key.take() else { return };
        let mut state = self.lock.state.lock();
        let (place, _, own) = state.queue.remove(key);
        // Handed the lock, never observed it: unlock again (Q2).
        let next = match place {
            Place::Granted => state.unlock(),
            Place::Queued(_) => None,
        };
        drop(state);
        drop(own);
        if let Some(next) = next {
            next.wake();
        }
    }
}
