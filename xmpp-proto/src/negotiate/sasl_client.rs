//! SASL, the initiating entity's side (RFC 6120 section 6), around [`SaslClient`].
//!
//! The client picks a mechanism from the server's `<mechanisms/>` (section 6.4.1) and its
//! own preference and sends `<auth/>` with the initial response (6.4.2); it answers each
//! `<challenge/>` with a `<response/>` (6.4.3) and believes `<success/>` (6.4.6) only once
//! the mechanism has checked it (the SCRAM server signature). After `<failure/>` (6.4.5) the
//! embedder decides whether to try again, with the next mechanism or one it names. Channel
//! binding goes in only with a type the server says it supports (XEP-0440).

use super::{Failure, Next, Wire, write_sasl};
use crate::error::{SASL_NS, SaslFailure, StreamErrorCondition};
use crate::sasl::{
    self, Credentials, InvalidNonce, Mechanism, Nonce, SaslClient, SaslClientError, ScramKeys,
};
use crate::stream::{Abandoned, ProtocolViolation};
use crate::xml::Element;

/// What one attempt is made with: the role's configuration and the transport, read afresh
/// for each attempt.
pub(crate) struct Attempt {
    /// The client's choices. Its channel binding is the transport's: the step keeps it
    /// only for a type the server supports.
    pub config: sasl::SaslClientConfig,
    /// Bind to the channel even when the server does not say it supports the type.
    pub plus_without_advertisement: bool,
    pub credentials: Credentials,
    pub nonce: Result<Nonce, InvalidNonce>,
}

/// What SASL established, carried by the steps after it.
#[derive(Debug)]
pub(crate) struct Authenticated {
    /// The mechanism that authenticated the stream.
    pub mechanism: Mechanism,
    /// The keys a SCRAM login derived, for the embedder to cache.
    pub scram_keys: Option<ScramKeys>,
}

/// The client's SASL step, from the first `<auth/>` to `<success/>`.
#[derive(Debug)]
pub(crate) struct SaslClientStep {
    /// The mechanisms the server offered, in its order.
    offered: Vec<String>,
    /// The channel-binding types the server says it supports (XEP-0440), if it says.
    cb_types: Option<Vec<String>>,
    /// The mechanisms already tried in this step.
    tried: Vec<Mechanism>,
    /// The exchange that runs; `None` after a `<failure/>`, while the embedder decides.
    exchange: Option<Box<SaslClient>>,
}

impl SaslClientStep {
    /// Starts SASL with what the server offers (RFC 6120 section 6.4.1), or gives up when it
    /// offers nothing acceptable.
    pub fn begin(
        offered: Vec<String>,
        cb_types: Option<Vec<String>>,
        attempt: Attempt,
        out: &mut impl Wire,
    ) -> Result<Self, Failure> {
        if offered.is_empty() {
            return Err(Abandoned::NoMechanism.into());
        }
        let mut step = SaslClientStep {
            offered,
            cb_types,
            tried: Vec::new(),
            exchange: None,
        };
        step.attempt(attempt, None, out)?;
        Ok(step)
    }

    /// After a failure, while the embedder decides.
    pub fn awaits_embedder(&self) -> bool {
        self.exchange.is_none()
    }

    /// Tries again after a failure: with `wanted`, or with the preferred mechanism not
    /// tried yet in this step. Sends `<auth/>`, or gives up when none is acceptable.
    pub fn attempt(
        &mut self,
        attempt: Attempt,
        wanted: Option<Mechanism>,
        out: &mut impl Wire,
    ) -> Result<(), Failure> {
        let Attempt {
            mut config,
            plus_without_advertisement,
            credentials,
            nonce,
        } = attempt;
        // Channel binding only of a type the server supports (XEP-0440). When it offers no
        // -PLUS at all, the binding still goes in, for the GS2 `y` flag (RFC 5802 section
        // 6: the server can then tell a downgrade).
        let offers_plus = self.offered.iter().any(|m| m.ends_with("-PLUS"));
        let cb_types = &self.cb_types;
        config.channel_binding = config.channel_binding.filter(|cb| {
            !offers_plus
                || match cb_types {
                    Some(types) => types.iter().any(|t| t == cb.kind.name()),
                    None => plus_without_advertisement,
                }
        });
        match wanted {
            Some(m) => config.preference = vec![m],
            None => config.preference.retain(|m| !self.tried.contains(m)),
        }
        let client = nonce
            .map_err(|_| SaslClientError::NoAcceptableMechanism)
            .and_then(|nonce| SaslClient::start(&self.offered, &config, credentials, nonce))
            .map_err(|_| Failure::from(Abandoned::NoMechanism))?;
        self.tried.push(client.mechanism());
        let payload = sasl::encode_payload(client.initial_response());
        out.element(|w| {
            w.start("auth")
                .xmlns(SASL_NS)
                .attr("mechanism", client.mechanism().name())
                .text(&payload)
                .end("auth");
        });
        self.exchange = Some(Box::new(client));
        Ok(())
    }

    /// Is `el` for this step: any SASL element while an exchange runs?
    pub fn takes(&self, el: &Element) -> bool {
        self.exchange.is_some() && el.ns() == SASL_NS
    }

    /// The server's `<challenge/>`, `<success/>` or `<failure/>`.
    pub fn on_element(
        &mut self,
        el: &Element,
        out: &mut impl Wire,
    ) -> Next<Authenticated, SaslFailure> {
        let Some(client) = self.exchange.as_mut() else {
            return Next::Unchanged;
        };
        let Ok(data) = sasl::decode_payload(&el.text()) else {
            return Abandoned::PeerProtocol(ProtocolViolation::SaslEncoding).into();
        };
        match el.name() {
            "challenge" => match client.on_challenge(&data) {
                Ok(response) => {
                    write_sasl(out, "response", &response);
                    Next::AwaitPeer
                }
                Err(SaslClientError::IterationCountOutOfRange { count, max, .. }) if count > 0 => {
                    Abandoned::ScramIterations { count, max }.into()
                }
                Err(_) => Abandoned::PeerProtocol(ProtocolViolation::SaslChallenge).into(),
            },
            "success" => match client.on_success(&data) {
                Ok(()) => Next::Restart(Authenticated {
                    mechanism: client.mechanism(),
                    scram_keys: client.scram_keys().cloned(),
                }),
                Err(
                    SaslClientError::ServerSignatureMismatch
                    | SaslClientError::MissingServerSignature,
                ) => Abandoned::ServerSignature.into(),
                Err(_) => Abandoned::PeerProtocol(ProtocolViolation::SaslSuccess).into(),
            },
            "failure" => {
                let failure = SaslFailure::from_element(el.root()).unwrap_or(SaslFailure {
                    condition: None,
                    text: None,
                });
                self.exchange = None;
                Next::Ask(failure)
            }
            _ => Failure::Stream(StreamErrorCondition::UnsupportedStanzaType).into(),
        }
    }
}
