//! Errors of the stream parser: a precise kind for people, and the RFC 6120 section 4.9.3
//! condition that goes on the wire.

use core::fmt;

use super::limits::Limit;
use crate::error::StreamErrorCondition;

/// The parser stopped: `kind` says what was wrong, `offset` where (a byte offset from the
/// start of the stream). [`ParseError::condition`] is the stream error to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseError {
    kind: ErrorKind,
    offset: u64,
}

impl ParseError {
    pub(crate) fn new(kind: ErrorKind, offset: u64) -> Self {
        ParseError { kind, offset }
    }

    /// What was wrong.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The offset of the offending byte, counted from the first byte of the stream (restarts
    /// count from the restart).
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The stream error condition of RFC 6120 section 4.9.3 that this fault calls for.
    pub fn condition(&self) -> StreamErrorCondition {
        self.kind.condition()
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at byte {} ({})",
            self.kind,
            self.offset,
            self.condition()
        )
    }
}

impl std::error::Error for ParseError {}

/// Why a byte sequence is not UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Utf8Fault {
    /// A byte that never occurs in UTF-8 (0xC0, 0xC1, 0xF5..=0xFF) or a continuation byte
    /// where a character should start.
    InvalidByte(u8),
    /// A character encoded in more bytes than it needs.
    Overlong,
    /// An encoded UTF-16 surrogate (U+D800..U+DFFF).
    Surrogate,
    /// A code point above U+10FFFF.
    TooLarge,
    /// A multi-byte sequence cut short by a byte that does not continue it.
    Truncated,
}

/// What exactly was wrong with the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// `<!-- ... -->` (restricted by RFC 6120 section 11.1).
    Comment,
    /// `<? ... ?>` other than the XML declaration at the very start (RFC 6120 section 11.1).
    ProcessingInstruction,
    /// `<!DOCTYPE ...>` (RFC 6120 section 11.1).
    Doctype,
    /// An entity reference other than the five predefined ones (RFC 6120 section 11.1).
    EntityReference,
    /// The bytes are not UTF-8 (RFC 3629): `unsupported-encoding` (RFC 6120 section
    /// 4.9.3.22).
    InvalidUtf8(Utf8Fault),
    /// A raw character that XML 1.0 forbids (production 2, `Char`).
    IllegalChar(u32),
    /// A character reference to a character that XML 1.0 forbids.
    IllegalCharRef(u32),
    /// `&` not followed by a well-formed reference.
    MalformedReference,
    /// A byte that cannot appear at this point of the markup.
    UnexpectedByte(u8),
    /// A name that is not an XML name, or a qualified name with more than one colon.
    InvalidName,
    /// An end tag whose name differs from the open element's.
    MismatchedEndTag,
    /// Two attributes with the same name, or the same namespace and local name.
    DuplicateAttribute,
    /// A namespace prefix that no declaration in scope binds.
    UnboundPrefix,
    /// A misuse of the reserved `xml` or `xmlns` prefixes or namespaces, or an empty
    /// prefixed declaration (Namespaces in XML 1.0, sections 3 and 5).
    ReservedNamespace,
    /// `<` inside an attribute value.
    LtInAttributeValue,
    /// `]]>` in character data.
    CdataEndInText,
    /// Character data or CDATA directly inside `<stream:stream>`, other than white space.
    TextAtStreamLevel,
    /// Something other than white space after the stream was closed.
    ContentAfterClose,
    /// An end tag before the stream header.
    EndTagBeforeHeader,
    /// A malformed XML declaration (missing or unsupported `version`, bad syntax).
    MalformedXmlDeclaration,
    /// The XML declaration names an encoding other than UTF-8.
    UnsupportedEncoding,
    /// The stream header's element is not `stream` in `http://etherx.jabber.org/streams` (over
    /// WebSocket: an `<open/>` or `<close/>` not in `urn:ietf:params:xml:ns:xmpp-framing`).
    NotAStreamHeader,
    /// The stream header uses a prefix that it does not declare (RFC 6120 section 4.9.3.2).
    UnboundStreamPrefix,
    /// The input ended inside a header or element, or before the stream was closed.
    UnexpectedEof,
    /// A configured [`Limit`](super::Limit) was exceeded.
    LimitExceeded(Limit),
    /// A WebSocket message that is not one element (RFC 7395 section 3.3.3: each message
    /// is one standalone XML document whose first character is `<`): empty, with white
    /// space or text before the element, or with anything but white space after it.
    NotOneElement,
}

