//! Regression tests from the review of the channel (`nursery/src/channel/`): cases the other
//! channel tests did not reach. Futures and the stream are polled by hand with a no-op waker,
//! outside any runtime (so nothing is cancelled and no coop budget applies): every step is
//! deterministic.

mod common;

use common::{Counter, DropCount, watchdog};
use creche::sync::{Receiver, RecvError, SendError, Sender, TryRecvError, channel};
use futures_lite::Stream;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

fn cx() -> Context<'static> {
    Context::from_waker(Waker::noop())
}

/// A value handed to the receive a `Stream` left in progress (its `next()` future was dropped,
/// say by a `select`) belongs to that receiver: a `try_recv` or `recv` on the same handle gets
/// it, in FIFO order, and the channel still ends. Before the fix the value stayed parked in the
/// stream's slot: `try_recv` returned the later value first, then `Empty` forever (the value in
/// flight held back the end), and `recv` waited forever.
#[test]
fn recv_on_same_receiver_takes_value_handed_to_stream() {
    let (tx, mut rx) = channel::<u32>(1);
    let mut cx = cx();
    assert!(Pin::new(&mut rx).poll_next(&mut cx).is_pending());
    tx.try_send(7).unwrap(); // handed to the stream's receive
    tx.try_send(8).unwrap(); // buffered
    drop(tx);
    assert_eq!(rx.try_recv(), Ok(7));
    let mut recv = Box::pin(rx.recv());
    assert_eq!(recv.as_mut().poll(&mut cx), Poll::Ready(Ok(8)));
    drop(recv);
    assert_eq!(rx.try_recv(), Err(TryRecvError::End));
}

/// The same through `recv`: its first poll takes the stream's handed value.
#[test]
fn recv_future_takes_value_handed_to_stream() {
    let (tx, mut rx) = channel::<u32>(0);
    let mut cx = cx();
    assert!(Pin::new(&mut rx).poll_next(&mut cx).is_pending());
    tx.try_send(1).unwrap();
    drop(tx);
    let mut recv = Box::pin(rx.recv());
    assert_eq!(recv.as_mut().poll(&mut cx), Poll::Ready(Ok(1)));
    drop(recv);
    let mut recv = Box::pin(rx.recv());
    assert_eq!(
        recv.as_mut().poll(&mut cx),
        Poll::Ready(Err(RecvError::End))
    );
}

/// A stream receive still queued (nothing handed yet) is given up when `recv` is called on the
/// same handle: the next value goes to the `recv`, not to the abandoned stream slot.
#[test]
fn recv_supersedes_queued_stream_receive() {
    let (tx, mut rx) = channel::<u32>(0);
    let mut cx = cx();
    assert!(Pin::new(&mut rx).poll_next(&mut cx).is_pending());
    let mut recv = Box::pin(rx.recv());
    assert!(recv.as_mut().poll(&mut cx).is_pending());
    assert_eq!(rx.statistics().receivers_waiting, 1, "only the recv waits");
    tx.try_send(3).unwrap();
    assert_eq!(recv.as_mut().poll(&mut cx), Poll::Ready(Ok(3)));
    drop(recv);
    // The stream starts a new receive afterwards.
    assert!(Pin::new(&mut rx).poll_next(&mut cx).is_pending());
    tx.try_send(4).unwrap();
    assert_eq!(Pin::new(&mut rx).poll_next(&mut cx), Poll::Ready(Some(4)));
}

/// A waker that owns a sender: dropping its last reference drops the sender (say, a waker that
/// notifies by sending on a channel).
struct HoldsSender(#[allow(dead_code)] Sender<u32>);

impl Wake for HoldsSender {
    fn wake(self: Arc<Self>) {}
}

/// A queued receive polled again with a different waker replaces the stored one. Dropping the
/// old waker runs arbitrary code (here it drops the channel's last sender, which takes the
/// channel's lock), so it must happen after the lock is released. Before the fix the second
/// poll deadlocked on the channel's own (non-reentrant) lock.
#[test]
fn replaced_recv_waker_is_dropped_outside_the_lock() {
    let _w = watchdog("replaced_recv_waker_is_dropped_outside_the_lock");
    let (tx, rx) = channel::<u32>(0);
    let first = Waker::from(Arc::new(HoldsSender(tx)));
    let mut recv = Box::pin(rx.recv());
    assert!(
        recv.as_mut()
            .poll(&mut Context::from_waker(&first))
            .is_pending()
    );
    drop(first); // the channel holds the last reference
    let mut cx = cx();
    // Replaces the waker: the last sender goes, and the queued receive is woken for the end.
    assert!(recv.as_mut().poll(&mut cx).is_pending());
    assert_eq!(
        recv.as_mut().poll(&mut cx),
        Poll::Ready(Err(RecvError::End))
    );
}

/// A waker that owns a receiver.
struct HoldsReceiver(#[allow(dead_code)] Receiver<u32>);

impl Wake for HoldsReceiver {
    fn wake(self: Arc<Self>) {}
}

/// The same for a queued send, whose old waker owns the last receiver (dropping it takes the
/// lock to drop the buffer and fail the queued sends).
#[test]
fn replaced_send_waker_is_dropped_outside_the_lock() {
    let _w = watchdog("replaced_send_waker_is_dropped_outside_the_lock");
    let (tx, rx) = channel::<u32>(0);
    let first = Waker::from(Arc::new(HoldsReceiver(rx)));
    let mut send = Box::pin(tx.send(5));
    assert!(
        send.as_mut()
            .poll(&mut Context::from_waker(&first))
            .is_pending()
    );
    drop(first);
    let mut cx = cx();
    assert!(send.as_mut().poll(&mut cx).is_pending());
    assert_eq!(
        send.as_mut().poll(&mut cx),
        Poll::Ready(Err(SendError::Disconnected(5)))
    );
}

/// Closing a receiver gives up the receive its `Stream` left in progress: a value already
/// handed to it goes on to another receiver (here through the buffer), and the channel can end.
/// Before the fix the value stayed in the closed receiver's slot for as long as that receiver
/// lived: the other receivers got `Empty` forever, never the value nor the end.
#[test]
fn close_passes_on_value_handed_to_stream() {
    let (tx, mut rx) = channel::<u32>(0);
    let rx2 = rx.clone();
    let mut cx = cx();
    assert!(Pin::new(&mut rx).poll_next(&mut cx).is_pending());
    tx.try_send(1).unwrap(); // handed to rx's stream
    drop(tx);
    rx.close();
    assert_eq!(rx2.try_recv(), Ok(1));
    assert_eq!(rx2.try_recv(), Err(TryRecvError::End));
    assert_eq!(Pin::new(&mut rx).poll_next(&mut cx), Poll::Ready(None));
}

/// Closing the last receiver while its stream holds a handed value drops that value once, at
/// the close (with the buffer), and the stream then ends.
#[test]
fn closing_last_receiver_drops_streams_value_once() {
    let drops = Counter::new();
    let (tx, mut rx) = channel::<DropCount>(0);
    let mut cx = cx();
    assert!(Pin::new(&mut rx).poll_next(&mut cx).is_pending());
    assert!(tx.try_send(DropCount(drops.clone())).is_ok());
    assert_eq!(drops.get(), 0);
    rx.close();
    assert_eq!(drops.get(), 1, "dropped at the close");
    assert!(matches!(
        Pin::new(&mut rx).poll_next(&mut cx),
        Poll::Ready(None)
    ));
    drop((tx, rx));
    assert_eq!(drops.get(), 1);
}
