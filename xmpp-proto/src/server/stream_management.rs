//! The server side of stream management (XEP-0198): `<enable/>`, acknowledgements, and
//! resumption, whose state the embedder keeps between the old session and the new one.

#[cfg(doc)]
use super::ServerConfig;
use super::{ResumeAsk, Server, ServerError, ServerEvent, State};
use std::time::Instant;

use crate::error::StanzaErrorCondition;
use crate::jid::FullJid;
use crate::negotiate::bind::BindServer;
use crate::stream::ResumptionState;
use crate::stream::engine::StreamRole;
use crate::stream::management::{self, SmSettings};
use crate::xml::Element;

impl Server {
    /// Asks the client at time `now` to acknowledge what it handled (XEP-0198 `<r/>`); its
    /// `<a/>` is reported as [`ServerEvent::Acked`] when it acknowledges anything new.
    ///
    /// # Errors
    ///
    /// [`ServerError::StreamManagementNotEnabled`] before
    /// [`ServerEvent::StreamManagementEnabled`]; [`ServerError::StreamEnded`] once the
    /// stream has ended.
    pub fn request_ack(&mut self, now: Instant) -> Result<(), ServerError> {
        self.at(now, |s| {
            if s.engine.is_ending() {
                return Err(ServerError::StreamEnded);
            }
            if !s.engine.sm_request() {
                return Err(ServerError::StreamManagementNotEnabled);
            }
            Ok(())
        })
    }

    /// Answers [`ServerEvent::ResumeRequest`] at time `now` with the state detached from
    /// the session the client named ([`take_resumption_state`](Self::take_resumption_state)
    /// of its `Server`), or `None` when there is none. A state of another id, or of another
    /// account than the client authenticated as, is refused as unknown (XEP-0198 section 5:
    /// `<failed><item-not-found/></failed>`; the client may bind instead) and dropped.
    /// Otherwise `<resumed previd h/>` goes out, the stanzas the client did not acknowledge
    /// are sent again, the counters go on from the state's, and
    /// [`ServerEvent::Resumed`] follows; an `h` of the client beyond what the session sent
    /// ends the stream (`undefined-condition`, XEP-0198 section 4), and the state's stanzas
    /// can then be taken back with [`take_unacked`](Self::take_unacked).
    ///
    /// # Errors
    ///
    /// [`ServerError::NoResumeRequest`] without a request to answer;
    /// [`ServerError::StreamEnded`] when the stream has ended meanwhile.
    pub fn resume(
        &mut self,
        now: Instant,
        state: Option<ResumptionState>,
    ) -> Result<(), ServerError> {
        self.at(now, |s| {
            if s.engine.is_ending() {
                return Err(ServerError::StreamEnded);
            }
            if matches!(s.state, State::Sasl2Resuming(_)) {
                s.sasl2_resume(state);
                return Ok(());
            }
            let State::Resuming(ask) = &s.state else {
                return Err(ServerError::NoResumeRequest);
            };
            // Binding is what follows a refusal; success replaces it with `Online`.
            let bind = BindServer::new(ask.account.clone(), s.config.max_bind_attempts);
            let State::Resuming(ask) = std::mem::replace(&mut s.state, State::Authenticated(bind))
            else {
                return Err(ServerError::NoResumeRequest);
            };
            let state = state.filter(|st| st.id == ask.previd && st.jid.to_bare() == ask.account);
            let Some(state) = state else {
                let condition = StanzaErrorCondition::ItemNotFound;
                s.engine
                    .write_element(|w| management::write_failed(w, &condition));
                s.engine.await_peer();
                return Ok(());
            };
            let jid = state.jid.clone();
            s.engine.sm_resume_from(state, s.sm_settings());
            let h = s.engine.sm_handled();
            s.engine
                .write_element(|w| management::write_resume(w, "resumed", &ask.previd, h));
            s.state = State::Online(jid.clone());
            s.engine.negotiated();
            match s.engine.sm_resumed(ask.h) {
                Ok(()) => s.engine.report(ServerEvent::Resumed(jid)),
                Err(error) => s.close_with_error(error),
            }
            Ok(())
        })
    }

    /// Once the stream is over ([`ServerEvent::Closed`]): the session's state for a later
    /// resumption, when the client enabled it (`<enabled resume='true'/>`): keep it for
    /// [`ServerConfig::resumption`] seconds at most, and give it to the `Server` whose
    /// [`ServerEvent::ResumeRequest`] names its id. `None` before the end, without
    /// resumption, after a closing handshake (the client ended its session, XEP-0198
    /// section 7: its stanzas are then in [`take_unacked`](Self::take_unacked)), or once taken (the unacknowledged stanzas go with it). Output not yet
    /// taken with [`poll_transmit`](Self::poll_transmit) is dropped: the transport is gone.
    pub fn take_resumption_state(&mut self) -> Option<ResumptionState> {
        self.engine.sm_take_state()
    }

