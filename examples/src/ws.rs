//! The WebSocket transport of `client --websocket URL` and `server --websocket` (XMPP over
//! WebSocket, RFC 7395): the WebSocket protocol itself (the opening handshake with the
//! `xmpp` subprotocol, frames, masking, pings, the closing handshake) is `tungstenite`'s,
//! over the same blocking socket, and for `wss:` the same rustls stream, as the TCP
//! transport ([`Conn`]). The core sees whole text messages: one [`Conn::read_within`] is
//! one message's payload, one [`Conn::send`] one message (its `Framing::WebSocket` mode).
//! No XMPP decisions live here.

use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use tungstenite::handshake::HandshakeError;
use tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tungstenite::http::{HeaderValue, StatusCode};
use tungstenite::protocol::WebSocketConfig;
use tungstenite::{Error, Message, WebSocket};

use xmpp_sansio::xml::Limits;

use crate::{Conn, Input, LINGER};

/// The WebSocket subprotocol of XMPP (RFC 7395 section 3.1).
pub const SUBPROTOCOL: &str = "xmpp";

/// How long the opening handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A WebSocket over a [`Conn`] (plain for `ws:`, TLS for `wss:`).
#[derive(Debug)]
pub struct WsConn {
    ws: WebSocket<Conn>,
}

/// The longest message taken: one read is one whole message, so the driver's buffer is
/// this long over WebSocket ([`Conn::read_size`]). A little over the core's default element
/// limit, so that the core, not the WebSocket layer, refuses an element that is too long
/// (with its `policy-violation` stream error); tungstenite refuses anything longer still.
pub const MAX_MESSAGE: usize = Limits::DEFAULT.max_element_bytes + 4096;

fn config() -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE))
}

/// What a WebSocket URL says: whether it is `wss:`, and its host (the TLS server name).
pub fn parse_url(url: &str) -> Result<(bool, String), String> {
    let (secure, rest) = if let Some(rest) = url.strip_prefix("wss://") {
        (true, rest)
    } else if let Some(rest) = url.strip_prefix("ws://") {
        (false, rest)
    } else {
        return Err(format!("{url}: not a ws:// or wss:// URL"));
    };
    let authority = rest.split('/').next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        // An IPv6 literal.
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    };
    if host.is_empty() {
        return Err(format!("{url}: no host"));
    }
    Ok((secure, host.to_owned()))
}

/// The client's opening handshake on `conn` (already TLS for `wss:`), asking for the
/// `xmpp` subprotocol; fails unless the server agrees to it (RFC 7395 section 3.1).
pub fn connect(conn: Conn, url: &str) -> io::Result<Conn> {
    use tungstenite::client::IntoClientRequest;
    let mut request = url.into_client_request().map_err(io::Error::other)?;
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static(SUBPROTOCOL),
    );
    conn.tcp().set_read_timeout(Some(HANDSHAKE_TIMEOUT))?;
    let (ws, response) = tungstenite::client::client_with_config(request, conn, Some(config()))
        .map_err(handshake_error)?;
    let agreed = response
        .headers()
        .get("Sec-WebSocket-Protocol")
        .and_then(|v| v.to_str().ok());
    if agreed != Some(SUBPROTOCOL) {
        return Err(io::Error::other(format!(
            "the server did not agree to the {SUBPROTOCOL} subprotocol ({agreed:?})"
        )));
    }
    Ok(Conn::WebSocket(Box::new(WsConn { ws })))
}

/// The server's opening handshake on `conn` (already TLS for `wss:`): a request that does
/// not offer the `xmpp` subprotocol is refused with 400 (RFC 7395 section 3.1: the server
/// must answer with it, and has nothing else to speak).
pub fn accept(conn: Conn) -> io::Result<Conn> {
    conn.tcp().set_read_timeout(Some(HANDSHAKE_TIMEOUT))?;
    let callback = |request: &Request, mut response: Response| {
        let offered = request
            .headers()
            .get_all("Sec-WebSocket-Protocol")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|p| p.trim() == SUBPROTOCOL);
        if !offered {
            let mut refusal = ErrorResponse::new(Some(format!(
                "the {SUBPROTOCOL} subprotocol is required (RFC 7395)"
            )));
            *refusal.status_mut() = StatusCode::BAD_REQUEST;
            return Err(refusal);
        }
        response.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_static(SUBPROTOCOL),
        );
        Ok(response)
    };
    let ws = tungstenite::accept_hdr_with_config(conn, callback, Some(config()))
        .map_err(handshake_error)?;
    Ok(Conn::WebSocket(Box::new(WsConn { ws })))
}

