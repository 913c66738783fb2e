//! An XMPP client over a blocking socket: connects, negotiates (STARTTLS with rustls, SASL,
//! resource binding, all decided by `xmpp_sansio::client::Client`), optionally sends one chat
//! message, prints every event, and closes after `--count` received messages or on timeout.
//! `--sm` uses stream management with resumption; `--resume-test` cuts the TCP connection
//! mid-session and resumes on a new one; `--roster-test` runs a roster round.
//! `--websocket ws://...` or `wss://...` speaks XMPP over WebSocket (RFC 7395) instead,
//! through `xmpp_examples::ws`: TLS first for `wss:`, then the WebSocket handshake with the
//! `xmpp` subprotocol, then the same session with one message per stanza.
//!
//! Exit status: 0 when it went online (received `--count` messages, passed its test), 2 on
//! a SASL failure, 1 otherwise.

use std::io;
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::time::Instant;

use xmpp_examples::client::{CLIENT_USAGE, Session, client_args};
use xmpp_examples::drive::{Embedder, drive};
use xmpp_examples::ws::{self, SUBPROTOCOL};
use xmpp_examples::{Conn, die, direct_tls_client, random_seed};
use xmpp_sansio::client::{Client, ClientConfig, ClientEvent};

fn main() {
    let a = client_args(&format!("usage: client {CLIENT_USAGE}"));
    let start = Instant::now();
    let mut app = App {
        session: Session::new(a.plan, start + a.timeout),
        domain: a.config.jid.domain().to_owned(),
        tls: a.tls.clone(),
        cut: false,
    };
    let ws = a.websocket.as_deref().map(|url| (url, a.tls.clone()));
    let direct = a.direct_tls.then(|| a.tls.clone()).flatten();
    let (mut client, mut conn) = connect(&a.addr, a.config.clone(), ws, direct.clone());
    client.open(start).expect("a new client opens");
    let mut result = drive(&mut client, &mut conn, &mut app);
    if app.cut {
        // The resumption test: the previous session's state, on a new connection.
        let Some(state) = client.take_resumption_state() else {
            println!("test failed: no resumption state after the cut");
            std::process::exit(1)
        };
        println!(
            "reconnecting to resume {} ({} unacknowledged)",
            state.id,
            state.unacked.len()
        );
        app.cut = false;
        app.session.resuming();
        // With --fast-token, the token the first stream received logs the new one in:
        // FAST and the resumption in one `<authenticate/>` (XEP-0484, XEP-0198 in SASL2).
        let mut config = a.config;
        if let Some(token) = app.session.fast_token() {
            config.fast_token = Some(token.clone());
            config.fast_request_token = false;
        }
        let ws = a.websocket.as_deref().map(|url| (url, a.tls.clone()));
        (client, conn) = connect(&a.addr, config, ws, direct);
        client
            .resume_from(state)
            .expect("a new client with stream management");
        client.open(Instant::now()).expect("a new client opens");
        result = drive(&mut client, &mut conn, &mut app);
    }
    std::process::exit(app.session.exit_status(&client, result))
}

/// A TCP connection to `addr`; with `ws` (the URL and, for `wss:`, the TLS configuration),
/// a WebSocket on it; with `direct` (the TLS configuration), TLS from the first byte
/// (XEP-0368), which the client is told of.
fn connect(
    addr: &str,
    config: ClientConfig,
    ws: Option<(&str, Option<Arc<rustls::ClientConfig>>)>,
    direct: Option<Arc<rustls::ClientConfig>>,
) -> (Client, Option<Conn>) {
    let tcp = TcpStream::connect(addr).unwrap_or_else(|e| die(&format!("connect {addr}: {e}")));
    tcp.set_nodelay(true).ok();
    let mut conn = Conn::Plain(tcp);
    if let Some(tls) = direct {
        let domain = config.jid.domain().to_owned();
        let (tls_conn, cb) = conn
            .start_tls_client(direct_tls_client(&tls), &domain)
            .unwrap_or_else(|e| die(&format!("tls-handshake: {e}")));
        let mut client = Client::new(config, random_seed(), Instant::now());
        Session::direct_tls_up(&mut client, tls_conn.alpn(), cb)
            .unwrap_or_else(|e| die(&format!("direct tls: {e}")));
        return (client, Some(tls_conn));
    }
    if let Some((url, tls)) = ws {
        let (secure, host) =
            ws::parse_url(url).unwrap_or_else(|e| die(&format!("--websocket: {e}")));
        if secure {
            let tls = tls.unwrap_or_else(|| die("wss: needs TLS"));
            (conn, _) = conn
                .start_tls_client(tls, &host)
                .unwrap_or_else(|e| die(&format!("tls-handshake: {e}")));
        }
        conn = ws::connect(conn, url).unwrap_or_else(|e| die(&format!("{url}: {e}")));
        println!("websocket up ({SUBPROTOCOL} subprotocol)");
    }
    let client = Client::new(config, random_seed(), Instant::now());
    (client, Some(conn))
}

/// The client's session, with TLS set up through rustls on the blocking socket.
struct App {
    session: Session,
    domain: String,
    tls: Option<Arc<rustls::ClientConfig>>,
    /// The transport was cut for the resumption test.
    cut: bool,
}

impl Embedder<Client> for App {
    fn on_event(
        &mut self,
        client: &mut Client,
        conn: &mut Option<Conn>,
        event: ClientEvent,
    ) -> io::Result<()> {
        if let ClientEvent::TlsRequested = event {
            let plain = conn.take().expect("connected");
            let config = self.tls.clone().expect("TLS is not disabled");
            let (tls, cb) = plain
                .start_tls_client(config, &self.domain)
                .map_err(|e| io::Error::other(format!("tls-handshake: {e}")))?;
            *conn = Some(tls);
            self.session.tls_established(client, cb);
        }
        self.session.on_event(client, event);
        if self.session.take_cut() {
            // What the session just wrote goes out, then the TCP connection ends under the
            // stream: no closing tag, no TLS close_notify, as when a network goes away.
            let c = conn.as_mut().expect("connected");
            while let Some(bytes) = client.poll_transmit() {
                c.send(&bytes)?;
            }
            c.tcp().shutdown(Shutdown::Both)?;
            *conn = None;
            self.cut = true;
            return Err(io::Error::other("connection cut for the resumption test"));
        }
        Ok(())
    }

    fn deadline(&self) -> Option<Instant> {
        Some(self.session.deadline())
    }

    fn on_deadline(&mut self) {
        self.session.on_deadline();
    }
}
