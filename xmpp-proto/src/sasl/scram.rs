//! SCRAM (RFC 5802, RFC 7677): the key derivation of RFC 5802 section 3, the message syntax
//! of section 7, and the keys that clients may cache and servers store.
//!
//! Both sides use these pieces; the state machines are in `client.rs` and `server.rs`.

use core::fmt;
use std::borrow::Cow;
use std::num::NonZeroU32;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{EagerHash, Hmac, KeyInit, Mac};

use super::{PreparationError, prepare_password};

// ---------------------------------------------------------------------------
// Hash functions and key derivation (RFC 5802 section 3)
// ---------------------------------------------------------------------------

/// The hash function of a SCRAM mechanism.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScramHash {
    /// SHA-1, for `SCRAM-SHA-1` and `SCRAM-SHA-1-PLUS` (RFC 5802).
    Sha1,
    /// SHA-256, for `SCRAM-SHA-256` and `SCRAM-SHA-256-PLUS` (RFC 7677).
    Sha256,
}

impl ScramHash {
    /// The output size in bytes, which is also the size of every SCRAM key and proof.
    pub const fn output_len(self) -> usize {
        match self {
            ScramHash::Sha1 => 20,
            ScramHash::Sha256 => 32,
        }
    }

    /// The hash's name, as in the SCRAM mechanism name (`SHA-1`, `SHA-256`).
    pub const fn name(self) -> &'static str {
        match self {
            ScramHash::Sha1 => "SHA-1",
            ScramHash::Sha256 => "SHA-256",
        }
    }

    /// `H(data)`.
    pub(crate) fn hash(self, data: &[u8]) -> Vec<u8> {
        use sha1::Digest as _;
        match self {
            ScramHash::Sha1 => sha1::Sha1::digest(data).to_vec(),
            ScramHash::Sha256 => sha2::Sha256::digest(data).to_vec(),
        }
    }

    /// `HMAC(key, parts[0] || parts[1] || ...)`.
    pub(crate) fn hmac(self, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        fn run<D: EagerHash>(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
            // HMAC hashes keys longer than a block and pads shorter ones, so every key
            // length is valid and this cannot fail.
            let mut mac =
                <Hmac<D> as KeyInit>::new_from_slice(key).expect("HMAC accepts keys of any length");
            for part in parts {
                mac.update(part);
            }
            mac.finalize().into_bytes().to_vec()
        }
        match self {
            ScramHash::Sha1 => run::<sha1::Sha1>(key, parts),
            ScramHash::Sha256 => run::<sha2::Sha256>(key, parts),
        }
    }

    /// `Hi(password, salt, i)`: PBKDF2 with HMAC and an output of one hash length
    /// (RFC 5802 section 2.2).
    pub(crate) fn hi(self, password: &[u8], salt: &[u8], iterations: NonZeroU32) -> Vec<u8> {
        let mut out = vec![0; self.output_len()];
        match self {
            ScramHash::Sha1 => {
                pbkdf2::pbkdf2_hmac::<sha1::Sha1>(password, salt, iterations.get(), &mut out)
            }
            ScramHash::Sha256 => {
                pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password, salt, iterations.get(), &mut out)
            }
        }
        out
    }

    /// `ClientKey` and `ServerKey` from `SaltedPassword`.
    pub(crate) fn client_and_server_keys(self, salted_password: &[u8]) -> (Vec<u8>, Vec<u8>) {
        (
            self.hmac(salted_password, &[b"Client Key"]),
            self.hmac(salted_password, &[b"Server Key"]),
        )
    }
}

/// SCRAM keys a client may cache instead of the password (RFC 5802 section 5.1: "the client
/// can cache the ClientKey/ServerKey ... for subsequent authentication").
///
/// They are only valid for the salt and iteration count they were derived with; the server
/// announces both in its first message, and [`SaslClient`](super::SaslClient) uses the
/// cached keys only when they match. They are as good as the password for logging into this
/// server, so store them as carefully.
#[derive(Clone, PartialEq, Eq)]
pub struct ScramKeys {
    /// The hash of the mechanism the keys are for.
    pub hash: ScramHash,
    /// The salt the server announced (`s=`, decoded).
    pub salt: Vec<u8>,
    /// The iteration count the server announced (`i=`).
    pub iterations: NonZeroU32,
    /// The keys themselves.
    pub secret: ScramSecret,
}

