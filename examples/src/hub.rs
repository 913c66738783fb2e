//! The example servers' shared state: accounts, their rosters (in memory), the session
//! table, and routing between sessions with the RFC 6121 decisions of `xmpp_sansio::im`.
//! Both servers (`server` on threads, `tokio_server` on tasks) use it as it is; only the
//! channel that carries a stanza to a session differs ([`Mailbox`]).
//!
//! Every decision is the library's: [`dispatch::classify`] says which rule of RFC 6121
//! a stanza falls under, the rule returns [`Output`]s, and [`Hub`] applies them: it
//! delivers to a session's mailbox, runs another local account's inbound rules for a stanza
//! routed to it, writes or forgets roster records, writes roster pushes, keeps deferred
//! subscription requests. The whole table sits behind one mutex: a decision and its
//! outputs happen at once, and posting to a mailbox never blocks.
//!
//! Stream management (XEP-0198): a session whose stream broke with resumption enabled is
//! *detached*: it stays in the table (available, its presence unchanged), its mailbox keeps
//! taking stanzas, and its [`ResumptionState`] waits for the resumption timeout; a new
//! stream that resumes it takes both back ([`Hub::resume`]). When the timeout passes
//! ([`Hub::sweep`]) the session ends as if its stream had closed.
//!
//! FAST (XEP-0484, with `--sasl2`): the tokens issued, in memory ([`Hub::issue_fast_token`],
//! [`Hub::fast_token`]), one per account and `<user-agent id>` (XEP-0484 section 2.2 ties a
//! token to the client that asked for it); the core compares a presented token in constant
//! time.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use bytes::BytesMut;
use xmpp_sansio::error::{StanzaError, StanzaErrorCondition};
use xmpp_sansio::im::dispatch::{self, Step};
use xmpp_sansio::im::roster::{self, RosterLimits, RosterSet};
use xmpp_sansio::im::{
    Account, Contact, OutStanza, Output, Session, delivery, presence, subscription,
};
use xmpp_sansio::jid::{BareJid, FullJid, Jid};
use xmpp_sansio::sasl::UserCredential;
use xmpp_sansio::server::{FastToken, HtMechanism, ResumptionState};
use xmpp_sansio::stanza::{JABBER_CLIENT, PresenceType, Stanza, StanzaKind, error_reply};
use xmpp_sansio::stream::TlsPolicy;
use xmpp_sansio::xml::{Element, parse_element};

/// Stanzas that may wait for one session. A session whose client does not read blocks on
/// its socket and stops taking stanzas; without a bound, its queue would grow with all that
/// other clients send it.
pub const ROUTED_QUEUE: usize = 256;

/// How deep one stanza's consequences may go (a stanza routed to a local account whose
/// rules route another, ...): the rules never loop, this only keeps a bug from doing so.
const MAX_HOPS: u8 = 8;

/// What posting a stanza to a session's mailbox gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Post {
    /// It waits for the session.
    Queued,
    /// The session has [`ROUTED_QUEUE`] stanzas waiting already: dropped.
    Full,
    /// The session is gone.
    Gone,
}

/// The sending end of a session's channel: `std::sync::mpsc` for the threaded server,
/// `tokio::sync::mpsc` for the tokio one.
pub trait Mailbox: Send + 'static {
    /// The receiving end, which the session's connection reads (and which waits in the
    /// hub while the session is detached).
    type Rx: Send + 'static;
    /// A bounded channel.
    fn pair() -> (Self, Self::Rx)
    where
        Self: Sized;
    /// Posts without blocking.
    fn post(&self, stanza: Element) -> Post;
}

impl Mailbox for std::sync::mpsc::SyncSender<Element> {
    type Rx = std::sync::mpsc::Receiver<Element>;

    fn pair() -> (Self, Self::Rx) {
        std::sync::mpsc::sync_channel(ROUTED_QUEUE)
    }

