//! Structure-aware session targets (issue 19): the input is a script drawn from a grammar of
//! valid, nearly valid and hostile XMPP, decoded with `arbitrary`, so that most runs get
//! through a login with the right values and spend the rest of the script on the online
//! state. Shared by the `*_grammar` fuzz targets and by `repo-tests/tests/fuzz_corpus.rs`,
//! which replays their corpora on stable (`arbitrary` decodes a file the same way in both).
//!
//! A script is a role's setup (mechanism, TLS, framing...) and a list of [`Step`]s:
//!
//! - [`Step::Login`]: the peer and the embedder do the right next thing until the session is
//!   online (at most [`LOGIN_STEPS`] moves), as an honest peer would;
//! - [`Step::Next`]: one such move;
//! - [`Step::Peer`]: one grammar item of the role's peer (stream header, features, SASL
//!   with the right or a wrong value, stanzas...), rendered with the values of the session
//!   so far (stream ids, SCRAM nonces and proofs, dialback keys, handshake digests);
//! - [`Step::Act`]: one embedder decision (credentials, bind, send, TLS up, close...);
//! - [`Step::Common`]: what every role shares: the byte splits to feed the next items in,
//!   the clock, garbage, a byte of the next item changed, stream errors, closing tags, end
//!   of input, the embedder closing.
//!
//! The right values come from the session: the peer reads everything the core emits with
//! our own parser ([`View`]) and computes its answers from it with the library's public
//! SASL ([`SaslClient`], [`SaslServer`]), dialback ([`DialbackSecret`]) and, for the
//! XEP-0114 digest, a shadow [`Component`] given the same header.
//!
//! Properties, on top of those of [`crate::sessions`] (no panic; output well-formed for the
//! peer, each stream parsed by our parser, nothing after the core's own closing tag; output
//! proportional to input; nothing emitted or reported after `closed`):
//!
//! - every stanza `send` accepted while online appears in the output exactly once;
//! - the session never goes backwards: online at most once, never authenticated again once
//!   online;
//! - the unacknowledged queue of stream management stays within its configured limit (the
//!   embedder's stanzas within it, the core's own replies within twice it);
//! - each role's own: the server stamps `from`, the s2s receiving side hands over only
//!   stanzas of authorized pairs, the s2s initiating side's dialback key is the one its
//!   secret gives for the stream id the peer sent.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use arbitrary::{Arbitrary, Unstructured};
use xmpp_sansio::client::{Client, ClientConfig, ClientEvent, ResumptionState};
use xmpp_sansio::component::{
    Component, ComponentConfig, ComponentEvent, ComponentServer, ComponentServerConfig,
};
use xmpp_sansio::connection::{Connection, RoleEvent};
use xmpp_sansio::dialback::DialbackSecret;
use xmpp_sansio::error::{SaslFailureCondition, StanzaErrorCondition};
use xmpp_sansio::jid::Jid;
use xmpp_sansio::s2s::{
    DialbackOutcome, DomainPair, S2sConfig, S2sEvent, S2sIn, S2sOut, VerifyRequest,
};
use xmpp_sansio::sasl::ht::{FastToken, HtMechanism};
use xmpp_sansio::sasl::{
    Authorization, Credentials, Mechanism, Nonce, SaslClient, SaslClientConfig, SaslServer,
    SaslServerConfig, ServerStep, UserCredential, decode_payload, encode_payload,
};
use xmpp_sansio::server::{Server, ServerConfig, ServerEvent};
use xmpp_sansio::stanza::Stanza;
use xmpp_sansio::stream::{Framing, TlsPolicy};
use xmpp_sansio::xml::{Element, Event, StreamParser};

use crate::sessions::{check_message, check_output};

/// The most moves one [`Step::Login`] makes.
pub const LOGIN_STEPS: usize = 40;

const STREAMS: &str = "http://etherx.jabber.org/streams";
const FRAMING: &str = "urn:ietf:params:xml:ns:xmpp-framing";
const TLS: &str = "urn:ietf:params:xml:ns:xmpp-tls";
const SASL: &str = "urn:ietf:params:xml:ns:xmpp-sasl";
const SASL2: &str = "urn:xmpp:sasl:2";
const BIND: &str = "urn:ietf:params:xml:ns:xmpp-bind";
const SM: &str = "urn:xmpp:sm:3";
const DIALBACK: &str = "jabber:server:dialback";

/// One step of a script: see the module documentation.
#[derive(Arbitrary, Debug, Clone)]
pub enum Step<I, A> {
    /// The right moves until online.
    Login,
    /// The right next move.
    Next,
    /// A grammar item of the peer.
    Peer(I),
    /// An embedder decision.
    Act(A),
    /// What every role shares.
    Common(Common),
}

/// The steps every role shares.
#[derive(Arbitrary, Debug, Clone)]
pub enum Common {
    /// Feed the peer's bytes from now on in pieces of this many bytes (0: whole). Ignored
    /// with WebSocket framing, where each piece is a message.
    Split(u8),
    /// The clock moves on by this many quarter seconds.
    Wait(u8),
    /// Raw bytes from the peer (at most 64).
    Garbage(Vec<u8>),
    /// The next peer item has the byte at this offset (modulo its length) replaced.
    Corrupt(u8, u8),
    /// The next peer item is cut after this many bytes (modulo its length).
    Truncate(u8),
    /// A stream error from the peer.
    StreamError(StreamCondition),
    /// The peer's closing tag (`</stream:stream>`, or `<close/>` over WebSocket).
    CloseTag,
    /// White space between elements.
    Whitespace,
    /// A comment, restricted XML (RFC 6120 section 11.1).
    Comment,
    /// An element nested this many levels deep (modulo 64).
    Deep(u8),
    /// An element with this many kilobytes of text (modulo 128): over some limits.
    Big(u8),
    /// The end of input.
    Eof,
    /// The embedder closes the stream.
    Close,
}

/// A few stream error conditions (RFC 6120 section 4.9.3).
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum StreamCondition {
    /// `conflict`
    Conflict,
    /// `not-authorized`
    NotAuthorized,
    /// `policy-violation`
    PolicyViolation,
    /// `see-other-host`, with a host
    SeeOtherHost,
    /// `system-shutdown`, with text
    SystemShutdown,
    /// an unknown condition
    Unknown,
}

impl StreamCondition {
    fn render(self) -> String {
        let (name, inner) = match self {
            StreamCondition::Conflict => ("conflict", ""),
            StreamCondition::NotAuthorized => ("not-authorized", ""),
            StreamCondition::PolicyViolation => ("policy-violation", ""),
            StreamCondition::SeeOtherHost => ("see-other-host", "[2001:db8::1]:5222"),
            StreamCondition::SystemShutdown => ("system-shutdown", ""),
            StreamCondition::Unknown => ("frobnicated", ""),
        };
        format!(
            "<stream:error xmlns:stream='{STREAMS}'><{name} xmlns='urn:ietf:params:xml:ns:xmpp-streams'>{inner}</{name}><text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>bye</text></stream:error>"
        )
    }
}

/// A script: the role's setup, then the steps (the rest of the input).
#[derive(Debug)]
pub struct Script<S, I, A> {
    /// The role's variant.
    pub setup: S,
    /// The steps.
    pub steps: Vec<Step<I, A>>,
}

impl<'a, S, I, A> Arbitrary<'a> for Script<S, I, A>
where
    S: Arbitrary<'a>,
    I: Arbitrary<'a>,
    A: Arbitrary<'a>,
{
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(Script {
            setup: S::arbitrary(u)?,
            steps: Vec::arbitrary(u)?,
        })
    }

    fn arbitrary_take_rest(mut u: Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(Script {
            setup: S::arbitrary(&mut u)?,
            steps: Vec::arbitrary_take_rest(u)?,
        })
    }
}

/// Decodes a script as the fuzz targets and the corpus replay do: the whole input.
pub fn decode<'a, S, I, A>(data: &'a [u8]) -> Option<Script<S, I, A>>
where
    S: Arbitrary<'a>,
    I: Arbitrary<'a>,
    A: Arbitrary<'a>,
{
    Script::arbitrary_take_rest(Unstructured::new(data)).ok()
}

/// What the core has said, read by the peer with our own parser.
#[derive(Default)]
pub struct View {
    ws: bool,
    parser: Option<StreamParser>,
    /// The `id` of the core's last stream header, if it had one.
    pub stream_id: Option<String>,
    /// Stream headers the core sent.
    pub headers: usize,
    /// First-level elements not yet read by the role.
    inbox: VecDeque<Element>,
    /// New headers not yet read by the role.
    new_headers: usize,
    /// How often each `id` of a stanza the core emitted was seen.
    ids: HashMap<String, usize>,
}

impl View {
    fn new(ws: bool) -> Self {
        View {
            ws,
            ..View::default()
        }
    }

    fn feed(&mut self, chunk: &[u8]) {
        if self.ws {
            let mut p = StreamParser::default();
            if !chunk.starts_with(b"<open") {
                let open = format!("<open xmlns='{FRAMING}'/>");
                let _ = p.handle_message(open.as_bytes());
                let _ = p.poll_event();
            }
            let _ = p.handle_message(chunk);
            self.drain(&mut p);
            return;
        }
        const DECL: &[u8] = b"<?xml version='1.0'?>";
        let mut starts: Vec<usize> = (0..chunk.len())
            .filter(|&i| chunk[i..].starts_with(DECL))
            .collect();
        if starts.first() != Some(&0) {
            starts.insert(0, 0);
        }
        starts.push(chunk.len());
        for w in starts.windows(2) {
            let segment = &chunk[w[0]..w[1]];
            if segment.starts_with(DECL) || self.parser.is_none() {
                self.parser = Some(StreamParser::default());
            }
            let mut p = self.parser.take().expect("a parser");
            let _ = p.handle_input(segment);
            self.drain(&mut p);
            self.parser = Some(p);
        }
    }

    fn drain(&mut self, p: &mut StreamParser) {
        while let Some(ev) = p.poll_event() {
            match ev {
                Event::StreamOpened(h) => {
                    self.stream_id = h.attr("id").map(|s| s.into_owned());
                    self.headers += 1;
                    self.new_headers += 1;
                }
                Event::Element(el) => {
                    if el.is("open", FRAMING) {
                        self.stream_id = el.attr("id").map(|s| s.into_owned());
                        self.headers += 1;
                        self.new_headers += 1;
                        continue;
                    }
                    if let Some(id) = el
                        .attr("id")
                        .filter(|_| matches!(el.name(), "message" | "presence" | "iq"))
                    {
                        *self.ids.entry(id.into_owned()).or_default() += 1;
                    }
                    self.inbox.push_back(el);
                }
                Event::StreamClosed => {}
            }
        }
    }
}

/// Where a session is, from the events its core reported: never backwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Milestone {
    /// Nothing to note.
    None,
    /// A stream header was accepted.
    Opened,
    /// Authenticated.
    Authenticated,
    /// Online (or resumed).
    Online,
    /// Closed.
    Closed,
}

/// What the peer or the embedder does next, as an honest one would.
pub enum Move<A> {
    /// The peer sends these bytes.
    Peer(Vec<u8>),
    /// The embedder decides.
    Act(A),
    /// Nothing to do: waiting for the other side, or done.
    Idle,
}

/// One role under test, with the peer and embedder that drive it.
pub trait Role {
    /// The core.
    type Core: Connection;
    /// The peer's grammar items.
    type Item: fmt::Debug;
    /// The embedder's decisions.
    type Action: fmt::Debug;
    /// The core.
    fn core(&mut self) -> &mut Self::Core;
    /// Renders a peer item with the values of the session so far (and notes it was sent).
    fn render(&mut self, item: &Self::Item, view: &View) -> Vec<u8>;
    /// Carries out a decision; `id` is the id of any stanza it sends. True when a stanza
    /// was given to `send` and accepted.
    fn act(&mut self, action: &Self::Action, now: Instant, id: &str) -> bool;
    /// The peer reads a first-level element the core emitted.
    fn observe(&mut self, el: &Element, view: &View);
    /// The peer reads a stream header the core emitted.
    fn observe_header(&mut self, view: &View);
    /// The embedder reads an event: checks the role's own properties, notes what it must
    /// answer, and says where the session is.
    fn on_event(&mut self, ev: &<Self::Core as Connection>::Event) -> Milestone;
    /// The right next move.
    fn next(&mut self, view: &View) -> Move<Self::Action>;
    /// Checks the configured limits after every step.
    fn check_limits(&mut self) {}
}

