//! The server side of modern login: SASL2 (XEP-0388) with its tasks, Bind 2 (XEP-0386),
//! stream management inline (XEP-0198 with SASL2) and FAST tokens (XEP-0484), each answered
//! inside `<success/>`.

#[cfg(doc)]
use super::ServerConfig;
use super::{Server, ServerError, ServerEvent, State, domain_at};
use std::time::Instant;

use crate::error::{SaslFailureCondition, StanzaErrorCondition, StreamErrorCondition};
use crate::jid::{BareJid, FullJid};
use crate::negotiate::Negotiate;
use crate::negotiate::bind::BindServer;
use crate::negotiate::sasl_server::{Offer, SaslServerStep};
use crate::negotiate::sasl2::UserAgent;
use crate::negotiate::sasl2::{self, Authenticate, Bind2Request};
use crate::sasl::ht;
use crate::sasl::ht::{FastToken, HtMechanism};
use crate::stream::ResumptionState;
use crate::stream::engine::StreamRole;
use crate::stream::management;
use crate::stream::{BIND2_NS, TlsPolicy};
use crate::xml::Element;

/// A SASL2 login between `<continue/>` and the end of its task.
pub(super) struct Sasl2Tasks {
    /// The SASL step, to go back to when the task fails.
    sasl: SaslServerStep,
    pub(super) account: BareJid,
    /// The inline requests, answered once the task is done.
    asks: InlineAsks,
    /// The task the client chose, once it chose.
    running: Option<String>,
}

/// A SASL2 login waiting for the embedder's bind.
pub(super) struct Sasl2Binding {
    /// The SASL step, to go back to when the bind is refused (a SASL2 `<failure/>`).
    sasl: SaslServerStep,
    pub(super) account: BareJid,
    /// The mechanism's final data, for `<additional-data/>`.
    additional_data: Vec<u8>,
    request: Bind2Request,
    /// An inline resumption was refused: its `<failed/>` goes into `<success/>`.
    resume_failed: Option<StanzaErrorCondition>,
}

/// A FAST login waiting for the embedder's token.
pub(super) struct FastAuth {
    sasl: SaslServerStep,
    pub(super) account: BareJid,
    mechanism: HtMechanism,
    /// The client's `HMAC(token, "Initiator" || cb)`.
    hashed: Vec<u8>,
    /// The channel-binding data the mechanism covers (empty for `-NONE`).
    cb: Vec<u8>,
    /// The client asked to invalidate the token (`<fast invalidate='true'/>`).
    invalidate: bool,
    asks: InlineAsks,
}

/// A SASL2 login waiting for the FAST token the embedder issues.
pub(super) struct FastIssue {
    sasl: SaslServerStep,
    pub(super) account: BareJid,
    additional_data: Vec<u8>,
    asks: InlineAsks,
}

/// What a SASL2 login asked inline, answered once it is authenticated.
pub(super) struct InlineAsks {
    /// FAST `<request-token/>`, for an offered mechanism.
    token: Option<HtMechanism>,
    bind: Option<Bind2Request>,
    /// XEP-0198 `<resume previd h/>`, as sent.
    resume: Option<(Option<String>, Option<u32>)>,
}

/// A SASL2 login whose inline `<resume/>` the embedder answers (XEP-0198 with SASL2):
/// resumed, `<success/>` carries `<resumed/>`; refused, `<failed/>` and the bind request
/// are answered instead (XEP-0386 section 2.2's note).
pub(super) struct Sasl2Resume {
    sasl: SaslServerStep,
    pub(super) account: BareJid,
    additional_data: Vec<u8>,
    bind: Option<Bind2Request>,
    previd: String,
    h: u32,
}

/// SASL2 and Bind 2 (XEP-0388, XEP-0386): `<success/>` and what goes inside it.
impl Server {
    /// How an `<authenticate/>` is met now (the same as an `<auth/>`).
    pub(super) fn sasl_offer_now(&self) -> Offer {
        self.sasl_offer()
    }

