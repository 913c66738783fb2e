//! Message stanzas (RFC 6120 section 8.2.1; types from RFC 6121 section 5.2.2).

use std::borrow::Cow;

use super::Stanza;

/// The `type` of a message (RFC 6121 section 5.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageType {
    /// One-to-one chat.
    Chat,
    /// An error about a message sent earlier.
    Error,
    /// A message in a multi-user chat.
    Groupchat,
    /// An alert or notification that expects no reply.
    Headline,
    /// A standalone message; the default.
    Normal,
}

impl MessageType {
    /// Every message type, in the order of RFC 6121 section 5.2.2.
    pub const ALL: [MessageType; 5] = [
        MessageType::Chat,
        MessageType::Error,
        MessageType::Groupchat,
        MessageType::Headline,
        MessageType::Normal,
    ];

    /// The value of the `type` attribute.
    pub const fn as_str(self) -> &'static str {
        match self {
            MessageType::Chat => "chat",
            MessageType::Error => "error",
            MessageType::Groupchat => "groupchat",
            MessageType::Headline => "headline",
            MessageType::Normal => "normal",
        }
    }

    /// Reads a `type` attribute: absent or not understood is `normal`, as RFC 6121 section
    /// 5.2.2 requires.
    pub fn from_attr(value: Option<&str>) -> Self {
        value
            .and_then(|v| v.parse().ok())
            .unwrap_or(MessageType::Normal)
    }
}

crate::error::vocabulary!(MessageType, "message type of RFC 6121 section 5.2.2");

/// A message: a view over a [`Stanza`] of kind message.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    stanza: &'a Stanza,
}

impl<'a> Message<'a> {
    pub(super) fn new(stanza: &'a Stanza) -> Self {
        Message { stanza }
    }

    /// The stanza viewed.
    pub fn stanza(&self) -> &'a Stanza {
        self.stanza
    }

    /// The type; see [`MessageType::from_attr`].
    pub fn type_(&self) -> MessageType {
        MessageType::from_attr(self.stanza.type_attr().as_deref())
    }

    /// The text of the first `<body/>` (RFC 6121 section 5.2.3), whatever its language.
    pub fn body(&self) -> Option<Cow<'a, str>> {
        let el = self.stanza.element();
        el.get_child("body", el.ns()).map(|b| b.text())
    }
}
