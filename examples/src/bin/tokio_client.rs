//! The `client` example on tokio: the same flags, output and exit status, with a tokio
//! `TcpStream` and tokio-rustls. The core is the same `xmpp_sansio::client::Client`, and so
//! is what the example does with its events (`xmpp_examples::client::Session`); the loop is
//! `xmpp_examples::tokio_net::drive_async`, the one every role and tokio example uses.
//! `--resume-test` is the blocking `client`'s only (it cuts the transport under the loop).
//! `--direct-tls` (XEP-0368) as in `client`: TLS from the first byte with ALPN
//! `xmpp-client`, then `Client::direct_tls` before `open`.
//!
//! Exit status: 0 when it went online (received `--count` messages, passed its test), 2 on
//! a SASL failure, 1 otherwise.

use std::io;
use std::time::Instant;

use tokio::net::TcpStream;
use xmpp_examples::client::{CLIENT_USAGE, ClientArgs, Mode, Session, client_args};
use xmpp_examples::random_seed;
use xmpp_examples::tokio_net::{AsyncConn, AsyncEmbedder, drive_async};
use xmpp_examples::{die, direct_tls_client};
use xmpp_sansio::client::{Client, ClientEvent};

fn main() {
    let a = client_args(&format!("usage: tokio_client {CLIENT_USAGE}"));
    if matches!(a.plan.mode, Mode::ResumeTest { .. }) {
        die("--resume-test: use the blocking client");
    }
    if a.websocket.is_some() {
        die("--websocket: use the blocking client");
    }
    // One connection needs no thread pool: a current-thread runtime.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| die(&format!("tokio runtime: {e}")));
    std::process::exit(runtime.block_on(run(a)));
}

/// Runs the session; gives the exit status.
async fn run(a: ClientArgs) -> i32 {
    let domain = a.config.jid.domain().to_owned();
    let start = Instant::now();
    let tcp = TcpStream::connect(&a.addr)
        .await
        .unwrap_or_else(|e| die(&format!("connect {}: {e}", a.addr)));
    tcp.set_nodelay(true).ok();
    let mut conn = AsyncConn::Plain(tcp);
    let mut client = Client::new(a.config, random_seed(), start);
    if let (true, Some(tls)) = (a.direct_tls, &a.tls) {
        let (tls_conn, cb) = conn
            .start_tls_client(direct_tls_client(tls), &domain)
            .await
            .unwrap_or_else(|e| die(&format!("tls-handshake: {e}")));
        conn = tls_conn;
        Session::direct_tls_up(&mut client, conn.alpn(), cb)
            .unwrap_or_else(|e| die(&format!("direct tls: {e}")));
    }
    let mut conn = Some(conn);
    client.open(start).expect("a new client opens");
    let mut app = App {
        session: Session::new(a.plan, start + a.timeout),
        domain,
        tls: a.tls,
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
        Some(self.session.deadline())
    }

    fn on_deadline(&mut self) {
        self.session.on_deadline();
    }
}
