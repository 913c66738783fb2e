//! What both example servers (`server` on threads, `tokio_server` on tasks) do with a c2s
//! session's events, but for setting up TLS, which is the transport's: SASL against the
//! accounts of the [`Hub`], binding, stanzas handed to the hub's RFC 6121 routing, stream
//! management with resumption, and the session's end. With `--sasl2`: SASL2, Bind 2 and
//! FAST beside RFC 6120 SASL, FAST tokens kept by the hub.

use std::time::Instant;

use xmpp_sansio::error::{SaslFailureCondition, StanzaErrorCondition};
use xmpp_sansio::jid::{BareJid, FullJid};
use xmpp_sansio::sasl::ChannelBinding;
use xmpp_sansio::server::{HtMechanism, Server, ServerConfig, ServerEvent};
use xmpp_sansio::stream::CloseReason;

use crate::drive::answered;
use crate::hub::{FastLookup, Hub, Mailbox};

/// One client's session on an example server.
pub struct C2s<'a, M: Mailbox> {
    /// The server's shared state.
    pub hub: &'a Hub<M>,
    /// The client's address, for the log.
    pub peer: &'a str,
    /// Where the stanzas routed to this session arrive, once it is bound (or resumed).
    pub rx: Option<M::Rx>,
    /// The session's full JID, once bound (or resumed).
    bound: Option<FullJid>,
    /// The stream ended on purpose (a closing tag or a stream error), not with the
    /// transport: no resumption then.
    ended_on_purpose: bool,
    /// A FAST login asked to invalidate its token (XEP-0484 section 2.6): forgotten once
    /// the login succeeded.
    invalidate: Option<(BareJid, String)>,
}

impl<'a, M: Mailbox> C2s<'a, M> {
    /// A session for the client at `peer`.
    pub fn new(hub: &'a Hub<M>, peer: &'a str) -> Self {
        C2s {
            hub,
            peer,
            rx: None,
            bound: None,
            ended_on_purpose: false,
            invalidate: None,
        }
    }

    /// The core's configuration for a session, from the hub's.
    pub fn config(hub: &Hub<M>) -> ServerConfig {
        let c = &hub.config;
        let mut config = ServerConfig::new(c.domain.clone(), c.sasl_secret.clone());
        config.tls = c.tls_policy;
        config.allow_plain_without_tls = c.allow_plain;
        config.stream_management = c.stream_management;
        config.advertise_limits = c.advertise_limits;
        // Seconds, as `<enabled max/>` says it (XEP-0198 section 5).
        config.resumption = c
            .resume_timeout
            .map(|t| u32::try_from(t.as_secs()).unwrap_or(u32::MAX));
        // Ask for an ack a little after a stanza went out unacknowledged, so that the
        // unacked queue stays short on a quiet session.
        config.ack_request_after = Some(std::time::Duration::from_secs(5));
        // Modern login beside the legacy one: SASL2 with Bind 2 (on by default with it) and
        // FAST with every Hashed Token mechanism (the core offers those that need a
        // channel binding only when the transport has one).
        config.sasl2 = c.sasl2;
        if c.sasl2 {
            config.fast = HtMechanism::ALL.to_vec();
        }
        config
    }

    /// A line in the log.
    pub fn log(&self, line: &str) {
        println!("[{}] {line}", self.peer);
    }

    /// The connection came in on the direct TLS listener (`--direct-tls-listen`, XEP-0368)
    /// and its handshake is done: checks what it agreed on ALPN (`xmpp-client`, or none
    /// from a client that offered none; [`crate::direct_tls_alpn`]), logs
    /// `direct tls up (ALPN ...), N channel binding(s)`, and tells the core before any
    /// input: no STARTTLS on this stream, SASL in its first features.
    ///
    /// # Errors
    ///
    /// Another ALPN protocol: the connection is refused.
    pub fn direct_tls_up(
        &self,
        server: &mut Server,
        alpn: Option<&[u8]>,
        bindings: Vec<ChannelBinding>,
    ) -> std::io::Result<()> {
        let alpn =
            crate::direct_tls_alpn(alpn).inspect_err(|e| self.log(&format!("refused: {e}")))?;
        self.log(&format!(
            "direct tls up ({alpn}), {} channel binding(s)",
            bindings.len()
        ));
        server
            .direct_tls(bindings, false)
            .map_err(std::io::Error::other)
    }

