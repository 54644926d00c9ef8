//! creche-io: the reactor and sockets.
//!
//! [`IoDriver`] is the runtime's park for I/O: one `polling::Poller` (epoll, kqueue), whose
//! notify is the unpark; the facade puts it under the timer driver
//! (`TimerDriver<IoDriver>`) and installs its [`IoHandle`] as a runtime extension, through which
//! sockets register. The sockets — [`TcpListener`], [`TcpStream`], [`UdpSocket`],
//! [`UnixListener`], [`UnixStream`] — have inherent async methods that are cancellation
//! points and coop operations, and implement `futures_io::AsyncRead`/`AsyncWrite` (and
//! tokio's, with the `tokio` feature). Unix only.
//!
//! On top of them: [`lookup_host`] (DNS on the blocking pool), happy eyeballs
//! ([`open_tcp_stream`], [`OpenTcpStream`] with an injectable [`Resolver`] and [`Connector`]),
//! [`open_tcp_listeners`], [`serve_tcp`] over any [`Listener`], and the io event hook
//! ([`set_io_event_hook`]).
//!
//! ```
//! use creche_io::{TcpListener, TcpStream};
//! # let rt = creche_io::__doc_runtime();
//! # rt.block_on(async {
//! let listener = TcpListener::bind("127.0.0.1:0")?;
//! let addr = listener.local_addr()?;
//! let client = creche_runtime::spawn(async move {
//!     let stream = TcpStream::connect(addr).await?;
//!     stream.write_all(b"ping").await
//! });
//! let (stream, _) = listener.accept().await?;
//! let mut buf = [0; 4];
//! stream.read_exact(&mut buf).await?;
//! assert_eq!(&buf, b"ping");
//! client.await.unwrap()?;
//! # std::io::Result::Ok(()) }).unwrap();
//! ```

pub mod driver;
mod events;
mod happy_eyeballs;
mod lookup;
#[cfg(all(loom, test))]
mod loom_tests;
mod primitives;
mod readiness;
mod serve;
mod source;
pub mod tcp;
mod tcp_glue;
mod traits;
pub mod udp;
pub mod unix;
mod wakeup;

pub use driver::{IoDriver, IoHandle, NoReactor};
pub use events::{IoEvent, IoEventHook, set_io_event_hook};
pub use happy_eyeballs::{
    ConnectError, Connector, DEFAULT_ATTEMPT_DELAY, OpenTcpStream, Resolver, SystemResolver,
};
pub use lookup::{LookupHost, lookup_host};
pub use serve::{ACCEPT_BACKOFF, Listener, serve_tcp};
pub use tcp::{ListenOptions, TcpListener, TcpStream};
pub use tcp_glue::{LISTEN_BACKLOG, TcpConnector, open_tcp_listeners, open_tcp_stream};
pub use udp::UdpSocket;
pub use unix::{UnixListener, UnixStream};

/// A two-worker runtime with the I/O driver under the timer driver (system clock), for this
/// crate's doc examples.
#[doc(hidden)]
pub fn __doc_runtime() -> creche_runtime::Runtime {
    let driver = IoDriver::new().expect("a poller");
    let builder = creche_runtime::Builder::new()
        .worker_threads(2)
        .extension(driver.handle());
    creche_timer::build_runtime_with_park(
        builder,
        driver,
        std::sync::Arc::new(creche_timer::SystemClock),
    )
    .expect("doc runtime builds")
}
