//! Stream management acknowledgements (XEP-0198 sections 3, 4 and 6), on the engine every
//! role owns: the counters, the `<r/>` / `<a/>` exchange and its errors. Which side enables
//! (the client asks with `<enable/>` once bound, the server answers with `<enabled/>` or
//! `<failed/>`) is the role's; everything after that is here, written once, so that any
//! role (the s2s ones later) gets acknowledgements by creating the counters.
//!
//! Counting (XEP-0198 section 4): only stanzas count (message, presence, iq in the stream's
//! content namespace), never nonzas. Each side counts what it sends from the moment it
//! sends `<enable/>` (client) or `<enabled/>` (server), and what it handles from the moment
//! it receives `<enable/>` (server) or `<enabled/>` (client). `h` is an unsigned 32-bit
//! integer that wraps from 2^32 - 1 to 0, so every count here is a `u32` with wrapping
//! arithmetic, and "how many are unacknowledged" is a wrapping difference.
//!
//! The counters live in a box that exists only once stream management is asked for: a
//! session that never enables it pays one word in its engine.
//!
//! - `queue`: the unacknowledged stanzas, as frozen slices of what went out, and their limits;
//! - `resume`: resumption (section 5), the state a broken session leaves behind.

// The roles that run it are the c2s ones; the XEP-0114 roles build the engine without it.
#![cfg_attr(not(any(feature = "client", feature = "server")), allow(dead_code))]

use std::time::Duration;

use bytes::Bytes;

use crate::error::{AppCondition, StreamError, StreamErrorCondition};
use crate::xml::{Element, Writer, parse_element};

mod queue;
mod resume;

pub(crate) use queue::Unacked;
pub use queue::UnackedLimits;
pub(crate) use resume::Resumable;
pub use resume::ResumptionState;
#[cfg(feature = "server")]
pub(crate) use resume::write_enabled;
pub(crate) use resume::{is_true, read_max, write_resume};
#[cfg(feature = "client")]
pub(crate) use resume::{read_enabled, write_enable};

/// How a role runs stream management: from its configuration.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SmSettings {
    /// `<r/>` after this many stanzas sent since the last one; 0: never for that reason.
    pub request_every: u32,
    /// `<r/>` this long after a stanza went out unacknowledged ([`Timer::Ack`](
    /// crate::stream::timers::Timer::Ack)); `None`: never for that reason.
    pub request_after: Option<Duration>,
    /// The bound of the unacknowledged queue.
    pub limits: UnackedLimits,
}

/// `urn:xmpp:sm:3`, the namespace of XEP-0198.
pub const SM_NS: &str = "urn:xmpp:sm:3";

/// The counters of one stream with stream management (XEP-0198 section 4).
#[derive(Debug, Clone, Default)]
pub(crate) struct Acks {
    /// The stanzas counted in `sent - acked`, kept until acknowledged.
    pub queue: Unacked,
    pub settings: SmSettings,
    /// An `<r/>` is out and its `<a/>` has not come: the timer and a full queue ask no more.
    pub awaiting: bool,
    /// The stanzas the core wrote itself went past twice the queue's limits: the stream is
    /// to end (`resource-constraint`).
    pub overflow: bool,
    /// The session's state to resume from is given, and `<resumed/>` has not come yet
    /// (client), or has not been sent yet: counters hold, the exchange waits.
    pub resuming: bool,
    /// Set once `<enabled/>` gave (or we gave) an id: the session can be resumed. Boxed:
    /// most sessions never resume.
    pub resumable: Option<Box<Resumable>>,
    /// The full JID the session is bound to, kept only when resumption is asked for (a
    /// resumed session has it again).
    pub jid: Option<crate::jid::FullJid>,
    /// Stanzas we sent since counting began, modulo 2^32.
    sent: u32,
    /// The peer's latest `h`: how many of them it said it handled, modulo 2^32.
    acked: u32,
    /// Stanzas we handled since counting began, modulo 2^32; `None` until inbound counting
    /// begins (the client's `<enabled/>` has not come yet).
    handled: Option<u32>,
    /// Ask for an ack (`<r/>`) after this many stanzas sent since the last request; 0:
    /// only when the embedder asks.
    request_every: u32,
    /// Stanzas sent since the last `<r/>`.
    since_request: u32,
}

