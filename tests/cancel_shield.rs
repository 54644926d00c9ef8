//! Shields (TESTPLAN §1.4): a shield blocks the cancellation of the scopes around it, but not
//! its own nor that of scopes inside it; toggling it while the body runs takes effect at the
//! owner's next decision; lowering the shield of a nursery's scope cancels its children; a
//! shield raised from a destructor while the body is being dropped changes nothing.

mod common;

use common::{Counter, secs, tracked, watchdog};
use creche::time::{Instant, current_time, sleep, sleep_forever};
use creche::{CancelScope, checkpoint, join, open_nursery};
use std::sync::{Arc, Mutex};

/// `outer` is cancelled first. The shielded `inner` body still sleeps 1 s and reaches t=1; an
/// `innermost` scope inside it, once cancelled, gives `None` (the shield protects only from
/// outside). Cancelling `inner` itself drops its body (`inner` catches), and `outer` then drops
/// its body at the next await.
#[creche::test(autojump)]
async fn shield_blocks_outer_not_inner_nor_own() {
    let _w = watchdog("shield_blocks_outer_not_inner_nor_own");
    let t0 = current_time();
    let (outer, inner, innermost) = (CancelScope::new(), CancelScope::new(), CancelScope::new());
    inner.set_shield(true);
    let (slept, after_inner, after_outer_await, after_own) = (
        Counter::new(),
        Counter::new(),
        Counter::new(),
        Counter::new(),
    );
    let out = outer
        .run({
            let (o, i, im) = (outer.clone(), inner.clone(), innermost.clone());
            let (sl, ai, ao, aw) = (
                slept.clone(),
                after_inner.clone(),
                after_outer_await.clone(),
                after_own.clone(),
            );
            async move {
                o.cancel();
                let r = i
                    .clone()
                    .run(async move {
                        sleep(secs(1)).await;
                        sl.incr();
                        let r = im
                            .run(async {
                                im.cancel();
                                sleep_forever().await;
                            })
                            .await;
                        assert_eq!(r, None);
                        i.cancel(); // its own scope: the shield does not help
                        checkpoint().await;
                        aw.incr();
                    })
                    .await;
                assert_eq!(r, None);
                ai.incr(); // the code after the shielded scope runs until the next await
                checkpoint().await;
                ao.incr();
            }
        })
        .await;
    assert_eq!(out, None);
    assert_eq!(slept.get(), 1);
    assert_eq!(after_own.get(), 0);
    assert_eq!(after_inner.get(), 1);
    assert_eq!(after_outer_await.get(), 0);
    assert!(innermost.cancel_called() && innermost.cancelled_caught());
    assert!(inner.cancel_called() && inner.cancelled_caught());
    assert!(outer.cancel_called() && outer.cancelled_caught());
    assert_eq!(current_time() - t0, secs(1));
}

/// A drop guard that records the virtual time of its drop.
struct DropAt(Arc<Mutex<Option<Instant>>>);

impl Drop for DropAt {
    fn drop(&mut self) {
        *self.0.lock().unwrap() = Some(current_time());
    }
}

/// `outer` is cancelled and `inner` is shielded; the body sleeps forever. At t=2 a sibling task
/// lowers the shield: the body is dropped at exactly t=2, by `outer`. A second run raises the
/// shield again in the same poll (before `outer` can decide): the body survives and completes.
#[creche::test(autojump)]
async fn toggle_takes_effect_while_running() {
    let _w = watchdog("toggle_takes_effect_while_running");
    let t0 = current_time();

    // Lowered by another task.
    let (outer, inner) = (CancelScope::new(), CancelScope::new());
    inner.set_shield(true);
    let dropped_at = Arc::new(Mutex::new(None));
    let after = Counter::new();
    let toggler = creche::spawn({
        let inner = inner.clone();
        async move {
            sleep(secs(2)).await;
            inner.set_shield(false);
        }
    });
    let out = outer
        .run({
            let (o, i, d, a) = (
                outer.clone(),
                inner.clone(),
                dropped_at.clone(),
                after.clone(),
            );
            async move {
                o.cancel();
                i.run(async move {
                    let _guard = DropAt(d);
                    sleep_forever().await;
                })
                .await;
                a.incr();
            }
        })
        .await;
    toggler.await.unwrap();
    assert_eq!(out, None);
    assert_eq!(after.get(), 0);
    assert_eq!(*dropped_at.lock().unwrap(), Some(t0 + secs(2)));
    assert_eq!(current_time() - t0, secs(2));
    assert!(outer.cancelled_caught());
    assert!(!inner.cancel_called() && !inner.cancelled_caught());

    // Lowered and raised again before the outer scope decides (same task, same poll).
    let t1 = current_time();
    let (outer, inner) = (CancelScope::new(), CancelScope::new());
    inner.set_shield(true);
    let (done, after) = (Counter::new(), Counter::new());
    let (out, ()) = join(
        outer.run({
            let (o, i, dn, a) = (outer.clone(), inner.clone(), done.clone(), after.clone());
            async move {
                o.cancel();
                let r = i
                    .run(async move {
                        sleep(secs(5)).await;
                        dn.incr();
                        42
                    })
                    .await;
                assert_eq!(r, Some(42));
                checkpoint().await;
                a.incr();
            }
        }),
        {
            let inner = inner.clone();
            async move {
                sleep(secs(2)).await;
                inner.set_shield(false);
                inner.set_shield(true);
            }
        },
    )
    .await;
    assert_eq!(out, None);
    assert_eq!(done.get(), 1, "the shielded body survived the toggle");
    assert_eq!(after.get(), 0);
    assert_eq!(current_time() - t1, secs(5));
    assert!(outer.cancelled_caught());
    assert!(!inner.cancelled_caught());
}

