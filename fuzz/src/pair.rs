//! The `pair` target: our client and our server talking, the fuzzer choosing how many
//! stanzas each side sends, when bytes move, where the connection is cut and whether the
//! server's embedder lost the session; then a new pair resumes (XEP-0198 section 5). The
//! harness is the one of `xmpp-proto/tests/sm_resumption.rs`, included by path, and its
//! invariants are asserted: every stanza given to `send` arrives exactly once, or, when the
//! server lost the session, at most once and otherwise is handed back to its sender's
//! embedder; only what was sent arrives; both queues are empty at the end.

#[allow(unreachable_pub)]
#[path = "../../xmpp-proto/tests/support/resumption.rs"]
mod resumption;

use resumption::{Choices, scenario_with};

/// The fuzzer's bytes as choices: one byte for a choice below 256, two above; zeros once
/// they run out (so every input is a finite scenario).
struct Bytes<'a>(&'a [u8]);

impl Choices for Bytes<'_> {
    fn below(&mut self, n: u64) -> u64 {
        let width = if n > 256 { 2 } else { 1 };
        let take = width.min(self.0.len());
        let (head, rest) = self.0.split_at(take);
        self.0 = rest;
        let v = head.iter().fold(0u64, |v, &b| v << 8 | u64::from(b));
        v % n.max(1)
    }
}

/// Target `pair`: the first byte picks the number of cuts (0 to 3) and, with its top bit,
/// whether the server loses the session before the last resumption; the rest are choices.
pub fn pair(data: &[u8]) {
    let Some((&head, rest)) = data.split_first() else {
        return;
    };
    let rounds = u32::from(head & 3);
    let lose_last = head & 0x80 != 0 && rounds > 0;
    scenario_with(&mut Bytes(rest), u64::from(head), rounds, lose_last);
}
