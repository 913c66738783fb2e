//! An external component (XEP-0114) over `xmpp_sansio::component::Component`: connects to a
//! server's component port, proves the shared secret, and echoes every message back to its
//! sender.
//!
//! Exit status: 0 after echoing `--count` messages, or at the timeout if it went online;
//! 1 otherwise.

use std::io;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use xmpp_examples::drive::{Embedder, answered, drive};
use xmpp_examples::{Args, Conn, die, random_seed};
use xmpp_sansio::component::{Component, ComponentConfig, ComponentEvent};
use xmpp_sansio::stanza::StanzaKind;

const USAGE: &str = "usage: component --addr HOST:PORT --domain DOMAIN --secret SECRET \
    [--count N] [--timeout-secs S]";

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
    let config = ComponentConfig::new(domain, args.require("secret", USAGE));
    let count = args.number("count", 0, USAGE);
    let timeout = Duration::from_secs(args.number("timeout-secs", 15, USAGE));

    let start = Instant::now();
    let tcp = TcpStream::connect(addr).unwrap_or_else(|e| die(&format!("connect {addr}: {e}")));
    tcp.set_nodelay(true).ok();
    // No TLS on a component stream (XEP-0114).
    let mut conn = Some(Conn::Plain(tcp));
    let mut component = Component::new(config, random_seed(), start);
    component.open(start).expect("a new component opens");
    let mut app = App {
        count,
        give_up_at: start + timeout,
        online: false,
        echoed: 0,
    };
    let result = drive(&mut component, &mut conn, &mut app);
    if let Err(e) = result {
        println!("abandoned {e}");
    }
    println!("closed");
    let done = app.online && (count == 0 || app.echoed >= count);
    std::process::exit(if done { 0 } else { 1 });
}

/// What this component does with its events: echo every message.
struct App {
    count: u64,
    give_up_at: Instant,
    online: bool,
    echoed: u64,
}

impl Embedder<Component> for App {
    fn on_event(
        &mut self,
        component: &mut Component,
        _: &mut Option<Conn>,
        event: ComponentEvent,
    ) -> io::Result<()> {
        match event {
            ComponentEvent::StreamOpened | ComponentEvent::Authenticated(_) => {}
            ComponentEvent::Online(domain) => {
                println!("online {domain}");
                self.online = true;
            }
            ComponentEvent::Stanza(stanza) => {
                println!("stanza {stanza}");
                if stanza.kind() != StanzaKind::Message || stanza.is_error() {
                    return Ok(());
                }
                let el = stanza.element();
                let (Some(from), Some(to)) = (el.attr("from"), el.attr("to")) else {
                    return Ok(());
                };
                let echo = el.with_attr("to", &from).with_attr("from", &to);
                let now = Instant::now();
                if answered(component.send(now, &echo)).is_some() {
                    self.echoed += 1;
                    if self.echoed == self.count {
                        component.close(now);
                        // The server's closing tag is awaited for the grace period only.
                        self.give_up_at = now;
                    }
                }
            }
            ComponentEvent::PeerStreamError(error) => {
                println!("peer-stream-error {}", error.condition.as_str())
            }
            // `Closed` (the driver sees the end), and events a later version adds.
            _ => {}
        }
        Ok(())
    }

    fn deadline(&self) -> Option<Instant> {
        Some(self.give_up_at)
    }

    fn on_deadline(&mut self) {
        if !self.online {
            println!("abandoned timeout");
        }
    }
}
