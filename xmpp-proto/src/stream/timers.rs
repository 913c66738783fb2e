//! The timers of a stream: waiting for the peer during negotiation, keeping an idle stream
//! alive (RFC 6120 section 4.6.1), waiting for the peer's closing tag (section 4.4), and
//! giving back the memory of a session that went idle.
//!
//! A small fixed table, one slot per kind, so that `poll_timeout` is the minimum of a few
//! slots and no timer allocates. A new kind (the stream management ack timer of XEP-0198)
//! is one more [`Timer`] variant and what it does when it fires.

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
}

impl Timer {
    /// How many kinds there are: a call fires at most this many timers.
    pub const COUNT: usize = 4;
    const ALL: [Timer; Timer::COUNT] = [
        Timer::Response,
        Timer::Keepalive,
        Timer::Closing,
        Timer::Idle,
    ];

    fn slot(self) -> usize {
        self as usize
    }
}

/// When each [`Timer`] fires, if it runs.
#[derive(Debug, Clone, Default)]
pub(crate) struct TimerTable {
    at: [Option<Instant>; Timer::COUNT],
}

impl TimerTable {
    /// Starts `timer` (again) to fire `after` from `now`; a time too far to represent never comes,
    /// and the timer is left stopped.
    pub fn start(&mut self, timer: Timer, now: Instant, after: Duration) {
        self.at[timer.slot()] = now.checked_add(after);
    }

    pub fn stop(&mut self, timer: Timer) {
        self.at[timer.slot()] = None;
    }

    pub fn stop_all(&mut self) {
        self.at = Default::default();
    }

    pub fn is_running(&self, timer: Timer) -> bool {
        self.at[timer.slot()].is_some()
    }

    /// The earliest time any timer fires.
    pub fn next(&self) -> Option<Instant> {
        self.at.iter().flatten().min().copied()
    }

    /// The timers due at `now`, earliest first.
    pub fn due(&self, now: Instant) -> [Option<Timer>; Timer::COUNT] {
        let mut due = Timer::ALL.map(|t| self.at[t.slot()].filter(|&at| at <= now).map(|_| t));
        due.sort_by_key(|t| (t.is_none(), t.and_then(|t| self.at[t.slot()])));
        due
    }

    /// Disarms `timer` if it is due at `now`, and says whether it was.
    pub fn take_if_due(&mut self, timer: Timer, now: Instant) -> bool {
        let due = self.at[timer.slot()].is_some_and(|at| at <= now);
        if due {
            self.stop(timer);
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_earliest_due_timer_fires_first_and_only_once() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut table = TimerTable::default();
        assert_eq!(table.next(), None);
        table.start(Timer::Keepalive, t0, s(60));
        table.start(Timer::Response, t0, s(30));
        assert_eq!(table.next(), Some(t0 + s(30)));
        assert_eq!(table.due(t0 + s(29)), [None; Timer::COUNT]);
        assert_eq!(
            table.due(t0 + s(90)),
            [Some(Timer::Response), Some(Timer::Keepalive), None, None]
        );
        assert!(table.take_if_due(Timer::Response, t0 + s(90)));
        assert!(!table.take_if_due(Timer::Response, t0 + s(90)));
        assert!(!table.take_if_due(Timer::Keepalive, t0 + s(59)));
        assert_eq!(table.next(), Some(t0 + s(60)));
        table.stop_all();
        assert_eq!(table.next(), None);
        // A deadline past what Instant can hold never comes.
        table.start(Timer::Closing, t0, Duration::MAX);
        assert!(!table.is_running(Timer::Closing));
    }
}
