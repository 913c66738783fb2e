//! The server role: the receiving entity of a c2s stream (RFC 6120 sections 4 to 8) as a
//! sans-IO state machine.
//!
//! The embedder owns the socket, TLS, the account store, the clock and randomness; the core
//! owns the protocol. It checks the client's stream header, offers features by state and
//! policy, runs STARTTLS, SASL (through [`crate::sasl`], asking the embedder for credentials
//! with [`ServerEvent::AuthRequest`]) and resource binding (asking with
//! [`ServerEvent::BindRequest`]), then stamps every stanza of the client with its full JID
//! before handing it over, refusing a spoofed `from` (`invalid-from`), a stanza before
//! authentication (`not-authorized`) and unknown first-level elements
//! (`unsupported-stanza-type`). Every method that can write or start a timer takes the
//! time: timers count from it, and the ones due by then fire before the method returns.

use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use crate::error::{
    SASL_NS, SaslFailure, SaslFailureCondition, StanzaError, StanzaErrorCondition, StreamError,
    StreamErrorCondition,
};
use crate::jid::{BareJid, FullJid, Jid};
use crate::sasl::{
    self, Authorization, ChannelBinding, Decision, Identity, Mechanism, Nonce, SaslServer,
    ServerStep, UserCredential,
};
use crate::stanza::JABBER_CLIENT;
pub use crate::stream::CloseReason;
use crate::stream::engine::{
    Engine, InputRefused, Settings, StreamRole, stream_event, stream_methods,
};
use crate::stream::header::{Header, check_peer_header};
use crate::stream::rng::Rng;
use crate::stream::tls::Transport;
use crate::stream::{Abandoned, BIND_NS, SASL_CB_NS, SESSION_NS, StreamLimits, TLS_NS, TlsPolicy};
use crate::xml::{Element, Limits, write_element};

/// How a server serves its clients.
#[derive(Clone)]
pub struct ServerConfig {
    /// The domains served here; a client's `to` must be one of them (else `host-unknown`).
    pub domains: Vec<String>,
    /// The id of the first stream header sent; `None` makes one. Later headers (after
    /// restarts) always get fresh ids.
    pub stream_id: Option<String>,
    /// `xml:lang` of the stream.
    pub lang: String,
    /// STARTTLS: required (the default), optional or disabled.
    pub tls: TlsPolicy,
    /// Offer and accept PLAIN on a stream that is not encrypted (off by default).
    pub allow_plain_without_tls: bool,
    /// SASL mechanisms to offer, in order; `-PLUS` ones only once channel binding data is
    /// known, PLAIN only when encrypted (or allowed without).
    pub mechanisms: Vec<Mechanism>,
    /// The secret from which made-up SCRAM salts of unknown users derive (see
    /// [`sasl::ServerConfig::secret`]).
    pub sasl_secret: Vec<u8>,
    /// The SCRAM iteration count of accounts given as passwords, and of unknown users.
    pub scram_iterations: NonZeroU32,
    /// The SCRAM server nonce part; `None` makes one from [`seed`](Self::seed). Set it only
    /// to replay a recorded exchange.
    pub server_nonce: Option<String>,
    /// Seed of the generator that makes stream ids, nonces and resources. Give it fresh
    /// randomness from the operating system for every connection.
    pub seed: u64,
    /// Failed SASL attempts allowed before the stream is closed with `policy-violation`
    /// (RFC 6120 section 6.4.5).
    pub max_auth_attempts: u32,
    /// How long to wait for the client during negotiation and closing.
    pub response_timeout: Duration,
    /// Idle time, once the client is online, after which a whitespace keepalive is sent
    /// (RFC 6120 section 4.6.1); `None` (the default) turns it off.
    pub keepalive: Option<Duration>,
    /// More feature elements to offer after authentication (stream management, roster
    /// versioning...), as serialized XML.
    pub extra_features: Vec<u8>,
    /// Limits of the stream parser once the client has authenticated.
    pub limits: Limits,
    /// Limits before the client authenticates ([`Limits::PRE_AUTH`] by default), each
    /// field never looser than the same field of [`limits`](Self::limits): a peer that
    /// has not logged in is held to less.
    pub pre_auth_limits: Limits,
    /// Announce the element size limit in force in every `<stream:features/>` (XEP-0478,
    /// on by default), so that a client can avoid sending what would close its stream.
    pub advertise_limits: bool,
}

