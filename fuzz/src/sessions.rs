//! Checks of the session roles and of JIDs under arbitrary input, shared by the fuzz targets
//! `client_session`, `server_session`, `component_session`, `s2s_out_session`,
//! `s2s_in_session` and `jid`, and by
//! `repo-tests/tests/fuzz_corpus.rs`, which replays the committed corpora on stable.
//!
//! A session input is a script decoded from bytes, so that no `arbitrary` is needed and a
//! corpus file means the same to the fuzzer and to `cargo test`:
//!
//! - `0x00 n bytes...`: the peer sends the next `n` bytes;
//! - `0x01 k`: the embedder's decision number `k` (open, TLS established, credentials,
//!   bind, send a stanza, close...: see each role's `act`);
//! - `0x02 t`: the clock moves on by `t * 250` ms;
//! - `0x03`: end of input;
//! - any other byte: the peer sends the rest of the script as bytes.
//!
//! A leading `0xFF` selects a variant: PLAIN allowed without TLS and a FAST token to log in
//! with (client), TLS disabled and a SASL2 task required (server), the server side
//! (component). For the c2s roles a `0xFE` before it selects
//! WebSocket framing (RFC 7395, over `wss:`): each `0x00 n` is then one message, and each
//! message the core emits must be one standalone element, nothing after its `<close/>`.
//! Both c2s sides have SASL2, Bind 2, FAST and XEP-0474 on, so scripts reach those paths
//! whenever the peer's bytes speak them.
//!
//! Properties: no panic; every byte the core emits, cut into its streams (each begins with
//! `<?xml`), parses as well-formed XML with our parser, with nothing after the core's own
//! closing tag (RFC 6120 section 4.4); output stays proportional to input; after `closed`,
//! nothing more is emitted.

use std::time::{Duration, Instant};

use xmpp_sansio::client::{Client, ClientConfig, ClientEvent, ResumptionState};
use xmpp_sansio::component::{Component, ComponentConfig, ComponentServer, ComponentServerConfig};
use xmpp_sansio::connection::{Connection, RoleEvent};
use xmpp_sansio::dialback::DialbackSecret;
use xmpp_sansio::error::{SaslFailureCondition, StanzaErrorCondition};
use xmpp_sansio::jid::Jid;
use xmpp_sansio::s2s::{
    DialbackOutcome, DomainPair, S2sConfig, S2sEvent, S2sIn, S2sOut, VerifyRequest,
};
use xmpp_sansio::sasl::ht::{FastToken, HtMechanism};
use xmpp_sansio::sasl::{CbType, ChannelBinding, Mechanism, UserCredential};
use xmpp_sansio::server::{Server, ServerConfig, ServerEvent};
use xmpp_sansio::stanza::Stanza;
use xmpp_sansio::stream::{Framing, TlsPolicy};
use xmpp_sansio::xml::{ErrorKind, Event, StreamParser};

/// One step of a session script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op<'a> {
    /// Bytes from the peer.
    Peer(&'a [u8]),
    /// The embedder's decision number `k`.
    Act(u8),
    /// The clock moves on.
    Wait(Duration),
    /// End of input.
    Eof,
}

/// Decodes a script (see the module documentation).
pub fn script(data: &[u8]) -> Vec<Op<'_>> {
    let mut ops = Vec::new();
    let mut i = 0;
    while i < data.len() {
        match data[i] {
            0 => {
                let n = data.get(i + 1).copied().unwrap_or(0) as usize;
                let end = (i + 2 + n).min(data.len());
                ops.push(Op::Peer(&data[(i + 2).min(end)..end]));
                i = end;
            }
            1 => {
                ops.push(Op::Act(data.get(i + 1).copied().unwrap_or(0)));
                i += 2;
            }
            2 => {
                let t = data.get(i + 1).copied().unwrap_or(0) as u64;
                ops.push(Op::Wait(Duration::from_millis(t * 250)));
                i += 2;
            }
            3 => {
                ops.push(Op::Eof);
                i += 1;
            }
            _ => {
                ops.push(Op::Peer(&data[i..]));
                i = data.len();
            }
        }
    }
    ops
}

