//! Comparison of XML fragments (VECTORS.md, "Matching"): the vector's expectation against
//! what the core produced, in `exact` or `relaxed` mode, with placeholders.
//!
//! Both sides are [`Item`] sequences (see [`crate::xml`]). The top level always matches
//! item by item: stream headers, closing tags, first-level elements and text come as
//! written, in that order, nothing added or left out. In exact mode everything matches
//! exactly (names, attribute sets, content in order). In relaxed mode every start tag of
//! the core's output (stream headers and first-level elements included) may carry
//! attributes beyond those written, as long as each written one is there with its value:
//! a header's `xml:lang`, `from`, `to`, `id` or `version`, a reply's `from` are choices
//! the RFCs leave to the implementation, and relaxed vectors recorded elsewhere must replay
//! against a core that makes other ones. Inside each first-level element the core's output
//! may also hold extra child elements and order sibling elements freely; character data
//! still matches exactly (the core may not add text where the vector writes none). Names,
//! and a stream header's content namespace, match in both modes.
//!
//! A failed comparison says where (a path such as `message/body` or `iq/@id`) and what
//! differs, so that a person sees the difference at once.

use std::fmt;

use crate::pattern::{Captures, Pattern};
use crate::xml::{Attribute, Item, Name, Node, Tag, Tree};

/// How XML comparisons of a vector are made (the vector's `match` key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MatchMode {
    /// Everything as written.
    #[default]
    Exact,
    /// Extra attributes on every start tag (stream headers and first-level elements
    /// included); inside each first-level element, extra child elements and sibling
    /// elements in any order. The top-level sequence and character data stay exact.
    Relaxed,
}

/// Where and how two fragments differ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// The path to the difference: element local names from the top (`iq/bind/jid`),
    /// `@name` for an attribute, `#N` for the N-th (1-based) top-level item.
    pub path: String,
    /// What differs there.
    pub detail: String,
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.detail)
        } else {
            write!(f, "at {}: {}", self.path, self.detail)
        }
    }
}

fn diff<T>(path: &str, detail: impl Into<String>) -> Result<T, Difference> {
    Err(Difference {
        path: path.to_owned(),
        detail: detail.into(),
    })
}

/// Compares `expected` (from the vector, values are placeholder patterns) with `actual`
/// (from the core). On success the captures made are added to `caps`; on failure `caps` is
/// unchanged.
pub fn match_items(
    expected: &[Item],
    actual: &[Item],
    mode: MatchMode,
    caps: &mut Captures,
) -> Result<(), Difference> {
    let mut trial = caps.clone();
    for (k, pair) in expected
        .iter()
        .map(Some)
        .chain(std::iter::repeat(None))
        .zip(actual.iter().map(Some).chain(std::iter::repeat(None)))
        .enumerate()
    {
        let path = format!("#{}", k + 1);
        match pair {
            (None, None) => break,
            (Some(e), None) => return diff(&path, format!("expected {}, got nothing", kind(e))),
            (None, Some(a)) => return diff(&path, format!("unexpected {}", kind(a))),
            (Some(e), Some(a)) => match (e, a) {
                (Item::Open(e), Item::Open(a)) => {
                    let path = e.name.local.clone();
                    match_tag(e, a, mode == MatchMode::Relaxed, &path, &mut trial)?
                }
                (Item::Close(e), Item::Close(a)) => {
                    match_name(e, a, &format!("/{}", e.local), "end tag", &mut trial)?
                }
                (Item::Element(e), Item::Element(a)) => {
                    let path = e.tag.name.local.clone();
                    match_tree(e, a, mode, &path, &mut trial)?
                }
                (Item::Text(e), Item::Text(a)) => match_text(e, a, &path, &mut trial)?,
                (e, a) => return diff(&path, format!("expected {}, got {}", kind(e), kind(a))),
            },
        }
    }
    *caps = trial;
    Ok(())
}

fn kind(item: &Item) -> String {
    match item {
        Item::Open(t) => format!("start tag <{}>", t.name.local),
        Item::Close(n) => format!("end tag </{}>", n.local),
        Item::Element(t) => format!("element <{}>", t.tag.name.local),
        Item::Text(t) => format!("text {t:?}"),
    }
}

fn pattern(text: &str, path: &str) -> Result<Pattern, Difference> {
    Pattern::parse(text).or_else(|e| diff(path, format!("bad placeholder: {e}")))
}

