//! A TCP echo server: every connection is a child of one nursery, and each child echoes its
//! connection until the client closes it (then shuts its own write side down).
//!
//! Run with `cargo run --example echo_server [ADDRESS]` (default `127.0.0.1:0`: a free port);
//! it prints the address it is bound to. Try it with `nc 127.0.0.1 PORT`. With
//! `--self-test N`, it also connects N clients to itself, checks their echoes, and exits.

use creche::net::{TcpListener, TcpStream};
use creche::{CancelScope, open_nursery};
use std::io;
use std::net::Shutdown;

/// Echoes `stream` until its end, then closes our side.
async fn echo(stream: TcpStream) -> io::Result<()> {
    let mut buf = vec![0; 16 * 1024];
    loop {
        match stream.read(&mut buf).await? {
            0 => return stream.shutdown(Shutdown::Write).await,
            n => stream.write_all(&buf[..n]).await?,
        }
    }
}

/// Accepts forever; each connection runs as a child of one nursery. A failed connection is
/// reported and does not stop the server.
async fn serve(listener: TcpListener) -> io::Result<()> {
    open_nursery(|connections| async move {
        loop {
            let (stream, peer) = listener.accept().await?;
            connections.spawn(async move {
                if let Err(e) = echo(stream).await {
                    eprintln!("{peer}: {e}");
                }
                Ok::<_, io::Error>(())
            });
        }
    })
    .await
    .map(|_: Option<()>| ())
}

/// Connects `clients` clients at once and checks that each gets its own bytes back.
async fn self_test(addr: std::net::SocketAddr, clients: u32) -> io::Result<()> {
    open_nursery(|n| async move {
        for i in 0..clients {
            n.spawn(async move {
                let stream = TcpStream::connect(addr).await?;
                let message = format!("hello from client {i}");
                stream.write_all(message.as_bytes()).await?;
                stream.shutdown(Shutdown::Write).await?;
                let mut echoed = vec![0; message.len()];
                stream.read_exact(&mut echoed).await?;
                assert_eq!(echoed, message.as_bytes());
                Ok(())
            });
        }
        Ok::<_, io::Error>(())
    })
    .await?;
    println!("{clients} clients echoed");
    Ok(())
}

#[creche::main]
async fn main() -> io::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut addr = "127.0.0.1:0".to_owned();
    let mut clients = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--self-test" => clients = Some(args.next().and_then(|n| n.parse().ok()).unwrap_or(10)),
            other => addr = other.to_owned(),
        }
    }
    let listener = TcpListener::bind(addr.as_str())?;
    let bound = listener.local_addr()?;
    println!("echo server listening on {bound}");
    match clients {
        None => serve(listener).await,
        Some(clients) => {
            // The server runs in a scope that the test cancels when it is done.
            let server = CancelScope::new();
            let scope = server.clone();
            let (served, tested) = creche::join(scope.run(serve(listener)), async {
                let result = self_test(bound, clients).await;
                server.cancel();
                result
            })
            .await;
            if let Some(Err(e)) = served {
                return Err(e);
            }
            tested
        }
    }
}
