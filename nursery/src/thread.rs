//! Blocking work on threads, structured: [`to_thread`], [`to_thread_limited`],
//! [`to_thread_abandon_on_cancel`] (and its limited form), and [`from_thread`] to run async code
//! back in the calling task. Trio's `trio.to_thread` / `trio.from_thread`, with the answers of
//! nursery/SYNC_TESTPLAN.md §3 Q8 and Q9.
//!
//! # The call
//!
//! 1. A token of a [`CapacityLimiter`] is acquired on behalf of a fresh [`Borrower`] (the
//!    runtime's default limiter of 40, [`default_thread_limiter`], or the one passed in). That
//!    acquire is an ordinary cancellation point: in a cancelled scope nothing starts.
//! 2. At its first poll the call checks the cancel state once more (a call entered in a
//!    cancelled scope never starts its thread), records the caller's cancel context, and
//!    submits a job to the runtime's blocking pool. Without abandon it also **pins** the
//!    enclosing decision points, like a shielded scope: a cancellation waits for the thread,
//!    and the closure's value is delivered into the body, which stops at its next cancellation
//!    point. With abandon nothing is pinned, and every poll (between `from_thread` requests)
//!    is a cancellation point: a cancelled call returns `Pending`, the scope drops it, and its
//!    `Drop` abandons the thread.
//!    The job is submitted uncounted (`creche_runtime::blocking::spawn_uncounted`): the call's
//!    shared state holds its activity lease from the submission, so that an abandon stops the
//!    counting even while the job still waits in the pool's queue for a free thread.
//! 3. On the pool thread, the job (unless the call is gone already) runs
//!    the closure (catching a panic), drops the limiter token, and delivers the result: under
//!    the lock it stores the result and takes the caller's waker and the lease; it wakes the
//!    caller, then drops the lease (so the runtime cannot look idle between the two).
//!
//! # The shared state (one mutex, one condition variable)
//!
//! - `lease`: the job's activity unit while the job counts as running. The thread gives it up
//!   while it waits in `from_thread::run`; the caller renews it (an enter by a running task)
//!   when it answers; an abandon drops it. So neither a thread waiting for its caller nor an
//!   abandoned thread keeps autojump and `wait_all_tasks_blocked` from seeing an idle runtime.
//! - `request`: a `from_thread::run` future on its way to the caller; `reply`: the answer
//!   (done, or cancelled) on its way back; the thread waits on the condition variable for it.
//! - `result`: the closure's result, type-erased.
//! - `gone`: the caller dropped the call (abandon on cancel, or the runtime shut down). Set
//!   under the lock with the lease dropped, the request dropped (its answer is `Cancelled`)
//!   and, for an abandon, the job detached from the pool's shutdown; the thread's result is
//!   then dropped on the thread.
//!
//! # `from_thread`
//!
//! `from_thread::run(fut)` boxes `fut`, puts it in `request`, wakes the caller and gives up the
//! lease, then waits for `reply`. The caller's pending call takes the request and polls it in
//! place, in the calling task, under the caller's cancel context. If it completes, the value
//! goes back (a panic in it resumes on the thread). If it is `Pending` while the caller's
//! context is cancelled, it is dropped and the thread gets `Err(Cancelled)`: a future that
//! never waits still completes. `from_thread::check_cancelled` reads `gone` and the caller's
//! recorded cancel context. Both panic on any thread that `to_thread` did not start.
//!
//! # Deviations
//!
//! The error of a refused `from_thread` is the crate's [`Cancelled`]. A non-abandoning call
//! dropped without cancellation (only when the runtime shuts down, or a `JoinHandle` aborts
//! its task) behaves like an abandon, except that the pool's shutdown still waits for the
//! thread, as it does for every `spawn_blocking` job.

use crate::context;
use crate::limiter::{Borrower, CapacityLimiter, LimiterToken};
use crate::node::{Decision, Node};
use crate::nursery::Cancelled;
use creche_runtime::blocking::{ActivityLease, JobControl};
use std::any::Any;
use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::task::{Context, Poll, Waker};

/// The default number of tokens of the runtime's thread limiter.
pub const DEFAULT_THREAD_LIMIT: usize = 40;

/// The runtime's default thread limiter, installed by `creche::Builder` as a runtime extension.
///
/// # Examples
///
/// ```
/// let limiter = creche_nursery::thread::DefaultThreadLimiter::default();
/// assert_eq!(limiter.limiter().total_tokens(), 40);
/// ```
#[derive(Debug, Clone)]
pub struct DefaultThreadLimiter(CapacityLimiter);

