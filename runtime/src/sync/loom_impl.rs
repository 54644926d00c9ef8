//! The `--cfg loom` build: loom's instrumented primitives behind the same API.

pub(crate) use loom::cell::UnsafeCell;
pub(crate) use loom::sync::Arc;
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering, fence};
pub(crate) use loom::thread;

/// A loom mutex with the `parking_lot` API (`lock()` returns the guard directly).
///
/// `try_lock` goes through a flag of its own: loom 0.7 treats a thread whose next operation is
/// a `try_lock` like one waiting in `lock` and blocks it while the mutex is held, which reports
/// false deadlocks for a thread that would just have moved on. The crate never mixes `lock`
/// and `try_lock` on one mutex (only the driver slot uses `try_lock`).
#[derive(Debug)]
pub(crate) struct Mutex<T>(loom::sync::Mutex<T>, AtomicBool);

/// The guard of [`Mutex::try_lock`].
pub(crate) struct TryLockGuard<'a, T> {
    guard: Option<MutexGuard<'a, T>>,
    flag: &'a AtomicBool,
}

impl<T> std::ops::Deref for TryLockGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.guard.as_ref().expect("held until drop")
    }
}

impl<T> std::ops::DerefMut for TryLockGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.guard.as_mut().expect("held until drop")
    }
}

impl<T> Drop for TryLockGuard<'_, T> {
    fn drop(&mut self) {
        drop(self.guard.take());
        self.flag.store(false, Ordering::Release);
    }
}
/// The guard of [`Mutex`].
pub(crate) type MutexGuard<'a, T> = loom::sync::MutexGuard<'a, T>;

impl<T: Default> Default for Mutex<T> {
    fn default() -> Self {
        Self::new(T::default())
    }
}

impl<T> Mutex<T> {
    pub(crate) fn new(value: T) -> Self {
        Self(loom::sync::Mutex::new(value), AtomicBool::new(false))
    }
    pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
        self.0.lock().unwrap()
    }
    pub(crate) fn try_lock(&self) -> Option<TryLockGuard<'_, T>> {
        self.1
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .ok()?;
        Some(TryLockGuard {
            guard: Some(self.lock()),
            flag: &self.1,
        })
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
