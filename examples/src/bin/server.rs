//! A small multi-user IM server over `xmpp_sansio::server::Server`: one thread per
//! connection, STARTTLS with rustls (required, optional or disabled), accounts from `--user`
//! flags with in-memory rosters, and RFC 6121 routing between its sessions with
//! `xmpp_sansio::im` (rosters, subscriptions, presence broadcast and probes, the delivery
//! rules), all in `xmpp_examples::hub`; stream management with resumption (XEP-0198).
//! `--websocket` serves XMPP over WebSocket (RFC 7395) on `--listen` instead, through
//! `xmpp_examples::ws`: `wss:` (TLS on accepting, then the WebSocket handshake) unless
//! `--tls disabled` makes it `ws:`; any path; the `xmpp` subprotocol is required.
//! `--direct-tls-listen HOST:PORT` adds a direct TLS listener (XEP-0368): TLS from the
//! first byte with ALPN `xmpp-client` (a client offering only other protocols is refused,
//! one offering none accepted), then `Server::direct_tls`: no STARTTLS on those streams.
//! Runs until killed.

use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::mpsc::SyncSender;
use std::time::{Duration, Instant};

use xmpp_examples::c2s::C2s;
use xmpp_examples::drive::{Embedder, answered, drive};
use xmpp_examples::hub::Hub;
use xmpp_examples::ws;
use xmpp_examples::{
    Args, Conn, SERVER_FLAGS, SERVER_SWITCHES, SERVER_USAGE, die, direct_tls_listen, random_seed,
    server_config,
};
use xmpp_sansio::server::{Server, ServerEvent};
use xmpp_sansio::stream::Framing;
use xmpp_sansio::xml::Element;

/// Longest wait on the socket before looking at the stanzas routed to this session.
const TICK: Duration = Duration::from_millis(20);

/// The hub of this server: its sessions' mailboxes are `std::sync::mpsc` channels.
type StdHub = Hub<SyncSender<Element>>;

fn main() {
    let usage = format!("usage: server {SERVER_USAGE} [--websocket]");
    let switches = [SERVER_SWITCHES, &["websocket"]].concat();
    let args = Args::parse(&usage, SERVER_FLAGS, &switches);
    let (config, listen) = server_config(&args, &usage);
    let direct = direct_tls_listen(&args, &config, &usage);
    let websocket = args.switch("websocket");
    let hub: Arc<StdHub> = Arc::new(Hub::new(config));
    let listener =
        TcpListener::bind(&listen).unwrap_or_else(|e| die(&format!("listen {listen}: {e}")));
    // The address bound, so that `--listen 127.0.0.1:0` tells which port it got.
    let bound = listener
        .local_addr()
        .map_or_else(|_| listen.clone(), |a| a.to_string());
    if websocket {
        let scheme = if hub.config.tls.is_some() {
            "wss"
        } else {
            "ws"
        };
        println!("websocket {scheme}://{bound}/");
    }
    // The direct TLS listener's address too (`direct-tls listening ...`), before the
    // line that says the server is ready.
    let direct = direct.map(|(addr, tls)| {
        let l = TcpListener::bind(&addr)
            .unwrap_or_else(|e| die(&format!("direct-tls-listen {addr}: {e}")));
        let bound = l.local_addr().map_or(addr, |a| a.to_string());
        println!("direct-tls listening {bound}");
        (l, tls)
    });
    println!("listening {bound}");
    // Detached sessions whose resumption timeout passed end here.
    let sweeper = Arc::clone(&hub);
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(Duration::from_secs(1));
            sweeper.sweep(Instant::now());
        }
    });
    if let Some((listener, tls)) = direct {
        let hub = Arc::clone(&hub);
        std::thread::spawn(move || accept(&listener, &hub, false, Some(tls)));
    }
    accept(&listener, &hub, websocket, None);
}

