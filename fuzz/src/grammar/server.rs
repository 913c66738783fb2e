//! The `server_grammar` target: our c2s server, its peer a client.

use super::c2s::*;
use super::*;
use std::collections::VecDeque;
use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use xmpp_sansio::error::{SaslFailureCondition, StanzaErrorCondition};
use xmpp_sansio::jid::Jid;
use xmpp_sansio::sasl::ht::HtMechanism;
use xmpp_sansio::sasl::{
    Credentials, Mechanism, Nonce, SaslClient, SaslClientConfig, UserCredential,
};
use xmpp_sansio::server::{Server, ServerConfig, ServerEvent};
use xmpp_sansio::stanza::Stanza;
use xmpp_sansio::stream::{Framing, TlsPolicy};
use xmpp_sansio::xml::Element;

/// What the client peer of the server target sends.
#[derive(Arbitrary, Debug, Clone)]
pub enum ServerItem {
    /// A stream header (the first restarts the stream as the login needs).
    Header(Header),
    /// `<starttls/>`.
    StartTls,
    /// PLAIN (RFC 6120 `<auth/>` or SASL2 `<authenticate/>`).
    Plain {
        /// SASL2.
        sasl2: bool,
        /// The password.
        password: Password,
        /// The authzid.
        authzid: Authzid,
        /// Another user.
        other_user: bool,
    },
    /// Starts SCRAM (the response to its challenge is computed by [`Step::Next`]).
    Scram {
        /// SASL2.
        sasl2: bool,
        /// SCRAM-SHA-256 rather than SHA-1.
        sha256: bool,
        /// The password the client uses.
        password: Password,
    },
    /// A SCRAM final message whose proof is wrong.
    BadProof,
    /// A mechanism not offered.
    UnknownMechanism,
    /// `<auth/>` whose data is not base64.
    BadBase64,
    /// `<abort/>`.
    Abort,
    /// A resource binding request.
    Bind(Option<u8>),
    /// The legacy session request.
    Session,
    /// `<enable/>` (with resumption).
    Enable(bool),
    /// `<resume/>` of the session this stream enabled, or of another; with this `h`.
    Resume(bool, u8),
    /// `<r/>`.
    R,
    /// `<a h/>`: the right count, or this one.
    A(Option<u8>),
    /// A stanza.
    Stanza(C2sStanza),
    /// SASL2 `<next task/>`.
    Sasl2Next,
    /// A FAST login with the token (right or wrong).
    Fast(bool),
}

/// The server embedder's decisions.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum ServerAction {
    /// TLS is up.
    Tls,
    /// The credentials: the right password, a wrong one, unknown user, refused.
    Credentials(Choice4),
    /// SASL EXTERNAL granted.
    External,
    /// Bind the resource asked (or a made-up one).
    Bind,
    /// Refuse the bind.
    RejectBind,
    /// Send a stanza to the client.
    Send,
    /// Answer the last stanza with an error.
    ReplyError,
    /// Ask for an ack.
    RequestAck,
    /// Resume: no state, or the state `fuzz`.
    Resume(bool),
    /// Take the resumption state and the unacked stanzas.
    TakeState,
    /// Answer the FAST question: give the token, or refuse.
    Fast(bool),
    /// Answer the SASL2 task: done, data, or failed.
    Task(Choice4),
    /// Close with see-other-host.
    SeeOther,
}

/// The server target: our server, a client peer, an embedder.
pub struct ServerRole {
    core: Server,
    setup: C2sSetup,
    ws: bool,
    asks: VecDeque<Ask>,
    queue: VecDeque<Vec<u8>>,
    header_due: bool,
    tls_up: bool,
    features: Option<Element>,
    auth_sent: bool,
    authed: bool,
    bind_sent: bool,
    online: bool,
    sm_sent: bool,
    sm_id: Option<String>,
    received: u32,
    n: u32,
    scram: Option<(SaslClient, bool)>,
    last_stanza: Option<Stanza>,
}

