//! Task identifiers.

use std::cell::Cell;
use std::fmt;
use std::num::NonZeroU64;

/// A task's identifier: unique among the tasks of the process, never reused.
///
/// # Examples
///
/// ```
/// let rt = creche_runtime::Runtime::builder().worker_threads(1).build().unwrap();
/// let handle = rt.spawn(async { creche_runtime::task::id() });
/// let id = handle.id();
/// assert_eq!(rt.block_on(handle).unwrap(), id);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId(NonZeroU64);

/// Ids are handed to threads in blocks, so that spawning does not contend on one counter.
const BLOCK: u64 = 1024;
/// The next block of ids. A `std` atomic even under loom: it is a `static` shared by every
/// model execution, and only hands out unique numbers (no protocol to model).
static NEXT_BLOCK: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

std::thread_local! {
    /// The next id this thread hands out and the end of its block.
    static LOCAL_IDS: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
}

impl TaskId {
    pub(crate) fn next() -> TaskId {
        LOCAL_IDS.with(|ids| {
            let (mut next, mut end) = ids.get();
            if next == end {
                next = NEXT_BLOCK.fetch_add(1, std::sync::atomic::Ordering::Relaxed) * BLOCK + 1;
                end = next + BLOCK;
            }
            ids.set((next + 1, end));
            TaskId(NonZeroU64::new(next).expect("task ids start at 1"))
        })
    }

    /// The id as a number.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = creche_runtime::Runtime::builder().worker_threads(1).build().unwrap();
    /// assert!(rt.spawn(async {}).id().as_u64() > 0);
    /// ```
    pub fn as_u64(self) -> u64 {
        self.0.get()
    }
}

impl fmt::Debug for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TaskId({})", self.0)
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}