/// Plays a script against a role, checking the properties of the module documentation.
/// Returns whether the session got online (for the counts in fuzz/README.md).
pub fn run<R: Role>(role: &mut R, ws: bool, steps: &[Step<R::Item, R::Action>]) -> bool {
    let mut h = Harness {
        now: Instant::now(),
        view: View::new(ws),
        ws,
        out: Vec::new(),
        input: 0,
        split: 0,
        corrupt: None,
        truncate: None,
        milestone: Milestone::None,
        onlines: 0,
        closed: false,
        sent_close: false,
        sent: Vec::new(),
        ids: 0,
        trace: std::env::var_os("GRAMMAR_TRACE").is_some(),
    };
    for step in steps {
        match step {
            Step::Login => {
                for _ in 0..LOGIN_STEPS {
                    if h.milestone >= Milestone::Online || !h.next(role) {
                        break;
                    }
                }
            }
            Step::Next => {
                h.next(role);
            }
            Step::Peer(item) => {
                let bytes = role.render(item, &h.view);
                h.peer(role, bytes);
            }
            Step::Act(action) => h.act(role, action),
            Step::Common(c) => h.common(role, c),
        }
    }
    h.finish();
    h.onlines > 0
}

struct Harness {
    now: Instant,
    view: View,
    ws: bool,
    out: Vec<u8>,
    input: usize,
    split: usize,
    corrupt: Option<(u8, u8)>,
    truncate: Option<u8>,
    milestone: Milestone,
    onlines: u32,
    closed: bool,
    sent_close: bool,
    /// The ids of the stanzas `send` accepted while online.
    sent: Vec<String>,
    ids: u32,
    /// `GRAMMAR_TRACE` set: print every move, output and event (to debug a script).
    trace: bool,
}

impl Harness {
    /// One right move; false when there was none.
    fn next<R: Role>(&mut self, role: &mut R) -> bool {
        match role.next(&self.view) {
            Move::Peer(bytes) => self.peer(role, bytes),
            Move::Act(a) => self.act(role, &a),
            Move::Idle => return false,
        }
        true
    }

    fn peer<R: Role>(&mut self, role: &mut R, mut bytes: Vec<u8>) {
        let len = bytes.len().max(1);
        if let Some((at, byte)) = self.corrupt.take()
            && let Some(b) = bytes.get_mut(at as usize % len)
        {
            *b = byte;
        }
        if let Some(n) = self.truncate.take() {
            bytes.truncate(n as usize % len);
        }
        if self.ws {
            bytes = with_client_ns(bytes);
        }
        self.input += bytes.len();
        if self.trace {
            eprintln!("peer: {}", String::from_utf8_lossy(&bytes));
        }
        if self.split == 0 || self.ws {
            let _ = role.core().handle_input(self.now, &bytes);
            self.pump(role);
        } else {
            // At most 256 pieces an item: small items are cut at every position the split
            // gives, big ones in proportion, so that the work stays linear in the input.
            for piece in bytes.chunks(self.split.max(bytes.len().div_ceil(256))) {
                let _ = role.core().handle_input(self.now, piece);
                self.pump(role);
            }
        }
    }

    fn act<R: Role>(&mut self, role: &mut R, action: &R::Action) {
        self.ids += 1;
        let id = format!("g{}", self.ids);
        let online = self.milestone == Milestone::Online;
        if self.trace {
            eprintln!("act: {action:?}");
        }
        if role.act(action, self.now, &id) && online {
            self.sent.push(id);
        }
        self.pump(role);
    }

    fn common<R: Role>(&mut self, role: &mut R, c: &Common) {
        let bytes = match c {
            Common::Split(n) => {
                self.split = *n as usize;
                return;
            }
            Common::Wait(t) => {
                self.now += Duration::from_millis(*t as u64 * 250);
                role.core().handle_timeout(self.now);
                self.pump(role);
                return;
            }
            Common::Corrupt(at, byte) => {
                self.corrupt = Some((*at, *byte));
                return;
            }
            Common::Truncate(n) => {
                self.truncate = Some(*n);
                return;
            }
            Common::Eof => {
                role.core().handle_eof();
                self.pump(role);
                return;
            }
            Common::Close => {
                role.core().close(self.now);
                self.pump(role);
                return;
            }
            Common::Garbage(b) => b[..b.len().min(64)].to_vec(),
            Common::StreamError(cond) => cond.render().into_bytes(),
            Common::CloseTag if self.ws => format!("<close xmlns='{FRAMING}'/>").into_bytes(),
            Common::CloseTag => b"</stream:stream>".to_vec(),
            Common::Whitespace => b" \n\t ".to_vec(),
            Common::Comment => b"<!-- hi -->".to_vec(),
            Common::Deep(n) => {
                let n = *n as usize % 64;
                let mut s = "<message to='romeo@example.net' id='deep'>".to_string();
                s.push_str(&"<x xmlns='urn:example:deep'>".repeat(n));
                s.push_str(&"</x>".repeat(n));
                s.push_str("</message>");
                s.into_bytes()
            }
            Common::Big(k) => {
                let kb = *k as usize % 128;
                let mut s = "<message to='romeo@example.net' id='big'><body>".to_string();
                s.push_str(&"a".repeat(kb * 1024));
                s.push_str("</body></message>");
                s.into_bytes()
            }
        };
        self.peer(role, bytes);
    }

    /// Reads what the core emitted and reported, checking as it goes.
    fn pump<R: Role>(&mut self, role: &mut R) {
        loop {
            let mut progress = false;
            while let Some(b) = role.core().poll_transmit() {
                progress = true;
                assert!(!self.closed, "output after closed");
                if self.ws {
                    check_message(&b, &mut self.sent_close);
                }
                if self.trace {
                    eprintln!("core: {}", String::from_utf8_lossy(&b));
                }
                self.out.extend_from_slice(&b);
                self.view.feed(&b);
            }
            while self.view.new_headers > 0 {
                self.view.new_headers -= 1;
                role.observe_header(&self.view);
            }
            while let Some(el) = self.view.inbox.pop_front() {
                role.observe(&el, &self.view);
            }
            while let Some(ev) = role.core().poll_event() {
                progress = true;
                assert!(!self.closed, "an event after closed: {ev:?}");
                self.closed = ev.close_reason().is_some();
                if self.trace {
                    eprintln!("event: {ev:?}");
                }
                let m = role.on_event(&ev);
                match m {
                    Milestone::Online => {
                        self.onlines += 1;
                        assert_eq!(self.onlines, 1, "online twice: {ev:?}");
                    }
                    Milestone::Authenticated => assert!(
                        self.milestone < Milestone::Online,
                        "authenticated again once online: {ev:?}"
                    ),
                    _ => {}
                }
                self.milestone = self.milestone.max(m);
            }
            role.check_limits();
            if !progress {
                break;
            }
        }
    }

    fn finish(&mut self) {
        // Output proportional to input (as in `sessions`), the big items included.
        assert!(
            self.out.len() <= 4096 + 64 * self.input,
            "{} bytes out for {} in",
            self.out.len(),
            self.input
        );
        if !self.ws {
            check_output(&self.out);
        }
        for id in &self.sent {
            let n = self.view.ids.get(id).copied().unwrap_or(0);
            assert_eq!(n, 1, "the stanza {id} sent while online appears {n} times");
        }
    }
}

/// Over WebSocket a stanza inherits no namespace (RFC 7395 section 3.3.3): a c2s stanza
/// says `jabber:client` itself.
fn with_client_ns(bytes: Vec<u8>) -> Vec<u8> {
    for name in [&b"<message"[..], b"<presence", b"<iq"] {
        if bytes.starts_with(name)
            && bytes
                .get(name.len())
                .is_some_and(|&b| b == b' ' || b == b'>' || b == b'/')
        {
            let mut out = name.to_vec();
            out.extend_from_slice(b" xmlns='jabber:client'");
            out.extend_from_slice(&bytes[name.len()..]);
            return out;
        }
    }
    bytes
}

fn el(ns: &str, xml: &str) -> Element {
    xmpp_sansio::xml::parse_element(ns, xml.as_bytes()).expect("a well-formed element")
}

fn b64(data: &[u8]) -> String {
    encode_payload(data)
}

/// The text of a SASL element decoded (`=` is empty).
fn payload(el: &Element) -> Vec<u8> {
    let text = el.text();
    decode_payload(text.trim()).unwrap_or_default()
}

/// The child named so, in any namespace.
fn child<'e>(el: &'e Element, name: &str) -> Option<xmpp_sansio::xml::ElementRef<'e>> {
    el.children().find(|c| c.name() == name)
}

// ---------------------------------------------------------------------------
// c2s, shared
// ---------------------------------------------------------------------------

/// How the c2s login goes (the SASL profile and mechanism).
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Login {
    /// RFC 6120 SASL, PLAIN.
    Plain,
    /// RFC 6120 SASL, SCRAM-SHA-1.
    ScramSha1,
    /// RFC 6120 SASL, SCRAM-SHA-256.
    ScramSha256,
    /// SASL2 with Bind 2, PLAIN.
    Sasl2Plain,
    /// SASL2 with Bind 2, SCRAM-SHA-256.
    Sasl2Scram,
}

impl Login {
    fn mechanism(self) -> Mechanism {
        match self {
            Login::Plain | Login::Sasl2Plain => Mechanism::Plain,
            Login::ScramSha1 => Mechanism::ScramSha1,
            Login::ScramSha256 | Login::Sasl2Scram => Mechanism::ScramSha256,
        }
    }

    fn sasl2(self) -> bool {
        matches!(self, Login::Sasl2Plain | Login::Sasl2Scram)
    }
}

/// The c2s setup both c2s targets share.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub struct C2sSetup {
    /// The login.
    pub login: Login,
    /// STARTTLS first (TLS optional; otherwise plain, PLAIN allowed).
    pub starttls: bool,
    /// WebSocket framing (RFC 7395).
    pub websocket: bool,
    /// Enable stream management once online.
    pub sm: bool,
}

/// A password: the right one or not.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Password {
    /// The right one.
    Right,
    /// A wrong one.
    Wrong,
    /// Empty.
    Empty,
}

/// An authorization identity.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Authzid {
    /// None.
    None,
    /// The account's own bare JID.
    Own,
    /// Someone else.
    Other,
    /// Not a JID.
    Bad,
}

/// A stanza a c2s peer sends.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum C2sStanza {
    /// A message to someone.
    Message,
    /// A message with a `from` of another user.
    MessageFromOther,
    /// An iq get with a child.
    IqGet,
    /// An iq result with no child.
    IqResult,
    /// An iq of no valid type.
    IqBadType,
    /// Presence.
    Presence,
    /// A message to a malformed JID.
    BadTo,
    /// An unknown first-level element.
    Unknown,
    /// An error stanza.
    Error,
}

fn c2s_stanza(kind: C2sStanza, from: &str, to: &str, n: u32) -> String {
    match kind {
        C2sStanza::Message => format!(
            "<message{from} to='{to}' id='p{n}' type='chat'><body>hi &amp; bye {n}</body></message>"
        ),
        C2sStanza::MessageFromOther => format!(
            "<message from='mallory@evil.example/x' to='{to}' id='p{n}'><body>x</body></message>"
        ),
        C2sStanza::IqGet => {
            format!("<iq{from} type='get' id='p{n}' to='{to}'><ping xmlns='urn:xmpp:ping'/></iq>")
        }
        C2sStanza::IqResult => format!("<iq{from} type='result' id='p{n}'/>"),
        C2sStanza::IqBadType => format!("<iq{from} type='bogus' id='p{n}'><q xmlns='urn:x'/></iq>"),
        C2sStanza::Presence => format!("<presence{from} id='p{n}'><show>away</show></presence>"),
        C2sStanza::BadTo => format!("<message{from} to='a@@b/' id='p{n}'/>"),
        C2sStanza::Unknown => format!("<frob xmlns='urn:example:frob' id='p{n}'/>"),
        C2sStanza::Error => format!(
            "<message{from} type='error' id='p{n}'><error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>"
        ),
    }
}

/// A c2s stream header (or WebSocket `<open/>`).
#[derive(Arbitrary, Debug, Clone, Copy)]
pub struct Header {
    /// The domain: right, another, missing, or with a localpart.
    pub domain: Choice4,
    /// The version: 1.0, 1.1, 2.0 or missing.
    pub version: Choice4,
    /// The content namespace: right, the other role's, or wrong.
    pub namespace: Choice4,
    /// An `xml:lang`.
    pub lang: bool,
}

