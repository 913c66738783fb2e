//! Time as every role sees it (issue 23, "Commands must not use a stale clock"), over
//! random schedules of a client and a server wired to each other on a virtual clock:
//!
//! - a timer never fires before its deadline: `handle_timeout(t)` with
//!   `t < poll_timeout()` writes nothing, reports nothing and moves no deadline;
//! - a timer fires at its deadline: `handle_timeout(poll_timeout())` does something the
//!   embedder can see (whitespace, a stream error, `Closed`), or, for the idle trim of a
//!   session without keepalive, which gives back memory silently, retires that deadline:
//!   the embedder is never woken twice for the same one;
//! - after every call that took the time, `poll_timeout()` is not in the past.

use std::time::{Duration, Instant};

use proptest::prelude::*;
use xmpp_sansio::client::{Client, ClientConfig, ClientEvent};
use xmpp_sansio::error::{StreamError, StreamErrorCondition};
use xmpp_sansio::sasl::{Mechanism, UserCredential};
use xmpp_sansio::server::{Server, ServerConfig, ServerEvent};
use xmpp_sansio::stream::{CloseReason, TlsPolicy};
use xmpp_sansio::xml::{Element, parse_element};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Client,
    Server,
}

/// How long before a deadline.
#[derive(Debug, Clone, Copy)]
enum Before {
    /// This fraction of the way from now to the deadline.
    Fraction(f64),
    /// This many nanoseconds before it: a timer that fires a little early is caught too.
    Nanos(u64),
}

#[derive(Debug, Clone)]
enum Op {
    /// The clock moves on; nobody is called.
    Wait(u64),
    /// `handle_timeout` at the current time.
    Timeout(Side),
    /// `handle_timeout` at a time before the side's next deadline.
    Early(Side, Before),
    /// `handle_timeout` exactly at the side's next deadline (or now, if that is later).
    AtDeadline(Side),
    /// Up to this many bytes of what the other side wrote reach this side.
    Deliver(Side, usize),
    /// The embedder answers what the cores asked (TLS, credentials, binding).
    Answer,
    /// Both sides talk, at the current time, until neither has anything more to say.
    Settle,
    Send(Side),
    Close(Side),
    CloseWith(Side),
    Eof(Side),
}

fn side() -> impl Strategy<Value = Side> {
    prop_oneof![Just(Side::Client), Just(Side::Server)]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0u64..40_000).prop_map(Op::Wait),
        2 => side().prop_map(Op::Timeout),
        2 => (side(), 0.0f64..1.0).prop_map(|(s, f)| Op::Early(s, Before::Fraction(f))),
        2 => (side(), 1u64..2_000_000).prop_map(|(s, n)| Op::Early(s, Before::Nanos(n))),
        3 => side().prop_map(Op::AtDeadline),
        8 => (side(), 1usize..400).prop_map(|(s, n)| Op::Deliver(s, n)),
        4 => Just(Op::Answer),
        3 => Just(Op::Settle),
        2 => side().prop_map(Op::Send),
        1 => side().prop_map(Op::Close),
        1 => side().prop_map(Op::CloseWith),
        1 => side().prop_map(Op::Eof),
    ]
}

/// How both sides are set up.
#[derive(Debug, Clone)]
struct Setup {
    tls: TlsPolicy,
    client_timeout: u64,
    client_keepalive: Option<u64>,
    server_timeout: u64,
    server_keepalive: Option<u64>,
}

fn setup() -> impl Strategy<Value = Setup> {
    (
        prop_oneof![Just(TlsPolicy::Disabled), Just(TlsPolicy::Optional)],
        1u64..30_000,
        prop::option::of(1u64..60_000),
        1u64..30_000,
        prop::option::of(1u64..60_000),
    )
        .prop_map(
            |(tls, client_timeout, client_keepalive, server_timeout, server_keepalive)| Setup {
                tls,
                client_timeout,
                client_keepalive,
                server_timeout,
                server_keepalive,
            },
        )
}

/// What the embedder still has to answer.
#[derive(Default)]
struct Asked {
    client_tls: bool,
    server_tls: bool,
    auth: bool,
    bind: bool,
}

/// A client and a server wired to each other in memory, on a virtual clock.
struct Pair {
    now: Instant,
    client: Client,
    server: Server,
    /// What each side wrote that the other has not read yet.
    to_server: Vec<u8>,
    to_client: Vec<u8>,
    asked: Asked,
    /// Has `close` been called, by side?
    closed_by_us: [bool; 2],
    /// The response timeout, by side.
    response_timeout: [Duration; 2],
}

const MS: Duration = Duration::from_millis(1);

