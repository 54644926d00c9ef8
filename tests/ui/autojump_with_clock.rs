#[creche::test(autojump, clock = creche::time::MockClock::new())]
async fn both() {}

fn main() {}
