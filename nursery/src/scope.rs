//! [`CancelScope`] and the functions built on it: [`move_on_after`], [`move_on_at`],
//! [`fail_after`], [`fail_at`], [`current_effective_deadline`] and [`checkpoint`].
//!
//! A scope runs one body ([`CancelScope::run`]). Cancelling it, from any task or thread, or
//! letting its deadline pass, makes the body's cancellation points (`checkpoint`, `sleep`, ...)
//! stop, wakes the task, and has the scope drop the body at its next decision: `run` then
//! returns `None`. The rules for who drops what (the outermost cancelled scope catches; shielded
//! scopes and nurseries with live children finish first) are in the `node` module's doc and in
//! ARCHITECTURE.md.

use crate::context;
use crate::node::{CANCEL_CALLED, CAUGHT, ENTERED, EXITED, Kind, Node, SHIELD};
use creche_timer::Instant;
use pin_project_lite::pin_project;
use std::fmt;
use std::future::Future;
use std::mem::ManuallyDrop;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker, ready};
use std::time::Duration;

/// A handle to a region of code that can be cancelled as a whole; `Clone + Send + Sync`.
///
/// Create one, hand clones to whoever may cancel it, and run a body in it with
/// [`run`](CancelScope::run). Cancellation is by drop: when the scope is cancelled (by
/// [`cancel`](CancelScope::cancel) or its deadline), the body stops at its next cancellation
/// point and is dropped, and `run` returns `None`. Cleanup that needs to `await` goes after the
/// scope.
///
/// # Examples
///
/// ```
/// use creche_nursery::CancelScope;
/// use std::time::Duration;
///
/// # let rt = creche_timer::__doc_runtime();
/// # rt.block_on(async {
/// let scope = CancelScope::new();
/// scope.deadline_after(Duration::from_millis(10));
/// let out = scope.run(creche_timer::sleep_forever()).await;
/// assert_eq!(out, None);
/// assert!(scope.cancel_called() && scope.cancelled_caught());
/// # });
/// ```
#[derive(Clone)]
pub struct CancelScope {
    pub(crate) node: Arc<Node>,
}

impl Default for CancelScope {
    fn default() -> Self {
        CancelScope::new()
    }
}

impl CancelScope {
    /// A scope that is not cancelled, has no deadline and no shield, and has not run yet.
    ///
    /// # Examples
    ///
    /// ```
    /// let scope = creche_nursery::CancelScope::new();
    /// assert!(!scope.cancel_called());
    /// assert_eq!(scope.deadline(), creche_timer::Instant::MAX);
    /// ```
    pub fn new() -> CancelScope {
        CancelScope {
            node: Arc::new(Node::new(Kind::Scope)),
        }
    }

    /// Runs `body` in this scope: `Some(output)` if it completes, `None` if the scope was
    /// cancelled and dropped it.
    ///
    /// A body whose scope is already cancelled is still polled once, and dropped at its first
    /// `Pending`. A body that completes without waiting again after the cancellation completes
    /// (`Some`, and [`cancelled_caught`](CancelScope::cancelled_caught) stays `false`).
    ///
    /// # Panics
    ///
    /// When polled if the scope has already run a body (a scope runs exactly one).
    ///
    /// # Examples
    ///
    /// ```
    /// # let rt = creche_timer::__doc_runtime();
    /// # rt.block_on(async {
    /// let scope = creche_nursery::CancelScope::new();
    /// assert_eq!(scope.run(async { 5 }).await, Some(5));
    /// # });
    /// ```
    pub fn run<F: Future>(&self, body: F) -> Run<F> {
        Run::new(self.node.clone(), body, None)
    }

    /// Cancels the scope. Idempotent; callable from any task or thread, before, during or
    /// after `run`.
    ///
    /// # Examples
    ///
    /// ```
    /// # let rt = creche_timer::__doc_runtime();
    /// # rt.block_on(async {
    /// let scope = creche_nursery::CancelScope::new();
    /// let handle = scope.clone();
    /// let out = scope.run(async move {
    ///     handle.cancel();
    ///     creche_nursery::checkpoint().await; // cancellation lands here
    ///     unreachable!()
    /// }).await;
    /// assert_eq!(out, None::<()>);
    /// # });
    /// ```
    pub fn cancel(&self) {
        self.node.cancel();
    }

