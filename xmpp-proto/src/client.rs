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
//! and, only when the server requires it, the legacy session (RFC 3921 section 3); then,
//! when [`ClientConfig::stream_management`] is on and the server offers it, stream
//! management (XEP-0198, see `stream/management/`): acknowledgements, the unacknowledged
//! queue, and, with [`ClientConfig::resumption`], resumption: once the stream is over,
//! [`Client::take_resumption_state`] gives what a new `Client` resumes with
//! ([`Client::resume_from`], before `open`: SASL, then `<resume/>` instead of binding).
//!
//! Modern login, opt-in ([`ClientConfig::sasl2`]), when the server offers it: SASL2
//! (XEP-0388, the same mechanisms, no restart after `<success/>`, `<continue/>` tasks for the
//! embedder: [`ClientEvent::Sasl2Continue`]), Bind 2 (XEP-0386, [`ClientConfig::bind2`]:
//! online from `<success/>`, stream management enabled inside it), resumption inside
//! `<authenticate/>`, FAST tokens (XEP-0484: [`ClientConfig::fast_request_token`],
//! [`ClientEvent::FastToken`], [`ClientConfig::fast_token`]), XEP-0474's downgrade check
//! ([`ClientConfig::downgrade_protection`]) and direct TLS (XEP-0368,
//! [`Client::direct_tls`]). See `negotiate/sasl2.rs` for the versions followed.
//!
//! Nothing given to [`Client::send`] is lost silently with stream management on: each
//! stanza is acknowledged ([`ClientEvent::Acked`]), sent again after a resumption, or, once
//! the stream is over for good, handed back by [`Client::take_unacked`] (or inside the
//! [`ResumptionState`]; after a failed resumption, in [`ClientEvent::ResumeFailed`]). Every
//! method that can write or start a timer takes the time: timers count from it, and the
//! ones due by then fire before the method returns.
//!
//! ```
//! use std::time::Instant;
//! use xmpp_sansio::client::{Client, ClientConfig, ClientEvent, TlsPolicy};
//!
//! let now = Instant::now();
//! let mut config = ClientConfig::new("juliet@example.com".parse()?, "r0m30myr0m30");
//! config.tls = TlsPolicy::Disabled; // an in-memory sketch: no TLS library here
//! config.allow_plain_without_tls = true;
//! let seed = 0x5eed; // fresh randomness from the OS in a real client
//! let mut client = Client::new(config, seed, now);
//! client.open(now)?;
//! let header = client.poll_transmit().expect("our stream header");
//! assert!(header.starts_with(b"<?xml version='1.0'?><stream:stream"));
//!
//! // The server's header and features: SASL PLAIN.
//! client.handle_input(
//!     now,
//!     b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' \
//!       id='c2s1' from='example.com' version='1.0'><stream:features>\
//!       <mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism>\
//!       </mechanisms></stream:features>",
//! )?;
//! assert!(matches!(client.poll_event(), Some(ClientEvent::StreamOpened)));
//! let auth = client.poll_transmit().expect("the SASL attempt");
//! assert!(auth.starts_with(b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>"));
//! // The server's deadline to answer, counted from `now`.
//! assert_eq!(client.poll_timeout(), Some(now + std::time::Duration::from_secs(30)));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::{STREAM_NS, SaslFailure, StreamError, StreamErrorCondition};
use crate::jid::{BareJid, FullJid};
use crate::negotiate::bind::BindClient;
use crate::negotiate::sasl_client::{Attempt, Authenticated, SaslAsk, SaslClientStep};
pub use crate::negotiate::sasl2::UserAgent;
use crate::negotiate::sasl2::{self, Bind2Request, Inline};
use crate::negotiate::session::SessionClient;
use crate::negotiate::starttls::StartTlsClient;
use crate::negotiate::{Negotiate, Wire};
pub use crate::sasl::ht::{FastToken, HtMechanism};
use crate::sasl::{self, ChannelBinding, Credentials, Mechanism, Nonce, SaslClientConfig};
use crate::stanza::{IqRule, JABBER_CLIENT, Stanza, Triage, check_iq};
use crate::stream::engine::{
    Engine, InputRefused, Settings, StanzaRefused, StreamRole, stream_event, stream_methods,
};
use crate::stream::header::{Header, check_peer_header};
use crate::stream::management::{self, SM_NS, SmSettings};
use crate::stream::rng::Rng;
use crate::stream::tls::Transport;
pub use crate::stream::{Abandoned, CloseReason, ProtocolViolation, TlsPolicy};
use crate::stream::{BIND2_NS, Features, Framing, Requirement, Sasl2Offer, StreamLimits};
pub use crate::stream::{ResumptionState, UnackedLimits};
use crate::xml::{Element, ElementRef, Limits, Writer, XML_NS};

