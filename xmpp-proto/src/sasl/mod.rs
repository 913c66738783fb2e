//! SASL authentication (RFC 6120 section 6) as pure state machines over bytes.
//!
//! The XMPP layer carries SASL data base64-encoded in `<auth/>`, `<challenge/>`,
//! `<response/>` and `<success/>` (RFC 6120 section 6.4); this module deals with the decoded
//! bytes, and [`encode_payload`] / [`decode_payload`] convert between the two forms. Nothing
//! here touches a socket, a clock or a random number generator: nonces and the server secret
//! come from the embedder, so every exchange is reproducible from its inputs.
//!
//! # Mechanisms
//!
//! - `PLAIN` (RFC 4616): the password in the clear, so only over TLS;
//! - `SCRAM-SHA-1` and `SCRAM-SHA-256` (RFC 5802, RFC 7677): salted challenge-response, the
//!   server stores no password;
//! - `SCRAM-SHA-1-PLUS` and `SCRAM-SHA-256-PLUS`: the same, bound to the TLS channel with
//!   `tls-exporter` (RFC 9266), `tls-server-end-point` or `tls-unique` (RFC 5929);
//! - `EXTERNAL` (RFC 4422 appendix A): identity established outside SASL, typically a TLS
//!   client certificate;
//! - `ANONYMOUS` (RFC 4505).
//!
//! # The two sides
//!
//! - [`SaslClient`] picks a mechanism from what the server offers and the client's
//!   preference ([`Mechanism::DEFAULT_PREFERENCE`]), produces the initial response, answers
//!   challenges and checks the outcome. A SCRAM success is only believed once the server's
//!   signature has been verified.
//! - [`SaslServer`] parses what the client sends, asks the embedder for the account's
//!   credentials ([`ServerStep::NeedCredentials`]: the module never looks anything up
//!   itself), verifies, and maps every failure to a condition of RFC 6120 section 6.5.
//!
//! # String preparation
//!
//! RFC 5802 and RFC 4616 prepare names and passwords with SASLprep (RFC 4013), which
//! RFC 8265 replaces with PRECIS profiles. Passwords are prepared with `OpaqueString`
//! (RFC 8265 section 4.2). Usernames are prepared with `UsernameCasePreserved`
//! (RFC 8265 section 3.4) rather than `UsernameCaseMapped`: SASL only transports the name,
//! and mapping case is the account lookup's business (XMPP maps localparts with
//! `UsernameCaseMapped`, RFC 7622), so the embedder receives the name as the user typed it,
//! width-mapped and normalized. Both profiles leave printable ASCII unchanged, so the ASCII
//! test vectors of the RFCs are unaffected. An authzid is not prepared: in XMPP it is a JID,
//! which has rules of its own.
//!
//! # Example
//!
//! ```
//! use std::num::NonZeroU32;
//! use xmpp_sansio::sasl::*;
//!
//! // The client's side.
//! let config = SaslClientConfig::default();
//! let credentials = Credentials::new("juliet", "r0m30myr0m30");
//! let offered = ["SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"];
//! let client_nonce = Nonce::new("fyko+d2lbbFgONRv9qkxdawL").unwrap();
//! let mut client = SaslClient::start(offered, &config, credentials, client_nonce).unwrap();
//! assert_eq!(client.mechanism(), Mechanism::ScramSha256);
//!
//! // The server's side, with an account stored as SCRAM keys.
//! let mut server_config = SaslServerConfig::new(
//!     vec![Mechanism::ScramSha256, Mechanism::ScramSha1, Mechanism::Plain],
//!     b"a stable server secret".to_vec(),
//! );
//! server_config.encrypted = true;
//! let mut server = SaslServer::new(server_config, Nonce::new("3rfcNHYJY1ZVvWVs7j").unwrap());
//! let step = server
//!     .start(client.mechanism().name(), Some(client.initial_response()))
//!     .unwrap();
//! let ServerStep::NeedCredentials { authcid, .. } = step else { panic!() };
//! assert_eq!(authcid, "juliet");
//! let stored = StoredScram::from_password(
//!     "r0m30myr0m30",
//!     b"salt".to_vec(),
//!     NonZeroU32::new(4096).unwrap(),
//!     ScramHash::Sha256,
//! )
//! .unwrap();
//! // No authzid was asked for, so none is granted.
//! let step = server.provide_credentials(UserCredential::Scram(stored), Authorization::Refuse);
//! let ServerStep::Challenge(server_first) = step.unwrap() else { panic!() };
//! let client_final = client.on_challenge(&server_first).unwrap();
//! let ServerStep::Success { additional_data, .. } = server.on_response(&client_final).unwrap()
//! else {
//!     panic!()
//! };
//! client.on_success(&additional_data).unwrap();
//! // The keys can now be cached instead of the password.
//! assert!(client.scram_keys().is_some());
//! ```

