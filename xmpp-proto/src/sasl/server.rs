//! The server side (RFC 4422 section 5, RFC 6120 section 6.4): checking what the client sends
//! and deciding the outcome, with the embedder answering the questions only it can answer.
//!
//! The server never looks anything up: when it needs an account's credentials it returns
//! [`ServerStep::NeedCredentials`], and the embedder answers with
//! [`SaslServer::provide_credentials`] (for `EXTERNAL`, [`ServerStep::NeedExternal`] and
//! [`SaslServer::provide_external`]). Every failure is a [`SaslServerError`] whose
//! [`condition`](SaslServerError::condition) is the `<failure/>` condition of RFC 6120
//! section 6.5 to send.
//!
//! # Unknown users
//!
//! A SCRAM server must not reveal whether an account exists (RFC 5802 section 5.1 lets it
//! answer `e=unknown-user`, but that tells an attacker which names exist). For an unknown
//! user this server sends a server-first-message with a made-up salt and the configured
//! iteration count, runs the same verification against a made-up key, and fails with
//! `not-authorized` at the end, as for a wrong password. The made-up values are derived
//! from [`SaslServerConfig::secret`] and the username, so they are the same on every attempt,
//! like a real account's. The username is case-folded for this (PRECIS
//! `UsernameCaseMapped`), so that `Juliet` and `juliet` get the same salt, as they would if
//! they named one real account.

use core::fmt;
use std::num::NonZeroU32;

use precis_profiles::UsernameCaseMapped;
use precis_profiles::precis_core::profile::PrecisFastInvocation;

use super::scram::{self, CbFlag, ClientFirstError, ScramHash, ScramSyntaxError, StoredScram};
use super::{ChannelBinding, Mechanism, Nonce, ct_eq, plain, prepare_password, prepare_username};
use crate::error::{SaslFailure, SaslFailureCondition};

/// The default of [`SaslServerConfig::scram_iterations`]: the minimum of RFC 7677 section 4.
const DEFAULT_ITERATIONS: NonZeroU32 = NonZeroU32::new(4096).unwrap();

/// The server's side of the negotiation, for one stream.
#[derive(Clone)]
#[non_exhaustive]
pub struct SaslServerConfig {
    /// The mechanisms advertised in `<mechanisms/>`, exactly. Offer `-PLUS` mechanisms only
    /// with [`channel_bindings`](Self::channel_bindings): whether any is offered decides
    /// how a client's `y` flag is judged.
    pub offered: Vec<Mechanism>,
    /// Whether the stream is encrypted. `PLAIN` over an unencrypted stream fails with
    /// `encryption-required` (RFC 6120 section 6.5.4) even if offered; an embedder that
    /// allows it anyway (on a loopback connection, say) sets this to `true`.
    pub encrypted: bool,
    /// The channel binding data of this TLS session, one entry per type the server can
    /// provide (empty without TLS).
    pub channel_bindings: Vec<ChannelBinding>,
    /// A server-wide secret from which the made-up SCRAM salts of unknown users are derived
    /// (see the module documentation). Keep it secret, and stable across restarts: a salt
    /// that changes would show that the account does not exist.
    pub secret: Vec<u8>,
    /// The iteration count announced for unknown users and for accounts given as
    /// [`UserCredential::Password`]; make it the count real accounts use. Defaults to 4096
    /// (RFC 7677 section 4).
    pub scram_iterations: NonZeroU32,
    /// XEP-0474 downgrade protection: the string S of what this stream advertised
    /// ([`downgrade_protection_input`](super::downgrade_protection_input)); its hash goes
    /// into every SCRAM server-first-message as `h=`. `None`: not sent.
    pub downgrade_protection: Option<Vec<u8>>,
}

impl SaslServerConfig {
    /// A configuration for an unencrypted stream without channel binding.
    pub fn new(offered: Vec<Mechanism>, secret: Vec<u8>) -> Self {
        SaslServerConfig {
            offered,
            encrypted: false,
            channel_bindings: Vec::new(),
            secret,
            scram_iterations: DEFAULT_ITERATIONS,
            downgrade_protection: None,
        }
    }

    fn offers_plus(&self) -> bool {
        self.offered.iter().any(|m| m.is_plus())
    }

    /// A value derived from the secret, for the made-up credentials of unknown users.
    fn derive(&self, label: &[u8], hash: ScramHash, username: &str, len: usize) -> Vec<u8> {
        // Case-fold as an XMPP localpart would be, so that spellings of one name that would
        // name one account get one salt.
        let folded = UsernameCaseMapped::enforce(username);
        let name = folded.as_deref().unwrap_or(username);
        let mut out = ScramHash::Sha256.hmac(
            &self.secret,
            &[
                b"xmpp-proto SCRAM decoy\0",
                label,
                b"\0",
                hash.name().as_bytes(),
                b"\0",
                name.as_bytes(),
            ],
        );
        out.truncate(len);
        out
    }