    /// The SASL2 exchange succeeded as `account`: the Bind 2 request goes to the embedder,
    /// or, without one, `<success/>` goes out and binding is offered in the features that
    /// follow (no restart).
    pub(super) fn sasl2_authenticated(&mut self, account: BareJid, request: Authenticate) {
        let idle = State::Unauthenticated(SaslServerStep::new(self.config.max_auth_attempts));
        let State::Unauthenticated(mut sasl) = core::mem::replace(&mut self.state, idle) else {
            return;
        };
        let additional_data = sasl.take_additional_data();
        let asks = self.inline_asks(request.bind, request.resume, request.request_token);
        if !self.config.sasl2_tasks.is_empty() {
            let tasks = &self.config.sasl2_tasks;
            self.engine
                .write_element(|w| sasl2::write_continue(w, &additional_data, tasks));
            sasl.sasl2_continued();
            self.state = State::Sasl2Task(Box::new(Sasl2Tasks {
                sasl,
                account,
                asks,
                running: None,
            }));
            return self.engine.await_peer();
        }
        self.sasl2_finish(sasl, account, additional_data, asks);
    }

    /// The login is authenticated (mechanism and tasks): the Bind 2 request goes to the
    /// embedder, or `<success/>` goes out at once.
    fn sasl2_finish(
        &mut self,
        sasl: SaslServerStep,
        account: BareJid,
        additional_data: Vec<u8>,
        asks: InlineAsks,
    ) {
        self.engine
            .report(ServerEvent::Authenticated(account.clone()));
        self.sasl2_inline(sasl, account, additional_data, asks);
    }

    /// What the login asked inline, in order: a FAST token, resumption, Bind 2.
    fn sasl2_inline(
        &mut self,
        sasl: SaslServerStep,
        account: BareJid,
        additional_data: Vec<u8>,
        asks: InlineAsks,
    ) {
        let InlineAsks {
            token,
            bind,
            resume,
        } = asks;
        if let Some(mechanism) = token {
            self.engine.report(ServerEvent::FastTokenRequest {
                account: account.clone(),
                mechanism,
            });
            self.state = State::FastIssue(Box::new(FastIssue {
                sasl,
                account,
                additional_data,
                asks: InlineAsks {
                    token: None,
                    bind,
                    resume,
                },
            }));
            return self.engine.await_embedder();
        }
        let resume_failed = match resume {
            None => None,
            // As `<resume/>` after RFC 6120 SASL: without resumption configured,
            // `feature-not-implemented`; without `previd` or `h`, `bad-request`.
            Some(_) if !self.config.stream_management || self.config.resumption.is_none() => {
                Some(StanzaErrorCondition::FeatureNotImplemented)
            }
            Some((Some(previd), Some(h))) => {
                self.engine.report(ServerEvent::ResumeRequest {
                    account: account.clone(),
                    previd: previd.clone(),
                });
                self.state = State::Sasl2Resuming(Box::new(Sasl2Resume {
                    sasl,
                    account,
                    additional_data,
                    bind,
                    previd,
                    h,
                }));
                return self.engine.await_embedder();
            }
            Some(_) => Some(StanzaErrorCondition::BadRequest),
        };
        self.sasl2_bind_or_succeed(sasl, account, additional_data, bind, resume_failed);
    }

    /// Answers the Bind 2 request through the embedder, or writes `<success/>` at once;
    /// `resume_failed`: the `<failed/>` of a refused inline resumption goes inside.
    fn sasl2_bind_or_succeed(
        &mut self,
        mut sasl: SaslServerStep,
        account: BareJid,
        additional_data: Vec<u8>,
        bind: Option<Bind2Request>,
        resume_failed: Option<StanzaErrorCondition>,
    ) {
        match bind {
            Some(bind) => {
                let resource = self.bind2_resource(&account, bind.tag.as_deref());
                self.engine.report(ServerEvent::BindRequest {
                    account: account.clone(),
                    resource: Some(resource),
                });
                self.state = State::Sasl2Binding(Box::new(Sasl2Binding {
                    sasl,
                    account,
                    additional_data,
                    request: bind,
                    resume_failed,
                }));
                self.engine.await_embedder();
            }
            None => {
                let id = account.to_string();
                let token = sasl.take_fast_issued();
                self.engine.write_element(|w| {
                    sasl2::write_success(w, &additional_data, &id, token.as_ref(), |w| {
                        if let Some(condition) = &resume_failed {
                            management::write_failed(w, condition);
                        }
                    });
                });
                self.state =
                    State::Authenticated(BindServer::new(account, self.config.max_bind_attempts));
                self.after_sasl2();
            }
        }
    }

