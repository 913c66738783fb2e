//! Stanza errors (RFC 6120 section 8.3): the error types of section 8.3.2, the conditions
//! of section 8.3.3, and the `<error/>` child that carries them.

use core::fmt;

use bytes::BytesMut;

use super::CONTENT_NAMESPACES;
use super::STANZA_ERRORS_NS;
use super::common::{AppCondition, MalformedError, Text, is_app_ns, vocabulary};
use crate::jid::Jid;
use crate::xml::{ElementRef, Writer};

/// What the sender of the stanza in error should do (RFC 6120 section 8.3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorType {
    /// Retry after providing credentials.
    Auth,
    /// Do not retry: the error cannot be remedied.
    Cancel,
    /// Proceed: the condition was only a warning.
    Continue,
    /// Retry after changing the data sent.
    Modify,
    /// Retry after waiting: the error is temporary.
    Wait,
}

impl ErrorType {
    /// Every error type, in the order of RFC 6120 section 8.3.2.
    pub const ALL: [ErrorType; 5] = [
        ErrorType::Auth,
        ErrorType::Cancel,
        ErrorType::Continue,
        ErrorType::Modify,
        ErrorType::Wait,
    ];

    /// The value of the `type` attribute.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorType::Auth => "auth",
            ErrorType::Cancel => "cancel",
            ErrorType::Continue => "continue",
            ErrorType::Modify => "modify",
            ErrorType::Wait => "wait",
        }
    }
}

vocabulary!(ErrorType, "stanza error type of RFC 6120 section 8.3.2");

/// The defined stanza error conditions of RFC 6120 section 8.3.3, in the namespace
/// `urn:ietf:params:xml:ns:xmpp-stanzas`.
///
/// `gone` and `redirect` may carry the new address of the entity (an XMPP URI, RFC 5122);
/// it is `None` when the element is empty.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum StanzaErrorCondition {
    /// 8.3.3.1: the stanza does not conform to the schema or cannot be processed.
    BadRequest,
    /// 8.3.3.2: a resource or session with that name or address already exists.
    Conflict,
    /// 8.3.3.3: the feature is not implemented by the recipient or server.
    FeatureNotImplemented,
    /// 8.3.3.4: the sender may not perform the action.
    Forbidden,
    /// 8.3.3.5: the recipient is no longer at this address; the new one if known.
    Gone(Option<String>),
    /// 8.3.3.6: the server failed to process the stanza.
    InternalServerError,
    /// 8.3.3.7: the addressed JID or item cannot be found.
    ItemNotFound,
    /// 8.3.3.8: an address in the stanza violates the rules of RFC 7622.
    JidMalformed,
    /// 8.3.3.9: the request does not meet criteria defined by the recipient or server.
    NotAcceptable,
    /// 8.3.3.10: no entity may perform the action.
    NotAllowed,
    /// 8.3.3.11: the sender must authenticate first.
    NotAuthorized,
    /// 8.3.3.12: a local service policy was violated.
    PolicyViolation,
    /// 8.3.3.13: the intended recipient is temporarily unavailable.
    RecipientUnavailable,
    /// 8.3.3.14: the request should go to another entity, usually temporarily; its address
    /// if given.
    Redirect(Option<String>),
    /// 8.3.3.15: registration is required first.
    RegistrationRequired,
    /// 8.3.3.16: a remote server of the recipient's domain does not exist or cannot be
    /// resolved.
    RemoteServerNotFound,
    /// 8.3.3.17: a remote server was resolved but could not be reached in time.
    RemoteServerTimeout,
    /// 8.3.3.18: the server or recipient is too busy.
    ResourceConstraint,
    /// 8.3.3.19: the server or recipient does not provide the service.
    ServiceUnavailable,
    /// 8.3.3.20: a presence subscription is required first.
    SubscriptionRequired,
    /// 8.3.3.21: none of the other conditions applies; meant to accompany an
    /// application-specific condition.
    UndefinedCondition,
    /// 8.3.3.22: the request was understood but not expected now (out of order).
    UnexpectedRequest,
}

