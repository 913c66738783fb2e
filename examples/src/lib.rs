//! What the example binaries share: flag parsing, the transport (TCP, then TLS over the
//! same socket; [`tokio_net`] for the tokio ones), certificate loading, randomness, the example
//! servers' flags; what the servers share is in [`hub`] (accounts, rosters, routing) and
//! [`c2s`] (a session's events). No XMPP decisions live here: those
//! are `xmpp-proto`'s.

pub mod c2s;
pub mod client;
pub mod drive;
pub mod fast;
pub mod hub;
pub mod tokio_net;
pub mod ws;

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConnection, ProtocolVersion, ServerConnection, StreamOwned};
use xmpp_sansio::sasl::{CbType, ChannelBinding};
use xmpp_sansio::stream::TlsPolicy;

/// Command-line flags: `--name value` pairs and bare `--switch`es.
#[derive(Debug, Default)]
pub struct Args {
    values: HashMap<String, Vec<String>>,
    switches: Vec<String>,
}

impl Args {
    /// Reads the process arguments; `valued` are the flags that take a value, `switches` the
    /// ones that do not. Exits with a usage message on anything else.
    pub fn parse(usage: &str, valued: &[&str], switches: &[&str]) -> Args {
        let mut args = Args::default();
        let mut it = std::env::args().skip(1);
        while let Some(arg) = it.next() {
            let name = arg.trim_start_matches("--");
            if !arg.starts_with("--") || name == "help" {
                die(usage);
            } else if switches.contains(&name) {
                args.switches.push(name.to_owned());
            } else if valued.contains(&name) {
                let Some(value) = it.next() else { die(usage) };
                args.values.entry(name.to_owned()).or_default().push(value);
            } else {
                eprintln!("unknown flag {arg}");
                die(usage);
            }
        }
        args
    }

    /// The last value of `--name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name)?.last().map(String::as_str)
    }

    /// The value of `--name`, or exit with the usage.
    pub fn require(&self, name: &str, usage: &str) -> &str {
        self.get(name).unwrap_or_else(|| {
            eprintln!("missing --{name}");
            die(usage)
        })
    }

    /// Every value of a repeatable `--name`.
    pub fn all(&self, name: &str) -> &[String] {
        self.values.get(name).map_or(&[], Vec::as_slice)
    }

    /// Was `--name` given?
    pub fn switch(&self, name: &str) -> bool {
        self.switches.iter().any(|s| s == name)
    }

    /// `--name` as a number, with a default.
    pub fn number(&self, name: &str, default: u64, usage: &str) -> u64 {
        match self.get(name) {
            None => default,
            Some(v) => v.parse().unwrap_or_else(|_| {
                eprintln!("--{name} wants a number");
                die(usage)
            }),
        }
    }
}

/// `--tls required|optional|disabled` (default `required`), or exit with the usage.
pub fn tls_policy(args: &Args, usage: &str) -> TlsPolicy {
    match args.get("tls").unwrap_or("required") {
        "required" => TlsPolicy::Required,
        "optional" => TlsPolicy::Optional,
        "disabled" => TlsPolicy::Disabled,
        other => {
            eprintln!("--tls: unknown policy {other}");
            die(usage)
        }
    }
}

/// Prints `msg` to stderr and exits with status 1.
pub fn die(msg: &str) -> ! {
    eprintln!("{msg}");
    std::process::exit(1)
}

/// The transport: plain TCP, then TLS on the same socket after STARTTLS.
#[derive(Debug)]
pub enum Conn {
    /// Before STARTTLS (or without it).
    Plain(TcpStream),
    /// TLS as the initiating entity.
    TlsClient(Box<StreamOwned<ClientConnection, TcpStream>>),
    /// TLS as the receiving entity.
    TlsServer(Box<StreamOwned<ServerConnection, TcpStream>>),
    /// A WebSocket over one of the above (`--websocket`, RFC 7395; [`ws`]): a read is one
    /// text message, a send one message.
    WebSocket(Box<ws::WsConn>),
}

/// How long [`Conn::close`] waits for the peer to end the transport after we did.
pub const LINGER: Duration = Duration::from_secs(2);

/// What one read gave.
#[derive(Debug, PartialEq, Eq)]
pub enum Input {
    /// This many bytes.
    Data(usize),
    /// The peer closed the transport (over TLS: with a `close_notify` alert first).
    Eof,
    /// Over TLS, the TCP connection ended without the peer's `close_notify` (RFC 8446
    /// section 6.1): the data may have been cut short by an attacker. Treated as the end of
    /// the transport all the same.
    Truncated,
    /// Nothing arrived before the timeout.
    Timeout,
}

