//! The push parser for an XMPP stream (RFC 6120 sections 4 and 11).
//!
//! Feed it bytes as they arrive, in slices of any size, with [`StreamParser::handle_input`];
//! drain what they completed with [`StreamParser::poll_event`]. Between calls it holds only
//! the unfinished header or first-level element, so its memory is bounded by
//! [`Limits::max_element_bytes`] (or [`Limits::max_header_bytes`]) whatever the peer sends;
//! a finished element is handed over in one allocation. The same input cut at any points gives
//! the same events and the same error.

use std::collections::VecDeque;

use super::chars;
use super::element::{Element, MAX_OFFSET, known_ns};
use super::error::{ErrorKind, ParseError, Utf8Fault};
use super::limits::{Limit, Limits};
use super::scan::{Scanner, StreamContext, Unit};

/// Root attributes added to first-level elements as they are frozen, when they do not
/// carry their own: how a receiving server stamps each client stanza with `from` and the
/// stream's `xml:lang` (RFC 6120 sections 8.1.2.1 and 4.7.4) in the one allocation that
/// freezing makes, instead of copying the element again. Only elements in `ns` whose local
/// name is one of `names` are stamped.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RootStamp<'a> {
    pub ns: &'a str,
    pub names: &'a [&'a str],
    /// The unprefixed attribute and its value (not escaped: the value as read).
    pub attr: (&'a str, &'a str),
    /// Also add the stream header's `xml:lang`, when the header has one.
    pub header_lang: bool,
}

/// What the parser found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The stream header: `<stream:stream ...>`, as an element without children. Its
    /// namespace declarations are in scope for every element that follows.
    StreamOpened(Element),
    /// A complete first-level element: a stanza or a negotiation element.
    Element(Element),
    /// `</stream:stream>`.
    StreamClosed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Before the stream header.
    Prolog,
    /// Between the header and the closing tag.
    Open,
    Closed,
    Failed(ParseError),
}

/// The largest offset at or below `at` that starts a character of `bytes`.
fn char_floor(bytes: &[u8], mut at: usize) -> usize {
    while at > 0 && bytes.get(at).is_some_and(|b| b & 0xC0 == 0x80) {
        at -= 1;
    }
    at
}

/// How much input is checked for UTF-8 ahead of the scanner at a time.
const CHECK_BLOCK: usize = 16 * 1024;
/// How much input an unfinished unit takes in at a time, so that buffering never runs far
/// past the unit's end.
const PIECE: usize = 4 * 1024;
/// How a large unit's buffer grows: the most it holds beyond the unit's bytes.
const GROWTH: usize = 16 * 1024;

/// A resumable, validating, namespace-aware parser of one XMPP stream.
pub struct StreamParser {
    limits: Limits,
    /// Limits set while a unit was in progress, for the next one.
    /// (Boxed: rarely set, and a parser lives in every session.)
    pending_limits: Option<Box<Limits>>,
    phase: Phase,
    /// The stream offset of the next byte of input.
    offset: u64,
    /// Is a unit (declaration, header, element or closing tag) in progress?
    in_unit: bool,
    unit_at: u64,
    /// The bytes of the unit in progress, when it did not arrive in one slice.
    buf: Vec<u8>,
    /// Input before this stream offset has passed the character check...
    checked_to: u64,
    /// ...up to this fault, if one was found.
    fault: Option<(u64, ErrorKind)>,
    /// A CR was seen in the checked input before this stream offset.
    cr_before: u64,
    /// The first bytes of a non-ASCII character found between units, whose other bytes the
    /// next read brings: whether it is UTF-8 decides the error (its length, at most 3, and
    /// its stream offset).
    stray: ([u8; 3], u8, u64),
    /// The markup scanner and its scratch, made for the first unit and given back when the
    /// parser goes idle ([`shrink`](Self::shrink)) or fails: a parser between streams or
    /// failed holds none of it, and the parser itself stays small inline.
    scanner: Option<Box<Scanner>>,
    /// The stream header in force and its bindings (boxed: most of a session's life it is
    /// there, but it need not make every parser larger).
    context: Option<Box<StreamContext>>,
    events: VecDeque<Event>,
}

impl Default for StreamParser {
    fn default() -> Self {
        Self::new(Limits::default())
    }
}

impl std::fmt::Debug for StreamParser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamParser")
            .field("phase", &self.phase)
            .field("offset", &self.offset)
            .field("buffered", &self.buf.len())
            .field("events", &self.events.len())
            .finish_non_exhaustive()
    }
}

impl StreamParser {
    /// A parser for a new stream with the given limits.
    pub fn new(limits: Limits) -> Self {
        let limits = Self::clamp(limits);
        StreamParser {
            limits,
            pending_limits: None,
            phase: Phase::Prolog,
            offset: 0,
            in_unit: false,
            unit_at: 0,
            buf: Vec::new(),
            checked_to: 0,
            fault: None,
            cr_before: 0,
            stray: ([0; 3], 0, 0),
            scanner: None,
            context: None,
            events: VecDeque::new(),
        }
    }

    /// Gives back all scratch memory beyond what the current unit needs: for a session that
    /// goes idle, so that it holds little more than the parser itself and the stream header.
    /// Parsing goes on as before; the next element grows the scratch space again.
    pub fn shrink(&mut self) {
        if !self.in_unit {
            self.buf = Vec::new();
            self.scanner = None;
        }
        if self.events.is_empty() {
            self.events = VecDeque::new();
        }
    }

