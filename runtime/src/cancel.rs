//! The hook through which leaf operations ask whether the code that polls them is cancelled.
//!
//! Cancel scopes live above this crate (creche-nursery), but the operations that must stop at a
//! cancelled scope (sleeps, checkpoints, I/O) live in crates below it. The nursery crate
//! installs one probe function, process-wide, when the first scope is entered; a leaf operation
//! calls [`is_cancelled`] at the start of each poll and returns `Pending` when it says yes (the
//! scope that was cancelled wakes the task, and the task's decision point drops the body).
//! Without a probe, nothing is ever cancelled.

use std::sync::atomic::{AtomicPtr, Ordering};

static PROBE: AtomicPtr<()> = AtomicPtr::new(std::ptr::null_mut());

/// Installs the probe that [`is_cancelled`] calls. Installing the same function again is a
/// no-op; the last installation wins.
///
/// # Examples
///
/// ```
/// fn never() -> bool { false }
/// creche_runtime::cancel::install_probe(never);
/// assert!(!creche_runtime::cancel::is_cancelled());
/// ```
pub fn install_probe(probe: fn() -> bool) {
    PROBE.store(probe as *mut (), Ordering::Release);
}

/// Whether the code being polled on this thread sits in a cancelled region (always `false` until
/// a probe is installed).
///
/// # Examples
///
/// ```
/// // Outside any cancel scope nothing is cancelled.
/// assert!(!creche_runtime::cancel::is_cancelled());
/// ```
#[inline]
pub fn is_cancelled() -> bool {
    let probe = PROBE.load(Ordering::Acquire);
    if probe.is_null() {
        return false;
    }
    // SAFETY: the only non-null value ever stored is a `fn() -> bool` cast by `install_probe`.
    let probe: fn() -> bool = unsafe { std::mem::transmute::<*mut (), fn() -> bool>(probe) };
    probe()
}