    /// The deadline (`Instant::MAX` when there is none).
    ///
    /// # Examples
    ///
    /// ```
    /// let scope = creche_nursery::CancelScope::new();
    /// scope.set_deadline(creche_timer::Instant::from_nanos(5));
    /// assert_eq!(scope.deadline(), creche_timer::Instant::from_nanos(5));
    /// ```
    pub fn deadline(&self) -> Instant {
        self.node.deadline()
    }

    /// Moves the deadline, earlier or later, also while the body runs. `Instant::MAX` removes
    /// it. A deadline that has passed cancels the scope (for good: moving it later again does
    /// not undo that).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// # let rt = creche_timer::__doc_runtime();
    /// # rt.block_on(async {
    /// let scope = creche_nursery::CancelScope::new();
    /// let handle = scope.clone();
    /// let out = scope.run(async move {
    ///     handle.set_deadline(creche_timer::current_time() + Duration::from_millis(5));
    ///     creche_timer::sleep(Duration::from_secs(60)).await;
    /// }).await;
    /// assert_eq!(out, None);
    /// # });
    /// ```
    pub fn set_deadline(&self, deadline: Instant) {
        self.node.set_deadline(deadline);
    }

    /// Sets the deadline to `d` from now on the runtime's clock (saturating to no deadline).
    ///
    /// # Panics
    ///
    /// Outside a runtime with a timer driver (there is no clock to read).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// # let rt = creche_timer::__doc_runtime();
    /// # rt.block_on(async {
    /// let scope = creche_nursery::CancelScope::new();
    /// scope.deadline_after(Duration::from_secs(1));
    /// assert_eq!(scope.deadline(), creche_timer::current_time() + Duration::from_secs(1));
    /// # });
    /// ```
    pub fn deadline_after(&self, duration: Duration) {
        self.set_deadline(now_plus(duration));
    }

    /// Whether the shield is up.
    ///
    /// # Examples
    ///
    /// ```
    /// let scope = creche_nursery::CancelScope::new();
    /// scope.set_shield(true);
    /// assert!(scope.shield());
    /// ```
    pub fn shield(&self) -> bool {
        self.node.has(SHIELD)
    }

    /// Raises or lowers the shield. A shielded scope is not reached by the cancellation of the
    /// scopes around it (its own `cancel` and deadline still apply), and the scopes around it
    /// wait for it to finish before they drop their bodies. Takes effect while the body runs.
    ///
    /// # Examples
    ///
    /// ```
    /// # let rt = creche_timer::__doc_runtime();
    /// # rt.block_on(async {
    /// use creche_nursery::CancelScope;
    /// let outer = CancelScope::new();
    /// let inner = CancelScope::new();
    /// inner.set_shield(true);
    /// let (o, i) = (outer.clone(), inner.clone());
    /// let out = outer.run(async move {
    ///     o.cancel();
    ///     // The shielded body runs to completion despite the cancelled outer scope.
    ///     let v = i.run(async { creche_nursery::checkpoint().await; 3 }).await;
    ///     assert_eq!(v, Some(3));
    ///     creche_nursery::checkpoint().await; // the outer cancellation lands here
    /// }).await;
    /// assert_eq!(out, None);
    /// # });
    /// ```
    pub fn set_shield(&self, shield: bool) {
        self.node.set_shield(shield);
    }

    /// Whether the scope was cancelled: `cancel()` was called, or the deadline passed while it
    /// could still take effect (before or during `run`).
    ///
    /// # Examples
    ///
    /// ```
    /// let scope = creche_nursery::CancelScope::new();
    /// scope.cancel();
    /// assert!(scope.cancel_called());
    /// ```
    pub fn cancel_called(&self) -> bool {
        self.node.cancel_called()
    }

