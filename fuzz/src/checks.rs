//! The properties the fuzz targets check, shared with `repo-tests/tests/fuzz_corpus.rs`, which
//! includes this file with `#[path]` and replays every committed corpus file through the same
//! functions under plain `cargo test`. It depends only on `xmpp_sansio` and std.
//!
//! Every check panics (with the input in the message where it helps) when a property fails.

use std::fmt::Write as _;

use xmpp_sansio::xml::{
    Element, ElementRef, ErrorKind, Event, Limits, Node, ParseError, StreamParser,
};

/// `http://etherx.jabber.org/streams`.
pub const STREAMS_NS: &str = "http://etherx.jabber.org/streams";

/// Tight limits, so that every limit is within reach of a small fuzz input.
pub const SMALL_LIMITS: Limits = {
    let mut l = Limits::DEFAULT;
    l.max_element_bytes = 512;
    l.max_header_bytes = 256;
    l.max_depth = 8;
    l.max_attributes = 8;
    l.max_name_bytes = 32;
    l.max_tree_bytes = 2048;
    l
};

/// Every input is parsed once with each of these.
pub const LIMITS: [Limits; 2] = [Limits::DEFAULT, SMALL_LIMITS];

/// Limits for parsing serialized output again: serialization adds namespace declarations and
/// escapes, so it may exceed the limits its input was held to.
const GENEROUS_LIMITS: Limits = {
    let mut l = Limits::DEFAULT;
    l.max_element_bytes = 1 << 30;
    l.max_header_bytes = 1 << 30;
    l.max_depth = 1 << 20;
    l.max_attributes = 1 << 20;
    l.max_name_bytes = 65535;
    l.max_tree_bytes = 1 << 30;
    l
};

/// Target `stream_parser`: `data` in one `handle_input` call, with each of [`LIMITS`].
///
/// - no panic; the bytes held between calls stay within `max_header_bytes` before the header
///   is complete and within `max_element_bytes` after;
/// - events come in stream order (header, elements, close) and each one's `raw()` is the
///   exact input, within its size limit, separated from the previous unit by white
///   space only (and the XML declaration before the header); trees respect the limits;
/// - an error is sticky: later input and `handle_eof` return the same error;
/// - every element serialized with `Display` parses again, in a stream whose default
///   namespace is empty (what `Display` writes for), into an equal element that serializes
///   the same; its `raw()` after the header's `raw()` parses into an equal element too;
/// - the limits change only where a parse stops: the events of one parse are a prefix of the
///   other's, and without a limit error the two outcomes are equal.
pub fn stream_parser(data: &[u8]) {
    let [default, small] = LIMITS.map(|limits| stream_parser_with(data, limits));
    // Limits stop a parse early but never change what it finds before: one parse's events
    // are a prefix of the other's, and when no limit was hit the outcomes are equal.
    for (i, (a, b)) in default.events.iter().zip(&small.events).enumerate() {
        assert_same_event(a, b, i, &|| {
            format!("default vs small limits\ninput: {}", show(data))
        });
    }
    let hit_limit = |o: &Outcome| {
        [o.input, o.eof]
            .iter()
            .any(|r| matches!(r, Err(e) if matches!(e.kind(), ErrorKind::LimitExceeded(_))))
    };
    if !hit_limit(&default) && !hit_limit(&small) {
        assert_eq!(
            (default.events.len(), default.input, default.eof),
            (small.events.len(), small.input, small.eof),
            "default and small limits disagree without a limit being hit\ninput: {}",
            show(data)
        );
    }
}

