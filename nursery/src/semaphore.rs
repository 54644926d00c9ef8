//! [`Semaphore`]: a counter of permits that tasks acquire and release, served in FIFO order
//! (Trio's `trio.Semaphore`), and [`WouldBlock`], the error of every `try_*` of the sync
//! primitives.
//!
//! # Protocol
//!
//! State: `permits` (an atomic: the free permits) and the FIFO [`WaitQueue`] of waiting
//! acquirers under a mutex. One invariant makes FIFO hold with a lock-free fast path:
//!
//! > **`permits > 0` only while nobody waits.** `permits` is increased only under the mutex,
//! > and only when the queue is empty; a waiter is queued only under the mutex, after seeing
//! > `permits == 0` there.
//!
//! - *acquire* (fast path): take a permit with a compare-and-swap while `permits > 0`. By the
//!   invariant nobody waits then, so nobody is overtaken.
//! - *acquire* (slow path): lock, try the CAS again (a release may have come in between), and
//!   otherwise queue a node with the task's waker and return `Pending`.
//! - *release* (a permit dropped, [`Semaphore::add_permits`]): lock; if a node waits, **hand the
//!   permit over** (the node is marked granted, `permits` is untouched) and wake it after
//!   unlocking; otherwise increase `permits`. A barging `try_acquire` or a new arrival can
//!   never take a permit released while someone waits (SYNC_TESTPLAN Q1).
//! - *a pending acquire dropped* (cancelled): lock and remove its node. If it had been granted
//!   and had not observed it yet, release the permit again as above: to the next waiter, or
//!   back into `permits` (Q2). A cancelled acquire therefore never holds a permit, and no
//!   permit is lost.
//!
//! `acquire` is a cancellation point: in a cancelled context it returns `Pending` before taking
//! anything (a granted node keeps its grant until the cancelled future is dropped, which hands
//! it on). Each poll spends one unit of coop budget; it never yields otherwise (Q3).

use crate::sync::{AtomicUsize, Mutex};
use crate::waitq::{Key, Place, WaitQueue};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll, Waker, ready};

/// A `try_*` operation of a sync primitive would have had to wait (Trio's `WouldBlock`).
///
/// # Examples
///
/// ```
/// use creche_nursery::{Semaphore, WouldBlock};
/// let sem = Semaphore::new(0);
/// assert_eq!(sem.try_acquire().unwrap_err(), WouldBlock);
/// assert_eq!(WouldBlock.to_string(), "the operation would block");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WouldBlock;

impl fmt::Display for WouldBlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the operation would block")
    }
}

impl std::error::Error for WouldBlock {}

/// A FIFO semaphore: [`acquire`](Semaphore::acquire) waits for a free permit and returns a
/// guard that releases it when dropped. Released permits are handed to waiters in arrival
/// order. `Send + Sync`: share it with an `Arc` (or borrow it in a nursery).
///
/// # Examples
///
/// At most two children hold a permit at once:
///
/// ```
/// use creche_nursery::{Semaphore, open_nursery};
/// use std::sync::Arc;
/// # let rt = creche_timer::__doc_runtime();
/// # rt.block_on(async {
/// let sem = Arc::new(Semaphore::new(2));
/// open_nursery(|n| {
///     let sem = sem.clone();
///     async move {
///         for _ in 0..10 {
///             let sem = sem.clone();
///             n.spawn(async move {
///                 let _permit = sem.acquire().await;
///                 assert!(sem.available_permits() <= 1);
///                 Ok::<_, ()>(())
///             });
///         }
///         Ok(())
///     }
/// })
/// .await
/// .unwrap();
/// assert_eq!(sem.available_permits(), 2);
/// # });
/// ```
pub struct Semaphore {
    /// Free permits; see the module's invariant.
    permits: AtomicUsize,
    /// Permits in existence (free or held); bounded by [`Semaphore::MAX_PERMITS`].
    total: AtomicUsize,
    waiters: Mutex<WaitQueue<()>>,
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let stats = self.statistics();
        f.debug_struct("Semaphore")
            .field("available_permits", &stats.available_permits)
            .field("tasks_waiting", &stats.tasks_waiting)
            .finish()
    }
}

