//! Random cancels from a foreign thread against tasks acquiring a `Semaphore`, a
//! `CapacityLimiter` and a `Lock` on two workers, and against consumers waiting on a
//! `Condition` (no notification may be lost) (the sync half of SYNC_TESTPLAN's
//! `sync_stress`; the channel half and the runtime's chaos seed belong to other work). After
//! every round the permits and tokens are all back, the lock is free, no queue node or
//! pending borrower is left, every body was dropped exactly once, and mutual exclusion held.
//! The cancel pattern comes from a seed (`CRECHE_SEED`, or a fixed default), printed by every
//! failing assertion.

mod common;

use common::{Counter, DropCount, watchdog};
use creche::sync::{CapacityLimiter, Condition, Lock, Semaphore};
use creche::{CancelScope, checkpoint, fail_after, open_nursery};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

const ROUNDS: usize = 150;
const TASKS: usize = 9;
const PERMITS: usize = 2;
/// Acquire-release rounds per task.
const LOOPS: usize = 20;

/// xorshift64*: a small deterministic generator for the cancel pattern.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// Counts the holders of a semaphore permit; leaving (also by drop) decrements.
struct Inside(Arc<AtomicUsize>);

impl Inside {
    fn enter(inside: Arc<AtomicUsize>, over: &Counter) -> Inside {
        if inside.fetch_add(1, SeqCst) >= PERMITS {
            over.incr();
        }
        Inside(inside)
    }
}

impl Drop for Inside {
    fn drop(&mut self) {
        self.0.fetch_sub(1, SeqCst);
    }
}

