//! Stream headers (RFC 6120 section 4.7): the one this side writes, and the checks of the
//! one the peer sent.

use bytes::BytesMut;

use crate::error::{STREAM_NS, StreamErrorCondition};
use crate::xml::{Element, StreamParser, escape_attr};

/// The attributes of a stream header this side sends; the content namespace is the
/// stream's, which the engine knows.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Header<'a> {
    pub to: Option<&'a str>,
    pub from: Option<&'a str>,
    pub id: Option<&'a str>,
    /// `version='1.0'` and `xml:lang` are left out when `None` (XEP-0114 streams carry
    /// neither).
    pub lang: Option<&'a str>,
}

/// Writes `<?xml version='1.0'?>` and the stream header (RFC 6120 section 4.7).
pub(crate) fn write_header(out: &mut BytesMut, content_ns: &str, h: Header<'_>) {
    out.extend_from_slice(b"<?xml version='1.0'?><stream:stream xmlns='");
    escape_attr(out, content_ns);
    out.extend_from_slice(b"' xmlns:stream='");
    out.extend_from_slice(STREAM_NS.as_bytes());
    out.extend_from_slice(b"'");
    if content_ns == crate::error::JABBER_SERVER {
        // Every s2s stream here speaks dialback (XEP-0220 section 2.4.1: the declaration
        // is how traditional dialback is advertised).
        out.extend_from_slice(b" xmlns:db='jabber:server:dialback'");
    }
    for (name, value) in [("to", h.to), ("from", h.from), ("id", h.id)] {
        if let Some(v) = value {
            out.extend_from_slice(b" ");
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b"='");
            escape_attr(out, v);
            out.extend_from_slice(b"'");
        }
    }
    if let Some(lang) = h.lang {
        out.extend_from_slice(b" version='1.0' xml:lang='");
        escape_attr(out, lang);
        out.extend_from_slice(b"'");
    }
    out.extend_from_slice(b">");
}

/// Checks the peer's stream header: its content namespace and version (RFC 6120 sections
/// 4.7.5, 4.8.2, 4.9.3.10 and 4.9.3.25). The streams namespace itself is the parser's check.
///
/// The content namespace is `content_ns` as the default namespace, or no content namespace
/// declared at all: "prefix-free canonicalization", where each first-level element says
/// its own namespace (section 4.8.2: "both styles are acceptable since they are
/// semantically equivalent"; the receiving server of section 9.2 writes it so), with the
/// streams namespace as the default or no default. Another default is
/// `invalid-namespace`.
pub(crate) fn check_peer_header(
    parser: &StreamParser,
    header: &Element,
    content_ns: &str,
) -> Result<(), StreamErrorCondition> {
    // RFC 7395 section 3.3.2: `<open/>` has the header's attributes, and its namespace
    // (which the parser checked) stands for the streams namespace; the content namespace
    // is each element's own.
    if header.is("open", crate::error::FRAMING_NS) {
        return check_version(header);
    }
    match parser.content_namespace() {
        None | Some(STREAM_NS) => {}
        Some(ns) if ns == content_ns => {}
        Some(_) => return Err(StreamErrorCondition::InvalidNamespace),
    }
    check_version(header)
}

/// The peer's header says a 1.x version of the protocol (RFC 6120 section 4.7.5: a major
/// version we do not speak, or none, is `unsupported-version`).
pub(crate) fn check_version(header: &Element) -> Result<(), StreamErrorCondition> {
    let version = header.attr("version");
    let major = version
        .as_deref()
        .and_then(|v| v.split('.').next()?.parse::<u32>().ok());
    if major != Some(1) {
        return Err(StreamErrorCondition::UnsupportedVersion);
    }
    Ok(())
}
