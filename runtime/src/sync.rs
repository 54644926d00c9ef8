//! The one place the crate takes its synchronisation primitives from.
//!
//! Every atomic, lock, condition variable, `UnsafeCell`, thread and thread-local used by a
//! protocol of this crate is imported from here. Under `--cfg loom` the module swaps in loom's
//! instrumented versions, so the loom models in `loom_tests` explore the real code; in normal
//! builds it re-exports `std` atomics and `parking_lot` locks. crossbeam's deque is not
//! loom-aware: `scheduler::queue` provides a stand-in with the same contract under loom.

#[cfg(not(loom))]
mod imp {
    pub(crate) use std::sync::atomic::{fence, AtomicBool, AtomicUsize, Ordering};
    pub(crate) use std::sync::Arc;
    pub(crate) use std::thread;

    /// A mutex with the `parking_lot` API (no poisoning).
    pub(crate) type Mutex<T> = parking_lot::Mutex<T>;
    /// The guard of [`Mutex`].
    pub(crate) type MutexGuard<'a, T> = parking_lot::MutexGuard<'a, T>;
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
}

#[cfg(loom)]
mod imp {
    pub(crate) use loom::cell::UnsafeCell;
    pub(crate) use loom::sync::atomic::{fence, AtomicBool, AtomicUsize, Ordering};
    pub(crate) use loom::sync::Arc;
    pub(crate) use loom::thread;

    /// A loom mutex with the `parking_lot` API (`lock()` returns the guard directly).
    #[derive(Debug)]
    pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);
    /// The guard of [`Mutex`].
    pub(crate) type MutexGuard<'a, T> = loom::sync::MutexGuard<'a, T>;

    impl<T: Default> Default for Mutex<T> {
        fn default() -> Self {
            Self::new(T::default())
        }
    }

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Self {
            Self(loom::sync::Mutex::new(value))
        }
        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            self.0.lock().unwrap()
        }
        pub(crate) fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
            self.0.try_lock().ok()
        }
    }

    /// A loom condition variable with the `parking_lot` API.
    #[derive(Debug, Default)]
    pub(crate) struct Condvar(loom::sync::Condvar);

    impl Condvar {
        pub(crate) fn new() -> Self {
            Self(loom::sync::Condvar::new())
        }
        pub(crate) fn wait<'a, T>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
            self.0.wait(guard).unwrap()
        }
        pub(crate) fn notify_one(&self) -> bool {
            self.0.notify_one();
            true
        }
        pub(crate) fn notify_all(&self) -> usize {
            self.0.notify_all();
            0
        }
    }

    /// loom has no timed waits: a timed wait is modelled as an untimed one (never times out).
    pub(crate) fn wait_timeout<'a, T>(
        condvar: &Condvar,
        guard: MutexGuard<'a, T>,
        _timeout: std::time::Duration,
    ) -> (MutexGuard<'a, T>, bool) {
        (condvar.wait(guard), false)
    }

    macro_rules! creche_thread_local {
        ($(#[$attr:meta])* $vis:vis static $name:ident: $t:ty = const { $init:expr };) => {
            loom::thread_local!($(#[$attr])* $vis static $name: $t = $init;);
        };
        ($($tt:tt)*) => { loom::thread_local!($($tt)*); };
    }
    pub(crate) use creche_thread_local as thread_local;
}

pub(crate) use imp::*;
