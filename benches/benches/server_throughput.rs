//! Stanzas per second and megabytes per second through the roles, beside the bare parser on
//! the same bytes in the same run, in 1500-byte reads (issue 13). One criterion group
//! `server_throughput`, `Throughput::ElementsAndBytes` (stanzas and bytes per pass):
//!
//! - `c2s/parser`: a bare `StreamParser` after the client's stream header, fed the stanzas
//!   of [`xmpp_benches::client_stream`] (what a logged-in client sends: messages to
//!   contacts and rooms, presence, pings, roster gets; no `from`), every element drained;
//! - `c2s/server`: the same bytes through an online `Server` session, which checks the
//!   addresses of each stanza (RFC 6120 section 8.1) and stamps `from` on it, every event
//!   and byte of output drained;
//! - `c2s/parser/read`, `c2s/server/read`: the same, reading every stanza as an embedder
//!   does ([`xmpp_benches::read_tree`]);
//! - `s2c/parser`, `s2c/client`: the stanzas of [`xmpp_benches::corpus`] (what a server
//!   sends a client) through a bare parser after the server's header and through an online
//!   `Client`.
//!
//! Each session is made once and fed the whole stream once per iteration (the stream stays
//! open). The corpora are about 10 MB; `XMPP_BENCH_BYTES` changes that.
//!
//! ```text
//! cargo bench -p xmpp-benches --bench server_throughput -- --noplot
//! ```

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use xmpp_benches::hostile::C2S_HEADER;
use xmpp_benches::roles::{online_pair, receive};
use xmpp_benches::{Corpus, Read, client_stream, corpus, feed, feed_with, read_tree};
use xmpp_sansio::xml::StreamParser;

const DEFAULT_BYTES: usize = 10_000_000;
const READ: usize = 1500;

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

/// The stanzas of a corpus, without header and closing tag.
fn stanzas(c: &Corpus) -> &[u8] {
    &c.bytes[c.header_len..c.ends[c.stanzas - 1]]
}

fn parser_after(header: &[u8]) -> StreamParser {
    let mut p = StreamParser::default();
    assert_eq!(feed(&mut p, header, usize::MAX), Ok(0));
    p
}

fn server_throughput(c: &mut Criterion) {
    let now = Instant::now();
    let size = corpus_bytes();
    let c2s = client_stream(size);
    let s2c = corpus(size);
    let (c2s_in, s2c_in) = (stanzas(&c2s), stanzas(&s2c));
    eprintln!(
        "c2s: {} bytes, {} stanzas ({} B each); s2c: {} bytes, {} stanzas ({} B each)",
        c2s_in.len(),
        c2s.stanzas,
        c2s_in.len() / c2s.stanzas,
        s2c_in.len(),
        s2c.stanzas,
        s2c_in.len() / s2c.stanzas
    );

    let (mut client, mut server) = online_pair(now);
    let mut c2s_parser = parser_after(C2S_HEADER);
    let mut s2c_parser = parser_after(s2c.prefix(0));
    // Every driver takes every stanza before anything is measured.
    assert_eq!(feed(&mut c2s_parser, c2s_in, READ), Ok(c2s.stanzas));
    assert_eq!(receive(&mut server, now, c2s_in, READ, |_| {}), c2s.stanzas);
    assert_eq!(feed(&mut s2c_parser, s2c_in, READ), Ok(s2c.stanzas));
    assert_eq!(receive(&mut client, now, s2c_in, READ, |_| {}), s2c.stanzas);

    let mut group = c.benchmark_group("server_throughput");
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(5));

    let per_pass = |c: &Corpus, input: &[u8]| Throughput::ElementsAndBytes {
        elements: c.stanzas as u64,
        bytes: input.len() as u64,
    };
    group.throughput(per_pass(&c2s, c2s_in));
    group.bench_function("c2s/parser", |b| {
        b.iter(|| feed(&mut c2s_parser, black_box(c2s_in), READ))
    });
    group.bench_function("c2s/server", |b| {
        b.iter(|| receive(&mut server, now, black_box(c2s_in), READ, |_| {}))
    });
    group.bench_function("c2s/parser/read", |b| {
        b.iter(|| {
            let mut read = Read::default();
            feed_with(&mut c2s_parser, black_box(c2s_in), READ, |el| {
                read_tree(el.root(), &mut read)
            })
            .map(|()| read)
        })
    });
    group.bench_function("c2s/server/read", |b| {
        b.iter(|| {
            let mut read = Read::default();
            receive(&mut server, now, black_box(c2s_in), READ, |el| {
                read_tree(el.root(), &mut read)
            });
            read
        })
    });
    group.throughput(per_pass(&s2c, s2c_in));
    group.bench_function("s2c/parser", |b| {
        b.iter(|| feed(&mut s2c_parser, black_box(s2c_in), READ))
    });
    group.bench_function("s2c/client", |b| {
        b.iter(|| receive(&mut client, now, black_box(s2c_in), READ, |_| {}))
    });
    group.finish();
}

criterion_group!(benches, server_throughput);
criterion_main!(benches);
