#[creche::test(worker_threads = 0)]
async fn no_workers() {}

fn main() {}
