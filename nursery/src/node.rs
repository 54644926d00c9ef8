//! The cancellation node shared by cancel scopes, nurseries and `start` hand-overs: its state
//! word, its deadline, the registry through which a cancellation reaches every task beneath it,
//! and the pin counters of decision points.
//!
//! # The protocol
//!
//! **Nodes and the chain.** Every region that can be cancelled is a [`Node`]: a
//! [`CancelScope`](crate::CancelScope) while its body runs, a nursery (covering its body and its
//! children), and the hidden node of a child being started. A node's parent is the node that was
//! current on the thread when it was entered (the thread-local context, see `context`). A task's
//! code is *effectively cancelled* when, walking from the current node outward, a node with
//! `CANCEL_CALLED` is met before (or at) the first node with `SHIELD`.
//!
//! **Decision points drop bodies.** The places that may drop a body are the decision points: a
//! scope's `run`, a nursery's body, and the root of each nursery child. A decision point drops
//! its body only when (a) its own node is cancelled and no node further out (up to a shield) is,
//! so that the outermost cancelled scope catches; (b) its `pins` counter is zero; and (c) the body
//! has been polled at least once. It decides at the start of a poll and again when the body
//! returns `Pending`.
//!
//! **Pins.** A region that must finish before its surroundings may be dropped *pins* every
//! decision point that encloses it in the same task (their `Decision` structs form a chain through
//! `Decision::parent`). A shielded scope pins while it runs with its shield up; a nursery pins
//! while it has live children; a pending `start` pins while its child has not been handed over.
//! Counts are hierarchical: a decision point counts the pinned things directly inside it, and a
//! change travels outward only when a count moves between 0 and 1 (see `adjust_chain`), so every
//! enclosing count is non-zero while anything inside is pinned. Pins never cross a task
//! boundary: a child task's root decision has no parent. Decision points are kept alive by
//! whoever may adjust them: a node holds its parent node (whose decision is its enclosing one)
//! or, at the top of a child task, the task's root decision (an `Arc`); a pending `start` holds
//! the decision it pinned. So a region whose future is moved to another task and outlives the
//! first one touches stale but live counters, never freed memory. A shield's pin changes are
//! made under its node's lock, which is also where it records that it has exited.
//!
//! **Reaching every task.** `cancel()` (and a shield toggle) wakes the owner task of the node and
//! walks the node's registry: registered sub-nodes (skipping shielded ones for a cancel) and the
//! tasks of a nursery. Only nodes that have tasks beneath them register with their parent (a
//! nursery registers itself and, lazily, every ancestor up to one already registered), so a scope
//! that holds no nursery costs its parent nothing. The woken tasks re-evaluate at their
//! decision points; creche's leaf operations (`sleep`, `checkpoint`) return `Pending` while the
//! current context is cancelled, so a cancelled body cannot get past them.
//!
//! **Linearization.** A body is dropped at a decision point's check; a `cancel()` that lands
//! after the body returned `Ready` is reported by `cancel_called()` but not by
//! `cancelled_caught()`. A shield raised before the outer decision point's check prevents the
//! drop; one raised from a destructor while the body is being dropped changes nothing.

use crate::sync::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, Mutex};
use crate::tree::ChildEntry;
use creche_timer::{Instant, TimerEntry, TimerHandle};
use slab::Slab;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Wake, Waker};

/// `cancel()` was called, or the deadline passed while the node was entered.
pub(crate) const CANCEL_CALLED: u32 = 1 << 0;
/// Cancellation from outside does not reach inside.
pub(crate) const SHIELD: u32 = 1 << 1;
/// The body has started running.
pub(crate) const ENTERED: u32 = 1 << 2;
/// The region has ended (its body finished or was dropped).
pub(crate) const EXITED: u32 = 1 << 3;
/// This node's decision point dropped the body.
pub(crate) const CAUGHT: u32 = 1 << 4;
/// The shield pins the enclosing decision points (changed under `inner`'s lock).
const SHIELD_PINNING: u32 = 1 << 5;
/// The deadline is kept in the timer wheel (set under `timer`'s lock).
const ARMED: u32 = 1 << 6;
/// Registered with the parent or the tree's roots (set under `inner`'s lock).
const REGISTERED: u32 = 1 << 7;
/// `inner.owner` holds a waker (set by the owning task).
const OWNED: u32 = 1 << 8;

