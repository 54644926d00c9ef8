//! `#[creche::main]` and ctrl-c: the program of `examples/ctrl_c.rs`, run in a child process
//! (this test binary again, running the ignored test `example_program`), gets SIGINT once
//! (its root scope is cancelled: it cleans up and exits with status 130) or twice (it exits
//! with status 130 although a shield held on after the first).

mod common;

#[path = "../examples/ctrl_c.rs"]
#[allow(dead_code)]
mod example;

use common::watchdog;
use std::io::{BufRead, BufReader, Lines};
use std::process::{Child, ChildStdout, Command, Stdio};

/// The example's `main`, when run as the child (a plain pass otherwise).
#[test]
#[ignore = "the child process of the tests below"]
fn example_program() {
    if std::env::var_os("CTRL_C_EXAMPLE_MODE").is_some() {
        example::main();
    }
}

fn start(mode: &str) -> (Child, Lines<BufReader<ChildStdout>>) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", "example_program", "--nocapture"])
        .args(["--test-threads", "1", "-q"])
        .env("CTRL_C_EXAMPLE_MODE", mode)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    (child, lines)
}

/// Reads lines until one equals `wanted`; all lines read.
fn read_until(lines: &mut Lines<BufReader<ChildStdout>>, wanted: &str) -> Vec<String> {
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        let done = line.trim() == wanted;
        seen.push(line);
        if done {
            return seen;
        }
    }
    panic!("the program ended without printing {wanted:?}: {seen:?}");
}

fn interrupt(child: &Child) {
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    // SAFETY: kill(2) on our own child's pid (not yet reaped: we wait for it later).
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
}

#[test]
fn first_ctrl_c_cancels_the_root_and_exits_130() {
    let _w = watchdog("first_ctrl_c_cancels_the_root_and_exits_130");
    let (mut child, mut lines) = start("cancel");
    read_until(&mut lines, "ready");
    interrupt(&child);
    let rest: Vec<String> = lines.map(Result::unwrap).collect();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{rest:?}");
    assert!(rest.iter().any(|l| l == "cleaned up"), "{rest:?}");
    assert!(!rest.iter().any(|l| l == "not reached"), "{rest:?}");
}

#[test]
fn second_ctrl_c_exits_at_once() {
    let _w = watchdog("second_ctrl_c_exits_at_once");
    let (mut child, mut lines) = start("stubborn");
    read_until(&mut lines, "ready");
    interrupt(&child);
    // The body saw the first one, and its shield holds: the program goes on.
    read_until(&mut lines, "holding on");
    interrupt(&child);
    let rest: Vec<String> = lines.map(Result::unwrap).collect();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{rest:?}");
    assert!(!rest.iter().any(|l| l == "not reached"), "{rest:?}");
}
