//! Properties of the stream parser over generated documents:
//! - split invariance: any cutting of the input gives the events and error of the whole;
//! - differential: for restricted XML that both accept, xml-rs (an independent parser) builds
//!   the same tree from the whole document;
//! - serializer round trip: every element written by `write_element` parses back equal.

use std::collections::BTreeMap;

use bytes::BytesMut;
use proptest::prelude::*;
use xmpp_sansio::xml::{Element, ElementRef, Event, Limits, Node, ParseError, StreamParser};

const HEADER: &str = "<stream:stream xmlns='jabber:client' \
    xmlns:stream='http://etherx.jabber.org/streams' to='example.com' version='1.0'>";

// ---------------------------------------------------------------- generated documents

fn name() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "a", "b", "body", "x-y", "z.1", "é", "名前", "_u", "ünï",
    ])
}

fn text_char() -> impl Strategy<Value = char> {
    prop_oneof![
        8 => prop::char::range('a', 'z'),
        2 => prop::sample::select(vec![' ', '&', '<', '>', '"', '\'', ']', '\n', '\t', '\r']),
        2 => prop::sample::select(vec!['é', 'ß', 'Ж', '€', '中', '😀', '\u{10FFFF}', '\u{FFFD}']),
    ]
}

fn text() -> impl Strategy<Value = String> {
    prop::collection::vec(text_char(), 0..12).prop_map(|v| v.into_iter().collect())
}

/// Escapes `s` for character data, choosing entity names or character references.
fn esc_text(s: &str, style: u8) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match (c, style % 3) {
            ('&', 0 | 1) => out.push_str("&amp;"),
            ('<', 0 | 1) => out.push_str("&lt;"),
            ('>', 1) => out.push_str("&gt;"),
            ('\r', _) => out.push_str("&#13;"),
            ('&' | '<' | '>' | '"' | '\'' | ']', 2) => out.push_str(&format!("&#x{:X};", c as u32)),
            ('é', 2) => out.push_str("&#233;"),
            _ => out.push(c),
        }
    }
    // `]]>` is not allowed in text; the escaped `>` breaks it.
    out.replace("]]>", "]]&gt;")
}

fn esc_attr(s: &str, quote: char) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#xD;"),
            c if c == quote => out.push_str(if c == '"' { "&quot;" } else { "&apos;" }),
            c => out.push(c),
        }
    }
    out
}

