//! Half-open connection detection, free of I/O: time is passed in.
//!
//! Anything received from the router proves the connection alive. After
//! `interval` of silence the client sends a transport ping; if nothing at all arrives
//! within `timeout` after that, the connection is declared dead.

use std::time::Duration;

use tokio::time::Instant;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum KeepaliveAction {
    Nothing,
    SendPing,
    Dead,
}

#[derive(Debug)]
pub(crate) struct Keepalive {
    interval: Duration,
    timeout: Duration,
    last_rx: Instant,
    ping_sent: Option<Instant>,
}

impl Keepalive {
    pub(crate) fn new(interval: Duration, timeout: Duration, now: Instant) -> Keepalive {
        Keepalive {
            interval,
            timeout,
            last_rx: now,
            ping_sent: None,
        }
    }

    /// How often `tick` should run to honour both durations reasonably closely.
    pub(crate) fn tick_period(&self) -> Duration {
        (self.interval.min(self.timeout) / 4).max(Duration::from_millis(5))
    }

    pub(crate) fn received(&mut self, now: Instant) {
        self.last_rx = now;
        self.ping_sent = None;
    }

    pub(crate) fn tick(&mut self, now: Instant) -> KeepaliveAction {
        match self.ping_sent {
            Some(sent) if now.saturating_duration_since(sent) >= self.timeout => {
                KeepaliveAction::Dead
            }
            Some(_) => KeepaliveAction::Nothing,
            None if now.saturating_duration_since(self.last_rx) >= self.interval => {
                self.ping_sent = Some(now);
                KeepaliveAction::SendPing
            }
            None => KeepaliveAction::Nothing,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pings_after_silence_and_declares_dead_without_answer() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut k = Keepalive::new(s(5), s(3), t0);
        assert_eq!(k.tick(t0 + s(4)), KeepaliveAction::Nothing);
        assert_eq!(k.tick(t0 + s(5)), KeepaliveAction::SendPing);
        assert_eq!(k.tick(t0 + s(6)), KeepaliveAction::Nothing);
        assert_eq!(k.tick(t0 + s(8)), KeepaliveAction::Dead);
    }

    #[test]
    fn any_traffic_resets() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut k = Keepalive::new(s(5), s(3), t0);
        assert_eq!(k.tick(t0 + s(5)), KeepaliveAction::SendPing);
        k.received(t0 + s(6));
        assert_eq!(k.tick(t0 + s(9)), KeepaliveAction::Nothing);
        assert_eq!(k.tick(t0 + s(11)), KeepaliveAction::SendPing);
        assert_eq!(k.tick_period(), Duration::from_millis(750));
    }
}
