//! One generic driver for every role: the `Connection` trait drives a c2s client and server
//! and both XEP-0114 sides through the same functions, from `open` to `Closed`.

use std::time::Instant;

use xmpp_sansio::client::{Client, ClientConfig, ClientEvent};
use xmpp_sansio::component::{Component, ComponentConfig, ComponentServer, ComponentServerConfig};
use xmpp_sansio::connection::{Connection, RoleError, RoleEvent};
use xmpp_sansio::jid::Jid;
use xmpp_sansio::sasl::{Mechanism, UserCredential};
use xmpp_sansio::server::{Server, ServerConfig, ServerEvent};
use xmpp_sansio::stanza::MessageBuilder;
use xmpp_sansio::stream::{CloseReason, TlsPolicy};

/// One side, what it reported, and how its embedder answers an event.
struct End<C: Connection> {
    core: C,
    events: Vec<C::Event>,
    answer: fn(&mut C, Instant, &C::Event),
}

impl<C: Connection> End<C> {
    fn new(core: C, answer: fn(&mut C, Instant, &C::Event)) -> Self {
        End {
            core,
            events: Vec::new(),
            answer,
        }
    }
}

/// Moves `x`'s output to `y` and answers `x`'s events, in the drain order; true if
/// anything moved.
fn step<X: Connection, Y: Connection>(now: Instant, x: &mut End<X>, y: &mut End<Y>) -> bool {
    let mut moved = false;
    loop {
        while let Some(bytes) = x.core.poll_transmit() {
            moved = true;
            if let Err(e) = y.core.handle_input(now, &bytes) {
                panic!("input refused: {e} (misuse: {})", e.is_misuse());
            }
        }
        let Some(event) = x.core.poll_event() else {
            return moved;
        };
        moved = true;
        (x.answer)(&mut x.core, now, &event);
        x.events.push(event);
    }
}

/// Drives two connections of any roles until both are quiet.
fn drive<A: Connection, B: Connection>(now: Instant, a: &mut End<A>, b: &mut End<B>) {
    for _ in 0..100 {
        let moved = step(now, a, b) | step(now, b, a);
        if !moved {
            return;
        }
    }
    panic!("never quiet");
}

/// The stanzas `end` received since event `from`, as their bodies.
fn bodies<C: Connection>(end: &End<C>, from: usize) -> Vec<String> {
    end.events[from..]
        .iter()
        .filter_map(RoleEvent::stanza)
        .filter_map(|s| s.as_message()?.body().map(|b| b.into_owned()))
        .collect()
}

/// The part every role plays the same way, written once: a message each way, sent through
/// the trait, then `a` closes, `b` answers, and each side reports why the stream ended;
/// after the end, an answer is `is_stream_ended`, never misuse.
fn exchange_and_close<A: Connection, B: Connection>(
    now: Instant,
    a: &mut End<A>,
    b: &mut End<B>,
    a_to_b: (&Jid, &Jid),
    b_to_a: (&Jid, &Jid),
) {
    let (a0, b0) = (a.events.len(), b.events.len());
    a.core.send_with(now, message(a_to_b, "up")).unwrap();
    b.core.send_with(now, message(b_to_a, "down")).unwrap();
    drive(now, a, b);
    assert_eq!(bodies(b, b0), ["up"]);
    assert_eq!(bodies(a, a0), ["down"]);

    Connection::close(&mut a.core, now);
    drive(now, a, b);
    assert_eq!(close_reason(a), Some(&CloseReason::LocalClose));
    assert_eq!(close_reason(b), Some(&CloseReason::PeerClose));
    assert!(a.core.is_closed() && b.core.is_closed());
    let late = b.core.send_with(now, message(b_to_a, "late")).unwrap_err();
    assert!(late.is_stream_ended() && !late.is_misuse(), "{late}");
    assert!(a.core.poll_transmit().is_none() && b.core.poll_transmit().is_none());
}

/// A message from and to the given addresses, for `send_with`.
fn message<'a>(
    (from, to): (&'a Jid, &'a Jid),
    body: &'a str,
) -> impl FnOnce(&mut xmpp_sansio::xml::Writer<'_>) + 'a {
    move |w| {
        MessageBuilder::new()
            .from(from)
            .to(to)
            .body(body)
            .write_to(w)
    }
}

fn close_reason<C: Connection>(end: &End<C>) -> Option<&CloseReason> {
    end.events.iter().rev().find_map(RoleEvent::close_reason)
}

fn no_answer<C: Connection>(_: &mut C, _: Instant, _: &C::Event) {}

#[test]
fn one_generic_driver_runs_every_role() {
    let now = Instant::now();

    // c2s, without TLS (this test has no TLS library), SCRAM.
    let juliet = "juliet@example.com".parse().unwrap();
    let mut config = ClientConfig::new(juliet, "pw");
    config.tls = TlsPolicy::Disabled;
    config.mechanisms = vec![Mechanism::ScramSha256];
    config.resource = Some("balcony".into());
    let mut client = End::new(Client::new(config, 1, now), no_answer);
    let mut config = ServerConfig::new("example.com", b"secret".to_vec());
    config.tls = TlsPolicy::Disabled;
    config.scram_iterations = std::num::NonZeroU32::new(16).unwrap();
    let mut server = End::new(Server::new(config, 1, now), |s, now, event| match event {
        ServerEvent::AuthRequest { .. } => {
            s.credentials(now, UserCredential::Password("pw".into()))
                .unwrap();
        }
        ServerEvent::BindRequest {
            account,
            resource: Some(r),
        } => s.bind(now, account.with_resource(r).unwrap()).unwrap(),
        _ => {}
    });
    client.core.open(now).unwrap();
    drive(now, &mut client, &mut server);
    assert!(
        client
            .events
            .iter()
            .any(|e| matches!(e, ClientEvent::Online(_))),
        "{:?}",
        client.events
    );
    let (full, romeo): (Jid, Jid) = (
        "juliet@example.com/balcony".parse().unwrap(),
        "romeo@example.net".parse().unwrap(),
    );
    exchange_and_close(
        now,
        &mut client,
        &mut server,
        (&full, &romeo),
        (&romeo, &full),
    );

    // XEP-0114, the server side closing this time.
    let gw = "gw.example.com".parse().unwrap();
    let component = Component::new(ComponentConfig::new(gw, "s3cr3t"), 4, now);
    let gw = "gw.example.com".parse().unwrap();
    let component_server = ComponentServer::new(ComponentServerConfig::new(gw, "s3cr3t"), 2, now);
    let mut component = End::new(component, no_answer);
    let mut component_server = End::new(component_server, no_answer);
    component.core.open(now).unwrap();
    drive(now, &mut component, &mut component_server);
    let (user, juliet): (Jid, Jid) = (
        "user@gw.example.com".parse().unwrap(),
        "juliet@example.com".parse().unwrap(),
    );
    exchange_and_close(
        now,
        &mut component_server,
        &mut component,
        (&juliet, &user),
        (&user, &juliet),
    );
}
