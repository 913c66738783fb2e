//! Shared pieces of the `xmpp-proto` parser benchmarks: a deterministic corpus of a realistic
//! client-to-server stream (as a server sends it to a client), and one driver per parser that
//! parses a whole corpus and counts its first-level elements.
//!
//! The corpus is made by an inline splitmix64 generator with a fixed seed, so every run and
//! every machine measures the same bytes. It holds, after an XML declaration and the stream
//! header, a mix of first-level elements in roughly the proportions of a busy client session:
//!
//! | stanza | share | what it exercises |
//! | --- | --- | --- |
//! | one-to-one chat message | 55 % | text of 20–200 characters, some non-ASCII (é, ü, Cyrillic, CJK, emoji), some `&amp;` / `&lt;` / `&gt;` |
//! | MUC groupchat message | 22 % | `<delay>` and `<stanza-id>` children, non-ASCII nicknames in attributes |
//! | presence | 15 % | `<show>`, `<status>`, `<priority>`, entity caps `<c/>` |
//! | XEP-0199 ping | 7.5 % | a small `<iq>` |
//! | roster result | 0.5 % | 50 `<item>`s with `<group>` |
//!
//! Some stanzas are followed by a whitespace keepalive, and the stream ends with
//! `</stream:stream>`.
//!
//! The drivers ([`ours`], [`quick_xml_reader`], [`quick_xml_ns_reader`], [`rxml()`],
//! [`xml_rs`]) each return the number of first-level elements they saw, so a benchmark can
//! check once that every contestant parsed the whole corpus before it measures them.
//!
//! [`hostile`] builds the hostile inputs of issue 22 and drives them through the parser and
//! the server role; [`counting`] is the counting global allocator of the memory benches.

use xmpp_proto::xml::{Event, StreamParser};

pub mod counting;
pub mod hostile;

/// A generated stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Corpus {
    /// The whole stream: XML declaration, header, stanzas and keepalives, closing tag.
    pub bytes: Vec<u8>,
    /// How many first-level elements (stanzas) it holds.
    pub stanzas: usize,
    /// The length of the XML declaration and stream header: the offset of the first stanza.
    pub header_len: usize,
    /// For each stanza, the offset just past its end tag.
    pub ends: Vec<usize>,
}

impl Corpus {
    /// The corpus up to the end of its `n`th stanza (the header alone for `n == 0`): a prefix
    /// after which a parser holds no unfinished unit.
    pub fn prefix(&self, n: usize) -> &[u8] {
        let end = match n {
            0 => self.header_len,
            n => self.ends[n - 1],
        };
        &self.bytes[..end]
    }
}

/// The client's full JID, to which every stanza is addressed.
pub const CLIENT_JID: &str = "romeo@montague.example/orchard";

/// The stream header a server sends to that client (after the XML declaration).
pub const HEADER: &str = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
    xmlns:stream='http://etherx.jabber.org/streams' from='montague.example' \
    to='romeo@montague.example' id='++TR84Sm6A3hnt3Q065SnAbbk3Y=' version='1.0' \
    xml:lang='en'>";

/// The stream's closing tag.
pub const FOOTER: &str = "</stream:stream>";

/// A stream of about `target_bytes` bytes (at least the header, one stanza and the closing
/// tag), the same for every call with the same argument.
pub fn corpus(target_bytes: usize) -> Corpus {
    let mut g = Gen::new(0x5EED_C0DE_2024_0601);
    let mut out = String::with_capacity(target_bytes + 8 * 1024);
    out.push_str(HEADER);
    let header_len = out.len();
    let mut ends = Vec::new();
    while ends.is_empty() || out.len() + FOOTER.len() < target_bytes {
        let pick = g.below(1000);
        match pick {
            0..550 => g.chat(&mut out),
            550..770 => g.groupchat(&mut out),
            770..920 => g.presence(&mut out),
            920..995 => g.ping(&mut out),
            _ => g.roster(&mut out, 50),
        }
        ends.push(out.len());
        // Whitespace keepalives (RFC 6120 section 4.6.1) between some stanzas.
        if g.below(100) < 8 {
            out.push_str(if g.below(4) == 0 { "\n" } else { " " });
        }
    }
    out.push_str(FOOTER);
    Corpus {
        stanzas: ends.len(),
        bytes: out.into_bytes(),
        header_len,
        ends,
    }
}

