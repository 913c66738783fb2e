//! The s2s targets, both sides: `s2s_out_grammar` (our initiating server) and
//! `s2s_in_grammar` (our receiving server), with dialback (XEP-0220) and SASL EXTERNAL.

use super::c2s::*;
use super::*;
use std::collections::VecDeque;
use std::time::Instant;

use arbitrary::Arbitrary;
use xmpp_sansio::dialback::DialbackSecret;
use xmpp_sansio::jid::Jid;
use xmpp_sansio::s2s::{
    DialbackOutcome, DomainPair, S2sConfig, S2sEvent, S2sIn, S2sOut, VerifyRequest,
};
use xmpp_sansio::stream::TlsPolicy;
use xmpp_sansio::xml::Element;

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

    fn fed(&mut self, bytes: &[u8]) {
        // The stream id is the one of the last header the core was fed, as our own parser
        // reads it: a rendered header may have been corrupted (another id, or none) or cut
        // to nothing before another arrived, so the id offered when rendering is not enough.
        let mut p = xmpp_sansio::xml::StreamParser::default();
        let _ = p.handle_input(bytes);
        if let Some(h) = p.header() {
            self.offered_id = Some(h.attr("id").map(|v| v.into_owned()).unwrap_or_default());
        }
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
