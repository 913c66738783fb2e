//! The client role: a c2s initiating entity (RFC 6120 sections 4 to 7 and 9.1) as a sans-IO
//! state machine.
//!
//! The embedder owns the socket, the TLS library, the clock and the random source; the core
//! owns every protocol decision. The loop is:
//!
//! - bytes read from the transport go to [`Client::handle_input`], with the current time;
//! - [`Client::poll_transmit`] gives the bytes to write;
//! - [`Client::poll_event`] gives what the embedder must know or do ([`ClientEvent`]);
//! - [`Client::poll_timeout`] says when to call [`Client::handle_timeout`];
//! - the embedder's decisions are methods: [`Client::open`], [`Client::tls_established`],
//!   [`Client::auth`], [`Client::send`], [`Client::close`], [`Client::handle_eof`].
//!
//! Negotiation: stream header, STARTTLS by [`TlsPolicy`] (section 5), SASL (section 6, the
//! mechanisms of [`crate::sasl`], chosen by a preference list), resource binding (section 7)
//! and, only when the server requires it, the legacy session (RFC 3921 section 3); then,
//! when [`ClientConfig::stream_management`] is on and the server offers it, stream
//! management (XEP-0198, see `stream/management/`): acknowledgements, the unacknowledged
//! queue, and, with [`ClientConfig::resumption`], resumption: once the stream is over,
//! [`Client::take_resumption_state`] gives what a new `Client` resumes with
//! ([`Client::resume_from`], before `open`: SASL, then `<resume/>` instead of binding).
//!
//! Modern login, opt-in ([`ClientConfig::sasl2`]), when the server offers it: SASL2
//! (XEP-0388, the same mechanisms, no restart after `<success/>`, `<continue/>` tasks for the
//! embedder: [`ClientEvent::Sasl2Continue`]), Bind 2 (XEP-0386, [`ClientConfig::bind2`]:
//! online from `<success/>`, stream management enabled inside it), resumption inside
//! `<authenticate/>`, FAST tokens (XEP-0484: [`ClientConfig::fast_request_token`],
//! [`ClientEvent::FastToken`], [`ClientConfig::fast_token`]), XEP-0474's downgrade check
//! ([`ClientConfig::downgrade_protection`]) and direct TLS (XEP-0368,
//! [`Client::direct_tls`]). See `negotiate/sasl2.rs` for the versions followed.
//!
//! Nothing given to [`Client::send`] is lost silently with stream management on: each
//! stanza is acknowledged ([`ClientEvent::Acked`]), sent again after a resumption, or, once
//! the stream is over for good, handed back by [`Client::take_unacked`] (or inside the
//! [`ResumptionState`]; after a failed resumption, in [`ClientEvent::ResumeFailed`]). Every
//! method that can write or start a timer takes the time: timers count from it, and the
//! ones due by then fire before the method returns.
//!
//! ```
//! use std::time::Instant;
//! use xmpp_sansio::client::{Client, ClientConfig, ClientEvent, TlsPolicy};
//!
//! let now = Instant::now();
//! let mut config = ClientConfig::new("juliet@example.com".parse()?, "r0m30myr0m30");
//! config.tls = TlsPolicy::Disabled; // an in-memory sketch: no TLS library here
//! config.allow_plain_without_tls = true;
//! let seed = 0x5eed; // fresh randomness from the OS in a real client
//! let mut client = Client::new(config, seed, now);
//! client.open(now)?;
//! let header = client.poll_transmit().expect("our stream header");
//! assert!(header.starts_with(b"<?xml version='1.0'?><stream:stream"));
//!
//! // The server's header and features: SASL PLAIN.
//! client.handle_input(
//!     now,
//!     b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' \
//!       id='c2s1' from='example.com' version='1.0'><stream:features>\
//!       <mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism>\
//!       </mechanisms></stream:features>",
//! )?;
//! assert!(matches!(client.poll_event(), Some(ClientEvent::StreamOpened)));
//! let auth = client.poll_transmit().expect("the SASL attempt");
//! assert!(auth.starts_with(b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>"));
//! // The server's deadline to answer, counted from `now`.
//! assert_eq!(client.poll_timeout(), Some(now + std::time::Duration::from_secs(30)));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod config;
mod event;
mod modern_login;
mod stream_management;

pub use config::ClientConfig;
pub use event::{ClientError, ClientEvent};

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;

