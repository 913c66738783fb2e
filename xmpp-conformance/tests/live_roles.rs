//! The live modes other than `live server`, against our own core on a loopback socket:
//! `live client` (the runner as the server, our core's client connecting to it),
//! `live component-server` (the runner as the component, against our core's XEP-0114 server),
//! `live component` (our core's component connecting to the runner), and `--tls direct`
//! (XEP-0368) for `live server`, with the checked-in test certificate
//! (tests/fixtures/localhost.*.pem, self-signed for `localhost`). Each vector that passes in
//! process passes live; a deliberate mismatch fails at its step.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use xmpp_conformance::client::ClientRole;
use xmpp_conformance::component::{ComponentRole, ComponentServerRole};
mod support;
use support::pump;

use xmpp_conformance::live::{
    LiveClientOptions, LiveOptions, LiveOutcome, Site, TlsMode, plan_component, run_client_vector,
    run_component_server_vector, run_component_vector, run_server_vector, server_tls_config,
};
use xmpp_conformance::role::Action;
use xmpp_conformance::server::ServerRole;
use xmpp_conformance::vector::{Vector, load, parse};
use xmpp_conformance::{Role, Runner};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn vector_file(path: &str) -> (String, Vector) {
    let full = root().join(path);
    let text = std::fs::read_to_string(&full).expect("the vector file");
    let v = load(&full).expect("the vector loads");
    (text, v)
}

fn vector(text: &str) -> Vector {
    parse(Path::new("loopback.toml"), text).expect("the test vector loads")
}

fn no_decisions(_: &str, _: &str) -> Option<String> {
    None
}

fn free_listener() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("address").to_string();
    (listener, addr)
}

// --- live client --------------------------------------------------------------------------

const CLIENT_VECTOR: &str = "vectors/client/sasl-plain-allowed-without-tls.toml";

fn client_site() -> Site {
    Site::parse(
        r#"
        domain = "im.example.com"
        tls = "disabled"
        allow_plain_without_tls = true
        mechanisms = ["PLAIN"]
        resource = "balcony"
        [users.juliet]
        user = "juliet"
        password = "r0m30myr0m30"
        "#,
    )
    .expect("the site parses")
}

fn client_options(site: Site) -> LiveClientOptions {
    LiveClientOptions {
        tls: None,
        direct: false,
        site,
        step_timeout: Duration::from_secs(2),
        accept_timeout: Duration::from_secs(10),
    }
}

/// Our client core, configured as `v` configures it, connects to `addr` and runs.
fn connect_client(v: &Vector, addr: String) -> thread::JoinHandle<()> {
    let config = v.config.clone();
    thread::spawn(move || {
        let mut core = ClientRole.start(&config).expect("the core starts");
        let mut sock = TcpStream::connect(&addr).expect("connect to the runner");
        sock.set_read_timeout(Some(Duration::from_millis(20))).ok();
        core.act(&Action::parse("open")).expect("open");
        pump(core.as_mut(), &mut sock, no_decisions);
    })
}

#[test]
fn live_client_passes_our_client_through_a_vector_it_passes_in_process() {
    let (_, v) = vector_file(CLIENT_VECTOR);
    Runner::new().run_vector(&v).expect("in process");
    let (listener, addr) = free_listener();
    let client = connect_client(&v, addr);
    let outcome = run_client_vector(&v, &listener, &client_options(client_site()));
    assert_eq!(outcome, LiveOutcome::Passed);
    client.join().expect("the client thread");
}

#[test]
fn live_client_fails_a_deliberate_mismatch_at_its_step() {
    let (text, _) = vector_file(CLIENT_VECTOR);
    // The PLAIN message expected with another password than the client sends.
    let wrong = text.replace("AGp1bGlldAByMG0zMG15cjBtMzA=", "AGp1bGlldAB3cm9uZw==");
    let v = vector(&wrong);
    let (listener, addr) = free_listener();
    let client = connect_client(&v, addr);
    match run_client_vector(&v, &listener, &client_options(client_site())) {
        LiveOutcome::Failed { step, why } => {
            assert_eq!(step, 6, "the <auth/> step: {why}");
            assert!(why.contains("AGp1bGlldAB3cm9uZw=="), "{why}");
        }
        other => panic!("expected a failure, got {other:?}"),
    }
    client.join().expect("the client thread");
}

