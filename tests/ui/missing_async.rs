#[creche::test]
fn not_async() {}

fn main() {}
