//! Which decision a stanza calls for: the classification a server writes before it calls
//! [`subscription`](super::subscription), [`roster`](super::roster),
//! [`presence`](super::presence) or [`delivery`](super::delivery).
//!
//! The embedder picks the account a stanza concerns (the sender's, when `from` is one of its
//! sessions; else the recipient's) and [`classify`] says which rule of RFC 6121 applies:
//! section 3 for the four subscription types both ways, section 2 for roster requests,
//! section 4 for presence without `to` (broadcast) or with one (directed) and for probes,
//! section 8.5 for everything else addressed to the account, and plain routing (RFC 6120
//! section 10.4) for the user's stanzas to anyone else.

use super::{Account, SubscriptionType};
use crate::error::StanzaError;
use crate::jid::{BareJid, FullJid, Jid};
use crate::stanza::{PresenceType, Stanza, StanzaKind};

/// The rule a stanza falls under, with what the decision needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The user sent a subscription stanza to `contact` (the bare form of its `to`,
    /// section 3.1.2 rule 1): [`subscription::outbound`](super::subscription::outbound).
    OutboundSubscription {
        /// The sending session.
        session: FullJid,
        /// The contact.
        contact: BareJid,
        /// The type.
        kind: SubscriptionType,
    },
    /// Presence without `to`, available or unavailable, from a session (4.2, 4.4, 4.5):
    /// [`presence::outbound_broadcast`](super::presence::outbound_broadcast).
    Broadcast {
        /// The sending session.
        session: FullJid,
    },
    /// Presence with a `to`, available or unavailable (4.6):
    /// [`presence::outbound_directed`](super::presence::outbound_directed).
    Directed {
        /// The sending session.
        session: FullJid,
        /// The recipient.
        to: Jid,
    },
    /// A roster get (2.1.3) for the account: [`roster::get`](super::roster::get), which
    /// refuses anyone but the account.
    RosterGet,
    /// A roster set (2.1.5) for the account: [`roster::parse_set`](super::roster::parse_set)
    /// and [`roster::set`](super::roster::set).
    RosterSet,
    /// `contact` sent the account a subscription stanza:
    /// [`subscription::inbound`](super::subscription::inbound).
    InboundSubscription {
        /// The contact (the bare form of `from`).
        contact: BareJid,
        /// The type.
        kind: SubscriptionType,
    },
    /// A probe for the account (4.3.2):
    /// [`presence::answer_probe`](super::presence::answer_probe).
    Probe {
        /// The prober, as it wrote itself.
        from: Jid,
    },
    /// A message, iq or presence for the account (8.5):
    /// [`delivery::inbound`](super::delivery::inbound). The user's own stanzas to its own
    /// JIDs come here too.
    Deliver {
        /// The address.
        to: Jid,
    },
    /// One of the user's stanzas for another address: routed unchanged (RFC 6120 section
    /// 10.4; another account of the server gets it through its own inbound rules).
    Route {
        /// The address.
        to: Jid,
    },
    /// Answer the sender with this error: presence whose `type` is none of section 4.7.1
    /// ("the recipient or an intermediate router SHOULD return a stanza error of
    /// `<bad-request/>`").
    Refuse(Box<StanzaError>),
    /// Nothing to do: no `from` or a malformed address, a session the account does not
    /// have, a stanza for someone else, a presence type no rule takes from that side.
    Ignore,
}

fn is_roster(stanza: &Stanza) -> bool {
    stanza.kind() == StanzaKind::Iq
        && stanza
            .element()
            .get_child("query", super::roster::ROSTER_NS)
            .is_some()
        && matches!(stanza.type_attr().as_deref(), Some("get" | "set"))
}