    fn decoy_salt(&self, hash: ScramHash, username: &str) -> Vec<u8> {
        self.derive(b"salt", hash, username, 16)
    }
}

impl fmt::Debug for SaslServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SaslServerConfig")
            .field("offered", &self.offered)
            .field("encrypted", &self.encrypted)
            .field("channel_bindings", &self.channel_bindings)
            .field("secret", &"<redacted>")
            .field("scram_iterations", &self.scram_iterations)
            .field("downgrade_protection", &self.downgrade_protection)
            .finish()
    }
}

/// What the embedder found for the account named in [`ServerStep::NeedCredentials`].
#[derive(Clone)]
pub enum UserCredential {
    /// A SCRAM entry. It serves SCRAM with the same hash, and `PLAIN` of any hash (the
    /// given password is salted and hashed, then compared with the stored key).
    Scram(StoredScram),
    /// The password in the clear. It serves `PLAIN`, and SCRAM with a salt derived from the
    /// server secret and [`SaslServerConfig::scram_iterations`], at the cost of a PBKDF2 run per
    /// exchange.
    Password(String),
    /// No such account. `PLAIN` fails with `not-authorized`; SCRAM goes on with made-up
    /// values and fails with `not-authorized` at the end.
    Unknown,
    /// Refuse at once with this condition, for example `account-disabled`,
    /// `credentials-expired`, or `temporary-auth-failure` when the account store is
    /// unavailable. Refusing before the proof reveals that the account exists.
    Refuse(SaslFailureCondition),
}

impl fmt::Debug for UserCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UserCredential::Scram(s) => f.debug_tuple("Scram").field(s).finish(),
            UserCredential::Password(_) => f.write_str("Password(<redacted>)"),
            UserCredential::Unknown => f.write_str("Unknown"),
            UserCredential::Refuse(c) => f.debug_tuple("Refuse").field(c).finish(),
        }
    }
}

/// The embedder's decision on `EXTERNAL` credentials (the client certificate), for the
/// authzid of [`ServerStep::NeedExternal`]: accepting grants that authzid, so check it
/// against the certificate (the server role does: see
/// [`Server::external`](crate::server::Server::external)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Allowed.
    Accept,
    /// Refused with this condition, normally `not-authorized` (RFC 6120 section 6.5.10), or
    /// `invalid-authzid` (section 6.5.6) for an authzid the certificate does not cover.
    Refuse(SaslFailureCondition),
}

/// Whom the authenticated user may act as: the embedder's answer on the authorization
/// identity of [`ServerStep::NeedCredentials`] (RFC 4422 section 3.4.1, RFC 4616 section 2,
/// RFC 6120 sections 6.3.8 and 6.4.6).
///
/// There is no "accept whatever was asked": a grant names the identity it grants, so an
/// answer written without looking at the authzid grants none, and the safe answer,
/// [`Refuse`](Self::Refuse), is the default. An authzid is judged only once the credentials
/// are verified, so that a refusal tells nothing to someone without them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Authorization {
    /// Any authzid is refused with `invalid-authzid` (RFC 6120 section 6.5.6); a client
    /// that asks for none authenticates as itself. SASL does not know what "itself" is in
    /// XMPP terms: an authzid that names the user's own identity is refused too unless
    /// granted (the server role grants the account's own bare JID itself).
    #[default]
    Refuse,
    /// The user may act as this identity: an authzid equal to it, byte for byte, is granted
    /// (and becomes the identity of the exchange), any other is refused with
    /// `invalid-authzid`.
    Grant(String),
}

impl Authorization {
    /// Whether the client may act as `authzid`.
    fn grants(&self, authzid: &str) -> bool {
        matches!(self, Authorization::Grant(g) if g == authzid)
    }
}

/// Who authenticated, once the exchange succeeded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// A password user (`PLAIN`, SCRAM): the prepared authcid, and the authzid the embedder
    /// accepted, if one was asked for.
    User {
        /// The authentication identity, prepared with `UsernameCasePreserved`.
        authcid: String,
        /// The authorization identity.
        authzid: Option<String>,
    },
    /// `EXTERNAL`: the identity comes from outside SASL (the client certificate), which the
    /// embedder knows; this is the authzid the client asked for, which the embedder accepted.
    External {
        /// The authorization identity, if the client gave one.
        authzid: Option<String>,
    },
    /// `ANONYMOUS`, with the client's trace token if it sent one (RFC 4505 section 2).
    Anonymous {
        /// The trace token.
        trace: Option<String>,
    },
}

