//! What both client examples (`client` over std::net, `tokio_client` over tokio) do with
//! their events, but for setting up TLS and cutting the transport, which are the
//! transport's: go online, send what the flags ask, count the messages received, close.
//! Two test modes: a roster round (`--roster-test`, RFC 6121 section 2 with the library's
//! `RosterCache`) and a cut-and-resume of a stream management session (`--resume-test`,
//! XEP-0198 section 5). With `--sasl2`, modern login (SASL2, Bind 2) when the server offers it,
//! and with `--fast-token FILE` FAST tokens kept in FILE ([`crate::fast`]).

use std::io;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use xmpp_sansio::client::{Client, ClientEvent, FastToken};
use xmpp_sansio::error::StanzaErrorCondition;
use xmpp_sansio::im::roster::{ROSTER_NS, RosterCache};
use xmpp_sansio::jid::{BareJid, Jid};
use xmpp_sansio::sasl::ChannelBinding;
use xmpp_sansio::stanza::{
    IqBuilder, IqType, MessageBuilder, MessageType, PresenceBuilder, Stanza, StanzaKind, iq_result,
};

use crate::drive::answered;
use crate::fast::FastFile;

/// What a client session is for, beyond going online.
#[derive(Debug, Clone)]
pub enum Mode {
    /// Send what the flags ask, count what arrives.
    Plain,
    /// A roster round: get, set `contact` (the push and the result), remove it (the push and
    /// the result), get again; each step checked against the library's `RosterCache`.
    RosterTest {
        /// The account (pushes must come from it, RFC 6121 2.1.6).
        account: BareJid,
        /// The contact to add and remove.
        contact: BareJid,
    },
    /// Cut and resume (XEP-0198): send message 1 to `to` and wait for its ack, send message
    /// 2 and cut the transport at once (no closing tag, no TLS `close_notify`); then a new
    /// connection resumes the session, sends message 3, and closes once everything is
    /// acknowledged. Each message's body is `text` and its number.
    ResumeTest {
        /// The recipient.
        to: Jid,
        /// The bodies' prefix.
        text: String,
    },
}

/// What the flags ask of a session.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Send initial presence once online.
    pub presence: bool,
    /// Send this message (to, text) once online.
    pub message: Option<(Jid, String)>,
    /// Close after this many messages received (at once for 0).
    pub count: u64,
    /// After `count` messages, keep reading this long before closing (so that a duplicate
    /// would show).
    pub extra: Duration,
    /// What the session is for.
    pub mode: Mode,
    /// `--fast-token FILE`: where FAST tokens are kept (XEP-0484).
    pub fast: Option<FastFile>,
}

/// Where a test mode stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Nothing started.
    Start,
    /// Roster: the first get is out.
    Get1,
    /// Roster: the set is out; (result seen, push seen).
    Set(bool, bool),
    /// Roster: the removal is out; (result seen, push seen).
    Remove(bool, bool),
    /// Roster: the last get is out.
    Get2,
    /// Resume: message 1 is out, waiting for its ack.
    AwaitAck1,
    /// Resume: message 2 is out; the transport is to be cut now.
    Cut,
    /// Resume: the new stream asks to resume.
    Resuming,
    /// Resume: resumed, message 3 is out, waiting for every ack.
    AwaitAckAll,
    /// The test passed.
    Passed,
    /// The test failed.
    Failed,
}

/// One client session as the flags ask it.
#[derive(Debug)]
pub struct Session {
    plan: Plan,
    /// When to give up: the stream is closed then.
    pub give_up_at: Instant,
    online: bool,
    sasl_failed: bool,
    received: u64,
    /// When `count` was reached and `extra` began.
    close_at: Option<Instant>,
    step: Step,
    roster: Option<RosterCache>,
    /// This login presents the token of the FAST file: a refusal forgets it and falls
    /// back to the password.
    fast_login: bool,
    /// The server answered `<enable/>` (XEP-0198): `<enabled/>` or `<failed/>`.
    sm_answered: bool,
    /// Close once the server answers `<enable/>` (nothing else to wait for).
    close_on_sm_answer: bool,
}

