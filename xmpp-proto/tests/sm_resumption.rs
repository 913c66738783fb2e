//! Stream resumption (XEP-0198 section 5) between our own client and server: the
//! "connection" is cut at a random byte in each direction, both sessions end, and a new
//! pair resumes from the states the old one left. Every stanza either side gave to `send`
//! must arrive exactly once; when the server has lost the session (its state is gone), each
//! must arrive at most once, and every one that did not arrive must have been handed back
//! to its sender's embedder (`ResumeFailed`'s stanzas, or the lost state's).
//!
//! A seeded loop rather than proptest: each seed is one scenario, and a failure names it.

use std::collections::HashMap;
use std::time::Instant;

use xmpp_sansio::client::{Client, ClientConfig, ClientError, ClientEvent, ResumptionState};
use xmpp_sansio::server::{Server, ServerConfig, ServerEvent};
use xmpp_sansio::stream::TlsPolicy;
use xmpp_sansio::xml::{Element, parse_element};

/// xorshift64*: the scenarios' randomness, from the seed alone.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// Which stanza ids arrived where, and which were handed back as unacknowledged.
#[derive(Default)]
struct Ledger {
    /// id -> times it arrived.
    arrived: HashMap<String, u32>,
    /// ids handed back to an embedder as not acknowledged.
    reported: Vec<String>,
    /// ids given to `send`, per direction.
    sent: Vec<String>,
}

fn client_config(every: u32) -> ClientConfig {
    let mut c = ClientConfig::new("juliet@example.com".parse().unwrap(), "pw");
    c.tls = TlsPolicy::Disabled;
    c.allow_plain_without_tls = true;
    c.resource = Some("balcony".into());
    // PLAIN: the scenarios are about resumption, not PBKDF2 in a debug build.
    c.mechanisms = vec![xmpp_sansio::sasl::Mechanism::Plain];
    c.stream_management = true;
    c.resumption = true;
    c.ack_request_every = every;
    c
}

fn server_config(every: u32) -> ServerConfig {
    let mut s = ServerConfig::new("example.com", b"secret".to_vec());
    s.tls = TlsPolicy::Disabled;
    s.allow_plain_without_tls = true;
    s.stream_management = true;
    s.resumption = Some(300);
    s.ack_request_every = every;
    s
}

fn message(id: &str, to: &str) -> Element {
    let xml = format!("<message id='{id}' to='{to}'><body>{id}</body></message>");
    parse_element("jabber:client", xml.as_bytes()).unwrap()
}

/// The id of a stanza as serialized (`<message id='..'`).
fn id_of(bytes: &[u8]) -> String {
    let el = parse_element("jabber:client", bytes).unwrap();
    el.attr("id").unwrap().into_owned()
}

struct Pair {
    client: Client,
    server: Server,
    /// The state the server's embedder keeps for resumption; `None` once lost.
    server_state: Option<ResumptionState>,
    resumed: (bool, bool),
    failed: bool,
}

impl Pair {
    fn new(now: Instant, seed: u64, every: u32, resume: Option<ResumptionState>) -> Self {
        Pair::with(
            now,
            seed,
            client_config(every),
            server_config(every),
            resume,
        )
    }

    fn with(
        now: Instant,
        seed: u64,
        c: ClientConfig,
        s: ServerConfig,
        resume: Option<ResumptionState>,
    ) -> Self {
        let mut client = Client::new(c, seed, now);
        if let Some(state) = resume {
            client.resume_from(state).unwrap();
        }
        client.open(now).unwrap();
        Pair {
            client,
            server: Server::new(s, seed ^ 1, now),
            server_state: None,
            resumed: (false, false),
            failed: false,
        }
    }

