//! Fan out CPU work over every core and join it: the executor on its own, before nurseries.
//!
//! Run with `cargo run --release --example parallel_sum`.

fn main() {
    let total: u64 = creche::run(async {
        let chunks: Vec<_> = (0..64_u64)
            .map(|chunk| {
                creche::spawn(async move {
                    let start = chunk * 1_000_000;
                    (start..start + 1_000_000).map(|n| n % 7).sum::<u64>()
                })
            })
            .collect();
        let mut total = 0;
        for chunk in chunks {
            total += chunk.await.expect("a chunk panicked");
        }
        total
    });
    println!("sum of n % 7 for n < 64e6: {total}");
    assert_eq!(total, (0..64_000_000_u64).map(|n| n % 7).sum::<u64>());
}
