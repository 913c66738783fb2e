//! Serialization into a caller's [`BytesMut`], escaping as XML 1.0 requires so that what is
//! written parses back to the same tree.

use bytes::BytesMut;

use super::element::{ElementRef, Node, XML_NS};

/// Writes `s` as character data: `&`, `<` and `>` escaped, and CR as a reference so that
/// line-end normalization (XML 1.0 section 2.11) does not change it.
pub fn escape_text(out: &mut BytesMut, s: &str) {
    escape(out, s, |b| match b {
        b'&' => Some("&amp;"),
        b'<' => Some("&lt;"),
        b'>' => Some("&gt;"),
        b'\r' => Some("&#13;"),
        _ => None,
    })
}

/// Writes `s` as an attribute value for single quotes: white space other than the space
/// character is written as references so that attribute normalization keeps it.
pub fn escape_attr(out: &mut BytesMut, s: &str) {
    escape(out, s, |b| match b {
        b'&' => Some("&amp;"),
        b'<' => Some("&lt;"),
        b'>' => Some("&gt;"),
        b'\'' => Some("&apos;"),
        b'"' => Some("&quot;"),
        b'\t' => Some("&#9;"),
        b'\n' => Some("&#10;"),
        b'\r' => Some("&#13;"),
        _ => None,
    })
}

#[inline]
fn escape(out: &mut BytesMut, s: &str, map: impl Fn(u8) -> Option<&'static str>) {
    let bytes = s.as_bytes();
    let mut last = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if let Some(rep) = map(b) {
            out.extend_from_slice(&bytes[last..i]);
            out.extend_from_slice(rep.as_bytes());
            last = i + 1;
        }
    }
    out.extend_from_slice(&bytes[last..]);
}

/// Writes `el` and its subtree into `out`, declaring namespaces where they differ from
/// `default_ns`, the default namespace in scope where it is written (for a stanza in a c2s
/// stream, `jabber:client`). Element names are written unprefixed; attribute prefixes are
/// kept and declared on the element that uses them.
pub fn write_element(out: &mut BytesMut, el: ElementRef<'_>, default_ns: &str) {
    out.extend_from_slice(b"<");
    out.extend_from_slice(el.name().as_bytes());
    let ns = el.ns();
    if ns != default_ns {
        out.extend_from_slice(b" xmlns='");
        escape_attr(out, ns);
        out.extend_from_slice(b"'");
    }
    for (i, a) in el.attrs().enumerate() {
        out.extend_from_slice(b" ");
        if a.ns == XML_NS {
            out.extend_from_slice(b"xml:");
        } else if !a.ns.is_empty() {
            // Reuse the written prefix unless it is reserved; declare it right here.
            let p = a
                .prefix
                .filter(|p| !p.eq_ignore_ascii_case("xml") && *p != "xmlns");
            out.extend_from_slice(b"xmlns:");
            put_prefix(out, p, i);
            out.extend_from_slice(b"='");
            escape_attr(out, a.ns);
            out.extend_from_slice(b"' ");
            put_prefix(out, p, i);
            out.extend_from_slice(b":");
        }
        out.extend_from_slice(a.name.as_bytes());
        out.extend_from_slice(b"='");
        escape_attr(out, &a.value());
        out.extend_from_slice(b"'");
    }
    if el.is_empty() {
        out.extend_from_slice(b"/>");
        return;
    }
    out.extend_from_slice(b">");
    for node in el.nodes() {
        match node {
            Node::Element(child) => write_element(out, child, ns),
            Node::Text(t) => escape_text(out, &t),
        }
    }
    out.extend_from_slice(b"</");
    out.extend_from_slice(el.name().as_bytes());
    out.extend_from_slice(b">");
}

fn put_prefix(out: &mut BytesMut, prefix: Option<&str>, i: usize) {
    match prefix {
        Some(p) => out.extend_from_slice(p.as_bytes()),
        None => {
            out.extend_from_slice(b"ns");
            let mut digits = [0u8; 20];
            let mut n = i;
            let mut k = digits.len();
            loop {
                k -= 1;
                digits[k] = b'0' + (n % 10) as u8;
                n /= 10;
                if n == 0 {
                    break;
                }
            }
            out.extend_from_slice(&digits[k..]);
        }
    }
}
