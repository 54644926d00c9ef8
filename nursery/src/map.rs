//! [`map_concurrent`]: a fork-join map over a list of jobs, in a nursery.
//!
//! # How it runs
//!
//! The items are collected into one slot each when `map_concurrent` is called. The returned
//! future opens a nursery and spawns `min(limit, n)` *worker* children into it (not one child
//! per item). Each worker loops: it claims the next index from a shared atomic counter, takes
//! that slot's item, awaits `f(item)` inline, and writes the value back into the same slot.
//! When the nursery has closed, the values are moved out of the slots in input order. So a
//! large map costs `min(limit, n)` spawns, one atomic increment and two uncontended slot locks
//! per item, and the workers balance the load between them (a worker that drew cheap items
//! simply claims more).
//!
//! # Cancellation between items
//!
//! A job that never waits (pure CPU work) is never dropped in the middle: cancellation is by
//! drop at a `Pending`. So a worker checks between two items whether it should stop: the
//! nursery was cancelled (another job failed, or a scope around the call was cancelled) or a
//! deadline that applies to it has passed on the clock (even if the timer wheel has not fired
//! it yet, as happens while every worker thread is busy). Then it stops claiming items and is
//! dropped at a [`checkpoint`]. Each item also takes one unit of the task's coop budget, so a
//! worker whose jobs are always ready still yields to the scheduler now and then.

use crate::nursery::open_nursery;
use crate::scope::{checkpoint, current_effective_deadline};
use creche_timer::{Instant, TimerHandle};
use parking_lot::Mutex;
use std::future::{Future, poll_fn};
use std::panic::Location;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// One job's slot: its item until a worker takes it, then its value.
enum Slot<T, R> {
    Item(T),
    Taken,
    Done(R),
}

/// What the workers share: the function, the next index to claim, and the slots.
struct Shared<T, R, F> {
    f: F,
    next: AtomicUsize,
    slots: Box<[Mutex<Slot<T, R>>]>,
}

