//! The `client` role: [`xmpp_sansio::client::Client`] driven by a vector.
//!
//! Config keys (VECTORS.md "Config"): `jid`, `password`, `resource`, `mechanisms`, `tls`,
//! `allow_plain_without_tls`, `client_nonce`, `lang`, `response_timeout_ms`, `keepalive_ms`,
//! `max_stanza_bytes`, `max_depth`, `extensions` (`"sm"`: XEP-0198 acknowledgements), and the
//! extensions of `vectors/README.md` (`max_attributes`, `max_name_bytes`,
//! `max_header_bytes`, `scram_max_iterations`, `effective_lang`, `ack_request_every`,
//! `ack_request_after_ms`, `max_unacked_stanzas`, `max_unacked_bytes`, `sm_resume` and the
//! `[config.resume]` table: see `resumption_state`; `framing`: WebSocket, RFC 7395, with
//! the event `see-other-uri`; `extensions` `"sasl2"` and `"bind2"` with `bind2_tag` and the
//! `[config.user_agent]` table). Time is a virtual clock that only `tick` moves.

use std::collections::VecDeque;

use xmpp_sansio::client::{
    Client, ClientConfig, ClientError, ClientEvent, CloseReason, FastToken, ResumptionState,
    UserAgent,
};
use xmpp_sansio::jid::BareJid;
use xmpp_sansio::sasl::{CbType, ChannelBinding, Mechanism, decode_payload};
use xmpp_sansio::xml::{Element, parse_element};

use crate::role::{
    Action, ArgKind, Clock, ConfigError, CoreUnderTest, Role, Unsupported, Value, VectorEvent,
    config_error, drain_messages, drain_output, framing, unsupported_key,
};
use crate::vector::Config;

/// The `client` role.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClientRole;

impl Role for ClientRole {
    fn name(&self) -> &str {
        "client"
    }

    fn event_arg(&self, name: &str) -> Option<ArgKind> {
        match name {
            "stream-opened" | "tls-requested" | "closed" => Some(ArgKind::None),
            "authenticated" | "sasl-failure" | "online" | "peer-stream-error" | "abandoned"
            | "acked" | "resumed" | "resume-failed" | "see-other-uri" => Some(ArgKind::Plain),
            "sm-enabled" => Some(ArgKind::None),
            "sasl2-continue" | "fast-token" => Some(ArgKind::Plain),
            "sasl2-task-data" => Some(ArgKind::Xml),
            // `sm-failed` alone, or with the stanza error condition of `<failed/>`.
            "sm-failed" => Some(ArgKind::OptionalPlain),
            "stanza" => Some(ArgKind::Xml),
            _ => None,
        }
    }

    fn check_action(&self, action: &Action) -> Result<(), Unsupported> {
        match action.name.as_str() {
            "open" | "close" | "eof" | "auth" | "send" | "tick" | "tls-established"
            | "request-ack" | "sasl2-next" | "sasl2-task-data" | "direct-tls" => Ok(()),
            other => Err(Unsupported(format!("action {other} (role client)"))),
        }
    }

