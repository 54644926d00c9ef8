//! `serve_tcp`: on scripted listeners under the autojump clock (exact backoff after EMFILE,
//! ENFILE, ENOBUFS and ENOMEM, a vanished connection is skipped at once, a hard error ends the
//! server and cancels its connections, cancelling stops accepting and ends connections,
//! `start()` reports the addresses, no listener is an error, a handler's panic ends the
//! server); then on loopback sockets:
//! `open_tcp_listeners`, 1,000 concurrent connections, cancellation, and the server surviving
//! file-descriptor exhaustion in a subprocess with a lowered `RLIMIT_NOFILE`.
//!
//! Accept-error events are seen through the io event hook (`creche::lowlevel::
//! set_io_event_hook`), installed once for the whole binary; each test filters by its own
//! listener address.

mod common;

use common::{Counter, DropCount, lock_ignoring_poison, secs, watchdog};
use creche::lowlevel::{IoEvent, set_io_event_hook};
use creche::net::{
    ACCEPT_BACKOFF, Listener, TcpListener, TcpStream, open_tcp_listeners, serve_tcp,
};
use creche::testing::wait_all_tasks_blocked;
use creche::time::{Instant, MockClock, current_time, sleep, sleep_forever};
use creche::{CancelScope, TaskStatus, open_nursery};
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// An io event as the hook saw it: listener address, error, retry delay, and when.
#[derive(Debug, Clone)]
struct Seen {
    addr: Option<SocketAddr>,
    os_error: Option<i32>,
    retry_in: Duration,
    at: Instant,
}

static EVENTS: Mutex<Vec<Seen>> = Mutex::new(Vec::new());

/// Installs the collecting hook (once per process).
fn collect_events() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        set_io_event_hook(Some(Arc::new(|event: &IoEvent<'_>| {
            let IoEvent::AcceptBackoff {
                local_addr,
                error,
                retry_in,
                ..
            } = event
            else {
                return;
            };
            lock_ignoring_poison(&EVENTS).push(Seen {
                addr: *local_addr,
                os_error: error.raw_os_error(),
                retry_in: *retry_in,
                at: current_time(),
            });
        })));
    });
}

/// The events seen for the listener at `addr`.
fn events_for(addr: SocketAddr) -> Vec<Seen> {
    lock_ignoring_poison(&EVENTS)
        .iter()
        .filter(|e| e.addr == Some(addr))
        .cloned()
        .collect()
}

/// One step of a scripted listener.
#[derive(Clone)]
enum Step {
    /// A connection with this id.
    Conn(u32),
    /// An accept error with this OS code.
    Os(i32),
    /// Sleep this long before taking the next step.
    Wait(Duration),
}
use Step::{Conn, Os, Wait};

/// A listener that follows a script, then waits forever; it records when each accept began.
#[derive(Clone)]
struct Scripted {
    addr: SocketAddr,
    script: Arc<Mutex<VecDeque<Step>>>,
    accepts: Arc<Mutex<Vec<Instant>>>,
}

impl Scripted {
    fn new(port: u16, script: &[Step]) -> Scripted {
        Scripted {
            addr: SocketAddr::from(([127, 0, 0, 2], port)),
            script: Arc::new(Mutex::new(script.iter().cloned().collect())),
            accepts: Arc::default(),
        }
    }

    fn accepts(&self, t0: Instant) -> Vec<Duration> {
        self.accepts
            .lock()
            .unwrap()
            .iter()
            .map(|&t| t - t0)
            .collect()
    }
}

impl Listener for Scripted {
    type Stream = u32;

    async fn accept(&self) -> io::Result<u32> {
        self.accepts.lock().unwrap().push(current_time());
        loop {
            let step = self.script.lock().unwrap().pop_front();
            match step {
                Some(Conn(id)) => return Ok(id),
                Some(Os(code)) => return Err(io::Error::from_raw_os_error(code)),
                Some(Wait(d)) => sleep(d).await,
                None => std::future::pending::<()>().await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.addr)
    }
}

/// A handler that records each connection id and then holds the connection open forever
/// (its `DropCount` counts the handlers that were dropped).
fn holding_handler(
    served: &Arc<Mutex<Vec<u32>>>,
    dropped: &Counter,
) -> impl Fn(u32) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync + 'static {
    let (served, dropped) = (served.clone(), dropped.clone());
    move |id| {
        let (served, guard) = (served.clone(), DropCount(dropped.clone()));
        Box::pin(async move {
            let _guard = guard;
            served.lock().unwrap().push(id);
            sleep_forever().await;
        })
    }
}

