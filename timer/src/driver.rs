//! [`TimerDriver`]: the runtime's park, wrapping an inner park (the I/O driver, or
//! [`ThreadPark`](creche_runtime::park::ThreadPark)), and [`TimerHandle`], how timers reach it.
//!
//! # Parking
//!
//! The thread that owns the driver calls [`Park::park`]. The driver fires the timers that are
//! due; if it fired any, it returns at once (their tasks may sit in this thread's queue). Else
//! it blocks in the inner park until the next deadline, in real time as the clock reports it.
//! It returns when the runtime unparks it (through [`Park::unparker`]), when the inner park
//! returns by itself (a timeout, or I/O events whose tasks it has woken), after firing what
//! became due. Three *internal* wakes make it look again without returning: the clock jumped
//! (the clock calls a subscriber), a timer earlier than the one it sleeps for was registered,
//! and the runtime became idle (below).
//!
//! # Autojump
//!
//! With a clock that has an autojump threshold and a runtime that has an
//! [`IdleMonitor`], the driver:
//! 1. arms the monitor and reads whether the runtime is idle (every worker and `block_on`
//!    caller parked, no blocking job; the driver's own thread is parked too). If it is busy, it
//!    blocks as usual; the party that makes the runtime idle wakes it (internal wake).
//! 2. If idle with epoch `e`: with a zero threshold it jumps the clock to the next deadline at
//!    once; else it blocks for the threshold, and jumps only if the monitor still reports epoch
//!    `e` (nothing at all became active meanwhile) and nobody unparked it. Either way, right
//!    before the jump it polls the inner park without blocking: I/O events already queued
//!    (a socket that is readable now) wake their tasks, the epoch changes, and the clock does
//!    not jump over them.
//! 3. After a jump it fires what became due and returns, so the woken tasks run.
//!
//! Waiters of `wait_all_tasks_blocked` are released at the top of the loop when the runtime
//! is idle, after the same non-blocking poll of the inner park (and only if it woke nobody).
//!
//! The jump target is a lower bound of the next deadline (exact when it is within the wheel's
//! current 64 ms), so a far timer can take a few jumps, each of which cascades it closer; no
//! jump ever passes a deadline.

use crate::Instant;
use crate::clock::Clock;
use crate::wheel::{TICK_NANOS, Wheel};
use creche_runtime::park::{IdleMonitor, Park, Unpark};
use parking_lot::Mutex;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, OnceLock};
use std::task::Waker;
use std::time::Duration;

/// The runtime's park with timers; see the [module documentation](self).
///
/// # Examples
///
/// Built by hand (the `creche` facade does this for you):
///
/// ```
/// use creche_runtime::park::ThreadPark;
/// use creche_timer::{sleep, MockClock, TimerDriver};
/// use std::time::Duration;
///
/// let driver = TimerDriver::new(ThreadPark::new(), MockClock::autojump());
/// let timers = driver.handle();
/// let rt = creche_runtime::Runtime::builder()
///     .worker_threads(2)
///     .park(driver)
///     .extension(timers.clone())
///     .build()
///     .unwrap();
/// rt.block_on(async { sleep(Duration::from_secs(3600)).await });
/// assert_eq!(timers.now() - creche_timer::Instant::ZERO, Duration::from_secs(3600));
/// ```
pub struct TimerDriver<P: Park> {
    inner: P,
    shared: Arc<TimerShared>,
    /// Scratch space for firing, kept to avoid allocating on every park.
    fired: Vec<usize>,
    wakers: Vec<Waker>,
    /// Whether timers fire at their exact deadlines (a virtual clock) or at whole ticks.
    exact: bool,
}

impl<P: Park> fmt::Debug for TimerDriver<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimerDriver")
            .field("clock", &self.shared.clock)
            .finish_non_exhaustive()
    }
}

