//! The `server` role: [`xmpp_sansio::server::Server`] driven by a vector.
//!
//! Actions: VECTORS.md's for the role, `external <jid>` and `external-refuse` included;
//! `credentials` grants no authzid but the user's own bare JID (vectors/README.md).
//!
//! Config keys (VECTORS.md "Config"): `domain`, `stream_id`, `lang`, `tls`,
//! `allow_plain_without_tls`, `mechanisms`, `server_nonce`, `users`, `response_timeout_ms`,
//! `max_stanza_bytes`, `max_depth`, `extensions` (`"stream-limits"`, `"sm"`, `"sasl2"`, `"bind2"`, with
//! `sasl2_tasks`), and the
//! extensions of `vectors/README.md` (`max_attributes`, `max_name_bytes`,
//! `max_header_bytes`, `max_auth_attempts`, `max_bind_attempts`, `ack_request_every`, `ack_request_after_ms`,
//! `max_unacked_stanzas`, `max_unacked_bytes`, `sm_resume` (the `max` offered, in seconds)
//! and the `[config.resume]` table: the state the embedder holds for `resume`; `framing`:
//! WebSocket, RFC 7395, with the action `close-see-other-uri`). Time is a virtual clock
//! that only `tick` moves.

use std::collections::{BTreeMap, VecDeque};
use std::num::NonZeroU32;

use xmpp_sansio::error::{SaslFailureCondition, StanzaErrorCondition};
use xmpp_sansio::sasl::{Mechanism, StoredScram, UserCredential, decode_payload};
use xmpp_sansio::server::{FastToken, HtMechanism, Server, ServerConfig, ServerError, ServerEvent};

use crate::client::{channel_binding, stanza};
use crate::role::{
    Action, ArgKind, Clock, ConfigError, CoreUnderTest, Role, Unsupported, Value, VectorEvent,
    config_error, drain_messages, drain_output, framing, unsupported_key,
};
use crate::vector::Config;

/// The `server` role.
#[derive(Debug, Clone, Copy, Default)]
pub struct ServerRole;

/// One entry of `config.users`.
#[derive(Debug, Clone)]
struct User {
    password: String,
    salt: Option<Vec<u8>>,
    iterations: Option<NonZeroU32>,
}

fn users(value: &toml::Value) -> Result<BTreeMap<String, User>, ConfigError> {
    let table = value
        .as_table()
        .ok_or_else(|| config_error("users", "expected a table"))?;
    let mut out = BTreeMap::new();
    for (name, entry) in table {
        let bad = |m: &str| config_error("users", format!("user {name}: {m}"));
        let entry = entry.as_table().ok_or_else(|| bad("expected a table"))?;
        let password = entry
            .get("password")
            .and_then(|p| p.as_str())
            .ok_or_else(|| bad("password (a string) is required"))?
            .to_owned();
        let salt = match entry.get("salt") {
            None => None,
            Some(s) => Some(
                s.as_str()
                    .and_then(|s| decode_payload(s).ok())
                    .ok_or_else(|| bad("salt must be base64"))?,
            ),
        };
        let iterations = match entry.get("iterations") {
            None => None,
            Some(i) => Some(
                i.as_integer()
                    .and_then(|i| u32::try_from(i).ok())
                    .and_then(NonZeroU32::new)
                    .ok_or_else(|| bad("iterations must be a positive integer"))?,
            ),
        };
        for key in entry.keys() {
            if !matches!(key.as_str(), "password" | "salt" | "iterations") {
                return Err(bad(&format!("unknown key {key}")));
            }
        }
        out.insert(
            name.clone(),
            User {
                password,
                salt,
                iterations,
            },
        );
    }
    Ok(out)
}

impl Role for ServerRole {
    fn name(&self) -> &str {
        "server"
    }

    fn event_arg(&self, name: &str) -> Option<ArgKind> {
        match name {
            "stream-opened" | "tls-requested" | "closed" => Some(ArgKind::None),
            "auth-request" | "authenticated" | "online" | "peer-stream-error" | "acked"
            | "resume-request" | "resumed" => Some(ArgKind::Plain),
            "sm-enabled" => Some(ArgKind::None),
            "sasl2-task" | "fast-auth-request" | "fast-token-request" => Some(ArgKind::Plain),
            "sasl2-task-data" => Some(ArgKind::Xml),
            "bind-request" | "external-request" => Some(ArgKind::OptionalPlain),
            "stanza" => Some(ArgKind::Xml),
            _ => None,
        }
    }

