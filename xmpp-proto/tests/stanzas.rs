//! Stanzas (RFC 6120 section 8): recognition and accessors, the address and IQ rules, error
//! replies (and the stanzas that must not get one), IQ results, and the builders, with
//! snapshots of what is written.

use bytes::BytesMut;
use xmpp_sansio::error::{ErrorType, StanzaError, StanzaErrorCondition, Text};
use xmpp_sansio::jid::Jid;
use xmpp_sansio::stanza::{
    CONTENT_NAMESPACES, Iq, IqBuilder, IqType, MessageBuilder, MessageType, NoReply, NotAStanza,
    Payload, PresenceBuilder, PresenceType, Stanza, StanzaKind, StanzaType, error_reply, iq_result,
};
use xmpp_sansio::xml::{Element, parse_element};

/// The first element of `body`, read with `ns` as the default namespace.
fn parse_in(ns: &str, body: &[u8]) -> Element {
    parse_element(ns, body).unwrap_or_else(|e| panic!("{e} in {:?}", String::from_utf8_lossy(body)))
}

fn element(body: &str) -> Element {
    parse_in("jabber:client", body.as_bytes())
}

fn stanza(body: &str) -> Stanza {
    Stanza::from_element(element(body)).unwrap()
}

fn iq(body: &str) -> Stanza {
    let s = stanza(body);
    assert!(s.as_iq().is_some());
    s
}

fn validate(body: &str) -> Result<IqType, Box<StanzaError>> {
    let s = iq(body);
    Iq::validate(&s.as_iq().unwrap())
}

fn text_of(e: &StanzaError) -> &str {
    &e.text.as_ref().unwrap().text
}

fn reply(s: &Stanza, e: &StanzaError, include_original: bool) -> Result<String, NoReply> {
    let mut out = BytesMut::new();
    error_reply(s, e, include_original, &mut out)?;
    Ok(String::from_utf8(out.to_vec()).unwrap())
}

fn built(f: impl FnOnce(&mut BytesMut)) -> String {
    let mut out = BytesMut::new();
    f(&mut out);
    String::from_utf8(out.to_vec()).unwrap()
}

// ---------------------------------------------------------------- recognition

#[test]
fn the_three_kinds_are_stanzas_in_the_three_content_namespaces() {
    for ns in CONTENT_NAMESPACES {
        for (xml, kind) in [
            ("<message/>", StanzaKind::Message),
            ("<presence/>", StanzaKind::Presence),
            (
                "<iq type='get' id='1'><q xmlns='urn:q'/></iq>",
                StanzaKind::Iq,
            ),
        ] {
            let s = Stanza::from_element(parse_in(ns, xml.as_bytes())).unwrap();
            assert_eq!(s.kind(), kind);
            assert_eq!(s.ns(), ns);
            assert_eq!(s.kind().as_str().parse(), Ok(kind));
        }
    }
}

#[test]
fn other_elements_are_handed_back() {
    for xml in [
        "<stream:features/>",
        "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>",
        "<message xmlns='urn:other'/>",
        "<body/>",
    ] {
        let el = element(xml);
        let NotAStanza(back) = Stanza::from_element(el.clone()).unwrap_err();
        assert_eq!(back, el, "{xml}");
    }
    let e = Stanza::try_from(element("<r xmlns='urn:xmpp:sm:3'/>")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "<r/> in namespace 'urn:xmpp:sm:3' is not a stanza (message, presence or iq in \
         jabber:client, jabber:server or jabber:component:accept)"
    );
}

