//! FIFO hand-over in channels (SYNC_TESTPLAN §1.7, §3 Q1, Trio's test_channel_fairness): a
//! value sent while a receiver waits belongs to that receiver, a slot freed while a sender
//! waits belongs to that sender, and queued receivers and senders are served in arrival order.

mod common;

use common::watchdog;
use creche::open_nursery;
use creche::sync::{TryRecvError, TrySendError, channel};
use creche::testing::wait_all_tasks_blocked;
use std::sync::{Arc, Mutex};

/// Receive side: the value sent to a parked receiver cannot be taken back by a `try_recv`
/// from the sender's task.
#[creche::test(worker_threads = 2)]
async fn waiting_receiver_owns_value() {
    let _w = watchdog("waiting_receiver_owns_value");
    let (s, r) = channel::<u32>(1);
    let r = Arc::new(r);
    open_nursery(|n| {
        let r = r.clone();
        async move {
            let receiver = r.clone();
            let child = n.spawn(async move { Ok::<_, ()>(receiver.recv().await) });
            wait_all_tasks_blocked().await;
            assert_eq!(s.try_send(2), Ok(()));
            assert_eq!(r.try_recv(), Err(TryRecvError::Empty));
            assert_eq!(child.join().await, Ok(Ok(2)));
            Ok(())
        }
    })
    .await
    .unwrap();
}

/// Send side: the slot freed by a receive goes to the parked sender's value; a `try_send`
/// right after finds the channel full.
#[creche::test(worker_threads = 2)]
async fn waiting_sender_owns_slot() {
    let _w = watchdog("waiting_sender_owns_slot");
    let (s, r) = channel::<u32>(1);
    s.try_send(1).unwrap();
    let s = Arc::new(s);
    open_nursery(|n| {
        let s = s.clone();
        async move {
            let sender = s.clone();
            let child = n.spawn(async move { Ok::<_, ()>(sender.send(2).await) });
            wait_all_tasks_blocked().await;
            assert_eq!(r.try_recv(), Ok(1));
            assert_eq!(s.try_send(3), Err(TrySendError::Full(3)));
            assert_eq!(r.recv().await, Ok(2));
            assert_eq!(child.join().await, Ok(Ok(())));
            Ok(())
        }
    })
    .await
    .unwrap();
}

/// Receivers queued one after the other get values in their queue order; so do queued
/// senders, on a rendezvous channel and on a full buffered one.
#[creche::test(worker_threads = 2)]
async fn queued_operations_are_served_in_order() {
    let _w = watchdog("queued_operations_are_served_in_order");
    let (s, r) = channel::<usize>(0);
    let got = Arc::new(Mutex::new(vec![None; 4]));
    open_nursery(|n| {
        let got = got.clone();
        async move {
            for i in 0..4 {
                let (r, got) = (r.clone(), got.clone());
                n.spawn(async move {
                    got.lock().unwrap()[i] = r.recv().await.ok();
                    Ok::<_, ()>(())
                });
                wait_all_tasks_blocked().await; // receiver i is queued before i + 1
            }
            for v in 0..4 {
                s.try_send(v * 10).unwrap();
            }
            Ok(())
        }
    })
    .await
    .unwrap();
    assert_eq!(
        *got.lock().unwrap(),
        [Some(0), Some(10), Some(20), Some(30)]
    );

    for capacity in [0, 2] {
        let (s, r) = channel::<usize>(capacity);
        for v in 0..capacity {
            s.try_send(100 + v).unwrap();
        }
        let order = open_nursery(|n| async move {
            for i in 0..4 {
                let s = s.clone();
                n.spawn(async move {
                    s.send(i).await.unwrap();
                    Ok::<_, ()>(())
                });
                wait_all_tasks_blocked().await; // sender i is queued before i + 1
            }
            assert_eq!(s.statistics().senders_waiting, 4);
            let mut order = Vec::new();
            for _ in 0..capacity + 4 {
                order.push(r.recv().await.unwrap());
            }
            Ok(order)
        })
        .await
        .unwrap()
        .unwrap();
        let mut want: Vec<usize> = (0..capacity).map(|v| 100 + v).collect();
        want.extend(0..4);
        assert_eq!(order, want, "capacity {capacity}");
    }
}

/// Round robin among consumers that re-queue after each value: with three consumers queued
/// in order, every group of three values goes to consumers 0, 1, 2 in turn (one worker, so
/// each consumer re-queues before the sender's next value).
#[creche::test(worker_threads = 1)]
async fn consumers_take_turns() {
    let _w = watchdog("consumers_take_turns");
    let record = Arc::new(Mutex::new(Vec::new()));
    let r2 = record.clone();
    creche::spawn(async move {
        let (s, r) = channel::<u32>(0);
        open_nursery(|n| async move {
            for c in 0..3 {
                let (r, record) = (r.clone(), r2.clone());
                n.spawn(async move {
                    while let Ok(v) = r.recv().await {
                        record.lock().unwrap().push((c, v));
                    }
                    Ok::<_, ()>(())
                });
                wait_all_tasks_blocked().await;
            }
            drop(r);
            for v in 0..9 {
                s.send(v).await.unwrap();
                wait_all_tasks_blocked().await;
            }
            Ok(())
        })
        .await
        .unwrap();
    })
    .await
    .unwrap();
    let record = record.lock().unwrap();
    let consumers: Vec<u32> = record.iter().map(|&(c, _)| c).collect();
    assert_eq!(consumers, [0, 1, 2, 0, 1, 2, 0, 1, 2], "{record:?}");
    let values: Vec<u32> = record.iter().map(|&(_, v)| v).collect();
    assert_eq!(values, (0..9).collect::<Vec<_>>());
}