/// One of four choices, the first the right one.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice4 {
    /// The right one.
    A,
    /// Another.
    B,
    /// Another.
    C,
    /// Another.
    D,
}

impl Header {
    /// Renders the header; `domain_attr` is `to` or `from`, `id` goes in when given.
    fn render(
        &self,
        ws: bool,
        ns: &str,
        domain_attr: &str,
        domain: &str,
        id: Option<&str>,
    ) -> String {
        let domain = match self.domain {
            Choice4::A => format!(" {domain_attr}='{domain}'"),
            Choice4::B => format!(" {domain_attr}='other.example'"),
            Choice4::C => String::new(),
            Choice4::D => format!(" {domain_attr}='user@{domain}'"),
        };
        let version = match self.version {
            Choice4::A => " version='1.0'",
            Choice4::B => " version='1.1'",
            Choice4::C => " version='2.0'",
            Choice4::D => "",
        };
        let ns = match self.namespace {
            Choice4::A => ns,
            Choice4::B if ns == "jabber:client" => "jabber:server",
            Choice4::B => "jabber:client",
            Choice4::C => "urn:example:wrong",
            Choice4::D => ns,
        };
        let lang = if self.lang { " xml:lang='fr'" } else { "" };
        let id = id.map(|i| format!(" id='{i}'")).unwrap_or_default();
        if ws {
            format!("<open xmlns='{FRAMING}'{domain}{id}{version}{lang}/>")
        } else {
            format!(
                "<stream:stream xmlns='{ns}' xmlns:stream='{STREAMS}'{domain}{id}{version}{lang}>"
            )
        }
    }

    const RIGHT: Header = Header {
        domain: Choice4::A,
        version: Choice4::A,
        namespace: Choice4::A,
        lang: false,
    };
}

/// The FAST token both sides of the fuzzed sessions know.
fn fast_token() -> FastToken {
    FastToken {
        mechanism: HtMechanism::Sha256None,
        secret: "fuzz-token".into(),
        expiry: "2030-01-01T00:00:00Z".into(),
    }
}

/// A stream management state to resume (as in `sessions`).
fn resumption_state(jid: &str) -> ResumptionState {
    ResumptionState {
        id: "fuzz".into(),
        jid: jid.parse().expect("a full JID"),
        handled: 3,
        acked: 1,
        unacked: vec![xmpp_sansio::bytes::Bytes::from_static(
            b"<message to='romeo@example.net' id='old'><body>again</body></message>",
        )],
        location: None,
        max: Some(60),
    }
}

/// The SASL profile of an element: `Some(false)` RFC 6120, `Some(true)` SASL2.
fn sasl_ns(el: &Element) -> Option<bool> {
    match el.ns() {
        SASL => Some(false),
        SASL2 => Some(true),
        _ => None,
    }
}

/// A SASL element of either profile: `<auth/>`-like ones carry their data as text in RFC
/// 6120 and in `<initial-response/>` in SASL2; challenges and responses as text in both;
/// SASL2's `<success/>` in `<additional-data/>`.
fn sasl_el(sasl2: bool, name: &str, data: Option<&[u8]>) -> String {
    let ns = if sasl2 { SASL2 } else { SASL };
    match data {
        None => format!("<{name} xmlns='{ns}'/>"),
        Some(d) if d.is_empty() && !sasl2 => format!("<{name} xmlns='{ns}'>=</{name}>"),
        Some(d) => format!("<{name} xmlns='{ns}'>{}</{name}>", b64(d)),
    }
}

// ---------------------------------------------------------------------------
// server (the peer is a client)
// ---------------------------------------------------------------------------

/// What the client peer of the server target sends.
#[derive(Arbitrary, Debug, Clone)]
pub enum ServerItem {
    /// A stream header (the first restarts the stream as the login needs).
    Header(Header),
    /// `<starttls/>`.
    StartTls,
    /// PLAIN (RFC 6120 `<auth/>` or SASL2 `<authenticate/>`).
    Plain {
        /// SASL2.
        sasl2: bool,
        /// The password.
        password: Password,
        /// The authzid.
        authzid: Authzid,
        /// Another user.
        other_user: bool,
    },
    /// Starts SCRAM (the response to its challenge is computed by [`Step::Next`]).
    Scram {
        /// SASL2.
        sasl2: bool,
        /// SCRAM-SHA-256 rather than SHA-1.
        sha256: bool,
        /// The password the client uses.
        password: Password,
    },
    /// A SCRAM final message whose proof is wrong.
    BadProof,
    /// A mechanism not offered.
    UnknownMechanism,
    /// `<auth/>` whose data is not base64.
    BadBase64,
    /// `<abort/>`.
    Abort,
    /// A resource binding request.
    Bind(Option<u8>),
    /// The legacy session request.
    Session,
    /// `<enable/>` (with resumption).
    Enable(bool),
    /// `<resume/>` of the session this stream enabled, or of another; with this `h`.
    Resume(bool, u8),
    /// `<r/>`.
    R,
    /// `<a h/>`: the right count, or this one.
    A(Option<u8>),
    /// A stanza.
    Stanza(C2sStanza),
    /// SASL2 `<next task/>`.
    Sasl2Next,
    /// A FAST login with the token (right or wrong).
    Fast(bool),
}

/// The server embedder's decisions.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum ServerAction {
    /// TLS is up.
    Tls,
    /// The credentials: the right password, a wrong one, unknown user, refused.
    Credentials(Choice4),
    /// SASL EXTERNAL granted.
    External,
    /// Bind the resource asked (or a made-up one).
    Bind,
    /// Refuse the bind.
    RejectBind,
    /// Send a stanza to the client.
    Send,
    /// Answer the last stanza with an error.
    ReplyError,
    /// Ask for an ack.
    RequestAck,
    /// Resume: no state, or the state `fuzz`.
    Resume(bool),
    /// Take the resumption state and the unacked stanzas.
    TakeState,
    /// Answer the FAST question: give the token, or refuse.
    Fast(bool),
    /// Answer the SASL2 task: done, data, or failed.
    Task(Choice4),
    /// Close with see-other-host.
    SeeOther,
}

/// What the server's embedder was asked and has not answered.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ask {
    Tls,
    Auth,
    External,
    Bind,
    FastAuth,
    FastToken,
    Task,
    Resume,
    Continue,
    VerifyKey(VerifyRequest),
}

/// The server target: our server, a client peer, an embedder.
pub struct ServerRole {
    core: Server,
    setup: C2sSetup,
    ws: bool,
    asks: VecDeque<Ask>,
    queue: VecDeque<Vec<u8>>,
    header_due: bool,
    tls_up: bool,
    features: Option<Element>,
    auth_sent: bool,
    authed: bool,
    bind_sent: bool,
    online: bool,
    sm_sent: bool,
    sm_id: Option<String>,
    received: u32,
    n: u32,
    scram: Option<(SaslClient, bool)>,
    last_stanza: Option<Stanza>,
}

impl ServerRole {
    fn new(setup: C2sSetup) -> Self {
        let mut config = ServerConfig::new("example.com", b"secret".to_vec());
        config.tls = if setup.starttls {
            TlsPolicy::Optional
        } else {
            TlsPolicy::Disabled
        };
        config.allow_plain_without_tls = true;
        config.scram_iterations = NonZeroU32::new(16).expect("non-zero");
        config.stream_management = true;
        config.ack_request_every = 3;
        config.ack_request_after = Some(Duration::from_millis(500));
        config.unacked_limits.max_stanzas = 4;
        config.unacked_limits.max_bytes = 512;
        config.resumption = Some(60);
        config.sasl2 = true;
        config.fast = vec![HtMechanism::Sha256None];
        config.downgrade_protection = true;
        config.sasl2_tasks = vec!["TOTP".into()];
        if setup.websocket {
            config.framing = Framing::WebSocket { secure: true };
        }
        ServerRole {
            core: Server::new(config, 7, Instant::now()),
            setup,
            ws: setup.websocket,
            asks: VecDeque::new(),
            queue: VecDeque::new(),
            header_due: true,
            tls_up: false,
            features: None,
            auth_sent: false,
            authed: false,
            bind_sent: false,
            online: false,
            sm_sent: false,
            sm_id: None,
            received: 0,
            n: 0,
            scram: None,
            last_stanza: None,
        }
    }

    fn header(&mut self, h: &Header) -> Vec<u8> {
        self.header_due = false;
        self.features = None;
        h.render(self.ws, "jabber:client", "to", "example.com", None)
            .into_bytes()
    }

    fn plain(&mut self, sasl2: bool, password: Password, authzid: Authzid, other: bool) -> Vec<u8> {
        self.auth_sent = true;
        let pw = match password {
            Password::Right => "pencil",
            Password::Wrong => "pen",
            Password::Empty => "",
        };
        let user = if other { "mallory" } else { "user" };
        let authzid = match authzid {
            Authzid::None => "",
            Authzid::Own => "user@example.com",
            Authzid::Other => "juliet@example.com",
            Authzid::Bad => "@@",
        };
        let data = format!("{authzid}\0{user}\0{pw}");
        self.authenticate(sasl2, "PLAIN", data.as_bytes())
    }

    fn authenticate(&mut self, sasl2: bool, mechanism: &str, initial: &[u8]) -> Vec<u8> {
        if sasl2 {
            format!(
                "<authenticate xmlns='{SASL2}' mechanism='{mechanism}'><initial-response>{}</initial-response><user-agent id='d4565fa7-4d72-4749-b3d3-740edbf87770'><software>fuzz</software></user-agent><bind xmlns='urn:xmpp:bind:0'><tag>fuzz</tag></bind></authenticate>",
                b64(initial)
            )
            .into_bytes()
        } else {
            format!(
                "<auth xmlns='{SASL}' mechanism='{mechanism}'>{}</auth>",
                b64(initial)
            )
            .into_bytes()
        }
    }

    fn scram(&mut self, sasl2: bool, sha256: bool, password: Password) -> Vec<u8> {
        self.auth_sent = true;
        let mech = if sha256 {
            "SCRAM-SHA-256"
        } else {
            "SCRAM-SHA-1"
        };
        let pw = match password {
            Password::Right => "pencil",
            Password::Wrong => "pen",
            Password::Empty => "x",
        };
        let config = SaslClientConfig::default();
        let nonce = Nonce::new("fyko+d2lbbFgONRv9qkxdawL").expect("a nonce");
        match SaslClient::start([mech], &config, Credentials::new("user", pw), nonce) {
            Ok(client) => {
                let initial = client.initial_response().to_vec();
                self.scram = Some((client, sasl2));
                self.authenticate(sasl2, mech, &initial)
            }
            Err(_) => Vec::new(),
        }
    }

    fn stanza(&mut self, kind: C2sStanza) -> Vec<u8> {
        self.n += 1;
        c2s_stanza(kind, "", "romeo@example.net", self.n).into_bytes()
    }
}

impl Role for ServerRole {
    type Core = Server;
    type Item = ServerItem;
    type Action = ServerAction;

    fn core(&mut self) -> &mut Server {
        &mut self.core
    }

