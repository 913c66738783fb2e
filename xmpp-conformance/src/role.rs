//! The core under test, as the runner sees it: a [`Role`] builds, from a vector's config, a
//! [`CoreUnderTest`] that takes the peer's bytes and the embedder's actions, and reports
//! vector-level events and output bytes.
//!
//! One role exists per row of VECTORS.md's "Roles" table ([`KNOWN_ROLES`]): [`ParserRole`]
//! here, the session roles in their own modules (`client`, `server`, `component`, `s2s`).
//! A known role that no [`Role`] implements fails its vectors with `unsupported: role ...`.
//! A new role is a new implementation of [`Role`], registered with
//! [`crate::Runner::with_role`].

use std::collections::VecDeque;
use std::fmt;

use xmpp_sansio::xml::{Event, Limits, ParseError, StreamParser};

use crate::vector::Config;
use crate::xml::{Item, Tree};

/// Every role that VECTORS.md defines, and the project's extensions (vectors/README.md).
pub const KNOWN_ROLES: &[&str] = &[
    "parser",
    "client",
    "server",
    "component",
    "component-server",
    "s2s-out",
    "s2s-in",
    // vectors/README.md's extension: the RFC 6121 decisions (`xmpp_sansio::im`).
    "im-server",
];

/// What follows an event's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgKind {
    /// Nothing: the event is its name alone.
    None,
    /// Plain text (a condition, a JID...), matched as one placeholder pattern.
    Plain,
    /// Plain text or nothing (`bind-request [<resource>]`).
    OptionalPlain,
    /// XML, matched as a fragment (VECTORS.md, "Matching").
    Xml,
}

/// The argument of an event that a core reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventArg {
    /// No argument.
    None,
    /// Plain text.
    Plain(String),
    /// XML, in the runner's token form.
    Xml(Vec<Item>),
}

/// An event in the vocabulary of vectors (VECTORS.md, "Events").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VectorEvent {
    /// The event's name (`element`, `parse-error`, ...).
    pub name: String,
    /// Its argument.
    pub arg: EventArg,
    /// A remark for people, shown when the event was not the expected one (for a parse
    /// error: what was wrong and where). Never compared.
    pub note: Option<String>,
}

impl VectorEvent {
    /// An event without argument.
    pub fn bare(name: &str) -> Self {
        VectorEvent {
            name: name.to_owned(),
            arg: EventArg::None,
            note: None,
        }
    }

    /// The event as a line of a vector, with XML rendered relative to the default
    /// namespace `default_ns`.
    pub fn render(&self, default_ns: &str) -> String {
        match &self.arg {
            EventArg::None => self.name.clone(),
            EventArg::Plain(p) => format!("{} {p}", self.name),
            EventArg::Xml(items) => {
                format!(
                    "{} {}",
                    self.name,
                    crate::xml::render_items(items, default_ns)
                )
            }
        }
    }
}

/// An action of the embedder (VECTORS.md, "Actions"), placeholders already substituted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    /// The action's name (`eof`, `open`, `send`, ...).
    pub name: String,
    /// Everything after the name and one space; empty when there is nothing.
    pub args: String,
}

impl Action {
    /// Splits an action line into name and arguments.
    pub fn parse(line: &str) -> Action {
        let (name, args) = line.split_once(' ').unwrap_or((line, ""));
        Action {
            name: name.to_owned(),
            args: args.to_owned(),
        }
    }
}

/// Something a role does not support: the text after `unsupported: ` in a verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported(pub String);

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unsupported: {}", self.0)
    }
}

/// A config entry that a role refuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The key.
    pub key: String,
    /// Is the key unsupported by the role (rather than its value wrong)?
    pub unsupported: bool,
    /// What is wrong, for people.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.unsupported {
            write!(f, "unsupported: {}", self.message)
        } else {
            write!(f, "config {}: {}", self.key, self.message)
        }
    }
}

/// A core playing one role in one replay of a vector, driven through its public sans-IO
/// API.
pub trait CoreUnderTest {
    /// The peer's bytes arrived (one call of the core's input function).
    fn feed(&mut self, bytes: &[u8]);
    /// The embedder calls the core. An action the role does not support is refused.
    fn act(&mut self, action: &Action) -> Result<(), Unsupported>;
    /// The next event the core reported, in the vocabulary of vectors.
    fn poll_event(&mut self) -> Option<VectorEvent>;
    /// Everything the core emitted for the peer since the last call.
    fn take_output(&mut self) -> Vec<u8>;
}

