//! The engine every role owns: one stream's parser and input feeder, its one writer, its
//! timers, its event queue, its clock and its lifecycle, with every way a stream ends
//! (RFC 6120 sections 4.4, 4.6.1, 4.7 and 4.9) written once.
//!
//! A role ([`crate::client::Client`], [`crate::server::Server`], the XEP-0114 sides) is its
//! configuration, its events and its negotiation. It owns an [`Engine`] and implements
//! [`StreamRole`]: the engine hands it the peer's header and the first-level elements that
//! are its business, asks it for its own header when one must be written, and does
//! everything else itself:
//!
//! - **input**: [`StreamRole::input`] feeds the parser one event at a time, so that nothing
//!   after the element that ends a phase (`<proceed/>`, `<starttls/>`, a SASL `<success/>`)
//!   is looked at by the old stream; it refuses input while TLS is being set up and
//!   ignores it once the stream is over. A peer's closing tag or stream error, and a fault
//!   in its XML, end the stream here, for every role.
//! - **output**: every byte goes through the engine ([`Engine::write_header`],
//!   [`Engine::write_element`], [`Engine::write`]) into one [`Output`], which writes the
//!   closing tag once and nothing after it. Every write while the stream is idle-watched
//!   moves the keepalive.
//! - **time**: every call that takes `now` runs at `now` and then fires the timers due at
//!   `now` ([`StreamRole::at`]); a timer is armed only from a time the embedder gave in
//!   the same call, so no deadline is computed from a stale clock, and after such a call
//!   [`Engine::poll_timeout`] is never in the past.
//! - **ending**: a graceful close, our stream error, the peer's closing tag or stream
//!   error, abandoning, the end of input and a timeout all go through
//!   [`StreamRole::end_stream`]: our header first if none is out, the error if any, our
//!   closing tag, and one `Closed` event with its [`CloseReason`].

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use super::close::{Abandoned, CloseReason};
use super::framing::{self, Framing};
use super::header::{Header, write_header};
use super::management::{self, Acks, ResumptionState, SmSettings};
use super::output::Output;
use super::timers::{Periods, Timer, TimerTable};
use super::tls::Transport;
use crate::error::{FRAMING_NS, STREAM_NS, StreamError, StreamErrorCondition};
use crate::stanza::{CONTENT_NAMESPACES, NotAStanza, Stanza};
use crate::xml::{Element, Event, Limits, RootStamp, StreamParser, Writer};

/// The stanza elements (RFC 6120 section 8).
const STANZA_NAMES: [&str; 3] = ["message", "presence", "iq"];

/// Where the stream stands, whatever the role. Negotiation (what the role waits for) is the
/// role's; this is only what decides whether input is taken and output written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lifecycle {
    /// Nothing written or read: an initiating entity before `open`.
    Idle,
    /// A stream whose header we have not written: a receiving entity answers the peer's
    /// header with its own (RFC 6120 section 4.7), at first and after each restart.
    Opening,
    /// Our header of the current stream is out.
    Open,
    /// TLS is being set up after `<proceed/>` (RFC 6120 section 5.4.3.3): input is refused,
    /// since it would be plaintext injected before the handshake, until TLS is up and the
    /// stream restarts.
    Securing,
    /// Our closing tag is out and the peer's is awaited (RFC 6120 section 4.4): stanzas
    /// that still come are handled, anything else ends the stream.
    Closing,
    /// Over: no input is taken, nothing is written or reported.
    Closed,
}

/// The index of `ns` in [`CONTENT_NAMESPACES`]; every role's is one of them.
fn content_index(ns: &str) -> u8 {
    let index = CONTENT_NAMESPACES.iter().position(|c| *c == ns);
    debug_assert!(index.is_some(), "not a content namespace: {ns}");
    index.and_then(|i| u8::try_from(i).ok()).unwrap_or(0)
}

/// Event slots a drained queue keeps; a larger one (grown by a burst) is given back.
const KEEP_EVENTS: usize = 16;

/// What the engine is told about the stream it runs.
pub(crate) struct Settings {
    /// The content namespace (`jabber:client`, `jabber:component:accept`...).
    pub content_ns: &'static str,
    /// Limits of the parser (a role may change them later).
    pub limits: Limits,
    /// How long the peer may take to answer during negotiation and closing.
    pub response_timeout: Duration,
    /// Idle time after which whitespace is sent once negotiation is over; `None`: never.
    pub keepalive: Option<Duration>,
}

/// Why input was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InputRefused {
    /// The stream is not opened yet.
    NotOpen,
    /// TLS is being set up: the input was discarded.
    AwaitingTls,
}

/// Why a stanza written by the embedder (`send_with`) was not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StanzaRefused {
    /// The writer was left with elements open: the bytes would break the stream.
    Unbalanced,
    /// Larger than the peer accepts (XEP-0478).
    TooLarge { size: usize, max: u64 },
    /// Stream management's unacknowledged queue is at its limits (an `<r/>` went out,
    /// unless one was outstanding).
    QueueFull,
}

/// The events every role reports in its own event type.
pub(crate) trait StreamEvent: Sized {
    fn peer_stream_error(error: Box<StreamError>) -> Self;
    fn closed(reason: CloseReason) -> Self;
    /// The event that tells the embedder why this side gave up, for roles that report one
    /// before `Closed`.
    fn abandoned(_reason: &Abandoned) -> Option<Self> {
        None
    }
    /// The event that reports `n` more of our stanzas acknowledged by the peer (XEP-0198),
    /// for roles that run stream management.
    fn acked(_n: u32) -> Option<Self> {
        None
    }
}

/// Implements [`StreamEvent`] for a role's event type, whose variants `PeerStreamError` and
/// `Closed` carry the error and the reason (and, after `abandoned =>`, the variant that
/// carries an [`Abandoned`] reason; after `tls =>`, the variant that asks for TLS, which the
/// STARTTLS step's `TlsRequested` becomes).
macro_rules! stream_event {
    ($event:ident $(, abandoned => $abandoned:ident)? $(, tls => $tls:ident)?
        $(, acked => $acked:ident)?) => {
        $(
            impl From<$crate::negotiate::starttls::TlsRequested> for $event {
                fn from(_: $crate::negotiate::starttls::TlsRequested) -> Self {
                    $event::$tls
                }
            }
        )?

        // A step that asks nothing has `Infallible` for its question.
        impl From<core::convert::Infallible> for $event {
            fn from(never: core::convert::Infallible) -> Self {
                match never {}
            }
        }

        impl $crate::stream::engine::StreamEvent for $event {
            fn peer_stream_error(error: Box<$crate::error::StreamError>) -> Self {
                $event::PeerStreamError(error)
            }

            fn closed(reason: $crate::stream::CloseReason) -> Self {
                $event::Closed(reason)
            }

            $(
                fn abandoned(reason: &$crate::stream::Abandoned) -> Option<Self> {
                    Some($event::$abandoned(reason.clone()))
                }
            )?

            $(
                fn acked(n: u32) -> Option<Self> {
                    Some($event::$acked(n))
                }
            )?
        }
    };
}

pub(crate) use stream_event;

