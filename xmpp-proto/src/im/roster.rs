//! Rosters (RFC 6121 section 2): the server's answers to roster get and set, the pushes
//! they cause, and the client's roster cache.
//!
//! Server side: [`get`] answers a roster get (section 2.1.3), with versioning (section 2.6:
//! an empty result when the client's `ver` is current); [`parse_set`] checks a roster set
//! against sections 2.1.5, 2.3.3 and 2.5.3 (`forbidden`, `bad-request`, `not-acceptable`,
//! `not-allowed`, `item-not-found` from [`set`]); [`set`] applies it: the record written,
//! a push to every interested resource (2.1.6), the result to the sender, and for a removal
//! the `unsubscribe` and `unsubscribed` it implies (2.5.2). [`write_push`] writes a push.
//!
//! Client side: [`RosterCache`] holds the roster a client received, applies pushes only
//! from the account itself (2.1.6) and keeps the version to ask with (2.6.2).

use std::collections::BTreeMap;

use bytes::BytesMut;

use super::{Account, Contact, ItemInfo, OutStanza, Output, RosterChange, SubState, Subscription};
use crate::error::{StanzaError, StanzaErrorCondition, Text};
use crate::jid::{BareJid, FullJid, Jid};
use crate::stanza::{IqBuilder, IqType, Payload, PresenceBuilder, PresenceType, Stanza, iq_result};
use crate::xml::{ElementRef, Writer};

/// The roster namespace (section 2.1).
pub const ROSTER_NS: &str = "jabber:iq:roster";

/// Writes `<item/>` for a contact in the roster (section 2.1.2): `jid`, `name`,
/// `subscription`, `ask='subscribe'` for a request out, `approved='true'` for a
/// pre-approval, and the groups.
pub fn write_item(w: &mut Writer<'_>, contact: &Contact) {
    let state = contact.state.state();
    let info = contact.item.as_ref();
    w.start("item")
        .attr("jid", contact.jid.as_str())
        .attr_opt("name", info.and_then(|i| i.name.as_deref()))
        .attr("subscription", state.subscription().as_str())
        .attr_opt("ask", state.pending_out().then_some("subscribe"))
        .attr_opt("approved", contact.state.approved().then_some("true"));
    for g in info.map(|i| &i.groups[..]).unwrap_or(&[]) {
        w.start("group").text(g).end("group");
    }
    w.end("item");
}

fn write_change(w: &mut Writer<'_>, change: &RosterChange) {
    match change {
        RosterChange::Set(c) => write_item(w, c),
        RosterChange::Remove(jid) => {
            w.start("item")
                .attr("jid", jid.as_str())
                .attr("subscription", "remove")
                .end("item");
        }
    }
}

/// Writes a roster push (section 2.1.6): an iq `set` with id `id` to `to`, carrying
/// `change`, with the roster's new version `ver` if the server versions it.
pub fn write_push(
    out: &mut BytesMut,
    id: &str,
    to: &FullJid,
    change: &RosterChange,
    ver: Option<&str>,
) {
    IqBuilder::new(IqType::Set, id)
        .to(to.as_jid())
        .write_with(out, |w| {
            w.start("query").xmlns(ROSTER_NS).attr_opt("ver", ver);
            write_change(w, change);
            w.end("query");
        });
}

fn query<'a>(iq: &'a Stanza) -> Option<ElementRef<'a>> {
    iq.element().get_child("query", ROSTER_NS)
}

fn error(condition: StanzaErrorCondition, text: &'static str) -> Box<StanzaError> {
    Box::new(StanzaError::new(condition).with_text(Text::new(text)))
}

/// Is `iq` a request from one of the account's own sessions, or from the account? Anyone
/// else is `forbidden` (sections 2.1.5, 2.3.3).
fn authorized(account: &Account<'_>, iq: &Stanza) -> bool {
    match iq.from() {
        Ok(Some(from)) => from.to_bare() == *account.jid,
        _ => false,
    }
}

