//! Nurseries: [`open_nursery`], the [`Nursery`] handle, children ([`TaskHandle`]) and their
//! failures.
//!
//! # Life of a nursery
//!
//! `open_nursery(body)` is a future. At its first poll it creates the nursery's node (a cancel
//! scope covering the body and every child, linked under the caller's current scope), registers
//! it so that cancellations from outside reach its children, and calls `body` with a
//! [`Nursery`] handle. It then polls the body as a decision point (like a scope's `run`): the
//! nursery's own cancellation drops the body. When the body has finished (or been dropped), the
//! nursery waits until its last child has been dropped, closes, and returns.
//!
//! # Children
//!
//! Each child is a runtime task running a wrapper around the user's future. The wrapper is the
//! child's decision point: it sets the child's context (the nursery's node, never the spawner's
//! scopes), drops the future when that context is cancelled, catches panics, and sends an error
//! or panic to the nursery's failure slot. Its destructor (which runs on completion, on
//! cancellation and on abort alike, after the user's future is gone) removes the child from the
//! nursery's list; the last one out wakes the nursery. From its first child until it has seen
//! the last one gone (in its own poll, so that it can first return an error or value the
//! children left) the nursery pins the decision points around it: an outer cancellation waits
//! for the children to be dropped (see the `node` module).
//!
//! # Failures
//!
//! The first failure (a child's or the body's error, or a panic) is kept and cancels the
//! nursery; later ones are counted and reported as suppressed. A panic outranks an error. When
//! everything is gone, `open_nursery` returns the error, or resumes the panic with its payload
//! unchanged, so that it travels up the tree to `creche::run`'s caller.
//!
//! # Dropped from outside
//!
//! If the `open_nursery` future is dropped before it finished (a foreign `select!`), it cannot
//! wait: it closes, drops every child that is not being polled right there (on the dropping
//! thread), and marks the others cancelled so that their worker drops them as soon as their
//! current poll returns. A failure still pending is reported as lost.

use crate::context;
use crate::node::{CANCEL_CALLED, Decision, Kind, Node};
use crate::report::{self, FailureKind, Fate, Origin};
use crate::scope::{CancelScope, Region};
use crate::sync::{AtomicBool, AtomicUsize, Mutex};
use crate::tree::ChildEntry;
use creche_runtime::{AbortHandle, JoinHandle};
use pin_project_lite::pin_project;
use std::any::Any;
use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, Location, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

/// The bit of `NurseryShared::live` set once the nursery no longer accepts children.
const CLOSED: usize = 1 << (usize::BITS - 1);

/// A failure kept by a nursery.
pub(crate) enum Failure<E> {
    Error(E, Origin),
    Panic(Box<dyn Any + Send>, Origin),
}

impl<E> Failure<E> {
    fn report(&self, fate: Fate) {
        match self {
            Failure::Error(_, origin) => report::emit(origin, FailureKind::Error, fate, None),
            Failure::Panic(payload, origin) => report::emit(
                origin,
                FailureKind::Panic,
                fate,
                report::panic_message(&**payload),
            ),
        }
    }
}

/// State shared by a nursery's future, its handles and its children.
pub(crate) struct NurseryShared<E> {
    pub(crate) node: Arc<Node>,
    runtime: creche_runtime::Handle,
    failure: Mutex<Option<Failure<E>>>,
    failed: AtomicBool,
    suppressed: AtomicUsize,
    /// Live children (and starts in flight), with the `CLOSED` bit.
    live: AtomicUsize,
    pub(crate) opened_at: &'static Location<'static>,
}

impl<E> NurseryShared<E> {
    /// Records a failure: the first one is kept and cancels the nursery; a later one is
    /// counted and reported as suppressed, except that a panic displaces a kept error.
    pub(crate) fn record(&self, failure: Failure<E>) {
        let mut slot = self.failure.lock();
        let suppressed = match slot.take() {
            None => {
                *slot = Some(failure);
                None
            }
            Some(kept @ Failure::Error(..)) if matches!(failure, Failure::Panic(..)) => {
                *slot = Some(failure);
                Some(kept)
            }
            Some(kept) => {
                *slot = Some(kept);
                Some(failure)
            }
        };
        drop(slot);
        match suppressed {
            None => {
                self.failed.store(true, Ordering::Release);
                self.node.cancel();
            }
            Some(failure) => {
                self.suppressed.fetch_add(1, Ordering::AcqRel);
                failure.report(Fate::Suppressed);
            }
        }
    }

