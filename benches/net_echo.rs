//! TCP echo over loopback: creche vs tokio vs smol, one criterion group (`net_echo`).
//!
//! **Shape.** 64 connections over 127.0.0.1 (`TCP_NODELAY` on every socket), set up once per
//! runtime before measuring. One iteration runs, on each connection, a client task that sends
//! 250 messages of 64 bytes one at a time (write 64 bytes, then read the 64-byte echo before
//! the next) and a server task that reads each message and writes it back: 16,000 round trips
//! and 64,000 socket syscalls per iteration, on 128 tasks that each wait for readiness about
//! 250 times. With messages this small the time goes to the reactor (readiness bookkeeping,
//! epoll, waking the task) and the scheduler, not to copying bytes.
//!
//! **Runtimes**, one worker per core (`available_parallelism()`) each, one runtime alive at a
//! time: creche (`creche::net::TcpStream`, `creche::spawn`, the facade runtime: the I/O
//! driver under the timer driver), tokio (multi-thread runtime, `tokio::net::TcpStream`,
//! `tokio::spawn`), smol (`async_io::Async<std::net::TcpStream>` on an `async-executor`
//! run by one thread per core, each in `async_io::block_on`, so that the workers drive
//! async-io's reactor as smol does).
//!
//! ```sh
//! cargo bench --bench net_echo
//! ```
//!
//! prints criterion's figures, then a markdown table of the medians with creche/tokio and
//! creche/smol ratios (lower is better), and on a full run (every runtime measured) writes
//! it into `BENCHMARKS.md` between `<!-- net_echo:begin -->` and `<!-- net_echo:end -->`.

use criterion::{BenchmarkGroup, Criterion, measurement::WallTime};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use std::{env, fs, thread};

/// Connections (each a client task and a server task).
const CONNECTIONS: usize = 64;
/// Round trips per connection per iteration.
const MESSAGES: usize = 250;
/// Bytes per message.
const MESSAGE: usize = 64;
/// The criterion group.
const GROUP: &str = "net_echo";
/// Table columns, in run order.
const RUNTIMES: [&str; 3] = ["creche", "tokio", "smol"];
/// Marker lines in `BENCHMARKS.md`.
const BEGIN: &str = "<!-- net_echo:begin -->";
const END: &str = "<!-- net_echo:end -->";

fn workers() -> usize {
    thread::available_parallelism().map_or(1, |n| n.get())
}

// --- creche ----------------------------------------------------------------------------------

fn creche(group: &mut BenchmarkGroup<'_, WallTime>) {
    use creche::net::{TcpListener, TcpStream};
    let rt = creche::Builder::new()
        .worker_threads(workers())
        .build()
        .expect("creche runtime");
    let pairs: Vec<(Arc<TcpStream>, Arc<TcpStream>)> = rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mut pairs = Vec::new();
        for _ in 0..CONNECTIONS {
            let client = TcpStream::connect(addr).await.unwrap();
            let (server, _) = listener.accept().await.unwrap();
            client.set_nodelay(true).unwrap();
            server.set_nodelay(true).unwrap();
            pairs.push((Arc::new(client), Arc::new(server)));
        }
        pairs
    });
    group.bench_function("creche", |b| {
        b.iter(|| {
            rt.block_on(async {
                let mut tasks = Vec::with_capacity(2 * CONNECTIONS);
                for (client, server) in &pairs {
                    let server = server.clone();
                    tasks.push(creche::spawn(async move {
                        let mut buf = [0; MESSAGE];
                        for _ in 0..MESSAGES {
                            server.read_exact(&mut buf).await.unwrap();
                            server.write_all(&buf).await.unwrap();
                        }
                    }));
                    let client = client.clone();
                    tasks.push(creche::spawn(async move {
                        let mut buf = [7; MESSAGE];
                        for _ in 0..MESSAGES {
                            client.write_all(&buf).await.unwrap();
                            client.read_exact(&mut buf).await.unwrap();
                        }
                    }));
                }
                for task in tasks {
                    task.await.unwrap();
                }
            })
        })
    });
}

// --- tokio -----------------------------------------------------------------------------------

