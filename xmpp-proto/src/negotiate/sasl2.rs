//! SASL2 (XEP-0388, `urn:xmpp:sasl:2`) and Bind 2 (XEP-0386, `urn:xmpp:bind:0`): the
//! framing both sides share. The exchange itself is the one of [`super::sasl_client`] and
//! [`super::sasl_server`], which run every mechanism of [`crate::sasl`] unchanged through
//! either profile ([`Profile`]); this file holds what SASL2 adds around it.
//!
//! Versions followed: XEP-0388 1.0.x and XEP-0386 1.1.0 as deployed (Prosody's
//! `mod_sasl2`, Conversations, Monal): the xsf/xeps copy stored for this work was XEP-0388
//! 0.4.0 and XEP-0386 1.0.0; the differences that matter here are the 1.0 ones: the
//! `<inline/>` list in `<authentication/>` (section 2.1), `<user-agent id>` with
//! `<software/>` and `<device/>` (section 2.3), `<authorization-identifier/>` (not Bind 2
//! 1.0.0's typo `<authorization-identity/>`), and task exchanges carried by `<task-data/>`.
//!
//! Checked against a deployed server (`interop/run`): Prosody 0.12.3 with Debian bookworm's
//! prosody-modules (hg 2023-02-23: `mod_sasl2`, `mod_sasl2_bind2`, `mod_sasl2_fast`)
//! speaks this wire format, with these differences, all within what the XEPs allow:
//! without `mod_sasl2_sm` (which needs Prosody trunk's `mod_smacks`) its Bind 2 offers no
//! stream management inline, so a client that wants it enables it the XEP-0198 way, on
//! the features after `<success/>` and before going online (the client's `Bound2` state;
//! vector `client/sasl2-bind2-sm-after-features-prosody.toml`, recorded); those features
//! offer RFC 6120 bind again, as required, to a session Bind 2 has bound (the client
//! leaves it alone); its resource is `tag~` and a hash of the user agent id; its FAST
//! offers only `HT-SHA-256-NONE` (0.12 exports no channel binding) and needs the
//! `<user-agent id>` to find a token.
//!
//! - **Initiation** (XEP-0388 section 2.3): `<authenticate mechanism>` with
//!   `<initial-response/>` (plain base64: SASL2 has no `=` special case; an empty element is
//!   an empty response, no element none), `<user-agent/>`, and inline requests (Bind 2's
//!   `<bind/>`).
//! - **Challenges** (section 2.4): `<challenge/>` / `<response/>`, base64 text.
//! - **Outcome** (section 2.5): `<success/>` with `<additional-data/>` (the mechanism's
//!   final data, SCRAM's server signature, which the client verifies) and
//!   `<authorization-identifier/>` (a bare JID, or the full JID once Bind 2 bound one), then
//!   new `<stream:features/>` **without a stream restart**; `<failure/>` with an RFC 6120
//!   section 6.5 condition (in the legacy SASL namespace), optional application-specific
//!   conditions and `<text/>`; `<continue/>` with `<tasks/>`, answered with `<next task/>`
//!   and `<task-data/>` both ways until `<success/>`.
//! - **Bind 2** (XEP-0386): the `<bind/>` inline feature, the client's `<bind><tag/></bind>`,
//!   the server's `<bound/>` inside `<success/>`, with stream management's `<enabled/>` or
//!   `<failed/>` when `<enable/>` was inside the bind request (XEP-0198, `urn:xmpp:sm:3`).

use crate::error::{SASL_NS, SaslFailure, StanzaErrorCondition, Text};
use crate::sasl::ht::{FastToken, HtMechanism};
use crate::stream::{BIND2_NS, FAST_NS, SASL2_NS, SM_NS};
use crate::xml::{Element, ElementRef, Writer};

/// Which SASL profile an exchange speaks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) enum Profile {
    /// RFC 6120 section 6: `<auth/>`, restart after `<success/>`.
    #[default]
    Rfc6120,
    /// XEP-0388: `<authenticate/>`, no restart.
    Sasl2,
}

impl Profile {
    /// Decodes the base64 data of one of the profile's elements: strictly for RFC 6120,
    /// which rejects every character outside the alphabet (section 13.9.1); for SASL2, with
    /// white space ignored, since XEP-0388 section 2.2 only says the data "SHOULD NOT
    /// include any line wrapping or other whitespace", its examples wrap it, and its schema
    /// types it `xs:base64Binary`, which allows white space.
    pub fn decode(&self, text: &str) -> Result<Vec<u8>, crate::sasl::IncorrectEncoding> {
        match self {
            Profile::Rfc6120 => crate::sasl::decode_payload(text),
            Profile::Sasl2 => decode(text),
        }
    }

