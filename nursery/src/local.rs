//! Concurrency inside one task: `join`, `try_join`, `race` and `join_all`.
//!
//! Running several futures at once in creche has three shapes, and each gives up one of three
//! things (the scoped-task trilemma: parallel, borrowing, non-blocking — pick two):
//!
//! | tool | parallel on many cores | borrows the caller's locals | the caller stays async |
//! |---|---|---|---|
//! | a nursery | yes | no: children are `'static + Send` | yes |
//! | `Runtime::scope` | yes | yes | no: it blocks the calling thread |
//! | this module | no: one task, one core at a time | yes | yes |
//!
//! This module owns the third corner. Its combinators are plain futures that poll their
//! sub-futures from inside the task that awaits them, so the sub-futures may borrow anything the
//! caller can borrow, need not be `Send`, and cost no spawn and no allocation (`join_all` alone
//! allocates, once, for its list). They are concurrent, not parallel: while one sub-future runs,
//! the others wait for the next poll.
//!
//! Cancellation works as everywhere in creche: by drop. When `try_join` sees an error or `race`
//! sees a winner, the other sub-futures are dropped before the combinator returns, so their
//! destructors (and any cleanup they do) have run by the time the caller sees the result.
//!
//! # Invariants for the unsafe code
//!
//! The combinators pin their sub-futures structurally, by hand, under these rules:
//!
//! 1. A sub-future is never moved once its combinator is pinned: it is only reached through a
//!    `Pin<&mut _>` made in place, and it leaves its slot only by being dropped in place
//!    (`Pin::set`, which runs its destructor where it lies).
//! 2. Outputs are *not* pinned: no `Pin<&mut Output>` is ever made, so an output may be moved
//!    out of its slot freely.
//! 3. No combinator implements `Drop` or implements `Unpin` by hand; `MaybeDone<F>` is `Unpin`
//!    exactly when `F` is, which rule 2 makes sound.
//!
//! Each `// SAFETY:` comment below points back to these rules.
//!
//! # Examples
//!
//! Two futures borrow the same local vector at once, with no `'static` and no `Arc`:
//!
//! ```
//! use creche_nursery::local::join;
//! # fn block_on<F: std::future::Future>(fut: F) -> F::Output {
//! #     let mut fut = std::pin::pin!(fut);
//! #     let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
//! #     loop {
//! #         if let std::task::Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
//! #             return v;
//! #         }
//! #     }
//! # }
//!
//! let words = vec!["nursery", "scope", "local"];
//! let (count, longest) = block_on(join(
//!     async { words.len() },
//!     async { words.iter().map(|w| w.len()).max() },
//! ));
//! assert_eq!((count, longest), (3, Some(7)));
//! ```

use std::fmt;
use std::future::Future;
use std::mem;
use std::pin::Pin;
use std::task::{Context, Poll};

/// One sub-future of a combinator: still running, finished with its output kept, or emptied.
enum MaybeDone<F: Future> {
    /// Still running; pinned structurally (rule 1).
    Running(F),
    /// Finished: the future is already dropped, its output waits here, unpinned (rule 2).
    Done(F::Output),
    /// The output was taken, or the combinator dropped the future early.
    Gone,
}

// Sound by rule 2: only `Running(F)` is ever pinned, so pinning needs nothing of the output.
impl<F: Future + Unpin> Unpin for MaybeDone<F> {}

