//! The poll-based io traits on the stream types: `futures_io::AsyncRead`/`AsyncWrite` always,
//! tokio's with the `tokio` feature. Each impl calls the stream's registered source
//! (`IoSource::poll_read`/`poll_write`: a cancellation point and a coop operation, with one
//! waker slot per direction, the last poller's). `poll_flush` is a no-op (sockets have no
//! buffer of their own); `poll_close` (`poll_shutdown`) shuts the write side down.

use crate::tcp::{OwnedReadHalf, OwnedWriteHalf, ReadHalf, TcpStream, WriteHalf};
use crate::unix::{
    OwnedReadHalf as UnixOwnedReadHalf, OwnedWriteHalf as UnixOwnedWriteHalf, UnixStream,
};
use std::io;
use std::net::Shutdown;
use std::pin::Pin;
use std::task::{Context, Poll};

/// `AsyncRead` for `$ty`, whose source `$this => $source` names.
macro_rules! impl_read {
    ($ty:ty, $this:ident => $source:expr) => {
        impl futures_io::AsyncRead for $ty {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut [u8],
            ) -> Poll<io::Result<usize>> {
                let $this = &*self;
                $source.poll_read(cx, buf)
            }
        }

        #[cfg(feature = "tokio")]
        impl tokio::io::AsyncRead for $ty {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut tokio::io::ReadBuf<'_>,
            ) -> Poll<io::Result<()>> {
                let $this = &*self;
                let n = std::task::ready!($source.poll_read(cx, buf.initialize_unfilled()))?;
                buf.advance(n);
                Poll::Ready(Ok(()))
            }
        }
    };
}

/// `AsyncWrite` for `$ty`, whose source `$this => $source` names.
macro_rules! impl_write {
    ($ty:ty, $this:ident => $source:expr) => {
        impl futures_io::AsyncWrite for $ty {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                let $this = &*self;
                $source.poll_write(cx, buf)
            }

            fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(Ok(()))
            }

            fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
                let $this = &*self;
                Poll::Ready($source.get().shutdown(Shutdown::Write))
            }
        }

        #[cfg(feature = "tokio")]
        impl tokio::io::AsyncWrite for $ty {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                let $this = &*self;
                $source.poll_write(cx, buf)
            }

            fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(Ok(()))
            }

            fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
                let $this = &*self;
                Poll::Ready($source.get().shutdown(Shutdown::Write))
            }
        }
    };
}

impl_read!(TcpStream, s => s.io);
impl_write!(TcpStream, s => s.io);
impl_read!(ReadHalf<'_>, s => s.0.io);
impl_write!(WriteHalf<'_>, s => s.0.io);
impl_read!(OwnedReadHalf, s => s.inner.io);
impl_write!(OwnedWriteHalf, s => s.inner.io);

impl_read!(UnixStream, s => s.io);
impl_write!(UnixStream, s => s.io);
impl_read!(UnixOwnedReadHalf, s => s.inner.io);
impl_write!(UnixOwnedWriteHalf, s => s.inner.io);
