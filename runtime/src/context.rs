//! The calling thread's runtime context: which runtime it belongs to, whether it is a worker
//! (and which), the task being polled, and the coop budget.
//!
//! One `const`-initialised thread-local of raw pointers and cells, read on the hot paths
//! (`spawn` and `schedule` read it on every call), set by guards ([`enter_worker`],
//! [`enter_block_on`], [`enter_handle`]) that restore the previous value on drop.
//!
//! Why the pointers are always valid, even when a user drops `EnterGuard`s out of order:
//! - `handle` points into the `Box<Handle>` held by `handle_owner` in the same thread-local.
//!   A guard owns the *previous* box and puts it back on drop, so whatever the drop order, the
//!   pointer and its owner are changed together.
//! - `worker` is set only by the worker thread's own guard, created first and dropped last on
//!   that thread, for a core that lives on the worker's stack frame meanwhile.

use crate::Handle;
use crate::coop::Budget;
use crate::scheduler::worker::Core;
use crate::task::TaskId;
use std::cell::Cell;
use std::ptr;

struct Context {
    /// The current runtime's handle (null: none); points into `handle_owner`.
    handle: Cell<*const Handle>,
    /// Owns the handle `handle` points to.
    handle_owner: Cell<Option<Box<Handle>>>,
    /// The worker core when this thread is one of the runtime's workers (null otherwise).
    worker: Cell<*const Core>,
    /// Whether this thread is driving a runtime (a worker or inside `block_on`): blocking on a
    /// runtime here would deadlock it.
    entered: Cell<bool>,
    /// The task being polled on this thread.
    task: Cell<Option<TaskId>>,
    /// The coop budget of the current poll.
    budget: Cell<Budget>,
    /// While a blocking job runs on this thread: its runtime's activity counter, which already
    /// counts the job (so a `block_on` inside it must not count the thread a second time).
    counted_by: Cell<*const ()>,
}

crate::sync::thread_local! {
    static CONTEXT: Context = const {
        Context {
            handle: Cell::new(ptr::null()),
            handle_owner: Cell::new(None),
            worker: Cell::new(ptr::null()),
            entered: Cell::new(false),
            task: Cell::new(None),
            budget: Cell::new(Budget::unconstrained()),
            counted_by: Cell::new(ptr::null()),
        }
    };
}

/// Runs `f` with the current runtime's handle and, if this thread is one of its workers, the
/// worker's core. `None` outside any runtime (or while the thread is being torn down).
#[inline]
pub(crate) fn with_current<R>(f: impl FnOnce(Option<(&Handle, Option<&Core>)>) -> R) -> R {
    let pointers = CONTEXT
        .try_with(|c| (c.handle.get(), c.worker.get()))
        .unwrap_or((ptr::null(), ptr::null()));
    if pointers.0.is_null() {
        return f(None);
    }
    // SAFETY: a non-null pointer was set by a guard that is still alive on this thread and
    // that keeps the runtime (and, for `worker`, the core) alive (module doc).
    unsafe { f(Some((&*pointers.0, pointers.1.as_ref()))) }
}

/// The current handle, if any.
pub(crate) fn current_handle() -> Option<Handle> {
    with_current(|current| current.map(|(handle, _)| handle.clone()))
}

/// Whether this thread is driving a runtime (a worker, or inside `block_on`).
pub(crate) fn is_entered() -> bool {
    CONTEXT.try_with(|c| c.entered.get()).unwrap_or(false)
}

/// Restores the previous context on drop.
pub(crate) struct ContextGuard {
    /// The handle that was current before, owned while this guard lives.
    previous_handle: Option<Box<Handle>>,
    /// For the worker and block_on guards: what `worker` and `entered` were before.
    previous_driving: Option<(*const Core, bool)>,
}

fn enter(handle: &Handle, driving: Option<(*const Core, bool)>) -> ContextGuard {
    let current = Box::new(handle.clone());
    CONTEXT.with(|c| {
        c.handle.set(&*current);
        let previous_handle = c.handle_owner.replace(Some(current));
        let previous_driving =
            driving.map(|(worker, entered)| (c.worker.replace(worker), c.entered.replace(entered)));
        ContextGuard {
            previous_handle,
            previous_driving,
        }
    })
}

/// Makes `handle` current on this thread (for `Handle::enter` and blocking-pool threads).
pub(crate) fn enter_handle(handle: &Handle) -> ContextGuard {
    enter(handle, None)
}

