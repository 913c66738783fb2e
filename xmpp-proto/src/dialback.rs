//! Server Dialback keys (XEP-0220 section 2.1.2), generated as XEP-0185 recommends.
//!
//! Dialback proves that a server speaks for a domain by a key that only the domain's
//! authoritative servers can compute: the originating server sends it in `<db:result/>`, the
//! receiving server asks the authoritative server with `<db:verify/>`, and that one answers
//! `valid` or `invalid` by computing the key again. XEP-0185 section 3 recommends
//!
//! ```text
//! key = hex(HMAC-SHA256(SHA256(secret), receiving ' ' originating ' ' stream-id))
//! ```
//!
//! with a secret that each server of the domain knows and nobody else, so that no state is
//! kept between sending a key and verifying it. As XEP-0185's worked example (section 4)
//! computes it, the HMAC key is `SHA256(secret)` in its hexadecimal form, 64 ASCII bytes.
//! [`DialbackSecret`] holds that HMAC key (never the secret) and computes and checks keys;
//! the server-to-server roles run the exchange itself.

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

use crate::sasl::ct_eq;

/// A domain's dialback secret (XEP-0185 section 3): what its servers compute keys with.
///
/// It keeps `SHA256(secret)`, the HMAC key, not the secret; `Debug` shows neither.
#[derive(Clone)]
pub struct DialbackSecret {
    /// `SHA256(secret)` as lowercase hexadecimal.
    hmac_key: [u8; 64],
}

/// Lowercase hexadecimal, two digits a byte.
fn hex<const N: usize>(bytes: [u8; N], out: &mut [u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (pair, b) in out.chunks_exact_mut(2).zip(bytes) {
        pair[0] = DIGITS[usize::from(b >> 4)];
        pair[1] = DIGITS[usize::from(b & 15)];
    }
}

impl core::fmt::Debug for DialbackSecret {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("DialbackSecret(<redacted>)")
    }
}

/// A dialback key: 64 lowercase hexadecimal digits (XEP-0185 section 3, note 4).
///
/// It is a credential for one stream, as good as a password until that stream ends, so
/// `Debug` does not show it; [`as_str`](Self::as_str) gives it for the wire.
#[derive(Clone, PartialEq, Eq)]
pub struct DialbackKey(String);

impl DialbackKey {
    /// The key as it goes into `<db:result/>` or `<db:verify/>`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl core::fmt::Debug for DialbackKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("DialbackKey(<redacted>)")
    }
}

impl DialbackSecret {
    /// The secret, as configured or generated at start (XEP-0185 section 3, note 3: it
    /// must be made without talking to any other server). Give it at least 16 random bytes.
    pub fn new(secret: impl AsRef<[u8]>) -> Self {
        let mut hmac_key = [0; 64];
        hex::<32>(Sha256::digest(secret.as_ref()).into(), &mut hmac_key);
        DialbackSecret { hmac_key }
    }

    fn mac(&self, receiving: &str, originating: &str, stream_id: &str) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.hmac_key)
            .expect("HMAC accepts keys of any length");
        for part in [receiving, " ", originating, " ", stream_id] {
            mac.update(part.as_bytes());
        }
        mac.finalize().into_bytes().into()
    }

    /// The key with which `originating` (our domain) proves itself to `receiving` on the
    /// stream whose id `receiving` gave (`id` of its stream header).
    pub fn key(&self, receiving: &str, originating: &str, stream_id: &str) -> DialbackKey {
        let mut key = [0; 64];
        hex(self.mac(receiving, originating, stream_id), &mut key);
        DialbackKey(key.iter().copied().map(char::from).collect())
    }

    /// Is `key` the one `originating` (our domain, as the authoritative server) would have
    /// sent to `receiving` on stream `stream_id`? The answer to `<db:verify/>` (XEP-0220
    /// section 2.3). White space around the key (an element's text, indented) and the case
    /// of its hexadecimal digits do not matter; the comparison takes the same time wherever
    /// the key differs.
    pub fn verify(&self, receiving: &str, originating: &str, stream_id: &str, key: &str) -> bool {
        let given = key
            .trim_matches(|c| matches!(c, ' ' | '\t' | '\r' | '\n'))
            .to_ascii_lowercase();
        let expected = self.key(receiving, originating, stream_id);
        ct_eq(given.as_bytes(), expected.0.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// XEP-0185 section 4, the worked example.
    const SECRET: &str = "s3cr3tf0rd14lb4ck";
    const KEY: &str = "37c69b1cf07a3f67c04a5ef5902fa5114f2c76fe4a2686482ba5b89323075643";

    #[test]
    fn the_key_of_xep_0185s_example() {
        let secret = DialbackSecret::new(SECRET);
        let key = secret.key("xmpp.example.com", "example.org", "D60000229F");
        assert_eq!(key.as_str(), KEY);
    }

    #[test]
    fn the_hmac_key_is_the_secrets_sha256_in_hexadecimal() {
        // XEP-0185 section 4 gives SHA256('s3cr3tf0rd14lb4ck').
        let secret = DialbackSecret::new(SECRET);
        assert_eq!(
            &secret.hmac_key,
            b"a7136eb1f46c9ef18c5e78c36ca257067c69b3d518285f0b18a96c33beae9acc"
        );
    }

    #[test]
    fn verification_accepts_the_key_only_for_its_domains_and_stream() {
        let secret = DialbackSecret::new(SECRET);
        let ok = |r, o, id, key| secret.verify(r, o, id, key);
        assert!(ok("xmpp.example.com", "example.org", "D60000229F", KEY));
        let indented = format!("\n    {}\n", KEY.to_ascii_uppercase());
        assert!(ok(
            "xmpp.example.com",
            "example.org",
            "D60000229F",
            &indented
        ));
        assert!(!ok("xmpp.example.com", "example.org", "D60000229G", KEY));
        assert!(!ok("example.org", "xmpp.example.com", "D60000229F", KEY));
        // The space between the parts is what keeps these apart (XEP-0185 note 5).
        let joined = secret.key("example.info", "rm.example.org", "x");
        assert_ne!(joined, secret.key("example.in", "form.example.org", "x"));
        assert!(!ok(
            "xmpp.example.com",
            "example.org",
            "D60000229F",
            &KEY[..63]
        ));
        assert!(!DialbackSecret::new("other").verify(
            "xmpp.example.com",
            "example.org",
            "D60000229F",
            KEY
        ));
    }

    #[test]
    fn neither_secret_nor_key_shows_in_debug() {
        let secret = DialbackSecret::new(SECRET);
        let key = secret.key("xmpp.example.com", "example.org", "D60000229F");
        for text in [format!("{secret:?}"), format!("{key:?}")] {
            assert!(
                !text.contains(SECRET) && !text.contains(&KEY[..16]),
                "{text}"
            );
            assert!(!text.contains("a7136eb1"), "{text}");
        }
    }
}
