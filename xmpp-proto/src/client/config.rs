//! How a client connects and authenticates: its account, TLS and SASL policy, limits,
//! stream management (XEP-0198) and modern login (XEP-0388, XEP-0386, XEP-0484).

#[cfg(doc)]
use super::{Client, ClientError, ClientEvent};
#[cfg(doc)]
use crate::stream::Abandoned;
use std::time::Duration;

use crate::jid::BareJid;
use crate::negotiate::sasl2::UserAgent;
use crate::sasl::ht::FastToken;
use crate::sasl::{self, Mechanism};
use crate::stream::Framing;
use crate::stream::TlsPolicy;
use crate::stream::UnackedLimits;
use crate::xml::Limits;

/// How a client connects and authenticates.
#[derive(Clone)]
#[non_exhaustive]
pub struct ClientConfig {
    /// The account.
    pub jid: BareJid,
    /// The password, unless [`scram_keys`](Self::scram_keys) are given.
    pub password: Option<String>,
    /// SCRAM keys cached from an earlier login ([`Client::scram_keys`]), used instead of the
    /// password when the server's salt and iteration count match, so that no PBKDF2 runs.
    /// With keys and no password, a server whose salt or count changed (a new password) is
    /// refused.
    pub scram_keys: Option<sasl::ScramKeys>,
    /// The largest SCRAM iteration count accepted from the server (RFC 5802 section 9: a
    /// hostile server can make the client spend long in PBKDF2, inside one
    /// [`Client::handle_input`] call). Defaults to [`sasl::DEFAULT_MAX_ITERATIONS`],
    /// 100,000: ten times what servers in the field use (4,096 to 10,000). A server that
    /// sends more is refused with [`Abandoned::ScramIterations`].
    pub scram_max_iterations: u32,
    /// The resource to ask for; `None` lets the server choose.
    pub resource: Option<String>,
    /// `xml:lang` of the stream.
    pub lang: String,
    /// When to use STARTTLS.
    pub tls: TlsPolicy,
    /// Let PLAIN run on a stream that is not encrypted (off by default: it would send the
    /// password in the clear).
    pub allow_plain_without_tls: bool,
    /// SASL mechanisms in order of preference.
    pub mechanisms: Vec<Mechanism>,
    /// The SCRAM client nonce; `None` makes one from the session's seed
    /// ([`Client::new`]). Set it only to replay a recorded exchange.
    pub client_nonce: Option<String>,
    /// How long to wait for the server during negotiation and closing.
    pub response_timeout: Duration,
    /// Idle time after which a whitespace keepalive is sent; `None` turns it off.
    pub keepalive: Option<Duration>,
    /// Use a `-PLUS` mechanism even when the server does not say (XEP-0440) that it
    /// supports the channel-binding type the TLS layer gave. Off by default: servers exist
    /// that offer `-PLUS` but support only `tls-unique`, which TLS 1.3 lacks, and refuse
    /// the login.
    pub plus_without_advertisement: bool,
    /// Limits of the stream parser.
    pub limits: Limits,
    /// Namespaces of first-level elements that the embedder handles itself once online
    /// (client state indication, or its own stream management when
    /// [`stream_management`](Self::stream_management) is off...): they are reported as
    /// [`ClientEvent::Nonza`]. Any other element that is not a stanza ends the stream with
    /// `unsupported-stanza-type` (RFC 6120 section 4.9.3.24). What the server offers for
    /// them is in [`Client::other_features`].
    pub nonza_namespaces: Vec<String>,
    /// Use stream management (XEP-0198) when the server offers it: `<enable/>` goes out
    /// once bound, before anything the embedder sends, the core answers the server's `<r/>`,
    /// reports its acks ([`ClientEvent::Acked`]) and keeps every stanza sent until acked
    /// ([`unacked_limits`](Self::unacked_limits)); resumption with
    /// [`resumption`](Self::resumption). Off by default.
    pub stream_management: bool,
    /// With [`stream_management`](Self::stream_management): ask the server for an ack
    /// (`<r/>`) after every this many stanzas sent; 0 (the default): only when the
    /// embedder asks ([`Client::request_ack`]).
    pub ack_request_every: u32,
    /// With [`stream_management`](Self::stream_management): ask the server for an ack this
    /// long after a stanza went out unacknowledged (the engine's ack timer); `None` (the
    /// default): not on a timer.
    pub ack_request_after: Option<Duration>,
    /// With [`stream_management`](Self::stream_management): how many stanzas, and bytes,
    /// may wait for the server's ack; at the limit [`Client::send`] refuses with
    /// [`ClientError::UnackedQueueFull`] (see [`UnackedLimits`]).
    pub unacked_limits: UnackedLimits,
    /// With [`stream_management`](Self::stream_management): ask for resumption
    /// (`<enable resume='true'/>`, XEP-0198 section 5). Off by default.
    pub resumption: bool,
    /// Log in with SASL2 (XEP-0388) when the server offers it: `<authenticate/>`, no
    /// stream restart after `<success/>`. Off by default; without a SASL2 offer the client
    /// uses RFC 6120 SASL whatever this says.
    pub sasl2: bool,
    /// With [`sasl2`](Self::sasl2): bind inside `<authenticate/>` (XEP-0386, Bind 2) when
    /// the server offers it, enabling stream management there too when
    /// [`stream_management`](Self::stream_management) is on and the server can (when its
    /// Bind 2 cannot, on the features after `<success/>`, before
    /// [`ClientEvent::Online`]). The server
    /// chooses the resource (typically `tag/random`): [`resource`](Self::resource) is not
    /// asked for. On by default (it has an effect only with `sasl2`).
    pub bind2: bool,
    /// With [`bind2`](Self::bind2): the `<tag/>`, a short name of the client software that
    /// the server puts at the start of the resource (XEP-0386 section 2.2.1). Nothing
    /// private: it is visible to contacts.
    pub bind2_tag: Option<String>,
    /// With [`sasl2`](Self::sasl2): the `<user-agent/>` sent in `<authenticate/>` (XEP-0388
    /// section 2.3), whose `id` lets the server replace this client's earlier session.
    pub user_agent: Option<UserAgent>,
    /// With [`sasl2`](Self::sasl2): a FAST token (XEP-0484) from an earlier login
    /// ([`ClientEvent::FastToken`]), used instead of the password when the server offers
    /// FAST with its mechanism (one round trip, no PBKDF2). After a
    /// [`ClientEvent::SaslFailure`] the embedder should forget it; [`Client::auth`] then
    /// logs in with the password. A secret: `Debug` never shows it.
    pub fast_token: Option<FastToken>,
    /// With [`sasl2`](Self::sasl2): ask the server for a FAST token (`<request-token/>`,
    /// XEP-0484 section 2.2), for the strongest offered Hashed Token mechanism the
    /// transport's channel binding allows. Off by default.
    pub fast_request_token: bool,
    /// With [`fast_token`](Self::fast_token): the `count` of `<fast/>`, which the embedder
    /// increments for every login with the same token (XEP-0484 section 2.4: required when
    /// the request travels in TLS 0-RTT data, where it protects against replay).
    pub fast_count: Option<u32>,
    /// With [`fast_token`](Self::fast_token): ask the server to invalidate the token once
    /// it logged in with it (`invalidate='true'`, XEP-0484 section 2.6: "log out").
    pub fast_invalidate: bool,
    /// Check XEP-0474's downgrade protection hash when the server sends one (`h=` in the
    /// SCRAM server-first-message): a mismatch with the mechanisms and channel-binding
    /// types received abandons the login with [`Abandoned::Downgrade`]. On by default: a
    /// server without XEP-0474 sends no hash, and nothing is checked.
    pub downgrade_protection: bool,
    /// How the stream is framed: TCP (the default) or WebSocket (RFC 7395), where each
    /// [`Client::handle_input`] is one message and each [`Client::poll_transmit`] one, the
    /// server's STARTTLS offer is ignored and no whitespace keepalive is sent (see
    /// [`Framing`]).
    pub framing: Framing,
}

