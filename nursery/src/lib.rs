//! creche-nursery: structured concurrency.
//!
//! This crate will own cancel scopes, nurseries, `start()`, the task tree, the sync primitives,
//! channels and `to_thread` (see DESIGN §4, §5 and §7). It holds no code yet: the nursery issue
//! builds it on top of creche-runtime and creche-timer.