impl<F: Future> MaybeDone<F> {
    /// Polls the future if it is still running; true once its output is stored.
    ///
    /// The future is dropped in place the moment it completes; its output is kept.
    fn poll_done(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> bool {
        // SAFETY: rule 1 — the `&mut Self` is used only to look at the variant and to pin the
        // running future in place; nothing is moved out of it.
        let out = match unsafe { self.as_mut().get_unchecked_mut() } {
            MaybeDone::Running(fut) => {
                // SAFETY: rule 1 — `fut` lives inside a pinned `MaybeDone` and is only ever
                // dropped in place (by the `set` below or by the owner's drop), never moved.
                match unsafe { Pin::new_unchecked(fut) }.poll(cx) {
                    Poll::Ready(out) => out,
                    Poll::Pending => return false,
                }
            }
            MaybeDone::Done(_) => return true,
            MaybeDone::Gone => unreachable!("MaybeDone polled after its output was taken"),
        };
        // Drops the finished future in place (rule 1) and keeps its output.
        self.set(MaybeDone::Done(out));
        true
    }

    /// Moves the output out, leaving `Gone`; `None` if the future has not finished.
    fn take(self: Pin<&mut Self>) -> Option<F::Output> {
        // SAFETY: rule 2 — only the unpinned output is moved out; a running future is left
        // where it is, untouched.
        let this = unsafe { self.get_unchecked_mut() };
        match this {
            MaybeDone::Done(_) => match mem::replace(this, MaybeDone::Gone) {
                MaybeDone::Done(out) => Some(out),
                _ => unreachable!(),
            },
            _ => None,
        }
    }

    /// True once the output has been taken or the future dropped early.
    fn is_gone(&self) -> bool {
        matches!(self, MaybeDone::Gone)
    }
}

impl<F, T, E> MaybeDone<F>
where
    F: Future<Output = Result<T, E>>,
{
    /// Polls; if the future has finished with an error, takes and returns that error.
    fn poll_err(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Option<E> {
        if self.as_mut().poll_done(cx) && matches!(&*self, MaybeDone::Done(Err(_))) {
            match self.take() {
                Some(Err(e)) => Some(e),
                _ => unreachable!(),
            }
        } else {
            None
        }
    }

    /// Takes the `Ok` value of a finished future.
    fn take_ok(self: Pin<&mut Self>) -> T {
        match self.take() {
            Some(Ok(v)) => v,
            _ => unreachable!("take_ok on a future without an Ok output"),
        }
    }
}

impl<F: Future> fmt::Debug for MaybeDone<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MaybeDone::Running(_) => "Running",
            MaybeDone::Done(_) => "Done",
            MaybeDone::Gone => "Gone",
        })
    }
}

/// Runs two futures concurrently in the current task and waits for both.
///
/// The sub-futures may borrow the caller's locals and need not be `Send` or `'static`. Each
/// poll of the [`Join`] polls `a`, then `b` (skipping one that has finished). A sub-future is
/// dropped as soon as it completes; its output is kept until both are done. Nothing is
/// allocated.
///
/// # Panics
///
/// The returned future panics if polled again after it has returned `Ready`.
///
/// # Examples
///
/// ```
/// use creche_nursery::local::join;
/// # fn block_on<F: std::future::Future>(fut: F) -> F::Output {
/// #     let mut fut = std::pin::pin!(fut);
/// #     let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
/// #     loop {
/// #         if let std::task::Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
/// #             return v;
/// #         }
/// #     }
/// # }
///
/// let mut left = Vec::new();
/// let mut right = Vec::new();
/// let out = block_on(join(async { left.push(1); "a" }, async { right.push(2); "b" }));
/// assert_eq!(out, ("a", "b"));
/// assert_eq!((left, right), (vec![1], vec![2]));
/// ```
pub fn join<A: Future, B: Future>(a: A, b: B) -> Join<A, B> {
    Join {
        a: MaybeDone::Running(a),
        b: MaybeDone::Running(b),
    }
}

/// The future returned by [`join`].
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Join<A: Future, B: Future> {
    a: MaybeDone<A>,
    b: MaybeDone<B>,
}

impl<A: Future, B: Future> Future for Join<A, B> {
    type Output = (A::Output, B::Output);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: rules 1 and 3 — the fields are pinned structurally: they are only reached
        // through the `Pin`s made here and `Join` has no `Drop` that could move them.
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: as above, `this.a` is pinned structurally.
        let mut a = unsafe { Pin::new_unchecked(&mut this.a) };
        // SAFETY: as above, `this.b` is pinned structurally.
        let mut b = unsafe { Pin::new_unchecked(&mut this.b) };
        assert!(!a.is_gone(), "`Join` polled after completion");
        let a_done = a.as_mut().poll_done(cx);
        let b_done = b.as_mut().poll_done(cx);
        if a_done && b_done {
            match (a.take(), b.take()) {
                (Some(a), Some(b)) => Poll::Ready((a, b)),
                _ => unreachable!(),
            }
        } else {
            Poll::Pending
        }
    }
}