impl ServerConfig {
    /// A configuration for `domain` with the defaults: TLS required, SCRAM-SHA-256,
    /// SCRAM-SHA-1 (and their -PLUS with channel binding) and PLAIN (once encrypted), three
    /// SASL attempts, a 30 s response timeout, no keepalive.
    pub fn new(domain: impl Into<String>, sasl_secret: Vec<u8>) -> Self {
        ServerConfig {
            domains: vec![domain.into()],
            stream_id: None,
            lang: "en".into(),
            tls: TlsPolicy::Required,
            allow_plain_without_tls: false,
            mechanisms: vec![
                Mechanism::ScramSha256Plus,
                Mechanism::ScramSha1Plus,
                Mechanism::ScramSha256,
                Mechanism::ScramSha1,
                Mechanism::Plain,
            ],
            sasl_secret,
            scram_iterations: NonZeroU32::new(4096).expect("non-zero"),
            server_nonce: None,
            seed: 0,
            max_auth_attempts: 3,
            response_timeout: Duration::from_secs(30),
            keepalive: None,
            extra_features: Vec::new(),
            limits: Limits::default(),
            pre_auth_limits: Limits::PRE_AUTH,
            advertise_limits: true,
        }
    }

    /// The limits in force before or after authentication.
    fn limits_for(&self, authenticated: bool) -> Limits {
        if authenticated {
            self.limits
        } else {
            self.pre_auth_limits.min(self.limits)
        }
    }
}

impl core::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // The SASL secret makes the decoy salts of unknown users: keep it out of logs.
        f.debug_struct("ServerConfig")
            .field("domains", &self.domains)
            .field("stream_id", &self.stream_id)
            .field("lang", &self.lang)
            .field("tls", &self.tls)
            .field("allow_plain_without_tls", &self.allow_plain_without_tls)
            .field("mechanisms", &self.mechanisms)
            .field("sasl_secret", &"<redacted>")
            .field("scram_iterations", &self.scram_iterations)
            .field("server_nonce", &self.server_nonce)
            .field("seed", &self.seed)
            .field("max_auth_attempts", &self.max_auth_attempts)
            .field("response_timeout", &self.response_timeout)
            .field("keepalive", &self.keepalive)
            .field(
                "extra_features",
                &String::from_utf8_lossy(&self.extra_features),
            )
            .field("limits", &self.limits)
            .field("pre_auth_limits", &self.pre_auth_limits)
            .field("advertise_limits", &self.advertise_limits)
            .finish()
    }
}

/// What the server reports to the embedder.
#[derive(Debug, Clone)]
pub enum ServerEvent {
    /// The client's stream header was accepted (every header, restarts included).
    StreamOpened,
    /// Start TLS now (`<proceed/>` is queued); call [`Server::tls_established`].
    TlsRequested,
    /// A client wants to authenticate: answer with [`Server::credentials`] (or
    /// [`Server::credentials_acting_as`]).
    AuthRequest {
        /// The mechanism.
        mechanism: Mechanism,
        /// The authentication identity (the username).
        authcid: String,
        /// The authorization identity the client asks for, if any.
        authzid: Option<String>,
    },
    /// `EXTERNAL` (offered only after
    /// [`tls_established_with_client_cert`](Server::tls_established_with_client_cert)):
    /// decide from the client certificate with [`Server::external`] or
    /// [`Server::refuse_external`].
    ExternalRequest {
        /// The authorization identity the client asks for, if any.
        authzid: Option<String>,
    },
    /// Authentication succeeded, as this bare JID.
    Authenticated(BareJid),
    /// The client asks to bind this resource (`None`: choose one, see
    /// [`Server::make_resource`]); answer with [`Server::bind`] or [`Server::reject_bind`].
    BindRequest(Option<String>),
    /// The session is bound to this full JID: stanzas flow.
    Online(FullJid),
    /// A stanza from the client, with `from` stamped with its full JID.
    Stanza(Element),
    /// The client sent a stream error ([`ServerEvent::Closed`] follows).
    PeerStreamError(StreamError),
    /// The stream is over, for this reason; close the transport. Nothing is reported after
    /// it.
    Closed(CloseReason),
}

stream_event!(ServerEvent);

/// The embedder called a method that does not fit the state: nothing was done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerError {
    /// Input while TLS is being set up: discarded (plaintext injected before the handshake).
    AwaitingTls,
    /// [`Server::tls_established`] without a [`ServerEvent::TlsRequested`].
    NoTlsRequested,
    /// No [`ServerEvent::AuthRequest`] (or `ExternalRequest`) to answer.
    NoAuthRequest,
    /// No [`ServerEvent::BindRequest`] to answer.
    NoBindRequest,
    /// The bound JID is not of the authenticated account.
    WrongAccount,
    /// [`Server::send`] before [`ServerEvent::Online`].
    NotOnline,
    /// The stream is closed or closing: our closing tag is out, nothing more can be sent.
    Closed,
}

