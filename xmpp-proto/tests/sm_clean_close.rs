//! XEP-0198 version 1.6.3 section 7 (Stream Closure): "A cleanly closed stream differs
//! from an unfinished stream. If a client wishes to cleanly close its stream and end its
//! session, it MUST send a </stream:stream>"; only a stream that is not cleanly closed is
//! kept for resumption. So once the closing handshake is done (either side first), neither
//! side has a state to resume from, and the stanzas the peer did not acknowledge go back to
//! the embedder (`take_unacked`), as after an expired session (section 4). A stream ended
//! with a stream error is not a closing handshake: the server ends an old stream with
//! `conflict` when a new one resumes it (section 5), so its state stays.

#[path = "support/resumption.rs"]
mod resumption;

use std::time::Instant;

use resumption::{client_config, id_of, message, online, server_config};
use xmpp_sansio::error::{StreamError, StreamErrorCondition};

#[test]
fn a_clean_close_by_the_client_ends_the_session_for_good() {
    let now = Instant::now();
    let (mut pair, mut up, mut down) = online(now, client_config(0), server_config(0));
    pair.server
        .send(now, &message("s1", "juliet@example.com/balcony"))
        .unwrap();
    pair.client
        .send(now, &message("c1", "romeo@example.net"))
        .unwrap();
    pair.pump(now, &mut up, &mut down);
    pair.client.close(now);
    pair.pump(now, &mut up, &mut down);
    assert!(pair.client.is_closed() && pair.server.is_closed());
    assert!(
        pair.server.take_resumption_state().is_none(),
        "the client ended its session: nothing to resume"
    );
    let lost: Vec<_> = pair
        .server
        .take_unacked()
        .iter()
        .map(|b| id_of(b))
        .collect();
    assert_eq!(lost, ["s1"], "handed back to the server's embedder");
    assert!(pair.client.take_resumption_state().is_none());
    let lost: Vec<_> = pair
        .client
        .take_unacked()
        .iter()
        .map(|b| id_of(b))
        .collect();
    assert_eq!(lost, ["c1"]);
}

#[test]
fn a_clean_close_by_the_server_ends_the_session_for_good() {
    let now = Instant::now();
    let (mut pair, mut up, mut down) = online(now, client_config(0), server_config(0));
    pair.server.close(now);
    pair.pump(now, &mut up, &mut down);
    assert!(pair.client.is_closed() && pair.server.is_closed());
    assert!(pair.server.take_resumption_state().is_none());
    assert!(pair.client.take_resumption_state().is_none());
}

#[test]
fn a_stream_error_leaves_the_session_resumable() {
    let now = Instant::now();
    let (mut pair, mut up, mut down) = online(now, client_config(0), server_config(0));
    pair.server
        .close_with(now, StreamError::new(StreamErrorCondition::Conflict));
    pair.pump(now, &mut up, &mut down);
    assert!(pair.client.is_closed() && pair.server.is_closed());
    assert!(pair.server.take_resumption_state().is_some());
    assert!(pair.client.take_resumption_state().is_some());
}
