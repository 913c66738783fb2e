//! The bytes waiting to be sent (RFC 6120 section 4.4: nothing after our closing tag).

use bytes::{Bytes, BytesMut};

use crate::error::StreamError;

/// Bytes waiting to be sent, up to and including our `</stream:stream>`.
///
/// RFC 6120 section 4.4: the entity that sends the closing tag "MUST NOT send any further
/// data" over that stream, though it goes on reading. Only the engine writes here, and the
/// closing tag is written only by [`end`](Self::end) (or
/// [`end_with_error`](Self::end_with_error)): after it every write is dropped, so no path
/// of any role, however late (a timeout, a second `close`, a stream error raised while
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

    /// Everything written since the last call. The whole buffer goes with it, so that the
    /// session keeps nothing once the embedder has written the bytes out (a buffer split
    /// off would keep the allocation alive, twice the size of the largest write).
    pub fn take(&mut self) -> Option<Bytes> {
        (!self.buf.is_empty()).then(|| std::mem::take(&mut self.buf).freeze())
    }
}
