//! What the c2s targets share: the login, the setup, stanzas, stream headers and SASL
//! elements of both profiles (RFC 6120 SASL and XEP-0388 SASL2).

use super::*;

use arbitrary::Arbitrary;
use xmpp_sansio::client::ResumptionState;
use xmpp_sansio::sasl::Mechanism;
use xmpp_sansio::sasl::ht::{FastToken, HtMechanism};
use xmpp_sansio::xml::Element;

/// How the c2s login goes (the SASL profile and mechanism).
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Login {
    /// RFC 6120 SASL, PLAIN.
    Plain,
    /// RFC 6120 SASL, SCRAM-SHA-1.
    ScramSha1,
    /// RFC 6120 SASL, SCRAM-SHA-256.
    ScramSha256,
    /// SASL2 with Bind 2, PLAIN.
    Sasl2Plain,
    /// SASL2 with Bind 2, SCRAM-SHA-256.
    Sasl2Scram,
}

impl Login {
    pub(super) fn mechanism(self) -> Mechanism {
        match self {
            Login::Plain | Login::Sasl2Plain => Mechanism::Plain,
            Login::ScramSha1 => Mechanism::ScramSha1,
            Login::ScramSha256 | Login::Sasl2Scram => Mechanism::ScramSha256,
        }
    }

    pub(super) fn sasl2(self) -> bool {
        matches!(self, Login::Sasl2Plain | Login::Sasl2Scram)
    }
}

/// The c2s setup both c2s targets share.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub struct C2sSetup {
    /// The login.
    pub login: Login,
    /// STARTTLS first (TLS optional; otherwise plain, PLAIN allowed).
    pub starttls: bool,
    /// WebSocket framing (RFC 7395).
    pub websocket: bool,
    /// Enable stream management once online.
    pub sm: bool,
}

/// A password: the right one or not.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Password {
    /// The right one.
    Right,
    /// A wrong one.
    Wrong,
    /// Empty.
    Empty,
}

/// An authorization identity.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Authzid {
    /// None.
    None,
    /// The account's own bare JID.
    Own,
    /// Someone else.
    Other,
    /// Not a JID.
    Bad,
}

/// A stanza a c2s peer sends.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum C2sStanza {
    /// A message to someone.
    Message,
    /// A message with a `from` of another user.
    MessageFromOther,
    /// An iq get with a child.
    IqGet,
    /// An iq result with no child.
    IqResult,
    /// An iq of no valid type.
    IqBadType,
    /// Presence.
    Presence,
    /// A message to a malformed JID.
    BadTo,
    /// An unknown first-level element.
    Unknown,
    /// An error stanza.
    Error,
}

pub(super) fn c2s_stanza(kind: C2sStanza, from: &str, to: &str, n: u32) -> String {
    match kind {
        C2sStanza::Message => format!(
            "<message{from} to='{to}' id='p{n}' type='chat'><body>hi &amp; bye {n}</body></message>"
        ),
        C2sStanza::MessageFromOther => format!(
            "<message from='mallory@evil.example/x' to='{to}' id='p{n}'><body>x</body></message>"
        ),
        C2sStanza::IqGet => {
            format!("<iq{from} type='get' id='p{n}' to='{to}'><ping xmlns='urn:xmpp:ping'/></iq>")
        }
        C2sStanza::IqResult => format!("<iq{from} type='result' id='p{n}'/>"),
        C2sStanza::IqBadType => format!("<iq{from} type='bogus' id='p{n}'><q xmlns='urn:x'/></iq>"),
        C2sStanza::Presence => format!("<presence{from} id='p{n}'><show>away</show></presence>"),
        C2sStanza::BadTo => format!("<message{from} to='a@@b/' id='p{n}'/>"),
        C2sStanza::Unknown => format!("<frob xmlns='urn:example:frob' id='p{n}'/>"),
        C2sStanza::Error => format!(
            "<message{from} type='error' id='p{n}'><error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>"
        ),
    }
}

/// A c2s stream header (or WebSocket `<open/>`).
#[derive(Arbitrary, Debug, Clone, Copy)]
pub struct Header {
    /// The domain: right, another, missing, or with a localpart.
    pub domain: Choice4,
    /// The version: 1.0, 1.1, 2.0 or missing.
    pub version: Choice4,
    /// The content namespace: right, the other role's, or wrong.
    pub namespace: Choice4,
    /// An `xml:lang`.
    pub lang: bool,
}

