//! Hostile input for the stream parser and the server role: first-level elements that a peer
//! may send before it logs in, each built to stay inside the parser's [`Limits`] while making
//! the parser work or hold as much as it can per byte received (issue 22), beside ordinary
//! markup of the same size.
//!
//! Every input is one unfinished first-level element (RFC 6120 section 4.1: the parser keeps
//! it until its end tag arrives, which never does): an opening part, then one repeated
//! [`Class`]-specific piece, cut after the last whole piece that fits the byte budget. The same
//! class and budget always give the same bytes, and a larger budget gives an extension of a
//! smaller one, so that feeding [`past_limit`] after [`holding`] pushes the same element
//! past the limit.
//!
//! It needs only `xmpp_sansio` and this crate's corpus, so that tests and the fuzz crate can
//! reuse it through a path dependency on `xmpp-benches`.

use std::time::Instant;

use xmpp_sansio::sasl::{Mechanism, UserCredential};
use xmpp_sansio::server::{Server, ServerConfig, ServerEvent};
use xmpp_sansio::stream::TlsPolicy;
use xmpp_sansio::xml::{Event, Limits, StreamParser};

/// One kind of hostile (or, for [`Class::Plain`], ordinary) first-level element.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    /// Ordinary dense markup, the baseline: `<message>` then `<b/>` repeated.
    Plain,
    /// `<message>` then siblings `<b xmlns:q='u&amp;0'/><b xmlns:q='u&amp;1'/>...`: a distinct
    /// namespace value per sibling, each needing decoding (issue 22, defect 1).
    NsDecode,
    /// `max_depth - 2` nested elements (62 by default) each declaring `max_attributes - 1`
    /// prefixes (63; about 3,900 bindings in scope), then `<b/>` repeated (defect 2).
    DeepScope,
    /// `<message>` then `x<b/>` repeated: a text node and an element every five bytes, the
    /// most nodes per byte (defect 3).
    Dense,
    /// `<message>` then `<b a0='v' a1='v' .../>` repeated, each with `max_attributes`
    /// distinct attributes (the per-tag attribute and namespace checks).
    ManyAttrs,
    /// `<message a='v' a='v' ...>` with `max_attributes + 1` copies (65 by default): a
    /// well-formedness fault that is also past the attribute limit (defect 4). Its input does
    /// not grow with the budget.
    DupAttrs,
    /// `<message>` then `<n...(max_name_bytes)... a...(max_name_bytes)...='v'/>` repeated:
    /// element and attribute names of the longest length allowed, distinct each time.
    LongNames,
    /// `<message v='...`: one attribute value filling the element, with `&amp;` every 64
    /// bytes, never closed.
    LongValue,
    /// `<message>` then elements nested to `max_depth` and closed again, repeated.
    DeepNesting,
}

impl Class {
    /// Every class, the baseline first.
    pub const ALL: [Class; 9] = [
        Class::Plain,
        Class::NsDecode,
        Class::DeepScope,
        Class::Dense,
        Class::ManyAttrs,
        Class::DupAttrs,
        Class::LongNames,
        Class::LongValue,
        Class::DeepNesting,
    ];

