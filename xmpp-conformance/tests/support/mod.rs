//! What the loopback tests of the live modes share: driving one of our cores over a socket
//! as the implementation under test. Included with `mod support;`.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use xmpp_conformance::CoreUnderTest;
use xmpp_conformance::role::{Action, EventArg};

/// A socket, plain or TLS.
pub trait Io: Read + Write {}
impl<T: Read + Write> Io for T {}

/// Drives `core` over `sock` until it reports `closed`, the peer ends the connection or 20 s
/// pass, answering its events as `decide` says (an action line, or nothing).
pub fn pump(
    core: &mut dyn CoreUnderTest,
    sock: &mut dyn Io,
    decide: impl Fn(&str, &str) -> Option<String>,
) {
    let until = Instant::now() + Duration::from_secs(20);
    let mut buf = [0u8; 4096];
    loop {
        let mut closed = false;
        while let Some(event) = core.poll_event() {
            let arg = match &event.arg {
                EventArg::Plain(a) => a.clone(),
                _ => String::new(),
            };
            if event.name == "closed" {
                closed = true;
            } else if let Some(line) = decide(&event.name, &arg) {
                core.act(&Action::parse(&line)).expect("the decision");
            }
        }
        let out = core.take_output();
        if !out.is_empty() && sock.write_all(&out).and_then(|()| sock.flush()).is_err() {
            return;
        }
        if closed || Instant::now() >= until {
            return;
        }
        match sock.read(&mut buf) {
            Ok(0) => {
                core.act(&Action::parse("eof")).ok();
            }
            Ok(n) => core.feed(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return,
        }
    }
}