    fn post(&self, stanza: Element) -> Post {
        match self.try_send(stanza) {
            Ok(()) => Post::Queued,
            Err(std::sync::mpsc::TrySendError::Full(_)) => Post::Full,
            Err(std::sync::mpsc::TrySendError::Disconnected(_)) => Post::Gone,
        }
    }
}

/// What the flags configure, shared by every connection.
pub struct HubConfig {
    /// The served domain.
    pub domain: String,
    /// Accounts: localpart and password.
    pub accounts: HashMap<String, String>,
    /// Offer PLAIN without TLS.
    pub allow_plain: bool,
    /// The SCRAM secret (for the salts of unknown users).
    pub sasl_secret: Vec<u8>,
    /// STARTTLS.
    pub tls_policy: TlsPolicy,
    /// `None` when TLS is disabled.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Offer stream management (XEP-0198).
    pub stream_management: bool,
    /// With stream management: how long a detached session may wait for its resumption;
    /// `None`: no resumption.
    pub resume_timeout: Option<Duration>,
    /// Advertise the stream limits (XEP-0478) in the stream features.
    pub advertise_limits: bool,
    /// Offer SASL2 (XEP-0388) with Bind 2 (XEP-0386) and FAST (XEP-0484) beside RFC 6120
    /// SASL.
    pub sasl2: bool,
}

/// How long a FAST token is good for (XEP-0484 leaves it to the server; Prosody's default
/// is 21 days).
pub const FAST_TOKEN_LIFETIME: Duration = Duration::from_secs(14 * 24 * 3600);

/// A FAST token kept for an account and a client, with its end.
struct KeptToken {
    token: FastToken,
    expires: SystemTime,
}

/// What [`Hub::fast_token`] found.
pub enum FastLookup {
    /// The token kept for this account and client.
    Found(FastToken),
    /// There was one, but its time is over (now forgotten): `credentials-expired`.
    Expired,
    /// None for this account and client.
    Unknown,
}

/// One account's data: its roster, its sessions, where each session's stanzas go.
struct AccountData<M> {
    jid: BareJid,
    contacts: BTreeMap<BareJid, Contact>,
    sessions: Vec<Session>,
    mailboxes: HashMap<FullJid, M>,
    /// Subscription requests that came while no session was available (RFC 6121 3.1.3
    /// rule 4), one per contact, for the next available session.
    deferred: Vec<(BareJid, OutStanza)>,
}

/// A session whose stream broke with resumption enabled.
struct Detached<Rx> {
    state: ResumptionState,
    rx: Rx,
    until: Instant,
}

struct Table<M: Mailbox> {
    accounts: HashMap<BareJid, AccountData<M>>,
    detached: HashMap<String, Detached<M::Rx>>,
    /// Roster pushes written, for their ids.
    pushes: u64,
}

/// The server's state, shared by every connection.
pub struct Hub<M: Mailbox> {
    /// The configuration.
    pub config: HubConfig,
    table: Mutex<Table<M>>,
    /// FAST tokens by account and `<user-agent id>`.
    fast_tokens: Mutex<HashMap<(BareJid, String), KeptToken>>,
}

/// Reads a stanza a decision wrote back as an [`Element`] (what the sessions' channels
/// carry; `Server::send` writes it in the stream's namespace).
fn element(stanza: &OutStanza) -> Option<Element> {
    match stanza {
        OutStanza::Element(el) => Some(el.clone()),
        OutStanza::Built(bytes) => parse_element(JABBER_CLIENT, bytes).ok(),
    }
}

fn log(line: &str) {
    println!("[hub] {line}");
}

impl<M: Mailbox> Hub<M> {
    /// A hub with the accounts of `config`, every roster empty.
    pub fn new(config: HubConfig) -> Self {
        let mut accounts = HashMap::new();
        for name in config.accounts.keys() {
            let Ok(jid) = BareJid::parse(&format!("{name}@{}", config.domain)) else {
                crate::die(&format!("--user {name}: not a valid localpart"));
            };
            accounts.insert(
                jid.clone(),
                AccountData {
                    jid,
                    contacts: BTreeMap::new(),
                    sessions: Vec::new(),
                    mailboxes: HashMap::new(),
                    deferred: Vec::new(),
                },
            );
        }
        Hub {
            config,
            table: Mutex::new(Table {
                accounts,
                detached: HashMap::new(),
                pushes: 0,
            }),
            fast_tokens: Mutex::new(HashMap::new()),
        }
    }