    /// The limits this parser enforces.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Enforces other limits from the next unit (header, element or closing tag) on; a unit
    /// in progress keeps the limits it began with, so that the verdict on it does not depend
    /// on where the input was cut. A role uses this to hold a peer to tighter limits before
    /// it authenticates (RFC 6120 section 13.12 item 4 sets the floor at 10,000 bytes).
    pub fn set_limits(&mut self, limits: Limits) {
        let limits = Self::clamp(limits);
        if self.in_unit {
            self.pending_limits = Some(Box::new(limits));
        } else {
            self.apply_limits(limits);
        }
    }

    fn apply_limits(&mut self, limits: Limits) {
        self.limits = limits;
        if let Some(scanner) = self.scanner.as_deref_mut() {
            scanner.set_limits(&limits);
        }
        self.pending_limits = None;
    }

    /// Offsets inside an element are 30 bits.
    fn clamp(limits: Limits) -> Limits {
        Limits {
            max_element_bytes: limits.max_element_bytes.min(MAX_OFFSET),
            max_header_bytes: limits.max_header_bytes.min(MAX_OFFSET),
            ..limits
        }
    }

    /// Starts a new stream on the same connection (after STARTTLS or SASL, RFC 6120 sections
    /// 5.4.3.3 and 6.4.6): everything about the old stream is forgotten, events not yet
    /// polled included. Offsets count from the restart.
    pub fn reset(&mut self) {
        self.phase = Phase::Prolog;
        self.offset = 0;
        self.in_unit = false;
        self.unit_at = 0;
        self.buf.clear();
        self.checked_to = 0;
        self.fault = None;
        self.cr_before = 0;
        self.stray.1 = 0;
        if let Some(limits) = self.pending_limits.take() {
            self.apply_limits(*limits);
        }
        self.context = None;
        self.events.clear();
        if let Some(scanner) = self.scanner.as_deref_mut() {
            scanner.trim();
        }
    }

    /// Parses `data`, the next bytes of the stream. Completed events queue up for
    /// [`poll_event`](Self::poll_event); an unfinished unit is kept for the next call.
    ///
    /// On the first fault the parser stops: events completed before it stay queued, and this
    /// call and every later one return the same error.
    pub fn handle_input(&mut self, data: &[u8]) -> Result<(), ParseError> {
        if let Phase::Failed(e) = self.phase {
            return Err(e);
        }
        let mut rest = data;
        while !rest.is_empty() {
            match self.step(rest, None) {
                Ok(n) => rest = &rest[n..],
                Err((at, kind)) => return Err(self.fail(ParseError::new(kind, at))),
            }
        }
        Ok(())
    }

    /// Like [`handle_input`](Self::handle_input), but stops right after the first event that
    /// `data` completes, and returns how many bytes it consumed; the caller passes the rest
    /// again later. Use it to act on each event before the bytes after it are looked at (a
    /// STARTTLS `<proceed/>`, say), or to parse a large buffer without queueing every event.
    pub fn handle_input_partial(&mut self, data: &[u8]) -> Result<usize, ParseError> {
        self.handle_input_stamped(data, None)
    }

    /// The `xml:lang` of the stream header in force, if it has one (read once per header).
    #[cfg_attr(not(feature = "server"), allow(dead_code))]
    pub(crate) fn header_lang(&self) -> Option<&str> {
        self.context.as_deref().and_then(|c| c.lang.as_deref())
    }

    /// [`handle_input_partial`](Self::handle_input_partial), stamping the element it
    /// completes, if any, as `stamp` says.
    #[cfg_attr(not(feature = "server"), allow(dead_code))]
    pub(crate) fn handle_input_stamped(
        &mut self,
        data: &[u8],
        stamp: Option<&RootStamp<'_>>,
    ) -> Result<usize, ParseError> {
        if let Phase::Failed(e) = self.phase {
            return Err(e);
        }
        let queued = self.events.len();
        let mut used = 0;
        while used < data.len() && self.events.len() == queued {
            match self.step(&data[used..], stamp) {
                Ok(n) => used += n,
                Err((at, kind)) => return Err(self.fail(ParseError::new(kind, at))),
            }
        }
        Ok(used)
    }

    /// Parses one WebSocket message of a framed stream (RFC 7395 section 3.3): `data` is
    /// the whole payload of one text message, which must be exactly one element, with its
    /// own namespace declarations (nothing is inherited from the stream's header), whose
    /// first character is `<`; an XML declaration may come before it (not recommended,
    /// allowed) and white space after it (a standalone document may end so). Its event is
    /// queued for [`poll_event`](Self::poll_event): the first message of a stream must be
    /// `<open xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>`, reported as
    /// [`Event::StreamOpened`] (anything else but `<close/>` is `invalid-namespace`, section
    /// 3.3.2); every later one as [`Event::Element`]. `<close/>` in that namespace, first
    /// (section 3.4 lets a receiving entity answer `<open/>` with it) or later, is reported
    /// as [`Event::Element`] (its `see-other-uri` is the embedder's business), after which
    /// the stream is closed.
    ///
    /// A message is the unit of completeness: an element it leaves open is an error
    /// (`not-well-formed`), never kept for the next message, so nothing is buffered between
    /// calls; a second element or text around the element is [`ErrorKind::NotOneElement`].
    /// The element is scanned in place, never copied before it is frozen, and the limits
    /// apply as for a stream (the `<open/>` counts as a header, everything else as an
    /// element): a message larger than the element limit is refused at the limit, without
    /// being read further. Inside a message every rule of [`handle_input`](Self::handle_input)
    /// holds. [`reset`](Self::reset) starts a new framed stream, which the peer's next
    /// `<open/>` opens (a restart, section 3.5).
    ///
    /// Do not mix this with [`handle_input`](Self::handle_input) on one parser.
    pub fn handle_message(&mut self, data: &[u8]) -> Result<(), ParseError> {
        self.handle_message_stamped(data, None)
    }

