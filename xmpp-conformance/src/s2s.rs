//! The `s2s-out` and `s2s-in` roles: [`xmpp_sansio::s2s::S2sOut`] and
//! [`xmpp_sansio::s2s::S2sIn`] driven by a vector.
//!
//! Config keys (VECTORS.md "Config", and the extensions of `vectors/README.md`): `domain`
//! (required), `domains` (more local domains), `remote` (`s2s-out`: required, the peer's
//! domain; `s2s-in`: informative), `dialback_secret` (default `"conformance"`),
//! `stream_id` (`s2s-in`), `lang`, `tls`, `response_timeout_ms`, `keepalive_ms`, the limits
//! and `extensions` (only `[]`).
//!
//! Events: `stream-opened`, `tls-requested`, `authenticated <domain>`,
//! `external-request [<authzid>]`, `online <from> <to>`, `stanza <xml>`,
//! `dialback-verify-request <from> <to> <id> <key>`, `dialback-refused <from> <to>
//! <outcome>`, `verify-result <from> <to> <id> <outcome>` (an outcome is `valid`,
//! `invalid` or `error <condition>`), `peer-stream-error <condition>`,
//! `abandoned <reason>`, `closed`.
//!
//! Actions: `open` (`s2s-out`), `tls-established [client-cert]`, `external <domain>` and
//! `external-refuse` (`s2s-in`), `dialback-valid <from> <to>`, `dialback-invalid <from>
//! <to>`, `dialback-error <from> <to> <condition>` (`s2s-in`), `authorize <from> <to>`,
//! `verify <from> <to> <id> <key>` and `send <xml>` (`s2s-out`), `close`, `tick`, `eof`.

use std::collections::VecDeque;
use std::time::Duration;

use xmpp_sansio::dialback::DialbackSecret;
use xmpp_sansio::error::StanzaErrorCondition;
use xmpp_sansio::s2s::{
    DialbackOutcome, DomainPair, S2sConfig, S2sError, S2sEvent, S2sIn, S2sOut, VerifyRequest,
};
use xmpp_sansio::stanza::JABBER_SERVER;

use crate::client::stanza_in;
use crate::role::{
    Action, ArgKind, Clock, ConfigError, CoreUnderTest, Role, Unsupported, Value, VectorEvent,
    config_error, drain_output, unsupported_key,
};
use crate::vector::Config;

/// The `s2s-out` role.
#[derive(Debug, Clone, Copy, Default)]
pub struct S2sOutRole;

/// The `s2s-in` role.
#[derive(Debug, Clone, Copy, Default)]
pub struct S2sInRole;

fn event_arg(name: &str) -> Option<ArgKind> {
    match name {
        "stream-opened" | "tls-requested" | "closed" => Some(ArgKind::None),
        "authenticated"
        | "online"
        | "peer-stream-error"
        | "abandoned"
        | "dialback-refused"
        | "verify-result"
        | "dialback-verify-request" => Some(ArgKind::Plain),
        "external-request" => Some(ArgKind::OptionalPlain),
        "stanza" => Some(ArgKind::Xml),
        _ => None,
    }
}

fn check(action: &Action, role: &str, own: &[&str]) -> Result<(), Unsupported> {
    let common = ["tls-established", "close", "tick", "eof"];
    if common.contains(&action.name.as_str()) || own.contains(&action.name.as_str()) {
        Ok(())
    } else {
        Err(Unsupported(format!("action {} (role {role})", action.name)))
    }
}

const OUT_ACTIONS: &[&str] = &["open", "authorize", "verify", "send"];
const IN_ACTIONS: &[&str] = &[
    "external",
    "external-refuse",
    "dialback-valid",
    "dialback-invalid",
    "dialback-error",
];

impl Role for S2sOutRole {
    fn name(&self) -> &str {
        "s2s-out"
    }
    fn event_arg(&self, name: &str) -> Option<ArgKind> {
        event_arg(name)
    }
    fn check_action(&self, action: &Action) -> Result<(), Unsupported> {
        check(action, "s2s-out", OUT_ACTIONS)
    }
    fn start(&self, config: &Config) -> Result<Box<dyn CoreUnderTest>, ConfigError> {
        let (c, remote) = read_config(config, "s2s-out")?;
        let remote = remote.ok_or_else(|| config_error("remote", "required (a string)"))?;
        let clock = Clock::new();
        let pair = DomainPair::new(c.domains[0].clone(), remote);
        let out =
            S2sOut::new(c, pair, clock.now()).map_err(|e| config_error("domain", e.to_string()))?;
        Ok(Box::new(S2sCore {
            side: Side::Out(out),
            clock,
            events: VecDeque::new(),
        }))
    }
}

