//! [`Nursery::start`] and [`TaskStatus`]: start a child, wait until it says it is ready.
//!
//! # Protocol
//!
//! `start(f)` adds an entry for the child to the target nursery (so a pending start keeps the
//! nursery open, and a closed nursery fails with [`StartError::Closed`] before the child runs),
//! then spawns the child in a hidden node whose parent is the *caller's* context: until
//! `started`, the child is cancelled with the caller, and its failures go to the caller. The
//! pending `start` pins the caller's decision points, like a nursery with one child.
//!
//! `started(v)` stores `v`; unless the caller's context is cancelled, it also hands the child
//! over: the hidden node's parent becomes the target nursery's node (the old parent is kept
//! alive for walks in flight), its registration moves along, and from then on the child's
//! cancellation and failures are the nursery's. `start` then returns `Ok(v)`.
//!
//! If the child ends before it is handed over: an `Err(e)` is returned as
//! [`StartError::Failed`]; a panic is resumed in the caller; a normal return gives `Ok(v)` if it
//! called `started` (in a cancelled context) and [`StartError::NotStarted`] otherwise; and a
//! child dropped because the caller was cancelled leaves `start` pending, so that the caller's
//! scope drops it.

use crate::context;
use crate::node::{Decision, ENTERED, Kind, Node};
use crate::nursery::{Nursery, NurseryShared};
use crate::report::Origin;
use crate::sync::Mutex;
use pin_project_lite::pin_project;
use std::any::Any;
use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, Location, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

/// Why [`Nursery::start`] did not return a started value.
///
/// # Examples
///
/// ```
/// use creche_nursery::StartError;
/// let e: StartError<std::io::Error> = StartError::NotStarted;
/// assert_eq!(e.to_string(), "the child returned without calling `started`");
/// ```
#[derive(Debug)]
pub enum StartError<E> {
    /// The child returned this error before calling `started`.
    Failed(E),
    /// The child returned without calling `started`.
    NotStarted,
    /// The nursery had closed; the child never ran.
    Closed,
}

impl<E: PartialEq> PartialEq for StartError<E> {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (StartError::Failed(a), StartError::Failed(b)) => a == b,
            (StartError::NotStarted, StartError::NotStarted)
            | (StartError::Closed, StartError::Closed) => true,
            _ => false,
        }
    }
}

impl<E: fmt::Display> fmt::Display for StartError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Failed(e) => write!(f, "the child failed before it started: {e}"),
            StartError::NotStarted => f.write_str("the child returned without calling `started`"),
            StartError::Closed => f.write_str("the nursery is closed: its block has ended"),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for StartError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StartError::Failed(e) => Some(e),
            _ => None,
        }
    }
}

/// How a child being started ended, before any hand-over.
enum Ended<E> {
    Returned,
    Failed(E),
    Panicked(Box<dyn Any + Send>),
    Dropped,
}

struct StartState<V, E> {
    value: Option<V>,
    moved: bool,
    ended: Option<Ended<E>>,
    waker: Option<Waker>,
}

/// What the starter, the child and the status share.
struct StartShared<V, E> {
    state: Mutex<StartState<V, E>>,
    hidden: Arc<Node>,
    target: Arc<Node>,
    key: usize,
}

