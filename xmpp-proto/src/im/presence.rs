//! Presence (RFC 6121 section 4): what the user's server does with the presence its
//! sessions send, and how it answers probes.
//!
//! - [`outbound_broadcast`]: presence without `to` from a session: initial presence
//!   (4.2.2: broadcast to subscribers, probes to the contacts the user is subscribed to,
//!   to the user's own available resources), subsequent presence (4.4.2), unavailable
//!   presence (4.5.2, with the entities of directed presence, 4.6.3);
//! - [`session_ended`]: a session gone without unavailable presence (4.5.2: the server
//!   generates it);
//! - [`outbound_directed`]: presence with a `to` that is not a subscription (4.6.2);
//! - [`answer_probe`]: a probe for the user (4.3.2, with its ids, 4.3.2.1) or for one of
//!   its resources, and from an entity that got directed presence (4.6.6).

use bytes::BytesMut;

use super::{Account, Contact, OutStanza, Output, Session};
use crate::jid::{BareJid, FullJid, Jid};
use crate::stanza::{PresenceBuilder, PresenceType, Stanza};
use crate::xml::Element;

fn built(from: &Jid, to: &Jid, type_: PresenceType, id: Option<&str>) -> OutStanza {
    let mut out = BytesMut::new();
    let mut b = PresenceBuilder::new().from(from).to(to).type_(type_);
    if let Some(id) = id {
        b = b.id(id);
    }
    b.write(&mut out);
    OutStanza::Built(out.freeze())
}

fn route(to: &Jid, stanza: OutStanza) -> Output {
    Output::Route {
        to: to.clone(),
        stanza,
    }
}

/// The contacts subscribed to the user's presence ("from" or "both", section 4.2.2).
fn subscribers(contacts: &[Contact]) -> impl Iterator<Item = &Contact> {
    contacts
        .iter()
        .filter(|c| c.state.state().subscription().has_from())
}

/// Processes presence without `to` and of no type or `unavailable` that `session` of the
/// account sent (its `from` stamped by the c2s layer or not: it is stamped here with the
/// session's full JID). `contacts` is the roster (every stored contact).
///
/// Available presence from a session that was not available is initial presence (4.2.2):
/// it goes to every subscriber (`to` their bare JID), to every available session of the
/// account (the new one included), the new session gets the presence of the other
/// available ones, and the contacts the user is subscribed to ("to" or "both") get a probe
/// from the user's bare JID (4.3.1). Later available presence (4.4.2) goes to subscribers
/// and available sessions. Unavailable presence (4.5.2) goes to subscribers, to the
/// entities of the session's directed presence (4.6.3) and to the available sessions. The
/// first output is always [`Output::SessionPresence`], for the session table. Unavailable
/// presence from a session that is not available goes to the entities of its directed
/// presence only (4.6.2 rule 3).
pub fn outbound_broadcast(
    account: &Account<'_>,
    session: &FullJid,
    stanza: &Stanza,
    contacts: &[Contact],
) -> Vec<Output> {
    let unavailable = stanza.type_attr().as_deref() == Some("unavailable");
    let el = stanza.element().with_attr("from", session.as_str());
    let was_available = account.session(session).is_some_and(Session::is_available);
    let mut out = vec![Output::SessionPresence {
        session: session.clone(),
        presence: (!unavailable).then(|| el.clone()),
    }];
    let directed = account
        .session(session)
        .map(|s| &s.directed[..])
        .unwrap_or(&[]);
    if unavailable && !was_available {
        // Section 4.5.2 is about an available resource: a session that was not available
        // has nothing to withdraw from subscribers or its own resources. But the entities
        // it sent directed presence to while connected and not available are "as in case
        // #2" (4.6.2, rule 3): they get the unavailable presence.
        for to in directed {
            out.push(route(
                to,
                OutStanza::Element(el.with_attr("to", to.as_str())),
            ));
        }
        return out;
    }
    for c in subscribers(contacts) {
        out.push(route(
            c.jid.as_jid(),
            OutStanza::Element(el.with_attr("to", c.jid.as_str())),
        ));
    }
    if unavailable {
        // Section 4.6.1: an entity that has since become a subscriber is treated "just as
        // it would any normal subscriber": the broadcast above reached it (its bare JID).
        let subscribed = |to: &Jid| subscribers(contacts).any(|c| c.jid == to.to_bare());
        for to in directed.iter().filter(|to| !subscribed(to)) {
            out.push(route(
                to,
                OutStanza::Element(el.with_attr("to", to.as_str())),
            ));
        }
    }
    // The user's own available resources, the sender included (4.2.2, 4.4.2, 4.5.2),
    // addressed to the bare JID as in section 4.2.2's example.
    let mut own: Vec<&FullJid> = account.available().map(|s| &s.jid).collect();
    if !own.contains(&session) {
        own.push(session);
    }
    let to_self = el.with_attr("to", account.jid.as_str());
    for s in own {
        out.push(Output::Deliver {
            session: s.clone(),
            stanza: OutStanza::Element(to_self.clone()),
        });
    }
    if !unavailable && !was_available {
        for other in account.available().filter(|s| s.jid != *session) {
            if let Some(p) = &other.presence {
                out.push(Output::Deliver {
                    session: session.clone(),
                    stanza: OutStanza::Element(
                        p.with_attr("from", other.jid.as_str())
                            .with_attr("to", account.jid.as_str()),
                    ),
                });
            }
        }
        // Section 4.3.1: probes from the bare JID to the contacts' bare JIDs.
        for c in contacts
            .iter()
            .filter(|c| c.state.state().subscription().has_to())
        {
            out.push(route(
                c.jid.as_jid(),
                built(
                    account.jid.as_jid(),
                    c.jid.as_jid(),
                    PresenceType::Probe,
                    None,
                ),
            ));
        }
    }
    out
}

