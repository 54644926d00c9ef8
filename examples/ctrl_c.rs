//! Ctrl-c in a `#[creche::main]` program: the first cancels the program's root scope (the body
//! is dropped at its next cancellation point, its destructors run, and the process exits with
//! status 130); the second exits at once, even while a shielded region holds on.
//!
//! ```text
//! cargo run --example ctrl_c            # press ctrl-c once: "cleaned up", exit status 130
//! cargo run --example ctrl_c stubborn   # once: "holding on"; twice: exit status 130
//! ```
//!
//! `tests/main_ctrl_c.rs` runs this program (the mode comes from `CTRL_C_EXAMPLE_MODE` there,
//! or from the first argument) and sends it the signals.

use creche::CancelScope;
use creche::signal::{SIGINT, open_signal_receiver};
use creche::time::sleep_forever;

/// Prints when dropped: the body's cleanup when it is cancelled.
struct Cleanup;

impl Drop for Cleanup {
    fn drop(&mut self) {
        println!("cleaned up");
    }
}

fn mode() -> String {
    std::env::var("CTRL_C_EXAMPLE_MODE")
        .ok()
        .or_else(|| std::env::args().nth(1))
        .unwrap_or_default()
}

#[creche::main(worker_threads = 2)]
pub(crate) async fn main() {
    if mode() == "stubborn" {
        // Count the ctrl-cs ourselves too, inside a shield that the first one cannot cancel.
        let mut signals = open_signal_receiver([SIGINT]).expect("listen for SIGINT");
        println!("ready");
        let shield = CancelScope::new();
        shield.set_shield(true);
        shield
            .run(async move {
                signals.recv().await;
                println!("holding on");
                sleep_forever().await
            })
            .await;
    } else {
        let _cleanup = Cleanup;
        println!("ready");
        sleep_forever().await;
    }
    println!("not reached");
}
