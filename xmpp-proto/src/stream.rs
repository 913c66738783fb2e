//! What every role shares about the stream itself (RFC 6120 sections 4 and 5): the stream
//! header it writes, the checks of the header it receives, the `<stream:features/>` it reads,
//! the ids it makes, and the output buffer it fills.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use crate::error::{STREAM_NS, StreamError, StreamErrorCondition};
use crate::xml::{Element, ElementRef, Event, ParseError, StreamParser, Writer, escape_attr};

/// `urn:ietf:params:xml:ns:xmpp-tls` (RFC 6120 section 5).
pub const TLS_NS: &str = "urn:ietf:params:xml:ns:xmpp-tls";
/// `urn:ietf:params:xml:ns:xmpp-bind` (RFC 6120 section 7).
pub const BIND_NS: &str = "urn:ietf:params:xml:ns:xmpp-bind";
/// `urn:xmpp:sasl-cb:0`, the channel-binding types a server supports (XEP-0440).
pub const SASL_CB_NS: &str = "urn:xmpp:sasl-cb:0";
/// `urn:ietf:params:xml:ns:xmpp-session` (RFC 3921 section 3, kept by RFC 6121 appendix E).
pub const SESSION_NS: &str = "urn:ietf:params:xml:ns:xmpp-session";
/// `urn:xmpp:stream-limits:0`, the limits a receiving entity announces (XEP-0478).
pub const STREAM_LIMITS_NS: &str = "urn:xmpp:stream-limits:0";

/// The limits a receiving entity announces in its stream features (XEP-0478): what it will
/// accept on this stream. They may change with each new set of features (after
/// authentication, typically).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamLimits {
    /// The largest first-level element, in bytes, it accepts (`<max-bytes/>`).
    pub max_bytes: Option<u64>,
    /// After this many seconds without traffic it may check the stream or close it
    /// (`<idle-seconds/>`).
    pub idle_seconds: Option<u64>,
}

impl StreamLimits {
    /// Writes `<limits xmlns='urn:xmpp:stream-limits:0'>` with what is known.
    pub(crate) fn write(&self, w: &mut Writer<'_>) {
        w.start("limits").xmlns(STREAM_LIMITS_NS);
        if let Some(n) = self.max_bytes {
            w.start("max-bytes").text(&n.to_string()).end("max-bytes");
        }
        if let Some(n) = self.idle_seconds {
            w.start("idle-seconds")
                .text(&n.to_string())
                .end("idle-seconds");
        }
        w.end("limits");
    }

    fn read(el: ElementRef<'_>) -> StreamLimits {
        // A value that is not a whole number is as good as absent: the XEP gives no error.
        let number = |name| {
            el.get_child(name, STREAM_LIMITS_NS)
                .and_then(|c| c.text().trim().parse::<u64>().ok())
        };
        StreamLimits {
            max_bytes: number("max-bytes"),
            idle_seconds: number("idle-seconds"),
        }
    }
}

/// When to use STARTTLS (RFC 6120 section 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsPolicy {
    /// TLS before anything else: a client gives up when it is not offered; a server offers
    /// only STARTTLS before it and refuses SASL without it.
    #[default]
    Required,
    /// TLS when both sides can: a client uses it when offered; a server offers it.
    Optional,
    /// Never use TLS.
    Disabled,
}

/// The attributes of a stream header this side sends.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Header<'a> {
    pub content_ns: &'a str,
    pub to: Option<&'a str>,
    pub from: Option<&'a str>,
    pub id: Option<&'a str>,
    /// `version='1.0'` and `xml:lang` are left out when `None` (XEP-0114 streams carry
    /// neither).
    pub lang: Option<&'a str>,
}

/// Writes `<?xml version='1.0'?>` and the stream header (RFC 6120 section 4.7).
pub(crate) fn write_header(out: &mut BytesMut, h: Header<'_>) {
    out.extend_from_slice(b"<?xml version='1.0'?><stream:stream xmlns='");
    escape_attr(out, h.content_ns);
    out.extend_from_slice(b"' xmlns:stream='");
    out.extend_from_slice(STREAM_NS.as_bytes());
    out.extend_from_slice(b"'");
    for (name, value) in [("to", h.to), ("from", h.from), ("id", h.id)] {
        if let Some(v) = value {
            out.extend_from_slice(b" ");
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b"='");
            escape_attr(out, v);
            out.extend_from_slice(b"'");
        }
    }
    if let Some(lang) = h.lang {
        out.extend_from_slice(b" version='1.0' xml:lang='");
        escape_attr(out, lang);
        out.extend_from_slice(b"'");
    }
    out.extend_from_slice(b">");
}

