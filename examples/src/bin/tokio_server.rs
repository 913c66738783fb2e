//! The `server` example on tokio: one task and one `xmpp_proto::server::Server` per
//! connection, STARTTLS through tokio-rustls (required, optional or disabled), accounts from
//! `--user` flags, message and presence routing between connected clients through bounded
//! channels, an empty roster, `service-unavailable` for every other iq. Same flags and
//! output as `server`; runs until killed.
//!
//! Each task waits with `tokio::select!` for whichever comes first: a read, a stanza routed
//! to its session, or the core's next deadline.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::mpsc::{Receiver, Sender, channel};
use xmpp_examples::tokio_net::AsyncConn;
use xmpp_examples::{
    Args, Input, Route, die, random_bytes, random_seed, route, server_tls, tls_policy,
};
use xmpp_proto::error::StanzaErrorCondition;
use xmpp_proto::jid::FullJid;
use xmpp_proto::sasl::UserCredential;
use xmpp_proto::server::{Server, ServerConfig, ServerEvent};
use xmpp_proto::stanza::Stanza;
use xmpp_proto::stream::TlsPolicy;
use xmpp_proto::xml::Element;

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
    let (tx, mut rx): (Sender<Element>, Receiver<Element>) = channel(ROUTED_QUEUE);
    let mut bound: Option<FullJid> = None;
    let mut buf = vec![0u8; 16 * 1024];
    let result = loop {
        while let Some(bytes) = server.poll_transmit() {
            if let Err(e) = conn.as_mut().expect("connected").send(&bytes).await {
                println!("[{peer}] write failed: {e}");
                server.handle_eof();
            }
        }
        let Some(event) = server.poll_event() else {
            // Nothing to hand over: wait for a read, a routed stanza or the deadline.
            let deadline = server.poll_timeout();
            let sleep = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            };
            let conn = conn.as_mut().expect("connected");
            tokio::select! {
                read = conn.read(&mut buf) => match read {
                    Ok(Input::Data(n)) => {
                        // An error here is already a stream error queued for the client.
                        let _ = server.handle_input(Instant::now(), &buf[..n]);
                    }
                    Ok(Input::Eof | Input::Timeout) => server.handle_eof(),
                    Ok(Input::Truncated) => {
                        println!("[{peer}] tls: connection ended without close_notify");
                        server.handle_eof();
                    }
                    Err(e) => {
                        server.handle_eof();
                        break Err(e);
                    }
                },
                Some(stanza) = rx.recv() => {
                    let _ = server.send(Instant::now(), &stanza);
                }
                () = sleep => server.handle_timeout(Instant::now()),
            }
            continue;
        };
        match event {
            ServerEvent::StreamOpened => println!("[{peer}] stream opened"),
            ServerEvent::TlsRequested => {
                // `<proceed/>` was flushed above; the handshake runs on the same socket.
                let plain = conn.take().expect("connected");
                let config = shared
                    .tls
                    .clone()
                    .expect("the core asks for TLS only when enabled");
                let (tls, bindings) = plain.start_tls_server(config).await?;
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
                let _ = server.credentials(Instant::now(), credential);
            }
            ServerEvent::ExternalRequest { .. } => {
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
            // No nonza namespaces are configured: none arrives.
            ServerEvent::Nonza(_) => {}
            ServerEvent::Closed(_) => break Ok(()),
        }
    };
    if let Some(full) = bound {
        shared.sessions.lock().unwrap().remove(&full);
    }
    let conn = conn.as_mut().expect("connected");
    while let Some(bytes) = server.poll_transmit() {
        let _ = conn.send(&bytes).await;
    }
    // Over TLS, close_notify before the TCP end, so the client sees an end, not a cut; and
    // the client's own end, to tell whether it sent one.
    if let Ok(Input::Truncated) = conn.close().await {
        println!("[{peer}] tls: connection ended without close_notify");
    }
    println!("[{peer}] closed");
    result
}

/// A stanza from this session's client (with `from` stamped by the core).
fn handle_stanza(shared: &Shared, server: &mut Server, stanza: Stanza) {
    let now = Instant::now();
    let el = stanza.element();
    let to = match route(el) {
        Route::Reply(reply) => {
            let _ = server.send_with(now, |w| {
                w.raw(&reply);
            });
            return;
        }
        Route::ServiceUnavailable => {
            let _ = server.reply_error(now, &stanza, StanzaErrorCondition::ServiceUnavailable);
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
            let _ = server.reply_error(now, &stanza, StanzaErrorCondition::ServiceUnavailable);
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
        let _ = server.reply_error(now, &stanza, StanzaErrorCondition::ResourceConstraint);
    }
}