use crate::error::{STREAM_NS, StreamErrorCondition};
use crate::jid::{BareJid, FullJid};
use crate::negotiate::bind::BindClient;
use crate::negotiate::sasl_client::{Attempt, Authenticated, SaslClientStep};
pub use crate::negotiate::sasl2::UserAgent;
use crate::negotiate::session::SessionClient;
use crate::negotiate::starttls::StartTlsClient;
use crate::negotiate::{Negotiate, Wire};
pub use crate::sasl::ht::{FastToken, HtMechanism};
use crate::sasl::{self, ChannelBinding, Credentials, Mechanism, Nonce, SaslClientConfig};
use crate::stanza::{JABBER_CLIENT, Stanza, Triage, check_iq};
#[cfg(doc)]
use crate::stream::Framing;
use crate::stream::engine::{Engine, Settings, StanzaRefused, StreamRole, stream_methods};
use crate::stream::header::{Header, check_peer_header};
use crate::stream::management::{self, SM_NS};
use crate::stream::rng::Rng;
use crate::stream::tls::Transport;
pub use crate::stream::{Abandoned, CloseReason, ProtocolViolation, TlsPolicy};
use crate::stream::{Features, Requirement, StreamLimits};
pub use crate::stream::{ResumptionState, UnackedLimits};
use crate::xml::{Element, ElementRef, Writer, XML_NS};

/// Which negotiation step runs, and what the steps before it established. Whether the
/// stream is open, securing, closing or over is the engine's.
enum State {
    /// Our header is out; the server's is awaited. `auth` is what SASL established, once
    /// it ran.
    AwaitHeader(Option<Box<Authenticated>>),
    /// The server's header arrived; its features are awaited.
    AwaitFeatures(Option<Box<Authenticated>>),
    /// STARTTLS runs (RFC 6120 section 5), then TLS is set up and the stream restarts.
    StartTls(StartTlsClient, Option<Box<Authenticated>>),
    /// SASL runs (RFC 6120 section 6).
    Sasl(Box<SaslClientStep>),
    /// Resource binding runs (RFC 6120 section 7); `session`: the server requires the
    /// legacy session after it.
    Bind {
        step: BindClient,
        session: bool,
        auth: Box<Authenticated>,
    },
    /// The legacy session runs (RFC 3921 section 3).
    Session {
        step: SessionClient,
        auth: Box<Authenticated>,
    },
    /// `<resume/>` is out (XEP-0198 section 5); `bind` and `session` are what the features
    /// offered, for a fresh bind when the server answers `<failed/>`.
    Resume {
        auth: Box<Authenticated>,
        bind: bool,
        session: bool,
    },
    /// Bind 2 bound `jid` without enabling stream management inline, which the
    /// configuration asks for (the server's Bind 2 does not offer it: Prosody 0.12 with
    /// prosody-modules but not `mod_sasl2_sm`). The features that follow `<success/>` are
    /// awaited: when they offer stream management, `<enable/>` goes out before the session
    /// is online, so that everything the embedder sends counts (XEP-0198 section 3).
    Bound2 {
        jid: FullJid,
        auth: Box<Authenticated>,
    },
    /// Stanzas flow.
    Online(Box<Authenticated>),
}

impl State {
    /// What SASL established, once it ran.
    fn authenticated(&self) -> Option<&Authenticated> {
        match self {
            State::AwaitHeader(auth) | State::AwaitFeatures(auth) | State::StartTls(_, auth) => {
                auth.as_deref()
            }
            State::Sasl(_) => None,
            State::Bind { auth, .. }
            | State::Session { auth, .. }
            | State::Resume { auth, .. }
            | State::Bound2 { auth, .. }
            | State::Online(auth) => Some(auth),
        }
    }
}

/// What a server's `<stream:features/>` said that the client keeps for the embedder.
struct PeerFeatures {
    /// What the server accepts on the current stream (XEP-0478).
    limits: Option<StreamLimits>,
    /// The features, when some are not the core's to negotiate.
    features: Option<Element>,
}

/// The client side of one c2s stream.
pub struct Client {
    /// Shared, like the server's: a program with many sessions of one account (a load
    /// tester, a bot farm) holds one copy.
    config: Arc<ClientConfig>,
    engine: Engine<ClientEvent>,
    state: State,
    rng: Rng,
    /// What the server's latest features said beyond what the core negotiates; boxed, and
    /// absent when they said nothing more, so that it costs a session one word.
    peer: Option<Box<PeerFeatures>>,
    next_id: u64,
}

impl core::fmt::Debug for Client {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Client")
            .field("jid", &self.config.jid)
            .field("encrypted", &self.engine.transport().is_encrypted())
            .field(
                "authenticated_with",
                &self.state.authenticated().map(|a| a.mechanism),
            )
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client that will connect with `config`; nothing happens until [`open`](Self::open).
    ///
    /// `config` may be shared by many sessions (pass an `Arc`, or a `ClientConfig` for one);
    /// `seed` seeds this session's generator of SCRAM nonces and stanza ids: give each
    /// connection fresh randomness from the operating system, since whoever knows it can
    /// predict them.
    pub fn new(config: impl Into<Arc<ClientConfig>>, seed: u64, now: Instant) -> Self {
        let config = config.into();
        let settings = Settings {
            content_ns: JABBER_CLIENT,
            limits: config.limits,
            response_timeout: config.response_timeout,
            keepalive: config.keepalive,
        };
        let mut engine = Engine::initiating(settings, now);
        engine.set_framing(config.framing);
        Client {
            engine,
            rng: Rng::new(seed),
            config,
            state: State::AwaitHeader(None),
            peer: None,
            next_id: 0,
        }
    }