    fn has_failed(&self) -> bool {
        self.failed.load(Ordering::Acquire)
    }
}

/// A handle to an open nursery: spawn children into it, start them, reach its cancel scope.
/// `Clone + Send + Sync`: pass it to children so that they can spawn siblings.
///
/// Children are futures returning `Result<T, E>`: an `Err` cancels the nursery and becomes its
/// result (first failure wins). They inherit the cancellation of the nursery (and of the scopes
/// around it), not of the task that called `spawn`.
///
/// # Examples
///
/// ```
/// use creche_nursery::open_nursery;
/// # let rt = creche_timer::__doc_runtime();
/// # rt.block_on(async {
/// let total = open_nursery(|n| async move {
///     let a = n.spawn(async { Ok(20) });
///     let b = n.spawn(async { Ok(22) });
///     Ok::<_, std::io::Error>(a.join().await.unwrap() + b.join().await.unwrap())
/// }).await;
/// assert_eq!(total.unwrap(), Some(42));
/// # });
/// ```
pub struct Nursery<E> {
    pub(crate) shared: Arc<NurseryShared<E>>,
}

impl<E> Clone for Nursery<E> {
    fn clone(&self) -> Self {
        Nursery {
            shared: self.shared.clone(),
        }
    }
}

impl<E> fmt::Debug for Nursery<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Nursery")
            .field("opened_at", &format_args!("{}", self.shared.opened_at))
            .field("children", &self.shared.live_children())
            .field(
                "closed",
                &(self.shared.live.load(Ordering::SeqCst) & CLOSED != 0),
            )
            .finish()
    }
}

/// Spawning into a nursery that has closed (its `open_nursery` returned or was dropped).
///
/// # Examples
///
/// ```
/// assert_eq!(
///     creche_nursery::Closed.to_string(),
///     "the nursery is closed: its block has ended"
/// );
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closed;

impl fmt::Display for Closed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the nursery is closed: its block has ended")
    }
}

impl std::error::Error for Closed {}

/// A child did not produce a value: it was cancelled, or it failed (its error or panic went to
/// the nursery).
///
/// # Examples
///
/// ```
/// assert_eq!(
///     creche_nursery::Cancelled.to_string(),
///     "the task was cancelled or failed; its failure went to its nursery"
/// );
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cancelled;

impl fmt::Display for Cancelled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the task was cancelled or failed; its failure went to its nursery")
    }
}

impl std::error::Error for Cancelled {}