/// Encodes peer bytes and decisions as a script, for writing seeds.
pub fn encode(ops: &[Op<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    for op in ops {
        match op {
            Op::Peer(bytes) => {
                for chunk in bytes.chunks(255) {
                    out.push(0);
                    out.push(chunk.len() as u8);
                    out.extend_from_slice(chunk);
                }
            }
            Op::Act(k) => out.extend_from_slice(&[1, *k]),
            Op::Wait(d) => out.extend_from_slice(&[2, (d.as_millis() / 250).min(255) as u8]),
            Op::Eof => out.push(3),
        }
    }
    out
}

/// Checks that `out`, everything a core emitted, is well-formed: each stream (from an XML
/// declaration to the next) parses without error.
pub fn check_output(out: &[u8]) {
    const DECL: &[u8] = b"<?xml version='1.0'?>";
    let mut starts: Vec<usize> = (0..out.len())
        .filter(|&i| out[i..].starts_with(DECL))
        .collect();
    if starts.first() != Some(&0) {
        starts.insert(0, 0);
    }
    starts.push(out.len());
    for w in starts.windows(2) {
        let segment = &out[w[0]..w[1]];
        let mut p = StreamParser::default();
        match p.handle_input(segment) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::ContentAfterClose => panic!(
                "the core wrote after its own closing tag: {:?}",
                String::from_utf8_lossy(&segment[e.offset() as usize..])
            ),
            Err(e) => panic!(
                "the core emitted malformed XML: {e}\n{:?}",
                String::from_utf8_lossy(segment)
            ),
        }
        while let Some(ev) = p.poll_event() {
            if let Event::Element(el) = ev {
                let _ = el.to_string();
            }
        }
    }
}

/// Checks one WebSocket message a core emitted (RFC 7395 section 3.3.3): one element that
/// parses alone, with no stream header to inherit declarations from; nothing after the
/// core's `<close/>`.
pub fn check_message(message: &[u8], closed: &mut bool) {
    assert!(
        !*closed,
        "the core wrote after its own <close/>: {:?}",
        String::from_utf8_lossy(message)
    );
    let mut p = StreamParser::default();
    if !message.starts_with(b"<open") {
        let open = format!("<open xmlns='{}'/>", xmpp_sansio::error::FRAMING_NS);
        p.handle_message(open.as_bytes()).expect("an <open/>");
        let _ = p.poll_event();
    }
    if let Err(e) = p.handle_message(message) {
        panic!(
            "the core emitted a message that is not one element: {e}\n{:?}",
            String::from_utf8_lossy(message)
        );
    }
    match p.poll_event() {
        Some(Event::Element(el)) => {
            *closed = el.is("close", xmpp_sansio::error::FRAMING_NS);
            let _ = el.to_string();
        }
        Some(Event::StreamOpened(_)) => {}
        other => panic!("not one element: {other:?}"),
    }
}

/// The `0xFD` prelude of the server target: a c2s client's login over TCP without TLS
/// (PLAIN as `user`, password `pencil`; decision 1 gives that credential, 4 binds), the
/// session online at its end.
pub const ONLINE_PRELUDE: [Op<'static>; 6] = [
    Op::Peer(
        b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' \
          to='example.com' version='1.0'><auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' \
          mechanism='PLAIN'>AHVzZXIAcGVuY2ls</auth>",
    ),
    Op::Act(1),
    Op::Peer(
        b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' \
          to='example.com' version='1.0'>",
    ),
    Op::Peer(b"<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>"),
    Op::Act(4),
    Op::Peer(b""),
];

/// A leading 0xFE byte selects WebSocket framing (c2s roles).
fn framing(data: &[u8]) -> (Framing, &[u8]) {
    match data.split_first() {
        Some((0xFE, rest)) => (Framing::WebSocket { secure: true }, rest),
        _ => (Framing::Tcp, data),
    }
}

/// A leading 0xFF byte is a flag for the script that follows (a variant of the session).
fn flag(data: &[u8]) -> (bool, &[u8]) {
    match data.split_first() {
        Some((0xFF, rest)) => (true, rest),
        _ => (false, data),
    }
}

fn bound(input: usize, acts: usize, output: usize) {
    // Every output answers the peer's bytes or carries out one of the embedder's decisions
    // (a stanza sent, a bind result, a resumption that resends its queue): a generous bound
    // for each that a loop would still break.
    assert!(
        output <= 4096 + 64 * input + 1024 * acts,
        "{output} bytes out for {input} in and {acts} decisions"
    );
}

fn stanza(ns: &str, k: u8) -> xmpp_sansio::xml::Element {
    let xml = format!(
        "<message to='romeo@example.net' from='juliet@example.com/balcony' id='m{k}'><body>hi &amp; bye</body></message>"
    );
    xmpp_sansio::xml::parse_element(ns, xml.as_bytes()).expect("a well-formed stanza")
}