    /// Starts the stream at time `now`: the client's header is queued, and the server has
    /// the response timeout from `now` to answer.
    ///
    /// # Errors
    ///
    /// [`ClientError::AlreadyOpen`] when called a second time.
    pub fn open(&mut self, now: Instant) -> Result<(), ClientError> {
        self.at(now, |s| {
            if !s.engine.is_idle() {
                return Err(ClientError::AlreadyOpen);
            }
            s.send_header(None);
            Ok(())
        })
    }

    /// The transport is TLS from its first byte (XEP-0368 direct TLS, port 5223 with ALPN
    /// `xmpp-client`): call before [`open`](Self::open), once the handshake is done, with
    /// the channel-binding data it exported and whether the client presented a
    /// certificate. The stream then begins encrypted: `from` goes into the first header,
    /// STARTTLS is neither expected nor used, whatever [`ClientConfig::tls`] says, and
    /// the `-PLUS` mechanisms can run on the first stream.
    ///
    /// # Errors
    ///
    /// [`ClientError::AlreadyOpen`] after [`open`](Self::open) (or a second time).
    pub fn direct_tls(
        &mut self,
        channel_binding: Option<ChannelBinding>,
        client_certificate: bool,
    ) -> Result<(), ClientError> {
        let transport = Transport::Tls {
            channel_bindings: channel_binding.into_iter().collect(),
            peer_certificate: client_certificate,
        };
        if self.engine.direct_tls(transport) {
            Ok(())
        } else {
            Err(ClientError::AlreadyOpen)
        }
    }

    /// Bytes received from the server, at time `now` (with WebSocket framing, one whole
    /// message per call: see [`Framing`]).
    ///
    /// Everything after a `<proceed/>` in the same input is discarded, and so is input that
    /// arrives before [`tls_established`](Self::tls_established) (reported as
    /// [`ClientError::AwaitingTls`]): it would be plaintext injected before the handshake.
    /// Once the stream is over, input is ignored.
    ///
    /// # Errors
    ///
    /// [`ClientError::NotOpen`] before [`open`](Self::open), [`ClientError::AwaitingTls`]
    /// while TLS is being set up. The server's faults are not errors here: they end the
    /// stream, which the events report.
    pub fn handle_input(&mut self, now: Instant, data: &[u8]) -> Result<(), ClientError> {
        self.at(now, |s| s.input(data)).map_err(ClientError::from)
    }

    /// TLS is up at time `now` (after [`ClientEvent::TlsRequested`]); `channel_binding` is
    /// what the TLS library exported, for the SCRAM `-PLUS` mechanisms. The stream restarts.
    ///
    /// # Errors
    ///
    /// [`ClientError::NoTlsRequested`] without a [`ClientEvent::TlsRequested`] to answer;
    /// [`ClientError::StreamEnded`] when the stream has ended meanwhile.
    pub fn tls_established(
        &mut self,
        now: Instant,
        channel_binding: Option<ChannelBinding>,
    ) -> Result<(), ClientError> {
        self.secure(now, channel_binding, false)
    }

    /// TLS is up, as with [`tls_established`](Self::tls_established), and the client
    /// presented its certificate in the handshake: SASL `EXTERNAL` (RFC 6120 section
    /// 6.3.4, RFC 4422 appendix A) may then run, if [`ClientConfig::mechanisms`] lists it
    /// and the server offers it. The client asks for no authzid: its message is empty
    /// (`=` on the wire, RFC 6120 section 6.4.2), and the server derives the identity from
    /// the certificate. Without a certificate `EXTERNAL` is never chosen.
    pub fn tls_established_with_client_cert(
        &mut self,
        now: Instant,
        channel_binding: Option<ChannelBinding>,
    ) -> Result<(), ClientError> {
        self.secure(now, channel_binding, true)
    }

    fn secure(
        &mut self,
        now: Instant,
        channel_binding: Option<ChannelBinding>,
        client_certificate: bool,
    ) -> Result<(), ClientError> {
        self.at(now, |s| {
            if s.engine.is_ending() {
                return Err(ClientError::StreamEnded);
            }
            let transport = Transport::Tls {
                channel_bindings: channel_binding.into_iter().collect(),
                // The certificate is the client's, whichever side keeps the transport.
                peer_certificate: client_certificate,
            };
            if !s.engine.tls_established(transport) {
                return Err(ClientError::NoTlsRequested);
            }
            let auth = match std::mem::replace(&mut s.state, State::AwaitHeader(None)) {
                State::StartTls(_, auth) => auth,
                _ => None,
            };
            s.send_header(auth);
            Ok(())
        })
    }

