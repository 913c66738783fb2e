//! Stanzas (RFC 6120 section 8): views over received `<message/>`, `<presence/>` and `<iq/>`
//! elements, the rules every entity applies to them, and builders for sending them.
//!
//! A [`Stanza`] wraps the [`Element`] that arrived and reads it in place: the payload is
//! never copied, and forwarding the stanza unchanged can write the received bytes. Addresses
//! are parsed when asked for, and a malformed one is reported, not a panic, so that the
//! entity can answer with `jid-malformed` (RFC 6120 section 8.3.3.8) instead of closing the
//! stream.
//!
//! - [`Stanza::from_element`] recognizes the three stanza kinds in the content namespaces
//!   (`jabber:client`, `jabber:server`, `jabber:component:accept`);
//! - [`Message`], [`Presence`] and [`Iq`] are typed views; [`Iq::validate`] applies the IQ
//!   rules of section 8.2.3 ([`Iq::check`] names the [`IqRule`] broken);
//!   [`Stanza::triage`] says what a receiver does with a stanza under them (process,
//!   answer `bad-request`, or drop a broken response); [`Stanza::check_addresses`] the
//!   address rules; [`Stanza::lang_or`] the language of a stanza, the stream's by default;
//! - [`error_reply`] writes the error reply of section 8.3.1, and refuses to answer an error
//!   or an IQ response; [`iq_result`] writes the `result` to an IQ request;
//! - [`MessageBuilder`], [`PresenceBuilder`] and [`IqBuilder`] write stanzas through a
//!   [`Writer`] into a caller's buffer, allocating nothing per element.
//!
//! Everything written here is written for a stream whose default namespace is the content
//! namespace, as RFC 6120 section 4.8.2 has it: stanza elements carry no `xmlns` and take
//! the namespace of the stream they are written into.

mod builder;
mod iq;
mod message;
mod presence;

use core::fmt;
use std::borrow::Cow;

use bytes::BytesMut;

use crate::error::{MalformedError, StanzaError, StanzaErrorCondition, Text};
use crate::jid::{Jid, JidError};
use crate::xml::{Children, Element, ElementRef, Known, RootIndex, Writer};

pub use builder::{IqBuilder, MessageBuilder, Payload, PresenceBuilder};
// The c2s roles refuse to send what the peer must refuse; without them nothing uses it.
#[cfg_attr(
    not(any(feature = "client", feature = "server")),
    allow(unused_imports)
)]
pub(crate) use iq::check_iq;
pub use iq::{Iq, IqRule, IqType, iq_result};
pub use message::{Message, MessageType};
pub use presence::{Presence, PresenceType};

// The content namespaces live beside the other namespaces of RFC 6120, in `error`, which
// the parser alone builds with (it needs no JID); they are the stanzas' too.
pub use crate::error::{CONTENT_NAMESPACES, JABBER_CLIENT, JABBER_COMPONENT_ACCEPT, JABBER_SERVER};

/// The three kinds of stanza (RFC 6120 section 8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StanzaKind {
    /// `<message/>`: push, fire and forget (section 8.2.1).
    Message,
    /// `<presence/>`: broadcast or publish-subscribe of availability (section 8.2.2).
    Presence,
    /// `<iq/>`: request and response (section 8.2.3).
    Iq,
}

impl StanzaKind {
    /// Every kind.
    pub const ALL: [StanzaKind; 3] = [StanzaKind::Message, StanzaKind::Presence, StanzaKind::Iq];

    /// The element name.
    pub const fn as_str(self) -> &'static str {
        match self {
            StanzaKind::Message => "message",
            StanzaKind::Presence => "presence",
            StanzaKind::Iq => "iq",
        }
    }
}

crate::error::vocabulary!(
    StanzaKind,
    "stanza kind of RFC 6120 section 8 (message, presence, iq)"
);

/// The `type` of a stanza, read for its kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StanzaType {
    /// The type of a message.
    Message(MessageType),
    /// The type of a presence.
    Presence(PresenceType),
    /// The type of an iq.
    Iq(IqType),
}

impl StanzaType {
    /// Is this the `error` type of its kind?
    pub fn is_error(self) -> bool {
        matches!(
            self,
            StanzaType::Message(MessageType::Error)
                | StanzaType::Presence(PresenceType::Error)
                | StanzaType::Iq(IqType::Error)
        )
    }
}