impl<A: Future, B: Future> fmt::Debug for Join<A, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Join")
            .field("a", &self.a)
            .field("b", &self.b)
            .finish()
    }
}

/// Runs two fallible futures concurrently in the current task; stops at the first error.
///
/// Resolves to `Ok((t, u))` once both succeed. As soon as either fails, the other sub-future
/// (or the `Ok` output it already produced) is dropped and the error is returned at once,
/// without waiting for the other to finish: in creche, cancellation is drop. A sub-future is
/// dropped as soon as it completes. Nothing is allocated.
///
/// Fairness: the [`TryJoin`] alternates which sub-future it polls first — `a` on the first
/// poll, `b` on the second, and so on — so when both fail on the same wakeup, neither side's
/// error always wins.
///
/// # Errors
///
/// The first error either sub-future returns.
///
/// # Panics
///
/// The returned future panics if polled again after it has returned `Ready`.
///
/// # Examples
///
/// ```
/// use creche_nursery::local::try_join;
/// # fn block_on<F: std::future::Future>(fut: F) -> F::Output {
/// #     let mut fut = std::pin::pin!(fut);
/// #     let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
/// #     loop {
/// #         if let std::task::Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
/// #             return v;
/// #         }
/// #     }
/// # }
///
/// let input = "20 22";
/// let parse = |i: usize| async move { input.split(' ').nth(i).unwrap().parse::<u32>() };
/// let (x, y) = block_on(try_join(parse(0), parse(1))).unwrap();
/// assert_eq!(x + y, 42);
///
/// // The first error wins at once; the never-ending future is dropped, not awaited.
/// let never = std::future::pending::<Result<u32, std::num::ParseIntError>>();
/// let failed = block_on(try_join(async { "x".parse::<u32>() }, never));
/// assert!(failed.is_err());
/// ```
pub fn try_join<A, B, T, U, E>(a: A, b: B) -> TryJoin<A, B>
where
    A: Future<Output = Result<T, E>>,
    B: Future<Output = Result<U, E>>,
{
    TryJoin {
        a: MaybeDone::Running(a),
        b: MaybeDone::Running(b),
        b_first: false,
    }
}

/// The future returned by [`try_join`].
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct TryJoin<A: Future, B: Future> {
    a: MaybeDone<A>,
    b: MaybeDone<B>,
    /// Which side the next poll starts with; flipped on every poll.
    b_first: bool,
}

impl<A, B, T, U, E> Future for TryJoin<A, B>
where
    A: Future<Output = Result<T, E>>,
    B: Future<Output = Result<U, E>>,
{
    type Output = Result<(T, U), E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: rules 1 and 3 — the fields are pinned structurally: they are only reached
        // through the `Pin`s made here and `TryJoin` has no `Drop` that could move them.
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: as above, `this.a` is pinned structurally.
        let mut a = unsafe { Pin::new_unchecked(&mut this.a) };
        // SAFETY: as above, `this.b` is pinned structurally.
        let mut b = unsafe { Pin::new_unchecked(&mut this.b) };
        assert!(
            !(a.is_gone() && b.is_gone()),
            "`TryJoin` polled after completion"
        );
        let b_first = this.b_first;
        this.b_first = !b_first;
        let err = if b_first {
            b.as_mut().poll_err(cx).or_else(|| a.as_mut().poll_err(cx))
        } else {
            a.as_mut().poll_err(cx).or_else(|| b.as_mut().poll_err(cx))
        };
        if let Some(e) = err {
            // Cancel the other side by dropping it in place (and any `Ok` it already made).
            a.set(MaybeDone::Gone);
            b.set(MaybeDone::Gone);
            return Poll::Ready(Err(e));
        }
        if matches!(*a, MaybeDone::Done(_)) && matches!(*b, MaybeDone::Done(_)) {
            Poll::Ready(Ok((a.take_ok(), b.take_ok())))
        } else {
            Poll::Pending
        }
    }
}

