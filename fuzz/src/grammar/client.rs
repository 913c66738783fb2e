//! The `client_grammar` target: our c2s client, its peer a server.

use super::c2s::*;
use super::*;
use std::collections::VecDeque;
use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use xmpp_sansio::client::{Client, ClientConfig, ClientEvent};
use xmpp_sansio::sasl::{
    Authorization, Mechanism, Nonce, SaslServer, SaslServerConfig, ServerStep, UserCredential,
    decode_payload,
};
use xmpp_sansio::stream::{Framing, TlsPolicy};
use xmpp_sansio::xml::Element;

/// What the server peer of the client target sends.
#[derive(Arbitrary, Debug, Clone)]
pub enum ClientItem {
    /// A stream header with an id, and the features of the phase (when `features`).
    Header(Header, bool),
    /// Features: STARTTLS (required or not), the mechanisms, SASL2, bind, sm.
    Features {
        /// STARTTLS.
        starttls: Option<bool>,
        /// Offer the login's mechanisms.
        mechanisms: bool,
        /// Offer SASL2 with Bind 2.
        sasl2: bool,
        /// Offer bind and stream management.
        bind: bool,
    },
    /// `<proceed/>`.
    Proceed,
    /// A SASL challenge with these bytes.
    Challenge(Vec<u8>),
    /// `<success/>`: with the right server signature (when SCRAM runs) or not.
    Success(bool),
    /// `<failure/>` with a condition.
    Failure(Choice4),
    /// The bind result: the JID asked for, another resource, another account, none.
    BindResult(Choice4),
    /// A bind error.
    BindError,
    /// `<enabled/>`, with resumption or not.
    Enabled(bool),
    /// `<failed/>`.
    SmFailed,
    /// `<resumed/>` with this `h`.
    Resumed(u8),
    /// `<r/>`.
    R,
    /// `<a h/>`: the right count, or this one.
    A(Option<u8>),
    /// A stanza to the client.
    Stanza(C2sStanza),
    /// SASL2 `<continue/>` with the task TOTP.
    Continue,
    /// SASL2 `<task-data/>`.
    TaskData,
}

/// The client embedder's decisions.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum ClientAction {
    /// Open the stream.
    Open,
    /// TLS is up (with channel binding or not).
    Tls(bool),
    /// Authenticate again (any mechanism, or PLAIN).
    Auth(bool),
    /// Send a stanza.
    Send,
    /// Choose the SASL2 task.
    Sasl2Next,
    /// Send task data.
    TaskData,
    /// Ask for an ack.
    RequestAck,
    /// Resume the session `fuzz` (before `open`).
    ResumeFrom,
    /// Take the resumption state and the unacked stanzas.
    TakeState,
}

/// The client target: our client, a server peer, an embedder.
pub struct ClientRole {
    core: Client,
    setup: C2sSetup,
    ws: bool,
    opened: bool,
    asks: VecDeque<Ask>,
    queue: VecDeque<Vec<u8>>,
    tls_up: bool,
    authed: bool,
    online: bool,
    headers: u32,
    sasl: Option<(SaslServer, bool, bool)>,
    success_data: Option<(Vec<u8>, bool)>,
    /// The id of the client's last bind request.
    bind_id: String,
    received: u32,
    n: u32,
}

impl ClientRole {
    fn new(setup: C2sSetup) -> Self {
        let mut config =
            ClientConfig::new("juliet@example.com".parse().expect("a JID"), "r0m30myr0m30");
        config.resource = Some("balcony".into());
        // As the server grammar: TLS when the setup says STARTTLS, else none at all (SASL2
        // is only used after TLS or without TLS altogether, XEP-0388 section 3).
        config.tls = if setup.starttls {
            TlsPolicy::Optional
        } else {
            TlsPolicy::Disabled
        };
        config.allow_plain_without_tls = true;
        config.keepalive = Some(Duration::from_secs(10));
        config.mechanisms = vec![setup.login.mechanism()];
        config.stream_management = setup.sm;
        config.ack_request_every = 2;
        config.ack_request_after = Some(Duration::from_millis(500));
        config.unacked_limits.max_stanzas = 4;
        config.unacked_limits.max_bytes = 512;
        config.resumption = true;
        config.sasl2 = true;
        config.bind2_tag = Some("fuzz".into());
        if setup.websocket {
            config.framing = Framing::WebSocket { secure: true };
        }
        ClientRole {
            core: Client::new(config, 7, Instant::now()),
            setup,
            ws: setup.websocket,
            opened: false,
            asks: VecDeque::new(),
            queue: VecDeque::new(),
            tls_up: false,
            authed: false,
            online: false,
            headers: 0,
            sasl: None,
            success_data: None,
            bind_id: String::new(),
            received: 0,
            n: 0,
        }
    }

