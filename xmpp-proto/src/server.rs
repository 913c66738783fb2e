//! The server role: the receiving entity of a c2s stream (RFC 6120 sections 4 to 8) as a
//! sans-IO state machine.
//!
//! Modern login, opt-in ([`ServerConfig::sasl2`]): SASL2 (XEP-0388) beside RFC 6120 SASL,
//! with the same embedder questions, tasks ([`ServerConfig::sasl2_tasks`]), Bind 2
//! (XEP-0386: [`ServerEvent::BindRequest`] with a `tag/random` resource, answered inside
//! `<success/>`), stream management enabled or resumed inline, FAST
//! ([`ServerConfig::fast`]: the embedder keeps tokens, the core checks them in constant
//! time), XEP-0474's hash ([`ServerConfig::downgrade_protection`]) and direct TLS
//! ([`Server::direct_tls`]).
//!
//! The embedder owns the socket, TLS, the account store, the clock and randomness; the core
//! owns the protocol. It checks the client's stream header, offers features by state and
//! policy, runs STARTTLS, SASL (through [`crate::sasl`], asking the embedder for credentials
//! with [`ServerEvent::AuthRequest`]) and resource binding (asking with
//! [`ServerEvent::BindRequest`]), then stamps every stanza of the client with its full JID
//! before handing it over, refusing a spoofed `from` (`invalid-from`), a stanza before
//! authentication (`not-authorized`) and unknown first-level elements
//! (`unsupported-stanza-type`). With [`ServerConfig::stream_management`] it offers and runs
//! stream management (XEP-0198): acknowledgements, the unacknowledged queue, and with
//! [`ServerConfig::resumption`] resumption: once the stream is over the embedder detaches
//! the session's [`ResumptionState`] ([`Server::take_resumption_state`]) and keeps it for
//! its resumption timeout; a new `Server` that receives `<resume previd/>` after SASL asks
//! for it ([`ServerEvent::ResumeRequest`], answered with [`Server::resume`]). Every stanza
//! given to [`Server::send`] is acknowledged, sent again after a resumption, or handed back
//! once the session is over for good ([`Server::take_unacked`]). Every method that can
//! write or start a timer takes the time: timers count from it, and the ones due by then fire before the method returns.
//!
//! ```
//! use std::time::Instant;
//! use xmpp_sansio::sasl::UserCredential;
//! use xmpp_sansio::server::{Server, ServerConfig, ServerEvent};
//! use xmpp_sansio::stream::TlsPolicy;
//!
//! let now = Instant::now();
//! let mut config = ServerConfig::new("example.com", b"decoy salt secret".to_vec());
//! config.tls = TlsPolicy::Disabled; // an in-memory sketch: no TLS library here
//! config.allow_plain_without_tls = true;
//! let mut server = Server::new(config, 0x5eed, now); // a fresh seed per connection
//! server.handle_input(
//!     now,
//!     b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' \
//!       to='example.com' version='1.0'>",
//! )?;
//! let written = server.poll_transmit().expect("our header and features");
//! let written = std::str::from_utf8(&written)?;
//! assert!(written.contains("<mechanism>PLAIN</mechanism>"), "{written}");
//! assert!(matches!(server.poll_event(), Some(ServerEvent::StreamOpened)));
//!
//! // PLAIN for juliet (`\0juliet\0r0m30`): the embedder is asked for her credentials.
//! server.handle_input(
//!     now,
//!     b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGp1bGlldAByMG0zMA==</auth>",
//! )?;
//! let Some(ServerEvent::AuthRequest { authcid, .. }) = server.poll_event() else {
//!     panic!("an authentication request")
//! };
//! assert_eq!(authcid, "juliet");
//! server.credentials(now, UserCredential::Password("r0m30".into()))?;
//! let Some(ServerEvent::Authenticated(jid)) = server.poll_event() else { panic!() };
//! assert_eq!(jid.as_str(), "juliet@example.com");
//! assert!(server.poll_transmit().is_some_and(|b| b.starts_with(b"<success")));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::{
    SASL_NS, SaslFailureCondition, StanzaErrorCondition, StreamError, StreamErrorCondition,
};
use crate::jid::{BareJid, FullJid, Jid};
use crate::negotiate::bind::{BindMisuse, BindRequest, BindServer};
use crate::negotiate::sasl_server::{Accounts, AuthQuestion, NotAsked, Offer, SaslServerStep};
pub use crate::negotiate::sasl2::UserAgent;
use crate::negotiate::sasl2::{self, Authenticate, Bind2Request};
use crate::negotiate::starttls;
use crate::negotiate::{Negotiate, Next, Wire, session};
use crate::sasl::ht;
pub use crate::sasl::ht::{FastToken, HtMechanism};
use crate::sasl::{ChannelBinding, Mechanism, SaslServerConfig, UserCredential};
use crate::stanza::{IqRule, JABBER_CLIENT, Stanza, Triage, check_iq};
pub use crate::stream::CloseReason;
use crate::stream::engine::{
    Engine, InputRefused, Settings, StanzaRefused, StreamRole, stream_event, stream_methods,
};
use crate::stream::header::{Header, check_peer_header};
use crate::stream::management::{self, SM_NS, SmSettings};
use crate::stream::rng::Rng;
use crate::stream::tls::Transport;
use crate::stream::{BIND2_NS, Framing, SASL2_NS, StreamLimits, TLS_NS, TlsPolicy};
pub use crate::stream::{ResumptionState, UnackedLimits};
use crate::xml::{Element, Limits, Writer};

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
    fn handles(&self, el: &Element) -> bool {
        let ns = el.ns();
        self.nonza_namespaces.iter().any(|n| n == ns)
            || self.extra_features.iter().any(|f| f.ns() == ns)
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
            .field("max_auth_attempts", &self.max_auth_attempts)
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

/// What the server reports to the embedder.
#[derive(Debug, Clone)]
#[non_exhaustive]
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
    /// A SASL2 client chose this task of [`ServerConfig::sasl2_tasks`] (`<next task/>`):
    /// answer with [`Server::sasl2_task_data`] (a challenge), [`Server::sasl2_task_done`]
    /// or [`Server::sasl2_task_failed`].
    Sasl2Task(String),
    /// The client's `<task-data/>` for the running task (its children are the task's own
    /// elements): answered as [`ServerEvent::Sasl2Task`].
    Sasl2TaskData(Element),
    /// A SASL2 login presents a FAST token (XEP-0484 section 2.4) for `authcid`: answer
    /// with [`Server::fast_credentials`] giving the token kept for this client (its
    /// [`Server::user_agent`]) or `None`, or [`Server::fast_refuse`] (`credentials-expired`
    /// for a token no longer trusted). With `count` (TLS 0-RTT), refuse a count not above
    /// the last one seen for the token: the core does not keep counts. With `invalidate`,
    /// forget the token once [`ServerEvent::Authenticated`] follows.
    FastAuthRequest {
        /// The authentication identity (the username).
        authcid: String,
        /// The mechanism the token must have been issued for.
        mechanism: HtMechanism,
        /// `<fast count/>`, if given.
        count: Option<u32>,
        /// `<fast invalidate='true'/>`.
        invalidate: bool,
    },
    /// The client, authenticated as `account`, asks for a FAST token for `mechanism`
    /// (XEP-0484 section 2.2): store a new one (tied to its [`Server::user_agent`]) and give
    /// it with [`Server::issue_fast_token`], or `None` to give none.
    FastTokenRequest {
        /// The authenticated account.
        account: BareJid,
        /// The mechanism the token is for.
        mechanism: HtMechanism,
    },
    /// The client authenticated as `account` asks to bind `resource` (`None`: choose one,
    /// see [`Server::make_resource`]); answer with [`Server::bind`] (a full JID of
    /// `account`) or [`Server::reject_bind`].
    BindRequest {
        /// The account the client authenticated as.
        account: BareJid,
        /// The resource asked for, a valid resourcepart of `account`.
        resource: Option<String>,
    },
    /// The session is bound to this full JID: stanzas flow.
    Online(FullJid),
    /// A stanza from the client, with `from` stamped with its full JID.
    Stanza(Stanza),
    /// A first-level element that is not a stanza, in a namespace the embedder handles
    /// ([`ServerConfig::extra_features`], [`ServerConfig::nonza_namespaces`]): stream
    /// management's `<enable/>`, `<r/>`, `<a/>`, client state indication... Answer with
    /// [`Server::send`].
    Nonza(Element),
    /// Stream management is enabled ([`ServerConfig::stream_management`]): the client's
    /// `<enable/>` was answered with `<enabled/>`, and acks flow.
    StreamManagementEnabled,
    /// The client acknowledged this many more of our stanzas (XEP-0198 `<a/>`), the oldest
    /// unacknowledged first: stanzas are acknowledged in the order they were sent.
    Acked(u32),
    /// The client, authenticated as `account`, asks to resume the session `previd`
    /// (XEP-0198 `<resume/>`): answer with [`Server::resume`], giving the state detached
    /// from that session ([`Server::take_resumption_state`]), or `None` when there is none
    /// (unknown, or expired). A state of another account is refused like an unknown one.
    ResumeRequest {
        /// The account the client authenticated as.
        account: BareJid,
        /// The stream management id of the session to resume.
        previd: String,
    },
    /// The session was resumed (`<resumed/>` is out), bound to this full JID again: what
    /// the client had not acknowledged is sent again, and stanzas flow.
    Resumed(FullJid),
    /// The client sent a stream error ([`ServerEvent::Closed`] follows).
    PeerStreamError(Box<StreamError>),
    /// The stream is over, for this reason; close the transport. Nothing is reported after
    /// it.
    Closed(CloseReason),
}

stream_event!(ServerEvent, tls => TlsRequested, acked => Acked);