// --- live component-server ----------------------------------------------------------------

const COMPONENT_SERVER_VECTOR: &str = "vectors/component/component-server-xep0114-example.toml";

/// The site's component: another domain and another secret than the vectors'.
fn component_site() -> Site {
    Site::parse(
        r#"
        domain = "echo.localhost"
        secret = "site-secret"
        "#,
    )
    .expect("the site parses")
}

/// Serves one connection with our component-server core for the site's component, with a
/// stream id of its own (not the vector's); returns the address.
fn serve_component_server() -> String {
    let (listener, addr) = free_listener();
    let text = r#"
        title = "the live server's configuration"
        role = "component-server"
        [config]
        domain = "echo.localhost"
        secret = "site-secret"
        stream_id = "live-chosen-id-42"
        [[step]]
        action = "eof"
    "#;
    let config = vector(text).config;
    thread::spawn(move || {
        let mut core = ComponentServerRole.start(&config).expect("the core starts");
        let (mut sock, _) = listener.accept().expect("accept");
        sock.set_read_timeout(Some(Duration::from_millis(20))).ok();
        pump(core.as_mut(), &mut sock, no_decisions);
    });
    addr
}

fn component_server_options(connect: String) -> LiveOptions {
    LiveOptions {
        connect,
        tls: TlsMode::None,
        site: component_site(),
        step_timeout: Duration::from_secs(2),
    }
}

#[test]
fn live_component_server_recomputes_the_handshake_from_the_live_stream_id() {
    let (_, v) = vector_file(COMPONENT_SERVER_VECTOR);
    Runner::new().run_vector(&v).expect("in process");
    let addr = serve_component_server();
    assert_eq!(
        run_component_server_vector(&v, &component_server_options(addr)),
        LiveOutcome::Passed
    );
}

#[test]
fn a_relaxed_header_without_an_id_still_captures_it_for_the_handshake() {
    let (_, v) =
        vector_file("vectors/component/relaxed-component-server-header-extra-attributes.toml");
    Runner::new().run_vector(&v).expect("in process");
    let addr = serve_component_server();
    assert_eq!(
        run_component_server_vector(&v, &component_server_options(addr)),
        LiveOutcome::Passed
    );
}

#[test]
fn live_component_server_keeps_a_wrong_handshake_wrong() {
    let (_, v) = vector_file("vectors/component/component-server-handshake-wrong.toml");
    let addr = serve_component_server();
    assert_eq!(
        run_component_server_vector(&v, &component_server_options(addr)),
        LiveOutcome::Passed,
        "the wrong digest is sent as written and the live server refuses it"
    );
}

#[test]
fn live_component_server_fails_a_deliberate_mismatch_at_its_step() {
    let (text, _) = vector_file(COMPONENT_SERVER_VECTOR);
    let wrong = text.replace(
        "core = \"<handshake/>\"",
        "core = \"<handshake>nope</handshake>\"",
    );
    let v = vector(&wrong);
    let addr = serve_component_server();
    match run_component_server_vector(&v, &component_server_options(addr)) {
        LiveOutcome::Failed { step, why } => {
            assert_eq!(step, 5, "the server's <handshake/> step: {why}");
        }
        other => panic!("expected a failure, got {other:?}"),
    }
}

// --- live component -----------------------------------------------------------------------

const COMPONENT_VECTOR: &str = "vectors/component/component-xep0114-example.toml";

/// Our component core, as the site's component (its domain and secret), connects to `addr`.
fn connect_component(addr: String) -> thread::JoinHandle<()> {
    let text = r#"
        title = "the live component's configuration"
        role = "component"
        [config]
        domain = "echo.localhost"
        secret = "site-secret"
        [[step]]
        action = "eof"
    "#;
    let config = vector(text).config;
    thread::spawn(move || {
        let mut core = ComponentRole.start(&config).expect("the core starts");
        let mut sock = TcpStream::connect(&addr).expect("connect to the runner");
        sock.set_read_timeout(Some(Duration::from_millis(20))).ok();
        core.act(&Action::parse("open")).expect("open");
        pump(core.as_mut(), &mut sock, no_decisions);
    })
}

