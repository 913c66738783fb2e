//! The server role: the receiving entity of a c2s stream (RFC 6120 sections 4 to 8) as a
//! sans-IO state machine.
//!
//! Modern login, opt-in ([`ServerConfig::sasl2`]): SASL2 (XEP-0388) beside RFC 6120 SASL,
//! with the same embedder questions, tasks ([`ServerConfig::sasl2_tasks`]), Bind 2
//! (XEP-0386: [`ServerEvent::BindRequest`] with a `tag/random` resource, answered inside
//! `<success/>`), stream management enabled or resumed inline, FAST
//! ([`ServerConfig::fast`]: the embedder keeps tokens, the core checks them in constant
//! time), XEP-0474's hash ([`ServerConfig::downgrade_protection`]) and direct TLS
//! ([`Server::direct_tls`]).
//!
//! The embedder owns the socket, TLS, the account store, the clock and randomness; the core
//! owns the protocol. It checks the client's stream header, offers features by state and
//! policy, runs STARTTLS, SASL (through [`crate::sasl`], asking the embedder for credentials
//! with [`ServerEvent::AuthRequest`]) and resource binding (asking with
//! [`ServerEvent::BindRequest`]), then stamps every stanza of the client with its full JID
//! before handing it over, refusing a spoofed `from` (`invalid-from`), a stanza before
//! authentication (`not-authorized`) and unknown first-level elements
//! (`unsupported-stanza-type`). With [`ServerConfig::stream_management`] it offers and runs
//! stream management (XEP-0198): acknowledgements, the unacknowledged queue, and with
//! [`ServerConfig::resumption`] resumption: once the stream is over the embedder detaches
//! the session's [`ResumptionState`] ([`Server::take_resumption_state`]) and keeps it for
//! its resumption timeout; a new `Server` that receives `<resume previd/>` after SASL asks
//! for it ([`ServerEvent::ResumeRequest`], answered with [`Server::resume`]). Every stanza
//! given to [`Server::send`] is acknowledged, sent again after a resumption, or handed back
//! once the session is over for good ([`Server::take_unacked`]). Every method that can
//! write or start a timer takes the time: timers count from it, and the ones due by then fire before the method returns.
//!
//! ```
//! use std::time::Instant;
//! use xmpp_sansio::sasl::UserCredential;
//! use xmpp_sansio::server::{Server, ServerConfig, ServerEvent};
//! use xmpp_sansio::stream::TlsPolicy;
//!
//! let now = Instant::now();
//! let mut config = ServerConfig::new("example.com", b"decoy salt secret".to_vec());
//! config.tls = TlsPolicy::Disabled; // an in-memory sketch: no TLS library here
//! config.allow_plain_without_tls = true;
//! let mut server = Server::new(config, 0x5eed, now); // a fresh seed per connection
//! server.handle_input(
//!     now,
//!     b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' \
//!       to='example.com' version='1.0'>",
//! )?;
//! let written = server.poll_transmit().expect("our header and features");
//! let written = std::str::from_utf8(&written)?;
//! assert!(written.contains("<mechanism>PLAIN</mechanism>"), "{written}");
//! assert!(matches!(server.poll_event(), Some(ServerEvent::StreamOpened)));
//!
//! // PLAIN for juliet (`\0juliet\0r0m30`): the embedder is asked for her credentials.
//! server.handle_input(
//!     now,
//!     b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGp1bGlldAByMG0zMA==</auth>",
//! )?;
//! let Some(ServerEvent::AuthRequest { authcid, .. }) = server.poll_event() else {
//!     panic!("an authentication request")
//! };
//! assert_eq!(authcid, "juliet");
//! server.credentials(now, UserCredential::Password("r0m30".into()))?;
//! let Some(ServerEvent::Authenticated(jid)) = server.poll_event() else { panic!() };
//! assert_eq!(jid.as_str(), "juliet@example.com");
//! assert!(server.poll_transmit().is_some_and(|b| b.starts_with(b"<success")));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod config;
mod event;
mod modern_login;
mod stream_management;

pub use config::ServerConfig;
pub use event::{ServerError, ServerEvent};
use modern_login::{FastAuth, FastIssue, Sasl2Binding, Sasl2Resume, Sasl2Tasks};

use std::sync::Arc;
use std::time::Instant;

use crate::error::{SASL_NS, StanzaErrorCondition, StreamErrorCondition};
use crate::jid::{BareJid, FullJid, Jid};
use crate::negotiate::bind::{BindMisuse, BindServer};
use crate::negotiate::sasl_server::{Accounts, AuthQuestion, NotAsked, Offer, SaslServerStep};
pub use crate::negotiate::sasl2::UserAgent;
use crate::negotiate::sasl2::{self, Authenticate};
use crate::negotiate::starttls;
use crate::negotiate::{Negotiate, Next, Wire, session};
pub use crate::sasl::ht::{FastToken, HtMechanism};
use crate::sasl::{ChannelBinding, Mechanism, SaslServerConfig, UserCredential};
use crate::stanza::{JABBER_CLIENT, Stanza, Triage, check_iq};
pub use crate::stream::CloseReason;
#[cfg(doc)]
use crate::stream::Framing;
use crate::stream::engine::{Engine, Settings, StanzaRefused, StreamRole, stream_methods};
use crate::stream::header::{Header, check_peer_header};
use crate::stream::management::{self, SM_NS};
use crate::stream::rng::Rng;
use crate::stream::tls::Transport;
pub use crate::stream::{ResumptionState, UnackedLimits};
use crate::stream::{SASL2_NS, StreamLimits, TLS_NS, TlsPolicy};
use crate::xml::{Element, Writer};

