//! The pair harness: both sides of a stream wired to each other in memory on a virtual clock.
//!
//! A [`Pair`] moves the bytes one side's `poll_transmit` gives to the other's `handle_input`,
//! answers what each side asks its embedder (TLS set up, with channel-binding data and a
//! client certificate when the row says so; credentials; binding), and moves the clock only
//! to the next `poll_timeout`. Each row of the tables below runs a c2s `Client` against a
//! `Server` (or a `Component` against a `ComponentServer`) from `open` to `Closed`: the
//! outcome of negotiation (online with the expected JID, or the documented failure), stanzas
//! both ways, then the end (a close from either side, or the closer's timeout when the
//! other side goes silent), checking the `CloseReason` each side reports and that no side
//! writes anything after its closing tag.

use std::fmt::Debug;
use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use bytes::Bytes;
use xmpp_sansio::client::{Client, ClientConfig, ClientEvent};
use xmpp_sansio::component::{
    Component, ComponentConfig, ComponentEvent, ComponentServer, ComponentServerConfig,
};
use xmpp_sansio::connection::{Connection, RoleError, RoleEvent};
use xmpp_sansio::error::StreamErrorCondition;
use xmpp_sansio::jid::{BareJid, FullJid, Jid};
use xmpp_sansio::sasl::{CbType, ChannelBinding, Mechanism, UserCredential};
use xmpp_sansio::server::{FastToken, HtMechanism, Server, ServerConfig, ServerEvent};
use xmpp_sansio::stanza::{JABBER_COMPONENT_ACCEPT, MessageBuilder};
use xmpp_sansio::stream::{Abandoned, CloseReason, TlsPolicy};
use xmpp_sansio::xml::parse_element;

const TIMEOUT: Duration = Duration::from_secs(30);
const CLOSING_TAG: &[u8] = b"</stream:stream>";

/// One side of a stream as its embedder sees it.
trait Side {
    type Event: Debug;
    fn input(&mut self, now: Instant, data: &[u8]);
    fn transmit(&mut self) -> Option<Bytes>;
    fn event(&mut self) -> Option<Self::Event>;
    fn timeout(&self) -> Option<Instant>;
    fn fire(&mut self, now: Instant);
    fn close(&mut self, now: Instant);
    /// What the embedder does about `event` (TLS, credentials, binding); nothing for most.
    fn answer(&mut self, now: Instant, event: &Self::Event);
    fn closed(event: &Self::Event) -> Option<&CloseReason>;
}

/// What the embedder of a side knows about the transport it would set up.
#[derive(Clone, Copy)]
struct Tls {
    /// Both sides export `tls-exporter` data once TLS is up (for the `-PLUS` mechanisms).
    channel_binding: bool,
    /// The client presents a certificate that the server's TLS layer verified (EXTERNAL).
    client_cert: bool,
}

fn channel_binding() -> ChannelBinding {
    ChannelBinding::new(CbType::TlsExporter, [7u8; 32])
}

struct ClientSide {
    client: Client,
    tls: Tls,
}

impl Side for ClientSide {
    type Event = ClientEvent;
    fn input(&mut self, now: Instant, data: &[u8]) {
        self.client.handle_input(now, data).expect("client input");
    }
    fn transmit(&mut self) -> Option<Bytes> {
        self.client.poll_transmit()
    }
    fn event(&mut self) -> Option<ClientEvent> {
        self.client.poll_event()
    }
    fn timeout(&self) -> Option<Instant> {
        self.client.poll_timeout()
    }
    fn fire(&mut self, now: Instant) {
        self.client.handle_timeout(now);
    }
    fn close(&mut self, now: Instant) {
        self.client.close(now);
    }
    fn answer(&mut self, now: Instant, event: &ClientEvent) {
        // The pair's SASL2 task: choose the first, answer its challenge with a response.
        if let ClientEvent::Sasl2Continue(tasks) = event {
            self.client.sasl2_next(now, &tasks[0], &[]).expect("next");
        }
        if let ClientEvent::Sasl2TaskData(data) = event {
            let asked = data.root().get_child("challenge", TASK_NS).is_some();
            assert!(asked, "{data:?}");
            let answer = parse_element(TASK_NS, b"<response xmlns='urn:example:task'/>").unwrap();
            self.client
                .sasl2_task_data(now, &[answer])
                .expect("task data");
        }
        if let ClientEvent::TlsRequested = event {
            let cb = self.tls.channel_binding.then(channel_binding);
            // The client presents its certificate in the handshake the server verifies.
            let result = if self.tls.client_cert {
                self.client.tls_established_with_client_cert(now, cb)
            } else {
                self.client.tls_established(now, cb)
            };
            result.expect("client TLS");
        }
    }
    fn closed(event: &ClientEvent) -> Option<&CloseReason> {
        match event {
            ClientEvent::Closed(reason) => Some(reason),
            _ => None,
        }
    }
}

struct ServerSide {
    server: Server,
    tls: Tls,
    /// The FAST token the embedder keeps for the client (XEP-0484).
    fast: Option<FastToken>,
}

impl Side for ServerSide {
    type Event = ServerEvent;
    fn input(&mut self, now: Instant, data: &[u8]) {
        self.server.handle_input(now, data).expect("server input");
    }
    fn transmit(&mut self) -> Option<Bytes> {
        self.server.poll_transmit()
    }
    fn event(&mut self) -> Option<ServerEvent> {
        self.server.poll_event()
    }
    fn timeout(&self) -> Option<Instant> {
        self.server.poll_timeout()
    }
    fn fire(&mut self, now: Instant) {
        self.server.handle_timeout(now);
    }
    fn close(&mut self, now: Instant) {
        self.server.close(now);
    }
    fn answer(&mut self, now: Instant, event: &ServerEvent) {
        let s = &mut self.server;
        match event {
            ServerEvent::TlsRequested => {
                let cbs = if self.tls.channel_binding {
                    vec![channel_binding()]
                } else {
                    vec![]
                };
                if self.tls.client_cert {
                    s.tls_established_with_client_cert(now, cbs)
                } else {
                    s.tls_established(now, cbs)
                }
                .expect("server TLS")
            }
            ServerEvent::AuthRequest { authcid, .. } => {
                let credential = if authcid == "juliet" {
                    UserCredential::Password("pw".into())
                } else {
                    UserCredential::Unknown
                };
                s.credentials(now, credential).expect("credentials")
            }
            ServerEvent::ExternalRequest { .. } => s.external(now, juliet()).expect("external"),
            ServerEvent::FastTokenRequest { mechanism, .. } => {
                let token = FastToken {
                    mechanism: *mechanism,
                    secret: format!("token-{}", now.elapsed().as_nanos()),
                    expiry: "2030-01-01T00:00:00Z".into(),
                };
                self.fast = Some(token.clone());
                s.issue_fast_token(now, Some(token)).expect("issue")
            }
            ServerEvent::FastAuthRequest { authcid, .. } => {
                assert_eq!(authcid, "juliet");
                s.fast_credentials(now, self.fast.clone()).expect("fast")
            }
            ServerEvent::Sasl2Task(task) => {
                assert_eq!(task, "PAIR-TASK");
                let challenge =
                    parse_element(TASK_NS, b"<challenge xmlns='urn:example:task'/>").unwrap();
                s.sasl2_task_data(now, &[challenge]).expect("task data")
            }
            ServerEvent::Sasl2TaskData(data) => {
                assert!(
                    data.root().get_child("response", TASK_NS).is_some(),
                    "{data:?}"
                );
                s.sasl2_task_done(now).expect("task done")
            }
            ServerEvent::BindRequest { account, resource } => {
                let resource = resource.clone().unwrap_or_else(|| s.make_resource());
                let jid = format!("{account}/{resource}").parse().unwrap();
                s.bind(now, jid).expect("bind")
            }
            _ => {}
        }
    }
    fn closed(event: &ServerEvent) -> Option<&CloseReason> {
        match event {
            ServerEvent::Closed(reason) => Some(reason),
            _ => None,
        }
    }
}

