//! The unacknowledged queue (XEP-0198 sections 4 and 5): every stanza we sent since counting
//! began that the peer has not acknowledged yet, kept so that it can be sent again after a
//! resumption or handed back to the embedder when the session ends for good.
//!
//! No stanza is copied to be kept. The engine writes a stanza into its output buffer and
//! notes its place there (a *pending* range); when the embedder takes the output
//! (`poll_transmit`), the buffer is frozen into one [`Bytes`] and each pending stanza
//! becomes a slice of it, sharing its allocation. That allocation lives as long as one of
//! its stanzas is unacknowledged, so an ack that trails far behind keeps whole writes alive:
//! the limits ([`UnackedLimits`]) bound what the queue counts (the stanzas' own bytes).

use std::collections::VecDeque;

use bytes::Bytes;

/// How much the unacknowledged queue holds before [`send`](crate::client::Client::send)
/// refuses (XEP-0198 leaves the bound to implementations).
///
/// When either limit is reached the embedder's next stanza is refused (the role's
/// `UnackedQueueFull` error, nothing sent) and, unless one is already outstanding, an ack is
/// requested (`<r/>`) so that the queue can drain; the embedder sends again after the next
/// `Acked` event. A stanza larger than `max_bytes` alone is still sent when the queue is
/// empty, so that no stanza is refused for ever. Stanzas the core writes itself (error
/// replies to the peer's requests) are never refused; a peer that keeps provoking them and
/// never acknowledges, past twice the limits, loses the stream (`resource-constraint`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnackedLimits {
    /// The most stanzas unacknowledged at once (default 1,000).
    pub max_stanzas: u32,
    /// The most bytes of unacknowledged stanzas at once (default 1 MiB).
    pub max_bytes: usize,
}

impl Default for UnackedLimits {
    fn default() -> Self {
        UnackedLimits {
            max_stanzas: 1000,
            max_bytes: 1 << 20,
        }
    }
}

/// The stanzas sent and not acknowledged, oldest first: the frozen ones, then the pending
/// ones still in the output buffer.
#[derive(Debug, Default, Clone)]
pub(crate) struct Unacked {
    frozen: VecDeque<Bytes>,
    /// `start..end` of each pending stanza in the output buffer not yet taken.
    pending: Vec<(usize, usize)>,
    /// The bytes of every stanza held.
    bytes: usize,
}

impl Unacked {
    /// Stanzas held from a previous stream (resumption).
    pub fn from_frozen(stanzas: Vec<Bytes>) -> Self {
        let bytes = stanzas.iter().map(Bytes::len).sum();
        Unacked {
            frozen: stanzas.into(),
            pending: Vec::new(),
            bytes,
        }
    }

    pub fn len(&self) -> usize {
        self.frozen.len() + self.pending.len()
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// A stanza was written at `start..end` of the output buffer.
    pub fn push_pending(&mut self, start: usize, end: usize) {
        self.pending.push((start, end));
        self.bytes += end - start;
    }

    /// The output buffer was taken as `out`: each pending stanza becomes its slice.
    pub fn freeze(&mut self, out: &Bytes) {
        for (start, end) in self.pending.drain(..) {
            // The ranges were taken in this buffer, which only grew since; `get` keeps a
            // broken invariant from panicking (the stanza would then be lost, never garbage).
            if out.get(start..end).is_some() {
                self.frozen.push_back(out.slice(start..end));
            }
        }
    }

    /// The `n` oldest stanzas were acknowledged.
    pub fn drop_oldest(&mut self, n: u32) {
        let n = usize::try_from(n).unwrap_or(usize::MAX);
        let frozen = n.min(self.frozen.len());
        for b in self.frozen.drain(..frozen) {
            self.bytes = self.bytes.saturating_sub(b.len());
        }
        let pending = (n - frozen).min(self.pending.len());
        for (start, end) in self.pending.drain(..pending) {
            self.bytes = self.bytes.saturating_sub(end - start);
        }
    }

    /// The frozen stanzas, oldest first (for retransmission after resumption, when none is
    /// pending).
    pub fn frozen(&self) -> impl Iterator<Item = &Bytes> {
        self.frozen.iter()
    }

    /// Takes every stanza held, oldest first; pending ones must have been frozen.
    pub fn take(&mut self) -> Vec<Bytes> {
        self.pending.clear();
        self.bytes = 0;
        std::mem::take(&mut self.frozen).into()
    }

    /// Gives back the memory of an empty queue (an idle session holds nothing).
    pub fn shrink(&mut self) {
        if self.len() == 0 {
            *self = Unacked::default();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_stanzas_become_slices_of_the_output_without_copies() {
        let mut q = Unacked::default();
        q.push_pending(0, 4);
        q.push_pending(8, 12);
        let out = Bytes::from_static(b"<a/><r/><b/>x");
        q.freeze(&out);
        let held = q.take();
        assert_eq!(held, [&b"<a/>"[..], b"<b/>"]);
        assert_eq!(
            held[0].as_ptr(),
            out.as_ptr(),
            "a slice of the output, not a copy"
        );
    }

    #[test]
    fn acks_drop_the_oldest_frozen_then_pending() {
        let mut q =
            Unacked::from_frozen(vec![Bytes::from_static(b"one"), Bytes::from_static(b"two")]);
        q.push_pending(0, 5);
        assert_eq!((q.len(), q.bytes()), (3, 11));
        q.drop_oldest(2);
        assert_eq!((q.len(), q.bytes()), (1, 5));
        q.drop_oldest(5);
        assert_eq!((q.len(), q.bytes()), (0, 0));
        q.shrink();
        assert_eq!(q.frozen.capacity(), 0);
    }
}