fn seed() -> u64 {
    std::env::var("CRECHE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_c0de)
}

#[creche::test(worker_threads = 2)]
async fn random_cancels_conserve_permits_tokens_and_lock() {
    let _w = watchdog("random_cancels_conserve_permits_tokens_and_lock");
    let seed = seed();
    let mut rng = Rng(seed | 1);
    let sem = Arc::new(Semaphore::new(PERMITS));
    let limiter = CapacityLimiter::new(PERMITS);
    let lock = Arc::new(Lock::new());
    let mut caught = 0;
    for round in 0..ROUNDS {
        let scopes: Vec<CancelScope> = (0..TASKS).map(|_| CancelScope::new()).collect();
        let scopes_seen = scopes.clone();
        let drops = Counter::new();
        let inside = Arc::new(AtomicUsize::new(0));
        let over = Counter::new();
        // Which scopes the foreign thread cancels, and how long it dawdles before each.
        let mut plan: Vec<(usize, u64)> = Vec::new();
        for i in 0..TASKS {
            let r = rng.next();
            if r % 2 == 0 {
                plan.push((i, (r >> 8) % 20));
            }
        }
        let started = Counter::new();
        let canceller = {
            let (scopes, started) = (scopes.clone(), started.clone());
            std::thread::spawn(move || {
                started.wait_for(TASKS); // every body is running: cancels land mid-work
                for (i, spins) in plan {
                    for _ in 0..spins {
                        std::thread::yield_now();
                    }
                    scopes[i].cancel();
                }
            })
        };
        open_nursery(|n| {
            let (sem, limiter, lock) = (sem.clone(), limiter.clone(), lock.clone());
            let (drops, inside, over) = (drops.clone(), inside.clone(), over.clone());
            let started = started.clone();
            async move {
                for (i, scope) in scopes.iter().enumerate() {
                    let (sem, limiter, lock) = (sem.clone(), limiter.clone(), lock.clone());
                    let (drops, inside, over) = (drops.clone(), inside.clone(), over.clone());
                    let started = started.clone();
                    let body = scope.clone().run(async move {
                        let _d = DropCount(drops);
                        started.incr();
                        for _ in 0..LOOPS {
                            match i % 3 {
                                0 => {
                                    let _p = sem.acquire().await;
                                    let _in = Inside::enter(inside.clone(), &over); // before _p
                                    checkpoint().await;
                                }
                                1 => {
                                    let _t = limiter.acquire().await;
                                    checkpoint().await;
                                }
                                _ => {
                                    let _g = lock.lock().await;
                                    checkpoint().await;
                                }
                            }
                        }
                    });
                    n.spawn(async move {
                        body.await;
                        Ok::<_, ()>(())
                    });
                }
                Ok(())
            }
        })
        .await
        .unwrap();
        canceller.join().unwrap();
        caught += scopes_seen.iter().filter(|s| s.cancelled_caught()).count();
        let at = format!("round {round}, CRECHE_SEED={seed}");
        assert_eq!(drops.get(), TASKS, "every body dropped once ({at})");
        assert_eq!(over.get(), 0, "more holders than permits ({at})");
        assert_eq!(sem.available_permits(), PERMITS, "permits conserved ({at})");
        assert_eq!(sem.__queued_nodes(), 0, "semaphore nodes ({at})");
        assert_eq!(
            limiter.available_tokens(),
            PERMITS,
            "tokens conserved ({at})"
        );
        assert_eq!(
            limiter.__pending_entries(),
            (0, 0),
            "limiter entries ({at})"
        );
        assert!(!lock.locked(), "lock free ({at})");
        assert_eq!(lock.__queued_nodes(), 0, "lock nodes ({at})");
    }
    eprintln!("bodies cancelled mid-work: {caught} of {}", ROUNDS * TASKS);
}

const CONSUMERS: usize = 4;
const ITEMS: usize = 30;
const CONDITION_ROUNDS: usize = 60;

/// Items and how many were consumed, changed only while the condition's lock is held.
#[derive(Default)]
struct Stock {
    items: usize,
    consumed: usize,
}

/// A producer adds `ITEMS` items one at a time, each with `notify(1)`; consumers take them,
/// and the producer cancels random consumers (never consumer 0; seeded) right after a notify,
/// before or after its unlock hands the lock over. A cancelled waiter must forward the
/// notification it had received;
/// otherwise an item stays in stock while every live consumer waits, all tasks block, and
/// autojump fires the `fail_after` deadline.
#[creche::test(autojump, worker_threads = 2)]
async fn condition_cancels_lose_no_notification() {
    let _w = watchdog("condition_cancels_lose_no_notification");
    let seed = seed();
    let mut rng = Rng(seed.rotate_left(17) | 1);
    let mut caught = 0;
    for round in 0..CONDITION_ROUNDS {
        let cond = Arc::new(Condition::new());
        let stock = Arc::new(std::sync::Mutex::new(Stock::default()));
        let scopes: Vec<CancelScope> = (0..CONSUMERS).map(|_| CancelScope::new()).collect();
        // At which item the producer cancels which consumer (never consumer 0), and whether
        // before or after it unlocks: right after its notify(1), the notified waiter may be
        // the one cancelled, still queued for the lock or already handed it.
        let mut plan: Vec<Option<(usize, bool)>> = vec![None; ITEMS];
        for i in 1..CONSUMERS {
            let r = rng.next();
            plan[(r % ITEMS as u64) as usize] = Some((i, (r >> 32) % 2 == 0));
        }
        let started = Counter::new();
        let out = fail_after(Duration::from_secs(3600), async {
            open_nursery(|n| {
                let (cond, stock, scopes, started) =
                    (cond.clone(), stock.clone(), scopes.clone(), started.clone());
                let plan = plan.clone();
                async move {
                    for scope in &scopes {
                        let (cond, stock, started) = (cond.clone(), stock.clone(), started.clone());
                        let body = scope.clone().run(async move {
                            started.incr();
                            let mut guard = cond.lock().await;
                            loop {
                                let done = {
                                    let mut s = stock.lock().unwrap();
                                    s.consumed += s.items; // take every item in stock
                                    s.items = 0;
                                    s.consumed == ITEMS
                                };
                                if done {
                                    guard.notify_all(); // let the others see the end
                                    return;
                                }
                                guard = guard.wait().await;
                            }
                        });
                        n.spawn(async move {
                            body.await;
                            Ok::<_, ()>(())
                        });
                    }
                    while started.get() < CONSUMERS {
                        checkpoint().await; // every consumer has started
                    }
                    for cancel in plan {
                        let guard = cond.lock().await;
                        stock.lock().unwrap().items += 1;
                        guard.notify(1);
                        match cancel {
                            Some((i, true)) => {
                                scopes[i].cancel(); // notified, still queued for the lock
                                drop(guard);
                            }
                            Some((i, false)) => {
                                drop(guard); // the lock is handed to the notified waiter
                                scopes[i].cancel();
                            }
                            None => drop(guard),
                        }
                        checkpoint().await;
                    }
                    Ok(())
                }
            })
            .await
        })
        .await;
        caught += scopes.iter().filter(|s| s.cancelled_caught()).count();
        let at = format!("round {round}, CRECHE_SEED={seed}");
        assert!(
            matches!(out, Ok(Ok(Some(())))),
            "every live consumer blocked with items left: a notification was lost ({at})"
        );
        let s = stock.lock().unwrap();
        assert_eq!((s.items, s.consumed), (0, ITEMS), "{at}");
        assert!(!cond.locked(), "{at}");
        assert_eq!(cond.__queued_nodes(), 0, "{at}");
    }
    eprintln!(
        "consumers cancelled: {caught} of {}",
        CONDITION_ROUNDS * CONSUMERS
    );
}
