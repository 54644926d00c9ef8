//! The hierarchical timing wheel: where timers wait, O(1) to insert, move and cancel.
//!
//! Six levels of 64 slots; a slot of level `L` spans `64^L` ticks of one millisecond, so the
//! wheel covers `64^6` ms (about 2.2 years) ahead of its current tick; later deadlines wait in
//! an overflow list that is re-sorted into the levels when the wheel gets near them.
//!
//! Timers are nodes in a [`Slab`]: one growable array, so a timer costs no allocation of its
//! own (the slab grows by doubling and keeps its capacity). A slot is a doubly linked list of
//! node keys, so unlinking is O(1); each level keeps a bitmap of its occupied slots, so finding
//! the next deadline costs a few bit operations per level.
//!
//! # Placement
//!
//! A node's tick is `deadline / 1 ms`, rounded down. Relative to the wheel's current tick
//! `elapsed`, it goes to the level of the highest 6-bit group in which the two differ, in the
//! slot that group names. Because `elapsed` only grows and every slot that starts at or before
//! the current tick has been processed, a node's slot stays correct until the wheel reaches
//! the slot's first tick; then the slot is *cascaded*: its nodes are placed again, one level
//! lower or more.
//!
//! # Firing
//!
//! [`Wheel::advance`]`(now)` visits the occupied slots in time order up to `now`: it cascades
//! the higher ones and fires the nodes of level-0 slots whose deadline is at most `now`, each
//! slot's batch sorted by deadline, so nodes fire in deadline order. The slot of the current
//! tick can keep nodes whose deadline lies later in that same millisecond: deadlines are exact,
//! a timer never fires early. Invariant between calls: every queued node has `tick > elapsed`,
//! or `tick == elapsed` and `deadline > now` of the last advance.

use slab::Slab;

/// Nanoseconds per tick.
pub(crate) const TICK_NANOS: u64 = 1_000_000;
const LEVELS: usize = 6;
const SLOTS: usize = 64;
const SLOT_BITS: u32 = 6;
/// The overflow list lives in this level, slot 0.
const OVERFLOW: usize = LEVELS;
const NIL: u32 = u32::MAX;

/// Where a node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NodeState {
    /// Not scheduled (new, or cancelled).
    Idle,
    /// In a slot's list.
    Queued {
        level: u8,
        slot: u8,
        prev: u32,
        next: u32,
    },
    /// Its deadline was reached.
    Fired,
}

#[derive(Debug)]
struct Node<T> {
    deadline: u64,
    state: NodeState,
    payload: T,
}

/// The wheel; see the [module documentation](self).
#[derive(Debug)]
pub(crate) struct Wheel<T> {
    nodes: Slab<Node<T>>,
    heads: [[u32; SLOTS]; LEVELS + 1],
    occupied: [u64; LEVELS + 1],
    /// The current tick.
    elapsed: u64,
    /// The `now` of the last advance, in nanoseconds.
    now: u64,
}

impl<T> Wheel<T> {
    pub(crate) fn new() -> Wheel<T> {
        Wheel {
            nodes: Slab::new(),
            heads: [[NIL; SLOTS]; LEVELS + 1],
            occupied: [0; LEVELS + 1],
            elapsed: 0,
            now: 0,
        }
    }

    /// Creates an idle node.
    pub(crate) fn insert(&mut self, payload: T) -> usize {
        let key = self.nodes.insert(Node {
            deadline: 0,
            state: NodeState::Idle,
            payload,
        });
        assert!(key < NIL as usize, "more than 4 billion timers at once");
        key
    }

    /// Removes a node (unlinking it if queued) and returns its payload.
    pub(crate) fn remove(&mut self, key: usize) -> T {
        self.unschedule(key);
        self.nodes.remove(key).payload
    }

    pub(crate) fn state(&self, key: usize) -> NodeState {
        self.nodes[key].state
    }

    #[cfg(test)]
    pub(crate) fn deadline(&self, key: usize) -> u64 {
        self.nodes[key].deadline
    }

    pub(crate) fn payload_mut(&mut self, key: usize) -> &mut T {
        &mut self.nodes[key].payload
    }

    /// Applies `f` to every node's payload (at shutdown, to drop wakers).
    pub(crate) fn clear_payloads(&mut self, mut f: impl FnMut(&mut T)) {
        for (_, node) in self.nodes.iter_mut() {
            f(&mut node.payload);
        }
    }