impl Session {
    /// A session that gives up at `give_up_at`.
    pub fn new(plan: Plan, give_up_at: Instant) -> Self {
        Session {
            give_up_at,
            online: false,
            sasl_failed: false,
            received: 0,
            close_at: None,
            fast_login: plan.fast.as_ref().is_some_and(|f| f.token.is_some()),
            step: Step::Start,
            roster: None,
            sm_answered: false,
            close_on_sm_answer: false,
            plan,
        }
    }

    /// TLS is up, with this channel binding.
    pub fn tls_established(&mut self, client: &mut Client, cb: Option<ChannelBinding>) {
        answered(client.tls_established(Instant::now(), cb));
    }

    /// The transport is TLS from its first byte (`--direct-tls`, XEP-0368): checks what
    /// the handshake agreed on ALPN ([`crate::direct_tls_alpn`]), says so
    /// (`direct tls up (ALPN xmpp-client)` or `(no ALPN)`), and tells the core, before
    /// [`Client::open`]: no STARTTLS then, and `-PLUS` with this channel binding.
    ///
    /// # Errors
    ///
    /// An ALPN protocol other than `xmpp-client`.
    pub fn direct_tls_up(
        client: &mut Client,
        alpn: Option<&[u8]>,
        cb: Option<ChannelBinding>,
    ) -> io::Result<()> {
        let alpn = crate::direct_tls_alpn(alpn)?;
        println!("direct tls up ({alpn})");
        client.direct_tls(cb, false).map_err(io::Error::other)
    }

    /// The resumption test's second stream: it resumes instead of binding (with the FAST
    /// token, [`fast_token`](Self::fast_token), when there is one).
    pub fn resuming(&mut self) {
        self.step = Step::Resuming;
        self.fast_login = self.fast_token().is_some();
    }

    /// The FAST token kept now (one that came during this run included): a new
    /// connection logs in with it.
    pub fn fast_token(&self) -> Option<&FastToken> {
        self.plan.fast.as_ref().and_then(|f| f.token.as_ref())
    }

    /// Should the transport be cut now (the resumption test, after message 2)? True once.
    pub fn take_cut(&mut self) -> bool {
        if self.step == Step::Cut {
            self.step = Step::Resuming;
            return true;
        }
        false
    }

    /// When to close the stream: at the deadline, or `--extra-secs` after the last
    /// counted message.
    pub fn deadline(&self) -> Instant {
        self.close_at
            .map_or(self.give_up_at, |t| t.min(self.give_up_at))
    }

