//! The task allocation and the functions that drive it.
//!
//! A task is one heap allocation, a `#[repr(C)]` [`Cell`]:
//!
//! ```text
//! Header { state, vtable, id, links }   type-erased, reached through a NonNull<Header>
//! scheduler: S                          where to submit the task when it is woken
//! stage: Running(F) | Finished(Result<F::Output, Failure>) | Consumed
//! join_waker: Option<Waker>             the waker of the task awaiting the JoinHandle
//! ```
//!
//! The future and its output share the `stage` slot. Every handle (`Notified`, `Waker`,
//! `JoinHandle`, the owner list's entry) is a `NonNull<Header>` plus one reference counted in
//! the state word; the vtable in the header recovers the concrete `Cell<F, S>`.
//!
//! # Invariants (the `// SAFETY:` comments below point here)
//!
//! - **I1**: the allocation is alive while the refcount in the state word is non-zero; every
//!   handle owns one reference, and only the release of the last one frees it.
//! - **I2**: the ownership rules of the stage and of the join-waker slot are those listed in
//!   `state.rs` (RUNNING owns the future; COMPLETE + JOIN_INTEREST gives the output to the
//!   `JoinHandle`; JOIN_WAKER set makes the slot read-only for both sides, clear gives it to the
//!   `JoinHandle`).
//! - **I3**: `links` is touched only under the owner list's shard lock.

use super::error::{Failure, JoinError};
use super::id::TaskId;
use super::state::{IdleAction, JOIN_INTEREST, JOIN_WAKER, RunAction, State, WakeAction};
use super::{Notified, Schedule, TaskRef};
use crate::context;
use crate::sync::UnsafeCell;
use std::future::Future;
use std::mem::ManuallyDrop;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

/// The type-erased part of every task, at offset 0 of the allocation.
#[repr(C)]
pub(crate) struct Header {
    pub(crate) state: State,
    pub(crate) vtable: &'static Vtable,
    pub(crate) id: TaskId,
    /// Intrusive links of the owner list (I3).
    pub(crate) links: UnsafeCell<Links>,
}

/// Position in the owner list's shard; `prev == None` for the head of a shard.
#[derive(Default)]
pub(crate) struct Links {
    pub(crate) prev: Option<NonNull<Header>>,
    pub(crate) next: Option<NonNull<Header>>,
}

/// Functions that need the concrete `Cell<F, S>`.
pub(crate) struct Vtable {
    /// Runs a notified task; consumes the `Notified`'s reference.
    pub(crate) run: unsafe fn(NonNull<Header>),
    /// Submits a `Notified` whose reference the caller has already accounted for.
    pub(crate) schedule: unsafe fn(NonNull<Header>),
    /// Claims the task if nobody is polling it and drops its future; consumes one reference.
    pub(crate) shutdown: unsafe fn(NonNull<Header>),
    /// `JoinHandle::poll`: writes `Poll<Result<T, JoinError>>` into `dst` when complete.
    pub(crate) try_read_output: unsafe fn(NonNull<Header>, *mut (), &Waker),
    /// `JoinHandle::drop`; consumes the handle's reference.
    pub(crate) drop_join_handle: unsafe fn(NonNull<Header>),
    /// Frees the allocation.
    pub(crate) dealloc: unsafe fn(NonNull<Header>),
}

#[repr(C)]
struct Cell<F: Future, S> {
    header: Header,
    scheduler: S,
    stage: UnsafeCell<Stage<F>>,
    join_waker: UnsafeCell<Option<Waker>>,
}

enum Stage<F: Future> {
    Running(F),
    /// The output, or why there is none; the `JoinHandle` adds the task id to make a
    /// `JoinError` (keeping it out of the stored error saves 8 bytes per task).
    Finished(Result<F::Output, Failure>),
    Consumed,
}