/// What the server side needs done next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerStep {
    /// Look up the account and answer with [`SaslServer::provide_credentials`], with the
    /// credential and a decision on the authzid, if there is one.
    NeedCredentials {
        /// The mechanism.
        mechanism: Mechanism,
        /// The authentication identity, prepared with `UsernameCasePreserved`.
        authcid: String,
        /// The authorization identity the client asks for, if any.
        authzid: Option<String>,
    },
    /// `EXTERNAL`: decide from the external credentials (the client certificate) whether the
    /// client may authenticate, as `authzid` if given; answer with
    /// [`SaslServer::provide_external`].
    NeedExternal {
        /// The authorization identity the client asks for, if any.
        authzid: Option<String>,
    },
    /// Send this in `<challenge/>` and pass the client's `<response/>` to
    /// [`SaslServer::on_response`].
    Challenge(Vec<u8>),
    /// The client authenticated: send `<success/>` with this additional data (empty for all
    /// but SCRAM, whose server-final-message it is).
    Success {
        /// The additional data.
        additional_data: Vec<u8>,
        /// Who authenticated.
        identity: Identity,
    },
}

/// The server side of one SASL exchange.
pub struct SaslServer {
    config: SaslServerConfig,
    nonce: Nonce,
    state: ServerState,
}

/// Where the exchange stands; each state holds what the next step needs.
enum ServerState {
    /// Waiting for `<auth/>`.
    Idle,
    /// `<auth/>` had no initial response; an empty challenge was sent for it.
    AwaitingInitialResponse(Mechanism),
    /// `PLAIN`: waiting for the embedder's credentials.
    PlainNeedCredentials {
        authcid: String,
        authzid: Option<String>,
        password: String,
    },
    /// SCRAM: client-first-message read, waiting for the embedder's credentials.
    ScramNeedCredentials(ScramStarted),
    /// SCRAM: server-first-message sent, client-final-message expected.
    ScramAwaitingFinal(ScramChallenged),
    /// `EXTERNAL`: waiting for the embedder's decision.
    ExternalNeedDecision { authzid: Option<String> },
    /// Success was returned.
    Succeeded,
    /// The exchange failed.
    Failed,
}

struct ScramStarted {
    hash: ScramHash,
    /// What `c=` must decode to: the GS2 header, then the channel binding data for -PLUS.
    expected_cbind: Vec<u8>,
    client_first_bare: String,
    client_nonce: String,
    authcid: String,
    authzid: Option<String>,
}

struct ScramChallenged {
    hash: ScramHash,
    expected_cbind: Vec<u8>,
    /// The whole nonce, client's part then server's.
    nonce: String,
    /// `client-first-message-bare "," server-first-message ","`: the AuthMessage without
    /// the client-final-message-without-proof.
    auth_prefix: String,
    verifier: Verifier,
    authcid: String,
    authzid: Option<String>,
    authorization: Authorization,
}

/// What the client's proof is checked against.
enum Verifier {
    Known {
        stored_key: Vec<u8>,
        server_key: Vec<u8>,
    },
    /// A made-up stored key, so that an unknown user costs the same work as a known one.
    Unknown { decoy_stored_key: Vec<u8> },
}

impl SaslServer {
    /// A server side for one exchange. `nonce` is the server's part of the SCRAM nonce,
    /// made by the embedder from a secure random source; the other mechanisms do not use
    /// it.
    pub fn new(config: SaslServerConfig, nonce: Nonce) -> Self {
        SaslServer {
            config,
            nonce,
            state: ServerState::Idle,
        }
    }

    /// Reads `<auth mechanism=''>` and its initial response (decoded), or `None` if the
    /// element had no text (RFC 6120 section 6.4.2: an empty response is `=`, which
    /// [`decode_payload`](super::decode_payload) turns into `Some(&[])`).
    ///
    /// Without an initial response the step is an empty challenge, and the client's
    /// response to it is read as the initial response.
    ///
    /// # Errors
    ///
    /// A [`SaslServerError`] ends the exchange; send `<failure/>` with its condition.
    pub fn start(
        &mut self,
        mechanism: &str,
        initial_response: Option<&[u8]>,
    ) -> Result<ServerStep, SaslServerError> {
        match std::mem::replace(&mut self.state, ServerState::Failed) {
            ServerState::Idle => {}
            other => return Err(self.out_of_order(other)),
        }
        let mechanism: Mechanism = mechanism
            .parse()
            .map_err(|_| SaslServerError::UnknownMechanism)?;
        // Checked before the offer, since a server normally does not offer PLAIN on an
        // unencrypted stream, and encryption-required tells the client what to do.
        if mechanism == Mechanism::Plain && !self.config.encrypted {
            return Err(SaslServerError::EncryptionRequired);
        }
        if !self.config.offered.contains(&mechanism) {
            return Err(SaslServerError::MechanismNotOffered(mechanism));
        }
        match initial_response {
            Some(data) => self.initial(mechanism, data),
            None => {
                self.state = ServerState::AwaitingInitialResponse(mechanism);
                Ok(ServerStep::Challenge(Vec::new()))
            }
        }
    }