    /// The name it is reported under.
    pub fn name(self) -> &'static str {
        match self {
            Class::Plain => "plain-b",
            Class::NsDecode => "ns-decode",
            Class::DeepScope => "deep-scope",
            Class::Dense => "dense-x-b",
            Class::ManyAttrs => "many-attrs",
            Class::DupAttrs => "dup-attrs",
            Class::LongNames => "long-names",
            Class::LongValue => "long-value",
            Class::DeepNesting => "deep-nesting",
        }
    }

    /// The opening part, before the repeated piece: the same for any budget, so that a
    /// larger budget extends a smaller one.
    fn opening(self, limits: &Limits) -> String {
        match self {
            Class::DeepScope => {
                // As many levels as the depth and the element limit allow: the declarations
                // take at most half of the limit, so that `<b/>` fills the rest.
                let decls = limits.max_attributes.saturating_sub(1);
                let mut out = String::new();
                let mut level = 0;
                while level + 2 < limits.max_depth {
                    let mut tag = String::from(if level == 0 { "<message" } else { "<e" });
                    for i in 0..decls {
                        tag.push_str(&format!(" xmlns:p{i}='u:{level}:{i}'"));
                    }
                    tag.push('>');
                    if level > 0 && out.len() + tag.len() > limits.max_element_bytes / 2 {
                        break;
                    }
                    out.push_str(&tag);
                    level += 1;
                }
                out
            }
            Class::DupAttrs => {
                let mut out = String::from("<message");
                for _ in 0..=limits.max_attributes {
                    out.push_str(" a='v'");
                }
                out.push('>');
                out
            }
            Class::LongValue => "<message v='".into(),
            _ => "<message>".into(),
        }
    }

    /// The `i`th repeated piece; `None` for a class that does not repeat.
    fn piece(self, limits: &Limits, i: usize) -> Option<String> {
        Some(match self {
            Class::Plain | Class::DeepScope => "<b/>".into(),
            Class::NsDecode => format!("<b xmlns:q='u&amp;{i}'/>"),
            Class::Dense => "x<b/>".into(),
            Class::ManyAttrs => {
                let mut out = String::from("<b");
                for a in 0..limits.max_attributes {
                    out.push_str(&format!(" a{a}='v'"));
                }
                out.push_str("/>");
                out
            }
            Class::DupAttrs => return None,
            Class::LongNames => {
                let n = limits.max_name_bytes.max(10);
                let name = long_name('n', i, n);
                let attr = long_name('a', i, n);
                format!("<{name} {attr}='v'/>")
            }
            Class::LongValue => {
                let mut out = String::from("&amp;");
                for k in 0..59 {
                    out.push(char::from(b'a' + ((i + k) % 26) as u8));
                }
                out
            }
            Class::DeepNesting => {
                let d = limits.max_depth.saturating_sub(1);
                "<a>".repeat(d) + &"</a>".repeat(d)
            }
        })
    }
}

/// A name of exactly `len` bytes, distinct for each `i`: `first`, `i` in hex, then `z`s.
fn long_name(first: char, i: usize, len: usize) -> String {
    let mut out = format!("{first}{i:x}");
    while out.len() < len {
        out.push('z');
    }
    out.truncate(len);
    out
}

/// The first-level element of `class` against `limits`, unfinished, at most `budget` bytes
/// long (its opening part alone may be longer for [`Class::DupAttrs`]), filled with as many
/// whole pieces as fit.
pub fn element(class: Class, limits: &Limits, budget: usize) -> Vec<u8> {
    let mut out = class.opening(limits);
    for i in 0.. {
        let Some(piece) = class.piece(limits, i) else {
            break;
        };
        if out.len() + piece.len() > budget {
            break;
        }
        out.push_str(&piece);
    }
    out.into_bytes()
}

/// How far below the element limit [`holding`] stops: an element that has used every byte
/// the limit allows cannot end any more, and the parser may refuse it at once.
pub const HOLD_MARGIN: usize = 512;

/// The element of `class` that a session holds unfinished, just under the element limit
/// of `limits`: [`element`] with `max_element_bytes - HOLD_MARGIN` bytes.
pub fn holding(class: Class, limits: &Limits) -> Vec<u8> {
    element(class, limits, limits.max_element_bytes - HOLD_MARGIN)
}

/// The element of `class` extended past the element limit of `limits` (by 4 KiB and two
/// pieces): after [`holding`], the rest of it makes the stream fail with
/// `policy-violation`.
pub fn past_limit(class: Class, limits: &Limits) -> Vec<u8> {
    let piece = class.piece(limits, 0).map_or(0, |p| p.len());
    element(class, limits, limits.max_element_bytes + 4096 + 2 * piece)
}