/// `key_in_parent` of a node registered in the tree's list of roots.
const ROOT_KEY: usize = usize::MAX;

/// What kind of region a node is (for `task_tree` and `Debug`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Scope,
    Nursery,
    Starting,
    Root,
}

/// A decision point's pin counter and its link to the enclosing decision point of the same task.
#[derive(Debug)]
pub(crate) struct Decision {
    /// The count, changed only under its lock (see `adjust_chain`).
    count: Mutex<usize>,
    /// `count != 0`, for the decisions, which read it without the lock.
    pinned: AtomicBool,
    parent: AtomicPtr<Decision>,
}

impl Default for Decision {
    fn default() -> Decision {
        Decision::new()
    }
}

impl Decision {
    pub(crate) fn new() -> Decision {
        Decision {
            count: Mutex::new(0),
            pinned: AtomicBool::new(false),
            parent: AtomicPtr::new(std::ptr::null_mut()),
        }
    }

    pub(crate) fn is_pinned(&self) -> bool {
        self.pinned.load(Ordering::SeqCst)
    }

    pub(crate) fn set_parent(&self, parent: *const Decision) {
        self.parent.store(parent.cast_mut(), Ordering::Release);
    }

    pub(crate) fn parent(&self) -> *const Decision {
        self.parent.load(Ordering::Acquire)
    }

    /// Pins (or unpins) the decision point `start`, and its enclosing ones as far as needed:
    /// a decision point's count is the number of pinned things directly inside it (regions,
    /// and inner decision points that are pinned), so a change travels outward only while a
    /// count moves between 0 and 1. A region nested deep in one task touches two or three
    /// decision points, not one per enclosing scope. Every enclosing count stays at least 1
    /// while anything inside is pinned: an unpin travels only from a count that reaches 0.
    ///
    /// Each count is changed under its lock, and a change that travels outward keeps that lock
    /// until the outer ones are done: a second pinner of the same decision point waits for the
    /// first one's propagation, so when `adjust_chain` returns, every enclosing decision point
    /// reads as pinned (a `set_shield(true)` that has returned is seen by the next decision).
    ///
    /// # Safety
    ///
    /// `start` is alive (the caller holds what keeps it alive: its node, or a task root's
    /// `Arc`). Then so is every decision point further out: a node keeps its parent decision
    /// alive (its parent node's own, through the parent link, or a task's root, through
    /// `root_decision`), and a task's root has no parent.
    pub(crate) unsafe fn adjust_chain(start: *const Decision, pin: bool) {
        if start.is_null() {
            return;
        }
        // SAFETY: the caller guarantees the chain is alive.
        let decision = unsafe { &*start };
        let mut count = decision.count.lock();
        let before = *count;
        *count = if pin { before + 1 } else { before - 1 };
        decision.pinned.store(*count != 0, Ordering::SeqCst);
        if before == usize::from(!pin) {
            // 0 -> 1 or 1 -> 0: the enclosing decision point changes too, while this lock is
            // held (lock order: inner before outer, as the chain only goes outward).
            // SAFETY: as above.
            unsafe { Decision::adjust_chain(decision.parent(), pin) };
        }
        drop(count);
    }
}

/// The mutable part of a node, under its lock.
#[derive(Default)]
pub(crate) struct Inner {
    /// The waker of the task that polls this node's decision point.
    pub(crate) owner: Option<Waker>,
    /// Registered sub-nodes (ones with tasks beneath them).
    pub(crate) subnodes: Slab<Arc<Node>>,
    /// Where this node is registered in its parent's `subnodes`.
    pub(crate) key_in_parent: Option<usize>,
    /// A nursery's children (and starts in flight).
    pub(crate) tasks: Slab<ChildEntry>,
    /// A nursery's live children pin the enclosing decision points.
    pub(crate) children_pinning: bool,
    /// The nursery's future is gone: its decision chain must not be touched again.
    pub(crate) detached: bool,
    /// A starting child's task (woken by a cancellation that reaches the hidden node).
    pub(crate) starting_task: Option<creche_runtime::AbortHandle>,
    /// Parents this node had before a `start` hand-over; kept alive for concurrent walkers.
    pub(crate) retired_parents: Vec<Arc<Node>>,
    /// Distinguishes the children that reuse a slab key (see `ChildEntry::token`).
    pub(crate) next_token: u64,
}

