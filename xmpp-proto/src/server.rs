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
//! (`unsupported-stanza-type`). Methods that do not take the time use the time of the last
//! call that did.

use std::collections::VecDeque;
use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::error::{
    SASL_NS, STREAM_NS, SaslFailure, SaslFailureCondition, StanzaError, StanzaErrorCondition,
    StreamError, StreamErrorCondition,
};
use crate::jid::{BareJid, FullJid, Jid};
use crate::sasl::{
    self, Authorization, ChannelBinding, Decision, Identity, Mechanism, Nonce, SaslServer,
    ServerStep, UserCredential,
};
use crate::stanza::JABBER_CLIENT;
use crate::stream::{
    BIND_NS, Header, Output, Rng, SASL_CB_NS, SESSION_NS, Session, StreamLimits, TLS_NS, TlsPolicy,
    check_peer_header, deadline, write_header,
};
use crate::xml::{Element, Event, Limits, ParseError, StreamParser, write_element};

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
    /// SASL attempts, a 30 s response timeout.
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
    /// The client sent a stream error.
    PeerStreamError(StreamError),
    /// The stream is over; close the transport.
    Closed,
}

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
    /// The stream is closed or closing.
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

/// Where the stream stands; each variant holds what its next step needs.
enum State {
    /// Waiting for the client's header (first, or after a restart).
    AwaitHeader,
    /// Features sent; the client's next negotiation step is expected.
    Negotiating,
    /// `<proceed/>` sent; the embedder sets up TLS.
    TlsHandshake,
    /// A SASL exchange waits for the embedder (credentials or an EXTERNAL decision).
    SaslEmbedder(Box<SaslServer>, Ask),
    /// A SASL exchange waits for the client's `<response/>`.
    SaslClient(Box<SaslServer>),
    /// A bind request with this id waits for the embedder.
    AwaitBind { id: String },
    /// Stanzas flow.
    Online,
    /// Our `</stream:stream>` is sent.
    Closing,
    /// Over.
    Closed,
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
    state: State,
    parser: StreamParser,
    out: Output,
    events: VecDeque<ServerEvent>,
    rng: Rng,
    now: Instant,
    deadline: Option<Instant>,
    /// Has our header of the current stream been sent?
    header_sent: bool,
    streams: u32,
    domain: String,
    encrypted: bool,
    channel_bindings: Vec<ChannelBinding>,
    /// The client presented a certificate the TLS layer verified: EXTERNAL may be offered.
    client_cert: bool,
    /// The identity the embedder gave for an EXTERNAL exchange, until it succeeds.
    external_identity: Option<BareJid>,
    auth_failures: u32,
    account: Option<BareJid>,
    bound: Option<FullJid>,
}

impl core::fmt::Debug for Server {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Server")
            .field("domain", &self.domain)
            .field("encrypted", &self.encrypted)
            .field("account", &self.account)
            .field("bound", &self.bound)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// A server side for a new connection; it waits for the client's header.
    pub fn new(config: ServerConfig, now: Instant) -> Self {
        let domain = config.domains.first().cloned().unwrap_or_default();
        Server {
            parser: StreamParser::new(config.limits_for(false)),
            rng: Rng::new(config.seed),
            deadline: deadline(now, config.response_timeout),
            config,
            state: State::AwaitHeader,
            out: Output::default(),
            events: VecDeque::new(),
            now,
            header_sent: false,
            streams: 0,
            domain,
            encrypted: false,
            channel_bindings: Vec::new(),
            client_cert: false,
            external_identity: None,
            auth_failures: 0,
            account: None,
            bound: None,
        }
    }

    /// Bytes received from the client, at time `now`. Nothing received after `<starttls/>`
    /// in the same input is processed, and input before
    /// [`tls_established`](Self::tls_established) is discarded
    /// ([`ServerError::AwaitingTls`]).
    pub fn handle_input(&mut self, now: Instant, data: &[u8]) -> Result<(), ServerError> {
        self.now = now;
        match self.state {
            State::TlsHandshake => return Err(ServerError::AwaitingTls),
            State::Closed => return Ok(()),
            _ => {}
        }
        self.feed(data);
        Ok(())
    }

    /// The transport ended.
    pub fn handle_eof(&mut self) {
        if !matches!(self.state, State::Closed) {
            self.finish();
        }
    }