    /// After [`ClientEvent::SaslFailure`], at time `now`: tries again with `mechanism`, or
    /// with the next acceptable one after those that failed.
    ///
    /// # Errors
    ///
    /// [`ClientError::NotAwaitingAuth`] without a [`ClientEvent::SaslFailure`] to answer;
    /// [`ClientError::StreamEnded`] when the stream has ended meanwhile.
    pub fn auth(&mut self, now: Instant, mechanism: Option<Mechanism>) -> Result<(), ClientError> {
        self.at(now, |s| {
            if s.engine.is_ending() {
                return Err(ClientError::StreamEnded);
            }
            if !matches!(&s.state, State::Sasl(step) if step.awaits_embedder()) {
                return Err(ClientError::NotAwaitingAuth);
            }
            let attempt = s.attempt();
            if let State::Sasl(step) = &mut s.state {
                match step.attempt(attempt, mechanism, &mut s.engine) {
                    Ok(()) => s.engine.await_peer(),
                    Err(failure) => s.fail(failure),
                }
            }
            Ok(())
        })
    }

    /// After [`ClientEvent::Sasl2Continue`], at time `now`: performs `task` (XEP-0388
    /// `<next task/>`), with its first data (the children of a `<task-data/>`), if any.
    ///
    /// # Errors
    ///
    /// [`ClientError::NotAwaitingAuth`] when no SASL2 task is asked for;
    /// [`ClientError::StreamEnded`] when the stream has ended meanwhile.
    pub fn sasl2_next(
        &mut self,
        now: Instant,
        task: &str,
        payload: &[Element],
    ) -> Result<(), ClientError> {
        self.in_task(now, |step, engine| step.next_task(task, payload, engine))
    }

    /// After [`ClientEvent::Sasl2TaskData`], at time `now`: answers with a `<task-data/>`
    /// holding `payload`.
    ///
    /// # Errors
    ///
    /// As [`sasl2_next`](Self::sasl2_next).
    pub fn sasl2_task_data(
        &mut self,
        now: Instant,
        payload: &[Element],
    ) -> Result<(), ClientError> {
        self.in_task(now, |step, engine| step.task_data(payload, engine))
    }

    /// At time `now`, `answer` in the SASL2 task the server asked for, then waits for it.
    fn in_task(
        &mut self,
        now: Instant,
        answer: impl FnOnce(&mut SaslClientStep, &mut Engine<ClientEvent>),
    ) -> Result<(), ClientError> {
        self.at(now, |s| {
            if s.engine.is_ending() {
                return Err(ClientError::StreamEnded);
            }
            let State::Sasl(step) = &mut s.state else {
                return Err(ClientError::NotAwaitingAuth);
            };
            if !step.in_tasks() {
                return Err(ClientError::NotAwaitingAuth);
            }
            answer(step, &mut s.engine);
            s.engine.await_peer();
            Ok(())
        })
    }

    /// Sends a stanza (once online) at time `now`. It is written in `jabber:client`, the
    /// stream's content namespace, even when built or parsed in another (`jabber:server`,
    /// `jabber:component:accept`), and so are its children in that namespace; payloads in
    /// other namespaces keep theirs. An iq without an id gets one from
    /// [`next_id`](Self::next_id). A first-level element of another namespace (stream
    /// management's `<enable/>`...) is written with its own. For a stanza the embedder builds, [`send_with`](Self::send_with)
    /// writes it straight into the output instead.
    ///
    /// An iq that breaks another rule of RFC 6120 section 8.2.3 (no valid `type`, a `get`
    /// or `set` without exactly one child, a `result` with more than one, an `error`
    /// without `<error/>`) is refused with [`ClientError::InvalidIq`]: the server would
    /// answer it with `bad-request`, or drop it.
    ///
    /// # Errors
    ///
    /// [`ClientError::NotOnline`] before [`ClientEvent::Online`];
    /// [`ClientError::StanzaTooLarge`] over the server's limit (nothing is sent);
    /// [`ClientError::InvalidIq`] for an iq that breaks RFC 6120 section 8.2.3;
    /// [`ClientError::StreamEnded`] once the stream has ended (a late answer: ignore it).
    pub fn send(&mut self, now: Instant, stanza: &Element) -> Result<(), ClientError> {
        self.at(now, |s| {
            s.online()?;
            // Every iq needs an id to be answered (RFC 6120 8.2.3).
            let with_id = (stanza.name() == "iq" && stanza.attr("id").is_none())
                .then(|| stanza.with_attr("id", &s.next_id()));
            let stanza = with_id.as_ref().unwrap_or(stanza);
            check_iq(stanza).map_err(ClientError::InvalidIq)?;
            s.write_stanza(|w| {
                w.element(stanza.root(), JABBER_CLIENT);
            })
        })
    }