    /// Whether this scope dropped its body: `run` returned `None` because of this scope (not
    /// one further out, which catches instead when both are cancelled).
    ///
    /// # Examples
    ///
    /// ```
    /// # let rt = creche_timer::__doc_runtime();
    /// # rt.block_on(async {
    /// let scope = creche_nursery::CancelScope::new();
    /// scope.cancel();
    /// assert_eq!(scope.run(creche_timer::sleep_forever()).await, None);
    /// assert!(scope.cancelled_caught());
    /// # });
    /// ```
    pub fn cancelled_caught(&self) -> bool {
        self.node.has(CAUGHT)
    }
}

impl fmt::Debug for CancelScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let flags = self.node.flags();
        let state = if flags & EXITED != 0 {
            "finished"
        } else if flags & ENTERED != 0 {
            "running"
        } else {
            "unentered"
        };
        let mut s = f.debug_struct("CancelScope");
        s.field("state", &state)
            .field("cancel_called", &(flags & CANCEL_CALLED != 0))
            .field("cancelled_caught", &(flags & CAUGHT != 0))
            .field("shield", &(flags & SHIELD != 0));
        let deadline = self.node.deadline();
        if deadline != Instant::MAX {
            s.field("deadline", &deadline);
        }
        s.finish()
    }
}

/// `now + duration` on the current runtime's clock, saturating to `Instant::MAX`.
fn now_plus(duration: Duration) -> Instant {
    let now = creche_timer::try_current_time()
        .expect("creche: a relative deadline needs a clock: call it inside a creche runtime");
    now.checked_add(duration).unwrap_or(Instant::MAX)
}

/// The decision-point part shared by [`Run`] and nurseries: entering the node, and deciding
/// whether to drop the body.
#[derive(Debug)]
pub(crate) struct Region {
    /// Taken out (exactly once) by `Drop`, to go back to the pool.
    pub(crate) node: ManuallyDrop<Arc<Node>>,
    entered: bool,
    polled: bool,
    armed: bool,
    /// The node came from this thread's pool (no handle to it exists): it goes back there.
    pooled: bool,
    owner: Option<Waker>,
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: `node` is not used after this, and this is the only place that takes it.
        let node = unsafe { ManuallyDrop::take(&mut self.node) };
        if self.pooled {
            crate::node::recycle(node);
        }
    }
}

impl Region {
    pub(crate) fn new(node: Arc<Node>) -> Region {
        Region {
            node: ManuallyDrop::new(node),
            entered: false,
            polled: false,
            armed: false,
            pooled: false,
            owner: None,
        }
    }

    /// A region on a scope node of this thread's pool, for scopes nobody holds a handle to
    /// (`move_on_after` and friends): no allocation per scope.
    fn pooled() -> Region {
        Region::returning_to_pool(crate::node::pooled_scope())
    }

    /// A region whose node goes back to this thread's pool when the region is dropped, if
    /// nothing else refers to it then.
    pub(crate) fn returning_to_pool(node: Arc<Node>) -> Region {
        let mut region = Region::new(node);
        region.pooled = true;
        region
    }

    pub(crate) fn is_entered(&self) -> bool {
        self.entered
    }

    /// First poll: links the node under the current context and marks it entered.
    pub(crate) fn enter(&mut self, what: &str) {
        let before = self.node.set(ENTERED);
        assert!(
            before & ENTERED == 0,
            "creche: {what} has already run a body; a scope runs exactly one"
        );
        context::with_current(|parent, root| {
            self.node.set_parent(parent.cloned());
            match (parent, root) {
                // A task's root decision: kept alive by this node from now on.
                (_, Some(root)) => self.node.keep_root_decision(root.clone()),
                // The parent node's own decision: kept alive by the parent link.
                (Some(parent), None) => self.node.decision.set_parent(&parent.decision),
                (None, None) => {}
            }
        });
        if self.node.has(SHIELD) {
            self.node.pin_shield_at_entry();
        }
        self.entered = true;
    }