/// Why a call did nothing: the stream has ended ([`ServerError::StreamEnded`], an outcome
/// to ignore: see [`is_stream_ended`](Self::is_stream_ended)), or the embedder called a
/// method that does not fit the state ([`is_misuse`](Self::is_misuse)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
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
    /// The stream has ended, or our closing tag is out: nothing more can be written (RFC
    /// 6120 section 4.4). Not a mistake: the client may close, or a timer fire, between an
    /// event and the answer to it (a stanza and `</stream:stream>` in one read), so the
    /// answer comes too late and is dropped. [`ServerEvent::Closed`] says why.
    StreamEnded,
    /// [`Server::send_with`] left an element open: nothing was sent.
    Unbalanced,
    /// [`Server::send`] was given an iq that breaks this rule of RFC 6120 section 8.2.3,
    /// which the client would have to refuse: nothing was sent.
    InvalidIq(IqRule),
    /// [`Server::request_ack`] without stream management enabled
    /// ([`ServerEvent::StreamManagementEnabled`]).
    StreamManagementNotEnabled,
    /// Stream management's unacknowledged queue is at its limits
    /// ([`ServerConfig::unacked_limits`]): nothing was sent, and the client was asked for
    /// an ack; send again after the next [`ServerEvent::Acked`].
    UnackedQueueFull,
    /// [`Server::resume`] without a [`ServerEvent::ResumeRequest`] to answer.
    NoResumeRequest,
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
            ServerError::StreamEnded => "the stream has already ended; nothing was sent",
            ServerError::Unbalanced => "the stanza written left an element open; nothing was sent",
            ServerError::StreamManagementNotEnabled => {
                "stream management (XEP-0198) is not enabled"
            }
            ServerError::UnackedQueueFull => {
                "too many stanzas await the client's acknowledgement (XEP-0198); nothing was sent"
            }
            ServerError::NoResumeRequest => "no resumption request to answer",
            ServerError::InvalidIq(rule) => {
                return write!(f, "the iq breaks a rule, so nothing was sent: {rule}");
            }
        })
    }
}

impl std::error::Error for ServerError {}

impl ServerError {
    /// The stream has ended ([`ServerError::StreamEnded`]): the call came too late to
    /// matter, and can be ignored; the `Closed` event says why the stream ended.
    pub fn is_stream_ended(&self) -> bool {
        *self == ServerError::StreamEnded
    }

    /// The embedder called a method that does not fit the state (a bug to fix in the
    /// embedder): every error but [`StreamEnded`](ServerError::StreamEnded) and
    /// [`UnackedQueueFull`](ServerError::UnackedQueueFull).
    pub fn is_misuse(&self) -> bool {
        !self.is_stream_ended() && *self != ServerError::UnackedQueueFull
    }
}

impl From<InputRefused> for ServerError {
    fn from(_: InputRefused) -> Self {
        // A server is never idle: it waits for the client from the start, so only TLS being
        // set up refuses input.
        ServerError::AwaitingTls
    }
}

/// Which negotiation step runs, and what the steps before it established. Whether the
/// stream is open, securing, closing or over is the engine's.
enum State {
    /// Not authenticated: STARTTLS (when offered) or SASL runs next. The SASL step counts
    /// failed attempts across the restart after TLS.
    Unauthenticated(SaslServerStep),
    /// Authenticated: resource binding runs, for the account the step holds.
    Authenticated(BindServer),
    /// Stanzas flow, from the client bound to this full JID.
    Online(FullJid),
    /// The client asked to resume a session (XEP-0198 `<resume/>`); the embedder answers.
    Resuming(Box<ResumeAsk>),
    /// SASL2 authenticated the client, whose Bind 2 request the embedder answers before
    /// `<success/>` goes out (XEP-0386 section 2.2).
    Sasl2Binding(Box<Sasl2Binding>),
    /// SASL2's mechanism succeeded and `<continue/>` asked for a task (XEP-0388 section
    /// 2.5.3).
    Sasl2Task(Box<Sasl2Tasks>),
    /// SASL2 authenticated the client, whose inline `<resume/>` the embedder answers.
    Sasl2Resuming(Box<Sasl2Resume>),
    /// A FAST login: the embedder is asked for the token.
    FastAuth(Box<FastAuth>),
    /// SASL2 authenticated the client, which asked for a FAST token: the embedder issues it.
    FastIssue(Box<FastIssue>),
}

/// A SASL2 login between `<continue/>` and the end of its task.
struct Sasl2Tasks {
    /// The SASL step, to go back to when the task fails.
    sasl: SaslServerStep,
    account: BareJid,
    /// The inline requests, answered once the task is done.
    asks: InlineAsks,
    /// The task the client chose, once it chose.
    running: Option<String>,
}

/// A SASL2 login waiting for the embedder's bind.
struct Sasl2Binding {
    /// The SASL step, to go back to when the bind is refused (a SASL2 `<failure/>`).
    sasl: SaslServerStep,
    account: BareJid,
    /// The mechanism's final data, for `<additional-data/>`.
    additional_data: Vec<u8>,
    request: Bind2Request,
    /// An inline resumption was refused: its `<failed/>` goes into `<success/>`.
    resume_failed: Option<StanzaErrorCondition>,
}

/// A FAST login waiting for the embedder's token.
struct FastAuth {
    sasl: SaslServerStep,
    account: BareJid,
    mechanism: HtMechanism,
    /// The client's `HMAC(token, "Initiator" || cb)`.
    hashed: Vec<u8>,
    /// The channel-binding data the mechanism covers (empty for `-NONE`).
    cb: Vec<u8>,
    asks: InlineAsks,
}

/// A SASL2 login waiting for the FAST token the embedder issues.
struct FastIssue {
    sasl: SaslServerStep,
    account: BareJid,
    additional_data: Vec<u8>,
    asks: InlineAsks,
}

/// What a SASL2 login asked inline, answered once it is authenticated.
struct InlineAsks {
    /// FAST `<request-token/>`, for an offered mechanism.
    token: Option<HtMechanism>,
    bind: Option<Bind2Request>,
    /// XEP-0198 `<resume previd h/>`, as sent.
    resume: Option<(Option<String>, Option<u32>)>,
}

/// A SASL2 login whose inline `<resume/>` the embedder answers (XEP-0198 with SASL2):
/// resumed, `<success/>` carries `<resumed/>`; refused, `<failed/>` and the bind request
/// are answered instead (XEP-0386 section 2.2's note).
struct Sasl2Resume {
    sasl: SaslServerStep,
    account: BareJid,
    additional_data: Vec<u8>,
    bind: Option<Bind2Request>,
    previd: String,
    h: u32,
}

/// A `<resume/>` the embedder is to answer.
struct ResumeAsk {
    account: BareJid,
    previd: String,
    /// The client's `h`: how many of our stanzas of that session it handled.
    h: u32,
}

/// The server side of one c2s stream.
pub struct Server {
    config: Arc<ServerConfig>,
    engine: Engine<ServerEvent>,
    state: State,
    rng: Rng,
    /// No header is out yet: the first takes [`ServerConfig::stream_id`] when the embedder
    /// chose one; every later header gets a fresh id.
    first_header: bool,
    /// The domain the client asked for in its latest header: its index in
    /// [`ServerConfig::domains`] (an index, not a copy: sessions are many, domains few).
    domain: u32,
}

impl core::fmt::Debug for Server {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let (account, bound) = match &self.state {
            State::Unauthenticated(_) => (None, None),
            State::Authenticated(bind) => (Some(bind.account().clone()), None),
            State::Online(jid) => (Some(jid.to_bare()), Some(jid)),
            State::Resuming(ask) => (Some(ask.account.clone()), None),
            State::Sasl2Binding(b) => (Some(b.account.clone()), None),
            State::Sasl2Task(t) => (Some(t.account.clone()), None),
            State::Sasl2Resuming(r) => (Some(r.account.clone()), None),
            State::FastAuth(f) => (Some(f.account.clone()), None),
            State::FastIssue(f) => (Some(f.account.clone()), None),
        };
        f.debug_struct("Server")
            .field("domain", &domain_at(&self.config, self.domain))
            .field("encrypted", &self.engine.transport().is_encrypted())
            .field("account", &account)
            .field("bound", &bound)
            .finish_non_exhaustive()
    }
}

/// The served domain at `index` of [`ServerConfig::domains`].
fn domain_at(config: &ServerConfig, index: u32) -> &str {
    let index = usize::try_from(index).unwrap_or(usize::MAX);
    config.domains.get(index).map_or("", String::as_str)
}

impl Server {
    /// A server side for a new connection; it waits for the client's header from `now`.
    ///
    /// `config` is shared by every session of the server (pass an `Arc` to share it, or a
    /// `ServerConfig` for one session); `seed` seeds this session's generator of stream
    /// ids, nonces and resources: give each connection fresh randomness from the operating
    /// system.
    pub fn new(config: impl Into<Arc<ServerConfig>>, seed: u64, now: Instant) -> Self {
        let config = config.into();
        let settings = Settings {
            content_ns: JABBER_CLIENT,
            limits: config.limits_for(false),
            response_timeout: config.response_timeout,
            keepalive: config.keepalive,
        };
        let mut engine = Engine::receiving(settings, now);
        engine.set_framing(config.framing);
        Server {
            engine,
            rng: Rng::new(seed),
            first_header: true,
            domain: 0,
            state: State::Unauthenticated(SaslServerStep::new(config.max_auth_attempts)),
            config,
        }
    }

    /// Bytes received from the client, at time `now` (with WebSocket framing, one whole
    /// message per call: see [`Framing`]). Nothing received after `<starttls/>`
    /// in the same input is processed, and input before
    /// [`tls_established`](Self::tls_established) is discarded
    /// ([`ServerError::AwaitingTls`]). Once the stream is over, input is ignored.
    ///
    /// # Errors
    ///
    /// [`ServerError::AwaitingTls`] while TLS is being set up. The client's faults are not
    /// errors here: they end the stream, which the events report.
    pub fn handle_input(&mut self, now: Instant, data: &[u8]) -> Result<(), ServerError> {
        self.at(now, |s| s.input(data)).map_err(ServerError::from)
    }

