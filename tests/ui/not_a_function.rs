#[creche::main]
struct Main;

fn main() {}
