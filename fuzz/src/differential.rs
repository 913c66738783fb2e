//! The differential parser check: the same bytes through our `StreamParser` and through
//! xml-rs (the `xml` crate), an independent, namespace-aware XML 1.0 parser, with their
//! well-formedness verdicts and element trees compared. Shared with
//! `repo-tests/tests/fuzz_corpus.rs` like `checks.rs`; it depends on `xmpp_sansio`, `xml` and
//! std.
//!
//! The input is the content of a stream: it is placed between a fixed stream header and
//! `</stream:stream>`, so that both parsers read one document whose root is the stream, and
//! each first-level element is compared. Where XMPP deliberately differs from XML 1.0 the
//! check expects our parser to refuse and does not ask xml-rs to agree (RFC 6120 section
//! 11.1: comments, processing instructions, document types, entity references other than the
//! predefined ones; section 4.9.3.13: text directly inside the stream), and a configured limit
//! ends a comparison (xml-rs has other limits). Every other disagreement panics: it is either
//! a bug of ours or a difference to document in `fuzz/README.md` with its reason.

use std::collections::BTreeSet;

use xml::ParserConfig;
use xml::reader::XmlEvent;
use xmpp_sansio::xml::{ElementRef, ErrorKind, Event, Limits, Node, StreamParser};

/// The stream header the input follows: the c2s content namespace and the `stream` prefix.
pub const HEADER: &str = "<stream:stream xmlns='jabber:client' \
                          xmlns:stream='http://etherx.jabber.org/streams'>";
/// The closing tag after the input.
pub const CLOSE: &str = "</stream:stream>";

/// An element as both parsers can describe it: names resolved, attributes as a set
/// (namespace, local name, value), children with adjacent text merged. White space between
/// first-level elements is not content (it is stream-level keepalive in XMPP, and a parser
/// may report it or not).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tree {
    pub ns: String,
    pub name: String,
    pub attrs: BTreeSet<(String, String, String)>,
    pub children: Vec<Child>,
}

/// A child of a [`Tree`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Child {
    Element(Tree),
    Text(String),
}

/// What a parser made of the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Well-formed: the first-level elements, in order.
    Elements(Vec<Tree>),
    /// Refused, with the reason.
    Refused(String),
}

/// The check: see the module documentation.
pub fn differential(data: &[u8]) {
    let mut doc = Vec::with_capacity(HEADER.len() + data.len() + CLOSE.len());
    doc.extend_from_slice(HEADER.as_bytes());
    doc.extend_from_slice(data);
    doc.extend_from_slice(CLOSE.as_bytes());
    let (ours, fault) = ours(&doc);
    if matches!(fault, Some((ErrorKind::LimitExceeded(_), _))) {
        return;
    }
    let (theirs, restricted) = theirs(&doc);
    // A documented difference (see `fuzz/README.md`) ends the comparison.
    let excused = match (&ours, &theirs, fault) {
        (Verdict::Refused(_), Verdict::Elements(_), Some((kind, at))) => {
            lenient_oracle(kind, &doc, at)
        }
        (Verdict::Elements(_), Verdict::Refused(why), _) => strict_oracle(why),
        _ => None,
    };
    if excused.is_some() {
        return;
    }
    if let Some(construct) = restricted {
        // XMPP refuses what XML allows here; our parser must have refused (perhaps earlier).
        assert!(
            matches!(ours, Verdict::Refused(_)),
            "xml-rs read {construct}, which RFC 6120 restricts, and our parser accepted it: \
             {ours:?}\ninput: {:?}",
            String::from_utf8_lossy(data)
        );
        return;
    }
    match (&ours, &theirs) {
        (Verdict::Elements(a), Verdict::Elements(b)) => assert_eq!(
            a,
            b,
            "the parsers read different trees\ninput: {:?}",
            String::from_utf8_lossy(data)
        ),
        (Verdict::Refused(_), Verdict::Refused(_)) => {}
        _ => panic!(
            "the parsers disagree on well-formedness\nours:   {ours:?}\nxml-rs: {theirs:?}\n\
             input: {:?}",
            String::from_utf8_lossy(data)
        ),
    }
}