/// Allocates a task whose state is NOTIFIED | JOIN_INTEREST with `refs` references.
pub(crate) fn allocate<F, S>(future: F, scheduler: S, id: TaskId, refs: usize) -> NonNull<Header>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
    S: Schedule,
{
    let cell = Box::new(Cell {
        header: Header {
            state: State::new(refs),
            vtable: vtable::<F, S>(),
            id,
            links: UnsafeCell::new(Links::default()),
        },
        scheduler,
        stage: UnsafeCell::new(Stage::Running(future)),
        join_waker: UnsafeCell::new(None),
    });
    NonNull::from(Box::leak(cell)).cast()
}

fn vtable<F, S>() -> &'static Vtable
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
    S: Schedule,
{
    &Vtable {
        run: run::<F, S>,
        schedule: schedule::<F, S>,
        shutdown: shutdown::<F, S>,
        try_read_output: try_read_output::<F, S>,
        drop_join_handle: drop_join_handle::<F, S>,
        dealloc: dealloc::<F, S>,
    }
}

/// Recovers the concrete cell.
///
/// # Safety
///
/// `ptr` must point to a live `Cell<F, S>` (I1) made by [`allocate`] with these `F` and `S`.
unsafe fn cell<'a, F: Future, S>(ptr: NonNull<Header>) -> &'a Cell<F, S> {
    // SAFETY: the caller guarantees the type and liveness; Header is the first field of a
    // `#[repr(C)]` Cell, so the pointers coincide.
    unsafe { ptr.cast::<Cell<F, S>>().as_ref() }
}

impl<F: Future, S> Cell<F, S> {
    /// Replaces the stage, dropping the old one; returns the payload of a panic while dropping.
    ///
    /// # Safety
    ///
    /// The caller owns the stage (I2).
    unsafe fn set_stage(&self, stage: Stage<F>) -> Result<(), Box<dyn std::any::Any + Send>> {
        catch_unwind(AssertUnwindSafe(|| {
            // SAFETY: the caller owns the stage (I2).
            self.stage.with_mut(|slot| unsafe { *slot = stage })
        }))
    }

    /// Drops the future of a cancelled task and stores the cancellation (or drop panic) error.
    ///
    /// # Safety
    ///
    /// The caller holds RUNNING (I2).
    unsafe fn cancel(&self) {
        // SAFETY: RUNNING is held by the caller.
        let error = match unsafe { self.set_stage(Stage::Consumed) } {
            Ok(()) => Failure::Cancelled,
            Err(panic) => Failure::Panic(panic),
        };
        // SAFETY: as above; writing `Finished` over `Consumed` cannot panic.
        let _ = unsafe { self.set_stage(Stage::Finished(Err(error))) };
    }
}

/// Releases one reference and frees the task if it was the last.
///
/// # Safety
///
/// The caller owns a reference to a live task (I1) and gives it up.
pub(crate) unsafe fn drop_reference(ptr: NonNull<Header>) {
    // SAFETY: the caller's reference keeps the header alive until this decrement.
    let header = unsafe { ptr.as_ref() };
    if header.state.ref_dec(1) {
        // SAFETY: that was the last reference (I1).
        unsafe { (header.vtable.dealloc)(ptr) }
    }
}

