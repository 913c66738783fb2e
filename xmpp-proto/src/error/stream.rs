//! Stream errors (RFC 6120 section 4.9): the conditions of section 4.9.3 and the
//! `<stream:error/>` element that carries one.

use core::fmt;

use bytes::BytesMut;

use super::common::{AppCondition, MalformedError, Text, is_app_ns, vocabulary};
use super::{STREAM_ERRORS_NS, STREAM_NS};
use crate::xml::{ElementRef, ParseError, Writer};

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

vocabulary!(
    StreamErrorCondition,
    "stream error condition of RFC 6120 section 4.9.3"
);

/// A stream error (RFC 6120 section 4.9): the condition, with optional text and an optional
/// application-specific condition. Sending one closes the stream; so does receiving one.
///
/// ```
/// use bytes::BytesMut;
/// use xmpp_sansio::error::{StreamError, StreamErrorCondition};
///
/// let mut out = BytesMut::new();
/// StreamError::new(StreamErrorCondition::NotWellFormed).write_to(&mut out);
/// assert_eq!(
///     &out[..],
///     b"<stream:error><not-well-formed xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>\
///       </stream:error>"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamError {
    /// The defined condition.
    pub condition: StreamErrorCondition,
    /// Descriptive text (RFC 6120 section 4.9.2).
    pub text: Option<Text>,
    /// For [`StreamErrorCondition::SeeOtherHost`], where to reconnect: a domain name or IP
    /// address, optionally followed by `:port` (IPv6 addresses in brackets; RFC 6120 section
    /// 4.9.3.19). Ignored with every other condition.
    pub see_other_host: Option<String>,
    /// An application-specific condition (RFC 6120 section 4.9.4).
    pub app_specific: Option<AppCondition>,
}

impl StreamError {
    /// An error with `condition` and nothing else.
    pub fn new(condition: StreamErrorCondition) -> Self {
        StreamError {
            condition,
            text: None,
            see_other_host: None,
            app_specific: None,
        }
    }

    /// `see-other-host` redirecting the peer to `host` (`host`, `host:port`, `[v6]:port`).
    pub fn see_other_host(host: impl Into<String>) -> Self {
        StreamError {
            see_other_host: Some(host.into()),
            ..Self::new(StreamErrorCondition::SeeOtherHost)
        }
    }

    /// The same error with descriptive text.
    pub fn with_text(mut self, text: Text) -> Self {
        self.text = Some(text);
        self
    }

    /// The same error with an application-specific condition.
    pub fn with_app_specific(mut self, app: AppCondition) -> Self {
        self.app_specific = Some(app);
        self
    }

    /// Reads a received `<stream:error/>`.
    ///
    /// As RFC 6120 asks, a condition this crate does not know is read as
    /// `undefined-condition`, and children that are neither conditions, text nor an
    /// application-specific condition are ignored; of repeated children the first counts.
    ///
    /// # Errors
    ///
    /// [`MalformedError::WrongElement`] if `el` is not `error` in the streams namespace,
    /// [`MalformedError::MissingCondition`] if no child is in the stream errors namespace.
    pub fn from_element(el: ElementRef<'_>) -> Result<Self, MalformedError> {
        if !el.is("error", STREAM_NS) {
            return Err(MalformedError::WrongElement {
                expected: "<stream:error/> in http://etherx.jabber.org/streams",
            });
        }
        let mut condition = None;
        let mut err = StreamError::new(StreamErrorCondition::UndefinedCondition);
        for child in el.children() {
            let ns = child.ns();
            if ns == STREAM_ERRORS_NS {
                if child.name() == "text" {
                    if err.text.is_none() {
                        err.text = Some(Text::read(child));
                    }
                } else if condition.is_none() {
                    let c = child
                        .name()
                        .parse()
                        .unwrap_or(StreamErrorCondition::UndefinedCondition);
                    if c == StreamErrorCondition::SeeOtherHost {
                        let host = child.text();
                        let host = host.trim();
                        err.see_other_host = (!host.is_empty()).then(|| host.to_owned());
                    }
                    condition = Some(c);
                }
            } else if err.app_specific.is_none() && is_app_ns(ns, STREAM_ERRORS_NS) {
                err.app_specific = Some(AppCondition::from_element(child));
            }
        }
        err.condition = condition.ok_or(MalformedError::MissingCondition {
            namespace: STREAM_ERRORS_NS,
        })?;
        Ok(err)
    }

    /// Writes `<stream:error>...</stream:error>`. The `stream` prefix is the one RFC 6120
    /// uses, and must be bound to the streams namespace by the header of the stream this
    /// goes into, as every XMPP stream header does.
    pub fn write(&self, w: &mut Writer<'_>) {
        let cond = self.condition.as_str();
        w.start("stream:error").start(cond).xmlns(STREAM_ERRORS_NS);
        if self.condition == StreamErrorCondition::SeeOtherHost {
            if let Some(host) = &self.see_other_host {
                w.text(host);
            }
        }
        w.end(cond);
        if let Some(text) = &self.text {
            text.write(w, Some(STREAM_ERRORS_NS));
        }
        if let Some(app) = &self.app_specific {
            app.write(w);
        }
        w.end("stream:error");
    }

    /// Writes the error into `out`; see [`write`](Self::write).
    pub fn write_to(&self, out: &mut BytesMut) {
        let mut w = Writer::new(out);
        self.write(&mut w);
        w.finish();
    }
}

impl From<StreamErrorCondition> for StreamError {
    fn from(condition: StreamErrorCondition) -> Self {
        StreamError::new(condition)
    }
}

impl From<ParseError> for StreamError {
    /// The stream error that answers a parse error: its condition, without text (the
    /// offset and kind are for the local log, not for the peer).
    fn from(e: ParseError) -> Self {
        StreamError::new(e.condition())
    }
}

impl fmt::Display for StreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "stream error {}", self.condition)?;
        if let (StreamErrorCondition::SeeOtherHost, Some(host)) =
            (self.condition, &self.see_other_host)
        {
            write!(f, " (reconnect to {host})")?;
        }
        if let Some(app) = &self.app_specific {
            write!(f, " [{} in {}]", app.name(), app.ns())?;
        }
        if let Some(text) = &self.text {
            write!(f, ": {text}")?;
        }
        Ok(())
    }
}

impl std::error::Error for StreamError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_parse_error_becomes_its_stream_error() {
        let mut p = crate::xml::StreamParser::default();
        let e = p
            .handle_input(
                b"<stream:stream xmlns='jabber:client' \
            xmlns:stream='http://etherx.jabber.org/streams'><!-- no -->",
            )
            .unwrap_err();
        assert_eq!(
            StreamError::from(e),
            StreamError::new(StreamErrorCondition::RestrictedXml)
        );
    }

    #[test]
    fn every_condition_round_trips_through_its_name() {
        for c in StreamErrorCondition::ALL {
            assert_eq!(c.as_str().parse::<StreamErrorCondition>(), Ok(c));
        }
        let e = "not-a-condition"
            .parse::<StreamErrorCondition>()
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "not a stream error condition of RFC 6120 section 4.9.3"
        );
    }
}
