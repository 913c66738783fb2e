//! The client side (RFC 4422 section 5, RFC 6120 section 6.4): choosing a mechanism from
//! those the server offers, and running it.
//!
//! A SCRAM exchange (RFC 5802 section 5) goes:
//!
//! 1. [`SaslClient::initial_response`]: the client-first-message, sent in `<auth/>`;
//! 2. [`SaslClient::on_challenge`] with the server-first-message: the client-final-message,
//!    sent in `<response/>`;
//! 3. [`SaslClient::on_success`] with the server-final-message from `<success/>`, which
//!    carries the server's signature; success is only believed once it is verified.
//!
//! Some servers send the server-final-message in a `<challenge/>` instead, and then a
//! `<success/>` without data (RFC 6120 section 6.3.10 allows both); `on_challenge` verifies
//! it there and answers with an empty response.
//!
//! # Channel binding and downgrades
//!
//! The GS2 header tells the server what the client knows about channel binding (RFC 5802
//! section 6): `p=<type>` when a `-PLUS` mechanism is used; `y` when the client has channel
//! binding data but the server offered no `-PLUS` mechanism, so that a server that does
//! support channel binding sees that its `-PLUS` offers were stripped and fails; `n`
//! otherwise.

use core::fmt;
use std::num::NonZeroU32;

use super::scram::{
    self, ScramHash, ScramKeys, ScramSecret, ScramServerError, ScramSyntaxError, ServerFinal,
    ServerFirstError,
};
use super::{
    ChannelBinding, Mechanism, Nonce, PreparationError, ct_eq, plain, prepare_password,
    prepare_username,
};

/// The default of [`SaslClientConfig::max_iterations`] (and of the client role's
/// [`scram_max_iterations`](crate::client::ClientConfig::scram_max_iterations)): the largest
/// SCRAM iteration count a client accepts from a server.
///
/// RFC 5802 section 9 warns that "a hostile server can perform a computational
/// denial-of-service attack on clients by sending a big iteration count", and the PBKDF2 run
/// happens inside one call of the embedder's loop. Servers in the field use 4,096 (ejabberd,
/// Openfire; RFC 7677's minimum) to 10,000 (Prosody), so 100,000 leaves ten times the
/// largest deployed count, the cap MongoDB's driver specification also chose, while bounding
/// the stall a hostile server can cause to a tenth of what the earlier cap of 1,000,000
/// allowed (measured at about 130 ms in one input call). An embedder whose
/// server uses more raises it, or caches the keys ([`SaslClient::scram_keys`]) so that no
/// PBKDF2 runs at all.
pub const DEFAULT_MAX_ITERATIONS: u32 = 100_000;

/// What the client authenticates with.
#[derive(Clone, Default)]
pub struct Credentials {
    /// The authentication identity (authcid): for XMPP, the localpart of the account's JID
    /// (RFC 6120 section 6.3.8). Not used by `EXTERNAL` and `ANONYMOUS`.
    pub username: String,
    /// The password, if the client has it.
    pub password: Option<String>,
    /// SCRAM keys cached from an earlier exchange ([`SaslClient::scram_keys`]), used
    /// instead of the password when the server's salt and iteration count match them.
    pub scram_keys: Option<ScramKeys>,
    /// The authorization identity to act as, if not the one derived from the username
    /// (RFC 6120 section 6.3.8). An empty string counts as none.
    pub authzid: Option<String>,
}

impl Credentials {
    /// A username and its password.
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        Credentials {
            username: username.into(),
            password: Some(password.into()),
            scram_keys: None,
            authzid: None,
        }
    }

    /// A username and SCRAM keys cached from an earlier exchange, without the password.
    pub fn with_scram_keys(username: impl Into<String>, keys: ScramKeys) -> Self {
        Credentials {
            username: username.into(),
            password: None,
            scram_keys: Some(keys),
            authzid: None,
        }
    }

    /// The same credentials, asking to act as `authzid`.
    pub fn authzid(mut self, authzid: impl Into<String>) -> Self {
        self.authzid = Some(authzid.into());
        self
    }

    /// Whether these credentials can run SCRAM with `hash`.
    fn can_scram(&self, hash: ScramHash) -> bool {
        self.password.is_some() || self.scram_keys.as_ref().is_some_and(|k| k.hash == hash)
    }

    /// The authzid, with an empty one read as none.
    fn authzid_str(&self) -> Option<&str> {
        self.authzid.as_deref().filter(|a| !a.is_empty())
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("scram_keys", &self.scram_keys)
            .field("authzid", &self.authzid)
            .finish()
    }
}