/// One roster result (`<iq type='result'><query xmlns='jabber:iq:roster'>...`) with enough
/// items to be about `target_bytes` long: a large stanza, for measuring what a parser keeps
/// after one.
pub fn large_stanza(target_bytes: usize) -> Vec<u8> {
    let mut g = Gen::new(0x1A56_E000_0000_0001);
    let mut out = String::with_capacity(target_bytes + 1024);
    g.roster_open(&mut out);
    while out.len() + ROSTER_CLOSE.len() < target_bytes {
        g.roster_item(&mut out);
    }
    out.push_str(ROSTER_CLOSE);
    out.into_bytes()
}

/// The inline splitmix64 generator and the stanza writers.
struct Gen {
    state: u64,
}

const ASCII_WORDS: &[&str] = &[
    "hey",
    "hi",
    "the",
    "meeting",
    "is",
    "at",
    "noon",
    "see",
    "you",
    "there",
    "ok",
    "thanks",
    "sure",
    "what",
    "about",
    "tomorrow",
    "deploy",
    "server",
    "coffee",
    "lunch",
    "I",
    "think",
    "we",
    "should",
    "move",
    "it",
    "to",
    "Friday",
    "lol",
    "yes",
    "no",
    "maybe",
    "later",
    "call",
    "me",
    "when",
    "back",
    "home",
    "train",
    "late",
    "again",
    "did",
    "read",
    "the",
    "draft",
    "sent",
    "link",
    "https://example.org/s/8f3a?x=1",
    "build",
    "green",
    "ping",
    "review",
    "please",
    "done",
];

const FANCY_WORDS: &[&str] = &[
    "café",
    "über",
    "naïve",
    "Grüße",
    "déjà",
    "vu",
    "привет",
    "как",
    "дела",
    "спасибо",
    "日本語",
    "こんにちは",
    "你好",
    "世界",
    "😀",
    "👍",
    "🎉",
    "❤️",
    "Zürich",
    "señor",
];

const MARKUP_WORDS: &[&str] = &["&", "<3", "R&D", "a<b", "x>y", "Q&A", "->", "&&"];

const NAMES: &[&str] = &[
    "juliet",
    "benvolio",
    "mercutio",
    "tybalt",
    "nurse",
    "laurence",
    "paris",
    "capulet",
    "montague",
    "rosaline",
    "balthasar",
    "sampson",
    "gregory",
    "abram",
    "peter",
    "escalus",
];

const DOMAINS: &[&str] = &[
    "capulet.example",
    "montague.example",
    "verona.example",
    "jabber.example.org",
];

const RESOURCES: &[&str] = &[
    "balcony",
    "Conversations.x7Qa",
    "gajim.4FZ2KD1E",
    "phone",
    "laptop",
    "Dino.2b8c7f1e",
];

const NICKS: &[&str] = &[
    "Juliet",
    "Benvolio",
    "Mercutio",
    "Tybalt",
    "Nurse",
    "Frère Laurent",
    "Парис",
    "ティボルト",
    "Graf 🎭",
    "Lady Capulet",
];

const ROOMS: &[&str] = &[
    "verona@conference.verona.example",
    "balcony-talk@muc.capulet.example",
    "ops@conference.montague.example",
];

const CLIENT_NODES: &[&str] = &[
    "http://conversations.im",
    "https://gajim.org",
    "https://dino.im",
    "http://psi-plus.com",
];

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

impl Gen {
    fn new(seed: u64) -> Self {
        Gen { state: seed }
    }

