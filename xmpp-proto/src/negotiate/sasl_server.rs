//! SASL, the receiving entity's side (RFC 6120 section 6), around [`SaslServer`].
//!
//! The server offers `<mechanisms/>` (section 6.4.1), takes `<auth/>` (6.4.2), asks the
//! embedder for the account's credentials or for a decision on a client certificate, sends
//! `<challenge/>`s (6.4.3) and ends with `<success/>` (6.4.6), after which the stream
//! restarts, or `<failure/>` (6.4.5), after which the client may try again up to the
//! configured number of attempts. `<abort/>` (6.4.4) ends an exchange with `aborted`. The
//! identity the session authenticates as is a bare JID of the domain the client asked for:
//! the authzid when one was granted (6.4.6), else the account the authcid names.
//!
//! The same step answers SASL2's `<authenticate/>` (XEP-0388, [`super::sasl2`]): the
//! exchange is the same, its elements are SASL2's, and `<success/>` is the role's to write
//! ([`SaslServerStep::take_additional_data`]), since inline requests (Bind 2) are answered
//! inside it, and no restart follows.

use super::sasl2::{self, Authenticate, Profile};
use super::{Failure, Next, Wire, write_sasl};
use crate::error::{SASL_NS, SaslFailure, SaslFailureCondition, StreamErrorCondition};
use crate::jid::{BareJid, Jid};
use crate::sasl::{
    self, Authorization, Decision, Identity, Mechanism, Nonce, SaslServer, SaslServerConfig,
    SaslServerError, ServerStep, UserCredential,
};
use crate::stream::SASL_CB_NS;
use crate::stream::rng::Rng;
use crate::xml::{Element, Writer};

/// What the embedder is asked during an exchange.
#[derive(Debug)]
pub(crate) enum AuthQuestion {
    /// The account's credential (`ServerEvent::AuthRequest`).
    Credentials {
        mechanism: Mechanism,
        authcid: String,
        authzid: Option<String>,
    },
    /// A decision on the client certificate (`ServerEvent::ExternalRequest`).
    External { authzid: Option<String> },
}

/// How an `<auth/>` is met: the role's configuration and the transport, as they are now.
pub(crate) struct Offer {
    /// TLS is required and not up: every attempt fails with `encryption-required` (RFC
    /// 6120 section 6.4.5).
    pub encryption_required: bool,
    /// What the exchange may use.
    pub settings: SaslServerConfig,
    /// The server nonce the embedder fixed, to replay an exchange.
    pub nonce: Option<String>,
}

/// Where SASL identities become accounts: the domain the client asked for, and the
/// generator that makes the local part of an anonymous account.
pub(crate) struct Accounts<'a> {
    pub domain: &'a str,
    pub rng: &'a mut Rng,
    /// The client's stream header, if TLS protected it: its `from`, when there is one, must
    /// name the identity that authenticates (RFC 6120 section 6.4.6).
    pub protected_header: Option<Element>,
}

/// Does the `from` of the client's protected stream header, if it has one, name `account`
/// (compared as prepared bare JIDs, so a different spelling of the same account is the same
/// account, a full JID of it included)?
///
/// RFC 6120 section 6.4.6: the server "SHOULD correlate the authentication identity
/// resulting from the SASL negotiation with that 'from' address; if the two identities do
/// not match then the receiving entity SHOULD terminate the connection attempt". It may
/// override the address instead; this core terminates, with `invalid-from` (section
/// 4.9.3.9: a 'from' that "does not match an authorized JID ... as negotiated ... via SASL
/// authentication"), because a client that claims one account and proves another is
/// either misconfigured or probing, and going on would bind a session the client did not
/// ask for. A `from` that is not a JID does not match. Not applied to `ANONYMOUS`, whose
/// account the server makes up.
fn correlates(header: Option<&Element>, account: &BareJid) -> bool {
    let Some(from) = header.and_then(|h| h.attr("from")) else {
        return true;
    };
    // A full JID of the account still names it (RFC 6120 4.7.1 asks for the bare JID).
    from.parse::<Jid>()
        .is_ok_and(|jid| jid.to_bare() == *account)
}

impl Accounts<'_> {
    /// The bare JID of the account an authcid names: `authcid@domain`, or the authcid
    /// itself when a client sent a whole bare JID.
    fn of(&self, authcid: &str) -> Option<BareJid> {
        if authcid.contains('@') {
            authcid.parse().ok()
        } else {
            format!("{authcid}@{}", self.domain).parse().ok()
        }
    }
}

