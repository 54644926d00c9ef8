//! Happy eyeballs (`creche::net::OpenTcpStream`) on a fake network under the autojump clock,
//! with exact virtual times (the scenarios of Trio's open_tcp_stream tests, plus full family
//! interleaving): fall-through, early success, custom delay, errors expedite the next attempt,
//! all fail (one error naming each address), several succeed (one winner, the rest closed),
//! IPv4-only and IPv6-only answers, interleaving order, cancellation from outside, resolver
//! failure, empty answer, the local address; `lookup_host`; and `open_tcp_stream` on real
//! loopback sockets.
//!
//! The fake network: each address has a connect time and an outcome. An attempt "opens a
//! socket" when it starts (counted, with its start time) and "closes" it when the socket value
//! is dropped (counted by a `DropCount`), whether the attempt failed, lost, or was cancelled.

mod common;

use common::{Counter, DropCount, secs, watchdog};
use creche::net::{
    ConnectError, Connector, OpenTcpStream, Resolver, lookup_host, open_tcp_listeners,
    open_tcp_stream,
};
use creche::time::{Instant, current_time, sleep};
use creche::{CancelScope, move_on_after, open_nursery};
use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// What connecting to an address does: succeed or fail after this long.
#[derive(Clone, Copy)]
enum Outcome {
    Connect(Duration),
    Fail(Duration),
}
use Outcome::{Connect, Fail};

/// A fake network: the plan for each address, and what happened.
#[derive(Clone, Default)]
struct FakeNet {
    plan: Arc<HashMap<SocketAddr, Outcome>>,
    /// Each attempt: the address, the local address given, and when it started.
    started: Arc<Mutex<Vec<Attempt>>>,
    opened: Counter,
    closed: Counter,
}

/// An attempt as the fake network saw it: the address, the local address given, and when it
/// started.
type Attempt = (SocketAddr, Option<SocketAddr>, Instant);

/// A connected fake socket; dropping it closes it.
struct FakeStream {
    peer: SocketAddr,
    connected_at: Instant,
    _socket: DropCount,
}

impl FakeNet {
    fn new(plan: &[(&str, Outcome)]) -> FakeNet {
        FakeNet {
            plan: Arc::new(plan.iter().map(|&(a, o)| (addr(a), o)).collect()),
            ..FakeNet::default()
        }
    }

    /// Start times of the attempts relative to `t0`, in start order.
    fn starts(&self, t0: Instant) -> Vec<(SocketAddr, Duration)> {
        let mut started = self.started.lock().unwrap().clone();
        started.sort_by_key(|&(_, _, at)| at);
        started.into_iter().map(|(a, _, at)| (a, at - t0)).collect()
    }

    /// The resolver answer listing the plan's addresses in the given order.
    fn answer(list: &[&str]) -> FakeResolver {
        FakeResolver(Ok(list.iter().map(|a| addr(a)).collect()))
    }
}

impl Connector for FakeNet {
    type Stream = FakeStream;

    async fn connect(&self, peer: SocketAddr, local: Option<SocketAddr>) -> io::Result<FakeStream> {
        self.started
            .lock()
            .unwrap()
            .push((peer, local, current_time()));
        self.opened.incr();
        let socket = DropCount(self.closed.clone());
        match self.plan[&peer] {
            Connect(after) => {
                sleep(after).await;
                Ok(FakeStream {
                    peer,
                    connected_at: current_time(),
                    _socket: socket,
                })
            }
            Fail(after) => {
                sleep(after).await;
                Err(io::Error::new(
                    io::ErrorKind::ConnectionRefused,
                    format!("{peer} refused"),
                ))
            }
        }
    }
}

/// A resolver with one fixed answer (or error), for any host.
struct FakeResolver(Result<Vec<SocketAddr>, io::ErrorKind>);

impl Resolver for FakeResolver {
    async fn resolve(&self, _: &str, _: u16) -> io::Result<Vec<SocketAddr>> {
        self.0.clone().map_err(io::Error::from)
    }
}

/// Connects to "example.test" through `net` with the addresses of `answer` and `delay`.
async fn connect(
    net: &FakeNet,
    answer: &[&str],
    delay: Duration,
) -> Result<FakeStream, ConnectError> {
    OpenTcpStream::new("example.test", 80)
        .delay(delay)
        .resolver(FakeNet::answer(answer))
        .connector(net.clone())
        .connect()
        .await
}

const D: Duration = creche::net::DEFAULT_ATTEMPT_DELAY;