impl<A: Future, B: Future> fmt::Debug for TryJoin<A, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TryJoin")
            .field("a", &self.a)
            .field("b", &self.b)
            .field("b_first", &self.b_first)
            .finish()
    }
}

/// Runs two futures concurrently in the current task; the first to finish wins.
///
/// Resolves to the winner's output. Both sub-futures — the winner, already finished, and the
/// loser, still running — are dropped before the [`Race`] returns `Ready`, so the loser's
/// destructor has run by the time the caller sees the result: in creche, cancellation is drop.
/// Nothing is allocated.
///
/// Fairness: the [`Race`] alternates which sub-future it polls first — `a` on the first poll,
/// `b` on the second, and so on — so a sub-future that is ready on every wakeup cannot starve
/// the other. If both are ready on the very first poll, `a` wins.
///
/// # Panics
///
/// The returned future panics if polled again after it has returned `Ready`.
///
/// # Examples
///
/// ```
/// use creche_nursery::local::race;
/// # fn block_on<F: std::future::Future>(fut: F) -> F::Output {
/// #     let mut fut = std::pin::pin!(fut);
/// #     let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
/// #     loop {
/// #         if let std::task::Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
/// #             return v;
/// #         }
/// #     }
/// # }
///
/// let cached = Some("hit");
/// let winner = block_on(race(
///     async { cached.unwrap_or("miss") },
///     std::future::pending(), // say, the slow path: dropped when the cache answers
/// ));
/// assert_eq!(winner, "hit");
/// ```
pub fn race<A, B, T>(a: A, b: B) -> Race<A, B>
where
    A: Future<Output = T>,
    B: Future<Output = T>,
{
    Race {
        a: Some(a),
        b: Some(b),
        b_first: false,
    }
}

/// The future returned by [`race`].
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Race<A, B> {
    /// `None` once the race is over.
    a: Option<A>,
    /// `None` once the race is over.
    b: Option<B>,
    /// Which side the next poll starts with; flipped on every poll.
    b_first: bool,
}

impl<A, B, T> Future for Race<A, B>
where
    A: Future<Output = T>,
    B: Future<Output = T>,
{
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        // SAFETY: rules 1 and 3 — `a` and `b` are pinned structurally: they are only reached
        // through the `Pin`s made here and `Race` has no `Drop` that could move them.
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: as above, `this.a` is pinned structurally.
        let mut a = unsafe { Pin::new_unchecked(&mut this.a) };
        // SAFETY: as above, `this.b` is pinned structurally.
        let mut b = unsafe { Pin::new_unchecked(&mut this.b) };
        let b_first = this.b_first;
        this.b_first = !b_first;
        let (Some(fa), Some(fb)) = (a.as_mut().as_pin_mut(), b.as_mut().as_pin_mut()) else {
            panic!("`Race` polled after completion");
        };
        let won = if b_first {
            match fb.poll(cx) {
                Poll::Ready(v) => Poll::Ready(v),
                Poll::Pending => fa.poll(cx),
            }
        } else {
            match fa.poll(cx) {
                Poll::Ready(v) => Poll::Ready(v),
                Poll::Pending => fb.poll(cx),
            }
        };
        if won.is_ready() {
            // Drop both in place (rule 1): the winner is spent, the loser is cancelled.
            a.set(None);
            b.set(None);
        }
        won
    }
}

impl<A, B> fmt::Debug for Race<A, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Race")
            .field("finished", &self.a.is_none())
            .field("b_first", &self.b_first)
            .finish()
    }
}

