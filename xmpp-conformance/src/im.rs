//! The `im-server` role (vectors/README.md): the RFC 6121 decisions of
//! [`xmpp_sansio::im`] driven by a vector, with this module as the embedder that owns the
//! account's roster and session table.
//!
//! The peer's bytes are the stanzas the server's routing layer hands over, one after the
//! other (no stream header: the role reads them as children of a `jabber:client` stream):
//! a stanza whose `from` is one of the account's sessions is the user's (outbound), any
//! other is for the account (inbound). What the decisions send is the role's output, each
//! stanza in an envelope that says where it goes: `<deliver to='full JID'>` (one of the
//! account's sessions), `<route to='JID'>` (another address), `<defer>` (a subscription
//! request kept until the account is available), `<offline>` (a message kept offline).
//! Roster changes are events: `store <contact/>`, `forget <jid>`, `push <iq/>`;
//! unreadable input is `parse-error <condition>`.
//!
//! Config: `account` (bare JID, required), `domain` (default: the account's), `preapproval`
//! (default `true`), `offline` (default `false`), `roster_ver` (a version ending in a number:
//! the roster is versioned, from that version on, one more per change), `roster` (array of tables:
//! `jid`, `state` or `subscription`/`ask`/`pending_in`, `approved`, `name`, `groups`,
//! `listed`), `sessions` (array of tables: `jid`, `priority`, `available`, `interested`,
//! `presence`), `lang`. Actions: `end-session <full JID>`.

use std::collections::{BTreeMap, VecDeque};

use xmpp_sansio::error::StanzaError;
use xmpp_sansio::im::dispatch::{self, Step};
use xmpp_sansio::im::roster::{self, RosterLimits};
use xmpp_sansio::im::{
    Account, Contact, ContactState, ItemInfo, OutStanza, Output, Session, SubState, Subscription,
    delivery, presence, subscription,
};
use xmpp_sansio::jid::{BareJid, FullJid};
use xmpp_sansio::stanza::{PresenceType, Stanza, error_reply};
use xmpp_sansio::xml::{Element, Event, StreamParser, escape_attr, parse_element};

use crate::role::{
    Action, ArgKind, ConfigError, CoreUnderTest, EventArg, Role, Unsupported, VectorEvent,
    config_error, unsupported_key,
};
use crate::vector::Config;
use crate::xml::{NsContext, parse_fragment};

/// The `im-server` role.
#[derive(Debug, Clone, Copy, Default)]
pub struct ImServerRole;

const HEADER: &[u8] =
    b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>";

/// Reads one stanza written in a vector's config.
fn parse_stanza(xml: &str) -> Option<Element> {
    parse_element("jabber:client", xml.as_bytes()).ok()
}

fn roster_entry(v: &toml::Value) -> Result<Contact, ConfigError> {
    let bad = |m: &str| config_error("roster", m.to_owned());
    let t = v.as_table().ok_or_else(|| bad("each entry is a table"))?;
    let jid = t
        .get("jid")
        .and_then(|j| j.as_str())
        .and_then(|j| BareJid::parse(j).ok())
        .ok_or_else(|| bad("jid (a bare JID) is required"))?;
    let flag = |k: &str| t.get(k).and_then(|b| b.as_bool()).unwrap_or(false);
    let state = match t.get("state") {
        Some(s) => s
            .as_str()
            .and_then(|s| s.parse::<SubState>().ok())
            .ok_or_else(|| bad("state: none, none+out, none+in, none+out+in, to, to+in, from, from+out or both"))?,
        None => {
            let sub = match t.get("subscription") {
                None => Subscription::None,
                Some(s) => s
                    .as_str()
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| bad("subscription: none, to, from or both"))?,
            };
            let ask = match t.get("ask") {
                None => false,
                Some(a) if a.as_str() == Some("subscribe") => true,
                Some(_) => return Err(bad("ask: subscribe")),
            };
            SubState::from_parts(sub, ask, flag("pending_in"))
                .ok_or_else(|| bad("no such subscription state (RFC 6121 A.1)"))?
        }
    };
    let state = ContactState::new(state, flag("approved"))
        .ok_or_else(|| bad("approved only in the states none, none+out and to (RFC 6121 3.4)"))?;
    let listed = t.get("listed").and_then(|b| b.as_bool()).unwrap_or(true);
    let groups = match t.get("groups") {
        None => Vec::new(),
        Some(g) => g
            .as_array()
            .and_then(|a| a.iter().map(|s| s.as_str().map(str::to_owned)).collect())
            .ok_or_else(|| bad("groups: an array of strings"))?,
    };
    let name = t.get("name").and_then(|n| n.as_str()).map(str::to_owned);
    for key in t.keys() {
        if !matches!(
            key.as_str(),
            "jid"
                | "state"
                | "subscription"
                | "ask"
                | "pending_in"
                | "approved"
                | "name"
                | "groups"
                | "listed"
        ) {
            return Err(bad(&format!("unknown key {key}")));
        }
    }
    Ok(Contact {
        jid,
        state,
        item: listed.then_some(ItemInfo { name, groups }),
    })
}

