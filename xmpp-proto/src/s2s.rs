//! Server-to-server streams (RFC 6120 with `jabber:server`; XEP-0220 Server Dialback with
//! XEP-0185 keys) as two sans-IO roles on the shared stream engine.
//!
//! - [`S2sOut`], the initiating server: it opens a stream `from` one of its domains `to` the
//!   remote one (RFC 6120 section 4.7.1: both are required on s2s streams), runs STARTTLS
//!   by [`TlsPolicy`] (section 5), then authenticates its domain with SASL `EXTERNAL` when
//!   the receiving server offers it and this side presented a certificate (sections 6.4 and
//!   13.7.1.2, the exchange of section 9.2), else with dialback (XEP-0220 section 2.1.1,
//!   the key made from [`S2sConfig::dialback_secret`]). More domain pairs are authorized
//!   on the same stream with [`S2sOut::authorize`] (multiplexing, XEP-0220 section 2.6),
//!   and keys that an [`S2sIn`] received are checked with the authoritative server through
//!   [`S2sOut::verify`] (section 2.1.2). Stanzas go out only for an authorized pair.
//! - [`S2sIn`], the receiving server: it checks the header (`to` must be a domain of
//!   ours, `host-unknown`), offers STARTTLS, SASL `EXTERNAL` only when the embedder said
//!   the peer's certificate is valid for its domain, and the `<dialback/>` feature
//!   (XEP-0220 section 2.4.2); it asks the embedder to verify each dialback key
//!   ([`S2sEvent::DialbackVerifyRequest`]) and answers `<db:verify/>` itself, as the
//!   authoritative server, from its secret. It takes stanzas only for authorized pairs
//!   (RFC 6120 sections 8.1.1.2 and 8.1.2.2: `improper-addressing`, `invalid-from`,
//!   `host-unknown`), none before (`not-authorized`).
//!
//! Streams are one-way (no XEP-0288): an [`S2sOut`] sends stanzas and takes none, an
//! [`S2sIn`] takes stanzas and sends none. Timeouts, closing, stream errors and keepalives
//! are the engine's, as for every role.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::dialback::DialbackSecret;
use crate::error::{SASL_NS, STREAM_NS, StanzaErrorCondition, StreamError, StreamErrorCondition};
use crate::jid::{BareJid, Jid};
use crate::negotiate::dialback::{
    self, Answer, DialbackIn, DialbackOut, Receiving, VerifyQuestion, answer_verify,
};
pub use crate::negotiate::dialback::{DialbackOutcome, DomainPair};
use crate::negotiate::sasl_client::{Attempt, SaslClientStep};
use crate::negotiate::sasl_server::{Accounts, AuthQuestion, NotAsked, Offer, SaslServerStep};
use crate::negotiate::starttls::{self, StartTlsClient};
use crate::negotiate::{Negotiate, Next, Wire};
use crate::sasl::{Credentials, Mechanism, Nonce, SaslClientConfig, SaslServerConfig};
use crate::stanza::{JABBER_SERVER, Stanza};
use crate::stream::engine::{
    Engine, InputRefused, Settings, StreamRole, stream_event, stream_methods,
};
use crate::stream::header::{Header, check_peer_header};
use crate::stream::rng::Rng;
use crate::stream::tls::Transport;
pub use crate::stream::{Abandoned, CloseReason, ProtocolViolation, TlsPolicy};
use crate::stream::{Features, Requirement, TLS_NS};
use crate::xml::{Element, Limits, Writer};

/// How a server federates: shared by all its s2s sessions, both ways (pass an `Arc`).
#[derive(Clone)]
pub struct S2sConfig {
    /// The domains served here: an [`S2sIn`]'s `to` must be one of them (else
    /// `host-unknown`), and an [`S2sOut`] speaks for one of them.
    pub domains: Vec<String>,
    /// The dialback secret of these domains (XEP-0185): keys sent and keys verified as the
    /// authoritative server.
    pub dialback_secret: DialbackSecret,
    /// The id of the first header an [`S2sIn`] sends; `None` makes one. Set it only to
    /// replay a recorded exchange.
    pub stream_id: Option<String>,
    /// `xml:lang` of our streams.
    pub lang: String,
    /// STARTTLS: required (the default) or optional or disabled. Required also means no
    /// dialback before TLS (XEP-0220 section 2.5, `policy-violation`).
    pub tls: TlsPolicy,
    /// How long to wait for the peer during negotiation, for dialback answers, and closing.
    pub response_timeout: Duration,
    /// Idle time after which whitespace is sent on a negotiated stream; `None` turns it off.
    pub keepalive: Option<Duration>,
    /// Limits of the stream parser once a pair is authorized.
    pub limits: Limits,
    /// Limits of an [`S2sIn`] before any pair is authorized (never looser than
    /// [`limits`](Self::limits)).
    pub pre_auth_limits: Limits,
}

impl S2sConfig {
    /// A configuration for `domain` with the defaults: TLS required, a 30 s response
    /// timeout, a 60 s keepalive.
    pub fn new(domain: impl Into<String>, dialback_secret: DialbackSecret) -> Self {
        S2sConfig {
            domains: vec![domain.into()],
            dialback_secret,
            stream_id: None,
            lang: "en".into(),
            tls: TlsPolicy::Required,
            response_timeout: Duration::from_secs(30),
            keepalive: Some(Duration::from_secs(60)),
            limits: Limits::default(),
            pre_auth_limits: Limits::PRE_AUTH,
        }
    }

    fn serves(&self, domain: &str) -> bool {
        self.domains.iter().any(|d| d == domain)
    }
}

impl core::fmt::Debug for S2sConfig {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("S2sConfig")
            .field("domains", &self.domains)
            .field("dialback_secret", &self.dialback_secret)
            .field("stream_id", &self.stream_id)
            .field("tls", &self.tls)
            .field("response_timeout", &self.response_timeout)
            .field("keepalive", &self.keepalive)
            .finish_non_exhaustive()
    }
}

/// A dialback key to verify: `<db:result/>` for `pair` on the stream whose header had
/// `stream_id` ([`S2sEvent::DialbackVerifyRequest`]), and what [`S2sOut::verify`] asks the
/// authoritative server.
#[derive(Clone, PartialEq, Eq)]
pub struct VerifyRequest {
    /// The sender domain (the peer's) and the target domain (ours).
    pub pair: DomainPair,
    /// The id of the receiving server's header on that stream.
    pub stream_id: String,
    /// The key, as received.
    pub key: String,
}

impl core::fmt::Debug for VerifyRequest {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // A key is as good as a password for its stream.
        f.debug_struct("VerifyRequest")
            .field("pair", &self.pair)
            .field("stream_id", &self.stream_id)
            .field("key", &"<redacted>")
            .finish()
    }
}

