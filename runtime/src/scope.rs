//! [`Scope`]: tasks that borrow from the caller's stack, spawned from synchronous code
//! ([`Runtime::scope`](crate::Runtime::scope), [`Handle::scope`](crate::Handle::scope)).
//!
//! Scoped tasks can have two of three things: run in parallel, borrow local data, be started
//! from async code. This module takes the corner `std::thread::scope` takes: the tasks run in
//! parallel on the workers and borrow anything that outlives `'env`, and the caller is
//! synchronous — `scope` blocks its thread until every task is gone. It is sound for the
//! reason std's is: the borrow checker proves that what the tasks borrow outlives the call, and
//! the call does not return, nor unwind, before the last task's future has been dropped.
//!
//! # Semantics
//!
//! - `scope(f)` calls `f(&scope)` on the calling thread. Tasks spawned on the scope (from `f`,
//!   or from inside other tasks of the scope through the `&Scope` they captured) start at once
//!   on the workers.
//! - `scope` returns only after every spawned task's future has been dropped (it completed,
//!   panicked or was cancelled by a runtime shutdown). The runtime may still be finishing its
//!   bookkeeping of a task then (publishing completion, waking a joiner), which touches nothing
//!   borrowed.
//! - If `f` panics, `scope` still waits for every task, then resumes `f`'s panic.
//! - Otherwise, if tasks panicked, `scope` resumes the first of those panics (in the order they
//!   happened) whose payload nobody took through the task's [`ScopedJoinHandle`]. A panic in
//!   the future's destructor, or in the destructor of an output that no handle can claim any
//!   more, counts as the task's panic. Dropping or leaking (`mem::forget`) a handle does not
//!   hide its task's panic from the scope.
//! - The caller waits in `block_on` (on a future that completes when the count of live tasks
//!   reaches zero), so it is counted as an active party of the runtime while it waits, like
//!   any `block_on` caller. While `f` runs it is a thread like any other.
//! - `scope` panics at once, before calling `f`, on a thread where `block_on` would panic (a
//!   worker, or inside `block_on`).
//! - `mem::forget` cannot skip the wait: it is the body of `scope`, not a guard the caller
//!   holds. Forgetting a `ScopedJoinHandle` leaks it (its output is never dropped); the task
//!   is still waited for.
//!
//! # Invariants (the `// SAFETY:` comment in `Scope::spawn` points here)
//!
//! - **S1**: `ScopeData::running` counts the spawned tasks whose [`ScopedTask`] has not been
//!   dropped. `spawn` increments it before the task exists; the decrement is the drop of
//!   `ScopedTask::running`, the field dropped last — after the user's future, and after an
//!   output that no handle can claim any more. Nothing else decrements it.
//! - **S2**: `scope` returns or unwinds only after loading zero from `running` with `Acquire`.
//!   Every decrement is a `Release` read-modify-write, so that load synchronises with all of
//!   them (a chain of read-modify-writes continues each one's release sequence): every access
//!   a task's future made to borrowed data happens before `scope` returns. The count cannot
//!   reach zero while a spawn is still to come: a spawner is `f` (which has returned when the
//!   wait begins) or a task of the scope, whose own unit is released after its spawn calls.
//! - **S3**: what a task can still touch after its `running` unit is released — the
//!   `ScopeData` (through its `Arc`, possibly the last one), its `JoinHandle<()>` — is `'static`.
//!   The task's output type is `()`; the real output goes to the [`Packet`], owned by the
//!   future and the handle.
//! - **S4**: lock order: a packet's lock, then `ScopeData::panicked`.

use crate::sync::{Arc, AtomicU64, AtomicUsize, Mutex, Ordering};
use crate::task::JoinHandle;
use crate::{Handle, JoinError, context};
use std::any::Any;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::task::{Context, Poll, Waker, ready};

type Payload = Box<dyn Any + Send + 'static>;

