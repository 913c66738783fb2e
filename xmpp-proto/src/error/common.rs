//! What the three kinds of error element share: descriptive text, application-specific
//! conditions, and the ways reading one can fail.

use core::fmt;
use std::borrow::Cow;

use bytes::{Bytes, BytesMut};

use super::CONTENT_NAMESPACES;
use crate::xml::{ElementRef, Writer, XML_NS, write_element};

/// The `<text/>` child of an error: a description for people, optionally with its language
/// (RFC 6120 sections 4.9.2, 6.5 and 8.3.2). Protocol logic must not depend on it.
///
/// The strings are [`Cow`] so that errors this crate or its embedder generate can use static
/// text without allocating; text read from the wire is owned.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Text {
    /// The `xml:lang` of the text, if given; otherwise the language of the enclosing stanza
    /// or stream applies.
    pub lang: Option<Cow<'static, str>>,
    /// The text itself.
    pub text: Cow<'static, str>,
}

impl Text {
    /// Text without an `xml:lang` of its own.
    pub fn new(text: impl Into<Cow<'static, str>>) -> Self {
        Text {
            lang: None,
            text: text.into(),
        }
    }

    /// Text in the language `lang` (a language tag such as `en`, RFC 5646).
    pub fn with_lang(
        lang: impl Into<Cow<'static, str>>,
        text: impl Into<Cow<'static, str>>,
    ) -> Self {
        Text {
            lang: Some(lang.into()),
            text: text.into(),
        }
    }

    pub(crate) fn read(el: ElementRef<'_>) -> Self {
        Text {
            lang: el
                .attr_ns(XML_NS, "lang")
                .map(|l| Cow::Owned(l.into_owned())),
            text: Cow::Owned(el.text().into_owned()),
        }
    }

    /// Writes `<text>`, declaring `ns` unless it is inherited (`None`).
    pub(crate) fn write(&self, w: &mut Writer<'_>, ns: Option<&str>) {
        w.start("text");
        if let Some(ns) = ns {
            w.xmlns(ns);
        }
        w.attr_opt("xml:lang", self.lang.as_deref())
            .text(&self.text)
            .end("text");
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// An application-specific error condition: an element in a namespace of its own that
/// refines the defined condition (RFC 6120 sections 4.9.4 and 8.3.4), for example
/// `<too-many-parameters xmlns='http://example.org/ns'/>`.
///
/// It is stored serialized, in one shared buffer with its namespace and name: the element
/// tree cannot hand out a child as an owned element, and an error outlives the stanza it
/// came in, so copying the (small) subtree once is the cheap way to own it. Cloning shares
/// the buffer. The serialized form declares its own namespace, so it can be written into any
/// stream unchanged. Two conditions are equal when their serializations are.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct AppCondition {
    /// The namespace, the local name and the serialized element, in that order.
    buf: Bytes,
    ns_len: u32,
    name_len: u32,
}

impl AppCondition {
    /// An empty element `<name xmlns='ns'/>`. `name` must be an XML name without a prefix.
    pub fn new(ns: &str, name: &str) -> Self {
        let mut buf = BytesMut::with_capacity(2 * (ns.len() + name.len()) + 12);
        buf.extend_from_slice(ns.as_bytes());
        buf.extend_from_slice(name.as_bytes());
        Writer::new(&mut buf).start(name).xmlns(ns).end(name);
        Self::from_parts(buf, ns, name)
    }

    /// A copy of a received element and its subtree.
    pub fn from_element(el: ElementRef<'_>) -> Self {
        let (ns, name) = (el.ns(), el.name());
        let mut buf = BytesMut::with_capacity(ns.len() + name.len() + 64);
        buf.extend_from_slice(ns.as_bytes());
        buf.extend_from_slice(name.as_bytes());
        // No default namespace is assumed, so the copy declares its own.
        write_element(&mut buf, el, "");
        Self::from_parts(buf, ns, name)
    }

    fn from_parts(buf: BytesMut, ns: &str, name: &str) -> Self {
        AppCondition {
            buf: buf.freeze(),
            // Both come from one received element or from code: far below 4 GiB.
            ns_len: ns.len() as u32,
            name_len: name.len() as u32,
        }
    }

    fn str_at(&self, start: usize, len: u32) -> &str {
        // The bytes were copied from `&str`s at these offsets.
        core::str::from_utf8(&self.buf[start..start + len as usize]).unwrap_or_default()
    }

    /// The namespace of the element.
    pub fn ns(&self) -> &str {
        self.str_at(0, self.ns_len)
    }

    /// The local name of the element.
    pub fn name(&self) -> &str {
        self.str_at(self.ns_len as usize, self.name_len)
    }

    /// The element serialized, with its namespace declared.
    pub fn xml(&self) -> &[u8] {
        &self.buf[(self.ns_len + self.name_len) as usize..]
    }

    pub(crate) fn write(&self, w: &mut Writer<'_>) {
        w.raw(self.xml());
    }
}

impl fmt::Debug for AppCondition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(self.xml()))
    }
}

/// Is a child in namespace `ns` of an error element an application-specific condition?
/// Not if it is in no namespace or in a namespace XMPP itself defines: such a child is either
/// a defined condition or noise, and RFC 6120 says to ignore what we do not understand.
pub(crate) fn is_app_ns(ns: &str, conditions_ns: &str) -> bool {
    !ns.is_empty() && ns != conditions_ns && !CONTENT_NAMESPACES.contains(&ns)
}

/// A received element could not be read as the error it was meant to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MalformedError {
    /// The element is not the error element this reader reads; `expected` describes it
    /// (for example `<stream:error/>`).
    WrongElement {
        /// The element that was expected, with its namespace.
        expected: &'static str,
    },
    /// The error element carries no defined condition, which RFC 6120 requires (sections
    /// 4.9.2 and 8.3.2).
    MissingCondition {
        /// The namespace the condition should have been in.
        namespace: &'static str,
    },
}

impl fmt::Display for MalformedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MalformedError::WrongElement { expected } => {
                write!(f, "the element is not {expected}")
            }
            MalformedError::MissingCondition { namespace } => write!(
                f,
                "the error names no condition: RFC 6120 requires a child element in \
                 {namespace}"
            ),
        }
    }
}

impl std::error::Error for MalformedError {}

/// A string is not one of the names of a vocabulary defined here (a condition, an error
/// type, a stanza type).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UnknownName {
    vocabulary: &'static str,
}

impl UnknownName {
    pub(crate) const fn new(vocabulary: &'static str) -> Self {
        UnknownName { vocabulary }
    }

    /// What the name was meant to be, such as "stream error condition (RFC 6120 section
    /// 4.9.3)".
    pub fn vocabulary(&self) -> &'static str {
        self.vocabulary
    }
}

impl fmt::Display for UnknownName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not a {}", self.vocabulary)
    }
}

impl std::error::Error for UnknownName {}

/// Implements `FromStr` (through `as_str` and `ALL`) and `Display` for a field-less
/// vocabulary enum.
macro_rules! vocabulary {
    ($ty:ty, $what:literal) => {
        impl core::str::FromStr for $ty {
            type Err = $crate::error::UnknownName;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::ALL
                    .into_iter()
                    .find(|v| v.as_str() == s)
                    .ok_or($crate::error::UnknownName::new($what))
            }
        }

        impl core::fmt::Display for $ty {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

pub(crate) use vocabulary;