/// What either side of an s2s stream reports.
#[derive(Debug, Clone)]
pub enum S2sEvent {
    /// The peer's stream header was accepted (every header, restarts included).
    StreamOpened,
    /// Start TLS now; call `tls_established` when it is up.
    TlsRequested,
    /// ([`S2sIn`]) The peer chose SASL `EXTERNAL`: decide from its certificate with
    /// [`S2sIn::external`] or [`S2sIn::refuse_external`]. `authzid` is the domain it asked
    /// to act as, if any.
    ExternalRequest {
        /// The authorization identity sent, if any.
        authzid: Option<String>,
    },
    /// SASL authenticated this domain: the peer's ([`S2sIn`]) or ours ([`S2sOut`]).
    Authenticated(String),
    /// ([`S2sIn`]) A dialback key to verify: answer with [`S2sIn::dialback_answer`], after
    /// asking the authoritative server ([`S2sOut::verify`]) or deciding another way.
    DialbackVerifyRequest(VerifyRequest),
    /// ([`S2sOut`]) The receiving server did not authorize this pair: `Invalid` (it will
    /// close the stream) or an `Error` (the stream goes on for other pairs). Also the
    /// core's own answer, `Error(FeatureNotImplemented)`, to a pair asked for before
    /// negotiation showed that the peer does not speak dialback (XEP-0220 section 2.4;
    /// asked for afterwards, [`S2sOut::authorize`] refuses it with
    /// [`S2sError::NoDialback`]); nothing was sent for it.
    DialbackRefused {
        /// The pair asked for.
        pair: DomainPair,
        /// What the receiving server answered.
        outcome: DialbackOutcome,
    },
    /// ([`S2sOut`]) The authoritative server's answer to [`S2sOut::verify`].
    VerifyResult {
        /// The pair as the request gave it (sender domain first).
        pair: DomainPair,
        /// The stream id of the request.
        stream_id: String,
        /// Its answer.
        outcome: DialbackOutcome,
    },
    /// Stanzas flow from `pair.from` to `pair.to` on this stream.
    Online(DomainPair),
    /// ([`S2sIn`]) A stanza from an authorized pair.
    Stanza(Stanza),
    /// The peer sent a stream error ([`S2sEvent::Closed`] follows).
    PeerStreamError(Box<StreamError>),
    /// This side gave up for a local reason ([`S2sEvent::Closed`] follows).
    Abandoned(Abandoned),
    /// The stream is over, for this reason; close the transport.
    Closed(CloseReason),
}

stream_event!(S2sEvent, abandoned => Abandoned, tls => TlsRequested);

/// Why a call did nothing: the stream has ended ([`S2sError::StreamEnded`], an outcome to
/// ignore: see [`is_stream_ended`](Self::is_stream_ended)), or the embedder called a method
/// that does not fit the state ([`is_misuse`](Self::is_misuse)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum S2sError {
    /// [`S2sOut::open`] was already called.
    AlreadyOpen,
    /// Input or an action before [`S2sOut::open`].
    NotOpen,
    /// Input while TLS is being set up: discarded (plaintext injected before the handshake).
    AwaitingTls,
    /// `tls_established` without a [`S2sEvent::TlsRequested`].
    NoTlsRequested,
    /// No [`S2sEvent::ExternalRequest`] to answer.
    NoExternalRequest,
    /// No [`S2sEvent::DialbackVerifyRequest`] for that pair to answer.
    NoVerifyRequest,
    /// The domain is not one of [`S2sConfig::domains`].
    NotOurDomain,
    /// The stanza has no `from` and `to` of a pair authorized on this stream (RFC 6120
    /// sections 8.1.1.2 and 8.1.2.2): nothing was sent.
    NotAuthorized,
    /// Stanzas go out on an [`S2sOut`]; an [`S2sIn`] carries the peer's only (no XEP-0288).
    OneWay,
    /// `send_with` left an element open: nothing was sent.
    Unbalanced,
    /// The stream has ended, or our closing tag is out: nothing more can be written (RFC
    /// 6120 section 4.4). Not a mistake: the peer may close between an event and the
    /// answer to it. [`S2sEvent::Closed`] says why.
    StreamEnded,
    /// Another target domain on this stream, whose peer did not signal dialback error
    /// handling (XEP-0220 section 2.6.2): nothing was sent; open a stream to that domain.
    TargetMultiplexing,
    /// The peer never said it speaks dialback (no namespace declaration in its header, no
    /// feature: XEP-0220 section 2.4), and SASL authorized the stream's own pair: another
    /// pair needs its own stream, which SASL can authenticate. Nothing was sent.
    NoDialback,
}

impl core::fmt::Display for S2sError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            S2sError::AlreadyOpen => "the stream is already open",
            S2sError::NotOpen => "the stream is not open yet",
            S2sError::AwaitingTls => "input while TLS is being set up was discarded",
            S2sError::NoTlsRequested => "TLS was not requested",
            S2sError::NoExternalRequest => "no EXTERNAL request to answer",
            S2sError::NoVerifyRequest => "no dialback key of that pair to answer for",
            S2sError::NotOurDomain => "the domain is not one of ours",
            S2sError::TargetMultiplexing => {
                "the peer did not signal dialback errors, so another target domain needs its \
                 own stream; nothing was sent"
            }
            S2sError::NotAuthorized => {
                "no authorized domain pair for that stanza; nothing was sent"
            }
            S2sError::NoDialback => {
                "the peer does not speak dialback, so another domain pair needs its own \
                 stream; nothing was sent"
            }
            S2sError::OneWay => "an incoming s2s stream carries no stanzas of ours",
            S2sError::Unbalanced => "the stanza written left an element open; nothing was sent",
            S2sError::StreamEnded => "the stream has already ended; nothing was sent",
        })
    }
}

impl std::error::Error for S2sError {}

impl S2sError {
    /// The stream has ended ([`S2sError::StreamEnded`]): the call came too late to matter,
    /// and can be ignored; the `Closed` event says why the stream ended.
    pub fn is_stream_ended(&self) -> bool {
        *self == S2sError::StreamEnded
    }

    /// The embedder called a method that does not fit the state (a bug to fix in the
    /// embedder): every error but [`StreamEnded`](S2sError::StreamEnded).
    pub fn is_misuse(&self) -> bool {
        !self.is_stream_ended()
    }
}

impl From<InputRefused> for S2sError {
    fn from(refused: InputRefused) -> Self {
        match refused {
            InputRefused::NotOpen => S2sError::NotOpen,
            InputRefused::AwaitingTls => S2sError::AwaitingTls,
        }
    }
}

impl From<VerifyQuestion> for S2sEvent {
    fn from(q: VerifyQuestion) -> Self {
        S2sEvent::DialbackVerifyRequest(VerifyRequest {
            pair: q.pair,
            stream_id: q.stream_id,
            key: q.key,
        })
    }
}

impl From<AuthQuestion> for S2sEvent {
    fn from(question: AuthQuestion) -> Self {
        match question {
            AuthQuestion::External { authzid } => S2sEvent::ExternalRequest { authzid },
            // Only EXTERNAL is offered on s2s streams, so no credentials are ever asked.
            AuthQuestion::Credentials { authzid, .. } => S2sEvent::ExternalRequest { authzid },
        }
    }
}

/// The peer's header, as an s2s stream must have it: `jabber:server` as the default
/// namespace, or none declared at all (the "prefix-free canonicalization" that RFC 6120
/// section 4.8.2 allows and section 9.2's receiving server uses), and version 1.x.
fn check_s2s_header(
    engine: &Engine<S2sEvent>,
    header: &Element,
) -> Result<(), StreamErrorCondition> {
    check_peer_header(engine.parser(), header, JABBER_SERVER)
}