/// The two XEP-0114 sides report the same events and need no answers.
macro_rules! component_side {
    ($ty:ty) => {
        impl Side for $ty {
            type Event = ComponentEvent;
            fn input(&mut self, now: Instant, data: &[u8]) {
                self.handle_input(now, data).expect("component input");
            }
            fn transmit(&mut self) -> Option<Bytes> {
                self.poll_transmit()
            }
            fn event(&mut self) -> Option<ComponentEvent> {
                self.poll_event()
            }
            fn timeout(&self) -> Option<Instant> {
                self.poll_timeout()
            }
            fn fire(&mut self, now: Instant) {
                self.handle_timeout(now);
            }
            fn close(&mut self, now: Instant) {
                <$ty>::close(self, now);
            }
            fn answer(&mut self, _: Instant, _: &ComponentEvent) {}
            fn closed(event: &ComponentEvent) -> Option<&CloseReason> {
                match event {
                    ComponentEvent::Closed(reason) => Some(reason),
                    _ => None,
                }
            }
        }
    };
}

component_side!(Component);
component_side!(ComponentServer);

/// A side, what it reported and everything it wrote.
struct End<S: Side> {
    side: S,
    events: Vec<S::Event>,
    wrote: Vec<u8>,
    /// A silent side reads nothing and nothing it writes arrives (a peer that hung).
    silent: bool,
}

impl<S: Side> End<S> {
    fn new(side: S) -> Self {
        End {
            side,
            events: Vec::new(),
            wrote: Vec::new(),
            silent: false,
        }
    }

    fn closed(&self) -> Option<&CloseReason> {
        self.events.iter().find_map(S::closed)
    }

    /// Events since index `from`.
    fn since(&self, from: usize) -> &[S::Event] {
        &self.events[from..]
    }

    /// Nothing after our closing tag, which is written once at most (RFC 6120 section 4.4).
    fn check_nothing_after_closing_tag(&self, who: &str) {
        let tags = self
            .wrote
            .windows(CLOSING_TAG.len())
            .filter(|w| *w == CLOSING_TAG)
            .count();
        assert!(tags <= 1, "{who} wrote its closing tag {tags} times");
        if tags == 1 {
            assert!(
                self.wrote.ends_with(CLOSING_TAG),
                "{who} wrote after its closing tag: {}",
                String::from_utf8_lossy(&self.wrote)
            );
        }
    }
}

/// Two sides wired to each other, on a virtual clock.
struct Pair<A: Side, B: Side> {
    now: Instant,
    a: End<A>,
    b: End<B>,
}

/// Moves one side's output to the other and answers its events; true if anything moved.
fn step<X: Side, Y: Side>(now: Instant, x: &mut End<X>, y: &mut End<Y>) -> bool {
    let mut moved = false;
    while let Some(bytes) = x.side.transmit() {
        moved = true;
        x.wrote.extend_from_slice(&bytes);
        if !x.silent && !y.silent {
            y.side.input(now, &bytes);
        }
    }
    // One event at a time, writing out what each answer queued before the next is taken.
    while let Some(event) = x.side.event() {
        moved = true;
        x.side.answer(now, &event);
        x.events.push(event);
        while let Some(bytes) = x.side.transmit() {
            x.wrote.extend_from_slice(&bytes);
            if !x.silent && !y.silent {
                y.side.input(now, &bytes);
            }
        }
    }
    moved
}

impl<A: Side, B: Side> Pair<A, B> {
    fn new(now: Instant, a: A, b: B) -> Self {
        Pair {
            now,
            a: End::new(a),
            b: End::new(b),
        }
    }

    /// Moves bytes and answers events until both sides are quiet, without moving the clock.
    fn drive(&mut self) {
        for _ in 0..1000 {
            let moved_a = step(self.now, &mut self.a, &mut self.b);
            let moved_b = step(self.now, &mut self.b, &mut self.a);
            if !moved_a && !moved_b {
                return;
            }
        }
        panic!("the pair never went quiet");
    }

    /// Drives, then moves the clock to the next timeout of a side that is not silent and
    /// fires it, until `done` holds (or no timer is left).
    fn run_until(&mut self, done: impl Fn(&Self) -> bool) {
        for _ in 0..100 {
            self.drive();
            if done(self) {
                return;
            }
            let next = [
                (!self.a.silent).then(|| self.a.side.timeout()).flatten(),
                (!self.b.silent).then(|| self.b.side.timeout()).flatten(),
            ]
            .into_iter()
            .flatten()
            .min();
            let Some(next) = next else { return };
            assert!(next >= self.now, "a timeout in the past");
            self.now = next;
            if !self.a.silent {
                self.a.side.fire(next);
            }
            if !self.b.silent {
                self.b.side.fire(next);
            }
        }
        panic!("the pair never finished");
    }

    fn check_nothing_after_closing_tags(&self) {
        self.a.check_nothing_after_closing_tag("the initiator");
        self.b.check_nothing_after_closing_tag("the receiver");
    }
}

/// How a stream that went online ends.
#[derive(Debug, Clone, Copy)]
enum Ending {
    /// The initiator closes; the receiver answers.
    InitiatorCloses,
    /// The receiver closes; the initiator answers.
    ReceiverCloses,
    /// The initiator closes and the receiver has gone silent: the closing handshake times out.
    InitiatorClosesToSilence,
    /// The receiver closes and the initiator has gone silent.
    ReceiverClosesToSilence,
}

const ENDINGS: [Ending; 4] = [
    Ending::InitiatorCloses,
    Ending::ReceiverCloses,
    Ending::InitiatorClosesToSilence,
    Ending::ReceiverClosesToSilence,
];

