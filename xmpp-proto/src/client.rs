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
//! and, only when the server requires it, the legacy session (RFC 3921 section 3). Every
//! method that can write or start a timer takes the time: timers count from it, and the
//! ones due by then fire before the method returns.

use std::time::{Duration, Instant};

use crate::error::{
    SASL_NS, STREAM_NS, SaslFailure, StanzaError, StreamError, StreamErrorCondition,
};
use crate::jid::{BareJid, FullJid, Jid};
use crate::sasl::{
    self, ChannelBinding, Credentials, Mechanism, Nonce, SaslClient, SaslClientError,
};
use crate::stanza::JABBER_CLIENT;
use crate::stream::engine::{
    Engine, InputRefused, Settings, StreamRole, stream_event, stream_methods,
};
use crate::stream::header::{Header, check_peer_header};
use crate::stream::rng::Rng;
pub use crate::stream::{Abandoned, CloseReason, TlsPolicy};
use crate::stream::{BIND_NS, Features, SESSION_NS, StreamLimits, TLS_NS};
use crate::xml::{Element, Limits, write_element};

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
    /// The client gave up for a local reason ([`ClientEvent::Closed`] follows, with the
    /// same reason).
    Abandoned(Abandoned),
    /// The stream is over, for this reason; close the transport. Nothing is reported after
    /// it.
    Closed(CloseReason),
}

stream_event!(ClientEvent, abandoned => Abandoned);

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
    /// The stream is closed or closing: our closing tag is out, nothing more can be sent.
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

impl From<InputRefused> for ClientError {
    fn from(refused: InputRefused) -> Self {
        match refused {
            InputRefused::NotOpen => ClientError::NotOpen,
            InputRefused::AwaitingTls => ClientError::AwaitingTls,
        }
    }
}

/// Where negotiation stands; each variant holds what its next step needs. Whether the
/// stream is open, securing, closing or over is the engine's.
enum State {
    /// Our header is out (or will be at `open`); the server's is expected.
    AwaitHeader,
    /// The server's header arrived; its features are expected.
    AwaitFeatures,
    /// `<starttls/>` sent.
    AwaitProceed,
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
}

/// The client side of one c2s stream.
pub struct Client {
    config: ClientConfig,
    engine: Engine<ClientEvent>,
    state: State,
    rng: Rng,
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
            .field("encrypted", &self.engine.transport().is_encrypted())
            .field("authenticated_with", &self.authenticated_with)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client that will connect with `config`; nothing happens until [`open`](Self::open).
    pub fn new(config: ClientConfig, now: Instant) -> Self {
        let settings = Settings {
            content_ns: JABBER_CLIENT,
            limits: config.limits,
            response_timeout: config.response_timeout,
            keepalive: config.keepalive,
        };
        Client {
            engine: Engine::initiating(settings, now),
            rng: Rng::new(config.seed),
            config,
            state: State::AwaitHeader,
            authenticated_with: None,
            scram_keys: None,
            offered: Vec::new(),
            cb_types: None,
            peer_limits: None,
            tried: Vec::new(),
            next_id: 0,
        }
    }

    /// Starts the stream at time `now`: the client's header is queued, and the server has
    /// the response timeout from `now` to answer.
    pub fn open(&mut self, now: Instant) -> Result<(), ClientError> {
        self.at(now, |s| {
            if !s.engine.is_idle() {
                return Err(ClientError::AlreadyOpen);
            }
            s.send_header();
            Ok(())
        })
    }

    /// Bytes received from the server, at time `now`.
    ///
    /// Everything after a `<proceed/>` in the same input is discarded, and so is input that
    /// arrives before [`tls_established`](Self::tls_established) (reported as
    /// [`ClientError::AwaitingTls`]): it would be plaintext injected before the handshake.
    /// Once the stream is over, input is ignored.
    pub fn handle_input(&mut self, now: Instant, data: &[u8]) -> Result<(), ClientError> {
        self.at(now, |s| s.input(data)).map_err(ClientError::from)
    }

    /// TLS is up at time `now` (after [`ClientEvent::TlsRequested`]); `channel_binding` is
    /// what the TLS library exported, for the SCRAM `-PLUS` mechanisms. The stream restarts.
    pub fn tls_established(
        &mut self,
        now: Instant,
        channel_binding: Option<ChannelBinding>,
    ) -> Result<(), ClientError> {
        self.at(now, |s| {
            if s.engine.is_ending() {
                return Err(ClientError::Closed);
            }
            let transport = crate::stream::tls::Transport::Tls {
                channel_bindings: channel_binding.into_iter().collect(),
                peer_certificate: false,
            };
            if !s.engine.tls_established(transport) {
                return Err(ClientError::NoTlsRequested);
            }
            s.send_header();
            Ok(())
        })
    }

