//! Stream negotiation (RFC 6120 section 4.3) as small steps, each a state machine in the
//! style of [`crate::sasl`]: given the first-level elements of its phase (and the embedder's
//! answers), a step writes what it must and says what happens next ([`Next`]).
//!
//! | step | initiating side | receiving side |
//! | --- | --- | --- |
//! | STARTTLS (RFC 6120 section 5) | [`starttls::StartTlsClient`] | [`starttls::answer`] |
//! | SASL (section 6) | [`sasl_client::SaslClientStep`] | [`sasl_server::SaslServerStep`] |
//! | SASL2 and Bind 2 (XEP-0388, XEP-0386) | the same steps, with [`sasl2`]'s framing | the same |
//! | resource binding (section 7) | [`bind::BindClient`] | [`bind::BindServer`] |
//! | legacy session (RFC 3921 section 3) | [`session::SessionClient`] | [`session::answer`] |
//! | XEP-0114 handshake | [`handshake::HandshakeClient`] | [`handshake::HandshakeServer`] |
//! | XEP-0220 dialback | [`dialback::DialbackOut`] | [`dialback::DialbackIn`], [`dialback::answer_verify`] |
//!
//! A step never sees the parser or the timers: it writes through a [`Wire`] (the engine's
//! one writer) and answers with a [`Next`], which the role carries out with
//! [`Negotiate::follow`]: arm the response timer, ask the embedder with an event, hand the
//! transport to TLS, restart the stream, or end it with a stream error or an abandon reason.
//! Which steps run, in which order, with which data carried from one to the next, is the
//! role's `State` (see `ARCHITECTURE.md`, "Adding a role or a negotiation step").

use core::convert::Infallible;

use bytes::BytesMut;

use crate::error::{StanzaError, StanzaErrorCondition, StreamErrorCondition};
use crate::stanza::{Stanza, error_reply};
use crate::stream::Abandoned;
use crate::stream::engine::{Engine, StreamEvent, StreamRole};
use crate::xml::{Element, Writer};

pub(crate) mod bind;
#[cfg(feature = "server")]
pub(crate) mod dialback;
pub(crate) mod handshake;
pub(crate) mod sasl2;
pub(crate) mod sasl_client;
pub(crate) mod sasl_server;
pub(crate) mod session;
pub(crate) mod starttls;

/// What a step says after an element of its phase or an answer of the embedder. `T` is what
/// the step yields when it is over, `Q` the question it asks the embedder.
#[must_use]
#[derive(Debug)]
pub(crate) enum Next<T, Q = Infallible> {
    /// The peer answered; its next element is awaited within a fresh response timeout.
    AwaitPeer,
    /// Nothing the step waits for changed (an element that is no answer): the deadline
    /// stands.
    Unchanged,
    /// The embedder is asked `Q`; no deadline runs for the peer meanwhile.
    Ask(Q),
    /// TLS must be set up now (RFC 6120 section 5.4.3.3): the embedder is told with `Q`, no
    /// input is taken until it says TLS is up, and then the stream restarts.
    StartTls(Q),
    /// The step is over with this result; the stream goes on.
    Done(T),
    /// The step is over with this result, and the stream restarts (RFC 6120 section 6.4.6).
    Restart(T),
    /// The step failed: the stream ends.
    Fail(Failure),
}

impl<T, Q> From<Failure> for Next<T, Q> {
    fn from(failure: Failure) -> Self {
        Next::Fail(failure)
    }
}

impl<T, Q> From<Abandoned> for Next<T, Q> {
    fn from(reason: Abandoned) -> Self {
        Next::Fail(reason.into())
    }
}

/// Why a step ends the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The peer's fault, named by a stream error condition (RFC 6120 section 4.9.3).
    Stream(StreamErrorCondition),
    /// This side gives up for a reason no stream error names (our closing tag alone).
    Abandon(Abandoned),
}

