//! `creche::sync::CapacityLimiter` (SYNC_TESTPLAN §1.4): borrowers and their counts, the same
//! borrower twice panics, raising the total admits waiters in FIFO order and lowering it
//! revokes nothing, total 0, cancelled acquires leave no pending entry (Trio's issue 548),
//! `usize::MAX` is unlimited, a granted-then-cancelled borrower passes its token on, and the
//! token is `Send + 'static`.

mod common;

use common::{Counter, watchdog};
use creche::sync::{Borrower, CapacityLimiter, Event, LimiterToken, WouldBlock};
use creche::testing::wait_all_tasks_blocked;
use creche::{CancelScope, Nursery, open_nursery};
use std::collections::HashSet;
use std::sync::Arc;

/// The set of borrowers holding a token.
fn borrowers(limiter: &CapacityLimiter) -> HashSet<Borrower> {
    limiter.statistics().borrowers.into_iter().collect()
}

fn set_of(bs: &[Borrower]) -> HashSet<Borrower> {
    bs.iter().copied().collect()
}

/// Spawns a child that borrows a token for `b`, counts it in `got`, and holds it until
/// `release` is set; then waits until every task is blocked, so children queue in spawn order.
async fn holder(
    n: &Nursery<()>,
    limiter: &CapacityLimiter,
    b: Borrower,
    release: &Arc<Event>,
    got: &Counter,
) {
    let (limiter, release, got) = (limiter.clone(), release.clone(), got.clone());
    n.spawn(async move {
        let _token = limiter.acquire_on_behalf_of(b).await;
        got.incr();
        release.wait().await;
        Ok(())
    });
    wait_all_tasks_blocked().await;
}

#[creche::test(autojump, worker_threads = 2)]
async fn borrowers_and_fairness() {
    let _w = watchdog("borrowers_and_fairness");
    let limiter = CapacityLimiter::new(2);
    assert_eq!(limiter.total_tokens(), 2);
    let mine = limiter.acquire().await;
    assert_eq!(mine.borrower(), Borrower::current_task());
    assert_eq!(borrowers(&limiter), set_of(&[Borrower::current_task()]));
    drop(mine);
    let (b1, b2, b3) = (Borrower::new(), Borrower::new(), Borrower::new());
    let t1 = limiter.acquire_on_behalf_of(b1).await;
    let t2 = limiter.acquire_on_behalf_of(b2).await;
    assert_eq!(
        (limiter.borrowed_tokens(), limiter.available_tokens()),
        (2, 0)
    );
    assert_eq!(borrowers(&limiter), set_of(&[b1, b2]));
    let got = Counter::new();
    let release = Arc::new(Event::new());
    open_nursery(|n| {
        let (limiter, got, release) = (limiter.clone(), got.clone(), release.clone());
        async move {
            holder(&n, &limiter, b3, &release, &got).await;
            assert_eq!(limiter.statistics().tasks_waiting, 1);
            drop(t2); // handed to b3: borrowed stays 2, nothing is free
            assert_eq!(limiter.borrowed_tokens(), 2);
            assert_eq!(borrowers(&limiter), set_of(&[b1, b3]));
            assert_eq!(limiter.try_acquire().unwrap_err(), WouldBlock);
            wait_all_tasks_blocked().await;
            assert_eq!(got.get(), 1);
            release.set();
            Ok(())
        }
    })
    .await
    .unwrap();
    assert_eq!(borrowers(&limiter), set_of(&[b1]));
    drop(t1);
    assert_eq!(
        (limiter.borrowed_tokens(), limiter.available_tokens()),
        (0, 2)
    );
}

#[creche::test(autojump)]
#[should_panic(expected = "already holds or waits for a token")]
async fn same_borrower_twice_panics() {
    let limiter = CapacityLimiter::new(5);
    let _first = limiter.acquire().await;
    let _second = limiter.acquire().await;
}

#[test]
#[should_panic(expected = "already holds or waits for a token")]
fn same_borrower_twice_panics_in_try_acquire() {
    let limiter = CapacityLimiter::new(5);
    let b = Borrower::new();
    let _first = limiter.try_acquire_on_behalf_of(b).unwrap();
    let _second = limiter.try_acquire_on_behalf_of(b);
}