    /// Reads the client's `<response/>` (decoded).
    ///
    /// # Errors
    ///
    /// A [`SaslServerError`] ends the exchange; send `<failure/>` with its condition.
    pub fn on_response(&mut self, response: &[u8]) -> Result<ServerStep, SaslServerError> {
        match std::mem::replace(&mut self.state, ServerState::Failed) {
            ServerState::AwaitingInitialResponse(mechanism) => self.initial(mechanism, response),
            ServerState::ScramAwaitingFinal(challenged) => self.scram_final(challenged, response),
            other => Err(self.out_of_order(other)),
        }
    }

    /// Answers [`ServerStep::NeedCredentials`]: the account's credential, and whom the
    /// account may act as (ignored when the client asked for no authzid; see
    /// [`Authorization`]). An authzid is judged only after the credentials are verified, so
    /// that a refusal tells nothing to someone without them.
    ///
    /// # Errors
    ///
    /// A [`SaslServerError`] ends the exchange; send `<failure/>` with its condition.
    pub fn provide_credentials(
        &mut self,
        credential: UserCredential,
        authorization: Authorization,
    ) -> Result<ServerStep, SaslServerError> {
        match std::mem::replace(&mut self.state, ServerState::Failed) {
            ServerState::PlainNeedCredentials {
                authcid,
                authzid: requested,
                password,
            } => self.plain_verify(credential, &authorization, authcid, requested, &password),
            ServerState::ScramNeedCredentials(started) => {
                self.scram_challenge(started, credential, authorization)
            }
            other => Err(self.out_of_order(other)),
        }
    }

    /// Answers [`ServerStep::NeedExternal`].
    ///
    /// # Errors
    ///
    /// [`SaslServerError::Refused`] when the decision is a refusal, or
    /// [`SaslServerError::OutOfOrder`].
    pub fn provide_external(&mut self, decision: Decision) -> Result<ServerStep, SaslServerError> {
        match std::mem::replace(&mut self.state, ServerState::Failed) {
            ServerState::ExternalNeedDecision { authzid } => match decision {
                Decision::Accept => {
                    self.state = ServerState::Succeeded;
                    Ok(ServerStep::Success {
                        additional_data: Vec::new(),
                        identity: Identity::External { authzid },
                    })
                }
                Decision::Refuse(condition) => Err(SaslServerError::Refused(condition)),
            },
            other => Err(self.out_of_order(other)),
        }
    }

    /// The client sent `<abort/>` (RFC 6120 section 6.4.4): the exchange ends, and the
    /// returned error's condition is `aborted`.
    pub fn abort(&mut self) -> SaslServerError {
        self.state = ServerState::Failed;
        SaslServerError::Aborted
    }

    /// Whether the exchange succeeded.
    pub fn is_success(&self) -> bool {
        matches!(self.state, ServerState::Succeeded)
    }

    /// A step that does not fit `state`, the state the exchange was in. It ends an exchange
    /// under way, but leaves one that succeeded as it was.
    fn out_of_order(&mut self, state: ServerState) -> SaslServerError {
        if matches!(state, ServerState::Succeeded) {
            self.state = state;
        }
        SaslServerError::OutOfOrder
    }

