//! The client side of modern login: SASL2 (XEP-0388) with its tasks, Bind 2 (XEP-0386),
//! stream management inline, FAST tokens (XEP-0484), and what `<success/>` says.

use super::{Client, ClientEvent, PeerFeatures, State, may_bind};

use crate::error::StreamErrorCondition;
use crate::jid::FullJid;
use crate::negotiate::sasl_client::Authenticated;
use crate::negotiate::sasl2::{self, Bind2Request, Inline};
use crate::sasl::ht::HtMechanism;
use crate::stream::Abandoned;
use crate::stream::engine::StreamRole;
use crate::stream::management::{self, SM_NS};
use crate::stream::{BIND2_NS, Features, Sasl2Offer};
use crate::xml::Element;

/// SASL2 and Bind 2 (XEP-0388, XEP-0386): what goes inline, and what `<success/>` says.
impl Client {
    /// What each `<authenticate/>` carries: the user agent, and a Bind 2 request when the
    /// server offers Bind 2 (with stream management's `<enable/>` when both want it).
    pub(super) fn sasl2_inline(&self, offer: &Sasl2Offer) -> Inline {
        let config = &self.config;
        // A session to resume where the server cannot resume inside `<authenticate/>`
        // (Prosody 0.12 without `mod_sasl2_sm`): resumption follows `<success/>`, the
        // XEP-0198 way, and a Bind 2 request now would bind a new session in its place
        // (found by `interop/run`). Binding, if the resumption fails, is RFC 6120's then.
        let resume_after = self.engine.sm_is_resuming() && !offer.sm;
        let bind = (config.bind2 && offer.bind2 && !resume_after).then(|| Bind2Request {
            tag: config.bind2_tag.clone(),
            sm: (config.stream_management && offer.bind2_sm).then_some(config.resumption),
        });
        // XEP-0198 with SASL2: the previous session is resumed inside `<authenticate/>`
        // when the server offers it inline (else after `<success/>`, as after RFC 6120
        // SASL).
        let resume = (offer.sm && self.engine.sm_is_resuming())
            .then(|| {
                let previd = self.engine.sm_resumable().map(|r| r.id.clone())?;
                Some((previd, self.engine.sm_handled()))
            })
            .flatten();
        let request_token = config
            .fast_request_token
            .then(|| self.fast_mechanism(offer, None))
            .flatten();
        Inline {
            user_agent: config.user_agent.clone(),
            bind,
            resume,
            request_token,
            fast: None,
        }
    }

    /// The strongest Hashed Token mechanism the server offers for FAST that the transport
    /// can bind to (`wanted`: only that one).
    pub(super) fn fast_mechanism(
        &self,
        offer: &Sasl2Offer,
        wanted: Option<HtMechanism>,
    ) -> Option<HtMechanism> {
        let transport = self.engine.transport();
        HtMechanism::ALL.into_iter().find(|m| {
            wanted.is_none_or(|w| w == *m)
                && offer.fast.iter().any(|o| o == m.name())
                && m.channel_binding()
                    .is_none_or(|t| transport.channel_bindings().iter().any(|cb| cb.kind == t))
        })
    }