/// A role a core can play: what it supports, and how to start a core in it.
pub trait Role {
    /// The role's name as vectors write it.
    fn name(&self) -> &str;
    /// The argument of the event `name`, or `None` when the role never reports it.
    fn event_arg(&self, name: &str) -> Option<ArgKind>;
    /// Checks an action before the vector runs: `Err` when the role does not support it.
    fn check_action(&self, action: &Action) -> Result<(), Unsupported>;
    /// A fresh core for one replay, configured by `config`; refuses keys it does not
    /// support and values it cannot use.
    fn start(&self, config: &Config) -> Result<Box<dyn CoreUnderTest>, ConfigError>;
}

/// The `parser` role: [`StreamParser`] alone.
///
/// Config: `lang` (accepted, no effect), `max_stanza_bytes` ([`Limits::max_element_bytes`]),
/// `max_depth`, and the extensions `max_attributes`, `max_name_bytes` and
/// `max_header_bytes`. Events:
/// `stream-opened`, `element <xml>`, `stream-closed`, `parse-error <condition>`. Actions:
/// `eof`. It emits no output.
#[derive(Debug, Clone, Copy, Default)]
pub struct ParserRole;

impl Role for ParserRole {
    fn name(&self) -> &str {
        "parser"
    }

    fn event_arg(&self, name: &str) -> Option<ArgKind> {
        match name {
            "stream-opened" | "stream-closed" => Some(ArgKind::None),
            "element" => Some(ArgKind::Xml),
            "parse-error" => Some(ArgKind::Plain),
            _ => None,
        }
    }

    fn check_action(&self, action: &Action) -> Result<(), Unsupported> {
        match action.name.as_str() {
            "eof" if action.args.is_empty() => Ok(()),
            "eof" => Err(Unsupported(format!(
                "action eof with an argument ({:?})",
                action.args
            ))),
            other => Err(Unsupported(format!("action {other} (role parser)"))),
        }
    }

    fn start(&self, config: &Config) -> Result<Box<dyn CoreUnderTest>, ConfigError> {
        let mut limits = Limits::default();
        for entry in &config.entries {
            let key = entry.key.as_str();
            let field = match key {
                "lang" => {
                    if !entry.value.is_str() {
                        return Err(ConfigError {
                            key: key.into(),
                            unsupported: false,
                            message: "expected a string".into(),
                        });
                    }
                    continue;
                }
                "max_stanza_bytes" => &mut limits.max_element_bytes,
                "max_depth" => &mut limits.max_depth,
                "max_attributes" => &mut limits.max_attributes,
                "max_name_bytes" => &mut limits.max_name_bytes,
                "max_header_bytes" => &mut limits.max_header_bytes,
                _ => {
                    return Err(ConfigError {
                        key: key.into(),
                        unsupported: true,
                        message: format!("config key {key} (role parser)"),
                    });
                }
            };
            *field = entry
                .value
                .as_integer()
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(|| ConfigError {
                    key: key.into(),
                    unsupported: false,
                    message: format!("expected a non-negative integer, got {}", entry.value),
                })?;
        }
        Ok(Box::new(ParserCore {
            parser: StreamParser::new(limits),
            events: VecDeque::new(),
            failed: false,
        }))
    }
}

/// A [`StreamParser`] in the `parser` role.
struct ParserCore {
    parser: StreamParser,
    events: VecDeque<VectorEvent>,
    /// Has `parse-error` been reported?
    failed: bool,
}

impl ParserCore {
    /// Takes the events the parser queued, then the error of the call just made if it is the
    /// first one.
    fn collect(&mut self, result: Result<(), ParseError>) {
        while let Some(ev) = self.parser.poll_event() {
            self.events.push_back(match ev {
                Event::StreamOpened(_) => VectorEvent::bare("stream-opened"),
                Event::Element(el) => VectorEvent {
                    name: "element".into(),
                    arg: EventArg::Xml(vec![Item::Element(Tree::from_element(el.root()))]),
                    note: None,
                },
                Event::StreamClosed => VectorEvent::bare("stream-closed"),
            });
        }
        if let Err(e) = result {
            if !self.failed {
                self.failed = true;
                self.events.push_back(VectorEvent {
                    name: "parse-error".into(),
                    arg: EventArg::Plain(e.condition().as_str().to_owned()),
                    note: Some(format!("{} at byte {}", e.kind(), e.offset())),
                });
            }
        }
    }
}

impl CoreUnderTest for ParserCore {
    fn feed(&mut self, bytes: &[u8]) {
        let r = self.parser.handle_input(bytes);
        self.collect(r);
    }