/// Attempts start at 0, .25 and .5 while the earlier ones hang; the third (fastest) wins at .7;
/// the two others are closed by then.
#[creche::test(autojump)]
async fn fall_through() {
    let _w = watchdog("fall_through");
    let net = FakeNet::new(&[
        ("1.1.1.1:80", Connect(secs(1))),
        ("1.1.1.2:80", Connect(secs(1))),
        ("1.1.1.3:80", Connect(ms(200))),
    ]);
    let t0 = current_time();
    let won = connect(&net, &["1.1.1.1:80", "1.1.1.2:80", "1.1.1.3:80"], D)
        .await
        .unwrap();
    assert_eq!(won.peer, addr("1.1.1.3:80"));
    assert_eq!(won.connected_at - t0, ms(700));
    assert_eq!(current_time() - t0, ms(700), "returns as soon as one wins");
    assert_eq!(
        net.starts(t0),
        vec![
            (addr("1.1.1.1:80"), ms(0)),
            (addr("1.1.1.2:80"), ms(250)),
            (addr("1.1.1.3:80"), ms(500)),
        ]
    );
    assert_eq!((net.opened.get(), net.closed.get()), (3, 2));
    drop(won);
    assert_eq!(net.closed.get(), 3);
}

/// The second attempt connects at .35, before the third would start at .5: it never starts.
#[creche::test(autojump)]
async fn early_success() {
    let _w = watchdog("early_success");
    let net = FakeNet::new(&[
        ("1.1.1.1:80", Connect(secs(1))),
        ("1.1.1.2:80", Connect(ms(100))),
        ("1.1.1.3:80", Connect(ms(10))),
    ]);
    let t0 = current_time();
    let won = connect(&net, &["1.1.1.1:80", "1.1.1.2:80", "1.1.1.3:80"], D)
        .await
        .unwrap();
    assert_eq!(won.peer, addr("1.1.1.2:80"));
    assert_eq!(current_time() - t0, ms(350));
    let started: Vec<_> = net.starts(t0).into_iter().map(|(a, _)| a).collect();
    assert_eq!(started, vec![addr("1.1.1.1:80"), addr("1.1.1.2:80")]);
    assert_eq!((net.opened.get(), net.closed.get()), (2, 1));
}

/// With a 450 ms delay the second attempt starts at .45 and wins at .55.
#[creche::test(autojump)]
async fn custom_delay() {
    let _w = watchdog("custom_delay");
    let net = FakeNet::new(&[
        ("1.1.1.1:80", Connect(secs(1))),
        ("1.1.1.2:80", Connect(ms(100))),
        ("1.1.1.3:80", Connect(ms(10))),
    ]);
    let t0 = current_time();
    let won = connect(&net, &["1.1.1.1:80", "1.1.1.2:80", "1.1.1.3:80"], ms(450))
        .await
        .unwrap();
    assert_eq!(won.peer, addr("1.1.1.2:80"));
    assert_eq!(current_time() - t0, ms(550));
    assert_eq!(
        net.starts(t0),
        vec![(addr("1.1.1.1:80"), ms(0)), (addr("1.1.1.2:80"), ms(450))]
    );
}

/// A failure starts the next attempt at once: the first fails at .1 (the second starts then),
/// the second at .3 (the third starts), the third hangs, so the fourth starts after the delay
/// at .55 and wins at .85.
#[creche::test(autojump)]
async fn errors_expedite_the_next_attempt() {
    let _w = watchdog("errors_expedite_the_next_attempt");
    let net = FakeNet::new(&[
        ("1.1.1.1:80", Fail(ms(100))),
        ("1.1.1.2:80", Fail(ms(200))),
        ("1.1.1.3:80", Connect(secs(10))),
        ("1.1.1.4:80", Connect(ms(300))),
    ]);
    let t0 = current_time();
    let list = ["1.1.1.1:80", "1.1.1.2:80", "1.1.1.3:80", "1.1.1.4:80"];
    let won = connect(&net, &list, D).await.unwrap();
    assert_eq!(won.peer, addr("1.1.1.4:80"));
    assert_eq!(current_time() - t0, ms(850));
    assert_eq!(
        net.starts(t0),
        vec![
            (addr("1.1.1.1:80"), ms(0)),
            (addr("1.1.1.2:80"), ms(100)),
            (addr("1.1.1.3:80"), ms(300)),
            (addr("1.1.1.4:80"), ms(550)),
        ]
    );
    assert_eq!((net.opened.get(), net.closed.get()), (4, 3));
}