    fn render(&mut self, item: &ServerItem, _: &View) -> Vec<u8> {
        match item {
            ServerItem::Header(h) => self.header(h),
            ServerItem::StartTls => format!("<starttls xmlns='{TLS}'/>").into_bytes(),
            ServerItem::Plain {
                sasl2,
                password,
                authzid,
                other_user,
            } => self.plain(*sasl2, *password, *authzid, *other_user),
            ServerItem::Scram {
                sasl2,
                sha256,
                password,
            } => self.scram(*sasl2, *sha256, *password),
            ServerItem::BadProof => {
                let sasl2 = self.scram.as_ref().is_some_and(|s| s.1);
                let data = b"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=";
                sasl_el(sasl2, "response", Some(data)).into_bytes()
            }
            ServerItem::UnknownMechanism => {
                format!("<auth xmlns='{SASL}' mechanism='X-FROB'>=</auth>").into_bytes()
            }
            ServerItem::BadBase64 => {
                format!("<auth xmlns='{SASL}' mechanism='PLAIN'>!!not base64!!</auth>").into_bytes()
            }
            ServerItem::Abort => {
                let sasl2 = self.scram.as_ref().is_some_and(|s| s.1);
                self.auth_sent = false;
                sasl_el(sasl2, "abort", None).into_bytes()
            }
            ServerItem::Bind(resource) => {
                self.bind_sent = true;
                let r = resource
                    .map(|r| format!("<resource>res{r}</resource>"))
                    .unwrap_or_default();
                format!("<iq type='set' id='bind1'><bind xmlns='{BIND}'>{r}</bind></iq>").into_bytes()
            }
            ServerItem::Session => "<iq type='set' id='sess1'><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>".into(),
            ServerItem::Enable(resume) => {
                self.sm_sent = true;
                let r = if *resume { " resume='true'" } else { "" };
                format!("<enable xmlns='{SM}'{r}/>").into_bytes()
            }
            ServerItem::Resume(ours, h) => {
                let previd = match (ours, &self.sm_id) {
                    (true, Some(id)) => id.clone(),
                    _ => "fuzz".into(),
                };
                format!("<resume xmlns='{SM}' previd='{previd}' h='{h}'/>").into_bytes()
            }
            ServerItem::R => format!("<r xmlns='{SM}'/>").into_bytes(),
            ServerItem::A(h) => {
                let h = h.map(u32::from).unwrap_or(self.received);
                format!("<a xmlns='{SM}' h='{h}'/>").into_bytes()
            }
            ServerItem::Stanza(kind) => self.stanza(*kind),
            ServerItem::Sasl2Next => format!("<next xmlns='{SASL2}' task='TOTP'/>").into_bytes(),
            ServerItem::Fast(right) => {
                self.auth_sent = true;
                // HT-SHA-256-NONE: the initial response is the username and an HMAC we
                // cannot compute here; a wrong one is refused, the right one is given by
                // the embedder's token (the core checks it).
                let secret = if *right { "fuzz-token" } else { "wrong" };
                let data = format!("user\0{secret}");
                format!(
                    "<authenticate xmlns='{SASL2}' mechanism='HT-SHA-256-NONE'><initial-response>{}</initial-response><fast xmlns='urn:xmpp:fast:0'/></authenticate>",
                    b64(data.as_bytes())
                )
                .into_bytes()
            }
        }
    }

    fn act(&mut self, action: &ServerAction, now: Instant, id: &str) -> bool {
        let s = &mut self.core;
        match action {
            ServerAction::Tls => {
                if s.tls_established(now, vec![]).is_ok() {
                    self.tls_up = true;
                    self.header_due = true;
                    self.features = None;
                }
            }
            ServerAction::Credentials(c) => {
                let cred = match c {
                    Choice4::A => UserCredential::Password("pencil".into()),
                    Choice4::B => UserCredential::Password("pen".into()),
                    Choice4::C => UserCredential::Unknown,
                    Choice4::D => UserCredential::Refuse(SaslFailureCondition::AccountDisabled),
                };
                let _ = s.credentials(now, cred);
            }
            ServerAction::External => {
                if let Ok(jid) = "user@example.com".parse() {
                    let _ = s.external(now, jid);
                }
            }
            ServerAction::Bind => {
                let r = s.make_resource();
                if let Ok(jid) = format!("user@example.com/{r}").parse() {
                    let _ = s.bind(now, jid);
                }
            }
            ServerAction::RejectBind => {
                let _ = s.reject_bind(now, StanzaErrorCondition::Conflict);
            }
            ServerAction::Send => {
                let xml = format!(
                    "<message to='user@example.com' from='romeo@example.net/o' id='{id}'><body>hi</body></message>"
                );
                return s.send(now, &el("jabber:client", &xml)).is_ok();
            }
            ServerAction::ReplyError => {
                if let Some(st) = self.last_stanza.take() {
                    let _ = s.reply_error(now, &st, StanzaErrorCondition::ServiceUnavailable);
                }
            }
            ServerAction::RequestAck => {
                let _ = s.request_ack(now);
            }
            ServerAction::Resume(with_state) => {
                let state = with_state.then(|| resumption_state("user@example.com/fuzz"));
                let _ = s.resume(now, state);
            }
            ServerAction::TakeState => {
                let _ = s.take_resumption_state();
                let _ = s.take_unacked();
            }
            ServerAction::Fast(give) => {
                if *give {
                    let _ = s.fast_credentials(now, Some(fast_token()));
                    let _ = s.issue_fast_token(now, Some(fast_token()));
                } else {
                    let _ = s.fast_refuse(now, SaslFailureCondition::CredentialsExpired);
                    let _ = s.issue_fast_token(now, None);
                }
            }
            ServerAction::Task(c) => {
                let _ = match c {
                    Choice4::A | Choice4::D => s.sasl2_task_done(now),
                    Choice4::B => s.sasl2_task_data(now, &[el("urn:example:task", "<otp/>")]),
                    Choice4::C => s.sasl2_task_failed(now, SaslFailureCondition::NotAuthorized),
                };
            }
            ServerAction::SeeOther => {
                let _ = s.close_see_other_uri(now, "wss://other.example/ws");
            }
        }
        false
    }

    fn observe(&mut self, e: &Element, _: &View) {
        match (e.name(), sasl_ns(e)) {
            ("features", _) if e.ns() == STREAMS => self.features = Some(e.clone()),
            ("challenge", Some(sasl2)) => {
                if let Some((client, _)) = self.scram.as_mut() {
                    match client.on_challenge(&payload(e)) {
                        Ok(resp) => self.queue.push_back(sasl_el(sasl2, "response", Some(&resp)).into_bytes()),
                        Err(_) => self.queue.push_back(sasl_el(sasl2, "abort", None).into_bytes()),
                    }
                }
            }
            ("success", Some(sasl2)) => {
                self.authed = true;
                self.scram = None;
                if !sasl2 {
                    self.header_due = true;
                    self.features = None;
                }
            }
            ("failure", Some(_)) => {
                self.auth_sent = false;
                self.scram = None;
            }
            ("continue", Some(true)) => self.queue.push_back(format!("<next xmlns='{SASL2}' task='TOTP'/>").into_bytes()),
            ("task-data", Some(true)) => self.queue.push_back(format!("<task-data xmlns='{SASL2}'><otp xmlns='urn:example:task'>123456</otp></task-data>").into_bytes()),
            ("enabled", _) if e.ns() == SM => {
                self.sm_id = e.attr("id").map(|s| s.into_owned());
                self.received = 0;
            }
            ("r", _) if e.ns() == SM => {
                let h = self.received;
                self.queue.push_back(format!("<a xmlns='{SM}' h='{h}'/>").into_bytes());
            }
            ("message" | "presence" | "iq", _) => self.received = self.received.wrapping_add(1),
            _ => {}
        }
    }

    fn observe_header(&mut self, _: &View) {}

    fn on_event(&mut self, ev: &ServerEvent) -> Milestone {
        match ev {
            ServerEvent::StreamOpened => return Milestone::Opened,
            ServerEvent::TlsRequested => self.asks.push_back(Ask::Tls),
            ServerEvent::AuthRequest { .. } => self.asks.push_back(Ask::Auth),
            ServerEvent::ExternalRequest { .. } => self.asks.push_back(Ask::External),
            ServerEvent::Authenticated(_) => return Milestone::Authenticated,
            ServerEvent::Sasl2Task(_) | ServerEvent::Sasl2TaskData(_) => {
                self.asks.push_back(Ask::Task)
            }
            ServerEvent::FastAuthRequest { .. } => self.asks.push_back(Ask::FastAuth),
            ServerEvent::FastTokenRequest { .. } => self.asks.push_back(Ask::FastToken),
            ServerEvent::BindRequest { .. } => self.asks.push_back(Ask::Bind),
            ServerEvent::ResumeRequest { .. } => self.asks.push_back(Ask::Resume),
            ServerEvent::Online(_) | ServerEvent::Resumed(_) => {
                self.online = true;
                return Milestone::Online;
            }
            ServerEvent::Stanza(st) => {
                // The server stamps from: it is the session's full JID.
                let from = st.element().attr("from").map(|f| f.into_owned());
                assert!(
                    from.as_deref().is_some_and(|f| f.parse::<Jid>().is_ok()),
                    "{st}"
                );
                self.last_stanza = Some(st.clone());
            }
            ServerEvent::Closed(_) => return Milestone::Closed,
            _ => {}
        }
        Milestone::None
    }

    fn next(&mut self, _: &View) -> Move<ServerAction> {
        if let Some(ask) = self.asks.pop_front() {
            return Move::Act(match ask {
                Ask::Tls => ServerAction::Tls,
                Ask::Auth => ServerAction::Credentials(Choice4::A),
                Ask::External => ServerAction::External,
                Ask::Bind => ServerAction::Bind,
                Ask::FastAuth | Ask::FastToken => ServerAction::Fast(true),
                Ask::Task => ServerAction::Task(Choice4::A),
                Ask::Resume => ServerAction::Resume(false),
                Ask::Continue | Ask::VerifyKey(_) => return Move::Idle,
            });
        }
        if self.header_due {
            return Move::Peer(self.header(&Header::RIGHT));
        }
        if let Some(bytes) = self.queue.pop_front() {
            return Move::Peer(bytes);
        }
        let Some(features) = self.features.clone() else {
            return if self.online {
                Move::Peer(self.stanza(C2sStanza::Message))
            } else {
                Move::Idle
            };
        };
        if self.setup.starttls && !self.tls_up && child(&features, "starttls").is_some() {
            self.features = None;
            return Move::Peer(format!("<starttls xmlns='{TLS}'/>").into_bytes());
        }
        if !self.authed && !self.auth_sent {
            let login = self.setup.login;
            return Move::Peer(match login {
                Login::Plain | Login::Sasl2Plain => {
                    self.plain(login.sasl2(), Password::Right, Authzid::None, false)
                }
                _ => self.scram(
                    login.sasl2(),
                    login.mechanism() == Mechanism::ScramSha256,
                    Password::Right,
                ),
            });
        }
        if self.authed && !self.bind_sent && !self.online && child(&features, "bind").is_some() {
            self.bind_sent = true;
            return Move::Peer(format!("<iq type='set' id='bind1'><bind xmlns='{BIND}'><resource>fuzz</resource></bind></iq>").into_bytes());
        }
        if self.online {
            if self.setup.sm && !self.sm_sent {
                self.sm_sent = true;
                return Move::Peer(format!("<enable xmlns='{SM}' resume='true'/>").into_bytes());
            }
            return Move::Peer(self.stanza(C2sStanza::Message));
        }
        Move::Idle
    }

    fn check_limits(&mut self) {
        let unacked = self.core.unacked().unwrap_or(0);
        // The embedder's stanzas stop at the limit (4); the core's own replies go past it,
        // and the stream ends as soon as they pass twice the limit (`UnackedLimits`).
        assert!(
            unacked <= 8 || (unacked == 9 && self.core.is_closed()),
            "{unacked} unacknowledged stanzas, over twice the limit of 4"
        );
    }
}

/// The `server_grammar` target; returns whether the session got online.
pub fn server_grammar(data: &[u8]) -> bool {
    let Some(script) = decode::<C2sSetup, ServerItem, ServerAction>(data) else {
        return false;
    };
    let mut role = ServerRole::new(script.setup);
    run(&mut role, script.setup.websocket, &script.steps)
}

// ---------------------------------------------------------------------------
// client (the peer is a server)
// ---------------------------------------------------------------------------

/// What the server peer of the client target sends.
#[derive(Arbitrary, Debug, Clone)]
pub enum ClientItem {
    /// A stream header with an id, and the features of the phase (when `features`).
    Header(Header, bool),
    /// Features: STARTTLS (required or not), the mechanisms, SASL2, bind, sm.
    Features {
        /// STARTTLS.
        starttls: Option<bool>,
        /// Offer the login's mechanisms.
        mechanisms: bool,
        /// Offer SASL2 with Bind 2.
        sasl2: bool,
        /// Offer bind and stream management.
        bind: bool,
    },
    /// `<proceed/>`.
    Proceed,
    /// A SASL challenge with these bytes.
    Challenge(Vec<u8>),
    /// `<success/>`: with the right server signature (when SCRAM runs) or not.
    Success(bool),
    /// `<failure/>` with a condition.
    Failure(Choice4),
    /// The bind result: the JID asked for, another resource, another account, none.
    BindResult(Choice4),
    /// A bind error.
    BindError,
    /// `<enabled/>`, with resumption or not.
    Enabled(bool),
    /// `<failed/>`.
    SmFailed,
    /// `<resumed/>` with this `h`.
    Resumed(u8),
    /// `<r/>`.
    R,
    /// `<a h/>`: the right count, or this one.
    A(Option<u8>),
    /// A stanza to the client.
    Stanza(C2sStanza),
    /// SASL2 `<continue/>` with the task TOTP.
    Continue,
    /// SASL2 `<task-data/>`.
    TaskData,
}

