//! Hand-written inputs for the stream parser: one test per error class with its RFC 6120
//! condition and offset, and insta snapshots of the event sequences of a few dozen streams.

use xmpp_sansio::error::StreamErrorCondition as C;
use xmpp_sansio::xml::{ErrorKind as K, Event, Limit, Limits, StreamParser, Utf8Fault};

const H: &str = "<stream:stream xmlns='jabber:client' \
    xmlns:stream='http://etherx.jabber.org/streams' to='example.com' version='1.0'>";

/// Renders every event and the error, fed whole; asserts that byte-by-byte feeding gives
/// the same rendering.
fn render_with(limits: Limits, input: &[u8]) -> String {
    let run = |chunks: &mut dyn Iterator<Item = &[u8]>| {
        let mut p = StreamParser::new(limits);
        let mut out = String::new();
        let mut err = None;
        for c in chunks {
            let r = p.handle_input(c);
            while let Some(e) = p.poll_event() {
                match e {
                    Event::StreamOpened(h) => out.push_str(&format!("stream-opened {h}\n")),
                    Event::Element(e) => out.push_str(&format!("element {e}\n")),
                    Event::StreamClosed => out.push_str("stream-closed\n"),
                }
            }
            if let Err(e) = r {
                err = Some(e);
                break;
            }
        }
        if err.is_none() {
            err = p.handle_eof().err();
        }
        if let Some(e) = err {
            out.push_str(&format!("error {}: {e}\n", e.condition()));
        }
        out
    };
    let whole = run(&mut std::iter::once(input));
    let bytes = run(&mut input.chunks(1));
    assert_eq!(
        whole,
        bytes,
        "byte-by-byte feeding differs for {:?}",
        String::from_utf8_lossy(input)
    );
    whole
}

fn render(input: &[u8]) -> String {
    render_with(Limits::default(), input)
}

fn stream(body: &str) -> Vec<u8> {
    format!("{H}{body}").into_bytes()
}

/// A stream with `body` that is closed properly.
fn closed(body: &str) -> Vec<u8> {
    format!("{H}{body}</stream:stream>").into_bytes()
}

fn first_error(limits: Limits, input: &[u8]) -> (K, C, u64) {
    let mut p = StreamParser::new(limits);
    let e = p
        .handle_input(input)
        .and_then(|_| p.handle_eof())
        .expect_err("input must fail");
    // Refused with the same error from then on.
    assert_eq!(p.handle_input(b" "), Err(e));
    (e.kind(), e.condition(), e.offset())
}

fn err(input: &[u8]) -> (K, C, u64) {
    first_error(Limits::default(), input)
}

/// Offset of the body inside `stream(body)`.
fn at(n: usize) -> u64 {
    (H.len() + n) as u64
}

#[test]
fn restricted_xml_is_refused() {
    assert_eq!(
        err(&stream("<a><!-- x --></a>")),
        (K::Comment, C::RestrictedXml, at(3))
    );
    assert_eq!(err(b"<!-- before -->"), (K::Comment, C::RestrictedXml, 0));
    assert_eq!(
        err(&stream("<?pi x?>")),
        (K::ProcessingInstruction, C::RestrictedXml, at(0))
    );
    assert_eq!(
        err(&stream("<?xml version='1.0'?>")),
        (K::ProcessingInstruction, C::RestrictedXml, at(0))
    );
    assert_eq!(
        err(b" <?xml version='1.0'?>"),
        (K::ProcessingInstruction, C::RestrictedXml, 1)
    );
    assert_eq!(err(b"<!DOCTYPE stream>"), (K::Doctype, C::RestrictedXml, 0));
    assert_eq!(
        err(&stream("<a>&nbsp;</a>")),
        (K::EntityReference, C::RestrictedXml, at(3))
    );
    assert_eq!(
        err(&stream("<a b='&foo;'/>")),
        (K::EntityReference, C::RestrictedXml, at(6))
    );
}

