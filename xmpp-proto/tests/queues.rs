//! What a role queues per `handle_input` call, and that fed in socket-sized reads and drained
//! after each it queues no more than one read can complete. The memory this takes per input
//! byte is measured outside the tests (the crate docs, "Feeding input and memory"); here only
//! what can be observed without timing or counting bytes: how many events wait, and that the
//! cuts change nothing.

use std::time::Instant;

use xmpp_sansio::sasl::{Mechanism, UserCredential};
use xmpp_sansio::server::{Server, ServerConfig, ServerEvent};
use xmpp_sansio::stream::TlsPolicy;

const C2S_HEADER: &[u8] = b"<stream:stream xmlns='jabber:client' \
    xmlns:stream='http://etherx.jabber.org/streams' to='example.com' version='1.0'>";

/// The size of one read from a socket, as the README's loop uses it.
const READ: usize = 16 * 1024;

/// A server side whose client, juliet (PLAIN without TLS), is bound: stanzas flow.
fn online_server(now: Instant) -> Server {
    let mut config = ServerConfig::new("example.com", b"secret".to_vec());
    config.tls = TlsPolicy::Disabled;
    config.allow_plain_without_tls = true;
    config.mechanisms = vec![Mechanism::Plain];
    let mut s = Server::new(config, 0, now);
    s.handle_input(now, C2S_HEADER).unwrap();
    // \0juliet\0pw
    s.handle_input(
        now,
        b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGp1bGlldABwdw==</auth>",
    )
    .unwrap();
    assert!(matches!(
        drain(&mut s).last(),
        Some(ServerEvent::AuthRequest { .. })
    ));
    s.credentials(now, UserCredential::Password("pw".into()))
        .unwrap();
    s.handle_input(now, C2S_HEADER).unwrap();
    s.handle_input(
        now,
        b"<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>",
    )
    .unwrap();
    assert!(matches!(
        drain(&mut s).last(),
        Some(ServerEvent::BindRequest { resource: None, .. })
    ));
    s.bind(now, "juliet@example.com/balcony".parse().unwrap())
        .unwrap();
    assert!(matches!(drain(&mut s).last(), Some(ServerEvent::Online(_))));
    while s.poll_transmit().is_some() {}
    s
}

fn drain(server: &mut Server) -> Vec<ServerEvent> {
    std::iter::from_fn(|| server.poll_event()).collect()
}

/// Events as comparable text: `ServerEvent` has no `PartialEq`, and a stanza's `Debug` is its
/// serialization, `from` included.
fn texts(events: &[ServerEvent]) -> Vec<String> {
    events.iter().map(|e| format!("{e:?}")).collect()
}

/// Feeds `input` in reads of `read` bytes, draining after each; returns every event in order
/// and the most that were waiting after one read.
fn fed_in_reads(input: &[u8], read: usize) -> (Vec<ServerEvent>, usize) {
    let now = Instant::now();
    let mut s = online_server(now);
    let (mut all, mut most) = (Vec::new(), 0);
    for chunk in input.chunks(read) {
        s.handle_input(now, chunk).unwrap();
        let events = drain(&mut s);
        most = most.max(events.len());
        all.extend(events);
        while s.poll_transmit().is_some() {}
    }
    (all, most)
}

fn fed_whole(input: &[u8]) -> Vec<ServerEvent> {
    let now = Instant::now();
    let mut s = online_server(now);
    s.handle_input(now, input).unwrap();
    drain(&mut s)
}

#[test]
fn drained_after_each_read_a_server_queues_no_more_than_one_read_completes() {
    const PRESENCE: &str = "<presence/>";
    let n = (1 << 20) / PRESENCE.len();
    let input = PRESENCE.repeat(n).into_bytes();

    let (in_reads, most) = fed_in_reads(&input, READ);
    // A read of READ bytes ends at most READ / 11 + 1 stanzas of 11 bytes (one begun in the
    // read before); nothing from earlier reads may still be waiting.
    let bound = READ / PRESENCE.len() + 1;
    assert!(
        most <= bound,
        "{most} events waited after one read of {READ} bytes; at most {bound} can be complete"
    );
    assert_eq!(in_reads.len(), n, "one event per stanza");
    assert!(
        in_reads.iter().all(|e| matches!(e, ServerEvent::Stanza(el)
            if el.element().is("presence", "jabber:client")
                && el.element().attr("from").as_deref() == Some("juliet@example.com/balcony"))),
        "every event is a presence stamped with the session's JID"
    );

    // Split invariance: one call holds them all at once, but they are the same events.
    let whole = fed_whole(&input);
    assert_eq!(texts(&whole), texts(&in_reads));
}

#[test]
fn stanzas_keep_their_order_whatever_the_reads() {
    // Numbered stanzas of three kinds, so that a reordering or a lost event shows.
    let input: String = (0..6_000)
        .map(|i| match i % 3 {
            0 => format!("<presence id='p{i}'/>"),
            1 => format!("<message id='m{i}'><body>{i}</body></message>"),
            _ => format!("<iq type='get' id='q{i}'><ping xmlns='urn:xmpp:ping'/></iq>"),
        })
        .collect();
    let whole = texts(&fed_whole(input.as_bytes()));
    assert_eq!(whole.len(), 6_000);
    for read in [READ, 4096, 1500, 7] {
        let (events, _) = fed_in_reads(input.as_bytes(), read);
        assert_eq!(texts(&events), whole, "reads of {read} bytes");
    }
}