/// How a client connects and authenticates.
#[derive(Clone)]
#[non_exhaustive]
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
    /// The SCRAM client nonce; `None` makes one from the session's seed
    /// ([`Client::new`]). Set it only to replay a recorded exchange.
    pub client_nonce: Option<String>,
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
    /// Namespaces of first-level elements that the embedder handles itself once online
    /// (client state indication, or its own stream management when
    /// [`stream_management`](Self::stream_management) is off...): they are reported as
    /// [`ClientEvent::Nonza`]. Any other element that is not a stanza ends the stream with
    /// `unsupported-stanza-type` (RFC 6120 section 4.9.3.24). What the server offers for
    /// them is in [`Client::other_features`].
    pub nonza_namespaces: Vec<String>,
    /// Use stream management (XEP-0198) when the server offers it: `<enable/>` goes out
    /// once bound, before anything the embedder sends, the core answers the server's `<r/>`,
    /// reports its acks ([`ClientEvent::Acked`]) and keeps every stanza sent until acked
    /// ([`unacked_limits`](Self::unacked_limits)); resumption with
    /// [`resumption`](Self::resumption). Off by default.
    pub stream_management: bool,
    /// With [`stream_management`](Self::stream_management): ask the server for an ack
    /// (`<r/>`) after every this many stanzas sent; 0 (the default): only when the
    /// embedder asks ([`Client::request_ack`]).
    pub ack_request_every: u32,
    /// With [`stream_management`](Self::stream_management): ask the server for an ack this
    /// long after a stanza went out unacknowledged (the engine's ack timer); `None` (the
    /// default): not on a timer.
    pub ack_request_after: Option<Duration>,
    /// With [`stream_management`](Self::stream_management): how many stanzas, and bytes,
    /// may wait for the server's ack; at the limit [`Client::send`] refuses with
    /// [`ClientError::UnackedQueueFull`] (see [`UnackedLimits`]).
    pub unacked_limits: UnackedLimits,
    /// With [`stream_management`](Self::stream_management): ask for resumption
    /// (`<enable resume='true'/>`, XEP-0198 section 5). Off by default.
    pub resumption: bool,
    /// Log in with SASL2 (XEP-0388) when the server offers it: `<authenticate/>`, no
    /// stream restart after `<success/>`. Off by default; without a SASL2 offer the client
    /// uses RFC 6120 SASL whatever this says.
    pub sasl2: bool,
    /// With [`sasl2`](Self::sasl2): bind inside `<authenticate/>` (XEP-0386, Bind 2) when
    /// the server offers it, enabling stream management there too when
    /// [`stream_management`](Self::stream_management) is on and the server can (when its
    /// Bind 2 cannot, on the features after `<success/>`, before
    /// [`ClientEvent::Online`]). The server
    /// chooses the resource (typically `tag/random`): [`resource`](Self::resource) is not
    /// asked for. On by default (it has an effect only with `sasl2`).
    pub bind2: bool,
    /// With [`bind2`](Self::bind2): the `<tag/>`, a short name of the client software that
    /// the server puts at the start of the resource (XEP-0386 section 2.2.1). Nothing
    /// private: it is visible to contacts.
    pub bind2_tag: Option<String>,
    /// With [`sasl2`](Self::sasl2): the `<user-agent/>` sent in `<authenticate/>` (XEP-0388
    /// section 2.3), whose `id` lets the server replace this client's earlier session.
    pub user_agent: Option<UserAgent>,
    /// With [`sasl2`](Self::sasl2): a FAST token (XEP-0484) from an earlier login
    /// ([`ClientEvent::FastToken`]), used instead of the password when the server offers
    /// FAST with its mechanism (one round trip, no PBKDF2). After a
    /// [`ClientEvent::SaslFailure`] the embedder should forget it; [`Client::auth`] then
    /// logs in with the password. A secret: `Debug` never shows it.
    pub fast_token: Option<FastToken>,
    /// With [`sasl2`](Self::sasl2): ask the server for a FAST token (`<request-token/>`,
    /// XEP-0484 section 2.2), for the strongest offered Hashed Token mechanism the
    /// transport's channel binding allows. Off by default.
    pub fast_request_token: bool,
    /// With [`fast_token`](Self::fast_token): the `count` of `<fast/>`, which the embedder
    /// increments for every login with the same token (XEP-0484 section 2.4: required when
    /// the request travels in TLS 0-RTT data, where it protects against replay).
    pub fast_count: Option<u32>,
    /// With [`fast_token`](Self::fast_token): ask the server to invalidate the token once
    /// it logged in with it (`invalidate='true'`, XEP-0484 section 2.6: "log out").
    pub fast_invalidate: bool,
    /// Check XEP-0474's downgrade protection hash when the server sends one (`h=` in the
    /// SCRAM server-first-message): a mismatch with the mechanisms and channel-binding
    /// types received abandons the login with [`Abandoned::Downgrade`]. On by default: a
    /// server without XEP-0474 sends no hash, and nothing is checked.
    pub downgrade_protection: bool,
    /// How the stream is framed: TCP (the default) or WebSocket (RFC 7395), where each
    /// [`Client::handle_input`] is one message and each [`Client::poll_transmit`] one, the
    /// server's STARTTLS offer is ignored and no whitespace keepalive is sent (see
    /// [`Framing`]).
    pub framing: Framing,
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
            response_timeout: Duration::from_secs(30),
            keepalive: Some(Duration::from_secs(60)),
            plus_without_advertisement: false,
            limits: Limits::default(),
            nonza_namespaces: Vec::new(),
            stream_management: false,
            ack_request_every: 0,
            ack_request_after: None,
            unacked_limits: UnackedLimits::default(),
            resumption: false,
            sasl2: false,
            bind2: true,
            bind2_tag: None,
            user_agent: None,
            fast_token: None,
            fast_request_token: false,
            fast_count: None,
            fast_invalidate: false,
            downgrade_protection: true,
            framing: Framing::Tcp,
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
            .field("response_timeout", &self.response_timeout)
            .field("keepalive", &self.keepalive)
            .field(
                "plus_without_advertisement",
                &self.plus_without_advertisement,
            )
            .field("limits", &self.limits)
            .field("nonza_namespaces", &self.nonza_namespaces)
            .field("stream_management", &self.stream_management)
            .field("ack_request_every", &self.ack_request_every)
            .field("ack_request_after", &self.ack_request_after)
            .field("unacked_limits", &self.unacked_limits)
            .field("resumption", &self.resumption)
            .field("sasl2", &self.sasl2)
            .field("bind2", &self.bind2)
            .field("bind2_tag", &self.bind2_tag)
            .field("user_agent", &self.user_agent)
            .field("fast_token", &self.fast_token)
            .field("fast_request_token", &self.fast_request_token)
            .field("fast_count", &self.fast_count)
            .field("fast_invalidate", &self.fast_invalidate)
            .field("downgrade_protection", &self.downgrade_protection)
            .field("framing", &self.framing)
            .finish()
    }
}

/// What the client reports to the embedder.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ClientEvent {
    /// The server's stream header was accepted (every header, restarts included).
    StreamOpened,
    /// Start TLS now; call [`Client::tls_established`] when it is up.
    TlsRequested,
    /// SASL succeeded (for SCRAM, the server signature checked out).
    Authenticated(BareJid),
    /// The server refused authentication; call [`Client::auth`] to try again, or close.
    SaslFailure(SaslFailure),
    /// SASL2 `<continue/>` (XEP-0388 section 2.5.3): the mechanism succeeded (its final
    /// data verified) and the server wants one of these tasks done (second factor,
    /// password change...): call [`Client::sasl2_next`] with the one chosen, or close.
    Sasl2Continue(Vec<String>),
    /// SASL2 `<task-data/>` of the running task (its children are the task's own
    /// elements): answer with [`Client::sasl2_task_data`].
    Sasl2TaskData(Element),
    /// The server issued a FAST token (XEP-0484 section 2.3, asked for with
    /// [`ClientConfig::fast_request_token`], or a rotation): keep it, as secretly as a
    /// password, for [`ClientConfig::fast_token`]. `Debug` never shows the secret.
    FastToken(FastToken),
    /// Negotiation is over: stanzas flow, from this full JID.
    Online(FullJid),
    /// A stanza arrived.
    Stanza(Stanza),
    /// A first-level element that is not a stanza arrived, in one of
    /// [`ClientConfig::nonza_namespaces`].
    Nonza(Element),
    /// The server enabled stream management (XEP-0198 `<enabled/>`): acks flow.
    StreamManagementEnabled,
    /// The server refused to enable stream management (XEP-0198 `<failed/>`), with the
    /// stanza error condition it gave, if any. The stream goes on without it.
    StreamManagementFailed(Option<crate::error::StanzaErrorCondition>),
    /// The server acknowledged this many more of our stanzas (XEP-0198 `<a/>`), the oldest
    /// unacknowledged first: stanzas are acknowledged in the order they were sent.
    Acked(u32),
    /// The server resumed the previous session ([`Client::resume_from`], XEP-0198
    /// `<resumed/>`), bound to this full JID: what it had not acknowledged is sent again,
    /// and stanzas flow as before (no presence or roster to set up again).
    Resumed(FullJid),
    /// The server refused to resume the previous session (XEP-0198 `<failed/>`, with its
    /// stanza error condition if it gave one): the client binds a fresh session instead
    /// ([`ClientEvent::Online`] follows). `unacked` are the stanzas of the previous session
    /// the server did not acknowledge, oldest first, as they were sent: they may be lost,
    /// and the embedder decides whether to send them again.
    ResumeFailed {
        /// The condition the server gave.
        condition: Option<crate::error::StanzaErrorCondition>,
        /// The stanzas that may be lost.
        unacked: Vec<bytes::Bytes>,
    },
    /// The server sent a stream error (for `see-other-host`, the host to try).
    PeerStreamError(Box<StreamError>),
    /// The client gave up for a local reason ([`ClientEvent::Closed`] follows, with the
    /// same reason).
    Abandoned(Abandoned),
    /// The stream is over, for this reason; close the transport. Nothing is reported after
    /// it.
    Closed(CloseReason),
}

stream_event!(ClientEvent, abandoned => Abandoned, tls => TlsRequested, acked => Acked);