/// Which negotiation step runs, and what the steps before it established. Whether the
/// stream is open, securing, closing or over is the engine's.
enum State {
    /// Not authenticated: STARTTLS (when offered) or SASL runs next. The SASL step counts
    /// failed attempts across the restart after TLS.
    Unauthenticated(SaslServerStep),
    /// Authenticated: resource binding runs, for the account the step holds.
    Authenticated(BindServer),
    /// Stanzas flow, from the client bound to this full JID.
    Online(FullJid),
    /// The client asked to resume a session (XEP-0198 `<resume/>`); the embedder answers.
    Resuming(Box<ResumeAsk>),
    /// SASL2 authenticated the client, whose Bind 2 request the embedder answers before
    /// `<success/>` goes out (XEP-0386 section 2.2).
    Sasl2Binding(Box<Sasl2Binding>),
    /// SASL2's mechanism succeeded and `<continue/>` asked for a task (XEP-0388 section
    /// 2.5.3).
    Sasl2Task(Box<Sasl2Tasks>),
    /// SASL2 authenticated the client, whose inline `<resume/>` the embedder answers.
    Sasl2Resuming(Box<Sasl2Resume>),
    /// A FAST login: the embedder is asked for the token.
    FastAuth(Box<FastAuth>),
    /// SASL2 authenticated the client, which asked for a FAST token: the embedder issues it.
    FastIssue(Box<FastIssue>),
}

/// A `<resume/>` the embedder is to answer.
struct ResumeAsk {
    account: BareJid,
    previd: String,
    /// The client's `h`: how many of our stanzas of that session it handled.
    h: u32,
}

/// The server side of one c2s stream.
pub struct Server {
    config: Arc<ServerConfig>,
    engine: Engine<ServerEvent>,
    state: State,
    rng: Rng,
    /// No header is out yet: the first takes [`ServerConfig::stream_id`] when the embedder
    /// chose one; every later header gets a fresh id.
    first_header: bool,
    /// The domain the client asked for in its latest header: its index in
    /// [`ServerConfig::domains`] (an index, not a copy: sessions are many, domains few).
    domain: u32,
}

impl core::fmt::Debug for Server {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let (account, bound) = match &self.state {
            State::Unauthenticated(_) => (None, None),
            State::Authenticated(bind) => (Some(bind.account().clone()), None),
            State::Online(jid) => (Some(jid.to_bare()), Some(jid)),
            State::Resuming(ask) => (Some(ask.account.clone()), None),
            State::Sasl2Binding(b) => (Some(b.account.clone()), None),
            State::Sasl2Task(t) => (Some(t.account.clone()), None),
            State::Sasl2Resuming(r) => (Some(r.account.clone()), None),
            State::FastAuth(f) => (Some(f.account.clone()), None),
            State::FastIssue(f) => (Some(f.account.clone()), None),
        };
        f.debug_struct("Server")
            .field("domain", &domain_at(&self.config, self.domain))
            .field("encrypted", &self.engine.transport().is_encrypted())
            .field("account", &account)
            .field("bound", &bound)
            .finish_non_exhaustive()
    }
}

/// The served domain at `index` of [`ServerConfig::domains`].
fn domain_at(config: &ServerConfig, index: u32) -> &str {
    let index = usize::try_from(index).unwrap_or(usize::MAX);
    config.domains.get(index).map_or("", String::as_str)
}

impl Server {
    /// A server side for a new connection; it waits for the client's header from `now`.
    ///
    /// `config` is shared by every session of the server (pass an `Arc` to share it, or a
    /// `ServerConfig` for one session); `seed` seeds this session's generator of stream
    /// ids, nonces and resources: give each connection fresh randomness from the operating
    /// system.
    pub fn new(config: impl Into<Arc<ServerConfig>>, seed: u64, now: Instant) -> Self {
        let config = config.into();
        let settings = Settings {
            content_ns: JABBER_CLIENT,
            limits: config.limits_for(false),
            response_timeout: config.response_timeout,
            keepalive: config.keepalive,
        };
        let mut engine = Engine::receiving(settings, now);
        engine.set_framing(config.framing);
        Server {
            engine,
            rng: Rng::new(seed),
            first_header: true,
            domain: 0,
            state: State::Unauthenticated(SaslServerStep::new(config.max_auth_attempts)),
            config,
        }
    }

    /// Bytes received from the client, at time `now` (with WebSocket framing, one whole
    /// message per call: see [`Framing`]). Nothing received after `<starttls/>`
    /// in the same input is processed, and input before
    /// [`tls_established`](Self::tls_established) is discarded
    /// ([`ServerError::AwaitingTls`]). Once the stream is over, input is ignored.
    ///
    /// # Errors
    ///
    /// [`ServerError::AwaitingTls`] while TLS is being set up. The client's faults are not
    /// errors here: they end the stream, which the events report.
    pub fn handle_input(&mut self, now: Instant, data: &[u8]) -> Result<(), ServerError> {
        self.at(now, |s| s.input(data)).map_err(ServerError::from)
    }

    /// The transport is TLS from its first byte (XEP-0368 direct TLS, port 5223 with ALPN
    /// `xmpp-client`): call right after [`new`](Self::new), once the handshake is done and
    /// before any input, with the channel-binding data the TLS library exports and whether
    /// the client presented a verified certificate. STARTTLS is then never offered,
    /// [`ServerConfig::tls`] `Required` is met, and SASL (`-PLUS`, `EXTERNAL`, `PLAIN`)
    /// is offered in the first features.
    ///
    /// # Errors
    ///
    /// [`ServerError::NoTlsRequested`] once the client's header was read (or TLS is up).
    pub fn direct_tls(
        &mut self,
        channel_bindings: Vec<ChannelBinding>,
        client_certificate: bool,
    ) -> Result<(), ServerError> {
        let transport = Transport::Tls {
            channel_bindings: channel_bindings.into_boxed_slice(),
            peer_certificate: client_certificate,
        };
        if self.engine.direct_tls(transport) {
            Ok(())
        } else {
            Err(ServerError::NoTlsRequested)
        }
    }

