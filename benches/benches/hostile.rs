//! Hostile input (issue 22): the CPU cost per byte of each class of
//! [`xmpp_benches::hostile::Class`] beside ordinary markup of the same size (`<b/>` repeated
//! in one element, and the c2s corpus), in one criterion group `hostile` measured in bytes
//! per second, so that the ratio of each class to `plain-b` reads off the throughputs.
//!
//! Each benchmark is `{driver}/{input}/{feed}`:
//! - driver `parser`: a bare `StreamParser` after the corpus's stream header, fed through
//!   `handle_input_partial`; `server`: a `Server` after a correct client header, before any
//!   login (where anyone on the internet stands); `server-online`: a `Server` whose client
//!   has logged in and bound a resource;
//! - input: each class as one unfinished first-level element just under the element limit
//!   ([`xmpp_benches::hostile::holding`]), or `corpus`: the stanzas of a c2s corpus of the
//!   same size (as a server sends them for `parser`, as a client sends them, without `from`,
//!   for `server-online`; the pre-login server would refuse the first stanza);
//! - feed: `whole` (one call), `1500` (1500-byte reads) or `64` (64-byte reads), each read
//!   drained of events (and, for the server, of output) before the next.
//!
//! Only feeding is timed: the session is made after the header before each iteration, and
//! dropped after it, outside the measurement. Throughput is the bytes fed. Before measuring,
//! the bench prints what each input did to each driver (elements handed over, or the stream
//! error), so that an input refused early (a lower limit before login, a limit on nodes)
//! reads as such rather than as a fast parse.
//!
//! `XMPP_HOSTILE_SCALE=10` multiplies every structure limit (element bytes, depth,
//! attributes, name bytes) and so the inputs, for checking that raised limits keep the
//! ratios.
//!
//! ```text
//! cargo bench -p xmpp-benches --bench hostile -- --quick --noplot
//! cargo bench -p xmpp-benches --bench hostile -- --quick --noplot 'parser/'
//! ```

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use xmpp_benches::hostile::{
    Driver, Outcome, Session, inputs, scale_from_env, scaled, unbounded_tree,
};
use xmpp_sansio::xml::Limits;

/// The reads each input is fed in.
const FEEDS: [(&str, usize); 3] = [("whole", usize::MAX), ("1500", 1500), ("64", 64)];

fn hostile(c: &mut Criterion) {
    let factor = scale_from_env();
    let limits = unbounded_tree(scaled(Limits::default(), factor));
    let now = Instant::now();
    let inputs = inputs(&limits);

    eprintln!(
        "limits x{factor}: element {} B, depth {}, attributes {}, names {} B",
        limits.max_element_bytes, limits.max_depth, limits.max_attributes, limits.max_name_bytes
    );
    eprintln!("what each input does (elements handed over; the stream error, if any):");
    for driver in Driver::ALL {
        for input in &inputs {
            let Some(bytes) = input.for_driver(driver) else {
                continue;
            };
            let outcomes: Vec<Outcome> = FEEDS
                .iter()
                .map(|&(_, chunk)| Session::new(driver, now, limits).feed(now, bytes, chunk))
                .collect();
            let shown = if outcomes.iter().all(|o| *o == outcomes[0]) {
                format!("{:?}", outcomes[0])
            } else {
                format!("{outcomes:?}")
            };
            eprintln!(
                "  {:<13} {:<12} {:>8} B: {shown}",
                driver.name(),
                input.name,
                bytes.len()
            );
            if matches!(input.name, "plain-b" | "corpus") {
                assert!(
                    outcomes.iter().all(|o| o.error.is_none()),
                    "the ordinary input must be taken"
                );
            }
        }
    }

    let mut group = c.benchmark_group("hostile");
    // An iteration takes from under a millisecond to hundreds: few, flat samples.
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(2));
    for driver in Driver::ALL {
        for input in &inputs {
            let Some(bytes) = input.for_driver(driver) else {
                continue;
            };
            group.throughput(Throughput::Bytes(bytes.len() as u64));
            for (feed, chunk) in FEEDS {
                let id = format!("{}/{}/{feed}", driver.name(), input.name);
                group.bench_function(id, |b| {
                    b.iter_batched(
                        || Session::new(driver, now, limits),
                        |mut session| {
                            black_box(session.feed(now, black_box(bytes), chunk));
                            session
                        },
                        BatchSize::PerIteration,
                    )
                });
            }
        }
    }
    group.finish();
}

criterion_group!(benches, hostile);
criterion_main!(benches);