/// Checks the peer's stream header: its content namespace and version (RFC 6120 sections
/// 4.7.5, 4.8.2, 4.9.3.10 and 4.9.3.25). The streams namespace itself is the parser's check.
pub(crate) fn check_peer_header(
    parser: &StreamParser,
    header: &Element,
    content_ns: &str,
) -> Result<(), StreamErrorCondition> {
    if parser.content_namespace() != Some(content_ns) {
        return Err(StreamErrorCondition::InvalidNamespace);
    }
    let version = header.attr("version");
    let major = version
        .as_deref()
        .and_then(|v| v.split('.').next()?.parse::<u32>().ok());
    if major != Some(1) {
        return Err(StreamErrorCondition::UnsupportedVersion);
    }
    Ok(())
}

/// What a `<stream:features/>` offers, as far as the roles here act on it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Features {
    /// `<starttls/>` is offered; the bool says whether it has `<required/>`.
    pub starttls: Option<bool>,
    /// The SASL mechanisms offered, in the server's order.
    pub mechanisms: Vec<String>,
    /// Resource binding is offered.
    pub bind: bool,
    /// Session establishment is offered; the bool says whether it is required (no
    /// `<optional/>` inside).
    pub session: Option<bool>,
    /// The channel-binding types the server says it supports (XEP-0440), if it says.
    pub channel_bindings: Option<Vec<String>>,
    /// The limits the server announces (XEP-0478), if it does.
    pub limits: Option<StreamLimits>,
}

impl Features {
    /// Reads a `<stream:features/>` element.
    pub fn read(el: ElementRef<'_>) -> Features {
        let mut f = Features::default();
        for child in el.children() {
            match (child.ns(), child.name()) {
                (TLS_NS, "starttls") => {
                    f.starttls = Some(child.get_child("required", TLS_NS).is_some());
                }
                (crate::error::SASL_NS, "mechanisms") => {
                    f.mechanisms = child
                        .children()
                        .filter(|m| m.is("mechanism", crate::error::SASL_NS))
                        .map(|m| m.text().trim().to_owned())
                        .collect();
                }
                (BIND_NS, "bind") => f.bind = true,
                (SESSION_NS, "session") => {
                    f.session = Some(child.get_child("optional", SESSION_NS).is_none());
                }
                (STREAM_LIMITS_NS, "limits") => f.limits = Some(StreamLimits::read(child)),
                (SASL_CB_NS, "sasl-channel-binding") => {
                    f.channel_bindings = Some(
                        child
                            .children()
                            .filter(|c| c.is("channel-binding", SASL_CB_NS))
                            .filter_map(|c| c.attr("type").map(|t| t.into_owned()))
                            .collect(),
                    );
                }
                _ => {}
            }
        }
        f
    }
}

/// A deterministic generator for ids, nonces and resources, seeded by the embedder: the core
/// never asks the operating system for randomness, so exchanges replay exactly. Each output
/// is SHA-256 of the seed and a counter, so that seeing some outputs (stream ids, nonces)
/// tells nothing of the others, as it would with an invertible mixer.
#[derive(Debug, Clone)]
pub(crate) struct Rng {
    seed: u64,
    counter: u64,
}

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng { seed, counter: 0 }
    }

    pub fn next_u64(&mut self) -> u64 {
        use sha2::{Digest, Sha256};
        self.counter += 1;
        let digest = Sha256::new()
            .chain_update(self.seed.to_le_bytes())
            .chain_update(self.counter.to_le_bytes())
            .finalize();
        u64::from_le_bytes(digest[..8].try_into().expect("8 bytes"))
    }

    /// `n` random letters and digits.
    pub fn token(&mut self, n: usize) -> String {
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        (0..n)
            .map(|_| ALPHABET[(self.next_u64() % ALPHABET.len() as u64) as usize] as char)
            .collect()
    }
}

/// Bytes waiting to be sent, up to and including our `</stream:stream>`.
///
/// RFC 6120 section 4.4: the entity that sends the closing tag "MUST NOT send any further
/// data" over that stream, though it goes on reading. Every role writes through this type,
/// and the closing tag is written only by [`end`](Self::end) (or
/// [`end_with_error`](Self::end_with_error)): after it every write is dropped here, so no
/// path of any role, however late (a timeout, a second `close`, a stream error raised while
/// closing, a reply to a stanza that arrived after our close), can put data after it.
#[derive(Debug, Default)]
pub(crate) struct Output {
    buf: BytesMut,
    /// Our closing tag is written.
    ended: bool,
}