#[test]
fn live_component_expects_the_handshake_of_the_sites_secret() {
    let (_, v) = vector_file(COMPONENT_VECTOR);
    Runner::new().run_vector(&v).expect("in process");
    let (listener, addr) = free_listener();
    let component = connect_component(addr);
    let outcome = run_component_vector(&v, &listener, &client_options(component_site()));
    assert_eq!(outcome, LiveOutcome::Passed);
    component.join().expect("the component thread");
}

#[test]
fn live_component_fails_a_deliberate_mismatch_at_its_step() {
    let (text, _) = vector_file(COMPONENT_VECTOR);
    // The component's header expected with a version, which XEP-0114 headers do not carry.
    let wrong = text.replace(
        "to='plays.shakespeare.lit'>\"",
        "to='plays.shakespeare.lit' version='1.0'>\"",
    );
    let v = vector(&wrong);
    let (listener, addr) = free_listener();
    let component = connect_component(addr);
    match run_component_vector(&v, &listener, &client_options(component_site())) {
        LiveOutcome::Failed { step, why } => {
            assert_eq!(step, 2, "the component's header: {why}");
        }
        other => panic!("expected a failure, got {other:?}"),
    }
    component.join().expect("the component thread");
}

#[test]
fn a_handshake_the_runner_cannot_recompute_skips_and_s2s_says_why() {
    let (text, _) = vector_file(COMPONENT_VECTOR);
    let other = text.replace(
        "core = \"<handshake>7d9ebd743a486205e137f8c168c192e3495856d2</handshake>\"",
        "core = \"<handshake>0000000000000000000000000000000000000000</handshake>\"",
    );
    match plan_component(&vector(&other), &component_site()) {
        Err(why) => assert!(why.contains("cannot be recomputed"), "{why}"),
        Ok(steps) => panic!("expected a skip, got {steps:?}"),
    }
    let (_, s2s) = vector_file("vectors/s2s-out/dialback-xep0220-valid.toml");
    let site = component_site();
    let runs_elsewhere = LiveOutcome::Skipped(
        "an s2s-out vector: it runs with live s2s-out, not live component-server".into(),
    );
    assert_eq!(
        run_component_server_vector(&s2s, &component_server_options("127.0.0.1:9".into())),
        runs_elsewhere
    );
    let opts = LiveOptions {
        connect: "127.0.0.1:9".into(),
        tls: TlsMode::None,
        site,
        step_timeout: Duration::from_secs(1),
    };
    assert_eq!(
        run_server_vector(&s2s, &opts),
        LiveOutcome::Skipped(
            "an s2s-out vector: it runs with live s2s-out, not live server".into()
        )
    );
}

// --- --tls direct -------------------------------------------------------------------------

