//! creche-hyper: what hyper 1.x needs from a runtime, on creche.
//!
//! hyper brings no runtime of its own; a server built with it needs three things, which this
//! crate provides:
//!
//! - [`HyperIo`]: hyper's `rt::Read` / `rt::Write` for any creche stream (anything with
//!   futures-io's `AsyncRead + AsyncWrite`: `creche::net::TcpStream`, `UnixStream`, their
//!   owned halves).
//! - [`NurseryExecutor`]: hyper's `rt::Executor`, spawning each future as a child of a creche
//!   nursery. A server's accept loop uses it to run each connection, and hyper uses it for
//!   the tasks it spawns itself (HTTP/2). The connections are therefore children of the
//!   server's nursery: cancelling the scope around the server drops every connection (and its
//!   socket) at its next cancellation point, and the nursery does not return until they are
//!   all gone.
//! - [`CrecheTimer`]: hyper's `rt::Timer` on the runtime's clock (creche's `sleep`), so that
//!   hyper's timeouts (`header_read_timeout`, keep-alive) run on creche time, including a
//!   `MockClock` in tests. Its sleeps are [`CrecheSleep`]s, which hyper can reset in place.
//!
//! # Cancellation
//!
//! Every wait goes through a creche leaf operation: `HyperIo`'s reads and writes are the
//! socket's `poll_read` / `poll_write` (cancellation points and coop operations), and
//! `CrecheSleep` is creche's `Sleep`. A connection future dropped by a cancellation has
//! consumed nothing that it did not return to hyper: the socket reports bytes only in the poll
//! that returns them. A future handed to a [`NurseryExecutor`] whose nursery has closed (the
//! server's block has ended) is dropped at once: there is no server left to run it.
//!
//! # Example
//!
//! A hello-world server on creche, one request over a raw connection, then the server scope
//! is cancelled:
//!
//! ```
//! use creche_hyper::{CrecheTimer, HyperIo, NurseryExecutor};
//! use creche_io::{TcpListener, TcpStream};
//! use creche_nursery::{CancelScope, open_nursery};
//! use http_body_util::Full;
//! use hyper::body::Bytes;
//! use hyper::rt::Executor;
//! use hyper::server::conn::http1;
//! use hyper::service::service_fn;
//! use std::convert::Infallible;
//!
//! # let rt = creche_io::__doc_runtime();
//! # rt.block_on(async {
//! let listener = TcpListener::bind("127.0.0.1:0")?;
//! let addr = listener.local_addr()?;
//! let server = CancelScope::new();
//! let (_, response) = creche_nursery::join(
//!     server.run(open_nursery(|connections| async move {
//!         let executor = NurseryExecutor::new(connections);
//!         loop {
//!             let (stream, _) = listener.accept().await?;
//!             let service = service_fn(|_req| async {
//!                 Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from("hello"))))
//!             });
//!             let connection = http1::Builder::new()
//!                 .timer(CrecheTimer)
//!                 .serve_connection(HyperIo::new(stream), service);
//!             executor.execute(async move {
//!                 let _ = connection.await;
//!             });
//!         }
//!         #[allow(unreachable_code)]
//!         Ok::<(), std::io::Error>(())
//!     })),
//!     async {
//!         let stream = TcpStream::connect(addr).await?;
//!         stream.write_all(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").await?;
//!         let mut response = Vec::new();
//!         let mut buf = [0; 1024];
//!         loop {
//!             match stream.read(&mut buf).await? {
//!                 0 => break,
//!                 n => response.extend_from_slice(&buf[..n]),
//!             }
//!         }
//!         server.cancel();
//!         std::io::Result::Ok(String::from_utf8_lossy(&response).into_owned())
//!     },
//! )
//! .await;
//! let response = response?;
//! assert!(response.starts_with("HTTP/1.1 200 OK"));
//! assert!(response.ends_with("hello"));
//! # std::io::Result::Ok(()) }).unwrap();
//! ```

use creche_nursery::Nursery;
use hyper::rt::ReadBufCursor;
use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

/// Bytes read per `poll_read` at most (the size of the stack buffer a read goes through).
const READ_CHUNK: usize = 8 * 1024;