impl<E: Send + 'static> Nursery<E> {
    /// Spawns a child: `future` runs as a task on any worker, in this nursery's cancellation
    /// context. Its `Ok` value is available through the returned handle; its `Err` cancels the
    /// nursery and becomes the nursery's result.
    ///
    /// # Panics
    ///
    /// If the nursery is closed (see [`try_spawn`](Nursery::try_spawn)).
    ///
    /// # Examples
    ///
    /// See [`Nursery`].
    #[track_caller]
    pub fn spawn<F, T>(&self, future: F) -> TaskHandle<T>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
    {
        let site = Location::caller();
        match self.spawn_inner(future, None, site) {
            Ok(handle) => handle,
            Err(Closed) => panic!(
                "creche: spawn at {site} into the nursery opened at {}, which is closed (its \
                 block has ended); use try_spawn to get an error instead",
                self.shared.opened_at
            ),
        }
    }

    /// [`spawn`](Nursery::spawn) with a name, shown in the task tree and in failure reports.
    ///
    /// # Panics
    ///
    /// If the nursery is closed.
    ///
    /// # Examples
    ///
    /// ```
    /// # let rt = creche_timer::__doc_runtime();
    /// # rt.block_on(async {
    /// creche_nursery::open_nursery(|n| async move {
    ///     n.spawn_named("fetch", async { Ok::<_, ()>(()) });
    ///     Ok(())
    /// }).await.unwrap();
    /// # });
    /// ```
    #[track_caller]
    pub fn spawn_named<F, T>(&self, name: impl Into<String>, future: F) -> TaskHandle<T>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
    {
        let site = Location::caller();
        match self.spawn_inner(future, Some(name.into().into()), site) {
            Ok(handle) => handle,
            Err(Closed) => panic!(
                "creche: spawn at {site} into the nursery opened at {}, which is closed",
                self.shared.opened_at
            ),
        }
    }

    /// Spawns a child, or returns `Err(Closed)` (dropping `future` at once) if the nursery has
    /// closed. While its block is ending (the body is done, children still run) the nursery is
    /// open: children may spawn siblings.
    ///
    /// # Errors
    ///
    /// [`Closed`] once the nursery's block has ended.
    ///
    /// # Examples
    ///
    /// ```
    /// # let rt = creche_timer::__doc_runtime();
    /// # rt.block_on(async {
    /// let mut kept = None;
    /// creche_nursery::open_nursery(|n| {
    ///     kept = Some(n.clone());
    ///     async { Ok::<_, ()>(()) }
    /// }).await.unwrap();
    /// let closed = kept.unwrap().try_spawn(async { Ok(()) });
    /// assert_eq!(closed.unwrap_err(), creche_nursery::Closed);
    /// # });
    /// ```
    #[track_caller]
    pub fn try_spawn<F, T>(&self, future: F) -> Result<TaskHandle<T>, Closed>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
    {
        self.spawn_inner(future, None, Location::caller())
    }

    fn spawn_inner<F, T>(
        &self,
        future: F,
        name: Option<Arc<str>>,
        site: &'static Location<'static>,
    ) -> Result<TaskHandle<T>, Closed>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
    {
        let origin = Origin {
            name,
            site,
            body: false,
        };
        let (key, token) = self.shared.add_child(&origin, false).ok_or(Closed)?;
        let join = self.shared.spawn_child(future, None, origin);
        self.shared
            .attach_task(key, token, join.abort_handle(), &self.shared.node);
        Ok(TaskHandle { join })
    }

    /// The nursery's cancel scope: it covers the body and every child. Cancel it to cancel them
    /// all; give it a deadline to bound the whole block.
    ///
    /// # Examples
    ///
    /// ```
    /// # let rt = creche_timer::__doc_runtime();
    /// # rt.block_on(async {
    /// let out = creche_nursery::open_nursery(|n| async move {
    ///     n.spawn(async { creche_timer::sleep_forever().await; Ok(()) });
    ///     n.cancel_scope().cancel();
    ///     creche_timer::sleep_forever().await;
    ///     Ok::<(), ()>(())
    /// }).await;
    /// assert_eq!(out, Ok(None)); // the body was dropped by the nursery's own scope
    /// # });
    /// ```
    pub fn cancel_scope(&self) -> CancelScope {
        CancelScope {
            node: self.shared.node.clone(),
        }
    }

    /// How many failures this nursery suppressed (first failure wins; a panic outranks an
    /// error). Final once the nursery has closed.
    ///
    /// # Examples
    ///
    /// ```
    /// # let rt = creche_timer::__doc_runtime();
    /// # rt.block_on(async {
    /// let mut kept = None;
    /// let result = creche_nursery::open_nursery(|n| {
    ///     kept = Some(n.clone());
    ///     async move {
    ///         n.spawn(async { Err::<(), _>(1) });
    ///         Err::<(), _>(2)
    ///     }
    /// }).await;
    /// assert!(matches!(result, Err(1) | Err(2)));
    /// assert_eq!(kept.unwrap().suppressed_failures(), 1);
    /// # });
    /// ```
    pub fn suppressed_failures(&self) -> usize {
        self.shared.suppressed.load(Ordering::Acquire)
    }
}

impl<E> NurseryShared<E> {
    pub(crate) fn runtime(&self) -> &creche_runtime::Handle {
        &self.runtime
    }