#[creche::test(autojump, worker_threads = 2)]
async fn change_total_tokens_wakes_in_order() {
    let _w = watchdog("change_total_tokens_wakes_in_order");
    let limiter = CapacityLimiter::new(2);
    let bs: Vec<Borrower> = (0..5).map(|_| Borrower::new()).collect();
    let releases: Vec<Arc<Event>> = (0..5).map(|_| Arc::new(Event::new())).collect();
    let got = Counter::new();
    open_nursery(|n| {
        let (limiter, bs, releases, got) =
            (limiter.clone(), bs.clone(), releases.clone(), got.clone());
        async move {
            for (b, release) in bs.iter().zip(&releases) {
                holder(&n, &limiter, *b, release, &got).await;
            }
            assert_eq!(borrowers(&limiter), set_of(&bs[..2]));
            assert_eq!(limiter.statistics().tasks_waiting, 3);
            limiter.set_total_tokens(4); // handed out at once, oldest first
            assert_eq!(borrowers(&limiter), set_of(&bs[..4]));
            assert_eq!(limiter.statistics().tasks_waiting, 1);
            limiter.set_total_tokens(1); // revokes nothing
            assert_eq!(
                (limiter.borrowed_tokens(), limiter.available_tokens()),
                (4, 0)
            );
            for (i, release) in releases.iter().enumerate().take(3) {
                release.set();
                wait_all_tasks_blocked().await;
                assert_eq!(
                    limiter.borrowed_tokens(),
                    3 - i,
                    "released {i}: nobody admitted"
                );
            }
            assert_eq!(borrowers(&limiter), set_of(&bs[3..4]));
            releases[3].set(); // back under the total: the last borrower gets in
            wait_all_tasks_blocked().await;
            assert_eq!(borrowers(&limiter), set_of(&bs[4..5]));
            assert_eq!(got.get(), 5);
            releases[4].set();
            Ok(())
        }
    })
    .await
    .unwrap();
    assert_eq!(limiter.borrowed_tokens(), 0);
}

#[creche::test(autojump, worker_threads = 2)]
async fn zero_tokens_lets_nobody_through() {
    let _w = watchdog("zero_tokens_lets_nobody_through");
    let limiter = CapacityLimiter::new(0);
    assert_eq!(limiter.try_acquire().unwrap_err(), WouldBlock);
    let (b1, b2) = (Borrower::new(), Borrower::new());
    let (release, release2) = (Arc::new(Event::new()), Arc::new(Event::new()));
    let got = Counter::new();
    open_nursery(|n| {
        let (limiter, release, release2, got) = (
            limiter.clone(),
            release.clone(),
            release2.clone(),
            got.clone(),
        );
        async move {
            holder(&n, &limiter, b1, &release, &got).await;
            assert_eq!((got.get(), limiter.statistics().tasks_waiting), (0, 1));
            limiter.set_total_tokens(1);
            assert_eq!(borrowers(&limiter), set_of(&[b1]));
            wait_all_tasks_blocked().await;
            assert_eq!((got.get(), limiter.statistics().tasks_waiting), (1, 0));
            limiter.set_total_tokens(0); // b1 keeps its token
            holder(&n, &limiter, b2, &release2, &got).await;
            assert_eq!((got.get(), limiter.statistics().tasks_waiting), (1, 1));
            release.set(); // b1 returns its token; at total 0 b2 still waits
            wait_all_tasks_blocked().await;
            assert_eq!(limiter.borrowed_tokens(), 0);
            assert_eq!((got.get(), limiter.statistics().tasks_waiting), (1, 1));
            limiter.set_total_tokens(1);
            assert_eq!(borrowers(&limiter), set_of(&[b2]));
            release2.set();
            Ok(())
        }
    })
    .await
    .unwrap();
    assert_eq!((got.get(), limiter.borrowed_tokens()), (2, 0));
}

#[creche::test(autojump, worker_threads = 2)]
async fn cancelled_acquire_leaves_no_pending_borrower() {
    let _w = watchdog("cancelled_acquire_leaves_no_pending_borrower");
    let limiter = CapacityLimiter::new(1);
    let held = limiter.try_acquire_on_behalf_of(Borrower::new()).unwrap();
    let scope = CancelScope::new();
    let out = scope
        .clone()
        .run(open_nursery(|n| {
            let (limiter, scope) = (limiter.clone(), scope.clone());
            async move {
                for _ in 0..3 {
                    let limiter = limiter.clone();
                    n.spawn(async move {
                        let _t = limiter.acquire().await;
                        Ok::<_, ()>(())
                    });
                }
                wait_all_tasks_blocked().await;
                assert_eq!(limiter.statistics().tasks_waiting, 3);
                assert_eq!(limiter.__pending_entries(), (3, 3));
                scope.cancel();
                creche::time::sleep_forever().await;
                Ok(())
            }
        }))
        .await;
    assert_eq!(out, None);
    assert_eq!(limiter.statistics().tasks_waiting, 0);
    assert_eq!(limiter.__pending_entries(), (0, 0));
    drop(held);
    assert_eq!(limiter.available_tokens(), 1);
}