    /// Sends the stanza that `write` writes (once online) at time `now`, straight into the
    /// output: a stanza built with the [`stanza`](crate::stanza) builders' `write_to` is
    /// written once, never parsed or serialized again. An unprefixed element is in
    /// `jabber:client`, the stream's default namespace; any other needs its `xmlns`.
    ///
    /// The same checks as [`send`](Self::send), save one: the caller gives every iq its id
    /// (from [`next_id`](Self::next_id); [`IqBuilder`](crate::stanza::IqBuilder) requires
    /// one). Nothing is sent when the stanza is larger than the server accepts
    /// ([`ClientError::StanzaTooLarge`]) or when `write` leaves an element open
    /// ([`ClientError::Unbalanced`]).
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send), and [`ClientError::Unbalanced`].
    ///
    /// ```
    /// # use xmpp_sansio::client::{Client, ClientConfig, ClientError};
    /// # use xmpp_sansio::jid::Jid;
    /// # use xmpp_sansio::stanza::MessageBuilder;
    /// # fn send(client: &mut Client, now: std::time::Instant) -> Result<(), ClientError> {
    /// let romeo: Jid = "romeo@example.net".parse().unwrap();
    /// client.send_with(now, |w| {
    ///     MessageBuilder::new().to(&romeo).body("Art thou not Romeo?").write_to(w)
    /// })?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// The IQ rules that [`send`](Self::send) checks are not checked here: what `write`
    /// writes is never read back. [`IqBuilder`](crate::stanza::IqBuilder) gives every iq an
    /// id and a type; its caller gives a `get` or `set` its one payload.
    pub fn send_with(
        &mut self,
        now: Instant,
        write: impl FnOnce(&mut Writer<'_>),
    ) -> Result<(), ClientError> {
        self.at(now, |s| {
            s.online()?;
            s.write_stanza(write)
        })
    }

    /// Writes a stanza under the server's XEP-0478 limit, all of it or nothing.
    fn write_stanza(&mut self, write: impl FnOnce(&mut Writer<'_>)) -> Result<(), ClientError> {
        let max = self.peer_limits().and_then(|l| l.max_bytes);
        self.engine
            .write_stanza(write, max)
            .map_err(|refused| match refused {
                StanzaRefused::Unbalanced => ClientError::Unbalanced,
                StanzaRefused::TooLarge { size, max } => ClientError::StanzaTooLarge { size, max },
                StanzaRefused::QueueFull => ClientError::UnackedQueueFull,
            })
    }

    /// Answers a received stanza at time `now` with a stanza error (for example
    /// `service-unavailable` for an iq the embedder does not handle, RFC 6120 8.4), with
    /// swapped addresses and the same id. Nothing is sent for an error or an iq result (RFC
    /// 6120 8.3.1, 8.2.3): the result says whether a reply went out.
    ///
    /// # Errors
    ///
    /// [`ClientError::NotOnline`] before [`ClientEvent::Online`];
    /// [`ClientError::StreamEnded`] once the stream has ended (a late answer: ignore it).
    pub fn reply_error(
        &mut self,
        now: Instant,
        to: &Stanza,
        condition: crate::error::StanzaErrorCondition,
    ) -> Result<bool, ClientError> {
        self.at(now, |s| {
            s.online()?;
            Ok(s.engine.error_reply(to, condition))
        })
    }

    /// The features of the server's latest `<stream:features/>` that the core does not
    /// negotiate (stream management when [`ClientConfig::stream_management`] is off, client
    /// state indication, roster versioning...), for
    /// the embedder to use once online (with [`ClientConfig::nonza_namespaces`] for the
    /// elements they bring).
    pub fn other_features(&self) -> impl Iterator<Item = ElementRef<'_>> {
        let features = self.peer.as_ref().and_then(|p| p.features.as_ref());
        features
            .into_iter()
            .flat_map(|f| f.root().children().filter(|c| !self.negotiates(*c)))
    }

    /// Does the core negotiate this feature itself? Stream management only when configured
    /// ([`ClientConfig::stream_management`]); an embedder that runs it itself sees it among
    /// [`other_features`](Self::other_features). The core's own need no copy kept: an idle
    /// client whose server offered nothing more holds none of its features.
    fn negotiates(&self, feature: ElementRef<'_>) -> bool {
        Features::is_known(feature) || (self.config.stream_management && feature.is("sm", SM_NS))
    }

    /// What the server said it accepts on the current stream (XEP-0478), if it said: the
    /// largest stanza it takes, and how long it lets the stream idle. [`send`](Self::send)
    /// refuses a stanza larger than `max_bytes` with [`ClientError::StanzaTooLarge`].
    pub fn peer_limits(&self) -> Option<StreamLimits> {
        self.peer.as_ref().and_then(|p| p.limits)
    }

    /// The `xml:lang` of the server's stream header in force: the default language of every
    /// stanza that carries none (RFC 6120 sections 4.7.4 and 8.1.5).
    pub fn stream_lang(&self) -> Option<Cow<'_, str>> {
        self.engine
            .parser()
            .header()?
            .root()
            .attr_ns(XML_NS, "lang")
    }

    /// The language of a stanza that arrived on this stream: its own `xml:lang`, else the
    /// stream's (RFC 6120 section 8.1.5: "an implementation MUST assume that the default
    /// language is that specified for the entity's input stream"). The stanza is handed over
    /// as received, never copied to carry the stream's language.
    pub fn stanza_lang<'a>(&'a self, stanza: &'a Stanza) -> Option<Cow<'a, str>> {
        stanza.lang_or(self.stream_lang())
    }

    /// A fresh id, unique in this session, for stanzas the embedder sends.
    pub fn next_id(&mut self) -> String {
        crate::stream::rng::next_id(&mut self.rng, &mut self.next_id)
    }

    stream_methods!(ClientEvent);

    /// After [`ClientEvent::Authenticated`] from a SCRAM login: the keys it used
    /// (`ClientKey` and `ServerKey`, with the server's salt and iteration count). Store them
    /// as carefully as the password (they log in as the user on this server) and put them in
    /// [`ClientConfig::scram_keys`] next time: the login then runs no PBKDF2, and needs no
    /// password. Their `Debug` output leaves the keys out.
    pub fn scram_keys(&self) -> Option<&sasl::ScramKeys> {
        self.state.authenticated()?.scram_keys.as_ref()
    }

    /// Can stanzas be sent?
    fn online(&self) -> Result<(), ClientError> {
        if self.engine.is_ending() {
            Err(ClientError::StreamEnded)
        } else if matches!(self.state, State::Online(_)) {
            Ok(())
        } else {
            Err(ClientError::NotOnline)
        }
    }

    /// Our header of a new stream (at `open`, and at each restart), then the server's is
    /// awaited; `auth` is what SASL established, once it ran.
    fn send_header(&mut self, auth: Option<Box<Authenticated>>) {
        StreamRole::write_header(self);
        self.run(State::AwaitHeader(auth));
    }

    /// `state` runs, and the server must answer within the response timeout.
    fn run(&mut self, state: State) {
        self.state = state;
        self.engine.await_peer();
    }

    /// A SASL attempt with the configuration and the transport as they are now.
    fn attempt(&mut self) -> Attempt {
        let transport = self.engine.transport();
        // EXTERNAL authenticates with the certificate given in the TLS handshake: without
        // one there is nothing for the server to derive the identity from.
        let mut preference = self.config.mechanisms.clone();
        if !transport.peer_certificate() {
            preference.retain(|m| *m != Mechanism::External);
        }
        let config = SaslClientConfig {
            preference,
            allow_plain: transport.is_encrypted() || self.config.allow_plain_without_tls,
            channel_binding: transport.channel_bindings().first().cloned(),
            max_iterations: self.config.scram_max_iterations,
            ..SaslClientConfig::default()
        };
        let credentials = Credentials {
            username: self.config.jid.local().unwrap_or_default().to_owned(),
            password: self.config.password.clone(),
            scram_keys: self.config.scram_keys.clone(),
            authzid: None,
        };
        let nonce = match &self.config.client_nonce {
            Some(n) => Nonce::new(n.clone()),
            None => Nonce::new(self.rng.token(24)),
        };
        Attempt {
            config,
            plus_without_advertisement: self.config.plus_without_advertisement,
            credentials,
            nonce,
            downgrade_protection: self.config.downgrade_protection,
        }
    }

    /// The server's features: the first step they call for begins (RFC 6120 section 4.3.2:
    /// STARTTLS, then SASL, then binding).
    fn on_features(&mut self, features: &Element) {
        let State::AwaitFeatures(auth) =
            std::mem::replace(&mut self.state, State::AwaitHeader(None))
        else {
            return;
        };
        let f = Features::read(features.root());
        // Each set of features says what holds from now on (XEP-0478 section 4).
        let others = features.root().children().any(|c| !self.negotiates(c));
        let peer = PeerFeatures {
            limits: f.limits,
            features: others.then(|| features.clone()),
        };
        self.peer = (peer.limits.is_some() || peer.features.is_some()).then(|| Box::new(peer));
        // RFC 6120 section 5.3.1: "STARTTLS negotiation MUST be completed before proceeding
        // to SASL negotiation": after authentication an offer of it is ignored.
        if !self.engine.transport().is_encrypted() && auth.is_none() {
            // RFC 7395 section 3.7: over WebSocket an offer of STARTTLS is ignored.
            let starttls = f.starttls.filter(|_| !self.engine.framing().is_websocket());
            match StartTlsClient::begin(self.config.tls, starttls, &mut self.engine) {
                Ok(Some(step)) => return self.run(State::StartTls(step, auth)),
                Ok(None) => {}
                Err(failure) => return self.fail(failure),
            }
        }
        let mut auth = auth;
        let sm_offered = features.root().children().any(|c| c.is("sm", SM_NS));
        if let Some(auth) = &mut auth {
            auth.sm_offered = sm_offered;
        }
        if auth.is_some() && self.engine.sm_is_resuming() {
            let offered = sm_offered;
            if offered {
                if let Some(auth) = auth {
                    let session = f.session == Some(Requirement::Required);
                    return self.send_resume(auth, f.bind, session);
                }
            }
            // Not offered on this stream: the previous session cannot be resumed here.
            self.resume_failed(None, None);
        }
        let Some(auth) = auth else {
            let attempt = self.attempt();
            // XEP-0388 section 3: "SASL2 MUST only be used by Clients ... after TLS
            // negotiation" (or with TLS turned off altogether, where the embedder says the
            // transport is protected another way, or that it is a test).
            let sasl2_allowed =
                self.engine.transport().is_encrypted() || self.config.tls == TlsPolicy::Disabled;
            let sasl2_offer = f.sasl2.filter(|_| sasl2_allowed);
            let fast = sasl2_offer.as_ref().and_then(|offer| {
                let token = self.config.fast_token.as_ref()?;
                self.fast_mechanism(offer, Some(token.mechanism))?;
                Some(token.clone())
            });
            let started = match sasl2_offer {
                Some(offer) if self.config.sasl2 && fast.is_some() => {
                    let inline = self.sasl2_inline(&offer);
                    let Some(token) = fast else { return };
                    let cb = token
                        .mechanism
                        .channel_binding()
                        .and_then(|t| {
                            let bindings = self.engine.transport().channel_bindings();
                            bindings
                                .iter()
                                .find(|cb| cb.kind == t)
                                .map(|cb| cb.data.clone())
                        })
                        .unwrap_or_default();
                    let authcid = self.config.jid.local().unwrap_or_default().to_owned();
                    let options = (self.config.fast_count, self.config.fast_invalidate);
                    Ok(SaslClientStep::begin_fast(
                        offer.mechanisms,
                        f.channel_bindings,
                        &authcid,
                        token,
                        cb,
                        options,
                        inline,
                        &mut self.engine,
                    ))
                }
                Some(offer) if self.config.sasl2 && !offer.mechanisms.is_empty() => {
                    let inline = self.sasl2_inline(&offer);
                    SaslClientStep::begin_sasl2(
                        offer.mechanisms,
                        f.channel_bindings,
                        attempt,
                        inline,
                        &mut self.engine,
                    )
                }
                _ => SaslClientStep::begin(
                    f.mechanisms,
                    f.channel_bindings,
                    attempt,
                    &mut self.engine,
                ),
            };
            return match started {
                Ok(step) => self.run(State::Sasl(Box::new(step))),
                Err(failure) => self.fail(failure),
            };
        };
        let id = self.next_id();
        let resource = self.config.resource.as_deref();
        match BindClient::begin(f.bind, resource, id, &mut self.engine) {
            Ok(step) => self.run(State::Bind {
                step,
                session: f.session == Some(Requirement::Required),
                auth,
            }),
            Err(failure) => self.fail(failure),
        }
    }

    /// SASL succeeded and the stream restarted (RFC 6120 section 6.4.6).
    fn authenticated(&mut self, auth: Authenticated) {
        let jid = self.config.jid.clone();
        self.engine.report(ClientEvent::Authenticated(jid));
        self.send_header(Some(Box::new(auth)));
    }

    /// The server bound `jid`: the session follows when the server requires it.
    fn bound(&mut self, jid: FullJid) {
        match std::mem::replace(&mut self.state, State::AwaitHeader(None)) {
            State::Bind {
                session: true,
                auth,
                ..
            } => {
                let id = self.next_id();
                let step = SessionClient::begin(id, jid, &mut self.engine);
                self.run(State::Session { step, auth });
            }
            State::Bind { auth, .. } | State::Session { auth, .. } => self.go_online(jid, auth),
            other => self.state = other,
        }
    }

    fn go_online(&mut self, jid: FullJid, auth: Box<Authenticated>) {
        let offered = auth.sm_offered;
        self.state = State::Online(auth);
        self.engine.negotiated();
        // XEP-0198 section 3: enabled once bound, before the embedder sends anything, so
        // that every stanza it sends is counted (from `<enable/>` on).
        if self.config.stream_management && offered {
            let resume = self.config.resumption;
            self.engine
                .write_element(|w| management::write_enable(w, resume));
            self.engine.sm_begin(self.sm_settings());
            if resume {
                self.engine.sm_bound(&jid);
            }
        }
        self.engine.report(ClientEvent::Online(jid));
    }
}

