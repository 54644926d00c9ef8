//! [`CapacityLimiter`]: a pool of tokens lent to *borrowers* (Trio's `trio.CapacityLimiter`),
//! whose size can change at run time; what bounds `to_thread`.
//!
//! # Protocol
//!
//! Everything lives under one mutex: `total` (the token count, `usize::MAX` = unlimited),
//! `borrowed` (the set of borrowers holding a token; its size is the borrowed count),
//! `pending` (the borrowers of queued acquires) and the FIFO [`WaitQueue`] of those acquires,
//! each node carrying its borrower. Invariant: **the queue is non-empty only while
//! `borrowed.len() >= total`**, kept by *fill*: whenever a token is returned or `total` is
//! raised, grant the oldest nodes while `borrowed.len() < total`, moving each one's borrower
//! from `pending` to `borrowed` (the token is handed over, Q1), and wake them after unlocking.
//!
//! - *acquire*: a borrower already in `borrowed` or `pending` panics (a second token for the
//!   same borrower would deadlock a guard-based API silently, Q7). Otherwise take a token if
//!   `borrowed.len() < total` (by the invariant nobody waits then), else queue.
//! - *token dropped*: remove its borrower from `borrowed`, then fill.
//! - *`set_total_tokens`*: store the new total, then fill. Lowering it revokes nothing; the
//!   borrowers over the new total keep their tokens, and nobody is admitted until
//!   `borrowed.len()` is below it again.
//! - *a pending acquire dropped*: remove its node. Queued: remove its borrower from `pending`
//!   (Trio's issue 548: no entry is left behind). Granted but not observed: give the token back
//!   on the borrower's behalf (remove it from `borrowed`), then fill (Q2).
//!
//! `acquire` is a cancellation point checked before anything is taken, and spends one unit of
//! coop budget per poll (Q3).

use crate::semaphore::WouldBlock;
use crate::sync::Mutex;
use crate::waitq::{Key, Place, WaitQueue};
use creche_runtime::TaskId;
use std::collections::HashSet;
use std::fmt;
use std::future::Future;
use std::num::NonZeroU64;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker, ready};

/// Who holds a [`CapacityLimiter`] token. A borrower holds at most one token of a limiter at a
/// time.
///
/// # Examples
///
/// ```
/// use creche_nursery::Borrower;
/// let a = Borrower::new();
/// assert_ne!(a, Borrower::new());
/// assert_eq!(a, a);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Borrower(BorrowerKind);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum BorrowerKind {
    /// The task with this id.
    Task(TaskId),
    /// An id from [`Borrower::new`] (also the per-thread borrower outside tasks).
    Fresh(NonZeroU64),
}

/// The next [`Borrower::new`] id. A `std` atomic even under loom: it only hands out unique
/// numbers (no protocol to model).
static NEXT_BORROWER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

std::thread_local! {
    /// The borrower of code running outside any task on this thread (a `block_on` future).
    static THREAD_BORROWER: Borrower = Borrower::new();
}

impl Borrower {
    /// A fresh borrower, different from every other (for example one per blocking job).
    ///
    /// # Examples
    ///
    /// See [`Borrower`].
    #[allow(clippy::new_without_default)] // a default would suggest one shared value
    pub fn new() -> Borrower {
        let id = NEXT_BORROWER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Borrower(BorrowerKind::Fresh(
            NonZeroU64::new(id).expect("borrower ids start at 1"),
        ))
    }

    /// The current task as a borrower (what [`CapacityLimiter::acquire`] uses). Outside a
    /// task (the future of `block_on`, a plain thread) it is one fixed borrower per thread.
    ///
    /// # Examples
    ///
    /// ```
    /// use creche_nursery::Borrower;
    /// assert_eq!(Borrower::current_task(), Borrower::current_task());
    /// ```
    pub fn current_task() -> Borrower {
        match creche_runtime::task::try_id() {
            Some(id) => Borrower(BorrowerKind::Task(id)),
            None => THREAD_BORROWER.with(|b| *b),
        }
    }

