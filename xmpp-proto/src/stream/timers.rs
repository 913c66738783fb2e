//! The timers of a stream: waiting for the peer during negotiation, keeping an idle stream
//! alive (RFC 6120 section 4.6.1), waiting for the peer's closing tag (section 4.4), and
//! giving back the memory of a session that went idle.
//!
//! A small fixed table, one slot per kind, so that `poll_timeout` is the minimum of a few
//! slots and no timer allocates. A new kind is one more [`Timer`] variant and what it does
//! when it fires, as the stream management ack timer of XEP-0198 ([`Timer::Ack`]) is.

use std::time::{Duration, Instant};

/// A kind of timer; each kind runs at most once at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Timer {
    /// The peer must answer by then during negotiation: else `connection-timeout`.
    Response,
    /// Idle since the last write: send whitespace (RFC 6120 section 4.6.1).
    Keepalive,
    /// Our closing tag is out; the peer's must come by then, else the stream is over
    /// without it.
    Closing,
    /// Nothing came in or went out for a while, on a stream without a keepalive (which
    /// does this itself): the session gives back its scratch memory.
    Idle,
    /// A stanza went out and is not acknowledged yet: ask for an ack (XEP-0198 `<r/>`).
    /// Its period is stream management's, given when it starts ([`TimerTable::start_in`]).
    Ack,
}

impl Timer {
    /// How many kinds there are: a call fires at most this many timers.
    pub const COUNT: usize = 5;
    const ALL: [Timer; Timer::COUNT] = [
        Timer::Response,
        Timer::Keepalive,
        Timer::Closing,
        Timer::Idle,
        Timer::Ack,
    ];

    fn slot(self) -> usize {
        self as usize
    }
}

/// A slot's value when its timer is stopped.
const OFF: u64 = u64::MAX;

/// How long each kind runs once started. The table holds them, so that starting a timer
/// needs nothing but its kind and a stream's settings live in one place.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Periods {
    /// [`Timer::Response`] and [`Timer::Closing`].
    pub response: Duration,
    /// [`Timer::Keepalive`]; `None`: no keepalive.
    pub keepalive: Option<Duration>,
}

/// How long a session without a keepalive waits, with nothing coming in or going out, before
/// it gives back its scratch memory (the parser's buffers, an empty event queue): long
/// enough that a busy session never regrows it, short enough that a server's idle sessions
/// hold only their state. The period of [`Timer::Idle`].
pub(crate) const IDLE_TRIM: Duration = Duration::from_secs(60);

/// The stream's clock and its timers. Times are kept as nanoseconds since the first time
/// the embedder gave (`origin`), not as [`Instant`]s: a session's clock and five deadlines
/// then take 48 bytes beside the origin instead of 96, which matters for a server holding tens of thousands
/// of idle sessions. A `u64` of nanoseconds spans 584 years.
#[derive(Debug, Clone)]
pub(crate) struct TimerTable {
    origin: Instant,
    /// The latest time the embedder gave; never goes back, so that a clock that steps back
    /// neither makes a deadline earlier than one already computed nor fires a timer twice.
    now: u64,
    at: [u64; Timer::COUNT],
    /// [`Periods::response`], in nanoseconds.
    response: u64,
    /// [`Periods::keepalive`], in nanoseconds; [`OFF`]: none.
    keepalive: u64,
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(OFF)
}

impl TimerTable {
    /// A table whose clock starts at `now`, with every timer stopped.
    pub fn new(now: Instant, periods: Periods) -> Self {
        TimerTable {
            origin: now,
            now: 0,
            at: [OFF; Timer::COUNT],
            response: nanos(periods.response),
            keepalive: periods.keepalive.map_or(OFF, nanos),
        }
    }

    /// The embedder's clock says `now`.
    pub fn advance(&mut self, now: Instant) {
        let at = nanos(now.saturating_duration_since(self.origin));
        self.now = self.now.max(at);
    }

    fn instant(&self, at: u64) -> Instant {
        // Saturates like `start`: a time that no `Instant` can hold is never reached.
        self.origin
            .checked_add(Duration::from_nanos(at))
            .unwrap_or(self.origin)
    }

    /// No keepalive on this stream (WebSocket framing, RFC 7395 section 3.4): the idle
    /// timer takes its place.
    pub fn no_keepalive(&mut self) {
        self.keepalive = OFF;
        self.stop(Timer::Keepalive);
    }

