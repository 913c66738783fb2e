//! A small c2s server over `xmpp_proto::server::Server`: one thread per connection,
//! STARTTLS with rustls (required, optional or disabled), accounts from `--user` flags, message and presence routing between
//! connected clients, an empty roster, `service-unavailable` for every other iq. Runs until
//! killed.

use std::collections::HashMap;
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use xmpp_examples::{
    Args, Conn, Input, Route, die, random_bytes, random_seed, route, server_tls, tls_policy,
};
use xmpp_proto::error::StanzaErrorCondition;
use xmpp_proto::jid::FullJid;
use xmpp_proto::sasl::UserCredential;
use xmpp_proto::server::{Server, ServerConfig, ServerEvent};
use xmpp_proto::stanza::Stanza;
use xmpp_proto::stream::TlsPolicy;
use xmpp_proto::xml::Element;

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
    let mut bound: Option<FullJid> = None;
    // One socket read per handle_input call, and every event and byte it produced handled
    // before the next read: a call queues all that its input completes, so the read size
    // bounds that memory (xmpp-proto's crate docs, "Feeding input and memory").
    let mut buf = vec![0u8; 16 * 1024];
    let result = loop {
        // Stanzas other sessions routed here.
        while let Ok(stanza) = rx.try_recv() {
            let _ = server.send(Instant::now(), &stanza);
        }
        while let Some(bytes) = server.poll_transmit() {
            if let Err(e) = conn.as_mut().expect("connected").send(&bytes) {
                println!("[{peer}] write failed: {e}");
                server.handle_eof();
            }
        }
        let Some(event) = server.poll_event() else {
            let wait = server.poll_timeout().map_or(TICK, |t| {
                t.saturating_duration_since(Instant::now()).min(TICK)
            });
            match conn
                .as_mut()
                .expect("connected")
                .read_within(&mut buf, wait)
            {
                Ok(Input::Data(n)) => {
                    // An error here is already a stream error queued for the client.
                    let _ = server.handle_input(Instant::now(), &buf[..n]);
                }
                Ok(Input::Eof) => server.handle_eof(),
                Ok(Input::Truncated) => {
                    println!("[{peer}] tls: connection ended without close_notify");
                    server.handle_eof();
                }
                Ok(Input::Timeout) => server.handle_timeout(Instant::now()),
                Err(e) => {
                    server.handle_eof();
                    break Err(e);
                }
            }
            continue;
        };
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
                conn = Some(tls);
                println!("[{peer}] tls up, {} channel binding(s)", bindings.len());
                server
                    .tls_established(Instant::now(), bindings)
                    .expect("TLS was requested");
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
                let _ = server.credentials(Instant::now(), credential);
            }
            ServerEvent::ExternalRequest { .. } => {
                // No client certificates here (EXTERNAL is never offered without one).
                let _ = server.refuse_external(Instant::now());
            }
            ServerEvent::Authenticated(jid) => println!("[{peer}] authenticated {jid}"),
            ServerEvent::BindRequest { account, resource } => {
                let resource = resource.unwrap_or_else(|| server.make_resource());
                let taken = |f: &FullJid| shared.sessions.lock().unwrap().contains_key(f);
                let _ = match account.with_resource(&resource) {
                    Ok(f) if !taken(&f) => server.bind(Instant::now(), f),
                    Ok(_) => server.reject_bind(Instant::now(), StanzaErrorCondition::Conflict),
                    Err(_) => server.reject_bind(Instant::now(), StanzaErrorCondition::BadRequest),
                };
            }
            ServerEvent::Online(full) => {
                println!("[{peer}] online {full}");
                shared
                    .sessions
                    .lock()
                    .unwrap()
                    .insert(full.clone(), tx.clone());
                bound = Some(full);
            }
            ServerEvent::Stanza(stanza) => {
                println!("[{peer}] stanza {stanza}");
                handle_stanza(shared, &mut server, stanza);
            }
            ServerEvent::PeerStreamError(error) => {
                println!("[{peer}] peer stream error {}", error.condition.as_str())
            }
            // Only for namespaces this server would list in its configuration: none.
            ServerEvent::Nonza(_) => {}
            ServerEvent::Closed(_) => break Ok(()),
        }
    };
    if let Some(full) = bound {
        shared.sessions.lock().unwrap().remove(&full);
    }
    // Flush the closing tag or stream error the core may have queued last.
    let conn = conn.as_mut().expect("connected");
    while let Some(bytes) = server.poll_transmit() {
        let _ = conn.send(&bytes);
    }
    // Over TLS, close_notify before the TCP end, so the client sees an end, not a cut; and
    // the client's own end, to tell whether it sent one.
    if let Ok(Input::Truncated) = conn.close() {
        println!("[{peer}] tls: connection ended without close_notify");
    }
    println!("[{peer}] closed");
    result
}

/// A stanza from this session's client (with `from` stamped by the core).
fn handle_stanza(shared: &Shared, server: &mut Server, stanza: Stanza) {
    let el = stanza.element();
    let to = match route(el) {
        Route::Reply(reply) => {
            let _ = server.send_with(Instant::now(), |w| {
                w.raw(&reply);
            });
            return;
        }
        Route::ServiceUnavailable => {
            let _ = server.reply_error(
                Instant::now(),
                &stanza,
                StanzaErrorCondition::ServiceUnavailable,
            );
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
            let _ = server.reply_error(
                Instant::now(),
                &stanza,
                StanzaErrorCondition::ServiceUnavailable,
            );
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
        let _ = server.reply_error(
            Instant::now(),
            &stanza,
            StanzaErrorCondition::ResourceConstraint,
        );
    }
}