/// `Vtable::run`: polls the task once (or cancels it).
///
/// # Safety
///
/// `ptr` is a task made with these `F` and `S`, and the caller gives up the reference of the
/// `Notified` it ran.
unsafe fn run<F, S>(ptr: NonNull<Header>)
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
    S: Schedule,
{
    // SAFETY: `run` is reached through this cell's own vtable, with the Notified's reference.
    let cell = unsafe { cell::<F, S>(ptr) };
    match cell.header.state.transition_to_running() {
        RunAction::Skip => {
            // SAFETY: we give up the Notified's reference.
            return unsafe { drop_reference(ptr) };
        }
        RunAction::Cancel => {
            // SAFETY: RUNNING is ours; `complete` consumes the Notified's reference.
            return unsafe {
                cell.cancel();
                complete(cell, ptr)
            };
        }
        RunAction::Poll => {}
    }

    // The waker passed to the future borrows the runner's reference: no refcount traffic.
    // SAFETY: the raw waker follows WAKER_VTABLE's contract; ManuallyDrop keeps it from
    // releasing a reference it never took.
    let waker = ManuallyDrop::new(unsafe { Waker::from_raw(raw_waker(ptr)) });
    let mut cx = Context::from_waker(&waker);
    let polled = {
        let _task = context::enter_task(cell.header.id);
        catch_unwind(AssertUnwindSafe(|| {
            cell.stage.with_mut(|stage| {
                // SAFETY: RUNNING is ours (I2): nobody else touches the stage.
                match unsafe { &mut *stage } {
                    // SAFETY: the future lives in the heap allocation, which never moves, and
                    // is dropped in place.
                    Stage::Running(future) => unsafe { Pin::new_unchecked(future) }.poll(&mut cx),
                    _ => unreachable!("a running task always holds its future"),
                }
            })
        }))
    };

    let output = match polled {
        Ok(Poll::Pending) => {
            match cell.header.state.transition_to_idle() {
                IdleAction::Done => {}
                IdleAction::Resubmit => cell.scheduler.schedule(Notified::from_raw(ptr), true),
                // SAFETY: RUNNING is still ours; `complete` consumes the runner's reference.
                IdleAction::Cancel => unsafe {
                    cell.cancel();
                    complete(cell, ptr)
                },
            }
            return;
        }
        Ok(Poll::Ready(value)) => {
            // SAFETY: RUNNING is ours. Drop the future before publishing its output.
            match unsafe { cell.set_stage(Stage::Consumed) } {
                Ok(()) => Ok(value),
                Err(panic) => {
                    // The output is not delivered; its destructor may panic as well.
                    let _ = catch_unwind(AssertUnwindSafe(move || drop(value)));
                    Err(Failure::Panic(panic))
                }
            }
        }
        Err(panic) => {
            // SAFETY: RUNNING is ours; a future that panicked is dropped, and a second panic
            // from its destructor is swallowed (the first one is reported).
            let _ = unsafe { cell.set_stage(Stage::Consumed) };
            Err(Failure::Panic(panic))
        }
    };
    // SAFETY: RUNNING is ours; `complete` consumes the runner's reference.
    unsafe {
        let _ = cell.set_stage(Stage::Finished(output));
        complete(cell, ptr)
    }
}

/// Publishes completion, hands the output over, wakes the joiner and releases the task.
///
/// # Safety
///
/// The caller holds RUNNING, has stored `Finished` in the stage, and gives up one reference.
unsafe fn complete<F: Future, S: Schedule>(cell: &Cell<F, S>, ptr: NonNull<Header>) {
    let prev = cell.header.state.transition_to_complete();
    if !prev.is(JOIN_INTEREST) {
        // Nobody will read the output: it is ours to drop (I2). A panic in its destructor has
        // nobody to go to and is swallowed.
        // SAFETY: per I2 the output belongs to the completer when JOIN_INTEREST was clear.
        let _ = unsafe { cell.set_stage(Stage::Consumed) };
    } else if prev.is(JOIN_WAKER) {
        cell.join_waker.with(|slot| {
            // SAFETY: JOIN_WAKER set: the slot is only read by either side (I2).
            if let Some(waker) = unsafe { &*slot } {
                // A joiner's waker is foreign code: if it panics, the task must still be
                // released below, and the thread running us must survive.
                let _ = catch_unwind(AssertUnwindSafe(|| waker.wake_by_ref()));
            }
        });
    }
    let list_reference = cell.scheduler.release(TaskRef(ptr));
    if cell.header.state.ref_dec(1 + usize::from(list_reference)) {
        // SAFETY: those were the last references (I1).
        unsafe { dealloc::<F, S>(ptr) }
    }
}

/// `Vtable::schedule`: submits a `Notified` to the task's scheduler.
///
/// # Safety
///
/// `ptr` is a task made with these `F` and `S`; the caller has counted (and gives up) the
/// reference the submitted `Notified` owns.
unsafe fn schedule<F: Future, S: Schedule>(ptr: NonNull<Header>) {
    // SAFETY: reached through this cell's vtable; the caller accounted a reference for the
    // Notified handle it asks us to submit.
    let cell = unsafe { cell::<F, S>(ptr) };
    cell.scheduler.schedule(Notified::from_raw(ptr), false);
}