/// One of four choices, the first the right one.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice4 {
    /// The right one.
    A,
    /// Another.
    B,
    /// Another.
    C,
    /// Another.
    D,
}

impl Header {
    /// Renders the header; `domain_attr` is `to` or `from`, `id` goes in when given.
    pub(super) fn render(
        &self,
        ws: bool,
        ns: &str,
        domain_attr: &str,
        domain: &str,
        id: Option<&str>,
    ) -> String {
        let domain = match self.domain {
            Choice4::A => format!(" {domain_attr}='{domain}'"),
            Choice4::B => format!(" {domain_attr}='other.example'"),
            Choice4::C => String::new(),
            Choice4::D => format!(" {domain_attr}='user@{domain}'"),
        };
        let version = match self.version {
            Choice4::A => " version='1.0'",
            Choice4::B => " version='1.1'",
            Choice4::C => " version='2.0'",
            Choice4::D => "",
        };
        let ns = match self.namespace {
            Choice4::A => ns,
            Choice4::B if ns == "jabber:client" => "jabber:server",
            Choice4::B => "jabber:client",
            Choice4::C => "urn:example:wrong",
            Choice4::D => ns,
        };
        let lang = if self.lang { " xml:lang='fr'" } else { "" };
        let id = id.map(|i| format!(" id='{i}'")).unwrap_or_default();
        if ws {
            format!("<open xmlns='{FRAMING}'{domain}{id}{version}{lang}/>")
        } else {
            format!(
                "<stream:stream xmlns='{ns}' xmlns:stream='{STREAMS}'{domain}{id}{version}{lang}>"
            )
        }
    }

    pub(super) const RIGHT: Header = Header {
        domain: Choice4::A,
        version: Choice4::A,
        namespace: Choice4::A,
        lang: false,
    };
}

/// The FAST token both sides of the fuzzed sessions know.
pub(super) fn fast_token() -> FastToken {
    FastToken {
        mechanism: HtMechanism::Sha256None,
        secret: "fuzz-token".into(),
        expiry: "2030-01-01T00:00:00Z".into(),
    }
}

/// A stream management state to resume (as in `sessions`).
pub(super) fn resumption_state(jid: &str) -> ResumptionState {
    ResumptionState {
        id: "fuzz".into(),
        jid: jid.parse().expect("a full JID"),
        handled: 3,
        acked: 1,
        unacked: vec![xmpp_sansio::bytes::Bytes::from_static(
            b"<message to='romeo@example.net' id='old'><body>again</body></message>",
        )],
        location: None,
        max: Some(60),
    }
}

/// The SASL profile of an element: `Some(false)` RFC 6120, `Some(true)` SASL2.
pub(super) fn sasl_ns(el: &Element) -> Option<bool> {
    match el.ns() {
        SASL => Some(false),
        SASL2 => Some(true),
        _ => None,
    }
}

/// A SASL element of either profile: `<auth/>`-like ones carry their data as text in RFC
/// 6120 and in `<initial-response/>` in SASL2; challenges and responses as text in both;
/// SASL2's `<success/>` in `<additional-data/>`.
pub(super) fn sasl_el(sasl2: bool, name: &str, data: Option<&[u8]>) -> String {
    let ns = if sasl2 { SASL2 } else { SASL };
    match data {
        None => format!("<{name} xmlns='{ns}'/>"),
        Some(d) if d.is_empty() && !sasl2 => format!("<{name} xmlns='{ns}'>=</{name}>"),
        Some(d) => format!("<{name} xmlns='{ns}'>{}</{name}>", b64(d)),
    }
}

/// The unacknowledged queue of a c2s session with stream management, whose limit the
/// setup makes 4: the embedder's stanzas stop at the limit; the core's own replies go past
/// it, and the stream ends as soon as they pass twice the limit (`UnackedLimits`).
pub(super) fn check_unacked(unacked: Option<u32>, closed: bool) {
    let unacked = unacked.unwrap_or(0);
    assert!(
        unacked <= 8 || (unacked == 9 && closed),
        "{unacked} unacknowledged stanzas, over twice the limit of 4"
    );
}
