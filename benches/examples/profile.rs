//! Runs one contestant of the `parse` benchmark, or one driver of `server_throughput`, over
//! its corpus a given number of times, without criterion, for profilers: instruction counts
//! of two runs with different counts, subtracted, give the cost of one pass without the
//! corpus generation and the session set-up.
//!
//! ```text
//! cargo build --release -p xmpp-benches --example profile
//! XMPP_BENCH_BYTES=1000000 valgrind --tool=callgrind target/release/examples/profile ours/1500 3
//! XMPP_BENCH_BYTES=1000000 valgrind --tool=callgrind target/release/examples/profile c2s/server 3
//! ```
//!
//! The `server_throughput` drivers: `c2s/parser`, `c2s/server`, `c2s/parser/read`,
//! `c2s/server/read` (the client stream, [`xmpp_benches::client_stream`]), `s2c/parser`,
//! `s2c/client` (the server's stream, [`xmpp_benches::corpus`]), all in 1500-byte reads;
//! and `jid/c2s-to`, every `to` of the client stream parsed as a JID.

use std::hint::black_box;
use std::time::Instant;

use xmpp_benches::hostile::C2S_HEADER;
use xmpp_benches::roles::{online_pair, receive};
use xmpp_benches::{
    CONTESTANTS, Read, client_stream, corpus, feed, feed_with, read_tree, stanza_addresses,
};
use xmpp_sansio::jid::Jid;
use xmpp_sansio::xml::StreamParser;

const ROLE_DRIVERS: &[&str] = &[
    "c2s/parser",
    "c2s/server",
    "c2s/parser/read",
    "c2s/server/read",
    "s2c/parser",
    "s2c/client",
];

fn main() {
    let mut args = std::env::args().skip(1);
    let name = args.next().unwrap_or_else(|| "ours/1500".into());
    let times: usize = args.next().map_or(1, |n| n.parse().expect("a count"));
    let bytes = std::env::var("XMPP_BENCH_BYTES")
        .ok()
        .and_then(|v| v.trim().replace('_', "").parse().ok())
        .unwrap_or(10_000_000);
    if ROLE_DRIVERS.contains(&name.as_str()) {
        return roles(&name, times, bytes);
    }
    if name == "jid/c2s-to" {
        // Every `to` of the client stream, parsed as a JID; "bytes" are address bytes.
        let addresses = stanza_addresses(&client_stream(bytes).bytes);
        for _ in 0..times {
            for a in &addresses {
                assert!(Jid::parse(black_box(a)).is_ok(), "{a}");
            }
        }
        let len: usize = addresses.iter().map(String::len).sum();
        println!(
            "{name}: {times} x {len} bytes, {} addresses",
            addresses.len()
        );
        return;
    }
    let Some((_, run)) = CONTESTANTS.iter().find(|(n, _)| *n == name) else {
        let mut names: Vec<_> = CONTESTANTS.iter().map(|(n, _)| *n).collect();
        names.extend(ROLE_DRIVERS);
        eprintln!("unknown contestant {name:?}; one of {names:?}");
        std::process::exit(2);
    };
    let c = corpus(bytes);
    for _ in 0..times {
        assert_eq!(
            run(black_box(&c.bytes)).map(|t| t.stanzas),
            Ok(c.stanzas),
            "{name}"
        );
    }
    println!(
        "{name}: {times} x {} bytes, {} stanzas",
        c.bytes.len(),
        c.stanzas
    );
}

fn roles(name: &str, times: usize, bytes: usize) {
    const READ: usize = 1500;
    let now = Instant::now();
    let c = if name.starts_with("c2s") {
        client_stream(bytes)
    } else {
        corpus(bytes)
    };
    let input = &c.bytes[c.header_len..c.ends[c.stanzas - 1]];
    let (mut client, mut server) = online_pair(now);
    let mut parser = StreamParser::default();
    let header = if name.starts_with("c2s") {
        C2S_HEADER
    } else {
        c.prefix(0)
    };
    assert_eq!(feed(&mut parser, header, usize::MAX), Ok(0));
    let mut read = Read::default();
    for _ in 0..times {
        let n = match name {
            "c2s/parser" | "s2c/parser" => feed(&mut parser, black_box(input), READ).unwrap(),
            "c2s/parser/read" => {
                let mut n = 0;
                feed_with(&mut parser, black_box(input), READ, |el| {
                    n += 1;
                    read_tree(el.root(), &mut read)
                })
                .unwrap();
                n
            }
            "c2s/server" => receive(&mut server, now, black_box(input), READ, |_| {}),
            "c2s/server/read" => receive(&mut server, now, black_box(input), READ, |el| {
                read_tree(el.root(), &mut read)
            }),
            _ => receive(&mut client, now, black_box(input), READ, |_| {}),
        };
        assert_eq!(n, c.stanzas, "{name}");
    }
    black_box(read);
    println!(
        "{name}: {times} x {} bytes, {} stanzas",
        input.len(),
        c.stanzas
    );
}
