//! Parse throughput: the `xmpp-proto` stream parser beside quick-xml, rxml and xml-rs, on the
//! same generated c2s stream (see [`xmpp_benches::corpus`]), in one criterion group `parse`
//! measured in bytes per second.
//!
//! Contestants:
//! - `ours/whole`, `ours/1500`, `ours/64`: `StreamParser` fed the stream at once, in 1500-byte
//!   slices (a network packet) and in 64-byte slices, draining and counting every event;
//! - `quick-xml/Reader`: quick-xml's `Reader` over the slice, default options, every event;
//! - `quick-xml/NsReader`: the same, resolving the namespace of every tag;
//! - `rxml/1500`, `rxml/whole`: rxml's namespace-aware push `Parser`, fed 1500-byte slices or
//!   the whole stream;
//! - `xml-rs/EventReader`: xml-rs over the slice, default configuration, every event;
//! - each of them again as `.../read`: reading everything it parsed, as an embedder does
//!   (every local name and namespace, every attribute's name, namespace and decoded value,
//!   every text run decoded, inside the stanzas; see [`xmpp_benches::Mode::Read`]).
//!
//! The corpus is about 10 MB; set `XMPP_BENCH_BYTES` to make it smaller (or larger). Before
//! anything is measured, every contestant parses the whole corpus once and must count every
//! stanza, and every `.../read` contestant must read exactly what ours reads (quick-xml's
//! `Reader`, which resolves no namespace, all but the namespaces).
//!
//! ```text
//! cargo bench -p xmpp-benches --bench parse -- --quick --noplot
//! ```

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use xmpp_benches::{CONTESTANTS, Mode, corpus, ours, resolves_namespaces};

/// The default corpus size.
const DEFAULT_BYTES: usize = 10_000_000;

fn corpus_bytes() -> usize {
    match std::env::var("XMPP_BENCH_BYTES") {
        Ok(v) => v
            .trim()
            .replace('_', "")
            .parse()
            .expect("XMPP_BENCH_BYTES must be a number of bytes"),
        Err(_) => DEFAULT_BYTES,
    }
}

fn parse(c: &mut Criterion) {
    let corpus = corpus(corpus_bytes());
    let input = &corpus.bytes[..];
    eprintln!(
        "corpus: {} bytes, {} stanzas ({} bytes per stanza on average)",
        input.len(),
        corpus.stanzas,
        input.len() / corpus.stanzas
    );
    let read = ours(input, 1500, Mode::Read).expect("ours").read;
    for (name, run) in CONTESTANTS {
        let tally = run(input).expect(name);
        assert_eq!(
            tally.stanzas, corpus.stanzas,
            "{name} must parse the whole corpus"
        );
        if name.ends_with("/read") {
            let want = if resolves_namespaces(name) {
                read
            } else {
                read.without_ns()
            };
            assert_eq!(tally.read, want, "{name} must read what ours reads");
        }
    }

    let mut group = c.benchmark_group("parse");
    group.throughput(Throughput::Bytes(input.len() as u64));
    // One iteration takes tens to hundreds of milliseconds: few, flat samples.
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(5));
    for (name, run) in CONTESTANTS {
        group.bench_function(*name, |b| b.iter(|| run(black_box(input))));
    }
    group.finish();
}

criterion_group!(benches, parse);
criterion_main!(benches);