#[test]
fn characters_xml_forbids_are_not_well_formed() {
    assert_eq!(
        err(&stream("<a>\0</a>")),
        (K::IllegalChar(0), C::NotWellFormed, at(3))
    );
    assert_eq!(
        err(&stream("<a>\x0b</a>")),
        (K::IllegalChar(0xB), C::NotWellFormed, at(3))
    );
    assert_eq!(
        err(&stream("<a>\u{FFFE}</a>")),
        (K::IllegalChar(0xFFFE), C::NotWellFormed, at(3))
    );
    assert_eq!(
        err(&stream("<a>&#0;</a>")),
        (K::IllegalCharRef(0), C::NotWellFormed, at(3))
    );
    assert_eq!(
        err(&stream("<a>&#xD800;</a>")),
        (K::IllegalCharRef(0xD800), C::NotWellFormed, at(3))
    );
    assert_eq!(
        err(&stream("<a>&#x110000;</a>")),
        (K::IllegalCharRef(0x110000), C::NotWellFormed, at(3))
    );
    assert_eq!(
        err(&stream("<a x='&#xFFFF;'/>")),
        (K::IllegalCharRef(0xFFFF), C::NotWellFormed, at(6))
    );
}

#[test]
fn malformed_references_are_not_well_formed() {
    for body in [
        "<a>& b</a>",
        "<a>&#;</a>",
        "<a>&#xZZ;</a>",
        "<a>&amp </a>",
        "<a>&#X41;</a>",
    ] {
        assert_eq!(
            err(&stream(body)),
            (K::MalformedReference, C::NotWellFormed, at(3)),
            "{body}"
        );
    }
}

#[test]
fn bad_utf8_is_unsupported_encoding_at_the_first_byte_of_the_character() {
    let mut s = stream("<a>");
    let n = s.len() as u64;
    for (bytes, fault) in [
        (&[0xC0, 0x80][..], Utf8Fault::Overlong),
        (&[0xE0, 0x80, 0x80], Utf8Fault::Overlong),
        (&[0xED, 0xA0, 0x80], Utf8Fault::Surrogate),
        (&[0xE2, 0x82, b'x'], Utf8Fault::Truncated),
        (&[0xF5, 0x80, 0x80, 0x80], Utf8Fault::InvalidByte(0xF5)),
        (&[0x80], Utf8Fault::InvalidByte(0x80)),
    ] {
        let mut input = s.clone();
        input.extend_from_slice(bytes);
        input.extend_from_slice(b"</a>");
        assert_eq!(
            err(&input),
            (K::InvalidUtf8(fault), C::UnsupportedEncoding, n),
            "{bytes:x?}"
        );
    }
    // Between stanzas, after the closing tag, and at the end of input too: a character
    // cut by a read waits for its other bytes before the fault is named.
    for (tail, fault) in [
        (&b"\xc0\x80"[..], Utf8Fault::Overlong),
        (b"</stream:stream>\xff", Utf8Fault::InvalidByte(0xFF)),
    ] {
        let mut input = stream("");
        let at = input.len() as u64 + if tail.len() > 2 { 16 } else { 0 };
        input.extend_from_slice(tail);
        assert_eq!(
            err(&input),
            (K::InvalidUtf8(fault), C::UnsupportedEncoding, at)
        );
    }
    let mut p = StreamParser::default();
    let mut input = stream("<a>\u{e9}</a>");
    input.extend_from_slice(b"\xe2\x82");
    p.handle_input(&input).unwrap();
    let e = p.handle_eof().unwrap_err();
    assert_eq!(e.kind(), K::InvalidUtf8(Utf8Fault::Truncated));
    assert_eq!(e.condition(), C::UnsupportedEncoding);
    assert_eq!(e.offset(), input.len() as u64 - 2);
    // A correctly encoded character where text may not stand is a markup fault.
    let mut p = StreamParser::default();
    let mut input = stream("");
    input.push(0xE2);
    p.handle_input(&input).unwrap();
    let e = p.handle_input(b"\x82\xac").unwrap_err();
    assert_eq!(
        (e.kind(), e.condition()),
        (K::TextAtStreamLevel, C::NotWellFormed)
    );
    assert_eq!(e.offset(), input.len() as u64 - 1);
    // Bad UTF-8 in a name or an attribute value, too.
    s.truncate(H.len());
    s.extend_from_slice(b"<a x='\xff'/>");
    assert_eq!(err(&s).0, K::InvalidUtf8(Utf8Fault::InvalidByte(0xFF)));
}

