//! [`Event`]: a one-shot flag that tasks wait for (Trio's `trio.Event`), the first of the sync
//! primitives of issue 6.
//!
//! # Protocol
//!
//! `set` swaps the flag to true (once; later calls return at once), then takes the waiter list
//! under its lock and wakes every waiter outside it. A waiter checks the flag, and if it is not
//! set takes the lock, checks again, and records its waker. Either `set`'s lock comes after the
//! waiter's (and finds its waker), or before it (and the waiter's second check, made under the
//! lock, sees the flag). A waiter dropped before the flag is set removes its waker; being woken
//! takes nothing from anybody, so a cancelled waiter loses no one a wake-up.
//!
//! `wait` is a cancellation point: in a cancelled context it does not complete, even when the
//! event is set. It takes one unit of coop budget per poll.

use crate::sync::{AtomicBool, Mutex};
use slab::Slab;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll, Waker, ready};

/// A flag that starts unset, is set once, and wakes every task waiting for it. `Send + Sync`:
/// share it with an `Arc`.
///
/// # Examples
///
/// ```
/// use creche_nursery::{Event, open_nursery};
/// use std::sync::Arc;
/// # let rt = creche_timer::__doc_runtime();
/// # rt.block_on(async {
/// let ready = Arc::new(Event::new());
/// open_nursery(|n| {
///     let ready = ready.clone();
///     async move {
///         let waiter = ready.clone();
///         n.spawn(async move {
///             waiter.wait().await;
///             Ok::<_, ()>(())
///         });
///         ready.set();
///         Ok(())
///     }
/// })
/// .await
/// .unwrap();
/// assert!(ready.is_set());
/// # });
/// ```
pub struct Event {
    set: AtomicBool,
    waiters: Mutex<Slab<Waker>>,
}

impl Default for Event {
    fn default() -> Self {
        Event::new()
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("is_set", &self.is_set())
            .field("tasks_waiting", &self.statistics().tasks_waiting)
            .finish()
    }
}

/// What [`Event::statistics`] reports.
///
/// # Examples
///
/// ```
/// let event = creche_nursery::Event::new();
/// assert_eq!(event.statistics().tasks_waiting, 0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct EventStatistics {
    /// How many `wait` futures are registered (polled, not yet woken by `set`).
    pub tasks_waiting: usize,
}

impl Event {
    /// An event that is not set.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!creche_nursery::Event::new().is_set());
    /// ```
    pub fn new() -> Event {
        Event {
            set: AtomicBool::new(false),
            waiters: Mutex::new(Slab::new()),
        }
    }

    /// Sets the event and wakes every waiting task. Idempotent; callable from any thread.
    ///
    /// # Examples
    ///
    /// ```
    /// let event = creche_nursery::Event::new();
    /// event.set();
    /// event.set(); // no effect
    /// assert!(event.is_set());
    /// ```
    pub fn set(&self) {
        if self.set.swap(true, Ordering::AcqRel) {
            return;
        }
        let waiters = std::mem::take(&mut *self.waiters.lock());
        for (_, waker) in waiters {
            waker.wake();
        }
    }

    /// Whether the event has been set.
    ///
    /// # Examples
    ///
    /// See [`Event::set`].
    pub fn is_set(&self) -> bool {
        self.set.load(Ordering::Acquire)
    }

    /// Waits until the event is set (at once if it is). A cancellation point: in a cancelled
    /// context it does not complete. Dropping the future cancels the wait and takes nothing
    /// from other waiters.
    ///
    /// # Examples
    ///
    /// ```
    /// # let rt = creche_timer::__doc_runtime();
    /// # rt.block_on(async {
    /// let event = creche_nursery::Event::new();
    /// event.set();
    /// event.wait().await; // already set: completes at once
    /// # });
    /// ```
    pub fn wait(&self) -> EventWait<'_> {
        EventWait {
            event: self,
            key: None,
        }
    }

    /// How many tasks wait.
    ///
    /// # Examples
    ///
    /// See [`EventStatistics`].
    pub fn statistics(&self) -> EventStatistics {
        EventStatistics {
            tasks_waiting: self.waiters.lock().len(),
        }
    }
}

/// The future of [`Event::wait`].
///
/// # Examples
///
/// See [`Event::wait`].
#[must_use = "futures do nothing unless polled"]
pub struct EventWait<'a> {
    event: &'a Event,
    /// This waiter's slot in the event's list, while registered.
    key: Option<usize>,
}

impl fmt::Debug for EventWait<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventWait")
            .field("registered", &self.key.is_some())
            .finish()
    }
}

impl Future for EventWait<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if creche_runtime::cancel::is_cancelled() {
            return Poll::Pending; // the scope that was cancelled wakes the task and drops us
        }
        let progress = ready!(creche_runtime::coop::poll_proceed(cx));
        let event = self.event;
        if !event.is_set() {
            let mut waiters = event.waiters.lock();
            if !event.set.load(Ordering::Acquire) {
                match self.key.and_then(|key| waiters.get_mut(key)) {
                    Some(waker) if waker.will_wake(cx.waker()) => {}
                    Some(waker) => waker.clone_from(cx.waker()),
                    None => self.key = Some(waiters.insert(cx.waker().clone())),
                }
                return Poll::Pending;
            }
        }
        // Set: `set` has taken the whole list, this waiter's slot with it.
        self.key = None;
        progress.made_progress();
        Poll::Ready(())
    }
}

impl Drop for EventWait<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            let mut waiters = self.event.waiters.lock();
            // Still registered unless `set` took the list (then the slot may be reused: only a
            // waiter of an unset event removes its own).
            if !self.event.set.load(Ordering::Acquire) {
                let removed = waiters.try_remove(key);
                drop(waiters);
                drop(removed);
            }
        }
    }
}
