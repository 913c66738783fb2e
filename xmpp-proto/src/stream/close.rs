//! How a stream ended (RFC 6120 sections 4.4 and 4.9), as every role reports it with its
//! `Closed` event.

use crate::error::{StanzaError, StreamError};

/// Why a side gave up on its own: it sent `</stream:stream>` without a stream error, since
/// none fits a fault that is not the peer's XML or a condition of RFC 6120 section 4.9.3.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Abandoned {
    /// TLS could not be set up: required but not offered, or refused (by the server, with
    /// `<failure/>`; a server refuses a `<starttls/>` it cannot honour the same way, RFC
    /// 6120 section 5.4.2.2).
    TlsUnavailable,
    /// No offered SASL mechanism is acceptable.
    NoMechanism,
    /// The SCRAM server signature was wrong: the server does not know the password.
    ServerSignature,
    /// The server's SCRAM iteration count is above
    /// [`ClientConfig::scram_max_iterations`](crate::client::ClientConfig::scram_max_iterations):
    /// running it would stall the embedder (RFC 5802 section 9).
    ScramIterations {
        /// The count the server sent (saturated at `u64::MAX`).
        count: u64,
        /// The largest count accepted.
        max: u32,
    },
    /// The server refused to bind a resource (or to establish the session), with the
    /// stanza error it gave, if it gave a well-formed one.
    BindFailed(Option<Box<StanzaError>>),
    /// The server's XEP-0474 downgrade protection hash does not match the SASL mechanisms
    /// and channel-binding types received: someone removed some on the way (an active
    /// attacker between client and server).
    Downgrade,
    /// The peer broke the protocol in a way no stream error fits.
    PeerProtocol(ProtocolViolation),
}

/// How a peer broke the protocol where no stream error fits (RFC 6120 section 4.9.3 names
/// faults of the XML and of addressing, not of what a server answers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProtocolViolation {
    /// The server's stream header has no `id` (RFC 6120 section 4.7.3).
    NoStreamId,
    /// The server's SASL data is not base64 (RFC 6120 section 6.4.2).
    SaslEncoding,
    /// The server's SASL challenge does not parse for the mechanism.
    SaslChallenge,
    /// The server's SASL success does not parse for the mechanism.
    SaslSuccess,
    /// The server offers no resource binding after authentication (RFC 6120 section 7.4).
    NoBind,
    /// The server bound a JID of another account (RFC 6120 section 7.7.2.2).
    BoundOtherAccount,
    /// The server's bind result holds no full JID (RFC 6120 section 7.6.1: it "MUST
    /// include a `<jid/>` child element that specifies the full JID").
    BindResult,
}

impl core::fmt::Display for ProtocolViolation {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            ProtocolViolation::NoStreamId => "the stream header has no id",
            ProtocolViolation::SaslEncoding => "SASL data that is not base64",
            ProtocolViolation::SaslChallenge => "a malformed SASL challenge",
            ProtocolViolation::SaslSuccess => "a malformed SASL success",
            ProtocolViolation::NoBind => "no resource binding offered",
            ProtocolViolation::BoundOtherAccount => "a JID of another account bound",
            ProtocolViolation::BindResult => "a bind result without a full JID",
        })
    }
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
            Abandoned::Downgrade => "downgrade",
            Abandoned::PeerProtocol(_) => "peer-protocol",
        }
    }
}

impl core::fmt::Display for Abandoned {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Abandoned::TlsUnavailable => f.write_str("TLS could not be set up"),
            Abandoned::NoMechanism => f.write_str("no offered SASL mechanism is acceptable"),
            Abandoned::ServerSignature => f.write_str("the SCRAM server signature is wrong"),
            Abandoned::ScramIterations { count, max } => write!(
                f,
                "the server asked for {count} SCRAM iterations, more than the {max} allowed"
            ),
            Abandoned::BindFailed(Some(e)) => write!(f, "resource binding failed: {e}"),
            Abandoned::BindFailed(None) => f.write_str("resource binding failed"),
            Abandoned::Downgrade => f.write_str(
                "the SASL mechanisms or channel-binding types were tampered with (XEP-0474 hash mismatch)",
            ),
            Abandoned::PeerProtocol(what) => write!(f, "the peer broke the protocol: {what}"),
        }
    }
}

/// How a stream ended, reported with the `Closed` event of every role. After it the core
/// takes no input, writes nothing and reports nothing; the embedder closes the transport.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// We closed (`close`) and the peer answered with its closing tag: a clean end both
    /// ways (RFC 6120 section 4.4).
    LocalClose,
    /// The peer closed first; our closing tag answered it.
    PeerClose,
    /// The server closed first naming another endpoint to connect to (WebSocket framing:
    /// `<close see-other-uri/>`, RFC 7395 section 3.6.1); our `<close/>` answered it. Only
    /// an endpoint of the same security or better is reported (section 4: never `wss:` to
    /// `ws:`); another is a plain [`PeerClose`](Self::PeerClose).
    Redirected(Box<str>),
    /// We ended the stream with this stream error (a fault of the peer, or `close_with`),
    /// followed by our closing tag (RFC 6120 section 4.9.1.1). When our closing tag was
    /// already out, nothing more was written (section 4.4).
    LocalStreamError(Box<StreamError>),
    /// The peer sent this stream error; our closing tag answered it.
    PeerStreamError(Box<StreamError>),
    /// We gave up for a local reason, with our closing tag and no stream error.
    Abandoned(Abandoned),
    /// The transport ended before the stream was closed both ways.
    Eof,
    /// The peer did not answer in time: during negotiation (we sent `connection-timeout`,
    /// RFC 6120 section 4.9.3.4), or in our closing handshake (nothing more was written).
    TimedOut,
}

impl core::fmt::Display for CloseReason {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            CloseReason::LocalClose => f.write_str("closed by us, answered by the peer"),
            CloseReason::PeerClose => f.write_str("closed by the peer"),
            CloseReason::Redirected(uri) => write!(f, "closed by the peer, to reconnect at {uri}"),
            CloseReason::LocalStreamError(e) => {
                write!(f, "we sent the stream error {}", e.condition.as_str())
            }
            CloseReason::PeerStreamError(e) => {
                write!(f, "the peer sent the stream error {}", e.condition.as_str())
            }
            CloseReason::Abandoned(why) => write!(f, "abandoned: {why}"),
            CloseReason::Eof => f.write_str("the transport ended"),
            CloseReason::TimedOut => f.write_str("the peer did not answer in time"),
        }
    }
}