    /// The transport is TLS from its first byte (XEP-0368 direct TLS, port 5223 with ALPN
    /// `xmpp-client`): call right after [`new`](Self::new), once the handshake is done and
    /// before any input, with the channel-binding data the TLS library exports and whether
    /// the client presented a verified certificate. STARTTLS is then never offered,
    /// [`ServerConfig::tls`] `Required` is met, and SASL (`-PLUS`, `EXTERNAL`, `PLAIN`)
    /// is offered in the first features.
    ///
    /// # Errors
    ///
    /// [`ServerError::NoTlsRequested`] once the client's header was read (or TLS is up).
    pub fn direct_tls(
        &mut self,
        channel_bindings: Vec<ChannelBinding>,
        client_certificate: bool,
    ) -> Result<(), ServerError> {
        let transport = Transport::Tls {
            channel_bindings: channel_bindings.into_boxed_slice(),
            peer_certificate: client_certificate,
        };
        if self.engine.direct_tls(transport) {
            Ok(())
        } else {
            Err(ServerError::NoTlsRequested)
        }
    }

    /// TLS is up at time `now`; `channel_bindings` are the data the TLS library exports for
    /// SCRAM `-PLUS` (one per type it supports; empty for none). The client restarts the
    /// stream next.
    ///
    /// # Errors
    ///
    /// [`ServerError::NoTlsRequested`] without a [`ServerEvent::TlsRequested`] to answer;
    /// [`ServerError::StreamEnded`] when the stream has ended meanwhile.
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
    ///
    /// # Errors
    ///
    /// As [`tls_established`](Self::tls_established).
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
                return Err(ServerError::StreamEnded);
            }
            let transport = Transport::Tls {
                channel_bindings: channel_bindings.into(),
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
    ///
    /// # Errors
    ///
    /// [`ServerError::NoAuthRequest`] without a [`ServerEvent::AuthRequest`] to answer;
    /// [`ServerError::StreamEnded`] when the stream has ended meanwhile (ignore it).
    pub fn credentials(
        &mut self,
        now: Instant,
        credential: UserCredential,
    ) -> Result<(), ServerError> {
        self.at(now, |s| {
            s.answer_sasl(|sasl, accounts, out| sasl.credentials(credential, None, accounts, out))
        })
    }

    /// Answers [`ServerEvent::AuthRequest`] as [`credentials`](Self::credentials) does, and
    /// lets the account also act as `delegate` (proxy authorization: an administrator, a
    /// gateway, whatever rights the embedder keeps). When the client asked for exactly that
    /// authzid, the session authenticates as `delegate` (it is the JID of
    /// [`ServerEvent::Authenticated`] and the one to bind); an authzid that names anyone
    /// else is still refused with `invalid-authzid`.
    ///
    /// # Errors
    ///
    /// As [`credentials`](Self::credentials).
    pub fn credentials_acting_as(
        &mut self,
        now: Instant,
        credential: UserCredential,
        delegate: &BareJid,
    ) -> Result<(), ServerError> {
        self.at(now, |s| {
            s.answer_sasl(|sasl, accounts, out| {
                sasl.credentials(credential, Some(delegate), accounts, out)
            })
        })
    }

    /// Answers [`ServerEvent::ExternalRequest`] at time `now`: the client certificate, which
    /// the embedder has checked, authenticates the client as `identity`, and the session
    /// authenticates as it. An authzid that names anyone else is refused with
    /// `invalid-authzid` (RFC 6120 section 6.4.6).
    ///
    /// # Errors
    ///
    /// [`ServerError::NoAuthRequest`] without a [`ServerEvent::ExternalRequest`] to
    /// answer; [`ServerError::StreamEnded`] when the stream has ended meanwhile.
    pub fn external(&mut self, now: Instant, identity: BareJid) -> Result<(), ServerError> {
        self.at(now, |s| {
            s.answer_sasl(|sasl, accounts, out| sasl.external(Some(identity), accounts, out))
        })
    }

    /// Answers [`ServerEvent::ExternalRequest`] at time `now`: the certificate does not
    /// authenticate the client (`not-authorized`, RFC 6120 section 6.5.10).
    ///
    /// # Errors
    ///
    /// As [`external`](Self::external).
    pub fn refuse_external(&mut self, now: Instant) -> Result<(), ServerError> {
        self.at(now, |s| {
            s.answer_sasl(|sasl, accounts, out| sasl.external(None, accounts, out))
        })
    }

    /// Gives the embedder's answer to the SASL step, if it asked.
    fn answer_sasl(
        &mut self,
        answer: impl FnOnce(
            &mut SaslServerStep,
            Accounts<'_>,
            &mut Engine<ServerEvent>,
        ) -> Result<Next<BareJid, AuthQuestion>, NotAsked>,
    ) -> Result<(), ServerError> {
        if self.engine.is_ending() {
            // An answer that no longer matters is not the misuse of answering nothing.
            return Err(ServerError::StreamEnded);
        }
        let State::Unauthenticated(sasl) = &mut self.state else {
            return Err(ServerError::NoAuthRequest);
        };
        let accounts = Accounts {
            domain: domain_at(&self.config, self.domain),
            rng: &mut self.rng,
            protected_header: protected_header(&self.engine),
        };
        let next = answer(sasl, accounts, &mut self.engine)
            .map_err(|NotAsked| ServerError::NoAuthRequest)?;
        if let Some(account) = self.follow(next) {
            self.authenticated(account);
        }
        Ok(())
    }

    /// Answers [`ServerEvent::BindRequest`] at time `now`: the session is bound to `jid`,
    /// which must be of the authenticated account. The keepalive, if configured, runs from
    /// `now`.
    ///
    /// # Errors
    ///
    /// [`ServerError::NoBindRequest`] without a [`ServerEvent::BindRequest`] to answer,
    /// [`ServerError::WrongAccount`] for a JID of another account;
    /// [`ServerError::StreamEnded`] when the stream has ended meanwhile.
    pub fn bind(&mut self, now: Instant, jid: FullJid) -> Result<(), ServerError> {
        self.at(now, |s| {
            if let State::Sasl2Binding(b) = &s.state {
                if s.engine.is_ending() {
                    return Err(ServerError::StreamEnded);
                }
                if jid.to_bare() != b.account {
                    return Err(ServerError::WrongAccount);
                }
                s.sasl2_bound(jid);
                return Ok(());
            }
            let next = s.answer_bind(|bind, out| bind.bind(jid, out))?;
            if let Some(jid) = s.follow(next) {
                s.state = State::Online(jid.clone());
                s.engine.negotiated();
                s.engine.report(ServerEvent::Online(jid));
            }
            Ok(())
        })
    }

    /// Answers [`ServerEvent::BindRequest`] at time `now` with an error (`conflict`,
    /// `not-allowed`, `resource-constraint`...); the client may ask again within the
    /// response timeout.
    ///
    /// # Errors
    ///
    /// As [`bind`](Self::bind).
    pub fn reject_bind(
        &mut self,
        now: Instant,
        condition: StanzaErrorCondition,
    ) -> Result<(), ServerError> {
        self.at(now, |s| {
            if matches!(s.state, State::Sasl2Binding(_)) && !s.engine.is_ending() {
                s.sasl2_bind_refused(&condition);
                return Ok(());
            }
            let next = s.answer_bind(|bind, out| bind.reject(condition, out))?;
            s.follow(next);
            Ok(())
        })
    }

    /// Gives the embedder's answer to the bind step, if it asked.
    fn answer_bind(
        &mut self,
        answer: impl FnOnce(
            &mut BindServer,
            &mut Engine<ServerEvent>,
        ) -> Result<Next<FullJid>, BindMisuse>,
    ) -> Result<Next<FullJid>, ServerError> {
        if self.engine.is_ending() {
            return Err(ServerError::StreamEnded);
        }
        let State::Authenticated(bind) = &mut self.state else {
            return Err(ServerError::NoBindRequest);
        };
        answer(bind, &mut self.engine).map_err(|misuse| match misuse {
            BindMisuse::NotAsked => ServerError::NoBindRequest,
            BindMisuse::WrongAccount => ServerError::WrongAccount,
        })
    }

    /// A fresh, unguessable resource for a client that lets the server choose (RFC 6120
    /// section 7.6.1), from the embedder-seeded generator.
    pub fn make_resource(&mut self) -> String {
        self.rng.token(16)
    }

    /// Sends a stanza to the client (once online) at time `now`, in `jabber:client` whichever
    /// content namespace it was built or parsed in (payloads in other namespaces keep
    /// theirs); or a first-level element of a namespace the embedder handles
    /// (an answer to [`ServerEvent::Nonza`]), which carries its own. For a stanza the
    /// embedder builds, [`send_with`](Self::send_with) writes it straight into the output.
    ///
    /// An iq that breaks a rule of RFC 6120 section 8.2.3 (no `id`, no valid `type`, a
    /// `get` or `set` without exactly one child...) is refused with
    /// [`ServerError::InvalidIq`]: the server must not deliver what the client has to
    /// refuse.
    ///
    /// # Errors
    ///
    /// [`ServerError::NotOnline`] before [`ServerEvent::Online`];
    /// [`ServerError::InvalidIq`] for an iq that breaks RFC 6120 section 8.2.3;
    /// [`ServerError::StreamEnded`] once the stream has ended (a late answer: ignore it).
    pub fn send(&mut self, now: Instant, stanza: &Element) -> Result<(), ServerError> {
        check_iq(stanza).map_err(ServerError::InvalidIq)?;
        self.send_with(now, |w| {
            w.element(stanza.root(), JABBER_CLIENT);
        })
    }

    /// Sends the stanza that `write` writes (once online) at time `now`, straight into the
    /// output: a stanza built with the [`stanza`](crate::stanza) builders' `write_to` is
    /// written once, never parsed or serialized again. An unprefixed element is in
    /// `jabber:client`, the stream's default namespace; any other needs its `xmlns`. Nothing
    /// is sent when `write` leaves an element open ([`ServerError::Unbalanced`]).
    ///
    /// The IQ rules that [`send`](Self::send) checks are not checked here: what `write`
    /// writes is never read back. [`IqBuilder`](crate::stanza::IqBuilder) gives every iq an
    /// id and a type; its caller gives a `get` or `set` its one payload.
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send) (save [`ServerError::InvalidIq`]), and
    /// [`ServerError::Unbalanced`].
    pub fn send_with(
        &mut self,
        now: Instant,
        write: impl FnOnce(&mut Writer<'_>),
    ) -> Result<(), ServerError> {
        self.at(now, |s| {
            s.online()?;
            s.engine
                .write_stanza(write, None)
                .map_err(|refused| match refused {
                    StanzaRefused::QueueFull => ServerError::UnackedQueueFull,
                    _ => ServerError::Unbalanced,
                })
        })
    }

    /// Answers a stanza from the client at time `now` with a stanza error (for example
    /// `service-unavailable` for an iq nobody handles, RFC 6120 8.4), with swapped
    /// addresses and the same id. Nothing is sent for an error or an iq result (no reply
    /// to those, RFC 6120 8.3.1 and 8.2.3): the result says whether a reply went out.
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send).
    pub fn reply_error(
        &mut self,
        now: Instant,
        to: &Stanza,
        condition: StanzaErrorCondition,
    ) -> Result<bool, ServerError> {
        self.at(now, |s| {
            s.online()?;
            Ok(s.engine.error_reply(to, condition))
        })
    }

    /// Asks the client at time `now` to acknowledge what it handled (XEP-0198 `<r/>`); its
    /// `<a/>` is reported as [`ServerEvent::Acked`] when it acknowledges anything new.
    ///
    /// # Errors
    ///
    /// [`ServerError::StreamManagementNotEnabled`] before
    /// [`ServerEvent::StreamManagementEnabled`]; [`ServerError::StreamEnded`] once the
    /// stream has ended.
    pub fn request_ack(&mut self, now: Instant) -> Result<(), ServerError> {
        self.at(now, |s| {
            if s.engine.is_ending() {
                return Err(ServerError::StreamEnded);
            }
            if !s.engine.sm_request() {
                return Err(ServerError::StreamManagementNotEnabled);
            }
            Ok(())
        })
    }

    /// Answers [`ServerEvent::ResumeRequest`] at time `now` with the state detached from
    /// the session the client named ([`take_resumption_state`](Self::take_resumption_state)
    /// of its `Server`), or `None` when there is none. A state of another id, or of another
    /// account than the client authenticated as, is refused as unknown (XEP-0198 section 5:
    /// `<failed><item-not-found/></failed>`; the client may bind instead) and dropped.
    /// Otherwise `<resumed previd h/>` goes out, the stanzas the client did not acknowledge
    /// are sent again, the counters go on from the state's, and
    /// [`ServerEvent::Resumed`] follows; an `h` of the client beyond what the session sent
    /// ends the stream (`undefined-condition`, XEP-0198 section 4), and the state's stanzas
    /// can then be taken back with [`take_unacked`](Self::take_unacked).
    ///
    /// # Errors
    ///
    /// [`ServerError::NoResumeRequest`] without a request to answer;
    /// [`ServerError::StreamEnded`] when the stream has ended meanwhile.
    pub fn resume(
        &mut self,
        now: Instant,
        state: Option<ResumptionState>,
    ) -> Result<(), ServerError> {
        self.at(now, |s| {
            if s.engine.is_ending() {
                return Err(ServerError::StreamEnded);
            }
            if matches!(s.state, State::Sasl2Resuming(_)) {
                s.sasl2_resume(state);
                return Ok(());
            }
            let State::Resuming(ask) = &s.state else {
                return Err(ServerError::NoResumeRequest);
            };
            // Binding is what follows a refusal; success replaces it with `Online`.
            let bind = BindServer::new(ask.account.clone());
            let State::Resuming(ask) = std::mem::replace(&mut s.state, State::Authenticated(bind))
            else {
                return Err(ServerError::NoResumeRequest);
            };
            let state = state.filter(|st| st.id == ask.previd && st.jid.to_bare() == ask.account);
            let Some(state) = state else {
                let condition = StanzaErrorCondition::ItemNotFound;
                s.engine
                    .write_element(|w| management::write_failed(w, &condition));
                s.engine.await_peer();
                return Ok(());
            };
            let jid = state.jid.clone();
            s.engine.sm_resume_from(state, s.sm_settings());
            let h = s.engine.sm_handled();
            s.engine
                .write_element(|w| management::write_resume(w, "resumed", &ask.previd, h));
            s.state = State::Online(jid.clone());
            s.engine.negotiated();
            match s.engine.sm_resumed(ask.h) {
                Ok(()) => s.engine.report(ServerEvent::Resumed(jid)),
                Err(error) => s.close_with_error(error),
            }
            Ok(())
        })
    }

    /// Once the stream is over ([`ServerEvent::Closed`]): the session's state for a later
    /// resumption, when the client enabled it (`<enabled resume='true'/>`): keep it for
    /// [`ServerConfig::resumption`] seconds at most, and give it to the `Server` whose
    /// [`ServerEvent::ResumeRequest`] names its id. `None` before the end, without
    /// resumption, or once taken (the unacknowledged stanzas go with it). Output not yet
    /// taken with [`poll_transmit`](Self::poll_transmit) is dropped: the transport is gone.
    pub fn take_resumption_state(&mut self) -> Option<ResumptionState> {
        self.engine.sm_take_state()
    }

    /// Once the stream is over for good (or a detached state expired, see
    /// [`ResumptionState::unacked`]): the stanzas the client did not acknowledge, oldest
    /// first, as they were sent, for the embedder to deliver otherwise (offline storage,
    /// bounce). Empty without stream management, before the end, or once taken.
    pub fn take_unacked(&mut self) -> Vec<bytes::Bytes> {
        self.engine.sm_take_unacked()
    }

    /// Stream management's settings, from the configuration.
    fn sm_settings(&self) -> SmSettings {
        SmSettings {
            request_every: self.config.ack_request_every,
            request_after: self.config.ack_request_after,
            limits: self.config.unacked_limits,
        }
    }

    /// With stream management enabled: how many of the stanzas sent since `<enabled/>` the
    /// client has not acknowledged yet.
    pub fn unacked(&self) -> Option<u32> {
        self.engine.sm_unacked()
    }

    stream_methods!(ServerEvent);

    /// Closes the stream at time `now` sending the client to another endpoint: over
    /// WebSocket, `<close see-other-uri='uri'/>` (RFC 7395 section 3.6.1), then the close
    /// handshake as [`close`](Self::close). Over TCP nothing is done and the answer is
    /// false: use [`close_with`](Self::close_with) and `see-other-host` there.
    pub fn close_see_other_uri(&mut self, now: Instant, uri: &str) -> bool {
        self.at(now, |s| StreamRole::close_see_other_uri(s, uri))
    }

    /// Can stanzas be sent?
    fn online(&self) -> Result<(), ServerError> {
        if self.engine.is_ending() {
            Err(ServerError::StreamEnded)
        } else if matches!(self.state, State::Online(_)) {
            Ok(())
        } else {
            Err(ServerError::NotOnline)
        }
    }

    /// SASL succeeded as `account` and the stream restarted (RFC 6120 section 6.4.6):
    /// binding is next, on the authenticated stream.
    fn authenticated(&mut self, account: BareJid) {
        if let State::Unauthenticated(sasl) = &mut self.state {
            if let Some(request) = sasl.take_sasl2_request() {
                return self.sasl2_authenticated(account, request);
            }
        }
        self.engine
            .report(ServerEvent::Authenticated(account.clone()));
        self.state = State::Authenticated(BindServer::new(account));
        self.restarted();
    }

    /// After a restart (TLS, or SASL success): the client's new header is expected, under
    /// the limits of the stream's stage.
    fn restarted(&mut self) {
        let authenticated = !matches!(self.state, State::Unauthenticated(_));
        let limits = self.config.limits_for(authenticated);
        self.engine.parser_mut().set_limits(limits);
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

    /// How an `<auth/>` is met now.
    fn sasl_offer(&self) -> Offer {
        let transport = self.engine.transport();
        let encrypted = transport.is_encrypted();
        Offer {
            encryption_required: !encrypted && self.config.tls == TlsPolicy::Required,
            settings: SaslServerConfig {
                offered: self.offered_mechanisms(),
                encrypted: encrypted || self.config.allow_plain_without_tls,
                channel_bindings: transport.channel_bindings().to_vec(),
                secret: self.config.sasl_secret.clone(),
                scram_iterations: self.config.scram_iterations,
                downgrade_protection: self.config.downgrade_protection.then(|| {
                    // What `send_features` advertised: the mechanisms (the same list for
                    // RFC 6120 SASL and SASL2), and the channel-binding types when a
                    // `-PLUS` mechanism is among them (XEP-0440).
                    let offered = self.offered_mechanisms();
                    let names: Vec<&str> = offered.iter().map(|m| m.name()).collect();
                    let cbs: Vec<&str> = transport
                        .channel_bindings()
                        .iter()
                        .map(|cb| cb.kind.name())
                        .collect();
                    let plus = offered.iter().any(|m| m.is_plus());
                    crate::sasl::downgrade_protection_input(&names, plus.then_some(&cbs[..]))
                }),
            },
            nonce: self.config.server_nonce.clone(),
        }
    }

    /// The features of the stream's stage (RFC 6120 section 4.3.2): STARTTLS and SASL
    /// before authentication (only STARTTLS while TLS is required and not up), binding,
    /// the optional session and the embedder's features after it.
    fn send_features(&mut self) {
        let encrypted = self.engine.transport().is_encrypted();
        let authenticated = !matches!(self.state, State::Unauthenticated(_));
        // RFC 7395 section 3.7: never offered over WebSocket.
        let starttls = !encrypted && !self.engine.framing().is_websocket();
        let tls_first = starttls && self.config.tls == TlsPolicy::Required;
        // TLS comes before SASL (RFC 6120 5.3.1): never offered after authentication.
        let offer_tls = starttls && !authenticated && self.config.tls != TlsPolicy::Disabled;
        // Inline resumption (XEP-0198 with SASL2) is offered when resumption is.
        let sasl2_resume = self.config.stream_management && self.config.resumption.is_some();
        let fast = self.fast_offered();
        let mechanisms = self.offered_mechanisms();
        let limits = self.config.advertise_limits.then(|| StreamLimits {
            max_bytes: Some(self.engine.parser().limits().max_element_bytes as u64),
            idle_seconds: None,
        });
        let channel_bindings = self.engine.transport().channel_bindings().to_vec();
        let extra = &self.config.extra_features;
        // After a SASL2 login that bound with Bind 2 (and maybe enabled stream management
        // inside it), what is done is not offered again.
        let bound = matches!(self.state, State::Online(_));
        let stream_management = self.config.stream_management && !self.engine.sm_begun();
        let sasl2 = self.config.sasl2;
        let bind2 = self.config.bind2;
        let bind2_sm = self.config.stream_management;
        self.engine.write_element(|w| {
            w.start("stream:features");
            if offer_tls {
                starttls::write_feature(w, tls_first);
            }
            if !authenticated {
                if !tls_first {
                    SaslServerStep::write_feature(w, &mechanisms, &channel_bindings);
                    if sasl2 && !mechanisms.is_empty() {
                        sasl2::write_feature(
                            w,
                            &mechanisms,
                            bind2,
                            bind2 && bind2_sm,
                            sasl2_resume,
                            &fast,
                        );
                    }
                }
            } else {
                if !bound {
                    BindServer::write_feature(w);
                    session::write_feature(w);
                }
                if stream_management {
                    management::write_feature(w);
                }
                for feature in extra {
                    w.element(feature.root(), JABBER_CLIENT);
                }
            }
            if let Some(limits) = limits {
                limits.write(w);
            }
            w.end("stream:features");
        });
    }

    /// `<starttls/>`: TLS is set up when it can be now (not yet up, offered, and nothing
    /// authenticated yet), else `<failure/>` and the stream is over.
    fn on_starttls(&mut self) {
        let can_proceed = !self.engine.transport().is_encrypted()
            && !self.engine.framing().is_websocket()
            && matches!(self.state, State::Unauthenticated(_))
            && self.config.tls != TlsPolicy::Disabled;
        let next = starttls::answer(can_proceed, &mut self.engine);
        self.follow(next);
    }
}

