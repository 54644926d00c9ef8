//! [`WaitList`]: the FIFO queue of parked senders or receivers of one channel.
//!
//! The first entry lives inline (key 0), so a channel that never has more than one waiter on a
//! side (a reply channel, a single consumer) allocates nothing for its queues; further entries
//! live in a [`Slab`] (keys from 1), so a parked operation allocates nothing once the slab has
//! grown to the channel's high-water mark of waiters. Entries are chained into a doubly linked list by
//! slab key, which gives O(1) `push_back`, `pop_front` and removal from the middle (a waiter
//! dropped while queued).
//!
//! An entry has two independent lives:
//! - **linked**: it is in the queue. Only linked entries count as waiting, and only they can be
//!   picked by `pop_front` or a scan. The channel unlinks an entry when it hands a value over,
//!   or when it wakes the entry for a re-check (a close).
//! - **allocated**: its slab slot is reserved. Only the future that pushed the entry frees the
//!   slot ([`WaitList::remove`]), when it completes or is dropped. So a key is never reused
//!   while its owner can still look at it, and nobody else ever frees it: no ABA.
//!
//! Everything here runs under the channel's lock; the list itself has no synchronisation.

use slab::Slab;

/// The "no entry" link.
const NIL: usize = usize::MAX;

/// One slot: the links and the caller's node.
#[derive(Debug)]
struct Entry<N> {
    prev: usize,
    next: usize,
    linked: bool,
    node: N,
}

/// A FIFO queue of nodes addressed by stable keys; see the module doc.
#[derive(Debug)]
pub(super) struct WaitList<N> {
    /// The entry of key 0.
    inline: Option<Entry<N>>,
    /// The entry of key `k >= 1` is `slab[k - 1]`.
    slab: Slab<Entry<N>>,
    head: usize,
    tail: usize,
    /// Number of linked entries.
    linked: usize,
}

impl<N> WaitList<N> {
    pub(super) fn new() -> WaitList<N> {
        WaitList {
            inline: None,
            slab: Slab::new(),
            head: NIL,
            tail: NIL,
            linked: 0,
        }
    }

    /// Number of linked entries (the operations really waiting).
    #[inline]
    pub(super) fn len(&self) -> usize {
        self.linked
    }

    #[inline]
    pub(super) fn is_empty(&self) -> bool {
        self.linked == 0
    }

    /// Allocates an entry for `node` and links it at the back; returns its key.
    #[inline]
    pub(super) fn push_back(&mut self, node: N) -> usize {
        let entry = Entry {
            prev: self.tail,
            next: NIL,
            linked: true,
            node,
        };
        let key = if self.inline.is_none() {
            self.inline = Some(entry);
            0
        } else {
            self.slab.insert(entry) + 1
        };
        if self.tail == NIL {
            self.head = key;
        } else {
            self.entry(self.tail).next = key;
        }
        self.tail = key;
        self.linked += 1;
        key
    }

    /// Unlinks the front entry and returns its key (the entry stays allocated for its owner).
    #[inline]
    pub(super) fn pop_front(&mut self) -> Option<usize> {
        let key = self.head;
        if key == NIL {
            return None;
        }
        self.unlink(key);
        Some(key)
    }

    /// The key of the front entry, if any.
    #[inline]
    pub(super) fn front(&self) -> Option<usize> {
        (self.head != NIL).then_some(self.head)
    }

    /// The entry of `key` (which must be allocated).
    #[inline]
    fn entry(&mut self, key: usize) -> &mut Entry<N> {
        match key {
            0 => self.inline.as_mut().expect("allocated wait-list key"),
            k => &mut self.slab[k - 1],
        }
    }

    #[inline]
    fn entry_ref(&self, key: usize) -> &Entry<N> {
        match key {
            0 => self.inline.as_ref().expect("allocated wait-list key"),
            k => &self.slab[k - 1],
        }
    }

    /// The key of the entry linked after `key`, if any (`key` must be linked).
    #[inline]
    pub(super) fn next(&self, key: usize) -> Option<usize> {
        let next = self.entry_ref(key).next;
        (next != NIL).then_some(next)
    }

    /// Whether `key` is still in the queue.
    #[inline]
    pub(super) fn is_linked(&self, key: usize) -> bool {
        self.entry_ref(key).linked
    }

    /// Takes `key` out of the queue if it is in it; the entry stays allocated.
    #[inline]
    pub(super) fn unlink(&mut self, key: usize) {
        let entry = self.entry(key);
        if !entry.linked {
            return;
        }
        entry.linked = false;
        let (prev, next) = (entry.prev, entry.next);
        entry.prev = NIL;
        entry.next = NIL;
        if prev == NIL {
            self.head = next;
        } else {
            self.entry(prev).next = next;
        }
        if next == NIL {
            self.tail = prev;
        } else {
            self.entry(next).prev = prev;
        }
        self.linked -= 1;
    }

    /// The node of `key`.
    #[inline]
    pub(super) fn get_mut(&mut self, key: usize) -> &mut N {
        &mut self.entry(key).node
    }

    /// Unlinks `key` if needed and frees its slot, returning the node. Only the entry's owner
    /// calls this.
    #[inline]
    pub(super) fn remove(&mut self, key: usize) -> N {
        self.unlink(key);
        match key {
            0 => self.inline.take().expect("allocated wait-list key").node,
            k => self.slab.remove(k - 1).node,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::WaitList;

    fn order(list: &WaitList<u32>) -> Vec<u32> {
        let mut out = Vec::new();
        let mut at = list.front();
        while let Some(key) = at {
            out.push(list.entry_ref(key).node);
            at = list.next(key);
        }
        out
    }

    #[test]
    fn fifo_with_removal_from_the_middle() {
        let mut list = WaitList::new();
        let keys: Vec<usize> = (0..5).map(|i| list.push_back(i)).collect();
        assert_eq!(order(&list), [0, 1, 2, 3, 4]);
        assert_eq!(list.remove(keys[2]), 2);
        assert_eq!(order(&list), [0, 1, 3, 4]);
        assert_eq!(list.pop_front(), Some(keys[0]));
        assert!(!list.is_linked(keys[0]));
        assert_eq!(list.len(), 3);
        // Popped, still allocated: its owner frees it later.
        assert_eq!(list.remove(keys[0]), 0);
        list.unlink(keys[4]);
        assert_eq!(order(&list), [1, 3]);
        list.unlink(keys[4]); // idempotent
        assert_eq!(list.len(), 2);
        assert_eq!(list.remove(keys[4]), 4);
        let k5 = list.push_back(5);
        assert_eq!(order(&list), [1, 3, 5]);
        assert_eq!(list.remove(keys[1]), 1);
        assert_eq!(list.remove(keys[3]), 3);
        assert_eq!(list.remove(k5), 5);
        assert!(list.is_empty());
        assert_eq!(list.front(), None);
    }
}