/// The peer's stream header when TLS protected it, for SASL to correlate its `from` with
/// the domain that authenticates (RFC 6120 section 6.4.6).
fn protected_header(engine: &Engine<S2sEvent>) -> Option<Element> {
    let header = engine.parser().header()?;
    engine.transport().is_encrypted().then(|| header.clone())
}

/// Did the peer's header declare the dialback namespace (XEP-0220 section 2.4.1)?
fn declares_dialback(engine: &Engine<S2sEvent>) -> bool {
    engine
        .parser()
        .header_namespaces()
        .any(|(p, ns)| !p.is_empty() && ns == dialback::DIALBACK_NS)
}

fn settings(config: &S2sConfig, limits: Limits) -> Settings {
    Settings {
        content_ns: JABBER_SERVER,
        limits,
        response_timeout: config.response_timeout,
        keepalive: config.keepalive,
    }
}

/// The domains of a stanza's `from` and `to`, each required and a valid address (RFC 6120
/// sections 8.1.1.2 and 8.1.2.2; `improper-addressing` otherwise, section 4.9.3.7).
fn stanza_domains(el: &Element) -> Option<DomainPair> {
    let from = el.attr("from")?.parse::<Jid>().ok()?;
    let to = el.attr("to")?.parse::<Jid>().ok()?;
    Some(DomainPair::new(from.domain(), to.domain()))
}

// ---------------------------------------------------------------------------------------
// The initiating server.

/// Which negotiation step runs on an [`S2sOut`]; what is authorized is beside it.
enum OutState {
    /// Our header is out; the peer's is awaited.
    AwaitHeader,
    /// The peer's features are awaited.
    AwaitFeatures,
    /// STARTTLS runs, then TLS is set up and the stream restarts.
    StartTls(StartTlsClient),
    /// SASL EXTERNAL runs.
    Sasl(Box<SaslClientStep>),
    /// Negotiation is over: dialback requests and stanzas flow.
    Ready,
}

/// A request the embedder made before the stream was ready for it.
enum Queued {
    Authorize(DomainPair),
    Verify(VerifyRequest),
}

/// The initiating side of one s2s stream.
pub struct S2sOut {
    config: Arc<S2sConfig>,
    engine: Engine<S2sEvent>,
    state: OutState,
    /// The pair the stream is opened for (our domain, the remote one).
    pair: DomainPair,
    /// The stream authenticates `pair` (false: a stream for key verification only).
    authenticate: bool,
    /// We presented a certificate in TLS: SASL EXTERNAL can be used.
    certificate: bool,
    /// SASL authenticated our domain (the stream restarted after it).
    sasl_done: bool,
    /// The peer speaks dialback (its header declared the namespace, or it offered it).
    peer_dialback: bool,
    /// The peer signalled dialback error handling (XEP-0220 section 2.4.2): target
    /// multiplexing may be used (section 2.6.2).
    peer_dialback_errors: bool,
    /// The id of the peer's current header: what dialback keys are made for.
    peer_stream_id: String,
    dialback: DialbackOut,
    authorized: Vec<DomainPair>,
    queued: Vec<Queued>,
}

impl core::fmt::Debug for S2sOut {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("S2sOut")
            .field("pair", &self.pair)
            .field("encrypted", &self.engine.transport().is_encrypted())
            .field("authorized", &self.authorized)
            .finish_non_exhaustive()
    }
}

impl S2sOut {
    /// A stream from `pair.from` (one of [`S2sConfig::domains`]) to `pair.to`, which
    /// authenticates `pair` (SASL EXTERNAL or dialback); nothing happens until
    /// [`open`](Self::open). It takes no seed: nothing an initiating s2s stream sends is
    /// random (the receiving side makes the stream ids).
    ///
    /// # Errors
    ///
    /// [`S2sError::NotOurDomain`] when `pair.from` is not one of [`S2sConfig::domains`].
    pub fn new(
        config: impl Into<Arc<S2sConfig>>,
        pair: DomainPair,
        now: Instant,
    ) -> Result<Self, S2sError> {
        Self::with_purpose(config, pair, true, now)
    }

    /// A stream from `pair.from` to `pair.to` for key verification only (XEP-0220 section
    /// 2.1.2: "a separate connection to the Authoritative Server for the sole purpose of
    /// doing key verification"): it authenticates nothing itself and sends the
    /// [`verify`](Self::verify) requests once negotiation is over. Close it when the
    /// answers are in.
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    pub fn for_verification(
        config: impl Into<Arc<S2sConfig>>,
        pair: DomainPair,
        now: Instant,
    ) -> Result<Self, S2sError> {
        Self::with_purpose(config, pair, false, now)
    }

    fn with_purpose(
        config: impl Into<Arc<S2sConfig>>,
        pair: DomainPair,
        authenticate: bool,
        now: Instant,
    ) -> Result<Self, S2sError> {
        let config = config.into();
        if !config.serves(&pair.from) {
            return Err(S2sError::NotOurDomain);
        }
        Ok(S2sOut {
            authenticate,
            engine: Engine::initiating(settings(&config, config.limits), now),
            config,
            state: OutState::AwaitHeader,
            pair,
            certificate: false,
            sasl_done: false,
            peer_dialback: false,
            peer_dialback_errors: false,
            peer_stream_id: String::new(),
            dialback: DialbackOut::default(),
            authorized: Vec::new(),
            queued: Vec::new(),
        })
    }

    /// Opens the stream at time `now`: our header is queued, the peer has the response
    /// timeout to answer.
    ///
    /// # Errors
    ///
    /// [`S2sError::AlreadyOpen`] on a second call.
    pub fn open(&mut self, now: Instant) -> Result<(), S2sError> {
        self.at(now, |s| {
            if !s.engine.is_idle() {
                return Err(S2sError::AlreadyOpen);
            }
            s.send_header();
            Ok(())
        })
    }

    /// Bytes from the receiving server, at time `now`. Input after `<proceed/>` and before
    /// [`tls_established`](Self::tls_established) is discarded.
    ///
    /// # Errors
    ///
    /// [`S2sError::NotOpen`] before [`open`](Self::open), [`S2sError::AwaitingTls`] while
    /// TLS is being set up (the input is discarded).
    pub fn handle_input(&mut self, now: Instant, data: &[u8]) -> Result<(), S2sError> {
        self.at(now, |s| s.input(data)).map_err(S2sError::from)
    }

    /// TLS is up at time `now`; `certificate`: this side presented its certificate, so SASL
    /// `EXTERNAL` is used if the receiving server offers it (it offers it only when it
    /// accepted the certificate). The stream restarts.
    ///
    /// # Errors
    ///
    /// [`S2sError::NoTlsRequested`] without a [`S2sEvent::TlsRequested`],
    /// [`S2sError::StreamEnded`] once the stream has ended.
    pub fn tls_established(&mut self, now: Instant, certificate: bool) -> Result<(), S2sError> {
        self.at(now, |s| {
            if s.engine.is_ending() {
                return Err(S2sError::StreamEnded);
            }
            let transport = Transport::Tls {
                channel_bindings: Box::new([]),
                peer_certificate: false,
            };
            if !s.engine.tls_established(transport) {
                return Err(S2sError::NoTlsRequested);
            }
            s.certificate = certificate;
            s.send_header();
            Ok(())
        })
    }