#[test]
fn accessors_read_the_element_in_place() {
    let s = stanza(
        "<message from='Romeo@Example.net/orchard' to='juliet@example.com' id='ktx72v49' \
         type='chat' xml:lang='en'><body>Art thou not Romeo, and a Montague?</body>\
         <thread>e0ffe42b28561960c6b12b944a092794b9683a38</thread>\
         <active xmlns='http://jabber.org/protocol/chatstates'/></message>",
    );
    assert_eq!(s.kind(), StanzaKind::Message);
    assert_eq!(
        s.from().unwrap(),
        Some(Jid::parse("romeo@example.net/orchard").unwrap())
    );
    assert_eq!(s.to().unwrap().unwrap().as_str(), "juliet@example.com");
    assert_eq!(s.id().as_deref(), Some("ktx72v49"));
    assert_eq!(s.lang().as_deref(), Some("en"));
    assert_eq!(s.type_attr().as_deref(), Some("chat"));
    assert_eq!(s.type_().unwrap(), StanzaType::Message(MessageType::Chat));
    assert!(!s.is_error());
    let names: Vec<_> = s.payloads().map(|c| c.name()).collect();
    assert_eq!(names, ["body", "thread", "active"]);
    let m = s.as_message().unwrap();
    assert_eq!(
        m.body().as_deref(),
        Some("Art thou not Romeo, and a Montague?")
    );
    assert!(s.as_iq().is_none() && s.as_presence().is_none());
    assert!(s.error().is_none());
    assert_eq!(s.clone().into_element(), *s.element());

    let s = stanza("<presence/>");
    assert_eq!(
        (s.to(), s.from(), s.id(), s.lang()),
        (Ok(None), Ok(None), None, None)
    );
}

#[test]
fn message_types_unknown_or_missing_are_normal() {
    for (attr, t) in [
        ("", MessageType::Normal),
        (" type='normal'", MessageType::Normal),
        (" type='headline'", MessageType::Headline),
        (" type='groupchat'", MessageType::Groupchat),
        (" type='error'", MessageType::Error),
        (" type='Chat'", MessageType::Normal),
        (" type='broadcast'", MessageType::Normal),
    ] {
        let s = stanza(&format!("<message{attr}/>"));
        assert_eq!(s.as_message().unwrap().type_(), t, "{attr}");
    }
    for t in MessageType::ALL {
        assert_eq!(t.as_str().parse(), Ok(t));
    }
}

#[test]
fn presence_types_and_unknown_ones() {
    assert_eq!(
        stanza("<presence/>").type_().unwrap(),
        StanzaType::Presence(PresenceType::Available)
    );
    for t in PresenceType::ALL {
        let s = match t.attr() {
            Some(v) => stanza(&format!("<presence type='{v}'/>")),
            None => stanza("<presence/>"),
        };
        assert_eq!(s.as_presence().unwrap().type_().unwrap(), t);
        assert_eq!(t.as_str().parse(), Ok(t));
    }
    // Some old clients write the default out.
    let s = stanza("<presence type='available'/>");
    assert_eq!(
        s.as_presence().unwrap().type_().unwrap(),
        PresenceType::Available
    );
    let e = stanza("<presence type='invisible'/>").type_().unwrap_err();
    assert_eq!(e.condition, StanzaErrorCondition::BadRequest);
    assert_eq!(e.type_, ErrorType::Modify);
}

#[test]
fn iq_types_must_be_known() {
    for t in IqType::ALL {
        let s = iq(&format!("<iq type='{t}' id='1'/>"));
        assert_eq!(s.type_().unwrap(), StanzaType::Iq(t));
        assert_eq!(s.type_().unwrap().is_error(), t == IqType::Error);
        assert_eq!(t.is_request(), matches!(t, IqType::Get | IqType::Set));
    }
    for xml in [
        "<iq id='1'/>",
        "<iq id='1' type='GET'/>",
        "<iq id='1' type='query'/>",
    ] {
        let e = stanza(xml).as_iq().unwrap().type_().unwrap_err();
        assert_eq!(e.condition, StanzaErrorCondition::BadRequest, "{xml}");
        assert_eq!(e.type_, ErrorType::Modify);
    }
}

// ---------------------------------------------------------------- rules