/// `limits` with every bound on a structure (element bytes, depth, attributes, name bytes,
/// tree bytes) multiplied by `factor`, for checking that raising them keeps the cost per
/// byte.
pub fn scaled(limits: Limits, factor: usize) -> Limits {
    let mut scaled = limits;
    scaled.max_element_bytes *= factor;
    scaled.max_depth *= factor;
    scaled.max_attributes *= factor;
    scaled.max_name_bytes *= factor;
    scaled.max_tree_bytes *= factor;
    scaled
}

/// `limits` without the bound on an element's tree, for the CPU measurements: dense inputs
/// would otherwise be refused long before their end (at the defaults `<b/>` repeated fills
/// the tree at 64 KiB), and a refused input reads as cheap per byte. Without it every input
/// is parsed to its end, so the cost per byte is that of the parsing itself.
pub fn unbounded_tree(limits: Limits) -> Limits {
    let mut unbounded = limits;
    unbounded.max_tree_bytes = usize::MAX;
    unbounded
}

/// The domain the server serves.
pub const DOMAIN: &str = "montague.example";

/// The client's correct stream header for [`DOMAIN`].
pub const C2S_HEADER: &[u8] = b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
    xmlns:stream='http://etherx.jabber.org/streams' to='montague.example' version='1.0' \
    xml:lang='en'>";

/// The server's configuration: the defaults but for TLS (disabled) and PLAIN (allowed
/// without TLS), so that [`server_online`] can log in without a TLS library; before login
/// the parser sees exactly what it would see on a TLS stream.
pub fn server_config(limits: Limits) -> ServerConfig {
    let mut config = ServerConfig::new(DOMAIN, b"bench secret".to_vec());
    config.tls = TlsPolicy::Disabled;
    config.allow_plain_without_tls = true;
    config.mechanisms = vec![Mechanism::Plain];
    config.limits = limits;
    // The limits given hold before login too, so that the drivers compare like with like;
    // the server's own default before login (`Limits::PRE_AUTH`) is tighter still.
    config.pre_auth_limits = limits;
    config
}

/// A server that has accepted the client's stream header and sent its features: where any
/// peer on the internet stands before logging in.
pub fn server_after_header(now: Instant, limits: Limits) -> Server {
    let mut s = Server::new(server_config(limits), 22, now);
    let out = feed_server(&mut s, now, C2S_HEADER, usize::MAX);
    assert_eq!(out.error, None, "the stream header is accepted");
    s
}

/// A server whose client has logged in (PLAIN, `romeo`) and bound `crate::CLIENT_JID`:
/// stanzas flow.
pub fn server_online(now: Instant, limits: Limits) -> Server {
    let mut s = server_after_header(now, limits);
    // base64 of "\0romeo\0pw"
    s.handle_input(
        now,
        b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AHJvbWVvAHB3</auth>",
    )
    .expect("auth");
    assert!(drain(&mut s).any(|e| matches!(e, ServerEvent::AuthRequest { .. })));
    s.credentials(now, UserCredential::Password("pw".into()))
        .expect("credentials");
    s.handle_input(now, C2S_HEADER).expect("restart");
    s.handle_input(
        now,
        b"<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>",
    )
    .expect("bind");
    assert!(drain(&mut s).any(|e| matches!(e, ServerEvent::BindRequest { .. })));
    s.bind(now, crate::CLIENT_JID.parse().expect("a full JID"))
        .expect("bind");
    assert!(drain(&mut s).any(|e| matches!(e, ServerEvent::Online(_))));
    while s.poll_transmit().is_some() {}
    s
}

/// A bare parser that has parsed the corpus's stream header ([`crate::HEADER`]).
pub fn parser_after_header(limits: Limits) -> StreamParser {
    let mut p = StreamParser::new(limits);
    let out = feed_parser(&mut p, crate::HEADER.as_bytes(), usize::MAX);
    assert_eq!(out.error, None, "the stream header is accepted");
    p
}

