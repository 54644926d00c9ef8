//! `creche::net` TCP on loopback (127.0.0.1, and ::1 where the host has it): echo round trip,
//! half-close, a cancelled accept loses no connection, a cancelled read loses no bytes, a read
//! under a deadline on the autojump clock, the clock does not jump over a readable socket,
//! split halves from two tasks, the futures-io traits, many connections through an accept
//! loop in a nursery, connect errors, sockets outside a runtime.

mod common;

use common::{Counter, secs, watchdog};
use creche::net::{ListenOptions, NoReactor, TcpListener, TcpStream};
use creche::testing::wait_all_tasks_blocked;
use creche::time::{current_time, sleep};
use creche::{CancelScope, move_on_after, open_nursery};
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::sync::Arc;

/// Echoes one connection until its end of stream, then shuts the write side down.
async fn echo(stream: TcpStream) -> io::Result<()> {
    let mut buf = [0; 1024];
    loop {
        match stream.read(&mut buf).await? {
            0 => return stream.shutdown(Shutdown::Write).await,
            n => stream.write_all(&buf[..n]).await?,
        }
    }
}

async fn echo_round_trip_on(bind: &str) -> io::Result<()> {
    let listener = TcpListener::bind(bind)?;
    let addr = listener.local_addr()?;
    let server = creche::spawn(async move {
        let (stream, _) = listener.accept().await?;
        echo(stream).await
    });
    let client = TcpStream::connect(addr).await?;
    assert_eq!(client.peer_addr()?, addr);
    let message: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
    // Write and read concurrently: 100 kB exceeds what the socket buffers hold at once.
    let (reader, writer) = client.into_split();
    let sent = message.clone();
    let write = creche::spawn(async move {
        writer.write_all(&sent).await?;
        writer.shutdown().await
    });
    let mut received = Vec::new();
    let mut buf = [0; 4096];
    loop {
        match reader.read(&mut buf).await? {
            0 => break,
            n => received.extend_from_slice(&buf[..n]),
        }
    }
    write.await.unwrap()?;
    server.await.unwrap()?;
    assert_eq!(received, message);
    Ok(())
}

#[creche::test(worker_threads = 2)]
async fn echo_round_trip_v4() {
    let _w = watchdog("echo_round_trip_v4");
    echo_round_trip_on("127.0.0.1:0").await.unwrap();
}

#[creche::test(worker_threads = 2)]
async fn echo_round_trip_v6() {
    let _w = watchdog("echo_round_trip_v6");
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        eprintln!("no IPv6 loopback on this host: skipped");
        return;
    }
    echo_round_trip_on("[::1]:0").await.unwrap();
}

#[creche::test(worker_threads = 2)]
async fn half_close() {
    let _w = watchdog("half_close");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (server, _) = listener.accept().await.unwrap();
    client.write_all(b"request").await.unwrap();
    client.shutdown(Shutdown::Write).await.unwrap();
    // The server reads to the end of the stream, then still answers on its open side.
    let mut request = Vec::new();
    let mut buf = [0; 16];
    loop {
        match server.read(&mut buf).await.unwrap() {
            0 => break,
            n => request.extend_from_slice(&buf[..n]),
        }
    }
    assert_eq!(request, b"request");
    server.write_all(b"response").await.unwrap();
    drop(server);
    let mut response = [0; 8];
    client.read_exact(&mut response).await.unwrap();
    assert_eq!(&response, b"response");
    assert_eq!(client.read(&mut buf).await.unwrap(), 0);
    // Writing after our own shutdown fails.
    assert!(client.write(b"late").await.is_err());
}

/// With one worker, the accepting task is cancelled and the connection arrives in the same
/// poll of the test's task: the accept is dropped with the connection queued, and the next
/// accept finds it.
#[creche::test(autojump, worker_threads = 1)]
async fn cancelled_accept_loses_no_connection() {
    let _w = watchdog("cancelled_accept_loses_no_connection");
    let listener = Arc::new(TcpListener::bind("127.0.0.1:0").unwrap());
    let addr = listener.local_addr().unwrap();
    for _ in 0..10 {
        let scope = CancelScope::new();
        let accepting = creche::spawn({
            let (scope, listener) = (scope.clone(), listener.clone());
            async move { scope.run(listener.accept()).await.map(|r| r.unwrap()) }
        });
        wait_all_tasks_blocked().await; // the accept is pending
        let client = std::net::TcpStream::connect(addr).unwrap(); // queued by the kernel
        scope.cancel();
        let cancelled = accepting.await.unwrap();
        // Whichever way the race went, the connection is accepted exactly once.
        let (stream, peer) = match cancelled {
            Some(accepted) => accepted,
            None => move_on_after(secs(5), listener.accept())
                .await
                .expect("the connection is still queued")
                .unwrap(),
        };
        assert_eq!(peer, client.local_addr().unwrap());
        drop(stream);
    }
}

