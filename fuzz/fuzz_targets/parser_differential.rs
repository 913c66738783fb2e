//! Stream content through our parser and through xml-rs; see
//! `xmpp_sansio_fuzz::differential::differential`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    xmpp_sansio_fuzz::differential::differential(data);
});
