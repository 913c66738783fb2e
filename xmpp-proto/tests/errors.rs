//! The errors of RFC 6120 on the wire: every stream error condition (section 4.9.3), stanza
//! error condition (section 8.3.3) and SASL failure condition (section 6.5) written and read
//! back; lenient reading of what peers send; property tests that writing then parsing (with
//! the stream parser, inside a stream) gives back the same error; snapshots of a few
//! serialized errors.

use std::borrow::Cow;

use bytes::BytesMut;
use proptest::prelude::*;
use xmpp_sansio::error::{
    AppCondition, ErrorType, MalformedError, SASL_NS, STANZA_ERRORS_NS, STREAM_ERRORS_NS,
    SaslFailure, SaslFailureCondition, StanzaError, StanzaErrorCondition, StreamError,
    StreamErrorCondition, Text,
};
use xmpp_sansio::jid::Jid;
use xmpp_sansio::xml::{Element, parse_element};

/// The first element of `body`, read with `ns` as the default namespace.
fn parse_in(ns: &str, body: &[u8]) -> Element {
    parse_element(ns, body).unwrap_or_else(|e| panic!("{e} in {:?}", String::from_utf8_lossy(body)))
}

fn parse(body: &str) -> Element {
    parse_in("jabber:client", body.as_bytes())
}

fn string(out: BytesMut) -> String {
    String::from_utf8(out.to_vec()).unwrap()
}

fn write_stream_error(e: &StreamError) -> String {
    let mut out = BytesMut::new();
    e.write_to(&mut out);
    string(out)
}

fn write_stanza_error(e: &StanzaError) -> String {
    let mut out = BytesMut::new();
    e.write_to(&mut out);
    string(out)
}

fn write_sasl_failure(f: &SaslFailure) -> String {
    let mut out = BytesMut::new();
    f.write_to(&mut out);
    string(out)
}

fn read_stream_error(xml: &[u8]) -> StreamError {
    StreamError::from_element(parse_in("jabber:client", xml).root()).unwrap()
}

/// Reads the `<error/>` written in `xml` as the child of an iq in a stream of `ns`.
fn read_stanza_error_in(ns: &str, xml: &[u8]) -> StanzaError {
    let mut body = b"<iq type='error' id='e1'>".to_vec();
    body.extend_from_slice(xml);
    body.extend_from_slice(b"</iq>");
    let iq = parse_in(ns, &body);
    StanzaError::from_element(iq.get_child("error", ns).expect("an <error/> child")).unwrap()
}

fn read_stanza_error(xml: &[u8]) -> StanzaError {
    read_stanza_error_in("jabber:client", xml)
}

fn read_sasl_failure(xml: &[u8]) -> SaslFailure {
    SaslFailure::from_element(parse_in("jabber:client", xml).root()).unwrap()
}

// ---------------------------------------------------------------- stream errors

#[test]
fn every_stream_error_condition_is_written_and_read_back() {
    assert_eq!(StreamErrorCondition::ALL.len(), 25);
    for c in StreamErrorCondition::ALL {
        let e = StreamError::new(c);
        let xml = write_stream_error(&e);
        assert_eq!(
            xml,
            format!(
                "<stream:error><{} xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>",
                c.as_str()
            )
        );
        assert_eq!(read_stream_error(xml.as_bytes()), e, "{c}");
        assert_eq!(c.as_str().parse(), Ok(c));
        assert_eq!(e.to_string(), format!("stream error {c}"));
    }
}

#[test]
fn stream_error_of_rfc_6120_section_4_9_4() {
    let e = read_stream_error(
        b"<stream:error>\n\
          <not-well-formed xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>\n\
          <text xml:lang='en' xmlns='urn:ietf:params:xml:ns:xmpp-streams'>\
          Some special application diagnostic information!</text>\n\
          <escape-your-data xmlns='http://example.org/ns'/>\n\
          </stream:error>",
    );
    assert_eq!(e.condition, StreamErrorCondition::NotWellFormed);
    assert_eq!(
        e.text,
        Some(Text::with_lang(
            "en",
            "Some special application diagnostic information!"
        ))
    );
    let app = e.app_specific.as_ref().unwrap();
    assert_eq!(
        (app.ns(), app.name()),
        ("http://example.org/ns", "escape-your-data")
    );
    assert_eq!(
        app.xml(),
        b"<escape-your-data xmlns='http://example.org/ns'/>"
    );
    assert_eq!(e.see_other_host, None);
    assert_eq!(
        e.to_string(),
        "stream error not-well-formed [escape-your-data in http://example.org/ns]: \
         Some special application diagnostic information!"
    );
}

