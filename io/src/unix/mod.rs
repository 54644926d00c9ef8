//! Unix domain sockets: [`UnixListener`] and [`UnixStream`] with its owned halves.
//!
//! # Cancellation
//!
//! As for TCP ([`crate::tcp`]): every async operation is a cancellation point and a coop
//! operation; a dropped `accept` loses no connection, a dropped `read` loses no bytes, a
//! dropped `write` wrote none, a dropped `connect` closes its socket; `read_exact` and
//! `write_all` are not restartable.

mod listener;
mod stream;

pub use listener::UnixListener;
pub use stream::{OwnedReadHalf, OwnedWriteHalf, UnixStream};
