//! How the stream is framed on the transport: one XML document over TCP (RFC 6120 section
//! 4), or one element per WebSocket message (RFC 7395).
//!
//! Framing is data of the engine, not a second copy of the roles: the engine's reader
//! hands each WebSocket message to the parser whole
//! ([`StreamParser::handle_message`](crate::xml::StreamParser::handle_message)), its
//! one writer cuts its output into one message per element and gives each element its own
//! namespace declarations, and `<open/>` and `<close/>` take the place of the stream header
//! and closing tag. Everything above (SASL, binding, stream management, closing) runs as it
//! does over TCP.
//!
//! What changes over WebSocket:
//!
//! - section 3.3.2: `<open xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>`, with the
//!   header's attributes and checks, opens each stream (restarts after SASL included,
//!   section 3.5) and `<close/>` ends it, in the same handshake as `</stream:stream>`;
//! - section 3.3.3: every message is one standalone element: our stanzas carry
//!   `xmlns='jabber:client'`, `<stream:features/>` and `<stream:error/>` declare the
//!   `stream` prefix; a peer's message with two elements, a partial element or text around
//!   it is `not-well-formed`;
//! - section 3.4: no whitespace keepalives (a message must begin with `<`): the embedder
//!   pings with WebSocket ping frames, or uses XEP-0199 or XEP-0198 `<r/>`; the keepalive
//!   setting is ignored;
//! - section 3.7: no STARTTLS (TLS is the `wss:` scheme's): the server does not offer it
//!   and the client ignores it; [`Framing::WebSocket::secure`] says whether the WebSocket
//!   runs over TLS, and the stream counts as encrypted from the start when it does;
//! - section 3.6.1: a `<close see-other-uri/>` moves the client to another endpoint
//!   ([`CloseReason::Redirected`](super::CloseReason::Redirected)), unless it lowers the
//!   security (section 4: `wss:` to `ws:`).

use bytes::BytesMut;

use crate::error::{FRAMING_NS, STREAM_NS};
use crate::xml::escape_attr;

use super::header::Header;

/// How the stream is framed on the transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Framing {
    /// One XML document each way over a byte stream (RFC 6120 section 4): `handle_input`
    /// takes bytes cut anywhere, `poll_transmit` gives bytes.
    #[default]
    Tcp,
    /// XMPP over WebSocket (RFC 7395): the embedder runs the WebSocket protocol (handshake
    /// with the `xmpp` subprotocol, frames, masking, pings) and the core sees messages:
    /// each `handle_input` call is the whole payload of one text message (reassembled from
    /// its frames), and each `poll_transmit` gives the payload of one text message.
    WebSocket {
        /// The WebSocket runs over TLS (`wss:`): the stream counts as encrypted from the
        /// start (PLAIN may run, `TlsPolicy::Required` is met), since STARTTLS has no place
        /// in it (RFC 7395 section 3.7). There is no channel binding, so no `-PLUS`.
        secure: bool,
    },
}

impl Framing {
    /// Is the stream framed in WebSocket messages?
    pub fn is_websocket(self) -> bool {
        matches!(self, Framing::WebSocket { .. })
    }
}

/// Writes `<open/>` (RFC 7395 section 3.3.2) with the header's attributes.
pub(crate) fn write_open(out: &mut BytesMut, h: Header<'_>) {
    out.extend_from_slice(b"<open xmlns='");
    out.extend_from_slice(FRAMING_NS.as_bytes());
    out.extend_from_slice(b"'");
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
    out.extend_from_slice(b"/>");
}

/// Writes `<close/>` (RFC 7395 section 3.6), with `see-other-uri` when given (3.6.1).
pub(crate) fn write_close(out: &mut BytesMut, see_other_uri: Option<&str>) {
    out.extend_from_slice(b"<close xmlns='");
    out.extend_from_slice(FRAMING_NS.as_bytes());
    out.extend_from_slice(b"'");
    if let Some(uri) = see_other_uri {
        out.extend_from_slice(b" see-other-uri='");
        escape_attr(out, uri);
        out.extend_from_slice(b"'");
    }
    out.extend_from_slice(b"/>");
}

