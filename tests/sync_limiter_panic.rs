//! `CapacityLimiter`'s "same borrower twice" panic (SYNC_TESTPLAN Q7) is raised after the
//! limiter's mutex is released: a panic hook runs before unwinding, so a hook that reads the
//! limiter (logging its statistics, say) must not deadlock on it. Its own test binary, because
//! the panic hook is process-wide.

mod common;

use common::watchdog;
use creche::sync::{Borrower, CapacityLimiter};
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::pin;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::task::{Context, Waker};

static LIMITER: OnceLock<CapacityLimiter> = OnceLock::new();
/// What the hook read: `borrowed_tokens() + 1` (0: the hook did not run).
static SEEN: AtomicUsize = AtomicUsize::new(0);

#[test]
fn panic_hook_can_read_the_limiter() {
    let _w = watchdog("panic_hook_can_read_the_limiter");
    let limiter = LIMITER.get_or_init(|| CapacityLimiter::new(1));
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {
        // Deadlocks if the panicking call still holds the limiter's mutex.
        let borrowed = LIMITER.get().unwrap().borrowed_tokens();
        SEEN.store(borrowed + 1, SeqCst);
    }));

    let b = Borrower::new();
    let token = limiter.try_acquire_on_behalf_of(b).unwrap();
    let sync_call = catch_unwind(AssertUnwindSafe(|| {
        let _ = limiter.try_acquire_on_behalf_of(b);
    }));
    let after_sync = SEEN.swap(0, SeqCst);

    // The async path: the second acquire panics when polled.
    let async_call = catch_unwind(AssertUnwindSafe(|| {
        let mut acquire = pin!(limiter.acquire_on_behalf_of(b));
        let _ = acquire
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()));
    }));
    let after_async = SEEN.swap(0, SeqCst);

    std::panic::set_hook(previous);
    assert!(
        sync_call.is_err() && async_call.is_err(),
        "both calls panic"
    );
    assert_eq!(
        (after_sync, after_async),
        (2, 2),
        "the hook read 1 borrowed token"
    );
    drop(token);
    assert_eq!(limiter.borrowed_tokens(), 0);
    assert_eq!(limiter.__pending_entries(), (0, 0));
}
