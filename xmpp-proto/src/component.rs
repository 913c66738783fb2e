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
//!
//! Both sides in memory, each one's output fed to the other until both are online:
//!
//! ```
//! use std::time::Instant;
//! use xmpp_sansio::component::{
//!     Component, ComponentConfig, ComponentEvent, ComponentServer, ComponentServerConfig,
//! };
//!
//! let now = Instant::now();
//! let gateway: xmpp_sansio::jid::BareJid = "gw.example.com".parse()?;
//! let mut component = Component::new(ComponentConfig::new(gateway.clone(), "s3cr3t"), 1, now);
//! let config = ComponentServerConfig::new(gateway.clone(), "s3cr3t");
//! let mut server = ComponentServer::new(config, 0x5eed, now); // a fresh seed per connection
//! component.open(now)?;
//! let mut online = 0;
//! for _ in 0..4 {
//!     while let Some(bytes) = component.poll_transmit() {
//!         server.handle_input(now, &bytes)?;
//!     }
//!     while let Some(bytes) = server.poll_transmit() {
//!         component.handle_input(now, &bytes)?;
//!     }
//!     let events = std::iter::from_fn(|| component.poll_event())
//!         .chain(std::iter::from_fn(|| server.poll_event()));
//!     for event in events {
//!         if let ComponentEvent::Online(domain) = event {
//!             assert_eq!(domain, gateway);
//!             online += 1;
//!         }
//!     }
//! }
//! assert_eq!(online, 2, "both sides");
//! let id = component.next_id();
//! component.send_with(now, |w| {
//!     w.start("iq").attr("type", "get").attr("id", &id);
//!     w.attr("from", "gw.example.com").attr("to", "example.com").end("iq");
//! })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::time::{Duration, Instant};

use crate::error::{StanzaErrorCondition, StreamError, StreamErrorCondition};
use crate::jid::BareJid;
pub use crate::negotiate::handshake::digest as handshake_digest;
use crate::negotiate::handshake::{HandshakeClient, HandshakeServer};
use crate::negotiate::{Negotiate, Wire};
use crate::stanza::{JABBER_COMPONENT_ACCEPT, Stanza};
pub use crate::stream::CloseReason;
use crate::stream::engine::{
    Engine, InputRefused, Settings, StreamRole, stream_event, stream_methods,
};
use crate::stream::header::Header;
use crate::stream::rng::{Rng, StanzaIds};
use crate::xml::{Element, Limits, Writer};

/// How a component connects.
#[derive(Clone)]
#[non_exhaustive]
pub struct ComponentConfig {
    /// The component's own domain (`gateway.example.com`), a JID with neither localpart
    /// nor resource.
    pub domain: BareJid,
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
    /// A configuration with a 30 s response timeout and a 60 s keepalive. Only the domain
    /// of `domain` is used (`BareJid::from_domain("gw.example.com")`, or `.parse()`).
    pub fn new(domain: BareJid, secret: impl Into<String>) -> Self {
        ComponentConfig {
            domain: domain.domain_jid(),
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
#[non_exhaustive]
pub enum ComponentEvent {
    /// The peer's stream header was accepted.
    StreamOpened,
    /// The handshake succeeded, for this domain (a JID with neither localpart nor
    /// resource).
    Authenticated(BareJid),
    /// Stanzas flow, for this domain.
    Online(BareJid),
    /// A stanza arrived.
    Stanza(Stanza),
    /// The peer sent a stream error ([`ComponentEvent::Closed`] follows).
    PeerStreamError(Box<StreamError>),
    /// The stream is over, for this reason; close the transport. Nothing is reported after
    /// it.
    Closed(CloseReason),
}

stream_event!(ComponentEvent);

/// Why a call did nothing, on either side: the stream has ended
/// ([`ComponentError::StreamEnded`], an outcome to ignore: see
/// [`is_stream_ended`](Self::is_stream_ended)), or the embedder called a method that does
/// not fit the state ([`is_misuse`](Self::is_misuse)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ComponentError {
    /// [`Component::open`] was already called.
    AlreadyOpen,
    /// Input before [`Component::open`].
    NotOpen,
    /// Sending before the handshake succeeded.
    NotOnline,
    /// The stream has ended, or our closing tag is out: nothing more can be written (RFC
    /// 6120 section 4.4). Not a mistake: the peer may close, or a timer fire, between an
    /// event and the answer to it (a stanza and `</stream:stream>` in one read), so the
    /// answer comes too late and is dropped. [`ComponentEvent::Closed`] says why.
    StreamEnded,
    /// `send_with` left an element open: nothing was sent.
    Unbalanced,
}

impl core::fmt::Display for ComponentError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            ComponentError::AlreadyOpen => "the stream is already open",
            ComponentError::NotOpen => "the stream is not open yet",
            ComponentError::NotOnline => "stanzas can be sent only after the handshake",
            ComponentError::StreamEnded => "the stream has already ended; nothing was sent",
            ComponentError::Unbalanced => {
                "the stanza written left an element open; nothing was sent"
            }
        })
    }
}

