//! Nursery lifetime: children run in parallel; `TaskHandle::join` gives values (also after the
//! block has closed) or `Cancelled`; `Nursery` is `Clone + Send + Sync`; the task tree shows
//! `run` as the root, names, spawn sites, nesting and pending starts; dropping an open nursery
//! from outside (a foreign select) drops its children (idle ones at once, running ones when
//! their poll returns) and reports a pending failure as lost.

mod common;

use common::{Counter, Gate, install_hook, secs, seen_named, tracked, watchdog};
use creche::lowlevel::{FailureKind, Fate, task_tree};
use creche::testing::wait_all_tasks_blocked;
use creche::time::sleep_forever;
use creche::{
    CancelScope, Cancelled, Nursery, OpenNursery, TaskHandle, TaskStatus, checkpoint, open_nursery,
};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

#[creche::test(worker_threads = 2)]
async fn children_run_in_parallel() {
    let _w = watchdog("children_run_in_parallel");
    let flags = [
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    ];
    let result = open_nursery(|n| async move {
        for me in 0..2 {
            let (mine, other) = (flags[me].clone(), flags[1 - me].clone());
            n.spawn(async move {
                mine.store(true, SeqCst);
                // Blocks this worker (no await): only ends if the other child runs meanwhile,
                // on the other worker.
                while !other.load(SeqCst) {
                    std::thread::yield_now();
                }
                Ok::<_, ()>(me)
            });
        }
        Ok(())
    })
    .await;
    assert_eq!(result, Ok(Some(())));
}

#[creche::test(worker_threads = 1)]
async fn children_interleave_at_checkpoints_on_one_worker() {
    let _w = watchdog("children_interleave_at_checkpoints_on_one_worker");
    let log: Arc<Mutex<Vec<u8>>> = Arc::default();
    let l = log.clone();
    open_nursery(|n| async move {
        // Spawned from a task on the worker, so that both are queued before either runs
        // (spawns from the block_on thread could reach the worker one at a time).
        let spawner = n.clone();
        n.spawn(async move {
            for me in [b'a', b'b'] {
                let l = l.clone();
                spawner.spawn(async move {
                    for _ in 0..5 {
                        l.lock().unwrap().push(me);
                        checkpoint().await;
                    }
                    Ok::<_, ()>(())
                });
            }
            Ok(())
        });
        Ok(())
    })
    .await
    .unwrap();
    let log = log.lock().unwrap().clone();
    assert_eq!(log.len(), 10);
    // Both made progress before either finished: not "aaaaabbbbb".
    let first_a_done = log.iter().rposition(|&c| c == b'a').unwrap();
    let first_b_done = log.iter().rposition(|&c| c == b'b').unwrap();
    let a_first_seen = log.iter().position(|&c| c == b'a').unwrap();
    let b_first_seen = log.iter().position(|&c| c == b'b').unwrap();
    assert!(
        b_first_seen < first_a_done && a_first_seen < first_b_done,
        "{:?}",
        String::from_utf8_lossy(&log)
    );
}

#[creche::test(autojump)]
async fn join_returns_values_and_cancelled() {
    let _w = watchdog("join_returns_values_and_cancelled");
    // Ok child, failed child; the handles escape the failed block.
    let handles: Arc<Mutex<Vec<TaskHandle<u32>>>> = Arc::default();
    let h = handles.clone();
    let result = open_nursery(|n| async move {
        let ok = n.spawn(async { Ok(3) });
        assert_eq!(ok.join().await, Ok(3), "join inside the block");
        h.lock().unwrap().push(n.spawn(async { Ok(4) }));
        h.lock().unwrap().push(n.spawn(async {
            creche::time::sleep(secs(1)).await;
            Err("failed")
        }));
        sleep_forever().await;
        Ok(())
    })
    .await;
    assert_eq!(result, Err("failed"));
    let mut handles = std::mem::take(&mut *handles.lock().unwrap());
    let failed = handles.pop().unwrap();
    let ok = handles.pop().unwrap();
    assert_eq!(ok.join().await, Ok(4));
    assert_eq!(failed.join().await, Err(Cancelled));

    // A cancelled child.
    let result = open_nursery(|n| async move {
        let sleeper = n.spawn(async {
            sleep_forever().await;
            Ok::<u32, ()>(5)
        });
        wait_all_tasks_blocked().await;
        n.cancel_scope().cancel();
        Ok(sleeper)
    })
    .await;
    let sleeper = result.unwrap().unwrap();
    assert_eq!(sleeper.join().await, Err(Cancelled));
}

