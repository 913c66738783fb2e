//! The parser under input a peer shapes to make it work hard or hold much: many attributes,
//! long namespace scopes, decoded namespace names, dense markup. Each case checks the answer
//! (the tree, or the first fault with its RFC 6120 condition) fed whole and byte by byte;
//! what such input costs in time and memory is measured by `benches/benches/hostile*.rs`.

use xmpp_sansio::error::StreamErrorCondition as C;
use xmpp_sansio::xml::{ElementRef, ErrorKind as K, Event, Limit, Limits, StreamParser};

const H: &str = "<stream:stream xmlns='jabber:client' \
    xmlns:stream='http://etherx.jabber.org/streams' to='example.com' version='1.0'>";

/// Every element and the first error, fed whole, byte by byte and in 7-byte pieces, which
/// must agree.
fn parse(limits: Limits, input: &[u8]) -> (Vec<xmpp_sansio::xml::Element>, Option<(K, C, u64)>) {
    let run = |size: usize| {
        let mut p = StreamParser::new(limits);
        let mut elements = Vec::new();
        let mut err = None;
        for chunk in input.chunks(size) {
            let r = p.handle_input(chunk);
            while let Some(e) = p.poll_event() {
                if let Event::Element(el) = e {
                    elements.push(el);
                }
            }
            if let Err(e) = r {
                err = Some((e.kind(), e.condition(), e.offset()));
                break;
            }
        }
        (elements, err)
    };
    let whole = run(input.len().max(1));
    for size in [1, 7] {
        let cut = run(size);
        assert_eq!(cut.1, whole.1, "error fed in {size}-byte pieces");
        assert_eq!(cut.0, whole.0, "elements fed in {size}-byte pieces");
    }
    whole
}

fn stream(body: &str) -> Vec<u8> {
    format!("{H}{body}").into_bytes()
}

fn at(body_offset: usize) -> u64 {
    (H.len() + body_offset) as u64
}

#[test]
fn a_duplicate_attribute_is_reported_before_the_attribute_limit() {
    // 65 copies: the second copy is the first fault, not the 65th attribute.
    let body = format!("<message{}/>", " a='v'".repeat(65));
    let (_, err) = parse(Limits::default(), &stream(&body));
    assert_eq!(err, Some((K::DuplicateAttribute, C::NotWellFormed, at(15))));
    // Distinct names: the limit it is.
    let body: String = (0..65).map(|i| format!(" a{i}='v'")).collect();
    let (_, err) = parse(Limits::default(), &stream(&format!("<message{body}/>")));
    assert_eq!(err.map(|e| e.0), Some(K::LimitExceeded(Limit::Attributes)));
}

#[test]
fn names_alike_in_their_first_eight_bytes_are_compared_whole() {
    // The scanner filters names by their length and first eight bytes before comparing
    // them: names that share those must still be told apart, and every repeat found.
    let cases: [(&[&str], Option<usize>); 5] = [
        (&["abcdefgh1", "abcdefgh2", "abcdefgh", "abcdefg"], None),
        (&["abcdefgh1", "abcdefgh2", "abcdefgh1"], Some(2)),
        (&["to", "id", "from", "type", "xml:lang", "id"], Some(5)),
        (&["a", "b", "ab", "ba", "aa", "bb", "a"], Some(6)),
        (&["longattributename", "longattributenamf", "shorter"], None),
    ];
    for (names, dup) in cases {
        let mut body = String::from("<m");
        let mut offsets = Vec::new();
        for name in names {
            offsets.push(body.len() + 1);
            body.push_str(&format!(" {name}='v'"));
        }
        body.push_str("/>");
        let (elements, err) = parse(Limits::default(), &stream(&body));
        match dup {
            Some(k) => assert_eq!(
                err,
                Some((K::DuplicateAttribute, C::NotWellFormed, at(offsets[k]))),
                "{names:?}"
            ),
            None => {
                assert_eq!(err, None, "{names:?}");
                assert_eq!(elements[0].root().attrs().count(), names.len());
            }
        }
    }
}

#[test]
fn a_duplicate_among_many_attributes_is_found_at_its_name() {
    let limits = {
        let mut l = Limits::default();
        l.max_attributes = 1000;
        l
    };
    for value in ["v", "a&amp;b"] {
        let mut body = String::from("<m");
        for i in 0..300 {
            body.push_str(&format!(" a{i}='{value}'"));
        }
        let dup_at = body.len() + 1;
        let bad = format!("{body} a123='{value}' a7='x'/>");
        let (_, err) = parse(limits, &stream(&bad));
        assert_eq!(
            err,
            Some((K::DuplicateAttribute, C::NotWellFormed, at(dup_at))),
            "values {value:?}"
        );
        // Without the copy, every attribute is there.
        let ok = format!("{body} b123='{value}'/>");
        let (elements, err) = parse(limits, &stream(&ok));
        assert_eq!(err, None);
        assert_eq!(elements[0].root().attrs().count(), 301);
    }
}

