//! The RFC 6121 decisions (`xmpp_sansio::im`): property tests over sequences of
//! subscription stanzas between two servers, and the rules the vectors do not reach.

use proptest::prelude::*;
use xmpp_sansio::im::roster::{self, CacheError, RosterCache, RosterLimits, RosterSet};
use xmpp_sansio::im::subscription::{self, Policy, after_inbound, after_outbound};
use xmpp_sansio::im::{
    Account, Contact, ContactState, ItemInfo, OutStanza, Output, RosterChange, Session, SubState,
    SubscriptionType, delivery,
};
use xmpp_sansio::jid::{BareJid, FullJid, Jid};
use xmpp_sansio::stanza::{PresenceType, Stanza};
use xmpp_sansio::xml::parse_element;

fn stanza(xml: &str) -> Stanza {
    Stanza::from_element(parse_element("jabber:client", xml.as_bytes()).unwrap()).unwrap()
}

fn session(jid: &str, priority: i8, available: bool) -> Session {
    let presence = if priority == 0 {
        "<presence/>".to_owned()
    } else {
        format!("<presence><priority>{priority}</priority></presence>")
    };
    Session {
        jid: jid.parse().unwrap(),
        presence: available.then(|| parse_element("jabber:client", presence.as_bytes()).unwrap()),
        interested: true,
        directed: Vec::new(),
    }
}

fn out_stanza(o: &OutStanza) -> Stanza {
    match o {
        OutStanza::Element(el) => Stanza::from_element(el.clone()).unwrap(),
        OutStanza::Built(b) => {
            Stanza::from_element(parse_element("jabber:client", b).unwrap()).unwrap()
        }
    }
}

/// One server's side of the relationship: its account, one session, and its record of the
/// other party.
struct Side {
    account: BareJid,
    sessions: Vec<Session>,
    record: Option<Contact>,
}

impl Side {
    fn new(account: &str) -> Side {
        Side {
            account: account.parse().unwrap(),
            sessions: vec![session(&format!("{account}/r"), 0, true)],
            record: None,
        }
    }

    fn state(&self) -> ContactState {
        self.record.as_ref().map_or(ContactState::NONE, |c| c.state)
    }

    /// Applies the writes and returns the subscription stanzas routed to the other side.
    fn apply(&mut self, outputs: Vec<Output>) -> Vec<Stanza> {
        let mut routed = Vec::new();
        for o in outputs {
            match o {
                Output::Store(c) => self.record = Some(c),
                Output::Forget(_) => self.record = None,
                Output::Route { stanza, .. } => {
                    let s = out_stanza(&stanza);
                    let t = s.as_presence().and_then(|p| p.type_().ok());
                    if t.and_then(SubscriptionType::of).is_some() {
                        routed.push(s);
                    }
                }
                _ => {}
            }
        }
        routed
    }
}

fn kind_of(s: &Stanza) -> SubscriptionType {
    SubscriptionType::of(s.as_presence().unwrap().type_().unwrap()).unwrap()
}