impl std::error::Error for ComponentError {}

impl ComponentError {
    /// The stream has ended ([`ComponentError::StreamEnded`]): the call came too late to
    /// matter, and can be ignored; the `Closed` event says why the stream ended.
    pub fn is_stream_ended(&self) -> bool {
        *self == ComponentError::StreamEnded
    }

    /// The embedder called a method that does not fit the state (a bug to fix in the
    /// embedder): every error but [`StreamEnded`](ComponentError::StreamEnded).
    pub fn is_misuse(&self) -> bool {
        !self.is_stream_ended()
    }
}

impl From<InputRefused> for ComponentError {
    fn from(_: InputRefused) -> Self {
        // No TLS in XEP-0114 streams here: only a component before `open` refuses input.
        ComponentError::NotOpen
    }
}

/// Which step runs, on either side (`H` is the side's handshake step). Whether the stream
/// is open, closing or over is the engine's.
enum State<H> {
    /// The peer's header is awaited.
    AwaitHeader,
    /// The handshake runs.
    Handshake(H),
    /// Stanzas flow.
    Online,
}

impl<H> State<H> {
    /// Can stanzas be written on `engine`'s stream?
    fn online(&self, engine: &Engine<ComponentEvent>) -> Result<(), ComponentError> {
        if engine.is_ending() {
            Err(ComponentError::StreamEnded)
        } else if matches!(self, State::Online) {
            Ok(())
        } else {
            Err(ComponentError::NotOnline)
        }
    }
}

/// What `reply_error` answers with, and returns (whether a reply went out); rustdoc shows
/// both in full.
type Condition = StanzaErrorCondition;
type Reply = Result<bool, ComponentError>;

