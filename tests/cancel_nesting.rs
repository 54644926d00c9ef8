//! Nested cancel scopes (TESTPLAN §1.3): the outermost cancelled scope catches and the inner
//! ones report `cancelled_caught() == false`; being cancelled by two scopes drops a child once;
//! very deep nesting is cancelled without blowing the stack.

mod common;

use common::{Counter, DropCount, tracked, watchdog};
use creche::time::sleep_forever;
use creche::{CancelScope, checkpoint, open_nursery};
use std::future::Future;
use std::pin::Pin;

/// s1 ⊃ s2 ⊃ s3; the body cancels s3 then s2 and sleeps forever. s2, the outermost cancelled
/// scope, catches; s3 was cancelled but did not catch; s1 is untouched and gets `Some(None)`.
#[creche::test]
async fn outermost_cancelled_scope_catches() {
    let _w = watchdog("outermost_cancelled_scope_catches");
    let (s1, s2, s3) = (CancelScope::new(), CancelScope::new(), CancelScope::new());
    let after = Counter::new();
    let (c2, c3, a) = (s2.clone(), s3.clone(), after.clone());
    let body = async move {
        c3.cancel();
        c2.cancel();
        sleep_forever().await;
        a.incr();
    };
    let (i2, i3) = (s2.clone(), s3.clone());
    let out = s1
        .run(async move {
            let r2 = i2
                .run(async move {
                    let r3 = i3.run(body).await;
                    unreachable!("s2's body is dropped, never resumed (s3 gave {r3:?})");
                })
                .await;
            // s1's body goes on after s2's run returned.
            (r2, checkpoint().await)
        })
        .await;
    assert_eq!(out, Some((None::<()>, ())));
    assert_eq!(after.get(), 0);
    assert!(s2.cancel_called() && s2.cancelled_caught());
    assert!(s3.cancel_called() && !s3.cancelled_caught());
    assert!(!s1.cancel_called() && !s1.cancelled_caught());
}

/// Two scopes, both cancelled, around a nursery with a tracked child: the child is dropped
/// exactly once (polled once), before the outer `run` returns; the outer scope catches.
#[creche::test(autojump)]
async fn double_cancel_drops_once() {
    let _w = watchdog("double_cancel_drops_once");
    for inner_first in [true, false] {
        let (outer1, outer2) = (CancelScope::new(), CancelScope::new());
        let (polls, drops, body_drops) = (Counter::new(), Counter::new(), Counter::new());
        let (o1, o2) = (outer1.clone(), outer2.clone());
        let (p, d, bd) = (polls.clone(), drops.clone(), body_drops.clone());
        let inner = outer2.clone();
        let out = outer1
            .run(async move {
                inner
                    .run(open_nursery(move |n| async move {
                        let _body = DropCount(bd);
                        n.spawn(tracked(
                            async {
                                sleep_forever().await;
                                Ok::<(), ()>(())
                            },
                            &p,
                            &d,
                        ));
                        creche::testing::wait_all_tasks_blocked().await;
                        if inner_first {
                            o2.cancel();
                            o1.cancel();
                        } else {
                            o1.cancel();
                            o2.cancel();
                        }
                        sleep_forever().await;
                        Ok::<(), ()>(())
                    }))
                    .await
            })
            .await;
        assert_eq!(out, None, "inner_first: {inner_first}");
        assert_eq!(polls.get(), 1, "inner_first: {inner_first}");
        assert_eq!(drops.get(), 1, "inner_first: {inner_first}");
        assert_eq!(body_drops.get(), 1, "inner_first: {inner_first}");
        assert!(outer1.cancelled_caught(), "inner_first: {inner_first}");
        assert!(
            outer2.cancel_called() && !outer2.cancelled_caught(),
            "inner_first: {inner_first}"
        );
    }
}

/// How deep [`deep_nesting_cancels_iteratively`] nests.
const DEPTH: usize = 2_000;

/// The stack of the thread that polls the nested futures (see
/// [`deep_nesting_cancels_iteratively`]).
const POLL_STACK: usize = 64 << 20;