/// A session ended without unavailable presence (its stream closed, gracefully or not):
/// the server generates the unavailable presence of section 4.5.2 on its behalf and
/// processes it as [`outbound_broadcast`] does. When the session was not available, only
/// the entities it sent directed presence to hear of it (4.6.2 rule 3).
pub fn session_ended(
    account: &Account<'_>,
    session: &FullJid,
    contacts: &[Contact],
) -> Vec<Output> {
    let mut out = BytesMut::new();
    PresenceBuilder::new()
        .from(session.as_jid())
        .type_(PresenceType::Unavailable)
        .write(&mut out);
    let Some(stanza) = super::parse_built(&out) else {
        return Vec::new();
    };
    // The session itself is gone: nothing is delivered to it.
    outbound_broadcast(account, session, &stanza, contacts)
        .into_iter()
        .filter(|o| !matches!(o, Output::Deliver { session: s, .. } if s == session))
        .collect()
}

/// Processes presence with a `to` and of no type or `unavailable` (directed presence,
/// section 4.6.2) from `session` to `to`, whose record is `contact` when `to` is the bare
/// JID (or the bare part of the full JID) of someone in the roster. The full XML is routed,
/// stamped with the session's full JID; available presence to someone not subscribed to
/// the user is remembered ([`Output::Directed`]) so that the session's unavailable presence
/// reaches them (4.6.2 rule 2), also when the session is connected but not available (rule
/// 3: "as in case #2"; its unavailable presence is then the end of its session).
pub fn outbound_directed(
    account: &Account<'_>,
    session: &FullJid,
    to: &Jid,
    stanza: &Stanza,
    contact: Option<&Contact>,
) -> Vec<Output> {
    let el = stanza.element().with_attr("from", session.as_str());
    let mut out = vec![route(to, OutStanza::Element(el))];
    // `type='available'` is available presence too (section 4.7.1 reads it so).
    let available =
        stanza.as_presence().and_then(|p| p.type_().ok()) == Some(PresenceType::Available);
    let subscribed = contact.is_some_and(|c| c.state.state().subscription().has_from());
    // Whether or not the session is available: rule 3 treats directed presence from a
    // connected resource that is not available "as in case #2".
    let known = account
        .session(session)
        .is_some_and(|s| s.directed.contains(to));
    if available && !subscribed && !known {
        out.push(Output::Directed {
            session: session.clone(),
            to: to.clone(),
        });
    } else if !available && known {
        // Section 4.6.1: directed unavailable presence ends what directed presence began,
        // so the session's broadcast unavailable presence does not reach the entity again.
        out.push(Output::Undirected {
            session: session.clone(),
            entity: to.clone(),
        });
    }
    out
}

/// Answers a probe that `from` sent to the user's bare JID, without an `id` (section
/// 4.3.2); `account` is `None` when the account does not exist, `contact` the prober's
/// record in the user's roster. [`answer_probe`] takes the probe itself, and with it the
/// full JID it may be addressed to (4.3.2) and the `id` to mirror (4.3.2.1).
pub fn inbound_probe(
    account: Option<&Account<'_>>,
    user: &BareJid,
    from: &Jid,
    contact: Option<&Contact>,
) -> Vec<Output> {
    probe_answer(account, user, from, None, None, contact)
}

