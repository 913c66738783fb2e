//! The live harness against our own core on a loopback socket: the server core that an
//! in-process run builds from a vector's configuration is served on 127.0.0.1, deciding for
//! itself what a vector's embedder actions decide (credentials from the configured accounts,
//! the resource asked for), and `live server` plays the vector against it. A vector that
//! passes in process passes live; one with a deliberate mismatch fails live, at its step.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use xmpp_conformance::live::{LiveOptions, LiveOutcome, Site, TlsMode, run_server_vector};
use xmpp_conformance::role::{Action, EventArg};
use xmpp_conformance::server::ServerRole;
use xmpp_conformance::vector::{Vector, parse};
use xmpp_conformance::{Role, Runner};

/// A c2s login without TLS (PLAIN allowed), a bind, a stanza whose malformed `to` draws an
/// error reply on the wire, and the closing handshake.
const VECTOR: &str = r#"
title = "loopback: login, bind, jid-malformed, close"
role = "server"
[config]
domain = "im.example.com"
stream_id = "s1"
tls = "disabled"
allow_plain_without_tls = true
mechanisms = ["PLAIN"]
[config.users.juliet]
password = "r0m30myr0m30"
[[step]]
peer = "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='im.example.com' version='1.0'>"
[[step]]
event = "stream-opened"
[[step]]
core = "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' from='im.example.com' id='s1' version='1.0' xml:lang='en'><stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>"
[[step]]
peer = "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGp1bGlldAByMG0zMG15cjBtMzA=</auth>"
[[step]]
event = "auth-request PLAIN juliet"
[[step]]
action = "credentials juliet"
[[step]]
event = "authenticated juliet@im.example.com"
[[step]]
core = "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>"
[[step]]
peer = "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='im.example.com' version='1.0'>"
[[step]]
event = "stream-opened"
[[step]]
core = "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' from='im.example.com' id='{+sid2}' version='1.0' xml:lang='en'><stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/><session xmlns='urn:ietf:params:xml:ns:xmpp-session'><optional/></session></stream:features>"
[[step]]
peer = "<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>balcony</resource></bind></iq>"
[[step]]
event = "bind-request balcony"
[[step]]
action = "bind juliet@im.example.com/balcony"
[[step]]
event = "online juliet@im.example.com/balcony"
[[step]]
core = "<iq type='result' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>juliet@im.example.com/balcony</jid></bind></iq>"
[[step]]
peer = "<message to='@im.example.com' id='m1'><body>x</body></message>"
[[step]]
core = "<message type='error' id='m1' to='juliet@im.example.com/balcony'><error type='modify'><jid-malformed xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>"
[[step]]
peer = "</stream:stream>"
[[step]]
core = "</stream:stream>"
[[step]]
event = "closed"
"#;

fn vector(text: &str) -> Vector {
    parse(Path::new("loopback.toml"), text).expect("the test vector loads")
}

/// Serves one connection with the core that an in-process run of `vector` builds, deciding
/// what its embedder actions decide; returns the address to connect to.
fn serve(vector: &Vector) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("address").to_string();
    let config = vector.config.clone();
    thread::spawn(move || {
        let mut core = ServerRole.start(&config).expect("the core starts");
        let (mut sock, _) = listener.accept().expect("accept");
        sock.set_read_timeout(Some(Duration::from_millis(20))).ok();
        let until = Instant::now() + Duration::from_secs(20);
        let mut buf = [0u8; 4096];
        while Instant::now() < until {
            match sock.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => core.feed(&buf[..n]),
                Err(_) => {}
            }
            let mut closed = false;
            while let Some(event) = core.poll_event() {
                let arg = match &event.arg {
                    EventArg::Plain(a) => a.clone(),
                    _ => String::new(),
                };
                let answer = match event.name.as_str() {
                    "auth-request" => arg.split(' ').nth(1).map(|u| format!("credentials {u}")),
                    "bind-request" => Some(format!("bind juliet@im.example.com/{arg}")),
                    "closed" => {
                        closed = true;
                        None
                    }
                    _ => None,
                };
                if let Some(line) = answer {
                    core.act(&Action::parse(&line)).expect("the decision");
                }
            }
            let out = core.take_output();
            if !out.is_empty() && write(&mut sock, &out).is_err() {
                break;
            }
            if closed {
                break;
            }
        }
    });
    addr
}

fn write(sock: &mut TcpStream, out: &[u8]) -> std::io::Result<()> {
    sock.write_all(out)?;
    sock.flush()
}

fn options(connect: String) -> LiveOptions {
    let mut site = Site::parse(
        r#"
        domain = "im.example.com"
        tls = "disabled"
        allow_plain_without_tls = true
        mechanisms = ["PLAIN"]
        [users.juliet]
        user = "juliet"
        password = "r0m30myr0m30"
        "#,
    )
    .expect("the site parses");
    site.lang = "en".into();
    LiveOptions {
        connect,
        tls: TlsMode::None,
        site,
        step_timeout: Duration::from_secs(2),
    }
}

#[test]
fn a_vector_that_passes_in_process_passes_live() {
    let v = vector(VECTOR);
    // In process first: the vector is right.
    Runner::new().run_vector(&v).expect("in process");
    let addr = serve(&v);
    assert_eq!(run_server_vector(&v, &options(addr)), LiveOutcome::Passed);
}

#[test]
fn a_deliberate_mismatch_fails_live_at_its_step() {
    let wrong = VECTOR.replace("<jid-malformed", "<item-not-found");
    let v = vector(&wrong);
    let addr = serve(&v);
    match run_server_vector(&v, &options(addr)) {
        LiveOutcome::Failed { step, why } => {
            assert_eq!(step, 18, "the error reply's step: {why}");
            assert!(why.contains("jid-malformed"), "{why}");
        }
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[test]
fn vectors_that_cannot_run_live_say_why() {
    let scram = VECTOR.replace("mechanism='PLAIN'", "mechanism='SCRAM-SHA-1'");
    let v = vector(&scram);
    match run_server_vector(&v, &options("127.0.0.1:9".into())) {
        LiveOutcome::Skipped(why) => assert!(why.contains("SCRAM"), "{why}"),
        other => panic!("expected a skip, got {other:?}"),
    }
    let send = VECTOR.replace(
        "[[step]]\npeer = \"</stream:stream>\"",
        "[[step]]\naction = \"send <message to='a@b'/>\"\n[[step]]\npeer = \"</stream:stream>\"",
    );
    match run_server_vector(&vector(&send), &options("127.0.0.1:9".into())) {
        LiveOutcome::Skipped(why) => assert!(why.contains("action send"), "{why}"),
        other => panic!("expected a skip, got {other:?}"),
    }
}