    /// One event (the caller has set up TLS for `TlsRequested`).
    pub fn on_event(&mut self, client: &mut Client, event: ClientEvent) {
        let now = Instant::now();
        match event {
            ClientEvent::StreamOpened | ClientEvent::Authenticated(_) | ClientEvent::Closed(_) => {}
            // The embedder has run the handshake by now; the line shows that STARTTLS
            // happened (never with --direct-tls).
            ClientEvent::TlsRequested => println!("tls-requested (starttls)"),
            // Only for the namespaces of `nonza_namespaces`: none here.
            ClientEvent::Nonza(_) => {}
            ClientEvent::SaslFailure(failure) => {
                let condition = failure.condition.map_or("unknown", |c| c.as_str());
                println!("sasl-failure {condition}");
                if self.fast_login {
                    // XEP-0484 section 3.2: a refused token is forgotten; the password
                    // (the next acceptable mechanism) logs in instead.
                    self.fast_login = false;
                    println!("fast token refused: forgotten, logging in with the password");
                    self.store_token(None);
                    if client.auth(now, None).is_ok() {
                        return;
                    }
                }
                self.sasl_failed = true;
                client.close(now);
            }
            ClientEvent::Online(full) => {
                println!("online {full}");
                if self.step == Step::Resuming {
                    // A fresh bind after a refused resumption: the test failed.
                    return self.fail(client, "bound afresh instead of resuming");
                }
                self.online = true;
                self.go(client, now);
            }
            ClientEvent::StreamManagementEnabled => {
                println!("sm enabled");
                self.on_sm_answer(client, now);
                if let Mode::ResumeTest { to, text } = &self.plan.mode {
                    let (to, body) = (to.clone(), format!("{text} 1"));
                    self.step = Step::AwaitAck1;
                    self.message(client, now, &to, &body);
                    answered(client.request_ack(now));
                }
            }
            ClientEvent::StreamManagementFailed(condition) => {
                println!("sm failed {}", condition.map_or("-", |c| c.as_str()));
                self.on_sm_answer(client, now);
                if matches!(self.plan.mode, Mode::ResumeTest { .. }) {
                    self.fail(client, "the server did not enable stream management");
                }
            }
            ClientEvent::Acked(n) => {
                println!("acked {n}, unacked {}", client.unacked().unwrap_or(0));
                self.on_acked(client, now);
            }
            ClientEvent::Resumed(full) => {
                println!("resumed {full}");
                self.online = true;
                if let Mode::ResumeTest { to, text } = &self.plan.mode {
                    let (to, body) = (to.clone(), format!("{text} 3"));
                    self.step = Step::AwaitAckAll;
                    self.message(client, now, &to, &body);
                    answered(client.request_ack(now));
                }
            }
            ClientEvent::ResumeFailed { condition, unacked } => {
                println!(
                    "resume-failed {} ({} unacknowledged)",
                    condition.map_or("-", |c| c.as_str()),
                    unacked.len()
                );
            }
            ClientEvent::Stanza(stanza) => {
                println!("stanza {stanza}");
                if stanza.kind() == StanzaKind::Message && !stanza.is_error() {
                    self.received += 1;
                    if self.received == self.plan.count && matches!(self.plan.mode, Mode::Plain) {
                        if self.plan.extra.is_zero() {
                            client.close(now);
                        } else {
                            self.close_at = Some(now + self.plan.extra);
                        }
                    }
                }
                if stanza.kind() == StanzaKind::Iq {
                    self.on_iq(client, now, &stanza);
                }
            }
            ClientEvent::PeerStreamError(error) => {
                println!("peer-stream-error {}", error.condition.as_str())
            }
            ClientEvent::Abandoned(reason) => println!("abandoned {}", reason.as_str()),
            ClientEvent::FastToken(token) => {
                // Never printed: only what it is for and until when.
                println!(
                    "fast token received ({}, expires {})",
                    token.mechanism.name(),
                    token.expiry
                );
                self.store_token(Some(token));
            }
            // Events a later version adds: nothing this example must do.
            _ => {}
        }
    }

    /// The server answered `<enable/>`: close if that was all there was to wait for.
    fn on_sm_answer(&mut self, client: &mut Client, now: Instant) {
        self.sm_answered = true;
        if std::mem::take(&mut self.close_on_sm_answer) {
            client.close(now);
        }
    }

    /// Keeps `token` in the FAST file (`None`: forgets the one there).
    fn store_token(&mut self, token: Option<FastToken>) {
        let Some(file) = self.plan.fast.as_mut() else {
            println!("fast token dropped: no --fast-token file");
            return;
        };
        file.token = token;
        match file.save() {
            Ok(()) => println!("fast token file {} written", file.path.display()),
            Err(e) => println!("fast token file {} not written: {e}", file.path.display()),
        }
    }

