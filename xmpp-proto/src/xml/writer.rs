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
    write_tree(out, el, default_ns, None);
}

/// [`write_element`], where `rename` is `(from, to)`: `el`, if it is in `from`, is written in
/// `to`, and so are its descendants in `from` down to the first element in another
/// namespace, whose subtree keeps its own (a stanza built in `jabber:client`, written into a
/// stream whose content namespace is `to`, with a forwarded `jabber:client` message inside).
fn write_tree(out: &mut BytesMut, el: ElementRef<'_>, default_ns: &str, rename: Rename<'_>) {
    // The XML namespace may only be written with its own prefix, never as a default.
    let xml_prefixed = el.ns() == XML_NS;
    let rename = rename.filter(|(from, _)| el.ns() == *from);
    let ns = match rename {
        _ if xml_prefixed => default_ns,
        Some((_, to)) => to,
        None => el.ns(),
    };
    write_name(out, b"<", el.name(), xml_prefixed);
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
            // Reuse the written prefix unless it is reserved, and declare it on this element,
            // once, before its first use.
            let p = usable_prefix(a.prefix);
            let declared = p.is_some()
                && el
                    .attrs()
                    .take(i)
                    .any(|b| usable_prefix(b.prefix) == p && b.ns == a.ns);
            if !declared {
                out.extend_from_slice(b"xmlns:");
                put_prefix(out, el, p, i);
                out.extend_from_slice(b"='");
                escape_attr(out, a.ns);
                out.extend_from_slice(b"' ");
            }
            put_prefix(out, el, p, i);
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
            Node::Element(child) => write_tree(out, child, ns, rename),
            Node::Text(t) => escape_text(out, &t),
        }
    }
    write_name(out, b"</", el.name(), xml_prefixed);
    out.extend_from_slice(b">");
}

/// A namespace written as another: `(from, to)`.
type Rename<'a> = Option<(&'a str, &'a str)>;

fn write_name(out: &mut BytesMut, open: &[u8], name: &str, xml_prefixed: bool) {
    out.extend_from_slice(open);
    if xml_prefixed {
        out.extend_from_slice(b"xml:");
    }
    out.extend_from_slice(name.as_bytes());
}

/// A written prefix that may be declared again: not one of the reserved `xml...` names.
fn usable_prefix(prefix: Option<&str>) -> Option<&str> {
    prefix.filter(|p| !p.get(..3).is_some_and(|x| x.eq_ignore_ascii_case("xml")))
}

/// Writes the prefix of attribute `i`: its own, or a made-up `nsN` that no attribute of `el`
/// uses as its own.
fn put_prefix(out: &mut BytesMut, el: ElementRef<'_>, prefix: Option<&str>, i: usize) {
    if let Some(p) = prefix {
        out.extend_from_slice(p.as_bytes());
        return;
    }
    let mut n = i;
    let mut digits = [0u8; 20];
    loop {
        let mut k = digits.len();
        let mut m = n;
        loop {
            k -= 1;
            digits[k] = b'0' + (m % 10) as u8;
            m /= 10;
            if m == 0 {
                break;
            }
        }
        let taken = el.attrs().any(|a| {
            a.prefix
                .is_some_and(|p| p.strip_prefix("ns").map(str::as_bytes) == Some(&digits[k..]))
        });
        if !taken {
            out.extend_from_slice(b"ns");
            out.extend_from_slice(&digits[k..]);
            return;
        }
        n += el.attrs().len();
    }
}

/// A streaming XML writer into a caller's [`BytesMut`], for building stanzas and
/// negotiation elements without a tree.
///
/// Calls mirror the document: [`start`](Self::start) an element, give its
/// [`xmlns`](Self::xmlns) and [`attr`](Self::attr)ibutes, then its content
/// ([`text`](Self::text), child elements, parsed elements with [`element`](Self::element),
/// trusted bytes with [`raw`](Self::raw)), then [`end`](Self::end) it. Attribute values and
/// text are escaped; names are written as given, so they must be XML names (checked in debug
/// builds). Attributes use single quotes, as [`write_element`] does.
///
/// The writer keeps only whether a start tag is still open and how deep it is, so writing
/// allocates nothing beyond the growth of `out`. It does not remember element names: `end`
/// must be given the name that `start` was. Debug builds check that ends balance starts.
///
/// ```
/// use bytes::BytesMut;
/// use xmpp_sansio::xml::Writer;
///
/// let mut out = BytesMut::new();
/// let mut w = Writer::new(&mut out);
/// w.start("message").attr("to", "juliet@example.com").attr("type", "chat");
/// w.start("body").text("Art thou not Romeo, & a Montague?").end("body");
/// w.start("active").xmlns("http://jabber.org/protocol/chatstates").end("active");
/// w.end("message");
/// w.finish();
/// assert_eq!(
///     &out[..],
///     b"<message to='juliet@example.com' type='chat'><body>Art thou not Romeo, &amp; a \
///       Montague?</body><active xmlns='http://jabber.org/protocol/chatstates'/></message>"
/// );
/// ```
#[derive(Debug)]
pub struct Writer<'a> {
    out: &'a mut BytesMut,
    /// Elements started and not yet ended.
    depth: u32,
    /// Is the start tag of the innermost element still missing its `>`? Then `end` can write
    /// `/>` instead of an end tag.
    open: bool,
    /// Writing into a stream: the namespaces whose first-level elements are written in the
    /// stream's content namespace (the second), whatever namespace they were built in.
    stream: Option<(&'a [&'a str], &'a str)>,
}

