//! Fuzzing of `xmpp-proto`. The properties live in [`checks`] (the stream parser) and
//! [`sessions`] (the roles and JIDs), which
//! `repo-tests/tests/fuzz_corpus.rs` also include to replay the committed corpora under
//! `cargo test`.

pub mod checks;
pub mod sessions;