    /// Online: send what the flags ask, start the roster test.
    fn go(&mut self, client: &mut Client, now: Instant) {
        // Built stanzas go straight into the output (no parse, no copy). The server may
        // have closed in the same read: `answered` drops a late answer.
        if self.plan.presence {
            answered(client.send_with(now, |w| PresenceBuilder::new().write_to(w)));
        }
        if let Some((to, text)) = self.plan.message.clone() {
            self.message(client, now, &to, &text);
        }
        match &self.plan.mode {
            // With stream management asked for and not answered yet (`<enable/>` after the
            // bind, or after Bind 2 where the server cannot enable it inline), the answer
            // comes first, so that the session shows whether it was enabled.
            Mode::Plain
                if self.plan.count == 0 && client.unacked().is_some() && !self.sm_answered =>
            {
                self.close_on_sm_answer = true;
            }
            Mode::Plain if self.plan.count == 0 => client.close(now),
            Mode::RosterTest { account, .. } => {
                self.roster = Some(RosterCache::new(account.clone(), None));
                self.step = Step::Get1;
                self.roster_iq(client, now, IqType::Get, "roster-1", None);
            }
            _ => {}
        }
    }

    fn message(&mut self, client: &mut Client, now: Instant, to: &Jid, text: &str) {
        let id = client.next_id();
        answered(client.send_with(now, |w| {
            MessageBuilder::new()
                .to(to)
                .id(&id)
                .type_(MessageType::Chat)
                .body(text)
                .write_to(w)
        }));
        println!("sent {text}");
    }

    /// A roster request: a get, or a set of `item` (jid, removed?).
    fn roster_iq(
        &mut self,
        client: &mut Client,
        now: Instant,
        type_: IqType,
        id: &str,
        item: Option<(&BareJid, bool)>,
    ) {
        answered(client.send_with(now, |w| {
            IqBuilder::new(type_, id).write_to_with(w, |w| {
                w.start("query").xmlns(ROSTER_NS);
                match item {
                    Some((jid, true)) => {
                        w.start("item")
                            .attr("jid", jid.as_str())
                            .attr("subscription", "remove")
                            .end("item");
                    }
                    Some((jid, false)) => {
                        w.start("item")
                            .attr("jid", jid.as_str())
                            .attr("name", "Interop")
                            .start("group")
                            .text("Interop tests")
                            .end("group")
                            .end("item");
                    }
                    None => {}
                }
                w.end("query");
            })
        }));
    }

    fn on_acked(&mut self, client: &mut Client, now: Instant) {
        if client.unacked() != Some(0) {
            return;
        }
        match (&self.plan.mode, self.step) {
            (Mode::ResumeTest { to, text }, Step::AwaitAck1) => {
                let (to, body) = (to.clone(), format!("{text} 2"));
                self.message(client, now, &to, &body);
                // The embedder cuts the transport right after these bytes.
                self.step = Step::Cut;
                println!("cutting the connection");
            }
            (Mode::ResumeTest { .. }, Step::AwaitAckAll) => {
                println!("all acknowledged");
                self.step = Step::Passed;
                client.close(now);
            }
            _ => {}
        }
    }