    /// Asks, at time `now`, to send stanzas from `pair.from` (one of our domains) to
    /// `pair.to` on this stream too (XEP-0220 section 2.6): a dialback key goes out now, or
    /// once negotiation is over. [`S2sEvent::Online`] or [`S2sEvent::DialbackRefused`]
    /// tells the outcome. Nothing is sent for a pair already authorized or asked for.
    ///
    /// # Errors
    ///
    /// [`S2sError::NotOurDomain`] when `pair.from` is not ours, [`S2sError::NotOpen`]
    /// before [`open`](Self::open), [`S2sError::StreamEnded`] once the stream has ended,
    /// [`S2sError::TargetMultiplexing`] for another target domain than the stream's when
    /// the peer did not offer dialback errors (XEP-0220 section 2.6.2),
    /// [`S2sError::NoDialback`] for another pair on a stream whose peer does not speak
    /// dialback (section 2.4).
    pub fn authorize(&mut self, now: Instant, pair: DomainPair) -> Result<(), S2sError> {
        self.at(now, |s| {
            s.usable()?;
            if !s.config.serves(&pair.from) {
                return Err(S2sError::NotOurDomain);
            }
            // XEP-0220 section 2.6.2: "The Initiating Server SHOULD NOT use target
            // multiplexing unless the Receiving Server has signalled support for dialback
            // error handling via <stream:features/>".
            let target_multiplexing = pair.to != s.pair.to;
            if target_multiplexing && matches!(s.state, OutState::Ready) && !s.peer_dialback_errors
            {
                return Err(S2sError::TargetMultiplexing);
            }
            // Section 2.4: a peer that advertised no dialback would answer a <db:result/>
            // with a stream error and take the pairs SASL authorized down with it.
            if matches!(s.state, OutState::Ready)
                && !s.peer_dialback
                && !s.authorized.contains(&pair)
            {
                return Err(S2sError::NoDialback);
            }
            if !s.authorized.contains(&pair) {
                s.run(Queued::Authorize(pair));
            }
            Ok(())
        })
    }

    /// Asks the authoritative server (the peer) at time `now` whether `request`'s key,
    /// which an [`S2sIn`] of ours received ([`S2sEvent::DialbackVerifyRequest`]), is good
    /// (XEP-0220 section 2.1.2): `<db:verify/>` goes out now, or once negotiation is over;
    /// [`S2sEvent::VerifyResult`] brings the answer.
    ///
    /// # Errors
    ///
    /// [`S2sError::NotOpen`] before [`open`](Self::open), [`S2sError::StreamEnded`] once
    /// the stream has ended.
    pub fn verify(&mut self, now: Instant, request: VerifyRequest) -> Result<(), S2sError> {
        self.at(now, |s| {
            s.usable()?;
            s.run(Queued::Verify(request));
            Ok(())
        })
    }

    /// Sends a stanza at time `now`, with `jabber:server` as the default namespace. Its
    /// `from` and `to` must be of a pair authorized on this stream.
    ///
    /// # Errors
    ///
    /// [`S2sError::NotAuthorized`] (nothing sent) for a stanza of no authorized pair,
    /// [`S2sError::NotOpen`] before [`open`](Self::open), [`S2sError::StreamEnded`] once
    /// the stream has ended.
    pub fn send(&mut self, now: Instant, stanza: &Element) -> Result<(), S2sError> {
        self.at(now, |s| {
            s.usable()?;
            s.check_pair(stanza)?;
            s.engine.write_element(|w| {
                w.element(stanza.root(), JABBER_SERVER);
            });
            Ok(())
        })
    }

