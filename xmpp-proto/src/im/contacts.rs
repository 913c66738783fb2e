//! The client's view of its contacts (RFC 6121 sections 3 and 4, client side): the
//! presence of each contact by resource, and the subscription requests waiting for the
//! user's answer. The roster itself is [`super::roster::RosterCache`].
//!
//! [`ContactPresence::apply`] takes each presence the client receives and says what it
//! means ([`PresenceUpdate`]); the table grows only with what the server sends, up to
//! [`ContactPresence::with_limit`] entries (a server, or a contact through it, could
//! otherwise make it hold any number of resources).

use std::collections::BTreeMap;

use crate::jid::{BareJid, Jid};
use crate::stanza::{PresenceType, Stanza};
use crate::xml::Element;

/// What a received presence meant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PresenceUpdate {
    /// A resource of the contact is available (4.2.4, 4.4.4), with this presence.
    Available(Jid),
    /// A resource (or, from a bare JID, every resource) of the contact went away (4.5.4).
    Unavailable(Jid),
    /// The contact asks for the user's presence (3.1.4): answer with `subscribed` or
    /// `unsubscribed`, then [`ContactPresence::answered`].
    Request(BareJid),
    /// The contact approved the user's request (3.1.6).
    Approved(BareJid),
    /// The contact denied or cancelled the user's subscription (3.2.3): its presence is
    /// forgotten.
    Cancelled(BareJid),
    /// The contact unsubscribed from the user's presence (3.3.3).
    Unsubscribed(BareJid),
    /// Nothing to record: an error, a probe, a presence without `from`, the table full.
    Ignored,
}

/// The presence of the user's contacts by resource, and pending requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactPresence {
    available: BTreeMap<BareJid, BTreeMap<String, Element>>,
    requests: BTreeMap<BareJid, Element>,
    entries: usize,
    limit: usize,
}

impl Default for ContactPresence {
    fn default() -> Self {
        ContactPresence::with_limit(10_000)
    }
}

impl ContactPresence {
    /// An empty table holding at most `limit` resources and requests together; beyond it,
    /// new ones are [`PresenceUpdate::Ignored`] (updates of known ones still apply).
    pub fn with_limit(limit: usize) -> ContactPresence {
        ContactPresence {
            available: BTreeMap::new(),
            requests: BTreeMap::new(),
            entries: 0,
            limit,
        }
    }

    /// Records a presence the client received.
    pub fn apply(&mut self, presence: &Stanza) -> PresenceUpdate {
        let (Some(p), Ok(Some(from))) = (presence.as_presence(), presence.from()) else {
            return PresenceUpdate::Ignored;
        };
        let Ok(type_) = p.type_() else {
            return PresenceUpdate::Ignored;
        };
        let bare = from.to_bare();
        match type_ {
            PresenceType::Available => {
                let resource = from.resource().unwrap_or("").to_owned();
                let known = self
                    .available
                    .get(&bare)
                    .is_some_and(|r| r.contains_key(&resource));
                if !known {
                    if self.entries >= self.limit {
                        return PresenceUpdate::Ignored;
                    }
                    self.entries += 1;
                }
                self.available
                    .entry(bare)
                    .or_default()
                    .insert(resource, presence.element().clone());
                PresenceUpdate::Available(from)
            }
            PresenceType::Unavailable => {
                match from.resource() {
                    Some(r) => {
                        if let Some(rs) = self.available.get_mut(&bare) {
                            if rs.remove(r).is_some() {
                                self.entries -= 1;
                            }
                            if rs.is_empty() {
                                self.available.remove(&bare);
                            }
                        }
                    }
                    None => self.forget(&bare),
                }
                PresenceUpdate::Unavailable(from)
            }
            PresenceType::Subscribe => {
                // One request per contact is kept (3.1.3, rule 4's spirit).
                if !self.requests.contains_key(&bare) {
                    if self.entries >= self.limit {
                        return PresenceUpdate::Ignored;
                    }
                    self.entries += 1;
                }
                self.requests
                    .insert(bare.clone(), presence.element().clone());
                PresenceUpdate::Request(bare)
            }
            PresenceType::Subscribed => PresenceUpdate::Approved(bare),
            PresenceType::Unsubscribed => {
                // 3.2.3 / 3.3's note: the subscription and the presence it gave are void.
                self.forget(&bare);
                PresenceUpdate::Cancelled(bare)
            }
            PresenceType::Unsubscribe => {
                if self.requests.remove(&bare).is_some() {
                    self.entries -= 1;
                }
                PresenceUpdate::Unsubscribed(bare)
            }
            PresenceType::Error | PresenceType::Probe => PresenceUpdate::Ignored,
        }
    }

    /// The user answered `contact`'s request (sent `subscribed` or `unsubscribed`).
    pub fn answered(&mut self, contact: &BareJid) {
        if self.requests.remove(contact).is_some() {
            self.entries -= 1;
        }
    }

    /// Forgets the presence of `contact` (its subscription ended, RFC 6121 section 3.3's
    /// implementation note: the client considers it "null and void").
    pub fn forget(&mut self, contact: &BareJid) {
        if let Some(rs) = self.available.remove(contact) {
            self.entries -= rs.len();
        }
    }

    /// The available resources of `contact` with their last presence (the empty string
    /// for presence from the bare JID).
    pub fn resources(&self, contact: &BareJid) -> impl Iterator<Item = (&str, &Element)> {
        self.available
            .get(contact)
            .into_iter()
            .flat_map(|r| r.iter().map(|(k, v)| (k.as_str(), v)))
    }

    /// Is any resource of `contact` available?
    pub fn is_available(&self, contact: &BareJid) -> bool {
        self.available.contains_key(contact)
    }

    /// The requests waiting for the user's answer, with the stanza each came in.
    pub fn requests(&self) -> impl Iterator<Item = (&BareJid, &Element)> {
        self.requests.iter()
    }
}