/// Out of resources, the loop reports the error, sleeps exactly 100 ms, and tries again, once
/// (no spin); a vanished connection is skipped without a pause; then it serves again.
#[creche::test(autojump)]
async fn backoff_on_resource_exhaustion_is_exact() {
    let _w = watchdog("backoff_on_resource_exhaustion_is_exact");
    collect_events();
    let listener = Scripted::new(
        1001,
        &[
            Os(libc::EMFILE),
            Os(libc::ENFILE),
            Os(libc::ENOBUFS),
            Os(libc::ENOMEM),
            Conn(1),
            Os(libc::ECONNABORTED),
            Os(libc::EPROTO),
            Os(libc::ECONNRESET),
            Os(libc::EPERM),
            Os(libc::EINTR),
            Conn(2),
        ],
    );
    let (served, dropped) = (Arc::new(Mutex::new(Vec::new())), Counter::new());
    let handler = holding_handler(&served, &dropped);
    let t0 = current_time();
    let scope = CancelScope::new();
    let watched = listener.clone();
    let stopper = scope.clone();
    let out = open_nursery(|n| async move {
        n.spawn(async move {
            sleep(secs(5)).await;
            stopper.cancel();
            Ok(())
        });
        scope
            .run(serve_tcp(handler, vec![listener], TaskStatus::ignored()))
            .await;
        Ok::<_, io::Error>(())
    })
    .await;
    assert!(out.is_ok());
    assert_eq!(
        watched.accepts(t0),
        [vec![ms(0), ms(100), ms(200), ms(300)], vec![ms(400); 8],].concat(),
        "one accept per backoff; none in between"
    );
    let events = events_for(watched.addr);
    let codes: Vec<_> = events.iter().map(|e| e.os_error).collect();
    let want = [libc::EMFILE, libc::ENFILE, libc::ENOBUFS, libc::ENOMEM];
    assert_eq!(codes, want.map(Some));
    let times: Vec<_> = events.iter().map(|e| e.at - t0).collect();
    assert_eq!(times, vec![ms(0), ms(100), ms(200), ms(300)]);
    assert!(events.iter().all(|e| e.retry_in == ACCEPT_BACKOFF));
    assert_eq!(ACCEPT_BACKOFF, ms(100));
    let mut served = served.lock().unwrap().clone();
    served.sort();
    assert_eq!(served, vec![1, 2]);
    assert_eq!(
        dropped.get(),
        2,
        "cancelling the server ended both connections"
    );
}

/// Any other accept error ends `serve_tcp` with that error, after cancelling the other
/// listeners' loops and every connection.
#[creche::test(autojump)]
async fn a_hard_error_ends_the_server_and_its_connections() {
    let _w = watchdog("a_hard_error_ends_the_server_and_its_connections");
    let failing = Scripted::new(1002, &[Conn(1), Wait(secs(1)), Os(libc::EBADF)]);
    let other = Scripted::new(1003, &[Conn(2)]);
    let (served, dropped) = (Arc::new(Mutex::new(Vec::new())), Counter::new());
    let handler = holding_handler(&served, &dropped);
    let t0 = current_time();
    let err = serve_tcp(handler, vec![failing, other.clone()], TaskStatus::ignored())
        .await
        .unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EBADF));
    assert_eq!(current_time() - t0, secs(1));
    assert_eq!(dropped.get(), 2);
    assert_eq!(
        other.accepts(t0),
        vec![ms(0), ms(0)],
        "the other loop was waiting"
    );
}