/// An authzid as a bare JID, the only form a c2s authzid takes (RFC 6120 section 6.3.8).
fn bare_authzid(authzid: &str) -> Option<BareJid> {
    let jid = authzid.parse::<Jid>().ok()?;
    jid.resource().is_none().then(|| jid.to_bare())
}

/// The embedder answered a question that was not asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NotAsked;

/// Where an exchange stands.
enum Exchange {
    /// None runs: `<auth/>` may come.
    Idle,
    /// The client's `<response/>` is awaited.
    Challenged(Box<SaslServer>),
    /// The embedder is asked.
    Asking(Box<SaslServer>, Ask),
    /// A new `<auth/>` (kept here) came while the embedder was asked: the running exchange
    /// is discarded (RFC 6120 section 6.4.2), and the new one starts once the embedder has
    /// answered the question it was given, whose answer is then dropped. Answers carry no
    /// name, so this is what keeps an answer from ever meeting a question it was not given
    /// for (the credential of the account a first `<auth/>` named, say, checking the
    /// password a second one sent for another). `external`: the question was
    /// [`AuthQuestion::External`].
    Superseded { external: bool, auth: Box<Element> },
}

/// What an exchange that waits for the embedder asked, to judge the answer.
enum Ask {
    Credentials {
        authcid: String,
        authzid: Option<String>,
    },
    External {
        authzid: Option<String>,
    },
}

/// The server's SASL step, from the features to `<success/>`, across failed attempts.
pub(crate) struct SaslServerStep {
    exchange: Exchange,
    failures: u32,
    max_failures: u32,
    /// The running (or last) exchange is SASL2's, with what it carries; `None`: RFC 6120
    /// (boxed: a session pays one word for it).
    sasl2: Option<Box<Sasl2Attempt>>,
}

/// What a SASL2 attempt carries beside the exchange.
#[derive(Default)]
struct Sasl2Attempt {
    /// The `<authenticate/>`, for its inline requests.
    request: Option<Authenticate>,
    /// The mechanism's final data, for the `<success/>` the role writes.
    additional_data: Vec<u8>,
    /// The client's `<user-agent/>`, for the embedder's decisions during the login.
    user_agent: Option<super::sasl2::UserAgent>,
    /// The FAST token the embedder issued, for `<success/>`.
    fast_issued: Option<crate::sasl::ht::FastToken>,
    /// `<continue/>` went out: the client authenticated, and a task failed since.
    continued: bool,
}

impl core::fmt::Debug for SaslServerStep {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SaslServerStep")
            .field("failures", &self.failures)
            .finish_non_exhaustive()
    }
}

impl SaslServerStep {
    /// No exchange yet; the stream is closed with `policy-violation` at the
    /// `max_failures`th failed attempt (RFC 6120 section 6.4.5).
    pub fn new(max_failures: u32) -> Self {
        SaslServerStep {
            exchange: Exchange::Idle,
            failures: 0,
            max_failures,
            sasl2: None,
        }
    }

    /// The offer in the features (RFC 6120 section 6.4.1), with the channel-binding types
    /// the `-PLUS` mechanisms can use (XEP-0440).
    pub fn write_feature(
        w: &mut Writer<'_>,
        mechanisms: &[Mechanism],
        channel_bindings: &[sasl::ChannelBinding],
    ) {
        w.start("mechanisms").xmlns(SASL_NS);
        for m in mechanisms {
            w.start("mechanism").text(m.name()).end("mechanism");
        }
        w.end("mechanisms");
        if mechanisms.iter().any(|m| m.is_plus()) {
            w.start("sasl-channel-binding").xmlns(SASL_CB_NS);
            for cb in channel_bindings {
                w.start("channel-binding").attr("type", cb.kind.name());
                w.end("channel-binding");
            }
            w.end("sasl-channel-binding");
        }
    }

    /// No exchange runs: `<auth/>` (or, before it, `<starttls/>`) may come.
    pub fn is_idle(&self) -> bool {
        matches!(self.exchange, Exchange::Idle)
    }

    /// May `<auth/>` come now: no exchange runs, or an RFC 6120 one, which a new `<auth/>`
    /// discards (section 6.4.2)? A SASL2 exchange is ended by its own elements.
    pub fn accepts_auth(&self) -> bool {
        self.is_idle() || self.profile() == Profile::Rfc6120
    }

