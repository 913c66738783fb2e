//! Memory of c2s sessions, client and server side: 10,000 in-memory client/server pairs
//! (PLAIN, TLS off, the server's configuration shared), driven online through the public
//! API, one presence and one message sent each way, everything drained, then counted with
//! a counting global allocator:
//!
//! 1. the heap an idle online session holds, per session, in bytes and in blocks, drained,
//!    then once its idle period has passed (`handle_timeout` when `poll_timeout` says, as
//!    the embedder's loop does: the client's keepalive, the server's idle trim), with no
//!    call made to trim it; beside `size_of` of the role;
//! 2. the same after each side of 1,000 of the pairs has sent and received one 100 KiB
//!    message (drained): it must come back to the idle figure;
//! 3. a server fed 4 MB of `<presence/>` in one call, then drained: what it keeps;
//! 4. the idle rows again with stream management (XEP-0198) on both sides, resumption
//!    included, every stanza acknowledged (an ack asked after each one).
//!
//! It prints tables and checks nothing: it is not a test.
//!
//! ```text
//! cargo bench -p xmpp-benches --bench sessions
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use xmpp_benches::counting::{Counting, live, snapshot};
use xmpp_sansio::client::{Client, ClientConfig, ClientEvent, TlsPolicy};
use xmpp_sansio::sasl::{Mechanism, UserCredential};
use xmpp_sansio::server::{Server, ServerConfig, ServerEvent};
use xmpp_sansio::xml::{Element, parse_element};

#[global_allocator]
static GLOBAL: Counting = Counting;

const PAIRS: usize = 10_000;
/// Past the client's keepalive and the server's idle trim (60 s each).
const IDLE: Duration = Duration::from_secs(61);
const LARGE_PAIRS: usize = 1_000;

fn server_config() -> Arc<ServerConfig> {
    server_config_with(false)
}

fn server_config_with(sm: bool) -> Arc<ServerConfig> {
    let mut config = ServerConfig::new("example.com", b"bench secret".to_vec());
    config.tls = TlsPolicy::Disabled;
    config.allow_plain_without_tls = true;
    config.mechanisms = vec![Mechanism::Plain];
    if sm {
        config.stream_management = true;
        config.resumption = Some(300);
        config.ack_request_every = 1;
    }
    Arc::new(config)
}

/// One account's configuration, shared by its sessions as the server's is (each session
/// has its own seed); what it costs is printed apart, once per account.
fn client_config() -> Arc<ClientConfig> {
    client_config_with(false)
}

fn client_config_with(sm: bool) -> Arc<ClientConfig> {
    let mut config = ClientConfig::new("juliet@example.com".parse().expect("a JID"), "pw");
    config.tls = TlsPolicy::Disabled;
    config.allow_plain_without_tls = true;
    config.mechanisms = vec![Mechanism::Plain];
    if sm {
        config.stream_management = true;
        config.resumption = true;
        config.ack_request_every = 1;
    }
    Arc::new(config)
}

fn element(xml: &str) -> Element {
    parse_element("jabber:client", xml.as_bytes()).expect("an element")
}

/// Moves bytes both ways and answers the server's questions until neither side has
/// anything left; returns the stanzas each side received.
fn pump(c: &mut Client, s: &mut Server, now: Instant) -> (usize, usize) {
    let (mut to_client, mut to_server) = (0, 0);
    loop {
        let mut quiet = true;
        while let Some(bytes) = c.poll_transmit() {
            quiet = false;
            s.handle_input(now, &bytes).expect("server input");
        }
        while let Some(bytes) = s.poll_transmit() {
            quiet = false;
            c.handle_input(now, &bytes).expect("client input");
        }
        while let Some(event) = s.poll_event() {
            quiet = false;
            match event {
                ServerEvent::AuthRequest { .. } => s
                    .credentials(now, UserCredential::Password("pw".into()))
                    .expect("credentials"),
                ServerEvent::BindRequest { account, resource } => {
                    let resource = resource.unwrap_or_else(|| s.make_resource());
                    let jid = account.with_resource(&resource).expect("a full JID");
                    s.bind(now, jid).expect("bind");
                }
                ServerEvent::Stanza(_) => to_server += 1,
                ServerEvent::Closed(reason) => panic!("server closed: {reason}"),
                _ => {}
            }
        }
        while let Some(event) = c.poll_event() {
            quiet = false;
            match event {
                ClientEvent::Stanza(_) => to_client += 1,
                ClientEvent::Closed(reason) => panic!("client closed: {reason}"),
                _ => {}
            }
        }
        if quiet {
            return (to_client, to_server);
        }
    }
}