    /// Reads an initial response. The state is `Failed` on entry.
    fn initial(
        &mut self,
        mechanism: Mechanism,
        data: &[u8],
    ) -> Result<ServerStep, SaslServerError> {
        match mechanism {
            Mechanism::Plain => {
                let msg = plain::parse(data).map_err(|_| SaslServerError::MalformedPlain)?;
                let authcid = prepare_username(msg.authcid)
                    .map_err(|_| SaslServerError::InvalidUsername)?
                    .into_owned();
                let authzid = msg.authzid.map(str::to_owned);
                self.state = ServerState::PlainNeedCredentials {
                    authcid: authcid.clone(),
                    authzid: authzid.clone(),
                    password: msg.password.to_owned(),
                };
                Ok(ServerStep::NeedCredentials {
                    mechanism,
                    authcid,
                    authzid,
                })
            }
            Mechanism::External => {
                let authzid = core::str::from_utf8(data)
                    .ok()
                    .filter(|a| !a.contains('\0'))
                    .ok_or(SaslServerError::MalformedAuthzid)?;
                let authzid = (!authzid.is_empty()).then(|| authzid.to_owned());
                self.state = ServerState::ExternalNeedDecision {
                    authzid: authzid.clone(),
                };
                Ok(ServerStep::NeedExternal { authzid })
            }
            Mechanism::Anonymous => {
                // RFC 4505 section 2: an email address or a token of 1 to 255 characters.
                let trace = core::str::from_utf8(data)
                    .ok()
                    .filter(|t| !t.contains('\0') && t.chars().count() <= 255)
                    .ok_or(SaslServerError::MalformedTrace)?;
                self.state = ServerState::Succeeded;
                Ok(ServerStep::Success {
                    additional_data: Vec::new(),
                    identity: Identity::Anonymous {
                        trace: (!trace.is_empty()).then(|| trace.to_owned()),
                    },
                })
            }
            _ => self.scram_first(mechanism, data),
        }
    }

    /// Reads a client-first-message (RFC 5802 sections 5.1 and 6).
    fn scram_first(
        &mut self,
        mechanism: Mechanism,
        data: &[u8],
    ) -> Result<ServerStep, SaslServerError> {
        let hash = mechanism
            .scram_hash()
            .ok_or(SaslServerError::UnknownMechanism)?;
        let msg = scram::message_str(data)?;
        let first = scram::parse_client_first(msg).map_err(|e| match e {
            ClientFirstError::Syntax(e) => SaslServerError::MalformedScram(e),
            ClientFirstError::MandatoryExtension => SaslServerError::UnsupportedExtension,
        })?;
        let mut expected_cbind = first.gs2_header.as_bytes().to_vec();
        match (mechanism.is_plus(), first.flag) {
            (true, CbFlag::Used(name)) => {
                let data = self
                    .config
                    .channel_bindings
                    .iter()
                    .find(|cb| cb.kind.name() == name)
                    .ok_or(SaslServerError::UnsupportedChannelBindingType)?;
                expected_cbind.extend_from_slice(&data.data);
            }
            (true, _) | (false, CbFlag::Used(_)) => {
                return Err(SaslServerError::ChannelBindingFlagMismatch);
            }
            // RFC 5802 section 6: the client could bind but saw no -PLUS offer; if we made
            // one, someone removed it on the way.
            (false, CbFlag::ClientOnly) if self.config.offers_plus() => {
                return Err(SaslServerError::DowngradeDetected);
            }
            (false, CbFlag::ClientOnly | CbFlag::None) => {}
        }
        let authcid = prepare_username(&first.username)
            .map_err(|_| SaslServerError::InvalidUsername)?
            .into_owned();
        let authzid = first.authzid.map(|a| a.into_owned());
        self.state = ServerState::ScramNeedCredentials(ScramStarted {
            hash,
            expected_cbind,
            client_first_bare: first.bare.to_owned(),
            client_nonce: first.nonce.to_owned(),
            authcid: authcid.clone(),
            authzid: authzid.clone(),
        });
        Ok(ServerStep::NeedCredentials {
            mechanism,
            authcid,
            authzid,
        })
    }

    /// Builds the server-first-message from the embedder's answer.
    fn scram_challenge(
        &mut self,
        started: ScramStarted,
        credential: UserCredential,
        authorization: Authorization,
    ) -> Result<ServerStep, SaslServerError> {
        let hash = started.hash;
        let (salt, iterations, verifier) = match credential {
            UserCredential::Refuse(condition) => return Err(SaslServerError::Refused(condition)),
            UserCredential::Scram(stored) => {
                if stored.hash != hash || !stored.is_well_formed() {
                    return Err(SaslServerError::InvalidStoredCredential);
                }
                let verifier = Verifier::Known {
                    stored_key: stored.stored_key,
                    server_key: stored.server_key,
                };
                (stored.salt, stored.iterations, verifier)
            }
            UserCredential::Password(password) => {
                let salt = self.config.decoy_salt(hash, &started.authcid);
                let iterations = self.config.scram_iterations;
                let stored = StoredScram::from_password(&password, salt, iterations, hash)
                    .map_err(|_| SaslServerError::InvalidStoredCredential)?;
                let verifier = Verifier::Known {
                    stored_key: stored.stored_key,
                    server_key: stored.server_key,
                };
                (stored.salt, iterations, verifier)
            }
            UserCredential::Unknown => {
                let salt = self.config.decoy_salt(hash, &started.authcid);
                let decoy_stored_key =
                    self.config
                        .derive(b"stored-key", hash, &started.authcid, hash.output_len());
                let verifier = Verifier::Unknown { decoy_stored_key };
                (salt, self.config.scram_iterations, verifier)
            }
        };
        // server-first-message = nonce "," salt "," iteration-count
        let mut nonce = started.client_nonce;
        nonce.push_str(self.nonce.as_str());
        let mut server_first = String::with_capacity(nonce.len() + 64);
        server_first.push_str("r=");
        server_first.push_str(&nonce);
        server_first.push_str(",s=");
        scram::push_base64(&mut server_first, &salt);
        server_first.push_str(",i=");
        server_first.push_str(&iterations.to_string());
        // XEP-0474 section 5.1: the hash of what was advertised, signed with the rest.
        if let Some(input) = &self.config.downgrade_protection {
            server_first.push_str(",h=");
            server_first.push_str(&scram::downgrade_protection_hash(hash, input));
        }

        let mut auth_prefix = started.client_first_bare;
        auth_prefix.push(',');
        auth_prefix.push_str(&server_first);
        auth_prefix.push(',');
        self.state = ServerState::ScramAwaitingFinal(ScramChallenged {
            hash,
            expected_cbind: started.expected_cbind,
            nonce,
            auth_prefix,
            verifier,
            authcid: started.authcid,
            authzid: started.authzid,
            authorization,
        });
        Ok(ServerStep::Challenge(server_first.into_bytes()))
    }

