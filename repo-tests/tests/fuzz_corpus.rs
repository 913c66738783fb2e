//! Replays the committed fuzz corpora (`fuzz/corpus/<target>/*`) through the fuzz targets'
//! own checks, so that every seed and every saved crash is a regression test under plain
//! `cargo test` on stable, without libFuzzer. See `fuzz/README.md`.

#[allow(dead_code)]
#[path = "../../fuzz/src/checks.rs"]
mod checks;
#[allow(dead_code)]
#[path = "../../fuzz/src/sessions.rs"]
mod sessions;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use checks::ChunkedInput;

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no corpus files in {}", dir.display());
    files
        .into_iter()
        .map(|p| {
            let data = std::fs::read(&p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()));
            (p, data)
        })
        .collect()
}

/// Runs `check` on every file, then fails naming every file whose check panicked (each
/// panic's message is printed as it happens).
fn replay(target: &str, check: impl Fn(&[u8])) {
    let files = corpus(target);
    let failed: Vec<String> = files
        .iter()
        .filter(|(_, data)| catch_unwind(AssertUnwindSafe(|| check(data))).is_err())
        .map(|(path, _)| path.display().to_string())
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} files of fuzz/corpus/{target} failed:\n{}",
        failed.len(),
        files.len(),
        failed.join("\n")
    );
}

#[test]
fn stream_parser_corpus() {
    replay("stream_parser", checks::stream_parser);
}

#[test]
fn stream_parser_chunked_corpus() {
    replay("stream_parser_chunked", |data| {
        checks::stream_parser_chunked(&ChunkedInput::from_bytes(data))
    });
}

/// The plain streams cut in a few fixed ways too: byte by byte, and at odd lengths.
#[test]
fn stream_parser_corpus_chunked() {
    replay("stream_parser", |data| {
        for lens in [vec![], vec![2, 3, 5, 7], vec![0, 64, 1]] {
            checks::stream_parser_chunked(&ChunkedInput { data, lens });
        }
    });
}

/// The chunked seeds' streams through the single-slice checks.
#[test]
fn stream_parser_chunked_corpus_unchunked() {
    replay("stream_parser_chunked", |data| {
        checks::stream_parser(ChunkedInput::from_bytes(data).data)
    });
}

#[test]
fn chunked_input_encoding_round_trips() {
    let input = ChunkedInput {
        data: b"<a/>",
        lens: vec![0, 1, 255],
    };
    assert_eq!(ChunkedInput::from_bytes(&input.to_bytes()), input);
    assert_eq!(input.chunks(), [&b""[..], b"<", b"a/>"]);
    let bytewise = ChunkedInput::from_bytes(b"\x00<a/>");
    assert_eq!(bytewise.chunks(), [&b"<"[..], b"a", b"/", b">"]);
    let zeros = ChunkedInput::from_bytes(b"\x02\x00\x00<a/>");
    assert_eq!(zeros.chunks(), [&b""[..], b"", b"<a/>"]);
    assert_eq!(ChunkedInput::from_bytes(b"").chunks(), Vec::<&[u8]>::new());
    assert_eq!(ChunkedInput::from_bytes(b"\x0f\x01").data, b"");
}

#[test]
fn client_session_corpus() {
    replay("client_session", sessions::client_session);
}

#[test]
fn server_session_corpus() {
    replay("server_session", sessions::server_session);
}

#[test]
fn component_session_corpus() {
    replay("component_session", sessions::component_session);
}

#[test]
fn s2s_out_session_corpus() {
    replay("s2s_out_session", sessions::s2s_out_session);
}

#[test]
fn s2s_in_session_corpus() {
    replay("s2s_in_session", sessions::s2s_in_session);
}

#[test]
fn jid_corpus() {
    replay("jid", sessions::jid);
}
