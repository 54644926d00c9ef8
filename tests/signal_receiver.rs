//! `creche::signal`: a raised signal reaches a waiting receiver (woken from the dispatcher
//! thread), deliveries are counted and not merged, the `Stream` yields signal numbers, `recv` is
//! a cancellation point that loses nothing, `ctrl_c` resolves on SIGINT, dropping a receiver
//! stops the counting, and bad signal lists are errors.
//!
//! The tests of this file raise signals at their own process, whose other tests run in
//! parallel threads: every test holds `SERIAL`, so that no test counts another's signals. Only
//! SIGUSR1, SIGUSR2 and SIGINT are raised, each only while a receiver for it is open (so the
//! default action, which would kill the test binary, never runs).

mod common;

use common::{Counter, lock_ignoring_poison, watchdog};
use creche::CancelScope;
use creche::signal::{SIGINT, SIGUSR1, SIGUSR2, ctrl_c, open_signal_receiver};
use creche::testing::wait_all_tasks_blocked;
use futures_lite::StreamExt;
use signal_hook::low_level::raise;
use std::io;
use std::sync::Mutex;

static SERIAL: Mutex<()> = Mutex::new(());

/// Runs `body` on a runtime with `workers` workers, holding `SERIAL`.
fn serially<F: std::future::Future>(workers: usize, body: F) -> F::Output {
    let _serial = lock_ignoring_poison(&SERIAL);
    let rt = creche::Builder::new()
        .worker_threads(workers)
        .build()
        .unwrap();
    rt.block_on(body)
}

#[test]
fn a_waiting_receiver_is_woken() {
    serially(2, async {
        let _w = watchdog("a_waiting_receiver_is_woken");
        let mut signals = open_signal_receiver([SIGUSR1]).unwrap();
        let waiter = creche::spawn(async move { signals.recv().await });
        wait_all_tasks_blocked().await; // the waiter is parked in recv
        raise(SIGUSR1).unwrap();
        assert_eq!(waiter.await.unwrap(), SIGUSR1);
    });
}

#[test]
fn deliveries_are_counted_not_merged() {
    serially(1, async {
        let _w = watchdog("deliveries_are_counted_not_merged");
        let mut signals = open_signal_receiver([SIGUSR2]).unwrap();
        for _ in 0..3 {
            raise(SIGUSR2).unwrap();
        }
        for _ in 0..3 {
            assert_eq!(signals.recv().await, SIGUSR2);
        }
        assert_eq!(signals.try_recv(), None);
    });
}

#[test]
fn the_stream_yields_signal_numbers() {
    serially(1, async {
        let _w = watchdog("the_stream_yields_signal_numbers");
        let mut signals = open_signal_receiver([SIGUSR2, SIGUSR1, SIGUSR1]).unwrap();
        raise(SIGUSR2).unwrap();
        raise(SIGUSR1).unwrap();
        let mut got = vec![signals.next().await.unwrap(), signals.next().await.unwrap()];
        got.sort_unstable();
        assert_eq!(got, [SIGUSR1, SIGUSR2]);
    });
}

#[test]
fn two_receivers_each_count_every_delivery() {
    serially(1, async {
        let _w = watchdog("two_receivers_each_count_every_delivery");
        let mut a = open_signal_receiver([SIGUSR1]).unwrap();
        let mut b = open_signal_receiver([SIGUSR1]).unwrap();
        raise(SIGUSR1).unwrap();
        assert_eq!(a.recv().await, SIGUSR1);
        assert_eq!(b.recv().await, SIGUSR1);
        // Dropped: `b` is no longer counted, and the process survives the signal.
        drop(a);
        raise(SIGUSR1).unwrap();
        assert_eq!(b.recv().await, SIGUSR1);
        let mut later = open_signal_receiver([SIGUSR1]).unwrap();
        assert_eq!(
            later.try_recv(),
            None,
            "a new receiver sees no earlier delivery"
        );
    });
}

#[test]
fn recv_is_a_cancellation_point_that_loses_nothing() {
    serially(1, async {
        let _w = watchdog("recv_is_a_cancellation_point_that_loses_nothing");
        let mut signals = open_signal_receiver([SIGUSR2]).unwrap();
        raise(SIGUSR2).unwrap();
        let scope = CancelScope::new();
        scope.cancel();
        let after = Counter::new();
        let out = scope
            .run(async {
                let signal = signals.recv().await;
                after.incr();
                signal
            })
            .await;
        assert_eq!((out, after.get()), (None, 0));
        // The delivery is still counted for the next recv.
        assert_eq!(signals.recv().await, SIGUSR2);
    });
}

#[test]
fn ctrl_c_resolves_on_sigint() {
    serially(2, async {
        let _w = watchdog("ctrl_c_resolves_on_sigint");
        let interrupted = creche::spawn(ctrl_c()); // listening from the call on
        wait_all_tasks_blocked().await;
        raise(SIGINT).unwrap();
        interrupted.await.unwrap().unwrap();
    });
}

#[test]
fn bad_signal_lists_are_errors() {
    let kind = |r: io::Result<_>| r.unwrap_err().kind();
    assert_eq!(kind(open_signal_receiver([])), io::ErrorKind::InvalidInput);
    assert_eq!(
        kind(open_signal_receiver([
            SIGUSR1,
            signal_hook::consts::SIGKILL
        ])),
        io::ErrorKind::InvalidInput
    );
    assert!(open_signal_receiver([100_000]).is_err());
}

#[test]
fn debug_lists_the_signals_sorted_and_deduplicated() {
    serially(1, async {
        let signals = open_signal_receiver([SIGUSR2, SIGUSR1, SIGUSR2]).unwrap();
        assert_eq!(
            format!("{signals:?}"),
            format!("SignalReceiver {{ signals: [{SIGUSR1}, {SIGUSR2}], .. }}")
        );
    });
}

/// A poll that finds a delivery but has no coop budget left returns `Pending` and puts the
/// delivery back: it is not lost, the next receive returns it.
#[test]
fn a_delivery_found_without_budget_is_put_back() {
    use creche::runtime::coop::{self, BUDGET};
    use std::task::Poll;
    serially(1, async {
        let _w = watchdog("a_delivery_found_without_budget_is_put_back");
        let mut signals = open_signal_receiver([SIGUSR1]).unwrap();
        raise(SIGUSR1).unwrap();
        std::future::poll_fn(|cx| {
            for _ in 0..BUDGET {
                match coop::poll_proceed(cx) {
                    Poll::Ready(progress) => progress.made_progress(),
                    Poll::Pending => break,
                }
            }
            assert!(!coop::has_budget_remaining());
            assert_eq!(signals.poll_recv(cx), Poll::Pending);
            Poll::Ready(())
        })
        .await;
        assert_eq!(signals.try_recv(), Some(SIGUSR1), "put back");
        assert_eq!(signals.try_recv(), None);
    });
}
