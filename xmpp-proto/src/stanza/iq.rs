//! IQ stanzas (RFC 6120 section 8.2.3): request and response, and the rules that keep them
//! paired.

use bytes::BytesMut;

use super::builder::{IqBuilder, Payload};
use super::{NoReply, Stanza, StanzaKind, bad_request};
use crate::error::StanzaError;
use crate::xml::{Element, ElementRef};

/// The `type` of an iq (RFC 6120 section 8.2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IqType {
    /// A request for information.
    Get,
    /// A request that provides data or changes state.
    Set,
    /// A successful response.
    Result,
    /// A failed response, or an error about the request.
    Error,
}

impl IqType {
    /// Every iq type, in the order of RFC 6120 section 8.2.3.
    pub const ALL: [IqType; 4] = [IqType::Get, IqType::Set, IqType::Result, IqType::Error];

    /// The value of the `type` attribute.
    pub const fn as_str(self) -> &'static str {
        match self {
            IqType::Get => "get",
            IqType::Set => "set",
            IqType::Result => "result",
            IqType::Error => "error",
        }
    }

    /// Is this a request (`get` or `set`), which must be answered?
    pub const fn is_request(self) -> bool {
        matches!(self, IqType::Get | IqType::Set)
    }
}

crate::error::vocabulary!(IqType, "iq type of RFC 6120 section 8.2.3");

/// An iq: a view over a [`Stanza`] of kind iq.
#[derive(Debug, Clone, Copy)]
pub struct Iq<'a> {
    stanza: &'a Stanza,
}

impl<'a> Iq<'a> {
    pub(super) fn new(stanza: &'a Stanza) -> Self {
        Iq { stanza }
    }

    /// The stanza viewed.
    pub fn stanza(&self) -> &'a Stanza {
        self.stanza
    }

    /// The type.
    ///
    /// # Errors
    ///
    /// `bad-request` if the attribute is missing or is not one of the four (RFC 6120
    /// sections 8.2.3 and 8.3.3.1).
    pub fn type_(&self) -> Result<IqType, Box<StanzaError>> {
        match self.stanza.type_attr() {
            None => Err(bad_request(IqRule::TypeMissing.text())),
            Some(t) => t
                .parse()
                .map_err(|_| bad_request(IqRule::TypeUnknown.text())),
        }
    }

    /// The payload: the first child element other than an `<error/>` in the stanza's
    /// namespace. For a valid `get` or `set` that is its only child; for a `result`, its
    /// child if it has one; for an `error`, the request's child if it was included.
    pub fn payload(&self) -> Option<ElementRef<'a>> {
        let ns = self.stanza.ns();
        self.stanza.payloads().find(|c| !c.is("error", ns))
    }

    /// Applies the rules of RFC 6120 section 8.2.3 and returns the type.
    ///
    /// The rules: an `id` is required; the `type` is one of the four; a `get` or `set` has
    /// exactly one child element; a `result` has zero or one; an `error` has an `<error/>`
    /// child.
    ///
    /// # Errors
    ///
    /// The `bad-request` error (RFC 6120 section 8.3.3.1) to answer with, its text saying
    /// which rule was broken. An iq `result` or `error` that breaks a rule is still never
    /// answered: [`error_reply`](super::error_reply) refuses to, and the iq is best dropped.
    pub fn validate(&self) -> Result<IqType, Box<StanzaError>> {
        self.check().map_err(|rule| bad_request(rule.text()))
    }

    /// Applies the rules of RFC 6120 section 8.2.3, as [`validate`](Self::validate) does,
    /// and says which one is broken: for an entity about to send the iq, which must not
    /// send what its peer has to refuse.
    ///
    /// # Errors
    ///
    /// The first rule broken, in the order of [`IqRule`].
    pub fn check(&self) -> Result<IqType, IqRule> {
        if self.stanza.id().is_none() {
            return Err(IqRule::Id);
        }
        let type_ = match self.stanza.type_attr() {
            None => return Err(IqRule::TypeMissing),
            Some(t) => t.parse::<IqType>().map_err(|_| IqRule::TypeUnknown)?,
        };
        let children = self.stanza.payloads().count();
        match type_ {
            IqType::Get | IqType::Set if children != 1 => Err(IqRule::RequestChild),
            IqType::Result if children > 1 => Err(IqRule::ResultChild),
            IqType::Error if self.stanza.error_child().is_none() => Err(IqRule::ErrorChild),
            _ => Ok(type_),
        }
    }
}

