//! The gateway role: the Jabber Component Protocol (XEP-0114), both sides, as sans-IO state
//! machines.
//!
//! - [`Component`] is the external component (a gateway to another network): it opens a
//!   `jabber:component:accept` stream to its own domain, proves the shared secret with
//!   `<handshake>` (the lowercase hex SHA-1 of the stream id and the secret, XEP-0114
//!   section 2), then exchanges stanzas.
//! - [`ComponentServer`] is the server's side: it checks the header and the handshake (in
//!   constant time), then accepts stanzas that carry a `to` and a `from` in the component's
//!   domain (`improper-addressing`, `invalid-from` otherwise).
//!
//! XEP-0114 streams carry no `version` and negotiate no features.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sha1::{Digest, Sha1};

use crate::error::{STREAM_NS, StreamError, StreamErrorCondition};
use crate::jid::Jid;
use crate::stanza::JABBER_COMPONENT_ACCEPT;
use crate::stream::{Output, Rng, deadline};
use crate::xml::{Element, Event, Limits, StreamParser, write_element};

/// The `<handshake/>` value for `stream_id` and `secret`: lowercase hex SHA-1 of their
/// concatenation (XEP-0114 section 2).
pub fn handshake_digest(stream_id: &str, secret: &str) -> String {
    let digest = Sha1::new()
        .chain_update(stream_id)
        .chain_update(secret)
        .finalize();
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Compares without an early exit, so that timing does not tell how much of a guess was
/// right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn write_header(out: &mut bytes::BytesMut, to: Option<&str>, from: Option<&str>, id: Option<&str>) {
    let content_ns = JABBER_COMPONENT_ACCEPT;
    crate::stream::write_header(
        out,
        crate::stream::Header {
            content_ns,
            to,
            from,
            id,
            lang: None,
        },
    );
}

fn is_stanza(el: &Element) -> bool {
    el.ns() == JABBER_COMPONENT_ACCEPT && matches!(el.name(), "message" | "presence" | "iq")
}

/// How a component connects.
#[derive(Clone)]
pub struct ComponentConfig {
    /// The component's own domain (`gateway.example.com`).
    pub domain: String,
    /// The secret shared with the server.
    pub secret: String,
    /// How long to wait for the server during the handshake and closing.
    pub response_timeout: Duration,
    /// Idle time after which a whitespace keepalive is sent; `None` turns it off.
    pub keepalive: Option<Duration>,
    /// Limits of the stream parser.
    pub limits: Limits,
}

impl ComponentConfig {
    /// A configuration with a 30 s response timeout and a 60 s keepalive.
    pub fn new(domain: impl Into<String>, secret: impl Into<String>) -> Self {
        ComponentConfig {
            domain: domain.into(),
            secret: secret.into(),
            response_timeout: Duration::from_secs(30),
            keepalive: Some(Duration::from_secs(60)),
            limits: Limits::default(),
        }
    }
}

impl core::fmt::Debug for ComponentConfig {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ComponentConfig")
            .field("domain", &self.domain)
            .field("secret", &"<redacted>")
            .field("response_timeout", &self.response_timeout)
            .field("keepalive", &self.keepalive)
            .field("limits", &self.limits)
            .finish()
    }
}

/// What either side of a component stream reports.
#[derive(Debug, Clone)]
pub enum ComponentEvent {
    /// The peer's stream header was accepted.
    StreamOpened,
    /// The handshake succeeded, for this domain.
    Authenticated(String),
    /// Stanzas flow, for this domain.
    Online(String),
    /// A stanza arrived.
    Stanza(Element),
    /// The peer sent a stream error.
    PeerStreamError(StreamError),
    /// The stream is over; close the transport.
    Closed,
}

/// The embedder called a method that does not fit the state: nothing was done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ComponentError {
    /// [`Component::open`] was already called.
    AlreadyOpen,
    /// Input before [`Component::open`].
    NotOpen,
    /// Sending before the handshake succeeded.
    NotOnline,
    /// The stream is closed or closing.
    Closed,
}

impl core::fmt::Display for ComponentError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            ComponentError::AlreadyOpen => "the stream is already open",
            ComponentError::NotOpen => "the stream is not open yet",
            ComponentError::NotOnline => "stanzas can be sent only after the handshake",
            ComponentError::Closed => "the stream is closed",
        })
    }
}

impl std::error::Error for ComponentError {}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    Idle,
    AwaitHeader,
    AwaitHandshake,
    Online,
    Closing,
    Closed,
}

/// What both sides share: the parser, output, events and timers of one stream.
struct Link {
    phase: Phase,
    parser: StreamParser,
    out: Output,
    events: VecDeque<ComponentEvent>,
    now: Instant,
    deadline: Option<Instant>,
    last_sent: Instant,
    response_timeout: Duration,
    keepalive: Option<Duration>,
    /// Our stream header, while it is not sent (the server side answers the component's):
    /// anything we send, an error or a closing tag included, comes after it.
    greeting: Option<Vec<u8>>,
}

