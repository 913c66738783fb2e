//! Resource limits of the stream parser.
//!
//! A peer controls every byte we parse, so every structure the parser grows is bounded here.
//! Exceeding a limit is the `policy-violation` stream error (RFC 6120 section 4.9.3.14).

/// Limits on what one peer may make the parser hold. Every field has a safe default.
///
/// The parser holds at most one unfinished first-level element (or stream header, or XML
/// declaration) of input, so `max_element_bytes` and `max_header_bytes` also bound the bytes
/// it buffers between calls; the element tree it builds for that input is proportional to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Raw bytes of one first-level element, from its `<` to the end of its end tag, as
    /// received. Default 256 KiB.
    pub max_element_bytes: usize,
    /// Raw bytes of the stream header's start tag, of the XML declaration, or of the stream's
    /// closing tag. Default 8 KiB.
    pub max_header_bytes: usize,
    /// Nesting depth of a first-level element; the element itself is at depth 1. Default 64.
    pub max_depth: usize,
    /// Attributes of one start tag, namespace declarations included. Default 64.
    pub max_attributes: usize,
    /// Bytes of one qualified name, or of one entity or character reference. Default 256;
    /// values above 65535 are treated as 65535.
    pub max_name_bytes: usize,
}

impl Limits {
    /// The defaults: 256 KiB per element, 8 KiB per header, depth 64, 64 attributes, names
    /// of 256 bytes.
    pub const DEFAULT: Limits = Limits {
        max_element_bytes: 256 * 1024,
        max_header_bytes: 8 * 1024,
        max_depth: 64,
        max_attributes: 64,
        max_name_bytes: 256,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Which limit an input exceeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Limit {
    /// [`Limits::max_element_bytes`].
    ElementBytes,
    /// [`Limits::max_header_bytes`].
    HeaderBytes,
    /// [`Limits::max_depth`].
    Depth,
    /// [`Limits::max_attributes`].
    Attributes,
    /// [`Limits::max_name_bytes`].
    NameBytes,
}
