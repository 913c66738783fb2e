//! The client side of stream management (XEP-0198): enabling it, acknowledgements, and
//! resumption from the state of an earlier session.

#[cfg(doc)]
use super::ClientConfig;
use super::{Client, ClientError, ClientEvent, State};
use std::time::Instant;

use crate::error::StreamErrorCondition;
use crate::negotiate::Negotiate;
use crate::negotiate::bind::BindClient;
use crate::negotiate::sasl_client::Authenticated;
use crate::stream::ResumptionState;
use crate::stream::engine::StreamRole;
use crate::stream::management::{self, SmSettings};
use crate::xml::Element;

impl Client {
    /// Resumes the session that `state` describes (XEP-0198 section 5), taken from the
    /// previous `Client` with [`take_resumption_state`](Self::take_resumption_state): once
    /// SASL succeeds the client sends `<resume previd h/>` instead of binding; then
    /// [`ClientEvent::Resumed`], or [`ClientEvent::ResumeFailed`] and a fresh bind. Call it
    /// before [`open`](Self::open), with [`ClientConfig::stream_management`] on.
    ///
    /// # Errors
    ///
    /// [`ClientError::AlreadyOpen`] after `open`; [`ClientError::StreamManagementNotEnabled`]
    /// when the configuration does not use stream management. The state is not kept then.
    pub fn resume_from(&mut self, state: ResumptionState) -> Result<(), ClientError> {
        if !self.engine.is_idle() {
            return Err(ClientError::AlreadyOpen);
        }
        if !self.config.stream_management {
            return Err(ClientError::StreamManagementNotEnabled);
        }
        self.engine.sm_resume_from(state, self.sm_settings());
        Ok(())
    }

    /// Once the stream is over ([`ClientEvent::Closed`]): what a new `Client` needs to
    /// resume the session ([`resume_from`](Self::resume_from)), when the server enabled
    /// resumption (`<enabled resume='true' id/>`): the id, the counters, the stanzas the
    /// server did not acknowledge, and where it asked to be reconnected to. `None` before
    /// the end, without resumption, after a closing handshake (the session ended, XEP-0198
    /// section 7), or once taken (the unacknowledged stanzas go with it,
    /// so [`take_unacked`](Self::take_unacked) is then empty). Output not yet taken with
    /// [`poll_transmit`](Self::poll_transmit) is dropped: the transport is gone.
    pub fn take_resumption_state(&mut self) -> Option<ResumptionState> {
        self.engine.sm_take_state()
    }

    /// Once the stream is over for good: the stanzas the server did not acknowledge, oldest
    /// first, as they were sent (empty without stream management, before the end, or once
    /// taken). They may or may not have reached it.
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

    /// Asks the server at time `now` to acknowledge what it handled (XEP-0198 `<r/>`); its
    /// `<a/>` is reported as [`ClientEvent::Acked`] when it acknowledges anything new.
    ///
    /// # Errors
    ///
    /// [`ClientError::StreamManagementNotEnabled`] before
    /// [`ClientEvent::StreamManagementEnabled`]; [`ClientError::StreamEnded`] once the
    /// stream has ended.
    pub fn request_ack(&mut self, now: Instant) -> Result<(), ClientError> {
        self.at(now, |s| {
            if s.engine.is_ending() {
                return Err(ClientError::StreamEnded);
            }
            if !s.engine.sm_request() {
                return Err(ClientError::StreamManagementNotEnabled);
            }
            Ok(())
        })
    }

    /// With stream management begun ([`ClientConfig::stream_management`]): how many of the
    /// stanzas sent since `<enable/>` the server has not acknowledged yet.
    pub fn unacked(&self) -> Option<u32> {
        self.engine.sm_unacked()
    }

    /// `<resume previd h/>` instead of binding (XEP-0198 section 5).
    pub(super) fn send_resume(&mut self, auth: Box<Authenticated>, bind: bool, session: bool) {
        let previd = self.engine.sm_resumable().map(|r| r.id.clone());
        let h = self.engine.sm_handled();
        self.engine.write_element(|w| {
            management::write_resume(w, "resume", previd.as_deref().unwrap_or_default(), h)
        });
        self.run(State::Resume {
            auth,
            bind,
            session,
        });
    }

    /// The server's answer to `<resume/>`: `<resumed/>` or `<failed/>`.
    pub(super) fn on_resume_answer(&mut self, el: &Element) {
        let State::Resume {
            auth,
            bind,
            session,
        } = std::mem::replace(&mut self.state, State::AwaitHeader(None))
        else {
            return;
        };
        if el.name() == "resumed" {
            let h = match self.resumed_h(el.root()) {
                Ok(h) => h,
                Err(condition) => return self.stream_error(condition),
            };
            let Some(jid) = self.engine.sm_jid().cloned() else {
                return self.stream_error(StreamErrorCondition::UndefinedCondition);
            };
            self.state = State::Online(auth);
            self.engine.negotiated();
            if let Err(error) = self.engine.sm_resumed(h) {
                return self.close_with_error(error);
            }
            return self.engine.report(ClientEvent::Resumed(jid));
        }
        self.resume_failed(
            management::failed_condition(el.root()),
            management::read_h(el),
        );
        let id = self.next_id();
        let resource = self.config.resource.as_deref();
        match BindClient::begin(bind, resource, id, &mut self.engine) {
            Ok(step) => self.run(State::Bind {
                step,
                session,
                auth,
            }),
            Err(failure) => self.fail(failure),
        }
    }

    /// The `h` of `<resumed previd h/>` (XEP-0198 section 5: both MUST be there, and
    /// `previd` MUST be the SM-ID of the session we asked to resume). Without either, or
    /// with an `h` that is no `xs:unsignedInt`, `bad-format`; another session's id,
    /// `undefined-condition`: the server resumed something the client cannot be, and
    /// nothing of ours is sent again.
    pub(super) fn resumed_h(
        &self,
        el: crate::xml::ElementRef<'_>,
    ) -> Result<u32, StreamErrorCondition> {
        let (Some(previd), Some(h)) = (el.attr("previd"), el.attr("h")) else {
            return Err(StreamErrorCondition::BadFormat);
        };
        let h = management::parse_h(&h).ok_or(StreamErrorCondition::BadFormat)?;
        match self.engine.sm_resumable() {
            Some(ours) if ours.id == *previd => Ok(h),
            _ => Err(StreamErrorCondition::UndefinedCondition),
        }
    }

    /// The previous session is not resumed: its unacknowledged stanzas go back to the
    /// embedder (minus those `h` acknowledges).
    pub(super) fn resume_failed(
        &mut self,
        condition: Option<crate::error::StanzaErrorCondition>,
        h: Option<u32>,
    ) {
        let unacked = self.engine.sm_resume_failed(h);
        self.engine
            .report(ClientEvent::ResumeFailed { condition, unacked });
    }

    /// The server's answer to our `<enable/>` (XEP-0198 sections 3 and 6).
    pub(super) fn on_sm_answer(&mut self, el: &Element) {
        if el.name() == "enabled" {
            self.engine.sm_enabled();
            if self.config.resumption {
                if let Some(acks) = self.engine.sm_mut() {
                    acks.resumable = management::read_enabled(el.root()).map(Box::new);
                }
            }
            self.engine.report(ClientEvent::StreamManagementEnabled);
        } else {
            self.engine.sm_end();
            let condition = management::failed_condition(el.root());
            self.engine
                .report(ClientEvent::StreamManagementFailed(condition));
        }
    }
}
