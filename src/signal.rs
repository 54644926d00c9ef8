//! Unix signals as async values: [`ctrl_c`] and [`open_signal_receiver`].
//!
//! This module owns the process-wide signal plumbing of creche. It does not use the I/O
//! reactor: a small dispatcher thread, started on first use, does the waking.
//!
//! # Protocol
//!
//! Each [`SignalReceiver`] has a counter per signal it listens to, and a waker slot (a mutex).
//! Opening a receiver registers, through `signal-hook`, one action per signal. The action runs
//! inside the signal handler, so it does only async-signal-safe things, in this order:
//!
//! 1. add 1 to the receiver's counter of that signal (an atomic add);
//! 2. write one byte to the dispatcher's wake-up socket (`write(2)`, non-blocking; a full
//!    socket already holds a pending wake-up, so a failed write loses nothing).
//!
//! The dispatcher thread blocks reading that socket. For every batch of bytes it locks the list
//! of live receivers and, for each, takes the waker out of its slot and wakes it.
//!
//! A receiver's poll first stores its waker in the slot (under the mutex) and only then looks at
//! its counters; a non-zero counter is decremented and its signal returned. No wake-up is lost:
//! a signal whose count the poll missed was counted after the poll stored its waker, so its
//! byte is written after that too, and the dispatcher, which reads the byte before it locks the
//! slot, finds the waker there.
//!
//! Every delivered signal is counted once per receiver (counters do not merge two quick
//! signals into one, as a pending-flag design would). Signals of different kinds are returned
//! in signal-number order within one poll, not in the order they arrived.
//!
//! Dropping a receiver unregisters its actions (after `signal-hook`'s `unregister` returns, an
//! action no longer runs). Note that `signal-hook` does not restore a signal's default action
//! when its last action goes: from then on that signal is ignored by the process.
//!
//! # Cancellation
//!
//! `recv` is a cancellation point: in a cancelled scope it returns `Pending` (the scope drops
//! it), and a signal counted meanwhile stays counted for the next `recv`. It spends one unit of
//! coop budget per signal returned.

use futures_core::Stream;
use shim::{AtomicUsize, Mutex};
use std::future::Future;
use std::io::{self, Read, Write};
use std::os::raw::c_int;
use std::os::unix::net::UnixStream;
use std::pin::Pin;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::{Arc, OnceLock, Weak};
use std::task::{Context, Poll, Waker, ready};

/// The counters and the waker slot of a receiver (the protocol's shared state) come from here:
/// loom's under `--cfg creche_loom`, for the model at the end of this file. (Not `--cfg loom`:
/// under that flag the facade's dev-dependencies expect a loom of their own and fail to build.)
mod shim {
    #[cfg(not(creche_loom))]
    pub(super) use std::sync::atomic::AtomicUsize;

    #[cfg(creche_loom)]
    pub(super) use loom::sync::atomic::AtomicUsize;

    /// A mutex with the `parking_lot` API.
    #[derive(Default)]
    pub(super) struct Mutex<T>(
        #[cfg(not(creche_loom))] parking_lot::Mutex<T>,
        #[cfg(creche_loom)] loom::sync::Mutex<T>,
    );

    impl<T> Mutex<T> {
        pub(super) fn new(value: T) -> Mutex<T> {
            #[cfg(not(creche_loom))]
            return Mutex(parking_lot::Mutex::new(value));
            #[cfg(creche_loom)]
            return Mutex(loom::sync::Mutex::new(value));
        }

        #[cfg(not(creche_loom))]
        pub(super) fn lock(&self) -> parking_lot::MutexGuard<'_, T> {
            self.0.lock()
        }

        #[cfg(creche_loom)]
        pub(super) fn lock(&self) -> loom::sync::MutexGuard<'_, T> {
            self.0.lock().unwrap()
        }
    }
}

pub use signal_hook::consts::signal::{
    SIGALRM, SIGCHLD, SIGHUP, SIGINT, SIGPIPE, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGWINCH,
};

/// The process-wide dispatcher: the socket the signal actions write to, and the receivers
/// whose wakers its thread wakes.
struct Dispatcher {
    /// The write end, non-blocking; written from signal handlers only.
    wake: UnixStream,
    receivers: parking_lot::Mutex<Vec<Weak<Counts>>>,
}

/// One receiver's counters and waker slot; shared with its signal actions.
struct Counts {
    /// `(signal, signals delivered and not yet returned)`, sorted by signal.
    pending: Box<[(c_int, AtomicUsize)]>,
    /// The waker of the last poll that found nothing.
    waker: Mutex<Option<Waker>>,
}

