//! How the I/O driver blocks, and how an unpark reaches it: [`Wakeup`].
//!
//! A blocking `Poller::wait` costs five system calls in `polling` on Linux (arm a timerfd,
//! re-arm it and the notification descriptor, `epoll_wait`, drain the notification), and its
//! `notify` one more. Most parks of a runtime that has no socket open (a CPU-bound program, a
//! test) need none of that, and most unparks arrive while the driver is not blocked at all. So
//! the driver blocks in one of two ways, and an unpark wakes exactly the one in use:
//!
//! - **light**: no source is registered; block on a condition variable (a futex);
//! - **poller**: sources are registered; block in `Poller::wait`, woken by `Poller::notify`.
//!
//! # Protocol
//!
//! One atomic `state`: `EMPTY`, `NOTIFIED` (an unpark token), `PARKED_LIGHT`, `PARKED_POLLER`.
//!
//! - **park**: CAS `EMPTY → PARKED_<mode>`. If the CAS finds `NOTIFIED`, take the token (swap
//!   to `EMPTY`) and do not block. Otherwise block in that mode, then swap to `EMPTY` (which
//!   also takes a token that arrived meanwhile: the park is returning anyway).
//! - **unpark**: swap to `NOTIFIED`; if the previous state was `PARKED_LIGHT`, notify the
//!   condition variable (under its mutex, so the parker is either before its re-check or in
//!   `wait`); if `PARKED_POLLER`, `Poller::notify`; otherwise nothing: the next park finds the
//!   token. So an unpark of a running driver costs one atomic swap.
//! - **light wait**: under the mutex, wait while `state == PARKED_LIGHT` (or until the
//!   timeout).
//! - **registering the first source** unparks (after counting the source): a driver blocked
//!   light returns, and its next park blocks in the poller. A park that read "no sources"
//!   before the count either finds the token or is woken by it.
//!
//! A `Poller::notify` whose wait already returned leaves a token in the poller: the next
//! poller wait returns at once (a spurious return, which `Park` allows). The loom models
//! `wakeup_unpark_reaches_either_mode` and `first_registration_wakes_a_light_park` in
//! `loom_tests` check that no unpark is lost.

#[cfg(loom)]
use loom::sync::{
    Condvar, Mutex,
    atomic::{AtomicUsize, Ordering::SeqCst},
};
#[cfg(not(loom))]
use std::sync::{
    Condvar, Mutex,
    atomic::{AtomicUsize, Ordering::SeqCst},
};
use std::time::Duration;

const EMPTY: usize = 0;
const NOTIFIED: usize = 1;
const PARKED_LIGHT: usize = 2;
const PARKED_POLLER: usize = 3;

/// The driver's block-and-wake state; see the [module documentation](self).
#[derive(Debug, Default)]
pub(crate) struct Wakeup {
    state: AtomicUsize,
    lock: Mutex<()>,
    condvar: Condvar,
}

/// How a park blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// On the condition variable (no source registered).
    Light,
    /// In the poller.
    Poller,
}

impl Wakeup {
    /// Blocks in `mode` until unparked (or `timeout`), unless a token is waiting: then takes
    /// it and returns `false` without blocking. `poller_wait` is the poller's blocking wait.
    pub(crate) fn park(
        &self,
        mode: Mode,
        timeout: Option<Duration>,
        poller_wait: impl FnOnce(Option<Duration>),
    ) -> bool {
        let parked = match mode {
            Mode::Light => PARKED_LIGHT,
            Mode::Poller => PARKED_POLLER,
        };
        if self
            .state
            .compare_exchange(EMPTY, parked, SeqCst, SeqCst)
            .is_err()
        {
            // Only an unpark moves the state away from EMPTY while no park runs: a token.
            self.state.swap(EMPTY, SeqCst);
            return false;
        }
        match mode {
            Mode::Poller => poller_wait(timeout),
            Mode::Light => self.light_wait(timeout),
        }
        self.state.swap(EMPTY, SeqCst);
        true
    }

    fn light_wait(&self, timeout: Option<Duration>) {
        let mut guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        #[cfg(not(loom))]
        if let Some(timeout) = timeout {
            let deadline = std::time::Instant::now() + timeout;
            while self.state.load(SeqCst) == PARKED_LIGHT {
                let left = deadline.saturating_duration_since(std::time::Instant::now());
                if left.is_zero() {
                    return;
                }
                guard = match self.condvar.wait_timeout(guard, left) {
                    Ok((guard, _)) => guard,
                    Err(e) => e.into_inner().0,
                };
            }
            return;
        }
        #[cfg(loom)]
        let _ = timeout; // the models park without a timeout
        while self.state.load(SeqCst) == PARKED_LIGHT {
            guard = self.condvar.wait(guard).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Takes a waiting token, if any, without blocking (a zero-timeout park).
    pub(crate) fn take_token(&self) -> bool {
        self.state
            .compare_exchange(NOTIFIED, EMPTY, SeqCst, SeqCst)
            .is_ok()
    }

    /// Makes the current or the next [`park`](Self::park) return; `poller_notify` wakes a
    /// poller wait.
    pub(crate) fn unpark(&self, poller_notify: impl FnOnce()) {
        match self.state.swap(NOTIFIED, SeqCst) {
            PARKED_LIGHT => {
                drop(self.lock.lock().unwrap_or_else(|e| e.into_inner()));
                self.condvar.notify_one();
            }
            PARKED_POLLER => poller_notify(),
            _ => {}
        }
    }
}
