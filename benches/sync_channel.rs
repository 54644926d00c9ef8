//! Channel comparison: `creche::sync::channel` vs `tokio::sync::mpsc` (and `oneshot`), in one
//! run, each runtime with one worker thread per core (`available_parallelism`).
//!
//! Workloads (the shapes of tokio's `benches/sync_mpsc.rs` and `sync_mpsc_oneshot.rs`, as in
//! nursery/SYNC_TESTPLAN.md §4); each iteration runs inside one task spawned from the bench
//! thread, which spawns the producers and receives everything itself:
//! - `channel_1to1_cap{1,16,1024}`: one producer task sends 5,000 `usize`, the consumer
//!   receives them.
//! - `channel_8to1_cap{1,16,1024}`: eight producer tasks send 1,000 each.
//! - `rendezvous_request_reply`: a server task answers 1,000 requests one after the other.
//!   creche: requests travel over a `channel(0)` (rendezvous) and each carries the sender of a
//!   fresh `channel(1)` for the reply (oneshot-style). tokio: its own bench's shape,
//!   `mpsc::channel(10)` carrying `oneshot::Sender<()>` (tokio has no capacity 0).
//!
//! Run with `cargo bench --bench sync_channel`; after criterion finishes, the medians and
//! the creche/tokio ratios are printed as a markdown table (not written anywhere). With
//! `CRECHE_BENCH_MIN_OF=N` set, criterion is skipped: each workload runs N times per runtime,
//! alternating, and the table compares the fastest runs (a quick cross-check that a busy,
//! shared machine disturbs less than it disturbs medians).

use std::future::Future;
use std::path::PathBuf;
use std::thread;
use std::time::{Duration, SystemTime};

use criterion::Criterion;

/// Values sent per iteration by the 1→1 workloads (tokio's uncontended count).
const ONE_TO_ONE: usize = 5_000;
/// Producers, and values per producer, of the 8→1 workloads.
const PRODUCERS: usize = 8;
const PER_PRODUCER: usize = 1_000;
/// Round trips per iteration of the request/reply workload.
const ROUND_TRIPS: usize = 1_000;
const CAPACITIES: [usize; 3] = [1, 16, 1024];

const SAMPLE_SIZE: usize = 20;
const WARM_UP: Duration = Duration::from_secs(1);
const MEASUREMENT: Duration = Duration::from_secs(3);

/// One runtime and its channels, behind the few operations the workloads need.
trait Flavor: 'static {
    const NAME: &'static str;
    fn build(workers: usize) -> Self;
    /// Runs `fut` as a task spawned from the bench thread and waits for it.
    fn run<F: Future<Output = ()> + Send + 'static>(&self, fut: F);
    /// Spawns a detached task from inside the runtime.
    fn spawn<F: Future<Output = ()> + Send + 'static>(fut: F);
    /// `n_producers` tasks each send `per_producer` values into a channel of `capacity`;
    /// the calling task receives them all.
    fn fan_in(
        capacity: usize,
        n_producers: usize,
        per_producer: usize,
    ) -> impl Future<Output = ()> + Send;
    /// `round_trips` request/reply exchanges with a server task.
    fn request_reply(round_trips: usize) -> impl Future<Output = ()> + Send;
}

struct Creche(creche::Runtime);

impl Flavor for Creche {
    const NAME: &'static str = "creche";

    fn build(workers: usize) -> Self {
        Creche(
            creche::Runtime::builder()
                .worker_threads(workers)
                .build()
                .expect("creche runtime"),
        )
    }

