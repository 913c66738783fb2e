//! What a c2s server reports to its embedder, and its errors (RFC 6120 conditions carried
//! where the peer caused them).

#[cfg(doc)]
use super::{Server, ServerConfig};
use crate::error::StreamError;
use crate::jid::{BareJid, FullJid};
use crate::negotiate::bind::BindRequest;
use crate::negotiate::sasl_server::AuthQuestion;
use crate::sasl::Mechanism;
use crate::sasl::ht::HtMechanism;
use crate::stanza::{IqRule, Stanza};
use crate::stream::CloseReason;
#[cfg(doc)]
use crate::stream::Framing;
use crate::stream::engine::{InputRefused, stream_event};
use crate::xml::Element;

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

impl From<BindRequest> for ServerEvent {
    fn from(request: BindRequest) -> Self {
        ServerEvent::BindRequest {
            account: request.account,
            resource: request.resource,
        }
    }
}