    /// `<next task/>`, `<task-data/>` or `<abort/>` while a task is asked for.
    pub(super) fn on_task_element(&mut self, el: Element) {
        let State::Sasl2Task(t) = &mut self.state else {
            return;
        };
        match (el.name(), &t.running) {
            ("next", None) => {
                let task = el.attr("task").map(|t| t.into_owned()).unwrap_or_default();
                if !self.config.sasl2_tasks.contains(&task) {
                    return self.sasl2_task_end(Err(SaslFailureCondition::InvalidMechanism));
                }
                t.running = Some(task.clone());
                self.engine.report(ServerEvent::Sasl2Task(task));
                self.engine.await_embedder();
            }
            ("task-data", Some(_)) => {
                self.engine.report(ServerEvent::Sasl2TaskData(el));
                self.engine.await_embedder();
            }
            ("abort", _) => self.sasl2_task_end(Err(SaslFailureCondition::Aborted)),
            _ => self.stream_error(StreamErrorCondition::UnsupportedStanzaType),
        }
    }

    /// The task is over: the login goes on (`Ok`), or fails with the condition.
    fn sasl2_task_end(&mut self, outcome: Result<(), SaslFailureCondition>) {
        let idle = State::Unauthenticated(SaslServerStep::new(self.config.max_auth_attempts));
        let State::Sasl2Task(t) = core::mem::replace(&mut self.state, idle) else {
            return;
        };
        let Sasl2Tasks {
            mut sasl,
            account,
            asks,
            ..
        } = *t;
        match outcome {
            Ok(()) => self.sasl2_finish(sasl, account, Vec::new(), asks),
            Err(condition) => {
                let next = sasl.task_failed(condition, &mut self.engine);
                self.state = State::Unauthenticated(sasl);
                self.follow(next);
            }
        }
    }

    /// The task the embedder runs, once the client chose one and no answer is out.
    fn running_task(&self) -> Result<(), ServerError> {
        if self.engine.is_ending() {
            return Err(ServerError::StreamEnded);
        }
        match &self.state {
            State::Sasl2Task(t) if t.running.is_some() => Ok(()),
            _ => Err(ServerError::NoAuthRequest),
        }
    }

    /// Answers [`ServerEvent::Sasl2Task`] or [`ServerEvent::Sasl2TaskData`] at time `now`
    /// with a `<task-data/>` holding `payload` (the task's next challenge).
    ///
    /// # Errors
    ///
    /// [`ServerError::NoAuthRequest`] when no task runs; [`ServerError::StreamEnded`]
    /// when the stream has ended meanwhile.
    pub fn sasl2_task_data(
        &mut self,
        now: Instant,
        payload: &[Element],
    ) -> Result<(), ServerError> {
        self.at(now, |s| {
            s.running_task()?;
            s.engine
                .write_element(|w| sasl2::write_task_data(w, payload));
            s.engine.await_peer();
            Ok(())
        })
    }

    /// The running task succeeded, at time `now`: the login completes (Bind 2, then
    /// `<success/>`).
    ///
    /// # Errors
    ///
    /// As [`sasl2_task_data`](Self::sasl2_task_data).
    pub fn sasl2_task_done(&mut self, now: Instant) -> Result<(), ServerError> {
        self.at(now, |s| {
            s.running_task()?;
            s.sasl2_task_end(Ok(()));
            Ok(())
        })
    }