/// May the server bind `jid` for `account`, authenticated with `auth`? Its bare JID must be
/// the account (the client asks for no other authzid), or for `ANONYMOUS`, which has no
/// account, any JID of the account's domain (RFC 6120 section 7.7.2.2 lets the server
/// choose the resource, never the account).
fn may_bind(jid: &FullJid, account: &BareJid, auth: &Authenticated) -> bool {
    match auth.mechanism {
        Some(Mechanism::Anonymous) => jid.domain() == account.domain(),
        _ => jid.to_bare() == *account,
    }
}

impl StreamRole for Client {
    type Event = ClientEvent;

    fn engine(&mut self) -> &mut Engine<ClientEvent> {
        &mut self.engine
    }

    fn write_header(&mut self) {
        // RFC 6120 4.7.1: `from` only once the stream is encrypted.
        let from = self
            .engine
            .transport()
            .is_encrypted()
            .then(|| self.config.jid.to_string());
        self.engine.write_header(Header {
            to: Some(self.config.jid.domain()),
            from: from.as_deref(),
            id: None,
            lang: Some(&self.config.lang),
        });
    }

    fn on_header(&mut self, header: Element) {
        let State::AwaitHeader(auth) = &mut self.state else {
            return self.stream_error(StreamErrorCondition::InvalidXml);
        };
        let auth = auth.take();
        if let Err(condition) = check_peer_header(self.engine.parser(), &header, JABBER_CLIENT) {
            return self.stream_error(condition);
        }
        if header.attr("id").is_none() {
            return self.abandon(Abandoned::PeerProtocol(ProtocolViolation::NoStreamId));
        }
        self.engine.report(ClientEvent::StreamOpened);
        self.run(State::AwaitFeatures(auth));
    }