/// A scope to spawn tasks that borrow local data; see [`Runtime::scope`](crate::Runtime::scope).
///
/// `'env` is the lifetime of what the tasks may borrow: anything that outlives the call to
/// `scope`. `'scope` is the scope itself: tasks and their [`ScopedJoinHandle`]s live no longer.
/// Both are invariant, so neither can be stretched or shrunk to let a borrow escape.
///
/// # Examples
///
/// A task of the scope spawns another through the `&Scope` it captured:
///
/// ```
/// let rt = creche_runtime::Runtime::builder().worker_threads(2).build().unwrap();
/// let words = ["creche", "nursery", "scope"];
/// let letters = std::sync::atomic::AtomicUsize::new(0);
/// rt.scope(|s| {
///     for word in &words {
///         let letters = &letters;
///         s.spawn(async move {
///             s.spawn(async move {
///                 letters.fetch_add(word.len(), std::sync::atomic::Ordering::Relaxed);
///             });
///         });
///     }
/// });
/// assert_eq!(letters.into_inner(), 18);
/// ```
///
/// # What does not compile
///
/// A task may not borrow a variable that dies before the scope ends:
///
/// ```compile_fail,E0597
/// let rt = creche_runtime::Runtime::new().unwrap();
/// rt.scope(|s| {
///     let local = vec![1, 2, 3];
///     let borrowed = &local;
///     s.spawn(async move { borrowed.len() });
/// }); // `local` dies at the end of the closure, before the scope ends
/// ```
///
/// Neither the scope nor a handle may escape the closure:
///
/// ```compile_fail
/// let rt = creche_runtime::Runtime::new().unwrap();
/// let scope = rt.scope(|s| s);
/// ```
///
/// ```compile_fail
/// let rt = creche_runtime::Runtime::new().unwrap();
/// let handle = rt.scope(|s| s.spawn(async { 1 }));
/// handle.join().unwrap();
/// ```
///
/// The tasks run on other threads, so their futures must be `Send`:
///
/// ```compile_fail
/// let rt = creche_runtime::Runtime::new().unwrap();
/// rt.scope(|s| {
///     s.spawn(async {
///         let shared = std::rc::Rc::new(1);
///         creche_runtime::yield_now().await;
///         *shared
///     });
/// });
/// ```
///
/// A task may not mutate what another task (or `f`) reads meanwhile:
///
/// ```compile_fail,E0502
/// let rt = creche_runtime::Runtime::new().unwrap();
/// let mut data = vec![1, 2, 3];
/// rt.scope(|s| {
///     s.spawn(async { data.len() });
///     s.spawn(async { data.push(4) });
/// });
/// ```
///
/// ```compile_fail,E0502
/// let rt = creche_runtime::Runtime::new().unwrap();
/// let mut data = vec![1, 2, 3];
/// rt.scope(|s| {
///     s.spawn(async { data.len() });
///     data.push(4);
/// });
/// ```
pub struct Scope<'scope, 'env: 'scope> {
    handle: &'env Handle,
    data: Arc<ScopeData>,
    scope: PhantomData<&'scope mut &'scope ()>,
    env: PhantomData<&'env mut &'env ()>,
}

/// What the scope shares with its tasks. `'static` (S3): a task may drop the last reference.
struct ScopeData {
    /// Spawned tasks whose future has not been dropped yet (S1, S2).
    running: AtomicUsize,
    /// The waker of the thread waiting in `scope` for `running` to reach zero.
    waiter: Mutex<Option<Waker>>,
    /// Keys for `panicked`, one per spawn.
    next_key: AtomicU64,
    /// Tasks that panicked and whose panic nobody took through their handle yet, in the order
    /// they panicked.
    panicked: Mutex<Vec<Reported>>,
}

/// A task in `ScopeData::panicked`.
struct Reported {
    key: u64,
    /// The task's handle, whose output is the panic; `None` until `spawn` has stored it.
    join: Option<JoinHandle<()>>,
}

/// What the task and its [`ScopedJoinHandle`] share.
struct Packet<T> {
    state: Mutex<PacketState<T>>,
}

struct PacketState<T> {
    /// Where the task's `JoinHandle<()>` is.
    slot: Slot,
    /// The output, stored by the task before its future is dropped.
    value: Option<T>,
}

enum Slot {
    /// `spawn` has not stored the `JoinHandle` yet.
    Spawning,
    /// The packet holds it.
    Held(JoinHandle<()>),
    /// The task panicked: its `JoinHandle` is (or, once `spawn` stores it, will be) in
    /// `ScopeData::panicked` under the task's key, where both the handle and the scope find it.
    Reported,
    /// A join returned the task's result.
    Joined,
}

/// The future the runtime runs for a scoped task.
struct ScopedTask<'scope, F: Future> {
    /// The user's future: pinned in place (structurally) and dropped in place, by `Drop`.
    future: Option<F>,
    packet: Arc<Packet<F::Output>>,
    key: u64,
    /// The task's unit of `ScopeData::running`. Dropped last (S1): fields drop in declaration
    /// order, after `Drop::drop`, and even if that unwinds.
    running: Running,
    _scope: PhantomData<&'scope ()>,
}

/// One unit of `ScopeData::running`, released on drop.
struct Running(Arc<ScopeData>);

