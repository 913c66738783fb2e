//! `live s2s-in` and `live s2s-out` against our own core on loopback sockets. For s2s-in our
//! `S2sIn` core is the server under test, and it verifies the runner's dialback keys the
//! way a live server does, by asking the authoritative server of the runner's domain
//! (XEP-0220 section 2.2), which is the runner's `--listen` socket. For s2s-out the trigger
//! starts our `S2sOut` core, which connects to the runner and, once authorized, sends the
//! trigger's message. The vectors pass live as they pass in process; a vector whose decision
//! contradicts what it expects fails at that step; the rest are classified with a reason.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

mod support;
use support::pump;

use xmpp_conformance::live::{
    Authority, LiveClientOptions, LiveOptions, LiveOutcome, LiveTls, Site, TRIGGER_MARKER, TlsMode,
    plan_s2s_in, plan_s2s_out, run_s2s_in_vector, run_s2s_out_vector, run_server_vector,
};
use xmpp_conformance::role::Action;
use xmpp_conformance::s2s::{S2sInRole, S2sOutRole};
use xmpp_conformance::vector::{Vector, load, parse};
use xmpp_conformance::{Role, Runner};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn vector_text(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).expect("the vector file")
}

fn site() -> Site {
    Site::parse(
        r#"
        domain = "localhost"
        peer_domain = "ours.localhost"
        tls = "disabled"
        "#,
    )
    .expect("the site parses")
}

