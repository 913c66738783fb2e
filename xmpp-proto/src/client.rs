//! The client role: a c2s initiating entity (RFC 6120 sections 4 to 7 and 9.1) as a sans-IO
//! state machine.
//!
//! The embedder owns the socket, the TLS library, the clock and the random source; the core
//! owns every protocol decision. The loop is:
//!
//! - bytes read from the transport go to [`Client::handle_input`], with the current time;
//! - [`Client::poll_transmit`] gives the bytes to write;
//! - [`Client::poll_event`] gives what the embedder must know or do ([`ClientEvent`]);
//! - [`Client::poll_timeout`] says when to call [`Client::handle_timeout`];
//! - the embedder's decisions are methods: [`Client::open`], [`Client::tls_established`],
//!   [`Client::auth`], [`Client::send`], [`Client::close`], [`Client::handle_eof`].
//!
//! Negotiation: stream header, STARTTLS by [`TlsPolicy`] (section 5), SASL (section 6, the
//! mechanisms of [`crate::sasl`], chosen by a preference list), resource binding (section 7)
//! and, only when the server requires it, the legacy session (RFC 3921 section 3). Methods
//! that do not take the time use the time of the last call that did.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::error::{
    SASL_NS, STREAM_NS, SaslFailure, StanzaError, StreamError, StreamErrorCondition,
};
use crate::jid::{BareJid, FullJid, Jid};
use crate::sasl::{
    self, ChannelBinding, Credentials, Mechanism, Nonce, SaslClient, SaslClientError,
};
use crate::stanza::JABBER_CLIENT;
pub use crate::stream::TlsPolicy;
use crate::stream::{
    BIND_NS, Features, Header, Output, Rng, SESSION_NS, Session, StreamLimits, TLS_NS,
    check_peer_header, deadline, write_header,
};
use crate::xml::{Element, Event, Limits, ParseError, StreamParser, write_element};

/// How a client connects and authenticates.
#[derive(Clone)]
pub struct ClientConfig {
    /// The account.
    pub jid: BareJid,
    /// The password, unless [`scram_keys`](Self::scram_keys) are given.
    pub password: Option<String>,
    /// SCRAM keys cached from an earlier login ([`Client::scram_keys`]), used instead of the
    /// password when the server's salt and iteration count match, so that no PBKDF2 runs.
    /// With keys and no password, a server whose salt or count changed (a new password) is
    /// refused.
    pub scram_keys: Option<sasl::ScramKeys>,
    /// The largest SCRAM iteration count accepted from the server (RFC 5802 section 9: a
    /// hostile server can make the client spend long in PBKDF2, inside one
    /// [`Client::handle_input`] call). Defaults to [`sasl::DEFAULT_MAX_ITERATIONS`],
    /// 100,000: ten times what servers in the field use (4,096 to 10,000). A server that
    /// sends more is refused with [`Abandoned::ScramIterations`].
    pub scram_max_iterations: u32,
    /// The resource to ask for; `None` lets the server choose.
    pub resource: Option<String>,
    /// `xml:lang` of the stream.
    pub lang: String,
    /// When to use STARTTLS.
    pub tls: TlsPolicy,
    /// Let PLAIN run on a stream that is not encrypted (off by default: it would send the
    /// password in the clear).
    pub allow_plain_without_tls: bool,
    /// SASL mechanisms in order of preference.
    pub mechanisms: Vec<Mechanism>,
    /// The SCRAM client nonce; `None` makes one from [`seed`](Self::seed). Set it only to
    /// replay a recorded exchange.
    pub client_nonce: Option<String>,
    /// Seed of the generator that makes nonces and ids. Give it fresh randomness from the
    /// operating system for every connection.
    pub seed: u64,
    /// How long to wait for the server during negotiation and closing.
    pub response_timeout: Duration,
    /// Idle time after which a whitespace keepalive is sent; `None` turns it off.
    pub keepalive: Option<Duration>,
    /// Use a `-PLUS` mechanism even when the server does not say (XEP-0440) that it
    /// supports the channel-binding type the TLS layer gave. Off by default: servers exist
    /// that offer `-PLUS` but support only `tls-unique`, which TLS 1.3 lacks, and refuse
    /// the login.
    pub plus_without_advertisement: bool,
    /// Limits of the stream parser.
    pub limits: Limits,
}

