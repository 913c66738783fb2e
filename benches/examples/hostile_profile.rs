//! Feeds one input of the `hostile` bench to one driver, for instruction counts that do not
//! depend on the machine's load: only [`measured`] (the feeding, not building the input or
//! the session) is counted when run under callgrind with
//! `--collect-atstart=no --toggle-collect=hostile_profile::measured`.
//!
//! ```text
//! cargo build --release -p xmpp-benches --example hostile_profile
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null --collect-atstart=no \
//!     --toggle-collect=hostile_profile::measured \
//!     target/release/examples/hostile_profile parser ns-decode whole
//! ```
//!
//! Arguments: driver (`parser`, `server`, `server-online`), input (a class name or
//! `corpus`), feed (`whole` or a read size in bytes). It prints the bytes fed and the
//! outcome; `benches/hostile_instructions.sh` runs every input and divides.

use std::hint::black_box;
use std::time::Instant;

use xmpp_benches::hostile::{
    Driver, Outcome, Session, inputs, scale_from_env, scaled, unbounded_tree,
};
use xmpp_sansio::xml::Limits;

#[inline(never)]
fn measured(session: &mut Session, now: Instant, input: &[u8], chunk: usize) -> Outcome {
    session.feed(now, black_box(input), chunk)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [driver, input, feed] = &args[..] else {
        eprintln!("usage: hostile_profile DRIVER INPUT FEED");
        std::process::exit(2);
    };
    let Some(driver) = Driver::ALL.into_iter().find(|d| d.name() == driver) else {
        eprintln!("unknown driver {driver:?}");
        std::process::exit(2);
    };
    let chunk = match feed.as_str() {
        "whole" => usize::MAX,
        n => n.parse().expect("a read size"),
    };
    let limits = unbounded_tree(scaled(Limits::default(), scale_from_env()));
    let all = inputs(&limits);
    let Some(bytes) = all
        .iter()
        .find(|i| i.name == input)
        .and_then(|i| i.for_driver(driver))
    else {
        eprintln!("no input {input:?} for {}", driver.name());
        std::process::exit(2);
    };
    let now = Instant::now();
    let mut session = Session::new(driver, now, limits);
    let outcome = measured(&mut session, now, bytes, chunk);
    println!(
        "{} {input} {feed} {} {outcome:?}",
        driver.name(),
        bytes.len()
    );
}
