//! Loom models of the sync primitives' protocols (SYNC_TESTPLAN §3 "Loom models"). Futures
//! are polled by hand with counting wakers on loom threads: no runtime, so the state space
//! stays small.
//!
//! - `release_vs_dropped_waiter`: A and B wait on an empty semaphore; a release races the drop
//!   of A. B gets the permit (handed on by A's drop if A had been granted it), exactly one
//!   permit is ever out, and it comes back at the end.
//! - `release_vs_try_acquire`: a waiter is parked; a release races a `try_acquire`. The
//!   `try_acquire` never wins the released permit (FIFO), and the permit is conserved.
//! - `acquire_vs_release`: an acquire that finds no permit races a release: the acquire either
//!   takes the permit or is queued and then granted and woken; never parked while a permit is
//!   free (no lost wake-up).
//! - `condition_notify_vs_dropped_waiter`: A and B wait on a condition; `notify(1)` plus the
//!   unlock race the drop of A. Whatever A had been given (a notification, the lock) goes on,
//!   so B gets the lock; the lock ends free and no node is left.
//!
//! Run with `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p creche-nursery
//! --release --lib --target-dir target/loom -- sync_loom`.

use crate::{Condition, Semaphore};
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

/// Counts its wakes.
struct CountingWaker(AtomicUsize);

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn counting_waker() -> (Arc<CountingWaker>, Waker) {
    let count = Arc::new(CountingWaker(AtomicUsize::new(0)));
    let waker = Waker::from(count.clone());
    (count, waker)
}

fn poll<F: Future + ?Sized>(future: Pin<&mut F>, waker: &Waker) -> Poll<F::Output> {
    future.poll(&mut Context::from_waker(waker))
}

/// Puts `value` on the heap for the rest of one model execution, so that futures borrowing it
/// can move to loom threads (which need `'static`). Freed by [`free`].
fn leak<T>(value: T) -> &'static T {
    Box::leak(Box::new(value))
}

/// Frees what [`leak`] allocated.
///
/// # Safety
///
/// `value` came from [`leak`], every thread that used it has been joined, and nothing that
/// borrows it (futures, permits, guards) is still alive.
unsafe fn free<T>(value: &'static T) {
    // SAFETY: by the contract above the allocation came from `Box::leak` and has no other user.
    drop(unsafe { Box::from_raw(value as *const T as *mut T) });
}

#[test]
fn release_vs_dropped_waiter() {
    loom::model(|| {
        let sem = leak(Semaphore::new(0)); // the one permit is "held" by main
        let (_a_count, a_waker) = counting_waker();
        let (b_count, b_waker) = counting_waker();
        let mut a = Box::pin(sem.acquire());
        let mut b = Box::pin(sem.acquire());
        assert!(poll(a.as_mut(), &a_waker).is_pending());
        assert!(poll(b.as_mut(), &b_waker).is_pending());
        let dropper = thread::spawn(move || drop(a));
        sem.add_permits(1); // main releases its permit
        dropper.join().unwrap();
        // B was granted (directly, or forwarded by A's drop) and woken.
        assert_eq!(
            b_count.0.load(Ordering::SeqCst),
            1,
            "B is woken exactly once"
        );
        let Poll::Ready(permit) = poll(b.as_mut(), &b_waker) else {
            panic!("B must hold the permit");
        };
        assert_eq!(sem.available_permits(), 0, "one permit, and B holds it");
        drop(permit);
        drop(b);
        assert_eq!(sem.available_permits(), 1);
        assert_eq!(sem.__queued_nodes(), 0);
        // SAFETY: the dropper was joined; `a`, `b` and the permit are dropped.
        unsafe { free(sem) };
    });
}

#[test]
fn release_vs_try_acquire() {
    loom::model(|| {
        let sem = leak(Semaphore::new(0));
        let (count, waker) = counting_waker();
        let mut waiter = Box::pin(sem.acquire());
        assert!(poll(waiter.as_mut(), &waker).is_pending());
        let releaser = thread::spawn(move || sem.add_permits(1));
        let barged = sem.try_acquire().is_ok();
        releaser.join().unwrap();
        assert!(!barged, "a try_acquire overtook a parked waiter");
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        let Poll::Ready(permit) = poll(waiter.as_mut(), &waker) else {
            panic!("the waiter must hold the permit");
        };
        assert_eq!(sem.available_permits(), 0);
        drop(permit);
        drop(waiter);
        assert_eq!(sem.available_permits(), 1);
        // SAFETY: the releaser was joined; the waiter and its permit are dropped.
        unsafe { free(sem) };
    });
}

#[test]
fn acquire_vs_release() {
    loom::model(|| {
        let sem = leak(Semaphore::new(0));
        let releaser = thread::spawn(move || sem.add_permits(1));
        let (count, waker) = counting_waker();
        let mut acquire = Box::pin(sem.acquire());
        let first = poll(acquire.as_mut(), &waker);
        releaser.join().unwrap();
        let permit = match first {
            Poll::Ready(permit) => permit,
            Poll::Pending => {
                assert_eq!(
                    count.0.load(Ordering::SeqCst),
                    1,
                    "a queued acquire is woken"
                );
                match poll(acquire.as_mut(), &waker) {
                    Poll::Ready(permit) => permit,
                    Poll::Pending => panic!("woken but not granted"),
                }
            }
        };
        assert_eq!(sem.available_permits(), 0);
        drop(permit);
        drop(acquire);
        assert_eq!(sem.available_permits(), 1);
        assert_eq!(sem.__queued_nodes(), 0);
        // SAFETY: the releaser was joined; the acquire and its permit are dropped.
        unsafe { free(sem) };
    });
}

#[test]
fn condition_notify_vs_dropped_waiter() {
    loom::model(|| {
        let cond = leak(Condition::new());
        let (_a_count, a_waker) = counting_waker();
        let (b_count, b_waker) = counting_waker();
        let mut a = Box::pin(cond.try_lock().unwrap().wait());
        assert!(poll(a.as_mut(), &a_waker).is_pending()); // queued, lock released
        let mut b = Box::pin(cond.try_lock().unwrap().wait());
        assert!(poll(b.as_mut(), &b_waker).is_pending());
        let dropper = thread::spawn(move || drop(a));
        let guard = cond.try_lock().expect("waiters do not hold the lock");
        guard.notify(1);
        drop(guard);
        dropper.join().unwrap();
        // Whatever A was given went on: B was notified and handed the lock.
        assert_eq!(
            b_count.0.load(Ordering::SeqCst),
            1,
            "B is woken exactly once"
        );
        let Poll::Ready(guard) = poll(b.as_mut(), &b_waker) else {
            panic!("B must get the lock");
        };
        assert!(cond.locked());
        drop(guard);
        drop(b);
        let stats = cond.statistics();
        assert!(!stats.lock.locked);
        assert_eq!((stats.tasks_waiting, stats.lock.tasks_waiting), (0, 0));
        assert_eq!(cond.__queued_nodes(), 0);
        // SAFETY: the dropper was joined; `a`, `b` and the guard are dropped.
        unsafe { free(cond) };
    });
}
