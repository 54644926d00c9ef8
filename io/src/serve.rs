//! [`serve_tcp`]: accept connections on listeners forever, one child task per connection.
//!
//! # Structure
//!
//! `serve_tcp` opens one nursery. Its body spawns one accept loop per listener, then reports
//! the listeners' addresses through the [`TaskStatus`] (so `nursery.start(|status|
//! serve_tcp(handler, listeners, status))` returns them once every loop is spawned). Each accept loop
//! spawns the handler of every accepted connection as a child of that same nursery. So:
//!
//! - cancelling the scope around `serve_tcp` (or the nursery it was started into) stops every
//!   accept loop and cancels every connection's handler (each is dropped at its next
//!   cancellation point, which drops and closes its stream); nothing outlives `serve_tcp`;
//! - a handler that panics takes the server down with it (the nursery cancels the rest and
//!   resumes the panic in `serve_tcp`'s caller): handle errors inside the handler.
//!
//! # Accept errors
//!
//! - Out of resources (`EMFILE`, `ENFILE`, `ENOBUFS`, `ENOMEM`): the loop reports an
//!   [`IoEvent::AcceptBackoff`] through the io event hook, sleeps [`ACCEPT_BACKOFF`] (100 ms)
//!   and accepts again. It neither dies nor spins; the connection waits in the backlog, and
//!   once a handler finishes and frees its descriptor, serving resumes.
//! - The connection went away before it was accepted (`ECONNABORTED`, `ECONNRESET`, `EPROTO`,
//!   `EPERM` from a firewall, `EINTR`): the loop accepts the next one at once.
//! - Anything else is returned: `serve_tcp` fails with it, and its nursery cancels the other
//!   loops and every connection first.

use crate::events::{self, IoEvent};
use creche_nursery::{Nursery, TaskStatus, open_nursery};
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// How long an accept loop sleeps after an accept failed for lack of resources.
pub const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Something that accepts connections: what [`serve_tcp`] serves. creche's `TcpListener`
/// implements it; tests implement it to script accept errors.
///
/// # Examples
///
/// A listener that hands out numbers:
///
/// ```
/// use creche_io::Listener;
/// use std::{io, net::SocketAddr, sync::atomic::{AtomicU32, Ordering}};
///
/// struct Numbers(AtomicU32);
/// impl Listener for Numbers {
///     type Stream = u32;
///     async fn accept(&self) -> io::Result<u32> {
///         Ok(self.0.fetch_add(1, Ordering::Relaxed))
///     }
///     fn local_addr(&self) -> io::Result<SocketAddr> {
///         Ok(SocketAddr::from(([127, 0, 0, 1], 1)))
///     }
/// }
/// # let rt = creche_timer::__doc_runtime();
/// # rt.block_on(async {
/// let numbers = Numbers(AtomicU32::new(7));
/// assert_eq!(numbers.accept().await.unwrap(), 7);
/// # });
/// ```
pub trait Listener: Send + Sync + 'static {
    /// An accepted connection.
    type Stream: Send + 'static;

    /// Waits for the next connection.
    ///
    /// # Errors
    ///
    /// The accept's error; see [`serve_tcp`] for what it does with each.
    fn accept(&self) -> impl Future<Output = io::Result<Self::Stream>> + Send;

    /// The address the listener is bound to.
    ///
    /// # Errors
    ///
    /// If the system cannot tell.
    fn local_addr(&self) -> io::Result<SocketAddr>;
}