    /// TLS is up; `channel_bindings` are the data the TLS library exports for SCRAM
    /// `-PLUS` (one per type it supports; empty for none).
    pub fn tls_established(
        &mut self,
        channel_bindings: Vec<ChannelBinding>,
    ) -> Result<(), ServerError> {
        if !matches!(self.state, State::TlsHandshake) {
            return Err(ServerError::NoTlsRequested);
        }
        self.encrypted = true;
        self.channel_bindings = channel_bindings;
        self.restart();
        Ok(())
    }

    /// TLS is up, as with [`tls_established`](Self::tls_established), and the client
    /// presented a certificate that the TLS layer verified: SASL `EXTERNAL` is offered if
    /// [`ServerConfig::mechanisms`] lists it (never without a certificate), and the
    /// embedder decides with [`external`](Self::external) whom the certificate
    /// authenticates.
    pub fn tls_established_with_client_cert(
        &mut self,
        channel_bindings: Vec<ChannelBinding>,
    ) -> Result<(), ServerError> {
        self.tls_established(channel_bindings)?;
        self.client_cert = true;
        Ok(())
    }

    /// Answers [`ServerEvent::AuthRequest`] with the account's credential.
    ///
    /// The account acts as itself. An authzid the client asked for is granted only when it
    /// is the account's own bare JID; any other is refused with `invalid-authzid` once the
    /// credentials check out (RFC 4616 section 2, RFC 6120 section 6.4.6), so an embedder
    /// that ignores the authzid never grants one. To let an account act as another, use
    /// [`credentials_acting_as`](Self::credentials_acting_as).
    pub fn credentials(&mut self, credential: UserCredential) -> Result<(), ServerError> {
        self.answer_credentials(credential, None)
    }

    /// Answers [`ServerEvent::AuthRequest`] as [`credentials`](Self::credentials) does, and
    /// lets the account also act as `delegate` (proxy authorization: an administrator, a
    /// gateway, whatever rights the embedder keeps). When the client asked for exactly that
    /// authzid, the session authenticates as `delegate` (it is the JID of
    /// [`ServerEvent::Authenticated`] and the one to bind); an authzid that names anyone
    /// else is still refused with `invalid-authzid`.
    pub fn credentials_acting_as(
        &mut self,
        credential: UserCredential,
        delegate: &BareJid,
    ) -> Result<(), ServerError> {
        self.answer_credentials(credential, Some(delegate))
    }

    /// Answers [`ServerEvent::ExternalRequest`]: the client certificate, which the embedder
    /// has checked, authenticates the client as `identity`, and the session authenticates
    /// as it. An authzid that names anyone else is refused with `invalid-authzid` (RFC 6120
    /// section 6.4.6).
    pub fn external(&mut self, identity: BareJid) -> Result<(), ServerError> {
        let State::SaslEmbedder(_, Ask::External { authzid }) = &self.state else {
            return Err(ServerError::NoAuthRequest);
        };
        let decision = match authzid {
            Some(a) if bare_authzid(a).as_ref() != Some(&identity) => {
                Decision::Refuse(SaslFailureCondition::InvalidAuthzid)
            }
            _ => Decision::Accept,
        };
        self.external_identity = Some(identity);
        self.answer_external(decision);
        Ok(())
    }

    /// Answers [`ServerEvent::ExternalRequest`]: the certificate does not authenticate the
    /// client (`not-authorized`, RFC 6120 section 6.5.10).
    pub fn refuse_external(&mut self) -> Result<(), ServerError> {
        if !matches!(self.state, State::SaslEmbedder(_, Ask::External { .. })) {
            return Err(ServerError::NoAuthRequest);
        }
        self.answer_external(Decision::Refuse(SaslFailureCondition::NotAuthorized));
        Ok(())
    }