    /// The borrower of the task `id`.
    ///
    /// # Examples
    ///
    /// ```
    /// # let rt = creche_timer::__doc_runtime();
    /// # rt.block_on(async {
    /// use creche_nursery::Borrower;
    /// let task = creche_runtime::spawn(async { Borrower::current_task() });
    /// let id = task.id();
    /// assert_eq!(task.await.unwrap(), Borrower::task(id));
    /// # });
    /// ```
    pub fn task(id: TaskId) -> Borrower {
        Borrower(BorrowerKind::Task(id))
    }
}

/// A pool of `total` tokens lent to borrowers, each borrower holding at most one; waiting
/// borrowers are served in FIFO order, and the total can be changed at any time. `Clone`
/// shares the same pool (an `Arc` inside), and the token owns a clone, so it is
/// `Send + 'static` and can travel to a blocking thread.
///
/// # Panics
///
/// Acquiring for a borrower that already holds (or waits for) a token of this limiter panics:
/// see [`CapacityLimiter::acquire_on_behalf_of`].
///
/// # Examples
///
/// ```
/// use creche_nursery::{CapacityLimiter, open_nursery};
/// # let rt = creche_timer::__doc_runtime();
/// # rt.block_on(async {
/// let limiter = CapacityLimiter::new(2);
/// open_nursery(|n| {
///     let limiter = limiter.clone();
///     async move {
///         for _ in 0..6 {
///             let limiter = limiter.clone();
///             n.spawn(async move {
///                 let _token = limiter.acquire().await; // this task borrows a token
///                 assert!(limiter.borrowed_tokens() <= 2);
///                 Ok::<_, ()>(())
///             });
///         }
///         Ok(())
///     }
/// })
/// .await
/// .unwrap();
/// assert_eq!(limiter.available_tokens(), 2);
/// # });
/// ```
#[derive(Clone)]
pub struct CapacityLimiter {
    inner: Arc<Mutex<LimiterState>>,
}

struct LimiterState {
    total: usize,
    borrowed: HashSet<Borrower>,
    pending: HashSet<Borrower>,
    queue: WaitQueue<Borrower>,
}

impl LimiterState {
    /// Grants the oldest waiters while tokens are free; pushes their wakers to `wakers`.
    fn fill(&mut self, wakers: &mut Vec<Waker>) {
        while self.borrowed.len() < self.total {
            let Some(key) = self.queue.front(0) else {
                break;
            };
            let borrower = *self.queue.data(key);
            wakers.extend(self.queue.grant(key));
            self.pending.remove(&borrower);
            self.borrowed.insert(borrower);
        }
    }

    /// Panics if `borrower` already holds or waits for a token.
    fn check_new(&self, borrower: Borrower) {
        if self.borrowed.contains(&borrower) || self.pending.contains(&borrower) {
            panic!(
                "CapacityLimiter: {borrower:?} already holds or waits for a token of this limiter \
                 (a borrower holds at most one)"
            );
        }
    }
}

fn wake_all(wakers: Vec<Waker>) {
    for waker in wakers {
        waker.wake();
    }
}

impl fmt::Debug for CapacityLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.inner.lock();
        f.debug_struct("CapacityLimiter")
            .field("total_tokens", &state.total)
            .field("borrowed_tokens", &state.borrowed.len())
            .field("tasks_waiting", &state.queue.len(0))
            .finish()
    }
}

