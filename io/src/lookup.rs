//! [`lookup_host`]: name resolution on the runtime's blocking pool.
//!
//! The system resolver (`getaddrinfo`, through `std::net::ToSocketAddrs`) blocks its thread, so
//! it runs on the blocking pool and the task awaits the pool's join handle. A host that is an IP
//! literal (`"127.0.0.1"`, `"::1"`, `"[::1]"`) resolves to itself without the pool.
//!
//! # Cancellation
//!
//! [`LookupHost`] is a cancellation point: in a cancelled context it does not complete, even if
//! the answer is there, and the scope that was cancelled drops it. The blocking call itself
//! cannot be interrupted: a dropped lookup lets it finish on its pool thread and throws the
//! answer away (nothing is acquired, so nothing leaks). Each poll takes one unit of coop budget.

use creche_runtime::JoinHandle;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

/// Resolves `host` (a name or an IP literal) to the socket addresses for `port`, in the order
/// the system resolver gives them. A name is resolved by the system resolver on the runtime's
/// blocking pool; an IP literal (an IPv6 one with or without brackets) resolves at once to
/// itself. The future is a cancellation point.
///
/// # Errors
///
/// The resolver's error (an unknown name gives an error whose text comes from the system), or an
/// error of kind `Other` if the blocking task panicked or the runtime shut down under it.
///
/// # Panics
///
/// When a name (not an IP literal) is looked up outside a runtime (the blocking pool is the
/// runtime's); an IP literal needs no runtime.
///
/// # Examples
///
/// ```
/// # let rt = creche_timer::__doc_runtime();
/// # rt.block_on(async {
/// let literal = creche_io::lookup_host("::1", 80).await.unwrap();
/// assert_eq!(literal, vec!["[::1]:80".parse().unwrap()]);
/// let named = creche_io::lookup_host("localhost", 8080).await.unwrap();
/// assert!(named.iter().all(|a| a.ip().is_loopback() && a.port() == 8080));
/// # });
/// ```
pub fn lookup_host(host: &str, port: u16) -> LookupHost {
    let unbracketed = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let state = match unbracketed.parse::<IpAddr>() {
        Ok(ip) => State::Done(Some(Ok(vec![SocketAddr::new(ip, port)]))),
        Err(_) => {
            let runtime = match creche_runtime::Handle::try_current() {
                Ok(runtime) => runtime,
                Err(e) => panic!("creche::net::lookup_host({host:?}) needs the blocking pool: {e}"),
            };
            let host = host.to_owned();
            State::Pool(runtime.spawn_blocking(move || {
                (host.as_str(), port)
                    .to_socket_addrs()
                    .map(|addrs| addrs.collect())
            }))
        }
    };
    LookupHost { state }
}

/// The future of [`lookup_host`].
///
/// # Examples
///
/// See [`lookup_host`].
#[must_use = "futures do nothing unless polled"]
pub struct LookupHost {
    state: State,
}

enum State {
    /// An IP literal: the answer, until it is taken.
    Done(Option<io::Result<Vec<SocketAddr>>>),
    /// A name, being resolved on the blocking pool.
    Pool(JoinHandle<io::Result<Vec<SocketAddr>>>),
}

impl fmt::Debug for LookupHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            State::Done(_) => "literal",
            State::Pool(_) => "on the blocking pool",
        };
        f.debug_struct("LookupHost").field("state", &state).finish()
    }
}

impl Future for LookupHost {
    type Output = io::Result<Vec<SocketAddr>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if creche_runtime::cancel::is_cancelled() {
            return Poll::Pending; // the scope that was cancelled wakes the task and drops us
        }
        match &mut self.state {
            State::Done(answer) => {
                let progress = ready!(creche_runtime::coop::poll_proceed(cx));
                progress.made_progress();
                Poll::Ready(answer.take().expect("LookupHost polled after completion"))
            }
            // The join handle spends the budget unit itself.
            State::Pool(join) => Poll::Ready(match ready!(Pin::new(join).poll(cx)) {
                Ok(answer) => answer,
                Err(e) => Err(io::Error::other(format!("the lookup task failed: {e}"))),
            }),
        }
    }
}