#[test]
fn markup_errors_are_not_well_formed() {
    assert_eq!(
        err(&stream("<a></b>")),
        (K::MismatchedEndTag, C::NotWellFormed, at(3))
    );
    assert_eq!(
        err(&stream("<p:a xmlns:p='u'></a>")),
        (K::MismatchedEndTag, C::NotWellFormed, at(17))
    );
    assert_eq!(
        err(&stream("</stream>")),
        (K::MismatchedEndTag, C::NotWellFormed, at(0))
    );
    assert_eq!(
        err(b"</stream:stream>"),
        (K::EndTagBeforeHeader, C::NotWellFormed, 0)
    );
    assert_eq!(
        err(&stream("<a x='1' x='2'/>")),
        (K::DuplicateAttribute, C::NotWellFormed, at(9))
    );
    assert_eq!(
        err(&stream("<a xmlns:p='u' xmlns:q='u' p:x='1' q:x='2'/>")),
        (K::DuplicateAttribute, C::NotWellFormed, at(35))
    );
    assert_eq!(
        err(&stream("<p:a/>")),
        (K::UnboundPrefix, C::NotWellFormed, at(1))
    );
    assert_eq!(
        err(&stream("<a p:x='1'/>")),
        (K::UnboundPrefix, C::NotWellFormed, at(3))
    );
    assert_eq!(
        err(&stream("<a x='<'/>")),
        (K::LtInAttributeValue, C::NotWellFormed, at(6))
    );
    assert_eq!(
        err(&stream("<a>]]></a>")),
        (K::CdataEndInText, C::NotWellFormed, at(3))
    );
    assert_eq!(
        err(&stream("<a x='1'y='2'/>")),
        (K::UnexpectedByte(b'y'), C::NotWellFormed, at(8))
    );
    assert_eq!(
        err(&stream("<1a/>")),
        (K::InvalidName, C::NotWellFormed, at(1))
    );
    assert_eq!(
        err(&stream("<a:b:c xmlns:a='u'/>")),
        (K::InvalidName, C::NotWellFormed, at(1))
    );
    assert_eq!(
        err(&stream("hello")),
        (K::TextAtStreamLevel, C::NotWellFormed, at(0))
    );
    assert_eq!(
        err(&stream("<![CDATA[x]]>")),
        (K::TextAtStreamLevel, C::NotWellFormed, at(0))
    );
    assert_eq!(
        err(&stream("</stream:stream> x")),
        (K::ContentAfterClose, C::NotWellFormed, at(17))
    );
    assert_eq!(
        err(&stream("<a>")),
        (K::UnexpectedEof, C::NotWellFormed, at(3))
    );
    assert_eq!(
        err(H.as_bytes()),
        (K::UnexpectedEof, C::NotWellFormed, at(0))
    );
}

#[test]
fn reserved_namespaces_are_protected() {
    for body in [
        "<a xmlns:xml='urn:other'/>",
        "<a xmlns:p='http://www.w3.org/XML/1998/namespace'/>",
        "<a xmlns:xmlns='urn:x'/>",
        "<a xmlns:p=''/>",
        "<a xmlns='http://www.w3.org/2000/xmlns/'/>",
    ] {
        assert_eq!(
            err(&stream(body)),
            (K::ReservedNamespace, C::NotWellFormed, at(3)),
            "{body}"
        );
    }
    // Binding xml to its own namespace is allowed.
    assert!(
        render(&stream(
            "<a xmlns:xml='http://www.w3.org/XML/1998/namespace'/>"
        ))
        .contains("element")
    );
}

#[test]
fn stream_header_errors_carry_their_own_conditions() {
    assert_eq!(
        err(b"<stream xmlns='jabber:client'>"),
        (K::NotAStreamHeader, C::InvalidNamespace, 0)
    );
    assert_eq!(
        err(b"<stream:features xmlns:stream='http://etherx.jabber.org/streams'>"),
        (K::NotAStreamHeader, C::InvalidNamespace, 0)
    );
    assert_eq!(
        err(b"<stream:stream xmlns='jabber:client'>"),
        (K::UnboundStreamPrefix, C::BadNamespacePrefix, 1)
    );
    assert_eq!(
        err(b"<?xml version='1.0' encoding='ISO-8859-1'?>"),
        (K::UnsupportedEncoding, C::UnsupportedEncoding, 30)
    );
    assert_eq!(
        err(b"<?xml encoding='UTF-8'?>"),
        (K::MalformedXmlDeclaration, C::NotWellFormed, 16)
    );
}