#[test]
fn malformed_addresses_are_jid_malformed_not_a_panic() {
    for (xml, attr) in [
        ("<message to='@example.com'/>", "to"),
        ("<iq to='juliet@' type='get' id='1'/>", "to"),
        ("<presence from='a@b@c/'/>", "from"),
        ("<message to='example.com/' from='ok@example.com'/>", "to"),
        ("<message to=''/>", "to"),
        ("<message from='juliet@exa mple.com'/>", "from"),
    ] {
        let s = stanza(xml);
        let bad = if attr == "to" { s.to() } else { s.from() };
        assert!(bad.is_err(), "{xml}");
        let e = s.check_addresses().unwrap_err();
        assert_eq!(e.condition, StanzaErrorCondition::JidMalformed, "{xml}");
        assert_eq!(e.type_, ErrorType::Modify);
        assert!(
            text_of(&e).starts_with(&format!("the '{attr}' attribute is not a valid JID: ")),
            "{}",
            text_of(&e)
        );
    }
    assert!(
        stanza("<message to='juliet@example.com' from='example.net'/>")
            .check_addresses()
            .is_ok()
    );
    assert!(stanza("<message/>").check_addresses().is_ok());
}

#[test]
fn iq_validation_follows_rfc_6120_section_8_2_3() {
    for ok in [
        "<iq type='get' id='1'><query xmlns='jabber:iq:roster'/></iq>",
        "<iq type='set' id='1'>\n  <bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>\n</iq>",
        "<iq type='result' id='1'/>",
        "<iq type='result' id='1'><query xmlns='jabber:iq:roster'/></iq>",
        "<iq type='error' id='1'><error type='cancel'>\
         <service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>",
        "<iq type='error' id='1'><query xmlns='jabber:iq:roster'/><error type='cancel'>\
         <service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>",
    ] {
        assert!(validate(ok).is_ok(), "{ok}");
    }
    for (bad, why) in [
        (
            "<iq type='get'><q xmlns='urn:q'/></iq>",
            "an iq must have an 'id'",
        ),
        (
            "<iq id='1'><q xmlns='urn:q'/></iq>",
            "an iq must have a 'type'",
        ),
        (
            "<iq type='fetch' id='1'><q xmlns='urn:q'/></iq>",
            "the iq 'type' must be",
        ),
        (
            "<iq type='get' id='1'/>",
            "an iq get or set must have exactly one",
        ),
        (
            "<iq type='get' id='1'>text is no child</iq>",
            "an iq get or set must have exactly one",
        ),
        (
            "<iq type='set' id='1'><a xmlns='urn:a'/><b xmlns='urn:b'/></iq>",
            "an iq get or set must have exactly one",
        ),
        (
            "<iq type='result' id='1'><a xmlns='urn:a'/><b xmlns='urn:b'/></iq>",
            "an iq result must have at most one",
        ),
        (
            "<iq type='error' id='1'/>",
            "an iq error must have an <error/> child",
        ),
        (
            "<iq type='error' id='1'><error xmlns='urn:other'/></iq>",
            "an iq error must have an <error/> child",
        ),
    ] {
        let e = validate(bad).unwrap_err();
        assert_eq!(e.condition, StanzaErrorCondition::BadRequest, "{bad}");
        assert_eq!(e.type_, ErrorType::Modify, "{bad}");
        assert!(text_of(&e).starts_with(why), "{bad}: {}", text_of(&e));
        assert!(text_of(&e).ends_with("(RFC 6120 section 8.2.3)"), "{bad}");
    }
}

#[test]
fn iq_payload_skips_the_error() {
    let s = iq(
        "<iq type='error' id='1'><error type='cancel'><item-not-found \
         xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error><query xmlns='urn:q'/></iq>",
    );
    let i = s.as_iq().unwrap();
    assert_eq!(i.payload().unwrap().name(), "query");
    assert_eq!(i.stanza(), &s);
    let e = s.error().unwrap().unwrap();
    assert_eq!(e, StanzaError::new(StanzaErrorCondition::ItemNotFound));
    assert!(s.is_error());
    assert!(
        iq("<iq type='result' id='1'/>")
            .as_iq()
            .unwrap()
            .payload()
            .is_none()
    );
}

