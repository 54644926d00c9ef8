//! `creche::sync::channel` basics (SYNC_TESTPLAN §1.6, §1.7): buffered send and receive,
//! lasting close answers, many producers streaming to the end, many consumers sharing the
//! values, the lazy unbounded channel, statistics, and coop budget on ready operations.

mod common;

use common::{Counter, watchdog};
use creche::open_nursery;
use creche::sync::{RecvError, SendError, TryRecvError, TrySendError, channel};
use creche::testing::wait_all_tasks_blocked;
use futures_lite::StreamExt;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Mutex};

/// Trio's test_channel: capacity 2; `try_send` on a full channel gives the value back; a
/// closed sender fails its sends with the value; the receiver drains, then sees the end, then
/// (once closed itself) `Closed`; every later call gives the same answer.
#[creche::test]
async fn buffered_send_recv_and_close() {
    let _w = watchdog("buffered_send_recv_and_close");
    let (s, r) = channel::<u32>(2);
    assert_eq!(s.try_send(1), Ok(()));
    assert_eq!(s.send(2).await, Ok(()));
    assert_eq!(s.try_send(3), Err(TrySendError::Full(3)));
    assert_eq!(r.recv().await, Ok(1));
    assert_eq!(r.try_recv(), Ok(2));
    assert_eq!(r.try_recv(), Err(TryRecvError::Empty));

    assert_eq!(s.send(10).await, Ok(()));
    s.close();
    for _ in 0..2 {
        assert_eq!(s.send(11).await, Err(SendError::Closed(11)));
        assert_eq!(s.try_send(12), Err(TrySendError::Closed(12)));
        assert!(s.is_closed());
    }
    assert_eq!(r.recv().await, Ok(10));
    for _ in 0..2 {
        assert_eq!(r.recv().await, Err(RecvError::End));
        assert_eq!(r.try_recv(), Err(TryRecvError::End));
    }
    r.close();
    r.close(); // idempotent
    for _ in 0..2 {
        assert_eq!(r.recv().await, Err(RecvError::Closed));
        assert_eq!(r.try_recv(), Err(TryRecvError::Closed));
    }
    // A clone of a closed handle is closed.
    assert_eq!(s.clone().try_send(13), Err(TrySendError::Closed(13)));
    assert!(r.clone().is_closed());
    let stats = r.statistics();
    assert_eq!((stats.open_senders, stats.open_receivers), (0, 0));
}

/// Trio's test_channel_multiple_producers: ten producers on clones of a rendezvous sender,
/// each dropping its clone when done; the stream (`Receiver: Stream`) ends once all are gone.
#[creche::test(worker_threads = 2)]
async fn many_producers_stream_to_end() {
    let _w = watchdog("many_producers_stream_to_end");
    let (s, r) = channel::<u32>(0);
    let got = open_nursery(|n| async move {
        for p in 0..10 {
            let s = s.clone();
            n.spawn(async move {
                for j in 0..3 {
                    s.send(p * 3 + j).await.unwrap();
                }
                Ok::<_, ()>(())
            });
        }
        drop(s);
        Ok(r.collect::<Vec<_>>().await)
    })
    .await;
    let mut got = got.unwrap().unwrap();
    got.sort_unstable();
    assert_eq!(got, (0..30).collect::<Vec<_>>());
}