/// The engine of one stream; see the module documentation.
pub(crate) struct Engine<E> {
    parser: StreamParser,
    out: Output,
    events: VecDeque<E>,
    /// The stream's clock and timers, with how long each runs.
    timers: TimerTable,
    life: Lifecycle,
    transport: Transport,
    /// The content namespace, as its index in [`CONTENT_NAMESPACES`]: a byte beside the
    /// lifecycle rather than a 16-byte `&str`, which pays for `sm` (sessions stay within
    /// 512 bytes inline, `tests/session_size.rs`).
    content: u8,
    /// Stream management's counters (XEP-0198), once it is asked for: boxed, so that a
    /// session without it pays one word.
    sm: Option<Box<Acks>>,
}

impl<E: StreamEvent> Engine<E> {
    /// The engine of an initiating entity: idle until the role writes its header.
    pub fn initiating(settings: Settings, now: Instant) -> Self {
        Engine {
            parser: StreamParser::new(settings.limits),
            out: Output::default(),
            events: VecDeque::new(),
            timers: TimerTable::new(
                now,
                Periods {
                    response: settings.response_timeout,
                    keepalive: settings.keepalive,
                },
            ),
            life: Lifecycle::Idle,
            transport: Transport::Plain,
            content: content_index(settings.content_ns),
            sm: None,
        }
    }

    /// The engine of a receiving entity: the peer's header is awaited from `now`.
    pub fn receiving(settings: Settings, now: Instant) -> Self {
        let mut engine = Engine::initiating(settings, now);
        engine.life = Lifecycle::Opening;
        engine.await_peer();
        engine
    }

    /// Frames the stream as `framing` says (a role calls it right after building the
    /// engine). WebSocket framing (RFC 7395): each input call is one message and each
    /// output one; `<open/>` and `<close/>` for the header and the closing tag; no
    /// keepalive (section 3.4); over `wss:` the transport is encrypted from the start
    /// (section 3.7: no STARTTLS).
    #[cfg_attr(not(any(feature = "client", feature = "server")), allow(dead_code))]
    pub fn set_framing(&mut self, framing: Framing) {
        // Kept by the output alone (the engine's size is every session's).
        if let Framing::WebSocket { secure } = framing {
            self.out.frame_messages(self.content_ns());
            self.timers.no_keepalive();
            self.active();
            if secure {
                self.transport = Transport::Tls {
                    channel_bindings: Box::default(),
                    peer_certificate: false,
                };
            }
        }
    }

    /// The stream's framing.
    #[cfg_attr(not(any(feature = "client", feature = "server")), allow(dead_code))]
    pub fn framing(&self) -> Framing {
        if self.out.is_framed() {
            Framing::WebSocket {
                secure: self.transport.is_encrypted(),
            }
        } else {
            Framing::Tcp
        }
    }

    fn set_now(&mut self, now: Instant) {
        self.timers.advance(now);
    }

    pub fn parser(&self) -> &StreamParser {
        &self.parser
    }

    pub fn parser_mut(&mut self) -> &mut StreamParser {
        &mut self.parser
    }

    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    /// Before `open`.
    pub fn is_idle(&self) -> bool {
        self.life == Lifecycle::Idle
    }

    /// Our closing tag is out, or the stream is over: nothing the embedder asks can be
    /// written any more.
    pub fn is_ending(&self) -> bool {
        matches!(self.life, Lifecycle::Closing | Lifecycle::Closed)
    }

    pub fn is_closed(&self) -> bool {
        self.life == Lifecycle::Closed
    }