    fn answer_credentials(
        &mut self,
        credential: UserCredential,
        delegate: Option<&BareJid>,
    ) -> Result<(), ServerError> {
        let State::SaslEmbedder(_, Ask::Credentials { authcid, authzid }) = &self.state else {
            return Err(ServerError::NoAuthRequest);
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
        let State::SaslEmbedder(mut sasl, _) = std::mem::replace(&mut self.state, State::Closed)
        else {
            return Ok(());
        };
        let step = sasl.provide_credentials(credential, authorization);
        self.on_sasl_step(sasl, step);
        Ok(())
    }

    fn answer_external(&mut self, decision: Decision) {
        let State::SaslEmbedder(mut sasl, _) = std::mem::replace(&mut self.state, State::Closed)
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

    /// Answers [`ServerEvent::BindRequest`]: the session is bound to `jid`, which must be
    /// of the authenticated account.
    pub fn bind(&mut self, jid: FullJid) -> Result<(), ServerError> {
        let State::AwaitBind { id } = &self.state else {
            return Err(ServerError::NoBindRequest);
        };
        if self.account.as_ref() != Some(&jid.to_bare()) {
            return Err(ServerError::WrongAccount);
        }
        let id = id.clone();
        let full = jid.to_string();
        self.out.element(|w| {
            w.start("iq").attr("type", "result").attr("id", &id);
            w.start("bind")
                .xmlns(BIND_NS)
                .start("jid")
                .text(&full)
                .end("jid")
                .end("bind");
            w.end("iq");
        });
        self.bound = Some(jid.clone());
        self.state = State::Online;
        self.deadline = None;
        self.events.push_back(ServerEvent::Online(jid));
        Ok(())
    }

    /// Answers [`ServerEvent::BindRequest`] with an error (`conflict`, `not-allowed`,
    /// `resource-constraint`...); the client may ask again.
    pub fn reject_bind(&mut self, condition: StanzaErrorCondition) -> Result<(), ServerError> {
        let State::AwaitBind { id } = &self.state else {
            return Err(ServerError::NoBindRequest);
        };
        let id = id.clone();
        self.out.element(|w| {
            w.start("iq").attr("type", "error").attr("id", &id);
            StanzaError::new(condition).write(w);
            w.end("iq");
        });
        self.state = State::Negotiating;
        self.deadline = deadline(self.now, self.config.response_timeout);
        Ok(())
    }

    /// A fresh, unguessable resource for a client that lets the server choose (RFC 6120
    /// section 7.6.1), from the embedder-seeded generator.
    pub fn make_resource(&mut self) -> String {
        self.rng.token(16)
    }

    /// Sends a stanza to the client (once online), with `jabber:client` as the default
    /// namespace.
    pub fn send(&mut self, stanza: &Element) -> Result<(), ServerError> {
        match self.state {
            State::Online => {}
            State::Closing | State::Closed => return Err(ServerError::Closed),
            _ => return Err(ServerError::NotOnline),
        }
        self.out
            .write(|buf| write_element(buf, stanza.root(), JABBER_CLIENT));
        Ok(())
    }

    /// Answers a stanza from the client with a stanza error (for example
    /// `service-unavailable` for an iq nobody handles, RFC 6120 8.4), with swapped
    /// addresses and the same id. Nothing is sent for an error or an iq result (no reply
    /// to those, RFC 6120 8.3.1 and 8.2.3): the result says whether a reply went out.
    pub fn reply_error(
        &mut self,
        to: &Element,
        condition: StanzaErrorCondition,
    ) -> Result<bool, ServerError> {
        match self.state {
            State::Online => {}
            State::Closing | State::Closed => return Err(ServerError::Closed),
            _ => return Err(ServerError::NotOnline),
        }
        let Ok(stanza) = crate::stanza::Stanza::from_element(to.clone()) else {
            return Ok(false);
        };
        let error = StanzaError::new(condition);
        let mut sent = false;
        self.out.write(|buf| {
            sent = crate::stanza::error_reply(&stanza, &error, false, buf).is_ok();
        });
        Ok(sent)
    }

    /// Sends a stream error and closes (for example `see-other-host`, `system-shutdown`,
    /// or `conflict` when another session takes over the resource). After
    /// [`close`](Self::close) our closing tag is out and nothing may follow it (RFC 6120 section
    /// 4.4): the stream is then over at once, with nothing sent.
    pub fn close_with(&mut self, error: StreamError) {
        if !matches!(self.state, State::Closed) {
            self.stream_error(error);
        }
    }

    /// Closes gracefully: `</stream:stream>` now, [`ServerEvent::Closed`] when the client
    /// answers (or after the response timeout). Nothing is sent after it (RFC 6120 section
    /// 4.4): stanzas that still arrive are reported, and whatever else the client sends,
    /// even malformed XML, and a response timeout, end in [`ServerEvent::Closed`] alone. A
    /// second call does nothing.
    pub fn close(&mut self) {
        match self.state {
            State::Closing | State::Closed => {}
            _ => {
                if !self.header_sent {
                    self.send_header();
                }
                self.out.end();
                self.state = State::Closing;
                self.deadline = deadline(self.now, self.config.response_timeout);
            }
        }
    }

    /// The time is `now`: fires the response timeout when due.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        if self.deadline.is_some_and(|d| now >= d) && !matches!(self.state, State::Closed) {
            self.stream_error(StreamError::new(StreamErrorCondition::ConnectionTimeout));
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) must be called next, if at all.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadline
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<ServerEvent> {
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

    /// Is the stream over?
    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed)
    }