/// The secret part of [`ScramKeys`].
#[derive(Clone, PartialEq, Eq)]
pub enum ScramSecret {
    /// `SaltedPassword = Hi(Normalize(password), salt, i)`, from which both keys follow.
    SaltedPassword(Vec<u8>),
    /// `ClientKey` and `ServerKey`, what an exchange needs.
    Keys {
        /// `ClientKey = HMAC(SaltedPassword, "Client Key")`.
        client_key: Vec<u8>,
        /// `ServerKey = HMAC(SaltedPassword, "Server Key")`.
        server_key: Vec<u8>,
    },
}

impl fmt::Debug for ScramSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Password equivalents: name the form only.
        f.write_str(match self {
            ScramSecret::SaltedPassword(_) => "SaltedPassword(<redacted>)",
            ScramSecret::Keys { .. } => "Keys(<redacted>)",
        })
    }
}

impl ScramKeys {
    /// Derives the keys from a password (prepared here with `OpaqueString`), keeping the
    /// salted password.
    ///
    /// # Errors
    ///
    /// [`PreparationError::Password`] if the password is empty or not allowed by
    /// `OpaqueString`.
    pub fn from_password(
        password: &str,
        salt: Vec<u8>,
        iterations: NonZeroU32,
        hash: ScramHash,
    ) -> Result<Self, PreparationError> {
        let password = prepare_password(password)?;
        let salted = hash.hi(password.as_bytes(), &salt, iterations);
        Ok(ScramKeys {
            hash,
            salt,
            iterations,
            secret: ScramSecret::SaltedPassword(salted),
        })
    }

    /// `ClientKey` and `ServerKey`, or `None` if a key does not have the hash's length
    /// (corrupt cache).
    pub(crate) fn client_and_server_keys(&self) -> Option<(Vec<u8>, Vec<u8>)> {
        let len = self.hash.output_len();
        match &self.secret {
            ScramSecret::SaltedPassword(salted) if salted.len() == len => {
                Some(self.hash.client_and_server_keys(salted))
            }
            ScramSecret::Keys {
                client_key,
                server_key,
            } if client_key.len() == len && server_key.len() == len => {
                Some((client_key.clone(), server_key.clone()))
            }
            _ => None,
        }
    }
}

impl fmt::Debug for ScramKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Keys are password equivalents: keep them out of logs.
        f.debug_struct("ScramKeys")
            .field("hash", &self.hash)
            .field("salt", &BASE64.encode(&self.salt))
            .field("iterations", &self.iterations)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// What a server stores for a SCRAM account (RFC 5802 section 3): enough to verify a client
/// and to prove itself, but not the password, and not enough to log in as the user.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredScram {
    /// The hash of the mechanism the entry is for.
    pub hash: ScramHash,
    /// The salt.
    pub salt: Vec<u8>,
    /// The iteration count.
    pub iterations: NonZeroU32,
    /// `StoredKey = H(ClientKey)`.
    pub stored_key: Vec<u8>,
    /// `ServerKey = HMAC(SaltedPassword, "Server Key")`.
    pub server_key: Vec<u8>,
}

impl StoredScram {
    /// Derives the entry for `password` (prepared here with `OpaqueString`), for example
    /// when an account is created or its password changed. `salt` should be random, 16
    /// bytes or more; RFC 7677 section 4 asks for at least 4096 iterations.
    ///
    /// # Errors
    ///
    /// [`PreparationError::Password`] if the password is empty or not allowed by
    /// `OpaqueString`.
    pub fn from_password(
        password: &str,
        salt: Vec<u8>,
        iterations: NonZeroU32,
        hash: ScramHash,
    ) -> Result<Self, PreparationError> {
        let password = prepare_password(password)?;
        let salted = hash.hi(password.as_bytes(), &salt, iterations);
        Ok(StoredScram::from_salted_password(
            hash, salt, iterations, &salted,
        ))
    }

    pub(crate) fn from_salted_password(
        hash: ScramHash,
        salt: Vec<u8>,
        iterations: NonZeroU32,
        salted_password: &[u8],
    ) -> Self {
        let (client_key, server_key) = hash.client_and_server_keys(salted_password);
        StoredScram {
            hash,
            salt,
            iterations,
            stored_key: hash.hash(&client_key),
            server_key,
        }
    }

    /// Whether the keys have the hash's length; anything else is a corrupt entry.
    pub(crate) fn is_well_formed(&self) -> bool {
        let len = self.hash.output_len();
        self.stored_key.len() == len && self.server_key.len() == len
    }
}

impl fmt::Debug for StoredScram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredScram")
            .field("hash", &self.hash)
            .field("salt", &BASE64.encode(&self.salt))
            .field("iterations", &self.iterations)
            .field("stored_key", &"<redacted>")
            .field("server_key", &"<redacted>")
            .finish()
    }
}

