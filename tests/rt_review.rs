//! Review regression for batched wake notifications (ARCHITECTURE "Parking"): a driver may
//! wake tasks more than once within one `park` call (it dispatched events, was woken
//! internally, goes round its loop and dispatches again before it returns, as the timer
//! driver's loop does). A task woken by the second dispatch on the parked worker must still be
//! announced: counted (or the runtime looks idle, and autojump or `wait_all_tasks_blocked`
//! fire while it is runnable) and run (or it waits for the driver's next return).

mod common;

use common::watchdog;
use creche::runtime::Runtime;
use creche::runtime::park::{IdleMonitor, Park, Unpark};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

#[derive(Default)]
struct State {
    /// An unpark arrived (consumed by `park`).
    token: bool,
    /// The wakers of the round's two tasks, in dispatch order.
    wakers: Vec<Waker>,
    /// Whether the first task has run since its wake.
    first_ran: bool,
    /// Rounds in which the runtime looked idle right after the second dispatch.
    violations: usize,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    changed: Condvar,
    monitor: Mutex<Option<IdleMonitor>>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    fn idle(&self) -> bool {
        self.monitor
            .lock()
            .unwrap()
            .as_ref()
            .is_some_and(|m| m.idle_epoch().is_some())
    }
}

struct TwoDispatches(Arc<Shared>);
struct Unparker(Arc<Shared>);

impl Unpark for Unparker {
    fn unpark(&self) {
        self.0.lock().token = true;
        self.0.changed.notify_all();
    }
}

impl Park for TwoDispatches {
    fn park(&mut self, timeout: Option<Duration>) {
        let shared = &*self.0;
        let mut state = shared.lock();
        if timeout == Some(Duration::ZERO) {
            return;
        }
        while !state.token && state.wakers.len() != 2 {
            state = shared.changed.wait(state).unwrap();
        }
        if !state.token {
            let second = state.wakers.pop().unwrap();
            let first = state.wakers.pop().unwrap();
            drop(state);
            // Dispatch 1 (on this parked worker).
            first.wake();
            // Until this worker was notified, or the other one ran the task and parked again
            // (a condition polled, not a duration).
            state = shared.lock();
            while !(state.token || (state.first_ran && shared.idle())) {
                state = shared
                    .changed
                    .wait_timeout(state, Duration::from_millis(1))
                    .unwrap()
                    .0;
            }
            drop(state);
            // Woken internally; dispatch 2 in the same `park` call.
            second.wake();
            state = shared.lock();
            if !state.token && shared.idle() {
                state.violations += 1;
            }
            state.token = false;
            return;
        }
        state.token = false;
    }

    fn unparker(&self) -> Arc<dyn Unpark> {
        Arc::new(Unparker(self.0.clone()))
    }

    fn attach(&mut self, monitor: &IdleMonitor) {
        *self.0.monitor.lock().unwrap() = Some(monitor.clone());
    }
}

/// Pending until woken once; the first of a round records that it ran.
struct Event {
    shared: Arc<Shared>,
    first: bool,
    registered: bool,
}

impl Future for Event {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.registered {
            if self.first {
                self.shared.lock().first_ran = true;
                self.shared.changed.notify_all();
            }
            return Poll::Ready(());
        }
        self.registered = true;
        let mut state = self.shared.lock();
        if self.first {
            state.wakers.insert(0, cx.waker().clone());
        } else {
            state.wakers.push(cx.waker().clone());
        }
        drop(state);
        self.shared.changed.notify_all();
        Poll::Pending
    }
}

#[test]
fn a_second_dispatch_in_one_park_is_counted_and_runs() {
    let _w = watchdog("a_second_dispatch_in_one_park_is_counted_and_runs");
    let shared = Arc::new(Shared::default());
    let rt = Runtime::builder()
        .worker_threads(3)
        .park(TwoDispatches(shared.clone()))
        .build()
        .unwrap();
    for _ in 0..20 {
        shared.lock().first_ran = false;
        rt.block_on(async {
            let second = creche::spawn(Event {
                shared: shared.clone(),
                first: false,
                registered: false,
            });
            let first = creche::spawn(Event {
                shared: shared.clone(),
                first: true,
                registered: false,
            });
            first.await.unwrap();
            second.await.unwrap();
        });
    }
    assert_eq!(shared.lock().violations, 0);
}
