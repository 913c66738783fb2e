//! Stream error conditions (RFC 6120 section 4.9.3).

use core::fmt;
use core::str::FromStr;

/// The defined stream error conditions of RFC 6120 section 4.9.3, in the namespace
/// `urn:ietf:params:xml:ns:xmpp-streams`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamErrorCondition {
    /// 4.9.3.1: the entity sent XML that cannot be processed.
    BadFormat,
    /// 4.9.3.2: an unsupported namespace prefix, or none where one is needed.
    BadNamespacePrefix,
    /// 4.9.3.3: a new stream for this entity conflicts with the existing one.
    Conflict,
    /// 4.9.3.4: the peer has not generated traffic for too long.
    ConnectionTimeout,
    /// 4.9.3.5: the `to` domain is no longer serviced here.
    HostGone,
    /// 4.9.3.6: the `to` domain is not serviced here.
    HostUnknown,
    /// 4.9.3.7: a stanza lacks a `to` or `from` that the protocol requires.
    ImproperAddressing,
    /// 4.9.3.8: a misconfiguration or an undefined internal error.
    InternalServerError,
    /// 4.9.3.9: the `from` does not match an authorized JID.
    InvalidFrom,
    /// 4.9.3.10: the stream or content namespace is wrong.
    InvalidNamespace,
    /// 4.9.3.11: invalid XML sent to a validating server.
    InvalidXml,
    /// 4.9.3.12: data sent before the stream was authenticated.
    NotAuthorized,
    /// 4.9.3.13: data that is not well-formed XML.
    NotWellFormed,
    /// 4.9.3.14: a local service policy was violated (for example a size limit).
    PolicyViolation,
    /// 4.9.3.15: a remote server could not be reached for authentication.
    RemoteConnectionFailed,
    /// 4.9.3.16: the stream must be reset (security or policy reasons).
    Reset,
    /// 4.9.3.17: the server lacks the resources to serve the stream.
    ResourceConstraint,
    /// 4.9.3.18: XML that RFC 6120 section 11.1 forbids (comments, PIs, DTDs, entities).
    RestrictedXml,
    /// 4.9.3.19: the peer should connect to another host.
    SeeOtherHost,
    /// 4.9.3.20: the server is shutting down.
    SystemShutdown,
    /// 4.9.3.21: none of the other conditions applies.
    UndefinedCondition,
    /// 4.9.3.22: an encoding other than UTF-8.
    UnsupportedEncoding,
    /// 4.9.3.23: a mandatory-to-negotiate feature is not supported.
    UnsupportedFeature,
    /// 4.9.3.24: a first-level child that is not a known stanza or negotiation element.
    UnsupportedStanzaType,
    /// 4.9.3.25: an unsupported major version of XMPP.
    UnsupportedVersion,
}

impl StreamErrorCondition {
    /// Every condition, in the order of RFC 6120 section 4.9.3.
    pub const ALL: [StreamErrorCondition; 25] = {
        use StreamErrorCondition::*;
        [
            BadFormat,
            BadNamespacePrefix,
            Conflict,
            ConnectionTimeout,
            HostGone,
            HostUnknown,
            ImproperAddressing,
            InternalServerError,
            InvalidFrom,
            InvalidNamespace,
            InvalidXml,
            NotAuthorized,
            NotWellFormed,
            PolicyViolation,
            RemoteConnectionFailed,
            Reset,
            ResourceConstraint,
            RestrictedXml,
            SeeOtherHost,
            SystemShutdown,
            UndefinedCondition,
            UnsupportedEncoding,
            UnsupportedFeature,
            UnsupportedStanzaType,
            UnsupportedVersion,
        ]
    };

    /// The element name of the condition, as it appears on the wire.
    pub const fn as_str(self) -> &'static str {
        use StreamErrorCondition::*;
        match self {
            BadFormat => "bad-format",
            BadNamespacePrefix => "bad-namespace-prefix",
            Conflict => "conflict",
            ConnectionTimeout => "connection-timeout",
            HostGone => "host-gone",
            HostUnknown => "host-unknown",
            ImproperAddressing => "improper-addressing",
            InternalServerError => "internal-server-error",
            InvalidFrom => "invalid-from",
            InvalidNamespace => "invalid-namespace",
            InvalidXml => "invalid-xml",
            NotAuthorized => "not-authorized",
            NotWellFormed => "not-well-formed",
            PolicyViolation => "policy-violation",
            RemoteConnectionFailed => "remote-connection-failed",
            Reset => "reset",
            ResourceConstraint => "resource-constraint",
            RestrictedXml => "restricted-xml",
            SeeOtherHost => "see-other-host",
            SystemShutdown => "system-shutdown",
            UndefinedCondition => "undefined-condition",
            UnsupportedEncoding => "unsupported-encoding",
            UnsupportedFeature => "unsupported-feature",
            UnsupportedStanzaType => "unsupported-stanza-type",
            UnsupportedVersion => "unsupported-version",
        }
    }
}

impl fmt::Display for StreamErrorCondition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The name is not one of RFC 6120's stream error conditions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownCondition;

impl fmt::Display for UnknownCondition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not a stream error condition of RFC 6120 section 4.9.3")
    }
}

impl std::error::Error for UnknownCondition {}

impl FromStr for StreamErrorCondition {
    type Err = UnknownCondition;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or(UnknownCondition)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_condition_round_trips_through_its_name() {
        for c in StreamErrorCondition::ALL {
            assert_eq!(c.as_str().parse::<StreamErrorCondition>(), Ok(c));
        }
        assert_eq!(
            "not-a-condition".parse::<StreamErrorCondition>(),
            Err(UnknownCondition)
        );
    }
}