    /// The stream's content namespace (`jabber:client`...).
    fn content_ns(&self) -> &'static str {
        CONTENT_NAMESPACES[usize::from(self.content)]
    }

    /// Is `el` a stanza of this stream (RFC 6120 section 8): message, presence or iq in the
    /// content namespace?
    fn is_stanza(&self, el: &Element) -> bool {
        el.ns() == self.content_ns() && matches!(el.name(), "message" | "presence" | "iq")
    }

    /// `el` as a stanza of this stream, or back when it is not one.
    pub fn stanza(&self, el: Element) -> Result<Stanza, Element> {
        if el.ns() != self.content_ns() {
            return Err(el);
        }
        // The namespace is the stream's content namespace, compared just above.
        Stanza::from_content_element(el).map_err(|NotAStanza(el)| el)
    }

    /// Queues an event for the embedder.
    pub fn report(&mut self, event: E) {
        self.events.push_back(event);
    }

    /// Writes our stream header (RFC 6120 section 4.7) for the current stream.
    pub fn write_header(&mut self, header: Header<'_>) {
        let ns = self.content_ns();
        if self.out.is_framed() {
            self.out.write(|buf| framing::write_open(buf, header));
        } else {
            self.out.write(|buf| write_header(buf, ns, header));
        }
        if matches!(self.life, Lifecycle::Idle | Lifecycle::Opening) {
            self.life = Lifecycle::Open;
        }
    }

    /// Writes one element with a [`Writer`] (which ends every element it starts).
    pub fn write_element(&mut self, f: impl FnOnce(&mut Writer<'_>)) {
        self.write(|buf| {
            let mut w = Writer::new(buf);
            f(&mut w);
            w.finish();
        });
    }

    /// Writes the stanza (or first-level element) that `f` writes, all of it or nothing:
    /// nothing when `f` leaves an element open, or when what it wrote is larger than `max`
    /// bytes (the peer's XEP-0478 limit). A stanza in any content namespace is written in
    /// the stream's (see [`Writer::in_stream`]): the builders' default, `jabber:client`, is
    /// right in every stream.
    pub fn write_stanza(
        &mut self,
        f: impl FnOnce(&mut Writer<'_>),
        max: Option<u64>,
    ) -> Result<(), StanzaRefused> {
        // XEP-0198: the embedder's stanza waits for acks when the queue is full; the peer
        // is asked for one so that it drains.
        if self.sm.as_ref().is_some_and(|acks| acks.is_full()) {
            self.sm_request_once();
            return Err(StanzaRefused::QueueFull);
        }
        let room = self.sm.as_ref().and_then(|acks| acks.room());
        let mut refused = None;
        let content_ns = self.content_ns();
        let framed = self.out.is_framed();
        self.write(|buf| {
            let start = buf.len();
            // A stanza built or parsed in another content namespace is written in ours.
            let mut w = Writer::in_stream(buf, &CONTENT_NAMESPACES, content_ns);
            f(&mut w);
            let balanced = w.depth() == 0;
            // Checked here rather than by `finish`, which only asserts in debug builds: an
            // embedder's mistake is an error, never bytes that break the stream.
            if balanced {
                w.finish();
                // Measured as sent: over WebSocket with the declarations the output adds
                // (adding them again there changes nothing).
                if framed {
                    framing::declare_root(buf, start, content_ns);
                }
            }
            let size = buf.len() - start;
            refused = if !balanced {
                Some(StanzaRefused::Unbalanced)
            } else {
                max.filter(|&max| size as u64 > max)
                    .map(|max| StanzaRefused::TooLarge { size, max })
                    .or_else(|| {
                        room.filter(|&room| size > room)
                            .map(|_| StanzaRefused::QueueFull)
                    })
            };
            if refused.is_some() {
                buf.truncate(start);
            }
        });
        if refused == Some(StanzaRefused::QueueFull) {
            self.sm_request_once();
        }
        refused.map_or(Ok(()), Err)
    }

    /// Writes what `f` appends (it may take back what it appended: a write that adds
    /// nothing is no write). Nothing is written after our closing tag.
    ///
    /// With stream management, this is where our stanzas are counted (XEP-0198 section
    /// 4): every path that writes one (`send`, an error reply, the legacy session's result)
    /// writes one first-level element per call through here; nonzas do not count. Each
    /// is kept in the unacknowledged queue (its place in the output, frozen when the
    /// embedder takes it), the ack timer runs, and after every `request_every` stanzas an
    /// `<r/>` follows.
    pub fn write(&mut self, f: impl FnOnce(&mut BytesMut)) {
        let Some(range) = self.out.write(f) else {
            return;
        };
        let grew = !range.is_empty();
        let mut queued = false;
        let content_ns = self.content_ns();
        if let Some(acks) = &mut self.sm {
            if grew && management::starts_stanza(self.out.written(range.clone()), content_ns) {
                queued = true;
                acks.queued(range.start, range.end);
                if acks.sent_one() {
                    acks.requested();
                    // A write of its own: over WebSocket, a message of its own.
                    self.out
                        .write(|buf| management::write_request(&mut Writer::new(buf)));
                }
            }
        }
        if queued {
            self.arm_ack_timer();
        }
        debug_assert!(
            self.life != Lifecycle::Opening || !grew,
            "a write before our header"
        );
        if grew {
            if self.timers.is_running(Timer::Keepalive) {
                self.restart_keepalive();
            }
            self.active();
        }
    }

    /// Something came in or went out: a session without a keepalive gives back its
    /// scratch memory after [`IDLE_TRIM`](super::timers::IDLE_TRIM) of nothing more (the keepalive does it for the
    /// others).
    fn active(&mut self) {
        if !self.timers.has_keepalive() && matches!(self.life, Lifecycle::Opening | Lifecycle::Open)
        {
            self.timers.start(Timer::Idle);
        }
    }

    /// The peer must answer within the response timeout from now.
    pub fn await_peer(&mut self) {
        self.timers.start(Timer::Response);
    }

    /// The embedder is to act next: no deadline for the peer.
    pub fn await_embedder(&mut self) {
        self.timers.stop(Timer::Response);
    }

    /// Negotiation is over: no response deadline, and the keepalive (if any) runs from now.
    pub fn negotiated(&mut self) {
        self.timers.stop(Timer::Response);
        self.restart_keepalive();
    }

    fn restart_keepalive(&mut self) {
        if self.timers.has_keepalive() {
            self.timers.start(Timer::Keepalive);
        }
    }

    /// `<proceed/>` went out or came in: no more input until TLS is up (RFC 6120 section
    /// 5.4.3.3), and no deadline while the embedder sets it up.
    pub fn start_tls(&mut self) {
        self.life = Lifecycle::Securing;
        self.timers.stop_all();
    }

    /// TLS is up, protected as `transport` says; the role restarts the stream next. False
    /// when TLS was not being set up (nothing changes).
    pub fn tls_established(&mut self, transport: Transport) -> bool {
        if self.life != Lifecycle::Securing {
            return false;
        }
        self.transport = transport;
        self.restart();
        true
    }

    /// The transport was encrypted from its first byte (XEP-0368 direct TLS): no STARTTLS
    /// is offered or expected, and channel binding is there from the start. Only before the
    /// first stream: false (nothing changes) once either header is out or in, or TLS is up.
    pub fn direct_tls(&mut self, transport: Transport) -> bool {
        let fresh = self.parser.header().is_none()
            && matches!(self.life, Lifecycle::Idle | Lifecycle::Opening)
            && !self.transport.is_encrypted();
        if fresh {
            self.transport = transport;
        }
        fresh
    }

    /// A stream restart (RFC 6120 sections 5.4.3.3 and 6.4.6): a new parser for the peer's
    /// new stream, and our header of it is not written yet.
    pub fn restart(&mut self) {
        self.parser.reset();
        if matches!(self.life, Lifecycle::Open | Lifecycle::Securing) {
            self.life = Lifecycle::Opening;
        }
    }

    /// Our header must be written before anything else can be.
    fn needs_header(&self) -> bool {
        self.life == Lifecycle::Opening && !self.out.is_ended()
    }

    /// The stream is over for `reason`: one `Closed` event, no more timers.
    fn set_closed(&mut self, reason: CloseReason) {
        self.life = Lifecycle::Closed;
        if matches!(reason, CloseReason::LocalClose | CloseReason::PeerClose) {
            if let Some(acks) = &mut self.sm {
                acks.closed_cleanly();
            }
        }
        self.timers.stop_all();
        self.events.push_back(E::closed(reason));
    }

    /// The keepalive is due: whitespace between elements (RFC 6120 section 4.6.1), and,
    /// the session being idle, its scratch memory goes back.
    fn keepalive_due(&mut self) {
        // Never armed over WebSocket (RFC 7395 section 3.4), which `set_framing` ensures.
        self.write(|buf| buf.extend_from_slice(b" "));
        self.restart_keepalive();
        self.shrink();
    }

    /// Can input be taken now?
    fn takes_input(&self) -> bool {
        matches!(
            self.life,
            Lifecycle::Opening | Lifecycle::Open | Lifecycle::Closing
        )
    }

    /// The next event for the embedder. A queue that a burst made grow is given back once
    /// drained (a small one waits for the session to go idle).
    pub fn poll_event(&mut self) -> Option<E> {
        let event = self.events.pop_front();
        if self.events.is_empty() && self.events.capacity() > KEEP_EVENTS {
            self.events = VecDeque::new();
        }
        event
    }

    /// Bytes to write to the transport. The stanzas in them that stream management keeps
    /// become slices of them (no copies).
    ///
    /// With WebSocket framing, one message per call: all that was written is frozen at
    /// once, as over TCP, and handed out in slices, one element each.
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        if let Some(message) = self.out.next_message() {
            return Some(message);
        }
        let out = self.out.take()?;
        if let Some(acks) = &mut self.sm {
            acks.queue.freeze(&out);
        }
        Some(self.out.split(out))
    }

    /// When a timer fires next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// Stream management begins on our side: our stanzas are counted from now (the
    /// client's `<enable/>` or the server's `<enabled/>` is out), with an `<r/>` after
    /// every `request_every` of them (0: only when asked).
    #[cfg_attr(not(any(feature = "client", feature = "server")), allow(dead_code))]
    pub fn sm_begin(&mut self, settings: SmSettings) {
        self.sm.get_or_insert_with(|| Box::new(Acks::new(settings)));
    }

    /// The session resumes the one `state` describes: its counters and queue are ours, and
    /// wait for the resumption to be accepted ([`sm_resumed`](Self::sm_resumed)).
    #[cfg_attr(not(any(feature = "client", feature = "server")), allow(dead_code))]
    pub fn sm_resume_from(&mut self, state: ResumptionState, settings: SmSettings) {
        self.sm = Some(Box::new(Acks::from_state(state, settings)));
    }

    /// The stream management state of the session being resumed or resumable.
    #[cfg_attr(not(any(feature = "client", feature = "server")), allow(dead_code))]
    pub fn sm_resumable(&self) -> Option<&management::Resumable> {
        self.sm.as_ref()?.resumable.as_deref()
    }

    /// Stream management's counters, once begun.
    #[cfg_attr(not(any(feature = "client", feature = "server")), allow(dead_code))]
    pub fn sm_mut(&mut self) -> Option<&mut Acks> {
        self.sm.as_deref_mut()
    }

    /// The session is bound to `jid`: kept for resumption.
    #[cfg_attr(not(any(feature = "client", feature = "server")), allow(dead_code))]
    pub fn sm_bound(&mut self, jid: &crate::jid::FullJid) {
        if let Some(acks) = &mut self.sm {
            acks.jid = Some(jid.clone());
        }
    }

    /// The bound JID of the session being resumed.
    #[cfg_attr(not(any(feature = "client", feature = "server")), allow(dead_code))]
    pub fn sm_jid(&self) -> Option<&crate::jid::FullJid> {
        self.sm.as_ref()?.jid.as_ref()
    }

    /// Is a resumption under way (the state is given, not yet accepted)?
    #[cfg_attr(not(any(feature = "client", feature = "server")), allow(dead_code))]
    pub fn sm_is_resuming(&self) -> bool {
        self.sm.as_ref().is_some_and(|acks| acks.resuming)
    }

    /// Our `h`, with stream management.
    #[cfg_attr(not(any(feature = "client", feature = "server")), allow(dead_code))]
    pub fn sm_handled(&self) -> u32 {
        self.sm.as_ref().map_or(0, |acks| acks.handled())
    }

    /// The resumption is accepted and the peer handled `h` of our stanzas: those are
    /// dropped (reported as acked), the rest sent again, in order, as they first went out,
    /// and acks flow. An `h` beyond what we sent is the too-high error of section 4.
    #[cfg_attr(not(any(feature = "client", feature = "server")), allow(dead_code))]
    pub fn sm_resumed(&mut self, h: u32) -> Result<(), StreamError> {
        let Some(acks) = self.sm.as_mut() else {
            return Ok(());
        };
        acks.resuming = false;
        let newly = acks.ack(h).map_err(management::too_high_error)?;
        if newly > 0 {
            if let Some(event) = E::acked(newly) {
                self.events.push_back(event);
            }
        }
        // Sent again from the queue's own frozen bytes: counted already (`sent` is
        // `acked` plus the queue), so not through `write`, which would count them twice.
        let mut again = 0usize;
        if let Some(acks) = &self.sm {
            for stanza in acks.queue.frozen() {
                self.out.write(|buf| buf.extend_from_slice(stanza));
                again += 1;
            }
        }
        if again > 0 {
            self.restart_keepalive();
            self.arm_ack_timer();
        }
        Ok(())
    }

    /// The resumption failed: the stanzas the peer had not acknowledged (by `h`, when it
    /// gave one that fits), which may be lost; stream management is off until enabled
    /// anew.
    #[cfg_attr(not(feature = "client"), allow(dead_code))]
    pub fn sm_resume_failed(&mut self, h: Option<u32>) -> Vec<Bytes> {
        let Some(mut acks) = self.sm.take() else {
            return Vec::new();
        };
        if let Some(h) = h {
            // An h that does not fit acknowledges nothing: every stanza may be lost.
            let _ = acks.ack(h);
        }
        acks.take_unacked()
    }

    /// Once the stream is over: the state to resume it from, when it is resumable (its
    /// unacknowledged stanzas go with it). Stream management is then gone from the
    /// session.
    #[cfg_attr(not(any(feature = "client", feature = "server")), allow(dead_code))]
    pub fn sm_take_state(&mut self) -> Option<ResumptionState> {
        if !self.is_closed() {
            return None;
        }
        self.freeze_output();
        let acks = self.sm.as_mut()?;
        // A state given and not accepted yet (the transport broke during SASL) is as good
        // as it was: taken back as it is, for the next attempt.
        if acks.resumable.is_none() || acks.jid.is_none() {
            return None;
        }
        let state = acks.take_state();
        self.sm = None;
        state
    }

    /// Once the stream is over: the stanzas the peer did not acknowledge, oldest first,
    /// as they went out (nothing once [`sm_take_state`](Self::sm_take_state) took them).
    #[cfg_attr(not(any(feature = "client", feature = "server")), allow(dead_code))]
    pub fn sm_take_unacked(&mut self) -> Vec<Bytes> {
        if !self.is_closed() {
            return Vec::new();
        }
        self.freeze_output();
        self.sm
            .take()
            .map_or_else(Vec::new, |mut acks| acks.take_unacked())
    }

    /// The stream is over: what the embedder did not take of the output never goes out,
    /// and the stanzas in it are frozen for the queue.
    fn freeze_output(&mut self) {
        let _ = self.poll_transmit();
        self.out.discard();
    }

    /// Stream management's timer: a stanza is unacknowledged; an `<r/>` goes out after
    /// the configured time unless one is outstanding.
    fn arm_ack_timer(&mut self) {
        // Once our closing tag is out nothing more is written: no `<r/>` to wait for.
        if self.is_ending() {
            return;
        }
        let Some(acks) = self.sm.as_ref().filter(|a| a.is_enabled()) else {
            return;
        };
        if let Some(after) = acks.settings.request_after {
            if acks.unacked() > 0 && !acks.awaiting && !self.timers.is_running(Timer::Ack) {
                self.timers.start_in(Timer::Ack, after);
            }
        }
    }

    /// The ack timer fired.
    fn ack_due(&mut self) {
        if self.sm.as_ref().is_some_and(|acks| acks.unacked() > 0) {
            self.sm_request_once();
        }
    }

    /// An `<r/>`, unless one is outstanding.
    fn sm_request_once(&mut self) {
        if self.sm.as_ref().is_some_and(|acks| !acks.awaiting) {
            self.sm_request();
        }
    }

    /// The core's own stanzas went past twice the queue's limits.
    fn sm_overflowed(&self) -> bool {
        self.sm.as_ref().is_some_and(|acks| acks.overflow)
    }

    /// Stream management is on both ways: the stanzas we handle are counted from now
    /// (the server received `<enable/>`, the client `<enabled/>`), and `<r/>` and `<a/>`
    /// are taken.
    #[cfg_attr(not(any(feature = "client", feature = "server")), allow(dead_code))]
    pub fn sm_enabled(&mut self) {
        if let Some(acks) = &mut self.sm {
            acks.count_inbound();
        }
        // Stanzas sent between `<enable/>` and `<enabled/>` wait for an ack too; a queue
        // that filled meanwhile asks for one now (it could not before).
        self.arm_ack_timer();
        if self.sm.as_ref().is_some_and(|acks| acks.is_full()) {
            self.sm_request_once();
        }
    }

    /// Stream management ended before it was enabled (the client received `<failed/>`).
    #[cfg_attr(not(feature = "client"), allow(dead_code))]
    pub fn sm_end(&mut self) {
        self.sm = None;
    }

    /// Has stream management begun on our side (it may still await `<enabled/>`)?
    #[cfg_attr(not(any(feature = "client", feature = "server")), allow(dead_code))]
    pub fn sm_begun(&self) -> bool {
        self.sm.is_some()
    }

    /// Is stream management on both ways?
    pub fn sm_is_enabled(&self) -> bool {
        self.sm.as_ref().is_some_and(|acks| acks.is_enabled())
    }

    /// Our stanzas not acknowledged yet, with stream management on.
    #[cfg_attr(not(any(feature = "client", feature = "server")), allow(dead_code))]
    pub fn sm_unacked(&self) -> Option<u32> {
        self.sm.as_ref().map(|acks| acks.unacked())
    }

    /// Asks the peer for an ack (`<r/>`); false without stream management on.
    #[cfg_attr(not(any(feature = "client", feature = "server")), allow(dead_code))]
    pub fn sm_request(&mut self) -> bool {
        let Some(acks) = self.sm.as_mut().filter(|acks| acks.is_enabled()) else {
            return false;
        };
        acks.requested();
        self.timers.stop(Timer::Ack);
        self.write_element(management::write_request);
        true
    }

    /// Is `el` an `<r/>` or `<a/>` that the engine takes (stream management is on)?
    fn takes_ack_exchange(&self, el: &Element) -> bool {
        self.sm_is_enabled() && management::is_ack_exchange(el)
    }

    /// Gives back the scratch memory of an idle session: the parser's, and the event
    /// queue's when it is empty.
    pub fn shrink(&mut self) {
        self.parser.shrink();
        if let Some(acks) = &mut self.sm {
            acks.queue.shrink();
        }
        if self.events.is_empty() {
            self.events = VecDeque::new();
        }
    }
}