/// Runs any number of futures concurrently in the current task and waits for all of them.
///
/// Resolves to their outputs in input order, whatever order they finish in. Each sub-future is
/// dropped as soon as it completes. The futures live in one boxed slice, allocated once; every
/// poll polls every unfinished future, so this suits a handful of futures, not thousands (for
/// those, spawn children in a nursery).
///
/// # Panics
///
/// The returned future panics if polled again after it has returned `Ready`.
///
/// # Examples
///
/// ```
/// use creche_nursery::local::join_all;
/// # fn block_on<F: std::future::Future>(fut: F) -> F::Output {
/// #     let mut fut = std::pin::pin!(fut);
/// #     let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
/// #     loop {
/// #         if let std::task::Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
/// #             return v;
/// #         }
/// #     }
/// # }
///
/// let names = ["ada", "grace", "barbara"];
/// let lengths = block_on(join_all(names.iter().map(|n| async { n.len() })));
/// assert_eq!(lengths, [3, 5, 7]);
/// ```
pub fn join_all<I>(iter: I) -> JoinAll<I::Item>
where
    I: IntoIterator,
    I::Item: Future,
{
    let slots: Box<[MaybeDone<I::Item>]> = iter.into_iter().map(MaybeDone::Running).collect();
    JoinAll {
        slots: Some(Box::into_pin(slots)),
    }
}

/// The future returned by [`join_all`].
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct JoinAll<F: Future> {
    /// `None` once the outputs have been returned.
    slots: Option<Pin<Box<[MaybeDone<F>]>>>,
}

impl<F: Future> Future for JoinAll<F> {
    type Output = Vec<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Some(slots) = self.slots.as_mut() else {
            panic!("`JoinAll` polled after completion");
        };
        let mut all_done = true;
        // SAFETY: rule 1 — the slice is never moved out of its box and no slot is moved out of
        // the slice: each slot is only reached through the `Pin` made here, in place.
        for slot in unsafe { slots.as_mut().get_unchecked_mut() } {
            // SAFETY: the slot lies inside the pinned slice (see above), so it is pinned too.
            all_done &= unsafe { Pin::new_unchecked(slot) }.poll_done(cx);
        }
        if !all_done {
            return Poll::Pending;
        }
        let mut slots = self.slots.take().expect("checked above");
        // SAFETY: rule 2 — only the outputs are moved out (by `take`); every future has already
        // been dropped in place, and the slots themselves stay in the box.
        let outputs = unsafe { slots.as_mut().get_unchecked_mut() }
            .iter_mut()
            // SAFETY: each slot lies inside the pinned slice, so it is pinned too.
            .map(|slot| unsafe { Pin::new_unchecked(slot) }.take())
            .map(|out| out.expect("every slot is done"))
            .collect();
        Poll::Ready(outputs)
    }
}

impl<F: Future> fmt::Debug for JoinAll<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.slots {
            Some(slots) => f.debug_struct("JoinAll").field("slots", slots).finish(),
            None => f.debug_struct("JoinAll").field("finished", &true).finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::future::{pending, ready};
    use std::pin::pin;
    use std::rc::Rc;
    use std::task::Waker;