    /// Sends the stanza that `write` writes at time `now`. Its `from` and `to` are checked
    /// as [`send`](Self::send) checks them, which takes one parse of what `write` wrote
    /// (on s2s a wrong address would be a stream error at the peer); an unprefixed
    /// element is in `jabber:server`.
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send), and [`S2sError::Unbalanced`] when `write` leaves an
    /// element open.
    pub fn send_with(
        &mut self,
        now: Instant,
        write: impl FnOnce(&mut Writer<'_>),
    ) -> Result<(), S2sError> {
        self.at(now, |s| {
            s.usable()?;
            let mut scratch = bytes::BytesMut::new();
            let mut w = Writer::new(&mut scratch);
            write(&mut w);
            if w.depth() != 0 {
                return Err(S2sError::Unbalanced);
            }
            w.finish();
            let stanza = crate::xml::parse_element(JABBER_SERVER, &scratch)
                .map_err(|_| S2sError::Unbalanced)?;
            s.check_pair(&stanza)?;
            s.engine.write(|buf| buf.extend_from_slice(&scratch));
            Ok(())
        })
    }

    /// Answers at time `now`, on this stream, a stanza that came in on the reverse stream
    /// (an [`S2sIn`] from the same peer) with a stanza error, addresses swapped, the same
    /// id (RFC 6120 section 8.3). Returns whether a reply went out: none for an error or
    /// an iq result (sections 8.3.1 and 8.2.3).
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send): the swapped pair must be authorized here.
    pub fn reply_error(
        &mut self,
        now: Instant,
        to: &Stanza,
        condition: StanzaErrorCondition,
    ) -> Result<bool, S2sError> {
        self.at(now, |s| {
            s.usable()?;
            let pair = stanza_domains(to.element()).ok_or(S2sError::NotAuthorized)?;
            if !s.authorized.contains(&DomainPair::new(pair.to, pair.from)) {
                return Err(S2sError::NotAuthorized);
            }
            Ok(s.engine.error_reply(to, condition))
        })
    }

    /// Is `stanza` of a pair authorized on this stream?
    fn check_pair(&self, stanza: &Element) -> Result<(), S2sError> {
        match stanza_domains(stanza) {
            Some(pair) if self.authorized.contains(&pair) => Ok(()),
            _ => Err(S2sError::NotAuthorized),
        }
    }

    /// The pairs authorized on this stream.
    pub fn authorized(&self) -> &[DomainPair] {
        &self.authorized
    }

    stream_methods!(S2sEvent);

    fn usable(&self) -> Result<(), S2sError> {
        if self.engine.is_ending() {
            Err(S2sError::StreamEnded)
        } else if self.engine.is_idle() {
            Err(S2sError::NotOpen)
        } else {
            Ok(())
        }
    }

    fn send_header(&mut self) {
        StreamRole::write_header(self);
        self.state = OutState::AwaitHeader;
        self.engine.await_peer();
    }

    /// Sends `request` now if the stream is ready for it, else keeps it for then.
    fn run(&mut self, request: Queued) {
        if !matches!(self.state, OutState::Ready) {
            self.queued.push(request);
            return;
        }
        let sent = match request {
            // SASL may have authorized the pair meanwhile.
            Queued::Authorize(pair) if self.authorized.contains(&pair) => false,
            // Asked for before the peer showed it does not speak dialback (section 2.4):
            // refused here, as `authorize` refuses it now ([`S2sError::NoDialback`]).
            Queued::Authorize(pair) if !self.peer_dialback => {
                let outcome = DialbackOutcome::Error(StanzaErrorCondition::FeatureNotImplemented);
                self.engine
                    .report(S2sEvent::DialbackRefused { pair, outcome });
                false
            }
            Queued::Authorize(pair) => {
                let key =
                    self.config
                        .dialback_secret
                        .key(&pair.to, &pair.from, &self.peer_stream_id);
                self.dialback.request(pair, key.as_str(), &mut self.engine)
            }
            Queued::Verify(request) => {
                // On the wire the request goes from the target (ours) to the sender.
                let pair = DomainPair::new(request.pair.to, request.pair.from);
                self.dialback
                    .verify(pair, request.stream_id, &request.key, &mut self.engine)
            }
        };
        if sent {
            self.engine.await_peer();
        }
    }

    /// Negotiation is over: the initial pair (unless SASL authorized it) and what the
    /// embedder asked meanwhile go out.
    fn ready(&mut self) {
        self.state = OutState::Ready;
        self.engine.negotiated();
        if self.sasl_done {
            self.authorized.push(self.pair.clone());
            self.engine.report(S2sEvent::Online(self.pair.clone()));
        } else if self.authenticate {
            self.run(Queued::Authorize(self.pair.clone()));
        }
        for request in std::mem::take(&mut self.queued) {
            self.run(request);
        }
    }

    fn on_features(&mut self, features: &Element) {
        let f = Features::read(features.root());
        self.peer_dialback |= dialback::offered_in(features);
        self.peer_dialback_errors = dialback::errors_in(features);
        // RFC 6120 section 5.3.1: STARTTLS offered with <required/>, or as the only feature,
        // is mandatory-to-negotiate; with TLS disabled here there is no way on, and a
        // dialback key would only be refused (XEP-0220 section 2.5, policy-violation). The
        // initiating entity says so with <unsupported-feature/> (section 4.9.3.23).
        let tls_mandatory = f.starttls == Some(Requirement::Required)
            || (f.starttls.is_some() && features.root().children().count() == 1);
        if !self.engine.transport().is_encrypted()
            && self.config.tls == TlsPolicy::Disabled
            && tls_mandatory
        {
            return self.stream_error(StreamErrorCondition::UnsupportedFeature);
        }
        if !self.engine.transport().is_encrypted() {
            match StartTlsClient::begin(self.config.tls, f.starttls, &mut self.engine) {
                Ok(Some(step)) => {
                    self.state = OutState::StartTls(step);
                    return self.engine.await_peer();
                }
                Ok(None) => {}
                Err(failure) => return self.fail(failure),
            }
        }
        if self.sasl_done {
            return self.ready();
        }
        let external =
            self.authenticate && self.certificate && f.mechanisms.iter().any(|m| m == "EXTERNAL");
        if external {
            let attempt = Attempt {
                config: SaslClientConfig {
                    preference: vec![Mechanism::External],
                    ..SaslClientConfig::default()
                },
                plus_without_advertisement: false,
                credentials: Credentials::default(),
                nonce: Nonce::new("unused".to_owned()),
                // EXTERNAL: no SCRAM hash to check.
                downgrade_protection: false,
            };
            match SaslClientStep::begin(f.mechanisms, None, attempt, &mut self.engine) {
                Ok(step) => {
                    self.state = OutState::Sasl(Box::new(step));
                    return self.engine.await_peer();
                }
                Err(failure) => return self.fail(failure),
            }
        }
        self.dialback_or_give_up();
    }

    /// Without SASL: dialback if the peer speaks it, else there is no way to authenticate.
    fn dialback_or_give_up(&mut self) {
        if self.peer_dialback {
            self.ready();
        } else {
            self.abandon(Abandoned::NoMechanism);
        }
    }

    fn on_dialback(&mut self, el: &Element) {
        let next = self.dialback.on_element(el);
        let Some(answer) = self.follow(next) else {
            return;
        };
        self.report_answer(answer);
        // The peer answered: what is still out has a fresh response timeout.
        if self.dialback.is_waiting() {
            self.engine.await_peer();
        } else {
            self.engine.negotiated();
        }
    }

    /// Tells the embedder what became of one of its requests.
    fn report_answer(&mut self, answer: Answer) {
        match answer {
            Answer::Result(pair, DialbackOutcome::Valid) => {
                if !self.authorized.contains(&pair) {
                    self.authorized.push(pair.clone());
                }
                self.engine.report(S2sEvent::Online(pair));
            }
            Answer::Result(pair, outcome) => {
                self.engine
                    .report(S2sEvent::DialbackRefused { pair, outcome });
            }
            Answer::Verify(pair, stream_id, outcome) => {
                // Back to the request's terms: sender domain first.
                let pair = DomainPair::new(pair.to, pair.from);
                self.engine.report(S2sEvent::VerifyResult {
                    pair,
                    stream_id,
                    outcome,
                });
            }
        }
    }
}

impl StreamRole for S2sOut {
    type Event = S2sEvent;

    fn engine(&mut self) -> &mut Engine<S2sEvent> {
        &mut self.engine
    }

    /// On a stream that already carries an authorized pair, an unanswered dialback request
    /// fails alone (`remote-server-timeout`), and the stream goes on: "While waiting for the
    /// verification result, the Initiating Server SHOULD continue to send stanzas for any
    /// domain pair that has already been verified on that connection" (XEP-0220 section
    /// 2.1.1), and dialback errors are "non-fatal for the XML stream" (section 2.5). During
    /// negotiation, and on a stream no pair uses, the stream ends as any other.
    fn response_timed_out(&mut self) {
        let in_use = matches!(self.state, OutState::Ready)
            && !self.authorized.is_empty()
            && !self.engine.is_ending();
        if !in_use {
            self.end_stream(
                Some(Box::new(StreamError::new(
                    StreamErrorCondition::ConnectionTimeout,
                ))),
                CloseReason::TimedOut,
            );
            return;
        }
        for answer in self.dialback.time_out() {
            self.report_answer(answer);
        }
        self.engine.negotiated();
    }

    fn write_header(&mut self) {
        self.engine.write_header(Header {
            to: Some(&self.pair.to),
            from: Some(&self.pair.from),
            id: None,
            lang: Some(&self.config.lang),
        });
    }

    fn on_header(&mut self, header: Element) {
        if !matches!(self.state, OutState::AwaitHeader) {
            return self.stream_error(StreamErrorCondition::InvalidXml);
        }
        if let Err(condition) = check_s2s_header(&self.engine, &header) {
            return self.stream_error(condition);
        }
        let Some(id) = header.attr("id") else {
            return self.abandon(Abandoned::PeerProtocol(ProtocolViolation::NoStreamId));
        };
        self.peer_stream_id = id.into_owned();
        self.peer_dialback = declares_dialback(&self.engine);
        self.engine.report(S2sEvent::StreamOpened);
        self.state = OutState::AwaitFeatures;
        self.engine.await_peer();
    }