/// hyper's `rt::Read` and `rt::Write` for a creche stream `T` (any futures-io
/// `AsyncRead + AsyncWrite + Unpin`, such as `creche::net::TcpStream`).
///
/// Reads go through an initialized stack buffer of 8 KiB and are copied into hyper's buffer:
/// no `unsafe` code; a read returns at most 8 KiB. Writes are passed through unchanged.
///
/// # Examples
///
/// ```
/// use creche_hyper::HyperIo;
/// use hyper::rt::{Read, ReadBuf, Write};
/// use std::pin::Pin;
///
/// # let rt = creche_io::__doc_runtime();
/// # rt.block_on(async {
/// let listener = creche_io::TcpListener::bind("127.0.0.1:0")?;
/// let client = creche_io::TcpStream::connect(listener.local_addr()?).await?;
/// let (server, _) = listener.accept().await?;
/// let mut client = HyperIo::new(client);
/// let mut server = HyperIo::new(server);
/// std::future::poll_fn(|cx| Pin::new(&mut client).poll_write(cx, b"ping")).await?;
/// let mut storage = [0u8; 4];
/// let mut buf = ReadBuf::new(&mut storage);
/// while buf.filled().len() < 4 {
///     std::future::poll_fn(|cx| Pin::new(&mut server).poll_read(cx, buf.unfilled())).await?;
/// }
/// assert_eq!(buf.filled(), b"ping");
/// # std::io::Result::Ok(()) }).unwrap();
/// ```
#[derive(Debug)]
pub struct HyperIo<T> {
    inner: T,
}

impl<T> HyperIo<T> {
    /// Wraps `inner`.
    ///
    /// # Examples
    ///
    /// ```
    /// let io = creche_hyper::HyperIo::new(std::io::Cursor::new(Vec::<u8>::new()));
    /// assert!(io.get_ref().get_ref().is_empty());
    /// ```
    pub fn new(inner: T) -> HyperIo<T> {
        HyperIo { inner }
    }

    /// The wrapped stream.
    ///
    /// # Examples
    ///
    /// See [`HyperIo::new`].
    pub fn get_ref(&self) -> &T {
        &self.inner
    }

    /// The wrapped stream, mutably.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut io = creche_hyper::HyperIo::new(5);
    /// *io.get_mut() += 1;
    /// assert_eq!(io.into_inner(), 6);
    /// ```
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.inner
    }

    /// Unwraps the stream.
    ///
    /// # Examples
    ///
    /// See [`HyperIo::get_mut`].
    pub fn into_inner(self) -> T {
        self.inner
    }
}

impl<T: futures_io::AsyncRead + Unpin> hyper::rt::Read for HyperIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let mut chunk = [0u8; READ_CHUNK];
        let len = buf.remaining().min(READ_CHUNK);
        let n = ready!(Pin::new(&mut self.get_mut().inner).poll_read(cx, &mut chunk[..len]))?;
        buf.put_slice(&chunk[..n]);
        Poll::Ready(Ok(()))
    }
}

impl<T: futures_io::AsyncWrite + Unpin> hyper::rt::Write for HyperIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_close(cx)
    }
}

/// hyper's `rt::Executor` backed by a creche nursery: each future becomes a child of the
/// nursery (see the [crate documentation](crate) for what that means for cancellation). A
/// future given to it after the nursery has closed is dropped.
///
/// # Examples
///
/// ```
/// use creche_hyper::NurseryExecutor;
/// use hyper::rt::Executor;
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
///
/// # let rt = creche_timer::__doc_runtime();
/// # rt.block_on(async {
/// let ran = Arc::new(AtomicUsize::new(0));
/// let counter = ran.clone();
/// creche_nursery::open_nursery(|n| async move {
///     let executor = NurseryExecutor::new(n);
///     for _ in 0..3 {
///         let counter = counter.clone();
///         executor.execute(async move {
///             counter.fetch_add(1, Ordering::SeqCst);
///         });
///     }
///     Ok::<_, ()>(())
/// })
/// .await
/// .unwrap();
/// assert_eq!(ran.load(Ordering::SeqCst), 3); // the nursery waited for its children
/// # });
/// ```
pub struct NurseryExecutor<E> {
    nursery: Nursery<E>,
}

impl<E> NurseryExecutor<E> {
    /// An executor that spawns into `nursery`.
    ///
    /// # Examples
    ///
    /// See [`NurseryExecutor`].
    pub fn new(nursery: Nursery<E>) -> NurseryExecutor<E> {
        NurseryExecutor { nursery }
    }