/// `start()` returns the listeners' addresses once the loops are spawned; the server then
/// belongs to the nursery, and cancelling that nursery stops accepting and ends connections.
#[creche::test(autojump)]
async fn start_reports_addresses_and_cancel_stops_everything() {
    let _w = watchdog("start_reports_addresses_and_cancel_stops_everything");
    let a = Scripted::new(1004, &[Conn(1), Wait(secs(2)), Conn(3)]);
    let b = Scripted::new(1005, &[Wait(ms(500)), Conn(2), Wait(secs(2)), Conn(4)]);
    let (watch_a, watch_b) = (a.clone(), b.clone());
    let want = vec![a.addr, b.addr];
    let (served, dropped) = (Arc::new(Mutex::new(Vec::new())), Counter::new());
    let handler = holding_handler(&served, &dropped);
    let t0 = current_time();
    let out = open_nursery(|n| async move {
        let addrs = n
            .start(|status| serve_tcp(handler, vec![a, b], status))
            .await
            .unwrap();
        sleep(secs(1)).await;
        n.cancel_scope().cancel();
        Ok::<_, io::Error>(addrs)
    })
    .await
    .unwrap();
    assert_eq!(out, Some(want), "the listeners' addresses, in order");
    assert_eq!(current_time() - t0, secs(1));
    let mut ids = served.lock().unwrap().clone();
    ids.sort();
    assert_eq!(ids, vec![1, 2], "connections 3 and 4 never accepted");
    assert_eq!(dropped.get(), 2);
    sleep(secs(5)).await;
    assert_eq!(watch_a.accepts(t0), vec![ms(0), ms(0)]);
    assert_eq!(watch_b.accepts(t0), vec![ms(0), ms(500)]);
}

/// A handler's panic takes the server down: the other connections are cancelled, the
/// listeners closed, and the panic resumes in `serve_tcp`'s caller with its payload.
#[test]
fn a_handler_panic_ends_the_server() {
    let _w = watchdog("a_handler_panic_ends_the_server");
    let rt = creche::Builder::new()
        .clock(MockClock::autojump())
        .build()
        .unwrap();
    let listener = Scripted::new(1008, &[Conn(1), Wait(secs(1)), Conn(2), Conn(3)]);
    let watched = listener.clone();
    let dropped = Counter::new();
    let d = dropped.clone();
    let handler = move |id: u32| {
        let guard = DropCount(d.clone());
        async move {
            let _guard = guard;
            if id == 2 {
                sleep(ms(10)).await;
                panic!("handler 2 failed");
            }
            sleep_forever().await;
        }
    };
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.block_on(serve_tcp(handler, vec![listener], TaskStatus::ignored()))
    }));
    let payload = caught.expect_err("the panic reached the caller");
    assert_eq!(common::panic_message(&*payload), "handler 2 failed");
    assert_eq!(dropped.get(), 3, "every handler was dropped");
    assert_eq!(
        watched.accepts.lock().unwrap().len(),
        4,
        "no accept after the panic"
    );
}