/// A rule of RFC 6120 section 8.2.3 that an iq breaks.
///
/// A received iq that breaks one is answered with `bad-request` (section 8.3.3.1) when it
/// may be answered at all, that is, unless it is a response (a `result` or an `error`, which
/// is never answered, section 8.2.3 and 8.3.1); an iq about to be sent that breaks one is
/// refused before any byte is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IqRule {
    /// The `id` attribute is missing ("REQUIRED for IQ stanzas").
    Id,
    /// The `type` attribute is missing ("REQUIRED for IQ stanzas").
    TypeMissing,
    /// The `type` is not `get`, `set`, `result` or `error`.
    TypeUnknown,
    /// A `get` or `set` without exactly one child element.
    RequestChild,
    /// A `result` with more than one child element.
    ResultChild,
    /// An `error` without an `<error/>` child.
    ErrorChild,
}

impl IqRule {
    /// The rule, in English, with its section.
    pub const fn text(self) -> &'static str {
        match self {
            IqRule::Id => "an iq must have an 'id' (RFC 6120 section 8.2.3)",
            IqRule::TypeMissing => "an iq must have a 'type' (RFC 6120 section 8.2.3)",
            IqRule::TypeUnknown => {
                "the iq 'type' must be get, set, result or error (RFC 6120 section 8.2.3)"
            }
            IqRule::RequestChild => {
                "an iq get or set must have exactly one child element (RFC 6120 section 8.2.3)"
            }
            IqRule::ResultChild => {
                "an iq result must have at most one child element (RFC 6120 section 8.2.3)"
            }
            IqRule::ErrorChild => {
                "an iq error must have an <error/> child (RFC 6120 section 8.2.3)"
            }
        }
    }
}

impl core::fmt::Display for IqRule {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.text())
    }
}

impl std::error::Error for IqRule {}

/// The rules of RFC 6120 section 8.2.3 for an element about to be sent as a stanza: an iq
/// must keep them; anything else passes.
#[cfg_attr(not(any(feature = "client", feature = "server")), allow(dead_code))]
pub(crate) fn check_iq(el: &Element) -> Result<(), IqRule> {
    if el.name() != "iq" {
        return Ok(());
    }
    match Stanza::from_element(el.clone()) {
        Ok(stanza) => stanza.as_iq().map_or(Ok(()), |iq| iq.check().map(drop)),
        Err(_) => Ok(()),
    }
}

/// Writes into `out` the `result` answering the iq `request` (RFC 6120 section 8.2.3): `to`
/// and `from` swapped (as received), the same `id`, and `payload` if given. An
/// [`ElementRef`] payload is written for a stream in the request's namespace.
///
/// # Errors
///
/// Writes nothing and returns [`NoReply::ErrorStanza`] or [`NoReply::IqResult`] if the
/// request is a response, and [`NoReply::NotARequest`] if it is not an iq `get` or `set`
/// with an `id`.
pub fn iq_result(
    request: &Stanza,
    payload: Option<Payload<'_>>,
    out: &mut BytesMut,
) -> Result<(), NoReply> {
    if request.kind() != StanzaKind::Iq {
        return Err(NoReply::NotARequest);
    }
    match request.type_attr().as_deref() {
        Some("get" | "set") => {}
        Some("error") => return Err(NoReply::ErrorStanza),
        Some("result") => return Err(NoReply::IqResult),
        _ => return Err(NoReply::NotARequest),
    }
    let Some(id) = request.id() else {
        return Err(NoReply::NotARequest);
    };
    let (from, to) = request.raw_addresses();
    let mut b = IqBuilder::new(IqType::Result, &id).content_ns(request.ns());
    b.head.from = from.as_deref();
    b.head.to = to.as_deref();
    if let Some(p) = payload {
        b = b.payload(p);
    }
    b.write(out);
    Ok(())
}