impl ClientConfig {
    /// A configuration with the defaults: TLS required, the default SASL preference, 30 s
    /// response timeout, 60 s keepalive.
    pub fn new(jid: BareJid, password: impl Into<String>) -> Self {
        ClientConfig {
            jid,
            password: Some(password.into()),
            scram_keys: None,
            scram_max_iterations: sasl::DEFAULT_MAX_ITERATIONS,
            resource: None,
            lang: "en".into(),
            tls: TlsPolicy::Required,
            allow_plain_without_tls: false,
            mechanisms: Mechanism::DEFAULT_PREFERENCE.to_vec(),
            client_nonce: None,
            seed: 0,
            response_timeout: Duration::from_secs(30),
            keepalive: Some(Duration::from_secs(60)),
            plus_without_advertisement: false,
            limits: Limits::default(),
        }
    }
}

impl core::fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // The password is a secret; ScramKeys redact themselves.
        f.debug_struct("ClientConfig")
            .field("jid", &self.jid)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("scram_keys", &self.scram_keys)
            .field("scram_max_iterations", &self.scram_max_iterations)
            .field("resource", &self.resource)
            .field("lang", &self.lang)
            .field("tls", &self.tls)
            .field("allow_plain_without_tls", &self.allow_plain_without_tls)
            .field("mechanisms", &self.mechanisms)
            .field("client_nonce", &self.client_nonce)
            .field("seed", &self.seed)
            .field("response_timeout", &self.response_timeout)
            .field("keepalive", &self.keepalive)
            .field(
                "plus_without_advertisement",
                &self.plus_without_advertisement,
            )
            .field("limits", &self.limits)
            .finish()
    }
}

/// Why the client gave up on its own (it sent `</stream:stream>`, no stream error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Abandoned {
    /// TLS is required but the server did not offer it, or refused it.
    TlsUnavailable,
    /// No offered SASL mechanism is acceptable.
    NoMechanism,
    /// The SCRAM server signature was wrong: the server does not know the password.
    ServerSignature,
    /// The server's SCRAM iteration count is above
    /// [`ClientConfig::scram_max_iterations`]: running it would stall the embedder (RFC 5802
    /// section 9).
    ScramIterations {
        /// The count the server sent (saturated at `u64::MAX`).
        count: u64,
        /// The largest count accepted.
        max: u32,
    },
    /// The server refused to bind a resource (or to establish the session).
    BindFailed(Option<StanzaError>),
    /// The server broke the protocol in a way no stream error fits.
    PeerProtocol(&'static str),
}

impl Abandoned {
    /// The reason as the conformance vectors name it.
    pub fn as_str(&self) -> &'static str {
        match self {
            Abandoned::TlsUnavailable => "tls-unavailable",
            Abandoned::NoMechanism => "no-mechanism",
            Abandoned::ServerSignature => "server-signature",
            Abandoned::ScramIterations { .. } => "scram-iterations",
            Abandoned::BindFailed(_) => "bind-failed",
            Abandoned::PeerProtocol(_) => "peer-protocol",
        }
    }
}

/// What the client reports to the embedder.
#[derive(Debug, Clone)]
pub enum ClientEvent {
    /// The server's stream header was accepted (every header, restarts included).
    StreamOpened,
    /// Start TLS now; call [`Client::tls_established`] when it is up.
    TlsRequested,
    /// SASL succeeded (for SCRAM, the server signature checked out).
    Authenticated(BareJid),
    /// The server refused authentication; call [`Client::auth`] to try again, or close.
    SaslFailure(SaslFailure),
    /// Negotiation is over: stanzas flow, from this full JID.
    Online(FullJid),
    /// A stanza arrived.
    Stanza(Element),
    /// The server sent a stream error (for `see-other-host`, the host to try).
    PeerStreamError(StreamError),
    /// The client gave up for a local reason.
    Abandoned(Abandoned),
    /// The stream is over; close the transport.
    Closed,
}