use core::fmt;
use std::borrow::Cow;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use precis_profiles::precis_core::profile::PrecisFastInvocation;
use precis_profiles::{OpaqueString, UsernameCasePreserved};

use crate::error::{SaslFailureCondition, UnknownName};

mod client;
pub mod ht;
mod plain;
mod scram;
mod server;

pub use client::{
    Credentials, DEFAULT_MAX_ITERATIONS, SaslClient, SaslClientConfig, SaslClientError,
    select_mechanism,
};
pub use scram::{
    ScramHash, ScramKeys, ScramSecret, ScramServerError, ScramSyntaxError, StoredScram,
    downgrade_protection_input,
};
pub use server::{
    Authorization, Decision, Identity, SaslServer, SaslServerConfig, SaslServerError, ServerStep,
    UserCredential,
};

// ---------------------------------------------------------------------------
// Mechanisms
// ---------------------------------------------------------------------------

/// A SASL mechanism this module implements (RFC 4422 section 3.1, the IANA SASL mechanism
/// registry).
///
/// The variants are declared strongest first, so the derived [`Ord`] sorts by strength.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Mechanism {
    /// `SCRAM-SHA-256-PLUS` (RFC 7677 with channel binding).
    ScramSha256Plus,
    /// `SCRAM-SHA-1-PLUS` (RFC 5802 with channel binding).
    ScramSha1Plus,
    /// `SCRAM-SHA-256` (RFC 7677).
    ScramSha256,
    /// `SCRAM-SHA-1` (RFC 5802).
    ScramSha1,
    /// `PLAIN` (RFC 4616).
    Plain,
    /// `EXTERNAL` (RFC 4422 appendix A).
    External,
    /// `ANONYMOUS` (RFC 4505).
    Anonymous,
}

impl Mechanism {
    /// Every mechanism, strongest first.
    pub const ALL: [Mechanism; 7] = [
        Mechanism::ScramSha256Plus,
        Mechanism::ScramSha1Plus,
        Mechanism::ScramSha256,
        Mechanism::ScramSha1,
        Mechanism::Plain,
        Mechanism::External,
        Mechanism::Anonymous,
    ];

    /// The client's default preference, strongest first. `EXTERNAL` and `ANONYMOUS` are not
    /// in it: they authenticate as someone other than the configured user, so a client uses
    /// them only when asked to.
    pub const DEFAULT_PREFERENCE: [Mechanism; 5] = [
        Mechanism::ScramSha256Plus,
        Mechanism::ScramSha1Plus,
        Mechanism::ScramSha256,
        Mechanism::ScramSha1,
        Mechanism::Plain,
    ];

    /// The registered name, as it appears in `<mechanism/>` and in `<auth mechanism=''>`.
    pub const fn name(self) -> &'static str {
        match self {
            Mechanism::ScramSha256Plus => "SCRAM-SHA-256-PLUS",
            Mechanism::ScramSha1Plus => "SCRAM-SHA-1-PLUS",
            Mechanism::ScramSha256 => "SCRAM-SHA-256",
            Mechanism::ScramSha1 => "SCRAM-SHA-1",
            Mechanism::Plain => "PLAIN",
            Mechanism::External => "EXTERNAL",
            Mechanism::Anonymous => "ANONYMOUS",
        }
    }

    /// Whether this is a `-PLUS` mechanism, which binds the exchange to the TLS channel.
    pub const fn is_plus(self) -> bool {
        matches!(self, Mechanism::ScramSha256Plus | Mechanism::ScramSha1Plus)
    }

    /// Whether this is one of the SCRAM family.
    pub const fn is_scram(self) -> bool {
        self.scram_hash().is_some()
    }

    /// The hash of a SCRAM mechanism.
    pub const fn scram_hash(self) -> Option<ScramHash> {
        match self {
            Mechanism::ScramSha256Plus | Mechanism::ScramSha256 => Some(ScramHash::Sha256),
            Mechanism::ScramSha1Plus | Mechanism::ScramSha1 => Some(ScramHash::Sha1),
            _ => None,
        }
    }
}

