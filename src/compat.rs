//! Running futures of other runtimes inside creche: [`tokio`](fn@tokio) (with the `tokio`
//! feature).
//!
//! Many crates need a tokio runtime around them: a tokio socket registers with tokio's I/O
//! driver, `tokio::time::sleep` with tokio's timer, and both find the driver through tokio's
//! thread-local context. `compat::tokio(fut)` gives them one, the way Trio lets asyncio
//! libraries run inside Trio:
//!
//! - One tokio runtime per process, started on first use and never shut down: a
//!   multi-thread runtime with one worker thread (`creche-tokio`), which parks on tokio's I/O
//!   and time drivers and so drives them. Nothing else runs on it.
//! - The future itself runs in the creche task that awaits `compat::tokio(fut)`: each poll (and
//!   the final drop) happens with that runtime's context entered on the creche worker thread.
//!   So `tokio::spawn` inside puts a task on the shared runtime, and tokio's resources wake the
//!   creche task through its ordinary waker when the driver thread sees them ready.
//! - Cancellation is by drop, as everywhere in creche: `compat::tokio` is a cancellation point
//!   (a poll in a cancelled scope returns `Pending`, and the scope drops it), and dropping it
//!   drops the tokio future, inside the tokio context, on the creche thread. The future is
//!   boxed, so the drop needs no unsafe pin projection.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};

static RUNTIME: OnceLock<::tokio::runtime::Runtime> = OnceLock::new();

/// The shared tokio runtime, started on first use.
fn runtime() -> &'static ::tokio::runtime::Runtime {
    RUNTIME.get_or_init(|| {
        match ::tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("creche-tokio")
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime,
            Err(e) => panic!("creche::compat::tokio could not start the tokio runtime: {e}"),
        }
    })
}

/// Runs `future` inside creche with a tokio runtime around it, so that tokio sockets,
/// `tokio::time` and the crates built on them work. Await it from a creche task; cancelling
/// the creche scope around it drops `future`. See the [module documentation](self).
///
/// Only the polls (and the drop) of `future` are inside tokio's context, not its creation:
/// a function that needs the context as soon as it is called, such as `tokio::time::sleep`,
/// goes inside an `async` block, `compat::tokio(async { sleep(d).await })`.
///
/// # Panics
///
/// At the first poll, if the shared tokio runtime cannot start (the operating system refused
/// its thread or its I/O driver).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// creche::run(async {
///     // tokio's own timer: needs a tokio runtime, which compat::tokio provides.
///     creche::compat::tokio(async { tokio::time::sleep(Duration::from_millis(1)).await }).await;
///     let moved_on = creche::move_on_after(
///         Duration::from_millis(1),
///         creche::compat::tokio(std::future::pending::<()>()),
///     )
///     .await;
///     assert_eq!(moved_on, None); // cancelled by creche: the tokio future was dropped
/// });
/// ```
pub fn tokio<F: Future>(future: F) -> Tokio<F> {
    Tokio {
        future: Some(Box::pin(future)),
    }
}

/// The future of [`compat::tokio`](fn@tokio).
#[must_use = "futures do nothing unless awaited"]
pub struct Tokio<F> {
    /// `None` once it completed.
    future: Option<Pin<Box<F>>>,
}

impl<F> fmt::Debug for Tokio<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tokio")
            .field("done", &self.future.is_none())
            .finish_non_exhaustive()
    }
}

impl<F: Future> Future for Tokio<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        if creche_runtime::cancel::is_cancelled() {
            return Poll::Pending; // the cancelled scope wakes the task and drops us
        }
        let future = self
            .future
            .as_mut()
            .expect("compat::tokio polled after it completed");
        let output = {
            let _context = runtime().enter();
            std::task::ready!(future.as_mut().poll(cx))
        };
        // Dropped where it completed: in the context, like every other drop of it.
        let finished = self.future.take();
        let _context = runtime().enter();
        drop(finished);
        Poll::Ready(output)
    }
}

impl<F> Drop for Tokio<F> {
    fn drop(&mut self) {
        if let Some(future) = self.future.take() {
            // A tokio resource may need its runtime to deregister from the driver.
            let _context = RUNTIME.get().map(|runtime| runtime.enter());
            drop(future);
        }
    }
}