/// What [`CapacityLimiter::statistics`] reports.
///
/// # Examples
///
/// ```
/// use creche_nursery::{Borrower, CapacityLimiter};
/// let limiter = CapacityLimiter::new(3);
/// let b = Borrower::new();
/// let _token = limiter.try_acquire_on_behalf_of(b).unwrap();
/// let stats = limiter.statistics();
/// assert_eq!(stats.borrowers, vec![b]);
/// assert_eq!((stats.borrowed_tokens, stats.total_tokens, stats.tasks_waiting), (1, 3, 0));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LimiterStatistics {
    /// Tokens lent out.
    pub borrowed_tokens: usize,
    /// The limiter's total.
    pub total_tokens: usize,
    /// Who holds the borrowed tokens (in no particular order).
    pub borrowers: Vec<Borrower>,
    /// Acquires queued (polled, not yet granted).
    pub tasks_waiting: usize,
}

impl CapacityLimiter {
    /// A limiter of `total_tokens` tokens; `usize::MAX` means unlimited.
    ///
    /// # Examples
    ///
    /// ```
    /// let limiter = creche_nursery::CapacityLimiter::new(usize::MAX);
    /// let _token = limiter.try_acquire().unwrap();
    /// assert_eq!(limiter.available_tokens(), usize::MAX - 1);
    /// ```
    pub fn new(total_tokens: usize) -> CapacityLimiter {
        CapacityLimiter {
            inner: Arc::new(Mutex::new(LimiterState {
                total: total_tokens,
                borrowed: HashSet::new(),
                pending: HashSet::new(),
                queue: WaitQueue::new(),
            })),
        }
    }