/// `a XOR b`, for `ClientProof = ClientKey XOR ClientSignature` and its inverse. The
/// callers make sure both have the hash's length.
pub(crate) fn xor(a: &[u8], b: &[u8]) -> Vec<u8> {
    a.iter().zip(b).map(|(x, y)| x ^ y).collect()
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/// Why a SCRAM message does not follow the syntax of RFC 5802 section 7.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScramSyntaxError {
    /// The message is not UTF-8 (RFC 5802 section 5.1: all messages are UTF-8), or has a
    /// NUL, which no part of a SCRAM message may contain.
    NotUtf8,
    /// The GS2 header (`n,,`, `y,,`, `p=type,,`, with an optional `a=authzid`) is malformed
    /// (RFC 5802 section 7, `gs2-header`).
    Gs2Header,
    /// An attribute is missing or out of place; this one was expected.
    Expected(char),
    /// `n=` or `a=` is empty or has `=` not followed by `2C` or `3D` (`saslname`).
    SaslName,
    /// `r=` is empty or has a character outside `%x21-2B / %x2D-7E`.
    Nonce,
    /// The value of this attribute is not base64.
    Base64(char),
    /// `i=` is not a positive decimal number.
    IterationCount,
    /// `e=` is empty.
    ServerError,
    /// An optional extension attribute at the end is not `letter=value`.
    Extension,
}

impl fmt::Display for ScramSyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScramSyntaxError::NotUtf8 => {
                f.write_str("the SCRAM message is not UTF-8 or contains a NUL character")
            }
            ScramSyntaxError::Gs2Header => f.write_str("malformed GS2 header"),
            ScramSyntaxError::Expected(a) => {
                write!(f, "the attribute '{a}=' is missing or out of place")
            }
            ScramSyntaxError::SaslName => {
                f.write_str("malformed name: empty, or '=' not followed by 2C or 3D")
            }
            ScramSyntaxError::Nonce => {
                f.write_str("malformed nonce: empty, or a character other than printable ASCII")
            }
            ScramSyntaxError::Base64(a) => write!(f, "the value of '{a}=' is not base64"),
            ScramSyntaxError::IterationCount => {
                f.write_str("the iteration count is not a positive decimal number")
            }
            ScramSyntaxError::ServerError => f.write_str("empty server error"),
            ScramSyntaxError::Extension => f.write_str("malformed extension attribute"),
        }
    }
}

impl std::error::Error for ScramSyntaxError {}

/// A `server-error-value` of RFC 5802 section 7, sent by a server as `e=` instead of its
/// signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScramServerError {
    /// `invalid-encoding`.
    InvalidEncoding,
    /// `extensions-not-supported`.
    ExtensionsNotSupported,
    /// `invalid-proof`: wrong password (or cached keys).
    InvalidProof,
    /// `channel-bindings-dont-match`.
    ChannelBindingsDontMatch,
    /// `server-does-support-channel-binding`: the server saw `y` and supports channel
    /// binding, a sign of a downgrade attack.
    ServerDoesSupportChannelBinding,
    /// `channel-binding-not-supported`.
    ChannelBindingNotSupported,
    /// `unsupported-channel-binding-type`.
    UnsupportedChannelBindingType,
    /// `unknown-user`.
    UnknownUser,
    /// `invalid-username-encoding`.
    InvalidUsernameEncoding,
    /// `no-resources`.
    NoResources,
    /// `other-error`.
    OtherError,
    /// A value RFC 5802 does not define; the RFC says to treat it as `other-error`.
    Unrecognized(String),
}

impl ScramServerError {
    fn parse(value: &str) -> Self {
        match value {
            "invalid-encoding" => ScramServerError::InvalidEncoding,
            "extensions-not-supported" => ScramServerError::ExtensionsNotSupported,
            "invalid-proof" => ScramServerError::InvalidProof,
            "channel-bindings-dont-match" => ScramServerError::ChannelBindingsDontMatch,
            "server-does-support-channel-binding" => {
                ScramServerError::ServerDoesSupportChannelBinding
            }
            "channel-binding-not-supported" => ScramServerError::ChannelBindingNotSupported,
            "unsupported-channel-binding-type" => ScramServerError::UnsupportedChannelBindingType,
            "unknown-user" => ScramServerError::UnknownUser,
            "invalid-username-encoding" => ScramServerError::InvalidUsernameEncoding,
            "no-resources" => ScramServerError::NoResources,
            "other-error" => ScramServerError::OtherError,
            other => ScramServerError::Unrecognized(other.to_owned()),
        }
    }