    /// The running task failed, at time `now`: `<failure/>` with `condition`
    /// (`not-authorized` for a wrong second factor...); the client may try again from
    /// `<authenticate/>`, up to [`ServerConfig::max_auth_attempts`].
    ///
    /// # Errors
    ///
    /// As [`sasl2_task_data`](Self::sasl2_task_data).
    pub fn sasl2_task_failed(
        &mut self,
        now: Instant,
        condition: SaslFailureCondition,
    ) -> Result<(), ServerError> {
        self.at(now, |s| {
            s.running_task()?;
            s.sasl2_task_end(Err(condition));
            Ok(())
        })
    }

    /// The `<user-agent/>` of the client's SASL2 login (XEP-0388 section 2.3), if it sent
    /// one: its `id` names the installation, to replace its earlier session.
    pub fn user_agent(&self) -> Option<&UserAgent> {
        match &self.state {
            State::Unauthenticated(sasl) => sasl.user_agent(),
            State::Sasl2Binding(b) => b.sasl.user_agent(),
            State::Sasl2Task(t) => t.sasl.user_agent(),
            State::Sasl2Resuming(r) => r.sasl.user_agent(),
            State::FastAuth(f) => f.sasl.user_agent(),
            State::FastIssue(f) => f.sasl.user_agent(),
            State::Authenticated(_) | State::Online(_) | State::Resuming(_) => None,
        }
    }

    /// The embedder's answer to an inline `<resume/>`: `<success/>` with `<resumed/>` and
    /// the stanzas the client had not handled, or the refusal (`item-not-found`) inside
    /// `<success/>` and the bind request answered as without resumption.
    pub(super) fn sasl2_resume(&mut self, state: Option<ResumptionState>) {
        let idle = State::Unauthenticated(SaslServerStep::new(self.config.max_auth_attempts));
        let State::Sasl2Resuming(r) = core::mem::replace(&mut self.state, idle) else {
            return;
        };
        let Sasl2Resume {
            mut sasl,
            account,
            additional_data,
            bind,
            previd,
            h,
        } = *r;
        let state = state.filter(|st| st.id == previd && st.jid.to_bare() == account);
        let Some(state) = state else {
            let refused = Some(StanzaErrorCondition::ItemNotFound);
            return self.sasl2_bind_or_succeed(sasl, account, additional_data, bind, refused);
        };
        let jid = state.jid.clone();
        self.engine.sm_resume_from(state, self.sm_settings());
        let ours = self.engine.sm_handled();
        let id = jid.to_string();
        let token = sasl.take_fast_issued();
        self.engine.write_element(|w| {
            sasl2::write_success(w, &additional_data, &id, token.as_ref(), |w| {
                management::write_resume(w, "resumed", &previd, ours);
            });
        });
        self.state = State::Online(jid.clone());
        // The resumed stream is established at once: no features follow this <success/>
        // (XEP-0198 section 9.2: "stream features MUST NOT be sent in this case").
        let limits = self.config.limits_for(true);
        self.engine.parser_mut().set_limits(limits);
        self.engine.negotiated();
        match self.engine.sm_resumed(h) {
            Ok(()) => self.engine.report(ServerEvent::Resumed(jid)),
            Err(error) => self.close_with_error(error),
        }
    }

    /// The inline requests of an `<authenticate/>`, as far as they are offered.
    fn inline_asks(
        &self,
        bind: Option<Bind2Request>,
        resume: Option<(Option<String>, Option<u32>)>,
        token: Option<Option<HtMechanism>>,
    ) -> InlineAsks {
        InlineAsks {
            token: token.flatten().filter(|m| self.fast_offered().contains(m)),
            bind: bind.filter(|_| self.config.bind2),
            resume,
        }
    }

    /// The FAST mechanisms offered on this transport: those needing a channel binding only
    /// when TLS gave it.
    /// Is SASL2 offered on this stream? XEP-0388 section 3: "SASL2 MUST only be used by
    /// Clients or offered by Servers after TLS negotiation": once TLS is up, or on a server
    /// configured without TLS at all (one behind a TLS-terminating proxy, or a test).
    pub(super) fn sasl2_offered(&self) -> bool {
        self.config.sasl2
            && (self.engine.transport().is_encrypted() || self.config.tls == TlsPolicy::Disabled)
    }