impl Pair {
    fn new(setup: &Setup) -> Pair {
        let now = Instant::now();
        let mut c = ClientConfig::new("juliet@example.com".parse().unwrap(), "pw");
        c.tls = setup.tls;
        c.allow_plain_without_tls = true;
        c.mechanisms = vec![Mechanism::Plain];
        c.response_timeout = MS * setup.client_timeout as u32;
        c.keepalive = setup.client_keepalive.map(|k| MS * k as u32);
        let mut s = ServerConfig::new("example.com", b"secret".to_vec());
        s.tls = setup.tls;
        s.allow_plain_without_tls = true;
        s.mechanisms = vec![Mechanism::Plain];
        s.response_timeout = MS * setup.server_timeout as u32;
        s.keepalive = setup.server_keepalive.map(|k| MS * k as u32);
        let mut pair = Pair {
            now,
            client: Client::new(c, 1, now),
            server: Server::new(s, 0, now),
            to_server: Vec::new(),
            to_client: Vec::new(),
            asked: Asked::default(),
            closed_by_us: [false; 2],
            response_timeout: [
                MS * setup.client_timeout as u32,
                MS * setup.server_timeout as u32,
            ],
        };
        pair.client.open(now).unwrap();
        pair.check_not_past(Side::Client, now);
        pair.check_not_past(Side::Server, now);
        pair.collect();
        pair
    }

    fn poll_timeout(&self, side: Side) -> Option<Instant> {
        match side {
            Side::Client => self.client.poll_timeout(),
            Side::Server => self.server.poll_timeout(),
        }
    }

    fn handle_timeout(&mut self, side: Side, t: Instant) {
        match side {
            Side::Client => self.client.handle_timeout(t),
            Side::Server => self.server.handle_timeout(t),
        }
    }

    /// Whatever the side has to say since the last call: bytes written, events reported.
    fn take(&mut self, side: Side) -> (Vec<u8>, usize) {
        let mut out = Vec::new();
        let mut events = 0;
        match side {
            Side::Client => {
                while let Some(b) = self.client.poll_transmit() {
                    out.extend_from_slice(&b);
                }
                while let Some(ev) = self.client.poll_event() {
                    events += 1;
                    if matches!(ev, ClientEvent::TlsRequested) {
                        self.asked.client_tls = true;
                    }
                }
            }
            Side::Server => {
                while let Some(b) = self.server.poll_transmit() {
                    out.extend_from_slice(&b);
                }
                while let Some(ev) = self.server.poll_event() {
                    events += 1;
                    match ev {
                        ServerEvent::TlsRequested => self.asked.server_tls = true,
                        ServerEvent::AuthRequest { .. } => self.asked.auth = true,
                        ServerEvent::BindRequest { .. } => self.asked.bind = true,
                        _ => {}
                    }
                }
            }
        }
        (out, events)
    }

    /// Moves what both sides said into the pipes.
    fn collect(&mut self) {
        let (out, _) = self.take(Side::Client);
        self.to_server.extend_from_slice(&out);
        let (out, _) = self.take(Side::Server);
        self.to_client.extend_from_slice(&out);
    }

    fn check_not_past(&self, side: Side, now: Instant) {
        if let Some(t) = self.poll_timeout(side) {
            assert!(
                t >= now,
                "{side:?}: poll_timeout {:?} before the time of the last call",
                now - t
            );
        }
    }

    fn stanza() -> Element {
        parse_element(
            "jabber:client",
            b"<message to='romeo@example.net'><body>hi</body></message>",
        )
        .unwrap()
    }