static DISPATCHER: OnceLock<Result<Dispatcher, io::ErrorKind>> = OnceLock::new();

fn dispatcher() -> io::Result<&'static Dispatcher> {
    let started = DISPATCHER.get_or_init(|| start_dispatcher().map_err(|e| e.kind()));
    match started {
        Ok(dispatcher) => Ok(dispatcher),
        Err(kind) => Err(io::Error::new(
            *kind,
            "creche::signal could not start its dispatcher thread",
        )),
    }
}

fn start_dispatcher() -> io::Result<Dispatcher> {
    let (wake, mut read) = UnixStream::pair()?;
    wake.set_nonblocking(true)?;
    std::thread::Builder::new()
        .name("creche-signal".to_owned())
        .spawn(move || {
            let mut buf = [0u8; 64];
            loop {
                match read.read(&mut buf) {
                    Ok(0) => return, // never: the write end lives in a static
                    Ok(_) => wake_receivers(),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => return,
                }
            }
        })?;
    Ok(Dispatcher {
        wake,
        receivers: parking_lot::Mutex::new(Vec::new()),
    })
}

/// Dispatcher thread: wake every live receiver that is waiting (and forget dropped ones).
fn wake_receivers() {
    let Some(Ok(dispatcher)) = DISPATCHER.get() else {
        return;
    };
    let mut live = Vec::new();
    dispatcher
        .receivers
        .lock()
        .retain(|weak| match weak.upgrade() {
            Some(counts) => {
                live.push(counts);
                true
            }
            None => false,
        });
    for counts in live {
        counts.wake();
    }
}

impl Counts {
    fn new(signals: &[c_int]) -> Counts {
        Counts {
            pending: signals.iter().map(|&s| (s, AtomicUsize::new(0))).collect(),
            waker: Mutex::new(None),
        }
    }

    /// Signal handler: one more delivery of the signal at `index` (then the wake-up byte).
    fn record(&self, index: usize) {
        self.pending[index].1.fetch_add(1, SeqCst);
    }

    /// Dispatcher: wakes the receiver's last waiting poll, if any.
    fn wake(&self) {
        let waker = self.waker.lock().take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Takes one pending delivery, lowest signal number first.
    fn take(&self) -> Option<c_int> {
        self.pending.iter().find_map(|(signal, count)| {
            count
                .fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1))
                .ok()
                .map(|_| *signal)
        })
    }

    /// A poll: a pending delivery, or `None` with `waker` stored first and the counters read
    /// again (the order that loses no wake-up; see the module doc).
    fn poll(&self, waker: &Waker) -> Option<c_int> {
        if let Some(signal) = self.take() {
            return Some(signal);
        }
        {
            let mut slot = self.waker.lock();
            match &mut *slot {
                Some(stored) => stored.clone_from(waker),
                None => *slot = Some(waker.clone()),
            }
        }
        self.take()
    }

    /// Puts back a delivery taken by a poll that could not return it.
    fn put_back(&self, signal: c_int) {
        if let Some((_, count)) = self.pending.iter().find(|(s, _)| *s == signal) {
            count.fetch_add(1, SeqCst);
        }
    }
}

/// Receives Unix signals: a [`Stream`] of signal numbers, and [`recv`](Self::recv).
///
/// Made by [`open_signal_receiver`]. Every delivery of a signal it listens to is returned
/// once, in signal-number order among those pending. Dropping it stops the listening.
///
/// # Examples
///
/// ```
/// use creche::signal::{SIGUSR2, open_signal_receiver};
///
/// creche::run(async {
///     let mut signals = open_signal_receiver([SIGUSR2]).unwrap();
///     signal_hook::low_level::raise(SIGUSR2).unwrap();
///     assert_eq!(signals.recv().await, SIGUSR2);
/// });
/// ```
pub struct SignalReceiver {
    counts: Arc<Counts>,
    ids: Vec<signal_hook::SigId>,
}

impl std::fmt::Debug for SignalReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let signals: Vec<c_int> = self.counts.pending.iter().map(|(s, _)| *s).collect();
        f.debug_struct("SignalReceiver")
            .field("signals", &signals)
            .finish_non_exhaustive()
    }
}