impl core::fmt::Display for ServerError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            ServerError::AwaitingTls => "input while TLS is being set up was discarded",
            ServerError::NoTlsRequested => "TLS was not requested",
            ServerError::NoAuthRequest => "no authentication request to answer",
            ServerError::NoBindRequest => "no bind request to answer",
            ServerError::WrongAccount => "the JID is not of the authenticated account",
            ServerError::NotOnline => "stanzas can be sent only once online",
            ServerError::Closed => "the stream is closed",
        })
    }
}

impl std::error::Error for ServerError {}

impl From<InputRefused> for ServerError {
    fn from(_: InputRefused) -> Self {
        // A server is never idle: it waits for the client from the start, so only TLS being
        // set up refuses input.
        ServerError::AwaitingTls
    }
}

/// Where negotiation stands; each variant holds what its next step needs. Whether the
/// stream is open, securing, closing or over is the engine's.
enum State {
    /// Waiting for the client's header (first, or after a restart).
    AwaitHeader,
    /// Features sent; the client's next negotiation step is expected.
    Negotiating,
    /// A SASL exchange waits for the embedder (credentials or an EXTERNAL decision).
    SaslEmbedder(Box<SaslServer>, Ask),
    /// A SASL exchange waits for the client's `<response/>`.
    SaslClient(Box<SaslServer>),
    /// A bind request with this id waits for the embedder.
    AwaitBind { id: String },
    /// Stanzas flow, from the client bound to this full JID.
    Online(FullJid),
}

/// What the client asked for in a SASL exchange that waits for the embedder.
enum Ask {
    /// [`ServerEvent::AuthRequest`].
    Credentials {
        authcid: String,
        authzid: Option<String>,
    },
    /// [`ServerEvent::ExternalRequest`].
    External { authzid: Option<String> },
}

/// An authzid as a bare JID, the only form a c2s authzid takes (RFC 6120 section 6.3.8).
fn bare_authzid(authzid: &str) -> Option<BareJid> {
    let jid = authzid.parse::<Jid>().ok()?;
    jid.resource().is_none().then(|| jid.to_bare())
}

/// The server side of one c2s stream.
pub struct Server {
    config: ServerConfig,
    engine: Engine<ServerEvent>,
    state: State,
    rng: Rng,
    /// The id of the first stream header, when the embedder chose it; every later header
    /// gets a fresh one.
    first_id: Option<String>,
    domain: String,
    /// The identity the embedder gave for an EXTERNAL exchange, until it succeeds.
    external_identity: Option<BareJid>,
    auth_failures: u32,
    account: Option<BareJid>,
}

impl core::fmt::Debug for Server {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let bound = match &self.state {
            State::Online(jid) => Some(jid),
            _ => None,
        };
        f.debug_struct("Server")
            .field("domain", &self.domain)
            .field("encrypted", &self.engine.transport().is_encrypted())
            .field("account", &self.account)
            .field("bound", &bound)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// A server side for a new connection; it waits for the client's header from `now`.
    pub fn new(config: ServerConfig, now: Instant) -> Self {
        let settings = Settings {
            content_ns: JABBER_CLIENT,
            limits: config.limits_for(false),
            response_timeout: config.response_timeout,
            keepalive: config.keepalive,
        };
        Server {
            engine: Engine::receiving(settings, now),
            rng: Rng::new(config.seed),
            first_id: config.stream_id.clone(),
            domain: config.domains.first().cloned().unwrap_or_default(),
            config,
            state: State::AwaitHeader,
            external_identity: None,
            auth_failures: 0,
            account: None,
        }
    }

    /// Bytes received from the client, at time `now`. Nothing received after `<starttls/>`
    /// in the same input is processed, and input before
    /// [`tls_established`](Self::tls_established) is discarded
    /// ([`ServerError::AwaitingTls`]). Once the stream is over, input is ignored.
    pub fn handle_input(&mut self, now: Instant, data: &[u8]) -> Result<(), ServerError> {
        self.at(now, |s| s.input(data)).map_err(ServerError::from)
    }

    /// TLS is up at time `now`; `channel_bindings` are the data the TLS library exports for
    /// SCRAM `-PLUS` (one per type it supports; empty for none). The client restarts the
    /// stream next.
    pub fn tls_established(
        &mut self,
        now: Instant,
        channel_bindings: Vec<ChannelBinding>,
    ) -> Result<(), ServerError> {
        self.secure(now, channel_bindings, false)
    }

    /// TLS is up, as with [`tls_established`](Self::tls_established), and the client
    /// presented a certificate that the TLS layer verified: SASL `EXTERNAL` is offered if
    /// [`ServerConfig::mechanisms`] lists it (never without a certificate), and the
    /// embedder decides with [`external`](Self::external) whom the certificate
    /// authenticates.
    pub fn tls_established_with_client_cert(
        &mut self,
        now: Instant,
        channel_bindings: Vec<ChannelBinding>,
    ) -> Result<(), ServerError> {
        self.secure(now, channel_bindings, true)
    }

