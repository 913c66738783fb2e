//! Delivery to a local account (RFC 6121 section 8.5, with RFC 6120 section 10): where a
//! message, presence or iq whose `to` is an account of this server goes.
//!
//! [`message_rule`] is Table 1 of section 8.5.4 (message delivery rules), one arm per
//! cell, with this implementation's choice where the RFC offers two: "S/E" is an error
//! (`service-unavailable`, so the sender learns it went nowhere), "O/E" offline storage
//! when the embedder has it ([`Policy::offline`]) else the error, "M/A" the most
//! available resources (the highest non-negative priority, all of them on a tie). [`inbound`]
//! applies it and the presence and iq rules of 8.5.1 to 8.5.3.

use bytes::BytesMut;

use super::{Account, OutStanza, Output};
use crate::error::{StanzaError, StanzaErrorCondition};
use crate::jid::{FullJid, Jid};
use crate::stanza::{MessageType, PresenceType, Stanza, StanzaKind, error_reply};

/// What happens to a message (the letters of Table 1, section 8.5.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageAction {
    /// "S": silently ignored.
    Ignore,
    /// "E": bounced with `service-unavailable`.
    Error,
    /// "O": stored offline.
    Offline,
    /// "D": delivered to the resource the `to` names.
    DeliverExact,
    /// "M": delivered to the most available resources (highest non-negative priority).
    MostAvailable,
    /// "A": delivered to every resource of non-negative priority.
    AllNonNegative,
}

/// The recipient's condition in Table 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Condition {
    /// "ACCOUNT DOES NOT EXIST".
    NoAccount,
    /// "ACCOUNT EXISTS, BUT NO ACTIVE RESOURCES".
    NoResources,
    /// "1+ NEGATIVE RESOURCES BUT ZERO NON-NEGATIVE RESOURCES".
    OnlyNegative,
    /// "1 NON-NEGATIVE RESOURCE" or "1+ NON-NEGATIVE RESOURCES".
    NonNegative,
}

/// How the message is addressed in Table 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Addressing {
    /// `to` is the bare JID.
    Bare,
    /// `to` is a full JID of an available or connected resource.
    FullMatch,
    /// `to` is a full JID that matches no resource.
    FullNoMatch,
}

/// Choices the RFC leaves to the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Policy {
    /// Does the embedder store messages offline (option "O")? Without it, "O/E" is "E".
    pub offline: bool,
}

/// Table 1 of section 8.5.4 (a message of type `error` is always ignored: 8.5.2.1.1,
/// 8.5.3.2.1).
pub const fn message_rule(
    condition: Condition,
    addressing: Addressing,
    type_: MessageType,
    policy: Policy,
) -> MessageAction {
    use Addressing::{Bare, FullMatch, FullNoMatch};
    use Condition::{NoAccount, NoResources, NonNegative, OnlyNegative};
    use MessageAction::{AllNonNegative, DeliverExact, Error, Ignore, MostAvailable, Offline};
    use MessageType::{Chat, Groupchat, Headline, Normal};
    let o_e = if policy.offline { Offline } else { Error };
    match (condition, addressing, type_) {
        (_, _, MessageType::Error) => Ignore,
        // ACCOUNT DOES NOT EXIST: bare S/E S/E E S; full S/E S/E S/E S/E.
        (NoAccount, Bare, Headline) => Ignore,
        (NoAccount, _, _) => Error,
        // NO ACTIVE RESOURCES: bare O/E O/E E S; full (no match) S/E O/E S/E S/E.
        (NoResources, Bare, Normal | Chat) => o_e,
        (NoResources, Bare, Groupchat) => Error,
        (NoResources, Bare, Headline) => Ignore,
        (NoResources, _, Chat) => o_e,
        (NoResources, _, _) => Error,
        // ZERO NON-NEGATIVE: bare O/E O/E E S; full match D; full no match S/E O/E S/E S/E.
        (OnlyNegative, Bare, Normal | Chat) => o_e,
        (OnlyNegative, Bare, Groupchat) => Error,
        (OnlyNegative, Bare, Headline) => Ignore,
        (OnlyNegative, FullMatch, _) => DeliverExact,
        (OnlyNegative, FullNoMatch, Chat) => o_e,
        (OnlyNegative, FullNoMatch, _) => Error,
        // NON-NEGATIVE: bare M/A M/A* E A; full match D (D/A* for chat: D); full no match
        // S/E M/A* S/E S/E.
        (NonNegative, Bare, Normal | Chat) => MostAvailable,
        (NonNegative, Bare, Groupchat) => Error,
        (NonNegative, Bare, Headline) => AllNonNegative,
        (NonNegative, FullMatch, _) => DeliverExact,
        (NonNegative, FullNoMatch, Chat) => MostAvailable,
        (NonNegative, FullNoMatch, _) => Error,
    }
}