    /// Polls `fut` with a no-op waker until it is ready; our test futures wake themselves.
    fn block_on<F: Future>(fut: F) -> F::Output {
        let mut fut = pin!(fut);
        let mut cx = Context::from_waker(Waker::noop());
        for _ in 0..10_000 {
            if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
                return v;
            }
        }
        panic!("future not ready after 10,000 polls");
    }

    /// Polls `fut` once with a no-op waker.
    fn poll_once<F: Future>(fut: Pin<&mut F>) -> Poll<F::Output> {
        fut.poll(&mut Context::from_waker(Waker::noop()))
    }

    /// A test future: returns `Pending` (waking itself) `pending` times, then `out`.
    /// Counts its polls and its drops.
    struct Step<T> {
        pending: usize,
        out: Option<T>,
        polls: Rc<Cell<usize>>,
        drops: Rc<Cell<usize>>,
    }

    impl<T> Step<T> {
        fn new(pending: usize, out: T) -> Self {
            Step {
                pending,
                out: Some(out),
                polls: Rc::default(),
                drops: Rc::default(),
            }
        }

        /// Never finishes, but is ready to run again on every wakeup.
        fn forever(out: T) -> Self {
            Self::new(usize::MAX, out)
        }

        fn counters(&self) -> (Rc<Cell<usize>>, Rc<Cell<usize>>) {
            (self.polls.clone(), self.drops.clone())
        }
    }

    impl<T> Unpin for Step<T> {}

    impl<T> Future for Step<T> {
        type Output = T;

        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
            self.polls.set(self.polls.get() + 1);
            if self.pending > 0 {
                self.pending -= 1;
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            Poll::Ready(self.out.take().expect("Step polled after completion"))
        }
    }

    impl<T> Drop for Step<T> {
        fn drop(&mut self) {
            self.drops.set(self.drops.get() + 1);
        }
    }

    /// Counts its own drops; used as an output that must be dropped, not leaked.
    struct Token(Rc<Cell<usize>>);

    impl Drop for Token {
        fn drop(&mut self) {
            self.0.set(self.0.get() + 1);
        }
    }

    #[test]
    fn join_outputs_in_order() {
        // `b` finishes first; the tuple still follows argument order.
        assert_eq!(
            block_on(join(Step::new(3, 'a'), Step::new(0, 'b'))),
            ('a', 'b')
        );
    }

    #[test]
    fn join_borrows_locals() {
        let mut left = Vec::new();
        let mut right = vec![10, 20];
        let shared = String::from("creche");
        let (n, m) = block_on(join(
            async {
                left.push(shared.len());
                left.len()
            },
            async {
                right.push(shared.len());
                right.iter().sum::<usize>()
            },
        ));
        assert_eq!((n, m), (1, 36));
        // The borrows ended with the join: the locals are ours again.
        left.push(0);
        assert_eq!((left, right), (vec![6, 0], vec![10, 20, 6]));
    }

    #[test]
    fn join_drops_finished_future_early_and_keeps_output() {
        let a = Step::new(0, 1);
        let b = Step::new(2, 2);
        let (a_polls, a_drops) = a.counters();
        let mut fut = pin!(join(a, b));
        assert!(poll_once(fut.as_mut()).is_pending());
        assert_eq!(
            a_drops.get(),
            1,
            "a finished, so it is dropped while b runs"
        );
        assert!(poll_once(fut.as_mut()).is_pending());
        assert_eq!(poll_once(fut.as_mut()), Poll::Ready((1, 2)));
        assert_eq!((a_polls.get(), a_drops.get()), (1, 1));
    }

    #[test]
    fn join_is_send_when_its_parts_are() {
        fn assert_send<T: Send>(_: &T) {}
        let v = String::from("x");
        let fut = join(async { v.len() }, ready(2));
        assert_send(&fut);
        assert_eq!(block_on(fut), (1, 2));
    }

    #[test]
    fn try_join_ok() {
        let out = block_on(try_join(
            Step::new(2, Ok::<_, ()>(1)),
            Step::new(0, Ok::<_, ()>("x")),
        ));
        assert_eq!(out, Ok((1, "x")));
    }

    #[test]
    fn try_join_error_drops_other_without_waiting() {
        let other = Step::<Result<u8, &str>>::forever(Ok(0));
        let (_, other_drops) = other.counters();
        let mut fut = pin!(try_join(Step::new(1, Err::<(), _>("boom")), other));
        assert!(poll_once(fut.as_mut()).is_pending());
        assert_eq!(poll_once(fut.as_mut()), Poll::Ready(Err("boom")));
        assert_eq!(other_drops.get(), 1, "dropped before try_join returned");
    }

    #[test]
    fn try_join_error_drops_the_ok_output_already_made() {
        let token_drops = Rc::new(Cell::new(0));
        let ok = Step::new(0, Ok::<_, &str>(Token(token_drops.clone())));
        let mut fut = pin!(try_join(ok, Step::new(2, Err::<(), _>("late"))));
        assert!(poll_once(fut.as_mut()).is_pending());
        assert_eq!(token_drops.get(), 0, "the Ok output is kept while b runs");
        assert!(poll_once(fut.as_mut()).is_pending());
        assert!(matches!(poll_once(fut.as_mut()), Poll::Ready(Err("late"))));
        assert_eq!(
            token_drops.get(),
            1,
            "the Ok output is dropped with the error"
        );
    }

    #[test]
    fn try_join_alternates_which_side_goes_first() {
        // Both fail on the second poll; that poll starts with `b`, so `b`'s error wins.
        let out = block_on(try_join(
            Step::new(1, Err::<(), _>("a")),
            Step::new(1, Err::<(), _>("b")),
        ));
        assert_eq!(out, Err("b"));
    }

    #[test]
    fn try_join_no_starvation() {
        let busy = Step::<Result<(), u8>>::forever(Ok(()));
        let (busy_polls, busy_drops) = busy.counters();
        let slow = Step::new(3, Err::<(), u8>(7));
        let (slow_polls, _) = slow.counters();
        assert_eq!(block_on(try_join(busy, slow)), Err(7));
        assert_eq!((busy_polls.get(), slow_polls.get()), (3, 4));
        assert_eq!(busy_drops.get(), 1);
    }

    #[test]
    fn race_first_wins_and_drops_loser_before_returning() {
        let loser = Step::forever(0);
        let (_, loser_drops) = loser.counters();
        let winner = Step::new(2, 1);
        let (_, winner_drops) = winner.counters();
        let mut fut = pin!(race(loser, winner));
        assert!(poll_once(fut.as_mut()).is_pending());
        assert!(poll_once(fut.as_mut()).is_pending());
        assert_eq!(loser_drops.get(), 0);
        // `fut` is still alive here, so these drops happened inside `poll`.
        assert_eq!(poll_once(fut.as_mut()), Poll::Ready(1));
        assert_eq!((loser_drops.get(), winner_drops.get()), (1, 1));
    }

    #[test]
    fn race_both_ready_on_first_poll_a_wins() {
        assert_eq!(block_on(race(ready('a'), ready('b'))), 'a');
    }

    #[test]
    fn race_alternates_which_side_goes_first() {
        // Both become ready on the second poll, which starts with `b`.
        assert_eq!(block_on(race(Step::new(1, 'a'), Step::new(1, 'b'))), 'b');
        assert_eq!(block_on(race(Step::new(2, 'a'), Step::new(2, 'b'))), 'a');
    }

    #[test]
    fn race_no_starvation() {
        let busy = Step::forever(0);
        let (busy_polls, _) = busy.counters();
        let slow = Step::new(3, 1);
        let (slow_polls, _) = slow.counters();
        assert_eq!(block_on(race(busy, slow)), 1);
        assert_eq!((busy_polls.get(), slow_polls.get()), (3, 4));
    }

    #[test]
    fn join_all_outputs_in_input_order() {
        let steps = [3, 0, 2, 1].map(|n| Step::new(n, n));
        assert_eq!(block_on(join_all(steps)), [3, 0, 2, 1]);
    }

    #[test]
    fn join_all_empty() {
        let none: Vec<Step<u8>> = Vec::new();
        assert_eq!(block_on(join_all(none)), []);
    }

    #[test]
    fn join_all_drops_each_future_when_it_finishes() {
        let steps: Vec<_> = [0, 2].map(|n| Step::new(n, n)).into();
        let drops: Vec<_> = steps.iter().map(|s| s.counters().1).collect();
        let mut fut = pin!(join_all(steps));
        assert!(poll_once(fut.as_mut()).is_pending());
        assert_eq!((drops[0].get(), drops[1].get()), (1, 0));
        assert!(poll_once(fut.as_mut()).is_pending());
        assert_eq!(poll_once(fut.as_mut()), Poll::Ready(vec![0, 2]));
        assert_eq!((drops[0].get(), drops[1].get()), (1, 1));
    }

    #[test]
    fn join_all_borrows_locals() {
        let mut words = vec![String::from("a"), String::from("bb")];
        let out = block_on(join_all(words.iter().map(|w| async move { w.len() })));
        assert_eq!(out, [1, 2]);
        words.clear();
    }

    #[test]
    #[should_panic(expected = "`Join` polled after completion")]
    fn join_poll_after_completion_panics() {
        let mut fut = pin!(join(ready(1), ready(2)));
        assert!(poll_once(fut.as_mut()).is_ready());
        let _ = poll_once(fut.as_mut());
    }

    #[test]
    #[should_panic(expected = "`TryJoin` polled after completion")]
    fn try_join_poll_after_completion_panics() {
        let mut fut = pin!(try_join(ready(Ok::<_, ()>(1)), ready(Ok(2))));
        assert!(poll_once(fut.as_mut()).is_ready());
        let _ = poll_once(fut.as_mut());
    }

    #[test]
    #[should_panic(expected = "`TryJoin` polled after completion")]
    fn try_join_poll_after_error_panics() {
        let mut fut = pin!(try_join(ready(Err::<(), _>(1)), pending::<Result<(), _>>()));
        assert!(poll_once(fut.as_mut()).is_ready());
        let _ = poll_once(fut.as_mut());
    }

    #[test]
    #[should_panic(expected = "`Race` polled after completion")]
    fn race_poll_after_completion_panics() {
        let mut fut = pin!(race(ready(1), pending()));
        assert!(poll_once(fut.as_mut()).is_ready());
        let _ = poll_once(fut.as_mut());
    }

    #[test]
    #[should_panic(expected = "`JoinAll` polled after completion")]
    fn join_all_poll_after_completion_panics() {
        let mut fut = pin!(join_all(Vec::<std::future::Ready<u8>>::new()));
        assert!(poll_once(fut.as_mut()).is_ready());
        let _ = poll_once(fut.as_mut());
    }

    #[test]
    fn debug_forms_follow_progress() {
        let mut j = pin!(join(Step::new(0, 1), Step::new(1, 2)));
        assert_eq!(format!("{j:?}"), "Join { a: Running, b: Running }");
        assert!(poll_once(j.as_mut()).is_pending());
        assert_eq!(format!("{j:?}"), "Join { a: Done, b: Running }");
        assert_eq!(poll_once(j.as_mut()), Poll::Ready((1, 2)));
        assert_eq!(format!("{j:?}"), "Join { a: Gone, b: Gone }");

        let mut t = pin!(try_join(
            Step::new(0, Ok::<u8, ()>(1)),
            Step::new(1, Ok::<u8, ()>(2))
        ));
        assert_eq!(
            format!("{t:?}"),
            "TryJoin { a: Running, b: Running, b_first: false }"
        );
        assert!(poll_once(t.as_mut()).is_pending());
        assert_eq!(
            format!("{t:?}"),
            "TryJoin { a: Done, b: Running, b_first: true }"
        );

        let mut r = pin!(race(Step::new(1, 'a'), Step::new(1, 'b')));
        assert_eq!(format!("{r:?}"), "Race { finished: false, b_first: false }");
        assert!(poll_once(r.as_mut()).is_pending());
        assert_eq!(format!("{r:?}"), "Race { finished: false, b_first: true }");
        // `b` goes first this time and wins.
        assert_eq!(poll_once(r.as_mut()), Poll::Ready('b'));
        assert!(format!("{r:?}").starts_with("Race { finished: true"));

        let mut all = pin!(join_all([Step::new(0, 1), Step::new(1, 2)]));
        assert_eq!(format!("{all:?}"), "JoinAll { slots: [Running, Running] }");
        assert!(poll_once(all.as_mut()).is_pending());
        assert_eq!(format!("{all:?}"), "JoinAll { slots: [Done, Running] }");
        assert_eq!(poll_once(all.as_mut()), Poll::Ready(vec![1, 2]));
        assert_eq!(format!("{all:?}"), "JoinAll { finished: true }");
    }
}
