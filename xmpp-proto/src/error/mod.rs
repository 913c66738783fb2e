//! Error conditions that XMPP puts on the wire (RFC 6120 sections 4.9 and 8.3).
//!
//! These are the protocol's vocabulary, kept apart from any Rust error type so that every
//! layer (the XML parser, the stream, the roles) can say which condition a fault maps to.

mod stream;

pub use stream::StreamErrorCondition;
