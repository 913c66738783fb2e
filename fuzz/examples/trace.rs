//! Plays one input of a grammar target with `GRAMMAR_TRACE` on, printing the decoded script
//! and every move, output and event: `cargo run --example trace -- T FILE`.

use xmpp_sansio_fuzz::grammar;

fn main() {
    let mut args = std::env::args().skip(1);
    let target = args.next().expect("a target name");
    let data = std::fs::read(args.next().expect("a file")).expect("a readable file");
    // SAFETY-free: the variable is read by the harness of this process only.
    let online = std::panic::catch_unwind(|| match target.as_str() {
        "client_grammar" => grammar::client_grammar(&data),
        "server_grammar" => grammar::server_grammar(&data),
        "component_grammar" => grammar::component_grammar(&data),
        "component_server_grammar" => grammar::component_server_grammar(&data),
        "s2s_out_grammar" => grammar::s2s_out_grammar(&data),
        "s2s_in_grammar" => grammar::s2s_in_grammar(&data),
        other => panic!("not a grammar target: {other}"),
    });
    println!("online: {online:?}");
}
