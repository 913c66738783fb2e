//! Runs one contestant of the `parse` benchmark over the corpus a given number of times,
//! without criterion, for profilers: instruction counts of two runs with different counts,
//! subtracted, give the cost of one pass without the corpus generation.
//!
//! ```text
//! cargo build --release -p xmpp-benches --example profile
//! XMPP_BENCH_BYTES=1000000 valgrind --tool=callgrind target/release/examples/profile ours/1500 3
//! ```

use std::hint::black_box;

use xmpp_benches::{CONTESTANTS, corpus};

fn main() {
    let mut args = std::env::args().skip(1);
    let name = args.next().unwrap_or_else(|| "ours/1500".into());
    let times: usize = args.next().map_or(1, |n| n.parse().expect("a count"));
    let bytes = std::env::var("XMPP_BENCH_BYTES")
        .ok()
        .and_then(|v| v.trim().replace('_', "").parse().ok())
        .unwrap_or(10_000_000);
    let Some((_, run)) = CONTESTANTS.iter().find(|(n, _)| *n == name) else {
        let names: Vec<_> = CONTESTANTS.iter().map(|(n, _)| *n).collect();
        eprintln!("unknown contestant {name:?}; one of {names:?}");
        std::process::exit(2);
    };
    let c = corpus(bytes);
    for _ in 0..times {
        assert_eq!(run(black_box(&c.bytes)), Ok(c.stanzas), "{name}");
    }
    println!(
        "{name}: {times} x {} bytes, {} stanzas",
        c.bytes.len(),
        c.stanzas
    );
}