    /// [`handle_message`](Self::handle_message), stamping the element as `stamp` says.
    pub(crate) fn handle_message_stamped(
        &mut self,
        data: &[u8],
        stamp: Option<&RootStamp<'_>>,
    ) -> Result<(), ParseError> {
        if let Phase::Failed(e) = self.phase {
            return Err(e);
        }
        let queued = self.events.len();
        match self.message(data, stamp) {
            Ok(()) => Ok(()),
            Err((at, kind)) => {
                // Nothing of a message that is not one element is reported.
                self.events.truncate(queued);
                Err(self.fail(ParseError::new(kind, at)))
            }
        }
    }

    fn message(
        &mut self,
        data: &[u8],
        stamp: Option<&RootStamp<'_>>,
    ) -> Result<(), (u64, ErrorKind)> {
        let start = self.offset;
        if self.phase == Phase::Closed {
            return Err((start, ErrorKind::ContentAfterClose));
        }
        if data.first() != Some(&b'<') {
            return Err((start, ErrorKind::NotOneElement));
        }
        let mut at = 0;
        let (len, unit) = self.whole_unit(data, true, stamp)?;
        at += len;
        if unit == Unit::XmlDecl {
            at += data[at..]
                .iter()
                .position(|&b| !chars::is_space(b))
                .ok_or((start + data.len() as u64, ErrorKind::UnexpectedEof))?;
            self.offset = start + at as u64;
            at += self.whole_unit(&data[at..], false, stamp)?.0;
        }
        if let Some(i) = data[at..].iter().position(|&b| !chars::is_space(b)) {
            // A comment or a processing instruction after the element keeps the message a
            // well-formed document (trailing `Misc`, XML 1.0 production 1), so it is the
            // restricted XML of RFC 6120 section 11.1, as it is before the element.
            let rest = &data[at + i..];
            let kind = if rest.starts_with(b"<!--") {
                ErrorKind::Comment
            } else if rest.starts_with(b"<?") {
                ErrorKind::ProcessingInstruction
            } else {
                ErrorKind::NotOneElement
            };
            return Err((start + (at + i) as u64, kind));
        }
        self.offset = start + data.len() as u64;
        // What the element means to the framed stream (RFC 7395 section 3.3.2).
        match self.events.back() {
            // Section 3.4: the receiving entity answers `<open/>` with `<open/>` or with
            // `<close/>` (a refusal, or `see-other-uri`); so a stream may end unopened.
            Some(Event::Element(el)) if el.is("close", crate::error::FRAMING_NS) => {
                self.phase = Phase::Closed;
            }
            // Section 3.3.2: "The XML stream headers (the <open/> and <close/> elements) MUST
            // be qualified by the namespace 'urn:ietf:params:xml:ns:xmpp-framing'", else
            // `invalid-namespace`, later in the stream too.
            Some(Event::Element(el))
                if matches!(el.name(), "open" | "close") && el.ns() != crate::error::FRAMING_NS =>
            {
                return Err((start, ErrorKind::NotAStreamHeader));
            }
            Some(Event::Element(el)) if self.phase == Phase::Prolog => {
                if !el.is("open", crate::error::FRAMING_NS) {
                    return Err((start, ErrorKind::NotAStreamHeader));
                }
                // Its `xml:lang` is the stream's; no declaration of it is inherited.
                let header = el.clone();
                self.context = Some(Box::new(StreamContext::new(header.clone(), Vec::new())));
                self.events.pop_back();
                self.events.push_back(Event::StreamOpened(header));
                self.phase = Phase::Open;
            }
            _ => {}
        }
        Ok(())
    }

    /// Scans one unit that `data` must hold whole (a WebSocket message's), in place: an
    /// XML declaration only when `decl` and at the very start, else an element.
    fn whole_unit(
        &mut self,
        data: &[u8],
        decl: bool,
        stamp: Option<&RootStamp<'_>>,
    ) -> Result<(usize, Unit), (u64, ErrorKind)> {
        if data.first() != Some(&b'<') {
            return Err((self.offset, ErrorKind::NotOneElement));
        }
        self.in_unit = true;
        self.unit_at = self.offset;
        self.checked_to = self.checked_to.max(self.offset);
        let limits = self.limits;
        self.scanner
            .get_or_insert_with(|| Box::new(Scanner::new(&limits)))
            .begin(false, decl);
        match self.scan_unit(data)? {
            // An end tag at the top: no element of its own (the stream's closing tag
            // is `<close/>` here).
            Some((_, Unit::Close | Unit::Header { .. })) => {
                Err((self.offset, ErrorKind::NotOneElement))
            }
            Some((len, unit)) => {
                self.complete(&data[..len], unit, stamp);
                self.offset += len as u64;
                Ok((len, unit))
            }
            None => {
                // The message ended inside the unit: inside a character (the first fault,
                // as at the end of input), or inside the markup.
                let end = self.offset + data.len() as u64;
                Err(if self.checked_to < end {
                    (
                        self.checked_to,
                        ErrorKind::InvalidUtf8(Utf8Fault::Truncated),
                    )
                } else {
                    (end, ErrorKind::UnexpectedEof)
                })
            }
        }
    }