impl Role for S2sInRole {
    fn name(&self) -> &str {
        "s2s-in"
    }
    fn event_arg(&self, name: &str) -> Option<ArgKind> {
        event_arg(name)
    }
    fn check_action(&self, action: &Action) -> Result<(), Unsupported> {
        check(action, "s2s-in", IN_ACTIONS)
    }
    fn start(&self, config: &Config) -> Result<Box<dyn CoreUnderTest>, ConfigError> {
        let (c, _remote) = read_config(config, "s2s-in")?;
        let clock = Clock::new();
        Ok(Box::new(S2sCore {
            side: Side::In(S2sIn::new(c, 1, clock.now())),
            clock,
            events: VecDeque::new(),
        }))
    }
}

/// The config of either side, and `remote`.
fn read_config(config: &Config, role: &str) -> Result<(S2sConfig, Option<String>), ConfigError> {
    let domain = config
        .get("domain")
        .and_then(|d| d.value.as_str())
        .ok_or_else(|| config_error("domain", "required (a string)"))?;
    let mut c = S2sConfig::new(domain, DialbackSecret::new("conformance"));
    let mut remote = None;
    for entry in &config.entries {
        let v = Value {
            key: entry.key.as_str(),
            value: &entry.value,
        };
        match v.key {
            "domain" => {}
            "domains" => c
                .domains
                .extend(v.strings()?.into_iter().map(str::to_owned)),
            "remote" => remote = Some(v.text()?.to_owned()),
            "dialback_secret" => c.dialback_secret = DialbackSecret::new(v.text()?),
            "stream_id" if role == "s2s-in" => c.stream_id = Some(v.text()?.to_owned()),
            "lang" => c.lang = v.text()?.to_owned(),
            "tls" => c.tls = v.tls()?,
            "response_timeout_ms" => c.response_timeout = v.millis()?,
            "keepalive_ms" => {
                let ms = v.number()?;
                c.keepalive = (ms > 0).then(|| Duration::from_millis(ms));
            }
            "max_stanza_bytes_before_auth" if role == "s2s-in" => {
                c.pre_auth_limits.max_element_bytes =
                    usize::try_from(v.number()?).unwrap_or(usize::MAX);
            }
            _ if v.common(&mut c.limits)? => {}
            key => return Err(unsupported_key(key, v.value, role)),
        }
    }
    Ok((c, remote))
}

enum Side {
    Out(S2sOut),
    In(S2sIn),
}

struct S2sCore {
    side: Side,
    clock: Clock,
    events: VecDeque<VectorEvent>,
}

fn outcome(o: &DialbackOutcome) -> String {
    match o {
        DialbackOutcome::Valid => "valid".into(),
        DialbackOutcome::Invalid => "invalid".into(),
        DialbackOutcome::Error(c) => format!("error {}", c.as_str()),
    }
}

fn pair_of(args: &str) -> Result<(DomainPair, Vec<&str>), Unsupported> {
    let mut words = args.split_whitespace();
    match (words.next(), words.next()) {
        (Some(from), Some(to)) => Ok((DomainPair::new(from, to), words.collect())),
        _ => Err(Unsupported(format!("expected <from> <to>, got {args:?}"))),
    }
}

/// The core refused an action. On a closed stream that is VECTORS.md's "nothing happens
/// once closed", not a failure of the vector; an `authorize` of another target that the
/// peer's features do not allow (XEP-0220 section 2.6.2), or of another pair to a peer
/// that does not speak dialback (section 2.4), writes nothing, which the vector shows with
/// `silent`; so does a `send` for a pair not authorized (yet) on the stream (section 2.1.1:
/// the initiating server "MUST NOT attempt to send stanzas until it has received such
/// authorization").
fn refused(action: &Action, e: S2sError) -> Result<(), Unsupported> {
    match e {
        S2sError::StreamEnded
        | S2sError::TargetMultiplexing
        | S2sError::NoDialback
        | S2sError::NotAuthorized => Ok(()),
        e => Err(Unsupported(format!(
            "action {} refused by the core: {e}",
            action.name
        ))),
    }
}