    /// The value as sent.
    pub fn as_str(&self) -> &str {
        match self {
            ScramServerError::InvalidEncoding => "invalid-encoding",
            ScramServerError::ExtensionsNotSupported => "extensions-not-supported",
            ScramServerError::InvalidProof => "invalid-proof",
            ScramServerError::ChannelBindingsDontMatch => "channel-bindings-dont-match",
            ScramServerError::ServerDoesSupportChannelBinding => {
                "server-does-support-channel-binding"
            }
            ScramServerError::ChannelBindingNotSupported => "channel-binding-not-supported",
            ScramServerError::UnsupportedChannelBindingType => "unsupported-channel-binding-type",
            ScramServerError::UnknownUser => "unknown-user",
            ScramServerError::InvalidUsernameEncoding => "invalid-username-encoding",
            ScramServerError::NoResources => "no-resources",
            ScramServerError::OtherError => "other-error",
            ScramServerError::Unrecognized(s) => s,
        }
    }
}

impl fmt::Display for ScramServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

// ---------------------------------------------------------------------------
// Syntax (RFC 5802 section 7)
// ---------------------------------------------------------------------------

/// `printable = %x21-2B / %x2D-7E`, one or more: the syntax of a nonce.
pub(crate) fn is_printable(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| matches!(b, 0x21..=0x2B | 0x2D..=0x7E))
}

/// Appends `name` as a `saslname`: `,` becomes `=2C` and `=` becomes `=3D`.
pub(crate) fn push_saslname(out: &mut String, name: &str) {
    for c in name.chars() {
        match c {
            ',' => out.push_str("=2C"),
            '=' => out.push_str("=3D"),
            c => out.push(c),
        }
    }
}

/// Decodes a `saslname`. It is never empty, and `=` only starts `=2C` or `=3D`. A NUL
/// cannot be in the result, since the messages are checked for it before.
pub(crate) fn decode_saslname(value: &str) -> Result<Cow<'_, str>, ScramSyntaxError> {
    if value.is_empty() {
        return Err(ScramSyntaxError::SaslName);
    }
    if !value.contains('=') {
        return Ok(Cow::Borrowed(value));
    }
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(at) = rest.find('=') {
        out.push_str(&rest[..at]);
        let escape = rest.get(at..at + 3);
        match escape {
            Some("=2C") => out.push(','),
            Some("=3D") => out.push('='),
            _ => return Err(ScramSyntaxError::SaslName),
        }
        rest = &rest[at + 3..];
    }
    out.push_str(rest);
    Ok(Cow::Owned(out))
}

/// The value of `part` if it is the attribute `name` (`name=value`).
pub(crate) fn attribute(part: Option<&str>, name: char) -> Result<&str, ScramSyntaxError> {
    part.and_then(|p| {
        let mut chars = p.chars();
        (chars.next() == Some(name) && chars.next() == Some('=')).then(|| &p[2..])
    })
    .ok_or(ScramSyntaxError::Expected(name))
}

/// Decodes a base64 attribute value.
pub(crate) fn base64_value(value: &str, name: char) -> Result<Vec<u8>, ScramSyntaxError> {
    BASE64
        .decode(value)
        .map_err(|_| ScramSyntaxError::Base64(name))
}

/// Encodes bytes as base64 into `out`.
pub(crate) fn push_base64(out: &mut String, data: &[u8]) {
    BASE64.encode_string(data, out);
}

/// Checks the optional extensions at the end of a message: `attr-val = ALPHA "=" value`,
/// where a value is one or more characters other than `,` (and NUL, already excluded).
/// Unknown extensions are ignored (RFC 5802 section 7: only `m=` is mandatory to
/// understand).
pub(crate) fn check_extensions<'a>(
    parts: impl Iterator<Item = &'a str>,
) -> Result<(), ScramSyntaxError> {
    for part in parts {
        let b = part.as_bytes();
        if b.len() < 3 || !b[0].is_ascii_alphabetic() || b[1] != b'=' {
            return Err(ScramSyntaxError::Extension);
        }
    }
    Ok(())
}

/// Reads a SCRAM message as UTF-8 without NUL (RFC 5802 section 7: `value-char` excludes
/// NUL, and every part of every message is a value or a `saslname`).
pub(crate) fn message_str(bytes: &[u8]) -> Result<&str, ScramSyntaxError> {
    let s = core::str::from_utf8(bytes).map_err(|_| ScramSyntaxError::NotUtf8)?;
    if s.contains('\0') {
        return Err(ScramSyntaxError::NotUtf8);
    }
    Ok(s)
}