fn session_entry(v: &toml::Value) -> Result<Session, ConfigError> {
    let bad = |m: &str| config_error("sessions", m.to_owned());
    let t = v.as_table().ok_or_else(|| bad("each entry is a table"))?;
    let jid = t
        .get("jid")
        .and_then(|j| j.as_str())
        .and_then(|j| FullJid::parse(j).ok())
        .ok_or_else(|| bad("jid (a full JID) is required"))?;
    let priority = match t.get("priority") {
        None => 0,
        Some(p) => p
            .as_integer()
            .and_then(|p| i8::try_from(p).ok())
            .ok_or_else(|| bad("priority: -128 to 127"))?,
    };
    let flag = |k: &str| t.get(k).and_then(|b| b.as_bool()).unwrap_or(true);
    let presence = match t.get("presence").and_then(|p| p.as_str()) {
        Some(xml) => parse_stanza(xml).ok_or_else(|| bad("presence: one stanza"))?,
        None if priority != 0 => parse_stanza(&format!(
            "<presence><priority>{priority}</priority></presence>"
        ))
        .ok_or_else(|| bad("priority"))?,
        None => parse_stanza("<presence/>").ok_or_else(|| bad("presence"))?,
    };
    for key in t.keys() {
        if !matches!(
            key.as_str(),
            "jid" | "priority" | "available" | "interested" | "presence"
        ) {
            return Err(bad(&format!("unknown key {key}")));
        }
    }
    Ok(Session {
        presence: flag("available").then(|| presence.with_attr("from", jid.as_str())),
        jid,
        interested: flag("interested"),
        directed: Vec::new(),
    })
}

impl Role for ImServerRole {
    fn name(&self) -> &str {
        "im-server"
    }

    fn event_arg(&self, name: &str) -> Option<ArgKind> {
        match name {
            "store" | "push" => Some(ArgKind::Xml),
            "forget" | "parse-error" => Some(ArgKind::Plain),
            _ => None,
        }
    }

    fn check_action(&self, action: &Action) -> Result<(), Unsupported> {
        match action.name.as_str() {
            "end-session" if !action.args.is_empty() => Ok(()),
            other => Err(Unsupported(format!("action {other} (role im-server)"))),
        }
    }

