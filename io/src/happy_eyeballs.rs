//! [`OpenTcpStream`]: connecting to a host name with happy eyeballs (RFC 8305), built from
//! creche's own nursery, cancel scopes and [`Event`]; the [`Resolver`] and [`Connector`] traits
//! that make it testable on a fake network; [`ConnectError`].
//!
//! # The algorithm
//!
//! 1. Resolve the host (the [`Resolver`]; [`SystemResolver`] by default). No answer is an
//!    error ([`ConnectError::NoAddresses`]).
//! 2. Order the answers: the families alternate fully (`v6, v4, v6, v4, ...`, starting with the
//!    family of the first answer, each family keeping the resolver's order; when one family
//!    runs out the rest of the other follows). Trio only moves one address of the other family
//!    forward; RFC 8305 §4 recommends full interleaving.
//! 3. In one nursery, start one attempt per address (the [`Connector`]'s `connect`, each in its
//!    own child). After starting an attempt, wait until it fails or the attempt delay passes
//!    (`move_on_after(delay, failed.wait())`), whichever comes first, then start the next.
//! 4. The first attempt that connects puts its stream into the winner's slot and cancels the
//!    nursery: the attempts still connecting are dropped (which closes their sockets) and no
//!    further attempt starts. An attempt that connects after the slot is taken drops its stream
//!    (closes it) at once. The slot is a mutex, so exactly one stream wins.
//! 5. When the nursery is done: the winner, or, if every attempt failed, one
//!    [`ConnectError::AllFailed`] listing every address with its error, in attempt order.
//!
//! # Cancellation
//!
//! `connect` is a cancellation point. Cancelled from outside (a scope around it), it is dropped
//! like any body: the nursery drops every attempt (closing every socket), and a winner already
//! in the slot is dropped with the slot. Nothing survives the cancellation. (A nursery with
//! live children holds off the cancellation of the scopes around it until they are gone, so
//! the code after `open_nursery` still runs, in the cancelled context: when some address has
//! neither won nor failed, `race` waits at a cancellation point, which never completes there,
//! instead of reporting a partial failure list.)

use crate::lookup::lookup_host;
use crate::tcp_glue::TcpConnector;
use creche_nursery::{Event, Nursery, move_on_after, open_nursery};
use parking_lot::Mutex;
use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// The attempt delay of RFC 8305 (its recommended default, also Trio's): how long an attempt
/// runs alone before the next one starts.
pub const DEFAULT_ATTEMPT_DELAY: Duration = Duration::from_millis(250);

/// Turns a host name and port into candidate addresses; [`OpenTcpStream`] asks it once.
/// Implement it to plug in another resolver or, in tests, a fake network.
///
/// # Examples
///
/// A resolver that knows one name:
///
/// ```
/// use creche_io::Resolver;
/// use std::{io, net::SocketAddr};
///
/// struct Hosts;
/// impl Resolver for Hosts {
///     async fn resolve(&self, host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
///         match host {
///             "db" => Ok(vec![SocketAddr::from(([10, 0, 0, 7], port))]),
///             _ => Err(io::Error::new(io::ErrorKind::NotFound, "unknown host")),
///         }
///     }
/// }
/// # let rt = creche_timer::__doc_runtime();
/// # rt.block_on(async {
/// assert_eq!(Hosts.resolve("db", 5432).await.unwrap()[0].to_string(), "10.0.0.7:5432");
/// # });
/// ```
pub trait Resolver: Send + Sync + 'static {
    /// The addresses of `host` for `port`, best first.
    ///
    /// # Errors
    ///
    /// Whatever made the lookup fail.
    fn resolve(
        &self,
        host: &str,
        port: u16,
    ) -> impl Future<Output = io::Result<Vec<SocketAddr>>> + Send;
}

/// The system resolver: [`lookup_host`] (`getaddrinfo` on the blocking pool; an IP literal
/// resolves to itself).
///
/// # Examples
///
/// ```
/// use creche_io::{Resolver, SystemResolver};
/// # let rt = creche_timer::__doc_runtime();
/// # rt.block_on(async {
/// let addrs = SystemResolver.resolve("127.0.0.1", 80).await.unwrap();
/// assert_eq!(addrs, vec!["127.0.0.1:80".parse().unwrap()]);
/// # });
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemResolver;

impl Resolver for SystemResolver {
    fn resolve(
        &self,
        host: &str,
        port: u16,
    ) -> impl Future<Output = io::Result<Vec<SocketAddr>>> + Send {
        lookup_host(host, port)
    }
}