    /// Reads the client-final-message and verifies the proof (RFC 5802 section 3).
    fn scram_final(
        &mut self,
        challenged: ScramChallenged,
        data: &[u8],
    ) -> Result<ServerStep, SaslServerError> {
        let hash = challenged.hash;
        let msg = scram::message_str(data)?;
        let client_final = scram::parse_client_final(msg)?;
        // c= carries the GS2 header again (so that a flag changed on the way is noticed)
        // and, for -PLUS, the channel binding data.
        if !ct_eq(&client_final.channel_binding, &challenged.expected_cbind) {
            return Err(SaslServerError::ChannelBindingMismatch);
        }
        if client_final.nonce != challenged.nonce {
            return Err(SaslServerError::NonceMismatch);
        }
        let auth_message: &[&[u8]] = &[
            challenged.auth_prefix.as_bytes(),
            client_final.without_proof.as_bytes(),
        ];
        let stored_key = match &challenged.verifier {
            Verifier::Known { stored_key, .. } => stored_key,
            Verifier::Unknown { decoy_stored_key } => decoy_stored_key,
        };
        // ClientKey = ClientProof XOR HMAC(StoredKey, AuthMessage); it must hash to
        // StoredKey.
        let client_signature = hash.hmac(stored_key, auth_message);
        let proof_ok = client_final.proof.len() == hash.output_len() && {
            let client_key = scram::xor(&client_final.proof, &client_signature);
            ct_eq(&hash.hash(&client_key), stored_key)
        };
        let server_key = match challenged.verifier {
            Verifier::Unknown { .. } => return Err(SaslServerError::UnknownUser),
            Verifier::Known { server_key, .. } => server_key,
        };
        if !proof_ok {
            return Err(SaslServerError::InvalidCredentials);
        }
        if let Some(authzid) = &challenged.authzid {
            if !challenged.authorization.grants(authzid) {
                return Err(SaslServerError::AuthzidRefused);
            }
        }
        let mut server_final = String::with_capacity(64);
        server_final.push_str("v=");
        scram::push_base64(&mut server_final, &hash.hmac(&server_key, auth_message));
        self.state = ServerState::Succeeded;
        Ok(ServerStep::Success {
            additional_data: server_final.into_bytes(),
            identity: Identity::User {
                authcid: challenged.authcid,
                authzid: challenged.authzid,
            },
        })
    }