/// The iteration count `i=`: a `posit-number` (`%x31-39 *DIGIT`), read into a `u64` that
/// saturates, so that an absurd count is reported as a number rather than as a syntax
/// error. `0` is read as `0`, to be refused as out of range.
pub(crate) fn iteration_count(value: &str) -> Result<u64, ScramSyntaxError> {
    let b = value.as_bytes();
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) || (b[0] == b'0' && b.len() > 1) {
        return Err(ScramSyntaxError::IterationCount);
    }
    Ok(b.iter().fold(0u64, |n, d| {
        n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    }))
}

/// A parsed server-first-message (RFC 5802 section 7).
pub(crate) struct ServerFirst<'a> {
    /// The whole nonce: the client's part followed by the server's.
    pub nonce: &'a str,
    pub salt: Vec<u8>,
    pub iterations: u64,
    /// XEP-0474's `h=` extension: the hash of what the server advertised, if it sent one.
    pub ssdp: Option<&'a str>,
}

/// XEP-0474 section 5.1's string S: the advertised mechanisms sorted (`i;octet`) and joined
/// with `%x1E`, then, when channel-binding types were advertised (XEP-0440), `%x1F` and the
/// types sorted and joined likewise.
pub fn downgrade_protection_input(
    mechanisms: &[&str],
    channel_bindings: Option<&[&str]>,
) -> Vec<u8> {
    let mut mechanisms = mechanisms.to_vec();
    mechanisms.sort_unstable();
    let mut s = mechanisms.join("\u{1e}").into_bytes();
    if let Some(cbs) = channel_bindings {
        let mut cbs = cbs.to_vec();
        cbs.sort_unstable();
        s.push(0x1f);
        s.extend_from_slice(cbs.join("\u{1e}").as_bytes());
    }
    s
}

/// XEP-0474 section 5.1's `h=` value: base64 of the SCRAM hash of S.
pub(crate) fn downgrade_protection_hash(hash: ScramHash, input: &[u8]) -> String {
    let mut out = String::new();
    push_base64(&mut out, &hash.hash(input));
    out
}

/// What can be wrong with a server-first-message, beyond its syntax.
pub(crate) enum ServerFirstError {
    Syntax(ScramSyntaxError),
    /// `m=`: a mandatory extension this implementation does not know.
    MandatoryExtension,
    /// `e=`: not in the grammar of server-first, but sent by some servers to refuse early.
    ServerError(ScramServerError),
}

impl From<ScramSyntaxError> for ServerFirstError {
    fn from(e: ScramSyntaxError) -> Self {
        ServerFirstError::Syntax(e)
    }
}

/// Parses `[reserved-mext ","] nonce "," salt "," iteration-count ["," extensions]`.
pub(crate) fn parse_server_first(msg: &str) -> Result<ServerFirst<'_>, ServerFirstError> {
    let mut parts = msg.split(',');
    let mut first = parts.next();
    if let Some(p) = first {
        if p.starts_with("m=") {
            return Err(ServerFirstError::MandatoryExtension);
        }
        if let Some(e) = p.strip_prefix("e=") {
            if e.is_empty() {
                return Err(ScramSyntaxError::ServerError.into());
            }
            return Err(ServerFirstError::ServerError(ScramServerError::parse(e)));
        }
    }
    let nonce = attribute(first.take(), 'r')?;
    if !is_printable(nonce) {
        return Err(ScramSyntaxError::Nonce.into());
    }
    let salt = base64_value(attribute(parts.next(), 's')?, 's')?;
    let iterations = iteration_count(attribute(parts.next(), 'i')?)?;
    let extensions: Vec<&str> = parts.collect();
    check_extensions(extensions.iter().copied())?;
    let ssdp = extensions.iter().find_map(|e| e.strip_prefix("h="));
    Ok(ServerFirst {
        nonce,
        salt,
        iterations,
        ssdp,
    })
}

/// A parsed server-final-message (RFC 5802 section 7).
pub(crate) enum ServerFinal {
    /// `v=`: the server signature.
    Verifier(Vec<u8>),
    /// `e=`: the server refused.
    Error(ScramServerError),
}

/// Parses `(server-error / verifier) ["," extensions]`.
pub(crate) fn parse_server_final(msg: &str) -> Result<ServerFinal, ScramSyntaxError> {
    let mut parts = msg.split(',');
    let first = parts.next();
    let result = if let Some(e) = first.and_then(|p| p.strip_prefix("e=")) {
        if e.is_empty() {
            return Err(ScramSyntaxError::ServerError);
        }
        ServerFinal::Error(ScramServerError::parse(e))
    } else {
        ServerFinal::Verifier(base64_value(attribute(first, 'v')?, 'v')?)
    };
    check_extensions(parts)?;
    Ok(result)
}