/// The client's stream header when TLS protected it, for SASL to correlate its `from` with
/// the identity that authenticates (RFC 6120 section 6.4.6). The header's buffer is shared,
/// not copied.
fn protected_header(engine: &Engine<ServerEvent>) -> Option<Element> {
    let header = engine.parser().header()?;
    engine.transport().is_encrypted().then(|| header.clone())
}

/// A client's stanza after [`stamp`].
enum Stamped {
    /// Checked, with `from` (and `xml:lang` when it had none) set.
    Stanza(Stanza),
    /// `to` or `from` is not a JID: answered with `jid-malformed` (RFC 6120 section
    /// 8.3.3.8: an error for this stanza, not the stream).
    Malformed(Stanza),
    /// `from` is another entity's: `invalid-from` (section 4.9.3.9).
    Spoofed,
}

/// A stanza from the client bound to `full`, checked and stamped (RFC 6120 section 8.1.2.1).
///
/// `lang` is the `xml:lang` of the client's stream header, if it has one: a stanza without
/// its own gets it (RFC 6120 section 4.7.4: the server "SHOULD add the 'xml:lang' attribute
/// to the stanza when routing it ... or delivering it"), in the same copy as `from`; a
/// stanza's own is kept ("MUST NOT modify or delete").
fn stamp(full: &FullJid, stanza: Stanza, lang: Option<&str>) -> Stamped {
    let (to, from) = stanza.raw_addresses();
    // `to` is only checked (the embedder routes by it); a `from` written as the session's
    // full JID, as clients that send one do, is that JID as prepared and needs no parse.
    let to_ok = to.as_deref().is_none_or(|t| Jid::check(t).is_ok());
    let stamped_already = from.as_deref() == Some(full.as_str());
    let from = match from.as_deref() {
        Some(f) if f == full.as_str() => Ok(None),
        Some(f) => Jid::parse(f).map(Some),
        None => Ok(None),
    };
    let (Ok(from), true) = (from, to_ok) else {
        return Stamped::Malformed(stanza);
    };
    if let Some(j) = from {
        // A from other than the session's bare or full JID is spoofed.
        let ours = j.as_str() == full.as_str()
            || (j.resource().is_none() && j.to_bare() == full.to_bare());
        if !ours {
            return Stamped::Spoofed;
        }
    }
    let lang = lang.filter(|_| stanza.lang().is_none());
    // The parser stamps the stanza as it freezes it (`engine_and_stamp`); a copy is made
    // only for what it could not: a `from` that the client wrote as its bare JID.
    if stamped_already && lang.is_none() {
        return Stamped::Stanza(stanza);
    }
    Stamped::Stanza(stanza.with_attr_and_lang("from", full.as_str(), lang))
}

