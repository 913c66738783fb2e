//! The stanza rules of RFC 6120 sections 8.2.3 and 8.3.1 as the `stanza` module applies
//! them: which rule an iq breaks, what a receiver does with it, and the id of an error
//! reply; and `xml:lang` added to an element without parsing it again (section 4.7.4).

use bytes::BytesMut;
use xmpp_sansio::error::{StanzaError, StanzaErrorCondition};
use xmpp_sansio::stanza::{IqRule, IqType, Stanza, Triage, error_reply};
use xmpp_sansio::xml::{XML_NS, parse_element, write_element};

fn stanza(xml: &str) -> Stanza {
    Stanza::from_element(parse_element("jabber:client", xml.as_bytes()).unwrap()).unwrap()
}

#[test]
fn each_iq_rule_is_named_and_a_request_is_told_apart_from_a_response() {
    let cases = [
        (
            "<iq type='get' id='1'><q xmlns='u'/></iq>",
            Ok(IqType::Get),
            Triage::Process,
        ),
        (
            "<iq type='result' id='1'/>",
            Ok(IqType::Result),
            Triage::Process,
        ),
        (
            "<iq type='error' id='1'><error type='cancel'/></iq>",
            Ok(IqType::Error),
            Triage::Process,
        ),
        (
            "<iq type='get'><q xmlns='u'/></iq>",
            Err(IqRule::Id),
            Triage::BadRequest(IqRule::Id),
        ),
        (
            "<iq type='result'/>",
            Err(IqRule::Id),
            Triage::Ignore(IqRule::Id),
        ),
        (
            "<iq id='1'><q xmlns='u'/></iq>",
            Err(IqRule::TypeMissing),
            Triage::BadRequest(IqRule::TypeMissing),
        ),
        (
            "<iq id='1' type='foo'><q xmlns='u'/></iq>",
            Err(IqRule::TypeUnknown),
            Triage::BadRequest(IqRule::TypeUnknown),
        ),
        (
            "<iq id='1' type='set'/>",
            Err(IqRule::RequestChild),
            Triage::BadRequest(IqRule::RequestChild),
        ),
        (
            "<iq id='1' type='result'><a xmlns='u'/><b xmlns='u'/></iq>",
            Err(IqRule::ResultChild),
            Triage::Ignore(IqRule::ResultChild),
        ),
        (
            "<iq id='1' type='error'><a xmlns='u'/></iq>",
            Err(IqRule::ErrorChild),
            Triage::Ignore(IqRule::ErrorChild),
        ),
        ("<message type='error'/>", Ok(IqType::Get), Triage::Process),
    ];
    for (xml, check, triage) in cases {
        let s = stanza(xml);
        if let Some(iq) = s.as_iq() {
            assert_eq!(iq.check(), check, "{xml}");
            // validate says the same, as the bad-request to answer with.
            match (iq.validate(), check) {
                (Ok(t), Ok(c)) => assert_eq!(t, c),
                (Err(e), Err(rule)) => {
                    assert_eq!(e.condition, StanzaErrorCondition::BadRequest);
                    assert_eq!(e.text.as_ref().unwrap().text, rule.text());
                }
                other => panic!("{xml}: {other:?}"),
            }
        }
        assert_eq!(s.triage(), triage, "{xml}");
    }
}

#[test]
fn an_iq_error_always_carries_an_id_a_message_error_only_when_the_original_had_one() {
    let error = StanzaError::new(StanzaErrorCondition::BadRequest);
    let mut out = BytesMut::new();
    error_reply(
        &stanza("<iq type='get' from='a@b/c'><q xmlns='u'/></iq>"),
        &error,
        false,
        &mut out,
    )
    .unwrap();
    let reply = std::str::from_utf8(&out).unwrap();
    assert!(
        reply.starts_with("<iq id='' to='a@b/c' type='error'>"),
        "{reply}"
    );
    out.clear();
    error_reply(&stanza("<message from='a@b/c'/>"), &error, false, &mut out).unwrap();
    let reply = std::str::from_utf8(&out).unwrap();
    assert!(
        reply.starts_with("<message to='a@b/c' type='error'>"),
        "{reply}"
    );
    // An error stanza is never answered (RFC 6120 8.3.1, rule 8).
    out.clear();
    assert!(
        error_reply(
            &stanza("<iq type='error' id='x'/>"),
            &error,
            false,
            &mut out
        )
        .is_err()
    );
    assert!(out.is_empty());
}