    /// After [`ClientEvent::SaslFailure`], at time `now`: tries again with `mechanism`, or
    /// with the next acceptable one after those that failed.
    pub fn auth(&mut self, now: Instant, mechanism: Option<Mechanism>) -> Result<(), ClientError> {
        self.at(now, |s| {
            if s.engine.is_ending() {
                return Err(ClientError::Closed);
            }
            if !matches!(s.state, State::SaslFailed) {
                return Err(ClientError::NotAwaitingAuth);
            }
            let offered = std::mem::take(&mut s.offered);
            s.start_sasl(&offered, mechanism);
            s.offered = offered;
            Ok(())
        })
    }

    /// Sends a stanza (once online) at time `now`. It is written with `jabber:client` as the
    /// default namespace; an iq without an id gets one from [`next_id`](Self::next_id).
    pub fn send(&mut self, now: Instant, stanza: &Element) -> Result<(), ClientError> {
        self.at(now, |s| {
            s.online()?;
            // Every iq needs an id to be answered (RFC 6120 8.2.3).
            let with_id = (stanza.name() == "iq" && stanza.attr("id").is_none())
                .then(|| stanza.with_attr("id", &s.next_id()));
            let stanza = with_id.as_ref().unwrap_or(stanza);
            let max = s.peer_limits.and_then(|l| l.max_bytes);
            let mut too_large = None;
            s.engine.write(|buf| {
                let start = buf.len();
                write_element(buf, stanza.root(), JABBER_CLIENT);
                let size = buf.len() - start;
                if let Some(max) = max.filter(|&max| size as u64 > max) {
                    buf.truncate(start);
                    too_large = Some(ClientError::StanzaTooLarge { size, max });
                }
            });
            too_large.map_or(Ok(()), Err)
        })
    }