impl FromStr for Mechanism {
    type Err = UnknownName;

    /// Parses a registered name. Names are matched exactly: RFC 4422 section 3.1 defines them
    /// as uppercase.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Mechanism::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or(UnknownName::new("SASL mechanism this crate implements"))
    }
}

impl fmt::Display for Mechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

// ---------------------------------------------------------------------------
// Channel binding
// ---------------------------------------------------------------------------

/// A channel binding type (RFC 5056 section 7; the IANA channel-binding types registry).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CbType {
    /// `tls-exporter` (RFC 9266): keying material exported from the TLS session; the type
    /// to use with TLS 1.3.
    TlsExporter,
    /// `tls-server-end-point` (RFC 5929 section 4): the hash of the server's certificate.
    TlsServerEndPoint,
    /// `tls-unique` (RFC 5929 section 3): the first Finished message; TLS 1.2 and earlier
    /// only.
    TlsUnique,
}

impl CbType {
    /// Every channel binding type.
    pub const ALL: [CbType; 3] = [
        CbType::TlsExporter,
        CbType::TlsServerEndPoint,
        CbType::TlsUnique,
    ];

    /// The registered name, as it appears in the GS2 header (`p=tls-exporter`).
    pub const fn name(self) -> &'static str {
        match self {
            CbType::TlsExporter => "tls-exporter",
            CbType::TlsServerEndPoint => "tls-server-end-point",
            CbType::TlsUnique => "tls-unique",
        }
    }
}

impl FromStr for CbType {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CbType::ALL
            .into_iter()
            .find(|t| t.name() == s)
            .ok_or(UnknownName::new(
                "channel binding type this crate implements",
            ))
    }
}

impl fmt::Display for CbType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Channel binding data of one type, obtained by the embedder from its TLS library.
#[derive(Clone, PartialEq, Eq)]
pub struct ChannelBinding {
    /// The type.
    pub kind: CbType,
    /// The data (for `tls-exporter`: 32 bytes exported with the label
    /// `EXPORTER-Channel-Binding` and no context, RFC 9266 section 2).
    pub data: Vec<u8>,
}

impl ChannelBinding {
    /// Channel binding data of type `kind`.
    pub fn new(kind: CbType, data: impl Into<Vec<u8>>) -> Self {
        ChannelBinding {
            kind,
            data: data.into(),
        }
    }
}

impl fmt::Debug for ChannelBinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The data is not secret, but it is noise in logs.
        f.debug_struct("ChannelBinding")
            .field("kind", &self.kind)
            .field("data_len", &self.data.len())
            .finish()
    }
}

// ---------------------------------------------------------------------------
// Nonces
// ---------------------------------------------------------------------------

/// A SCRAM nonce part (RFC 5802 section 5.1, `r=`): one or more printable ASCII characters
/// other than `,`.
///
/// The embedder makes it from a cryptographically secure random source, which this sans-IO
/// module does not have: [`Nonce::from_random_bytes`] turns such bytes into a nonce. Each
/// side supplies its own part; the server's part is appended to the client's.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Nonce(String);

impl Nonce {
    /// Checks that `nonce` is a valid nonce part.
    ///
    /// # Errors
    ///
    /// [`InvalidNonce`] if it is empty or has a character outside `%x21-2B / %x2D-7E`.
    pub fn new(nonce: impl Into<String>) -> Result<Self, InvalidNonce> {
        let nonce = nonce.into();
        if scram::is_printable(&nonce) {
            Ok(Nonce(nonce))
        } else {
            Err(InvalidNonce)
        }
    }

    /// A nonce made by base64-encoding `random` (18 random bytes give 24 characters, the
    /// size of the RFC 5802 example; RFC 5802 asks for a nonce that is "very unlikely" to
    /// repeat).
    ///
    /// # Errors
    ///
    /// [`InvalidNonce`] if `random` is empty.
    pub fn from_random_bytes(random: &[u8]) -> Result<Self, InvalidNonce> {
        Nonce::new(BASE64.encode(random))
    }

    /// The nonce.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A nonce that is empty or has a character that RFC 5802 does not allow in `r=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidNonce;

impl fmt::Display for InvalidNonce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a SCRAM nonce must be one or more printable ASCII characters other than ','")
    }
}

