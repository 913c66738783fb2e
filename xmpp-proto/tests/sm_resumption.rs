//! Stream resumption (XEP-0198 section 5) between our own client and server: the
//! "connection" is cut at a random byte in each direction, both sessions end, and a new
//! pair resumes from the states the old one left. Every stanza either side gave to `send`
//! must arrive exactly once; when the server has lost the session (its state is gone), each
//! must arrive at most once, and every one that did not arrive must have been handed back
//! to its sender's embedder (`ResumeFailed`'s stanzas, or the lost state's).
//!
//! A seeded loop rather than proptest: each seed is one scenario, and a failure names it.

#[path = "support/resumption.rs"]
mod resumption;

use std::time::Instant;

use resumption::{client_config, id_of, message, online, scenario, server_config};
use xmpp_sansio::client::{Client, ClientError};
use xmpp_sansio::xml::parse_element;

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
