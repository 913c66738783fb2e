//! What a client reports to its embedder, and its errors.

#[cfg(doc)]
use super::{Client, ClientConfig};
use crate::error::{SaslFailure, StreamError};
use crate::jid::{BareJid, FullJid};
use crate::negotiate::sasl_client::SaslAsk;
use crate::sasl::ht::FastToken;
use crate::stanza::{IqRule, Stanza};
use crate::stream::engine::{InputRefused, stream_event};
use crate::stream::{Abandoned, CloseReason};
use crate::xml::Element;

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

impl From<SaslAsk> for ClientEvent {
    fn from(ask: SaslAsk) -> Self {
        match ask {
            SaslAsk::Failure(failure) => ClientEvent::SaslFailure(failure),
            SaslAsk::Continue(tasks) => ClientEvent::Sasl2Continue(tasks),
            SaslAsk::TaskData(el) => ClientEvent::Sasl2TaskData(el),
        }
    }
}