/// The channel binding flag of a GS2 header (RFC 5802 section 7, `gs2-cbind-flag`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CbFlag<'a> {
    /// `n`: the client does not support channel binding.
    None,
    /// `y`: the client supports channel binding but thinks the server does not.
    ClientOnly,
    /// `p=name`: the client uses channel binding of this type.
    Used(&'a str),
}

/// A parsed client-first-message.
pub(crate) struct ClientFirst<'a> {
    pub flag: CbFlag<'a>,
    pub authzid: Option<Cow<'a, str>>,
    /// The GS2 header, with its final comma, as sent: the client repeats it in `c=`.
    pub gs2_header: &'a str,
    /// The client-first-message-bare, as sent: part of the AuthMessage.
    pub bare: &'a str,
    pub username: Cow<'a, str>,
    pub nonce: &'a str,
}

/// What can be wrong with a client-first-message.
pub(crate) enum ClientFirstError {
    Syntax(ScramSyntaxError),
    /// `m=`: a mandatory extension this implementation does not know.
    MandatoryExtension,
}

impl From<ScramSyntaxError> for ClientFirstError {
    fn from(e: ScramSyntaxError) -> Self {
        ClientFirstError::Syntax(e)
    }
}

/// Parses `gs2-header client-first-message-bare`.
pub(crate) fn parse_client_first(msg: &str) -> Result<ClientFirst<'_>, ClientFirstError> {
    // The GS2 header is `flag "," [authzid] ","`: split at its first two commas.
    let (flag, rest) = msg.split_once(',').ok_or(ScramSyntaxError::Gs2Header)?;
    let (authzid, bare) = rest.split_once(',').ok_or(ScramSyntaxError::Gs2Header)?;
    let gs2_header = &msg[..flag.len() + authzid.len() + 2];
    let flag = match flag {
        "n" => CbFlag::None,
        "y" => CbFlag::ClientOnly,
        _ => {
            // cb-name = 1*(ALPHA / DIGIT / "." / "-")
            let name = flag.strip_prefix("p=").ok_or(ScramSyntaxError::Gs2Header)?;
            let valid = |b: u8| b.is_ascii_alphanumeric() || b == b'.' || b == b'-';
            if name.is_empty() || !name.bytes().all(valid) {
                return Err(ScramSyntaxError::Gs2Header.into());
            }
            CbFlag::Used(name)
        }
    };
    let authzid = if authzid.is_empty() {
        None
    } else {
        let value = authzid
            .strip_prefix("a=")
            .ok_or(ScramSyntaxError::Gs2Header)?;
        Some(decode_saslname(value)?)
    };
    let mut parts = bare.split(',');
    let mut first = parts.next();
    if first.is_some_and(|p| p.starts_with("m=")) {
        return Err(ClientFirstError::MandatoryExtension);
    }
    let username = decode_saslname(attribute(first.take(), 'n')?)?;
    let nonce = attribute(parts.next(), 'r')?;
    if !is_printable(nonce) {
        return Err(ScramSyntaxError::Nonce.into());
    }
    check_extensions(parts)?;
    Ok(ClientFirst {
        flag,
        authzid,
        gs2_header,
        bare,
        username,
        nonce,
    })
}

/// A parsed client-final-message.
pub(crate) struct ClientFinal<'a> {
    /// `c=`, decoded: the GS2 header followed by the channel binding data, if any.
    pub channel_binding: Vec<u8>,
    pub nonce: &'a str,
    /// The client-final-message-without-proof, as sent: part of the AuthMessage.
    pub without_proof: &'a str,
    pub proof: Vec<u8>,
}