    /// Takes the events, answering the server's questions and recording arrivals.
    fn events(&mut self, now: Instant, server_ledger: &mut Ledger, client_ledger: &mut Ledger) {
        while let Some(event) = self.server.poll_event() {
            match event {
                ServerEvent::AuthRequest { .. } => self
                    .server
                    .credentials(
                        now,
                        xmpp_sansio::sasl::UserCredential::Password("pw".into()),
                    )
                    .unwrap(),
                ServerEvent::BindRequest { account, .. } => {
                    let jid = format!("{account}/balcony").parse().unwrap();
                    self.server.bind(now, jid).unwrap();
                }
                ServerEvent::ResumeRequest { .. } => {
                    let state = self.server_state.take();
                    self.server.resume(now, state).unwrap();
                }
                ServerEvent::Resumed(_) => self.resumed.1 = true,
                ServerEvent::Stanza(s) => {
                    let id = s.element().attr("id").unwrap().into_owned();
                    *server_ledger.arrived.entry(id).or_default() += 1;
                }
                _ => {}
            }
        }
        while let Some(event) = self.client.poll_event() {
            match event {
                ClientEvent::Resumed(_) => self.resumed.0 = true,
                ClientEvent::ResumeFailed { unacked, .. } => {
                    self.failed = true;
                    server_ledger
                        .reported
                        .extend(unacked.iter().map(|b| id_of(b)));
                }
                ClientEvent::Stanza(s) => {
                    let id = s.element().attr("id").unwrap().into_owned();
                    *client_ledger.arrived.entry(id).or_default() += 1;
                }
                _ => {}
            }
        }
    }

    /// Moves every byte both ways until nothing moves.
    fn pump(&mut self, now: Instant, to_server: &mut Ledger, to_client: &mut Ledger) {
        loop {
            let mut moved = false;
            while let Some(b) = self.client.poll_transmit() {
                moved = true;
                let _ = self.server.handle_input(now, &b);
            }
            while let Some(b) = self.server.poll_transmit() {
                moved = true;
                let _ = self.client.handle_input(now, &b);
            }
            self.events(now, to_server, to_client);
            if !moved {
                return;
            }
        }
    }

    /// Cuts the connection: a random prefix of what is in flight each way gets through,
    /// then both transports end.
    fn cut(&mut self, now: Instant, rng: &mut Rng, to_server: &mut Ledger, to_client: &mut Ledger) {
        let mut up = Vec::new();
        while let Some(b) = self.client.poll_transmit() {
            up.extend_from_slice(&b);
        }
        let mut down = Vec::new();
        while let Some(b) = self.server.poll_transmit() {
            down.extend_from_slice(&b);
        }
        let up_len = rng.below(up.len() as u64 + 1) as usize;
        let down_len = rng.below(down.len() as u64 + 1) as usize;
        let _ = self.server.handle_input(now, &up[..up_len]);
        let _ = self.client.handle_input(now, &down[..down_len]);
        self.events(now, to_server, to_client);
        self.client.handle_eof();
        self.server.handle_eof();
        self.events(now, to_server, to_client);
    }
}