    fn fast_tokens(&self) -> MutexGuard<'_, HashMap<(BareJid, String), KeptToken>> {
        self.fast_tokens.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new FAST token for `account` and the client `user_agent_id`, for `mechanism`
    /// (XEP-0484 section 2.3): 32 random bytes, hex, good for [`FAST_TOKEN_LIFETIME`];
    /// it replaces the client's earlier one.
    pub fn issue_fast_token(
        &self,
        account: &BareJid,
        user_agent_id: &str,
        mechanism: HtMechanism,
    ) -> FastToken {
        let secret: String = crate::random_bytes::<32>()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let expires = SystemTime::now() + FAST_TOKEN_LIFETIME;
        let token = FastToken {
            mechanism,
            secret,
            expiry: xsd_datetime(expires),
        };
        let kept = KeptToken {
            token: token.clone(),
            expires,
        };
        self.fast_tokens()
            .insert((account.clone(), user_agent_id.to_owned()), kept);
        token
    }

    /// The FAST token kept for `account` and the client `user_agent_id`; an expired one is
    /// forgotten.
    pub fn fast_token(&self, account: &BareJid, user_agent_id: &str) -> FastLookup {
        let mut tokens = self.fast_tokens();
        let key = (account.clone(), user_agent_id.to_owned());
        match tokens.get(&key) {
            None => FastLookup::Unknown,
            Some(kept) if kept.expires <= SystemTime::now() => {
                tokens.remove(&key);
                FastLookup::Expired
            }
            Some(kept) => FastLookup::Found(kept.token.clone()),
        }
    }

    /// Forgets the FAST token of `account` and the client `user_agent_id` (XEP-0484
    /// section 2.6, `<fast invalidate='true'/>`).
    pub fn forget_fast_token(&self, account: &BareJid, user_agent_id: &str) {
        self.fast_tokens()
            .remove(&(account.clone(), user_agent_id.to_owned()));
    }

    fn table(&self) -> MutexGuard<'_, Table<M>> {
        // A panic elsewhere leaves the table as consistent as any single decision does.
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The credential of `authcid` for SASL.
    pub fn credential(&self, authcid: &str) -> UserCredential {
        match self.config.accounts.get(authcid) {
            Some(password) => UserCredential::Password(password.clone()),
            None => UserCredential::Unknown,
        }
    }

    /// May a new session bind `full`? Yes when no session holds it, and when a detached
    /// one does: that one ends now (unavailable presence, its state dropped), as a server
    /// may end the older session when a resource is taken again (RFC 6120 7.7.2.2). No
    /// when a connected session holds it (the new one gets `conflict`).
    pub fn claim(&self, full: &FullJid) -> bool {
        let mut t = self.table();
        let held = t
            .accounts
            .get(&full.to_bare())
            .is_some_and(|a| a.sessions.iter().any(|s| s.jid == *full));
        if !held {
            return true;
        }
        let Some(id) = t
            .detached
            .iter()
            .find(|(_, d)| d.state.jid == *full)
            .map(|(id, _)| id.clone())
        else {
            return false;
        };
        t.detached.remove(&id);
        log(&format!("{full} bound again: its detached session ends"));
        t.end_session(&self.config.domain, full);
        true
    }

    /// A session was bound to `full`: it gets a mailbox, whose receiving end is returned.
    pub fn online(&self, full: &FullJid) -> Option<M::Rx> {
        let mut t = self.table();
        let account = t.accounts.get_mut(&full.to_bare())?;
        let (tx, rx) = M::pair();
        account.sessions.push(Session {
            jid: full.clone(),
            presence: None,
            interested: false,
            directed: Vec::new(),
        });
        account.mailboxes.insert(full.clone(), tx);
        Some(rx)
    }

