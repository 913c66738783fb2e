//! How a c2s server serves its clients: domains, TLS and SASL policy, limits, stream
//! management (XEP-0198) and modern login (XEP-0388, XEP-0386, XEP-0484), shared by every
//! session of the server.

#[cfg(doc)]
use super::{Server, ServerError, ServerEvent};
#[cfg(doc)]
use crate::sasl::SaslServerConfig;
use std::num::NonZeroU32;
use std::time::Duration;

use crate::sasl::Mechanism;
use crate::sasl::ht::HtMechanism;
use crate::stream::UnackedLimits;
use crate::stream::{Framing, TlsPolicy};
use crate::xml::{Element, Limits};

/// How a server serves its clients.
#[derive(Clone)]
#[non_exhaustive]
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
    /// [`SaslServerConfig::secret`]).
    pub sasl_secret: Vec<u8>,
    /// The SCRAM iteration count of accounts given as passwords, and of unknown users.
    pub scram_iterations: NonZeroU32,
    /// The SCRAM server nonce part; `None` makes one from the session's seed. Set it only
    /// to replay a recorded exchange.
    pub server_nonce: Option<String>,
    /// Failed SASL attempts allowed before the stream is closed with `policy-violation`
    /// (RFC 6120 section 6.4.5).
    pub max_auth_attempts: u32,
    /// Failed resource binding attempts allowed before the stream is closed with
    /// `policy-violation` (RFC 6120 section 7.7.2.2: "a configurable but reasonable number of
    /// retries (at least 5 and no more than 10)"). Default 6: five retries, the sixth failure
    /// is followed by the stream error. Every error answer to a bind request counts: a
    /// resourcepart the core refuses (`bad-request`) and every
    /// [`reject_bind`](crate::server::Server::reject_bind).
    pub max_bind_attempts: u32,
    /// How long to wait for the client during negotiation and closing.
    pub response_timeout: Duration,
    /// Idle time, once the client is online, after which a whitespace keepalive is sent
    /// (RFC 6120 section 4.6.1); `None` (the default) turns it off.
    pub keepalive: Option<Duration>,
    /// Features the embedder negotiates itself (stream management, client state
    /// indication, roster versioning...), offered after authentication, each a child of
    /// `<stream:features/>` (make one with [`parse_element`](crate::xml::parse_element)).
    /// Once the client is online, first-level elements in the namespace of one of them
    /// reach the embedder as [`ServerEvent::Nonza`].
    pub extra_features: Vec<Element>,
    /// More namespaces of first-level elements that the embedder handles once the client
    /// is online ([`ServerEvent::Nonza`]), beside those of
    /// [`extra_features`](Self::extra_features). Any other element that is not a stanza
    /// ends the stream with `unsupported-stanza-type` (RFC 6120 section 4.9.3.24).
    pub nonza_namespaces: Vec<String>,
    /// Limits of the stream parser once the client has authenticated.
    pub limits: Limits,
    /// Limits before the client authenticates ([`Limits::PRE_AUTH`] by default), each
    /// field never looser than the same field of [`limits`](Self::limits): a peer that
    /// has not logged in is held to less.
    pub pre_auth_limits: Limits,
    /// Announce the element size limit in force in every `<stream:features/>` (XEP-0478,
    /// on by default), so that a client can avoid sending what would close its stream.
    pub advertise_limits: bool,
    /// Offer stream management (XEP-0198) after authentication: a bound client's
    /// `<enable/>` is answered with `<enabled/>`, the core answers its `<r/>`, reports its
    /// acks ([`ServerEvent::Acked`]) and keeps every stanza sent until acked
    /// ([`unacked_limits`](Self::unacked_limits)); resumption with
    /// [`resumption`](Self::resumption). Off by default.
    pub stream_management: bool,
    /// With [`stream_management`](Self::stream_management): ask the client for an ack
    /// (`<r/>`) after every this many stanzas sent; 0 (the default): only when the
    /// embedder asks ([`Server::request_ack`]).
    pub ack_request_every: u32,
    /// With [`stream_management`](Self::stream_management): ask the client for an ack this
    /// long after a stanza went out unacknowledged (the engine's ack timer); `None` (the
    /// default): not on a timer.
    pub ack_request_after: Option<std::time::Duration>,
    /// With [`stream_management`](Self::stream_management): how many stanzas, and bytes,
    /// may wait for the client's ack; at the limit [`Server::send`] refuses with
    /// [`ServerError::UnackedQueueFull`] (see [`UnackedLimits`]).
    pub unacked_limits: UnackedLimits,
    /// With [`stream_management`](Self::stream_management): offer resumption (XEP-0198
    /// section 5) to a client that asks (`<enable resume='true'/>`), keeping a detached
    /// session at most this many seconds (`<enabled max/>`, lowered to the client's `max`
    /// when it asks for less). The embedder keeps the detached state that long. `None` (the
    /// default): no resumption.
    pub resumption: Option<u32>,
    /// Offer SASL2 (XEP-0388) beside RFC 6120 SASL: `<authentication/>` with the same
    /// mechanisms, `<authenticate/>` answered by the same exchange and the same embedder
    /// questions, `<success/>` without a stream restart. Off by default.
    pub sasl2: bool,
    /// With [`sasl2`](Self::sasl2): offer Bind 2 (XEP-0386) inline. A bind request is put
    /// to the embedder as [`ServerEvent::BindRequest`] with a resource the core made:
    /// the client's `<tag/>`, `/`, and a random part (section 2.2.1); answered with
    /// [`Server::bind`] inside `<success/>`, or [`Server::reject_bind`] as a SASL2
    /// `<failure/>`. Stream management is offered inside it when
    /// [`stream_management`](Self::stream_management) is on. On by default (it has an
    /// effect only with `sasl2`).
    pub bind2: bool,
    /// With [`sasl2`](Self::sasl2): tasks every SASL2 login must complete once its
    /// mechanism succeeded (XEP-0388 section 2.5.3: a second factor, a password change...),
    /// offered in `<continue/>`. The embedder carries out the one the client chooses
    /// ([`ServerEvent::Sasl2Task`], [`ServerEvent::Sasl2TaskData`], answered with
    /// [`Server::sasl2_task_data`], [`Server::sasl2_task_done`] or
    /// [`Server::sasl2_task_failed`]); one task completes the login. Empty by default.
    pub sasl2_tasks: Vec<String>,
    /// With [`sasl2`](Self::sasl2): the Hashed Token mechanisms offered for FAST
    /// (XEP-0484), those needing a channel binding only when the transport has it. The
    /// embedder keeps the tokens: it is asked for the one a login presents
    /// ([`ServerEvent::FastAuthRequest`]; the core compares in constant time) and for a
    /// new one when the client asks ([`ServerEvent::FastTokenRequest`]). Empty by default.
    pub fast: Vec<HtMechanism>,
    /// Send XEP-0474's downgrade protection hash (`h=`) in every SCRAM server-first-message:
    /// the hash of the mechanisms and channel-binding types this stream advertised, which
    /// a client compares with what it received. Off by default (XEP-0474 is experimental).
    pub downgrade_protection: bool,
    /// How the stream is framed: TCP (the default) or WebSocket (RFC 7395), where each
    /// [`Server::handle_input`] is one message and each [`Server::poll_transmit`] one,
    /// STARTTLS is never offered (`wss:` is the TLS) and no whitespace keepalive is sent
    /// (see [`Framing`]).
    pub framing: Framing,
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
            max_auth_attempts: 3,
            max_bind_attempts: 6,
            response_timeout: Duration::from_secs(30),
            keepalive: None,
            extra_features: Vec::new(),
            nonza_namespaces: Vec::new(),
            limits: Limits::default(),
            pre_auth_limits: Limits::PRE_AUTH,
            advertise_limits: true,
            stream_management: false,
            ack_request_every: 0,
            ack_request_after: None,
            unacked_limits: UnackedLimits::default(),
            resumption: None,
            sasl2: false,
            bind2: true,
            sasl2_tasks: Vec::new(),
            fast: Vec::new(),
            downgrade_protection: false,
            framing: Framing::Tcp,
        }
    }

    /// Does the embedder handle first-level elements in `el`'s namespace?
    pub(super) fn handles(&self, el: &Element) -> bool {
        let ns = el.ns();
        self.nonza_namespaces.iter().any(|n| n == ns)
            || self.extra_features.iter().any(|f| f.ns() == ns)
    }

    /// The limits in force before or after authentication.
    pub(super) fn limits_for(&self, authenticated: bool) -> Limits {
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
            .field("max_auth_attempts", &self.max_auth_attempts)
            .field("max_bind_attempts", &self.max_bind_attempts)
            .field("response_timeout", &self.response_timeout)
            .field("keepalive", &self.keepalive)
            .field("extra_features", &self.extra_features)
            .field("nonza_namespaces", &self.nonza_namespaces)
            .field("limits", &self.limits)
            .field("pre_auth_limits", &self.pre_auth_limits)
            .field("advertise_limits", &self.advertise_limits)
            .field("stream_management", &self.stream_management)
            .field("ack_request_every", &self.ack_request_every)
            .field("ack_request_after", &self.ack_request_after)
            .field("unacked_limits", &self.unacked_limits)
            .field("resumption", &self.resumption)
            .field("framing", &self.framing)
            .finish()
    }
}