/// One scenario: a session, `rounds` cuts each followed by a resumption, and at the end
/// (when `lose_last` is set) a resumption the server refuses because it lost the state.
fn scenario(seed: u64, rounds: u32, lose_last: bool) {
    let now = Instant::now();
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let every = rng.below(4) as u32;
    let mut to_server = Ledger::default();
    let mut to_client = Ledger::default();
    let mut pair = Pair::new(now, seed, every, None);
    pair.pump(now, &mut to_server, &mut to_client);
    let mut n = 0;
    for round in 0..=rounds {
        for _ in 0..rng.below(12) {
            n += 1;
            match rng.below(5) {
                0 | 1 => {
                    let id = format!("c{n}");
                    pair.client
                        .send(now, &message(&id, "romeo@example.net"))
                        .unwrap();
                    to_server.sent.push(id);
                }
                2 | 3 => {
                    let id = format!("s{n}");
                    pair.server
                        .send(now, &message(&id, "juliet@example.com/balcony"))
                        .unwrap();
                    to_client.sent.push(id);
                }
                _ => pair.pump(now, &mut to_server, &mut to_client),
            }
        }
        if round == rounds {
            break;
        }
        pair.cut(now, &mut rng, &mut to_server, &mut to_client);
        let client_state = pair
            .client
            .take_resumption_state()
            .unwrap_or_else(|| panic!("seed {seed}: the client's state"));
        let server_state = pair
            .server
            .take_resumption_state()
            .unwrap_or_else(|| panic!("seed {seed}: the server's state"));
        assert_eq!(client_state.id, server_state.id, "seed {seed}");
        let lose = lose_last && round + 1 == rounds;
        pair = Pair::new(now, seed + u64::from(round) + 7, every, Some(client_state));
        if lose {
            // The server's embedder no longer has it (expired): what it held is handed
            // back to that embedder.
            to_client
                .reported
                .extend(server_state.unacked.iter().map(|b| id_of(b)));
        } else {
            pair.server_state = Some(server_state);
        }
        pair.pump(now, &mut to_server, &mut to_client);
        if lose {
            assert!(
                pair.failed && !pair.resumed.0,
                "seed {seed}: resumption refused"
            );
        } else {
            assert!(
                pair.resumed.0 && pair.resumed.1,
                "seed {seed}: resumed, round {round}"
            );
        }
    }
    // Everything left is delivered and acknowledged.
    pair.pump(now, &mut to_server, &mut to_client);
    pair.client.request_ack(now).unwrap();
    pair.server.request_ack(now).unwrap();
    pair.pump(now, &mut to_server, &mut to_client);
    assert_eq!(pair.client.unacked(), Some(0), "seed {seed}");
    assert_eq!(pair.server.unacked(), Some(0), "seed {seed}");
    for ledger in [&to_server, &to_client] {
        for id in &ledger.sent {
            let times = ledger.arrived.get(id).copied().unwrap_or(0);
            if lose_last {
                assert!(times <= 1, "seed {seed}: {id} arrived {times} times");
                assert!(
                    times == 1 || ledger.reported.contains(id),
                    "seed {seed}: {id} neither arrived nor was reported"
                );
            } else {
                assert_eq!(times, 1, "seed {seed}: {id} arrived {times} times");
            }
        }
        assert_eq!(
            ledger.arrived.len(),
            ledger
                .arrived
                .keys()
                .filter(|id| ledger.sent.contains(id))
                .count(),
            "seed {seed}: only what was sent arrives"
        );
    }
}

#[test]
fn every_stanza_arrives_exactly_once_across_resumptions() {
    for seed in 0..200 {
        scenario(seed, 1 + (seed % 3) as u32, false);
    }
}

#[test]
fn a_refused_resumption_hands_back_what_may_be_lost() {
    for seed in 0..200 {
        scenario(seed, 1 + (seed % 2) as u32, true);
    }
}

/// A pair online with stream management (and resumption) on both sides.
fn online(now: Instant, c: ClientConfig, s: ServerConfig) -> (Pair, Ledger, Ledger) {
    let (mut up, mut down) = (Ledger::default(), Ledger::default());
    let mut pair = Pair::with(now, 5, c, s, None);
    pair.pump(now, &mut up, &mut down);
    assert_eq!(pair.client.unacked(), Some(0));
    (pair, up, down)
}

#[test]
fn unacknowledged_stanzas_are_the_bytes_that_went_out_not_copies() {
    let now = Instant::now();
    let (mut pair, ..) = online(now, client_config(0), server_config(0));
    pair.client
        .send(now, &message("m1", "romeo@example.net"))
        .unwrap();
    pair.client
        .send(now, &message("m2", "romeo@example.net"))
        .unwrap();
    let out = pair.client.poll_transmit().unwrap();
    assert_eq!(pair.client.unacked(), Some(2));
    assert!(pair.client.take_unacked().is_empty(), "not before the end");
    assert!(
        pair.client.take_resumption_state().is_none(),
        "not before the end"
    );
    pair.client.handle_eof();
    let unacked = pair.client.take_unacked();
    assert_eq!(unacked.len(), 2);
    let range = out.as_ptr_range();
    for (stanza, id) in unacked.iter().zip(["m1", "m2"]) {
        assert_eq!(id_of(stanza), id);
        assert!(
            range.contains(&stanza.as_ptr()),
            "a slice of the output the embedder took"
        );
    }
    assert!(pair.client.take_unacked().is_empty(), "taken once");
}

#[test]
fn the_state_holds_what_was_never_transmitted_too() {
    let now = Instant::now();
    let (mut pair, ..) = online(now, client_config(0), server_config(0));
    // Written, never taken with poll_transmit: the transport broke first.
    pair.server
        .send(now, &message("s1", "juliet@example.com/balcony"))
        .unwrap();
    pair.server.handle_eof();
    let state = pair.server.take_resumption_state().unwrap();
    assert_eq!(state.unacked.len(), 1);
    assert_eq!(id_of(&state.unacked[0]), "s1");
    assert_eq!(state.jid.as_str(), "juliet@example.com/balcony");
    assert_eq!(state.max, Some(300));
    assert!(
        pair.server.take_unacked().is_empty(),
        "it went with the state"
    );
}

