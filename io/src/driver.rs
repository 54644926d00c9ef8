//! The reactor: [`IoDriver`] (the runtime's park for I/O, one `polling::Poller`) and
//! [`IoHandle`] (how sockets reach it).
//!
//! # Registrations
//!
//! Every socket registers once, when it is created, with read and write interest in **edge**
//! mode: the poller reports each transition to readable or writable once, and never needs
//! re-arming (oneshot mode would cost a `modify` syscall per wait). Readiness is then kept per
//! source by `Readiness` (see the protocol in `io/src/readiness.rs`).
//!
//! The reactor keeps its sources in a slab, each with a generation. The poller key of a source
//! is its slab index in the low half of a `usize` and its generation in the high half, so:
//!
//! 1. **Register**: under the slab lock, take a vacant index, stamp it with the next
//!    generation, add the descriptor to the poller with key (index, generation).
//! 2. **Dispatch**: after `wait`, under the slab lock, each event's key is looked up; an event
//!    whose index is vacant, or holds another generation, is dropped. So no event reaches a
//!    freed registration, nor a new one that reuses the index (or the descriptor number).
//! 3. **Deregister** (the socket is dropped): delete the descriptor from the poller, then
//!    remove the index from the slab, then close the descriptor. Events the kernel queued
//!    before the delete may still be in a waiting worker's buffer; (2) drops them.
//!
//! A source dropped while a worker is inside `wait` is therefore safe: `epoll_ctl(DEL)` is
//! allowed concurrently with `epoll_wait`, and the worker's buffer holds only keys, which (2)
//! checks. No `unsafe` code depends on the slab: the only unsafe call is the poller's `add`,
//! whose contract (delete before close) step 3 keeps.
//!
//! # Parking
//!
//! [`Park::park`] waits with the timeout it is given (zero: collect what is ready without
//! blocking), then wakes the tasks of every event. While sockets are registered it blocks in
//! the poller; with none it blocks on a condition variable, and an unpark wakes whichever is
//! in use, or leaves a token for the next park (the protocol is in `io/src/wakeup.rs`: a
//! blocking poller wait costs five system calls in `polling`, a token one atomic swap).
//! `IoDriver` slots under the timer driver: `TimerDriver<IoDriver>` is the facade's park.
//!
//! # Reaching the reactor
//!
//! The facade installs the driver's [`IoHandle`] as a runtime extension; a socket created on a
//! runtime thread finds it with [`IoHandle::try_current`]. A socket created outside a runtime
//! (or in one built without an I/O driver) fails with an `io::Error` of kind `Other` wrapping
//! [`NoReactor`]. A socket stays registered with the reactor it was created on.

use crate::readiness::Readiness;
use crate::wakeup::{Mode, Wakeup};
use creche_runtime::park::{Park, Unpark};
use parking_lot::Mutex;
use polling::{Event, Events, PollMode, Poller};
use slab::Slab;
use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::task::Waker;
use std::time::Duration;

/// Bits of a poller key that hold the slab index; the rest hold the generation.
const INDEX_BITS: u32 = usize::BITS / 2;
const INDEX_MASK: usize = (1 << INDEX_BITS) - 1;
/// The largest index: one below the mask, so that no key is `usize::MAX` (polling's own).
const MAX_INDEX: usize = INDEX_MASK - 1;

/// The I/O driver: the runtime's park that waits on the poller; see the
/// [module documentation](self).
///
/// # Examples
///
/// Under the timer driver, as the facade composes it:
///
/// ```
/// use creche_io::IoDriver;
/// use creche_timer::{build_runtime_with_park, SystemClock};
/// use std::sync::Arc;
///
/// let driver = IoDriver::new().unwrap();
/// let builder = creche_runtime::Builder::new().worker_threads(1).extension(driver.handle());
/// let rt = build_runtime_with_park(builder, driver, Arc::new(SystemClock)).unwrap();
/// rt.block_on(async {
///     let listener = creche_io::TcpListener::bind("127.0.0.1:0").unwrap();
///     assert!(listener.local_addr().unwrap().port() > 0);
/// });
/// ```
pub struct IoDriver {
    reactor: Arc<Reactor>,
    events: Events,
    wakers: Vec<Waker>,
}