impl Link {
    fn new(limits: Limits, now: Instant, response_timeout: Duration) -> Self {
        Link {
            phase: Phase::Idle,
            parser: StreamParser::new(limits),
            out: Output::default(),
            events: VecDeque::new(),
            now,
            deadline: None,
            last_sent: now,
            response_timeout,
            keepalive: None,
            greeting: None,
        }
    }

    fn greet(&mut self) {
        if let Some(header) = self.greeting.take() {
            self.out.write(|buf| buf.extend_from_slice(&header));
        }
    }

    fn arm(&mut self) {
        self.deadline = deadline(self.now, self.response_timeout);
    }

    fn finish(&mut self) {
        self.phase = Phase::Closed;
        self.deadline = None;
        self.events.push_back(ComponentEvent::Closed);
    }

    /// Ends the stream with a stream error and our closing tag; once our closing tag is
    /// out (a closing handshake), with nothing written (RFC 6120 section 4.4).
    fn stream_error(&mut self, condition: StreamErrorCondition) {
        self.greet();
        self.out.end_with_error(&StreamError::new(condition));
        self.finish();
    }

    /// Feeds input, handing each event to `on`, until the stream ends.
    fn input(&mut self, data: &[u8], mut on: impl FnMut(&mut Link, Event)) {
        let mut rest = data;
        while !rest.is_empty() && self.phase != Phase::Closed {
            let result = self.parser.handle_input_partial(rest);
            while let Some(ev) = self.parser.poll_event() {
                if self.phase == Phase::Closed {
                    break;
                }
                match ev {
                    Event::StreamClosed => {
                        // Our closing tag answers, unless it went out first.
                        self.out.end();
                        self.finish();
                    }
                    Event::Element(el) if el.is("error", STREAM_NS) => {
                        let error = StreamError::from_element(el.root()).unwrap_or_else(|_| {
                            StreamError::new(StreamErrorCondition::UndefinedCondition)
                        });
                        self.events
                            .push_back(ComponentEvent::PeerStreamError(error));
                        self.out.end();
                        self.finish();
                    }
                    other => on(self, other),
                }
            }
            match result {
                Ok(n) => rest = &rest[n..],
                Err(e) => {
                    if self.phase != Phase::Closed {
                        self.stream_error(e.condition());
                    }
                    break;
                }
            }
        }
    }

    fn close(&mut self) {
        match self.phase {
            Phase::Closing | Phase::Closed => {}
            Phase::Idle => self.phase = Phase::Closed,
            _ => {
                self.greet();
                self.out.end();
                self.phase = Phase::Closing;
                self.arm();
            }
        }
    }

    fn send(&mut self, stanza: &Element) -> Result<(), ComponentError> {
        match self.phase {
            Phase::Online => {}
            Phase::Closing | Phase::Closed => return Err(ComponentError::Closed),
            _ => return Err(ComponentError::NotOnline),
        }
        self.out
            .write(|buf| write_element(buf, stanza.root(), JABBER_COMPONENT_ACCEPT));
        self.last_sent = self.now;
        Ok(())
    }

    fn keepalive_at(&self) -> Option<Instant> {
        match self.phase {
            Phase::Online => deadline(self.last_sent, self.keepalive?),
            _ => None,
        }
    }

