//! An XMPP client over a blocking socket: connects, negotiates (STARTTLS with rustls, SASL,
//! resource binding, all decided by `xmpp_proto::client::Client`), optionally sends one chat
//! message, prints every event, and closes after `--count` received messages or on timeout.
//!
//! Exit status: 0 when it went online (and received `--count` messages), 2 on a SASL
//! failure, 1 otherwise.

use std::net::TcpStream;
use std::time::{Duration, Instant};

use xmpp_examples::{Args, Conn, Input, client_tls, die, random_seed, tls_policy};
use xmpp_proto::client::{Client, ClientConfig, ClientEvent, TlsPolicy};
use xmpp_proto::error::StanzaErrorCondition;
use xmpp_proto::jid::{BareJid, Jid};
use xmpp_proto::sasl::Mechanism;
use xmpp_proto::stanza::{MessageBuilder, MessageType, PresenceBuilder, StanzaKind};
use xmpp_proto::xml::Writer;

const USAGE: &str = "usage: client --addr HOST:PORT --jid USER@DOMAIN --password PW \
    [--tls required|optional|disabled] [--ca FILE.pem] [--mechanisms M1,M2,...] \
    [--allow-plain] [--resource R] [--presence] [--to JID --message TEXT] [--count N] \
    [--timeout-secs S]";

/// How long to wait for the server's `</stream:stream>` after the overall timeout.
const GRACE: Duration = Duration::from_secs(2);

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
    let give_up_at = start + timeout;
    let tcp = TcpStream::connect(addr).unwrap_or_else(|e| die(&format!("connect {addr}: {e}")));
    tcp.set_nodelay(true).ok();
    let mut conn = Some(Conn::Plain(tcp));
    let mut client = Client::new(config, random_seed(), start);
    client.open(start).expect("a new client opens");

    let mut online = false;
    let mut sasl_failed = false;
    let mut received = 0u64;
    let mut timed_out = false;
    // One socket read per handle_input call, and every event and byte it produced handled
    // before the next read: a call queues all that its input completes, so the read size
    // bounds that memory (xmpp-proto's crate docs, "Feeding input and memory").
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        while let Some(bytes) = client.poll_transmit() {
            if let Err(e) = conn.as_mut().expect("connected").send(&bytes) {
                println!("abandoned write-failed: {e}");
                client.handle_eof();
            }
        }
        // One event at a time, flushing what each answer queued before the next.
        if let Some(event) = client.poll_event() {
            match event {
                ClientEvent::StreamOpened | ClientEvent::Authenticated(_) => {}
                // Only for the namespaces of `nonza_namespaces`: none here.
                ClientEvent::Nonza(_) => {}
                ClientEvent::TlsRequested => {
                    let plain = conn.take().expect("connected");
                    let config = tls.clone().expect("TLS is not disabled");
                    match plain.start_tls_client(config, jid.domain()) {
                        Ok((tls_conn, cb)) => {
                            conn = Some(tls_conn);
                            client
                                .tls_established(Instant::now(), cb)
                                .expect("TLS was requested");
                        }
                        Err(e) => {
                            println!("abandoned tls-handshake: {e}");
                            std::process::exit(1);
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
                    if args.switch("presence") {
                        send_built(&mut client, |w| PresenceBuilder::new().write_to(w));
                    }
                    if let (Some(to), Some(text)) = (&to, message) {
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
                    if count == 0 {
                        client.close(Instant::now());
                    }
                }
                ClientEvent::Stanza(stanza) => {
                    println!("stanza {stanza}");
                    if stanza.kind() == StanzaKind::Message && !stanza.is_error() {
                        received += 1;
                        if received == count {
                            client.close(Instant::now());
                        }
                    }
                    if stanza.kind() == StanzaKind::Iq {
                        // Requests this example does not handle (pings, disco...); nothing
                        // goes out for results and errors.
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
                ClientEvent::Closed(_) => {
                    println!("closed");
                    let code = if sasl_failed {
                        2
                    } else if online && received >= count {
                        0
                    } else {
                        1
                    };
                    exit(conn, code);
                }
            }
            continue;
        }
        if client.is_closed() {
            // Closed without the event (it was already drained): nothing more will come.
            exit(conn, 1);
        }

        let now = Instant::now();
        if now >= give_up_at + GRACE {
            println!("closed");
            exit(conn, 1);
        }
        let mut wake = if now < give_up_at {
            give_up_at
        } else {
            give_up_at + GRACE
        };
        if let Some(t) = client.poll_timeout() {
            wake = wake.min(t);
        }
        let wait = wake.saturating_duration_since(now);
        match conn
            .as_mut()
            .expect("connected")
            .read_within(&mut buf, wait)
        {
            Ok(Input::Data(n)) => {
                // An error here is already a stream error queued for the server.
                let _ = client.handle_input(Instant::now(), &buf[..n]);
            }
            Ok(Input::Eof) => client.handle_eof(),
            Ok(Input::Truncated) => {
                println!("tls: connection ended without close_notify");
                client.handle_eof();
            }
            Ok(Input::Timeout) => {
                let now = Instant::now();
                if now >= give_up_at && !timed_out {
                    timed_out = true;
                    if !online {
                        println!("abandoned timeout");
                    }
                    client.close(Instant::now());
                }
                client.handle_timeout(now);
            }
            Err(e) => {
                println!("abandoned read-failed: {e}");
                client.handle_eof();
            }
        }
    }
}

/// Ends the transport (over TLS with `close_notify`, RFC 8446 section 6.1) and exits.
fn exit(mut conn: Option<Conn>, code: i32) -> ! {
    if let Some(Ok(Input::Truncated)) = conn.as_mut().map(Conn::close) {
        println!("tls: connection ended without close_notify");
    }
    std::process::exit(code)
}

/// Sends a stanza a builder writes straight into the client's output (no parse, no copy).
fn send_built(client: &mut Client, build: impl FnOnce(&mut Writer<'_>)) {
    client.send_with(Instant::now(), build).expect("online");
}