    /// Whether the body may be dropped now. `failed` lets a nursery with a recorded failure
    /// drop its body even when a scope further out is cancelled too.
    pub(crate) fn should_drop(&self, failed: bool) -> bool {
        self.polled
            && self.node.has(CANCEL_CALLED)
            && (failed || !self.node.outer_cancelled())
            && !self.node.decision.is_pinned()
    }

    /// Marks the body as polled (decisions apply from now on).
    pub(crate) fn mark_polled(&mut self) {
        self.polled = true;
    }

    /// Puts the node's deadline in the timer wheel (once): the region is going to wait.
    pub(crate) fn arm(&mut self) {
        if !self.armed {
            self.armed = true;
            self.node.arm_deadline();
        }
    }

    /// The body returned `Pending`: make sure a cancellation can wake this task, and put the
    /// deadline in the wheel.
    pub(crate) fn on_pending(&mut self, waker: &Waker) {
        if !self.owner.as_ref().is_some_and(|w| w.will_wake(waker)) {
            self.node.set_owner(waker);
            self.owner = Some(waker.clone());
        }
        if !self.armed {
            self.armed = true;
            self.node.arm_deadline();
        }
    }
}

pin_project! {
    /// The future of [`CancelScope::run`], [`move_on_after`] and [`move_on_at`]:
    /// `Some(output)`, or `None` when the scope dropped the body.
    ///
    /// # Examples
    ///
    /// See [`CancelScope::run`].
    #[must_use = "futures do nothing unless polled"]
    pub struct Run<F> {
        region: Region,
        relative: Option<Duration>,
        #[pin]
        body: Option<F>,
        done: bool,
    }

    impl<F> PinnedDrop for Run<F> {
        fn drop(this: Pin<&mut Self>) {
            let mut this = this.project();
            // The region ends even if the body's destructor panics (a shield's pin must go).
            let dropped = catch_unwind(AssertUnwindSafe(|| this.body.set(None)));
            if this.region.is_entered() && !*this.done {
                this.region.node.exit(false);
            }
            if let Err(payload) = dropped {
                resume_unwind(payload);
            }
        }
    }
}

impl<F> fmt::Debug for Run<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Run")
            .field(
                "scope",
                &CancelScope {
                    node: Arc::clone(&self.region.node),
                },
            )
            .finish_non_exhaustive()
    }
}

impl<F: Future> Run<F> {
    fn new(node: Arc<Node>, body: F, relative: Option<Duration>) -> Run<F> {
        Run::with_region(Region::new(node), body, relative)
    }

    fn with_region(region: Region, body: F, relative: Option<Duration>) -> Run<F> {
        Run {
            region,
            relative,
            body: Some(body),
            done: false,
        }
    }
}

impl<F: Future> Future for Run<F> {
    type Output = Option<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<F::Output>> {
        let mut this = self.project();
        assert!(
            !*this.done,
            "creche: a cancel scope's `run` polled after completion"
        );
        if !this.region.is_entered() {
            if let Some(relative) = this.relative.take() {
                let now = creche_timer::try_current_time().expect(
                    "creche: a relative deadline needs a clock: call it inside a creche runtime",
                );
                let deadline = now.checked_add(relative).unwrap_or(Instant::MAX);
                this.region.node.init_deadline(deadline, now);
            }
            this.region.enter("CancelScope::run: this scope");
            if this.region.node.kind == Kind::Root {
                this.region.node.register_upward();
            }
        }
        let _context = context::enter(&this.region.node, None);
        if this.region.should_drop(false) {
            return finish(this.body, this.done, &this.region.node, None);
        }
        this.region.mark_polled();
        let body = this
            .body
            .as_mut()
            .as_pin_mut()
            .expect("body present until done");
        match body.poll(cx) {
            Poll::Ready(output) => finish(this.body, this.done, &this.region.node, Some(output)),
            Poll::Pending => {
                this.region.on_pending(cx.waker());
                if this.region.should_drop(false) {
                    return finish(this.body, this.done, &this.region.node, None);
                }
                Poll::Pending
            }
        }
    }
}

/// A scope registered as a root of the task tree, for `creche::run`.
pub(crate) fn root<F: Future>(body: F) -> Run<F> {
    Run::new(Arc::new(Node::new(Kind::Root)), body, None)
}

