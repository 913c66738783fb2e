//! See `xmpp_sansio_fuzz::sessions::s2s_out_session`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    xmpp_sansio_fuzz::sessions::s2s_out_session(data);
});