/// Serves `listeners` until cancelled: accepts connections on every listener and runs
/// `handler(stream)` for each in its own child task. Reports the listeners' addresses through
/// `status` once every accept loop is spawned (pass [`TaskStatus::ignored()`] when not started with
/// `Nursery::start`). See the `serve` module docs (repeated in ARCHITECTURE.md) for the
/// structure and the accept errors it survives.
///
/// # Errors
///
/// An accept error that is neither a lack of resources nor a vanished connection (the other
/// loops and every connection are cancelled first), the listeners' `local_addr` error, or
/// `InvalidInput` if `listeners` is empty. It never returns otherwise.
///
/// # Panics
///
/// Resumes a handler's panic (after cancelling everything else).
///
/// # Examples
///
/// ```
/// use creche_io::{Listener, serve_tcp};
/// use creche_nursery::{open_nursery, TaskStatus};
/// use std::{io, net::SocketAddr, sync::{Arc, Mutex}};
///
/// // A listener with three queued "connections"; then nothing more ever arrives.
/// struct Queue(Mutex<Vec<&'static str>>);
/// impl Listener for Queue {
///     type Stream = &'static str;
///     async fn accept(&self) -> io::Result<&'static str> {
///         let next = self.0.lock().unwrap().pop();
///         match next {
///             Some(conn) => Ok(conn),
///             None => std::future::pending().await,
///         }
///     }
///     fn local_addr(&self) -> io::Result<SocketAddr> { Ok("127.0.0.1:9".parse().unwrap()) }
/// }
/// # let rt = creche_timer::__doc_runtime();
/// # rt.block_on(async {
/// let served = Arc::new(Mutex::new(Vec::new()));
/// let log = served.clone();
/// let queue = Queue(Mutex::new(vec!["c", "b", "a"]));
/// let handler = move |conn| {
///     let log = log.clone();
///     async move { log.lock().unwrap().push(conn) }
/// };
/// open_nursery(|n| async move {
///     let addrs = n.start(|status| serve_tcp(handler, vec![queue], status)).await.unwrap();
///     assert_eq!(addrs, vec!["127.0.0.1:9".parse::<SocketAddr>().unwrap()]);
///     creche_timer::sleep(std::time::Duration::from_secs(1)).await;
///     n.cancel_scope().cancel(); // stops the server
///     Ok::<_, io::Error>(())
/// }).await.unwrap();
/// let mut served = served.lock().unwrap().clone();
/// served.sort();
/// assert_eq!(served, ["a", "b", "c"]);
/// # });
/// ```
pub async fn serve_tcp<L, H, Fut>(
    handler: H,
    listeners: Vec<L>,
    status: TaskStatus<Vec<SocketAddr>>,
) -> io::Result<Infallible>
where
    L: Listener,
    H: Fn(L::Stream) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    if listeners.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "serve_tcp: no listener to serve",
        ));
    }
    let addrs = listeners
        .iter()
        .map(Listener::local_addr)
        .collect::<io::Result<Vec<_>>>()?;
    let handler = Arc::new(handler);
    let outcome = open_nursery(|connections: Nursery<io::Error>| async move {
        for (listener, addr) in listeners.into_iter().zip(&addrs) {
            let lp = accept_loop(listener, *addr, handler.clone(), connections.clone());
            connections.spawn(lp);
        }
        status.started(addrs);
        Ok(())
    })
    .await;
    match outcome {
        Err(error) => Err(error),
        // The loops end only with an error, and nobody else holds this nursery's own scope: it
        // ended because the caller's context was cancelled. Wait at a cancellation point, which
        // the cancelled context never lets complete (the caller's scope drops us).
        Ok(_) => loop {
            creche_timer::sleep_forever().await;
        },
    }
}

/// Accepts on `listener` until an error that is not survivable; each connection's handler runs
/// as a child of `connections`.
async fn accept_loop<L, H, Fut>(
    listener: L,
    local_addr: SocketAddr,
    handler: Arc<H>,
    connections: Nursery<io::Error>,
) -> io::Result<Infallible>
where
    L: Listener,
    H: Fn(L::Stream) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    loop {
        match listener.accept().await {
            Ok(stream) => {
                let serve = handler(stream);
                connections.spawn(async move {
                    serve.await;
                    Ok(())
                });
            }
            Err(error) if out_of_resources(&error) => {
                events::emit(&IoEvent::AcceptBackoff {
                    local_addr: Some(local_addr),
                    error: &error,
                    retry_in: ACCEPT_BACKOFF,
                });
                creche_timer::sleep(ACCEPT_BACKOFF).await;
            }
            Err(error) if connection_vanished(&error) => {}
            Err(error) => return Err(error),
        }
    }
}

/// `EMFILE`, `ENFILE`, `ENOBUFS`, `ENOMEM` (or an `OutOfMemory` error without an OS code).
fn out_of_resources(error: &io::Error) -> bool {
    match error.raw_os_error() {
        Some(code) => [libc::EMFILE, libc::ENFILE, libc::ENOBUFS, libc::ENOMEM].contains(&code),
        None => error.kind() == io::ErrorKind::OutOfMemory,
    }
}

/// The connection went away before it was accepted, or the call was interrupted.
fn connection_vanished(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
    ) || matches!(error.raw_os_error(), Some(code) if code == libc::EPROTO || code == libc::EPERM)
}
