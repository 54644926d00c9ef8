//! hyper 1.x on creche through `creche-hyper`: a hello-world server in a nursery answers raw
//! HTTP/1.1 requests sent over creche sockets, and cancelling its scope drops every connection
//! child (their sockets are deregistered and the clients see the end of stream); hyper's
//! header-read timeout runs on creche time (the autojump clock); an executor whose nursery has
//! closed drops what it is given.

mod common;

use common::{Counter, DropCount, tracked, watchdog};
use creche::net::{IoHandle, TcpListener, TcpStream};
use creche::time::current_time;
use creche::{CancelScope, open_nursery};
use creche_hyper::{CrecheTimer, HyperIo, NurseryExecutor};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::rt::Executor;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use std::convert::Infallible;
use std::io;
use std::time::Duration;

const BODY: &[u8] = b"Hello, World!";

/// Serves `listener` until cancelled: each connection is a child (through `NurseryExecutor`)
/// whose future is tracked in `connections` (drops); `requests` counts handled requests.
async fn serve(
    listener: TcpListener,
    header_timeout: Option<Duration>,
    connections: Counter,
    requests: Counter,
) -> io::Result<()> {
    open_nursery(|n| async move {
        let executor = NurseryExecutor::new(n);
        loop {
            let (stream, _) = listener.accept().await?;
            let requests = requests.clone();
            let service = service_fn(move |_: Request<Incoming>| {
                requests.incr();
                async { Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(BODY)))) }
            });
            let mut builder = http1::Builder::new();
            builder.timer(CrecheTimer);
            if let Some(timeout) = header_timeout {
                builder.header_read_timeout(timeout);
            }
            let connection = builder.serve_connection(HyperIo::new(stream), service);
            let polls = Counter::new();
            executor.execute(tracked(
                async move {
                    let _ = connection.await;
                },
                &polls,
                &connections,
            ));
        }
    })
    .await
    .map(|_: Option<()>| ())
}

/// Reads from `stream` until what was read ends with `end` (or the stream ends).
async fn read_until_ends_with(stream: &TcpStream, end: &[u8]) -> io::Result<Vec<u8>> {
    let mut got = Vec::new();
    let mut buf = [0; 1024];
    while !got.ends_with(end) {
        match stream.read(&mut buf).await? {
            0 => break,
            n => got.extend_from_slice(&buf[..n]),
        }
    }
    Ok(got)
}

#[creche::test(worker_threads = 2)]
async fn hello_world_then_cancelling_the_server_ends_its_connections() {
    let _w = watchdog("hello_world_then_cancelling_the_server_ends_its_connections");
    let reactor = IoHandle::try_current().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (connections, requests) = (Counter::new(), Counter::new());
    let server = CancelScope::new();
    let clients = 3;
    let (served, clients) = creche::join(
        server.run(serve(listener, None, connections.clone(), requests.clone())),
        async {
            let mut streams = Vec::new();
            for _ in 0..clients {
                let stream = TcpStream::connect(addr).await?;
                // Two requests on each keep-alive connection.
                for _ in 0..2 {
                    stream
                        .write_all(b"GET / HTTP/1.1\r\nhost: test\r\n\r\n")
                        .await?;
                    let response = read_until_ends_with(&stream, BODY).await?;
                    let text = String::from_utf8_lossy(&response);
                    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
                    assert!(text.contains("content-length: 13\r\n"), "{text}");
                    assert!(response.ends_with(BODY), "{text}");
                }
                streams.push(stream);
            }
            // Every connection is open and idle: its child waits for the next request.
            assert_eq!(connections.get(), 0, "no connection child has ended yet");
            assert_eq!(reactor.registered(), 1 + 2 * clients);
            server.cancel();
            io::Result::Ok(streams)
        },
    )
    .await;
    assert!(served.is_none(), "the server ran until it was cancelled");
    let streams = clients.unwrap();
    assert_eq!(requests.get(), 6);
    // The nursery returned only after every connection child was dropped...
    assert_eq!(connections.get(), 3);
    // ...with its socket: only the clients' sockets are still registered.
    assert_eq!(reactor.registered(), streams.len());
    for stream in &streams {
        let mut buf = [0; 16];
        assert_eq!(
            stream.read(&mut buf).await.unwrap(),
            0,
            "the server closed it"
        );
    }
}

#[creche::test(autojump, worker_threads = 1)]
async fn header_read_timeout_runs_on_creche_time() {
    let _w = watchdog("header_read_timeout_runs_on_creche_time");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (connections, requests) = (Counter::new(), Counter::new());
    let server = CancelScope::new();
    let timeout = Duration::from_secs(5);
    let (_, elapsed) = creche::join(
        server.run(serve(
            listener,
            Some(timeout),
            connections.clone(),
            requests.clone(),
        )),
        async {
            let stream = TcpStream::connect(addr).await?;
            let start = current_time();
            // An unfinished request head: hyper gives up after the header-read timeout.
            stream.write_all(b"GET / HTTP/1.1\r\nhost: te").await?;
            read_until_ends_with(&stream, b"never sent").await?;
            let elapsed = current_time() - start;
            server.cancel();
            io::Result::Ok(elapsed)
        },
    )
    .await;
    let elapsed = elapsed.unwrap();
    // The deadline hyper computes on the wall clock is converted to what is left of it, so a
    // few microseconds may be missing; the autojump clock never goes past it.
    assert!(
        elapsed > Duration::from_secs(4) && elapsed <= timeout,
        "{elapsed:?}"
    );
    assert_eq!(requests.get(), 0);
    assert_eq!(
        connections.get(),
        1,
        "the timed-out connection's child ended"
    );
}

