//! A sans-IO XMPP protocol core (RFC 6120, RFC 6121, RFC 7622).
//!
//! The core consumes bytes and produces events and bytes to send; the embedder owns the
//! sockets, TLS, the clock and randomness. Layers, bottom up:
//!
//! - [`xml`]: the resumable restricted-XML stream parser, element tree and serializer;
//! - [`jid`]: addresses (RFC 7622);
//! - [`error`]: the stream, stanza and SASL errors of RFC 6120;
//! - [`stanza`]: message, presence and iq views, their rules and builders (RFC 6120
//!   section 8);
//! - [`sasl`]: SASL authentication (RFC 6120 section 6): PLAIN, SCRAM with and without
//!   channel binding, EXTERNAL and ANONYMOUS, client and server;
//! - [`stream`]: what every role shares about the stream: headers, features, ids;
//! - [`client`]: the c2s client role as a state machine;
//! - [`server`]: the c2s server role (receiving entity) as a state machine;
//! - [`component`]: the gateway role, XEP-0114, both sides.
#![forbid(unsafe_code)]
#![cfg_attr(doctest, doc = include_str!("../../README.md"))]
#![deny(missing_docs)]

pub mod client;
pub mod component;
pub mod error;
pub mod jid;
pub mod sasl;
pub mod server;
pub mod stanza;
pub mod stream;
pub mod xml;
