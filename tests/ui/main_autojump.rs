#[creche::main(autojump)]
async fn main() {}
