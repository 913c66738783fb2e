//! The `xmpp-conformance` binary: its text and JUnit reports of a mixed run over the
//! fixtures (insta snapshots; paths are relative because the run starts in the fixtures
//! folder), exit statuses, and usage errors.

use std::path::Path;
use std::process::{Command, Output};

fn run_in_fixtures(args: &[&str]) -> Output {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    Command::new(env!("CARGO_BIN_EXE_xmpp-conformance"))
        .args(args)
        .current_dir(fixtures)
        .output()
        .expect("the binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

const MIXED: &[&str] = &[
    "good",
    "bad/wrong-event.toml",
    "bad/missing-event.toml",
    "bad/unsupported-action.toml",
    "bad/broken-toml.toml",
    "bad/bad-hex.toml",
];

#[test]
fn text_report_of_a_mixed_run() {
    let mut args = vec!["run"];
    args.extend_from_slice(MIXED);
    let out = run_in_fixtures(&args);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(text.ends_with("\n6 passed, 5 failed\n"), "{text}");
    insta::assert_snapshot!(text);
}

#[test]
fn junit_report_of_a_mixed_run() {
    let mut args = vec!["run", "--format", "junit"];
    args.extend_from_slice(MIXED);
    let out = run_in_fixtures(&args);
    assert_eq!(out.status.code(), Some(1));
    insta::assert_snapshot!(stdout(&out));
}

#[test]
fn every_bad_fixture_fails_and_every_good_one_passes() {
    let out = run_in_fixtures(&["run", "bad"]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    let (last, vectors) = lines.split_last().unwrap();
    assert!(vectors.iter().all(|l| l.starts_with("FAIL bad/")), "{text}");
    assert_eq!(*last, format!("0 passed, {} failed", vectors.len()));

    let out = run_in_fixtures(&["run", "--chunking=bytes", "good"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).ends_with("\n6 passed, 0 failed\n"));
}

#[test]
fn tags_filter_the_run() {
    let out = run_in_fixtures(&[
        "run",
        "--tag",
        "eof",
        "--tag=relaxed",
        "good",
        "bad/wrong-event.toml",
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        stdout(&out),
        "ok   good/eof-inside-stanza.toml\nok   good/relaxed-features.toml\n2 passed, 0 failed\n"
    );
}

#[test]
fn coverage_table_of_the_fixtures() {
    // one fixture fails on purpose: exit status 1, and the table still comes
    let out = run_in_fixtures(&["coverage", "coverage"]);
    assert_eq!(out.status.code(), Some(1));
    insta::assert_snapshot!(stdout(&out));
}

#[test]
fn coverage_json_and_a_run_without_failures() {
    let out = run_in_fixtures(&[
        "coverage",
        "--format=json",
        "coverage/client-header.toml",
        "coverage/parser-comment.toml",
    ]);
    // gaps are reported, not errors
    assert_eq!(out.status.code(), Some(0));
    let json = stdout(&out);
    assert!(
        json.starts_with("{\n  \"features\": [\n    {\"name\": \"bind-gen\""),
        "{json}"
    );
    assert!(
        json.contains(
            "\"client\": {\"level\": \"MUST\", \"status\": \"covered\", \"reason\": null, \
             \"shown\": 1, \"passed\": 1, \"vectors\": [\"coverage/parser-comment.toml\"]}"
        ),
        "{json}"
    );
    assert!(
        json.contains("{\"feature\": \"bind-support\", \"side\": \"server\"}"),
        "{json}"
    );
    assert!(
        json.ends_with("\"vectors\": 2,\n  \"passed\": 2,\n  \"failed\": 0\n}\n"),
        "{json}"
    );
}

#[test]
fn usage_errors_exit_with_2() {
    for args in [
        &["run"][..],
        &["check", "good"],
        &["run", "--chunking", "some", "good"],
        &["run", "--format"],
        &["run", "--verbose", "good"],
        &["run", "no-such-folder"],
        &["coverage", "--format", "junit", "good"],
        &["coverage", "--tag", "eof", "good"],
        &["coverage"],
        &[],
    ] {
        let out = run_in_fixtures(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("usage: xmpp-conformance run"),
            "{args:?}: {err}"
        );
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    let out = run_in_fixtures(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).starts_with("usage: "));
}

#[test]
fn live_usage_errors_say_what_is_wrong() {
    let dir = std::env::temp_dir().join(format!("xmpp-conformance-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let with_secret = dir.join("component.toml");
    std::fs::write(
        &with_secret,
        "domain = \"echo.localhost\"\nsecret = \"s\"\n",
    )
    .unwrap();
    let without = dir.join("plain.toml");
    std::fs::write(&without, "domain = \"echo.localhost\"\n").unwrap();
    let with_peer_domain = dir.join("s2s.toml");
    std::fs::write(
        &with_peer_domain,
        "domain = \"localhost\"\npeer_domain = \"ours.localhost\"\n",
    )
    .unwrap();
    let (with_secret, without) = (with_secret.to_str().unwrap(), without.to_str().unwrap());
    let with_peer_domain = with_peer_domain.to_str().unwrap();
    for (args, says) in [
        (
            &["live", "s2s", "good"][..],
            "expected 'server', 'client', 'component-server', 'component', 's2s-in' or 's2s-out'",
        ),
        (
            &[
                "live",
                "s2s-out",
                "--listen",
                "127.0.0.1:0",
                "--site",
                with_peer_domain,
                "good",
            ],
            "needs --trigger COMMAND",
        ),
        (
            &[
                "live",
                "s2s-in",
                "--connect",
                "127.0.0.1:9",
                "--listen",
                "127.0.0.1:0",
                "--site",
                with_secret,
                "good",
            ],
            "the runner's peer_domain",
        ),
        (
            &[
                "live",
                "s2s-in",
                "--connect",
                "127.0.0.1:9",
                "--site",
                with_peer_domain,
                "good",
            ],
            "needs --listen",
        ),
        (
            &[
                "live",
                "s2s-in",
                "--connect",
                "127.0.0.1:9",
                "--listen",
                "127.0.0.1:0",
                "--tls",
                "direct",
                "--site",
                with_peer_domain,
                "good",
            ],
            "s2s streams start unencrypted",
        ),
        (
            &[
                "live",
                "component-server",
                "--connect",
                "127.0.0.1:9",
                "--tls",
                "direct",
                "--site",
                with_secret,
                "good",
            ],
            "XEP-0114 component streams have no TLS",
        ),
        (
            &[
                "live",
                "component",
                "--listen",
                "127.0.0.1:0",
                "--site",
                without,
                "good",
            ],
            "the component's secret",
        ),
        (
            &[
                "live",
                "client",
                "--listen",
                "127.0.0.1:0",
                "--tls",
                "direct",
                "good",
            ],
            "--tls direct needs --cert and --key",
        ),
        (
            &[
                "live",
                "server",
                "--connect",
                "127.0.0.1:9",
                "--tls",
                "quic",
                "good",
            ],
            "expected starttls, direct or none",
        ),
    ] {
        let out = run_in_fixtures(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
    }
    // The good fixtures are parser vectors: every one is skipped with the reason, none fails.
    let out = run_in_fixtures(&[
        "live",
        "component-server",
        "--connect",
        "127.0.0.1:9",
        "--site",
        with_secret,
        "good",
    ]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("live component-server runs component-server vectors"),
        "{text}"
    );
    std::fs::remove_dir_all(&dir).ok();
}