    fn secure(
        &mut self,
        now: Instant,
        channel_bindings: Vec<ChannelBinding>,
        peer_certificate: bool,
    ) -> Result<(), ServerError> {
        self.at(now, |s| {
            if s.engine.is_ending() {
                return Err(ServerError::Closed);
            }
            let transport = Transport::Tls {
                channel_bindings,
                peer_certificate,
            };
            if !s.engine.tls_established(transport) {
                return Err(ServerError::NoTlsRequested);
            }
            s.restarted();
            Ok(())
        })
    }

    /// Answers [`ServerEvent::AuthRequest`] at time `now` with the account's credential.
    ///
    /// The account acts as itself. An authzid the client asked for is granted only when it
    /// is the account's own bare JID; any other is refused with `invalid-authzid` once the
    /// credentials check out (RFC 4616 section 2, RFC 6120 section 6.4.6), so an embedder
    /// that ignores the authzid never grants one. To let an account act as another, use
    /// [`credentials_acting_as`](Self::credentials_acting_as).
    pub fn credentials(
        &mut self,
        now: Instant,
        credential: UserCredential,
    ) -> Result<(), ServerError> {
        self.at(now, |s| s.answer_credentials(credential, None))
    }

    /// Answers [`ServerEvent::AuthRequest`] as [`credentials`](Self::credentials) does, and
    /// lets the account also act as `delegate` (proxy authorization: an administrator, a
    /// gateway, whatever rights the embedder keeps). When the client asked for exactly that
    /// authzid, the session authenticates as `delegate` (it is the JID of
    /// [`ServerEvent::Authenticated`] and the one to bind); an authzid that names anyone
    /// else is still refused with `invalid-authzid`.
    pub fn credentials_acting_as(
        &mut self,
        now: Instant,
        credential: UserCredential,
        delegate: &BareJid,
    ) -> Result<(), ServerError> {
        self.at(now, |s| s.answer_credentials(credential, Some(delegate)))
    }

    /// Answers [`ServerEvent::ExternalRequest`] at time `now`: the client certificate, which
    /// the embedder has checked, authenticates the client as `identity`, and the session
    /// authenticates as it. An authzid that names anyone else is refused with
    /// `invalid-authzid` (RFC 6120 section 6.4.6).
    pub fn external(&mut self, now: Instant, identity: BareJid) -> Result<(), ServerError> {
        self.at(now, |s| {
            let authzid = match &s.state {
                State::SaslEmbedder(_, Ask::External { authzid }) if !s.engine.is_ending() => {
                    authzid
                }
                _ => return Err(s.no_request(ServerError::NoAuthRequest)),
            };
            let decision = match authzid {
                Some(a) if bare_authzid(a).as_ref() != Some(&identity) => {
                    Decision::Refuse(SaslFailureCondition::InvalidAuthzid)
                }
                _ => Decision::Accept,
            };
            s.external_identity = Some(identity);
            s.answer_external(decision);
            Ok(())
        })
    }

    /// Answers [`ServerEvent::ExternalRequest`] at time `now`: the certificate does not
    /// authenticate the client (`not-authorized`, RFC 6120 section 6.5.10).
    pub fn refuse_external(&mut self, now: Instant) -> Result<(), ServerError> {
        self.at(now, |s| {
            match &s.state {
                State::SaslEmbedder(_, Ask::External { .. }) if !s.engine.is_ending() => {}
                _ => return Err(s.no_request(ServerError::NoAuthRequest)),
            }
            s.answer_external(Decision::Refuse(SaslFailureCondition::NotAuthorized));
            Ok(())
        })
    }

    /// `Closed` once our closing tag is out, else `error`: an answer to a request that no
    /// longer matters is not the same misuse as one to no request at all.
    fn no_request(&self, error: ServerError) -> ServerError {
        if self.engine.is_ending() {
            ServerError::Closed
        } else {
            error
        }
    }

    fn answer_credentials(
        &mut self,
        credential: UserCredential,
        delegate: Option<&BareJid>,
    ) -> Result<(), ServerError> {
        let (authcid, authzid) = match &self.state {
            State::SaslEmbedder(_, Ask::Credentials { authcid, authzid })
                if !self.engine.is_ending() =>
            {
                (authcid, authzid)
            }
            _ => return Err(self.no_request(ServerError::NoAuthRequest)),
        };
        let own = self.account_of(authcid);
        let authorization = match authzid {
            Some(a) => match bare_authzid(a) {
                Some(asked) if own.as_ref() == Some(&asked) || delegate == Some(&asked) => {
                    Authorization::Grant(a.clone())
                }
                _ => Authorization::Refuse,
            },
            None => Authorization::Refuse,
        };
        let State::SaslEmbedder(mut sasl, _) =
            std::mem::replace(&mut self.state, State::Negotiating)
        else {
            return Ok(());
        };
        let step = sasl.provide_credentials(credential, authorization);
        self.on_sasl_step(sasl, step);
        Ok(())
    }

