//! [`TcpStream`]: a connected TCP socket, and its non-blocking connect.
//!
//! # Cancellation
//!
//! Every async method is a cancellation point (in a cancelled context it does not complete)
//! and a coop operation. What a dropped operation leaves:
//! - `read`, `write`: nothing; a byte is read or written only by the syscall whose poll
//!   returns it, so a dropped `read` loses no bytes and a dropped `write` wrote none.
//! - `read_exact`, `write_all`: the bytes of the reads or writes that completed before the
//!   drop are consumed (in `buf`) or sent; the call is not restartable, as in std and tokio.
//! - `connect`, `connect_with`: the socket, created and connecting, is closed.
//! - `shutdown`: done or not done, never half.

use crate::readiness::Direction;
use crate::source::IoSource;
use crate::tcp::split::{OwnedReadHalf, OwnedWriteHalf, ReadHalf, WriteHalf};
use socket2::{Domain, Protocol, SockRef, Socket, Type};
use std::fmt;
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::sync::Arc;

/// A TCP connection.
///
/// Its async methods take `&self`: one task may read while another writes (or use
/// [`into_split`](TcpStream::into_split)). It implements `futures_io::AsyncRead` and
/// `AsyncWrite` and, with the `tokio` feature, tokio's.
///
/// # Examples
///
/// ```
/// use creche_io::{TcpListener, TcpStream};
/// # let rt = creche_io::__doc_runtime();
/// # rt.block_on(async {
/// let listener = TcpListener::bind("127.0.0.1:0")?;
/// let addr = listener.local_addr()?;
/// let server = creche_runtime::spawn(async move {
///     let (stream, _) = listener.accept().await?;
///     let mut buf = [0; 5];
///     stream.read_exact(&mut buf).await?;
///     stream.write_all(&buf).await?; // echo
///     std::io::Result::Ok(())
/// });
/// let client = TcpStream::connect(addr).await?;
/// client.write_all(b"hello").await?;
/// let mut buf = [0; 5];
/// client.read_exact(&mut buf).await?;
/// assert_eq!(&buf, b"hello");
/// server.await.unwrap()?;
/// # std::io::Result::Ok(()) }).unwrap();
/// ```
pub struct TcpStream {
    pub(crate) io: IoSource<std::net::TcpStream>,
}

impl fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpStream")
            .field("local_addr", &self.local_addr().ok())
            .field("peer_addr", &self.peer_addr().ok())
            .finish()
    }
}