/// An `<a/>` whose `h` acknowledges more stanzas than were sent (XEP-0198 section 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TooHigh {
    pub h: u32,
    pub sent: u32,
}

impl Acks {
    /// Counters that count what we send from now.
    pub fn new(settings: SmSettings) -> Self {
        Acks {
            request_every: settings.request_every,
            settings,
            ..Acks::default()
        }
    }

    /// Counters and queue from a previous session's state, awaiting resumption.
    pub fn from_state(state: ResumptionState, settings: SmSettings) -> Self {
        let unacked = u32::try_from(state.unacked.len()).unwrap_or(u32::MAX);
        Acks {
            queue: Unacked::from_frozen(state.unacked),
            sent: state.acked.wrapping_add(unacked),
            acked: state.acked,
            handled: Some(state.handled),
            resuming: true,
            resumable: Some(Box::new(Resumable {
                id: state.id,
                location: state.location,
                max: state.max,
            })),
            jid: Some(state.jid),
            ..Acks::new(settings)
        }
    }

    /// The state to resume from: `None` unless resumable and bound. Every pending stanza
    /// must be frozen.
    pub fn take_state(&mut self) -> Option<ResumptionState> {
        let jid = self.jid.take()?;
        let r = self.resumable.take()?;
        Some(ResumptionState {
            id: r.id,
            jid,
            handled: self.handled(),
            acked: self.acked,
            unacked: self.queue.take(),
            location: r.location,
            max: r.max,
        })
    }

    /// Is the queue at its limits for one more stanza of the embedder's?
    pub fn is_full(&self) -> bool {
        let limits = self.settings.limits;
        self.queue.len() >= usize::try_from(limits.max_stanzas).unwrap_or(usize::MAX)
            || (self.queue.len() > 0 && self.queue.bytes() >= limits.max_bytes)
    }

    /// How many more bytes a stanza of the embedder's may take: `None` for any size (the
    /// queue is empty, so even a stanza larger than the limit goes).
    pub fn room(&self) -> Option<usize> {
        (self.queue.len() > 0).then(|| {
            self.settings
                .limits
                .max_bytes
                .saturating_sub(self.queue.bytes())
        })
    }

    /// A stanza was written at `start..end` of the output buffer and counted.
    pub fn queued(&mut self, start: usize, end: usize) {
        self.queue.push_pending(start, end);
        let limits = self.settings.limits;
        let max_count = usize::try_from(limits.max_stanzas).unwrap_or(usize::MAX);
        if self.queue.len() > max_count.saturating_mul(2)
            || self.queue.bytes() > limits.max_bytes.saturating_mul(2)
        {
            self.overflow = true;
        }
    }

    /// The stream ended with the closing handshake (either side first): "a cleanly closed
    /// stream differs from an unfinished stream" (XEP-0198 section 7), its session is over
    /// and is not kept for resumption; what the peer did not acknowledge goes back to the
    /// embedder. A stream that was itself resuming another session ends nothing of it.
    pub fn closed_cleanly(&mut self) {
        if !self.resuming {
            self.resumable = None;
        }
    }

    /// The unacknowledged stanzas, once the session is over for good.
    pub fn take_unacked(&mut self) -> Vec<Bytes> {
        self.queue.take()
    }

    /// Inbound counting begins now.
    pub fn count_inbound(&mut self) {
        self.handled.get_or_insert(0);
    }

    /// Is inbound counting on: may `<r/>` and `<a/>` be exchanged?
    pub fn is_enabled(&self) -> bool {
        self.handled.is_some() && !self.resuming
    }