    /// The transport ended. An unfinished header or element, or a stream never closed, is
    /// `not-well-formed`; a stream that was closed, or never opened, ends quietly. Input
    /// that ends inside a UTF-8 sequence is `unsupported-encoding`: that is the first fault.
    pub fn handle_eof(&mut self) -> Result<(), ParseError> {
        let cut = if self.stray.1 > 0 {
            Some(self.stray.2)
        } else {
            (self.in_unit && self.checked_to < self.offset).then_some(self.checked_to)
        };
        if let (Some(at), false) = (cut, matches!(self.phase, Phase::Failed(_))) {
            let kind = ErrorKind::InvalidUtf8(Utf8Fault::Truncated);
            return Err(self.fail(ParseError::new(kind, at)));
        }
        match self.phase {
            Phase::Failed(e) => Err(e),
            Phase::Closed => Ok(()),
            Phase::Prolog if !self.in_unit => Ok(()),
            _ => Err(self.fail(ParseError::new(ErrorKind::UnexpectedEof, self.offset))),
        }
    }

    /// The next event, in stream order.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The error the parser stopped at, if any.
    pub fn error(&self) -> Option<ParseError> {
        match self.phase {
            Phase::Failed(e) => Some(e),
            _ => None,
        }
    }

    /// Has the peer's stream header been parsed (and the stream not yet closed)?
    pub fn is_open(&self) -> bool {
        self.phase == Phase::Open
    }

    /// Has `</stream:stream>` been parsed?
    pub fn is_closed(&self) -> bool {
        self.phase == Phase::Closed
    }

    /// The stream header in force, once parsed.
    pub fn header(&self) -> Option<&Element> {
        self.context.as_ref().map(|c| &c.header)
    }

    /// The namespace declarations of the stream header in force, as `(prefix, namespace)`
    /// pairs in document order; the prefix is empty for the default (content) namespace.
    pub fn header_namespaces(&self) -> impl Iterator<Item = (&str, &str)> {
        self.context.iter().flat_map(|c| c.declarations())
    }

    /// The default namespace the stream header declares (`jabber:client`, `jabber:server`,
    /// `jabber:component:accept`...), if it declares one.
    pub fn content_namespace(&self) -> Option<&str> {
        self.header_namespaces()
            .filter(|(p, _)| p.is_empty())
            .map(|(_, ns)| ns)
            .last()
    }

