//! STARTTLS (RFC 6120 section 5), both sides.
//!
//! The receiving entity offers `<starttls/>` in its features (section 5.4.1), with
//! `<required/>` when it will not go on without TLS; the initiating entity sends
//! `<starttls/>` (5.4.2.1), the receiving entity answers `<proceed/>` (5.4.2.3) or
//! `<failure/>` and closes the stream (5.4.2.2). After `<proceed/>` both sides set up TLS
//! and restart the stream (5.4.3.3); nothing after `<proceed/>` on the old stream is
//! looked at, which the engine's feeder guarantees.

use super::{Failure, Next, Wire};
use crate::stream::{Abandoned, Requirement, TLS_NS, TlsPolicy};
use crate::xml::{Element, Writer};

/// The embedder is to set up TLS now (`TlsRequested` of the client and of the server).
#[derive(Debug)]
pub(crate) struct TlsRequested;

/// The initiating entity's side: `<starttls/>` is out, `<proceed/>` or `<failure/>` is
/// awaited.
#[derive(Debug)]
pub(crate) struct StartTlsClient;

impl StartTlsClient {
    /// The features of a stream that TLS does not protect yet arrived: starts STARTTLS when
    /// it is offered and the policy allows it, goes on without (`None`) when the policy
    /// lets it, or gives up when TLS is required but not offered.
    pub fn begin(
        policy: TlsPolicy,
        offered: Option<Requirement>,
        out: &mut impl Wire,
    ) -> Result<Option<Self>, Failure> {
        match (policy, offered) {
            (TlsPolicy::Required | TlsPolicy::Optional, Some(_)) => {
                out.element(|w| {
                    w.start("starttls").xmlns(TLS_NS).end("starttls");
                });
                Ok(Some(StartTlsClient))
            }
            (TlsPolicy::Required, None) => Err(Abandoned::TlsUnavailable.into()),
            _ => Ok(None),
        }
    }

    /// Is `el` an answer to `<starttls/>`?
    pub fn takes(el: &Element) -> bool {
        el.ns() == TLS_NS && matches!(el.name(), "proceed" | "failure")
    }

    /// The server's answer: TLS now, or give up (the server closes the stream after
    /// `<failure/>`).
    pub fn on_element(&self, el: &Element) -> Next<(), TlsRequested> {
        if el.name() == "proceed" {
            Next::StartTls(TlsRequested)
        } else {
            Next::Fail(Abandoned::TlsUnavailable.into())
        }
    }
}

/// The receiving entity's offer in its features (RFC 6120 section 5.4.1).
pub(crate) fn write_feature(w: &mut Writer<'_>, required: bool) {
    w.start("starttls").xmlns(TLS_NS);
    if required {
        w.start("required").end("required");
    }
    w.end("starttls");
}

/// The receiving entity's answer to `<starttls/>`: `<proceed/>` when TLS can be set up now,
/// else `<failure/>` and the stream is over (section 5.4.2.2: TLS already up, or not
/// offered at this point).
pub(crate) fn answer(can_proceed: bool, out: &mut impl Wire) -> Next<(), TlsRequested> {
    if can_proceed {
        out.element(|w| {
            w.start("proceed").xmlns(TLS_NS).end("proceed");
        });
        Next::StartTls(TlsRequested)
    } else {
        out.element(|w| {
            w.start("failure").xmlns(TLS_NS).end("failure");
        });
        Next::Fail(Abandoned::TlsUnavailable.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;

    #[test]
    fn the_client_starts_tls_by_policy_and_offer() {
        let mut out = BytesMut::new();
        let offered = Some(Requirement::Optional);
        assert!(matches!(
            StartTlsClient::begin(TlsPolicy::Optional, offered, &mut out),
            Ok(Some(_))
        ));
        assert_eq!(
            &out[..],
            b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
        );
        let mut out = BytesMut::new();
        assert!(matches!(
            StartTlsClient::begin(TlsPolicy::Disabled, offered, &mut out),
            Ok(None)
        ));
        assert!(matches!(
            StartTlsClient::begin(TlsPolicy::Optional, None, &mut out),
            Ok(None)
        ));
        assert_eq!(
            StartTlsClient::begin(TlsPolicy::Required, None, &mut out).err(),
            Some(Failure::Abandon(Abandoned::TlsUnavailable))
        );
        assert!(out.is_empty());
    }

    #[test]
    fn the_server_refuses_with_failure_when_it_cannot_proceed() {
        let mut out = BytesMut::new();
        assert!(matches!(answer(true, &mut out), Next::StartTls(_)));
        assert_eq!(
            &out[..],
            b"<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
        );
        let mut out = BytesMut::new();
        assert!(matches!(
            answer(false, &mut out),
            Next::Fail(Failure::Abandon(Abandoned::TlsUnavailable))
        ));
        assert_eq!(
            &out[..],
            b"<failure xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
        );
    }
}