/// `: why`, when `actual` failed `p` only because a `{+name}` would repeat a capture.
fn why_not(p: &Pattern, actual: &str, caps: &Captures) -> String {
    p.why_not(actual.as_bytes(), caps)
        .map(|why| format!(": {why}"))
        .unwrap_or_default()
}

/// Do two attribute names match? The vector's namespace is pattern text (a namespace
/// declaration is an attribute value), so its doubled braces stand for literal ones.
fn same_attr_name(expected: &Name, actual: &Name) -> bool {
    expected.local == actual.local
        && (expected.ns == actual.ns
            || Pattern::parse(&expected.ns)
                .ok()
                .and_then(|p| p.literal_text())
                .is_some_and(|ns| ns == actual.ns))
}

fn match_text(
    expected: &str,
    actual: &str,
    path: &str,
    caps: &mut Captures,
) -> Result<(), Difference> {
    let p = pattern(expected, path)?;
    if p.matches_str(actual, caps) {
        return Ok(());
    }
    match (expected.is_empty(), actual.is_empty()) {
        (true, _) => diff(path, format!("unexpected text {actual:?}")),
        (false, true) => diff(
            path,
            format!("expected text {:?}, got none", p.display(caps)),
        ),
        _ => diff(
            path,
            format!(
                "expected text {:?}, got {actual:?}{}",
                p.display(caps),
                why_not(&p, actual, caps)
            ),
        ),
    }
}

fn match_name(
    expected: &Name,
    actual: &Name,
    path: &str,
    what: &str,
    caps: &mut Captures,
) -> Result<(), Difference> {
    let ns_ok =
        expected.ns == actual.ns || pattern(&expected.ns, path)?.matches_str(&actual.ns, caps);
    if expected.local == actual.local && ns_ok {
        return Ok(());
    }
    diff(path, format!("expected {what} {expected}, got {actual}"))
}

/// Compares start tags: names, attributes (all of them, or with `extra_attrs` only those
/// the vector writes) and, on a stream header, the declared default namespace.
fn match_tag(
    expected: &Tag,
    actual: &Tag,
    extra_attrs: bool,
    path: &str,
    caps: &mut Captures,
) -> Result<(), Difference> {
    match_name(&expected.name, &actual.name, path, "element", caps)?;
    for e in &expected.attrs {
        let apath = format!("{path}/@{}", attr_label(e));
        let Some(a) = actual
            .attrs
            .iter()
            .find(|a| same_attr_name(&e.name, &a.name))
        else {
            return diff(
                &apath,
                format!(
                    "expected attribute {}={:?}, got no such attribute",
                    attr_label(e),
                    e.value
                ),
            );
        };
        let p = pattern(&e.value, &apath)?;
        if !p.matches_str(&a.value, caps) {
            return diff(
                &apath,
                format!(
                    "expected {:?}, got {:?}{}",
                    p.display(caps),
                    a.value,
                    why_not(&p, &a.value, caps)
                ),
            );
        }
    }
    if !extra_attrs {
        if let Some(a) = actual.attrs.iter().find(|a| {
            !expected
                .attrs
                .iter()
                .any(|e| same_attr_name(&e.name, &a.name))
        }) {
            return diff(
                path,
                format!("unexpected attribute {}={:?}", attr_label(a), a.value),
            );
        }
    }
    if expected.is_stream_header() {
        match (&expected.default_ns, &actual.default_ns) {
            (None, None) => {}
            (Some(e), Some(a)) => {
                let p = pattern(e, path)?;
                if !p.matches_str(a, caps) {
                    return diff(
                        path,
                        format!(
                            "expected default namespace {:?}, got {a:?}{}",
                            p.display(caps),
                            why_not(&p, a, caps)
                        ),
                    );
                }
            }
            (Some(e), None) => {
                return diff(
                    path,
                    format!("expected default namespace {e:?}, got a header without one"),
                );
            }
            (None, Some(a)) => {
                return diff(
                    path,
                    format!("expected a header without default namespace, got {a:?}"),
                );
            }
        }
    }
    Ok(())
}

fn attr_label(a: &Attribute) -> String {
    match a.name.ns.as_str() {
        "" => a.name.local.clone(),
        crate::xml::XML_NS => format!("xml:{}", a.name.local),
        _ => a.name.to_string(),
    }
}