    /// SASL2 `<success/>` (its final data already verified by the step): with Bind 2's
    /// `<bound/>` the session is online at once, as the `<authorization-identifier/>` (a
    /// full JID of the account) says; without it the features that follow lead to
    /// binding, on the same stream (no restart).
    pub(super) fn sasl2_success(
        &mut self,
        mut auth: Authenticated,
        el: &Element,
        inline: Option<Inline>,
    ) {
        let account = self.config.jid.clone();
        let bound = el.root().get_child("bound", BIND2_NS);
        let identifier = sasl2::authorization_identifier(el.root());
        self.engine
            .report(ClientEvent::Authenticated(account.clone()));
        let Inline {
            bind,
            resume,
            request_token,
            ..
        } = inline.unwrap_or_default();
        // FAST (XEP-0484 sections 2.3 and 2.5): a token asked for, or a rotation of the one
        // this login used.
        let token_mechanism = match auth.mechanism {
            None => self.config.fast_token.as_ref().map(|t| t.mechanism),
            Some(_) => request_token,
        };
        if let Some(token) = token_mechanism.and_then(|m| sasl2::read_token(el.root(), m)) {
            self.engine.report(ClientEvent::FastToken(token));
        }
        if resume.is_some() {
            // XEP-0198 with SASL2: `<resumed/>` or `<failed/>` inside `<success/>`.
            let answer = el
                .root()
                .children()
                .find(|c| c.ns() == SM_NS && matches!(c.name(), "resumed" | "failed"));
            match answer {
                Some(r) if r.name() == "resumed" => {
                    let h = match self.resumed_h(r) {
                        Ok(h) => h,
                        Err(condition) => return self.stream_error(condition),
                    };
                    let Some(jid) = self.engine.sm_jid().cloned() else {
                        return self.stream_error(StreamErrorCondition::UndefinedCondition);
                    };
                    auth.features_due = true;
                    self.state = State::Online(Box::new(auth));
                    self.engine.negotiated();
                    if let Err(error) = self.engine.sm_resumed(h) {
                        return self.close_with_error(error);
                    }
                    return self.engine.report(ClientEvent::Resumed(jid));
                }
                Some(failed) => {
                    let h = failed.attr("h").and_then(|h| h.parse::<u32>().ok());
                    self.resume_failed(management::failed_condition(failed), h);
                }
                None => self.resume_failed(None, None),
            }
        }
        let (Some(bind), Some(bound)) = (bind, bound) else {
            auth.features_due = false;
            return self.run(State::AwaitFeatures(Some(Box::new(auth))));
        };
        let jid = identifier.and_then(|i| i.parse::<FullJid>().ok());
        let Some(jid) = jid.filter(|j| may_bind(j, &account, &auth)) else {
            return self.abandon(Abandoned::BindFailed(None));
        };
        let sm = bound
            .children()
            .find(|c| c.ns() == SM_NS && matches!(c.name(), "enabled" | "failed"));
        let sm_answer = sm.map(|c| {
            (
                c.name() == "enabled",
                management::failed_condition(c),
                management::read_enabled(c),
            )
        });
        if bind.sm.is_none() && self.config.stream_management {
            // Stream management wanted, and not enabled inside the bind: the features
            // after `<success/>` may offer it the XEP-0198 way.
            auth.features_due = false;
            return self.run(State::Bound2 {
                jid,
                auth: Box::new(auth),
            });
        }
        auth.features_due = true;
        self.state = State::Online(Box::new(auth));
        self.engine.negotiated();
        if bind.sm.is_some() {
            // Counting began with our `<enable/>` inside `<authenticate/>`: nothing was
            // sent since.
            self.engine.sm_begin(self.sm_settings());
            if self.config.resumption {
                self.engine.sm_bound(&jid);
            }
        }
        self.engine.report(ClientEvent::Online(jid));
        match sm_answer {
            Some((true, _, resumable)) if bind.sm.is_some() => {
                self.engine.sm_enabled();
                if self.config.resumption {
                    if let Some(acks) = self.engine.sm_mut() {
                        acks.resumable = resumable.map(Box::new);
                    }
                }
                self.engine.report(ClientEvent::StreamManagementEnabled);
            }
            Some((false, condition, _)) if bind.sm.is_some() => {
                self.engine.sm_end();
                self.engine
                    .report(ClientEvent::StreamManagementFailed(condition));
            }
            _ if bind.sm.is_some() => {
                // Asked for and not answered: as good as refused.
                self.engine.sm_end();
                self.engine
                    .report(ClientEvent::StreamManagementFailed(None));
            }
            _ => {}
        }
    }

    /// Keeps what a `<stream:features/>` says beyond what the core negotiates.
    pub(super) fn keep_features(&mut self, features: &Element) {
        let f = Features::read(features.root());
        let others = features.root().children().any(|c| !Features::is_known(c));
        let peer = PeerFeatures {
            limits: f.limits,
            features: others.then(|| features.clone()),
        };
        self.peer = (peer.limits.is_some() || peer.features.is_some()).then(|| Box::new(peer));
    }
}
