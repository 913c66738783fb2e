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

/// Is an XML boolean attribute true (`true` or `1`)?
pub(crate) fn is_true(el: ElementRef<'_>, attr: &str) -> bool {
    matches!(el.attr(attr).as_deref(), Some("true" | "1"))
}

/// A non-negative integer attribute (`max`), `None` when missing or not one.
pub(crate) fn read_u32(el: ElementRef<'_>, attr: &str) -> Option<u32> {
    el.attr(attr)?.parse().ok()
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
        max: read_u32(el, "max"),
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
        w.attr("id", id)
            .attr("resume", "true")
            .attr("max", &max.to_string());
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