/// Compares elements, a first-level one or one inside it: in relaxed mode its start tag
/// may carry extra attributes wherever it stands.
fn match_tree(
    expected: &Tree,
    actual: &Tree,
    mode: MatchMode,
    path: &str,
    caps: &mut Captures,
) -> Result<(), Difference> {
    let relaxed = mode == MatchMode::Relaxed;
    match_tag(&expected.tag, &actual.tag, relaxed, path, caps)?;
    if !relaxed {
        return match_content_exact(expected, actual, path, caps);
    }
    // Character data as written, the core adding none.
    match_text(&expected.text(), &actual.text(), path, caps)?;
    let exp: Vec<&Tree> = expected.child_elements().collect();
    let act: Vec<&Tree> = actual.child_elements().collect();
    let mut used = vec![false; act.len()];
    let mut trial = caps.clone();
    if assign(&exp, &act, &mut used, path, &mut trial) {
        *caps = trial;
        return Ok(());
    }
    // No assignment: explain with the first expected child that has no partner alone.
    for e in &exp {
        let cpath = format!("{path}/{}", e.tag.name.local);
        let mut first_diff = None;
        let mut any = false;
        for a in &act {
            let mut c = caps.clone();
            match match_tree(e, a, mode, &cpath, &mut c) {
                Ok(()) => {
                    any = true;
                    break;
                }
                Err(d) if a.tag.name.local == e.tag.name.local && first_diff.is_none() => {
                    first_diff = Some(d)
                }
                Err(_) => {}
            }
        }
        if !any {
            return Err(first_diff.unwrap_or(Difference {
                path: path.to_owned(),
                detail: format!("expected a child element {}, got none", e.tag.name),
            }));
        }
    }
    diff(
        path,
        "the child elements match one by one but not all at once (captures or duplicates \
         conflict)",
    )
}

/// Finds distinct actual children for every expected child, in any order (backtracking).
fn assign(
    exp: &[&Tree],
    act: &[&Tree],
    used: &mut [bool],
    path: &str,
    caps: &mut Captures,
) -> bool {
    let Some((first, rest)) = exp.split_first() else {
        return true;
    };
    let cpath = format!("{path}/{}", first.tag.name.local);
    for j in 0..act.len() {
        if used[j] {
            continue;
        }
        let mut trial = caps.clone();
        if match_tree(first, act[j], MatchMode::Relaxed, &cpath, &mut trial).is_ok() {
            used[j] = true;
            if assign(rest, act, used, path, &mut trial) {
                *caps = trial;
                return true;
            }
            used[j] = false;
        }
    }
    false
}

fn match_content_exact(
    expected: &Tree,
    actual: &Tree,
    path: &str,
    caps: &mut Captures,
) -> Result<(), Difference> {
    let mut seen: Vec<String> = Vec::new();
    let mut e_it = expected.children.iter();
    let mut a_it = actual.children.iter();
    loop {
        match (e_it.next(), a_it.next()) {
            (None, None) => return Ok(()),
            (Some(Node::Element(e)), Some(Node::Element(a))) => {
                let cpath = child_path(path, &e.tag.name.local, &mut seen);
                match_tree(e, a, MatchMode::Exact, &cpath, caps)?;
            }
            (Some(Node::Text(e)), Some(Node::Text(a))) => match_text(e, a, path, caps)?,
            (Some(e), None) => {
                return diff(path, format!("expected {}, got nothing more", node_kind(e)));
            }
            (None, Some(a)) => return diff(path, format!("unexpected {}", node_kind(a))),
            (Some(e), Some(a)) => {
                return diff(
                    path,
                    format!("expected {}, got {}", node_kind(e), node_kind(a)),
                );
            }
        }
    }
}

fn child_path(path: &str, local: &str, seen: &mut Vec<String>) -> String {
    let n = seen.iter().filter(|s| *s == local).count();
    seen.push(local.to_owned());
    if n == 0 {
        format!("{path}/{local}")
    } else {
        format!("{path}/{local}[{}]", n + 1)
    }
}