    /// Bytes of an unfinished header or element held between calls: at most the limit for
    /// that unit, plus up to three bytes of a character that the limit cuts and whose
    /// validity decides which error comes first.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    fn fail(&mut self, e: ParseError) -> ParseError {
        self.phase = Phase::Failed(e);
        // A failed stream parses nothing more: all scratch goes back at once, so that a
        // session the peer broke holds no more than an idle one.
        self.buf = Vec::new();
        self.scanner = None;
        self.in_unit = false;
        e
    }

    /// Consumes a prefix of `data` (at least one byte) and returns its length.
    fn step(
        &mut self,
        data: &[u8],
        stamp: Option<&RootStamp<'_>>,
    ) -> Result<usize, (u64, ErrorKind)> {
        if self.in_unit {
            return self.step_buffered(data, stamp);
        }
        if self.stray.1 > 0 || data[0] >= 0x80 {
            return self.step_stray(data);
        }
        let ws = data
            .iter()
            .position(|&b| !chars::is_space(b))
            .unwrap_or(data.len());
        if ws > 0 {
            self.offset += ws as u64;
            return Ok(ws);
        }
        let kind = match (self.phase, data[0]) {
            (Phase::Closed, _) => ErrorKind::ContentAfterClose,
            (_, b'<') => ErrorKind::UnexpectedEof, // not an error: a unit starts here
            _ => ErrorKind::TextAtStreamLevel,
        };
        if kind != ErrorKind::UnexpectedEof {
            return Err((self.offset, kind));
        }
        self.in_unit = true;
        self.unit_at = self.offset;
        self.checked_to = self.checked_to.max(self.offset);
        let prolog = self.phase == Phase::Prolog;
        let limits = self.limits;
        self.scanner
            .get_or_insert_with(|| Box::new(Scanner::new(&limits)))
            .begin(prolog, prolog && self.offset == 0);
        match self.scan_unit(data)? {
            Some((len, unit)) => {
                self.complete(&data[..len], unit, stamp);
                self.offset += len as u64;
                Ok(len)
            }
            None => {
                self.buf.reserve_exact(data.len().max(PIECE));
                self.buf.extend_from_slice(data);
                self.offset += data.len() as u64;
                Ok(data.len())
            }
        }
    }

    /// A non-ASCII byte between units: text where only white space may stand, or bytes that
    /// are not UTF-8 at all. RFC 6120 names the two faults differently (4.9.3.13 and
    /// 4.9.3.22), so the character is read whole, across reads, before one is reported.
    fn step_stray(&mut self, data: &[u8]) -> Result<usize, (u64, ErrorKind)> {
        let (held, len, at) = self.stray;
        let len = len as usize;
        let at = if len == 0 { self.offset } else { at };
        let mut char = [0u8; 4];
        char[..len].copy_from_slice(&held[..len]);
        let take = (4 - len).min(data.len());
        char[len..len + take].copy_from_slice(&data[..take]);
        let text_here = if self.phase == Phase::Closed {
            ErrorKind::ContentAfterClose
        } else {
            ErrorKind::TextAtStreamLevel
        };
        match chars::check(&char[..len + take], &mut false) {
            Err((0, kind)) => Err((at, kind)),
            Ok(0) => {
                // A lead byte whose sequence the next read completes (at most three bytes).
                self.stray.0[len..len + take].copy_from_slice(&data[..take]);
                self.stray.1 = (len + take) as u8;
                self.stray.2 = at;
                self.offset += take as u64;
                Ok(take)
            }
            _ => Err((at, text_here)),
        }
    }

    fn step_buffered(
        &mut self,
        data: &[u8],
        stamp: Option<&RootStamp<'_>>,
    ) -> Result<usize, (u64, ErrorKind)> {
        let piece = &data[..data.len().min(PIECE)];
        let before = self.buf.len();
        if before + piece.len() > self.buf.capacity() {
            // Doubling while small; past that, steps of `GROWTH`, so that a large unit's
            // buffer holds at most that much beyond its bytes (doubling could hold as much
            // again); never past the unit's limit and a piece.
            let cap = self.buf.capacity();
            let most = self
                .limits
                .max_element_bytes
                .max(self.limits.max_header_bytes)
                + PIECE;
            let grown = if cap < 4 * GROWTH {
                2 * cap
            } else {
                cap + GROWTH
            };
            let want = grown.min(most).max(before + piece.len());
            self.buf.reserve_exact(want - before);
        }
        self.buf.extend_from_slice(piece);
        let buf = core::mem::take(&mut self.buf);
        let scanned = self.scan_unit(&buf);
        self.buf = buf;
        match scanned? {
            Some((len, unit)) => {
                let buf = core::mem::take(&mut self.buf);
                self.complete(&buf[..len], unit, stamp);
                self.buf = buf;
                self.buf.clear();
                // Units that span reads are the exception; a large one's buffer goes back.
                if self.buf.capacity() > PIECE {
                    self.buf = Vec::new();
                }
                let used = len - before;
                self.offset += used as u64;
                Ok(used)
            }
            None => {
                self.offset += piece.len() as u64;
                Ok(piece.len())
            }
        }
    }

    /// Scans the unit in progress, whose bytes so far are `unit`, checking characters just
    /// ahead of the scanner so that the first fault in byte order is the one reported.
    fn scan_unit(&mut self, unit: &[u8]) -> Result<Option<(usize, Unit)>, (u64, ErrorKind)> {
        let at = self.unit_at;
        // The header and the closing tag are not stanzas: they have a limit of their own. The
        // second byte tells a closing tag; until it is here, no limit below 2 can be judged.
        let (max, which) = if self.phase == Phase::Prolog || unit.get(1) == Some(&b'/') {
            (self.limits.max_header_bytes, Limit::HeaderBytes)
        } else {
            (self.limits.max_element_bytes.max(2), Limit::ElementBytes)
        };
        loop {
            let checked = ((self.checked_to - at) as usize).min(unit.len());
            // The scanner never sees part of a character: where the limit cuts a checked one,
            // it stops before it, and that character proves the unit too long. (Only checked
            // bytes are walked back over: at most three continuation bytes.)
            let cap = if checked > max {
                char_floor(unit, max)
            } else {
                max
            };
            let limit = checked.min(cap);
            let limits = self.limits;
            let scanner = self
                .scanner
                .get_or_insert_with(|| Box::new(Scanner::new(&limits)));
            scanner.cr_possible = self.cr_before > at;
            // Right after new input came, the scanner has read all that was checked before.
            let found = if scanner.has_unread(limit) {
                scanner.scan(&unit[..limit], self.context.as_deref())
            } else {
                Ok(None)
            };
            match found {
                Ok(Some(done)) => return Ok(Some(done)),
                Err((i, kind)) => return Err((at + i as u64, kind)),
                Ok(None) => {}
            }
            if limit == cap && (cap == max || checked > cap) {
                return Err((at + max as u64, ErrorKind::LimitExceeded(which)));
            }
            if let Some((fault_at, kind)) = self.fault {
                if fault_at == at + limit as u64 {
                    return Err((fault_at, kind));
                }
            }
            if checked == unit.len() || self.fault.is_some() {
                return Ok(None);
            }
            let to = unit.len().min(checked + CHECK_BLOCK);
            let mut saw_cr = false;
            let checked_bytes = chars::check(&unit[checked..to], &mut saw_cr);
            if saw_cr {
                self.cr_before = at + to as u64;
            }
            match checked_bytes {
                Ok(n) => {
                    self.checked_to = at + (checked + n) as u64;
                    if n == 0 {
                        // Only the start of a character that the next input completes.
                        return Ok(None);
                    }
                }
                Err((i, kind)) => {
                    self.checked_to = at + (checked + i) as u64;
                    self.fault = Some((self.checked_to, kind));
                }
            }
        }
    }

    fn complete(&mut self, raw: &[u8], unit: Unit, stamp: Option<&RootStamp<'_>>) {
        self.in_unit = false;
        if let Some(limits) = self.pending_limits.take() {
            self.apply_limits(*limits);
        }
        let limits = self.limits;
        // A unit was scanned, so the scanner exists; making one here costs nothing then.
        let scanner = self
            .scanner
            .get_or_insert_with(|| Box::new(Scanner::new(&limits)));
        match unit {
            Unit::XmlDecl => {}
            Unit::Header { empty } => {
                let header = scanner.finish(raw, None);
                let mut bindings = scanner.take_header_bindings();
                // Well-known namespaces are named by index, so that elements need no copy.
                for b in &mut bindings {
                    if let Some((ns, len)) = known_ns(header.span(b.ns, b.ns_len)) {
                        (b.ns, b.ns_len) = (ns, len);
                    }
                }
                self.context = Some(Box::new(StreamContext::new(header.clone(), bindings)));
                self.events.push_back(Event::StreamOpened(header));
                self.phase = Phase::Open;
                if empty {
                    self.events.push_back(Event::StreamClosed);
                    self.phase = Phase::Closed;
                }
            }
            Unit::Element => {
                if let Some(stamp) = stamp {
                    scanner.stamp_root(raw, self.context.as_deref(), stamp);
                }
                let el = scanner.finish(raw, self.context.as_deref().map(|c| &c.header));
                self.events.push_back(Event::Element(el));
            }
            Unit::Close => {
                self.events.push_back(Event::StreamClosed);
                self.phase = Phase::Closed;
            }
        }
        scanner.trim();
    }
}