    /// TLS is up at time `now`; `channel_bindings` are the data the TLS library exports for
    /// SCRAM `-PLUS` (one per type it supports; empty for none). The client restarts the
    /// stream next.
    ///
    /// # Errors
    ///
    /// [`ServerError::NoTlsRequested`] without a [`ServerEvent::TlsRequested`] to answer;
    /// [`ServerError::StreamEnded`] when the stream has ended meanwhile.
    pub fn tls_established(
        &mut self,
        now: Instant,
        channel_bindings: Vec<ChannelBinding>,
    ) -> Result<(), ServerError> {
        self.secure(now, channel_bindings, false)
    }

    /// TLS is up, as with [`tls_established`](Self::tls_established), and the client
    /// presented a certificate that the TLS layer verified: SASL `EXTERNAL` is offered if
    /// [`ServerConfig::mechanisms`] lists it (never without a certificate), and the
    /// embedder decides with [`external`](Self::external) whom the certificate
    /// authenticates.
    ///
    /// # Errors
    ///
    /// As [`tls_established`](Self::tls_established).
    pub fn tls_established_with_client_cert(
        &mut self,
        now: Instant,
        channel_bindings: Vec<ChannelBinding>,
    ) -> Result<(), ServerError> {
        self.secure(now, channel_bindings, true)
    }

    fn secure(
        &mut self,
        now: Instant,
        channel_bindings: Vec<ChannelBinding>,
        peer_certificate: bool,
    ) -> Result<(), ServerError> {
        self.at(now, |s| {
            if s.engine.is_ending() {
                return Err(ServerError::StreamEnded);
            }
            let transport = Transport::Tls {
                channel_bindings: channel_bindings.into(),
                peer_certificate,
            };
            if !s.engine.tls_established(transport) {
                return Err(ServerError::NoTlsRequested);
            }
            s.restarted();
            Ok(())
        })
    }

    /// Answers [`ServerEvent::AuthRequest`] at time `now` with the account's credential.
    ///
    /// The account acts as itself. An authzid the client asked for is granted only when it
    /// is the account's own bare JID; any other is refused with `invalid-authzid` once the
    /// credentials check out (RFC 4616 section 2, RFC 6120 section 6.4.6), so an embedder
    /// that ignores the authzid never grants one. To let an account act as another, use
    /// [`credentials_acting_as`](Self::credentials_acting_as).
    ///
    /// # Errors
    ///
    /// [`ServerError::NoAuthRequest`] without a [`ServerEvent::AuthRequest`] to answer;
    /// [`ServerError::StreamEnded`] when the stream has ended meanwhile (ignore it).
    pub fn credentials(
        &mut self,
        now: Instant,
        credential: UserCredential,
    ) -> Result<(), ServerError> {
        self.at(now, |s| {
            s.answer_sasl(false, |sasl, accounts, out| {
                sasl.credentials(credential, None, accounts, out)
            })
        })
    }

    /// Answers [`ServerEvent::AuthRequest`] as [`credentials`](Self::credentials) does, and
    /// lets the account also act as `delegate` (proxy authorization: an administrator, a
    /// gateway, whatever rights the embedder keeps). When the client asked for exactly that
    /// authzid, the session authenticates as `delegate` (it is the JID of
    /// [`ServerEvent::Authenticated`] and the one to bind); an authzid that names anyone
    /// else is still refused with `invalid-authzid`.
    ///
    /// # Errors
    ///
    /// As [`credentials`](Self::credentials).
    pub fn credentials_acting_as(
        &mut self,
        now: Instant,
        credential: UserCredential,
        delegate: &BareJid,
    ) -> Result<(), ServerError> {
        self.at(now, |s| {
            s.answer_sasl(false, |sasl, accounts, out| {
                sasl.credentials(credential, Some(delegate), accounts, out)
            })
        })
    }

    /// Answers [`ServerEvent::ExternalRequest`] at time `now`: the client certificate, which
    /// the embedder has checked, authenticates the client as `identity`, and the session
    /// authenticates as it. An authzid that names anyone else is refused with
    /// `invalid-authzid` (RFC 6120 section 6.4.6).
    ///
    /// # Errors
    ///
    /// [`ServerError::NoAuthRequest`] without a [`ServerEvent::ExternalRequest`] to
    /// answer; [`ServerError::StreamEnded`] when the stream has ended meanwhile.
    pub fn external(&mut self, now: Instant, identity: BareJid) -> Result<(), ServerError> {
        self.at(now, |s| {
            s.answer_sasl(true, |sasl, accounts, out| {
                sasl.external(Some(identity), accounts, out)
            })
        })
    }

    /// Answers [`ServerEvent::ExternalRequest`] at time `now`: the certificate does not
    /// authenticate the client (`not-authorized`, RFC 6120 section 6.5.10).
    ///
    /// # Errors
    ///
    /// As [`external`](Self::external).
    pub fn refuse_external(&mut self, now: Instant) -> Result<(), ServerError> {
        self.at(now, |s| {
            s.answer_sasl(true, |sasl, accounts, out| {
                sasl.external(None, accounts, out)
            })
        })
    }