    fn send_header(&mut self) {
        let id = match (self.streams, &self.config.stream_id) {
            (0, Some(id)) => id.clone(),
            _ => self.rng.token(16),
        };
        self.streams += 1;
        let to = self
            .parser
            .header()
            .and_then(|h| h.attr("from").map(|f| f.into_owned()));
        let (domain, lang) = (&self.domain, &self.config.lang);
        self.out.write(|buf| {
            write_header(
                buf,
                Header {
                    content_ns: JABBER_CLIENT,
                    to: to.as_deref(),
                    from: Some(domain),
                    id: Some(&id),
                    lang: Some(lang),
                },
            )
        });
        self.header_sent = true;
    }

    fn restart(&mut self) {
        self.parser.reset();
        // The stream after SASL success is the authenticated one (RFC 6120 6.4.6).
        self.parser
            .set_limits(self.config.limits_for(self.account.is_some()));
        self.header_sent = false;
        self.state = State::AwaitHeader;
        self.deadline = deadline(self.now, self.config.response_timeout);
    }

    fn on_header(&mut self, header: &Element) {
        if let Err(condition) = check_peer_header(&self.parser, header, JABBER_CLIENT) {
            return self.stream_error(StreamError::new(condition));
        }
        let to = header.attr("to");
        match to.as_deref().map(|t| t.parse::<Jid>()) {
            Some(Ok(jid)) if jid.local().is_none() && jid.resource().is_none() => {
                match self
                    .config
                    .domains
                    .iter()
                    .find(|d| d.as_str() == jid.domain())
                {
                    Some(d) => self.domain = d.clone(),
                    None => {
                        return self
                            .stream_error(StreamError::new(StreamErrorCondition::HostUnknown));
                    }
                }
            }
            Some(Err(_)) | Some(Ok(_)) => {
                return self.stream_error(StreamError::new(StreamErrorCondition::HostUnknown));
            }
            None => {
                return self.stream_error(StreamError::new(StreamErrorCondition::HostUnknown));
            }
        }
        self.send_header();
        self.events.push_back(ServerEvent::StreamOpened);
        self.send_features();
        self.state = State::Negotiating;
        self.deadline = deadline(self.now, self.config.response_timeout);
    }

    fn offered_mechanisms(&self) -> Vec<Mechanism> {
        self.config
            .mechanisms
            .iter()
            .copied()
            .filter(|m| !m.is_plus() || !self.channel_bindings.is_empty())
            .filter(|m| *m != Mechanism::External || self.client_cert)
            .filter(|m| {
                *m != Mechanism::Plain || self.encrypted || self.config.allow_plain_without_tls
            })
            .collect()
    }

