//! [`IoSource`]: a non-blocking std socket registered with the reactor, and the two ways an
//! operation waits on it: an [`Op`] future (the inherent async methods; its waker slot is its
//! own and is freed when it is dropped) and [`IoSource::poll_io`] (the `poll_*` trait methods;
//! one shared slot per direction).
//!
//! Every operation, at each poll, first checks cancellation (a cancelled context gets
//! `Pending`: the scope that was cancelled wakes the task and drops the operation), then takes
//! a unit of coop budget, then loops: wait for readiness, try the syscall, and on `WouldBlock`
//! clear the readiness (see the protocol in [`crate::readiness`]). The syscall's result is
//! returned in the same poll that made it, so a dropped operation has consumed nothing.

use crate::driver::{IoHandle, Registration};
use crate::readiness::{Direction, Waiter};
use creche_runtime::coop;
use std::fmt;
use std::future::Future;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

/// A registered, non-blocking `T`; deregistered (before `T` closes) when dropped.
pub(crate) struct IoSource<T: AsFd> {
    /// `Some` until `into_inner` or `Drop` takes it.
    io: Option<T>,
    registration: Registration,
}

impl<T: AsFd + fmt::Debug> fmt::Debug for IoSource<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IoSource")
            .field("io", &self.io)
            .field("readiness", &self.registration.readiness)
            .finish()
    }
}

impl<T: AsFd + AsRawFd> IoSource<T> {
    /// Registers `io` (already non-blocking) with the current runtime's reactor.
    pub(crate) fn new(io: T) -> io::Result<IoSource<T>> {
        let handle = IoHandle::try_current()?;
        let registration = handle.reactor.register(&io)?;
        Ok(IoSource {
            io: Some(io),
            registration,
        })
    }
}

impl<T: AsFd> IoSource<T> {
    /// The socket.
    pub(crate) fn get(&self) -> &T {
        self.io.as_ref().expect("present until dropped")
    }

    /// Deregisters and returns the socket (still non-blocking).
    pub(crate) fn into_inner(mut self) -> T {
        let io = self.io.take().expect("present until dropped");
        self.registration.deregister(&io);
        io
    }

    /// An operation that waits for `direction` and runs `f` until it does not block.
    pub(crate) fn op<F, R>(&self, direction: Direction, f: F) -> Op<'_, T, F>
    where
        F: FnMut(&T) -> io::Result<R> + Unpin,
    {
        Op {
            source: self,
            direction,
            key: None,
            f,
        }
    }

    /// The poll form of [`op`](IoSource::op), for the `poll_*` trait methods.
    pub(crate) fn poll_io<R>(
        &self,
        direction: Direction,
        cx: &mut Context<'_>,
        mut f: impl FnMut(&T) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        if creche_runtime::cancel::is_cancelled() {
            return Poll::Pending;
        }
        let progress = ready!(coop::poll_proceed(cx));
        let readiness = &self.registration.readiness;
        loop {
            let tick = ready!(readiness.poll_ready(direction, Waiter::Poll, cx));
            match f(self.get()) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => readiness.clear(direction, tick),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                result => {
                    progress.made_progress();
                    return Poll::Ready(result);
                }
            }
        }
    }
}

impl<T: AsFd> IoSource<T>
where
    for<'a> &'a T: Read + Write,
{
    /// `poll_read` for the stream types.
    pub(crate) fn poll_read(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_io(Direction::Read, cx, |mut io| io.read(buf))
    }

    /// `poll_write` for the stream types.
    pub(crate) fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.poll_io(Direction::Write, cx, |mut io| io.write(buf))
    }

    /// Reads into `buf`; see the stream types' `read`.
    pub(crate) async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.op(Direction::Read, |mut io: &T| io.read(buf)).await
    }

    /// Writes from `buf`; see the stream types' `write`.
    pub(crate) async fn write(&self, buf: &[u8]) -> io::Result<usize> {
        self.op(Direction::Write, |mut io: &T| io.write(buf)).await
    }

    /// Fills `buf`; see the stream types' `read_exact`.
    pub(crate) async fn read_exact(&self, mut buf: &mut [u8]) -> io::Result<()> {
        while !buf.is_empty() {
            match self.read(buf).await? {
                0 => return Err(io::ErrorKind::UnexpectedEof.into()),
                n => buf = &mut buf[n..],
            }
        }
        Ok(())
    }

    /// Writes all of `buf`; see the stream types' `write_all`.
    pub(crate) async fn write_all(&self, mut buf: &[u8]) -> io::Result<()> {
        while !buf.is_empty() {
            match self.write(buf).await? {
                0 => return Err(io::ErrorKind::WriteZero.into()),
                n => buf = &buf[n..],
            }
        }
        Ok(())
    }
}

impl<T: AsFd> Drop for IoSource<T> {
    fn drop(&mut self) {
        if let Some(io) = self.io.take() {
            self.registration.deregister(&io);
            drop(io); // closes the descriptor, after the deregistration
        }
    }
}

/// The future of an operation on an [`IoSource`]; see the [module documentation](self).
pub(crate) struct Op<'a, T: AsFd, F> {
    source: &'a IoSource<T>,
    direction: Direction,
    /// This operation's waker slot, once it has waited.
    key: Option<usize>,
    f: F,
}

impl<T: AsFd, F> fmt::Debug for Op<'_, T, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Op")
            .field("direction", &self.direction)
            .finish_non_exhaustive()
    }
}

impl<T: AsFd, F, R> Future for Op<'_, T, F>
where
    F: FnMut(&T) -> io::Result<R> + Unpin,
{
    type Output = io::Result<R>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<R>> {
        if creche_runtime::cancel::is_cancelled() {
            return Poll::Pending; // the scope that was cancelled wakes the task and drops us
        }
        let progress = ready!(coop::poll_proceed(cx));
        let this = self.get_mut();
        let readiness = &this.source.registration.readiness;
        loop {
            let waiter = Waiter::Keyed(&mut this.key);
            let tick = ready!(readiness.poll_ready(this.direction, waiter, cx));
            match (this.f)(this.source.get()) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    readiness.clear(this.direction, tick)
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                result => {
                    progress.made_progress();
                    return Poll::Ready(result);
                }
            }
        }
    }
}

impl<T: AsFd, F> Drop for Op<'_, T, F> {
    fn drop(&mut self) {
        if let Some(key) = self.key {
            self.source
                .registration
                .readiness
                .remove_waiter(self.direction, key);
        }
    }
}

/// An operation that never waits for readiness (`shutdown`, `flush`), still a cancellation
/// point and a coop operation: runs `f` once the poll may proceed.
pub(crate) async fn immediate<R>(f: impl FnOnce() -> R) -> R {
    let mut f = Some(f);
    std::future::poll_fn(move |cx| {
        if creche_runtime::cancel::is_cancelled() {
            return Poll::Pending;
        }
        ready!(coop::poll_proceed(cx)).made_progress();
        Poll::Ready((f.take().expect("polled after completion"))())
    })
    .await
}
