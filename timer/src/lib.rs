//! creche-timer: time on the runtime's clock.
//!
//! This crate will own `Instant`, the `Clock` trait (`SystemClock`, `MockClock` with autojump),
//! the hierarchical timing wheel and the `TimerDriver` that wraps the runtime's `Park`
//! (see DESIGN §3). It holds no code yet: the time issue builds it on top of creche-runtime.
