//! The FIFO waiter queue shared by the sync primitives ([`Semaphore`](crate::Semaphore),
//! [`CapacityLimiter`](crate::CapacityLimiter), [`Lock`](crate::Lock),
//! [`Condition`](crate::Condition)): a plain data structure, always used under the owning
//! primitive's mutex. It does no locking and no waking itself.
//!
//! # Model
//!
//! Each waiting future owns one *node*, named by a [`Key`] (its slot in a slab). A node is in
//! one of two places:
//!
//! - **queued** on one of [`LISTS`] doubly linked FIFO lists (a primitive uses list 0 for its
//!   waiters; `Condition` also uses list 1 for the tasks waiting for a notify), with the waker
//!   of its last pending poll;
//! - **granted**: the primitive handed it what it waited for (a permit, a token, the lock).
//!   The node is off every list and its waker has been taken (the granter wakes it after
//!   unlocking). It stays in the slab until its future either observes the grant (then
//!   removes the node and completes) or is dropped (then removes the node and gives the grant
//!   back or forwards it, the primitive's "hand-over on drop" rule).
//!
//! The future that pushed a node is the only one that removes it, so a key is never reused
//! while its future still holds it: there is no ABA between a dropped waiter and a new one.
//! Wakers leave the queue by value (`grant`, `remove`, a replaced one from `register`) so that
//! callers wake *and drop* them after unlocking: dropping the last reference to a task can run
//! arbitrary destructors, which could try to take the same mutex.
//! Every operation is O(1).

use slab::Slab;
use std::task::Waker;

/// How many lists a queue has.
pub(crate) const LISTS: usize = 2;

/// No node (the end of a list).
const NIL: usize = usize::MAX;

/// A node's slot in the queue.
pub(crate) type Key = usize;

/// Where a node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Place {
    /// On list `n`, waiting.
    Queued(usize),
    /// Handed what it waited for, not yet observed by its future.
    Granted,
}

#[derive(Debug)]
struct Node<T> {
    prev: usize,
    next: usize,
    place: Place,
    waker: Option<Waker>,
    data: T,
}

#[derive(Debug, Clone, Copy)]
struct List {
    head: usize,
    tail: usize,
    len: usize,
}

impl List {
    const EMPTY: List = List {
        head: NIL,
        tail: NIL,
        len: 0,
    };
}

/// A FIFO of waiters with per-waiter data `T`; see the module documentation.
#[derive(Debug)]
pub(crate) struct WaitQueue<T> {
    nodes: Slab<Node<T>>,
    lists: [List; LISTS],
}

impl<T> Default for WaitQueue<T> {
    fn default() -> Self {
        WaitQueue::new()
    }
}

impl<T> WaitQueue<T> {
    pub(crate) fn new() -> WaitQueue<T> {
        WaitQueue {
            nodes: Slab::new(),
            lists: [List::EMPTY; LISTS],
        }
    }

    /// How many nodes wait on `list`.
    pub(crate) fn len(&self, list: usize) -> usize {
        self.lists[list].len
    }

    /// How many nodes exist, queued or granted.
    pub(crate) fn nodes_len(&self) -> usize {
        self.nodes.len()
    }

    /// The oldest node of `list`.
    pub(crate) fn front(&self, list: usize) -> Option<Key> {
        let head = self.lists[list].head;
        (head != NIL).then_some(head)
    }

    /// The data of node `key`.
    pub(crate) fn data(&self, key: Key) -> &T {
        &self.nodes[key].data
    }

    /// Where node `key` is.
    pub(crate) fn place(&self, key: Key) -> Place {
        self.nodes[key].place
    }

