//! Stream resumption (XEP-0198 section 5): the state a broken session leaves behind, and the
//! elements that carry it (`<enable resume/>`, `<enabled id resume max location/>`,
//! `<resume previd h/>`, `<resumed previd h/>`, `<failed h/>`).
//!
//! Both roles detach the same [`ResumptionState`] once their stream is over, and a new
//! session of either role takes one: the client before `open`, the server when the
//! embedder answers its `ResumeRequest`. What it holds is what the XEP says both sides keep:
//! the stream management id, the two counters, and the stanzas the peer had not acknowledged,
//! as the frozen bytes that went out (never copied).

use bytes::Bytes;

use super::SM_NS;
use crate::jid::FullJid;
use crate::xml::{ElementRef, Writer};

/// What a session with resumable stream management leaves when its stream ends, for the
/// next session to resume it (XEP-0198 section 5); see `Client::take_resumption_state`
/// and `Server::take_resumption_state`.
///
/// The embedder keeps it for at most the `max` the server announced (a server drops it
/// after its resumption timeout and answers a later `<resume/>` with `item-not-found`).
/// Its `Debug` output shows how many stanzas it holds, not what they say.
#[derive(Clone, PartialEq, Eq)]
pub struct ResumptionState {
    /// The stream management id (`<enabled id/>`), the `previd` of the resumption.
    pub id: String,
    /// The full JID the session was bound to: a resumed session has it again.
    pub jid: FullJid,
    /// Our `h`: how many of the peer's stanzas this side handled, modulo 2^32.
    pub handled: u32,
    /// The peer's latest `h`: how many of our stanzas it acknowledged, modulo 2^32.
    pub acked: u32,
    /// Our stanzas the peer had not acknowledged, oldest first, as sent (serialized, in
    /// `jabber:client`): after a successful resumption they are sent again, after a failed
    /// one the embedder decides (they may be lost).
    pub unacked: Vec<Bytes>,
    /// Where the server asked to be reconnected to (`<enabled location/>`), if it said.
    pub location: Option<String>,
    /// The longest the server keeps the session for resumption, in seconds
    /// (`<enabled max/>`), if it said.
    pub max: Option<u32>,
}

impl core::fmt::Debug for ResumptionState {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ResumptionState")
            .field("id", &self.id)
            .field("jid", &self.jid)
            .field("handled", &self.handled)
            .field("acked", &self.acked)
            .field("unacked", &self.unacked.len())
            .field("location", &self.location)
            .field("max", &self.max)
            .finish()
    }
}

/// The resumable part of stream management, once `<enabled resume/>` gave an id.
#[derive(Debug, Clone, Default)]
pub(crate) struct Resumable {
    pub id: String,
    pub location: Option<String>,
    pub max: Option<u32>,
}

/// Is an XML boolean attribute true (`true` or `1`; xs:boolean collapses white space)?
pub(crate) fn is_true(el: ElementRef<'_>, attr: &str) -> bool {
    el.attr(attr)
        .is_some_and(|v| matches!(v.trim_matches([' ', '\t', '\n', '\r']), "true" | "1"))
}

/// The `max` attribute of `<enable/>` or `<enabled/>`: an xs:positiveInteger (XEP-0198
/// section 11), `None` when missing, 0, or not one (beyond 2^32 - 1 too: no session is
/// kept that long).
pub(crate) fn read_max(el: ElementRef<'_>) -> Option<u32> {
    el.attr("max")?
        .trim()
        .parse()
        .ok()
        .filter(|&max: &u32| max > 0)
}

/// What `<enabled/>` says about resumption: `None` without `resume` or `id`.
#[cfg(feature = "client")]
pub(crate) fn read_enabled(el: ElementRef<'_>) -> Option<Resumable> {
    let id = el.attr("id")?.into_owned();
    if id.is_empty() || !is_true(el, "resume") {
        return None;
    }
    Some(Resumable {
        id,
        location: el.attr("location").map(|l| l.into_owned()),
        max: read_max(el),
    })
}

/// Writes `<enable/>`, with `resume='true'` when resumption is asked for.
#[cfg(feature = "client")]
pub(crate) fn write_enable(w: &mut Writer<'_>, resume: bool) {
    w.start("enable").xmlns(SM_NS);
    if resume {
        w.attr("resume", "true");
    }
    w.end("enable");
}

/// Writes `<enabled/>`, with the id and `max` of a resumable session.
#[cfg(feature = "server")]
pub(crate) fn write_enabled(w: &mut Writer<'_>, resumable: Option<(&str, u32)>) {
    w.start("enabled").xmlns(SM_NS);
    if let Some((id, max)) = resumable {
        w.attr("id", id).attr("resume", "true");
        // An xs:positiveInteger (XEP-0198 section 11): 0 is left out.
        if max > 0 {
            w.attr("max", &max.to_string());
        }
    }
    w.end("enabled");
}

/// Writes `<resume previd h/>` (client) or `<resumed previd h/>` (server).
pub(crate) fn write_resume(w: &mut Writer<'_>, name: &str, previd: &str, h: u32) {
    w.start(name)
        .xmlns(SM_NS)
        .attr("previd", previd)
        .attr("h", &h.to_string())
        .end(name);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml::parse_element;

    fn enable(attrs: &str) -> crate::xml::Element {
        parse_element(
            SM_NS,
            format!("<enable xmlns='{SM_NS}' {attrs}/>").as_bytes(),
        )
        .unwrap()
    }

    #[test]
    fn resume_is_an_xs_boolean() {
        for yes in [
            "resume='true'",
            "resume='1'",
            "resume=' true '",
            "resume='\t1\n'",
        ] {
            assert!(is_true(enable(yes).root(), "resume"), "{yes}");
        }
        for no in [
            "",
            "resume='false'",
            "resume='0'",
            "resume='TRUE'",
            "resume='yes'",
        ] {
            assert!(!is_true(enable(no).root(), "resume"), "{no}");
        }
    }

    #[test]
    fn max_is_an_xs_positive_integer() {
        assert_eq!(read_max(enable("max='300'").root()), Some(300));
        assert_eq!(read_max(enable("max=' 60 '").root()), Some(60));
        for no in ["", "max='0'", "max='-5'", "max='x'", "max='4294967296'"] {
            assert_eq!(read_max(enable(no).root()), None, "{no}");
        }
    }

    #[cfg(feature = "server")]
    #[test]
    fn enabled_never_announces_a_max_of_zero() {
        let mut buf = bytes::BytesMut::new();
        write_enabled(&mut Writer::new(&mut buf), Some(("id1", 0)));
        assert_eq!(
            &buf[..],
            b"<enabled xmlns='urn:xmpp:sm:3' id='id1' resume='true'/>"
        );
    }
}