/// Every attempt fails: one `AllFailed` error, returned when the last one fails (10.3 s),
/// listing every address with its own error in attempt order; its Display names each address;
/// every socket is closed.
#[creche::test(autojump)]
async fn all_fail() {
    let _w = watchdog("all_fail");
    let net = FakeNet::new(&[
        ("1.1.1.1:80", Fail(ms(100))),
        ("[::1]:80", Fail(ms(200))),
        ("1.1.1.3:80", Fail(secs(10))),
        ("[::3]:80", Fail(ms(200))),
    ]);
    let t0 = current_time();
    let list = ["1.1.1.1:80", "[::1]:80", "1.1.1.3:80", "[::3]:80"];
    let err = match connect(&net, &list, D).await {
        Err(e) => e,
        Ok(s) => panic!("connected to {}", s.peer),
    };
    assert_eq!(current_time() - t0, ms(10_300));
    let text = err.to_string();
    match &err {
        ConnectError::AllFailed {
            host,
            port,
            attempts,
        } => {
            assert_eq!((host.as_str(), *port), ("example.test", 80));
            let peers: Vec<_> = attempts.iter().map(|(a, _)| *a).collect();
            assert_eq!(peers, list.map(addr));
            for (peer, error) in attempts {
                assert_eq!(error.kind(), io::ErrorKind::ConnectionRefused);
                assert_eq!(error.to_string(), format!("{peer} refused"));
                assert!(text.contains(&format!("{peer}: {peer} refused")), "{text}");
            }
        }
        other => panic!("expected AllFailed, got {other:?}"),
    }
    assert!(text.starts_with("could not connect to example.test:80: every address failed: "));
    assert!(std::error::Error::source(&err).is_none());
    let as_io = io::Error::from(err);
    assert_eq!(
        as_io.kind(),
        io::ErrorKind::ConnectionRefused,
        "the shared kind"
    );
    assert_eq!(as_io.to_string(), text);
    assert_eq!((net.opened.get(), net.closed.get()), (4, 4));
}

/// Several attempts connect at the very same virtual instant (delay zero: all start at once,
/// each on whichever worker runs it): exactly one wins and every other socket is closed.
#[creche::test(autojump)]
async fn several_succeed_one_winner() {
    let _w = watchdog("several_succeed_one_winner");
    for round in 0..20 {
        let names: Vec<String> = (1..=8).map(|i| format!("10.0.0.{i}:80")).collect();
        let plan: Vec<(&str, Outcome)> = names.iter().map(|n| (&**n, Connect(secs(1)))).collect();
        let net = FakeNet::new(&plan);
        let list: Vec<&str> = names.iter().map(|n| &**n).collect();
        let t0 = current_time();
        let won = connect(&net, &list, Duration::ZERO).await.unwrap();
        assert_eq!(current_time() - t0, secs(1), "round {round}");
        assert_eq!(net.opened.get(), 8);
        assert_eq!(
            net.closed.get(),
            7,
            "round {round}: all but the winner closed"
        );
        drop(won);
        assert_eq!(net.closed.get(), 8);
    }
    // And staggered: with a 1 s delay, attempts that would connect at 10, 10, 9, 8 and 6.5 s
    // (starting at 0..4 s): the fifth wins at 6.5 s, the others are closed.
    let net = FakeNet::new(&[
        ("1.1.1.1:80", Connect(secs(10))),
        ("1.1.1.2:80", Connect(secs(9))),
        ("1.1.1.3:80", Connect(secs(7))),
        ("1.1.1.4:80", Connect(secs(5))),
        ("1.1.1.5:80", Connect(ms(2500))),
    ]);
    let t0 = current_time();
    let list = [
        "1.1.1.1:80",
        "1.1.1.2:80",
        "1.1.1.3:80",
        "1.1.1.4:80",
        "1.1.1.5:80",
    ];
    let won = connect(&net, &list, secs(1)).await.unwrap();
    assert_eq!(won.peer, addr("1.1.1.5:80"));
    assert_eq!(current_time() - t0, ms(6500));
    assert_eq!((net.opened.get(), net.closed.get()), (5, 4));
}