    fn features(
        &self,
        starttls: Option<bool>,
        mechanisms: bool,
        sasl2: bool,
        bind: bool,
    ) -> String {
        let mut f = String::new();
        if let Some(required) = starttls {
            let r = if required { "<required/>" } else { "" };
            f.push_str(&format!("<starttls xmlns='{TLS}'>{r}</starttls>"));
        }
        let mech = self.setup.login.mechanism().name();
        if mechanisms {
            f.push_str(&format!(
                "<mechanisms xmlns='{SASL}'><mechanism>{mech}</mechanism></mechanisms>"
            ));
        }
        if sasl2 {
            f.push_str(&format!("<authentication xmlns='{SASL2}'><mechanism>{mech}</mechanism><inline><bind xmlns='urn:xmpp:bind:0'><inline><feature var='{SM}'/></inline></bind><sm xmlns='{SM}'/></inline></authentication>"));
        }
        if bind {
            f.push_str(&format!("<bind xmlns='{BIND}'/><sm xmlns='{SM}'/>"));
        }
        if self.ws {
            format!("<stream:features xmlns:stream='{STREAMS}'>{f}</stream:features>")
        } else {
            format!("<stream:features>{f}</stream:features>")
        }
    }

    /// The header and the features the phase calls for.
    fn answer_header(&mut self, h: &Header, with_features: bool) {
        self.headers += 1;
        let id = format!("c{}", self.headers);
        self.queue.push_back(
            h.render(self.ws, "jabber:client", "from", "example.com", Some(&id))
                .into_bytes(),
        );
        if with_features {
            let offer_tls = self.setup.starttls && !self.tls_up && !self.ws;
            let f = if self.authed {
                self.features(None, false, false, true)
            } else if offer_tls {
                self.features(Some(false), false, false, false)
            } else {
                let sasl2 = self.setup.login.sasl2();
                self.features(None, !sasl2, sasl2, false)
            };
            self.queue.push_back(f.into_bytes());
        }
    }

    fn sasl_step(
        &mut self,
        step: Result<ServerStep, xmpp_sansio::sasl::SaslServerError>,
        sasl2: bool,
    ) {
        let bytes = match step {
            Ok(ServerStep::NeedCredentials { .. }) => {
                let Some((server, _, _)) = self.sasl.as_mut() else {
                    return;
                };
                let step = server.provide_credentials(
                    UserCredential::Password("r0m30myr0m30".into()),
                    Authorization::Refuse,
                );
                return self.sasl_step(step, sasl2);
            }
            Ok(ServerStep::Challenge(c)) => sasl_el(sasl2, "challenge", Some(&c)),
            Ok(ServerStep::Success {
                additional_data, ..
            }) => {
                self.success_data = Some((additional_data.clone(), sasl2));
                // The next header the client sends is after authentication.
                self.authed = true;
                self.success(sasl2, &additional_data, Choice4::A)
            }
            Ok(ServerStep::NeedExternal { .. }) | Err(_) => {
                let ns = if sasl2 { SASL2 } else { SASL };
                format!("<failure xmlns='{ns}'><not-authorized xmlns='{SASL}'/></failure>")
            }
        };
        self.queue.push_back(bytes.into_bytes());
    }

    fn success(&mut self, sasl2: bool, data: &[u8], jid: Choice4) -> String {
        if !sasl2 {
            return sasl_el(false, "success", Some(data));
        }
        let bind2 = self.sasl.as_ref().is_some_and(|s| s.2);
        let jid = match jid {
            Choice4::A if bind2 => "juliet@example.com/fuzz.1",
            Choice4::A => "juliet@example.com",
            Choice4::B => "romeo@example.net/x",
            Choice4::C => "@@",
            Choice4::D => "juliet@example.com/other",
        };
        let bound = if bind2 {
            "<bound xmlns='urn:xmpp:bind:0'/>"
        } else {
            ""
        };
        let data = if data.is_empty() {
            String::new()
        } else {
            format!("<additional-data>{}</additional-data>", b64(data))
        };
        format!(
            "<success xmlns='{SASL2}'>{data}<authorization-identifier>{jid}</authorization-identifier>{bound}</success>"
        )
    }
}

impl Role for ClientRole {
    type Core = Client;
    type Item = ClientItem;
    type Action = ClientAction;

    fn core(&mut self) -> &mut Client {
        &mut self.core
    }

