#[creche::test]
async fn takes_one(count: u32) {
    let _ = count;
}

fn main() {}