/// Answers a roster get (section 2.1.3) from `session` with the roster, the contacts in
/// `contacts` that have an item (a request noted without an item is not in the roster).
/// `ver` is the roster's current version when the server versions it (section 2.6): if the
/// get carries the same `ver`, the answer is an empty result and pushes carry later changes
/// (2.6.3); otherwise the whole roster with `ver`. The session becomes interested (2.1.6):
/// the embedder marks it so.
///
/// # Errors
///
/// `forbidden` when the get is not from the account; `bad-request` when its query holds
/// items (2.1.3).
pub fn get(
    account: &Account<'_>,
    iq: &Stanza,
    contacts: &[Contact],
    ver: Option<&str>,
) -> Result<Vec<Output>, Box<StanzaError>> {
    if !authorized(account, iq) {
        return Err(error(
            StanzaErrorCondition::Forbidden,
            "only the account reads its roster",
        ));
    }
    let Some(q) = query(iq) else {
        return Err(error(
            StanzaErrorCondition::BadRequest,
            "a roster get has a query",
        ));
    };
    if q.children().next().is_some() {
        return Err(error(
            StanzaErrorCondition::BadRequest,
            "a roster get holds no items (RFC 6121 section 2.1.3)",
        ));
    }
    let session = match iq.from() {
        Ok(Some(j)) => j,
        _ => return Ok(Vec::new()),
    };
    let mut body = BytesMut::new();
    let current = ver.is_some() && q.attr("ver").as_deref() == ver;
    if !current {
        let mut w = Writer::new(&mut body);
        w.start("query").xmlns(ROSTER_NS).attr_opt("ver", ver);
        for c in contacts.iter().filter(|c| c.in_roster()) {
            write_item(&mut w, c);
        }
        w.end("query");
        w.finish();
    }
    let mut out = BytesMut::new();
    let payload = (!current).then_some(Payload::Raw(&body));
    if iq_result(iq, payload, &mut out).is_err() {
        return Ok(Vec::new());
    }
    Ok(vec![deliver(session, out)])
}

fn deliver(to: Jid, out: BytesMut) -> Output {
    match FullJid::try_from(to.clone()) {
        Ok(session) => Output::Deliver {
            session,
            stanza: OutStanza::Built(out.freeze()),
        },
        Err(_) => Output::Route {
            to,
            stanza: OutStanza::Built(out.freeze()),
        },
    }
}

/// What a roster set asks (section 2.1.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RosterSet {
    /// Add or update the item: its name and groups, exactly as given (2.4: "a roster item
    /// is atomic").
    Update {
        /// The contact.
        jid: BareJid,
        /// Name and groups.
        info: ItemInfo,
    },
    /// Remove the item (`subscription='remove'`, section 2.5).
    Remove {
        /// The contact.
        jid: BareJid,
    },
}

/// Limits on what a roster set may carry (section 2.3.3: "a server-configured limit").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RosterLimits {
    /// The longest `name`, in bytes (default 1023).
    pub max_name_bytes: usize,
    /// The longest group name, in bytes (default 1023).
    pub max_group_bytes: usize,
    /// The most groups of one item (default 64).
    pub max_groups: usize,
}

impl Default for RosterLimits {
    fn default() -> Self {
        RosterLimits {
            max_name_bytes: 1023,
            max_group_bytes: 1023,
            max_groups: 64,
        }
    }
}

/// Checks a roster set from one of the account's sessions and says what it asks.
///
/// # Errors
///
/// - `forbidden`: not from the account (2.1.5's security warning, 2.3.3);
/// - `bad-request`: no query, not exactly one item (2.1.5), no or an invalid `jid`, a
///   `jid` with a resource, duplicate groups (2.3.3);
/// - `not-acceptable`: an empty group, a name or group over the limits, too many groups
///   (2.3.3);
/// - `not-allowed`: the item is the account itself (2.3.3's interoperability note: adding
///   oneself makes no sense for subscriptions).
pub fn parse_set(
    account: &Account<'_>,
    iq: &Stanza,
    limits: RosterLimits,
) -> Result<RosterSet, Box<StanzaError>> {
    use StanzaErrorCondition as C;
    if !authorized(account, iq) {
        return Err(error(C::Forbidden, "only the account updates its roster"));
    }
    let Some(q) = query(iq) else {
        return Err(error(C::BadRequest, "a roster set has a query"));
    };
    let mut items = q.children();
    let (Some(item), None) = (items.next(), items.next()) else {
        return Err(error(
            C::BadRequest,
            "a roster set holds exactly one item (RFC 6121 section 2.1.5)",
        ));
    };
    if !item.is("item", ROSTER_NS) {
        return Err(error(C::BadRequest, "a roster set holds an item"));
    }
    let jid = item
        .attr("jid")
        .and_then(|j| BareJid::parse(&j).ok())
        .ok_or_else(|| error(C::BadRequest, "the item needs the bare JID of a contact"))?;
    // Section 2.1.2.5: in a roster set only "remove" means anything. Removing is allowed
    // for any item (2.5.1: "At any time, a client can delete an item"), the account's own
    // JID included: a subscription request to oneself makes such an item.
    if item.attr("subscription").as_deref() == Some("remove") {
        return Ok(RosterSet::Remove { jid });
    }
    if jid == *account.jid {
        return Err(error(C::NotAllowed, "the account is not its own contact"));
    }
    let name = item.attr("name").map(|n| n.into_owned());
    if name
        .as_ref()
        .is_some_and(|n| n.len() > limits.max_name_bytes)
    {
        return Err(error(C::NotAcceptable, "the name is too long"));
    }
    let mut groups: Vec<String> = Vec::new();
    for g in item.children().filter(|c| c.is("group", ROSTER_NS)) {
        let text = g.text();
        if text.is_empty() {
            return Err(error(
                C::NotAcceptable,
                "a group has a name (RFC 6121 section 2.3.3)",
            ));
        }
        if text.len() > limits.max_group_bytes {
            return Err(error(C::NotAcceptable, "a group name is too long"));
        }
        if groups.len() == limits.max_groups {
            return Err(error(C::NotAcceptable, "too many groups"));
        }
        if groups.iter().any(|have| *have == text) {
            return Err(error(
                C::BadRequest,
                "a group is named twice (RFC 6121 section 2.3.3)",
            ));
        }
        groups.push(text.into_owned());
    }
    // Section 2.4.2's note: an empty name is no name.
    let name = name.filter(|n| !n.is_empty());
    Ok(RosterSet::Update {
        jid,
        info: ItemInfo { name, groups },
    })
}