/// A stream management state to resume (XEP-0198 section 5), as an embedder would keep
/// it: the id `fuzz`, bound to `jid`, with one unacknowledged stanza.
fn resumption_state(jid: &str) -> ResumptionState {
    ResumptionState {
        id: "fuzz".into(),
        jid: jid.parse().expect("a full JID"),
        handled: u32::MAX,
        acked: u32::MAX - 1,
        unacked: vec![xmpp_sansio::bytes::Bytes::from_static(
            b"<message to='romeo@example.net' id='old'><body>again</body></message>",
        )],
        location: None,
        max: Some(60),
    }
}

/// Plays a script against one role: peer bytes, the clock and the end of input mean the same
/// for every role; `act` carries out decision `k` and `on_event` sees every event, both with
/// the caller's `state`. Checks that nothing is emitted or reported after `closed`, that the
/// output stays proportional to the input and that it is well-formed.
fn play<C: Connection, S>(
    core: &mut C,
    framing: Framing,
    data: &[u8],
    mut state: S,
    mut act: impl FnMut(&mut C, &mut S, u8, Instant),
    mut on_event: impl FnMut(&C, &mut S, C::Event),
) {
    let mut now = Instant::now();
    let (mut input, mut acts, mut out, mut closed) = (0, 0, Vec::new(), false);
    let mut sent_close = false;
    for op in script(data) {
        match op {
            Op::Peer(bytes) => {
                input += bytes.len();
                let _ = core.handle_input(now, bytes);
            }
            Op::Act(k) => {
                acts += 1;
                act(core, &mut state, k, now);
            }
            Op::Wait(d) => {
                now += d;
                core.handle_timeout(now);
            }
            Op::Eof => core.handle_eof(),
        }
        while let Some(b) = core.poll_transmit() {
            assert!(!closed, "output after closed");
            if framing.is_websocket() {
                check_message(&b, &mut sent_close);
            }
            out.extend_from_slice(&b);
        }
        while let Some(ev) = core.poll_event() {
            assert!(!closed, "an event after closed");
            closed = ev.close_reason().is_some();
            on_event(core, &mut state, ev);
        }
    }
    bound(input, acts, out.len());
    if !framing.is_websocket() {
        check_output(&out);
    }
}

/// Runs a script against a client.
pub fn client_session(data: &[u8]) {
    let (framing, data) = framing(data);
    let (plain, data) = flag(data);
    let mut config =
        ClientConfig::new("juliet@example.com".parse().expect("a JID"), "r0m30myr0m30");
    config.resource = Some("balcony".into());
    config.tls = TlsPolicy::Optional;
    config.allow_plain_without_tls = plain;
    config.keepalive = Some(Duration::from_secs(10));
    // XEP-0198, when the server offers it: counted, requested (after 2 stanzas and on a
    // timer), queued under small limits, and resumable.
    config.stream_management = true;
    config.ack_request_every = 2;
    config.ack_request_after = Some(Duration::from_millis(500));
    config.unacked_limits.max_stanzas = 4;
    config.unacked_limits.max_bytes = 512;
    config.resumption = true;
    // SASL2 (XEP-0388) with Bind 2, FAST and XEP-0474 when the server offers them: with the
    // flag, log in with a FAST token, else ask for one.
    config.sasl2 = true;
    config.bind2_tag = Some("fuzz".into());
    config.fast_request_token = !plain;
    config.fast_token = plain.then(fast_token);
    config.framing = framing;
    let mut c = Client::new(config, 7, Instant::now());
    let act = |c: &mut Client, _: &mut (), k: u8, now| match k % 8 {
        0 => {
            let _ = c.open(now);
        }
        1 => {
            let _ = c.tls_established(now, None);
        }
        2 => {
            let cb = ChannelBinding::new(CbType::TlsExporter, vec![k; 32]);
            let _ = c.tls_established(now, Some(cb));
        }
        3 => {
            let _ = c.auth(now, None);
        }
        4 => {
            let _ = c.auth(now, Some(Mechanism::Plain));
        }
        5 => {
            let _ = c.send(now, &stanza("jabber:client", k));
        }
        6 => c.close(now),
        _ if k >= 0x80 => match k >> 5 {
            // SASL2 tasks and direct TLS (refused once open). The decisions that reach here
            // are `k % 8 == 7`: 135, 143, 151, 159 in this group, told apart by bits 3-4.
            4 => match (k >> 3) & 3 {
                0 => {
                    let _ = c.sasl2_next(now, "TOTP", &[stanza("urn:example:task", k)]);
                }
                1 => {
                    let _ = c.sasl2_task_data(now, &[stanza("urn:example:task", k)]);
                }
                2 => {
                    let _ = c.direct_tls(None, false);
                }
                _ => {
                    let _ = c.request_ack(now);
                }
            },
            // Before `open`: resume the session `fuzz` after SASL.
            5 => {
                let _ = c.resume_from(resumption_state("juliet@example.com/balcony"));
            }
            6 => {
                let _ = c.take_resumption_state();
                let _ = c.take_unacked();
            }
            _ => {
                let _ = c.request_ack(now);
            }
        },
        _ => {
            let _ = c.next_id();
        }
    };
    play(&mut c, framing, data, (), act, |_, _, _: ClientEvent| {});
}