/// What a role gives the engine it owns, and the engine's work that needs the role: the
/// input feeder, the timers' firing and the closing paths. These are provided here, once;
/// a role implements only the four required items.
pub(crate) trait StreamRole: Sized {
    type Event: StreamEvent;

    fn engine(&mut self) -> &mut Engine<Self::Event>;

    /// The engine, and the address the peer's stanzas are stamped with as the parser
    /// freezes them (with the stream's `xml:lang`, each only when the stanza has none): a
    /// c2s server's session JID once the client is bound (RFC 6120 sections 8.1.2.1 and
    /// 4.7.4), so that stamping costs no second copy. Other roles stamp nothing.
    fn engine_and_stamp(&mut self) -> (&mut Engine<Self::Event>, Option<&str>) {
        (self.engine(), None)
    }

    /// Writes our header of the current stream (through [`Engine::write_header`]). The
    /// engine calls it when something must be written on a stream whose header is not out
    /// yet (a stream error before a receiving entity answered the peer's header).
    fn write_header(&mut self);

    /// The peer's stream header arrived.
    fn on_header(&mut self, header: Element);

    /// A first-level element arrived that is not a stream error; once our closing tag is
    /// out, only stanzas come here.
    fn on_element(&mut self, element: Element);

    /// Runs `f` at time `now`, then fires the timers due at `now`. Every public method that
    /// takes the time goes through here, so every deadline is computed from a fresh clock
    /// and, after the call, none is in the past.
    fn at<T>(&mut self, now: Instant, f: impl FnOnce(&mut Self) -> T) -> T {
        self.engine().set_now(now);
        let result = f(self);
        if self.engine().sm_overflowed() {
            // XEP-0198 leaves the bound to us: a peer that never acks while making us
            // write (error replies) would hold our memory without end.
            self.stream_error(StreamErrorCondition::ResourceConstraint);
        }
        self.fire_due_timers();
        result
    }