fn drain(s: &mut Server) -> impl Iterator<Item = ServerEvent> + '_ {
    std::iter::from_fn(|| s.poll_event())
}

/// What feeding a session did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// First-level elements handed over (the parser's `Element` events, the server's
    /// `Stanza` events).
    pub elements: usize,
    /// The stream's failure, if it failed: the parser's error (kind, offset and condition),
    /// or the server's stream error condition as sent.
    pub error: Option<String>,
}

/// Feeds `input` to a parser in `chunk`-byte reads through `handle_input_partial`, draining
/// every event as it comes (the pattern for large buffers).
pub fn feed_parser(p: &mut StreamParser, input: &[u8], chunk: usize) -> Outcome {
    let mut out = Outcome::default();
    for piece in input.chunks(chunk.max(1)) {
        let mut rest = piece;
        while !rest.is_empty() {
            let used = p.handle_input_partial(rest);
            while let Some(ev) = p.poll_event() {
                if let Event::Element(_) = ev {
                    out.elements += 1;
                }
            }
            match used {
                Ok(n) => rest = &rest[n..],
                Err(e) => {
                    out.error = Some(e.to_string());
                    return out;
                }
            }
        }
    }
    out
}

/// Feeds `input` to a server in `chunk`-byte reads through `handle_input`, draining events
/// and output after each read as an embedder does; stops at `Closed`.
pub fn feed_server(s: &mut Server, now: Instant, input: &[u8], chunk: usize) -> Outcome {
    let mut out = Outcome::default();
    let mut sent = Vec::new();
    for piece in input.chunks(chunk.max(1)) {
        s.handle_input(now, piece)
            .expect("input in a state that takes it");
        let mut closed = false;
        while let Some(ev) = s.poll_event() {
            match ev {
                ServerEvent::Stanza(_) => out.elements += 1,
                ServerEvent::Closed(_) => closed = true,
                _ => {}
            }
        }
        while let Some(b) = s.poll_transmit() {
            sent.extend_from_slice(&b);
        }
        if closed {
            out.error = Some(stream_error_condition(&sent));
            break;
        }
        // Keep only what the condition could be read from.
        if sent.len() > 4096 {
            sent.drain(..sent.len() - 1024);
        }
    }
    out
}

/// The condition of the stream error in a server's output (`closed` when it closed without
/// one).
fn stream_error_condition(sent: &[u8]) -> String {
    let text = String::from_utf8_lossy(sent);
    match text.find("<stream:error><") {
        Some(at) => text[at + 15..]
            .split([' ', '/', '>'])
            .next()
            .unwrap_or_default()
            .to_owned(),
        None => "closed".into(),
    }
}

/// The c2s corpus as a client sends it: the stanzas of `crate::corpus(target_bytes)`
/// (without its header and closing tag) with the `from` of each first-level element removed,
/// since a server refuses any `from` that is not the client's own (RFC 6120 8.1.2.1), and
/// the number of stanzas.
pub fn client_corpus(target_bytes: usize) -> (Vec<u8>, usize) {
    let c = crate::corpus(target_bytes);
    let mut out = Vec::with_capacity(c.bytes.len());
    let mut start = c.header_len;
    for &end in &c.ends {
        let unit = &c.bytes[start..end];
        let tag_end = unit.iter().position(|&b| b == b'>').expect("a start tag");
        let tag = &unit[..tag_end];
        match tag.windows(7).position(|w| w == b" from='") {
            Some(at) => {
                let close = tag[at + 7..]
                    .iter()
                    .position(|&b| b == b'\'')
                    .expect("a closed value");
                out.extend_from_slice(&unit[..at]);
                out.extend_from_slice(&unit[at + 7 + close + 1..]);
            }
            None => out.extend_from_slice(unit),
        }
        start = end;
    }
    (out, c.stanzas)
}

