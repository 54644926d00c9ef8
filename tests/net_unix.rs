//! `creche::net::UnixListener` and `UnixStream`: bind/connect/accept and an echo, a pair, owned
//! halves from two tasks (dropping the write half is an end of stream), a cancelled read loses
//! no bytes, the futures-io traits, connect errors.

mod common;

use common::{secs, watchdog};
use creche::net::{UnixListener, UnixStream};
use creche::testing::wait_all_tasks_blocked;
use creche::{CancelScope, move_on_after};
use std::io;
use std::net::Shutdown;
use std::path::PathBuf;
use std::sync::Arc;

/// A fresh socket path under the temp dir, removed when dropped.
struct SocketPath(PathBuf);

impl SocketPath {
    fn new(name: &str) -> SocketPath {
        let path = std::env::temp_dir().join(format!("creche-{}-{name}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        SocketPath(path)
    }
}

impl Drop for SocketPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[creche::test(worker_threads = 2)]
async fn echo_through_a_listener() {
    let _w = watchdog("echo_through_a_listener");
    let path = SocketPath::new("echo");
    let listener = UnixListener::bind(&path.0).unwrap();
    assert_eq!(
        listener.local_addr().unwrap().as_pathname(),
        Some(path.0.as_path())
    );
    let server = creche::spawn(async move {
        let (stream, _) = listener.accept().await?;
        let mut buf = [0; 64];
        loop {
            match stream.read(&mut buf).await? {
                0 => return stream.shutdown(Shutdown::Write).await,
                n => stream.write_all(&buf[..n]).await?,
            }
        }
    });
    let client = UnixStream::connect(&path.0).await.unwrap();
    let message = vec![7u8; 50_000];
    let (reader, writer) = client.into_split();
    let sent = message.clone();
    let writing = creche::spawn(async move {
        writer.write_all(&sent).await
        // dropping the write half here shuts the write side down
    });
    let mut received = Vec::new();
    let mut buf = [0; 4096];
    loop {
        match reader.read(&mut buf).await.unwrap() {
            0 => break,
            n => received.extend_from_slice(&buf[..n]),
        }
    }
    writing.await.unwrap().unwrap();
    server.await.unwrap().unwrap();
    assert_eq!(received, message);
}

#[creche::test(autojump, worker_threads = 1)]
async fn cancelled_read_loses_no_bytes() {
    let _w = watchdog("cancelled_read_loses_no_bytes");
    let (a, b) = UnixStream::pair().unwrap();
    let b = Arc::new(b);
    let mut received = Vec::new();
    for round in 0..10u8 {
        let scope = CancelScope::new();
        let reading = creche::spawn({
            let (scope, b) = (scope.clone(), b.clone());
            async move {
                scope
                    .run(async move {
                        let mut buf = [0; 16];
                        let n = b.read(&mut buf).await.unwrap();
                        buf[..n].to_vec()
                    })
                    .await
            }
        });
        wait_all_tasks_blocked().await;
        a.write_all(&[round, round]).await.unwrap();
        scope.cancel();
        if let Some(bytes) = reading.await.unwrap() {
            received.extend(bytes);
        }
    }
    drop(a);
    let mut buf = [0; 64];
    loop {
        match b.read(&mut buf).await.unwrap() {
            0 => break,
            n => received.extend_from_slice(&buf[..n]),
        }
    }
    let expected: Vec<u8> = (0..10u8).flat_map(|r| [r, r]).collect();
    assert_eq!(received, expected);
}

#[creche::test(worker_threads = 2)]
async fn futures_io_traits() {
    use futures_lite::io::{AsyncReadExt, AsyncWriteExt};
    let _w = watchdog("futures_io_traits");
    let (mut a, mut b) = UnixStream::pair().unwrap();
    a.write_all(b"over a pair").await.unwrap();
    a.close().await.unwrap();
    let mut got = String::new();
    b.read_to_string(&mut got).await.unwrap();
    assert_eq!(got, "over a pair");
}

#[creche::test(autojump, worker_threads = 2)]
async fn read_under_a_deadline_and_connect_errors() {
    let _w = watchdog("read_under_a_deadline_and_connect_errors");
    let (a, _b) = UnixStream::pair().unwrap();
    assert!(move_on_after(secs(2), a.read(&mut [0; 4])).await.is_none());
    let missing = SocketPath::new("missing");
    let err = UnixStream::connect(&missing.0).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotFound, "{err}");
}

#[creche::test]
async fn pair_read_write_flush_shutdown_and_addresses() {
    use std::os::fd::{AsFd, AsRawFd};
    let _w = watchdog("pair_read_write_flush_shutdown_and_addresses");
    let (a, b) = UnixStream::pair().unwrap();
    assert!(a.local_addr().unwrap().is_unnamed());
    assert!(a.peer_addr().unwrap().is_unnamed());
    assert!(a.as_fd().as_raw_fd() >= 0);
    assert!(format!("{a:?}").contains("UnixStream"));
    assert_eq!(a.write(b"he").await.unwrap(), 2);
    a.write_all(b"llo").await.unwrap();
    a.flush().await.unwrap();
    let mut got = [0; 5];
    b.read_exact(&mut got).await.unwrap();
    assert_eq!(&got, b"hello");
    a.shutdown(Shutdown::Write).await.unwrap();
    assert_eq!(b.read(&mut [0; 4]).await.unwrap(), 0);
    // After the end of stream, read_exact is UnexpectedEof.
    let err = b.read_exact(&mut [0; 1]).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    // The other direction still works.
    b.write_all(b"back").await.unwrap();
    let mut back = [0; 4];
    a.read_exact(&mut back).await.unwrap();
    assert_eq!(&back, b"back");
}

#[creche::test]
async fn owned_halves_read_exact_write_and_explicit_shutdown() {
    let _w = watchdog("owned_halves_read_exact_write_and_explicit_shutdown");
    let path = SocketPath::new("halves");
    let listener = UnixListener::bind(&path.0).unwrap();
    let client = UnixStream::connect(&path.0).await.unwrap();
    let (server, _) = listener.accept().await.unwrap();
    assert_eq!(
        client.peer_addr().unwrap().as_pathname(),
        Some(path.0.as_path())
    );
    let (reader, writer) = client.into_split();
    assert!(format!("{reader:?}").starts_with("OwnedReadHalf"));
    assert!(format!("{writer:?}").starts_with("OwnedWriteHalf"));
    assert_eq!(writer.write(b"ab").await.unwrap(), 2);
    writer.write_all(b"cd").await.unwrap();
    let mut got = [0; 4];
    server.read_exact(&mut got).await.unwrap();
    assert_eq!(&got, b"abcd");
    server.write_all(b"xyz").await.unwrap();
    let mut one = [0; 1];
    assert_eq!(reader.read(&mut one).await.unwrap(), 1);
    let mut two = [0; 2];
    reader.read_exact(&mut two).await.unwrap();
    assert_eq!((&one, &two), (b"x", b"yz"));
    // An explicit shutdown while the write half is still alive ends the stream for the peer.
    writer.shutdown().await.unwrap();
    assert_eq!(server.read(&mut [0; 4]).await.unwrap(), 0);
    drop(writer);
    server.write_all(b"!").await.unwrap();
    let mut last = [0; 1];
    reader.read_exact(&mut last).await.unwrap();
    assert_eq!(&last, b"!");
}

/// In a cancelled scope, socket operations are cancellation points even when the socket is
/// ready: the poll forms return `Pending` without touching the socket, and `shutdown` (which
/// never waits) is dropped without shutting anything down.
#[creche::test]
async fn operations_in_a_cancelled_scope_touch_nothing() {
    use futures_lite::{AsyncRead, AsyncWrite};
    use std::pin::Pin;
    use std::task::Poll;
    let _w = watchdog("operations_in_a_cancelled_scope_touch_nothing");
    let (mut a, b) = UnixStream::pair().unwrap();
    b.write_all(b"kept").await.unwrap();
    let scope = CancelScope::new();
    scope.cancel();
    let polled = scope
        .run(std::future::poll_fn(|cx| {
            let mut buf = [0; 8];
            assert!(Pin::new(&mut a).poll_read(cx, &mut buf).is_pending());
            assert!(Pin::new(&mut a).poll_write(cx, b"lost").is_pending());
            Poll::Ready(())
        }))
        .await;
    assert_eq!(polled, Some(()));
    let second = CancelScope::new();
    second.cancel();
    assert!(second.run(a.shutdown(Shutdown::Both)).await.is_none());
    assert!(second.cancelled_caught());
    // Nothing was read, written or shut down.
    let mut got = [0; 4];
    a.read_exact(&mut got).await.unwrap();
    assert_eq!(&got, b"kept");
    a.write_all(b"more").await.unwrap();
    b.read_exact(&mut got).await.unwrap();
    assert_eq!(&got, b"more");
}
