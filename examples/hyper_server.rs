//! A hyper 1.x hello-world server, on creche or (for comparison) on tokio, from the same
//! handler ([`hello`]).
//!
//! On creche (the default), the runtime pieces come from `creche-hyper`: each connection is
//! served through [`HyperIo`] (hyper's io traits on `creche::net::TcpStream`), spawned by a
//! [`NurseryExecutor`] as a child of the server's nursery, with hyper's timeouts on
//! [`CrecheTimer`]. Cancelling the scope around the server (here: at the end of `--seconds`)
//! stops accepting and drops every connection; the nursery returns once they are all gone.
//!
//! With `--runtime tokio`, the same handler runs on tokio's multi-thread runtime (one worker
//! per core) with hyper-util's `TokioIo`, `tokio::spawn` and `TokioTimer`: the peer of
//! `benches/hyper_load.sh`. Both set `TCP_NODELAY` on accepted connections.
//!
//! ```sh
//! cargo run --release --example hyper_server -- [--runtime creche|tokio] [--addr ADDR] [--seconds N]
//! ```
//!
//! `--addr` defaults to `127.0.0.1:3000` (`127.0.0.1:0` picks a free port); the bound address
//! is printed. Without `--seconds` the server runs until it is killed (ctrl-c); with it, it
//! stops after N seconds and prints how many connections it served.

use creche_hyper::{CrecheTimer, HyperIo, NurseryExecutor};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::rt::Executor;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The handler both servers run: `Hello, World!` for every request.
async fn hello(_: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(
        b"Hello, World!",
    ))))
}

/// Accepts on `listener` until cancelled; each connection is a child of one nursery.
/// `served` counts the accepted connections.
async fn serve_creche(
    listener: creche::net::TcpListener,
    served: Arc<AtomicU64>,
) -> io::Result<()> {
    creche::open_nursery(|connections| async move {
        let executor = NurseryExecutor::new(connections);
        loop {
            let (stream, peer) = listener.accept().await?;
            served.fetch_add(1, Ordering::Relaxed);
            stream.set_nodelay(true)?;
            let connection = http1::Builder::new()
                .timer(CrecheTimer)
                .serve_connection(HyperIo::new(stream), service_fn(hello));
            executor.execute(async move {
                if let Err(e) = connection.await {
                    eprintln!("{peer}: {e}");
                }
            });
        }
    })
    .await
    .map(|_: Option<()>| ())
}

/// The same server on tokio.
async fn serve_tokio(listener: tokio::net::TcpListener, served: Arc<AtomicU64>) -> io::Result<()> {
    loop {
        let (stream, peer) = listener.accept().await?;
        served.fetch_add(1, Ordering::Relaxed);
        stream.set_nodelay(true)?;
        let connection = http1::Builder::new()
            .timer(hyper_util::rt::TokioTimer::new())
            .serve_connection(hyper_util::rt::TokioIo::new(stream), service_fn(hello));
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                eprintln!("{peer}: {e}");
            }
        });
    }
}

struct Options {
    runtime: String,
    addr: String,
    seconds: Option<u64>,
}

fn options() -> Result<Options, String> {
    let mut options = Options {
        runtime: "creche".to_owned(),
        addr: "127.0.0.1:3000".to_owned(),
        seconds: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--runtime" => options.runtime = value()?,
            "--addr" => options.addr = value()?,
            "--seconds" => {
                let n = value()?;
                options.seconds = Some(
                    n.parse()
                        .map_err(|_| format!("--seconds {n}: not a number"))?,
                );
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(options)
}

fn bound(addr: io::Result<SocketAddr>, runtime: &str) -> io::Result<()> {
    println!("hyper server ({runtime}) listening on http://{}", addr?);
    Ok(())
}

fn main() -> io::Result<()> {
    let options = options().map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let served = Arc::new(AtomicU64::new(0));
    let limit = options.seconds.map(Duration::from_secs);
    match options.runtime.as_str() {
        "creche" => creche::run(async {
            let listener = creche::net::TcpListener::bind(options.addr.as_str())?;
            bound(listener.local_addr(), "creche")?;
            let server = serve_creche(listener, served.clone());
            match limit {
                None => server.await,
                // The scope around the server is cancelled at the deadline: accepting stops and
                // every connection child is dropped before `move_on_after` returns.
                Some(limit) => creche::move_on_after(limit, server).await.unwrap_or(Ok(())),
            }
        })?,
        "tokio" => {
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(cores)
                .enable_all()
                .build()?;
            rt.block_on(async {
                let listener = tokio::net::TcpListener::bind(options.addr.as_str()).await?;
                bound(listener.local_addr(), "tokio")?;
                let server = serve_tokio(listener, served.clone());
                match limit {
                    None => server.await,
                    Some(limit) => tokio::time::timeout(limit, server).await.unwrap_or(Ok(())),
                }
            })?;
            // Connections still open are dropped with the runtime.
            rt.shutdown_timeout(Duration::from_secs(1));
        }
        other => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("--runtime {other}: expected creche or tokio"),
            ));
        }
    }
    println!("served {} connections", served.load(Ordering::Relaxed));
    Ok(())
}
