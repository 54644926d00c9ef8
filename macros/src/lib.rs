//! creche-macros: `#[creche::main]` and `#[creche::test]` (placeholder until written).
