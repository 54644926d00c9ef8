//! `Builder`: worker counts below and above the core count, the options that are errors,
//! thread names and stack size, and the blocking pool's bound.

mod common;

use common::{Counter, panic_message, watchdog};
use creche::{BuildError, Runtime};
use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};

/// Spawns `count` tasks from block_on, returns the sum of their outputs and the names of the
/// threads that ran them.
fn run_tasks(rt: &Runtime, count: u64) -> (u64, HashSet<String>) {
    rt.block_on(async {
        let tasks: Vec<_> = (0..count)
            .map(|i| {
                creche::spawn(async move {
                    if i % 7 == 0 {
                        creche::yield_now().await;
                    }
                    (i, std::thread::current().name().unwrap().to_owned())
                })
            })
            .collect();
        let mut sum = 0;
        let mut names = HashSet::new();
        for task in tasks {
            let (i, name) = task.await.unwrap();
            sum += i;
            names.insert(name);
        }
        (sum, names)
    })
}

#[test]
fn builder_worker_threads_fewer_and_more_than_cores() {
    let _w = watchdog("builder_worker_threads_fewer_and_more_than_cores");
    const TASKS: u64 = 10_000;
    for workers in [1, 8] {
        let stopped = Counter::new();
        let rt = Runtime::builder()
            .worker_threads(workers)
            .thread_name(format!("w{workers}"))
            .on_thread_stop({
                let stopped = stopped.clone();
                move || {
                    stopped.incr();
                }
            })
            .build()
            .unwrap();
        assert_eq!(rt.handle().num_workers(), workers);
        let (sum, names) = run_tasks(&rt, TASKS);
        assert_eq!(sum, TASKS * (TASKS - 1) / 2, "{workers} workers");
        assert!(!names.is_empty() && names.len() <= workers, "{names:?}");
        for name in &names {
            assert!(name.starts_with(&format!("w{workers}-worker-")), "{name}");
        }
        drop(rt);
        assert_eq!(stopped.get(), workers, "worker threads started and joined");
    }
}

#[test]
fn builder_default_worker_threads_is_core_count() {
    let _w = watchdog("builder_default_worker_threads_is_core_count");
    let cores = std::thread::available_parallelism().unwrap().get();
    assert_eq!(Runtime::new().unwrap().handle().num_workers(), cores);
    assert_eq!(
        creche::Builder::new()
            .build()
            .unwrap()
            .handle()
            .num_workers(),
        cores
    );
}

#[test]
fn builder_zero_counts_are_errors() {
    let _w = watchdog("builder_zero_counts_are_errors");
    let err = Runtime::builder().worker_threads(0).build().unwrap_err();
    assert!(matches!(err, BuildError::ZeroWorkerThreads), "{err:?}");
    assert!(err.to_string().contains("worker_threads"), "{err}");
    let io: std::io::Error = err.into();
    assert_eq!(io.kind(), std::io::ErrorKind::InvalidInput);

    let err = Runtime::builder()
        .max_blocking_threads(0)
        .build()
        .unwrap_err();
    assert!(matches!(err, BuildError::ZeroBlockingThreads), "{err:?}");
    assert!(err.to_string().contains("max_blocking_threads"), "{err}");

    // Non-zero again after a zero: the last call wins.
    let rt = Runtime::builder()
        .worker_threads(0)
        .worker_threads(1)
        .build()
        .unwrap();
    assert_eq!(rt.handle().num_workers(), 1);
}

#[test]
fn builder_thread_name_prefix() {
    let _w = watchdog("builder_thread_name_prefix");
    let rt = Runtime::builder()
        .worker_threads(2)
        .thread_name("my-app")
        .build()
        .unwrap();
    let name = || std::thread::current().name().unwrap().to_owned();
    let worker = rt.block_on(rt.spawn(async move { name() })).unwrap();
    assert!(worker.starts_with("my-app-worker-"), "{worker}");
    let blocking = rt.block_on(rt.spawn_blocking(name)).unwrap();
    assert!(blocking.starts_with("my-app-blocking"), "{blocking}");
}

#[inline(never)]
fn use_stack(bytes: usize) -> u8 {
    // A large frame the optimiser cannot remove.
    let mut buffer = [0_u8; 3 << 20];
    buffer[bytes % buffer.len()] = 1;
    std::hint::black_box(&mut buffer);
    buffer.iter().fold(0_u8, |a, b| a.wrapping_add(*b))
}

