//! Cancellation of channel operations (SYNC_TESTPLAN §1.7, §3 Q2, Q3, Q5): `send` and `recv`
//! are cancellation points checked before anything is taken or given; a cancelled `send`
//! leaves the channel unchanged and drops its value once; a receiver dropped after a value
//! was handed to it passes the value on (to the next receiver, or back to the front of the
//! buffer); drop counters show nothing is lost or duplicated.

mod common;

use common::{Counter, DropCount, secs, watchdog};
use creche::sync::{TryRecvError, TrySendError, channel};
use creche::testing::wait_all_tasks_blocked;
use creche::time::current_time;
use creche::{CancelScope, move_on_after, open_nursery};
use futures_lite::StreamExt;
use std::sync::Arc;

/// A value that counts its drops.
struct V(u32, #[allow(dead_code)] DropCount);

fn v(n: u32, drops: &Counter) -> V {
    V(n, DropCount(drops.clone()))
}

/// Trio's test_553: a `recv` cancelled by a timeout leaves the channel usable.
#[creche::test(autojump)]
async fn timed_out_recv_leaves_channel_usable() {
    let _w = watchdog("timed_out_recv_leaves_channel_usable");
    let (s, r) = channel::<u32>(1);
    let t0 = current_time();
    assert_eq!(move_on_after(secs(10), r.recv()).await, None);
    assert_eq!(current_time(), t0 + secs(10));
    assert_eq!(r.statistics().receivers_waiting, 0);
    s.send(7).await.unwrap();
    assert_eq!(current_time(), t0 + secs(10), "the send did not wait");
    assert_eq!(r.try_recv(), Ok(7));
}

/// Ready operations in a scope that is already cancelled give `None` and leave the channel
/// as it was: the value stays buffered, the room stays free.
#[creche::test]
async fn ready_operations_in_cancelled_scope_take_nothing() {
    let _w = watchdog("ready_operations_in_cancelled_scope_take_nothing");
    let (s, mut r) = channel::<u32>(2);
    s.try_send(1).unwrap();
    let cancelled = || {
        let scope = CancelScope::new();
        scope.cancel();
        scope
    };
    let after = Counter::new();
    let out = cancelled()
        .run(async {
            let v = r.recv().await;
            after.incr();
            v
        })
        .await;
    assert_eq!(out, None);
    assert_eq!(cancelled().run(r.next()).await, None);
    assert_eq!(cancelled().run(s.send(2)).await, None);
    assert_eq!(after.get(), 0);
    let stats = s.statistics();
    assert_eq!((stats.buffer_used, stats.senders_waiting), (1, 0));
    assert_eq!(r.try_recv(), Ok(1));
    assert_eq!(r.try_recv(), Err(TryRecvError::Empty));
}

/// A send queued on a full channel, then cancelled: its value is dropped exactly once, the
/// buffer still holds what it held, and nobody is left waiting.
#[creche::test(worker_threads = 2)]
async fn cancelled_send_drops_value_once() {
    let _w = watchdog("cancelled_send_drops_value_once");
    let (kept, cancelled) = (Counter::new(), Counter::new());
    let (s, r) = channel::<V>(1);
    s.try_send(v(1, &kept)).unwrap();
    let s = Arc::new(s);
    open_nursery(|n| {
        let (s, cancelled) = (s.clone(), cancelled.clone());
        async move {
            let scope = CancelScope::new();
            let (value, sender, child_scope) = (v(2, &cancelled), s.clone(), scope.clone());
            n.spawn(async move {
                assert!(child_scope.run(sender.send(value)).await.is_none());
                Ok::<_, ()>(())
            });
            wait_all_tasks_blocked().await;
            assert_eq!(s.statistics().senders_waiting, 1);
            assert_eq!(cancelled.get(), 0);
            scope.cancel();
            wait_all_tasks_blocked().await;
            assert_eq!(cancelled.get(), 1, "dropped with the cancelled send");
            Ok(())
        }
    })
    .await
    .unwrap();
    assert_eq!(cancelled.get(), 1);
    let stats = s.statistics();
    assert_eq!((stats.buffer_used, stats.senders_waiting), (1, 0));
    assert!(matches!(r.try_recv(), Ok(V(1, _))));
    assert_eq!(kept.get(), 1);
    assert_eq!(cancelled.get(), 1);
}

/// On one worker: receivers A (in scope S) and, if `with_b`, B queue on a channel of
/// `capacity`. `try_send(v)` hands v to A; S is cancelled with no await in between, so A is
/// dropped holding v without having seen it. With B, B gets v; without, v is back at the
/// front of the buffer, ahead of later sends. Either way v is dropped once at the end.
async fn handed_then_cancelled(capacity: usize, with_b: bool) {
    let drops = Counter::new();
    let (s, r) = channel::<V>(capacity);
    let r = Arc::new(r);
    let (a_got, b_got) = (Counter::new(), Counter::new());
    open_nursery(|n| {
        let (r, drops, a_got, b_got) = (r.clone(), drops.clone(), a_got.clone(), b_got.clone());
        async move {
            let scope = CancelScope::new();
            let (a_scope, a_r, a_count) = (scope.clone(), r.clone(), a_got.clone());
            n.spawn(async move {
                let a_got = a_count;
                let out = a_scope
                    .run(async {
                        let got = a_r.recv().await;
                        a_got.incr();
                        got
                    })
                    .await;
                assert!(out.is_none(), "A was cancelled before it ran");
                Ok::<_, ()>(())
            });
            wait_all_tasks_blocked().await;
            if with_b {
                let (b_r, b_count) = (r.clone(), b_got.clone());
                n.spawn(async move {
                    let V(n, _) = b_r.recv().await.unwrap();
                    assert_eq!(n, 1);
                    b_count.incr();
                    Ok::<_, ()>(())
                });
                wait_all_tasks_blocked().await;
            }
            assert_eq!(r.statistics().receivers_waiting, 1 + usize::from(with_b));
            assert!(s.try_send(v(1, &drops)).is_ok(), "handed to A");
            scope.cancel(); // no await since the hand-over: A has not run
            wait_all_tasks_blocked().await;
            assert_eq!(a_got.get(), 0);
            if with_b {
                assert_eq!(b_got.get(), 1, "B got the value A was handed");
                assert_eq!(drops.get(), 1, "dropped by B, once");
            } else {
                let stats = r.statistics();
                assert_eq!((stats.buffer_used, stats.receivers_waiting), (1, 0));
                assert_eq!(drops.get(), 0);
                let later = Counter::new();
                assert!(
                    matches!(s.try_send(v(2, &later)), Err(TrySendError::Full(V(2, _)))),
                    "the returned value fills the buffer"
                );
                assert!(matches!(r.try_recv(), Ok(V(1, _))), "v comes first");
                assert_eq!(drops.get(), 1);
            }
            Ok(())
        }
    })
    .await
    .unwrap();
    assert_eq!(drops.get(), 1);
}

#[creche::test(worker_threads = 1)]
async fn handed_then_cancelled_recv_passes_value_on() {
    let _w = watchdog("handed_then_cancelled_recv_passes_value_on");
    for capacity in [0, 1] {
        // In a task, so that the nursery body runs on the only worker: A, woken by the
        // hand-over, cannot run before the body's next await.
        creche::spawn(handed_then_cancelled(capacity, true))
            .await
            .unwrap();
    }
}

#[creche::test(worker_threads = 1)]
async fn handed_then_cancelled_recv_without_b_returns_value_to_buffer() {
    let _w = watchdog("handed_then_cancelled_recv_without_b_returns_value_to_buffer");
    for capacity in [0, 1] {
        creche::spawn(handed_then_cancelled(capacity, false))
            .await
            .unwrap();
    }
}

/// A value handed to a receiver that is dropped after the last receiver closed is dropped
/// (once), not kept.
#[creche::test(worker_threads = 1)]
async fn handed_value_dropped_when_no_receiver_is_left() {
    let _w = watchdog("handed_value_dropped_when_no_receiver_is_left");
    // In a task: the body runs on the only worker (see handed_then_cancelled).
    creche::spawn(async move {
        let drops = Counter::new();
        let (s, r) = channel::<V>(0);
        let r = Arc::new(r);
        open_nursery(|n| {
            let (r, drops) = (r.clone(), drops.clone());
            async move {
                let scope = CancelScope::new();
                let (a_scope, a_r) = (scope.clone(), r.clone());
                n.spawn(async move {
                    let _ = a_scope.run(a_r.recv()).await;
                    Ok::<_, ()>(())
                });
                wait_all_tasks_blocked().await;
                assert!(s.try_send(v(1, &drops)).is_ok());
                r.close(); // the last receiver handle
                scope.cancel();
                wait_all_tasks_blocked().await;
                assert_eq!(drops.get(), 1);
                assert_eq!(s.statistics().buffer_used, 0);
                Ok(())
            }
        })
        .await
        .unwrap();
    })
    .await
    .unwrap();
}

/// A stream receive in progress lives in the `Receiver` (dropping a `next()` future does not
/// end it): it is dropped with the receiver, and passes a value it was handed on.
#[creche::test(worker_threads = 1)]
async fn dropped_stream_passes_value_on() {
    let _w = watchdog("dropped_stream_passes_value_on");
    // In a task: the body runs on the only worker (see handed_then_cancelled).
    creche::spawn(async move {
        let (s, r) = channel::<u32>(0);
        let r2 = r.clone();
        let (r, r2) = (Arc::new(std::sync::Mutex::new(Some(r))), r2);
        open_nursery(|n| {
            let r = r.clone();
            async move {
                let scope = CancelScope::new();
                let (a_scope, a_r) = (scope.clone(), r.clone());
                n.spawn(async move {
                    let mut stream = a_r.lock().unwrap().take().unwrap();
                    let _ = a_scope.run(stream.next()).await;
                    Ok::<_, ()>(())
                });
                wait_all_tasks_blocked().await;
                assert!(s.try_send(5).is_ok(), "handed to the stream");
                scope.cancel();
                wait_all_tasks_blocked().await;
                assert_eq!(r2.try_recv(), Ok(5));
                Ok(())
            }
        })
        .await
        .unwrap();
    })
    .await
    .unwrap();
}

/// The end waits for a value in flight: receive A (a future held by the body) was handed v,
/// then the last sender closed. B, also queued, must not see the end yet: when A is dropped,
/// its v goes to B, and only then does the channel end.
#[creche::test(worker_threads = 2)]
async fn end_waits_for_value_in_flight() {
    let _w = watchdog("end_waits_for_value_in_flight");
    let (s, r) = channel::<u32>(0);
    let r = Arc::new(r);
    open_nursery(|n| {
        let r = r.clone();
        async move {
            let mut a = Box::pin(r.recv());
            assert!(futures_lite::future::poll_once(&mut a).await.is_none());
            let b_r = r.clone();
            let b = n.spawn(async move {
                let first = b_r.recv().await;
                let second = b_r.recv().await;
                Ok::<_, ()>((first, second))
            });
            wait_all_tasks_blocked().await;
            assert_eq!(r.statistics().receivers_waiting, 2);
            assert_eq!(s.try_send(1), Ok(()), "handed to A");
            drop(s); // the last sender
            wait_all_tasks_blocked().await;
            assert!(
                !b.is_finished(),
                "B does not see the end while v is in flight"
            );
            assert_eq!(r.statistics().receivers_waiting, 1);
            drop(a);
            assert_eq!(
                b.join().await,
                Ok((Ok(1), Err(creche::sync::RecvError::End)))
            );
            Ok(())
        }
    })
    .await
    .unwrap();
}

/// At scale, on two workers: producers and consumers race every operation against a
/// `yield_now`, so operations are dropped at random points, including after a hand-over that
/// happened on the other worker. No value is received twice, every send that returned `Ok` is
/// received, and every value is dropped exactly once in the end.
#[creche::test(worker_threads = 2)]
async fn racing_drops_lose_and_duplicate_nothing() {
    let _w = watchdog("racing_drops_lose_and_duplicate_nothing");
    const PRODUCERS: u32 = 3;
    const PER_PRODUCER: u32 = 150;
    for capacity in [0, 1, 3] {
        let drops = Counter::new();
        let sent_ok = Arc::new(std::sync::Mutex::new(Vec::new()));
        let received = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (s, r) = channel::<V>(capacity);
        let stats = {
            let (drops, sent_ok, received) = (drops.clone(), sent_ok.clone(), received.clone());
            open_nursery(|n| async move {
                for p in 0..PRODUCERS {
                    let (s, drops, sent_ok) = (s.clone(), drops.clone(), sent_ok.clone());
                    n.spawn(async move {
                        for i in 0..PER_PRODUCER {
                            let id = p * PER_PRODUCER + i;
                            let value = v(id, &drops);
                            let sent = creche::race(async { Some(s.send(value).await) }, async {
                                creche::yield_now().await;
                                None
                            })
                            .await;
                            if let Some(result) = sent {
                                assert!(result.is_ok());
                                sent_ok.lock().unwrap().push(id);
                            }
                        }
                        Ok::<_, ()>(())
                    });
                }
                for _ in 0..3 {
                    let (r, received) = (r.clone(), received.clone());
                    n.spawn(async move {
                        let mut turn = 0u32;
                        loop {
                            turn += 1;
                            // Every fourth receive waits for its outcome: a receive that is
                            // always dropped right after it queues could otherwise pass a
                            // value it was handed around the others forever.
                            if turn % 4 == 0 {
                                match r.recv().await {
                                    Ok(V(id, _)) => received.lock().unwrap().push(id),
                                    Err(_) => return Ok::<_, ()>(()),
                                }
                                continue;
                            }
                            let got = creche::race(async { Some(r.recv().await) }, async {
                                creche::yield_now().await;
                                None
                            })
                            .await;
                            match got {
                                Some(Ok(V(id, _))) => received.lock().unwrap().push(id),
                                Some(Err(_)) => return Ok::<_, ()>(()),
                                None => {}
                            }
                        }
                    });
                }
                drop(s);
                let stats = r.statistics();
                drop(r);
                Ok(stats)
            })
            .await
            .unwrap()
            .unwrap()
        };
        let _ = stats;
        let mut received = received.lock().unwrap().clone();
        let n_received = received.len();
        received.sort_unstable();
        received.dedup();
        assert_eq!(received.len(), n_received, "a value was received twice");
        for id in sent_ok.lock().unwrap().iter() {
            assert!(
                received.binary_search(id).is_ok(),
                "capacity {capacity}: value {id} was sent (Ok) but never received"
            );
        }
        assert_eq!(
            drops.get(),
            (PRODUCERS * PER_PRODUCER) as usize,
            "capacity {capacity}: every value dropped exactly once"
        );
    }
}