fn bounce(stanza: &Stanza) -> Vec<Output> {
    let mut out = BytesMut::new();
    let e = StanzaError::new(StanzaErrorCondition::ServiceUnavailable);
    if error_reply(stanza, &e, true, &mut out).is_err() {
        return Vec::new();
    }
    match stanza.from() {
        Ok(Some(from)) => vec![Output::Route {
            to: from,
            stanza: OutStanza::Built(out.freeze()),
        }],
        _ => Vec::new(),
    }
}

fn deliver(session: &FullJid, stanza: &Stanza) -> Output {
    Output::Deliver {
        session: session.clone(),
        stanza: OutStanza::Element(stanza.element().clone()),
    }
}

/// Delivers a message, an iq, or presence of no type, `unavailable` or `error` addressed to
/// `to`, an address of this server's user `account` (`None`: no such account), under the
/// rules of section 8.5 (and of RFC 6120 section 10.5 for presence errors). Subscription presence and probes are [`super::subscription::inbound`] and
/// [`super::presence::answer_probe`]; this function ignores them (8.5.3.2.2: a
/// subscription stanza to a full JID that matches nothing other than `subscribe` is
/// ignored; the embedder sends the others on before calling this).
///
/// An iq to the bare JID is the server's to answer (8.5.2.1.3): the embedder answers the
/// namespaces it knows (the roster, [`super::roster`]) before calling this, which answers
/// the rest with `service-unavailable`. An iq to a full JID is delivered when the resource
/// matches, except a get or set from an entity the user shares no presence with
/// (8.5.3.1: no subscription "from" or "both" and no directed presence), which is
/// `service-unavailable`; `shares_presence` says whether it has one.
pub fn inbound(
    account: Option<&Account<'_>>,
    to: &Jid,
    stanza: &Stanza,
    shares_presence: bool,
    policy: Policy,
) -> Vec<Output> {
    let full = FullJid::try_from(to.clone()).ok();
    let session = match (account, &full) {
        (Some(a), Some(f)) => a.session(f),
        _ => None,
    };
    match stanza.kind() {
        StanzaKind::Message => {
            let type_ = stanza
                .as_message()
                .map_or(MessageType::Normal, |m| m.type_());
            let Some(account) = account else {
                let addressing = if full.is_some() {
                    Addressing::FullNoMatch
                } else {
                    Addressing::Bare
                };
                return act(
                    message_rule(Condition::NoAccount, addressing, type_, policy),
                    None,
                    stanza,
                );
            };
            let available: Vec<_> = account.available().collect();
            let non_negative: Vec<_> = available.iter().filter(|s| s.priority() >= 0).collect();
            let condition = if !non_negative.is_empty() {
                Condition::NonNegative
            } else if !available.is_empty() {
                Condition::OnlyNegative
            } else {
                // Connected resources that are not available are no "active resources"
                // for a bare JID; a full JID that matches one is delivered (8.5.3.1).
                Condition::NoResources
            };
            let addressing = match (&full, session) {
                (None, _) => Addressing::Bare,
                (Some(_), Some(_)) => Addressing::FullMatch,
                (Some(_), None) => Addressing::FullNoMatch,
            };
            if addressing == Addressing::FullMatch {
                // 8.5.3.1: "For a message stanza, the server MUST deliver the stanza to the
                // resource", whatever its availability.
                if let Some(s) = session {
                    return vec![deliver(&s.jid, stanza)];
                }
            }
            let action = message_rule(condition, addressing, type_, policy);
            let targets: Vec<&FullJid> = match action {
                MessageAction::MostAvailable => {
                    let top = non_negative.iter().map(|s| s.priority()).max().unwrap_or(0);
                    non_negative
                        .iter()
                        .filter(|s| s.priority() == top)
                        .map(|s| &s.jid)
                        .collect()
                }
                MessageAction::AllNonNegative => non_negative.iter().map(|s| &s.jid).collect(),
                _ => Vec::new(),
            };
            act(action, Some(&targets), stanza)
        }
        StanzaKind::Presence => {
            let type_ = stanza.as_presence().and_then(|p| p.type_().ok());
            let error = type_ == Some(PresenceType::Error);
            if !error
                && !matches!(
                    type_,
                    Some(PresenceType::Available | PresenceType::Unavailable)
                )
            {
                return Vec::new();
            }
            // 8.5.1: no such user, ignored; 8.5.2.1.2: to every available resource, `to`
            // unchanged; 8.5.2.2.2: none available, ignored; 8.5.3.1: a full JID that
            // matches, delivered; 8.5.3.2.2: one that matches nothing, ignored.
            let Some(account) = account else {
                return Vec::new();
            };
            // Section 4.6.1: the server "SHOULD remove any entity that sends unavailable
            // presence to the user" from the directed-presence lists.
            let mut out = Vec::new();
            if type_ == Some(PresenceType::Unavailable)
                && let Ok(Some(from)) = stanza.from()
            {
                for s in account.sessions {
                    for d in s
                        .directed
                        .iter()
                        .filter(|d| **d == from || d.is_bare() && d.to_bare() == from.to_bare())
                    {
                        out.push(Output::Undirected {
                            session: s.jid.clone(),
                            entity: d.clone(),
                        });
                    }
                }
            }
            out.extend(presence_targets(account, &full, session, error, stanza));
            out
        }
        StanzaKind::Iq => {
            let request = matches!(stanza.type_attr().as_deref(), Some("get" | "set"));
            match session {
                // 8.5.3.1: results and errors are delivered; requests only from someone the
                // user shares presence with.
                Some(s) if !request || shares_presence => vec![deliver(&s.jid, stanza)],
                // 8.5.1, 8.5.2.1.3, 8.5.2.2.3, 8.5.3.2.3: service-unavailable (never for a
                // result or an error, RFC 6120 section 8.3.1).
                _ => bounce(stanza),
            }
        }
    }
}