    fn check_action(&self, action: &Action) -> Result<(), Unsupported> {
        match action.name.as_str() {
            "tls-established"
            | "credentials"
            | "credentials-unknown"
            | "external"
            | "external-refuse"
            | "bind"
            | "reject-bind"
            | "request-ack"
            | "resume"
            | "resume-unknown"
            | "sasl2-task-data"
            | "sasl2-task-done"
            | "sasl2-task-failed"
            | "direct-tls"
            | "fast-credentials"
            | "fast-credentials-rotating"
            | "fast-credentials-unknown"
            | "fast-refuse"
            | "issue-fast-token"
            | "send"
            | "close"
            | "close-see-other-uri"
            | "tick"
            | "eof" => Ok(()),
            other => Err(Unsupported(format!("action {other} (role server)"))),
        }
    }

    fn start(&self, config: &Config) -> Result<Box<dyn CoreUnderTest>, ConfigError> {
        let domain = config
            .get("domain")
            .and_then(|d| d.value.as_str())
            .ok_or_else(|| config_error("domain", "required (a string)"))?;
        let mut c = ServerConfig::new(domain, b"conformance".to_vec());
        // Optional protocol extensions stay off unless the vector lists them (VECTORS.md).
        c.advertise_limits = false;
        c.bind2 = false;
        let mut user_table = BTreeMap::new();
        let mut resume = None;
        for entry in &config.entries {
            let v = Value {
                key: entry.key.as_str(),
                value: &entry.value,
            };
            match v.key {
                "domain" => {}
                "stream_id" => c.stream_id = Some(v.text()?.to_owned()),
                "lang" => c.lang = v.text()?.to_owned(),
                "server_nonce" => c.server_nonce = Some(v.text()?.to_owned()),
                "tls" => c.tls = v.tls()?,
                "framing" => c.framing = framing(&v)?,
                "allow_plain_without_tls" => c.allow_plain_without_tls = v.boolean()?,
                "mechanisms" => c.mechanisms = v.mechanisms()?,
                "users" => user_table = users(v.value)?,
                "response_timeout_ms" => c.response_timeout = v.millis()?,
                "max_auth_attempts" => {
                    c.max_auth_attempts = u32::try_from(v.number()?).unwrap_or(u32::MAX)
                }
                "max_bind_attempts" => {
                    c.max_bind_attempts = u32::try_from(v.number()?).unwrap_or(u32::MAX)
                }
                "extensions" => {
                    for ext in v.strings()? {
                        match ext {
                            "stream-limits" => c.advertise_limits = true,
                            "sm" => c.stream_management = true,
                            "sasl2" => c.sasl2 = true,
                            "bind2" => c.bind2 = true,
                            "fast" => c.fast = HtMechanism::ALL.to_vec(),
                            "ssdp" => c.downgrade_protection = true,
                            other => {
                                return Err(config_error(
                                    "extensions",
                                    format!("{other:?} is not an extension of the server role"),
                                ));
                            }
                        }
                    }
                }
                "ack_request_every" => {
                    c.ack_request_every = u32::try_from(v.number()?).unwrap_or(u32::MAX)
                }
                "ack_request_after_ms" => c.ack_request_after = Some(v.millis()?),
                "max_unacked_stanzas" => {
                    c.unacked_limits.max_stanzas = u32::try_from(v.number()?).unwrap_or(u32::MAX)
                }
                "max_unacked_bytes" => {
                    c.unacked_limits.max_bytes = usize::try_from(v.number()?).unwrap_or(usize::MAX)
                }
                "sm_resume" => c.resumption = Some(u32::try_from(v.number()?).unwrap_or(u32::MAX)),
                "resume" => resume = Some(crate::client::resumption_state(&v)?),
                "fast_mechanisms" => {
                    c.fast = v
                        .strings()?
                        .into_iter()
                        .map(|m| {
                            m.parse()
                                .map_err(|_| config_error("fast_mechanisms", format!("{m}?")))
                        })
                        .collect::<Result<_, _>>()?
                }
                "sasl2_tasks" => {
                    c.sasl2_tasks = v.strings()?.into_iter().map(str::to_owned).collect()
                }
                "max_stanza_bytes_before_auth" => {
                    c.pre_auth_limits.max_element_bytes =
                        usize::try_from(v.number()?).unwrap_or(usize::MAX);
                }
                _ if v.common(&mut c.limits)? => {}
                key => return Err(unsupported_key(key, v.value, "server")),
            }
        }
        let scram = c.mechanisms.iter().any(|m| m.is_scram());
        if scram {
            if let Some((name, _)) = user_table
                .iter()
                .find(|(_, u)| u.salt.is_none() || u.iterations.is_none())
            {
                return Err(config_error(
                    "users",
                    format!("user {name}: salt and iterations are required with SCRAM"),
                ));
            }
        }
        let clock = Clock::new();
        let websocket = c.framing.is_websocket();
        Ok(Box::new(ServerCore {
            websocket,
            server: Server::new(c, 1, clock.now()),
            users: user_table,
            mechanism: None,
            resume,
            clock,
            events: VecDeque::new(),
        }))
    }
}