    fn answer_external(&mut self, decision: Decision) {
        let State::SaslEmbedder(mut sasl, _) =
            std::mem::replace(&mut self.state, State::Negotiating)
        else {
            return;
        };
        let step = sasl.provide_external(decision);
        self.on_sasl_step(sasl, step);
        self.external_identity = None;
    }

    /// The bare JID of the account an authcid names: `authcid@domain`, or the authcid
    /// itself when a client sent a whole bare JID.
    fn account_of(&self, authcid: &str) -> Option<BareJid> {
        if authcid.contains('@') {
            authcid.parse().ok()
        } else {
            format!("{authcid}@{}", self.domain).parse().ok()
        }
    }

    /// Answers [`ServerEvent::BindRequest`] at time `now`: the session is bound to `jid`,
    /// which must be of the authenticated account. The keepalive, if configured, runs from
    /// `now`.
    pub fn bind(&mut self, now: Instant, jid: FullJid) -> Result<(), ServerError> {
        self.at(now, |s| {
            let id = match &s.state {
                State::AwaitBind { id } if !s.engine.is_ending() => id,
                _ => return Err(s.no_request(ServerError::NoBindRequest)),
            };
            if s.account.as_ref() != Some(&jid.to_bare()) {
                return Err(ServerError::WrongAccount);
            }
            let full = jid.as_str();
            s.engine.write_element(|w| {
                w.start("iq").attr("type", "result").attr("id", id);
                w.start("bind")
                    .xmlns(BIND_NS)
                    .start("jid")
                    .text(full)
                    .end("jid")
                    .end("bind");
                w.end("iq");
            });
            s.state = State::Online(jid.clone());
            s.engine.negotiated();
            s.engine.report(ServerEvent::Online(jid));
            Ok(())
        })
    }

    /// Answers [`ServerEvent::BindRequest`] at time `now` with an error (`conflict`,
    /// `not-allowed`, `resource-constraint`...); the client may ask again within the
    /// response timeout.
    pub fn reject_bind(
        &mut self,
        now: Instant,
        condition: StanzaErrorCondition,
    ) -> Result<(), ServerError> {
        self.at(now, |s| {
            let id = match &s.state {
                State::AwaitBind { id } if !s.engine.is_ending() => id,
                _ => return Err(s.no_request(ServerError::NoBindRequest)),
            };
            s.engine.write_element(|w| {
                w.start("iq").attr("type", "error").attr("id", id);
                StanzaError::new(condition).write(w);
                w.end("iq");
            });
            s.state = State::Negotiating;
            s.engine.await_peer();
            Ok(())
        })
    }

    /// A fresh, unguessable resource for a client that lets the server choose (RFC 6120
    /// section 7.6.1), from the embedder-seeded generator.
    pub fn make_resource(&mut self) -> String {
        self.rng.token(16)
    }

    /// Sends a stanza to the client (once online) at time `now`, with `jabber:client` as
    /// the default namespace.
    pub fn send(&mut self, now: Instant, stanza: &Element) -> Result<(), ServerError> {
        self.at(now, |s| {
            s.online()?;
            s.engine
                .write(|buf| write_element(buf, stanza.root(), JABBER_CLIENT));
            Ok(())
        })
    }

    /// Answers a stanza from the client at time `now` with a stanza error (for example
    /// `service-unavailable` for an iq nobody handles, RFC 6120 8.4), with swapped
    /// addresses and the same id. Nothing is sent for an error or an iq result (no reply
    /// to those, RFC 6120 8.3.1 and 8.2.3): the result says whether a reply went out.
    pub fn reply_error(
        &mut self,
        now: Instant,
        to: &Element,
        condition: StanzaErrorCondition,
    ) -> Result<bool, ServerError> {
        self.at(now, |s| {
            s.online()?;
            Ok(s.engine.write_error_reply(to, condition))
        })
    }

    stream_methods!(ServerEvent);

    /// Can stanzas be sent?
    fn online(&self) -> Result<(), ServerError> {
        if self.engine.is_ending() {
            Err(ServerError::Closed)
        } else if matches!(self.state, State::Online(_)) {
            Ok(())
        } else {
            Err(ServerError::NotOnline)
        }
    }

