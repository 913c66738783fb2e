//! Chunk lengths and stream bytes (`ChunkedInput::from_bytes`); see
//! `xmpp_sansio_fuzz::checks::stream_parser_chunked`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xmpp_sansio_fuzz::checks::{ChunkedInput, stream_parser_chunked};

fuzz_target!(|data: &[u8]| {
    stream_parser_chunked(&ChunkedInput::from_bytes(data));
});
