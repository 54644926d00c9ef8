//! [`UnixStream`] and its owned halves.

use crate::readiness::Direction;
use crate::source::IoSource;
use socket2::{Domain, SockAddr, Socket, Type};
use std::fmt;
use std::io;
use std::net::Shutdown;
use std::os::unix::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

/// A connected Unix domain stream socket. Its async methods take `&self`; it implements
/// `futures_io::AsyncRead`/`AsyncWrite` (and tokio's, with the `tokio` feature).
///
/// # Examples
///
/// ```
/// # let rt = creche_io::__doc_runtime();
/// # rt.block_on(async {
/// let (a, b) = creche_io::UnixStream::pair()?;
/// a.write_all(b"ping").await?;
/// let mut buf = [0; 4];
/// b.read_exact(&mut buf).await?;
/// assert_eq!(&buf, b"ping");
/// # std::io::Result::Ok(()) }).unwrap();
/// ```
pub struct UnixStream {
    pub(crate) io: IoSource<std::os::unix::net::UnixStream>,
}

impl fmt::Debug for UnixStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixStream")
            .field("local_addr", &self.local_addr().ok())
            .field("peer_addr", &self.peer_addr().ok())
            .finish()
    }
}

/// The read half of a [`UnixStream`] that owns it (with the write half).
///
/// # Examples
///
/// See [`UnixStream::into_split`].
pub struct OwnedReadHalf {
    pub(crate) inner: Arc<UnixStream>,
}

/// The write half of a [`UnixStream`] that owns it (with the read half). Dropping it shuts
/// the write side down.
///
/// # Examples
///
/// See [`UnixStream::into_split`].
pub struct OwnedWriteHalf {
    pub(crate) inner: Arc<UnixStream>,
}

impl fmt::Debug for OwnedReadHalf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("OwnedReadHalf").field(&self.inner).finish()
    }
}

impl fmt::Debug for OwnedWriteHalf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("OwnedWriteHalf").field(&self.inner).finish()
    }
}

impl Drop for OwnedWriteHalf {
    fn drop(&mut self) {
        let _ = self.inner.io.get().shutdown(Shutdown::Write);
    }
}

