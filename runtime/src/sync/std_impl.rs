//! The normal build: `std` atomics and threads, `parking_lot` locks.

pub(crate) use std::sync::Arc;
pub(crate) use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering, fence};
pub(crate) use std::thread;

/// A mutex with the `parking_lot` API (no poisoning).
pub(crate) type Mutex<T> = parking_lot::Mutex<T>;
/// The guard of [`Mutex`].
pub(crate) type MutexGuard<'a, T> = parking_lot::MutexGuard<'a, T>;
/// The guard of `Mutex::try_lock` (the same type here; loom's shim needs its own).
pub(crate) type TryLockGuard<'a, T> = parking_lot::MutexGuard<'a, T>;
/// A condition variable whose `wait` takes and returns the guard (loom's shape).
#[derive(Debug, Default)]
pub(crate) struct Condvar(parking_lot::Condvar);

impl Condvar {
    pub(crate) const fn new() -> Self {
        Self(parking_lot::Condvar::new())
    }
    pub(crate) fn wait<'a, T>(&self, mut guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        self.0.wait(&mut guard);
        guard
    }
    pub(crate) fn notify_one(&self) -> bool {
        self.0.notify_one()
    }
    pub(crate) fn notify_all(&self) -> usize {
        self.0.notify_all()
    }
}

/// An `UnsafeCell` with loom's closure-based access API.
#[derive(Debug)]
pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

impl<T> UnsafeCell<T> {
    pub(crate) const fn new(value: T) -> Self {
        Self(std::cell::UnsafeCell::new(value))
    }
    #[inline(always)]
    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }
    #[inline(always)]
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}

/// Waits on `condvar` for at most `timeout`; returns the guard and whether it timed out.
pub(crate) fn wait_timeout<'a, T>(
    condvar: &Condvar,
    mut guard: MutexGuard<'a, T>,
    timeout: std::time::Duration,
) -> (MutexGuard<'a, T>, bool) {
    let timed_out = condvar.0.wait_for(&mut guard, timeout).timed_out();
    (guard, timed_out)
}

macro_rules! creche_thread_local {
    ($($tt:tt)*) => { std::thread_local!($($tt)*); };
}
pub(crate) use creche_thread_local as thread_local;