    fn render(&mut self, item: &ClientItem, _: &View) -> Vec<u8> {
        match item {
            ClientItem::Header(h, with_features) => {
                self.answer_header(h, *with_features);
                let mut all = Vec::new();
                // Over WebSocket each piece is its own message: send the last one, the
                // header goes first through the queue.
                if self.ws {
                    return self.queue.pop_front().unwrap_or_default();
                }
                while let Some(b) = self.queue.pop_front() {
                    all.extend_from_slice(&b);
                }
                all
            }
            ClientItem::Features { starttls, mechanisms, sasl2, bind } => {
                self.features(*starttls, *mechanisms, *sasl2, *bind).into_bytes()
            }
            ClientItem::Proceed => format!("<proceed xmlns='{TLS}'/>").into_bytes(),
            ClientItem::Challenge(c) => {
                let sasl2 = self.sasl.as_ref().is_some_and(|s| s.1);
                sasl_el(sasl2, "challenge", Some(&c[..c.len().min(128)])).into_bytes()
            }
            ClientItem::Success(right) => {
                let (data, sasl2) = self.success_data.clone().unwrap_or_default();
                let data = if *right { data } else { b"v=rmF9pqV8S7suAoZWja4dJRkFsKQ=".to_vec() };
                self.success(sasl2, &data, Choice4::A).into_bytes()
            }
            ClientItem::Failure(c) => {
                let cond = match c {
                    Choice4::A => "not-authorized",
                    Choice4::B => "temporary-auth-failure",
                    Choice4::C => "aborted",
                    Choice4::D => "frobnicated",
                };
                format!("<failure xmlns='{SASL}'><{cond}/><text>no</text></failure>").into_bytes()
            }
            ClientItem::BindResult(c) => {
                let jid = match c {
                    Choice4::A => "juliet@example.com/balcony",
                    Choice4::B => "juliet@example.com/other",
                    Choice4::C => "romeo@example.net/balcony",
                    Choice4::D => "",
                };
                let jid = if jid.is_empty() { String::new() } else { format!("<jid>{jid}</jid>") };
                format!("<iq type='result' id='{}'><bind xmlns='{BIND}'>{jid}</bind></iq>", self.bind_id).into_bytes()
            }
            ClientItem::BindError => format!("<iq type='error' id='{}'><error type='cancel'><conflict xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>", self.bind_id).into_bytes(),
            ClientItem::Enabled(resume) => {
                let r = if *resume { " resume='true' id='sm1' max='60'" } else { "" };
                self.received = 0;
                format!("<enabled xmlns='{SM}'{r}/>").into_bytes()
            }
            ClientItem::SmFailed => format!("<failed xmlns='{SM}'><unexpected-request xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></failed>").into_bytes(),
            ClientItem::Resumed(h) => format!("<resumed xmlns='{SM}' previd='fuzz' h='{h}'/>").into_bytes(),
            ClientItem::R => format!("<r xmlns='{SM}'/>").into_bytes(),
            ClientItem::A(h) => {
                let h = h.map(u32::from).unwrap_or(self.received);
                format!("<a xmlns='{SM}' h='{h}'/>").into_bytes()
            }
            ClientItem::Stanza(kind) => {
                self.n += 1;
                c2s_stanza(*kind, " from='romeo@example.net/orchard'", "juliet@example.com/balcony", self.n).into_bytes()
            }
            ClientItem::Continue => format!("<continue xmlns='{SASL2}'><tasks><task>TOTP</task></tasks></continue>").into_bytes(),
            ClientItem::TaskData => format!("<task-data xmlns='{SASL2}'><otp xmlns='urn:example:task'/></task-data>").into_bytes(),
        }
    }

    fn act(&mut self, action: &ClientAction, now: Instant, id: &str) -> bool {
        let c = &mut self.core;
        match action {
            ClientAction::Open => {
                self.opened = true;
                let _ = c.open(now);
            }
            ClientAction::Tls(cb) => {
                let cb = cb.then(|| {
                    xmpp_sansio::sasl::ChannelBinding::new(
                        xmpp_sansio::sasl::CbType::TlsExporter,
                        vec![7; 32],
                    )
                });
                if c.tls_established(now, cb).is_ok() {
                    self.tls_up = true;
                }
            }
            ClientAction::Auth(plain) => {
                let _ = c.auth(now, plain.then_some(Mechanism::Plain));
            }
            ClientAction::Send => {
                let xml =
                    format!("<message to='romeo@example.net' id='{id}'><body>hi</body></message>");
                return c.send(now, &el("jabber:client", &xml)).is_ok();
            }
            ClientAction::Sasl2Next => {
                let _ = c.sasl2_next(now, "TOTP", &[el("urn:example:task", "<otp>123456</otp>")]);
            }
            ClientAction::TaskData => {
                let _ = c.sasl2_task_data(now, &[el("urn:example:task", "<otp>123456</otp>")]);
            }
            ClientAction::RequestAck => {
                let _ = c.request_ack(now);
            }
            ClientAction::ResumeFrom => {
                let _ = c.resume_from(resumption_state("juliet@example.com/balcony"));
            }
            ClientAction::TakeState => {
                let _ = c.take_resumption_state();
                let _ = c.take_unacked();
            }
        }
        false
    }