fn stream_parser_with(data: &[u8], limits: Limits) -> Outcome {
    let mut parser = StreamParser::new(limits);
    let result = parser.handle_input(data);
    check_buffered(&parser, &limits, data);
    if let Err(e) = result {
        check_error_offset(e, data.len() as u64, data);
        assert_eq!(parser.error(), Some(e), "error() after a failed call");
    }

    let mut header: Option<Element> = None;
    let mut closed = false;
    let mut pos = 0usize;
    let events: Vec<Event> = std::iter::from_fn(|| parser.poll_event()).collect();
    for event in events.iter().cloned() {
        assert!(
            !closed,
            "an event after StreamClosed: {event:?}\ninput: {}",
            show(data)
        );
        match event {
            Event::StreamOpened(h) => {
                assert!(
                    header.is_none(),
                    "a second StreamOpened\ninput: {}",
                    show(data)
                );
                assert!(
                    h.is("stream", STREAMS_NS),
                    "StreamOpened is not a stream header: {h}"
                );
                assert!(h.root().is_empty(), "the stream header has children: {h}");
                pos = locate(data, pos, h.raw(), true, &limits);
                check_tree(&h, &limits);
                header = Some(h);
            }
            Event::Element(el) => {
                let h = header.as_ref().unwrap_or_else(|| {
                    panic!("an element before StreamOpened\ninput: {}", show(data))
                });
                pos = locate(data, pos, el.raw(), false, &limits);
                check_tree(&el, &limits);
                check_reserialized(&el);
                check_raw_replay(h, &el, &limits);
            }
            Event::StreamClosed => {
                assert!(
                    header.is_some(),
                    "StreamClosed before StreamOpened\ninput: {}",
                    show(data)
                );
                closed = true;
            }
        }
    }
    // A failed parser is neither open nor closed.
    assert_eq!(
        parser.is_closed(),
        closed && result.is_ok(),
        "is_closed() disagrees with the events"
    );
    assert_eq!(
        parser.is_open(),
        header.is_some() && !closed && result.is_ok(),
        "is_open() disagrees with the events"
    );

    let eof = parser.handle_eof();
    match result {
        Err(e) => assert_eq!(eof, Err(e), "handle_eof after an error"),
        Ok(()) if header.is_some() && !closed => assert!(
            eof.is_err(),
            "handle_eof accepted a stream that is still open\ninput: {}",
            show(data)
        ),
        // Bytes after the close were accepted only if the parser had nothing to say of them
        // yet: a lead byte whose sequence never completed, which the end of input makes
        // unsupported-encoding (its offset is checked below).
        Ok(()) if closed => assert!(
            eof.is_ok()
                || eof
                    .is_err_and(|e| e.kind()
                        == ErrorKind::InvalidUtf8(xmpp_sansio::xml::Utf8Fault::Truncated)),
            "handle_eof after StreamClosed: {eof:?}"
        ),
        Ok(()) => {}
    }
    if let Err(e) = eof {
        check_error_offset(e, data.len() as u64, data);
    }
    assert!(
        parser.poll_event().is_none(),
        "handle_eof produced an event"
    );
    // Once failed (by input or at the end), every later call returns the same error.
    if let Err(e) = eof {
        for more in [&b""[..], b" ", b"<", b"<a/>", b"\xff"] {
            assert_eq!(
                parser.handle_input(more),
                Err(e),
                "input after an error did not return the same error"
            );
        }
        assert_eq!(
            parser.handle_eof(),
            Err(e),
            "second handle_eof after an error"
        );
        assert!(parser.poll_event().is_none(), "an event after an error");
    }
    Outcome {
        events,
        input: result,
        eof,
    }
}

/// Input for target `stream_parser_chunked`: stream bytes and where to cut them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkedInput<'a> {
    /// The stream bytes.
    pub data: &'a [u8],
    /// Chunk lengths, used in a cycle until `data` runs out; a zero length is a
    /// `handle_input` call with an empty slice. No lengths: one byte per call.
    pub lens: Vec<usize>,
}

impl<'a> ChunkedInput<'a> {
    /// Decodes fuzz input: the low four bits of the first byte say how many chunk lengths
    /// follow, one byte each (0 to 255); the rest is the stream. Zero lengths: byte by byte.
    pub fn from_bytes(bytes: &'a [u8]) -> Self {
        let Some((&first, rest)) = bytes.split_first() else {
            return ChunkedInput {
                data: bytes,
                lens: Vec::new(),
            };
        };
        let n = usize::from(first & 0x0F).min(rest.len());
        let (lens, data) = rest.split_at(n);
        ChunkedInput {
            data,
            lens: lens.iter().map(|&b| usize::from(b)).collect(),
        }
    }

    /// The inverse of [`from_bytes`](Self::from_bytes), for writing seeds: at most 15
    /// lengths, each at most 255.
    pub fn to_bytes(&self) -> Vec<u8> {
        assert!(self.lens.len() <= 15, "at most 15 chunk lengths");
        let mut out = vec![self.lens.len() as u8];
        out.extend(
            self.lens
                .iter()
                .map(|&l| u8::try_from(l).expect("a length <= 255")),
        );
        out.extend_from_slice(self.data);
        out
    }

    /// The slices to feed, in order; they concatenate to `data`.
    pub fn chunks(&self) -> Vec<&'a [u8]> {
        let mut rest = self.data;
        if self.lens.is_empty() {
            return rest.chunks(1).collect();
        }
        let mut out = Vec::new();
        if self.lens.iter().all(|&l| l == 0) {
            out.extend(self.lens.iter().map(|_| &rest[..0]));
            out.push(rest);
            return out;
        }
        for &len in self.lens.iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let (chunk, tail) = rest.split_at(len.min(rest.len()));
            out.push(chunk);
            rest = tail;
        }
        out
    }
}

