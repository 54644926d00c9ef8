//! Nursery failures: a child's or the body's error leaves the block and cancels everything
//! else; a crash wakes a sleeping body; first failure wins and the rest are counted (and
//! reported to the failure hook); a panic outranks an error; a panic deep in the tree reaches
//! `creche::run`'s caller with its payload once every sibling is gone; reports name the task
//! and its spawn site.

mod common;

use common::{
    Counter, Seen, install_hook, lock_ignoring_poison, panic_message, runtime_on, secs, seen_named,
    seen_reports, tracked, watchdog,
};
use creche::lowlevel::{FailureKind, Fate};
use creche::testing::wait_all_tasks_blocked;
use creche::time::{MockClock, current_time, sleep, sleep_forever};
use creche::{CancelScope, Nursery, checkpoint, open_nursery};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fail {
    A,
    B,
    Body,
}

#[creche::test(autojump)]
async fn child_crash_wakes_sleeping_body() {
    let _w = watchdog("child_crash_wakes_sleeping_body");
    let t0 = current_time();
    let (body_polls, body_drops) = (Counter::new(), Counter::new());
    let (bp, bd) = (body_polls.clone(), body_drops.clone());
    let after_sleep = Counter::new();
    let after = after_sleep.clone();
    let result = open_nursery(|n| {
        tracked(
            async move {
                n.spawn(async {
                    sleep(secs(1)).await;
                    Err::<(), _>(Fail::A)
                });
                sleep_forever().await;
                after.incr();
                Ok::<_, Fail>(())
            },
            &bp,
            &bd,
        )
    })
    .await;
    assert_eq!(result, Err(Fail::A));
    assert_eq!(current_time() - t0, secs(1));
    assert_eq!(body_drops.get(), 1);
    assert_eq!(after_sleep.get(), 0);
    assert!(body_polls.get() >= 1);
}

#[creche::test(autojump)]
async fn body_error_is_returned_and_cancels_children() {
    let _w = watchdog("body_error_is_returned_and_cancels_children");
    let t0 = current_time();
    let (polls, drops) = (Counter::new(), Counter::new());
    let (p, d) = (polls.clone(), drops.clone());
    let finished = Counter::new();
    let f = finished.clone();
    let result: Result<Option<()>, Fail> = open_nursery(|n| async move {
        n.spawn(tracked(
            async move {
                sleep_forever().await;
                f.incr();
                Ok(())
            },
            &p,
            &d,
        ));
        Err(Fail::Body)
    })
    .await;
    assert_eq!(result, Err(Fail::Body));
    assert_eq!(
        drops.get(),
        1,
        "the sleeper is dropped exactly once, before the return"
    );
    assert_eq!(finished.get(), 0);
    assert_eq!(
        polls.get(),
        1,
        "a child of a cancelled nursery is polled once"
    );
    assert_eq!(current_time(), t0);
}

#[creche::test(autojump)]
async fn child_error_is_returned() {
    let _w = watchdog("child_error_is_returned");
    let result = open_nursery(|n| async move {
        n.spawn(async {
            for _ in 0..3 {
                checkpoint().await;
            }
            Err::<(), _>(Fail::B)
        });
        Ok::<_, Fail>(42)
    })
    .await;
    assert_eq!(
        result,
        Err(Fail::B),
        "the body's value is discarded on failure"
    );
    // And the plain case: no failure gives the body's value.
    let ok = open_nursery(|n| async move {
        n.spawn(async { Ok::<_, Fail>(()) });
        Ok::<_, Fail>(42)
    })
    .await;
    assert_eq!(ok, Ok(Some(42)));
}

#[creche::test(worker_threads = 2)]
async fn child_error_cancels_busy_sibling() {
    let _w = watchdog("child_error_cancels_busy_sibling");
    let (polls, drops) = (Counter::new(), Counter::new());
    let loops = Counter::new();
    let (p, d, l, l2) = (polls.clone(), drops.clone(), loops.clone(), loops.clone());
    let result = open_nursery(|n| async move {
        n.spawn(tracked(
            async move {
                loop {
                    l.incr();
                    checkpoint().await;
                }
                #[allow(unreachable_code)]
                Ok(())
            },
            &p,
            &d,
        ));
        n.spawn(async move {
            // Fail once the sibling is busy looping.
            while l2.get() < 20 {
                checkpoint().await;
            }
            Err::<(), _>(Fail::A)
        });
        Ok::<_, Fail>(())
    })
    .await;
    assert_eq!(result, Err(Fail::A));
    assert_eq!(drops.get(), 1);
    let final_loops = loops.get();
    assert!(final_loops >= 20);
    creche::yield_now().await;
    assert_eq!(loops.get(), final_loops, "the sibling no longer runs");
}

