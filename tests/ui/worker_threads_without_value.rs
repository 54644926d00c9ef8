#[creche::test(worker_threads)]
async fn no_value() {}

fn main() {}