impl fmt::Debug for IoDriver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IoDriver")
            .field("reactor", &self.reactor)
            .finish_non_exhaustive()
    }
}

/// What the driver, its handles and the sockets share.
pub(crate) struct Reactor {
    poller: Poller,
    sources: Mutex<Sources>,
    /// Sources registered: with none, the driver blocks light (see `crate::wakeup`).
    live: AtomicUsize,
    wakeup: Wakeup,
}

struct Sources {
    slab: Slab<Entry>,
    next_generation: usize,
}

struct Entry {
    generation: usize,
    readiness: Arc<Readiness>,
}

impl fmt::Debug for Reactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reactor")
            .field("sources", &self.sources.lock().slab.len())
            .finish_non_exhaustive()
    }
}

/// A handle to the reactor: what sockets register with. Install it as the runtime's extension
/// (the facade does).
///
/// # Examples
///
/// ```
/// assert!(creche_io::IoHandle::try_current().is_err()); // not on a runtime thread
/// ```
#[derive(Clone, Debug)]
pub struct IoHandle {
    pub(crate) reactor: Arc<Reactor>,
}

/// The error inside the `io::Error` (kind `Other`) of a socket created where there is no
/// reactor: outside a runtime, or on one built without an [`IoDriver`].
///
/// # Examples
///
/// ```
/// let err = creche_io::TcpListener::bind("127.0.0.1:0").unwrap_err();
/// assert!(err.get_ref().unwrap().is::<creche_io::NoReactor>());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoReactor;

impl fmt::Display for NoReactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "there is no creche reactor here: create sockets inside a runtime built by creche \
             (creche::run, creche::Builder, #[creche::main] or #[creche::test])",
        )
    }
}

impl std::error::Error for NoReactor {}

impl From<NoReactor> for io::Error {
    fn from(e: NoReactor) -> io::Error {
        io::Error::other(e)
    }
}

impl IoDriver {
    /// A driver with a new poller.
    ///
    /// # Errors
    ///
    /// What the operating system says when the poller (an epoll or kqueue instance and its
    /// notification descriptor) cannot be created, or when it cannot register sockets in edge
    /// mode.
    ///
    /// # Examples
    ///
    /// See [`IoDriver`].
    pub fn new() -> io::Result<IoDriver> {
        let poller = Poller::new()?;
        if !poller.supports_edge() {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "creche's reactor needs edge-triggered polling",
            ));
        }
        Ok(IoDriver {
            reactor: Arc::new(Reactor {
                poller,
                sources: Mutex::new(Sources {
                    slab: Slab::new(),
                    next_generation: 0,
                }),
                live: AtomicUsize::new(0),
                wakeup: Wakeup::default(),
            }),
            events: Events::new(),
            wakers: Vec::new(),
        })
    }

    /// The handle that sockets use; install it as the runtime's extension.
    ///
    /// # Examples
    ///
    /// See [`IoDriver`].
    pub fn handle(&self) -> IoHandle {
        IoHandle {
            reactor: self.reactor.clone(),
        }
    }

    /// Wakes the tasks of the collected events.
    fn dispatch(&mut self) {
        {
            let sources = self.reactor.sources.lock();
            for event in self.events.iter() {
                let index = event.key & INDEX_MASK;
                let generation = event.key >> INDEX_BITS;
                match sources.slab.get(index) {
                    Some(entry) if entry.generation == generation => {
                        entry
                            .readiness
                            .set_ready(event.readable, event.writable, &mut self.wakers);
                    }
                    _ => {} // a freed registration (or a reused index): dropped
                }
            }
        }
        self.events.clear();
        for waker in self.wakers.drain(..) {
            waker.wake();
        }
    }
}

impl Park for IoDriver {
    fn park(&mut self, timeout: Option<Duration>) {
        // An error of the poller's wait (other than EINTR, which polling retries) is returned
        // as a spurious wake: the runtime parks again.
        let reactor = &*self.reactor;
        let events = &mut self.events;
        let has_sources = reactor.live.load(SeqCst) > 0;
        if timeout == Some(Duration::ZERO) {
            reactor.wakeup.take_token();
            if has_sources {
                let _ = reactor.poller.wait(events, timeout);
            }
        } else {
            let mode = if has_sources {
                Mode::Poller
            } else {
                Mode::Light
            };
            let blocked = reactor.wakeup.park(mode, timeout, |timeout| {
                let _ = reactor.poller.wait(events, timeout);
            });
            if !blocked && has_sources {
                // Unparked before it blocked: still collect what is ready.
                let _ = reactor.poller.wait(events, Some(Duration::ZERO));
            }
        }
        self.dispatch();
    }