impl Default for DefaultThreadLimiter {
    fn default() -> DefaultThreadLimiter {
        DefaultThreadLimiter(CapacityLimiter::new(DEFAULT_THREAD_LIMIT))
    }
}

impl DefaultThreadLimiter {
    /// The limiter.
    ///
    /// # Examples
    ///
    /// See [`DefaultThreadLimiter`].
    pub fn limiter(&self) -> &CapacityLimiter {
        &self.0
    }
}

/// The limiter that [`to_thread`] and [`to_thread_abandon_on_cancel`] use: the current
/// runtime's (40 tokens to start with; change it with `set_total_tokens`), or, on a runtime
/// built without the facade's builder, one shared by the process.
///
/// # Examples
///
/// ```
/// # let rt = creche_timer::__doc_runtime();
/// rt.block_on(async {
///     let limiter = creche_nursery::thread::default_thread_limiter();
///     assert_eq!(limiter.borrowed_tokens(), 0);
/// });
/// ```
pub fn default_thread_limiter() -> CapacityLimiter {
    static PROCESS: OnceLock<CapacityLimiter> = OnceLock::new();
    creche_runtime::Handle::with_current_extension(|limiter: Option<&DefaultThreadLimiter>| {
        limiter.map(|l| l.0.clone())
    })
    .unwrap_or_else(|| {
        PROCESS
            .get_or_init(|| CapacityLimiter::new(DEFAULT_THREAD_LIMIT))
            .clone()
    })
}

/// Runs `f` on a blocking thread and returns its value, holding a token of the
/// [default limiter](default_thread_limiter) meanwhile.
///
/// Cancelling the scope around the call waits for `f` to return: the value is delivered, and
/// the body stops at its next cancellation point (see the [module documentation](self)). A
/// call in an already cancelled scope never starts `f` (it is dropped with the call). `f` may
/// call back into the task with [`from_thread::run`].
///
/// # Panics
///
/// Resumes a panic of `f` in the caller. Panics when polled outside a creche runtime.
///
/// # Examples
///
/// ```
/// # let rt = creche_timer::__doc_runtime();
/// rt.block_on(async {
///     let caller = std::thread::current().id();
///     let elsewhere = creche_nursery::thread::to_thread(move || std::thread::current().id() != caller);
///     assert!(elsewhere.await);
/// });
/// ```
pub async fn to_thread<F, R>(f: F) -> R
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let limiter = default_thread_limiter();
    call(&limiter, f, false).await
}

/// [`to_thread`] under `limiter`: at most `limiter.total_tokens()` such calls run at once.
///
/// # Panics
///
/// As [`to_thread`].
///
/// # Examples
///
/// ```
/// use creche_nursery::CapacityLimiter;
/// # let rt = creche_timer::__doc_runtime();
/// rt.block_on(async {
///     let limiter = CapacityLimiter::new(2);
///     let n = creche_nursery::thread::to_thread_limited(&limiter, || 7).await;
///     assert_eq!((n, limiter.borrowed_tokens()), (7, 0));
/// });
/// ```
pub async fn to_thread_limited<F, R>(limiter: &CapacityLimiter, f: F) -> R
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    call(limiter, f, false).await
}

/// [`to_thread`] that a cancellation abandons: the call is dropped at once, like any other
/// cancellation point, while `f` goes on on its thread. The thread keeps its limiter token
/// until `f` returns; its value is then dropped on the thread. An abandoned thread counts as
/// idle for autojump and `wait_all_tasks_blocked`, the runtime's shutdown does not wait for
/// it, and its [`from_thread`] calls get `Err(Cancelled)`.
///
/// # Panics
///
/// As [`to_thread`].
///
/// # Examples
///
/// ```
/// use creche_nursery::CancelScope;
/// use creche_nursery::thread::to_thread_abandon_on_cancel;
/// use std::sync::mpsc;
/// # let rt = creche_timer::__doc_runtime();
/// rt.block_on(async {
///     let (release, parked) = mpsc::channel::<()>();
///     let (in_tx, inside) = mpsc::channel::<()>();
///     let scope = CancelScope::new();
///     let cancel = scope.clone();
///     // Cancelled from a plain thread once the closure runs (a running closure is work in
///     // progress: on this autojump clock no deadline could fire meanwhile).
///     std::thread::spawn(move || {
///         inside.recv().unwrap();
///         cancel.cancel();
///     });
///     let out = scope
///         .run(to_thread_abandon_on_cancel(move || {
///             in_tx.send(()).unwrap();
///             parked.recv()
///         }))
///         .await;
///     assert!(out.is_none()); // returned although the thread is still parked
///     drop(release); // the thread finishes on its own
/// });
/// ```
pub async fn to_thread_abandon_on_cancel<F, R>(f: F) -> R
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let limiter = default_thread_limiter();
    call(&limiter, f, true).await
}

