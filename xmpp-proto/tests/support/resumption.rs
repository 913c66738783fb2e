//! The harness of the stream-resumption scenarios (XEP-0198 section 5): our client and
//! server, a ledger of what each sent and what arrived, cuts, and the scenario itself. Used
//! by `tests/sm_resumption.rs` with a seeded generator and by the `pair` fuzz target (which
//! includes this file by path) with the fuzzer's bytes as the choices.

#![allow(dead_code)]

use std::collections::HashMap;
use std::time::Instant;

use xmpp_sansio::client::{Client, ClientConfig, ClientEvent, ResumptionState};
use xmpp_sansio::server::{Server, ServerConfig, ServerEvent};
use xmpp_sansio::stream::TlsPolicy;
use xmpp_sansio::xml::{Element, parse_element};

/// Where a scenario's choices come from: a seeded generator in the tests, the fuzzer's
/// bytes in the `pair` fuzz target.
pub trait Choices {
    /// A number below `n` (0 when `n` is 0).
    fn below(&mut self, n: u64) -> u64;
}

/// xorshift64*: the scenarios' randomness, from the seed alone.
pub struct Rng(pub u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

impl Choices for Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// Which stanza ids arrived where, and which were handed back as unacknowledged.
#[derive(Default)]
pub struct Ledger {
    /// id -> times it arrived.
    pub arrived: HashMap<String, u32>,
    /// ids handed back to an embedder as not acknowledged.
    pub reported: Vec<String>,
    /// ids given to `send`, per direction.
    pub sent: Vec<String>,
}

pub fn client_config(every: u32) -> ClientConfig {
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

pub fn server_config(every: u32) -> ServerConfig {
    let mut s = ServerConfig::new("example.com", b"secret".to_vec());
    s.tls = TlsPolicy::Disabled;
    s.allow_plain_without_tls = true;
    s.stream_management = true;
    s.resumption = Some(300);
    s.ack_request_every = every;
    s
}

pub fn message(id: &str, to: &str) -> Element {
    let xml = format!("<message id='{id}' to='{to}'><body>{id}</body></message>");
    parse_element("jabber:client", xml.as_bytes()).unwrap()
}

/// The id of a stanza as serialized (`<message id='..'`).
pub fn id_of(bytes: &[u8]) -> String {
    let el = parse_element("jabber:client", bytes).unwrap();
    el.attr("id").unwrap().into_owned()
}

pub struct Pair {
    pub client: Client,
    pub server: Server,
    /// The state the server's embedder keeps for resumption; `None` once lost.
    pub server_state: Option<ResumptionState>,
    pub resumed: (bool, bool),
    pub failed: bool,
}

impl Pair {
    pub fn new(now: Instant, seed: u64, every: u32, resume: Option<ResumptionState>) -> Self {
        Pair::with(
            now,
            seed,
            client_config(every),
            server_config(every),
            resume,
        )
    }

    pub fn with(
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
    pub fn events(&mut self, now: Instant, server_ledger: &mut Ledger, client_ledger: &mut Ledger) {
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
    pub fn pump(&mut self, now: Instant, to_server: &mut Ledger, to_client: &mut Ledger) {
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
    pub fn cut(
        &mut self,
        now: Instant,
        rng: &mut impl Choices,
        to_server: &mut Ledger,
        to_client: &mut Ledger,
    ) {
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
pub fn scenario(seed: u64, rounds: u32, lose_last: bool) {
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    scenario_with(&mut rng, seed, rounds, lose_last);
}

/// [`scenario`], every choice (how many stanzas, which side sends, where each cut falls)
/// taken from `rng`; `seed` only names the run and seeds the sessions.
pub fn scenario_with(rng: &mut impl Choices, seed: u64, rounds: u32, lose_last: bool) {
    let now = Instant::now();
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
        pair.cut(now, rng, &mut to_server, &mut to_client);
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

/// A pair online with stream management (and resumption) on both sides.
pub fn online(now: Instant, c: ClientConfig, s: ServerConfig) -> (Pair, Ledger, Ledger) {
    let (mut up, mut down) = (Ledger::default(), Ledger::default());
    let mut pair = Pair::with(now, 5, c, s, None);
    pair.pump(now, &mut up, &mut down);
    assert_eq!(pair.client.unacked(), Some(0));
    (pair, up, down)
}
