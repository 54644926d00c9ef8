//! Loom models of the channel protocol (`crate::channel`), with futures polled by hand on loom
//! threads and wakers that notify the polling thread (loom's `Notify`): no runtime, so the
//! state space is the channel's alone.
//!
//! - `recv_dropped_after_hand_off` (capacity 0 and 1): T1 sends v; T2 polls receiver A once
//!   and drops it; main receives on B until it gets a value or the end. v reaches exactly one
//!   of A and B (possibly through the buffer's head), B is never left waiting (a lost wake-up
//!   is a deadlock, which loom reports), B sees the end only if A took v, and v is dropped once.
//! - `send_dropped_vs_recv`: capacity 1, full; T1 polls a send of v2 once and drops it while
//!   T2 receives. v2 is in the buffer or was dropped by the send, never both; nobody is left
//!   queued; two drops in all.
//! - `queued_send_completes_on_recv`: capacity 1, full; a queued send is woken and completes
//!   when a receive frees its slot, and the values arrive in order.
//! - `last_sender_close_vs_recv`: T1 sends one value and drops the last sender while main
//!   receives: main gets the value, then the end, with no lost wake-up.
//! - `last_receiver_close_vs_send`: T1 drops the last receiver while main sends (into an empty
//!   buffer, or a full one where the send must queue): the send gives `Ok` (the value is then
//!   dropped with the buffer) or `Disconnected(v)`; one drop per value either way.
//! - `senders_drop_and_close_vs_recv`: one sender handle is dropped (the count-only path, or
//!   the last one, which takes the lock) while another is closed (under the lock), and main
//!   waits on a receive: it sees the end, whichever of the two goes last.
//! - `stream_receive_taken_over_by_recv`: the receiver's `Stream` has a receive queued when T1
//!   sends v and drops the last sender; main then `recv`s on the same receiver: v first (taken
//!   from the stream's slot if it was handed there), then the end, with no lost wake-up.
//! - `close_passes_on_streams_value`: main's stream has a receive queued and main closes that
//!   receiver while T1 sends v and drops the last sender, and T2 receives on a clone: T2 gets v
//!   (handed to it, or passed on by the close, directly or through the buffer), then the end.

use super::Dropped;
use crate::channel::{RecvError, SendError, channel};
use futures_core::Stream;
use loom::sync::Notify;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;
use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

/// A waker that notifies the thread that made it (loom's one-permit `Notify`).
struct Flag(Notify);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.notify();
    }
}

fn flag_waker() -> (Arc<Flag>, Waker) {
    let flag = Arc::new(Flag(Notify::new()));
    let waker = Waker::from(flag.clone());
    (flag, waker)
}

/// Polls `fut` to completion, waiting for a wake-up between polls: a lost wake-up leaves the
/// thread waiting forever, which loom reports as a deadlock.
fn block_on<F: Future>(fut: F) -> F::Output {
    let (flag, waker) = flag_waker();
    let mut cx = Context::from_waker(&waker);
    let mut fut = pin!(fut);
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
        flag.0.wait();
    }
}

fn recv_dropped_after_hand_off(capacity: usize) {
    loom::model(move || {
        let drops = Arc::new(AtomicUsize::new(0));
        let (s, r) = channel::<Dropped>(capacity);
        let r_a = r.clone();
        let sender = {
            let drops = drops.clone();
            thread::spawn(move || {
                assert!(block_on(s.send(Dropped(drops))).is_ok());
                // `s`, the last sender, closes here.
            })
        };
        let a = thread::spawn(move || {
            let (_flag, waker) = flag_waker();
            let mut cx = Context::from_waker(&waker);
            let got = {
                let mut recv = pin!(r_a.recv());
                matches!(recv.as_mut().poll(&mut cx), Poll::Ready(Ok(_)))
                // A is dropped here, granted or not.
            };
            drop(r_a);
            got
        });
        let b_got = match block_on(r.recv()) {
            Ok(_) => true,
            Err(RecvError::End) => false,
            Err(RecvError::Closed) => panic!("B's handle is open"),
        };
        sender.join().unwrap();
        let a_got = a.join().unwrap();
        assert!(
            a_got != b_got,
            "v reaches exactly one receiver: a {a_got}, b {b_got}"
        );
        assert_eq!(r.statistics().buffer_used, 0);
        assert_eq!(drops.load(Ordering::SeqCst), 1);
        drop(r);
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    });
}

#[test]
fn recv_dropped_after_hand_off_cap0() {
    recv_dropped_after_hand_off(0);
}

#[test]
fn recv_dropped_after_hand_off_cap1() {
    recv_dropped_after_hand_off(1);
}

