//! Replays the committed fuzz corpora (`fuzz/corpus/<target>/*`) through the fuzz targets'
//! own checks, so that every seed and every saved crash is a regression test under plain
//! `cargo test` on stable, without libFuzzer. See `fuzz/README.md`.

#[allow(dead_code)]
#[path = "../../fuzz/src/checks.rs"]
mod checks;
#[allow(dead_code)]
#[path = "../../fuzz/src/differential.rs"]
mod differential;
#[allow(dead_code)]
#[path = "../../fuzz/src/grammar/mod.rs"]
mod grammar;
#[allow(dead_code)]
#[path = "../../fuzz/src/pair.rs"]
mod pair;
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

/// The server target's `0xFD` prelude brings a client online (what it exists for): played
/// against a server configured as the target's is (TLS optional, PLAIN without TLS), it ends
/// with the session online and a stanza after it handed over, stamped.
#[test]
fn the_server_targets_online_prelude_gets_online() {
    use std::time::Instant;
    use xmpp_sansio::sasl::UserCredential;
    use xmpp_sansio::server::{Server, ServerConfig, ServerEvent};
    use xmpp_sansio::stream::TlsPolicy;
    let now = Instant::now();
    let mut config = ServerConfig::new("example.com", b"secret".to_vec());
    config.tls = TlsPolicy::Optional;
    config.allow_plain_without_tls = true;
    config.sasl2 = true;
    let mut s = Server::new(config, 7, now);
    let (mut online, mut stanza) = (false, None);
    let message: &[u8] = b"<message to='a@example.com'><body>x</body></message>";
    let ops = sessions::ONLINE_PRELUDE
        .iter()
        .cloned()
        .chain([sessions::Op::Peer(message)]);
    for op in ops {
        match op {
            sessions::Op::Peer(b) => s.handle_input(now, b).expect("input"),
            sessions::Op::Act(1) => s
                .credentials(now, UserCredential::Password("pencil".into()))
                .expect("credentials"),
            sessions::Op::Act(4) => {
                let r = s.make_resource();
                s.bind(now, format!("user@example.com/{r}").parse().unwrap())
                    .expect("bind")
            }
            other => panic!("the prelude has no {other:?}"),
        }
        while s.poll_transmit().is_some() {}
        while let Some(ev) = s.poll_event() {
            match ev {
                ServerEvent::Online(_) => online = true,
                ServerEvent::Stanza(st) => {
                    stanza = st.element().attr("from").map(|f| f.into_owned())
                }
                _ => {}
            }
        }
    }
    assert!(online, "the prelude logs in and binds");
    assert!(stanza.is_some_and(|f| f.starts_with("user@example.com/")));
}

#[test]
fn pair_corpus() {
    replay("pair", pair::pair);
}

#[test]
fn parser_differential_corpus() {
    replay("parser_differential", differential::differential);
}

/// The documented differences with xml-rs (`fuzz/README.md`) are real: on each file kept for
/// one, the two parsers' verdicts differ, and the check excuses it for the reason given.
#[test]
fn parser_differential_documented_differences_still_differ() {
    use differential::{CLOSE, HEADER, Verdict};
    let files: Vec<_> = corpus("parser_differential")
        .into_iter()
        .filter(|(p, _)| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("difference-"))
        })
        .collect();
    assert!(files.len() >= 7, "the difference files are gone");
    for (path, data) in files {
        let doc = [HEADER.as_bytes(), &data, CLOSE.as_bytes()].concat();
        let (ours, fault) = differential::ours(&doc);
        let (theirs, _) = differential::theirs(&doc);
        let excused = match (&ours, &theirs, fault) {
            (Verdict::Refused(_), Verdict::Elements(_), Some((kind, at))) => {
                differential::lenient_oracle(kind, &doc, at)
            }
            (Verdict::Elements(_), Verdict::Refused(why), _) => differential::strict_oracle(why),
            _ => None,
        };
        assert!(
            excused.is_some(),
            "{}: ours {ours:?}, xml-rs {theirs:?}",
            path.display()
        );
    }
}

/// Disagreements that no documented difference covers fail the check.
#[test]
fn parser_differential_is_not_excused_for_our_own_faults() {
    use xmpp_sansio::xml::ErrorKind;
    let doc = b"<a b='1' b='2'/>";
    // A repeated ordinary attribute is not a namespace declaration: no excuse.
    assert!(differential::lenient_oracle(ErrorKind::DuplicateAttribute, doc, 9).is_none());
    // A valid name refused would be our bug: no excuse.
    assert!(differential::lenient_oracle(ErrorKind::InvalidName, b"<valid-name/>", 1).is_none());
    assert!(
        differential::lenient_oracle(ErrorKind::InvalidName, "<\u{e9}t\u{e9}/>".as_bytes(), 1)
            .is_none()
    );
    assert!(differential::lenient_oracle(ErrorKind::InvalidName, b"<a:b:c/>", 1).is_some());
    // A legitimate declaration refused as reserved would be our bug too.
    let ok = b"xmlns:x='urn:x'";
    assert!(differential::lenient_oracle(ErrorKind::ReservedNamespace, ok, 0).is_none());
    let bad = b"xmlns:x='http://www.w3.org/XML/1998/namespace'";
    assert!(differential::lenient_oracle(ErrorKind::ReservedNamespace, bad, 0).is_some());
    assert!(differential::strict_oracle("unexpected end of stream").is_none());
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

/// The grammar targets' corpora (issue 19): every file replays without a failed property,
/// and every `login-*` seed gets its session online, as the grammar's login promises.
fn replay_grammar(target: &str, run: fn(&[u8]) -> bool) {
    replay(target, |data| {
        run(data);
    });
    for (path, data) in corpus(target) {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if name.starts_with("login-") {
            assert!(run(&data), "{} does not get online", path.display());
        }
    }
}

#[test]
fn client_grammar_corpus() {
    replay_grammar("client_grammar", grammar::client_grammar);
}

#[test]
fn server_grammar_corpus() {
    replay_grammar("server_grammar", grammar::server_grammar);
}

#[test]
fn component_grammar_corpus() {
    replay_grammar("component_grammar", grammar::component_grammar);
}

#[test]
fn component_server_grammar_corpus() {
    replay_grammar(
        "component_server_grammar",
        grammar::component_server_grammar,
    );
}

#[test]
fn s2s_out_grammar_corpus() {
    replay_grammar("s2s_out_grammar", grammar::s2s_out_grammar);
}

#[test]
fn s2s_in_grammar_corpus() {
    replay_grammar("s2s_in_grammar", grammar::s2s_in_grammar);
}
