//! One test per bug found in review, named for it. Each failed (crash, hang or wrong result)
//! before its fix. Hangs are bounded by `within`, a hang guard, not a timing assertion.

use creche::runtime::park::{Park, Unpark};
use creche::{Handle, Runtime};
use std::future::{Future, poll_fn};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Condvar, Mutex, mpsc};
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};
use std::time::Duration;

/// Runs `f` on a thread; `None` if it has not finished after 20 s (a hang).
fn within<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(20)).ok()
}

fn panicking_waker() -> Waker {
    fn clone(_: *const ()) -> RawWaker {
        RawWaker::new(std::ptr::null(), &VTABLE)
    }
    fn wake(_: *const ()) {
        panic!("this waker panics");
    }
    fn noop(_: *const ()) {}
    static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake, noop);
    // SAFETY: every function of the vtable ignores the (null) data pointer.
    unsafe { Waker::from_raw(RawWaker::new(std::ptr::null(), &VTABLE)) }
}

/// A task that waits for `go`, reporting on `polled` when it has registered its waker.
fn wait_for_go(
    go: Arc<AtomicBool>,
    slot: Arc<Mutex<Option<Waker>>>,
    polled: mpsc::Sender<()>,
) -> impl Future<Output = u32> + Send {
    poll_fn(move |cx| {
        if go.load(SeqCst) {
            return Poll::Ready(1);
        }
        *slot.lock().unwrap() = Some(cx.waker().clone());
        let _ = polled.send(());
        Poll::Pending
    })
}

#[test]
fn enter_guards_dropped_out_of_order_leave_no_dangling_handle() {
    let rt = Runtime::builder().worker_threads(1).build().unwrap();
    let other = Runtime::builder().worker_threads(2).build().unwrap();
    let guard = other.handle().enter();
    rt.block_on(async move {
        drop(guard); // dropped inside block_on, which entered after it
    });
    // Before the fix the context pointed into freed memory here. A guard restores, when it
    // drops, what was current when it was made: block_on's guard restores `other`'s handle.
    let current = Handle::try_current().expect("a valid (if surprising) context");
    assert_eq!(current.num_workers(), 2);
    let first = rt.handle().enter();
    let second = other.handle().enter();
    drop(first);
    drop(second);
    let current = Handle::try_current().expect("still valid");
    assert_eq!(current.num_workers(), 1);
    let task = current.spawn(async { 3 });
    assert_eq!(futures_lite::future::block_on(task).unwrap(), 3);
}

#[test]
fn panicking_join_waker_does_not_kill_the_worker() {
    let rt = Arc::new(Runtime::builder().worker_threads(1).build().unwrap());
    let go = Arc::new(AtomicBool::new(false));
    let slot = Arc::new(Mutex::new(None));
    let (polled_tx, polled) = mpsc::channel();
    let join = rt.spawn(wait_for_go(go.clone(), slot.clone(), polled_tx));
    polled.recv().unwrap();
    let mut join = pin!(join);
    let waker = panicking_waker();
    assert!(
        join.as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_pending()
    );
    go.store(true, SeqCst);
    slot.lock().unwrap().take().unwrap().wake(); // completion wakes the panicking joiner
    let rt2 = rt.clone();
    assert_eq!(
        within(move || rt2.block_on(rt2.spawn(async { 7 })).unwrap()),
        Some(7)
    );
    assert_eq!(futures_lite::future::block_on(join).unwrap(), 1);
}

#[test]
fn panicking_join_waker_keeps_blocking_pool_accounting() {
    let rt = Arc::new(
        Runtime::builder()
            .worker_threads(1)
            .max_blocking_threads(1)
            .build()
            .unwrap(),
    );
    let (release, wait) = mpsc::channel::<()>();
    let join = rt.spawn_blocking(move || {
        let _ = wait.recv();
        1
    });
    let mut join = pin!(join);
    let waker = panicking_waker();
    assert!(
        join.as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_pending()
    );
    release.send(()).unwrap(); // the blocking thread completes the job and wakes the joiner
    let rt2 = rt.clone();
    assert_eq!(
        within(move || rt2.block_on(rt2.spawn_blocking(|| 7)).unwrap()),
        Some(7)
    );
}

#[test]
fn panicking_deferred_waker_does_not_kill_the_worker() {
    let rt = Arc::new(Runtime::builder().worker_threads(1).build().unwrap());
    let yielded = rt.spawn(async {
        // A sub-executor's waker, deferred by yield_now on the worker.
        let mut child = pin!(creche::yield_now());
        let waker = panicking_waker();
        let _ = child.as_mut().poll(&mut Context::from_waker(&waker));
    });
    let rt2 = rt.clone();
    let out = within(move || {
        rt2.block_on(yielded).unwrap();
        rt2.block_on(rt2.spawn(async { 7 })).unwrap()
    });
    assert_eq!(out, Some(7));
}

