//! `creche::compat::tokio`: a future that needs a tokio runtime runs inside a creche task (a
//! tokio sleep completes; a tokio listener binds and accepts), and cancelling the creche scope
//! around it drops it exactly once, before the scope returns.
#![cfg(feature = "tokio")]

mod common;

use common::{Counter, DropCount, Gate, watchdog};
use creche::CancelScope;
use creche::compat;
use std::time::Duration;

#[creche::test(worker_threads = 2)]
async fn tokio_sleep_runs_then_drops_on_cancel() {
    let _w = watchdog("tokio_sleep_runs_then_drops_on_cancel");
    // Real time, no assertion on how long: only that tokio's timer fires inside creche.
    // (In an `async` block: `tokio::time::sleep` itself needs the context when called.)
    compat::tokio(async { tokio::time::sleep(Duration::from_millis(10)).await }).await;

    let drops = Counter::new();
    let listening = Gate::new();
    let scope = CancelScope::new();
    let cancel = scope.clone();
    let accept = {
        let (drops, listening) = (drops.clone(), listening.clone());
        compat::tokio(async move {
            let _guard = DropCount(drops);
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            listening.open();
            listener.accept().await // nobody connects: pending until dropped
        })
    };
    let task = creche::spawn(scope.run(accept));
    listening.wait().await;
    assert_eq!(drops.get(), 0);
    cancel.cancel();
    let out = task.await.unwrap();
    assert!(out.is_none(), "the accept was cancelled");
    assert_eq!(
        drops.get(),
        1,
        "dropped exactly once, before the scope returned"
    );
}

#[creche::test(worker_threads = 2)]
async fn a_tokio_connection_round_trip() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let _w = watchdog("a_tokio_connection_round_trip");
    let listener = compat::tokio(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let server = creche::spawn(compat::tokio(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 5];
        socket.read_exact(&mut buf).await.unwrap();
        socket.write_all(&buf).await.unwrap();
    }));
    let echoed = compat::tokio(async move {
        let mut client = tokio::net::TcpStream::connect(addr).await.unwrap();
        client.write_all(b"hello").await.unwrap();
        let mut buf = [0u8; 5];
        client.read_exact(&mut buf).await.unwrap();
        buf
    })
    .await;
    server.await.unwrap();
    assert_eq!(&echoed, b"hello");
}

#[creche::test(worker_threads = 1)]
async fn a_cancelled_scope_never_polls_it() {
    let polls = Counter::new();
    let scope = CancelScope::new();
    scope.cancel();
    let counted = polls.clone();
    let out = scope
        .run(compat::tokio(std::future::poll_fn(move |_| {
            counted.incr();
            std::task::Poll::Ready(())
        })))
        .await;
    assert_eq!((out, polls.get()), (None, 0));
}