impl ServerRole {
    fn new(setup: C2sSetup) -> Self {
        let mut config = ServerConfig::new("example.com", b"secret".to_vec());
        config.tls = if setup.starttls {
            TlsPolicy::Optional
        } else {
            TlsPolicy::Disabled
        };
        config.allow_plain_without_tls = true;
        config.scram_iterations = NonZeroU32::new(16).expect("non-zero");
        config.stream_management = true;
        config.ack_request_every = 3;
        config.ack_request_after = Some(Duration::from_millis(500));
        config.unacked_limits.max_stanzas = 4;
        config.unacked_limits.max_bytes = 512;
        config.resumption = Some(60);
        config.sasl2 = true;
        config.fast = vec![HtMechanism::Sha256None];
        config.downgrade_protection = true;
        config.sasl2_tasks = vec!["TOTP".into()];
        if setup.websocket {
            config.framing = Framing::WebSocket { secure: true };
        }
        ServerRole {
            core: Server::new(config, 7, Instant::now()),
            setup,
            ws: setup.websocket,
            asks: VecDeque::new(),
            queue: VecDeque::new(),
            header_due: true,
            tls_up: false,
            features: None,
            auth_sent: false,
            authed: false,
            bind_sent: false,
            online: false,
            sm_sent: false,
            sm_id: None,
            received: 0,
            n: 0,
            scram: None,
            last_stanza: None,
        }
    }

    fn header(&mut self, h: &Header) -> Vec<u8> {
        self.header_due = false;
        self.features = None;
        h.render(self.ws, "jabber:client", "to", "example.com", None)
            .into_bytes()
    }

    fn plain(&mut self, sasl2: bool, password: Password, authzid: Authzid, other: bool) -> Vec<u8> {
        self.auth_sent = true;
        let pw = match password {
            Password::Right => "pencil",
            Password::Wrong => "pen",
            Password::Empty => "",
        };
        let user = if other { "mallory" } else { "user" };
        let authzid = match authzid {
            Authzid::None => "",
            Authzid::Own => "user@example.com",
            Authzid::Other => "juliet@example.com",
            Authzid::Bad => "@@",
        };
        let data = format!("{authzid}\0{user}\0{pw}");
        self.authenticate(sasl2, "PLAIN", data.as_bytes())
    }

    fn authenticate(&mut self, sasl2: bool, mechanism: &str, initial: &[u8]) -> Vec<u8> {
        if sasl2 {
            format!(
                "<authenticate xmlns='{SASL2}' mechanism='{mechanism}'><initial-response>{}</initial-response><user-agent id='d4565fa7-4d72-4749-b3d3-740edbf87770'><software>fuzz</software></user-agent><bind xmlns='urn:xmpp:bind:0'><tag>fuzz</tag></bind></authenticate>",
                b64(initial)
            )
            .into_bytes()
        } else {
            format!(
                "<auth xmlns='{SASL}' mechanism='{mechanism}'>{}</auth>",
                b64(initial)
            )
            .into_bytes()
        }
    }

    fn scram(&mut self, sasl2: bool, sha256: bool, password: Password) -> Vec<u8> {
        self.auth_sent = true;
        let mech = if sha256 {
            "SCRAM-SHA-256"
        } else {
            "SCRAM-SHA-1"
        };
        let pw = match password {
            Password::Right => "pencil",
            Password::Wrong => "pen",
            Password::Empty => "x",
        };
        let config = SaslClientConfig::default();
        let nonce = Nonce::new("fyko+d2lbbFgONRv9qkxdawL").expect("a nonce");
        match SaslClient::start([mech], &config, Credentials::new("user", pw), nonce) {
            Ok(client) => {
                let initial = client.initial_response().to_vec();
                self.scram = Some((client, sasl2));
                self.authenticate(sasl2, mech, &initial)
            }
            Err(_) => Vec::new(),
        }
    }

    fn stanza(&mut self, kind: C2sStanza) -> Vec<u8> {
        self.n += 1;
        c2s_stanza(kind, "", "romeo@example.net", self.n).into_bytes()
    }
}

impl Role for ServerRole {
    type Core = Server;
    type Item = ServerItem;
    type Action = ServerAction;

    fn core(&mut self) -> &mut Server {
        &mut self.core
    }

