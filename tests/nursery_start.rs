//! `Nursery::start` and `TaskStatus`: start returns the started value and the nursery then
//! waits for the child; a pending start keeps the target nursery open; an error before
//! `started` goes to the caller; no `started` is an error; a closed nursery refuses at once;
//! until `started` the child is in the caller's cancellation context, and afterwards in the
//! nursery's; `TaskStatus::ignored`.

mod common;

use common::{Counter, Gate, secs, tracked, watchdog};
use creche::testing::wait_all_tasks_blocked;
use creche::time::{Instant, current_time, sleep, sleep_forever};
use creche::{CancelScope, Nursery, StartError, TaskStatus, checkpoint, open_nursery};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Boom {
    id: u64,
}

/// A fresh id for each error value (so that a test can tell its own error apart).
fn unique_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(0x5EED_0000);
    NEXT.fetch_add(1, SeqCst)
}

#[creche::test(autojump)]
async fn start_returns_value_then_nursery_waits() {
    let _w = watchdog("start_returns_value_then_nursery_waits");
    for s in [1, 2] {
        let t0 = current_time();
        let result = open_nursery(|n| async move {
            let v = n
                .start(move |status: TaskStatus<u64>| async move {
                    sleep(secs(s)).await;
                    status.started(s * 10);
                    sleep(secs(s)).await;
                    Ok::<_, Boom>(())
                })
                .await
                .unwrap();
            Ok((v, current_time() - t0))
        })
        .await;
        assert_eq!(result, Ok(Some((s * 10, secs(s)))), "start returns at s");
        assert_eq!(
            current_time() - t0,
            secs(2 * s),
            "the block waits for the started child"
        );
    }
}

