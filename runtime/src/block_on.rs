//! `block_on`: running a future on the calling thread.
//!
//! The calling thread parks on its own [`Parker`] (a passenger: it sleeps on its condvar and
//! never blocks in the driver); the future's waker unparks it. Timers and I/O are driven by the
//! workers, so the events of the workers' tasks are dispatched on a worker, where the woken
//! tasks are queued locally, instead of on this thread, which could only hand every one of them
//! to a worker (a cross-thread wake each: on a TCP echo benchmark, 40 times the context
//! switches and twice the time of a `block_on` caller that does not drive).

use crate::coop;
use crate::scheduler::activity::Activity;
use crate::scheduler::parker::{Inner, Parker};
use crate::sync::Arc;
use crate::{Handle, context};
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

pub(crate) fn block_on<F: Future>(handle: &Handle, future: F) -> F::Output {
    let _context = context::enter_block_on(handle);
    let parker = Parker::passenger(handle.shared.driver.clone());
    // A blocking job is counted already: its thread's parks and wakes act on the job's unit.
    let _active = handle
        .shared
        .driver
        .as_ref()
        .filter(|slot| !context::is_counted_by(Arc::as_ptr(&slot.activity).cast()))
        .map(|slot| Active::new(&slot.activity));
    let waker = parker_waker(parker.clone());
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(output) = coop::with_budget(|| future.as_mut().poll(&mut cx)) {
            return output;
        }
        // A passenger is never handed the driver, so it has none to offer on.
        let _ = parker.park();
    }
}

/// Counts a `block_on` caller as active while it is not parked (see `scheduler::activity`).
struct Active<'a>(&'a Activity);

impl<'a> Active<'a> {
    fn new(activity: &'a Activity) -> Self {
        activity.enter();
        Active(activity)
    }
}

impl Drop for Active<'_> {
    fn drop(&mut self) {
        self.0.leave();
    }
}

fn parker_waker(parker: Parker) -> Waker {
    // SAFETY: the vtable below follows the RawWaker contract: data is a counted `Arc<Inner>`
    // pointer from `Parker::into_raw`; clone takes a count, drop and wake release one.
    unsafe { Waker::from_raw(RawWaker::new(parker.into_raw() as *const (), &VTABLE)) }
}

static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake_by_ref, drop_waker);

/// # Safety
///
/// `data` comes from `Parker::into_raw` and its count is still held by the waker.
unsafe fn borrow(data: *const ()) -> std::mem::ManuallyDrop<Parker> {
    // SAFETY: guaranteed by the caller; ManuallyDrop keeps the count where it is.
    std::mem::ManuallyDrop::new(unsafe { Parker::from_raw(data as *const Inner) })
}

/// # Safety
///
/// For every function of this vtable: `data` comes from `Parker::into_raw` and the waker
/// still holds its count.
unsafe fn clone(data: *const ()) -> RawWaker {
    // SAFETY: a waker's data satisfies `borrow`'s contract.
    let parker = unsafe { borrow(data) };
    let copy: Parker = (*parker).clone();
    RawWaker::new(copy.into_raw() as *const (), &VTABLE)
}

unsafe fn wake(data: *const ()) {
    // SAFETY: `wake` consumes the waker's count.
    let parker = unsafe { Parker::from_raw(data as *const Inner) };
    parker.unpark();
}

unsafe fn wake_by_ref(data: *const ()) {
    // SAFETY: a waker's data satisfies `borrow`'s contract.
    unsafe { borrow(data) }.unpark();
}

unsafe fn drop_waker(data: *const ()) {
    // SAFETY: `drop` releases the waker's count.
    drop(unsafe { Parker::from_raw(data as *const Inner) });
}