/// What the two sides have the same way: `Debug` (the domain, never the secret), input,
/// sending, and the `stream_methods!` every role has. `$peer` names the other side in the
/// docs.
macro_rules! side_methods {
    ($side:ident, $peer:literal) => {
        impl core::fmt::Debug for $side {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.debug_struct(stringify!($side))
                    .field("domain", &self.config.domain)
                    .finish_non_exhaustive()
            }
        }

        impl $side {
            #[doc = concat!("Bytes received from the ", $peer, ", at time `now`. Once the stream is over,")]
            /// input is ignored.
            ///
            /// # Errors
            ///
            /// [`ComponentError::NotOpen`] before [`Component::open`] (the server side
            /// takes input from the start). The peer's faults are not errors here: they end
            /// the stream, which the events report.
            pub fn handle_input(&mut self, now: Instant, data: &[u8]) -> Result<(), ComponentError> {
                self.at(now, |s| s.input(data))
                    .map_err(ComponentError::from)
            }

            /// Sends a stanza (after the handshake) at time `now`. It is written in
            /// `jabber:component:accept`, the stream's content namespace, whichever content
            /// namespace it was built or parsed in (`jabber:client`, the builders' default,
            /// or `jabber:server`), and so are its children in that namespace; payloads in
            /// other namespaces keep theirs. For a stanza the embedder builds,
            /// [`send_with`](Self::send_with) writes it straight into the output.
            ///
            /// # Errors
            ///
            /// [`ComponentError::NotOnline`] before the handshake succeeded;
            /// [`ComponentError::StreamEnded`] once the stream has ended (a late answer:
            /// ignore it).
            pub fn send(&mut self, now: Instant, stanza: &Element) -> Result<(), ComponentError> {
                self.send_with(now, |w| {
                    w.element(stanza.root(), JABBER_COMPONENT_ACCEPT);
                })
            }

            /// Sends the stanza that `write` writes (after the handshake) at time `now`,
            /// straight into the output: a stanza built with the [`stanza`](crate::stanza)
            /// builders' `write_to` is written once, never parsed or serialized again. An
            /// unprefixed element is in `jabber:component:accept`, the stream's default
            /// namespace, and so is a stanza whose `xmlns` names another content namespace
            /// (give the builders `content_ns(JABBER_COMPONENT_ACCEPT)` for an element
            /// payload parsed in this stream). Nothing is sent when `write` leaves an element
            /// open ([`ComponentError::Unbalanced`]).
            ///
            /// # Errors
            ///
            /// As [`send`](Self::send), and [`ComponentError::Unbalanced`].
            pub fn send_with(
                &mut self,
                now: Instant,
                write: impl FnOnce(&mut Writer<'_>),
            ) -> Result<(), ComponentError> {
                self.at(now, |s| {
                    s.state.online(&s.engine)?;
                    s.engine
                        .write_stanza(write, None)
                        .map_err(|_| ComponentError::Unbalanced)
                })
            }

            #[doc = concat!("Answers a stanza from the ", $peer, " at time `now` with a stanza error")]
            /// (`service-unavailable` for an iq the gateway does not handle, RFC 6120
            /// section 8.4; `item-not-found` for an unknown user), addresses swapped, the
            /// same id. Returns whether a reply went out: none for an error or an iq result
            /// (RFC 6120 sections 8.3.1 and 8.2.3).
            ///
            /// # Errors
            ///
            /// As [`send`](Self::send).
            pub fn reply_error(&mut self, now: Instant, to: &Stanza, why: Condition) -> Reply {
                self.at(now, |s| {
                    s.state.online(&s.engine)?;
                    Ok(s.engine.error_reply(to, why))
                })
            }

            /// A fresh id for a stanza this side sends, unique in the session, from the
            /// session's seed.
            pub fn next_id(&mut self) -> String {
                self.ids.next()
            }

            stream_methods!(ComponentEvent);
        }
    };
}

/// The handshake succeeded: stanzas flow.
fn online<H>(engine: &mut Engine<ComponentEvent>, state: &mut State<H>, domain: &BareJid) {
    *state = State::Online;
    engine.negotiated();
    let domain = domain.domain_jid();
    engine.report(ComponentEvent::Authenticated(domain.clone()));
    engine.report(ComponentEvent::Online(domain));
}

/// The component side of XEP-0114.
pub struct Component {
    config: ComponentConfig,
    engine: Engine<ComponentEvent>,
    state: State<HandshakeClient>,
    ids: StanzaIds,
}

side_methods!(Component, "server");

impl Component {
    /// A component that will connect with `config`; nothing happens until
    /// [`open`](Self::open). `seed` seeds this session's generator of stanza ids
    /// ([`next_id`](Self::next_id)): give each connection fresh randomness from the operating
    /// system, as for [`ComponentServer::new`].
    pub fn new(config: ComponentConfig, seed: u64, now: Instant) -> Self {
        let settings = Settings {
            content_ns: JABBER_COMPONENT_ACCEPT,
            limits: config.limits,
            response_timeout: config.response_timeout,
            keepalive: config.keepalive,
        };
        Component {
            engine: Engine::initiating(settings, now),
            ids: StanzaIds::new(Rng::new(seed)),
            config,
            state: State::AwaitHeader,
        }
    }

