//! Loom models of the nursery protocols, on the real runtime (whose primitives are loom's under
//! `--cfg loom`) and this crate's node, nursery and scope code:
//!
//! - `last_child_wakes_parent`: the nursery waits for children finishing on other workers; a
//!   lost wake-up of the parent would deadlock the model.
//! - `cancel_races_completion`: `cancel()` from a foreign thread against a body that finishes:
//!   exactly one of `Some`/`None`, `cancelled_caught()` exactly when `None`, one drop.
//! - `deadline_races_body_finish`: the deadline's waker (what the timer wheel fires) against a
//!   body finishing, same invariants.
//! - `outer_cancel_waits_for_nursery_children`: a scope cancelled from a foreign thread while its
//!   body holds a nursery whose child runs on another worker: the child is dropped before the
//!   scope's `run` returns (the pin rule).
//! - `concurrent_pins_are_visible_outward_on_return`: two threads pin one decision point; each
//!   finds the enclosing one pinned when its pin returns.
//! - `event_set_races_wait`: `Event::set` against a registering waiter: no lost wake-up.
//! - `channel::*`: the channel's hand-over, cancellation and close races (see that module).
//!
//! Run with `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p creche-nursery
//! --release --lib loom_tests`.

mod channel;

use crate::{CancelScope, checkpoint, open_nursery};
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;
use std::sync::Arc;

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(builder.preemption_bound.map_or(1, |b| b.min(1)));
    builder.check(f);
}

fn runtime(workers: usize) -> creche_runtime::Runtime {
    creche_runtime::Runtime::builder()
        .worker_threads(workers)
        .build()
        .expect("runtime")
}

/// Counts its drops.
struct Dropped(Arc<AtomicUsize>);

impl Drop for Dropped {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn last_child_wakes_parent() {
    model(|| {
        let rt = runtime(2);
        let drops = Arc::new(AtomicUsize::new(0));
        let seen = drops.clone();
        let out = rt.block_on(open_nursery(move |n| async move {
            for _ in 0..2 {
                let guard = Dropped(seen.clone());
                n.spawn(async move {
                    let _guard = guard;
                    Ok::<_, ()>(())
                });
            }
            Ok(())
        }));
        assert_eq!(out, Ok(Some(())));
        assert_eq!(
            drops.load(Ordering::SeqCst),
            2,
            "children dropped before return"
        );
    });
}

/// A scope's body that finishes after one checkpoint races a cancel from `cancel`.
fn race_with_body(cancel: impl FnOnce(&CancelScope) + Send + 'static) {
    let rt = runtime(1);
    let scope = CancelScope::new();
    let drops = Arc::new(AtomicUsize::new(0));
    let guard = Dropped(drops.clone());
    let canceller = {
        let scope = scope.clone();
        thread::spawn(move || cancel(&scope))
    };
    let out = rt.block_on(scope.run(async move {
        let _guard = guard;
        checkpoint().await;
        5
    }));
    canceller.join().unwrap();
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    // A deadline that fires after the scope ended is ignored; `cancel()` is always recorded.
    assert!(scope.cancel_called() || out.is_some());
    assert_eq!(scope.cancelled_caught(), out.is_none(), "{out:?}");
    assert!(matches!(out, Some(5) | None));
}

#[test]
fn cancel_races_completion() {
    model(|| race_with_body(CancelScope::cancel));
}

#[test]
fn deadline_races_body_finish() {
    model(|| race_with_body(|scope| crate::node::fire_deadline(&scope.node)));
}

#[test]
fn outer_cancel_waits_for_nursery_children() {
    model(|| {
        let rt = runtime(2);
        let scope = CancelScope::new();
        let drops = Arc::new(AtomicUsize::new(0));
        let seen = drops.clone();
        let canceller = {
            let scope = scope.clone();
            thread::spawn(move || scope.cancel())
        };
        let out = rt.block_on(scope.run(open_nursery(move |n| async move {
            let guard = Dropped(seen);
            n.spawn(async move {
                let _guard = guard;
                std::future::pending::<()>().await;
                Ok::<(), ()>(())
            });
            std::future::pending::<()>().await;
            Ok(())
        })));
        assert_eq!(
            drops.load(Ordering::SeqCst),
            1,
            "the child is gone before run returns"
        );
        assert_eq!(out, None);
        assert!(scope.cancelled_caught());
        canceller.join().unwrap();
    });
}

/// Two regions directly inside one decision point pin it from two threads: when either pin
/// returns, the enclosing decision point reads as pinned (the second pinner must not return
/// while the first is still carrying the 0 -> 1 change outward); after both unpin, nothing is.
#[test]
fn concurrent_pins_are_visible_outward_on_return() {
    use crate::node::Decision;
    loom::model(|| {
        let outer = Arc::new(Decision::new());
        let inner = Arc::new(Decision::new());
        inner.set_parent(Arc::as_ptr(&outer));
        let other = {
            let (outer, inner) = (outer.clone(), inner.clone());
            thread::spawn(move || {
                // SAFETY: both decision points are kept alive by the Arcs held here.
                unsafe { Decision::adjust_chain(Arc::as_ptr(&inner), true) };
                assert!(outer.is_pinned(), "a returned pin is visible outward");
                // SAFETY: as above.
                unsafe { Decision::adjust_chain(Arc::as_ptr(&inner), false) };
            })
        };
        // SAFETY: as above.
        unsafe { Decision::adjust_chain(Arc::as_ptr(&inner), true) };
        assert!(outer.is_pinned(), "a returned pin is visible outward");
        // SAFETY: as above.
        unsafe { Decision::adjust_chain(Arc::as_ptr(&inner), false) };
        other.join().unwrap();
        assert!(!inner.is_pinned() && !outer.is_pinned());
    });
}

/// `Event::set` from one thread against a waiter registering on another: the waiter is
/// either ready at its poll or woken; a lost wake-up would leave it pending.
#[test]
fn event_set_races_wait() {
    use crate::Event;
    use std::future::Future;
    use std::task::{Context, Wake, Waker};

    struct Flag(loom::sync::atomic::AtomicBool);
    impl Wake for Flag {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    loom::model(|| {
        let event = Arc::new(Event::new());
        let setter = {
            let event = event.clone();
            thread::spawn(move || event.set())
        };
        let flag = std::sync::Arc::new(Flag(loom::sync::atomic::AtomicBool::new(false)));
        let waker = Waker::from(flag.clone());
        let mut cx = Context::from_waker(&waker);
        let mut wait = std::pin::pin!(event.wait());
        let ready = wait.as_mut().poll(&mut cx).is_ready();
        setter.join().unwrap();
        if !ready {
            assert!(
                flag.0.load(Ordering::SeqCst),
                "a registered waiter is woken by set"
            );
            assert!(wait.as_mut().poll(&mut cx).is_ready());
        }
    });
}