/// Parses one element written for a stream whose default namespace is `content_ns` (with
/// the `stream` prefix bound), as the stanza builders write them: to hand such bytes to a
/// role's `send`. White space may surround the element; anything else is an error, with
/// offsets counted in `xml`.
///
/// ```
/// let el = xmpp_sansio::xml::parse_element("jabber:client", b"<message><body>hi</body></message>")
///     .unwrap();
/// assert!(el.is("message", "jabber:client"));
/// ```
pub fn parse_element(content_ns: &str, xml: &[u8]) -> Result<Element, ParseError> {
    let mut header = bytes::BytesMut::with_capacity(96 + content_ns.len());
    header.extend_from_slice(b"<stream:stream xmlns='");
    super::escape_attr(&mut header, content_ns);
    header.extend_from_slice(b"' xmlns:stream='http://etherx.jabber.org/streams'>");
    let mut parser = StreamParser::default();
    let shift = |e: ParseError| {
        let offset = e.offset().saturating_sub(header.len() as u64);
        ParseError::new(e.kind(), offset)
    };
    parser.handle_input(&header).map_err(shift)?;
    let _ = parser.poll_event();
    let mut rest = xml;
    while !rest.is_empty() {
        let used = parser.handle_input_partial(rest).map_err(shift)?;
        rest = &rest[used..];
        if let Some(Event::Element(el)) = parser.poll_event() {
            return match rest.iter().position(|&b| !chars::is_space(b)) {
                None => Ok(el),
                Some(at) => Err(ParseError::new(
                    ErrorKind::ContentAfterClose,
                    (xml.len() - rest.len() + at) as u64,
                )),
            };
        }
    }
    Err(ParseError::new(ErrorKind::UnexpectedEof, xml.len() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml::error::Utf8Fault;

    /// The events of `input` fed in the given pieces, and the error if any.
    fn events_of(pieces: &[&[u8]]) -> (Vec<Event>, Option<ParseError>) {
        let mut p = StreamParser::default();
        let mut err = None;
        for piece in pieces {
            if let Err(e) = p.handle_input(piece) {
                err = Some(e);
                break;
            }
        }
        (std::iter::from_fn(|| p.poll_event()).collect(), err)
    }

    #[test]
    fn each_tag_checks_its_own_attributes_for_duplicates() {
        // A parent with more attributes than the linear check takes builds the name index;
        // a child's check must not read the parent's entries (fuzz: a panic, and a duplicate
        // of the child's could go unseen).
        let many = |p: &str| {
            (1..=10)
                .map(|i| format!(" {p}{i}='{i}'"))
                .collect::<String>()
        };
        let header = "<stream:stream xmlns='jabber:client' \
            xmlns:stream='http://etherx.jabber.org/streams'>";
        let ok = format!(
            "{header}<a{}><b{} xml:lang='en'/></a>",
            many("a"),
            many("b")
        );
        let (events, err) = events_of(&[ok.as_bytes()]);
        assert_eq!(err, None);
        assert_eq!(events.len(), 2);
        let dup = format!(
            "{header}<a{} xml:lang='x'><b{} b3='again'/></a>",
            many("a"),
            many("b")
        );
        let (_, err) = events_of(&[dup.as_bytes()]);
        assert_eq!(err.map(|e| e.kind()), Some(ErrorKind::DuplicateAttribute));
        // The fuzzer's input, minimized.
        let found = "<stream:stream xmlns:stream='http://etherx.jabber.org/streams'><a a1='1' \
            a2='2' a3='3' a4='4' a5='5' a6='6' a7='7' a8='8' JJJJm='hm' version='0.0' \
            xml:lang='en'><TTTT a4='4' a5='5' a6='' a7='7' a8='8' JJ='ttp://ehem' to='examp' \
            from='emple.c' version='0.0'T>";
        let _ = events_of(&[found.as_bytes()]);
    }

    /// The elements of `stream` fed in pieces of `step` bytes, stamped as `stamp` says.
    fn stamped(stream: &[u8], step: usize, stamp: &RootStamp<'_>) -> Vec<Element> {
        let mut p = StreamParser::default();
        let mut out = Vec::new();
        for piece in stream.chunks(step) {
            let mut rest = piece;
            while !rest.is_empty() {
                let used = p.handle_input_stamped(rest, Some(stamp)).unwrap();
                rest = &rest[used..];
                while let Some(e) = p.poll_event() {
                    if let Event::Element(el) = e {
                        out.push(el);
                    }
                }
            }
        }
        out
    }

    const OPEN: &[u8] = b"<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='a' version='1.0'/>";

    /// A framed parser with its stream opened.
    fn framed() -> StreamParser {
        let mut p = StreamParser::default();
        p.handle_message(OPEN).unwrap();
        assert!(matches!(p.poll_event(), Some(Event::StreamOpened(_))));
        p
    }

    #[test]
    fn a_message_is_one_element_with_its_own_declarations() {
        let mut p = framed();
        p.handle_message(b"<message xmlns='jabber:client'><body>hi</body></message>\n")
            .unwrap();
        let Some(Event::Element(el)) = p.poll_event() else {
            panic!("an element")
        };
        assert!(el.is("message", "jabber:client"));
        // Nothing is inherited from `<open/>`: a stanza without xmlns is in no namespace.
        p.handle_message(b"<message/>").unwrap();
        let Some(Event::Element(el)) = p.poll_event() else {
            panic!("an element")
        };
        assert_eq!(el.ns(), "");
        // A declaration may come first; then white space.
        p.handle_message(b"<?xml version='1.0'?> <a xmlns='urn:a'/>")
            .unwrap();
        assert!(matches!(p.poll_event(), Some(Event::Element(_))));
        assert_eq!(p.buffered(), 0);
    }

    #[test]
    fn a_message_that_is_not_one_element_reports_nothing_of_it() {
        let cases: [(&[u8], ErrorKind); 8] = [
            (b"", ErrorKind::NotOneElement),
            (b" <a xmlns='urn:a'/>", ErrorKind::NotOneElement),
            (
                b"<a xmlns='urn:a'/><b xmlns='urn:a'/>",
                ErrorKind::NotOneElement,
            ),
            (b"<a xmlns='urn:a'/>x", ErrorKind::NotOneElement),
            (b"<a xmlns='urn:a'><b>", ErrorKind::UnexpectedEof),
            (b"</a>", ErrorKind::MismatchedEndTag),
            (b"<stream:features/>", ErrorKind::UnboundPrefix),
            (
                b"<a xmlns='urn:a'>\xC3",
                ErrorKind::InvalidUtf8(Utf8Fault::Truncated),
            ),
        ];
        for (message, kind) in cases {
            let mut p = framed();
            let e = p.handle_message(message).unwrap_err();
            assert_eq!(e.kind(), kind, "{}", message.escape_ascii());
            assert_eq!(p.poll_event(), None, "{}", message.escape_ascii());
            assert_eq!(p.buffered(), 0);
            // Failed for good.
            assert_eq!(p.handle_message(b"<a xmlns='urn:a'/>"), Err(e));
        }
    }

    #[test]
    fn the_first_message_must_be_open_and_close_ends_the_stream() {
        let mut p = StreamParser::default();
        let e = p
            .handle_message(b"<message xmlns='jabber:client'/>")
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotAStreamHeader);
        assert_eq!(p.poll_event(), None);
        let mut p = StreamParser::default();
        let e = p
            .handle_message(b"<open xmlns='http://etherx.jabber.org/streams'/>")
            .unwrap_err();
        assert_eq!(
            e.condition(),
            crate::error::StreamErrorCondition::InvalidNamespace
        );
        // Section 3.4: `<close/>` may answer `<open/>`; the stream ends unopened.
        let mut p = StreamParser::default();
        p.handle_message(b"<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>")
            .unwrap();
        assert!(matches!(p.poll_event(), Some(Event::Element(el)) if el.name() == "close"));
        assert!(p.is_closed());

        let mut p = framed();
        p.handle_message(b"<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>")
            .unwrap();
        assert!(matches!(p.poll_event(), Some(Event::Element(el)) if el.name() == "close"));
        let e = p.handle_message(b"<a xmlns='urn:a'/>").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ContentAfterClose);
        // A restart opens a new framed stream.
        p.reset();
        p.handle_message(OPEN).unwrap();
        assert!(matches!(p.poll_event(), Some(Event::StreamOpened(_))));
    }

    #[test]
    fn a_message_over_the_limit_is_refused_at_the_limit_not_buffered() {
        let limits = Limits {
            max_element_bytes: 64,
            ..Limits::default()
        };
        let mut p = StreamParser::new(limits);
        p.handle_message(OPEN).unwrap();
        let mut big = b"<a xmlns='urn:a'>".to_vec();
        big.resize(1 << 20, b'x');
        big.extend_from_slice(b"</a>");
        let e = p.handle_message(&big).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::LimitExceeded(Limit::ElementBytes));
        assert_eq!(e.offset(), OPEN.len() as u64 + 64);
        assert_eq!(p.buffered(), 0);
    }

    #[test]
    fn stamps_are_added_where_absent_to_the_named_elements_only() {
        let header: &[u8] = b"<stream:stream xmlns='jabber:client' \
            xmlns:stream='http://etherx.jabber.org/streams' xml:lang='de'>";
        // Each input, and what it must read as once stamped.
        let cases: [(&str, &str); 7] = [
            // Neither: both added, after the root's own attributes.
            (
                "<message to='a@b' id='1'><body>x</body></message>",
                "<message to='a@b' id='1' from='me@here/r' xml:lang='de'><body>x</body></message>",
            ),
            // A child with attributes after the root's: the root's records are copied.
            (
                "<message to='a@b'><x xmlns='urn:x' k='v'/><y xmlns='urn:y' j='w'/></message>",
                "<message to='a@b' from='me@here/r' xml:lang='de'><x xmlns='urn:x' k='v'/>\
              <y xmlns='urn:y' j='w'/></message>",
            ),
            // Its own of each: kept as written.
            (
                "<presence from='x@y' xml:lang='fr'/>",
                "<presence from='x@y' xml:lang='fr'/>",
            ),
            // No attributes at all, and a value to escape when written.
            (
                "<iq><q xmlns='urn:q' a='&amp;'/></iq>",
                "<iq from='me@here/r' xml:lang='de'><q xmlns='urn:q' a='&amp;'/></iq>",
            ),
            // Not a stanza name, or not in the namespace: untouched.
            ("<r xmlns='urn:xmpp:sm:3'/>", "<r xmlns='urn:xmpp:sm:3'/>"),
            (
                "<message xmlns='urn:other'/>",
                "<message xmlns='urn:other'/>",
            ),
            // A prefixed stanza in the content namespace is one.
            (
                "<c:message xmlns:c='jabber:client' c:x='1'/>",
                "<message xmlns='jabber:client' xmlns:c='jabber:client' c:x='1' from='me@here/r' \
              xml:lang='de'/>",
            ),
        ];
        let stamp = RootStamp {
            ns: "jabber:client",
            names: &["message", "presence", "iq"],
            attr: ("from", "me@here/r"),
            header_lang: true,
        };
        let mut stream = header.to_vec();
        for (input, _) in &cases {
            stream.extend_from_slice(input.as_bytes());
        }
        let whole = stamped(&stream, stream.len(), &stamp);
        assert_eq!(whole.len(), cases.len());
        for ((input, want), got) in cases.iter().zip(&whole) {
            let want = parse_element("jabber:client", want.as_bytes()).unwrap();
            assert_eq!(got, &want, "{input}");
            // The stamped attributes read through every accessor, and the child's still.
            let mut written = bytes::BytesMut::new();
            crate::xml::write_element(&mut written, got.root(), "jabber:client");
            let again = parse_element("jabber:client", &written).unwrap();
            assert_eq!(&again, &want, "{input} written as {written:?}");
        }
        // The same elements whatever the cut: stamping happens in direct and buffered mode.
        for step in [1, 3, 7, 64] {
            assert_eq!(stamped(&stream, step, &stamp), whole, "pieces of {step}");
        }
    }

    #[test]
    fn start_tags_read_the_same_wherever_the_input_is_cut() {
        // The fast path of a start tag stops at a cut, or at an unusual attribute, and the
        // state machine reads on: white space to normalize in values (raw, in a piece that
        // ends mid-value, or after a reference), references, other white space between
        // attributes, prefixes, and faults found after a few ordinary attributes.
        let header = b"<stream:stream xmlns='jabber:client' \
            xmlns:stream='http://etherx.jabber.org/streams'>";
        let elements: [&[u8]; 9] = [
            b"<message to='a\tb' from=\"c\nd\" id='x&amp;y\r\nz' type='chat'/>",
            b"<iq a='1'\tb='2'\n c='3' xml:lang='en' p:d='4' xmlns:p='urn:p'><q/></iq>",
            b"<x  a='one two three four five six seven eight\tnine'  b='&#9;' ></x>",
            b"<x a='1' b='2' c='3' a='4'/>",
            b"<x a='1' b='2<'/>",
            b"<x a='1' b='2'c='3'/>",
            b"<x a='1' b='2' / >",
            b"<x a='1' p:b='2' q:b='3' xmlns:p='u' xmlns:q='u'/>",
            b"<x a:b:c='1'/>",
        ];
        for el in elements {
            let input = [&header[..], el].concat();
            let whole = events_of(&[&input]);
            for cut in 1..input.len() {
                let (a, b) = input.split_at(cut);
                assert_eq!(
                    events_of(&[a, b]),
                    whole,
                    "{} cut at {cut}",
                    el.escape_ascii()
                );
            }
            let bytes: Vec<&[u8]> = input.chunks(1).collect();
            assert_eq!(
                events_of(&bytes),
                whole,
                "{} byte by byte",
                el.escape_ascii()
            );
        }
        // The values themselves, normalized.
        let input = [&header[..], elements[0]].concat();
        let (events, _) = events_of(&[&input]);
        let Some(Event::Element(el)) = events.last() else {
            panic!("an element")
        };
        let values: Vec<_> = el.root().attrs().map(|a| a.value().into_owned()).collect();
        // A CR LF is one line end, so one space.
        assert_eq!(values, ["a b", "c d", "x&y z", "chat"]);
    }

    #[test]
    fn a_header_namespace_is_shared_by_elements_not_copied_into_each() {
        let long = "urn:".to_owned() + &"x".repeat(8000);
        let header = format!(
            "<stream:stream xmlns='jabber:client' \
             xmlns:stream='http://etherx.jabber.org/streams' xmlns:p='{long}'>"
        );
        let mut p = StreamParser::default();
        p.handle_input(header.as_bytes()).unwrap();
        p.handle_input(b"<iq p:a='1'/><p:iq/><iq/>").unwrap();
        assert!(matches!(p.poll_event(), Some(Event::StreamOpened(_))));
        for _ in 0..3 {
            let Some(Event::Element(el)) = p.poll_event() else {
                panic!("an element")
            };
            // The element's own buffer holds its bytes and records, not the 8 KB name...
            assert!(el.buffer().len() < 200, "{} bytes", el.buffer().len());
            // ...which it still reads, through the header it shares.
            let root = el.root();
            let named = root.ns() == long || root.attr_ns(&long, "a").is_some();
            assert_eq!(named, el.raw() != b"<iq/>", "{el}");
        }
    }
}