#[test]
fn see_other_host_carries_the_host_and_port() {
    let e = StreamError::see_other_host("[2001:db8::9]:5222");
    let xml = write_stream_error(&e);
    assert_eq!(
        xml,
        "<stream:error><see-other-host xmlns='urn:ietf:params:xml:ns:xmpp-streams'>\
         [2001:db8::9]:5222</see-other-host></stream:error>"
    );
    assert_eq!(read_stream_error(xml.as_bytes()), e);
    assert_eq!(
        e.to_string(),
        "stream error see-other-host (reconnect to [2001:db8::9]:5222)"
    );
    // White space around the host is not part of it; an empty element names no host.
    let e = read_stream_error(
        b"<stream:error><see-other-host xmlns='urn:ietf:params:xml:ns:xmpp-streams'>\n  \
          other.example\n</see-other-host></stream:error>",
    );
    assert_eq!(e.see_other_host.as_deref(), Some("other.example"));
    let e = read_stream_error(
        b"<stream:error><see-other-host xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>\
          </stream:error>",
    );
    assert_eq!(e.see_other_host, None);
    // The host belongs to see-other-host only.
    let mut e = StreamError::new(StreamErrorCondition::Conflict);
    e.see_other_host = Some("ignored.example".into());
    assert_eq!(
        write_stream_error(&e),
        "<stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>"
    );
}

#[test]
fn stream_errors_are_read_leniently() {
    // An unknown condition is undefined-condition (RFC 6120 section 4.9.3.21); the text stays.
    let e = read_stream_error(
        b"<stream:error><too-much-coffee xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>\
          <text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>brb</text></stream:error>",
    );
    assert_eq!(e.condition, StreamErrorCondition::UndefinedCondition);
    assert_eq!(e.text, Some(Text::new("brb")));
    // Extra children are ignored, of repeated ones the first counts, order does not matter,
    // and any prefix may stand for the streams namespace.
    let e = read_stream_error(
        b"<s:error xmlns:s='http://etherx.jabber.org/streams'>\
          <text xmlns='urn:ietf:params:xml:ns:xmpp-streams' xml:lang='fr'>un</text>\
          <text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>two</text>\
          <junk/><other xmlns='jabber:server'/>\
          <a xmlns='urn:app'/><b xmlns='urn:app'/>\
          <host-unknown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>\
          <conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></s:error>",
    );
    assert_eq!(e.condition, StreamErrorCondition::HostUnknown);
    assert_eq!(e.text, Some(Text::with_lang("fr", "un")));
    assert_eq!(e.app_specific.unwrap().name(), "a");
}

#[test]
fn stream_errors_without_a_condition_are_refused() {
    let el = parse(
        "<stream:error><text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>no condition</text>\
         <foo xmlns='urn:app'/></stream:error>",
    );
    let e = StreamError::from_element(el.root()).unwrap_err();
    assert_eq!(
        e,
        MalformedError::MissingCondition {
            namespace: STREAM_ERRORS_NS
        }
    );
    assert_eq!(
        e.to_string(),
        "the error names no condition: RFC 6120 requires a child element in \
         urn:ietf:params:xml:ns:xmpp-streams"
    );
    // Stanza error conditions are not stream error conditions.
    let el = parse(
        "<stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></stream:error>",
    );
    assert!(matches!(
        StreamError::from_element(el.root()),
        Err(MalformedError::MissingCondition { .. })
    ));
    for other in [
        "<error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></error>",
        "<stream:features/>",
    ] {
        let e = StreamError::from_element(parse(other).root()).unwrap_err();
        assert!(matches!(e, MalformedError::WrongElement { .. }), "{other}");
    }
}

// ---------------------------------------------------------------- stanza errors

#[test]
fn every_stanza_error_condition_is_written_and_read_back() {
    assert_eq!(StanzaErrorCondition::ALL.len(), 22);
    for c in StanzaErrorCondition::ALL {
        let e = StanzaError::new(c.clone());
        assert_eq!(e.type_, c.default_type());
        let xml = write_stanza_error(&e);
        assert_eq!(
            xml,
            format!(
                "<error type='{}'><{} xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>",
                c.default_type(),
                c.as_str()
            )
        );
        for ns in ["jabber:client", "jabber:server", "jabber:component:accept"] {
            assert_eq!(read_stanza_error_in(ns, xml.as_bytes()), e, "{c} in {ns}");
        }
        assert_eq!(e.to_string(), format!("{} error {c}", c.default_type()));
    }
}