    /// Adds a child entry (a spawned child, or a start in flight); `None` if closed.
    ///
    /// The live count is the truth for "are there children" and "closed" (one atomic word, so
    /// that a child finishing on another worker touches nothing else: see `remove_child`).
    /// Entries stay in the list after their child finished and are swept here, in bulk, when
    /// the list would grow.
    pub(crate) fn add_child(&self, origin: &Origin, starting: bool) -> Option<(usize, u64)> {
        let mut live = self.live.load(Ordering::SeqCst);
        loop {
            if live & CLOSED != 0 {
                return None;
            }
            match self.live.compare_exchange_weak(
                live,
                live + 1,
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                Ok(_) => break,
                Err(now) => live = now,
            }
        }
        let mut inner = self.node.inner.lock();
        if !inner.children_pinning && !inner.detached {
            inner.children_pinning = true;
            // SAFETY: the parent decision is kept alive by this node (the nursery
            // node's parent link or `root_decision`), which `self.node` holds; see `adjust_chain`.
            unsafe { Decision::adjust_chain(self.node.decision.parent(), true) };
        }
        if inner.tasks.len() == inner.tasks.capacity() {
            // Sweep the entries of finished children before the list grows.
            inner
                .tasks
                .retain(|_, entry| !entry.task.as_ref().is_some_and(AbortHandle::is_finished));
        }
        inner.next_token += 1;
        let token = inner.next_token;
        let key = inner.tasks.insert(ChildEntry {
            task: None,
            origin: origin.clone(),
            token,
            starting,
        });
        Some((key, token))
    }

    /// Stores the task of a child entry once it has been spawned (a foreign drop meanwhile
    /// cancels it here). A cancellation whose walk passed the entry before the task was stored
    /// is delivered here: the walk set its flag before taking the lock this takes, so `context`
    /// reads as cancelled.
    pub(crate) fn attach_task(&self, key: usize, token: u64, task: AbortHandle, context: &Node) {
        let mut inner = self.node.inner.lock();
        if inner.detached {
            drop(inner);
            task.abort_now();
            return;
        }
        if let Some(entry) = inner.tasks.get_mut(key)
            && entry.token == token
        {
            if context.effectively_cancelled() {
                // A runtime task only schedules itself when woken: fine under the lock.
                task.wake();
            }
            entry.task = Some(task);
        }
    }

    /// A child's future is gone: one atomic decrement; the last child out wakes the nursery.
    /// Its entry is swept later. The nursery unpins the decision points around it itself, in
    /// its own poll: a cancelled scope around it must not drop it before it has returned what
    /// its children left (an error, or the body's value).
    pub(crate) fn remove_child(&self) {
        if self.live.fetch_sub(1, Ordering::SeqCst) & !CLOSED == 1 {
            let owner = self.node.inner.lock().owner.clone();
            if let Some(owner) = owner {
                owner.wake();
            }
        }
    }

    /// How many children are alive.
    pub(crate) fn live_children(&self) -> usize {
        self.live.load(Ordering::SeqCst) & !CLOSED
    }

    /// In the nursery's own poll: once the last child is gone, stop pinning. With `close`, the
    /// nursery also closes (no more children). Returns whether no child is left; otherwise
    /// records `waker` so that the last child wakes the nursery.
    fn settle(&self, waker: &std::task::Waker, close: bool) -> bool {
        let mut inner = self.node.inner.lock();
        // The owner is recorded before the count is read again: a last child that decrements
        // after this read takes the lock after us and sees the waker.
        if self.live_children() != 0 {
            self.node.set_owner_locked(&mut inner, waker);
            return false;
        }
        if close
            && self
                .live
                .compare_exchange(0, CLOSED, Ordering::SeqCst, Ordering::SeqCst)
                .is_err()
        {
            // A child was added meanwhile (by a handle on another thread).
            self.node.set_owner_locked(&mut inner, waker);
            return false;
        }
        if inner.children_pinning && !inner.detached && self.live_children() == 0 {
            inner.children_pinning = false;
            // SAFETY: the parent decision is kept alive by this node (the nursery
            // node's parent link or `root_decision`), which `self.node` holds; see `adjust_chain`.
            unsafe { Decision::adjust_chain(self.node.decision.parent(), false) };
        }
        if close {
            inner.detached = true;
            // Every child is gone: drop the entries (and their task references) now.
            inner.tasks.clear();
        }
        true
    }
}