/// Ends an online pair as `ending` says and checks each side's `CloseReason`.
fn end<A: Side, B: Side>(pair: &mut Pair<A, B>, ending: Ending, row: &str) {
    let t = pair.now;
    match ending {
        Ending::InitiatorCloses | Ending::InitiatorClosesToSilence => pair.a.side.close(t),
        Ending::ReceiverCloses | Ending::ReceiverClosesToSilence => pair.b.side.close(t),
    }
    match ending {
        Ending::InitiatorClosesToSilence => pair.b.silent = true,
        Ending::ReceiverClosesToSilence => pair.a.silent = true,
        _ => {}
    }
    pair.run_until(|p| {
        (p.a.silent || p.a.closed().is_some()) && (p.b.silent || p.b.closed().is_some())
    });
    let (a, b) = (pair.a.closed(), pair.b.closed());
    let (close, peer, timed) = (
        Some(&CloseReason::LocalClose),
        Some(&CloseReason::PeerClose),
        Some(&CloseReason::TimedOut),
    );
    match ending {
        Ending::InitiatorCloses => assert_eq!((a, b), (close, peer), "{row}"),
        Ending::ReceiverCloses => assert_eq!((a, b), (peer, close), "{row}"),
        Ending::InitiatorClosesToSilence => {
            assert_eq!((a, b), (timed, None), "{row}");
            assert_eq!(pair.now, t + TIMEOUT, "{row}: counted from the close");
        }
        Ending::ReceiverClosesToSilence => {
            assert_eq!((a, b), (None, timed), "{row}");
            assert_eq!(pair.now, t + TIMEOUT, "{row}: counted from the close");
        }
    }
    pair.check_nothing_after_closing_tags();
}

// ---------------------------------------------------------------------------------------
// c2s
// ---------------------------------------------------------------------------------------

fn juliet() -> BareJid {
    "juliet@example.com".parse().unwrap()
}

/// One combination of c2s policies.
#[derive(Debug, Clone, Copy)]
struct C2s {
    client_tls: TlsPolicy,
    server_tls: TlsPolicy,
    /// The one mechanism both sides run.
    mechanism: Mechanism,
    /// The client presents a certificate when TLS is set up.
    client_cert: bool,
    /// How modern the login is: RFC 6120 only, SASL2, SASL2 with Bind 2, and with stream
    /// management enabled inside Bind 2.
    login: Login,
}

/// Which login both sides run (they both enable it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Login {
    Rfc6120,
    Sasl2,
    Bind2,
    Bind2Sm,
    /// Bind 2 after a SASL2 task (`<continue/>`, one challenge and response).
    Task,
}

/// The namespace of the pair's SASL2 task.
const TASK_NS: &str = "urn:example:task";

/// What negotiation must end in.
#[derive(Debug, PartialEq)]
enum Outcome {
    /// Online, as this account (`None`: ANONYMOUS, an account the server makes up in its
    /// domain).
    Online(Option<BareJid>),
    /// The client gives up with this reason (the server sees the client's closing tag).
    ClientAbandons(Abandoned),
}

impl C2s {
    /// The outcome the RFCs and the crate's documentation give for this combination.
    fn expected(&self) -> Outcome {
        use TlsPolicy::*;
        let tls_up = matches!(
            (self.client_tls, self.server_tls),
            (Required | Optional, Required | Optional)
        );
        match (self.client_tls, self.server_tls) {
            // TLS required but not offered.
            (Required, Disabled) => return Outcome::ClientAbandons(Abandoned::TlsUnavailable),
            // The server offers only STARTTLS while it is not up (RFC 6120 5.3.1).
            (Disabled, Required) => return Outcome::ClientAbandons(Abandoned::NoMechanism),
            _ => {}
        }
        let usable = match self.mechanism {
            // PLAIN only on an encrypted stream (neither side allows it without here).
            Mechanism::Plain => tls_up,
            // Channel binding exists only with TLS.
            m if m.is_plus() => tls_up,
            // The server offers EXTERNAL only with a verified client certificate.
            Mechanism::External => tls_up && self.client_cert,
            _ => true,
        };
        match (usable, self.mechanism) {
            (false, _) => Outcome::ClientAbandons(Abandoned::NoMechanism),
            (true, Mechanism::Anonymous) => Outcome::Online(None),
            (true, _) => Outcome::Online(Some(juliet())),
        }
    }

    fn pair(&self, now: Instant) -> Pair<ClientSide, ServerSide> {
        let mut config = ClientConfig::new(juliet(), "pw");
        config.tls = self.client_tls;
        config.mechanisms = vec![self.mechanism];
        config.sasl2 = self.login != Login::Rfc6120;
        config.bind2 = matches!(self.login, Login::Bind2 | Login::Bind2Sm | Login::Task);
        config.bind2_tag = Some("PairTest".into());
        config.stream_management = self.login == Login::Bind2Sm;
        let client = Client::new(config, 1, now);

        let mut config = ServerConfig::new("example.com", b"secret".to_vec());
        config.tls = self.server_tls;
        config.mechanisms = vec![self.mechanism];
        // Few iterations: the exchange is the same, PBKDF2 is quick in a debug build.
        config.scram_iterations = NonZeroU32::new(16).unwrap();
        config.sasl2 = self.login != Login::Rfc6120;
        // XEP-0474's hash in every modern row: our client checks it (on by default).
        config.downgrade_protection = self.login != Login::Rfc6120;
        config.stream_management = self.login == Login::Bind2Sm;
        if self.login == Login::Task {
            config.sasl2_tasks = vec!["PAIR-TASK".into()];
        }
        let server = Server::new(config, 2, now);

        let tls = Tls {
            channel_binding: true,
            client_cert: self.client_cert,
        };
        Pair::new(
            now,
            ClientSide { client, tls },
            ServerSide {
                server,
                tls,
                fast: None,
            },
        )
    }
}

fn c2s_rows() -> Vec<C2s> {
    use TlsPolicy::*;
    let mut rows = Vec::new();
    for client_tls in [Required, Optional, Disabled] {
        for server_tls in [Required, Optional, Disabled] {
            for mechanism in [
                Mechanism::Plain,
                Mechanism::ScramSha1,
                Mechanism::ScramSha256,
                Mechanism::ScramSha1Plus,
                Mechanism::ScramSha256Plus,
                Mechanism::External,
                Mechanism::Anonymous,
            ] {
                for client_cert in [false, true] {
                    // A certificate matters only to EXTERNAL.
                    if client_cert && mechanism != Mechanism::External {
                        continue;
                    }
                    rows.push(C2s {
                        client_tls,
                        server_tls,
                        mechanism,
                        client_cert,
                        login: Login::Rfc6120,
                    });
                }
            }
        }
    }
    rows
}