/// What one parse produced.
struct Outcome {
    events: Vec<Event>,
    input: Result<(), ParseError>,
    eof: Result<(), ParseError>,
}

/// Target `stream_parser_chunked`: the data cut into the chunks of `input`, with each of
/// [`LIMITS`], fed to `handle_input` and (separately) to `handle_input_partial` (passing the
/// unconsumed rest again), gives exactly the events (kind, `raw()` bytes, `Display` and
/// `==`), the same error (kind and offset) and the same `handle_eof` result as the whole
/// slice in one `handle_input` call; `handle_input_partial` stops only right after an event;
/// the bytes held stay within the unit size limits after every call; once a call fails, every
/// later one returns the same error.
pub fn stream_parser_chunked(input: &ChunkedInput<'_>) {
    let chunks = input.chunks();
    debug_assert_eq!(chunks.concat(), input.data);
    for limits in LIMITS {
        let whole = parse_whole(input.data, limits);
        for (mode, cut) in [
            ("handle_input", parse_chunks(input.data, &chunks, limits)),
            (
                "handle_input_partial",
                parse_partial(input.data, &chunks, limits),
            ),
        ] {
            let ctx = || {
                format!(
                    "mode: {mode}\nlimits: {limits:?}\nchunks: {:?}\ninput: {}",
                    chunks.iter().map(|c| c.len()).collect::<Vec<_>>(),
                    show(input.data)
                )
            };
            for (i, (a, b)) in whole.events.iter().zip(&cut.events).enumerate() {
                assert_same_event(a, b, i, &ctx);
            }
            assert_eq!(
                whole.events.len(),
                cut.events.len(),
                "whole and chunked parses gave different event counts\n{}",
                ctx()
            );
            assert_eq!(
                whole.input,
                cut.input,
                "whole and chunked parses stopped differently\n{}",
                ctx()
            );
            assert_eq!(
                whole.eof,
                cut.eof,
                "handle_eof differs between whole and chunked parses\n{}",
                ctx()
            );
        }
    }
}

fn parse_whole(data: &[u8], limits: Limits) -> Outcome {
    let mut parser = StreamParser::new(limits);
    let input = parser.handle_input(data);
    check_buffered(&parser, &limits, data);
    let events = std::iter::from_fn(|| parser.poll_event()).collect();
    let eof = parser.handle_eof();
    Outcome { events, input, eof }
}

fn parse_chunks(data: &[u8], chunks: &[&[u8]], limits: Limits) -> Outcome {
    let mut parser = StreamParser::new(limits);
    let mut events = Vec::new();
    let mut input = Ok(());
    for chunk in chunks {
        let r = parser.handle_input(chunk);
        check_buffered(&parser, &limits, data);
        match (input, r) {
            (Ok(()), r) => input = r,
            (Err(e), r) => assert_eq!(
                r,
                Err(e),
                "a call after an error did not return the same error\ninput: {}",
                show(data)
            ),
        }
        events.extend(std::iter::from_fn(|| parser.poll_event()));
    }
    let eof = parser.handle_eof();
    Outcome { events, input, eof }
}

/// Feeds the chunks through `handle_input_partial`, passing what it did not consume again
/// with the next chunk, as its documentation asks of callers.
fn parse_partial(data: &[u8], chunks: &[&[u8]], limits: Limits) -> Outcome {
    let mut parser = StreamParser::new(limits);
    let mut events = Vec::new();
    let mut input = Ok(());
    let mut pending: Vec<u8> = Vec::new();
    for chunk in chunks {
        pending.extend_from_slice(chunk);
        loop {
            if let Err(e) = input {
                assert_eq!(
                    parser.handle_input_partial(&pending),
                    Err(e),
                    "a partial call after an error did not return the same error\ninput: {}",
                    show(data)
                );
                break;
            }
            let before = events.len();
            let r = parser.handle_input_partial(&pending);
            check_buffered(&parser, &limits, data);
            events.extend(std::iter::from_fn(|| parser.poll_event()));
            let produced = events.len() - before;
            let used = match r {
                Ok(used) => used,
                Err(e) => {
                    input = Err(e);
                    break;
                }
            };
            assert!(
                used <= pending.len(),
                "handle_input_partial consumed {used} of {} bytes",
                pending.len()
            );
            assert!(
                produced <= 2,
                "handle_input_partial went past the first event ({produced} events)\ninput: {}",
                show(data)
            );
            assert!(
                produced > 0 || used == pending.len(),
                "handle_input_partial stopped at {used} of {} bytes without an event\ninput: {}",
                pending.len(),
                show(data)
            );
            pending.drain(..used);
            if produced == 0 || pending.is_empty() {
                break;
            }
        }
    }
    let eof = parser.handle_eof();
    Outcome { events, input, eof }
}

