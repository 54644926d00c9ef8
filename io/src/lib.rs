//! creche-io: the reactor and sockets.
//!
//! This crate will own the `polling`-based reactor (`IoDriver`, an implementation of the
//! runtime's `Park`), TCP/UDP/Unix sockets, DNS on the blocking pool, happy eyeballs and
//! `serve_tcp` (see DESIGN §6). So far it holds [`lookup_host`] (DNS on the blocking pool),
//! happy eyeballs ([`OpenTcpStream`]) over an injectable [`Resolver`] and [`Connector`],
//! [`serve_tcp`] over any [`Listener`], and the io event hook ([`set_io_event_hook`]).

mod events;
mod happy_eyeballs;
mod lookup;
mod serve;

pub use events::{IoEvent, IoEventHook, set_io_event_hook};
pub use happy_eyeballs::{
    ConnectError, Connector, DEFAULT_ATTEMPT_DELAY, OpenTcpStream, Resolver, SystemResolver,
};
pub use lookup::{LookupHost, lookup_host};
pub use serve::{ACCEPT_BACKOFF, Listener, serve_tcp};