/// Classifies `stanza` for `account`: the user's when its `from` is one of the account's
/// sessions, for the account when its `to` is the account's bare or full JID (also when it
/// comes from the account's bare JID, as what the server writes in the account's name does;
/// section 8.5.3.1).
pub fn classify(account: &Account<'_>, stanza: &Stanza) -> Step {
    let (Ok(Some(from)), Ok(to)) = (stanza.from(), stanza.to()) else {
        return Step::Ignore;
    };
    let presence = stanza.as_presence().map(|p| p.type_());
    let sub = presence
        .as_ref()
        .and_then(|t| t.as_ref().ok())
        .and_then(|&t| SubscriptionType::of(t));
    let own_bare = from.is_bare() && from.to_bare() == *account.jid;
    let subscription_or_probe =
        sub.is_some() || matches!(presence, Some(Err(_)) | Some(Ok(PresenceType::Probe)));
    if own_bare && (subscription_or_probe || is_roster(stanza)) {
        // The account's bare JID is the server writing in the account's name (section
        // 8.5.3.1 delivers what it sends to a resource), never a subscription, probe or
        // roster request of the account to itself.
        return Step::Ignore;
    }
    if from.to_bare() == *account.jid && !own_bare {
        let Ok(session) = FullJid::try_from(from) else {
            return Step::Ignore;
        };
        if account.session(&session).is_none() {
            return Step::Ignore;
        }
        let to_self = to.as_ref().is_none_or(|t| *t == *account.jid.as_jid());
        if to_self && is_roster(stanza) {
            return roster_step(stanza);
        }
        return match (presence, to) {
            (Some(_), Some(to)) if sub.is_some() => match sub {
                Some(kind) => Step::OutboundSubscription {
                    session,
                    contact: to.to_bare(),
                    kind,
                },
                None => Step::Ignore,
            },
            (Some(Ok(PresenceType::Available | PresenceType::Unavailable)), None) => {
                Step::Broadcast { session }
            }
            (Some(Ok(PresenceType::Available | PresenceType::Unavailable)), Some(to)) => {
                Step::Directed { session, to }
            }
            // Section 4.3: a probe a client sends SHOULD be routed (or processed by the
            // contact's server, which the embedder runs for a local contact), and never be
            // the cause of an error; a presence error is a stanza for someone else, routed
            // as RFC 6120 section 10.4 says (section 8.3). A probe of the account by itself
            // has nobody to answer it.
            (Some(Ok(PresenceType::Probe | PresenceType::Error)), Some(to))
                if to.to_bare() != *account.jid =>
            {
                Step::Route { to }
            }
            (Some(Ok(PresenceType::Error)), Some(to)) => Step::Deliver { to },
            (Some(Err(e)), _) => Step::Refuse(e),
            (Some(_), _) => Step::Ignore,
            (None, Some(to)) if to.to_bare() == *account.jid => Step::Deliver { to },
            (None, Some(to)) => Step::Route { to },
            // RFC 6120 sections 10.3.1 and 10.3.3: a message or iq without `to` is handled
            // "as if the 'to' address were the bare JID" of the sender (an iq the embedder
            // does not answer itself then gets `service-unavailable`, section 8.5.2.1.3).
            (None, None) => Step::Deliver {
                to: account.jid.as_jid().clone(),
            },
        };
    }
    let Some(to) = to.filter(|t| t.to_bare() == *account.jid) else {
        return Step::Ignore;
    };
    // A roster request to the account (its bare JID) is the server's (2.1.3, 2.1.5); one
    // to a full JID is an iq for that resource, under section 8.5.3.1.
    if is_roster(stanza) && to.is_bare() {
        return roster_step(stanza);
    }
    if let Some(kind) = sub {
        return Step::InboundSubscription {
            contact: from.to_bare(),
            kind,
        };
    }
    match presence {
        Some(Ok(PresenceType::Probe)) => Step::Probe { from },
        // A presence error is delivered like presence (RFC 6120 sections 10.5.3.2 and
        // 10.5.4: section 8.5 has no rule of its own for it).
        Some(Ok(PresenceType::Available | PresenceType::Unavailable | PresenceType::Error))
        | None => Step::Deliver { to },
        Some(Err(e)) => Step::Refuse(e),
        Some(_) => Step::Ignore,
    }
}

fn roster_step(stanza: &Stanza) -> Step {
    match stanza.type_attr().as_deref() {
        Some("get") => Step::RosterGet,
        _ => Step::RosterSet,
    }
}