/// Drops the body, ends the region, and returns its result.
fn finish<F, T>(
    mut body: Pin<&mut Option<F>>,
    done: &mut bool,
    node: &Arc<Node>,
    output: Option<T>,
) -> Poll<Option<T>> {
    body.set(None);
    *done = true;
    node.exit(output.is_none());
    Poll::Ready(output)
}

/// Runs `body` with a deadline `duration` after its first poll: `Some(output)`, or `None` if
/// the deadline came first (Trio's `move_on_after`).
///
/// # Panics
///
/// When first polled outside a runtime with a timer driver.
///
/// # Examples
///
/// ```
/// use creche_nursery::move_on_after;
/// use std::time::Duration;
/// # let rt = creche_timer::__doc_runtime();
/// # rt.block_on(async {
/// let quick = move_on_after(Duration::from_secs(1), async { 1 }).await;
/// let slow = move_on_after(Duration::from_millis(5), creche_timer::sleep_forever()).await;
/// assert_eq!((quick, slow), (Some(1), None));
/// # });
/// ```
pub fn move_on_after<F: Future>(duration: Duration, body: F) -> Run<F> {
    Run::with_region(Region::pooled(), body, Some(duration))
}

/// Runs `body` until `deadline`: `Some(output)`, or `None` if the deadline came first.
///
/// # Examples
///
/// ```
/// use creche_nursery::move_on_at;
/// use std::time::Duration;
/// # let rt = creche_timer::__doc_runtime();
/// # rt.block_on(async {
/// let deadline = creche_timer::current_time() + Duration::from_millis(5);
/// assert_eq!(move_on_at(deadline, creche_timer::sleep_forever()).await, None);
/// # });
/// ```
pub fn move_on_at<F: Future>(deadline: Instant, body: F) -> Run<F> {
    let region = Region::pooled();
    region.node.set_deadline(deadline);
    Run::with_region(region, body, None)
}

/// The deadline of [`fail_after`] or [`fail_at`] passed before the body completed.
///
/// # Examples
///
/// ```
/// assert_eq!(
///     creche_nursery::TooSlow.to_string(),
///     "the deadline passed before the operation completed"
/// );
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooSlow;

impl fmt::Display for TooSlow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the deadline passed before the operation completed")
    }
}

impl std::error::Error for TooSlow {}

pin_project! {
    /// The future of [`fail_after`] and [`fail_at`].
    ///
    /// # Examples
    ///
    /// See [`fail_after`].
    #[must_use = "futures do nothing unless polled"]
    #[derive(Debug)]
    pub struct FailAt<F> {
        #[pin]
        run: Run<F>,
    }
}

impl<F: Future> Future for FailAt<F> {
    type Output = Result<F::Output, TooSlow>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Poll::Ready(ready!(self.project().run.poll(cx)).ok_or(TooSlow))
    }
}

/// Runs `body` with a deadline `duration` after its first poll: `Ok(output)`, or
/// `Err(TooSlow)` if the deadline came first.
///
/// # Panics
///
/// When first polled outside a runtime with a timer driver.
///
/// # Examples
///
/// ```
/// use creche_nursery::{fail_after, TooSlow};
/// use std::time::Duration;
/// # let rt = creche_timer::__doc_runtime();
/// # rt.block_on(async {
/// let slow = fail_after(Duration::from_millis(5), creche_timer::sleep_forever()).await;
/// assert_eq!(slow, Err(TooSlow));
/// # });
/// ```
pub fn fail_after<F: Future>(duration: Duration, body: F) -> FailAt<F> {
    FailAt {
        run: move_on_after(duration, body),
    }
}

/// Runs `body` until `deadline`: `Ok(output)`, or `Err(TooSlow)` if the deadline came first.
///
/// # Examples
///
/// ```
/// # let rt = creche_timer::__doc_runtime();
/// # rt.block_on(async {
/// let far = creche_timer::current_time() + std::time::Duration::from_secs(60);
/// assert_eq!(creche_nursery::fail_at(far, async { 2 }).await, Ok(2));
/// # });
/// ```
pub fn fail_at<F: Future>(deadline: Instant, body: F) -> FailAt<F> {
    FailAt {
        run: move_on_at(deadline, body),
    }
}

