//! The facade's [`Builder`] and [`Runtime`]: the runtime with its drivers composed, the
//! [`TimerDriver`](creche_timer::TimerDriver) over the [`IoDriver`] (whose
//! [`IoHandle`](creche_io::IoHandle) is installed as a runtime extension, for the sockets).

use creche_io::IoDriver;
use creche_runtime::BuildError;
use creche_timer::{Clock, SystemClock};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// Configures and builds a [`Runtime`]: the executor's settings plus the clock.
///
/// # Examples
///
/// ```
/// use creche::time::{sleep, MockClock};
/// use std::time::Duration;
///
/// let rt = creche::Builder::new()
///     .worker_threads(2)
///     .clock(MockClock::autojump())
///     .build()
///     .unwrap();
/// rt.block_on(async { sleep(Duration::from_secs(3600)).await }); // at once: virtual time
/// ```
pub struct Builder {
    runtime: creche_runtime::Builder,
    clock: Option<Arc<dyn Clock>>,
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("runtime", &self.runtime)
            .field("clock", &self.clock)
            .finish()
    }
}

impl Default for Builder {
    fn default() -> Self {
        Builder::new()
    }
}

impl Builder {
    /// The defaults: one worker per core, the [`SystemClock`].
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = creche::Builder::new().build().unwrap();
    /// assert_eq!(rt.block_on(async { 1 }), 1);
    /// ```
    pub fn new() -> Builder {
        Builder {
            runtime: creche_runtime::Builder::new(),
            clock: None,
        }
    }