/// A received stanza: a view over its [`Element`].
///
/// ```
/// use xmpp_sansio::stanza::{Stanza, StanzaKind};
/// use xmpp_sansio::xml::{Event, StreamParser};
///
/// let mut p = StreamParser::default();
/// p.handle_input(b"<stream:stream xmlns='jabber:client' \
///     xmlns:stream='http://etherx.jabber.org/streams'>\
///     <message to='juliet@example.com' id='m1'><body>hi</body></message>").unwrap();
/// p.poll_event();
/// let Some(Event::Element(el)) = p.poll_event() else { panic!() };
/// let stanza = Stanza::from_element(el).unwrap();
/// assert_eq!(stanza.kind(), StanzaKind::Message);
/// assert_eq!(stanza.to().unwrap().unwrap().as_str(), "juliet@example.com");
/// assert_eq!(stanza.as_message().unwrap().body().as_deref(), Some("hi"));
/// ```
#[derive(Clone)]
pub struct Stanza {
    element: Element,
    kind: StanzaKind,
    /// Where `to`, `from`, `id`, `type` and `xml:lang` are among the root's attributes,
    /// found once: every hop reads them, a server on every stanza it receives.
    index: RootIndex,
}

impl fmt::Debug for Stanza {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stanza")
            .field("element", &self.element)
            .field("kind", &self.kind)
            .finish()
    }
}

/// Stanzas are equal when their elements are (the index follows from the element).
impl PartialEq for Stanza {
    fn eq(&self, other: &Stanza) -> bool {
        self.kind == other.kind && self.element == other.element
    }
}

impl Eq for Stanza {}

/// The element is not a stanza: not `message`, `presence` or `iq`, or not in a content
/// namespace. It is handed back, for the caller to treat as a negotiation element or refuse
/// (`unsupported-stanza-type`, RFC 6120 section 4.9.3.24).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotAStanza(pub Element);

impl fmt::Display for NotAStanza {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let el = self.0.root();
        write!(
            f,
            "<{}/> in namespace '{}' is not a stanza (message, presence or iq in \
             jabber:client, jabber:server or jabber:component:accept)",
            el.name(),
            el.ns()
        )
    }
}

impl std::error::Error for NotAStanza {}

impl Stanza {
    /// Recognizes `element` as a stanza.
    ///
    /// # Errors
    ///
    /// [`NotAStanza`], holding `element`, when it is not one.
    pub fn from_element(element: Element) -> Result<Stanza, NotAStanza> {
        if !CONTENT_NAMESPACES.contains(&element.ns()) {
            return Err(NotAStanza(element));
        }
        Stanza::from_content_element(element)
    }

    /// [`from_element`](Self::from_element) for an element that the caller knows to be in
    /// a content namespace (a stream's engine, which compared it with its own).
    pub(crate) fn from_content_element(element: Element) -> Result<Stanza, NotAStanza> {
        let kind = match element.name() {
            "message" => StanzaKind::Message,
            "presence" => StanzaKind::Presence,
            "iq" => StanzaKind::Iq,
            _ => return Err(NotAStanza(element)),
        };
        Ok(Stanza::new(element, kind))
    }

    fn new(element: Element, kind: StanzaKind) -> Stanza {
        let index = element.root_index();
        Stanza {
            element,
            kind,
            index,
        }
    }

    /// Message, presence or iq.
    pub fn kind(&self) -> StanzaKind {
        self.kind
    }

    /// The content namespace the stanza is in.
    pub fn ns(&self) -> &str {
        self.element.ns()
    }

    /// The element, as received.
    pub fn element(&self) -> &Element {
        &self.element
    }

    /// The element, as received.
    pub fn into_element(self) -> Element {
        self.element
    }

    /// The same stanza with the attribute `name` set to `value` (added, or replacing the
    /// one there): a server stamps `from` this way (RFC 6120 section 8.1.2.1), without
    /// parsing again.
    pub fn with_attr(&self, name: &str, value: &str) -> Stanza {
        Stanza::new(self.element.with_attr(name, value), self.kind)
    }