    /// Is `el` for the running exchange (`<response/>`, `<abort/>`), or, when none runs,
    /// an `<abort/>` (answered `aborted` all the same: RFC 6120 section 6.4.4 says "Upon
    /// receiving an <abort/> element" without a condition)?
    pub fn takes(&self, el: &Element) -> bool {
        let ns = self.profile().ns();
        match self.exchange {
            Exchange::Idle => el.is("abort", SASL_NS),
            Exchange::Challenged(_) => el.is("response", ns) || el.is("abort", ns),
            Exchange::Asking(..) | Exchange::Superseded { .. } => el.is("abort", ns),
        }
    }

    /// SASL2: the final data of the mechanism that succeeded, for `<additional-data/>`.
    pub fn take_additional_data(&mut self) -> Vec<u8> {
        self.sasl2
            .as_mut()
            .map(|a| core::mem::take(&mut a.additional_data))
            .unwrap_or_default()
    }

    /// A SASL2 `<authenticate/>` arrived from a client naming this user agent: the
    /// attempt speaks SASL2 from now on.
    pub fn sasl2_login(&mut self, user_agent: Option<super::sasl2::UserAgent>) {
        self.sasl2 = Some(Box::new(Sasl2Attempt {
            user_agent,
            ..Sasl2Attempt::default()
        }));
    }

    /// `<continue/>` went out for this login (XEP-0388 section 2.5.3).
    pub fn sasl2_continued(&mut self) {
        if let Some(a) = self.sasl2.as_mut() {
            a.continued = true;
        }
    }

    /// Has `<continue/>` gone out? Then "any further <authenticate/> element MUST result in
    /// a stream error" (XEP-0388 section 4.8), a failed task notwithstanding.
    pub fn has_continued(&self) -> bool {
        self.sasl2.as_ref().is_some_and(|a| a.continued)
    }

    /// The `<user-agent/>` of the SASL2 login in progress.
    pub fn user_agent(&self) -> Option<&super::sasl2::UserAgent> {
        self.sasl2.as_ref().and_then(|a| a.user_agent.as_ref())
    }

    /// Keeps the FAST token the embedder issued, for `<success/>`.
    pub fn set_fast_issued(&mut self, token: Option<crate::sasl::ht::FastToken>) {
        if let Some(a) = self.sasl2.as_mut() {
            a.fast_issued = token;
        }
    }

    /// The FAST token to write into `<success/>`, once.
    pub fn take_fast_issued(&mut self) -> Option<crate::sasl::ht::FastToken> {
        self.sasl2.as_mut().and_then(|a| a.fast_issued.take())
    }

    /// The profile of the running (or last) exchange.
    fn profile(&self) -> Profile {
        match self.sasl2 {
            Some(_) => Profile::Sasl2,
            None => Profile::Rfc6120,
        }
    }

    /// SASL2: the `<authenticate/>` of the attempt that just succeeded; `None` after an
    /// RFC 6120 `<auth/>`.
    pub fn take_sasl2_request(&mut self) -> Option<Authenticate> {
        self.sasl2.as_mut().and_then(|a| a.request.take())
    }

    /// SASL2 `<authenticate/>` (XEP-0388 section 2.3), when no exchange runs: starts one.
    pub fn on_authenticate(
        &mut self,
        mut request: Authenticate,
        offer: Offer,
        accounts: Accounts<'_>,
        out: &mut impl Wire,
    ) -> Next<BareJid, AuthQuestion> {
        // The role began the login (`sasl2_login`) with the user agent; a new attempt
        // keeps it.
        let attempt = self.sasl2.get_or_insert_with(Box::default);
        attempt.request = None;
        attempt.additional_data.clear();
        attempt.fast_issued = None;
        if offer.encryption_required {
            return self.failed(SaslFailureCondition::EncryptionRequired, out);
        }
        let initial = match request.initial.take() {
            None => None,
            Some(Ok(data)) => Some(data),
            Some(Err(())) => return self.failed(SaslFailureCondition::IncorrectEncoding, out),
        };
        let mechanism = core::mem::take(&mut request.mechanism);
        if let Some(attempt) = self.sasl2.as_mut() {
            attempt.request = Some(request);
        }
        self.start(&mechanism, initial.as_deref(), offer, accounts, out)
    }