/// Starts listening for `signals`: from now on each delivery of one of them is counted, and
/// returned by the receiver's [`recv`](SignalReceiver::recv) or its [`Stream`].
///
/// Listening for a signal replaces its default action (SIGINT no longer kills the process,
/// for example), and the default is not restored when the receiver is dropped: the signal is
/// ignored from then on.
///
/// # Errors
///
/// [`io::ErrorKind::InvalidInput`] for an empty list and for `SIGKILL`, `SIGSTOP`, `SIGILL`,
/// `SIGFPE` and `SIGSEGV` (which cannot be handled this way); the operating system's error for a
/// number that is not a signal; an error if the dispatcher thread cannot start.
///
/// # Examples
///
/// ```
/// use creche::signal::{SIGUSR1, open_signal_receiver};
///
/// assert!(open_signal_receiver([signal_hook::consts::SIGKILL]).is_err());
/// assert!(open_signal_receiver([]).is_err());
/// let receiver = open_signal_receiver([SIGUSR1]).unwrap();
/// drop(receiver); // stops listening
/// ```
pub fn open_signal_receiver(
    signals: impl IntoIterator<Item = c_int>,
) -> io::Result<SignalReceiver> {
    let mut signals: Vec<c_int> = signals.into_iter().collect();
    signals.sort_unstable();
    signals.dedup();
    if signals.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "open_signal_receiver needs at least one signal",
        ));
    }
    if let Some(bad) = signals
        .iter()
        .find(|s| signal_hook::consts::FORBIDDEN.contains(s))
    {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("signal {bad} cannot be received (SIGKILL, SIGSTOP, SIGILL, SIGFPE, SIGSEGV)"),
        ));
    }
    let dispatcher = dispatcher()?;
    let counts = Arc::new(Counts::new(&signals));
    dispatcher.receivers.lock().push(Arc::downgrade(&counts));
    let mut receiver = SignalReceiver {
        counts: counts.clone(),
        ids: Vec::with_capacity(signals.len()),
    };
    for (index, &signal) in signals.iter().enumerate() {
        let counts = counts.clone();
        let wake = &dispatcher.wake;
        let action = move || {
            counts.record(index);
            let _ = (&*wake).write(&[1]);
        };
        // On an error, `?` drops `receiver`, which unregisters what was registered so far.
        // SAFETY: the action (run in a signal handler) only adds atomically to memory its `Arc`
        // keeps alive and does a non-blocking `write(2)` to a static socket: async-signal-safe,
        // no allocation, no lock, no panic (`index` is in bounds, the write's error ignored).
        let id = unsafe { signal_hook::low_level::register(signal, action) }?;
        receiver.ids.push(id);
    }
    Ok(receiver)
}

impl SignalReceiver {
    /// Waits for the next signal and returns its number.
    ///
    /// A cancellation point; see the [module documentation](self).
    ///
    /// # Examples
    ///
    /// ```
    /// use creche::signal::{SIGUSR1, open_signal_receiver};
    ///
    /// creche::run(async {
    ///     let mut signals = open_signal_receiver([SIGUSR1]).unwrap();
    ///     signal_hook::low_level::raise(SIGUSR1).unwrap();
    ///     signal_hook::low_level::raise(SIGUSR1).unwrap();
    ///     assert_eq!(signals.recv().await, SIGUSR1);
    ///     assert_eq!(signals.recv().await, SIGUSR1); // counted, not merged
    /// });
    /// ```
    pub fn recv(&mut self) -> Recv<'_> {
        Recv { receiver: self }
    }

    /// Returns a pending signal without waiting, or `None`.
    ///
    /// # Examples
    ///
    /// ```
    /// use creche::signal::{SIGUSR2, open_signal_receiver};
    ///
    /// let mut signals = open_signal_receiver([SIGUSR2]).unwrap();
    /// assert_eq!(signals.try_recv(), None);
    /// ```
    pub fn try_recv(&mut self) -> Option<c_int> {
        self.counts.take()
    }

    /// `recv` as a poll function; see [`recv`](Self::recv).
    ///
    /// # Examples
    ///
    /// ```
    /// use creche::signal::{SIGUSR2, open_signal_receiver};
    /// use std::task::{Context, Poll, Waker};
    ///
    /// let mut signals = open_signal_receiver([SIGUSR2]).unwrap();
    /// let mut cx = Context::from_waker(Waker::noop());
    /// assert_eq!(signals.poll_recv(&mut cx), Poll::Pending);
    /// ```
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<c_int> {
        if creche_runtime::cancel::is_cancelled() {
            return Poll::Pending; // the cancelled scope wakes the task and drops the caller
        }
        match self.counts.poll(cx.waker()) {
            Some(signal) => self.proceed(cx, signal),
            None => Poll::Pending,
        }
    }

    /// Spends the coop budget for `signal`, or puts it back if the budget is spent.
    fn proceed(&mut self, cx: &mut Context<'_>, signal: c_int) -> Poll<c_int> {
        match creche_runtime::coop::poll_proceed(cx) {
            Poll::Ready(progress) => {
                progress.made_progress();
                Poll::Ready(signal)
            }
            Poll::Pending => {
                self.counts.put_back(signal);
                Poll::Pending
            }
        }
    }
}