impl std::error::Error for InvalidNonce {}

// ---------------------------------------------------------------------------
// String preparation
// ---------------------------------------------------------------------------

/// A username or password that its PRECIS profile refuses (RFC 8265), for example an empty
/// one, one with control characters, or a username with spaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreparationError {
    /// The username is not allowed by the `UsernameCasePreserved` profile (RFC 8265
    /// section 3.4).
    Username,
    /// The password is not allowed by the `OpaqueString` profile (RFC 8265 section 4.2).
    Password,
}

impl fmt::Display for PreparationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PreparationError::Username => {
                "the username is empty or has characters that usernames may not contain (RFC 8265 section 3.4)"
            }
            PreparationError::Password => {
                "the password is empty or has characters that passwords may not contain (RFC 8265 section 4.2)"
            }
        })
    }
}

impl std::error::Error for PreparationError {}

/// Prepares a username with `UsernameCasePreserved` (see the module documentation).
pub(crate) fn prepare_username(name: &str) -> Result<Cow<'_, str>, PreparationError> {
    UsernameCasePreserved::enforce(name).map_err(|_| PreparationError::Username)
}

/// Prepares a password with `OpaqueString` (RFC 8265 section 4.2).
pub(crate) fn prepare_password(password: &str) -> Result<Cow<'_, str>, PreparationError> {
    OpaqueString::enforce(password).map_err(|_| PreparationError::Password)
}

// ---------------------------------------------------------------------------
// Base64 on the wire
// ---------------------------------------------------------------------------

/// Encodes SASL data for `<auth/>` or `<success/>` (RFC 6120 sections 6.4.2 and 6.4.6):
/// base64 with padding (RFC 4648 section 4), and `=` for empty data, which says "present
/// but empty" where an element without text would mean "no data" (the initial response,
/// the additional data with success). `<challenge/>` and `<response/>` always carry data,
/// so theirs is written by [`encode_data`]: an element without text.
pub fn encode_payload(data: &[u8]) -> String {
    if data.is_empty() {
        "=".to_owned()
    } else {
        BASE64.encode(data)
    }
}

/// Encodes SASL data that is never absent, only empty: `<challenge/>` and `<response/>`
/// (RFC 6120 section 6.3.3: base64 as RFC 4648 section 4 defines it, whose encoding of no
/// octets is the empty string; the `=` convention is only for `<auth/>` and `<success/>`),
/// and every SASL2 element (XEP-0388 section 2.2). Empty data is an empty string.
pub fn encode_data(data: &[u8]) -> String {
    if data.is_empty() {
        String::new()
    } else {
        BASE64.encode(data)
    }
}

/// Decodes the text of `<auth/>`, `<challenge/>`, `<response/>` or `<success/>`
/// (RFC 6120 section 6.4.2). Both `=` and the empty text give empty data; whether an
/// `<auth/>` without text means "no initial response" is for the caller to tell
/// [`SaslServer::start`].
///
/// Decoding is strict (RFC 6120 section 13.9.1: "An implementation MUST reject (not ignore)
/// any characters that are not explicitly allowed by the base 64 alphabet"): white space
/// is refused too (the line breaks in the RFC's examples are "included only for the sake of
/// readability", section 6.3.3), padding is required, a pad only ends the data, and
/// non-zero trailing bits are refused, so each payload has exactly one encoding.
///
/// # Errors
///
/// [`IncorrectEncoding`], whose condition is `incorrect-encoding` (RFC 6120 section 6.5.5).
pub fn decode_payload(text: &str) -> Result<Vec<u8>, IncorrectEncoding> {
    match text.as_bytes() {
        b"" | b"=" => Ok(Vec::new()),
        data => BASE64.decode(data).map_err(|_| IncorrectEncoding),
    }
}

/// SASL data that is not valid base64 (RFC 6120 section 6.5.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IncorrectEncoding;

impl IncorrectEncoding {
    /// The condition to send in `<failure/>`: `incorrect-encoding`.
    pub const fn condition(self) -> SaslFailureCondition {
        SaslFailureCondition::IncorrectEncoding
    }
}

impl fmt::Display for IncorrectEncoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the SASL data is not correctly base64-encoded (RFC 6120 section 6.4.2)")
    }
}

impl std::error::Error for IncorrectEncoding {}

// ---------------------------------------------------------------------------
// Constant-time comparison
// ---------------------------------------------------------------------------