/// Why a call did nothing: the stream has ended ([`ClientError::StreamEnded`], an outcome
/// to ignore: see [`is_stream_ended`](Self::is_stream_ended)), the stanza cannot be sent as
/// it is, or the embedder called a method that does not fit the state
/// ([`is_misuse`](Self::is_misuse)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
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
    /// The stream has ended, or our closing tag is out: nothing more can be written (RFC
    /// 6120 section 4.4). Not a mistake: the server may close, or a timer fire, between an
    /// event and the answer to it (a stanza and `</stream:stream>` in one read), so the
    /// answer comes too late and is dropped. [`ClientEvent::Closed`] says why.
    StreamEnded,
    /// The stanza, serialized, is larger than the server said it accepts (XEP-0478
    /// `<max-bytes/>`): sending it would end the stream with `policy-violation`. Nothing
    /// was sent.
    StanzaTooLarge {
        /// Its size in bytes, serialized.
        size: usize,
        /// The server's limit.
        max: u64,
    },
    /// [`Client::send_with`] left an element open: nothing was sent.
    Unbalanced,
    /// [`Client::send`] was given an iq that breaks this rule of RFC 6120 section 8.2.3,
    /// which the server would have to refuse: nothing was sent.
    InvalidIq(IqRule),
    /// [`Client::request_ack`] without stream management enabled
    /// ([`ClientEvent::StreamManagementEnabled`]).
    StreamManagementNotEnabled,
    /// Stream management's unacknowledged queue is at its limits
    /// ([`ClientConfig::unacked_limits`]): nothing was sent, and the server was asked for
    /// an ack; send again after the next [`ClientEvent::Acked`].
    UnackedQueueFull,
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
            ClientError::StreamEnded => {
                f.write_str("the stream has already ended; nothing was sent")
            }
            ClientError::StanzaTooLarge { size, max } => write!(
                f,
                "the stanza is {size} bytes, more than the {max} the server accepts \
                 (XEP-0478); nothing was sent"
            ),
            ClientError::Unbalanced => {
                f.write_str("the stanza written left an element open; nothing was sent")
            }
            ClientError::InvalidIq(rule) => {
                write!(f, "the iq breaks a rule, so nothing was sent: {rule}")
            }
            ClientError::StreamManagementNotEnabled => {
                f.write_str("stream management (XEP-0198) is not enabled")
            }
            ClientError::UnackedQueueFull => f.write_str(
                "too many stanzas await the server's acknowledgement (XEP-0198); nothing was sent",
            ),
        }
    }
}

impl std::error::Error for ClientError {}

impl ClientError {
    /// The stream has ended ([`ClientError::StreamEnded`]): the call came too late to
    /// matter, and can be ignored; the `Closed` event says why the stream ended.
    pub fn is_stream_ended(&self) -> bool {
        *self == ClientError::StreamEnded
    }

    /// The embedder called a method that does not fit the state (a bug to fix in the
    /// embedder): neither [`StreamEnded`](ClientError::StreamEnded),
    /// [`StanzaTooLarge`](ClientError::StanzaTooLarge) nor
    /// [`UnackedQueueFull`](ClientError::UnackedQueueFull).
    pub fn is_misuse(&self) -> bool {
        !matches!(
            self,
            ClientError::StreamEnded
                | ClientError::StanzaTooLarge { .. }
                | ClientError::UnackedQueueFull
        )
    }
}

impl From<InputRefused> for ClientError {
    fn from(refused: InputRefused) -> Self {
        match refused {
            InputRefused::NotOpen => ClientError::NotOpen,
            InputRefused::AwaitingTls => ClientError::AwaitingTls,
        }
    }
}

/// Which negotiation step runs, and what the steps before it established. Whether the
/// stream is open, securing, closing or over is the engine's.
enum State {
    /// Our header is out; the server's is awaited. `auth` is what SASL established, once
    /// it ran.
    AwaitHeader(Option<Box<Authenticated>>),
    /// The server's header arrived; its features are awaited.
    AwaitFeatures(Option<Box<Authenticated>>),
    /// STARTTLS runs (RFC 6120 section 5), then TLS is set up and the stream restarts.
    StartTls(StartTlsClient, Option<Box<Authenticated>>),
    /// SASL runs (RFC 6120 section 6).
    Sasl(Box<SaslClientStep>),
    /// Resource binding runs (RFC 6120 section 7); `session`: the server requires the
    /// legacy session after it.
    Bind {
        step: BindClient,
        session: bool,
        auth: Box<Authenticated>,
    },
    /// The legacy session runs (RFC 3921 section 3).
    Session {
        step: SessionClient,
        auth: Box<Authenticated>,
    },
    /// `<resume/>` is out (XEP-0198 section 5); `bind` and `session` are what the features
    /// offered, for a fresh bind when the server answers `<failed/>`.
    Resume {
        auth: Box<Authenticated>,
        bind: bool,
        session: bool,
    },
    /// Bind 2 bound `jid` without enabling stream management inline, which the
    /// configuration asks for (the server's Bind 2 does not offer it: Prosody 0.12 with
    /// prosody-modules but not `mod_sasl2_sm`). The features that follow `<success/>` are
    /// awaited: when they offer stream management, `<enable/>` goes out before the session
    /// is online, so that everything the embedder sends counts (XEP-0198 section 3).
    Bound2 {
        jid: FullJid,
        auth: Box<Authenticated>,
    },
    /// Stanzas flow.
    Online(Box<Authenticated>),
}

impl State {
    /// What SASL established, once it ran.
    fn authenticated(&self) -> Option<&Authenticated> {
        match self {
            State::AwaitHeader(auth) | State::AwaitFeatures(auth) | State::StartTls(_, auth) => {
                auth.as_deref()
            }
            State::Sasl(_) => None,
            State::Bind { auth, .. }
            | State::Session { auth, .. }
            | State::Resume { auth, .. }
            | State::Bound2 { auth, .. }
            | State::Online(auth) => Some(auth),
        }
    }
}

/// What a server's `<stream:features/>` said that the client keeps for the embedder.
struct PeerFeatures {
    /// What the server accepts on the current stream (XEP-0478).
    limits: Option<StreamLimits>,
    /// The features, when some are not the core's to negotiate.
    features: Option<Element>,
}

/// The client side of one c2s stream.
pub struct Client {
    /// Shared, like the server's: a program with many sessions of one account (a load
    /// tester, a bot farm) holds one copy.
    config: Arc<ClientConfig>,
    engine: Engine<ClientEvent>,
    state: State,
    rng: Rng,
    /// What the server's latest features said beyond what the core negotiates; boxed, and
    /// absent when they said nothing more, so that it costs a session one word.
    peer: Option<Box<PeerFeatures>>,
    next_id: u64,
}

impl core::fmt::Debug for Client {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Client")
            .field("jid", &self.config.jid)
            .field("encrypted", &self.engine.transport().is_encrypted())
            .field(
                "authenticated_with",
                &self.state.authenticated().map(|a| a.mechanism),
            )
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client that will connect with `config`; nothing happens until [`open`](Self::open).
    ///
    /// `config` may be shared by many sessions (pass an `Arc`, or a `ClientConfig` for one);
    /// `seed` seeds this session's generator of SCRAM nonces and stanza ids: give each
    /// connection fresh randomness from the operating system, since whoever knows it can
    /// predict them.
    pub fn new(config: impl Into<Arc<ClientConfig>>, seed: u64, now: Instant) -> Self {
        let config = config.into();
        let settings = Settings {
            content_ns: JABBER_CLIENT,
            limits: config.limits,
            response_timeout: config.response_timeout,
            keepalive: config.keepalive,
        };
        let mut engine = Engine::initiating(settings, now);
        engine.set_framing(config.framing);
        Client {
            engine,
            rng: Rng::new(seed),
            config,
            state: State::AwaitHeader(None),
            peer: None,
            next_id: 0,
        }
    }

    /// Resumes the session that `state` describes (XEP-0198 section 5), taken from the
    /// previous `Client` with [`take_resumption_state`](Self::take_resumption_state): once
    /// SASL succeeds the client sends `<resume previd h/>` instead of binding; then
    /// [`ClientEvent::Resumed`], or [`ClientEvent::ResumeFailed`] and a fresh bind. Call it
    /// before [`open`](Self::open), with [`ClientConfig::stream_management`] on.
    ///
    /// # Errors
    ///
    /// [`ClientError::AlreadyOpen`] after `open`; [`ClientError::StreamManagementNotEnabled`]
    /// when the configuration does not use stream management. The state is not kept then.
    pub fn resume_from(&mut self, state: ResumptionState) -> Result<(), ClientError> {
        if !self.engine.is_idle() {
            return Err(ClientError::AlreadyOpen);
        }
        if !self.config.stream_management {
            return Err(ClientError::StreamManagementNotEnabled);
        }
        self.engine.sm_resume_from(state, self.sm_settings());
        Ok(())
    }