impl StanzaErrorCondition {
    /// Every condition, in the order of RFC 6120 section 8.3.3; `gone` and `redirect`
    /// without an address.
    pub const ALL: [StanzaErrorCondition; 22] = {
        use StanzaErrorCondition::*;
        [
            BadRequest,
            Conflict,
            FeatureNotImplemented,
            Forbidden,
            Gone(None),
            InternalServerError,
            ItemNotFound,
            JidMalformed,
            NotAcceptable,
            NotAllowed,
            NotAuthorized,
            PolicyViolation,
            RecipientUnavailable,
            Redirect(None),
            RegistrationRequired,
            RemoteServerNotFound,
            RemoteServerTimeout,
            ResourceConstraint,
            ServiceUnavailable,
            SubscriptionRequired,
            UndefinedCondition,
            UnexpectedRequest,
        ]
    };

    /// The element name of the condition, as it appears on the wire.
    pub const fn as_str(&self) -> &'static str {
        use StanzaErrorCondition::*;
        match self {
            BadRequest => "bad-request",
            Conflict => "conflict",
            FeatureNotImplemented => "feature-not-implemented",
            Forbidden => "forbidden",
            Gone(_) => "gone",
            InternalServerError => "internal-server-error",
            ItemNotFound => "item-not-found",
            JidMalformed => "jid-malformed",
            NotAcceptable => "not-acceptable",
            NotAllowed => "not-allowed",
            NotAuthorized => "not-authorized",
            PolicyViolation => "policy-violation",
            RecipientUnavailable => "recipient-unavailable",
            Redirect(_) => "redirect",
            RegistrationRequired => "registration-required",
            RemoteServerNotFound => "remote-server-not-found",
            RemoteServerTimeout => "remote-server-timeout",
            ResourceConstraint => "resource-constraint",
            ServiceUnavailable => "service-unavailable",
            SubscriptionRequired => "subscription-required",
            UndefinedCondition => "undefined-condition",
            UnexpectedRequest => "unexpected-request",
        }
    }

    /// The error type RFC 6120 section 8.3.3 gives for the condition. Where it allows two
    /// (`feature-not-implemented`: cancel or modify; `policy-violation`: modify or wait;
    /// `unexpected-request`: wait or modify) this is the one it names first;
    /// `undefined-condition` allows any, and gets `cancel`, the one that invites no retry.
    pub const fn default_type(&self) -> ErrorType {
        use StanzaErrorCondition::*;
        match self {
            BadRequest | JidMalformed | NotAcceptable | PolicyViolation | Redirect(_) => {
                ErrorType::Modify
            }
            Forbidden | NotAuthorized | RegistrationRequired | SubscriptionRequired => {
                ErrorType::Auth
            }
            RecipientUnavailable | RemoteServerTimeout | ResourceConstraint | UnexpectedRequest => {
                ErrorType::Wait
            }
            Conflict
            | FeatureNotImplemented
            | Gone(_)
            | InternalServerError
            | ItemNotFound
            | NotAllowed
            | RemoteServerNotFound
            | ServiceUnavailable
            | UndefinedCondition => ErrorType::Cancel,
        }
    }

    /// The new address carried by `gone` or `redirect`, if any.
    pub fn uri(&self) -> Option<&str> {
        match self {
            StanzaErrorCondition::Gone(uri) | StanzaErrorCondition::Redirect(uri) => uri.as_deref(),
            _ => None,
        }
    }
}

vocabulary!(
    StanzaErrorCondition,
    "stanza error condition of RFC 6120 section 8.3.3"
);