    fn start(&self, config: &Config) -> Result<Box<dyn CoreUnderTest>, crate::role::ConfigError> {
        let jid = config
            .get("jid")
            .ok_or_else(|| config_error("jid", "required"))?;
        let jid: BareJid = jid
            .value
            .as_str()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| config_error("jid", "expected a bare JID"))?;
        let mut effective_lang = false;
        let mut resume = None;
        let mut c = ClientConfig::new(jid, "");
        c.password = None;
        // Bind 2 only when a vector lists it.
        c.bind2 = false;
        for entry in &config.entries {
            let v = Value {
                key: entry.key.as_str(),
                value: &entry.value,
            };
            match v.key {
                "jid" => {}
                "effective_lang" => effective_lang = v.boolean()?,
                "password" => c.password = Some(v.text()?.to_owned()),
                "resource" => c.resource = Some(v.text()?.to_owned()),
                "lang" => c.lang = v.text()?.to_owned(),
                "client_nonce" => c.client_nonce = Some(v.text()?.to_owned()),
                "scram_max_iterations" => {
                    c.scram_max_iterations = u32::try_from(v.number()?).unwrap_or(u32::MAX)
                }
                "tls" => c.tls = v.tls()?,
                "framing" => c.framing = framing(&v)?,
                "allow_plain_without_tls" => c.allow_plain_without_tls = v.boolean()?,
                "mechanisms" => c.mechanisms = v.mechanisms()?,
                "extensions" => {
                    for ext in v.strings()? {
                        match ext {
                            "sm" => c.stream_management = true,
                            "sasl2" => c.sasl2 = true,
                            "bind2" => c.bind2 = true,
                            "fast" => c.fast_request_token = true,
                            other => {
                                return Err(config_error(
                                    "extensions",
                                    format!("{other:?} is not an extension of the client role"),
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
                "sm_resume" => c.resumption = v.boolean()?,
                "resume" => resume = Some(resumption_state(&v)?),
                "bind2_tag" => c.bind2_tag = Some(v.text()?.to_owned()),
                "user_agent" => c.user_agent = Some(user_agent(&v)?),
                "fast_token" => c.fast_token = Some(fast_token(&v)?),
                "fast_count" => c.fast_count = Some(u32::try_from(v.number()?).unwrap_or(u32::MAX)),
                "fast_invalidate" => c.fast_invalidate = v.boolean()?,
                "downgrade_protection" => c.downgrade_protection = v.boolean()?,
                "response_timeout_ms" => c.response_timeout = v.millis()?,
                "keepalive_ms" => {
                    let d = v.millis()?;
                    c.keepalive = (!d.is_zero()).then_some(d);
                }
                _ if v.common(&mut c.limits)? => {}
                key => return Err(unsupported_key(key, v.value, "client")),
            }
        }
        let clock = Clock::new();
        let websocket = c.framing.is_websocket();
        let mut client = Client::new(c, 1, clock.now());
        if let Some(state) = resume {
            client
                .resume_from(state)
                .map_err(|e| config_error("resume", e.to_string()))?;
        }
        Ok(Box::new(ClientCore {
            client,
            clock,
            events: VecDeque::new(),
            effective_lang,
            websocket,
        }))
    }
}

struct ClientCore {
    client: Client,
    clock: Clock,
    events: VecDeque<VectorEvent>,
    /// Config `effective_lang` (vectors/README.md): `stanza` events show the language the
    /// embedder reads with `Client::stanza_lang` as the stanza's `xml:lang`.
    effective_lang: bool,
    /// Config `framing = "websocket"`: output is checked message by message.
    websocket: bool,
}

impl ClientCore {
    fn collect(&mut self) {
        while let Some(ev) = self.client.poll_event() {
            let plain = VectorEvent::plain;
            let mut redirected = None;
            let event = match ev {
                ClientEvent::StreamOpened => VectorEvent::bare("stream-opened"),
                ClientEvent::TlsRequested => VectorEvent::bare("tls-requested"),
                ClientEvent::Authenticated(jid) => plain("authenticated", jid.to_string()),
                ClientEvent::SaslFailure(f) => plain(
                    "sasl-failure",
                    f.condition
                        .map_or("undefined-condition", |c| c.as_str())
                        .to_owned(),
                ),
                ClientEvent::Online(jid) => plain("online", jid.to_string()),
                ClientEvent::Stanza(s) => match self.client.stanza_lang(&s) {
                    Some(lang) if self.effective_lang && s.lang().is_none() => {
                        VectorEvent::stanza(&s.element().with_lang(&lang))
                    }
                    _ => VectorEvent::stanza(s.element()),
                },
                // Only with `nonza_namespaces` or extra features, which no vector sets (an
                // event name outside VECTORS.md, so that it never passes for another).
                ClientEvent::Nonza(el) => VectorEvent::element("nonza", &el),
                ClientEvent::StreamManagementEnabled => VectorEvent::bare("sm-enabled"),
                ClientEvent::StreamManagementFailed(None) => VectorEvent::bare("sm-failed"),
                ClientEvent::StreamManagementFailed(Some(c)) => {
                    plain("sm-failed", c.as_str().to_owned())
                }
                ClientEvent::Acked(n) => plain("acked", n.to_string()),
                ClientEvent::Sasl2Continue(tasks) => plain("sasl2-continue", tasks.join(" ")),
                ClientEvent::Sasl2TaskData(el) => VectorEvent::element("sasl2-task-data", &el),
                ClientEvent::FastToken(t) => plain(
                    "fast-token",
                    format!("{} {} {}", t.mechanism, t.secret, t.expiry),
                ),
                ClientEvent::Resumed(jid) => plain("resumed", jid.to_string()),
                ClientEvent::ResumeFailed { condition, unacked } => plain(
                    "resume-failed",
                    format!(
                        "{} {}",
                        condition.map_or("none", |c| c.as_str()),
                        unacked.len()
                    ),
                ),
                ClientEvent::PeerStreamError(e) => VectorEvent {
                    note: e
                        .see_other_host
                        .clone()
                        .map(|h| format!("see other host {h}")),
                    ..plain("peer-stream-error", e.condition.as_str().to_owned())
                },
                ClientEvent::Abandoned(a) => VectorEvent {
                    note: Some(format!("{a:?}")),
                    ..plain("abandoned", a.as_str().to_owned())
                },
                ClientEvent::Closed(CloseReason::Redirected(uri)) => {
                    redirected = Some(plain("see-other-uri", uri.to_string()));
                    VectorEvent::bare("closed")
                }
                ClientEvent::Closed(reason) => VectorEvent {
                    note: Some(reason.to_string()),
                    ..VectorEvent::bare("closed")
                },
                // An event this runner does not know yet (the enums are non-exhaustive): a
                // name outside VECTORS.md, so that it never passes for another.
                other => VectorEvent {
                    note: Some(format!("{other:?}")),
                    ..VectorEvent::bare("unknown-event")
                },
            };
            // RFC 7395 section 3.6.1: the endpoint the server named, before `closed`.
            self.events.extend(redirected);
            self.events.push_back(event);
        }
    }
}

/// The `[config.resume]` table (vectors/README.md): the state of a session to resume,
/// as the previous session's embedder kept it: `previd`, `jid` (the full JID it was bound
/// to), `h` (the handled count), `acked` (the peer's last `h`), `unacked` (the stanzas the
/// peer had not acknowledged, each as sent, oldest first), and optionally `location` and
/// `max`.
pub(crate) fn resumption_state(v: &Value<'_>) -> Result<ResumptionState, ConfigError> {
    let key = v.key;
    let table = v
        .value
        .as_table()
        .ok_or_else(|| config_error(key, "expected a table"))?;
    for k in table.keys() {
        if !["previd", "jid", "h", "acked", "unacked", "location", "max"].contains(&k.as_str()) {
            return Err(config_error(key, format!("unknown key {k}")));
        }
    }
    let text = |k: &str| table.get(k).and_then(|t| t.as_str());
    let count = |k: &str| {
        table
            .get(k)
            .map(|n| {
                n.as_integer()
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| config_error(key, format!("{k}: expected a 32-bit count")))
            })
            .transpose()
    };
    let unacked = match table.get("unacked") {
        None => Vec::new(),
        Some(list) => list
            .as_array()
            .and_then(|l| {
                l.iter()
                    .map(|s| {
                        s.as_str()
                            .map(|s| xmpp_sansio::bytes::Bytes::from(s.to_owned()))
                    })
                    .collect::<Option<Vec<_>>>()
            })
            .ok_or_else(|| config_error(key, "unacked: expected an array of strings"))?,
    };
    Ok(ResumptionState {
        id: text("previd")
            .ok_or_else(|| config_error(key, "previd: required"))?
            .to_owned(),
        jid: text("jid")
            .and_then(|j| j.parse().ok())
            .ok_or_else(|| config_error(key, "jid: a full JID is required"))?,
        handled: count("h")?.unwrap_or(0),
        acked: count("acked")?.unwrap_or(0),
        unacked,
        location: text("location").map(str::to_owned),
        max: count("max")?,
    })
}

/// The `[config.user_agent]` table (vectors/README.md): `id` (required), `software`,
/// `device`.
fn user_agent(v: &Value<'_>) -> Result<UserAgent, ConfigError> {
    let key = v.key;
    let table = v
        .value
        .as_table()
        .ok_or_else(|| config_error(key, "expected a table"))?;
    for k in table.keys() {
        if !["id", "software", "device"].contains(&k.as_str()) {
            return Err(config_error(key, format!("unknown key {k}")));
        }
    }
    let text = |k: &str| table.get(k).and_then(|t| t.as_str()).map(str::to_owned);
    Ok(UserAgent {
        id: text("id").ok_or_else(|| config_error(key, "id: required"))?,
        software: text("software"),
        device: text("device"),
    })
}

/// The `[config.fast_token]` table (vectors/README.md): `mechanism`, `token`, `expiry`.
pub(crate) fn fast_token(v: &Value<'_>) -> Result<FastToken, ConfigError> {
    let key = v.key;
    let table = v
        .value
        .as_table()
        .ok_or_else(|| config_error(key, "expected a table"))?;
    for k in table.keys() {
        if !["mechanism", "token", "expiry"].contains(&k.as_str()) {
            return Err(config_error(key, format!("unknown key {k}")));
        }
    }
    let text = |k: &str| table.get(k).and_then(|t| t.as_str()).map(str::to_owned);
    Ok(FastToken {
        mechanism: text("mechanism")
            .and_then(|m| m.parse().ok())
            .ok_or_else(|| config_error(key, "mechanism: a Hashed Token mechanism is required"))?,
        secret: text("token").ok_or_else(|| config_error(key, "token: required"))?,
        expiry: text("expiry").unwrap_or_default(),
    })
}

/// The optional payload of `sasl2-next` and `sasl2-task-data`: one element in its own
/// namespace.
pub(crate) fn task_payload(xml: &str) -> Result<Vec<Element>, Unsupported> {
    if xml.is_empty() {
        return Ok(Vec::new());
    }
    parse_element("urn:xmpp:sasl:2", xml.as_bytes())
        .map(|el| vec![el])
        .map_err(|e| Unsupported(format!("task data: not one complete element ({e}): {xml}")))
}

/// Parses one stanza written in a vector, in a `jabber:client` stream.
pub(crate) fn stanza(xml: &str) -> Result<Element, Unsupported> {
    stanza_in(xml, "jabber:client")
}

/// Parses one stanza written in a vector, in a stream whose default namespace is `ns`.
pub(crate) fn stanza_in(xml: &str, ns: &str) -> Result<Element, Unsupported> {
    parse_element(ns, xml.as_bytes())
        .map_err(|e| Unsupported(format!("send: not one complete element ({e}): {xml}")))
}

/// The optional `<cb-type> <cb-data-base64>` of `tls-established`.
pub(crate) fn channel_binding(args: &str) -> Result<Option<ChannelBinding>, Unsupported> {
    let Some((kind, data)) = args.split_once(' ') else {
        return if args.is_empty() {
            Ok(None)
        } else {
            Err(Unsupported("tls-established <cb-type> <base64>".into()))
        };
    };
    let kind = match kind {
        "tls-exporter" => CbType::TlsExporter,
        "tls-server-end-point" => CbType::TlsServerEndPoint,
        "tls-unique" => CbType::TlsUnique,
        other => return Err(Unsupported(format!("channel binding type {other}"))),
    };
    let data = decode_payload(data.trim())
        .map_err(|_| Unsupported("tls-established: channel binding data is not base64".into()))?;
    Ok(Some(ChannelBinding::new(kind, data)))
}

/// The core refused an action. On a closed stream that is VECTORS.md's "nothing happens
/// once closed", not a failure of the vector.
fn refused(action: &Action, e: ClientError) -> Result<(), Unsupported> {
    match e {
        // A late answer, and a stanza larger than the server accepts (XEP-0478): the core
        // sends nothing, which the vector's next steps show (vectors/README.md).
        // So is an iq that breaks RFC 6120 section 8.2.3 (`ClientError::InvalidIq`).
        // And so is `request-ack` without stream management enabled.
        ClientError::StreamEnded
        | ClientError::StanzaTooLarge { .. }
        | ClientError::InvalidIq(_)
        | ClientError::StreamManagementNotEnabled
        | ClientError::UnackedQueueFull => Ok(()),
        e => Err(Unsupported(format!(
            "action {} refused by the core: {e}",
            action.name
        ))),
    }
}

impl CoreUnderTest for ClientCore {
    fn feed(&mut self, bytes: &[u8]) {
        // Input while TLS is being set up is misuse: discarded, nothing reported.
        let _ = self.client.handle_input(self.clock.now(), bytes);
        self.collect();
    }

    fn act(&mut self, action: &Action) -> Result<(), Unsupported> {
        let args = action.args.trim();
        let now = self.clock.now();
        match action.name.as_str() {
            "open" => self.client.open(now).or_else(|e| refused(action, e))?,
            "close" => self.client.close(now),
            "eof" => self.client.handle_eof(),
            "tick" => {
                let now = self.clock.tick(args)?;
                self.client.handle_timeout(now);
            }
            "auth" => {
                let mechanism = if args.is_empty() {
                    None
                } else {
                    Some(
                        args.parse::<Mechanism>()
                            .map_err(|_| Unsupported(format!("auth: unknown mechanism {args}")))?,
                    )
                };
                self.client
                    .auth(now, mechanism)
                    .or_else(|e| refused(action, e))?;
            }
            "send" => {
                let el = stanza(args)?;
                self.client.send(now, &el).or_else(|e| refused(action, e))?;
            }
            "request-ack" => self
                .client
                .request_ack(now)
                .or_else(|e| refused(action, e))?,
            "sasl2-next" => {
                let (task, payload) = args.split_once(' ').unwrap_or((args, ""));
                let payload = task_payload(payload.trim())?;
                self.client
                    .sasl2_next(now, task, &payload)
                    .or_else(|e| refused(action, e))?;
            }
            "sasl2-task-data" => {
                let payload = task_payload(args)?;
                self.client
                    .sasl2_task_data(now, &payload)
                    .or_else(|e| refused(action, e))?;
            }
            "direct-tls" => {
                // `[<cb-type> <cb-data-base64>] [client-cert]`, before `open` (XEP-0368).
                let (args, client_cert) = match args.strip_suffix("client-cert") {
                    Some(rest) => (rest.trim_end(), true),
                    None => (args, false),
                };
                let cb = channel_binding(args)?;
                self.client
                    .direct_tls(cb, client_cert)
                    .or_else(|e| refused(action, e))?;
            }
            "tls-established" => {
                // `[<cb-type> <cb-data-base64>] [client-cert]`
                let (args, client_cert) = match args.strip_suffix("client-cert") {
                    Some(rest) => (rest.trim_end(), true),
                    None => (args, false),
                };
                let cb = channel_binding(args)?;
                let result = if client_cert {
                    self.client.tls_established_with_client_cert(now, cb)
                } else {
                    self.client.tls_established(now, cb)
                };
                result.or_else(|e| refused(action, e))?;
            }
            other => return Err(Unsupported(format!("action {other} (role client)"))),
        }
        self.collect();
        Ok(())
    }

    fn poll_event(&mut self) -> Option<VectorEvent> {
        self.events.pop_front()
    }

    fn take_output(&mut self) -> Vec<u8> {
        if self.websocket {
            let client = &mut self.client;
            return drain_messages(|| client.poll_transmit(), &mut self.events);
        }
        drain_output(|| self.client.poll_transmit())
    }
}