    /// Answers a received stanza at time `now` with a stanza error (for example
    /// `service-unavailable` for an iq the embedder does not handle, RFC 6120 8.4), with
    /// swapped addresses and the same id. Nothing is sent for an error or an iq result (RFC
    /// 6120 8.3.1, 8.2.3): the result says whether a reply went out.
    pub fn reply_error(
        &mut self,
        now: Instant,
        to: &Element,
        condition: crate::error::StanzaErrorCondition,
    ) -> Result<bool, ClientError> {
        self.at(now, |s| {
            s.online()?;
            Ok(s.engine.write_error_reply(to, condition))
        })
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

    stream_methods!(ClientEvent);

    /// After [`ClientEvent::Authenticated`] from a SCRAM login: the keys it used
    /// (`ClientKey` and `ServerKey`, with the server's salt and iteration count). Store them
    /// as carefully as the password (they log in as the user on this server) and put them in
    /// [`ClientConfig::scram_keys`] next time: the login then runs no PBKDF2, and needs no
    /// password. Their `Debug` output leaves the keys out.
    pub fn scram_keys(&self) -> Option<&sasl::ScramKeys> {
        self.scram_keys.as_ref()
    }

    /// Can stanzas be sent?
    fn online(&self) -> Result<(), ClientError> {
        if self.engine.is_ending() {
            Err(ClientError::Closed)
        } else if matches!(self.state, State::Online) {
            Ok(())
        } else {
            Err(ClientError::NotOnline)
        }
    }

    /// Our header of a new stream (at `open`, and at each restart), then the server's is
    /// awaited.
    fn send_header(&mut self) {
        StreamRole::write_header(self);
        self.state = State::AwaitHeader;
        self.engine.await_peer();
    }

    fn on_features(&mut self, features: &Element) {
        let f = Features::read(features.root());
        // Each set of features says what holds from now on (XEP-0478 section 4).
        self.peer_limits = f.limits;
        let encrypted = self.engine.transport().is_encrypted();
        if !encrypted {
            match (self.config.tls, f.starttls) {
                (TlsPolicy::Required | TlsPolicy::Optional, Some(_)) => {
                    self.engine.write_element(|w| {
                        w.start("starttls").xmlns(TLS_NS).end("starttls");
                    });
                    self.state = State::AwaitProceed;
                    self.engine.await_peer();
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
            let offered = std::mem::take(&mut self.offered);
            self.start_sasl(&offered, None);
            self.offered = offered;
            return;
        }
        if !f.bind {
            return self.abandon(Abandoned::PeerProtocol("no resource binding offered"));
        }
        let id = self.next_id();
        let resource = self.config.resource.as_deref();
        self.engine.write_element(|w| {
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
        self.engine.await_peer();
    }

    fn start_sasl(&mut self, offered: &[String], wanted: Option<Mechanism>) {
        // Channel binding only of a type the server supports (XEP-0440). When it offers no
        // -PLUS at all, the binding still goes in, for the GS2 `y` flag (RFC 5802 section
        // 6: the server can then tell a downgrade).
        let offers_plus = offered.iter().any(|m| m.ends_with("-PLUS"));
        let transport = self.engine.transport();
        let channel_binding = transport.channel_bindings().first().cloned().filter(|cb| {
            !offers_plus
                || match &self.cb_types {
                    Some(types) => types.iter().any(|t| t == cb.kind.name()),
                    None => self.config.plus_without_advertisement,
                }
        });
        let mut config = sasl::ClientConfig {
            preference: self.config.mechanisms.clone(),
            allow_plain: transport.is_encrypted() || self.config.allow_plain_without_tls,
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
        self.engine.write_element(|w| {
            w.start("auth")
                .xmlns(SASL_NS)
                .attr("mechanism", client.mechanism().name())
                .text(&payload)
                .end("auth");
        });
        self.state = State::Sasl(Box::new(client));
        self.engine.await_peer();
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
                    self.engine.write_element(|w| {
                        w.start("response")
                            .xmlns(SASL_NS)
                            .text(&payload)
                            .end("response");
                    });
                    self.state = State::Sasl(client);
                    self.engine.await_peer();
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
                    let jid = self.config.jid.clone();
                    self.engine.report(ClientEvent::Authenticated(jid));
                    // A stream restart (RFC 6120 section 6.4.6): a new parser, a new header.
                    self.engine.restart();
                    self.send_header();
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
                self.state = State::SaslFailed;
                self.engine.await_embedder();
                self.engine.report(ClientEvent::SaslFailure(failure));
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
                self.engine.write_element(|w| {
                    w.start("iq")
                        .attr("type", "set")
                        .attr("id", &id)
                        .start("session")
                        .xmlns(SESSION_NS)
                        .end("session")
                        .end("iq");
                });
                self.state = State::Session { id, jid };
                self.engine.await_peer();
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
        self.state = State::Online;
        self.engine.negotiated();
        self.engine.report(ClientEvent::Online(jid));
    }
}

impl StreamRole for Client {
    type Event = ClientEvent;

    fn engine(&mut self) -> &mut Engine<ClientEvent> {
        &mut self.engine
    }

    fn write_header(&mut self) {
        // RFC 6120 4.7.1: `from` only once the stream is encrypted.
        let from = self
            .engine
            .transport()
            .is_encrypted()
            .then(|| self.config.jid.to_string());
        self.engine.write_header(Header {
            to: Some(self.config.jid.domain()),
            from: from.as_deref(),
            id: None,
            lang: Some(&self.config.lang),
        });
    }

    fn on_header(&mut self, header: Element) {
        if !matches!(self.state, State::AwaitHeader) {
            return self.stream_error(StreamErrorCondition::InvalidXml);
        }
        if let Err(condition) = check_peer_header(self.engine.parser(), &header, JABBER_CLIENT) {
            return self.stream_error(condition);
        }
        if header.attr("id").is_none() {
            return self.abandon(Abandoned::PeerProtocol("the stream header has no id"));
        }
        self.engine.report(ClientEvent::StreamOpened);
        self.state = State::AwaitFeatures;
        self.engine.await_peer();
    }

    fn on_element(&mut self, el: Element) {
        // Every arm that goes on sets the state; one that ends the stream may leave this
        // placeholder, which nothing reads once the stream is over.
        match std::mem::replace(&mut self.state, State::AwaitHeader) {
            State::AwaitFeatures if el.is("features", STREAM_NS) => self.on_features(&el),
            State::AwaitProceed if el.is("proceed", TLS_NS) => {
                // The restart after TLS sets the state (`tls_established`).
                self.engine.start_tls();
                self.engine.report(ClientEvent::TlsRequested);
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
            State::Online if self.engine.is_stanza(&el) => {
                // Whatever the addressing or payload: the embedder decides.
                self.state = State::Online;
                self.engine.report(ClientEvent::Stanza(el));
            }
            other => {
                self.state = other;
                self.stream_error(StreamErrorCondition::UnsupportedStanzaType);
            }
        }
    }
}

fn stanza_error(el: &Element) -> Option<StanzaError> {
    el.children()
        .find(|c| c.name() == "error")
        .and_then(|e| StanzaError::from_element(e).ok())
}