/// IPv4-only and IPv6-only answers are tried in the resolver's order.
#[creche::test(autojump)]
async fn one_family_answers() {
    let _w = watchdog("one_family_answers");
    for list in [
        ["10.0.0.3:80", "10.0.0.1:80", "10.0.0.2:80"],
        ["[2001:db8::3]:80", "[2001:db8::1]:80", "[2001:db8::2]:80"],
    ] {
        let plan: Vec<_> = list.iter().map(|&a| (a, Fail(secs(1)))).collect();
        let net = FakeNet::new(&plan);
        let t0 = current_time();
        let err = connect(&net, &list, D).await.err().unwrap();
        assert!(matches!(err, ConnectError::AllFailed { .. }));
        assert_eq!(
            net.starts(t0),
            vec![
                (addr(list[0]), ms(0)),
                (addr(list[1]), ms(250)),
                (addr(list[2]), ms(500)),
            ]
        );
        assert_eq!(current_time() - t0, ms(1500));
    }
}

/// The families alternate fully, starting with the family of the first answer, each family in
/// the resolver's order (Trio would try v6a, v4a, v6b, v6c, v4b).
#[creche::test(autojump)]
async fn interleaving_order() {
    let _w = watchdog("interleaving_order");
    let cases: [(&[&str], &[&str]); 2] = [
        (
            &[
                "[::a]:80",
                "[::b]:80",
                "[::c]:80",
                "1.0.0.1:80",
                "1.0.0.2:80",
            ],
            &[
                "[::a]:80",
                "1.0.0.1:80",
                "[::b]:80",
                "1.0.0.2:80",
                "[::c]:80",
            ],
        ),
        (
            &[
                "1.0.0.1:80",
                "[::a]:80",
                "[::b]:80",
                "[::c]:80",
                "1.0.0.2:80",
            ],
            &[
                "1.0.0.1:80",
                "[::a]:80",
                "1.0.0.2:80",
                "[::b]:80",
                "[::c]:80",
            ],
        ),
    ];
    for (answer, expected) in cases {
        let plan: Vec<_> = answer.iter().map(|&a| (a, Fail(secs(10)))).collect();
        let net = FakeNet::new(&plan);
        let t0 = current_time();
        let err = connect(&net, answer, D).await.err().unwrap();
        let want: Vec<_> = expected
            .iter()
            .zip(0..)
            .map(|(a, i)| (addr(a), ms(250 * i)))
            .collect();
        assert_eq!(net.starts(t0), want);
        let ConnectError::AllFailed { attempts, .. } = err else {
            panic!("expected AllFailed")
        };
        let listed: Vec<_> = attempts.iter().map(|(a, _)| *a).collect();
        let expected: Vec<_> = expected.iter().map(|a| addr(a)).collect();
        assert_eq!(listed, expected, "errors in attempt order");
    }
}

/// Cancelled from outside at t=1 (attempts at 0, .25, .5, .75 all hanging): `connect` is
/// dropped at exactly t=1, no attempt starts after, every socket is closed; the same when the
/// scope is cancelled by hand while the attempts run.
#[creche::test(autojump)]
async fn cancellation_from_outside_closes_every_socket() {
    let _w = watchdog("cancellation_from_outside_closes_every_socket");
    let list = [
        "1.1.1.1:80",
        "[::1]:80",
        "1.1.1.2:80",
        "[::2]:80",
        "1.1.1.3:80",
    ];
    let plan: Vec<_> = list.iter().map(|&a| (a, Connect(secs(10)))).collect();
    let net = FakeNet::new(&plan);
    let t0 = current_time();
    let out = move_on_after(ms(900), connect(&net, &list, D)).await;
    assert!(out.is_none());
    assert_eq!(current_time() - t0, ms(900));
    assert_eq!((net.opened.get(), net.closed.get()), (4, 4));
    sleep(secs(20)).await;
    assert_eq!(net.opened.get(), 4, "nothing starts after the cancellation");

    let net = FakeNet::new(&plan);
    let scope = CancelScope::new();
    let result = open_nursery(|n| {
        let (net, scope) = (net.clone(), scope.clone());
        async move {
            let canceller = scope.clone();
            n.spawn(async move {
                sleep(ms(300)).await;
                canceller.cancel();
                Ok(())
            });
            let out = scope.run(connect(&net, &list, D)).await;
            Ok::<_, ()>(out.is_none())
        }
    })
    .await;
    assert_eq!(result, Ok(Some(true)));
    assert_eq!((net.opened.get(), net.closed.get()), (2, 2));
}

