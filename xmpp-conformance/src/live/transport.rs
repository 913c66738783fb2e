//! The connection of a live run: TCP, upgraded to TLS by STARTTLS or TLS from the first
//! byte (XEP-0368, with the ALPN protocol `xmpp-client`), rustls either way; read with
//! deadlines.

use std::io::{self, Read as _, Write as _};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, ServerConfig,
    ServerConnection, StreamOwned,
};

/// TLS for a live run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsMode {
    /// No TLS: vectors that negotiate it are skipped.
    None,
    /// STARTTLS when a vector asks for it.
    StartTls {
        /// The CA certificates (PEM) that the server's certificate must chain to.
        ca: Option<PathBuf>,
        /// Accept any certificate (a test server's self-signed one).
        insecure: bool,
    },
    /// TLS from the first byte (XEP-0368 section 3: ALPN `xmpp-client`, SNI the site's
    /// domain): only the vectors whose stream starts that way (`direct-tls`) run.
    Direct {
        /// The CA certificates (PEM) that the server's certificate must chain to.
        ca: Option<PathBuf>,
        /// Accept any certificate (a test server's self-signed one).
        insecure: bool,
    },
}

impl TlsMode {
    /// Can vectors that negotiate TLS run?
    pub fn is_starttls(&self) -> bool {
        matches!(self, TlsMode::StartTls { .. })
    }

    /// Is the stream TLS from the first byte?
    pub fn is_direct(&self) -> bool {
        matches!(self, TlsMode::Direct { .. })
    }
}

/// The ALPN protocol of a client-to-server stream over direct TLS (XEP-0368 section 3).
pub const ALPN_XMPP_CLIENT: &[u8] = b"xmpp-client";

/// What a read brought.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    /// Some bytes.
    Data,
    /// Nothing before the deadline (or a short slice of it).
    Idle,
    /// The peer closed the connection, or it failed.
    Closed,
}

/// A TCP connection, plain or with TLS.
pub enum Connection {
    /// TCP alone.
    Plain(TcpStream),
    /// After STARTTLS, the runner the client.
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
    /// After STARTTLS, the runner the server (`live client`).
    TlsServer(Box<StreamOwned<ServerConnection, TcpStream>>),
    /// Between the two, or after a failed handshake.
    Gone,
}

impl Connection {
    /// Connects to `addr` (`HOST:PORT`).
    pub fn connect(addr: &str) -> io::Result<Connection> {
        let tcp = TcpStream::connect(addr)?;
        tcp.set_nodelay(true)?;
        Ok(Connection::Plain(tcp))
    }

    fn tcp(&self) -> Option<&TcpStream> {
        match self {
            Connection::Plain(t) => Some(t),
            Connection::Tls(s) => Some(s.get_ref()),
            Connection::TlsServer(s) => Some(s.get_ref()),
            Connection::Gone => None,
        }
    }