#[test]
fn each_limit_is_a_policy_violation_just_past_it() {
    let n = H.len();
    let small = {
        let mut l = Limits::default();
        l.max_element_bytes = n;
        l
    };
    let exact = format!("<a>{}</a>", "x".repeat(n - 7));
    let over = format!("<a>{}</a>", "x".repeat(n - 6));
    assert!(
        !render_with(small, &stream(&exact)).contains("policy-violation"),
        "exactly the limit"
    );
    assert_eq!(
        first_error(small, &stream(&over)),
        (
            K::LimitExceeded(Limit::ElementBytes),
            C::PolicyViolation,
            at(n)
        )
    );

    let deep = {
        let mut l = Limits::default();
        l.max_depth = 2;
        l
    };
    assert!(!render_with(deep, &stream("<a><b/></a>")).contains("policy-violation"));
    assert_eq!(
        first_error(deep, &stream("<a><b><c/></b></a>")),
        (K::LimitExceeded(Limit::Depth), C::PolicyViolation, at(6))
    );

    // The header has four attributes, declarations included.
    let attrs = {
        let mut l = Limits::default();
        l.max_attributes = 4;
        l
    };
    assert!(
        !render_with(attrs, &stream("<a x='1' y='2' z='3' xmlns='u'/>"))
            .contains("policy-violation")
    );
    assert_eq!(
        first_error(attrs, &stream("<a v='0' x='1' y='2' z='3' w='4'/>")),
        (
            K::LimitExceeded(Limit::Attributes),
            C::PolicyViolation,
            at(27)
        )
    );

    // The header's longest name is `stream:stream`, 13 bytes.
    let names = {
        let mut l = Limits::default();
        l.max_name_bytes = 14;
        l
    };
    assert!(!render_with(names, &stream("<abcdefghijklmn/>")).contains("policy-violation"));
    assert_eq!(
        first_error(names, &stream("<abcdefghijklmno/>")),
        (
            K::LimitExceeded(Limit::NameBytes),
            C::PolicyViolation,
            at(1)
        )
    );
}

#[test]
fn the_header_has_its_own_limit() {
    let limits = {
        let mut l = Limits::default();
        l.max_header_bytes = H.len();
        l.max_element_bytes = 10;
        l
    };
    assert!(!render_with(limits, &stream("<a>1</a>")).contains("policy-violation"));
    let tight = {
        let mut l = Limits::default();
        l.max_header_bytes = H.len() - 1;
        l
    };
    assert_eq!(
        first_error(tight, H.as_bytes()),
        (
            K::LimitExceeded(Limit::HeaderBytes),
            C::PolicyViolation,
            (H.len() - 1) as u64
        )
    );
}

#[test]
fn a_huge_input_never_grows_the_buffer_past_the_limit() {
    let limits = {
        let mut l = Limits::default();
        l.max_element_bytes = 1000;
        l
    };
    let mut p = StreamParser::new(limits);
    p.handle_input(&stream("<a>")).unwrap();
    let mut result = Ok(());
    for _ in 0..100 {
        result = p.handle_input(&[b'x'; 64]);
        assert!(p.buffered() <= 1000);
        if result.is_err() {
            break;
        }
    }
    assert_eq!(
        result.unwrap_err().kind(),
        K::LimitExceeded(Limit::ElementBytes)
    );
}