    /// The namespace of the profile's elements.
    pub fn ns(&self) -> &'static str {
        match self {
            Profile::Rfc6120 => SASL_NS,
            Profile::Sasl2 => SASL2_NS,
        }
    }
}

/// The client software and device a SASL2 client names (XEP-0388 section 2.3,
/// `<user-agent id>`). The id is a stable identifier of this installation (a UUID, kept by
/// the embedder): servers use it to replace the earlier session of the same client (XEP-0386
/// section 2.2) and to tie FAST tokens to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserAgent {
    /// The stable id of this installation: XEP-0388 section 2.3 RECOMMENDS the attribute
    /// and requires that it "MUST be a UUID v4"; an id that is not one (in its textual
    /// form, RFC 9562 section 4) is left out of `<user-agent/>`.
    pub id: String,
    /// `<software/>`: the client's name, such as `AwesomeXMPP`.
    pub software: Option<String>,
    /// `<device/>`: the device's name, such as `Kiva's Phone`.
    pub device: Option<String>,
}

impl UserAgent {
    fn write(&self, w: &mut Writer<'_>) {
        w.start("user-agent");
        if is_uuid_v4(&self.id) {
            w.attr("id", &self.id);
        }
        if let Some(s) = &self.software {
            w.start("software").text(s).end("software");
        }
        if let Some(d) = &self.device {
            w.start("device").text(d).end("device");
        }
        w.end("user-agent");
    }

    fn read(el: ElementRef<'_>) -> UserAgent {
        let child = |name| {
            el.get_child(name, SASL2_NS)
                .map(|c| c.text().trim().to_owned())
        };
        UserAgent {
            id: el.attr("id").map(|i| i.into_owned()).unwrap_or_default(),
            software: child("software"),
            device: child("device"),
        }
    }
}

/// A Bind 2 request (XEP-0386 section 2.2): `<bind xmlns='urn:xmpp:bind:0'>` inside
/// `<authenticate/>`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Bind2Request {
    /// `<tag/>`: the client's short name, the prefix of the resource the server makes.
    pub tag: Option<String>,
    /// `<enable xmlns='urn:xmpp:sm:3'/>` inside: stream management enabled with the bind,
    /// `Some(true)` with `resume='true'`.
    pub sm: Option<bool>,
}

impl Bind2Request {
    fn write(&self, w: &mut Writer<'_>) {
        w.start("bind").xmlns(BIND2_NS);
        if let Some(tag) = &self.tag {
            w.start("tag").text(tag).end("tag");
        }
        if let Some(resume) = self.sm {
            w.start("enable").xmlns(SM_NS);
            if resume {
                w.attr("resume", "true");
            }
            w.end("enable");
        }
        w.end("bind");
    }

    fn read(el: ElementRef<'_>) -> Bind2Request {
        Bind2Request {
            tag: el
                .get_child("tag", BIND2_NS)
                .map(|t| t.text().trim().to_owned())
                .filter(|t| !t.is_empty()),
            sm: el
                .get_child("enable", SM_NS)
                .map(|e| e.attr("resume").is_some_and(|r| r == "true" || r == "1")),
        }
    }
}

/// What a SASL2 client sends inside `<authenticate/>` beyond the mechanism: the same for
/// every attempt of the step.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Inline {
    pub user_agent: Option<UserAgent>,
    pub bind: Option<Bind2Request>,
    /// XEP-0198 resumption inside `<authenticate/>`: the previous session's id and our `h`.
    pub resume: Option<(String, u32)>,
    /// FAST (XEP-0484 section 2.2): ask for a token for this mechanism.
    pub request_token: Option<HtMechanism>,
    /// FAST (XEP-0484 section 2.4): this login uses a token (`<fast/>`), with its `count`
    /// and `invalidate`.
    pub fast: Option<(Option<u32>, bool)>,
}