/// The user at `from` sends `kind` to the other; every stanza routed is processed by the
/// receiving server, auto-replies included, until nothing is left. Checks at every step
/// that the state moved as the tables say.
fn exchange(sides: &mut [Side; 2], from: usize, kind: SubscriptionType) {
    let to = 1 - from;
    let other = sides[to].account.clone();
    let s = stanza(&format!(
        "<presence from='{}/r' to='{}' type='{}'/>",
        sides[from].account, other, kind
    ));
    let before = sides[from].state();
    let account = Account {
        jid: &sides[from].account,
        sessions: &sides[from].sessions,
    };
    let out = subscription::outbound(
        &account,
        &other,
        sides[from].record.as_ref(),
        kind,
        &s,
        Policy::default(),
    );
    let mut queue: Vec<(usize, Stanza)> = sides[from]
        .apply(out)
        .into_iter()
        .map(|s| (to, s))
        .collect();
    let after = sides[from].state();
    assert_eq!(
        after.state(),
        after_outbound(kind, before.state()),
        "outbound {kind} in {}",
        before.state()
    );
    let mut rounds = 0;
    while let Some((at, s)) = queue.pop() {
        rounds += 1;
        assert!(rounds < 8, "auto-replies must end");
        let kind = kind_of(&s);
        let sender = sides[1 - at].account.clone();
        let before = sides[at].state();
        let listed = sides[at].record.as_ref().is_some_and(Contact::in_roster);
        let account = Account {
            jid: &sides[at].account,
            sessions: &sides[at].sessions,
        };
        let out = subscription::inbound(&account, &sender, sides[at].record.as_ref(), kind, &s);
        // Sections 3.1.6, 3.2.3, 3.3.3: the stanza is delivered before the push it explains.
        if let Some(first_push) = out.iter().position(|o| matches!(o, Output::Push { .. })) {
            assert!(
                !out[first_push..]
                    .iter()
                    .any(|o| matches!(o, Output::Deliver { .. })),
                "{out:?}"
            );
        }
        for r in sides[at].apply(out) {
            queue.push((1 - at, r));
        }
        let after = sides[at].state().state();
        let expected = if kind == SubscriptionType::Subscribe && before.approved() {
            // Section 3.4.2: the pre-approval answers the request.
            after_outbound(
                SubscriptionType::Subscribed,
                after_inbound(kind, before.state()),
            )
        } else if kind == SubscriptionType::Unsubscribe
            && before.state() == SubState::NonePendingIn
            && !listed
        {
            SubState::None
        } else {
            after_inbound(kind, before.state())
        };
        assert_eq!(after, expected, "inbound {kind} in {}", before.state());
    }
}

fn check_consistent(sides: &[Side; 2]) {
    let (a, b) = (sides[0].state(), sides[1].state());
    let (sa, sb) = (a.state(), b.state());
    // What one side calls "to", the other calls "from"; a request out is the other's
    // request in (no stanza is lost between the two servers here).
    assert_eq!(
        sa.subscription().has_to(),
        sb.subscription().has_from(),
        "{sa} / {sb}"
    );
    assert_eq!(
        sa.subscription().has_from(),
        sb.subscription().has_to(),
        "{sa} / {sb}"
    );
    assert_eq!(sa.pending_out(), sb.pending_in(), "{sa} / {sb}");
    assert_eq!(sa.pending_in(), sb.pending_out(), "{sa} / {sb}");
    for side in sides {
        let s = side.state();
        assert!(SubState::ALL.contains(&s.state()));
        assert_eq!(ContactState::new(s.state(), s.approved()), Some(s));
        if let Some(c) = &side.record {
            assert!(!c.is_empty(), "an empty record is forgotten, not stored");
            if !c.in_roster() {
                assert_eq!(
                    c.state.state(),
                    SubState::NonePendingIn,
                    "only a request in is kept without an item"
                );
            }
        }
    }
}