struct ServerCore {
    server: Server,
    users: BTreeMap<String, User>,
    /// The mechanism of the last `auth-request`, to build the right credential.
    mechanism: Option<Mechanism>,
    /// Config `[config.resume]`: the detached state the `resume` action gives.
    resume: Option<xmpp_sansio::server::ResumptionState>,
    clock: Clock,
    events: VecDeque<VectorEvent>,
    /// Config `framing = "websocket"`: output is checked message by message.
    websocket: bool,
}

impl ServerCore {
    fn collect(&mut self) {
        while let Some(ev) = self.server.poll_event() {
            let plain = VectorEvent::plain;
            self.events.push_back(match ev {
                ServerEvent::StreamOpened => VectorEvent::bare("stream-opened"),
                ServerEvent::TlsRequested => VectorEvent::bare("tls-requested"),
                ServerEvent::AuthRequest {
                    mechanism, authcid, ..
                } => {
                    self.mechanism = Some(mechanism);
                    plain("auth-request", format!("{} {authcid}", mechanism.name()))
                }
                ServerEvent::ExternalRequest { authzid: None } => {
                    VectorEvent::bare("external-request")
                }
                ServerEvent::ExternalRequest {
                    authzid: Some(authzid),
                } => plain("external-request", authzid),
                ServerEvent::Authenticated(jid) => plain("authenticated", jid.to_string()),
                ServerEvent::BindRequest { resource: None, .. } => {
                    VectorEvent::bare("bind-request")
                }
                ServerEvent::BindRequest {
                    resource: Some(r), ..
                } => plain("bind-request", r),
                ServerEvent::Online(jid) => plain("online", jid.to_string()),
                ServerEvent::Stanza(s) => VectorEvent::stanza(s.element()),
                // Only with `nonza_namespaces` or extra features, which no vector sets (an
                // event name outside VECTORS.md, so that it never passes for another).
                ServerEvent::Nonza(el) => VectorEvent::element("nonza", &el),
                ServerEvent::StreamManagementEnabled => VectorEvent::bare("sm-enabled"),
                ServerEvent::Acked(n) => plain("acked", n.to_string()),
                ServerEvent::Sasl2Task(task) => plain("sasl2-task", task),
                ServerEvent::FastAuthRequest {
                    authcid,
                    mechanism,
                    count,
                    invalidate,
                } => {
                    let mut arg = format!("{authcid} {mechanism}");
                    if let Some(n) = count {
                        arg.push_str(&format!(" count={n}"));
                    }
                    if invalidate {
                        arg.push_str(" invalidate");
                    }
                    plain("fast-auth-request", arg)
                }
                ServerEvent::FastTokenRequest { mechanism, .. } => {
                    plain("fast-token-request", mechanism.to_string())
                }
                ServerEvent::Sasl2TaskData(el) => VectorEvent::element("sasl2-task-data", &el),
                ServerEvent::ResumeRequest { previd, .. } => plain("resume-request", previd),
                ServerEvent::Resumed(jid) => plain("resumed", jid.to_string()),
                ServerEvent::PeerStreamError(e) => {
                    plain("peer-stream-error", e.condition.as_str().to_owned())
                }
                ServerEvent::Closed(reason) => VectorEvent {
                    note: Some(reason.to_string()),
                    ..VectorEvent::bare("closed")
                },
                // An event this runner does not know yet (the enums are non-exhaustive): a
                // name outside VECTORS.md, so that it never passes for another.
                other => VectorEvent {
                    note: Some(format!("{other:?}")),
                    ..VectorEvent::bare("unknown-event")
                },
            });
        }
    }
}