/// Drives the pair from `open` to the end of negotiation and checks the outcome; the JID
/// both sides agree the client is bound to, when it went online.
fn negotiate(row: &C2s, pair: &mut Pair<ClientSide, ServerSide>) -> Option<FullJid> {
    let name = format!("{row:?}");
    pair.a.side.client.open(pair.now).unwrap();
    pair.drive();
    let online = |events: &[ClientEvent]| {
        events.iter().find_map(|e| match e {
            ClientEvent::Online(jid) => Some(jid.clone()),
            _ => None,
        })
    };
    match row.expected() {
        Outcome::Online(account) => {
            let jid = online(&pair.a.events).unwrap_or_else(|| {
                panic!(
                    "{name}: not online: {:?} / {:?}",
                    pair.a.events, pair.b.events
                )
            });
            let server_jid = pair.b.events.iter().find_map(|e| match e {
                ServerEvent::Online(jid) => Some(jid.clone()),
                _ => None,
            });
            assert_eq!(server_jid.as_ref(), Some(&jid), "{name}");
            match account {
                Some(account) => assert_eq!(jid.to_bare(), account, "{name}"),
                None => {
                    assert_eq!(jid.domain(), "example.com", "{name}");
                    assert_ne!(jid.to_bare(), juliet(), "{name}: a made-up account");
                }
            }
            let tls = pair
                .a
                .events
                .iter()
                .any(|e| matches!(e, ClientEvent::TlsRequested));
            let expect_tls = !matches!(
                (row.client_tls, row.server_tls),
                (TlsPolicy::Disabled, _) | (_, TlsPolicy::Disabled)
            );
            assert_eq!(tls, expect_tls, "{name}: TLS set up");
            assert!(pair.a.closed().is_none() && pair.b.closed().is_none());
            Some(jid)
        }
        Outcome::ClientAbandons(reason) => {
            assert!(online(&pair.a.events).is_none(), "{name}");
            let reason = CloseReason::Abandoned(reason);
            assert_eq!(
                pair.a.closed(),
                Some(&reason),
                "{name}: {:?}",
                pair.a.events
            );
            assert_eq!(pair.b.closed(), Some(&CloseReason::PeerClose), "{name}");
            pair.check_nothing_after_closing_tags();
            None
        }
    }
}

/// A message each way: the server stamps the client's with its full JID, the client gets
/// the server's as sent.
fn exchange_c2s(pair: &mut Pair<ClientSide, ServerSide>, jid: &FullJid, row: &str) {
    let (a0, b0) = (pair.a.events.len(), pair.b.events.len());
    let romeo: Jid = "romeo@example.net".parse().unwrap();
    let me: Jid = jid.as_str().parse().unwrap();
    let now = pair.now;
    pair.a
        .side
        .client
        .send_with(now, |w| {
            MessageBuilder::new()
                .to(&romeo)
                .id("c1")
                .body("up")
                .write_to(w)
        })
        .unwrap();
    pair.b
        .side
        .server
        .send_with(now, |w| {
            MessageBuilder::new()
                .to(&me)
                .from(&romeo)
                .id("s1")
                .body("down")
                .write_to(w)
        })
        .unwrap();
    pair.drive();
    let [ServerEvent::Stanza(up)] = pair.b.since(b0) else {
        panic!("{row}: {:?}", pair.b.since(b0))
    };
    assert_eq!(up.from().unwrap().unwrap().as_str(), jid.as_str(), "{row}");
    let up = up.as_message().unwrap();
    assert_eq!(up.body().as_deref(), Some("up"), "{row}");
    let [ClientEvent::Stanza(down)] = pair.a.since(a0) else {
        panic!("{row}: {:?}", pair.a.since(a0))
    };
    assert_eq!(down.to().unwrap().unwrap().as_str(), jid.as_str(), "{row}");
    let down = down.as_message().unwrap();
    assert_eq!(down.body().as_deref(), Some("down"), "{row}");
}

#[test]
fn every_tls_policy_and_mechanism_both_sides_support() {
    let t0 = Instant::now();
    let mut online = 0;
    for row in c2s_rows() {
        for ending in ENDINGS {
            let name = format!("{row:?} {ending:?}");
            let mut pair = row.pair(t0);
            let Some(jid) = negotiate(&row, &mut pair) else {
                break;
            };
            online += 1;
            exchange_c2s(&mut pair, &jid, &name);
            end(&mut pair, ending, &name);
        }
    }
    // The table is not vacuous: most rows go online.
    assert!(online >= 4 * 30, "{online}");
}

#[test]
fn sasl2_and_bind2_log_in_with_every_mechanism_without_a_restart() {
    let t0 = Instant::now();
    let mut online = 0;
    for login in [Login::Sasl2, Login::Bind2, Login::Bind2Sm, Login::Task] {
        for mut row in c2s_rows() {
            row.login = login;
            let name = format!("{row:?}");
            let mut pair = row.pair(t0);
            let Some(jid) = negotiate(&row, &mut pair) else {
                continue;
            };
            let wrote = String::from_utf8_lossy(&pair.a.wrote).into_owned();
            let tls = pair
                .a
                .events
                .iter()
                .any(|e| matches!(e, ClientEvent::TlsRequested));
            let without_tls =
                row.client_tls == TlsPolicy::Disabled && row.server_tls == TlsPolicy::Disabled;
            if !tls && !without_tls {
                // XEP-0388 section 3: "SASL2 MUST only be used by Clients or offered by
                // Servers after TLS negotiation": on a stream without TLS where either side
                // would use it, the login is RFC 6120's.
                assert!(wrote.contains("<auth "), "{name}: {wrote}");
                assert!(!wrote.contains("urn:xmpp:sasl:2"), "{name}: {wrote}");
                continue;
            }
            online += 1;
            assert!(
                wrote.contains("<authenticate xmlns='urn:xmpp:sasl:2'"),
                "{name}: {wrote}"
            );
            assert!(!wrote.contains("<auth "), "{name}: {wrote}");
            // One header per stream: the first, and the one after TLS; none after SASL2.
            let headers = wrote.matches("<stream:stream").count();
            assert_eq!(headers, 1 + usize::from(tls), "{name}: {wrote}");
            let bound_inline = wrote.contains("urn:xmpp:bind:0");
            assert_eq!(bound_inline, login != Login::Sasl2, "{name}");
            if login != Login::Sasl2 && row.mechanism != Mechanism::Anonymous {
                // The server made the resource from the tag (XEP-0386 section 2.2.1).
                assert!(jid.resource().starts_with("PairTest/"), "{name}: {jid}");
            }
            let tasked = wrote.contains("<next xmlns='urn:xmpp:sasl:2' task='PAIR-TASK'");
            assert_eq!(tasked, login == Login::Task, "{name}: {wrote}");
            let sm = pair
                .a
                .events
                .iter()
                .any(|e| matches!(e, ClientEvent::StreamManagementEnabled));
            assert_eq!(sm, login == Login::Bind2Sm, "{name}: {:?}", pair.a.events);
            exchange_c2s(&mut pair, &jid, &name);
            // Online after SASL2: no negotiation deadline is left running on either side
            // (only the client's keepalive), so an hour of silence ends nothing.
            let later = pair.now + Duration::from_secs(3600);
            pair.a.side.client.handle_timeout(later);
            pair.b.side.server.handle_timeout(later);
            pair.now = later;
            pair.drive();
            assert!(
                pair.a.closed().is_none() && pair.b.closed().is_none(),
                "{name}"
            );
            if login == Login::Bind2Sm {
                // Acks flow: the server counted the client's message from the inline
                // `<enable/>`, and acks it when asked.
                let now = pair.now;
                pair.a.side.client.request_ack(now).unwrap();
                pair.drive();
                let acked = pair
                    .a
                    .events
                    .iter()
                    .any(|e| matches!(e, ClientEvent::Acked(1)));
                assert!(acked, "{name}: {:?}", pair.a.events);
                assert_eq!(pair.a.side.client.unacked(), Some(0), "{name}");
            }
            end(&mut pair, Ending::InitiatorCloses, &name);
        }
    }
    assert!(online >= 4 * 30, "{online}");
}