    fn on_element(&mut self, el: Element) {
        if self.engine.stanza(el.clone()).is_ok() {
            // A one-way stream: the receiving server sends its stanzas on its own stream.
            return self.stream_error(StreamErrorCondition::UnsupportedStanzaType);
        }
        match &mut self.state {
            OutState::AwaitFeatures if el.is("features", STREAM_NS) => self.on_features(&el),
            OutState::StartTls(step) if StartTlsClient::takes(&el) => {
                let next = step.on_element(&el);
                self.follow(next);
            }
            OutState::Sasl(step) if step.takes(&el) => match step.on_element(&el, &mut self.engine)
            {
                // The receiving server refused the certificate: dialback is left.
                Next::Ask(_failure) => self.dialback_or_give_up(),
                Next::Restart(_) => {
                    self.engine.restart();
                    self.sasl_done = true;
                    let domain = self.pair.from.clone();
                    self.engine.report(S2sEvent::Authenticated(domain));
                    self.send_header();
                }
                Next::Fail(failure) => self.fail(failure),
                Next::AwaitPeer => self.engine.await_peer(),
                Next::Unchanged | Next::Done(_) | Next::StartTls(_) => {}
            },
            OutState::Ready if DialbackOut::takes(&el) => self.on_dialback(&el),
            // Section 4.3.5: once negotiation is over the receiving entity "MAY send an
            // empty <features/> element" (and no more features): nothing to do.
            OutState::Ready
                if el.is("features", STREAM_NS) && el.root().children().next().is_none() => {}
            _ => self.stream_error(StreamErrorCondition::UnsupportedStanzaType),
        }
    }
}

// ---------------------------------------------------------------------------------------
// The receiving server.

/// Where an [`S2sIn`]'s negotiation stands; what is authorized is beside it.
enum InState {
    /// Before SASL: STARTTLS and SASL EXTERNAL may run; dialback is taken meanwhile.
    Negotiating(SaslServerStep),
    /// SASL authenticated the peer's domain and the stream restarted.
    Authenticated(String),
}

/// The receiving side of one s2s stream.
pub struct S2sIn {
    config: Arc<S2sConfig>,
    engine: Engine<S2sEvent>,
    state: InState,
    rng: Rng,
    first_header: bool,
    /// The id of our current header.
    stream_id: String,
    /// The domain of ours the peer's header asked for (`to`).
    local: String,
    /// The domain the peer's header claimed (`from`), if any.
    peer: Option<String>,
    dialback: DialbackIn,
    authorized: Vec<DomainPair>,
}

impl core::fmt::Debug for S2sIn {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("S2sIn")
            .field("local", &self.local)
            .field("peer", &self.peer)
            .field("encrypted", &self.engine.transport().is_encrypted())
            .field("authorized", &self.authorized)
            .finish_non_exhaustive()
    }
}

impl S2sIn {
    /// A receiving side for a new connection; it waits for the peer's header from `now`.
    /// `seed` seeds this session's stream ids: give each connection fresh randomness.
    pub fn new(config: impl Into<Arc<S2sConfig>>, seed: u64, now: Instant) -> Self {
        let config = config.into();
        let limits = config.pre_auth_limits.min(config.limits);
        S2sIn {
            engine: Engine::receiving(settings(&config, limits), now),
            state: InState::Negotiating(SaslServerStep::new(3)),
            rng: Rng::new(seed),
            first_header: true,
            stream_id: String::new(),
            local: String::new(),
            peer: None,
            dialback: DialbackIn::default(),
            authorized: Vec::new(),
            config,
        }
    }

    /// Bytes from the initiating server, at time `now`. Input after `<starttls/>` and before
    /// [`tls_established`](Self::tls_established) is discarded.
    ///
    /// # Errors
    ///
    /// [`S2sError::AwaitingTls`] while TLS is being set up (the input is discarded).
    pub fn handle_input(&mut self, now: Instant, data: &[u8]) -> Result<(), S2sError> {
        self.at(now, |s| s.input(data)).map_err(S2sError::from)
    }

    /// TLS is up at time `now`. `peer_certificate_valid`: the embedder checked the peer's
    /// certificate and it is valid for the domain the peer claims (RFC 6125): only then is
    /// SASL `EXTERNAL` offered. The peer restarts the stream next.
    ///
    /// # Errors
    ///
    /// As [`S2sOut::tls_established`].
    pub fn tls_established(
        &mut self,
        now: Instant,
        peer_certificate_valid: bool,
    ) -> Result<(), S2sError> {
        self.at(now, |s| {
            if s.engine.is_ending() {
                return Err(S2sError::StreamEnded);
            }
            let transport = Transport::Tls {
                channel_bindings: Box::new([]),
                peer_certificate: peer_certificate_valid,
            };
            if !s.engine.tls_established(transport) {
                return Err(S2sError::NoTlsRequested);
            }
            s.engine.await_peer();
            Ok(())
        })
    }

    /// Answers [`S2sEvent::ExternalRequest`] at time `now`: the certificate authenticates
    /// the peer as `domain`. When its TLS-protected header named a domain (`from`), it must
    /// be `domain` (RFC 6120 section 6.4.6; the SASL step ends a mismatch with
    /// `invalid-from`, as for c2s); an authzid naming another domain is `invalid-authzid`.
    ///
    /// # Errors
    ///
    /// [`S2sError::NoExternalRequest`] without a [`S2sEvent::ExternalRequest`] to answer,
    /// [`S2sError::StreamEnded`] once the stream has ended.
    pub fn external(&mut self, now: Instant, domain: &str) -> Result<(), S2sError> {
        let identity = domain.parse::<BareJid>().ok();
        self.at(now, |s| s.answer_sasl(identity))
    }

    /// Answers [`S2sEvent::ExternalRequest`] at time `now`: the certificate does not
    /// authenticate the peer (`not-authorized`, RFC 6120 section 6.5.10).
    ///
    /// # Errors
    ///
    /// As [`external`](Self::external).
    pub fn refuse_external(&mut self, now: Instant) -> Result<(), S2sError> {
        self.at(now, |s| s.answer_sasl(None))
    }

    /// Answers [`S2sEvent::DialbackVerifyRequest`] for `pair` at time `now` (XEP-0220
    /// section 2.2.1, step 4): `Valid` authorizes the pair ([`S2sEvent::Online`]);
    /// `Invalid` is sent and the stream closed, as the XEP requires; an `Error` (say
    /// `remote-server-not-found` when the authoritative server could not be reached,
    /// section 2.5) leaves the stream to the other pairs.
    ///
    /// # Errors
    ///
    /// [`S2sError::NoVerifyRequest`] when no [`S2sEvent::DialbackVerifyRequest`] for `pair`
    /// awaits an answer, [`S2sError::StreamEnded`] once the stream has ended.
    pub fn dialback_answer(
        &mut self,
        now: Instant,
        pair: &DomainPair,
        outcome: DialbackOutcome,
    ) -> Result<(), S2sError> {
        self.at(now, |s| {
            if s.engine.is_ending() {
                return Err(S2sError::StreamEnded);
            }
            let outcome = s
                .dialback
                .answer(pair, outcome, &mut s.engine)
                .ok_or(S2sError::NoVerifyRequest)?;
            match outcome {
                DialbackOutcome::Valid => s.authorize(pair.clone()),
                DialbackOutcome::Invalid => s.close_gracefully(),
                DialbackOutcome::Error(_) => s.settle(),
            }
            Ok(())
        })
    }