/// The client's choices.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SaslClientConfig {
    /// The mechanisms the client is willing to use, most preferred first. Defaults to
    /// [`Mechanism::DEFAULT_PREFERENCE`]; add `EXTERNAL` or `ANONYMOUS` to use them.
    pub preference: Vec<Mechanism>,
    /// Whether `PLAIN` may be used. It sends the password itself, so set this only when the
    /// stream is encrypted (RFC 6120 section 13.8), or when the embedder explicitly allows
    /// it otherwise. Defaults to `false`.
    pub allow_plain: bool,
    /// The TLS channel binding data, if the embedder's TLS library can provide it. Needed
    /// for the `-PLUS` mechanisms; without them it makes the GS2 header `y` (see the module
    /// documentation).
    pub channel_binding: Option<ChannelBinding>,
    /// The smallest SCRAM iteration count accepted from a server (`0` counts as `1`).
    /// Defaults to 1; RFC 7677 section 4 asks servers for at least 4096, and a client that
    /// wants to hold them to it can set that here.
    pub min_iterations: u32,
    /// The largest SCRAM iteration count accepted, so that a hostile server cannot make the
    /// client spend long in PBKDF2. Defaults to [`DEFAULT_MAX_ITERATIONS`] (100,000; see
    /// there why).
    pub max_iterations: u32,
    /// The trace token sent with `ANONYMOUS` (RFC 4505 section 2): an email address or up
    /// to 255 characters of other text, or none.
    pub anonymous_trace: Option<String>,
    /// XEP-0474 downgrade protection: the string S of what the server advertised (its
    /// mechanisms and channel-binding types, [`downgrade_protection_input`]). When the
    /// server-first-message carries `h=`, it must be the hash of this S, else the exchange
    /// fails with [`SaslClientError::DowngradeDetected`]. `None`: not checked.
    ///
    /// [`downgrade_protection_input`]: super::downgrade_protection_input
    pub downgrade_protection: Option<Vec<u8>>,
}

impl Default for SaslClientConfig {
    fn default() -> Self {
        SaslClientConfig {
            preference: Mechanism::DEFAULT_PREFERENCE.to_vec(),
            allow_plain: false,
            channel_binding: None,
            min_iterations: 1,
            max_iterations: DEFAULT_MAX_ITERATIONS,
            downgrade_protection: None,
            anonymous_trace: None,
        }
    }
}

/// Picks the mechanism to use: the first in `config.preference` that the server offered and
/// that the client can run. Offered names this module does not implement are ignored.
///
/// A SCRAM mechanism needs the password or cached keys for its hash, a `-PLUS` one also
/// channel binding data; `PLAIN` needs the password and `config.allow_plain`.
pub fn select_mechanism<I, S>(
    offered: I,
    config: &SaslClientConfig,
    credentials: &Credentials,
) -> Option<Mechanism>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    choose(&parse_offered(offered), config, credentials)
}

fn parse_offered<I, S>(offered: I) -> Vec<Mechanism>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    offered
        .into_iter()
        .filter_map(|name| name.as_ref().parse().ok())
        .collect()
}

fn choose(
    offered: &[Mechanism],
    config: &SaslClientConfig,
    credentials: &Credentials,
) -> Option<Mechanism> {
    let usable = |m: Mechanism| match m.scram_hash() {
        Some(hash) => {
            (!m.is_plus() || config.channel_binding.is_some()) && credentials.can_scram(hash)
        }
        None => match m {
            Mechanism::Plain => config.allow_plain && credentials.password.is_some(),
            _ => true,
        },
    };
    config
        .preference
        .iter()
        .copied()
        .find(|&m| offered.contains(&m) && usable(m))
}

