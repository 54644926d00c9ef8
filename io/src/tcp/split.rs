//! The halves of a [`TcpStream`]: borrowed ([`ReadHalf`], [`WriteHalf`], from
//! [`TcpStream::split`]) and owned ([`OwnedReadHalf`], [`OwnedWriteHalf`], from
//! [`TcpStream::into_split`]). Their operations are the stream's, with the same cancellation
//! safety (see [`crate::tcp`]).

use crate::tcp::TcpStream;
use std::fmt;
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::sync::Arc;

/// The read half of a borrowed [`TcpStream`].
///
/// # Examples
///
/// See [`TcpStream::split`].
#[derive(Debug)]
pub struct ReadHalf<'a>(pub(crate) &'a TcpStream);

/// The write half of a borrowed [`TcpStream`].
///
/// # Examples
///
/// See [`TcpStream::split`].
#[derive(Debug)]
pub struct WriteHalf<'a>(pub(crate) &'a TcpStream);

/// The read half of a [`TcpStream`] that owns it (with the write half).
///
/// # Examples
///
/// See [`TcpStream::into_split`].
pub struct OwnedReadHalf {
    pub(crate) inner: Arc<TcpStream>,
}

/// The write half of a [`TcpStream`] that owns it (with the read half). Dropping it shuts the
/// write side down: the peer reads the end of the stream.
///
/// # Examples
///
/// See [`TcpStream::into_split`].
pub struct OwnedWriteHalf {
    pub(crate) inner: Arc<TcpStream>,
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
        // The peer may be gone already: nothing to report.
        let _ = self.inner.io.get().shutdown(Shutdown::Write);
    }
}

impl ReadHalf<'_> {
    /// [`TcpStream::read`].
    ///
    /// # Errors
    ///
    /// As [`TcpStream::read`].
    ///
    /// # Examples
    ///
    /// See [`TcpStream::split`].
    pub async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf).await
    }

    /// [`TcpStream::read_exact`].
    ///
    /// # Errors
    ///
    /// As [`TcpStream::read_exact`].
    ///
    /// # Examples
    ///
    /// See [`TcpStream::split`].
    pub async fn read_exact(&self, buf: &mut [u8]) -> io::Result<()> {
        self.0.read_exact(buf).await
    }
}

impl WriteHalf<'_> {
    /// [`TcpStream::write`].
    ///
    /// # Errors
    ///
    /// As [`TcpStream::write`].
    ///
    /// # Examples
    ///
    /// See [`TcpStream::split`].
    pub async fn write(&self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf).await
    }

    /// [`TcpStream::write_all`].
    ///
    /// # Errors
    ///
    /// As [`TcpStream::write_all`].
    ///
    /// # Examples
    ///
    /// See [`TcpStream::split`].
    pub async fn write_all(&self, buf: &[u8]) -> io::Result<()> {
        self.0.write_all(buf).await
    }

    /// Shuts the write side down ([`TcpStream::shutdown`] with [`Shutdown::Write`]).
    ///
    /// # Errors
    ///
    /// As [`TcpStream::shutdown`].
    ///
    /// # Examples
    ///
    /// See [`TcpStream::split`].
    pub async fn shutdown(&self) -> io::Result<()> {
        self.0.shutdown(Shutdown::Write).await
    }
}

impl OwnedReadHalf {
    /// [`TcpStream::read`].
    ///
    /// # Errors
    ///
    /// As [`TcpStream::read`].
    ///
    /// # Examples
    ///
    /// See [`TcpStream::into_split`].
    pub async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).await
    }

    /// [`TcpStream::read_exact`].
    ///
    /// # Errors
    ///
    /// As [`TcpStream::read_exact`].
    ///
    /// # Examples
    ///
    /// See [`TcpStream::into_split`].
    pub async fn read_exact(&self, buf: &mut [u8]) -> io::Result<()> {
        self.inner.read_exact(buf).await
    }

    /// [`TcpStream::peer_addr`].
    ///
    /// # Errors
    ///
    /// As [`TcpStream::peer_addr`].
    ///
    /// # Examples
    ///
    /// See [`TcpStream::into_split`].
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.peer_addr()
    }

    /// [`TcpStream::local_addr`].
    ///
    /// # Errors
    ///
    /// As [`TcpStream::local_addr`].
    ///
    /// # Examples
    ///
    /// See [`TcpStream::into_split`].
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

impl OwnedWriteHalf {
    /// [`TcpStream::write`].
    ///
    /// # Errors
    ///
    /// As [`TcpStream::write`].
    ///
    /// # Examples
    ///
    /// See [`TcpStream::into_split`].
    pub async fn write(&self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf).await
    }

    /// [`TcpStream::write_all`].
    ///
    /// # Errors
    ///
    /// As [`TcpStream::write_all`].
    ///
    /// # Examples
    ///
    /// See [`TcpStream::into_split`].
    pub async fn write_all(&self, buf: &[u8]) -> io::Result<()> {
        self.inner.write_all(buf).await
    }

    /// Shuts the write side down ([`TcpStream::shutdown`] with [`Shutdown::Write`]).
    ///
    /// # Errors
    ///
    /// As [`TcpStream::shutdown`].
    ///
    /// # Examples
    ///
    /// See [`TcpStream::into_split`].
    pub async fn shutdown(&self) -> io::Result<()> {
        self.inner.shutdown(Shutdown::Write).await
    }

    /// [`TcpStream::peer_addr`].
    ///
    /// # Errors
    ///
    /// As [`TcpStream::peer_addr`].
    ///
    /// # Examples
    ///
    /// See [`TcpStream::into_split`].
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.peer_addr()
    }

    /// [`TcpStream::local_addr`].
    ///
    /// # Errors
    ///
    /// As [`TcpStream::local_addr`].
    ///
    /// # Examples
    ///
    /// See [`TcpStream::into_split`].
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}
