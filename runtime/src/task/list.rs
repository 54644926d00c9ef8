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

use super::raw::Links;
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
        // SAFETY: `task` is alive (the caller holds a reference) and belongs to this shard;
        // `old` is linked in it; we hold the shard (I3).
        unsafe {
            shard.set_links(task.0, None, old_head);
            if let Some(old) = old_head {
                shard.update_links(old, |links| links.prev = Some(task.0));
            }
        }
        shard.head = Some(task.0);
        true
    }

    /// Unlinks a completed task. Returns whether it was linked (the list's reference is then
    /// the caller's to release).
    pub(crate) fn remove(&self, task: TaskRef) -> bool {
        let mut shard = self.shard(task).lock();
        // SAFETY: the caller holds a reference; `task` belongs to this shard (I3).
        let (prev, next) = unsafe { shard.links(task.0) };
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
    /// Reads a task's links.
    ///
    /// # Safety
    ///
    /// `task` is alive and belongs to this shard; `&self` proves the shard lock is held (I3).
    unsafe fn links(
        &self,
        task: NonNull<Header>,
    ) -> (Option<NonNull<Header>>, Option<NonNull<Header>>) {
        // SAFETY: guaranteed by the caller.
        let header = unsafe { task.as_ref() };
        // SAFETY: under the shard lock (I3), nobody else touches the links.
        header
            .links
            .with(|links| unsafe { ((*links).prev, (*links).next) })
    }

    /// Changes a task's links.
    ///
    /// # Safety
    ///
    /// As for [`links`](Self::links); `&mut self` proves the shard lock is held.
    unsafe fn update_links(&mut self, task: NonNull<Header>, f: impl FnOnce(&mut Links)) {
        // SAFETY: guaranteed by the caller.
        let header = unsafe { task.as_ref() };
        // SAFETY: under the shard lock (I3), nobody else touches the links.
        header.links.with_mut(|links| f(unsafe { &mut *links }));
    }

    /// Sets both links of a task.
    ///
    /// # Safety
    ///
    /// As for [`update_links`](Self::update_links).
    unsafe fn set_links(
        &mut self,
        task: NonNull<Header>,
        prev: Option<NonNull<Header>>,
        next: Option<NonNull<Header>>,
    ) {
        // SAFETY: forwarded from the caller.
        unsafe { self.update_links(task, |links| *links = Links { prev, next }) }
    }

    fn unlink(
        &mut self,
        task: NonNull<Header>,
        prev: Option<NonNull<Header>>,
        next: Option<NonNull<Header>>,
    ) {
        // SAFETY: `task` and its neighbours are linked in this shard, so alive (the list holds
        // a reference to each), and `&mut self` is the shard lock (I3).
        unsafe {
            match prev {
                Some(p) => self.update_links(p, |links| links.next = next),
                None => self.head = next,
            }
            if let Some(n) = next {
                self.update_links(n, |links| links.prev = prev);
            }
            self.set_links(task, None, None);
        }
    }

    /// Unlinks the first task and returns the list's reference to it as a handle.
    fn pop_front(&mut self) -> Option<Notified> {
        let head = self.head?;
        // SAFETY: the head is linked here, so alive, and `&mut self` is the shard lock (I3).
        let (_, next) = unsafe { self.links(head) };
        self.unlink(head, None, next);
        Some(Notified::from_raw(head))
    }
}