    /// Number of queued nodes.
    #[cfg(test)]
    pub(crate) fn queued(&self) -> usize {
        self.nodes
            .iter()
            .filter(|(_, node)| matches!(node.state, NodeState::Queued { .. }))
            .count()
    }

    /// The `now` of the last advance.
    #[cfg(test)]
    pub(crate) fn now(&self) -> u64 {
        self.now
    }

    /// Queues `key` for `deadline` (nanoseconds), moving it if it was queued. Returns when the
    /// wheel must next be advanced for this node (the deadline, or the start of the higher
    /// slot it waits in, whichever [`next_expiration`](Wheel::next_expiration) would report);
    /// `None`, marking the node fired, if the deadline is not after the last advance's `now`.
    pub(crate) fn schedule(&mut self, key: usize, deadline: u64) -> Option<u64> {
        self.unschedule(key);
        self.nodes[key].deadline = deadline;
        if deadline <= self.now {
            self.nodes[key].state = NodeState::Fired;
            return None;
        }
        Some(self.place(key))
    }

    /// Takes `key` out of its slot (if queued); the node becomes idle. A fired node stays fired.
    pub(crate) fn unschedule(&mut self, key: usize) {
        if let NodeState::Queued { .. } = self.nodes[key].state {
            self.unlink(key);
            self.nodes[key].state = NodeState::Idle;
        }
    }

    /// Marks a fired node idle again (so that it can be scheduled and fire anew).
    pub(crate) fn rearm(&mut self, key: usize) {
        if self.nodes[key].state == NodeState::Fired {
            self.nodes[key].state = NodeState::Idle;
        }
    }

    /// When the wheel must next be advanced, in nanoseconds, later than the last advance's
    /// `now`. With `exact`, the earliest queued deadline when it lies in a level-0 slot (found
    /// by scanning that slot: what a virtual clock jumps to), else a lower bound. Without, a
    /// lower bound at tick granularity and no scan: for a driver that advances the wheel at
    /// whole ticks only (a real clock), whose timers then fire up to one tick late.
    pub(crate) fn next_expiration(&self, exact: bool) -> Option<u64> {
        match self.next_slot() {
            Some((0, slot, _)) if exact => self.min_deadline(0, slot),
            // The current tick's slot holds deadlines after `now`, due at the next tick.
            Some((0, _, start_tick)) if start_tick == self.elapsed => {
                Some((start_tick + 1).saturating_mul(TICK_NANOS))
            }
            Some((_, _, start_tick)) => Some(start_tick.saturating_mul(TICK_NANOS)),
            None => self.min_deadline(OVERFLOW, 0),
        }
    }

    /// Fires every queued node whose deadline is at most `now` (nanoseconds), appending their
    /// keys to `fired` in deadline order. A `now` earlier than the last one is ignored.
    pub(crate) fn advance(&mut self, now: u64, fired: &mut Vec<usize>) {
        if now <= self.now {
            return;
        }
        let target = now / TICK_NANOS;
        loop {
            let (level, slot, start_tick) = match self.next_slot() {
                Some(next) => next,
                None => match self.min_deadline(OVERFLOW, 0) {
                    // Only far timers are left: bring the wheel to the first of them.
                    Some(deadline) if deadline / TICK_NANOS <= target => {
                        self.elapsed = deadline / TICK_NANOS;
                        self.replace_all(OVERFLOW, 0);
                        continue;
                    }
                    _ => break,
                },
            };
            if start_tick > target {
                break;
            }
            self.elapsed = start_tick;
            if level == 0 {
                let start = fired.len();
                let mut key = self.take_slot(0, slot);
                while key != NIL {
                    let node = &mut self.nodes[key as usize];
                    let next = match node.state {
                        NodeState::Queued { next, .. } => next,
                        state => unreachable!("a listed node is queued, not {state:?}"),
                    };
                    if node.deadline <= now {
                        node.state = NodeState::Fired;
                        fired.push(key as usize);
                    } else {
                        self.place(key as usize);
                    }
                    key = next;
                }
                fired[start..].sort_unstable_by_key(|&key| self.nodes[key].deadline);
                if start_tick == target {
                    break;
                }
            } else {
                self.replace_all(level, slot);
            }
        }
        let crossed_overflow_boundary = (target >> (SLOT_BITS * LEVELS as u32))
            != (self.elapsed >> (SLOT_BITS * LEVELS as u32));
        self.elapsed = target;
        self.now = now;
        if crossed_overflow_boundary && self.occupied[OVERFLOW] != 0 {
            self.replace_all(OVERFLOW, 0);
        }
    }

