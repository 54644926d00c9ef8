//! Stress: 10^4 nurseries and cancel scopes, cancelled or given deadlines at random moments
//! from two foreign threads while their bodies and children run on two workers. After each
//! round every tracked future has been dropped exactly once, every `open_nursery` returned,
//! and the task tree holds nothing of this test.
//!
//! The randomness is a seeded xorshift: set `CRECHE_SEED` to replay a run; the seed is printed
//! if the test fails. With `CRECHE_STRESS_DEBUG` set, each round is announced on stderr; a hang
//! prints the seed and the task tree before the watchdog aborts.

mod common;

use common::{Counter, runtime_on, tracked, watchdog};
use creche::lowlevel::task_tree;
use creche::time::{Instant, MockClock, current_time, sleep, sleep_forever};
use creche::{CancelScope, checkpoint, open_nursery};
use std::sync::mpsc;
use std::time::Duration;

const ROUNDS: usize = 200;
const ITEMS_PER_ROUND: usize = 50;
const NAME: &str = "stress-rxc-item";

/// Prints the seed if the test panics.
struct SeedGuard(u64);

impl Drop for SeedGuard {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("nursery_stress failed with CRECHE_SEED={}", self.0);
        }
    }
}

/// xorshift64*.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn seed() -> u64 {
    match std::env::var("CRECHE_SEED") {
        Ok(s) => s.trim().parse().expect("CRECHE_SEED is a u64"),
        // Only a source of randomness, never a time measurement.
        Err(_) => {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .subsec_nanos() as u64
                | 1
        }
    }
}

#[derive(Clone, Copy)]
enum Action {
    Cancel,
    /// A deadline this long after the moment the item was entered.
    DeadlineIn(Duration),
}

struct Msg {
    scope: CancelScope,
    action: Action,
    deadline_base: Instant,
    spins: u32,
}

/// What an item's body (or an inner child) does.
#[derive(Clone, Copy)]
enum Body {
    Sleep(Duration),
    Forever,
    CheckpointsThenForever(u64),
}

async fn run_body(body: Body) {
    match body {
        Body::Sleep(d) => sleep(d).await,
        Body::Forever => sleep_forever().await,
        Body::CheckpointsThenForever(n) => {
            for _ in 0..n {
                checkpoint().await;
            }
            sleep_forever().await;
        }
    }
}

/// One item's random plan, drawn on the test thread.
struct Plan {
    nursery: bool,
    send_before_entering: bool,
    body: Body,
    children: Vec<Body>,
    action: Action,
    spins: u32,
    thread: usize,
}

fn random_body(rng: &mut Rng, tick: Duration) -> Body {
    match rng.below(3) {
        0 => Body::Sleep(tick * rng.below(20) as u32),
        1 => Body::Forever,
        _ => Body::CheckpointsThenForever(rng.below(5)),
    }
}

fn plan(rng: &mut Rng, tick: Duration) -> Plan {
    let nursery = rng.below(2) == 0;
    let children = if nursery {
        (0..rng.below(3)).map(|_| random_body(rng, tick)).collect()
    } else {
        Vec::new()
    };
    Plan {
        nursery,
        send_before_entering: rng.below(4) == 0,
        body: random_body(rng, tick),
        children,
        action: if rng.below(2) == 0 {
            Action::Cancel
        } else {
            Action::DeadlineIn(tick * rng.below(30) as u32)
        },
        spins: rng.below(3_000) as u32,
        thread: rng.below(2) as usize,
    }
}

/// On the system clock: sleeps and deadlines are a few hundred microseconds (the test asserts
/// nothing about time; the clock only orders things).
#[test]
fn random_cross_thread_cancels_keep_drop_invariant() {
    let _w = watchdog("random_cross_thread_cancels_keep_drop_invariant");
    let rt = creche::Builder::new().worker_threads(2).build().unwrap();
    stress(rt, Duration::from_micros(100));
}

/// The same on the virtual clock with autojump (what the plan prefers).
#[test]
fn random_cross_thread_cancels_keep_drop_invariant_autojump() {
    let _w = watchdog("random_cross_thread_cancels_keep_drop_invariant_autojump");
    stress(
        runtime_on(2, MockClock::autojump()),
        Duration::from_millis(1),
    );
}