#[creche::test(autojump)]
async fn first_failure_wins_rest_counted() {
    let _w = watchdog("first_failure_wins_rest_counted");
    let _hook = install_hook();
    const A: &str = "errors-ffw-child-a";
    const B: &str = "errors-ffw-child-b";
    let t0 = current_time();
    let mut kept: Option<Nursery<Fail>> = None;
    let result = open_nursery(|n| {
        kept = Some(n.clone());
        async move {
            n.spawn_named(A, async {
                sleep(secs(1)).await;
                Err::<(), _>(Fail::A)
            });
            n.spawn_named(B, async {
                let shield = CancelScope::new();
                shield.set_shield(true);
                let out = shield
                    .run(async {
                        sleep(secs(2)).await;
                        Err::<(), _>(Fail::B)
                    })
                    .await;
                out.expect("a shielded scope is not cancelled from outside")
            });
            Ok(())
        }
    })
    .await;
    assert_eq!(result, Err(Fail::A));
    assert_eq!(
        current_time() - t0,
        secs(2),
        "the nursery waits for the shielded child"
    );
    assert_eq!(kept.unwrap().suppressed_failures(), 1);
    let a = seen_named(A);
    let b = seen_named(B);
    assert_eq!(a.len(), 1, "{a:?}");
    assert_eq!(
        (a[0].kind, a[0].fate),
        (FailureKind::Error, Fate::Propagated)
    );
    assert_eq!(b.len(), 1, "{b:?}");
    assert_eq!(
        (b[0].kind, b[0].fate),
        (FailureKind::Error, Fate::Suppressed)
    );
    assert_eq!(b[0].file, "tests/nursery_errors.rs");
    assert!(!b[0].body);
}

#[creche::test(worker_threads = 2)]
async fn first_failure_wins_racy_two_children() {
    let _w = watchdog("first_failure_wins_racy_two_children");
    for _ in 0..50 {
        let mut kept: Option<Nursery<Fail>> = None;
        let result = open_nursery(|n| {
            kept = Some(n.clone());
            async move {
                n.spawn(async { Err::<(), _>(Fail::A) });
                n.spawn(async { Err::<(), _>(Fail::B) });
                Ok(())
            }
        })
        .await;
        assert!(matches!(result, Err(Fail::A) | Err(Fail::B)), "{result:?}");
        assert_eq!(kept.unwrap().suppressed_failures(), 1);
    }
    // The body and a child fail together.
    for _ in 0..50 {
        let mut kept: Option<Nursery<Fail>> = None;
        let result = open_nursery(|n| {
            kept = Some(n.clone());
            async move {
                n.spawn(async { Err::<(), _>(Fail::A) });
                Err::<(), _>(Fail::Body)
            }
        })
        .await;
        assert!(
            matches!(result, Err(Fail::A) | Err(Fail::Body)),
            "{result:?}"
        );
        assert_eq!(kept.unwrap().suppressed_failures(), 1);
    }
}

#[derive(Debug, PartialEq)]
struct Payload(u64);

fn boom(id: u64) -> Result<(), Fail> {
    std::panic::panic_any(Payload(id))
}

#[test]
fn panic_outranks_error() {
    let _w = watchdog("panic_outranks_error");
    let _hook = install_hook();
    // The error comes first (t=1), the panic later (t=2, from a shielded scope); then the
    // other way round. The panic wins both times and the error is suppressed.
    for (error_at, panic_at, err_name) in [
        (1, 2, "errors-por-error-first"),
        (2, 1, "errors-por-error-second"),
    ] {
        let rt = runtime_on(1, MockClock::autojump());
        let mut kept: Option<Nursery<Fail>> = None;
        let t = Arc::new(AtomicUsize::new(0));
        let t2 = t.clone();
        let out = catch_unwind(AssertUnwindSafe(|| {
            rt.block_on(async {
                let t0 = current_time();
                let _at_end = TimeOnDrop(t0, t2);
                open_nursery(|n| {
                    kept = Some(n.clone());
                    async move {
                        n.spawn_named(err_name, shielded_after(error_at, || Err(Fail::A)));
                        n.spawn(shielded_after(panic_at, || boom(7)));
                        Ok(())
                    }
                })
                .await
            })
        }));
        let payload = out.expect_err("the panic is resumed");
        assert_eq!(payload.downcast_ref::<Payload>(), Some(&Payload(7)));
        assert_eq!(kept.unwrap().suppressed_failures(), 1);
        assert_eq!(
            t.load(SeqCst),
            2,
            "both children ended before the panic was resumed"
        );
        let seen = seen_named(err_name);
        assert_eq!(seen.len(), 1, "{seen:?}");
        assert_eq!(
            (seen[0].kind, seen[0].fate),
            (FailureKind::Error, Fate::Suppressed)
        );
    }
}

/// Records the virtual seconds elapsed since `.0` when dropped (also during an unwind).
struct TimeOnDrop(creche::time::Instant, Arc<AtomicUsize>);

impl Drop for TimeOnDrop {
    fn drop(&mut self) {
        let elapsed = current_time() - self.0;
        self.1.store(elapsed.as_secs() as usize, SeqCst);
    }
}

/// A child that sleeps `at` seconds inside a shielded scope, then calls `then`.
async fn shielded_after(at: u64, then: impl FnOnce() -> Result<(), Fail>) -> Result<(), Fail> {
    let shield = CancelScope::new();
    shield.set_shield(true);
    shield
        .run(async move {
            sleep(secs(at)).await;
            then()
        })
        .await
        .expect("shielded")
}

