//! The stream every role runs (RFC 6120 section 4) and the engine that runs it.
//!
//! An XMPP session is one XML stream each way: a header (section 4.7), first-level
//! elements, and a closing tag (section 4.4), restarted after STARTTLS (section 5.4.3.3) and
//! SASL (section 6.4.6), and ended by either side, gracefully or with a stream error
//! (section 4.9). What that means is the same for every role, so it is written once here:
//!
//! - `header`: the header this side writes and the checks of the peer's;
//! - `features`: reading `<stream:features/>` ([`Features`]) and the
//!   limits a receiving entity announces ([`StreamLimits`], XEP-0478);
//! - `tls`: the STARTTLS policy ([`TlsPolicy`]) and what protects the transport;
//! - `output`: the bytes waiting to be sent, nothing after our closing tag;
//! - `framing`: TCP or WebSocket ([`Framing`], RFC 7395): `<open/>` and `<close/>`, one
//!   element per message;
//! - `timers`: the response, keepalive and closing-handshake timers;
//! - `close`: how a stream ended ([`CloseReason`], [`Abandoned`]);
//! - `engine`: the engine every role owns (the parser and the one input
//!   feeder, the one writer, the timer table, the event queue, the clock and the
//!   lifecycle), and the closing paths, written once;
//! - `management`: stream management (XEP-0198): the counters, `<r/>` and `<a/>`, the
//!   unacknowledged queue ([`UnackedLimits`]) and resumption ([`ResumptionState`]), on the
//!   engine's writer, feeder and timers;
//! - `rng`: the embedder-seeded generator of ids and nonces.
//!
//! The roles ([`crate::client`], [`crate::server`], [`crate::component`]) add what differs:
//! their configuration, their events, and the negotiation they run.

mod close;
pub(crate) mod engine;
mod features;
pub(crate) mod framing;
pub(crate) mod header;
pub(crate) mod management;
pub(crate) mod output;
pub(crate) mod rng;
pub(crate) mod timers;
pub(crate) mod tls;

pub use close::{Abandoned, CloseReason, ProtocolViolation};
pub use features::{Features, Requirement, Sasl2Offer, StreamLimits};
pub use framing::Framing;
pub use management::{ResumptionState, SM_NS, UnackedLimits};
pub use tls::TlsPolicy;

/// `urn:ietf:params:xml:ns:xmpp-tls` (RFC 6120 section 5).
pub const TLS_NS: &str = "urn:ietf:params:xml:ns:xmpp-tls";
/// `urn:ietf:params:xml:ns:xmpp-bind` (RFC 6120 section 7).
pub const BIND_NS: &str = "urn:ietf:params:xml:ns:xmpp-bind";
/// `urn:xmpp:sasl-cb:0`, the channel-binding types a server supports (XEP-0440).
pub const SASL_CB_NS: &str = "urn:xmpp:sasl-cb:0";
/// `urn:ietf:params:xml:ns:xmpp-session` (RFC 3921 section 3, kept by RFC 6121 appendix E).
pub const SESSION_NS: &str = "urn:ietf:params:xml:ns:xmpp-session";
/// `urn:xmpp:stream-limits:0`, the limits a receiving entity announces (XEP-0478).
pub const STREAM_LIMITS_NS: &str = "urn:xmpp:stream-limits:0";
/// `urn:xmpp:sasl:2`, the extensible SASL profile (XEP-0388).
pub const SASL2_NS: &str = "urn:xmpp:sasl:2";
/// `urn:xmpp:bind:0`, resource binding inside SASL2 (XEP-0386, Bind 2).
pub const BIND2_NS: &str = "urn:xmpp:bind:0";
/// `urn:xmpp:fast:0`, token authentication inside SASL2 (XEP-0484, FAST).
pub const FAST_NS: &str = "urn:xmpp:fast:0";
