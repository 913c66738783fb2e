//! SASL failures (RFC 6120 section 6.5): the conditions of sections 6.5.1 to 6.5.11 and the
//! `<failure/>` element that carries one.

use core::fmt;

use bytes::BytesMut;

use super::SASL_NS;
use super::common::{MalformedError, Text, vocabulary};
use crate::xml::{ElementRef, Writer};

/// The SASL failure conditions of RFC 6120 section 6.5, in the namespace
/// `urn:ietf:params:xml:ns:xmpp-sasl`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SaslFailureCondition {
    /// 6.5.1: the initiating entity aborted the exchange with `<abort/>`.
    Aborted,
    /// 6.5.2: the account is temporarily disabled.
    AccountDisabled,
    /// 6.5.3: the credentials have expired.
    CredentialsExpired,
    /// 6.5.4: the mechanism may only be used over an encrypted stream.
    EncryptionRequired,
    /// 6.5.5: the data is not correctly base64-encoded.
    IncorrectEncoding,
    /// 6.5.6: the authorization identity is invalid or not permitted.
    InvalidAuthzid,
    /// 6.5.7: the mechanism is not supported or offered.
    InvalidMechanism,
    /// 6.5.8: the request is malformed (for example an empty `<auth/>` where the
    /// mechanism needs an initial response).
    MalformedRequest,
    /// 6.5.9: the mechanism is weaker than the server's policy allows for this account.
    MechanismTooWeak,
    /// 6.5.10: the credentials are invalid.
    NotAuthorized,
    /// 6.5.11: a temporary error on the receiving side; try again later.
    TemporaryAuthFailure,
}

impl SaslFailureCondition {
    /// Every condition, in the order of RFC 6120 section 6.5.
    pub const ALL: [SaslFailureCondition; 11] = {
        use SaslFailureCondition::*;
        [
            Aborted,
            AccountDisabled,
            CredentialsExpired,
            EncryptionRequired,
            IncorrectEncoding,
            InvalidAuthzid,
            InvalidMechanism,
            MalformedRequest,
            MechanismTooWeak,
            NotAuthorized,
            TemporaryAuthFailure,
        ]
    };

    /// The element name of the condition, as it appears on the wire.
    pub const fn as_str(self) -> &'static str {
        use SaslFailureCondition::*;
        match self {
            Aborted => "aborted",
            AccountDisabled => "account-disabled",
            CredentialsExpired => "credentials-expired",
            EncryptionRequired => "encryption-required",
            IncorrectEncoding => "incorrect-encoding",
            InvalidAuthzid => "invalid-authzid",
            InvalidMechanism => "invalid-mechanism",
            MalformedRequest => "malformed-request",
            MechanismTooWeak => "mechanism-too-weak",
            NotAuthorized => "not-authorized",
            TemporaryAuthFailure => "temporary-auth-failure",
        }
    }
}

vocabulary!(
    SaslFailureCondition,
    "SASL failure condition of RFC 6120 section 6.5"
);

/// A SASL failure (RFC 6120 sections 6.4.5 and 6.5): `<failure/>` in the SASL namespace.
///
/// The condition is optional: RFC 6120's schema (appendix A.4) allows a `<failure/>` without
/// one, and servers built on drafts send conditions that RFC 6120 dropped. Either way the
/// authentication failed, which is what a client must act on, so such a failure is read with
/// no condition rather than refused.
///
/// ```
/// use bytes::BytesMut;
/// use xmpp_sansio::error::{SaslFailure, SaslFailureCondition};
///
/// let mut out = BytesMut::new();
/// SaslFailure::new(SaslFailureCondition::NotAuthorized).write_to(&mut out);
/// assert_eq!(
///     &out[..],
///     b"<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><not-authorized/></failure>"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaslFailure {
    /// The condition, if the failure named one this crate knows.
    pub condition: Option<SaslFailureCondition>,
    /// Descriptive text.
    pub text: Option<Text>,
}

impl SaslFailure {
    /// A failure with `condition` and no text.
    pub fn new(condition: SaslFailureCondition) -> Self {
        SaslFailure {
            condition: Some(condition),
            text: None,
        }
    }

    /// The same failure with descriptive text.
    pub fn with_text(mut self, text: Text) -> Self {
        self.text = Some(text);
        self
    }

    /// Reads a received `<failure/>`. The first child in the SASL namespace that names a
    /// known condition is the condition; without one (an unknown condition, or none), the
    /// condition is `not-authorized`, as RFC 6120 section 6.5 requires; the first `<text/>`
    /// is the text; other children are ignored.
    ///
    /// # Errors
    ///
    /// [`MalformedError::WrongElement`] if `el` is not `failure` in the SASL namespace.
    pub fn from_element(el: ElementRef<'_>) -> Result<Self, MalformedError> {
        if !el.is("failure", SASL_NS) {
            return Err(MalformedError::WrongElement {
                expected: "<failure/> in urn:ietf:params:xml:ns:xmpp-sasl",
            });
        }
        let mut failure = SaslFailure {
            condition: None,
            text: None,
        };
        for child in el.children().filter(|c| c.ns() == SASL_NS) {
            if child.name() == "text" {
                if failure.text.is_none() {
                    failure.text = Some(Text::read(child));
                }
            } else if failure.condition.is_none() {
                failure.condition = child.name().parse().ok();
            }
        }
        // RFC 6120 section 6.5: "if an entity receives a SASL error condition that it does
        // not understand then it MUST treat the unknown condition as a generic authentication
        // failure, i.e., as equivalent to <not-authorized/>" (and so one that names none).
        failure
            .condition
            .get_or_insert(SaslFailureCondition::NotAuthorized);
        Ok(failure)
    }

    /// Writes `<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>...</failure>`.
    pub fn write(&self, w: &mut Writer<'_>) {
        w.start("failure").xmlns(SASL_NS);
        if let Some(c) = self.condition {
            w.start(c.as_str()).end(c.as_str());
        }
        if let Some(text) = &self.text {
            // The namespace is inherited from <failure/>.
            text.write(w, None);
        }
        w.end("failure");
    }

    /// Writes the failure into `out`; see [`write`](Self::write).
    pub fn write_to(&self, out: &mut BytesMut) {
        let mut w = Writer::new(out);
        self.write(&mut w);
        w.finish();
    }
}

impl From<SaslFailureCondition> for SaslFailure {
    fn from(condition: SaslFailureCondition) -> Self {
        SaslFailure::new(condition)
    }
}

impl fmt::Display for SaslFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SASL authentication failed")?;
        if let Some(c) = self.condition {
            write!(f, ": {c}")?;
        }
        if let Some(text) = &self.text {
            write!(f, " ({text})")?;
        }
        Ok(())
    }
}

impl std::error::Error for SaslFailure {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_condition_round_trips_through_its_name() {
        let names = [
            "aborted",
            "account-disabled",
            "credentials-expired",
            "encryption-required",
            "incorrect-encoding",
            "invalid-authzid",
            "invalid-mechanism",
            "malformed-request",
            "mechanism-too-weak",
            "not-authorized",
            "temporary-auth-failure",
        ];
        for (c, name) in SaslFailureCondition::ALL.into_iter().zip(names) {
            assert_eq!(c.as_str(), name);
            assert_eq!(name.parse::<SaslFailureCondition>(), Ok(c));
            assert_eq!(c.to_string(), name);
        }
        assert!("transition-needed".parse::<SaslFailureCondition>().is_err());
    }
}