    /// The same stanza with the attribute `name` set to `value` and, when `lang` is given,
    /// `xml:lang` set to it, in one copy: a server stamps `from` and gives a stanza without
    /// `xml:lang` the language of the client's stream this way (RFC 6120 sections 8.1.2.1
    /// and 4.7.4).
    pub fn with_attr_and_lang(&self, name: &str, value: &str, lang: Option<&str>) -> Stanza {
        let known = match name {
            "to" => Known::To,
            "from" => Known::From,
            "id" => Known::Id,
            "type" => Known::Type,
            _ => {
                let element =
                    self.element
                        .with_attr_and_lang_indexed(Some(self.index), name, value, lang);
                return Stanza::new(element, self.kind);
            }
        };
        let (element, index) = self
            .element
            .with_known_and_lang(self.index, known, value, lang);
        Stanza {
            element,
            kind: self.kind,
            index,
        }
    }

    /// The same stanza with `xml:lang` set to `lang`: a server gives a client's stanza that
    /// has none the language of the client's stream this way (RFC 6120 sections 4.7.4 and
    /// 8.1.5), without parsing again.
    pub fn with_lang(&self, lang: &str) -> Stanza {
        Stanza::new(self.element.with_lang(lang), self.kind)
    }

    /// The intended recipient (RFC 6120 section 8.1.1), parsed and prepared on each call.
    ///
    /// # Errors
    ///
    /// The [`JidError`] if the attribute is there but not a valid JID (answer with
    /// `jid-malformed`; see [`check_addresses`](Self::check_addresses)).
    pub fn to(&self) -> Result<Option<Jid>, JidError> {
        self.address(Known::To)
    }

    /// The sender (RFC 6120 section 8.1.2), parsed and prepared on each call.
    ///
    /// # Errors
    ///
    /// The [`JidError`] if the attribute is there but not a valid JID.
    pub fn from(&self) -> Result<Option<Jid>, JidError> {
        self.address(Known::From)
    }

    fn address(&self, which: Known) -> Result<Option<Jid>, JidError> {
        self.known(which).map(|s| Jid::parse(&s)).transpose()
    }

