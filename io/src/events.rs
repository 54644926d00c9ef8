//! The io event hook: how creche-io tells the program about trouble it handles by itself.
//!
//! Today there is one event, [`IoEvent::AcceptBackoff`]: `serve_tcp`'s accept failed for lack
//! of resources (too many open files, out of buffers or memory), so it sleeps and tries again
//! instead of dying or spinning. A program that wants these in its own log installs a hook with
//! [`set_io_event_hook`]; without one, each event is written to stderr as one line.
//!
//! The hook is process-wide (like `creche::lowlevel::set_failure_hook`, which is for task
//! failures; these are not task failures, so they get their own hook). It is called on the
//! thread of the task that met the event, inside the runtime (so `current_time()` works in it),
//! and must not block.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Something creche-io handled by itself and reports through the hook.
///
/// # Examples
///
/// ```
/// use creche_io::IoEvent;
/// use std::{io, time::Duration};
/// let error = io::Error::from_raw_os_error(24); // EMFILE on Linux
/// let event = IoEvent::AcceptBackoff {
///     local_addr: Some("0.0.0.0:8080".parse().unwrap()),
///     error: &error,
///     retry_in: Duration::from_millis(100),
/// };
/// assert!(event.to_string().starts_with("accept on 0.0.0.0:8080 failed: "));
/// assert!(event.to_string().ends_with("; retrying in 100ms"));
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum IoEvent<'a> {
    /// An accept failed for lack of resources (`EMFILE`, `ENFILE`, `ENOBUFS`, `ENOMEM`): the
    /// accept loop sleeps `retry_in`, then accepts again. The pending connection stays in the
    /// listener's backlog meanwhile.
    AcceptBackoff {
        /// The listener's address, if it could be read.
        local_addr: Option<SocketAddr>,
        /// The accept's error.
        error: &'a io::Error,
        /// How long the accept loop sleeps before it tries again.
        retry_in: Duration,
    },
}

impl fmt::Display for IoEvent<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IoEvent::AcceptBackoff {
                local_addr,
                error,
                retry_in,
            } => {
                match local_addr {
                    Some(addr) => write!(f, "accept on {addr} failed: ")?,
                    None => write!(f, "accept failed: ")?,
                }
                write!(f, "{error}; retrying in {retry_in:?}")
            }
        }
    }
}

/// An io event hook, as installed by [`set_io_event_hook`].
pub type IoEventHook = Arc<dyn Fn(&IoEvent<'_>) + Send + Sync>;

static HOOK: RwLock<Option<IoEventHook>> = RwLock::new(None);

/// Installs a process-wide hook that receives every [`IoEvent`] (replacing the default, which
/// writes each event to stderr as one line starting `creche: `), or with `None` goes back to
/// the default. Returns the previous hook.
///
/// # Examples
///
/// ```
/// use creche_io::{IoEvent, set_io_event_hook};
/// use std::sync::{Arc, Mutex};
///
/// let log = Arc::new(Mutex::new(Vec::new()));
/// let sink = log.clone();
/// let previous = set_io_event_hook(Some(Arc::new(move |event: &IoEvent<'_>| {
///     sink.lock().unwrap().push(event.to_string());
/// })));
/// // ... serve_tcp runs; an accept that hits EMFILE appears in `log` ...
/// set_io_event_hook(previous);
/// ```
pub fn set_io_event_hook(hook: Option<IoEventHook>) -> Option<IoEventHook> {
    let mut slot = HOOK.write().unwrap_or_else(|e| e.into_inner());
    std::mem::replace(&mut *slot, hook)
}

/// Sends `event` to the hook, or to stderr without one.
pub(crate) fn emit(event: &IoEvent<'_>) {
    let hook = HOOK.read().unwrap_or_else(|e| e.into_inner()).clone();
    match hook {
        Some(hook) => hook(event),
        None => eprintln!("creche: {event}"),
    }
}
