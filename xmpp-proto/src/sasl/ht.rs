//! The Hashed Token mechanisms (`HT-SHA-256-*`, draft-schmaus-kitten-sasl-ht-08), which FAST
//! (XEP-0484) authenticates with: one round trip, a token the server issued instead of the
//! password.
//!
//! - The client's initial response is `authcid NUL initiator-hashed-token`, where
//!   `initiator-hashed-token = HMAC-SHA-256(token, "Initiator" || cb-data)` (section 3.1).
//! - The server checks it (a constant-time comparison: `Mac::verify_slice`) and answers, in
//!   the success data, `HMAC-SHA-256(token, "Responder" || cb-data)` (section 3.2), which the
//!   client verifies: the server knew the token too (mutual authentication).
//! - The suffix names the channel binding in `cb-data`: `NONE` (empty), `UNIQ`
//!   (`tls-unique`), `ENDP` (`tls-server-end-point`), `EXPR` (`tls-exporter`).
//!
//! The token is a secret: [`FastToken`] never shows it in `Debug`.

use core::fmt;
use core::str::FromStr;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::CbType;

/// A Hashed Token mechanism with SHA-256.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HtMechanism {
    /// `HT-SHA-256-EXPR`: bound to `tls-exporter` (RFC 9266).
    Sha256Expr,
    /// `HT-SHA-256-UNIQ`: bound to `tls-unique` (RFC 5929).
    Sha256Uniq,
    /// `HT-SHA-256-ENDP`: bound to `tls-server-end-point` (RFC 5929).
    Sha256Endp,
    /// `HT-SHA-256-NONE`: no channel binding.
    Sha256None,
}

impl HtMechanism {
    /// Every mechanism, those with channel binding first.
    pub const ALL: [HtMechanism; 4] = [
        HtMechanism::Sha256Expr,
        HtMechanism::Sha256Uniq,
        HtMechanism::Sha256Endp,
        HtMechanism::Sha256None,
    ];

    /// The registered name.
    pub const fn name(self) -> &'static str {
        match self {
            HtMechanism::Sha256Expr => "HT-SHA-256-EXPR",
            HtMechanism::Sha256Uniq => "HT-SHA-256-UNIQ",
            HtMechanism::Sha256Endp => "HT-SHA-256-ENDP",
            HtMechanism::Sha256None => "HT-SHA-256-NONE",
        }
    }

    /// The channel binding it needs, if any.
    pub const fn channel_binding(self) -> Option<CbType> {
        match self {
            HtMechanism::Sha256Expr => Some(CbType::TlsExporter),
            HtMechanism::Sha256Uniq => Some(CbType::TlsUnique),
            HtMechanism::Sha256Endp => Some(CbType::TlsServerEndPoint),
            HtMechanism::Sha256None => None,
        }
    }
}

impl fmt::Display for HtMechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for HtMechanism {
    type Err = crate::error::UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        HtMechanism::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or(crate::error::UnknownName::new(
                "Hashed Token mechanism (draft-schmaus-kitten-sasl-ht)",
            ))
    }
}

/// A FAST token (XEP-0484 section 2.3): the secret, the mechanism it is bound to, and its
/// expiry as the server gave it (an XEP-0082 DateTime, kept as text: the core has no
/// clock). `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct FastToken {
    /// The mechanism the token was issued for; the server refuses it with any other.
    pub mechanism: HtMechanism,
    /// The secret.
    pub secret: String,
    /// When it expires (`2020-03-12T14:36:15Z`).
    pub expiry: String,
}

impl fmt::Debug for FastToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FastToken")
            .field("mechanism", &self.mechanism)
            .field("secret", &"<redacted>")
            .field("expiry", &self.expiry)
            .finish()
    }
}

fn mac(token: &[u8], label: &[u8], cb: &[u8]) -> Hmac<Sha256> {
    // HMAC takes keys of any length (longer ones are hashed, shorter padded).
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(token).expect("HMAC accepts keys of any length");
    mac.update(label);
    mac.update(cb);
    mac
}

/// The client's initial response: `authcid NUL HMAC(token, "Initiator" || cb)`.
pub fn initial_response(authcid: &str, token: &[u8], cb: &[u8]) -> Vec<u8> {
    let mut out = authcid.as_bytes().to_vec();
    out.push(0);
    out.extend_from_slice(&mac(token, b"Initiator", cb).finalize().into_bytes());
    out
}

/// Splits an initial response into the authcid and the initiator's hashed token; `None`
/// when it has no NUL or the authcid is empty or not UTF-8.
pub fn split_initial(data: &[u8]) -> Option<(&str, &[u8])> {
    let nul = data.iter().position(|b| *b == 0)?;
    let authcid = core::str::from_utf8(&data[..nul]).ok()?;
    (!authcid.is_empty()).then(|| (authcid, &data[nul + 1..]))
}

/// Does `hashed` prove `token` (the initiator's HMAC)? Compared in constant time.
pub fn verify_initiator(token: &[u8], cb: &[u8], hashed: &[u8]) -> bool {
    mac(token, b"Initiator", cb).verify_slice(hashed).is_ok()
}

/// The server's final data: `HMAC(token, "Responder" || cb)`.
pub fn responder(token: &[u8], cb: &[u8]) -> Vec<u8> {
    mac(token, b"Responder", cb)
        .finalize()
        .into_bytes()
        .to_vec()
}

/// Does the server's final data prove it knows `token`? Compared in constant time.
pub fn verify_responder(token: &[u8], cb: &[u8], data: &[u8]) -> bool {
    mac(token, b"Responder", cb).verify_slice(data).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initiator_and_responder_verify_only_with_the_same_token_and_binding() {
        let token = b"WXZzciBwYmFmdmZnZiBqdmd1IGp2eXFhcmZm";
        let initial = initial_response("user", token, b"");
        let (authcid, hashed) = split_initial(&initial).unwrap();
        assert_eq!(authcid, "user");
        assert_eq!(hashed.len(), 32);
        assert!(verify_initiator(token, b"", hashed));
        assert!(!verify_initiator(b"another token", b"", hashed));
        assert!(!verify_initiator(token, b"cb", hashed));
        assert!(!verify_initiator(token, b"", &hashed[..31]));
        let r = responder(token, b"cb");
        assert!(verify_responder(token, b"cb", &r));
        assert!(!verify_responder(token, b"", &r));
        // Initiator and responder differ, so one cannot be replayed as the other.
        assert_ne!(r, responder(token, b"")[..].to_vec());
        assert!(!verify_responder(token, b"", hashed));
    }

    #[test]
    fn names_round_trip_and_the_token_is_redacted() {
        for m in HtMechanism::ALL {
            assert_eq!(m.name().parse::<HtMechanism>().unwrap(), m);
        }
        assert!("HT-SHA-512-NONE".parse::<HtMechanism>().is_err());
        let t = FastToken {
            mechanism: HtMechanism::Sha256None,
            secret: "s3cr3t-token".into(),
            expiry: "2020-03-12T14:36:15Z".into(),
        };
        assert!(!format!("{t:?}").contains("s3cr3t"));
        assert!(!format!("{t:#?}").contains("s3cr3t"));
    }

    #[test]
    fn split_initial_refuses_what_is_not_authcid_nul_hash() {
        assert_eq!(split_initial(b"no-nul"), None);
        assert_eq!(split_initial(b"\0hash"), None);
        assert_eq!(split_initial(b"\xff\0hash"), None);
    }
}
