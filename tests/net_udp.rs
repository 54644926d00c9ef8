//! `creche::net::UdpSocket` on loopback: send_to/recv_from round trip (127.0.0.1 and ::1 where
//! the host has it), connected send/recv, a cancelled recv loses no datagram, several tasks
//! receiving on one socket, a recv under a deadline on the autojump clock.

mod common;

use common::{Counter, secs, watchdog};
use creche::net::UdpSocket;
use creche::testing::wait_all_tasks_blocked;
use creche::time::current_time;
use creche::{CancelScope, move_on_after, open_nursery};
use std::io;
use std::sync::Arc;

async fn round_trip_on(bind: &str) {
    let a = UdpSocket::bind(bind).unwrap();
    let b = UdpSocket::bind(bind).unwrap();
    let n = a
        .send_to(b"datagram", b.local_addr().unwrap())
        .await
        .unwrap();
    assert_eq!(n, 8);
    let mut buf = [0; 64];
    let (n, from) = b.recv_from(&mut buf).await.unwrap();
    assert_eq!(&buf[..n], b"datagram");
    assert_eq!(from, a.local_addr().unwrap());
    // And back, connected.
    a.connect(b.local_addr().unwrap()).unwrap();
    b.connect(a.local_addr().unwrap()).unwrap();
    b.send(b"reply").await.unwrap();
    let n = a.recv(&mut buf).await.unwrap();
    assert_eq!(&buf[..n], b"reply");
    assert_eq!(a.peer_addr().unwrap(), b.local_addr().unwrap());
}

#[creche::test(worker_threads = 2)]
async fn round_trip_v4() {
    let _w = watchdog("round_trip_v4");
    round_trip_on("127.0.0.1:0").await;
}

#[creche::test(worker_threads = 2)]
async fn round_trip_v6() {
    let _w = watchdog("round_trip_v6");
    if std::net::UdpSocket::bind("[::1]:0").is_err() {
        eprintln!("no IPv6 loopback on this host: skipped");
        return;
    }
    round_trip_on("[::1]:0").await;
}

/// With one worker, the receiving task is cancelled in the same poll that sends the datagram:
/// whichever way the race goes, every datagram is received exactly once.
#[creche::test(autojump, worker_threads = 1)]
async fn cancelled_recv_loses_no_datagram() {
    let _w = watchdog("cancelled_recv_loses_no_datagram");
    let receiver = Arc::new(UdpSocket::bind("127.0.0.1:0").unwrap());
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    let to = receiver.local_addr().unwrap();
    let mut received = Vec::new();
    for i in 0..10u8 {
        let scope = CancelScope::new();
        let receiving = creche::spawn({
            let (scope, receiver) = (scope.clone(), receiver.clone());
            async move {
                scope
                    .run(async move {
                        let mut buf = [0; 8];
                        let (n, _) = receiver.recv_from(&mut buf).await.unwrap();
                        buf[..n].to_vec()
                    })
                    .await
            }
        });
        wait_all_tasks_blocked().await;
        sender.send_to(&[i], to).await.unwrap();
        scope.cancel();
        if let Some(bytes) = receiving.await.unwrap() {
            received.extend(bytes);
        }
    }
    // The datagrams the cancelled receives did not take are still queued.
    let mut buf = [0; 8];
    while let Some(got) = move_on_after(secs(1), receiver.recv_from(&mut buf)).await {
        let (n, _) = got.unwrap();
        received.extend_from_slice(&buf[..n]);
    }
    assert_eq!(received, (0..10).collect::<Vec<u8>>());
}

#[creche::test(worker_threads = 2)]
async fn several_tasks_receive_on_one_socket() {
    let _w = watchdog("several_tasks_receive_on_one_socket");
    const TASKS: usize = 4;
    const EACH: usize = 25;
    let receiver = Arc::new(UdpSocket::bind("127.0.0.1:0").unwrap());
    let to = receiver.local_addr().unwrap();
    let got = Counter::new();
    let result = open_nursery(|n| {
        let got = got.clone();
        async move {
            for _ in 0..TASKS {
                let (receiver, got) = (receiver.clone(), got.clone());
                n.spawn(async move {
                    let mut buf = [0; 8];
                    for _ in 0..EACH {
                        receiver.recv_from(&mut buf).await?;
                        got.incr();
                    }
                    Ok(())
                });
            }
            wait_all_tasks_blocked().await; // every receiver waits in its own slot
            let sender = UdpSocket::bind("127.0.0.1:0")?;
            for i in 0..TASKS * EACH {
                sender.send_to(&[i as u8], to).await?;
                if i % 8 == 7 {
                    // Let the receivers drain, so the socket's buffer never overflows.
                    creche::time::sleep(std::time::Duration::from_millis(1)).await;
                }
            }
            Ok::<_, io::Error>(())
        }
    })
    .await;
    assert!(matches!(result, Ok(Some(()))), "{result:?}");
    assert_eq!(got.get(), TASKS * EACH);
}

#[creche::test(autojump, worker_threads = 2)]
async fn recv_under_a_deadline() {
    let _w = watchdog("recv_under_a_deadline");
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let t0 = current_time();
    let mut buf = [0; 8];
    assert!(
        move_on_after(secs(3), socket.recv_from(&mut buf))
            .await
            .is_none()
    );
    assert_eq!(current_time() - t0, secs(3));
    socket.set_ttl(12).unwrap();
    assert_eq!(socket.ttl().unwrap(), 12);
}

#[creche::test]
async fn socket_options_debug_fd_and_into_std() {
    use std::os::fd::{AsFd, AsRawFd};
    let _w = watchdog("socket_options_debug_fd_and_into_std");
    let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = a.local_addr().unwrap();
    a.set_broadcast(true).unwrap();
    assert!(a.broadcast().unwrap());
    a.set_broadcast(false).unwrap();
    assert!(!a.broadcast().unwrap());
    a.set_ttl(7).unwrap();
    assert_eq!(a.ttl().unwrap(), 7);
    assert!(a.as_fd().as_raw_fd() >= 0);
    let debug = format!("{a:?}");
    assert!(
        debug.contains("UdpSocket") && debug.contains(&addr.to_string()),
        "{debug}"
    );
    // into_std gives back the same bound socket: a datagram sent to it arrives there.
    let std_socket = a.into_std();
    assert_eq!(std_socket.local_addr().unwrap(), addr);
    std_socket.set_nonblocking(false).unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").unwrap();
    assert_eq!(b.send_to(b"hi", addr).await.unwrap(), 2);
    let mut buf = [0; 4];
    let (n, from) = std_socket.recv_from(&mut buf).unwrap();
    assert_eq!((&buf[..n], from), (&b"hi"[..], b.local_addr().unwrap()));
}