/// The client side of one SASL exchange.
pub struct SaslClient {
    mechanism: Mechanism,
    /// The initial response, kept because SCRAM signs its client-first-message-bare.
    initial: Vec<u8>,
    min_iterations: u32,
    max_iterations: u32,
    /// XEP-0474's S, to check the server's `h=` against.
    downgrade_protection: Option<Vec<u8>>,
    state: ClientState,
}

/// Where the exchange stands; each state holds what the next step needs.
enum ClientState {
    /// `PLAIN`, `EXTERNAL`, `ANONYMOUS`: the initial response was everything; only the
    /// outcome is left.
    AwaitingOutcome,
    /// SCRAM: client-first-message sent, server-first-message expected.
    ScramFirstSent(ScramFirstSent),
    /// SCRAM: client-final-message sent, server-final-message expected.
    ScramFinalSent(ScramFinalSent),
    /// SCRAM: a server-final-message came in a `<challenge/>` and was verified; only
    /// `<success/>` is missing.
    ScramVerified(ScramFinalSent),
    /// The server's success was accepted.
    Succeeded(Option<ScramKeys>),
    /// The exchange failed.
    Failed,
}

struct ScramFirstSent {
    hash: ScramHash,
    /// The GS2 header is `initial[..gs2_header_len]`, the client-first-message-bare the
    /// rest.
    gs2_header_len: usize,
    /// The channel binding data, for `-PLUS` only.
    cb_data: Option<Vec<u8>>,
    client_nonce: Nonce,
    /// The prepared password.
    password: Option<String>,
    cached: Option<ScramKeys>,
}

struct ScramFinalSent {
    server_signature: Vec<u8>,
    keys: ScramKeys,
}