/// An owned permission to join a task of a [`Scope`]: [`join`](Self::join) blocks for its
/// output, `.await` (from another task of the scope) waits for it.
///
/// Dropping the handle detaches the task, which the scope still waits for; if it panics, the
/// scope resumes the panic.
///
/// # Examples
///
/// One task awaits another's handle:
///
/// ```
/// let rt = creche_runtime::Runtime::builder().worker_threads(2).build().unwrap();
/// let greeting = String::from("hello");
/// let doubled = rt.scope(|s| {
///     let length = s.spawn(async { greeting.len() });
///     let doubled = s.spawn(async move { length.await.unwrap() * 2 });
///     doubled.join().unwrap()
/// });
/// assert_eq!(doubled, 10);
/// ```
pub struct ScopedJoinHandle<'scope, T> {
    packet: Arc<Packet<T>>,
    key: u64,
    handle: &'scope Handle,
    data: &'scope ScopeData,
}

/// The body of [`Runtime::scope`](crate::Runtime::scope) and [`Handle::scope`].
pub(crate) fn scope<'env, F, R>(handle: &'env Handle, f: F) -> R
where
    F: for<'scope> FnOnce(&'scope Scope<'scope, 'env>) -> R,
{
    // Where `block_on` would panic, panic now, before a task exists: the wait below must not.
    if context::is_entered() {
        panic!(
            "Runtime::scope was called from inside a creche runtime (a task, or block_on): it \
             blocks the calling thread until the scope's tasks are done, which can deadlock \
             the runtime. Call it from a thread of your own or from spawn_blocking."
        );
    }
    let scope = Scope {
        handle,
        data: Arc::new(ScopeData {
            running: AtomicUsize::new(0),
            waiter: Mutex::new(None),
            next_key: AtomicU64::new(0),
            panicked: Mutex::new(Vec::new()),
        }),
        scope: PhantomData,
        env: PhantomData,
    };
    // The panic, if any, is resumed below: `f`'s state is not observed after it.
    let outcome = catch_unwind(AssertUnwindSafe(|| f(&scope)));
    scope.wait_all();
    match outcome {
        Err(payload) => resume_unwind(payload),
        Ok(value) => match scope.first_panic() {
            Some(payload) => resume_unwind(payload),
            None => value,
        },
    }
}