/// Applies a roster set that [`parse_set`] accepted, `record` being the stored contact.
///
/// An update stores the item (keeping the subscription state) and pushes it; a removal
/// forgets the contact, pushes `remove`, and sends the contact `unsubscribe` if the user
/// was subscribed to it and `unsubscribed` if it was subscribed to the user or had asked
/// (2.5.2), stamped from the user's bare JID; a contact that was subscribed gets
/// unavailable presence from each available resource before the `unsubscribed`, as with
/// any cancellation (3.2.2).
/// Then the result to the sender (2.3.2).
///
/// # Errors
///
/// `item-not-found`: a removal of an item not in the roster (2.5.3).
pub fn set(
    account: &Account<'_>,
    iq: &Stanza,
    request: &RosterSet,
    record: Option<&Contact>,
) -> Result<Vec<Output>, Box<StanzaError>> {
    let mut out = Vec::new();
    let change = match request {
        RosterSet::Update { jid, info } => {
            let mut c = record
                .cloned()
                .unwrap_or_else(|| Contact::unknown(jid.clone()));
            c.item = Some(info.clone());
            out.push(Output::Store(c.clone()));
            RosterChange::Set(c)
        }
        RosterSet::Remove { jid } => {
            if !record.is_some_and(|c| c.in_roster()) {
                return Err(error(
                    StanzaErrorCondition::ItemNotFound,
                    "no such item in the roster (RFC 6121 section 2.5.3)",
                ));
            };
            out.push(Output::Forget(jid.clone()));
            RosterChange::Remove(jid.clone())
        }
    };
    for s in account.interested() {
        out.push(Output::Push {
            session: s.jid.clone(),
            change: change.clone(),
        });
    }
    if let (RosterSet::Remove { jid }, Some(c)) = (request, record) {
        let state = c.state.state();
        let send = |out: &mut Vec<Output>, t: PresenceType| {
            let mut b = BytesMut::new();
            PresenceBuilder::new()
                .from(account.jid.as_jid())
                .to(jid.as_jid())
                .type_(t)
                .write(&mut b);
            out.push(Output::Route {
                to: jid.as_jid().clone(),
                stanza: OutStanza::Built(b.freeze()),
            });
        };
        if state.subscription().has_to() || state.pending_out() {
            send(&mut out, PresenceType::Unsubscribe);
        }
        if state.subscription().has_from() {
            // The "unsubscribed" cancels the contact's subscription: section 3.2.2, the
            // contact gets unavailable presence from each available resource, "before the
            // contact's server routes or delivers the presence stanza of type
            // "unsubscribed"" (the contact's server ignores the user's presence after it).
            out.extend(super::subscription::presence_of_sessions(
                account, jid, true,
            ));
        }
        if state.subscription().has_from() || state.pending_in() {
            send(&mut out, PresenceType::Unsubscribed);
        }
    }
    let mut result = BytesMut::new();
    // No let chains: the library builds with Rust 1.85.
    if let (true, Ok(Some(from))) = (iq_result(iq, None, &mut result).is_ok(), iq.from()) {
        out.push(deliver(from, result));
    }
    Ok(out)
}

/// One item of a client's roster (section 2.1.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedItem {
    /// `subscription`.
    pub subscription: Subscription,
    /// `ask='subscribe'`: a request out is pending.
    pub ask: bool,
    /// `approved='true'`: the user pre-approved the contact.
    pub approved: bool,
    /// Name and groups.
    pub info: ItemInfo,
}

impl CachedItem {
    /// The subscription state as far as the client can know it: the roster shows no
    /// request in, so this is one of the states without "Pending In" (or `None` for an
    /// `ask` beside `to`, which no server should send).
    pub fn state(&self) -> Option<SubState> {
        SubState::from_parts(self.subscription, self.ask, false)
    }
}