    fn observe(&mut self, e: &Element, _: &View) {
        match (e.name(), sasl_ns(e)) {
            ("starttls", _) if e.ns() == TLS => self
                .queue
                .push_back(format!("<proceed xmlns='{TLS}'/>").into_bytes()),
            ("auth" | "authenticate", Some(sasl2)) => {
                let mech = e
                    .attr("mechanism")
                    .map(|m| m.into_owned())
                    .unwrap_or_default();
                let initial = if sasl2 {
                    child(e, "initial-response")
                        .map(|c| decode_payload(c.text().trim()).unwrap_or_default())
                } else {
                    Some(payload(e))
                };
                let bind2 = child(e, "bind").is_some();
                let mut config =
                    SaslServerConfig::new(vec![self.setup.login.mechanism()], b"peer".to_vec());
                config.scram_iterations = NonZeroU32::new(4096).expect("non-zero");
                config.encrypted = true;
                let nonce = Nonce::new("3rfcNHYJY1ZVvWVs7j").expect("a nonce");
                let mut server = SaslServer::new(config, nonce);
                let step = server.start(&mech, initial.as_deref());
                self.sasl = Some((server, sasl2, bind2));
                self.sasl_step(step, sasl2);
            }
            ("response", Some(sasl2)) => {
                let data = payload(e);
                let Some((server, _, _)) = self.sasl.as_mut() else {
                    return;
                };
                let step = server.on_response(&data);
                self.sasl_step(step, sasl2);
            }
            ("iq", _) if child(e, "bind").is_some() => {
                let id = e.attr("id").map(|i| i.into_owned()).unwrap_or_default();
                self.bind_id = id.clone();
                self.queue.push_back(format!("<iq type='result' id='{id}'><bind xmlns='{BIND}'><jid>juliet@example.com/balcony</jid></bind></iq>").into_bytes());
            }
            ("iq", _) if e.attr("type").as_deref() == Some("get") => {
                let id = e.attr("id").map(|i| i.into_owned()).unwrap_or_default();
                self.queue
                    .push_back(format!("<iq type='result' id='{id}'/>").into_bytes());
            }
            ("enable", _) if e.ns() == SM => {
                self.received = 0;
                self.queue.push_back(
                    format!("<enabled xmlns='{SM}' id='sm1' resume='true' max='60'/>").into_bytes(),
                );
            }
            ("r", _) if e.ns() == SM => {
                let h = self.received;
                self.queue
                    .push_back(format!("<a xmlns='{SM}' h='{h}'/>").into_bytes());
            }
            ("message" | "presence", _) => self.received = self.received.wrapping_add(1),
            _ => {}
        }
    }

    fn observe_header(&mut self, _: &View) {
        // The client opened (or restarted) its stream: the server answers.
        self.answer_header(&Header::RIGHT, true);
    }

    fn on_event(&mut self, ev: &ClientEvent) -> Milestone {
        match ev {
            ClientEvent::StreamOpened => return Milestone::Opened,
            ClientEvent::TlsRequested => self.asks.push_back(Ask::Tls),
            ClientEvent::Authenticated(_) => {
                self.authed = true;
                return Milestone::Authenticated;
            }
            ClientEvent::Sasl2Continue(_) => self.asks.push_back(Ask::Continue),
            ClientEvent::Sasl2TaskData(_) => self.asks.push_back(Ask::Task),
            ClientEvent::Online(_) | ClientEvent::Resumed(_) => {
                self.online = true;
                return Milestone::Online;
            }
            ClientEvent::Closed(_) => return Milestone::Closed,
            _ => {}
        }
        Milestone::None
    }

    fn next(&mut self, _: &View) -> Move<ClientAction> {
        if !self.opened {
            return Move::Act(ClientAction::Open);
        }
        if let Some(ask) = self.asks.pop_front() {
            return Move::Act(match ask {
                Ask::Tls => ClientAction::Tls(false),
                Ask::Continue => ClientAction::Sasl2Next,
                _ => ClientAction::TaskData,
            });
        }
        if let Some(bytes) = self.queue.pop_front() {
            return Move::Peer(bytes);
        }
        if self.online {
            self.n += 1;
            return Move::Peer(
                c2s_stanza(
                    C2sStanza::Message,
                    " from='romeo@example.net/orchard'",
                    "juliet@example.com/balcony",
                    self.n,
                )
                .into_bytes(),
            );
        }
        Move::Idle
    }

    fn check_limits(&mut self) {
        check_unacked(self.core.unacked(), self.core.is_closed());
    }
}

/// The `client_grammar` target; returns whether the session got online.
pub fn client_grammar(data: &[u8]) -> bool {
    let Some(script) = decode::<C2sSetup, ClientItem, ClientAction>(data) else {
        return false;
    };
    let mut role = ClientRole::new(script.setup);
    run(&mut role, script.setup.websocket, &script.steps)
}