    fn next(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.below(from.len() as u64) as usize]
    }

    fn chars(&mut self, out: &mut String, alphabet: &[u8], n: usize) {
        for _ in 0..n {
            out.push(alphabet[self.below(alphabet.len() as u64) as usize] as char);
        }
    }

    fn jid(&mut self, out: &mut String, with_resource: bool) {
        let name = self.below(NAMES.len() as u64 * 12);
        out.push_str(NAMES[(name % NAMES.len() as u64) as usize]);
        if name >= NAMES.len() as u64 {
            out.push_str(&(name / NAMES.len() as u64).to_string());
        }
        out.push('@');
        out.push_str(self.pick(DOMAINS));
        if with_resource {
            out.push('/');
            out.push_str(self.pick(RESOURCES));
        }
    }

    fn id(&mut self, out: &mut String) {
        if self.below(2) == 0 {
            // A UUID, as many clients use.
            for (i, n) in [8, 4, 4, 4, 12].into_iter().enumerate() {
                if i > 0 {
                    out.push('-');
                }
                self.chars(out, b"0123456789abcdef", n);
            }
        } else {
            self.chars(out, ALNUM, 12);
        }
    }

    /// Escaped human text of `min..=max` characters.
    fn text(&mut self, out: &mut String, min: usize, max: usize) {
        let target = min + self.below((max - min + 1) as u64) as usize;
        let mut plain = String::new();
        let mut count = 0;
        while count < target {
            if count > 0 {
                plain.push(' ');
                count += 1;
            }
            let roll = self.below(1000);
            let word = match roll {
                0..900 => self.pick(ASCII_WORDS),
                900..985 => self.pick(FANCY_WORDS),
                _ => self.pick(MARKUP_WORDS),
            };
            plain.push_str(word);
            count += word.chars().count();
        }
        for c in plain.chars().take(target) {
            match c {
                '&' => out.push_str("&amp;"),
                '<' => out.push_str("&lt;"),
                '>' => out.push_str("&gt;"),
                c => out.push(c),
            }
        }
    }

    fn stamp(&mut self, out: &mut String) {
        let (mo, d, h, mi, s, ms) = (
            1 + self.below(12),
            1 + self.below(28),
            self.below(24),
            self.below(60),
            self.below(60),
            self.below(1000),
        );
        out.push_str(&format!(
            "2024-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{ms:03}Z"
        ));
    }

    fn chat(&mut self, out: &mut String) {
        out.push_str("<message type='chat' to='");
        out.push_str(CLIENT_JID);
        out.push_str("' from='");
        self.jid(out, true);
        out.push_str("' id='");
        self.id(out);
        out.push_str("'><body>");
        self.text(out, 20, 200);
        out.push_str("</body><active xmlns='http://jabber.org/protocol/chatstates'/>");
        if self.below(3) == 0 {
            out.push_str("<markable xmlns='urn:xmpp:chat-markers:0'/>");
        }
        out.push_str("</message>");
    }

    fn groupchat(&mut self, out: &mut String) {
        let room = self.pick(ROOMS);
        out.push_str("<message type='groupchat' from='");
        out.push_str(room);
        out.push('/');
        out.push_str(self.pick(NICKS));
        out.push_str("' to='");
        out.push_str(CLIENT_JID);
        out.push_str("' id='");
        self.id(out);
        out.push_str("'><body>");
        self.text(out, 20, 200);
        out.push_str("</body><delay xmlns='urn:xmpp:delay' stamp='");
        self.stamp(out);
        out.push_str("' from='");
        out.push_str(room);
        out.push_str("'/><stanza-id xmlns='urn:xmpp:sid:0' id='");
        self.id(out);
        out.push_str("' by='");
        out.push_str(room);
        out.push_str("'/></message>");
    }

    fn presence(&mut self, out: &mut String) {
        out.push_str("<presence from='");
        self.jid(out, true);
        out.push_str("' to='");
        out.push_str(CLIENT_JID);
        out.push_str("'>");
        if self.below(10) < 7 {
            out.push_str("<show>");
            out.push_str(self.pick(&["away", "chat", "dnd", "xa"]));
            out.push_str("</show>");
        }
        if self.below(2) == 0 {
            out.push_str("<status>");
            self.text(out, 5, 60);
            out.push_str("</status>");
        }
        out.push_str("<priority>");
        out.push_str(&self.below(50).to_string());
        out.push_str("</priority><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='");
        out.push_str(self.pick(CLIENT_NODES));
        out.push_str("' ver='");
        self.chars(out, B64, 27);
        out.push_str("='/></presence>");
    }

    fn ping(&mut self, out: &mut String) {
        out.push_str("<iq type='get' from='montague.example' to='");
        out.push_str(CLIENT_JID);
        out.push_str("' id='");
        self.id(out);
        out.push_str("'><ping xmlns='urn:xmpp:ping'/></iq>");
    }

    fn roster(&mut self, out: &mut String, items: usize) {
        self.roster_open(out);
        for _ in 0..items {
            self.roster_item(out);
        }
        out.push_str(ROSTER_CLOSE);
    }

    fn roster_open(&mut self, out: &mut String) {
        out.push_str("<iq type='result' to='");
        out.push_str(CLIENT_JID);
        out.push_str("' id='");
        self.id(out);
        out.push_str("'><query xmlns='jabber:iq:roster' ver='ver");
        out.push_str(&self.below(100_000).to_string());
        out.push_str("'>");
    }

    fn roster_item(&mut self, out: &mut String) {
        out.push_str("<item jid='");
        self.jid(out, false);
        out.push('\'');
        if self.below(10) < 8 {
            out.push_str(" name='");
            out.push_str(self.pick(NICKS));
            out.push('\'');
        }
        out.push_str(" subscription='both'><group>");
        out.push_str(self.pick(&["Friends", "Work", "Family", "Verona"]));
        out.push_str("</group></item>");
    }
}