/// Where presence for the account goes (8.5.2.1.2, 8.5.2.2.2, 8.5.3.1, 8.5.3.2.2).
fn presence_targets(
    account: &Account<'_>,
    full: &Option<FullJid>,
    session: Option<&super::Session>,
    error: bool,
    stanza: &Stanza,
) -> Vec<Output> {
    {
        {
            match (full, session) {
                (None, _) => account
                    .available()
                    .map(|s| deliver(&s.jid, stanza))
                    .collect(),
                (Some(_), Some(s)) => vec![deliver(&s.jid, stanza)],
                // RFC 6120 section 10.5.4: a presence error to a full JID that matches no
                // resource is processed as if sent to the bare JID (section 8.5.3.2.2 of
                // RFC 6121 ignores only presence of no type or "unavailable").
                (Some(_), None) if error => account
                    .available()
                    .map(|s| deliver(&s.jid, stanza))
                    .collect(),
                (Some(_), None) => Vec::new(),
            }
        }
    }
}

fn act(action: MessageAction, targets: Option<&[&FullJid]>, stanza: &Stanza) -> Vec<Output> {
    match action {
        MessageAction::Ignore => Vec::new(),
        MessageAction::Error => bounce(stanza),
        MessageAction::Offline => vec![Output::Offline(OutStanza::Element(
            stanza.element().clone(),
        ))],
        MessageAction::DeliverExact
        | MessageAction::MostAvailable
        | MessageAction::AllNonNegative => {
            let targets = targets.unwrap_or(&[]);
            if targets.is_empty() {
                return bounce(stanza);
            }
            targets.iter().map(|s| deliver(s, stanza)).collect()
        }
    }
}