/// Opens one connection to one address: the socket factory of [`OpenTcpStream`]. Each
/// attempt calls `connect` in its own task and drops the future if the attempt loses; dropping
/// it must close whatever socket it opened (so must dropping a `Stream`).
///
/// # Examples
///
/// A connector that refuses everything:
///
/// ```
/// use creche_io::{Connector, OpenTcpStream};
/// use std::{io, net::SocketAddr};
///
/// struct Refuse;
/// impl Connector for Refuse {
///     type Stream = ();
///     async fn connect(&self, _: SocketAddr, _: Option<SocketAddr>) -> io::Result<()> {
///         Err(io::ErrorKind::ConnectionRefused.into())
///     }
/// }
/// # let rt = creche_timer::__doc_runtime();
/// # rt.block_on(async {
/// let e = OpenTcpStream::new("127.0.0.1", 1).connector(Refuse).connect().await.unwrap_err();
/// assert!(e.to_string().contains("127.0.0.1:1"));
/// # });
/// ```
pub trait Connector: Send + Sync + 'static {
    /// The connection.
    type Stream: Send + 'static;

    /// Connects to `addr`, first binding to `local` if given.
    ///
    /// # Errors
    ///
    /// Whatever made this attempt fail; the others go on.
    fn connect(
        &self,
        addr: SocketAddr,
        local: Option<SocketAddr>,
    ) -> impl Future<Output = io::Result<Self::Stream>> + Send;
}