impl ErrorKind {
    /// The stream error condition of RFC 6120 section 4.9.3 for this fault.
    pub fn condition(self) -> StreamErrorCondition {
        use ErrorKind::*;
        match self {
            Comment | ProcessingInstruction | Doctype | EntityReference => {
                StreamErrorCondition::RestrictedXml
            }
            // RFC 6120 4.9.3.22: "improperly encoded the stream, e.g., by violating the
            // rules of the [UTF-8] encoding" is unsupported-encoding, not a well-formedness
            // fault; a correctly encoded character that XML forbids stays not-well-formed.
            UnsupportedEncoding | InvalidUtf8(_) => StreamErrorCondition::UnsupportedEncoding,
            NotAStreamHeader => StreamErrorCondition::InvalidNamespace,
            UnboundStreamPrefix => StreamErrorCondition::BadNamespacePrefix,
            LimitExceeded(_) => StreamErrorCondition::PolicyViolation,
            IllegalChar(_)
            | IllegalCharRef(_)
            | MalformedReference
            | UnexpectedByte(_)
            | InvalidName
            | MismatchedEndTag
            | DuplicateAttribute
            | UnboundPrefix
            | ReservedNamespace
            | LtInAttributeValue
            | CdataEndInText
            | TextAtStreamLevel
            | ContentAfterClose
            | EndTagBeforeHeader
            | MalformedXmlDeclaration
            | NotOneElement
            | UnexpectedEof => StreamErrorCondition::NotWellFormed,
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ErrorKind::*;
        match self {
            Comment => f.write_str("a comment, which XMPP forbids (RFC 6120 section 11.1)"),
            ProcessingInstruction => {
                f.write_str("a processing instruction, which XMPP forbids (RFC 6120 section 11.1)")
            }
            Doctype => f.write_str("a document type declaration, which XMPP forbids"),
            EntityReference => {
                f.write_str("a reference to an entity other than the five predefined ones")
            }
            InvalidUtf8(fault) => match fault {
                Utf8Fault::InvalidByte(b) => write!(f, "byte 0x{b:02X} is not valid UTF-8 here"),
                Utf8Fault::Overlong => f.write_str("an overlong UTF-8 sequence"),
                Utf8Fault::Surrogate => f.write_str("a UTF-8 encoded surrogate (U+D800..U+DFFF)"),
                Utf8Fault::TooLarge => f.write_str("a UTF-8 sequence above U+10FFFF"),
                Utf8Fault::Truncated => f.write_str("a truncated UTF-8 sequence"),
            },
            IllegalChar(c) => write!(f, "character U+{c:04X}, which XML 1.0 forbids"),
            IllegalCharRef(c) => {
                write!(
                    f,
                    "a reference to character U+{c:04X}, which XML 1.0 forbids"
                )
            }
            MalformedReference => f.write_str("'&' that does not start a well-formed reference"),
            UnexpectedByte(b) if b.is_ascii_graphic() || *b == b' ' => {
                write!(f, "unexpected '{}' in markup", *b as char)
            }
            UnexpectedByte(b) => write!(f, "unexpected byte 0x{b:02X} in markup"),
            InvalidName => f.write_str("not a valid XML name"),
            MismatchedEndTag => f.write_str("an end tag that does not match the open element"),
            DuplicateAttribute => f.write_str("an attribute given twice"),
            UnboundPrefix => f.write_str("a namespace prefix that was never declared"),
            ReservedNamespace => {
                f.write_str("a misuse of the reserved 'xml' or 'xmlns' prefix or namespace")
            }
            LtInAttributeValue => f.write_str("'<' inside an attribute value"),
            CdataEndInText => f.write_str("']]>' in character data"),
            TextAtStreamLevel => f.write_str("character data directly inside the stream"),
            ContentAfterClose => f.write_str("data after the stream was closed"),
            EndTagBeforeHeader => f.write_str("an end tag before the stream header"),
            MalformedXmlDeclaration => f.write_str("a malformed XML declaration"),
            UnsupportedEncoding => f.write_str("an encoding other than UTF-8"),
            NotAStreamHeader => f.write_str(
                "a stream header other than <stream xmlns='http://etherx.jabber.org/streams'> \
                 (over WebSocket, <open/> or <close/> outside \
                 urn:ietf:params:xml:ns:xmpp-framing)",
            ),
            UnboundStreamPrefix => f.write_str("a stream header prefix that is not declared"),
            UnexpectedEof => f.write_str("the input ended inside the stream"),
            NotOneElement => f.write_str("a WebSocket message that is not exactly one element"),
            LimitExceeded(limit) => match limit {
                Limit::ElementBytes => f.write_str("an element larger than the size limit"),
                Limit::HeaderBytes => f.write_str("a stream header larger than the size limit"),
                Limit::Depth => f.write_str("elements nested deeper than the limit"),
                Limit::Attributes => f.write_str("more attributes than the limit"),
                Limit::NameBytes => f.write_str("a name longer than the limit"),
                Limit::TreeBytes => {
                    f.write_str("an element whose tree would be larger than the limit")
                }
            },
        }
    }
}