impl Conn {
    /// The TCP socket underneath.
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Conn::Plain(s) => s,
            Conn::TlsClient(s) => &s.sock,
            Conn::TlsServer(s) => &s.sock,
            Conn::WebSocket(ws) => ws.inner().tcp(),
        }
    }

    /// How long a read buffer must be: [`drive::READ_SIZE`], or over WebSocket, where a
    /// read is a whole message, [`ws::MAX_MESSAGE`].
    pub fn read_size(&self) -> usize {
        match self {
            Conn::WebSocket(_) => ws::MAX_MESSAGE,
            _ => drive::READ_SIZE,
        }
    }

    /// Reads what arrives within `timeout` (over WebSocket: one message, into a buffer of
    /// [`Conn::read_size`]).
    pub fn read_within(&mut self, buf: &mut [u8], timeout: Duration) -> io::Result<Input> {
        self.tcp()
            .set_read_timeout(Some(timeout.max(Duration::from_millis(1))))?;
        let r = match self {
            Conn::Plain(s) => s.read(buf),
            Conn::TlsClient(s) => s.read(buf),
            Conn::TlsServer(s) => s.read(buf),
            Conn::WebSocket(ws) => return ws.read_within(buf, timeout),
        };
        match r {
            Ok(0) => Ok(Input::Eof),
            Ok(n) => Ok(Input::Data(n)),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                Ok(Input::Timeout)
            }
            // rustls reports a TCP end without close_notify this way.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(Input::Truncated),
            Err(e) => Err(e),
        }
    }

    /// Ends the transport: over TLS, sends the `close_notify` alert first (RFC 8446 section
    /// 6.1), so that the peer can tell the end from a truncation; then shuts down the TCP
    /// connection's write side, and reads (and drops) what the peer still sends until it ends
    /// the transport too, for at most [`LINGER`]. Call it after writing the core's last
    /// bytes. Tells how the peer ended: [`Input::Eof`] (over TLS, with its own
    /// `close_notify`), [`Input::Truncated`], or [`Input::Timeout`].
    pub fn close(&mut self) -> io::Result<Input> {
        match self {
            Conn::Plain(_) => {}
            Conn::WebSocket(ws) => return ws.close(),
            Conn::TlsClient(s) => {
                s.conn.send_close_notify();
                while s.conn.wants_write() {
                    s.conn.write_tls(&mut s.sock)?;
                }
            }
            Conn::TlsServer(s) => {
                s.conn.send_close_notify();
                while s.conn.wants_write() {
                    s.conn.write_tls(&mut s.sock)?;
                }
            }
        }
        self.tcp().shutdown(std::net::Shutdown::Write)?;
        let until = std::time::Instant::now() + LINGER;
        let mut buf = [0u8; 4096];
        loop {
            let left = until.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Ok(Input::Timeout);
            }
            match self.read_within(&mut buf, left)? {
                Input::Data(_) => {}
                end => return Ok(end),
            }
        }
    }

    /// Writes all of `data`.
    pub fn send(&mut self, data: &[u8]) -> io::Result<()> {
        match self {
            Conn::Plain(s) => s.write_all(data),
            Conn::TlsClient(s) => s.write_all(data).and_then(|()| s.flush()),
            Conn::TlsServer(s) => s.write_all(data).and_then(|()| s.flush()),
            Conn::WebSocket(ws) => ws.send(data),
        }
    }

    /// The ALPN protocol the TLS handshake agreed on (RFC 7301), if any: `None` without TLS,
    /// or when either side offered none.
    pub fn alpn(&self) -> Option<&[u8]> {
        match self {
            Conn::TlsClient(s) => s.conn.alpn_protocol(),
            Conn::TlsServer(s) => s.conn.alpn_protocol(),
            Conn::Plain(_) | Conn::WebSocket(_) => None,
        }
    }

    /// Runs a TLS handshake as the client on this socket; returns the tls-exporter channel
    /// binding when TLS 1.3 was negotiated (RFC 9266).
    pub fn start_tls_client(
        self,
        config: Arc<rustls::ClientConfig>,
        server_name: &str,
    ) -> io::Result<(Conn, Option<ChannelBinding>)> {
        let Conn::Plain(tcp) = self else {
            return Err(io::Error::other("TLS is already up"));
        };
        let name = ServerName::try_from(server_name.to_owned()).map_err(io::Error::other)?;
        let conn = ClientConnection::new(config, name).map_err(io::Error::other)?;
        let mut s = StreamOwned::new(conn, tcp);
        handshake(&mut s.conn, &mut s.sock)?;
        let cb = exporter(
            s.conn.protocol_version(),
            s.conn
                .export_keying_material([0u8; 32], EXPORTER_LABEL, None),
        );
        Ok((Conn::TlsClient(Box::new(s)), cb))
    }

    /// Runs a TLS handshake as the server on this socket; returns the channel bindings it
    /// can offer (tls-exporter, when TLS 1.3 was negotiated).
    pub fn start_tls_server(
        self,
        config: Arc<rustls::ServerConfig>,
    ) -> io::Result<(Conn, Vec<ChannelBinding>)> {
        let Conn::Plain(tcp) = self else {
            return Err(io::Error::other("TLS is already up"));
        };
        let conn = ServerConnection::new(config).map_err(io::Error::other)?;
        let mut s = StreamOwned::new(conn, tcp);
        handshake(&mut s.conn, &mut s.sock)?;
        let cb = exporter(
            s.conn.protocol_version(),
            s.conn
                .export_keying_material([0u8; 32], EXPORTER_LABEL, None),
        );
        Ok((Conn::TlsServer(Box::new(s)), cb.into_iter().collect()))
    }
}