#[test]
fn xml_lang_is_added_or_replaced_and_every_other_part_kept() {
    let el = parse_element(
        "jabber:client",
        b"<presence from='a@b/c' xmlns:x='urn:x' x:k='v'><status>hi</status></presence>",
    )
    .unwrap();
    let with = el.with_lang("en");
    assert_eq!(with.root().attr_ns(XML_NS, "lang").as_deref(), Some("en"));
    assert_eq!(with.attr("from").as_deref(), Some("a@b/c"));
    assert_eq!(with.root().attr_ns("urn:x", "k").as_deref(), Some("v"));
    assert_eq!(with.root().attrs().count(), el.root().attrs().count() + 1);
    assert_eq!(with.children().next().unwrap().text(), "hi");
    // Replacing keeps one xml:lang.
    let again = with.with_lang("cs").with_attr("to", "d@e");
    assert_eq!(again.root().attr_ns(XML_NS, "lang").as_deref(), Some("cs"));
    assert_eq!(
        again.root().attrs().count(),
        with.root().attrs().count() + 1
    );
    // Serialized with the xml prefix, which is never declared, and read back the same.
    let mut out = BytesMut::new();
    write_element(&mut out, again.root(), "jabber:client");
    let text = std::str::from_utf8(&out).unwrap();
    assert!(
        text.contains("xml:lang='cs'") && !text.contains("xmlns:xml"),
        "{text}"
    );
    let back = parse_element("jabber:client", &out).unwrap();
    assert_eq!(back.root().attr_ns(XML_NS, "lang").as_deref(), Some("cs"));
    // The stanza view says the same, and with_lang on a stanza keeps its kind.
    let s = Stanza::from_element(el).unwrap();
    assert_eq!(s.lang(), None);
    assert_eq!(s.lang_or(Some("fr".into())).as_deref(), Some("fr"));
    let s = s.with_lang("de");
    assert_eq!(s.lang_or(Some("fr".into())).as_deref(), Some("de"));
    assert!(s.as_presence().is_some());
}

#[test]
fn from_and_lang_are_set_in_one_copy_and_the_children_keep_their_attributes() {
    let el = parse_element(
        "jabber:client",
        b"<message from='spoof@x' id='m'><body a='1'>hi</body><x xmlns='urn:x' b='2'><y c='3'/></x></message>",
    )
    .unwrap();
    for lang in [None, Some("en")] {
        let stamped = el.with_attr_and_lang("from", "juliet@example.com/r", lang);
        let root = stamped.root();
        assert_eq!(root.attr("from").as_deref(), Some("juliet@example.com/r"));
        assert_eq!(root.attr("id").as_deref(), Some("m"));
        assert_eq!(root.attr_ns(XML_NS, "lang").as_deref(), lang);
        let added = usize::from(lang.is_some());
        assert_eq!(root.attrs().count(), 2 + added);
        let mut children = root.children();
        let body = children.next().unwrap();
        assert_eq!(body.attr("a").as_deref(), Some("1"));
        assert_eq!(body.attrs().count(), 1);
        let x = children.next().unwrap();
        assert_eq!(x.attr("b").as_deref(), Some("2"));
        assert_eq!(x.children().next().unwrap().attr("c").as_deref(), Some("3"));
        // What the element says is what it writes.
        let mut out = BytesMut::new();
        write_element(&mut out, root, "jabber:client");
        let back = parse_element("jabber:client", &out).unwrap();
        assert_eq!(back.root().attr_ns(XML_NS, "lang").as_deref(), lang);
        assert_eq!(
            back.root().attr("from").as_deref(),
            Some("juliet@example.com/r")
        );
        assert_eq!(
            back.children()
                .nth(1)
                .unwrap()
                .children()
                .next()
                .unwrap()
                .attr("c")
                .as_deref(),
            Some("3")
        );
    }
}
