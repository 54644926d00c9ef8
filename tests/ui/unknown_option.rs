#[creche::test(workers = 2)]
async fn unknown() {}

fn main() {}