/// Opens a nursery: calls `body` with a [`Nursery`] handle, runs it, and returns once the body
/// and every child (and their children) are finished.
///
/// Returns `Ok(Some(value))` with the body's value; `Ok(None)` if the nursery's own cancel
/// scope dropped the body; `Err(e)` with the first failure (a child's or the body's error). A
/// child's panic cancels the nursery too, and is resumed here (payload unchanged) once every
/// child is gone.
///
/// # Panics
///
/// Resumes the first child panic. Panics when first polled outside a runtime.
///
/// # Examples
///
/// ```
/// use creche_nursery::open_nursery;
/// use std::time::Duration;
/// # let rt = creche_timer::__doc_runtime();
/// # rt.block_on(async {
/// let result = open_nursery(|n| async move {
///     n.spawn(async { creche_timer::sleep_forever().await; Ok(()) });
///     n.spawn(async {
///         creche_timer::sleep(Duration::from_millis(1)).await;
///         Err::<(), _>("failed")
///     });
///     Ok(())
/// }).await;
/// assert_eq!(result, Err("failed")); // and the sleeper was cancelled
/// # });
/// ```
#[track_caller]
pub fn open_nursery<E, T, F, Fut>(body: F) -> OpenNursery<E, T, F, Fut>
where
    E: Send + 'static,
    F: FnOnce(Nursery<E>) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    OpenNursery {
        init: Some(body),
        body: None,
        shared: None,
        region: None,
        value: None,
        phase: Phase::Init,
        site: Location::caller(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Init,
    Body,
    Wait,
    Done,
}

pin_project! {
    /// The future of [`open_nursery`].
    ///
    /// # Examples
    ///
    /// See [`open_nursery`].
    #[must_use = "futures do nothing unless polled"]
    pub struct OpenNursery<E, T, F, Fut> {
        init: Option<F>,
        #[pin]
        body: Option<Fut>,
        shared: Option<Arc<NurseryShared<E>>>,
        region: Option<Region>,
        value: Option<T>,
        phase: Phase,
        site: &'static Location<'static>,
    }

    impl<E, T, F, Fut> PinnedDrop for OpenNursery<E, T, F, Fut> {
        fn drop(this: Pin<&mut Self>) {
            let mut this = this.project();
            if matches!(*this.phase, Phase::Init | Phase::Done) {
                return;
            }
            let _ = catch_unwind(AssertUnwindSafe(|| this.body.set(None)));
            if let Some(shared) = this.shared.as_ref() {
                shared.drop_from_outside();
            }
        }
    }
}

impl<E, T, F, Fut> fmt::Debug for OpenNursery<E, T, F, Fut> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenNursery")
            .field("phase", &self.phase)
            .field("opened_at", &format_args!("{}", self.site))
            .finish_non_exhaustive()
    }
}

impl<E> NurseryShared<E> {
    /// The nursery's future is dropped before it finished: close, detach, cancel every child
    /// at once, report a pending failure as lost and, if children were cut short, the drop.
    fn drop_from_outside(&self) {
        let tasks: Vec<AbortHandle> = {
            self.live.fetch_or(CLOSED, Ordering::SeqCst);
            let mut inner = self.node.inner.lock();
            if inner.children_pinning && !inner.detached {
                // SAFETY: the parent decision is kept alive by this node (the nursery
                // node's parent link or `root_decision`), which `self.node` holds; see `adjust_chain`.
                unsafe { Decision::adjust_chain(self.node.decision.parent(), false) };
            }
            inner.children_pinning = false;
            inner.detached = true;
            inner
                .tasks
                .iter()
                .filter_map(|(_, child)| child.task.clone())
                .filter(|task| !task.is_finished())
                .collect()
        };
        let had_children = !tasks.is_empty();
        self.node.set(CANCEL_CALLED);
        for task in tasks {
            task.abort_now();
        }
        let failure = self.failure.lock().take();
        if let Some(failure) = failure {
            failure.report(Fate::Lost);
        }
        if had_children {
            let origin = body_origin(self.opened_at);
            report::emit(&origin, FailureKind::DroppedOpen, Fate::Lost, None);
        }
        self.node.exit(false);
    }
}