/// The deadline's timer, under its own lock (firing it calls `cancel`, which takes `inner`).
#[derive(Default)]
struct DeadlineTimer {
    handle: Option<TimerHandle>,
    entry: Option<TimerEntry>,
}

/// A cancellable region; see the module doc.
pub(crate) struct Node {
    flags: AtomicU32,
    /// Nanoseconds of the deadline on the runtime's clock; `u64::MAX` for none.
    deadline: AtomicU64,
    /// The enclosing node (an `Arc` leaked into the pointer, owned by this node), or null.
    parent: AtomicPtr<Node>,
    pub(crate) kind: Kind,
    /// Where a nursery was opened (for the tree).
    pub(crate) site: Option<&'static std::panic::Location<'static>>,
    /// The task the region was entered on (for the tree).
    /// (`TaskId::as_u64`, 0 for none; recorded when the node registers.)
    task: std::sync::atomic::AtomicU64,
    pub(crate) decision: Decision,
    /// Keeps a task's root decision alive when it is this node's enclosing decision point (the
    /// parent decision is otherwise the parent node's own, kept alive by the parent link).
    root_decision: std::sync::OnceLock<Arc<Decision>>,
    pub(crate) inner: Mutex<Inner>,
    timer: Mutex<DeadlineTimer>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("kind", &self.kind)
            .field("flags", &self.flags())
            .field("deadline", &self.deadline())
            .finish()
    }
}

impl Node {
    pub(crate) fn new(kind: Kind) -> Node {
        Node::with_site(kind, None)
    }

    pub(crate) fn with_site(
        kind: Kind,
        site: Option<&'static std::panic::Location<'static>>,
    ) -> Node {
        Node {
            site,
            flags: AtomicU32::new(0),
            deadline: AtomicU64::new(u64::MAX),
            parent: AtomicPtr::new(std::ptr::null_mut()),
            kind,
            task: std::sync::atomic::AtomicU64::new(0),
            decision: Decision::new(),
            root_decision: std::sync::OnceLock::new(),
            inner: Mutex::new(Inner::default()),
            timer: Mutex::new(DeadlineTimer::default()),
        }
    }

    /// The task the region was entered on, if it is registered and was entered in a task.
    pub(crate) fn task_id(&self) -> Option<u64> {
        Some(self.task.load(Ordering::Relaxed)).filter(|&id| id != 0)
    }

    pub(crate) fn flags(&self) -> u32 {
        self.flags.load(Ordering::Acquire)
    }

    pub(crate) fn has(&self, flag: u32) -> bool {
        self.flags() & flag != 0
    }

    /// Sets `flag`; returns the flags before.
    pub(crate) fn set(&self, flag: u32) -> u32 {
        self.flags.fetch_or(flag, Ordering::AcqRel)
    }

    pub(crate) fn parent(&self) -> Option<&Node> {
        let parent = self.parent.load(Ordering::Acquire);
        // SAFETY: a non-null parent pointer came from `Arc::into_raw`, and this node keeps that
        // reference (or, after a hand-over, a clone in `retired_parents`) until it drops.
        unsafe { parent.as_ref() }
    }

    pub(crate) fn parent_arc(&self) -> Option<Arc<Node>> {
        let parent = self.parent.load(Ordering::Acquire);
        if parent.is_null() {
            return None;
        }
        // SAFETY: as in `parent`; the strong count is raised before the Arc is made.
        unsafe {
            Arc::increment_strong_count(parent);
            Some(Arc::from_raw(parent))
        }
    }

    /// Sets the parent at entry (the node is not shared with other threads' walks yet).
    pub(crate) fn set_parent(&self, parent: Option<Arc<Node>>) {
        if let Some(parent) = parent {
            let old = self
                .parent
                .swap(Arc::into_raw(parent).cast_mut(), Ordering::AcqRel);
            debug_assert!(old.is_null(), "a node's parent is set once at entry");
        }
    }