    /// Verifies a `PLAIN` password against the embedder's credential.
    fn plain_verify(
        &mut self,
        credential: UserCredential,
        authorization: &Authorization,
        authcid: String,
        authzid: Option<String>,
        password: &str,
    ) -> Result<ServerStep, SaslServerError> {
        // A password that cannot be prepared matches nothing, but is verified like any
        // other so that it takes the same time.
        let given = prepare_password(password);
        let given: &[u8] = given.as_deref().map_or(b"", str::as_bytes);
        let ok = match credential {
            UserCredential::Refuse(condition) => return Err(SaslServerError::Refused(condition)),
            UserCredential::Password(expected) => {
                let expected = prepare_password(&expected)
                    .map_err(|_| SaslServerError::InvalidStoredCredential)?;
                // Compare digests, so that the time taken does not depend on where or
                // whether the lengths differ.
                let h = ScramHash::Sha256;
                !given.is_empty() && ct_eq(&h.hash(given), &h.hash(expected.as_bytes()))
            }
            UserCredential::Scram(stored) => {
                if !stored.is_well_formed() {
                    return Err(SaslServerError::InvalidStoredCredential);
                }
                let hash = stored.hash;
                let salted = hash.hi(given, &stored.salt, stored.iterations);
                let (client_key, _) = hash.client_and_server_keys(&salted);
                !given.is_empty() && ct_eq(&hash.hash(&client_key), &stored.stored_key)
            }
            UserCredential::Unknown => {
                // The PBKDF2 run a stored entry would cost, so that timing does not tell
                // unknown users from wrong passwords.
                let hash = ScramHash::Sha256;
                let salt = self.config.decoy_salt(hash, &authcid);
                core::hint::black_box(hash.hi(given, &salt, self.config.scram_iterations));
                return Err(SaslServerError::UnknownUser);
            }
        };
        if !ok {
            return Err(SaslServerError::InvalidCredentials);
        }
        if let Some(authzid) = &authzid {
            if !authorization.grants(authzid) {
                return Err(SaslServerError::AuthzidRefused);
            }
        }
        self.state = ServerState::Succeeded;
        Ok(ServerStep::Success {
            additional_data: Vec::new(),
            identity: Identity::User { authcid, authzid },
        })
    }
}

impl fmt::Debug for SaslServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The PLAIN state holds a password: name the state only.
        let state = match &self.state {
            ServerState::Idle => "idle",
            ServerState::AwaitingInitialResponse(_) => "awaiting initial response",
            ServerState::PlainNeedCredentials { .. } => "PLAIN: needs credentials",
            ServerState::ScramNeedCredentials(_) => "SCRAM: needs credentials",
            ServerState::ScramAwaitingFinal(_) => "SCRAM: server-first sent",
            ServerState::ExternalNeedDecision { .. } => "EXTERNAL: needs a decision",
            ServerState::Succeeded => "succeeded",
            ServerState::Failed => "failed",
        };
        f.debug_struct("SaslServer")
            .field("config", &self.config)
            .field("state", &state)
            .finish()
    }
}

/// Why the server side of an exchange failed. [`condition`](Self::condition) is the
/// `<failure/>` condition to send (RFC 6120 section 6.5); the variants say more, for logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SaslServerError {
    /// The mechanism name is not one this module implements (`invalid-mechanism`).
    UnknownMechanism,
    /// The mechanism was not offered (`invalid-mechanism`).
    MechanismNotOffered(Mechanism),
    /// `PLAIN` on an unencrypted stream (`encryption-required`).
    EncryptionRequired,
    /// A SCRAM message does not follow RFC 5802 section 7 (`malformed-request`).
    MalformedScram(ScramSyntaxError),
    /// The `PLAIN` message is not `[authzid] NUL authcid NUL passwd` with UTF-8 parts and
    /// a non-empty authcid and password (`malformed-request`).
    MalformedPlain,
    /// The `EXTERNAL` authzid is not UTF-8 or has a NUL (`malformed-request`).
    MalformedAuthzid,
    /// The `ANONYMOUS` trace token is not UTF-8, has a NUL, or is longer than 255
    /// characters (`malformed-request`).
    MalformedTrace,
    /// The username is refused by `UsernameCasePreserved` (RFC 8265 section 3.4); such a
    /// name cannot belong to an account (`malformed-request`).
    InvalidUsername,
    /// The client-first-message has a mandatory extension (`m=`) this server does not know
    /// (`malformed-request`).
    UnsupportedExtension,
    /// A `-PLUS` mechanism without the `p=` flag, or `p=` with a mechanism without `-PLUS`
    /// (`malformed-request`).
    ChannelBindingFlagMismatch,
    /// The client sent `y` (it could bind but saw no `-PLUS` offer) while this server
    /// offered `-PLUS`: the offer was stripped on the way (RFC 5802 section 6;
    /// `not-authorized`).
    DowngradeDetected,
    /// The client asked for a channel binding type this server has no data for
    /// (`not-authorized`).
    UnsupportedChannelBindingType,
    /// `c=` does not match the GS2 header and channel binding data (`not-authorized`).
    ChannelBindingMismatch,
    /// The nonce of the client-final-message is not the one the server sent
    /// (`not-authorized`).
    NonceMismatch,
    /// The account does not exist (`not-authorized`; the client cannot tell this from
    /// [`InvalidCredentials`](Self::InvalidCredentials)).
    UnknownUser,
    /// Wrong password or proof (`not-authorized`).
    InvalidCredentials,
    /// The embedder refused, with this condition.
    Refused(SaslFailureCondition),
    /// The client asked to act as an identity the embedder did not grant
    /// ([`Authorization`]; `invalid-authzid`, RFC 6120 section 6.5.6).
    AuthzidRefused,
    /// The embedder's credential cannot be used: a SCRAM entry for another hash or with
    /// keys of the wrong length, or a stored password its profile refuses
    /// (`temporary-auth-failure`: the fault is on the server).
    InvalidStoredCredential,
    /// The client aborted (`aborted`).
    Aborted,
    /// A step came when the exchange does not expect it: a response with nothing pending,
    /// or any step after the end (`malformed-request`).
    OutOfOrder,
}

