//! creche-io: the reactor and sockets.
//!
//! This crate will own the `polling`-based reactor (`IoDriver`, an implementation of the
//! runtime's `Park`), TCP/UDP/Unix sockets, DNS on the blocking pool, happy eyeballs and
//! `serve_tcp` (see DESIGN §6). It holds no code yet: the I/O issue builds it.