    /// At entry: the enclosing decision point is a task's root; keep it alive and link to it.
    pub(crate) fn keep_root_decision(&self, root: Arc<Decision>) {
        self.decision.set_parent(Arc::as_ptr(&root));
        let _ = self.root_decision.set(root);
    }

    /// Moves a started child's node under `new_parent`, keeping the old parent alive for walks
    /// in flight. Called under `inner`'s lock.
    pub(crate) fn replace_parent(&self, inner: &mut Inner, new_parent: Arc<Node>) {
        let old = self
            .parent
            .swap(Arc::into_raw(new_parent).cast_mut(), Ordering::AcqRel);
        if !old.is_null() {
            // SAFETY: `old` came from `Arc::into_raw` and this node owned that reference.
            inner.retired_parents.push(unsafe { Arc::from_raw(old) });
        }
    }

    // ---- cancellation state ---------------------------------------------------------------

    /// The deadline as an instant (`Instant::MAX` for none).
    pub(crate) fn deadline(&self) -> Instant {
        Instant::from_nanos(self.deadline.load(Ordering::Acquire))
    }

    /// Whether `cancel()` was called or the deadline passed (sticky once seen).
    pub(crate) fn cancel_called(self: &Arc<Node>) -> bool {
        let flags = self.flags();
        if flags & CANCEL_CALLED != 0 {
            return true;
        }
        if flags & EXITED != 0 {
            return false;
        }
        let deadline = self.deadline();
        if deadline != Instant::MAX
            && creche_timer::try_current_time().is_some_and(|now| now >= deadline)
        {
            self.cancel();
            return true;
        }
        false
    }

    /// Whether code running directly in this node is cancelled (this node or an ancestor, up to
    /// the first shield).
    pub(crate) fn effectively_cancelled(&self) -> bool {
        let mut node = self;
        loop {
            let flags = node.flags();
            if flags & CANCEL_CALLED != 0 {
                return true;
            }
            if flags & SHIELD != 0 {
                return false;
            }
            match node.parent() {
                Some(parent) => node = parent,
                None => return false,
            }
        }
    }

    /// Whether a node further out than this one (up to this node's or a later shield) is
    /// cancelled: then an outer decision point catches, not this one.
    pub(crate) fn outer_cancelled(&self) -> bool {
        if self.has(SHIELD) {
            return false;
        }
        self.parent().is_some_and(Node::effectively_cancelled)
    }

    /// Cancels the node: sets `CANCEL_CALLED` and wakes every task beneath it. Idempotent.
    pub(crate) fn cancel(self: &Arc<Node>) {
        let before = self.set(CANCEL_CALLED);
        if before & CANCEL_CALLED != 0 || before & ENTERED == 0 || before & EXITED != 0 {
            return;
        }
        self.wake_subtree(true);
    }

    /// Wakes the owner task of this node and of every registered sub-node, and every task of
    /// the nurseries among them. With `skip_shielded`, the walk does not enter shielded
    /// sub-nodes (a cancellation does not reach them).
    pub(crate) fn wake_subtree(self: &Arc<Node>, skip_shielded: bool) {
        let mut owners = Vec::new();
        let mut stack = vec![self.clone()];
        while let Some(node) = stack.pop() {
            let inner = node.inner.lock();
            if let Some(owner) = &inner.owner {
                owners.push(owner.clone());
            }
            for (_, sub) in &inner.subnodes {
                if !(skip_shielded && sub.has(SHIELD)) {
                    stack.push(sub.clone());
                }
            }
            // Runtime tasks only schedule themselves when woken: safe under the lock.
            for (_, child) in &inner.tasks {
                if let Some(task) = child.task.as_ref().filter(|t| !t.is_finished()) {
                    task.wake();
                }
            }
            if let Some(task) = &inner.starting_task {
                task.wake();
            }
        }
        for owner in owners {
            owner.wake();
        }
    }

    /// Records the waker of the task polling this node's decision point.
    pub(crate) fn set_owner(&self, waker: &Waker) {
        let mut inner = self.inner.lock();
        self.set_owner_locked(&mut inner, waker);
    }

