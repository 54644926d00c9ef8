//! Error types and `Debug`/`Display` of the public types: what a user sees when something fails.

use creche::{BuildError, JoinError, Runtime};
use std::error::Error as _;

fn runtime() -> Runtime {
    Runtime::builder().worker_threads(1).build().unwrap()
}

fn join_error(
    rt: &Runtime,
    fut: impl std::future::Future<Output = ()> + Send + 'static,
) -> JoinError {
    rt.block_on(rt.spawn(fut)).unwrap_err()
}

#[test]
fn join_error_display_and_debug_name_the_cause() {
    let rt = runtime();

    let err = join_error(&rt, async { panic!("static message") });
    let id = err.id();
    assert_eq!(
        err.to_string(),
        format!("task {id} panicked with message \"static message\"")
    );
    assert!(format!("{err:?}").contains("static message"), "{err:?}");

    let n = 3;
    let err = join_error(&rt, async move { panic!("formatted {n}") });
    assert!(
        err.to_string()
            .ends_with("panicked with message \"formatted 3\""),
        "{err}"
    );

    let err = join_error(&rt, async { std::panic::panic_any(17_u8) });
    assert_eq!(err.to_string(), format!("task {} panicked", err.id()));
    assert!(
        format!("{err:?}").starts_with("JoinError::Panic("),
        "{err:?}"
    );

    let handle = rt.spawn(std::future::pending::<()>());
    handle.abort();
    let err = rt.block_on(handle).unwrap_err();
    assert_eq!(err.to_string(), format!("task {} was cancelled", err.id()));
    assert!(
        format!("{err:?}").starts_with("JoinError::Cancelled("),
        "{err:?}"
    );
    assert!(err.source().is_none());

    let io: std::io::Error = err.into();
    assert!(io.to_string().contains("was cancelled"), "{io}");
}

#[test]
fn into_panic_on_a_cancellation_panics_with_a_clear_message() {
    let rt = runtime();
    let handle = rt.spawn(std::future::pending::<()>());
    handle.abort();
    let err = rt.block_on(handle).unwrap_err();
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| err.into_panic()));
    let payload = caught.expect_err("into_panic of a cancellation must panic");
    let message = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or_default();
    assert!(message.contains("cancellation"), "{message}");
}

#[test]
fn build_errors_are_typed_and_explain_themselves() {
    let zero_workers = Runtime::builder().worker_threads(0).build().unwrap_err();
    assert!(matches!(zero_workers, BuildError::ZeroWorkerThreads));
    assert!(zero_workers.source().is_none());
    assert!(format!("{zero_workers:?}").contains("ZeroWorkerThreads"));

    let zero_blocking = Runtime::builder()
        .max_blocking_threads(0)
        .build()
        .unwrap_err();
    assert!(matches!(zero_blocking, BuildError::ZeroBlockingThreads));

    // A stack no system can give: the thread spawn fails and the error carries the cause.
    let spawn = Runtime::builder()
        .worker_threads(2)
        .thread_stack_size(usize::MAX / 2)
        .build()
        .unwrap_err();
    assert!(matches!(spawn, BuildError::Spawn(_)), "{spawn:?}");
    assert!(
        spawn
            .to_string()
            .starts_with("could not start a runtime thread"),
        "{spawn}"
    );
    assert!(spawn.source().is_some());
    let io: std::io::Error = spawn.into();
    assert_ne!(io.kind(), std::io::ErrorKind::InvalidInput);
}

#[test]
fn public_types_have_useful_debug_output() {
    let builder = Runtime::builder().worker_threads(3).thread_name("dbg");
    let text = format!("{builder:?}");
    assert!(
        text.contains("worker_threads: Some(3)") && text.contains("\"dbg\""),
        "{text}"
    );
    assert!(format!("{:?}", creche::Builder::default()).contains("worker_threads: None"));

    let rt = builder.build().unwrap();
    assert!(format!("{rt:?}").contains("workers: 3"), "{rt:?}");
    assert!(format!("{:?}", rt.handle()).contains("workers: 3"));
    let guard = rt.handle().enter();
    assert!(format!("{guard:?}").starts_with("EnterGuard"));
    drop(guard);

    let handle = rt.spawn(async {});
    let id = handle.id();
    assert_eq!(
        format!("{handle:?}"),
        format!("JoinHandle {{ id: {id:?} }}")
    );
    assert_eq!(format!("{id:?}"), format!("TaskId({})", id.as_u64()));
    assert_eq!(id.to_string(), id.as_u64().to_string());
    rt.block_on(handle).unwrap();

    let err = creche::Handle::try_current().unwrap_err();
    assert!(format!("{err:?}").starts_with("TryCurrentError"));
    assert!(format!("{:?}", creche::yield_now()).contains("yielded: false"));
}
