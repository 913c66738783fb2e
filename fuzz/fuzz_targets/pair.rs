//! A client and a server cut and resumed as the fuzzer chooses; see
//! `xmpp_sansio_fuzz::pair::pair`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    xmpp_sansio_fuzz::pair::pair(data);
});