    /// [`set_owner`](Node::set_owner) with the lock held.
    pub(crate) fn set_owner_locked(&self, inner: &mut Inner, waker: &Waker) {
        match &inner.owner {
            Some(owner) if owner.will_wake(waker) => {}
            _ => {
                inner.owner = Some(waker.clone());
                self.set(OWNED);
            }
        }
    }

    // ---- shield ---------------------------------------------------------------------------

    /// Raises or lowers the shield; while the region runs this pins or unpins the enclosing
    /// decision points and wakes the tasks inside, which re-evaluate.
    pub(crate) fn set_shield(self: &Arc<Node>, shield: bool) {
        {
            let _inner = self.inner.lock();
            if shield {
                self.set(SHIELD);
            } else {
                self.flags.fetch_and(!SHIELD, Ordering::SeqCst);
            }
            let flags = self.flags();
            let running = flags & ENTERED != 0 && flags & EXITED == 0;
            let pinning = flags & SHIELD_PINNING != 0;
            if running && shield != pinning {
                // SAFETY: the parent decision is kept alive by this node (its
                // node's parent link or `root_decision`), which `self` holds; see `adjust_chain`.
                unsafe { Decision::adjust_chain(self.decision.parent(), shield) };
                if shield {
                    self.set(SHIELD_PINNING);
                } else {
                    self.flags.fetch_and(!SHIELD_PINNING, Ordering::SeqCst);
                }
            }
            if !running {
                return;
            }
        }
        self.wake_subtree(false);
    }

    /// Pins the enclosing decision points at entry if the shield is up.
    pub(crate) fn pin_shield_at_entry(&self) {
        let _inner = self.inner.lock();
        let flags = self.flags();
        if flags & SHIELD != 0 && flags & SHIELD_PINNING == 0 {
            self.set(SHIELD_PINNING);
            // SAFETY: the parent decision is kept alive by this node (its
            // node's parent link or `root_decision`), which `self` holds; see `adjust_chain`.
            unsafe { Decision::adjust_chain(self.decision.parent(), true) };
        }
    }

    // ---- registry -------------------------------------------------------------------------

    /// Registers this node (and, lazily, its ancestors) so that cancellations from above reach
    /// the tasks beneath it.
    pub(crate) fn register_upward(self: &Arc<Node>) {
        let mut node = self.clone();
        loop {
            // Lock order: a node before its parent, never the reverse.
            let mut inner = node.inner.lock();
            if inner.key_in_parent.is_some() || node.has(EXITED) {
                return; // registered already, or gone (a hand-over racing a foreign drop)
            }
            // The nodes registered here were all entered on this task (a chain from another
            // task reaches this one through a nursery, which registered at its entry).
            let task = creche_runtime::task::try_id().map_or(0, |id| id.as_u64());
            node.task.store(task, Ordering::Relaxed);
            let Some(parent) = node.parent_arc() else {
                inner.key_in_parent = Some(ROOT_KEY);
                node.set(REGISTERED);
                drop(inner);
                crate::tree::register_root(&node);
                return;
            };
            let key = parent.inner.lock().subnodes.insert(node.clone());
            inner.key_in_parent = Some(key);
            node.set(REGISTERED);
            drop(inner);
            if parent.has(REGISTERED) {
                return; // the usual case: a nursery inside a registered nursery
            }
            node = parent;
        }
    }

    /// Removes this node from its parent's registry (at exit).
    pub(crate) fn deregister(self: &Arc<Node>) {
        let key = {
            let mut inner = self.inner.lock();
            self.flags.fetch_and(!REGISTERED, Ordering::SeqCst);
            inner.key_in_parent.take()
        };
        match (key, self.parent()) {
            (None, _) => {}
            (Some(ROOT_KEY), _) | (Some(_), None) => crate::tree::deregister_root(self),
            (Some(key), Some(parent)) => {
                let removed = parent.inner.lock().subnodes.try_remove(key);
                drop(removed);
            }
        }
    }

    // ---- deadline -------------------------------------------------------------------------