    /// Once the stream is over ([`ClientEvent::Closed`]): what a new `Client` needs to
    /// resume the session ([`resume_from`](Self::resume_from)), when the server enabled
    /// resumption (`<enabled resume='true' id/>`): the id, the counters, the stanzas the
    /// server did not acknowledge, and where it asked to be reconnected to. `None` before
    /// the end, without resumption, or once taken (the unacknowledged stanzas go with it,
    /// so [`take_unacked`](Self::take_unacked) is then empty). Output not yet taken with
    /// [`poll_transmit`](Self::poll_transmit) is dropped: the transport is gone.
    pub fn take_resumption_state(&mut self) -> Option<ResumptionState> {
        self.engine.sm_take_state()
    }

    /// Once the stream is over for good: the stanzas the server did not acknowledge, oldest
    /// first, as they were sent (empty without stream management, before the end, or once
    /// taken). They may or may not have reached it.
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

    /// Starts the stream at time `now`: the client's header is queued, and the server has
    /// the response timeout from `now` to answer.
    ///
    /// # Errors
    ///
    /// [`ClientError::AlreadyOpen`] when called a second time.
    pub fn open(&mut self, now: Instant) -> Result<(), ClientError> {
        self.at(now, |s| {
            if !s.engine.is_idle() {
                return Err(ClientError::AlreadyOpen);
            }
            s.send_header(None);
            Ok(())
        })
    }

    /// The transport is TLS from its first byte (XEP-0368 direct TLS, port 5223 with ALPN
    /// `xmpp-client`): call before [`open`](Self::open), once the handshake is done, with
    /// the channel-binding data it exported and whether the client presented a
    /// certificate. The stream then begins encrypted: `from` goes into the first header,
    /// STARTTLS is neither expected nor used, whatever [`ClientConfig::tls`] says, and
    /// the `-PLUS` mechanisms can run on the first stream.
    ///
    /// # Errors
    ///
    /// [`ClientError::AlreadyOpen`] after [`open`](Self::open) (or a second time).
    pub fn direct_tls(
        &mut self,
        channel_binding: Option<ChannelBinding>,
        client_certificate: bool,
    ) -> Result<(), ClientError> {
        let transport = Transport::Tls {
            channel_bindings: channel_binding.into_iter().collect(),
            peer_certificate: client_certificate,
        };
        if self.engine.direct_tls(transport) {
            Ok(())
        } else {
            Err(ClientError::AlreadyOpen)
        }
    }

    /// Bytes received from the server, at time `now` (with WebSocket framing, one whole
    /// message per call: see [`Framing`]).
    ///
    /// Everything after a `<proceed/>` in the same input is discarded, and so is input that
    /// arrives before [`tls_established`](Self::tls_established) (reported as
    /// [`ClientError::AwaitingTls`]): it would be plaintext injected before the handshake.
    /// Once the stream is over, input is ignored.
    ///
    /// # Errors
    ///
    /// [`ClientError::NotOpen`] before [`open`](Self::open), [`ClientError::AwaitingTls`]
    /// while TLS is being set up. The server's faults are not errors here: they end the
    /// stream, which the events report.
    pub fn handle_input(&mut self, now: Instant, data: &[u8]) -> Result<(), ClientError> {
        self.at(now, |s| s.input(data)).map_err(ClientError::from)
    }

    /// TLS is up at time `now` (after [`ClientEvent::TlsRequested`]); `channel_binding` is
    /// what the TLS library exported, for the SCRAM `-PLUS` mechanisms. The stream restarts.
    ///
    /// # Errors
    ///
    /// [`ClientError::NoTlsRequested`] without a [`ClientEvent::TlsRequested`] to answer;
    /// [`ClientError::StreamEnded`] when the stream has ended meanwhile.
    pub fn tls_established(
        &mut self,
        now: Instant,
        channel_binding: Option<ChannelBinding>,
    ) -> Result<(), ClientError> {
        self.secure(now, channel_binding, false)
    }

    /// TLS is up, as with [`tls_established`](Self::tls_established), and the client
    /// presented its certificate in the handshake: SASL `EXTERNAL` (RFC 6120 section
    /// 6.3.4, RFC 4422 appendix A) may then run, if [`ClientConfig::mechanisms`] lists it
    /// and the server offers it. The client asks for no authzid: its message is empty
    /// (`=` on the wire, RFC 6120 section 6.4.2), and the server derives the identity from
    /// the certificate. Without a certificate `EXTERNAL` is never chosen.
    pub fn tls_established_with_client_cert(
        &mut self,
        now: Instant,
        channel_binding: Option<ChannelBinding>,
    ) -> Result<(), ClientError> {
        self.secure(now, channel_binding, true)
    }

    fn secure(
        &mut self,
        now: Instant,
        channel_binding: Option<ChannelBinding>,
        client_certificate: bool,
    ) -> Result<(), ClientError> {
        self.at(now, |s| {
            if s.engine.is_ending() {
                return Err(ClientError::StreamEnded);
            }
            let transport = Transport::Tls {
                channel_bindings: channel_binding.into_iter().collect(),
                // The certificate is the client's, whichever side keeps the transport.
                peer_certificate: client_certificate,
            };
            if !s.engine.tls_established(transport) {
                return Err(ClientError::NoTlsRequested);
            }
            let auth = match std::mem::replace(&mut s.state, State::AwaitHeader(None)) {
                State::StartTls(_, auth) => auth,
                _ => None,
            };
            s.send_header(auth);
            Ok(())
        })
    }

    /// After [`ClientEvent::SaslFailure`], at time `now`: tries again with `mechanism`, or
    /// with the next acceptable one after those that failed.
    ///
    /// # Errors
    ///
    /// [`ClientError::NotAwaitingAuth`] without a [`ClientEvent::SaslFailure`] to answer;
    /// [`ClientError::StreamEnded`] when the stream has ended meanwhile.
    pub fn auth(&mut self, now: Instant, mechanism: Option<Mechanism>) -> Result<(), ClientError> {
        self.at(now, |s| {
            if s.engine.is_ending() {
                return Err(ClientError::StreamEnded);
            }
            if !matches!(&s.state, State::Sasl(step) if step.awaits_embedder()) {
                return Err(ClientError::NotAwaitingAuth);
            }
            let attempt = s.attempt();
            if let State::Sasl(step) = &mut s.state {
                match step.attempt(attempt, mechanism, &mut s.engine) {
                    Ok(()) => s.engine.await_peer(),
                    Err(failure) => s.fail(failure),
                }
            }
            Ok(())
        })
    }

    /// After [`ClientEvent::Sasl2Continue`], at time `now`: performs `task` (XEP-0388
    /// `<next task/>`), with its first data (the children of a `<task-data/>`), if any.
    ///
    /// # Errors
    ///
    /// [`ClientError::NotAwaitingAuth`] when no SASL2 task is asked for;
    /// [`ClientError::StreamEnded`] when the stream has ended meanwhile.
    pub fn sasl2_next(
        &mut self,
        now: Instant,
        task: &str,
        payload: &[Element],
    ) -> Result<(), ClientError> {
        self.at(now, |s| {
            if s.engine.is_ending() {
                return Err(ClientError::StreamEnded);
            }
            let State::Sasl(step) = &mut s.state else {
                return Err(ClientError::NotAwaitingAuth);
            };
            if !step.in_tasks() {
                return Err(ClientError::NotAwaitingAuth);
            }
            step.next_task(task, payload, &mut s.engine);
            s.engine.await_peer();
            Ok(())
        })
    }