/// The client embedder's decisions.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum ClientAction {
    /// Open the stream.
    Open,
    /// TLS is up (with channel binding or not).
    Tls(bool),
    /// Authenticate again (any mechanism, or PLAIN).
    Auth(bool),
    /// Send a stanza.
    Send,
    /// Choose the SASL2 task.
    Sasl2Next,
    /// Send task data.
    TaskData,
    /// Ask for an ack.
    RequestAck,
    /// Resume the session `fuzz` (before `open`).
    ResumeFrom,
    /// Take the resumption state and the unacked stanzas.
    TakeState,
}

/// The client target: our client, a server peer, an embedder.
pub struct ClientRole {
    core: Client,
    setup: C2sSetup,
    ws: bool,
    opened: bool,
    asks: VecDeque<Ask>,
    queue: VecDeque<Vec<u8>>,
    tls_up: bool,
    authed: bool,
    online: bool,
    headers: u32,
    sasl: Option<(SaslServer, bool, bool)>,
    success_data: Option<(Vec<u8>, bool)>,
    /// The id of the client's last bind request.
    bind_id: String,
    received: u32,
    n: u32,
}

impl ClientRole {
    fn new(setup: C2sSetup) -> Self {
        let mut config =
            ClientConfig::new("juliet@example.com".parse().expect("a JID"), "r0m30myr0m30");
        config.resource = Some("balcony".into());
        config.tls = TlsPolicy::Optional;
        config.allow_plain_without_tls = true;
        config.keepalive = Some(Duration::from_secs(10));
        config.mechanisms = vec![setup.login.mechanism()];
        config.stream_management = setup.sm;
        config.ack_request_every = 2;
        config.ack_request_after = Some(Duration::from_millis(500));
        config.unacked_limits.max_stanzas = 4;
        config.unacked_limits.max_bytes = 512;
        config.resumption = true;
        config.sasl2 = true;
        config.bind2_tag = Some("fuzz".into());
        if setup.websocket {
            config.framing = Framing::WebSocket { secure: true };
        }
        ClientRole {
            core: Client::new(config, 7, Instant::now()),
            setup,
            ws: setup.websocket,
            opened: false,
            asks: VecDeque::new(),
            queue: VecDeque::new(),
            tls_up: false,
            authed: false,
            online: false,
            headers: 0,
            sasl: None,
            success_data: None,
            bind_id: String::new(),
            received: 0,
            n: 0,
        }
    }

    fn features(
        &self,
        starttls: Option<bool>,
        mechanisms: bool,
        sasl2: bool,
        bind: bool,
    ) -> String {
        let mut f = String::new();
        if let Some(required) = starttls {
            let r = if required { "<required/>" } else { "" };
            f.push_str(&format!("<starttls xmlns='{TLS}'>{r}</starttls>"));
        }
        let mech = self.setup.login.mechanism().name();
        if mechanisms {
            f.push_str(&format!(
                "<mechanisms xmlns='{SASL}'><mechanism>{mech}</mechanism></mechanisms>"
            ));
        }
        if sasl2 {
            f.push_str(&format!("<authentication xmlns='{SASL2}'><mechanism>{mech}</mechanism><inline><bind xmlns='urn:xmpp:bind:0'><inline><feature var='{SM}'/></inline></bind><sm xmlns='{SM}'/></inline></authentication>"));
        }
        if bind {
            f.push_str(&format!("<bind xmlns='{BIND}'/><sm xmlns='{SM}'/>"));
        }
        if self.ws {
            format!("<stream:features xmlns:stream='{STREAMS}'>{f}</stream:features>")
        } else {
            format!("<stream:features>{f}</stream:features>")
        }
    }

    /// The header and the features the phase calls for.
    fn answer_header(&mut self, h: &Header, with_features: bool) {
        self.headers += 1;
        let id = format!("c{}", self.headers);
        self.queue.push_back(
            h.render(self.ws, "jabber:client", "from", "example.com", Some(&id))
                .into_bytes(),
        );
        if with_features {
            let offer_tls = self.setup.starttls && !self.tls_up && !self.ws;
            let f = if self.authed {
                self.features(None, false, false, true)
            } else if offer_tls {
                self.features(Some(false), false, false, false)
            } else {
                let sasl2 = self.setup.login.sasl2();
                self.features(None, !sasl2, sasl2, false)
            };
            self.queue.push_back(f.into_bytes());
        }
    }

    fn sasl_step(
        &mut self,
        step: Result<ServerStep, xmpp_sansio::sasl::SaslServerError>,
        sasl2: bool,
    ) {
        let bytes = match step {
            Ok(ServerStep::NeedCredentials { .. }) => {
                let Some((server, _, _)) = self.sasl.as_mut() else {
                    return;
                };
                let step = server.provide_credentials(
                    UserCredential::Password("r0m30myr0m30".into()),
                    Authorization::Refuse,
                );
                return self.sasl_step(step, sasl2);
            }
            Ok(ServerStep::Challenge(c)) => sasl_el(sasl2, "challenge", Some(&c)),
            Ok(ServerStep::Success {
                additional_data, ..
            }) => {
                self.success_data = Some((additional_data.clone(), sasl2));
                // The next header the client sends is after authentication.
                self.authed = true;
                self.success(sasl2, &additional_data, Choice4::A)
            }
            Ok(ServerStep::NeedExternal { .. }) | Err(_) => {
                let ns = if sasl2 { SASL2 } else { SASL };
                format!("<failure xmlns='{ns}'><not-authorized xmlns='{SASL}'/></failure>")
            }
        };
        self.queue.push_back(bytes.into_bytes());
    }

    fn success(&mut self, sasl2: bool, data: &[u8], jid: Choice4) -> String {
        if !sasl2 {
            return sasl_el(false, "success", Some(data));
        }
        let bind2 = self.sasl.as_ref().is_some_and(|s| s.2);
        let jid = match jid {
            Choice4::A if bind2 => "juliet@example.com/fuzz.1",
            Choice4::A => "juliet@example.com",
            Choice4::B => "romeo@example.net/x",
            Choice4::C => "@@",
            Choice4::D => "juliet@example.com/other",
        };
        let bound = if bind2 {
            "<bound xmlns='urn:xmpp:bind:0'/>"
        } else {
            ""
        };
        let data = if data.is_empty() {
            String::new()
        } else {
            format!("<additional-data>{}</additional-data>", b64(data))
        };
        format!(
            "<success xmlns='{SASL2}'>{data}<authorization-identifier>{jid}</authorization-identifier>{bound}</success>"
        )
    }
}

impl Role for ClientRole {
    type Core = Client;
    type Item = ClientItem;
    type Action = ClientAction;

    fn core(&mut self) -> &mut Client {
        &mut self.core
    }

    fn render(&mut self, item: &ClientItem, _: &View) -> Vec<u8> {
        match item {
            ClientItem::Header(h, with_features) => {
                self.answer_header(h, *with_features);
                let mut all = Vec::new();
                // Over WebSocket each piece is its own message: send the last one, the
                // header goes first through the queue.
                if self.ws {
                    return self.queue.pop_front().unwrap_or_default();
                }
                while let Some(b) = self.queue.pop_front() {
                    all.extend_from_slice(&b);
                }
                all
            }
            ClientItem::Features { starttls, mechanisms, sasl2, bind } => {
                self.features(*starttls, *mechanisms, *sasl2, *bind).into_bytes()
            }
            ClientItem::Proceed => format!("<proceed xmlns='{TLS}'/>").into_bytes(),
            ClientItem::Challenge(c) => {
                let sasl2 = self.sasl.as_ref().is_some_and(|s| s.1);
                sasl_el(sasl2, "challenge", Some(&c[..c.len().min(128)])).into_bytes()
            }
            ClientItem::Success(right) => {
                let (data, sasl2) = self.success_data.clone().unwrap_or_default();
                let data = if *right { data } else { b"v=rmF9pqV8S7suAoZWja4dJRkFsKQ=".to_vec() };
                self.success(sasl2, &data, Choice4::A).into_bytes()
            }
            ClientItem::Failure(c) => {
                let cond = match c {
                    Choice4::A => "not-authorized",
                    Choice4::B => "temporary-auth-failure",
                    Choice4::C => "aborted",
                    Choice4::D => "frobnicated",
                };
                format!("<failure xmlns='{SASL}'><{cond}/><text>no</text></failure>").into_bytes()
            }
            ClientItem::BindResult(c) => {
                let jid = match c {
                    Choice4::A => "juliet@example.com/balcony",
                    Choice4::B => "juliet@example.com/other",
                    Choice4::C => "romeo@example.net/balcony",
                    Choice4::D => "",
                };
                let jid = if jid.is_empty() { String::new() } else { format!("<jid>{jid}</jid>") };
                format!("<iq type='result' id='{}'><bind xmlns='{BIND}'>{jid}</bind></iq>", self.bind_id).into_bytes()
            }
            ClientItem::BindError => format!("<iq type='error' id='{}'><error type='cancel'><conflict xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>", self.bind_id).into_bytes(),
            ClientItem::Enabled(resume) => {
                let r = if *resume { " resume='true' id='sm1' max='60'" } else { "" };
                self.received = 0;
                format!("<enabled xmlns='{SM}'{r}/>").into_bytes()
            }
            ClientItem::SmFailed => format!("<failed xmlns='{SM}'><unexpected-request xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></failed>").into_bytes(),
            ClientItem::Resumed(h) => format!("<resumed xmlns='{SM}' previd='fuzz' h='{h}'/>").into_bytes(),
            ClientItem::R => format!("<r xmlns='{SM}'/>").into_bytes(),
            ClientItem::A(h) => {
                let h = h.map(u32::from).unwrap_or(self.received);
                format!("<a xmlns='{SM}' h='{h}'/>").into_bytes()
            }
            ClientItem::Stanza(kind) => {
                self.n += 1;
                c2s_stanza(*kind, " from='romeo@example.net/orchard'", "juliet@example.com/balcony", self.n).into_bytes()
            }
            ClientItem::Continue => format!("<continue xmlns='{SASL2}'><tasks><task>TOTP</task></tasks></continue>").into_bytes(),
            ClientItem::TaskData => format!("<task-data xmlns='{SASL2}'><otp xmlns='urn:example:task'/></task-data>").into_bytes(),
        }
    }

    fn act(&mut self, action: &ClientAction, now: Instant, id: &str) -> bool {
        let c = &mut self.core;
        match action {
            ClientAction::Open => {
                self.opened = true;
                let _ = c.open(now);
            }
            ClientAction::Tls(cb) => {
                let cb = cb.then(|| {
                    xmpp_sansio::sasl::ChannelBinding::new(
                        xmpp_sansio::sasl::CbType::TlsExporter,
                        vec![7; 32],
                    )
                });
                if c.tls_established(now, cb).is_ok() {
                    self.tls_up = true;
                }
            }
            ClientAction::Auth(plain) => {
                let _ = c.auth(now, plain.then_some(Mechanism::Plain));
            }
            ClientAction::Send => {
                let xml =
                    format!("<message to='romeo@example.net' id='{id}'><body>hi</body></message>");
                return c.send(now, &el("jabber:client", &xml)).is_ok();
            }
            ClientAction::Sasl2Next => {
                let _ = c.sasl2_next(now, "TOTP", &[el("urn:example:task", "<otp>123456</otp>")]);
            }
            ClientAction::TaskData => {
                let _ = c.sasl2_task_data(now, &[el("urn:example:task", "<otp>123456</otp>")]);
            }
            ClientAction::RequestAck => {
                let _ = c.request_ack(now);
            }
            ClientAction::ResumeFrom => {
                let _ = c.resume_from(resumption_state("juliet@example.com/balcony"));
            }
            ClientAction::TakeState => {
                let _ = c.take_resumption_state();
                let _ = c.take_unacked();
            }
        }
        false
    }