impl<E, T, F, Fut> Future for OpenNursery<E, T, F, Fut>
where
    E: Send + 'static,
    F: FnOnce(Nursery<E>) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    type Output = Result<Option<T>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if *this.phase == Phase::Init {
            let node = crate::node::pooled(Kind::Nursery, Some(this.site));
            let mut region = Region::returning_to_pool(node.clone());
            region.enter("open_nursery: the nursery");
            node.register_upward();
            let runtime = creche_runtime::Handle::try_current()
                .unwrap_or_else(|e| panic!("creche: open_nursery at {}: {e}", this.site));
            let shared = Arc::new(NurseryShared {
                node,
                runtime,
                failure: Mutex::new(None),
                failed: AtomicBool::new(false),
                suppressed: AtomicUsize::new(0),
                live: AtomicUsize::new(0),
                opened_at: this.site,
            });
            let init = this.init.take().expect("init present in phase Init");
            *this.phase = Phase::Body;
            let nursery = Nursery {
                shared: shared.clone(),
            };
            *this.shared = Some(shared);
            *this.region = Some(region);
            let body = {
                let node = &this.shared.as_ref().expect("set").node;
                let _context = context::enter(node, None);
                init(nursery)
            };
            this.body.set(Some(body));
        }
        let shared = this.shared.as_ref().expect("set after Init").clone();
        let region = this.region.as_mut().expect("set after Init");
        if *this.phase == Phase::Body {
            let node = &shared.node;
            let _context = context::enter(node, None);
            let mut dropped = region.should_drop(shared.has_failed());
            if !dropped {
                region.mark_polled();
                let body = this.body.as_mut().as_pin_mut().expect("body in phase Body");
                match catch_unwind(AssertUnwindSafe(|| body.poll(cx))) {
                    Ok(Poll::Ready(Ok(value))) => *this.value = Some(value),
                    Ok(Poll::Ready(Err(error))) => {
                        shared.record(Failure::Error(error, body_origin(this.site)))
                    }
                    Err(payload) => shared.record(Failure::Panic(payload, body_origin(this.site))),
                    Ok(Poll::Pending) => {
                        region.on_pending(cx.waker());
                        // Children that are all gone no longer hold the scopes around us.
                        shared.settle(cx.waker(), false);
                        if !region.should_drop(shared.has_failed()) {
                            return Poll::Pending;
                        }
                        dropped = true;
                    }
                }
            }
            if let Err(payload) = catch_unwind(AssertUnwindSafe(|| this.body.set(None))) {
                shared.record(Failure::Panic(payload, body_origin(this.site)));
            }
            let caught = dropped && !shared.has_failed();
            if caught {
                shared.node.set(crate::node::CAUGHT);
            }
            *this.phase = Phase::Wait;
        }
        // Phase::Wait: every child must be gone. The nursery's deadline still applies to them.
        if !shared.settle(cx.waker(), true) {
            region.arm();
            return Poll::Pending;
        }
        *this.phase = Phase::Done;
        let caught = shared.node.has(crate::node::CAUGHT);
        shared.node.exit(caught);
        let failure = shared.failure.lock().take();
        match failure {
            None => Poll::Ready(Ok(this.value.take())),
            Some(failure) => {
                failure.report(Fate::Propagated);
                match failure {
                    Failure::Error(error, _) => Poll::Ready(Err(error)),
                    Failure::Panic(payload, _) => resume_unwind(payload),
                }
            }
        }
    }
}

fn body_origin(site: &'static Location<'static>) -> Origin {
    Origin {
        name: None,
        site,
        body: true,
    }
}

/// A handle to a child's output; `join` it to get the value. Dropping it does not cancel the
/// child.
///
/// # Examples
///
/// See [`Nursery`].
pub struct TaskHandle<T> {
    join: JoinHandle<Option<T>>,
}

impl<T> fmt::Debug for TaskHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskHandle")
            .field("id", &self.join.id())
            .finish()
    }
}

impl<T: Send + 'static> TaskHandle<T> {
    /// Waits for the child: `Ok(value)` if it returned `Ok(value)`, `Err(Cancelled)` if it was
    /// cancelled or failed (its failure went to the nursery). Also works after the nursery has
    /// closed.
    ///
    /// # Examples
    ///
    /// See [`Nursery`].
    pub async fn join(self) -> Result<T, Cancelled> {
        match self.join.await {
            Ok(Some(value)) => Ok(value),
            _ => Err(Cancelled),
        }
    }

    /// Whether the child's task has completed. The nursery waits until every child's future
    /// has been dropped; the runtime marks the task complete an instant later, so right after
    /// `open_nursery` returns this may still read `false` for a moment. [`join`](Self::join)
    /// always has the value then.
    ///
    /// # Examples
    ///
    /// ```
    /// # let rt = creche_timer::__doc_runtime();
    /// # rt.block_on(async {
    /// creche_nursery::open_nursery(|n| async move {
    ///     let handle = n.spawn(async { creche_timer::sleep_forever().await; Ok::<_, ()>(1) });
    ///     assert!(!handle.is_finished());
    ///     n.cancel_scope().cancel();
    ///     Ok(())
    /// }).await.unwrap();
    /// # });
    /// ```
    pub fn is_finished(&self) -> bool {
        self.join.is_finished()
    }

    /// The child's task id.
    ///
    /// # Examples
    ///
    /// ```
    /// # let rt = creche_timer::__doc_runtime();
    /// # rt.block_on(async {
    /// creche_nursery::open_nursery(|n| async move {
    ///     let h = n.spawn(async { Ok::<_, ()>(creche_runtime::task::id()) });
    ///     let id = h.id();
    ///     assert_eq!(h.join().await, Ok(id));
    ///     Ok(())
    /// }).await.unwrap();
    /// # });
    /// ```
    pub fn id(&self) -> creche_runtime::TaskId {
        self.join.id()
    }
}