    fn run<F: Future<Output = ()> + Send + 'static>(&self, fut: F) {
        let task = self.0.spawn(fut);
        self.0.block_on(task).expect("creche task");
    }

    fn spawn<F: Future<Output = ()> + Send + 'static>(fut: F) {
        let _detached = creche::spawn(fut);
    }

    async fn fan_in(capacity: usize, n_producers: usize, per_producer: usize) {
        let (tx, rx) = creche::sync::channel::<usize>(capacity);
        for _ in 0..n_producers {
            let tx = tx.clone();
            Self::spawn(async move {
                for i in 0..per_producer {
                    tx.send(i).await.expect("receiver open");
                }
            });
        }
        drop(tx);
        for _ in 0..n_producers * per_producer {
            std::hint::black_box(rx.recv().await.expect("a value"));
        }
    }

    async fn request_reply(round_trips: usize) {
        let (tx, rx) = creche::sync::channel::<creche::sync::Sender<()>>(0);
        Self::spawn(async move {
            while let Ok(reply) = rx.recv().await {
                let _ = reply.send(()).await;
            }
        });
        for _ in 0..round_trips {
            let (reply_tx, reply_rx) = creche::sync::channel(1);
            tx.send(reply_tx).await.expect("server alive");
            reply_rx.recv().await.expect("a reply");
        }
    }
}

struct Tokio(tokio::runtime::Runtime);

impl Flavor for Tokio {
    const NAME: &'static str = "tokio";

    fn build(workers: usize) -> Self {
        Tokio(
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(workers)
                .build()
                .expect("tokio runtime"),
        )
    }

    fn run<F: Future<Output = ()> + Send + 'static>(&self, fut: F) {
        let task = self.0.spawn(fut);
        self.0.block_on(task).expect("tokio task");
    }

    fn spawn<F: Future<Output = ()> + Send + 'static>(fut: F) {
        let _detached = tokio::spawn(fut);
    }

    async fn fan_in(capacity: usize, n_producers: usize, per_producer: usize) {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<usize>(capacity);
        for _ in 0..n_producers {
            let tx = tx.clone();
            Self::spawn(async move {
                for i in 0..per_producer {
                    tx.send(i).await.expect("receiver open");
                }
            });
        }
        drop(tx);
        for _ in 0..n_producers * per_producer {
            std::hint::black_box(rx.recv().await.expect("a value"));
        }
    }

    async fn request_reply(round_trips: usize) {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<tokio::sync::oneshot::Sender<()>>(10);
        Self::spawn(async move {
            while let Some(reply) = rx.recv().await {
                let _ = reply.send(());
            }
        });
        for _ in 0..round_trips {
            let (reply_tx, reply_rx) = tokio::sync::oneshot::channel();
            tx.send(reply_tx).await.expect("server alive");
            reply_rx.await.expect("a reply");
        }
    }
}

/// Every group name, in run order.
fn groups() -> Vec<String> {
    let mut names = Vec::new();
    for cap in CAPACITIES {
        names.push(format!("channel_1to1_cap{cap}"));
    }
    for cap in CAPACITIES {
        names.push(format!("channel_8to1_cap{cap}"));
    }
    names.push("rendezvous_request_reply".to_owned());
    names
}

fn bench_flavor<R: Flavor>(c: &mut Criterion, group: &str, workers: usize) {
    let rt = R::build(workers);
    let mut g = c.benchmark_group(group);
    let work: Box<dyn Fn(&R)> = if let Some(cap) = group.strip_prefix("channel_1to1_cap") {
        let cap: usize = cap.parse().expect("capacity");
        Box::new(move |rt: &R| rt.run(R::fan_in(cap, 1, ONE_TO_ONE)))
    } else if let Some(cap) = group.strip_prefix("channel_8to1_cap") {
        let cap: usize = cap.parse().expect("capacity");
        Box::new(move |rt: &R| rt.run(R::fan_in(cap, PRODUCERS, PER_PRODUCER)))
    } else {
        Box::new(|rt: &R| rt.run(R::request_reply(ROUND_TRIPS)))
    };
    g.bench_function(R::NAME, |b| b.iter(|| work(&rt)));
    g.finish();
}

/// Where criterion writes its results (as criterion 0.5 decides it).
fn criterion_dir() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return PathBuf::from(home);
    }
    if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(target).join("criterion");
    }
    if let Ok(exe) = std::env::current_exe() {
        let target = exe.ancestors().skip(1).find(|dir| {
            dir.file_name().is_some_and(|name| name == "target")
                || dir.join("CACHEDIR.TAG").is_file()
        });
        if let Some(target) = target {
            return target.join("criterion");
        }
    }
    PathBuf::from("target/criterion")
}