    /// Gives the embedder's answer to the SASL step, if it asked (`external`: the answer is
    /// to an `ExternalRequest`). When the client has since started over with a new
    /// `<auth/>`, the answer is dropped and that `<auth/>` starts now.
    fn answer_sasl(
        &mut self,
        external: bool,
        answer: impl FnOnce(
            &mut SaslServerStep,
            Accounts<'_>,
            &mut Engine<ServerEvent>,
        ) -> Result<Next<BareJid, AuthQuestion>, NotAsked>,
    ) -> Result<(), ServerError> {
        if self.engine.is_ending() {
            // An answer that no longer matters is not the misuse of answering nothing.
            return Err(ServerError::StreamEnded);
        }
        let State::Unauthenticated(sasl) = &mut self.state else {
            return Err(ServerError::NoAuthRequest);
        };
        if let Some(auth) = sasl
            .take_superseding(external)
            .map_err(|NotAsked| ServerError::NoAuthRequest)?
        {
            self.on_nonza(auth);
            return Ok(());
        }
        let accounts = Accounts {
            domain: domain_at(&self.config, self.domain),
            rng: &mut self.rng,
            protected_header: protected_header(&self.engine),
        };
        let next = answer(sasl, accounts, &mut self.engine)
            .map_err(|NotAsked| ServerError::NoAuthRequest)?;
        if let Some(account) = self.follow(next) {
            self.authenticated(account);
        }
        Ok(())
    }

    /// Answers [`ServerEvent::BindRequest`] at time `now`: the session is bound to `jid`,
    /// which must be of the authenticated account. The keepalive, if configured, runs from
    /// `now`.
    ///
    /// # Errors
    ///
    /// [`ServerError::NoBindRequest`] without a [`ServerEvent::BindRequest`] to answer,
    /// [`ServerError::WrongAccount`] for a JID of another account;
    /// [`ServerError::StreamEnded`] when the stream has ended meanwhile.
    pub fn bind(&mut self, now: Instant, jid: FullJid) -> Result<(), ServerError> {
        self.at(now, |s| {
            if let State::Sasl2Binding(b) = &s.state {
                if s.engine.is_ending() {
                    return Err(ServerError::StreamEnded);
                }
                if jid.to_bare() != b.account {
                    return Err(ServerError::WrongAccount);
                }
                s.sasl2_bound(jid);
                return Ok(());
            }
            let mut held = Vec::new();
            let next = s.answer_bind(|bind, out| {
                let next = bind.bind(jid, out)?;
                held = bind.take_held();
                Ok(next)
            })?;
            if let Some(jid) = s.follow(next) {
                s.state = State::Online(jid.clone());
                s.engine.negotiated();
                s.engine.report(ServerEvent::Online(jid));
            }
            s.release_held(held);
            Ok(())
        })
    }

    /// Answers [`ServerEvent::BindRequest`] at time `now` with an error (`conflict`,
    /// `not-allowed`, `resource-constraint`...); the client may ask again within the
    /// response timeout.
    ///
    /// # Errors
    ///
    /// As [`bind`](Self::bind).
    pub fn reject_bind(
        &mut self,
        now: Instant,
        condition: StanzaErrorCondition,
    ) -> Result<(), ServerError> {
        self.at(now, |s| {
            if matches!(s.state, State::Sasl2Binding(_)) && !s.engine.is_ending() {
                s.sasl2_bind_refused(&condition);
                return Ok(());
            }
            let mut held = Vec::new();
            let next = s.answer_bind(|bind, out| {
                // Taken first: the refusal ends the request, and what it held with it.
                held = bind.take_held();
                bind.reject(condition, out)
            })?;
            s.follow(next);
            s.release_held(held);
            Ok(())
        })
    }

    /// Gives the embedder's answer to the bind step, if it asked.
    fn answer_bind(
        &mut self,
        answer: impl FnOnce(
            &mut BindServer,
            &mut Engine<ServerEvent>,
        ) -> Result<Next<FullJid>, BindMisuse>,
    ) -> Result<Next<FullJid>, ServerError> {
        if self.engine.is_ending() {
            return Err(ServerError::StreamEnded);
        }
        let State::Authenticated(bind) = &mut self.state else {
            return Err(ServerError::NoBindRequest);
        };
        answer(bind, &mut self.engine).map_err(|misuse| match misuse {
            BindMisuse::NotAsked => ServerError::NoBindRequest,
            BindMisuse::WrongAccount => ServerError::WrongAccount,
        })
    }

    /// Processes, in order, what came while the embedder decided a bind request (called
    /// once its answer took effect). An element that finds another request pending waits
    /// again, with those after it.
    fn release_held(&mut self, held: Vec<Element>) {
        for el in held {
            if self.engine.is_ending() {
                return;
            }
            StreamRole::on_element(self, el);
        }
    }

    /// A fresh, unguessable resource for a client that lets the server choose (RFC 6120
    /// section 7.6.1), from the embedder-seeded generator.
    pub fn make_resource(&mut self) -> String {
        self.rng.token(16)
    }

    /// Sends a stanza to the client (once online) at time `now`, in `jabber:client` whichever
    /// content namespace it was built or parsed in (payloads in other namespaces keep
    /// theirs); or a first-level element of a namespace the embedder handles
    /// (an answer to [`ServerEvent::Nonza`]), which carries its own. For a stanza the
    /// embedder builds, [`send_with`](Self::send_with) writes it straight into the output.
    ///
    /// An iq that breaks a rule of RFC 6120 section 8.2.3 (no `id`, no valid `type`, a
    /// `get` or `set` without exactly one child...) is refused with
    /// [`ServerError::InvalidIq`]: the server must not deliver what the client has to
    /// refuse.
    ///
    /// # Errors
    ///
    /// [`ServerError::NotOnline`] before [`ServerEvent::Online`];
    /// [`ServerError::InvalidIq`] for an iq that breaks RFC 6120 section 8.2.3;
    /// [`ServerError::StreamEnded`] once the stream has ended (a late answer: ignore it).
    pub fn send(&mut self, now: Instant, stanza: &Element) -> Result<(), ServerError> {
        check_iq(stanza).map_err(ServerError::InvalidIq)?;
        self.send_with(now, |w| {
            w.element(stanza.root(), JABBER_CLIENT);
        })
    }