    /// An iq: roster results and pushes in the roster test, else requests this example
    /// does not handle.
    fn on_iq(&mut self, client: &mut Client, now: Instant, stanza: &Stanza) {
        let type_ = stanza.type_attr();
        let is_roster = stanza.element().get_child("query", ROSTER_NS).is_some();
        let Some(cache) = self.roster.as_mut() else {
            if matches!(type_.as_deref(), Some("get" | "set")) {
                // Requests this example does not handle (pings, disco...); nothing goes
                // out for results and errors.
                let condition = StanzaErrorCondition::ServiceUnavailable;
                answered(client.reply_error(now, stanza, condition));
            }
            return;
        };
        let id = stanza.id().unwrap_or_default().into_owned();
        match type_.as_deref() {
            Some("set") if is_roster => {
                if let Err(e) = cache.apply_push(stanza) {
                    println!("roster-push refused: {e}");
                    let condition = StanzaErrorCondition::Forbidden;
                    answered(client.reply_error(now, stanza, condition));
                    return;
                }
                // RFC 6121 2.1.6: the client acknowledges a push.
                let mut out = BytesMut::new();
                if iq_result(stanza, None, &mut out).is_ok() {
                    answered(client.send_with(now, |w| {
                        w.raw(&out);
                    }));
                }
                let contact = self.contact().clone();
                let present = self.cached(&contact);
                println!("roster-push {contact} in roster: {present}");
                self.step = match self.step {
                    Step::Set(r, _) if present => Step::Set(r, true),
                    Step::Remove(r, _) if !present => Step::Remove(r, true),
                    s => s,
                };
            }
            Some("get" | "set") => {
                let condition = StanzaErrorCondition::ServiceUnavailable;
                answered(client.reply_error(now, stanza, condition));
                return;
            }
            Some("error") => {
                return self.fail(client, &format!("the server refused {id}"));
            }
            Some("result") => {
                let contact = self.contact().clone();
                match (self.step, id.as_str()) {
                    (Step::Get1 | Step::Get2, "roster-1" | "roster-4") => {
                        if let Some(cache) = self.roster.as_mut()
                            && let Err(e) = cache.apply_result(stanza)
                        {
                            return self.fail(client, &format!("roster result refused: {e}"));
                        }
                        let n = self.roster.as_ref().map_or(0, |c| c.items().count());
                        println!("roster-get ok ({n} items)");
                        if self.cached(&contact) {
                            return self.fail(client, &format!("{contact} already in the roster"));
                        }
                        if self.step == Step::Get2 {
                            println!("roster test passed");
                            self.step = Step::Passed;
                            return client.close(now);
                        }
                        self.step = Step::Set(false, false);
                        self.roster_iq(
                            client,
                            now,
                            IqType::Set,
                            "roster-2",
                            Some((&contact, false)),
                        );
                    }
                    (Step::Set(_, p), "roster-2") => {
                        println!("roster-set ok");
                        self.step = Step::Set(true, p);
                    }
                    (Step::Remove(_, p), "roster-3") => {
                        println!("roster-remove ok");
                        self.step = Step::Remove(true, p);
                    }
                    _ => {}
                }
            }
            _ => {}
        }
        // A result and its push come in either order.
        let contact = self.contact().clone();
        match self.step {
            Step::Set(true, true) => {
                let name = self
                    .roster
                    .as_ref()
                    .and_then(|c| c.get(&contact))
                    .and_then(|i| i.info.name.clone());
                if name.as_deref() != Some("Interop") {
                    return self.fail(client, "the pushed item lost its name");
                }
                self.step = Step::Remove(false, false);
                self.roster_iq(client, now, IqType::Set, "roster-3", Some((&contact, true)));
            }
            Step::Remove(true, true) => {
                self.step = Step::Get2;
                self.roster_iq(client, now, IqType::Get, "roster-4", None);
            }
            _ => {}
        }
    }

    fn contact(&self) -> &BareJid {
        match &self.plan.mode {
            Mode::RosterTest { contact, .. } => contact,
            _ => unreachable!("only the roster test has a roster"),
        }
    }

    fn cached(&self, contact: &BareJid) -> bool {
        self.roster
            .as_ref()
            .is_some_and(|c| c.get(contact).is_some())
    }

    fn fail(&mut self, client: &mut Client, why: &str) {
        println!("test failed: {why}");
        self.step = Step::Failed;
        client.close(Instant::now());
    }

    /// The deadline came.
    pub fn on_deadline(&mut self) {
        if self.close_at.is_none() && !self.online {
            println!("abandoned timeout");
        }
    }