/// What timers, the driver and the clock share.
pub(crate) struct TimerShared {
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) wheel: Mutex<Wheel<Option<Waker>>>,
    /// No queued timer is due before this (nanoseconds); lowered under the wheel lock on every
    /// registration, recomputed after firing. Lets a busy worker's non-blocking poll skip the
    /// lock.
    next_hint: AtomicU64,
    /// The deadline the parked driver wakes up for by itself (`u64::MAX`: none); a new timer
    /// before it wakes the driver. Zero while the driver is not blocked, or when its clock
    /// does not move by itself.
    waiting_until: AtomicU64,
    wakes: Arc<DriverWakes>,
    monitor: OnceLock<IdleMonitor>,
    /// Tasks in `wait_all_tasks_blocked`, woken the next time the runtime is idle.
    pub(crate) idle_waiters: Mutex<IdleWaiters>,
}

/// The waiters of `wait_all_tasks_blocked` and how many times they were released.
#[derive(Default)]
pub(crate) struct IdleWaiters {
    pub(crate) generation: u64,
    pub(crate) wakers: Vec<Waker>,
}

/// Why the inner park was woken.
struct DriverWakes {
    inner: Arc<dyn Unpark>,
    /// The runtime wants the thread back (work to do).
    runtime: AtomicBool,
    /// Only the driver's own business: look again, do not return.
    internal: AtomicBool,
}

impl Unpark for DriverWakes {
    /// The internal wake (clock subscriptions, the idle monitor, earlier timers).
    fn unpark(&self) {
        self.internal.store(true, SeqCst);
        self.inner.unpark();
    }
}

/// The unparker the runtime gets.
struct RuntimeUnpark(Arc<DriverWakes>);

impl Unpark for RuntimeUnpark {
    fn unpark(&self) {
        self.0.runtime.store(true, SeqCst);
        self.0.inner.unpark();
    }
}

impl<P: Park> TimerDriver<P> {
    /// A timer driver on `clock`, blocking in `inner`.
    ///
    /// # Examples
    ///
    /// See [`TimerDriver`].
    pub fn new(inner: P, clock: impl Clock) -> TimerDriver<P> {
        TimerDriver::with_shared_clock(inner, Arc::new(clock))
    }

    /// Like [`new`](TimerDriver::new), with a clock that is already shared.
    ///
    /// # Examples
    ///
    /// ```
    /// use creche_runtime::park::ThreadPark;
    /// use creche_timer::{Clock, SystemClock, TimerDriver};
    /// use std::sync::Arc;
    ///
    /// let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    /// let driver = TimerDriver::with_shared_clock(ThreadPark::new(), clock.clone());
    /// assert!(driver.handle().now() >= clock.now() - std::time::Duration::from_secs(1));
    /// ```
    pub fn with_shared_clock(inner: P, clock: Arc<dyn Clock>) -> TimerDriver<P> {
        let wakes = Arc::new(DriverWakes {
            inner: inner.unparker(),
            runtime: AtomicBool::new(false),
            internal: AtomicBool::new(false),
        });
        let weak: std::sync::Weak<DriverWakes> = Arc::downgrade(&wakes);
        clock.subscribe(weak);
        let exact = clock.is_virtual();
        TimerDriver {
            inner,
            shared: Arc::new(TimerShared {
                clock,
                wheel: Mutex::new(Wheel::new()),
                next_hint: AtomicU64::new(u64::MAX),
                waiting_until: AtomicU64::new(0),
                wakes,
                monitor: OnceLock::new(),
                idle_waiters: Mutex::new(IdleWaiters::default()),
            }),
            fired: Vec::new(),
            wakers: Vec::new(),
            exact,
        }
    }

    /// The handle that timers use; install it as the runtime's extension.
    ///
    /// # Examples
    ///
    /// See [`TimerDriver`].
    pub fn handle(&self) -> TimerHandle {
        TimerHandle {
            shared: self.shared.clone(),
        }
    }