/// The SASL2 or FAST question the server's embedder was asked last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Asked {
    Nothing,
    Task,
    TaskData,
    FastAuth,
    FastToken,
}

/// The FAST token both sides of the fuzzed sessions know.
fn fast_token() -> FastToken {
    FastToken {
        mechanism: HtMechanism::Sha256None,
        secret: "fuzz-token".into(),
        expiry: "2030-01-01T00:00:00Z".into(),
    }
}

/// Runs a script against the server side of c2s.
pub fn server_session(data: &[u8]) {
    // A leading 0xFD: the script runs once a canned login brought the client online, so
    // that the fuzzer spends its inputs on the online state (raw bytes seldom log in).
    let (online, data) = match data.split_first() {
        Some((0xFD, rest)) => (true, rest),
        _ => (false, data),
    };
    let (framing, data) = framing(data);
    let script;
    let data = if online && framing == Framing::Tcp {
        let mut s = encode(&ONLINE_PRELUDE);
        s.extend_from_slice(data);
        script = s;
        &script[..]
    } else {
        data
    };
    let (no_tls, data) = flag(data);
    let mut config = ServerConfig::new("example.com", b"secret".to_vec());
    config.stream_id = Some("s1".into());
    config.server_nonce = Some("3rfcNHYJY1ZVvWVs7j".into());
    config.tls = if no_tls {
        TlsPolicy::Disabled
    } else {
        TlsPolicy::Optional
    };
    config.allow_plain_without_tls = true;
    // XEP-0198 offered, with resumption: a script may enable it, ack, and resume the
    // session `fuzz` of `user@example.com`.
    config.stream_management = true;
    config.ack_request_every = 3;
    config.ack_request_after = Some(Duration::from_millis(500));
    config.unacked_limits.max_stanzas = 4;
    config.unacked_limits.max_bytes = 512;
    config.resumption = Some(60);
    // SASL2 with Bind 2 (inline stream management and resumption), FAST with
    // HT-SHA-256-NONE, XEP-0474's hash, and, without TLS, a task every login must do.
    config.sasl2 = true;
    config.fast = vec![HtMechanism::Sha256None, HtMechanism::Sha256Expr];
    config.downgrade_protection = true;
    if no_tls {
        config.sasl2_tasks = vec!["TOTP".into()];
    }
    config.framing = framing;
    let mut s = Server::new(config, 7, Instant::now());
    // The last stanza handed over, to answer with an error.
    let act = |s: &mut Server, pending: &mut (Option<Stanza>, Asked), k: u8, now| match k % 9 {
        0 => {
            let _ = s.tls_established(now, vec![]);
        }
        1 => {
            let _ = s.credentials(now, UserCredential::Password("pencil".into()));
        }
        2 => {
            let _ = s.credentials(now, UserCredential::Unknown);
        }
        3 => {
            if let Ok(jid) = "user@example.com".parse() {
                let _ = s.external(now, jid);
            }
        }
        4 => {
            let r = s.make_resource();
            if let Ok(jid) = format!("user@example.com/{r}").parse() {
                let _ = s.bind(now, jid);
            }
        }
        5 => {
            let _ = s.reject_bind(now, StanzaErrorCondition::Conflict);
        }
        6 => {
            let _ = s.send(now, &stanza("jabber:client", k));
        }
        7 => {
            if let Some(el) = pending.0.take() {
                let _ = s.reply_error(now, &el, StanzaErrorCondition::ServiceUnavailable);
            }
        }
        _ if k >= 0x80 => match k >> 5 {
            // The decisions that reach here are `k % 9 == 8`: 134, 143 and 152 in this group,
            // told apart by bits 3-4: answer the SASL2 or FAST question last asked (134),
            // refuse it (152), or ask for an ack (143, as before).
            4 => match ((k >> 3) & 3, pending.1) {
                (0, Asked::Task) => {
                    let _ = s.sasl2_task_data(now, &[stanza("urn:example:task", k)]);
                }
                (0, Asked::TaskData) => {
                    let _ = s.sasl2_task_done(now);
                }
                (0, Asked::FastAuth) => {
                    let _ = s.fast_credentials(now, Some(fast_token()));
                }
                (0, Asked::FastToken) => {
                    let _ = s.issue_fast_token(now, Some(fast_token()));
                }
                (0, Asked::Nothing) => {
                    let cb = ChannelBinding::new(CbType::TlsExporter, vec![k; 32]);
                    let _ = s.direct_tls(vec![cb], false);
                }
                (3, Asked::Task | Asked::TaskData) => {
                    let _ = s.sasl2_task_failed(now, SaslFailureCondition::NotAuthorized);
                }
                (3, Asked::FastAuth) => {
                    let _ = s.fast_refuse(now, SaslFailureCondition::CredentialsExpired);
                }
                (3, _) => {
                    let _ = s.issue_fast_token(now, None);
                }
                _ => {
                    let _ = s.request_ack(now);
                }
            },
            5 => {
                let _ = s.resume(now, None);
            }
            6 => {
                let _ = s.resume(now, Some(resumption_state("user@example.com/fuzz")));
            }
            7 if k & 1 == 1 => {
                let _ = s.take_resumption_state();
                let _ = s.take_unacked();
            }
            _ => {
                let _ = s.request_ack(now);
            }
        },
        _ => s.close(now),
    };
    let on_event = |_: &Server, pending: &mut (Option<Stanza>, Asked), ev| {
        pending.1 = match &ev {
            ServerEvent::Sasl2Task(_) => Asked::Task,
            ServerEvent::Sasl2TaskData(_) => Asked::TaskData,
            ServerEvent::FastAuthRequest { .. } => Asked::FastAuth,
            ServerEvent::FastTokenRequest { .. } => Asked::FastToken,
            _ => pending.1,
        };
        if let ServerEvent::Stanza(el) = ev {
            // The server stamps from: it is the session's full JID.
            let from = el.element().attr("from").map(|f| f.into_owned());
            assert!(
                from.as_deref().is_some_and(|f| f.parse::<Jid>().is_ok()),
                "{el}"
            );
            pending.0 = Some(el);
        }
    };
    play(&mut s, framing, data, (None, Asked::Nothing), act, on_event);
}

