//! A small federating server over `xmpp_sansio::s2s`: one domain, incoming s2s streams
//! (`S2sIn`, one thread each) whose dialback keys it verifies with the authoritative server
//! over a stream of its own (`S2sOut::for_verification`, XEP-0220 section 2.1.2), and
//! optionally one chat message sent to a remote domain (`S2sOut`: STARTTLS, then dialback).
//! It prints every stanza it receives.
//!
//! Without `--ca`, dialback is the authentication: the peer's certificate is not checked
//! (TLS then only encrypts, which is what XEP-0220 section 1.2 assumes when certificates
//! cannot be trusted), and none is presented or asked for, so SASL EXTERNAL is never used.
//! With `--ca`, certificates chaining to it authenticate both ways (RFC 6120 section 13.7.1.2):
//! ours (`--cert`) is presented on outgoing streams, which use EXTERNAL when offered, and
//! incoming streams ask for the peer's, offering EXTERNAL when one was presented and
//! accepting it for the domain the certificate names (RFC 6125).

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::{Duration, Instant};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use xmpp_examples::drive::{Embedder, answered, drive};
use xmpp_examples::{Args, Conn, die, random_bytes, random_seed, server_tls, tls_policy};
use xmpp_sansio::dialback::DialbackSecret;
use xmpp_sansio::error::StanzaErrorCondition;
use xmpp_sansio::s2s::{
    DialbackOutcome, DomainPair, S2sConfig, S2sEvent, S2sIn, S2sOut, TlsPolicy, VerifyRequest,
};
use xmpp_sansio::xml::parse_element;

const USAGE: &str = "usage: s2s --listen HOST:PORT --domain DOMAIN \
    [--cert CERT.pem --key KEY.pem] [--tls required|optional|disabled] [--secret SECRET] \
    [--route DOMAIN=HOST:PORT ...] [--ca CA.pem] \
    [--from LOCALPART --to JID --message TEXT [--hold-secs S]] [--count N] [--timeout-secs S]";

/// The XMPP s2s port (RFC 6120 section 14.7), where a remote domain is reached without a
/// `--route` for it.
const S2S_PORT: u16 = 5269;

/// How long a connection attempt to a remote server may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// What the sessions tell the main thread.
enum Note {
    /// A message arrived on an incoming stream.
    Received,
    /// The outgoing message went out on an authorized stream (true), or could not (false).
    Sent(bool),
}

struct Shared {
    config: Arc<S2sConfig>,
    /// `--hold-secs`: how long the outgoing stream stays open once the message went out, as
    /// a server keeps an idle s2s stream (answering what arrives meanwhile); 0 closes it at
    /// once.
    hold: Duration,
    /// `--ca`: our certificate is presented, the peer's asked for and checked.
    certificates: bool,
    /// `None` when TLS is disabled.
    tls_server: Option<Arc<rustls::ServerConfig>>,
    tls_client: Arc<rustls::ClientConfig>,
    routes: HashMap<String, String>,
    notes: Sender<Note>,
}

