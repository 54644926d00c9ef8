//! `#[creche::test]` and `#[creche::main]` through the facade: one test per option and
//! combination, tests returning `Result` and expecting a panic, and `main` inside a module.
//! Time is always a `MockClock`; the compile errors are in `macros_ui.rs`.

mod common;

use common::watchdog;
use creche::time::{Instant, MockClock, current_time, sleep};
use std::time::Duration;

const HOUR: Duration = Duration::from_secs(3600);

#[creche::test]
async fn smoke() {
    let task = creche::spawn(async { 21 * 2 });
    assert_eq!(task.await.unwrap(), 42);
}

#[creche::test(autojump)]
async fn autojump_sleeps_an_hour_of_virtual_time() {
    let _watchdog = watchdog("autojump_sleeps_an_hour_of_virtual_time");
    let start = current_time();
    assert_eq!(start, Instant::ZERO);
    sleep(HOUR).await;
    assert_eq!(current_time() - start, HOUR);
}

#[creche::test(worker_threads = 3)]
async fn worker_threads() {
    assert_eq!(creche::Handle::current().num_workers(), 3);
}

#[creche::test(clock = {
    let clock = MockClock::new();
    clock.jump(Duration::from_secs(5)).unwrap();
    clock
})]
async fn clock_expression() {
    assert_eq!(current_time(), Instant::ZERO + Duration::from_secs(5));
}

#[creche::test(worker_threads = 2, autojump)]
async fn worker_threads_and_autojump() {
    let _watchdog = watchdog("worker_threads_and_autojump");
    assert_eq!(creche::Handle::current().num_workers(), 2);
    let sleeper = creche::spawn(async {
        sleep(HOUR).await;
        current_time()
    });
    assert_eq!(sleeper.await.unwrap(), Instant::ZERO + HOUR);
}

#[creche::test(clock = MockClock::autojump(), worker_threads = 1)]
async fn clock_and_worker_threads() {
    let _watchdog = watchdog("clock_and_worker_threads");
    assert_eq!(creche::Handle::current().num_workers(), 1);
    sleep(HOUR).await;
    assert_eq!(current_time(), Instant::ZERO + HOUR);
}

#[creche::test]
async fn returns_result() -> Result<(), String> {
    let n: u32 = "42".parse().map_err(|e| format!("{e}"))?;
    if n != 42 {
        return Err(format!("parsed {n}"));
    }
    Ok(())
}

/// `?` converts the error through `From`: the body's output type comes from the signature.
#[creche::test]
async fn question_mark_converts_errors() -> Result<(), Box<dyn std::error::Error>> {
    let n: u32 = "42".parse()?;
    assert_eq!(n, 42);
    Ok(())
}

#[creche::test]
#[should_panic(expected = "boom in the body")]
async fn should_panic_keeps_its_attribute() {
    creche::yield_now().await;
    panic!("boom in the body");
}

mod app {
    /// A program's entry point, here in a module so that a test can call it.
    #[creche::main]
    pub async fn main() -> u32 {
        let left = creche::spawn(async { 20 });
        let right = creche::spawn(async { 22 });
        left.await.unwrap() + right.await.unwrap()
    }

    #[creche::main(worker_threads = 1)]
    pub(crate) async fn one_worker() -> usize {
        creche::Handle::current().num_workers()
    }

    #[creche::main(clock = creche::time::MockClock::autojump())]
    pub(crate) async fn with_clock() -> Result<creche::time::Instant, String> {
        creche::time::sleep(super::HOUR).await;
        Ok(creche::time::current_time())
    }
}

#[test]
fn main_in_a_module() {
    assert_eq!(app::main(), 42);
}

#[test]
fn main_with_worker_threads() {
    assert_eq!(app::one_worker(), 1);
}

#[test]
fn main_with_clock() {
    let _watchdog = watchdog("main_with_clock");
    assert_eq!(app::with_clock(), Ok(Instant::ZERO + HOUR));
}

#[test]
fn main_runs_one_runtime_per_call() {
    // Each call builds its own runtime and shuts it down, so calls can follow one another.
    assert_eq!(app::main(), 42);
    assert_eq!(app::main(), 42);
}
