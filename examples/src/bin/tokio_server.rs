//! The `server` example on tokio: one task and one `xmpp_sansio::server::Server` per
//! connection, STARTTLS through tokio-rustls (required, optional or disabled), accounts from
//! `--user` flags, message and presence routing between connected clients through bounded
//! channels, an empty roster, `service-unavailable` for every other iq. Same flags and
//! output as `server`; runs until killed.
//!
//! Each task runs `xmpp_examples::tokio_net::drive_async`, the loop every role and tokio
//! example shares: it waits with `tokio::select!` for whichever comes first, a read, a
//! stanza routed to its session, or the core's next deadline.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::mpsc::{Receiver, Sender, channel};
use xmpp_examples::drive::answered;
use xmpp_examples::tokio_net::{AsyncConn, AsyncEmbedder, drive_async};
use xmpp_examples::{Args, Route, die, random_bytes, random_seed, route, server_tls, tls_policy};
use xmpp_sansio::error::StanzaErrorCondition;
use xmpp_sansio::jid::FullJid;
use xmpp_sansio::sasl::UserCredential;
use xmpp_sansio::server::{Server, ServerConfig, ServerEvent};
use xmpp_sansio::stanza::Stanza;
use xmpp_sansio::stream::TlsPolicy;
use xmpp_sansio::xml::Element;

const USAGE: &str = "usage: tokio_server --listen HOST:PORT --domain DOMAIN \
    [--tls required|optional|disabled] [--cert CERT.pem --key KEY.pem] \
    --user NAME:PASSWORD [--user NAME:PASSWORD ...] [--allow-plain]";

/// The online sessions, by full JID: where to send their stanzas.
type Sessions = Arc<Mutex<HashMap<FullJid, Sender<Element>>>>;

/// Stanzas that may wait for one session (see `server`: a client that does not read must
/// not make its queue grow with all that others send it).
const ROUTED_QUEUE: usize = 256;

struct Shared {
    domain: String,
    accounts: HashMap<String, String>,
    allow_plain: bool,
    sasl_secret: Vec<u8>,
    tls_policy: TlsPolicy,
    tls: Option<Arc<rustls::ServerConfig>>,
    sessions: Sessions,
}

fn main() {
    let args = Args::parse(
        USAGE,
        &["listen", "domain", "tls", "cert", "key", "user"],
        &["allow-plain"],
    );
    let listen = args.require("listen", USAGE).to_owned();
    let tls_policy = tls_policy(&args, USAGE);
    let tls = (tls_policy != TlsPolicy::Disabled).then(|| {
        server_tls(args.require("cert", USAGE), args.require("key", USAGE))
            .unwrap_or_else(|e| die(&format!("--cert/--key: {e}")))
    });
    let mut accounts = HashMap::new();
    for user in args.all("user") {
        let Some((name, password)) = user.split_once(':') else {
            die("--user wants NAME:PASSWORD")
        };
        accounts.insert(name.to_owned(), password.to_owned());
    }
    let shared = Arc::new(Shared {
        domain: args.require("domain", USAGE).to_owned(),
        accounts,
        allow_plain: args.switch("allow-plain"),
        sasl_secret: random_bytes::<32>().to_vec(),
        tls_policy,
        tls,
        sessions: Arc::default(),
    });
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
        println!("listening {bound}");
        loop {
            let Ok((tcp, addr)) = listener.accept().await else {
                continue;
            };
            let shared = Arc::clone(&shared);
            tokio::spawn(async move {
                let peer = addr.to_string();
                println!("[{peer}] connected");
                if let Err(e) = serve(&shared, tcp, &peer).await {
                    println!("[{peer}] transport error: {e}");
                }
            });
        }
    });
}

async fn serve(shared: &Shared, tcp: TcpStream, peer: &str) -> std::io::Result<()> {
    tcp.set_nodelay(true).ok();
    let mut config = ServerConfig::new(shared.domain.clone(), shared.sasl_secret.clone());
    config.tls = shared.tls_policy;
    config.allow_plain_without_tls = shared.allow_plain;
    let mut server = Server::new(config, random_seed(), Instant::now());
    let mut conn = Some(AsyncConn::Plain(tcp));
    let (tx, rx): (Sender<Element>, Receiver<Element>) = channel(ROUTED_QUEUE);
    let mut session = Session {
        shared,
        peer,
        tx,
        rx,
        bound: None,
    };
    let result = drive_async(&mut server, &mut conn, &mut session).await;
    if let Some(full) = session.bound {
        shared.sessions.lock().unwrap().remove(&full);
    }
    println!("[{peer}] closed");
    result
}

/// One client's session: what this server does with its events.
struct Session<'a> {
    shared: &'a Shared,
    peer: &'a str,
    /// Where other sessions route stanzas for this one, and where they arrive.
    tx: Sender<Element>,
    rx: Receiver<Element>,
    bound: Option<FullJid>,
}

