//! Cancel scopes and deadlines, step by step: nested scopes, moving a deadline while the body
//! runs, a shield for cleanup, `fail_after`, and `Nursery::start` handing back a value once a
//! background task is ready.
//!
//! The runtime runs on a virtual clock that jumps to the next deadline whenever every task is
//! waiting (`MockClock::autojump`), so the hour-long sleeps below take no real time and every
//! printed time is exact.
//!
//! Run with `cargo run --example deadlines`.

use creche::time::{Instant, MockClock, current_time, sleep, sleep_forever};
use creche::{
    CancelScope, TaskStatus, TooSlow, current_effective_deadline, fail_after, move_on_after,
    open_nursery,
};
use std::time::Duration;

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// Virtual seconds since the start, for printing.
fn t() -> String {
    let now = current_time() - Instant::ZERO;
    format!("t={:>3}s", now.as_secs())
}

/// The deadline that applies here, for printing.
fn deadline() -> String {
    match current_effective_deadline() {
        Instant::MAX => "none".to_owned(),
        Instant::ZERO => "cancelled".to_owned(),
        d => format!("t={}s", (d - Instant::ZERO).as_secs()),
    }
}

fn main() {
    let rt = creche::Builder::new()
        .clock(MockClock::autojump())
        .build()
        .expect("build the runtime");
    rt.block_on(async {
        println!("{} start; effective deadline: {}", t(), deadline());

        // 1. Nested scopes: the inner deadline (3 s) comes first and only the inner body is
        //    dropped; the outer one (10 s) then stops the rest.
        let outer = move_on_after(secs(10), async {
            println!(
                "{} [1] outer scope entered; effective deadline: {}",
                t(),
                deadline()
            );
            let inner = move_on_after(secs(3), async {
                println!(
                    "{} [1]   inner scope entered; effective deadline: {}",
                    t(),
                    deadline()
                );
                sleep(secs(5)).await;
                "inner finished"
            })
            .await;
            println!("{} [1]   inner scope returned {inner:?}", t());
            sleep(secs(60)).await;
            "outer finished"
        })
        .await;
        println!("{} [1] outer scope returned {outer:?}", t());
        assert_eq!((outer, current_time() - Instant::ZERO), (None, secs(10)));

        // 2. Moving a deadline while the body runs: later, then to the past.
        let scope = CancelScope::new();
        scope.deadline_after(secs(5));
        let handle = scope.clone();
        let moved = scope
            .run(async move {
                println!("{} [2] scope entered; deadline: {}", t(), deadline());
                sleep(secs(2)).await;
                handle.set_deadline(current_time() + secs(20));
                println!("{} [2]   deadline pushed back to {}", t(), deadline());
                sleep(secs(10)).await; // would have been cut at 5 s
                println!("{} [2]   slept 10 s past the first deadline", t());
                handle.set_deadline(current_time());
                println!("{} [2]   deadline moved to now: {}", t(), deadline());
                sleep(secs(1)).await; // the cancellation lands here
                unreachable!("the scope's deadline has passed");
            })
            .await;
        println!(
            "{} [2] scope returned {moved:?}; cancel_called={}, cancelled_caught={}",
            t(),
            scope.cancel_called(),
            scope.cancelled_caught()
        );

        // 3. A shield: the outer deadline passes during a shielded cleanup, which runs to the
        //    end; the cancellation then lands at the next cancellation point outside it.
        let shielded = CancelScope::new();
        shielded.set_shield(true);
        let cleanup = shielded.clone();
        let outer = move_on_after(secs(2), async move {
            println!("{} [3] work; effective deadline: {}", t(), deadline());
            let done = cleanup
                .run(async {
                    println!(
                        "{} [3]   shielded cleanup starts; effective deadline: {}",
                        t(),
                        deadline()
                    );
                    sleep(secs(4)).await; // outlives the outer deadline
                    println!("{} [3]   shielded cleanup done", t());
                    "cleaned up"
                })
                .await;
            println!(
                "{} [3] after the shield: {done:?}; effective deadline: {}",
                t(),
                deadline()
            );
            sleep(secs(1)).await; // the outer cancellation lands here
            "never"
        })
        .await;
        println!("{} [3] outer scope returned {outer:?}", t());

        // 4. fail_after turns a missed deadline into an error.
        let slow = fail_after(secs(1), sleep(secs(30))).await;
        println!("{} [4] fail_after(1 s, sleep(30 s)) = {slow:?}", t());
        assert_eq!(slow, Err(TooSlow));

        // 5. Nursery::start: a "server" binds, reports its port through started(), and keeps
        //    serving in the nursery; the body uses the port, then cancels the nursery.
        let served = open_nursery(|n| async move {
            let port = n
                .start(|status: TaskStatus<u16>| async move {
                    sleep(secs(1)).await; // binding takes a second
                    println!("{} [5]   server bound, reporting its port", t());
                    status.started(8080);
                    sleep_forever().await; // serve until cancelled
                    Ok::<(), String>(())
                })
                .await
                .map_err(|e| format!("start failed: {e:?}"))?;
            println!(
                "{} [5] start returned port {port}; talking to it for 3 s",
                t()
            );
            sleep(secs(3)).await;
            println!("{} [5] done: cancelling the nursery (and its server)", t());
            n.cancel_scope().cancel();
            Ok(port)
        })
        .await;
        println!("{} [5] open_nursery returned {served:?}", t());
        assert_eq!(served, Ok(Some(8080)));
    });
}