/// The median (ns) this run wrote for `group`/`runtime`, if it wrote one after `since`.
fn median_ns(group: &str, runtime: &str, since: SystemTime) -> Option<f64> {
    let path = criterion_dir()
        .join(group)
        .join(runtime)
        .join("new")
        .join("estimates.json");
    if std::fs::metadata(&path).ok()?.modified().ok()? < since {
        return None;
    }
    let text = std::fs::read_to_string(path).ok()?;
    let estimates: serde_json::Value = serde_json::from_str(&text).ok()?;
    estimates["median"]["point_estimate"].as_f64()
}

fn print_table(since: SystemTime, workers: usize) {
    let cell = |ns: Option<f64>| ns.map_or("—".to_owned(), |ns| format!("{:.1} µs", ns / 1e3));
    println!("\nsync_channel: {workers} worker thread(s) per runtime; median per iteration\n");
    println!("| workload | creche | tokio | creche/tokio |");
    println!("|---|---:|---:|---:|");
    for group in groups() {
        let creche = median_ns(&group, Creche::NAME, since);
        let tokio = median_ns(&group, Tokio::NAME, since);
        if creche.is_none() && tokio.is_none() {
            continue;
        }
        let ratio = match (creche, tokio) {
            (Some(c), Some(t)) => format!("{:.2}", c / t),
            _ => "—".to_owned(),
        };
        println!("| {group} | {} | {} | {ratio} |", cell(creche), cell(tokio));
    }
}

/// The quick mode (`CRECHE_BENCH_MIN_OF=N`): each workload runs N times on each runtime,
/// alternating, and the fastest run of each is compared. The minimum is what a noisy machine
/// (shared cores) disturbs least; this is a cross-check, not criterion's statistics.
fn min_of(rounds: usize, workers: usize) {
    let creche = Creche::build(workers);
    let tokio = Tokio::build(workers);
    fn time(f: impl FnOnce()) -> Duration {
        let start = std::time::Instant::now();
        f();
        start.elapsed()
    }
    fn once<R: Flavor>(rt: &R, group: &str) -> Duration {
        if let Some(cap) = group.strip_prefix("channel_1to1_cap") {
            let cap: usize = cap.parse().expect("capacity");
            time(|| rt.run(R::fan_in(cap, 1, ONE_TO_ONE)))
        } else if let Some(cap) = group.strip_prefix("channel_8to1_cap") {
            let cap: usize = cap.parse().expect("capacity");
            time(|| rt.run(R::fan_in(cap, PRODUCERS, PER_PRODUCER)))
        } else {
            time(|| rt.run(R::request_reply(ROUND_TRIPS)))
        }
    }
    println!("sync_channel: fastest of {rounds} alternating runs, {workers} worker(s)\n");
    println!("| workload | creche | tokio | creche/tokio |");
    println!("|---|---:|---:|---:|");
    for group in groups() {
        let (mut c, mut t) = (Duration::MAX, Duration::MAX);
        for _ in 0..rounds {
            c = c.min(once(&creche, &group));
            t = t.min(once(&tokio, &group));
        }
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        println!(
            "| {group} | {:.1} µs | {:.1} µs | {:.2} |",
            us(c),
            us(t),
            us(c) / us(t)
        );
    }
}

fn main() {
    let workers = thread::available_parallelism().map_or(1, |n| n.get());
    if let Some(rounds) = std::env::var("CRECHE_BENCH_MIN_OF")
        .ok()
        .and_then(|n| n.parse().ok())
    {
        return min_of(rounds, workers);
    }
    let started = SystemTime::now();
    let mut c = Criterion::default()
        .sample_size(SAMPLE_SIZE)
        .warm_up_time(WARM_UP)
        .measurement_time(MEASUREMENT)
        .configure_from_args();
    for group in groups() {
        bench_flavor::<Creche>(&mut c, &group, workers);
        bench_flavor::<Tokio>(&mut c, &group, workers);
    }
    c.final_summary();
    print_table(started, workers);
}