/// Where xml-rs accepts what XML 1.0 refuses, and our parser is right to refuse: the reason,
/// when our fault `kind` at stream offset `at` of `doc` is one of these. Each is listed in
/// `fuzz/README.md`.
pub fn lenient_oracle(kind: ErrorKind, doc: &[u8], at: u64) -> Option<&'static str> {
    let rest = doc.get(usize::try_from(at).ok()?..)?;
    match kind {
        // XML 1.0 section 3.1, well-formedness constraint "Unique Att Spec": a namespace
        // declaration is an attribute, and `xmlns` or `xmlns:p` twice is not well-formed.
        // xml-rs keeps the last declaration.
        ErrorKind::DuplicateAttribute if rest.starts_with(b"xmlns") => {
            Some("xml-rs accepts a repeated namespace declaration")
        }
        // XML 1.0 section 3.1, well-formedness constraint "No < in Attribute Values".
        ErrorKind::LtInAttributeValue if rest.starts_with(b"<") => {
            Some("xml-rs accepts '<' in an attribute value")
        }
        // Between stanzas RFC 6120 allows white space (keepalives), which XML's `S` production
        // writes literally; a character reference there is character data even when it
        // names a space, and we refuse it as text at the stream level. xml-rs reports the
        // referenced character, which the comparison cannot tell from a literal one.
        ErrorKind::TextAtStreamLevel if rest.starts_with(b"&") => {
            Some("a reference to white space between stanzas")
        }
        // The same for a CDATA section there: XML's CDSect is character data (production
        // 43, `content`), even empty or holding only white space, which RFC 6120 does not
        // allow between stanzas; xml-rs reports its content (or nothing, when empty), which
        // the comparison cannot tell from a literal keepalive.
        ErrorKind::TextAtStreamLevel if rest.starts_with(b"<![CDATA[") => {
            Some("a CDATA section between stanzas")
        }
        // XML 1.0 production 5 and Namespaces in XML production 4: a name (or a part of a
        // qualified name) starts with a letter or `_`, never with a digit, `.` or `-`, and a
        // qualified name has at most one colon with a part each side. xml-rs checks names
        // less strictly.
        ErrorKind::InvalidName if name_invalid(rest) => {
            Some("xml-rs accepts some names that are not XML names")
        }
        // Namespaces in XML 1.0, sections 3 and 5 (constraints "Reserved Prefixes and
        // Namespace Names", "No Prefix Undeclaring"): `xml` bound to anything but its
        // namespace, another prefix bound to it or to the `xmlns` namespace, `xmlns` declared,
        // or a prefix declared empty. xml-rs checks some of these, not all.
        ErrorKind::ReservedNamespace if reserved_misuse(rest) => {
            Some("xml-rs accepts some misuses of the reserved prefixes and namespaces")
        }
        _ => None,
    }
}

/// Where xml-rs refuses what XML 1.0 and Namespaces in XML allow, and our parser is right to
/// accept: the reason, when xml-rs's message `why` is one of these. Each is listed in
/// `fuzz/README.md`.
pub fn strict_oracle(why: &str) -> Option<&'static str> {
    // Namespaces in XML 1.0 section 3 forbids the prefix `xmlns` on element names, not
    // `xml`, which is bound to its namespace without a declaration.
    if why.contains("'xml' cannot be an element name prefix") {
        return Some("xml-rs refuses the prefix 'xml' on an element name");
    }
    // Section 3 keeps the namespace names `http://www.w3.org/2000/xmlns/` and
    // `http://www.w3.org/XML/1998/namespace` from being the default namespace, not the
    // strings `xmlns` and `xml` (relative URI references, deprecated, allowed).
    if why.contains("Namespace 'xmlns' cannot be default") {
        return Some("xml-rs refuses the string 'xmlns' as a default namespace name");
    }
    why.contains("Namespace 'xml' cannot be default")
        .then_some("xml-rs refuses the string 'xml' as a default namespace name")
}

/// Does `at` start with a name token that is not a qualified name of Namespaces in XML
/// (`NCName` or `NCName:NCName`), for a reason this check can tell: a part that is empty or
/// starts with a character that XML 1.0 allows inside a name but not first (`-`, `.`, a
/// digit, U+00B7, U+0300 to U+036F, U+203F, U+2040), an ASCII character no name has, or more
/// than one colon. Anything subtler about non-ASCII names is not excused.
fn name_invalid(at: &[u8]) -> bool {
    let end = at
        .iter()
        .position(|&b| b.is_ascii_whitespace() || b"=/>'\"<".contains(&b))
        .unwrap_or(at.len());
    let Ok(token) = core::str::from_utf8(&at[..end]) else {
        return false;
    };
    if token.is_empty() {
        return false;
    }
    let not_first = |c: char| matches!(c, '-' | '.' | '0'..='9' | '\u{b7}' | '\u{300}'..='\u{36f}' | '\u{203f}' | '\u{2040}');
    let part_bad = |p: &str| {
        p.chars().next().is_none_or(not_first)
            || p.chars()
                .any(|c| c.is_ascii() && !(c.is_ascii_alphanumeric() || "._-".contains(c)))
    };
    let parts: Vec<&str> = token.split(':').collect();
    parts.len() > 2 || parts.iter().any(|p| part_bad(p))
}

/// Is `decl` (from an attribute name on) a namespace declaration that Namespaces in XML
/// forbids? Only plain quoted values are judged; anything else is not excused.
fn reserved_misuse(decl: &[u8]) -> bool {
    const XML_NS: &[u8] = b"http://www.w3.org/XML/1998/namespace";
    const XMLNS_NS: &[u8] = b"http://www.w3.org/2000/xmlns/";
    let Some(rest) = decl.strip_prefix(b"xmlns") else {
        return false;
    };
    let (prefix, rest) = match rest.strip_prefix(b":") {
        Some(r) => {
            let end = r.iter().position(|&b| b == b'=' || b.is_ascii_whitespace());
            let end = end.unwrap_or(r.len());
            (&r[..end], &r[end..])
        }
        None => (&b""[..], rest),
    };
    let rest = rest.trim_ascii_start();
    let Some(rest) = rest.strip_prefix(b"=") else {
        return false;
    };
    let rest = rest.trim_ascii_start();
    let Some((&quote, rest)) = rest.split_first() else {
        return false;
    };
    let Some(end) = rest.iter().position(|&b| b == quote) else {
        return false;
    };
    let value = &rest[..end];
    if value.contains(&b'&') {
        return false;
    }
    match prefix {
        b"xml" => value != XML_NS,
        b"xmlns" => true,
        b"" => value == XML_NS || value == XMLNS_NS,
        _ => value == XML_NS || value == XMLNS_NS || value.is_empty(),
    }
}