    /// The domain the initiating server named in the `from` of its current stream header,
    /// if it named one (RFC 6120 section 4.7.1). With SASL `EXTERNAL` and no authzid, it is
    /// the identity to check the peer's certificate against (sections 6.4.6 and 13.7.1.2);
    /// [`external`](Self::external) then grants it.
    pub fn peer_domain(&self) -> Option<Cow<'_, str>> {
        self.engine.parser().header()?.attr("from")
    }

    /// The pairs authorized on this stream.
    pub fn authorized(&self) -> &[DomainPair] {
        &self.authorized
    }

    /// An incoming stream carries the peer's stanzas only: send on an [`S2sOut`] to the
    /// peer (RFC 6120 streams are one-way; XEP-0288 is not implemented).
    ///
    /// # Errors
    ///
    /// Always [`S2sError::OneWay`] (or [`S2sError::StreamEnded`] once it has ended).
    pub fn send(&mut self, _now: Instant, _stanza: &Element) -> Result<(), S2sError> {
        self.one_way()
    }

    /// As [`send`](Self::send): an incoming stream carries no stanzas of ours.
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send).
    pub fn send_with(
        &mut self,
        _now: Instant,
        _write: impl FnOnce(&mut Writer<'_>),
    ) -> Result<(), S2sError> {
        self.one_way()
    }

    /// As [`send`](Self::send): answer a stanza of this stream with
    /// [`S2sOut::reply_error`] on the stream to the peer.
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send).
    pub fn reply_error(
        &mut self,
        _now: Instant,
        _to: &Stanza,
        _condition: StanzaErrorCondition,
    ) -> Result<bool, S2sError> {
        self.one_way().map(|()| false)
    }

    fn one_way(&self) -> Result<(), S2sError> {
        if self.engine.is_ending() {
            Err(S2sError::StreamEnded)
        } else {
            Err(S2sError::OneWay)
        }
    }

    stream_methods!(S2sEvent);

    fn answer_sasl(&mut self, identity: Option<BareJid>) -> Result<(), S2sError> {
        if self.engine.is_ending() {
            return Err(S2sError::StreamEnded);
        }
        let InState::Negotiating(sasl) = &mut self.state else {
            return Err(S2sError::NoExternalRequest);
        };
        // The peer started over with a new `<auth/>` meanwhile: this answer was to the
        // discarded exchange, and that `<auth/>` starts now.
        if let Some(auth) = sasl
            .take_superseding(true)
            .map_err(|NotAsked| S2sError::NoExternalRequest)?
        {
            self.on_nonza(auth);
            return Ok(());
        }
        let accounts = Accounts {
            domain: &self.local,
            rng: &mut self.rng,
            protected_header: protected_header(&self.engine),
        };
        let next = sasl
            .external(identity, accounts, &mut self.engine)
            .map_err(|NotAsked| S2sError::NoExternalRequest)?;
        if let Some(jid) = self.follow(next) {
            self.sasl_authenticated(jid.domain().to_owned());
        }
        Ok(())
    }

    fn sasl_authenticated(&mut self, domain: String) {
        self.engine.report(S2sEvent::Authenticated(domain.clone()));
        self.state = InState::Authenticated(domain);
        self.engine.await_peer();
    }

    /// `pair` may send stanzas now.
    fn authorize(&mut self, pair: DomainPair) {
        if self.authorized.is_empty() {
            self.engine.parser_mut().set_limits(self.config.limits);
        }
        if !self.authorized.contains(&pair) {
            self.authorized.push(pair.clone());
        }
        self.engine.report(S2sEvent::Online(pair));
        self.settle();
    }

    /// After an answer: the peer has the response timeout to go on while nothing is
    /// authorized; once something is, the stream is negotiated (keepalive, no deadline).
    fn settle(&mut self) {
        if self.authorized.is_empty() {
            if !self.dialback.is_asking() {
                self.engine.await_peer();
            }
        } else {
            self.engine.negotiated();
        }
    }

    /// TLS is required and not up: nothing but STARTTLS yet.
    fn tls_first(&self) -> bool {
        !self.engine.transport().is_encrypted() && self.config.tls == TlsPolicy::Required
    }

    fn offers_external(&self) -> bool {
        let transport = self.engine.transport();
        matches!(self.state, InState::Negotiating(_))
            && transport.is_encrypted()
            && transport.peer_certificate()
    }

    fn send_features(&mut self) {
        let negotiating = matches!(self.state, InState::Negotiating(_));
        let encrypted = self.engine.transport().is_encrypted();
        let tls_first = self.tls_first();
        let offer_tls = negotiating && !encrypted && self.config.tls != TlsPolicy::Disabled;
        let external = self.offers_external();
        self.engine.write_element(|w| {
            w.start("stream:features");
            if offer_tls {
                starttls::write_feature(w, tls_first);
            }
            if external {
                SaslServerStep::write_feature(w, &[Mechanism::External], &[]);
            }
            if negotiating && !tls_first {
                dialback::write_feature(w);
            }
            w.end("stream:features");
        });
    }

    fn on_stanza(&mut self, stanza: Stanza) {
        if self.authorized.is_empty() {
            // RFC 6120 4.9.3.12: nothing is processed before the stream is authenticated.
            return self.stream_error(StreamErrorCondition::NotAuthorized);
        }
        let Some(pair) = stanza_domains(stanza.element()) else {
            return self.stream_error(StreamErrorCondition::ImproperAddressing);
        };
        if !self.authorized.iter().any(|p| p.from == pair.from) {
            return self.stream_error(StreamErrorCondition::InvalidFrom);
        }
        if !self.authorized.contains(&pair) {
            return self.stream_error(StreamErrorCondition::HostUnknown);
        }
        // RFC 6120 section 4.7.4: the receiving entity "SHOULD add the 'xml:lang' attribute
        // to the stanza when routing it ... or delivering it" when the stanza has none.
        let stanza = match self.engine.parser().header_lang() {
            Some(lang) if stanza.lang().is_none() => stanza.with_lang(lang),
            _ => stanza,
        };
        self.engine.report(S2sEvent::Stanza(stanza));
    }

    fn on_nonza(&mut self, el: Element) {
        let tls_first = self.tls_first();
        let offered = if self.offers_external() && !tls_first {
            vec![Mechanism::External]
        } else {
            Vec::new()
        };
        let encrypted = self.engine.transport().is_encrypted();
        let accounts = Accounts {
            domain: &self.local,
            rng: &mut self.rng,
            protected_header: protected_header(&self.engine),
        };
        // Once dialback authorized a pair, stanzas flow and negotiation is over (RFC 6120
        // section 4.3.5): STARTTLS or SASL now would restart a stream in use, so they are
        // unexpected elements like any other. While a dialback key is being verified, the
        // pair may go online at any moment, so the same holds.
        let negotiating = self.authorized.is_empty() && !self.dialback.is_asking();
        // And the other way round: while SASL runs, a pair authorized by dialback would be
        // online on a stream that SASL's success restarts.
        let sasl_running = matches!(&self.state, InState::Negotiating(sasl) if !sasl.is_idle());
        match &mut self.state {
            InState::Negotiating(sasl)
                if negotiating && sasl.is_idle() && el.is("starttls", TLS_NS) =>
            {
                let can_proceed = !encrypted && self.config.tls != TlsPolicy::Disabled;
                let next = starttls::answer(can_proceed, &mut self.engine);
                match next {
                    // RFC 6120 5.4.2.2: `<failure/>` and the stream closed. The peer asked
                    // for what was not offered: nothing this side gave up on, so `Closed`
                    // alone, as the c2s server reports it.
                    Next::Fail(crate::negotiate::Failure::Abandon(reason)) => {
                        self.end_stream(None, CloseReason::Abandoned(reason));
                    }
                    next => {
                        self.follow(next);
                    }
                }
            }
            InState::Negotiating(sasl)
                if negotiating && sasl.accepts_auth() && el.is("auth", SASL_NS) =>
            {
                let offer = Offer {
                    encryption_required: tls_first,
                    settings: SaslServerConfig {
                        offered,
                        encrypted,
                        channel_bindings: Vec::new(),
                        secret: Vec::new(),
                        scram_iterations: core::num::NonZeroU32::MIN,
                        downgrade_protection: None,
                    },
                    nonce: Some("unused".to_owned()),
                };
                let next = sasl.on_auth(&el, offer, accounts, &mut self.engine);
                if let Some(jid) = self.follow(next) {
                    self.sasl_authenticated(jid.domain().to_owned());
                }
            }
            InState::Negotiating(sasl) if sasl.takes(&el) => {
                let next = sasl.on_element(&el, accounts, &mut self.engine);
                if let Some(jid) = self.follow(next) {
                    self.sasl_authenticated(jid.domain().to_owned());
                }
            }
            _ if el.is("result", dialback::DIALBACK_NS) && !sasl_running => {
                let at = Receiving {
                    domains: &self.config.domains,
                    tls_first,
                    stream_id: &self.stream_id,
                    authorized: &self.authorized,
                };
                let next = self.dialback.on_result(&el, at, &mut self.engine);
                self.follow(next);
            }
            _ if el.is("verify", dialback::DIALBACK_NS) => {
                let next = answer_verify(
                    &el,
                    &self.config.domains,
                    &self.config.dialback_secret,
                    &mut self.engine,
                );
                self.follow(next);
            }
            _ => self.stream_error(StreamErrorCondition::UnsupportedStanzaType),
        }
    }
}