    /// The nursery it spawns into.
    ///
    /// # Examples
    ///
    /// ```
    /// # let rt = creche_timer::__doc_runtime();
    /// # rt.block_on(async {
    /// creche_nursery::open_nursery(|n| async move {
    ///     let executor = creche_hyper::NurseryExecutor::new(n);
    ///     let child = executor.nursery().spawn(async { Ok::<_, ()>(7) });
    ///     assert_eq!(child.join().await, Ok(7));
    ///     Ok(())
    /// })
    /// .await
    /// .unwrap();
    /// # });
    /// ```
    pub fn nursery(&self) -> &Nursery<E> {
        &self.nursery
    }
}

impl<E> Clone for NurseryExecutor<E> {
    fn clone(&self) -> Self {
        NurseryExecutor {
            nursery: self.nursery.clone(),
        }
    }
}

impl<E> fmt::Debug for NurseryExecutor<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NurseryExecutor")
            .field("nursery", &self.nursery)
            .finish()
    }
}

impl<E, F> hyper::rt::Executor<F> for NurseryExecutor<E>
where
    E: Send + 'static,
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, future: F) {
        // A closed nursery: the server's block has ended, so the future is dropped (it would
        // be cancelled at once anyway).
        let _ = self.nursery.try_spawn(async move {
            future.await;
            Ok(())
        });
    }
}

/// hyper's `rt::Timer` on the current creche runtime's clock.
///
/// `sleep(d)` is creche's [`sleep`](creche_timer::sleep); `sleep_until(t)` takes hyper's
/// `std::time::Instant` deadline as the duration from now on the wall clock, and sleeps that
/// long on the runtime's clock (the same instant on the system clock; on a `MockClock`, the
/// same duration). Both must be called on a runtime thread (hyper calls them from the
/// connection's poll).
///
/// # Examples
///
/// ```
/// use creche_hyper::CrecheTimer;
/// use hyper::rt::Timer;
/// use std::time::Duration;
///
/// let rt = creche_timer::__doc_runtime(); // a MockClock with autojump
/// rt.block_on(async {
///     let start = creche_timer::current_time();
///     CrecheTimer.sleep(Duration::from_secs(30)).await;
///     assert_eq!(creche_timer::current_time() - start, Duration::from_secs(30));
/// });
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct CrecheTimer;

impl CrecheTimer {
    /// The creche deadline `deadline` stands for: now on the runtime's clock plus what is left
    /// of `deadline` on the wall clock.
    fn deadline(deadline: std::time::Instant) -> creche_timer::Instant {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        creche_timer::current_time() + left
    }
}

impl hyper::rt::Timer for CrecheTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(CrecheSleep {
            sleep: creche_timer::sleep(duration),
        })
    }

    fn sleep_until(&self, deadline: std::time::Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(CrecheSleep {
            sleep: creche_timer::sleep_until(Self::deadline(deadline)),
        })
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn hyper::rt::Sleep>>, new_deadline: std::time::Instant) {
        match sleep.as_mut().downcast_mut_pin::<CrecheSleep>() {
            Some(mut ours) => ours.sleep.reset(Self::deadline(new_deadline)),
            None => *sleep = self.sleep_until(new_deadline),
        }
    }
}

/// The sleep of [`CrecheTimer`]: creche's `Sleep` (a cancellation point on the runtime's
/// timer), as hyper's `rt::Sleep`. [`CrecheTimer`]'s `reset` moves its deadline in place.
///
/// # Examples
///
/// ```
/// use creche_hyper::{CrecheSleep, CrecheTimer};
/// use hyper::rt::Timer;
/// use std::time::{Duration, Instant};
///
/// # let rt = creche_timer::__doc_runtime();
/// # rt.block_on(async {
/// let mut sleep = CrecheTimer.sleep(Duration::from_secs(60));
/// assert!(sleep.is::<CrecheSleep>());
/// let start = creche_timer::current_time();
/// CrecheTimer.reset(&mut sleep, Instant::now() + Duration::from_secs(5));
/// sleep.await;
/// let slept = creche_timer::current_time() - start;
/// assert!(slept <= Duration::from_secs(5) && slept > Duration::from_secs(4));
/// # });
/// ```
#[derive(Debug)]
pub struct CrecheSleep {
    sleep: creche_timer::Sleep,
}

impl Future for CrecheSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.sleep).poll(cx)
    }
}

impl hyper::rt::Sleep for CrecheSleep {}