#[test]
fn expanded_names_are_unique_among_many_prefixed_attributes() {
    let limits = {
        let mut l = Limits::default();
        l.max_attributes = 1000;
        l
    };
    let mut body = String::from("<m xmlns:p='urn:x' xmlns:q='urn:x'");
    for i in 0..40 {
        body.push_str(&format!(" p:a{i}='' a{i}=''"));
    }
    let ok = format!("{body}/>");
    let (elements, err) = parse(limits, &stream(&ok));
    assert_eq!(
        err, None,
        "a local name with and without a namespace differ"
    );
    assert_eq!(
        elements[0].root().attr_ns("urn:x", "a39").as_deref(),
        Some("")
    );
    // q:a17 is p:a17: both are {urn:x}a17.
    let dup_at = body.len() + 1;
    let bad = format!("{body} q:a17=''/>");
    let (_, err) = parse(limits, &stream(&bad));
    assert_eq!(
        err,
        Some((K::DuplicateAttribute, C::NotWellFormed, at(dup_at)))
    );
}

/// The namespace of every element of `el`'s subtree, in document order.
fn namespaces<'a>(el: ElementRef<'a>, out: &mut Vec<(String, String)>) {
    out.push((el.qname().to_owned(), el.ns().to_owned()));
    for child in el.children() {
        namespaces(child, out);
    }
}

#[test]
fn a_long_scope_resolves_as_a_short_one_would() {
    // 30 levels, each declaring 40 prefixes (some shadowing outer ones) and switching the
    // default namespace every other level; inside each level, prefixed and unprefixed
    // children, and after each level closes, siblings that must see the outer bindings.
    let limits = {
        let mut l = Limits::default();
        l.max_attributes = 100;
        l
    };
    let depth = 30;
    let mut body = String::from("<root>");
    let mut expected = vec![("root".to_owned(), "jabber:client".to_owned())];
    let mut tail = Vec::new();
    let default_at = |level: usize| {
        (0..=level)
            .rev()
            .find(|l| l % 2 == 0)
            .map_or("jabber:client".to_owned(), |l| format!("urn:d{l}"))
    };
    // prefix pK at level L is bound to urn:L:K; prefixes p0..p9 are redeclared at every
    // level, p10+L only at level L.
    let binding = |level: usize, k: usize| -> String {
        if k < 10 {
            format!("urn:{level}:{k}")
        } else {
            format!("urn:{}:{k}", k - 10)
        }
    };
    for level in 0..depth {
        body.push_str("<e");
        if level % 2 == 0 {
            body.push_str(&format!(" xmlns='urn:d{level}'"));
        }
        for k in 0..10 {
            body.push_str(&format!(" xmlns:p{k}='{}'", binding(level, k)));
        }
        for k in 0..30 {
            let k = 10 + k;
            if k - 10 == level {
                body.push_str(&format!(" xmlns:p{k}='{}'", binding(level, k)));
            }
        }
        body.push('>');
        expected.push(("e".to_owned(), default_at(level)));
        // p3 from this level, p10 from level 0, an unprefixed child.
        body.push_str("<p3:x/><p10:y/><z/>");
        expected.push(("p3:x".to_owned(), binding(level, 3)));
        expected.push(("p10:y".to_owned(), binding(0, 10)));
        expected.push(("z".to_owned(), default_at(level)));
        tail.push(level);
    }
    for level in tail.into_iter().rev() {
        body.push_str("</e>");
        // A sibling after the level closed sees the enclosing level's bindings.
        if level > 0 {
            body.push_str("<p4:after/><plain/>");
        }
    }
    body.push_str("</root>");
    // The siblings after each close come in document order after all the levels: fill in
    // their expectations the same way.
    for level in (1..depth).rev() {
        let outer = level - 1;
        expected.push(("p4:after".to_owned(), binding(outer, 4)));
        expected.push(("plain".to_owned(), default_at(outer)));
    }
    let (elements, err) = parse(limits, &stream(&body));
    assert_eq!(err, None);
    let mut got = Vec::new();
    namespaces(elements[0].root(), &mut got);
    // Compare as multisets of per-name sequences: document order differs from the
    // expectation order only for the trailing siblings, which are listed level by level.
    let key = |v: &[(String, String)]| {
        let mut v = v.to_vec();
        v.sort();
        v
    };
    assert_eq!(key(&got), key(&expected));
    assert_eq!(got.len(), expected.len());

    // An unbound prefix far down such a scope is still unbound.
    let bad = body.replacen("<p3:x/>", "<p99:x/>", 1);
    let (_, err) = parse(limits, &stream(&bad));
    assert_eq!(
        err.map(|e| (e.0, e.1)),
        Some((K::UnboundPrefix, C::NotWellFormed))
    );
}

