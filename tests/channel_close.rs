//! Close semantics of `creche::sync::channel` (SYNC_TESTPLAN §1.6, §3 Q4): close is per
//! handle; closing a handle fails only the operations made on it; the last sender closed
//! ends the stream after draining; the last receiver closed drops the buffer at once and fails
//! every send with its value back.

mod common;

use common::{Counter, DropCount, watchdog};
use creche::open_nursery;
use creche::sync::{RecvError, SendError, TryRecvError, TrySendError, channel};
use creche::testing::wait_all_tasks_blocked;
use std::sync::Arc;

/// A value that counts its drops.
struct V(u32, #[allow(dead_code)] DropCount);

fn v(n: u32, drops: &Counter) -> V {
    V(n, DropCount(drops.clone()))
}

/// Closing a sender handle wakes the sends queued on it with `Closed(v)`; receivers drain the
/// buffer and then see the end, and a receiver queued on an empty channel is woken with it.
#[creche::test(worker_threads = 2)]
async fn close_sender_wakes_its_senders() {
    let _w = watchdog("close_sender_wakes_its_senders");
    let (s, r) = channel::<u32>(1);
    s.try_send(0).unwrap();
    let s = Arc::new(s);
    let out = open_nursery(|n| {
        let s = s.clone();
        async move {
            let sender = s.clone();
            let queued = n.spawn(async move { Ok::<_, ()>(sender.send(1).await) });
            wait_all_tasks_blocked().await;
            assert_eq!(s.statistics().senders_waiting, 1);
            s.close();
            Ok(queued.join().await.unwrap())
        }
    })
    .await;
    assert_eq!(out, Ok(Some(Err(SendError::Closed(1)))));
    assert_eq!(s.statistics().senders_waiting, 0);
    assert_eq!(s.try_send(2), Err(TrySendError::Closed(2)));
    assert_eq!(s.send(3).await, Err(SendError::Closed(3)));
    assert_eq!(r.recv().await, Ok(0));
    assert_eq!(r.recv().await, Err(RecvError::End));
    assert_eq!(r.try_recv(), Err(TryRecvError::End));

    // A receiver queued on an empty rendezvous channel sees the end when the last sender
    // closes.
    let (s, r) = channel::<u32>(0);
    let r = Arc::new(r);
    let out = open_nursery(|n| {
        let r = r.clone();
        async move {
            let receiver = r.clone();
            let queued = n.spawn(async move { Ok::<_, ()>(receiver.recv().await) });
            wait_all_tasks_blocked().await;
            assert_eq!(r.statistics().receivers_waiting, 1);
            s.close();
            Ok(queued.join().await.unwrap())
        }
    })
    .await;
    assert_eq!(out, Ok(Some(Err(RecvError::End))));
    assert_eq!(r.recv().await, Err(RecvError::End));
}

/// Closing the last receiver drops the buffered values right then and fails the queued send,
/// which gets its value back (not dropped); later sends fail the same way.
#[creche::test(worker_threads = 2)]
async fn close_last_receiver_fails_sends() {
    let _w = watchdog("close_last_receiver_fails_sends");
    let (buffered, queued_drops) = (Counter::new(), Counter::new());
    let (s, r) = channel::<V>(1);
    s.try_send(v(0, &buffered)).unwrap();
    let s = Arc::new(s);
    let out = open_nursery(|n| {
        let (s, queued_drops) = (s.clone(), queued_drops.clone());
        async move {
            let sender = s.clone();
            let value = v(1, &queued_drops);
            let queued = n.spawn(async move {
                let back = match sender.send(value).await {
                    Err(SendError::Disconnected(V(n, _))) => Some(n),
                    _ => None,
                };
                Ok::<_, ()>(back)
            });
            wait_all_tasks_blocked().await;
            assert_eq!(s.statistics().senders_waiting, 1);
            r.close();
            Ok(queued.join().await.unwrap())
        }
    })
    .await;
    assert_eq!(out, Ok(Some(Some(1))), "the queued value came back");
    assert_eq!(buffered.get(), 1, "the buffer was dropped");
    assert_eq!(
        queued_drops.get(),
        1,
        "dropped once, by the sender after it came back"
    );
    let stats = s.statistics();
    assert_eq!((stats.buffer_used, stats.open_receivers), (0, 0));
    let late = Counter::new();
    assert!(matches!(
        s.try_send(v(2, &late)),
        Err(TrySendError::Disconnected(V(2, _)))
    ));
    assert!(matches!(
        s.send(v(3, &late)).await,
        Err(SendError::Disconnected(V(3, _)))
    ));
    assert_eq!(late.get(), 2);
}

/// Closing a receiver handle wakes the receives queued on it with `Closed`; another
/// receiver handle keeps working.
#[creche::test(worker_threads = 2)]
async fn close_receiver_wakes_its_receivers() {
    let _w = watchdog("close_receiver_wakes_its_receivers");
    let (s, r) = channel::<u32>(1);
    let r2 = r.clone();
    let r = Arc::new(r);
    let out = open_nursery(|n| {
        let r = r.clone();
        async move {
            let receiver = r.clone();
            let queued = n.spawn(async move { Ok::<_, ()>(receiver.recv().await) });
            wait_all_tasks_blocked().await;
            assert_eq!(r.statistics().receivers_waiting, 1);
            r.close();
            Ok(queued.join().await.unwrap())
        }
    })
    .await;
    assert_eq!(out, Ok(Some(Err(RecvError::Closed))));
    assert_eq!(r.statistics().receivers_waiting, 0);
    assert_eq!(r.try_recv(), Err(TryRecvError::Closed));
    assert_eq!(r.recv().await, Err(RecvError::Closed));
    s.try_send(1).unwrap();
    assert_eq!(r2.try_recv(), Ok(1));
    s.send(2).await.unwrap();
    assert_eq!(r2.recv().await, Ok(2));
}

/// Trio's test_receive_channel_clone_and_close: sends fail only once the last receiver
/// handle is closed, and that drops the buffered values at once.
#[creche::test]
async fn receivers_close_one_by_one() {
    let _w = watchdog("receivers_close_one_by_one");
    let drops = Counter::new();
    let (s, r) = channel::<V>(10);
    let r2 = r.clone();
    let r3 = r.clone();
    s.try_send(v(0, &drops)).unwrap();
    r.close();
    s.try_send(v(1, &drops)).unwrap();
    drop(r2);
    s.send(v(2, &drops)).await.unwrap();
    assert_eq!(s.statistics().buffer_used, 3);
    assert_eq!(drops.get(), 0);
    r3.close();
    assert_eq!(
        drops.get(),
        3,
        "the buffer is dropped when the last receiver closes"
    );
    let refused = Counter::new();
    assert!(matches!(
        s.try_send(v(3, &refused)),
        Err(TrySendError::Disconnected(V(3, _)))
    ));
    assert_eq!(refused.get(), 1);
    assert_eq!(drops.get(), 3);
}

/// Closing one sender handle fails only the send queued on it; the send queued on a clone is
/// still received. The mirror: closing one receiver handle fails only its receive.
#[creche::test(worker_threads = 2)]
async fn close_is_per_handle() {
    let _w = watchdog("close_is_per_handle");
    let (s1, r) = channel::<u32>(0);
    let (s1, s2) = (Arc::new(s1.clone()), Arc::new(s1));
    let out = open_nursery(|n| {
        let (s1, s2) = (s1.clone(), s2.clone());
        async move {
            let (a, b) = (s1.clone(), s2.clone());
            let first = n.spawn(async move { Ok::<_, ()>(a.send(1).await) });
            wait_all_tasks_blocked().await;
            let second = n.spawn(async move { Ok::<_, ()>(b.send(2).await) });
            wait_all_tasks_blocked().await;
            assert_eq!(r.statistics().senders_waiting, 2);
            s1.close();
            assert_eq!(first.join().await, Ok(Err(SendError::Closed(1))));
            assert_eq!(r.statistics().senders_waiting, 1);
            assert_eq!(r.recv().await, Ok(2));
            assert_eq!(second.join().await, Ok(Ok(())));
            Ok(())
        }
    })
    .await;
    assert_eq!(out, Ok(Some(())));
    assert!(s1.is_closed() && !s2.is_closed());

    let (s, r1) = channel::<u32>(0);
    let (r1, r2) = (Arc::new(r1.clone()), Arc::new(r1));
    let out = open_nursery(|n| {
        let (r1, r2) = (r1.clone(), r2.clone());
        async move {
            let (a, b) = (r1.clone(), r2.clone());
            let first = n.spawn(async move { Ok::<_, ()>(a.recv().await) });
            wait_all_tasks_blocked().await;
            let second = n.spawn(async move { Ok::<_, ()>(b.recv().await) });
            wait_all_tasks_blocked().await;
            assert_eq!(s.statistics().receivers_waiting, 2);
            r1.close();
            assert_eq!(first.join().await, Ok(Err(RecvError::Closed)));
            assert_eq!(s.try_send(7), Ok(()), "the other receiver still waits");
            assert_eq!(second.join().await, Ok(Ok(7)));
            Ok(())
        }
    })
    .await;
    assert_eq!(out, Ok(Some(())));
}