fn kinds() -> impl Strategy<Value = SubscriptionType> {
    prop_oneof![
        Just(SubscriptionType::Subscribe),
        Just(SubscriptionType::Subscribed),
        Just(SubscriptionType::Unsubscribe),
        Just(SubscriptionType::Unsubscribed),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Any sequence of subscription stanzas between two users, each processed by the
    /// sender's server (A.2) and the receiver's (A.3), auto-replies included: every state
    /// is one of the nine, each step moves as the tables say, and the two rosters agree.
    #[test]
    fn two_servers_agree(steps in proptest::collection::vec((0usize..2, kinds()), 0..40)) {
        let mut sides = [Side::new("juliet@example.com"), Side::new("romeo@example.net")];
        for (from, kind) in steps {
            exchange(&mut sides, from, kind);
            check_consistent(&sides);
        }
    }

    /// The pure tables alone: from any state, any sequence stays among the nine and never
    /// pairs "to" with a request out or "from" with a request in.
    #[test]
    fn tables_stay_among_the_nine(
        start in 0usize..9,
        steps in proptest::collection::vec((any::<bool>(), kinds()), 0..60),
    ) {
        let mut s = SubState::ALL[start];
        for (out, kind) in steps {
            s = if out { after_outbound(kind, s) } else { after_inbound(kind, s) };
            prop_assert_eq!(SubState::from_parts(s.subscription(), s.pending_out(), s.pending_in()), Some(s));
        }
    }

    /// Section 8.5.2.1.1: whatever the priorities, a message to the bare JID never reaches
    /// a resource of negative priority, and a chat or normal one reaches exactly those of
    /// the highest non-negative priority.
    #[test]
    fn bare_jid_messages_never_reach_negative_priority(
        prios in proptest::collection::vec((-3i8..4, any::<bool>()), 0..5),
        type_ in prop_oneof![Just("chat"), Just("normal"), Just("headline")],
    ) {
        let sessions: Vec<Session> = prios
            .iter()
            .enumerate()
            .map(|(i, &(p, avail))| session(&format!("juliet@example.com/r{i}"), p, avail))
            .collect();
        let account_jid: BareJid = "juliet@example.com".parse().unwrap();
        let account = Account { jid: &account_jid, sessions: &sessions };
        let msg = stanza(&format!(
            "<message from='romeo@example.net/o' to='juliet@example.com' type='{type_}'><body>x</body></message>"
        ));
        let out = delivery::inbound(Some(&account), account_jid.as_jid(), &msg, false, delivery::Policy::default());
        let delivered: Vec<&FullJid> = out
            .iter()
            .filter_map(|o| match o { Output::Deliver { session, .. } => Some(session), _ => None })
            .collect();
        let eligible: Vec<&Session> = sessions.iter().filter(|s| s.is_available() && s.priority() >= 0).collect();
        for d in &delivered {
            let s = sessions.iter().find(|s| &s.jid == *d).unwrap();
            prop_assert!(s.is_available() && s.priority() >= 0);
        }
        if type_ == "headline" {
            prop_assert_eq!(delivered.len(), eligible.len());
        } else if let Some(top) = eligible.iter().map(|s| s.priority()).max() {
            prop_assert_eq!(delivered.len(), eligible.iter().filter(|s| s.priority() == top).count());
        } else {
            // Nothing eligible: bounced with service-unavailable.
            prop_assert!(delivered.is_empty());
            prop_assert_eq!(out.len(), 1);
            let bounced = matches!(&out[0], Output::Route { .. });
            prop_assert!(bounced, "bounced");
        }
    }
}

fn juliet() -> (BareJid, Vec<Session>) {
    (
        "juliet@example.com".parse().unwrap(),
        vec![
            session("juliet@example.com/balcony", 0, true),
            session("juliet@example.com/chamber", 0, true),
        ],
    )
}

#[test]
fn approval_is_delivered_before_the_push() {
    // Section 3.1.6: "This MUST occur before sending the roster push".
    let (jid, sessions) = juliet();
    let account = Account {
        jid: &jid,
        sessions: &sessions,
    };
    let romeo: BareJid = "romeo@example.net".parse().unwrap();
    let record = Contact {
        jid: romeo.clone(),
        state: ContactState::plain(SubState::NonePendingOut),
        item: Some(ItemInfo::default()),
    };
    let s =
        stanza("<presence from='romeo@example.net' to='juliet@example.com' type='subscribed'/>");
    let out = subscription::inbound(
        &account,
        &romeo,
        Some(&record),
        SubscriptionType::Subscribed,
        &s,
    );
    let first_push = out
        .iter()
        .position(|o| matches!(o, Output::Push { .. }))
        .unwrap();
    let last_deliver = out
        .iter()
        .rposition(|o| matches!(o, Output::Deliver { .. }))
        .unwrap();
    assert!(last_deliver < first_push, "{out:?}");
    assert_eq!(
        out.iter()
            .filter(|o| matches!(o, Output::Push { .. }))
            .count(),
        2
    );
}

#[test]
fn contact_state_refuses_a_contradicting_preapproval() {
    for s in SubState::ALL {
        assert_eq!(
            ContactState::new(s, true).is_some(),
            s.allows_preapproval(),
            "{s}"
        );
        assert!(ContactState::new(s, false).is_some());
    }
    assert_eq!(
        SubState::from_parts(xmpp_sansio::im::Subscription::To, true, false),
        None
    );
    assert_eq!(
        SubState::from_parts(xmpp_sansio::im::Subscription::From, false, true),
        None
    );
    assert_eq!(
        SubState::from_parts(xmpp_sansio::im::Subscription::Both, true, true),
        None
    );
}

#[test]
fn roster_set_from_elsewhere_is_forbidden_and_from_the_account_parsed() {
    let (jid, sessions) = juliet();
    let account = Account {
        jid: &jid,
        sessions: &sessions,
    };
    let other = stanza(
        "<iq from='romeo@example.net/orchard' type='set' id='1'><query xmlns='jabber:iq:roster'><item jid='nurse@example.com'/></query></iq>",
    );
    let e = roster::parse_set(&account, &other, RosterLimits::default()).unwrap_err();
    assert_eq!(
        e.condition,
        xmpp_sansio::error::StanzaErrorCondition::Forbidden
    );
    let own = stanza(
        "<iq from='juliet@example.com/balcony' type='set' id='2'><query xmlns='jabber:iq:roster'><item jid='Nurse@Example.com' name='Nurse'><group>Servants</group></item></query></iq>",
    );
    assert_eq!(
        roster::parse_set(&account, &own, RosterLimits::default()).unwrap(),
        RosterSet::Update {
            jid: "nurse@example.com".parse().unwrap(),
            info: ItemInfo {
                name: Some("Nurse".into()),
                groups: vec!["Servants".into()]
            },
        }
    );
    // The limits are the embedder's: a tighter one refuses what the default takes.
    let tight = RosterLimits {
        max_groups: 0,
        ..RosterLimits::default()
    };
    let e = roster::parse_set(&account, &own, tight).unwrap_err();
    assert_eq!(
        e.condition,
        xmpp_sansio::error::StanzaErrorCondition::NotAcceptable
    );
}

#[test]
fn roster_cache_applies_only_the_accounts_pushes() {
    let mut cache = RosterCache::new("juliet@example.com".parse().unwrap(), None);
    let result = stanza(
        "<iq type='result' id='r' to='juliet@example.com/balcony'><query xmlns='jabber:iq:roster' ver='ver11'><item jid='romeo@example.net' subscription='both' name='Romeo'><group>Friends</group></item><item jid='mercutio@example.com' subscription='from' ask='subscribe'/></query></iq>",
    );
    cache.apply_result(&result).unwrap();
    assert_eq!(cache.ver(), Some("ver11"));
    let romeo: BareJid = "romeo@example.net".parse().unwrap();
    assert_eq!(
        cache.get(&romeo).unwrap().info.groups,
        vec!["Friends".to_owned()]
    );
    let merc: BareJid = "mercutio@example.com".parse().unwrap();
    assert_eq!(
        cache.get(&merc).unwrap().state(),
        Some(SubState::FromPendingOut)
    );

    // Section 2.1.6: a push from anyone but the account is not processed.
    let forged = stanza(
        "<iq type='set' id='p0' from='mallory@evil.example' to='juliet@example.com/balcony'><query xmlns='jabber:iq:roster' ver='ver99'><item jid='romeo@example.net' subscription='remove'/></query></iq>",
    );
    assert_eq!(cache.apply_push(&forged), Err(CacheError::Unauthorized));
    assert!(cache.get(&romeo).is_some());
    assert_eq!(cache.ver(), Some("ver11"));

    // From the bare JID of the account, or without `from`: applied.
    let remove = stanza(
        "<iq type='set' id='p1' from='juliet@example.com' to='juliet@example.com/balcony'><query xmlns='jabber:iq:roster' ver='ver12'><item jid='romeo@example.net' subscription='remove'/></query></iq>",
    );
    cache.apply_push(&remove).unwrap();
    assert!(cache.get(&romeo).is_none());
    assert_eq!(cache.ver(), Some("ver12"));
    let add = stanza(
        "<iq type='set' id='p2'><query xmlns='jabber:iq:roster' ver='ver13'><item jid='nurse@example.com' subscription='none' approved='true'/></query></iq>",
    );
    cache.apply_push(&add).unwrap();
    let nurse: BareJid = "nurse@example.com".parse().unwrap();
    assert!(cache.get(&nurse).unwrap().approved);
    assert_eq!(cache.ver(), Some("ver13"));

    // A push of two items is malformed (2.1.6: one and only one).
    let two = stanza(
        "<iq type='set' id='p3'><query xmlns='jabber:iq:roster'><item jid='a@example.com'/><item jid='b@example.com'/></query></iq>",
    );
    assert_eq!(cache.apply_push(&two), Err(CacheError::Malformed));
}

#[test]
fn roster_push_is_written_as_section_2_1_6_shows() {
    let mut out = xmpp_sansio::bytes::BytesMut::new();
    let to: FullJid = "romeo@example.net/foo".parse().unwrap();
    let c = Contact {
        jid: "juliet@example.com".parse().unwrap(),
        state: ContactState::plain(SubState::NonePendingOut),
        item: Some(ItemInfo::default()),
    };
    roster::write_push(&mut out, "b89c5r7ib574", &to, &RosterChange::Set(c), None);
    assert_eq!(
        &out[..],
        &b"<iq id='b89c5r7ib574' to='romeo@example.net/foo' type='set'><query xmlns='jabber:iq:roster'><item jid='juliet@example.com' subscription='none' ask='subscribe'/></query></iq>"[..]
    );
}

#[test]
fn probe_from_a_full_jid_is_answered_to_that_jid() {
    let (jid, sessions) = juliet();
    let account = Account {
        jid: &jid,
        sessions: &sessions,
    };
    let from: Jid = "romeo@example.net/orchard".parse().unwrap();
    let record = Contact {
        jid: "romeo@example.net".parse().unwrap(),
        state: ContactState::plain(SubState::Both),
        item: Some(ItemInfo::default()),
    };
    let out = xmpp_sansio::im::presence::inbound_probe(Some(&account), &jid, &from, Some(&record));
    assert_eq!(out.len(), 2);
    for o in &out {
        let Output::Route { to, stanza } = o else {
            panic!("{o:?}")
        };
        assert_eq!(to, &from);
        let s = out_stanza(stanza);
        assert_eq!(
            s.as_presence().unwrap().type_().unwrap(),
            PresenceType::Available
        );
    }
}

#[test]
fn client_tracks_contacts_by_resource_and_requests() {
    use xmpp_sansio::im::contacts::{ContactPresence, PresenceUpdate};
    let mut book = ContactPresence::with_limit(2);
    let romeo: BareJid = "romeo@example.net".parse().unwrap();
    let p = |xml: &str| stanza(xml);
    assert!(matches!(
        book.apply(&p("<presence from='romeo@example.net/orchard'/>")),
        PresenceUpdate::Available(_)
    ));
    book.apply(&p(
        "<presence from='romeo@example.net/garden'><show>away</show></presence>",
    ));
    assert_eq!(book.resources(&romeo).count(), 2);
    book.apply(&p(
        "<presence from='romeo@example.net/orchard' type='unavailable'/>",
    ));
    assert_eq!(
        book.resources(&romeo).map(|(r, _)| r).collect::<Vec<_>>(),
        vec!["garden"]
    );
    assert_eq!(
        book.apply(&p("<presence from='nurse@example.com' type='subscribe'/>")),
        PresenceUpdate::Request("nurse@example.com".parse().unwrap())
    );
    assert_eq!(book.requests().count(), 1);
    // The table is full (garden and the request): a new resource is ignored, a known one still updated.
    assert_eq!(
        book.apply(&p("<presence from='benvolio@example.net/x'/>")),
        PresenceUpdate::Ignored
    );
    assert!(matches!(
        book.apply(&p("<presence from='romeo@example.net/garden'/>")),
        PresenceUpdate::Available(_)
    ));
    book.answered(&"nurse@example.com".parse().unwrap());
    assert_eq!(book.requests().count(), 0);
    // Unsubscribed: the contact's presence is void (3.2.3).
    book.apply(&p(
        "<presence from='romeo@example.net' type='unsubscribed'/>",
    ));
    assert!(!book.is_available(&romeo));
    assert!(matches!(
        book.apply(&p("<presence from='benvolio@example.net/x'/>")),
        PresenceUpdate::Available(_)
    ));
}

fn any_attr() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        Just(Some("juliet@example.com".to_owned())),
        Just(Some("juliet@example.com/balcony".to_owned())),
        Just(Some("juliet@example.com/tomb".to_owned())),
        Just(Some("romeo@example.net".to_owned())),
        Just(Some("romeo@example.net/orchard".to_owned())),
        Just(Some("example.com".to_owned())),
        Just(Some("@bad".to_owned())),
        Just(Some(String::new())),
    ]
}