/// The core refused an action. On a closed stream that is VECTORS.md's "nothing happens
/// once closed", not a failure of the vector.
fn refused(action: &Action, e: ServerError) -> Result<(), Unsupported> {
    match e {
        // An iq that breaks RFC 6120 section 8.2.3: the core sends nothing, which the
        // vector's next steps show (vectors/README.md).
        // So is `request-ack` without stream management enabled.
        ServerError::StreamEnded
        | ServerError::InvalidIq(_)
        | ServerError::StreamManagementNotEnabled
        | ServerError::UnackedQueueFull => Ok(()),
        e => Err(Unsupported(format!(
            "action {} refused by the core: {e}",
            action.name
        ))),
    }
}

impl CoreUnderTest for ServerCore {
    fn feed(&mut self, bytes: &[u8]) {
        // Input while TLS is being set up is misuse: discarded, nothing reported.
        let _ = self.server.handle_input(self.clock.now(), bytes);
        self.collect();
    }

    fn act(&mut self, action: &Action) -> Result<(), Unsupported> {
        let args = action.args.trim();
        let now = self.clock.now();
        match action.name.as_str() {
            "close" => self.server.close(now),
            "close-see-other-uri" => {
                if !self.server.close_see_other_uri(now, args) {
                    return Err(Unsupported(
                        "close-see-other-uri needs framing = \"websocket\"".into(),
                    ));
                }
            }
            "eof" => self.server.handle_eof(),
            "tick" => {
                let now = self.clock.tick(args)?;
                self.server.handle_timeout(now);
            }
            "tls-established" => {
                // `[<cb-type> <cb-data-base64>] [client-cert]`
                let (args, client_cert) = match args.strip_suffix("client-cert") {
                    Some(rest) => (rest.trim_end(), true),
                    None => (args, false),
                };
                let cb = channel_binding(args)?.into_iter().collect();
                let result = if client_cert {
                    self.server.tls_established_with_client_cert(now, cb)
                } else {
                    self.server.tls_established(now, cb)
                };
                result.or_else(|e| refused(action, e))?;
            }
            "credentials" => {
                let user = self.users.get(args).ok_or_else(|| {
                    Unsupported(format!("credentials: no user {args} in config.users"))
                })?;
                let credential = match self.mechanism.and_then(|m| m.scram_hash()) {
                    Some(hash) => match (&user.salt, user.iterations) {
                        (Some(salt), Some(iterations)) => UserCredential::Scram(
                            StoredScram::from_password(
                                &user.password,
                                salt.clone(),
                                iterations,
                                hash,
                            )
                            .map_err(|e| Unsupported(format!("credentials: {e}")))?,
                        ),
                        _ => UserCredential::Password(user.password.clone()),
                    },
                    None => UserCredential::Password(user.password.clone()),
                };
                // The user acts as itself: the core grants an authzid only when it is the
                // user's own bare JID (vectors/README.md, "Authorization identities").
                self.server
                    .credentials(now, credential)
                    .or_else(|e| refused(action, e))?;
            }
            "credentials-unknown" => {
                self.server
                    .credentials(now, UserCredential::Unknown)
                    .or_else(|e| refused(action, e))?;
            }
            "external" => {
                let jid = args
                    .parse()
                    .map_err(|_| Unsupported(format!("external: not a bare JID: {args}")))?;
                self.server
                    .external(now, jid)
                    .or_else(|e| refused(action, e))?;
            }
            "external-refuse" => {
                self.server
                    .refuse_external(now)
                    .or_else(|e| refused(action, e))?;
            }
            "bind" => {
                let jid = args
                    .parse()
                    .map_err(|_| Unsupported(format!("bind: not a full JID: {args}")))?;
                self.server.bind(now, jid).or_else(|e| refused(action, e))?;
            }
            "reject-bind" => {
                let condition: StanzaErrorCondition = args
                    .parse()
                    .map_err(|_| Unsupported(format!("reject-bind: unknown condition {args}")))?;
                self.server
                    .reject_bind(now, condition)
                    .or_else(|e| refused(action, e))?;
            }
            "send" => {
                let el = stanza(args)?;
                self.server.send(now, &el).or_else(|e| refused(action, e))?;
            }
            "request-ack" => self
                .server
                .request_ack(now)
                .or_else(|e| refused(action, e))?,
            "resume" => {
                let state = self.resume.take();
                self.server
                    .resume(now, state)
                    .or_else(|e| refused(action, e))?;
            }
            "resume-unknown" => self
                .server
                .resume(now, None)
                .or_else(|e| refused(action, e))?,
            "sasl2-task-data" => {
                let payload = crate::client::task_payload(args)?;
                self.server
                    .sasl2_task_data(now, &payload)
                    .or_else(|e| refused(action, e))?;
            }
            "fast-credentials" | "issue-fast-token" => {
                // `<mechanism> <token> [<expiry>]`
                let mut parts = args.split(' ');
                let token = match (parts.next(), parts.next()) {
                    (Some(m), Some(t)) => FastToken {
                        mechanism: m.parse().map_err(|_| {
                            Unsupported(format!("{}: unknown mechanism {m}", action.name))
                        })?,
                        secret: t.to_owned(),
                        expiry: parts.next().unwrap_or_default().to_owned(),
                    },
                    _ => {
                        return Err(Unsupported(format!(
                            "{} <mechanism> <token> [<expiry>]",
                            action.name
                        )));
                    }
                };
                if action.name == "fast-credentials" {
                    self.server.fast_credentials(now, Some(token))
                } else {
                    self.server.issue_fast_token(now, Some(token))
                }
                .or_else(|e| refused(action, e))?;
            }
            "direct-tls" => {
                // `[<cb-type> <cb-data-base64>] [client-cert]`, before any input (XEP-0368).
                let (args, client_cert) = match args.strip_suffix("client-cert") {
                    Some(rest) => (rest.trim_end(), true),
                    None => (args, false),
                };
                let cbs = channel_binding(args)?.into_iter().collect();
                self.server
                    .direct_tls(cbs, client_cert)
                    .or_else(|e| refused(action, e))?;
            }
            "fast-credentials-rotating" => {
                // `<mechanism> <token> <new-token> <new-expiry>`
                let parts: Vec<&str> = args.split(' ').collect();
                let [m, old, new, expiry] = parts[..] else {
                    return Err(Unsupported(
                        "fast-credentials-rotating <mechanism> <token> <new-token> <new-expiry>"
                            .into(),
                    ));
                };
                let mechanism: HtMechanism = m.parse().map_err(|_| {
                    Unsupported(format!("fast-credentials-rotating: unknown mechanism {m}"))
                })?;
                let token = |secret: &str, expiry: &str| FastToken {
                    mechanism,
                    secret: secret.to_owned(),
                    expiry: expiry.to_owned(),
                };
                self.server
                    .fast_credentials_rotating(now, Some(token(old, "")), token(new, expiry))
                    .or_else(|e| refused(action, e))?;
            }
            "fast-credentials-unknown" => self
                .server
                .fast_credentials(now, None)
                .or_else(|e| refused(action, e))?,
            "fast-refuse" => {
                let condition: SaslFailureCondition = args
                    .parse()
                    .map_err(|_| Unsupported(format!("fast-refuse: unknown condition {args}")))?;
                self.server
                    .fast_refuse(now, condition)
                    .or_else(|e| refused(action, e))?;
            }
            "sasl2-task-done" => self
                .server
                .sasl2_task_done(now)
                .or_else(|e| refused(action, e))?,
            "sasl2-task-failed" => {
                let condition: SaslFailureCondition = args.parse().map_err(|_| {
                    Unsupported(format!("sasl2-task-failed: unknown condition {args}"))
                })?;
                self.server
                    .sasl2_task_failed(now, condition)
                    .or_else(|e| refused(action, e))?;
            }
            other => return Err(Unsupported(format!("action {other} (role server)"))),
        }
        self.collect();
        Ok(())
    }

    fn poll_event(&mut self) -> Option<VectorEvent> {
        self.events.pop_front()
    }

    fn take_output(&mut self) -> Vec<u8> {
        if self.websocket {
            let server = &mut self.server;
            return drain_messages(|| server.poll_transmit(), &mut self.events);
        }
        drain_output(|| self.server.poll_transmit())
    }
}
