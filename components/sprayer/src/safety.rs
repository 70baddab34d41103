//! When the valves must close whatever the commands say: the sprayer's fail-safe rules
//! as a pure state machine on the monotonic clock. The shell feeds it what happens
//! (fixes, GNSS status, the router connection, `stop_all`, a signal) and, whenever it
//! trips, closes every valve and forgets every command
//! ([`Scheduler::stop_all`](crate::schedule::Scheduler::stop_all)): valves stay closed
//! until fresh commands arrive after the fault clears.

use verger::contract::sprayer::SafeReason;

use crate::schedule::Micros;

/// The fail-safe state.
#[derive(Debug, Clone)]
pub struct Safety {
    max_fix_gap: Micros,
    last_fix: Option<Micros>,
    gnss_fix: bool,
    connected: bool,
    board: bool,
    stopping: bool,
    /// Everything was in place once (later losses are named, not `starting`).
    was_ready: bool,
}

impl Safety {
    /// Closed until the router is connected, the board answers, the GNSS status says
    /// `fix` and fixes come at most `max_fix_gap` µs apart.
    pub fn new(max_fix_gap: Micros) -> Safety {
        Safety {
            max_fix_gap,
            last_fix: None,
            gnss_fix: false,
            connected: false,
            board: false,
            stopping: false,
            was_ready: false,
        }
    }

    /// The reason the valves must be closed at `now`, if any.
    pub fn fault(&self, now: Micros) -> Option<SafeReason> {
        let lost = |reason| {
            if self.was_ready {
                reason
            } else {
                SafeReason::Starting
            }
        };
        if self.stopping {
            Some(SafeReason::Shutdown)
        } else if !self.connected {
            Some(lost(SafeReason::RouterLost))
        } else if !self.board {
            Some(lost(SafeReason::BoardLost))
        } else if !self.gnss_fix {
            Some(lost(SafeReason::GnssNotFix))
        } else if self.last_fix.is_none_or(|t| now - t > self.max_fix_gap) {
            Some(lost(SafeReason::NoFix))
        } else {
            None
        }
    }

    /// May a valve be open at `now`? (Remembers that everything was in place once.)
    pub fn may_open(&mut self, now: Micros) -> bool {
        let ok = self.fault(now).is_none();
        self.was_ready |= ok;
        ok
    }

    /// When the fix stream will be too old, if it is fresh now.
    pub fn next_deadline(&self) -> Option<Micros> {
        self.last_fix.map(|t| t + self.max_fix_gap + 1)
    }

    /// A fix arrived at `now`.
    pub fn on_fix(&mut self, now: Micros) {
        self.last_fix = Some(now);
    }

    /// The GNSS status: `fix` or not.
    pub fn on_gnss_status(&mut self, fix: bool) {
        self.gnss_fix = fix;
    }

    /// The router connection went up or down.
    pub fn on_connection(&mut self, up: bool) {
        self.connected = up;
        if !up {
            // The fixes of the old session say nothing about the next one.
            self.last_fix = None;
        }
    }

    /// The valve board answers or not.
    pub fn on_board(&mut self, answering: bool) {
        self.board = answering;
    }

    /// The sprayer is stopping: closed for good.
    pub fn on_shutdown(&mut self) {
        self.stopping = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Micros = 1_000;

    fn ready() -> Safety {
        let mut s = Safety::new(300 * MS);
        s.on_connection(true);
        s.on_board(true);
        s.on_gnss_status(true);
        s.on_fix(0);
        assert!(s.may_open(0));
        s
    }

    #[test]
    fn closed_until_everything_is_there() {
        let mut s = Safety::new(300 * MS);
        assert_eq!(s.fault(0), Some(SafeReason::Starting));
        s.on_connection(true);
        s.on_board(true);
        assert_eq!(s.fault(0), Some(SafeReason::Starting));
        s.on_gnss_status(true);
        assert_eq!(s.fault(0), Some(SafeReason::Starting));
        s.on_fix(0);
        assert!(s.may_open(0));
        s.on_board(false);
        assert_eq!(
            s.fault(0),
            Some(SafeReason::BoardLost),
            "named once it was ready"
        );
    }

    #[test]
    fn fixes_that_stop_trip_it_after_the_gap() {
        let mut s = ready();
        assert!(s.may_open(300 * MS));
        assert_eq!(s.fault(301 * MS), Some(SafeReason::NoFix));
        assert_eq!(s.next_deadline(), Some(300 * MS + 1));
    }

    #[test]
    fn losing_the_router_or_the_gnss_status_trips_it() {
        let mut s = ready();
        s.on_gnss_status(false);
        assert_eq!(s.fault(10 * MS), Some(SafeReason::GnssNotFix));
        s.on_gnss_status(true);
        assert!(s.may_open(10 * MS));
        s.on_connection(false);
        assert_eq!(s.fault(10 * MS), Some(SafeReason::RouterLost));
        s.on_connection(true);
        assert_eq!(
            s.fault(10 * MS),
            Some(SafeReason::NoFix),
            "a new session needs a new fix"
        );
        s.on_fix(20 * MS);
        assert!(s.may_open(20 * MS));
    }

    #[test]
    fn shutdown_is_for_good() {
        let mut s = ready();
        s.on_shutdown();
        s.on_fix(1);
        assert_eq!(s.fault(1), Some(SafeReason::Shutdown));
    }
}