impl StreamRole for Server {
    type Event = ServerEvent;

    fn engine(&mut self) -> &mut Engine<ServerEvent> {
        &mut self.engine
    }

    fn engine_and_stamp(&mut self) -> (&mut Engine<ServerEvent>, Option<&str>) {
        let from = match &self.state {
            State::Online(jid) => Some(jid.as_str()),
            _ => None,
        };
        (&mut self.engine, from)
    }

    fn write_header(&mut self) {
        let chosen = self.config.stream_id.as_ref().filter(|_| self.first_header);
        let id = chosen.cloned().unwrap_or_else(|| self.rng.token(16));
        self.first_header = false;
        let to = self
            .engine
            .parser()
            .header()
            .and_then(|h| h.attr("from").map(|f| f.into_owned()));
        self.engine.write_header(Header {
            to: to.as_deref(),
            from: Some(domain_at(&self.config, self.domain)),
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
                .position(|d| d.as_str() == jid.domain())
                .and_then(|i| u32::try_from(i).ok()),
            _ => None,
        };
        let Some(domain) = domain else {
            return self.stream_error(StreamErrorCondition::HostUnknown);
        };
        self.domain = domain;
        self.write_header();
        self.engine.report(ServerEvent::StreamOpened);
        self.send_features();
        self.engine.await_peer();
    }

    fn on_element(&mut self, el: Element) {
        match self.engine.stanza(el) {
            Ok(stanza) => self.on_stanza(stanza),
            Err(el) => self.on_nonza(el),
        }
    }
}

impl Server {
    /// A stanza: the bind step's while it runs, the embedder's once online (after the
    /// checks of RFC 6120 section 8.1.2.1), refused before that.
    fn on_stanza(&mut self, stanza: Stanza) {
        match &mut self.state {
            State::Authenticated(bind) if bind.takes(stanza.element()) => {
                let next = bind.on_iq(stanza.element(), &mut self.engine);
                self.follow(next);
            }
            State::Online(_) if session::is_request(stanza.element()) => {
                // A legacy client establishing the (optional) session: done already.
                session::answer(stanza.element(), &mut self.engine);
            }
            State::Online(jid) => {
                // The header's xml:lang is the default language of the client's stanzas.
                let lang = self.engine.parser().header_lang();
                match stamp(jid, stanza, lang) {
                    Stamped::Stanza(stamped) => self.deliver(stamped),
                    Stamped::Malformed(stanza) => {
                        self.engine
                            .error_reply(&stanza, StanzaErrorCondition::JidMalformed);
                    }
                    Stamped::Spoofed => self.stream_error(StreamErrorCondition::InvalidFrom),
                }
            }
            // RFC 6120 4.9.3.12: nothing is processed before the stream is authenticated
            // (and bound).
            State::Unauthenticated(_)
            | State::Authenticated(_)
            | State::Resuming(_)
            | State::Sasl2Binding(_)
            | State::Sasl2Task(_)
            | State::Sasl2Resuming(_)
            | State::FastAuth(_)
            | State::FastIssue(_) => self.stream_error(StreamErrorCondition::NotAuthorized),
        }
    }

    /// A stanza of the client, checked and stamped: handed over, answered with
    /// `bad-request`, or dropped, by the IQ rules (RFC 6120 section 8.2.3).
    fn deliver(&mut self, stanza: Stanza) {
        match stanza.triage() {
            Triage::Process => self.engine.report(ServerEvent::Stanza(stanza)),
            // "the recipient or an intermediate router MUST return a <bad-request/>": the
            // server answers for whoever the iq was for.
            Triage::BadRequest(_) => {
                self.engine
                    .error_reply(&stanza, StanzaErrorCondition::BadRequest);
            }
            // A response that breaks the rules is neither answered nor routed.
            Triage::Ignore(_) => {}
        }
    }