/// Parses `channel-binding "," nonce ["," extensions] "," proof`.
pub(crate) fn parse_client_final(msg: &str) -> Result<ClientFinal<'_>, ScramSyntaxError> {
    // The proof comes last; everything before its comma is the message without proof.
    let (without_proof, proof) = msg
        .rsplit_once(',')
        .ok_or(ScramSyntaxError::Expected('p'))?;
    let proof = base64_value(attribute(Some(proof), 'p')?, 'p')?;
    let mut parts = without_proof.split(',');
    let channel_binding = base64_value(attribute(parts.next(), 'c')?, 'c')?;
    let nonce = attribute(parts.next(), 'r')?;
    if !is_printable(nonce) {
        return Err(ScramSyntaxError::Nonce);
    }
    check_extensions(parts)?;
    Ok(ClientFinal {
        channel_binding,
        nonce,
        without_proof,
        proof,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nz(n: u32) -> NonZeroU32 {
        NonZeroU32::new(n).unwrap()
    }

    #[test]
    fn hi_matches_rfc_6070_vectors() {
        // RFC 6070 test vectors for PBKDF2-HMAC-SHA1 with a 20-byte output.
        let out = ScramHash::Sha1.hi(b"password", b"salt", nz(1));
        assert_eq!(
            out,
            [
                0x0c, 0x60, 0xc8, 0x0f, 0x96, 0x1f, 0x0e, 0x71, 0xf3, 0xa9, 0xb5, 0x24, 0xaf, 0x60,
                0x12, 0x06, 0x2f, 0xe0, 0x37, 0xa6
            ]
        );
        let out = ScramHash::Sha1.hi(b"password", b"salt", nz(4096));
        assert_eq!(
            out,
            [
                0x4b, 0x00, 0x79, 0x01, 0xb7, 0x65, 0x48, 0x9a, 0xbe, 0xad, 0x49, 0xd9, 0x26, 0xf7,
                0x21, 0xd0, 0x65, 0xa4, 0x29, 0xc1
            ]
        );
    }

    #[test]
    fn saslname_escaping() {
        let mut s = String::new();
        push_saslname(&mut s, "a,b=c");
        assert_eq!(s, "a=2Cb=3Dc");
        assert_eq!(decode_saslname("a=2Cb=3Dc").unwrap(), "a,b=c");
        assert_eq!(decode_saslname("plain").unwrap(), "plain");
        assert_eq!(decode_saslname(""), Err(ScramSyntaxError::SaslName));
        assert_eq!(decode_saslname("a=2"), Err(ScramSyntaxError::SaslName));
        assert_eq!(decode_saslname("a=2c"), Err(ScramSyntaxError::SaslName));
        assert_eq!(decode_saslname("a=41"), Err(ScramSyntaxError::SaslName));
        assert_eq!(decode_saslname("=é"), Err(ScramSyntaxError::SaslName));
    }

    #[test]
    fn iteration_counts() {
        assert_eq!(iteration_count("4096"), Ok(4096));
        assert_eq!(iteration_count("0"), Ok(0));
        assert_eq!(iteration_count("99999999999999999999999"), Ok(u64::MAX));
        assert!(iteration_count("").is_err());
        assert!(iteration_count("04096").is_err());
        assert!(iteration_count("+1").is_err());
        assert!(iteration_count("-1").is_err());
        assert!(iteration_count("1e3").is_err());
    }

    #[test]
    fn downgrade_protection_hash_is_xep_0474s_example() {
        // XEP-0474 section 5.3: SHA-1 of
        // 'SCRAM-SHA-1\x1eSCRAM-SHA-1-PLUS\x1ftls-exporter\x1etls-server-end-point'.
        let s = downgrade_protection_input(
            &["SCRAM-SHA-1-PLUS", "SCRAM-SHA-1"],
            Some(&["tls-server-end-point", "tls-exporter"]),
        );
        assert_eq!(
            s,
            b"SCRAM-SHA-1\x1eSCRAM-SHA-1-PLUS\x1ftls-exporter\x1etls-server-end-point".to_vec()
        );
        assert_eq!(
            downgrade_protection_hash(ScramHash::Sha1, &s),
            "G6k/rBLDqgOhRRaCuuatSDFkJ08="
        );
        let parsed =
            parse_server_first("r=abc,s=QSXCR+Q6sek8bf92,i=4096,h=G6k/rBLDqgOhRRaCuuatSDFkJ08=");
        assert_eq!(
            parsed.ok().and_then(|p| p.ssdp),
            Some("G6k/rBLDqgOhRRaCuuatSDFkJ08=")
        );
        // Without channel-binding types, no %x1F.
        assert_eq!(
            downgrade_protection_input(&["B", "A"], None),
            b"A\x1eB".to_vec()
        );
    }

    #[test]
    fn server_first_syntax() {
        let ok = parse_server_first("r=abc,s=QSXCR+Q6sek8bf92,i=4096,x=ext").ok();
        let ok = ok.expect("valid");
        assert_eq!(ok.nonce, "abc");
        assert_eq!(ok.iterations, 4096);
        assert!(matches!(
            parse_server_first("m=x,r=abc,s=QSXC,i=1"),
            Err(ServerFirstError::MandatoryExtension)
        ));
        assert!(matches!(
            parse_server_first("e=unknown-user"),
            Err(ServerFirstError::ServerError(ScramServerError::UnknownUser))
        ));
        let syntax = |m: &str| match parse_server_first(m) {
            Err(ServerFirstError::Syntax(e)) => Some(e),
            _ => None,
        };
        assert_eq!(syntax(""), Some(ScramSyntaxError::Expected('r')));
        assert_eq!(syntax("r=abc"), Some(ScramSyntaxError::Expected('s')));
        assert_eq!(
            syntax("r=abc,s=QSXC"),
            Some(ScramSyntaxError::Expected('i'))
        );
        assert_eq!(
            syntax("r=abc,i=1,s=QSXC"),
            Some(ScramSyntaxError::Expected('s'))
        );
        assert_eq!(syntax("r=a b,s=QSXC,i=1"), Some(ScramSyntaxError::Nonce));
        assert_eq!(
            syntax("r=abc,s=QSX,i=1"),
            Some(ScramSyntaxError::Base64('s'))
        );
        assert_eq!(
            syntax("r=abc,s=QSXC,i=1,"),
            Some(ScramSyntaxError::Extension)
        );
    }

    #[test]
    fn client_first_syntax() {
        let Ok(cf) = parse_client_first("p=tls-exporter,a=adm=2Cin,n=us=3Der,r=abc,t=x") else {
            panic!("valid");
        };
        assert_eq!(cf.flag, CbFlag::Used("tls-exporter"));
        assert_eq!(cf.authzid.as_deref(), Some("adm,in"));
        assert_eq!(cf.gs2_header, "p=tls-exporter,a=adm=2Cin,");
        assert_eq!(cf.bare, "n=us=3Der,r=abc,t=x");
        assert_eq!(cf.username, "us=er");
        assert_eq!(cf.nonce, "abc");
        let syntax = |m: &str| match parse_client_first(m) {
            Err(ClientFirstError::Syntax(e)) => Some(e),
            Err(ClientFirstError::MandatoryExtension) => None,
            Ok(_) => None,
        };
        assert_eq!(syntax("n,"), Some(ScramSyntaxError::Gs2Header));
        assert_eq!(syntax("x,,n=a,r=b"), Some(ScramSyntaxError::Gs2Header));
        assert_eq!(syntax("p=,,n=a,r=b"), Some(ScramSyntaxError::Gs2Header));
        assert_eq!(syntax("n,x=y,n=a,r=b"), Some(ScramSyntaxError::Gs2Header));
        assert_eq!(syntax("n,,r=b"), Some(ScramSyntaxError::Expected('n')));
        assert_eq!(syntax("n,,n=a"), Some(ScramSyntaxError::Expected('r')));
        assert_eq!(syntax("n,,n=,r=b"), Some(ScramSyntaxError::SaslName));
        assert!(matches!(
            parse_client_first("n,,m=x,n=a,r=b"),
            Err(ClientFirstError::MandatoryExtension)
        ));
    }

    #[test]
    fn client_final_syntax() {
        let Ok(cf) = parse_client_final("c=biws,r=abc,p=AAAA") else {
            panic!("valid");
        };
        assert_eq!(cf.channel_binding, b"n,,");
        assert_eq!(cf.without_proof, "c=biws,r=abc");
        assert_eq!(cf.proof, [0, 0, 0]);
        assert_eq!(
            parse_client_final("c=biws,r=abc").err(),
            Some(ScramSyntaxError::Expected('p'))
        );
        assert_eq!(
            parse_client_final("c=biws,p=AAAA").err(),
            Some(ScramSyntaxError::Expected('r'))
        );
        assert_eq!(
            parse_client_final("c=biw,r=abc,p=AAAA").err(),
            Some(ScramSyntaxError::Base64('c'))
        );
    }

    #[test]
    fn server_final_syntax() {
        assert!(matches!(
            parse_server_final("v=AAAA"),
            Ok(ServerFinal::Verifier(v)) if v == [0, 0, 0]
        ));
        assert!(matches!(
            parse_server_final("e=invalid-proof"),
            Ok(ServerFinal::Error(ScramServerError::InvalidProof))
        ));
        assert!(matches!(
            parse_server_final("e=something-new"),
            Ok(ServerFinal::Error(ScramServerError::Unrecognized(s))) if s == "something-new"
        ));
        assert_eq!(
            parse_server_final("x=1").err(),
            Some(ScramSyntaxError::Expected('v'))
        );
        assert_eq!(
            parse_server_final("e=").err(),
            Some(ScramSyntaxError::ServerError)
        );
    }
}