/// `Vtable::shutdown`: cancels the task in place unless another thread polls it.
///
/// # Safety
///
/// `ptr` is a task made with these `F` and `S`, and the caller gives up one reference.
unsafe fn shutdown<F: Future, S: Schedule>(ptr: NonNull<Header>) {
    // SAFETY: reached through this cell's vtable with one reference owned by the caller.
    let cell = unsafe { cell::<F, S>(ptr) };
    if cell.header.state.transition_to_shutdown() {
        // SAFETY: we claimed RUNNING; `complete` consumes the caller's reference.
        unsafe {
            cell.cancel();
            complete(cell, ptr)
        }
    } else {
        // SAFETY: we give up the caller's reference.
        unsafe { drop_reference(ptr) }
    }
}

/// `Vtable::try_read_output`: the `JoinHandle`'s poll.
///
/// # Safety
///
/// Called by the task's `JoinHandle` only (it holds JOIN_INTEREST and a reference), with
/// `dst` pointing to a `Poll<Result<F::Output, JoinError>>`.
unsafe fn try_read_output<F: Future, S: Schedule>(
    ptr: NonNull<Header>,
    dst: *mut (),
    waker: &Waker,
) {
    // SAFETY: reached through this cell's vtable from a JoinHandle, which holds a reference.
    let cell = unsafe { cell::<F, S>(ptr) };
    // SAFETY: the JoinHandle (the only caller) satisfies `can_read_output`'s contract.
    if unsafe { can_read_output(cell, waker) } {
        // SAFETY: COMPLETE with JOIN_INTEREST (held by the caller): the output is ours (I2).
        let stage = cell
            .stage
            .with_mut(|stage| unsafe { std::mem::replace(&mut *stage, Stage::Consumed) });
        let Stage::Finished(output) = stage else {
            panic!("a JoinHandle was polled again after it returned its output")
        };
        let output = output.map_err(|failure| JoinError::new(cell.header.id, failure));
        // SAFETY: the JoinHandle passes a `*mut Poll<Result<F::Output, JoinError>>`.
        unsafe { *dst.cast::<Poll<Result<F::Output, JoinError>>>() = Poll::Ready(output) };
    }
}

/// Registers the joiner's waker unless the task is complete; returns whether it is complete.
///
/// # Safety
///
/// Called only by the task's `JoinHandle` (which holds JOIN_INTEREST).
unsafe fn can_read_output<F: Future, S>(cell: &Cell<F, S>, waker: &Waker) -> bool {
    let state = &cell.header.state;
    let snapshot = state.load();
    if snapshot.is(super::state::COMPLETE) {
        return true;
    }
    if snapshot.is(JOIN_WAKER) {
        let same = cell.join_waker.with(|slot| {
            // SAFETY: JOIN_WAKER set: the slot is read-only for both sides (I2).
            unsafe { &*slot }
                .as_ref()
                .is_some_and(|w| w.will_wake(waker))
        });
        if same {
            return false;
        }
        if state.unset_join_waker().is_err() {
            return true;
        }
    }
    // JOIN_WAKER is clear and the task is not complete: the slot is ours (I2).
    // SAFETY: see the line above.
    cell.join_waker
        .with_mut(|slot| unsafe { *slot = Some(waker.clone()) });
    match state.set_join_waker() {
        Ok(()) => false,
        Err(_) => {
            // Completed meanwhile; the slot is still ours: clear it.
            // SAFETY: set_join_waker failed, so JOIN_WAKER stayed clear (I2).
            cell.join_waker.with_mut(|slot| unsafe { *slot = None });
            true
        }
    }
}