    /// Writes all of `bytes`.
    pub fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Connection::Plain(t) => t.write_all(bytes),
            Connection::Tls(s) => s.write_all(bytes).and_then(|()| s.flush()),
            Connection::TlsServer(s) => s.write_all(bytes).and_then(|()| s.flush()),
            Connection::Gone => Err(io::ErrorKind::NotConnected.into()),
        }
    }

    /// Ends our half of the connection.
    pub fn shutdown_write(&mut self) {
        match self {
            Connection::Tls(s) => {
                s.conn.send_close_notify();
                let _ = s.flush();
            }
            Connection::TlsServer(s) => {
                s.conn.send_close_notify();
                let _ = s.flush();
            }
            Connection::Plain(_) | Connection::Gone => {}
        }
        if let Some(t) = self.tcp() {
            let _ = t.shutdown(Shutdown::Write);
        }
    }

    /// Appends what arrives before `deadline` (waiting at most 50 ms) to `buf`.
    pub fn read_into(&mut self, buf: &mut Vec<u8>, deadline: Instant) -> Read {
        let wait = deadline
            .saturating_duration_since(Instant::now())
            .clamp(Duration::from_millis(1), Duration::from_millis(50));
        if let Some(t) = self.tcp() {
            let _ = t.set_read_timeout(Some(wait));
        }
        let mut chunk = [0u8; 16 * 1024];
        let n = match self {
            Connection::Plain(t) => t.read(&mut chunk),
            Connection::Tls(s) => s.read(&mut chunk),
            Connection::TlsServer(s) => s.read(&mut chunk),
            Connection::Gone => return Read::Closed,
        };
        match n {
            Ok(0) => Read::Closed,
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                Read::Data
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                Read::Idle
            }
            Err(_) => Read::Closed,
        }
    }

    /// The TLS handshake after `<proceed/>` (or, for [`TlsMode::Direct`], at once), for the
    /// server name `domain`.
    pub fn start_tls(&mut self, mode: &TlsMode, domain: &str) -> Result<(), String> {
        let (ca, insecure, alpn) = match mode {
            TlsMode::StartTls { ca, insecure } => (ca, *insecure, None),
            TlsMode::Direct { ca, insecure } => (ca, *insecure, Some(ALPN_XMPP_CLIENT)),
            TlsMode::None => return Err("no TLS in this run".into()),
        };
        let Connection::Plain(tcp) = std::mem::replace(self, Connection::Gone) else {
            return Err("TLS is already up".into());
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?;
        let mut config = if insecure {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
                .with_no_client_auth()
        } else {
            let mut roots = RootCertStore::empty();
            if let Some(path) = ca {
                let pem = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
                for cert in CertificateDer::pem_slice_iter(&pem) {
                    let cert = cert.map_err(|e| format!("{}: {e}", path.display()))?;
                    roots.add(cert).map_err(|e| e.to_string())?;
                }
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        };
        if let Some(alpn) = alpn {
            config.alpn_protocols = vec![alpn.to_vec()];
        }
        let name = ServerName::try_from(domain.to_owned()).map_err(|e| e.to_string())?;
        let conn = ClientConnection::new(Arc::new(config), name).map_err(|e| e.to_string())?;
        let mut stream = StreamOwned::new(conn, tcp);
        let _ = stream.sock.set_read_timeout(Some(Duration::from_secs(10)));
        while stream.conn.is_handshaking() {
            stream
                .conn
                .complete_io(&mut stream.sock)
                .map_err(|e| e.to_string())?;
        }
        // XEP-0368 section 3: a server that answers ALPN must have chosen `xmpp-client`.
        if let (Some(alpn), Some(chosen)) = (alpn, stream.conn.alpn_protocol()) {
            if chosen != alpn {
                return Err(format!(
                    "the server chose the ALPN protocol {:?}, not xmpp-client",
                    String::from_utf8_lossy(chosen)
                ));
            }
        }
        *self = Connection::Tls(Box::new(stream));
        Ok(())
    }
}

impl Connection {
    /// Waits until `deadline` for the client under test to connect (`live client`).
    pub fn accept(listener: &TcpListener, deadline: Instant) -> io::Result<Connection> {
        listener.set_nonblocking(true)?;
        loop {
            match listener.accept() {
                Ok((tcp, _)) => {
                    tcp.set_nonblocking(false)?;
                    tcp.set_nodelay(true)?;
                    return Ok(Connection::Plain(tcp));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if Instant::now() >= deadline {
                        return Err(io::ErrorKind::TimedOut.into());
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The server side of the TLS handshake after the runner sent `<proceed/>`.
    pub fn accept_tls(&mut self, config: &Arc<ServerConfig>) -> Result<(), String> {
        let Connection::Plain(tcp) = std::mem::replace(self, Connection::Gone) else {
            return Err("TLS is already up".into());
        };
        let conn = ServerConnection::new(config.clone()).map_err(|e| e.to_string())?;
        let mut stream = StreamOwned::new(conn, tcp);
        let _ = stream.sock.set_read_timeout(Some(Duration::from_secs(10)));
        while stream.conn.is_handshaking() {
            stream
                .conn
                .complete_io(&mut stream.sock)
                .map_err(|e| e.to_string())?;
        }
        *self = Connection::TlsServer(Box::new(stream));
        Ok(())
    }
}

/// `config` for direct TLS (XEP-0368 section 3): the ALPN protocol `xmpp-client` is the one
/// the runner agrees to, when the client under test offers ALPN at all.
pub fn direct_tls_config(config: &Arc<ServerConfig>) -> Arc<ServerConfig> {
    let mut direct = ServerConfig::clone(config);
    direct.alpn_protocols = vec![ALPN_XMPP_CLIENT.to_vec()];
    Arc::new(direct)
}

/// The runner's TLS server configuration for `live client`: the certificate chain and key
/// (PEM) it presents to the client under test.
pub fn server_tls_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, String> {
    let read = |p: &Path| std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()));
    let certs = CertificateDer::pem_slice_iter(&read(cert)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: {e}", cert.display()))?;
    let key = PrivateKeyDer::from_pem_slice(&read(key)?)
        .map_err(|e| format!("{}: {e}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| e.to_string())?;
    Ok(Arc::new(config))
}

/// `--insecure`: every certificate is accepted (signatures are still checked, so that the
/// handshake is a real one).
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

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
