//! JID preparation (RFC 7622) on the addresses stanzas carry: every `to` of a client's stream
//! ([`xmpp_benches::client_stream`], what a server parses on its hot path) and every `to`
//! and `from` of the server's stream ([`xmpp_benches::corpus`], where room occupants'
//! nicknames are partly non-ASCII), parsed with `Jid::parse`. One criterion group `jid`,
//! `Throughput::Elements` (addresses per pass).
//!
//! ```text
//! cargo bench -p xmpp-benches --bench jid -- --noplot
//! ```

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use xmpp_benches::{client_stream, corpus, stanza_addresses};
use xmpp_sansio::jid::Jid;

fn parse_all(addresses: &[String]) -> usize {
    addresses
        .iter()
        .filter(|a| Jid::parse(black_box(a)).is_ok())
        .count()
}

fn jid(c: &mut Criterion) {
    let c2s = stanza_addresses(&client_stream(1_000_000).bytes);
    let s2c = stanza_addresses(&corpus(1_000_000).bytes);
    let mut group = c.benchmark_group("jid");
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(20);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));
    for (name, addresses) in [("c2s-to", &c2s), ("s2c-to-from", &s2c)] {
        // Every address in the corpora is valid.
        assert_eq!(parse_all(addresses), addresses.len(), "{name}");
        let ascii = addresses.iter().filter(|a| a.is_ascii()).count();
        eprintln!(
            "{name}: {} addresses, {ascii} ASCII, {} bytes on average",
            addresses.len(),
            addresses.iter().map(String::len).sum::<usize>() / addresses.len()
        );
        group.throughput(Throughput::Elements(addresses.len() as u64));
        group.bench_function(name, |b| b.iter(|| parse_all(addresses)));
    }
    group.finish();
}

criterion_group!(benches, jid);
criterion_main!(benches);
