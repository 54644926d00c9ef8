//! [`Builder`]: configuring and starting a runtime.

use crate::blocking::BlockingPool;
use crate::park::Park;
use crate::scheduler::parker::DriverSlot;
use crate::scheduler::queue::Worker;
use crate::scheduler::{Shared, worker};
use crate::sync::{Arc, thread};
use crate::{Handle, Runtime};
use std::fmt;
use std::io;

type Hook = std::sync::Arc<dyn Fn() + Send + Sync + 'static>;

/// Settings shared by every thread the runtime starts.
pub(crate) struct ThreadConfig {
    name: String,
    stack_size: Option<usize>,
    on_start: Option<Hook>,
    on_stop: Option<Hook>,
}

/// Starts a runtime thread with the configured name, stack size and hooks.
pub(crate) fn spawn_thread(
    config: &ThreadConfig,
    kind: &str,
    body: impl FnOnce() + Send + 'static,
) -> io::Result<thread::JoinHandle<()>> {
    let mut builder = thread::Builder::new().name(format!("{}-{kind}", config.name));
    if let Some(size) = config.stack_size {
        builder = builder.stack_size(size);
    }
    let on_start = config.on_start.clone();
    let on_stop = config.on_stop.clone();
    builder.spawn(move || {
        if let Some(hook) = &on_start {
            hook();
        }
        struct Stop(Option<Hook>);
        impl Drop for Stop {
            fn drop(&mut self) {
                if let Some(hook) = &self.0 {
                    hook();
                }
            }
        }
        let _stop = Stop(on_stop);
        body();
    })
}

/// Why a runtime could not be built.
///
/// # Examples
///
/// ```
/// let err = creche_runtime::Runtime::builder().worker_threads(0).build().unwrap_err();
/// assert!(err.to_string().contains("worker_threads"));
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum BuildError {
    /// `worker_threads(0)`: a runtime needs at least one worker.
    ZeroWorkerThreads,
    /// `max_blocking_threads(0)`: `spawn_blocking` could never run anything.
    ZeroBlockingThreads,
    /// The operating system refused to start a thread.
    Spawn(io::Error),
    /// A driver could not be created (the I/O driver's poller, in the facade).
    Driver(io::Error),
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::ZeroWorkerThreads => write!(f, "worker_threads must be at least 1"),
            BuildError::ZeroBlockingThreads => write!(f, "max_blocking_threads must be at least 1"),
            BuildError::Spawn(e) => write!(f, "could not start a runtime thread: {e}"),
            BuildError::Driver(e) => write!(f, "could not create a runtime driver: {e}"),
        }
    }
}

impl std::error::Error for BuildError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BuildError::Spawn(e) | BuildError::Driver(e) => Some(e),
            _ => None,
        }
    }
}

impl From<BuildError> for io::Error {
    fn from(error: BuildError) -> io::Error {
        match error {
            BuildError::Spawn(e) | BuildError::Driver(e) => e,
            other => io::Error::new(io::ErrorKind::InvalidInput, other),
        }
    }
}

/// Configures a [`Runtime`].
///
/// # Examples
///
/// ```
/// let rt = creche_runtime::Runtime::builder()
///     .worker_threads(2)
///     .thread_name("my-app")
///     .max_blocking_threads(16)
///     .build()
///     .unwrap();
/// assert_eq!(rt.block_on(async { 1 + 1 }), 2);
/// ```
pub struct Builder {
    worker_threads: Option<usize>,
    max_blocking_threads: usize,
    keep_alive: std::time::Duration,
    thread_name: String,
    stack_size: Option<usize>,
    on_start: Option<Hook>,
    on_stop: Option<Hook>,
    park: Option<Box<dyn Park>>,
    extensions: Vec<Extension>,
    chaos: Option<u64>,
}

/// A value installed with [`Builder::extension`].
pub(crate) type Extension = Box<dyn std::any::Any + Send + Sync>;

impl Default for Builder {
    fn default() -> Self {
        Builder::new()
    }
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("worker_threads", &self.worker_threads)
            .field("max_blocking_threads", &self.max_blocking_threads)
            .field("thread_keep_alive", &self.keep_alive)
            .field("thread_name", &self.thread_name)
            .field("thread_stack_size", &self.stack_size)
            .field("park", &self.park.as_ref().map(|_| "custom"))
            .field("chaos", &self.chaos)
            .finish_non_exhaustive()
    }
}