impl StreamRole for S2sIn {
    type Event = S2sEvent;

    fn engine(&mut self) -> &mut Engine<S2sEvent> {
        &mut self.engine
    }

    fn write_header(&mut self) {
        let chosen = self.config.stream_id.as_ref().filter(|_| self.first_header);
        self.stream_id = chosen.cloned().unwrap_or_else(|| self.rng.token(16));
        self.first_header = false;
        // Before the peer's `to` is known (an error in its header), the first domain.
        let from = if self.local.is_empty() {
            self.config.domains.first().map_or("", String::as_str)
        } else {
            &self.local
        };
        self.engine.write_header(Header {
            to: self.peer.as_deref(),
            from: Some(from),
            id: Some(&self.stream_id),
            lang: Some(&self.config.lang),
        });
    }

    fn on_header(&mut self, header: Element) {
        let peer = match header.attr("from") {
            None => None,
            Some(f) => match dialback::domain(&f) {
                Some(d) => Some(d),
                None => return self.stream_error(StreamErrorCondition::InvalidFrom),
            },
        };
        // Our response header names the domain this header's `from` gives, whatever comes
        // of it (RFC 6120 section 4.7.2), a refusal included.
        self.peer = peer;
        // After SASL the peer is who it authenticated as.
        if let (InState::Authenticated(domain), Some(p)) = (&self.state, &self.peer) {
            if p != domain {
                return self.stream_error(StreamErrorCondition::InvalidFrom);
            }
        }
        if let Err(condition) = check_s2s_header(&self.engine, &header) {
            return self.stream_error(condition);
        }
        let to = header.attr("to").and_then(|t| dialback::domain(&t));
        let Some(local) = to.filter(|t| self.config.serves(t)) else {
            return self.stream_error(StreamErrorCondition::HostUnknown);
        };
        if !self.local.is_empty() && self.local != local {
            // A restart may not move the stream to another of our domains.
            return self.stream_error(StreamErrorCondition::HostUnknown);
        }
        self.local = local;
        self.write_header();
        self.engine.report(S2sEvent::StreamOpened);
        self.send_features();
        if let InState::Authenticated(domain) = &self.state {
            // RFC 6120 section 9.2, step 12: negotiation is complete.
            let pair = DomainPair::new(domain.clone(), self.local.clone());
            if !self.authorized.contains(&pair) {
                return self.authorize(pair);
            }
        }
        self.engine.await_peer();
    }

    fn on_element(&mut self, el: Element) {
        match self.engine.stanza(el) {
            Ok(stanza) => self.on_stanza(stanza),
            Err(el) => self.on_nonza(el),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> S2sConfig {
        S2sConfig::new("montague.example", DialbackSecret::new("d14lb4ck43v3r"))
    }

    const HEADER: &[u8] = b"<stream:stream xmlns='jabber:server' \
        xmlns:db='jabber:server:dialback' xmlns:stream='http://etherx.jabber.org/streams' \
        from='capulet.example' to='montague.example' version='1.0'>";

    #[test]
    fn misuse_is_an_error_and_changes_nothing() {
        let now = Instant::now();
        let pair = DomainPair::new("capulet.example", "montague.example");
        assert_eq!(
            S2sOut::new(config(), pair.clone(), now).err(),
            Some(S2sError::NotOurDomain)
        );
        let back = DomainPair::new("montague.example", "capulet.example");
        let mut out = S2sOut::new(config(), back.clone(), now).unwrap();
        assert_eq!(out.handle_input(now, b"<x/>"), Err(S2sError::NotOpen));
        assert_eq!(out.authorize(now, back.clone()), Err(S2sError::NotOpen));
        out.open(now).unwrap();
        assert_eq!(out.open(now), Err(S2sError::AlreadyOpen));
        assert_eq!(
            out.tls_established(now, true),
            Err(S2sError::NoTlsRequested)
        );
        // A sender domain that is not ours.
        assert_eq!(
            out.authorize(now, pair.clone()),
            Err(S2sError::NotOurDomain)
        );
        let stanza = crate::xml::parse_element(
            JABBER_SERVER,
            b"<message from='romeo@montague.example' to='juliet@capulet.example'/>",
        )
        .unwrap();
        assert_eq!(out.send(now, &stanza), Err(S2sError::NotAuthorized));
        out.close(now);
        assert_eq!(out.send(now, &stanza), Err(S2sError::StreamEnded));

        let mut inn = S2sIn::new(config(), 1, now);
        inn.handle_input(now, HEADER).unwrap();
        assert_eq!(
            inn.dialback_answer(now, &pair, DialbackOutcome::Valid),
            Err(S2sError::NoVerifyRequest)
        );
        assert_eq!(
            inn.external(now, "capulet.example"),
            Err(S2sError::NoExternalRequest)
        );
        assert_eq!(
            inn.tls_established(now, true),
            Err(S2sError::NoTlsRequested)
        );
        inn.handle_input(now, b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
            .unwrap();
        assert_eq!(inn.handle_input(now, b"<a/>"), Err(S2sError::AwaitingTls));
        assert!(inn.authorized().is_empty());
    }

    #[test]
    fn neither_secret_nor_key_shows_in_debug() {
        let c = config();
        let request = VerifyRequest {
            pair: DomainPair::new("capulet.example", "montague.example"),
            stream_id: "417GAF25".into(),
            key: "225cc5aa6a071133249d25fef42ae516".into(),
        };
        let event = S2sEvent::DialbackVerifyRequest(request.clone());
        for text in [
            format!("{c:?}"),
            format!("{request:?}"),
            format!("{event:?}"),
        ] {
            assert!(!text.contains("d14lb4ck43v3r"), "{text}");
            assert!(!text.contains("225cc5aa"), "{text}");
        }
    }
}