impl TcpStream {
    /// Connects to `addr` (an address: names are resolved by `lookup_host`/`open_tcp_stream`).
    ///
    /// # Errors
    ///
    /// What the connection attempt ends with (refused, unreachable, ...);
    /// [`NoReactor`](crate::NoReactor) outside a runtime.
    ///
    /// # Examples
    ///
    /// See [`TcpStream`].
    pub async fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
        TcpStream::connect_with(addr, None).await
    }

    /// Connects to `addr` from `local` (bound before connecting) if given. A real
    /// non-blocking connect: the socket is created non-blocking, `connect` starts the
    /// handshake, the future waits until the socket is writable and then reads `SO_ERROR`.
    /// Dropping the future closes the socket (happy eyeballs relies on it).
    ///
    /// # Errors
    ///
    /// The bind's or the connection's error; [`NoReactor`](crate::NoReactor) outside a runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// use creche_io::{TcpListener, TcpStream};
    /// # let rt = creche_io::__doc_runtime();
    /// # rt.block_on(async {
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let from = "127.0.0.1:0".parse().unwrap();
    /// let stream = TcpStream::connect_with(listener.local_addr()?, Some(from)).await?;
    /// assert_eq!(stream.local_addr()?.ip(), from.ip());
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub async fn connect_with(
        addr: SocketAddr,
        local: Option<SocketAddr>,
    ) -> io::Result<TcpStream> {
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        socket.set_nonblocking(true)?;
        if let Some(local) = local {
            socket.bind(&local.into())?;
        }
        match socket.connect(&addr.into()) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
            Err(e) => return Err(e),
        }
        let stream = TcpStream {
            io: IoSource::new(std::net::TcpStream::from(socket))?,
        };
        stream
            .io
            .op(Direction::Write, |s| {
                if let Some(e) = s.take_error()? {
                    return Err(e);
                }
                match s.peer_addr() {
                    Ok(_) => Ok(()),
                    // Not connected yet: the writable edge has not come.
                    Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => {
                        Err(io::ErrorKind::WouldBlock.into())
                    }
                    Err(e) => Err(e),
                }
            })
            .await?;
        Ok(stream)
    }

    /// Registers a connected std stream with the current runtime's reactor (and makes it
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
    /// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let std_stream = std::net::TcpStream::connect(listener.local_addr()?)?;
    /// let stream = creche_io::TcpStream::from_std(std_stream)?;
    /// assert_eq!(stream.peer_addr()?, listener.local_addr()?);
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn from_std(stream: std::net::TcpStream) -> io::Result<TcpStream> {
        stream.set_nonblocking(true)?;
        Ok(TcpStream {
            io: IoSource::new(stream)?,
        })
    }

    /// Deregisters the stream and returns it (still non-blocking).
    ///
    /// # Examples
    ///
    /// ```
    /// # let rt = creche_io::__doc_runtime();
    /// # rt.block_on(async {
    /// let listener = creche_io::TcpListener::bind("127.0.0.1:0")?;
    /// let stream = creche_io::TcpStream::connect(listener.local_addr()?).await?;
    /// let std_stream = stream.into_std();
    /// assert_eq!(std_stream.peer_addr()?, listener.local_addr()?);
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn into_std(self) -> std::net::TcpStream {
        self.io.into_inner()
    }

    /// Reads into `buf`; returns how many bytes were read, 0 at the end of the stream (or for
    /// an empty `buf`). Cancel-safe: a dropped `read` loses no bytes.
    ///
    /// # Errors
    ///
    /// What `recv` says (connection reset, ...).
    ///
    /// # Examples
    ///
    /// See [`TcpStream`].
    pub async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.read(buf).await
    }

    /// Reads exactly `buf.len()` bytes. Not cancel-safe: bytes already read when it is dropped
    /// are in `buf`, and gone from the stream.
    ///
    /// # Errors
    ///
    /// `UnexpectedEof` if the stream ends first; what `recv` says.
    ///
    /// # Examples
    ///
    /// See [`TcpStream`].
    pub async fn read_exact(&self, buf: &mut [u8]) -> io::Result<()> {
        self.io.read_exact(buf).await
    }

    /// Writes some of `buf`; returns how many bytes were written. Cancel-safe: a dropped
    /// `write` wrote nothing.
    ///
    /// # Errors
    ///
    /// What `send` says (broken pipe, connection reset, ...).
    ///
    /// # Examples
    ///
    /// See [`TcpStream`].
    pub async fn write(&self, buf: &[u8]) -> io::Result<usize> {
        self.io.write(buf).await
    }

    /// Writes all of `buf`. Not cancel-safe: a prefix may have been sent when it is dropped.
    ///
    /// # Errors
    ///
    /// `WriteZero` if the socket accepts no more bytes; what `send` says.
    ///
    /// # Examples
    ///
    /// See [`TcpStream`].
    pub async fn write_all(&self, buf: &[u8]) -> io::Result<()> {
        self.io.write_all(buf).await
    }

    /// Does nothing: a TCP socket has no buffer of its own to flush. Still a cancellation
    /// point and a coop operation.
    ///
    /// # Errors
    ///
    /// None today.
    ///
    /// # Examples
    ///
    /// ```
    /// # let rt = creche_io::__doc_runtime();
    /// # rt.block_on(async {
    /// # let listener = creche_io::TcpListener::bind("127.0.0.1:0")?;
    /// let stream = creche_io::TcpStream::connect(listener.local_addr()?).await?;
    /// stream.flush().await?;
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub async fn flush(&self) -> io::Result<()> {
        crate::source::immediate(|| Ok(())).await
    }

    /// Shuts down the read side, the write side (the peer reads the end of the stream) or
    /// both. A cancellation point and a coop operation.
    ///
    /// # Errors
    ///
    /// What `shutdown` says (not connected, ...).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::Shutdown;
    /// # let rt = creche_io::__doc_runtime();
    /// # rt.block_on(async {
    /// let listener = creche_io::TcpListener::bind("127.0.0.1:0")?;
    /// let client = creche_io::TcpStream::connect(listener.local_addr()?).await?;
    /// let (server, _) = listener.accept().await?;
    /// client.shutdown(Shutdown::Write).await?;
    /// assert_eq!(server.read(&mut [0; 8]).await?, 0); // end of stream
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub async fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        crate::source::immediate(|| self.io.get().shutdown(how)).await
    }

    /// Splits the stream into halves that borrow it.
    ///
    /// # Examples
    ///
    /// ```
    /// # let rt = creche_io::__doc_runtime();
    /// # rt.block_on(async {
    /// # let listener = creche_io::TcpListener::bind("127.0.0.1:0")?;
    /// let mut stream = creche_io::TcpStream::connect(listener.local_addr()?).await?;
    /// let (reader, writer) = stream.split();
    /// writer.write_all(b"x").await?;
    /// # drop(reader);
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn split(&mut self) -> (ReadHalf<'_>, WriteHalf<'_>) {
        (ReadHalf(self), WriteHalf(self))
    }

    /// Splits the stream into owned halves, which can move to two tasks. Dropping the write
    /// half shuts the write side down (the peer reads the end of the stream); the socket
    /// closes when both are gone.
    ///
    /// # Examples
    ///
    /// ```
    /// # let rt = creche_io::__doc_runtime();
    /// # rt.block_on(async {
    /// # let listener = creche_io::TcpListener::bind("127.0.0.1:0")?;
    /// let stream = creche_io::TcpStream::connect(listener.local_addr()?).await?;
    /// let (reader, writer) = stream.into_split();
    /// let task = creche_runtime::spawn(async move { writer.write_all(b"x").await });
    /// task.await.unwrap()?;
    /// # drop(reader);
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn into_split(self) -> (OwnedReadHalf, OwnedWriteHalf) {
        let shared = Arc::new(self);
        (
            OwnedReadHalf {
                inner: shared.clone(),
            },
            OwnedWriteHalf { inner: shared },
        )
    }

    /// The local address.
    ///
    /// # Errors
    ///
    /// What `getsockname` says.
    ///
    /// # Examples
    ///
    /// See [`TcpListener`](crate::TcpListener).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get().local_addr()
    }

    /// The peer's address.
    ///
    /// # Errors
    ///
    /// What `getpeername` says (not connected, ...).
    ///
    /// # Examples
    ///
    /// See [`TcpListener`](crate::TcpListener).
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get().peer_addr()
    }

    /// Sets `TCP_NODELAY` (off: Nagle's algorithm batches small writes).
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
    /// # let listener = creche_io::TcpListener::bind("127.0.0.1:0")?;
    /// let stream = creche_io::TcpStream::connect(listener.local_addr()?).await?;
    /// stream.set_nodelay(true)?;
    /// assert!(stream.nodelay()?);
    /// stream.set_ttl(7)?;
    /// assert_eq!(stream.ttl()?, 7);
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.io.get().set_nodelay(nodelay)
    }

    /// `TCP_NODELAY`.
    ///
    /// # Errors
    ///
    /// What `getsockopt` says.
    ///
    /// # Examples
    ///
    /// See [`set_nodelay`](TcpStream::set_nodelay).
    pub fn nodelay(&self) -> io::Result<bool> {
        self.io.get().nodelay()
    }

    /// Sets `IP_TTL`.
    ///
    /// # Errors
    ///
    /// What `setsockopt` says.
    ///
    /// # Examples
    ///
    /// See [`set_nodelay`](TcpStream::set_nodelay).
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
    /// See [`set_nodelay`](TcpStream::set_nodelay).
    pub fn ttl(&self) -> io::Result<u32> {
        self.io.get().ttl()
    }

    /// Sets `SO_LINGER` (`Some(0)`: closing resets the connection).
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
    /// # let listener = creche_io::TcpListener::bind("127.0.0.1:0")?;
    /// let stream = creche_io::TcpStream::connect(listener.local_addr()?).await?;
    /// stream.set_linger(Some(std::time::Duration::ZERO))?;
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn set_linger(&self, linger: Option<std::time::Duration>) -> io::Result<()> {
        SockRef::from(self.io.get()).set_linger(linger)
    }
}

impl std::os::fd::AsFd for TcpStream {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.io.get().as_fd()
    }
}
