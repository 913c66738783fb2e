//! Presence stanzas (RFC 6120 section 8.2.2; types from RFC 6121 section 4.7.1).

use super::{Stanza, bad_request};
use crate::error::StanzaError;

/// The `type` of a presence (RFC 6121 section 4.7.1). [`Available`](Self::Available)
/// stands for the absence of the attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PresenceType {
    /// No `type`: the sender is available.
    Available,
    /// An error about a presence sent earlier.
    Error,
    /// A request for the current presence of the recipient.
    Probe,
    /// A request to subscribe to the recipient's presence.
    Subscribe,
    /// The sender allowed the recipient to subscribe.
    Subscribed,
    /// The sender is no longer available.
    Unavailable,
    /// The sender unsubscribes from the recipient's presence.
    Unsubscribe,
    /// The sender denied or cancelled the recipient's subscription.
    Unsubscribed,
}

impl PresenceType {
    /// Every presence type, `available` first.
    pub const ALL: [PresenceType; 8] = [
        PresenceType::Available,
        PresenceType::Error,
        PresenceType::Probe,
        PresenceType::Subscribe,
        PresenceType::Subscribed,
        PresenceType::Unavailable,
        PresenceType::Unsubscribe,
        PresenceType::Unsubscribed,
    ];

    /// The name of the type; `available` for [`Available`](Self::Available), which is
    /// never written as an attribute (see [`attr`](Self::attr)).
    pub const fn as_str(self) -> &'static str {
        match self {
            PresenceType::Available => "available",
            PresenceType::Error => "error",
            PresenceType::Probe => "probe",
            PresenceType::Subscribe => "subscribe",
            PresenceType::Subscribed => "subscribed",
            PresenceType::Unavailable => "unavailable",
            PresenceType::Unsubscribe => "unsubscribe",
            PresenceType::Unsubscribed => "unsubscribed",
        }
    }

    /// The value of the `type` attribute: `None` for `available`.
    pub const fn attr(self) -> Option<&'static str> {
        match self {
            PresenceType::Available => None,
            other => Some(other.as_str()),
        }
    }
}

crate::error::vocabulary!(PresenceType, "presence type of RFC 6121 section 4.7.1");

/// A presence: a view over a [`Stanza`] of kind presence.
#[derive(Debug, Clone, Copy)]
pub struct Presence<'a> {
    stanza: &'a Stanza,
}

impl<'a> Presence<'a> {
    pub(super) fn new(stanza: &'a Stanza) -> Self {
        Presence { stanza }
    }

    /// The stanza viewed.
    pub fn stanza(&self) -> &'a Stanza {
        self.stanza
    }

    /// The type: no attribute is `available`. A value `type='available'`, which some old
    /// clients send, is read as the same.
    ///
    /// # Errors
    ///
    /// `bad-request` for any other value: RFC 6121 section 4.7.1 allows only those listed.
    pub fn type_(&self) -> Result<PresenceType, Box<StanzaError>> {
        match self.stanza.type_attr() {
            None => Ok(PresenceType::Available),
            Some(t) => t.parse().map_err(|_| {
                bad_request("the presence 'type' is not one of RFC 6121 section 4.7.1")
            }),
        }
    }
}
