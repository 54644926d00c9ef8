//! CPU-heavy parallel map under a deadline, with `creche::map_concurrent`.
//!
//! 10,000 jobs each hash their input through a few thousand rounds of a 64-bit mixer. They run
//! as children of a nursery, at most one per worker thread at a time, and come back in input
//! order. Three runs:
//!
//! 1. under a generous deadline (`fail_after`): every job completes;
//! 2. under a deadline far too short (`move_on_after`): the jobs in flight finish, no new job
//!    starts once the deadline has passed, and the map is cancelled as a whole;
//! 3. with a job that fails: the first error cancels the rest and is the result.
//!
//! Run with `cargo run --release --example fanout` (it also runs in a debug build, slower).

use creche::{TooSlow, fail_after, map_concurrent, move_on_after};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Jobs per run.
const JOBS: u64 = 10_000;
/// Mixing rounds per job (a few microseconds of work in a release build).
const ROUNDS: u32 = 2_000;

/// `rounds` rounds of the splitmix64 finalizer over `seed`: CPU work that never waits.
fn digest(seed: u64, rounds: u32) -> u64 {
    let mut x = seed;
    for _ in 0..rounds {
        x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        x ^= z ^ (z >> 31);
    }
    x
}

fn main() {
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    creche::run(async move {
        // 1. A deadline that leaves plenty of time: every job completes, in input order.
        let start = Instant::now();
        let all = fail_after(
            Duration::from_secs(60),
            map_concurrent(0..JOBS, workers, |i| async move {
                Ok::<_, std::convert::Infallible>(digest(i, ROUNDS))
            }),
        )
        .await;
        let digests = match all {
            Ok(Ok(digests)) => digests,
            Ok(Err(never)) => match never {},
            Err(TooSlow) => panic!("60 s were not enough for {JOBS} jobs"),
        };
        assert_eq!(digests.len(), JOBS as usize);
        assert_eq!(
            digests[1234],
            digest(1234, ROUNDS),
            "values come back in input order"
        );
        let folded = digests.iter().fold(0, |acc, d| acc ^ d);
        println!(
            "1. {JOBS} jobs on {workers} worker(s) in {:.1?}: deadline not hit; \
             digest[0] = {:#018x}, xor of all = {folded:#018x}",
            start.elapsed(),
            digests[0],
        );

        // 2. A deadline far too short for the work (50 times the rounds): the workers stop
        //    between jobs once it has passed, and move_on_after returns None.
        let done = Arc::new(AtomicUsize::new(0));
        let counter = done.clone();
        let start = Instant::now();
        let some = move_on_after(
            Duration::from_millis(5),
            map_concurrent(0..JOBS, workers, move |i| {
                let counter = counter.clone();
                async move {
                    let d = digest(i, 50 * ROUNDS);
                    counter.fetch_add(1, Ordering::Relaxed);
                    Ok::<_, std::convert::Infallible>(d)
                }
            }),
        )
        .await;
        let done = done.load(Ordering::Relaxed);
        match some {
            None => println!(
                "2. deadline hit after {:.1?}: {done} of {JOBS} jobs completed, the others \
                 never started",
                start.elapsed()
            ),
            Some(_) => println!("2. deadline not hit: all {done} jobs completed (a fast machine)"),
        }

        // 3. Job 7,000 fails: its error cancels the jobs still to come and is the result.
        let started = Arc::new(AtomicUsize::new(0));
        let counter = started.clone();
        let failed = map_concurrent(0..JOBS, workers, move |i| {
            counter.fetch_add(1, Ordering::Relaxed);
            async move {
                if i == 7_000 {
                    return Err(format!("job {i}: input rejected"));
                }
                Ok(digest(i, ROUNDS))
            }
        })
        .await;
        let err = failed.expect_err("job 7,000 fails");
        println!(
            "3. first error: \"{err}\"; {} of {JOBS} jobs had started",
            started.load(Ordering::Relaxed)
        );
    });
}
