//! The transport of the tokio examples: a tokio `TcpStream`, then TLS over it with
//! tokio-rustls after STARTTLS. The same shape as [`Conn`](crate::Conn), with async methods;
//! waiting for the core's deadline is the caller's (`tokio::time::timeout_at` around
//! [`AsyncConn::read`], which is cancel-safe).

use std::io;
use std::sync::Arc;
use std::time::Instant;

use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::{TlsAcceptor, TlsConnector, client, server};
use xmpp_sansio::connection::Connection;
use xmpp_sansio::sasl::ChannelBinding;
use xmpp_sansio::xml::Element;

use crate::drive::{GivingUp, READ_SIZE, answered, feed};
use crate::{EXPORTER_LABEL, Input, exporter};

/// Plain TCP, then TLS on the same connection after STARTTLS.
#[derive(Debug)]
pub enum AsyncConn {
    /// Before STARTTLS (or without it).
    Plain(TcpStream),
    /// TLS as the initiating entity.
    TlsClient(Box<client::TlsStream<TcpStream>>),
    /// TLS as the receiving entity.
    TlsServer(Box<server::TlsStream<TcpStream>>),
}

impl AsyncConn {
    /// Waits for input: [`Input::Data`], [`Input::Eof`], or [`Input::Truncated`] (TLS ended
    /// without `close_notify`); never [`Input::Timeout`]. Cancel-safe: nothing is lost when
    /// the future is dropped before it completes.
    pub async fn read(&mut self, buf: &mut [u8]) -> io::Result<Input> {
        let r = match self {
            AsyncConn::Plain(s) => s.read(buf).await,
            AsyncConn::TlsClient(s) => s.read(buf).await,
            AsyncConn::TlsServer(s) => s.read(buf).await,
        };
        match r {
            Ok(0) => Ok(Input::Eof),
            Ok(n) => Ok(Input::Data(n)),
            // rustls reports a TCP end without close_notify this way.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(Input::Truncated),
            Err(e) => Err(e),
        }
    }

    /// Writes all of `data`.
    pub async fn send(&mut self, data: &[u8]) -> io::Result<()> {
        match self {
            AsyncConn::Plain(s) => s.write_all(data).await,
            AsyncConn::TlsClient(s) => {
                s.write_all(data).await?;
                s.flush().await
            }
            AsyncConn::TlsServer(s) => {
                s.write_all(data).await?;
                s.flush().await
            }
        }
    }

    /// Ends the transport: tokio-rustls's `shutdown` sends `close_notify` (RFC 8446
    /// section 6.1) before it shuts down the TCP write side; then reads (and drops) what the
    /// peer still sends until it ends the transport too, for at most
    /// [`LINGER`](crate::LINGER). Tells how the peer ended: [`Input::Eof`] (over TLS, with
    /// its own `close_notify`), [`Input::Truncated`], or [`Input::Timeout`].
    pub async fn close(&mut self) -> io::Result<Input> {
        match self {
            AsyncConn::Plain(s) => s.shutdown().await?,
            AsyncConn::TlsClient(s) => s.shutdown().await?,
            AsyncConn::TlsServer(s) => s.shutdown().await?,
        }
        let until = tokio::time::Instant::now() + crate::LINGER;
        let mut buf = [0u8; 4096];
        loop {
            match tokio::time::timeout_at(until, self.read(&mut buf)).await {
                Err(_elapsed) => return Ok(Input::Timeout),
                Ok(Ok(Input::Data(_))) => {}
                Ok(end) => return end,
            }
        }
    }

    /// The ALPN protocol the TLS handshake agreed on (RFC 7301), if any.
    pub fn alpn(&self) -> Option<&[u8]> {
        match self {
            AsyncConn::Plain(_) => None,
            AsyncConn::TlsClient(s) => s.get_ref().1.alpn_protocol(),
            AsyncConn::TlsServer(s) => s.get_ref().1.alpn_protocol(),
        }
    }

    /// Runs a TLS handshake as the client; returns the tls-exporter channel binding when
    /// TLS 1.3 was negotiated (RFC 9266).
    pub async fn start_tls_client(
        self,
        config: Arc<rustls::ClientConfig>,
        server_name: &str,
    ) -> io::Result<(AsyncConn, Option<ChannelBinding>)> {
        let AsyncConn::Plain(tcp) = self else {
            return Err(io::Error::other("TLS is already up"));
        };
        let name = ServerName::try_from(server_name.to_owned()).map_err(io::Error::other)?;
        let tls = within_handshake_time(TlsConnector::from(config).connect(name, tcp)).await?;
        let conn = tls.get_ref().1;
        let cb = exporter(
            conn.protocol_version(),
            conn.export_keying_material([0u8; 32], EXPORTER_LABEL, None),
        );
        Ok((AsyncConn::TlsClient(Box::new(tls)), cb))
    }

