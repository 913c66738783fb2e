//! Turns the text output of the `hostile` bench into the Markdown table of
//! `benches/README.md`: nanoseconds per input byte of each input, fed whole, in 1500-byte and
//! in 64-byte reads, and that cost as a multiple of `plain-b` (`<b/>` repeated) on the same
//! driver and feed, which is the ratio issue 22 bounds.
//!
//! ```text
//! cargo bench -p xmpp-benches --bench hostile -- --quick --noplot 2>&1 | tee hostile.txt
//! cargo run -p xmpp-benches --example hostile_table < hostile.txt
//! ```

use std::collections::BTreeMap;
use std::io::Read;

const FEEDS: [&str; 3] = ["whole", "1500", "64"];

/// Bytes per second from criterion's `thrpt:` figure and unit.
fn bytes_per_second(value: f64, unit: &str) -> Option<f64> {
    let scale = match unit {
        "B/s" => 1.0,
        "KiB/s" => 1024.0,
        "MiB/s" => 1024.0 * 1024.0,
        "GiB/s" => 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    Some(value * scale)
}

fn main() {
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .expect("criterion's output on stdin");
    // "driver/input" -> feed -> ns per byte (criterion's point estimate).
    let mut cost: BTreeMap<(String, String), BTreeMap<String, f64>> = BTreeMap::new();
    let mut order: Vec<(String, String)> = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        let line = line.trim();
        if let Some(id) = line.strip_prefix("hostile/") {
            current = id.split_whitespace().next().map(str::to_owned);
        }
        let Some(rest) = line.split("thrpt:").nth(1) else {
            continue;
        };
        let Some(id) = current.take() else {
            continue;
        };
        // `[low unit mid unit high unit]`: the middle figure is the estimate.
        let fields: Vec<&str> = rest
            .trim_matches([' ', '[', ']'])
            .split_whitespace()
            .collect();
        let (Some(v), Some(u)) = (fields.get(2), fields.get(3)) else {
            continue;
        };
        let Some(bps) = v.parse().ok().and_then(|v| bytes_per_second(v, u)) else {
            continue;
        };
        let mut parts = id.rsplitn(2, '/');
        let (Some(feed), Some(key)) = (parts.next(), parts.next()) else {
            continue;
        };
        let mut key = key.splitn(2, '/');
        let key = (
            key.next().unwrap_or_default().to_owned(),
            key.next().unwrap_or_default().to_owned(),
        );
        if !cost.contains_key(&key) {
            order.push(key.clone());
        }
        cost.entry(key)
            .or_default()
            .insert(feed.to_owned(), 1e9 / bps);
    }

    println!(
        "| driver | input | whole ns/B | × plain-b | 1500 ns/B | × plain-b | 64 ns/B | × plain-b |"
    );
    println!("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for key in &order {
        let base = cost.get(&(key.0.clone(), "plain-b".to_owned()));
        let mut row = format!("| {} | {} |", key.0, key.1);
        for feed in FEEDS {
            match cost[key].get(feed) {
                Some(ns) => {
                    let ratio = base
                        .and_then(|b| b.get(feed))
                        .map_or("".to_owned(), |b| format!("{:.1}", ns / b));
                    row.push_str(&format!(" {ns:.2} | {ratio} |"));
                }
                None => row.push_str(" | |"),
            }
        }
        println!("{row}");
    }
}