    /// Is there a keepalive to run?
    pub fn has_keepalive(&self) -> bool {
        self.keepalive != OFF
    }

    /// Starts `timer` from the table's time, for its period; one whose deadline would be
    /// past the clock's range never fires.
    pub fn start(&mut self, timer: Timer) {
        let period = match timer {
            Timer::Response | Timer::Closing => self.response,
            Timer::Keepalive => self.keepalive,
            Timer::Idle => nanos(IDLE_TRIM),
            // Started with its period ([`start_in`](Self::start_in)); never without one.
            Timer::Ack => OFF,
        };
        self.start_nanos(timer, period);
    }

    /// Starts `timer` from the table's time, to fire after `period`.
    pub fn start_in(&mut self, timer: Timer, period: Duration) {
        self.start_nanos(timer, nanos(period));
    }

    fn start_nanos(&mut self, timer: Timer, period: u64) {
        let at = self
            .now
            .checked_add(period)
            .filter(|&at| at != OFF && self.origin.checked_add(Duration::from_nanos(at)).is_some())
            .unwrap_or(OFF);
        self.at[timer.slot()] = at;
    }

    pub fn stop(&mut self, timer: Timer) {
        self.at[timer.slot()] = OFF;
    }

    pub fn stop_all(&mut self) {
        self.at = [OFF; Timer::COUNT];
    }

    pub fn is_running(&self, timer: Timer) -> bool {
        self.at[timer.slot()] != OFF
    }

    /// When the earliest running timer fires.
    pub fn next(&self) -> Option<Instant> {
        let at = self.at.iter().copied().min().filter(|&at| at != OFF)?;
        Some(self.instant(at))
    }

    /// The timers due at the table's time, earliest first; the rest of the array is `None`.
    pub fn due(&self) -> [Option<Timer>; Timer::COUNT] {
        let now = self.now;
        let mut due = Timer::ALL.map(|t| (self.at[t.slot()] <= now).then_some(t));
        due.sort_by_key(|t| (t.is_none(), t.map(|t| self.at[t.slot()])));
        due
    }

    /// Stops `timer` if it is due at the table's time, and says whether it was.
    pub fn take_if_due(&mut self, timer: Timer) -> bool {
        let due = self.at[timer.slot()] <= self.now;
        if due {
            self.stop(timer);
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table_at(t0: Instant) -> TimerTable {
        let s = Duration::from_secs;
        let periods = Periods {
            response: s(30),
            keepalive: Some(s(60)),
        };
        TimerTable::new(t0, periods)
    }

    #[test]
    fn the_earliest_due_timer_fires_first_and_only_once() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut table = table_at(t0);
        assert_eq!(table.next(), None);
        table.start(Timer::Keepalive);
        table.start(Timer::Response);
        assert_eq!(table.next(), Some(t0 + s(30)));
        table.advance(t0 + s(29));
        assert_eq!(table.due(), [None; Timer::COUNT]);
        table.advance(t0 + s(90));
        assert_eq!(
            table.due(),
            [
                Some(Timer::Response),
                Some(Timer::Keepalive),
                None,
                None,
                None
            ]
        );
        assert!(table.take_if_due(Timer::Response));
        assert!(!table.take_if_due(Timer::Response));
        assert_eq!(table.next(), Some(t0 + s(60)));
        table.stop_all();
        assert_eq!(table.next(), None);
    }

    #[test]
    fn the_clock_never_goes_back_and_timers_run_from_it() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut table = table_at(t0);
        table.advance(t0 + s(10));
        table.advance(t0 + s(5));
        table.start(Timer::Idle);
        assert_eq!(table.next(), Some(t0 + s(10) + IDLE_TRIM));
        // Before the origin counts as the origin.
        let mut early = table_at(t0 + s(1));
        early.advance(t0);
        early.start(Timer::Response);
        assert_eq!(early.next(), Some(t0 + s(31)));
    }

    #[test]
    fn a_period_past_the_clocks_range_never_fires() {
        let t0 = Instant::now();
        let periods = Periods {
            response: Duration::MAX,
            keepalive: None,
        };
        let mut table = TimerTable::new(t0, periods);
        table.start(Timer::Closing);
        table.start(Timer::Keepalive);
        assert!(!table.is_running(Timer::Closing));
        assert!(!table.is_running(Timer::Keepalive));
        assert!(!table.has_keepalive());
        assert_eq!(table.next(), None);
    }
}
