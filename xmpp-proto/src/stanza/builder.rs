//! Builders that write stanzas through a [`Writer`], into a caller's [`BytesMut`] (`write`)
//! or straight into a session's output (`write_to`, inside a role's `send_with`), borrowing
//! everything they write: building and writing a stanza allocates nothing but the growth of
//! the buffer, and a stanza sent with `send_with` is never parsed or serialized again.

use bytes::BytesMut;

use super::{IqType, JABBER_CLIENT, MessageType, PresenceType};
use crate::jid::Jid;
use crate::xml::{Element, ElementRef, Writer};

/// Content for a stanza.
#[derive(Debug, Clone, Copy)]
pub enum Payload<'a> {
    /// Serialized XML, written unchanged: it must be well-formed and balanced, and declare
    /// the namespaces it uses (other than the content namespace).
    Raw(&'a [u8]),
    /// A received element, written with [`write_element`](crate::xml::write_element): its
    /// children in the builder's content namespace are written unqualified, every other
    /// namespace is declared.
    Element(ElementRef<'a>),
}

impl Payload<'_> {
    /// Writes the payload where `default_ns` is the default namespace in scope.
    pub fn write(&self, w: &mut Writer<'_>, default_ns: &str) {
        match *self {
            Payload::Raw(bytes) => w.raw(bytes),
            Payload::Element(el) => w.element(el, default_ns),
        };
    }
}

impl<'a> From<ElementRef<'a>> for Payload<'a> {
    fn from(el: ElementRef<'a>) -> Self {
        Payload::Element(el)
    }
}

impl<'a> From<&'a Element> for Payload<'a> {
    fn from(el: &'a Element) -> Self {
        Payload::Element(el.root())
    }
}

/// The attributes every stanza has (RFC 6120 section 8.1) and where it is written.
#[derive(Debug, Clone, Copy)]
pub(super) struct Head<'a> {
    pub from: Option<&'a str>,
    pub to: Option<&'a str>,
    pub id: Option<&'a str>,
    pub lang: Option<&'a str>,
    pub content_ns: &'a str,
    pub payload: Option<Payload<'a>>,
}

impl Default for Head<'_> {
    fn default() -> Self {
        Head {
            from: None,
            to: None,
            id: None,
            lang: None,
            content_ns: JABBER_CLIENT,
            payload: None,
        }
    }
}