#[creche::test(autojump)]
async fn start_keeps_target_nursery_open() {
    let _w = watchdog("start_keeps_target_nursery_open");
    let t0 = current_time();
    let slot: Arc<Mutex<Option<Nursery<Boom>>>> = Arc::default();
    let ready = Gate::new();
    let times: Arc<Mutex<Vec<(&'static str, Instant)>>> = Arc::default();
    let record = {
        let times = times.clone();
        move |what: &'static str| times.lock().unwrap().push((what, current_time()))
    };
    let result = open_nursery(|n1| {
        let (slot, ready, record) = (slot.clone(), ready.clone(), record.clone());
        async move {
            // Owner of n2: its body ends at t=0, once the start into n2 is pending.
            let (s, r, rec) = (slot.clone(), ready.clone(), record.clone());
            n1.spawn(async move {
                let rec_body = rec.clone();
                let out = open_nursery(|n2| async move {
                    *s.lock().unwrap() = Some(n2.clone());
                    r.open();
                    wait_all_tasks_blocked().await;
                    rec_body("n2 body done");
                    Ok(())
                })
                .await;
                rec("n2 returned");
                out.map(drop)
            });
            // Starter: a child of n1 starts a child into n2.
            let rec = record.clone();
            n1.spawn(async move {
                ready.wait().await;
                let n2 = slot.lock().unwrap().take().unwrap();
                let rec2 = rec.clone();
                let v = n2
                    .start(move |status: TaskStatus<u8>| async move {
                        sleep(secs(2)).await;
                        status.started(7);
                        sleep(secs(3)).await;
                        rec2("started child done");
                        Ok(())
                    })
                    .await;
                assert_eq!(v, Ok(7));
                rec("start returned");
                Ok(())
            });
            Ok(())
        }
    })
    .await;
    assert_eq!(result, Ok(Some(())));
    let times: Vec<(&str, u64)> = times
        .lock()
        .unwrap()
        .iter()
        .map(|(what, at)| (*what, (*at - t0).as_secs()))
        .collect();
    assert_eq!(
        times,
        [
            ("n2 body done", 0),
            ("start returned", 2),
            ("started child done", 5),
            ("n2 returned", 5),
        ]
    );
    assert_eq!(current_time() - t0, secs(5));
}

#[creche::test(autojump)]
async fn start_early_error_goes_to_caller() {
    let _w = watchdog("start_early_error_goes_to_caller");
    let id = unique_id();
    let mut kept = None;
    let result = open_nursery(|n| {
        kept = Some(n.clone());
        async move {
            let out = n
                .start(move |_status: TaskStatus<u32>| async move {
                    checkpoint().await;
                    Err::<(), _>(Boom { id })
                })
                .await;
            Ok(out)
        }
    })
    .await;
    match result {
        Ok(Some(Err(StartError::Failed(e)))) => assert_eq!(e, Boom { id }),
        other => panic!("expected Failed(Boom {{ id: {id} }}), got {other:?}"),
    }
    assert_eq!(
        kept.unwrap().suppressed_failures(),
        0,
        "the error went to the caller only"
    );
}

#[creche::test(autojump)]
async fn start_without_started_is_an_error() {
    let _w = watchdog("start_without_started_is_an_error");
    let result = open_nursery(|n| async move {
        let out = n
            .start(|_status: TaskStatus<u32>| async {
                sleep(secs(1)).await;
                Ok::<(), Boom>(())
            })
            .await;
        Ok(out)
    })
    .await;
    assert!(
        matches!(result, Ok(Some(Err(StartError::NotStarted)))),
        "{result:?}"
    );
}

#[creche::test(autojump)]
async fn start_on_closed_nursery_fails_immediately() {
    let _w = watchdog("start_on_closed_nursery_fails_immediately");
    let mut kept: Option<Nursery<Boom>> = None;
    open_nursery(|n| {
        kept = Some(n.clone());
        async { Ok(()) }
    })
    .await
    .unwrap();
    let t0 = current_time();
    let (called, ran) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let (c, r) = (called.clone(), ran.clone());
    let out = kept
        .unwrap()
        .start(move |status: TaskStatus<()>| {
            c.store(true, SeqCst);
            async move {
                r.store(true, SeqCst);
                status.started(());
                Ok(())
            }
        })
        .await;
    assert_eq!(out, Err(StartError::Closed));
    sleep(secs(1)).await;
    assert!(!ran.load(SeqCst), "the child never ran");
    assert!(
        !called.load(SeqCst),
        "the task function was not even called"
    );
    assert_eq!(
        current_time() - t0,
        secs(1),
        "start itself took no virtual time"
    );
}

#[creche::test(autojump)]
async fn start_in_cancelled_scope_is_dropped() {
    let _w = watchdog("start_in_cancelled_scope_is_dropped");
    let (polls, drops, handed) = (Counter::new(), Counter::new(), Counter::new());
    let (p, d, h) = (polls.clone(), drops.clone(), handed.clone());
    let t0 = current_time();
    let result = open_nursery(|n| async move {
        let cs = CancelScope::new();
        cs.cancel();
        let out = cs
            .run(n.start(move |status: TaskStatus<()>| {
                tracked(
                    async move {
                        sleep(secs(1)).await;
                        h.incr();
                        status.started(());
                        Ok::<(), Boom>(())
                    },
                    &p,
                    &d,
                )
            }))
            .await;
        Ok((out, cs.cancelled_caught()))
    })
    .await;
    assert_eq!(result, Ok(Some((None, true))));
    assert_eq!(drops.get(), 1, "the child was dropped");
    assert_eq!(handed.get(), 0);
    assert_eq!(current_time(), t0);
}

#[creche::test(autojump)]
async fn start_in_cancelled_scope_without_await_succeeds() {
    let _w = watchdog("start_in_cancelled_scope_without_await_succeeds");
    let result = open_nursery(|n| async move {
        let cs = CancelScope::new();
        cs.cancel();
        let out = cs
            .run(n.start(|status: TaskStatus<()>| async move {
                status.started(());
                Ok::<(), Boom>(())
            }))
            .await;
        Ok((out, cs.cancel_called(), cs.cancelled_caught()))
    })
    .await;
    assert_eq!(result, Ok(Some((Some(Ok(())), true, false))));
}

#[creche::test(autojump)]
async fn started_child_moves_to_nursery_cancellation() {
    let _w = watchdog("started_child_moves_to_nursery_cancellation");
    // 1. Cancelling the caller's scope after `started` does not reach the child.
    let t0 = current_time();
    let (polls, drops, done) = (Counter::new(), Counter::new(), Counter::new());
    let (p, d, dn) = (polls.clone(), drops.clone(), done.clone());
    let result = open_nursery(|n| async move {
        let cs = CancelScope::new();
        let c = cs.clone();
        let out = cs
            .run(async move {
                let v = n
                    .start(move |status: TaskStatus<u8>| {
                        tracked(
                            async move {
                                status.started(1);
                                sleep(secs(1)).await;
                                dn.incr();
                                Ok::<(), Boom>(())
                            },
                            &p,
                            &d,
                        )
                    })
                    .await;
                assert_eq!(v, Ok(1));
                c.cancel();
                sleep_forever().await;
            })
            .await;
        Ok(out)
    })
    .await;
    assert_eq!(result, Ok(Some(None)));
    assert_eq!(
        done.get(),
        1,
        "the started child was not cancelled with the caller"
    );
    assert_eq!(drops.get(), 1);
    assert_eq!(current_time() - t0, secs(1));

    // 2. Cancelling the nursery does cancel it.
    let t0 = current_time();
    let (polls, drops, done) = (Counter::new(), Counter::new(), Counter::new());
    let (p, d, dn) = (polls.clone(), drops.clone(), done.clone());
    let result = open_nursery(|n| async move {
        let v = n
            .start(move |status: TaskStatus<u8>| {
                tracked(
                    async move {
                        status.started(2);
                        sleep(secs(1)).await;
                        dn.incr();
                        Ok::<(), Boom>(())
                    },
                    &p,
                    &d,
                )
            })
            .await;
        assert_eq!(v, Ok(2));
        n.cancel_scope().cancel();
        Ok(())
    })
    .await;
    assert_eq!(result, Ok(Some(())));
    assert_eq!(
        done.get(),
        0,
        "the nursery's cancellation reached the started child"
    );
    assert_eq!(drops.get(), 1);
    assert_eq!(current_time(), t0);
}

#[creche::test(autojump)]
async fn task_status_ignored() {
    let _w = watchdog("task_status_ignored");
    async fn serve(status: TaskStatus<u16>) -> Result<u16, Boom> {
        status.started(8080);
        sleep(secs(1)).await;
        Ok(200)
    }
    let t0 = current_time();
    assert_eq!(serve(TaskStatus::ignored()).await, Ok(200));
    assert_eq!(current_time() - t0, secs(1));
    // The same task function under `start`.
    let result = open_nursery(|n| async move { Ok(n.start(serve).await) }).await;
    assert_eq!(result, Ok(Some(Ok(8080))));
    assert_eq!(current_time() - t0, secs(2));
}

#[test]
fn start_error_display_source_and_eq() {
    use std::error::Error as _;
    let failed: StartError<std::io::Error> =
        StartError::Failed(std::io::Error::other("bind failed"));
    assert_eq!(
        failed.to_string(),
        "the child failed before it started: bind failed"
    );
    assert_eq!(failed.source().unwrap().to_string(), "bind failed");
    let not_started: StartError<std::io::Error> = StartError::NotStarted;
    assert!(not_started.source().is_none());
    assert_eq!(
        not_started.to_string(),
        "the child returned without calling `started`"
    );
    assert_eq!(
        StartError::<std::io::Error>::Closed.to_string(),
        "the nursery is closed: its block has ended"
    );
    assert_eq!(StartError::Failed(1), StartError::Failed(1));
    assert_ne!(StartError::Failed(1), StartError::Failed(2));
    assert_eq!(StartError::<i32>::Closed, StartError::Closed);
    assert_eq!(StartError::<i32>::NotStarted, StartError::NotStarted);
    assert_ne!(StartError::<i32>::Closed, StartError::NotStarted);
    assert!(format!("{:?}", TaskStatus::<u8>::ignored()).contains("ignored: true"));
}

/// A panic before `started` is resumed in the caller of `start`, payload unchanged; the
/// nursery itself is not failed by it.
#[creche::test(autojump)]
async fn start_child_panic_before_started_reaches_caller() {
    let _w = watchdog("start_child_panic_before_started_reaches_caller");
    let out = open_nursery(|n: Nursery<()>| async move {
        let start = n.start(|_status: TaskStatus<()>| async move {
            sleep(secs(1)).await;
            panic!("early panic");
            #[allow(unreachable_code)]
            Ok::<(), ()>(())
        });
        assert!(format!("{start:?}").contains("Start"));
        let caught =
            futures_lite::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(start)).await;
        let payload = caught.expect_err("the child's panic reaches start's caller");
        assert_eq!(common::panic_message(&*payload), "early panic");
        Ok(())
    })
    .await;
    assert_eq!(out, Ok(Some(())));
}