/// A nursery's scope is shielded inside a cancelled outer scope; its child sleeps. Once every
/// task is blocked, the body lowers the shield: the child is dropped (once), before the block
/// exits, and `outer` catches.
#[creche::test(autojump)]
async fn unshield_nursery_scope_cancels_children() {
    let _w = watchdog("unshield_nursery_scope_cancels_children");
    let t0 = current_time();
    let outer = CancelScope::new();
    let (polls, drops) = (Counter::new(), Counter::new());
    let seen = Arc::new(Mutex::new(None));
    let after = Counter::new();
    let out = outer
        .run({
            let (o, p, d, s, a) = (
                outer.clone(),
                polls.clone(),
                drops.clone(),
                seen.clone(),
                after.clone(),
            );
            open_nursery(move |n| async move {
                n.cancel_scope().set_shield(true);
                n.spawn(tracked(
                    async {
                        sleep(secs(100)).await;
                        Ok::<(), ()>(())
                    },
                    &p,
                    &d,
                ));
                o.cancel();
                creche::testing::wait_all_tasks_blocked().await;
                assert_eq!((p.get(), d.get()), (1, 0), "the child sleeps, shielded");
                n.cancel_scope().set_shield(false);
                let wait = CancelScope::new();
                wait.set_shield(true);
                wait.run(creche::testing::wait_all_tasks_blocked()).await;
                *s.lock().unwrap() = Some(d.get());
                checkpoint().await;
                a.incr();
                Ok::<(), ()>(())
            })
        })
        .await;
    assert_eq!(out, None);
    assert_eq!(
        *seen.lock().unwrap(),
        Some(1),
        "the child was gone before the block exited"
    );
    assert_eq!(drops.get(), 1);
    assert_eq!(polls.get(), 1);
    assert_eq!(after.get(), 0);
    assert!(outer.cancelled_caught());
    assert_eq!(current_time(), t0, "the child's sleep never ended");
}

/// Raises the shield of a scope when dropped, and records what it saw.
struct ShieldOnDrop {
    scope: CancelScope,
    dropped: Counter,
}

impl Drop for ShieldOnDrop {
    fn drop(&mut self) {
        self.scope.set_shield(true);
        self.dropped.incr();
    }
}

/// A drop guard in `inner`'s body raises `inner`'s shield while `outer` drops the body: the
/// cancellation that is already going through is not undone: `outer` caught, `inner` did not,
/// and nothing deadlocks.
#[creche::test]
async fn shield_set_during_drop_is_ignored() {
    let _w = watchdog("shield_set_during_drop_is_ignored");
    let (outer, inner) = (CancelScope::new(), CancelScope::new());
    let (dropped, after) = (Counter::new(), Counter::new());
    let out = outer
        .run({
            let (o, i, d, a) = (outer.clone(), inner.clone(), dropped.clone(), after.clone());
            async move {
                i.clone()
                    .run(async move {
                        let _guard = ShieldOnDrop {
                            scope: i,
                            dropped: d,
                        };
                        o.cancel();
                        sleep_forever().await;
                    })
                    .await;
                a.incr();
            }
        })
        .await;
    assert_eq!(out, None);
    assert_eq!(dropped.get(), 1);
    assert_eq!(after.get(), 0);
    assert!(outer.cancel_called() && outer.cancelled_caught());
    assert!(!inner.cancel_called() && !inner.cancelled_caught());
    assert!(inner.shield(), "the flag itself was set");

    // Same, with `inner` cancelled too (the outer one still catches).
    let (outer, inner) = (CancelScope::new(), CancelScope::new());
    let dropped = Counter::new();
    let out = outer
        .run({
            let (o, i, d) = (outer.clone(), inner.clone(), dropped.clone());
            async move {
                i.clone()
                    .run(async move {
                        let _guard = ShieldOnDrop {
                            scope: i.clone(),
                            dropped: d,
                        };
                        i.cancel();
                        o.cancel();
                        sleep_forever().await;
                    })
                    .await;
            }
        })
        .await;
    assert_eq!(out, None);
    assert_eq!(dropped.get(), 1);
    assert!(outer.cancelled_caught());
    assert!(inner.cancel_called() && !inner.cancelled_caught());

    // The scopes are usable afterwards: nothing is left locked.
    let fresh = CancelScope::new();
    assert_eq!(fresh.run(async { checkpoint().await }).await, Some(()));
}