    /// A stanza from the session `full` (its `from` stamped by the core).
    pub fn from_session(&self, full: &FullJid, stanza: &Stanza) {
        let mut t = self.table();
        t.user_stanza(&self.config.domain, full, stanza);
    }

    /// The session `full` is over for good: its unavailable presence goes out (RFC 6121
    /// 4.5.2) and it leaves the table.
    pub fn session_ended(&self, full: &FullJid) {
        let mut t = self.table();
        t.end_session(&self.config.domain, full);
    }

    /// The session's stream broke with resumption enabled: keep it for the resumption
    /// timeout, with its mailbox's receiving end.
    pub fn detach(&self, state: ResumptionState, rx: M::Rx, now: Instant) {
        let timeout = self.config.resume_timeout.unwrap_or_default();
        let mut t = self.table();
        t.detached.insert(
            state.id.clone(),
            Detached {
                state,
                rx,
                until: now + timeout,
            },
        );
    }

    /// A client authenticated as `account` asks to resume `previd`: the detached state and
    /// mailbox when there is one of that account (else `None`, and nothing changes).
    pub fn resume(&self, account: &BareJid, previd: &str) -> Option<(ResumptionState, M::Rx)> {
        let mut t = self.table();
        if t.detached
            .get(previd)
            .is_none_or(|d| d.state.jid.to_bare() != *account)
        {
            return None;
        }
        let d = t.detached.remove(previd)?;
        Some((d.state, d.rx))
    }

    /// Ends the detached sessions whose resumption timeout passed by `now`.
    pub fn sweep(&self, now: Instant) {
        let mut t = self.table();
        let expired: Vec<String> = t
            .detached
            .iter()
            .filter(|(_, d)| d.until <= now)
            .map(|(id, _)| id.clone())
            .collect();
        for id in expired {
            if let Some(d) = t.detached.remove(&id) {
                log(&format!(
                    "resumption of {} expired; {} unacknowledged stanza(s) dropped",
                    d.state.jid,
                    d.state.unacked.len()
                ));
                t.end_session(&self.config.domain, &d.state.jid);
            }
        }
    }
}

impl<M: Mailbox> Table<M> {
    fn end_session(&mut self, domain: &str, full: &FullJid) {
        let bare = full.to_bare();
        let Some(a) = self.accounts.get(&bare) else {
            return;
        };
        let contacts: Vec<Contact> = a.contacts.values().cloned().collect();
        let account = Account {
            jid: &a.jid,
            sessions: &a.sessions,
        };
        let out = presence::session_ended(&account, full, &contacts);
        if let Some(a) = self.accounts.get_mut(&bare) {
            a.sessions.retain(|s| s.jid != *full);
            a.mailboxes.remove(full);
        }
        self.apply(domain, &bare, out, 0);
    }

