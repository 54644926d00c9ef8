#[creche::test(autojump = true)]
async fn with_value() {}

fn main() {}