/// Runs a script against either side of XEP-0114 (the first byte chooses).
pub fn component_session(data: &[u8]) {
    let (server_side, data) = flag(data);
    let now = Instant::now();
    let domain: xmpp_sansio::jid::BareJid = "plays.shakespeare.lit".parse().expect("a domain");
    let stanza = stanza("jabber:component:accept", 0);
    if server_side {
        let mut config = ComponentServerConfig::new(domain, "sesame");
        config.stream_id = Some("3BF96D75".into());
        let mut server = ComponentServer::new(config, 0, now);
        let act = |s: &mut ComponentServer, _: &mut (), k: u8, now| match k % 3 {
            1 => {
                let _ = s.send(now, &stanza);
            }
            _ => s.close(now),
        };
        play(&mut server, Framing::Tcp, data, (), act, |_, _, _| {});
    } else {
        let mut component = Component::new(ComponentConfig::new(domain, "sesame"), 9, now);
        let act = |c: &mut Component, _: &mut (), k: u8, now| match k % 3 {
            0 => {
                let _ = c.open(now);
            }
            1 => {
                let _ = c.send(now, &stanza);
            }
            _ => c.close(now),
        };
        play(&mut component, Framing::Tcp, data, (), act, |_, _, _| {});
    }
}

fn s2s_config(tls: TlsPolicy) -> S2sConfig {
    let mut config = S2sConfig::new("capulet.example", DialbackSecret::new("s3cr3tf0rd14lb4ck"));
    // The domains of the s2s vectors the seeds come from, so that seeds of either side get
    // past the header.
    for domain in ["montague.example", "im.example.com", "example.net"] {
        config.domains.push(domain.into());
    }
    config.stream_id = Some("D60000229F".into());
    config.tls = tls;
    config
}