    fn render(&mut self, item: &ServerItem, _: &View) -> Vec<u8> {
        match item {
            ServerItem::Header(h) => self.header(h),
            ServerItem::StartTls => format!("<starttls xmlns='{TLS}'/>").into_bytes(),
            ServerItem::Plain {
                sasl2,
                password,
                authzid,
                other_user,
            } => self.plain(*sasl2, *password, *authzid, *other_user),
            ServerItem::Scram {
                sasl2,
                sha256,
                password,
            } => self.scram(*sasl2, *sha256, *password),
            ServerItem::BadProof => {
                let sasl2 = self.scram.as_ref().is_some_and(|s| s.1);
                let data = b"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=";
                sasl_el(sasl2, "response", Some(data)).into_bytes()
            }
            ServerItem::UnknownMechanism => {
                format!("<auth xmlns='{SASL}' mechanism='X-FROB'>=</auth>").into_bytes()
            }
            ServerItem::BadBase64 => {
                format!("<auth xmlns='{SASL}' mechanism='PLAIN'>!!not base64!!</auth>").into_bytes()
            }
            ServerItem::Abort => {
                let sasl2 = self.scram.as_ref().is_some_and(|s| s.1);
                self.auth_sent = false;
                sasl_el(sasl2, "abort", None).into_bytes()
            }
            ServerItem::Bind(resource) => {
                self.bind_sent = true;
                let r = resource
                    .map(|r| format!("<resource>res{r}</resource>"))
                    .unwrap_or_default();
                format!("<iq type='set' id='bind1'><bind xmlns='{BIND}'>{r}</bind></iq>").into_bytes()
            }
            ServerItem::Session => "<iq type='set' id='sess1'><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>".into(),
            ServerItem::Enable(resume) => {
                self.sm_sent = true;
                let r = if *resume { " resume='true'" } else { "" };
                format!("<enable xmlns='{SM}'{r}/>").into_bytes()
            }
            ServerItem::Resume(ours, h) => {
                let previd = match (ours, &self.sm_id) {
                    (true, Some(id)) => id.clone(),
                    _ => "fuzz".into(),
                };
                format!("<resume xmlns='{SM}' previd='{previd}' h='{h}'/>").into_bytes()
            }
            ServerItem::R => format!("<r xmlns='{SM}'/>").into_bytes(),
            ServerItem::A(h) => {
                let h = h.map(u32::from).unwrap_or(self.received);
                format!("<a xmlns='{SM}' h='{h}'/>").into_bytes()
            }
            ServerItem::Stanza(kind) => self.stanza(*kind),
            ServerItem::Sasl2Next => format!("<next xmlns='{SASL2}' task='TOTP'/>").into_bytes(),
            ServerItem::Fast(right) => {
                self.auth_sent = true;
                // HT-SHA-256-NONE: the initial response is the username and an HMAC we
                // cannot compute here; a wrong one is refused, the right one is given by
                // the embedder's token (the core checks it).
                let secret = if *right { "fuzz-token" } else { "wrong" };
                let data = format!("user\0{secret}");
                format!(
                    "<authenticate xmlns='{SASL2}' mechanism='HT-SHA-256-NONE'><initial-response>{}</initial-response><fast xmlns='urn:xmpp:fast:0'/></authenticate>",
                    b64(data.as_bytes())
                )
                .into_bytes()
            }
        }
    }

