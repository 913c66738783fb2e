//! The errors XMPP puts on the wire (RFC 6120 sections 4.9, 6.5 and 8.3): their conditions,
//! and the elements that carry them.
//!
//! - [`StreamError`] (section 4.9): `<stream:error/>`, after which the stream is closed;
//! - [`StanzaError`] (section 8.3): the `<error/>` child of a stanza of type `error`;
//! - [`SaslFailure`] (section 6.5): `<failure/>` in the SASL namespace.
//!
//! These are the protocol's vocabulary, kept apart from the Rust errors of the layers that
//! detect faults, so that each layer can say which condition a fault maps to. Each can be read
//! from a received element and written into a [`BytesMut`](bytes::BytesMut) through a
//! [`Writer`](crate::xml::Writer).
//!
//! Reading is lenient where RFC 6120 asks for it: a condition this crate does not know is
//! read as `undefined-condition` (stream and stanza errors), extra children are ignored, and
//! only an error element that names no condition at all is refused ([`MalformedError`]).

mod common;
mod sasl;
// A stanza error names its generator with a JID (`by`): with the `jid` feature.
#[cfg(feature = "jid")]
mod stanza;
mod stream;

#[cfg(feature = "jid")]
pub(crate) use common::vocabulary;
pub use common::{AppCondition, MalformedError, Text, UnknownName};
pub use sasl::{SaslFailure, SaslFailureCondition};
#[cfg(feature = "jid")]
pub use stanza::{ErrorType, StanzaError, StanzaErrorCondition};
pub use stream::{StreamError, StreamErrorCondition};

/// `jabber:client`, the content namespace of client-to-server streams (RFC 6120 section
/// 4.8.3).
pub const JABBER_CLIENT: &str = "jabber:client";
/// `jabber:server`, the content namespace of server-to-server streams (RFC 6120 section
/// 4.8.3).
pub const JABBER_SERVER: &str = "jabber:server";
/// `jabber:component:accept`, the content namespace of component streams (XEP-0114).
pub const JABBER_COMPONENT_ACCEPT: &str = "jabber:component:accept";
/// The namespaces in which message, presence and iq are stanzas, and in which a stanza
/// error's `<error/>` is.
pub const CONTENT_NAMESPACES: [&str; 3] = [JABBER_CLIENT, JABBER_SERVER, JABBER_COMPONENT_ACCEPT];

/// `http://etherx.jabber.org/streams`, the namespace of `<stream:stream>`,
/// `<stream:features>` and `<stream:error>` (RFC 6120 section 4.8.1).
pub const STREAM_NS: &str = "http://etherx.jabber.org/streams";
/// `urn:ietf:params:xml:ns:xmpp-streams`, the namespace of stream error conditions
/// (RFC 6120 section 4.9.2).
pub const STREAM_ERRORS_NS: &str = "urn:ietf:params:xml:ns:xmpp-streams";
/// `urn:ietf:params:xml:ns:xmpp-framing`, the namespace of `<open/>` and `<close/>`, the
/// stream headers of XMPP over WebSocket (RFC 7395 section 3.3.2).
pub const FRAMING_NS: &str = "urn:ietf:params:xml:ns:xmpp-framing";
/// `urn:ietf:params:xml:ns:xmpp-stanzas`, the namespace of stanza error conditions
/// (RFC 6120 section 8.3.2).
pub const STANZA_ERRORS_NS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";
/// `urn:ietf:params:xml:ns:xmpp-sasl`, the namespace of SASL negotiation (RFC 6120
/// section 6.4).
pub const SASL_NS: &str = "urn:ietf:params:xml:ns:xmpp-sasl";