    /// Waits for a token lent to the current task ([`Borrower::current_task`], read when
    /// `acquire` is called). A cancellation point, checked before anything is taken; see
    /// [`acquire_on_behalf_of`](Self::acquire_on_behalf_of).
    ///
    /// # Panics
    ///
    /// When polled, if the current task already holds or waits for a token of this limiter.
    ///
    /// # Examples
    ///
    /// ```
    /// # let rt = creche_timer::__doc_runtime();
    /// # rt.block_on(async {
    /// let limiter = creche_nursery::CapacityLimiter::new(1);
    /// let token = limiter.acquire().await;
    /// assert_eq!(token.borrower(), creche_nursery::Borrower::current_task());
    /// assert_eq!(limiter.available_tokens(), 0);
    /// # });
    /// ```
    pub fn acquire(&self) -> LimiterAcquire<'_> {
        self.acquire_on_behalf_of(Borrower::current_task())
    }

    /// Waits for a token lent to `borrower`, first come first served. A cancellation point
    /// (checked before anything is taken) that spends one unit of coop budget. Dropping the
    /// future before it completes leaves nothing borrowed and no pending entry: a token
    /// already handed to it goes to the next waiter.
    ///
    /// # Panics
    ///
    /// When polled, if `borrower` already holds or waits for a token of this limiter (Trio
    /// raises `RuntimeError`; with tokens as guards it would otherwise deadlock at the limit).
    ///
    /// # Examples
    ///
    /// ```
    /// use creche_nursery::{Borrower, CapacityLimiter};
    /// # let rt = creche_timer::__doc_runtime();
    /// # rt.block_on(async {
    /// let limiter = CapacityLimiter::new(2);
    /// let job = Borrower::new();
    /// let token = limiter.acquire_on_behalf_of(job).await;
    /// assert_eq!(limiter.statistics().borrowers, vec![job]);
    /// // The token is `Send + 'static`: it can go with the job to another thread.
    /// std::thread::spawn(move || drop(token)).join().unwrap();
    /// assert_eq!(limiter.borrowed_tokens(), 0);
    /// # });
    /// ```
    pub fn acquire_on_behalf_of(&self, borrower: Borrower) -> LimiterAcquire<'_> {
        LimiterAcquire {
            limiter: self,
            borrower,
            key: None,
        }
    }

    /// Borrows a token for the current task if one is free. Not a cancellation point.
    ///
    /// # Errors
    ///
    /// [`WouldBlock`] if every token is lent out.
    ///
    /// # Panics
    ///
    /// If the current task already holds or waits for a token of this limiter.
    ///
    /// # Examples
    ///
    /// ```
    /// let limiter = creche_nursery::CapacityLimiter::new(1);
    /// let token = limiter.try_acquire().unwrap();
    /// drop(token);
    /// assert_eq!(limiter.borrowed_tokens(), 0);
    /// ```
    pub fn try_acquire(&self) -> Result<LimiterToken, WouldBlock> {
        self.try_acquire_on_behalf_of(Borrower::current_task())
    }

    /// Borrows a token for `borrower` if one is free. Not a cancellation point.
    ///
    /// # Errors
    ///
    /// [`WouldBlock`] if every token is lent out.
    ///
    /// # Panics
    ///
    /// If `borrower` already holds or waits for a token of this limiter.
    ///
    /// # Examples
    ///
    /// ```
    /// use creche_nursery::{Borrower, CapacityLimiter, WouldBlock};
    /// let limiter = CapacityLimiter::new(1);
    /// let _a = limiter.try_acquire_on_behalf_of(Borrower::new()).unwrap();
    /// assert_eq!(limiter.try_acquire_on_behalf_of(Borrower::new()).unwrap_err(), WouldBlock);
    /// ```
    pub fn try_acquire_on_behalf_of(&self, borrower: Borrower) -> Result<LimiterToken, WouldBlock> {
        let mut state = self.inner.lock();
        state.check_new(borrower);
        if state.borrowed.len() < state.total {
            state.borrowed.insert(borrower);
            drop(state);
            Ok(self.token(borrower))
        } else {
            Err(WouldBlock)
        }
    }

    /// Changes the number of tokens. Raising it hands the new tokens to waiting borrowers at
    /// once, in FIFO order; lowering it revokes nothing (nobody is admitted until enough
    /// tokens come back).
    ///
    /// # Examples
    ///
    /// ```
    /// let limiter = creche_nursery::CapacityLimiter::new(1);
    /// let a = limiter.try_acquire_on_behalf_of(creche_nursery::Borrower::new()).unwrap();
    /// limiter.set_total_tokens(0);
    /// assert_eq!((limiter.borrowed_tokens(), limiter.available_tokens()), (1, 0));
    /// drop(a);
    /// limiter.set_total_tokens(3);
    /// assert_eq!(limiter.total_tokens(), 3);
    /// ```
    pub fn set_total_tokens(&self, total_tokens: usize) {
        let mut wakers = Vec::new();
        let mut state = self.inner.lock();
        state.total = total_tokens;
        state.fill(&mut wakers);
        drop(state);
        wake_all(wakers);
    }

    /// The number of tokens (`usize::MAX`: unlimited).
    ///
    /// # Examples
    ///
    /// See [`CapacityLimiter::set_total_tokens`].
    pub fn total_tokens(&self) -> usize {
        self.inner.lock().total
    }

    /// The number of tokens lent out (it can exceed the total after the total was lowered).
    ///
    /// # Examples
    ///
    /// See [`CapacityLimiter::set_total_tokens`].
    pub fn borrowed_tokens(&self) -> usize {
        self.inner.lock().borrowed.len()
    }

    /// The number of tokens free: the total minus the borrowed ones, or 0 if more are lent
    /// out than the total.
    ///
    /// # Examples
    ///
    /// See [`CapacityLimiter::new`].
    pub fn available_tokens(&self) -> usize {
        let state = self.inner.lock();
        state.total.saturating_sub(state.borrowed.len())
    }

    /// Tokens, borrowers and waiting tasks.
    ///
    /// # Examples
    ///
    /// See [`LimiterStatistics`].
    pub fn statistics(&self) -> LimiterStatistics {
        let state = self.inner.lock();
        LimiterStatistics {
            borrowed_tokens: state.borrowed.len(),
            total_tokens: state.total,
            borrowers: state.borrowed.iter().copied().collect(),
            tasks_waiting: state.queue.len(0),
        }
    }

    /// How many pending-borrower entries and queue nodes exist (tests: a cancelled acquire
    /// leaves none behind, Trio's issue 548).
    #[doc(hidden)]
    pub fn __pending_entries(&self) -> (usize, usize) {
        let state = self.inner.lock();
        (state.pending.len(), state.queue.nodes_len())
    }

    fn token(&self, borrower: Borrower) -> LimiterToken {
        LimiterToken {
            limiter: self.clone(),
            borrower,
        }
    }

    /// Gives `borrower`'s token back under the lock, then fills.
    fn give_back(state: &mut LimiterState, borrower: Borrower, wakers: &mut Vec<Waker>) {
        let held = state.borrowed.remove(&borrower);
        debug_assert!(held, "a token's borrower is in the borrowed set");
        state.fill(wakers);
    }
}

