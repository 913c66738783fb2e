//! Heap use of the `xmpp-proto` stream parser, beside quick-xml, rxml and xml-rs: a counting
//! global allocator measures
//!
//! 1. heap allocations per stanza in steady state (after a warm-up of the first stanzas of
//!    the stream), for our parser fed whole, in 1500-byte and in 64-byte slices, for the
//!    other parsers, for our parser by kind of stanza, and for an online `Server` session
//!    receiving a client's stanzas (checked, stamped and handed over);
//! 2. the idle memory of one parser session: the live heap bytes a `StreamParser` holds after
//!    the header and a few hundred stanzas, with every event drained, and again after one
//!    200 KB stanza, to show that its buffers shrink back.
//!
//! It prints tables and checks nothing: it is not a test.
//!
//! ```text
//! cargo bench -p xmpp-benches --bench alloc
//! ```

use xmpp_benches::counting::{Counting, Snapshot, peak_since, reset_peak, snapshot};
use xmpp_benches::{Corpus, corpus, feed, large_stanza};
use xmpp_sansio::xml::StreamParser;

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Stanzas parsed before the counters are read, so that scratch space has grown.
const WARM_UP: usize = 1000;

/// One row of the per-stanza table: counter deltas over `stanzas` stanzas.
struct PerStanza {
    name: &'static str,
    stanzas: usize,
    before: Snapshot,
    after: Snapshot,
}

impl PerStanza {
    fn print(&self) {
        let n = self.stanzas as f64;
        let d = |f: fn(&Snapshot) -> u64| (f(&self.after) - f(&self.before)) as f64 / n;
        let allocs = d(|s| s.allocs);
        let reallocs = d(|s| s.reallocs);
        println!(
            "| {:<22} | {:>7} | {:>8.3} | {:>8.3} | {:>8.3} | {:>9.3} | {:>10.0} |",
            self.name,
            self.stanzas,
            allocs,
            reallocs,
            allocs + reallocs,
            d(|s| s.deallocs),
            d(|s| s.allocated),
        );
    }
}

/// An online `Server` fed a logged-in client's stanzas in 1500-byte reads, events and output
/// drained after each (`roles::receive`): what the server role adds to its parser's one
/// allocation per stanza (the stamp, the event queue).
fn server_role(bytes: usize) -> PerStanza {
    use std::time::Instant;
    use xmpp_benches::{client_stream, roles};
    let now = Instant::now();
    let (_client, mut server) = roles::online_pair(now);
    let c2s = client_stream(bytes);
    let stanzas = &c2s.bytes[c2s.header_len..c2s.ends[c2s.stanzas - 1]];
    let warm_end = c2s.ends[WARM_UP - 1] - c2s.header_len;
    let warm = roles::receive(&mut server, now, &stanzas[..warm_end], 1500, |_| {});
    assert_eq!(warm, WARM_UP);
    let before = snapshot();
    let n = roles::receive(&mut server, now, &stanzas[warm_end..], 1500, |_| {});
    let after = snapshot();
    assert_eq!(n, c2s.stanzas - WARM_UP);
    PerStanza {
        name: "server role, 1500 B",
        stanzas: n,
        before,
        after,
    }
}

/// Our parser: the header and `WARM_UP` stanzas, then the rest of the stream counted.
fn ours(c: &Corpus, name: &'static str, chunk: usize) -> PerStanza {
    let mut parser = StreamParser::default();
    let warm = feed(&mut parser, c.prefix(WARM_UP), chunk).expect("ours: warm-up");
    assert_eq!(warm, WARM_UP);
    let rest = &c.bytes[c.prefix(WARM_UP).len()..];
    let before = snapshot();
    let n = feed(&mut parser, rest, chunk).expect("ours");
    let after = snapshot();
    assert!(parser.is_closed());
    assert_eq!(n, c.stanzas - WARM_UP);
    PerStanza {
        name,
        stanzas: n,
        before,
        after,
    }
}