#[derive(Debug, Clone)]
enum Gen {
    El {
        name: &'static str,
        /// 0: inherit, 1: xmlns='urn:a', 2: xmlns='', 3: prefix p bound to urn:p here.
        ns: u8,
        attrs: Vec<(&'static str, String)>,
        children: Vec<Gen>,
        quote: char,
        space: bool,
    },
    Text(String, u8),
    CData(String),
}

fn node() -> impl Strategy<Value = Gen> {
    let leaf = prop_oneof![
        4 => (text(), any::<u8>()).prop_map(|(t, s)| Gen::Text(t, s)),
        1 => text().prop_map(|t| Gen::CData(t.replace("]]>", "]]"))),
        3 => element(Just(vec![]).boxed()),
    ];
    leaf.prop_recursive(4, 24, 4, |inner| {
        element(prop::collection::vec(inner, 0..4).boxed())
    })
}

fn element(children: BoxedStrategy<Vec<Gen>>) -> impl Strategy<Value = Gen> {
    let attr_name = prop::sample::select(vec!["id", "to", "type", "xml:lang", "p:q", "é"]);
    (
        name(),
        0u8..4,
        prop::collection::vec((attr_name, text()), 0..4),
        children,
        prop::sample::select(vec!['\'', '"']),
        any::<bool>(),
    )
        .prop_map(|(name, ns, mut attrs, children, quote, space)| {
            let mut seen = std::collections::HashSet::new();
            attrs.retain(|(n, _)| seen.insert(*n) && (*n != "p:q" || ns == 3));
            Gen::El {
                name,
                ns,
                attrs,
                children,
                quote,
                space,
            }
        })
}

fn render(g: &Gen, out: &mut String) {
    match g {
        Gen::Text(t, style) => out.push_str(&esc_text(t, *style)),
        Gen::CData(t) => {
            out.push_str("<![CDATA[");
            out.push_str(t);
            out.push_str("]]>");
        }
        Gen::El {
            name,
            ns,
            attrs,
            children,
            quote,
            space,
        } => {
            let qname = if *ns == 3 {
                format!("p:{name}")
            } else {
                name.to_string()
            };
            out.push('<');
            out.push_str(&qname);
            match ns {
                1 => out.push_str(" xmlns='urn:a'"),
                2 => out.push_str(" xmlns=''"),
                3 => out.push_str(" xmlns:p='urn:p'"),
                _ => {}
            }
            for (n, v) in attrs {
                out.push_str(&format!(" {n}={quote}{}{quote}", esc_attr(v, *quote)));
            }
            if *space {
                out.push_str("\n\t");
            }
            if children.is_empty() {
                out.push_str("/>");
                return;
            }
            out.push('>');
            for c in children {
                render(c, out);
            }
            out.push_str(&format!("</{qname}>"));
        }
    }
}

fn stanza() -> impl Strategy<Value = String> {
    element(prop::collection::vec(node(), 0..4).boxed()).prop_map(|g| {
        let mut s = String::new();
        render(&g, &mut s);
        s
    })
}

fn document() -> impl Strategy<Value = String> {
    (
        any::<bool>(),
        prop::collection::vec((stanza(), 0usize..3), 0..6),
        any::<bool>(),
    )
        .prop_map(|(decl, stanzas, close)| {
            let mut doc = String::new();
            if decl {
                doc.push_str("<?xml version='1.0' encoding='UTF-8'?>\n");
            }
            doc.push_str(HEADER);
            for (s, ws) in stanzas {
                doc.push_str(&" \r\n\t"[..ws]);
                doc.push_str(&s);
            }
            if close {
                doc.push_str("</stream:stream>");
            }
            doc
        })
}

// ---------------------------------------------------------------- parsing helpers

#[derive(Debug, PartialEq)]
enum Seen {
    Opened(Vec<u8>, String),
    Element(Vec<u8>, String),
    Closed,
}

fn parse_chunks<'a>(chunks: impl IntoIterator<Item = &'a [u8]>) -> (Vec<Seen>, Option<ParseError>) {
    let mut p = StreamParser::new({
        let mut l = Limits::default();
        l.max_element_bytes = 4096;
        l
    });
    let mut out = vec![];
    let mut err = None;
    for c in chunks {
        let r = p.handle_input(c);
        while let Some(e) = p.poll_event() {
            out.push(match e {
                Event::StreamOpened(h) => Seen::Opened(h.raw().to_vec(), h.to_string()),
                Event::Element(e) => Seen::Element(e.raw().to_vec(), e.to_string()),
                Event::StreamClosed => Seen::Closed,
            });
        }
        if let Err(e) = r {
            err = Some(e);
        }
        assert!(p.buffered() <= 4096 + 4096, "buffer bounded");
    }
    (out, err)
}

fn cut<'a>(data: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (data.len() + 1)).collect();
    points.sort_unstable();
    let mut chunks = vec![];
    let mut last = 0;
    for p in points {
        chunks.push(&data[last..p]);
        last = p;
    }
    chunks.push(&data[last..]);
    chunks
}

fn elements(doc: &[u8]) -> Vec<Element> {
    let mut p = StreamParser::default();
    p.handle_input(doc)
        .expect("generated documents are well-formed");
    std::iter::from_fn(|| p.poll_event())
        .filter_map(|e| match e {
            Event::Element(e) => Some(e),
            _ => None,
        })
        .collect()
}

// ---------------------------------------------------------------- a neutral tree

#[derive(Debug, PartialEq)]
enum Tree {
    El {
        ns: String,
        name: String,
        attrs: BTreeMap<(String, String), String>,
        children: Vec<Tree>,
    },
    Text(String),
}

fn push_text(children: &mut Vec<Tree>, t: &str) {
    if t.is_empty() {
        return;
    }
    if let Some(Tree::Text(prev)) = children.last_mut() {
        prev.push_str(t);
    } else {
        children.push(Tree::Text(t.to_string()));
    }
}

