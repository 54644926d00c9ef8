//! [`TcpListener`] and its bind options ([`ListenOptions`]).
//!
//! # Cancellation
//!
//! [`TcpListener::accept`] is a cancellation point and a coop operation. Dropping a pending
//! `accept` loses no connection: a connection is taken from the kernel's queue only by the
//! `accept` syscall, and the poll that makes it returns it.

use crate::readiness::Direction;
use crate::source::IoSource;
use crate::tcp::TcpStream;
use socket2::{Domain, Protocol, Socket, Type};
use std::fmt;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::task::{Context, Poll};

/// A TCP socket that listens for connections.
///
/// # Examples
///
/// ```
/// use creche_io::{TcpListener, TcpStream};
/// # let rt = creche_io::__doc_runtime();
/// # rt.block_on(async {
/// let listener = TcpListener::bind("127.0.0.1:0")?;
/// let addr = listener.local_addr()?;
/// let client = creche_runtime::spawn(async move { TcpStream::connect(addr).await });
/// let (server_side, peer) = listener.accept().await?;
/// let client = client.await.unwrap()?;
/// assert_eq!(peer, client.local_addr()?);
/// assert_eq!(server_side.peer_addr()?, peer);
/// # std::io::Result::Ok(()) }).unwrap();
/// ```
pub struct TcpListener {
    io: IoSource<std::net::TcpListener>,
}

impl fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpListener")
            .field("local_addr", &self.local_addr().ok())
            .finish()
    }
}

/// Socket options for [`TcpListener::bind_with`].
///
/// # Examples
///
/// ```
/// use creche_io::{ListenOptions, TcpListener};
/// # let rt = creche_io::__doc_runtime();
/// # rt.block_on(async {
/// let options = ListenOptions::new().reuse_port(true).backlog(16);
/// let first = TcpListener::bind_with("127.0.0.1:0".parse().unwrap(), &options)?;
/// // With SO_REUSEPORT on both, a second listener may share the port.
/// let second = TcpListener::bind_with(first.local_addr()?, &options)?;
/// assert_eq!(first.local_addr()?, second.local_addr()?);
/// # std::io::Result::Ok(()) }).unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenOptions {
    reuse_address: bool,
    reuse_port: bool,
    backlog: u32,
    only_v6: Option<bool>,
}

impl Default for ListenOptions {
    fn default() -> Self {
        ListenOptions::new()
    }
}

impl ListenOptions {
    /// The defaults: `SO_REUSEADDR` on (as std's `bind` does on Unix), `SO_REUSEPORT` off, a
    /// backlog of 1024 (the kernel caps it at its own limit), `IPV6_V6ONLY` left as the system
    /// sets it.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(creche_io::ListenOptions::new(), creche_io::ListenOptions::default());
    /// ```
    pub fn new() -> ListenOptions {
        ListenOptions {
            reuse_address: true,
            reuse_port: false,
            backlog: 1024,
            only_v6: None,
        }
    }

    /// `SO_REUSEADDR`: bind while connections of an earlier listener on the port linger.
    ///
    /// # Examples
    ///
    /// ```
    /// let options = creche_io::ListenOptions::new().reuse_address(false);
    /// # drop(options);
    /// ```
    pub fn reuse_address(mut self, on: bool) -> ListenOptions {
        self.reuse_address = on;
        self
    }

    /// `SO_REUSEPORT`: several listeners share one port, the kernel spreading connections.
    ///
    /// # Examples
    ///
    /// See [`ListenOptions`].
    pub fn reuse_port(mut self, on: bool) -> ListenOptions {
        self.reuse_port = on;
        self
    }

    /// The length of the queue of connections not yet accepted.
    ///
    /// # Examples
    ///
    /// See [`ListenOptions`].
    pub fn backlog(mut self, backlog: u32) -> ListenOptions {
        self.backlog = backlog;
        self
    }

    /// `IPV6_V6ONLY` on an IPv6 address (ignored for IPv4): `true` to accept IPv6 connections
    /// only, so that an IPv4 listener can bind the same port.
    ///
    /// # Examples
    ///
    /// ```
    /// let options = creche_io::ListenOptions::new().only_v6(true);
    /// # drop(options);
    /// ```
    pub fn only_v6(mut self, on: bool) -> ListenOptions {
        self.only_v6 = Some(on);
        self
    }
}