fn handshake_error<R: tungstenite::handshake::HandshakeRole>(e: HandshakeError<R>) -> io::Error {
    match e {
        HandshakeError::Interrupted(_) => {
            io::Error::new(io::ErrorKind::TimedOut, "websocket handshake timed out")
        }
        HandshakeError::Failure(e) => io::Error::other(format!("websocket handshake: {e}")),
    }
}

impl WsConn {
    /// The connection underneath.
    pub fn inner(&self) -> &Conn {
        self.ws.get_ref()
    }

    /// One text message within `timeout`, its payload copied to `buf`. Pings are answered
    /// (tungstenite queues the pong, sent with the next read or write); the peer's close
    /// frame, answered the same way, is the end of the transport.
    pub fn read_within(&mut self, buf: &mut [u8], timeout: Duration) -> io::Result<Input> {
        let until = Instant::now() + timeout;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            self.inner()
                .tcp()
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))?;
            match self.ws.read() {
                Ok(Message::Text(text)) => {
                    let Some(to) = buf.get_mut(..text.len()) else {
                        // Not reached: the configured message limit is the buffer's size.
                        return Err(io::Error::other("websocket message longer than the buffer"));
                    };
                    to.copy_from_slice(text.as_bytes());
                    return Ok(Input::Data(text.len()));
                }
                // RFC 7395 section 3.2: XMPP goes in text messages only.
                Ok(Message::Binary(_)) => {
                    return Err(io::Error::other("binary websocket message (RFC 7395 3.2)"));
                }
                Ok(Message::Close(_)) | Err(Error::ConnectionClosed | Error::AlreadyClosed) => {
                    return Ok(Input::Eof);
                }
                Ok(_ping_pong_or_frame) => {}
                Err(Error::Io(e))
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    if Instant::now() >= until {
                        return Ok(Input::Timeout);
                    }
                }
                Err(Error::Io(e)) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    return Ok(Input::Truncated);
                }
                Err(Error::Io(e)) => return Err(e),
                Err(e) => return Err(io::Error::other(e)),
            }
        }
    }

    /// Sends `data` (one payload of the core's, UTF-8 as all its output) as one text
    /// message.
    pub fn send(&mut self, data: &[u8]) -> io::Result<()> {
        let text = String::from_utf8(data.to_vec()).map_err(io::Error::other)?;
        self.ws.send(Message::text(text)).map_err(ws_io)
    }

    /// Ends the WebSocket: our close frame (unless the peer's came first and was answered),
    /// the peer's within [`LINGER`], then the connection underneath as [`Conn::close`] ends
    /// it (TLS `close_notify`, the TCP write side, the peer's end).
    pub fn close(&mut self) -> io::Result<Input> {
        if self.ws.can_write() {
            // An error here is a transport already gone: the read below tells.
            let _ = self.ws.close(None);
        }
        let until = Instant::now() + LINGER;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            if self
                .inner()
                .tcp()
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .is_err()
            {
                break;
            }
            match self.ws.read() {
                Ok(_) => {}
                Err(Error::Io(e))
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) => {}
                // The closing handshake is over (or the transport is gone).
                Err(_) => break,
            }
        }
        self.ws.get_mut().close()
    }
}

fn ws_io(e: Error) -> io::Error {
    match e {
        Error::Io(e) => e,
        e => io::Error::other(e),
    }
}

/// The connection underneath a WebSocket, as tungstenite reads and writes it.
impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(s) => s.read(buf),
            Conn::TlsClient(s) => s.read(buf),
            Conn::TlsServer(s) => s.read(buf),
            Conn::WebSocket(_) => Err(io::Error::other("a websocket inside a websocket")),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(s) => s.write(buf),
            Conn::TlsClient(s) => s.write(buf),
            Conn::TlsServer(s) => s.write(buf),
            Conn::WebSocket(_) => Err(io::Error::other("a websocket inside a websocket")),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Conn::Plain(s) => s.flush(),
            Conn::TlsClient(s) => s.flush(),
            Conn::TlsServer(s) => s.flush(),
            Conn::WebSocket(_) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_url;

    #[test]
    fn urls_give_scheme_and_host() {
        assert_eq!(
            parse_url("wss://localhost:5281/xmpp-websocket"),
            Ok((true, "localhost".to_owned()))
        );
        assert_eq!(
            parse_url("ws://127.0.0.1:5280/ws"),
            Ok((false, "127.0.0.1".to_owned()))
        );
        assert_eq!(parse_url("ws://[::1]:80/"), Ok((false, "::1".to_owned())));
        assert!(parse_url("http://localhost/").is_err());
        assert!(parse_url("ws:///path").is_err());
    }
}