fn ours(el: ElementRef<'_>) -> Tree {
    let attrs = el
        .attrs()
        .map(|a| {
            (
                (a.ns.to_string(), a.name.to_string()),
                a.value().into_owned(),
            )
        })
        .collect();
    let mut children = vec![];
    for n in el.nodes() {
        match n {
            Node::Element(c) => children.push(ours(c)),
            Node::Text(t) => push_text(&mut children, &t),
        }
    }
    Tree::El {
        ns: el.ns().to_string(),
        name: el.name().to_string(),
        attrs,
        children,
    }
}

/// The first-level children of the stream as xml-rs sees the whole document.
fn theirs(doc: &[u8]) -> Vec<Tree> {
    use xml::reader::{EventReader, ParserConfig, XmlEvent};
    let config = ParserConfig::new()
        .trim_whitespace(false)
        .whitespace_to_characters(true)
        .cdata_to_characters(true)
        .coalesce_characters(true);
    let mut stack: Vec<Tree> = vec![];
    let mut top = vec![];
    for ev in EventReader::new_with_config(doc, config) {
        match ev.expect("xml-rs accepts generated documents") {
            XmlEvent::StartElement {
                name, attributes, ..
            } => {
                let attrs = attributes
                    .into_iter()
                    .map(|a| {
                        (
                            (a.name.namespace.unwrap_or_default(), a.name.local_name),
                            a.value,
                        )
                    })
                    .collect();
                stack.push(Tree::El {
                    ns: name.namespace.unwrap_or_default(),
                    name: name.local_name,
                    attrs,
                    children: vec![],
                });
            }
            XmlEvent::EndElement { .. } => {
                let done = stack.pop().expect("balanced");
                let depth = stack.len();
                match stack.last_mut() {
                    // The stream header is the root: its children are the stanzas.
                    Some(Tree::El { children, .. }) if depth > 1 => children.push(done),
                    Some(_) => top.push(done),
                    None => {}
                }
            }
            XmlEvent::Characters(t) if stack.len() > 1 => {
                if let Some(Tree::El { children, .. }) = stack.last_mut() {
                    push_text(children, &t);
                }
            }
            _ => {}
        }
    }
    top
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn any_split_gives_the_events_of_the_whole(doc in document(), cuts in prop::collection::vec(any::<usize>(), 0..40)) {
        let bytes = doc.as_bytes();
        let whole = parse_chunks([bytes]);
        prop_assert_eq!(&parse_chunks(cut(bytes, &cuts)), &whole);
        prop_assert_eq!(&parse_chunks(bytes.chunks(1)), &whole);
    }

    #[test]
    fn damaged_input_fails_the_same_way_whatever_the_split(
        doc in document(),
        damage in prop::collection::vec((any::<usize>(), any::<u8>()), 1..4),
        cuts in prop::collection::vec(any::<usize>(), 0..40),
    ) {
        let mut bytes = doc.into_bytes();
        for (at, b) in damage {
            let at = at % bytes.len();
            bytes[at] = b;
        }
        let whole = parse_chunks([&bytes[..]]);
        prop_assert_eq!(&parse_chunks(cut(&bytes, &cuts)), &whole);
        prop_assert_eq!(&parse_chunks(bytes.chunks(1)), &whole);
    }

    #[test]
    fn xml_rs_builds_the_same_tree(doc in document()) {
        let mut doc = doc;
        if !doc.ends_with("</stream:stream>") {
            doc.push_str("</stream:stream>");
        }
        let ours: Vec<Tree> = elements(doc.as_bytes()).iter().map(|e| ours(e.root())).collect();
        prop_assert_eq!(ours, theirs(doc.as_bytes()));
    }

    #[test]
    fn serialized_elements_parse_back_equal(doc in document()) {
        for el in elements(doc.as_bytes()) {
            let mut out = BytesMut::new();
            xmpp_sansio::xml::write_element(&mut out, el.root(), "jabber:client");
            let mut again = HEADER.as_bytes().to_vec();
            again.extend_from_slice(&out);
            let back = elements(&again);
            prop_assert_eq!(back.len(), 1);
            prop_assert_eq!(&back[0], &el);
        }
    }
}