/// What one event of a pull parser was, for counting first-level elements.
enum Step {
    Start,
    End,
    Empty,
    Other,
}

/// A pull parser, whose `next` gives each event's [`Step`] and `None` at the end: counted
/// from the end of stanza `WARM_UP` on.
fn pull(c: &Corpus, name: &'static str, mut next: impl FnMut() -> Option<Step>) -> PerStanza {
    let mut depth = 0usize;
    let mut stanzas = 0usize;
    let mut before = None;
    while let Some(step) = next() {
        let stanza = match step {
            Step::Start => {
                depth += 1;
                false
            }
            Step::End => {
                depth -= 1;
                depth == 1
            }
            Step::Empty => depth == 1,
            Step::Other => false,
        };
        if stanza {
            stanzas += 1;
            if stanzas == WARM_UP {
                before = Some(snapshot());
            }
        }
    }
    let after = snapshot();
    assert_eq!(stanzas, c.stanzas, "{name}");
    PerStanza {
        name,
        stanzas: stanzas - WARM_UP,
        before: before.expect("the warm-up ended"),
        after,
    }
}

fn quick_xml_reader(c: &Corpus) -> PerStanza {
    use quick_xml::events::Event as Q;
    let mut r = quick_xml::Reader::from_reader(&c.bytes[..]);
    pull(c, "quick-xml Reader", || {
        match r.read_event().expect("quick-xml") {
            Q::Start(_) => Some(Step::Start),
            Q::End(_) => Some(Step::End),
            Q::Empty(_) => Some(Step::Empty),
            Q::Eof => None,
            _ => Some(Step::Other),
        }
    })
}

fn quick_xml_ns_reader(c: &Corpus) -> PerStanza {
    use quick_xml::events::Event as Q;
    use quick_xml::name::ResolveResult;
    let mut r = quick_xml::NsReader::from_reader(&c.bytes[..]);
    pull(c, "quick-xml NsReader", || {
        let (ns, ev) = r.read_resolved_event().expect("quick-xml");
        assert!(!matches!(ns, ResolveResult::Unknown(_)));
        match ev {
            Q::Start(_) => Some(Step::Start),
            Q::End(_) => Some(Step::End),
            Q::Empty(_) => Some(Step::Empty),
            Q::Eof => None,
            _ => Some(Step::Other),
        }
    })
}

fn xml_rs(c: &Corpus) -> PerStanza {
    use xml::reader::{EventReader, XmlEvent as X};
    let mut r = EventReader::new(&c.bytes[..]);
    pull(c, "xml-rs EventReader", || {
        match r.next().expect("xml-rs") {
            X::StartElement { .. } => Some(Step::Start),
            X::EndElement { .. } => Some(Step::End),
            X::EndDocument => None,
            _ => Some(Step::Other),
        }
    })
}

/// rxml's push parser fed `chunk`-byte slices of `data`; returns the first-level elements.
fn rxml_feed(
    parser: &mut rxml::Parser,
    depth: &mut usize,
    data: &[u8],
    chunk: usize,
    at_eof: bool,
) -> usize {
    use rxml::Parse;
    use rxml::error::EndOrError;
    let mut stanzas = 0;
    let mut pieces = data.chunks(chunk).peekable();
    while let Some(piece) = pieces.next() {
        let last = at_eof && pieces.peek().is_none();
        let mut rest = piece;
        let r = parser.parse_all(&mut rest, last, |ev| match ev {
            rxml::Event::StartElement(..) => *depth += 1,
            rxml::Event::EndElement(..) => {
                *depth -= 1;
                if *depth == 1 {
                    stanzas += 1;
                }
            }
            _ => {}
        });
        match r {
            Ok(()) if last => {}
            Err(EndOrError::NeedMoreData) if !last => {}
            other => panic!("rxml: {other:?}"),
        }
    }
    stanzas
}