impl SaslClient {
    /// Picks a mechanism ([`select_mechanism`]) from those the server `offered` and
    /// prepares its initial response.
    ///
    /// `nonce` is the client's SCRAM nonce, made by the embedder from a secure random
    /// source; the other mechanisms do not use it.
    ///
    /// # Errors
    ///
    /// - [`SaslClientError::NoAcceptableMechanism`] if no mechanism fits;
    /// - [`SaslClientError::Preparation`] if the username or password is refused by its
    ///   PRECIS profile;
    /// - [`SaslClientError::InvalidAuthzid`] if the authzid has a NUL;
    /// - [`SaslClientError::InvalidTraceToken`] for an `ANONYMOUS` trace token that is too
    ///   long or has a NUL.
    pub fn start<I, S>(
        offered: I,
        config: &SaslClientConfig,
        credentials: Credentials,
        nonce: Nonce,
    ) -> Result<Self, SaslClientError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let offered = parse_offered(offered);
        let mechanism =
            choose(&offered, config, &credentials).ok_or(SaslClientError::NoAcceptableMechanism)?;
        if credentials.authzid_str().is_some_and(|a| a.contains('\0')) {
            return Err(SaslClientError::InvalidAuthzid);
        }
        let (initial, state) = match mechanism {
            Mechanism::Plain => {
                let username = prepare_username(&credentials.username)?;
                let password = credentials.password.as_deref().unwrap_or_default();
                let password = prepare_password(password)?;
                let msg = plain::build(credentials.authzid_str(), &username, &password);
                (msg, ClientState::AwaitingOutcome)
            }
            Mechanism::External => {
                // RFC 4422 appendix A: the message is the authzid, or empty to let the
                // server derive it from the external credentials.
                let msg = credentials.authzid_str().unwrap_or_default();
                (msg.as_bytes().to_vec(), ClientState::AwaitingOutcome)
            }
            Mechanism::Anonymous => {
                let trace = config.anonymous_trace.as_deref().unwrap_or_default();
                if trace.chars().count() > 255 || trace.contains('\0') {
                    return Err(SaslClientError::InvalidTraceToken);
                }
                (trace.as_bytes().to_vec(), ClientState::AwaitingOutcome)
            }
            _ => scram_client_first(mechanism, &offered, config, credentials, nonce)?,
        };
        Ok(SaslClient {
            mechanism,
            initial,
            min_iterations: config.min_iterations.max(1),
            max_iterations: config.max_iterations,
            downgrade_protection: config.downgrade_protection.clone(),
            state,
        })
    }

    /// The mechanism in use, for `<auth mechanism=''>`.
    pub fn mechanism(&self) -> Mechanism {
        self.mechanism
    }

    /// The initial response, to send (base64-encoded with [`encode_payload`]) in `<auth/>`.
    /// It may be empty, which [`encode_payload`] writes as `=`.
    ///
    /// [`encode_payload`]: super::encode_payload
    pub fn initial_response(&self) -> &[u8] {
        &self.initial
    }

    /// Answers a `<challenge/>` (its decoded data); the answer goes in `<response/>`.
    ///
    /// # Errors
    ///
    /// Any error ends the exchange; the client should send `<abort/>`.
    ///
    /// - [`SaslClientError::UnexpectedChallenge`] if the mechanism expects none now;
    /// - for the SCRAM server-first-message: [`SaslClientError::MalformedServerMessage`],
    ///   [`SaslClientError::UnsupportedExtension`], [`SaslClientError::NonceMismatch`],
    ///   [`SaslClientError::IterationCountOutOfRange`],
    ///   [`SaslClientError::CachedKeysMismatch`] or [`SaslClientError::ServerError`];
    /// - for a SCRAM server-final-message sent as a challenge:
    ///   [`SaslClientError::ServerSignatureMismatch`] or [`SaslClientError::ServerError`];
    /// - [`SaslClientError::Finished`] after the exchange ended.
    pub fn on_challenge(&mut self, challenge: &[u8]) -> Result<Vec<u8>, SaslClientError> {
        match std::mem::replace(&mut self.state, ClientState::Failed) {
            ClientState::ScramFirstSent(first) => {
                let (client_final, sent) = scram_client_final(
                    &first,
                    &self.initial,
                    challenge,
                    (self.min_iterations, self.max_iterations),
                    self.downgrade_protection.as_deref(),
                )?;
                self.state = ClientState::ScramFinalSent(sent);
                Ok(client_final)
            }
            ClientState::ScramFinalSent(sent) => {
                verify_server_final(challenge, &sent.server_signature)?;
                self.state = ClientState::ScramVerified(sent);
                Ok(Vec::new())
            }
            ClientState::AwaitingOutcome | ClientState::ScramVerified(_) => {
                Err(SaslClientError::UnexpectedChallenge)
            }
            done @ ClientState::Succeeded(_) => {
                self.state = done;
                Err(SaslClientError::Finished)
            }
            ClientState::Failed => Err(SaslClientError::Finished),
        }
    }

    /// Checks a `<success/>` and its additional data (decoded; empty if none).
    ///
    /// # Errors
    ///
    /// Any error means the server is not to be trusted, and the stream should be closed:
    ///
    /// - [`SaslClientError::MissingServerSignature`] if SCRAM has not yet seen the server's
    ///   signature and the data does not carry it;
    /// - [`SaslClientError::ServerSignatureMismatch`] if the signature is wrong;
    /// - [`SaslClientError::MalformedServerMessage`] or [`SaslClientError::ServerError`]
    ///   for other SCRAM data;
    /// - [`SaslClientError::UnexpectedSuccessData`] if a mechanism without additional data
    ///   on success got some;
    /// - [`SaslClientError::Finished`] after the exchange ended.
    pub fn on_success(&mut self, additional_data: &[u8]) -> Result<(), SaslClientError> {
        match std::mem::replace(&mut self.state, ClientState::Failed) {
            ClientState::AwaitingOutcome => {
                if !additional_data.is_empty() {
                    return Err(SaslClientError::UnexpectedSuccessData);
                }
                self.state = ClientState::Succeeded(None);
            }
            ClientState::ScramFirstSent(_) => {
                // Success before the server proved it knows the keys.
                return Err(SaslClientError::MissingServerSignature);
            }
            ClientState::ScramFinalSent(sent) => {
                if additional_data.is_empty() {
                    return Err(SaslClientError::MissingServerSignature);
                }
                verify_server_final(additional_data, &sent.server_signature)?;
                self.state = ClientState::Succeeded(Some(sent.keys));
            }
            ClientState::ScramVerified(sent) => {
                // Already verified; a server that repeats the server-final-message must
                // repeat it correctly.
                if !additional_data.is_empty() {
                    verify_server_final(additional_data, &sent.server_signature)?;
                }
                self.state = ClientState::Succeeded(Some(sent.keys));
            }
            done @ ClientState::Succeeded(_) => {
                self.state = done;
                return Err(SaslClientError::Finished);
            }
            ClientState::Failed => return Err(SaslClientError::Finished),
        }
        Ok(())
    }

    /// Whether the exchange succeeded (and, for SCRAM, the server proved itself).
    pub fn is_success(&self) -> bool {
        matches!(self.state, ClientState::Succeeded(_))
    }

    /// After a successful SCRAM exchange, the keys it used (as `ClientKey` and `ServerKey`),
    /// which the embedder may cache and pass in [`Credentials::scram_keys`] next time
    /// instead of the password.
    pub fn scram_keys(&self) -> Option<&ScramKeys> {
        match &self.state {
            ClientState::Succeeded(keys) => keys.as_ref(),
            _ => None,
        }
    }
}

