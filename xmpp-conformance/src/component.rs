//! The `component` and `component-server` roles: both sides of XEP-0114 driven by a vector.
//!
//! Config keys: `domain`, `secret`, `lang` (accepted; XEP-0114 streams carry none),
//! `response_timeout_ms`, `max_stanza_bytes`, `max_depth`, `extensions` (only `[]`), the
//! limit extensions of `vectors/README.md`, plus `keepalive_ms` (component) and `stream_id`
//! (component-server). Time is a virtual clock that only `tick` moves.

use std::collections::VecDeque;
use std::time::Duration;

use xmpp_sansio::component::{
    Component, ComponentConfig, ComponentError, ComponentEvent, ComponentServer,
    ComponentServerConfig,
};
use xmpp_sansio::jid::BareJid;
use xmpp_sansio::xml::Limits;

use crate::client::stanza_in;
use crate::role::{
    Action, ArgKind, Clock, ConfigError, CoreUnderTest, Role, Unsupported, Value, VectorEvent,
    config_error, drain_output, unsupported_key,
};
use crate::vector::Config;

const NS: &str = "jabber:component:accept";

/// The `component` role (the gateway's side).
#[derive(Debug, Clone, Copy, Default)]
pub struct ComponentRole;

/// The `component-server` role (the server's side of XEP-0114).
#[derive(Debug, Clone, Copy, Default)]
pub struct ComponentServerRole;

/// What both roles read from the config.
struct Common {
    domain: BareJid,
    secret: String,
    timeout: Duration,
    keepalive: Option<Duration>,
    stream_id: Option<String>,
    limits: Limits,
    pre_auth_bytes: Option<usize>,
}

fn read_config(config: &Config, role: &str) -> Result<Common, ConfigError> {
    let text = |key: &str| {
        config
            .get(key)
            .and_then(|e| e.value.as_str())
            .map(str::to_owned)
            .ok_or_else(|| config_error(key, "required (a string)"))
    };
    let mut c = Common {
        domain: text("domain")?
            .parse()
            .map_err(|e| config_error("domain", format!("not a domain: {e}")))?,
        secret: text("secret")?,
        timeout: Duration::from_secs(30),
        keepalive: Some(Duration::from_secs(60)),
        stream_id: None,
        limits: Limits::default(),
        pre_auth_bytes: None,
    };
    for entry in &config.entries {
        let v = Value {
            key: entry.key.as_str(),
            value: &entry.value,
        };
        match (v.key, role) {
            ("domain" | "secret", _) => {}
            ("lang", _) if v.value.is_str() => {}
            ("response_timeout_ms", _) => c.timeout = v.millis()?,
            ("keepalive_ms", "component") => {
                let d = v.millis()?;
                c.keepalive = (!d.is_zero()).then_some(d);
            }
            ("stream_id", "component-server") => c.stream_id = Some(v.text()?.to_owned()),
            ("max_stanza_bytes_before_auth", "component-server") => {
                c.pre_auth_bytes = Some(usize::try_from(v.number()?).unwrap_or(usize::MAX));
            }
            _ if v.common(&mut c.limits)? => {}
            (key, _) => return Err(unsupported_key(key, v.value, role)),
        }
    }
    Ok(c)
}

fn event_arg(name: &str) -> Option<ArgKind> {
    match name {
        "stream-opened" | "closed" => Some(ArgKind::None),
        "authenticated" | "online" | "peer-stream-error" => Some(ArgKind::Plain),
        "stanza" => Some(ArgKind::Xml),
        _ => None,
    }
}

impl Role for ComponentRole {
    fn name(&self) -> &str {
        "component"
    }

    fn event_arg(&self, name: &str) -> Option<ArgKind> {
        event_arg(name)
    }

    fn check_action(&self, action: &Action) -> Result<(), Unsupported> {
        match action.name.as_str() {
            "open" | "send" | "close" | "tick" | "eof" => Ok(()),
            other => Err(Unsupported(format!("action {other} (role component)"))),
        }
    }

    fn start(&self, config: &Config) -> Result<Box<dyn CoreUnderTest>, ConfigError> {
        let c = read_config(config, "component")?;
        let mut cc = ComponentConfig::new(c.domain, c.secret);
        cc.response_timeout = c.timeout;
        cc.keepalive = c.keepalive;
        cc.limits = c.limits;
        let clock = Clock::new();
        Ok(Box::new(Core {
            side: Side::Component(Component::new(cc, 1, clock.now())),
            clock,
            events: VecDeque::new(),
        }))
    }
}

