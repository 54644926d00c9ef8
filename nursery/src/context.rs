//! The thread-local cancellation context: which node the code being polled runs in, and which
//! decision point encloses it.
//!
//! A decision point (a scope's `run`, a nursery, a nursery child's root) sets the context for
//! the duration of each poll of its body and restores the previous one afterwards, so the
//! context always names the innermost region of the code on this thread's stack. Nothing is
//! kept across polls. The first entry installs [`probe`] as the runtime's cancellation probe.

use crate::node::{Decision, Node};
use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

crate::sync::thread_local! {
    static CURRENT: Cell<(*const Arc<Node>, *const Decision)> =
        const { Cell::new((std::ptr::null(), std::ptr::null())) };
}

static PROBE_INSTALLED: AtomicBool = AtomicBool::new(false);

/// Restores the previous context when dropped.
pub(crate) struct Entered {
    previous: (*const Arc<Node>, *const Decision),
}

/// Makes `node` (held by the caller's pinned future for the whole poll) the current context.
pub(crate) fn enter(node: &Arc<Node>, decision: &Decision) -> Entered {
    if !PROBE_INSTALLED.load(Ordering::Relaxed) {
        PROBE_INSTALLED.store(true, Ordering::Relaxed);
        creche_runtime::cancel::install_probe(probe);
    }
    let previous = CURRENT.with(|current| current.replace((node, decision)));
    Entered { previous }
}

impl Drop for Entered {
    fn drop(&mut self) {
        CURRENT.with(|current| current.set(self.previous));
    }
}

/// Runs `f` with the current node and decision point (both `None` outside any region).
pub(crate) fn with_current<R>(f: impl FnOnce(Option<&Arc<Node>>, *const Decision) -> R) -> R {
    let (node, decision) = CURRENT.with(Cell::get);
    // SAFETY: a non-null pointer was set by `enter` from a reference that the entering
    // decision point keeps alive until its `Entered` guard (further up this stack) restores the
    // previous value.
    f(unsafe { node.as_ref() }, decision)
}

/// The current node, cloned.
pub(crate) fn current_node() -> Option<Arc<Node>> {
    with_current(|node, _| node.cloned())
}

/// The runtime's cancellation probe: is the code being polled in a cancelled region?
pub(crate) fn probe() -> bool {
    with_current(|node, _| node.is_some_and(|node| node.effectively_cancelled()))
}