/// Reads from `sock` until `done` holds for what arrived (or 5 s pass).
fn read_until(sock: &mut TcpStream, done: impl Fn(&str) -> bool) -> String {
    let until = Instant::now() + Duration::from_secs(5);
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !done(&String::from_utf8_lossy(&got)) && Instant::now() < until {
        match sock.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

/// What a receiving server does with a key (XEP-0220 section 2.1.2): asks the
/// authoritative server of the sending domain at `authority`, on a stream of its own, and
/// returns its answer as our core's embedder action.
fn ask_authority(authority: &str, arg: &str) -> String {
    let [from, to, id, key] = arg.split(' ').collect::<Vec<_>>()[..] else {
        panic!("a verify request: {arg}");
    };
    let mut sock = TcpStream::connect(authority).expect("reach the authority");
    sock.set_read_timeout(Some(Duration::from_millis(20))).ok();
    let header = format!(
        "<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' \
         xmlns:db='jabber:server:dialback' from='{to}' to='{from}' version='1.0'>"
    );
    sock.write_all(header.as_bytes()).expect("header");
    read_until(&mut sock, |t| t.contains("</stream:features>"));
    let verify = format!("<db:verify from='{to}' to='{from}' id='{id}'>{key}</db:verify>");
    sock.write_all(verify.as_bytes()).expect("verify");
    let answer = read_until(&mut sock, |t| t.contains("<db:verify"));
    assert!(
        answer.contains(&format!("from='{from}' to='{to}' id='{id}'")),
        "the answer names the pair and the stream: {answer}"
    );
    // We end the verification stream and wait for the authority's end before answering,
    // as our example does: the runner must keep serving it meanwhile.
    sock.write_all(b"</stream:stream>").expect("close");
    let end = read_until(&mut sock, |t| t.contains("</stream:stream>"));
    assert!(
        end.contains("</stream:stream>"),
        "the authority ends its stream: {end}"
    );
    let outcome = if answer.contains("type='valid'") {
        "dialback-valid"
    } else {
        "dialback-invalid"
    };
    format!("{outcome} {from} {to}")
}

/// Serves one connection with our s2s-in core for `localhost`, which verifies keys with
/// the authority at `authority`; returns the address to connect to.
fn serve_s2s_in(authority: String) -> (String, thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("address").to_string();
    let text = r#"
        title = "the live server's configuration"
        role = "s2s-in"
        [config]
        domain = "localhost"
        dialback_secret = "the-live-servers-own"
        stream_id = "live-chosen-id-7"
        tls = "disabled"
        [[step]]
        action = "eof"
    "#;
    let config = parse(Path::new("live.toml"), text).expect("loads").config;
    let server = thread::spawn(move || {
        let mut core = S2sInRole.start(&config).expect("the core starts");
        let (mut sock, _) = listener.accept().expect("accept");
        sock.set_read_timeout(Some(Duration::from_millis(20))).ok();
        pump(core.as_mut(), &mut sock, |name, arg| {
            (name == "dialback-verify-request").then(|| ask_authority(&authority, arg))
        });
    });
    (addr, server)
}

fn run(v: &Vector) -> LiveOutcome {
    let authority = Authority {
        listener: TcpListener::bind("127.0.0.1:0").expect("bind"),
        tls: None,
    };
    let at = authority
        .listener
        .local_addr()
        .expect("address")
        .to_string();
    let (addr, server) = serve_s2s_in(at);
    let opts = LiveOptions {
        connect: addr,
        tls: TlsMode::None,
        site: site(),
        step_timeout: Duration::from_secs(3),
    };
    let outcome = run_s2s_in_vector(v, &opts, &authority);
    server.join().expect("the server thread");
    outcome
}

#[test]
fn a_valid_key_goes_online_through_the_runners_authority() {
    let path = "vectors/s2s-in/dialback-xep0220-valid.toml";
    let v = load(&root().join(path)).expect("loads");
    Runner::new().run_vector(&v).expect("in process");
    assert_eq!(run(&v), LiveOutcome::Passed);
}

#[test]
fn an_invalid_key_is_refused_through_the_runners_authority() {
    let path = "vectors/s2s-in/dialback-xep0220-invalid.toml";
    let v = load(&root().join(path)).expect("loads");
    Runner::new().run_vector(&v).expect("in process");
    assert_eq!(run(&v), LiveOutcome::Passed);
}

#[test]
fn a_decision_that_contradicts_the_expected_answer_fails_at_that_step() {
    // The embedder decides `invalid`, the vector still expects `valid`: the runner answers
    // the server under test `invalid`, which then refuses the key.
    let text = vector_text("vectors/s2s-in/dialback-xep0220-valid.toml").replace(
        "action = \"dialback-valid capulet.example montague.example\"",
        "action = \"dialback-invalid capulet.example montague.example\"",
    );
    let v = parse(Path::new("mismatch.toml"), &text).expect("loads");
    match run(&v) {
        LiveOutcome::Failed { step, why } => {
            assert_eq!(step, 7, "the <db:result/> answer: {why}");
            assert!(why.contains("type='invalid'"), "{why}");
        }
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[test]
fn what_cannot_run_live_says_why() {
    let load_vector = |p: &str| load(&root().join(p)).expect("loads");
    let skip = |p: &str| match plan_s2s_in(&load_vector(p), &site(), LiveTls::None) {
        Err(why) => why,
        Ok(steps) => panic!("{p}: expected a skip, got {steps:?}"),
    };
    // The key of a <db:verify/> expected valid is the vector's secret's.
    assert!(skip("vectors/s2s-in/authoritative-verify-valid.toml").contains("secret"));
    // A second sending domain would have to resolve to the runner.
    assert!(skip("vectors/s2s-in/dialback-multiplex-sender.toml").contains("second domain"));
    // The site declares the server's TLS policy.
    assert!(skip("vectors/s2s-in/tls-then-dialback-valid.toml").contains("tls"));
    // The core's clock.
    assert!(skip("vectors/s2s-in/keepalive-after-online.toml").contains("keepalive_ms"));
    // An s2s-in vector under `live server` says where it runs.
    let opts = LiveOptions {
        connect: "127.0.0.1:9".into(),
        tls: TlsMode::None,
        site: site(),
        step_timeout: Duration::from_secs(1),
    };
    let s2s_in = load_vector("vectors/s2s-in/dialback-xep0220-valid.toml");
    match run_server_vector(&s2s_in, &opts) {
        LiveOutcome::Skipped(why) => assert!(why.contains("live s2s-in"), "{why}"),
        other => panic!("expected a skip, got {other:?}"),
    }
    // s2s-out: the embedder's own verification request, a second stream, a client
    // certificate, STARTTLS without the runner's certificate.
    let skip_out = |p: &str, tls: bool| match plan_s2s_out(&load_vector(p), &site(), tls) {
        Err(why) => why,
        Ok(steps) => panic!("{p}: expected a skip, got {steps:?}"),
    };
    assert!(
        skip_out("vectors/s2s-out/dialback-xep0220-verify-valid.toml", false)
            .contains("verification")
    );
    let required = Site::parse(
        "domain = \"localhost\"\npeer_domain = \"ours.localhost\"\ntls = \"required\"\n",
    )
    .expect("the site parses");
    let tls_vector = load_vector("vectors/s2s-out/tls-no-certificate-uses-dialback.toml");
    match plan_s2s_out(&tls_vector, &required, false) {
        Err(why) => assert!(why.contains("no certificate"), "{why}"),
        Ok(steps) => panic!("expected a skip, got {steps:?}"),
    }
    assert!(plan_s2s_out(&tls_vector, &required, true).is_ok());
    assert!(skip_out("vectors/s2s-out/tls-injection-after-proceed.toml", true).contains("tls"));
}

// --- live s2s-out ---------------------------------------------------------------------------

/// The trigger of the tests: our S2sOut core for `localhost`, as a live server would open
/// its stream to `ours.localhost`, connects to the runner at `addr` and, once authorized,
/// sends the trigger's message.
fn start_s2s_out(addr: String) -> thread::JoinHandle<()> {
    let text = r#"
        title = "the live server's configuration"
        role = "s2s-out"
        [config]
        domain = "localhost"
        remote = "ours.localhost"
        dialback_secret = "the-live-servers-own"
        tls = "disabled"
        [[step]]
        action = "open"
    "#;
    let config = parse(Path::new("live.toml"), text).expect("loads").config;
    thread::spawn(move || {
        let mut core = S2sOutRole.start(&config).expect("the core starts");
        let mut sock = TcpStream::connect(&addr).expect("reach the runner");
        sock.set_read_timeout(Some(Duration::from_millis(20))).ok();
        core.act(&Action::parse("open")).expect("open");
        pump(core.as_mut(), &mut sock, |name, _| {
            (name == "online").then(|| {
                format!(
                    "send <message from='bob@localhost' to='alice@ours.localhost'>\
                     <body>{TRIGGER_MARKER}</body></message>"
                )
            })
        });
    })
}

fn run_out(v: &Vector) -> LiveOutcome {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("address").to_string();
    let opts = LiveClientOptions {
        tls: None,
        direct: false,
        site: site(),
        step_timeout: Duration::from_secs(3),
        accept_timeout: Duration::from_secs(5),
    };
    let mut server = None;
    let outcome = run_s2s_out_vector(v, &listener, &opts, &mut || {
        server = Some(start_s2s_out(addr.clone()));
        Ok(())
    });
    if let Some(server) = server {
        server.join().expect("the server thread");
    }
    outcome
}

#[test]
fn live_s2s_out_accepts_the_triggered_stream_and_plays_the_receiving_server() {
    let path = "vectors/s2s-out/dialback-xep0220-valid.toml";
    let text = vector_text(path);
    Runner::new()
        .run_vector(&load(&root().join(path)).expect("loads"))
        .expect("in process");
    // A silent step after the pair is authorized: the trigger's message, which the core
    // sends then, is the run's and not the vector's, so it must be left out.
    let v = parse(
        Path::new("then-silent.toml"),
        &format!("{text}\n[[step]]\nsilent = true\n"),
    )
    .expect("loads");
    assert_eq!(run_out(&v), LiveOutcome::Passed);
}

#[test]
fn live_s2s_out_fails_a_deliberate_mismatch_at_its_step() {
    // The originating server's header expected from another domain.
    let text = vector_text("vectors/s2s-out/dialback-xep0220-valid.toml").replacen(
        "from='capulet.example' to='montague.example' version='1.0' xml:lang='en'>\"",
        "from='verona.example' to='montague.example' version='1.0' xml:lang='en'>\"",
        1,
    );
    let v = parse(Path::new("mismatch.toml"), &text).expect("loads");
    match run_out(&v) {
        LiveOutcome::Failed { step, why } => {
            assert_eq!(step, 2, "the header: {why}");
            assert!(why.contains("verona.example"), "{why}");
        }
        other => panic!("expected a failure, got {other:?}"),
    }
}