// ---------------------------------------------------------------- error replies

#[test]
fn error_replies_are_never_sent_to_errors_or_results() {
    let e = StanzaError::new(StanzaErrorCondition::ServiceUnavailable);
    for xml in [
        "<message type='error' id='1'/>",
        "<presence type='error'/>",
        "<iq type='error' id='1'/>",
        "<iq type='error' id='1'><error type='cancel'><conflict \
         xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>",
    ] {
        assert_eq!(
            reply(&stanza(xml), &e, true),
            Err(NoReply::ErrorStanza),
            "{xml}"
        );
    }
    for xml in [
        "<iq type='result' id='1'/>",
        "<iq type='result' id='1'><a xmlns='urn:a'/><b xmlns='urn:b'/></iq>",
    ] {
        assert_eq!(
            reply(&stanza(xml), &e, false),
            Err(NoReply::IqResult),
            "{xml}"
        );
    }
    assert_eq!(
        NoReply::ErrorStanza.to_string(),
        "a stanza of type 'error' is never answered (RFC 6120 section 8.3.1)"
    );
    // Nothing at all is written when refusing.
    let mut out = BytesMut::from(&b"kept"[..]);
    let s = stanza("<presence type='error'/>");
    assert!(error_reply(&s, &e, true, &mut out).is_err());
    assert_eq!(&out[..], b"kept");
}

#[test]
fn error_replies_swap_addresses_and_keep_the_id() {
    let s = iq(
        "<iq from='juliet@example.com/balcony' id='rr82a1z7' to='juliet@example.com' \
         type='get' xml:lang='en'><query xmlns='jabber:iq:roster'/></iq>",
    );
    let e = StanzaError::new(StanzaErrorCondition::ServiceUnavailable);
    let with = reply(&s, &e, true).unwrap();
    let without = reply(&s, &e, false).unwrap();
    insta::assert_snapshot!("reply_iq_with_original", with);
    insta::assert_snapshot!("reply_iq_without_original", without);

    // Read back, the reply is the answer the RFC describes.
    for xml in [&with, &without] {
        let r = stanza(xml);
        assert_eq!(r.kind(), StanzaKind::Iq);
        assert_eq!(r.from().unwrap(), s.to().unwrap());
        assert_eq!(r.to().unwrap(), s.from().unwrap());
        assert_eq!(r.id(), s.id());
        assert_eq!(r.type_().unwrap(), StanzaType::Iq(IqType::Error));
        assert_eq!(r.error().unwrap().unwrap(), e);
        assert!(r.as_iq().unwrap().validate().is_ok());
    }
    assert_eq!(
        stanza(&with).as_iq().unwrap().payload().unwrap().name(),
        "query"
    );
    assert_eq!(stanza(&with).lang().as_deref(), Some("en"));
    assert!(stanza(&without).as_iq().unwrap().payload().is_none());
}

#[test]
fn error_replies_for_messages_and_presences() {
    let m = stanza(
        "<message from='romeo@example.net/orchard' to='juliet@example.com/balcony' \
         id='b4vs9km4' type='chat'><body>Wherefore &amp; why?</body>\
         <active xmlns='http://jabber.org/protocol/chatstates'/></message>",
    );
    let e = StanzaError::new(StanzaErrorCondition::RecipientUnavailable)
        .with_by(Jid::parse("example.com").unwrap())
        .with_text(Text::with_lang("en", "Juliet is asleep"));
    insta::assert_snapshot!("reply_message_with_original", reply(&m, &e, true).unwrap());

    let p = stanza("<presence to='nurse@example.com' type='subscribe'/>");
    let e = StanzaError::new(StanzaErrorCondition::RemoteServerNotFound);
    insta::assert_snapshot!("reply_presence", reply(&p, &e, false).unwrap());

    // No id, no addresses: none in the reply either.
    let p = stanza("<presence/>");
    assert_eq!(
        reply(&p, &e, true).unwrap(),
        "<presence type='error'><error type='cancel'><remote-server-not-found \
         xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>"
    );
}