/// Writes `<authenticate mechanism>` (XEP-0388 section 2.3).
pub(crate) fn write_authenticate(
    w: &mut Writer<'_>,
    mechanism: &str,
    initial: Option<&[u8]>,
    inline: &Inline,
) {
    w.start("authenticate")
        .xmlns(SASL2_NS)
        .attr("mechanism", mechanism);
    if let Some(data) = initial {
        w.start("initial-response")
            .text(&crate::sasl::encode_data(data))
            .end("initial-response");
    }
    if let Some(ua) = &inline.user_agent {
        ua.write(w);
    }
    if let Some((previd, h)) = &inline.resume {
        crate::stream::management::write_resume(w, "resume", previd, *h);
    }
    if let Some(bind) = &inline.bind {
        bind.write(w);
    }
    if let Some(m) = inline.request_token {
        w.start("request-token")
            .xmlns(FAST_NS)
            .attr("mechanism", m.name())
            .end("request-token");
    }
    if let Some((count, invalidate)) = inline.fast {
        w.start("fast").xmlns(FAST_NS);
        if let Some(count) = count {
            w.attr("count", &count.to_string());
        }
        if invalidate {
            w.attr("invalidate", "true");
        }
        w.end("fast");
    }
    w.end("authenticate");
}

/// A client's `<authenticate/>` as the server reads it.
#[derive(Debug)]
pub(crate) struct Authenticate {
    pub mechanism: String,
    /// `None`: no `<initial-response/>`; `Some(Err(()))`: not base64.
    pub initial: Option<Result<Vec<u8>, ()>>,
    pub user_agent: Option<UserAgent>,
    pub bind: Option<Bind2Request>,
    /// XEP-0198 `<resume previd h/>` inside (`None` values: the attribute is missing or
    /// not an `xs:unsignedInt`).
    pub resume: Option<(Option<String>, Option<u32>)>,
    /// FAST `<request-token mechanism/>`: the mechanism named, if it is one.
    pub request_token: Option<Option<HtMechanism>>,
    /// FAST `<fast count invalidate/>`.
    pub fast: Option<(Option<u32>, bool)>,
}

impl Authenticate {
    pub fn read(el: &Element) -> Authenticate {
        let root = el.root();
        Authenticate {
            mechanism: el
                .attr("mechanism")
                .map(|m| m.into_owned())
                .unwrap_or_default(),
            initial: root
                .get_child("initial-response", SASL2_NS)
                .map(|i| decode(&i.text()).map_err(|_| ())),
            user_agent: root.get_child("user-agent", SASL2_NS).map(UserAgent::read),
            bind: root.get_child("bind", BIND2_NS).map(Bind2Request::read),
            resume: root.get_child("resume", SM_NS).map(|r| {
                let previd = r.attr("previd").map(|p| p.into_owned());
                let h = r.attr("h").and_then(|h| h.parse().ok());
                (previd, h)
            }),
            request_token: root
                .get_child("request-token", FAST_NS)
                .map(|r| r.attr("mechanism").and_then(|m| m.parse().ok())),
            fast: root.get_child("fast", FAST_NS).map(|f| {
                let count = f.attr("count").and_then(|c| c.parse().ok());
                let invalidate = f
                    .attr("invalidate")
                    .is_some_and(|i| i == "true" || i == "1");
                (count, invalidate)
            }),
        }
    }
}

/// The `<additional-data/>` of a `<success/>` or `<continue/>`: empty when absent (XEP-0388
/// section 2.2: "the element is simply not included"), `Err` when not base64.
pub(crate) fn additional_data(el: ElementRef<'_>) -> Result<Vec<u8>, ()> {
    match el.get_child("additional-data", SASL2_NS) {
        Some(d) => decode(&d.text()).map_err(|_| ()),
        None => Ok(Vec::new()),
    }
}

/// The `<authorization-identifier/>` of a `<success/>`.
pub(crate) fn authorization_identifier(el: ElementRef<'_>) -> Option<String> {
    // Bind 2 1.0.0 and FAST 0.1.0 wrote `<authorization-identity/>` in their examples;
    // servers that followed them are read too.
    el.get_child("authorization-identifier", SASL2_NS)
        .or_else(|| el.get_child("authorization-identity", SASL2_NS))
        .map(|a| a.text().trim().to_owned())
}

/// A SASL2 `<failure/>` (XEP-0388 section 2.5.2): the RFC 6120 condition is in the legacy
/// SASL namespace, `<text/>` in SASL2's.
pub(crate) fn read_failure(el: ElementRef<'_>) -> SaslFailure {
    let condition = el
        .children()
        .filter(|c| c.ns() == SASL_NS)
        .find_map(|c| c.name().parse().ok());
    let text = el.get_child("text", SASL2_NS).map(Text::read);
    SaslFailure { condition, text }
}