impl<'scope, 'env> Scope<'scope, 'env> {
    /// Spawns a task on the scope. It starts at once, in parallel with the caller, and may
    /// borrow anything that outlives the scope; the scope does not end before it does.
    ///
    /// # Examples
    ///
    /// Each task fills its own part of a local buffer:
    ///
    /// ```
    /// let rt = creche_runtime::Runtime::builder().worker_threads(2).build().unwrap();
    /// let mut pixels = vec![0_u8; 1024];
    /// rt.scope(|s| {
    ///     for (row, line) in pixels.chunks_mut(256).enumerate() {
    ///         s.spawn(async move { line.fill(row as u8) });
    ///     }
    /// });
    /// assert_eq!((pixels[0], pixels[300], pixels[1023]), (0, 1, 3));
    /// ```
    pub fn spawn<F>(&'scope self, future: F) -> ScopedJoinHandle<'scope, F::Output>
    where
        F: Future + Send + 'scope,
        F::Output: Send + 'scope,
    {
        let key = self.data.next_key.fetch_add(1, Ordering::Relaxed);
        let packet = Arc::new(Packet {
            state: Mutex::new(PacketState {
                slot: Slot::Spawning,
                value: None,
            }),
        });
        let task = ScopedTask {
            future: Some(future),
            packet: packet.clone(),
            key,
            running: Running::new(&self.data),
            _scope: PhantomData::<&'scope ()>,
        };
        let task: Pin<Box<dyn Future<Output = ()> + Send + 'scope>> = Box::pin(task);
        // Erasing the lifetime: only the trait object's lifetime bound changes, so the layout is
        // the same. The runtime asks for `'static` so that no task outlives what its future borrows; here
        // that is guaranteed by the module's invariants instead: the future holds a unit of
        // `running` that it releases only once dropped (S1), and `scope`, whose call `'scope`
        // and `'env` outlive, neither returns nor unwinds before `running` is zero (S2). What
        // the runtime still holds after that is `'static` (S3). This rests on no promise of the
        // runtime to stay alive or run the task: `&'env Runtime` keeps the runtime from being
        // dropped meanwhile, and if it shuts down anyway (a `Handle::scope` whose runtime is
        // dropped by another thread), shutdown drops every future, which releases its unit. A
        // future the runtime never drops (a worker thread dying, which it never does: every
        // call into user code is under `catch_unwind`) leaves `scope` waiting forever — a
        // hang, never an early return. `mem::forget` cannot skip the wait either: it is the
        // body of `scope`, not a value the caller holds.
        // SAFETY: S1–S3 as argued above: nothing the future borrows is used after `scope` ends.
        let task = unsafe {
            std::mem::transmute::<
                Pin<Box<dyn Future<Output = ()> + Send + 'scope>>,
                Pin<Box<dyn Future<Output = ()> + Send + 'static>>,
            >(task)
        };
        let join = self.handle.spawn(task);
        packet.store_join(join, key, &self.data);
        ScopedJoinHandle {
            packet,
            key,
            handle: self.handle,
            data: &self.data,
        }
    }

    /// Blocks until `running` is zero (S2).
    fn wait_all(&self) {
        let waited = catch_unwind(AssertUnwindSafe(|| {
            self.handle.block_on(AllDone(&self.data))
        }));
        if waited.is_err() {
            // `block_on` cannot panic here (`scope` checked that this thread may block before
            // calling `f`), but if it did, tasks could still borrow from the stack that an
            // unwind would free: stop the process rather than return.
            std::process::abort();
        }
    }

    /// The payload of the first reported panic nobody took; the others are dropped.
    fn first_panic(&self) -> Option<Payload> {
        let reported = std::mem::take(&mut *self.data.panicked.lock());
        // Every unit of `running` is released, so every `spawn` has stored its JoinHandle; the
        // tasks' completion may still be in flight, hence the block_on.
        reported
            .into_iter()
            .filter_map(|entry| entry.join)
            .find_map(|join| self.handle.block_on(join).err()?.try_into_panic().ok())
    }
}

impl fmt::Debug for Scope<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scope")
            .field("running", &self.data.running.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Running {
    fn new(data: &Arc<ScopeData>) -> Running {
        // Relaxed: the unit's spawner holds a unit of its own, or is `f` (S2).
        data.running.fetch_add(1, Ordering::Relaxed);
        Running(data.clone())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // Release: everything the task did happens before the waiter's Acquire load of zero.
        if self.0.running.fetch_sub(1, Ordering::Release) == 1 {
            let waiter = self.0.waiter.lock().take();
            if let Some(waker) = waiter {
                waker.wake();
            }
        }
    }
}

/// Completes once `running` is zero.
struct AllDone<'a>(&'a ScopeData);

impl Future for AllDone<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // The check is under the lock the last decrementer takes after its decrement: either
        // it finds our waker, or we see its decrement.
        let mut waiter = self.0.waiter.lock();
        if self.0.running.load(Ordering::Acquire) == 0 {
            return Poll::Ready(());
        }
        if !waiter.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            *waiter = Some(cx.waker().clone());
        }
        Poll::Pending
    }
}

impl<T> Packet<T> {
    /// `spawn` hands over the task's `JoinHandle`.
    fn store_join(&self, join: JoinHandle<()>, key: u64, data: &ScopeData) {
        let mut state = self.state.lock();
        match state.slot {
            Slot::Spawning => state.slot = Slot::Held(join),
            // The task panicked already and reported itself without its JoinHandle (S4).
            Slot::Reported => {
                let mut panicked = data.panicked.lock();
                if let Some(entry) = panicked.iter_mut().find(|entry| entry.key == key) {
                    entry.join = Some(join);
                }
            }
            Slot::Held(_) | Slot::Joined => unreachable!("a task's JoinHandle is stored once"),
        }
    }

    /// The task's future panicked (in `poll` or in its destructor): list its JoinHandle with
    /// the scope. Idempotent.
    fn report_panic(&self, key: u64, data: &ScopeData) {
        let mut state = self.state.lock();
        let join = match std::mem::replace(&mut state.slot, Slot::Reported) {
            Slot::Spawning => None,
            Slot::Held(join) => Some(join),
            // Already listed. (`Joined` comes after the task completes, so after its future is
            // dropped: it cannot be seen here; keep it anyway.)
            previous @ (Slot::Reported | Slot::Joined) => {
                state.slot = previous;
                return;
            }
        };
        data.panicked.lock().push(Reported { key, join });
    }
}

impl<F: Future> Future for ScopedTask<'_, F> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // SAFETY: `future` is pinned structurally: it is never moved out of the task (which is
        // itself pinned), and it is dropped in place, in `Drop::drop`; no other field is
        // pinned, and the task is `Unpin` only if `F` is.
        let (future, packet, key, running) = unsafe {
            let this = self.get_unchecked_mut();
            let future = this.future.as_mut().expect("polled after completion");
            (
                Pin::new_unchecked(future),
                &this.packet,
                this.key,
                &this.running,
            )
        };
        match catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
            Ok(Poll::Ready(value)) => {
                packet.state.lock().value = Some(value);
                Poll::Ready(())
            }
            Ok(Poll::Pending) => Poll::Pending,
            Err(payload) => {
                // Listed with the scope, then handed to the runtime unchanged: the task's
                // JoinHandle carries it, for the handle's join or for the scope.
                packet.report_panic(key, &running.0);
                resume_unwind(payload)
            }
        }
    }
}

