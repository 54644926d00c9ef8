//! Differential tests of `Semaphore`, `CapacityLimiter` and `Condition` (with its `Lock`)
//! against small reference models of their protocols (ARCHITECTURE "Sync primitives",
//! SYNC_TESTPLAN Q1/Q2): seeded random sequences of acquire, try_acquire, poll, drop (queued
//! or granted), release, `add_permits`/`forget`, `set_total_tokens`, `wait`, `notify(k)`,
//! `notify_all`, polled by hand with counting wakers (no runtime). After every step the
//! statistics match the model, a future is woken exactly once when (and only when) it is
//! granted, and it completes on its next poll; nothing is left at the end.

use creche::sync::{Borrower, CapacityLimiter, Condition, ConditionGuard, Semaphore};
use creche::sync::{
    ConditionLock, ConditionWait, LimiterAcquire, LimiterToken, SemaphoreAcquire, SemaphorePermit,
};
use std::collections::{BTreeMap, HashSet, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::task::{Context, Poll, Wake, Waker};

struct Cw(AtomicUsize);
impl Wake for Cw {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, SeqCst);
    }
}
fn cw() -> (Arc<Cw>, Waker) {
    let c = Arc::new(Cw(AtomicUsize::new(0)));
    (c.clone(), Waker::from(c))
}
fn poll<F: Future + Unpin>(f: &mut F, w: &Waker) -> Poll<F::Output> {
    Pin::new(f).poll(&mut Context::from_waker(w))
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn semaphore_matches_model() {
    for seed in 1..300u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let init = rng.below(3);
        let sem = Semaphore::new(init);
        let mut free = init;
        let mut queue: VecDeque<usize> = VecDeque::new();
        let mut granted: HashSet<usize> = HashSet::new();
        let mut futs: BTreeMap<usize, (SemaphoreAcquire<'_>, Arc<Cw>, Waker, usize)> =
            BTreeMap::new();
        let mut permits: Vec<SemaphorePermit<'_>> = Vec::new();
        let mut next = 0;
        for step in 0..200 {
            let ctx = format!("seed {seed} step {step}");
            match rng.below(7) {
                0 => {
                    let id = next;
                    next += 1;
                    let (c, w) = cw();
                    let mut f = sem.acquire();
                    match poll(&mut f, &w) {
                        Poll::Ready(p) => {
                            assert!(free > 0 && queue.is_empty(), "{ctx}");
                            free -= 1;
                            permits.push(p);
                        }
                        Poll::Pending => {
                            assert!(free == 0, "{ctx}");
                            queue.push_back(id);
                            futs.insert(id, (f, c, w, 0));
                        }
                    }
                }
                1 => match sem.try_acquire() {
                    Ok(p) => {
                        assert!(free > 0, "{ctx}");
                        free -= 1;
                        permits.push(p);
                    }
                    Err(_) => assert!(free == 0, "{ctx}"),
                },
                2 | 3 => {
                    if futs.is_empty() {
                        continue;
                    }
                    let id = *futs.keys().nth(rng.below(futs.len())).unwrap();
                    if rng.below(2) == 0 {
                        let (mut f, c, w, seen) = futs.remove(&id).unwrap();
                        let r = poll(&mut f, &w);
                        let woken = c.0.load(SeqCst);
                        if granted.contains(&id) {
                            assert_eq!(woken, seen + 1, "{ctx}");
                            let Poll::Ready(p) = r else { panic!("{ctx}") };
                            granted.remove(&id);
                            permits.push(p);
                        } else {
                            assert!(r.is_pending(), "{ctx}");
                            assert_eq!(woken, seen, "{ctx}");
                            futs.insert(id, (f, c, w, woken));
                        }
                    } else {
                        drop(futs.remove(&id));
                        queue.retain(|&q| q != id);
                        if granted.remove(&id) {
                            // pass on
                            if let Some(n) = queue.pop_front() {
                                granted.insert(n);
                            } else {
                                free += 1;
                            }
                        }
                    }
                }
                4 => {
                    if permits.is_empty() {
                        continue;
                    }
                    let i = rng.below(permits.len());
                    let p = permits.swap_remove(i);
                    if rng.below(4) == 0 {
                        p.forget();
                    } else {
                        drop(p);
                        if let Some(n) = queue.pop_front() {
                            granted.insert(n);
                        } else {
                            free += 1;
                        }
                    }
                }
                _ => {
                    let k = rng.below(3);
                    sem.add_permits(k);
                    for _ in 0..k {
                        if let Some(n) = queue.pop_front() {
                            granted.insert(n);
                        } else {
                            free += 1;
                        }
                    }
                }
            }
            assert_eq!(sem.available_permits(), free, "{ctx}");
            assert_eq!(sem.statistics().tasks_waiting, queue.len(), "{ctx}");
            assert_eq!(sem.__queued_nodes(), futs.len(), "{ctx}");
        }
        drop(futs);
        drop(permits);
    }
}

#[test]
fn limiter_matches_model() {
    for seed in 1..300u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut total = rng.below(3);
        let lim = CapacityLimiter::new(total);
        let mut borrowed: HashSet<Borrower> = HashSet::new();
        let mut queue: VecDeque<(usize, Borrower)> = VecDeque::new();
        let mut granted: HashSet<usize> = HashSet::new();
        let mut futs: BTreeMap<usize, (LimiterAcquire<'_>, Arc<Cw>, Waker, usize, Borrower)> =
            BTreeMap::new();
        let mut tokens: Vec<LimiterToken> = Vec::new();
        let mut next = 0;
        let fill = |borrowed: &mut HashSet<Borrower>,
                    queue: &mut VecDeque<(usize, Borrower)>,
                    granted: &mut HashSet<usize>,
                    total: usize| {
            while borrowed.len() < total {
                let Some((id, b)) = queue.pop_front() else {
                    break;
                };
                borrowed.insert(b);
                granted.insert(id);
            }
        };
        for step in 0..200 {
            let ctx = format!("seed {seed} step {step}");
            match rng.below(7) {
                0 => {
                    let id = next;
                    next += 1;
                    let b = Borrower::new();
                    let (c, w) = cw();
                    let mut f = lim.acquire_on_behalf_of(b);
                    match poll(&mut f, &w) {
                        Poll::Ready(t) => {
                            assert!(borrowed.len() < total, "{ctx}");
                            borrowed.insert(b);
                            tokens.push(t);
                        }
                        Poll::Pending => {
                            assert!(borrowed.len() >= total, "{ctx}");
                            queue.push_back((id, b));
                            futs.insert(id, (f, c, w, 0, b));
                        }
                    }
                }
                1 => {
                    let b = Borrower::new();
                    match lim.try_acquire_on_behalf_of(b) {
                        Ok(t) => {
                            assert!(borrowed.len() < total, "{ctx}");
                            borrowed.insert(b);
                            tokens.push(t);
                        }
                        Err(_) => assert!(borrowed.len() >= total, "{ctx}"),
                    }
                }
                2 | 3 => {
                    if futs.is_empty() {
                        continue;
                    }
                    let id = *futs.keys().nth(rng.below(futs.len())).unwrap();
                    if rng.below(2) == 0 {
                        let (mut f, c, w, seen, b) = futs.remove(&id).unwrap();
                        let r = poll(&mut f, &w);
                        let woken = c.0.load(SeqCst);
                        if granted.contains(&id) {
                            assert_eq!(woken, seen + 1, "{ctx}");
                            let Poll::Ready(t) = r else { panic!("{ctx}") };
                            granted.remove(&id);
                            assert!(borrowed.contains(&t.borrower()));
                            tokens.push(t);
                        } else {
                            assert!(r.is_pending(), "{ctx}");
                            assert_eq!(woken, seen, "{ctx}");
                            futs.insert(id, (f, c, w, woken, b));
                        }
                    } else {
                        let f = futs.remove(&id).unwrap();
                        let b = f.4;
                        drop(f);
                        queue.retain(|&(q, _)| q != id);
                        if granted.remove(&id) {
                            borrowed.remove(&b);
                            fill(&mut borrowed, &mut queue, &mut granted, total);
                        }
                    }
                }
                4 => {
                    if tokens.is_empty() {
                        continue;
                    }
                    let t = tokens.swap_remove(rng.below(tokens.len()));
                    borrowed.remove(&t.borrower());
                    drop(t);
                    fill(&mut borrowed, &mut queue, &mut granted, total);
                }
                _ => {
                    total = rng.below(5);
                    lim.set_total_tokens(total);
                    fill(&mut borrowed, &mut queue, &mut granted, total);
                }
            }
            let st = lim.statistics();
            assert_eq!(st.borrowed_tokens, borrowed.len(), "{ctx}");
            assert_eq!(st.tasks_waiting, queue.len(), "{ctx}");
            assert_eq!(
                st.borrowers.iter().copied().collect::<HashSet<_>>(),
                borrowed,
                "{ctx}"
            );
            assert_eq!(lim.__pending_entries(), (queue.len(), futs.len()), "{ctx}");
        }
        drop(futs);
        drop(tokens);
        assert_eq!(lim.borrowed_tokens(), 0);
    }
}

enum CFut<'a> {
    Lock(ConditionLock<'a>),
    Wait(ConditionWait<'a>),
}

#[test]
fn condition_matches_model() {
    for seed in 1..400u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let cond = Condition::new();
        // Reference.
        #[derive(Clone, Copy, PartialEq, Debug)]
        enum Holder {
            Guard,
            Fut(usize),
        }
        let mut holder: Option<Holder> = None;
        let mut condq: VecDeque<usize> = VecDeque::new();
        let mut lockq: VecDeque<usize> = VecDeque::new();
        let mut futs: BTreeMap<usize, (CFut<'_>, Arc<Cw>, Waker, usize)> = BTreeMap::new();
        let mut guard: Option<ConditionGuard<'_>> = None;
        let mut next = 0;
        fn unlock(holder: &mut Option<Holder>, lockq: &mut VecDeque<usize>) {
            *holder = lockq.pop_front().map(Holder::Fut);
        }
        for step in 0..200 {
            let ctx = format!("seed {seed} step {step}");
            match rng.below(9) {
                0 => {
                    let id = next;
                    next += 1;
                    let (c, w) = cw();
                    let mut f = cond.lock();
                    match poll(&mut f, &w) {
                        Poll::Ready(g) => {
                            assert!(holder.is_none(), "{ctx}");
                            holder = Some(Holder::Guard);
                            guard = Some(g);
                        }
                        Poll::Pending => {
                            assert!(holder.is_some(), "{ctx}");
                            lockq.push_back(id);
                            futs.insert(id, (CFut::Lock(f), c, w, 0));
                        }
                    }
                }
                1 => {
                    if let Some(g) = guard.take() {
                        let id = next;
                        next += 1;
                        let (c, w) = cw();
                        let mut f = g.wait();
                        assert!(poll(&mut f, &w).is_pending(), "{ctx}");
                        condq.push_back(id);
                        unlock(&mut holder, &mut lockq);
                        futs.insert(id, (CFut::Wait(f), c, w, 0));
                    }
                }
                2 => {
                    if let Some(g) = &guard {
                        let k = rng.below(3);
                        g.notify(k);
                        for _ in 0..k {
                            if let Some(x) = condq.pop_front() {
                                lockq.push_back(x);
                            }
                        }
                    }
                }
                3 => {
                    if let Some(g) = &guard {
                        g.notify_all();
                        lockq.extend(condq.drain(..));
                    }
                }
                4 => {
                    if guard.take().is_some() {
                        unlock(&mut holder, &mut lockq);
                    }
                }
                5 => {
                    // A wait dropped before its first poll unlocks like its guard.
                    if let Some(g) = guard.take() {
                        if rng.below(3) == 0 {
                            drop(g.wait());
                            unlock(&mut holder, &mut lockq);
                        } else {
                            guard = Some(g);
                        }
                    }
                }
                _ => {
                    if futs.is_empty() {
                        continue;
                    }
                    let id = *futs.keys().nth(rng.below(futs.len())).unwrap();
                    let granted = holder == Some(Holder::Fut(id));
                    if rng.below(2) == 0 {
                        let (mut f, c, w, seen) = futs.remove(&id).unwrap();
                        let r = match &mut f {
                            CFut::Lock(l) => poll(l, &w),
                            CFut::Wait(x) => poll(x, &w),
                        };
                        let woken = c.0.load(SeqCst);
                        if granted {
                            assert_eq!(woken, seen + 1, "{ctx}");
                            let Poll::Ready(g) = r else { panic!("{ctx}") };
                            holder = Some(Holder::Guard);
                            guard = Some(g);
                        } else {
                            assert!(r.is_pending(), "{ctx}");
                            assert_eq!(woken, seen, "{ctx}");
                            futs.insert(id, (f, c, w, woken));
                        }
                    } else {
                        let (f, ..) = futs.remove(&id).unwrap();
                        let is_wait = matches!(f, CFut::Wait(_));
                        drop(f);
                        let in_lock = lockq.contains(&id);
                        condq.retain(|&q| q != id);
                        lockq.retain(|&q| q != id);
                        if is_wait && (in_lock || granted) {
                            if let Some(x) = condq.pop_front() {
                                lockq.push_back(x);
                            }
                        }
                        if granted {
                            unlock(&mut holder, &mut lockq);
                        }
                    }
                }
            }
            let st = cond.statistics();
            assert_eq!(st.tasks_waiting, condq.len(), "{ctx}");
            assert_eq!(st.lock.tasks_waiting, lockq.len(), "{ctx}");
            assert_eq!(st.lock.locked, holder.is_some(), "{ctx}");
            assert_eq!(cond.__queued_nodes(), futs.len(), "{ctx}");
        }
        drop(guard);
        drop(futs);
        assert!(!cond.locked());
        assert_eq!(cond.__queued_nodes(), 0);
    }
}