/// [`to_thread_abandon_on_cancel`] under `limiter`.
///
/// # Panics
///
/// As [`to_thread`].
///
/// # Examples
///
/// ```
/// use creche_nursery::CapacityLimiter;
/// # let rt = creche_timer::__doc_runtime();
/// rt.block_on(async {
///     let limiter = CapacityLimiter::new(1);
///     let f = || 3;
///     assert_eq!(creche_nursery::thread::to_thread_abandon_on_cancel_limited(&limiter, f).await, 3);
/// });
/// ```
pub async fn to_thread_abandon_on_cancel_limited<F, R>(limiter: &CapacityLimiter, f: F) -> R
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    call(limiter, f, true).await
}

async fn call<F, R>(limiter: &CapacityLimiter, f: F, abandon: bool) -> R
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let token = limiter.acquire_on_behalf_of(Borrower::new()).await;
    let job: Job = Box::new(move || {
        let result: std::thread::Result<R> = catch_unwind(AssertUnwindSafe(f));
        Box::new(result) as Box<dyn Any + Send>
    });
    let output = ThreadCall {
        job: Some((job, token)),
        abandon,
        link: None,
        pin: None,
        request: None,
    }
    .await;
    match output.downcast::<std::thread::Result<R>>() {
        Ok(result) => match *result {
            Ok(value) => value,
            Err(payload) => resume_unwind(payload),
        },
        Err(_) => unreachable!("the job stores its closure's result type"),
    }
}

type Job = Box<dyn FnOnce() -> Box<dyn Any + Send> + Send>;
type Request = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The answer to a `from_thread::run` request.
enum Reply {
    /// The future completed; its output is in the requester's slot.
    Done,
    /// The caller's context was cancelled, or the caller is gone.
    Cancelled,
}

/// The state shared by a call and its thread; see the module doc.
struct Link {
    state: Mutex<LinkState>,
    /// The thread waits here for `reply` (or `gone`).
    replied: Condvar,
    /// The caller's cancel context, recorded when the thread starts (for `check_cancelled`).
    caller: Option<Arc<Node>>,
}

#[derive(Default)]
struct LinkState {
    lease: Option<ActivityLease>,
    job: Option<JobControl>,
    waker: Option<Waker>,
    request: Option<Request>,
    reply: Option<Reply>,
    result: Option<Box<dyn Any + Send>>,
    gone: bool,
}

impl Link {
    fn lock(&self) -> MutexGuard<'_, LinkState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Pins the decision points around the call (no abandon) until dropped; see `Decision`.
struct DecisionPin {
    decision: *const Decision,
    /// What keeps `decision` alive: a task root's `Arc`, or the node that owns it.
    _root: Option<Arc<Decision>>,
    _node: Option<Arc<Node>>,
}

// SAFETY: the pointer is only passed to `Decision::adjust_chain`, which takes the decision's
// lock; the `Arc`s held beside it keep it alive on whichever thread the pin is dropped.
unsafe impl Send for DecisionPin {}

impl DecisionPin {
    fn current() -> DecisionPin {
        let (decision, root, node) = context::current_decision();
        // SAFETY: `root` or `node` (held in the pin) keeps `decision` and its chain alive.
        unsafe { Decision::adjust_chain(decision, true) };
        DecisionPin {
            decision,
            _root: root,
            _node: node,
        }
    }
}

impl Drop for DecisionPin {
    fn drop(&mut self) {
        // SAFETY: as in `current`; the same chain, still kept alive by the held `Arc`s.
        unsafe { Decision::adjust_chain(self.decision, false) };
    }
}

/// The pending call: starts the job at its first poll, then serves `from_thread` requests
/// until the result arrives.
struct ThreadCall {
    /// The closure (type-erased) and the limiter token, until the job starts.
    job: Option<(Job, LimiterToken)>,
    abandon: bool,
    link: Option<Arc<Link>>,
    pin: Option<DecisionPin>,
    /// A request being polled in place.
    request: Option<Request>,
}

impl ThreadCall {
    fn start(&mut self) -> Arc<Link> {
        let (f, token) = self.job.take().expect("a call starts once");
        // The job counts as active through this lease from now on (not through the pool: an
        // abandon must be able to stop the counting while the job still waits for a thread).
        let link = Arc::new(Link {
            state: Mutex::new(LinkState {
                lease: Some(creche_runtime::Handle::current().activity_lease()),
                ..LinkState::default()
            }),
            replied: Condvar::new(),
            caller: context::current_node(),
        });
        if !self.abandon {
            self.pin = Some(DecisionPin::current());
        }
        let thread_link = link.clone();
        // The `JoinHandle` is not needed: the result travels through the link.
        drop(creche_runtime::blocking::spawn_uncounted(move || {
            run_job(&thread_link, f, token);
        }));
        self.link = Some(link.clone());
        link
    }

