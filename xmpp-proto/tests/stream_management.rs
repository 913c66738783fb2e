//! Stream management's acknowledgements (XEP-0198) between our own client and server, wired
//! to each other in memory: enabled once bound when both sides want it, every stanza
//! counted and acknowledged both ways (on request and after every N stanzas), whatever the
//! size of the reads that carry the bytes; absent when either side does not want it.
//!
//! The counters' wrap at 2^32 is tested where the counters can be started near it, in the
//! engine's and the counters' unit tests (`stream/engine.rs`, `stream/management/mod.rs`), and across a resumption in the
//! vectors (`sm-resume-counts-wrap`); resumption itself in `tests/sm_resumption.rs`.

use std::time::Instant;

use xmpp_sansio::client::{Client, ClientConfig, ClientEvent};
use xmpp_sansio::server::{Server, ServerConfig, ServerEvent};
use xmpp_sansio::stream::TlsPolicy;
use xmpp_sansio::xml::parse_element;

/// A client and a server, and what each reported.
struct Pair {
    client: Client,
    server: Server,
    client_events: Vec<ClientEvent>,
    server_events: Vec<ServerEvent>,
    /// Bytes are handed over in reads of at most this many.
    read: usize,
}

impl Pair {
    fn new(now: Instant, client_sm: bool, server_sm: bool, read: usize) -> Self {
        let mut c = ClientConfig::new("juliet@example.com".parse().unwrap(), "pw");
        c.tls = TlsPolicy::Disabled;
        c.allow_plain_without_tls = true;
        c.resource = Some("balcony".into());
        c.stream_management = client_sm;
        c.ack_request_every = 3;
        let mut s = ServerConfig::new("example.com", b"secret".to_vec());
        s.tls = TlsPolicy::Disabled;
        s.allow_plain_without_tls = true;
        s.stream_management = server_sm;
        let mut pair = Pair {
            client: Client::new(c, 1, now),
            server: Server::new(s, 2, now),
            client_events: Vec::new(),
            server_events: Vec::new(),
            read,
        };
        pair.client.open(now).unwrap();
        pair.drive(now);
        pair
    }

    /// Moves bytes and answers the server's questions until nothing moves.
    fn drive(&mut self, now: Instant) {
        loop {
            let mut moved = false;
            while let Some(bytes) = self.client.poll_transmit() {
                moved = true;
                for chunk in bytes.chunks(self.read) {
                    self.server.handle_input(now, chunk).unwrap();
                }
            }
            while let Some(bytes) = self.server.poll_transmit() {
                moved = true;
                for chunk in bytes.chunks(self.read) {
                    self.client.handle_input(now, chunk).unwrap();
                }
            }
            while let Some(event) = self.server.poll_event() {
                moved = true;
                match &event {
                    ServerEvent::AuthRequest { .. } => self
                        .server
                        .credentials(
                            now,
                            xmpp_sansio::sasl::UserCredential::Password("pw".into()),
                        )
                        .unwrap(),
                    ServerEvent::BindRequest { account, resource } => {
                        let jid = format!("{account}/{}", resource.as_deref().unwrap());
                        self.server.bind(now, jid.parse().unwrap()).unwrap();
                    }
                    _ => {}
                }
                self.server_events.push(event);
            }
            while let Some(event) = self.client.poll_event() {
                moved = true;
                self.client_events.push(event);
            }
            if !moved {
                return;
            }
        }
    }

    fn client_acked(&self) -> u32 {
        let acked = self.client_events.iter().filter_map(|e| match e {
            ClientEvent::Acked(n) => Some(*n),
            _ => None,
        });
        acked.sum()
    }

    fn server_acked(&self) -> u32 {
        let acked = self.server_events.iter().filter_map(|e| match e {
            ServerEvent::Acked(n) => Some(*n),
            _ => None,
        });
        acked.sum()
    }

    fn stanzas_at_server(&self) -> usize {
        let stanzas = self.server_events.iter();
        stanzas
            .filter(|e| matches!(e, ServerEvent::Stanza(_)))
            .count()
    }

    fn stanzas_at_client(&self) -> usize {
        let stanzas = self.client_events.iter();
        stanzas
            .filter(|e| matches!(e, ClientEvent::Stanza(_)))
            .count()
    }
}

fn message(to: &str, n: usize) -> xmpp_sansio::xml::Element {
    let xml = format!("<message to='{to}'><body>{n}</body></message>");
    parse_element("jabber:client", xml.as_bytes()).unwrap()
}

#[test]
fn every_stanza_is_acknowledged_both_ways_whatever_the_reads() {
    for read in [1, 7, usize::MAX] {
        let now = Instant::now();
        let mut pair = Pair::new(now, true, true, read);
        assert!(
            pair.client_events
                .iter()
                .any(|e| matches!(e, ClientEvent::StreamManagementEnabled)),
            "read {read}: {:?}",
            pair.client_events
        );
        assert!(
            pair.server_events
                .iter()
                .any(|e| matches!(e, ServerEvent::StreamManagementEnabled))
        );

        // Seven from the client: its own <r/> after the third and the sixth, then one asked
        // for; five from the server, then one asked for.
        for n in 0..7 {
            pair.client
                .send(now, &message("romeo@example.net", n))
                .unwrap();
            pair.drive(now);
        }
        assert_eq!(
            pair.client_acked(),
            6,
            "read {read}: two automatic requests"
        );
        assert_eq!(pair.client.unacked(), Some(1));
        pair.client.request_ack(now).unwrap();
        for n in 0..5 {
            let to = "juliet@example.com/balcony";
            pair.server.send(now, &message(to, n)).unwrap();
        }
        assert_eq!(pair.server.unacked(), Some(5));
        pair.server.request_ack(now).unwrap();
        pair.drive(now);

        assert_eq!(pair.stanzas_at_server(), 7);
        assert_eq!(pair.stanzas_at_client(), 5);
        assert_eq!(pair.client_acked(), 7, "read {read}");
        assert_eq!(pair.server_acked(), 5, "read {read}");
        assert_eq!(pair.client.unacked(), Some(0));
        assert_eq!(pair.server.unacked(), Some(0));
        assert!(!pair.client.is_closed() && !pair.server.is_closed());
    }
}

#[test]
fn without_both_sides_wanting_it_nothing_is_counted() {
    let now = Instant::now();
    for (client_sm, server_sm) in [(true, false), (false, true), (false, false)] {
        let mut pair = Pair::new(now, client_sm, server_sm, usize::MAX);
        let enabled = pair
            .server_events
            .iter()
            .any(|e| matches!(e, ServerEvent::StreamManagementEnabled));
        assert!(!enabled, "{client_sm} {server_sm}");
        pair.client
            .send(now, &message("romeo@example.net", 1))
            .unwrap();
        pair.drive(now);
        assert_eq!(pair.stanzas_at_server(), 1);
        assert_eq!(pair.client.unacked(), None);
        assert_eq!(pair.server.unacked(), None);
        assert!(pair.client.request_ack(now).is_err());
        assert!(pair.server.request_ack(now).is_err());
        assert!(!pair.client.is_closed() && !pair.server.is_closed());
    }
}