#[test]
fn unlimited_never_overflows() {
    let limiter = CapacityLimiter::new(usize::MAX);
    let tokens: Vec<LimiterToken> = (0..100)
        .map(|_| limiter.try_acquire_on_behalf_of(Borrower::new()).unwrap())
        .collect();
    assert_eq!(limiter.available_tokens(), usize::MAX - 100);
    drop(tokens);
    assert_eq!(limiter.available_tokens(), usize::MAX);
    limiter.set_total_tokens(3);
    assert_eq!(limiter.available_tokens(), 3);
}

/// SYNC_TESTPLAN §0 with borrowers: A is handed the token and cancelled before it runs; the
/// token is given back on A's behalf and passes to B.
#[creche::test(autojump, worker_threads = 1)]
async fn granted_then_cancelled_passes_on() {
    let _w = watchdog("granted_then_cancelled_passes_on");
    let limiter = CapacityLimiter::new(1);
    let held = limiter.try_acquire_on_behalf_of(Borrower::new()).unwrap();
    let (a, b) = (Borrower::new(), Borrower::new());
    let (a_got, b_got) = (Counter::new(), Counter::new());
    let a_scope = CancelScope::new();
    let release = Arc::new(Event::new());
    open_nursery(|n| {
        let (limiter, a_got, b_got, a_scope, release) = (
            limiter.clone(),
            a_got.clone(),
            b_got.clone(),
            a_scope.clone(),
            release.clone(),
        );
        async move {
            let la = limiter.clone();
            let a_body = a_scope.clone().run(async move {
                let _t = la.acquire_on_behalf_of(a).await;
                a_got.incr();
            });
            n.spawn(async move {
                a_body.await;
                Ok::<_, ()>(())
            });
            wait_all_tasks_blocked().await;
            holder(&n, &limiter, b, &release, &b_got).await;
            assert_eq!(limiter.statistics().tasks_waiting, 2);
            n.spawn(async move {
                drop(held); // handed to A, which has not run
                a_scope.cancel(); // no await in between
                Ok::<_, ()>(())
            });
            wait_all_tasks_blocked().await;
            assert_eq!(borrowers(&limiter), set_of(&[b]));
            release.set();
            Ok(())
        }
    })
    .await
    .unwrap();
    assert_eq!(
        (a_got.get(), b_got.get(), limiter.available_tokens()),
        (0, 1, 1)
    );
    assert_eq!(limiter.__pending_entries(), (0, 0));
}

#[test]
fn token_and_limiter_travel_between_threads() {
    fn send_static<T: Send + 'static>() {}
    fn shared<T: Send + Sync + Clone + 'static>() {}
    send_static::<LimiterToken>();
    shared::<CapacityLimiter>();
    let limiter = CapacityLimiter::new(1);
    let token = limiter.try_acquire().unwrap();
    std::thread::spawn(move || drop(token)).join().unwrap();
    assert_eq!(limiter.available_tokens(), 1);
    assert!(format!("{limiter:?}").contains("borrowed_tokens: 0"));
}

/// A token and an acquire future show their borrower; `Borrower::task` names a task.
#[creche::test]
async fn debug_forms_show_the_borrower() {
    let _w = watchdog("debug_forms_show_the_borrower");
    // In a task of its own: `Borrower::task` needs a task id.
    creche::spawn(async {
        let limiter = CapacityLimiter::new(1);
        let me = Borrower::task(creche::task::id());
        assert_eq!(me, Borrower::current_task());
        let token = limiter.try_acquire().unwrap();
        assert_eq!(token.borrower(), me);
        let shown = format!("{token:?}");
        assert!(
            shown.starts_with(&format!("LimiterToken {{ borrower: {me:?}")),
            "{shown}"
        );
        let other = Borrower::new();
        let mut acquire = std::pin::pin!(limiter.acquire_on_behalf_of(other));
        assert_eq!(
            format!("{acquire:?}"),
            format!("LimiterAcquire {{ borrower: {other:?}, queued: false }}")
        );
        assert!(
            futures_lite::future::poll_once(acquire.as_mut())
                .await
                .is_none()
        );
        assert!(format!("{acquire:?}").ends_with("queued: true }"));
        drop(token);
        let theirs = acquire.await;
        assert_eq!(theirs.borrower(), other);
    })
    .await
    .unwrap();
}