    /// Answers the request being served and gives the thread its lease back.
    fn reply(&mut self, link: &Link, reply: Reply) {
        let mut state = link.lock();
        state.reply = Some(reply);
        state.lease = Some(creche_runtime::Handle::current().activity_lease());
        drop(state);
        link.replied.notify_all();
    }
}

impl Future for ThreadCall {
    type Output = Box<dyn Any + Send>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let link = match &this.link {
            Some(link) => link.clone(),
            None => {
                if creche_runtime::cancel::is_cancelled() {
                    return Poll::Pending; // entered cancelled: never start; the scope drops us
                }
                this.start()
            }
        };
        loop {
            if let Some(request) = &mut this.request {
                let polled = catch_unwind(AssertUnwindSafe(|| request.as_mut().poll(cx)));
                match polled {
                    // A panic is caught inside the request (it resumes on the thread).
                    Ok(Poll::Ready(())) | Err(_) => {
                        this.request = None;
                        this.reply(&link, Reply::Done);
                    }
                    Ok(Poll::Pending) if creche_runtime::cancel::is_cancelled() => {
                        this.request = None;
                        this.reply(&link, Reply::Cancelled);
                    }
                    Ok(Poll::Pending) => {}
                }
            }
            if this.abandon && this.request.is_none() && creche_runtime::cancel::is_cancelled() {
                // An abandoning call is a cancellation point: the scope drops it now (its
                // `Drop` abandons the thread), whatever the thread does next.
                return Poll::Pending;
            }
            let mut state = link.lock();
            if let Some(result) = state.result.take() {
                drop(state);
                this.pin = None;
                this.link = None;
                return Poll::Ready(result);
            }
            if this.request.is_none() {
                if let Some(request) = state.request.take() {
                    drop(state);
                    this.request = Some(request);
                    continue;
                }
            }
            match &mut state.waker {
                Some(waker) => waker.clone_from(cx.waker()),
                None => state.waker = Some(cx.waker().clone()),
            }
            return Poll::Pending;
        }
    }
}

impl Drop for ThreadCall {
    fn drop(&mut self) {
        let Some(link) = self.link.take() else {
            return; // never started (the closure and the token are dropped here), or done
        };
        let (lease, request) = {
            let mut state = link.lock();
            state.gone = true;
            if self.abandon {
                if let Some(job) = &state.job {
                    job.detach();
                }
            }
            (state.lease.take(), state.request.take())
        };
        link.replied.notify_all();
        // Dropped outside the lock: user code (the request), and the leave last.
        drop(self.request.take());
        drop(request);
        drop(lease);
        self.pin = None;
    }
}

/// The pool thread's side of a call.
fn run_job(link: &Arc<Link>, f: Job, token: LimiterToken) {
    let job = creche_runtime::blocking::current_job().expect("run by the blocking pool");
    {
        let mut state = link.lock();
        if state.gone {
            drop(state);
            drop((f, token));
            return;
        }
        // The job's lease has been in `state` since its submission.
        state.job = Some(job);
    }
    let result = {
        let _current = CurrentCall::enter(link.clone());
        f()
    };
    drop(token);
    let mut state = link.lock();
    if state.gone {
        drop(state);
        drop(result); // abandoned: dropped here, on the thread
        return;
    }
    state.result = Some(result);
    let waker = state.waker.take();
    let lease = state.lease.take();
    drop(state);
    if let Some(waker) = waker {
        waker.wake();
    }
    drop(lease); // after the wake: the runtime cannot look idle in between
}

std::thread_local! {
    /// The call whose closure runs on this thread.
    static CURRENT: RefCell<Option<Arc<Link>>> = const { RefCell::new(None) };
}

/// Sets `CURRENT` for the closure's run.
struct CurrentCall(Option<Arc<Link>>);

impl CurrentCall {
    fn enter(link: Arc<Link>) -> CurrentCall {
        CurrentCall(CURRENT.with(|current| current.replace(Some(link))))
    }
}

impl Drop for CurrentCall {
    fn drop(&mut self) {
        let previous = self.0.take();
        let _ = CURRENT.try_with(|current| current.replace(previous));
    }
}