    /// Sends the stanza that `write` writes (once online) at time `now`, straight into the
    /// output: a stanza built with the [`stanza`](crate::stanza) builders' `write_to` is
    /// written once, never parsed or serialized again. An unprefixed element is in
    /// `jabber:client`, the stream's default namespace; any other needs its `xmlns`. Nothing
    /// is sent when `write` leaves an element open ([`ServerError::Unbalanced`]).
    ///
    /// The IQ rules that [`send`](Self::send) checks are not checked here: what `write`
    /// writes is never read back. [`IqBuilder`](crate::stanza::IqBuilder) gives every iq an
    /// id and a type; its caller gives a `get` or `set` its one payload.
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send) (save [`ServerError::InvalidIq`]), and
    /// [`ServerError::Unbalanced`].
    pub fn send_with(
        &mut self,
        now: Instant,
        write: impl FnOnce(&mut Writer<'_>),
    ) -> Result<(), ServerError> {
        self.at(now, |s| {
            s.online()?;
            s.engine
                .write_stanza(write, None)
                .map_err(|refused| match refused {
                    StanzaRefused::QueueFull => ServerError::UnackedQueueFull,
                    _ => ServerError::Unbalanced,
                })
        })
    }

    /// Answers a stanza from the client at time `now` with a stanza error (for example
    /// `service-unavailable` for an iq nobody handles, RFC 6120 8.4), with swapped
    /// addresses and the same id. Nothing is sent for an error or an iq result (no reply
    /// to those, RFC 6120 8.3.1 and 8.2.3): the result says whether a reply went out.
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send).
    pub fn reply_error(
        &mut self,
        now: Instant,
        to: &Stanza,
        condition: StanzaErrorCondition,
    ) -> Result<bool, ServerError> {
        self.at(now, |s| {
            s.online()?;
            Ok(s.engine.error_reply(to, condition))
        })
    }

    stream_methods!(ServerEvent);

    /// Closes the stream at time `now` sending the client to another endpoint: over
    /// WebSocket, `<close see-other-uri='uri'/>` (RFC 7395 section 3.6.1), then the close
    /// handshake as [`close`](Self::close). Over TCP nothing is done and the answer is
    /// false: use [`close_with`](Self::close_with) and `see-other-host` there.
    pub fn close_see_other_uri(&mut self, now: Instant, uri: &str) -> bool {
        self.at(now, |s| StreamRole::close_see_other_uri(s, uri))
    }

    /// Can stanzas be sent?
    fn online(&self) -> Result<(), ServerError> {
        if self.engine.is_ending() {
            Err(ServerError::StreamEnded)
        } else if matches!(self.state, State::Online(_)) {
            Ok(())
        } else {
            Err(ServerError::NotOnline)
        }
    }

    /// SASL succeeded as `account` and the stream restarted (RFC 6120 section 6.4.6):
    /// binding is next, on the authenticated stream.
    fn authenticated(&mut self, account: BareJid) {
        if let State::Unauthenticated(sasl) = &mut self.state {
            if let Some(request) = sasl.take_sasl2_request() {
                return self.sasl2_authenticated(account, request);
            }
        }
        self.engine
            .report(ServerEvent::Authenticated(account.clone()));
        self.state = State::Authenticated(BindServer::new(account, self.config.max_bind_attempts));
        self.restarted();
    }

    /// After a restart (TLS, or SASL success): the client's new header is expected, under
    /// the limits of the stream's stage.
    fn restarted(&mut self) {
        let authenticated = !matches!(self.state, State::Unauthenticated(_));
        let limits = self.config.limits_for(authenticated);
        self.engine.parser_mut().set_limits(limits);
        self.engine.await_peer();
    }

    fn offered_mechanisms(&self) -> Vec<Mechanism> {
        let transport = self.engine.transport();
        self.config
            .mechanisms
            .iter()
            .copied()
            .filter(|m| !m.is_plus() || !transport.channel_bindings().is_empty())
            .filter(|m| *m != Mechanism::External || transport.peer_certificate())
            .filter(|m| {
                *m != Mechanism::Plain
                    || transport.is_encrypted()
                    || self.config.allow_plain_without_tls
            })
            .collect()
    }

    /// How an `<auth/>` is met now.
    fn sasl_offer(&self) -> Offer {
        let transport = self.engine.transport();
        let encrypted = transport.is_encrypted();
        Offer {
            encryption_required: !encrypted && self.config.tls == TlsPolicy::Required,
            settings: SaslServerConfig {
                offered: self.offered_mechanisms(),
                encrypted: encrypted || self.config.allow_plain_without_tls,
                channel_bindings: transport.channel_bindings().to_vec(),
                secret: self.config.sasl_secret.clone(),
                scram_iterations: self.config.scram_iterations,
                downgrade_protection: self.config.downgrade_protection.then(|| {
                    // What `send_features` advertised: the mechanisms (the same list for
                    // RFC 6120 SASL and SASL2), and the channel-binding types when a
                    // `-PLUS` mechanism is among them (XEP-0440).
                    let offered = self.offered_mechanisms();
                    let names: Vec<&str> = offered.iter().map(|m| m.name()).collect();
                    let cbs: Vec<&str> = transport
                        .channel_bindings()
                        .iter()
                        .map(|cb| cb.kind.name())
                        .collect();
                    let plus = offered.iter().any(|m| m.is_plus());
                    crate::sasl::downgrade_protection_input(&names, plus.then_some(&cbs[..]))
                }),
            },
            nonce: self.config.server_nonce.clone(),
        }
    }

    /// The features of the stream's stage (RFC 6120 section 4.3.2): STARTTLS and SASL
    /// before authentication (only STARTTLS while TLS is required and not up), binding,
    /// the optional session and the embedder's features after it.
    fn send_features(&mut self) {
        let encrypted = self.engine.transport().is_encrypted();
        let authenticated = !matches!(self.state, State::Unauthenticated(_));
        // RFC 7395 section 3.7: never offered over WebSocket.
        let starttls = !encrypted && !self.engine.framing().is_websocket();
        let tls_first = starttls && self.config.tls == TlsPolicy::Required;
        // TLS comes before SASL (RFC 6120 5.3.1): never offered after authentication.
        let offer_tls = starttls && !authenticated && self.config.tls != TlsPolicy::Disabled;
        // Inline resumption (XEP-0198 with SASL2) is offered when resumption is.
        let sasl2_resume = self.config.stream_management && self.config.resumption.is_some();
        let fast = self.fast_offered();
        let mechanisms = self.offered_mechanisms();
        let limits = self.config.advertise_limits.then(|| StreamLimits {
            max_bytes: Some(self.engine.parser().limits().max_element_bytes as u64),
            idle_seconds: None,
        });
        let channel_bindings = self.engine.transport().channel_bindings().to_vec();
        let extra = &self.config.extra_features;
        // After a SASL2 login that bound with Bind 2 (and maybe enabled stream management
        // inside it), what is done is not offered again.
        let bound = matches!(self.state, State::Online(_));
        let stream_management = self.config.stream_management && !self.engine.sm_begun();
        let sasl2 = self.sasl2_offered();
        let bind2 = self.config.bind2;
        let bind2_sm = self.config.stream_management;
        self.engine.write_element(|w| {
            w.start("stream:features");
            if offer_tls {
                starttls::write_feature(w, tls_first);
            }
            if !authenticated {
                // RFC 6120 A.4: `<mechanisms/>` holds at least one mechanism; with none
                // usable here, SASL is not offered at all.
                if !tls_first && !mechanisms.is_empty() {
                    SaslServerStep::write_feature(w, &mechanisms, &channel_bindings);
                    if sasl2 {
                        sasl2::write_feature(
                            w,
                            &mechanisms,
                            bind2,
                            bind2 && bind2_sm,
                            sasl2_resume,
                            &fast,
                        );
                    }
                }
            } else {
                if !bound {
                    BindServer::write_feature(w);
                    session::write_feature(w);
                }
                if stream_management {
                    management::write_feature(w);
                }
                for feature in extra {
                    w.element(feature.root(), JABBER_CLIENT);
                }
            }
            if let Some(limits) = limits {
                limits.write(w);
            }
            w.end("stream:features");
        });
    }

    /// `<starttls/>`: TLS is set up when it can be now (not yet up, offered, and nothing
    /// authenticated yet), else `<failure/>` and the stream is over.
    fn on_starttls(&mut self) {
        let can_proceed = !self.engine.transport().is_encrypted()
            && !self.engine.framing().is_websocket()
            && matches!(self.state, State::Unauthenticated(_))
            && self.config.tls != TlsPolicy::Disabled;
        let next = starttls::answer(can_proceed, &mut self.engine);
        self.follow(next);
    }
}