/// Live heap bytes and blocks.
fn heap() -> (usize, i64) {
    let s = snapshot();
    (live(), s.allocs as i64 - s.deallocs as i64)
}

/// What dropping the sessions gave back, per session: bytes and blocks of heap (the
/// vector's own buffer, which holds the sessions inline, is not counted).
fn held<T>(mut sessions: Vec<T>) -> (f64, f64) {
    let n = sessions.len() as f64;
    let (bytes, blocks) = heap();
    sessions.clear();
    let (after, after_blocks) = heap();
    (
        (bytes - after) as f64 / n,
        (blocks - after_blocks) as f64 / n,
    )
}

fn row(what: &str, side: &str, (bytes, blocks): (f64, f64)) {
    println!("| {what:<55} | {side:<6} | {bytes:>8.0} | {blocks:>6.1} |");
}

/// The rows of both sides, their sessions dropped.
fn rows(what: &str, clients: Vec<Client>, servers: Vec<Server>) {
    row(what, "client", held(clients));
    row(what, "server", held(servers));
}

/// The idle period passes: each side's timers fire as the embedder's loop would fire them,
/// and what they write is delivered.
fn idle(clients: &mut [Client], servers: &mut [Server], later: Instant) {
    for (c, s) in clients.iter_mut().zip(servers.iter_mut()) {
        for _ in 0..2 {
            if c.poll_timeout().is_some_and(|t| t <= later) {
                c.handle_timeout(later);
            }
            if s.poll_timeout().is_some_and(|t| t <= later) {
                s.handle_timeout(later);
            }
            pump(c, s, later);
        }
    }
}

/// `PAIRS` pairs online, having exchanged a presence and a message each way.
fn online_pairs(now: Instant) -> (Vec<Client>, Vec<Server>) {
    online_pairs_with(now, false)
}

/// The same, with stream management on both sides when `sm`; then every stanza is
/// acknowledged before the pairs are returned.
fn online_pairs_with(now: Instant, sm: bool) -> (Vec<Client>, Vec<Server>) {
    let config = server_config_with(sm);
    let account = client_config_with(sm);
    let (mut clients, mut servers) = (Vec::new(), Vec::new());
    let presence = element("<presence/>");
    let to_juliet =
        element("<message to='juliet@example.com' type='chat'><body>hi</body></message>");
    let to_romeo = element("<message to='romeo@example.com' type='chat'><body>hi</body></message>");
    for i in 0..PAIRS as u64 {
        let mut c = Client::new(Arc::clone(&account), i, now);
        let mut s = Server::new(Arc::clone(&config), i, now);
        c.open(now).expect("open");
        pump(&mut c, &mut s, now);
        c.send(now, &presence).expect("client send");
        c.send(now, &to_romeo).expect("client send");
        s.send(now, &presence).expect("server send");
        s.send(now, &to_juliet).expect("server send");
        assert_eq!(pump(&mut c, &mut s, now), (2, 2), "both stanzas each way");
        if sm {
            pump(&mut c, &mut s, now);
            assert_eq!((c.unacked(), s.unacked()), (Some(0), Some(0)), "all acked");
        }
        clients.push(c);
        servers.push(s);
    }
    (clients, servers)
}

