//! Instant messaging (RFC 6121) as pure decisions: presence subscriptions, rosters,
//! presence broadcast and the delivery rules, with no storage and no I/O.
//!
//! Every XMPP server implements these rules by hand, and they are where servers disagree
//! most. Here each rule is a function of what the embedder stores and hands in (the
//! account's [`Session`]s, the [`Contact`] record for the other party, the stanza), and it
//! returns what must happen, in order, as [`Output`]s: stanzas for one of the account's
//! sessions ([`Output::Deliver`]), stanzas for another address ([`Output::Route`]: a remote
//! server, or another local account whose inbound rules the embedder runs next), roster
//! records to write ([`Output::Store`], [`Output::Forget`]), roster pushes
//! ([`Output::Push`]) and subscription requests to keep for later ([`Output::Defer`]).
//! The embedder applies them; nothing here remembers anything between calls.
//!
//! - [`dispatch`]: which of the decisions below a stanza calls for;
//! - [`subscription`]: the nine subscription states of RFC 6121 Appendix A, the tables of
//!   A.2 (outbound) and A.3 (inbound), pre-approval (section 3.4), and the server's decision
//!   for each subscription stanza (section 3);
//! - [`roster`]: roster get with versioning (section 2.6), set and remove with their errors
//!   (sections 2.3.3, 2.5.3), pushes (2.1.6), and the client's roster cache;
//! - [`presence`]: initial presence, probes and their answers, broadcast, directed presence
//!   and unavailable presence (section 4);
//! - [`delivery`]: where a message, presence or iq addressed to a local account goes
//!   (section 8, with RFC 6120 section 10);
//! - [`contacts`]: the client's side: its contacts' presence by resource and the
//!   subscription requests waiting for an answer (the roster cache is in [`roster`]).
//!
//! The stanzas the decisions take are the ones a c2s server has already stamped (RFC 6120
//! section 8.1.2.1: `from` is the session's full JID) or that an s2s stream delivered.

pub mod contacts;
pub mod delivery;
pub mod dispatch;
pub mod presence;
pub mod roster;
pub mod subscription;

use bytes::{Bytes, BytesMut};

use crate::jid::{BareJid, FullJid, Jid};
use crate::stanza::Stanza;
use crate::xml::{Element, Writer, parse_element, write_element};

pub use subscription::{Contact, ContactState, ItemInfo, SubState, Subscription, SubscriptionType};

/// One of the account's sessions, as the embedder's session table holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The session's full JID.
    pub jid: FullJid,
    /// The last broadcast presence the session sent (RFC 6121 section 4.2 and 4.4), if it
    /// is available; `None` before its initial presence and after its unavailable
    /// presence: the session is then connected but not an "available resource".
    pub presence: Option<Element>,
    /// Did the session request the roster (section 2.1.6: an "interested resource")?
    pub interested: bool,
    /// The entities the session sent directed available presence to, that are not
    /// subscribed to the user (section 4.6.2, rules 2 and 3: while available or only
    /// connected), since it last became unavailable: they get its unavailable presence.
    pub directed: Vec<Jid>,
}

impl Session {
    /// Has the session sent initial presence (section 4.2), and no unavailable since?
    pub fn is_available(&self) -> bool {
        self.presence.is_some()
    }

    /// The priority of the session's presence (section 4.7.2.3): 0 when it is unavailable
    /// or gives none, or gives one that is not an integer from -128 to 127.
    pub fn priority(&self) -> i8 {
        self.presence.as_ref().map_or(0, presence_priority)
    }
}

/// The `<priority/>` of a presence (RFC 6121 section 4.7.2.3), 0 when absent or invalid.
pub fn presence_priority(presence: &Element) -> i8 {
    presence
        .get_child("priority", presence.ns())
        .and_then(|p| p.text().trim().parse().ok())
        .unwrap_or(0)
}

/// The account a decision is about: its bare JID and its sessions.
#[derive(Debug, Clone, Copy)]
pub struct Account<'a> {
    /// The account's bare JID (`localpart@domainpart`).
    pub jid: &'a BareJid,
    /// Every session of the account, available or not.
    pub sessions: &'a [Session],
}

impl<'a> Account<'a> {
    /// The sessions that requested the roster (section 2.1.6).
    pub fn interested(&self) -> impl Iterator<Item = &'a Session> + 'a {
        self.sessions.iter().filter(|s| s.interested)
    }

    /// The available sessions (section 4.1).
    pub fn available(&self) -> impl Iterator<Item = &'a Session> + 'a {
        self.sessions.iter().filter(|s| s.is_available())
    }