/// The peer's s2s stanza, from an authorized pair or not.
fn s2s_stanza(k: u8) -> xmpp_sansio::xml::Element {
    let xml = format!(
        "<message to='juliet@montague.example' from='romeo@capulet.example' id='m{k}'><body>hi</body></message>"
    );
    xmpp_sansio::xml::parse_element("jabber:server", xml.as_bytes()).expect("a well-formed stanza")
}

/// Runs a script against the initiating side of a server-to-server stream (a leading 0xFF:
/// TLS optional rather than required).
pub fn s2s_out_session(data: &[u8]) {
    let (optional, data) = flag(data);
    let tls = if optional {
        TlsPolicy::Optional
    } else {
        TlsPolicy::Required
    };
    let pair = DomainPair::new("capulet.example", "montague.example");
    let Ok(mut s) = S2sOut::new(s2s_config(tls), pair, Instant::now()) else {
        panic!("capulet.example is ours");
    };
    let act = |s: &mut S2sOut, _: &mut (), k: u8, now| match k % 7 {
        0 => {
            let _ = s.open(now);
        }
        1 => {
            let _ = s.tls_established(now, true);
        }
        2 => {
            let _ = s.tls_established(now, false);
        }
        3 => {
            let other = DomainPair::new("capulet.example", "verona.example");
            let _ = s.authorize(now, other);
        }
        4 => {
            let request = VerifyRequest {
                pair: DomainPair::new("montague.example", "capulet.example"),
                stream_id: "417GAF25".into(),
                key: "b4835385f37fe2895af6c196b59097b16862406db80559900d96bf6fa7d23df3".into(),
            };
            let _ = s.verify(now, request);
        }
        5 => {
            let _ = s.send(now, &s2s_stanza(k));
        }
        _ => s.close(now),
    };
    play(&mut s, Framing::Tcp, data, (), act, |_, _, _| {});
}

/// Runs a script against the receiving side of a server-to-server stream (a leading 0xFF:
/// TLS disabled, so that dialback runs on the plain stream).
pub fn s2s_in_session(data: &[u8]) {
    let (no_tls, data) = flag(data);
    let tls = if no_tls {
        TlsPolicy::Disabled
    } else {
        TlsPolicy::Required
    };
    let mut s = S2sIn::new(s2s_config(tls), 3, Instant::now());
    // The pair of the last key to verify, to answer.
    let act = |s: &mut S2sIn, asked: &mut Option<DomainPair>, k: u8, now| match k % 7 {
        0 => {
            let _ = s.tls_established(now, k & 1 == 0);
        }
        1 => {
            let _ = s.external(now, "montague.example");
        }
        2 => {
            let _ = s.refuse_external(now);
        }
        3 | 4 => {
            let outcome = if k % 7 == 3 {
                DialbackOutcome::Valid
            } else {
                DialbackOutcome::Invalid
            };
            if let Some(pair) = asked.take() {
                let _ = s.dialback_answer(now, &pair, outcome);
            }
        }
        5 => {
            let _ = s.send(now, &s2s_stanza(k));
        }
        _ => s.close(now),
    };
    let on_event = |s: &S2sIn, asked: &mut Option<DomainPair>, ev| match ev {
        S2sEvent::DialbackVerifyRequest(request) => *asked = Some(request.pair),
        S2sEvent::Stanza(stanza) => {
            // Only a stanza of an authorized pair reaches the embedder.
            let el = stanza.element();
            let domain = |a: &str| {
                el.attr(a)
                    .and_then(|v| v.parse::<Jid>().ok())
                    .map(|j| j.domain().to_owned())
            };
            let (from, to) = (domain("from"), domain("to"));
            let authorized = s.authorized().iter().any(|p| {
                Some(p.from.as_str()) == from.as_deref() && Some(p.to.as_str()) == to.as_deref()
            });
            assert!(authorized, "a stanza of no authorized pair: {el}");
        }
        _ => {}
    };
    play(&mut s, Framing::Tcp, data, None, act, on_event);
}

/// A JID parses without panic, and a parsed JID displays as a string that parses to itself.
pub fn jid(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(jid) = text.parse::<Jid>() {
        let shown = jid.to_string();
        let again: Jid = shown
            .parse()
            .unwrap_or_else(|e| panic!("{shown:?} does not parse again: {e}"));
        assert_eq!(again, jid, "normalization is not idempotent for {text:?}");
        assert_eq!(again.to_string(), shown);
    }
}
