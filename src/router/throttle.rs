//! Rate-limited warnings: a peer that misbehaves on purpose (a fuzzer, a flood of
//! connections) must not fill the tractor's disk with log lines.
//!
//! Per [`Cause`], the first occurrence is logged; further occurrences within
//! [`WARN_INTERVAL`] are only counted, and the count is reported by the next line of
//! that cause: either the next occurrence after the interval (logged with
//! `suppressed = N`) or a summary line from the router's periodic [`Warnings::flush`].
//! So each cause writes at most about one line per interval, whatever the load.
//!
//! [`Limiter`] is the I/O-free bookkeeping (time is passed in, unit-tested);
//! [`Warnings`] wraps it in a short-lived `std::sync::Mutex` for the router's tasks.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// At most one line per cause per interval.
pub(crate) const WARN_INTERVAL: Duration = Duration::from_secs(10);

/// What a rate-limited warning is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cause {
    /// A session broke the protocol (ABORT `wamp.error.protocol_violation`).
    ProtocolViolation,
    /// A message that could not be decoded.
    DecodeError,
    /// A session cut off as a slow consumer.
    SlowConsumer,
    /// A connection refused at `max_sessions`.
    Refused,
    /// A message the router would send exceeds the receiver's size limit.
    Oversize,
    /// `accept` failed (e.g. out of file descriptors under a connection flood).
    AcceptFailed,
}

impl Cause {
    const ALL: [Cause; 6] = [
        Cause::ProtocolViolation,
        Cause::DecodeError,
        Cause::SlowConsumer,
        Cause::Refused,
        Cause::Oversize,
        Cause::AcceptFailed,
    ];

    fn index(self) -> usize {
        self as usize
    }

    /// How the summary line names the cause.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Cause::ProtocolViolation => "protocol violation",
            Cause::DecodeError => "undecodable message",
            Cause::SlowConsumer => "slow consumer cut",
            Cause::Refused => "connection refused",
            Cause::Oversize => "message over the size limit",
            Cause::AcceptFailed => "accept failed",
        }
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct Slot {
    /// When the last line of this cause was written.
    logged_at: Option<Instant>,
    /// Occurrences since then that were not logged.
    suppressed: u64,
}

/// Per-cause bookkeeping; time is passed in.
#[derive(Debug)]
pub(crate) struct Limiter {
    interval: Duration,
    slots: [Slot; Cause::ALL.len()],
}

impl Limiter {
    pub(crate) fn new(interval: Duration) -> Limiter {
        Limiter {
            interval,
            slots: [Slot::default(); Cause::ALL.len()],
        }
    }

    /// One occurrence of `cause` at `now`: `Some(n)` to log it (with `n` occurrences
    /// that were suppressed before it), `None` to only count it.
    pub(crate) fn admit(&mut self, cause: Cause, now: Instant) -> Option<u64> {
        let interval = self.interval;
        let slot = &mut self.slots[cause.index()];
        match slot.logged_at {
            Some(at) if now.saturating_duration_since(at) < interval => {
                slot.suppressed += 1;
                None
            }
            _ => {
                let suppressed = std::mem::take(&mut slot.suppressed);
                slot.logged_at = Some(now);
                Some(suppressed)
            }
        }
    }

    /// Counts to report now: causes with suppressed occurrences whose last line is at
    /// least an interval old. Each reported count restarts its interval.
    pub(crate) fn due(&mut self, now: Instant) -> Vec<(Cause, u64)> {
        let interval = self.interval;
        let mut due = Vec::new();
        for cause in Cause::ALL {
            let slot = &mut self.slots[cause.index()];
            let Some(at) = slot.logged_at else { continue };
            if slot.suppressed > 0 && now.saturating_duration_since(at) >= interval {
                due.push((cause, std::mem::take(&mut slot.suppressed)));
                slot.logged_at = Some(now);
            }
        }
        due
    }
}

/// The router's warning limiter, shared by its tasks.
#[derive(Debug)]
pub(crate) struct Warnings {
    limiter: Mutex<Limiter>,
}

impl Default for Warnings {
    fn default() -> Self {
        Warnings {
            limiter: Mutex::new(Limiter::new(WARN_INTERVAL)),
        }
    }
}

impl Warnings {
    /// `Some(suppressed)`: log this occurrence (mention `suppressed` if not 0).
    pub(crate) fn admit(&self, cause: Cause) -> Option<u64> {
        self.limiter
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .admit(cause, Instant::now())
    }

    /// Write the summary lines that are due (called periodically by the router).
    pub(crate) fn flush(&self) {
        let due = self
            .limiter
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .due(Instant::now());
        for (cause, suppressed) in due {
            tracing::warn!(
                suppressed,
                "{}: {suppressed} more in the last {}s (not logged one by one)",
                cause.as_str(),
                WARN_INTERVAL.as_secs()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_is_logged_then_counted_then_summarised() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut l = Limiter::new(s(10));
        assert_eq!(l.admit(Cause::ProtocolViolation, t0), Some(0));
        for i in 1..=2335 {
            let t = t0 + Duration::from_millis(i);
            assert_eq!(l.admit(Cause::ProtocolViolation, t), None);
        }
        // Another cause has its own budget.
        assert_eq!(l.admit(Cause::Refused, t0 + s(1)), Some(0));
        assert!(
            l.due(t0 + s(9)).is_empty(),
            "nothing due within the interval"
        );
        assert_eq!(l.due(t0 + s(10)), vec![(Cause::ProtocolViolation, 2335)]);
        // The summary restarted the interval: the next one is counted again...
        assert_eq!(l.admit(Cause::ProtocolViolation, t0 + s(12)), None);
        assert!(l.due(t0 + s(15)).is_empty());
        // ...and reported with the next occurrence after the interval.
        assert_eq!(l.admit(Cause::ProtocolViolation, t0 + s(21)), Some(1));
        assert!(l.due(t0 + s(100)).is_empty(), "nothing left to report");
        // After a quiet interval a new occurrence is logged at once, with nothing
        // suppressed.
        assert_eq!(l.admit(Cause::ProtocolViolation, t0 + s(200)), Some(0));
    }

    #[test]
    fn at_most_one_line_per_interval_under_a_steady_flood() {
        let t0 = Instant::now();
        let mut l = Limiter::new(Duration::from_secs(10));
        let mut lines = 0;
        let mut counted = 0;
        // 100 occurrences per second for two minutes, flushing once a second.
        for ms in (0..120_000).step_by(10) {
            let now = t0 + Duration::from_millis(ms);
            if let Some(n) = l.admit(Cause::DecodeError, now) {
                lines += 1;
                counted += n + 1;
            }
            if ms % 1000 == 0 {
                for (_, n) in l.due(now) {
                    lines += 1;
                    counted += n;
                }
            }
        }
        counted += l.due(t0 + Duration::from_secs(1000))[0].1;
        assert!(lines <= 13, "{lines} lines");
        assert_eq!(counted, 12_000, "every occurrence is counted once");
    }
}