/// After `started`, a panic belongs to the nursery: it is resumed by `open_nursery`.
#[creche::test(autojump)]
async fn start_child_panic_after_started_reaches_nursery() {
    let _w = watchdog("start_child_panic_after_started_reaches_nursery");
    let out = futures_lite::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(open_nursery(
        |n: Nursery<()>| async move {
            n.start(|status: TaskStatus<()>| async move {
                status.started(());
                sleep(secs(1)).await;
                panic!("late panic");
                #[allow(unreachable_code)]
                Ok::<(), ()>(())
            })
            .await
            .unwrap();
            Ok(())
        },
    )))
    .await;
    let payload = out.expect_err("the panic reaches the nursery's caller");
    assert_eq!(common::panic_message(&*payload), "late panic");
}

/// `StartError`'s comparison, messages and source.
#[test]
fn start_error_eq_display_and_source() {
    use std::error::Error;
    type E = StartError<std::io::Error>;
    let failed = E::Failed(std::io::Error::other("disk on fire"));
    assert_eq!(
        failed.to_string(),
        "the child failed before it started: disk on fire"
    );
    assert_eq!(failed.source().unwrap().to_string(), "disk on fire");
    assert_eq!(
        E::NotStarted.to_string(),
        "the child returned without calling `started`"
    );
    assert_eq!(
        E::Closed.to_string(),
        "the nursery is closed: its block has ended"
    );
    assert!(E::Closed.source().is_none() && E::NotStarted.source().is_none());
    assert_eq!(StartError::<u8>::Failed(1), StartError::Failed(1));
    assert_ne!(StartError::<u8>::Failed(1), StartError::Failed(2));
    assert_eq!(StartError::<u8>::Closed, StartError::Closed);
    assert_eq!(StartError::<u8>::NotStarted, StartError::NotStarted);
    assert_ne!(StartError::<u8>::NotStarted, StartError::Closed);
    assert_ne!(StartError::<u8>::Failed(1), StartError::NotStarted);
}