    /// After [`ClientEvent::Sasl2TaskData`], at time `now`: answers with a `<task-data/>`
    /// holding `payload`.
    ///
    /// # Errors
    ///
    /// As [`sasl2_next`](Self::sasl2_next).
    pub fn sasl2_task_data(
        &mut self,
        now: Instant,
        payload: &[Element],
    ) -> Result<(), ClientError> {
        self.at(now, |s| {
            if s.engine.is_ending() {
                return Err(ClientError::StreamEnded);
            }
            let State::Sasl(step) = &mut s.state else {
                return Err(ClientError::NotAwaitingAuth);
            };
            if !step.in_tasks() {
                return Err(ClientError::NotAwaitingAuth);
            }
            step.task_data(payload, &mut s.engine);
            s.engine.await_peer();
            Ok(())
        })
    }

    /// Sends a stanza (once online) at time `now`. It is written in `jabber:client`, the
    /// stream's content namespace, even when built or parsed in another (`jabber:server`,
    /// `jabber:component:accept`), and so are its children in that namespace; payloads in
    /// other namespaces keep theirs. An iq without an id gets one from
    /// [`next_id`](Self::next_id). A first-level element of another namespace (stream
    /// management's `<enable/>`...) is written with its own. For a stanza the embedder builds, [`send_with`](Self::send_with)
    /// writes it straight into the output instead.
    ///
    /// An iq that breaks another rule of RFC 6120 section 8.2.3 (no valid `type`, a `get`
    /// or `set` without exactly one child, a `result` with more than one, an `error`
    /// without `<error/>`) is refused with [`ClientError::InvalidIq`]: the server would
    /// answer it with `bad-request`, or drop it.
    ///
    /// # Errors
    ///
    /// [`ClientError::NotOnline`] before [`ClientEvent::Online`];
    /// [`ClientError::StanzaTooLarge`] over the server's limit (nothing is sent);
    /// [`ClientError::InvalidIq`] for an iq that breaks RFC 6120 section 8.2.3;
    /// [`ClientError::StreamEnded`] once the stream has ended (a late answer: ignore it).
    pub fn send(&mut self, now: Instant, stanza: &Element) -> Result<(), ClientError> {
        self.at(now, |s| {
            s.online()?;
            // Every iq needs an id to be answered (RFC 6120 8.2.3).
            let with_id = (stanza.name() == "iq" && stanza.attr("id").is_none())
                .then(|| stanza.with_attr("id", &s.next_id()));
            let stanza = with_id.as_ref().unwrap_or(stanza);
            check_iq(stanza).map_err(ClientError::InvalidIq)?;
            s.write_stanza(|w| {
                w.element(stanza.root(), JABBER_CLIENT);
            })
        })
    }

