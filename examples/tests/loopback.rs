//! The example binaries against each other on 127.0.0.1, both runtimes: std::net (`client`,
//! `server`) and tokio (`tokio_client`, `tokio_server`). Each server is started on port 0
//! and tells the port it got; the clients are the real binaries.
//!
//! - Without TLS, `--allow-plain` makes the server offer PLAIN (issue 23, item 7), and
//!   without it PLAIN is not offered;
//! - the IM server (both runtimes): a client's roster round (get, set and its push, removal
//!   and its push), and stream management: a client cuts its TCP connection mid-session,
//!   resumes on a new one, and every message it sent arrives exactly once; a new bind of a
//!   detached session's resource ends that session;
//! - over TLS, every session ends with a `close_notify` both ways (RFC 8446 section 6.1): no
//!   side reports a connection that ended without one, while a peer that drops the TCP
//!   connection without it is reported.
//! - Two `s2s` examples (`a.localhost`, `b.localhost`) federate: STARTTLS, dialback with the
//!   receiver asking the sender's listener to verify the key, one message across; a remote
//!   server that cannot be reached fails the send. With `--ca` (`tests/data/s2s*.pem`), the
//!   certificates are checked both ways: one the CA did not sign fails the send, and EXTERNAL
//!   without an authzid checks the certificate against the header's `from`.
//!
//! - Modern login (`--sasl2`, `--fast-token`): SASL2 with Bind 2 and stream management,
//!   a FAST token kept in a 0600 file and never printed, a login with it alone, a refused
//!   token forgotten for the password, and the legacy login where SASL2 is not offered.
//! - Over WebSocket (RFC 7395, `--websocket`), `ws:` and `wss:`: the client logs in to the
//!   server, one message goes from alice to bob, both close, with no STARTTLS and (over
//!   `wss:`) `close_notify` both ways; a handshake without the `xmpp` subprotocol is refused,
//!   and the client gives up on a server that does not agree to it.
//! - Direct TLS (XEP-0368, `--direct-tls`, `--direct-tls-listen`) on both runtimes: ALPN
//!   `xmpp-client`, no STARTTLS on either side, `-PLUS` on the first stream; another ALPN
//!   protocol refused, none accepted; no plaintext fallback; a `--resume-test` over direct
//!   TLS resumes on a new direct TLS connection.
//!
//! `tests/data/localhost.{cert,key}.pem` is a self-signed `localhost` certificate (not a CA,
//! valid until 2126) made for these tests only; its key protects nothing.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

const CERT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/localhost.cert.pem");
const KEY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/localhost.key.pem");
const TRUNCATED: &str = "without close_notify";

const SERVERS: [&str; 2] = [
    env!("CARGO_BIN_EXE_server"),
    env!("CARGO_BIN_EXE_tokio_server"),
];
const CLIENTS: [&str; 2] = [
    env!("CARGO_BIN_EXE_client"),
    env!("CARGO_BIN_EXE_tokio_client"),
];