impl fmt::Debug for SaslClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The initial response of PLAIN holds the password: leave it out.
        let state = match &self.state {
            ClientState::AwaitingOutcome => "awaiting outcome",
            ClientState::ScramFirstSent(_) => "client-first sent",
            ClientState::ScramFinalSent(_) => "client-final sent",
            ClientState::ScramVerified(_) => "server signature verified",
            ClientState::Succeeded(_) => "succeeded",
            ClientState::Failed => "failed",
        };
        f.debug_struct("SaslClient")
            .field("mechanism", &self.mechanism)
            .field("state", &state)
            .finish()
    }
}

/// Builds the client-first-message: `gs2-header client-first-message-bare`.
fn scram_client_first(
    mechanism: Mechanism,
    offered: &[Mechanism],
    config: &SaslClientConfig,
    credentials: Credentials,
    nonce: Nonce,
) -> Result<(Vec<u8>, ClientState), SaslClientError> {
    // `start` calls this for SCRAM mechanisms only.
    let hash = mechanism
        .scram_hash()
        .ok_or(SaslClientError::NoAcceptableMechanism)?;
    let username = prepare_username(&credentials.username)?;
    let password = match credentials.password.as_deref() {
        Some(p) => Some(prepare_password(p)?.into_owned()),
        None => None,
    };
    let mut msg = String::with_capacity(64 + username.len());
    let cb_data = if mechanism.is_plus() {
        // `choose` only picks -PLUS with channel binding data.
        let cb = config
            .channel_binding
            .as_ref()
            .ok_or(SaslClientError::NoAcceptableMechanism)?;
        msg.push_str("p=");
        msg.push_str(cb.kind.name());
        Some(cb.data.clone())
    } else {
        let server_offers_plus = offered.iter().any(|m| m.is_plus());
        msg.push(if config.channel_binding.is_some() && !server_offers_plus {
            'y'
        } else {
            'n'
        });
        None
    };
    msg.push(',');
    if let Some(authzid) = credentials.authzid_str() {
        msg.push_str("a=");
        scram::push_saslname(&mut msg, authzid);
    }
    msg.push(',');
    let gs2_header_len = msg.len();
    msg.push_str("n=");
    scram::push_saslname(&mut msg, &username);
    msg.push_str(",r=");
    msg.push_str(nonce.as_str());
    let state = ClientState::ScramFirstSent(ScramFirstSent {
        hash,
        gs2_header_len,
        cb_data,
        client_nonce: nonce,
        password,
        cached: credentials.scram_keys,
    });
    Ok((msg.into_bytes(), state))
}

