//! The atomics and the mutex of the crate's protocols, swapped for loom's under `--cfg loom`
//! so that the models in `loom_tests` explore their interleavings. Process-wide statics (the
//! tree's roots, the failure hook) keep std/parking_lot types: they are not part of a protocol.

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize};

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize};

/// A mutex with the `parking_lot` API (`lock()` returns the guard).
#[derive(Debug, Default)]
pub(crate) struct Mutex<T>(
    #[cfg(not(loom))] parking_lot::Mutex<T>,
    #[cfg(loom)] loom::sync::Mutex<T>,
);

#[cfg(not(loom))]
pub(crate) type MutexGuard<'a, T> = parking_lot::MutexGuard<'a, T>;
#[cfg(loom)]
pub(crate) type MutexGuard<'a, T> = loom::sync::MutexGuard<'a, T>;

impl<T> Mutex<T> {
    pub(crate) fn new(value: T) -> Mutex<T> {
        #[cfg(not(loom))]
        return Mutex(parking_lot::Mutex::new(value));
        #[cfg(loom)]
        return Mutex(loom::sync::Mutex::new(value));
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
        #[cfg(not(loom))]
        return self.0.lock();
        #[cfg(loom)]
        return self.0.lock().unwrap_or_else(|e| e.into_inner());
    }
}

/// `thread_local!`, from loom under `--cfg loom` (loom's threads share one OS thread).
#[cfg(not(loom))]
macro_rules! creche_thread_local {
    ($($tt:tt)*) => { std::thread_local!($($tt)*); };
}
#[cfg(loom)]
macro_rules! creche_thread_local {
    ($(#[$attr:meta])* $vis:vis static $name:ident: $t:ty = const { $init:expr };) => {
        loom::thread_local!($(#[$attr])* $vis static $name: $t = $init;);
    };
    ($($tt:tt)*) => { loom::thread_local!($($tt)*); };
}
pub(crate) use creche_thread_local as thread_local;