#[test]
fn a_malformed_to_gets_a_jid_malformed_reply() {
    let s = stanza(
        "<message from='romeo@example.net/orchard' to='juliet@@example.com' id='m1'>\
         <body>hi</body></message>",
    );
    let e = s.check_addresses().unwrap_err();
    let r = reply(&s, &e, false).unwrap();
    insta::assert_snapshot!("reply_jid_malformed", r);
    let r = stanza(&r);
    assert_eq!(
        r.to().unwrap().unwrap().as_str(),
        "romeo@example.net/orchard"
    );
    // The malformed address is not swapped into the reply (RFC 6120 section 8.3.1, rule 2:
    // not when it would "include a malformed JID in the 'from' or 'to' address of the
    // error stanza"); the error's text says what was wrong.
    assert_eq!(r.element().attr("from"), None);
    assert_eq!(r.error().unwrap().unwrap(), *e);
}

#[test]
fn error_replies_in_other_content_namespaces() {
    // The reply is written for the stream the stanza came on: children in its namespace are
    // written unqualified, and the <error/> is never duplicated.
    let s = Stanza::from_element(parse_in(
        "jabber:server",
        b"<iq from='a.example' to='b.example' type='set' id='s2s-1'>\
          <ping xmlns='urn:xmpp:ping'/><note>n</note></iq>",
    ))
    .unwrap();
    let e = StanzaError::new(StanzaErrorCondition::FeatureNotImplemented);
    let r = reply(&s, &e, true).unwrap();
    assert_eq!(
        r,
        "<iq from='b.example' id='s2s-1' to='a.example' type='error'>\
         <ping xmlns='urn:xmpp:ping'/><note>n</note><error type='cancel'>\
         <feature-not-implemented xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
    );
    let back = Stanza::from_element(parse_in("jabber:server", r.as_bytes())).unwrap();
    assert_eq!(back.error().unwrap().unwrap(), e);

    let s = stanza("<message id='x'><error type='cancel'/><body>b</body></message>");
    let r = reply(&s, &e, true).unwrap();
    assert_eq!(r.matches("<error").count(), 1, "{r}");
}

// ---------------------------------------------------------------- iq results

#[test]
fn iq_results_answer_requests_only() {
    let req = iq(
        "<iq from='juliet@example.com/balcony' id='bv1' to='example.com' type='get'>\
         <query xmlns='jabber:iq:roster'/></iq>",
    );
    let roster = element(
        "<query xmlns='jabber:iq:roster' ver='ver7'><item jid='nurse@example.com'/>\
         <item jid='romeo@example.net'/></query>",
    );
    let out = built(|out| iq_result(&req, Some((&roster).into()), out).unwrap());
    insta::assert_snapshot!("iq_result_roster", out);
    let r = stanza(&out);
    assert_eq!(r.as_iq().unwrap().validate(), Ok(IqType::Result));
    assert_eq!(
        r.to().unwrap().unwrap().as_str(),
        "juliet@example.com/balcony"
    );
    assert_eq!(r.from().unwrap().unwrap().as_str(), "example.com");
    assert_eq!(r.as_iq().unwrap().payload().unwrap(), roster.root());

    let empty = built(|out| iq_result(&req, None, out).unwrap());
    assert_eq!(
        empty,
        "<iq from='example.com' id='bv1' to='juliet@example.com/balcony' type='result'/>"
    );
    let raw = built(|out| {
        iq_result(
            &req,
            Some(Payload::Raw(b"<query xmlns='jabber:iq:roster'/>")),
            out,
        )
        .unwrap()
    });
    assert!(raw.ends_with("type='result'><query xmlns='jabber:iq:roster'/></iq>"));

    let mut out = BytesMut::new();
    for (xml, why) in [
        ("<iq type='result' id='1'/>", NoReply::IqResult),
        ("<iq type='error' id='1'/>", NoReply::ErrorStanza),
        (
            "<iq type='get'><q xmlns='urn:q'/></iq>",
            NoReply::NotARequest,
        ),
        ("<iq id='1'><q xmlns='urn:q'/></iq>", NoReply::NotARequest),
        ("<message id='1'/>", NoReply::NotARequest),
    ] {
        assert_eq!(iq_result(&stanza(xml), None, &mut out), Err(why), "{xml}");
    }
    assert!(out.is_empty());
}