/// Where hostile input is fed, as the benches report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    /// A bare `StreamParser` after the corpus's stream header, fed through
    /// `handle_input_partial`.
    Parser,
    /// A `Server` after a correct client header, before any login: where anyone on the
    /// internet stands.
    Server,
    /// A `Server` whose client has logged in and bound a resource.
    ServerOnline,
}

impl Driver {
    /// Every driver.
    pub const ALL: [Driver; 3] = [Driver::Parser, Driver::Server, Driver::ServerOnline];

    /// The name it is reported under.
    pub fn name(self) -> &'static str {
        match self {
            Driver::Parser => "parser",
            Driver::Server => "server",
            Driver::ServerOnline => "server-online",
        }
    }
}

/// A session of some [`Driver`], after its header.
#[derive(Debug)]
pub enum Session {
    /// [`Driver::Parser`].
    Parser(Box<StreamParser>),
    /// [`Driver::Server`] or [`Driver::ServerOnline`].
    Server(Box<Server>),
}

impl Session {
    /// A fresh session of `driver` with `limits`, its header taken.
    pub fn new(driver: Driver, now: Instant, limits: Limits) -> Session {
        match driver {
            Driver::Parser => Session::Parser(Box::new(parser_after_header(limits))),
            Driver::Server => Session::Server(Box::new(server_after_header(now, limits))),
            Driver::ServerOnline => Session::Server(Box::new(server_online(now, limits))),
        }
    }

    /// Feeds `input` in `chunk`-byte reads ([`feed_parser`], [`feed_server`]).
    pub fn feed(&mut self, now: Instant, input: &[u8], chunk: usize) -> Outcome {
        match self {
            Session::Parser(p) => feed_parser(p, input, chunk),
            Session::Server(s) => feed_server(s, now, input, chunk),
        }
    }
}

/// One input of the benches: its name, and its bytes for each driver.
#[derive(Debug, Clone)]
pub struct Input {
    /// A [`Class::name`], or `corpus`.
    pub name: &'static str,
    parser: Vec<u8>,
    server: Option<Vec<u8>>,
    online: Vec<u8>,
}

impl Input {
    /// The bytes fed to `driver` after its header; `None` when the input is not run there.
    pub fn for_driver(&self, driver: Driver) -> Option<&[u8]> {
        match driver {
            Driver::Parser => Some(&self.parser),
            Driver::Server => self.server.as_deref(),
            Driver::ServerOnline => Some(&self.online),
        }
    }
}

/// The inputs of the benches for `limits`: each class as the element [`holding`] gives,
/// then `corpus`, the stanzas of a c2s corpus of about the element limit (as a server sends
/// them for the parser, as a client sends them, [`client_corpus`], for the logged-in server;
/// the server before login would refuse the first stanza, so it does not get it).
pub fn inputs(limits: &Limits) -> Vec<Input> {
    let mut all: Vec<Input> = Class::ALL
        .iter()
        .map(|&class| {
            let bytes = holding(class, limits);
            Input {
                name: class.name(),
                parser: bytes.clone(),
                server: Some(bytes.clone()),
                online: bytes,
            }
        })
        .collect();
    let target = crate::HEADER.len() + limits.max_element_bytes;
    let c = crate::corpus(target);
    let (online, _) = client_corpus(target);
    all.push(Input {
        name: "corpus",
        parser: c.bytes[c.header_len..].to_vec(),
        server: None,
        online,
    });
    all
}