const ROSTER_CLOSE: &str = "</query></iq>";

/// A parser under test: its name in reports, and a function that parses a whole corpus and
/// returns the number of first-level elements it found.
pub type Contestant = (&'static str, fn(&[u8]) -> Result<usize, String>);

/// Every contestant of the `parse` benchmark, by the name it is reported under.
pub const CONTESTANTS: &[Contestant] = &[
    ("ours/whole", |b| ours(b, usize::MAX)),
    ("ours/1500", |b| ours(b, 1500)),
    ("ours/64", |b| ours(b, 64)),
    ("quick-xml/Reader", quick_xml_reader),
    ("quick-xml/NsReader", quick_xml_ns_reader),
    ("rxml/1500", |b| rxml(b, 1500)),
    ("rxml/whole", |b| rxml(b, usize::MAX)),
    ("xml-rs/EventReader", xml_rs),
];

/// Parses `input` with one `StreamParser`, fed in slices of `chunk` bytes (`usize::MAX` for
/// the whole input at once), draining each event as it completes; returns the number of
/// first-level elements. The stream must open and close.
pub fn ours(input: &[u8], chunk: usize) -> Result<usize, String> {
    let mut parser = StreamParser::default();
    let n = feed(&mut parser, input, chunk)?;
    if !parser.is_closed() {
        return Err("the stream did not close".into());
    }
    Ok(n)
}

/// Feeds `input` to `parser` in slices of `chunk` bytes, each through
/// `handle_input_partial` so that every event is drained as soon as it is complete (the way
/// to give the parser a large buffer without queueing all of its events); returns the number
/// of first-level elements among them.
pub fn feed(parser: &mut StreamParser, input: &[u8], chunk: usize) -> Result<usize, String> {
    let mut n = 0;
    for piece in input.chunks(chunk.max(1)) {
        let mut rest = piece;
        while !rest.is_empty() {
            let used = parser
                .handle_input_partial(rest)
                .map_err(|e| e.to_string())?;
            rest = &rest[used..];
            while let Some(ev) = parser.poll_event() {
                if let Event::Element(_) = ev {
                    n += 1;
                }
            }
        }
    }
    Ok(n)
}

/// Counts first-level elements (children of the document element) from start and end tags.
#[derive(Debug, Default)]
struct Depth {
    depth: usize,
    stanzas: usize,
}

impl Depth {
    fn start(&mut self) {
        self.depth += 1;
    }

    fn end(&mut self) -> Result<(), String> {
        self.depth = self
            .depth
            .checked_sub(1)
            .ok_or_else(|| "an end tag at depth 0".to_string())?;
        if self.depth == 1 {
            self.stanzas += 1;
        }
        Ok(())
    }

    fn empty(&mut self) {
        if self.depth == 1 {
            self.stanzas += 1;
        }
    }

    fn done(self) -> Result<usize, String> {
        match self.depth {
            0 => Ok(self.stanzas),
            d => Err(format!("the input ended at depth {d}")),
        }
    }
}

/// quick-xml's `Reader` on the whole slice, default options, reading every event; returns
/// the number of first-level elements.
pub fn quick_xml_reader(input: &[u8]) -> Result<usize, String> {
    use quick_xml::events::Event as Q;
    let mut reader = quick_xml::Reader::from_reader(input);
    let mut d = Depth::default();
    loop {
        match reader.read_event().map_err(|e| e.to_string())? {
            Q::Start(_) => d.start(),
            Q::End(_) => d.end()?,
            Q::Empty(_) => d.empty(),
            Q::Eof => return d.done(),
            _ => {}
        }
    }
}

/// quick-xml's `NsReader` on the whole slice, default options, resolving the namespace of
/// every start, empty and end tag; returns the number of first-level elements.
pub fn quick_xml_ns_reader(input: &[u8]) -> Result<usize, String> {
    use quick_xml::events::Event as Q;
    use quick_xml::name::ResolveResult;
    let mut reader = quick_xml::NsReader::from_reader(input);
    let mut d = Depth::default();
    loop {
        let (ns, ev) = reader.read_resolved_event().map_err(|e| e.to_string())?;
        if let ResolveResult::Unknown(prefix) = ns {
            return Err(format!("unbound prefix {prefix:?}"));
        }
        match ev {
            Q::Start(_) => d.start(),
            Q::End(_) => d.end()?,
            Q::Empty(_) => d.empty(),
            Q::Eof => return d.done(),
            _ => {}
        }
    }
}

/// rxml's namespace-aware push `Parser`, fed in slices of `chunk` bytes (`usize::MAX` for the
/// whole input at once) with `at_eof` set on the last one; returns the number of first-level
/// elements.
pub fn rxml(input: &[u8], chunk: usize) -> Result<usize, String> {
    use rxml::error::EndOrError;
    use rxml::{Event as R, Parse};
    let mut parser = rxml::Parser::new();
    let mut d = Depth::default();
    let mut fault = None;
    let mut on_event = |ev: R| {
        let r = match ev {
            R::StartElement(..) => {
                d.start();
                Ok(())
            }
            R::EndElement(..) => d.end(),
            _ => Ok(()),
        };
        if let Err(e) = r {
            fault.get_or_insert(e);
        }
    };
    let mut pieces = input.chunks(chunk.max(1)).peekable();
    while let Some(piece) = pieces.next() {
        let last = pieces.peek().is_none();
        let mut rest = piece;
        match parser.parse_all(&mut rest, last, &mut on_event) {
            Ok(()) if last => {}
            Err(EndOrError::NeedMoreData) if !last => {}
            Ok(()) => return Err("rxml saw the end of the document early".into()),
            Err(e) => return Err(format!("rxml: {e:?}")),
        }
        if !rest.is_empty() {
            return Err(format!("rxml left {} bytes of a slice", rest.len()));
        }
    }
    if let Some(e) = fault {
        return Err(e);
    }
    d.done()
}

/// xml-rs's `EventReader` on the whole slice, default configuration, reading every event;
/// returns the number of first-level elements.
pub fn xml_rs(input: &[u8]) -> Result<usize, String> {
    use xml::reader::{EventReader, XmlEvent as X};
    let mut reader = EventReader::new(input);
    let mut d = Depth::default();
    loop {
        match reader.next().map_err(|e| e.to_string())? {
            X::StartElement { .. } => d.start(),
            X::EndElement { .. } => d.end()?,
            X::EndDocument => return d.done(),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIZE: usize = 256 * 1024;

    #[test]
    fn corpus_is_deterministic() {
        let a = corpus(SIZE);
        let b = corpus(SIZE);
        assert_eq!(a, b);
        assert!(a.bytes.len() >= SIZE && a.bytes.len() < SIZE + 8 * 1024);
        assert_eq!(a.ends.len(), a.stanzas);
        // A shorter corpus is a prefix of a longer one, stanza for stanza.
        let c = corpus(SIZE / 2);
        let cut = c.bytes.len() - FOOTER.len();
        assert_eq!(&a.bytes[..cut], &c.bytes[..cut]);
    }

    #[test]
    fn corpus_has_every_kind_of_stanza_and_text() {
        // Rosters are 0.5 % of stanzas: a megabyte holds a few.
        let c = corpus(1_000_000);
        let s = std::str::from_utf8(&c.bytes).unwrap();
        for needle in [
            "<message type='chat'",
            "<message type='groupchat'",
            "<delay xmlns='urn:xmpp:delay'",
            "<presence ",
            "<show>",
            "<status>",
            "<c xmlns='http://jabber.org/protocol/caps' hash='sha-1'",
            "<ping xmlns='urn:xmpp:ping'/>",
            "<query xmlns='jabber:iq:roster'",
            "&amp;",
            "&lt;",
            "</message> <",
            "é",
            "ü",
            "привет",
            "日本語",
            "😀",
        ] {
            assert!(s.contains(needle), "{needle}");
        }
        assert!(s.ends_with(FOOTER));
        assert_eq!(s.matches("<item ").count() % 50, 0);
    }

    #[test]
    fn bodies_are_20_to_200_characters() {
        let c = corpus(SIZE);
        let s = std::str::from_utf8(&c.bytes).unwrap();
        for body in s.split("<body>").skip(1) {
            let raw = &body[..body.find("</body>").unwrap()];
            let text = raw
                .replace("&amp;", "&")
                .replace("&lt;", "<")
                .replace("&gt;", ">");
            let n = text.chars().count();
            assert!((20..=200).contains(&n), "{n}: {text}");
        }
    }

    #[test]
    fn our_parser_finds_exactly_the_stanzas_however_fed() {
        let c = corpus(SIZE);
        for chunk in [usize::MAX, 1500, 64, 7] {
            assert_eq!(ours(&c.bytes, chunk), Ok(c.stanzas), "chunk {chunk}");
        }
        // Every recorded end is where a stanza ends.
        let mut p = StreamParser::default();
        assert_eq!(feed(&mut p, c.prefix(0), 1500), Ok(0));
        assert_eq!(p.buffered(), 0);
        assert_eq!(
            feed(&mut p, &c.bytes[c.header_len..c.ends[10]], 1500),
            Ok(11)
        );
        assert_eq!(p.buffered(), 0);
    }

    #[test]
    fn corpus_is_well_formed_for_xml_rs() {
        let c = corpus(SIZE);
        assert_eq!(xml_rs(&c.bytes), Ok(c.stanzas));
    }

    #[test]
    fn every_competitor_parses_the_whole_corpus() {
        let c = corpus(SIZE);
        assert_eq!(quick_xml_reader(&c.bytes), Ok(c.stanzas));
        assert_eq!(quick_xml_ns_reader(&c.bytes), Ok(c.stanzas));
        assert_eq!(rxml(&c.bytes, 1500), Ok(c.stanzas));
        assert_eq!(rxml(&c.bytes, usize::MAX), Ok(c.stanzas));
    }

    #[test]
    fn competitors_reject_a_truncated_stream() {
        let c = corpus(16 * 1024);
        let cut = &c.bytes[..c.bytes.len() - 20];
        assert!(quick_xml_reader(cut).is_err());
        assert!(quick_xml_ns_reader(cut).is_err());
        assert!(rxml(cut, 1500).is_err());
        assert!(xml_rs(cut).is_err());
        let mut p = StreamParser::default();
        assert!(feed(&mut p, cut, 1500).is_ok());
        assert!(p.handle_eof().is_err());
    }

    #[test]
    fn large_stanza_is_one_element_of_about_the_size_asked() {
        let big = large_stanza(200 * 1024);
        assert!(
            big.len() >= 200 * 1024 && big.len() < 201 * 1024,
            "{}",
            big.len()
        );
        let mut p = StreamParser::default();
        assert_eq!(feed(&mut p, corpus(0).prefix(0), usize::MAX), Ok(0));
        assert_eq!(feed(&mut p, &big, 1500), Ok(1));
    }
}
