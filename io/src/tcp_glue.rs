//! Happy eyeballs and `serve_tcp` on creche's own sockets: [`TcpConnector`] (the real
//! connector: a non-blocking connect per attempt), [`open_tcp_stream`], the [`Listener`] impl of
//! [`TcpListener`], and [`open_tcp_listeners`].

use crate::happy_eyeballs::{ConnectError, Connector, OpenTcpStream};
use crate::serve::Listener;
use crate::tcp::{ListenOptions, TcpListener, TcpStream};
use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

/// The listen backlog of [`open_tcp_listeners`]: the largest the kernel may grant (Linux caps
/// it further at `net.core.somaxconn`, 4096 by default).
pub const LISTEN_BACKLOG: u32 = 65535;

/// The real connector of happy eyeballs: each attempt is a non-blocking
/// [`TcpStream::connect_with`] (a new socket, bound to the local address if one is given);
/// dropping a losing attempt closes its socket.
///
/// # Examples
///
/// ```
/// use creche_io::{Connector, TcpConnector, TcpListener};
/// # let rt = creche_io::__doc_runtime();
/// # rt.block_on(async {
/// let listener = TcpListener::bind("127.0.0.1:0")?;
/// let stream = TcpConnector.connect(listener.local_addr()?, None).await?;
/// assert_eq!(stream.peer_addr()?, listener.local_addr()?);
/// # std::io::Result::Ok(()) }).unwrap();
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct TcpConnector;

impl Connector for TcpConnector {
    type Stream = TcpStream;

    fn connect(
        &self,
        addr: SocketAddr,
        local: Option<SocketAddr>,
    ) -> impl Future<Output = io::Result<TcpStream>> + Send {
        TcpStream::connect_with(addr, local)
    }
}

/// Connects to `host` (a name or an IP literal) on `port` with happy eyeballs (RFC 8305): the
/// system resolver, attempts alternating between IPv6 and IPv4, the next one starting when the
/// previous one fails or after 250 ms, the first to connect winning and every other closed. For
/// the options (delay, local address, another resolver or connector) use [`OpenTcpStream`].
///
/// # Errors
///
/// [`ConnectError`]: the name did not resolve, resolved to nothing, or every attempt failed
/// (each address listed with its error). `?` turns it into an `io::Error`.
///
/// # Examples
///
/// ```
/// use creche_io::{TcpListener, open_tcp_stream};
/// # let rt = creche_io::__doc_runtime();
/// # rt.block_on(async {
/// let listener = TcpListener::bind("127.0.0.1:0")?;
/// let port = listener.local_addr()?.port();
/// let stream = open_tcp_stream("127.0.0.1", port).await?;
/// assert_eq!(stream.peer_addr()?.port(), port);
/// # std::io::Result::Ok(()) }).unwrap();
/// ```
pub async fn open_tcp_stream(host: &str, port: u16) -> Result<TcpStream, ConnectError> {
    OpenTcpStream::new(host, port).connect().await
}

impl Listener for TcpListener {
    type Stream = TcpStream;

    async fn accept(&self) -> io::Result<TcpStream> {
        TcpListener::accept(self).await.map(|(stream, _)| stream)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        TcpListener::local_addr(self)
    }
}

/// Listeners on `port` for every address family the host has: `0.0.0.0` and `::` (the IPv6
/// one with `IPV6_V6ONLY`, so the two do not collide), each with `SO_REUSEADDR` and a backlog
/// of [`LISTEN_BACKLOG`] (capped by the kernel). A family the host lacks is skipped. With port
/// 0 the system picks a port for the first listener and the others get the same one (if it is
/// taken in the other family, the whole set is picked again, a few times).
///
/// # Errors
///
/// The system's error (port in use, permission denied...), or the last family's error if no
/// family works; an error outside a runtime (the sockets register with its reactor).
///
/// # Examples
///
/// ```
/// # let rt = creche_io::__doc_runtime();
/// # rt.block_on(async {
/// let listeners = creche_io::open_tcp_listeners(0)?;
/// let port = listeners[0].local_addr()?.port();
/// assert!(listeners.iter().all(|l| l.local_addr().unwrap().port() == port));
/// # std::io::Result::Ok(()) }).unwrap();
/// ```
pub fn open_tcp_listeners(port: u16) -> io::Result<Vec<TcpListener>> {
    const TRIES_FOR_A_SHARED_PORT: usize = 8;
    let mut tries = 0;
    loop {
        match bind_every_family(port) {
            Err(e) if port == 0 && e.kind() == io::ErrorKind::AddrInUse => {
                tries += 1;
                if tries == TRIES_FOR_A_SHARED_PORT {
                    return Err(e);
                }
            }
            other => return other,
        }
    }
}

/// One attempt of [`open_tcp_listeners`].
fn bind_every_family(port: u16) -> io::Result<Vec<TcpListener>> {
    let options = ListenOptions::new()
        .reuse_address(true)
        .only_v6(true)
        .backlog(LISTEN_BACKLOG);
    let wildcards = [
        SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)),
        SocketAddr::from((Ipv6Addr::UNSPECIFIED, port)),
    ];
    let (mut listeners, mut port, mut last_error) = (Vec::new(), port, None);
    for mut addr in wildcards {
        addr.set_port(port);
        match TcpListener::bind_with(addr, &options) {
            Ok(listener) => {
                port = listener.local_addr()?.port();
                listeners.push(listener);
            }
            Err(e) if family_missing(&e) => last_error = Some(e),
            Err(e) => return Err(e),
        }
    }
    match last_error {
        Some(e) if listeners.is_empty() => Err(e),
        _ => Ok(listeners),
    }
}

/// The host has no such family (no IPv6 stack, or IPv6 turned off).
fn family_missing(error: &io::Error) -> bool {
    matches!(
        error.raw_os_error(),
        Some(code) if [libc::EAFNOSUPPORT, libc::EPROTONOSUPPORT, libc::EADDRNOTAVAIL]
            .contains(&code)
    )
}