fn assert_same_event(a: &Event, b: &Event, i: usize, ctx: &dyn Fn() -> String) {
    let (ea, eb) = match (a, b) {
        (Event::StreamClosed, Event::StreamClosed) => return,
        (Event::StreamOpened(x), Event::StreamOpened(y))
        | (Event::Element(x), Event::Element(y)) => (x, y),
        _ => panic!("event {i} differs: {a:?} vs {b:?}\n{}", ctx()),
    };
    assert!(
        ea.raw() == eb.raw(),
        "event {i}: raw() differs: {:?} vs {:?}\n{}",
        String::from_utf8_lossy(ea.raw()),
        String::from_utf8_lossy(eb.raw()),
        ctx()
    );
    assert_eq!(
        ea.to_string(),
        eb.to_string(),
        "event {i}: Display differs\n{}",
        ctx()
    );
    assert!(ea == eb, "event {i}: the trees differ\n{}", ctx());
}

/// The parser's own bound: it holds at most one unfinished unit, of `max_header_bytes`
/// before the stream header is complete and of `max_element_bytes` after, plus up to three
/// bytes of a character that the limit cuts (whose validity decides which error is first).
fn check_buffered(parser: &StreamParser, limits: &Limits, data: &[u8]) {
    let (max, which) = unit_limit(limits, parser.header().is_none());
    assert!(
        parser.buffered() <= max + 3,
        "buffered() = {} exceeds {which} = {max}\ninput: {}",
        parser.buffered(),
        show(data)
    );
}

/// The size limit of a unit: the header (and XML declaration) or a first-level element.
fn unit_limit(limits: &Limits, header: bool) -> (usize, &'static str) {
    if header {
        (limits.max_header_bytes, "max_header_bytes")
    } else {
        (limits.max_element_bytes, "max_element_bytes")
    }
}

fn check_error_offset(e: ParseError, fed: u64, data: &[u8]) {
    assert!(
        e.offset() <= fed,
        "error offset {} beyond the {fed} bytes fed: {e}\ninput: {}",
        e.offset(),
        show(data)
    );
    // Formatting never panics.
    let _ = e.to_string();
    let _ = e.condition();
}

/// Finds `raw` in `data` at or after `from`; the bytes before it must be white space, or for
/// the header the XML declaration at the very start and white space. Returns the end.
fn locate(data: &[u8], from: usize, raw: &[u8], header: bool, limits: &Limits) -> usize {
    let (max, which) = unit_limit(limits, header);
    assert!(
        raw.len() <= max,
        "raw() is {} bytes, over {which} = {max}",
        raw.len()
    );
    assert!(
        raw.first() == Some(&b'<') && raw.last() == Some(&b'>'),
        "raw() is not one unit of markup: {:?}",
        String::from_utf8_lossy(raw)
    );
    let at = data[from..]
        .windows(raw.len())
        .position(|w| w == raw)
        .map(|i| from + i)
        .unwrap_or_else(|| {
            panic!(
                "raw() {:?} is not in the input after byte {from}\ninput: {}",
                String::from_utf8_lossy(raw),
                show(data)
            )
        });
    let mut gap = &data[from..at];
    if header && from == 0 && gap.starts_with(b"<?xml") {
        let end = gap
            .windows(2)
            .position(|w| w == b"?>")
            .expect("end of the XML declaration");
        gap = &gap[end + 2..];
    }
    assert!(
        gap.iter()
            .all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n')),
        "unexpected bytes {:?} between units\ninput: {}",
        String::from_utf8_lossy(gap),
        show(data)
    );
    at + raw.len()
}

/// Walks the whole tree through the public accessors and checks it against the limits.
fn check_tree(el: &Element, limits: &Limits) {
    let _ = el.text();
    let _ = el.name();
    let _ = el.ns();
    let depth = walk(el.root(), limits);
    assert!(
        depth <= limits.max_depth,
        "a tree of depth {depth} under max_depth = {}: {el}",
        limits.max_depth
    );
}