    fn start(&self, config: &Config) -> Result<Box<dyn CoreUnderTest>, ConfigError> {
        let mut account = None;
        let mut domain = None;
        let mut policy = subscription::Policy::default();
        let mut delivery_policy = delivery::Policy::default();
        let mut contacts = BTreeMap::new();
        let mut sessions = Vec::new();
        let mut ver = None;
        for entry in &config.entries {
            let key = entry.key.as_str();
            let v = &entry.value;
            let boolean = || {
                v.as_bool()
                    .ok_or_else(|| config_error(key, "expected a boolean"))
            };
            match key {
                "account" => {
                    account = Some(
                        v.as_str()
                            .and_then(|s| BareJid::parse(s).ok())
                            .ok_or_else(|| config_error(key, "expected a bare JID"))?,
                    );
                }
                "domain" => {
                    domain = Some(
                        v.as_str()
                            .ok_or_else(|| config_error(key, "expected a string"))?
                            .to_owned(),
                    );
                }
                "lang" => {}
                "preapproval" => policy.preapproval = boolean()?,
                "offline" => delivery_policy.offline = boolean()?,
                "roster_ver" => {
                    let text = v
                        .as_str()
                        .ok_or_else(|| config_error(key, "expected a string"))?;
                    let digits =
                        text.len() - text.trim_end_matches(|c: char| c.is_ascii_digit()).len();
                    let (prefix, n) = text.split_at(text.len() - digits);
                    let n = n
                        .parse()
                        .map_err(|_| config_error(key, "expected a version ending in a number"))?;
                    ver = Some((prefix.to_owned(), n));
                }
                "roster" => {
                    let list = v
                        .as_array()
                        .ok_or_else(|| config_error(key, "expected an array of tables"))?;
                    for item in list {
                        let c = roster_entry(item)?;
                        contacts.insert(c.jid.clone(), c);
                    }
                }
                "sessions" => {
                    let list = v
                        .as_array()
                        .ok_or_else(|| config_error(key, "expected an array of tables"))?;
                    for s in list {
                        sessions.push(session_entry(s)?);
                    }
                }
                _ => return Err(unsupported_key(key, v, "im-server")),
            }
        }
        let account = account.ok_or_else(|| config_error("account", "required"))?;
        for s in &sessions {
            if s.jid.to_bare() != account {
                return Err(config_error(
                    "sessions",
                    format!("{} is not a session of the account", s.jid),
                ));
            }
        }
        let mut parser = StreamParser::default();
        parser
            .handle_input(HEADER)
            .map_err(|e| config_error("account", e.to_string()))?;
        while parser.poll_event().is_some() {}
        Ok(Box::new(ImCore {
            parser,
            domain: domain.unwrap_or_else(|| account.domain().to_owned()),
            account,
            policy,
            delivery_policy,
            contacts,
            sessions,
            ver,
            pushes: 0,
            output: Vec::new(),
            events: VecDeque::new(),
            failed: false,
        }))
    }
}

struct ImCore {
    parser: StreamParser,
    account: BareJid,
    domain: String,
    policy: subscription::Policy,
    delivery_policy: delivery::Policy,
    contacts: BTreeMap<BareJid, Contact>,
    sessions: Vec<Session>,
    /// The roster version: a prefix and a number that each change increments.
    ver: Option<(String, u64)>,
    pushes: u64,
    output: Vec<u8>,
    events: VecDeque<VectorEvent>,
    failed: bool,
}

fn xml_event(name: &str, xml: &str) -> VectorEvent {
    match parse_fragment(xml, &mut NsContext::new()) {
        Ok(items) => VectorEvent {
            name: name.into(),
            arg: EventArg::Xml(items),
            note: None,
        },
        Err(e) => VectorEvent::plain(name, format!("(unreadable: {e}) {xml}")),
    }
}