    fn observe(&mut self, e: &Element, _: &View) {
        match (e.name(), sasl_ns(e)) {
            ("starttls", _) if e.ns() == TLS => self
                .queue
                .push_back(format!("<proceed xmlns='{TLS}'/>").into_bytes()),
            ("auth" | "authenticate", Some(sasl2)) => {
                let mech = e
                    .attr("mechanism")
                    .map(|m| m.into_owned())
                    .unwrap_or_default();
                let initial = if sasl2 {
                    child(e, "initial-response")
                        .map(|c| decode_payload(c.text().trim()).unwrap_or_default())
                } else {
                    Some(payload(e))
                };
                let bind2 = child(e, "bind").is_some();
                let mut config =
                    SaslServerConfig::new(vec![self.setup.login.mechanism()], b"peer".to_vec());
                config.scram_iterations = NonZeroU32::new(4096).expect("non-zero");
                config.encrypted = true;
                let nonce = Nonce::new("3rfcNHYJY1ZVvWVs7j").expect("a nonce");
                let mut server = SaslServer::new(config, nonce);
                let step = server.start(&mech, initial.as_deref());
                self.sasl = Some((server, sasl2, bind2));
                self.sasl_step(step, sasl2);
            }
            ("response", Some(sasl2)) => {
                let data = payload(e);
                let Some((server, _, _)) = self.sasl.as_mut() else {
                    return;
                };
                let step = server.on_response(&data);
                self.sasl_step(step, sasl2);
            }
            ("iq", _) if child(e, "bind").is_some() => {
                let id = e.attr("id").map(|i| i.into_owned()).unwrap_or_default();
                self.bind_id = id.clone();
                self.queue.push_back(format!("<iq type='result' id='{id}'><bind xmlns='{BIND}'><jid>juliet@example.com/balcony</jid></bind></iq>").into_bytes());
            }
            ("iq", _) if e.attr("type").as_deref() == Some("get") => {
                let id = e.attr("id").map(|i| i.into_owned()).unwrap_or_default();
                self.queue
                    .push_back(format!("<iq type='result' id='{id}'/>").into_bytes());
            }
            ("enable", _) if e.ns() == SM => {
                self.received = 0;
                self.queue.push_back(
                    format!("<enabled xmlns='{SM}' id='sm1' resume='true' max='60'/>").into_bytes(),
                );
            }
            ("r", _) if e.ns() == SM => {
                let h = self.received;
                self.queue
                    .push_back(format!("<a xmlns='{SM}' h='{h}'/>").into_bytes());
            }
            ("message" | "presence", _) => self.received = self.received.wrapping_add(1),
            _ => {}
        }
    }

    fn observe_header(&mut self, _: &View) {
        // The client opened (or restarted) its stream: the server answers.
        self.answer_header(&Header::RIGHT, true);
    }

    fn on_event(&mut self, ev: &ClientEvent) -> Milestone {
        match ev {
            ClientEvent::StreamOpened => return Milestone::Opened,
            ClientEvent::TlsRequested => self.asks.push_back(Ask::Tls),
            ClientEvent::Authenticated(_) => {
                self.authed = true;
                return Milestone::Authenticated;
            }
            ClientEvent::Sasl2Continue(_) => self.asks.push_back(Ask::Continue),
            ClientEvent::Sasl2TaskData(_) => self.asks.push_back(Ask::Task),
            ClientEvent::Online(_) | ClientEvent::Resumed(_) => {
                self.online = true;
                return Milestone::Online;
            }
            ClientEvent::Closed(_) => return Milestone::Closed,
            _ => {}
        }
        Milestone::None
    }

    fn next(&mut self, _: &View) -> Move<ClientAction> {
        if !self.opened {
            return Move::Act(ClientAction::Open);
        }
        if let Some(ask) = self.asks.pop_front() {
            return Move::Act(match ask {
                Ask::Tls => ClientAction::Tls(false),
                Ask::Continue => ClientAction::Sasl2Next,
                _ => ClientAction::TaskData,
            });
        }
        if let Some(bytes) = self.queue.pop_front() {
            return Move::Peer(bytes);
        }
        if self.online {
            self.n += 1;
            return Move::Peer(
                c2s_stanza(
                    C2sStanza::Message,
                    " from='romeo@example.net/orchard'",
                    "juliet@example.com/balcony",
                    self.n,
                )
                .into_bytes(),
            );
        }
        Move::Idle
    }

    fn check_limits(&mut self) {
        let unacked = self.core.unacked().unwrap_or(0);
        // The embedder's stanzas stop at the limit (4); the core's own replies go past it,
        // and the stream ends as soon as they pass twice the limit (`UnackedLimits`).
        assert!(
            unacked <= 8 || (unacked == 9 && self.core.is_closed()),
            "{unacked} unacknowledged stanzas, over twice the limit of 4"
        );
    }
}

/// The `client_grammar` target; returns whether the session got online.
pub fn client_grammar(data: &[u8]) -> bool {
    let Some(script) = decode::<C2sSetup, ClientItem, ClientAction>(data) else {
        return false;
    };
    let mut role = ClientRole::new(script.setup);
    run(&mut role, script.setup.websocket, &script.steps)
}

// ---------------------------------------------------------------------------
// XEP-0114, both sides
// ---------------------------------------------------------------------------

const COMPONENT: &str = "plays.shakespeare.lit";
const COMPONENT_NS: &str = "jabber:component:accept";

/// A stanza on a component stream.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum ComponentStanza {
    /// From the component's domain.
    Ours,
    /// From another domain.
    OtherFrom,
    /// Without `from`.
    NoFrom,
    /// Without `to`.
    NoTo,
    /// An iq get.
    Iq,
    /// An unknown element.
    Unknown,
}

fn component_stanza(kind: ComponentStanza, n: u32) -> String {
    match kind {
        ComponentStanza::Ours => format!(
            "<message from='bot@{COMPONENT}' to='juliet@example.com' id='p{n}'><body>hi</body></message>"
        ),
        ComponentStanza::OtherFrom => {
            format!("<message from='bot@evil.example' to='juliet@example.com' id='p{n}'/>")
        }
        ComponentStanza::NoFrom => format!("<message to='juliet@example.com' id='p{n}'/>"),
        ComponentStanza::NoTo => format!("<presence from='{COMPONENT}' id='p{n}'/>"),
        ComponentStanza::Iq => format!(
            "<iq type='get' from='juliet@example.com/b' to='{COMPONENT}' id='p{n}'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>"
        ),
        ComponentStanza::Unknown => format!("<frob xmlns='urn:example' id='p{n}'/>"),
    }
}

/// What the server peer of the component target sends.
#[derive(Arbitrary, Debug, Clone)]
pub enum ComponentItem {
    /// A stream header: with the id or without, the right `from` or not.
    Header(Header, bool),
    /// `<handshake/>`: success.
    HandshakeOk,
    /// `<handshake>` with content (not what a server sends).
    HandshakeText,
    /// A stanza.
    Stanza(ComponentStanza),
}

/// The component embedder's decisions.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum ComponentAction {
    /// Open.
    Open,
    /// Send a stanza.
    Send,
}

/// The component target: our component, a server peer.
pub struct ComponentRole {
    core: Component,
    opened: bool,
    queue: VecDeque<Vec<u8>>,
    online: bool,
    n: u32,
}

impl Role for ComponentRole {
    type Core = Component;
    type Item = ComponentItem;
    type Action = ComponentAction;

    fn core(&mut self) -> &mut Component {
        &mut self.core
    }

    fn render(&mut self, item: &ComponentItem, _: &View) -> Vec<u8> {
        match item {
            ComponentItem::Header(h, id) => {
                let id = id.then_some("3BF96D75");
                h.render(false, COMPONENT_NS, "from", COMPONENT, id)
                    .into_bytes()
            }
            ComponentItem::HandshakeOk => b"<handshake/>".to_vec(),
            ComponentItem::HandshakeText => b"<handshake>0000</handshake>".to_vec(),
            ComponentItem::Stanza(kind) => {
                self.n += 1;
                component_stanza(*kind, self.n).into_bytes()
            }
        }
    }

    fn act(&mut self, action: &ComponentAction, now: Instant, id: &str) -> bool {
        match action {
            ComponentAction::Open => {
                self.opened = true;
                let _ = self.core.open(now);
            }
            ComponentAction::Send => {
                let xml = format!(
                    "<message from='bot@{COMPONENT}' to='juliet@example.com' id='{id}'><body>hi</body></message>"
                );
                return self.core.send(now, &el(COMPONENT_NS, &xml)).is_ok();
            }
        }
        false
    }

    fn observe(&mut self, e: &Element, _: &View) {
        if e.name() == "handshake" {
            self.queue.push_back(b"<handshake/>".to_vec());
        }
    }

    fn observe_header(&mut self, _: &View) {
        self.queue.push_back(
            Header::RIGHT
                .render(false, COMPONENT_NS, "from", COMPONENT, Some("3BF96D75"))
                .into_bytes(),
        );
    }

    fn on_event(&mut self, ev: &ComponentEvent) -> Milestone {
        component_milestone(ev, &mut self.online)
    }

    fn next(&mut self, _: &View) -> Move<ComponentAction> {
        if !self.opened {
            return Move::Act(ComponentAction::Open);
        }
        if let Some(b) = self.queue.pop_front() {
            return Move::Peer(b);
        }
        if self.online {
            self.n += 1;
            return Move::Peer(component_stanza(ComponentStanza::Iq, self.n).into_bytes());
        }
        Move::Idle
    }
}

fn component_milestone(ev: &ComponentEvent, online: &mut bool) -> Milestone {
    match ev {
        ComponentEvent::StreamOpened => Milestone::Opened,
        ComponentEvent::Authenticated(_) => Milestone::Authenticated,
        ComponentEvent::Online(_) => {
            *online = true;
            Milestone::Online
        }
        ComponentEvent::Closed(_) => Milestone::Closed,
        _ => Milestone::None,
    }
}

/// The `component_grammar` target; returns whether the session got online.
pub fn component_grammar(data: &[u8]) -> bool {
    let Some(script) = decode::<(), ComponentItem, ComponentAction>(data) else {
        return false;
    };
    let domain = COMPONENT.parse().expect("a domain");
    let mut role = ComponentRole {
        core: Component::new(ComponentConfig::new(domain, "sesame"), 9, Instant::now()),
        opened: false,
        queue: VecDeque::new(),
        online: false,
        n: 0,
    };
    run(&mut role, false, &script.steps)
}

/// What the component peer of the component-server target sends.
#[derive(Arbitrary, Debug, Clone)]
pub enum ComponentServerItem {
    /// A stream header.
    Header(Header),
    /// The handshake: the right digest, a digest with one digit changed, of another
    /// stream id, of another secret, empty, upper case.
    Handshake(Handshake),
    /// A stanza.
    Stanza(ComponentStanza),
}

/// A handshake digest variant.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Handshake {
    /// The right one.
    Right,
    /// One digit changed.
    OneDigit,
    /// Of another stream id.
    OtherId,
    /// Of another secret.
    OtherSecret,
    /// Empty.
    Empty,
    /// The right one in upper case.
    Upper,
}

/// The component-server embedder's decisions.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum ComponentServerAction {
    /// Send a stanza to the component.
    Send,
}

/// The component-server target: our server side of XEP-0114, a component peer.
pub struct ComponentServerRole {
    core: ComponentServer,
    header_due: bool,
    queue: VecDeque<Vec<u8>>,
    online: bool,
    n: u32,
}

/// The digest a component computes for this stream id and secret: a shadow [`Component`]
/// given the header reads it out (the library keeps the SHA-1 to itself).
fn digest(stream_id: &str, secret: &str) -> String {
    let now = Instant::now();
    let domain = COMPONENT.parse().expect("a domain");
    let mut shadow = Component::new(ComponentConfig::new(domain, secret), 1, now);
    let _ = shadow.open(now);
    while shadow.poll_transmit().is_some() {}
    let header = Header::RIGHT.render(false, COMPONENT_NS, "from", COMPONENT, Some(stream_id));
    let _ = shadow.handle_input(now, header.as_bytes());
    let mut out = Vec::new();
    while let Some(b) = shadow.poll_transmit() {
        out.extend_from_slice(&b);
    }
    let out = String::from_utf8_lossy(&out);
    out.split("<handshake>")
        .nth(1)
        .and_then(|s| s.split("</handshake>").next())
        .unwrap_or("")
        .to_owned()
}

impl Role for ComponentServerRole {
    type Core = ComponentServer;
    type Item = ComponentServerItem;
    type Action = ComponentServerAction;

    fn core(&mut self) -> &mut ComponentServer {
        &mut self.core
    }