    /// A stanza from one of the user's sessions: the rule `classify` names, for the
    /// sender's account.
    fn user_stanza(&mut self, domain: &str, full: &FullJid, stanza: &Stanza) {
        let bare = full.to_bare();
        let Some(a) = self.accounts.get(&bare) else {
            return;
        };
        let contacts: Vec<Contact> = a.contacts.values().cloned().collect();
        let account = Account {
            jid: &a.jid,
            sessions: &a.sessions,
        };
        let record = |jid: &BareJid| a.contacts.get(jid);
        let mut interested = false;
        let out = match dispatch::classify(&account, stanza) {
            Step::OutboundSubscription { contact, kind, .. } => subscription::outbound(
                &account,
                &contact,
                record(&contact),
                kind,
                stanza,
                subscription::Policy::default(),
            ),
            Step::Broadcast { session } => {
                presence::outbound_broadcast(&account, &session, stanza, &contacts)
            }
            Step::Directed { session, to } => {
                presence::outbound_directed(&account, &session, &to, stanza, record(&to.to_bare()))
            }
            Step::RosterGet => match roster::get(&account, stanza, &contacts, None) {
                // The session asked for the roster: it gets pushes from now on (2.1.6).
                Ok(out) => {
                    interested = true;
                    out
                }
                Err(e) => reply(full, error_stanza(stanza, &e)),
            },
            Step::RosterSet => {
                let r =
                    roster::parse_set(&account, stanza, RosterLimits::default()).and_then(|req| {
                        let jid = match &req {
                            RosterSet::Update { jid, .. } | RosterSet::Remove { jid } => jid,
                        };
                        roster::set(&account, stanza, &req, record(jid))
                    });
                r.unwrap_or_else(|e| reply(full, error_stanza(stanza, &e)))
            }
            Step::Deliver { to } => {
                // The user's stanza to its own JIDs: it shares presence with itself.
                delivery::inbound(
                    Some(&account),
                    &to,
                    stanza,
                    true,
                    delivery::Policy::default(),
                )
            }
            Step::Route { to } => vec![Output::Route {
                to,
                stanza: OutStanza::Element(stanza.element().clone()),
            }],
            Step::Refuse(e) => reply(full, error_stanza(stanza, &e)),
            // Addressed to the server itself (no `to`, or none of the rules): requests this
            // example does not serve get `service-unavailable`; the rest is dropped.
            Step::InboundSubscription { .. } | Step::Probe { .. } | Step::Ignore => {
                reply(full, server_request(stanza))
            }
        };
        if interested
            && let Some(a) = self.accounts.get_mut(&bare)
            && let Some(s) = a.sessions.iter_mut().find(|s| s.jid == *full)
        {
            s.interested = true;
        }
        self.apply(domain, &bare, out, 0);
    }

    /// A stanza that a local rule routed to `to`, an address of this server or not.
    fn routed(&mut self, domain: &str, to: &Jid, stanza: &OutStanza, hops: u8) {
        let Some(el) = element(stanza) else { return };
        let Ok(stanza) = Stanza::from_element(el) else {
            return;
        };
        if to.domain() != domain {
            // No server-to-server here (RFC 6120 10.4.3: remote-server-not-found).
            let e = StanzaError::new(StanzaErrorCondition::RemoteServerNotFound);
            let out = if stanza.kind() == StanzaKind::Presence {
                Vec::new()
            } else {
                bounce(&stanza, &e)
            };
            return self.apply_routes(domain, out, hops);
        }
        let bare = to.to_bare();
        let Some(a) = self.accounts.get(&bare).filter(|_| to.local().is_some()) else {
            // The domain itself (RFC 6120 10.3: requests it does not serve), or no such
            // user (RFC 6121 8.5.1).
            let out = if to.local().is_none() {
                match (server_request(&stanza), stanza.from()) {
                    (Some(answer), Ok(Some(from))) => vec![Output::Route {
                        to: from,
                        stanza: answer,
                    }],
                    _ => Vec::new(),
                }
            } else {
                no_such_user(&stanza, to)
            };
            return self.apply_routes(domain, out, hops);
        };
        let account = Account {
            jid: &a.jid,
            sessions: &a.sessions,
        };
        let record = |jid: &BareJid| a.contacts.get(jid);
        let out = match dispatch::classify(&account, &stanza) {
            Step::InboundSubscription { contact, kind } => {
                subscription::inbound(&account, &contact, record(&contact), kind, &stanza)
            }
            Step::Probe { from } => {
                presence::answer_probe(Some(&account), &a.jid, &stanza, record(&from.to_bare()))
            }
            Step::Deliver { to } => {
                let Ok(Some(from)) = stanza.from() else {
                    return;
                };
                let contact = from.to_bare();
                // Does the user share presence with the sender (RFC 6121 8.5.3.1)?
                let shares = contact == a.jid
                    || record(&contact).is_some_and(|c| c.state.state().subscription().has_from())
                    || a.sessions.iter().any(|s| {
                        s.directed
                            .iter()
                            .any(|d| *d == from || d.to_bare() == contact)
                    });
                delivery::inbound(
                    Some(&account),
                    &to,
                    &stanza,
                    shares,
                    delivery::Policy::default(),
                )
            }
            // A roster request from someone else is refused by the rule.
            Step::RosterGet => {
                roster::get(&account, &stanza, &[], None).unwrap_or_else(|e| bounce(&stanza, &e))
            }
            Step::RosterSet => roster::parse_set(&account, &stanza, RosterLimits::default())
                .map(|_| Vec::new())
                .unwrap_or_else(|e| bounce(&stanza, &e)),
            Step::Refuse(e) => bounce(&stanza, &e),
            _ => Vec::new(),
        };
        self.apply(domain, &bare, out, hops + 1);
    }

