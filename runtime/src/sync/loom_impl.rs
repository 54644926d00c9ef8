//! The `--cfg loom` build: loom's instrumented primitives behind the same API.

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