impl AsyncEmbedder<Server> for Session<'_> {
    async fn on_event(
        &mut self,
        server: &mut Server,
        conn: &mut Option<AsyncConn>,
        event: ServerEvent,
    ) -> std::io::Result<()> {
        let (shared, peer, now) = (self.shared, self.peer, Instant::now());
        match event {
            ServerEvent::StreamOpened => println!("[{peer}] stream opened"),
            ServerEvent::TlsRequested => {
                // `<proceed/>` was flushed before the event; the handshake runs on the same
                // socket.
                let plain = conn.take().expect("connected");
                let config = shared
                    .tls
                    .clone()
                    .expect("the core asks for TLS only when enabled");
                let (tls, bindings) = plain.start_tls_server(config).await?;
                *conn = Some(tls);
                println!("[{peer}] tls up, {} channel binding(s)", bindings.len());
                answered(server.tls_established(Instant::now(), bindings));
            }
            ServerEvent::AuthRequest {
                mechanism, authcid, ..
            } => {
                println!("[{peer}] auth {mechanism} as {authcid}");
                let credential = match shared.accounts.get(&authcid) {
                    Some(password) => UserCredential::Password(password.clone()),
                    None => UserCredential::Unknown,
                };
                answered(server.credentials(now, credential));
            }
            ServerEvent::ExternalRequest { .. } => {
                answered(server.refuse_external(now));
            }
            ServerEvent::Authenticated(jid) => println!("[{peer}] authenticated {jid}"),
            ServerEvent::BindRequest { account, resource } => {
                let resource = resource.unwrap_or_else(|| server.make_resource());
                let taken = |f: &FullJid| shared.sessions.lock().unwrap().contains_key(f);
                answered(match account.with_resource(&resource) {
                    Ok(f) if !taken(&f) => server.bind(now, f),
                    Ok(_) => server.reject_bind(now, StanzaErrorCondition::Conflict),
                    Err(_) => server.reject_bind(now, StanzaErrorCondition::BadRequest),
                });
            }
            ServerEvent::Online(full) => {
                println!("[{peer}] online {full}");
                shared
                    .sessions
                    .lock()
                    .unwrap()
                    .insert(full.clone(), self.tx.clone());
                self.bound = Some(full);
            }
            ServerEvent::Stanza(stanza) => {
                println!("[{peer}] stanza {stanza}");
                handle_stanza(shared, server, stanza);
            }
            ServerEvent::PeerStreamError(error) => {
                println!("[{peer}] peer stream error {}", error.condition.as_str())
            }
            // No nonza namespaces are configured: none arrives.
            ServerEvent::Nonza(_) => {}
            // `Closed` (the driver sees the end), and events a later version adds.
            _ => {}
        }
        Ok(())
    }

    /// A stanza another session routed here.
    async fn outside(&mut self) -> Option<Element> {
        self.rx.recv().await
    }

    fn log(&self, line: &str) {
        println!("[{}] {line}", self.peer);
    }
}

/// A stanza from this session's client (with `from` stamped by the core).
fn handle_stanza(shared: &Shared, server: &mut Server, stanza: Stanza) {
    let now = Instant::now();
    let el = stanza.element();
    let to = match route(el) {
        Route::Reply(reply) => {
            answered(server.send_with(now, |w| {
                w.raw(&reply);
            }));
            return;
        }
        Route::ServiceUnavailable => {
            answered(server.reply_error(now, &stanza, StanzaErrorCondition::ServiceUnavailable));
            return;
        }
        Route::Drop => return,
        Route::Deliver(to) => to,
    };
    let targets: Vec<Sender<Element>> = {
        let sessions = shared.sessions.lock().unwrap();
        sessions
            .iter()
            .filter(|(full, _)| {
                if to.is_bare() {
                    full.to_bare() == to.to_bare()
                } else {
                    full.as_jid() == &to
                }
            })
            .map(|(_, tx)| tx.clone())
            .collect()
    };
    let presence = el.name() == "presence";
    if targets.is_empty() {
        if !presence {
            answered(server.reply_error(now, &stanza, StanzaErrorCondition::ServiceUnavailable));
        }
        return;
    }
    let (mut delivered, mut full) = (false, false);
    for tx in targets {
        match tx.try_send(el.clone()) {
            Ok(()) => delivered = true,
            Err(TrySendError::Full(_)) => full = true,
            Err(TrySendError::Closed(_)) => {}
        }
    }
    if full && !delivered && !presence {
        // RFC 6120 8.3.3.18: the recipient lacks the resources to take it now.
        answered(server.reply_error(now, &stanza, StanzaErrorCondition::ResourceConstraint));
    }
}
