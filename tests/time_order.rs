//! Many timers through the whole runtime, on the autojumping `MockClock`: every sleeper wakes
//! at exactly its deadline, in deadline order, and a cancelled one never wakes.

mod common;

use common::{runtime_on, watchdog};
use creche::time::{Instant, MockClock, current_time, sleep_until};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[test]
fn random_deadlines_fire_exactly_and_in_order_and_cancelled_ones_never() {
    let _watchdog = watchdog("order");
    let rt = runtime_on(2, MockClock::autojump());
    let seed = 0x5eed_u64;
    let woken: Arc<Mutex<Vec<(usize, Instant, Instant)>>> = Arc::default();
    let cancelled_ids = rt.block_on(async {
        let mut rng = seed;
        let mut next = move || {
            // xorshift64
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let mut keep = Vec::new();
        let mut cancelled = Vec::new();
        for i in 0..2_000 {
            // Deadlines spread over ~2.8 hours, with sub-millisecond parts and collisions.
            let deadline = Instant::ZERO + Duration::from_micros(next() % 10_000_000_000);
            let woken = woken.clone();
            let task = creche::spawn(async move {
                sleep_until(deadline).await;
                woken.lock().unwrap().push((i, deadline, current_time()));
            });
            if next() % 5 == 0 {
                cancelled.push((i, task));
            } else {
                keep.push(task);
            }
        }
        for (_, task) in &cancelled {
            task.abort();
        }
        for task in keep {
            task.await.unwrap();
        }
        // Time cannot move while this future runs (it keeps the runtime busy), so the aborts
        // land before any cancelled sleeper's deadline.
        let mut ids = Vec::new();
        for (i, task) in cancelled {
            assert!(task.await.unwrap_err().is_cancelled());
            ids.push(i);
        }
        ids
    });
    let woken = woken.lock().unwrap();
    for (i, _, _) in woken.iter() {
        assert!(
            !cancelled_ids.contains(i),
            "seed {seed}: cancelled timer {i} fired"
        );
    }
    assert!(woken.len() >= 1_500, "seed {seed}: {} woke", woken.len());
    for (i, deadline, at) in woken.iter() {
        assert_eq!(at, deadline, "seed {seed}: timer {i} woke late or early");
    }
    for pair in woken.windows(2) {
        assert!(
            pair[0].2 <= pair[1].2,
            "seed {seed}: out of order: {pair:?}"
        );
    }
}