/// Cancelled from outside after the last attempt has started (the first failed at once, so
/// the nursery's body has finished): the pending attempt is cancelled, not failed, so
/// `connect` must not come back with an `AllFailed` listing only the first address.
#[creche::test(autojump)]
async fn cancellation_after_the_last_attempt_started_reports_nothing() {
    let _w = watchdog("cancellation_after_the_last_attempt_started_reports_nothing");
    let net = FakeNet::new(&[
        ("1.1.1.1:80", Fail(Duration::ZERO)),
        ("1.1.1.2:80", Connect(secs(10))),
    ]);
    let t0 = current_time();
    let out = move_on_after(secs(1), connect(&net, &["1.1.1.1:80", "1.1.1.2:80"], D)).await;
    if let Some(result) = &out {
        panic!("connect returned {:?}", result.as_ref().map(|s| s.peer));
    }
    assert_eq!(current_time() - t0, secs(1));
    assert_eq!((net.opened.get(), net.closed.get()), (2, 2));
}

/// The resolver's error is `Resolve`, with the error as its source; nothing is attempted.
#[creche::test(autojump)]
async fn resolver_failure() {
    let _w = watchdog("resolver_failure");
    let net = FakeNet::new(&[]);
    let err = OpenTcpStream::new("nowhere.test", 443)
        .resolver(FakeResolver(Err(io::ErrorKind::NotFound)))
        .connector(net.clone())
        .connect()
        .await
        .err()
        .unwrap();
    let ConnectError::Resolve { host, port, error } = &err else {
        panic!("expected Resolve, got {err:?}")
    };
    assert_eq!((host.as_str(), *port), ("nowhere.test", 443));
    assert_eq!(error.kind(), io::ErrorKind::NotFound);
    assert!(
        err.to_string()
            .starts_with("could not resolve nowhere.test (port 443): ")
    );
    let source = std::error::Error::source(&err).unwrap();
    assert_eq!(source.to_string(), error.to_string());
    assert_eq!(io::Error::from(err).kind(), io::ErrorKind::NotFound);
    assert_eq!(net.opened.get(), 0);
}

/// An empty answer is `NoAddresses`.
#[creche::test(autojump)]
async fn empty_answer() {
    let _w = watchdog("empty_answer");
    let net = FakeNet::new(&[]);
    let err = connect(&net, &[], D).await.err().unwrap();
    assert!(matches!(err, ConnectError::NoAddresses { port: 80, .. }));
    assert_eq!(
        err.to_string(),
        "could not connect to example.test:80: no address found"
    );
    assert_eq!(io::Error::from(err).kind(), io::ErrorKind::NotFound);
    assert_eq!(net.opened.get(), 0);
}

/// The local address reaches every attempt; `Duration::MAX` tries one address at a time.
#[creche::test(autojump)]
async fn local_address_and_one_at_a_time() {
    let _w = watchdog("local_address_and_one_at_a_time");
    let net = FakeNet::new(&[
        ("1.1.1.1:80", Fail(secs(3))),
        ("1.1.1.2:80", Connect(secs(2))),
    ]);
    let local = addr("192.0.2.9:0");
    let t0 = current_time();
    let won = OpenTcpStream::new("example.test", 80)
        .delay(Duration::MAX)
        .local_address(local)
        .resolver(FakeNet::answer(&["1.1.1.1:80", "1.1.1.2:80"]))
        .connector(net.clone())
        .connect()
        .await
        .unwrap();
    assert_eq!(won.peer, addr("1.1.1.2:80"));
    assert_eq!(current_time() - t0, secs(5));
    let started = net.started.lock().unwrap().clone();
    let locals: Vec<_> = started.iter().map(|&(_, l, _)| l).collect();
    assert_eq!(locals, vec![Some(local), Some(local)]);
    assert_eq!(net.starts(t0)[1].1, secs(3));
}

/// `connect` is `Send`: it runs in a nursery child.
#[creche::test(autojump)]
async fn connect_runs_in_a_child() {
    let _w = watchdog("connect_runs_in_a_child");
    let net = FakeNet::new(&[("[::1]:80", Connect(ms(5)))]);
    let peer = open_nursery(|n| {
        let net = net.clone();
        async move {
            let h = n.spawn(async move {
                let s = connect(&net, &["[::1]:80"], D)
                    .await
                    .map_err(io::Error::from)?;
                Ok::<_, io::Error>(s.peer)
            });
            Ok(h.join().await.unwrap())
        }
    })
    .await
    .unwrap();
    assert_eq!(peer, Some(addr("[::1]:80")));
}

