//! Review regressions for `creche::thread`: an abandoning call whose job is still queued in the
//! blocking pool (every pool thread busy) must not keep the runtime from looking idle once it
//! is abandoned (SYNC_TESTPLAN §3 Q8: an abandoned job stops counting as an active party).

mod common;

use common::{Counter, Gate, watchdog};
use creche::CancelScope;
use creche::thread::{default_thread_limiter, to_thread_abandon_on_cancel};
use creche::time::MockClock;
use std::sync::mpsc;

/// The only pool thread is held by an abandoned closure; a second abandoning call queues
/// behind it and is abandoned before it starts. The runtime must look idle then:
/// `wait_all_tasks_blocked` returns, and autojump moves time.
#[test]
fn a_queued_then_abandoned_job_does_not_hold_the_runtime() {
    let _w = watchdog("a_queued_then_abandoned_job_does_not_hold_the_runtime");
    let rt = creche::Builder::new()
        .worker_threads(2)
        .max_blocking_threads(1)
        .clock(MockClock::autojump())
        .build()
        .unwrap();
    let (release, parked) = mpsc::channel::<()>();
    let ran = Counter::new();
    let ran_inside = ran.clone();
    rt.block_on(async move {
        // Occupy the only pool thread with a closure abandoned while it runs.
        let inside = Gate::new();
        let first = CancelScope::new();
        let cancel_first = first.clone();
        let task = {
            let inside = inside.clone();
            creche::spawn(first.run(to_thread_abandon_on_cancel(move || {
                inside.open();
                let _ = parked.recv();
            })))
        };
        inside.wait().await;
        cancel_first.cancel();
        assert!(task.await.unwrap().is_none());
        // A second call: its job waits in the pool's queue (no thread free).
        let second = CancelScope::new();
        let cancel_second = second.clone();
        let task = creche::spawn(second.run(to_thread_abandon_on_cancel(move || {
            ran_inside.incr();
        })));
        // Its job is submitted in the poll that takes its limiter token.
        while default_thread_limiter().borrowed_tokens() < 2 {
            creche::checkpoint().await;
        }
        cancel_second.cancel();
        assert!(task.await.unwrap().is_none());
        // Both jobs are abandoned: nothing is in progress.
        creche::testing::wait_all_tasks_blocked().await;
        let t0 = creche::time::current_time();
        creche::time::sleep(common::secs(60)).await;
        assert_eq!(creche::time::current_time() - t0, common::secs(60));
    });
    release.send(()).unwrap();
    drop(rt);
    // The queued job never ran its closure (abandoned before it started), or ran it after
    // the first thread was released: either way at most once.
    assert!(ran.get() <= 1);
}