/// Writes a SASL2 `<failure/>`; `app`, a stanza error condition, says why an inline
/// request (a Bind 2 bind) failed, as the application-specific condition section 2.5.2
/// allows.
pub(crate) fn write_failure(
    w: &mut Writer<'_>,
    failure: &SaslFailure,
    app: Option<&StanzaErrorCondition>,
) {
    w.start("failure").xmlns(SASL2_NS);
    if let Some(c) = failure.condition {
        w.start(c.as_str()).xmlns(SASL_NS).end(c.as_str());
    }
    if let Some(app) = app {
        let name = app.as_str();
        w.start(name)
            .xmlns(crate::error::STANZA_ERRORS_NS)
            .end(name);
    }
    if let Some(text) = &failure.text {
        text.write(w, None);
    }
    w.end("failure");
}

/// The tasks a `<continue/>` names (XEP-0388 section 2.5.3).
pub(crate) fn tasks(el: ElementRef<'_>) -> Vec<String> {
    el.get_child("tasks", SASL2_NS)
        .map(|t| {
            t.children()
                .filter(|c| c.is("task", SASL2_NS))
                .map(|c| c.text().trim().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Writes `<continue/>` with the tasks the client must choose from.
pub(crate) fn write_continue(w: &mut Writer<'_>, additional: &[u8], tasks: &[String]) {
    w.start("continue").xmlns(SASL2_NS);
    if !additional.is_empty() {
        w.start("additional-data")
            .text(&crate::sasl::encode_data(additional))
            .end("additional-data");
    }
    w.start("tasks");
    for t in tasks {
        w.start("task").text(t).end("task");
    }
    w.end("tasks");
    w.end("continue");
}

/// Writes `<task-data/>` around `payload` (the task's own elements, in their namespaces).
pub(crate) fn write_task_data(w: &mut Writer<'_>, payload: &[Element]) {
    w.start("task-data").xmlns(SASL2_NS);
    for p in payload {
        w.element(p.root(), SASL2_NS);
    }
    w.end("task-data");
}

/// Writes FAST's `<token expiry token/>` (XEP-0484 section 2.3).
pub(crate) fn write_token(w: &mut Writer<'_>, token: &FastToken) {
    w.start("token")
        .xmlns(FAST_NS)
        .attr("expiry", &token.expiry)
        .attr("token", &token.secret)
        .end("token");
}

/// FAST's `<token/>` in a `<success/>`, for `mechanism` (the one the client asked for).
pub(crate) fn read_token(el: ElementRef<'_>, mechanism: HtMechanism) -> Option<FastToken> {
    let t = el.get_child("token", FAST_NS)?;
    Some(FastToken {
        mechanism,
        secret: t.attr("token")?.into_owned(),
        expiry: t.attr("expiry").map(|e| e.into_owned()).unwrap_or_default(),
    })
}

/// Writes the SASL2 `<success/>`; `bound` writes Bind 2's `<bound/>` (or other inline
/// answers) inside it.
pub(crate) fn write_success(
    w: &mut Writer<'_>,
    additional: &[u8],
    authorization_identifier: &str,
    token: Option<&FastToken>,
    inline: impl FnOnce(&mut Writer<'_>),
) {
    w.start("success").xmlns(SASL2_NS);
    if !additional.is_empty() {
        w.start("additional-data")
            .text(&crate::sasl::encode_data(additional))
            .end("additional-data");
    }
    w.start("authorization-identifier")
        .text(authorization_identifier)
        .end("authorization-identifier");
    inline(w);
    if let Some(token) = token {
        write_token(w, token);
    }
    w.end("success");
}

/// Writes the SASL2 `<authentication/>` feature (XEP-0388 section 2.1) with what may be
/// negotiated inline: Bind 2 (with stream management inside it when `bind2_sm`) and
/// stream-management resumption.
pub(crate) fn write_feature(
    w: &mut Writer<'_>,
    mechanisms: &[crate::sasl::Mechanism],
    bind2: bool,
    bind2_sm: bool,
    sm: bool,
    fast: &[HtMechanism],
) {
    w.start("authentication").xmlns(SASL2_NS);
    for m in mechanisms {
        w.start("mechanism").text(m.name()).end("mechanism");
    }
    if bind2 || sm || !fast.is_empty() {
        w.start("inline");
        if !fast.is_empty() {
            w.start("fast").xmlns(FAST_NS);
            for m in fast {
                w.start("mechanism").text(m.name()).end("mechanism");
            }
            w.end("fast");
        }
        if bind2 {
            w.start("bind").xmlns(BIND2_NS);
            if bind2_sm {
                w.start("inline");
                w.start("feature").attr("var", SM_NS).end("feature");
                w.end("inline");
            }
            w.end("bind");
        }
        if sm {
            w.start("sm").xmlns(SM_NS).end("sm");
        }
        w.end("inline");
    }
    w.end("authentication");
}

/// Is `id` a UUID of version 4 in its textual form (RFC 9562 sections 4 and 5.4:
/// `xxxxxxxx-xxxx-4xxx-Yxxx-xxxxxxxxxxxx`, hex digits, Y the variant 8, 9, a or b)?
fn is_uuid_v4(id: &str) -> bool {
    let b = id.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, &c)| match i {
            8 | 13 | 18 | 23 => c == b'-',
            14 => c == b'4',
            19 => matches!(c.to_ascii_lowercase(), b'8' | b'9' | b'a' | b'b'),
            _ => c.is_ascii_hexdigit(),
        })
}

/// SASL2 base64 (XEP-0388 section 2.2), white space ignored: see [`Profile::decode`].
fn decode(text: &str) -> Result<Vec<u8>, crate::sasl::IncorrectEncoding> {
    if text.bytes().any(|b| b.is_ascii_whitespace()) {
        let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        crate::sasl::decode_payload(&compact)
    } else {
        crate::sasl::decode_payload(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml::parse_element;
    use bytes::BytesMut;

    fn written(f: impl FnOnce(&mut Writer<'_>)) -> String {
        let mut out = BytesMut::new();
        let mut w = Writer::new(&mut out);
        f(&mut w);
        w.finish();
        String::from_utf8(out.to_vec()).unwrap()
    }

    #[test]
    fn authenticate_reads_back_what_the_client_writes() {
        let inline = Inline {
            user_agent: Some(UserAgent {
                id: "d4565fa7-4d72-4749-b3d3-740edbf87770".into(),
                software: Some("AwesomeXMPP".into()),
                device: Some("Kiva's Phone".into()),
            }),
            bind: Some(Bind2Request {
                tag: Some("AwesomeXMPP".into()),
                sm: Some(true),
            }),
            resume: Some(("some-long-sm-id".into(), 7)),
            request_token: Some(HtMechanism::Sha256Endp),
            fast: Some((Some(123), true)),
        };
        let xml = written(|w| write_authenticate(w, "PLAIN", Some(b"\0u\0p"), &inline));
        let el = parse_element(SASL2_NS, xml.as_bytes()).unwrap();
        let read = Authenticate::read(&el);
        assert_eq!(read.mechanism, "PLAIN");
        assert_eq!(read.initial, Some(Ok(b"\0u\0p".to_vec())));
        assert_eq!(read.user_agent, inline.user_agent);
        assert_eq!(read.bind, inline.bind);
        assert_eq!(read.resume, Some((Some("some-long-sm-id".into()), Some(7))));
        assert_eq!(read.request_token, Some(Some(HtMechanism::Sha256Endp)));
        assert_eq!(read.fast, Some((Some(123), true)));
    }

    #[test]
    fn empty_initial_response_is_an_empty_element_not_absent() {
        let xml = written(|w| write_authenticate(w, "EXTERNAL", Some(b""), &Inline::default()));
        assert!(!xml.contains(">=<"), "no RFC 6120 '=' in SASL2: {xml}");
        let el = parse_element(SASL2_NS, xml.as_bytes()).unwrap();
        assert_eq!(Authenticate::read(&el).initial, Some(Ok(Vec::new())));
        let xml = written(|w| write_authenticate(w, "EXTERNAL", None, &Inline::default()));
        let el = parse_element(SASL2_NS, xml.as_bytes()).unwrap();
        assert_eq!(Authenticate::read(&el).initial, None);
    }

    #[test]
    fn failure_reads_the_legacy_condition_and_sasl2_text() {
        let el = parse_element(
            SASL2_NS,
            b"<failure xmlns='urn:xmpp:sasl:2'><aborted xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>\
              <optional-application-specific xmlns='urn:something:else'/>\
              <text>This is a terrible example.</text></failure>",
        )
        .unwrap();
        let f = read_failure(el.root());
        assert_eq!(
            f.condition,
            Some(crate::error::SaslFailureCondition::Aborted)
        );
        assert_eq!(
            f.text.map(|t| t.text.into_owned()).as_deref(),
            Some("This is a terrible example.")
        );
    }
}