impl Stream for SignalReceiver {
    type Item = c_int;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<c_int>> {
        self.get_mut().poll_recv(cx).map(Some)
    }
}

impl Drop for SignalReceiver {
    fn drop(&mut self) {
        for id in self.ids.drain(..) {
            signal_hook::low_level::unregister(id);
        }
        // The dispatcher forgets the dead `Weak` on its next round.
    }
}

/// The future of [`SignalReceiver::recv`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct Recv<'a> {
    receiver: &'a mut SignalReceiver,
}

impl Future for Recv<'_> {
    type Output = c_int;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<c_int> {
        self.receiver.poll_recv(cx)
    }
}

/// Waits for the next ctrl-c (SIGINT) after the call, and returns `Ok(())` then.
///
/// The listening starts when `ctrl_c` is called, not at the first poll, and ends when the
/// returned future is dropped. While anything listens, SIGINT does not kill the process (and
/// afterwards it is ignored; see [`open_signal_receiver`]). A cancellation point.
///
/// # Errors
///
/// What [`open_signal_receiver`] returns, when the future is awaited.
///
/// # Examples
///
/// ```no_run
/// creche::run(async {
///     creche::signal::ctrl_c().await.unwrap();
///     println!("interrupted");
/// });
/// ```
pub fn ctrl_c() -> CtrlC {
    CtrlC {
        receiver: Some(open_signal_receiver([SIGINT])),
    }
}

/// The future of [`ctrl_c`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct CtrlC {
    /// `None` once the result was returned.
    receiver: Option<io::Result<SignalReceiver>>,
}

impl Future for CtrlC {
    type Output = io::Result<()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let receiver = match &mut self.receiver {
            Some(Ok(receiver)) => receiver,
            Some(Err(_)) => match self.receiver.take() {
                Some(Err(e)) => return Poll::Ready(Err(e)),
                _ => unreachable!("matched just above"),
            },
            None => panic!("CtrlC polled after it returned"),
        };
        ready!(receiver.poll_recv(cx));
        self.receiver = None;
        Poll::Ready(Ok(()))
    }
}

#[cfg(all(test, creche_loom))]
mod loom_tests {
    //! The receiver's half of the protocol, with the signal handler and the dispatcher on a
    //! loom thread (the socket between them is a plain hand-over: the dispatcher runs after the
    //! handler). Run with `RUSTFLAGS="--cfg creche_loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p
    //! creche --release --lib --target-dir target/loom-facade -- loom_tests`.

    use super::Counts;
    use loom::sync::Arc;
    use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use std::task::{RawWaker, RawWakerVTable, Waker};

    /// A waker that counts its wakes in a loom atomic (leaked: one per model run).
    fn counting_waker() -> (Waker, &'static AtomicUsize) {
        static VTABLE: RawWakerVTable = RawWakerVTable::new(
            |data| RawWaker::new(data, &VTABLE),
            |data| wake(data),
            |data| wake(data),
            |_| {},
        );
        fn wake(data: *const ()) {
            // SAFETY: `data` is the leaked `AtomicUsize` below, never freed.
            unsafe { &*data.cast::<AtomicUsize>() }.fetch_add(1, SeqCst);
        }
        let count: &'static AtomicUsize = Box::leak(Box::new(AtomicUsize::new(0)));
        let raw = RawWaker::new((count as *const AtomicUsize).cast(), &VTABLE);
        // SAFETY: the vtable's functions only touch the leaked counter, valid forever; clone
        // copies the pointer, drop does nothing.
        (unsafe { Waker::from_raw(raw) }, count)
    }

    /// A delivery racing a poll is either returned by the poll or wakes it: never lost.
    #[test]
    fn delivery_races_poll() {
        loom::model(|| {
            let counts = Arc::new(Counts::new(&[10]));
            let handler = counts.clone();
            let thread = loom::thread::spawn(move || {
                handler.record(0); // in the signal handler
                handler.wake(); // the dispatcher, after reading the byte
            });
            let (waker, wakes) = counting_waker();
            let got = counts.poll(&waker);
            thread.join().unwrap();
            match got {
                Some(signal) => assert_eq!(signal, 10),
                None => {
                    assert_eq!(wakes.load(SeqCst), 1, "a pending poll must be woken");
                    assert_eq!(counts.take(), Some(10));
                }
            }
            assert_eq!(counts.take(), None, "delivered once");
        });
    }
}