/// A login over a stream that is TLS from the first byte (XEP-0368): no STARTTLS offered,
/// PLAIN allowed since the stream is encrypted, the first header has `from`; the restart,
/// then the close.
const DIRECT_VECTOR: &str = r#"
title = "loopback: direct TLS, PLAIN, close"
role = "server"
[config]
domain = "localhost"
stream_id = "s1"
mechanisms = ["PLAIN"]
[config.users.juliet]
password = "r0m30myr0m30"
[[step]]
action = "direct-tls"
[[step]]
peer = "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' from='juliet@localhost' to='localhost' version='1.0'>"
[[step]]
event = "stream-opened"
[[step]]
core = "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' from='localhost' to='juliet@localhost' id='s1' version='1.0' xml:lang='en'><stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>"
[[step]]
peer = "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGp1bGlldAByMG0zMG15cjBtMzA=</auth>"
[[step]]
event = "auth-request PLAIN juliet"
[[step]]
action = "credentials juliet"
[[step]]
event = "authenticated juliet@localhost"
[[step]]
core = "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>"
[[step]]
peer = "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' from='juliet@localhost' to='localhost' version='1.0'>"
[[step]]
event = "stream-opened"
[[step]]
core = "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' from='localhost' to='juliet@localhost' id='{+sid2}' version='1.0' xml:lang='en'><stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/><session xmlns='urn:ietf:params:xml:ns:xmpp-session'><optional/></session></stream:features>"
[[step]]
peer = "</stream:stream>"
[[step]]
core = "</stream:stream>"
[[step]]
event = "closed"
"#;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Serves one connection over direct TLS (ALPN `xmpp-client` offered) with the server core
/// `v` configures, told `direct-tls` before any input; sends the ALPN protocol the client
/// agreed to.
fn serve_direct_tls(v: &Vector) -> (String, mpsc::Receiver<Option<Vec<u8>>>) {
    let (listener, addr) = free_listener();
    let config = v.config.clone();
    let tls = server_tls_config(
        &fixture("localhost.cert.pem"),
        &fixture("localhost.key.pem"),
    )
    .expect("the test certificate loads");
    let tls = xmpp_conformance::live::direct_tls_config(&tls);
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut core = ServerRole.start(&config).expect("the core starts");
        core.act(&Action::parse("direct-tls")).expect("direct-tls");
        let (sock, _) = listener.accept().expect("accept");
        let conn = rustls::ServerConnection::new(Arc::clone(&tls)).expect("TLS");
        let mut stream = rustls::StreamOwned::new(conn, sock);
        stream
            .sock
            .set_read_timeout(Some(Duration::from_secs(5)))
            .ok();
        while stream.conn.is_handshaking() {
            if stream.conn.complete_io(&mut stream.sock).is_err() {
                tx.send(None).ok();
                return;
            }
        }
        tx.send(stream.conn.alpn_protocol().map(<[u8]>::to_vec))
            .ok();
        stream
            .sock
            .set_read_timeout(Some(Duration::from_millis(20)))
            .ok();
        pump(core.as_mut(), &mut stream, |name, arg| match name {
            "auth-request" => arg.split(' ').nth(1).map(|u| format!("credentials {u}")),
            _ => None,
        });
    });
    (addr, rx)
}

fn direct_options(connect: String) -> LiveOptions {
    LiveOptions {
        connect,
        tls: TlsMode::Direct {
            ca: None,
            insecure: true,
        },
        site: Site::parse(
            r#"
            domain = "localhost"
            mechanisms = ["PLAIN"]
            [users.juliet]
            user = "juliet"
            password = "r0m30myr0m30"
            "#,
        )
        .expect("the site parses"),
        step_timeout: Duration::from_secs(2),
    }
}

#[test]
fn tls_direct_runs_a_direct_tls_vector_with_alpn_xmpp_client() {
    let v = vector(DIRECT_VECTOR);
    Runner::new().run_vector(&v).expect("in process");
    let (addr, alpn) = serve_direct_tls(&v);
    assert_eq!(
        run_server_vector(&v, &direct_options(addr)),
        LiveOutcome::Passed
    );
    assert_eq!(
        alpn.recv_timeout(Duration::from_secs(5))
            .expect("handshake"),
        Some(b"xmpp-client".to_vec())
    );
}

#[test]
fn tls_direct_fails_a_deliberate_mismatch_and_classifies_the_rest() {
    let wrong = DIRECT_VECTOR.replace("core = \"<success xmlns", "core = \"<failure xmlns");
    let wrong = wrong.replace("sasl'/>\"", "sasl'><not-authorized/></failure>\"");
    let v = vector(&wrong);
    let (addr, _alpn) = serve_direct_tls(&v);
    match run_server_vector(&v, &direct_options(addr)) {
        LiveOutcome::Failed { step, why } => assert_eq!(step, 9, "the <success/> step: {why}"),
        other => panic!("expected a failure, got {other:?}"),
    }
    // A STARTTLS vector is skipped under --tls direct, and a direct-tls one under STARTTLS.
    let (_, starttls) = vector_file("vectors/server/rfc6120-9-1-complete.toml");
    match run_server_vector(&starttls, &direct_options("127.0.0.1:9".into())) {
        LiveOutcome::Skipped(why) => assert!(why.contains("STARTTLS"), "{why}"),
        other => panic!("expected a skip, got {other:?}"),
    }
    let mut opts = direct_options("127.0.0.1:9".into());
    opts.tls = TlsMode::StartTls {
        ca: None,
        insecure: true,
    };
    match run_server_vector(&vector(DIRECT_VECTOR), &opts) {
        LiveOutcome::Skipped(why) => assert!(why.contains("--tls direct"), "{why}"),
        other => panic!("expected a skip, got {other:?}"),
    }
}