/// A SASL2 + Bind 2 pair with stream management and resumption on both sides.
fn resumable_pair(now: Instant, seed: u64) -> Pair<ClientSide, ServerSide> {
    let tls = Tls {
        channel_binding: true,
        client_cert: false,
    };
    let mut config = ClientConfig::new(juliet(), "pw");
    config.sasl2 = true;
    config.bind2_tag = Some("PairTest".into());
    config.stream_management = true;
    config.resumption = true;
    let client = Client::new(config, seed, now);
    let mut config = ServerConfig::new("example.com", b"secret".to_vec());
    config.scram_iterations = NonZeroU32::new(16).unwrap();
    config.sasl2 = true;
    config.stream_management = true;
    config.resumption = Some(300);
    let server = Server::new(config, seed, now);
    Pair::new(
        now,
        ClientSide { client, tls },
        ServerSide {
            server,
            tls,
            fast: None,
        },
    )
}

#[test]
fn sasl2_resumes_the_previous_session_inside_authenticate() {
    let t0 = Instant::now();
    let mut pair = resumable_pair(t0, 1);
    pair.a.side.client.open(t0).unwrap();
    pair.drive();
    let jid = pair
        .a
        .events
        .iter()
        .find_map(|e| match e {
            ClientEvent::Online(jid) => Some(jid.clone()),
            _ => None,
        })
        .expect("online");
    // A message the client never gets: the transport breaks before it arrives.
    let me: Jid = jid.as_str().parse().unwrap();
    pair.b
        .side
        .server
        .send_with(t0, |w| {
            MessageBuilder::new()
                .to(&me)
                .id("lost")
                .body("again")
                .write_to(w)
        })
        .unwrap();
    let _ = pair.b.side.server.poll_transmit();
    pair.a.side.client.handle_eof();
    pair.b.side.server.handle_eof();
    let client_state = pair
        .a
        .side
        .client
        .take_resumption_state()
        .expect("client state");
    let server_state = pair
        .b
        .side
        .server
        .take_resumption_state()
        .expect("server state");
    assert_eq!(server_state.unacked.len(), 1);

    let mut pair = resumable_pair(t0, 2);
    pair.a.side.client.resume_from(client_state).unwrap();
    pair.a.side.client.open(t0).unwrap();
    pair.drive();
    let asked = pair
        .b
        .events
        .iter()
        .any(|e| matches!(e, ServerEvent::ResumeRequest { .. }));
    assert!(asked, "{:?}", pair.b.events);
    pair.b.side.server.resume(t0, Some(server_state)).unwrap();
    pair.drive();
    let wrote = String::from_utf8_lossy(&pair.a.wrote).into_owned();
    assert!(wrote.contains("<resume xmlns='urn:xmpp:sm:3'"), "{wrote}");
    // One round trip: no bind, no second <resume/> after <success/>.
    assert_eq!(wrote.matches("<resume ").count(), 1, "{wrote}");
    assert!(
        !wrote.contains("urn:ietf:params:xml:ns:xmpp-bind"),
        "{wrote}"
    );
    let resumed = |e: &ClientEvent| matches!(e, ClientEvent::Resumed(j) if *j == jid);
    assert!(pair.a.events.iter().any(resumed), "{:?}", pair.a.events);
    assert!(
        pair.b
            .events
            .iter()
            .any(|e| matches!(e, ServerEvent::Resumed(j) if *j == jid))
    );
    // The stanza lost with the old transport arrives now.
    let again = pair
        .a
        .events
        .iter()
        .any(|e| matches!(e, ClientEvent::Stanza(s) if s.id().as_deref() == Some("lost")));
    assert!(again, "{:?}", pair.a.events);
    end(&mut pair, Ending::InitiatorCloses, "resumed");
}

/// A SASL2 + Bind 2 + FAST pair over TLS with `tls-exporter` binding.
fn fast_pair(
    now: Instant,
    token: Option<FastToken>,
    kept: Option<FastToken>,
) -> Pair<ClientSide, ServerSide> {
    let tls = Tls {
        channel_binding: true,
        client_cert: false,
    };
    let mut config = ClientConfig::new(juliet(), "pw");
    config.sasl2 = true;
    config.fast_request_token = token.is_none();
    config.fast_token = token;
    let client = Client::new(config, 3, now);
    let mut config = ServerConfig::new("example.com", b"secret".to_vec());
    config.scram_iterations = NonZeroU32::new(16).unwrap();
    config.sasl2 = true;
    config.fast = vec![HtMechanism::Sha256Expr, HtMechanism::Sha256None];
    let server = Server::new(config, 3, now);
    Pair::new(
        now,
        ClientSide { client, tls },
        ServerSide {
            server,
            tls,
            fast: kept,
        },
    )
}