impl<'a> Writer<'a> {
    /// A writer that appends to `out`.
    pub fn new(out: &'a mut BytesMut) -> Self {
        Writer {
            out,
            depth: 0,
            open: false,
            stream: None,
        }
    }

    /// A writer that appends first-level elements to a stream whose content namespace is
    /// `content_ns`: a first-level element in one of `content_namespaces` (a stanza built
    /// or parsed in `jabber:client`, written into a `jabber:component:accept` stream) is
    /// written in `content_ns`, by [`element`](Self::element) and [`xmlns`](Self::xmlns).
    #[cfg(any(feature = "client", feature = "server", feature = "component"))]
    pub(crate) fn in_stream(
        out: &'a mut BytesMut,
        content_namespaces: &'a [&'a str],
        content_ns: &'a str,
    ) -> Self {
        Writer {
            stream: Some((content_namespaces, content_ns)),
            ..Writer::new(out)
        }
    }

    /// The stream's content namespace, if `ns` is to be written as it at this depth.
    fn stream_ns(&self, ns: &str, depth: u32) -> Option<&'a str> {
        self.stream
            .filter(|(namespaces, _)| self.depth == depth && namespaces.contains(&ns))
            .map(|(_, content_ns)| content_ns)
    }

    /// Starts the element `name` (a qualified name such as `message` or `stream:error`).
    pub fn start(&mut self, name: &str) -> &mut Self {
        debug_assert!(is_plausible_name(name), "not an XML name: {name:?}");
        self.close_start_tag();
        self.out.extend_from_slice(b"<");
        self.out.extend_from_slice(name.as_bytes());
        self.open = true;
        self.depth += 1;
        self
    }

    /// Declares `ns` as the default namespace of the element just started. In a role's
    /// `send_with`, a stanza's content namespace (`jabber:client`...) is the stream's own:
    /// nothing is written, and the stanza is in the stream's content namespace.
    pub fn xmlns(&mut self, ns: &str) -> &mut Self {
        debug_assert!(self.open, "xmlns outside a start tag");
        if self.stream_ns(ns, 1).is_some() {
            // The stream's header declared its content namespace as the default.
            return self;
        }
        self.out.extend_from_slice(b" xmlns='");
        escape_attr(self.out, ns);
        self.out.extend_from_slice(b"'");
        self
    }

    /// Adds the attribute `name` (which may be prefixed, as in `xml:lang` or `xmlns:stream`)
    /// with `value`, escaped, to the element just started.
    pub fn attr(&mut self, name: &str, value: &str) -> &mut Self {
        debug_assert!(self.open, "attribute {name:?} outside a start tag");
        debug_assert!(is_plausible_name(name), "not an XML name: {name:?}");
        self.out.extend_from_slice(b" ");
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(b"='");
        escape_attr(self.out, value);
        self.out.extend_from_slice(b"'");
        self
    }

    /// Adds the attribute `name` if `value` is `Some`.
    pub fn attr_opt(&mut self, name: &str, value: Option<&str>) -> &mut Self {
        if let Some(value) = value {
            self.attr(name, value);
        }
        self
    }

    /// Writes character data, escaped.
    pub fn text(&mut self, t: &str) -> &mut Self {
        // XMPP allows no character data at stream level other than white space.
        debug_assert!(self.depth > 0, "text outside an element");
        self.close_start_tag();
        escape_text(self.out, t);
        self
    }

    /// Writes a parsed element and its subtree with [`write_element`]. `default_ns` is the
    /// default namespace in scope where it lands: the content namespace for a child of a
    /// stanza, or the namespace of the enclosing element if that declared one.
    ///
    /// In a role's `send`/`send_with`, a stanza in a content namespace (`jabber:client`,
    /// `jabber:server`, `jabber:component:accept`) is written in the stream's, with its
    /// children in the same namespace; children in other namespaces keep theirs.
    pub fn element(&mut self, el: ElementRef<'_>, default_ns: &str) -> &mut Self {
        self.close_start_tag();
        let rename = self.stream_ns(el.ns(), 0).map(|to| (el.ns(), to));
        write_tree(self.out, el, default_ns, rename);
        self
    }

    /// Writes `bytes` unchanged. They must be well-formed, balanced XML content whose
    /// prefixes are bound where it lands (for example an element serialized earlier).
    pub fn raw(&mut self, bytes: &[u8]) -> &mut Self {
        self.close_start_tag();
        self.out.extend_from_slice(bytes);
        self
    }

    /// Ends the innermost element, whose name is `name`: `/>` if nothing was written inside
    /// it, `</name>` otherwise.
    pub fn end(&mut self, name: &str) -> &mut Self {
        debug_assert!(self.depth > 0, "end of {name:?} with no element open");
        if self.open {
            self.out.extend_from_slice(b"/>");
            self.open = false;
        } else {
            self.out.extend_from_slice(b"</");
            self.out.extend_from_slice(name.as_bytes());
            self.out.extend_from_slice(b">");
        }
        self.depth = self.depth.saturating_sub(1);
        self
    }

    /// Ends a pending start tag with `>`, so that what follows is content. `text`, `start`,
    /// `element` and `raw` do this themselves; call it to leave an element open on purpose,
    /// as a stream header is.
    pub fn close_start_tag(&mut self) -> &mut Self {
        if self.open {
            self.out.extend_from_slice(b">");
            self.open = false;
        }
        self
    }

    /// Elements started and not yet ended.
    pub fn depth(&self) -> u32 {
        self.depth
    }

    /// Finishes writing; debug builds check that every element started was ended.
    pub fn finish(self) {
        debug_assert_eq!(self.depth, 0, "elements left open");
    }
}