/// The ALPN protocol of a direct TLS c2s connection (XEP-0368 section 3: `xmpp-client`
/// where the SRV service is `xmpps-client`).
pub const ALPN_XMPP_CLIENT: &[u8] = b"xmpp-client";

/// `config` for direct TLS (XEP-0368) as the client: the same trust anchors, offering the
/// ALPN protocol `xmpp-client` (section 3: the client SHOULD set ALPN, and then MUST name
/// `xmpp-client`). STARTTLS connections keep `config` itself, without ALPN.
pub fn direct_tls_client(config: &Arc<rustls::ClientConfig>) -> Arc<rustls::ClientConfig> {
    let mut config = rustls::ClientConfig::clone(config);
    config.alpn_protocols = vec![ALPN_XMPP_CLIENT.to_vec()];
    Arc::new(config)
}

/// `config` for a direct TLS listener (XEP-0368): the same certificate, selecting the ALPN
/// protocol `xmpp-client`. rustls then ends a handshake whose client offers ALPN protocols
/// but not this one with a `no_application_protocol` alert (RFC 7301 section 3.2), and
/// accepts a client that offers no ALPN at all, which XEP-0368 allows (ALPN is a SHOULD).
pub fn direct_tls_server(config: &Arc<rustls::ServerConfig>) -> Arc<rustls::ServerConfig> {
    let mut config = rustls::ServerConfig::clone(config);
    config.alpn_protocols = vec![ALPN_XMPP_CLIENT.to_vec()];
    Arc::new(config)
}

/// What a direct TLS handshake agreed on ALPN, checked against XEP-0368 section 3 (when ALPN
/// is used, the protocol MUST be `xmpp-client`): the words for the log, `ALPN xmpp-client`
/// or `no ALPN`, or an error for any other protocol (which rustls already refuses on both
/// sides: this keeps the rule where the session starts, whatever the TLS configuration).
pub fn direct_tls_alpn(alpn: Option<&[u8]>) -> io::Result<&'static str> {
    match alpn {
        None => Ok("no ALPN"),
        Some(ALPN_XMPP_CLIENT) => Ok("ALPN xmpp-client"),
        Some(other) => Err(io::Error::other(format!(
            "direct TLS with the ALPN protocol {:?}, not xmpp-client (XEP-0368 section 3)",
            String::from_utf8_lossy(other)
        ))),
    }
}

/// The tls-exporter label (RFC 9266 section 2).
pub(crate) const EXPORTER_LABEL: &[u8] = b"EXPORTER-Channel-Binding";

pub(crate) fn exporter(
    version: Option<ProtocolVersion>,
    material: Result<[u8; 32], rustls::Error>,
) -> Option<ChannelBinding> {
    match (version, material) {
        (Some(ProtocolVersion::TLSv1_3), Ok(data)) => {
            Some(ChannelBinding::new(CbType::TlsExporter, data.to_vec()))
        }
        _ => None,
    }
}