    /// The peer did not answer within the response timeout ([`Engine::await_peer`]): the
    /// stream ends with `connection-timeout`. A role whose stream is already in use when it
    /// waits for an answer overrides this to give up on that answer alone (the s2s
    /// initiating side's dialback requests, XEP-0220 section 2.1.1).
    fn response_timed_out(&mut self) {
        self.end_stream(
            Some(Box::new(StreamError::new(
                StreamErrorCondition::ConnectionTimeout,
            ))),
            CloseReason::TimedOut,
        );
    }

    /// Fires the timers due at the engine's time, earliest first, each at most once.
    fn fire_due_timers(&mut self) {
        let due = self.engine().timers.due();
        for timer in due.into_iter().flatten() {
            // One that fired before may have ended the stream, and stopped this one.
            if !self.engine().timers.take_if_due(timer) {
                continue;
            }
            match timer {
                Timer::Response => self.response_timed_out(),
                // Our closing tag is out: nothing more may be written (RFC 6120 section 4.4).
                Timer::Closing => self.end_stream(None, CloseReason::TimedOut),
                Timer::Keepalive => self.engine().keepalive_due(),
                Timer::Idle => self.engine().shrink(),
                Timer::Ack => self.engine().ack_due(),
            }
        }
    }

    /// Bytes from the peer, processed one event at a time (see the module documentation).
    fn input(&mut self, data: &[u8]) -> Result<(), InputRefused> {
        match self.engine().life {
            Lifecycle::Idle => return Err(InputRefused::NotOpen),
            Lifecycle::Securing => return Err(InputRefused::AwaitingTls),
            _ => {}
        }
        if self.engine().out.is_framed() {
            self.message(data);
            return Ok(());
        }
        let mut rest = data;
        while !rest.is_empty() && self.engine().takes_input() {
            let (engine, from) = self.engine_and_stamp();
            let stamp = from.map(|from| RootStamp {
                ns: engine.content_ns(),
                names: &STANZA_NAMES,
                attr: ("from", from),
                header_lang: true,
            });
            let result = engine.parser.handle_input_stamped(rest, stamp.as_ref());
            while let Some(event) = self.engine().parser.poll_event() {
                // Events after the one that ended a phase or the stream are dropped.
                if self.engine().takes_input() {
                    self.dispatch(event);
                }
            }
            match result {
                Ok(n) => rest = &rest[n..],
                Err(fault) => {
                    if self.engine().takes_input() {
                        // RFC 6120 section 4.9.3: the condition for the peer's bad XML.
                        self.stream_error(fault.condition());
                    }
                    break;
                }
            }
        }
        self.engine().active();
        Ok(())
    }

    /// One WebSocket message from the peer (RFC 7395 section 3.3.3): one element, parsed
    /// whole and dispatched as over TCP (so nothing after an element that ends a phase can
    /// be in the same input). A message that is not one element is the peer's bad XML.
    fn message(&mut self, data: &[u8]) {
        if !self.engine().takes_input() {
            return;
        }
        let (engine, from) = self.engine_and_stamp();
        let stamp = from.map(|from| RootStamp {
            ns: engine.content_ns(),
            names: &STANZA_NAMES,
            attr: ("from", from),
            header_lang: true,
        });
        let result = engine.parser.handle_message_stamped(data, stamp.as_ref());
        while let Some(event) = self.engine().parser.poll_event() {
            if self.engine().takes_input() {
                self.dispatch(event);
            }
        }
        if let Err(fault) = result {
            if self.engine().takes_input() {
                self.stream_error(fault.condition());
            }
        }
        self.engine().active();
    }