/// What [`Semaphore::statistics`] reports.
///
/// # Examples
///
/// ```
/// let sem = creche_nursery::Semaphore::new(3);
/// let stats = sem.statistics();
/// assert_eq!((stats.available_permits, stats.tasks_waiting), (3, 0));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SemaphoreStatistics {
    /// Free permits.
    pub available_permits: usize,
    /// Acquires queued (polled, not yet granted).
    pub tasks_waiting: usize,
}

impl Semaphore {
    /// The most permits a semaphore can have in existence (free plus held).
    pub const MAX_PERMITS: usize = usize::MAX >> 1;

    /// A semaphore with `permits` free permits.
    ///
    /// # Panics
    ///
    /// If `permits` is over [`Semaphore::MAX_PERMITS`].
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(creche_nursery::Semaphore::new(5).available_permits(), 5);
    /// ```
    pub fn new(permits: usize) -> Semaphore {
        assert!(
            permits <= Self::MAX_PERMITS,
            "Semaphore::new: {permits} permits is over Semaphore::MAX_PERMITS"
        );
        Semaphore {
            permits: AtomicUsize::new(permits),
            total: AtomicUsize::new(permits),
            waiters: Mutex::new(WaitQueue::new()),
        }
    }

    /// Waits for a permit, first come first served. A cancellation point (checked before
    /// anything is taken) that spends one unit of coop budget. Dropping the future before it
    /// completes takes nothing: a permit already handed to it goes to the next waiter.
    ///
    /// # Examples
    ///
    /// ```
    /// # let rt = creche_timer::__doc_runtime();
    /// # rt.block_on(async {
    /// let sem = creche_nursery::Semaphore::new(1);
    /// let permit = sem.acquire().await;
    /// assert_eq!(sem.available_permits(), 0);
    /// drop(permit);
    /// assert_eq!(sem.available_permits(), 1);
    /// # });
    /// ```
    pub fn acquire(&self) -> SemaphoreAcquire<'_> {
        SemaphoreAcquire {
            sem: self,
            key: None,
        }
    }

    /// Takes a permit if one is free and nobody waits. Not a cancellation point.
    ///
    /// # Errors
    ///
    /// [`WouldBlock`] if no permit is free (permits released while tasks wait go to them).
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = creche_nursery::Semaphore::new(1);
    /// let permit = sem.try_acquire().unwrap();
    /// assert!(sem.try_acquire().is_err());
    /// drop(permit);
    /// assert!(sem.try_acquire().is_ok());
    /// ```
    pub fn try_acquire(&self) -> Result<SemaphorePermit<'_>, WouldBlock> {
        if self.take_free() {
            Ok(SemaphorePermit { sem: self })
        } else {
            Err(WouldBlock)
        }
    }

    /// Adds `n` permits: they go to waiting tasks first (in FIFO order), the rest become free.
    ///
    /// # Panics
    ///
    /// If the permits in existence would exceed [`Semaphore::MAX_PERMITS`].
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = creche_nursery::Semaphore::new(0);
    /// sem.add_permits(2);
    /// assert_eq!(sem.available_permits(), 2);
    /// ```
    pub fn add_permits(&self, n: usize) {
        if n == 0 {
            return;
        }
        let grown = self
            .total
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |t| {
                t.checked_add(n).filter(|&t| t <= Self::MAX_PERMITS)
            });
        assert!(
            grown.is_ok(),
            "Semaphore::add_permits: more than Semaphore::MAX_PERMITS permits"
        );
        self.release(n);
    }

    /// The number of free permits.
    ///
    /// # Examples
    ///
    /// See [`Semaphore::acquire`].
    pub fn available_permits(&self) -> usize {
        self.permits.load(Ordering::Acquire)
    }

    /// Free permits and waiting tasks.
    ///
    /// # Examples
    ///
    /// See [`SemaphoreStatistics`].
    pub fn statistics(&self) -> SemaphoreStatistics {
        let waiters = self.waiters.lock();
        SemaphoreStatistics {
            available_permits: self.permits.load(Ordering::Acquire),
            tasks_waiting: waiters.len(0),
        }
    }

    /// Takes a free permit with a CAS; false if there is none.
    fn take_free(&self) -> bool {
        let mut free = self.permits.load(Ordering::Relaxed);
        while free > 0 {
            match self.permits.compare_exchange_weak(
                free,
                free - 1,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => free = now,
            }
        }
        false
    }

    /// Releases `n` permits: to the oldest waiters first, the rest into `permits`.
    fn release(&self, n: usize) {
        let mut waiters = self.waiters.lock();
        if n == 1 {
            let waker = self.release_locked(&mut waiters);
            drop(waiters);
            if let Some(waker) = waker {
                waker.wake();
            }
            return;
        }
        let mut wakers = Vec::new();
        let mut left = n;
        while left > 0 {
            let Some(key) = waiters.front(0) else { break };
            wakers.extend(waiters.grant(key));
            left -= 1;
        }
        if left > 0 {
            self.permits.fetch_add(left, Ordering::Release);
        }
        drop(waiters);
        for waker in wakers {
            waker.wake();
        }
    }

    /// Releases one permit under the lock; returns the waker of the waiter it went to.
    fn release_locked(&self, waiters: &mut WaitQueue<()>) -> Option<Waker> {
        match waiters.front(0) {
            Some(key) => waiters.grant(key),
            None => {
                self.permits.fetch_add(1, Ordering::Release);
                None
            }
        }
    }

    /// How many nodes the queue holds, granted ones included (tests: nothing leaks).
    #[doc(hidden)]
    pub fn __queued_nodes(&self) -> usize {
        self.waiters.lock().nodes_len()
    }
}