    fn act(&mut self, action: &ServerAction, now: Instant, id: &str) -> bool {
        let s = &mut self.core;
        match action {
            ServerAction::Tls => {
                if s.tls_established(now, vec![]).is_ok() {
                    self.tls_up = true;
                    self.header_due = true;
                    self.features = None;
                }
            }
            ServerAction::Credentials(c) => {
                let cred = match c {
                    Choice4::A => UserCredential::Password("pencil".into()),
                    Choice4::B => UserCredential::Password("pen".into()),
                    Choice4::C => UserCredential::Unknown,
                    Choice4::D => UserCredential::Refuse(SaslFailureCondition::AccountDisabled),
                };
                let _ = s.credentials(now, cred);
            }
            ServerAction::External => {
                if let Ok(jid) = "user@example.com".parse() {
                    let _ = s.external(now, jid);
                }
            }
            ServerAction::Bind => {
                let r = s.make_resource();
                if let Ok(jid) = format!("user@example.com/{r}").parse() {
                    let _ = s.bind(now, jid);
                }
            }
            ServerAction::RejectBind => {
                let _ = s.reject_bind(now, StanzaErrorCondition::Conflict);
            }
            ServerAction::Send => {
                let xml = format!(
                    "<message to='user@example.com' from='romeo@example.net/o' id='{id}'><body>hi</body></message>"
                );
                return s.send(now, &el("jabber:client", &xml)).is_ok();
            }
            ServerAction::ReplyError => {
                if let Some(st) = self.last_stanza.take() {
                    let _ = s.reply_error(now, &st, StanzaErrorCondition::ServiceUnavailable);
                }
            }
            ServerAction::RequestAck => {
                let _ = s.request_ack(now);
            }
            ServerAction::Resume(with_state) => {
                let state = with_state.then(|| resumption_state("user@example.com/fuzz"));
                let _ = s.resume(now, state);
            }
            ServerAction::TakeState => {
                let _ = s.take_resumption_state();
                let _ = s.take_unacked();
            }
            ServerAction::Fast(give) => {
                if *give {
                    let _ = s.fast_credentials(now, Some(fast_token()));
                    let _ = s.issue_fast_token(now, Some(fast_token()));
                } else {
                    let _ = s.fast_refuse(now, SaslFailureCondition::CredentialsExpired);
                    let _ = s.issue_fast_token(now, None);
                }
            }
            ServerAction::Task(c) => {
                let _ = match c {
                    Choice4::A | Choice4::D => s.sasl2_task_done(now),
                    Choice4::B => s.sasl2_task_data(now, &[el("urn:example:task", "<otp/>")]),
                    Choice4::C => s.sasl2_task_failed(now, SaslFailureCondition::NotAuthorized),
                };
            }
            ServerAction::SeeOther => {
                let _ = s.close_see_other_uri(now, "wss://other.example/ws");
            }
        }
        false
    }

    fn observe(&mut self, e: &Element, _: &View) {
        match (e.name(), sasl_ns(e)) {
            ("features", _) if e.ns() == STREAMS => self.features = Some(e.clone()),
            ("challenge", Some(sasl2)) => {
                if let Some((client, _)) = self.scram.as_mut() {
                    match client.on_challenge(&payload(e)) {
                        Ok(resp) => self.queue.push_back(sasl_el(sasl2, "response", Some(&resp)).into_bytes()),
                        Err(_) => self.queue.push_back(sasl_el(sasl2, "abort", None).into_bytes()),
                    }
                }
            }
            ("success", Some(sasl2)) => {
                self.authed = true;
                self.scram = None;
                if !sasl2 {
                    self.header_due = true;
                    self.features = None;
                }
            }
            ("failure", Some(_)) => {
                self.auth_sent = false;
                self.scram = None;
            }
            ("continue", Some(true)) => self.queue.push_back(format!("<next xmlns='{SASL2}' task='TOTP'/>").into_bytes()),
            ("task-data", Some(true)) => self.queue.push_back(format!("<task-data xmlns='{SASL2}'><otp xmlns='urn:example:task'>123456</otp></task-data>").into_bytes()),
            ("enabled", _) if e.ns() == SM => {
                self.sm_id = e.attr("id").map(|s| s.into_owned());
                self.received = 0;
            }
            ("r", _) if e.ns() == SM => {
                let h = self.received;
                self.queue.push_back(format!("<a xmlns='{SM}' h='{h}'/>").into_bytes());
            }
            ("message" | "presence" | "iq", _) => self.received = self.received.wrapping_add(1),
            _ => {}
        }
    }

    fn observe_header(&mut self, _: &View) {}