/// The client's stream header when TLS protected it, for SASL to correlate its `from` with
/// the identity that authenticates (RFC 6120 section 6.4.6). The header's buffer is shared,
/// not copied.
fn protected_header(engine: &Engine<ServerEvent>) -> Option<Element> {
    let header = engine.parser().header()?;
    engine.transport().is_encrypted().then(|| header.clone())
}

/// A client's stanza after [`stamp`].
enum Stamped {
    /// Checked, with `from` (and `xml:lang` when it had none) set.
    Stanza(Stanza),
    /// `to` or `from` is not a JID: answered with `jid-malformed` (RFC 6120 section
    /// 8.3.3.8: an error for this stanza, not the stream).
    Malformed(Stanza),
    /// `from` is another entity's: `invalid-from` (section 4.9.3.9).
    Spoofed,
}

/// A stanza from the client bound to `full`, checked and stamped (RFC 6120 section 8.1.2.1).
///
/// `lang` is the `xml:lang` of the client's stream header, if it has one: a stanza without
/// its own gets it (RFC 6120 section 4.7.4: the server "SHOULD add the 'xml:lang' attribute
/// to the stanza when routing it ... or delivering it"), in the same copy as `from`; a
/// stanza's own is kept ("MUST NOT modify or delete").
fn stamp(full: &FullJid, stanza: Stanza, lang: Option<&str>) -> Stamped {
    let (to, from) = stanza.raw_addresses();
    // `to` is only checked (the embedder routes by it); a `from` written as the session's
    // full JID, as clients that send one do, is that JID as prepared and needs no parse.
    let to_ok = to.as_deref().is_none_or(|t| Jid::check(t).is_ok());
    let stamped_already = from.as_deref() == Some(full.as_str());
    let from = match from.as_deref() {
        Some(f) if f == full.as_str() => Ok(None),
        Some(f) => Jid::parse(f).map(Some),
        None => Ok(None),
    };
    // A from other than the session's bare or full JID is spoofed, whatever else is wrong
    // with the stanza: its error would go to someone else.
    if let Ok(Some(j)) = &from {
        let ours = j.as_str() == full.as_str()
            || (j.resource().is_none() && j.to_bare() == full.to_bare());
        if !ours {
            return Stamped::Spoofed;
        }
    }
    let (Ok(_), true) = (from, to_ok) else {
        // The error goes to the session's full JID (RFC 6120 8.1.1.1: a stanza the server
        // generates for the client has "the full JID of the client" as its `to`), also when
        // the client wrote its bare JID as `from`.
        if stamped_already {
            return Stamped::Malformed(stanza);
        }
        return Stamped::Malformed(stanza.with_attr_and_lang("from", full.as_str(), None));
    };
    let lang = lang.filter(|_| stanza.lang().is_none());
    // The parser stamps the stanza as it freezes it (`engine_and_stamp`); a copy is made
    // only for what it could not: a `from` that the client wrote as its bare JID.
    if stamped_already && lang.is_none() {
        return Stamped::Stanza(stanza);
    }
    Stamped::Stanza(stanza.with_attr_and_lang("from", full.as_str(), lang))
}