/// Trio's test_channel_multiple_consumers: five consumers on capacity 1 share the values;
/// each value arrives once, and FIFO hand-over reaches every consumer (the first five values
/// go to the five queued consumers, one each).
#[creche::test(worker_threads = 2)]
async fn many_consumers_each_get_some() {
    let _w = watchdog("many_consumers_each_get_some");
    let (s, r) = channel::<u32>(1);
    let seen: Arc<Mutex<Vec<Vec<u32>>>> = Arc::new(Mutex::new(vec![Vec::new(); 5]));
    open_nursery(|n| {
        let seen = seen.clone();
        async move {
            for c in 0..5 {
                let (r, seen) = (r.clone(), seen.clone());
                n.spawn(async move {
                    while let Ok(v) = r.recv().await {
                        seen.lock().unwrap()[c].push(v);
                    }
                    Ok::<_, ()>(())
                });
            }
            drop(r);
            wait_all_tasks_blocked().await;
            assert_eq!(s.statistics().receivers_waiting, 5);
            for v in 0..10 {
                s.send(v).await.unwrap();
            }
            Ok(())
        }
    })
    .await
    .unwrap();
    let seen = seen.lock().unwrap();
    let mut all: Vec<u32> = seen.iter().flatten().copied().collect();
    all.sort_unstable();
    assert_eq!(all, (0..10).collect::<Vec<_>>(), "each value exactly once");
    for (c, got) in seen.iter().enumerate() {
        assert!(!got.is_empty(), "consumer {c} got nothing: {seen:?}");
    }
}

/// Trio's test_inf_capacity: `channel(usize::MAX)` is unbounded and lazily allocated (a
/// buffer reserved for its capacity up front could not be allocated at all).
#[creche::test]
async fn huge_capacity_is_lazy() {
    let _w = watchdog("huge_capacity_is_lazy");
    let (s, r) = channel::<u64>(usize::MAX);
    for i in 0..100_000 {
        s.try_send(i).unwrap();
    }
    let stats = s.statistics();
    assert_eq!((stats.buffer_used, stats.capacity), (100_000, usize::MAX));
    drop(s);
    let mut sum = 0;
    while let Ok(v) = r.recv().await {
        sum += v;
    }
    assert_eq!(sum, (0..100_000).sum::<u64>());
}

/// Trio's test_statistics: buffer use and its peak (kept after draining), open handles, and
/// waiting operations, which leave the counts when their nursery is cancelled.
#[creche::test(worker_threads = 2)]
async fn statistics() {
    let _w = watchdog("statistics");
    let (s, r) = channel::<u32>(2);
    let s2 = s.clone();
    let r2 = r.clone();
    let stats = s.statistics();
    assert_eq!(
        (stats.open_senders, stats.open_receivers, stats.capacity),
        (2, 2, 2)
    );
    s.try_send(1).unwrap();
    s.try_send(2).unwrap();
    let stats = r.statistics();
    assert_eq!((stats.buffer_used, stats.peak_buffer_used), (2, 2));
    let (s, r) = (Arc::new(s), Arc::new(r));
    open_nursery(|n| {
        let (s, r) = (s.clone(), r.clone());
        async move {
            let sender = s.clone();
            n.spawn(async move {
                sender.send(3).await.unwrap();
                Ok::<_, ()>(())
            });
            wait_all_tasks_blocked().await;
            assert_eq!(s.statistics().senders_waiting, 1);
            for want in 1..=3 {
                assert_eq!(r.recv().await, Ok(want));
            }
            wait_all_tasks_blocked().await;
            let stats = r.statistics();
            assert_eq!((stats.buffer_used, stats.peak_buffer_used), (0, 2));
            assert_eq!(stats.senders_waiting, 0);
            for _ in 0..2 {
                let r = r.clone();
                n.spawn(async move {
                    let _ = r.recv().await;
                    Ok::<_, ()>(())
                });
            }
            wait_all_tasks_blocked().await;
            assert_eq!(s.statistics().receivers_waiting, 2);
            n.cancel_scope().cancel();
            Ok(())
        }
    })
    .await
    .unwrap();
    let stats = s.statistics();
    assert_eq!((stats.receivers_waiting, stats.senders_waiting), (0, 0));
    drop(s2);
    assert_eq!(r.statistics().open_senders, 1);
    drop(r2);
    r.close();
    assert_eq!(s.statistics().open_receivers, 0);
}