/// The deadline that applies to the code calling this: the nearest of the deadlines of the
/// enclosing scopes, walking outward up to and including the first shielded one.
/// `Instant::MAX` when none has a deadline; `Instant::ZERO` (always in the past) when one of
/// them is already cancelled.
///
/// # Examples
///
/// ```
/// use creche_nursery::{current_effective_deadline, move_on_after};
/// use std::time::Duration;
/// # let rt = creche_timer::__doc_runtime();
/// # rt.block_on(async {
/// assert_eq!(current_effective_deadline(), creche_timer::Instant::MAX);
/// let start = creche_timer::current_time();
/// move_on_after(Duration::from_secs(5), async {
///     assert_eq!(current_effective_deadline(), start + Duration::from_secs(5));
/// }).await;
/// # });
/// ```
pub fn current_effective_deadline() -> Instant {
    context::with_current(|node, _| {
        let mut earliest = Instant::MAX;
        let mut next = node.map(|n| &**n);
        while let Some(node) = next {
            let flags = node.flags();
            if flags & CANCEL_CALLED != 0 {
                return Instant::ZERO;
            }
            earliest = earliest.min(node.deadline());
            if flags & SHIELD != 0 {
                break;
            }
            next = node.parent();
        }
        earliest
    })
}

/// A cancellation point and a scheduling point: yields to the scheduler once (taking one unit
/// of coop budget), and never completes while the calling code is cancelled. Put it in loops
/// that would otherwise never wait.
///
/// A deadline that has passed on the clock is noticed here even before the timer wheel fires
/// it.
///
/// # Examples
///
/// ```
/// # let rt = creche_timer::__doc_runtime();
/// # rt.block_on(async {
/// let scope = creche_nursery::CancelScope::new();
/// let handle = scope.clone();
/// let mut turns = 0;
/// let out = scope.run(async {
///     loop {
///         turns += 1;
///         if turns == 3 {
///             handle.cancel();
///         }
///         creche_nursery::checkpoint().await;
///     }
/// }).await;
/// assert_eq!((out, turns), (None::<()>, 3));
/// # });
/// ```
pub fn checkpoint() -> Checkpoint {
    Checkpoint {
        yielded: false,
        yield_now: creche_runtime::yield_now(),
    }
}

/// The future of [`checkpoint`].
///
/// # Examples
///
/// See [`checkpoint`].
#[must_use = "futures do nothing unless polled"]
#[derive(Debug)]
pub struct Checkpoint {
    yielded: bool,
    /// The runtime's yield: the task is woken only after the worker has polled the others.
    yield_now: creche_runtime::YieldNow,
}

impl Future for Checkpoint {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if cancelled_here_or_deadline_passed() {
            return Poll::Pending;
        }
        let progress = ready!(creche_runtime::coop::poll_proceed(cx));
        if !self.yielded {
            self.yielded = true;
            let pending = Pin::new(&mut self.yield_now).poll(cx);
            debug_assert!(pending.is_pending(), "a fresh yield_now yields");
            return Poll::Pending;
        }
        progress.made_progress();
        Poll::Ready(())
    }
}

/// Whether the current code is cancelled, also counting a deadline that has passed on the
/// clock but not yet fired (that scope is cancelled now).
fn cancelled_here_or_deadline_passed() -> bool {
    let Some(node) = context::current_node() else {
        return false;
    };
    if node.effectively_cancelled() {
        return true;
    }
    let mut next = Some(node);
    let mut now = None;
    while let Some(node) = next {
        let deadline = node.deadline();
        if deadline != Instant::MAX {
            let now = *now
                .get_or_insert_with(|| creche_timer::try_current_time().unwrap_or(Instant::ZERO));
            if now >= deadline {
                node.cancel();
                return true;
            }
        }
        if node.has(SHIELD) {
            break;
        }
        next = node.parent_arc();
    }
    false
}