/// The multiplier of the structure limits that `XMPP_HOSTILE_SCALE` asks for (1 without).
pub fn scale_from_env() -> usize {
    match std::env::var("XMPP_HOSTILE_SCALE") {
        Ok(v) => v
            .trim()
            .parse()
            .expect("XMPP_HOSTILE_SCALE must be a factor"),
        Err(_) => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xmpp_sansio::xml::{ErrorKind, Limit};

    fn parse(limits: Limits, input: &[u8], chunk: usize) -> (StreamParser, Outcome) {
        let mut p = parser_after_header(limits);
        let out = feed_parser(&mut p, input, chunk);
        (p, out)
    }

    #[test]
    fn inputs_are_deterministic_and_fill_their_budget() {
        for l in [Limits::default(), scaled(Limits::default(), 10)] {
            budgets(l);
        }
    }

    fn budgets(l: Limits) {
        for class in Class::ALL {
            let a = holding(class, &l);
            assert_eq!(a, holding(class, &l), "{class:?}");
            if class == Class::DupAttrs {
                continue;
            }
            let budget = l.max_element_bytes - HOLD_MARGIN;
            assert!(a.len() <= budget, "{class:?}");
            let piece = class.piece(&l, 0).unwrap().len();
            assert!(a.len() + 2 * piece > budget, "{class:?}");
            // A larger budget extends the same element.
            let more = past_limit(class, &l);
            assert!(more.starts_with(&a), "{class:?}");
            assert!(more.len() > l.max_element_bytes, "{class:?}");
        }
    }

    #[test]
    fn deep_scope_declares_62_levels_of_63_prefixes() {
        let l = Limits::default();
        let e = String::from_utf8(holding(Class::DeepScope, &l)).unwrap();
        assert_eq!(e.matches("xmlns:").count(), 62 * 63);
        assert_eq!(e.matches("<e ").count(), 61);
    }

    /// Each class respects the limits it is built against (so that its cost is what any
    /// peer can cause), stays well-formed so far (no fault but a limit the parser may add
    /// later), and goes past the element limit when extended; `DupAttrs` fails at once.
    #[test]
    fn the_parser_holds_each_class_until_the_element_limit() {
        // Doubled structure limits in a smaller element: the builders follow the limits
        // they are given (and the test stays quick without optimizations).
        let mut doubled = scaled(Limits::default(), 2);
        doubled.max_element_bytes = 96 * 1024;
        for (factor, l) in [(1, Limits::default()), (2, doubled)] {
            for class in Class::ALL {
                let input = holding(class, &l);
                // One way of feeding each (the bench tries all three): without optimizations
                // the classes that are slow to parse would take minutes.
                {
                    let chunk = if factor == 1 { usize::MAX } else { 1500 };
                    let (p, out) = parse(l, &input, chunk);
                    if class == Class::DupAttrs {
                        assert!(out.error.is_some(), "{class:?}");
                        continue;
                    }
                    match p.error().map(|e| e.kind()) {
                        None => assert!(p.is_open() && p.buffered() == input.len()),
                        Some(ErrorKind::LimitExceeded(
                            Limit::ElementBytes
                            | Limit::Depth
                            | Limit::Attributes
                            | Limit::NameBytes,
                        )) => panic!("{class:?} x{factor} exceeds a limit: {out:?}"),
                        Some(ErrorKind::LimitExceeded(_)) => {}
                        Some(_) => panic!("{class:?} x{factor} is malformed: {out:?}"),
                    }
                    assert_eq!(out.elements, 0);
                }
                let over = past_limit(class, &l);
                let (p, _) = parse(l, &over, 1500);
                assert!(
                    matches!(
                        p.error().map(|e| e.kind()),
                        Some(ErrorKind::LimitExceeded(_) | ErrorKind::DuplicateAttribute)
                    ),
                    "{class:?} x{factor}: {:?}",
                    p.error()
                );
            }
        }
    }

    #[test]
    fn the_server_takes_the_client_corpus_and_refuses_an_element_past_the_limit() {
        let now = Instant::now();
        let l = Limits::default();
        let (corpus, stanzas) = client_corpus(300_000);
        let mut s = server_online(now, l);
        assert_eq!(
            feed_server(&mut s, now, &corpus, 1500),
            Outcome {
                elements: stanzas,
                error: None
            }
        );
        let mut s = server_after_header(now, l);
        let over = past_limit(Class::Plain, &l);
        let out = feed_server(&mut s, now, &over, 1500);
        assert_eq!(out.error.as_deref(), Some("policy-violation"));
        assert!(s.is_closed());
    }
}