impl Output {
    /// Appends what `f` writes, unless our closing tag is out; says whether it wrote.
    pub fn write(&mut self, f: impl FnOnce(&mut BytesMut)) -> bool {
        if self.ended {
            return false;
        }
        f(&mut self.buf);
        true
    }

    /// Appends what `f` writes with a [`Writer`] (which must end every element it starts),
    /// unless our closing tag is out; says whether it wrote.
    pub fn element(&mut self, f: impl FnOnce(&mut Writer<'_>)) -> bool {
        self.write(|buf| {
            let mut w = Writer::new(buf);
            f(&mut w);
            w.finish();
        })
    }

    /// Writes our closing tag, once: nothing is written after it.
    pub fn end(&mut self) {
        self.write(|buf| buf.extend_from_slice(b"</stream:stream>"));
        self.ended = true;
    }

    /// Writes a stream error and our closing tag right after it (RFC 6120 section 4.9.1.1),
    /// unless our closing tag is already out: then nothing, since nothing may follow it
    /// (section 4.4).
    pub fn end_with_error(&mut self, error: &StreamError) {
        self.write(|buf| error.write_to(buf));
        self.end();
    }

    /// Is our closing tag written?
    pub fn is_ended(&self) -> bool {
        self.ended
    }

    /// Everything written since the last call.
    pub fn take(&mut self) -> Option<Bytes> {
        (!self.buf.is_empty()).then(|| self.buf.split().freeze())
    }

    /// Gives back the buffer's memory when nothing is waiting in it.
    pub fn shrink(&mut self) {
        if self.buf.is_empty() {
            self.buf = BytesMut::new();
        }
    }
}

/// A deadline armed for some duration from `now`.
pub(crate) fn deadline(now: Instant, after: Duration) -> Option<Instant> {
    now.checked_add(after)
}

/// How a session role takes in bytes, shared by the roles: one event at a time, so that
/// nothing after a `<proceed/>` or `<starttls/>` (or after the end) is ever looked at.
pub(crate) trait Session {
    fn parser(&mut self) -> &mut StreamParser;
    /// Must no more input be processed (TLS is being set up, or the stream is over)?
    fn stopped(&self) -> bool;
    fn on_event(&mut self, event: Event);
    /// The peer's XML was at fault (after the events before the fault were handled).
    fn on_fault(&mut self, error: ParseError);

    fn feed(&mut self, data: &[u8]) {
        let mut rest = data;
        while !rest.is_empty() && !self.stopped() {
            let result = self.parser().handle_input_partial(rest);
            while let Some(event) = self.parser().poll_event() {
                if !self.stopped() {
                    self.on_event(event);
                }
            }
            match result {
                Ok(n) => rest = &rest[n..],
                Err(e) => {
                    if !self.stopped() {
                        self.on_fault(e);
                    }
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml::parse_element;

    fn features(xml: &str) -> Features {
        let el = parse_element(STREAM_NS, xml.as_bytes()).expect("features parse");
        Features::read(el.root())
    }

    #[test]
    fn stream_limits_are_read_and_written_as_xep_0478_shows() {
        let f = features(
            "<features><limits xmlns='urn:xmpp:stream-limits:0'><max-bytes>10000</max-bytes>\
             <idle-seconds> 1800 </idle-seconds></limits></features>",
        );
        let limits = StreamLimits {
            max_bytes: Some(10_000),
            idle_seconds: Some(1800),
        };
        assert_eq!(f.limits, Some(limits));
        // What we write reads back the same.
        let mut out = BytesMut::new();
        let mut w = Writer::new(&mut out);
        w.start("features");
        limits.write(&mut w);
        w.end("features");
        w.finish();
        let text = core::str::from_utf8(&out).unwrap();
        assert_eq!(features(text).limits, Some(limits));
        // A value that is not a whole number counts as absent; no <limits/>, no limits.
        let f = features(
            "<features><limits xmlns='urn:xmpp:stream-limits:0'><max-bytes>lots</max-bytes>\
             </limits></features>",
        );
        assert_eq!(f.limits, Some(StreamLimits::default()));
        assert_eq!(features("<features/>").limits, None);
    }
}