    #[inline]
    fn known(&self, which: Known) -> Option<Cow<'_, str>> {
        self.element.known_attr(self.index, which)
    }

    /// The raw `to` and `from` (RFC 6120 section 8.1.1, 8.1.2), as written, for a check
    /// that needs no prepared address.
    pub(crate) fn raw_addresses(&self) -> (Option<Cow<'_, str>>, Option<Cow<'_, str>>) {
        (self.known(Known::To), self.known(Known::From))
    }

    /// The `id` attribute (RFC 6120 section 8.1.3).
    pub fn id(&self) -> Option<Cow<'_, str>> {
        self.known(Known::Id)
    }

    /// The `type` attribute as written (RFC 6120 section 8.1.4); see [`type_`](Self::type_)
    /// for its meaning.
    pub fn type_attr(&self) -> Option<Cow<'_, str>> {
        self.known(Known::Type)
    }

    /// The `type`, read for the stanza's kind: see [`Message::type_`], [`Presence::type_`]
    /// and [`Iq::type_`].
    ///
    /// # Errors
    ///
    /// The `bad-request` error to reply with, for a presence or iq whose type is not one of
    /// its kind's (an iq must have one).
    pub fn type_(&self) -> Result<StanzaType, Box<StanzaError>> {
        Ok(match self.kind {
            StanzaKind::Message => StanzaType::Message(Message::new(self).type_()),
            StanzaKind::Presence => StanzaType::Presence(Presence::new(self).type_()?),
            StanzaKind::Iq => StanzaType::Iq(Iq::new(self).type_()?),
        })
    }

    /// Is the stanza of type `error`? Such a stanza is never answered with an error
    /// (RFC 6120 section 8.3.1).
    pub fn is_error(&self) -> bool {
        self.type_attr().as_deref() == Some("error")
    }

    /// The `xml:lang` attribute (RFC 6120 section 8.1.5); when absent, the stream's applies
    /// (see [`lang_or`](Self::lang_or)).
    pub fn lang(&self) -> Option<Cow<'_, str>> {
        self.known(Known::Lang)
    }

    /// The language of the stanza's human-readable text: its own `xml:lang`, else
    /// `stream_lang`, the `xml:lang` of the stream it arrived on (RFC 6120 section 8.1.5:
    /// "an implementation MUST assume that the default language is that specified for the
    /// entity's input stream"). The stanza is not copied to say so; a client reads its
    /// stream's language with `Client::stanza_lang`, which calls this.
    pub fn lang_or<'a>(&'a self, stream_lang: Option<Cow<'a, str>>) -> Option<Cow<'a, str>> {
        self.lang().or(stream_lang)
    }

    /// The child elements: the payload, including an `<error/>` child if there is one.
    pub fn payloads(&self) -> Children<'_> {
        self.element.children()
    }

    /// The `<error/>` child (in the stanza's namespace), read; `None` if there is none.
    /// Meaningful for a stanza of type `error`.
    pub fn error(&self) -> Option<Result<StanzaError, MalformedError>> {
        self.error_child().map(StanzaError::from_element)
    }

    fn error_child(&self) -> Option<ElementRef<'_>> {
        self.element.get_child("error", self.ns())
    }

    /// A view as a message, if it is one.
    pub fn as_message(&self) -> Option<Message<'_>> {
        (self.kind == StanzaKind::Message).then(|| Message::new(self))
    }

    /// A view as a presence, if it is one.
    pub fn as_presence(&self) -> Option<Presence<'_>> {
        (self.kind == StanzaKind::Presence).then(|| Presence::new(self))
    }

    /// A view as an iq, if it is one.
    pub fn as_iq(&self) -> Option<Iq<'_>> {
        (self.kind == StanzaKind::Iq).then(|| Iq::new(self))
    }

    /// What the entity that received this stanza does with it under the IQ rules of RFC
    /// 6120 section 8.2.3 (every message and presence, and every iq that keeps them, is
    /// processed).
    ///
    /// An iq that breaks a rule and is not a response (a `get` or `set`, or an iq without a
    /// `type` or with an unknown one) is answered with `bad-request` (section 8.3.3.1; for
    /// the `type`, section 8.2.3 says so in as many words: "the recipient or an
    /// intermediate router MUST return a `<bad-request/>`"). That holds for an iq without
    /// `id` too: section 8.3.1 gives its error the empty id, which [`error_reply`] writes.
    /// A response (`result`, `error`) that breaks a rule is never answered (section 8.2.3:
    /// no response to a response; section 8.3.1: no error for an error) and cannot be
    /// trusted to pair with a request: it is ignored.
    pub fn triage(&self) -> Triage {
        let Some(iq) = self.as_iq() else {
            return Triage::Process;
        };
        match iq.check() {
            Ok(_) => Triage::Process,
            Err(rule) => match self.type_attr().as_deref() {
                Some("result" | "error") => Triage::Ignore(rule),
                _ => Triage::BadRequest(rule),
            },
        }
    }

    /// Checks that `to` and `from`, where present, are valid JIDs.
    ///
    /// # Errors
    ///
    /// A `jid-malformed` error of type `modify` (RFC 6120 section 8.3.3.8) naming the
    /// attribute and the rule broken, to answer with (see [`error_reply`]) rather than
    /// closing the stream.
    pub fn check_addresses(&self) -> Result<(), Box<StanzaError>> {
        for (attr, which) in [("to", Known::To), ("from", Known::From)] {
            if let Err(e) = self.address(which) {
                return Err(Box::new(
                    StanzaError::new(StanzaErrorCondition::JidMalformed).with_text(
                        Text::with_lang(
                            "en",
                            format!("the '{attr}' attribute is not a valid JID: {e}"),
                        ),
                    ),
                ));
            }
        }
        Ok(())
    }
}

impl fmt::Display for Stanza {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.element.fmt(f)
    }
}

impl TryFrom<Element> for Stanza {
    type Error = NotAStanza;

    fn try_from(element: Element) -> Result<Self, Self::Error> {
        Stanza::from_element(element)
    }
}

/// A bad-request error with static English text, boxed: the checks that return it are on
/// every stanza's path, and keeping their results small matters more than the allocation
/// on the rare error.
pub(crate) fn bad_request(text: &'static str) -> Box<StanzaError> {
    Box::new(
        StanzaError::new(StanzaErrorCondition::BadRequest).with_text(Text::with_lang("en", text)),
    )
}

/// What to do with a received stanza: [`Stanza::triage`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Triage {
    /// Process it (hand it to whoever handles it).
    Process,
    /// Answer with `bad-request` (RFC 6120 section 8.3.3.1), and process no further: an iq
    /// request, or an iq without a valid `type`, broke this rule.
    BadRequest(IqRule),
    /// Drop it, unanswered: an iq response broke this rule (RFC 6120 section 8.2.3).
    Ignore(IqRule),
}