#[test]
fn gone_and_redirect_carry_their_address() {
    for c in [
        StanzaErrorCondition::Gone(Some("xmpp:romeo@afterwards.example".into())),
        StanzaErrorCondition::Redirect(Some("xmpp:rosaline@example.net?join".into())),
    ] {
        let e = StanzaError::new(c.clone());
        let xml = write_stanza_error(&e);
        assert_eq!(
            xml,
            format!(
                "<error type='{}'><{} xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>{}</{1}>\
                 </error>",
                c.default_type(),
                c.as_str(),
                c.uri().unwrap()
            )
        );
        assert_eq!(read_stanza_error(xml.as_bytes()), e);
    }
    let e = read_stanza_error(
        b"<error type='cancel'><gone xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'> \
          xmpp:juliet@example.com </gone></error>",
    );
    assert_eq!(
        e.condition,
        StanzaErrorCondition::Gone(Some("xmpp:juliet@example.com".into()))
    );
    assert_eq!(e.to_string(), "cancel error gone (xmpp:juliet@example.com)");
}

#[test]
fn stanza_error_of_rfc_6120_section_8_3_2() {
    let e = read_stanza_error(
        b"<error by='example.net' type='modify'>\
          <bad-request xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>\
          <text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas' xml:lang='en'>Some special \
          application diagnostic information!</text>\
          <too-many-parameters xmlns='http://example.org/ns'/></error>",
    );
    assert_eq!(e.type_, ErrorType::Modify);
    assert_eq!(e.condition, StanzaErrorCondition::BadRequest);
    assert_eq!(e.by, Some(Jid::parse("example.net").unwrap()));
    assert_eq!(
        e.text.as_ref().unwrap().text,
        "Some special application diagnostic information!"
    );
    assert_eq!(e.text.as_ref().unwrap().lang.as_deref(), Some("en"));
    assert_eq!(
        e.app_specific.as_ref().unwrap().name(),
        "too-many-parameters"
    );
    assert_eq!(
        e.to_string(),
        "modify error bad-request [too-many-parameters in http://example.org/ns] from \
         example.net: Some special application diagnostic information!"
    );
}

#[test]
fn stanza_errors_are_read_leniently() {
    // Missing or unknown type: the condition's default. Invalid `by`: dropped. Legacy
    // `code`: ignored. Unknown condition: undefined-condition.
    let e = read_stanza_error(
        b"<error code='404'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>\
          </error>",
    );
    assert_eq!(e, StanzaError::new(StanzaErrorCondition::ItemNotFound));
    let e = read_stanza_error(
        b"<error type='later' by='@bad'><forbidden xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>\
          </error>",
    );
    assert_eq!(e, StanzaError::new(StanzaErrorCondition::Forbidden));
    let e = read_stanza_error(
        b"<error type='wait'><payment-required xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>\
          <gone xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>",
    );
    assert_eq!(e.condition, StanzaErrorCondition::UndefinedCondition);
    assert_eq!(e.type_, ErrorType::Wait);
    // Children in the content namespace are not application-specific conditions.
    let e = read_stanza_error(
        b"<error type='cancel'><x/><conflict xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>\
          </error>",
    );
    assert_eq!(e.app_specific, None);
}

#[test]
fn stanza_errors_without_a_condition_or_in_the_wrong_place_are_refused() {
    let iq = parse(
        "<iq type='error' id='1'><error type='cancel'>\
         <text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>?</text></error></iq>",
    );
    let error = iq.get_child("error", "jabber:client").unwrap();
    assert_eq!(
        StanzaError::from_element(error),
        Err(MalformedError::MissingCondition {
            namespace: STANZA_ERRORS_NS
        })
    );
    for el in [
        "<stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></stream:error>",
        "<error xmlns='urn:other'><conflict xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>",
        "<iq type='error' id='1'/>",
    ] {
        let e = StanzaError::from_element(parse(el).root()).unwrap_err();
        assert!(matches!(e, MalformedError::WrongElement { .. }), "{el}");
    }
}

// ---------------------------------------------------------------- SASL failures

#[test]
fn every_sasl_failure_condition_is_written_and_read_back() {
    assert_eq!(SaslFailureCondition::ALL.len(), 11);
    for c in SaslFailureCondition::ALL {
        let f = SaslFailure::new(c);
        let xml = write_sasl_failure(&f);
        assert_eq!(
            xml,
            format!(
                "<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><{}/></failure>",
                c.as_str()
            )
        );
        assert_eq!(read_sasl_failure(xml.as_bytes()), f, "{c}");
        assert_eq!(f.to_string(), format!("SASL authentication failed: {c}"));
    }
}

