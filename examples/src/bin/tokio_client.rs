//! The `client` example on tokio: the same flags, output and exit status, with a tokio
//! `TcpStream` and tokio-rustls. The core is the same `xmpp_proto::client::Client`: the
//! loop feeds it what each read gives, drains what it produced, and waits for input no
//! longer than `poll_timeout` with `tokio::time::timeout_at`.
//!
//! Exit status: 0 when it went online (and received `--count` messages), 2 on a SASL
//! failure, 1 otherwise.

use std::time::{Duration, Instant};

use tokio::net::TcpStream;
use xmpp_examples::tokio_net::AsyncConn;
use xmpp_examples::{Args, Input, client_tls, die, random_seed, tls_policy};
use xmpp_proto::client::{Client, ClientConfig, ClientEvent, TlsPolicy};
use xmpp_proto::error::StanzaErrorCondition;
use xmpp_proto::jid::{BareJid, Jid};
use xmpp_proto::sasl::Mechanism;
use xmpp_proto::stanza::{MessageBuilder, MessageType, PresenceBuilder, StanzaKind};
use xmpp_proto::xml::Writer;

const USAGE: &str = "usage: tokio_client --addr HOST:PORT --jid USER@DOMAIN --password PW \
    [--tls required|optional|disabled] [--ca FILE.pem] [--mechanisms M1,M2,...] \
    [--allow-plain] [--resource R] [--presence] [--to JID --message TEXT] [--count N] \
    [--timeout-secs S]";

/// How long to wait for the server's `</stream:stream>` after the overall timeout.
const GRACE: Duration = Duration::from_secs(2);

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
    let give_up_at = start + plan.timeout;
    let tcp = TcpStream::connect(&plan.addr)
        .await
        .unwrap_or_else(|e| die(&format!("connect {}: {e}", plan.addr)));
    tcp.set_nodelay(true).ok();
    let mut conn = Some(AsyncConn::Plain(tcp));
    let mut client = Client::new(config, random_seed(), start);
    client.open(start).expect("a new client opens");

    let mut online = false;
    let mut sasl_failed = false;
    let mut received = 0u64;
    let mut timed_out = false;
    // One read per handle_input call, everything it produced handled before the next read
    // (xmpp-proto's crate docs, "Feeding input and memory").
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        while let Some(bytes) = client.poll_transmit() {
            if let Err(e) = conn.as_mut().expect("connected").send(&bytes).await {
                println!("abandoned write-failed: {e}");
                client.handle_eof();
            }
        }
        // One event at a time, flushing what each answer queued before the next.
        if let Some(event) = client.poll_event() {
            match event {
                ClientEvent::StreamOpened | ClientEvent::Authenticated(_) => {}
                ClientEvent::TlsRequested => {
                    let plain = conn.take().expect("connected");
                    let config = plan.tls.clone().expect("TLS is not disabled");
                    match plain.start_tls_client(config, &domain).await {
                        Ok((tls, cb)) => {
                            conn = Some(tls);
                            client
                                .tls_established(Instant::now(), cb)
                                .expect("TLS was requested");
                        }
                        Err(e) => {
                            println!("abandoned tls-handshake: {e}");
                            return 1;
                        }
                    }
                }
                ClientEvent::SaslFailure(failure) => {
                    let condition = failure.condition.map_or("unknown", |c| c.as_str());
                    println!("sasl-failure {condition}");
                    sasl_failed = true;
                    client.close(Instant::now());
                }
                ClientEvent::Online(full) => {
                    println!("online {full}");
                    online = true;
                    if plan.presence {
                        send_built(&mut client, |w| PresenceBuilder::new().write_to(w));
                    }
                    if let Some((to, text)) = &plan.message {
                        let id = client.next_id();
                        send_built(&mut client, |w| {
                            MessageBuilder::new()
                                .to(to)
                                .id(&id)
                                .type_(MessageType::Chat)
                                .body(text)
                                .write_to(w)
                        });
                    }
                    if plan.count == 0 {
                        client.close(Instant::now());
                    }
                }
                ClientEvent::Stanza(stanza) => {
                    println!("stanza {stanza}");
                    if stanza.kind() == StanzaKind::Message && !stanza.is_error() {
                        received += 1;
                        if received == plan.count {
                            client.close(Instant::now());
                        }
                    }
                    if stanza.kind() == StanzaKind::Iq {
                        // Requests this example does not handle; nothing goes out for
                        // results and errors.
                        let _ = client.reply_error(
                            Instant::now(),
                            &stanza,
                            StanzaErrorCondition::ServiceUnavailable,
                        );
                    }
                }
                ClientEvent::PeerStreamError(error) => {
                    println!("peer-stream-error {}", error.condition.as_str())
                }
                ClientEvent::Abandoned(reason) => println!("abandoned {}", reason.as_str()),
                // No nonza namespaces are configured: none arrives.
                ClientEvent::Nonza(_) => {}
                ClientEvent::Closed(_) => {
                    println!("closed");
                    close(&mut conn).await;
                    return if sasl_failed {
                        2
                    } else if online && received >= plan.count {
                        0
                    } else {
                        1
                    };
                }
            }
            continue;
        }
        if client.is_closed() {
            close(&mut conn).await;
            return 1;
        }

        let now = Instant::now();
        if now >= give_up_at + GRACE {
            println!("closed");
            close(&mut conn).await;
            return 1;
        }
        let mut wake = if now < give_up_at {
            give_up_at
        } else {
            give_up_at + GRACE
        };
        if let Some(t) = client.poll_timeout() {
            wake = wake.min(t);
        }
        let read = conn.as_mut().expect("connected").read(&mut buf);
        match tokio::time::timeout_at(wake.into(), read).await {
            Ok(Ok(Input::Data(n))) => {
                // An error here is already a stream error queued for the server.
                let _ = client.handle_input(Instant::now(), &buf[..n]);
            }
            Ok(Ok(Input::Eof | Input::Timeout)) => client.handle_eof(),
            Ok(Ok(Input::Truncated)) => {
                println!("tls: connection ended without close_notify");
                client.handle_eof();
            }
            Ok(Err(e)) => {
                println!("abandoned read-failed: {e}");
                client.handle_eof();
            }
            Err(_elapsed) => {
                let now = Instant::now();
                if now >= give_up_at && !timed_out {
                    timed_out = true;
                    if !online {
                        println!("abandoned timeout");
                    }
                    client.close(now);
                }
                client.handle_timeout(now);
            }
        }
    }
}

/// Ends the transport, over TLS with `close_notify` (RFC 8446 section 6.1).
async fn close(conn: &mut Option<AsyncConn>) {
    if let Some(conn) = conn.as_mut()
        && let Ok(Input::Truncated) = conn.close().await
    {
        println!("tls: connection ended without close_notify");
    }
}

/// Sends a stanza a builder writes straight into the client's output (no parse, no copy).
fn send_built(client: &mut Client, build: impl FnOnce(&mut Writer<'_>)) {
    client.send_with(Instant::now(), build).expect("online");
}
