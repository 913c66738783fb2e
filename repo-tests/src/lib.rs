//! Tests of `xmpp-proto` that read files of the repository outside the library's own folder,
//! so that the published library package stays self-contained (its tests and `include_str!`s
//! reach nothing outside it):
//!
//! - `tests/fuzz_corpus.rs` replays every committed fuzz corpus file (`fuzz/corpus/`) through
//!   the fuzz targets' own checks (`fuzz/src/`) on stable, without libFuzzer;
//! - under `cargo test`, the code blocks of the repository's `README.md` run as doctests of
//!   this crate, so the README's examples cannot drift from the API.
//!
//! Not published (`publish = false`).
#![forbid(unsafe_code)]
#![cfg_attr(doctest, doc = include_str!("../../README.md"))]