impl StreamRole for Server {
    type Event = ServerEvent;

    fn engine(&mut self) -> &mut Engine<ServerEvent> {
        &mut self.engine
    }

    fn engine_and_stamp(&mut self) -> (&mut Engine<ServerEvent>, Option<&str>) {
        let from = match &self.state {
            State::Online(jid) => Some(jid.as_str()),
            _ => None,
        };
        (&mut self.engine, from)
    }

    fn write_header(&mut self) {
        let chosen = self.config.stream_id.as_ref().filter(|_| self.first_header);
        let id = chosen.cloned().unwrap_or_else(|| self.rng.token(16));
        self.first_header = false;
        // RFC 6120 section 4.7.2: the response's `to` "MUST" be "the bare JID specified in
        // the 'from' attribute of the initial stream header" (a `from` that is no JID is
        // echoed as written, which the client then sees it sent).
        let to = self
            .engine
            .parser()
            .header()
            .and_then(|h| h.attr("from").map(|f| f.into_owned()))
            .map(|f| match f.parse::<Jid>() {
                Ok(jid) if jid.resource().is_some() => jid.to_bare().as_str().to_owned(),
                _ => f,
            });
        self.engine.write_header(Header {
            to: to.as_deref(),
            from: Some(domain_at(&self.config, self.domain)),
            id: Some(&id),
            lang: Some(&self.config.lang),
        });
    }

    fn on_header(&mut self, header: Element) {
        if let Err(condition) = check_peer_header(self.engine.parser(), &header, JABBER_CLIENT) {
            return self.stream_error(condition);
        }
        let to = header.attr("to");
        let domain = match to.as_deref().map(|t| t.parse::<Jid>()) {
            Some(Ok(jid)) if jid.local().is_none() && jid.resource().is_none() => self
                .config
                .domains
                .iter()
                .position(|d| d.as_str() == jid.domain())
                .and_then(|i| u32::try_from(i).ok()),
            _ => None,
        };
        let Some(domain) = domain else {
            return self.stream_error(StreamErrorCondition::HostUnknown);
        };
        self.domain = domain;
        // XEP-0388 section 2.1, where SASL2 is offered: "If the "from" attribute is not
        // empty and the domain used in this attribute does not match the domain used in the
        // "to" attribute the server SHOULD respond with an invalid-from error". (A `from`
        // that is no JID at all is left to SASL's correlation, RFC 6120 section 6.4.6.)
        let from = header.attr("from").and_then(|f| f.parse::<Jid>().ok());
        let served = domain_at(&self.config, domain);
        if matches!(self.state, State::Unauthenticated(_))
            && self.sasl2_offered()
            && from.is_some_and(|f| f.domain() != served)
        {
            return self.stream_error(StreamErrorCondition::InvalidFrom);
        }
        self.write_header();
        self.engine.report(ServerEvent::StreamOpened);
        self.send_features();
        self.engine.await_peer();
    }

    fn on_element(&mut self, el: Element) {
        // RFC 6120 section 10.1: while the embedder decides a bind request, whose answer
        // decides how what follows is processed, what follows waits ("MUST suspend
        // processing of subsequent data until it has processed the request").
        if let State::Authenticated(bind) = &mut self.state
            && !bind.is_idle()
        {
            if bind.hold(el).is_err() {
                self.stream_error(StreamErrorCondition::PolicyViolation);
            }
            return;
        }
        match self.engine.stanza(el) {
            Ok(stanza) => self.on_stanza(stanza),
            Err(el) => self.on_nonza(el),
        }
    }
}

impl Server {
    /// A stanza: the bind step's while it runs, the embedder's once online (after the
    /// checks of RFC 6120 section 8.1.2.1), refused before that.
    fn on_stanza(&mut self, stanza: Stanza) {
        match &mut self.state {
            State::Authenticated(bind) if bind.takes(stanza.element()) => {
                let next = bind.on_iq(stanza.element(), &mut self.engine);
                self.follow(next);
            }
            // From the session itself (a spoofed `from` is the stream error below).
            State::Online(jid)
                if session::is_request(stanza.element(), domain_at(&self.config, self.domain))
                    && stanza
                        .element()
                        .attr("from")
                        .is_none_or(|f| f == jid.as_str() || f == jid.to_bare().as_str()) =>
            {
                // A legacy client establishing the (optional) session: done already.
                session::answer(stanza.element(), &mut self.engine);
            }
            State::Online(jid) => {
                // The header's xml:lang is the default language of the client's stanzas.
                let lang = self.engine.parser().header_lang();
                match stamp(jid, stanza, lang) {
                    Stamped::Stanza(stamped) => self.deliver(stamped),
                    Stamped::Malformed(stanza) => {
                        self.engine
                            .error_reply(&stanza, StanzaErrorCondition::JidMalformed);
                    }
                    Stamped::Spoofed => self.stream_error(StreamErrorCondition::InvalidFrom),
                }
            }
            // RFC 6120 4.9.3.12: nothing is processed before the stream is authenticated
            // (and bound).
            State::Unauthenticated(_)
            | State::Authenticated(_)
            | State::Resuming(_)
            | State::Sasl2Binding(_)
            | State::Sasl2Task(_)
            | State::Sasl2Resuming(_)
            | State::FastAuth(_)
            | State::FastIssue(_) => self.stream_error(StreamErrorCondition::NotAuthorized),
        }
    }