    /// An inline request of a SASL2 login failed after the mechanism succeeded (a Bind 2
    /// bind the embedder refused): `<failure/>` with `aborted` and the stanza error
    /// condition (XEP-0388 section 2.5.2), counted as a failed attempt.
    pub fn inline_failed(
        &mut self,
        condition: &crate::error::StanzaErrorCondition,
        out: &mut impl Wire,
    ) -> Next<BareJid, AuthQuestion> {
        let failure = SaslFailure::new(SaslFailureCondition::Aborted);
        out.element(|w| sasl2::write_failure(w, &failure, Some(condition)));
        self.count_failure()
    }

    /// A SASL2 task failed (or the client aborted it, or chose a task not offered):
    /// `<failure/>` with `condition`, counted as a failed attempt.
    pub fn task_failed(
        &mut self,
        condition: SaslFailureCondition,
        out: &mut impl Wire,
    ) -> Next<BareJid, AuthQuestion> {
        let failure = SaslFailure::new(condition);
        out.element(|w| sasl2::write_failure(w, &failure, None));
        self.count_failure()
    }

    /// `<auth/>` ([`accepts_auth`](Self::accepts_auth)): starts an exchange. One that runs
    /// is discarded first (RFC 6120 section 6.4.2: the server "MUST discard the ongoing
    /// handshake and MUST process a new handshake"), counted as a failed attempt, so that
    /// starting over cannot outrun the limit; while the embedder is asked, the new exchange
    /// waits for its answer (see [`Exchange::Superseded`]).
    pub fn on_auth(
        &mut self,
        el: &Element,
        offer: Offer,
        accounts: Accounts<'_>,
        out: &mut impl Wire,
    ) -> Next<BareJid, AuthQuestion> {
        match std::mem::replace(&mut self.exchange, Exchange::Idle) {
            Exchange::Idle => {}
            Exchange::Challenged(_) => {
                if let Some(end) = self.discard() {
                    return end;
                }
            }
            Exchange::Asking(_, ask) => {
                self.superseded(matches!(ask, Ask::External { .. }), el);
                return self.discard().unwrap_or(Next::Unchanged);
            }
            Exchange::Superseded { external, .. } => {
                self.superseded(external, el);
                return self.discard().unwrap_or(Next::Unchanged);
            }
        }
        self.sasl2 = None;
        if offer.encryption_required {
            return self.failed(SaslFailureCondition::EncryptionRequired, out);
        }
        let mechanism = el
            .attr("mechanism")
            .map(|m| m.into_owned())
            .unwrap_or_default();
        let text = el.text();
        let initial = if text.is_empty() {
            None
        } else {
            match sasl::decode_payload(&text) {
                Ok(d) => Some(d),
                Err(_) => return self.failed(SaslFailureCondition::IncorrectEncoding, out),
            }
        };
        self.start(&mechanism, initial.as_deref(), offer, accounts, out)
    }

    /// Starts the exchange of `mechanism` with the client's initial response.
    fn start(
        &mut self,
        mechanism: &str,
        initial: Option<&[u8]>,
        offer: Offer,
        accounts: Accounts<'_>,
        out: &mut impl Wire,
    ) -> Next<BareJid, AuthQuestion> {
        let nonce = match offer.nonce {
            Some(n) => Nonce::new(n),
            None => Nonce::new(accounts.rng.token(24)),
        };
        let Ok(nonce) = nonce else {
            return self.failed(SaslFailureCondition::TemporaryAuthFailure, out);
        };
        let mut server = Box::new(SaslServer::new(offer.settings, nonce));
        let step = server.start(mechanism, initial);
        self.advance(server, step, None, accounts, out)
    }

    /// `<response/>` or `<abort/>` of the running exchange.
    pub fn on_element(
        &mut self,
        el: &Element,
        accounts: Accounts<'_>,
        out: &mut impl Wire,
    ) -> Next<BareJid, AuthQuestion> {
        match std::mem::replace(&mut self.exchange, Exchange::Idle) {
            Exchange::Challenged(mut server) if el.name() == "response" => {
                match self.profile().decode(&el.text()) {
                    Ok(data) => {
                        let step = server.on_response(&data);
                        self.advance(server, step, None, accounts, out)
                    }
                    Err(_) => self.failed(SaslFailureCondition::IncorrectEncoding, out),
                }
            }
            Exchange::Idle => {
                // An `<abort/>` with nothing to abort: the RFC 6120 answer. A SASL2 attempt
                // before it is kept: after its `<continue/>`, a new `<authenticate/>` is
                // still a stream error (XEP-0388 section 4.8).
                let failure = SaslFailure::new(SaslFailureCondition::Aborted);
                out.bytes(|buf| failure.write_to(buf));
                self.count_failure()
            }
            _ => self.failed(SaslFailureCondition::Aborted, out),
        }
    }