    /// Sends the stanza that `write` writes (once online) at time `now`, straight into the
    /// output: a stanza built with the [`stanza`](crate::stanza) builders' `write_to` is
    /// written once, never parsed or serialized again. An unprefixed element is in
    /// `jabber:client`, the stream's default namespace; any other needs its `xmlns`.
    ///
    /// The same checks as [`send`](Self::send), save one: the caller gives every iq its id
    /// (from [`next_id`](Self::next_id); [`IqBuilder`](crate::stanza::IqBuilder) requires
    /// one). Nothing is sent when the stanza is larger than the server accepts
    /// ([`ClientError::StanzaTooLarge`]) or when `write` leaves an element open
    /// ([`ClientError::Unbalanced`]).
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send), and [`ClientError::Unbalanced`].
    ///
    /// ```
    /// # use xmpp_sansio::client::{Client, ClientConfig, ClientError};
    /// # use xmpp_sansio::jid::Jid;
    /// # use xmpp_sansio::stanza::MessageBuilder;
    /// # fn send(client: &mut Client, now: std::time::Instant) -> Result<(), ClientError> {
    /// let romeo: Jid = "romeo@example.net".parse().unwrap();
    /// client.send_with(now, |w| {
    ///     MessageBuilder::new().to(&romeo).body("Art thou not Romeo?").write_to(w)
    /// })?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// The IQ rules that [`send`](Self::send) checks are not checked here: what `write`
    /// writes is never read back. [`IqBuilder`](crate::stanza::IqBuilder) gives every iq an
    /// id and a type; its caller gives a `get` or `set` its one payload.
    pub fn send_with(
        &mut self,
        now: Instant,
        write: impl FnOnce(&mut Writer<'_>),
    ) -> Result<(), ClientError> {
        self.at(now, |s| {
            s.online()?;
            s.write_stanza(write)
        })
    }

    /// Asks the server at time `now` to acknowledge what it handled (XEP-0198 `<r/>`); its
    /// `<a/>` is reported as [`ClientEvent::Acked`] when it acknowledges anything new.
    ///
    /// # Errors
    ///
    /// [`ClientError::StreamManagementNotEnabled`] before
    /// [`ClientEvent::StreamManagementEnabled`]; [`ClientError::StreamEnded`] once the
    /// stream has ended.
    pub fn request_ack(&mut self, now: Instant) -> Result<(), ClientError> {
        self.at(now, |s| {
            if s.engine.is_ending() {
                return Err(ClientError::StreamEnded);
            }
            if !s.engine.sm_request() {
                return Err(ClientError::StreamManagementNotEnabled);
            }
            Ok(())
        })
    }

    /// With stream management begun ([`ClientConfig::stream_management`]): how many of the
    /// stanzas sent since `<enable/>` the server has not acknowledged yet.
    pub fn unacked(&self) -> Option<u32> {
        self.engine.sm_unacked()
    }

    /// Writes a stanza under the server's XEP-0478 limit, all of it or nothing.
    fn write_stanza(&mut self, write: impl FnOnce(&mut Writer<'_>)) -> Result<(), ClientError> {
        let max = self.peer_limits().and_then(|l| l.max_bytes);
        self.engine
            .write_stanza(write, max)
            .map_err(|refused| match refused {
                StanzaRefused::Unbalanced => ClientError::Unbalanced,
                StanzaRefused::TooLarge { size, max } => ClientError::StanzaTooLarge { size, max },
                StanzaRefused::QueueFull => ClientError::UnackedQueueFull,
            })
    }

    /// Answers a received stanza at time `now` with a stanza error (for example
    /// `service-unavailable` for an iq the embedder does not handle, RFC 6120 8.4), with
    /// swapped addresses and the same id. Nothing is sent for an error or an iq result (RFC
    /// 6120 8.3.1, 8.2.3): the result says whether a reply went out.
    ///
    /// # Errors
    ///
    /// [`ClientError::NotOnline`] before [`ClientEvent::Online`];
    /// [`ClientError::StreamEnded`] once the stream has ended (a late answer: ignore it).
    pub fn reply_error(
        &mut self,
        now: Instant,
        to: &Stanza,
        condition: crate::error::StanzaErrorCondition,
    ) -> Result<bool, ClientError> {
        self.at(now, |s| {
            s.online()?;
            Ok(s.engine.error_reply(to, condition))
        })
    }

    /// The features of the server's latest `<stream:features/>` that the core does not
    /// negotiate (stream management when [`ClientConfig::stream_management`] is off, client
    /// state indication, roster versioning...), for
    /// the embedder to use once online (with [`ClientConfig::nonza_namespaces`] for the
    /// elements they bring).
    pub fn other_features(&self) -> impl Iterator<Item = ElementRef<'_>> {
        let features = self.peer.as_ref().and_then(|p| p.features.as_ref());
        features
            .into_iter()
            .flat_map(|f| f.root().children().filter(|c| !self.negotiates(*c)))
    }

    /// Does the core negotiate this feature itself? Stream management only when configured
    /// ([`ClientConfig::stream_management`]); an embedder that runs it itself sees it among
    /// [`other_features`](Self::other_features). The core's own need no copy kept: an idle
    /// client whose server offered nothing more holds none of its features.
    fn negotiates(&self, feature: ElementRef<'_>) -> bool {
        Features::is_known(feature) || (self.config.stream_management && feature.is("sm", SM_NS))
    }

    /// What the server said it accepts on the current stream (XEP-0478), if it said: the
    /// largest stanza it takes, and how long it lets the stream idle. [`send`](Self::send)
    /// refuses a stanza larger than `max_bytes` with [`ClientError::StanzaTooLarge`].
    pub fn peer_limits(&self) -> Option<StreamLimits> {
        self.peer.as_ref().and_then(|p| p.limits)
    }

    /// The `xml:lang` of the server's stream header in force: the default language of every
    /// stanza that carries none (RFC 6120 sections 4.7.4 and 8.1.5).
    pub fn stream_lang(&self) -> Option<Cow<'_, str>> {
        self.engine
            .parser()
            .header()?
            .root()
            .attr_ns(XML_NS, "lang")
    }

    /// The language of a stanza that arrived on this stream: its own `xml:lang`, else the
    /// stream's (RFC 6120 section 8.1.5: "an implementation MUST assume that the default
    /// language is that specified for the entity's input stream"). The stanza is handed over
    /// as received, never copied to carry the stream's language.
    pub fn stanza_lang<'a>(&'a self, stanza: &'a Stanza) -> Option<Cow<'a, str>> {
        stanza.lang_or(self.stream_lang())
    }

    /// A fresh id, unique in this session, for stanzas the embedder sends.
    pub fn next_id(&mut self) -> String {
        crate::stream::rng::next_id(&mut self.rng, &mut self.next_id)
    }

    stream_methods!(ClientEvent);

    /// After [`ClientEvent::Authenticated`] from a SCRAM login: the keys it used
    /// (`ClientKey` and `ServerKey`, with the server's salt and iteration count). Store them
    /// as carefully as the password (they log in as the user on this server) and put them in
    /// [`ClientConfig::scram_keys`] next time: the login then runs no PBKDF2, and needs no
    /// password. Their `Debug` output leaves the keys out.
    pub fn scram_keys(&self) -> Option<&sasl::ScramKeys> {
        self.state.authenticated()?.scram_keys.as_ref()
    }

    /// Can stanzas be sent?
    fn online(&self) -> Result<(), ClientError> {
        if self.engine.is_ending() {
            Err(ClientError::StreamEnded)
        } else if matches!(self.state, State::Online(_)) {
            Ok(())
        } else {
            Err(ClientError::NotOnline)
        }
    }

    /// Our header of a new stream (at `open`, and at each restart), then the server's is
    /// awaited; `auth` is what SASL established, once it ran.
    fn send_header(&mut self, auth: Option<Box<Authenticated>>) {
        StreamRole::write_header(self);
        self.run(State::AwaitHeader(auth));
    }

    /// `state` runs, and the server must answer within the response timeout.
    fn run(&mut self, state: State) {
        self.state = state;
        self.engine.await_peer();
    }

    /// A SASL attempt with the configuration and the transport as they are now.
    fn attempt(&mut self) -> Attempt {
        let transport = self.engine.transport();
        // EXTERNAL authenticates with the certificate given in the TLS handshake: without
        // one there is nothing for the server to derive the identity from.
        let mut preference = self.config.mechanisms.clone();
        if !transport.peer_certificate() {
            preference.retain(|m| *m != Mechanism::External);
        }
        let config = SaslClientConfig {
            preference,
            allow_plain: transport.is_encrypted() || self.config.allow_plain_without_tls,
            channel_binding: transport.channel_bindings().first().cloned(),
            max_iterations: self.config.scram_max_iterations,
            ..SaslClientConfig::default()
        };
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
        Attempt {
            config,
            plus_without_advertisement: self.config.plus_without_advertisement,
            credentials,
            nonce,
            downgrade_protection: self.config.downgrade_protection,
        }
    }

    /// The server's features: the first step they call for begins (RFC 6120 section 4.3.2:
    /// STARTTLS, then SASL, then binding).
    fn on_features(&mut self, features: &Element) {
        let State::AwaitFeatures(auth) =
            std::mem::replace(&mut self.state, State::AwaitHeader(None))
        else {
            return;
        };
        let f = Features::read(features.root());
        // Each set of features says what holds from now on (XEP-0478 section 4).
        let others = features.root().children().any(|c| !self.negotiates(c));
        let peer = PeerFeatures {
            limits: f.limits,
            features: others.then(|| features.clone()),
        };
        self.peer = (peer.limits.is_some() || peer.features.is_some()).then(|| Box::new(peer));
        if !self.engine.transport().is_encrypted() {
            // RFC 7395 section 3.7: over WebSocket an offer of STARTTLS is ignored.
            let starttls = f.starttls.filter(|_| !self.engine.framing().is_websocket());
            match StartTlsClient::begin(self.config.tls, starttls, &mut self.engine) {
                Ok(Some(step)) => return self.run(State::StartTls(step, auth)),
                Ok(None) => {}
                Err(failure) => return self.fail(failure),
            }
        }
        let mut auth = auth;
        let sm_offered = features.root().children().any(|c| c.is("sm", SM_NS));
        if let Some(auth) = &mut auth {
            auth.sm_offered = sm_offered;
        }
        if auth.is_some() && self.engine.sm_is_resuming() {
            let offered = sm_offered;
            if offered {
                if let Some(auth) = auth {
                    let session = f.session == Some(Requirement::Required);
                    return self.send_resume(auth, f.bind, session);
                }
            }
            // Not offered on this stream: the previous session cannot be resumed here.
            self.resume_failed(None, None);
        }
        let Some(auth) = auth else {
            let attempt = self.attempt();
            let fast = f.sasl2.as_ref().and_then(|offer| {
                let token = self.config.fast_token.as_ref()?;
                self.fast_mechanism(offer, Some(token.mechanism))?;
                Some(token.clone())
            });
            let started = match f.sasl2 {
                Some(offer) if self.config.sasl2 && fast.is_some() => {
                    let inline = self.sasl2_inline(&offer);
                    let Some(token) = fast else { return };
                    let cb = token
                        .mechanism
                        .channel_binding()
                        .and_then(|t| {
                            let bindings = self.engine.transport().channel_bindings();
                            bindings
                                .iter()
                                .find(|cb| cb.kind == t)
                                .map(|cb| cb.data.clone())
                        })
                        .unwrap_or_default();
                    let authcid = self.config.jid.local().unwrap_or_default().to_owned();
                    let options = (self.config.fast_count, self.config.fast_invalidate);
                    Ok(SaslClientStep::begin_fast(
                        offer.mechanisms,
                        f.channel_bindings,
                        &authcid,
                        token,
                        cb,
                        options,
                        inline,
                        &mut self.engine,
                    ))
                }
                Some(offer) if self.config.sasl2 && !offer.mechanisms.is_empty() => {
                    let inline = self.sasl2_inline(&offer);
                    SaslClientStep::begin_sasl2(
                        offer.mechanisms,
                        f.channel_bindings,
                        attempt,
                        inline,
                        &mut self.engine,
                    )
                }
                _ => SaslClientStep::begin(
                    f.mechanisms,
                    f.channel_bindings,
                    attempt,
                    &mut self.engine,
                ),
            };
            return match started {
                Ok(step) => self.run(State::Sasl(Box::new(step))),
                Err(failure) => self.fail(failure),
            };
        };
        let id = self.next_id();
        let resource = self.config.resource.as_deref();
        match BindClient::begin(f.bind, resource, id, &mut self.engine) {
            Ok(step) => self.run(State::Bind {
                step,
                session: f.session == Some(Requirement::Required),
                auth,
            }),
            Err(failure) => self.fail(failure),
        }
    }

    /// `<resume previd h/>` instead of binding (XEP-0198 section 5).
    fn send_resume(&mut self, auth: Box<Authenticated>, bind: bool, session: bool) {
        let previd = self.engine.sm_resumable().map(|r| r.id.clone());
        let h = self.engine.sm_handled();
        self.engine.write_element(|w| {
            management::write_resume(w, "resume", previd.as_deref().unwrap_or_default(), h)
        });
        self.run(State::Resume {
            auth,
            bind,
            session,
        });
    }

    /// The server's answer to `<resume/>`: `<resumed/>` or `<failed/>`.
    fn on_resume_answer(&mut self, el: &Element) {
        let State::Resume {
            auth,
            bind,
            session,
        } = std::mem::replace(&mut self.state, State::AwaitHeader(None))
        else {
            return;
        };
        if el.name() == "resumed" {
            let Some(h) = management::read_h(el) else {
                return self.stream_error(StreamErrorCondition::BadFormat);
            };
            let Some(jid) = self.engine.sm_jid().cloned() else {
                return self.stream_error(StreamErrorCondition::UndefinedCondition);
            };
            self.state = State::Online(auth);
            self.engine.negotiated();
            if let Err(error) = self.engine.sm_resumed(h) {
                return self.close_with_error(error);
            }
            return self.engine.report(ClientEvent::Resumed(jid));
        }
        self.resume_failed(
            management::failed_condition(el.root()),
            management::read_h(el),
        );
        let id = self.next_id();
        let resource = self.config.resource.as_deref();
        match BindClient::begin(bind, resource, id, &mut self.engine) {
            Ok(step) => self.run(State::Bind {
                step,
                session,
                auth,
            }),
            Err(failure) => self.fail(failure),
        }
    }

    /// The previous session is not resumed: its unacknowledged stanzas go back to the
    /// embedder (minus those `h` acknowledges).
    fn resume_failed(
        &mut self,
        condition: Option<crate::error::StanzaErrorCondition>,
        h: Option<u32>,
    ) {
        let unacked = self.engine.sm_resume_failed(h);
        self.engine
            .report(ClientEvent::ResumeFailed { condition, unacked });
    }

    /// SASL succeeded and the stream restarted (RFC 6120 section 6.4.6).
    fn authenticated(&mut self, auth: Authenticated) {
        let jid = self.config.jid.clone();
        self.engine.report(ClientEvent::Authenticated(jid));
        self.send_header(Some(Box::new(auth)));
    }

    /// The server bound `jid`: the session follows when the server requires it.
    fn bound(&mut self, jid: FullJid) {
        match std::mem::replace(&mut self.state, State::AwaitHeader(None)) {
            State::Bind {
                session: true,
                auth,
                ..
            } => {
                let id = self.next_id();
                let step = SessionClient::begin(id, jid, &mut self.engine);
                self.run(State::Session { step, auth });
            }
            State::Bind { auth, .. } | State::Session { auth, .. } => self.go_online(jid, auth),
            other => self.state = other,
        }
    }

    fn go_online(&mut self, jid: FullJid, auth: Box<Authenticated>) {
        let offered = auth.sm_offered;
        self.state = State::Online(auth);
        self.engine.negotiated();
        // XEP-0198 section 3: enabled once bound, before the embedder sends anything, so
        // that every stanza it sends is counted (from `<enable/>` on).
        if self.config.stream_management && offered {
            let resume = self.config.resumption;
            self.engine
                .write_element(|w| management::write_enable(w, resume));
            self.engine.sm_begin(self.sm_settings());
            if resume {
                self.engine.sm_bound(&jid);
            }
        }
        self.engine.report(ClientEvent::Online(jid));
    }

    /// The server's answer to our `<enable/>` (XEP-0198 sections 3 and 6).
    fn on_sm_answer(&mut self, el: &Element) {
        if el.name() == "enabled" {
            self.engine.sm_enabled();
            if self.config.resumption {
                if let Some(acks) = self.engine.sm_mut() {
                    acks.resumable = management::read_enabled(el.root()).map(Box::new);
                }
            }
            self.engine.report(ClientEvent::StreamManagementEnabled);
        } else {
            self.engine.sm_end();
            let condition = management::failed_condition(el.root());
            self.engine
                .report(ClientEvent::StreamManagementFailed(condition));
        }
    }
}