#[creche::test(autojump, worker_threads = 1)]
async fn cancelled_read_loses_no_bytes() {
    let _w = watchdog("cancelled_read_loses_no_bytes");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let server = Arc::new(listener.accept().await.unwrap().0);
    let mut expected = Vec::new();
    let mut received = Vec::new();
    for round in 0..10u8 {
        let scope = CancelScope::new();
        let reading = creche::spawn({
            let (scope, server) = (scope.clone(), server.clone());
            async move {
                scope
                    .run(async {
                        let mut buf = [0; 64];
                        let n = server.read(&mut buf).await.unwrap();
                        buf[..n].to_vec()
                    })
                    .await
            }
        });
        wait_all_tasks_blocked().await; // the read is pending
        let chunk = [round; 3];
        client.write_all(&chunk).await.unwrap(); // in the kernel before the cancel
        expected.extend_from_slice(&chunk);
        scope.cancel();
        if let Some(bytes) = reading.await.unwrap() {
            received.extend_from_slice(&bytes);
        }
    }
    // Whatever the cancelled reads did not return is still in the socket.
    drop(client);
    let mut buf = [0; 64];
    loop {
        match server.read(&mut buf).await.unwrap() {
            0 => break,
            n => received.extend_from_slice(&buf[..n]),
        }
    }
    assert_eq!(received, expected);
}

#[creche::test(autojump, worker_threads = 2)]
async fn read_under_a_deadline_is_cancelled_at_the_exact_virtual_time() {
    let _w = watchdog("read_under_a_deadline_is_cancelled_at_the_exact_virtual_time");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (server, _) = listener.accept().await.unwrap();
    let t0 = current_time();
    let mut buf = [0; 8];
    let read = move_on_after(secs(5), server.read(&mut buf)).await;
    assert!(read.is_none(), "nothing was sent");
    assert_eq!(current_time() - t0, secs(5));
    // The socket still works, and nothing was lost.
    client.write_all(b"late").await.unwrap();
    let n = move_on_after(secs(5), server.read(&mut buf))
        .await
        .expect("data is there")
        .unwrap();
    assert_eq!(&buf[..n], b"late");
    assert_eq!(current_time() - t0, secs(5));
}

/// The autojump clock does not jump over a socket that is readable: a task waits on a read
/// (readiness already cleared) under a deadline while a writer sends and then sleeps; when
/// every task is blocked the data is in the kernel, and the read completes at the time it was
/// sent, not at the deadline.
#[creche::test(autojump, worker_threads = 2)]
async fn autojump_does_not_skip_a_readable_socket() {
    let _w = watchdog("autojump_does_not_skip_a_readable_socket");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (server, _) = listener.accept().await.unwrap();
    let t0 = current_time();
    for round in 0..20u8 {
        let reader = async {
            let mut buf = [0; 8];
            let n = move_on_after(secs(100), server.read(&mut buf))
                .await
                .expect("the read completes before its deadline")
                .unwrap();
            assert_eq!(&buf[..n], &[round]);
            current_time()
        };
        let writer = async {
            wait_all_tasks_blocked().await; // the reader has seen WouldBlock and waits
            client.write_all(&[round]).await.unwrap();
            sleep(secs(1)).await; // the only other deadline
            current_time()
        };
        let (read_at, slept_until) = creche::join(reader, writer).await;
        assert_eq!(read_at - t0, secs(u64::from(round)), "round {round}");
        assert_eq!(slept_until - t0, secs(u64::from(round) + 1));
    }
}