    /// After a restart (TLS, or SASL success): the client's new header is expected, and
    /// the stream after SASL success is the authenticated one (RFC 6120 section 6.4.6).
    fn restarted(&mut self) {
        let limits = self.config.limits_for(self.account.is_some());
        self.engine.parser_mut().set_limits(limits);
        self.state = State::AwaitHeader;
        self.engine.await_peer();
    }

    fn offered_mechanisms(&self) -> Vec<Mechanism> {
        let transport = self.engine.transport();
        self.config
            .mechanisms
            .iter()
            .copied()
            .filter(|m| !m.is_plus() || !transport.channel_bindings().is_empty())
            .filter(|m| *m != Mechanism::External || transport.peer_certificate())
            .filter(|m| {
                *m != Mechanism::Plain
                    || transport.is_encrypted()
                    || self.config.allow_plain_without_tls
            })
            .collect()
    }

    fn send_features(&mut self) {
        let encrypted = self.engine.transport().is_encrypted();
        let tls_first = !encrypted && self.config.tls == TlsPolicy::Required;
        // TLS comes before SASL (RFC 6120 5.3.1): never offered after authentication.
        let offer_tls =
            !encrypted && self.account.is_none() && self.config.tls != TlsPolicy::Disabled;
        let mechanisms = self.offered_mechanisms();
        let limits = self.config.advertise_limits.then(|| StreamLimits {
            max_bytes: Some(self.engine.parser().limits().max_element_bytes as u64),
            idle_seconds: None,
        });
        let channel_bindings = self.engine.transport().channel_bindings().to_vec();
        let (authenticated, extra) = (self.account.is_some(), &self.config.extra_features);
        self.engine.write_element(|w| {
            w.start("stream:features");
            if offer_tls {
                w.start("starttls").xmlns(TLS_NS);
                if tls_first {
                    w.start("required").end("required");
                }
                w.end("starttls");
            }
            if !authenticated {
                if !tls_first {
                    w.start("mechanisms").xmlns(SASL_NS);
                    for m in &mechanisms {
                        w.start("mechanism").text(m.name()).end("mechanism");
                    }
                    w.end("mechanisms");
                    // XEP-0440: which channel bindings the -PLUS mechanisms can use.
                    if mechanisms.iter().any(|m| m.is_plus()) {
                        w.start("sasl-channel-binding").xmlns(SASL_CB_NS);
                        for cb in &channel_bindings {
                            w.start("channel-binding").attr("type", cb.kind.name());
                            w.end("channel-binding");
                        }
                        w.end("sasl-channel-binding");
                    }
                }
            } else {
                w.start("bind").xmlns(BIND_NS).end("bind");
                w.start("session")
                    .xmlns(SESSION_NS)
                    .start("optional")
                    .end("optional");
                w.end("session");
                w.raw(extra);
            }
            if let Some(limits) = limits {
                limits.write(w);
            }
            w.end("stream:features");
        });
    }

    fn on_starttls(&mut self) {
        let encrypted = self.engine.transport().is_encrypted();
        if encrypted || self.account.is_some() || self.config.tls == TlsPolicy::Disabled {
            // RFC 6120 5.4.2.2: failure, then the stream is closed.
            self.engine.write_element(|w| {
                w.start("failure").xmlns(TLS_NS).end("failure");
            });
            return self.abandon(Abandoned::TlsUnavailable);
        }
        self.engine.write_element(|w| {
            w.start("proceed").xmlns(TLS_NS).end("proceed");
        });
        self.engine.start_tls();
        self.engine.report(ServerEvent::TlsRequested);
    }

    fn on_auth(&mut self, el: &Element) {
        self.state = State::Negotiating;
        if self.account.is_some() {
            return self.stream_error(StreamErrorCondition::UnsupportedStanzaType);
        }
        let encrypted = self.engine.transport().is_encrypted();
        if !encrypted && self.config.tls == TlsPolicy::Required {
            return self.sasl_failed(SaslFailure::new(SaslFailureCondition::EncryptionRequired));
        }
        let mechanism = el
            .attr("mechanism")
            .map(|m| m.into_owned())
            .unwrap_or_default();
        let text = el.text();
        let initial = if text.trim().is_empty() {
            None
        } else {
            match sasl::decode_payload(&text) {
                Ok(d) => Some(d),
                Err(_) => {
                    return self
                        .sasl_failed(SaslFailure::new(SaslFailureCondition::IncorrectEncoding));
                }
            }
        };
        let nonce = match &self.config.server_nonce {
            Some(n) => Nonce::new(n.clone()),
            None => Nonce::new(self.rng.token(24)),
        };
        let Ok(nonce) = nonce else {
            return self.sasl_failed(SaslFailure::new(SaslFailureCondition::TemporaryAuthFailure));
        };
        let config = sasl::ServerConfig {
            offered: self.offered_mechanisms(),
            encrypted: encrypted || self.config.allow_plain_without_tls,
            channel_bindings: self.engine.transport().channel_bindings().to_vec(),
            secret: self.config.sasl_secret.clone(),
            scram_iterations: self.config.scram_iterations,
        };
        let mut server = Box::new(SaslServer::new(config, nonce));
        let step = server.start(&mechanism, initial.as_deref());
        self.on_sasl_step(server, step);
    }