/// Why no reply may be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NoReply {
    /// The stanza is itself of type `error`: answering it could loop (RFC 6120 section
    /// 8.3.1).
    ErrorStanza,
    /// The stanza is an iq `result`: responses get no response (RFC 6120 section 8.2.3).
    IqResult,
    /// A result was asked for something other than an iq `get` or `set` with an `id`.
    NotARequest,
}

impl fmt::Display for NoReply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NoReply::ErrorStanza => {
                "a stanza of type 'error' is never answered (RFC 6120 section 8.3.1)"
            }
            NoReply::IqResult => {
                "an iq of type 'result' is never answered (RFC 6120 section 8.2.3)"
            }
            NoReply::NotARequest => {
                "only an iq of type 'get' or 'set' with an 'id' gets a result (RFC 6120 \
                 section 8.2.3)"
            }
        })
    }
}

impl std::error::Error for NoReply {}

/// Writes into `out` the error reply to `stanza` (RFC 6120 section 8.3.1): a stanza of the
/// same kind with `to` and `from` swapped (as received; missing ones, and ones that are not
/// valid JIDs, left out: rule 2 does not swap what would put "a malformed JID in the 'from'
/// or 'to' address of the error stanza"), the same
/// `id` (for an iq without one, the empty id that section 8.3.1 rule 3 gives it),
/// `type='error'`, then, if `include_original`, the original `xml:lang` and child
/// elements (an `<error/>` among them excepted), and last the `<error/>` child.
///
/// # Errors
///
/// Writes nothing and returns [`NoReply::ErrorStanza`] for a stanza of type `error` and
/// [`NoReply::IqResult`] for an iq `result`.
///
/// ```
/// use bytes::BytesMut;
/// use xmpp_sansio::error::{StanzaError, StanzaErrorCondition};
/// use xmpp_sansio::stanza::{Stanza, error_reply};
/// use xmpp_sansio::xml::{Event, StreamParser};
///
/// let mut p = StreamParser::default();
/// p.handle_input(b"<stream:stream xmlns='jabber:client' \
///     xmlns:stream='http://etherx.jabber.org/streams'>\
///     <iq from='a@example.com/r' to='example.com' id='1' type='get'>\
///     <query xmlns='urn:x'/></iq>").unwrap();
/// p.poll_event();
/// let Some(Event::Element(el)) = p.poll_event() else { panic!() };
/// let iq = Stanza::from_element(el).unwrap();
/// let mut out = BytesMut::new();
/// let error = StanzaError::new(StanzaErrorCondition::ServiceUnavailable);
/// error_reply(&iq, &error, true, &mut out).unwrap();
/// assert_eq!(
///     &out[..],
///     &b"<iq from='example.com' id='1' to='a@example.com/r' type='error'>\
///        <query xmlns='urn:x'/><error type='cancel'><service-unavailable \
///        xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"[..]
/// );
/// ```
pub fn error_reply(
    stanza: &Stanza,
    error: &StanzaError,
    include_original: bool,
    out: &mut BytesMut,
) -> Result<(), NoReply> {
    match (stanza.kind, stanza.type_attr().as_deref()) {
        (_, Some("error")) => return Err(NoReply::ErrorStanza),
        (StanzaKind::Iq, Some("result")) => return Err(NoReply::IqResult),
        _ => {}
    }
    // Only on the error path: each address is checked before it is echoed.
    let valid = |a: &Option<Cow<'_, str>>| a.as_deref().is_some_and(|j| Jid::check(j).is_ok());
    let (from, to, id) = (
        stanza.known(Known::To),
        stanza.known(Known::From),
        stanza.id(),
    );
    let from = if valid(&from) { from } else { None };
    let to = if valid(&to) { to } else { None };
    // An iq error always carries an id: the request's, or an empty one when the request had
    // none (section 8.3.1, rule 3); a message or presence error only when the original had.
    let id = match stanza.kind {
        StanzaKind::Iq => Some(id.unwrap_or(Cow::Borrowed(""))),
        _ => id,
    };
    let name = stanza.kind.as_str();
    let mut w = Writer::new(out);
    w.start(name)
        .attr_opt("from", from.as_deref())
        .attr_opt("id", id.as_deref())
        .attr_opt("to", to.as_deref())
        .attr("type", "error");
    if include_original {
        // The original payload keeps the language it was written in.
        w.attr_opt("xml:lang", stanza.lang().as_deref());
        let ns = stanza.ns();
        // An error stanza carries one <error/> (RFC 6120 section 8.3.1).
        for child in stanza.payloads().filter(|c| !c.is("error", ns)) {
            w.element(child, ns);
        }
    }
    error.write(&mut w);
    w.end(name);
    w.finish();
    Ok(())
}