/// Makes the element that starts at `buf[start..]` standalone (RFC 7395 section 3.3.3):
/// an unprefixed root without a default namespace declaration gets the stream's content
/// namespace, a `stream:` root without its prefix declared gets the declaration. What the
/// engine writes was written for a stream whose header declared both; this is the one
/// place that makes up for the header WebSocket framing does not have.
pub(crate) fn declare_root(buf: &mut BytesMut, start: usize, content_ns: &str) {
    let tag = &buf[start..];
    if tag.first() != Some(&b'<') {
        return;
    }
    let name_len = tag[1..]
        .iter()
        .position(|&b| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'/' | b'>'))
        .unwrap_or(tag.len() - 1);
    let name = &tag[1..1 + name_len];
    let (attr, value): (&[u8], &str) = match name.iter().position(|&b| b == b':') {
        None => (b"xmlns", content_ns),
        Some(_) if name.starts_with(b"stream:") => (b"xmlns:stream", STREAM_NS),
        Some(_) => return,
    };
    if declares(&tag[1 + name_len..], attr) {
        return;
    }
    let mut decl = BytesMut::with_capacity(attr.len() + value.len() + 4);
    decl.extend_from_slice(b" ");
    decl.extend_from_slice(attr);
    decl.extend_from_slice(b"='");
    escape_attr(&mut decl, value);
    decl.extend_from_slice(b"'");
    // Inserted after the name: the bytes after it move up, with no second buffer.
    let at = start + 1 + name_len;
    let len = buf.len();
    buf.resize(len + decl.len(), 0);
    buf.copy_within(at..len, at + decl.len());
    buf[at..at + decl.len()].copy_from_slice(&decl);
}

/// Does the start tag whose attributes begin `rest` (up to its `>`) carry `attr=`?
fn declares(rest: &[u8], attr: &[u8]) -> bool {
    let mut i = 0;
    while let Some(&b) = rest.get(i) {
        match b {
            b'>' => return false,
            b'\'' | b'"' => match rest[i + 1..].iter().position(|&c| c == b) {
                Some(len) => i += len + 2,
                None => return false,
            },
            _ if rest[i..].starts_with(attr)
                && i > 0
                && rest[i - 1].is_ascii_whitespace()
                && matches!(
                    rest.get(i + attr.len()),
                    Some(b'=' | b' ' | b'\t' | b'\n' | b'\r')
                ) =>
            {
                return true;
            }
            _ => i += 1,
        }
    }
    false
}

/// May the client follow `see-other-uri` (RFC 7395 section 3.6.1)? Not to a lower
/// security context: from `wss:` only to `wss:` or `https:`.
pub(crate) fn redirect_allowed(uri: &str, secure: bool) -> bool {
    let scheme = uri.split(':').next().unwrap_or("").to_ascii_lowercase();
    match scheme.as_str() {
        "wss" | "https" => true,
        "ws" | "http" => !secure,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn declared(xml: &str) -> String {
        let mut buf = BytesMut::from(&b"<r/>"[..]);
        let start = buf.len();
        buf.extend_from_slice(xml.as_bytes());
        declare_root(&mut buf, start, "jabber:client");
        String::from_utf8(buf[start..].to_vec()).unwrap()
    }

    #[test]
    fn each_root_gets_the_declarations_the_header_gave() {
        assert_eq!(
            declared("<message to='a'><body>x</body></message>"),
            "<message xmlns='jabber:client' to='a'><body>x</body></message>"
        );
        assert_eq!(declared("<iq/>"), "<iq xmlns='jabber:client'/>");
        assert_eq!(
            declared("<stream:features><x/></stream:features>"),
            "<stream:features xmlns:stream='http://etherx.jabber.org/streams'><x/></stream:features>"
        );
        // Already standalone: unchanged, whatever the attribute values hold.
        for xml in [
            "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>x</auth>",
            "<message a='xmlns=&apos;' xmlns='jabber:client'/>",
            "<stream:error xmlns:stream='http://etherx.jabber.org/streams'/>",
            "<p:x xmlns:p='urn:p'/>",
        ] {
            assert_eq!(declared(xml), xml);
        }
        // A value that only looks like a declaration is not one.
        assert_eq!(
            declared("<message a=' xmlns=x'/>"),
            "<message xmlns='jabber:client' a=' xmlns=x'/>"
        );
    }

    #[test]
    fn no_redirect_to_a_lower_security_context() {
        assert!(redirect_allowed("wss://b.example/ws", true));
        assert!(!redirect_allowed("ws://b.example/ws", true));
        assert!(!redirect_allowed("HTTP://b.example/bosh", true));
        assert!(redirect_allowed("ws://b.example/ws", false));
        assert!(!redirect_allowed("javascript:x", false));
    }
}
