//! `block_on`: running a future on the calling thread.
//!
//! The calling thread parks on its own [`Parker`]; the future's waker unparks it. When the
//! runtime has a driver and no worker is blocked in it, the caller blocks in the driver itself
//! (and offers it to a worker when it wakes), so it participates in timers and I/O.

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
    let parker = Parker::new(handle.shared.driver.clone());
    let _registration = handle.shared.register_block_on(&parker);
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
        if parker.park().must_offer_driver() {
            handle.shared.offer_driver(&parker);
        }
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