    /// The data of the nodes waiting on `list`, oldest first.
    #[cfg(all(test, not(loom)))]
    pub(crate) fn iter(&self, list: usize) -> impl Iterator<Item = &T> + '_ {
        let mut at = self.lists[list].head;
        std::iter::from_fn(move || {
            if at == NIL {
                return None;
            }
            let node = &self.nodes[at];
            at = node.next;
            Some(&node.data)
        })
    }

    /// Appends a node to `list`, waiting with `waker`.
    pub(crate) fn push(&mut self, list: usize, data: T, waker: &Waker) -> Key {
        let key = self.nodes.insert(Node {
            prev: NIL,
            next: NIL,
            place: Place::Queued(list),
            waker: Some(waker.clone()),
            data,
        });
        self.link_back(list, key);
        key
    }

    /// Records `waker` as node `key`'s waker (a repeated pending poll); returns the waker it
    /// replaced, for the caller to drop after unlocking. No-op on a granted node.
    #[must_use = "drop the replaced waker after unlocking"]
    pub(crate) fn register(&mut self, key: Key, waker: &Waker) -> Option<Waker> {
        let node = &mut self.nodes[key];
        if node.place == Place::Granted {
            return None;
        }
        match &node.waker {
            Some(old) if old.will_wake(waker) => None,
            _ => node.waker.replace(waker.clone()),
        }
    }

    /// Takes node `key` off its list and marks it granted; returns its waker, to be woken
    /// after the caller unlocks. `key` must be queued.
    pub(crate) fn grant(&mut self, key: Key) -> Option<Waker> {
        let Place::Queued(list) = self.nodes[key].place else {
            unreachable!("grant of a node that is not queued");
        };
        self.unlink(list, key);
        let node = &mut self.nodes[key];
        node.place = Place::Granted;
        node.waker.take()
    }

    /// Moves the oldest node of `from` to the back of `to`, keeping its waker; returns whether
    /// there was one.
    pub(crate) fn move_front(&mut self, from: usize, to: usize) -> bool {
        let Some(key) = self.front(from) else {
            return false;
        };
        self.unlink(from, key);
        self.nodes[key].place = Place::Queued(to);
        self.link_back(to, key);
        true
    }

    /// Removes node `key` (unlinking it if it is queued); returns where it was, its data, and
    /// its waker (a queued node's), for the caller to drop after unlocking.
    pub(crate) fn remove(&mut self, key: Key) -> (Place, T, Option<Waker>) {
        if let Place::Queued(list) = self.nodes[key].place {
            self.unlink(list, key);
        }
        let node = self.nodes.remove(key);
        (node.place, node.data, node.waker)
    }

    fn link_back(&mut self, list: usize, key: Key) {
        let tail = self.lists[list].tail;
        {
            let node = &mut self.nodes[key];
            node.prev = tail;
            node.next = NIL;
        }
        if tail == NIL {
            self.lists[list].head = key;
        } else {
            self.nodes[tail].next = key;
        }
        self.lists[list].tail = key;
        self.lists[list].len += 1;
    }

    fn unlink(&mut self, list: usize, key: Key) {
        let (prev, next) = {
            let node = &self.nodes[key];
            (node.prev, node.next)
        };
        if prev == NIL {
            self.lists[list].head = next;
        } else {
            self.nodes[prev].next = next;
        }
        if next == NIL {
            self.lists[list].tail = prev;
        } else {
            self.nodes[next].prev = prev;
        }
        self.lists[list].len -= 1;
        let node = &mut self.nodes[key];
        node.prev = NIL;
        node.next = NIL;
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn noop() -> Waker {
        Waker::noop().clone()
    }

    fn collect(q: &WaitQueue<u32>, list: usize) -> Vec<u32> {
        q.iter(list).copied().collect()
    }

    #[test]
    fn fifo_remove_grant_and_move() {
        let w = noop();
        let mut q = WaitQueue::new();
        let keys: Vec<Key> = (0..5).map(|i| q.push(0, i, &w)).collect();
        assert_eq!(collect(&q, 0), [0, 1, 2, 3, 4]);
        assert_eq!(q.remove(keys[2]).0, Place::Queued(0));
        assert_eq!(q.remove(keys[0]).1, 0);
        assert!(q.remove(keys[4]).2.is_some());
        assert_eq!(collect(&q, 0), [1, 3]);
        assert_eq!(q.front(0), Some(keys[1]));
        assert!(q.grant(keys[1]).is_some());
        assert_eq!(q.place(keys[1]), Place::Granted);
        assert_eq!(collect(&q, 0), [3]);
        assert!(q.move_front(0, 1));
        assert!(q.len(0) == 0 && q.len(1) == 1);
        assert!(!q.move_front(0, 1));
        assert_eq!(q.remove(keys[3]).0, Place::Queued(1));
        let (place, data, waker) = q.remove(keys[1]);
        assert_eq!((place, data, waker.is_none()), (Place::Granted, 1, true));
        assert!(q.len(1) == 0 && q.nodes.is_empty());
        let k = q.push(0, 9, &w);
        assert_eq!((q.front(0), *q.data(k)), (Some(k), 9));
    }
}