/// Reads the server-first-message and builds the client-final-message (RFC 5802
/// sections 3 and 5.1).
fn scram_client_final(
    first: &ScramFirstSent,
    initial: &[u8],
    challenge: &[u8],
    (min_iterations, max_iterations): (u32, u32),
    downgrade_protection: Option<&[u8]>,
) -> Result<(Vec<u8>, ScramFinalSent), SaslClientError> {
    let hash = first.hash;
    let server_first = scram::message_str(challenge)?;
    let parsed = scram::parse_server_first(server_first).map_err(|e| match e {
        ServerFirstError::Syntax(e) => SaslClientError::MalformedServerMessage(e),
        ServerFirstError::MandatoryExtension => SaslClientError::UnsupportedExtension,
        ServerFirstError::ServerError(e) => SaslClientError::ServerError(e),
    })?;
    // XEP-0474 section 5.2: the server's hash of what it advertised must be ours of what
    // we saw, else someone between us removed mechanisms or channel-binding types. (The
    // server signs `h=` too, as part of the AuthMessage: a forged one fails the proof.)
    if let (Some(h), Some(s)) = (parsed.ssdp, downgrade_protection) {
        let ours = scram::downgrade_protection_hash(hash, s);
        if !ct_eq(h.as_bytes(), ours.as_bytes()) {
            return Err(SaslClientError::DowngradeDetected);
        }
    }
    // The server must repeat our nonce and add its own part (RFC 5802 section 5.1);
    // without its part, an old exchange could be replayed.
    let client_nonce = first.client_nonce.as_str();
    if !parsed.nonce.starts_with(client_nonce) || parsed.nonce.len() == client_nonce.len() {
        return Err(SaslClientError::NonceMismatch);
    }
    let iterations = u32::try_from(parsed.iterations)
        .ok()
        .filter(|i| (min_iterations..=max_iterations).contains(i))
        .and_then(NonZeroU32::new)
        .ok_or(SaslClientError::IterationCountOutOfRange {
            count: parsed.iterations,
            min: min_iterations,
            max: max_iterations,
        })?;
    let salt = parsed.salt;

    let cached = first
        .cached
        .as_ref()
        .filter(|k| k.hash == hash && k.salt == salt && k.iterations == iterations)
        .and_then(ScramKeys::client_and_server_keys);
    let (client_key, server_key) = match (cached, &first.password) {
        (Some(keys), _) => keys,
        (None, Some(password)) => {
            hash.client_and_server_keys(&hash.hi(password.as_bytes(), &salt, iterations))
        }
        (None, None) => return Err(SaslClientError::CachedKeysMismatch),
    };

    // client-final-message-without-proof = "c=" base64(gs2-header [cbind-data]) ",r=" nonce
    let (gs2_header, bare) = initial.split_at(first.gs2_header_len);
    let mut cbind_input = gs2_header.to_vec();
    if let Some(data) = &first.cb_data {
        cbind_input.extend_from_slice(data);
    }
    let mut client_final = String::with_capacity(128 + parsed.nonce.len());
    client_final.push_str("c=");
    scram::push_base64(&mut client_final, &cbind_input);
    client_final.push_str(",r=");
    client_final.push_str(parsed.nonce);

    // AuthMessage = client-first-message-bare "," server-first-message ","
    //               client-final-message-without-proof
    let auth_message: &[&[u8]] = &[
        bare,
        b",",
        server_first.as_bytes(),
        b",",
        client_final.as_bytes(),
    ];
    let stored_key = hash.hash(&client_key);
    let client_signature = hash.hmac(&stored_key, auth_message);
    let proof = scram::xor(&client_key, &client_signature);
    let server_signature = hash.hmac(&server_key, auth_message);

    client_final.push_str(",p=");
    scram::push_base64(&mut client_final, &proof);
    let keys = ScramKeys {
        hash,
        salt,
        iterations,
        secret: ScramSecret::Keys {
            client_key,
            server_key,
        },
    };
    Ok((
        client_final.into_bytes(),
        ScramFinalSent {
            server_signature,
            keys,
        },
    ))
}

/// Verifies a server-final-message against the expected `ServerSignature`.
fn verify_server_final(data: &[u8], expected: &[u8]) -> Result<(), SaslClientError> {
    match scram::parse_server_final(scram::message_str(data)?)? {
        ServerFinal::Error(e) => Err(SaslClientError::ServerError(e)),
        ServerFinal::Verifier(signature) if ct_eq(&signature, expected) => Ok(()),
        ServerFinal::Verifier(_) => Err(SaslClientError::ServerSignatureMismatch),
    }
}