    /// The level, slot and first tick of the earliest occupied slot (overflow excluded).
    fn next_slot(&self) -> Option<(usize, usize, u64)> {
        (0..LEVELS).find_map(|level| {
            let occupied = self.occupied[level];
            if occupied == 0 {
                return None;
            }
            let shift = SLOT_BITS * level as u32;
            let position = (self.elapsed >> shift) & (SLOTS as u64 - 1);
            // Every occupied slot is at or after the wheel's position on its level.
            let slot = (occupied >> position).trailing_zeros() as u64 + position;
            let span_mask = (1u64 << (shift + SLOT_BITS)) - 1;
            let start_tick = (self.elapsed & !span_mask) | (slot << shift);
            Some((level, slot as usize, start_tick))
        })
    }

    fn min_deadline(&self, level: usize, slot: usize) -> Option<u64> {
        let mut key = self.heads[level][slot];
        let mut min = None;
        while key != NIL {
            let node = &self.nodes[key as usize];
            min = Some(min.map_or(node.deadline, |m: u64| m.min(node.deadline)));
            key = match node.state {
                NodeState::Queued { next, .. } => next,
                _ => NIL,
            };
        }
        min
    }

    /// Takes every node out of a slot and places it again relative to the current tick.
    fn replace_all(&mut self, level: usize, slot: usize) {
        let mut key = self.take_slot(level, slot);
        while key != NIL {
            let next = match self.nodes[key as usize].state {
                NodeState::Queued { next, .. } => next,
                _ => NIL,
            };
            self.place(key as usize);
            key = next;
        }
    }

    /// Detaches a whole slot list; its nodes still say `Queued` until placed or fired.
    fn take_slot(&mut self, level: usize, slot: usize) -> u32 {
        self.occupied[level] &= !(1 << slot);
        std::mem::replace(&mut self.heads[level][slot], NIL)
    }

    /// Links a node at the head of the slot its deadline belongs to; returns the deadline for
    /// level 0, else the slot's first tick (in nanoseconds).
    fn place(&mut self, key: usize) -> u64 {
        let tick = self.nodes[key].deadline / TICK_NANOS;
        let (level, slot) = self.position(tick);
        let head = self.heads[level][slot];
        if head != NIL {
            if let NodeState::Queued { prev, .. } = &mut self.nodes[head as usize].state {
                *prev = key as u32;
            }
        }
        self.nodes[key].state = NodeState::Queued {
            level: level as u8,
            slot: slot as u8,
            prev: NIL,
            next: head,
        };
        self.heads[level][slot] = key as u32;
        self.occupied[level] |= 1 << slot;
        match level {
            0 | OVERFLOW => self.nodes[key].deadline,
            _ => {
                let shift = SLOT_BITS * level as u32;
                (tick >> shift << shift).saturating_mul(TICK_NANOS)
            }
        }
    }

    fn position(&self, tick: u64) -> (usize, usize) {
        let masked = (self.elapsed ^ tick) | (SLOTS as u64 - 1);
        let level = ((63 - masked.leading_zeros()) / SLOT_BITS) as usize;
        if level >= LEVELS {
            return (OVERFLOW, 0);
        }
        let slot = (tick >> (SLOT_BITS * level as u32)) as usize & (SLOTS - 1);
        (level, slot)
    }