impl From<Abandoned> for Failure {
    fn from(reason: Abandoned) -> Self {
        Failure::Abandon(reason)
    }
}

/// Where a step writes: the engine's one writer, which puts nothing after our closing tag
/// and moves the keepalive (and, in tests, a plain buffer).
pub(crate) trait Wire {
    /// Writes one element with a [`Writer`].
    fn element(&mut self, f: impl FnOnce(&mut Writer<'_>));

    /// Writes what `f` appends.
    fn bytes(&mut self, f: impl FnOnce(&mut BytesMut));

    /// Answers `to` with a stanza error (RFC 6120 section 8.3), with swapped addresses and
    /// the same id, unless it gets no answer (an error, an iq result: sections 8.3.1 and
    /// 8.2.3). Says whether a reply was written.
    fn error_reply(&mut self, to: &Stanza, condition: StanzaErrorCondition) -> bool {
        let error = StanzaError::new(condition);
        let mut sent = false;
        self.bytes(|buf| sent = error_reply(to, &error, false, buf).is_ok());
        sent
    }
}

impl<E: StreamEvent> Wire for Engine<E> {
    fn element(&mut self, f: impl FnOnce(&mut Writer<'_>)) {
        self.write_element(f);
    }

    fn bytes(&mut self, f: impl FnOnce(&mut BytesMut)) {
        self.write(f);
    }
}

#[cfg(test)]
impl Wire for BytesMut {
    fn element(&mut self, f: impl FnOnce(&mut Writer<'_>)) {
        let mut w = Writer::new(self);
        f(&mut w);
        w.finish();
    }

    fn bytes(&mut self, f: impl FnOnce(&mut BytesMut)) {
        f(self);
    }
}

/// How every role carries out what its steps answer: provided for every [`StreamRole`].
pub(crate) trait Negotiate: StreamRole {
    /// Carries out `next` on the engine and gives back the step's result once it is over
    /// (after a [`Next::Restart`], the stream has restarted: the role writes or awaits the
    /// new header).
    fn follow<T, Q: Into<Self::Event>>(&mut self, next: Next<T, Q>) -> Option<T> {
        match next {
            Next::AwaitPeer => self.engine().await_peer(),
            Next::Unchanged => {}
            Next::Ask(question) => {
                self.engine().await_embedder();
                self.engine().report(question.into());
            }
            Next::StartTls(tell) => {
                self.engine().start_tls();
                self.engine().report(tell.into());
            }
            Next::Done(result) => return Some(result),
            Next::Restart(result) => {
                self.engine().restart();
                return Some(result);
            }
            Next::Fail(failure) => self.fail(failure),
        }
        None
    }

    /// Ends the stream for `failure`.
    fn fail(&mut self, failure: Failure) {
        match failure {
            Failure::Stream(condition) => self.stream_error(condition),
            Failure::Abandon(reason) => self.abandon(reason),
        }
    }
}

impl<R: StreamRole> Negotiate for R {}

/// Writes the SASL element `name`, `challenge` or `response` (RFC 6120 section 6.4.3),
/// carrying `data`, base64-encoded; empty data is an element without text (section 6.3.3).
pub(crate) fn write_sasl(out: &mut impl Wire, name: &str, data: &[u8]) {
    let payload = crate::sasl::encode_data(data);
    out.element(|w| {
        w.start(name)
            .xmlns(crate::error::SASL_NS)
            .text(&payload)
            .end(name);
    });
}

/// The id of an iq, or the empty string (RFC 6120 section 8.2.3 requires one; an answer to
/// an iq without it still carries `id=''`).
pub(crate) fn iq_id(el: &Element) -> String {
    el.attr("id").map(|i| i.into_owned()).unwrap_or_default()
}

/// The stanza error inside an error iq, if it has a well-formed one.
pub(crate) fn iq_error(el: &Element) -> Option<StanzaError> {
    el.children()
        .find(|c| c.name() == "error")
        .and_then(|e| StanzaError::from_element(e).ok())
}