impl ClientConfig {
    /// A configuration with the defaults: TLS required, the default SASL preference, 30 s
    /// response timeout, 60 s keepalive.
    pub fn new(jid: BareJid, password: impl Into<String>) -> Self {
        ClientConfig {
            jid,
            password: Some(password.into()),
            scram_keys: None,
            scram_max_iterations: sasl::DEFAULT_MAX_ITERATIONS,
            resource: None,
            lang: "en".into(),
            tls: TlsPolicy::Required,
            allow_plain_without_tls: false,
            mechanisms: Mechanism::DEFAULT_PREFERENCE.to_vec(),
            client_nonce: None,
            response_timeout: Duration::from_secs(30),
            keepalive: Some(Duration::from_secs(60)),
            plus_without_advertisement: false,
            limits: Limits::default(),
            nonza_namespaces: Vec::new(),
            stream_management: false,
            ack_request_every: 0,
            ack_request_after: None,
            unacked_limits: UnackedLimits::default(),
            resumption: false,
            sasl2: false,
            bind2: true,
            bind2_tag: None,
            user_agent: None,
            fast_token: None,
            fast_request_token: false,
            fast_count: None,
            fast_invalidate: false,
            downgrade_protection: true,
            framing: Framing::Tcp,
        }
    }
}

impl core::fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // The password is a secret; ScramKeys redact themselves.
        f.debug_struct("ClientConfig")
            .field("jid", &self.jid)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("scram_keys", &self.scram_keys)
            .field("scram_max_iterations", &self.scram_max_iterations)
            .field("resource", &self.resource)
            .field("lang", &self.lang)
            .field("tls", &self.tls)
            .field("allow_plain_without_tls", &self.allow_plain_without_tls)
            .field("mechanisms", &self.mechanisms)
            .field("client_nonce", &self.client_nonce)
            .field("response_timeout", &self.response_timeout)
            .field("keepalive", &self.keepalive)
            .field(
                "plus_without_advertisement",
                &self.plus_without_advertisement,
            )
            .field("limits", &self.limits)
            .field("nonza_namespaces", &self.nonza_namespaces)
            .field("stream_management", &self.stream_management)
            .field("ack_request_every", &self.ack_request_every)
            .field("ack_request_after", &self.ack_request_after)
            .field("unacked_limits", &self.unacked_limits)
            .field("resumption", &self.resumption)
            .field("sasl2", &self.sasl2)
            .field("bind2", &self.bind2)
            .field("bind2_tag", &self.bind2_tag)
            .field("user_agent", &self.user_agent)
            .field("fast_token", &self.fast_token)
            .field("fast_request_token", &self.fast_request_token)
            .field("fast_count", &self.fast_count)
            .field("fast_invalidate", &self.fast_invalidate)
            .field("downgrade_protection", &self.downgrade_protection)
            .field("framing", &self.framing)
            .finish()
    }
}