fn any_type() -> impl Strategy<Value = Option<&'static str>> {
    prop_oneof![
        Just(None),
        Just(Some("subscribe")),
        Just(Some("subscribed")),
        Just(Some("unsubscribe")),
        Just(Some("unsubscribed")),
        Just(Some("probe")),
        Just(Some("unavailable")),
        Just(Some("error")),
        Just(Some("chat")),
        Just(Some("groupchat")),
        Just(Some("headline")),
        Just(Some("get")),
        Just(Some("set")),
        Just(Some("result")),
        Just(Some("bogus")),
    ]
}

proptest! {
    /// No decision panics, whatever the stanza (kind, addresses, type, payload) and the
    /// stored state.
    #[test]
    fn no_decision_panics(
        kind in prop_oneof![Just("message"), Just("presence"), Just("iq")],
        from in any_attr(),
        to in any_attr(),
        type_ in any_type(),
        payload in prop_oneof![
            Just(""),
            Just("<query xmlns='jabber:iq:roster'/>"),
            Just("<query xmlns='jabber:iq:roster'><item jid='romeo@example.net' subscription='remove'/></query>"),
            Just("<query xmlns='jabber:iq:roster'><item/></query>"),
            Just("<priority>x</priority>"),
        ],
        state in 0usize..9,
        approved in any::<bool>(),
        listed in any::<bool>(),
        sub in kinds(),
    ) {
        let mut xml = format!("<{kind}");
        for (n, v) in [("from", from), ("to", to), ("type", type_.map(str::to_owned))] {
            if let Some(v) = v {
                xml.push_str(&format!(" {n}='{v}'"));
            }
        }
        xml.push_str(&format!(" id='i'>{payload}</{kind}>"));
        let s = stanza(&xml);
        let (jid, sessions) = juliet();
        let account = Account { jid: &jid, sessions: &sessions };
        let romeo: BareJid = "romeo@example.net".parse().unwrap();
        let st = SubState::ALL[state];
        let record = Contact {
            jid: romeo.clone(),
            state: ContactState::new(st, approved && st.allows_preapproval()).unwrap(),
            item: listed.then(ItemInfo::default),
        };
        let contacts = vec![record.clone()];
        let _ = subscription::outbound(&account, &romeo, Some(&record), sub, &s, Policy::default());
        let _ = subscription::inbound(&account, &romeo, Some(&record), sub, &s);
        let _ = roster::get(&account, &s, &contacts, Some("v1"));
        if let Ok(req) = roster::parse_set(&account, &s, RosterLimits::default()) {
            let _ = roster::set(&account, &s, &req, Some(&record));
        }
        let full: FullJid = "juliet@example.com/balcony".parse().unwrap();
        let _ = xmpp_sansio::im::presence::outbound_broadcast(&account, &full, &s, &contacts);
        let _ = xmpp_sansio::im::presence::session_ended(&account, &full, &contacts);
        if let Ok(Some(to)) = s.to() {
            let _ = xmpp_sansio::im::presence::outbound_directed(&account, &full, &to, &s, Some(&record));
            let _ = delivery::inbound(Some(&account), &to, &s, approved, delivery::Policy { offline: listed });
            let _ = delivery::inbound(None, &to, &s, approved, delivery::Policy::default());
        }
        if let Ok(Some(from)) = s.from() {
            let _ = xmpp_sansio::im::presence::inbound_probe(Some(&account), &jid, &from, Some(&record));
        }
        let _ = xmpp_sansio::im::dispatch::classify(&account, &s);
        let mut cache = RosterCache::new(jid.clone(), None);
        let _ = cache.apply_result(&s);
        let _ = cache.apply_push(&s);
        let mut book = xmpp_sansio::im::contacts::ContactPresence::default();
        let _ = book.apply(&s);
    }
}