    /// The embedder answered the question of an exchange that a new `<auth/>` discarded
    /// (`external`: the answer is to [`AuthQuestion::External`]): the answer is dropped, and
    /// the `<auth/>` to start now is returned; `Ok(None)` when no exchange was discarded.
    ///
    /// # Errors
    ///
    /// [`NotAsked`] for an answer to the other question.
    pub fn take_superseding(&mut self, external: bool) -> Result<Option<Element>, NotAsked> {
        match &self.exchange {
            Exchange::Superseded {
                external: asked, ..
            } if *asked != external => Err(NotAsked),
            Exchange::Superseded { .. } => {
                match std::mem::replace(&mut self.exchange, Exchange::Idle) {
                    Exchange::Superseded { auth, .. } => Ok(Some(*auth)),
                    _ => Ok(None),
                }
            }
            _ => Ok(None),
        }
    }

    /// A new `<auth/>` while the embedder is asked: it waits for the answer.
    fn superseded(&mut self, external: bool, auth: &Element) {
        self.exchange = Exchange::Superseded {
            external,
            auth: Box::new(auth.clone()),
        };
    }

    /// The embedder's answer to [`AuthQuestion::Credentials`]. The account acts as itself;
    /// an authzid is granted only when it is the account's own bare JID or `delegate`.
    pub fn credentials(
        &mut self,
        credential: UserCredential,
        delegate: Option<&BareJid>,
        accounts: Accounts<'_>,
        out: &mut impl Wire,
    ) -> Result<Next<BareJid, AuthQuestion>, NotAsked> {
        let Exchange::Asking(_, Ask::Credentials { authcid, authzid }) = &self.exchange else {
            return Err(NotAsked);
        };
        let own = accounts.of(authcid);
        let authorization = match authzid {
            Some(a) => match bare_authzid(a) {
                Some(asked) if own.as_ref() == Some(&asked) || delegate == Some(&asked) => {
                    Authorization::Grant(a.clone())
                }
                _ => Authorization::Refuse,
            },
            None => Authorization::Refuse,
        };
        let Exchange::Asking(mut server, _) = std::mem::replace(&mut self.exchange, Exchange::Idle)
        else {
            return Err(NotAsked);
        };
        let step = server.provide_credentials(credential, authorization);
        Ok(self.advance(server, step, None, accounts, out))
    }

    /// The embedder's answer to [`AuthQuestion::External`]: the certificate authenticates
    /// `identity` (`Some`), which an authzid must name if one was asked for, or nobody.
    pub fn external(
        &mut self,
        identity: Option<BareJid>,
        accounts: Accounts<'_>,
        out: &mut impl Wire,
    ) -> Result<Next<BareJid, AuthQuestion>, NotAsked> {
        let Exchange::Asking(_, Ask::External { authzid }) = &self.exchange else {
            return Err(NotAsked);
        };
        let decision = match (&identity, authzid) {
            (None, _) => Decision::Refuse(SaslFailureCondition::NotAuthorized),
            (Some(id), Some(a)) if bare_authzid(a).as_ref() != Some(id) => {
                Decision::Refuse(SaslFailureCondition::InvalidAuthzid)
            }
            (Some(_), _) => Decision::Accept,
        };
        let Exchange::Asking(mut server, _) = std::mem::replace(&mut self.exchange, Exchange::Idle)
        else {
            return Err(NotAsked);
        };
        let step = server.provide_external(decision);
        Ok(self.advance(server, step, identity, accounts, out))
    }

