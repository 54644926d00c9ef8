//! creche-io: the reactor and sockets.
//!
//! This crate will own the `polling`-based reactor (`IoDriver`, an implementation of the
//! runtime's `Park`), TCP/UDP/Unix sockets, DNS on the blocking pool, happy eyeballs and
//! `serve_tcp` (see DESIGN §6). So far it holds [`lookup_host`] (DNS on the blocking pool) and
//! happy eyeballs ([`OpenTcpStream`]) over an injectable [`Resolver`] and [`Connector`].

mod happy_eyeballs;
mod lookup;

pub use happy_eyeballs::{
    ConnectError, Connector, DEFAULT_ATTEMPT_DELAY, OpenTcpStream, Resolver, SystemResolver,
};
pub use lookup::{LookupHost, lookup_host};