impl<V, E> StartShared<V, E> {
    fn end(&self, ended: Ended<E>) {
        let waker = {
            let mut state = self.state.lock();
            if state.ended.is_none() {
                state.ended = Some(ended);
            }
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// The receiving end of [`TaskStatus::started`].
trait Sink<V>: Send + Sync {
    fn started(&self, value: V);
}

impl<V: Send, E: Send> Sink<V> for StartShared<V, E> {
    fn started(&self, value: V) {
        let mut state = self.state.lock();
        state.value = Some(value);
        if state.moved || state.ended.is_some() || self.hidden.effectively_cancelled() {
            // The caller is cancelled: the child stays in its domain and is dropped there.
            return;
        }
        state.moved = true;
        // Hand the child over: its hidden node now lives under the target nursery.
        self.hidden.deregister();
        {
            let mut inner = self.hidden.inner.lock();
            self.hidden.replace_parent(&mut inner, self.target.clone());
        }
        self.hidden.register_upward();
        // A cancellation of the nursery whose walk ran before the hidden node was registered
        // under it did not reach the child's own nurseries: walk now (the walk set its flag
        // before it took the lock `register_upward` took, so it shows here).
        if self.hidden.effectively_cancelled() {
            self.hidden.wake_subtree(true);
        }
        let task = {
            let mut target = self.target.inner.lock();
            if let Some(entry) = target.tasks.get_mut(self.key) {
                entry.starting = false;
            }
            drop(target);
            self.hidden.inner.lock().starting_task.clone()
        };
        let waker = state.waker.take();
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
        // The child re-evaluates in its new context (the nursery may be cancelled).
        if let Some(task) = task {
            task.wake();
        }
    }
}

/// Given to a child run by [`Nursery::start`]: call [`started`](TaskStatus::started) once it is
/// ready. Consumed by `started`, so a second call cannot be written:
///
/// ```compile_fail
/// fn twice(status: creche_nursery::TaskStatus<u32>) {
///     status.started(1);
///     status.started(2); // error: use of moved value
/// }
/// ```
///
/// # Examples
///
/// ```
/// use creche_nursery::{open_nursery, TaskStatus};
/// # let rt = creche_timer::__doc_runtime();
/// # rt.block_on(async {
/// async fn listener(status: TaskStatus<u16>) -> Result<(), ()> {
///     status.started(8080); // bound and listening
///     creche_timer::sleep_forever().await;
///     Ok(())
/// }
/// open_nursery(|n| async move {
///     let port = n.start(listener).await.unwrap();
///     assert_eq!(port, 8080);
///     n.cancel_scope().cancel();
///     Ok::<(), ()>(())
/// }).await.unwrap();
/// # });
/// ```
pub struct TaskStatus<V = ()> {
    sink: Option<Arc<dyn Sink<V>>>,
}

impl<V> fmt::Debug for TaskStatus<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskStatus")
            .field("ignored", &self.sink.is_none())
            .finish()
    }
}

impl<V> TaskStatus<V> {
    /// A status that goes nowhere: call a task function directly, outside `start`.
    ///
    /// # Examples
    ///
    /// ```
    /// # let rt = creche_timer::__doc_runtime();
    /// # rt.block_on(async {
    /// async fn task(status: creche_nursery::TaskStatus<u8>) -> u8 {
    ///     status.started(1);
    ///     2
    /// }
    /// assert_eq!(task(creche_nursery::TaskStatus::ignored()).await, 2);
    /// # });
    /// ```
    pub fn ignored() -> TaskStatus<V> {
        TaskStatus { sink: None }
    }

    /// Reports that the child is ready, with `value` for the caller of `start`; from now on the
    /// child belongs to the nursery. If the caller of `start` has been cancelled, the child is
    /// not handed over (it stays in the cancelled context and is dropped at its next
    /// cancellation point).
    ///
    /// # Examples
    ///
    /// See [`TaskStatus`].
    pub fn started(self, value: V) {
        if let Some(sink) = self.sink {
            sink.started(value);
        }
    }
}

pin_project! {
    /// The child's future while it is being started: routes its outcome to the starter until
    /// it is handed over.
    struct StartChild<Fut, V, E> {
        #[pin]
        future: Fut,
        shared: Arc<StartShared<V, E>>,
        finished: bool,
    }

    impl<Fut, V, E> PinnedDrop for StartChild<Fut, V, E> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if !*this.finished {
                this.shared.end(Ended::Dropped);
            }
            this.shared.hidden.exit(false);
        }
    }
}

impl<Fut, T, V, E> Future for StartChild<Fut, V, E>
where
    Fut: Future<Output = Result<T, E>>,
{
    type Output = Result<(), E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), E>> {
        let this = self.project();
        let polled = catch_unwind(AssertUnwindSafe(|| this.future.poll(cx)));
        if polled.as_ref().is_ok_and(Poll::is_pending) {
            return Poll::Pending;
        }
        *this.finished = true;
        // Decided and recorded under one hold of the lock: a `started` from another thread
        // either moved the child before (the outcome is the nursery's) or finds it ended.
        let mut state = this.shared.state.lock();
        if state.moved {
            drop(state);
            return match polled {
                Ok(Poll::Ready(result)) => Poll::Ready(result.map(drop)),
                Ok(Poll::Pending) => unreachable!("handled above"),
                Err(payload) => resume_unwind(payload),
            };
        }
        let ended = match polled {
            Ok(Poll::Ready(Ok(_))) => Ended::Returned,
            Ok(Poll::Ready(Err(error))) => Ended::Failed(error),
            Ok(Poll::Pending) => unreachable!("handled above"),
            Err(payload) => Ended::Panicked(payload),
        };
        if state.ended.is_none() {
            state.ended = Some(ended);
        }
        let waker = state.waker.take();
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
        Poll::Ready(Ok(()))
    }
}

