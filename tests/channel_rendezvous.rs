//! Rendezvous channels, `channel(0)` (SYNC_TESTPLAN §1.7, Trio's test_unbuffered): `try_*`
//! fail without a partner; a `send` completes only when a receiver takes the value; a parked
//! receiver lets `try_send` succeed and a parked sender lets `try_recv` succeed.

mod common;

use common::{Counter, tracked, watchdog};
use creche::open_nursery;
use creche::sync::{TryRecvError, TrySendError, channel};
use creche::testing::wait_all_tasks_blocked;
use std::sync::Arc;

#[creche::test(worker_threads = 2)]
async fn hand_off() {
    let _w = watchdog("hand_off");
    let (s, r) = channel::<u32>(0);
    assert_eq!(s.try_send(9), Err(TrySendError::Full(9)), "nobody receives");
    assert_eq!(r.try_recv(), Err(TryRecvError::Empty), "nobody sends");
    let (s, r) = (Arc::new(s), Arc::new(r));
    let (polls, drops, sent) = (Counter::new(), Counter::new(), Counter::new());
    open_nursery(|n| {
        let (s, r) = (s.clone(), r.clone());
        let (polls, drops, sent) = (polls.clone(), drops.clone(), sent.clone());
        async move {
            // A send stays pending until a receiver takes the value.
            let (sender, done) = (s.clone(), sent.clone());
            n.spawn(tracked(
                async move {
                    sender.send(1).await.unwrap();
                    done.incr();
                    Ok::<_, ()>(())
                },
                &polls,
                &drops,
            ));
            wait_all_tasks_blocked().await;
            assert!(polls.get() >= 1);
            assert_eq!(sent.get(), 0);
            let stats = r.statistics();
            assert_eq!((stats.buffer_used, stats.senders_waiting), (0, 1));
            assert_eq!(r.recv().await, Ok(1));
            wait_all_tasks_blocked().await;
            assert_eq!((sent.get(), drops.get()), (1, 1), "the send completed");
            let stats = r.statistics();
            assert_eq!((stats.buffer_used, stats.senders_waiting), (0, 0));

            // `try_send` succeeds while a receiver is parked.
            let receiver = r.clone();
            let parked = n.spawn(async move { Ok(receiver.recv().await) });
            wait_all_tasks_blocked().await;
            assert_eq!(s.try_send(2), Ok(()));
            assert_eq!(parked.join().await, Ok(Ok(2)));

            // `try_recv` succeeds while a sender is parked.
            let sender = s.clone();
            let parked = n.spawn(async move { Ok(sender.send(3).await) });
            wait_all_tasks_blocked().await;
            assert_eq!(r.try_recv(), Ok(3));
            assert_eq!(parked.join().await, Ok(Ok(())));
            assert_eq!(r.try_recv(), Err(TryRecvError::Empty));
            assert_eq!(s.try_send(4), Err(TrySendError::Full(4)));
            Ok(())
        }
    })
    .await
    .unwrap();
}

/// Oneshot-style request/reply over rendezvous channels: each request carries the sender of
/// a fresh `channel(0)` for its reply; every request gets its own answer, in order.
#[creche::test(worker_threads = 2)]
async fn request_reply_round_trips() {
    let _w = watchdog("request_reply_round_trips");
    let (requests, server) = channel::<(u32, creche::sync::Sender<u32>)>(0);
    let answered = open_nursery(|n| async move {
        n.spawn(async move {
            let mut count = 0u32;
            while let Ok((x, reply)) = server.recv().await {
                reply.send(x * 2).await.unwrap();
                count += 1;
            }
            Ok::<_, ()>(count)
        });
        for x in 0..200 {
            let (reply_tx, reply_rx) = channel(0);
            requests.send((x, reply_tx)).await.unwrap();
            assert_eq!(reply_rx.recv().await, Ok(x * 2));
        }
        Ok(())
    })
    .await;
    assert_eq!(answered, Ok(Some(())));
}