fn tokio(group: &mut BenchmarkGroup<'_, WallTime>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers())
        .enable_all()
        .build()
        .expect("tokio runtime");
    let mut pairs: Vec<(TcpStream, TcpStream)> = rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut pairs = Vec::new();
        for _ in 0..CONNECTIONS {
            let client = TcpStream::connect(addr).await.unwrap();
            let (server, _) = listener.accept().await.unwrap();
            client.set_nodelay(true).unwrap();
            server.set_nodelay(true).unwrap();
            pairs.push((client, server));
        }
        pairs
    });
    group.bench_function("tokio", |b| {
        b.iter(|| {
            // tokio's streams read through `&mut`: each task owns its stream and hands it back.
            pairs = rt.block_on(async {
                let mut tasks = Vec::with_capacity(CONNECTIONS);
                for (mut client, mut server) in pairs.drain(..) {
                    let server = tokio::spawn(async move {
                        let mut buf = [0; MESSAGE];
                        for _ in 0..MESSAGES {
                            server.read_exact(&mut buf).await.unwrap();
                            server.write_all(&buf).await.unwrap();
                        }
                        server
                    });
                    let client = tokio::spawn(async move {
                        let mut buf = [7; MESSAGE];
                        for _ in 0..MESSAGES {
                            client.write_all(&buf).await.unwrap();
                            client.read_exact(&mut buf).await.unwrap();
                        }
                        client
                    });
                    tasks.push((client, server));
                }
                let mut pairs = Vec::with_capacity(CONNECTIONS);
                for (client, server) in tasks {
                    pairs.push((client.await.unwrap(), server.await.unwrap()));
                }
                pairs
            });
        })
    });
}

// --- smol ------------------------------------------------------------------------------------

fn smol(group: &mut BenchmarkGroup<'_, WallTime>) {
    use async_io::Async;
    use futures_lite::{AsyncReadExt, AsyncWriteExt};
    use std::net::{TcpListener, TcpStream};
    let ex: &'static async_executor::Executor<'static> =
        Box::leak(Box::new(async_executor::Executor::new()));
    let (stop, stopped) = async_channel::bounded::<()>(1);
    let threads: Vec<_> = (0..workers())
        .map(|_| {
            let stopped = stopped.clone();
            thread::spawn(move || {
                async_io::block_on(ex.run(async move {
                    let _ = stopped.recv().await; // Err(Closed) once `stop` is dropped
                }))
            })
        })
        .collect();
    type Shared = Arc<Async<TcpStream>>;
    let pairs: Vec<(Shared, Shared)> = async_io::block_on(async {
        let listener = Async::<TcpListener>::bind(([127, 0, 0, 1], 0)).unwrap();
        let addr = listener.get_ref().local_addr().unwrap();
        let mut pairs = Vec::new();
        for _ in 0..CONNECTIONS {
            let client = Async::<TcpStream>::connect(addr).await.unwrap();
            let (server, _) = listener.accept().await.unwrap();
            client.get_ref().set_nodelay(true).unwrap();
            server.get_ref().set_nodelay(true).unwrap();
            pairs.push((Arc::new(client), Arc::new(server)));
        }
        pairs
    });
    group.bench_function("smol", |b| {
        b.iter(|| {
            async_io::block_on(async {
                let mut tasks = Vec::with_capacity(2 * CONNECTIONS);
                for (client, server) in &pairs {
                    let server = server.clone();
                    tasks.push(ex.spawn(async move {
                        let mut buf = [0; MESSAGE];
                        for _ in 0..MESSAGES {
                            (&*server).read_exact(&mut buf).await.unwrap();
                            (&*server).write_all(&buf).await.unwrap();
                        }
                    }));
                    let client = client.clone();
                    tasks.push(ex.spawn(async move {
                        let mut buf = [7; MESSAGE];
                        for _ in 0..MESSAGES {
                            (&*client).write_all(&buf).await.unwrap();
                            (&*client).read_exact(&mut buf).await.unwrap();
                        }
                    }));
                }
                for task in tasks {
                    task.await;
                }
            })
        })
    });
    drop(pairs);
    drop(stop);
    for thread in threads {
        thread.join().expect("a smol worker panicked");
    }
}

// --- report ----------------------------------------------------------------------------------

/// Where criterion 0.5 writes its results: `$CRITERION_HOME`, `$CARGO_TARGET_DIR/criterion`,
/// or `<target dir>/criterion` (found from this binary's path, `<target>/<profile>/deps/`).
fn criterion_dir() -> PathBuf {
    if let Some(home) = env::var_os("CRITERION_HOME") {
        return PathBuf::from(home);
    }
    if let Some(target) = env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(target).join("criterion");
    }
    env::current_exe()
        .ok()
        .and_then(|exe| {
            exe.ancestors()
                .skip(1)
                .find(|dir| dir.join("CACHEDIR.TAG").is_file())
                .map(|target| target.join("criterion"))
        })
        .unwrap_or_else(|| PathBuf::from("target/criterion"))
}