/// `wait_all_tasks_blocked` returns only once the tasks of ready I/O have run: a task whose
/// socket is readable (its event queued in the kernel, not yet collected by the reactor) is
/// not blocked. The writer's own thread often takes the driver when it parks, with nobody in
/// the poller, so the release is decided before any poll unless the driver polls first.
#[creche::test(worker_threads = 2)]
async fn wait_all_tasks_blocked_collects_ready_io_first() {
    let _w = watchdog("wait_all_tasks_blocked_collects_ready_io_first");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (server, _) = listener.accept().await.unwrap();
    let received = Counter::new();
    let reader = creche::spawn({
        let received = received.clone();
        async move {
            let mut buf = [0; 1];
            while server.read(&mut buf).await.unwrap() == 1 {
                received.incr();
            }
        }
    });
    for round in 1..=50u8 {
        wait_all_tasks_blocked().await; // the reader waits for its next byte
        client.write_all(&[round]).await.unwrap(); // in the reader's socket now
        wait_all_tasks_blocked().await;
        assert_eq!(received.get(), usize::from(round), "round {round}");
    }
    drop(client);
    reader.await.unwrap();
}

#[creche::test(worker_threads = 2)]
async fn split_halves_used_from_two_tasks() {
    let _w = watchdog("split_halves_used_from_two_tasks");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = creche::spawn(async move {
        let (stream, _) = listener.accept().await?;
        echo(stream).await
    });
    let (reader, writer) = TcpStream::connect(addr).await.unwrap().into_split();
    const CHUNKS: u32 = 200;
    let result = open_nursery(|n| async move {
        n.spawn(async move {
            for i in 0..CHUNKS {
                writer.write_all(&i.to_le_bytes()).await?;
            }
            Ok(()) // dropping the write half shuts the write side down
        });
        n.spawn(async move {
            for i in 0..CHUNKS {
                let mut buf = [0; 4];
                reader.read_exact(&mut buf).await?;
                assert_eq!(u32::from_le_bytes(buf), i);
            }
            assert_eq!(reader.read(&mut [0; 4]).await?, 0);
            Ok(())
        });
        Ok::<_, io::Error>(())
    })
    .await;
    assert!(matches!(result, Ok(Some(()))), "{result:?}");
    server.await.unwrap().unwrap();
}

#[creche::test(worker_threads = 2)]
async fn borrowed_split() {
    let _w = watchdog("borrowed_split");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut client = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (server, _) = listener.accept().await.unwrap();
    let (reader, writer) = client.split();
    let (read, written) = creche::join(
        async {
            let mut buf = [0; 5];
            reader.read_exact(&mut buf).await.map(|()| buf)
        },
        async {
            writer.write_all(b"12345").await?;
            let mut buf = [0; 5];
            server.read_exact(&mut buf).await?;
            server.write_all(&buf).await
        },
    )
    .await;
    written.unwrap();
    assert_eq!(&read.unwrap(), b"12345");
}

#[creche::test(worker_threads = 2)]
async fn futures_io_traits() {
    use futures_lite::io::{AsyncReadExt, AsyncWriteExt};
    let _w = watchdog("futures_io_traits");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = creche::spawn(async move {
        let (stream, _) = listener.accept().await?;
        let (mut reader, mut writer) = stream.into_split();
        futures_lite::io::copy(&mut reader, &mut writer).await?;
        writer.close().await // the end of stream, forwarded
    });
    let mut client = TcpStream::connect(addr).await.unwrap();
    client.write_all(b"through the traits").await.unwrap();
    client.flush().await.unwrap();
    client.close().await.unwrap(); // shuts the write side down
    let mut echoed = Vec::new();
    client.read_to_end(&mut echoed).await.unwrap();
    assert_eq!(echoed, b"through the traits");
    server.await.unwrap().unwrap();
}

/// 200 clients at once through an accept loop that runs each connection as a child of a
/// nursery; cancelling the nursery's scope stops the loop.
#[creche::test(worker_threads = 2)]
async fn many_connections_through_an_accept_loop() {
    let _w = watchdog("many_connections_through_an_accept_loop");
    const CLIENTS: u32 = 200;
    let listener = TcpListener::bind_with(
        "127.0.0.1:0".parse().unwrap(),
        &ListenOptions::new().backlog(CLIENTS),
    )
    .unwrap();
    let addr = listener.local_addr().unwrap();
    let served = Counter::new();
    let result = open_nursery(|n| {
        let served = served.clone();
        async move {
            let server_scope = CancelScope::new();
            let scope = server_scope.clone();
            n.spawn(async move {
                let out = scope
                    .run(open_nursery(|conns| async move {
                        loop {
                            let (stream, _) = match listener.accept().await {
                                Ok(accepted) => accepted,
                                Err(e) => return Err::<(), io::Error>(e),
                            };
                            let served = served.clone();
                            conns.spawn(async move {
                                echo(stream).await?;
                                served.incr();
                                Ok(())
                            });
                        }
                    }))
                    .await;
                assert!(!matches!(out, Some(Err(_))), "{out:?}");
                Ok(())
            });
            let clients = open_nursery(|c| async move {
                for i in 0..CLIENTS {
                    c.spawn(async move {
                        let stream = TcpStream::connect(addr).await?;
                        stream.write_all(&i.to_le_bytes()).await?;
                        stream.shutdown(Shutdown::Write).await?;
                        let mut buf = [0; 4];
                        stream.read_exact(&mut buf).await?;
                        assert_eq!(u32::from_le_bytes(buf), i);
                        assert_eq!(stream.read(&mut buf).await?, 0);
                        Ok(())
                    });
                }
                Ok::<_, io::Error>(())
            })
            .await;
            server_scope.cancel();
            clients.map(|_| ())
        }
    })
    .await;
    assert!(matches!(result, Ok(Some(()))), "{result:?}");
    assert_eq!(served.get(), CLIENTS as usize);
}