/// `Vtable::drop_join_handle`.
///
/// # Safety
///
/// Called once, by the task's `JoinHandle` as it drops; gives up its reference.
unsafe fn drop_join_handle<F: Future, S: Schedule>(ptr: NonNull<Header>) {
    // SAFETY: reached through this cell's vtable from the JoinHandle's drop.
    let cell = unsafe { cell::<F, S>(ptr) };
    match cell.header.state.unset_join_interest() {
        Err(()) => {
            // SAFETY: complete with JOIN_INTEREST: the output is ours to drop (I2); a panic in
            // its destructor is swallowed, as in `complete`.
            let _ = unsafe { cell.set_stage(Stage::Consumed) };
        }
        // SAFETY: we cleared JOIN_WAKER, so the slot is ours (I2).
        Ok(true) => cell.join_waker.with_mut(|slot| unsafe { *slot = None }),
        Ok(false) => {}
    }
    // SAFETY: we give up the JoinHandle's reference.
    unsafe { drop_reference(ptr) }
}

/// `Vtable::dealloc`: frees the allocation.
///
/// # Safety
///
/// The last reference to the task is gone (I1), and `F`/`S` are the task's types.
unsafe fn dealloc<F: Future, S>(ptr: NonNull<Header>) {
    // SAFETY: the last reference is gone (I1); the allocation came from `Box` in `allocate`.
    drop(unsafe { Box::from_raw(ptr.cast::<Cell<F, S>>().as_ptr()) });
}

// ---- Waker ---------------------------------------------------------------------------------

fn raw_waker(ptr: NonNull<Header>) -> RawWaker {
    RawWaker::new(ptr.as_ptr() as *const (), &WAKER_VTABLE)
}

static WAKER_VTABLE: RawWakerVTable =
    RawWakerVTable::new(waker_clone, waker_wake, waker_wake_by_ref, waker_drop);

/// # Safety
///
/// For every `waker_*` function: `data` is the header pointer of a task the waker holds a
/// reference to (I1).
unsafe fn waker_clone(data: *const ()) -> RawWaker {
    // SAFETY: a waker's data is the header pointer of a task it holds a reference to (I1).
    let ptr = unsafe { NonNull::new_unchecked(data as *mut Header) };
    // SAFETY: as above.
    unsafe { ptr.as_ref() }.state.ref_inc();
    raw_waker(ptr)
}

unsafe fn waker_wake(data: *const ()) {
    // SAFETY: as in `waker_clone`; this consumes the waker's reference.
    let ptr = unsafe { NonNull::new_unchecked(data as *mut Header) };
    // SAFETY: the waker's reference keeps the task alive until the transition.
    let header = unsafe { ptr.as_ref() };
    match header.state.transition_to_notified_by_val() {
        // SAFETY: the waker's reference now belongs to the Notified being submitted.
        WakeAction::Submit => unsafe { (header.vtable.schedule)(ptr) },
        // SAFETY: the transition released the last reference.
        WakeAction::Dealloc => unsafe { (header.vtable.dealloc)(ptr) },
        WakeAction::Nothing => {}
    }
}

unsafe fn waker_wake_by_ref(data: *const ()) {
    // SAFETY: as in `waker_clone`.
    let ptr = unsafe { NonNull::new_unchecked(data as *mut Header) };
    // SAFETY: the waker's reference keeps the task alive.
    let header = unsafe { ptr.as_ref() };
    if header.state.transition_to_notified_by_ref() == WakeAction::Submit {
        // SAFETY: the transition took a reference for the Notified being submitted.
        unsafe { (header.vtable.schedule)(ptr) }
    }
}

unsafe fn waker_drop(data: *const ()) {
    // SAFETY: as in `waker_clone`; this gives up the waker's reference.
    unsafe { drop_reference(NonNull::new_unchecked(data as *mut Header)) }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// The allocation of an empty task (`std::future::ready(())` on a runtime). Pinned so that
    /// growth of the header is a conscious decision; ARCHITECTURE.md quotes the figures.
    #[test]
    fn empty_task_size() {
        type Empty = std::future::Ready<()>;
        let header = std::mem::size_of::<Header>();
        let stage = std::mem::size_of::<Stage<Empty>>();
        let task = std::mem::size_of::<Cell<Empty, crate::Handle>>();
        println!("header {header} B, stage {stage} B, empty task {task} B");
        assert_eq!(header, 40);
        assert!(task <= 88, "empty task is {task} bytes");
    }
}