/// A held permit of a [`Semaphore`]; dropping it releases the permit (to the oldest waiter if
/// there is one).
///
/// # Examples
///
/// See [`Semaphore::acquire`].
#[must_use = "the permit is released when dropped"]
pub struct SemaphorePermit<'a> {
    sem: &'a Semaphore,
}

impl fmt::Debug for SemaphorePermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphorePermit").finish_non_exhaustive()
    }
}

impl SemaphorePermit<'_> {
    /// Consumes the permit without releasing it: the semaphore has one permit less for good.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = creche_nursery::Semaphore::new(2);
    /// sem.try_acquire().unwrap().forget();
    /// assert_eq!(sem.available_permits(), 1);
    /// ```
    pub fn forget(self) {
        self.sem.total.fetch_sub(1, Ordering::Relaxed);
        std::mem::forget(self);
    }
}

impl Drop for SemaphorePermit<'_> {
    fn drop(&mut self) {
        self.sem.release(1);
    }
}

/// The future of [`Semaphore::acquire`].
///
/// # Examples
///
/// See [`Semaphore::acquire`].
#[must_use = "futures do nothing unless polled"]
pub struct SemaphoreAcquire<'a> {
    sem: &'a Semaphore,
    /// This acquire's node, while queued or granted.
    key: Option<Key>,
}

impl fmt::Debug for SemaphoreAcquire<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphoreAcquire")
            .field("queued", &self.key.is_some())
            .finish()
    }
}

impl<'a> Future for SemaphoreAcquire<'a> {
    type Output = SemaphorePermit<'a>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<SemaphorePermit<'a>> {
        if creche_runtime::cancel::is_cancelled() {
            return Poll::Pending; // the cancelled scope wakes the task and drops us
        }
        let progress = ready!(creche_runtime::coop::poll_proceed(cx));
        let sem = self.sem;
        match self.key {
            None => {
                if !sem.take_free() {
                    let mut waiters = sem.waiters.lock();
                    // Permits grow only under this lock: checked here, a zero stays zero
                    // until the node is queued.
                    if !sem.take_free() {
                        self.key = Some(waiters.push(0, (), cx.waker()));
                        return Poll::Pending;
                    }
                }
            }
            Some(key) => {
                let mut waiters = sem.waiters.lock();
                if waiters.place(key) != Place::Granted {
                    let replaced = waiters.register(key, cx.waker());
                    drop(waiters);
                    drop(replaced);
                    return Poll::Pending;
                }
                waiters.remove(key); // granted: its waker was taken by the granter
                self.key = None;
            }
        }
        progress.made_progress();
        Poll::Ready(SemaphorePermit { sem })
    }
}

impl Drop for SemaphoreAcquire<'_> {
    fn drop(&mut self) {
        let Some(key) = self.key.take() else { return };
        let mut waiters = self.sem.waiters.lock();
        let (place, (), own) = waiters.remove(key);
        // Handed a permit it never observed: pass it on (Q2).
        let next = match place {
            Place::Granted => self.sem.release_locked(&mut waiters),
            Place::Queued(_) => None,
        };
        drop(waiters);
        drop(own);
        if let Some(next) = next {
            next.wake();
        }
    }
}