#[creche::test(worker_threads = 2)]
async fn connect_errors_and_local_address() {
    let _w = watchdog("connect_errors_and_local_address");
    // A port nobody listens on: refused.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let err = TcpStream::connect(closed).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused, "{err}");
    // Bound before connecting.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let local: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let stream = TcpStream::connect_with(listener.local_addr().unwrap(), Some(local))
        .await
        .unwrap();
    let (_, peer) = listener.accept().await.unwrap();
    assert_eq!(stream.local_addr().unwrap(), peer);
    // Options.
    stream.set_nodelay(true).unwrap();
    assert!(stream.nodelay().unwrap());
    listener.set_ttl(33).unwrap();
    assert_eq!(listener.ttl().unwrap(), 33);
    // A local address already taken (the listener's own): the bind fails, no connect happens.
    let taken = listener.local_addr().unwrap();
    let err = TcpStream::connect_with(taken, Some(taken))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::AddrInUse, "{err}");
}

#[creche::test(autojump, worker_threads = 2)]
async fn dropped_sockets_leave_the_reactor() {
    let _w = watchdog("dropped_sockets_leave_the_reactor");
    let handle = creche::net::IoHandle::try_current().unwrap();
    let before = handle.registered();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    // A pending accept dropped by its deadline, and a pending read.
    assert!(move_on_after(secs(1), listener.accept()).await.is_none());
    let client = TcpStream::connect(addr).await.unwrap();
    let (server, _) = listener.accept().await.unwrap();
    assert!(
        move_on_after(secs(1), server.read(&mut [0; 4]))
            .await
            .is_none()
    );
    assert_eq!(handle.registered(), before + 3);
    drop((listener, client, server));
    assert_eq!(handle.registered(), before);
}

#[test]
fn sockets_outside_a_runtime_are_a_typed_error() {
    let err = TcpListener::bind("127.0.0.1:0").unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::Other);
    assert!(err.get_ref().unwrap().is::<NoReactor>(), "{err}");
    let std_stream = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap()
    };
    let err = TcpStream::from_std(std_stream).unwrap_err();
    assert!(err.get_ref().unwrap().is::<NoReactor>(), "{err}");
    assert!(
        err.to_string()
            .starts_with("there is no creche reactor here: create sockets inside a runtime"),
        "{err}"
    );
    assert_eq!(creche::net::IoHandle::try_current().unwrap_err(), NoReactor);
}

/// A driver made by hand (outside any runtime) shows its reactor's socket count.
#[test]
fn a_fresh_io_driver_shows_an_empty_reactor() {
    let driver = creche::net::IoDriver::new().unwrap();
    let shown = format!("{driver:?}");
    assert!(
        shown.starts_with("IoDriver { reactor: Reactor { sources: 0"),
        "{shown}"
    );
    let handle = driver.handle();
    assert_eq!(handle.registered(), 0);
    assert!(format!("{handle:?}").contains("sources: 0"));
}

/// With the `tokio` feature, tokio's io traits drive the same sockets.
#[cfg(feature = "tokio")]
#[creche::test(worker_threads = 2)]
async fn tokio_io_traits() {
    use std::future::poll_fn;
    use std::pin::Pin;
    use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
    let _w = watchdog("tokio_io_traits");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut client = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (mut server, _) = listener.accept().await.unwrap();
    let n = poll_fn(|cx| Pin::new(&mut client).poll_write(cx, b"tokio"))
        .await
        .unwrap();
    assert_eq!(n, 5);
    poll_fn(|cx| Pin::new(&mut client).poll_shutdown(cx))
        .await
        .unwrap();
    let mut got = Vec::new();
    loop {
        let mut storage = [0; 8];
        let mut buf = ReadBuf::new(&mut storage);
        poll_fn(|cx| Pin::new(&mut server).poll_read(cx, &mut buf))
            .await
            .unwrap();
        if buf.filled().is_empty() {
            break;
        }
        got.extend_from_slice(buf.filled());
    }
    assert_eq!(got, b"tokio");
}

