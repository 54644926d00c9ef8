//! [`UdpSocket`].
//!
//! # Cancellation
//!
//! `send`, `send_to`, `recv` and `recv_from` are cancellation points and coop operations. A
//! dropped `recv` or `recv_from` loses no datagram (a datagram leaves the kernel's queue only
//! in the syscall whose poll returns it); a dropped `send` or `send_to` sent nothing.

use crate::readiness::Direction;
use crate::source::IoSource;
use std::fmt;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};

/// A UDP socket. Its async methods take `&self`: several tasks may send and receive at once
/// (each waits in its own waker slot).
///
/// # Examples
///
/// ```
/// use creche_io::UdpSocket;
/// # let rt = creche_io::__doc_runtime();
/// # rt.block_on(async {
/// let a = UdpSocket::bind("127.0.0.1:0")?;
/// let b = UdpSocket::bind("127.0.0.1:0")?;
/// a.send_to(b"hi", b.local_addr()?).await?;
/// let mut buf = [0; 8];
/// let (n, from) = b.recv_from(&mut buf).await?;
/// assert_eq!((&buf[..n], from), (&b"hi"[..], a.local_addr()?));
/// # std::io::Result::Ok(()) }).unwrap();
/// ```
pub struct UdpSocket {
    io: IoSource<std::net::UdpSocket>,
}

impl fmt::Debug for UdpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UdpSocket")
            .field("local_addr", &self.local_addr().ok())
            .finish()
    }
}

impl UdpSocket {
    /// Binds to `addr` (each address it yields tried in turn, as std's `bind` does; a name
    /// is resolved by blocking: pass addresses).
    ///
    /// # Errors
    ///
    /// What the OS says; [`NoReactor`](crate::NoReactor) outside a runtime.
    ///
    /// # Examples
    ///
    /// See [`UdpSocket`].
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<UdpSocket> {
        crate::IoHandle::try_current()?;
        UdpSocket::from_std(std::net::UdpSocket::bind(addr)?)
    }

    /// Registers a std socket with the current runtime's reactor (and makes it non-blocking).
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
    /// let socket = creche_io::UdpSocket::from_std(std::net::UdpSocket::bind("127.0.0.1:0")?)?;
    /// # drop(socket);
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn from_std(socket: std::net::UdpSocket) -> io::Result<UdpSocket> {
        socket.set_nonblocking(true)?;
        Ok(UdpSocket {
            io: IoSource::new(socket)?,
        })
    }

    /// Deregisters the socket and returns it (still non-blocking).
    ///
    /// # Examples
    ///
    /// ```
    /// # let rt = creche_io::__doc_runtime();
    /// # rt.block_on(async {
    /// let socket = creche_io::UdpSocket::bind("127.0.0.1:0")?;
    /// let addr = socket.local_addr()?;
    /// assert_eq!(socket.into_std().local_addr()?, addr);
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn into_std(self) -> std::net::UdpSocket {
        self.io.into_inner()
    }

    /// Sets the default peer: [`send`](UdpSocket::send) goes there, and only its datagrams
    /// are received.
    ///
    /// # Errors
    ///
    /// What `connect` says.
    ///
    /// # Examples
    ///
    /// ```
    /// use creche_io::UdpSocket;
    /// # let rt = creche_io::__doc_runtime();
    /// # rt.block_on(async {
    /// let a = UdpSocket::bind("127.0.0.1:0")?;
    /// let b = UdpSocket::bind("127.0.0.1:0")?;
    /// a.connect(b.local_addr()?)?;
    /// b.connect(a.local_addr()?)?;
    /// a.send(b"ping").await?;
    /// let mut buf = [0; 8];
    /// assert_eq!(b.recv(&mut buf).await?, 4);
    /// assert_eq!(a.peer_addr()?, b.local_addr()?);
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn connect(&self, addr: SocketAddr) -> io::Result<()> {
        self.io.get().connect(addr)
    }

    /// Sends `buf` as one datagram to `target`; returns the bytes sent.
    ///
    /// # Errors
    ///
    /// What `sendto` says (message too long, ...).
    ///
    /// # Examples
    ///
    /// See [`UdpSocket`].
    pub async fn send_to(&self, buf: &[u8], target: SocketAddr) -> io::Result<usize> {
        self.io
            .op(Direction::Write, |s| s.send_to(buf, target))
            .await
    }

    /// Receives one datagram into `buf` (the rest of a longer one is discarded); returns its
    /// length and its sender.
    ///
    /// # Errors
    ///
    /// What `recvfrom` says.
    ///
    /// # Examples
    ///
    /// See [`UdpSocket`].
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.io.op(Direction::Read, |s| s.recv_from(buf)).await
    }

    /// Sends `buf` to the peer set by [`connect`](UdpSocket::connect).
    ///
    /// # Errors
    ///
    /// `NotConnected` without a peer; what `send` says.
    ///
    /// # Examples
    ///
    /// See [`connect`](UdpSocket::connect).
    pub async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.io.op(Direction::Write, |s| s.send(buf)).await
    }

    /// Receives one datagram from the peer set by [`connect`](UdpSocket::connect).
    ///
    /// # Errors
    ///
    /// What `recv` says (a previous send's ICMP error as `ConnectionRefused`, ...).
    ///
    /// # Examples
    ///
    /// See [`connect`](UdpSocket::connect).
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.op(Direction::Read, |s| s.recv(buf)).await
    }

    /// The local address.
    ///
    /// # Errors
    ///
    /// What `getsockname` says.
    ///
    /// # Examples
    ///
    /// See [`UdpSocket`].
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get().local_addr()
    }

    /// The peer set by [`connect`](UdpSocket::connect).
    ///
    /// # Errors
    ///
    /// `NotConnected` without one.
    ///
    /// # Examples
    ///
    /// See [`connect`](UdpSocket::connect).
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get().peer_addr()
    }

    /// Sets `IP_TTL`.
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
    /// let socket = creche_io::UdpSocket::bind("127.0.0.1:0")?;
    /// socket.set_ttl(9)?;
    /// assert_eq!(socket.ttl()?, 9);
    /// socket.set_broadcast(true)?;
    /// assert!(socket.broadcast()?);
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
    /// See [`set_ttl`](UdpSocket::set_ttl).
    pub fn ttl(&self) -> io::Result<u32> {
        self.io.get().ttl()
    }

    /// Sets `SO_BROADCAST`.
    ///
    /// # Errors
    ///
    /// What `setsockopt` says.
    ///
    /// # Examples
    ///
    /// See [`set_ttl`](UdpSocket::set_ttl).
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        self.io.get().set_broadcast(on)
    }

    /// `SO_BROADCAST`.
    ///
    /// # Errors
    ///
    /// What `getsockopt` says.
    ///
    /// # Examples
    ///
    /// See [`set_ttl`](UdpSocket::set_ttl).
    pub fn broadcast(&self) -> io::Result<bool> {
        self.io.get().broadcast()
    }
}

impl std::os::fd::AsFd for UdpSocket {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.io.get().as_fd()
    }
}