/// A token borrowed from a [`CapacityLimiter`]; dropping it gives the token back (to the
/// oldest waiter if there is one). Owns a clone of the limiter: `Send + 'static`.
///
/// # Examples
///
/// See [`CapacityLimiter::acquire_on_behalf_of`].
#[must_use = "the token is given back when dropped"]
pub struct LimiterToken {
    limiter: CapacityLimiter,
    borrower: Borrower,
}

impl fmt::Debug for LimiterToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LimiterToken")
            .field("borrower", &self.borrower)
            .finish_non_exhaustive()
    }
}

impl LimiterToken {
    /// Who borrowed this token.
    ///
    /// # Examples
    ///
    /// See [`CapacityLimiter::acquire`].
    pub fn borrower(&self) -> Borrower {
        self.borrower
    }
}

impl Drop for LimiterToken {
    fn drop(&mut self) {
        let mut wakers = Vec::new();
        let mut state = self.limiter.inner.lock();
        CapacityLimiter::give_back(&mut state, self.borrower, &mut wakers);
        drop(state);
        wake_all(wakers);
    }
}

/// The future of [`CapacityLimiter::acquire`] and
/// [`CapacityLimiter::acquire_on_behalf_of`].
///
/// # Examples
///
/// See [`CapacityLimiter::acquire`].
#[must_use = "futures do nothing unless polled"]
pub struct LimiterAcquire<'a> {
    limiter: &'a CapacityLimiter,
    borrower: Borrower,
    /// This acquire's node, while queued or granted.
    key: Option<Key>,
}

impl fmt::Debug for LimiterAcquire<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LimiterAcquire")
            .field("borrower", &self.borrower)
            .field("queued", &self.key.is_some())
            .finish()
    }
}

impl Future for LimiterAcquire<'_> {
    type Output = LimiterToken;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<LimiterToken> {
        if creche_runtime::cancel::is_cancelled() {
            return Poll::Pending; // the cancelled scope wakes the task and drops us
        }
        let progress = ready!(creche_runtime::coop::poll_proceed(cx));
        let (limiter, borrower) = (self.limiter, self.borrower);
        let mut state = limiter.inner.lock();
        match self.key {
            None => {
                state.check_new(borrower);
                if state.borrowed.len() < state.total {
                    state.borrowed.insert(borrower);
                } else {
                    self.key = Some(state.queue.push(0, borrower, cx.waker()));
                    state.pending.insert(borrower);
                    return Poll::Pending;
                }
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
        Poll::Ready(limiter.token(borrower))
    }
}

impl Drop for LimiterAcquire<'_> {
    fn drop(&mut self) {
        let Some(key) = self.key.take() else { return };
        let mut wakers = Vec::new();
        let mut state = self.limiter.inner.lock();
        let (place, borrower, own) = state.queue.remove(key);
        match place {
            Place::Queued(_) => {
                state.pending.remove(&borrower);
            }
            // Handed a token it never observed: give it back on the borrower's behalf (Q2).
            Place::Granted => CapacityLimiter::give_back(&mut state, borrower, &mut wakers),
        }
        drop(state);
        drop(own);
        wake_all(wakers);
    }
}
