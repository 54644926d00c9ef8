//! `creche::sync::Event`: set is sticky and wakes every waiter, `wait` is a cancellation
//! point, a dropped waiter unregisters, a set from a plain thread wakes tasks.

mod common;

use common::{Counter, watchdog};
use creche::sync::Event;
use creche::testing::wait_all_tasks_blocked;
use creche::time::current_time;
use creche::{CancelScope, open_nursery};
use std::sync::Arc;

#[creche::test(autojump, worker_threads = 2)]
async fn set_wakes_every_waiter() {
    let _w = watchdog("set_wakes_every_waiter");
    let event = Arc::new(Event::new());
    let woken = Counter::new();
    let t0 = current_time();
    open_nursery(|n| {
        let (event, woken) = (event.clone(), woken.clone());
        async move {
            for _ in 0..2 {
                let (event, woken) = (event.clone(), woken.clone());
                n.spawn(async move {
                    event.wait().await;
                    woken.incr();
                    Ok::<_, ()>(())
                });
            }
            wait_all_tasks_blocked().await;
            assert_eq!(event.statistics().tasks_waiting, 2);
            assert_eq!(woken.get(), 0);
            event.set();
            wait_all_tasks_blocked().await;
            assert_eq!(woken.get(), 2);
            assert_eq!(event.statistics().tasks_waiting, 0);
            Ok(())
        }
    })
    .await
    .unwrap();
    // A set event stays set: waiting again completes at once, and no time passed.
    event.wait().await;
    assert!(event.is_set());
    assert_eq!(current_time(), t0);
}

#[creche::test(autojump)]
async fn wait_on_set_event_is_a_cancel_point() {
    let _w = watchdog("wait_on_set_event_is_a_cancel_point");
    let event = Event::new();
    event.set();
    let scope = CancelScope::new();
    scope.cancel();
    let after = Counter::new();
    let out = scope
        .run(async {
            event.wait().await;
            after.incr();
        })
        .await;
    assert_eq!(out, None);
    assert_eq!(after.get(), 0);
}

#[creche::test(autojump)]
async fn a_dropped_waiter_unregisters() {
    let _w = watchdog("a_dropped_waiter_unregisters");
    let event = Event::new();
    let mut wait = Box::pin(event.wait());
    assert!(futures_lite::future::poll_once(&mut wait).await.is_none());
    assert_eq!(event.statistics().tasks_waiting, 1);
    // A waiter cancelled by its scope unregisters too.
    let scope = CancelScope::new();
    let handle = scope.clone();
    let out = scope
        .run(async {
            handle.cancel();
            event.wait().await;
        })
        .await;
    assert_eq!(out, None);
    assert_eq!(
        event.statistics().tasks_waiting,
        1,
        "only the pinned waiter"
    );
    drop(wait);
    assert_eq!(event.statistics().tasks_waiting, 0);
    assert!(format!("{event:?}").contains("is_set: false"));
}

#[creche::test(autojump)]
async fn set_from_a_plain_thread_wakes() {
    let _w = watchdog("set_from_a_plain_thread_wakes");
    let event = Arc::new(Event::new());
    let setter = event.clone();
    let thread = std::thread::spawn(move || setter.set());
    event.wait().await;
    thread.join().unwrap();
    assert!(event.is_set());
}
