//! Heap held under hostile input (issue 22), counted by a counting global allocator, for the
//! bare `StreamParser` and the server role (before login, and logged in), for each class of
//! [`xmpp_benches::hostile::Class`] fed whole, in 1500-byte and in 64-byte reads:
//!
//! - `idle`: live heap bytes of the session after the stream header (events and output
//!   drained);
//! - `peak`: the most live bytes while it takes one unfinished element just under the
//!   element limit ([`xmpp_benches::hostile::holding`]), and that peak divided by the limit;
//! - `holding`: live bytes once it holds that element;
//! - `failed`: live bytes after the rest of the element pushed it past the limit, the stream
//!   failed (for the server: `policy-violation` sent, then `Closed`), and every event and
//!   byte of output was drained, without the embedder dropping or shrinking the session;
//! - the outcome: the stream error (or `open`).
//!
//! Bytes are counted from just before the session is made, so the inputs (built before) are
//! not; the driver's own few hundred bytes of bookkeeping (its outcome, the server's output
//! read back for the condition) are. It prints a table and checks nothing: it is not a test.
//! `XMPP_HOSTILE_SCALE=10` multiplies the structure limits as in the `hostile` bench.
//!
//! ```text
//! cargo bench -p xmpp-benches --bench hostile_alloc
//! ```

use std::time::Instant;

use xmpp_benches::counting::{Counting, live, peak_since, reset_peak};
use xmpp_benches::hostile::{
    Class, Outcome, feed_parser, feed_server, holding, parser_after_header, past_limit,
    scale_from_env, scaled, server_after_header, server_online,
};
use xmpp_sansio::xml::Limits;

#[global_allocator]
static GLOBAL: Counting = Counting;

const FEEDS: [(&str, usize); 3] = [("whole", usize::MAX), ("1500", 1500), ("64", 64)];

/// Live bytes at each step, counted from `base`.
struct Row {
    idle: usize,
    peak: usize,
    holding: usize,
    failed: usize,
    outcome: String,
}

/// Makes a session with `make`, and measures it while `feed` gives it `held`, then the rest
/// of `over`.
fn measure<S>(
    make: impl Fn() -> S,
    feed: impl Fn(&mut S, &[u8]) -> Outcome,
    held: &[u8],
    over: &[u8],
) -> Row {
    let base = live();
    let mut session = make();
    let idle = live() - base;
    let peak_base = reset_peak();
    let first = feed(&mut session, held);
    let peak = peak_since(peak_base) + (peak_base - base);
    let holding = live() - base;
    let rest = feed(&mut session, &over[held.len()..]);
    let failed = live() - base;
    drop(session);
    let outcome = first.error.or(rest.error).unwrap_or_else(|| "open".into());
    Row {
        idle,
        peak,
        holding,
        failed,
        outcome,
    }
}

fn main() {
    let factor = scale_from_env();
    let limits = scaled(Limits::default(), factor);
    let now = Instant::now();
    let limit = limits.max_element_bytes;
    let inputs: Vec<(Class, Vec<u8>, Vec<u8>)> = Class::ALL
        .iter()
        .map(|&c| (c, holding(c, &limits), past_limit(c, &limits)))
        .collect();
    println!(
        "Live heap bytes of one session (limits x{factor}: element limit {limit} B); peak/limit \
         is the peak divided by the element limit; `failed` is after the stream failed, \
         nothing dropped or shrunk.\n"
    );
    println!(
        "| driver        | input        | feed  | held B  | idle    | peak      | peak/limit | holding   | failed    | failed - idle | outcome |"
    );
    println!(
        "| ------------- | ------------ | ----- | ------- | ------- | --------- | ---------- | --------- | --------- | ------------- | ------- |"
    );
    for driver in ["parser", "server", "server-online"] {
        for (class, held, over) in &inputs {
            for (feed, chunk) in FEEDS {
                let r = match driver {
                    "parser" => measure(
                        || parser_after_header(limits),
                        |p, input| feed_parser(p, input, chunk),
                        held,
                        over,
                    ),
                    "server" => measure(
                        || server_after_header(now, limits),
                        |s, input| feed_server(s, now, input, chunk),
                        held,
                        over,
                    ),
                    _ => measure(
                        || server_online(now, limits),
                        |s, input| feed_server(s, now, input, chunk),
                        held,
                        over,
                    ),
                };
                println!(
                    "| {:<13} | {:<12} | {:<5} | {:>7} | {:>7} | {:>9} | {:>10.2} | {:>9} | {:>9} | {:>13} | {} |",
                    driver,
                    class.name(),
                    feed,
                    held.len(),
                    r.idle,
                    r.peak,
                    r.peak as f64 / limit as f64,
                    r.holding,
                    r.failed,
                    r.failed as i64 - r.idle as i64,
                    r.outcome,
                );
            }
        }
    }
}