/// The embedder called a method that does not fit the state: nothing was done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientError {
    /// [`Client::open`] was already called.
    AlreadyOpen,
    /// Input or an action before [`Client::open`].
    NotOpen,
    /// Input while TLS is being set up: it was discarded (it would be plaintext injected
    /// before the handshake).
    AwaitingTls,
    /// [`Client::tls_established`] without a [`ClientEvent::TlsRequested`].
    NoTlsRequested,
    /// [`Client::auth`] without a [`ClientEvent::SaslFailure`] to answer.
    NotAwaitingAuth,
    /// [`Client::send`] before [`ClientEvent::Online`].
    NotOnline,
    /// The stream is closed or closing.
    Closed,
    /// The stanza, serialized, is larger than the server said it accepts (XEP-0478
    /// `<max-bytes/>`): sending it would end the stream with `policy-violation`. Nothing
    /// was sent.
    StanzaTooLarge {
        /// Its size in bytes, serialized.
        size: usize,
        /// The server's limit.
        max: u64,
    },
}

impl core::fmt::Display for ClientError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ClientError::AlreadyOpen => f.write_str("the stream is already open"),
            ClientError::NotOpen => f.write_str("the stream is not open yet"),
            ClientError::AwaitingTls => {
                f.write_str("input while TLS is being set up was discarded")
            }
            ClientError::NoTlsRequested => f.write_str("TLS was not requested"),
            ClientError::NotAwaitingAuth => f.write_str("no SASL failure to answer"),
            ClientError::NotOnline => f.write_str("stanzas can be sent only once online"),
            ClientError::Closed => f.write_str("the stream is closed"),
            ClientError::StanzaTooLarge { size, max } => write!(
                f,
                "the stanza is {size} bytes, more than the {max} the server accepts \
                 (XEP-0478); nothing was sent"
            ),
        }
    }
}

impl std::error::Error for ClientError {}

/// Where negotiation stands; each variant holds what its next step needs.
enum State {
    /// Not opened yet.
    Idle,
    /// Our header is sent; the server's is expected.
    AwaitHeader,
    /// The server's header arrived; its features are expected.
    AwaitFeatures,
    /// `<starttls/>` sent.
    AwaitProceed,
    /// `<proceed/>` received; the embedder sets up TLS.
    TlsHandshake,
    /// A SASL exchange runs.
    Sasl(Box<SaslClient>),
    /// SASL failed; the embedder decides.
    SaslFailed,
    /// The bind request with this id is out; `session` says whether a session must follow.
    Bind { id: String, session: bool },
    /// The session request with this id is out.
    Session { id: String, jid: FullJid },
    /// Stanzas flow.
    Online,
    /// Our `</stream:stream>` is sent; the server's is expected.
    Closing,
    /// Over.
    Closed,
}

/// The client side of one c2s stream.
pub struct Client {
    config: ClientConfig,
    state: State,
    parser: StreamParser,
    out: Output,
    events: VecDeque<ClientEvent>,
    rng: Rng,
    now: Instant,
    /// Negotiation or closing: give up at this time.
    deadline: Option<Instant>,
    /// When the last bytes were queued, for keepalives.
    last_sent: Instant,
    encrypted: bool,
    channel_binding: Option<ChannelBinding>,
    /// The mechanism that authenticated the stream, once SASL succeeded.
    authenticated_with: Option<Mechanism>,
    /// The keys a SCRAM login derived, for the embedder to cache.
    scram_keys: Option<sasl::ScramKeys>,
    /// Mechanisms the server offered, and those already tried, for [`Client::auth`].
    offered: Vec<String>,
    /// The channel-binding types the server advertised (XEP-0440), if it did.
    cb_types: Option<Vec<String>>,
    /// What the server said it accepts on the current stream (XEP-0478).
    peer_limits: Option<StreamLimits>,
    tried: Vec<Mechanism>,
    next_id: u64,
}

impl core::fmt::Debug for Client {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Client")
            .field("jid", &self.config.jid)
            .field("encrypted", &self.encrypted)
            .field("authenticated_with", &self.authenticated_with)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client that will connect with `config`; nothing happens until [`open`](Self::open).
    pub fn new(config: ClientConfig, now: Instant) -> Self {
        Client {
            parser: StreamParser::new(config.limits),
            rng: Rng::new(config.seed),
            config,
            state: State::Idle,
            out: Output::default(),
            events: VecDeque::new(),
            now,
            deadline: None,
            last_sent: now,
            encrypted: false,
            channel_binding: None,
            authenticated_with: None,
            scram_keys: None,
            offered: Vec::new(),
            cb_types: None,
            peer_limits: None,
            tried: Vec::new(),
            next_id: 0,
        }
    }