    /// Fires the timers due at the clock's current time; returns how many fired.
    fn fire_due(&mut self) -> usize {
        let shared = &*self.shared;
        let now = shared.clock.now().as_nanos();
        // A real clock advances the wheel at whole ticks: a tick's slot is then walked once,
        // when it is due as a whole, not at every pass within the tick.
        let now = if self.exact {
            now
        } else {
            now / TICK_NANOS * TICK_NANOS
        };
        if now < shared.next_hint.load(SeqCst) {
            return 0;
        }
        {
            let mut wheel = shared.wheel.lock();
            wheel.advance(now, &mut self.fired);
            for key in self.fired.drain(..) {
                if let Some(waker) = wheel.payload_mut(key).take() {
                    self.wakers.push(waker);
                }
            }
            let next = wheel.next_expiration(self.exact).unwrap_or(u64::MAX);
            shared.next_hint.store(next, SeqCst);
        }
        let fired = self.wakers.len();
        for waker in self.wakers.drain(..) {
            waker.wake();
        }
        fired
    }

    /// If tasks wait in `wait_all_tasks_blocked` and the runtime is idle, wakes them (before
    /// any autojump: they run first) and returns `Jump::Return`. If it is busy, the monitor is
    /// armed, so that the driver hears when it becomes idle, and it returns `Jump::NotIdle`.
    /// Ready I/O goes first: once the runtime looks idle, the inner park is polled without
    /// blocking, and the waiters are released only if that woke nobody (the epoch held).
    fn release_idle_waiters(&mut self) -> Jump {
        let Some(monitor) = self.shared.monitor.get().cloned() else {
            return Jump::NotIdle;
        };
        let epoch = {
            let waiters = self.shared.idle_waiters.lock();
            if waiters.wakers.is_empty() {
                return Jump::NotIdle;
            }
            match monitor.arm() {
                Some(epoch) => epoch,
                None => return Jump::NotIdle,
            }
        };
        // A task whose socket is readable right now is not blocked: collect the events already
        // queued (as before an autojump), which wakes their tasks and moves the epoch.
        match self.block(Some(Duration::ZERO)) {
            Woken::Runtime => return Jump::Return,
            Woken::Internal => return Jump::LookAgain,
            Woken::ByItself => {}
        }
        let wakers = {
            let mut waiters = self.shared.idle_waiters.lock();
            if waiters.wakers.is_empty() {
                return Jump::NotIdle;
            }
            if monitor.idle_epoch() != Some(epoch) {
                // Woken tasks run first; whoever makes the runtime idle again wakes the driver
                // (the monitor is armed), or the next look sees it.
                return Jump::LookAgain;
            }
            waiters.generation += 1;
            std::mem::take(&mut waiters.wakers)
        };
        for waker in wakers {
            waker.wake();
        }
        Jump::Return
    }

    /// The next deadline, and publishes what the driver is about to wait for.
    fn prepare_to_block(&self) -> Option<Instant> {
        let shared = &*self.shared;
        let wheel = shared.wheel.lock();
        let next = wheel.next_expiration(self.exact).map(Instant::from_nanos);
        let moves_by_itself =
            !shared.clock.is_virtual() || shared.clock.real_time_until(Instant::MAX).is_some();
        let until = match next {
            _ if !moves_by_itself => 0,
            Some(next) => next.as_nanos(),
            None => u64::MAX,
        };
        shared.waiting_until.store(until, SeqCst);
        next
    }

    /// Blocks in the inner park; says why it came back.
    fn block(&mut self, timeout: Option<Duration>) -> Woken {
        self.inner.park(timeout);
        let wakes = &*self.shared.wakes;
        self.shared.waiting_until.store(0, SeqCst);
        // Both flags are consumed, whichever wins.
        let runtime = wakes.runtime.swap(false, SeqCst);
        let internal = wakes.internal.swap(false, SeqCst);
        if runtime {
            Woken::Runtime
        } else if internal {
            Woken::Internal
        } else {
            Woken::ByItself
        }
    }