/// `lookup_host`: an IP literal (bracketed or not) resolves to itself; `localhost` resolves on
/// the blocking pool to loopback addresses; in a cancelled scope neither completes.
#[creche::test]
async fn lookup_host_literals_names_and_cancellation() {
    let _w = watchdog("lookup_host_literals_names_and_cancellation");
    assert_eq!(
        lookup_host("192.0.2.1", 7).await.unwrap(),
        vec![addr("192.0.2.1:7")]
    );
    assert_eq!(
        lookup_host("[2001:db8::1]", 7).await.unwrap(),
        vec![addr("[2001:db8::1]:7")]
    );
    let local = lookup_host("localhost", 9).await.unwrap();
    assert!(!local.is_empty());
    assert!(local.iter().all(|a| a.ip().is_loopback() && a.port() == 9));

    let scope = CancelScope::new();
    scope.cancel();
    assert!(scope.run(lookup_host("127.0.0.1", 1)).await.is_none());
    let scope = CancelScope::new();
    scope.cancel();
    assert!(scope.run(lookup_host("localhost", 1)).await.is_none());
}

// ---- real sockets on loopback -----------------------------------------------------------

/// A resolver that answers with fixed addresses (real connector, chosen answers).
struct Fixed(Vec<SocketAddr>);

impl Resolver for Fixed {
    async fn resolve(&self, _: &str, _: u16) -> io::Result<Vec<SocketAddr>> {
        Ok(self.0.clone())
    }
}

/// A loopback port where nothing listens (bound, then closed).
fn dead_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// `open_tcp_stream` on real sockets: by IP literal and by name to listeners from
/// `open_tcp_listeners`; a refused first address gives way to the next at once; a local address
/// is bound (an attempt of the other family fails); a port where nothing listens gives
/// `AllFailed` with `ConnectionRefused`.
#[creche::test]
async fn real_sockets_on_loopback() {
    let _w = watchdog("real_sockets_on_loopback");
    let listeners = open_tcp_listeners(0).unwrap();
    let port = listeners[0].local_addr().unwrap().port();
    let v6 = listeners.iter().any(|l| l.local_addr().unwrap().is_ipv6());

    let s = open_tcp_stream("127.0.0.1", port).await.unwrap();
    assert_eq!(s.peer_addr().unwrap(), addr(&format!("127.0.0.1:{port}")));
    if v6 {
        let s = open_tcp_stream("::1", port).await.unwrap();
        assert_eq!(s.peer_addr().unwrap(), addr(&format!("[::1]:{port}")));
    }
    let s = open_tcp_stream("localhost", port).await.unwrap();
    assert!(s.peer_addr().unwrap().ip().is_loopback());

    let dead = dead_port();
    let s = OpenTcpStream::new("two.test", port)
        .resolver(Fixed(vec![
            addr(&format!("127.0.0.1:{dead}")),
            addr(&format!("127.0.0.1:{port}")),
        ]))
        .connect()
        .await
        .unwrap();
    assert_eq!(s.peer_addr().unwrap().port(), port);

    if v6 {
        // Bound to an IPv4 local address, the IPv6 attempt fails at once and the IPv4 one wins.
        let local = addr("127.0.0.1:0");
        let s = OpenTcpStream::new("both.test", port)
            .resolver(Fixed(vec![
                addr(&format!("[::1]:{port}")),
                addr(&format!("127.0.0.1:{port}")),
            ]))
            .local_address(local)
            .connect()
            .await
            .unwrap();
        assert_eq!(s.peer_addr().unwrap(), addr(&format!("127.0.0.1:{port}")));
        assert_eq!(s.local_addr().unwrap().ip(), local.ip());
    }

    let err = open_tcp_stream("127.0.0.1", dead).await.err().unwrap();
    let ConnectError::AllFailed { attempts, .. } = &err else {
        panic!("expected AllFailed, got {err:?}")
    };
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].1.kind(), io::ErrorKind::ConnectionRefused);
    assert_eq!(
        io::Error::from(err).kind(),
        io::ErrorKind::ConnectionRefused
    );
    drop(listeners);
}

/// Outside a runtime, an IP literal still resolves; a name panics, saying why.
#[test]
fn lookup_host_outside_a_runtime() {
    let literal = futures_lite::future::block_on(lookup_host("::1", 5)).unwrap();
    assert_eq!(literal, vec![addr("[::1]:5")]);
    let panic = std::panic::catch_unwind(|| lookup_host("localhost", 5))
        .err()
        .unwrap();
    let message = common::panic_message(&*panic);
    assert!(
        message.starts_with("creche::net::lookup_host(\"localhost\") needs the blocking pool: "),
        "{message}"
    );
}
