use creche_timer::*;
use std::time::Duration;

#[test]
fn one_hour() {
    let rt = build_runtime(creche_runtime::Builder::new().worker_threads(2), MockClock::autojump()).unwrap();
    rt.block_on(async {
        let start = current_time();
        sleep(Duration::from_secs(3600)).await;
        assert_eq!(current_time() - start, Duration::from_secs(3600));
    });
}

#[test]
fn entry_poll() {
    let rt = build_runtime(creche_runtime::Builder::new().worker_threads(2), MockClock::autojump()).unwrap();
    rt.block_on(async {
        let handle = TimerHandle::current();
        let mut entry = TimerEntry::new(&handle, handle.now() + Duration::from_millis(10));
        std::future::poll_fn(|cx| entry.poll_elapsed(cx)).await;
        assert!(entry.is_elapsed());
    });
}
