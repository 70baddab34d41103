//! Detecting half-open peers, free of I/O: the caller reports traffic and asks what to
//! do at the time [`Keepalive::next_deadline`] names.
//!
//! Any traffic from the peer (messages, pings, pongs) proves it alive. After
//! `interval` without traffic (and without a ping of ours in that interval) we ping;
//! after `timeout` without traffic the peer is dead. Used by the router session and by
//! the client.

use std::time::{Duration, Instant};

/// What the owner of the connection should do now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeepaliveAction {
    Nothing,
    /// Send a transport-level ping (any payload; WebSocket allows up to 125 bytes).
    SendPing,
    /// No traffic for `timeout`: close the connection.
    Dead,
}

/// Ping interval + timeout bookkeeping for one connection.
#[derive(Clone, Debug)]
pub struct Keepalive {
    interval: Duration,
    timeout: Duration,
    last_traffic: Instant,
    last_ping: Option<Instant>,
    pings_sent: u64,
}

impl Keepalive {
    /// `interval` of zero disables keepalive: `poll` always returns `Nothing` and
    /// `next_deadline` is `None`.
    pub fn new(interval: Duration, timeout: Duration, now: Instant) -> Keepalive {
        Keepalive {
            interval,
            timeout,
            last_traffic: now,
            last_ping: None,
            pings_sent: 0,
        }
    }

    pub fn is_enabled(&self) -> bool {
        !self.interval.is_zero()
    }

    /// The peer sent something.
    pub fn on_traffic(&mut self, now: Instant) {
        if now > self.last_traffic {
            self.last_traffic = now;
        }
    }

    /// When `poll` should next be called (`None` when disabled).
    pub fn next_deadline(&self) -> Option<Instant> {
        if !self.is_enabled() {
            return None;
        }
        let last_activity = match self.last_ping {
            Some(p) if p > self.last_traffic => p,
            _ => self.last_traffic,
        };
        Some((last_activity + self.interval).min(self.last_traffic + self.timeout))
    }

    pub fn poll(&mut self, now: Instant) -> KeepaliveAction {
        if !self.is_enabled() {
            return KeepaliveAction::Nothing;
        }
        if now.saturating_duration_since(self.last_traffic) >= self.timeout {
            return KeepaliveAction::Dead;
        }
        let last_activity = match self.last_ping {
            Some(p) if p > self.last_traffic => p,
            _ => self.last_traffic,
        };
        if now.saturating_duration_since(last_activity) >= self.interval {
            self.last_ping = Some(now);
            self.pings_sent += 1;
            return KeepaliveAction::SendPing;
        }
        KeepaliveAction::Nothing
    }

    /// A payload for the next ping (a counter, for correlating in traces).
    pub fn ping_payload(&self) -> Vec<u8> {
        self.pings_sent.to_be_bytes().to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn pings_after_interval_and_dies_after_timeout() {
        let t0 = Instant::now();
        let mut k = Keepalive::new(10 * S, 30 * S, t0);
        assert_eq!(k.next_deadline(), Some(t0 + 10 * S));
        assert_eq!(k.poll(t0 + 5 * S), KeepaliveAction::Nothing);
        assert_eq!(k.poll(t0 + 10 * S), KeepaliveAction::SendPing);
        assert_eq!(k.poll(t0 + 11 * S), KeepaliveAction::Nothing);
        assert_eq!(k.next_deadline(), Some(t0 + 20 * S));
        assert_eq!(k.poll(t0 + 20 * S), KeepaliveAction::SendPing);
        assert_eq!(k.poll(t0 + 29 * S), KeepaliveAction::Nothing);
        assert_eq!(k.next_deadline(), Some(t0 + 30 * S));
        assert_eq!(k.poll(t0 + 30 * S), KeepaliveAction::Dead);
    }

    #[test]
    fn traffic_postpones_pings_and_death() {
        let t0 = Instant::now();
        let mut k = Keepalive::new(10 * S, 30 * S, t0);
        assert_eq!(k.poll(t0 + 10 * S), KeepaliveAction::SendPing);
        k.on_traffic(t0 + 12 * S); // the pong
        assert_eq!(k.next_deadline(), Some(t0 + 22 * S));
        assert_eq!(k.poll(t0 + 21 * S), KeepaliveAction::Nothing);
        assert_eq!(k.poll(t0 + 22 * S), KeepaliveAction::SendPing);
        k.on_traffic(t0 + 40 * S);
        assert_eq!(k.poll(t0 + 45 * S), KeepaliveAction::Nothing);
        assert_eq!(k.poll(t0 + 69 * S), KeepaliveAction::SendPing);
        assert_eq!(k.poll(t0 + 70 * S), KeepaliveAction::Dead);
    }

    #[test]
    fn timeout_shorter_than_interval_still_dies() {
        let t0 = Instant::now();
        let mut k = Keepalive::new(10 * S, 5 * S, t0);
        assert_eq!(k.next_deadline(), Some(t0 + 5 * S));
        assert_eq!(k.poll(t0 + 5 * S), KeepaliveAction::Dead);
    }

    #[test]
    fn zero_interval_disables() {
        let t0 = Instant::now();
        let mut k = Keepalive::new(Duration::ZERO, 5 * S, t0);
        assert_eq!(k.next_deadline(), None);
        assert_eq!(k.poll(t0 + 500 * S), KeepaliveAction::Nothing);
    }

    #[test]
    fn payload_counts_pings() {
        let t0 = Instant::now();
        let mut k = Keepalive::new(S, 10 * S, t0);
        assert_eq!(k.ping_payload(), 0u64.to_be_bytes());
        assert_eq!(k.poll(t0 + S), KeepaliveAction::SendPing);
        assert_eq!(k.ping_payload(), 1u64.to_be_bytes());
    }
}