/// Answers `probe`, a presence of type `probe` from someone else to the user `user` (its
/// bare or a full JID; section 4.3.2); `account` is `None` when the account does not exist,
/// `contact` the prober's record in the user's roster.
///
/// - A prober without a subscription ("From", "From + Pending Out" or "Both"), or an
///   account that does not exist, gets `unsubscribed` from the user's bare JID (rule 1,
///   which cancels no pre-approval: nothing is stored) — unless a session sent it directed
///   presence (section 4.6.6): then mere available presence from that session's full JID
///   (from each such session for a probe to the bare JID, from the probed one only for a
///   probe to a full JID).
/// - To the bare JID: with no available session, `unavailable` from the bare JID (rule 3);
///   with some, the last presence of each, from its full JID (rule 4).
/// - To a full JID (4.3.2: "MUST NOT return presence information about any resource except
///   the resource specified by the 'to' address"): mere available presence from it if it
///   is an available session (no `<show/>`, `<status/>`, `<priority/>` or extension, as
///   the RFC's SHOULD says), else `unavailable` from it.
///
/// Ids (4.3.2.1): a session's presence keeps the id its session gave it; every other
/// answer mirrors the probe's.
pub fn answer_probe(
    account: Option<&Account<'_>>,
    user: &BareJid,
    probe: &Stanza,
    contact: Option<&Contact>,
) -> Vec<Output> {
    let Ok(Some(from)) = probe.from() else {
        return Vec::new();
    };
    let to = probe
        .to()
        .ok()
        .flatten()
        .and_then(|t| FullJid::try_from(t).ok())
        .filter(|t| t.to_bare() == *user);
    probe_answer(
        account,
        user,
        &from,
        to.as_ref(),
        probe.id().as_deref(),
        contact,
    )
}

/// A mere presence (no child, section 4.3.2's SHOULD) from `session` to `to`.
fn mere(session: &FullJid, to: &Jid, id: Option<&str>, unavailable: bool) -> Output {
    let mut out = BytesMut::new();
    let mut b = PresenceBuilder::new().from(session.as_jid()).to(to);
    if unavailable {
        b = b.type_(PresenceType::Unavailable);
    }
    if let Some(id) = id {
        b = b.id(id);
    }
    b.write(&mut out);
    route(to, OutStanza::Built(out.freeze()))
}

fn probe_answer(
    account: Option<&Account<'_>>,
    user: &BareJid,
    from: &Jid,
    to: Option<&FullJid>,
    id: Option<&str>,
    contact: Option<&Contact>,
) -> Vec<Output> {
    let prober = from.to_bare();
    let subscribed = contact.is_some_and(|c| c.state.state().subscription().has_from());
    let Some(account) = account.filter(|_| subscribed) else {
        // Section 4.6.6: no subscription, but maybe directed presence from a session to the
        // prober "during its current session" (the list is cleared when the session becomes
        // unavailable; a connected session that is not available keeps it, 4.6.2 rule 3).
        let directed: Vec<Output> = account
            .map(|a| a.sessions)
            .unwrap_or(&[])
            .iter()
            .filter(|s| to.is_none_or(|t| *t == s.jid))
            .filter(|s| {
                s.directed
                    .iter()
                    .any(|d| d == from || (d.is_bare() && d.to_bare() == prober))
            })
            .map(|s| mere(&s.jid, from, id, false))
            .collect();
        if !directed.is_empty() {
            return directed;
        }
        return vec![route(
            prober.as_jid(),
            built(
                user.as_jid(),
                prober.as_jid(),
                PresenceType::Unsubscribed,
                id,
            ),
        )];
    };
    if let Some(to) = to {
        return match account.session(to) {
            Some(s) if s.is_available() => {
                let own_id = s.presence.as_ref().and_then(|p| p.attr("id"));
                vec![mere(&s.jid, from, own_id.as_deref(), false)]
            }
            _ => vec![mere(to, from, id, true)],
        };
    }
    let mut out: Vec<Output> = account
        .available()
        .filter_map(|s| s.presence.as_ref().map(|p| (s, p)))
        .map(|(s, p): (&Session, &Element)| {
            route(
                from,
                OutStanza::Element(
                    p.with_attr("from", s.jid.as_str())
                        .with_attr("to", from.as_str()),
                ),
            )
        })
        .collect();
    if out.is_empty() {
        out.push(route(
            from,
            built(account.jid.as_jid(), from, PresenceType::Unavailable, id),
        ));
    }
    out
}