/// No listener: `InvalidInput`, at once.
#[creche::test(autojump)]
async fn no_listener_is_invalid_input() {
    let _w = watchdog("no_listener_is_invalid_input");
    let err = serve_tcp(
        |_: u32| async {},
        Vec::<Scripted>::new(),
        TaskStatus::ignored(),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    wait_all_tasks_blocked().await;
}

// ---- real sockets on loopback -----------------------------------------------------------

/// Echoes until the peer closes.
async fn echo(stream: TcpStream) {
    let mut buf = [0; 1024];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if stream.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// The loopback address of each family the listeners cover, on their port.
fn loopbacks(addrs: &[SocketAddr]) -> Vec<SocketAddr> {
    addrs
        .iter()
        .map(|a| match a {
            SocketAddr::V4(_) => SocketAddr::from((Ipv4Addr::LOCALHOST, a.port())),
            SocketAddr::V6(_) => SocketAddr::from((Ipv6Addr::LOCALHOST, a.port())),
        })
        .collect()
}

/// `open_tcp_listeners(0)`: one listener per family the host has, all on one port, the IPv6
/// one with `IPV6_V6ONLY`; a port in use is an error.
#[creche::test]
async fn open_tcp_listeners_covers_every_family_on_one_port() {
    let _w = watchdog("open_tcp_listeners_covers_every_family_on_one_port");
    let listeners = open_tcp_listeners(0).unwrap();
    let addrs: Vec<_> = listeners.iter().map(|l| l.local_addr().unwrap()).collect();
    assert!(addrs[0].is_ipv4() && addrs[0].ip().is_unspecified());
    let v6_present = std::net::TcpListener::bind("[::1]:0").is_ok();
    assert_eq!(addrs.len(), if v6_present { 2 } else { 1 });
    for (listener, a) in listeners.iter().zip(&addrs) {
        assert_eq!(a.port(), addrs[0].port());
        if a.is_ipv6() {
            assert!(a.ip().is_unspecified());
            assert!(socket2::SockRef::from(listener).only_v6().unwrap());
        }
    }
    let taken = open_tcp_listeners(addrs[0].port()).err().unwrap();
    assert_eq!(taken.kind(), io::ErrorKind::AddrInUse);
}

/// 1,000 connections open at once through `serve_tcp` (half to 127.0.0.1, half to ::1 when the
/// host has IPv6): each echoes once, all wait until every one has, then each echoes again; at
/// that moment 1,000 handlers have started and none has ended.
#[creche::test]
async fn thousand_concurrent_connections_echo() {
    let _w = watchdog("thousand_concurrent_connections_echo");
    const N: usize = 1000;
    let (started, ended) = (Counter::new(), Counter::new());
    let (s, e) = (started.clone(), ended.clone());
    let handler = move |stream: TcpStream| {
        let (s, e) = (s.clone(), DropCount(e.clone()));
        async move {
            let _ended = e;
            s.incr();
            echo(stream).await;
        }
    };
    let listeners = open_tcp_listeners(0).unwrap();
    let (seen_started, seen_ended) = (started.clone(), ended.clone());
    let result = open_nursery(|server| async move {
        let addrs = server
            .start(|status| serve_tcp(handler, listeners, status))
            .await
            .map_err(|e| io::Error::other(e.to_string()))?;
        let targets = Arc::new(loopbacks(&addrs));
        let (echoed, all_echoed) = (Counter::new(), Arc::new(creche::sync::Event::new()));
        open_nursery(|clients| async move {
            for i in 0..N {
                let (targets, echoed, all_echoed) =
                    (targets.clone(), echoed.clone(), all_echoed.clone());
                let (seen_started, seen_ended) = (seen_started.clone(), seen_ended.clone());
                clients.spawn(async move {
                    let stream = TcpStream::connect(targets[i % targets.len()]).await?;
                    let msg = format!("{i:04}");
                    let mut back = [0; 4];
                    stream.write_all(msg.as_bytes()).await?;
                    stream.read_exact(&mut back).await?;
                    assert_eq!(&back, msg.as_bytes());
                    if echoed.incr() == N {
                        assert_eq!((seen_started.get(), seen_ended.get()), (N, 0));
                        all_echoed.set();
                    }
                    all_echoed.wait().await;
                    stream.write_all(msg.as_bytes()).await?;
                    stream.read_exact(&mut back).await?;
                    assert_eq!(&back, msg.as_bytes());
                    Ok::<_, io::Error>(())
                });
            }
            Ok(())
        })
        .await?;
        server.cancel_scope().cancel();
        Ok::<_, io::Error>(())
    })
    .await;
    result.unwrap();
    assert_eq!(started.get(), N);
    assert_eq!(ended.get(), N, "every handler ended");
}

/// Cancelling the scope around `serve_tcp` stops accepting (the listeners close: a new
/// connection is refused) and ends every connection (the client reads end-of-stream).
#[creche::test]
async fn cancelling_stops_accepting_and_ends_connections() {
    let _w = watchdog("cancelling_stops_accepting_and_ends_connections");
    let listeners = open_tcp_listeners(0).unwrap();
    let port = listeners[0].local_addr().unwrap().port();
    let target = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let handled = Counter::new();
    let h = handled.clone();
    let scope = CancelScope::new();
    let (inner, outer) = (scope.clone(), scope.clone());
    let out = open_nursery(|n| async move {
        n.spawn(async move {
            inner
                .run(serve_tcp(
                    move |stream: TcpStream| {
                        h.incr();
                        echo(stream)
                    },
                    listeners,
                    TaskStatus::ignored(),
                ))
                .await;
            Ok(())
        });
        let client = TcpStream::connect(target).await?;
        client.write_all(b"hi").await?;
        let mut back = [0; 2];
        client.read_exact(&mut back).await?;
        assert_eq!(&back, b"hi");
        outer.cancel();
        let mut rest = [0; 8];
        let n = client.read(&mut rest).await.unwrap_or(0);
        assert_eq!(n, 0, "the server's side of the connection was closed");
        Ok::<_, io::Error>(())
    })
    .await;
    out.unwrap();
    assert_eq!(handled.get(), 1);
    let refused = TcpStream::connect(target).await.err().unwrap();
    assert_eq!(refused.kind(), io::ErrorKind::ConnectionRefused);
}

// ---- file-descriptor exhaustion, in a subprocess ----------------------------------------

/// Set in the environment of the re-executed test binary: run the scenario, not the parent.
const FD_CHILD: &str = "CRECHE_NET_SERVE_FD_EXHAUSTION_CHILD";

/// `serve_tcp` survives `EMFILE`: a subprocess (this test binary, re-executed with
/// [`FD_CHILD`] set) lowers its `RLIMIT_NOFILE` and runs the scenario of
/// [`fd_exhaustion_child`]; the parent checks that it succeeded.
#[test]
fn serve_tcp_survives_fd_exhaustion() {
    let _w = watchdog("serve_tcp_survives_fd_exhaustion");
    if std::env::var_os(FD_CHILD).is_some() {
        fd_exhaustion_child();
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "serve_tcp_survives_fd_exhaustion",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(FD_CHILD, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the subprocess failed:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("fd exhaustion: 2 backoffs, then served 2 connections"),
        "{stdout}"
    );
}

/// Waits (polling; the watchdog guards it) until the hook has seen `n` events for `addr`.
fn wait_for_events(addr: SocketAddr, n: usize) {
    while events_for(addr).len() < n {
        std::thread::sleep(ms(1));
    }
}

/// The subprocess: at most 256 descriptors; the server runs on a clock that moves only when
/// jumped. Every descriptor is taken but one, which a client uses to connect (the connection
/// waits in the listener's backlog) and send "ping". The server's accept fails with `EMFILE`:
/// one event, then nothing while the clock stands still (it sleeps, it does not spin); a 100 ms
/// jump brings exactly one more attempt and event. Then the descriptors are freed, the clock
/// jumps again, and the server accepts, echoes "ping", and serves a fresh connection too.
fn fd_exhaustion_child() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the valid, exclusively borrowed `limit`.
    let got = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    assert_eq!(got, 0);
    limit.rlim_cur = limit.rlim_cur.min(256);
    // SAFETY: setrlimit reads the valid, initialized `limit`.
    let set = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) };
    assert_eq!(set, 0);
    collect_events();
    let clock = MockClock::new();
    let rt = creche::Builder::new()
        .worker_threads(2)
        .clock(clock.clone())
        .build()
        .unwrap();
    let result = rt.block_on(open_nursery(|n| async move {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addrs = n
            .start(|status| serve_tcp(echo, vec![listener], status))
            .await
            .map_err(|e| io::Error::other(e.to_string()))?;
        let addr = addrs[0];
        // The scenario has exactly two failed accepts. A loop that spins instead of sleeping
        // would keep `wait_all_tasks_blocked` from ever returning: say so and stop at once.
        std::thread::spawn(move || {
            loop {
                let seen = events_for(addr).len();
                if seen > 2 {
                    println!("serve_tcp spins: {seen} failed accepts with the clock still");
                    std::process::exit(3);
                }
                std::thread::sleep(ms(1));
            }
        });

        let mut hoard = Vec::new();
        loop {
            match std::fs::File::open("/dev/null") {
                Ok(file) => hoard.push(file),
                Err(e) if e.raw_os_error() == Some(libc::EMFILE) => break,
                Err(e) => return Err(e),
            }
        }
        hoard.pop(); // the client's descriptor
        let mut client = std::net::TcpStream::connect(addr)?;
        client.write_all(b"ping")?;

        wait_for_events(addr, 1);
        wait_all_tasks_blocked().await;
        assert_eq!(events_for(addr).len(), 1, "asleep until the clock moves");
        clock.jump(ACCEPT_BACKOFF).unwrap();
        wait_for_events(addr, 2);
        wait_all_tasks_blocked().await;
        assert_eq!(events_for(addr).len(), 2, "one attempt per backoff");
        let events = events_for(addr);
        assert!(events.iter().all(|e| e.os_error == Some(libc::EMFILE)));
        assert_eq!(events[1].at - events[0].at, ACCEPT_BACKOFF);

        drop(hoard);
        clock.jump(ACCEPT_BACKOFF).unwrap();
        let mut back = [0; 4];
        client.read_exact(&mut back)?;
        assert_eq!(&back, b"ping");
        let mut fresh = std::net::TcpStream::connect(addr)?;
        fresh.write_all(b"pong")?;
        fresh.read_exact(&mut back)?;
        assert_eq!(&back, b"pong");
        assert_eq!(
            events_for(addr).len(),
            2,
            "no failure once descriptors are free"
        );
        println!("fd exhaustion: 2 backoffs, then served 2 connections");
        n.cancel_scope().cancel();
        Ok::<_, io::Error>(())
    }));
    result.unwrap();
}