/// Connects to a listener whose accept queue is full stay pending (the kernel drops their
/// SYNs); a deadline drops them, and each dropped connect deregisters and closes its socket.
#[creche::test(autojump, worker_threads = 2)]
async fn dropped_pending_connect_closes_its_socket() {
    let _w = watchdog("dropped_pending_connect_closes_its_socket");
    const ATTEMPTS: usize = 6;
    let handle = creche::net::IoHandle::try_current().unwrap();
    let listener = TcpListener::bind_with(
        "127.0.0.1:0".parse().unwrap(),
        &ListenOptions::new().backlog(1),
    )
    .unwrap();
    let addr = listener.local_addr().unwrap();
    let before = handle.registered();
    let connected = Arc::new(std::sync::Mutex::new(Vec::new()));
    let t0 = current_time();
    let result = open_nursery(|n| {
        let connected = connected.clone();
        async move {
            for _ in 0..ATTEMPTS {
                let connected = connected.clone();
                n.spawn(async move {
                    if let Some(stream) = move_on_after(secs(10), TcpStream::connect(addr)).await {
                        connected.lock().unwrap().push(stream?);
                    }
                    Ok::<_, io::Error>(())
                });
            }
            Ok(())
        }
    })
    .await;
    assert!(matches!(result, Ok(Some(()))), "{result:?}");
    let connected = std::mem::take(&mut *connected.lock().unwrap());
    assert!(
        connected.len() < ATTEMPTS,
        "a full accept queue leaves some connects pending ({} connected)",
        connected.len()
    );
    assert_eq!(
        current_time() - t0,
        secs(10),
        "the pending ones ran to the deadline"
    );
    // Only the connected streams are still registered; the dropped connects are gone.
    assert_eq!(handle.registered(), before + connected.len());
    drop(connected);
    assert_eq!(handle.registered(), before);
}

/// A connected pair over loopback: (client, server-side stream).
async fn loopback_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (server, peer) = listener.accept().await.unwrap();
    assert_eq!(peer, client.local_addr().unwrap());
    (client, server)
}

#[creche::test]
async fn borrowed_split_halves_read_write_and_shut_down() {
    let _w = watchdog("borrowed_split_halves_read_write_and_shut_down");
    let (mut client, server) = loopback_pair().await;
    {
        let (reader, writer) = client.split();
        assert!(format!("{reader:?}").contains("ReadHalf"));
        assert!(format!("{writer:?}").contains("WriteHalf"));
        assert_eq!(writer.write(b"ab").await.unwrap(), 2);
        writer.write_all(b"cd").await.unwrap();
        let mut got = [0; 4];
        server.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"abcd");
        server.write_all(b"xyz").await.unwrap();
        let mut one = [0; 1];
        assert_eq!(reader.read(&mut one).await.unwrap(), 1);
        assert_eq!(&one, b"x");
        let mut two = [0; 2];
        reader.read_exact(&mut two).await.unwrap();
        assert_eq!(&two, b"yz");
        writer.shutdown().await.unwrap();
    }
    // The write side is shut down: the server sees the end of the stream.
    assert_eq!(server.read(&mut [0; 8]).await.unwrap(), 0);
    // The read side still works after the borrowed halves are gone.
    server.write_all(b"!").await.unwrap();
    let mut last = [0; 1];
    client.read_exact(&mut last).await.unwrap();
    assert_eq!(&last, b"!");
}

