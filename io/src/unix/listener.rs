//! [`UnixListener`].

use crate::readiness::Direction;
use crate::source::IoSource;
use crate::unix::UnixStream;
use std::fmt;
use std::io;
use std::os::unix::net::SocketAddr;
use std::path::Path;

/// A Unix domain socket that listens for connections.
///
/// # Examples
///
/// ```
/// use creche_io::{UnixListener, UnixStream};
/// # let rt = creche_io::__doc_runtime();
/// # rt.block_on(async {
/// let dir = std::env::temp_dir().join(format!("creche-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let path = dir.join("listener.sock");
/// # let _ = std::fs::remove_file(&path);
/// let listener = UnixListener::bind(&path)?;
/// let client = UnixStream::connect(&path).await?;
/// let (server, _) = listener.accept().await?;
/// client.write_all(b"hey").await?;
/// let mut buf = [0; 3];
/// server.read_exact(&mut buf).await?;
/// assert_eq!(&buf, b"hey");
/// std::fs::remove_file(&path)?;
/// # std::io::Result::Ok(()) }).unwrap();
/// ```
pub struct UnixListener {
    io: IoSource<std::os::unix::net::UnixListener>,
}

impl fmt::Debug for UnixListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixListener")
            .field("local_addr", &self.local_addr().ok())
            .finish()
    }
}

impl UnixListener {
    /// Creates the socket file at `path` and listens on it (the file stays after the listener
    /// is dropped, as with std).
    ///
    /// # Errors
    ///
    /// What the OS says (the file exists, ...); [`NoReactor`](crate::NoReactor) outside a
    /// runtime.
    ///
    /// # Examples
    ///
    /// See [`UnixListener`].
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixListener> {
        crate::IoHandle::try_current()?;
        UnixListener::from_std(std::os::unix::net::UnixListener::bind(path)?)
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
    /// let path = std::env::temp_dir().join(format!("creche-doc-fs-{}.sock", std::process::id()));
    /// # let _ = std::fs::remove_file(&path);
    /// let std_listener = std::os::unix::net::UnixListener::bind(&path)?;
    /// let listener = creche_io::UnixListener::from_std(std_listener)?;
    /// assert_eq!(listener.local_addr()?.as_pathname(), Some(path.as_path()));
    /// std::fs::remove_file(&path)?;
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn from_std(listener: std::os::unix::net::UnixListener) -> io::Result<UnixListener> {
        listener.set_nonblocking(true)?;
        Ok(UnixListener {
            io: IoSource::new(listener)?,
        })
    }

    /// Waits for a connection. A cancellation point and a coop operation; dropping it loses
    /// no connection.
    ///
    /// # Errors
    ///
    /// What `accept` says; the registration of the new stream.
    ///
    /// # Examples
    ///
    /// See [`UnixListener`].
    pub async fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        let (stream, peer) = self.io.op(Direction::Read, |l| l.accept()).await?;
        Ok((UnixStream::from_std(stream)?, peer))
    }

    /// The address the listener is bound to.
    ///
    /// # Errors
    ///
    /// What `getsockname` says.
    ///
    /// # Examples
    ///
    /// See [`from_std`](UnixListener::from_std).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get().local_addr()
    }
}

impl std::os::fd::AsFd for UnixListener {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.io.get().as_fd()
    }
}
