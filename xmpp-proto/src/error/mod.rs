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
mod stanza;
mod stream;

pub(crate) use common::vocabulary;
pub use common::{AppCondition, MalformedError, Text, UnknownName};
pub use sasl::{SaslFailure, SaslFailureCondition};
pub use stanza::{ErrorType, StanzaError, StanzaErrorCondition};
pub use stream::{StreamError, StreamErrorCondition};

/// `http://etherx.jabber.org/streams`, the namespace of `<stream:stream>`,
/// `<stream:features>` and `<stream:error>` (RFC 6120 section 4.8.1).
pub const STREAM_NS: &str = "http://etherx.jabber.org/streams";
/// `urn:ietf:params:xml:ns:xmpp-streams`, the namespace of stream error conditions
/// (RFC 6120 section 4.9.2).
pub const STREAM_ERRORS_NS: &str = "urn:ietf:params:xml:ns:xmpp-streams";
/// `urn:ietf:params:xml:ns:xmpp-stanzas`, the namespace of stanza error conditions
/// (RFC 6120 section 8.3.2).
pub const STANZA_ERRORS_NS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";
/// `urn:ietf:params:xml:ns:xmpp-sasl`, the namespace of SASL negotiation (RFC 6120
/// section 6.4).
pub const SASL_NS: &str = "urn:ietf:params:xml:ns:xmpp-sasl";