    /// Tries to jump the clock to the next deadline because the runtime is idle. Returns how
    /// the attempt ended.
    fn try_autojump(&mut self, threshold: Duration, wait: Option<Duration>) -> Jump {
        let Some(monitor) = self.shared.monitor.get().cloned() else {
            return Jump::NotIdle;
        };
        let Some(epoch) = monitor.arm() else {
            return Jump::NotIdle;
        };
        if !threshold.is_zero() {
            let timeout = wait.map_or(threshold, |wait| wait.min(threshold));
            match self.block(Some(timeout)) {
                Woken::Runtime => return Jump::Return,
                Woken::Internal => return Jump::LookAgain,
                Woken::ByItself if monitor.idle_epoch() != Some(epoch) => return Jump::Return,
                Woken::ByItself => {}
            }
        }
        // Ready I/O is collected before the clock moves: the inner park, polled without
        // blocking, wakes the tasks of events already queued (a socket readable right now), so
        // the runtime is busy again and the epoch check below holds the jump back.
        match self.block(Some(Duration::ZERO)) {
            Woken::Runtime => return Jump::Return,
            Woken::Internal => return Jump::LookAgain,
            Woken::ByItself => {}
        }
        // Waiters of `wait_all_tasks_blocked` (registered since the loop looked) go first.
        if !self.shared.idle_waiters.lock().wakers.is_empty() {
            return Jump::LookAgain;
        }
        // The timers are read now that the runtime is known to be idle (a timer registered by
        // a party that left before the arming is visible), and the jump happens only if
        // nobody entered since (a party that entered afterwards may be registering one).
        let next = {
            let wheel = self.shared.wheel.lock();
            let next = wheel.next_expiration(self.exact);
            // Idle with nothing to jump to: a timer registered now must wake the driver. A
            // party of the runtime that registers one wakes it when it leaves, but a foreign
            // thread (a `set_deadline` from a plain thread) is no party. Published under the
            // wheel lock, which every registration takes: it either is seen here, or sees this.
            let until = if next.is_none() { u64::MAX } else { 0 };
            self.shared.waiting_until.store(until, SeqCst);
            next
        };
        if monitor.idle_epoch() != Some(epoch) {
            self.shared.waiting_until.store(0, SeqCst);
            return Jump::LookAgain;
        }
        let Some(deadline) = next.map(Instant::from_nanos) else {
            // Block, armed: whoever registers a timer wakes the driver (see above).
            return Jump::NotIdle;
        };
        self.shared.clock.autojump_to(deadline);
        if self.shared.clock.now() < deadline {
            // The clock refused to move (its autojump was turned off meanwhile).
            return Jump::NotIdle;
        }
        Jump::LookAgain
    }
}

enum Woken {
    Runtime,
    Internal,
    ByItself,
}

enum Jump {
    /// The runtime is busy, or the clock cannot jump: block as usual.
    NotIdle,
    /// Go round the loop again (the clock moved, or an internal wake came).
    LookAgain,
    /// Return to the runtime.
    Return,
}

impl<P: Park> Park for TimerDriver<P> {
    fn park(&mut self, timeout: Option<Duration>) {
        if timeout == Some(Duration::ZERO) {
            self.inner.park(Some(Duration::ZERO));
            self.fire_due();
            return;
        }
        loop {
            if self.fire_due() > 0 {
                return;
            }
            match self.release_idle_waiters() {
                Jump::NotIdle => {}
                Jump::LookAgain => continue,
                Jump::Return => {
                    self.fire_due();
                    return;
                }
            }
            let next = self.prepare_to_block();
            let clock = &self.shared.clock;
            let mut wait = next.and_then(|deadline| clock.real_time_until(deadline));
            if let Some(timeout) = timeout {
                wait = Some(wait.map_or(timeout, |wait| wait.min(timeout)));
            }
            if let Some(threshold) = clock.autojump_threshold() {
                match self.try_autojump(threshold, wait) {
                    Jump::NotIdle => {}
                    Jump::LookAgain => continue,
                    Jump::Return => {
                        self.fire_due();
                        return;
                    }
                }
            }
            match self.block(wait) {
                Woken::Internal if timeout.is_none() => continue,
                _ => {
                    self.fire_due();
                    return;
                }
            }
        }
    }