    fn dispatch(&mut self, event: Event) {
        match event {
            Event::StreamOpened(header) => self.on_header(header),
            Event::StreamClosed => {
                let reason = if self.engine().life == Lifecycle::Closing {
                    CloseReason::LocalClose
                } else {
                    CloseReason::PeerClose
                };
                // Our closing tag answers, unless it went out first.
                self.end_stream(None, reason);
            }
            // The framed stream's closing tag (RFC 7395 section 3.6), maybe naming another
            // endpoint (3.6.1).
            Event::Element(el) if self.engine().out.is_framed() && el.is("close", FRAMING_NS) => {
                let engine = self.engine();
                let reason = if engine.life == Lifecycle::Closing {
                    CloseReason::LocalClose
                } else {
                    let secure = engine.transport.is_encrypted();
                    match el.attr("see-other-uri") {
                        Some(uri) if framing::redirect_allowed(&uri, secure) => {
                            CloseReason::Redirected(uri.into())
                        }
                        _ => CloseReason::PeerClose,
                    }
                };
                self.end_stream(None, reason);
            }
            Event::Element(el) if el.is("error", STREAM_NS) => {
                let error = Box::new(StreamError::from_element(el.root()).unwrap_or_else(|_| {
                    StreamError::new(StreamErrorCondition::UndefinedCondition)
                }));
                let event = Self::Event::peer_stream_error(error.clone());
                self.engine().report(event);
                self.end_stream(None, CloseReason::PeerStreamError(error));
            }
            // Acks are still taken after our closing tag: they say what the peer handled.
            Event::Element(el) if self.engine().takes_ack_exchange(&el) => {
                self.on_ack_exchange(&el)
            }
            // RFC 6120 section 4.8.3: "If an entity receives a first-level child element
            // qualified by a content namespace it does not support, it MUST close the stream
            // with an <invalid-namespace/> stream error" (`jabber:server` on a c2s stream).
            Event::Element(el)
                if el.ns() != self.engine().content_ns()
                    && crate::error::CONTENT_NAMESPACES.contains(&el.ns()) =>
            {
                self.stream_error(StreamErrorCondition::InvalidNamespace);
            }
            // Section 4.8.5: the content namespace written with a prefix (`<cl:message
            // xmlns:cl='jabber:client'>`) is not to be accepted; the stream error "SHOULD be
            // <bad-namespace-prefix/>".
            Event::Element(el)
                if el.ns() == self.engine().content_ns() && el.root().prefix().is_some() =>
            {
                self.stream_error(StreamErrorCondition::BadNamespacePrefix);
            }
            Event::Element(el)
                if self.engine().life == Lifecycle::Closing && !self.engine().is_stanza(&el) =>
            {
                // After our closing tag only stanzas are still handled; nothing else fits.
                self.stream_error(StreamErrorCondition::UnsupportedStanzaType);
            }
            Event::Element(el) => {
                // XEP-0198 section 4: a stanza handed to the role is handled. (Asked only
                // with stream management on: the role tells stanzas apart again anyway.)
                let engine = self.engine();
                if engine.sm.is_some() && engine.is_stanza(&el) {
                    if let Some(acks) = &mut engine.sm {
                        acks.handled_one();
                    }
                }
                self.on_element(el)
            }
        }
    }

    /// An `<r/>` or `<a/>` with stream management on (XEP-0198 section 4): an `<r/>` is
    /// answered with our `h`; an `<a/>` reports the stanzas it newly acknowledges, and ends
    /// the stream when it acknowledges more than we sent (`undefined-condition` with
    /// `<handled-count-too-high/>`) or has no valid `h` (`bad-format`, RFC 6120 section
    /// 4.9.3.1: XML that cannot be processed).
    fn on_ack_exchange(&mut self, el: &Element) {
        let engine = self.engine();
        let Some(acks) = engine.sm.as_mut() else {
            return;
        };
        if el.name() == "r" {
            let h = acks.handled();
            return engine.write_element(|w| management::write_ack(w, h));
        }
        let Some(h) = management::read_h(el) else {
            return self.stream_error(StreamErrorCondition::BadFormat);
        };
        match acks.ack(h) {
            Ok(n) => {
                if n > 0 {
                    if let Some(event) = Self::Event::acked(n) {
                        engine.report(event);
                    }
                }
                engine.timers.stop(Timer::Ack);
                engine.arm_ack_timer();
            }
            Err(too_high) => self.close_with_error(management::too_high_error(too_high)),
        }
    }

    /// Ends the stream with a stream error of ours and our closing tag (RFC 6120 section
    /// 4.9.1.1); once our closing tag is out, with nothing written (section 4.4).
    fn stream_error(&mut self, condition: StreamErrorCondition) {
        self.close_with_error(StreamError::new(condition));
    }

    /// [`stream_error`](Self::stream_error) with a whole error (text, `see-other-host`...).
    fn close_with_error(&mut self, error: StreamError) {
        let error = Box::new(error);
        self.end_stream(Some(error.clone()), CloseReason::LocalStreamError(error));
    }

    /// This side gives up for a local reason: our closing tag, no stream error.
    fn abandon(&mut self, reason: Abandoned) {
        if self.engine().is_closed() {
            return;
        }
        if let Some(event) = Self::Event::abandoned(&reason) {
            self.engine().report(event);
        }
        self.end_stream(None, CloseReason::Abandoned(reason));
    }

    /// Closes gracefully: our closing tag now, `Closed` when the peer answers with its own
    /// or when the closing timer fires. Nothing is written after it.
    fn close_gracefully(&mut self) {
        match self.engine().life {
            Lifecycle::Closing | Lifecycle::Closed => {}
            // Nothing was sent: there is no stream to close.
            Lifecycle::Idle => self.engine().set_closed(CloseReason::LocalClose),
            _ => {
                if self.engine().needs_header() {
                    self.write_header();
                }
                let engine = self.engine();
                engine.out.end();
                engine.life = Lifecycle::Closing;
                engine.timers.stop_all();
                engine.timers.start(Timer::Closing);
            }
        }
    }

    /// Closes gracefully naming another endpoint for the peer (WebSocket framing:
    /// `<close see-other-uri/>`, RFC 7395 section 3.6.1). False over TCP, where nothing
    /// is done: its closing tag has no such attribute (`see-other-host` is the stream
    /// error for it).
    #[cfg_attr(not(feature = "server"), allow(dead_code))]
    fn close_see_other_uri(&mut self, uri: &str) -> bool {
        if !self.engine().out.is_framed() {
            return false;
        }
        if matches!(self.engine().life, Lifecycle::Idle) {
            self.close_gracefully();
            return true;
        }
        if !self.engine().is_ending() {
            if self.engine().needs_header() {
                self.write_header();
            }
            let engine = self.engine();
            engine.out.end_see_other(Some(uri));
            engine.life = Lifecycle::Closing;
            engine.timers.stop_all();
            engine.timers.start(Timer::Closing);
        }
        true
    }

