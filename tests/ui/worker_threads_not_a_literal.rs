const WORKERS: usize = 4;

#[creche::test(worker_threads = WORKERS)]
async fn a_constant() {}

#[creche::test(worker_threads = "4")]
async fn a_string() {}

#[creche::test(worker_threads = -1)]
async fn negative() {}

fn main() {}
