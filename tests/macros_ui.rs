//! The compile errors of `#[creche::main]` and `#[creche::test]`: one file per misuse in
//! `tests/ui/`, each `.stderr` holding the exact message and the token it points at.
//!
//! Only the macros' own messages are pinned: each case is written so that rustc adds no error
//! or warning of its own (whose wording changes between releases). trybuild builds the cases
//! as binaries, without `--test`, so the bodies of the `#[test]` functions are not checked.
//!
//! The first run builds the facade and its dev-dependencies once more, for trybuild's own
//! project (30 to 50 s on two cores); later runs take about a second. That build would swamp
//! the suite's time budget, so the test is `#[ignore]`d in `cargo test --workspace` and CI runs
//! it as a step of its own: `cargo test --test macros_ui -- --ignored`. The exact messages are
//! also pinned, without compiling, by the unit tests of `macros/src/entry.rs` and
//! `macros/src/options.rs`. To regenerate after changing a message:
//! `TRYBUILD=overwrite cargo test --test macros_ui -- --ignored`, then read every changed
//! `.stderr`.

#[test]
#[ignore = "builds 14 crates (30-50 s on a cold cache); CI runs it with --ignored"]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}