impl Role for ComponentServerRole {
    fn name(&self) -> &str {
        "component-server"
    }

    fn event_arg(&self, name: &str) -> Option<ArgKind> {
        event_arg(name)
    }

    fn check_action(&self, action: &Action) -> Result<(), Unsupported> {
        match action.name.as_str() {
            "send" | "close" | "tick" | "eof" => Ok(()),
            other => Err(Unsupported(format!(
                "action {other} (role component-server)"
            ))),
        }
    }

    fn start(&self, config: &Config) -> Result<Box<dyn CoreUnderTest>, ConfigError> {
        let c = read_config(config, "component-server")?;
        let mut cc = ComponentServerConfig::new(c.domain, c.secret);
        cc.stream_id = c.stream_id;
        cc.response_timeout = c.timeout;
        cc.limits = c.limits;
        if let Some(n) = c.pre_auth_bytes {
            cc.pre_auth_limits.max_element_bytes = n;
        }
        let clock = Clock::new();
        Ok(Box::new(Core {
            side: Side::Server(ComponentServer::new(cc, 1, clock.now())),
            clock,
            events: VecDeque::new(),
        }))
    }
}

enum Side {
    Component(Component),
    Server(ComponentServer),
}

struct Core {
    side: Side,
    clock: Clock,
    events: VecDeque<VectorEvent>,
}

/// Calls the same method on whichever side this is.
macro_rules! either {
    ($self:ident, $s:ident => $e:expr) => {
        match &mut $self.side {
            Side::Component($s) => $e,
            Side::Server($s) => $e,
        }
    };
}

/// The core refused an action. On a closed stream that is VECTORS.md's "nothing happens
/// once closed", not a failure of the vector.
fn refused(action: &Action, e: ComponentError) -> Result<(), Unsupported> {
    match e {
        ComponentError::StreamEnded => Ok(()),
        e => Err(Unsupported(format!(
            "action {} refused by the core: {e}",
            action.name
        ))),
    }
}

impl Core {
    fn collect(&mut self) {
        while let Some(ev) = either!(self, s => s.poll_event()) {
            let plain = VectorEvent::plain;
            self.events.push_back(match ev {
                ComponentEvent::StreamOpened => VectorEvent::bare("stream-opened"),
                ComponentEvent::Authenticated(d) => plain("authenticated", d.to_string()),
                ComponentEvent::Online(d) => plain("online", d.to_string()),
                ComponentEvent::Stanza(s) => VectorEvent::stanza(s.element()),
                ComponentEvent::PeerStreamError(e) => {
                    plain("peer-stream-error", e.condition.as_str().to_owned())
                }
                ComponentEvent::Closed(reason) => VectorEvent {
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

impl CoreUnderTest for Core {
    fn feed(&mut self, bytes: &[u8]) {
        let now = self.clock.now();
        let _ = either!(self, s => s.handle_input(now, bytes));
        self.collect();
    }

    fn act(&mut self, action: &Action) -> Result<(), Unsupported> {
        let args = action.args.trim();
        let now = self.clock.now();
        match action.name.as_str() {
            "open" => match &mut self.side {
                Side::Component(c) => c.open(now).or_else(|e| refused(action, e))?,
                Side::Server(_) => {
                    return Err(Unsupported("action open (role component-server)".into()));
                }
            },
            "send" => {
                let el = stanza_in(args, NS)?;
                either!(self, s => s.send(now, &el)).or_else(|e| refused(action, e))?;
            }
            "close" => either!(self, s => s.close(now)),
            "eof" => either!(self, s => s.handle_eof()),
            "tick" => {
                let now = self.clock.tick(args)?;
                either!(self, s => s.handle_timeout(now));
            }
            other => return Err(Unsupported(format!("action {other}"))),
        }
        self.collect();
        Ok(())
    }

    fn poll_event(&mut self) -> Option<VectorEvent> {
        self.events.pop_front()
    }

    fn take_output(&mut self) -> Vec<u8> {
        drain_output(|| either!(self, s => s.poll_transmit()))
    }
}