impl TcpListener {
    /// Binds to `addr` and listens, with [`ListenOptions::new`]. Each address `addr` yields
    /// is tried in turn, as std's `bind` does (name resolution, if `addr` is a name, blocks:
    /// pass addresses).
    ///
    /// # Errors
    ///
    /// The error of the last address tried; [`NoReactor`](crate::NoReactor) (inside an
    /// `io::Error`) outside a runtime.
    ///
    /// # Examples
    ///
    /// See [`TcpListener`].
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        let mut last = None;
        for addr in addr.to_socket_addrs()? {
            match TcpListener::bind_with(addr, &ListenOptions::new()) {
                Ok(listener) => return Ok(listener),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "no address to bind to")
        }))
    }

    /// Binds to `addr` and listens, with `options`.
    ///
    /// # Errors
    ///
    /// What the operating system says (address in use, permission denied...);
    /// [`NoReactor`](crate::NoReactor) outside a runtime.
    ///
    /// # Examples
    ///
    /// See [`ListenOptions`].
    pub fn bind_with(addr: SocketAddr, options: &ListenOptions) -> io::Result<TcpListener> {
        crate::IoHandle::try_current()?;
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        socket.set_nonblocking(true)?;
        socket.set_reuse_address(options.reuse_address)?;
        if options.reuse_port {
            socket.set_reuse_port(true)?;
        }
        if let (Some(only_v6), SocketAddr::V6(_)) = (options.only_v6, addr) {
            socket.set_only_v6(only_v6)?;
        }
        socket.bind(&addr.into())?;
        socket.listen(options.backlog.min(i32::MAX as u32) as i32)?;
        TcpListener::from_std(socket.into())
    }

    /// Registers a std listener with the current runtime's reactor (and makes it
    /// non-blocking).
    ///
    /// # Errors
    ///
    /// [`NoReactor`](crate::NoReactor) outside a runtime; what the OS says.
    ///
    /// # Examples
    ///
    /// ```
    /// # let rt = creche_io::__doc_runtime();
    /// # rt.block_on(async {
    /// let std_listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let listener = creche_io::TcpListener::from_std(std_listener)?;
    /// assert!(listener.local_addr()?.port() > 0);
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn from_std(listener: std::net::TcpListener) -> io::Result<TcpListener> {
        listener.set_nonblocking(true)?;
        Ok(TcpListener {
            io: IoSource::new(listener)?,
        })
    }

    /// Deregisters the listener and returns it (still non-blocking).
    ///
    /// # Examples
    ///
    /// ```
    /// # let rt = creche_io::__doc_runtime();
    /// # rt.block_on(async {
    /// let listener = creche_io::TcpListener::bind("127.0.0.1:0")?;
    /// let addr = listener.local_addr()?;
    /// assert_eq!(listener.into_std().local_addr()?, addr);
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn into_std(self) -> std::net::TcpListener {
        self.io.into_inner()
    }

    /// Waits for a connection and returns it with the peer's address. A cancellation point
    /// and a coop operation; dropping it loses no connection (see the
    /// [module documentation](self)).
    ///
    /// # Errors
    ///
    /// What `accept` says (`EMFILE` when the process is out of descriptors, ...), or the
    /// registration of the new stream with the reactor.
    ///
    /// # Examples
    ///
    /// See [`TcpListener`].
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (stream, peer) = self.io.op(Direction::Read, |l| l.accept()).await?;
        Ok((TcpStream::from_std(stream)?, peer))
    }

    /// The poll form of [`accept`](TcpListener::accept) (one waker: the last poller's).
    ///
    /// # Errors
    ///
    /// As [`accept`](TcpListener::accept).
    ///
    /// # Examples
    ///
    /// ```
    /// # let rt = creche_io::__doc_runtime();
    /// # rt.block_on(async {
    /// let listener = creche_io::TcpListener::bind("127.0.0.1:0")?;
    /// let _client = std::net::TcpStream::connect(listener.local_addr()?)?;
    /// let (stream, _) = std::future::poll_fn(|cx| listener.poll_accept(cx)).await?;
    /// # drop(stream);
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        self.io
            .poll_io(Direction::Read, cx, |l| l.accept())
            .map(|r| r.and_then(|(s, peer)| Ok((TcpStream::from_std(s)?, peer))))
    }

    /// The address the listener is bound to.
    ///
    /// # Errors
    ///
    /// What `getsockname` says.
    ///
    /// # Examples
    ///
    /// See [`TcpListener`].
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get().local_addr()
    }

    /// Sets `IP_TTL` for the sockets this listener accepts.
    ///
    /// # Errors
    ///
    /// What `setsockopt` says.
    ///
    /// # Examples
    ///
    /// ```
    /// # let rt = creche_io::__doc_runtime();
    /// # rt.block_on(async {
    /// let listener = creche_io::TcpListener::bind("127.0.0.1:0")?;
    /// listener.set_ttl(42)?;
    /// assert_eq!(listener.ttl()?, 42);
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.io.get().set_ttl(ttl)
    }

    /// `IP_TTL`.
    ///
    /// # Errors
    ///
    /// What `getsockopt` says.
    ///
    /// # Examples
    ///
    /// See [`set_ttl`](TcpListener::set_ttl).
    pub fn ttl(&self) -> io::Result<u32> {
        self.io.get().ttl()
    }
}

impl std::os::fd::AsFd for TcpListener {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.io.get().as_fd()
    }
}