#[test]
fn output_and_future_destructors_both_panicking_still_complete_the_task() {
    #[derive(Debug)]
    struct PanicOnDrop;
    impl Drop for PanicOnDrop {
        fn drop(&mut self) {
            if !std::thread::panicking() {
                panic!("destructor panics");
            }
        }
    }
    struct Fut(#[allow(dead_code)] PanicOnDrop);
    impl Future for Fut {
        type Output = PanicOnDrop;
        fn poll(self: std::pin::Pin<&mut Self>, _: &mut Context<'_>) -> Poll<PanicOnDrop> {
            Poll::Ready(PanicOnDrop)
        }
    }
    let rt = Runtime::builder().worker_threads(2).build().unwrap();
    let join = rt.spawn(Fut(PanicOnDrop));
    let reported = within(move || {
        let err = rt.block_on(join).unwrap_err();
        drop(rt);
        err.is_panic()
    });
    assert_eq!(reported, Some(true));
}

/// A driver that reports, once, that a non-worker thread blocked in it.
struct SignalPark {
    shared: Arc<SignalShared>,
}

#[derive(Default)]
struct SignalShared {
    token: Mutex<bool>,
    condvar: Condvar,
    outsider_parked: Mutex<Option<mpsc::Sender<()>>>,
}

impl Unpark for SignalShared {
    fn unpark(&self) {
        *self.token.lock().unwrap() = true;
        self.condvar.notify_one();
    }
}

impl Park for SignalPark {
    fn park(&mut self, timeout: Option<Duration>) {
        let worker = std::thread::current()
            .name()
            .is_some_and(|n| n.contains("worker"));
        if !worker {
            if let Some(tx) = self.shared.outsider_parked.lock().unwrap().take() {
                let _ = tx.send(());
            }
        }
        let mut token = self.shared.token.lock().unwrap();
        if !*token && timeout != Some(Duration::ZERO) {
            token = self.shared.condvar.wait(token).unwrap();
        }
        *token = false;
    }
    fn unparker(&self) -> Arc<dyn Unpark> {
        self.shared.clone()
    }
}

#[test]
fn runtime_drop_completes_while_a_block_on_thread_waits_beside_a_busy_worker() {
    // Once a regression: a `block_on` thread blocked in the driver held up the runtime's drop.
    // `block_on` callers no longer take the driver (they are passengers); the drop must still
    // complete while one sleeps and the only worker is busy.
    let (parked_tx, parked) = mpsc::channel();
    let shared = Arc::new(SignalShared {
        outsider_parked: Mutex::new(Some(parked_tx)),
        ..SignalShared::default()
    });
    let rt = creche::runtime::Runtime::builder()
        .worker_threads(1)
        .park(SignalPark { shared })
        .build()
        .unwrap();
    let (release, wait) = mpsc::channel::<()>();
    let (busy_tx, busy) = mpsc::channel::<()>();
    rt.spawn(async move {
        busy_tx.send(()).unwrap();
        let _ = wait.recv();
    });
    busy.recv().unwrap();
    let handle = rt.handle().clone();
    let (polled_tx, polled) = mpsc::channel::<()>();
    std::thread::spawn(move || {
        handle.block_on(std::future::poll_fn(move |_| {
            let _ = polled_tx.send(());
            std::task::Poll::<()>::Pending
        }))
    });
    polled.recv().unwrap(); // the block_on thread is about to park
    release.send(()).unwrap();
    assert_eq!(within(move || drop(rt)), Some(()));
    assert!(
        parked.try_recv().is_err(),
        "the block_on thread never parked in the driver"
    );
}

#[test]
fn yield_loop_does_not_keep_its_worker_from_stealing() {
    // Y yields until B has run; C blocks its worker until B has run. B sits in C's local
    // queue: only the other worker, the one running Y, can steal it.
    for _ in 0..20 {
        let rt = Runtime::builder().worker_threads(2).build().unwrap();
        let b_ran = Arc::new(AtomicBool::new(false));
        let flag = b_ran.clone();
        let y = rt.spawn(async move {
            while !flag.load(SeqCst) {
                creche::yield_now().await;
            }
        });
        let flag = b_ran.clone();
        let c = rt.spawn(async move {
            let (tx, rx) = mpsc::channel::<()>();
            creche::spawn(async move {
                flag.store(true, SeqCst);
                let _ = tx.send(());
            });
            creche::spawn(async {}); // pushes B out of the LIFO slot into the local queue
            rx.recv_timeout(Duration::from_secs(20)).is_ok()
        });
        assert!(
            rt.block_on(c).unwrap(),
            "B was never stolen while Y yielded"
        );
        rt.block_on(y).unwrap();
    }
}
