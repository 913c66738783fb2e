//! Resource limits of the stream parser.
//!
//! A peer controls every byte we parse, so every structure the parser grows is bounded here.
//! Exceeding a limit is the `policy-violation` stream error (RFC 6120 section 4.9.3.14).

/// Limits on what one peer may make the parser hold. Every field has a safe default.
///
/// The parser holds at most one unfinished first-level element (or stream header, or XML
/// declaration) of input, so `max_element_bytes` and `max_header_bytes` also bound the bytes
/// it buffers between calls, and `max_tree_bytes` bounds the tree it builds for them: one
/// element in progress holds at most `max_element_bytes + max_tree_bytes` and a few KiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
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
    /// Bytes of the tree the parser builds for one first-level element (or the stream
    /// header), beside its raw bytes: 32 for each element, text run and CDATA section, 28
    /// for each attribute, 64 for each namespace declaration, and the namespace names it
    /// must decode (those written with a reference or a tab or line end) and so copy.
    /// Default 512 KiB, twice `max_element_bytes`.
    ///
    /// Markup can be dense: `x<b/>` makes 64 bytes of tree from 5 bytes. Without this bound
    /// the tree of one element could take 13 times the element limit; with it, a session
    /// holds at most `max_element_bytes + max_tree_bytes` and a few KiB for an element in
    /// progress, whatever the peer sends. Ordinary stanzas make one to two bytes of tree per
    /// byte received, rosters (the densest) about 2.2, so at the defaults the bound only
    /// binds rosters of more than about 230 KiB. Raise it with `max_element_bytes`.
    pub max_tree_bytes: usize,
}

impl Limits {
    /// The defaults: 256 KiB per element, 8 KiB per header, depth 64, 64 attributes, names
    /// of 256 bytes, a 512 KiB tree per element.
    pub const DEFAULT: Limits = Limits {
        max_element_bytes: 256 * 1024,
        max_header_bytes: 8 * 1024,
        max_depth: 64,
        max_attributes: 64,
        max_name_bytes: 256,
        max_tree_bytes: 512 * 1024,
    };
}

impl Limits {
    /// Limits for a peer that has not authenticated yet, applied as
    /// `pre_auth_limits.min(limits)`: elements of 16 KiB and their trees of 32 KiB; every
    /// other field is `usize::MAX`, so that the session's own limits (a raised header limit,
    /// say) hold before login as after it. Nothing legitimate before login needs more than a
    /// few KiB (the largest is a SASL exchange); RFC 6120 section 13.12 item 4 puts the floor
    /// of a server's stanza limit at 10,000 bytes, and ejabberd holds unauthenticated peers
    /// to 8,192. Lower another field here to make it stricter before login too.
    pub const PRE_AUTH: Limits = Limits {
        max_element_bytes: 16 * 1024,
        max_tree_bytes: 32 * 1024,
        max_header_bytes: usize::MAX,
        max_depth: usize::MAX,
        max_attributes: usize::MAX,
        max_name_bytes: usize::MAX,
    };

    /// The tighter of two limits, field by field.
    pub fn min(self, other: Limits) -> Limits {
        Limits {
            max_element_bytes: self.max_element_bytes.min(other.max_element_bytes),
            max_header_bytes: self.max_header_bytes.min(other.max_header_bytes),
            max_depth: self.max_depth.min(other.max_depth),
            max_attributes: self.max_attributes.min(other.max_attributes),
            max_name_bytes: self.max_name_bytes.min(other.max_name_bytes),
            max_tree_bytes: self.max_tree_bytes.min(other.max_tree_bytes),
        }
    }
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
    /// [`Limits::max_tree_bytes`].
    TreeBytes,
}