    fn on_response(&mut self, mut sasl: Box<SaslServer>, el: &Element) {
        match sasl::decode_payload(&el.text()) {
            Ok(data) => {
                let step = sasl.on_response(&data);
                self.on_sasl_step(sasl, step);
            }
            Err(_) => self.sasl_failed(SaslFailure::new(SaslFailureCondition::IncorrectEncoding)),
        }
    }

    fn on_sasl_step(
        &mut self,
        sasl: Box<SaslServer>,
        step: Result<ServerStep, sasl::SaslServerError>,
    ) {
        match step {
            Ok(ServerStep::NeedCredentials {
                mechanism,
                authcid,
                authzid,
            }) => {
                let ask = Ask::Credentials {
                    authcid: authcid.clone(),
                    authzid: authzid.clone(),
                };
                self.state = State::SaslEmbedder(sasl, ask);
                self.engine.await_embedder();
                self.engine.report(ServerEvent::AuthRequest {
                    mechanism,
                    authcid,
                    authzid,
                });
            }
            Ok(ServerStep::NeedExternal { authzid }) => {
                let ask = Ask::External {
                    authzid: authzid.clone(),
                };
                self.state = State::SaslEmbedder(sasl, ask);
                self.engine.await_embedder();
                self.engine.report(ServerEvent::ExternalRequest { authzid });
            }
            Ok(ServerStep::Challenge(data)) => {
                let payload = sasl::encode_payload(&data);
                self.engine.write_element(|w| {
                    w.start("challenge")
                        .xmlns(SASL_NS)
                        .text(&payload)
                        .end("challenge");
                });
                self.state = State::SaslClient(sasl);
                self.engine.await_peer();
            }
            Ok(ServerStep::Success {
                additional_data,
                identity,
            }) => {
                // The session acts as the authzid when one was granted (RFC 6120 6.4.6).
                let jid = match identity {
                    Identity::User {
                        authzid: Some(authzid),
                        ..
                    } => bare_authzid(&authzid),
                    Identity::User { authcid, .. } => self.account_of(&authcid),
                    Identity::External { .. } => self.external_identity.take(),
                    Identity::Anonymous { .. } => {
                        let local = self.rng.token(12);
                        self.account_of(&local)
                    }
                };
                let Some(jid) = jid else {
                    return self.sasl_failed(SaslFailure::new(SaslFailureCondition::NotAuthorized));
                };
                self.engine.write_element(|w| {
                    w.start("success").xmlns(SASL_NS);
                    if !additional_data.is_empty() {
                        w.text(&sasl::encode_payload(&additional_data));
                    }
                    w.end("success");
                });
                self.account = Some(jid.clone());
                self.engine.report(ServerEvent::Authenticated(jid));
                self.engine.restart();
                self.restarted();
            }
            Err(e) => self.sasl_failed(e.failure()),
        }
    }

    fn sasl_failed(&mut self, failure: SaslFailure) {
        self.engine.write(|buf| failure.write_to(buf));
        self.auth_failures += 1;
        self.state = State::Negotiating;
        self.engine.await_peer();
        if self.auth_failures >= self.config.max_auth_attempts {
            self.stream_error(StreamErrorCondition::PolicyViolation);
        }
    }

    fn on_negotiation_iq(&mut self, el: &Element) {
        let id = el.attr("id").map(|i| i.into_owned()).unwrap_or_default();
        if let (Some("set"), Some(bind)) =
            (el.attr("type").as_deref(), el.get_child("bind", BIND_NS))
        {
            let resource = bind
                .get_child("resource", BIND_NS)
                .map(|r| r.text().trim().to_owned())
                .filter(|r| !r.is_empty());
            // RFC 6120 7.7.2.1: a resource that cannot be a resourcepart is bad-request,
            // answered here; the embedder only sees requests it can grant.
            let valid = match (&resource, &self.account) {
                (Some(r), Some(account)) => account.with_resource(r).is_ok(),
                _ => true,
            };
            if !valid {
                self.engine
                    .write_error_reply(el, StanzaErrorCondition::BadRequest);
                return;
            }
            self.state = State::AwaitBind { id };
            self.engine.await_embedder();
            self.engine.report(ServerEvent::BindRequest(resource));
            return;
        }
        // Anything else before binding: nothing may be processed yet.
        self.stream_error(StreamErrorCondition::NotAuthorized);
    }

