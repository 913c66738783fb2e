//! The examples' loop, written once for every role through `xmpp_sansio::connection`:
//! [`drive`] over a blocking socket, [`drive_async`](crate::tokio_net::drive_async) over
//! tokio. Each example says only what it does with its role's events ([`Embedder`]).

use std::io;
use std::time::{Duration, Instant};

use xmpp_sansio::connection::{Connection, RoleError};

use crate::{Conn, Input};

/// How long to wait for the peer's `</stream:stream>` after the embedder's deadline closed
/// the stream, before giving up on it.
pub const GRACE: Duration = Duration::from_secs(2);

/// The size of one socket read. Each read goes to `handle_input` as it comes, and
/// everything it produced is handled before the next read: a call queues all that its input
/// completes, so the read size bounds that memory (xmpp-proto's crate docs, "Feeding input
/// and memory").
pub const READ_SIZE: usize = 16 * 1024;

/// What an example does with its role's events; the rest of the loop is [`drive`]'s.
pub trait Embedder<C: Connection> {
    /// One event, with the transport (which TLS replaces). An error ends the session.
    fn on_event(
        &mut self,
        core: &mut C,
        conn: &mut Option<Conn>,
        event: C::Event,
    ) -> io::Result<()>;

    /// Work from outside the stream (stanzas other sessions routed here), done before each
    /// wait; how soon to look again, if at all.
    fn outside(&mut self, _core: &mut C) -> Option<Duration> {
        None
    }

    /// When to give up: the stream is closed then, and the session left [`GRACE`] later.
    fn deadline(&self) -> Option<Instant> {
        None
    }

    /// The deadline came: say why before the stream is closed.
    fn on_deadline(&mut self) {}

    /// Something worth a line in the log (`[peer] ...` for a server).
    fn log(&self, line: &str) {
        println!("{line}");
    }
}

/// An answer's result: a late one (the stream ended meanwhile, `is_stream_ended`) is
/// dropped, as it may be; any other refusal is printed (misuse is a bug of the example).
pub fn answered<T, E: RoleError>(result: Result<T, E>) -> Option<T> {
    match result {
        Ok(t) => Some(t),
        Err(e) if e.is_stream_ended() => None,
        Err(e) => {
            let kind = if e.is_misuse() { "misuse" } else { "refused" };
            eprintln!("{kind}: {e}");
            None
        }
    }
}

/// Runs `core` over `conn` until its stream is over, in the drain order of ARCHITECTURE.md:
/// bytes out, then one event at a time (what each answer queued goes out before the next),
/// then a read no longer than the core's (and the embedder's) next deadline. Then the
/// transport ends: over TLS with `close_notify` (RFC 8446 section 6.1) and a wait for the
/// peer's own.
pub fn drive<C: Connection>(
    core: &mut C,
    conn: &mut Option<Conn>,
    embedder: &mut impl Embedder<C>,
) -> io::Result<()> {
    let mut buf = vec![0u8; conn.as_ref().map_or(READ_SIZE, Conn::read_size)];
    let mut giving_up = GivingUp::default();
    let result = loop {
        let poll_again = embedder.outside(core);
        flush(core, conn, embedder);
        if let Some(event) = core.poll_event() {
            if let Err(e) = embedder.on_event(core, conn, event) {
                core.handle_eof();
                break Err(e);
            }
            continue;
        }
        let now = Instant::now();
        let deadline = embedder.deadline();
        if core.is_closed() || giving_up.is_over(deadline, now) {
            break Ok(());
        }
        let wake = giving_up.wake(core, deadline, poll_again.map(|d| now + d));
        let wait = wake.map_or(Duration::from_secs(3600), |t| {
            t.saturating_duration_since(now)
        });
        let read = conn
            .as_mut()
            .expect("connected")
            .read_within(&mut buf, wait);
        match read {
            Ok(Input::Timeout) => {
                if giving_up.tick(core, deadline, Instant::now()) {
                    embedder.on_deadline();
                }
            }
            read => feed(core, read, &buf, |line| embedder.log(line)),
        }
    };
    // The closing tag or stream error the core queued last, then the transport's end.
    flush(core, conn, embedder);
    if let Some(conn) = conn.as_mut()
        && let Ok(Input::Truncated) = conn.close()
    {
        embedder.log("tls: connection ended without close_notify");
    }
    result
}

/// Where a session stands with its embedder's deadline; both drivers' time, written once.
#[derive(Debug, Default)]
pub(crate) struct GivingUp {
    /// The deadline came: the stream was closed, and the peer has [`GRACE`] to answer.
    closed: bool,
}

impl GivingUp {
    /// Past the deadline and its grace: leave, whatever the stream's state.
    pub(crate) fn is_over(&self, deadline: Option<Instant>, now: Instant) -> bool {
        deadline.is_some_and(|d| now >= d + GRACE)
    }

    /// When to wake up: the core's next timer, the deadline (or the end of its grace), or
    /// `also`, whichever is first.
    pub(crate) fn wake<C: Connection>(
        &self,
        core: &C,
        deadline: Option<Instant>,
        also: Option<Instant>,
    ) -> Option<Instant> {
        let deadline = deadline.map(|d| if self.closed { d + GRACE } else { d });
        [core.poll_timeout(), deadline, also]
            .into_iter()
            .flatten()
            .min()
    }

    /// The time is `now`: at the deadline the stream is closed (once), and the core's due
    /// timers fire. True when the deadline has just come.
    pub(crate) fn tick<C: Connection>(
        &mut self,
        core: &mut C,
        deadline: Option<Instant>,
        now: Instant,
    ) -> bool {
        let came = !self.closed && deadline.is_some_and(|d| now >= d);
        if came {
            self.closed = true;
            core.close(now);
        }
        core.handle_timeout(now);
        came
    }
}

/// What a read gave (anything but [`Input::Timeout`]), to the core; `buf` holds the data.
pub(crate) fn feed<C: Connection>(
    core: &mut C,
    read: io::Result<Input>,
    buf: &[u8],
    log: impl Fn(&str),
) {
    match read {
        Ok(Input::Data(n)) => {
            // An error here is misuse (input while TLS is being set up); bad XML from the
            // peer is a stream error the core has queued.
            answered(core.handle_input(Instant::now(), &buf[..n]));
        }
        // A tokio read never times out by itself; the deadline is a separate branch.
        Ok(Input::Eof | Input::Timeout) => core.handle_eof(),
        Ok(Input::Truncated) => {
            log("tls: connection ended without close_notify");
            core.handle_eof();
        }
        Err(e) => {
            log(&format!("abandoned read-failed: {e}"));
            core.handle_eof();
        }
    }
}

/// Writes what the core queued; a failed write ends the stream.
fn flush<C: Connection>(core: &mut C, conn: &mut Option<Conn>, embedder: &impl Embedder<C>) {
    while let Some(bytes) = core.poll_transmit() {
        let Some(c) = conn.as_mut() else { return };
        if let Err(e) = c.send(&bytes) {
            embedder.log(&format!("abandoned write-failed: {e}"));
            core.handle_eof();
        }
    }
}