    /// One stanza was handled.
    pub fn handled_one(&mut self) {
        // Before `<resumed/>` nothing is counted: the previous session's `h` is what the
        // resumption exchanges.
        if self.resuming {
            return;
        }
        if let Some(h) = &mut self.handled {
            *h = h.wrapping_add(1);
        }
    }

    /// Our `h`: the stanzas handled so far, modulo 2^32.
    pub fn handled(&self) -> u32 {
        self.handled.unwrap_or(0)
    }

    /// One stanza was sent; true when an ack is to be requested after it.
    pub fn sent_one(&mut self) -> bool {
        self.sent = self.sent.wrapping_add(1);
        self.since_request = self.since_request.saturating_add(1);
        self.request_every != 0 && self.since_request >= self.request_every
    }

    /// An `<r/>` goes out.
    pub fn requested(&mut self) {
        self.since_request = 0;
        self.awaiting = true;
    }

    /// Stanzas sent and not acknowledged yet.
    pub fn unacked(&self) -> u32 {
        self.sent.wrapping_sub(self.acked)
    }

    /// The peer says it handled `h` stanzas: how many more than it had said, or an error
    /// when that is more than were sent (an `h` that goes back is one too: on a stream, acks
    /// never overtake each other, so it can only wrap round past what was sent).
    pub fn ack(&mut self, h: u32) -> Result<u32, TooHigh> {
        let newly = h.wrapping_sub(self.acked);
        if newly > self.unacked() {
            return Err(TooHigh { h, sent: self.sent });
        }
        self.acked = h;
        self.awaiting = false;
        self.queue.drop_oldest(newly);
        Ok(newly)
    }

    /// Counters as if `sent` stanzas went out and `acked` were acknowledged and `handled`
    /// came in: for tests of the wrap at 2^32.
    #[cfg(test)]
    pub fn at(sent: u32, acked: u32, handled: u32) -> Self {
        Acks {
            sent,
            acked,
            handled: Some(handled),
            ..Acks::default()
        }
    }
}

/// Is `el` an element of the ack exchange (`<r/>` or `<a/>`)?
pub(crate) fn is_ack_exchange(el: &Element) -> bool {
    el.ns() == SM_NS && matches!(el.name(), "r" | "a")
}

/// The `h` of an `<a/>`: an `xs:unsignedInt` (XEP-0198 section 4), `None` when missing or
/// not one.
pub(crate) fn read_h(el: &Element) -> Option<u32> {
    parse_h(&el.attr("h")?)
}

/// An `h` value: an `xs:unsignedInt`, `None` when not one.
pub(crate) fn parse_h(h: &str) -> Option<u32> {
    // xs:unsignedInt: optional '+', decimal digits (leading zeros allowed), 0..2^32-1,
    // after white space is collapsed (XML Schema Part 2 section 4.3.6).
    let h = h.trim_matches([' ', '\t', '\n', '\r']);
    let digits = h.strip_prefix('+').unwrap_or(h);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits = digits.trim_start_matches('0');
    if digits.is_empty() {
        return Some(0);
    }
    digits.parse().ok()
}

/// Writes `<a h='N'/>`.
pub(crate) fn write_ack(w: &mut Writer<'_>, h: u32) {
    w.start("a").xmlns(SM_NS).attr("h", &h.to_string()).end("a");
}

/// Writes `<r/>`.
pub(crate) fn write_request(w: &mut Writer<'_>) {
    w.start("r").xmlns(SM_NS).end("r");
}

/// Writes the feature a server offers after authentication.
#[cfg(feature = "server")]
pub(crate) fn write_feature(w: &mut Writer<'_>) {
    w.start("sm").xmlns(SM_NS).end("sm");
}