    /// A first-level element that is not a stanza: the running step's, the embedder's when
    /// it handles its namespace, else `unsupported-stanza-type` (RFC 6120 4.9.3.24).
    fn on_nonza(&mut self, el: Element) {
        let offer = el.is("auth", SASL_NS).then(|| self.sasl_offer());
        let accounts = Accounts {
            domain: domain_at(&self.config, self.domain),
            rng: &mut self.rng,
            protected_header: match self.state {
                State::Unauthenticated(_) => protected_header(&self.engine),
                _ => None,
            },
        };
        match (&mut self.state, offer) {
            (State::Unauthenticated(sasl), _) if sasl.is_idle() && el.is("starttls", TLS_NS) => {
                self.on_starttls()
            }
            (State::Authenticated(bind), _) if bind.is_idle() && el.is("starttls", TLS_NS) => {
                self.on_starttls()
            }
            (State::Unauthenticated(sasl), _)
                if sasl.is_idle() && self.config.sasl2 && el.is("authenticate", SASL2_NS) =>
            {
                let request = Authenticate::read(&el);
                if let State::Unauthenticated(sasl) = &mut self.state {
                    sasl.sasl2_login(request.user_agent.clone());
                }
                if let Ok(mechanism) = request.mechanism.parse::<HtMechanism>() {
                    if self.fast_offered().contains(&mechanism) {
                        return self.on_fast_authenticate(request, mechanism);
                    }
                }
                let offer = self.sasl_offer_now();
                let accounts = Accounts {
                    domain: domain_at(&self.config, self.domain),
                    rng: &mut self.rng,
                    protected_header: protected_header(&self.engine),
                };
                let State::Unauthenticated(sasl) = &mut self.state else {
                    return;
                };
                let next = sasl.on_authenticate(request, offer, accounts, &mut self.engine);
                if let Some(account) = self.follow(next) {
                    self.authenticated(account);
                }
            }
            (State::Sasl2Task(_), _) if el.ns() == SASL2_NS => self.on_task_element(el),
            (State::Unauthenticated(sasl), Some(offer)) if sasl.is_idle() => {
                let next = sasl.on_auth(&el, offer, accounts, &mut self.engine);
                if let Some(account) = self.follow(next) {
                    self.authenticated(account);
                }
            }
            (State::Unauthenticated(sasl), _) if sasl.takes(&el) => {
                let next = sasl.on_element(&el, accounts, &mut self.engine);
                if let Some(account) = self.follow(next) {
                    self.authenticated(account);
                }
            }
            (State::Online(_) | State::Authenticated(_), _)
                if self.config.stream_management && el.is("enable", SM_NS) =>
            {
                self.on_enable(&el)
            }
            (State::Online(_) | State::Authenticated(_), _)
                if self.config.stream_management && el.is("resume", SM_NS) =>
            {
                self.on_resume(&el)
            }
            (State::Online(_), _) if self.config.handles(&el) => {
                self.engine.report(ServerEvent::Nonza(el));
            }
            _ => self.stream_error(StreamErrorCondition::UnsupportedStanzaType),
        }
    }
}

impl Server {
    /// `<enable/>` (XEP-0198 section 3): enabled once bound, and once; before binding or a
    /// second time, `<failed/>` with `unexpected-request` (section 6), and the stream goes
    /// on. The stanzas the client sends are counted from its `<enable/>`, ours from our
    /// `<enabled/>`.
    ///
    /// With [`ServerConfig::resumption`] and `resume='true'`, the session gets an id
    /// (unguessable, from the seeded generator) and the `max` of the two sides.
    fn on_enable(&mut self, el: &Element) {
        let State::Online(jid) = &self.state else {
            return self.sm_failed(StanzaErrorCondition::UnexpectedRequest);
        };
        if self.engine.sm_begun() {
            return self.sm_failed(StanzaErrorCondition::UnexpectedRequest);
        }
        let jid = jid.clone();
        let resumable = match self.config.resumption {
            Some(ours) if management::is_true(el.root(), "resume") => {
                let max =
                    management::read_u32(el.root(), "max").map_or(ours, |theirs| theirs.min(ours));
                Some((self.rng.token(16), max))
            }
            _ => None,
        };
        self.engine.write_element(|w| {
            management::write_enabled(w, resumable.as_ref().map(|(id, max)| (id.as_str(), *max)))
        });
        self.engine.sm_begin(self.sm_settings());
        self.engine.sm_enabled();
        if let Some((id, max)) = resumable {
            self.engine.sm_bound(&jid);
            if let Some(acks) = self.engine.sm_mut() {
                acks.resumable = Some(Box::new(management::Resumable {
                    id,
                    location: None,
                    max: Some(max),
                }));
            }
        }
        self.engine.report(ServerEvent::StreamManagementEnabled);
    }
}

impl Server {
    /// `<failed/>` with `condition` (XEP-0198 section 6); the stream goes on.
    fn sm_failed(&mut self, condition: StanzaErrorCondition) {
        self.engine
            .write_element(|w| management::write_failed(w, &condition));
    }

    /// `<resume previd h/>` (XEP-0198 section 5): after authentication and before binding
    /// the embedder is asked for the state of `previd`; without resumption configured,
    /// `feature-not-implemented`; once bound (or while binding), `unexpected-request`; a
    /// missing `previd` or `h`, `bad-request`.
    fn on_resume(&mut self, el: &Element) {
        let State::Authenticated(bind) = &self.state else {
            return self.sm_failed(StanzaErrorCondition::UnexpectedRequest);
        };
        if self.config.resumption.is_none() {
            return self.sm_failed(StanzaErrorCondition::FeatureNotImplemented);
        }
        if !bind.is_idle() || self.engine.sm_begun() {
            return self.sm_failed(StanzaErrorCondition::UnexpectedRequest);
        }
        let (Some(previd), Some(h)) = (el.attr("previd"), management::read_h(el)) else {
            return self.sm_failed(StanzaErrorCondition::BadRequest);
        };
        let ask = ResumeAsk {
            account: bind.account().clone(),
            previd: previd.into_owned(),
            h,
        };
        self.engine.report(ServerEvent::ResumeRequest {
            account: ask.account.clone(),
            previd: ask.previd.clone(),
        });
        self.state = State::Resuming(Box::new(ask));
        self.engine.await_embedder();
    }
}

impl From<AuthQuestion> for ServerEvent {
    fn from(question: AuthQuestion) -> Self {
        match question {
            AuthQuestion::Credentials {
                mechanism,
                authcid,
                authzid,
            } => ServerEvent::AuthRequest {
                mechanism,
                authcid,
                authzid,
            },
            AuthQuestion::External { authzid } => ServerEvent::ExternalRequest { authzid },
        }
    }
}

/// SASL2 and Bind 2 (XEP-0388, XEP-0386): `<success/>` and what goes inside it.
impl Server {
    /// How an `<authenticate/>` is met now (the same as an `<auth/>`).
    fn sasl_offer_now(&self) -> Offer {
        self.sasl_offer()
    }

    /// The SASL2 exchange succeeded as `account`: the Bind 2 request goes to the embedder,
    /// or, without one, `<success/>` goes out and binding is offered in the features that
    /// follow (no restart).
    fn sasl2_authenticated(&mut self, account: BareJid, request: Authenticate) {
        let idle = State::Unauthenticated(SaslServerStep::new(self.config.max_auth_attempts));
        let State::Unauthenticated(mut sasl) = core::mem::replace(&mut self.state, idle) else {
            return;
        };
        let additional_data = sasl.take_additional_data();
        let asks = self.inline_asks(request.bind, request.resume, request.request_token);
        if !self.config.sasl2_tasks.is_empty() {
            let tasks = &self.config.sasl2_tasks;
            self.engine
                .write_element(|w| sasl2::write_continue(w, &additional_data, tasks));
            self.state = State::Sasl2Task(Box::new(Sasl2Tasks {
                sasl,
                account,
                asks,
                running: None,
            }));
            return self.engine.await_peer();
        }
        self.sasl2_finish(sasl, account, additional_data, asks);
    }

    /// The login is authenticated (mechanism and tasks): the Bind 2 request goes to the
    /// embedder, or `<success/>` goes out at once.
    fn sasl2_finish(
        &mut self,
        sasl: SaslServerStep,
        account: BareJid,
        additional_data: Vec<u8>,
        asks: InlineAsks,
    ) {
        self.engine
            .report(ServerEvent::Authenticated(account.clone()));
        self.sasl2_inline(sasl, account, additional_data, asks);
    }

    /// What the login asked inline, in order: a FAST token, resumption, Bind 2.
    fn sasl2_inline(
        &mut self,
        sasl: SaslServerStep,
        account: BareJid,
        additional_data: Vec<u8>,
        asks: InlineAsks,
    ) {
        let InlineAsks {
            token,
            bind,
            resume,
        } = asks;
        if let Some(mechanism) = token {
            self.engine.report(ServerEvent::FastTokenRequest {
                account: account.clone(),
                mechanism,
            });
            self.state = State::FastIssue(Box::new(FastIssue {
                sasl,
                account,
                additional_data,
                asks: InlineAsks {
                    token: None,
                    bind,
                    resume,
                },
            }));
            return self.engine.await_embedder();
        }
        let resume_failed = match resume {
            None => None,
            // As `<resume/>` after RFC 6120 SASL: without resumption configured,
            // `feature-not-implemented`; without `previd` or `h`, `bad-request`.
            Some(_) if !self.config.stream_management || self.config.resumption.is_none() => {
                Some(StanzaErrorCondition::FeatureNotImplemented)
            }
            Some((Some(previd), Some(h))) => {
                self.engine.report(ServerEvent::ResumeRequest {
                    account: account.clone(),
                    previd: previd.clone(),
                });
                self.state = State::Sasl2Resuming(Box::new(Sasl2Resume {
                    sasl,
                    account,
                    additional_data,
                    bind,
                    previd,
                    h,
                }));
                return self.engine.await_embedder();
            }
            Some(_) => Some(StanzaErrorCondition::BadRequest),
        };
        self.sasl2_bind_or_succeed(sasl, account, additional_data, bind, resume_failed);
    }