    fn act(&mut self, action: &Action) -> Result<(), Unsupported> {
        ParserRole.check_action(action)?;
        let r = self.parser.handle_eof();
        self.collect(r);
        Ok(())
    }

    fn poll_event(&mut self) -> Option<VectorEvent> {
        self.events.pop_front()
    }

    fn take_output(&mut self) -> Vec<u8> {
        Vec::new()
    }
}

/// A config entry that a role refuses as a value (not as a key).
pub(crate) fn config_error(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        key: key.into(),
        unsupported: false,
        message: message.into(),
    }
}

/// A config key that the role does not support.
pub(crate) fn unsupported_key(key: &str, value: &toml::Value, role: &str) -> ConfigError {
    ConfigError {
        key: key.into(),
        unsupported: true,
        message: format!("config key {key} = {value} (role {role})"),
    }
}

/// One config entry, read as the type its key calls for.
pub(crate) struct Value<'a> {
    pub key: &'a str,
    pub value: &'a toml::Value,
}

impl<'a> Value<'a> {
    pub fn text(&self) -> Result<&'a str, ConfigError> {
        self.value
            .as_str()
            .ok_or_else(|| config_error(self.key, "expected a string"))
    }

    pub fn number(&self) -> Result<u64, ConfigError> {
        self.value
            .as_integer()
            .and_then(|n| u64::try_from(n).ok())
            .ok_or_else(|| config_error(self.key, "expected a non-negative integer"))
    }

    pub fn boolean(&self) -> Result<bool, ConfigError> {
        self.value
            .as_bool()
            .ok_or_else(|| config_error(self.key, "expected a boolean"))
    }

    pub fn millis(&self) -> Result<std::time::Duration, ConfigError> {
        Ok(std::time::Duration::from_millis(self.number()?))
    }

    pub fn tls(&self) -> Result<xmpp_sansio::stream::TlsPolicy, ConfigError> {
        use xmpp_sansio::stream::TlsPolicy;
        match self.text()? {
            "required" => Ok(TlsPolicy::Required),
            "optional" => Ok(TlsPolicy::Optional),
            "disabled" => Ok(TlsPolicy::Disabled),
            _ => Err(config_error(
                self.key,
                "expected required, optional or disabled",
            )),
        }
    }

    pub fn mechanisms(&self) -> Result<Vec<xmpp_sansio::sasl::Mechanism>, ConfigError> {
        let list = self
            .value
            .as_array()
            .ok_or_else(|| config_error(self.key, "expected an array"))?;
        list.iter()
            .map(|m| m.as_str().and_then(|s| s.parse().ok()))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| config_error(self.key, "expected SASL mechanism names"))
    }

    /// A list of strings.
    pub fn strings(&self) -> Result<Vec<&'a str>, ConfigError> {
        self.value
            .as_array()
            .and_then(|list| list.iter().map(|s| s.as_str()).collect())
            .ok_or_else(|| config_error(self.key, "expected an array of strings"))
    }

    /// The keys every role shares: the limits (VECTORS.md's `max_stanza_bytes` and
    /// `max_depth`, and the extensions of `vectors/README.md`) and an empty `extensions`.
    /// `Ok(false)` when the key is none of them.
    pub fn common(&self, limits: &mut Limits) -> Result<bool, ConfigError> {
        let field = match self.key {
            "max_stanza_bytes" => &mut limits.max_element_bytes,
            "max_depth" => &mut limits.max_depth,
            "max_attributes" => &mut limits.max_attributes,
            "max_name_bytes" => &mut limits.max_name_bytes,
            "max_header_bytes" => &mut limits.max_header_bytes,
            "extensions" if self.value.as_array().is_some_and(|a| a.is_empty()) => {
                return Ok(true);
            }
            _ => return Ok(false),
        };
        *field = usize::try_from(self.number()?).unwrap_or(usize::MAX);
        Ok(true)
    }
}

/// The virtual clock of a session role: it starts at the first replay step and only `tick`
/// moves it.
pub(crate) struct Clock {
    start: std::time::Instant,
    elapsed: std::time::Duration,
}

impl Clock {
    pub fn new() -> Self {
        Clock {
            start: std::time::Instant::now(),
            elapsed: std::time::Duration::ZERO,
        }
    }

    pub fn now(&self) -> std::time::Instant {
        self.start + self.elapsed
    }

    /// `tick <ms>`: moves on and gives the new time.
    pub fn tick(&mut self, args: &str) -> Result<std::time::Instant, Unsupported> {
        let ms: u64 = args
            .parse()
            .map_err(|_| Unsupported(format!("tick needs milliseconds, got {args:?}")))?;
        self.elapsed += std::time::Duration::from_millis(ms);
        Ok(self.now())
    }
}