#[creche::test(autojump)]
async fn join_after_close_returns_stored_output() {
    let _w = watchdog("join_after_close_returns_stored_output");
    let mut kept = None;
    open_nursery(|n| {
        kept = Some(n.spawn(async {
            creche::time::sleep(secs(1)).await;
            Ok::<_, ()>(String::from("stored"))
        }));
        async { Ok(()) }
    })
    .await
    .unwrap();
    let handle = kept.unwrap();
    assert_eq!(handle.join().await, Ok(String::from("stored")));
}

#[creche::test(autojump)]
async fn join_has_the_value_once_nursery_closed() {
    let _w = watchdog("join_has_the_value_once_nursery_closed");
    // The nursery returns once every child's future is dropped; the value is in the handle
    // then (the runtime may mark the task complete an instant later: `is_finished` follows).
    for i in 0..200 {
        let mut kept = None;
        open_nursery(|n| {
            kept = Some(n.spawn(async move { Ok::<_, ()>(i) }));
            async { Ok(()) }
        })
        .await
        .unwrap();
        let handle = kept.unwrap();
        while !handle.is_finished() {
            std::thread::yield_now();
        }
        assert_eq!(handle.join().await, Ok(i), "iteration {i}");
    }
}

#[test]
fn nursery_is_clone_send_sync() {
    fn clone_send_sync<T: Clone + Send + Sync + 'static>() {}
    fn send<T: Send>(_: &T) {}
    clone_send_sync::<Nursery<()>>();
    clone_send_sync::<Nursery<std::io::Error>>();
    clone_send_sync::<CancelScope>();
    fn handle_send<T: Send + 'static>() {}
    handle_send::<TaskHandle<String>>();
    // The open_nursery future is Send when its body is.
    let f = open_nursery(|n: Nursery<()>| async move {
        n.spawn(async { Ok(()) });
        Ok(())
    });
    send(&f);
}

#[test]
fn run_is_the_tree_root() {
    let _w = watchdog("run_is_the_tree_root");
    let (tree, line) = creche::run(async {
        let line = line!() + 1;
        let tree = open_nursery(|n| async move {
            n.spawn_named("lifetime-root-child", async {
                sleep_forever().await;
                Ok::<(), ()>(())
            });
            let tree = task_tree();
            n.cancel_scope().cancel();
            Ok::<_, ()>(tree)
        })
        .await;
        (tree.unwrap().unwrap(), line)
    });
    let lines: Vec<(usize, &str)> = tree.lines().collect();
    let needle = format!("nursery opened at tests/nursery_lifetime.rs:{line}:");
    let i = lines
        .iter()
        .position(|(_, l)| l.starts_with(&needle))
        .unwrap_or_else(|| panic!("no `{needle}` in\n{tree}"));
    assert_eq!(lines[i].0, 1, "the nursery is at depth 1:\n{tree}");
    assert_eq!(lines[i - 1].0, 0, "{tree}");
    assert!(lines[i - 1].1.starts_with("run"), "{tree}");
    assert!(lines[i + 1].1.contains("`lifetime-root-child`"), "{tree}");
    let text = tree.to_string();
    assert!(
        text.contains(&format!("\n  {needle}")) || text.starts_with(&format!("  {needle}")),
        "{text}"
    );
}

