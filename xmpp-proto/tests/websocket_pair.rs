//! Our `Client` against our `Server` over WebSocket framing (RFC 7395), in memory on a
//! virtual clock, in the manner of `tests/pair.rs` (a file of its own while the TCP tables
//! change elsewhere). Each `poll_transmit` is one WebSocket message and goes whole to the
//! peer's `handle_input`; every message either side writes is checked to be one standalone
//! element (section 3.3.3) by a framed parser of its own.

use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use xmpp_sansio::client::{Client, ClientConfig, ClientEvent};
use xmpp_sansio::error::FRAMING_NS;
use xmpp_sansio::jid::Jid;
use xmpp_sansio::sasl::{Mechanism, UserCredential};
use xmpp_sansio::server::{Server, ServerConfig, ServerEvent};
use xmpp_sansio::stanza::MessageBuilder;
use xmpp_sansio::stream::{Abandoned, CloseReason, Framing, TlsPolicy};
use xmpp_sansio::xml::{Event, StreamParser};

/// Is `message` one standalone element (RFC 7395 section 3.3.3)? Read as the peer would,
/// by a framed parser whose stream `<open/>` declared nothing.
fn check_standalone(message: &[u8]) {
    let text = String::from_utf8_lossy(message);
    assert!(message.starts_with(b"<"), "message {text}");
    let mut p = StreamParser::default();
    let el = if message.starts_with(b"<open") {
        p.handle_message(message)
            .unwrap_or_else(|e| panic!("{e}: {text}"));
        match p.poll_event() {
            Some(Event::StreamOpened(el)) => el,
            other => panic!("{other:?}: {text}"),
        }
    } else {
        p.handle_message(format!("<open xmlns='{FRAMING_NS}'/>").as_bytes())
            .unwrap();
        let _ = p.poll_event();
        p.handle_message(message)
            .unwrap_or_else(|e| panic!("{e}: {text}"));
        match p.poll_event() {
            Some(Event::Element(el)) => el,
            other => panic!("{other:?}: {text}"),
        }
    };
    assert!(p.poll_event().is_none(), "one element: {text}");
    // Stanzas carry their namespace (no stream header declares it).
    if matches!(el.name(), "message" | "presence" | "iq") {
        assert_eq!(el.ns(), "jabber:client", "{text}");
    }
    assert!(
        !el.ns().is_empty(),
        "every element has its namespace: {text}"
    );
}

struct Ws {
    now: Instant,
    client: Client,
    server: Server,
    client_events: Vec<ClientEvent>,
    server_events: Vec<ServerEvent>,
    /// Every message each side wrote, in order.
    client_wrote: Vec<String>,
    server_wrote: Vec<String>,
}

fn configs(secure: bool, mechanism: Mechanism) -> (ClientConfig, ServerConfig) {
    let framing = Framing::WebSocket { secure };
    let mut c = ClientConfig::new("juliet@example.com".parse().unwrap(), "pw");
    c.framing = framing;
    c.mechanisms = vec![mechanism];
    c.keepalive = Some(Duration::from_secs(1));
    let mut s = ServerConfig::new("example.com", b"secret".to_vec());
    s.framing = framing;
    s.scram_iterations = NonZeroU32::new(64).unwrap();
    s.keepalive = Some(Duration::from_secs(1));
    (c, s)
}

impl Ws {
    fn new(c: ClientConfig, s: ServerConfig) -> Ws {
        let now = Instant::now();
        let mut client = Client::new(c, 1, now);
        client.open(now).unwrap();
        Ws {
            now,
            client,
            server: Server::new(s, 2, now),
            client_events: Vec::new(),
            server_events: Vec::new(),
            client_wrote: Vec::new(),
            server_wrote: Vec::new(),
        }
    }

