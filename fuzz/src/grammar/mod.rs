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

mod c2s;
mod client;
mod component;
mod s2s;
mod server;

pub use client::client_grammar;
pub use component::{component_grammar, component_server_grammar};
pub use s2s::{s2s_in_grammar, s2s_out_grammar};
pub use server::server_grammar;

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::time::{Duration, Instant};

use arbitrary::{Arbitrary, Unstructured};
use xmpp_sansio::connection::{Connection, RoleEvent};
use xmpp_sansio::s2s::VerifyRequest;
use xmpp_sansio::sasl::{decode_payload, encode_payload};
use xmpp_sansio::xml::{Element, Event, StreamParser};

use crate::sessions::{check_message, check_output};

/// The most moves one [`Step::Login`] makes.
pub const LOGIN_STEPS: usize = 40;

/// The most text all of a script's [`Common::Big`] items may carry together. Each costs two
/// bytes of script and up to 127 KiB of input: unbounded, a 3.4 KB script made the peer send
/// 7.6 MB, which the core parsed in linear time but which took the run past libFuzzer's
/// one-second limit under load. Bounded, the work of a script stays proportional to its
/// length, and 512 KiB still lets a script go over every limit of the core more than once.
pub const BIG_BUDGET: usize = 512 * 1024;

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
    /// An element with this many kilobytes of text (modulo 128): over some limits. All of
    /// a script's together carry at most [`BIG_BUDGET`].
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
    /// What the core is fed of the item just rendered, after any corruption or cut: for a
    /// role that must know a value the bytes carry as the core reads them (a stream id).
    fn fed(&mut self, _bytes: &[u8]) {}
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
        actions: 0,
        split: 0,
        corrupt: None,
        truncate: None,
        milestone: Milestone::None,
        onlines: 0,
        closed: false,
        sent_close: false,
        sent: Vec::new(),
        ids: 0,
        big_left: BIG_BUDGET,
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
    /// Embedder decisions made: each may write a little (a stanza it sends, an answer).
    actions: usize,
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
    /// What is left of [`BIG_BUDGET`].
    big_left: usize,
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
        role.fed(&bytes);
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
        self.actions += 1;
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
                let len = (*k as usize % 128 * 1024).min(self.big_left);
                self.big_left -= len;
                let mut s = "<message to='romeo@example.net' id='big'><body>".to_string();
                s.push_str(&"a".repeat(len));
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
        // Output proportional to input (as in `sessions`), the big items included, plus
        // what the embedder's own decisions write (a stanza it sends: at most 512 bytes).
        assert!(
            self.out.len() <= 4096 + 64 * self.input + 512 * self.actions,
            "{} bytes out for {} in and {} embedder actions",
            self.out.len(),
            self.input,
            self.actions
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

/// What a role's embedder was asked and has not answered (each role uses its own few).
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