/// Snapshots a counter when dropped: shows what had happened when an unwind passed by.
struct SnapshotOnDrop(Counter, Arc<AtomicUsize>);

impl Drop for SnapshotOnDrop {
    fn drop(&mut self) {
        self.1.store(self.0.get(), SeqCst);
    }
}

#[test]
fn grandchild_panic_reaches_run_caller() {
    let _w = watchdog("grandchild_panic_reaches_run_caller");
    let _hook = install_hook();
    const CHILD: &str = "errors-gpr-child";
    const GRANDCHILD: &str = "errors-gpr-grandchild";
    let (polls, drops) = (Counter::new(), Counter::new());
    let snapshot = Arc::new(AtomicUsize::new(usize::MAX));
    let (p, d, snap) = (polls.clone(), drops.clone(), snapshot.clone());
    let out = catch_unwind(AssertUnwindSafe(move || {
        creche::run(async move {
            // Dropped by the unwind out of `open_nursery`, before the runtime shuts down.
            let _snapshot = SnapshotOnDrop(d.clone(), snap);
            open_nursery(|n| async move {
                n.spawn(tracked(
                    async {
                        sleep_forever().await;
                        Ok::<(), Fail>(())
                    },
                    &p,
                    &d,
                ));
                let (p2, d2) = (p.clone(), d.clone());
                n.spawn_named(CHILD, async move {
                    open_nursery(|n2| async move {
                        n2.spawn(tracked(
                            async {
                                sleep_forever().await;
                                Ok::<(), Fail>(())
                            },
                            &p2,
                            &d2,
                        ));
                        n2.spawn_named(GRANDCHILD, async {
                            wait_all_tasks_blocked().await;
                            boom(0xC0FFEE)
                        });
                        Ok(())
                    })
                    .await?;
                    Ok(())
                });
                sleep_forever().await;
                Ok::<(), Fail>(())
            })
            .await
        })
    }));
    let payload = out.expect_err("the grandchild's panic reaches run's caller");
    assert_eq!(
        payload.downcast_ref::<Payload>(),
        Some(&Payload(0xC0FFEE)),
        "payload unchanged: {:?}",
        panic_message(&*payload)
    );
    assert_eq!(
        snapshot.load(SeqCst),
        2,
        "both sleeping siblings were dropped before the panic left the nursery"
    );
    assert_eq!(drops.get(), 2);
    let grandchild = seen_named(GRANDCHILD);
    assert!(
        grandchild.iter().any(|s| s.kind == FailureKind::Panic
            && s.fate == Fate::Propagated
            && s.file == "tests/nursery_errors.rs"),
        "{grandchild:?}"
    );
    let child = seen_named(CHILD);
    assert!(
        child
            .iter()
            .any(|s| s.kind == FailureKind::Panic && s.fate == Fate::Propagated),
        "the child re-raised it into the outer nursery: {child:?}"
    );
}

#[creche::test]
async fn error_report_names_task_and_site() {
    let _w = watchdog("error_report_names_task_and_site");
    let _hook = install_hook();
    const NAME: &str = "errors-ernts-worker";
    let lines = Arc::new(Mutex::new((0, 0)));
    let l = lines.clone();
    let result = open_nursery(|n| async move {
        let spawn_line = line!() + 1;
        n.spawn_named(NAME, async { Err::<(), _>(Fail::A) });
        lock_ignoring_poison(&l).0 = spawn_line;
        sleep_forever().await;
        Ok(())
    })
    .await;
    assert_eq!(result, Err(Fail::A));
    let spawn_line = lock_ignoring_poison(&lines).0;
    let seen = seen_named(NAME);
    assert_eq!(seen.len(), 1, "{seen:?}");
    let s = &seen[0];
    assert_eq!((s.kind, s.fate), (FailureKind::Error, Fate::Propagated));
    assert_eq!(
        (s.file.as_str(), s.line),
        ("tests/nursery_errors.rs", spawn_line)
    );
    assert!(!s.body);
    let expected = format!("task `{NAME}` spawned at tests/nursery_errors.rs:{spawn_line}:");
    assert!(s.text.contains(&expected), "{}", s.text);
    assert!(s.text.contains("returned an error"), "{}", s.text);

    // A body's error names the nursery's open site.
    let body_open_line = line!() + 1;
    let result = open_nursery(|_n| async move { Err::<(), _>(Fail::Body) }).await;
    assert_eq!(result, Err(Fail::Body));
    let body: Vec<Seen> = seen_reports()
        .into_iter()
        .filter(|s| s.body && s.file == "tests/nursery_errors.rs" && s.line == body_open_line)
        .collect();
    assert_eq!(body.len(), 1, "{body:?}");
    assert_eq!(body[0].fate, Fate::Propagated);
    assert!(
        body[0].text.contains(&format!(
            "the body of the nursery opened at tests/nursery_errors.rs:{body_open_line}:"
        )),
        "{}",
        body[0].text
    );
}