    /// Moves messages and answers events until both sides are quiet.
    fn drive(&mut self) {
        for _ in 0..1000 {
            let mut moved = false;
            while let Some(m) = self.client.poll_transmit() {
                moved = true;
                check_standalone(&m);
                self.client_wrote
                    .push(String::from_utf8(m.to_vec()).unwrap());
                if !self.server.is_closed() {
                    self.server.handle_input(self.now, &m).unwrap();
                }
            }
            while let Some(m) = self.server.poll_transmit() {
                moved = true;
                check_standalone(&m);
                self.server_wrote
                    .push(String::from_utf8(m.to_vec()).unwrap());
                if !self.client.is_closed() {
                    self.client.handle_input(self.now, &m).unwrap();
                }
            }
            while let Some(e) = self.server.poll_event() {
                moved = true;
                let now = self.now;
                match &e {
                    ServerEvent::AuthRequest { .. } => self
                        .server
                        .credentials(now, UserCredential::Password("pw".into()))
                        .unwrap(),
                    ServerEvent::BindRequest { account, .. } => {
                        let jid = format!("{account}/ws").parse().unwrap();
                        self.server.bind(now, jid).unwrap()
                    }
                    _ => {}
                }
                self.server_events.push(e);
            }
            while let Some(e) = self.client.poll_event() {
                moved = true;
                self.client_events.push(e);
            }
            if !moved {
                return;
            }
        }
        panic!("never quiet");
    }

    fn client_closed(&self) -> Option<&CloseReason> {
        self.client_events.iter().find_map(|e| match e {
            ClientEvent::Closed(r) => Some(r),
            _ => None,
        })
    }

    fn server_closed(&self) -> Option<&CloseReason> {
        self.server_events.iter().find_map(|e| match e {
            ServerEvent::Closed(r) => Some(r),
            _ => None,
        })
    }

    fn online(&self) -> bool {
        self.client_events
            .iter()
            .any(|e| matches!(e, ClientEvent::Online(_)))
    }
}

const OPEN: &str = "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing'";
const CLOSE: &str = "<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>";

#[test]
fn login_stanzas_and_close_over_wss_for_each_mechanism() {
    for mechanism in [
        Mechanism::ScramSha256,
        Mechanism::ScramSha1,
        Mechanism::Plain,
    ] {
        let (c, s) = configs(true, mechanism);
        let mut ws = Ws::new(c, s);
        ws.drive();
        assert!(ws.online(), "{mechanism:?}: {:?}", ws.client_events);
        // Two streams each way: the first and the one after SASL (RFC 7395 section 3.5).
        let opens = |wrote: &[String]| wrote.iter().filter(|m| m.starts_with(OPEN)).count();
        assert_eq!(opens(&ws.client_wrote), 2, "{mechanism:?}");
        assert_eq!(opens(&ws.server_wrote), 2, "{mechanism:?}");
        // wss: is the TLS: no STARTTLS offered (section 3.7).
        assert!(
            ws.server_wrote.iter().all(|m| !m.contains("xmpp-tls")),
            "{:?}",
            ws.server_wrote
        );

        // Stanzas both ways, one message each.
        let romeo: Jid = "romeo@example.net".parse().unwrap();
        let now = ws.now;
        ws.client
            .send_with(now, |w| {
                MessageBuilder::new().to(&romeo).body("hi").write_to(w)
            })
            .unwrap();
        ws.drive();
        assert!(
            ws.server_events
                .iter()
                .any(|e| matches!(e, ServerEvent::Stanza(_))),
            "{:?}",
            ws.server_events
        );
        let juliet: Jid = "juliet@example.com/ws".parse().unwrap();
        ws.server
            .send_with(now, |w| {
                MessageBuilder::new().to(&juliet).body("back").write_to(w)
            })
            .unwrap();
        ws.drive();
        assert!(
            ws.client_events
                .iter()
                .any(|e| matches!(e, ClientEvent::Stanza(_)))
        );

        // The close handshake with <close/> (section 3.6).
        ws.client.close(now);
        ws.drive();
        assert_eq!(ws.client_closed(), Some(&CloseReason::LocalClose));
        assert_eq!(ws.server_closed(), Some(&CloseReason::PeerClose));
        assert_eq!(ws.client_wrote.last().map(String::as_str), Some(CLOSE));
        assert_eq!(ws.server_wrote.last().map(String::as_str), Some(CLOSE));
    }
}