    fn unparker(&self) -> Arc<dyn Unpark> {
        Arc::new(RuntimeUnpark(self.shared.wakes.clone()))
    }

    /// Keeps the monitor (for autojump and `wait_all_tasks_blocked`) and passes it on to the
    /// inner park.
    fn attach(&mut self, monitor: &IdleMonitor) {
        monitor.set_on_idle(self.shared.wakes.clone());
        let _ = self.shared.monitor.set(monitor.clone());
        self.inner.attach(monitor);
    }

    fn shutdown(&mut self) {
        self.inner.shutdown();
        // Wakers hold tasks, and tasks hold the runtime: let go of them (outside the lock).
        let mut wakers = Vec::new();
        self.shared
            .wheel
            .lock()
            .clear_payloads(|waker| wakers.extend(waker.take()));
        drop(wakers);
    }
}

/// A clonable, `Send + Sync` handle to a runtime's timers: where [`TimerEntry`]s register and
/// what [`current_time`] reads. Get the current runtime's with [`TimerHandle::current`].
///
/// [`TimerEntry`]: crate::TimerEntry
/// [`current_time`]: crate::current_time
///
/// # Examples
///
/// ```
/// let rt = creche_timer::__doc_runtime();
/// let handle = rt.block_on(async { creche_timer::TimerHandle::current() });
/// assert_eq!(handle.now(), creche_timer::Instant::ZERO);
/// ```
#[derive(Clone)]
pub struct TimerHandle {
    pub(crate) shared: Arc<TimerShared>,
}

impl fmt::Debug for TimerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimerHandle")
            .field("clock", &self.shared.clock)
            .finish_non_exhaustive()
    }
}

pub(crate) const NO_TIMER: &str = "there is no creche timer here: call this from inside a \
    runtime built by creche (creche::run, creche::Builder, #[creche::main] or #[creche::test])";

impl TimerHandle {
    /// The timer handle of the runtime this thread is in.
    ///
    /// # Panics
    ///
    /// Outside a runtime, or in one built without a timer driver; see
    /// [`try_current`](TimerHandle::try_current).
    ///
    /// # Examples
    ///
    /// See [`TimerHandle`].
    pub fn current() -> TimerHandle {
        TimerHandle::try_current().expect(NO_TIMER)
    }

    /// The timer handle of the runtime this thread is in, if it has one.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(creche_timer::TimerHandle::try_current().is_none());
    /// ```
    pub fn try_current() -> Option<TimerHandle> {
        with_current(|handle| handle.cloned())
    }

    /// The current time on this runtime's clock.
    ///
    /// # Examples
    ///
    /// See [`TimerHandle`].
    pub fn now(&self) -> Instant {
        self.shared.clock.now()
    }

    /// The clock.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = creche_timer::__doc_runtime();
    /// let handle = rt.block_on(async { creche_timer::TimerHandle::current() });
    /// assert!(format!("{:?}", handle.clock()).contains("MockClock"));
    /// ```
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.shared.clock
    }
}

impl TimerShared {
    /// After a registration that needs the wheel advanced at `attention` (nanoseconds; under
    /// the wheel lock): keeps the hint low, and says whether the parked driver must look again.
    pub(crate) fn registered(&self, attention: u64) -> bool {
        self.next_hint.fetch_min(attention, SeqCst);
        attention < self.waiting_until.load(SeqCst)
    }

    /// The internal wake.
    pub(crate) fn wake_driver(&self) {
        self.wakes.unpark();
    }
}

/// Runs `f` with the current runtime's timer handle, without cloning it.
#[inline]
pub(crate) fn with_current<R>(f: impl FnOnce(Option<&TimerHandle>) -> R) -> R {
    creche_runtime::Handle::with_current_extension(f)
}