/// Compares two secrets without an early exit, so the time taken does not tell an attacker
/// how many leading bytes of a guess were right.
///
/// The lengths are not secret (they are hash output sizes, or the length of data the peer
/// sent), so unequal lengths return at once. This small fold replaces a dependency: digest
/// 0.11 no longer pulls in `subtle`, and `black_box` keeps the optimizer from turning the
/// fold back into a short-circuiting comparison.
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    core::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mechanism_names_round_trip() {
        for m in Mechanism::ALL {
            assert_eq!(m.name().parse::<Mechanism>(), Ok(m));
            assert_eq!(m.to_string(), m.name());
        }
        assert!("scram-sha-1".parse::<Mechanism>().is_err());
        assert!("DIGEST-MD5".parse::<Mechanism>().is_err());
        assert!(Mechanism::ScramSha1Plus.is_plus());
        assert!(!Mechanism::ScramSha1.is_plus());
        assert!(Mechanism::ScramSha256Plus < Mechanism::Plain);
    }

    #[test]
    fn cb_type_names_round_trip() {
        for t in CbType::ALL {
            assert_eq!(t.name().parse::<CbType>(), Ok(t));
        }
        assert!("tls-foo".parse::<CbType>().is_err());
    }

    #[test]
    fn payload_helpers() {
        assert_eq!(encode_payload(b""), "=");
        assert_eq!(encode_payload(b"n,,"), "biws");
        assert_eq!(decode_payload("="), Ok(Vec::new()));
        assert_eq!(decode_payload(""), Ok(Vec::new()));
        assert_eq!(decode_payload("biws"), Ok(b"n,,".to_vec()));
        // RFC 6120 13.9.1: characters outside the alphabet are rejected, not ignored.
        assert_eq!(decode_payload(" bi\r\nws\n"), Err(IncorrectEncoding));
        assert_eq!(decode_payload("bi ws"), Err(IncorrectEncoding));
        assert_eq!(decode_payload("biws\n"), Err(IncorrectEncoding));
        assert_eq!(encode_data(b""), "");
        assert_eq!(encode_data(b"n,,"), "biws");
        assert_eq!(decode_payload("biw"), Err(IncorrectEncoding));
        assert_eq!(decode_payload("b!ws"), Err(IncorrectEncoding));
        // Non-canonical trailing bits ("YR==" decodes to "a" with a stray bit).
        assert_eq!(decode_payload("YR=="), Err(IncorrectEncoding));
        assert_eq!(
            IncorrectEncoding.condition(),
            SaslFailureCondition::IncorrectEncoding
        );
    }

    #[test]
    fn nonces() {
        assert!(Nonce::new("fyko+d2lbbFgONRv9qkxdawL").is_ok());
        assert_eq!(Nonce::new(""), Err(InvalidNonce));
        assert_eq!(Nonce::new("a,b"), Err(InvalidNonce));
        assert_eq!(Nonce::new("a b"), Err(InvalidNonce));
        assert_eq!(Nonce::new("é"), Err(InvalidNonce));
        assert_eq!(
            Nonce::from_random_bytes(&[0; 18]).unwrap().as_str().len(),
            24
        );
        assert_eq!(Nonce::from_random_bytes(&[]), Err(InvalidNonce));
    }

    #[test]
    fn constant_time_eq() {
        assert!(ct_eq(b"", b""));
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
    }

    #[test]
    fn preparation_leaves_ascii_alone() {
        assert_eq!(prepare_username("user").unwrap(), "user");
        assert_eq!(prepare_username("a,b=c").unwrap(), "a,b=c");
        assert_eq!(prepare_username("Juliet").unwrap(), "Juliet");
        assert_eq!(prepare_password("pencil").unwrap(), "pencil");
        assert_eq!(prepare_password("a b").unwrap(), "a b");
        assert_eq!(prepare_username(""), Err(PreparationError::Username));
        assert_eq!(prepare_username("a b"), Err(PreparationError::Username));
        assert_eq!(prepare_password(""), Err(PreparationError::Password));
        assert_eq!(prepare_password("a\u{0}b"), Err(PreparationError::Password));
        // Width mapping: a fullwidth letter becomes its ASCII form.
        assert_eq!(prepare_username("\u{FF55}ser").unwrap(), "user");
        // Non-ASCII spaces become U+0020 in passwords.
        assert_eq!(prepare_password("a\u{00A0}b").unwrap(), "a b");
    }
}
