//! See `xmpp_sansio_fuzz::grammar::component_grammar`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    xmpp_sansio_fuzz::grammar::component_grammar(data);
});