    fn on_event(&mut self, ev: &ServerEvent) -> Milestone {
        match ev {
            ServerEvent::StreamOpened => return Milestone::Opened,
            ServerEvent::TlsRequested => self.asks.push_back(Ask::Tls),
            ServerEvent::AuthRequest { .. } => self.asks.push_back(Ask::Auth),
            ServerEvent::ExternalRequest { .. } => self.asks.push_back(Ask::External),
            ServerEvent::Authenticated(_) => return Milestone::Authenticated,
            ServerEvent::Sasl2Task(_) | ServerEvent::Sasl2TaskData(_) => {
                self.asks.push_back(Ask::Task)
            }
            ServerEvent::FastAuthRequest { .. } => self.asks.push_back(Ask::FastAuth),
            ServerEvent::FastTokenRequest { .. } => self.asks.push_back(Ask::FastToken),
            ServerEvent::BindRequest { .. } => self.asks.push_back(Ask::Bind),
            ServerEvent::ResumeRequest { .. } => self.asks.push_back(Ask::Resume),
            ServerEvent::Online(_) | ServerEvent::Resumed(_) => {
                self.online = true;
                return Milestone::Online;
            }
            ServerEvent::Stanza(st) => {
                // The server stamps from: it is the session's full JID.
                let from = st.element().attr("from").map(|f| f.into_owned());
                assert!(
                    from.as_deref().is_some_and(|f| f.parse::<Jid>().is_ok()),
                    "{st}"
                );
                self.last_stanza = Some(st.clone());
            }
            ServerEvent::Closed(_) => return Milestone::Closed,
            _ => {}
        }
        Milestone::None
    }

    fn next(&mut self, _: &View) -> Move<ServerAction> {
        if let Some(ask) = self.asks.pop_front() {
            return Move::Act(match ask {
                Ask::Tls => ServerAction::Tls,
                Ask::Auth => ServerAction::Credentials(Choice4::A),
                Ask::External => ServerAction::External,
                Ask::Bind => ServerAction::Bind,
                Ask::FastAuth | Ask::FastToken => ServerAction::Fast(true),
                Ask::Task => ServerAction::Task(Choice4::A),
                Ask::Resume => ServerAction::Resume(false),
                Ask::Continue | Ask::VerifyKey(_) => return Move::Idle,
            });
        }
        if self.header_due {
            return Move::Peer(self.header(&Header::RIGHT));
        }
        if let Some(bytes) = self.queue.pop_front() {
            return Move::Peer(bytes);
        }
        let Some(features) = self.features.clone() else {
            return if self.online {
                Move::Peer(self.stanza(C2sStanza::Message))
            } else {
                Move::Idle
            };
        };
        if self.setup.starttls && !self.tls_up && child(&features, "starttls").is_some() {
            self.features = None;
            return Move::Peer(format!("<starttls xmlns='{TLS}'/>").into_bytes());
        }
        if !self.authed && !self.auth_sent {
            let login = self.setup.login;
            return Move::Peer(match login {
                Login::Plain | Login::Sasl2Plain => {
                    self.plain(login.sasl2(), Password::Right, Authzid::None, false)
                }
                _ => self.scram(
                    login.sasl2(),
                    login.mechanism() == Mechanism::ScramSha256,
                    Password::Right,
                ),
            });
        }
        if self.authed && !self.bind_sent && !self.online && child(&features, "bind").is_some() {
            self.bind_sent = true;
            return Move::Peer(format!("<iq type='set' id='bind1'><bind xmlns='{BIND}'><resource>fuzz</resource></bind></iq>").into_bytes());
        }
        if self.online {
            if self.setup.sm && !self.sm_sent {
                self.sm_sent = true;
                return Move::Peer(format!("<enable xmlns='{SM}' resume='true'/>").into_bytes());
            }
            return Move::Peer(self.stanza(C2sStanza::Message));
        }
        Move::Idle
    }

    fn check_limits(&mut self) {
        check_unacked(self.core.unacked(), self.core.is_closed());
    }
}

/// The `server_grammar` target; returns whether the session got online.
pub fn server_grammar(data: &[u8]) -> bool {
    let Some(script) = decode::<C2sSetup, ServerItem, ServerAction>(data) else {
        return false;
    };
    let mut role = ServerRole::new(script.setup);
    run(&mut role, script.setup.websocket, &script.steps)
}