/// Takes the connections of `listener`, one thread each: TLS from the first byte with
/// `direct` (the direct TLS listener), else as `--listen` says (`websocket`).
fn accept(
    listener: &TcpListener,
    hub: &Arc<StdHub>,
    websocket: bool,
    direct: Option<Arc<rustls::ServerConfig>>,
) {
    for tcp in listener.incoming() {
        let Ok(tcp) = tcp else { continue };
        let hub = Arc::clone(hub);
        let direct = direct.clone();
        std::thread::spawn(move || {
            let peer = tcp
                .peer_addr()
                .map_or_else(|_| "?".to_owned(), |a| a.to_string());
            println!("[{peer}] connected");
            if let Err(e) = serve(&hub, tcp, &peer, websocket, direct) {
                println!("[{peer}] transport error: {e}");
            }
        });
    }
}

fn serve(
    hub: &StdHub,
    tcp: TcpStream,
    peer: &str,
    websocket: bool,
    direct: Option<Arc<rustls::ServerConfig>>,
) -> std::io::Result<()> {
    tcp.set_nodelay(true).ok();
    let mut config = C2s::config(hub);
    let mut conn = Conn::Plain(tcp);
    let mut direct_bindings = None;
    if let Some(tls) = direct {
        let bindings;
        (conn, bindings) = conn.start_tls_server(tls)?;
        direct_bindings = Some(bindings);
    } else if websocket {
        // `wss:` when there is a certificate: TLS first, then the WebSocket handshake;
        // the stream is then encrypted from its start (RFC 7395 section 3.7).
        let secure = hub.config.tls.is_some();
        if let Some(tls) = hub.config.tls.clone() {
            (conn, _) = conn.start_tls_server(tls)?;
        }
        conn = ws::accept(conn)?;
        println!("[{peer}] websocket up");
        config.framing = Framing::WebSocket { secure };
    }
    let mut server = Server::new(config, random_seed(), Instant::now());
    let mut session = Session(C2s::new(hub, peer));
    if let Some(bindings) = direct_bindings {
        session
            .0
            .direct_tls_up(&mut server, conn.alpn(), bindings)?;
    }
    let mut conn = Some(conn);
    let result = drive(&mut server, &mut conn, &mut session);
    session.0.finish(&mut server);
    println!("[{peer}] closed");
    result
}

/// One client's session, with TLS set up through rustls on the blocking socket.
struct Session<'a>(C2s<'a, SyncSender<Element>>);

impl Embedder<Server> for Session<'_> {
    fn on_event(
        &mut self,
        server: &mut Server,
        conn: &mut Option<Conn>,
        event: ServerEvent,
    ) -> std::io::Result<()> {
        if let ServerEvent::TlsRequested = event {
            // `<proceed/>` first, then the handshake on the same socket.
            while let Some(bytes) = server.poll_transmit() {
                conn.as_mut().expect("connected").send(&bytes)?;
            }
            let plain = conn.take().expect("connected");
            let config = self.0.hub.config.tls.clone();
            let config = config.expect("the core asks for TLS only when enabled");
            let (tls, bindings) = plain.start_tls_server(config)?;
            *conn = Some(tls);
            self.0
                .log(&format!("tls up, {} channel binding(s)", bindings.len()));
            answered(server.tls_established(Instant::now(), bindings));
            return Ok(());
        }
        self.0.on_event(server, event);
        Ok(())
    }

    /// Stanzas other sessions routed here; the socket is read for at most a [`TICK`].
    fn outside(&mut self, server: &mut Server) -> Option<Duration> {
        // Once the stream is over, what waits stays in the mailbox, which a detached session
        // keeps for its resumption: taken now, `send` would refuse it (the stream ended) and
        // it would be lost (found by the slixmpp XEP-0198 interop row, 1 run in 4).
        if server.is_closed() {
            return Some(TICK);
        }
        if let Some(rx) = &self.0.rx {
            while let Ok(stanza) = rx.try_recv() {
                answered(server.send(Instant::now(), &stanza));
            }
        }
        Some(TICK)
    }

    fn log(&self, line: &str) {
        self.0.log(line);
    }
}