    /// Applies outputs that can only be routes (errors to a sender).
    fn apply_routes(&mut self, domain: &str, out: Vec<Output>, hops: u8) {
        for o in out {
            if let Output::Route { to, stanza } = o
                && hops < MAX_HOPS
            {
                self.routed(domain, &to, &stanza, hops + 1);
            }
        }
    }

    /// Does what a decision for `bare`'s account asks.
    fn apply(&mut self, domain: &str, bare: &BareJid, out: Vec<Output>, hops: u8) {
        let mut became_available = false;
        for o in out {
            match o {
                Output::Deliver { session, stanza } => self.deliver(&session, &stanza),
                Output::Route { to, stanza } if hops < MAX_HOPS => {
                    self.routed(domain, &to, &stanza, hops + 1)
                }
                Output::Route { to, .. } => log(&format!("dropped a stanza to {to}: too deep")),
                Output::Push { session, change } => {
                    self.pushes += 1;
                    let mut b = BytesMut::new();
                    let id = format!("push{}", self.pushes);
                    roster::write_push(&mut b, &id, &session, &change, None);
                    self.deliver(&session, &OutStanza::Built(b.freeze()));
                }
                Output::Store(c) => {
                    if let Some(a) = self.accounts.get_mut(bare) {
                        a.contacts.insert(c.jid.clone(), c);
                    }
                }
                Output::Forget(jid) => {
                    if let Some(a) = self.accounts.get_mut(bare) {
                        a.contacts.remove(&jid);
                    }
                }
                Output::Defer(stanza) => {
                    let from = element(&stanza)
                        .and_then(|el| el.attr("from").and_then(|f| Jid::parse(&f).ok()))
                        .map(|f| f.to_bare());
                    if let (Some(a), Some(from)) = (self.accounts.get_mut(bare), from) {
                        a.deferred.retain(|(c, _)| *c != from);
                        a.deferred.push((from, stanza));
                    }
                }
                // No offline storage here (delivery::Policy::offline is off).
                Output::Offline(_) => {}
                Output::SessionPresence { session, presence } => {
                    if let Some(a) = self.accounts.get_mut(bare)
                        && let Some(s) = a.sessions.iter_mut().find(|s| s.jid == session)
                    {
                        became_available |= s.presence.is_none() && presence.is_some();
                        if presence.is_none() {
                            s.directed.clear();
                        }
                        s.presence = presence;
                    }
                }
                Output::Directed { session, to } => {
                    if let Some(a) = self.accounts.get_mut(bare)
                        && let Some(s) = a.sessions.iter_mut().find(|s| s.jid == session)
                    {
                        s.directed.push(to);
                    }
                }
                Output::Undirected { session, entity } => {
                    if let Some(a) = self.accounts.get_mut(bare)
                        && let Some(s) = a.sessions.iter_mut().find(|s| s.jid == session)
                    {
                        s.directed.retain(|d| *d != entity);
                    }
                }
            }
        }
        if became_available {
            // RFC 6121 3.1.3 rule 4: the requests kept while nobody was available.
            let Some(a) = self.accounts.get_mut(bare) else {
                return;
            };
            let deferred = std::mem::take(&mut a.deferred);
            let available: Vec<FullJid> = a
                .sessions
                .iter()
                .filter(|s| s.is_available())
                .map(|s| s.jid.clone())
                .collect();
            for (_, stanza) in &deferred {
                for s in &available {
                    self.deliver(s, stanza);
                }
            }
        }
    }