impl S2sCore {
    fn collect(&mut self) {
        loop {
            let ev = match &mut self.side {
                Side::Out(s) => s.poll_event(),
                Side::In(s) => s.poll_event(),
            };
            let Some(ev) = ev else { break };
            let plain = VectorEvent::plain;
            self.events.push_back(match ev {
                S2sEvent::StreamOpened => VectorEvent::bare("stream-opened"),
                S2sEvent::TlsRequested => VectorEvent::bare("tls-requested"),
                S2sEvent::ExternalRequest { authzid: None } => {
                    VectorEvent::bare("external-request")
                }
                S2sEvent::ExternalRequest { authzid: Some(a) } => plain("external-request", a),
                S2sEvent::Authenticated(d) => plain("authenticated", d),
                S2sEvent::DialbackVerifyRequest(r) => plain(
                    "dialback-verify-request",
                    format!("{} {} {} {}", r.pair.from, r.pair.to, r.stream_id, r.key),
                ),
                S2sEvent::DialbackRefused { pair, outcome: o } => plain(
                    "dialback-refused",
                    format!("{} {} {}", pair.from, pair.to, outcome(&o)),
                ),
                S2sEvent::VerifyResult {
                    pair,
                    stream_id,
                    outcome: o,
                } => plain(
                    "verify-result",
                    format!("{} {} {stream_id} {}", pair.from, pair.to, outcome(&o)),
                ),
                S2sEvent::Online(p) => plain("online", format!("{} {}", p.from, p.to)),
                S2sEvent::Stanza(s) => VectorEvent::stanza(s.element()),
                S2sEvent::PeerStreamError(e) => {
                    plain("peer-stream-error", e.condition.as_str().to_owned())
                }
                S2sEvent::Abandoned(a) => VectorEvent {
                    note: Some(format!("{a:?}")),
                    ..plain("abandoned", a.as_str().to_owned())
                },
                S2sEvent::Closed(reason) => VectorEvent {
                    note: Some(reason.to_string()),
                    ..VectorEvent::bare("closed")
                },
            });
        }
    }

    fn act_out(
        s: &mut S2sOut,
        action: &Action,
        now: std::time::Instant,
    ) -> Result<(), Unsupported> {
        let args = action.args.trim();
        let r = match action.name.as_str() {
            "open" => s.open(now),
            "tls-established" => s.tls_established(now, args == "client-cert"),
            "authorize" => s.authorize(now, pair_of(args)?.0),
            "verify" => {
                let (pair, rest) = pair_of(args)?;
                let [id, key] = rest[..] else {
                    return Err(Unsupported("verify <from> <to> <id> <key>".into()));
                };
                s.verify(
                    now,
                    VerifyRequest {
                        pair,
                        stream_id: id.to_owned(),
                        key: key.to_owned(),
                    },
                )
            }
            "send" => s.send(now, &stanza_in(args, JABBER_SERVER)?),
            "close" => {
                s.close(now);
                Ok(())
            }
            other => return Err(Unsupported(format!("action {other} (role s2s-out)"))),
        };
        r.or_else(|e| refused(action, e))
    }

    fn act_in(s: &mut S2sIn, action: &Action, now: std::time::Instant) -> Result<(), Unsupported> {
        let args = action.args.trim();
        let r = match action.name.as_str() {
            "tls-established" => s.tls_established(now, args == "client-cert"),
            "external" => s.external(now, args),
            "external-refuse" => s.refuse_external(now),
            "dialback-valid" => s.dialback_answer(now, &pair_of(args)?.0, DialbackOutcome::Valid),
            "dialback-invalid" => {
                s.dialback_answer(now, &pair_of(args)?.0, DialbackOutcome::Invalid)
            }
            "dialback-error" => {
                let (pair, rest) = pair_of(args)?;
                let condition: StanzaErrorCondition = rest
                    .first()
                    .and_then(|c| c.parse().ok())
                    .ok_or_else(|| Unsupported(format!("dialback-error: condition in {args:?}")))?;
                s.dialback_answer(now, &pair, DialbackOutcome::Error(condition))
            }
            "close" => {
                s.close(now);
                Ok(())
            }
            other => return Err(Unsupported(format!("action {other} (role s2s-in)"))),
        };
        r.or_else(|e| refused(action, e))
    }
}

impl CoreUnderTest for S2sCore {
    fn feed(&mut self, bytes: &[u8]) {
        let now = self.clock.now();
        // Input while TLS is being set up is misuse: discarded, nothing reported.
        let _ = match &mut self.side {
            Side::Out(s) => s.handle_input(now, bytes),
            Side::In(s) => s.handle_input(now, bytes),
        };
        self.collect();
    }

    fn act(&mut self, action: &Action) -> Result<(), Unsupported> {
        let now = self.clock.now();
        match action.name.as_str() {
            "eof" => match &mut self.side {
                Side::Out(s) => s.handle_eof(),
                Side::In(s) => s.handle_eof(),
            },
            "tick" => {
                let now = self.clock.tick(action.args.trim())?;
                match &mut self.side {
                    Side::Out(s) => s.handle_timeout(now),
                    Side::In(s) => s.handle_timeout(now),
                }
            }
            _ => match &mut self.side {
                Side::Out(s) => Self::act_out(s, action, now)?,
                Side::In(s) => Self::act_in(s, action, now)?,
            },
        }
        self.collect();
        Ok(())
    }

    fn poll_event(&mut self) -> Option<VectorEvent> {
        self.events.pop_front()
    }

    fn take_output(&mut self) -> Vec<u8> {
        match &mut self.side {
            Side::Out(s) => drain_output(|| s.poll_transmit()),
            Side::In(s) => drain_output(|| s.poll_transmit()),
        }
    }
}