#[test]
fn fast_token_from_a_password_login_then_a_one_round_trip_login_with_it() {
    let t0 = Instant::now();
    let mut pair = fast_pair(t0, None, None);
    pair.a.side.client.open(t0).unwrap();
    pair.drive();
    let token = pair
        .a
        .events
        .iter()
        .find_map(|e| match e {
            ClientEvent::FastToken(t) => Some(t.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no token: {:?}", pair.a.events));
    // The strongest offered mechanism the channel binding allows.
    assert_eq!(token.mechanism, HtMechanism::Sha256Expr);
    assert_eq!(pair.b.side.fast.as_ref(), Some(&token));
    assert!(!format!("{:?}", pair.a.events).contains(&token.secret));
    let kept = pair.b.side.fast.clone();
    end(&mut pair, Ending::InitiatorCloses, "password login");

    // Reconnect with the token: no password exchange, online in one round trip.
    let mut pair = fast_pair(t0, Some(token.clone()), kept.clone());
    pair.a.side.client.open(t0).unwrap();
    pair.drive();
    let wrote = String::from_utf8_lossy(&pair.a.wrote).into_owned();
    assert!(wrote.contains("mechanism='HT-SHA-256-EXPR'"), "{wrote}");
    assert!(wrote.contains("<fast xmlns='urn:xmpp:fast:0'/>"), "{wrote}");
    assert!(
        !wrote.contains(&token.secret),
        "the token itself never goes on the wire"
    );
    assert!(
        !pair
            .b
            .events
            .iter()
            .any(|e| matches!(e, ServerEvent::AuthRequest { .. }))
    );
    assert!(
        pair.a
            .events
            .iter()
            .any(|e| matches!(e, ClientEvent::Online(_))),
        "{:?}",
        pair.a.events
    );
    end(&mut pair, Ending::InitiatorCloses, "fast login");

    // A token the server does not know: failure, and the password still works.
    let forged = FastToken {
        secret: "forged".into(),
        ..token
    };
    let mut pair = fast_pair(t0, Some(forged), kept);
    pair.a.side.client.open(t0).unwrap();
    pair.drive();
    assert!(
        pair.a
            .events
            .iter()
            .any(|e| matches!(e, ClientEvent::SaslFailure(_))),
        "{:?}",
        pair.a.events
    );
    pair.a.side.client.auth(t0, None).unwrap();
    pair.drive();
    assert!(
        pair.a
            .events
            .iter()
            .any(|e| matches!(e, ClientEvent::Online(_))),
        "{:?}",
        pair.a.events
    );
    end(&mut pair, Ending::InitiatorCloses, "fallback");
}

#[test]
fn direct_tls_needs_no_starttls_and_binds_the_channel_from_the_first_stream() {
    let t0 = Instant::now();
    let mut pair = fast_pair(t0, None, None);
    pair.a
        .side
        .client
        .direct_tls(Some(channel_binding()), false)
        .unwrap();
    pair.b
        .side
        .server
        .direct_tls(vec![channel_binding()], false)
        .unwrap();
    pair.a.side.client.open(t0).unwrap();
    pair.drive();
    assert!(
        !pair
            .a
            .events
            .iter()
            .any(|e| matches!(e, ClientEvent::TlsRequested))
    );
    let wrote = String::from_utf8_lossy(&pair.a.wrote).into_owned();
    assert!(!wrote.contains("starttls"), "{wrote}");
    assert_eq!(
        wrote.matches("<stream:stream").count(),
        1,
        "one stream: {wrote}"
    );
    let mechanism = pair.b.events.iter().find_map(|e| match e {
        ServerEvent::AuthRequest { mechanism, .. } => Some(*mechanism),
        _ => None,
    });
    assert_eq!(mechanism, Some(Mechanism::ScramSha256Plus));
    assert!(
        pair.a
            .events
            .iter()
            .any(|e| matches!(e, ClientEvent::Online(_)))
    );
    // Too late once the stream began.
    assert!(pair.a.side.client.direct_tls(None, false).is_err());
    assert!(pair.b.side.server.direct_tls(Vec::new(), false).is_err());
    end(&mut pair, Ending::InitiatorCloses, "direct TLS");
}

#[test]
fn the_defaults_pick_the_strongest_mechanism_both_support() {
    let t0 = Instant::now();
    let mut pair = Pair::new(
        t0,
        ClientSide {
            client: Client::new(ClientConfig::new(juliet(), "pw"), 2, t0),
            tls: Tls {
                channel_binding: true,
                client_cert: false,
            },
        },
        ServerSide {
            server: {
                let mut config = ServerConfig::new("example.com", b"secret".to_vec());
                config.scram_iterations = NonZeroU32::new(16).unwrap();
                Server::new(config, 2, t0)
            },
            tls: Tls {
                channel_binding: true,
                client_cert: false,
            },
            fast: None,
        },
    );
    pair.a.side.client.open(t0).unwrap();
    pair.drive();
    let mechanism = pair.b.events.iter().find_map(|e| match e {
        ServerEvent::AuthRequest { mechanism, .. } => Some(*mechanism),
        _ => None,
    });
    assert_eq!(mechanism, Some(Mechanism::ScramSha256Plus));
    assert!(
        pair.a
            .events
            .iter()
            .any(|e| matches!(e, ClientEvent::Online(_)))
    );
    end(&mut pair, Ending::InitiatorCloses, "defaults");
}

#[test]
fn negotiation_times_out_when_a_side_goes_silent() {
    let t0 = Instant::now();
    let row = C2s {
        client_tls: TlsPolicy::Optional,
        server_tls: TlsPolicy::Optional,
        mechanism: Mechanism::ScramSha256,
        client_cert: false,
        login: Login::Rfc6120,
    };
    // The server hangs before answering the client's header: the client gives up with
    // `connection-timeout` (RFC 6120 section 4.9.3.4), the response timeout after `open`.
    let mut pair = row.pair(t0);
    pair.b.silent = true;
    pair.a.side.client.open(t0).unwrap();
    pair.run_until(|p| p.a.closed().is_some());
    assert_eq!(pair.a.closed(), Some(&CloseReason::TimedOut));
    assert_eq!(pair.now, t0 + TIMEOUT);
    let wrote = String::from_utf8_lossy(&pair.a.wrote);
    assert!(wrote.contains("<connection-timeout"), "{wrote}");
    pair.check_nothing_after_closing_tags();

    // The client hangs after its header: the server gives up the same way.
    let mut pair = row.pair(t0);
    pair.a.side.client.open(t0).unwrap();
    let header = pair.a.side.transmit().unwrap();
    pair.a.silent = true;
    let t1 = t0 + Duration::from_secs(5);
    pair.now = t1;
    pair.b.side.input(t1, &header);
    pair.run_until(|p| p.b.closed().is_some());
    assert_eq!(pair.b.closed(), Some(&CloseReason::TimedOut));
    assert_eq!(pair.now, t1 + TIMEOUT, "counted from the client's header");
    let wrote = String::from_utf8_lossy(&pair.b.wrote);
    assert!(wrote.contains("<connection-timeout"), "{wrote}");
    pair.check_nothing_after_closing_tags();
}

// ---------------------------------------------------------------------------------------
// XEP-0114
// ---------------------------------------------------------------------------------------

const GATEWAY: &str = "gw.example.com";

fn component_pair(now: Instant, to: &str, secret: &str) -> Pair<Component, ComponentServer> {
    let component = Component::new(ComponentConfig::new(to.parse().unwrap(), secret), 6, now);
    let config = ComponentServerConfig::new(GATEWAY.parse().unwrap(), "s3cr3t");
    Pair::new(now, component, ComponentServer::new(config, 3, now))
}

#[test]
fn a_component_and_its_server() {
    let t0 = Instant::now();
    // (the component's domain, its secret, the stream error the server ends with)
    let rows = [
        (GATEWAY, "s3cr3t", None),
        (GATEWAY, "wrong", Some(StreamErrorCondition::NotAuthorized)),
        (
            "other.example.com",
            "s3cr3t",
            Some(StreamErrorCondition::HostUnknown),
        ),
    ];
    for (domain, secret, refused) in rows {
        for ending in ENDINGS {
            let name = format!("{domain} {secret} {ending:?}");
            let mut pair = component_pair(t0, domain, secret);
            pair.a.side.open(t0).unwrap();
            pair.drive();
            if let Some(condition) = refused {
                let reason = |r: Option<&CloseReason>| match r {
                    Some(CloseReason::LocalStreamError(e) | CloseReason::PeerStreamError(e)) => {
                        Some(e.condition)
                    }
                    _ => None,
                };
                assert!(
                    matches!(pair.b.closed(), Some(CloseReason::LocalStreamError(_))),
                    "{name}"
                );
                assert!(
                    matches!(pair.a.closed(), Some(CloseReason::PeerStreamError(_))),
                    "{name}"
                );
                assert_eq!(reason(pair.a.closed()), Some(condition), "{name}");
                assert_eq!(reason(pair.b.closed()), Some(condition), "{name}");
                pair.check_nothing_after_closing_tags();
                break;
            }
            for end in [&pair.a.events, &pair.b.events] {
                assert!(
                    end.iter()
                        .any(|e| matches!(e, ComponentEvent::Online(d) if d.as_str() == GATEWAY)),
                    "{name}: {end:?}"
                );
            }
            exchange_component(&mut pair, &name);
            end(&mut pair, ending, &name);
        }
    }
}

fn exchange_component(pair: &mut Pair<Component, ComponentServer>, row: &str) {
    let (a0, b0) = (pair.a.events.len(), pair.b.events.len());
    let user: Jid = "user@gw.example.com".parse().unwrap();
    let juliet: Jid = "juliet@example.com".parse().unwrap();
    let now = pair.now;
    pair.a
        .side
        .send_with(now, |w| {
            MessageBuilder::new()
                .content_ns(JABBER_COMPONENT_ACCEPT)
                .from(&user)
                .to(&juliet)
                .body("up")
                .write_to(w)
        })
        .unwrap();
    pair.b
        .side
        .send_with(now, |w| {
            MessageBuilder::new()
                .content_ns(JABBER_COMPONENT_ACCEPT)
                .from(&juliet)
                .to(&user)
                .body("down")
                .write_to(w)
        })
        .unwrap();
    pair.drive();
    for (events, body) in [(pair.b.since(b0), "up"), (pair.a.since(a0), "down")] {
        let [ComponentEvent::Stanza(s)] = events else {
            panic!("{row}: {events:?}")
        };
        assert_eq!(
            s.as_message().unwrap().body().as_deref(),
            Some(body),
            "{row}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// A late answer
// ---------------------------------------------------------------------------------------

/// `closer` sends an iq and closes; `answerer` gets both in one read, so its embedder sees
/// the stanza and then `Closed`, and answers too late: the stream ended, which is not
/// misuse, and nothing is written after the closing tag.
/// The iq carries `from` when the closer is a component, whose server requires it.
fn answer_too_late<A: Connection, B: Connection>(
    now: Instant,
    closer: &mut A,
    answerer: &mut B,
    from: Option<&Jid>,
) {
    use xmpp_sansio::error::StanzaErrorCondition::ServiceUnavailable;
    use xmpp_sansio::stanza::{IqBuilder, IqType};
    let to: Jid = GATEWAY.parse().unwrap();
    let iq = |w: &mut xmpp_sansio::xml::Writer<'_>| {
        // A get with its one payload (RFC 6120 section 8.2.3), so that it reaches the
        // embedder.
        let ping = |w: &mut xmpp_sansio::xml::Writer<'_>| {
            w.start("ping").xmlns("urn:xmpp:ping");
            w.end("ping");
        };
        let iq = IqBuilder::new(IqType::Get, "q").to(&to);
        match from {
            Some(from) => iq.from(from).write_to_with(w, ping),
            None => iq.write_to_with(w, ping),
        }
    };
    closer.send_with(now, iq).unwrap();
    Connection::close(closer, now);
    let read = closer.poll_transmit().expect("the iq and the closing tag");
    assert!(closer.poll_transmit().is_none(), "one read");
    answerer.handle_input(now, &read).unwrap();
    while answerer.poll_transmit().is_some() {}
    let events: Vec<_> = std::iter::from_fn(|| answerer.poll_event()).collect();
    let [.., stanza, closed] = &events[..] else {
        panic!("{events:?}")
    };
    assert_eq!(
        closed.close_reason(),
        Some(&CloseReason::PeerClose),
        "{events:?}"
    );
    let stanza = stanza.stanza().unwrap_or_else(|| panic!("{events:?}"));

    let late = answerer
        .reply_error(now, stanza, ServiceUnavailable)
        .unwrap_err();
    assert!(late.is_stream_ended() && !late.is_misuse(), "{late}");
    assert!(late.to_string().contains("already ended"), "{late}");
    let late = answerer.send_with(now, iq).unwrap_err();
    assert!(late.is_stream_ended() && !late.is_misuse(), "{late}");
    assert!(
        answerer.poll_transmit().is_none(),
        "nothing after the closing tag"
    );
}

#[test]
fn an_answer_after_the_peers_closing_tag_is_stream_ended_not_misuse() {
    use xmpp_sansio::client::ClientError;
    use xmpp_sansio::component::ComponentError;
    use xmpp_sansio::server::ServerError;

    let t0 = Instant::now();
    let row = C2s {
        client_tls: TlsPolicy::Optional,
        server_tls: TlsPolicy::Optional,
        mechanism: Mechanism::ScramSha256,
        client_cert: false,
        login: Login::Rfc6120,
    };
    for client_closes in [true, false] {
        let mut pair = row.pair(t0);
        negotiate(&row, &mut pair).expect("online");
        let (client, server) = (&mut pair.a.side.client, &mut pair.b.side.server);
        if client_closes {
            answer_too_late(t0, client, server, None);
        } else {
            answer_too_late(t0, server, client, None);
        }
    }
    for component_closes in [true, false] {
        let mut pair = component_pair(t0, GATEWAY, "s3cr3t");
        pair.a.side.open(t0).unwrap();
        pair.drive();
        let (component, server) = (&mut pair.a.side, &mut pair.b.side);
        let user: Jid = "user@gw.example.com".parse().unwrap();
        if component_closes {
            answer_too_late(t0, component, server, Some(&user));
        } else {
            answer_too_late(t0, server, component, Some(&user));
        }
    }
    // Misuse stays misuse.
    assert!(ServerError::NotOnline.is_misuse() && !ServerError::NotOnline.is_stream_ended());
    assert!(ClientError::Unbalanced.is_misuse());
    let too_large = ClientError::StanzaTooLarge { size: 2, max: 1 };
    assert!(!too_large.is_misuse() && !too_large.is_stream_ended());
    assert!(ComponentError::NotOnline.is_misuse());
}

// ---------------------------------------------------------------------------------------
// Stanzas are written in the stream's namespace
// ---------------------------------------------------------------------------------------

/// A message with a body in its own namespace, a payload in another, and a forwarded
/// `jabber:client` message (XEP-0297) that must keep its namespace whatever the stream.
/// `FROM` is left to the c2s server to stamp.
const FORWARDING: &str = "<message FROM to='user@gw.example.com'>\
    <body>hi</body><x xmlns='urn:x'><y/></x>\
    <forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client'><body>old</body>\
    </message></forwarded></message>";

/// What `send` of [`FORWARDING`], parsed in `parsed_in`, wrote, and checks that the peer
/// took it as a stanza of its stream with the namespaces right.
fn sent_and_received<A: Side, B: Side>(
    pair: &mut Pair<A, B>,
    send: impl FnOnce(&mut A, &xmpp_sansio::xml::Element),
    stanza_of: impl Fn(&B::Event) -> Option<&xmpp_sansio::stanza::Stanza>,
    parsed_in: &str,
    stream_ns: &str,
    from: &str,
) -> String {
    let xml = FORWARDING.replace("FROM", from);
    let el = xmpp_sansio::xml::parse_element(parsed_in, xml.as_bytes()).unwrap();
    let (wrote, b0) = (pair.a.wrote.len(), pair.b.events.len());
    send(&mut pair.a.side, &el);
    pair.drive();
    let row = format!("{parsed_in} into {stream_ns}");
    let [event] = pair.b.since(b0) else {
        panic!("{row}: {:?}", pair.b.since(b0))
    };
    let stanza = stanza_of(event).unwrap_or_else(|| panic!("{row}: {event:?}"));
    let root = stanza.element().root();
    assert_eq!(stanza.ns(), stream_ns, "{row}");
    assert!(root.get_child("body", stream_ns).is_some(), "{row}");
    assert!(root.get_child("x", "urn:x").is_some(), "{row}");
    let inner = root.get_child("forwarded", "urn:xmpp:forward:0").unwrap();
    assert!(
        inner.get_child("message", "jabber:client").is_some(),
        "{row}"
    );
    String::from_utf8(pair.a.wrote[wrote..].to_vec()).unwrap()
}

#[test]
fn a_stanza_built_in_any_content_namespace_is_written_in_the_streams() {
    use xmpp_sansio::stanza::{JABBER_CLIENT, JABBER_SERVER};
    let t0 = Instant::now();
    for parsed_in in [JABBER_CLIENT, JABBER_SERVER, JABBER_COMPONENT_ACCEPT] {
        let mut pair = component_pair(t0, GATEWAY, "s3cr3t");
        pair.a.side.open(t0).unwrap();
        pair.drive();
        let wrote = sent_and_received(
            &mut pair,
            |c, el| c.send(t0, el).unwrap(),
            |e| match e {
                ComponentEvent::Stanza(s) => Some(s),
                _ => None,
            },
            parsed_in,
            JABBER_COMPONENT_ACCEPT,
            "from='user@gw.example.com'",
        );
        assert!(wrote.starts_with("<message from="), "{parsed_in}: {wrote}");
        assert_eq!(wrote.matches("xmlns='jabber:client'").count(), 1, "{wrote}");
        assert!(!wrote.contains("jabber:server"), "{wrote}");
        assert!(pair.a.closed().is_none() && pair.b.closed().is_none());

        // `send_with` and a writer that names a content namespace: the same.
        let b0 = pair.b.events.len();
        pair.a
            .side
            .send_with(t0, |w| {
                w.start("message")
                    .xmlns(parsed_in)
                    .attr("from", GATEWAY)
                    .attr("to", GATEWAY)
                    .end("message");
            })
            .unwrap();
        pair.drive();
        let [ComponentEvent::Stanza(s)] = pair.b.since(b0) else {
            panic!("{parsed_in}: {:?}", pair.b.since(b0))
        };
        assert_eq!(s.ns(), JABBER_COMPONENT_ACCEPT);
    }

    // A c2s client sends what a component or a server built.
    let row = C2s {
        client_tls: TlsPolicy::Disabled,
        server_tls: TlsPolicy::Disabled,
        mechanism: Mechanism::ScramSha1,
        client_cert: false,
        login: Login::Rfc6120,
    };
    for parsed_in in [JABBER_CLIENT, JABBER_SERVER, JABBER_COMPONENT_ACCEPT] {
        let mut pair = row.pair(t0);
        negotiate(&row, &mut pair).expect("online");
        let wrote = sent_and_received(
            &mut pair,
            |c, el| c.client.send(t0, el).unwrap(),
            |e| match e {
                ServerEvent::Stanza(s) => Some(s),
                _ => None,
            },
            parsed_in,
            JABBER_CLIENT,
            "",
        );
        assert!(wrote.starts_with("<message to="), "{parsed_in}: {wrote}");
        assert!(!wrote.contains("jabber:server"), "{wrote}");
        assert!(!wrote.contains("jabber:component"), "{wrote}");
    }
}

#[test]
fn component_sides_have_ids_error_replies_and_domain_jids() {
    use xmpp_sansio::error::StanzaErrorCondition;
    use xmpp_sansio::stanza::{IqBuilder, IqType, StanzaType};
    let t0 = Instant::now();
    let mut pair = component_pair(t0, GATEWAY, "s3cr3t");
    pair.a.side.open(t0).unwrap();
    pair.drive();
    let gateway: BareJid = GATEWAY.parse().unwrap();
    for events in [&pair.a.events, &pair.b.events] {
        assert!(
            events
                .iter()
                .any(|e| matches!(e, ComponentEvent::Online(d) if *d == gateway)),
            "{events:?}"
        );
    }

    // Ids: unique in the session, from the session's seed.
    let ids: Vec<String> = (0..3).map(|_| pair.a.side.next_id()).collect();
    assert!(ids[0] != ids[1] && ids[1] != ids[2], "{ids:?}");
    let server_id = pair.b.side.next_id();
    let again = |seed| {
        let config = ComponentServerConfig::new(gateway.clone(), "s3cr3t");
        ComponentServer::new(config, seed, t0).next_id()
    };
    // The pair's server has seed 3 and made a stream id before its first stanza id.
    assert_ne!(again(3), again(4));
    assert_eq!(again(5), again(5));
    assert!(!ids.contains(&server_id));

    // The component asks something the server does not handle: service-unavailable back,
    // addresses swapped, same id.
    let (user, juliet): (Jid, Jid) = (
        "user@gw.example.com".parse().unwrap(),
        "juliet@example.com".parse().unwrap(),
    );
    let id = pair.a.side.next_id();
    let b0 = pair.b.events.len();
    pair.a
        .side
        .send_with(t0, |w| {
            IqBuilder::new(IqType::Get, &id)
                .from(&user)
                .to(&juliet)
                .write_to(w)
        })
        .unwrap();
    pair.drive();
    let [ComponentEvent::Stanza(iq)] = pair.b.since(b0) else {
        panic!("{:?}", pair.b.since(b0))
    };
    let iq = iq.clone();
    let a0 = pair.a.events.len();
    let sent = pair
        .b
        .side
        .reply_error(t0, &iq, StanzaErrorCondition::ServiceUnavailable);
    assert_eq!(sent, Ok(true));
    pair.drive();
    let [ComponentEvent::Stanza(reply)] = pair.a.since(a0) else {
        panic!("{:?}", pair.a.since(a0))
    };
    assert_eq!(reply.type_().unwrap(), StanzaType::Iq(IqType::Error));
    assert_eq!(reply.id().as_deref(), Some(id.as_str()));
    assert_eq!(reply.to().unwrap(), Some(user));
    assert_eq!(reply.from().unwrap(), Some(juliet));
    // No answer to an error (RFC 6120 section 8.3.1).
    let reply = reply.clone();
    let none = pair
        .a
        .side
        .reply_error(t0, &reply, StanzaErrorCondition::BadRequest);
    assert_eq!(none, Ok(false));
    assert!(pair.a.side.poll_transmit().is_none());
}