fn render_contact(c: &Contact) -> String {
    let mut out = xmpp_sansio::bytes::BytesMut::new();
    out.extend_from_slice(b"<contact jid='");
    escape_attr(&mut out, c.jid.as_str());
    out.extend_from_slice(format!("' state='{}'", c.state.state()).as_bytes());
    if c.state.approved() {
        out.extend_from_slice(b" approved='true'");
    }
    match &c.item {
        None => out.extend_from_slice(b" roster='no'/>"),
        Some(info) => {
            if let Some(n) = &info.name {
                out.extend_from_slice(b" name='");
                escape_attr(&mut out, n);
                out.extend_from_slice(b"'");
            }
            out.extend_from_slice(b">");
            for g in &info.groups {
                out.extend_from_slice(b"<group>");
                xmpp_sansio::xml::escape_text(&mut out, g);
                out.extend_from_slice(b"</group>");
            }
            out.extend_from_slice(b"</contact>");
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl ImCore {
    fn ver(&self) -> Option<String> {
        self.ver.as_ref().map(|(p, n)| format!("{p}{n}"))
    }

    fn bump(&mut self) {
        if let Some((_, n)) = &mut self.ver {
            *n += 1;
        }
    }

    fn contacts(&self) -> Vec<Contact> {
        self.contacts.values().cloned().collect()
    }

    fn envelope(&mut self, name: &str, to: Option<&str>, stanza: &OutStanza) {
        self.output.extend_from_slice(b"<");
        self.output.extend_from_slice(name.as_bytes());
        if let Some(to) = to {
            let mut b = xmpp_sansio::bytes::BytesMut::new();
            escape_attr(&mut b, to);
            self.output.extend_from_slice(b" to='");
            self.output.extend_from_slice(&b);
            self.output.extend_from_slice(b"'");
        }
        self.output.extend_from_slice(b">");
        self.output.extend_from_slice(&stanza.to_bytes());
        self.output.extend_from_slice(b"</");
        self.output.extend_from_slice(name.as_bytes());
        self.output.extend_from_slice(b">");
    }

    /// Does what an embedder does with the decisions' outputs.
    fn apply(&mut self, outputs: Vec<Output>) {
        for o in outputs {
            match o {
                Output::Deliver { session, stanza } => {
                    self.envelope("deliver", Some(session.as_str()), &stanza)
                }
                Output::Route { to, stanza } => self.envelope("route", Some(to.as_str()), &stanza),
                Output::Defer(stanza) => self.envelope("defer", None, &stanza),
                Output::Offline(stanza) => self.envelope("offline", None, &stanza),
                Output::Push { session, change } => {
                    self.pushes += 1;
                    let mut b = xmpp_sansio::bytes::BytesMut::new();
                    let ver = self.ver();
                    roster::write_push(
                        &mut b,
                        &format!("push{}", self.pushes),
                        &session,
                        &change,
                        ver.as_deref(),
                    );
                    self.events
                        .push_back(xml_event("push", &String::from_utf8_lossy(&b)));
                }
                Output::Store(c) => {
                    self.events
                        .push_back(xml_event("store", &render_contact(&c)));
                    if c.item.is_some()
                        || self.contacts.get(&c.jid).is_some_and(|o| o.item.is_some())
                    {
                        self.bump();
                    }
                    self.contacts.insert(c.jid.clone(), c);
                }
                Output::Forget(jid) => {
                    self.events
                        .push_back(VectorEvent::plain("forget", jid.as_str()));
                    if self.contacts.remove(&jid).is_some_and(|c| c.item.is_some()) {
                        self.bump();
                    }
                }
                Output::SessionPresence { session, presence } => {
                    if let Some(s) = self.sessions.iter_mut().find(|s| s.jid == session) {
                        if presence.is_none() {
                            s.directed.clear();
                        }
                        s.presence = presence;
                    }
                }
                Output::Directed { session, to } => {
                    if let Some(s) = self.sessions.iter_mut().find(|s| s.jid == session) {
                        s.directed.push(to);
                    }
                }
                Output::Undirected { session, entity } => {
                    if let Some(s) = self.sessions.iter_mut().find(|s| s.jid == session) {
                        s.directed.retain(|d| *d != entity);
                    }
                }
            }
        }
    }

    fn error_to(&mut self, stanza: &Stanza, error: &StanzaError) {
        let mut b = xmpp_sansio::bytes::BytesMut::new();
        if error_reply(stanza, error, false, &mut b).is_ok() {
            if let Ok(Some(from)) = stanza.from() {
                let out = match FullJid::try_from(from.clone()) {
                    Ok(session) if session.to_bare() == self.account => Output::Deliver {
                        session,
                        stanza: OutStanza::Built(b.freeze()),
                    },
                    _ => Output::Route {
                        to: from,
                        stanza: OutStanza::Built(b.freeze()),
                    },
                };
                self.apply(vec![out]);
            }
        }
    }

    fn process(&mut self, el: Element) {
        let Ok(stanza) = Stanza::from_element(el) else {
            return;
        };
        let contacts = self.contacts();
        let sessions = self.sessions.clone();
        let account = Account {
            jid: &self.account,
            sessions: &sessions,
        };
        let record = |jid: &BareJid| self.contacts.get(jid);
        let outputs = match dispatch::classify(&account, &stanza) {
            Step::OutboundSubscription { contact, kind, .. } => subscription::outbound(
                &account,
                &contact,
                record(&contact),
                kind,
                &stanza,
                self.policy,
            ),
            Step::Broadcast { session } => {
                presence::outbound_broadcast(&account, &session, &stanza, &contacts)
            }
            Step::Directed { session, to } => {
                presence::outbound_directed(&account, &session, &to, &stanza, record(&to.to_bare()))
            }
            Step::RosterGet => {
                let ver = self.ver();
                match roster::get(&account, &stanza, &contacts, ver.as_deref()) {
                    Ok(out) => {
                        // The session becomes interested (RFC 6121 2.1.6).
                        if let Ok(Some(from)) = stanza.from() {
                            if let Some(s) = self.sessions.iter_mut().find(|s| s.jid == from) {
                                s.interested = true;
                            }
                        }
                        out
                    }
                    Err(e) => return self.error_to(&stanza, &e),
                }
            }
            Step::RosterSet => {
                let r =
                    roster::parse_set(&account, &stanza, RosterLimits::default()).and_then(|req| {
                        let jid = match &req {
                            roster::RosterSet::Update { jid, .. }
                            | roster::RosterSet::Remove { jid } => jid.clone(),
                        };
                        roster::set(&account, &stanza, &req, record(&jid))
                    });
                match r {
                    Ok(out) => out,
                    Err(e) => return self.error_to(&stanza, &e),
                }
            }
            Step::InboundSubscription { contact, kind } => {
                subscription::inbound(&account, &contact, record(&contact), kind, &stanza)
            }
            Step::Probe { from } => presence::answer_probe(
                Some(&account),
                &self.account,
                &stanza,
                record(&from.to_bare()),
            ),
            Step::Deliver { to } => {
                let Ok(Some(from)) = stanza.from() else {
                    return;
                };
                let contact = from.to_bare();
                // Whether the user shares presence with the sender (8.5.3.1): itself, a
                // subscriber, or someone it sent directed presence to.
                let shares = contact == self.account
                    || record(&contact).is_some_and(|c| c.state.state().subscription().has_from())
                    || sessions.iter().any(|s| {
                        s.directed
                            .iter()
                            .any(|d| *d == from || d.to_bare() == contact)
                    });
                delivery::inbound(Some(&account), &to, &stanza, shares, self.delivery_policy)
            }
            Step::Route { to } => vec![Output::Route {
                to,
                stanza: OutStanza::Element(stanza.element().clone()),
            }],
            Step::Refuse(e) => return self.error_to(&stanza, &e),
            Step::Ignore => self.no_such_user(&stanza),
        };
        self.apply(outputs);
    }

    /// A stanza from elsewhere for another JID of the domain, which has no account (RFC
    /// 6121 8.5.1).
    fn no_such_user(&self, stanza: &Stanza) -> Vec<Output> {
        let (Ok(Some(from)), Ok(Some(to))) = (stanza.from(), stanza.to()) else {
            return Vec::new();
        };
        if from.to_bare() == self.account
            || to.to_bare() == self.account
            || to.domain() != self.domain
        {
            return Vec::new();
        }
        match stanza.as_presence().map(|p| p.type_()) {
            Some(Ok(PresenceType::Probe)) => {
                presence::answer_probe(None, &to.to_bare(), stanza, None)
            }
            Some(Ok(PresenceType::Available | PresenceType::Unavailable)) | None => {
                delivery::inbound(None, &to, stanza, false, self.delivery_policy)
            }
            // Subscription stanzas and the rest are ignored.
            Some(_) => Vec::new(),
        }
    }
}

impl CoreUnderTest for ImCore {
    fn feed(&mut self, bytes: &[u8]) {
        if self.failed {
            return;
        }
        let r = self.parser.handle_input(bytes);
        while let Some(e) = self.parser.poll_event() {
            if let Event::Element(el) = e {
                self.process(el);
            }
        }
        if let Err(e) = r {
            self.failed = true;
            self.events
                .push_back(VectorEvent::plain("parse-error", e.condition().as_str()));
        }
    }

    fn act(&mut self, action: &Action) -> Result<(), Unsupported> {
        ImServerRole.check_action(action)?;
        let session = FullJid::parse(&action.args)
            .map_err(|e| Unsupported(format!("end-session needs a full JID: {e}")))?;
        let contacts = self.contacts();
        let sessions = self.sessions.clone();
        let account = Account {
            jid: &self.account,
            sessions: &sessions,
        };
        let out = presence::session_ended(&account, &session, &contacts);
        self.sessions.retain(|s| s.jid != session);
        self.apply(out);
        Ok(())
    }

    fn poll_event(&mut self) -> Option<VectorEvent> {
        self.events.pop_front()
    }

    fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.output)
    }
}
