//! An external component (XEP-0114) over `xmpp_proto::component::Component`: connects to a
//! server's component port, proves the shared secret, and echoes every message back to its
//! sender.
//!
//! Exit status: 0 after echoing `--count` messages, or at the timeout if it went online;
//! 1 otherwise.

use std::net::TcpStream;
use std::time::{Duration, Instant};

use xmpp_examples::{Args, Conn, Input, die, random_seed};
use xmpp_proto::component::{Component, ComponentConfig, ComponentEvent};
use xmpp_proto::stanza::StanzaKind;

const USAGE: &str = "usage: component --addr HOST:PORT --domain DOMAIN --secret SECRET \
    [--count N] [--timeout-secs S]";

/// How long to wait for the server's `</stream:stream>` after closing.
const GRACE: Duration = Duration::from_secs(2);

fn main() {
    let args = Args::parse(
        USAGE,
        &["addr", "domain", "secret", "count", "timeout-secs"],
        &[],
    );
    let addr = args.require("addr", USAGE);
    let domain = args.require("domain", USAGE);
    let domain = domain
        .parse()
        .unwrap_or_else(|e| die(&format!("--domain {domain}: {e}")));
    let mut config = ComponentConfig::new(domain, args.require("secret", USAGE));
    config.seed = random_seed();
    let count = args.number("count", 0, USAGE);
    let timeout = Duration::from_secs(args.number("timeout-secs", 15, USAGE));

    let start = Instant::now();
    let give_up_at = start + timeout;
    let tcp = TcpStream::connect(addr).unwrap_or_else(|e| die(&format!("connect {addr}: {e}")));
    tcp.set_nodelay(true).ok();
    let mut conn = Conn::Plain(tcp);
    let mut component = Component::new(config, start);
    component.open(start).expect("a new component opens");

    let mut online = false;
    let mut echoed = 0u64;
    let mut closing_since: Option<Instant> = None;
    // One socket read per handle_input call, and every event and byte it produced handled
    // before the next read: a call queues all that its input completes, so the read size
    // bounds that memory (xmpp-proto's crate docs, "Feeding input and memory").
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        while let Some(bytes) = component.poll_transmit() {
            if let Err(e) = conn.send(&bytes) {
                println!("abandoned write-failed: {e}");
                component.handle_eof();
            }
        }
        // One event at a time, flushing what each answer queued before the next.
        if let Some(event) = component.poll_event() {
            match event {
                ComponentEvent::StreamOpened | ComponentEvent::Authenticated(_) => {}
                ComponentEvent::Online(domain) => {
                    println!("online {domain}");
                    online = true;
                }
                ComponentEvent::Stanza(stanza) => {
                    println!("stanza {stanza}");
                    if stanza.kind() != StanzaKind::Message || stanza.is_error() {
                        continue;
                    }
                    let el = stanza.element();
                    let (Some(from), Some(to)) = (el.attr("from"), el.attr("to")) else {
                        continue;
                    };
                    let echo = el.with_attr("to", &from).with_attr("from", &to);
                    if component.send(Instant::now(), &echo).is_ok() {
                        echoed += 1;
                        if echoed == count {
                            component.close(Instant::now());
                            closing_since = Some(Instant::now());
                        }
                    }
                }
                ComponentEvent::PeerStreamError(error) => {
                    println!("peer-stream-error {}", error.condition.as_str())
                }
                ComponentEvent::Closed(_) => {
                    println!("closed");
                    let done = online && (count == 0 || echoed >= count);
                    std::process::exit(if done { 0 } else { 1 });
                }
            }
            continue;
        }
        if component.is_closed() {
            std::process::exit(1);
        }

        let now = Instant::now();
        if closing_since.is_some_and(|t| now >= t + GRACE) {
            println!("closed");
            let done = online && (count == 0 || echoed >= count);
            std::process::exit(if done { 0 } else { 1 });
        }
        let mut wake = closing_since.map_or(give_up_at, |t| t + GRACE);
        if let Some(t) = component.poll_timeout() {
            wake = wake.min(t);
        }
        match conn.read_within(&mut buf, wake.saturating_duration_since(now)) {
            Ok(Input::Data(n)) => {
                // An error here is already a stream error queued for the server.
                let _ = component.handle_input(Instant::now(), &buf[..n]);
            }
            // No TLS on a component stream (XEP-0114), so no truncation to tell apart.
            Ok(Input::Eof | Input::Truncated) => component.handle_eof(),
            Ok(Input::Timeout) => {
                let now = Instant::now();
                if now >= give_up_at && closing_since.is_none() {
                    if !online {
                        println!("abandoned timeout");
                    }
                    component.close(Instant::now());
                    closing_since = Some(now);
                }
                component.handle_timeout(now);
            }
            Err(e) => {
                println!("abandoned read-failed: {e}");
                component.handle_eof();
            }
        }
    }
}