fn main() {
    let args = Args::parse(
        USAGE,
        &[
            "listen",
            "domain",
            "cert",
            "key",
            "tls",
            "secret",
            "route",
            "ca",
            "from",
            "to",
            "message",
            "count",
            "timeout-secs",
            "hold-secs",
        ],
        &[],
    );
    let listen = args.require("listen", USAGE);
    let domain = args.require("domain", USAGE).to_owned();
    let policy = tls_policy(&args, USAGE);
    let ca = args.get("ca");
    let tls_server = match policy {
        TlsPolicy::Disabled => None,
        _ => {
            let (cert, key) = (args.require("cert", USAGE), args.require("key", USAGE));
            let config = match ca {
                Some(ca) => server_tls_asking_certificates(cert, key, ca),
                None => server_tls(cert, key),
            };
            Some(config.unwrap_or_else(|e| die(&format!("--cert/--key/--ca: {e}"))))
        }
    };
    let tls_client = match ca {
        Some(ca) => {
            client_tls_with_certificate(ca, args.require("cert", USAGE), args.require("key", USAGE))
                .unwrap_or_else(|e| die(&format!("--ca/--cert/--key: {e}")))
        }
        None => unverified_client_tls(),
    };
    // Without --secret, a fresh one: this process is the only authoritative server of its
    // domain, so nobody else needs to know it.
    let secret = match args.get("secret") {
        Some(s) => DialbackSecret::new(s),
        None => DialbackSecret::new(random_bytes::<32>()),
    };
    let mut routes = HashMap::new();
    for route in args.all("route") {
        let Some((d, addr)) = route.split_once('=') else {
            die("--route wants DOMAIN=HOST:PORT")
        };
        routes.insert(d.to_owned(), addr.to_owned());
    }
    let mut config = S2sConfig::new(domain.clone(), secret);
    config.tls = policy;
    let (notes, inbox) = channel();
    let shared = Arc::new(Shared {
        config: Arc::new(config),
        hold: Duration::from_secs(args.number("hold-secs", 0, USAGE)),
        certificates: ca.is_some(),
        tls_server,
        tls_client,
        routes,
        notes,
    });
    let count = args.number("count", 0, USAGE);
    let timeout = Duration::from_secs(args.number("timeout-secs", 0, USAGE));
    let outgoing = match (args.get("to"), args.get("message")) {
        (Some(to), Some(text)) => Some((to.to_owned(), text.to_owned())),
        (None, None) => None,
        _ => die("--to and --message go together"),
    };

    let listener =
        TcpListener::bind(listen).unwrap_or_else(|e| die(&format!("listen {listen}: {e}")));
    let bound = listener
        .local_addr()
        .map_or_else(|_| listen.to_owned(), |a| a.to_string());
    println!("listening {bound} for {domain}");
    let accepting = Arc::clone(&shared);
    std::thread::spawn(move || accept(&accepting, &listener));

    if let Some((to, text)) = outgoing {
        let from = format!("{}@{domain}", args.get("from").unwrap_or("s2s"));
        let sending = Arc::clone(&shared);
        std::thread::spawn(move || {
            let sent = send_one(&sending, &from, &to, &text);
            let _ = sending.notes.send(Note::Sent(sent));
        });
    } else if count == 0 {
        // Serve until killed.
        loop {
            std::thread::park();
        }
    }
    let must_send = args.get("to").is_some();
    let deadline = (!timeout.is_zero()).then(|| Instant::now() + timeout);
    let (mut received, mut sent) = (0, false);
    while received < count || (must_send && !sent) {
        let wait = deadline.map_or(Duration::from_secs(3600), |d| {
            d.saturating_duration_since(Instant::now())
        });
        match inbox.recv_timeout(wait) {
            Ok(Note::Received) => received += 1,
            Ok(Note::Sent(true)) => sent = true,
            Ok(Note::Sent(false)) => {
                println!("send failed");
                std::process::exit(1);
            }
            Err(_) => {
                println!("timeout: received {received} of {count}, sent {sent}");
                std::process::exit(1);
            }
        }
    }
    println!("done: received {received}, sent {sent}");
    // Let the sessions close their streams before the process ends them.
    std::thread::sleep(Duration::from_millis(300));
}

fn accept(shared: &Arc<Shared>, listener: &TcpListener) {
    for tcp in listener.incoming() {
        let Ok(tcp) = tcp else { continue };
        let shared = Arc::clone(shared);
        std::thread::spawn(move || {
            let peer = tcp
                .peer_addr()
                .map_or_else(|_| "?".to_owned(), |a| a.to_string());
            println!("[{peer}] connected");
            if let Err(e) = serve(shared, tcp, &peer) {
                println!("[{peer}] transport error: {e}");
            }
            println!("[{peer}] closed");
        });
    }
}

/// One incoming stream.
fn serve(shared: Arc<Shared>, tcp: TcpStream, peer: &str) -> std::io::Result<()> {
    tcp.set_nodelay(true).ok();
    let mut core = S2sIn::new(Arc::clone(&shared.config), random_seed(), Instant::now());
    let mut conn = Some(Conn::Plain(tcp));
    let (answers, verified) = channel();
    let mut incoming = Incoming {
        shared,
        peer,
        certificate: None,
        answers,
        verified,
        pending: 0,
    };
    drive(&mut core, &mut conn, &mut incoming)
}

struct Incoming<'a> {
    shared: Arc<Shared>,
    peer: &'a str,
    /// Where the verifications running beside the stream answer, and how many run: a key
    /// is verified over a connection of its own (XEP-0220 section 2.1.2), which may take
    /// seconds, and the stream goes on meanwhile (another key, stanzas of pairs already
    /// online).
    answers: Sender<(DomainPair, DialbackOutcome)>,
    verified: Receiver<(DomainPair, DialbackOutcome)>,
    pending: usize,
    /// The peer's certificate, when it presented one that chains to `--ca` (rustls checked
    /// the chain during the handshake).
    certificate: Option<CertificateDer<'static>>,
}