    /// The transport ended: the stream is over, with nothing written.
    fn end_of_input(&mut self) {
        if !self.engine().is_closed() {
            self.engine().set_closed(CloseReason::Eof);
        }
    }

    /// Every end of a stream: our header first if none is out (a stream error is always
    /// sent inside a stream, RFC 6120 section 4.9.1.1), then `error` if any, then our
    /// closing tag (each dropped if our closing tag is already out), then `Closed`.
    fn end_stream(&mut self, error: Option<Box<StreamError>>, reason: CloseReason) {
        match self.engine().life {
            Lifecycle::Closed => return,
            // Nothing was sent: nothing to end on the wire.
            Lifecycle::Idle => return self.engine().set_closed(reason),
            _ => {}
        }
        if self.engine().needs_header() {
            self.write_header();
        }
        let engine = self.engine();
        match &error {
            Some(error) => engine.out.end_with_error(error),
            None => engine.out.end(),
        }
        engine.set_closed(reason);
    }
}

/// The public methods every role has the same way: timers, draining, closing, the end of
/// input. Expanded in each role's `impl` block, over its `engine` field and its
/// [`StreamRole`] implementation, with `$event` its event type.
macro_rules! stream_methods {
    ($event:ty) => {
        /// The time is `now`: fires the timers that are due (the response timeout, the
        /// closing handshake's, the keepalive). A call before
        /// [`poll_timeout`](Self::poll_timeout) changes nothing.
        pub fn handle_timeout(&mut self, now: std::time::Instant) {
            $crate::stream::engine::StreamRole::at(self, now, |_| ());
        }

        /// When [`handle_timeout`](Self::handle_timeout) must be called next, if at all.
        /// After any call that took the time, it is never earlier than that time.
        pub fn poll_timeout(&self) -> Option<std::time::Instant> {
            self.engine.poll_timeout()
        }

        /// The next event.
        pub fn poll_event(&mut self) -> Option<$event> {
            self.engine.poll_event()
        }

        /// Bytes to write to the transport; with WebSocket framing
        /// ([`Framing`](crate::stream::Framing)), the payload of one text message per call.
        pub fn poll_transmit(&mut self) -> Option<bytes::Bytes> {
            self.engine.poll_transmit()
        }

        /// The transport ended: the stream is over (`Closed` with
        /// [`CloseReason::Eof`](crate::stream::CloseReason::Eof)), nothing is written.
        pub fn handle_eof(&mut self) {
            $crate::stream::engine::StreamRole::end_of_input(self);
        }

        /// Closes the stream gracefully at time `now`: `</stream:stream>` now, `Closed` when
        /// the peer answers with its own (or when the response timeout, counted from `now`,
        /// runs out). Nothing is sent after it (RFC 6120 section 4.4): stanzas that still
        /// arrive are reported, and whatever else the peer sends, even malformed XML, and
        /// the timeout, end in `Closed` alone. A second call does nothing.
        pub fn close(&mut self, now: std::time::Instant) {
            $crate::stream::engine::StreamRole::at(self, now, |s| s.close_gracefully());
        }

        /// Ends the stream at time `now` with a stream error and `</stream:stream>` (for
        /// example `see-other-host`, `system-shutdown`, or `conflict` when another session
        /// takes over), then `Closed`. After [`close`](Self::close) our closing tag is out
        /// and nothing may follow it (RFC 6120 section 4.4): the stream is then over at
        /// once, with nothing sent.
        pub fn close_with(&mut self, now: std::time::Instant, error: $crate::error::StreamError) {
            $crate::stream::engine::StreamRole::at(self, now, |s| s.close_with_error(error));
        }

        /// Gives back the memory a large stanza made the session grow, for a session that
        /// goes idle (see [`StreamParser::shrink`](crate::xml::StreamParser::shrink)).
        pub fn shrink(&mut self) {
            self.engine.shrink();
        }

        /// Is the stream over?
        pub fn is_closed(&self) -> bool {
            self.engine.is_closed()
        }
    };
}