    fn render(&mut self, item: &ComponentServerItem, view: &View) -> Vec<u8> {
        let id = view.stream_id.clone().unwrap_or_default();
        match item {
            ComponentServerItem::Header(h) => {
                self.header_due = false;
                h.render(false, COMPONENT_NS, "to", COMPONENT, None)
                    .into_bytes()
            }
            ComponentServerItem::Handshake(kind) => {
                let d = match kind {
                    Handshake::Right => digest(&id, "sesame"),
                    Handshake::OneDigit => {
                        let mut d = digest(&id, "sesame").into_bytes();
                        if let Some(b) = d.first_mut() {
                            *b = if *b == b'0' { b'1' } else { b'0' };
                        }
                        String::from_utf8_lossy(&d).into_owned()
                    }
                    Handshake::OtherId => digest("other", "sesame"),
                    Handshake::OtherSecret => digest(&id, "open"),
                    Handshake::Empty => String::new(),
                    Handshake::Upper => digest(&id, "sesame").to_uppercase(),
                };
                format!("<handshake>{d}</handshake>").into_bytes()
            }
            ComponentServerItem::Stanza(kind) => {
                self.n += 1;
                component_stanza(*kind, self.n).into_bytes()
            }
        }
    }

    fn act(&mut self, _: &ComponentServerAction, now: Instant, id: &str) -> bool {
        let xml = format!(
            "<message from='juliet@example.com/b' to='bot@{COMPONENT}' id='{id}'><body>hi</body></message>"
        );
        self.core.send(now, &el(COMPONENT_NS, &xml)).is_ok()
    }

    fn observe(&mut self, _: &Element, _: &View) {}

    fn observe_header(&mut self, view: &View) {
        let id = view.stream_id.clone().unwrap_or_default();
        self.queue
            .push_back(format!("<handshake>{}</handshake>", digest(&id, "sesame")).into_bytes());
    }

    fn on_event(&mut self, ev: &ComponentEvent) -> Milestone {
        component_milestone(ev, &mut self.online)
    }

    fn next(&mut self, _: &View) -> Move<ComponentServerAction> {
        if self.header_due {
            self.header_due = false;
            return Move::Peer(
                Header::RIGHT
                    .render(false, COMPONENT_NS, "to", COMPONENT, None)
                    .into_bytes(),
            );
        }
        if let Some(b) = self.queue.pop_front() {
            return Move::Peer(b);
        }
        if self.online {
            self.n += 1;
            return Move::Peer(component_stanza(ComponentStanza::Ours, self.n).into_bytes());
        }
        Move::Idle
    }
}

/// The `component_server_grammar` target; returns whether the session got online.
pub fn component_server_grammar(data: &[u8]) -> bool {
    let Some(script) = decode::<(), ComponentServerItem, ComponentServerAction>(data) else {
        return false;
    };
    let domain = COMPONENT.parse().expect("a domain");
    let mut config = ComponentServerConfig::new(domain, "sesame");
    config.stream_id = Some("3BF96D75".into());
    let mut role = ComponentServerRole {
        core: ComponentServer::new(config, 0, Instant::now()),
        header_due: true,
        queue: VecDeque::new(),
        online: false,
        n: 0,
    };
    run(&mut role, false, &script.steps)
}

// ---------------------------------------------------------------------------
// s2s, both sides
// ---------------------------------------------------------------------------

const OURS: &str = "capulet.example";
const PEER: &str = "montague.example";
const DB_SECRET: &str = "s3cr3tf0rd14lb4ck";

fn s2s_config(tls: TlsPolicy) -> S2sConfig {
    let mut config = S2sConfig::new(OURS, DialbackSecret::new(DB_SECRET));
    config.stream_id = Some("D60000229F".into());
    config.tls = tls;
    config
}

/// The s2s setup.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub struct S2sSetup {
    /// TLS: required (with STARTTLS), optional, disabled.
    pub tls: Choice4,
    /// The TLS certificate is trusted (EXTERNAL possible).
    pub certificate: bool,
    /// Authenticate with EXTERNAL when offered, else dialback.
    pub external: bool,
}

impl S2sSetup {
    fn policy(&self) -> TlsPolicy {
        match self.tls {
            Choice4::A | Choice4::D => TlsPolicy::Required,
            Choice4::B => TlsPolicy::Optional,
            Choice4::C => TlsPolicy::Disabled,
        }
    }
}

fn s2s_header(h: &Header, from: &str, to: &str, id: Option<&str>) -> String {
    let _ = to;
    let head = h.render(false, "jabber:server", "from", from, id);
    // Add the dialback namespace and `to` after the stream namespace declaration.
    head.replacen(
        &format!("xmlns:stream='{STREAMS}'"),
        &format!("xmlns:stream='{STREAMS}' xmlns:db='{DIALBACK}' to='{to}'"),
        1,
    )
}

/// A stanza on an s2s stream.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum S2sStanza {
    /// From the peer's domain to ours.
    Right,
    /// From another domain.
    OtherFrom,
    /// To another domain.
    OtherTo,
    /// Without from.
    NoFrom,
    /// A malformed from.
    BadFrom,
    /// An iq.
    Iq,
}

fn s2s_stanza(kind: S2sStanza, from: &str, to: &str, n: u32) -> String {
    match kind {
        S2sStanza::Right => format!(
            "<message from='romeo@{from}/o' to='juliet@{to}' id='p{n}'><body>hi</body></message>"
        ),
        S2sStanza::OtherFrom => {
            format!("<message from='romeo@verona.example' to='juliet@{to}' id='p{n}'/>")
        }
        S2sStanza::OtherTo => {
            format!("<message from='romeo@{from}' to='juliet@verona.example' id='p{n}'/>")
        }
        S2sStanza::NoFrom => format!("<message to='juliet@{to}' id='p{n}'/>"),
        S2sStanza::BadFrom => format!("<message from='@@{from}' to='juliet@{to}' id='p{n}'/>"),
        S2sStanza::Iq => format!(
            "<iq type='get' from='{from}' to='{to}' id='p{n}'><ping xmlns='urn:xmpp:ping'/></iq>"
        ),
    }
}

/// A dialback key variant.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Key {
    /// The right key for the stream.
    Right,
    /// The key of another stream id.
    OtherStream,
    /// Made up.
    Wrong,
    /// Empty.
    Empty,
}

fn key(kind: Key, receiving: &str, originating: &str, stream_id: &str) -> String {
    let secret = DialbackSecret::new(DB_SECRET);
    match kind {
        Key::Right => secret
            .key(receiving, originating, stream_id)
            .as_str()
            .to_owned(),
        Key::OtherStream => secret
            .key(receiving, originating, "other")
            .as_str()
            .to_owned(),
        Key::Wrong => "b4835385f37fe2895af6c196b59097b16862406db80559900d96bf6fa7d23df3".into(),
        Key::Empty => String::new(),
    }
}

fn s2s_milestone(ev: &S2sEvent, online: &mut bool) -> Milestone {
    match ev {
        S2sEvent::StreamOpened => Milestone::Opened,
        S2sEvent::Authenticated(_) => Milestone::Authenticated,
        // Every further pair authorized on the stream (XEP-0220 section 2.6, multiplexing)
        // is reported online too: only the first makes the session online.
        S2sEvent::Online(_) if *online => Milestone::None,
        S2sEvent::Online(_) => {
            *online = true;
            Milestone::Online
        }
        S2sEvent::Closed(_) => Milestone::Closed,
        _ => Milestone::None,
    }
}

/// What the receiving-server peer of the s2s-out target sends.
#[derive(Arbitrary, Debug, Clone)]
pub enum S2sOutItem {
    /// A stream header, with an id or not.
    Header(Header, bool),
    /// Features: STARTTLS (required or not), EXTERNAL, dialback.
    Features(Option<bool>, bool, bool),
    /// `<proceed/>`, or `<failure/>` of TLS.
    Proceed(bool),
    /// SASL `<success/>` or `<failure/>`.
    Sasl(bool),
    /// The dialback result: valid, invalid, an error; for our pair or another.
    DbResult(Choice4, bool),
    /// A dialback verify answer: valid or invalid.
    DbVerify(bool),
    /// A dialback request on our outgoing stream (not allowed).
    DbRequest,
    /// A stanza.
    Stanza(S2sStanza),
}

/// The s2s-out embedder's decisions.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum S2sOutAction {
    /// Open.
    Open,
    /// TLS is up, with a trusted certificate or not.
    Tls(bool),
    /// Authorize another pair on the stream.
    Authorize,
    /// Ask to verify a key.
    Verify,
    /// Send a stanza.
    Send,
}

/// The s2s-out target: our initiating server, the receiving server as peer.
pub struct S2sOutRole {
    core: S2sOut,
    setup: S2sSetup,
    opened: bool,
    tls_up: bool,
    authed: bool,
    asks: VecDeque<Ask>,
    queue: VecDeque<Vec<u8>>,
    headers: u32,
    /// The stream id of the peer's header the core accepted last.
    peer_id: String,
    /// The stream id of the peer's last header, until the core accepts it.
    offered_id: Option<String>,
    online: bool,
    n: u32,
}

impl S2sOutRole {
    fn answer_header(&mut self, h: &Header, with_id: bool) {
        self.headers += 1;
        let id = format!("R{}", self.headers);
        let header = s2s_header(h, PEER, OURS, with_id.then_some(id.as_str()));
        // The id counts once the core accepts the header (a header where none is due is
        // the start of an element that never ends).
        self.offered_id = Some(if with_id { id } else { String::new() });
        self.queue.push_back(header.into_bytes());
    }

    fn features(&self, starttls: Option<bool>, external: bool, dialback: bool) -> String {
        let mut f = String::new();
        if let Some(required) = starttls {
            let r = if required { "<required/>" } else { "" };
            f.push_str(&format!("<starttls xmlns='{TLS}'>{r}</starttls>"));
        }
        if external {
            f.push_str(&format!(
                "<mechanisms xmlns='{SASL}'><mechanism>EXTERNAL</mechanism></mechanisms>"
            ));
        }
        if dialback {
            f.push_str("<dialback xmlns='urn:xmpp:features:dialback'><errors/></dialback>");
        }
        format!("<stream:features>{f}</stream:features>")
    }
}

impl Role for S2sOutRole {
    type Core = S2sOut;
    type Item = S2sOutItem;
    type Action = S2sOutAction;

    fn core(&mut self) -> &mut S2sOut {
        &mut self.core
    }

    fn render(&mut self, item: &S2sOutItem, _: &View) -> Vec<u8> {
        match item {
            S2sOutItem::Header(h, id) => {
                self.answer_header(h, *id);
                self.queue.pop_back().unwrap_or_default()
            }
            S2sOutItem::Features(tls, ext, db) => self.features(*tls, *ext, *db).into_bytes(),
            S2sOutItem::Proceed(ok) => {
                let name = if *ok { "proceed" } else { "failure" };
                format!("<{name} xmlns='{TLS}'/>").into_bytes()
            }
            S2sOutItem::Sasl(ok) => {
                if *ok {
                    format!("<success xmlns='{SASL}'/>").into_bytes()
                } else {
                    format!("<failure xmlns='{SASL}'><not-authorized/></failure>").into_bytes()
                }
            }
            S2sOutItem::DbResult(c, ours) => {
                let from = if *ours { PEER } else { "verona.example" };
                let ty = match c {
                    Choice4::A => " type='valid'",
                    Choice4::B => " type='invalid'",
                    Choice4::C => " type='error'",
                    Choice4::D => "",
                };
                let err = if *c == Choice4::C {
                    "<error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>"
                } else {
                    ""
                };
                format!("<db:result from='{from}' to='{OURS}'{ty}>{err}</db:result>").into_bytes()
            }
            S2sOutItem::DbVerify(valid) => {
                let ty = if *valid { "valid" } else { "invalid" };
                format!("<db:verify from='{PEER}' to='{OURS}' id='417GAF25' type='{ty}'/>")
                    .into_bytes()
            }
            S2sOutItem::DbRequest => {
                format!("<db:result from='{PEER}' to='{OURS}'>abcdef</db:result>").into_bytes()
            }
            S2sOutItem::Stanza(kind) => {
                self.n += 1;
                s2s_stanza(*kind, PEER, OURS, self.n).into_bytes()
            }
        }
    }

    fn act(&mut self, action: &S2sOutAction, now: Instant, id: &str) -> bool {
        let s = &mut self.core;
        match action {
            S2sOutAction::Open => {
                self.opened = true;
                let _ = s.open(now);
            }
            S2sOutAction::Tls(cert) => {
                if s.tls_established(now, *cert).is_ok() {
                    self.tls_up = true;
                }
            }
            S2sOutAction::Authorize => {
                let _ = s.authorize(now, DomainPair::new(OURS, "verona.example"));
            }
            S2sOutAction::Verify => {
                let request = VerifyRequest {
                    pair: DomainPair::new(PEER, OURS),
                    stream_id: "417GAF25".into(),
                    key: key(Key::Wrong, OURS, PEER, "417GAF25"),
                };
                let _ = s.verify(now, request);
            }
            S2sOutAction::Send => {
                let xml = format!(
                    "<message from='juliet@{OURS}/b' to='romeo@{PEER}' id='{id}'><body>hi</body></message>"
                );
                return s.send(now, &el("jabber:server", &xml)).is_ok();
            }
        }
        false
    }