    pub(super) fn fast_offered(&self) -> Vec<HtMechanism> {
        let transport = self.engine.transport();
        self.config
            .fast
            .iter()
            .copied()
            .filter(|m| {
                m.channel_binding()
                    .is_none_or(|t| transport.channel_bindings().iter().any(|cb| cb.kind == t))
            })
            .collect()
    }

    /// `<authenticate/>` with a Hashed Token mechanism (XEP-0484 section 2.4): the token
    /// is the embedder's to give; no task follows (section 3.2).
    pub(super) fn on_fast_authenticate(&mut self, request: Authenticate, mechanism: HtMechanism) {
        let idle = State::Unauthenticated(SaslServerStep::new(self.config.max_auth_attempts));
        let State::Unauthenticated(mut sasl) = core::mem::replace(&mut self.state, idle) else {
            return;
        };
        let encryption_required =
            !self.engine.transport().is_encrypted() && self.config.tls == TlsPolicy::Required;
        let parsed = match &request.initial {
            _ if encryption_required => Err(SaslFailureCondition::EncryptionRequired),
            Some(Ok(data)) => ht::split_initial(data)
                .map(|(authcid, hashed)| (authcid.to_owned(), hashed.to_vec()))
                .ok_or(SaslFailureCondition::MalformedRequest),
            Some(Err(())) => Err(SaslFailureCondition::IncorrectEncoding),
            None => Err(SaslFailureCondition::MalformedRequest),
        };
        let domain = domain_at(&self.config, self.domain);
        let parsed = parsed.and_then(|(authcid, hashed)| {
            let account = format!("{authcid}@{domain}").parse::<BareJid>();
            let account = account.map_err(|_| SaslFailureCondition::NotAuthorized)?;
            Ok((authcid, account, hashed))
        });
        let (authcid, account, hashed) = match parsed {
            Ok(p) => p,
            Err(condition) => {
                let next = sasl.task_failed(condition, &mut self.engine);
                self.state = State::Unauthenticated(sasl);
                self.follow(next);
                return;
            }
        };
        let cb = mechanism
            .channel_binding()
            .and_then(|t| {
                let bindings = self.engine.transport().channel_bindings();
                bindings
                    .iter()
                    .find(|cb| cb.kind == t)
                    .map(|cb| cb.data.clone())
            })
            .unwrap_or_default();
        let (count, invalidate) = request.fast.unwrap_or((None, false));
        self.engine.report(ServerEvent::FastAuthRequest {
            authcid,
            mechanism,
            count,
            invalidate,
        });
        // No tasks after a token (XEP-0484 section 3.2).
        let asks = self.inline_asks(request.bind, request.resume, request.request_token);
        self.state = State::FastAuth(Box::new(FastAuth {
            sasl,
            account,
            mechanism,
            hashed,
            cb,
            invalidate,
            asks,
        }));
        self.engine.await_embedder();
    }

    /// Answers [`ServerEvent::FastAuthRequest`] at time `now` with the token kept for the
    /// client (`None`: none): the core checks the client's proof in constant time, and
    /// the login succeeds (with the server's proof in `<additional-data/>`) or fails with
    /// `not-authorized`. A token of another mechanism fails too (XEP-0484 section 2.4).
    ///
    /// # Errors
    ///
    /// [`ServerError::NoAuthRequest`] without a request to answer;
    /// [`ServerError::StreamEnded`] when the stream has ended meanwhile.
    pub fn fast_credentials(
        &mut self,
        now: Instant,
        token: Option<FastToken>,
    ) -> Result<(), ServerError> {
        self.at(now, |s| s.answer_fast(token, None))
    }

    /// Answers [`ServerEvent::FastAuthRequest`] as [`fast_credentials`](Self::fast_credentials)
    /// does, and rotates the token (XEP-0484 section 2.5): when the login succeeds,
    /// `rotated` (stored by the embedder beside the old one, which stays valid until the
    /// new one is used) goes to the client in `<success/>`.
    ///
    /// # Errors
    ///
    /// As [`fast_credentials`](Self::fast_credentials).
    pub fn fast_credentials_rotating(
        &mut self,
        now: Instant,
        token: Option<FastToken>,
        rotated: FastToken,
    ) -> Result<(), ServerError> {
        self.at(now, |s| s.answer_fast(token, Some(rotated)))
    }