/// Marks this thread as a worker of `handle`'s runtime, with `core`.
///
/// The caller keeps `core` alive and in place until the guard is dropped, and drops no other
/// context guard of this thread after this one.
pub(crate) fn enter_worker(handle: &Handle, core: &Core) -> ContextGuard {
    enter(handle, Some((core, true)))
}

/// Enters `handle` for `block_on`.
///
/// # Panics
///
/// Panics if this thread already drives a runtime: blocking it would deadlock.
pub(crate) fn enter_block_on(handle: &Handle) -> ContextGuard {
    if is_entered() {
        panic!(
            "block_on was called from inside a creche runtime (a task, or another block_on): \
             blocking a worker thread can deadlock the runtime. Await the future instead, or \
             call block_on from a thread of your own or from spawn_blocking."
        );
    }
    enter(handle, Some((ptr::null(), true)))
}

impl Drop for ContextGuard {
    fn drop(&mut self) {
        let previous = self.previous_handle.take();
        let driving = self.previous_driving;
        let replaced = CONTEXT.try_with(|c| {
            c.handle.set(
                previous
                    .as_deref()
                    .map_or(ptr::null(), |h| h as *const Handle),
            );
            if let Some((worker, entered)) = driving {
                c.worker.set(worker);
                c.entered.set(entered);
            }
            c.handle_owner.replace(previous)
        });
        // Dropped outside the thread-local access: a handle's drop may run arbitrary code.
        drop(replaced);
    }
}

/// Records the task being polled on this thread until the guard drops.
pub(crate) struct TaskGuard(Option<TaskId>);

pub(crate) fn enter_task(id: TaskId) -> TaskGuard {
    TaskGuard(
        CONTEXT
            .try_with(|c| c.task.replace(Some(id)))
            .ok()
            .flatten(),
    )
}

impl Drop for TaskGuard {
    fn drop(&mut self) {
        let _ = CONTEXT.try_with(|c| c.task.set(self.0));
    }
}

pub(crate) fn current_task() -> Option<TaskId> {
    CONTEXT.try_with(|c| c.task.get()).ok().flatten()
}

#[inline]
pub(crate) fn budget() -> Budget {
    CONTEXT
        .try_with(|c| c.budget.get())
        .unwrap_or(Budget::unconstrained())
}

#[inline]
pub(crate) fn set_budget(budget: Budget) -> Budget {
    CONTEXT
        .try_with(|c| c.budget.replace(budget))
        .unwrap_or(Budget::unconstrained())
}

/// Defers `waker` to the current worker's yield list (see `worker::Core::defer`). Returns
/// `false` when this thread is not a worker; the caller then wakes directly.
pub(crate) fn defer(waker: &std::task::Waker) -> bool {
    let is_worker = with_current(|current| matches!(current, Some((_, Some(_)))));
    if !is_worker {
        return false;
    }
    // Clone outside `with_current`: a foreign waker's clone is user code, which must not run
    // while we hold references into the thread-local.
    let mut waker = Some(waker.clone());
    with_current(|current| {
        if let Some((_, Some(core))) = current {
            core.defer(waker.take().expect("taken once"));
        }
    });
    if let Some(waker) = waker {
        waker.wake(); // no longer on a worker (cannot happen today): never lose the wake
    }
    true
}

/// Marks this thread as counted active by `activity` until the guard drops (a blocking job).
pub(crate) struct CountedGuard(*const ());

pub(crate) fn counted_by(activity: *const ()) -> CountedGuard {
    CountedGuard(
        CONTEXT
            .try_with(|c| c.counted_by.replace(activity))
            .unwrap_or(ptr::null()),
    )
}

impl Drop for CountedGuard {
    fn drop(&mut self) {
        let _ = CONTEXT.try_with(|c| c.counted_by.set(self.0));
    }
}

/// Sets what counts this thread active (see `counted_by`), without a guard: a blocking job that
/// took its unit clears it (the pool's guard restores the previous value after the job).
pub(crate) fn set_counted_by(activity: *const ()) {
    let _ = CONTEXT.try_with(|c| c.counted_by.set(activity));
}

/// Whether this thread is already counted active by `activity`.
pub(crate) fn is_counted_by(activity: *const ()) -> bool {
    CONTEXT
        .try_with(|c| c.counted_by.get() == activity)
        .unwrap_or(false)
}