/// A stanza error (RFC 6120 section 8.3): the `<error/>` child of a stanza of type `error`.
///
/// ```
/// use xmpp_sansio::error::{ErrorType, StanzaError, StanzaErrorCondition};
///
/// let e = StanzaError::new(StanzaErrorCondition::ServiceUnavailable);
/// assert_eq!(e.type_, ErrorType::Cancel);
/// assert_eq!(e.to_string(), "cancel error service-unavailable");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StanzaError {
    /// What the sender should do (the `type` attribute).
    pub type_: ErrorType,
    /// The defined condition.
    pub condition: StanzaErrorCondition,
    /// The entity that generated the error (the `by` attribute).
    pub by: Option<Jid>,
    /// Descriptive text.
    pub text: Option<Text>,
    /// An application-specific condition (RFC 6120 section 8.3.4).
    pub app_specific: Option<AppCondition>,
}

impl StanzaError {
    /// An error with `condition`, of the condition's [default type](
    /// StanzaErrorCondition::default_type).
    pub fn new(condition: StanzaErrorCondition) -> Self {
        StanzaError {
            type_: condition.default_type(),
            condition,
            by: None,
            text: None,
            app_specific: None,
        }
    }

    /// The same error with another type.
    pub fn with_type(mut self, type_: ErrorType) -> Self {
        self.type_ = type_;
        self
    }

    /// The same error, generated by `by`.
    pub fn with_by(mut self, by: Jid) -> Self {
        self.by = Some(by);
        self
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

    /// Reads a received `<error/>` child of a stanza, in one of the content namespaces
    /// (`jabber:client`, `jabber:server`, `jabber:component:accept`).
    ///
    /// Leniently, as RFC 6120 asks: an unknown condition is read as `undefined-condition`;
    /// a missing or unknown `type` is taken as the condition's default type; a `by` that is
    /// not a valid JID is dropped (it only informs, and refusing the error for it would hide
    /// the condition); other children and the legacy `code` attribute are ignored.
    ///
    /// # Errors
    ///
    /// [`MalformedError::WrongElement`] if `el` is not `error` in a content namespace,
    /// [`MalformedError::MissingCondition`] if no child is in the stanza errors namespace.
    pub fn from_element(el: ElementRef<'_>) -> Result<Self, MalformedError> {
        if el.name() != "error" || !CONTENT_NAMESPACES.contains(&el.ns()) {
            return Err(MalformedError::WrongElement {
                expected: "<error/> in the content namespace of a stanza",
            });
        }
        let mut condition = None;
        let mut text = None;
        let mut app_specific = None;
        for child in el.children() {
            let ns = child.ns();
            if ns == STANZA_ERRORS_NS {
                if child.name() == "text" {
                    if text.is_none() {
                        text = Some(Text::read(child));
                    }
                } else if condition.is_none() {
                    let mut c = child
                        .name()
                        .parse()
                        .unwrap_or(StanzaErrorCondition::UndefinedCondition);
                    if let StanzaErrorCondition::Gone(uri) | StanzaErrorCondition::Redirect(uri) =
                        &mut c
                    {
                        let t = child.text();
                        let t = t.trim();
                        *uri = (!t.is_empty()).then(|| t.to_owned());
                    }
                    condition = Some(c);
                }
            } else if app_specific.is_none() && is_app_ns(ns, STANZA_ERRORS_NS) {
                app_specific = Some(AppCondition::from_element(child));
            }
        }
        let condition = condition.ok_or(MalformedError::MissingCondition {
            namespace: STANZA_ERRORS_NS,
        })?;
        let type_ = el
            .attr("type")
            .and_then(|t| t.parse().ok())
            .unwrap_or(condition.default_type());
        let by = el.attr("by").and_then(|by| Jid::parse(&by).ok());
        Ok(StanzaError {
            type_,
            condition,
            by,
            text,
            app_specific,
        })
    }

    /// Writes `<error type='...'>...</error>` without a namespace declaration: it is a child
    /// of a stanza and takes the stanza's namespace.
    pub fn write(&self, w: &mut Writer<'_>) {
        w.start("error")
            .attr_opt("by", self.by.as_ref().map(Jid::as_str))
            .attr("type", self.type_.as_str());
        let cond = self.condition.as_str();
        w.start(cond).xmlns(STANZA_ERRORS_NS);
        if let Some(uri) = self.condition.uri() {
            w.text(uri);
        }
        w.end(cond);
        if let Some(text) = &self.text {
            text.write(w, Some(STANZA_ERRORS_NS));
        }
        if let Some(app) = &self.app_specific {
            app.write(w);
        }
        w.end("error");
    }

    /// Writes the error into `out`; see [`write`](Self::write).
    pub fn write_to(&self, out: &mut BytesMut) {
        let mut w = Writer::new(out);
        self.write(&mut w);
        w.finish();
    }
}

impl From<StanzaErrorCondition> for StanzaError {
    fn from(condition: StanzaErrorCondition) -> Self {
        StanzaError::new(condition)
    }
}

impl fmt::Display for StanzaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} error {}", self.type_, self.condition)?;
        if let Some(uri) = self.condition.uri() {
            write!(f, " ({uri})")?;
        }
        if let Some(app) = &self.app_specific {
            write!(f, " [{} in {}]", app.name(), app.ns())?;
        }
        if let Some(by) = &self.by {
            write!(f, " from {by}")?;
        }
        if let Some(text) = &self.text {
            write!(f, ": {text}")?;
        }
        Ok(())
    }
}

