//! Fuzzing of `xmpp-proto`. The properties live in [`checks`], which
//! `xmpp-proto/tests/fuzz_corpus.rs` also includes to replay the committed corpora under
//! `cargo test`.

pub mod checks;