    fn timeout(&mut self, now: Instant) {
        self.now = now;
        if self.deadline.is_some_and(|d| now >= d) && self.phase != Phase::Closed {
            self.stream_error(StreamErrorCondition::ConnectionTimeout);
            return;
        }
        if self.keepalive_at().is_some_and(|at| now >= at) {
            self.out.write(|buf| buf.extend_from_slice(b" "));
            self.last_sent = now;
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        match (self.deadline, self.keepalive_at()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn eof(&mut self) {
        if self.phase != Phase::Closed {
            self.finish();
        }
    }
}

macro_rules! common_methods {
    () => {
        /// The transport ended.
        pub fn handle_eof(&mut self) {
            self.link.eof();
        }

        /// Sends a stanza (after the handshake), with `jabber:component:accept` as the
        /// default namespace.
        pub fn send(&mut self, stanza: &Element) -> Result<(), ComponentError> {
            self.link.send(stanza)
        }

        /// Closes gracefully: `</stream:stream>` now, [`ComponentEvent::Closed`] when the
        /// peer answers (or after the response timeout). Nothing is sent after it (RFC 6120
        /// section 4.4): whatever the peer sends next, even malformed XML, and a response
        /// timeout, end in [`ComponentEvent::Closed`] alone. A second call does nothing.
        pub fn close(&mut self) {
            self.link.close();
        }

        /// The time is `now`: fires the response timeout and keepalives when due.
        pub fn handle_timeout(&mut self, now: Instant) {
            self.link.timeout(now);
        }

        /// When [`handle_timeout`](Self::handle_timeout) must be called next, if at all.
        pub fn poll_timeout(&self) -> Option<Instant> {
            self.link.poll_timeout()
        }

        /// The next event.
        pub fn poll_event(&mut self) -> Option<ComponentEvent> {
            self.link.events.pop_front()
        }

        /// Bytes to write to the transport.
        pub fn poll_transmit(&mut self) -> Option<Bytes> {
            self.link.out.take()
        }

        /// Is the stream over?
        pub fn is_closed(&self) -> bool {
            self.link.phase == Phase::Closed
        }
    };
}

/// The component side of XEP-0114.
pub struct Component {
    config: ComponentConfig,
    link: Link,
}

impl core::fmt::Debug for Component {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Component")
            .field("domain", &self.config.domain)
            .finish_non_exhaustive()
    }
}

impl Component {
    /// A component that will connect with `config`; nothing happens until
    /// [`open`](Self::open).
    pub fn new(config: ComponentConfig, now: Instant) -> Self {
        let mut link = Link::new(config.limits, now, config.response_timeout);
        link.keepalive = config.keepalive;
        Component { config, link }
    }

    /// Opens the stream to the component's own domain.
    pub fn open(&mut self) -> Result<(), ComponentError> {
        if self.link.phase != Phase::Idle {
            return Err(ComponentError::AlreadyOpen);
        }
        let domain = &self.config.domain;
        self.link
            .out
            .write(|buf| write_header(buf, Some(domain), None, None));
        self.link.phase = Phase::AwaitHeader;
        self.link.arm();
        Ok(())
    }

    /// Bytes received from the server, at time `now`.
    pub fn handle_input(&mut self, now: Instant, data: &[u8]) -> Result<(), ComponentError> {
        self.link.now = now;
        match self.link.phase {
            Phase::Idle => return Err(ComponentError::NotOpen),
            Phase::Closed => return Ok(()),
            _ => {}
        }
        let config = &self.config;
        self.link
            .input(data, |link, ev| match (link.phase.clone(), ev) {
                (Phase::AwaitHeader, Event::StreamOpened(header)) => {
                    if link.parser.content_namespace() != Some(JABBER_COMPONENT_ACCEPT) {
                        return link.stream_error(StreamErrorCondition::InvalidNamespace);
                    }
                    let Some(id) = header.attr("id") else {
                        return link.stream_error(StreamErrorCondition::InvalidXml);
                    };
                    link.events.push_back(ComponentEvent::StreamOpened);
                    let digest = handshake_digest(&id, &config.secret);
                    link.out.element(|w| {
                        w.start("handshake").text(&digest).end("handshake");
                    });
                    link.phase = Phase::AwaitHandshake;
                    link.arm();
                }
                (Phase::AwaitHandshake, Event::Element(el))
                    if el.is("handshake", JABBER_COMPONENT_ACCEPT) =>
                {
                    link.phase = Phase::Online;
                    link.deadline = None;
                    link.last_sent = link.now;
                    link.events
                        .push_back(ComponentEvent::Authenticated(config.domain.clone()));
                    link.events
                        .push_back(ComponentEvent::Online(config.domain.clone()));
                }
                (Phase::Online | Phase::Closing, Event::Element(el)) if is_stanza(&el) => {
                    link.events.push_back(ComponentEvent::Stanza(el));
                }
                _ => link.stream_error(StreamErrorCondition::UnsupportedStanzaType),
            });
        Ok(())
    }

    common_methods!();
}

/// How the server side accepts one component.
#[derive(Clone)]
pub struct ComponentServerConfig {
    /// The component's domain; the stream's `to` must be it (else `host-unknown`).
    pub domain: String,
    /// The shared secret.
    pub secret: String,
    /// The stream id to send; `None` makes one from [`seed`](Self::seed).
    pub stream_id: Option<String>,
    /// Seed of the generator that makes the stream id. Give it fresh randomness.
    pub seed: u64,
    /// How long to wait for the component during the handshake and closing.
    pub response_timeout: Duration,
    /// Limits of the stream parser once the component has shaken hands.
    pub limits: Limits,
    /// Limits before the handshake succeeds ([`Limits::PRE_AUTH`] by default), each field
    /// never looser than the same field of [`limits`](Self::limits).
    pub pre_auth_limits: Limits,
}

impl ComponentServerConfig {
    /// A configuration with a 30 s response timeout.
    pub fn new(domain: impl Into<String>, secret: impl Into<String>) -> Self {
        ComponentServerConfig {
            domain: domain.into(),
            secret: secret.into(),
            stream_id: None,
            seed: 0,
            response_timeout: Duration::from_secs(30),
            limits: Limits::default(),
            pre_auth_limits: Limits::PRE_AUTH,
        }
    }
}

impl core::fmt::Debug for ComponentServerConfig {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ComponentServerConfig")
            .field("domain", &self.domain)
            .field("secret", &"<redacted>")
            .field("stream_id", &self.stream_id)
            .field("seed", &self.seed)
            .field("response_timeout", &self.response_timeout)
            .field("limits", &self.limits)
            .field("pre_auth_limits", &self.pre_auth_limits)
            .finish()
    }
}

/// The server side of XEP-0114.
pub struct ComponentServer {
    config: ComponentServerConfig,
    link: Link,
    stream_id: String,
}

impl core::fmt::Debug for ComponentServer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ComponentServer")
            .field("domain", &self.config.domain)
            .finish_non_exhaustive()
    }
}