    /// Opens the stream to the component's own domain at time `now`; the server has the
    /// response timeout from `now` to answer.
    ///
    /// # Errors
    ///
    /// [`ComponentError::AlreadyOpen`] when called a second time.
    pub fn open(&mut self, now: Instant) -> Result<(), ComponentError> {
        self.at(now, |s| {
            if !s.engine.is_idle() {
                return Err(ComponentError::AlreadyOpen);
            }
            s.write_header();
            s.engine.await_peer();
            Ok(())
        })
    }
}

impl StreamRole for Component {
    type Event = ComponentEvent;

    fn engine(&mut self) -> &mut Engine<ComponentEvent> {
        &mut self.engine
    }

    fn write_header(&mut self) {
        self.engine.write_header(Header {
            to: Some(self.config.domain.domain()),
            ..Header::default()
        });
    }

    fn on_header(&mut self, header: Element) {
        if self.engine.parser().content_namespace() != Some(JABBER_COMPONENT_ACCEPT) {
            return self.stream_error(StreamErrorCondition::InvalidNamespace);
        }
        let Some(id) = header.attr("id") else {
            return self.stream_error(StreamErrorCondition::InvalidXml);
        };
        self.engine.report(ComponentEvent::StreamOpened);
        let step = HandshakeClient::begin(&id, &self.config.secret, &mut self.engine);
        self.state = State::Handshake(step);
        self.engine.await_peer();
    }

    fn on_element(&mut self, el: Element) {
        let el = match self.engine.stanza(el) {
            Ok(stanza) if matches!(self.state, State::Online) => {
                return self.engine.report(ComponentEvent::Stanza(stanza));
            }
            Ok(stanza) => stanza.into_element(),
            Err(el) => el,
        };
        match &self.state {
            State::Handshake(step) if HandshakeClient::takes(&el) => {
                let next = step.on_element(&el);
                if self.follow(next).is_some() {
                    online(&mut self.engine, &mut self.state, &self.config.domain);
                }
            }
            _ => self.stream_error(StreamErrorCondition::UnsupportedStanzaType),
        }
    }
}

/// How the server side accepts one component.
#[derive(Clone)]
#[non_exhaustive]
pub struct ComponentServerConfig {
    /// The component's domain (a JID with neither localpart nor resource); the stream's
    /// `to` must be it (else `host-unknown`).
    pub domain: BareJid,
    /// The shared secret.
    pub secret: String,
    /// The stream id to send; `None` makes one from the session's seed
    /// ([`ComponentServer::new`]).
    pub stream_id: Option<String>,
    /// How long to wait for the component during the handshake and closing.
    pub response_timeout: Duration,
    /// Idle time, once the handshake succeeded, after which a whitespace keepalive is sent;
    /// `None` (the default) turns it off.
    pub keepalive: Option<Duration>,
    /// Limits of the stream parser once the component has shaken hands.
    pub limits: Limits,
    /// Limits before the handshake succeeds ([`Limits::PRE_AUTH`] by default), each field
    /// never looser than the same field of [`limits`](Self::limits).
    pub pre_auth_limits: Limits,
}

impl ComponentServerConfig {
    /// A configuration with a 30 s response timeout and no keepalive. Only the domain of
    /// `domain` is used.
    pub fn new(domain: BareJid, secret: impl Into<String>) -> Self {
        ComponentServerConfig {
            domain: domain.domain_jid(),
            secret: secret.into(),
            stream_id: None,
            response_timeout: Duration::from_secs(30),
            keepalive: None,
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
            .field("response_timeout", &self.response_timeout)
            .field("keepalive", &self.keepalive)
            .field("limits", &self.limits)
            .field("pre_auth_limits", &self.pre_auth_limits)
            .finish()
    }
}

/// The server side of XEP-0114.
pub struct ComponentServer {
    config: ComponentServerConfig,
    engine: Engine<ComponentEvent>,
    state: State<HandshakeServer>,
    stream_id: String,
    ids: StanzaIds,
}

side_methods!(ComponentServer, "component");

impl ComponentServer {
    /// A server side for a new component connection; it waits for the component's header
    /// from `now`. `seed` seeds this session's generator of the stream id and stanza ids
    /// ([`next_id`](Self::next_id)): give each connection fresh randomness from the
    /// operating system.
    pub fn new(config: ComponentServerConfig, seed: u64, now: Instant) -> Self {
        let mut rng = Rng::new(seed);
        let stream_id = config.stream_id.clone().unwrap_or_else(|| rng.token(16));
        let settings = Settings {
            content_ns: JABBER_COMPONENT_ACCEPT,
            limits: config.pre_auth_limits.min(config.limits),
            response_timeout: config.response_timeout,
            keepalive: config.keepalive,
        };
        ComponentServer {
            engine: Engine::receiving(settings, now),
            config,
            state: State::AwaitHeader,
            stream_id,
            ids: StanzaIds::new(rng),
        }
    }