impl<E: Send + 'static> Nursery<E> {
    /// Starts a child and waits until it calls [`TaskStatus::started`]: returns the value it
    /// passed. Until then the child runs in the caller's cancellation context and its error goes
    /// to the caller; afterwards it belongs to this nursery, which stays open while a start is
    /// pending.
    ///
    /// # Errors
    ///
    /// [`StartError::Failed`] with the child's error if it failed before `started`;
    /// [`StartError::NotStarted`] if it returned without calling it; [`StartError::Closed`] if
    /// the nursery has closed (the child never runs).
    ///
    /// # Panics
    ///
    /// Resumes the child's panic if it panicked before `started`.
    ///
    /// # Examples
    ///
    /// See [`TaskStatus`].
    #[track_caller]
    pub fn start<V, T, F, Fut>(&self, f: F) -> Start<E, V, F>
    where
        F: FnOnce(TaskStatus<V>) -> Fut,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        V: Send + 'static,
        T: Send + 'static,
    {
        Start {
            nursery: self.clone(),
            init: Some(f),
            shared: None,
            pinned: None,
            site: Location::caller(),
            done: false,
            _value: std::marker::PhantomData,
        }
    }
}

/// The future of [`Nursery::start`].
///
/// # Examples
///
/// See [`TaskStatus`].
#[must_use = "futures do nothing unless polled"]
pub struct Start<E, V, F> {
    nursery: Nursery<E>,
    init: Option<F>,
    shared: Option<Arc<dyn StartPoll<V, E>>>,
    /// The caller's decision chain, pinned while the start is pending.
    pinned: Option<PinnedDecision>,
    site: &'static Location<'static>,
    done: bool,
    _value: std::marker::PhantomData<fn() -> V>,
}

/// A decision point pinned by a pending `start`, with what keeps it alive.
struct PinnedDecision {
    decision: *const Decision,
    _root: Option<Arc<Decision>>,
    _owner: Option<Arc<Node>>,
}

// SAFETY: the pointer is kept alive by the two `Arc`s (a task's root decision, or the node that
// owns the decision), and a `Decision` is only atomics, so it may be used from any thread.
unsafe impl Send for PinnedDecision {}
// SAFETY: as above; `&PinnedDecision` gives no access to the pointer.
unsafe impl Sync for PinnedDecision {}

impl<E, V, F> Unpin for Start<E, V, F> {}

impl<E, V, F> fmt::Debug for Start<E, V, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Start")
            .field("site", &format_args!("{}", self.site))
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

/// The starter's view of the shared state, without the child's future type.
trait StartPoll<V, E>: Send + Sync {
    fn poll_outcome(&self, waker: &Waker) -> Poll<Result<V, StartError<E>>>;
    /// The child has ended (or been handed over): nothing is left to wait for here.
    fn child_gone(&self) -> bool;
    fn abandon(&self);
}

impl<V: Send, E: Send> StartPoll<V, E> for StartShared<V, E> {
    fn poll_outcome(&self, waker: &Waker) -> Poll<Result<V, StartError<E>>> {
        let mut state = self.state.lock();
        if state.moved {
            return Poll::Ready(state.value.take().ok_or(StartError::NotStarted));
        }
        match state.ended.take() {
            None => {
                state.waker = Some(waker.clone());
                Poll::Pending
            }
            Some(Ended::Returned) => Poll::Ready(state.value.take().ok_or(StartError::NotStarted)),
            Some(Ended::Failed(error)) => Poll::Ready(Err(StartError::Failed(error))),
            Some(Ended::Panicked(payload)) => {
                drop(state);
                resume_unwind(payload)
            }
            Some(Ended::Dropped) => {
                if self.hidden.effectively_cancelled() {
                    // The caller is cancelled: stay pending so that its scope drops us.
                    state.ended = Some(Ended::Dropped);
                    Poll::Pending
                } else {
                    Poll::Ready(Err(StartError::NotStarted))
                }
            }
        }
    }

