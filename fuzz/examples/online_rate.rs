//! Counts how many inputs of a corpus directory get their session online, for the grammar
//! targets (fuzz/README.md, "Coverage"): `cargo run --release --example online_rate -- T DIR...`.

use xmpp_sansio_fuzz::grammar;

fn main() {
    let mut args = std::env::args().skip(1);
    let target = args.next().expect("a target name");
    let f: fn(&[u8]) -> bool = match target.as_str() {
        "client_grammar" => grammar::client_grammar,
        "server_grammar" => grammar::server_grammar,
        "component_grammar" => grammar::component_grammar,
        "component_server_grammar" => grammar::component_server_grammar,
        "s2s_out_grammar" => grammar::s2s_out_grammar,
        "s2s_in_grammar" => grammar::s2s_in_grammar,
        other => panic!("not a grammar target: {other}"),
    };
    let (mut inputs, mut online) = (0, 0);
    for dir in args {
        for entry in std::fs::read_dir(&dir).expect("a directory") {
            let data = std::fs::read(entry.expect("an entry").path()).expect("a file");
            inputs += 1;
            online += usize::from(f(&data));
        }
    }
    println!("{target}: {online} of {inputs} inputs online");
}