/// The client side of [`DIRECT_VECTOR`]: our client over a stream that is TLS from the first
/// byte, PLAIN, then bind to the resource it asks for.
const DIRECT_CLIENT_VECTOR: &str = r#"
title = "loopback: the client over direct TLS"
role = "client"
[config]
jid = "juliet@localhost"
password = "r0m30myr0m30"
resource = "balcony"
mechanisms = ["PLAIN"]
[[step]]
action = "direct-tls"
[[step]]
action = "open"
[[step]]
core = "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' from='juliet@localhost' to='localhost' version='1.0' xml:lang='en'>"
[[step]]
peer = "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' from='localhost' id='d1' version='1.0'><stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>"
[[step]]
event = "stream-opened"
[[step]]
core = "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGp1bGlldAByMG0zMG15cjBtMzA=</auth>"
[[step]]
peer = "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>"
[[step]]
event = "authenticated juliet@localhost"
[[step]]
core = "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' from='juliet@localhost' to='localhost' version='1.0' xml:lang='en'>"
[[step]]
peer = "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' from='localhost' id='d2' version='1.0'><stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>"
[[step]]
event = "stream-opened"
[[step]]
core = "<iq type='set' id='{bind_id}'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>balcony</resource></bind></iq>"
[[step]]
peer = "<iq type='result' id='{bind_id}'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>juliet@localhost/balcony</jid></bind></iq>"
[[step]]
event = "online juliet@localhost/balcony"
"#;

/// A live [`xmpp_conformance::live::Connection`] as a byte stream for [`pump`], with what
/// did not fit the caller's buffer kept for the next read.
struct LiveIo(xmpp_conformance::live::Connection, Vec<u8>);

impl Read for LiveIo {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.1.is_empty() {
            let deadline = Instant::now() + Duration::from_millis(20);
            match self.0.read_into(&mut self.1, deadline) {
                xmpp_conformance::live::Read::Closed if self.1.is_empty() => return Ok(0),
                xmpp_conformance::live::Read::Idle if self.1.is_empty() => {
                    return Err(std::io::ErrorKind::WouldBlock.into());
                }
                _ => {}
            }
        }
        let n = self.1.len().min(buf.len());
        buf[..n].copy_from_slice(&self.1[..n]);
        self.1.drain(..n);
        Ok(n)
    }
}

impl Write for LiveIo {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write_all(buf).map(|()| buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn live_client_tls_direct_accepts_tls_at_once() {
    let v = vector(DIRECT_CLIENT_VECTOR);
    Runner::new().run_vector(&v).expect("in process");
    let (listener, addr) = free_listener();
    let config = v.config.clone();
    let client = thread::spawn(move || {
        let mut core = ClientRole.start(&config).expect("the core starts");
        core.act(&Action::parse("direct-tls")).expect("direct-tls");
        let mut conn = xmpp_conformance::live::Connection::connect(&addr).expect("connect");
        let mode = TlsMode::Direct {
            ca: None,
            insecure: true,
        };
        conn.start_tls(&mode, "localhost").expect("direct TLS");
        core.act(&Action::parse("open")).expect("open");
        pump(core.as_mut(), &mut LiveIo(conn, Vec::new()), no_decisions);
    });
    let tls = server_tls_config(
        &fixture("localhost.cert.pem"),
        &fixture("localhost.key.pem"),
    )
    .expect("the test certificate loads");
    let mut site = client_site();
    site.domain = "localhost".into();
    site.tls = "required".into();
    site.allow_plain_without_tls = false;
    let opts = LiveClientOptions {
        tls: Some(tls),
        direct: true,
        ..client_options(site.clone())
    };
    assert_eq!(run_client_vector(&v, &listener, &opts), LiveOutcome::Passed);
    client.join().expect("the client thread");
    // Without --tls direct the same vector is classified, not failed.
    let opts = LiveClientOptions {
        direct: false,
        ..opts
    };
    match run_client_vector(&v, &listener, &opts) {
        LiveOutcome::Skipped(why) => assert!(why.contains("--tls direct"), "{why}"),
        other => panic!("expected a skip, got {other:?}"),
    }
}