    /// The embedder's token for the FAST login asked about: checked in constant time.
    fn answer_fast(
        &mut self,
        token: Option<FastToken>,
        rotated: Option<FastToken>,
    ) -> Result<(), ServerError> {
        let f = self.take_fast_auth()?;
        let valid = token.as_ref().filter(|t| {
            t.mechanism == f.mechanism
                && ht::verify_initiator(t.secret.as_bytes(), &f.cb, &f.hashed)
        });
        match valid {
            Some(t) => {
                let data = ht::responder(t.secret.as_bytes(), &f.cb);
                let mut sasl = f.sasl;
                // XEP-0484 section 3.6: after `invalidate`, "The server MUST NOT include a
                // new token in the response (even if the token was due for rotation),
                // unless the client also included a FAST <request-token/> element".
                let rotate = !f.invalidate || f.asks.token.is_some();
                if rotated.is_some() && rotate {
                    sasl.set_fast_issued(rotated);
                }
                self.sasl2_finish(sasl, f.account, data, f.asks);
            }
            None => self.fast_failed(f.sasl, SaslFailureCondition::NotAuthorized),
        }
        Ok(())
    }

    /// Answers [`ServerEvent::FastAuthRequest`] at time `now` with a refusal
    /// (`credentials-expired` for a token no longer trusted, XEP-0484 section 3.2).
    ///
    /// # Errors
    ///
    /// As [`fast_credentials`](Self::fast_credentials).
    pub fn fast_refuse(
        &mut self,
        now: Instant,
        condition: SaslFailureCondition,
    ) -> Result<(), ServerError> {
        self.at(now, |s| {
            let f = s.take_fast_auth()?;
            s.fast_failed(f.sasl, condition);
            Ok(())
        })
    }

    /// Answers [`ServerEvent::FastTokenRequest`] at time `now` with the token the embedder
    /// stored (it goes into `<success/>` as `<token/>`), or `None`.
    ///
    /// # Errors
    ///
    /// [`ServerError::NoAuthRequest`] without a request to answer;
    /// [`ServerError::StreamEnded`] when the stream has ended meanwhile.
    pub fn issue_fast_token(
        &mut self,
        now: Instant,
        token: Option<FastToken>,
    ) -> Result<(), ServerError> {
        self.at(now, |s| {
            if s.engine.is_ending() {
                return Err(ServerError::StreamEnded);
            }
            if !matches!(s.state, State::FastIssue(_)) {
                return Err(ServerError::NoAuthRequest);
            }
            let idle = State::Unauthenticated(SaslServerStep::new(s.config.max_auth_attempts));
            let State::FastIssue(f) = core::mem::replace(&mut s.state, idle) else {
                return Err(ServerError::NoAuthRequest);
            };
            let mut sasl = f.sasl;
            // `None` keeps a token the embedder rotated in `fast_credentials_rotating`.
            if token.is_some() {
                sasl.set_fast_issued(token);
            }
            s.sasl2_inline(sasl, f.account, f.additional_data, f.asks);
            Ok(())
        })
    }

    /// The FAST login the embedder is asked about, taken out of the state.
    fn take_fast_auth(&mut self) -> Result<FastAuth, ServerError> {
        if self.engine.is_ending() {
            return Err(ServerError::StreamEnded);
        }
        if !matches!(self.state, State::FastAuth(_)) {
            return Err(ServerError::NoAuthRequest);
        }
        let idle = State::Unauthenticated(SaslServerStep::new(self.config.max_auth_attempts));
        match core::mem::replace(&mut self.state, idle) {
            State::FastAuth(f) => Ok(*f),
            _ => Err(ServerError::NoAuthRequest),
        }
    }

