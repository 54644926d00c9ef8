//! [`Readiness`]: what the reactor knows about one registered source, per direction (read,
//! write), and the waker slots of the tasks that wait for it.
//!
//! # Protocol
//!
//! Each direction holds, under the source's mutex:
//! - `ready`: the reactor has seen the direction become ready and no operation has since seen
//!   `WouldBlock` for it. It starts `true` (a new socket is tried at once: the first syscall
//!   tells), is set by every event, and is cleared only by [`Readiness::clear`].
//! - `tick`: bumped by every event of the direction. An operation reads `tick` together with
//!   `ready` ([`Readiness::poll_ready`]), tries its syscall, and on `WouldBlock` clears `ready`
//!   *only if `tick` is unchanged*: an event that arrived between the syscall and the clear
//!   keeps the direction ready, so the operation tries again instead of sleeping through data
//!   that the (edge-triggered) reactor will never report twice.
//! - `waiters`: one waker slot per pending async operation (a slab key the operation's future
//!   owns and removes when it is dropped), plus one `poll_waker` for the `poll_*` APIs
//!   (`AsyncRead`/`AsyncWrite`, which have no future to own a key: the last poller's waker).
//!   A waiter registers under the mutex after seeing `ready == false`; an event sets `ready`
//!   and takes every waker under the same mutex, and wakes them after releasing it. So either
//!   the event comes after the registration (and finds the waker), or before it (and the
//!   waiter sees `ready`). Taking a waker leaves its slab slot in place (empty), so a key
//!   stays valid until its future removes it.
//!
//! An operation never consumes data before it returns `Ready`: readiness is only a hint to
//! try the syscall, and the syscall's result is returned in the same poll. That is what makes
//! dropping a pending `read` or `accept` lose nothing.

use crate::primitives::Mutex;
use slab::Slab;
use std::fmt;
use std::task::{Context, Poll, Waker};

/// A direction of readiness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    /// Readable (and, for listeners, acceptable).
    Read,
    /// Writable (and, for a connecting stream, connected or failed).
    Write,
}

/// Which waker slot a waiter uses.
pub(crate) enum Waiter<'a> {
    /// An async operation's own slot: its key, `None` until it first registers.
    Keyed(&'a mut Option<usize>),
    /// The one slot of the `poll_*` APIs.
    Poll,
}

#[derive(Default)]
struct Slot {
    ready: bool,
    tick: u64,
    waiters: Slab<Option<Waker>>,
    poll_waker: Option<Waker>,
}

impl Slot {
    fn take_wakers(&mut self, out: &mut Vec<Waker>) {
        out.extend(self.waiters.iter_mut().filter_map(|(_, w)| w.take()));
        out.extend(self.poll_waker.take());
    }
}

/// The readiness state of one source; see the [module documentation](self).
pub(crate) struct Readiness {
    slots: Mutex<[Slot; 2]>,
}

impl fmt::Debug for Readiness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let slots = self.slots.lock();
        f.debug_struct("Readiness")
            .field("readable", &slots[0].ready)
            .field("writable", &slots[1].ready)
            .finish()
    }
}

fn index(direction: Direction) -> usize {
    match direction {
        Direction::Read => 0,
        Direction::Write => 1,
    }
}

impl Readiness {
    /// Both directions ready (to be tried), no waiter.
    pub(crate) fn new() -> Readiness {
        let slot = || Slot {
            ready: true,
            ..Slot::default()
        };
        Readiness {
            slots: Mutex::new([slot(), slot()]),
        }
    }

    /// `Ready(tick)` if `direction` may be ready (try the syscall, then [`clear`](Self::clear)
    /// with this tick on `WouldBlock`); else records the waker in `waiter`'s slot and returns
    /// `Pending`.
    pub(crate) fn poll_ready(
        &self,
        direction: Direction,
        waiter: Waiter<'_>,
        cx: &mut Context<'_>,
    ) -> Poll<u64> {
        let mut slots = self.slots.lock();
        let slot = &mut slots[index(direction)];
        if slot.ready {
            return Poll::Ready(slot.tick);
        }
        let place = match waiter {
            Waiter::Poll => &mut slot.poll_waker,
            Waiter::Keyed(key) => match key {
                Some(k) => &mut slot.waiters[*k],
                None => {
                    let k = slot.waiters.insert(None);
                    *key = Some(k);
                    &mut slot.waiters[k]
                }
            },
        };
        match place {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            Some(waker) => waker.clone_from(cx.waker()),
            None => *place = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// An operation saw `WouldBlock` after [`poll_ready`](Self::poll_ready) returned `tick`:
    /// the direction is not ready, unless an event came since.
    pub(crate) fn clear(&self, direction: Direction, tick: u64) {
        let mut slots = self.slots.lock();
        let slot = &mut slots[index(direction)];
        if slot.tick == tick {
            slot.ready = false;
        }
    }

    /// A pending async operation is gone: frees its waker slot.
    pub(crate) fn remove_waiter(&self, direction: Direction, key: usize) {
        let mut slots = self.slots.lock();
        slots[index(direction)].waiters.try_remove(key);
    }

    /// An event: marks the directions ready and moves their wakers to `wakers` (to be woken
    /// once the caller holds no lock).
    pub(crate) fn set_ready(&self, readable: bool, writable: bool, wakers: &mut Vec<Waker>) {
        let mut slots = self.slots.lock();
        for (slot, fired) in slots.iter_mut().zip([readable, writable]) {
            if fired {
                slot.ready = true;
                slot.tick = slot.tick.wrapping_add(1);
                slot.take_wakers(wakers);
            }
        }
    }

    /// Moves every waker out (the driver shuts down: wakers hold tasks, which hold the runtime).
    pub(crate) fn take_all_wakers(&self, wakers: &mut Vec<Waker>) {
        let mut slots = self.slots.lock();
        for slot in slots.iter_mut() {
            slot.take_wakers(wakers);
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use std::task::Wake;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, SeqCst);
        }
    }

    #[test]
    fn an_event_between_syscall_and_clear_keeps_the_direction_ready() {
        let r = Readiness::new();
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        let mut key = None;
        let Poll::Ready(tick) = r.poll_ready(Direction::Read, Waiter::Keyed(&mut key), &mut cx)
        else {
            panic!("a new source is ready to be tried")
        };
        let mut wakers = Vec::new();
        r.set_ready(true, false, &mut wakers); // the event races the WouldBlock
        r.clear(Direction::Read, tick);
        assert!(
            r.poll_ready(Direction::Read, Waiter::Keyed(&mut key), &mut cx)
                .is_ready()
        );
        // Without a racing event, the clear sticks and the waiter is woken by the next event.
        let Poll::Ready(tick) = r.poll_ready(Direction::Read, Waiter::Poll, &mut cx) else {
            unreachable!()
        };
        r.clear(Direction::Read, tick);
        assert!(
            r.poll_ready(Direction::Read, Waiter::Keyed(&mut key), &mut cx)
                .is_pending()
        );
        assert!(key.is_some());
        r.set_ready(false, true, &mut wakers); // the other direction: nobody woken
        assert!(wakers.is_empty());
        r.set_ready(true, false, &mut wakers);
        assert_eq!(wakers.len(), 1);
        wakers.drain(..).for_each(Waker::wake);
        assert_eq!(count.0.load(SeqCst), 1);
        r.remove_waiter(Direction::Read, key.unwrap());
    }
}