/// A running example server; killed when dropped.
struct RunningServer {
    child: Child,
    addr: String,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl RunningServer {
    fn start(bin: &str, flags: &[&str]) -> RunningServer {
        let mut child = Command::new(bin)
            .args(["--listen", "127.0.0.1:0", "--domain", "localhost"])
            .args(["--user", "alice:secret", "--user", "bob:secret"])
            .args(flags)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{bin}: {e}"));
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut server = RunningServer {
            child,
            addr: String::new(),
            lines,
            seen: Vec::new(),
        };
        let first = server.wait_for(|l| l.starts_with("listening "), 1);
        server.addr = first.trim_start_matches("listening ").to_owned();
        server
    }

    /// Waits (10 s at most) until `count` lines satisfy `want`; gives the last of them.
    fn wait_for(&mut self, want: impl Fn(&str) -> bool, count: usize) -> String {
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            let matching: Vec<&String> = self.seen.iter().filter(|l| want(l)).collect();
            if matching.len() >= count {
                return matching[count - 1].clone();
            }
            let left = until.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(_) => panic!("server output so far:\n{}", self.seen.join("\n")),
            }
        }
    }

    /// How many lines so far satisfy `want`.
    fn count(&self, want: impl Fn(&str) -> bool) -> usize {
        self.seen.iter().filter(|l| want(l)).count()
    }

    /// Waits until `n` sessions have ended, and gives all output so far.
    fn after_sessions(&mut self, n: usize) -> String {
        self.wait_for(|l| l.ends_with("] closed"), n);
        self.seen.join("\n")
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run_client(bin: &str, addr: &str, jid: &str, flags: &[&str]) -> Output {
    Command::new(bin)
        .args(["--addr", addr, "--jid", jid, "--password", "secret"])
        .args(["--timeout-secs", "10"])
        .args(flags)
        .output()
        .unwrap_or_else(|e| panic!("{bin}: {e}"))
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// bob (`receiver`) waits for one message, alice (`sender`) sends it: both must exit 0, and
/// bob must print the message. Gives both outputs.
fn exchange(
    receiver: &str,
    sender: &str,
    addr: &str,
    flags: &[&str],
    server: &mut RunningServer,
) -> (String, String) {
    let bob_online = |l: &str| l.ends_with("online bob@localhost/phone");
    let closed = |l: &str| l.ends_with("] closed");
    let (online_before, closed_before) = (server.count(bob_online), server.count(closed));
    let mut bob = Command::new(receiver)
        .args([
            "--addr",
            addr,
            "--jid",
            "bob@localhost",
            "--password",
            "secret",
        ])
        .args([
            "--resource",
            "phone",
            "--count",
            "1",
            "--timeout-secs",
            "10",
        ])
        .args(flags)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    server.wait_for(bob_online, online_before + 1);
    let alice = run_client(
        sender,
        addr,
        "alice@localhost",
        &[
            flags,
            &["--to", "bob@localhost/phone", "--message", "Hello, Bob"],
        ]
        .concat(),
    );
    let status = bob.wait().unwrap();
    let mut bob_out = String::new();
    bob.stdout
        .take()
        .unwrap()
        .read_to_string(&mut bob_out)
        .unwrap();
    let alice_out = text(&alice);
    assert!(alice.status.success(), "alice: {alice_out}");
    assert!(status.success(), "bob: {bob_out}");
    assert!(
        bob_out.contains("Hello, Bob") && bob_out.contains("from='alice@localhost/"),
        "bob: {bob_out}"
    );
    // Both sessions are over on the server's side too (bob/phone is free again).
    server.wait_for(closed, closed_before + 2);
    (alice_out, bob_out)
}

#[test]
fn without_tls_allow_plain_makes_the_server_offer_plain() {
    let plain = [
        "--tls",
        "disabled",
        "--allow-plain",
        "--mechanisms",
        "PLAIN",
    ];
    for server_bin in SERVERS {
        for policy in ["disabled", "optional"] {
            let mut flags = vec!["--tls", policy, "--allow-plain"];
            if policy == "optional" {
                flags.extend(["--cert", CERT, "--key", KEY]);
            }
            let mut server = RunningServer::start(server_bin, &flags);
            let addr = server.addr.clone();
            exchange(CLIENTS[0], CLIENTS[1], &addr, &plain, &mut server);
            exchange(CLIENTS[1], CLIENTS[0], &addr, &plain, &mut server);
            let log = server.after_sessions(4);
            assert!(
                !log.contains("tls up"),
                "{server_bin} --tls {policy}: {log}"
            );
            assert_eq!(
                log.matches("auth PLAIN as").count(),
                4,
                "{server_bin} --tls {policy}: {log}"
            );
        }
        // Without --allow-plain, PLAIN is not offered on a stream without TLS: a client
        // that will use nothing else cannot log in.
        let mut server = RunningServer::start(server_bin, &["--tls", "disabled"]);
        let addr = server.addr.clone();
        for client_bin in CLIENTS {
            let out = run_client(client_bin, &addr, "alice@localhost", &plain);
            assert!(!out.status.success(), "{client_bin}: {}", text(&out));
            assert!(
                !text(&out).contains("online"),
                "{client_bin}: {}",
                text(&out)
            );
        }
        let log = server.after_sessions(2);
        assert!(!log.contains("auth PLAIN"), "{server_bin}: {log}");
    }
}

#[test]
fn tls_sessions_end_with_close_notify_both_ways() {
    let tls = ["--tls", "required", "--ca", CERT];
    for server_bin in SERVERS {
        let mut server = RunningServer::start(
            server_bin,
            &["--tls", "required", "--cert", CERT, "--key", KEY],
        );
        let addr = server.addr.clone();
        let mut outputs = Vec::new();
        for (receiver, sender) in [(CLIENTS[0], CLIENTS[1]), (CLIENTS[1], CLIENTS[0])] {
            let (alice, bob) = exchange(receiver, sender, &addr, &tls, &mut server);
            outputs.extend([alice, bob]);
        }
        let log = server.after_sessions(4);
        assert_eq!(log.matches("tls up").count(), 4, "{server_bin}: {log}");
        // Neither the clients nor the server saw a connection end without close_notify.
        assert!(!log.contains(TRUNCATED), "{server_bin}: {log}");
        for out in &outputs {
            assert!(!out.contains(TRUNCATED), "{server_bin}: {out}");
        }

        // A client that drops the connection after the handshake, without close_notify, is
        // reported: the check above can see a truncation.
        truncating_client(&addr);
        let log = server.after_sessions(5);
        assert!(log.contains(TRUNCATED), "{server_bin}: {log}");
    }
}

/// STARTTLS by hand, a TLS handshake with rustls, then the TCP connection closed without
/// `close_notify`.
fn truncating_client(addr: &str) {
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    tcp.write_all(
        b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' \
          to='localhost' version='1.0'><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>",
    )
    .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&got).contains("<proceed") {
        let n = tcp.read(&mut buf).unwrap();
        assert!(n > 0, "no <proceed/>: {}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    let config = xmpp_examples::client_tls(Some(CERT)).unwrap();
    let name = "localhost".try_into().unwrap();
    let mut tls = rustls::ClientConnection::new(Arc::clone(&config), name).unwrap();
    while tls.is_handshaking() {
        tls.complete_io(&mut tcp).unwrap();
    }
    while tls.wants_write() {
        tls.write_tls(&mut tcp).unwrap();
    }
    // The TCP end without close_notify. Half-close, then read until the server is done, so
    // that unread data (TLS 1.3 session tickets) cannot turn the FIN into a reset.
    tcp.shutdown(std::net::Shutdown::Write).unwrap();
    while matches!(tcp.read(&mut buf), Ok(n) if n > 0) {}
}

const S2S: &str = env!("CARGO_BIN_EXE_s2s");

/// A port that was free a moment ago: the two s2s examples must know each other's address
/// before either starts (each is the other's authoritative server).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A CA (its key thrown away) and a leaf it signed for `a.localhost` and `b.localhost`, for
/// server and client use, valid until 2126: made for these tests only.
const S2S_CA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/s2s-ca.cert.pem");
const S2S_CERT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/s2s.cert.pem");
const S2S_KEY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/s2s.key.pem");

fn s2s(listen: u16, domain: &str, peer: &str, peer_port: u16, flags: &[&str]) -> Command {
    s2s_with([CERT, KEY], listen, domain, peer, peer_port, flags)
}

fn s2s_with(
    [cert, key]: [&str; 2],
    listen: u16,
    domain: &str,
    peer: &str,
    peer_port: u16,
    flags: &[&str],
) -> Command {
    let mut cmd = Command::new(S2S);
    cmd.args([
        "--listen",
        &format!("127.0.0.1:{listen}"),
        "--domain",
        domain,
    ])
    .args(["--cert", cert, "--key", key, "--timeout-secs", "20"])
    .args(["--route", &format!("{peer}=127.0.0.1:{peer_port}")])
    .args(flags);
    cmd
}

#[test]
fn two_s2s_examples_federate_with_starttls_and_dialback() {
    let (a_port, b_port) = (free_port(), free_port());
    let mut receiver = s2s(
        a_port,
        "a.localhost",
        "b.localhost",
        b_port,
        &["--count", "1"],
    )
    .stdout(Stdio::piped())
    .spawn()
    .unwrap();
    // The receiver listens before the sender dials (it prints `listening` first).
    let mut receiver_out = BufReader::new(receiver.stdout.take().unwrap());
    let mut first = String::new();
    receiver_out.read_line(&mut first).unwrap();
    assert!(first.starts_with("listening"), "{first}");
    let sender = s2s(b_port, "b.localhost", "a.localhost", a_port, &[])
        .args([
            "--from",
            "bob",
            "--to",
            "alice@a.localhost",
            "--message",
            "hi & bye",
        ])
        .output()
        .unwrap();
    let mut received = String::new();
    receiver_out.read_to_string(&mut received).unwrap();
    let sent = text(&sender);
    assert!(
        sender.status.success(),
        "sender: {sent}\nreceiver: {received}"
    );
    assert!(
        sent.contains("out: online b.localhost -> a.localhost"),
        "{sent}"
    );
    // The receiver asked the sender's domain (its listener) about the key.
    assert!(
        received.contains("dialback b.localhost -> a.localhost: Valid"),
        "{received}"
    );
    assert!(
        received.contains("from='bob@b.localhost' to='alice@a.localhost'")
            && received.contains("<body>hi &amp; bye</body>"),
        "{received}"
    );
    assert!(received.contains("done: received 1"), "{received}");
    assert!(receiver.wait().unwrap().success(), "{received}");
}

#[test]
fn s2s_example_fails_when_the_remote_server_cannot_be_reached() {
    // Nothing listens on the route's port.
    let out = s2s(free_port(), "b.localhost", "a.localhost", free_port(), &[])
        .args(["--to", "alice@a.localhost", "--message", "hi"])
        .output()
        .unwrap();
    let printed = text(&out);
    assert_eq!(out.status.code(), Some(1), "{printed}");
    assert!(
        printed.contains("send: cannot reach a.localhost"),
        "{printed}"
    );
}

#[test]
fn with_a_ca_certificates_are_checked_and_external_without_authzid_uses_the_header_from() {
    let (a_port, b_port) = (free_port(), free_port());
    let tls = [S2S_CERT, S2S_KEY];
    let ca = ["--ca", S2S_CA];
    let mut receiver = s2s_with(tls, a_port, "a.localhost", "b.localhost", b_port, &ca)
        .args(["--count", "1"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut receiver_out = BufReader::new(receiver.stdout.take().unwrap());
    let mut first = String::new();
    receiver_out.read_line(&mut first).unwrap();
    assert!(first.starts_with("listening"), "{first}");
    let sender = s2s_with(tls, b_port, "b.localhost", "a.localhost", a_port, &ca)
        .args(["--to", "alice@a.localhost", "--message", "hi"])
        .output()
        .unwrap();
    let mut received = String::new();
    receiver_out.read_to_string(&mut received).unwrap();
    let sent = text(&sender);
    assert!(
        sender.status.success(),
        "sender: {sent}\nreceiver: {received}"
    );
    // The sender presented its certificate and the receiver took it ...
    assert!(
        received.contains("tls up, a trusted peer certificate"),
        "{received}"
    );
    // ... and our S2sOut names no authzid, so the header's `from` is the identity the
    // certificate is checked against (RFC 6120 section 6.4.6): EXTERNAL, no dialback.
    assert!(
        received.contains("external: the certificate names b.localhost"),
        "{received}"
    );
    assert!(!received.contains("dialback b.localhost"), "{received}");
    assert!(received.contains("<body>hi</body>"), "{received}");
    assert!(receiver.wait().unwrap().success(), "{received}");
}

#[test]
fn with_a_ca_a_remote_certificate_it_does_not_sign_fails_the_send() {
    let (a_port, b_port) = (free_port(), free_port());
    // The receiver presents the self-signed localhost certificate.
    let mut receiver = s2s(a_port, "a.localhost", "b.localhost", b_port, &[])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut receiver_out = BufReader::new(receiver.stdout.take().unwrap());
    let mut first = String::new();
    receiver_out.read_line(&mut first).unwrap();
    assert!(first.starts_with("listening"), "{first}");
    let sender = s2s_with(
        [S2S_CERT, S2S_KEY],
        b_port,
        "b.localhost",
        "a.localhost",
        a_port,
        &["--ca", S2S_CA],
    )
    .args(["--to", "alice@a.localhost", "--message", "hi"])
    .output()
    .unwrap();
    let _ = receiver.kill();
    let _ = receiver.wait();
    let sent = text(&sender);
    assert_eq!(sender.status.code(), Some(1), "{sent}");
    assert!(!sent.contains("out: tls up"), "{sent}");
    assert!(!sent.contains("out: online"), "{sent}");
    assert!(sent.contains("send failed"), "{sent}");
}

/// The IM server's stream management (both servers): `client --resume-test` cuts its TCP
/// connection after message 2 and resumes on a new one (never binding afresh), and bob,
/// who keeps reading 2 s after the third, gets each of the three messages exactly once.
#[test]
fn a_cut_session_resumes_and_each_message_arrives_once() {
    let plain = [
        "--tls",
        "disabled",
        "--allow-plain",
        "--mechanisms",
        "PLAIN",
    ];
    for server_bin in SERVERS {
        let mut server = RunningServer::start(server_bin, &["--tls", "disabled", "--allow-plain"]);
        let addr = server.addr.clone();
        let bob = std::thread::spawn({
            let addr = addr.clone();
            move || {
                let mut flags = plain.to_vec();
                flags.extend(["--resource", "r", "--presence", "--count", "3"]);
                flags.extend(["--extra-secs", "2"]);
                run_client(CLIENTS[0], &addr, "bob@localhost", &flags)
            }
        });
        server.wait_for(|l| l.contains("online bob@localhost/r"), 1);
        let mut flags = plain.to_vec();
        flags.extend(["--resume-test", "--to", "bob@localhost/r", "--message", "m"]);
        let alice = run_client(CLIENTS[0], &addr, "alice@localhost", &flags);
        let out = String::from_utf8_lossy(&alice.stdout);
        assert!(alice.status.success(), "{server_bin}: alice:\n{out}");
        assert!(out.contains("cutting the connection"), "{out}");
        assert!(out.contains("\nresumed alice@localhost/"), "{out}");
        let onlines = out.lines().filter(|l| l.starts_with("online ")).count();
        assert_eq!(onlines, 1, "{server_bin}: alice bound afresh:\n{out}");
        let bob = bob.join().unwrap();
        let bout = String::from_utf8_lossy(&bob.stdout);
        assert!(bob.status.success(), "{server_bin}: bob:\n{bout}");
        for i in 1..=3 {
            let body = format!("<body>m {i}</body>");
            assert_eq!(
                bout.matches(&body).count(),
                1,
                "{server_bin}: {body}:\n{bout}"
            );
        }
        let log = server.after_sessions(3);
        assert!(log.contains("detached alice@localhost/"), "{log}");
    }
}

/// The IM server's rosters (RFC 6121 section 2), both servers and both clients: get, set
/// with its push, removal with its push, get again.
#[test]
fn the_roster_round_passes_on_both_servers() {
    for server_bin in SERVERS {
        let server = RunningServer::start(server_bin, &["--tls", "disabled", "--allow-plain"]);
        for client_bin in CLIENTS {
            let flags = [
                "--tls",
                "disabled",
                "--allow-plain",
                "--mechanisms",
                "PLAIN",
                "--roster-test",
                "carol@localhost",
            ];
            let out = run_client(client_bin, &server.addr, "alice@localhost", &flags);
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(out.status.success(), "{server_bin} / {client_bin}:\n{text}");
            assert!(
                text.contains("roster-push carol@localhost in roster: true"),
                "{text}"
            );
            assert!(
                text.contains("roster-push carol@localhost in roster: false"),
                "{text}"
            );
            assert!(text.contains("roster test passed"), "{text}");
        }
    }
}

/// The IM server: a resource held by a detached session (its stream broke with resumption
/// enabled) can be bound again, which ends the detached one.
#[test]
fn a_detached_session_gives_way_to_a_new_bind_of_its_resource() {
    for server_bin in SERVERS {
        let mut server = RunningServer::start(server_bin, &["--tls", "disabled", "--allow-plain"]);
        let addr = server.addr.clone();
        // By hand: PLAIN, bind `desk`, enable resumption, then the TCP connection ends.
        let mut tcp = TcpStream::connect(&addr).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let header = "<stream:stream xmlns='jabber:client' \
            xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>";
        let mut got = String::new();
        let mut say_then_await = |out: &str, want: &str| {
            tcp.write_all(out.as_bytes()).unwrap();
            let mut buf = [0u8; 4096];
            while !got.contains(want) {
                let n = tcp.read(&mut buf).unwrap();
                assert!(n > 0, "no {want}: {got}");
                got.push_str(&String::from_utf8_lossy(&buf[..n]));
            }
            got.clear();
        };
        say_then_await(header, "</stream:features>");
        // base64("\0alice\0secret")
        say_then_await(
            "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>\
             AGFsaWNlAHNlY3JldA==</auth>",
            "<success",
        );
        say_then_await(header, "</stream:features>");
        say_then_await(
            "<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>\
             <resource>desk</resource></bind></iq>",
            "alice@localhost/desk",
        );
        say_then_await("<enable xmlns='urn:xmpp:sm:3' resume='true'/>", "<enabled");
        drop(tcp);
        server.wait_for(|l| l.contains("detached alice@localhost/desk"), 1);

        let plain = [
            "--tls",
            "disabled",
            "--allow-plain",
            "--mechanisms",
            "PLAIN",
        ];
        let mut flags = plain.to_vec();
        flags.extend(["--resource", "desk"]);
        let out = run_client(CLIENTS[0], &addr, "alice@localhost", &flags);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{server_bin}:\n{text}");
        assert!(text.contains("online alice@localhost/desk"), "{text}");
        let log = server.after_sessions(2);
        assert!(log.contains("alice@localhost/desk bound again"), "{log}");
    }
}

#[test]
fn websocket_client_and_server_exchange_a_message_over_ws_and_wss() {
    let server_bin = SERVERS[0];
    let client_bin = CLIENTS[0];
    for secure in [false, true] {
        let server_flags: &[&str] = if secure {
            &[
                "--websocket",
                "--tls",
                "required",
                "--cert",
                CERT,
                "--key",
                KEY,
            ]
        } else {
            &["--websocket", "--tls", "disabled"]
        };
        let mut server = RunningServer::start(server_bin, server_flags);
        let addr = server.addr.clone();
        let port = addr.rsplit(':').next().unwrap();
        let url = if secure {
            format!("wss://localhost:{port}/xmpp-websocket")
        } else {
            format!("ws://localhost:{port}/xmpp-websocket")
        };
        let flags: Vec<&str> = if secure {
            vec!["--websocket", &url, "--tls", "required", "--ca", CERT]
        } else {
            vec!["--websocket", &url, "--tls", "disabled"]
        };
        let (alice, bob) = exchange(client_bin, client_bin, &addr, &flags, &mut server);
        for out in [&alice, &bob] {
            assert!(
                out.contains("websocket up (xmpp subprotocol)"),
                "{url}: {out}"
            );
            assert!(out.lines().any(|l| l == "closed"), "{url}: {out}");
            assert!(!out.contains(TRUNCATED), "{url}: {out}");
        }
        let log = server.after_sessions(2);
        assert_eq!(log.matches("] websocket up").count(), 2, "{url}: {log}");
        // RFC 7395 section 3.7: no STARTTLS inside a WebSocket.
        assert!(!log.contains("tls up"), "{url}: {log}");
        assert!(log.contains("auth SCRAM-SHA-"), "{url}: {log}");
        assert!(!log.contains(TRUNCATED), "{url}: {log}");
        assert!(!log.contains("transport error"), "{url}: {log}");
    }
}

#[test]
fn websocket_server_refuses_a_handshake_without_the_xmpp_subprotocol() {
    let server = RunningServer::start(SERVERS[0], &["--websocket", "--tls", "disabled"]);
    let ask = |protocol: &str| {
        let mut tcp = TcpStream::connect(&server.addr).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let request = format!(
            "GET /xmpp-websocket HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{protocol}\r\n"
        );
        tcp.write_all(request.as_bytes()).unwrap();
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = tcp.read(&mut buf).unwrap();
            assert!(n > 0, "no answer: {}", String::from_utf8_lossy(&head));
            head.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&head).into_owned()
    };
    let refused = ask("");
    assert!(refused.starts_with("HTTP/1.1 400"), "{refused}");
    let refused = ask("Sec-WebSocket-Protocol: chat\r\n");
    assert!(refused.starts_with("HTTP/1.1 400"), "{refused}");
    let accepted = ask("Sec-WebSocket-Protocol: chat, xmpp\r\n");
    assert!(accepted.starts_with("HTTP/1.1 101"), "{accepted}");
    assert!(
        accepted
            .to_ascii_lowercase()
            .contains("sec-websocket-protocol: xmpp\r\n"),
        "{accepted}"
    );
}

#[test]
fn websocket_client_fails_when_the_server_does_not_agree_to_the_xmpp_subprotocol() {
    // A WebSocket server that accepts the handshake without naming a subprotocol.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        // The client gives up on the answer; what happens next is not this test's.
        let _ = tungstenite::accept(tcp);
    });
    let url = format!("ws://localhost:{port}/xmpp-websocket");
    let addr = format!("127.0.0.1:{port}");
    let out = run_client(
        CLIENTS[0],
        &addr,
        "alice@localhost",
        &["--websocket", &url, "--tls", "disabled"],
    );
    let err = String::from_utf8_lossy(&out.stderr).to_ascii_lowercase();
    assert!(!out.status.success(), "{}", text(&out));
    assert!(err.contains("subprotocol"), "{err}");
    assert!(!text(&out).contains("websocket up"), "{}", text(&out));
    server.join().unwrap();
}

/// Does a line of `out` equal `line` (`whole`), or start with it?
fn has_line(out: &str, line: &str, whole: bool) -> bool {
    out.lines().any(|l| {
        if whole {
            l == line
        } else {
            l.starts_with(line)
        }
    })
}

/// `--sasl2` and `--fast-token` (XEP-0388, XEP-0386, XEP-0484) on both runtimes: a login
/// with the password through SASL2 binds with Bind 2 (the server makes the resource from the
/// client's tag), enables stream management inside it and gets a FAST token, which the file
/// keeps with mode 0600 and the output never shows; a second login with a wrong password
/// gets online with the token alone; a server that does not know the token (restarted)
/// refuses it, and the client forgets it and logs in with its password; a server without
/// `--sasl2` gets the RFC 6120 login, with the resource asked for.
#[test]
fn sasl2_logins_keep_a_fast_token_and_log_in_with_it() {
    for (i, (server_bin, client_bin)) in SERVERS.iter().zip(CLIENTS).enumerate() {
        let file =
            std::env::temp_dir().join(format!("xmpp-examples-fast-{}-{i}", std::process::id()));
        let _ = std::fs::remove_file(&file);
        let path = file.to_str().unwrap();
        let tls = ["--cert", CERT, "--key", KEY];
        let mut server = RunningServer::start(server_bin, &[&tls[..], &["--sasl2"]].concat());
        let flags = ["--ca", CERT, "--sasl2", "--fast-token", path, "--sm"];
        let first = run_client(client_bin, &server.addr, "alice@localhost", &flags);
        let first_out = text(&first);
        assert!(first.status.success(), "{client_bin}: {first_out}");
        assert!(
            has_line(&first_out, "online alice@localhost/xmpp-sansio/", false),
            "{first_out}"
        );
        assert!(has_line(&first_out, "sm enabled", true), "{first_out}");
        assert!(
            first_out.contains("fast token received (HT-SHA-256-"),
            "{first_out}"
        );
        let kept = std::fs::read_to_string(&file).unwrap();
        let secret = kept
            .lines()
            .find_map(|l| l.strip_prefix("token "))
            .unwrap_or_else(|| panic!("no token kept: {kept}"))
            .to_owned();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&file).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "the token file's mode");
        }
        // Only the token can log this one in.
        let wrong = Command::new(client_bin)
            .args(["--addr", &server.addr, "--jid", "alice@localhost"])
            .args(["--password", "wrong", "--timeout-secs", "10"])
            .args(flags)
            .output()
            .unwrap();
        let wrong_out = text(&wrong);
        assert!(wrong.status.success(), "{client_bin}: {wrong_out}");
        assert!(
            has_line(&wrong_out, "online alice@localhost/xmpp-sansio/", false),
            "{wrong_out}"
        );
        assert!(!wrong_out.contains("sasl-failure"), "{wrong_out}");
        let log = server.after_sessions(2);
        assert!(log.contains("] fast token issued (HT-SHA-256-"), "{log}");
        assert!(log.contains("] fast auth HT-SHA-256-"), "{log}");
        for out in [&first_out, &wrong_out, &log] {
            assert!(!out.contains(&secret), "the token was printed: {out}");
        }
        drop(server);

        // A new server knows no token: refused, forgotten, the password logs in.
        let server = RunningServer::start(server_bin, &[&tls[..], &["--sasl2"]].concat());
        let again = run_client(client_bin, &server.addr, "alice@localhost", &flags);
        let again_out = text(&again);
        assert!(again.status.success(), "{client_bin}: {again_out}");
        assert!(
            again_out.contains("fast token refused: forgotten"),
            "{again_out}"
        );
        assert!(
            has_line(&again_out, "online alice@localhost/xmpp-sansio/", false),
            "{again_out}"
        );
        let kept = std::fs::read_to_string(&file).unwrap();
        assert!(!kept.contains("token "), "the refused token stays: {kept}");
        drop(server);

        // No SASL2 offered: the legacy login, with the resource asked for.
        let server = RunningServer::start(server_bin, &tls);
        let legacy = run_client(
            client_bin,
            &server.addr,
            "alice@localhost",
            &[&flags[..], &["--resource", "legacy"]].concat(),
        );
        let legacy_out = text(&legacy);
        assert!(legacy.status.success(), "{client_bin}: {legacy_out}");
        assert!(
            has_line(&legacy_out, "online alice@localhost/legacy", true),
            "{legacy_out}"
        );
        assert!(!legacy_out.contains("fast token received"), "{legacy_out}");
        let _ = std::fs::remove_file(&file);
    }
}