impl Embedder<S2sIn> for Incoming<'_> {
    fn on_event(
        &mut self,
        core: &mut S2sIn,
        conn: &mut Option<Conn>,
        event: S2sEvent,
    ) -> std::io::Result<()> {
        let peer = self.peer;
        match event {
            S2sEvent::StreamOpened => println!("[{peer}] stream opened"),
            S2sEvent::TlsRequested => {
                // `<proceed/>` first, then the handshake on the same socket.
                while let Some(bytes) = core.poll_transmit() {
                    conn.as_mut().expect("connected").send(&bytes)?;
                }
                let config = self.shared.tls_server.clone().expect("TLS is enabled");
                let (tls, _) = conn.take().expect("connected").start_tls_server(config)?;
                if let Conn::TlsServer(s) = &tls {
                    self.certificate = s
                        .conn
                        .peer_certificates()
                        .and_then(|chain| chain.first())
                        .map(|c| c.clone().into_owned());
                }
                *conn = Some(tls);
                let with = if self.certificate.is_some() {
                    "a trusted peer certificate"
                } else {
                    "no peer certificate"
                };
                println!("[{peer}] tls up, {with}");
                // Only a certificate that chains to --ca makes EXTERNAL possible; which
                // domain it names is checked when the peer asks.
                answered(core.tls_established(Instant::now(), self.certificate.is_some()));
            }
            S2sEvent::ExternalRequest { authzid } => {
                // The domain must be one the certificate names; the core checks that it is
                // the one of the peer's header. Without an authzid, the header's `from` is the
                // identity to check (RFC 6120 section 6.4.6).
                let now = Instant::now();
                let claimed = authzid.or_else(|| core.peer_domain().map(|d| d.into_owned()));
                match (claimed, &self.certificate) {
                    (Some(domain), Some(cert)) if names(cert, &domain) => {
                        println!("[{peer}] external: the certificate names {domain}");
                        answered(core.external(now, &domain));
                    }
                    (authzid, _) => {
                        println!("[{peer}] external refused (authzid {authzid:?})");
                        answered(core.refuse_external(now));
                    }
                }
            }
            S2sEvent::Authenticated(domain) => println!("[{peer}] authenticated {domain}"),
            S2sEvent::DialbackVerifyRequest(request) => {
                let pair = request.pair.clone();
                println!("[{peer}] dialback key for {} -> {}", pair.from, pair.to);
                let (shared, answers) = (Arc::clone(&self.shared), self.answers.clone());
                self.pending += 1;
                std::thread::spawn(move || {
                    let outcome = verify_key(&shared, request);
                    let _ = answers.send((pair, outcome));
                });
            }
            S2sEvent::Online(pair) => println!("[{peer}] online {} -> {}", pair.from, pair.to),
            S2sEvent::Stanza(stanza) => {
                println!("[{peer}] stanza {stanza}");
                if stanza.element().name() == "message" {
                    let _ = self.shared.notes.send(Note::Received);
                }
            }
            S2sEvent::PeerStreamError(e) => {
                println!("[{peer}] peer stream error {}", e.condition.as_str())
            }
            S2sEvent::Abandoned(why) => println!("[{peer}] abandoned {why:?}"),
            _ => {}
        }
        Ok(())
    }

    fn log(&self, line: &str) {
        println!("[{}] {line}", self.peer);
    }

    /// The verifications that have finished are answered; while some run, look again soon.
    fn outside(&mut self, core: &mut S2sIn) -> Option<Duration> {
        while let Ok((pair, outcome)) = self.verified.try_recv() {
            self.pending -= 1;
            println!(
                "[{}] dialback {} -> {}: {outcome:?}",
                self.peer, pair.from, pair.to
            );
            answered(core.dialback_answer(Instant::now(), &pair, outcome));
        }
        (self.pending > 0).then_some(Duration::from_millis(20))
    }
}