fn rxml(c: &Corpus, chunk: usize) -> PerStanza {
    let mut parser = rxml::Parser::new();
    let mut depth = 0;
    let warm = rxml_feed(&mut parser, &mut depth, c.prefix(WARM_UP), chunk, false);
    assert_eq!(warm, WARM_UP);
    let before = snapshot();
    let rest = &c.bytes[c.prefix(WARM_UP).len()..];
    let n = rxml_feed(&mut parser, &mut depth, rest, chunk, true);
    let after = snapshot();
    assert_eq!(n, c.stanzas - WARM_UP);
    PerStanza {
        name: "rxml Parser, 1500 B",
        stanzas: n,
        before,
        after,
    }
}

/// Our parser fed one stanza (with the keepalive before it) per call after the warm-up, each
/// call's heap calls charged to the kind of stanza it carried.
fn ours_by_kind(c: &Corpus) {
    const KINDS: [(&str, &[u8]); 5] = [
        ("chat message", b"<message type='chat'"),
        ("groupchat message", b"<message type='groupchat'"),
        ("presence", b"<presence"),
        ("ping", b"<iq type='get'"),
        ("roster (50 items)", b"<iq type='result'"),
    ];
    let mut tally = [(0usize, 0u64, 0u64, 0u64); KINDS.len()];
    let mut parser = StreamParser::default();
    feed(&mut parser, c.prefix(WARM_UP), usize::MAX).expect("ours: warm-up");
    for i in WARM_UP..c.stanzas {
        let unit = &c.bytes[c.ends[i - 1]..c.ends[i]];
        let trimmed = unit.trim_ascii_start();
        let kind = KINDS
            .iter()
            .position(|(_, p)| trimmed.starts_with(p))
            .expect("a known kind of stanza");
        let before = snapshot();
        let n = feed(&mut parser, unit, usize::MAX).expect("ours");
        let after = snapshot();
        assert_eq!(n, 1);
        let t = &mut tally[kind];
        t.0 += 1;
        t.1 += after.allocs - before.allocs;
        t.2 += after.reallocs - before.reallocs;
        t.3 += after.allocated - before.allocated;
    }
    println!("\nOur parser by kind of stanza (one stanza per call, after the warm-up):\n");
    println!("| stanza                 | count   | allocs   | reallocs | bytes      |");
    println!("| ---------------------- | ------- | -------- | -------- | ---------- |");
    for ((name, _), (n, allocs, reallocs, bytes)) in KINDS.iter().zip(tally) {
        let per = |x: u64| x as f64 / n.max(1) as f64;
        println!(
            "| {:<22} | {:>7} | {:>8.3} | {:>8.3} | {:>10.0} |",
            name,
            n,
            per(allocs),
            per(reallocs),
            per(bytes)
        );
    }
}

/// Stanzas parsed before the idle session is measured.
const IDLE_AFTER: usize = 300;
/// The size of the large stanza.
const LARGE: usize = 200 * 1024;

/// The idle footprint of one session fed `chunk`-byte slices: live bytes after the header and
/// `IDLE_AFTER` stanzas, the peak while one large stanza is parsed, live bytes right after it,
/// after a hundred more ordinary stanzas, and after `StreamParser::shrink`.
fn idle_ours(c: &Corpus, big: &[u8], chunk: usize) -> [usize; 5] {
    let base = snapshot().live;
    let mut parser = StreamParser::default();
    feed(&mut parser, c.prefix(IDLE_AFTER), chunk).expect("ours");
    let idle = snapshot().live - base;
    let peak_base = reset_peak();
    feed(&mut parser, big, chunk).expect("ours: large stanza");
    let peak = peak_since(peak_base) + (peak_base - base);
    let after_big = snapshot().live - base;
    let more = &c.bytes[c.prefix(IDLE_AFTER).len()..c.prefix(IDLE_AFTER + 100).len()];
    feed(&mut parser, more, chunk).expect("ours");
    let settled = snapshot().live - base;
    assert!(parser.is_open() && parser.buffered() == 0);
    parser.shrink();
    let shrunk = snapshot().live - base;
    drop(parser);
    [idle, peak, after_big, settled, shrunk]
}