#[test]
fn no_whitespace_keepalive_over_websocket() {
    let (c, s) = configs(true, Mechanism::ScramSha256);
    let mut ws = Ws::new(c, s);
    ws.drive();
    assert!(ws.online());
    let sent = (ws.client_wrote.len(), ws.server_wrote.len());
    // Well past both keepalive periods: nothing is written (section 3.4).
    for _ in 0..5 {
        let Some(next) = [ws.client.poll_timeout(), ws.server.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
        else {
            break;
        };
        ws.now = next;
        ws.client.handle_timeout(next);
        ws.server.handle_timeout(next);
        ws.drive();
    }
    assert_eq!((ws.client_wrote.len(), ws.server_wrote.len()), sent);
    assert!(ws.client_closed().is_none() && ws.server_closed().is_none());
}

#[test]
fn plain_ws_meets_the_tls_policy_as_an_unencrypted_transport() {
    // ws:// with TLS required: the client gives up, STARTTLS being no way here.
    let (c, s) = configs(false, Mechanism::ScramSha256);
    let mut ws = Ws::new(c, s);
    ws.drive();
    assert_eq!(
        ws.client_closed(),
        Some(&CloseReason::Abandoned(Abandoned::TlsUnavailable))
    );
    // With TLS optional on both sides, SCRAM runs over ws:// (PLAIN would not).
    let (mut c, mut s) = configs(false, Mechanism::ScramSha256);
    c.tls = TlsPolicy::Optional;
    s.tls = TlsPolicy::Optional;
    let mut ws = Ws::new(c, s);
    ws.drive();
    assert!(ws.online(), "{:?}", ws.client_events);
    assert!(ws.server_wrote.iter().all(|m| !m.contains("xmpp-tls")));
}

#[test]
fn see_other_uri_moves_the_client_but_never_to_lower_security() {
    for (uri, expected) in [
        (
            "wss://other.example/xmpp",
            CloseReason::Redirected("wss://other.example/xmpp".into()),
        ),
        ("ws://other.example/xmpp", CloseReason::PeerClose),
    ] {
        let (c, s) = configs(true, Mechanism::ScramSha256);
        let mut ws = Ws::new(c, s);
        ws.drive();
        assert!(ws.online());
        let now = ws.now;
        assert!(ws.server.close_see_other_uri(now, uri));
        ws.drive();
        assert_eq!(ws.client_closed(), Some(&expected), "{uri}");
        assert_eq!(ws.server_closed(), Some(&CloseReason::LocalClose));
        assert!(ws.server_wrote.last().unwrap().contains("see-other-uri"));
    }
}

#[test]
fn stream_management_with_resumption_over_websocket() {
    let (mut c, mut s) = configs(true, Mechanism::ScramSha256);
    c.stream_management = true;
    c.resumption = true;
    s.stream_management = true;
    s.resumption = Some(300);
    let mut ws = Ws::new(c.clone(), s.clone());
    ws.drive();
    assert!(ws.online());
    assert!(ws.client_wrote.iter().any(|m| m.starts_with("<enable ")));
    assert!(ws.server_wrote.iter().any(|m| m.starts_with("<enabled ")));
    // A stanza the server never handles: the transport breaks.
    let romeo: Jid = "romeo@example.net".parse().unwrap();
    let now = ws.now;
    ws.client
        .send_with(now, |w| {
            MessageBuilder::new().to(&romeo).body("lost?").write_to(w)
        })
        .unwrap();
    let _ = ws.client.poll_transmit();
    ws.client.handle_eof();
    ws.server.handle_eof();
    ws.drive();
    let client_state = ws.client.take_resumption_state().expect("client state");
    let server_state = ws.server.take_resumption_state().expect("server state");

    // A new WebSocket: the client resumes and sends the stanza again, in a message of its
    // own, with its namespace.
    let mut again = Ws::new(c, s);
    again.client = {
        let (c, _) = configs(true, Mechanism::ScramSha256);
        let mut c = c;
        c.stream_management = true;
        c.resumption = true;
        let mut client = Client::new(c, 3, again.now);
        client.resume_from(client_state).unwrap();
        client.open(again.now).unwrap();
        client
    };
    let mut resumed = false;
    for _ in 0..50 {
        again.drive();
        let request = again
            .server_events
            .iter()
            .any(|e| matches!(e, ServerEvent::ResumeRequest { .. }));
        if request && !resumed {
            resumed = true;
            let now = again.now;
            again
                .server
                .resume(now, Some(server_state.clone()))
                .unwrap();
            continue;
        }
        if resumed {
            break;
        }
    }
    again.drive();
    assert!(
        again
            .client_events
            .iter()
            .any(|e| matches!(e, ClientEvent::Resumed(_))),
        "{:?}",
        again.client_events
    );
    let sent_again = again
        .client_wrote
        .iter()
        .filter(|m| m.contains("lost?"))
        .count();
    assert_eq!(sent_again, 1, "{:?}", again.client_wrote);
}