    /// A stanza of the client, checked and stamped: handed over, answered with
    /// `bad-request`, or dropped, by the IQ rules (RFC 6120 section 8.2.3).
    fn deliver(&mut self, stanza: Stanza) {
        match stanza.triage() {
            Triage::Process => self.engine.report(ServerEvent::Stanza(stanza)),
            // "the recipient or an intermediate router MUST return a <bad-request/>": the
            // server answers for whoever the iq was for.
            Triage::BadRequest(_) => {
                self.engine
                    .error_reply(&stanza, StanzaErrorCondition::BadRequest);
            }
            // A response that breaks the rules is neither answered nor routed.
            Triage::Ignore(_) => {}
        }
    }

    /// A first-level element that is not a stanza: the running step's, the embedder's when
    /// it handles its namespace, else `unsupported-stanza-type` (RFC 6120 4.9.3.24).
    fn on_nonza(&mut self, el: Element) {
        let offer = el.is("auth", SASL_NS).then(|| self.sasl_offer());
        let sasl2_offered = self.sasl2_offered();
        let accounts = Accounts {
            domain: domain_at(&self.config, self.domain),
            rng: &mut self.rng,
            protected_header: match self.state {
                State::Unauthenticated(_) => protected_header(&self.engine),
                _ => None,
            },
        };
        match (&mut self.state, offer) {
            (State::Unauthenticated(sasl), _) if sasl.is_idle() && el.is("starttls", TLS_NS) => {
                self.on_starttls()
            }
            (State::Authenticated(bind), _) if bind.is_idle() && el.is("starttls", TLS_NS) => {
                self.on_starttls()
            }
            // XEP-0198 sections 3, 6 and 9: before authentication, `<failed/>`, never a
            // stream management session (nor a resumed one).
            (State::Unauthenticated(sasl), _)
                if sasl.is_idle()
                    && self.config.stream_management
                    && el.ns() == SM_NS
                    && matches!(el.name(), "enable" | "resume") =>
            {
                self.sm_unauthenticated()
            }
            (State::Unauthenticated(sasl), _)
                if sasl.is_idle() && sasl2_offered && el.is("authenticate", SASL2_NS) =>
            {
                // XEP-0388 section 4.8: "once <success/> or <continue/> has been sent by the
                // server, any further <authenticate/> element MUST result in a stream
                // error": only the first mechanism is an authentication.
                if sasl.has_continued() {
                    return self.stream_error(StreamErrorCondition::PolicyViolation);
                }
                let request = Authenticate::read(&el);
                if let State::Unauthenticated(sasl) = &mut self.state {
                    sasl.sasl2_login(request.user_agent.clone());
                }
                if let Ok(mechanism) = request.mechanism.parse::<HtMechanism>() {
                    if self.fast_offered().contains(&mechanism) {
                        return self.on_fast_authenticate(request, mechanism);
                    }
                }
                let offer = self.sasl_offer_now();
                let accounts = Accounts {
                    domain: domain_at(&self.config, self.domain),
                    rng: &mut self.rng,
                    protected_header: protected_header(&self.engine),
                };
                let State::Unauthenticated(sasl) = &mut self.state else {
                    return;
                };
                let next = sasl.on_authenticate(request, offer, accounts, &mut self.engine);
                if let Some(account) = self.follow(next) {
                    self.authenticated(account);
                }
            }
            (State::Sasl2Task(_), _) if el.ns() == SASL2_NS => self.on_task_element(el),
            (State::FastAuth(_), _) if el.is("abort", SASL2_NS) => self.fast_aborted(),
            (State::Unauthenticated(sasl), Some(offer)) if sasl.accepts_auth() => {
                let next = sasl.on_auth(&el, offer, accounts, &mut self.engine);
                if let Some(account) = self.follow(next) {
                    self.authenticated(account);
                }
            }
            (State::Unauthenticated(sasl), _) if sasl.takes(&el) => {
                let next = sasl.on_element(&el, accounts, &mut self.engine);
                if let Some(account) = self.follow(next) {
                    self.authenticated(account);
                }
            }
            // While a resumption waits for the embedder too: XEP-0198 section 6, "If an
            // error occurs with regard to an <enable/> or <resume/> element, the server MUST
            // return a <failed/> element" (each handler answers `unexpected-request` there).
            (State::Online(_) | State::Authenticated(_) | State::Resuming(_), _)
                if self.config.stream_management && el.is("enable", SM_NS) =>
            {
                self.on_enable(&el)
            }
            (State::Online(_) | State::Authenticated(_) | State::Resuming(_), _)
                if self.config.stream_management && el.is("resume", SM_NS) =>
            {
                self.on_resume(&el)
            }
            (State::Online(_), _) if self.config.handles(&el) => {
                self.engine.report(ServerEvent::Nonza(el));
            }
            _ => self.stream_error(StreamErrorCondition::UnsupportedStanzaType),
        }
    }
}