/// Writes `<failed/>` with a stanza error condition (XEP-0198 section 6).
#[cfg(feature = "server")]
pub(crate) fn write_failed(w: &mut Writer<'_>, condition: &crate::error::StanzaErrorCondition) {
    w.start("failed").xmlns(SM_NS);
    w.start(condition.as_str())
        .xmlns(crate::error::STANZA_ERRORS_NS)
        .end(condition.as_str());
    w.end("failed");
}

/// The stanza error condition of a `<failed/>`, if it names one.
#[cfg(feature = "client")]
pub(crate) fn failed_condition(
    el: crate::xml::ElementRef<'_>,
) -> Option<crate::error::StanzaErrorCondition> {
    el.children()
        .find(|c| c.ns() == crate::error::STANZA_ERRORS_NS && c.name() != "text")
        .map(|c| {
            c.name()
                .parse()
                .unwrap_or(crate::error::StanzaErrorCondition::UndefinedCondition)
        })
}

/// The stream error for an ack of more than was sent (XEP-0198 section 4):
/// `undefined-condition` with `<handled-count-too-high h='..' send-count='..'/>`.
pub(crate) fn too_high_error(too_high: TooHigh) -> StreamError {
    let xml = format!(
        "<handled-count-too-high xmlns='{SM_NS}' h='{}' send-count='{}'/>",
        too_high.h, too_high.sent
    );
    let error = StreamError::new(StreamErrorCondition::UndefinedCondition);
    match parse_element(SM_NS, xml.as_bytes()) {
        Ok(el) => error.with_app_specific(AppCondition::from_element(el.root())),
        Err(_) => error,
    }
}

