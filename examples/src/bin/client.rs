//! An XMPP client over a blocking socket: connects, negotiates (STARTTLS with rustls, SASL,
//! resource binding, all decided by `xmpp_sansio::client::Client`), optionally sends one chat
//! message, prints every event, and closes after `--count` received messages or on timeout.
//!
//! Exit status: 0 when it went online (and received `--count` messages), 2 on a SASL
//! failure, 1 otherwise.

use std::io;
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use xmpp_examples::client::Session;
use xmpp_examples::drive::{Embedder, drive};
use xmpp_examples::{Args, Conn, client_tls, die, random_seed, tls_policy};
use xmpp_sansio::client::{Client, ClientConfig, ClientEvent, TlsPolicy};
use xmpp_sansio::jid::{BareJid, Jid};
use xmpp_sansio::sasl::Mechanism;

const USAGE: &str = "usage: client --addr HOST:PORT --jid USER@DOMAIN --password PW \
    [--tls required|optional|disabled] [--ca FILE.pem] [--mechanisms M1,M2,...] \
    [--allow-plain] [--resource R] [--presence] [--to JID --message TEXT] [--count N] \
    [--timeout-secs S]";

fn main() {
    let args = Args::parse(
        USAGE,
        &[
            "addr",
            "jid",
            "password",
            "tls",
            "ca",
            "mechanisms",
            "resource",
            "to",
            "message",
            "count",
            "timeout-secs",
        ],
        &["allow-plain", "presence"],
    );
    let addr = args.require("addr", USAGE);
    let jid: BareJid = args
        .require("jid", USAGE)
        .parse()
        .unwrap_or_else(|e| die(&format!("--jid: {e}")));
    let mut config = ClientConfig::new(jid.clone(), args.require("password", USAGE));
    config.tls = tls_policy(&args, USAGE);
    if let Some(list) = args.get("mechanisms") {
        config.mechanisms = list
            .split(',')
            .map(|m| m.trim().parse::<Mechanism>())
            .collect::<Result<_, _>>()
            .unwrap_or_else(|_| die(&format!("--mechanisms: unknown mechanism in {list}")));
    }
    config.allow_plain_without_tls = args.switch("allow-plain");
    config.resource = args.get("resource").map(str::to_owned);
    let to: Option<Jid> = args
        .get("to")
        .map(|t| t.parse().unwrap_or_else(|e| die(&format!("--to: {e}"))));
    let message = args.get("message");
    if to.is_some() != message.is_some() {
        die("--to and --message go together");
    }
    let count = args.number("count", 0, USAGE);
    let timeout = Duration::from_secs(args.number("timeout-secs", 15, USAGE));
    let tls = if config.tls == TlsPolicy::Disabled {
        None
    } else {
        Some(client_tls(args.get("ca")).unwrap_or_else(|e| die(&format!("--ca: {e}"))))
    };

    let start = Instant::now();
    let tcp = TcpStream::connect(addr).unwrap_or_else(|e| die(&format!("connect {addr}: {e}")));
    tcp.set_nodelay(true).ok();
    let mut conn = Some(Conn::Plain(tcp));
    let mut client = Client::new(config, random_seed(), start);
    client.open(start).expect("a new client opens");
    let message = to.zip(message.map(str::to_owned));
    let mut app = App {
        session: Session::new(args.switch("presence"), message, count, start + timeout),
        domain: jid.domain().to_owned(),
        tls,
    };
    let result = drive(&mut client, &mut conn, &mut app);
    std::process::exit(app.session.exit_status(&client, result))
}

/// The client's session, with TLS set up through rustls on the blocking socket.
struct App {
    session: Session,
    domain: String,
    tls: Option<Arc<rustls::ClientConfig>>,
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
        Ok(())
    }

    fn deadline(&self) -> Option<Instant> {
        Some(self.session.give_up_at)
    }

    fn on_deadline(&mut self) {
        self.session.on_deadline();
    }
}
