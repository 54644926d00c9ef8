//! creche-macros: `#[creche::main]` and `#[creche::test]`.
//!
//! This crate will own the attribute macros of DESIGN §8. It holds no code yet: the time issue
//! builds it, together with the `MockClock` its `autojump` option needs.
