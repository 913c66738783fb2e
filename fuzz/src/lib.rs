//! Fuzzing of `xmpp-proto`. The properties live in [`checks`] (the stream parser),
//! [`differential`] (the parser against xml-rs), [`pair`] (a client and a server resuming
//! across cuts), [`sessions`] (the roles and JIDs, raw-byte scripts) and [`grammar`] (the
//! roles, scripts of XMPP grammar items that log in), which
//! `repo-tests/tests/fuzz_corpus.rs` also include to replay the committed corpora under
//! `cargo test`.

pub mod checks;
pub mod differential;
pub mod grammar;
pub mod pair;
pub mod sessions;