    fn deliver(&mut self, session: &FullJid, stanza: &OutStanza) {
        let Some(tx) = self
            .accounts
            .get(&session.to_bare())
            .and_then(|a| a.mailboxes.get(session))
        else {
            return;
        };
        let Some(el) = element(stanza) else { return };
        match tx.post(el) {
            Post::Queued | Post::Gone => {}
            Post::Full => log(&format!(
                "{session}: {ROUTED_QUEUE} stanzas waiting, dropped one"
            )),
        }
    }
}

/// An answer for the user's own session `full`.
fn reply(full: &FullJid, answer: Option<OutStanza>) -> Vec<Output> {
    answer
        .map(|stanza| Output::Deliver {
            session: full.clone(),
            stanza,
        })
        .into_iter()
        .collect()
}

/// The error reply to `stanza` (none to an error or a result).
fn error_stanza(stanza: &Stanza, error: &StanzaError) -> Option<OutStanza> {
    let mut b = BytesMut::new();
    error_reply(stanza, error, false, &mut b).ok()?;
    Some(OutStanza::Built(b.freeze()))
}

/// The error reply to `stanza`, routed to its sender.
fn bounce(stanza: &Stanza, error: &StanzaError) -> Vec<Output> {
    match (error_stanza(stanza, error), stanza.from()) {
        (Some(stanza), Ok(Some(from))) => vec![Output::Route { to: from, stanza }],
        _ => Vec::new(),
    }
}

/// The answer to a stanza for the server itself: an iq request it does not serve gets
/// `service-unavailable` (RFC 6120 8.3.3.19), a ping (XEP-0199) its result; anything else
/// is dropped.
fn server_request(stanza: &Stanza) -> Option<OutStanza> {
    if stanza.kind() != StanzaKind::Iq
        || !matches!(stanza.type_attr().as_deref(), Some("get" | "set"))
    {
        return None;
    }
    if stanza
        .element()
        .get_child("ping", "urn:xmpp:ping")
        .is_some()
    {
        let mut b = BytesMut::new();
        xmpp_sansio::stanza::iq_result(stanza, None, &mut b).ok()?;
        return Some(OutStanza::Built(b.freeze()));
    }
    error_stanza(
        stanza,
        &StanzaError::new(StanzaErrorCondition::ServiceUnavailable),
    )
}

/// A stanza for `to`, an address of this domain without an account (RFC 6121 8.5.1).
fn no_such_user(stanza: &Stanza, to: &Jid) -> Vec<Output> {
    if !matches!(stanza.from(), Ok(Some(_))) {
        return Vec::new();
    }
    match stanza.as_presence().map(|p| p.type_()) {
        Some(Ok(PresenceType::Probe)) => presence::answer_probe(None, &to.to_bare(), stanza, None),
        Some(Ok(PresenceType::Available | PresenceType::Unavailable)) | None => {
            delivery::inbound(None, to, stanza, false, delivery::Policy::default())
        }
        // Subscription stanzas and the rest are ignored.
        Some(_) => Vec::new(),
    }
}

/// `t` as an XML Schema dateTime in UTC (XEP-0082), such as `2026-12-21T14:36:15Z`: the
/// form of XEP-0484's `expiry`.
pub fn xsd_datetime(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Days since 1970-01-01 to a civil date (Howard Hinnant's `civil_from_days`).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::xsd_datetime;
    use std::time::{Duration, SystemTime};

    #[test]
    fn datetimes_are_utc_dates_of_xep_0082() {
        let at = |secs| xsd_datetime(SystemTime::UNIX_EPOCH + Duration::from_secs(secs));
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        // XEP-0484's example expiry, and a leap day.
        assert_eq!(at(1_584_023_775), "2020-03-12T14:36:15Z");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(at(1_798_761_599), "2026-12-31T23:59:59Z");
    }
}
