//! The bytes waiting to be sent (RFC 6120 section 4.4: nothing after our closing tag), in
//! one byte stream or, with WebSocket framing (RFC 7395), in messages.

use std::collections::VecDeque;
use std::ops::Range;

use bytes::{Bytes, BytesMut};

use super::framing;
use crate::error::StreamError;

/// Bytes waiting to be sent, up to and including our `</stream:stream>` (or `<close/>`).
///
/// RFC 6120 section 4.4: the entity that sends the closing tag "MUST NOT send any further
/// data" over that stream, though it goes on reading. Only the engine writes here, and the
/// closing tag is written only by [`end`](Self::end) (or
/// [`end_with_error`](Self::end_with_error)): after it every write is dropped, so no path
/// of any role, however late (a timeout, a second `close`, a stream error raised while
/// closing, a reply to a stanza that arrived after our close), can put data after it.
#[derive(Debug)]
pub(crate) enum Output {
    /// One byte stream (TCP).
    Stream {
        buf: BytesMut,
        /// Our closing tag is written.
        ended: bool,
    },
    /// WebSocket messages (boxed: an enum of the two costs a session no more than the
    /// stream alone, every session's size counting).
    Messages(Box<Messages>),
}

impl Default for Output {
    fn default() -> Self {
        Output::Stream {
            buf: BytesMut::new(),
            ended: false,
        }
    }
}

/// The output of WebSocket framing (RFC 7395 section 3.3.3: one element per message).
#[derive(Debug)]
pub(crate) struct Messages {
    buf: BytesMut,
    ended: bool,
    /// The content namespace every unprefixed root element is declared in.
    content_ns: &'static str,
    /// Where each message ends in `buf`: every write is one element, so one message.
    ends: Vec<usize>,
    /// Messages frozen by the last [`Output::take`] and not handed out yet.
    ready: VecDeque<Bytes>,
}

impl Output {
    /// Frames the output in WebSocket messages from now on (before anything is written),
    /// each element declaring its namespace (unprefixed roots in `content_ns`).
    pub fn frame_messages(&mut self, content_ns: &'static str) {
        let (buf, ended) = self.parts();
        let (buf, ended) = (std::mem::take(buf), *ended);
        *self = Output::Messages(Box::new(Messages {
            buf,
            ended,
            content_ns,
            ends: Vec::new(),
            ready: VecDeque::new(),
        }));
    }

    fn parts(&mut self) -> (&mut BytesMut, &mut bool) {
        match self {
            Output::Stream { buf, ended } => (buf, ended),
            Output::Messages(m) => (&mut m.buf, &mut m.ended),
        }
    }

    /// Is the output framed in WebSocket messages?
    pub fn is_framed(&self) -> bool {
        matches!(self, Output::Messages(_))
    }

    /// Appends what `f` writes, unless our closing tag is out; gives where it went (an
    /// empty range when `f` wrote nothing). With WebSocket framing what `f` wrote is one
    /// message, its root given the declarations it needs.
    pub fn write(&mut self, f: impl FnOnce(&mut BytesMut)) -> Option<Range<usize>> {
        match self {
            Output::Stream { ended: true, .. } => None,
            Output::Stream { buf, .. } => {
                let start = buf.len();
                f(buf);
                Some(start..buf.len())
            }
            Output::Messages(m) if m.ended => None,
            Output::Messages(m) => {
                let start = m.buf.len();
                f(&mut m.buf);
                if m.buf.len() > start {
                    framing::declare_root(&mut m.buf, start, m.content_ns);
                    m.ends.push(m.buf.len());
                }
                Some(start..m.buf.len())
            }
        }
    }

    /// Writes our closing tag, once: nothing is written after it.
    pub fn end(&mut self) {
        self.end_see_other(None);
    }

    /// Writes our closing tag; over WebSocket, `<close/>` with `see-other-uri` when given
    /// (RFC 7395 section 3.6.1).
    pub fn end_see_other(&mut self, uri: Option<&str>) {
        if self.is_framed() {
            self.write(|buf| framing::write_close(buf, uri));
        } else {
            self.write(|buf| buf.extend_from_slice(b"</stream:stream>"));
        }
        *self.parts().1 = true;
    }

    /// Writes a stream error and our closing tag right after it (RFC 6120 section 4.9.1.1),
    /// unless our closing tag is already out: then nothing, since nothing may follow it
    /// (section 4.4).
    pub fn end_with_error(&mut self, error: &StreamError) {
        self.write(|buf| error.write_to(buf));
        self.end();
    }

    /// The bytes of an earlier [`write`](Self::write) not taken yet.
    pub fn written(&self, range: Range<usize>) -> &[u8] {
        match self {
            Output::Stream { buf, .. } => &buf[range],
            Output::Messages(m) => &m.buf[range],
        }
    }

    /// Is our closing tag written?
    pub fn is_ended(&self) -> bool {
        match self {
            Output::Stream { ended, .. } => *ended,
            Output::Messages(m) => m.ended,
        }
    }

    /// Everything written since the last call. The whole buffer goes with it, so that the
    /// session keeps nothing once the embedder has written the bytes out (a buffer split
    /// off would keep the allocation alive, twice the size of the largest write). With
    /// WebSocket framing, give it to [`split`](Self::split) next.
    pub fn take(&mut self) -> Option<Bytes> {
        let buf = self.parts().0;
        (!buf.is_empty()).then(|| std::mem::take(buf).freeze())
    }

    /// The next WebSocket message of an earlier [`take`](Self::take), if any is left.
    pub fn next_message(&mut self) -> Option<Bytes> {
        match self {
            Output::Stream { .. } => None,
            Output::Messages(m) => {
                let message = m.ready.pop_front();
                // A burst's queue goes back once drained (a small one is kept).
                if m.ready.is_empty() && m.ready.capacity() > 16 {
                    m.ready = VecDeque::new();
                }
                message
            }
        }
    }

    /// What [`take`](Self::take) gave, as the embedder gets it: the whole over TCP; over
    /// WebSocket its first message, the others kept for
    /// [`next_message`](Self::next_message). Each message is a slice of `taken`, no copy.
    pub fn split(&mut self, taken: Bytes) -> Bytes {
        let Output::Messages(m) = self else {
            return taken;
        };
        let mut from = 0;
        for end in m.ends.drain(..) {
            m.ready.push_back(taken.slice(from..end));
            from = end;
        }
        if m.ends.capacity() > 16 {
            m.ends = Vec::new();
        }
        match m.ready.pop_front() {
            Some(first) => first,
            // Every write that grew is a message: nothing can be left unframed.
            None => taken,
        }
    }

    /// Drops the messages not handed out yet: the stream is over and they never go out.
    pub fn discard(&mut self) {
        if let Output::Messages(m) = self {
            m.ready = VecDeque::new();
            m.ends = Vec::new();
        }
    }
}