/// Asks the authoritative server of `request.pair.from` whether the key is good, over a
/// stream for verification only; `remote-server-not-found` when it cannot be asked
/// (XEP-0220 section 2.4).
fn verify_key(shared: &Shared, request: VerifyRequest) -> DialbackOutcome {
    let not_found = DialbackOutcome::Error(StanzaErrorCondition::RemoteServerNotFound);
    let authoritative = request.pair.from.clone();
    let pair = DomainPair::new(request.pair.to.clone(), request.pair.from.clone());
    let now = Instant::now();
    let Ok(mut core) = S2sOut::for_verification(Arc::clone(&shared.config), pair, now) else {
        return not_found;
    };
    let mut conn = match connect(shared, &request.pair.from) {
        Ok(tcp) => Some(Conn::Plain(tcp)),
        Err(e) => {
            println!("verify: cannot reach {}: {e}", request.pair.from);
            return not_found;
        }
    };
    answered(core.open(now));
    answered(core.verify(now, request));
    let mut out = Outgoing::new(shared, "verify", &authoritative);
    if let Err(e) = drive(&mut core, &mut conn, &mut out) {
        println!("verify: {e}");
    }
    out.verdict.unwrap_or(not_found)
}

/// Sends one chat message from `from` to `to` over a stream of our own; true when it went
/// out on an authorized stream.
fn send_one(shared: &Shared, from: &str, to: &str, text: &str) -> bool {
    let remote = to.rsplit_once('@').map_or(to, |(_, d)| d);
    let remote = remote.split('/').next().unwrap_or(remote).to_owned();
    let ours = shared.config.domains[0].clone();
    let message = format!(
        "<message type='chat' from='{}' to='{}' id='s2s-1'><body>{}</body></message>",
        escape(from),
        escape(to),
        escape(text)
    );
    let Ok(stanza) = parse_element("jabber:server", message.as_bytes()) else {
        println!("send: the message does not parse");
        return false;
    };
    let now = Instant::now();
    let pair = DomainPair::new(ours, remote.clone());
    let mut core = match S2sOut::new(Arc::clone(&shared.config), pair, now) {
        Ok(core) => core,
        Err(e) => {
            println!("send: {e}");
            return false;
        }
    };
    let mut conn = match connect(shared, &remote) {
        Ok(tcp) => Some(Conn::Plain(tcp)),
        Err(e) => {
            println!("send: cannot reach {remote}: {e}");
            return false;
        }
    };
    answered(core.open(now));
    let mut out = Outgoing::new(shared, "out", &remote);
    out.message = Some(stanza);
    if let Err(e) = drive(&mut core, &mut conn, &mut out) {
        println!("out: {e}");
    }
    out.sent
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\'', "&apos;")
}

/// A TCP connection to the server of `domain`: its `--route`, else `domain:5269`.
fn connect(shared: &Shared, domain: &str) -> std::io::Result<TcpStream> {
    let addrs: Vec<SocketAddr> = match shared.routes.get(domain) {
        Some(addr) => addr.to_socket_addrs()?.collect(),
        None => (domain, S2S_PORT).to_socket_addrs()?.collect(),
    };
    let mut last = std::io::Error::other(format!("no address for {domain}"));
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
            Ok(tcp) => {
                tcp.set_nodelay(true).ok();
                return Ok(tcp);
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// An outgoing stream: the one that sends our message, or one that verifies a key.
struct Outgoing<'a> {
    shared: &'a Shared,
    tag: &'static str,
    /// The remote domain: the TLS server name.
    remote: String,
    /// The message to send once the pair is authorized.
    message: Option<xmpp_sansio::xml::Element>,
    sent: bool,
    /// Once the message went out: when to close the stream (`--hold-secs`).
    close_at: Option<Instant>,
    verdict: Option<DialbackOutcome>,
    deadline: Instant,
}

impl<'a> Outgoing<'a> {
    fn new(shared: &'a Shared, tag: &'static str, remote: &str) -> Self {
        Outgoing {
            shared,
            tag,
            remote: remote.to_owned(),
            message: None,
            sent: false,
            close_at: None,
            verdict: None,
            // The core's response timeout bounds each step; this bounds the whole stream.
            deadline: Instant::now() + Duration::from_secs(60),
        }
    }
}

impl Embedder<S2sOut> for Outgoing<'_> {
    fn on_event(
        &mut self,
        core: &mut S2sOut,
        conn: &mut Option<Conn>,
        event: S2sEvent,
    ) -> std::io::Result<()> {
        let tag = self.tag;
        let now = Instant::now();
        match event {
            S2sEvent::StreamOpened => println!("{tag}: stream opened"),
            S2sEvent::TlsRequested => {
                let plain = conn.take().expect("connected");
                let config = Arc::clone(&self.shared.tls_client);
                let (tls, _) = plain.start_tls_client(config, &self.remote)?;
                *conn = Some(tls);
                println!("{tag}: tls up");
                // With --ca our certificate was presented: EXTERNAL if the peer offers it.
                answered(core.tls_established(now, self.shared.certificates));
            }
            S2sEvent::Online(pair) => {
                println!("{tag}: online {} -> {}", pair.from, pair.to);
                if let Some(message) = self.message.take() {
                    if answered(core.send(now, &message)).is_some() {
                        println!("{tag}: sent {}", message.attr("to").unwrap_or_default());
                        self.sent = true;
                    }
                    self.close_at = Some(now + self.shared.hold);
                }
            }
            S2sEvent::Authenticated(domain) => println!("{tag}: authenticated {domain}"),
            S2sEvent::DialbackRefused { pair, outcome } => {
                println!(
                    "{tag}: dialback refused {} -> {}: {outcome:?}",
                    pair.from, pair.to
                );
                core.close(now);
            }
            S2sEvent::VerifyResult { outcome, .. } => {
                println!("{tag}: verify result {outcome:?}");
                self.verdict = Some(outcome);
                core.close(now);
            }
            S2sEvent::PeerStreamError(e) => {
                println!("{tag}: peer stream error {}", e.condition.as_str())
            }
            S2sEvent::Abandoned(why) => println!("{tag}: abandoned {why:?}"),
            S2sEvent::Closed(why) => println!("{tag}: closed {why:?}"),
            _ => {}
        }
        Ok(())
    }

    fn deadline(&self) -> Option<Instant> {
        Some(self.deadline)
    }

    fn on_deadline(&mut self) {
        println!("{}: abandoned timeout", self.tag);
    }

    /// The message went out: close once `--hold-secs` has passed.
    fn outside(&mut self, core: &mut S2sOut) -> Option<Duration> {
        let at = self.close_at?;
        let now = Instant::now();
        if now >= at {
            self.close_at = None;
            core.close(now);
            return None;
        }
        Some(at - now)
    }

    fn log(&self, line: &str) {
        println!("{}: {line}", self.tag);
    }
}

