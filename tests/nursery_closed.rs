//! A nursery closes when its block has ended: `spawn` then panics (naming the spawn site and
//! the nursery's open site), `try_spawn` returns `Closed` and drops the future at once. While
//! the block is ending (body done, children alive) the nursery is still open.

mod common;

use common::{Counter, DropCount, panic_message, secs, tracked, watchdog};
use creche::testing::wait_all_tasks_blocked;
use creche::time::{current_time, sleep};
use creche::{Closed, Nursery, checkpoint, open_nursery};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};

#[creche::test(autojump)]
#[should_panic(expected = "closed")]
async fn spawn_after_close_panics() {
    let _w = watchdog("spawn_after_close_panics");
    let mut kept: Option<Nursery<()>> = None;
    open_nursery(|n| {
        kept = Some(n.clone());
        async { Ok(()) }
    })
    .await
    .unwrap();
    kept.unwrap().spawn(async { Ok(()) });
}

#[creche::test(autojump)]
async fn spawn_after_close_message_names_sites() {
    let _w = watchdog("spawn_after_close_message_names_sites");
    let mut kept: Option<Nursery<()>> = None;
    let open_line = line!() + 1;
    open_nursery(|n| {
        kept = Some(n.clone());
        async { Ok(()) }
    })
    .await
    .unwrap();
    let n = kept.unwrap();
    let spawn_line = line!() + 1;
    let payload = catch_unwind(AssertUnwindSafe(|| n.spawn(async { Ok(()) })))
        .expect_err("spawn into a closed nursery panics");
    let message = panic_message(&*payload);
    assert!(message.contains("closed"), "{message}");
    assert!(
        message.contains(&format!("tests/nursery_closed.rs:{spawn_line}:")),
        "names the spawn site: {message}"
    );
    assert!(
        message.contains(&format!("tests/nursery_closed.rs:{open_line}:")),
        "names the nursery's open site: {message}"
    );
    // spawn_named too.
    let payload = catch_unwind(AssertUnwindSafe(|| {
        n.spawn_named("closed-named", async { Ok(()) })
    }))
    .expect_err("spawn_named into a closed nursery panics");
    let message = panic_message(&*payload);
    assert!(message.contains("tests/nursery_closed.rs"), "{message}");
    assert!(message.contains("closed"), "{message}");
}

#[creche::test(autojump)]
async fn try_spawn_after_close_is_closed() {
    let _w = watchdog("try_spawn_after_close_is_closed");
    let mut kept: Option<Nursery<()>> = None;
    open_nursery(|n| {
        kept = Some(n.clone());
        async { Ok(()) }
    })
    .await
    .unwrap();
    let drops = Counter::new();
    let guard = DropCount(drops.clone());
    let ran = Arc::new(AtomicBool::new(false));
    let r = ran.clone();
    let out = kept.unwrap().try_spawn(async move {
        let _guard = guard;
        r.store(true, SeqCst);
        Ok(())
    });
    assert_eq!(drops.get(), 1, "the future was dropped at once");
    assert_eq!(out.unwrap_err(), Closed);
    sleep(secs(1)).await;
    assert!(!ran.load(SeqCst));
    assert_eq!(drops.get(), 1);
}

#[creche::test(autojump)]
async fn spawn_while_closing_is_allowed() {
    let _w = watchdog("spawn_while_closing_is_allowed");
    let t0 = current_time();
    let body_done = Arc::new(AtomicBool::new(false));
    let (polls, drops, finished) = (Counter::new(), Counter::new(), Counter::new());
    let (p, d, f) = (polls.clone(), drops.clone(), finished.clone());
    let spawned_while_closing = Arc::new(AtomicBool::new(false));
    let (bd, swc) = (body_done.clone(), spawned_while_closing.clone());
    let result = open_nursery(|n| async move {
        let n2 = n.clone();
        n.spawn(async move {
            while !bd.load(SeqCst) {
                checkpoint().await;
            }
            // The body has returned; let the nursery park in its closing phase.
            wait_all_tasks_blocked().await;
            let first = n2.spawn(tracked(
                async move {
                    sleep(secs(1)).await;
                    f.incr();
                    Ok(())
                },
                &p,
                &d,
            ));
            let second = n2.try_spawn(async { Ok(()) });
            swc.store(second.is_ok(), SeqCst);
            drop(first);
            Ok(())
        });
        body_done.store(true, SeqCst);
        Ok::<_, ()>("body")
    })
    .await;
    assert_eq!(result, Ok(Some("body")));
    assert!(
        spawned_while_closing.load(SeqCst),
        "try_spawn succeeded while closing"
    );
    assert_eq!(finished.get(), 1, "the sibling ran to completion");
    assert_eq!(drops.get(), 1);
    assert_eq!(
        current_time() - t0,
        secs(1),
        "the block waited for the sibling"
    );
}

/// What a nursery, its future and a child's handle show when printed, and the messages of
/// `Closed` and `Cancelled`.
#[creche::test(autojump)]
async fn debug_forms_and_error_messages() {
    use creche::Cancelled;
    use std::error::Error;
    let _w = watchdog("debug_forms_and_error_messages");
    let mut kept: Option<Nursery<()>> = None;
    let opening = open_nursery(|n| {
        kept = Some(n.clone());
        async move {
            let idle = n.spawn(async {
                sleep(secs(1)).await;
                Ok(())
            });
            let shown = format!("{n:?}");
            assert!(shown.starts_with("Nursery { opened_at: "), "{shown}");
            assert!(shown.contains("nursery_closed.rs"), "{shown}");
            assert!(shown.ends_with("children: 1, closed: false }"), "{shown}");
            assert_eq!(
                format!("{idle:?}"),
                format!("TaskHandle {{ id: {:?} }}", idle.id())
            );
            Ok(())
        }
    });
    let shown = format!("{opening:?}");
    assert!(
        shown.starts_with("OpenNursery { phase: Init, opened_at: "),
        "{shown}"
    );
    assert!(shown.contains("nursery_closed.rs"), "{shown}");
    opening.await.unwrap();
    let shown = format!("{:?}", kept.unwrap());
    assert!(shown.ends_with("children: 0, closed: true }"), "{shown}");

    assert_eq!(
        Closed.to_string(),
        "the nursery is closed: its block has ended"
    );
    assert_eq!(
        Cancelled.to_string(),
        "the task was cancelled or failed; its failure went to its nursery"
    );
    assert!(Closed.source().is_none() && Cancelled.source().is_none());
}