impl Head<'_> {
    /// Writes the stanza into `out`.
    fn write(
        &self,
        out: &mut BytesMut,
        name: &str,
        type_: Option<&str>,
        own: impl FnOnce(&mut Writer<'_>),
        more: impl FnOnce(&mut Writer<'_>),
    ) {
        let mut w = Writer::new(out);
        self.write_to(&mut w, name, type_, own, more);
        w.finish();
    }

    /// Writes the stanza where `w` stands: start tag (attributes in the order of RFC 6120's
    /// examples), the kind's own children, the payload, the caller's content, end tag.
    fn write_to(
        &self,
        w: &mut Writer<'_>,
        name: &str,
        type_: Option<&str>,
        own: impl FnOnce(&mut Writer<'_>),
        more: impl FnOnce(&mut Writer<'_>),
    ) {
        let depth = w.depth();
        w.start(name)
            .attr_opt("from", self.from)
            .attr_opt("id", self.id)
            .attr_opt("to", self.to)
            .attr_opt("type", type_)
            .attr_opt("xml:lang", self.lang);
        own(w);
        if let Some(p) = &self.payload {
            p.write(w, self.content_ns);
        }
        more(w);
        debug_assert_eq!(
            w.depth(),
            depth + 1,
            "content written into <{name}/> is unbalanced"
        );
        w.end(name);
    }
}

/// The setters every builder has.
macro_rules! head_setters {
    () => {
        /// Sets `from` (RFC 6120 section 8.1.2).
        pub fn from(mut self, jid: &'a Jid) -> Self {
            self.head.from = Some(jid.as_str());
            self
        }

        /// Sets `to` (RFC 6120 section 8.1.1).
        pub fn to(mut self, jid: &'a Jid) -> Self {
            self.head.to = Some(jid.as_str());
            self
        }

        /// Sets `id` (RFC 6120 section 8.1.3).
        pub fn id(mut self, id: &'a str) -> Self {
            self.head.id = Some(id);
            self
        }

        /// Sets `xml:lang` (RFC 6120 section 8.1.5).
        pub fn lang(mut self, lang: &'a str) -> Self {
            self.head.lang = Some(lang);
            self
        }

        /// Sets the content namespace of the stream the stanza is written into (default
        /// `jabber:client`), so that an [`ElementRef`] payload is written relative to it.
        pub fn content_ns(mut self, ns: &'a str) -> Self {
            self.head.content_ns = ns;
            self
        }

        /// Sets the payload, written after the kind's own children. For more than one
        /// child, use `write_with`.
        pub fn payload(mut self, payload: impl Into<Payload<'a>>) -> Self {
            self.head.payload = Some(payload.into());
            self
        }
    };
}

/// Builds a `<message/>` (RFC 6120 section 8.2.1).
///
/// ```
/// use bytes::BytesMut;
/// use xmpp_sansio::jid::Jid;
/// use xmpp_sansio::stanza::{MessageBuilder, MessageType};
///
/// let to: Jid = "juliet@example.com".parse().unwrap();
/// let mut out = BytesMut::new();
/// MessageBuilder::new()
///     .to(&to)
///     .id("m1")
///     .type_(MessageType::Chat)
///     .body("Wherefore art thou?")
///     .write(&mut out);
/// assert_eq!(
///     &out[..],
///     b"<message id='m1' to='juliet@example.com' type='chat'>\
///       <body>Wherefore art thou?</body></message>"
/// );
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct MessageBuilder<'a> {
    head: Head<'a>,
    type_: Option<MessageType>,
    body: Option<&'a str>,
}

impl<'a> MessageBuilder<'a> {
    /// A message with no attributes; without a type it is `normal`.
    pub fn new() -> Self {
        Self::default()
    }

    head_setters!();

    /// Sets the type.
    pub fn type_(mut self, type_: MessageType) -> Self {
        self.type_ = Some(type_);
        self
    }

    /// Sets the text of the `<body/>` (RFC 6121 section 5.2.3).
    pub fn body(mut self, text: &'a str) -> Self {
        self.body = Some(text);
        self
    }

    /// Writes the message into `out`.
    pub fn write(&self, out: &mut BytesMut) {
        self.write_with(out, |_| {});
    }

    /// Writes the message into `out`, letting `content` write more children after the
    /// body and payload. `content` must leave the writer as balanced as it found it.
    pub fn write_with(&self, out: &mut BytesMut, content: impl FnOnce(&mut Writer<'_>)) {
        let mut w = Writer::new(out);
        self.write_to_with(&mut w, content);
        w.finish();
    }

    /// Writes the message with `w`: in a role's `send_with`, straight into its output.
    pub fn write_to(&self, w: &mut Writer<'_>) {
        self.write_to_with(w, |_| {});
    }

    /// [`write_to`](Self::write_to), letting `content` write more children after the body
    /// and payload, as [`write_with`](Self::write_with) does.
    pub fn write_to_with(&self, w: &mut Writer<'_>, content: impl FnOnce(&mut Writer<'_>)) {
        let body = self.body;
        self.head.write_to(
            w,
            "message",
            self.type_.map(MessageType::as_str),
            |w| {
                if let Some(body) = body {
                    w.start("body").text(body).end("body");
                }
            },
            content,
        );
    }
}

/// Builds a `<presence/>` (RFC 6120 section 8.2.2).
#[derive(Debug, Clone, Copy, Default)]
pub struct PresenceBuilder<'a> {
    head: Head<'a>,
    type_: Option<PresenceType>,
}

impl<'a> PresenceBuilder<'a> {
    /// A presence with no attributes: available.
    pub fn new() -> Self {
        Self::default()
    }

    head_setters!();

    /// Sets the type; `available` writes no attribute.
    pub fn type_(mut self, type_: PresenceType) -> Self {
        self.type_ = Some(type_);
        self
    }

    /// Writes the presence into `out`.
    pub fn write(&self, out: &mut BytesMut) {
        self.write_with(out, |_| {});
    }

    /// Writes the presence into `out`, letting `content` write more children (such as
    /// `<show/>` or `<status/>`) after the payload. `content` must leave the writer as
    /// balanced as it found it.
    pub fn write_with(&self, out: &mut BytesMut, content: impl FnOnce(&mut Writer<'_>)) {
        let type_ = self.type_.and_then(PresenceType::attr);
        self.head.write(out, "presence", type_, |_| {}, content);
    }

    /// Writes the presence with `w`: in a role's `send_with`, straight into its output.
    pub fn write_to(&self, w: &mut Writer<'_>) {
        self.write_to_with(w, |_| {});
    }

    /// [`write_to`](Self::write_to), letting `content` write more children, as
    /// [`write_with`](Self::write_with) does.
    pub fn write_to_with(&self, w: &mut Writer<'_>, content: impl FnOnce(&mut Writer<'_>)) {
        let type_ = self.type_.and_then(PresenceType::attr);
        self.head.write_to(w, "presence", type_, |_| {}, content);
    }
}

/// Builds an `<iq/>` (RFC 6120 section 8.2.3). The builder does not check the iq rules: a
/// `get` or `set` needs exactly one child, a `result` at most one.
///
/// ```
/// use bytes::BytesMut;
/// use xmpp_sansio::stanza::{IqBuilder, IqType, Payload};
///
/// let mut out = BytesMut::new();
/// IqBuilder::new(IqType::Get, "r1")
///     .payload(Payload::Raw(b"<query xmlns='jabber:iq:roster'/>"))
///     .write(&mut out);
/// assert_eq!(&out[..], b"<iq id='r1' type='get'><query xmlns='jabber:iq:roster'/></iq>");
/// ```
#[derive(Debug, Clone, Copy)]
pub struct IqBuilder<'a> {
    pub(super) head: Head<'a>,
    type_: IqType,
}

impl<'a> IqBuilder<'a> {
    /// An iq of type `type_` with the `id` every iq needs.
    pub fn new(type_: IqType, id: &'a str) -> Self {
        IqBuilder {
            head: Head {
                id: Some(id),
                ..Head::default()
            },
            type_,
        }
    }

    head_setters!();

    /// Writes the iq into `out`.
    pub fn write(&self, out: &mut BytesMut) {
        self.write_with(out, |_| {});
    }

    /// Writes the iq into `out`, letting `content` write the children after the payload.
    /// `content` must leave the writer as balanced as it found it.
    pub fn write_with(&self, out: &mut BytesMut, content: impl FnOnce(&mut Writer<'_>)) {
        self.head
            .write(out, "iq", Some(self.type_.as_str()), |_| {}, content);
    }

    /// Writes the iq with `w`: in a role's `send_with`, straight into its output.
    pub fn write_to(&self, w: &mut Writer<'_>) {
        self.write_to_with(w, |_| {});
    }

    /// [`write_to`](Self::write_to), letting `content` write the children after the
    /// payload, as [`write_with`](Self::write_with) does.
    pub fn write_to_with(&self, w: &mut Writer<'_>, content: impl FnOnce(&mut Writer<'_>)) {
        self.head
            .write_to(w, "iq", Some(self.type_.as_str()), |_| {}, content);
    }
}