/// The two variants share the task-tree check (it reads the whole process's tree): one at a
/// time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs the rounds on `rt`; `tick` is the unit of every sleep and deadline.
fn stress(rt: creche::Runtime, tick: Duration) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let seed = seed();
    let _guard = SeedGuard(seed);
    // A hang aborts the process (the watchdog) without running destructors: say the seed and
    // show the tree first, straight to the process's stderr.
    let (_disarm, armed) = mpsc::channel::<()>();
    std::thread::spawn(move || {
        if let Err(mpsc::RecvTimeoutError::Timeout) = armed.recv_timeout(Duration::from_secs(25)) {
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "nursery_stress hangs with CRECHE_SEED={seed}; task tree:\n{}",
                task_tree()
            );
        }
    });
    let mut rng = Rng(seed);

    let mut senders = Vec::new();
    let mut threads = Vec::new();
    for i in 0..2 {
        let (tx, rx) = mpsc::channel::<Msg>();
        senders.push(tx);
        threads.push(
            std::thread::Builder::new()
                .name(format!("stress-foreign-{i}"))
                .spawn(move || {
                    for msg in rx {
                        for _ in 0..msg.spins {
                            std::hint::spin_loop();
                        }
                        match msg.action {
                            Action::Cancel => msg.scope.cancel(),
                            Action::DeadlineIn(d) => msg.scope.set_deadline(msg.deadline_base + d),
                        }
                    }
                })
                .unwrap(),
        );
    }

    let (spawned, drops) = (Counter::new(), Counter::new());
    let (opened, returned) = (Counter::new(), Counter::new());
    let mut items = 0;
    for round in 0..ROUNDS {
        if std::env::var("CRECHE_STRESS_DEBUG").is_ok() {
            eprintln!("round {round} seed {seed}");
        }
        let plans: Vec<Plan> = (0..ITEMS_PER_ROUND).map(|_| plan(&mut rng, tick)).collect();
        items += plans.len();
        let senders = senders.clone();
        let (spawned2, drops2) = (spawned.clone(), drops.clone());
        let (opened2, returned2) = (opened.clone(), returned.clone());
        let result = rt.block_on(open_nursery(|n| async move {
            for p in plans {
                let tx = senders[p.thread].clone();
                let (spawned, drops) = (spawned2.clone(), drops2.clone());
                let (opened, returned) = (opened2.clone(), returned2.clone());
                let polls = Counter::new();
                n.spawn_named(NAME, async move {
                    let send = move |scope: CancelScope| {
                        let msg = Msg {
                            scope,
                            action: p.action,
                            deadline_base: current_time(),
                            spins: p.spins,
                        };
                        tx.send(msg).expect("the foreign thread is alive");
                    };
                    if p.nursery {
                        opened.incr();
                        let out = open_nursery(|inner| async move {
                            // Pending once, so that the nursery's deadline is armed (see
                            // nursery_cancel::deadline_on_nursery_scope_after_body_returned).
                            checkpoint().await;
                            send(inner.cancel_scope());
                            for child in p.children {
                                spawned.incr();
                                inner.spawn_named(
                                    NAME,
                                    tracked(
                                        async move {
                                            run_body(child).await;
                                            Ok::<(), ()>(())
                                        },
                                        &polls,
                                        &drops,
                                    ),
                                );
                            }
                            spawned.incr();
                            tracked(run_body(p.body), &polls, &drops).await;
                            Ok(())
                        })
                        .await;
                        returned.incr();
                        out.map(drop)
                    } else {
                        let scope = CancelScope::new();
                        if p.send_before_entering {
                            send(scope.clone());
                        }
                        let s = scope.clone();
                        spawned.incr();
                        let body = tracked(
                            async move {
                                if !p.send_before_entering {
                                    send(s);
                                }
                                run_body(p.body).await;
                            },
                            &polls,
                            &drops,
                        );
                        scope.run(body).await;
                        Ok(())
                    }
                });
            }
            Ok::<_, ()>(())
        }));
        assert_eq!(result, Ok(Some(())), "round {round}");
        assert_eq!(
            drops.get(),
            spawned.get(),
            "round {round}: every future dropped once"
        );
        assert_eq!(
            opened.get(),
            returned.get(),
            "round {round}: every nursery returned"
        );
        let tree = task_tree().to_string();
        assert!(
            !tree.contains(NAME) && !tree.contains("tests/nursery_stress.rs"),
            "round {round}: leftovers in the task tree:\n{tree}"
        );
    }
    assert_eq!(items, 10_000);
    drop(senders);
    for t in threads {
        t.join().unwrap();
    }
    // Drops never exceed spawns (no double drop) once everything is quiet.
    assert_eq!(drops.get(), spawned.get());
}