    /// One event (the caller has set up TLS for `TlsRequested`).
    pub fn on_event(&mut self, server: &mut Server, event: ServerEvent) {
        let (hub, now) = (self.hub, Instant::now());
        match event {
            ServerEvent::StreamOpened => self.log("stream opened"),
            ServerEvent::AuthRequest {
                mechanism, authcid, ..
            } => {
                // Only a SASL2 login names its client (`<user-agent id>`).
                match server.user_agent() {
                    Some(ua) => self.log(&format!(
                        "auth {mechanism} as {authcid} (sasl2, user-agent {})",
                        ua.id
                    )),
                    None => self.log(&format!("auth {mechanism} as {authcid}")),
                }
                // The account acts as itself: the core grants no authzid but its own bare JID.
                answered(server.credentials(now, hub.credential(&authcid)));
            }
            ServerEvent::ExternalRequest { .. } => {
                // No client certificates here (EXTERNAL is never offered without one).
                answered(server.refuse_external(now));
            }
            ServerEvent::Authenticated(jid) => {
                self.log(&format!("authenticated {jid}"));
                if let Some((account, id)) = self.invalidate.take() {
                    hub.forget_fast_token(&account, &id);
                    self.log("fast token invalidated");
                }
            }
            ServerEvent::FastAuthRequest {
                authcid,
                mechanism,
                invalidate,
                ..
            } => {
                self.log(&format!("fast auth {} as {authcid}", mechanism.name()));
                // The token is the one kept for this account and this client (its
                // `<user-agent id>`); without an id there is none to find.
                let account = BareJid::parse(&format!("{authcid}@{}", hub.config.domain)).ok();
                let id = server.user_agent().map(|ua| ua.id.clone());
                let found = match (&account, &id) {
                    (Some(account), Some(id)) => hub.fast_token(account, id),
                    _ => FastLookup::Unknown,
                };
                if invalidate {
                    self.invalidate = account.zip(id);
                }
                answered(match found {
                    FastLookup::Found(token) => server.fast_credentials(now, Some(token)),
                    FastLookup::Expired => {
                        self.log("fast token expired");
                        server.fast_refuse(now, SaslFailureCondition::CredentialsExpired)
                    }
                    FastLookup::Unknown => server.fast_credentials(now, None),
                });
            }
            ServerEvent::FastTokenRequest { account, mechanism } => {
                let token = server
                    .user_agent()
                    .map(|ua| ua.id.clone())
                    .map(|id| hub.issue_fast_token(&account, &id, mechanism));
                // Never the secret in the log: only that one went out.
                match &token {
                    Some(_) => self.log(&format!("fast token issued ({})", mechanism.name())),
                    None => self.log("fast token refused: no user-agent id"),
                }
                answered(server.issue_fast_token(now, token));
            }
            ServerEvent::BindRequest { account, resource } => {
                let resource = resource.unwrap_or_else(|| server.make_resource());
                answered(match account.with_resource(&resource) {
                    Ok(f) if hub.claim(&f) => server.bind(now, f),
                    Ok(_) => server.reject_bind(now, StanzaErrorCondition::Conflict),
                    Err(_) => server.reject_bind(now, StanzaErrorCondition::BadRequest),
                });
            }
            ServerEvent::Online(full) => {
                self.log(&format!("online {full}"));
                self.rx = hub.online(&full);
                self.bound = Some(full);
            }
            ServerEvent::Stanza(stanza) => {
                self.log(&format!("stanza {stanza}"));
                if let Some(full) = &self.bound {
                    hub.from_session(full, &stanza);
                }
            }
            ServerEvent::StreamManagementEnabled => self.log("stream management enabled"),
            ServerEvent::ResumeRequest { account, previd } => {
                // The detached session becomes this one's, whatever the core then decides
                // (an `h` too high ends the stream: the session then ends here).
                let state = hub.resume(&account, &previd).map(|(state, rx)| {
                    self.bound = Some(state.jid.clone());
                    self.rx = Some(rx);
                    state
                });
                if state.is_none() {
                    self.log(&format!("resume {previd}: no such session"));
                }
                answered(server.resume(now, state));
            }
            ServerEvent::Resumed(full) => self.log(&format!("resumed {full}")),
            ServerEvent::PeerStreamError(error) => {
                self.log(&format!("peer stream error {}", error.condition.as_str()))
            }
            ServerEvent::Closed(reason) => {
                self.ended_on_purpose = !matches!(
                    reason,
                    CloseReason::Eof | CloseReason::TimedOut | CloseReason::Abandoned(_)
                );
            }
            // `Acked` (the core drops what was acknowledged), `Nonza` (only for namespaces
            // this server would configure: none), and events a later version adds.
            _ => {}
        }
    }

    /// The stream is over: a session whose transport broke with resumption enabled is
    /// detached for the resumption timeout (XEP-0198 section 5); any other ends for good,
    /// with its unavailable presence (RFC 6121 4.5.2).
    pub fn finish(&mut self, server: &mut Server) {
        let Some(full) = self.bound.take() else {
            return;
        };
        let state = if self.ended_on_purpose {
            None
        } else {
            server.take_resumption_state()
        };
        match (state, self.rx.take()) {
            (Some(state), Some(rx)) => {
                self.log(&format!(
                    "detached {full} for resumption ({} unacknowledged)",
                    state.unacked.len()
                ));
                self.hub.detach(state, rx, Instant::now());
            }
            _ => {
                self.hub.session_ended(&full);
                let lost = server.take_unacked().len();
                if lost > 0 {
                    self.log(&format!("{lost} unacknowledged stanza(s) dropped"));
                }
            }
        }
    }
}