/// The direct TLS listener's address (`--direct-tls-listen 127.0.0.1:0`), which the server
/// prints before it is ready.
fn direct_addr(server: &mut RunningServer) -> String {
    let line = server.wait_for(|l| l.starts_with("direct-tls listening "), 1);
    line.trim_start_matches("direct-tls listening ").to_owned()
}

/// Direct TLS (XEP-0368) on both runtimes: `--direct-tls` clients (both runtimes, one to
/// the other) log in over the server's `--direct-tls-listen` listener with ALPN
/// `xmpp-client`, TLS from the first byte and no STARTTLS on either side; the channel
/// binding reaches the core before the first stream (SCRAM `-PLUS` there); every session
/// ends with `close_notify`. The same server's STARTTLS listener still runs STARTTLS, and
/// a `--direct-tls` client on it fails the handshake instead of speaking plaintext.
#[test]
fn direct_tls_clients_log_in_on_the_direct_tls_listener_of_both_servers() {
    for (i, server_bin) in SERVERS.iter().enumerate() {
        let flags = [
            "--cert",
            CERT,
            "--key",
            KEY,
            "--direct-tls-listen",
            "127.0.0.1:0",
        ];
        let mut server = RunningServer::start(server_bin, &flags);
        let direct = direct_addr(&mut server);
        let (receiver, sender) = (CLIENTS[i], CLIENTS[1 - i]);
        let client_flags = ["--ca", CERT, "--direct-tls"];
        let (alice, bob) = exchange(receiver, sender, &direct, &client_flags, &mut server);
        for out in [&alice, &bob] {
            assert!(
                has_line(out, "direct tls up (ALPN xmpp-client)", true),
                "{server_bin}: {out}"
            );
            assert!(!out.contains("tls-requested"), "{server_bin}: {out}");
            assert!(has_line(out, "closed", true), "{server_bin}: {out}");
            assert!(!out.contains(TRUNCATED), "{server_bin}: {out}");
        }
        let log = server.after_sessions(2);
        assert_eq!(
            log.matches("] direct tls up (ALPN xmpp-client), 1 channel binding(s)")
                .count(),
            2,
            "{server_bin}: {log}"
        );
        assert!(!log.contains("] tls up"), "{server_bin}: {log}");
        assert_eq!(
            log.matches("] auth SCRAM-SHA-256-PLUS as ").count(),
            2,
            "{server_bin}: {log}"
        );
        assert!(!log.contains(TRUNCATED), "{server_bin}: {log}");
        assert!(!log.contains("transport error"), "{server_bin}: {log}");

        // The STARTTLS listener beside it: STARTTLS, and the client says so.
        let starttls = run_client(sender, &server.addr, "alice@localhost", &["--ca", CERT]);
        let out = text(&starttls);
        assert!(starttls.status.success(), "{server_bin}: {out}");
        assert!(has_line(&out, "tls-requested (starttls)", true), "{out}");
        assert!(!out.contains("direct tls up"), "{out}");
        let log = server.after_sessions(3);
        assert!(log.contains("] tls up, "), "{server_bin}: {log}");

        // --direct-tls on a port that expects a stream header: no plaintext fallback.
        let wrong = run_client(sender, &server.addr, "alice@localhost", &client_flags);
        let (out, err) = (text(&wrong), String::from_utf8_lossy(&wrong.stderr));
        assert!(!wrong.status.success(), "{server_bin}: {out}");
        assert!(err.contains("tls-handshake"), "{server_bin}: {err}");
        assert!(!out.contains("online"), "{server_bin}: {out}");
    }
}