    /// Starts the stream: the client's header is queued.
    pub fn open(&mut self) -> Result<(), ClientError> {
        if !matches!(self.state, State::Idle) {
            return Err(ClientError::AlreadyOpen);
        }
        self.send_header();
        Ok(())
    }

    /// Bytes received from the server, at time `now`.
    ///
    /// Everything after a `<proceed/>` in the same input is discarded, and so is input that
    /// arrives before [`tls_established`](Self::tls_established) (reported as
    /// [`ClientError::AwaitingTls`]): it would be plaintext injected before the handshake.
    pub fn handle_input(&mut self, now: Instant, data: &[u8]) -> Result<(), ClientError> {
        self.now = now;
        match self.state {
            State::Idle => return Err(ClientError::NotOpen),
            State::TlsHandshake => return Err(ClientError::AwaitingTls),
            State::Closed => return Ok(()),
            _ => {}
        }
        self.feed(data);
        Ok(())
    }

    /// The transport ended: the stream is over.
    pub fn handle_eof(&mut self) {
        if !matches!(self.state, State::Closed) {
            self.finish();
        }
    }

    /// TLS is up (after [`ClientEvent::TlsRequested`]); `channel_binding` is what the TLS
    /// library exported, for the SCRAM `-PLUS` mechanisms.
    pub fn tls_established(
        &mut self,
        channel_binding: Option<ChannelBinding>,
    ) -> Result<(), ClientError> {
        if !matches!(self.state, State::TlsHandshake) {
            return Err(ClientError::NoTlsRequested);
        }
        self.encrypted = true;
        self.channel_binding = channel_binding;
        self.restart();
        Ok(())
    }

    /// After [`ClientEvent::SaslFailure`]: tries again with `mechanism`, or with the next
    /// acceptable one after those that failed.
    pub fn auth(&mut self, mechanism: Option<Mechanism>) -> Result<(), ClientError> {
        if !matches!(self.state, State::SaslFailed) {
            return Err(ClientError::NotAwaitingAuth);
        }
        let offered = self.offered.clone();
        self.start_sasl(&offered, mechanism);
        Ok(())
    }

    /// Sends a stanza (once online). It is written with `jabber:client` as the default
    /// namespace; an iq without an id gets one from [`next_id`](Self::next_id).
    pub fn send(&mut self, stanza: &Element) -> Result<(), ClientError> {
        match self.state {
            State::Online => {}
            State::Closing | State::Closed => return Err(ClientError::Closed),
            _ => return Err(ClientError::NotOnline),
        }
        // Every iq needs an id to be answered (RFC 6120 8.2.3).
        let with_id = (stanza.name() == "iq" && stanza.attr("id").is_none())
            .then(|| stanza.with_attr("id", &self.next_id()));
        let stanza = with_id.as_ref().unwrap_or(stanza);
        let max = self.peer_limits.and_then(|l| l.max_bytes);
        let mut too_large = None;
        self.out.write(|buf| {
            let start = buf.len();
            write_element(buf, stanza.root(), JABBER_CLIENT);
            let size = buf.len() - start;
            if let Some(max) = max.filter(|&max| size as u64 > max) {
                buf.truncate(start);
                too_large = Some(ClientError::StanzaTooLarge { size, max });
            }
        });
        if let Some(e) = too_large {
            return Err(e);
        }
        self.last_sent = self.now;
        Ok(())
    }