    fn unparker(&self) -> Arc<dyn Unpark> {
        self.reactor.clone()
    }

    /// Drops every waker still registered: they hold tasks, which hold the runtime.
    fn shutdown(&mut self) {
        let mut wakers = Vec::new();
        for (_, entry) in self.reactor.sources.lock().slab.iter() {
            entry.readiness.take_all_wakers(&mut wakers);
        }
        drop(wakers);
    }
}

impl Unpark for Reactor {
    fn unpark(&self) {
        // `notify` fails only if the notification descriptor cannot be written: nothing to do
        // then.
        self.wakeup.unpark(|| {
            let _ = self.poller.notify();
        });
    }
}

impl IoHandle {
    /// The reactor of the runtime this thread is in.
    ///
    /// # Errors
    ///
    /// [`NoReactor`] outside a runtime, or in one built without an [`IoDriver`].
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = creche_io::__doc_runtime();
    /// assert!(rt.block_on(async { creche_io::IoHandle::try_current() }).is_ok());
    /// ```
    pub fn try_current() -> Result<IoHandle, NoReactor> {
        creche_runtime::Handle::with_current_extension(|handle: Option<&IoHandle>| {
            handle.cloned().ok_or(NoReactor)
        })
    }

    /// Number of sources (sockets) registered right now.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = creche_io::__doc_runtime();
    /// rt.block_on(async {
    ///     let handle = creche_io::IoHandle::try_current().unwrap();
    ///     let listener = creche_io::TcpListener::bind("127.0.0.1:0").unwrap();
    ///     assert_eq!(handle.registered(), 1);
    ///     drop(listener);
    ///     assert_eq!(handle.registered(), 0);
    /// });
    /// ```
    pub fn registered(&self) -> usize {
        self.reactor.sources.lock().slab.len()
    }
}

/// A source's place in the reactor; deregisters on [`Registration::deregister`].
#[derive(Debug)]
pub(crate) struct Registration {
    reactor: Arc<Reactor>,
    index: usize,
    pub(crate) readiness: Arc<Readiness>,
}

impl Reactor {
    /// Registers `source` (read and write interest, edge mode).
    ///
    /// The caller must call [`Registration::deregister`] with the same source before closing
    /// it.
    pub(crate) fn register(self: &Arc<Self>, source: &impl AsRawFd) -> io::Result<Registration> {
        let readiness = Arc::new(Readiness::new());
        let mut sources = self.sources.lock();
        let entry = sources.slab.vacant_entry();
        let index = entry.key();
        if index > MAX_INDEX {
            return Err(io::Error::other(
                "too many sockets registered with one reactor",
            ));
        }
        let generation = sources.next_generation & (usize::MAX >> INDEX_BITS);
        sources.next_generation = sources.next_generation.wrapping_add(1);
        let key = index | (generation << INDEX_BITS);
        // SAFETY: polling requires the source to be deleted from the poller before it is
        // closed. The only caller is `IoSource::new`, whose `Drop` (and `into_inner`) calls
        // `Registration::deregister` with this descriptor before the descriptor is dropped.
        unsafe {
            self.poller
                .add_with_mode(source.as_raw_fd(), Event::all(key), PollMode::Edge)?;
        }
        sources.slab.insert(Entry {
            generation,
            readiness: readiness.clone(),
        });
        drop(sources);
        if self.live.fetch_add(1, SeqCst) == 0 {
            // A driver blocked light would not see this source's events: make it return, so
            // that its next park blocks in the poller.
            self.unpark();
        }
        Ok(Registration {
            reactor: self.clone(),
            index,
            readiness,
        })
    }
}