impl std::error::Error for StanzaError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_condition_round_trips_through_its_name() {
        for c in StanzaErrorCondition::ALL {
            assert_eq!(c.as_str().parse::<StanzaErrorCondition>(), Ok(c.clone()));
            assert_eq!(c.to_string(), c.as_str());
        }
        assert!("gone ".parse::<StanzaErrorCondition>().is_err());
        for t in ErrorType::ALL {
            assert_eq!(t.as_str().parse::<ErrorType>(), Ok(t));
        }
        assert_eq!(
            "Cancel".parse::<ErrorType>().unwrap_err().to_string(),
            "not a stanza error type of RFC 6120 section 8.3.2"
        );
    }

    #[test]
    fn default_types_follow_rfc_6120_section_8_3_3() {
        use ErrorType::*;
        let expected = [
            ("bad-request", Modify),
            ("conflict", Cancel),
            ("feature-not-implemented", Cancel),
            ("forbidden", Auth),
            ("gone", Cancel),
            ("internal-server-error", Cancel),
            ("item-not-found", Cancel),
            ("jid-malformed", Modify),
            ("not-acceptable", Modify),
            ("not-allowed", Cancel),
            ("not-authorized", Auth),
            ("policy-violation", Modify),
            ("recipient-unavailable", Wait),
            ("redirect", Modify),
            ("registration-required", Auth),
            ("remote-server-not-found", Cancel),
            ("remote-server-timeout", Wait),
            ("resource-constraint", Wait),
            ("service-unavailable", Cancel),
            ("subscription-required", Auth),
            ("undefined-condition", Cancel),
            ("unexpected-request", Wait),
        ];
        assert_eq!(expected.len(), StanzaErrorCondition::ALL.len());
        for (c, (name, t)) in StanzaErrorCondition::ALL.iter().zip(expected) {
            assert_eq!(c.as_str(), name);
            assert_eq!(c.default_type(), t, "{name}");
            assert_eq!(StanzaError::new(c.clone()).type_, t, "{name}");
        }
    }

    #[test]
    fn only_gone_and_redirect_carry_an_address() {
        let gone = StanzaErrorCondition::Gone(Some("xmpp:romeo@example.net".into()));
        assert_eq!(gone.uri(), Some("xmpp:romeo@example.net"));
        assert_eq!(gone.as_str(), "gone");
        assert_eq!(StanzaErrorCondition::Redirect(None).uri(), None);
        assert_eq!(StanzaErrorCondition::Conflict.uri(), None);
    }
}