/// Why a roster result or push was not applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheError {
    /// A push from someone other than the account (section 2.1.6): the client must not
    /// process it (and may answer `service-unavailable`).
    Unauthorized,
    /// Not a roster result or push: no roster query, or a push without exactly one item
    /// (2.1.6).
    Malformed,
}

impl core::fmt::Display for CacheError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            CacheError::Unauthorized => f.write_str(
                "a roster push from someone other than the account (RFC 6121 section 2.1.6)",
            ),
            CacheError::Malformed => {
                f.write_str("not a roster result or push of RFC 6121 section 2.1")
            }
        }
    }
}

impl std::error::Error for CacheError {}

/// A client's copy of its roster, kept up to date from the result of its roster get and
/// from pushes (section 2.1.6), with the version to ask with next time (2.6.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterCache {
    account: BareJid,
    ver: Option<String>,
    items: BTreeMap<BareJid, CachedItem>,
}

fn read_item(item: ElementRef<'_>) -> Option<(BareJid, Option<CachedItem>)> {
    let jid = BareJid::parse(&item.attr("jid")?).ok()?;
    let subscription = match item.attr("subscription").as_deref() {
        None | Some("none") => Subscription::None,
        Some("to") => Subscription::To,
        Some("from") => Subscription::From,
        Some("both") => Subscription::Both,
        Some("remove") => return Some((jid, None)),
        // Sections 2.1.2.5: other values are ignored (the item with them).
        Some(_) => return None,
    };
    let groups = item
        .children()
        .filter(|c| c.is("group", ROSTER_NS))
        .map(|g| g.text().into_owned())
        .collect();
    Some((
        jid,
        Some(CachedItem {
            subscription,
            ask: item.attr("ask").as_deref() == Some("subscribe"),
            approved: item.attr("approved").as_deref() == Some("true"),
            info: ItemInfo {
                name: item
                    .attr("name")
                    .map(|n| n.into_owned())
                    .filter(|n| !n.is_empty()),
                groups,
            },
        }),
    ))
}

impl RosterCache {
    /// An empty cache for `account`, with the version a previous session kept, if any.
    pub fn new(account: BareJid, ver: Option<String>) -> RosterCache {
        RosterCache {
            account,
            ver,
            items: BTreeMap::new(),
        }
    }

    /// The version to send in the next roster get (section 2.6.2).
    pub fn ver(&self) -> Option<&str> {
        self.ver.as_deref()
    }

    /// The item of `jid`.
    pub fn get(&self, jid: &BareJid) -> Option<&CachedItem> {
        self.items.get(jid)
    }

    /// Every item, by JID.
    pub fn items(&self) -> impl Iterator<Item = (&BareJid, &CachedItem)> {
        self.items.iter()
    }

    /// Is `from` (a stanza's `from`, `None` when absent) the account itself (2.1.6)?
    fn is_from_account(&self, from: Option<&Jid>) -> bool {
        from.is_none_or(|f| *f == *self.account.as_jid())
    }

    /// Applies the result of a roster get: the whole roster replaces the cache; an empty
    /// result (no query) means the cached version is current (2.6.3).
    ///
    /// # Errors
    ///
    /// [`CacheError::Unauthorized`] when it comes from anyone but the account.
    pub fn apply_result(&mut self, iq: &Stanza) -> Result<(), CacheError> {
        if !self.is_from_account(iq.from().ok().flatten().as_ref()) {
            return Err(CacheError::Unauthorized);
        }
        let Some(q) = query(iq) else {
            return Ok(());
        };
        self.items = q
            .children()
            .filter(|c| c.is("item", ROSTER_NS))
            .filter_map(read_item)
            .filter_map(|(j, i)| i.map(|i| (j, i)))
            .collect();
        self.ver = q.attr("ver").map(|v| v.into_owned());
        Ok(())
    }

    /// Applies a roster push (2.1.6): one item set or removed, and the new version.
    ///
    /// # Errors
    ///
    /// [`CacheError::Unauthorized`] for a push from anyone but the account (nothing is
    /// applied); [`CacheError::Malformed`] without exactly one item.
    pub fn apply_push(&mut self, iq: &Stanza) -> Result<(), CacheError> {
        if !self.is_from_account(iq.from().ok().flatten().as_ref()) {
            return Err(CacheError::Unauthorized);
        }
        let q = query(iq).ok_or(CacheError::Malformed)?;
        let mut items = q.children();
        let (Some(item), None) = (items.next(), items.next()) else {
            return Err(CacheError::Malformed);
        };
        let (jid, change) = read_item(item).ok_or(CacheError::Malformed)?;
        match change {
            Some(i) => {
                self.items.insert(jid, i);
            }
            None => {
                self.items.remove(&jid);
            }
        }
        if let Some(v) = q.attr("ver") {
            self.ver = Some(v.into_owned());
        }
        Ok(())
    }
}
