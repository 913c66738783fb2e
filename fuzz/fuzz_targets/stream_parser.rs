//! Raw bytes as one XMPP stream; see `xmpp_sansio_fuzz::checks::stream_parser`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    xmpp_sansio_fuzz::checks::stream_parser(data);
});
