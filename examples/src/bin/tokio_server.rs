//! The `server` example on tokio: one task and one `xmpp_sansio::server::Server` per
//! connection, STARTTLS through tokio-rustls (required, optional or disabled), and the same
//! IM server behind it (`xmpp_examples::hub`: accounts, in-memory rosters, RFC 6121 routing
//! with `xmpp_sansio::im`, stream management with resumption), its sessions' mailboxes
//! bounded `tokio::sync::mpsc` channels. Same flags and output as `server`, among them
//! `--direct-tls-listen` (XEP-0368 direct TLS, ALPN `xmpp-client`); runs until killed.
//!
//! Each task runs `xmpp_examples::tokio_net::drive_async`, the loop every role and tokio
//! example shares: it waits with `tokio::select!` for whichever comes first, a read, a
//! stanza routed to its session, or the core's next deadline.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc::Sender;
use xmpp_examples::c2s::C2s;
use xmpp_examples::drive::answered;
use xmpp_examples::hub::Hub;
use xmpp_examples::tokio_net::{AsyncConn, AsyncEmbedder, drive_async};
use xmpp_examples::{
    Args, SERVER_FLAGS, SERVER_SWITCHES, SERVER_USAGE, die, direct_tls_listen, random_seed,
    server_config,
};
use xmpp_sansio::server::{Server, ServerEvent};
use xmpp_sansio::xml::Element;

/// The hub of this server: its sessions' mailboxes are `tokio::sync::mpsc` channels.
type TokioHub = Hub<Sender<Element>>;

fn main() {
    let usage = format!("usage: tokio_server {SERVER_USAGE}");
    let args = Args::parse(&usage, SERVER_FLAGS, SERVER_SWITCHES);
    let (config, listen) = server_config(&args, &usage);
    let direct = direct_tls_listen(&args, &config, &usage);
    let hub: Arc<TokioHub> = Arc::new(Hub::new(config));
    // Every connection is a task on one thread: the core does no I/O, and PBKDF2 is the
    // only work that takes long (a multi-threaded runtime would spread it).
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| die(&format!("tokio runtime: {e}")));
    runtime.block_on(async move {
        let listener = TcpListener::bind(&listen)
            .await
            .unwrap_or_else(|e| die(&format!("listen {listen}: {e}")));
        let bound = listener
            .local_addr()
            .map_or_else(|_| listen.clone(), |a| a.to_string());
        // The direct TLS listener's address too, before the line that says it is ready.
        let direct = match direct {
            Some((addr, tls)) => {
                let l = TcpListener::bind(&addr)
                    .await
                    .unwrap_or_else(|e| die(&format!("direct-tls-listen {addr}: {e}")));
                let bound = l.local_addr().map_or(addr, |a| a.to_string());
                println!("direct-tls listening {bound}");
                Some((l, tls))
            }
            None => None,
        };
        println!("listening {bound}");
        // Detached sessions whose resumption timeout passed end here.
        let sweeper = Arc::clone(&hub);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                sweeper.sweep(Instant::now());
            }
        });
        if let Some((listener, tls)) = direct {
            tokio::spawn(accept(listener, Arc::clone(&hub), Some(tls)));
        }
        accept(listener, hub, None).await;
    });
}

/// Takes the connections of `listener`, one task each: TLS from the first byte with
/// `direct` (the direct TLS listener).
async fn accept(
    listener: TcpListener,
    hub: Arc<TokioHub>,
    direct: Option<Arc<rustls::ServerConfig>>,
) {
    loop {
        let Ok((tcp, addr)) = listener.accept().await else {
            continue;
        };
        let hub = Arc::clone(&hub);
        let direct = direct.clone();
        tokio::spawn(async move {
            let peer = addr.to_string();
            println!("[{peer}] connected");
            if let Err(e) = serve(&hub, tcp, &peer, direct).await {
                println!("[{peer}] transport error: {e}");
            }
        });
    }
}

async fn serve(
    hub: &TokioHub,
    tcp: TcpStream,
    peer: &str,
    direct: Option<Arc<rustls::ServerConfig>>,
) -> std::io::Result<()> {
    tcp.set_nodelay(true).ok();
    let mut server = Server::new(C2s::config(hub), random_seed(), Instant::now());
    let mut conn = AsyncConn::Plain(tcp);
    let mut session = Session(C2s::new(hub, peer));
    if let Some(tls) = direct {
        let bindings;
        (conn, bindings) = conn.start_tls_server(tls).await?;
        session
            .0
            .direct_tls_up(&mut server, conn.alpn(), bindings)?;
    }
    let mut conn = Some(conn);
    let result = drive_async(&mut server, &mut conn, &mut session).await;
    session.0.finish(&mut server);
    println!("[{peer}] closed");
    result
}

/// One client's session, with TLS set up through tokio-rustls.
struct Session<'a>(C2s<'a, Sender<Element>>);

impl AsyncEmbedder<Server> for Session<'_> {
    async fn on_event(
        &mut self,
        server: &mut Server,
        conn: &mut Option<AsyncConn>,
        event: ServerEvent,
    ) -> std::io::Result<()> {
        if let ServerEvent::TlsRequested = event {
            // `<proceed/>` was flushed before the event; the handshake runs on the same
            // socket.
            let plain = conn.take().expect("connected");
            let config = self.0.hub.config.tls.clone();
            let config = config.expect("the core asks for TLS only when enabled");
            let (tls, bindings) = plain.start_tls_server(config).await?;
            *conn = Some(tls);
            self.0
                .log(&format!("tls up, {} channel binding(s)", bindings.len()));
            answered(server.tls_established(Instant::now(), bindings));
            return Ok(());
        }
        self.0.on_event(server, event);
        Ok(())
    }

    /// A stanza another session routed here (never, before the session is bound).
    async fn outside(&mut self) -> Option<Element> {
        match &mut self.0.rx {
            Some(rx) => rx.recv().await,
            None => std::future::pending().await,
        }
    }

    fn log(&self, line: &str) {
        self.0.log(line);
    }
}