    /// Answers a received stanza with a stanza error (for example `service-unavailable` for
    /// an iq the embedder does not handle, RFC 6120 8.4), with swapped addresses and the
    /// same id. Nothing is sent for an error or an iq result (RFC 6120 8.3.1, 8.2.3): the
    /// result says whether a reply went out.
    pub fn reply_error(
        &mut self,
        to: &Element,
        condition: crate::error::StanzaErrorCondition,
    ) -> Result<bool, ClientError> {
        match self.state {
            State::Online => {}
            State::Closing | State::Closed => return Err(ClientError::Closed),
            _ => return Err(ClientError::NotOnline),
        }
        let Ok(stanza) = crate::stanza::Stanza::from_element(to.clone()) else {
            return Ok(false);
        };
        let error = StanzaError::new(condition);
        let mut sent = false;
        self.out.write(|buf| {
            sent = crate::stanza::error_reply(&stanza, &error, false, buf).is_ok();
        });
        if sent {
            self.last_sent = self.now;
        }
        Ok(sent)
    }

    /// What the server said it accepts on the current stream (XEP-0478), if it said: the
    /// largest stanza it takes, and how long it lets the stream idle. [`send`](Self::send)
    /// refuses a stanza larger than `max_bytes` with [`ClientError::StanzaTooLarge`].
    pub fn peer_limits(&self) -> Option<StreamLimits> {
        self.peer_limits
    }

    /// A fresh id, unique in this session, for stanzas the embedder sends.
    pub fn next_id(&mut self) -> String {
        self.next_id += 1;
        format!("{}{}", self.rng.token(4), self.next_id)
    }

    /// Closes the stream gracefully: `</stream:stream>` now, [`ClientEvent::Closed`] when
    /// the server answers with its own (or after the response timeout). Nothing is sent
    /// after it (RFC 6120 section 4.4): whatever the server sends next, even malformed XML,
    /// and a response timeout, end in [`ClientEvent::Closed`] alone. A second call does
    /// nothing.
    pub fn close(&mut self) {
        match self.state {
            State::Closing | State::Closed => {}
            State::Idle => self.state = State::Closed,
            _ => {
                self.out.end();
                self.state = State::Closing;
                self.deadline = deadline(self.now, self.config.response_timeout);
            }
        }
    }