/// Ready channel operations spend coop budget: on one worker, a task looping on a ready
/// `send` + `recv` pair still lets a task spawned later run (and set the flag ending the loop).
#[test]
fn ready_operations_spend_budget() {
    let _w = watchdog("ready_operations_spend_budget");
    let rt = creche::Builder::new().worker_threads(1).build().unwrap();
    let flag = Arc::new(AtomicBool::new(false));
    let started = Counter::new();
    let looping = rt.spawn({
        let (flag, started) = (flag.clone(), started.clone());
        async move {
            let (s, r) = channel::<u32>(1);
            started.incr();
            let mut turns = 0u32;
            while !flag.load(SeqCst) {
                if turns == 1_000_000 {
                    return Err(turns);
                }
                s.send(turns).await.unwrap();
                assert_eq!(r.recv().await, Ok(turns));
                turns += 1;
            }
            Ok(turns)
        }
    });
    started.wait_for(1); // the only worker is inside the loop
    let setter = rt.spawn(async move { flag.store(true, SeqCst) });
    let turns = rt.block_on(looping).unwrap();
    assert!(turns.is_ok(), "the looping task starved the setter");
    rt.block_on(setter).unwrap();
}

/// Polling a send again after it completed is a misuse, and panics with a clear message.
#[test]
#[should_panic(expected = "SendFuture polled after completion")]
fn send_polled_after_completion_panics() {
    let (s, _r) = channel::<u32>(1);
    futures_lite::future::block_on(async {
        let mut send = std::pin::pin!(s.send(1));
        assert_eq!(
            futures_lite::future::poll_once(&mut send).await,
            Some(Ok(()))
        );
        let _ = futures_lite::future::poll_once(&mut send).await;
    });
}

/// Handles and futures cross threads (a task may move between workers), and handles can be
/// shared by reference (`Arc<Sender<T>>`), for any `T: Send`.
#[test]
fn handles_and_futures_are_send_and_sync() {
    fn send_sync<X: Send + Sync>() {}
    fn send<X: Send>(_: &X) {}
    send_sync::<creche::sync::Sender<String>>();
    send_sync::<creche::sync::Receiver<String>>();
    let (s, r) = channel::<String>(1);
    let (sending, receiving) = (s.send(String::new()), r.recv());
    send(&sending);
    send(&receiving);
}

/// The handles and the futures describe themselves: a handle shows whether it is closed and
/// the channel's statistics, a future whether it is queued.
#[creche::test]
async fn debug_forms_of_handles_and_futures() {
    let _w = watchdog("debug_forms_of_handles_and_futures");
    let (tx, rx) = channel::<u8>(0);
    let sender = format!("{tx:?}");
    assert!(
        sender.starts_with("Sender { closed: false, channel: "),
        "{sender}"
    );
    let receiver = format!("{rx:?}");
    assert!(
        receiver.starts_with("Receiver { closed: false, channel: "),
        "{receiver}"
    );

    // Capacity 0 and no receiver waiting: the send queues.
    let mut send = std::pin::pin!(tx.send(1));
    assert_eq!(format!("{send:?}"), "SendFuture { queued: false }");
    assert!(
        futures_lite::future::poll_once(send.as_mut())
            .await
            .is_none()
    );
    assert_eq!(format!("{send:?}"), "SendFuture { queued: true }");
    assert_eq!(rx.recv().await, Ok(1));
    assert_eq!(send.await, Ok(()));

    // Nothing to receive: the receive queues.
    let mut recv = std::pin::pin!(rx.recv());
    assert_eq!(format!("{recv:?}"), "RecvFuture { queued: false }");
    assert!(
        futures_lite::future::poll_once(recv.as_mut())
            .await
            .is_none()
    );
    assert_eq!(format!("{recv:?}"), "RecvFuture { queued: true }");
    assert_eq!(tx.try_send(2), Ok(()));
    assert_eq!(recv.await, Ok(2));

    tx.close();
    assert!(format!("{tx:?}").starts_with("Sender { closed: true"));
    rx.close();
    assert!(format!("{rx:?}").starts_with("Receiver { closed: true"));
}