fn current_link(what: &str) -> Arc<Link> {
    match CURRENT.with(|current| current.borrow().clone()) {
        Some(link) => link,
        None => panic!(
            "creche: from_thread::{what} called on a thread that to_thread did not start \
             (a runtime worker, or a foreign thread)"
        ),
    }
}

/// Calls from a thread started by [`to_thread`] back into the task that is waiting for it.
pub mod from_thread {
    use super::*;

    /// Runs `future` in the task that called `to_thread` (polled in place by its pending call,
    /// under its cancel context) and returns its output.
    ///
    /// # Errors
    ///
    /// [`Cancelled`] if the caller's context is cancelled while the future waits (it is
    /// dropped then; a future that never waits still completes), if the call was abandoned, or
    /// if the runtime has shut down.
    ///
    /// # Panics
    ///
    /// On a thread that `to_thread` did not start (a runtime worker, a foreign thread).
    /// A panic of `future` resumes here, on the thread.
    ///
    /// # Examples
    ///
    /// ```
    /// use creche_nursery::thread::{from_thread, to_thread};
    /// # let rt = creche_timer::__doc_runtime();
    /// rt.block_on(async {
    ///     let caller = creche_runtime::task::try_id();
    ///     let inside = to_thread(|| from_thread::run(async { creche_runtime::task::try_id() }));
    ///     assert_eq!(inside.await, Ok(caller)); // the future ran in the calling task
    /// });
    /// ```
    pub fn run<F>(future: F) -> Result<F::Output, Cancelled>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let link = current_link("run");
        let slot: Arc<Mutex<Option<std::thread::Result<F::Output>>>> = Arc::default();
        let request: Request = Box::pin(Answer {
            future: Box::pin(future),
            slot: slot.clone(),
        });
        let mut state = link.lock();
        if state.gone {
            return Err(Cancelled);
        }
        state.request = Some(request);
        state.reply = None;
        let waker = state.waker.take();
        let lease = state.lease.take();
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
        drop(lease); // waiting for the caller: not an active party
        let mut state = link.lock();
        let reply = loop {
            if let Some(reply) = state.reply.take() {
                break reply;
            }
            if state.gone {
                break Reply::Cancelled;
            }
            state = link
                .replied
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        };
        drop(state);
        match reply {
            Reply::Cancelled => Err(Cancelled),
            Reply::Done => match slot.lock().unwrap_or_else(PoisonError::into_inner).take() {
                Some(Ok(output)) => Ok(output),
                Some(Err(payload)) => resume_unwind(payload),
                None => unreachable!("a done request stored its output"),
            },
        }
    }

    /// `Err(Cancelled)` once the task that called `to_thread` is cancelled (its cancel context
    /// as it was when the thread started), or once the call was abandoned or the runtime shut
    /// down; `Ok(())` before.
    ///
    /// # Errors
    ///
    /// [`Cancelled`], as above.
    ///
    /// # Panics
    ///
    /// On a thread that `to_thread` did not start.
    ///
    /// # Examples
    ///
    /// ```
    /// use creche_nursery::thread::{from_thread, to_thread};
    /// # let rt = creche_timer::__doc_runtime();
    /// rt.block_on(async {
    ///     assert_eq!(to_thread(from_thread::check_cancelled).await, Ok(()));
    /// });
    /// ```
    pub fn check_cancelled() -> Result<(), Cancelled> {
        let link = current_link("check_cancelled");
        if link.lock().gone {
            return Err(Cancelled);
        }
        match &link.caller {
            Some(node) if node.effectively_cancelled() => Err(Cancelled),
            _ => Ok(()),
        }
    }

    /// A request: polls the thread's future and stores its output (or its panic) in the slot.
    pub(super) struct Answer<F: Future> {
        pub(super) future: Pin<Box<F>>,
        pub(super) slot: Arc<Mutex<Option<std::thread::Result<F::Output>>>>,
    }

    impl<F: Future> Future for Answer<F> {
        type Output = ();

        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            let output = match catch_unwind(AssertUnwindSafe(|| self.future.as_mut().poll(cx))) {
                Ok(Poll::Pending) => return Poll::Pending,
                Ok(Poll::Ready(output)) => Ok(output),
                Err(payload) => Err(payload),
            };
            *self.slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(output);
            Poll::Ready(())
        }
    }
}

impl fmt::Debug for ThreadCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadCall")
            .field("abandon", &self.abandon)
            .field("started", &self.link.is_some())
            .finish_non_exhaustive()
    }
}