/// XEP-0368 section 3 on the servers' direct TLS listener: a client whose ALPN offer lacks
/// `xmpp-client` is refused in the handshake (`no_application_protocol`), while one that
/// offers no ALPN at all is served (ALPN is a SHOULD), with SASL and no STARTTLS in the
/// first stream features.
#[test]
fn direct_tls_listener_refuses_another_alpn_protocol_and_serves_a_client_without_alpn() {
    use rustls::{ClientConnection, StreamOwned};
    let connect = |addr: &str, alpn: &[&[u8]]| {
        let mut config =
            rustls::ClientConfig::clone(&xmpp_examples::client_tls(Some(CERT)).unwrap());
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let conn = ClientConnection::new(Arc::new(config), name).unwrap();
        let tcp = TcpStream::connect(addr).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        StreamOwned::new(conn, tcp)
    };
    for server_bin in SERVERS {
        let flags = [
            "--cert",
            CERT,
            "--key",
            KEY,
            "--direct-tls-listen",
            "127.0.0.1:0",
        ];
        let mut server = RunningServer::start(server_bin, &flags);
        let direct = direct_addr(&mut server);

        let mut refused = connect(&direct, &[b"h2", b"http/1.1"]);
        let err = refused
            .conn
            .complete_io(&mut refused.sock)
            .and_then(|_| refused.conn.complete_io(&mut refused.sock))
            .expect_err("a handshake without xmpp-client");
        assert!(
            format!("{err}").contains("NoApplicationProtocol"),
            "{server_bin}: {err}"
        );
        server.wait_for(|l| l.contains("] transport error: "), 1);

        let mut plain = connect(&direct, &[]);
        let header = "<stream:stream xmlns='jabber:client' \
            xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>";
        plain.write_all(header.as_bytes()).unwrap();
        assert_eq!(plain.conn.alpn_protocol(), None);
        let mut got = String::new();
        let mut buf = [0u8; 4096];
        while !got.contains("</stream:features>") {
            let n = plain.read(&mut buf).unwrap();
            assert!(n > 0, "{server_bin}: no features: {got}");
            got.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        assert!(got.contains("<mechanisms"), "{server_bin}: {got}");
        assert!(!got.contains("starttls"), "{server_bin}: {got}");
        drop(plain);
        server.wait_for(
            |l| l.ends_with("] direct tls up (no ALPN), 1 channel binding(s)"),
            1,
        );
    }
}

/// XEP-0198 over direct TLS (both servers): `client --direct-tls --resume-test` cuts its
/// connection after message 2 and resumes on a new direct TLS connection (TLS first again,
/// no STARTTLS, never a fresh bind); bob, on the STARTTLS listener of the same server, gets
/// each message exactly once.
#[test]
fn a_direct_tls_session_resumes_on_a_new_direct_tls_connection() {
    for server_bin in SERVERS {
        let flags = [
            "--cert",
            CERT,
            "--key",
            KEY,
            "--direct-tls-listen",
            "127.0.0.1:0",
        ];
        let mut server = RunningServer::start(server_bin, &flags);
        let direct = direct_addr(&mut server);
        let bob = std::thread::spawn({
            let addr = server.addr.clone();
            move || {
                let flags = [
                    "--ca",
                    CERT,
                    "--resource",
                    "r",
                    "--presence",
                    "--count",
                    "3",
                ];
                run_client(
                    CLIENTS[0],
                    &addr,
                    "bob@localhost",
                    &[&flags[..], &["--extra-secs", "2"]].concat(),
                )
            }
        });
        server.wait_for(|l| l.contains("online bob@localhost/r"), 1);
        let flags = ["--ca", CERT, "--direct-tls", "--resume-test"];
        let message = ["--to", "bob@localhost/r", "--message", "m"];
        let alice = run_client(
            CLIENTS[0],
            &direct,
            "alice@localhost",
            &[&flags[..], &message].concat(),
        );
        let out = text(&alice);
        assert!(alice.status.success(), "{server_bin}: alice:\n{out}");
        assert!(has_line(&out, "cutting the connection", true), "{out}");
        assert!(has_line(&out, "resumed alice@localhost/", false), "{out}");
        let ups = out
            .lines()
            .filter(|l| *l == "direct tls up (ALPN xmpp-client)")
            .count();
        assert_eq!(ups, 2, "{server_bin}: both connections TLS first:\n{out}");
        assert!(!out.contains("tls-requested"), "{server_bin}: {out}");
        let onlines = out.lines().filter(|l| l.starts_with("online ")).count();
        assert_eq!(onlines, 1, "{server_bin}: alice bound afresh:\n{out}");
        let bob = bob.join().unwrap();
        let bout = text(&bob);
        assert!(bob.status.success(), "{server_bin}: bob:\n{bout}");
        for i in 1..=3 {
            let body = format!("<body>m {i}</body>");
            assert_eq!(
                bout.matches(&body).count(),
                1,
                "{server_bin}: {body}:\n{bout}"
            );
        }
        let log = server.after_sessions(3);
        assert!(log.contains("] resumed alice@localhost/"), "{log}");
        assert_eq!(
            log.matches("] direct tls up (ALPN xmpp-client)").count(),
            2,
            "{server_bin}: {log}"
        );
    }
}