    /// Once the stream is over for good (or a detached state expired, see
    /// [`ResumptionState::unacked`]): the stanzas the client did not acknowledge, oldest
    /// first, as they were sent, for the embedder to deliver otherwise (offline storage,
    /// bounce). Empty without stream management, before the end, or once taken.
    pub fn take_unacked(&mut self) -> Vec<bytes::Bytes> {
        self.engine.sm_take_unacked()
    }

    /// Stream management's settings, from the configuration.
    pub(super) fn sm_settings(&self) -> SmSettings {
        SmSettings {
            request_every: self.config.ack_request_every,
            request_after: self.config.ack_request_after,
            limits: self.config.unacked_limits,
        }
    }

    /// With stream management enabled: how many of the stanzas sent since `<enabled/>` the
    /// client has not acknowledged yet.
    pub fn unacked(&self) -> Option<u32> {
        self.engine.sm_unacked()
    }
}

impl Server {
    /// Stream management starts on this session, bound to `jid`, once `<enabled/>` is
    /// written (on its own or inside Bind 2's `<bound/>`): counting from now, and, when
    /// `resumable`, resumable under that id for at most that many seconds.
    pub(super) fn sm_start(&mut self, jid: &FullJid, resumable: Option<(String, u32)>) {
        self.engine.sm_begin(self.sm_settings());
        self.engine.sm_enabled();
        if let Some((id, max)) = resumable {
            self.engine.sm_bound(jid);
            if let Some(acks) = self.engine.sm_mut() {
                acks.resumable = Some(Box::new(management::Resumable {
                    id,
                    location: None,
                    max: Some(max),
                }));
            }
        }
    }

    /// `<enable/>` (XEP-0198 section 3): enabled once bound, and once; before binding or a
    /// second time, `<failed/>` with `unexpected-request` (section 6), and the stream goes
    /// on. The stanzas the client sends are counted from its `<enable/>`, ours from our
    /// `<enabled/>`.
    ///
    /// With [`ServerConfig::resumption`] and `resume='true'`, the session gets an id
    /// (unguessable, from the seeded generator) and the `max` of the two sides.
    pub(super) fn on_enable(&mut self, el: &Element) {
        let State::Online(jid) = &self.state else {
            return self.sm_failed(StanzaErrorCondition::UnexpectedRequest);
        };
        if self.engine.sm_begun() {
            return self.sm_failed(StanzaErrorCondition::UnexpectedRequest);
        }
        let jid = jid.clone();
        let resumable = match self.config.resumption {
            Some(ours) if management::is_true(el.root(), "resume") => {
                // `max` is an xs:positiveInteger on both elements (section 11): a client's 0
                // states no preference, and ours of 0 is not announced.
                let max = match management::read_max(el.root()) {
                    Some(theirs) if ours > 0 => theirs.min(ours),
                    _ => ours,
                };
                Some((self.rng.token(16), max))
            }
            _ => None,
        };
        self.engine.write_element(|w| {
            management::write_enabled(w, resumable.as_ref().map(|(id, max)| (id.as_str(), *max)))
        });
        self.sm_start(&jid, resumable);
        self.engine.report(ServerEvent::StreamManagementEnabled);
    }
}

impl Server {
    /// `<enable/>` or `<resume/>` before authentication: the client MUST NOT send them
    /// yet and the server "SHALL enforce this order and return a `<failed/>` element"
    /// (XEP-0198 section 3; section 6 for `<resume/>`, which section 9 forbids to resume
    /// anything before authentication). The stream goes on: SASL may follow.
    pub(super) fn sm_unauthenticated(&mut self) {
        self.sm_failed(StanzaErrorCondition::UnexpectedRequest);
    }

    /// `<failed/>` with `condition` (XEP-0198 section 6); the stream goes on.
    fn sm_failed(&mut self, condition: StanzaErrorCondition) {
        self.engine
            .write_element(|w| management::write_failed(w, &condition));
    }

    /// `<resume previd h/>` (XEP-0198 section 5): after authentication and before binding
    /// the embedder is asked for the state of `previd`; without resumption configured,
    /// `feature-not-implemented`; once bound (or while binding), `unexpected-request`; a
    /// missing `previd` or `h`, `bad-request`.
    pub(super) fn on_resume(&mut self, el: &Element) {
        let State::Authenticated(bind) = &self.state else {
            return self.sm_failed(StanzaErrorCondition::UnexpectedRequest);
        };
        if self.config.resumption.is_none() {
            return self.sm_failed(StanzaErrorCondition::FeatureNotImplemented);
        }
        if !bind.is_idle() || self.engine.sm_begun() {
            return self.sm_failed(StanzaErrorCondition::UnexpectedRequest);
        }
        let (Some(previd), Some(h)) = (el.attr("previd"), management::read_h(el)) else {
            return self.sm_failed(StanzaErrorCondition::BadRequest);
        };
        let ask = ResumeAsk {
            account: bind.account().clone(),
            previd: previd.into_owned(),
            h,
        };
        self.engine.report(ServerEvent::ResumeRequest {
            account: ask.account.clone(),
            previd: ask.previd.clone(),
        });
        self.state = State::Resuming(Box::new(ask));
        self.engine.await_embedder();
    }
}