/// Do the bytes of one write begin with a stanza of a stream whose content namespace is
/// `content_ns`: `<message`, `<presence` or `<iq`, with no default namespace declared other
/// than the stream's? (What the engine writes in one call is one first-level element.)
pub(crate) fn starts_stanza(bytes: &[u8], content_ns: &str) -> bool {
    let Some(rest) = bytes.strip_prefix(b"<") else {
        return false;
    };
    let Some(rest) = [&b"message"[..], b"presence", b"iq"]
        .iter()
        .find_map(|name| rest.strip_prefix(*name))
    else {
        return false;
    };
    if !matches!(
        rest.first(),
        Some(b' ' | b'\t' | b'\n' | b'\r' | b'/' | b'>')
    ) {
        return false;
    }
    // Walk the start tag outside attribute values, looking for `xmlns=`.
    let mut i = 0;
    while let Some(&b) = rest.get(i) {
        match b {
            b'>' => return true,
            b'\'' | b'"' => {
                let Some(len) = rest[i + 1..].iter().position(|&c| c == b) else {
                    return false;
                };
                i += len + 2;
            }
            _ if rest[i..].starts_with(b"xmlns=")
                && rest
                    .get(i.wrapping_sub(1))
                    .is_some_and(u8::is_ascii_whitespace) =>
            {
                let value = &rest[i + 6..];
                let Some((&quote, value)) = value.split_first() else {
                    return false;
                };
                let end = value
                    .iter()
                    .position(|&c| c == quote)
                    .unwrap_or(value.len());
                return &value[..end] == content_ns.as_bytes();
            }
            _ => i += 1,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(h: &str) -> Element {
        parse_element(SM_NS, format!("<a xmlns='{SM_NS}' h='{h}'/>").as_bytes()).unwrap()
    }

    #[test]
    fn h_is_an_unsigned_32_bit_integer() {
        assert_eq!(read_h(&a("0")), Some(0));
        assert_eq!(read_h(&a("4294967295")), Some(u32::MAX));
        assert_eq!(read_h(&a("+007")), Some(7));
        assert_eq!(read_h(&a("0000000000004294967295")), Some(u32::MAX));
        assert_eq!(read_h(&a(" 1 ")), Some(1), "white space is collapsed");
        assert_eq!(read_h(&a("\t+2")), Some(2));
        for bad in ["", " ", "-1", "4294967296", "1.0", "1 2", "+ 1", "x", "+"] {
            assert_eq!(read_h(&a(bad)), None, "{bad:?}");
        }
        let no_h = parse_element(SM_NS, b"<a xmlns='urn:xmpp:sm:3'/>").unwrap();
        assert_eq!(read_h(&no_h), None);
    }

    #[test]
    fn counters_wrap_at_2_pow_32() {
        let mut acks = Acks::at(u32::MAX - 1, u32::MAX - 1, u32::MAX);
        for _ in 0..3 {
            acks.sent_one();
        }
        assert_eq!(acks.unacked(), 3);
        assert_eq!(acks.ack(u32::MAX), Ok(1));
        assert_eq!(acks.ack(1), Ok(2), "h wrapped past 2^32 - 1 to 1");
        assert_eq!(acks.unacked(), 0);
        acks.handled_one();
        assert_eq!(acks.handled(), 0, "handled wrapped from 2^32 - 1 to 0");
        acks.handled_one();
        assert_eq!(acks.handled(), 1);
    }

    #[test]
    fn an_ack_beyond_what_was_sent_or_going_back_is_too_high() {
        let mut acks = Acks::at(u32::MAX, u32::MAX - 2, 0);
        acks.sent_one();
        assert_eq!(
            acks.ack(1),
            Err(TooHigh { h: 1, sent: 0 }),
            "one more than sent, across the wrap"
        );
        assert_eq!(acks.ack(0), Ok(3));
        assert_eq!(
            acks.ack(0),
            Ok(0),
            "the same h again acknowledges nothing new"
        );
        assert_eq!(
            acks.ack(u32::MAX),
            Err(TooHigh {
                h: u32::MAX,
                sent: 0
            }),
            "an h that goes back"
        );
    }

    #[test]
    fn an_ack_is_requested_after_every_n_stanzas() {
        let every = |n| SmSettings {
            request_every: n,
            ..SmSettings::default()
        };
        let mut acks = Acks::new(every(2));
        assert!(!acks.sent_one());
        assert!(acks.sent_one());
        acks.requested();
        assert!(!acks.sent_one());
        let mut never = Acks::new(every(0));
        assert!((0..10).all(|_| !never.sent_one()));
    }

    #[test]
    fn only_stanzas_of_the_content_namespace_count() {
        let ns = "jabber:client";
        for yes in [
            "<message to='a@b'><body>hi</body></message>",
            "<presence/>",
            "<iq type='get' id='1'><ping xmlns='urn:xmpp:ping'/></iq>",
            "<message xmlns='jabber:client'/>",
            "<message id='xmlns=&apos;x&apos;' xmlns:foo='urn:x'/>",
            "<iq\ttype='result' id=\"a>b\"/>",
        ] {
            assert!(starts_stanza(yes.as_bytes(), ns), "{yes}");
        }
        for no in [
            "<a xmlns='urn:xmpp:sm:3' h='1'/>",
            "<r xmlns='urn:xmpp:sm:3'/>",
            "<enable xmlns='urn:xmpp:sm:3'/>",
            "<messages/>",
            "<iqx/>",
            "<message xmlns='urn:other'/>",
            " ",
            "",
        ] {
            assert!(!starts_stanza(no.as_bytes(), ns), "{no}");
        }
    }

    #[test]
    fn the_too_high_error_carries_both_counts() {
        let e = too_high_error(TooHigh { h: 10, sent: 8 });
        assert_eq!(e.condition, StreamErrorCondition::UndefinedCondition);
        let mut buf = bytes::BytesMut::new();
        e.write_to(&mut buf);
        let s = std::str::from_utf8(&buf).unwrap();
        assert!(
            s.contains("<handled-count-too-high xmlns='urn:xmpp:sm:3' h='10' send-count='8'/>"),
            "{s}"
        );
    }
}