/// Why [`OpenTcpStream::connect`] found no connection.
///
/// # Examples
///
/// ```
/// use creche_io::ConnectError;
/// use std::io;
/// let e = ConnectError::AllFailed {
///     host: "example.com".into(),
///     port: 80,
///     attempts: vec![
///         ("[2001:db8::1]:80".parse().unwrap(), io::ErrorKind::ConnectionRefused.into()),
///         ("192.0.2.1:80".parse().unwrap(), io::ErrorKind::TimedOut.into()),
///     ],
/// };
/// assert_eq!(
///     e.to_string(),
///     "could not connect to example.com:80: every address failed: \
///      [2001:db8::1]:80: connection refused; 192.0.2.1:80: timed out"
/// );
/// assert_eq!(io::Error::from(e).kind(), io::ErrorKind::Other);
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum ConnectError {
    /// The resolver failed.
    Resolve {
        /// The host that was looked up.
        host: String,
        /// The port asked for.
        port: u16,
        /// The resolver's error.
        error: io::Error,
    },
    /// The resolver answered with no address.
    NoAddresses {
        /// The host that was looked up.
        host: String,
        /// The port asked for.
        port: u16,
    },
    /// Every address was tried and every attempt failed.
    AllFailed {
        /// The host that was looked up.
        host: String,
        /// The port asked for.
        port: u16,
        /// Each address with its attempt's error, in the order the attempts started.
        attempts: Vec<(SocketAddr, io::Error)>,
    },
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectError::Resolve { host, port, error } => {
                write!(f, "could not resolve {host} (port {port}): {error}")
            }
            ConnectError::NoAddresses { host, port } => {
                write!(f, "could not connect to {host}:{port}: no address found")
            }
            ConnectError::AllFailed {
                host,
                port,
                attempts,
            } => {
                write!(
                    f,
                    "could not connect to {host}:{port}: every address failed:"
                )?;
                for (i, (addr, error)) in attempts.iter().enumerate() {
                    let sep = if i == 0 { " " } else { "; " };
                    write!(f, "{sep}{addr}: {error}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for ConnectError {
    /// The resolver's error for [`ConnectError::Resolve`]; the other variants have no single
    /// cause (`AllFailed` lists its causes).
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConnectError::Resolve { error, .. } => Some(error),
            _ => None,
        }
    }
}

impl From<ConnectError> for io::Error {
    /// An `io::Error` carrying the `ConnectError`, so that `?` works in `io::Result` code. Its
    /// kind: the resolver error's kind; `NotFound` for no address; for all failed, the kind the
    /// attempts share, or `Other` if they differ.
    fn from(e: ConnectError) -> io::Error {
        let kind = match &e {
            ConnectError::Resolve { error, .. } => error.kind(),
            ConnectError::NoAddresses { .. } => io::ErrorKind::NotFound,
            ConnectError::AllFailed { attempts, .. } => {
                let first = attempts.first().map(|(_, e)| e.kind());
                match first {
                    Some(k) if attempts.iter().all(|(_, e)| e.kind() == k) => k,
                    _ => io::ErrorKind::Other,
                }
            }
        };
        io::Error::new(kind, e)
    }
}

/// Connecting to a host with happy eyeballs (RFC 8305), and its options: attempt delay, local address, resolver and connector.
///
/// By default: the system resolver and [`TcpConnector`] (a real non-blocking connect per
/// attempt); [`open_tcp_stream`](crate::open_tcp_stream) is `OpenTcpStream::new(host,
/// port).connect()`.
///
/// # Examples
///
/// ```
/// use creche_io::{Connector, OpenTcpStream};
/// use std::{io, net::SocketAddr, time::Duration};
///
/// struct Pretend;
/// impl Connector for Pretend {
///     type Stream = (SocketAddr, Option<SocketAddr>);
///     async fn connect(&self, addr: SocketAddr, local: Option<SocketAddr>)
///         -> io::Result<Self::Stream> { Ok((addr, local)) }
/// }
/// # let rt = creche_timer::__doc_runtime();
/// # rt.block_on(async {
/// let local: SocketAddr = "127.0.0.2:0".parse().unwrap();
/// let (peer, bound) = OpenTcpStream::new("127.0.0.1", 7)
///     .delay(Duration::from_millis(100))
///     .local_address(local)
///     .connector(Pretend)
///     .connect()
///     .await
///     .unwrap();
/// assert_eq!((peer.port(), bound), (7, Some(local)));
/// # });
/// ```
#[derive(Debug, Clone)]
#[must_use = "call connect() to connect"]
pub struct OpenTcpStream<R = SystemResolver, C = TcpConnector> {
    host: String,
    port: u16,
    delay: Duration,
    local: Option<SocketAddr>,
    resolver: R,
    connector: C,
}

impl OpenTcpStream {
    /// Options to connect to `host` (a name or an IP literal) on `port`: the default delay, no
    /// local address, the system resolver, and the real connector.
    ///
    /// # Examples
    ///
    /// See [`OpenTcpStream`].
    pub fn new(host: impl Into<String>, port: u16) -> OpenTcpStream {
        OpenTcpStream {
            host: host.into(),
            port,
            delay: DEFAULT_ATTEMPT_DELAY,
            local: None,
            resolver: SystemResolver,
            connector: TcpConnector,
        }
    }
}

impl<R, C> OpenTcpStream<R, C> {
    /// The attempt delay: how long an attempt runs alone before the next one starts (a failure
    /// starts the next one at once). `Duration::ZERO` starts them all together;
    /// `Duration::MAX` tries one address at a time.
    ///
    /// # Examples
    ///
    /// See [`OpenTcpStream`].
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Binds each attempt's socket to `local` before connecting (the connector does the
    /// binding). An attempt to an address of the other family then fails, and the next one
    /// starts at once.
    ///
    /// # Examples
    ///
    /// See [`OpenTcpStream`].
    pub fn local_address(mut self, local: SocketAddr) -> Self {
        self.local = Some(local);
        self
    }

    /// Uses `resolver` to find the host's addresses.
    ///
    /// # Examples
    ///
    /// See [`Resolver`].
    pub fn resolver<R2: Resolver>(self, resolver: R2) -> OpenTcpStream<R2, C> {
        OpenTcpStream {
            host: self.host,
            port: self.port,
            delay: self.delay,
            local: self.local,
            resolver,
            connector: self.connector,
        }
    }

    /// Uses `connector` to open each attempt's connection.
    ///
    /// # Examples
    ///
    /// See [`OpenTcpStream`].
    pub fn connector<C2: Connector>(self, connector: C2) -> OpenTcpStream<R, C2> {
        OpenTcpStream {
            host: self.host,
            port: self.port,
            delay: self.delay,
            local: self.local,
            resolver: self.resolver,
            connector,
        }
    }
}

impl<R: Resolver, C: Connector> OpenTcpStream<R, C> {
    /// Resolves the host and races connection attempts: the addresses are ordered with the two
    /// families alternating (starting with the family of the first answer); an attempt starts
    /// when the previous one fails or has run alone for the attempt delay; the first attempt
    /// that connects wins, and every other one is cancelled and its socket closed. A
    /// cancellation point: cancelled from outside, it closes every socket it opened.
    ///
    /// # Errors
    ///
    /// [`ConnectError`]: the resolver failed, found nothing, or every attempt failed (each
    /// address listed with its error).
    ///
    /// # Examples
    ///
    /// See [`OpenTcpStream`].
    pub async fn connect(self) -> Result<C::Stream, ConnectError> {
        let OpenTcpStream {
            host,
            port,
            delay,
            local,
            resolver,
            connector,
        } = self;
        let addrs = match resolver.resolve(&host, port).await {
            Ok(addrs) if addrs.is_empty() => return Err(ConnectError::NoAddresses { host, port }),
            Ok(addrs) => interleave(addrs),
            Err(error) => return Err(ConnectError::Resolve { host, port, error }),
        };
        race(Arc::new(connector), addrs, delay, local)
            .await
            .map_err(|attempts| ConnectError::AllFailed {
                host,
                port,
                attempts,
            })
    }
}

/// Orders `addrs` for the attempts: the two families alternate, starting with the family of the
/// first answer; each keeps its own order; the leftovers of the longer one come last.
fn interleave(addrs: Vec<SocketAddr>) -> Vec<SocketAddr> {
    let first_is_v6 = addrs.first().is_some_and(SocketAddr::is_ipv6);
    let (mut first, mut second): (Vec<_>, Vec<_>) =
        addrs.into_iter().partition(|a| a.is_ipv6() == first_is_v6);
    let mut out = Vec::with_capacity(first.len() + second.len());
    let (mut first, mut second) = (first.drain(..), second.drain(..));
    loop {
        match (first.next(), second.next()) {
            (None, None) => return out,
            (a, b) => out.extend(a.into_iter().chain(b)),
        }
    }
}

/// The race itself (steps 3 to 5 of the module docs): `Ok(winner)`, or every address with its
/// error in attempt order.
async fn race<C: Connector>(
    connector: Arc<C>,
    addrs: Vec<SocketAddr>,
    delay: Duration,
    local: Option<SocketAddr>,
) -> Result<C::Stream, Vec<(SocketAddr, io::Error)>> {
    let winner: Arc<Mutex<Option<C::Stream>>> = Arc::default();
    let failures: Arc<Mutex<Vec<(usize, SocketAddr, io::Error)>>> = Arc::default();
    let (slot, errors, count) = (winner.clone(), failures.clone(), addrs.len());
    let done = open_nursery(move |attempts: Nursery<Infallible>| async move {
        for (i, &addr) in addrs.iter().enumerate() {
            let failed = Arc::new(Event::new());
            let (connector, slot, errors) = (connector.clone(), slot.clone(), errors.clone());
            let (on_failure, everyone) = (failed.clone(), attempts.cancel_scope());
            attempts.spawn(async move {
                match connector.connect(addr, local).await {
                    Ok(stream) => {
                        let mut slot = slot.lock();
                        if slot.is_none() {
                            *slot = Some(stream);
                            everyone.cancel(); // the other attempts close, no new one starts
                        } // else: `stream` lost the race and is dropped (closed) here
                    }
                    Err(error) => {
                        errors.lock().push((i, addr, error));
                        on_failure.set(); // the next attempt starts now
                    }
                }
                Ok(())
            });
            if i + 1 < addrs.len() {
                move_on_after(delay, failed.wait()).await;
            }
        }
        Ok(())
    })
    .await;
    let Ok(_) = done; // the attempts never fail: their errors go to `failures`
    if let Some(stream) = winner.lock().take() {
        return Ok(stream);
    }
    let mut failures = std::mem::take(&mut *failures.lock());
    if failures.len() < count {
        // Some address neither won nor failed: the caller's context was cancelled (only a
        // winner cancels the nursery). Stay at a cancellation point, which never completes
        // there, rather than report a partial list of failures.
        creche_timer::sleep_forever().await;
    }
    failures.sort_by_key(|&(i, ..)| i);
    Err(failures.into_iter().map(|(_, a, e)| (a, e)).collect())
}

#[cfg(test)]
mod tests {
    use super::interleave;
    use std::net::SocketAddr;

    fn addrs(list: &[&str]) -> Vec<SocketAddr> {
        list.iter().map(|a| a.parse().unwrap()).collect()
    }

    #[test]
    fn interleave_alternates_from_the_first_family() {
        let v6_first = addrs(&["[::1]:1", "[::2]:1", "[::3]:1", "1.0.0.1:1", "1.0.0.2:1"]);
        assert_eq!(
            interleave(v6_first),
            addrs(&["[::1]:1", "1.0.0.1:1", "[::2]:1", "1.0.0.2:1", "[::3]:1"])
        );
        let v4_first = addrs(&["1.0.0.1:1", "[::1]:1", "1.0.0.2:1", "1.0.0.3:1", "[::2]:1"]);
        assert_eq!(
            interleave(v4_first),
            addrs(&["1.0.0.1:1", "[::1]:1", "1.0.0.2:1", "[::2]:1", "1.0.0.3:1"])
        );
        let one_family = addrs(&["1.0.0.3:1", "1.0.0.1:1", "1.0.0.2:1"]);
        assert_eq!(interleave(one_family.clone()), one_family);
        assert_eq!(interleave(Vec::new()), Vec::new());
    }
}