fn node_kind(node: &Node) -> String {
    match node {
        Node::Element(t) => format!("child element {}", t.tag.name),
        Node::Text(t) => format!("text {t:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml::{NsContext, parse_fragment};

    const C: &str = "<stream:stream xmlns='jabber:client' \
        xmlns:stream='http://etherx.jabber.org/streams'>";

    fn items(xml: &str) -> Vec<Item> {
        let mut ctx = NsContext::new();
        parse_fragment(C, &mut ctx).unwrap();
        parse_fragment(xml, &mut ctx).unwrap()
    }

    fn check(mode: MatchMode, expected: &str, actual: &str) -> Result<Captures, Difference> {
        let mut caps = Captures::new();
        match_items(&items(expected), &items(actual), mode, &mut caps).map(|()| caps)
    }

    fn exact(e: &str, a: &str) -> Result<Captures, Difference> {
        check(MatchMode::Exact, e, a)
    }

    fn relaxed(e: &str, a: &str) -> Result<Captures, Difference> {
        check(MatchMode::Relaxed, e, a)
    }

    #[test]
    fn exact_ignores_prefixes_quotes_order_and_whitespace() {
        exact(
            "<message to='a' type='chat'><body>hi</body></message>",
            "<cl:message xmlns:cl='jabber:client' type=\"chat\" to='a'>\n <cl:body>hi</cl:body>\n</cl:message>",
        )
        .unwrap();
        exact("<a/>", "<a></a>").unwrap();
    }

    #[test]
    fn exact_reports_each_kind_of_difference() {
        let d = exact("<message to='a'/>", "<message to='b'/>").unwrap_err();
        assert_eq!(d.to_string(), "at message/@to: expected \"a\", got \"b\"");
        let d = exact("<message/>", "<message type='chat'/>").unwrap_err();
        assert_eq!(
            d.to_string(),
            "at message: unexpected attribute type=\"chat\""
        );
        let d = exact("<message><body>x</body></message>", "<message/>").unwrap_err();
        assert!(
            d.to_string()
                .contains("expected child element {jabber:client}body, got nothing more"),
            "{d}"
        );
        let d = exact("<a><b/><c/></a>", "<a><c/><b/></a>").unwrap_err();
        assert_eq!(d.path, "a/b");
        let d = exact("<a xmlns='x'/>", "<a xmlns='y'/>").unwrap_err();
        assert_eq!(d.to_string(), "at a: expected element {x}a, got {y}a");
        let d = exact("<a>x</a>", "<a>y</a>").unwrap_err();
        assert_eq!(d.to_string(), "at a: expected text \"x\", got \"y\"");
        let d = exact("<a/>", "<a/><b/>").unwrap_err();
        assert_eq!(d.to_string(), "at #2: unexpected element <b>");
    }

    #[test]
    fn placeholders_capture_across_the_fragment() {
        let caps = exact(
            "<iq id='{id}' type='result'><x ref='{id}'/></iq>",
            "<iq id='q1' type='result'><x ref='q1'/></iq>",
        )
        .unwrap();
        assert_eq!(caps.get("id").unwrap(), "q1");
        let d = exact(
            "<iq id='{id}' type='result'><x ref='{id}'/></iq>",
            "<iq id='q1' type='result'><x ref='q2'/></iq>",
        )
        .unwrap_err();
        assert_eq!(
            d.to_string(),
            "at iq/x/@ref: expected \"{id=q1}\", got \"q2\""
        );
    }

    #[test]
    fn fresh_captures_refuse_earlier_values_with_the_reason() {
        let caps = exact(
            "<iq id='{id}' type='result'><x ref='{+ref}'/><y ref='{ref}'/></iq>",
            "<iq id='q1' type='result'><x ref='q2'/><y ref='q2'/></iq>",
        )
        .unwrap();
        assert_eq!(caps.get("ref").unwrap(), "q2");
        let d = exact(
            "<iq id='{id}' type='result'><x ref='{+ref}'/></iq>",
            "<iq id='q1' type='result'><x ref='q1'/></iq>",
        )
        .unwrap_err();
        assert_eq!(
            d.to_string(),
            "at iq/x/@ref: expected \"{+ref}\", got \"q1\": {+ref} must capture a value no \
             placeholder captured before, but \"q1\" is what {id} captured"
        );
        // In character data, and in relaxed mode, likewise.
        let d = relaxed("<a n='{n}'><b>{+m}</b></a>", "<a n='7'><b>7</b></a>").unwrap_err();
        assert_eq!(
            d.to_string(),
            "at a/b: expected text \"{+m}\", got \"7\": {+m} must capture a value no \
             placeholder captured before, but \"7\" is what {n} captured"
        );
        // Relaxed mode finds the child whose value is fresh.
        let caps = relaxed(
            "<a n='{n}'><b v='{+m}'/></a>",
            "<a n='7'><b v='7'/><b v='8'/></a>",
        )
        .unwrap();
        assert_eq!(caps.get("m").unwrap(), "8");
        // A mismatch that is not about freshness says nothing of it.
        let d = exact("<a x='{n}' y='p-{+m}'/>", "<a x='1' y='q-2'/>").unwrap_err();
        assert_eq!(d.to_string(), "at a/@y: expected \"p-{+m}\", got \"q-2\"");
    }

    #[test]
    fn doubled_braces_are_literal_in_names_values_and_text() {
        exact(
            "<a xmlns:p='urn:{{x}}' p:b='{{1}}'><p:c>{{t}}</p:c></a>",
            "<a xmlns:p='urn:{x}' p:b='{1}'><p:c>{t}</p:c></a>",
        )
        .unwrap();
        relaxed(
            "<a xmlns:p='urn:{{x}}' p:b='1'/>",
            "<a xmlns:p='urn:{x}' p:b='1' c='2'/>",
        )
        .unwrap();
        let d = exact(
            "<a xmlns:p='urn:{{x}}' p:b='1'/>",
            "<a xmlns:p='urn:x' p:b='1'/>",
        )
        .unwrap_err();
        assert_eq!(
            d.to_string(),
            "at a/@{urn:{{x}}}b: expected attribute {urn:{{x}}}b=\"1\", got no such attribute"
        );
    }

    #[test]
    fn stream_headers_compare_their_default_namespace() {
        let h = |ns: &str| {
            format!("<stream:stream {ns} xmlns:stream='http://etherx.jabber.org/streams' id='x'>")
        };
        let run = |e: &str, a: &str| {
            let mut caps = Captures::new();
            let e = parse_fragment(e, &mut NsContext::new()).unwrap();
            let a = parse_fragment(a, &mut NsContext::new()).unwrap();
            match_items(&e, &a, MatchMode::Exact, &mut caps)
        };
        run(&h("xmlns='jabber:client'"), &h("xmlns='jabber:client'")).unwrap();
        run(&h("xmlns='{*}'"), &h("xmlns='jabber:server'")).unwrap();
        let d = run(&h("xmlns='jabber:client'"), &h("xmlns='jabber:server'")).unwrap_err();
        assert!(d.detail.contains("default namespace"), "{d}");
        assert!(run(&h(""), &h("xmlns='jabber:client'")).is_err());
        assert!(run(&h("xmlns='{*}'"), &h("")).is_err());
    }

    #[test]
    fn relaxed_allows_extras_and_any_order_inside_first_level_elements() {
        let e = "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>\
                 <mechanism>PLAIN</mechanism></mechanisms>\
                 <starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></stream:features>";
        let a = "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls>\
                 <sm xmlns='urn:xmpp:sm:3'/>\
                 <mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl' extra='1'>\
                 <mechanism>SCRAM-SHA-1</mechanism><mechanism>PLAIN</mechanism></mechanisms>\
                 </stream:features>";
        relaxed(e, a).unwrap();
        assert!(exact(e, a).is_err());
    }

    /// Compares two stream headers (and whatever follows them), each parsed in a fresh
    /// namespace context, as two sides of a `core` step that opens a stream.
    fn headers(mode: MatchMode, expected: &str, actual: &str) -> Result<Captures, Difference> {
        let mut caps = Captures::new();
        let e = parse_fragment(expected, &mut NsContext::new()).unwrap();
        let a = parse_fragment(actual, &mut NsContext::new()).unwrap();
        match_items(&e, &a, mode, &mut caps).map(|()| caps)
    }

    const BARE_HEADER: &str = "<stream:stream xmlns='jabber:client' \
        xmlns:stream='http://etherx.jabber.org/streams'>";
    const FULL_HEADER: &str = "<stream:stream xmlns='jabber:client' \
        xmlns:stream='http://etherx.jabber.org/streams' xml:lang='en' \
        from='im.example.com' to='juliet@im.example.com' id='s1' version='1.0'>";

    #[test]
    fn relaxed_accepts_extra_header_attributes() {
        headers(MatchMode::Relaxed, BARE_HEADER, FULL_HEADER).unwrap();
        // What the vector writes is still matched, placeholders included.
        let caps = headers(
            MatchMode::Relaxed,
            "<stream:stream xmlns='jabber:client' \
             xmlns:stream='http://etherx.jabber.org/streams' id='{sid}' version='1.0'>",
            FULL_HEADER,
        )
        .unwrap();
        assert_eq!(caps.get("sid").unwrap(), "s1");
        // Followed by features in the same step, extra attributes on the header alone.
        headers(
            MatchMode::Relaxed,
            &format!("{BARE_HEADER}<stream:features/>"),
            &format!("{FULL_HEADER}<stream:features/>"),
        )
        .unwrap();
    }

    #[test]
    fn strict_still_rejects_an_extra_header_attribute() {
        let d = headers(
            MatchMode::Exact,
            BARE_HEADER,
            "<stream:stream xmlns='jabber:client' \
             xmlns:stream='http://etherx.jabber.org/streams' xml:lang='en'>",
        )
        .unwrap_err();
        assert_eq!(
            d.to_string(),
            "at stream: unexpected attribute xml:lang=\"en\""
        );
        let d = headers(MatchMode::Exact, BARE_HEADER, FULL_HEADER).unwrap_err();
        assert!(d.detail.starts_with("unexpected attribute "), "{d}");
    }

    #[test]
    fn relaxed_header_attributes_written_must_be_there_with_their_value() {
        let d = headers(
            MatchMode::Relaxed,
            "<stream:stream xmlns='jabber:client' \
             xmlns:stream='http://etherx.jabber.org/streams' version='1.0' to='im.example.com'>",
            "<stream:stream xmlns='jabber:client' \
             xmlns:stream='http://etherx.jabber.org/streams' version='1.0' xml:lang='en'>",
        )
        .unwrap_err();
        assert_eq!(
            d.to_string(),
            "at stream/@to: expected attribute to=\"im.example.com\", got no such attribute"
        );
        let d = headers(
            MatchMode::Relaxed,
            "<stream:stream xmlns='jabber:client' \
             xmlns:stream='http://etherx.jabber.org/streams' xml:lang='fr'>",
            FULL_HEADER,
        )
        .unwrap_err();
        assert_eq!(
            d.to_string(),
            "at stream/@xml:lang: expected \"fr\", got \"en\""
        );
        // The content namespace is no attribute: still compared.
        let d = headers(
            MatchMode::Relaxed,
            "<stream:stream xmlns='jabber:server' \
             xmlns:stream='http://etherx.jabber.org/streams'>",
            FULL_HEADER,
        )
        .unwrap_err();
        assert!(d.detail.contains("default namespace"), "{d}");
    }

    #[test]
    fn relaxed_accepts_extra_attributes_on_first_level_elements() {
        // A reply's 'from', which the core may stamp or leave out.
        let e = "<iq type='result' id='b1'/>";
        let a = "<iq type='result' id='b1' from='im.example.com'/>";
        relaxed(e, a).unwrap();
        let d = exact(e, a).unwrap_err();
        assert_eq!(
            d.to_string(),
            "at iq: unexpected attribute from=\"im.example.com\""
        );
        relaxed("<message/>", "<message to='a' id='1' xml:lang='en'/>").unwrap();
    }

    #[test]
    fn relaxed_accepts_nested_extra_attributes_and_children() {
        relaxed(
            "<message type='error' id='m1'><error><jid-malformed \
             xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>",
            "<message type='error' id='m1' from='@im.example.com'><error type='modify' by='x'>\
             <jid-malformed xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>\
             <text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>no</text></error></message>",
        )
        .unwrap();
        relaxed("<a><b x='1'/></a>", "<a><b x='1' y='2'><c/></b></a>").unwrap();
    }

    #[test]
    fn relaxed_accepts_reordered_siblings_inside_a_first_level_element() {
        let e = "<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>\
                 <session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></stream:features>";
        let a = "<stream:features><session xmlns='urn:ietf:params:xml:ns:xmpp-session'>\
                 <optional/></session><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>\
                 </stream:features>";
        relaxed(e, a).unwrap();
        assert_eq!(exact(e, a).unwrap_err().path, "features/bind");
        // Deeper too.
        relaxed("<a><b><c/><d/></b></a>", "<a><b><d/><c/></b></a>").unwrap();
    }

    #[test]
    fn relaxed_keeps_the_top_level_sequence_exact() {
        let d = relaxed("<a/>", "<a/><b/>").unwrap_err();
        assert_eq!(d.to_string(), "at #2: unexpected element <b>");
        let d = relaxed("<a/><b/>", "<a/>").unwrap_err();
        assert_eq!(d.to_string(), "at #2: expected element <b>, got nothing");
        let d = relaxed("<a/><b/>", "<b/><a/>").unwrap_err();
        assert_eq!(
            d.to_string(),
            "at a: expected element {jabber:client}a, got {jabber:client}b"
        );
        let d = relaxed("<a/>", "<a/>x").unwrap_err();
        assert_eq!(d.to_string(), "at #2: unexpected text \"x\"");
        // A header followed by an element the vector does not write.
        let d = headers(
            MatchMode::Relaxed,
            BARE_HEADER,
            &format!("{FULL_HEADER}<stream:features/>"),
        )
        .unwrap_err();
        assert_eq!(d.to_string(), "at #2: unexpected element <features>");
        // A first-level element never matches one nested deeper in the core's output.
        assert!(relaxed("<b/>", "<a><b/></a>").is_err());
    }

    #[test]
    fn relaxed_attributes_written_must_be_there_with_their_value() {
        let d = relaxed("<message to='a' type='chat'/>", "<message to='a' id='1'/>").unwrap_err();
        assert_eq!(
            d.to_string(),
            "at message/@type: expected attribute type=\"chat\", got no such attribute"
        );
        let d = relaxed(
            "<message to='a' type='chat'/>",
            "<message to='a' type='normal'/>",
        )
        .unwrap_err();
        assert_eq!(
            d.to_string(),
            "at message/@type: expected \"chat\", got \"normal\""
        );
        // Inside, likewise.
        let d = relaxed("<a><b x='1'/></a>", "<a><b y='2'/></a>").unwrap_err();
        assert_eq!(d.path, "a/b/@x");
    }

    #[test]
    fn relaxed_text_is_exact_and_the_core_adds_none() {
        relaxed("<a><b>t</b></a>", "<a><b>t</b><c>extra</c></a>").unwrap();
        let d = relaxed("<a><b/></a>", "<a><b>t</b></a>").unwrap_err();
        assert_eq!(d.to_string(), "at a/b: unexpected text \"t\"");
        let d = relaxed("<a><b>t</b></a>", "<a><b>u</b></a>").unwrap_err();
        assert_eq!(d.to_string(), "at a/b: expected text \"t\", got \"u\"");
        assert!(relaxed("<a>x</a>", "<a>x<b/></a>").is_ok());
        assert!(relaxed("<a/>", "<a>x</a>").is_err());
    }

    #[test]
    fn relaxed_matching_backtracks_over_captures() {
        // The first <item> would capture n=1 and then leave no partner for {n}-tagged <ref>.
        let caps = relaxed(
            "<a><item n='{n}'/><ref to='{n}'/></a>",
            "<a><item n='1'/><item n='2'/><ref to='2'/></a>",
        )
        .unwrap();
        assert_eq!(caps.get("n").unwrap(), "2");
        let d = relaxed("<a><b/><b/></a>", "<a><b/></a>").unwrap_err();
        assert!(d.detail.contains("not all at once"), "{d}");
        let d = relaxed("<a><c/></a>", "<a><b/></a>").unwrap_err();
        assert_eq!(
            d.to_string(),
            "at a: expected a child element {jabber:client}c, got none"
        );
    }

    #[test]
    fn open_and_close_items_match_as_fragments() {
        let e = parse_fragment(C, &mut NsContext::new()).unwrap();
        let a = parse_fragment(
            "<?xml version='1.0'?><s:stream xmlns:s='http://etherx.jabber.org/streams' xmlns='jabber:client'>",
            &mut NsContext::new(),
        )
        .unwrap();
        match_items(&e, &a, MatchMode::Exact, &mut Captures::new()).unwrap();
        exact("</stream:stream>", "</stream:stream>").unwrap();
        let d = exact("</stream:stream>", "<message/>").unwrap_err();
        assert_eq!(
            d.to_string(),
            "at #1: expected end tag </stream>, got element <message>"
        );
    }
}