    fn run(&mut self, op: &Op) {
        let now = self.now;
        let mut called = Vec::new();
        match *op {
            Op::Wait(ms) => self.now += MS * ms as u32,
            Op::Timeout(side) => {
                self.handle_timeout(side, now);
                called.push(side);
            }
            Op::Early(side, before) => {
                let Some(deadline) = self.poll_timeout(side) else {
                    return;
                };
                let t = match before {
                    Before::Fraction(f) => now + (deadline - now).mul_f64(f),
                    Before::Nanos(n) => deadline
                        .checked_sub(Duration::from_nanos(n))
                        .unwrap_or(now)
                        .max(now),
                };
                if t >= deadline {
                    return;
                }
                self.now = t;
                let before = self.poll_timeout(side);
                self.handle_timeout(side, t);
                let (out, events) = self.take(side);
                assert!(
                    out.is_empty() && events == 0,
                    "{side:?}: handle_timeout {:?} before the deadline wrote {:?} and \
                     reported {events} events",
                    deadline - t,
                    String::from_utf8_lossy(&out)
                );
                assert_eq!(
                    self.poll_timeout(side),
                    before,
                    "{side:?}: a deadline moved"
                );
                called.push(side);
            }
            Op::AtDeadline(side) => {
                let Some(deadline) = self.poll_timeout(side) else {
                    return;
                };
                // The shared clock may be past a deadline of a side not called since.
                self.now = deadline.max(now);
                self.handle_timeout(side, self.now);
                let (out, events) = self.take(side);
                let fired = !out.is_empty() || events > 0;
                assert!(
                    fired || self.poll_timeout(side) != Some(deadline),
                    "{side:?}: nothing happened at the deadline, and it stands"
                );
                match side {
                    Side::Client => self.to_server.extend_from_slice(&out),
                    Side::Server => self.to_client.extend_from_slice(&out),
                }
                called.push(side);
            }
            Op::Deliver(side, max) => {
                let pipe = match side {
                    Side::Client => &mut self.to_client,
                    Side::Server => &mut self.to_server,
                };
                let n = max.min(pipe.len());
                let bytes: Vec<u8> = pipe.drain(..n).collect();
                // Input while TLS is being set up is refused: the test's embedder sends
                // nothing then, but a refusal is no failure of the property.
                let _ = match side {
                    Side::Client => self.client.handle_input(now, &bytes).map_err(|_| ()),
                    Side::Server => self.server.handle_input(now, &bytes).map_err(|_| ()),
                };
                called.push(side);
            }
            Op::Answer => {
                // TLS goes up on both ends at once, once both asked for it.
                if self.asked.client_tls && self.asked.server_tls {
                    self.asked.client_tls = false;
                    self.asked.server_tls = false;
                    let _ = self.server.tls_established(now, vec![]);
                    let _ = self.client.tls_established(now, None);
                    called.extend([Side::Client, Side::Server]);
                }
                if std::mem::take(&mut self.asked.auth) {
                    let _ = self
                        .server
                        .credentials(now, UserCredential::Password("pw".into()));
                    called.push(Side::Server);
                }
                if std::mem::take(&mut self.asked.bind) {
                    let jid = "juliet@example.com/r".parse().unwrap();
                    let _ = self.server.bind(now, jid);
                    called.push(Side::Server);
                }
            }
            Op::Settle => {
                for _ in 0..20 {
                    self.run(&Op::Answer);
                    self.run(&Op::Deliver(Side::Server, usize::MAX));
                    self.run(&Op::Deliver(Side::Client, usize::MAX));
                }
            }
            Op::Send(side) => {
                let _ = match side {
                    Side::Client => self.client.send(now, &Self::stanza()).map_err(|_| ()),
                    Side::Server => self.server.send(now, &Self::stanza()).map_err(|_| ()),
                };
                called.push(side);
            }
            Op::Close(side) => {
                let first = !std::mem::replace(&mut self.closed_by_us[side as usize], true);
                match side {
                    Side::Client => self.client.close(now),
                    Side::Server => self.server.close(now),
                }
                let over = match side {
                    Side::Client => self.client.is_closed(),
                    Side::Server => self.server.is_closed(),
                };
                if first && !over {
                    // The closing handshake gets the whole response timeout from the close.
                    assert_eq!(
                        self.poll_timeout(side),
                        Some(now + self.response_timeout[side as usize]),
                        "{side:?}: the closing timer"
                    );
                }
                called.push(side);
            }
            Op::CloseWith(side) => {
                let error = StreamError::new(StreamErrorCondition::SystemShutdown);
                match side {
                    Side::Client => self.client.close_with(now, error),
                    Side::Server => self.server.close_with(now, error),
                }
                called.push(side);
            }
            Op::Eof(side) => match side {
                Side::Client => self.client.handle_eof(),
                Side::Server => self.server.handle_eof(),
            },
        }
        for side in called {
            self.check_not_past(side, self.now);
        }
        self.collect();
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn timers_fire_at_their_deadline_and_never_before(
        setup in setup(),
        ops in prop::collection::vec(op(), 1..80),
    ) {
        let mut pair = Pair::new(&setup);
        for op in &ops {
            pair.run(op);
        }
    }
}

fn online_pair(client_keepalive: Option<u64>) -> Pair {
    let mut pair = Pair::new(&Setup {
        tls: TlsPolicy::Disabled,
        client_timeout: 5_000,
        client_keepalive,
        server_timeout: 5_000,
        server_keepalive: None,
    });
    pair.run(&Op::Settle);
    pair
}

/// The case issue 23 reports: after an idle period longer than the response timeout,
/// `close` must give the peer the whole timeout to answer, counted from the close.
#[test]
fn a_close_after_a_long_idle_period_waits_the_whole_timeout() {
    for side in [Side::Server, Side::Client] {
        // Idle online without keepalive, each side trims its memory once, silently, and
        // then has no timer.
        let mut pair = online_pair(None);
        let online_at = pair.now;
        for side in [Side::Server, Side::Client] {
            assert_eq!(pair.poll_timeout(side), Some(online_at + MS * 60_000));
        }
        pair.run(&Op::Wait(60_000));
        for side in [Side::Server, Side::Client] {
            pair.run(&Op::Timeout(side));
            assert_eq!(
                pair.take(side),
                (Vec::new(), 0),
                "{side:?}: trimmed silently"
            );
            assert_eq!(pair.poll_timeout(side), None, "{side:?}");
        }
        pair.run(&Op::Close(side));
        let closed_at = pair.now;
        assert_eq!(
            pair.poll_timeout(side),
            Some(closed_at + MS * 5_000),
            "{side:?}"
        );
        pair.run(&Op::Timeout(side));
        pair.run(&Op::Wait(4_999));
        pair.run(&Op::Timeout(side));
        let (out, events) = pair.take(side);
        assert!(out.is_empty() && events == 0, "{side:?} timed out early");
        // The peer answers in time: a clean close both ways.
        let peer = match side {
            Side::Client => Side::Server,
            Side::Server => Side::Client,
        };
        pair.run(&Op::Deliver(peer, usize::MAX));
        pair.run(&Op::Deliver(side, usize::MAX));
        assert!(
            pair.client.is_closed() && pair.server.is_closed(),
            "{side:?}"
        );
    }
}

/// The keepalive counts from the last write, which a send moves: a stale clock would make
/// it fire early or never.
#[test]
fn the_keepalive_counts_from_the_last_write() {
    let mut pair = online_pair(Some(10_000));
    let online_at = pair.now;
    assert_eq!(
        pair.poll_timeout(Side::Client),
        Some(online_at + MS * 10_000)
    );
    pair.run(&Op::Wait(7_000));
    pair.run(&Op::Send(Side::Client));
    assert_eq!(
        pair.poll_timeout(Side::Client),
        Some(pair.now + MS * 10_000)
    );
    pair.run(&Op::Wait(10_000));
    pair.run(&Op::Timeout(Side::Client));
    assert!(
        pair.to_server.ends_with(b" "),
        "a keepalive at the deadline"
    );
}

#[test]
fn the_closed_event_says_why() {
    let reason = |pair: &mut Pair| {
        let mut last = None;
        while let Some(ev) = pair.client.poll_event() {
            last = Some(ev);
        }
        match last {
            Some(ClientEvent::Closed(reason)) => reason,
            other => panic!("{other:?}"),
        }
    };
    let mut pair = online_pair(None);
    pair.client.close(pair.now);
    pair.server
        .handle_input(pair.now, b"</stream:stream>")
        .unwrap();
    let answer = pair.server.poll_transmit().unwrap();
    pair.client.handle_input(pair.now, &answer).unwrap();
    assert_eq!(reason(&mut pair), CloseReason::LocalClose);

    let mut pair = online_pair(None);
    pair.server
        .close_with(pair.now, StreamError::new(StreamErrorCondition::Conflict));
    let error = pair.server.poll_transmit().unwrap();
    pair.client.handle_input(pair.now, &error).unwrap();
    assert!(matches!(
        reason(&mut pair),
        CloseReason::PeerStreamError(e) if e.condition == StreamErrorCondition::Conflict
    ));

    let mut pair = online_pair(None);
    pair.client.handle_eof();
    assert_eq!(reason(&mut pair), CloseReason::Eof);
}

/// The server has a keepalive like the client's, off unless configured.
#[test]
fn the_server_keepalive_is_off_by_default_and_sends_whitespace_when_set() {
    assert_eq!(ServerConfig::new("example.com", vec![]).keepalive, None);
    let mut pair = Pair::new(&Setup {
        tls: TlsPolicy::Disabled,
        client_timeout: 5_000,
        client_keepalive: None,
        server_timeout: 5_000,
        server_keepalive: Some(20_000),
    });
    pair.run(&Op::Settle);
    let online_at = pair.now;
    assert_eq!(
        pair.poll_timeout(Side::Server),
        Some(online_at + MS * 20_000)
    );
    pair.run(&Op::Wait(20_000));
    pair.run(&Op::Timeout(Side::Server));
    assert_eq!(pair.to_client, b" ");
    assert_eq!(
        pair.poll_timeout(Side::Server),
        Some(pair.now + MS * 20_000)
    );
}