    fn reply_result(&mut self, el: &Element) {
        let id = el.attr("id").map(|i| i.into_owned()).unwrap_or_default();
        self.engine.write_element(|w| {
            w.start("iq")
                .attr("type", "result")
                .attr("id", &id)
                .end("iq");
        });
    }

    fn on_stanza(&mut self, full: &FullJid, el: Element) {
        let from = el.attr("from").map(|f| f.parse::<Jid>());
        let to = el.attr("to").map(|t| t.parse::<Jid>());
        if matches!(from, Some(Err(_))) || matches!(to, Some(Err(_))) {
            // RFC 6120 8.3.3.8: a malformed address is an error for this stanza, not the
            // stream.
            self.engine
                .write_error_reply(&el, StanzaErrorCondition::JidMalformed);
            return;
        }
        if let Some(Ok(j)) = from {
            // RFC 6120 8.1.2.1: a from other than the session's bare or full JID is spoofed.
            let ours = j.as_str() == full.as_str()
                || (j.resource().is_none() && j.to_bare() == full.to_bare());
            if !ours {
                return self.stream_error(StreamErrorCondition::InvalidFrom);
            }
        }
        let stamped = el.with_attr("from", full.as_str());
        self.engine.report(ServerEvent::Stanza(stamped));
    }
}

impl StreamRole for Server {
    type Event = ServerEvent;

    fn engine(&mut self) -> &mut Engine<ServerEvent> {
        &mut self.engine
    }

    fn write_header(&mut self) {
        let id = self.first_id.take().unwrap_or_else(|| self.rng.token(16));
        let to = self
            .engine
            .parser()
            .header()
            .and_then(|h| h.attr("from").map(|f| f.into_owned()));
        self.engine.write_header(Header {
            to: to.as_deref(),
            from: Some(&self.domain),
            id: Some(&id),
            lang: Some(&self.config.lang),
        });
    }

    fn on_header(&mut self, header: Element) {
        if let Err(condition) = check_peer_header(self.engine.parser(), &header, JABBER_CLIENT) {
            return self.stream_error(condition);
        }
        let to = header.attr("to");
        let domain = match to.as_deref().map(|t| t.parse::<Jid>()) {
            Some(Ok(jid)) if jid.local().is_none() && jid.resource().is_none() => self
                .config
                .domains
                .iter()
                .find(|d| d.as_str() == jid.domain())
                .cloned(),
            _ => None,
        };
        let Some(domain) = domain else {
            return self.stream_error(StreamErrorCondition::HostUnknown);
        };
        self.domain = domain;
        self.write_header();
        self.engine.report(ServerEvent::StreamOpened);
        self.send_features();
        self.state = State::Negotiating;
        self.engine.await_peer();
    }

    fn on_element(&mut self, el: Element) {
        let stanza = self.engine.is_stanza(&el);
        // Every arm that goes on sets the state; one that ends the stream may leave this
        // placeholder, which nothing reads once the stream is over.
        match std::mem::replace(&mut self.state, State::Negotiating) {
            State::Negotiating if el.is("starttls", TLS_NS) => self.on_starttls(),
            State::Negotiating if el.is("auth", SASL_NS) => self.on_auth(&el),
            State::SaslClient(sasl) if el.is("response", SASL_NS) => self.on_response(sasl, &el),
            State::SaslClient(_) | State::SaslEmbedder(..) if el.is("abort", SASL_NS) => {
                self.sasl_failed(SaslFailure::new(SaslFailureCondition::Aborted))
            }
            State::Negotiating if stanza && self.account.is_some() && el.name() == "iq" => {
                self.on_negotiation_iq(&el);
            }
            State::Online(jid)
                if el.name() == "iq" && el.get_child("session", SESSION_NS).is_some() =>
            {
                // A legacy client establishing the (optional) session: done already.
                self.state = State::Online(jid);
                self.reply_result(&el);
            }
            State::Online(jid) if stanza => {
                self.on_stanza(&jid, el);
                self.state = State::Online(jid);
            }
            State::Negotiating
            | State::AwaitBind { .. }
            | State::SaslEmbedder(..)
            | State::SaslClient(_)
                if stanza =>
            {
                // RFC 6120 4.9.3.12: nothing is processed before the stream is authenticated
                // (and bound).
                self.stream_error(StreamErrorCondition::NotAuthorized);
            }
            other => {
                self.state = other;
                self.stream_error(StreamErrorCondition::UnsupportedStanzaType);
            }
        }
    }
}