#[creche::test(autojump, worker_threads = 2)]
async fn tree_shows_names_sites_and_nesting() {
    let _w = watchdog("tree_shows_names_sites_and_nesting");
    const DB: &str = "tree-db-lifetime-7f3a";
    const LEAF: &str = "tree-leaf-lifetime-7f3a";
    let lines_at: Arc<Mutex<(u32, u32, u32)>> = Arc::default();
    let release = Gate::new();
    let (la, rel) = (lines_at.clone(), release.clone());
    let start_done = Counter::new();
    let tree = open_nursery(|n| async move {
        let la2 = la.clone();
        let db_line = line!() + 1;
        let db = n.spawn_named(DB, async move {
            let inner_line = line!() + 1;
            open_nursery(|inner| async move {
                inner.spawn_named(LEAF, async {
                    sleep_forever().await;
                    Ok::<(), ()>(())
                });
                Ok(())
            })
            .await?;
            la2.lock().unwrap().1 = inner_line;
            Ok(())
        });
        let n2 = n.clone();
        let la3 = la.clone();
        let sd = start_done.clone();
        n.spawn(async move {
            let start_line = line!() + 1;
            let start = n2.start(move |status: TaskStatus<()>| async move {
                rel.wait().await;
                status.started(());
                sleep_forever().await;
                Ok(())
            });
            la3.lock().unwrap().2 = start_line;
            let out = start.await.map_err(|_| ());
            sd.incr();
            out
        });
        la.lock().unwrap().0 = db_line;
        wait_all_tasks_blocked().await;
        let tree = task_tree();
        let db_id = db.id();
        // Let the start complete (a pending start would keep the tree alive), then cancel.
        release.open();
        while start_done.get() == 0 {
            checkpoint().await;
        }
        n.cancel_scope().cancel();
        Ok::<_, ()>((tree, db_id))
    })
    .await;
    let (tree, db_id) = tree.unwrap().unwrap();
    let (db_line, _, start_line) = *lines_at.lock().unwrap();
    let lines: Vec<(usize, &str)> = tree.lines().collect();
    let file = "tests/nursery_lifetime.rs";
    let i = lines
        .iter()
        .position(|(_, l)| l.contains(&format!("`{DB}`")))
        .unwrap_or_else(|| panic!("no {DB} in\n{tree}"));
    let (depth, db) = lines[i];
    assert!(db.starts_with(&format!("task {} ", db_id.as_u64())), "{db}");
    assert!(
        db.contains(&format!("spawned at {file}:{db_line}:")),
        "{db}"
    );
    assert!(db.ends_with("[running]"), "{db}");
    let (d1, inner) = lines[i + 1];
    assert_eq!(
        d1,
        depth + 1,
        "the nested nursery is under its task:\n{tree}"
    );
    assert!(
        inner.starts_with(&format!("nursery opened at {file}:")),
        "{tree}"
    );
    assert!(
        inner.contains(&format!("(in task {})", db_id.as_u64())),
        "{tree}"
    );
    let (d2, leaf) = lines[i + 2];
    assert_eq!(d2, depth + 2, "{tree}");
    assert!(
        leaf.contains(&format!("`{LEAF}`")) && leaf.ends_with("[running]"),
        "{tree}"
    );
    let starting = format!("spawned at {file}:{start_line}:");
    assert!(
        lines
            .iter()
            .any(|(_, l)| l.contains(&starting) && l.ends_with("[starting]")),
        "no pending start at line {start_line} in\n{tree}"
    );
    // Once the block has returned, nothing of ours stays in the tree.
    let after = task_tree().to_string();
    assert!(!after.contains(DB) && !after.contains(LEAF), "{after}");
}

/// Polls `future` once (a foreign select's first poll), without completing it.
async fn poll_once<F: Future + Unpin>(future: &mut F) -> bool {
    std::future::poll_fn(|cx: &mut Context<'_>| {
        Poll::Ready(Pin::new(&mut *future).poll(cx).is_ready())
    })
    .await
}