#[test]
fn sasl_failure_of_rfc_6120_section_6_5() {
    let f = read_sasl_failure(
        b"<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>\n  <account-disabled/>\n  \
          <text xml:lang='en'>Call 212-555-1212 for assistance.</text>\n</failure>",
    );
    assert_eq!(f.condition, Some(SaslFailureCondition::AccountDisabled));
    assert_eq!(
        f.text,
        Some(Text::with_lang("en", "Call 212-555-1212 for assistance."))
    );
    assert_eq!(
        f.to_string(),
        "SASL authentication failed: account-disabled (Call 212-555-1212 for assistance.)"
    );
}

#[test]
fn sasl_failures_without_a_known_condition_are_not_authorized() {
    // RFC 6120 section 6.5: an unknown condition "MUST" be treated "as equivalent to
    // <not-authorized/>"; so is a failure that names none.
    for xml in [
        &b"<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>"[..],
        b"<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><transition-needed/></failure>",
        b"<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><x xmlns='urn:other'/></failure>",
    ] {
        let f = read_sasl_failure(xml);
        assert_eq!(f.condition, Some(SaslFailureCondition::NotAuthorized));
        assert_eq!(f.to_string(), "SASL authentication failed: not-authorized");
    }
    let none = SaslFailure {
        condition: None,
        text: None,
    };
    assert_eq!(
        write_sasl_failure(&none),
        "<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>"
    );
    let el = parse("<failure xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
    assert!(matches!(
        SaslFailure::from_element(el.root()),
        Err(MalformedError::WrongElement { .. })
    ));
    assert_eq!(SASL_NS, "urn:ietf:params:xml:ns:xmpp-sasl");
}

// ---------------------------------------------------------------- application conditions

#[test]
fn application_conditions_are_copied_whole_and_declare_their_namespace() {
    let iq = parse(
        "<iq type='error' id='1' xmlns:p='urn:prefixed'><error type='modify'>\
         <bad-request xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>\
         <p:limits max='10' p:unit='s'><p:item>a &amp; b</p:item><plain/></p:limits>\
         </error></iq>",
    );
    let e = StanzaError::from_element(iq.get_child("error", "jabber:client").unwrap()).unwrap();
    let app = e.app_specific.clone().unwrap();
    assert_eq!((app.ns(), app.name()), ("urn:prefixed", "limits"));
    assert_eq!(
        String::from_utf8_lossy(app.xml()),
        "<limits xmlns='urn:prefixed' max='10' xmlns:p='urn:prefixed' p:unit='s'>\
         <item>a &amp; b</item><plain xmlns='jabber:client'/></limits>"
    );
    // Written into another error and read back, it is the same.
    let again = read_stanza_error(write_stanza_error(&e).as_bytes());
    assert_eq!(again, e);
    assert_eq!(AppCondition::new("urn:x", "y").xml(), b"<y xmlns='urn:x'/>");
    assert_eq!(format!("{app:?}"), String::from_utf8_lossy(app.xml()));
}

// ---------------------------------------------------------------- snapshots

#[test]
fn snapshots_of_serialized_errors() {
    let e = StreamError::see_other_host("[2001:db8::9]:5222").with_text(Text::with_lang(
        "en",
        "Moving to a bigger box & faster <links>",
    ));
    insta::assert_snapshot!("stream_error_see_other_host", write_stream_error(&e));

    let e = StreamError::new(StreamErrorCondition::PolicyViolation)
        .with_text(Text::new("element larger than 262144 bytes"))
        .with_app_specific(AppCondition::new("urn:example:limits", "too-big"));
    insta::assert_snapshot!("stream_error_policy_violation", write_stream_error(&e));

    let e = StanzaError::new(StanzaErrorCondition::Redirect(Some(
        "xmpp:characters@conference.example.org".into(),
    )))
    .with_by("conference.example.org".parse().unwrap())
    .with_text(Text::with_lang(
        "en",
        "Room moved: 'characters' now lives elsewhere",
    ));
    insta::assert_snapshot!("stanza_error_redirect", write_stanza_error(&e));

    let e = StanzaError::new(StanzaErrorCondition::ResourceConstraint)
        .with_type(ErrorType::Wait)
        .with_app_specific(AppCondition::new(
            "http://jabber.org/protocol/pubsub#errors",
            "max-items-exceeded",
        ));
    insta::assert_snapshot!("stanza_error_app_specific", write_stanza_error(&e));

    let f = SaslFailure::new(SaslFailureCondition::NotAuthorized)
        .with_text(Text::with_lang("en", "Wrong password\r\nor user"));
    insta::assert_snapshot!("sasl_failure_not_authorized", write_sasl_failure(&f));
}

// ---------------------------------------------------------------- properties

fn xml_text() -> impl Strategy<Value = String> {
    let ch = prop_oneof![
        6 => prop::char::range('a', 'z'),
        2 => prop::sample::select(vec![' ', '&', '<', '>', '"', '\'', ']', '\n', '\t', '\r', '=']),
        2 => prop::sample::select(vec!['é', 'ß', 'Ж', '€', '中', '😀', '\u{10FFFF}', '\u{FFFD}']),
    ];
    prop::collection::vec(ch, 0..24).prop_map(|v| v.into_iter().collect())
}

fn text() -> impl Strategy<Value = Option<Text>> {
    prop::option::of(
        (prop::option::of(xml_text()), xml_text()).prop_map(|(lang, text)| Text {
            lang: lang.map(Cow::Owned),
            text: Cow::Owned(text),
        }),
    )
}

fn jid() -> impl Strategy<Value = Jid> {
    (
        prop::option::of("[a-z0-9.]{1,8}"),
        "[a-z]{1,8}(\\.[a-z]{2,5})?",
        prop::option::of("[A-Za-z0-9 @/]{1,8}"),
    )
        .prop_filter_map("valid JID", |(l, d, r)| {
            Jid::new(l.as_deref(), &d, r.as_deref()).ok()
        })
}

fn app_condition() -> impl Strategy<Value = Option<AppCondition>> {
    let complex = parse(
        "<iq xmlns:q='urn:q'><q:stats n='1 &amp; 2'><q:one/>text<two xmlns='urn:two' \
         q:a='&lt;'/></q:stats></iq>",
    );
    let complex = AppCondition::from_element(complex.children().next().unwrap());
    prop::option::of(prop::sample::select(vec![
        AppCondition::new("http://example.org/ns", "escape-your-data"),
        AppCondition::new("urn:xmpp:errors:é", "ünïcode-name"),
        complex,
    ]))
}

fn address() -> impl Strategy<Value = String> {
    "[a-z]{1,10}(\\.[a-z]{2,5})?(:[0-9]{1,5})?"
}

fn stream_error() -> impl Strategy<Value = StreamError> {
    (
        prop::sample::select(StreamErrorCondition::ALL.to_vec()),
        text(),
        prop::option::of(address()),
        app_condition(),
    )
        .prop_map(|(condition, text, host, app_specific)| StreamError {
            condition,
            text,
            see_other_host: host.filter(|_| condition == StreamErrorCondition::SeeOtherHost),
            app_specific,
        })
}

fn stanza_error_condition() -> impl Strategy<Value = StanzaErrorCondition> {
    (
        prop::sample::select(StanzaErrorCondition::ALL.to_vec()),
        prop::option::of("xmpp:[a-z]{1,8}@[a-z]{1,8}\\.example(\\?join)?"),
    )
        .prop_map(|(c, uri)| match c {
            StanzaErrorCondition::Gone(_) => StanzaErrorCondition::Gone(uri),
            StanzaErrorCondition::Redirect(_) => StanzaErrorCondition::Redirect(uri),
            other => other,
        })
}

fn stanza_error() -> impl Strategy<Value = StanzaError> {
    (
        prop::sample::select(ErrorType::ALL.to_vec()),
        stanza_error_condition(),
        prop::option::of(jid()),
        text(),
        app_condition(),
    )
        .prop_map(|(type_, condition, by, text, app_specific)| StanzaError {
            type_,
            condition,
            by,
            text,
            app_specific,
        })
}

fn sasl_failure() -> impl Strategy<Value = SaslFailure> {
    (
        // A failure read back always has a condition (RFC 6120 section 6.5), so only those
        // that name one round-trip.
        prop::sample::select(SaslFailureCondition::ALL.to_vec()).prop_map(Some),
        text(),
    )
        .prop_map(|(condition, text)| SaslFailure { condition, text })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn stream_errors_round_trip(e in stream_error()) {
        let xml = write_stream_error(&e);
        prop_assert_eq!(read_stream_error(xml.as_bytes()), e);
    }

    #[test]
    fn stanza_errors_round_trip(
        e in stanza_error(),
        ns in prop::sample::select(vec!["jabber:client", "jabber:server", "jabber:component:accept"]),
    ) {
        let xml = write_stanza_error(&e);
        prop_assert_eq!(read_stanza_error_in(ns, xml.as_bytes()), e);
    }

    #[test]
    fn sasl_failures_round_trip(f in sasl_failure()) {
        let xml = write_sasl_failure(&f);
        prop_assert_eq!(read_sasl_failure(xml.as_bytes()), f);
    }
}
