//! Regression tests from the review of the channel (`nursery/src/channel/`): cases the other
//! channel tests did not reach. Futures and the stream are polled by hand with a no-op waker,
//! outside any runtime (so nothing is cancelled and no coop budget applies): every step is
//! deterministic.

use creche::sync::{RecvError, TryRecvError, channel};
use futures_lite::Stream;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

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
    assert_eq!(recv.as_mut().poll(&mut cx), Poll::Ready(Err(RecvError::End)));
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