/// The stack of a default Rust thread (and of a test thread): where creche's own work must fit.
const DEFAULT_STACK: usize = 2 << 20;

type Body = Pin<Box<dyn Future<Output = ()> + Send>>;

/// One boxed scope per element of `scopes`, each running the next; the innermost runs `leaf`.
fn nest(scopes: &[CancelScope], leaf: Body) -> Body {
    let mut body = leaf;
    for scope in scopes.iter().rev() {
        let scope = scope.clone();
        body = Box::pin(async move {
            scope.run(body).await;
        });
    }
    body
}

/// Runs `f` on a new thread with a `stack`-byte stack and returns its result.
fn on_thread<T: Send + 'static>(stack: usize, f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(stack)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap()
}

/// About 2,000 boxed, recursively nested `run`s; the innermost body cancels the outermost
/// scope and sleeps forever. The outermost catches, no inner scope is cancelled or catches,
/// the leaf is dropped once, and nothing overflows the stack. The scope handles are then
/// dropped in the worst order (the innermost last, so the whole chain of scopes goes at once)
/// on a thread with a default 2 MiB stack.
///
/// Why the runtime is driven from a thread with a 64 MiB stack: polling 2,000 nested futures
/// recurses 2,000 levels deep through the test's own async blocks, `Box<dyn Future>` and `Run`
/// (about 0.6 KiB per level in a debug build: it overflows a 2 MiB stack near 3,400 levels,
/// and coverage builds have bigger frames). That recursion is the shape of the test, not of
/// creche; what is tested is that creche adds no recursion of its own (cancel, the decisions,
/// exits, the drop of the chain).
#[test]
fn deep_nesting_cancels_iteratively() {
    let _w = watchdog("deep_nesting_cancels_iteratively");
    let scopes = on_thread(POLL_STACK, || {
        let rt = creche::Builder::new().worker_threads(1).build().unwrap();
        let scopes: Vec<CancelScope> = (0..DEPTH).map(|_| CancelScope::new()).collect();
        let (polls, drops, after) = (Counter::new(), Counter::new(), Counter::new());
        let (outermost, a) = (scopes[0].clone(), after.clone());
        let leaf: Body = Box::pin(tracked(
            async move {
                checkpoint().await;
                outermost.cancel();
                sleep_forever().await;
                a.incr();
            },
            &polls,
            &drops,
        ));
        let body = nest(&scopes[1..], leaf);
        let out = rt.block_on(scopes[0].run(body));
        assert_eq!(out, None);
        assert!(polls.get() >= 2, "the leaf ran past its checkpoint");
        assert_eq!(drops.get(), 1);
        assert_eq!(after.get(), 0);
        assert!(scopes[0].cancel_called() && scopes[0].cancelled_caught());
        for (depth, scope) in scopes.iter().enumerate().skip(1) {
            assert!(
                !scope.cancel_called() && !scope.cancelled_caught(),
                "scope at depth {depth}"
            );
        }
        scopes
    });
    // A `Vec` drops its elements first to last: the innermost scope's handle goes last and
    // takes the whole chain of (exited) scopes with it.
    on_thread(DEFAULT_STACK, move || drop(scopes));
}

/// The chain of a 20,000-deep nest of exited scopes is freed without recursing once per
/// level: the handles are dropped, innermost last, on a thread with a default 2 MiB stack.
/// (Building the nest needs deep polling, done on a big stack as in
/// [`deep_nesting_cancels_iteratively`]; freeing it is creche's own work.)
#[test]
fn deep_scope_chain_drops_without_recursion() {
    let _w = watchdog("deep_scope_chain_drops_without_recursion");
    let scopes = on_thread(POLL_STACK, || {
        let rt = creche::Builder::new().worker_threads(1).build().unwrap();
        let scopes: Vec<CancelScope> = (0..20_000).map(|_| CancelScope::new()).collect();
        let body = nest(&scopes[1..], Box::pin(async {}));
        assert_eq!(rt.block_on(scopes[0].run(body)), Some(()));
        scopes
    });
    on_thread(DEFAULT_STACK, move || drop(scopes));
}