#[test]
fn event_sequences() {
    let cases: &[(&str, Vec<u8>)] = &[
        ("full_c2s_stream", stream(
            "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>\
             <message to='juliet@example.com' type='chat' xml:lang='en'><body>Art thou not Romeo?</body></message>\
             <presence><show>away</show><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='n' ver='v'/></presence>\
             <iq type='get' id='1'><query xmlns='http://jabber.org/protocol/disco#info'/></iq></stream:stream>")),
        ("xml_declaration_then_header", b"<?xml version='1.0' encoding='utf-8' standalone='yes'?>\n<stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:server'/>".to_vec()),
        ("other_prefix_for_the_streams_namespace", b"<s:stream xmlns:s='http://etherx.jabber.org/streams' xmlns='jabber:client'><message/></s:stream>".to_vec()),
        ("header_without_default_namespace", b"<stream:stream xmlns:stream='http://etherx.jabber.org/streams'><message/>".to_vec()),
        ("prefix_declared_after_use", closed("<a p:x='1' xmlns:p='urn:p'><p:b/></a>")),
        ("default_namespace_undeclared", closed("<a xmlns='urn:a'><b xmlns=''><c/></b></a>")),
        ("predefined_entities_and_char_refs", closed("<a t='&lt;&gt;&amp;&quot;&apos;'>&lt;&gt;&amp;&quot;&apos; &#9;&#xA;&#xD;&#x20;&#xD7FF;&#xE000;&#xFFFD;&#x10000;&#x10FFFF;</a>")),
        ("cdata_sections", closed("<a><![CDATA[<b>&amp;]]]]><![CDATA[>]]>tail<![CDATA[]]></a>")),
        ("utf8_of_every_length", closed("<é a='€'>😀 ü 中</é>")),
        ("attribute_whitespace_normalized", closed("<a x='1\t2\n3\r\n4&#10;5'/>")),
        ("line_ends_normalized_in_text", closed("<a>1\r\n2\r3\n</a>")),
        ("keepalives_between_stanzas", closed(" \n<a/>\r\n\t <b/>  ")),
        ("self_closing_header", b"<stream:stream xmlns:stream='http://etherx.jabber.org/streams'/>".to_vec()),
        ("error_after_complete_stanzas", stream("<a/><b/><c><!--x--></c>")),
        ("eof_inside_a_stanza", stream("<message><body>cut")),
        ("mismatched_close", stream("<a></a></stream:streams>")),
    ];
    for (name, input) in cases {
        insta::assert_snapshot!(*name, render(input));
    }
}

#[test]
fn the_header_namespaces_are_exposed() {
    let mut p = StreamParser::default();
    p.handle_input(H.as_bytes()).unwrap();
    let decls: Vec<_> = p.header_namespaces().collect();
    assert_eq!(
        decls,
        [
            ("", "jabber:client"),
            ("stream", "http://etherx.jabber.org/streams")
        ]
    );
    assert_eq!(p.content_namespace(), Some("jabber:client"));
    p.reset();
    assert_eq!(p.content_namespace(), None);
}

#[test]
fn partial_input_stops_after_each_event() {
    let input = closed("<a/> <b>x</b><c/>");
    let mut p = StreamParser::default();
    let mut rest = &input[..];
    let mut seen = vec![];
    while !rest.is_empty() {
        let n = p.handle_input_partial(rest).unwrap();
        assert!(n > 0);
        rest = &rest[n..];
        let events: Vec<_> = std::iter::from_fn(|| p.poll_event()).collect();
        assert!(events.len() <= 1, "one event at a time");
        seen.extend(events.into_iter().map(|e| match e {
            Event::StreamOpened(_) => "open".to_string(),
            Event::Element(e) => e.name().to_string(),
            Event::StreamClosed => "close".to_string(),
        }));
        if seen.last().map(String::as_str) == Some("b") {
            // The bytes after `</b>` are untouched.
            assert!(rest.starts_with(b"<c/>"));
        }
    }
    assert_eq!(seen, ["open", "a", "b", "c", "close"]);
}

#[test]
fn the_closing_tag_is_not_held_to_the_stanza_limit() {
    let limits = {
        let mut l = Limits::default();
        l.max_element_bytes = 11;
        l
    };
    let out = render_with(limits, &closed(""));
    assert!(out.ends_with("stream-closed\n"), "{out}");
}