#[test]
fn a_header_with_many_declarations_binds_them_all() {
    let mut header = String::from(
        "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'",
    );
    for k in 0..40 {
        header.push_str(&format!(" xmlns:h{k}='urn:h:{k}'"));
    }
    header.push('>');
    let limits = {
        let mut l = Limits::default();
        l.max_attributes = 100;
        l
    };
    let body = "<message><h39:a/><h0:b/><h17:c h17:at='1'/></message>";
    let mut input = header.clone().into_bytes();
    input.extend_from_slice(body.as_bytes());
    let (elements, err) = parse(limits, &input);
    assert_eq!(err, None);
    let mut got = Vec::new();
    namespaces(elements[0].root(), &mut got);
    assert_eq!(
        got,
        [
            ("message", "jabber:client"),
            ("h39:a", "urn:h:39"),
            ("h0:b", "urn:h:0"),
            ("h17:c", "urn:h:17"),
        ]
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
    );
    let c = elements[0].root().children().nth(2).unwrap();
    assert_eq!(c.attr_ns("urn:h:17", "at").as_deref(), Some("1"));
}

#[test]
fn decoded_namespace_names_are_each_their_own() {
    // Each sibling declares a prefix whose name needs decoding, and uses it.
    let body: String = (0..200)
        .map(|i| format!("<q:b xmlns:q='u&amp;{i}'/>"))
        .collect();
    let (elements, err) = parse(
        Limits::default(),
        &stream(&format!("<message>{body}</message>")),
    );
    assert_eq!(err, None);
    for (i, child) in elements[0].root().children().enumerate() {
        assert_eq!(child.ns(), format!("u&{i}"));
    }
}

#[test]
fn an_element_whose_tree_exceeds_the_limit_is_a_policy_violation() {
    let limits = {
        let mut l = Limits::default();
        l.max_tree_bytes = 3200;
        l
    };
    // <m> and 99 children fit (32 bytes each); the 100th child is one too many, at its "<".
    let fits = format!("<m>{}</m>", "<b/>".repeat(99));
    let (elements, err) = parse(limits, &stream(&fits));
    assert_eq!((elements.len(), err), (1, None));
    let over = format!("<m>{}</m>", "<b/>".repeat(100));
    let (_, err) = parse(limits, &stream(&over));
    assert_eq!(
        err,
        Some((
            K::LimitExceeded(Limit::TreeBytes),
            C::PolicyViolation,
            at(3 + 99 * 4)
        ))
    );
    // Text runs and attributes count too: x<b/> is two records.
    let (_, err) = parse(limits, &stream(&format!("<m>{}", "x<b/>".repeat(60))));
    assert_eq!(err.map(|e| e.0), Some(K::LimitExceeded(Limit::TreeBytes)));
    let (_, err) = parse(
        limits,
        &stream(&format!("<m>{}", "<b c='' d=''/>".repeat(40))),
    );
    assert_eq!(err.map(|e| e.0), Some(K::LimitExceeded(Limit::TreeBytes)));
    // The limit is per element: the next element starts afresh.
    let two = format!("<m>{0}</m><m>{0}</m>", "<b/>".repeat(99));
    let (elements, err) = parse(limits, &stream(&two));
    assert_eq!((elements.len(), err), (2, None));
}

#[test]
fn a_failed_parser_keeps_refusing_and_holds_no_unit() {
    let limits = {
        let mut l = Limits::default();
        l.max_tree_bytes = 1600;
        l
    };
    let mut p = StreamParser::new(limits);
    let input = stream(&format!("<m>{}", "<b/>".repeat(100)));
    let e = p.handle_input(&input).unwrap_err();
    assert_eq!(e.kind(), K::LimitExceeded(Limit::TreeBytes));
    assert_eq!(p.buffered(), 0);
    assert_eq!(p.handle_input(b"<m/>"), Err(e));
}

#[test]
fn new_limits_apply_from_the_next_unit() {
    let tight = {
        let mut l = Limits::default();
        l.max_element_bytes = 100;
        l
    };
    let big = format!("<m>{}</m>", "x".repeat(200));
    // Between units: the next element is held to the new limits.
    let mut p = StreamParser::new(tight);
    p.handle_input(H.as_bytes()).unwrap();
    p.set_limits(Limits::default());
    p.handle_input(big.as_bytes()).unwrap();
    assert!(matches!(p.poll_event(), Some(Event::StreamOpened(_))));
    assert!(matches!(p.poll_event(), Some(Event::Element(_))));
    // Inside a unit: the unit keeps the limits it began with, wherever the input was cut.
    for cut in [1, 50, 99] {
        let mut p = StreamParser::new(tight);
        p.handle_input(H.as_bytes()).unwrap();
        p.handle_input(&big.as_bytes()[..cut]).unwrap();
        p.set_limits(Limits::default());
        let e = p.handle_input(&big.as_bytes()[cut..]).unwrap_err();
        assert_eq!(
            e.kind(),
            K::LimitExceeded(Limit::ElementBytes),
            "cut at {cut}"
        );
    }
}