    /// The time is `now`: fires the response timeout and the keepalive when due.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        if self.deadline.is_some_and(|d| now >= d) {
            self.deadline = None;
            if !matches!(self.state, State::Closed) {
                // In a closing handshake our closing tag is out, and nothing is written.
                self.stream_error(StreamErrorCondition::ConnectionTimeout);
            }
            return;
        }
        if let (State::Online, Some(at)) = (&self.state, self.keepalive_at()) {
            if now >= at {
                self.out.write(|buf| buf.extend_from_slice(b" "));
                self.last_sent = now;
                // Idle for a keepalive period: let go of what a large stanza grew.
                self.parser.shrink();
            }
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) must be called next, if at all.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match (self.deadline, self.keepalive_at()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }

    /// Bytes to write to the transport.
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        self.out.take()
    }

    /// Gives back the memory a large stanza made the session grow, for a session that goes
    /// idle (see [`StreamParser::shrink`]).
    pub fn shrink(&mut self) {
        self.parser.shrink();
        self.out.shrink();
    }

    /// After [`ClientEvent::Authenticated`] from a SCRAM login: the keys it used
    /// (`ClientKey` and `ServerKey`, with the server's salt and iteration count). Store them
    /// as carefully as the password (they log in as the user on this server) and put them in
    /// [`ClientConfig::scram_keys`] next time: the login then runs no PBKDF2, and needs no
    /// password. Their `Debug` output leaves the keys out.
    pub fn scram_keys(&self) -> Option<&sasl::ScramKeys> {
        self.scram_keys.as_ref()
    }

    /// Is the stream over?
    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed)
    }

    fn keepalive_at(&self) -> Option<Instant> {
        match self.state {
            State::Online => deadline(self.last_sent, self.config.keepalive?),
            _ => None,
        }
    }

    fn send_header(&mut self) {
        let from = self.encrypted.then(|| self.config.jid.to_string());
        let domain = self.config.jid.domain().to_owned();
        let lang = &self.config.lang;
        self.out.write(|buf| {
            write_header(
                buf,
                Header {
                    content_ns: JABBER_CLIENT,
                    to: Some(&domain),
                    from: from.as_deref(),
                    id: None,
                    lang: Some(lang),
                },
            )
        });
        self.last_sent = self.now;
        self.state = State::AwaitHeader;
        self.deadline = deadline(self.now, self.config.response_timeout);
    }

    /// A stream restart (RFC 6120 sections 5.4.3.3 and 6.4.6): a new parser, a new header.
    fn restart(&mut self) {
        self.parser.reset();
        self.send_header();
    }

    fn on_header(&mut self, header: &Element) {
        if !matches!(self.state, State::AwaitHeader) {
            return self.stream_error(StreamErrorCondition::InvalidXml);
        }
        if let Err(condition) = check_peer_header(&self.parser, header, JABBER_CLIENT) {
            return self.stream_error(condition);
        }
        if header.attr("id").is_none() {
            return self.abandon(Abandoned::PeerProtocol("the stream header has no id"));
        }
        self.events.push_back(ClientEvent::StreamOpened);
        self.state = State::AwaitFeatures;
        self.deadline = deadline(self.now, self.config.response_timeout);
    }

    fn on_peer_close(&mut self) {
        // Our closing tag answers, unless it went out first.
        self.out.end();
        self.finish();
    }

    fn on_element(&mut self, el: Element) {
        if el.is("error", STREAM_NS) {
            let error = StreamError::from_element(el.root())
                .unwrap_or_else(|_| StreamError::new(StreamErrorCondition::UndefinedCondition));
            self.events.push_back(ClientEvent::PeerStreamError(error));
            self.out.end();
            return self.finish();
        }
        match std::mem::replace(&mut self.state, State::Closed) {
            State::AwaitFeatures if el.is("features", STREAM_NS) => self.on_features(&el),
            State::AwaitProceed if el.is("proceed", TLS_NS) => {
                self.state = State::TlsHandshake;
                self.deadline = None;
                self.events.push_back(ClientEvent::TlsRequested);
            }
            State::AwaitProceed if el.is("failure", TLS_NS) => {
                self.abandon(Abandoned::TlsUnavailable)
            }
            State::Sasl(sasl) if el.ns() == SASL_NS => self.on_sasl(sasl, &el),
            State::Bind { id, session } if el.is("iq", JABBER_CLIENT) => {
                self.on_bind_reply(id, session, &el)
            }
            State::Session { id, jid } if el.is("iq", JABBER_CLIENT) => {
                self.on_session_reply(id, jid, &el)
            }
            state @ (State::Online | State::Closing)
                if matches!(el.name(), "message" | "presence" | "iq")
                    && el.ns() == JABBER_CLIENT =>
            {
                // Whatever the addressing or payload: the embedder decides.
                self.state = state;
                self.events.push_back(ClientEvent::Stanza(el));
            }
            other => {
                self.state = other;
                self.stream_error(StreamErrorCondition::UnsupportedStanzaType);
            }
        }
    }

    fn on_features(&mut self, features: &Element) {
        let f = Features::read(features.root());
        // Each set of features says what holds from now on (XEP-0478 section 4).
        self.peer_limits = f.limits;
        self.deadline = None;
        if !self.encrypted {
            match (self.config.tls, f.starttls) {
                (TlsPolicy::Required | TlsPolicy::Optional, Some(_)) => {
                    self.out.element(|w| {
                        w.start("starttls").xmlns(TLS_NS).end("starttls");
                    });
                    self.state = State::AwaitProceed;
                    self.deadline = deadline(self.now, self.config.response_timeout);
                    return;
                }
                (TlsPolicy::Required, None) => return self.abandon(Abandoned::TlsUnavailable),
                _ => {}
            }
        }
        if self.authenticated_with.is_none() {
            if f.mechanisms.is_empty() {
                return self.abandon(Abandoned::NoMechanism);
            }
            self.offered = f.mechanisms;
            self.cb_types = f.channel_bindings;
            self.tried.clear();
            let offered = self.offered.clone();
            return self.start_sasl(&offered, None);
        }
        if !f.bind {
            return self.abandon(Abandoned::PeerProtocol("no resource binding offered"));
        }
        let id = self.next_id();
        let resource = self.config.resource.as_deref();
        self.out.element(|w| {
            w.start("iq")
                .attr("type", "set")
                .attr("id", &id)
                .start("bind")
                .xmlns(BIND_NS);
            if let Some(resource) = resource {
                w.start("resource").text(resource).end("resource");
            }
            w.end("bind").end("iq");
        });
        self.state = State::Bind {
            id,
            session: f.session == Some(true),
        };
        self.deadline = deadline(self.now, self.config.response_timeout);
    }

    fn start_sasl(&mut self, offered: &[String], wanted: Option<Mechanism>) {
        // Channel binding only of a type the server supports (XEP-0440). When it offers no
        // -PLUS at all, the binding still goes in, for the GS2 `y` flag (RFC 5802 section
        // 6: the server can then tell a downgrade).
        let offers_plus = offered.iter().any(|m| m.ends_with("-PLUS"));
        let channel_binding = self.channel_binding.clone().filter(|cb| {
            !offers_plus
                || match &self.cb_types {
                    Some(types) => types.iter().any(|t| t == cb.kind.name()),
                    None => self.config.plus_without_advertisement,
                }
        });
        let mut config = sasl::ClientConfig {
            preference: self.config.mechanisms.clone(),
            allow_plain: self.encrypted || self.config.allow_plain_without_tls,
            channel_binding,
            max_iterations: self.config.scram_max_iterations,
            ..sasl::ClientConfig::default()
        };
        match wanted {
            Some(m) => config.preference = vec![m],
            None => config.preference.retain(|m| !self.tried.contains(m)),
        }
        let credentials = Credentials {
            username: self.config.jid.local().unwrap_or_default().to_owned(),
            password: self.config.password.clone(),
            scram_keys: self.config.scram_keys.clone(),
            authzid: None,
        };
        let nonce = match &self.config.client_nonce {
            Some(n) => Nonce::new(n.clone()),
            None => Nonce::new(self.rng.token(24)),
        };
        let started = nonce
            .map_err(|_| SaslClientError::NoAcceptableMechanism)
            .and_then(|nonce| SaslClient::start(offered, &config, credentials, nonce));
        let Ok(client) = started else {
            return self.abandon(Abandoned::NoMechanism);
        };
        self.tried.push(client.mechanism());
        let payload = sasl::encode_payload(client.initial_response());
        self.out.element(|w| {
            w.start("auth")
                .xmlns(SASL_NS)
                .attr("mechanism", client.mechanism().name())
                .text(&payload)
                .end("auth");
        });
        self.state = State::Sasl(Box::new(client));
        self.deadline = deadline(self.now, self.config.response_timeout);
    }

    fn on_sasl(&mut self, mut client: Box<SaslClient>, el: &Element) {
        let data = match sasl::decode_payload(&el.text()) {
            Ok(d) => d,
            Err(_) => return self.abandon(Abandoned::PeerProtocol("bad base64 from the server")),
        };
        match el.name() {
            "challenge" => match client.on_challenge(&data) {
                Ok(response) => {
                    let payload = sasl::encode_payload(&response);
                    self.out.element(|w| {
                        w.start("response")
                            .xmlns(SASL_NS)
                            .text(&payload)
                            .end("response");
                    });
                    self.state = State::Sasl(client);
                    self.deadline = deadline(self.now, self.config.response_timeout);
                }
                Err(SaslClientError::IterationCountOutOfRange { count, max, .. }) if count > 0 => {
                    self.abandon(Abandoned::ScramIterations { count, max })
                }
                Err(_) => self.abandon(Abandoned::PeerProtocol("a malformed SASL challenge")),
            },
            "success" => match client.on_success(&data) {
                Ok(()) => {
                    self.authenticated_with = Some(client.mechanism());
                    self.scram_keys = client.scram_keys().cloned();
                    self.events
                        .push_back(ClientEvent::Authenticated(self.config.jid.clone()));
                    self.restart();
                }
                Err(SaslClientError::ServerSignatureMismatch)
                | Err(SaslClientError::MissingServerSignature) => {
                    self.abandon(Abandoned::ServerSignature)
                }
                Err(_) => self.abandon(Abandoned::PeerProtocol("a malformed SASL success")),
            },
            "failure" => {
                let failure = SaslFailure::from_element(el.root()).unwrap_or(SaslFailure {
                    condition: None,
                    text: None,
                });
                self.deadline = None;
                self.state = State::SaslFailed;
                self.events.push_back(ClientEvent::SaslFailure(failure));
            }
            _ => self.stream_error(StreamErrorCondition::UnsupportedStanzaType),
        }
    }

    fn on_bind_reply(&mut self, id: String, session: bool, el: &Element) {
        if el.attr("id").as_deref() != Some(id.as_str()) {
            // Not the answer: a server should send nothing else now; keep waiting.
            self.state = State::Bind { id, session };
            return;
        }
        let jid = el
            .get_child("bind", BIND_NS)
            .and_then(|b| b.get_child("jid", BIND_NS))
            .and_then(|j| j.text().trim().parse::<Jid>().ok())
            .and_then(|j| FullJid::try_from(j).ok());
        match (el.attr("type").as_deref(), jid) {
            (Some("result"), Some(jid)) if !self.is_ours(&jid) => self.abandon(
                Abandoned::PeerProtocol("the server bound a JID of another account"),
            ),
            (Some("result"), Some(jid)) if session => {
                let id = self.next_id();
                self.out.element(|w| {
                    w.start("iq")
                        .attr("type", "set")
                        .attr("id", &id)
                        .start("session")
                        .xmlns(SESSION_NS)
                        .end("session")
                        .end("iq");
                });
                self.state = State::Session { id, jid };
                self.deadline = deadline(self.now, self.config.response_timeout);
            }
            (Some("result"), Some(jid)) => self.go_online(jid),
            _ => self.abandon(Abandoned::BindFailed(stanza_error(el))),
        }
    }

    fn on_session_reply(&mut self, id: String, jid: FullJid, el: &Element) {
        if el.attr("id").as_deref() != Some(id.as_str()) {
            self.state = State::Session { id, jid };
            return;
        }
        match el.attr("type").as_deref() {
            Some("result") => self.go_online(jid),
            _ => self.abandon(Abandoned::BindFailed(stanza_error(el))),
        }
    }

    /// Is `jid`, the address the server bound, one this client may be? Its bare JID must be
    /// the account that authenticated (the client asks for no other authzid), or for
    /// `ANONYMOUS`, which has no account, any JID of the server's domain (RFC 6120 section
    /// 7.7.2.2 lets the server choose the resource, never the account).
    fn is_ours(&self, jid: &FullJid) -> bool {
        match self.authenticated_with {
            Some(Mechanism::Anonymous) => jid.domain() == self.config.jid.domain(),
            _ => jid.to_bare() == self.config.jid,
        }
    }

    fn go_online(&mut self, jid: FullJid) {
        self.deadline = None;
        self.state = State::Online;
        self.last_sent = self.now;
        self.events.push_back(ClientEvent::Online(jid));
    }

    /// Ends the stream with a stream error and our closing tag; once our closing tag is
    /// out (a closing handshake), with nothing written (RFC 6120 section 4.4).
    fn stream_error(&mut self, condition: StreamErrorCondition) {
        self.out.end_with_error(&StreamError::new(condition));
        self.finish();
    }

    fn abandon(&mut self, why: Abandoned) {
        self.out.end();
        self.events.push_back(ClientEvent::Abandoned(why));
        self.finish();
    }

    fn finish(&mut self) {
        self.state = State::Closed;
        self.deadline = None;
        self.events.push_back(ClientEvent::Closed);
    }
}

impl Session for Client {
    fn parser(&mut self) -> &mut StreamParser {
        &mut self.parser
    }

    fn stopped(&self) -> bool {
        // Everything after <proceed/> (or after the end) is never processed.
        matches!(self.state, State::TlsHandshake | State::Closed)
    }

    fn on_event(&mut self, event: Event) {
        match event {
            Event::StreamOpened(header) => self.on_header(&header),
            Event::StreamClosed => self.on_peer_close(),
            Event::Element(el) => self.on_element(el),
        }
    }

    /// The server's XML was at fault: the stream error of RFC 6120 section 4.9.3 for it.
    fn on_fault(&mut self, error: ParseError) {
        self.stream_error(error.condition());
    }
}

fn stanza_error(el: &Element) -> Option<StanzaError> {
    el.children()
        .find(|c| c.name() == "error")
        .and_then(|e| StanzaError::from_element(e).ok())
}