/// Does `cert` name `domain` (RFC 6125, DNS-ID)?
fn names(cert: &CertificateDer<'_>, domain: &str) -> bool {
    let Ok(name) = ServerName::try_from(domain) else {
        return false;
    };
    webpki::EndEntityCert::try_from(cert)
        .is_ok_and(|ee| ee.verify_is_valid_for_subject_name(&name).is_ok())
}

fn pem_chain(path: &str) -> std::io::Result<Vec<CertificateDer<'static>>> {
    CertificateDer::pem_file_iter(path)
        .map_err(std::io::Error::other)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(std::io::Error::other)
}

fn pem_roots(ca: &str) -> std::io::Result<Arc<rustls::RootCertStore>> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in pem_chain(ca)? {
        roots.add(cert).map_err(std::io::Error::other)?;
    }
    Ok(Arc::new(roots))
}

/// A server TLS configuration that asks for the peer's certificate (without requiring it:
/// dialback is still there for a peer without one) and takes only one chaining to `ca`.
fn server_tls_asking_certificates(
    cert: &str,
    key: &str,
    ca: &str,
) -> std::io::Result<Arc<rustls::ServerConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        pem_roots(ca)?,
        Arc::clone(&provider),
    )
    .allow_unauthenticated()
    .build()
    .map_err(std::io::Error::other)?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(std::io::Error::other)?;
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(std::io::Error::other)?
        .with_client_cert_verifier(verifier)
        .with_single_cert(pem_chain(cert)?, key)
        .map_err(std::io::Error::other)?;
    Ok(Arc::new(config))
}

/// A client TLS configuration that checks the server against `ca` and presents our
/// certificate.
fn client_tls_with_certificate(
    ca: &str,
    cert: &str,
    key: &str,
) -> std::io::Result<Arc<rustls::ClientConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let key = PrivateKeyDer::from_pem_file(key).map_err(std::io::Error::other)?;
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(std::io::Error::other)?
        .with_root_certificates(pem_roots(ca)?)
        .with_client_auth_cert(pem_chain(cert)?, key)
        .map_err(std::io::Error::other)?;
    Ok(Arc::new(config))
}

/// A client TLS configuration that takes any certificate (the handshake's signatures are
/// still checked): dialback, not the certificate, authenticates the peer domain.
fn unverified_client_tls() -> Arc<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(AnyCertificate(Arc::clone(&provider)));
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("the ring provider's defaults")
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Arc::new(config)
}

#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