    /// Runs a TLS handshake as the server; returns the channel bindings it can offer
    /// (tls-exporter, when TLS 1.3 was negotiated).
    pub async fn start_tls_server(
        self,
        config: Arc<rustls::ServerConfig>,
    ) -> io::Result<(AsyncConn, Vec<ChannelBinding>)> {
        let AsyncConn::Plain(tcp) = self else {
            return Err(io::Error::other("TLS is already up"));
        };
        let tls = within_handshake_time(TlsAcceptor::from(config).accept(tcp)).await?;
        let conn = tls.get_ref().1;
        let cb = exporter(
            conn.protocol_version(),
            conn.export_keying_material([0u8; 32], EXPORTER_LABEL, None),
        );
        Ok((
            AsyncConn::TlsServer(Box::new(tls)),
            cb.into_iter().collect(),
        ))
    }
}

/// A TLS handshake, given up after [`HANDSHAKE_TIME`] as the blocking one is: before it,
/// no core timer runs (with direct TLS, no stream has started yet), so a peer that stalls
/// the handshake would hold its task for ever.
async fn within_handshake_time<T>(handshake: impl Future<Output = io::Result<T>>) -> io::Result<T> {
    tokio::time::timeout(HANDSHAKE_TIME, handshake)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out"))?
}

/// How long a TLS handshake may take (the blocking transport's read timeout during it).
pub const HANDSHAKE_TIME: std::time::Duration = std::time::Duration::from_secs(10);

/// What a tokio example does with its role's events; the rest of the loop is
/// [`drive_async`]'s. The same shape as [`Embedder`](crate::drive::Embedder).
pub trait AsyncEmbedder<C: Connection> {
    /// One event, with the transport (which TLS replaces). An error ends the session.
    fn on_event(
        &mut self,
        core: &mut C,
        conn: &mut Option<AsyncConn>,
        event: C::Event,
    ) -> impl Future<Output = io::Result<()>>;

    /// A stanza from outside the stream (one another session routed here), awaited beside
    /// the read and the core's deadline; by default, none ever comes.
    fn outside(&mut self) -> impl Future<Output = Option<Element>> {
        std::future::pending()
    }

    /// When to give up: the stream is closed then, and the session left
    /// [`GRACE`](crate::drive::GRACE) later.
    fn deadline(&self) -> Option<Instant> {
        None
    }

    /// The deadline came: say why before the stream is closed.
    fn on_deadline(&mut self) {}

    /// Something worth a line in the log.
    fn log(&self, line: &str) {
        println!("{line}");
    }
}

/// [`drive`](crate::drive::drive) for tokio: runs `core` over `conn` until its stream is
/// over, in the same drain order, waiting for a read, a stanza from
/// [`outside`](AsyncEmbedder::outside) or the next deadline, whichever comes first; then
/// ends the transport (over TLS with `close_notify`).
pub async fn drive_async<C: Connection>(
    core: &mut C,
    conn: &mut Option<AsyncConn>,
    embedder: &mut impl AsyncEmbedder<C>,
) -> io::Result<()> {
    let mut buf = vec![0u8; READ_SIZE];
    let mut giving_up = GivingUp::default();
    let result = loop {
        flush(core, conn, embedder).await;
        if let Some(event) = core.poll_event() {
            if let Err(e) = embedder.on_event(core, conn, event).await {
                core.handle_eof();
                break Err(e);
            }
            continue;
        }
        let now = Instant::now();
        let deadline = embedder.deadline();
        if core.is_closed() || giving_up.is_over(deadline, now) {
            break Ok(());
        }
        let wake = giving_up.wake(core, deadline, None);
        let sleep = async {
            match wake {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        let Some(c) = conn.as_mut() else {
            break Ok(());
        };
        // `read` is cancel-safe, and so is a channel's `recv`: nothing is lost to the race.
        tokio::select! {
            read = c.read(&mut buf) => feed(core, read, &buf, |line| embedder.log(line)),
            Some(stanza) = embedder.outside() => {
                answered(core.send(Instant::now(), &stanza));
            }
            () = sleep => {
                if giving_up.tick(core, deadline, Instant::now()) {
                    embedder.on_deadline();
                }
            }
        }
    };
    // The closing tag or stream error the core queued last, then the transport's end.
    flush(core, conn, embedder).await;
    if let Some(conn) = conn.as_mut()
        && let Ok(Input::Truncated) = conn.close().await
    {
        embedder.log("tls: connection ended without close_notify");
    }
    result
}

/// Writes what the core queued; a failed write ends the stream.
async fn flush<C: Connection>(
    core: &mut C,
    conn: &mut Option<AsyncConn>,
    embedder: &impl AsyncEmbedder<C>,
) {
    while let Some(bytes) = core.poll_transmit() {
        let Some(c) = conn.as_mut() else { return };
        if let Err(e) = c.send(&bytes).await {
            embedder.log(&format!("abandoned write-failed: {e}"));
            core.handle_eof();
        }
    }
}

impl crate::hub::Mailbox for tokio::sync::mpsc::Sender<Element> {
    type Rx = tokio::sync::mpsc::Receiver<Element>;

    fn pair() -> (Self, Self::Rx) {
        tokio::sync::mpsc::channel(crate::hub::ROUTED_QUEUE)
    }

    fn post(&self, stanza: Element) -> crate::hub::Post {
        use tokio::sync::mpsc::error::TrySendError;
        match self.try_send(stanza) {
            Ok(()) => crate::hub::Post::Queued,
            Err(TrySendError::Full(_)) => crate::hub::Post::Full,
            Err(TrySendError::Closed(_)) => crate::hub::Post::Gone,
        }
    }
}