    /// The session with this full JID.
    pub fn session(&self, jid: &FullJid) -> Option<&'a Session> {
        self.sessions.iter().find(|s| &s.jid == jid)
    }
}

/// A stanza a decision sends: a received one (restamped or not), or one it wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutStanza {
    /// A received element, passed on (with its `from` or `to` rewritten where a rule says
    /// so): send it with the role's `send`.
    Element(Element),
    /// A stanza the decision wrote (an auto-reply, a probe, an error), serialized without
    /// a namespace so that it takes the stream's: send it with `send_with` and
    /// [`Writer::raw`].
    Built(Bytes),
}

impl OutStanza {
    /// Writes the stanza where its content namespace is the default.
    pub fn write_to(&self, w: &mut Writer<'_>) {
        match self {
            OutStanza::Element(el) => {
                w.element(el.root(), el.ns());
            }
            OutStanza::Built(bytes) => {
                w.raw(bytes);
            }
        }
    }

    /// The stanza serialized, without a namespace on its root.
    pub fn to_bytes(&self) -> Bytes {
        match self {
            OutStanza::Element(el) => {
                let mut out = BytesMut::new();
                write_element(&mut out, el.root(), el.ns());
                out.freeze()
            }
            OutStanza::Built(bytes) => bytes.clone(),
        }
    }
}

/// A change a roster push carries (section 2.1.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RosterChange {
    /// The item as it now is.
    Set(Contact),
    /// The item was removed (`subscription='remove'`).
    Remove(BareJid),
}

/// One thing a decision asks the embedder to do. A decision returns them in the order the
/// RFC gives (a stanza delivered before the roster push it explains, section 3.1.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Send `stanza` to the account's session `session`.
    Deliver {
        /// The session.
        session: FullJid,
        /// The stanza.
        stanza: OutStanza,
    },
    /// Send `stanza` towards `to`: to its server if remote; if `to` is another account of
    /// this server, the embedder runs that account's inbound rules on it.
    Route {
        /// The address (the stanza's `to`).
        to: Jid,
        /// The stanza.
        stanza: OutStanza,
    },
    /// Send a roster push to `session` (section 2.1.6); the embedder chooses the iq's id
    /// and writes it with [`roster::write_push`].
    Push {
        /// The session.
        session: FullJid,
        /// What changed.
        change: RosterChange,
    },
    /// Write this contact record (replacing the one of its JID).
    Store(Contact),
    /// Delete the contact record of this JID: nothing is left to remember.
    Forget(BareJid),
    /// Keep this subscription request and deliver it when the account next has an
    /// available resource (section 3.1.3, rule 4); one per contact is enough. It stands
    /// only while the contact's record has a request in ([`SubState::pending_in`]): once
    /// the user answered it or the contact withdrew it (section 3.3.3: "remove any record
    /// of the inbound presence subscription request"), drop it.
    Defer(OutStanza),
    /// Keep this message in offline storage for later delivery (section 8.5.2.2.1, option
    /// "O"; given only when the embedder said it has such storage).
    Offline(OutStanza),
    /// The session's broadcast presence is now this (`None`: it became unavailable, and
    /// its directed-presence list is cleared): the embedder updates its session table.
    SessionPresence {
        /// The session.
        session: FullJid,
        /// Its presence, stamped with its full JID.
        presence: Option<Element>,
    },
    /// The session sent directed presence to `to`, who is not subscribed (section 4.6.2):
    /// add it to the session's [`Session::directed`].
    Directed {
        /// The session.
        session: FullJid,
        /// The entity.
        to: Jid,
    },
    /// Take `entity` off the session's [`Session::directed`] (section 4.6.1: the server
    /// "MUST remove from the directed presence list ... any entity to which the user sends
    /// directed unavailable presence, and SHOULD remove any entity that sends unavailable
    /// presence to the user").
    Undirected {
        /// The session.
        session: FullJid,
        /// The entity, as the list holds it.
        entity: Jid,
    },
}

/// A stanza this layer wrote, read back as a [`Stanza`] (for the few decisions that
/// process a stanza they generate, such as the unavailable presence of a session that
/// ended). `None` only if `bytes` were not one stanza, which the builders never write.
pub(crate) fn parse_built(bytes: &[u8]) -> Option<Stanza> {
    let el = parse_element(crate::stanza::JABBER_CLIENT, bytes).ok()?;
    Stanza::from_element(el).ok()
}