#[test]
fn a_full_queue_refuses_the_embedders_stanza_and_asks_for_an_ack() {
    let now = Instant::now();
    let mut c = client_config(0);
    c.unacked_limits.max_stanzas = 2;
    c.unacked_limits.max_bytes = 200;
    let (mut pair, mut up, mut down) = online(now, c, server_config(0));
    let big = format!(
        "<message id='big' to='romeo@example.net'><body>{}</body></message>",
        "x".repeat(300)
    );
    let big = parse_element("jabber:client", big.as_bytes()).unwrap();
    pair.client
        .send(now, &big)
        .expect("alone, larger than the limit, it goes");
    let refused = pair.client.send(now, &message("m2", "romeo@example.net"));
    assert_eq!(refused, Err(ClientError::UnackedQueueFull));
    assert!(!refused.unwrap_err().is_misuse());
    let out = pair.client.poll_transmit().unwrap();
    assert!(out.ends_with(b"<r xmlns='urn:xmpp:sm:3'/>"), "{out:?}");
    assert!(!out.windows(4).any(|w| w == b"m2</"), "nothing of it went");
    let _ = pair.server.handle_input(now, &out);
    pair.pump(now, &mut up, &mut down);
    assert_eq!(pair.client.unacked(), Some(0));
    pair.client
        .send(now, &message("m2", "romeo@example.net"))
        .unwrap();
    pair.client
        .send(now, &message("m3", "romeo@example.net"))
        .unwrap();
    assert_eq!(
        pair.client.send(now, &message("m4", "romeo@example.net")),
        Err(ClientError::UnackedQueueFull),
        "two stanzas: the count limit"
    );
}

#[test]
fn a_peer_that_never_acks_what_the_core_answers_loses_the_stream() {
    let now = Instant::now();
    let mut s = server_config(0);
    s.unacked_limits.max_stanzas = 4;
    let (mut pair, mut up, mut down) = online(now, client_config(0), s);
    // An iq get without its child: the server answers bad-request, itself, each time.
    for i in 0..8 {
        pair.client
            .send_with(now, |w| {
                w.start("iq")
                    .attr("type", "get")
                    .attr("id", &format!("q{i}"))
                    .end("iq");
            })
            .unwrap();
        let out = pair.client.poll_transmit().unwrap();
        let _ = pair.server.handle_input(now, &out);
        // The client's answers never reach the server: it never asked (<r/>) for them.
        let _ = pair.server.poll_transmit();
    }
    pair.events(now, &mut up, &mut down);
    assert!(
        !pair.server.is_closed(),
        "twice the limit is not passed yet"
    );
    pair.client
        .send_with(now, |w| {
            w.start("iq").attr("type", "get").attr("id", "q8").end("iq");
        })
        .unwrap();
    let out = pair.client.poll_transmit().unwrap();
    let _ = pair.server.handle_input(now, &out);
    let out = pair.server.poll_transmit().unwrap();
    let out = String::from_utf8_lossy(&out);
    assert!(out.contains("<resource-constraint"), "{out}");
    assert!(pair.server.is_closed());
    assert_eq!(
        pair.server.take_unacked().len(),
        9,
        "what it held is handed back"
    );
}

#[test]
fn resumption_is_given_before_open_with_stream_management() {
    let now = Instant::now();
    let (mut pair, ..) = online(now, client_config(0), server_config(0));
    pair.client.handle_eof();
    let state = pair.client.take_resumption_state().unwrap();
    let mut without = client_config(0);
    without.stream_management = false;
    let mut client = Client::new(without, 1, now);
    assert_eq!(
        client.resume_from(state.clone()),
        Err(ClientError::StreamManagementNotEnabled)
    );
    let mut client = Client::new(client_config(0), 1, now);
    client.open(now).unwrap();
    assert_eq!(client.resume_from(state), Err(ClientError::AlreadyOpen));
}