fn handshake<C, S>(conn: &mut C, tcp: &mut TcpStream) -> io::Result<()>
where
    C: std::ops::DerefMut<Target = rustls::ConnectionCommon<S>>,
{
    tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
    while conn.is_handshaking() {
        conn.complete_io(tcp)?;
    }
    // Send what the handshake left queued (TLS 1.3 session tickets, the client's Finished).
    while conn.wants_write() {
        conn.write_tls(tcp)?;
    }
    Ok(())
}

/// A client TLS configuration whose only trust anchors are the certificates in `ca_file`.
pub fn client_tls(ca_file: Option<&str>) -> io::Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    if let Some(path) = ca_file {
        for cert in CertificateDer::pem_file_iter(path).map_err(io::Error::other)? {
            roots
                .add(cert.map_err(io::Error::other)?)
                .map_err(io::Error::other)?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// A server TLS configuration with the certificate chain and key in these PEM files.
pub fn server_tls(cert_file: &str, key_file: &str) -> io::Result<Arc<rustls::ServerConfig>> {
    let chain = CertificateDer::pem_file_iter(cert_file)
        .map_err(io::Error::other)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(io::Error::other)?;
    let key = PrivateKeyDer::from_pem_file(key_file).map_err(io::Error::other)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(io::Error::other)?;
    Ok(Arc::new(config))
}

/// Fresh bytes from the operating system (through the TLS library's random source).
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    rustls::crypto::ring::default_provider()
        .secure_random
        .fill(&mut buf)
        .expect("the operating system's random source");
    buf
}

/// A fresh seed for the core's generator.
pub fn random_seed() -> u64 {
    u64::from_le_bytes(random_bytes::<8>())
}

/// The flags both example servers take.
pub const SERVER_FLAGS: &[&str] = &[
    "listen",
    "domain",
    "tls",
    "cert",
    "key",
    "user",
    "resume-timeout",
    "direct-tls-listen",
];

/// The switches both example servers take.
pub const SERVER_SWITCHES: &[&str] = &["allow-plain", "no-sm", "no-limits", "sasl2"];

/// The usage line of both example servers, after the program's name.
pub const SERVER_USAGE: &str = "--listen HOST:PORT --domain DOMAIN \
    [--tls required|optional|disabled] [--cert CERT.pem --key KEY.pem] \
    --user NAME:PASSWORD [--user NAME:PASSWORD ...] [--allow-plain] [--no-sm] [--no-limits] \
    [--resume-timeout SECONDS] [--sasl2] [--direct-tls-listen HOST:PORT]";

/// The hub's configuration from the servers' flags (exits with `usage` on a bad one), and
/// the address to listen on.
pub fn server_config(args: &Args, usage: &str) -> (hub::HubConfig, String) {
    let listen = args.require("listen", usage).to_owned();
    let tls_policy = tls_policy(args, usage);
    let tls = (tls_policy != TlsPolicy::Disabled).then(|| {
        server_tls(args.require("cert", usage), args.require("key", usage))
            .unwrap_or_else(|e| die(&format!("--cert/--key: {e}")))
    });
    let mut accounts = HashMap::new();
    for user in args.all("user") {
        let Some((name, password)) = user.split_once(':') else {
            die("--user wants NAME:PASSWORD")
        };
        accounts.insert(name.to_owned(), password.to_owned());
    }
    let resume = args.number("resume-timeout", 60, usage);
    let config = hub::HubConfig {
        domain: args.require("domain", usage).to_owned(),
        accounts,
        allow_plain: args.switch("allow-plain"),
        sasl_secret: random_bytes::<32>().to_vec(),
        tls_policy,
        tls,
        stream_management: !args.switch("no-sm"),
        resume_timeout: (resume > 0).then(|| Duration::from_secs(resume)),
        advertise_limits: !args.switch("no-limits"),
        sasl2: args.switch("sasl2"),
    };
    (config, listen)
}

/// `--direct-tls-listen HOST:PORT`: the address of the servers' direct TLS listener
/// (XEP-0368), whose connections are TLS from their first byte, with the TLS configuration
/// for it ([`direct_tls_server`]); `None` without the flag. Exits with `usage` when TLS is
/// disabled (there is no certificate to serve it with).
pub fn direct_tls_listen(
    args: &Args,
    config: &hub::HubConfig,
    usage: &str,
) -> Option<(String, Arc<rustls::ServerConfig>)> {
    let listen = args.get("direct-tls-listen")?;
    let Some(tls) = &config.tls else {
        eprintln!("--direct-tls-listen needs TLS (--cert and --key, not --tls disabled)");
        die(usage)
    };
    Some((listen.to_owned(), direct_tls_server(tls)))
}