    /// Answers the Bind 2 request through the embedder, or writes `<success/>` at once;
    /// `resume_failed`: the `<failed/>` of a refused inline resumption goes inside.
    fn sasl2_bind_or_succeed(
        &mut self,
        mut sasl: SaslServerStep,
        account: BareJid,
        additional_data: Vec<u8>,
        bind: Option<Bind2Request>,
        resume_failed: Option<StanzaErrorCondition>,
    ) {
        match bind {
            Some(bind) => {
                let resource = self.bind2_resource(&account, bind.tag.as_deref());
                self.engine.report(ServerEvent::BindRequest {
                    account: account.clone(),
                    resource: Some(resource),
                });
                self.state = State::Sasl2Binding(Box::new(Sasl2Binding {
                    sasl,
                    account,
                    additional_data,
                    request: bind,
                    resume_failed,
                }));
                self.engine.await_embedder();
            }
            None => {
                let id = account.to_string();
                let token = sasl.take_fast_issued();
                self.engine.write_element(|w| {
                    sasl2::write_success(w, &additional_data, &id, token.as_ref(), |w| {
                        if let Some(condition) = &resume_failed {
                            management::write_failed(w, condition);
                        }
                    });
                });
                self.state = State::Authenticated(BindServer::new(account));
                self.after_sasl2();
            }
        }
    }

    /// `<next task/>`, `<task-data/>` or `<abort/>` while a task is asked for.
    fn on_task_element(&mut self, el: Element) {
        let State::Sasl2Task(t) = &mut self.state else {
            return;
        };
        match (el.name(), &t.running) {
            ("next", None) => {
                let task = el.attr("task").map(|t| t.into_owned()).unwrap_or_default();
                if !self.config.sasl2_tasks.contains(&task) {
                    return self.sasl2_task_end(Err(SaslFailureCondition::InvalidMechanism));
                }
                t.running = Some(task.clone());
                self.engine.report(ServerEvent::Sasl2Task(task));
                self.engine.await_embedder();
            }
            ("task-data", Some(_)) => {
                self.engine.report(ServerEvent::Sasl2TaskData(el));
                self.engine.await_embedder();
            }
            ("abort", _) => self.sasl2_task_end(Err(SaslFailureCondition::Aborted)),
            _ => self.stream_error(StreamErrorCondition::UnsupportedStanzaType),
        }
    }

    /// The task is over: the login goes on (`Ok`), or fails with the condition.
    fn sasl2_task_end(&mut self, outcome: Result<(), SaslFailureCondition>) {
        let idle = State::Unauthenticated(SaslServerStep::new(self.config.max_auth_attempts));
        let State::Sasl2Task(t) = core::mem::replace(&mut self.state, idle) else {
            return;
        };
        let Sasl2Tasks {
            mut sasl,
            account,
            asks,
            ..
        } = *t;
        match outcome {
            Ok(()) => self.sasl2_finish(sasl, account, Vec::new(), asks),
            Err(condition) => {
                let next = sasl.task_failed(condition, &mut self.engine);
                self.state = State::Unauthenticated(sasl);
                self.follow(next);
            }
        }
    }

    /// The task the embedder runs, once the client chose one and no answer is out.
    fn running_task(&self) -> Result<(), ServerError> {
        if self.engine.is_ending() {
            return Err(ServerError::StreamEnded);
        }
        match &self.state {
            State::Sasl2Task(t) if t.running.is_some() => Ok(()),
            _ => Err(ServerError::NoAuthRequest),
        }
    }

    /// Answers [`ServerEvent::Sasl2Task`] or [`ServerEvent::Sasl2TaskData`] at time `now`
    /// with a `<task-data/>` holding `payload` (the task's next challenge).
    ///
    /// # Errors
    ///
    /// [`ServerError::NoAuthRequest`] when no task runs; [`ServerError::StreamEnded`]
    /// when the stream has ended meanwhile.
    pub fn sasl2_task_data(
        &mut self,
        now: Instant,
        payload: &[Element],
    ) -> Result<(), ServerError> {
        self.at(now, |s| {
            s.running_task()?;
            s.engine
                .write_element(|w| sasl2::write_task_data(w, payload));
            s.engine.await_peer();
            Ok(())
        })
    }

    /// The running task succeeded, at time `now`: the login completes (Bind 2, then
    /// `<success/>`).
    ///
    /// # Errors
    ///
    /// As [`sasl2_task_data`](Self::sasl2_task_data).
    pub fn sasl2_task_done(&mut self, now: Instant) -> Result<(), ServerError> {
        self.at(now, |s| {
            s.running_task()?;
            s.sasl2_task_end(Ok(()));
            Ok(())
        })
    }

    /// The running task failed, at time `now`: `<failure/>` with `condition`
    /// (`not-authorized` for a wrong second factor...); the client may try again from
    /// `<authenticate/>`, up to [`ServerConfig::max_auth_attempts`].
    ///
    /// # Errors
    ///
    /// As [`sasl2_task_data`](Self::sasl2_task_data).
    pub fn sasl2_task_failed(
        &mut self,
        now: Instant,
        condition: SaslFailureCondition,
    ) -> Result<(), ServerError> {
        self.at(now, |s| {
            s.running_task()?;
            s.sasl2_task_end(Err(condition));
            Ok(())
        })
    }

    /// The `<user-agent/>` of the client's SASL2 login (XEP-0388 section 2.3), if it sent
    /// one: its `id` names the installation, to replace its earlier session.
    pub fn user_agent(&self) -> Option<&UserAgent> {
        match &self.state {
            State::Unauthenticated(sasl) => sasl.user_agent(),
            State::Sasl2Binding(b) => b.sasl.user_agent(),
            State::Sasl2Task(t) => t.sasl.user_agent(),
            State::Sasl2Resuming(r) => r.sasl.user_agent(),
            State::FastAuth(f) => f.sasl.user_agent(),
            State::FastIssue(f) => f.sasl.user_agent(),
            State::Authenticated(_) | State::Online(_) | State::Resuming(_) => None,
        }
    }

    /// The embedder's answer to an inline `<resume/>`: `<success/>` with `<resumed/>` and
    /// the stanzas the client had not handled, or the refusal (`item-not-found`) inside
    /// `<success/>` and the bind request answered as without resumption.
    fn sasl2_resume(&mut self, state: Option<ResumptionState>) {
        let idle = State::Unauthenticated(SaslServerStep::new(self.config.max_auth_attempts));
        let State::Sasl2Resuming(r) = core::mem::replace(&mut self.state, idle) else {
            return;
        };
        let Sasl2Resume {
            mut sasl,
            account,
            additional_data,
            bind,
            previd,
            h,
        } = *r;
        let state = state.filter(|st| st.id == previd && st.jid.to_bare() == account);
        let Some(state) = state else {
            let refused = Some(StanzaErrorCondition::ItemNotFound);
            return self.sasl2_bind_or_succeed(sasl, account, additional_data, bind, refused);
        };
        let jid = state.jid.clone();
        self.engine.sm_resume_from(state, self.sm_settings());
        let ours = self.engine.sm_handled();
        let id = jid.to_string();
        let token = sasl.take_fast_issued();
        self.engine.write_element(|w| {
            sasl2::write_success(w, &additional_data, &id, token.as_ref(), |w| {
                management::write_resume(w, "resumed", &previd, ours);
            });
        });
        self.state = State::Online(jid.clone());
        self.after_sasl2();
        self.engine.negotiated();
        match self.engine.sm_resumed(h) {
            Ok(()) => self.engine.report(ServerEvent::Resumed(jid)),
            Err(error) => self.close_with_error(error),
        }
    }

    /// The inline requests of an `<authenticate/>`, as far as they are offered.
    fn inline_asks(
        &self,
        bind: Option<Bind2Request>,
        resume: Option<(Option<String>, Option<u32>)>,
        token: Option<Option<HtMechanism>>,
    ) -> InlineAsks {
        InlineAsks {
            token: token.flatten().filter(|m| self.fast_offered().contains(m)),
            bind: bind.filter(|_| self.config.bind2),
            resume,
        }
    }

    /// The FAST mechanisms offered on this transport: those needing a channel binding only
    /// when TLS gave it.
    fn fast_offered(&self) -> Vec<HtMechanism> {
        let transport = self.engine.transport();
        self.config
            .fast
            .iter()
            .copied()
            .filter(|m| {
                m.channel_binding()
                    .is_none_or(|t| transport.channel_bindings().iter().any(|cb| cb.kind == t))
            })
            .collect()
    }

    /// `<authenticate/>` with a Hashed Token mechanism (XEP-0484 section 2.4): the token
    /// is the embedder's to give; no task follows (section 3.2).
    fn on_fast_authenticate(&mut self, request: Authenticate, mechanism: HtMechanism) {
        let idle = State::Unauthenticated(SaslServerStep::new(self.config.max_auth_attempts));
        let State::Unauthenticated(mut sasl) = core::mem::replace(&mut self.state, idle) else {
            return;
        };
        let encryption_required =
            !self.engine.transport().is_encrypted() && self.config.tls == TlsPolicy::Required;
        let parsed = match &request.initial {
            _ if encryption_required => Err(SaslFailureCondition::EncryptionRequired),
            Some(Ok(data)) => ht::split_initial(data)
                .map(|(authcid, hashed)| (authcid.to_owned(), hashed.to_vec()))
                .ok_or(SaslFailureCondition::MalformedRequest),
            Some(Err(())) => Err(SaslFailureCondition::IncorrectEncoding),
            None => Err(SaslFailureCondition::MalformedRequest),
        };
        let domain = domain_at(&self.config, self.domain);
        let parsed = parsed.and_then(|(authcid, hashed)| {
            let account = format!("{authcid}@{domain}").parse::<BareJid>();
            let account = account.map_err(|_| SaslFailureCondition::NotAuthorized)?;
            Ok((authcid, account, hashed))
        });
        let (authcid, account, hashed) = match parsed {
            Ok(p) => p,
            Err(condition) => {
                let next = sasl.task_failed(condition, &mut self.engine);
                self.state = State::Unauthenticated(sasl);
                self.follow(next);
                return;
            }
        };
        let cb = mechanism
            .channel_binding()
            .and_then(|t| {
                let bindings = self.engine.transport().channel_bindings();
                bindings
                    .iter()
                    .find(|cb| cb.kind == t)
                    .map(|cb| cb.data.clone())
            })
            .unwrap_or_default();
        let (count, invalidate) = request.fast.unwrap_or((None, false));
        self.engine.report(ServerEvent::FastAuthRequest {
            authcid,
            mechanism,
            count,
            invalidate,
        });
        // No tasks after a token (XEP-0484 section 3.2).
        let asks = self.inline_asks(request.bind, request.resume, request.request_token);
        self.state = State::FastAuth(Box::new(FastAuth {
            sasl,
            account,
            mechanism,
            hashed,
            cb,
            asks,
        }));
        self.engine.await_embedder();
    }

