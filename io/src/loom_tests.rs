//! Loom models of the readiness protocol ([`crate::readiness`]), with a fake kernel: an atomic
//! count of bytes queued in the socket, which the "syscall" takes (or sees empty: WouldBlock),
//! and hand-polled operations with counting wakers.
//!
//! - `event_races_would_block`: the reactor delivers an event (data queued, then `set_ready`)
//!   while an operation tries its syscall and clears the readiness. The operation either
//!   completes, or is pending with its waker woken (no lost wake-up), and then completes.
//! - `two_waiters_one_event`: two operations wait in their own slots; one event wakes both,
//!   and a waiter dropped concurrently with the event frees its slot without disturbing the
//!   other.
//! - `wakeup_unpark_reaches_either_mode`, `first_registration_wakes_a_light_park`: the driver's
//!   two blocking modes ([`crate::wakeup`]) never lose an unpark.
//!
//! Run with `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p creche-io --release
//! --lib --target-dir target/loom -- loom_tests`.

use crate::readiness::{Direction, Readiness, Waiter};
use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use loom::thread;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

/// Counts its wakes.
#[derive(Default)]
struct Count(AtomicUsize);

impl Wake for Count {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, SeqCst);
    }
}

/// One poll of a read operation on `readiness`, over a socket holding `queued` bytes: what
/// `source::Op::poll` does (without the runtime's budget and cancellation).
fn poll_read(
    readiness: &Readiness,
    queued: &AtomicUsize,
    key: &mut Option<usize>,
    waker: &Waker,
) -> Poll<usize> {
    let mut cx = Context::from_waker(waker);
    loop {
        let Poll::Ready(tick) = readiness.poll_ready(Direction::Read, Waiter::Keyed(key), &mut cx)
        else {
            return Poll::Pending;
        };
        match queued.swap(0, SeqCst) {
            0 => readiness.clear(Direction::Read, tick), // WouldBlock
            n => return Poll::Ready(n),
        }
    }
}

/// The reactor's side: the kernel queues data, then the poller reports the edge.
fn deliver(readiness: &Readiness, queued: &AtomicUsize) {
    queued.fetch_add(1, SeqCst);
    let mut wakers = Vec::new();
    readiness.set_ready(true, false, &mut wakers);
    wakers.into_iter().for_each(Waker::wake);
}

#[test]
fn event_races_would_block() {
    loom::model(|| {
        let readiness = Arc::new(Readiness::new());
        let queued = Arc::new(AtomicUsize::new(0));
        let count = Arc::new(Count::default());
        let waker = Waker::from(count.clone());
        let mut key = None;
        // The socket starts empty and the source ready-to-try: the read's syscall may see it
        // empty just before the data and its event arrive, and its clear come after them.
        let reactor = {
            let (readiness, queued) = (readiness.clone(), queued.clone());
            thread::spawn(move || deliver(&readiness, &queued))
        };
        let first = poll_read(&readiness, &queued, &mut key, &waker);
        reactor.join().unwrap();
        match first {
            Poll::Ready(n) => assert_eq!(n, 1),
            Poll::Pending => {
                assert!(count.0.load(SeqCst) > 0, "a pending read was never woken");
                assert_eq!(
                    poll_read(&readiness, &queued, &mut key, &waker),
                    Poll::Ready(1)
                );
            }
        }
        if let Some(key) = key {
            readiness.remove_waiter(Direction::Read, key);
        }
    });
}

#[test]
fn two_waiters_one_event() {
    loom::model(|| {
        let readiness = Arc::new(Readiness::new());
        let queued = Arc::new(AtomicUsize::new(0));
        let (count_a, count_b) = (Arc::new(Count::default()), Arc::new(Count::default()));
        let (waker_a, waker_b) = (Waker::from(count_a.clone()), Waker::from(count_b.clone()));
        let (mut key_a, mut key_b) = (None, None);
        assert!(poll_read(&readiness, &queued, &mut key_a, &waker_a).is_pending());
        assert!(poll_read(&readiness, &queued, &mut key_b, &waker_b).is_pending());
        assert_ne!(key_a, key_b);
        let dropper = {
            let readiness = readiness.clone();
            let key_a = key_a.unwrap();
            // Operation A is dropped (cancelled) while the event arrives.
            thread::spawn(move || readiness.remove_waiter(Direction::Read, key_a))
        };
        deliver(&readiness, &queued);
        dropper.join().unwrap();
        assert_eq!(count_b.0.load(SeqCst), 1, "the remaining waiter is woken");
        assert_eq!(
            poll_read(&readiness, &queued, &mut key_b, &waker_b),
            Poll::Ready(1)
        );
        readiness.remove_waiter(Direction::Read, key_b.unwrap());
    });
}

/// A stand-in for the poller's blocking wait and `notify` (a token under a mutex).
#[derive(Default)]
struct FakePoller {
    notified: loom::sync::Mutex<bool>,
    condvar: loom::sync::Condvar,
}

impl FakePoller {
    fn wait(&self) {
        let mut notified = self.notified.lock().unwrap();
        while !*notified {
            notified = self.condvar.wait(notified).unwrap();
        }
        *notified = false;
    }

    fn notify(&self) {
        *self.notified.lock().unwrap() = true;
        self.condvar.notify_one();
    }
}

/// An unpark racing a park, in each blocking mode, always makes the park return (a lost
/// unpark shows as a loom deadlock): the token, the condition variable, or the poller's
/// notify reaches it.
#[test]
fn wakeup_unpark_reaches_either_mode() {
    use crate::wakeup::{Mode, Wakeup};
    for mode in [Mode::Light, Mode::Poller] {
        loom::model(move || {
            let wakeup = Arc::new(Wakeup::default());
            let poller = Arc::new(FakePoller::default());
            let (w, p) = (wakeup.clone(), poller.clone());
            let unparker = thread::spawn(move || w.unpark(|| p.notify()));
            wakeup.park(mode, None, |_| poller.wait());
            unparker.join().unwrap();
        });
    }
}

/// The first registration counts its source and unparks; a park that chose its mode from the
/// count (light with none) still returns, whichever side goes first.
#[test]
fn first_registration_wakes_a_light_park() {
    use crate::wakeup::{Mode, Wakeup};
    loom::model(|| {
        let wakeup = Arc::new(Wakeup::default());
        let poller = Arc::new(FakePoller::default());
        let live = Arc::new(AtomicUsize::new(0));
        let (w, p, l) = (wakeup.clone(), poller.clone(), live.clone());
        let registrar = thread::spawn(move || {
            if l.fetch_add(1, SeqCst) == 0 {
                w.unpark(|| p.notify());
            }
        });
        let mode = if live.load(SeqCst) > 0 {
            Mode::Poller
        } else {
            Mode::Light
        };
        wakeup.park(mode, None, |_| poller.wait());
        registrar.join().unwrap();
    });
}