/// Our parser's verdict, and the kind and stream offset of its error if it refused.
pub fn ours(doc: &[u8]) -> (Verdict, Option<(ErrorKind, u64)>) {
    let mut parser = StreamParser::new(Limits::DEFAULT);
    let fed = parser.handle_input(doc).and_then(|()| parser.handle_eof());
    let mut elements = Vec::new();
    let mut closed = false;
    while let Some(event) = parser.poll_event() {
        match event {
            Event::Element(el) => elements.push(tree_of(el.root())),
            Event::StreamClosed => closed = true,
            _ => {}
        }
    }
    match fed {
        Err(e) => (
            Verdict::Refused(e.to_string()),
            Some((e.kind(), e.offset())),
        ),
        Ok(()) if !closed => (Verdict::Refused("the stream was not closed".into()), None),
        Ok(()) => (Verdict::Elements(elements), None),
    }
}

fn tree_of(el: ElementRef<'_>) -> Tree {
    let attrs = el
        .attrs()
        .map(|a| (a.ns.to_owned(), a.name.to_owned(), a.value().into_owned()))
        .collect();
    let mut children = Vec::new();
    for node in el.nodes() {
        match node {
            Node::Element(child) => children.push(Child::Element(tree_of(child))),
            Node::Text(text) => push_text(&mut children, &text),
        }
    }
    Tree {
        ns: el.ns().to_owned(),
        name: el.name().to_owned(),
        attrs,
        children,
    }
}

fn push_text(children: &mut Vec<Child>, text: &str) {
    if text.is_empty() {
        return;
    }
    match children.last_mut() {
        Some(Child::Text(t)) => t.push_str(text),
        _ => children.push(Child::Text(text.to_owned())),
    }
}

/// xml-rs's verdict, and the construct outside the XMPP subset that it read, if any.
pub fn theirs(doc: &[u8]) -> (Verdict, Option<&'static str>) {
    let config = ParserConfig::new()
        .trim_whitespace(false)
        .whitespace_to_characters(true)
        .cdata_to_characters(true)
        .coalesce_characters(true)
        .ignore_comments(false);
    let reader = config.create_reader(doc);
    // The open elements below the stream root, innermost last.
    let mut open: Vec<Tree> = Vec::new();
    let mut elements = Vec::new();
    let mut depth = 0usize;
    for event in reader {
        let event = match event {
            Ok(e) => e,
            Err(e) => return (Verdict::Refused(e.to_string()), None),
        };
        match event {
            XmlEvent::Comment(_) => return (Verdict::Refused(String::new()), Some("a comment")),
            XmlEvent::ProcessingInstruction { .. } => {
                return (
                    Verdict::Refused(String::new()),
                    Some("a processing instruction"),
                );
            }
            XmlEvent::Doctype { .. } => {
                return (Verdict::Refused(String::new()), Some("a document type"));
            }
            XmlEvent::StartElement {
                name, attributes, ..
            } => {
                depth += 1;
                if depth == 1 {
                    continue;
                }
                let attrs = attributes
                    .into_iter()
                    .map(|a| {
                        (
                            a.name.namespace.unwrap_or_default(),
                            a.name.local_name,
                            a.value,
                        )
                    })
                    .collect();
                open.push(Tree {
                    ns: name.namespace.unwrap_or_default(),
                    name: name.local_name,
                    attrs,
                    children: Vec::new(),
                });
            }
            XmlEvent::EndElement { .. } => {
                depth = depth.saturating_sub(1);
                let Some(done) = open.pop() else { continue };
                match open.last_mut() {
                    Some(parent) => parent.children.push(Child::Element(done)),
                    None => elements.push(done),
                }
            }
            XmlEvent::Characters(text) | XmlEvent::CData(text) | XmlEvent::Whitespace(text) => {
                match open.last_mut() {
                    Some(parent) => push_text(&mut parent.children, &text),
                    // Directly in the stream: white space is a keepalive, anything else
                    // is text that RFC 6120 section 4.9.3.13 refuses.
                    None if text.chars().all(|c| matches!(c, ' ' | '\t' | '\r' | '\n')) => {}
                    None => {
                        return (
                            Verdict::Refused(String::new()),
                            Some("text directly inside the stream"),
                        );
                    }
                }
            }
            XmlEvent::StartDocument { .. } | XmlEvent::EndDocument => {}
        }
    }
    (Verdict::Elements(elements), None)
}