fn estimates(runtime: &str) -> PathBuf {
    criterion_dir()
        .join(GROUP)
        .join(runtime)
        .join("new")
        .join("estimates.json")
}

fn modified(path: &Path) -> Option<SystemTime> {
    fs::metadata(path).ok()?.modified().ok()
}

/// `median.point_estimate` (ns) of an estimates file.
fn median_ns(path: &Path) -> Option<f64> {
    let json: serde_json::Value = serde_json::from_str(&fs::read_to_string(path).ok()?).ok()?;
    json["median"]["point_estimate"].as_f64()
}

fn human(ns: f64) -> String {
    if ns >= 1e9 {
        format!("{:.2} s", ns / 1e9)
    } else if ns >= 1e6 {
        format!("{:.1} ms", ns / 1e6)
    } else {
        format!("{:.1} µs", ns / 1e3)
    }
}

/// The markdown block written between the markers.
fn render(medians: &[f64; 3]) -> String {
    let mut out = String::new();
    let cores = workers();
    let _ = writeln!(
        out,
        "Median time per iteration (criterion `median.point_estimate`, lower is better): \
         {CONNECTIONS} loopback connections, each {MESSAGES} round trips of {MESSAGE} bytes \
         (write, then read the echo), client and server tasks on the same runtime.\n"
    );
    let _ = writeln!(
        out,
        "Cores: {cores}; every runtime runs {cores} worker thread(s). Command: \
         `cargo bench --bench net_echo`\n"
    );
    let _ = writeln!(
        out,
        "| workload | creche | tokio | smol | creche/tokio | creche/smol | round trips/s (creche) |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|");
    let [creche, tokio, smol] = *medians;
    let round_trips = (CONNECTIONS * MESSAGES) as f64 / (creche / 1e9);
    let _ = writeln!(
        out,
        "| net_echo | {} | {} | {} | {:.2}× | {:.2}× | {:.0} |",
        human(creche),
        human(tokio),
        human(smol),
        creche / tokio,
        creche / smol,
        round_trips
    );
    out
}

/// Replaces the text between the markers of `BENCHMARKS.md` with `body`.
fn write_benchmarks_md(body: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("BENCHMARKS.md");
    let Ok(doc) = fs::read_to_string(&path) else {
        return;
    };
    let (Some(begin), Some(end)) = (doc.find(BEGIN), doc.find(END)) else {
        println!("net_echo: BENCHMARKS.md lacks the {BEGIN} / {END} markers; not written");
        return;
    };
    if end < begin {
        return;
    }
    let updated = format!(
        "{}\n{}\n{}",
        &doc[..begin + BEGIN.len()],
        body.trim_end(),
        &doc[end..]
    );
    match fs::write(&path, updated) {
        Ok(()) => println!("net_echo: table written to {}", path.display()),
        Err(e) => println!("net_echo: could not write {}: {e}", path.display()),
    }
}

fn main() {
    let args: Vec<String> = env::args().collect();
    let has = |flag: &str| args.iter().skip(1).any(|arg| arg == flag);
    let measuring = has("--bench") && !has("--test") && !has("--list");
    let before: Vec<Option<SystemTime>> =
        RUNTIMES.iter().map(|r| modified(&estimates(r))).collect();

    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .configure_from_args();
    let mut group = c.benchmark_group(GROUP);
    creche(&mut group);
    tokio(&mut group);
    smol(&mut group);
    group.finish();
    c.final_summary();

    if !measuring {
        return;
    }
    // Only estimates this run rewrote count (a filtered run leaves the others old).
    let fresh: Vec<Option<f64>> = RUNTIMES
        .iter()
        .zip(&before)
        .map(|(runtime, before)| {
            let path = estimates(runtime);
            let now = modified(&path)?;
            if before.is_some_and(|before| before >= now) {
                return None;
            }
            median_ns(&path)
        })
        .collect();
    match fresh[..] {
        [Some(creche), Some(tokio), Some(smol)] => {
            let table = render(&[creche, tokio, smol]);
            println!("\n{table}");
            write_benchmarks_md(&table);
        }
        _ => println!("net_echo: not every runtime was measured; no table"),
    }
}
