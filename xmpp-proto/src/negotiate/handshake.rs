//! The XEP-0114 handshake (section 2), both sides.
//!
//! The component proves the secret it shares with the server by sending, in
//! `<handshake/>`, the lowercase hex SHA-1 of the stream id the server gave and the secret;
//! the server compares it (in constant time) and answers with an empty `<handshake/>`, or
//! closes the stream with `not-authorized` (section 3).

use sha1::{Digest, Sha1};

use super::{Failure, Next, Wire};
use crate::error::StreamErrorCondition;
use crate::sasl::ct_eq;
use crate::stanza::JABBER_COMPONENT_ACCEPT;
use crate::xml::Element;

/// The `<handshake/>` value for `stream_id` and `secret`: lowercase hex SHA-1 of their
/// concatenation (XEP-0114 section 2).
pub fn digest(stream_id: &str, secret: &str) -> String {
    let digest = Sha1::new()
        .chain_update(stream_id)
        .chain_update(secret)
        .finalize();
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Is `el` a `<handshake/>`?
fn is_handshake(el: &Element) -> bool {
    el.is("handshake", JABBER_COMPONENT_ACCEPT)
}

/// The component's side: its digest is out, the server's empty `<handshake/>` is awaited.
#[derive(Debug)]
pub(crate) struct HandshakeClient;

impl HandshakeClient {
    /// Sends the digest of the stream id the server gave and the secret.
    pub fn begin(stream_id: &str, secret: &str, out: &mut impl Wire) -> Self {
        let digest = digest(stream_id, secret);
        out.element(|w| {
            w.start("handshake").text(&digest).end("handshake");
        });
        HandshakeClient
    }

    pub fn takes(el: &Element) -> bool {
        is_handshake(el)
    }

    /// The server's `<handshake/>`: the secret is accepted.
    pub fn on_element(&self, _el: &Element) -> Next<()> {
        Next::Done(())
    }
}

/// The server's side: the component's `<handshake/>` is awaited on the stream with this
/// id.
#[derive(Debug)]
pub(crate) struct HandshakeServer;

impl HandshakeServer {
    pub fn takes(el: &Element) -> bool {
        is_handshake(el)
    }

    /// The component's digest: accepted with an empty `<handshake/>`, or `not-authorized`.
    pub fn on_element(
        &self,
        el: &Element,
        stream_id: &str,
        component_secret: &str,
        out: &mut impl Wire,
    ) -> Next<()> {
        let expected = digest(stream_id, component_secret);
        if !ct_eq(el.text().trim().as_bytes(), expected.as_bytes()) {
            return Failure::Stream(StreamErrorCondition::NotAuthorized).into();
        }
        out.element(|w| {
            w.start("handshake").end("handshake");
        });
        Next::Done(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_is_hex_sha1_of_the_id_then_the_secret() {
        // Computed independently: Python's hashlib.sha1(b"3BF96D32secret").hexdigest().
        assert_eq!(
            digest("3BF96D32", "secret"),
            "b09ea9b3b7f586be8a08d0a3dd7466f110aeb136"
        );
    }
}