/// May the server bind `jid` for `account`, authenticated with `auth`? Its bare JID must be
/// the account (the client asks for no other authzid), or for `ANONYMOUS`, which has no
/// account, any JID of the account's domain (RFC 6120 section 7.7.2.2 lets the server
/// choose the resource, never the account).
fn may_bind(jid: &FullJid, account: &BareJid, auth: &Authenticated) -> bool {
    match auth.mechanism {
        Some(Mechanism::Anonymous) => jid.domain() == account.domain(),
        _ => jid.to_bare() == *account,
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
        let State::AwaitHeader(auth) = &mut self.state else {
            return self.stream_error(StreamErrorCondition::InvalidXml);
        };
        let auth = auth.take();
        if let Err(condition) = check_peer_header(self.engine.parser(), &header, JABBER_CLIENT) {
            return self.stream_error(condition);
        }
        if header.attr("id").is_none() {
            return self.abandon(Abandoned::PeerProtocol(ProtocolViolation::NoStreamId));
        }
        self.engine.report(ClientEvent::StreamOpened);
        self.run(State::AwaitFeatures(auth));
    }

    fn on_element(&mut self, el: Element) {
        let el = match self.engine.stanza(el) {
            Ok(stanza) if matches!(self.state, State::Online(_)) => {
                match stanza.triage() {
                    // Whatever the addressing or payload: the embedder decides.
                    Triage::Process => self.engine.report(ClientEvent::Stanza(stanza)),
                    // RFC 6120 8.2.3: an iq request that breaks the IQ rules (or has no
                    // valid type) is answered with bad-request, by the core, so that the
                    // embedder only ever sees requests it can answer.
                    Triage::BadRequest(_) => {
                        self.engine
                            .error_reply(&stanza, crate::error::StanzaErrorCondition::BadRequest);
                    }
                    // A response that breaks them pairs with nothing: dropped, unanswered.
                    Triage::Ignore(_) => {}
                }
                return;
            }
            // An iq may be the answer of the bind or session step.
            Ok(stanza) => stanza.into_element(),
            Err(el) => el,
        };
        match &mut self.state {
            State::AwaitFeatures(_) if el.is("features", STREAM_NS) => self.on_features(&el),
            State::StartTls(step, _) if StartTlsClient::takes(&el) => {
                // The restart after TLS sets the state (`tls_established`).
                let next = step.on_element(&el);
                self.follow(next);
            }
            State::Sasl(step) if step.takes(&el) => {
                let inline = step.inline().cloned();
                let sasl2 = inline.is_some();
                let next = step.on_element(&el, &mut self.engine);
                if let Some(auth) = self.follow(next) {
                    if sasl2 {
                        self.sasl2_success(auth, &el, inline);
                    } else {
                        self.authenticated(auth);
                    }
                }
            }
            State::Bind { step, auth, .. } if BindClient::takes(&el) => {
                let account = &self.config.jid;
                let next = step.on_iq(&el, |jid| may_bind(jid, account, auth));
                if let Some(jid) = self.follow(next) {
                    self.bound(jid);
                }
            }
            State::Session { step, .. } if SessionClient::takes(&el) => {
                let next = step.on_iq(&el);
                if let Some(jid) = self.follow(next) {
                    self.bound(jid);
                }
            }
            State::Resume { .. }
                if el.ns() == SM_NS && matches!(el.name(), "resumed" | "failed") =>
            {
                self.on_resume_answer(&el);
            }
            State::Online(_)
                if self.engine.sm_begun()
                    && !self.engine.sm_is_enabled()
                    && el.ns() == SM_NS
                    && matches!(el.name(), "enabled" | "failed") =>
            {
                self.on_sm_answer(&el);
            }
            State::Bound2 { .. } if el.is("features", STREAM_NS) => {
                self.keep_features(&el);
                let sm_offered = el.root().children().any(|c| c.is("sm", SM_NS));
                if let State::Bound2 { jid, mut auth } =
                    std::mem::replace(&mut self.state, State::AwaitHeader(None))
                {
                    auth.sm_offered = sm_offered;
                    auth.features_due = false;
                    self.go_online(jid, auth);
                }
            }
            State::Online(auth) if auth.features_due && el.is("features", STREAM_NS) => {
                auth.features_due = false;
                self.keep_features(&el);
            }
            State::Online(_) if self.config.nonza_namespaces.iter().any(|n| n == el.ns()) => {
                self.engine.report(ClientEvent::Nonza(el));
            }
            _ => self.stream_error(StreamErrorCondition::UnsupportedStanzaType),
        }
    }
}