// ---------------------------------------------------------------- builders

#[test]
fn builders_write_what_the_views_read() {
    let romeo = Jid::parse("romeo@example.net/orchard").unwrap();
    let juliet = Jid::parse("juliet@example.com").unwrap();

    let m = built(|out| {
        MessageBuilder::new()
            .from(&romeo)
            .to(&juliet)
            .id("m'1")
            .type_(MessageType::Chat)
            .lang("en")
            .body("O Romeo, Romeo! <wherefore> art thou & why?")
            .payload(Payload::Raw(
                b"<active xmlns='http://jabber.org/protocol/chatstates'/>",
            ))
            .write(out)
    });
    insta::assert_snapshot!("build_message", m);
    let s = stanza(&m);
    assert_eq!(s.from().unwrap(), Some(romeo.clone()));
    assert_eq!(s.to().unwrap(), Some(juliet.clone()));
    assert_eq!(s.id().as_deref(), Some("m'1"));
    assert_eq!(s.lang().as_deref(), Some("en"));
    let msg = s.as_message().unwrap();
    assert_eq!(msg.type_(), MessageType::Chat);
    assert_eq!(
        msg.body().as_deref(),
        Some("O Romeo, Romeo! <wherefore> art thou & why?")
    );

    let p = built(|out| {
        PresenceBuilder::new()
            .type_(PresenceType::Available)
            .write_with(out, |w| {
                w.start("show").text("away").end("show");
                w.start("status").text("Gone hunting").end("status");
            })
    });
    insta::assert_snapshot!("build_presence", p);
    assert_eq!(
        stanza(&p).type_().unwrap(),
        StanzaType::Presence(PresenceType::Available)
    );
    let p = built(|out| {
        PresenceBuilder::new()
            .to(&juliet)
            .type_(PresenceType::Subscribe)
            .write(out)
    });
    assert_eq!(p, "<presence to='juliet@example.com' type='subscribe'/>");

    // A received element as payload, written for the stream's content namespace.
    let query = element("<iq><query xmlns='jabber:iq:version'/></iq>");
    let query = query.children().next().unwrap();
    let i = built(|out| {
        IqBuilder::new(IqType::Get, "v1")
            .to(&juliet)
            .payload(query)
            .write(out)
    });
    insta::assert_snapshot!("build_iq", i);
    let s = stanza(&i);
    assert_eq!(s.as_iq().unwrap().validate(), Ok(IqType::Get));
    assert_eq!(s.as_iq().unwrap().payload().unwrap(), query);

    // The content namespace matters for payloads in it.
    let body = element("<message><body>hi</body></message>");
    let body = body.children().next().unwrap();
    let server = built(|out| {
        MessageBuilder::new()
            .content_ns("jabber:server")
            .payload(body)
            .write(out)
    });
    assert_eq!(
        server,
        "<message><body xmlns='jabber:client'>hi</body></message>"
    );
    let client = built(|out| MessageBuilder::new().payload(body).write(out));
    assert_eq!(client, "<message><body>hi</body></message>");
}
