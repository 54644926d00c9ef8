//! The thread-local cancellation context: which node the code being polled runs in, and which
//! decision point encloses it.
//!
//! A decision point (a scope's `run`, a nursery, a nursery child's root) sets the context for
//! the duration of each poll of its body and restores the previous one afterwards, so the
//! context always names the innermost region of the code on this thread's stack. Nothing is
//! kept across polls. The first entry installs [`probe`] as the runtime's cancellation probe.
//!
//! The decision point is the current node's own, or, at the top of a nursery child, the child
//! task's root decision (an `Arc`, so that a region entered there can keep it alive: a region's
//! future may be moved to another task and outlive this one).

use crate::node::{Decision, Node};
use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

crate::sync::thread_local! {
    static CURRENT: Cell<(*const Arc<Node>, *const Arc<Decision>)> =
        const { Cell::new((std::ptr::null(), std::ptr::null())) };
}

static PROBE_INSTALLED: AtomicBool = AtomicBool::new(false);

/// Restores the previous context when dropped.
pub(crate) struct Entered {
    previous: (*const Arc<Node>, *const Arc<Decision>),
}

/// Makes `node` (held by the caller for the whole poll) the current context; the enclosing
/// decision point is `root` if given (a child task's root), else the node's own.
pub(crate) fn enter(node: &Arc<Node>, root: Option<&Arc<Decision>>) -> Entered {
    if !PROBE_INSTALLED.load(Ordering::Relaxed) {
        PROBE_INSTALLED.store(true, Ordering::Relaxed);
        creche_runtime::cancel::install_probe(probe);
    }
    let root = root.map_or(std::ptr::null(), |root| root as *const Arc<Decision>);
    let previous = CURRENT.with(|current| current.replace((node, root)));
    Entered { previous }
}

impl Drop for Entered {
    fn drop(&mut self) {
        CURRENT.with(|current| current.set(self.previous));
    }
}

/// Runs `f` with the current node and, when the enclosing decision point is a task's root
/// rather than the node's own, that root (both `None` outside any region).
pub(crate) fn with_current<R>(
    f: impl FnOnce(Option<&Arc<Node>>, Option<&Arc<Decision>>) -> R,
) -> R {
    let (node, root) = CURRENT.with(Cell::get);
    // SAFETY: non-null pointers were set by `enter` from references that the entering decision
    // point keeps alive until its `Entered` guard (further up this stack) restores the previous
    // value.
    f(unsafe { node.as_ref() }, unsafe { root.as_ref() })
}

/// The current decision point as a pointer, with what keeps it alive: the root's `Arc`, or
/// the node that owns it (null and `None`s outside any region).
pub(crate) fn current_decision() -> (*const Decision, Option<Arc<Decision>>, Option<Arc<Node>>) {
    with_current(|node, root| match (node, root) {
        (_, Some(root)) => (Arc::as_ptr(root), Some(root.clone()), None),
        (Some(node), None) => (&node.decision as *const Decision, None, Some(node.clone())),
        (None, None) => (std::ptr::null(), None, None),
    })
}

/// The current node, cloned.
pub(crate) fn current_node() -> Option<Arc<Node>> {
    with_current(|node, _| node.cloned())
}

/// The runtime's cancellation probe: is the code being polled in a cancelled region?
#[inline]
pub(crate) fn probe() -> bool {
    with_current(|node, _| node.is_some_and(|node| node.effectively_cancelled()))
}