    /// `<abort/>` while the embedder decides a FAST login: "Clients MAY abort unilaterally
    /// at any time before the authentication completed" (XEP-0388 section 4.5), answered
    /// `<failure><aborted/></failure>` as during any other exchange; the embedder's late
    /// answer is then [`ServerError::NoAuthRequest`].
    pub(super) fn fast_aborted(&mut self) {
        if let Ok(f) = self.take_fast_auth() {
            self.fast_failed(f.sasl, SaslFailureCondition::Aborted);
        }
    }

    /// A FAST login failed: `<failure/>`, counted as a failed attempt.
    fn fast_failed(&mut self, mut sasl: SaslServerStep, condition: SaslFailureCondition) {
        let next = sasl.task_failed(condition, &mut self.engine);
        self.state = State::Unauthenticated(sasl);
        self.follow(next);
    }

    /// The resource of a Bind 2 request: the tag, `/`, and a random part (XEP-0386 section
    /// 2.2.1); a tag that cannot start a resourcepart is left out.
    fn bind2_resource(&mut self, account: &BareJid, tag: Option<&str>) -> String {
        let random = self.rng.token(12);
        match tag {
            Some(tag) => {
                let resource = format!("{tag}/{random}");
                if account.with_resource(&resource).is_ok() {
                    resource
                } else {
                    random
                }
            }
            None => random,
        }
    }

    /// The embedder bound `jid`: `<success/>` with the full JID and `<bound/>` (with stream
    /// management's `<enabled/>` when asked inside the bind), then the features.
    pub(super) fn sasl2_bound(&mut self, jid: FullJid) {
        let State::Sasl2Binding(b) =
            core::mem::replace(&mut self.state, State::Online(jid.clone()))
        else {
            return;
        };
        let Sasl2Binding {
            mut sasl,
            additional_data,
            request,
            resume_failed,
            ..
        } = *b;
        let sm = request
            .sm
            .filter(|_| self.config.stream_management)
            .map(|resume| match self.config.resumption {
                Some(ours) if resume => Some((self.rng.token(16), ours)),
                _ => None,
            });
        let refused_sm = request.sm.is_some() && !self.config.stream_management;
        let id = jid.to_string();
        let token = sasl.take_fast_issued();
        self.engine.write_element(|w| {
            sasl2::write_success(w, &additional_data, &id, token.as_ref(), |w| {
                if let Some(condition) = &resume_failed {
                    management::write_failed(w, condition);
                }
                w.start("bound").xmlns(BIND2_NS);
                match &sm {
                    Some(resumable) => management::write_enabled(
                        w,
                        resumable.as_ref().map(|(id, max)| (id.as_str(), *max)),
                    ),
                    None if refused_sm => {
                        management::write_failed(w, &StanzaErrorCondition::FeatureNotImplemented)
                    }
                    None => {}
                }
                w.end("bound");
            });
        });
        if let Some(resumable) = sm {
            self.sm_start(&jid, resumable);
        }
        self.after_sasl2();
        self.engine.negotiated();
        self.engine.report(ServerEvent::Online(jid));
        if self.engine.sm_is_enabled() {
            self.engine.report(ServerEvent::StreamManagementEnabled);
        }
    }

    /// The embedder refused the Bind 2 request: a SASL2 `<failure/>` carrying the
    /// condition, and the client is not authenticated (XEP-0388 section 2.5.2: "the stream
    /// and session state remain entirely unchanged").
    pub(super) fn sasl2_bind_refused(&mut self, condition: &StanzaErrorCondition) {
        let State::Sasl2Binding(b) = core::mem::replace(
            &mut self.state,
            State::Unauthenticated(SaslServerStep::new(self.config.max_auth_attempts)),
        ) else {
            return;
        };
        let mut sasl = b.sasl;
        let next = sasl.inline_failed(condition, &mut self.engine);
        self.state = State::Unauthenticated(sasl);
        self.follow(next);
    }

    /// After a SASL2 `<success/>`: the authenticated limits, and the features at once, on
    /// the same stream (XEP-0388 section 2.5.1).
    fn after_sasl2(&mut self) {
        let limits = self.config.limits_for(true);
        self.engine.parser_mut().set_limits(limits);
        self.send_features();
        self.engine.await_peer();
    }
}