#[test]
fn send_dropped_vs_recv() {
    loom::model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let (s, r) = channel::<(u8, Dropped)>(1);
        assert!(s.try_send((1, Dropped(drops.clone()))).is_ok());
        let stats_s = s.clone();
        let sender = {
            let drops = drops.clone();
            thread::spawn(move || {
                let (_flag, waker) = flag_waker();
                let mut cx = Context::from_waker(&waker);
                let mut send = pin!(s.send((2, Dropped(drops))));
                send.as_mut().poll(&mut cx).is_ready()
                // The send is dropped here, queued or not.
            })
        };
        let receiver = thread::spawn(move || {
            let first = block_on(r.recv()).map(|(n, _)| n);
            (first, r)
        });
        let sent_at_once = sender.join().unwrap();
        let (first, r) = receiver.join().unwrap();
        assert_eq!(first, Ok(1));
        let stats = stats_s.statistics();
        assert_eq!(stats.senders_waiting, 0);
        let buffered = stats.buffer_used;
        assert!(buffered <= 1);
        if sent_at_once {
            assert_eq!(buffered, 1, "a send that completed left v2 in the buffer");
        }
        // v1 was dropped by the receiver; v2 by the dropped send unless it is buffered.
        assert_eq!(drops.load(Ordering::SeqCst), 2 - buffered);
        if buffered == 1 {
            assert!(matches!(r.try_recv(), Ok((2, _))));
        }
        drop((r, stats_s));
        assert_eq!(drops.load(Ordering::SeqCst), 2);
    });
}

/// Capacity 1, full: T1's send queues (or finds room) and must complete; main receives both
/// values in order. A receive that moved the queued value without waking and unlinking its
/// sender would leave T1 waiting forever.
#[test]
fn queued_send_completes_on_recv() {
    loom::model(|| {
        let (s, r) = channel::<u8>(1);
        assert!(s.try_send(1).is_ok());
        let sender = thread::spawn(move || assert_eq!(block_on(s.send(2)), Ok(())));
        assert_eq!(block_on(r.recv()), Ok(1));
        assert_eq!(block_on(r.recv()), Ok(2));
        sender.join().unwrap();
        assert_eq!(block_on(r.recv()), Err(RecvError::End));
    });
}

#[test]
fn last_sender_close_vs_recv() {
    loom::model(|| {
        let (s, r) = channel::<u8>(1);
        let sender = thread::spawn(move || {
            assert!(s.try_send(7).is_ok());
            drop(s);
        });
        assert_eq!(block_on(r.recv()), Ok(7));
        assert_eq!(block_on(r.recv()), Err(RecvError::End));
        sender.join().unwrap();
    });
}

#[test]
fn last_receiver_close_vs_send() {
    for prefill in [false, true] {
        loom::model(move || {
            let drops = Arc::new(AtomicUsize::new(0));
            let (s, r) = channel::<Dropped>(1);
            if prefill {
                assert!(s.try_send(Dropped(drops.clone())).is_ok());
            }
            let closer = thread::spawn(move || drop(r));
            let out = block_on(s.send(Dropped(drops.clone())));
            closer.join().unwrap();
            let values = 1 + usize::from(prefill);
            match out {
                // Sent into the buffer, which the receiver's close then dropped.
                Ok(()) => assert!(!prefill, "a full buffer with no receiver never takes"),
                Err(SendError::Disconnected(v)) => drop(v),
                Err(SendError::Closed(_)) => panic!("the sender's handle is open"),
            }
            assert_eq!(drops.load(Ordering::SeqCst), values);
            assert_eq!(s.statistics().senders_waiting, 0);
        });
    }
}

#[test]
fn senders_drop_and_close_vs_recv() {
    loom::model(|| {
        let (s, r) = channel::<u8>(1);
        let s2 = s.clone();
        let dropper = thread::spawn(move || drop(s));
        let closer = thread::spawn(move || {
            s2.close();
            s2 // dropped after the join: already closed, its drop does nothing
        });
        assert_eq!(block_on(r.recv()), Err(RecvError::End));
        dropper.join().unwrap();
        drop(closer.join().unwrap());
    });
}

#[test]
fn stream_receive_taken_over_by_recv() {
    loom::model(|| {
        let (s, mut r) = channel::<u8>(0);
        let (_flag, waker) = flag_waker();
        let polled = Pin::new(&mut r).poll_next(&mut Context::from_waker(&waker));
        assert!(polled.is_pending(), "nothing sent yet");
        let sender = thread::spawn(move || {
            assert!(s.try_send(7).is_ok(), "a receive (the stream's) is queued");
        });
        assert_eq!(block_on(r.recv()), Ok(7));
        assert_eq!(block_on(r.recv()), Err(RecvError::End));
        sender.join().unwrap();
        assert_eq!(r.statistics().receivers_waiting, 0);
    });
}

#[test]
fn close_passes_on_streams_value() {
    loom::model(|| {
        let (s, mut r) = channel::<u8>(0);
        let r2 = r.clone();
        let (_flag, waker) = flag_waker();
        let polled = Pin::new(&mut r).poll_next(&mut Context::from_waker(&waker));
        assert!(polled.is_pending(), "nothing sent yet");
        let sender = thread::spawn(move || {
            // A receiver is queued until the close: the stream's or T2's. After it, T2's
            // may not be queued yet: then the send finds no room at capacity 0.
            s.try_send(7).is_ok()
        });
        let other = thread::spawn(move || {
            let first = block_on(r2.recv());
            let second = block_on(r2.recv());
            (first, second)
        });
        r.close();
        let sent = sender.join().unwrap();
        let (first, second) = other.join().unwrap();
        // Not sent: the send came after the close and before T2 queued.
        let expected = if sent { Ok(7) } else { Err(RecvError::End) };
        assert_eq!(first, expected, "sent {sent}");
        assert_eq!(second, Err(RecvError::End));
        assert_eq!(r.statistics().buffer_used, 0);
    });
}
