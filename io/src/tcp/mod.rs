//! TCP: [`TcpListener`] (with [`ListenOptions`]) and [`TcpStream`] with its halves.
//!
//! Every async operation is a cancellation point and a coop operation; the cancellation
//! safety of each is in its own docs and in [`listener`] and [`stream`]'s module docs. In
//! short: a dropped `accept` loses no connection, a dropped `read` loses no bytes, a dropped
//! `connect` closes its socket.

pub mod listener;
pub mod split;
pub mod stream;

pub use listener::{ListenOptions, TcpListener};
pub use split::{OwnedReadHalf, OwnedWriteHalf, ReadHalf, WriteHalf};
pub use stream::TcpStream;