    fn send_features(&mut self) {
        let tls_first = !self.encrypted && self.config.tls == TlsPolicy::Required;
        // TLS comes before SASL (RFC 6120 5.3.1): never offered after authentication.
        let offer_tls =
            !self.encrypted && self.account.is_none() && self.config.tls != TlsPolicy::Disabled;
        let mechanisms = self.offered_mechanisms();
        self.out.element(|w| {
            w.start("stream:features");
            if offer_tls {
                w.start("starttls").xmlns(TLS_NS);
                if tls_first {
                    w.start("required").end("required");
                }
                w.end("starttls");
            }
            if self.account.is_none() {
                if !tls_first {
                    w.start("mechanisms").xmlns(SASL_NS);
                    for m in &mechanisms {
                        w.start("mechanism").text(m.name()).end("mechanism");
                    }
                    w.end("mechanisms");
                    // XEP-0440: which channel bindings the -PLUS mechanisms can use.
                    if mechanisms.iter().any(|m| m.is_plus()) {
                        w.start("sasl-channel-binding").xmlns(SASL_CB_NS);
                        for cb in &self.channel_bindings {
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
                w.raw(&self.config.extra_features);
            }
            if self.config.advertise_limits {
                let max = self.parser.limits().max_element_bytes;
                StreamLimits {
                    max_bytes: Some(max as u64),
                    idle_seconds: None,
                }
                .write(w);
            }
            w.end("stream:features");
        });
    }

    fn on_element(&mut self, el: Element) {
        if el.is("error", STREAM_NS) {
            let error = StreamError::from_element(el.root())
                .unwrap_or_else(|_| StreamError::new(StreamErrorCondition::UndefinedCondition));
            self.events.push_back(ServerEvent::PeerStreamError(error));
            self.out.end();
            return self.finish();
        }
        let stanza = el.ns() == JABBER_CLIENT && matches!(el.name(), "message" | "presence" | "iq");
        match std::mem::replace(&mut self.state, State::Closed) {
            State::Negotiating if el.is("starttls", TLS_NS) => self.on_starttls(),
            State::Negotiating if el.is("auth", SASL_NS) => self.on_auth(&el),
            State::SaslClient(sasl) if el.is("response", SASL_NS) => self.on_response(sasl, &el),
            State::SaslClient(_) | State::SaslEmbedder(..) if el.is("abort", SASL_NS) => {
                self.sasl_failed(SaslFailure::new(SaslFailureCondition::Aborted))
            }
            State::Negotiating if stanza && self.account.is_some() && el.name() == "iq" => {
                self.state = State::Negotiating;
                self.on_negotiation_iq(&el);
            }
            State::Online if el.name() == "iq" && el.get_child("session", SESSION_NS).is_some() => {
                // A legacy client establishing the (optional) session: done already.
                self.state = State::Online;
                self.reply_result(&el);
            }
            state @ (State::Online | State::Closing) if stanza => {
                self.state = state;
                self.on_stanza(el);
            }
            State::Negotiating
            | State::AwaitBind { .. }
            | State::SaslEmbedder(..)
            | State::SaslClient(_)
                if stanza =>
            {
                // RFC 6120 4.9.3.12: nothing is processed before the stream is authenticated
                // (and bound).
                self.state = State::Negotiating;
                self.stream_error(StreamError::new(StreamErrorCondition::NotAuthorized));
            }
            other => {
                self.state = other;
                self.stream_error(StreamError::new(
                    StreamErrorCondition::UnsupportedStanzaType,
                ));
            }
        }
    }

    fn on_starttls(&mut self) {
        if self.encrypted || self.account.is_some() || self.config.tls == TlsPolicy::Disabled {
            // RFC 6120 5.4.2.2: failure, then the stream is closed.
            self.out.element(|w| {
                w.start("failure").xmlns(TLS_NS).end("failure");
            });
            self.out.end();
            return self.finish();
        }
        self.out.element(|w| {
            w.start("proceed").xmlns(TLS_NS).end("proceed");
        });
        self.state = State::TlsHandshake;
        self.deadline = None;
        self.events.push_back(ServerEvent::TlsRequested);
    }

    fn on_auth(&mut self, el: &Element) {
        self.state = State::Negotiating;
        if self.account.is_some() {
            return self.stream_error(StreamError::new(
                StreamErrorCondition::UnsupportedStanzaType,
            ));
        }
        if !self.encrypted && self.config.tls == TlsPolicy::Required {
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
            encrypted: self.encrypted || self.config.allow_plain_without_tls,
            channel_bindings: self.channel_bindings.clone(),
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
                self.deadline = None;
                self.events.push_back(ServerEvent::AuthRequest {
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
                self.deadline = None;
                self.events
                    .push_back(ServerEvent::ExternalRequest { authzid });
            }
            Ok(ServerStep::Challenge(data)) => {
                let payload = sasl::encode_payload(&data);
                self.out.element(|w| {
                    w.start("challenge")
                        .xmlns(SASL_NS)
                        .text(&payload)
                        .end("challenge");
                });
                self.state = State::SaslClient(sasl);
                self.deadline = deadline(self.now, self.config.response_timeout);
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
                self.out.element(|w| {
                    w.start("success").xmlns(SASL_NS);
                    if !additional_data.is_empty() {
                        w.text(&sasl::encode_payload(&additional_data));
                    }
                    w.end("success");
                });
                self.account = Some(jid.clone());
                self.events.push_back(ServerEvent::Authenticated(jid));
                self.restart();
            }
            Err(e) => self.sasl_failed(e.failure()),
        }
    }

    fn sasl_failed(&mut self, failure: SaslFailure) {
        self.out.write(|buf| failure.write_to(buf));
        self.auth_failures += 1;
        self.state = State::Negotiating;
        self.deadline = deadline(self.now, self.config.response_timeout);
        if self.auth_failures >= self.config.max_auth_attempts {
            self.stream_error(StreamError::new(StreamErrorCondition::PolicyViolation));
        }
    }

    fn on_negotiation_iq(&mut self, el: &Element) {
        let id = el.attr("id").map(|i| i.into_owned()).unwrap_or_default();
        if let (Some("set"), Some(bind)) =
            (el.attr("type").as_deref(), el.get_child("bind", BIND_NS))
        {
            if self.bound.is_none() {
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
                    self.reply_stanza_error(el, StanzaErrorCondition::BadRequest);
                    return;
                }
                self.state = State::AwaitBind { id };
                self.deadline = None;
                self.events.push_back(ServerEvent::BindRequest(resource));
                return;
            }
        }
        // Anything else before binding: nothing may be processed yet.
        self.stream_error(StreamError::new(StreamErrorCondition::NotAuthorized));
    }

    /// Answers a stanza of the client with an error, unless it is one that gets no answer.
    fn reply_stanza_error(&mut self, el: &Element, condition: StanzaErrorCondition) {
        if let Ok(stanza) = crate::stanza::Stanza::from_element(el.clone()) {
            let error = StanzaError::new(condition);
            self.out.write(|buf| {
                let _ = crate::stanza::error_reply(&stanza, &error, false, buf);
            });
        }
    }

    fn reply_result(&mut self, el: &Element) {
        let id = el.attr("id").map(|i| i.into_owned()).unwrap_or_default();
        self.out.element(|w| {
            w.start("iq")
                .attr("type", "result")
                .attr("id", &id)
                .end("iq");
        });
    }

    fn on_stanza(&mut self, el: Element) {
        let Some(full) = &self.bound else {
            return self.stream_error(StreamError::new(StreamErrorCondition::NotAuthorized));
        };
        let from = el.attr("from").map(|f| f.parse::<Jid>());
        let to = el.attr("to").map(|t| t.parse::<Jid>());
        if matches!(from, Some(Err(_))) || matches!(to, Some(Err(_))) {
            // RFC 6120 8.3.3.8: a malformed address is an error for this stanza, not the
            // stream.
            return self.reply_stanza_error(&el, StanzaErrorCondition::JidMalformed);
        }
        if let Some(Ok(j)) = from {
            // RFC 6120 8.1.2.1: a from other than the session's bare or full JID is spoofed.
            let ours = j.as_str() == full.as_str()
                || (j.resource().is_none() && j.to_bare() == full.to_bare());
            if !ours {
                return self.stream_error(StreamError::new(StreamErrorCondition::InvalidFrom));
            }
        }
        let stamped = el.with_attr("from", full.as_str());
        self.events.push_back(ServerEvent::Stanza(stamped));
    }

    /// Ends the stream with a stream error and our closing tag; once our closing tag is
    /// out (a closing handshake), with nothing written (RFC 6120 section 4.4).
    fn stream_error(&mut self, error: StreamError) {
        if !self.header_sent && !self.out.is_ended() {
            // RFC 6120 4.9.1.1: an error before our header still comes after one.
            self.send_header();
        }
        self.out.end_with_error(&error);
        self.finish();
    }

    fn finish(&mut self) {
        self.state = State::Closed;
        self.deadline = None;
        self.events.push_back(ServerEvent::Closed);
    }
}

impl Session for Server {
    fn parser(&mut self) -> &mut StreamParser {
        &mut self.parser
    }

    fn stopped(&self) -> bool {
        // Nothing after <starttls/> (or after the end) is ever processed.
        matches!(self.state, State::TlsHandshake | State::Closed)
    }

    fn on_event(&mut self, event: Event) {
        match event {
            Event::StreamOpened(header) => self.on_header(&header),
            Event::StreamClosed => {
                // Our closing tag answers, unless it went out first.
                self.out.end();
                self.finish();
            }
            Event::Element(el) => self.on_element(el),
        }
    }

    fn on_fault(&mut self, error: ParseError) {
        self.stream_error(StreamError::new(error.condition()));
    }
}