    fn child_gone(&self) -> bool {
        let state = self.state.lock();
        state.moved || state.ended.is_some()
    }

    fn abandon(&self) {
        let moved = self.state.lock().moved;
        // Not under the hidden node's lock: dropping the child in place exits that node.
        let task = self.hidden.inner.lock().starting_task.clone();
        if !moved && let Some(task) = task {
            task.abort_now();
        }
    }
}

impl<E, V, F, Fut, T> Future for Start<E, V, F>
where
    E: Send + 'static,
    F: FnOnce(TaskStatus<V>) -> Fut,
    Fut: Future<Output = Result<T, E>> + Send + 'static,
    V: Send + 'static,
    T: Send + 'static,
{
    type Output = Result<V, StartError<E>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        assert!(!this.done, "creche: `start` polled after completion");
        if let Some(f) = this.init.take() {
            let nursery: &Arc<NurseryShared<E>> = &this.nursery.shared;
            let origin = Origin {
                name: None,
                site: this.site,
                body: false,
            };
            let Some((key, token)) = nursery.add_child(&origin, true) else {
                this.done = true;
                return Poll::Ready(Err(StartError::Closed));
            };
            let hidden = Arc::new(Node::with_site(Kind::Starting, Some(this.site)));
            hidden.set_parent(context::current_node());
            let (decision, root, owner) = context::current_decision();
            if !decision.is_null() {
                // SAFETY: the decision point is kept alive by `root` or `owner`, held in
                // `pinned` until the matching unpin.
                unsafe { Decision::adjust_chain(decision, true) };
                this.pinned = Some(PinnedDecision {
                    decision,
                    _root: root,
                    _owner: owner,
                });
            }
            hidden.set(ENTERED);
            hidden.register_upward();
            let shared = Arc::new(StartShared {
                state: Mutex::new(StartState {
                    value: None,
                    moved: false,
                    ended: None,
                    waker: Some(cx.waker().clone()),
                }),
                hidden: hidden.clone(),
                target: nursery.node.clone(),
                key,
            });
            let status = TaskStatus {
                sink: Some(shared.clone() as Arc<dyn Sink<V>>),
            };
            let made = {
                let _context = context::enter(&hidden, None);
                catch_unwind(AssertUnwindSafe(|| f(status)))
            };
            let future = match made {
                Ok(future) => future,
                Err(payload) => {
                    // `f` panicked before there was a child: undo the entry and the node, so
                    // that the nursery does not wait for a child that never existed.
                    let entry = nursery.node.inner.lock().tasks.try_remove(key);
                    drop(entry);
                    nursery.remove_child();
                    hidden.exit(false);
                    this.done = true;
                    this.unpin();
                    resume_unwind(payload);
                }
            };
            let join = nursery.spawn_child(
                StartChild {
                    future,
                    shared: shared.clone(),
                    finished: false,
                },
                Some(hidden.clone()),
                origin,
            );
            let task = join.abort_handle();
            hidden.inner.lock().starting_task = Some(task.clone());
            nursery.attach_task(key, token, task, &hidden);
            this.shared = Some(shared);
        }
        let shared = this.shared.as_ref().expect("set at the first poll");
        let outcome = shared.poll_outcome(cx.waker());
        if outcome.is_ready() {
            this.done = true;
            this.unpin();
        } else if shared.child_gone() {
            // The child was dropped by the caller's cancellation: `start` stays pending, and
            // no longer holds the caller's scope, which can now drop it.
            this.unpin();
        }
        outcome
    }
}

impl<E, V, F> Start<E, V, F> {
    fn unpin(&mut self) {
        if let Some(pinned) = self.pinned.take() {
            // SAFETY: `pinned` keeps the decision point alive, and each decision point keeps
            // its parent alive (see `Decision::adjust_chain`).
            unsafe { Decision::adjust_chain(pinned.decision, false) };
        }
    }
}

impl<E, V, F> Drop for Start<E, V, F> {
    fn drop(&mut self) {
        if !self.done
            && let Some(shared) = &self.shared
        {
            shared.abandon();
        }
        self.unpin();
    }
}