impl Builder {
    /// Default settings: one worker per core, up to 512 blocking threads, no driver.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = creche_runtime::Builder::new().build().unwrap();
    /// rt.block_on(async {});
    /// ```
    pub fn new() -> Builder {
        Builder {
            worker_threads: None,
            max_blocking_threads: 512,
            keep_alive: crate::blocking::DEFAULT_KEEP_ALIVE,
            thread_name: "creche".to_owned(),
            stack_size: None,
            on_start: None,
            on_stop: None,
            park: None,
            extensions: Vec::new(),
            chaos: None,
        }
    }

    /// Number of worker threads (default: `std::thread::available_parallelism()`).
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = creche_runtime::Runtime::builder().worker_threads(1).build().unwrap();
    /// assert_eq!(rt.handle().num_workers(), 1);
    /// ```
    pub fn worker_threads(mut self, count: usize) -> Builder {
        self.worker_threads = Some(count);
        self
    }

    /// Upper bound on the threads of the blocking pool (default 512).
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = creche_runtime::Runtime::builder().max_blocking_threads(2).build().unwrap();
    /// assert_eq!(rt.block_on(rt.spawn_blocking(|| 5)).unwrap(), 5);
    /// ```
    pub fn max_blocking_threads(mut self, count: usize) -> Builder {
        self.max_blocking_threads = count;
        self
    }

    /// How long an idle blocking-pool thread waits for work before it exits (default 10 s).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let rt = creche_runtime::Runtime::builder()
    ///     .thread_keep_alive(Duration::from_millis(100))
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(rt.block_on(rt.spawn_blocking(|| 1)).unwrap(), 1);
    /// ```
    pub fn thread_keep_alive(mut self, duration: std::time::Duration) -> Builder {
        self.keep_alive = duration;
        self
    }

    /// Prefix of the names of the runtime's threads (`<name>-worker-<i>`, `<name>-blocking`).
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = creche_runtime::Runtime::builder().thread_name("app").build().unwrap();
    /// let name = rt.block_on(rt.spawn(async {
    ///     std::thread::current().name().unwrap().to_owned()
    /// }));
    /// assert!(name.unwrap().starts_with("app-worker"));
    /// ```
    pub fn thread_name(mut self, name: impl Into<String>) -> Builder {
        self.thread_name = name.into();
        self
    }

    /// Stack size of the runtime's threads, in bytes (default: the platform's).
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = creche_runtime::Runtime::builder().thread_stack_size(4 << 20).build().unwrap();
    /// rt.block_on(async {});
    /// ```
    pub fn thread_stack_size(mut self, bytes: usize) -> Builder {
        self.stack_size = Some(bytes);
        self
    }

    /// Runs `hook` on each runtime thread (worker or blocking) when it starts.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// let started = Arc::new(AtomicUsize::new(0));
    /// let counter = started.clone();
    /// let rt = creche_runtime::Runtime::builder()
    ///     .worker_threads(2)
    ///     .on_thread_start(move || { counter.fetch_add(1, Ordering::SeqCst); })
    ///     .build()
    ///     .unwrap();
    /// drop(rt);
    /// assert_eq!(started.load(Ordering::SeqCst), 2);
    /// ```
    pub fn on_thread_start(mut self, hook: impl Fn() + Send + Sync + 'static) -> Builder {
        self.on_start = Some(std::sync::Arc::new(hook));
        self
    }

    /// Runs `hook` on each runtime thread just before it exits.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// let stopped = Arc::new(AtomicUsize::new(0));
    /// let counter = stopped.clone();
    /// let rt = creche_runtime::Runtime::builder()
    ///     .worker_threads(2)
    ///     .on_thread_stop(move || { counter.fetch_add(1, Ordering::SeqCst); })
    ///     .build()
    ///     .unwrap();
    /// drop(rt); // joins the workers
    /// assert_eq!(stopped.load(Ordering::SeqCst), 2);
    /// ```
    pub fn on_thread_stop(mut self, hook: impl Fn() + Send + Sync + 'static) -> Builder {
        self.on_stop = Some(std::sync::Arc::new(hook));
        self
    }

    /// Installs a driver (timers, I/O): one idle thread at a time blocks in it. Without one,
    /// idle workers sleep on condition variables. See [`Park`].
    ///
    /// # Examples
    ///
    /// See the [`park`](crate::park) module.
    pub fn park(mut self, driver: impl Park) -> Builder {
        self.park = Some(Box::new(driver));
        self
    }

