//! Failure reports: where a child's error or panic came from, and what happened to it.
//!
//! Every failure recorded by a nursery produces one [`FailureReport`] naming the task (its name
//! and spawn site), what failed (an error or a panic), and its fate: propagated (the first
//! failure, returned or resumed by `open_nursery`), suppressed (a later one: first failure
//! wins), or lost (the nursery was dropped from outside before it could return it). Dropping an
//! open nursery from outside is itself reported ([`FailureKind::DroppedOpen`]). A hook set
//! with [`set_failure_hook`] receives them; without one, suppressed and lost failures and
//! propagated panics are written to stderr, one line each.

use std::fmt;
use std::panic::Location;
use std::sync::{Arc, RwLock};

/// Who failed: a task's name and spawn site, or a nursery's body.
#[derive(Clone, Debug)]
pub struct Origin {
    pub(crate) name: Option<Arc<str>>,
    pub(crate) site: &'static Location<'static>,
    pub(crate) body: bool,
}

impl Origin {
    /// The task's name, if it was spawned with one.
    ///
    /// # Examples
    ///
    /// See [`set_failure_hook`].
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Where the task was spawned (or the nursery opened, for its body).
    ///
    /// # Examples
    ///
    /// See [`set_failure_hook`].
    pub fn site(&self) -> &'static Location<'static> {
        self.site
    }

    /// Whether the failure came from a nursery's body rather than a child.
    ///
    /// # Examples
    ///
    /// See [`set_failure_hook`].
    pub fn is_body(&self) -> bool {
        self.body
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.name, self.body) {
            (_, true) => write!(f, "the body of the nursery opened at {}", self.site),
            (Some(name), false) => write!(f, "task `{name}` spawned at {}", self.site),
            (None, false) => write!(f, "task spawned at {}", self.site),
        }
    }
}

/// What failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureKind {
    /// The future returned `Err`.
    Error,
    /// The future panicked (while polled or dropped).
    Panic,
    /// Not a failure of a task: an open nursery's future was dropped from outside (a foreign
    /// `select!`), so its children were cancelled without being waited for. Reported with
    /// [`Fate::Lost`] and the nursery's body as origin.
    DroppedOpen,
}

/// What happened to a failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    /// The first failure of its nursery: cancels the nursery and is returned (an error) or
    /// resumed (a panic) by `open_nursery`.
    Propagated,
    /// A later failure of a nursery that had one already (first failure wins), or an error
    /// outranked by a panic.
    Suppressed,
    /// The nursery was dropped from outside (by a foreign `select!`) with the failure pending.
    Lost,
}

/// One failure, as handed to the hook.
#[derive(Debug)]
pub struct FailureReport<'a> {
    /// Where it came from.
    pub origin: &'a Origin,
    /// An error or a panic.
    pub kind: FailureKind,
    /// What became of it.
    pub fate: Fate,
    /// The panic message, when the payload is a string.
    pub message: Option<&'a str>,
}

impl fmt::Display for FailureReport<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            FailureKind::Error => "returned an error",
            FailureKind::Panic => "panicked",
            FailureKind::DroppedOpen => {
                return write!(
                    f,
                    "creche: {} was dropped while open; its children were cancelled without \
                     being waited for",
                    self.origin
                );
            }
        };
        write!(f, "creche: {} {what}", self.origin)?;
        if let Some(message) = self.message {
            write!(f, " ({message:?})")?;
        }
        f.write_str(match self.fate {
            Fate::Propagated => "; propagated to the nursery's caller",
            Fate::Suppressed => "; suppressed, an earlier failure of the same nursery wins",
            Fate::Lost => "; lost, the nursery was dropped before it could return it",
        })
    }
}

/// A failure hook, as installed by [`set_failure_hook`].
pub type FailureHook = Arc<dyn Fn(&FailureReport<'_>) + Send + Sync>;

static HOOK: RwLock<Option<FailureHook>> = RwLock::new(None);

/// Installs a process-wide hook that receives every [`FailureReport`] (replacing the default,
/// which prints suppressed and lost failures and propagated panics to stderr). Returns the
/// previous hook.
///
/// # Examples
///
/// ```
/// use creche_nursery::report::{set_failure_hook, Fate};
/// use std::sync::{Arc, Mutex};
///
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let sink = seen.clone();
/// let previous = set_failure_hook(Some(Arc::new(move |report: &creche_nursery::report::FailureReport<'_>| {
///     sink.lock().unwrap().push((report.origin.name().map(String::from), report.fate));
/// })));
/// # let rt = creche_timer::__doc_runtime();
/// let result = rt.block_on(creche_nursery::open_nursery(|n| async move {
///     n.spawn_named("worker", async { Err::<(), _>("boom") });
///     Ok(())
/// }));
/// assert_eq!(result, Err("boom"));
/// set_failure_hook(previous);
/// let seen = seen.lock().unwrap();
/// assert!(seen.contains(&(Some("worker".to_string()), Fate::Propagated)));
/// ```
pub fn set_failure_hook(hook: Option<FailureHook>) -> Option<FailureHook> {
    let mut slot = HOOK.write().unwrap_or_else(|e| e.into_inner());
    std::mem::replace(&mut *slot, hook)
}

/// Hands a report to the hook, or applies the default.
pub(crate) fn emit(origin: &Origin, kind: FailureKind, fate: Fate, message: Option<&str>) {
    let report = FailureReport {
        origin,
        kind,
        fate,
        message,
    };
    let hook = HOOK.read().unwrap_or_else(|e| e.into_inner()).clone();
    match hook {
        Some(hook) => hook(&report),
        None if fate != Fate::Propagated || kind == FailureKind::Panic => {
            eprintln!("{report}");
        }
        None => {}
    }
}

/// The message of a panic payload, when it is a string.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> Option<&str> {
    payload
        .downcast_ref::<&'static str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
}