#[test]
fn builder_thread_stack_size() {
    let _w = watchdog("builder_thread_stack_size");
    // A 3 MiB frame overflows the platform's default 2 MiB thread stack (aborting the test
    // process), so this passes only if the setting reaches the workers and blocking threads.
    let rt = Runtime::builder()
        .worker_threads(1)
        .thread_stack_size(16 << 20)
        .build()
        .unwrap();
    assert_eq!(rt.block_on(rt.spawn(async { use_stack(5) })).unwrap(), 1);
    assert_eq!(rt.block_on(rt.spawn_blocking(|| use_stack(6))).unwrap(), 1);
}

#[test]
fn builder_spawn_blocking_beyond_max_threads() {
    let _w = watchdog("builder_spawn_blocking_beyond_max_threads");
    const CLOSURES: usize = 64;
    let rt = Runtime::builder()
        .worker_threads(1)
        .max_blocking_threads(2)
        .build()
        .unwrap();
    let active = Arc::new(AtomicUsize::new(0));
    let max_active = Arc::new(AtomicUsize::new(0));
    let threads = Arc::new(Mutex::new(HashSet::new()));
    let tasks: Vec<_> = (0..CLOSURES)
        .map(|i| {
            let (active, max_active, threads) =
                (active.clone(), max_active.clone(), threads.clone());
            rt.spawn_blocking(move || {
                let now = active.fetch_add(1, SeqCst) + 1;
                max_active.fetch_max(now, SeqCst);
                threads.lock().unwrap().insert(std::thread::current().id());
                // Hold the thread until a second closure runs beside this one, so that the
                // cap is actually reached (a pool stuck at one thread hangs: the watchdog).
                while max_active.load(SeqCst) < 2 {
                    std::thread::yield_now();
                }
                active.fetch_sub(1, SeqCst);
                i
            })
        })
        .collect();
    let outputs: Vec<usize> = tasks
        .into_iter()
        .map(|task| rt.block_on(task).unwrap())
        .collect();
    assert_eq!(outputs, (0..CLOSURES).collect::<Vec<_>>());
    let max = max_active.load(SeqCst);
    assert!((1..=2).contains(&max), "{max} closures ran at once");
    let threads = threads.lock().unwrap().len();
    assert!((1..=2).contains(&threads), "{threads} blocking threads");

    // Also from inside tasks, awaiting as they go.
    let sum = rt.block_on(async {
        let tasks: Vec<_> = (0..CLOSURES as u64)
            .map(|i| creche::spawn(async move { creche::spawn_blocking(move || i).await.unwrap() }))
            .collect();
        let mut sum = 0;
        for task in tasks {
            sum += task.await.unwrap();
        }
        sum
    });
    assert_eq!(sum, (0..CLOSURES as u64).sum::<u64>());
}

#[test]
fn builder_spawn_blocking_panic_reaches_join_handle() {
    let _w = watchdog("builder_spawn_blocking_panic_reaches_join_handle");
    let rt = Runtime::builder()
        .worker_threads(1)
        .max_blocking_threads(1)
        .build()
        .unwrap();
    let task = rt.spawn_blocking(|| -> u32 { panic!("blocking boom") });
    let id = task.id();
    let err = rt.block_on(task).unwrap_err();
    assert!(err.is_panic(), "{err:?}");
    assert_eq!(err.id(), id);
    assert_eq!(panic_message(err.into_panic().as_ref()), "blocking boom");
    // The only blocking thread survived the panic (or was replaced): the pool still works.
    assert_eq!(rt.block_on(rt.spawn_blocking(|| 3)).unwrap(), 3);
}

/// An idle blocking thread retires after the keep-alive, is joined by the next one to retire
/// or at shutdown, and the pool starts new threads afterwards.
#[test]
fn blocking_threads_retire_after_keep_alive_and_are_replaced() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    let stopped = Arc::new(AtomicUsize::new(0));
    let counter = stopped.clone();
    let rt = creche::Runtime::builder()
        .worker_threads(1)
        .thread_keep_alive(std::time::Duration::from_millis(1))
        .on_thread_stop(move || {
            counter.fetch_add(1, SeqCst);
        })
        .build()
        .unwrap();
    for round in 1..=3 {
        assert_eq!(
            rt.block_on(rt.spawn_blocking(move || round)).unwrap(),
            round
        );
        // Wait (on a condition, not a duration) until that blocking thread has retired.
        while stopped.load(SeqCst) < round {
            std::thread::yield_now();
        }
    }
    drop(rt);
    // Three blocking threads and the worker.
    assert_eq!(stopped.load(SeqCst), 4);
}