/// Why the client side of an exchange failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SaslClientError {
    /// None of the offered mechanisms is in the preference list and usable with the
    /// credentials, channel binding and `PLAIN` policy at hand.
    NoAcceptableMechanism,
    /// The username or password is refused by its PRECIS profile.
    Preparation(PreparationError),
    /// The authzid has a NUL, which no mechanism can carry.
    InvalidAuthzid,
    /// The `ANONYMOUS` trace token is longer than 255 characters or has a NUL (RFC 4505
    /// section 2).
    InvalidTraceToken,
    /// A SCRAM message from the server does not follow RFC 5802 section 7.
    MalformedServerMessage(ScramSyntaxError),
    /// The server-first-message has a mandatory extension (`m=`) this client does not
    /// know; RFC 5802 section 5.1 says to fail.
    UnsupportedExtension,
    /// The server's nonce does not start with the client's nonce, or adds nothing to it.
    NonceMismatch,
    /// The iteration count is 0, below the configured minimum, or above the configured
    /// maximum.
    IterationCountOutOfRange {
        /// The count the server sent (saturated at `u64::MAX`).
        count: u64,
        /// The smallest count accepted.
        min: u32,
        /// The largest count accepted.
        max: u32,
    },
    /// The cached SCRAM keys are for another salt, iteration count or hash (the password
    /// was probably changed), and no password was given to fall back on.
    CachedKeysMismatch,
    /// The server sent a SCRAM error (`e=`).
    ServerError(ScramServerError),
    /// The server's signature is wrong: the server does not know the keys, so it is not the
    /// server the password was set on, and its success must not be believed.
    ServerSignatureMismatch,
    /// The server announced success without its SCRAM signature.
    MissingServerSignature,
    /// A challenge came where the mechanism expects none.
    UnexpectedChallenge,
    /// A success came with additional data that the mechanism does not define.
    UnexpectedSuccessData,
    /// The exchange has already ended.
    Finished,
    /// XEP-0474: the server's hash of the mechanisms and channel-binding types it
    /// advertised is not the hash of those the client saw: they were changed on the way.
    DowngradeDetected,
}

impl From<PreparationError> for SaslClientError {
    fn from(e: PreparationError) -> Self {
        SaslClientError::Preparation(e)
    }
}

impl From<ScramSyntaxError> for SaslClientError {
    fn from(e: ScramSyntaxError) -> Self {
        SaslClientError::MalformedServerMessage(e)
    }
}

impl fmt::Display for SaslClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SaslClientError::NoAcceptableMechanism => {
                f.write_str("the server offers no SASL mechanism this client may use")
            }
            SaslClientError::Preparation(e) => e.fmt(f),
            SaslClientError::InvalidAuthzid => {
                f.write_str("the authorization identity contains a NUL character")
            }
            SaslClientError::InvalidTraceToken => f.write_str(
                "the ANONYMOUS trace token is longer than 255 characters or contains a NUL",
            ),
            SaslClientError::MalformedServerMessage(e) => {
                write!(f, "malformed SCRAM message from the server: {e}")
            }
            SaslClientError::UnsupportedExtension => {
                f.write_str("the server requires a SCRAM extension this client does not know")
            }
            SaslClientError::NonceMismatch => {
                f.write_str("the server's SCRAM nonce does not extend the client's nonce")
            }
            SaslClientError::IterationCountOutOfRange { count, min, max } => write!(
                f,
                "the server's SCRAM iteration count {count} is outside the accepted range {min} to {max}"
            ),
            SaslClientError::CachedKeysMismatch => f.write_str(
                "the cached SCRAM keys do not match the server's salt and iteration count, and no password was given",
            ),
            SaslClientError::ServerError(e) => write!(f, "the server refused: {e}"),
            SaslClientError::ServerSignatureMismatch => f.write_str(
                "the server's SCRAM signature is wrong: the server does not know the credentials",
            ),
            SaslClientError::MissingServerSignature => {
                f.write_str("the server announced success without proving it knows the credentials")
            }
            SaslClientError::UnexpectedChallenge => {
                f.write_str("the server sent a challenge the mechanism does not expect")
            }
            SaslClientError::UnexpectedSuccessData => {
                f.write_str("the server sent success data the mechanism does not define")
            }
            SaslClientError::Finished => f.write_str("the SASL exchange has already ended"),
            SaslClientError::DowngradeDetected => f.write_str(
                "the server's downgrade protection hash (XEP-0474) does not match the mechanisms and channel-binding types received: they were tampered with",
            ),
        }
    }
}