pub(crate) use stream_methods;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::timers::IDLE_TRIM;

    #[derive(Debug, PartialEq)]
    enum Ev {
        Opened,
        Element(String),
        PeerError(StreamErrorCondition),
        Closed(CloseReason),
        Acked(u32),
    }

    impl StreamEvent for Ev {
        fn peer_stream_error(error: Box<StreamError>) -> Self {
            Ev::PeerError(error.condition)
        }
        fn closed(reason: CloseReason) -> Self {
            Ev::Closed(reason)
        }
        fn acked(n: u32) -> Option<Self> {
            Some(Ev::Acked(n))
        }
    }

    /// A receiving role that answers every header and reports every element; `<stop/>`
    /// ends a phase the way `<starttls/>` does.
    struct Echo {
        engine: Engine<Ev>,
    }

    impl StreamRole for Echo {
        type Event = Ev;
        fn engine(&mut self) -> &mut Engine<Ev> {
            &mut self.engine
        }
        fn write_header(&mut self) {
            self.engine.write_header(Header {
                id: Some("s"),
                ..Header::default()
            });
        }
        fn on_header(&mut self, _: Element) {
            self.write_header();
            self.engine.report(Ev::Opened);
            self.engine.await_embedder();
        }
        fn on_element(&mut self, el: Element) {
            if el.name() == "stop" {
                self.engine.start_tls();
            }
            self.engine.report(Ev::Element(el.name().to_owned()));
        }
    }

    const SECOND: Duration = Duration::from_secs(1);

    fn echo(now: Instant) -> Echo {
        let settings = Settings {
            content_ns: "jabber:client",
            limits: Limits::default(),
            response_timeout: SECOND,
            keepalive: None,
        };
        Echo {
            engine: Engine::receiving(settings, now),
        }
    }

    fn drain(e: &mut Echo) -> (String, Vec<Ev>) {
        let mut out = Vec::new();
        while let Some(b) = e.engine.poll_transmit() {
            out.extend_from_slice(&b);
        }
        let events = std::iter::from_fn(|| e.engine.poll_event()).collect();
        (String::from_utf8(out).unwrap(), events)
    }

    const HEADER: &[u8] = b"<stream:stream xmlns='jabber:client' \
        xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>";

    #[test]
    fn nothing_after_the_element_that_ends_a_phase_is_looked_at() {
        let now = Instant::now();
        let mut e = echo(now);
        let mut input = HEADER.to_vec();
        input.extend_from_slice(b"<a/><stop/><b/><c/>");
        e.at(now, |e| e.input(&input)).unwrap();
        let (_, events) = drain(&mut e);
        assert_eq!(
            events,
            [
                Ev::Opened,
                Ev::Element("a".into()),
                Ev::Element("stop".into())
            ]
        );
        assert_eq!(e.input(b"<d/>"), Err(InputRefused::AwaitingTls));
        assert!(drain(&mut e).1.is_empty());
    }

    #[test]
    fn an_error_before_our_header_comes_after_one() {
        let now = Instant::now();
        let mut e = echo(now);
        e.at(now, |e| {
            e.input(b"<stream:stream xmlns='jabber:client' xmlns:stream='wrong'>")
        })
        .unwrap();
        let (out, events) = drain(&mut e);
        assert!(
            out.starts_with("<?xml version='1.0'?><stream:stream"),
            "{out}"
        );
        assert!(out.ends_with("</stream:error></stream:stream>"), "{out}");
        assert!(matches!(
            &events[..],
            [Ev::Closed(CloseReason::LocalStreamError(_))]
        ));
        // Over: nothing taken, written or reported.
        e.at(now, |e| e.input(HEADER)).unwrap();
        e.close_gracefully();
        assert_eq!(drain(&mut e), (String::new(), vec![]));
    }

    #[test]
    fn each_way_to_end_reports_its_reason_once() {
        let now = Instant::now();
        let opened = |now| {
            let mut e = echo(now);
            e.at(now, |e| e.input(HEADER)).unwrap();
            drain(&mut e);
            e
        };
        let closed = |e: &mut Echo| match drain(e).1.pop() {
            Some(Ev::Closed(reason)) => reason,
            other => panic!("{other:?}"),
        };

        let mut e = opened(now);
        e.at(now, |e| e.close_gracefully());
        e.at(now, |e| e.input(b"<message/></stream:stream>"))
            .unwrap();
        assert_eq!(closed(&mut e), CloseReason::LocalClose);

        let mut e = opened(now);
        e.at(now, |e| e.input(b"</stream:stream>")).unwrap();
        assert_eq!(closed(&mut e), CloseReason::PeerClose);
        assert!(e.engine.out.is_ended());

        let mut e = opened(now);
        e.at(now, |e| e.input(b"<stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>")).unwrap();
        let (out, events) = drain(&mut e);
        assert_eq!(out, "</stream:stream>");
        assert!(matches!(
            &events[..],
            [
                Ev::PeerError(StreamErrorCondition::Conflict),
                Ev::Closed(CloseReason::PeerStreamError(_))
            ]
        ));

        let mut e = opened(now);
        e.end_of_input();
        e.end_of_input();
        assert_eq!(
            drain(&mut e),
            (String::new(), vec![Ev::Closed(CloseReason::Eof)])
        );

        let mut e = opened(now);
        e.abandon(Abandoned::NoMechanism);
        assert_eq!(
            drain(&mut e).1,
            [Ev::Closed(CloseReason::Abandoned(Abandoned::NoMechanism))]
        );

        // The closing handshake unanswered: nothing after our closing tag.
        let mut e = opened(now);
        e.at(now, |e| e.close_gracefully());
        drain(&mut e);
        assert_eq!(e.engine.poll_timeout(), Some(now + SECOND));
        e.at(now + SECOND, |_| ());
        assert_eq!(
            drain(&mut e),
            (String::new(), vec![Ev::Closed(CloseReason::TimedOut)])
        );
    }

    #[test]
    fn the_closing_timer_counts_from_the_close_not_from_an_older_time() {
        let t0 = Instant::now();
        let mut e = echo(t0);
        e.at(t0, |e| e.input(HEADER)).unwrap();
        drain(&mut e);
        assert_eq!(
            e.engine.poll_timeout(),
            Some(t0 + IDLE_TRIM),
            "the embedder is to act: only the idle trim runs"
        );
        let later = t0 + 100 * SECOND;
        e.at(later, |e| e.close_gracefully());
        assert_eq!(e.engine.poll_timeout(), Some(later + SECOND));
        e.at(later + SECOND / 2, |_| ());
        assert_eq!(drain(&mut e), ("</stream:stream>".into(), vec![]));
    }

    #[test]
    fn an_idle_session_without_keepalive_trims_once_silently_until_more_comes() {
        let t0 = Instant::now();
        let mut e = echo(t0);
        e.at(t0, |e| e.input(HEADER)).unwrap();
        e.at(t0, |e| e.input(b"<a/><b/>")).unwrap();
        drain(&mut e);
        assert_eq!(e.engine.poll_timeout(), Some(t0 + IDLE_TRIM));
        e.at(t0 + IDLE_TRIM, |_| ());
        assert_eq!(
            drain(&mut e),
            (String::new(), vec![]),
            "nothing on the wire"
        );
        assert_eq!(e.engine.poll_timeout(), None, "once");
        assert_eq!(e.engine.events.capacity(), 0, "the event queue went back");
        let t1 = t0 + 2 * IDLE_TRIM;
        e.at(t1, |e| e.input(b"<c/>")).unwrap();
        assert_eq!(
            e.engine.poll_timeout(),
            Some(t1 + IDLE_TRIM),
            "input restarts it"
        );
    }

    /// XEP-0198 section 4: h counts modulo 2^32, from 2^32 - 1 back to 0, both ways.
    #[test]
    fn stream_management_counts_wrap_at_2_pow_32_both_ways() {
        let now = Instant::now();
        let mut e = echo(now);
        e.at(now, |e| e.input(HEADER)).unwrap();
        drain(&mut e);
        e.engine.sm = Some(Box::new(Acks::at(u32::MAX - 1, u32::MAX - 1, u32::MAX - 1)));

        // Inbound: two stanzas take h from 2^32 - 2 through 2^32 - 1 to 0; a nonza does not
        // count.
        e.at(now, |e| {
            e.input(b"<message/><r xmlns='urn:xmpp:sm:3'/><iq type='result' id='1'/><foo/><r xmlns='urn:xmpp:sm:3'/>")
        })
        .unwrap();
        let (out, _) = drain(&mut e);
        assert_eq!(
            out,
            "<a xmlns='urn:xmpp:sm:3' h='4294967295'/><a xmlns='urn:xmpp:sm:3' h='0'/>"
        );

        // Outbound: three stanzas sent (2^32 - 1, 0, 1), a nonza not counted.
        for _ in 0..3 {
            e.engine
                .write_stanza(
                    |w| {
                        w.start("presence").end("presence");
                    },
                    None,
                )
                .unwrap();
        }
        e.engine.write_element(|w| {
            w.start("x").xmlns("urn:x").end("x");
        });
        drain(&mut e);
        assert_eq!(e.engine.sm_unacked(), Some(3));
        e.at(now, |e| e.input(b"<a xmlns='urn:xmpp:sm:3' h='0'/>"))
            .unwrap();
        assert_eq!(drain(&mut e).1, [Ev::Acked(2)]);
        // One more than sent, across the wrap: the stream ends.
        e.at(now, |e| e.input(b"<a xmlns='urn:xmpp:sm:3' h='2'/>"))
            .unwrap();
        let (out, events) = drain(&mut e);
        assert_eq!(
            out,
            "<stream:error><undefined-condition xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>\
             <handled-count-too-high xmlns='urn:xmpp:sm:3' h='2' send-count='1'/>\
             </stream:error></stream:stream>"
        );
        assert!(
            matches!(&events[..], [Ev::Closed(CloseReason::LocalStreamError(_))]),
            "{events:?}"
        );
    }
}