    /// Answers [`ServerEvent::FastAuthRequest`] at time `now` with the token kept for the
    /// client (`None`: none): the core checks the client's proof in constant time, and
    /// the login succeeds (with the server's proof in `<additional-data/>`) or fails with
    /// `not-authorized`. A token of another mechanism fails too (XEP-0484 section 2.4).
    ///
    /// # Errors
    ///
    /// [`ServerError::NoAuthRequest`] without a request to answer;
    /// [`ServerError::StreamEnded`] when the stream has ended meanwhile.
    pub fn fast_credentials(
        &mut self,
        now: Instant,
        token: Option<FastToken>,
    ) -> Result<(), ServerError> {
        self.at(now, |s| s.answer_fast(token, None))
    }

    /// Answers [`ServerEvent::FastAuthRequest`] as [`fast_credentials`](Self::fast_credentials)
    /// does, and rotates the token (XEP-0484 section 2.5): when the login succeeds,
    /// `rotated` (stored by the embedder beside the old one, which stays valid until the
    /// new one is used) goes to the client in `<success/>`.
    ///
    /// # Errors
    ///
    /// As [`fast_credentials`](Self::fast_credentials).
    pub fn fast_credentials_rotating(
        &mut self,
        now: Instant,
        token: Option<FastToken>,
        rotated: FastToken,
    ) -> Result<(), ServerError> {
        self.at(now, |s| s.answer_fast(token, Some(rotated)))
    }

    /// The embedder's token for the FAST login asked about: checked in constant time.
    fn answer_fast(
        &mut self,
        token: Option<FastToken>,
        rotated: Option<FastToken>,
    ) -> Result<(), ServerError> {
        let f = self.take_fast_auth()?;
        let valid = token.as_ref().filter(|t| {
            t.mechanism == f.mechanism
                && ht::verify_initiator(t.secret.as_bytes(), &f.cb, &f.hashed)
        });
        match valid {
            Some(t) => {
                let data = ht::responder(t.secret.as_bytes(), &f.cb);
                let mut sasl = f.sasl;
                if rotated.is_some() {
                    sasl.set_fast_issued(rotated);
                }
                self.sasl2_finish(sasl, f.account, data, f.asks);
            }
            None => self.fast_failed(f.sasl, SaslFailureCondition::NotAuthorized),
        }
        Ok(())
    }

    /// Answers [`ServerEvent::FastAuthRequest`] at time `now` with a refusal
    /// (`credentials-expired` for a token no longer trusted, XEP-0484 section 3.2).
    ///
    /// # Errors
    ///
    /// As [`fast_credentials`](Self::fast_credentials).
    pub fn fast_refuse(
        &mut self,
        now: Instant,
        condition: SaslFailureCondition,
    ) -> Result<(), ServerError> {
        self.at(now, |s| {
            let f = s.take_fast_auth()?;
            s.fast_failed(f.sasl, condition);
            Ok(())
        })
    }

    /// Answers [`ServerEvent::FastTokenRequest`] at time `now` with the token the embedder
    /// stored (it goes into `<success/>` as `<token/>`), or `None`.
    ///
    /// # Errors
    ///
    /// [`ServerError::NoAuthRequest`] without a request to answer;
    /// [`ServerError::StreamEnded`] when the stream has ended meanwhile.
    pub fn issue_fast_token(
        &mut self,
        now: Instant,
        token: Option<FastToken>,
    ) -> Result<(), ServerError> {
        self.at(now, |s| {
            if s.engine.is_ending() {
                return Err(ServerError::StreamEnded);
            }
            if !matches!(s.state, State::FastIssue(_)) {
                return Err(ServerError::NoAuthRequest);
            }
            let idle = State::Unauthenticated(SaslServerStep::new(s.config.max_auth_attempts));
            let State::FastIssue(f) = core::mem::replace(&mut s.state, idle) else {
                return Err(ServerError::NoAuthRequest);
            };
            let mut sasl = f.sasl;
            // `None` keeps a token the embedder rotated in `fast_credentials_rotating`.
            if token.is_some() {
                sasl.set_fast_issued(token);
            }
            s.sasl2_inline(sasl, f.account, f.additional_data, f.asks);
            Ok(())
        })
    }

    /// The FAST login the embedder is asked about, taken out of the state.
    fn take_fast_auth(&mut self) -> Result<FastAuth, ServerError> {
        if self.engine.is_ending() {
            return Err(ServerError::StreamEnded);
        }
        if !matches!(self.state, State::FastAuth(_)) {
            return Err(ServerError::NoAuthRequest);
        }
        let idle = State::Unauthenticated(SaslServerStep::new(self.config.max_auth_attempts));
        match core::mem::replace(&mut self.state, idle) {
            State::FastAuth(f) => Ok(*f),
            _ => Err(ServerError::NoAuthRequest),
        }
    }

    /// A FAST login failed: `<failure/>`, counted as a failed attempt.
    fn fast_failed(&mut self, mut sasl: SaslServerStep, condition: SaslFailureCondition) {
        let next = sasl.task_failed(condition, &mut self.engine);
        self.state = State::Unauthenticated(sasl);
        self.follow(next);
    }

    /// The resource of a Bind 2 request: the tag, `/`, and a random part (XEP-0386 section
    /// 2.2.1); a tag that cannot start a resourcepart is left out.
    fn bind2_resource(&mut self, account: &BareJid, tag: Option<&str>) -> String {
        let random = self.rng.token(12);
        match tag {
            Some(tag) => {
                let resource = format!("{tag}/{random}");
                if account.with_resource(&resource).is_ok() {
                    resource
                } else {
                    random
                }
            }
            None => random,
        }
    }

    /// The embedder bound `jid`: `<success/>` with the full JID and `<bound/>` (with stream
    /// management's `<enabled/>` when asked inside the bind), then the features.
    fn sasl2_bound(&mut self, jid: FullJid) {
        let State::Sasl2Binding(b) =
            core::mem::replace(&mut self.state, State::Online(jid.clone()))
        else {
            return;
        };
        let Sasl2Binding {
            mut sasl,
            additional_data,
            request,
            resume_failed,
            ..
        } = *b;
        let sm = request
            .sm
            .filter(|_| self.config.stream_management)
            .map(|resume| match self.config.resumption {
                Some(ours) if resume => Some((self.rng.token(16), ours)),
                _ => None,
            });
        let refused_sm = request.sm.is_some() && !self.config.stream_management;
        let id = jid.to_string();
        let token = sasl.take_fast_issued();
        self.engine.write_element(|w| {
            sasl2::write_success(w, &additional_data, &id, token.as_ref(), |w| {
                if let Some(condition) = &resume_failed {
                    management::write_failed(w, condition);
                }
                w.start("bound").xmlns(BIND2_NS);
                match &sm {
                    Some(resumable) => management::write_enabled(
                        w,
                        resumable.as_ref().map(|(id, max)| (id.as_str(), *max)),
                    ),
                    None if refused_sm => {
                        management::write_failed(w, &StanzaErrorCondition::FeatureNotImplemented)
                    }
                    None => {}
                }
                w.end("bound");
            });
        });
        if let Some(resumable) = sm {
            self.engine.sm_begin(self.sm_settings());
            self.engine.sm_enabled();
            if let Some((id, max)) = resumable {
                self.engine.sm_bound(&jid);
                if let Some(acks) = self.engine.sm_mut() {
                    acks.resumable = Some(Box::new(management::Resumable {
                        id,
                        location: None,
                        max: Some(max),
                    }));
                }
            }
        }
        self.after_sasl2();
        self.engine.negotiated();
        self.engine.report(ServerEvent::Online(jid));
        if self.engine.sm_is_enabled() {
            self.engine.report(ServerEvent::StreamManagementEnabled);
        }
    }

    /// The embedder refused the Bind 2 request: a SASL2 `<failure/>` carrying the
    /// condition, and the client is not authenticated (XEP-0388 section 2.5.2: "the stream
    /// and session state remain entirely unchanged").
    fn sasl2_bind_refused(&mut self, condition: &StanzaErrorCondition) {
        let State::Sasl2Binding(b) = core::mem::replace(
            &mut self.state,
            State::Unauthenticated(SaslServerStep::new(self.config.max_auth_attempts)),
        ) else {
            return;
        };
        let mut sasl = b.sasl;
        let next = sasl.inline_failed(condition, &mut self.engine);
        self.state = State::Unauthenticated(sasl);
        self.follow(next);
    }

    /// After a SASL2 `<success/>`: the authenticated limits, and the features at once, on
    /// the same stream (XEP-0388 section 2.5.1).
    fn after_sasl2(&mut self) {
        let limits = self.config.limits_for(true);
        self.engine.parser_mut().set_limits(limits);
        self.send_features();
        self.engine.await_peer();
    }
}

impl From<BindRequest> for ServerEvent {
    fn from(request: BindRequest) -> Self {
        ServerEvent::BindRequest {
            account: request.account,
            resource: request.resource,
        }
    }
}