/// Sets `in_poll`, spins (inside its poll) until `release` is set, then stays pending forever
/// without registering a waker.
struct SpinInPoll {
    in_poll: Arc<AtomicBool>,
    release: Arc<AtomicBool>,
}

impl Future for SpinInPoll {
    type Output = Result<(), &'static str>;
    fn poll(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.in_poll.store(true, SeqCst);
        while !self.release.load(SeqCst) {
            std::thread::yield_now();
        }
        Poll::Pending
    }
}

type Boxed<F> = Pin<Box<F>>;

fn boxed<E, T, F, Fut>(f: OpenNursery<E, T, F, Fut>) -> Boxed<OpenNursery<E, T, F, Fut>> {
    Box::pin(f)
}

#[creche::test(autojump, worker_threads = 2)]
async fn foreign_select_drop_cancels_children() {
    let _w = watchdog("foreign_select_drop_cancels_children");
    let _hook = install_hook();
    const N: usize = 6;
    const LOST: &str = "lifetime-foreign-lost";

    // 1. Idle children are dropped before the drop returns.
    let (polls, drops) = (Counter::new(), Counter::new());
    let (p, d) = (polls.clone(), drops.clone());
    let mut nursery = boxed(open_nursery(|n| async move {
        for _ in 0..N {
            n.spawn(tracked(
                async {
                    sleep_forever().await;
                    Ok::<(), ()>(())
                },
                &p,
                &d,
            ));
        }
        sleep_forever().await;
        Ok(())
    }));
    assert!(!poll_once(&mut nursery).await);
    wait_all_tasks_blocked().await;
    assert_eq!(polls.get(), N);
    assert_eq!(drops.get(), 0);
    drop(nursery);
    assert_eq!(drops.get(), N, "idle children dropped in place");

    // 2. A pending failure is reported as lost.
    let (polls, drops) = (Counter::new(), Counter::new());
    let (p, d) = (polls.clone(), drops.clone());
    let fail = Gate::new();
    let f = fail.clone();
    let mut nursery = boxed(open_nursery(|n| async move {
        n.spawn(tracked(
            async {
                sleep_forever().await;
                Ok(())
            },
            &p,
            &d,
        ));
        n.spawn_named(LOST, async move {
            f.wait().await;
            Err::<(), _>("lost")
        });
        sleep_forever().await;
        Ok(())
    }));
    assert!(!poll_once(&mut nursery).await);
    // The child fails only now, while nobody polls the nursery.
    fail.open();
    wait_all_tasks_blocked().await;
    drop(nursery);
    assert_eq!(drops.get(), 1);
    let seen: Vec<_> = seen_named(LOST).iter().map(|s| (s.kind, s.fate)).collect();
    assert_eq!(seen, [(FailureKind::Error, Fate::Lost)]);

    // 3. A child in the middle of its poll is dropped as soon as the poll returns.
    let drops = Counter::new();
    let d = drops.clone();
    let in_poll = Arc::new(AtomicBool::new(false));
    let release = Arc::new(AtomicBool::new(false));
    let (ip, rl) = (in_poll.clone(), release.clone());
    let mut nursery = boxed(open_nursery(|n| async move {
        n.spawn(tracked(
            SpinInPoll {
                in_poll: ip,
                release: rl,
            },
            &Counter::new(),
            &d,
        ));
        sleep_forever().await;
        Ok(())
    }));
    assert!(!poll_once(&mut nursery).await);
    while !in_poll.load(SeqCst) {
        std::thread::yield_now();
    }
    drop(nursery);
    assert_eq!(
        drops.get(),
        0,
        "a child being polled cannot be dropped from here"
    );
    release.store(true, SeqCst);
    drops.wait_for(1);
    assert_eq!(drops.get(), 1);
}