#[test]
fn dispatch_names_the_rule() {
    use xmpp_sansio::im::dispatch::{Step, classify};
    let (jid, sessions) = juliet();
    let account = Account {
        jid: &jid,
        sessions: &sessions,
    };
    let c = |xml: &str| classify(&account, &stanza(xml));
    let balcony: FullJid = "juliet@example.com/balcony".parse().unwrap();
    let romeo: BareJid = "romeo@example.net".parse().unwrap();
    assert_eq!(
        c(
            "<presence from='juliet@example.com/balcony' to='romeo@example.net/orchard' type='subscribe'/>"
        ),
        Step::OutboundSubscription {
            session: balcony.clone(),
            contact: romeo.clone(),
            kind: SubscriptionType::Subscribe
        }
    );
    assert_eq!(
        c("<presence from='juliet@example.com/balcony'/>"),
        Step::Broadcast {
            session: balcony.clone()
        }
    );
    assert_eq!(
        c(
            "<presence from='juliet@example.com/balcony' to='romeo@example.net' type='unavailable'/>"
        ),
        Step::Directed {
            session: balcony.clone(),
            to: romeo.as_jid().clone()
        }
    );
    assert_eq!(
        c(
            "<iq from='juliet@example.com/balcony' type='get' id='1'><query xmlns='jabber:iq:roster'/></iq>"
        ),
        Step::RosterGet
    );
    assert_eq!(
        c(
            "<iq from='romeo@example.net/o' to='juliet@example.com' type='set' id='1'><query xmlns='jabber:iq:roster'/></iq>"
        ),
        Step::RosterSet
    );
    assert_eq!(
        c("<presence from='romeo@example.net/o' to='juliet@example.com' type='unsubscribed'/>"),
        Step::InboundSubscription {
            contact: romeo.clone(),
            kind: SubscriptionType::Unsubscribed
        }
    );
    assert!(matches!(
        c("<presence from='romeo@example.net' to='juliet@example.com' type='probe'/>"),
        Step::Probe { .. }
    ));
    assert!(matches!(
        c("<message from='romeo@example.net/o' to='juliet@example.com/balcony'/>"),
        Step::Deliver { .. }
    ));
    assert!(matches!(
        c("<message from='juliet@example.com/balcony' to='romeo@example.net'/>"),
        Step::Route { .. }
    ));
    // A session the account does not have, no from, someone else's stanza: nothing.
    assert_eq!(
        c("<message from='juliet@example.com/tomb' to='romeo@example.net'/>"),
        Step::Ignore
    );
    assert_eq!(c("<message to='juliet@example.com'/>"), Step::Ignore);
    assert_eq!(
        c("<message from='romeo@example.net/o' to='nurse@example.com'/>"),
        Step::Ignore
    );
    // A presence error is delivered (RFC 6120 10.5); one the user sends, and a probe its
    // client sends (RFC 6121 4.3), are routed.
    assert_eq!(
        c("<presence from='romeo@example.net/o' to='juliet@example.com' type='error'/>"),
        Step::Deliver {
            to: jid.as_jid().clone()
        }
    );
    assert_eq!(
        c("<presence from='juliet@example.com/balcony' to='romeo@example.net' type='probe'/>"),
        Step::Route {
            to: romeo.as_jid().clone()
        }
    );
    assert_eq!(
        c("<presence from='juliet@example.com/balcony' to='romeo@example.net/o' type='error'/>"),
        Step::Route {
            to: "romeo@example.net/o".parse().unwrap()
        }
    );
    assert_eq!(
        c("<presence from='juliet@example.com/balcony' to='juliet@example.com' type='probe'/>"),
        Step::Ignore
    );
}