    fn unlink(&mut self, key: usize) {
        let NodeState::Queued {
            level,
            slot,
            prev,
            next,
        } = self.nodes[key].state
        else {
            return;
        };
        let (level, slot) = (level as usize, slot as usize);
        if prev == NIL {
            self.heads[level][slot] = next;
            if next == NIL {
                self.occupied[level] &= !(1 << slot);
            }
        } else if let NodeState::Queued { next: n, .. } = &mut self.nodes[prev as usize].state {
            *n = next;
        }
        if next != NIL {
            if let NodeState::Queued { prev: p, .. } = &mut self.nodes[next as usize].state {
                *p = prev;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = TICK_NANOS;

    fn advance(wheel: &mut Wheel<u32>, now: u64) -> Vec<u32> {
        let mut fired = Vec::new();
        wheel.advance(now, &mut fired);
        fired.iter().map(|&key| *wheel.payload_mut(key)).collect()
    }

    #[test]
    fn fires_in_deadline_order_across_levels() {
        let mut wheel = Wheel::new();
        let deadlines = [
            5 * MS,
            70 * MS + 3,
            70 * MS + 1,
            5000 * MS,
            3 * MS,
            300_000 * MS,
        ];
        for (i, &d) in deadlines.iter().enumerate() {
            let key = wheel.insert(i as u32);
            assert!(wheel.schedule(key, d).is_some());
        }
        assert_eq!(wheel.next_expiration(true), Some(3 * MS));
        assert_eq!(advance(&mut wheel, 70 * MS + 1), vec![4, 0, 2]);
        assert_eq!(wheel.next_expiration(true), Some(70 * MS + 3));
        assert_eq!(advance(&mut wheel, u64::MAX / 2), vec![1, 3, 5]);
        assert_eq!(wheel.queued(), 0);
        assert_eq!(wheel.next_expiration(true), None);
    }

    #[test]
    fn a_deadline_in_the_past_fires_at_once_and_far_ones_overflow() {
        let mut wheel = Wheel::new();
        assert!(advance(&mut wheel, 10 * MS).is_empty());
        let key = wheel.insert(0);
        assert!(wheel.schedule(key, 10 * MS).is_none());
        assert_eq!(wheel.state(key), NodeState::Fired);
        wheel.rearm(key);
        let far = (1u64 << 40) * MS + 7;
        assert_eq!(wheel.schedule(key, far), Some(far));
        assert_eq!(wheel.next_expiration(true), Some(far));
        assert!(advance(&mut wheel, far - 1).is_empty());
        assert_eq!(advance(&mut wheel, far), vec![0]);
        assert_eq!(wheel.remove(key), 0);
    }

    #[test]
    fn cancel_and_reset_move_nodes() {
        let mut wheel = Wheel::new();
        let a = wheel.insert(1);
        let b = wheel.insert(2);
        wheel.schedule(a, 100 * MS);
        wheel.schedule(b, 100 * MS);
        wheel.unschedule(a);
        assert_eq!(wheel.state(a), NodeState::Idle);
        wheel.schedule(b, 20 * MS); // earlier
        assert_eq!(wheel.deadline(b), 20 * MS);
        assert_eq!(advance(&mut wheel, 50 * MS), vec![2]);
        wheel.rearm(b);
        wheel.schedule(b, 900 * MS);
        wheel.schedule(b, 950 * MS); // later
        assert!(advance(&mut wheel, 949 * MS).is_empty());
        assert_eq!(advance(&mut wheel, 950 * MS), vec![2]);
        // Ignoring a clock that goes back.
        assert!(advance(&mut wheel, MS).is_empty());
        assert_eq!(wheel.now(), 950 * MS);
    }

    /// Advanced at whole ticks (a real clock), a slot fires as a whole once its tick has
    /// passed, and `next_expiration(false)` points at tick boundaries without scanning.
    #[test]
    fn coarse_advancing_fires_whole_ticks() {
        let mut wheel = Wheel::new();
        for (i, d) in [3 * MS + 10, 3 * MS + 900_000, 4 * MS, 200 * MS + 1]
            .into_iter()
            .enumerate()
        {
            let key = wheel.insert(i as u32);
            wheel.schedule(key, d);
        }
        assert_eq!(wheel.next_expiration(false), Some(3 * MS));
        assert!(advance(&mut wheel, 3 * MS).is_empty());
        // The current tick's slot holds later deadlines: due at the next tick.
        assert_eq!(wheel.next_expiration(false), Some(4 * MS));
        assert_eq!(advance(&mut wheel, 4 * MS), vec![0, 1, 2]);
        assert!(
            advance(&mut wheel, 4 * MS).is_empty(),
            "the same now again: nothing to do"
        );
        assert_eq!(wheel.next_expiration(false), Some(192 * MS));
        assert_eq!(advance(&mut wheel, 201 * MS), vec![3]);
    }

    /// The reference model: a sorted map of the pending timers.
    mod model {
        use super::*;
        use proptest::prelude::*;
        use std::collections::BTreeSet;

        #[derive(Debug, Clone)]
        enum Op {
            /// Schedule (or move) timer `id % live` to `now + delta`.
            Schedule { id: usize, delta: u64 },
            /// Cancel timer `id % live`.
            Cancel { id: usize },
            /// Advance the clock by `delta`.
            Advance { delta: u64 },
        }

        fn op() -> impl Strategy<Value = Op> {
            // Deltas from sub-millisecond to beyond the wheel's range (2^36 ms).
            let delta = prop_oneof![
                0..2 * MS,
                0..5_000 * MS,
                0..(1u64 << 30) * MS,
                0..(1u64 << 38) * MS,
            ];
            prop_oneof![
                4 => (any::<usize>(), delta.clone()).prop_map(|(id, delta)| Op::Schedule { id, delta }),
                1 => any::<usize>().prop_map(|id| Op::Cancel { id }),
                2 => delta.prop_map(|delta| Op::Advance { delta }),
            ]
        }

        /// Runs `ops` on the wheel and on the model; checks every advance fires exactly the
        /// model's due timers, in deadline order.
        fn check(timers: usize, ops: impl IntoIterator<Item = Op>) -> Result<(), TestCaseError> {
            let mut wheel = Wheel::new();
            let keys: Vec<usize> = (0..timers).map(|i| wheel.insert(i as u32)).collect();
            let mut pending: BTreeSet<(u64, usize)> = BTreeSet::new();
            let mut deadline_of: Vec<Option<u64>> = vec![None; timers];
            let mut now = 0u64;
            let mut fired = Vec::new();
            for op in ops {
                match op {
                    Op::Schedule { id, delta } => {
                        let id = id % timers;
                        if let Some(d) = deadline_of[id].take() {
                            pending.remove(&(d, id));
                        }
                        wheel.rearm(keys[id]);
                        let deadline = now.saturating_add(delta);
                        if wheel.schedule(keys[id], deadline).is_some() {
                            pending.insert((deadline, id));
                            deadline_of[id] = Some(deadline);
                        } else {
                            prop_assert!(deadline <= now);
                        }
                    }
                    Op::Cancel { id } => {
                        let id = id % timers;
                        if let Some(d) = deadline_of[id].take() {
                            pending.remove(&(d, id));
                        }
                        wheel.unschedule(keys[id]);
                    }
                    Op::Advance { delta } => {
                        now = now.saturating_add(delta);
                        if let Some(next) = wheel.next_expiration(true) {
                            let exact = pending.first().map(|&(d, _)| d);
                            prop_assert!(Some(next) <= exact, "next {next} after {exact:?}");
                        } else {
                            prop_assert!(pending.is_empty());
                        }
                        fired.clear();
                        wheel.advance(now, &mut fired);
                        let due: Vec<(u64, usize)> = pending
                            .iter()
                            .copied()
                            .take_while(|&(d, _)| d <= now)
                            .collect();
                        let got: Vec<u64> = fired.iter().map(|&k| wheel.deadline(k)).collect();
                        prop_assert!(got.windows(2).all(|w| w[0] <= w[1]), "out of order");
                        let mut got_ids: Vec<usize> = fired
                            .iter()
                            .map(|&k| *wheel.payload_mut(k) as usize)
                            .collect();
                        let mut due_ids: Vec<usize> = due.iter().map(|&(_, id)| id).collect();
                        got_ids.sort_unstable();
                        due_ids.sort_unstable();
                        prop_assert_eq!(got_ids, due_ids);
                        for (d, id) in due {
                            pending.remove(&(d, id));
                            deadline_of[id] = None;
                            prop_assert_eq!(wheel.state(keys[id]), NodeState::Fired);
                        }
                        if timers <= 64 {
                            // (Counting walks every node: per step only for the small cases.)
                            prop_assert_eq!(wheel.queued(), pending.len());
                        }
                    }
                }
            }
            prop_assert_eq!(wheel.queued(), pending.len());
            Ok(())
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]
            /// Interleavings of schedule, move, cancel and advance on a few timers.
            #[test]
            fn small_interleavings_match_the_model(ops in proptest::collection::vec(op(), 1..200)) {
                check(8, ops)?;
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2))]
            /// 10^5 timers with random deadlines, a fifth of them cancelled, fired in steps.
            #[test]
            fn a_hundred_thousand_timers_fire_in_deadline_order(seed in any::<u64>()) {
                let mut rng = seed | 1;
                let mut next = move || {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    rng
                };
                let n = 100_000;
                let mut ops: Vec<Op> = (0..n)
                    .map(|id| Op::Schedule { id, delta: next() % (3_600_000 * MS) })
                    .collect();
                ops.extend((0..n / 5).map(|_| Op::Cancel { id: (next() as usize) % n }));
                ops.extend((0..200).map(|_| Op::Advance { delta: next() % (40_000 * MS) }));
                ops.push(Op::Advance { delta: 3_600_000 * MS });
                check(n, ops)?;
            }
        }
    }
}