impl VectorEvent {
    /// An event with a plain argument.
    pub fn plain(name: &str, arg: impl Into<String>) -> Self {
        VectorEvent {
            name: name.into(),
            arg: EventArg::Plain(arg.into()),
            note: None,
        }
    }

    /// A `stanza <xml>` event.
    pub fn stanza(el: &xmpp_sansio::xml::Element) -> Self {
        Self::element("stanza", el)
    }

    /// An event named `name` carrying one element.
    pub fn element(name: &str, el: &xmpp_sansio::xml::Element) -> Self {
        VectorEvent {
            name: name.into(),
            arg: EventArg::Xml(vec![Item::Element(Tree::from_element(el.root()))]),
            note: None,
        }
    }
}

/// The `framing` config key (vectors/README.md, "Config key `framing`"): `"tcp"` (the
/// default), `"websocket"` (RFC 7395 over `wss:`, the transport encrypted) or
/// `"websocket-plain"` (over `ws:`).
pub(crate) fn framing(v: &Value<'_>) -> Result<xmpp_sansio::stream::Framing, ConfigError> {
    use xmpp_sansio::stream::Framing;
    match v.text()? {
        "tcp" => Ok(Framing::Tcp),
        "websocket" => Ok(Framing::WebSocket { secure: true }),
        "websocket-plain" => Ok(Framing::WebSocket { secure: false }),
        _ => Err(config_error(
            v.key,
            "expected tcp, websocket or websocket-plain",
        )),
    }
}

/// Is the vector framed in WebSocket messages (its `framing` key)?
pub fn is_websocket(config: &Config) -> bool {
    config
        .get("framing")
        .and_then(|e| e.value.as_str())
        .is_some_and(|f| f.starts_with("websocket"))
}

/// Everything a role's `poll_transmit` gives over WebSocket framing, joined (a `core` step
/// matches the messages since the previous one as a sequence of fragments), after checking
/// that each message is one standalone element (RFC 7395 section 3.3.3) as a peer's framed
/// parser reads it; a message that is not is reported as the event `framing-error`, which
/// no vector expects.
pub(crate) fn drain_messages<B: AsRef<[u8]>>(
    mut next: impl FnMut() -> Option<B>,
    events: &mut VecDeque<VectorEvent>,
) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(b) = next() {
        let message = b.as_ref();
        if let Err(why) = standalone(message) {
            events.push_back(VectorEvent {
                note: Some(String::from_utf8_lossy(message).into_owned()),
                ..VectorEvent::plain("framing-error", why)
            });
        }
        out.extend_from_slice(message);
    }
    out
}

/// Is `message` one element that parses alone?
fn standalone(message: &[u8]) -> Result<(), String> {
    let mut p = StreamParser::default();
    if !message.starts_with(b"<open") {
        let open = format!("<open xmlns='{}'/>", xmpp_sansio::error::FRAMING_NS);
        p.handle_message(open.as_bytes())
            .map_err(|e| e.to_string())?;
        let _ = p.poll_event();
    }
    p.handle_message(message).map_err(|e| e.to_string())?;
    match (p.poll_event(), p.poll_event()) {
        (Some(_), None) => Ok(()),
        _ => Err("not one element".into()),
    }
}

/// Everything a role's `poll_transmit` gives, joined.
pub(crate) fn drain_output<B: AsRef<[u8]>>(mut next: impl FnMut() -> Option<B>) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(b) = next() {
        out.extend_from_slice(b.as_ref());
    }
    out
}

#[cfg(test)]
mod framing_tests {
    use super::*;

    #[test]
    fn each_websocket_message_must_be_one_standalone_element() {
        assert!(standalone(b"<r xmlns='urn:xmpp:sm:3'/>").is_ok());
        assert!(standalone(b"<open xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>").is_ok());
        for bad in [
            &b"<message xmlns='jabber:client'/><r xmlns='urn:xmpp:sm:3'/>"[..],
            b"<stream:features/>",
            b" <r xmlns='urn:xmpp:sm:3'/>",
            b"<message xmlns='jabber:client'>",
        ] {
            assert!(standalone(bad).is_err(), "{}", bad.escape_ascii());
        }
        let mut events = VecDeque::new();
        let mut messages = vec![&b"<a xmlns='urn:a'/><b xmlns='urn:a'/>"[..]].into_iter();
        let out = drain_messages(|| messages.next(), &mut events);
        assert_eq!(out.len(), 36);
        assert_eq!(
            events.pop_front().map(|e| e.name),
            Some("framing-error".into())
        );
    }
}