/// The same for rxml's parser (which has no stream-level notion: it sees one document), with
/// `release_temporaries` for `shrink`.
fn idle_rxml(c: &Corpus, big: &[u8], chunk: usize) -> [usize; 5] {
    let base = snapshot().live;
    let mut parser = rxml::Parser::new();
    let mut depth = 0;
    rxml_feed(&mut parser, &mut depth, c.prefix(IDLE_AFTER), chunk, false);
    let idle = snapshot().live - base;
    let peak_base = reset_peak();
    rxml_feed(&mut parser, &mut depth, big, chunk, false);
    let peak = peak_since(peak_base) + (peak_base - base);
    let after_big = snapshot().live - base;
    let more = &c.bytes[c.prefix(IDLE_AFTER).len()..c.prefix(IDLE_AFTER + 100).len()];
    rxml_feed(&mut parser, &mut depth, more, chunk, false);
    let settled = snapshot().live - base;
    rxml::Parse::release_temporaries(&mut parser);
    let shrunk = snapshot().live - base;
    drop(parser);
    [idle, peak, after_big, settled, shrunk]
}

fn main() {
    let bytes = std::env::var("XMPP_BENCH_BYTES")
        .ok()
        .and_then(|v| v.trim().replace('_', "").parse().ok())
        .unwrap_or(10_000_000);
    let c = corpus(bytes);
    println!(
        "corpus: {} bytes, {} stanzas; counted after a warm-up of {WARM_UP} stanzas\n",
        c.bytes.len(),
        c.stanzas
    );

    println!("Heap calls per stanza (steady state):\n");
    println!(
        "| parser                 | stanzas | allocs   | reallocs | total    | deallocs  | bytes      |"
    );
    println!(
        "| ---------------------- | ------- | -------- | -------- | -------- | --------- | ---------- |"
    );
    ours(&c, "ours, whole", usize::MAX).print();
    ours(&c, "ours, 1500 B slices", 1500).print();
    ours(&c, "ours, 64 B slices", 64).print();
    quick_xml_reader(&c).print();
    quick_xml_ns_reader(&c).print();
    rxml(&c, 1500).print();
    xml_rs(&c).print();
    server_role(bytes).print();
    ours_by_kind(&c);

    let big = large_stanza(LARGE);
    println!(
        "\nIdle session: live heap bytes held by one parser after the header and {IDLE_AFTER} \
         stanzas (events drained), the peak during one {} B stanza, right after it, after \
         100 more stanzas, and after shrink() (rxml: release_temporaries()). size_of::<StreamParser>() = {} B (inline, not counted below); \
         size_of::<rxml::Parser>() = {} B.\n",
        big.len(),
        std::mem::size_of::<StreamParser>(),
        std::mem::size_of::<rxml::Parser>(),
    );
    println!(
        "| parser                 | idle   | peak during large | after large | after 100 more | after shrink |"
    );
    println!(
        "| ---------------------- | ------ | ----------------- | ----------- | -------------- | ------------ |"
    );
    for (name, row) in [
        ("ours, whole", idle_ours(&c, &big, usize::MAX)),
        ("ours, 1500 B slices", idle_ours(&c, &big, 1500)),
        ("ours, 64 B slices", idle_ours(&c, &big, 64)),
        ("rxml Parser, 1500 B", idle_rxml(&c, &big, 1500)),
    ] {
        println!(
            "| {:<22} | {:>6} | {:>17} | {:>11} | {:>14} | {:>12} |",
            name, row[0], row[1], row[2], row[3], row[4]
        );
    }
}
