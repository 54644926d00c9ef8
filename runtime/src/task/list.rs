//! The owner list: every live task of a runtime, so that shutdown can drop every future.
//!
//! A task is linked into one shard (chosen by its id) when it is spawned and unlinked when it
//! completes; the list holds one reference meanwhile. Shards are intrusive doubly-linked lists
//! through `Header::links`, each behind its own lock, so that workers spawning and completing
//! tasks at the same time rarely meet on a lock. Once the list is closed (runtime shutdown)
//! nothing more is linked: a task spawned after that is cancelled on the spot.
//!
//! Invariant I3 of `raw.rs`: `links` of a task is read and written only under the lock of the
//! shard the task belongs to.

use super::{Header, Notified, TaskRef};
use crate::sync::Mutex;
use std::ptr::NonNull;

pub(crate) struct OwnedTasks {
    shards: Box<[Mutex<Shard>]>,
    mask: usize,
}

struct Shard {
    head: Option<NonNull<Header>>,
    closed: bool,
}

// SAFETY: the raw pointers are only followed under the shard's lock (I3), and tasks are Send.
unsafe impl Send for Shard {}

impl OwnedTasks {
    /// A list with at least `min_shards` shards (rounded up to a power of two).
    pub(crate) fn new(min_shards: usize) -> OwnedTasks {
        let count = min_shards.max(1).next_power_of_two();
        OwnedTasks {
            shards: (0..count)
                .map(|_| {
                    Mutex::new(Shard {
                        head: None,
                        closed: false,
                    })
                })
                .collect(),
            mask: count - 1,
        }
    }

    fn shard(&self, task: TaskRef) -> &Mutex<Shard> {
        &self.shards[task.header().id.as_u64() as usize & self.mask]
    }

    /// Links a new task (whose reference for the list the caller has counted). Returns `false`
    /// when the list is closed; the task is then not linked.
    pub(crate) fn insert(&self, task: TaskRef) -> bool {
        let mut shard = self.shard(task).lock();
        if shard.closed {
            return false;
        }
        let old_head = shard.head;
        // SAFETY: under the shard lock (I3); `task` is not linked anywhere yet.
        task.header().links.with_mut(|links| unsafe {
            (*links).prev = None;
            (*links).next = old_head;
        });
        if let Some(old) = old_head {
            // SAFETY: `old` is linked in this shard, whose lock we hold (I3).
            unsafe { old.as_ref() }
                .links
                .with_mut(|links| unsafe { (*links).prev = Some(task.0) });
        }
        shard.head = Some(task.0);
        true
    }

    /// Unlinks a completed task. Returns whether it was linked (the list's reference is then
    /// the caller's to release).
    pub(crate) fn remove(&self, task: TaskRef) -> bool {
        let mut shard = self.shard(task).lock();
        // SAFETY: under the shard lock (I3).
        let (prev, next) = task
            .header()
            .links
            .with(|links| unsafe { ((*links).prev, (*links).next) });
        if prev.is_none() && shard.head != Some(task.0) {
            return false;
        }
        shard.unlink(task.0, prev, next);
        true
    }

    /// Refuses further inserts, then unlinks every task and shuts it down (drops its future in
    /// place unless a thread is polling it, in which case that thread completes it).
    pub(crate) fn close_and_shutdown_all(&self) {
        for shard in self.shards.iter() {
            shard.lock().closed = true;
        }
        for shard in self.shards.iter() {
            loop {
                // Pop under the lock, shut down outside it: a future's destructor may spawn or
                // complete other tasks, which takes shard locks.
                let task = shard.lock().pop_front();
                match task {
                    Some(task) => task.shutdown(),
                    None => break,
                }
            }
        }
    }

    /// Whether no task is linked (for tests and shutdown assertions).
    pub(crate) fn is_empty(&self) -> bool {
        self.shards.iter().all(|shard| shard.lock().head.is_none())
    }
}

impl Shard {
    fn unlink(
        &mut self,
        task: NonNull<Header>,
        prev: Option<NonNull<Header>>,
        next: Option<NonNull<Header>>,
    ) {
        match prev {
            // SAFETY: neighbours are linked in this shard, whose lock the caller holds (I3).
            Some(p) => unsafe { p.as_ref() }
                .links
                .with_mut(|links| unsafe { (*links).next = next }),
            None => self.head = next,
        }
        if let Some(n) = next {
            // SAFETY: as above.
            unsafe { n.as_ref() }
                .links
                .with_mut(|links| unsafe { (*links).prev = prev });
        }
        // SAFETY: as above; `task` is now unlinked.
        unsafe { task.as_ref() }.links.with_mut(|links| unsafe {
            (*links).prev = None;
            (*links).next = None;
        });
    }

    /// Unlinks the first task and returns the list's reference to it as a handle.
    fn pop_front(&mut self) -> Option<Notified> {
        let head = self.head?;
        // SAFETY: under the shard lock (I3).
        let next = unsafe { head.as_ref() }
            .links
            .with(|links| unsafe { (*links).next });
        self.unlink(head, None, next);
        Some(Notified::from_raw(head))
    }
}