impl ComponentServer {
    /// A server side for a new component connection; it waits for the component's header.
    pub fn new(config: ComponentServerConfig, now: Instant) -> Self {
        let stream_id = config
            .stream_id
            .clone()
            .unwrap_or_else(|| Rng::new(config.seed).token(16));
        let pre_auth = config.pre_auth_limits.min(config.limits);
        let mut link = Link::new(pre_auth, now, config.response_timeout);
        link.phase = Phase::AwaitHeader;
        link.arm();
        let mut header = bytes::BytesMut::new();
        write_header(&mut header, None, Some(&config.domain), Some(&stream_id));
        link.greeting = Some(header.to_vec());
        ComponentServer {
            config,
            link,
            stream_id,
        }
    }

    /// Bytes received from the component, at time `now`.
    pub fn handle_input(&mut self, now: Instant, data: &[u8]) -> Result<(), ComponentError> {
        self.link.now = now;
        if self.link.phase == Phase::Closed {
            return Ok(());
        }
        let (config, id) = (&self.config, &self.stream_id);
        self.link.input(data, |link, ev| {
            match (link.phase.clone(), ev) {
                (Phase::AwaitHeader, Event::StreamOpened(header)) => {
                    link.greet();
                    if link.parser.content_namespace() != Some(JABBER_COMPONENT_ACCEPT) {
                        return link.stream_error(StreamErrorCondition::InvalidNamespace);
                    }
                    if header.attr("to").as_deref() != Some(config.domain.as_str()) {
                        return link.stream_error(StreamErrorCondition::HostUnknown);
                    }
                    link.events.push_back(ComponentEvent::StreamOpened);
                    link.phase = Phase::AwaitHandshake;
                    link.arm();
                }
                (Phase::AwaitHandshake, Event::Element(el))
                    if el.is("handshake", JABBER_COMPONENT_ACCEPT) =>
                {
                    let expected = handshake_digest(id, &config.secret);
                    let given = el.text();
                    if !constant_time_eq(given.trim().as_bytes(), expected.as_bytes()) {
                        return link.stream_error(StreamErrorCondition::NotAuthorized);
                    }
                    link.out.element(|w| {
                        w.start("handshake").end("handshake");
                    });
                    link.phase = Phase::Online;
                    link.deadline = None;
                    link.parser.set_limits(config.limits);
                    link.events
                        .push_back(ComponentEvent::Authenticated(config.domain.clone()));
                    link.events
                        .push_back(ComponentEvent::Online(config.domain.clone()));
                }
                (Phase::AwaitHandshake, Event::Element(el)) if is_stanza(&el) => {
                    link.stream_error(StreamErrorCondition::NotAuthorized)
                }
                (Phase::Online | Phase::Closing, Event::Element(el)) if is_stanza(&el) => {
                    // XEP-0114: the component addresses explicitly, from its own domain.
                    let from = el.attr("from").map(|f| f.parse::<Jid>());
                    let to = el.attr("to").map(|t| t.parse::<Jid>());
                    match (from, to) {
                        (Some(Ok(from)), Some(Ok(_))) => {
                            let d = from.domain();
                            let ours = d == config.domain
                                || d.strip_suffix(config.domain.as_str())
                                    .is_some_and(|sub| sub.ends_with('.'));
                            if ours {
                                link.events.push_back(ComponentEvent::Stanza(el));
                            } else {
                                link.stream_error(StreamErrorCondition::InvalidFrom);
                            }
                        }
                        (Some(Err(_)), _) => link.stream_error(StreamErrorCondition::InvalidFrom),
                        _ => link.stream_error(StreamErrorCondition::ImproperAddressing),
                    }
                }
                _ => link.stream_error(StreamErrorCondition::UnsupportedStanzaType),
            }
        });
        Ok(())
    }

    common_methods!();
}