    fn observe(&mut self, e: &Element, _: &View) {
        match e.name() {
            "starttls" if e.ns() == TLS => self
                .queue
                .push_back(format!("<proceed xmlns='{TLS}'/>").into_bytes()),
            "auth" if e.ns() == SASL => {
                self.authed = true;
                self.queue
                    .push_back(format!("<success xmlns='{SASL}'/>").into_bytes());
            }
            "result" if e.ns() == DIALBACK && e.attr("type").is_none() => {
                // The key our core sent is the one its secret gives for the pair and the
                // stream id we sent (XEP-0185 section 3).
                let from = e.attr("from").map(|f| f.into_owned()).unwrap_or_default();
                let to = e.attr("to").map(|t| t.into_owned()).unwrap_or_default();
                let expected = key(Key::Right, &to, &from, &self.peer_id);
                assert_eq!(
                    e.text(),
                    expected,
                    "a dialback key not of the stream id {}",
                    self.peer_id
                );
                self.queue.push_back(
                    format!("<db:result from='{to}' to='{from}' type='valid'/>").into_bytes(),
                );
            }
            _ => {}
        }
    }

    fn observe_header(&mut self, _: &View) {
        self.answer_header(&Header::RIGHT, true);
        let offer_tls = self.setup.policy() != TlsPolicy::Disabled && !self.tls_up;
        let f = if self.authed {
            self.features(None, false, false)
        } else if offer_tls {
            self.features(
                Some(self.setup.policy() == TlsPolicy::Required),
                false,
                self.setup.policy() == TlsPolicy::Optional,
            )
        } else {
            self.features(None, self.setup.external && self.setup.certificate, true)
        };
        self.queue.push_back(f.into_bytes());
    }

    fn on_event(&mut self, ev: &S2sEvent) -> Milestone {
        match ev {
            S2sEvent::TlsRequested => self.asks.push_back(Ask::Tls),
            S2sEvent::StreamOpened => {
                if let Some(id) = self.offered_id.take() {
                    self.peer_id = id;
                }
            }
            _ => {}
        }
        s2s_milestone(ev, &mut self.online)
    }

    fn next(&mut self, _: &View) -> Move<S2sOutAction> {
        if !self.opened {
            return Move::Act(S2sOutAction::Open);
        }
        if self.asks.pop_front().is_some() {
            return Move::Act(S2sOutAction::Tls(self.setup.certificate));
        }
        if let Some(b) = self.queue.pop_front() {
            return Move::Peer(b);
        }
        Move::Idle
    }
}

/// The `s2s_out_grammar` target; returns whether the session got online.
pub fn s2s_out_grammar(data: &[u8]) -> bool {
    let Some(script) = decode::<S2sSetup, S2sOutItem, S2sOutAction>(data) else {
        return false;
    };
    let setup = script.setup;
    let Ok(core) = S2sOut::new(
        s2s_config(setup.policy()),
        DomainPair::new(OURS, PEER),
        Instant::now(),
    ) else {
        panic!("{OURS} is ours");
    };
    let mut role = S2sOutRole {
        core,
        setup,
        opened: false,
        tls_up: false,
        authed: false,
        asks: VecDeque::new(),
        queue: VecDeque::new(),
        headers: 0,
        peer_id: String::new(),
        offered_id: None,
        online: false,
        n: 0,
    };
    run(&mut role, false, &script.steps)
}

/// What the initiating-server peer of the s2s-in target sends.
#[derive(Arbitrary, Debug, Clone)]
pub enum S2sInItem {
    /// A stream header (from the peer's domain or not).
    Header(Header),
    /// `<starttls/>`.
    StartTls,
    /// SASL EXTERNAL: no authzid, the peer's domain, another.
    External(Choice4),
    /// A dialback request: the key, for the peer's domain or another, to ours or another.
    DbResult(Key, bool, bool),
    /// An authoritative verify request (`<db:verify/>`) with a key.
    DbVerify(Key),
    /// A stanza.
    Stanza(S2sStanza),
}

/// The s2s-in embedder's decisions.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum S2sInAction {
    /// TLS is up, with a trusted certificate or not.
    Tls(bool),
    /// EXTERNAL granted for the peer's domain.
    External,
    /// EXTERNAL refused.
    RefuseExternal,
    /// Answer the last key to verify: the right answer (checked with the secret), valid,
    /// invalid.
    Answer(Choice4),
    /// Send (refused on an incoming stream).
    Send,
}

/// The s2s-in target: our receiving server, an initiating server as peer.
pub struct S2sInRole {
    core: S2sIn,
    setup: S2sSetup,
    header_due: bool,
    tls_up: bool,
    auth_sent: bool,
    features: Option<Element>,
    asks: VecDeque<Ask>,
    queue: VecDeque<Vec<u8>>,
    last_request: Option<VerifyRequest>,
    online: bool,
    n: u32,
}

impl S2sInRole {
    fn header(&mut self, h: &Header) -> Vec<u8> {
        self.header_due = false;
        self.features = None;
        let head = h.render(false, "jabber:server", "from", PEER, None);
        head.replacen(
            &format!("xmlns:stream='{STREAMS}'"),
            &format!("xmlns:stream='{STREAMS}' xmlns:db='{DIALBACK}' to='{OURS}'"),
            1,
        )
        .into_bytes()
    }
}

impl Role for S2sInRole {
    type Core = S2sIn;
    type Item = S2sInItem;
    type Action = S2sInAction;

    fn core(&mut self) -> &mut S2sIn {
        &mut self.core
    }

    fn render(&mut self, item: &S2sInItem, view: &View) -> Vec<u8> {
        let id = view.stream_id.clone().unwrap_or_default();
        match item {
            S2sInItem::Header(h) => self.header(h),
            S2sInItem::StartTls => format!("<starttls xmlns='{TLS}'/>").into_bytes(),
            S2sInItem::External(c) => {
                self.auth_sent = true;
                let authzid = match c {
                    Choice4::A => "=".to_owned(),
                    Choice4::B => b64(PEER.as_bytes()),
                    Choice4::C => b64(b"verona.example"),
                    Choice4::D => "!".into(),
                };
                format!("<auth xmlns='{SASL}' mechanism='EXTERNAL'>{authzid}</auth>").into_bytes()
            }
            S2sInItem::DbResult(k, ours_from, ours_to) => {
                let from = if *ours_from { PEER } else { "verona.example" };
                let to = if *ours_to { OURS } else { "elsewhere.example" };
                format!(
                    "<db:result from='{from}' to='{to}'>{}</db:result>",
                    key(*k, OURS, from, &id)
                )
                .into_bytes()
            }
            S2sInItem::DbVerify(k) => format!(
                "<db:verify from='{PEER}' to='{OURS}' id='417GAF25'>{}</db:verify>",
                key(*k, PEER, OURS, "417GAF25")
            )
            .into_bytes(),
            S2sInItem::Stanza(kind) => {
                self.n += 1;
                s2s_stanza(*kind, PEER, OURS, self.n).into_bytes()
            }
        }
    }

    fn act(&mut self, action: &S2sInAction, now: Instant, id: &str) -> bool {
        let s = &mut self.core;
        match action {
            S2sInAction::Tls(cert) => {
                if s.tls_established(now, *cert).is_ok() {
                    self.tls_up = true;
                    self.header_due = true;
                    self.features = None;
                }
            }
            S2sInAction::External => {
                let _ = s.external(now, PEER);
            }
            S2sInAction::RefuseExternal => {
                let _ = s.refuse_external(now);
            }
            S2sInAction::Answer(c) => {
                if let Some(req) = self.last_request.take() {
                    let valid = DialbackSecret::new(DB_SECRET).verify(
                        &req.pair.to,
                        &req.pair.from,
                        &req.stream_id,
                        &req.key,
                    );
                    let outcome = match c {
                        Choice4::A | Choice4::D if valid => DialbackOutcome::Valid,
                        Choice4::A | Choice4::D => DialbackOutcome::Invalid,
                        Choice4::B => DialbackOutcome::Valid,
                        Choice4::C => DialbackOutcome::Invalid,
                    };
                    let _ = s.dialback_answer(now, &req.pair, outcome);
                }
            }
            S2sInAction::Send => {
                let xml = format!("<message from='juliet@{OURS}/b' to='romeo@{PEER}' id='{id}'/>");
                // Refused on an incoming stream: not counted.
                let _ = s.send(now, &el("jabber:server", &xml));
            }
        }
        false
    }

    fn observe(&mut self, e: &Element, _: &View) {
        match (e.name(), e.ns()) {
            ("features", STREAMS) => self.features = Some(e.clone()),
            ("success", SASL) => {
                self.header_due = true;
                self.features = None;
            }
            ("failure", SASL) => self.auth_sent = false,
            _ => {}
        }
    }

    fn observe_header(&mut self, _: &View) {}

    fn on_event(&mut self, ev: &S2sEvent) -> Milestone {
        match ev {
            S2sEvent::TlsRequested => self.asks.push_back(Ask::Tls),
            S2sEvent::ExternalRequest { .. } => self.asks.push_back(Ask::External),
            S2sEvent::DialbackVerifyRequest(req) => {
                self.last_request = Some(req.clone());
                self.asks.push_back(Ask::VerifyKey(req.clone()));
            }
            S2sEvent::Stanza(stanza) => {
                // Only a stanza of an authorized pair reaches the embedder.
                let el = stanza.element();
                let domain = |a: &str| {
                    el.attr(a)
                        .and_then(|v| v.parse::<Jid>().ok())
                        .map(|j| j.domain().to_owned())
                };
                let (from, to) = (domain("from"), domain("to"));
                let authorized = self.core.authorized().iter().any(|p| {
                    Some(p.from.as_str()) == from.as_deref() && Some(p.to.as_str()) == to.as_deref()
                });
                assert!(authorized, "a stanza of no authorized pair: {el}");
            }
            _ => {}
        }
        s2s_milestone(ev, &mut self.online)
    }

    fn next(&mut self, view: &View) -> Move<S2sInAction> {
        if let Some(ask) = self.asks.pop_front() {
            return Move::Act(match ask {
                Ask::Tls => S2sInAction::Tls(self.setup.certificate),
                Ask::External => S2sInAction::External,
                _ => S2sInAction::Answer(Choice4::A),
            });
        }
        if self.header_due {
            return Move::Peer(self.header(&Header::RIGHT));
        }
        if let Some(b) = self.queue.pop_front() {
            return Move::Peer(b);
        }
        let Some(features) = self.features.clone() else {
            return Move::Idle;
        };
        if !self.tls_up
            && child(&features, "starttls").is_some()
            && self.setup.policy() != TlsPolicy::Disabled
        {
            self.features = None;
            return Move::Peer(format!("<starttls xmlns='{TLS}'/>").into_bytes());
        }
        if self.auth_sent {
            return Move::Idle;
        }
        self.auth_sent = true;
        if self.setup.external && child(&features, "mechanisms").is_some() {
            return Move::Peer(
                format!("<auth xmlns='{SASL}' mechanism='EXTERNAL'>=</auth>").into_bytes(),
            );
        }
        if child(&features, "dialback").is_some() || child(&features, "mechanisms").is_none() {
            let id = view.stream_id.clone().unwrap_or_default();
            return Move::Peer(
                format!(
                    "<db:result from='{PEER}' to='{OURS}'>{}</db:result>",
                    key(Key::Right, OURS, PEER, &id)
                )
                .into_bytes(),
            );
        }
        Move::Idle
    }
}

/// The `s2s_in_grammar` target; returns whether the session got online.
pub fn s2s_in_grammar(data: &[u8]) -> bool {
    let Some(script) = decode::<S2sSetup, S2sInItem, S2sInAction>(data) else {
        return false;
    };
    let setup = script.setup;
    let mut role = S2sInRole {
        core: S2sIn::new(s2s_config(setup.policy()), 3, Instant::now()),
        setup,
        header_due: true,
        tls_up: false,
        auth_sent: false,
        features: None,
        asks: VecDeque::new(),
        queue: VecDeque::new(),
        last_request: None,
        online: false,
        n: 0,
    };
    run(&mut role, false, &script.steps)
}