impl<F: Future> Drop for ScopedTask<'_, F> {
    fn drop(&mut self) {
        // In place: the future is pinned (see `poll`).
        let mut panic = catch_unwind(AssertUnwindSafe(|| self.future = None)).err();
        // An output no handle can claim any more is dropped here, before `running` is released.
        if let Some(packet) = Arc::get_mut(&mut self.packet) {
            let value = packet.state.lock().value.take();
            if let Err(payload) = catch_unwind(AssertUnwindSafe(|| drop(value))) {
                panic.get_or_insert(payload);
            }
        }
        if let Some(payload) = panic {
            self.packet.report_panic(self.key, &self.running.0);
            // The runtime catches it and stores it as the task's panic; `running` is still
            // released, by the field drops that follow the unwind out of this function.
            resume_unwind(payload);
        }
    }
}

impl<T> ScopedJoinHandle<'_, T> {
    /// Blocks the calling thread until the task is done, and returns its output.
    ///
    /// # Errors
    ///
    /// A [`JoinError`] if the task panicked ([`JoinError::is_panic`]; the payload is then
    /// yours, and the scope does not resume it) or was cancelled because the runtime shut down
    /// (only through [`Handle::scope`], whose handle does not keep the runtime alive).
    ///
    /// # Panics
    ///
    /// Panics when called from inside a runtime (a task, or `block_on`), like
    /// [`Handle::block_on`]; `.await` the handle there instead.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = creche_runtime::Runtime::builder().worker_threads(2).build().unwrap();
    /// let (ok, failed) = rt.scope(|s| {
    ///     let ok = s.spawn(async { 7 });
    ///     let failed = s.spawn(async { panic!("boom") });
    ///     (ok.join(), failed.join())
    /// });
    /// assert_eq!(ok.unwrap(), 7);
    /// let payload = failed.unwrap_err().into_panic();
    /// assert_eq!(*payload.downcast::<&str>().unwrap(), "boom");
    /// ```
    pub fn join(self) -> Result<T, JoinError> {
        let handle = self.handle;
        handle.block_on(self)
    }

    /// Whether the task is done: its future has been dropped and its result can be read
    /// without waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = creche_runtime::Runtime::builder().worker_threads(1).build().unwrap();
    /// rt.scope(|s| {
    ///     let task = s.spawn(async {});
    ///     while !task.is_finished() {
    ///         std::thread::yield_now();
    ///     }
    /// });
    /// ```
    pub fn is_finished(&self) -> bool {
        let state = self.packet.state.lock();
        match &state.slot {
            Slot::Held(join) => join.is_finished(),
            Slot::Reported => self
                .data
                .panicked
                .lock()
                .iter()
                .find(|entry| entry.key == self.key)
                .and_then(|entry| entry.join.as_ref())
                .is_some_and(JoinHandle::is_finished),
            Slot::Joined => true,
            Slot::Spawning => false,
        }
    }
}

impl<T> Future for ScopedJoinHandle<'_, T> {
    type Output = Result<T, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let mut state = this.packet.state.lock();
        let result = match &mut state.slot {
            Slot::Held(join) => ready!(Pin::new(join).poll(cx)),
            Slot::Reported => {
                // S4: the packet's lock, then the scope's.
                let mut panicked = this.data.panicked.lock();
                let index = panicked
                    .iter()
                    .position(|entry| entry.key == this.key)
                    .expect("a reported task stays listed until its handle or the scope joins it");
                let join = panicked[index]
                    .join
                    .as_mut()
                    .expect("spawn stores the JoinHandle before it returns the handle");
                let result = ready!(Pin::new(join).poll(cx));
                // Observed: the scope will not resume this panic.
                panicked.remove(index);
                result
            }
            Slot::Spawning => unreachable!("spawn stores the JoinHandle before it returns"),
            Slot::Joined => panic!("a ScopedJoinHandle was polled again after it returned"),
        };
        state.slot = Slot::Joined;
        Poll::Ready(result.map(|()| {
            state
                .value
                .take()
                .expect("a task that returned stored its output first")
        }))
    }
}

impl<T> fmt::Debug for ScopedJoinHandle<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopedJoinHandle")
            .field("finished", &self.is_finished())
            .finish_non_exhaustive()
    }
}