    /// The session is over, as the driver's `result` says: the exit status (0 when it went
    /// online, received `count` messages and passed its test, 2 on a SASL failure, 1
    /// otherwise).
    pub fn exit_status(&self, client: &Client, result: io::Result<()>) -> i32 {
        if let Err(e) = result {
            println!("abandoned {e}");
        }
        println!("closed");
        // With `--extra-secs`, a message beyond `count` (a duplicate) is a failure.
        let count_ok = if self.plan.extra.is_zero() {
            self.received >= self.plan.count
        } else {
            self.received == self.plan.count
        };
        if self.received > self.plan.count && !self.plan.extra.is_zero() {
            println!(
                "received {} messages, {} expected",
                self.received, self.plan.count
            );
        }
        let test_ok = match self.plan.mode {
            Mode::Plain => true,
            _ => self.step == Step::Passed,
        };
        if self.sasl_failed {
            2
        } else if self.online && count_ok && client.is_closed() && test_ok {
            0
        } else {
            1
        }
    }
}

/// The flags both client examples take.
pub const CLIENT_FLAGS: &[&str] = &[
    "addr",
    "jid",
    "password",
    "tls",
    "ca",
    "mechanisms",
    "resource",
    "to",
    "message",
    "count",
    "extra-secs",
    "timeout-secs",
    "roster-test",
    "websocket",
    "fast-token",
];

/// The switches both client examples take.
pub const CLIENT_SWITCHES: &[&str] = &[
    "allow-plain",
    "presence",
    "sm",
    "resume-test",
    "sasl2",
    "direct-tls",
];

/// The usage of both client examples, after the program's name.
pub const CLIENT_USAGE: &str = "--addr HOST:PORT --jid USER@DOMAIN --password PW \
    [--tls required|optional|disabled] [--ca FILE.pem] [--mechanisms M1,M2,...] \
    [--allow-plain] [--resource R] [--presence] [--to JID --message TEXT] [--count N] \
    [--extra-secs S] [--timeout-secs S] [--sm] [--resume-test] [--roster-test CONTACT] \
    [--sasl2] [--fast-token FILE] [--direct-tls] [--websocket ws://HOST:PORT/PATH|wss://HOST:PORT/PATH (client only)]";

/// What the client flags say.
#[derive(Debug)]
pub struct ClientArgs {
    /// The core's configuration.
    pub config: xmpp_sansio::client::ClientConfig,
    /// What the session is for.
    pub plan: Plan,
    /// Where to connect.
    pub addr: String,
    /// When to give up, from the start.
    pub timeout: Duration,
    /// The CA file, if any (`None` with TLS disabled too).
    pub tls: Option<std::sync::Arc<rustls::ClientConfig>>,
    /// `--websocket URL`: XMPP over WebSocket (RFC 7395) to this `ws:` or `wss:` URL, on the
    /// TCP connection to `addr`; the URL's host is the TLS server name for `wss:`.
    pub websocket: Option<String>,
    /// `--direct-tls` (XEP-0368): TLS from the first byte on the TCP connection to `addr`,
    /// ALPN `xmpp-client`, the JID's domain as the server name; no STARTTLS.
    pub direct_tls: bool,
}

