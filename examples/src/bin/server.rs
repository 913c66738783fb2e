//! A small c2s server over `xmpp_sansio::server::Server`: one thread per connection,
//! STARTTLS with rustls (required, optional or disabled), accounts from `--user` flags, message and presence routing between
//! connected clients, an empty roster, `service-unavailable` for every other iq. Runs until
//! killed.

use std::collections::HashMap;
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use xmpp_examples::drive::{Embedder, answered, drive};
use xmpp_examples::{
    Args, Conn, Route, die, random_bytes, random_seed, route, server_tls, tls_policy,
};
use xmpp_sansio::error::StanzaErrorCondition;
use xmpp_sansio::jid::FullJid;
use xmpp_sansio::sasl::UserCredential;
use xmpp_sansio::server::{Server, ServerConfig, ServerEvent};
use xmpp_sansio::stanza::Stanza;
use xmpp_sansio::stream::TlsPolicy;
use xmpp_sansio::xml::Element;

const USAGE: &str = "usage: server --listen HOST:PORT --domain DOMAIN \
    [--tls required|optional|disabled] [--cert CERT.pem --key KEY.pem] \
    --user NAME:PASSWORD [--user NAME:PASSWORD ...] [--allow-plain]";

/// Longest wait on the socket before looking at the stanzas routed to this session.
const TICK: Duration = Duration::from_millis(20);

/// The online sessions, by full JID: where to send their stanzas.
type Sessions = Arc<Mutex<HashMap<FullJid, SyncSender<Element>>>>;

/// Stanzas that may wait for one session. A session whose client does not read blocks on
/// its socket and stops taking stanzas; without a bound, its queue would grow with all that
/// other clients send it.
const ROUTED_QUEUE: usize = 256;

struct Shared {
    domain: String,
    accounts: HashMap<String, String>,
    allow_plain: bool,
    sasl_secret: Vec<u8>,
    tls_policy: TlsPolicy,
    /// `None` when TLS is disabled.
    tls: Option<Arc<rustls::ServerConfig>>,
    sessions: Sessions,
}

fn main() {
    let args = Args::parse(
        USAGE,
        &["listen", "domain", "tls", "cert", "key", "user"],
        &["allow-plain"],
    );
    let listen = args.require("listen", USAGE);
    let tls_policy = tls_policy(&args, USAGE);
    let tls = match tls_policy {
        TlsPolicy::Disabled => None,
        _ => Some(
            server_tls(args.require("cert", USAGE), args.require("key", USAGE))
                .unwrap_or_else(|e| die(&format!("--cert/--key: {e}"))),
        ),
    };
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
    let listener =
        TcpListener::bind(listen).unwrap_or_else(|e| die(&format!("listen {listen}: {e}")));
    // The address bound, so that `--listen 127.0.0.1:0` tells which port it got.
    let bound = listener
        .local_addr()
        .map_or_else(|_| listen.to_owned(), |a| a.to_string());
    println!("listening {bound}");
    for tcp in listener.incoming() {
        let Ok(tcp) = tcp else { continue };
        let shared = Arc::clone(&shared);
        std::thread::spawn(move || {
            let peer = tcp
                .peer_addr()
                .map_or_else(|_| "?".to_owned(), |a| a.to_string());
            println!("[{peer}] connected");
            if let Err(e) = serve(&shared, tcp, &peer) {
                println!("[{peer}] transport error: {e}");
            }
        });
    }
}

fn serve(shared: &Shared, tcp: TcpStream, peer: &str) -> std::io::Result<()> {
    tcp.set_nodelay(true).ok();
    let mut config = ServerConfig::new(shared.domain.clone(), shared.sasl_secret.clone());
    config.tls = shared.tls_policy;
    config.allow_plain_without_tls = shared.allow_plain;
    let mut server = Server::new(config, random_seed(), Instant::now());
    let mut conn = Some(Conn::Plain(tcp));
    let (tx, rx): (SyncSender<Element>, Receiver<Element>) = sync_channel(ROUTED_QUEUE);
    let mut session = Session {
        shared,
        peer,
        tx,
        rx,
        bound: None,
    };
    let result = drive(&mut server, &mut conn, &mut session);
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
    tx: SyncSender<Element>,
    rx: Receiver<Element>,
    bound: Option<FullJid>,
}

impl Embedder<Server> for Session<'_> {
    fn on_event(
        &mut self,
        server: &mut Server,
        conn: &mut Option<Conn>,
        event: ServerEvent,
    ) -> std::io::Result<()> {
        let (shared, peer, now) = (self.shared, self.peer, Instant::now());
        match event {
            ServerEvent::StreamOpened => println!("[{peer}] stream opened"),
            ServerEvent::TlsRequested => {
                // `<proceed/>` first, then the handshake on the same socket.
                while let Some(bytes) = server.poll_transmit() {
                    conn.as_mut().expect("connected").send(&bytes)?;
                }
                let plain = conn.take().expect("connected");
                let config = shared
                    .tls
                    .clone()
                    .expect("the core asks for TLS only when enabled");
                let (tls, bindings) = plain.start_tls_server(config)?;
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
                // The account acts as itself: the core grants no authzid but its own bare JID.
                answered(server.credentials(now, credential));
            }
            ServerEvent::ExternalRequest { .. } => {
                // No client certificates here (EXTERNAL is never offered without one).
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
            // Only for namespaces this server would list in its configuration: none.
            ServerEvent::Nonza(_) => {}
            // `Closed` (the driver sees the end), and events a later version adds.
            _ => {}
        }
        Ok(())
    }

    /// Stanzas other sessions routed here; the socket is read for at most a [`TICK`].
    fn outside(&mut self, server: &mut Server) -> Option<Duration> {
        while let Ok(stanza) = self.rx.try_recv() {
            answered(server.send(Instant::now(), &stanza));
        }
        Some(TICK)
    }

    fn log(&self, line: &str) {
        println!("[{}] {line}", self.peer);
    }
}

/// A stanza from this session's client (with `from` stamped by the core).
fn handle_stanza(shared: &Shared, server: &mut Server, stanza: Stanza) {
    let el = stanza.element();
    let to = match route(el) {
        Route::Reply(reply) => {
            answered(server.send_with(Instant::now(), |w| {
                w.raw(&reply);
            }));
            return;
        }
        Route::ServiceUnavailable => {
            answered(server.reply_error(
                Instant::now(),
                &stanza,
                StanzaErrorCondition::ServiceUnavailable,
            ));
            return;
        }
        Route::Drop => return,
        Route::Deliver(to) => to,
    };
    let targets: Vec<SyncSender<Element>> = {
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
    if targets.is_empty() {
        if el.name() != "presence" {
            answered(server.reply_error(
                Instant::now(),
                &stanza,
                StanzaErrorCondition::ServiceUnavailable,
            ));
        }
        return;
    }
    let (mut delivered, mut full) = (false, false);
    for tx in targets {
        // A session that went away meanwhile is no error; a full queue is.
        match tx.try_send(el.clone()) {
            Ok(()) => delivered = true,
            Err(TrySendError::Full(_)) => full = true,
            Err(TrySendError::Disconnected(_)) => {}
        }
    }
    if full && !delivered && el.name() != "presence" {
        // RFC 6120 8.3.3.18: the recipient lacks the resources to take it now.
        answered(server.reply_error(
            Instant::now(),
            &stanza,
            StanzaErrorCondition::ResourceConstraint,
        ));
    }
}