#[cfg(test)]
mod index_tests {
    //! The root-attribute index must read what a scan of the attributes reads, before and
    //! after a stamp, whatever attributes surround the ones it notes.
    use super::*;
    use crate::xml::{Event, Limits, StreamParser, XML_NS, parse_element};
    use proptest::prelude::*;

    fn scanned(el: &Element, which: Known) -> Option<String> {
        let root = el.root();
        match which {
            Known::To => root.attr("to"),
            Known::From => root.attr("from"),
            Known::Id => root.attr("id"),
            Known::Type => root.attr("type"),
            Known::Lang => root.attr_ns(XML_NS, "lang"),
        }
        .map(Cow::into_owned)
    }

    const ALL: [Known; 5] = [Known::To, Known::From, Known::Id, Known::Type, Known::Lang];

    fn assert_index_reads_as_scan(stanza: &Stanza) {
        assert!(stanza.index == stanza.element.root_index());
        for k in ALL {
            assert_eq!(
                stanza.known(k).map(Cow::into_owned),
                scanned(&stanza.element, k),
                "{k:?}"
            );
        }
    }

    /// Root attributes, some noted by the index and some that look like them: the same
    /// local names in other namespaces, other names of the same lengths, values with
    /// references.
    fn attribute() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec![
            "to='a@b/c'",
            "from='x@y'",
            "id='1&amp;2'",
            "type='chat'",
            "xml:lang='de'",
            "t:to='q'",
            "t:lang='fr'",
            "tx='1'",
            "idx='2'",
            "form='3'",
            "typo='4'",
        ])
    }

    proptest! {
        #[test]
        fn index_reads_as_a_scan(
            attrs in prop::collection::btree_set(attribute(), 0..8),
            stamp_lang in any::<bool>(),
        ) {
            let xml = format!(
                "<message xmlns:t='urn:t' {}><body>hi</body></message>",
                attrs.into_iter().collect::<Vec<_>>().join(" ")
            );
            let el = parse_element(JABBER_CLIENT, xml.as_bytes()).unwrap();
            let stanza = Stanza::from_element(el).unwrap();
            assert_index_reads_as_scan(&stanza);
            let lang = stamp_lang.then_some("en");
            let stamped = stanza.with_attr_and_lang("from", "me@here/r", lang);
            assert_index_reads_as_scan(&stamped);
            prop_assert_eq!(stamped.known(Known::From).map(Cow::into_owned), Some("me@here/r".to_owned()));
            let to = stanza.known(Known::To).map(Cow::into_owned);
            let stamped = stanza.with_attr_and_lang("to", "other@there", lang);
            assert_index_reads_as_scan(&stamped);
            prop_assert_eq!(stamped.known(Known::To).map(Cow::into_owned), Some("other@there".to_owned()));
            prop_assert!(to.is_none() || to.as_deref() != Some("other@there"));
        }
    }

    #[test]
    fn attributes_beyond_what_a_byte_counts_are_found_by_a_scan() {
        let mut p = StreamParser::new(Limits {
            max_attributes: 400,
            ..Limits::default()
        });
        let filler: String = (0..300).map(|i| format!(" a{i}='{i}'")).collect();
        let xml = format!(
            "<stream:stream xmlns='jabber:client' \
             xmlns:stream='http://etherx.jabber.org/streams'>\
             <iq id='early'{filler} to='far@example.com' type='get' xml:lang='fr'><q/></iq>"
        );
        p.handle_input(xml.as_bytes()).unwrap();
        let _ = p.poll_event();
        let Some(Event::Element(el)) = p.poll_event() else {
            panic!("no element");
        };
        let stanza = Stanza::from_element(el).unwrap();
        assert_index_reads_as_scan(&stanza);
        assert_eq!(stanza.to().unwrap().unwrap().as_str(), "far@example.com");
        assert_eq!(stanza.id().as_deref(), Some("early"));
        let stamped = stanza.with_attr_and_lang("from", "me@here/r", Some("en"));
        assert_index_reads_as_scan(&stamped);
        // A server passes no language for a stanza that has its own; asked, the stamp
        // replaces it in place.
        assert_eq!(stamped.lang().as_deref(), Some("en"));
    }
}
