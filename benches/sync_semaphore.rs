//! Semaphore under contention: `creche::sync::Semaphore` vs `tokio::sync::Semaphore` (both
//! FIFO), each on its own multi-thread runtime with one worker per core
//! (`available_parallelism`). SYNC_TESTPLAN §4; the bound to meet is creche/tokio ≤ 1.0.
//!
//! - `semaphore_contended`: tokio's `benches/sync_semaphore.rs` shape: 6 tasks each acquire
//!   and drop one permit of `Semaphore::new(5)`, all joined, per iteration.
//! - `semaphore_contended_8x`: 8 × cores tasks × 1,000 rounds of acquire, `yield_now`,
//!   release on `Semaphore::new(cores)`: the permit is held across a scheduling point, so
//!   waiters really queue. This is the variant that counts for the bound.
//!
//! In both, the work runs inside one task spawned from the bench thread (`block_on` is not a
//! worker), and the tasks are plain `spawn`s joined by their handles, so only the semaphore
//! differs. After the run the medians are read back from criterion's `estimates.json` and
//! printed as a markdown table with the ratio (not written to BENCHMARKS.md; the `compare`
//! bench owns that file).
//!
//! `cargo bench --bench sync_semaphore` (a smoke run: add `-- --warm-up-time 1
//! --measurement-time 2`).

use criterion::{BenchmarkGroup, Criterion, measurement::WallTime};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Tasks and permits of tokio's shape.
const TOKIO_TASKS: usize = 6;
const TOKIO_PERMITS: usize = 5;
/// Rounds per task of the 8 × cores variant.
const ROUNDS: usize = 1_000;

const GROUPS: [&str; 2] = ["semaphore_contended", "semaphore_contended_8x"];
const RUNTIMES: [&str; 2] = ["creche", "tokio"];

fn creche_rt(workers: usize) -> creche::Runtime {
    creche::Builder::new()
        .worker_threads(workers)
        .build()
        .expect("creche runtime")
}

fn tokio_rt(workers: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// creche: `tasks` tasks each doing `rounds` acquire (+ optional yield) + release.
async fn creche_work(sem: Arc<creche::sync::Semaphore>, tasks: usize, rounds: usize, yields: bool) {
    let handles: Vec<_> = (0..tasks)
        .map(|_| {
            let sem = sem.clone();
            creche::spawn(async move {
                for _ in 0..rounds {
                    let permit = sem.acquire().await;
                    if yields {
                        creche::yield_now().await;
                    }
                    drop(permit);
                }
            })
        })
        .collect();
    for handle in handles {
        handle.await.unwrap();
    }
}

/// tokio: the same.
async fn tokio_work(sem: Arc<tokio::sync::Semaphore>, tasks: usize, rounds: usize, yields: bool) {
    let handles: Vec<_> = (0..tasks)
        .map(|_| {
            let sem = sem.clone();
            tokio::spawn(async move {
                for _ in 0..rounds {
                    let permit = sem.acquire().await.unwrap();
                    if yields {
                        tokio::task::yield_now().await;
                    }
                    drop(permit);
                }
            })
        })
        .collect();
    for handle in handles {
        handle.await.unwrap();
    }
}

/// One group: `tasks` × `rounds` on a semaphore of `permits`, on both runtimes.
fn group(
    g: &mut BenchmarkGroup<'_, WallTime>,
    cores: usize,
    tasks: usize,
    rounds: usize,
    permits: usize,
    yields: bool,
) {
    let rt = creche_rt(cores);
    let sem = Arc::new(creche::sync::Semaphore::new(permits));
    g.bench_function("creche", |b| {
        b.iter(|| {
            let sem = sem.clone();
            rt.block_on(async move {
                creche::spawn(creche_work(sem, tasks, rounds, yields))
                    .await
                    .unwrap()
            })
        })
    });
    drop(rt);
    let rt = tokio_rt(cores);
    let sem = Arc::new(tokio::sync::Semaphore::new(permits));
    g.bench_function("tokio", |b| {
        b.iter(|| {
            let sem = sem.clone();
            rt.block_on(async move {
                tokio::spawn(tokio_work(sem, tasks, rounds, yields))
                    .await
                    .unwrap()
            })
        })
    });
}

/// Where criterion writes its estimates.
fn criterion_dir() -> Option<PathBuf> {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return Some(PathBuf::from(home));
    }
    if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
        return Some(PathBuf::from(target).join("criterion"));
    }
    let exe = std::env::current_exe().ok()?;
    let target = exe
        .ancestors()
        .find(|dir| dir.file_name().is_some_and(|name| name == "target"))?;
    Some(target.join("criterion"))
}

/// The median (ns) criterion recorded for `group`/`runtime`.
fn median_ns(dir: &std::path::Path, group: &str, runtime: &str) -> Option<f64> {
    let path = dir
        .join(group)
        .join(runtime)
        .join("new")
        .join("estimates.json");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    json["median"]["point_estimate"].as_f64()
}

fn print_table(cores: usize) {
    let Some(dir) = criterion_dir() else {
        return;
    };
    println!("\nsync_semaphore: {cores} worker(s) per runtime; median per iteration\n");
    println!("| workload | creche | tokio | creche/tokio |");
    println!("|---|---|---|---|");
    for group in GROUPS {
        let [c, t] = RUNTIMES.map(|rt| median_ns(&dir, group, rt));
        let show = |v: Option<f64>| v.map_or("—".to_owned(), |ns| format!("{:.1} µs", ns / 1e3));
        let ratio = match (c, t) {
            (Some(c), Some(t)) => format!("{:.2}", c / t),
            _ => "—".to_owned(),
        };
        println!("| {group} | {} | {} | {ratio} |", show(c), show(t));
    }
}

fn main() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let args: Vec<String> = std::env::args().collect();
    let has = |flag: &str| args.iter().skip(1).any(|a| a == flag);
    let measuring = has("--bench") && !has("--test") && !has("--list");
    let mut c = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(5))
        .configure_from_args();

    let mut g = c.benchmark_group(GROUPS[0]);
    group(&mut g, cores, TOKIO_TASKS, 1, TOKIO_PERMITS, false);
    g.finish();

    let mut g = c.benchmark_group(GROUPS[1]);
    group(&mut g, cores, 8 * cores, ROUNDS, cores, true);
    g.finish();

    c.final_summary();
    if measuring {
        print_table(cores);
    }
}