    /// Moves the deadline. A deadline that had already passed cancels the node first, so it
    /// stays cancelled; a deadline in the past cancels it now. While armed, the timer moves too.
    pub(crate) fn set_deadline(self: &Arc<Node>, deadline: Instant) {
        let _ = self.cancel_called();
        // SeqCst with `arm_deadline`'s flag: one of the two sees the other.
        self.deadline.store(deadline.as_nanos(), Ordering::SeqCst);
        let flags = self.flags.load(Ordering::SeqCst);
        if flags & EXITED != 0 {
            return;
        }
        if flags & ARMED != 0 {
            let mut timer = self.timer.lock();
            // `exit` sets EXITED before it takes this lock to drop the entry: checked here, no
            // entry is made again after it.
            if !self.has(EXITED) {
                self.arm_locked(&mut timer);
            }
        }
        let _ = self.cancel_called();
    }

    /// Sets the deadline of a node that has not been entered, given the current time (what
    /// `move_on_after` does at its first poll: no second clock read, no lock).
    pub(crate) fn init_deadline(&self, deadline: Instant, now: Instant) {
        self.deadline.store(deadline.as_nanos(), Ordering::SeqCst);
        if deadline <= now {
            self.set(CANCEL_CALLED);
        }
    }

    /// Called by a decision point when its body first returns `Pending` (on the task's
    /// thread): from now on the deadline lives in the timer wheel, and a deadline set later,
    /// from any thread, is put there too.
    pub(crate) fn arm_deadline(self: &Arc<Node>) {
        let mut timer = self.timer.lock();
        if self.flags.fetch_or(ARMED, Ordering::SeqCst) & ARMED != 0 {
            return;
        }
        if timer.handle.is_none() {
            timer.handle = TimerHandle::try_current();
        }
        // SeqCst, paired with `set_deadline`'s store and load: one of the two sees the other.
        if self.deadline.load(Ordering::SeqCst) != u64::MAX {
            self.arm_locked(&mut timer);
        }
    }

    fn arm_locked(self: &Arc<Node>, timer: &mut DeadlineTimer) {
        let deadline = self.deadline();
        if deadline == Instant::MAX {
            if let Some(entry) = &mut timer.entry {
                entry.cancel();
            }
            return;
        }
        if timer.handle.is_none() {
            timer.handle = TimerHandle::try_current();
        }
        let Some(handle) = &timer.handle else { return };
        match &mut timer.entry {
            Some(entry) => {
                entry.reset(deadline);
                let waker = Waker::from(Arc::new(DeadlineWaker(Arc::downgrade(self))));
                if !entry.register(&waker) {
                    self.cancel(); // already passed (maybe on a thread with no clock to read)
                }
            }
            None => {
                let mut entry = TimerEntry::new(handle, deadline);
                let waker = Waker::from(Arc::new(DeadlineWaker(Arc::downgrade(self))));
                if !entry.register(&waker) {
                    drop(entry);
                    self.cancel();
                    return;
                }
                timer.entry = Some(entry);
            }
        }
    }

    /// Ends the region: records the result, disarms the deadline, unpins a shield, and leaves
    /// the registry.
    pub(crate) fn exit(self: &Arc<Node>, caught: bool) {
        // One RMW; the locks below are taken only for what the region actually used.
        let before = self.set(EXITED | if caught { CAUGHT } else { 0 });
        if before & (SHIELD | SHIELD_PINNING | OWNED) != 0 {
            let mut inner = self.inner.lock();
            if self.flags() & SHIELD_PINNING != 0 {
                self.flags.fetch_and(!SHIELD_PINNING, Ordering::SeqCst);
                // SAFETY: the parent decision is kept alive by this node (its
                // node's parent link or `root_decision`), which `self` holds; see `adjust_chain`.
                unsafe { Decision::adjust_chain(self.decision.parent(), false) };
            }
            inner.owner = None;
        }
        if before & ARMED != 0 {
            let entry = self.timer.lock().entry.take();
            drop(entry);
        }
        if self.has(REGISTERED) {
            self.deregister();
        }
    }
}

