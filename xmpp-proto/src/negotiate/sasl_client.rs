//! SASL, the initiating entity's side (RFC 6120 section 6), around [`SaslClient`].
//!
//! The client picks a mechanism from the server's `<mechanisms/>` (section 6.4.1) and its
//! own preference and sends `<auth/>` with the initial response (6.4.2); it answers each
//! `<challenge/>` with a `<response/>` (6.4.3) and believes `<success/>` (6.4.6) only once
//! the mechanism has checked it (the SCRAM server signature). After `<failure/>` (6.4.5) the
//! embedder decides whether to try again, with the next mechanism or one it names. Channel
//! binding goes in only with a type the server says it supports (XEP-0440).
//!
//! The same step speaks SASL2 (XEP-0388, [`super::sasl2`]) when begun with an
//! [`Inline`]: `<authenticate/>` instead of `<auth/>`, the server's final data in
//! `<additional-data/>` (checked exactly as RFC 6120's `<success/>` text is), `<success/>`
//! that ends the step without a restart ([`Next::Done`]), and `<continue/>` tasks that the
//! embedder carries out ([`SaslAsk::Continue`], [`SaslAsk::TaskData`]).

use super::sasl2::{self, Inline, Profile};
use super::{Failure, Next, Wire, write_sasl};
use crate::error::{SASL_NS, SaslFailure, StreamErrorCondition};
use crate::sasl::ht::{self, FastToken};
use crate::sasl::{
    self, Credentials, InvalidNonce, Mechanism, Nonce, SaslClient, SaslClientError, ScramKeys,
};
use crate::stream::SASL2_NS;
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
    /// Check the server's XEP-0474 downgrade protection hash, when it sends one, against
    /// the mechanisms and channel-binding types the step was offered.
    pub downgrade_protection: bool,
}

/// What SASL established, carried by the steps after it.
#[derive(Debug)]
pub(crate) struct Authenticated {
    /// The mechanism that authenticated the stream; `None` for a FAST token (XEP-0484).
    pub mechanism: Option<Mechanism>,
    /// The keys a SCRAM login derived, for the embedder to cache.
    pub scram_keys: Option<ScramKeys>,
    /// SASL2 logged in, and the `<stream:features/>` that follow its `<success/>` (XEP-0388
    /// section 2.5.1) are still to come: the role takes them once online.
    pub features_due: bool,
    /// The features after authentication offered stream management (XEP-0198 section 2):
    /// the role enables it once bound. Kept here rather than the features themselves, so
    /// that a client online holds no copy of them for a feature the core negotiates.
    pub sm_offered: bool,
}

/// What the step asks the embedder.
#[derive(Debug)]
pub(crate) enum SaslAsk {
    /// The server refused (`<failure/>`): try again, or close.
    Failure(SaslFailure),
    /// SASL2 `<continue/>`: the mechanism succeeded (its final data checked) and the server
    /// wants one of these tasks done (XEP-0388 section 2.5.3).
    Continue(Vec<String>),
    /// SASL2 `<task-data/>` of the running task, for the embedder to answer.
    TaskData(crate::xml::Element),
}

/// Where the step stands.
#[derive(Debug)]
enum Phase {
    /// An exchange runs.
    Exchange(Box<SaslClient>),
    /// After a `<failure/>`, while the embedder decides.
    Failed,
    /// SASL2 tasks (after `<continue/>`): the mechanism's outcome, kept for `<success/>`.
    Tasks(Box<Authenticated>),
    /// A FAST login (XEP-0484 section 2.4): the token and the channel-binding data, to
    /// check the server's answer.
    Fast(Box<(FastToken, Vec<u8>)>),
}