/// A cheap check for debug builds that a name cannot break the markup around it. Full
/// `Name` validation is the caller's business: names here come from code, not from peers.
fn is_plausible_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit() || matches!(c, '-' | '.'))
        && !name.contains(|c: char| {
            c.is_ascii_whitespace() || c.is_ascii_control() || "<>&'\"=/!?".contains(c)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(f: impl FnOnce(&mut Writer<'_>)) -> String {
        let mut out = BytesMut::new();
        let mut w = Writer::new(&mut out);
        f(&mut w);
        w.finish();
        String::from_utf8(out.to_vec()).unwrap()
    }

    #[test]
    fn empty_elements_self_close_and_others_get_end_tags() {
        assert_eq!(
            written(|w| {
                w.start("a").end("a");
            }),
            "<a/>"
        );
        assert_eq!(
            written(|w| {
                w.start("a").xmlns("urn:x").start("b").end("b").end("a");
            }),
            "<a xmlns='urn:x'><b/></a>"
        );
        assert_eq!(
            written(|w| {
                w.start("a").text("").end("a");
            }),
            "<a></a>"
        );
    }

    #[test]
    fn attribute_values_and_text_are_escaped() {
        assert_eq!(
            written(|w| {
                w.start("a")
                    .attr("v", "'<&>\"\t\n\r")
                    .attr_opt("none", None)
                    .attr_opt("xml:lang", Some("en"))
                    .text("<&>\r]]>")
                    .end("a");
            }),
            "<a v='&apos;&lt;&amp;&gt;&quot;&#9;&#10;&#13;' xml:lang='en'>\
             &lt;&amp;&gt;&#13;]]&gt;</a>"
        );
    }

    #[test]
    fn raw_bytes_and_depth() {
        let mut out = BytesMut::new();
        let mut w = Writer::new(&mut out);
        w.start("stream:stream")
            .attr("xmlns:stream", "http://etherx.jabber.org/streams")
            .close_start_tag();
        assert_eq!(w.depth(), 1);
        w.raw(b"<x/>");
        assert_eq!(
            &out[..],
            b"<stream:stream xmlns:stream='http://etherx.jabber.org/streams'><x/>"
        );
    }

    #[test]
    fn plausible_names() {
        for ok in ["a", "stream:error", "xml:lang", "_x", "é"] {
            assert!(is_plausible_name(ok), "{ok}");
        }
        for bad in ["", "a b", "a>", "a'", "1a", "-a", "a/b"] {
            assert!(!is_plausible_name(bad), "{bad}");
        }
    }
}