#[creche::test]
async fn an_executor_whose_nursery_closed_drops_the_future() {
    let _w = watchdog("an_executor_whose_nursery_closed_drops_the_future");
    let mut kept = None;
    open_nursery(|n| {
        kept = Some(NurseryExecutor::new(n));
        async { Ok::<_, io::Error>(()) }
    })
    .await
    .unwrap();
    let (ran, dropped) = (Counter::new(), Counter::new());
    let guard = DropCount(dropped.clone());
    let counter = ran.clone();
    kept.unwrap().execute(async move {
        let _guard = guard;
        counter.incr();
    });
    assert_eq!(dropped.get(), 1, "dropped at once");
    assert_eq!(ran.get(), 0, "never run");
}

#[creche::test]
async fn hyper_io_accessors_and_shutdown_through_hyper_write() {
    use creche::net::UnixStream;
    use std::pin::Pin;
    let _w = watchdog("hyper_io_accessors_and_shutdown_through_hyper_write");
    let (a, b) = UnixStream::pair().unwrap();
    let mut io = HyperIo::new(a);
    assert!(io.get_ref().peer_addr().unwrap().is_unnamed());
    io.get_mut().write_all(b"raw").await.unwrap();
    let n = std::future::poll_fn(|cx| hyper::rt::Write::poll_write(Pin::new(&mut io), cx, b"!"))
        .await
        .unwrap();
    assert_eq!(n, 1);
    std::future::poll_fn(|cx| hyper::rt::Write::poll_flush(Pin::new(&mut io), cx))
        .await
        .unwrap();
    // hyper's shutdown is the stream's write-side shutdown: the peer reads the end of stream.
    std::future::poll_fn(|cx| hyper::rt::Write::poll_shutdown(Pin::new(&mut io), cx))
        .await
        .unwrap();
    let got = read_until_end(&b).await;
    assert_eq!(got, b"raw!");
    // The stream comes back out, still readable.
    let a = io.into_inner();
    b.write_all(b"ok").await.unwrap();
    let mut buf = [0; 2];
    a.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"ok");
}

async fn read_until_end(stream: &creche::net::UnixStream) -> Vec<u8> {
    let mut all = Vec::new();
    let mut chunk = [0; 16];
    loop {
        match stream.read(&mut chunk).await.unwrap() {
            0 => return all,
            n => all.extend_from_slice(&chunk[..n]),
        }
    }
}

#[creche::test]
async fn an_executor_on_an_open_nursery_runs_the_future() {
    let _w = watchdog("an_executor_on_an_open_nursery_runs_the_future");
    let ran = Counter::new();
    let counter = ran.clone();
    open_nursery(|n| async move {
        let executor = NurseryExecutor::new(n);
        let copy = executor.clone();
        assert!(format!("{copy:?}").starts_with("NurseryExecutor"));
        copy.execute(async move { counter.incr() });
        // The executor's nursery is the one the block got: a child spawned on it runs too.
        let on_nursery = executor.nursery().spawn(async { Ok(7) });
        assert_eq!(on_nursery.join().await, Ok(7));
        Ok::<_, io::Error>(())
    })
    .await
    .unwrap();
    // The nursery waited for the child the executor spawned.
    assert_eq!(ran.get(), 1);
}

/// A sleep that is not creche's: `CrecheTimer::reset` replaces it with its own.
struct ForeignSleep;

impl std::future::Future for ForeignSleep {
    type Output = ();
    fn poll(self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        std::task::Poll::Pending
    }
}

impl hyper::rt::Sleep for ForeignSleep {}

#[creche::test(autojump)]
async fn creche_timer_sleeps_on_creche_time_and_resets_foreign_sleeps() {
    use creche_hyper::CrecheSleep;
    use hyper::rt::Timer;
    let _w = watchdog("creche_timer_sleeps_on_creche_time_and_resets_foreign_sleeps");
    let start = current_time();
    CrecheTimer.sleep(Duration::from_secs(30)).await;
    assert_eq!(current_time() - start, Duration::from_secs(30));

    let mut sleep: std::pin::Pin<Box<dyn hyper::rt::Sleep>> = Box::pin(ForeignSleep);
    assert!(!sleep.is::<CrecheSleep>());
    CrecheTimer.reset(
        &mut sleep,
        std::time::Instant::now() + Duration::from_secs(3600),
    );
    assert!(sleep.is::<CrecheSleep>(), "replaced by a creche sleep");
    let before = current_time();
    sleep.await;
    let slept = current_time() - before;
    // About an hour of creche time (less whatever wall time passed since the reset).
    assert!(
        slept <= Duration::from_secs(3600) && slept > Duration::from_secs(3500),
        "{slept:?}"
    );
}