    /// Attaches a value to the runtime, one per type (a later one replaces an earlier one), for
    /// the crates layered on top: the timer crate finds its driver's handle this way. Read it
    /// back with [`Handle::extension`](crate::Handle::extension) or
    /// [`Handle::with_current_extension`](crate::Handle::with_current_extension).
    ///
    /// # Examples
    ///
    /// ```
    /// #[derive(Debug, PartialEq)]
    /// struct Config { greeting: &'static str }
    ///
    /// let rt = creche_runtime::Runtime::builder()
    ///     .extension(Config { greeting: "hello" })
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(rt.handle().extension::<Config>().unwrap().greeting, "hello");
    /// let greeting = rt.block_on(async {
    ///     creche_runtime::Handle::with_current_extension(|c: Option<&Config>| c.unwrap().greeting)
    /// });
    /// assert_eq!(greeting, "hello");
    /// ```
    pub fn extension<T: std::any::Any + Send + Sync>(mut self, value: T) -> Builder {
        self.extensions.retain(|e| !e.is::<T>());
        self.extensions.push(Box::new(value));
        self
    }

    /// Chaos mode, for tests: the order in which each worker runs its runnable tasks, and the
    /// order in which it visits steal victims, are drawn from a generator seeded with `seed`
    /// (the LIFO slot is off). A race that needs an unlucky order then shows up under some
    /// seed, and the same seed reproduces the same choices (on one worker, the same order; on
    /// several, the threads' timing still varies). `#[creche::test(chaos)]` takes the seed from
    /// `CRECHE_SEED` or draws one, and prints it when the test fails. Off by default; off, it
    /// costs a branch per task picked.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = creche_runtime::Runtime::builder().worker_threads(1).chaos(7).build().unwrap();
    /// assert_eq!(rt.handle().chaos_seed(), Some(7));
    /// let order = rt.block_on(rt.spawn(async {
    ///     let order = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    ///     let tasks: Vec<_> = (0..8)
    ///         .map(|i| {
    ///             let order = order.clone();
    ///             creche_runtime::spawn(async move { order.lock().unwrap().push(i) })
    ///         })
    ///         .collect();
    ///     for task in tasks {
    ///         task.await.unwrap();
    ///     }
    ///     std::sync::Arc::into_inner(order).unwrap().into_inner().unwrap()
    /// }));
    /// assert_eq!(order.unwrap().len(), 8); // some permutation of 0..8, fixed by the seed
    /// ```
    pub fn chaos(mut self, seed: u64) -> Builder {
        self.chaos = Some(seed);
        self
    }

    /// Starts the worker threads.
    ///
    /// # Errors
    ///
    /// [`BuildError::ZeroWorkerThreads`] / [`BuildError::ZeroBlockingThreads`] for a count of
    /// zero, [`BuildError::Spawn`] if a thread cannot be started.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = creche_runtime::Runtime::builder().build().unwrap();
    /// assert_eq!(rt.block_on(async { "ok" }), "ok");
    /// ```
    pub fn build(self) -> Result<Runtime, BuildError> {
        let workers = match self.worker_threads {
            Some(0) => return Err(BuildError::ZeroWorkerThreads),
            Some(n) => n,
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        };
        if self.max_blocking_threads == 0 {
            return Err(BuildError::ZeroBlockingThreads);
        }
        let config = Arc::new(ThreadConfig {
            name: self.thread_name,
            stack_size: self.stack_size,
            on_start: self.on_start,
            on_stop: self.on_stop,
        });
        let locals: Vec<Worker<_>> = (0..workers).map(|_| Worker::new_fifo()).collect();
        let stealers = locals.iter().map(Worker::stealer).collect();
        let driver = self
            .park
            .map(|park| Arc::new(DriverSlot::new(park, workers)));
        if let Some(slot) = &driver {
            slot.attach();
        }
        let blocking = BlockingPool::new(
            self.max_blocking_threads,
            self.keep_alive,
            config.clone(),
            driver.as_ref().map(|slot| slot.activity.clone()),
        );
        let handle = Handle::from_shared(Arc::new(Shared::new(
            stealers,
            driver,
            blocking,
            self.extensions,
            self.chaos,
        )));

        let mut threads = Vec::with_capacity(workers);
        for (index, local) in locals.into_iter().enumerate() {
            let core = Box::new(worker::Core::new(index, local, self.chaos));
            let worker_handle = handle.clone();
            let kind = format!("worker-{index}");
            match spawn_thread(&config, &kind, move || worker::run(worker_handle, core)) {
                Ok(thread) => threads.push(thread),
                Err(e) => {
                    // Stop what was started, then report.
                    drop(Runtime::from_parts(handle, threads));
                    return Err(BuildError::Spawn(e));
                }
            }
        }
        Ok(Runtime::from_parts(handle, threads))
    }
}