/// Runs `f` on every item, at most `limit` at a time, in parallel on the runtime's workers, and
/// returns the values in the order of `items`.
///
/// The jobs run as children of a nursery opened by the returned future (so they inherit the
/// cancellation of the code awaiting it, appear in the task tree as `map_concurrent` workers,
/// and never outlive the call). `min(limit, n)` worker children each run one job after the
/// other, pulling the next item as they finish the last: a map costs `min(limit, n)` spawns
/// whatever its length, and a worker that drew cheap items simply takes more.
///
/// - **`limit`**: how many jobs may run at once. `0` is treated as `1`. A limit above the
///   number of items spawns one worker per item. For CPU-bound jobs the number of worker
///   threads (`std::thread::available_parallelism()`) is the natural choice; for jobs that
///   mostly wait, higher limits make sense.
/// - **Errors**: the first job to return `Err(e)` cancels the others (they are dropped at their
///   next cancellation point, and workers stop claiming new items), and `map_concurrent`
///   returns `Err(e)` once every job is gone. Later errors are suppressed (reported to the
///   failure hook like any nursery failure).
/// - **Panics**: a job's panic cancels the others and is resumed, payload unchanged, by the
///   returned future.
/// - **Cancellation**: if a scope around the call is cancelled (or its deadline passes), the
///   jobs are cancelled and the returned future never completes: the scope drops it, as with
///   any body. A job that never waits is not interrupted, but no new job starts after it.
/// - **Empty input**: `Ok(vec![])` at once, without opening a nursery.
///
/// The items are collected (the iterator is consumed) when `map_concurrent` is called; only
/// the items, `f` and the jobs must be `Send + 'static`, not the iterator.
///
/// # Panics
///
/// The returned future resumes the first panic of a job, and panics when first polled outside
/// a creche runtime (unless `items` is empty).
///
/// # Examples
///
/// ```
/// use creche_nursery::map_concurrent;
/// # let rt = creche_timer::__doc_runtime();
/// # rt.block_on(async {
/// let squares = map_concurrent(1..=5u64, 2, |i| async move { Ok::<_, ()>(i * i) }).await;
/// assert_eq!(squares, Ok(vec![1, 4, 9, 16, 25]));
/// # });
/// ```
///
/// The first error wins, and the jobs still running are cancelled:
///
/// ```
/// use creche_nursery::map_concurrent;
/// use std::time::Duration;
/// # let rt = creche_timer::__doc_runtime();
/// # rt.block_on(async {
/// let result = map_concurrent(0..4u32, 4, |i| async move {
///     if i == 2 {
///         return Err(format!("job {i} failed"));
///     }
///     creche_timer::sleep(Duration::from_secs(3600)).await; // cancelled by the failure
///     Ok(i)
/// })
/// .await;
/// assert_eq!(result, Err("job 2 failed".to_string()));
/// # });
/// ```
///
/// Under a deadline (once it has passed, the workers start no new job, even when the jobs
/// never wait):
///
/// ```
/// use creche_nursery::{map_concurrent, move_on_after};
/// use std::time::Duration;
/// # let rt = creche_timer::__doc_runtime();
/// # rt.block_on(async {
/// let sums = move_on_after(
///     Duration::from_secs(10),
///     map_concurrent(0..100u64, 4, |i| async move { Ok::<_, ()>((0..i).sum::<u64>()) }),
/// )
/// .await;
/// assert_eq!(sums.unwrap().unwrap()[10], 45);
/// # });
/// ```
#[track_caller]
pub fn map_concurrent<I, T, R, E, F, Fut>(
    items: I,
    limit: usize,
    f: F,
) -> impl Future<Output = Result<Vec<R>, E>> + Send
where
    I: IntoIterator<Item = T>,
    T: Send + 'static,
    R: Send + 'static,
    E: Send + 'static,
    F: Fn(T) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<R, E>> + Send + 'static,
{
    let site = Location::caller();
    let slots: Box<[Mutex<Slot<T, R>>]> = items
        .into_iter()
        .map(|item| Mutex::new(Slot::Item(item)))
        .collect();
    let shared = Arc::new(Shared {
        f,
        next: AtomicUsize::new(0),
        slots,
    });
    async move {
        let n = shared.slots.len();
        if n == 0 {
            return Ok(Vec::new());
        }
        let workers = limit.clamp(1, n);
        let name = format!("map_concurrent worker (called at {site})");
        open_nursery(|nursery| {
            for _ in 0..workers {
                nursery.spawn_named(name.as_str(), work(shared.clone()));
            }
            async { Ok(()) }
        })
        .await?;
        let mut values = Vec::with_capacity(n);
        for slot in shared.slots.iter() {
            let taken = std::mem::replace(&mut *slot.lock(), Slot::Taken);
            match taken {
                Slot::Done(value) => values.push(value),
                Slot::Item(item) => {
                    // The workers stopped early without a failure: a scope around this call was
                    // cancelled (or its deadline passed), and the checkpoint does not complete
                    // while it is, so that scope drops this future here. If it completes (a
                    // shield went up meanwhile), the job is done here instead.
                    checkpoint().await;
                    values.push((shared.f)(item).await?);
                }
                Slot::Taken => {
                    // A job was cancelled mid-way: so is the calling code, and this checkpoint
                    // is where its scope drops this future.
                    checkpoint().await;
                    panic!(
                        "creche: map_concurrent at {site}: a job was cancelled, and then a shield \
                         went up around the call before the cancellation reached it: the job's \
                         result is lost"
                    );
                }
            }
        }
        Ok(values)
    }
}

/// One worker child: claims items until none is left, or until it should stop.
async fn work<T, R, E, F, Fut>(shared: Arc<Shared<T, R, F>>) -> Result<(), E>
where
    F: Fn(T) -> Fut,
    Fut: Future<Output = Result<R, E>>,
{
    loop {
        between_items().await;
        let index = shared.next.fetch_add(1, Ordering::Relaxed);
        let Some(slot) = shared.slots.get(index) else {
            return Ok(());
        };
        let taken = std::mem::replace(&mut *slot.lock(), Slot::Taken);
        let Slot::Item(item) = taken else {
            unreachable!("each index is claimed once");
        };
        let value = (shared.f)(item).await?;
        *slot.lock() = Slot::Done(value);
    }
}

/// Before each item: stop (never complete, so that the child is dropped here) if the code is
/// cancelled or one of its deadlines has passed; and take one unit of coop budget.
async fn between_items() {
    let deadline = current_effective_deadline();
    // The runtime's clock, read without cloning its handle (a shared reference count).
    let passed = || {
        creche_runtime::Handle::with_current_extension(|timer: Option<&TimerHandle>| {
            timer.is_some_and(|timer| timer.now() >= deadline)
        })
    };
    if deadline == Instant::ZERO || (deadline != Instant::MAX && passed()) {
        // Pending for good while cancelled; it also cancels the scope whose deadline passed.
        checkpoint().await;
    }
    poll_fn(|cx| creche_runtime::coop::poll_proceed(cx).map(|progress| progress.made_progress()))
        .await;
}