    /// Carries out what the exchange says next; `external` is whom a client certificate
    /// authenticates.
    fn advance(
        &mut self,
        server: Box<SaslServer>,
        step: Result<ServerStep, SaslServerError>,
        external: Option<BareJid>,
        accounts: Accounts<'_>,
        out: &mut impl Wire,
    ) -> Next<BareJid, AuthQuestion> {
        match step {
            Ok(ServerStep::NeedCredentials {
                mechanism,
                authcid,
                authzid,
            }) => {
                let ask = Ask::Credentials {
                    authcid: authcid.clone(),
                    authzid: authzid.clone(),
                };
                self.exchange = Exchange::Asking(server, ask);
                Next::Ask(AuthQuestion::Credentials {
                    mechanism,
                    authcid,
                    authzid,
                })
            }
            Ok(ServerStep::NeedExternal { authzid }) => {
                let ask = Ask::External {
                    authzid: authzid.clone(),
                };
                self.exchange = Exchange::Asking(server, ask);
                Next::Ask(AuthQuestion::External { authzid })
            }
            Ok(ServerStep::Challenge(data)) => {
                match self.profile() {
                    Profile::Rfc6120 => write_sasl(out, "challenge", &data),
                    Profile::Sasl2 => out.element(|w| {
                        w.start("challenge")
                            .xmlns(crate::stream::SASL2_NS)
                            .text(&sasl::encode_data(&data))
                            .end("challenge");
                    }),
                }
                self.exchange = Exchange::Challenged(server);
                Next::AwaitPeer
            }
            Ok(ServerStep::Success {
                additional_data,
                identity,
            }) => {
                let anonymous = matches!(identity, Identity::Anonymous { .. });
                let authzid = matches!(
                    identity,
                    Identity::User {
                        authzid: Some(_),
                        ..
                    }
                );
                // The session acts as the authzid when one was granted (RFC 6120 6.4.6).
                let jid = match identity {
                    Identity::User {
                        authzid: Some(authzid),
                        ..
                    } => bare_authzid(&authzid),
                    Identity::User { authcid, .. } => accounts.of(&authcid),
                    Identity::External { .. } => external,
                    Identity::Anonymous { .. } => {
                        let local = accounts.rng.token(12);
                        accounts.of(&local)
                    }
                };
                let Some(jid) = jid else {
                    return self.failed(SaslFailureCondition::NotAuthorized, out);
                };
                if !anonymous && !correlates(accounts.protected_header.as_ref(), &jid) {
                    // SASL2 fails the attempt instead: "If the stream's from attribute (if
                    // present) does not match the non-empty authorization string, the server
                    // MUST fail the authentication as defined in Failure" (XEP-0388 2.3).
                    if self.profile() == Profile::Sasl2 {
                        let condition = if authzid {
                            SaslFailureCondition::InvalidAuthzid
                        } else {
                            SaslFailureCondition::NotAuthorized
                        };
                        return self.failed(condition, out);
                    }
                    return Failure::Stream(StreamErrorCondition::InvalidFrom).into();
                }
                if let Some(attempt) = self.sasl2.as_mut() {
                    // The role writes `<success/>`, with what inline requests answer.
                    attempt.additional_data = additional_data;
                    return Next::Done(jid);
                }
                out.element(|w| {
                    w.start("success").xmlns(SASL_NS);
                    if !additional_data.is_empty() {
                        w.text(&sasl::encode_payload(&additional_data));
                    }
                    w.end("success");
                });
                Next::Restart(jid)
            }
            Err(e) => self.fail_with(e.failure(), out),
        }
    }

    fn failed(
        &mut self,
        condition: SaslFailureCondition,
        out: &mut impl Wire,
    ) -> Next<BareJid, AuthQuestion> {
        self.fail_with(SaslFailure::new(condition), out)
    }

    /// `<failure/>` (RFC 6120 section 6.4.5); the client may try again, up to the limit.
    fn fail_with(
        &mut self,
        failure: SaslFailure,
        out: &mut impl Wire,
    ) -> Next<BareJid, AuthQuestion> {
        match self.profile() {
            Profile::Rfc6120 => out.bytes(|buf| failure.write_to(buf)),
            Profile::Sasl2 => out.element(|w| sasl2::write_failure(w, &failure, None)),
        }
        self.count_failure()
    }

    /// One more failed attempt: the stream ends at the limit.
    fn count_failure(&mut self) -> Next<BareJid, AuthQuestion> {
        self.exchange = Exchange::Idle;
        self.discard().unwrap_or(Next::AwaitPeer)
    }

    /// One more attempt that did not succeed (failed, or discarded unfinished); `Some`
    /// ending the stream with `policy-violation` at the limit (RFC 6120 section 6.4.5).
    fn discard(&mut self) -> Option<Next<BareJid, AuthQuestion>> {
        self.failures += 1;
        (self.failures >= self.max_failures)
            .then(|| Failure::Stream(StreamErrorCondition::PolicyViolation).into())
    }
}