fn walk(el: ElementRef<'_>, limits: &Limits) -> usize {
    let name = el.name();
    let qname = el.qname();
    assert!(!name.is_empty(), "an element with an empty name");
    match el.prefix() {
        Some(p) => assert_eq!(qname, format!("{p}:{name}"), "qname() and prefix()"),
        None => assert_eq!(qname, name, "qname() without a prefix"),
    }
    assert!(
        qname.len() <= limits.max_name_bytes.min(65535),
        "name over the limit"
    );
    let attrs = el.attrs();
    assert!(
        attrs.len() <= limits.max_attributes,
        "attributes over the limit"
    );
    for a in attrs {
        assert!(!a.name.is_empty(), "an attribute with an empty name");
        assert_eq!(
            a.prefix.is_some(),
            !a.ns.is_empty(),
            "attribute prefix and namespace"
        );
        let v = a.value();
        assert_eq!(el.attr_ns(a.ns, a.name).as_deref(), Some(&*v), "attr_ns()");
        if a.ns.is_empty() {
            assert_eq!(el.attr(a.name).as_deref(), Some(&*v), "attr()");
        }
    }
    let _ = el.text();
    let mut depth = 0;
    for node in el.nodes() {
        match node {
            Node::Element(child) => depth = depth.max(walk(child, limits)),
            Node::Text(_) => {}
        }
    }
    assert_eq!(
        el.children().count(),
        el.nodes().filter(|n| matches!(n, Node::Element(_))).count(),
        "children() and nodes()"
    );
    depth + 1
}

/// Parses `doc`, a whole stream, and returns its one element.
fn parse_single(doc: &[u8], limits: Limits, what: &str, el: &Element) -> Element {
    let mut parser = StreamParser::new(limits);
    let result = parser.handle_input(doc).and_then(|()| parser.handle_eof());
    let events: Vec<Event> = std::iter::from_fn(|| parser.poll_event()).collect();
    let found = match (&result, events.as_slice()) {
        (
            Ok(()),
            [
                Event::StreamOpened(_),
                Event::Element(e),
                Event::StreamClosed,
            ],
        ) => Some(e),
        _ => None,
    };
    match found {
        Some(e) => e.clone(),
        None => {
            let mut msg = format!(
                "{what} does not parse again into one element\nelement: {el}\nraw: {:?}\ndocument: {:?}\nresult: {result:?}\nevents:",
                String::from_utf8_lossy(el.raw()),
                String::from_utf8_lossy(doc),
            );
            for e in &events {
                let _ = write!(msg, " {e:?};");
            }
            panic!("{msg}");
        }
    }
}

/// `Display` output parses again into an equal element, and serializes the same.
fn check_reserialized(el: &Element) {
    let text = el.to_string();
    let doc = format!("<stream:stream xmlns:stream='{STREAMS_NS}'>{text}</stream:stream>");
    let again = parse_single(doc.as_bytes(), GENEROUS_LIMITS, "Display output", el);
    assert!(
        again == *el,
        "Display output parses into a different tree\nelement: {:?}\nDisplay: {text}\nparsed again: {again}",
        String::from_utf8_lossy(el.raw())
    );
    assert_eq!(
        again.to_string(),
        text,
        "Display is not stable over a round trip (raw {:?})",
        String::from_utf8_lossy(el.raw())
    );
}

/// `raw()` after the stream header's `raw()` parses into the same element.
fn check_raw_replay(header: &Element, el: &Element, limits: &Limits) {
    let mut doc = header.raw().to_vec();
    doc.extend_from_slice(el.raw());
    let mut parser = StreamParser::new(*limits);
    let result = parser.handle_input(&doc);
    let events: Vec<Event> = std::iter::from_fn(|| parser.poll_event()).collect();
    match (result, events.as_slice()) {
        (Ok(()), [Event::StreamOpened(h), Event::Element(e)]) => {
            assert!(h == header, "the header's raw() parses differently");
            assert!(
                e.raw() == el.raw(),
                "raw() replayed gives a different raw()"
            );
            assert!(
                e == el && e.to_string() == el.to_string(),
                "raw() replayed after the header parses differently: {e} vs {el}"
            );
        }
        (result, events) => panic!(
            "raw() after the header's raw() does not parse again\ndocument: {:?}\nresult: {result:?}\nevents: {events:?}",
            String::from_utf8_lossy(&doc)
        ),
    }
}

/// The input for a panic message (fuzz inputs are small; cut long ones).
fn show(data: &[u8]) -> String {
    const MAX: usize = 2048;
    let s = String::from_utf8_lossy(&data[..data.len().min(MAX)]);
    if data.len() > MAX {
        format!("{s:?}... ({} bytes)", data.len())
    } else {
        format!("{s:?}")
    }
}