impl std::error::Error for SaslClientError {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sasl::CbType;

    fn nonce() -> Nonce {
        Nonce::new("abc").unwrap()
    }

    #[test]
    fn selection_follows_preference_and_policy() {
        let creds = Credentials::new("user", "pencil");
        let config = SaslClientConfig::default();
        let all = ["PLAIN", "SCRAM-SHA-1", "SCRAM-SHA-256", "SCRAM-SHA-1-PLUS"];
        assert_eq!(
            select_mechanism(all, &config, &creds),
            Some(Mechanism::ScramSha256)
        );
        assert_eq!(select_mechanism(["PLAIN"], &config, &creds), None);
        let plain_ok = SaslClientConfig {
            allow_plain: true,
            ..SaslClientConfig::default()
        };
        assert_eq!(
            select_mechanism(["PLAIN", "X-UNKNOWN"], &plain_ok, &creds),
            Some(Mechanism::Plain)
        );
        let with_cb = SaslClientConfig {
            channel_binding: Some(ChannelBinding::new(CbType::TlsExporter, [1; 32])),
            ..SaslClientConfig::default()
        };
        assert_eq!(
            select_mechanism(all, &with_cb, &creds),
            Some(Mechanism::ScramSha1Plus)
        );
        // EXTERNAL only when asked for.
        assert_eq!(select_mechanism(["EXTERNAL"], &config, &creds), None);
        let external = SaslClientConfig {
            preference: vec![Mechanism::External],
            ..SaslClientConfig::default()
        };
        assert_eq!(
            select_mechanism(["EXTERNAL"], &external, &Credentials::default()),
            Some(Mechanism::External)
        );
        // Cached keys only serve their own hash.
        let keys = ScramKeys {
            hash: ScramHash::Sha1,
            salt: vec![1],
            iterations: NonZeroU32::new(1).unwrap(),
            secret: ScramSecret::SaltedPassword(vec![0; 20]),
        };
        let cached = Credentials::with_scram_keys("user", keys);
        assert_eq!(
            select_mechanism(all, &config, &cached),
            Some(Mechanism::ScramSha1)
        );
    }

    #[test]
    fn gs2_flags() {
        let creds = || Credentials::new("user", "pencil");
        let cb = SaslClientConfig {
            channel_binding: Some(ChannelBinding::new(CbType::TlsExporter, [1; 32])),
            ..SaslClientConfig::default()
        };
        let c = SaslClient::start(["SCRAM-SHA-1"], &cb, creds(), nonce()).unwrap();
        assert_eq!(c.initial_response(), b"y,,n=user,r=abc");
        let c = SaslClient::start(["SCRAM-SHA-1", "SCRAM-SHA-1-PLUS"], &cb, creds(), nonce());
        assert_eq!(
            c.unwrap().initial_response(),
            b"p=tls-exporter,,n=user,r=abc"
        );
        let plain_pref = SaslClientConfig {
            preference: vec![Mechanism::ScramSha1],
            ..cb.clone()
        };
        let c = SaslClient::start(
            ["SCRAM-SHA-1", "SCRAM-SHA-1-PLUS"],
            &plain_pref,
            creds(),
            nonce(),
        );
        assert_eq!(c.unwrap().initial_response(), b"n,,n=user,r=abc");
        let none = SaslClientConfig::default();
        let c = SaslClient::start(["SCRAM-SHA-1"], &none, creds().authzid("a,=b"), nonce());
        assert_eq!(c.unwrap().initial_response(), b"n,a=a=2C=3Db,n=user,r=abc");
    }

    #[test]
    fn debug_hides_secrets() {
        let creds = Credentials::new("user", "hunter2");
        assert!(!format!("{creds:?}").contains("hunter2"));
        let config = SaslClientConfig {
            allow_plain: true,
            ..SaslClientConfig::default()
        };
        let c = SaslClient::start(["PLAIN"], &config, creds, nonce()).unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
