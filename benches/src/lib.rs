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
//! [`xml_rs`]) each return a [`Tally`]: the number of first-level elements they saw and, in
//! their "read everything" mode ([`Mode::Read`]), a [`Read`] digest of every name,
//! namespace, decoded attribute value and decoded text run inside the stanzas, so that a
//! benchmark can check once that every contestant parsed the whole corpus, and that the
//! readers did the same work, before it measures them.
//!
//! [`hostile`] builds the hostile inputs of issue 22 and drives them through the parser and
//! the server role; [`roles`] drives the client and server roles online for the
//! `server_throughput` bench; [`counting`] is the counting global allocator of the memory
//! benches.

use xmpp_sansio::xml::{ElementRef, Event, Node, StreamParser};

pub mod counting;
pub mod hostile;
pub mod roles;

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

/// A client-to-server stream of about `target_bytes` bytes, as a logged-in client sends it
/// (the same for every call with the same argument): the client's stream header
/// ([`hostile::C2S_HEADER`]), then stanzas without `from` (the server stamps it):
///
/// | stanza | share | contents |
/// | --- | --- | --- |
/// | chat message to a contact | 50 % | `to` a bare or full JID, `<body>` of 10–120 characters, chat state, sometimes a receipt request |
/// | groupchat message | 20 % | `to` a room, `<body>` |
/// | presence | 15 % | broadcast with `<show>`, `<status>`, caps (75 %), or to a room occupant with a nickname that is partly non-ASCII |
/// | iq | 15 % | a ping to the server or to a contact's full JID, or a roster get without `to` |
///
/// The JIDs are mostly ASCII, as on most servers; the nicknames of room occupants are not.
/// `ends` and `header_len` are as for [`corpus`]; the closing tag is included, so feed
/// `bytes[header_len..ends[stanzas - 1]]` to keep a session open.
pub fn client_stream(target_bytes: usize) -> Corpus {
    let mut g = Gen::new(0xC25_5EED_2026_0013);
    let header = std::str::from_utf8(hostile::C2S_HEADER).expect("ASCII");
    let mut out = String::with_capacity(target_bytes + 8 * 1024);
    out.push_str(header);
    let header_len = out.len();
    let mut ends = Vec::new();
    while ends.is_empty() || out.len() + FOOTER.len() < target_bytes {
        match g.below(100) {
            0..50 => g.c2s_chat(&mut out),
            50..70 => g.c2s_groupchat(&mut out),
            70..85 => g.c2s_presence(&mut out),
            _ => g.c2s_iq(&mut out),
        }
        ends.push(out.len());
        if g.below(100) < 8 {
            out.push(' ');
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

    fn c2s_chat(&mut self, out: &mut String) {
        out.push_str("<message type='chat' to='");
        let full = self.below(2) == 0;
        self.jid(out, full);
        out.push_str("' id='");
        self.id(out);
        out.push_str("'><body>");
        self.text(out, 10, 120);
        out.push_str("</body><active xmlns='http://jabber.org/protocol/chatstates'/>");
        if self.below(2) == 0 {
            out.push_str("<request xmlns='urn:xmpp:receipts'/>");
        }
        out.push_str("</message>");
    }

    fn c2s_groupchat(&mut self, out: &mut String) {
        out.push_str("<message type='groupchat' to='");
        out.push_str(self.pick(ROOMS));
        out.push_str("' id='");
        self.id(out);
        out.push_str("'><body>");
        self.text(out, 10, 120);
        out.push_str("</body></message>");
    }

    fn c2s_presence(&mut self, out: &mut String) {
        if self.below(4) == 0 {
            out.push_str("<presence to='");
            out.push_str(self.pick(ROOMS));
            out.push('/');
            out.push_str(self.pick(NICKS));
            out.push_str("'><x xmlns='http://jabber.org/protocol/muc'/></presence>");
            return;
        }
        out.push_str("<presence>");
        if self.below(10) < 7 {
            out.push_str("<show>");
            out.push_str(self.pick(&["away", "chat", "dnd", "xa"]));
            out.push_str("</show>");
        }
        if self.below(2) == 0 {
            out.push_str("<status>");
            self.text(out, 5, 40);
            out.push_str("</status>");
        }
        out.push_str("<c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='");
        out.push_str(self.pick(CLIENT_NODES));
        out.push_str("' ver='");
        self.chars(out, B64, 27);
        out.push_str("='/></presence>");
    }

    fn c2s_iq(&mut self, out: &mut String) {
        match self.below(3) {
            0 => {
                out.push_str("<iq type='get' to='montague.example' id='");
                self.id(out);
                out.push_str("'><ping xmlns='urn:xmpp:ping'/></iq>");
            }
            1 => {
                out.push_str("<iq type='get' to='");
                self.jid(out, true);
                out.push_str("' id='");
                self.id(out);
                out.push_str("'><ping xmlns='urn:xmpp:ping'/></iq>");
            }
            _ => {
                out.push_str("<iq type='get' id='");
                self.id(out);
                out.push_str("'><query xmlns='jabber:iq:roster'/></iq>");
            }
        }
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

/// Whether a driver only parses (the events or trees it gets are dropped unread) or also
/// reads everything it got, as an embedder does: every element's local name and namespace,
/// every attribute's name, namespace and decoded value (namespace declarations excluded),
/// every run of character data decoded, inside the stanzas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Parse and count first-level elements.
    Parse,
    /// Parse, count, and read everything into a [`Read`] digest.
    Read,
}

/// What a driver read inside the stanzas: byte counts of the decoded strings, so that two
/// parsers that read the same things give the same digest however their events split the
/// text. Summing lengths costs every contestant the same, next to nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Read {
    /// Elements seen.
    pub elements: usize,
    /// Bytes of their local names.
    pub name_bytes: usize,
    /// Bytes of their namespace names (0 for a parser without namespaces).
    pub ns_bytes: usize,
    /// Attributes seen (namespace declarations excluded).
    pub attrs: usize,
    /// Bytes of attribute local names and namespace names.
    pub attr_name_bytes: usize,
    /// Bytes of decoded attribute values.
    pub value_bytes: usize,
    /// Bytes of decoded character data.
    pub text_bytes: usize,
}

impl Read {
    fn element(&mut self, name: &str, ns: &str) {
        self.elements += 1;
        self.name_bytes += name.len();
        self.ns_bytes += ns.len();
    }

    fn attr(&mut self, name: &str, ns: &str, value: &str) {
        self.attrs += 1;
        self.attr_name_bytes += name.len() + ns.len();
        self.value_bytes += value.len();
    }

    fn text(&mut self, text: &str) {
        self.text_bytes += text.len();
    }

    /// The same digest as read by a parser without namespaces.
    pub fn without_ns(self) -> Read {
        Read {
            ns_bytes: 0,
            ..self
        }
    }
}

/// What a driver returns for one pass over a corpus.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// First-level elements (stanzas) found.
    pub stanzas: usize,
    /// What was read inside them ([`Mode::Read`]; all zero in [`Mode::Parse`]).
    pub read: Read,
}

/// A parser under test: its name in reports, and a function that parses a whole corpus.
pub type Contestant = (&'static str, fn(&[u8]) -> Result<Tally, String>);

/// Every contestant of the `parse` benchmark, by the name it is reported under. Each runs
/// twice: parsing only, and reading everything it parsed (`.../read`, [`Mode::Read`]).
pub const CONTESTANTS: &[Contestant] = &[
    ("ours/whole", |b| ours(b, usize::MAX, Mode::Parse)),
    ("ours/1500", |b| ours(b, 1500, Mode::Parse)),
    ("ours/64", |b| ours(b, 64, Mode::Parse)),
    ("quick-xml/Reader", |b| quick_xml_reader(b, Mode::Parse)),
    ("quick-xml/NsReader", |b| {
        quick_xml_ns_reader(b, Mode::Parse)
    }),
    ("rxml/1500", |b| rxml(b, 1500, Mode::Parse)),
    ("rxml/whole", |b| rxml(b, usize::MAX, Mode::Parse)),
    ("xml-rs/EventReader", |b| xml_rs(b, Mode::Parse)),
    ("ours/whole/read", |b| ours(b, usize::MAX, Mode::Read)),
    ("ours/1500/read", |b| ours(b, 1500, Mode::Read)),
    ("ours/64/read", |b| ours(b, 64, Mode::Read)),
    ("quick-xml/Reader/read", |b| quick_xml_reader(b, Mode::Read)),
    ("quick-xml/NsReader/read", |b| {
        quick_xml_ns_reader(b, Mode::Read)
    }),
    ("rxml/1500/read", |b| rxml(b, 1500, Mode::Read)),
    ("rxml/whole/read", |b| rxml(b, usize::MAX, Mode::Read)),
    ("xml-rs/EventReader/read", |b| xml_rs(b, Mode::Read)),
];

/// Does the contestant `name` resolve namespaces (quick-xml's `Reader` does not)?
pub fn resolves_namespaces(name: &str) -> bool {
    !name.starts_with("quick-xml/Reader")
}

/// Parses `input` with one `StreamParser`, fed in slices of `chunk` bytes (`usize::MAX` for
/// the whole input at once), draining each event as it completes, reading each stanza in
/// [`Mode::Read`]. The stream must open and close.
pub fn ours(input: &[u8], chunk: usize, mode: Mode) -> Result<Tally, String> {
    let mut parser = StreamParser::default();
    let mut tally = Tally::default();
    feed_with(&mut parser, input, chunk, |stanza| {
        tally.stanzas += 1;
        if mode == Mode::Read {
            read_tree(stanza.root(), &mut tally.read);
        }
    })?;
    if !parser.is_closed() {
        return Err("the stream did not close".into());
    }
    Ok(tally)
}

/// Reads everything in one element and its subtree, as an embedder does.
pub fn read_tree(el: ElementRef<'_>, read: &mut Read) {
    read.element(el.name(), el.ns());
    for a in el.attrs() {
        read.attr(a.name, a.ns, &a.value());
    }
    for node in el.nodes() {
        match node {
            Node::Element(child) => read_tree(child, read),
            Node::Text(text) => read.text(&text),
        }
    }
}

/// Feeds `input` to `parser` in slices of `chunk` bytes, each through
/// `handle_input_partial` so that every event is drained as soon as it is complete (the way
/// to give the parser a large buffer without queueing all of its events); returns the number
/// of first-level elements among them.
pub fn feed(parser: &mut StreamParser, input: &[u8], chunk: usize) -> Result<usize, String> {
    let mut n = 0;
    feed_with(parser, input, chunk, |_| n += 1)?;
    Ok(n)
}

/// [`feed`], handing each first-level element to `stanza`.
pub fn feed_with(
    parser: &mut StreamParser,
    input: &[u8],
    chunk: usize,
    mut stanza: impl FnMut(&xmpp_sansio::xml::Element),
) -> Result<(), String> {
    for piece in input.chunks(chunk.max(1)) {
        let mut rest = piece;
        while !rest.is_empty() {
            let used = parser
                .handle_input_partial(rest)
                .map_err(|e| e.to_string())?;
            rest = &rest[used..];
            while let Some(ev) = parser.poll_event() {
                if let Event::Element(el) = ev {
                    stanza(&el);
                }
            }
        }
    }
    Ok(())
}

/// The `to` and `from` addresses of the first-level elements of a stream (header included,
/// closing tag optional), in order: what a role parses as JIDs, for the `jid` bench.
pub fn stanza_addresses(stream: &[u8]) -> Vec<String> {
    let mut parser = StreamParser::default();
    let mut out = Vec::new();
    feed_with(&mut parser, stream, usize::MAX, |el| {
        for name in ["to", "from"] {
            if let Some(a) = el.attr(name) {
                out.push(a.into_owned());
            }
        }
    })
    .expect("a well-formed stream");
    out
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

/// The text a general reference of quick-xml stands for (`&amp;` and the other predefined
/// entities, character references).
fn quick_xml_reference(r: &quick_xml::events::BytesRef<'_>, read: &mut Read) -> Result<(), String> {
    if let Some(c) = r.resolve_char_ref().map_err(|e| e.to_string())? {
        read.text(c.encode_utf8(&mut [0; 4]));
    } else {
        let name = r.xml10_content();
        let text = quick_xml::escape::resolve_predefined_entity(&name)
            .ok_or_else(|| format!("unknown entity {name}"))?;
        read.text(text);
    }
    Ok(())
}

/// quick-xml's `Reader` on the whole slice, default options, reading every event; in
/// [`Mode::Read`] also every local name, attribute (checked for duplicates, value decoded
/// and normalized) and text (line ends normalized, references resolved) inside the stanzas.
/// It resolves no namespaces: its digest has no namespace bytes.
pub fn quick_xml_reader(input: &[u8], mode: Mode) -> Result<Tally, String> {
    use quick_xml::events::Event as Q;
    let mut reader = quick_xml::Reader::from_reader(input);
    let mut d = Depth::default();
    let mut read = Read::default();
    let reading = mode == Mode::Read;
    loop {
        let ev = reader.read_event().map_err(|e| e.to_string())?;
        if reading && d.depth >= 1 {
            match &ev {
                Q::Start(e) | Q::Empty(e) => {
                    read.element(e.local_name().as_ref(), "");
                    for a in e.attributes() {
                        let a = a.map_err(|e| e.to_string())?;
                        if a.key.as_namespace_binding().is_some() {
                            continue;
                        }
                        let value = a
                            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                            .map_err(|e| e.to_string())?;
                        read.attr(a.key.local_name().as_ref(), "", &value);
                    }
                }
                Q::Text(t) if d.depth >= 2 => read.text(&t.xml10_content()),
                Q::CData(t) if d.depth >= 2 => read.text(&t.xml10_content()),
                Q::GeneralRef(r) if d.depth >= 2 => quick_xml_reference(r, &mut read)?,
                _ => {}
            }
        }
        match ev {
            Q::Start(_) => d.start(),
            Q::End(_) => d.end()?,
            Q::Empty(_) => d.empty(),
            Q::Eof => {
                return Ok(Tally {
                    stanzas: d.done()?,
                    read,
                });
            }
            _ => {}
        }
    }
}

/// quick-xml's `NsReader` on the whole slice, default options, resolving the namespace of
/// every start, empty and end tag; in [`Mode::Read`] also the namespace of every attribute,
/// and everything [`quick_xml_reader`] reads.
pub fn quick_xml_ns_reader(input: &[u8], mode: Mode) -> Result<Tally, String> {
    use quick_xml::events::Event as Q;
    use quick_xml::name::ResolveResult;
    let mut reader = quick_xml::NsReader::from_reader(input);
    let mut d = Depth::default();
    let mut read = Read::default();
    let reading = mode == Mode::Read;
    loop {
        let (ns, ev) = reader.read_resolved_event().map_err(|e| e.to_string())?;
        let ns = match ns {
            ResolveResult::Unknown(prefix) => return Err(format!("unbound prefix {prefix:?}")),
            ResolveResult::Bound(ns) => ns.0,
            ResolveResult::Unbound => "",
        };
        if reading && d.depth >= 1 {
            match &ev {
                Q::Start(e) | Q::Empty(e) => {
                    read.element(e.local_name().as_ref(), ns);
                    for a in e.attributes() {
                        let a = a.map_err(|e| e.to_string())?;
                        if a.key.as_namespace_binding().is_some() {
                            continue;
                        }
                        let (ans, local) = reader.resolver().resolve_attribute(a.key);
                        let ans = match ans {
                            ResolveResult::Bound(n) => n.0,
                            ResolveResult::Unbound => "",
                            ResolveResult::Unknown(p) => {
                                return Err(format!("unbound prefix {p:?}"));
                            }
                        };
                        let value = a
                            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                            .map_err(|e| e.to_string())?;
                        read.attr(local.as_ref(), ans, &value);
                    }
                }
                Q::Text(t) if d.depth >= 2 => read.text(&t.xml10_content()),
                Q::CData(t) if d.depth >= 2 => read.text(&t.xml10_content()),
                Q::GeneralRef(r) if d.depth >= 2 => quick_xml_reference(r, &mut read)?,
                _ => {}
            }
        }
        match ev {
            Q::Start(_) => d.start(),
            Q::End(_) => d.end()?,
            Q::Empty(_) => d.empty(),
            Q::Eof => {
                return Ok(Tally {
                    stanzas: d.done()?,
                    read,
                });
            }
            _ => {}
        }
    }
}

/// rxml's namespace-aware push `Parser`, fed in slices of `chunk` bytes (`usize::MAX` for the
/// whole input at once) with `at_eof` set on the last one. Its events own decoded strings
/// already; [`Mode::Read`] reads them.
pub fn rxml(input: &[u8], chunk: usize, mode: Mode) -> Result<Tally, String> {
    use rxml::error::EndOrError;
    use rxml::{Event as R, Parse};
    let mut parser = rxml::Parser::new();
    let mut d = Depth::default();
    let mut read = Read::default();
    let reading = mode == Mode::Read;
    let mut fault = None;
    let mut on_event = |ev: R| {
        let r = match ev {
            R::StartElement(_, (ns, name), attrs) => {
                if reading && d.depth >= 1 {
                    read.element(&name, &ns);
                    for ((ans, aname), value) in attrs.iter() {
                        read.attr(aname, ans, value);
                    }
                }
                d.start();
                Ok(())
            }
            R::EndElement(..) => d.end(),
            R::Text(_, text) => {
                if reading && d.depth >= 2 {
                    read.text(&text);
                }
                Ok(())
            }
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
    Ok(Tally {
        stanzas: d.done()?,
        read,
    })
}

/// xml-rs's `EventReader` on the whole slice, default configuration, reading every event.
/// Its events own decoded strings already; [`Mode::Read`] reads them.
pub fn xml_rs(input: &[u8], mode: Mode) -> Result<Tally, String> {
    use xml::reader::{EventReader, XmlEvent as X};
    let mut reader = EventReader::new(input);
    let mut d = Depth::default();
    let mut read = Read::default();
    let reading = mode == Mode::Read;
    loop {
        match reader.next().map_err(|e| e.to_string())? {
            X::StartElement {
                name, attributes, ..
            } => {
                if reading && d.depth >= 1 {
                    read.element(&name.local_name, name.namespace_ref().unwrap_or(""));
                    for a in &attributes {
                        read.attr(
                            &a.name.local_name,
                            a.name.namespace_ref().unwrap_or(""),
                            &a.value,
                        );
                    }
                }
                d.start();
            }
            X::EndElement { .. } => d.end()?,
            X::Characters(t) | X::Whitespace(t) | X::CData(t) if reading && d.depth >= 2 => {
                read.text(&t)
            }
            X::EndDocument => {
                return Ok(Tally {
                    stanzas: d.done()?,
                    read,
                });
            }
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
            let t = ours(&c.bytes, chunk, Mode::Parse).unwrap();
            assert_eq!(t.stanzas, c.stanzas, "chunk {chunk}");
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
        assert_eq!(
            xml_rs(&c.bytes, Mode::Parse).map(|t| t.stanzas),
            Ok(c.stanzas)
        );
    }

    #[test]
    fn every_competitor_parses_the_whole_corpus() {
        let c = corpus(SIZE);
        for (name, run) in CONTESTANTS {
            assert_eq!(run(&c.bytes).map(|t| t.stanzas), Ok(c.stanzas), "{name}");
        }
    }

    /// Equal work: every reader reads the same names, namespaces, values and text as ours
    /// (quick-xml's `Reader` all but the namespaces), and a parse-only pass reads nothing.
    #[test]
    fn every_reader_reads_the_same_as_ours() {
        let c = corpus(SIZE);
        let ours = ours(&c.bytes, 1500, Mode::Read).unwrap().read;
        // The corpus has all of it, decoding included: "&amp;" is read as one byte.
        assert!(ours.elements > c.stanzas && ours.attrs > c.stanzas && ours.ns_bytes > 0);
        assert!(ours.text_bytes > 0 && ours.value_bytes > 0);
        for (name, run) in CONTESTANTS {
            let read = run(&c.bytes).unwrap().read;
            if !name.ends_with("/read") {
                assert_eq!(read, Read::default(), "{name}");
            } else if resolves_namespaces(name) {
                assert_eq!(read, ours, "{name}");
            } else {
                assert_eq!(read, ours.without_ns(), "{name}");
            }
        }
    }

    #[test]
    fn reading_decodes_text_and_values() {
        let doc =
            format!("{HEADER}<m a='x &amp; y' xml:lang='en'>a&lt;b<![CDATA[c&]]></m>{FOOTER}");
        let doc = doc.as_bytes();
        let mut p = StreamParser::default();
        let mut read = Read::default();
        feed_with(&mut p, doc, usize::MAX, |e| read_tree(e.root(), &mut read)).unwrap();
        let want = Read {
            elements: 1,
            name_bytes: 1,
            ns_bytes: "jabber:client".len(),
            attrs: 2,
            attr_name_bytes: 1 + 4 + xmpp_sansio::xml::XML_NS.len(),
            value_bytes: "x & y".len() + 2,
            text_bytes: "a<bc&".len(),
        };
        assert_eq!(read, want);
        for (name, run) in CONTESTANTS.iter().filter(|(n, _)| n.ends_with("/read")) {
            let got = run(doc).unwrap();
            assert_eq!(got.stanzas, 1, "{name}");
            if resolves_namespaces(name) {
                assert_eq!(got.read, want, "{name}");
            } else {
                assert_eq!(
                    got.read.without_ns(),
                    Read {
                        attr_name_bytes: 1 + 4,
                        ..want
                    }
                    .without_ns(),
                    "{name}"
                );
            }
        }
    }

    #[test]
    fn competitors_reject_a_truncated_stream() {
        let c = corpus(16 * 1024);
        let cut = &c.bytes[..c.bytes.len() - 20];
        for (name, run) in CONTESTANTS.iter().filter(|(n, _)| !n.starts_with("ours")) {
            assert!(run(cut).is_err(), "{name}");
        }
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
