#[creche::test(worker_threads = 2, autojump, worker_threads = 4)]
async fn twice() {}

fn main() {}