/// Reads the client flags; exits with `usage` on a bad one.
pub fn client_args(usage: &str) -> ClientArgs {
    use crate::{Args, client_tls, die, tls_policy};
    use xmpp_sansio::client::{ClientConfig, TlsPolicy, UserAgent};
    use xmpp_sansio::sasl::Mechanism;
    let args = Args::parse(usage, CLIENT_FLAGS, CLIENT_SWITCHES);
    let jid: BareJid = args
        .require("jid", usage)
        .parse()
        .unwrap_or_else(|e| die(&format!("--jid: {e}")));
    let mut config = ClientConfig::new(jid.clone(), args.require("password", usage));
    config.tls = tls_policy(&args, usage);
    if let Some(list) = args.get("mechanisms") {
        config.mechanisms = list
            .split(',')
            .map(|m| m.trim().parse::<Mechanism>())
            .collect::<Result<_, _>>()
            .unwrap_or_else(|_| die(&format!("--mechanisms: unknown mechanism in {list}")));
    }
    config.allow_plain_without_tls = args.switch("allow-plain");
    config.resource = args.get("resource").map(str::to_owned);
    let mut message = match (args.get("to"), args.get("message")) {
        (Some(to), Some(text)) => Some((
            to.parse::<Jid>()
                .unwrap_or_else(|e| die(&format!("--to: {e}"))),
            text.to_owned(),
        )),
        (None, None) => None,
        _ => die("--to and --message go together"),
    };
    let mode = if args.switch("resume-test") {
        let Some((to, text)) = message.take() else {
            die("--resume-test needs --to and --message")
        };
        Mode::ResumeTest { to, text }
    } else if let Some(contact) = args.get("roster-test") {
        let contact = contact
            .parse()
            .unwrap_or_else(|e| die(&format!("--roster-test: {e}")));
        Mode::RosterTest {
            account: jid,
            contact,
        }
    } else {
        Mode::Plain
    };
    // Stream management with resumption; the resumption test needs it.
    if args.switch("sm") || matches!(mode, Mode::ResumeTest { .. }) {
        config.stream_management = true;
        config.resumption = true;
    }
    // Modern login when the server offers it (the legacy sequence otherwise): SASL2, Bind 2
    // with our tag, and FAST with a token file.
    let fast = args.get("fast-token").map(|path| {
        if !args.switch("sasl2") {
            die("--fast-token needs --sasl2");
        }
        FastFile::load(std::path::Path::new(path))
            .unwrap_or_else(|e| die(&format!("--fast-token {path}: {e}")))
    });
    if args.switch("sasl2") {
        config.sasl2 = true;
        config.bind2 = true;
        config.bind2_tag = Some("xmpp-sansio".to_owned());
        let id = fast
            .as_ref()
            .map_or_else(crate::fast::random_uuid, |f| f.user_agent_id.clone());
        config.user_agent = Some(UserAgent {
            id,
            software: Some("xmpp-sansio example client".to_owned()),
            device: None,
        });
    }
    if let Some(file) = &fast {
        match &file.token {
            Some(token) => {
                println!(
                    "fast token in {} ({}, expires {})",
                    file.path.display(),
                    token.mechanism.name(),
                    token.expiry
                );
                config.fast_token = Some(token.clone());
            }
            // No token yet: ask for one (the core picks the strongest offered mechanism
            // the transport can bind to).
            None => config.fast_request_token = true,
        }
    }
    let websocket = args.get("websocket").map(str::to_owned);
    if let Some(url) = &websocket {
        let (secure, _) =
            crate::ws::parse_url(url).unwrap_or_else(|e| die(&format!("--websocket: {e}")));
        config.framing = xmpp_sansio::stream::Framing::WebSocket { secure };
    }
    // `wss:` needs the TLS configuration whatever the policy says (the policy is about the
    // stream: over `ws:` it cannot be met by STARTTLS, RFC 7395 section 3.7).
    let wss = websocket.as_deref().is_some_and(|u| u.starts_with("wss:"));
    let direct_tls = args.switch("direct-tls");
    if direct_tls && websocket.is_some() {
        die("--direct-tls and --websocket do not go together (wss: is TLS first already)");
    }
    if direct_tls && config.tls == TlsPolicy::Disabled {
        die("--direct-tls is TLS: not with --tls disabled");
    }
    let tls = (config.tls != TlsPolicy::Disabled || wss)
        .then(|| client_tls(args.get("ca")).unwrap_or_else(|e| die(&format!("--ca: {e}"))));
    ClientArgs {
        plan: Plan {
            presence: args.switch("presence"),
            message,
            count: args.number("count", 0, usage),
            extra: Duration::from_secs(args.number("extra-secs", 0, usage)),
            mode,
            fast,
        },
        addr: args.require("addr", usage).to_owned(),
        timeout: Duration::from_secs(args.number("timeout-secs", 15, usage)),
        tls,
        config,
        websocket,
        direct_tls,
    }
}
