//! The task tree: every registered nursery (and the scopes and `run` roots above them), with
//! their children, names, spawn sites and states; [`task_tree`] takes a snapshot whose
//! `Display` is the indented tree.
//!
//! Nodes register lazily (see the `node` module): a nursery and the scopes that enclose it are
//! in the tree, a scope that holds no nursery is not. A nursery opened inside a child task is
//! shown under that task.

use crate::node::{EXITED, Kind, Node};
use crate::report::Origin;
use creche_runtime::{AbortHandle, TaskId};
use parking_lot::Mutex;
use std::fmt;
use std::sync::{Arc, Weak};

/// A nursery's record of one child (or of a `start` in flight).
pub(crate) struct ChildEntry {
    /// The child's task, once spawned.
    pub(crate) task: Option<AbortHandle>,
    pub(crate) origin: Origin,
    /// Distinguishes entries that reuse a slab key.
    pub(crate) token: u64,
    /// A child being started (it belongs to its starter until `started`).
    pub(crate) starting: bool,
}

static ROOTS: Mutex<Vec<Weak<Node>>> = Mutex::new(Vec::new());

pub(crate) fn register_root(node: &Arc<Node>) {
    ROOTS.lock().push(Arc::downgrade(node));
}

pub(crate) fn deregister_root(node: &Arc<Node>) {
    let target = Arc::as_ptr(node);
    ROOTS
        .lock()
        .retain(|root| root.as_ptr() != target && root.strong_count() > 0);
}

/// A snapshot of the task tree; its `Display` is one line per nursery, scope and task,
/// indented by depth.
///
/// # Examples
///
/// See [`task_tree`].
#[derive(Debug, Clone)]
pub struct TaskTree {
    lines: Vec<(usize, String)>,
}

impl TaskTree {
    /// The lines of the tree, each with its depth (0 for roots).
    ///
    /// # Examples
    ///
    /// ```
    /// let tree = creche_nursery::task_tree();
    /// for (depth, line) in tree.lines() {
    ///     assert!(!line.is_empty() || depth > 0);
    /// }
    /// ```
    pub fn lines(&self) -> impl Iterator<Item = (usize, &str)> {
        self.lines
            .iter()
            .map(|(depth, line)| (*depth, line.as_str()))
    }
}

impl fmt::Display for TaskTree {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (depth, line) in &self.lines {
            writeln!(f, "{:width$}{line}", "", width = depth * 2)?;
        }
        Ok(())
    }
}

/// Takes a snapshot of every live nursery in the process, with its tasks: names, spawn sites
/// and states (`starting` while a `start` has not handed the child over, `running` otherwise).
///
/// # Examples
///
/// ```
/// # let rt = creche_timer::__doc_runtime();
/// # rt.block_on(async {
/// creche_nursery::open_nursery(|n| async move {
///     n.spawn_named("listener", async { creche_timer::sleep_forever().await; Ok(()) });
///     let tree = creche_nursery::task_tree().to_string();
///     assert!(tree.contains("`listener`"), "{tree}");
///     n.cancel_scope().cancel();
///     Ok::<(), ()>(())
/// }).await.unwrap();
/// # });
/// ```
pub fn task_tree() -> TaskTree {
    let roots: Vec<Arc<Node>> = ROOTS.lock().iter().filter_map(Weak::upgrade).collect();
    let mut lines = Vec::new();
    for root in roots {
        describe(&root, 0, &mut lines);
    }
    TaskTree { lines }
}

fn node_label(node: &Node) -> String {
    let kind = match node.kind {
        Kind::Scope => "cancel scope",
        Kind::Nursery => "nursery",
        Kind::Starting => "starting",
        Kind::Root => "run",
    };
    let mut label = kind.to_string();
    if let Some(site) = node.site {
        label.push_str(&format!(" opened at {site}"));
    }
    if let Some(task) = node.task_id() {
        label.push_str(&format!(" (in task {task})"));
    }
    if node.has(crate::node::CANCEL_CALLED) {
        label.push_str(" [cancelled]");
    }
    label
}

fn describe(node: &Arc<Node>, depth: usize, lines: &mut Vec<(usize, String)>) {
    if node.has(EXITED) {
        return;
    }
    lines.push((depth, node_label(node)));
    let (subnodes, tasks) = {
        let inner = node.inner.lock();
        let subnodes: Vec<Arc<Node>> = inner.subnodes.iter().map(|(_, n)| n.clone()).collect();
        let tasks: Vec<(Option<TaskId>, Origin, bool)> = inner
            .tasks
            .iter()
            .filter(|(_, c)| !c.task.as_ref().is_some_and(AbortHandle::is_finished))
            .map(|(_, c)| {
                (
                    c.task.as_ref().map(AbortHandle::id),
                    c.origin.clone(),
                    c.starting,
                )
            })
            .collect();
        (subnodes, tasks)
    };
    let in_task = |sub: &Arc<Node>, id: Option<TaskId>| {
        id.is_some_and(|id| sub.task_id() == Some(id.as_u64()))
    };
    for sub in &subnodes {
        if !tasks.iter().any(|(id, _, _)| in_task(sub, *id)) {
            describe(sub, depth + 1, lines);
        }
    }
    for (id, origin, starting) in &tasks {
        let mut line = match id {
            Some(id) => format!("task {}", id.as_u64()),
            None => "task (spawning)".to_string(),
        };
        if let Some(name) = origin.name() {
            line.push_str(&format!(" `{name}`"));
        }
        line.push_str(&format!(
            " spawned at {} [{}]",
            origin.site(),
            if *starting { "starting" } else { "running" }
        ));
        lines.push((depth + 1, line));
        for sub in &subnodes {
            if in_task(sub, *id) {
                describe(sub, depth + 2, lines);
            }
        }
    }
}