/// The client's SASL step, from the first `<auth/>` (or `<authenticate/>`) to `<success/>`.
#[derive(Debug)]
pub(crate) struct SaslClientStep {
    /// The mechanisms the server offered, in its order.
    offered: Vec<String>,
    /// The channel-binding types the server says it supports (XEP-0440), if it says.
    cb_types: Option<Vec<String>>,
    /// The mechanisms already tried in this step.
    tried: Vec<Mechanism>,
    phase: Phase,
    /// SASL2 (XEP-0388), with what goes inline in each `<authenticate/>`; `None`: RFC 6120.
    sasl2: Option<Box<Inline>>,
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
        Self::begin_profile(offered, cb_types, attempt, None, out)
    }

    /// Starts SASL2 (XEP-0388) with what the server's `<authentication/>` offers; `inline`
    /// goes into every `<authenticate/>`.
    pub fn begin_sasl2(
        offered: Vec<String>,
        cb_types: Option<Vec<String>>,
        attempt: Attempt,
        inline: Inline,
        out: &mut impl Wire,
    ) -> Result<Self, Failure> {
        Self::begin_profile(offered, cb_types, attempt, Some(Box::new(inline)), out)
    }

    /// Starts SASL2 with a FAST token (XEP-0484 section 2.4): one `<authenticate/>` with
    /// the Hashed Token mechanism and `<fast/>`; after a failure the embedder falls back
    /// to `offered` (the password mechanisms) with [`attempt`](Self::attempt).
    #[allow(clippy::too_many_arguments)]
    pub fn begin_fast(
        offered: Vec<String>,
        cb_types: Option<Vec<String>>,
        authcid: &str,
        token: FastToken,
        cb: Vec<u8>,
        fast: (Option<u32>, bool),
        inline: Inline,
        out: &mut impl Wire,
    ) -> Self {
        let initial = ht::initial_response(authcid, token.secret.as_bytes(), &cb);
        let first = Inline {
            fast: Some(fast),
            ..inline.clone()
        };
        out.element(|w| {
            sasl2::write_authenticate(w, token.mechanism.name(), Some(&initial), &first)
        });
        SaslClientStep {
            offered,
            cb_types,
            tried: Vec::new(),
            phase: Phase::Fast(Box::new((token, cb))),
            sasl2: Some(Box::new(inline)),
        }
    }

    fn begin_profile(
        offered: Vec<String>,
        cb_types: Option<Vec<String>>,
        attempt: Attempt,
        sasl2: Option<Box<Inline>>,
        out: &mut impl Wire,
    ) -> Result<Self, Failure> {
        if offered.is_empty() {
            return Err(Abandoned::NoMechanism.into());
        }
        let mut step = SaslClientStep {
            offered,
            cb_types,
            tried: Vec::new(),
            phase: Phase::Failed,
            sasl2,
        };
        step.attempt(attempt, None, out)?;
        Ok(step)
    }

    /// After a failure, while the embedder decides.
    pub fn awaits_embedder(&self) -> bool {
        matches!(self.phase, Phase::Failed)
    }

    /// Runs SASL2 tasks (after `<continue/>`).
    pub fn in_tasks(&self) -> bool {
        matches!(self.phase, Phase::Tasks(_))
    }

    /// What each SASL2 `<authenticate/>` carries inline; `None` for RFC 6120 SASL.
    pub fn inline(&self) -> Option<&Inline> {
        self.sasl2.as_deref()
    }

    /// After [`SaslAsk::Continue`]: the embedder chose `task` (XEP-0388 `<next task/>`),
    /// with its first data, if any, in a `<task-data/>`.
    pub fn next_task(&mut self, task: &str, payload: &[crate::xml::Element], out: &mut impl Wire) {
        out.element(|w| {
            w.start("next")
                .xmlns(SASL2_NS)
                .attr("task", task)
                .end("next");
        });
        if !payload.is_empty() {
            self.task_data(payload, out);
        }
    }

    /// The embedder's `<task-data/>` for the running task.
    pub fn task_data(&mut self, payload: &[crate::xml::Element], out: &mut impl Wire) {
        out.element(|w| sasl2::write_task_data(w, payload));
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
            downgrade_protection,
        } = attempt;
        if downgrade_protection {
            let names: Vec<&str> = self.offered.iter().map(String::as_str).collect();
            let cbs: Option<Vec<&str>> = self
                .cb_types
                .as_ref()
                .map(|t| t.iter().map(String::as_str).collect());
            config.downgrade_protection =
                Some(sasl::downgrade_protection_input(&names, cbs.as_deref()));
        }
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
        match &self.sasl2 {
            None => {
                let payload = sasl::encode_payload(client.initial_response());
                out.element(|w| {
                    w.start("auth")
                        .xmlns(SASL_NS)
                        .attr("mechanism", client.mechanism().name())
                        .text(&payload)
                        .end("auth");
                });
            }
            Some(inline) => out.element(|w| {
                let initial = Some(client.initial_response());
                sasl2::write_authenticate(w, client.mechanism().name(), initial, inline);
            }),
        }
        self.phase = Phase::Exchange(Box::new(client));
        Ok(())
    }

    /// Is `el` for this step: any element of the profile's namespace while an exchange or
    /// a task runs?
    pub fn takes(&self, el: &Element) -> bool {
        let ns = if self.sasl2.is_some() {
            SASL2_NS
        } else {
            SASL_NS
        };
        !matches!(self.phase, Phase::Failed) && el.ns() == ns
    }

    /// The server's `<challenge/>`, `<success/>` or `<failure/>` (SASL2: also
    /// `<continue/>` and `<task-data/>`).
    pub fn on_element(
        &mut self,
        el: &Element,
        out: &mut impl Wire,
    ) -> Next<Authenticated, SaslAsk> {
        if el.name() == "failure" {
            let failure = if self.sasl2.is_some() {
                sasl2::read_failure(el.root())
            } else {
                SaslFailure::from_element(el.root()).unwrap_or(SaslFailure {
                    condition: None,
                    text: None,
                })
            };
            self.phase = Phase::Failed;
            return Next::Ask(SaslAsk::Failure(failure));
        }
        match &mut self.phase {
            Phase::Failed => Next::Unchanged,
            Phase::Exchange(client) => {
                let sasl2 = self.sasl2.is_some();
                // RFC 6120 carries the final data as the text of `<success/>`, SASL2 in
                // `<additional-data/>` of `<success/>` or `<continue/>` (XEP-0388 2.5).
                let data = match el.name() {
                    "success" | "continue" if sasl2 => sasl2::additional_data(el.root()),
                    _ if sasl2 => Profile::Sasl2.decode(&el.text()).map_err(|_| ()),
                    _ => Profile::Rfc6120.decode(&el.text()).map_err(|_| ()),
                };
                let Ok(data) = data else {
                    return Abandoned::PeerProtocol(ProtocolViolation::SaslEncoding).into();
                };
                match el.name() {
                    "challenge" => match client.on_challenge(&data) {
                        Ok(response) => {
                            if sasl2 {
                                out.element(|w| {
                                    w.start("response")
                                        .xmlns(SASL2_NS)
                                        .text(&sasl::encode_data(&response))
                                        .end("response");
                                });
                            } else {
                                write_sasl(out, "response", &response);
                            }
                            Next::AwaitPeer
                        }
                        Err(SaslClientError::IterationCountOutOfRange { count, max, .. })
                            if count > 0 =>
                        {
                            Abandoned::ScramIterations { count, max }.into()
                        }
                        Err(SaslClientError::DowngradeDetected) => Abandoned::Downgrade.into(),
                        Err(_) => Abandoned::PeerProtocol(ProtocolViolation::SaslChallenge).into(),
                    },
                    "success" | "continue" if el.name() == "success" || sasl2 => {
                        match client.on_success(&data) {
                            Ok(()) => {
                                let auth = Authenticated {
                                    mechanism: Some(client.mechanism()),
                                    scram_keys: client.scram_keys().cloned(),
                                    features_due: false,
                                    sm_offered: false,
                                };
                                if el.name() == "continue" {
                                    return self.on_continue(el, auth);
                                }
                                if sasl2 {
                                    Next::Done(auth)
                                } else {
                                    Next::Restart(auth)
                                }
                            }
                            Err(
                                SaslClientError::ServerSignatureMismatch
                                | SaslClientError::MissingServerSignature,
                            ) => Abandoned::ServerSignature.into(),
                            Err(_) => {
                                Abandoned::PeerProtocol(ProtocolViolation::SaslSuccess).into()
                            }
                        }
                    }
                    _ => Failure::Stream(StreamErrorCondition::UnsupportedStanzaType).into(),
                }
            }
            Phase::Fast(fast) => {
                let (token, cb) = &**fast;
                match el.name() {
                    // The Hashed Token mechanisms end in one round trip, with no task
                    // (XEP-0484 section 3.2): anything but `<success/>` breaks them.
                    "success" => match sasl2::additional_data(el.root()) {
                        Ok(data) if ht::verify_responder(token.secret.as_bytes(), cb, &data) => {
                            Next::Done(Authenticated {
                                mechanism: None,
                                scram_keys: None,
                                features_due: false,
                                sm_offered: false,
                            })
                        }
                        Ok(_) => Abandoned::ServerSignature.into(),
                        Err(()) => Abandoned::PeerProtocol(ProtocolViolation::SaslEncoding).into(),
                    },
                    _ => Abandoned::PeerProtocol(ProtocolViolation::SaslChallenge).into(),
                }
            }
            Phase::Tasks(_) => match el.name() {
                "task-data" => Next::Ask(SaslAsk::TaskData(el.clone())),
                "continue" => {
                    let Phase::Tasks(auth) = core::mem::replace(&mut self.phase, Phase::Failed)
                    else {
                        return Next::Unchanged;
                    };
                    self.on_continue(el, *auth)
                }
                "success" => {
                    let Phase::Tasks(auth) = core::mem::replace(&mut self.phase, Phase::Failed)
                    else {
                        return Next::Unchanged;
                    };
                    Next::Done(*auth)
                }
                _ => Failure::Stream(StreamErrorCondition::UnsupportedStanzaType).into(),
            },
        }
    }

    /// `<continue/>`: the tasks go to the embedder.
    fn on_continue(&mut self, el: &Element, auth: Authenticated) -> Next<Authenticated, SaslAsk> {
        let tasks = sasl2::tasks(el.root());
        if tasks.is_empty() {
            return Abandoned::PeerProtocol(ProtocolViolation::SaslSuccess).into();
        }
        self.phase = Phase::Tasks(Box::new(auth));
        Next::Ask(SaslAsk::Continue(tasks))
    }
}