    /// The clock that timers and [`current_time`](crate::time::current_time) read: a
    /// [`MockClock`](crate::time::MockClock) for tests, the [`SystemClock`] by default.
    ///
    /// # Examples
    ///
    /// ```
    /// use creche::time::{current_time, Instant, MockClock};
    /// let rt = creche::Builder::new().clock(MockClock::new()).build().unwrap();
    /// assert_eq!(rt.block_on(async { current_time() }), Instant::ZERO);
    /// ```
    pub fn clock(mut self, clock: impl Clock) -> Builder {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// Number of worker threads; see [`creche_runtime::Builder::worker_threads`].
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = creche::Builder::new().worker_threads(3).build().unwrap();
    /// assert_eq!(rt.handle().num_workers(), 3);
    /// ```
    pub fn worker_threads(self, count: usize) -> Builder {
        self.map(|b| b.worker_threads(count))
    }

    /// Cap on blocking threads; see [`creche_runtime::Builder::max_blocking_threads`].
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = creche::Builder::new().max_blocking_threads(4).build().unwrap();
    /// assert_eq!(rt.block_on(async { creche::spawn_blocking(|| 2).await.unwrap() }), 2);
    /// ```
    pub fn max_blocking_threads(self, count: usize) -> Builder {
        self.map(|b| b.max_blocking_threads(count))
    }

    /// How long an idle blocking thread lives; see
    /// [`creche_runtime::Builder::thread_keep_alive`].
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = creche::Builder::new()
    ///     .thread_keep_alive(std::time::Duration::from_secs(1))
    ///     .build()
    ///     .unwrap();
    /// # drop(rt);
    /// ```
    pub fn thread_keep_alive(self, duration: Duration) -> Builder {
        self.map(|b| b.thread_keep_alive(duration))
    }

    /// Prefix of thread names; see [`creche_runtime::Builder::thread_name`].
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = creche::Builder::new().thread_name("app").build().unwrap();
    /// let name = rt.block_on(async {
    ///     creche::spawn(async { std::thread::current().name().unwrap().to_owned() }).await
    /// });
    /// assert!(name.unwrap().starts_with("app"));
    /// ```
    pub fn thread_name(self, name: impl Into<String>) -> Builder {
        let name = name.into();
        self.map(|b| b.thread_name(name))
    }

    /// Stack size of every thread; see [`creche_runtime::Builder::thread_stack_size`].
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = creche::Builder::new().thread_stack_size(4 << 20).build().unwrap();
    /// # drop(rt);
    /// ```
    pub fn thread_stack_size(self, bytes: usize) -> Builder {
        self.map(|b| b.thread_stack_size(bytes))
    }

    /// Runs on every thread the runtime starts; see
    /// [`creche_runtime::Builder::on_thread_start`].
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = creche::Builder::new().on_thread_start(|| {}).build().unwrap();
    /// # drop(rt);
    /// ```
    pub fn on_thread_start(self, hook: impl Fn() + Send + Sync + 'static) -> Builder {
        self.map(|b| b.on_thread_start(hook))
    }

    /// Runs on every thread the runtime starts, as it stops; see
    /// [`creche_runtime::Builder::on_thread_stop`].
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = creche::Builder::new().on_thread_stop(|| {}).build().unwrap();
    /// # drop(rt);
    /// ```
    pub fn on_thread_stop(self, hook: impl Fn() + Send + Sync + 'static) -> Builder {
        self.map(|b| b.on_thread_stop(hook))
    }

    /// Chaos mode for tests: the order of runnable tasks and of steal victims is drawn from
    /// `seed`; see [`creche_runtime::Builder::chaos`]. `#[creche::test(chaos)]` sets it from
    /// `CRECHE_SEED` (or a random seed) and prints the seed when the test fails.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = creche::Builder::new().worker_threads(1).chaos(3).build().unwrap();
    /// assert_eq!(rt.handle().chaos_seed(), Some(3));
    /// assert_eq!(rt.block_on(async { creche::spawn(async { 1 }).await.unwrap() }), 1);
    /// ```
    pub fn chaos(self, seed: u64) -> Builder {
        self.map(|b| b.chaos(seed))
    }

    fn map(self, f: impl FnOnce(creche_runtime::Builder) -> creche_runtime::Builder) -> Builder {
        Builder {
            runtime: f(self.runtime),
            clock: self.clock,
        }
    }

    /// Starts the runtime with its drivers.
    ///
    /// # Errors
    ///
    /// What [`creche_runtime::Builder::build`] returns for bad settings or a thread that
    /// cannot start; [`BuildError::Driver`] if the I/O driver's poller cannot be created.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = creche::Builder::new().worker_threads(0).build().unwrap_err();
    /// assert!(matches!(err, creche::BuildError::ZeroWorkerThreads));
    /// ```
    pub fn build(self) -> Result<Runtime, BuildError> {
        let clock = self.clock.unwrap_or_else(|| Arc::new(SystemClock));
        let io = IoDriver::new().map_err(BuildError::Driver)?;
        // Each runtime has its own default thread limiter (tests of one binary run in parallel).
        let runtime = self
            .runtime
            .extension(io.handle())
            .extension(creche_nursery::thread::DefaultThreadLimiter::default());
        let inner = creche_timer::build_runtime_with_park(runtime, io, clock)?;
        Ok(Runtime { inner })
    }
}

/// A creche runtime with its drivers: the executor ([`creche_runtime::Runtime`], whose
/// methods — `block_on`, `spawn`, `spawn_blocking`, `handle` — it dereferences to) and time.
///
/// Dropping it shuts it down: tasks still alive are cancelled and their futures dropped.
///
/// # Examples
///
/// ```
/// let rt = creche::Runtime::new().unwrap();
/// let doubled = rt.block_on(async { creche::spawn(async { 21 * 2 }).await.unwrap() });
/// assert_eq!(doubled, 42);
/// ```
#[derive(Debug)]
pub struct Runtime {
    inner: creche_runtime::Runtime,
}

impl Runtime {
    /// A runtime with the default settings (one worker per core, the system clock).
    ///
    /// # Errors
    ///
    /// [`BuildError::Spawn`] if a thread cannot be started.
    ///
    /// # Examples
    ///
    /// See [`Runtime`].
    pub fn new() -> Result<Runtime, BuildError> {
        Builder::new().build()
    }

    /// A [`Builder`] with the default settings.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = creche::Runtime::builder().worker_threads(1).build().unwrap();
    /// assert_eq!(rt.handle().num_workers(), 1);
    /// ```
    pub fn builder() -> Builder {
        Builder::new()
    }

    /// The executor alone.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt: creche_runtime::Runtime = creche::Runtime::new().unwrap().into_inner();
    /// assert_eq!(rt.block_on(async { 3 }), 3);
    /// ```
    pub fn into_inner(self) -> creche_runtime::Runtime {
        self.inner
    }
}

impl std::ops::Deref for Runtime {
    type Target = creche_runtime::Runtime;

    fn deref(&self) -> &creche_runtime::Runtime {
        &self.inner
    }
}