#[test]
fn parsing_goes_on_after_shrinking_even_mid_element() {
    let mut p = StreamParser::default();
    p.handle_input(&stream("<a><b>x</b></a><c>")).unwrap();
    p.shrink();
    p.handle_input(b"y</c><d/>").unwrap();
    p.shrink();
    let names: Vec<_> = std::iter::from_fn(|| p.poll_event())
        .map(|e| match e {
            Event::Element(e) => e.to_string(),
            other => format!("{other:?}").chars().take(12).collect(),
        })
        .collect();
    assert_eq!(
        names[1..],
        [
            "<a xmlns='jabber:client'><b>x</b></a>",
            "<c xmlns='jabber:client'>y</c>",
            "<d xmlns='jabber:client'/>"
        ]
    );
}

#[test]
fn an_attribute_is_set_on_the_root_without_parsing_again() {
    let mut p = StreamParser::default();
    p.handle_input(&stream(
        "<message to='a@b' xml:lang='en'><body a='1'>hi</body><x xmlns='u' y='2'/></message><presence/><iq from='spoof' id='1'/>",
    ))
    .unwrap();
    let mut els = std::iter::from_fn(|| p.poll_event()).filter_map(|e| match e {
        Event::Element(e) => Some(e),
        _ => None,
    });
    let msg = els
        .next()
        .unwrap()
        .with_attr("from", "juliet@example.com/balcony");
    assert_eq!(
        msg.to_string(),
        "<message xmlns='jabber:client' to='a@b' xml:lang='en' from='juliet@example.com/balcony'>\
         <body a='1'>hi</body><x xmlns='u' y='2'/></message>"
    );
    let presence = els.next().unwrap().with_attr("from", "j@e/r");
    assert_eq!(
        presence.to_string(),
        "<presence xmlns='jabber:client' from='j@e/r'/>"
    );
    let iq = els.next().unwrap().with_attr("from", "x&y");
    assert_eq!(
        iq.to_string(),
        "<iq xmlns='jabber:client' from='x&amp;y' id='1'/>"
    );
    assert_eq!(iq.attr("from").as_deref(), Some("x&y"));
    assert_eq!(
        iq.raw(),
        b"<iq from='spoof' id='1'/>",
        "raw() is what was received"
    );
}

#[test]
fn a_run_of_stray_continuation_bytes_is_bad_utf8_at_its_start_whatever_the_limit() {
    // Found by the fuzzer: the size limit walked back over the whole run and reported a
    // limit where the first byte of the run is the fault.
    let mut input = stream("<message/>");
    let at = input.len() as u64;
    input.extend(std::iter::repeat_n(0x80u8, 300));
    let small = {
        let mut l = Limits::default();
        l.max_element_bytes = 256;
        l
    };
    assert_eq!(
        first_error(small, &input),
        (
            K::InvalidUtf8(Utf8Fault::InvalidByte(0x80)),
            C::UnsupportedEncoding,
            at
        )
    );
    let mut input = stream("<a>");
    let at = input.len() as u64;
    input.extend(std::iter::repeat_n(0x80u8, 600));
    assert_eq!(
        first_error(small, &input),
        (
            K::InvalidUtf8(Utf8Fault::InvalidByte(0x80)),
            C::UnsupportedEncoding,
            at
        )
    );
}

#[test]
fn one_element_parses_on_its_own_with_offsets_in_its_bytes() {
    use xmpp_sansio::xml::parse_element;
    let el = parse_element(
        "jabber:component:accept",
        b" <message to='a@b'><body>x</body></message>\n",
    )
    .unwrap();
    assert!(el.is("message", "jabber:component:accept"));
    assert_eq!(
        el.get_child("body", "jabber:component:accept")
            .unwrap()
            .text(),
        "x"
    );
    let err = |xml: &[u8]| parse_element("jabber:client", xml).unwrap_err();
    assert_eq!(
        (err(b"<a/><b/>").kind(), err(b"<a/><b/>").offset()),
        (K::ContentAfterClose, 4)
    );
    assert_eq!(
        (err(b"<a>").kind(), err(b"<a>").offset()),
        (K::UnexpectedEof, 3)
    );
    assert_eq!(
        (err(b"  ").kind(), err(b"  ").offset()),
        (K::UnexpectedEof, 2)
    );
    assert_eq!(
        (
            err(b"<a><!--x--></a>").kind(),
            err(b"<a><!--x--></a>").offset()
        ),
        (K::Comment, 3)
    );
    assert_eq!(err(b"text").kind(), K::TextAtStreamLevel);
}
