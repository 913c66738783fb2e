//! The inline size of a session is part of the API's promise (issue 12): a server holds tens
//! of thousands of idle sessions, so the role types themselves stay within 512 bytes on a
//! 64-bit target. Their heap is measured by `benches/benches/sessions.rs`.

#![cfg(target_pointer_width = "64")]

use core::mem::size_of;

use xmpp_sansio::client::Client;
use xmpp_sansio::server::Server;

#[test]
fn a_session_is_at_most_512_bytes_inline() {
    assert!(
        size_of::<Server>() <= 512,
        "Server: {} B",
        size_of::<Server>()
    );
    assert!(
        size_of::<Client>() <= 512,
        "Client: {} B",
        size_of::<Client>()
    );
}