impl SaslServerError {
    /// The condition to send in `<failure/>`.
    pub const fn condition(&self) -> SaslFailureCondition {
        use SaslFailureCondition as C;
        match self {
            SaslServerError::UnknownMechanism | SaslServerError::MechanismNotOffered(_) => {
                C::InvalidMechanism
            }
            SaslServerError::EncryptionRequired => C::EncryptionRequired,
            SaslServerError::MalformedScram(_)
            | SaslServerError::MalformedPlain
            | SaslServerError::MalformedAuthzid
            | SaslServerError::MalformedTrace
            | SaslServerError::InvalidUsername
            | SaslServerError::UnsupportedExtension
            | SaslServerError::ChannelBindingFlagMismatch
            | SaslServerError::OutOfOrder => C::MalformedRequest,
            SaslServerError::DowngradeDetected
            | SaslServerError::UnsupportedChannelBindingType
            | SaslServerError::ChannelBindingMismatch
            | SaslServerError::NonceMismatch
            | SaslServerError::UnknownUser
            | SaslServerError::InvalidCredentials => C::NotAuthorized,
            SaslServerError::Refused(c) => *c,
            SaslServerError::AuthzidRefused => C::InvalidAuthzid,
            SaslServerError::InvalidStoredCredential => C::TemporaryAuthFailure,
            SaslServerError::Aborted => C::Aborted,
        }
    }

    /// The `<failure/>` to send: the condition, without text (text could tell an attacker
    /// more than the condition does).
    pub fn failure(&self) -> SaslFailure {
        SaslFailure::new(self.condition())
    }
}

impl From<ScramSyntaxError> for SaslServerError {
    fn from(e: ScramSyntaxError) -> Self {
        SaslServerError::MalformedScram(e)
    }
}

impl fmt::Display for SaslServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SaslServerError::UnknownMechanism => f.write_str("unknown SASL mechanism"),
            SaslServerError::MechanismNotOffered(m) => write!(f, "{m} was not offered"),
            SaslServerError::EncryptionRequired => {
                f.write_str("PLAIN is not allowed on an unencrypted stream")
            }
            SaslServerError::MalformedScram(e) => write!(f, "malformed SCRAM message: {e}"),
            SaslServerError::MalformedPlain => f.write_str("malformed PLAIN message"),
            SaslServerError::MalformedAuthzid => f.write_str("malformed EXTERNAL authzid"),
            SaslServerError::MalformedTrace => f.write_str("malformed ANONYMOUS trace token"),
            SaslServerError::InvalidUsername => {
                f.write_str("the username is not allowed by its PRECIS profile")
            }
            SaslServerError::UnsupportedExtension => {
                f.write_str("the client requires a SCRAM extension this server does not know")
            }
            SaslServerError::ChannelBindingFlagMismatch => {
                f.write_str("the channel binding flag does not match the mechanism")
            }
            SaslServerError::DowngradeDetected => f.write_str(
                "the client saw no channel binding offer though one was made: possible downgrade attack",
            ),
            SaslServerError::UnsupportedChannelBindingType => {
                f.write_str("unsupported channel binding type")
            }
            SaslServerError::ChannelBindingMismatch => {
                f.write_str("the channel binding data does not match")
            }
            SaslServerError::NonceMismatch => f.write_str("the SCRAM nonce does not match"),
            SaslServerError::UnknownUser => f.write_str("no such account"),
            SaslServerError::InvalidCredentials => f.write_str("wrong password"),
            SaslServerError::Refused(c) => write!(f, "refused by the server: {c}"),
            SaslServerError::AuthzidRefused => {
                f.write_str("the account may not act as the authorization identity it asked for")
            }
            SaslServerError::InvalidStoredCredential => {
                f.write_str("the stored credential is corrupt or for another mechanism")
            }
            SaslServerError::Aborted => f.write_str("the client aborted"),
            SaslServerError::OutOfOrder => f.write_str("SASL step out of order"),
        }
    }
}

impl std::error::Error for SaslServerError {}