    /// XEP-0114 section 3: the component addresses explicitly ("MUST possess a 'from'
    /// attribute and a 'to' attribute"), from its own domain: "The domain identifier portion
    /// of the JID contained in the 'from' attribute MUST match the hostname of the
    /// component", "the only restriction", so any user of it may send, and a subdomain,
    /// which the handshake did not authenticate, may not (`invalid-from`, RFC 6120 section
    /// 8.1.2.2). A `from` or `to` missing, empty or not an address is `improper-addressing`
    /// (section 4.9.3.7).
    fn on_stanza(&mut self, stanza: Stanza) {
        match (stanza.from(), stanza.to()) {
            (Ok(Some(from)), Ok(Some(_))) => {
                if from.domain() == self.config.domain.domain() {
                    self.engine.report(ComponentEvent::Stanza(stanza));
                } else {
                    self.stream_error(StreamErrorCondition::InvalidFrom);
                }
            }
            _ => self.stream_error(StreamErrorCondition::ImproperAddressing),
        }
    }
}

impl StreamRole for ComponentServer {
    type Event = ComponentEvent;

    fn engine(&mut self) -> &mut Engine<ComponentEvent> {
        &mut self.engine
    }

    fn write_header(&mut self) {
        self.engine.write_header(Header {
            from: Some(self.config.domain.domain()),
            id: Some(&self.stream_id),
            ..Header::default()
        });
    }

    fn on_header(&mut self, header: Element) {
        self.write_header();
        if self.engine.parser().content_namespace() != Some(JABBER_COMPONENT_ACCEPT) {
            return self.stream_error(StreamErrorCondition::InvalidNamespace);
        }
        // The same domain once prepared (RFC 7622 section 3.2): `GW.example.com` is ours.
        let to = header.attr("to").and_then(|to| to.parse::<BareJid>().ok());
        if to.as_ref() != Some(&self.config.domain) {
            return self.stream_error(StreamErrorCondition::HostUnknown);
        }
        self.engine.report(ComponentEvent::StreamOpened);
        self.state = State::Handshake(HandshakeServer);
        self.engine.await_peer();
    }

    fn on_element(&mut self, el: Element) {
        let el = match self.engine.stanza(el) {
            Ok(stanza) if matches!(self.state, State::Online) => return self.on_stanza(stanza),
            Ok(_) if matches!(self.state, State::Handshake(_)) => {
                return self.stream_error(StreamErrorCondition::NotAuthorized);
            }
            Ok(stanza) => stanza.into_element(),
            Err(el) => el,
        };
        match &self.state {
            State::Handshake(step) if HandshakeServer::takes(&el) => {
                let (id, secret) = (&self.stream_id, &self.config.secret);
                let next = step.on_element(&el, id, secret, &mut self.engine);
                if self.follow(next).is_some() {
                    // Shaken hands: the limits of an authenticated peer.
                    self.engine.parser_mut().set_limits(self.config.limits);
                    online(&mut self.engine, &mut self.state, &self.config.domain);
                }
            }
            _ => self.stream_error(StreamErrorCondition::UnsupportedStanzaType),
        }
    }
}