pin_project! {
    /// The future of a child task: the child's decision point (see the module doc).
    pub(crate) struct Child<F, E> {
        #[pin]
        pub(crate) future: Option<F>,
        pub(crate) shared: Arc<NurseryShared<E>>,
        // The node the child runs in when it is not the nursery's (a child being started).
        pub(crate) context: Option<Arc<Node>>,
        // The child's root decision point, pinned by regions inside the child; shared (an
        // `Arc`) because a region entered here keeps it alive, even if that region's future
        // is later moved to another task and outlives this one.
        pub(crate) root: Arc<Decision>,
        pub(crate) polled: bool,
        pub(crate) origin: Origin,
    }

    impl<F, E> PinnedDrop for Child<F, E> {
        fn drop(this: Pin<&mut Self>) {
            let mut this = this.project();
            if this.future.is_some() {
                if let Err(payload) = catch_unwind(AssertUnwindSafe(|| this.future.set(None))) {
                    this.shared.record(Failure::Panic(payload, this.origin.clone()));
                }
            }
            this.shared.remove_child();
        }
    }
}

impl<F, T, E> Future for Child<F, E>
where
    F: Future<Output = Result<T, E>>,
{
    type Output = Option<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let mut this = self.project();
        let root: &Arc<Decision> = this.root;
        let node: &Arc<Node> = this.context.as_ref().unwrap_or(&this.shared.node);
        let _context = context::enter(node, Some(root));
        // Pins are checked first: one load, while the walk reads every ancestor.
        let cancelled = || !root.is_pinned() && node.effectively_cancelled();
        if *this.polled && cancelled() {
            drop_future(this.future, this.shared, this.origin);
            return Poll::Ready(None);
        }
        *this.polled = true;
        let future = this
            .future
            .as_mut()
            .as_pin_mut()
            .expect("polled after completion");
        let output = match catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
            Ok(Poll::Pending) => {
                if !cancelled() {
                    return Poll::Pending;
                }
                None
            }
            Ok(Poll::Ready(Ok(value))) => Some(value),
            Ok(Poll::Ready(Err(error))) => {
                this.shared
                    .record(Failure::Error(error, this.origin.clone()));
                None
            }
            Err(payload) => {
                this.shared
                    .record(Failure::Panic(payload, this.origin.clone()));
                None
            }
        };
        drop_future(this.future, this.shared, this.origin);
        Poll::Ready(output)
    }
}

/// Drops a child's future now (a panic while dropping is the child's failure).
fn drop_future<F, E>(future: Pin<&mut Option<F>>, shared: &NurseryShared<E>, origin: &Origin) {
    let mut future = future;
    if let Err(payload) = catch_unwind(AssertUnwindSafe(|| future.set(None))) {
        shared.record(Failure::Panic(payload, origin.clone()));
    }
}

impl<E: Send + 'static> NurseryShared<E> {
    /// Spawns the task of a child whose entry `key` already exists.
    pub(crate) fn spawn_child<Fut, T>(
        self: &Arc<Self>,
        future: Fut,
        context: Option<Arc<Node>>,
        origin: Origin,
    ) -> creche_runtime::JoinHandle<Option<T>>
    where
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
    {
        self.runtime().spawn(Child {
            future: Some(future),
            shared: self.clone(),
            context,
            root: Arc::new(Decision::new()),
            polled: false,
            origin,
        })
    }
}