impl Registration {
    /// Removes `source` from the poller and the slab (step 3 of the lifecycle). Call before
    /// closing it.
    pub(crate) fn deregister(&self, source: &impl AsFd) {
        // Fails only if the descriptor is not registered, which cannot be.
        let _ = self.reactor.poller.delete(source.as_fd());
        if self
            .reactor
            .sources
            .lock()
            .slab
            .try_remove(self.index)
            .is_some()
        {
            self.reactor.live.fetch_sub(1, SeqCst);
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::readiness::{Direction, Waiter};
    use std::net::{TcpListener, TcpStream};
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use std::task::{Context, Poll, Wake};

    #[derive(Default)]
    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, SeqCst);
        }
    }

    /// The read direction's tick if it is ready; else registers `count`'s waker.
    fn poll_read(reg: &Registration, count: &Arc<Count>) -> Poll<u64> {
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        reg.readiness
            .poll_ready(Direction::Read, Waiter::Poll, &mut cx)
    }

    /// A listener registered on `driver`, with a pending waiter on its read direction.
    fn waiting_listener(driver: &IoDriver, woken: &Arc<Count>) -> (TcpListener, Registration) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let reg = driver.reactor.register(&listener).unwrap();
        let Poll::Ready(tick) = poll_read(&reg, woken) else {
            panic!("new sources start ready")
        };
        reg.readiness.clear(Direction::Read, tick);
        assert!(poll_read(&reg, woken).is_pending());
        (listener, reg)
    }

    #[test]
    fn notify_wakes_park() {
        let mut driver = IoDriver::new().unwrap();
        let unpark = driver.unparker();
        // A token left before the park makes it return at once...
        unpark.unpark();
        driver.park(None);
        // ...and an unpark from another thread ends a park in progress.
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            unpark.unpark();
        });
        driver.park(None); // would block forever without the notify
        t.join().unwrap();
    }

    #[test]
    fn shutdown_lets_go_of_the_wakers() {
        let mut driver = IoDriver::new().unwrap();
        let woken = Arc::new(Count::default());
        let (listener, reg) = waiting_listener(&driver, &woken);
        assert_eq!(Arc::strong_count(&woken), 2, "the waiter's waker is held");
        driver.shutdown();
        assert_eq!(
            Arc::strong_count(&woken),
            1,
            "and dropped at shutdown, unwoken"
        );
        assert_eq!(woken.0.load(SeqCst), 0);
        reg.deregister(&listener);
    }

    #[test]
    fn an_event_wakes_its_waiter() {
        let mut driver = IoDriver::new().unwrap();
        let woken = Arc::new(Count::default());
        let (listener, reg) = waiting_listener(&driver, &woken);
        let _client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        while woken.0.load(SeqCst) == 0 {
            driver.park(Some(Duration::from_secs(5)));
        }
        assert!(poll_read(&reg, &woken).is_ready());
        reg.deregister(&listener);
        assert_eq!(driver.handle().registered(), 0);
    }

    #[test]
    fn registration_dropped_while_another_thread_is_in_wait() {
        let mut driver = IoDriver::new().unwrap();
        let handle = driver.handle();
        let unpark = driver.unparker();
        let woken = Arc::new(Count::default());
        let (listener, reg) = waiting_listener(&driver, &woken);
        let addr = listener.local_addr().unwrap();
        let (in_wait_tx, in_wait_rx) = std::sync::mpsc::channel();
        let waiter = std::thread::spawn(move || {
            in_wait_tx.send(()).unwrap();
            // Blocks in `wait` until an event or the unpark; then collects what is left.
            driver.park(None);
            driver.park(Some(Duration::ZERO));
            driver
        });
        in_wait_rx.recv().unwrap();
        // An event is queued for the source, the source is freed, and a new source takes its
        // slab index, while the other thread may sit in `wait` or hold the event in its buffer.
        let _client = TcpStream::connect(addr).unwrap();
        reg.deregister(&listener);
        drop(listener);
        let other = TcpListener::bind("127.0.0.1:0").unwrap();
        other.set_nonblocking(true).unwrap();
        let reg2 = handle.reactor.register(&other).unwrap();
        assert_eq!(reg2.index, reg.index, "the index is reused");
        unpark.unpark();
        let driver = waiter.join().unwrap();
        // The new registration got no stale event: its tick is still the initial one.
        let woken2 = Arc::new(Count::default());
        assert_eq!(poll_read(&reg2, &woken2), Poll::Ready(0));
        reg2.deregister(&other);
        assert_eq!(handle.registered(), 0);
        drop(driver);
    }
}