fn main() {
    let now = Instant::now();
    println!(
        "size_of: Server {} B, Client {} B, ServerEvent {} B, ClientEvent {} B",
        size_of::<Server>(),
        size_of::<Client>(),
        size_of::<ServerEvent>(),
        size_of::<ClientEvent>(),
    );
    let base = live();
    let account = client_config();
    let client_heap = live() - base;
    let base = live();
    let server = server_config();
    let server_heap = live() - base;
    println!(
        "configuration, held once (Arc) by all sessions of an account or a server: \
         ClientConfig {client_heap} B, ServerConfig {server_heap} B (heap, the Arc included)"
    );
    drop((account, server));
    println!();
    println!("| state | side | heap B / session | blocks / session |");
    println!("| --- | --- | ---: | ---: |");

    let (clients, servers) = online_pairs(now);
    rows("idle online, drained", clients, servers);
    let (mut clients, mut servers) = online_pairs(now);
    idle(&mut clients, &mut servers, now + IDLE);
    rows("idle online, after the idle period", clients, servers);
    let (mut clients, mut servers) = online_pairs(now);
    clients.iter_mut().for_each(Client::shrink);
    servers.iter_mut().for_each(Server::shrink);
    rows("idle online, drained, shrink() called", clients, servers);

    let (mut clients, mut servers) = online_pairs(now);
    let body = "x".repeat(100 * 1024);
    let large_to_romeo = element(&format!(
        "<message to='romeo@example.com'><body>{body}</body></message>"
    ));
    let large_to_juliet = element(&format!(
        "<message to='juliet@example.com'><body>{body}</body></message>"
    ));
    clients.truncate(LARGE_PAIRS);
    servers.truncate(LARGE_PAIRS);
    for (c, s) in clients.iter_mut().zip(&mut servers) {
        c.send(now, &large_to_romeo).expect("client send");
        s.send(now, &large_to_juliet).expect("server send");
        assert_eq!(pump(c, s, now), (1, 1), "the large stanza each way");
    }
    drop((large_to_romeo, large_to_juliet));
    let (mut clients2, mut servers2) = (Vec::new(), Vec::new());
    let half = LARGE_PAIRS / 2;
    clients2.extend(clients.drain(half..));
    servers2.extend(servers.drain(half..));
    rows("after a 100 KiB stanza each way, drained", clients, servers);
    idle(&mut clients2, &mut servers2, now + IDLE);
    rows("the same, after the idle period", clients2, servers2);

    let (clients, servers) = online_pairs_with(now, true);
    rows("stream management on, all acked, drained", clients, servers);
    let (mut clients, mut servers) = online_pairs_with(now, true);
    idle(&mut clients, &mut servers, now + IDLE);
    rows(
        "stream management on, all acked, after the idle period",
        clients,
        servers,
    );
    let (mut clients, mut servers) = online_pairs_with(now, true);
    clients.iter_mut().for_each(Client::shrink);
    servers.iter_mut().for_each(Server::shrink);
    rows(
        "stream management on, all acked, shrink() called",
        clients,
        servers,
    );

    // One call of 4 MB: the queue grows to hold every event; drained, what stays.
    let config = server_config();
    let mut c = Client::new(client_config(), 1, now);
    let mut s = Server::new(config, 1, now);
    c.open(now).expect("open");
    pump(&mut c, &mut s, now);
    let flood = "<presence/>".repeat(4 * 1024 * 1024 / 11);
    s.handle_input(now, flood.as_bytes()).expect("flood");
    let events = std::iter::from_fn(|| s.poll_event()).count();
    while s.poll_transmit().is_some() {}
    assert_eq!(events, 4 * 1024 * 1024 / 11);
    drop(c);
    row(
        "server fed 4 MB of presence in one call, drained",
        "server",
        held(vec![s]),
    );
}