impl From<SaslAsk> for ClientEvent {
    fn from(ask: SaslAsk) -> Self {
        match ask {
            SaslAsk::Failure(failure) => ClientEvent::SaslFailure(failure),
            SaslAsk::Continue(tasks) => ClientEvent::Sasl2Continue(tasks),
            SaslAsk::TaskData(el) => ClientEvent::Sasl2TaskData(el),
        }
    }
}

/// SASL2 and Bind 2 (XEP-0388, XEP-0386): what goes inline, and what `<success/>` says.
impl Client {
    /// What each `<authenticate/>` carries: the user agent, and a Bind 2 request when the
    /// server offers Bind 2 (with stream management's `<enable/>` when both want it).
    fn sasl2_inline(&self, offer: &Sasl2Offer) -> Inline {
        let config = &self.config;
        // A session to resume where the server cannot resume inside `<authenticate/>`
        // (Prosody 0.12 without `mod_sasl2_sm`): resumption follows `<success/>`, the
        // XEP-0198 way, and a Bind 2 request now would bind a new session in its place
        // (found by `interop/run`). Binding, if the resumption fails, is RFC 6120's then.
        let resume_after = self.engine.sm_is_resuming() && !offer.sm;
        let bind = (config.bind2 && offer.bind2 && !resume_after).then(|| Bind2Request {
            tag: config.bind2_tag.clone(),
            sm: (config.stream_management && offer.bind2_sm).then_some(config.resumption),
        });
        // XEP-0198 with SASL2: the previous session is resumed inside `<authenticate/>`
        // when the server offers it inline (else after `<success/>`, as after RFC 6120
        // SASL).
        let resume = (offer.sm && self.engine.sm_is_resuming())
            .then(|| {
                let previd = self.engine.sm_resumable().map(|r| r.id.clone())?;
                Some((previd, self.engine.sm_handled()))
            })
            .flatten();
        let request_token = config
            .fast_request_token
            .then(|| self.fast_mechanism(offer, None))
            .flatten();
        Inline {
            user_agent: config.user_agent.clone(),
            bind,
            resume,
            request_token,
            fast: None,
        }
    }

    /// The strongest Hashed Token mechanism the server offers for FAST that the transport
    /// can bind to (`wanted`: only that one).
    fn fast_mechanism(
        &self,
        offer: &Sasl2Offer,
        wanted: Option<HtMechanism>,
    ) -> Option<HtMechanism> {
        let transport = self.engine.transport();
        HtMechanism::ALL.into_iter().find(|m| {
            wanted.is_none_or(|w| w == *m)
                && offer.fast.iter().any(|o| o == m.name())
                && m.channel_binding()
                    .is_none_or(|t| transport.channel_bindings().iter().any(|cb| cb.kind == t))
        })
    }

    /// SASL2 `<success/>` (its final data already verified by the step): with Bind 2's
    /// `<bound/>` the session is online at once, as the `<authorization-identifier/>` (a
    /// full JID of the account) says; without it the features that follow lead to
    /// binding, on the same stream (no restart).
    fn sasl2_success(&mut self, mut auth: Authenticated, el: &Element, inline: Option<Inline>) {
        let account = self.config.jid.clone();
        let bound = el.root().get_child("bound", BIND2_NS);
        let identifier = sasl2::authorization_identifier(el.root());
        self.engine
            .report(ClientEvent::Authenticated(account.clone()));
        let Inline {
            bind,
            resume,
            request_token,
            ..
        } = inline.unwrap_or_default();
        // FAST (XEP-0484 sections 2.3 and 2.5): a token asked for, or a rotation of the one
        // this login used.
        let token_mechanism = match auth.mechanism {
            None => self.config.fast_token.as_ref().map(|t| t.mechanism),
            Some(_) => request_token,
        };
        if let Some(token) = token_mechanism.and_then(|m| sasl2::read_token(el.root(), m)) {
            self.engine.report(ClientEvent::FastToken(token));
        }
        if resume.is_some() {
            // XEP-0198 with SASL2: `<resumed/>` or `<failed/>` inside `<success/>`.
            let answer = el
                .root()
                .children()
                .find(|c| c.ns() == SM_NS && matches!(c.name(), "resumed" | "failed"));
            match answer {
                Some(r) if r.name() == "resumed" => {
                    let h = r.attr("h").and_then(|h| h.parse::<u32>().ok());
                    let Some(h) = h else {
                        return self.stream_error(StreamErrorCondition::BadFormat);
                    };
                    let Some(jid) = self.engine.sm_jid().cloned() else {
                        return self.stream_error(StreamErrorCondition::UndefinedCondition);
                    };
                    auth.features_due = true;
                    self.state = State::Online(Box::new(auth));
                    self.engine.negotiated();
                    if let Err(error) = self.engine.sm_resumed(h) {
                        return self.close_with_error(error);
                    }
                    return self.engine.report(ClientEvent::Resumed(jid));
                }
                Some(failed) => {
                    let h = failed.attr("h").and_then(|h| h.parse::<u32>().ok());
                    self.resume_failed(management::failed_condition(failed), h);
                }
                None => self.resume_failed(None, None),
            }
        }
        let (Some(bind), Some(bound)) = (bind, bound) else {
            auth.features_due = false;
            return self.run(State::AwaitFeatures(Some(Box::new(auth))));
        };
        let jid = identifier.and_then(|i| i.parse::<FullJid>().ok());
        let Some(jid) = jid.filter(|j| may_bind(j, &account, &auth)) else {
            return self.abandon(Abandoned::BindFailed(None));
        };
        let sm = bound
            .children()
            .find(|c| c.ns() == SM_NS && matches!(c.name(), "enabled" | "failed"));
        let sm_answer = sm.map(|c| {
            (
                c.name() == "enabled",
                management::failed_condition(c),
                management::read_enabled(c),
            )
        });
        if bind.sm.is_none() && self.config.stream_management {
            // Stream management wanted, and not enabled inside the bind: the features
            // after `<success/>` may offer it the XEP-0198 way.
            auth.features_due = false;
            return self.run(State::Bound2 {
                jid,
                auth: Box::new(auth),
            });
        }
        auth.features_due = true;
        self.state = State::Online(Box::new(auth));
        self.engine.negotiated();
        if bind.sm.is_some() {
            // Counting began with our `<enable/>` inside `<authenticate/>`: nothing was
            // sent since.
            self.engine.sm_begin(self.sm_settings());
            if self.config.resumption {
                self.engine.sm_bound(&jid);
            }
        }
        self.engine.report(ClientEvent::Online(jid));
        match sm_answer {
            Some((true, _, resumable)) if bind.sm.is_some() => {
                self.engine.sm_enabled();
                if self.config.resumption {
                    if let Some(acks) = self.engine.sm_mut() {
                        acks.resumable = resumable.map(Box::new);
                    }
                }
                self.engine.report(ClientEvent::StreamManagementEnabled);
            }
            Some((false, condition, _)) if bind.sm.is_some() => {
                self.engine.sm_end();
                self.engine
                    .report(ClientEvent::StreamManagementFailed(condition));
            }
            _ if bind.sm.is_some() => {
                // Asked for and not answered: as good as refused.
                self.engine.sm_end();
                self.engine
                    .report(ClientEvent::StreamManagementFailed(None));
            }
            _ => {}
        }
    }

    /// Keeps what a `<stream:features/>` says beyond what the core negotiates.
    fn keep_features(&mut self, features: &Element) {
        let f = Features::read(features.root());
        let others = features.root().children().any(|c| !Features::is_known(c));
        let peer = PeerFeatures {
            limits: f.limits,
            features: others.then(|| features.clone()),
        };
        self.peer = (peer.limits.is_some() || peer.features.is_some()).then(|| Box::new(peer));
    }
}
