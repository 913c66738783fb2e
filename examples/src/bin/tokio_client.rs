//! The `client` example on tokio: the same flags, output and exit status, with a tokio
//! `TcpStream` and tokio-rustls. The core is the same `xmpp_sansio::client::Client`, and so
//! is what the example does with its events (`xmpp_examples::client::Session`); the loop is
//! `xmpp_examples::tokio_net::drive_async`, the one every role and tokio example uses.
//!
//! Exit status: 0 when it went online (and received `--count` messages), 2 on a SASL
//! failure, 1 otherwise.

use std::io;
use std::time::{Duration, Instant};

use tokio::net::TcpStream;
use xmpp_examples::client::Session;
use xmpp_examples::tokio_net::{AsyncConn, AsyncEmbedder, drive_async};
use xmpp_examples::{Args, client_tls, die, random_seed, tls_policy};
use xmpp_sansio::client::{Client, ClientConfig, ClientEvent, TlsPolicy};
use xmpp_sansio::jid::{BareJid, Jid};
use xmpp_sansio::sasl::Mechanism;

const USAGE: &str = "usage: tokio_client --addr HOST:PORT --jid USER@DOMAIN --password PW \
    [--tls required|optional|disabled] [--ca FILE.pem] [--mechanisms M1,M2,...] \
    [--allow-plain] [--resource R] [--presence] [--to JID --message TEXT] [--count N] \
    [--timeout-secs S]";

/// What the flags ask for beyond the core's configuration.
struct Plan {
    addr: String,
    presence: bool,
    message: Option<(Jid, String)>,
    count: u64,
    timeout: Duration,
    tls: Option<std::sync::Arc<rustls::ClientConfig>>,
}

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
    let jid: BareJid = args
        .require("jid", USAGE)
        .parse()
        .unwrap_or_else(|e| die(&format!("--jid: {e}")));
    let mut config = ClientConfig::new(jid, args.require("password", USAGE));
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
    let message = match (args.get("to"), args.get("message")) {
        (Some(to), Some(text)) => Some((
            to.parse().unwrap_or_else(|e| die(&format!("--to: {e}"))),
            text.to_owned(),
        )),
        (None, None) => None,
        _ => die("--to and --message go together"),
    };
    let plan = Plan {
        addr: args.require("addr", USAGE).to_owned(),
        presence: args.switch("presence"),
        message,
        count: args.number("count", 0, USAGE),
        timeout: Duration::from_secs(args.number("timeout-secs", 15, USAGE)),
        tls: (config.tls != TlsPolicy::Disabled)
            .then(|| client_tls(args.get("ca")).unwrap_or_else(|e| die(&format!("--ca: {e}")))),
    };
    // One connection needs no thread pool: a current-thread runtime.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| die(&format!("tokio runtime: {e}")));
    std::process::exit(runtime.block_on(run(config, plan)));
}

/// Runs the session; gives the exit status.
async fn run(config: ClientConfig, plan: Plan) -> i32 {
    let domain = config.jid.domain().to_owned();
    let start = Instant::now();
    let tcp = TcpStream::connect(&plan.addr)
        .await
        .unwrap_or_else(|e| die(&format!("connect {}: {e}", plan.addr)));
    tcp.set_nodelay(true).ok();
    let mut conn = Some(AsyncConn::Plain(tcp));
    let mut client = Client::new(config, random_seed(), start);
    client.open(start).expect("a new client opens");
    let mut app = App {
        session: Session::new(
            plan.presence,
            plan.message,
            plan.count,
            start + plan.timeout,
        ),
        domain,
        tls: plan.tls,
    };
    let result = drive_async(&mut client, &mut conn, &mut app).await;
    app.session.exit_status(&client, result)
}

/// The client's session, with TLS set up through tokio-rustls.
struct App {
    session: Session,
    domain: String,
    tls: Option<std::sync::Arc<rustls::ClientConfig>>,
}

impl AsyncEmbedder<Client> for App {
    async fn on_event(
        &mut self,
        client: &mut Client,
        conn: &mut Option<AsyncConn>,
        event: ClientEvent,
    ) -> io::Result<()> {
        if let ClientEvent::TlsRequested = event {
            let plain = conn.take().expect("connected");
            let config = self.tls.clone().expect("TLS is not disabled");
            let (tls, cb) = plain
                .start_tls_client(config, &self.domain)
                .await
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