#[creche::test]
async fn owned_halves_read_write_addresses_and_shutdown() {
    let _w = watchdog("owned_halves_read_write_addresses_and_shutdown");
    let (client, server) = loopback_pair().await;
    let local = client.local_addr().unwrap();
    let peer = client.peer_addr().unwrap();
    let (reader, writer) = client.into_split();
    assert_eq!(reader.local_addr().unwrap(), local);
    assert_eq!(reader.peer_addr().unwrap(), peer);
    assert_eq!(writer.local_addr().unwrap(), local);
    assert_eq!(writer.peer_addr().unwrap(), peer);
    assert!(format!("{reader:?}").contains("OwnedReadHalf"));
    assert!(format!("{writer:?}").contains("OwnedWriteHalf"));

    assert_eq!(writer.write(b"12").await.unwrap(), 2);
    writer.write_all(b"34").await.unwrap();
    let mut got = [0; 4];
    server.read_exact(&mut got).await.unwrap();
    assert_eq!(&got, b"1234");

    server.write_all(b"abc").await.unwrap();
    let mut first = [0; 1];
    assert_eq!(reader.read(&mut first).await.unwrap(), 1);
    let mut rest = [0; 2];
    reader.read_exact(&mut rest).await.unwrap();
    assert_eq!((&first, &rest), (b"a", b"bc"));

    writer.shutdown().await.unwrap();
    assert_eq!(server.read(&mut [0; 8]).await.unwrap(), 0);
    // read_exact past the end of the stream is UnexpectedEof.
    server.shutdown(Shutdown::Write).await.unwrap();
    let err = reader.read_exact(&mut [0; 4]).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
}

#[creche::test]
async fn stream_socket_options_round_trip() {
    use std::os::fd::{AsFd, AsRawFd};
    let _w = watchdog("stream_socket_options_round_trip");
    let (client, server) = loopback_pair().await;
    client.set_ttl(42).unwrap();
    assert_eq!(client.ttl().unwrap(), 42);
    client.set_nodelay(true).unwrap();
    assert!(client.nodelay().unwrap());
    client.set_nodelay(false).unwrap();
    assert!(!client.nodelay().unwrap());
    client
        .set_linger(Some(std::time::Duration::from_secs(1)))
        .unwrap();
    let sock = socket2::SockRef::from(&client);
    assert_eq!(
        sock.linger().unwrap(),
        Some(std::time::Duration::from_secs(1))
    );
    client.set_linger(None).unwrap();
    assert_eq!(sock.linger().unwrap(), None);
    assert!(client.as_fd().as_raw_fd() >= 0);
    let debug = format!("{client:?}");
    assert!(debug.contains("TcpStream"), "{debug}");
    assert!(
        debug.contains(&client.local_addr().unwrap().to_string()),
        "{debug}"
    );
    client.flush().await.unwrap();

    // into_std hands back the same (still connected) socket.
    let local = client.local_addr().unwrap();
    let mut std_stream = client.into_std();
    assert_eq!(std_stream.local_addr().unwrap(), local);
    std_stream.set_nonblocking(false).unwrap();
    std::io::Write::write_all(&mut std_stream, b"std").unwrap();
    let mut got = [0; 3];
    server.read_exact(&mut got).await.unwrap();
    assert_eq!(&got, b"std");
}

#[creche::test]
async fn listener_options_debug_into_std_and_poll_accept() {
    let _w = watchdog("listener_options_debug_into_std_and_poll_accept");
    // An address list with nothing in it is a typed error, not a panic.
    let none: &[SocketAddr] = &[];
    let err = TcpListener::bind(none).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    assert_eq!(err.to_string(), "no address to bind to");

    let options = ListenOptions::default()
        .reuse_address(true)
        .reuse_port(true)
        .backlog(16);
    let listener = TcpListener::bind_with("127.0.0.1:0".parse().unwrap(), &options).unwrap();
    let addr = listener.local_addr().unwrap();
    // SO_REUSEPORT is on: a second listener can bind the same port with the same options.
    let twin = TcpListener::bind_with(addr, &options).unwrap();
    assert_eq!(twin.local_addr().unwrap(), addr);
    drop(twin);
    // Without it, the port is taken.
    assert_eq!(
        TcpListener::bind_with(addr, &ListenOptions::new())
            .unwrap_err()
            .kind(),
        io::ErrorKind::AddrInUse
    );
    assert!(format!("{listener:?}").contains(&addr.to_string()));
    listener.set_ttl(33).unwrap();
    assert_eq!(listener.ttl().unwrap(), 33);

    let client = std::net::TcpStream::connect(addr).unwrap();
    let (stream, peer) = std::future::poll_fn(|cx| listener.poll_accept(cx))
        .await
        .unwrap();
    assert_eq!(peer, client.local_addr().unwrap());
    assert_eq!(stream.peer_addr().unwrap(), peer);

    let std_listener = listener.into_std();
    assert_eq!(std_listener.local_addr().unwrap(), addr);
}
