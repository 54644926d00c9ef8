//! Task ids: `task::id()` inside a task is its `JoinHandle`'s id (stable across polls), ids
//! are unique across tasks spawned from many threads, and there is no id outside a task
//! (including in `block_on`'s future, which is not a task).

mod common;

use common::{panic_message, watchdog};
use creche::Runtime;
use creche::task::{self, TaskId};
use std::collections::HashSet;

fn runtime(workers: usize) -> Runtime {
    Runtime::builder().worker_threads(workers).build().unwrap()
}

#[test]
fn task_id_matches_join_handle() {
    let _w = watchdog("task_id_matches_join_handle");
    let rt = runtime(2);
    let task = rt.spawn(async {
        let first = task::id();
        // The same id in later polls, and from a nested (non-task) future.
        creche::yield_now().await;
        let later = task::try_id();
        let nested = async { task::id() }.await;
        (first, later, nested)
    });
    let expected = task.id();
    let (first, later, nested) = rt.block_on(task).unwrap();
    assert_eq!(first, expected);
    assert_eq!(later, Some(expected));
    assert_eq!(nested, expected);

    // A child task has its own id; the parent's is restored after spawning and awaiting it.
    let (parent, child, child_handle, parent_after) = rt
        .block_on(rt.spawn(async {
            let parent = task::id();
            let handle = creche::spawn(async { task::id() });
            let child_handle = handle.id();
            let child = handle.await.unwrap();
            (parent, child, child_handle, task::id())
        }))
        .unwrap();
    assert_eq!(child, child_handle);
    assert_ne!(parent, child);
    assert_eq!(parent, parent_after);
}

#[test]
fn task_ids_unique_across_10_000_tasks() {
    let _w = watchdog("task_ids_unique_across_10_000_tasks");
    const PER_SOURCE: usize = 2_500;
    let rt = runtime(2);

    // Spawned from block_on...
    let mut pairs: Vec<(TaskId, TaskId)> = rt.block_on(async {
        let tasks: Vec<_> = (0..PER_SOURCE)
            .map(|_| creche::spawn(async { task::id() }))
            .collect();
        let mut pairs = Vec::new();
        for t in tasks {
            let id = t.id();
            pairs.push((id, t.await.unwrap()));
        }
        pairs
    });
    // ...from inside a task (a worker's id block)...
    pairs.extend(
        rt.block_on(rt.spawn(async {
            let tasks: Vec<_> = (0..PER_SOURCE)
                .map(|_| creche::spawn(async { task::id() }))
                .collect();
            let mut pairs = Vec::new();
            for t in tasks {
                let id = t.id();
                pairs.push((id, t.await.unwrap()));
            }
            pairs
        }))
        .unwrap(),
    );
    // ...and from two foreign threads at once.
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let handle = rt.handle().clone();
            std::thread::spawn(move || {
                let tasks: Vec<_> = (0..PER_SOURCE)
                    .map(|_| handle.spawn(async { task::id() }))
                    .collect();
                tasks
                    .into_iter()
                    .map(|t| (t.id(), futures_lite::future::block_on(t).unwrap()))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    for thread in threads {
        pairs.extend(thread.join().unwrap());
    }

    assert_eq!(pairs.len(), 4 * PER_SOURCE);
    for (handle_id, inside_id) in &pairs {
        assert_eq!(handle_id, inside_id);
        assert!(handle_id.as_u64() > 0);
    }
    let unique: HashSet<TaskId> = pairs.iter().map(|(id, _)| *id).collect();
    assert_eq!(unique.len(), pairs.len(), "duplicate task ids");

    // Blocking tasks draw from the same id space.
    let blocking = rt.spawn_blocking(|| ());
    assert!(!unique.contains(&blocking.id()));
    rt.block_on(blocking).unwrap();
}

#[test]
fn task_try_id_none_outside_tasks() {
    let _w = watchdog("task_try_id_none_outside_tasks");
    assert_eq!(task::try_id(), None);
    let rt = runtime(1);
    let in_block_on = rt.block_on(async {
        let before = task::try_id();
        // Still none after a task ran and was awaited from here.
        let child = creche::spawn(async { task::id() }).await.unwrap();
        (before, task::try_id(), child)
    });
    assert_eq!(in_block_on.0, None);
    assert_eq!(in_block_on.1, None);
    assert_eq!(task::try_id(), None);
    // A worker between tasks (a task's id does not leak into the next one's).
    let ids: Vec<_> = (0..3)
        .map(|_| {
            let t = rt.spawn(async { task::id() });
            let id = t.id();
            assert_eq!(rt.block_on(t).unwrap(), id);
            id
        })
        .collect();
    assert!(ids[0] != ids[1] && ids[1] != ids[2]);

    let payload = std::panic::catch_unwind(task::id).unwrap_err();
    assert!(panic_message(payload.as_ref()).contains("outside a task"));
}