    fn on_element(&mut self, el: Element) {
        let el = match self.engine.stanza(el) {
            Ok(stanza) if matches!(self.state, State::Online(_)) => {
                match stanza.triage() {
                    // Whatever the addressing or payload: the embedder decides.
                    Triage::Process => self.engine.report(ClientEvent::Stanza(stanza)),
                    // RFC 6120 8.2.3: an iq request that breaks the IQ rules (or has no
                    // valid type) is answered with bad-request, by the core, so that the
                    // embedder only ever sees requests it can answer.
                    Triage::BadRequest(_) => {
                        self.engine
                            .error_reply(&stanza, crate::error::StanzaErrorCondition::BadRequest);
                    }
                    // A response that breaks them pairs with nothing: dropped, unanswered.
                    Triage::Ignore(_) => {}
                }
                return;
            }
            // An iq may be the answer of the bind or session step.
            Ok(stanza) => stanza.into_element(),
            Err(el) => el,
        };
        match &mut self.state {
            State::AwaitFeatures(_) if el.is("features", STREAM_NS) => self.on_features(&el),
            State::StartTls(step, _) if StartTlsClient::takes(&el) => {
                // The restart after TLS sets the state (`tls_established`).
                let next = step.on_element(&el);
                self.follow(next);
            }
            State::Sasl(step) if step.takes(&el) => {
                let inline = step.inline().cloned();
                let sasl2 = inline.is_some();
                let next = step.on_element(&el, &mut self.engine);
                if let Some(auth) = self.follow(next) {
                    if sasl2 {
                        self.sasl2_success(auth, &el, inline);
                    } else {
                        self.authenticated(auth);
                    }
                }
            }
            State::Bind { step, auth, .. } if BindClient::takes(&el) => {
                let account = &self.config.jid;
                let next = step.on_iq(&el, |jid| may_bind(jid, account, auth));
                if let Some(jid) = self.follow(next) {
                    self.bound(jid);
                }
            }
            State::Session { step, .. } if SessionClient::takes(&el) => {
                let next = step.on_iq(&el);
                if let Some(jid) = self.follow(next) {
                    self.bound(jid);
                }
            }
            State::Resume { .. }
                if el.ns() == SM_NS && matches!(el.name(), "resumed" | "failed") =>
            {
                self.on_resume_answer(&el);
            }
            State::Online(_)
                if self.engine.sm_begun()
                    && !self.engine.sm_is_enabled()
                    && el.ns() == SM_NS
                    && matches!(el.name(), "enabled" | "failed") =>
            {
                self.on_sm_answer(&el);
            }
            State::Bound2 { .. } if el.is("features", STREAM_NS) => {
                self.keep_features(&el);
                let sm_offered = el.root().children().any(|c| c.is("sm", SM_NS));
                if let State::Bound2 { jid, mut auth } =
                    std::mem::replace(&mut self.state, State::AwaitHeader(None))
                {
                    auth.sm_offered = sm_offered;
                    auth.features_due = false;
                    self.go_online(jid, auth);
                }
            }
            State::Online(auth) if auth.features_due && el.is("features", STREAM_NS) => {
                auth.features_due = false;
                self.keep_features(&el);
            }
            // RFC 6120 section 4.3.5: once negotiation is over the receiving entity "MAY
            // send an empty <features/> element" (and no more features): nothing to do.
            State::Online(_)
                if el.is("features", STREAM_NS) && el.root().children().next().is_none() => {}
            State::Online(_) if self.config.nonza_namespaces.iter().any(|n| n == el.ns()) => {
                self.engine.report(ClientEvent::Nonza(el));
            }
            _ => self.stream_error(StreamErrorCondition::UnsupportedStanzaType),
        }
    }
}
