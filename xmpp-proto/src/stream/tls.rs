//! STARTTLS (RFC 6120 section 5): when to use it, and what protects the transport once it
//! ran.

use crate::sasl::ChannelBinding;

/// When to use STARTTLS (RFC 6120 section 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsPolicy {
    /// TLS before anything else: a client gives up when it is not offered; a server offers
    /// only STARTTLS before it and refuses SASL without it.
    #[default]
    Required,
    /// TLS when both sides can: a client uses it when offered; a server offers it.
    Optional,
    /// Never use TLS.
    Disabled,
}

/// What protects the transport under the stream. It outlives stream restarts: TLS, once
/// up, stays up for the life of the connection (RFC 6120 section 5.4.3.3).
#[derive(Clone, Default)]
pub(crate) enum Transport {
    /// No TLS (yet).
    #[default]
    Plain,
    /// TLS is up.
    Tls {
        /// The channel-binding data the TLS library exported, one per type it supports,
        /// for the SCRAM `-PLUS` mechanisms (RFC 5929, RFC 9266).
        /// (A boxed slice: one word less than a `Vec` in every session.)
        channel_bindings: Box<[ChannelBinding]>,
        /// The client presented a certificate in the TLS handshake (SASL `EXTERNAL`, RFC
        /// 6120 section 6.3.4).
        peer_certificate: bool,
    },
}

impl Transport {
    pub fn is_encrypted(&self) -> bool {
        matches!(self, Transport::Tls { .. })
    }

    /// The channel bindings TLS gave (none without TLS).
    pub fn channel_bindings(&self) -> &[ChannelBinding] {
        match self {
            Transport::Plain => &[],
            Transport::Tls {
                channel_bindings, ..
            } => channel_bindings,
        }
    }

    pub fn peer_certificate(&self) -> bool {
        matches!(
            self,
            Transport::Tls {
                peer_certificate: true,
                ..
            }
        )
    }
}