impl Node {
    /// Detaches and returns the parent reference (for an iterative drop).
    fn take_parent(&mut self) -> Option<Arc<Node>> {
        let parent = self.parent.swap(std::ptr::null_mut(), Ordering::AcqRel);
        // SAFETY: a non-null pointer came from `Arc::into_raw`, and the node owned that reference.
        (!parent.is_null()).then(|| unsafe { Arc::from_raw(parent) })
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        // Free a chain of ancestors that only we kept alive in a loop, not by recursion: deeply
        // nested scopes must not overflow the stack when they go.
        let mut parent = self.take_parent();
        while let Some(node) = parent {
            parent = match Arc::try_unwrap(node) {
                Ok(mut node) => node.take_parent(),
                Err(_) => None,
            };
        }
    }
}

crate::sync::thread_local! {
    /// Scope nodes ready for reuse by `move_on_after` and friends on this thread.
    static POOL: std::cell::RefCell<Vec<Arc<Node>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// How many nodes a thread keeps for reuse.
const POOL_SIZE: usize = 16;

/// A fresh node of `kind`: from this thread's pool, or newly allocated.
pub(crate) fn pooled(
    kind: Kind,
    site: Option<&'static std::panic::Location<'static>>,
) -> Arc<Node> {
    match POOL.with(|pool| pool.borrow_mut().pop()) {
        Some(mut node) => {
            let fresh = Arc::get_mut(&mut node).expect("pooled nodes are unshared");
            fresh.kind = kind;
            fresh.site = site;
            node
        }
        None => Arc::new(Node::with_site(kind, site)),
    }
}

/// A fresh scope node (see [`pooled`]).
pub(crate) fn pooled_scope() -> Arc<Node> {
    pooled(Kind::Scope, None)
}

/// The largest child list a pooled node keeps (its allocation is reused by the next nursery).
const POOLED_TASKS_CAPACITY: usize = 64;

/// Returns a node to this thread's pool when nothing else refers to it, resetting it to the
/// state `Node::new` makes. The common case, a scope around a body that finished at once
/// (entered and exited, nothing else), costs a few stores; a nursery's node is reset under its
/// locks (its child list keeps its allocation). A node that still holds anything it cannot
/// shed cheaply (sub-nodes, a registration, a hand-over's history) is simply dropped.
pub(crate) fn recycle(mut node: Arc<Node>) {
    let Some(unique) = Arc::get_mut(&mut node) else {
        return;
    };
    let flags = unique.flags();
    if flags & EXITED == 0 || flags & REGISTERED != 0 || unique.decision.is_pinned() {
        return;
    }
    if unique.kind != Kind::Scope || flags != ENTERED | EXITED {
        let mut inner = unique.inner.lock();
        if !inner.subnodes.is_empty()
            || inner.key_in_parent.is_some()
            || inner.starting_task.is_some()
            || !inner.retired_parents.is_empty()
        {
            return;
        }
        inner.owner = None;
        inner.children_pinning = false;
        inner.detached = false;
        if inner.tasks.capacity() > POOLED_TASKS_CAPACITY {
            inner.tasks = Slab::new();
        } else {
            inner.tasks.clear();
        }
        drop(inner);
        let mut timer = unique.timer.lock();
        timer.entry = None;
        timer.handle = None;
    }
    unique.flags.store(0, Ordering::Relaxed);
    unique.deadline.store(u64::MAX, Ordering::Relaxed);
    unique.task.store(0, Ordering::Relaxed);
    unique.decision.set_parent(std::ptr::null());
    let root = unique.root_decision.take();
    let parent = unique.take_parent();
    POOL.with(|pool| {
        let mut pool = pool.borrow_mut();
        if pool.len() < POOL_SIZE {
            pool.push(node);
        }
    });
    drop((parent, root));
}

/// What the timer wheel does when a deadline passes (loom models call it directly).
pub(crate) fn fire_deadline(node: &Arc<Node>) {
    if !node.has(EXITED) {
        node.cancel();
    }
}

/// The waker the timer wheel holds for a deadline: firing it cancels the node. It holds the
/// node weakly, so that a node that is gone is not kept alive by the wheel.
struct DeadlineWaker(std::sync::Weak<Node>);

impl Wake for DeadlineWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if let Some(node) = self.0.upgrade() {
            fire_deadline(&node);
        }
    }
}