impl UnixStream {
    /// Connects to the socket at `path` (a non-blocking connect: dropping the future closes
    /// the socket).
    ///
    /// # Errors
    ///
    /// What `connect` says (no such file, refused, `WouldBlock` when the listener's backlog is
    /// full); [`NoReactor`](crate::NoReactor) outside a runtime.
    ///
    /// # Examples
    ///
    /// See [`UnixListener`](crate::UnixListener).
    pub async fn connect(path: impl AsRef<Path>) -> io::Result<UnixStream> {
        let socket = Socket::new(Domain::UNIX, Type::STREAM, None)?;
        socket.set_nonblocking(true)?;
        match socket.connect(&SockAddr::unix(path)?) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
            Err(e) => return Err(e),
        }
        let stream = UnixStream {
            io: IoSource::new(std::os::unix::net::UnixStream::from(
                std::os::fd::OwnedFd::from(socket),
            ))?,
        };
        stream
            .io
            .op(Direction::Write, |s| match s.take_error()? {
                Some(e) => Err(e),
                None => match s.peer_addr() {
                    Ok(_) => Ok(()),
                    Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => {
                        Err(io::ErrorKind::WouldBlock.into())
                    }
                    Err(e) => Err(e),
                },
            })
            .await?;
        Ok(stream)
    }

    /// A connected pair of streams.
    ///
    /// # Errors
    ///
    /// What `socketpair` says; [`NoReactor`](crate::NoReactor) outside a runtime.
    ///
    /// # Examples
    ///
    /// See [`UnixStream`].
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        crate::IoHandle::try_current()?;
        let (a, b) = std::os::unix::net::UnixStream::pair()?;
        Ok((UnixStream::from_std(a)?, UnixStream::from_std(b)?))
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
    /// let (a, _b) = std::os::unix::net::UnixStream::pair()?;
    /// let a = creche_io::UnixStream::from_std(a)?;
    /// # drop(a);
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn from_std(stream: std::os::unix::net::UnixStream) -> io::Result<UnixStream> {
        stream.set_nonblocking(true)?;
        Ok(UnixStream {
            io: IoSource::new(stream)?,
        })
    }

    /// Reads into `buf`; 0 at the end of the stream. Cancel-safe: a dropped `read` loses no
    /// bytes.
    ///
    /// # Errors
    ///
    /// What `recv` says.
    ///
    /// # Examples
    ///
    /// See [`UnixStream`].
    pub async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.read(buf).await
    }

    /// Reads exactly `buf.len()` bytes (not cancel-safe: a prefix may be consumed).
    ///
    /// # Errors
    ///
    /// `UnexpectedEof` if the stream ends first; what `recv` says.
    ///
    /// # Examples
    ///
    /// See [`UnixStream`].
    pub async fn read_exact(&self, buf: &mut [u8]) -> io::Result<()> {
        self.io.read_exact(buf).await
    }

    /// Writes some of `buf`. Cancel-safe: a dropped `write` wrote nothing.
    ///
    /// # Errors
    ///
    /// What `send` says.
    ///
    /// # Examples
    ///
    /// See [`UnixStream`].
    pub async fn write(&self, buf: &[u8]) -> io::Result<usize> {
        self.io.write(buf).await
    }

    /// Writes all of `buf` (not cancel-safe: a prefix may have been sent).
    ///
    /// # Errors
    ///
    /// `WriteZero`; what `send` says.
    ///
    /// # Examples
    ///
    /// See [`UnixStream`].
    pub async fn write_all(&self, buf: &[u8]) -> io::Result<()> {
        self.io.write_all(buf).await
    }

    /// Does nothing (no buffer of its own); a cancellation point and a coop operation.
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
    /// let (a, _b) = creche_io::UnixStream::pair()?;
    /// a.flush().await?;
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub async fn flush(&self) -> io::Result<()> {
        crate::source::immediate(|| Ok(())).await
    }

    /// Shuts down the read side, the write side, or both.
    ///
    /// # Errors
    ///
    /// What `shutdown` says.
    ///
    /// # Examples
    ///
    /// ```
    /// # let rt = creche_io::__doc_runtime();
    /// # rt.block_on(async {
    /// let (a, b) = creche_io::UnixStream::pair()?;
    /// a.shutdown(std::net::Shutdown::Write).await?;
    /// assert_eq!(b.read(&mut [0; 4]).await?, 0);
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub async fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        crate::source::immediate(|| self.io.get().shutdown(how)).await
    }

    /// Splits the stream into owned halves; dropping the write half shuts the write side down.
    ///
    /// # Examples
    ///
    /// ```
    /// # let rt = creche_io::__doc_runtime();
    /// # rt.block_on(async {
    /// let (a, b) = creche_io::UnixStream::pair()?;
    /// let (reader, writer) = a.into_split();
    /// writer.write_all(b"x").await?;
    /// drop(writer);
    /// let mut buf = Vec::new();
    /// let mut chunk = [0; 8];
    /// loop {
    ///     match b.read(&mut chunk).await? {
    ///         0 => break,
    ///         n => buf.extend_from_slice(&chunk[..n]),
    ///     }
    /// }
    /// assert_eq!(buf, b"x");
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
    /// ```
    /// # let rt = creche_io::__doc_runtime();
    /// # rt.block_on(async {
    /// let (a, _b) = creche_io::UnixStream::pair()?;
    /// assert!(a.local_addr()?.is_unnamed());
    /// assert!(a.peer_addr()?.is_unnamed());
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get().local_addr()
    }

    /// The peer's address.
    ///
    /// # Errors
    ///
    /// What `getpeername` says.
    ///
    /// # Examples
    ///
    /// See [`local_addr`](UnixStream::local_addr).
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get().peer_addr()
    }
}

impl OwnedReadHalf {
    /// [`UnixStream::read`].
    ///
    /// # Errors
    ///
    /// As [`UnixStream::read`].
    ///
    /// # Examples
    ///
    /// See [`UnixStream::into_split`].
    pub async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).await
    }

    /// [`UnixStream::read_exact`].
    ///
    /// # Errors
    ///
    /// As [`UnixStream::read_exact`].
    ///
    /// # Examples
    ///
    /// See [`UnixStream::into_split`].
    pub async fn read_exact(&self, buf: &mut [u8]) -> io::Result<()> {
        self.inner.read_exact(buf).await
    }
}

impl OwnedWriteHalf {
    /// [`UnixStream::write`].
    ///
    /// # Errors
    ///
    /// As [`UnixStream::write`].
    ///
    /// # Examples
    ///
    /// See [`UnixStream::into_split`].
    pub async fn write(&self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf).await
    }

    /// [`UnixStream::write_all`].
    ///
    /// # Errors
    ///
    /// As [`UnixStream::write_all`].
    ///
    /// # Examples
    ///
    /// See [`UnixStream::into_split`].
    pub async fn write_all(&self, buf: &[u8]) -> io::Result<()> {
        self.inner.write_all(buf).await
    }

    /// Shuts the write side down.
    ///
    /// # Errors
    ///
    /// As [`UnixStream::shutdown`].
    ///
    /// # Examples
    ///
    /// See [`UnixStream::into_split`].
    pub async fn shutdown(&self) -> io::Result<()> {
        self.inner.shutdown(Shutdown::Write).await
    }
}

impl std::os::fd::AsFd for UnixStream {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.io.get().as_fd()
    }
}
