//! The reconnect schedule: exponential backoff with jitter, free of I/O and clocks.

use std::time::Duration;

/// When and how often the client reconnects after it lost (or never got) a session.
///
/// Attempts are counted per outage, from 1: after a session is lost the client waits
/// `delay(1)` before its first reconnect attempt, then `delay(2)` after that one failed,
/// and so on. A successful session resets the count.
#[derive(Clone, Debug, PartialEq)]
pub struct ReconnectPolicy {
    /// `false`: one connection attempt; when it fails or the session ends the client is
    /// closed for good.
    pub enabled: bool,
    /// Delay before the first reconnect attempt of an outage.
    pub initial_delay: Duration,
    /// Upper bound of the delay.
    pub max_delay: Duration,
    /// Growth of the delay per failed attempt (`>= 1`).
    pub factor: f64,
    /// Random reduction of each delay, as a fraction in `[0, 1]`: a delay `d` becomes a
    /// value in `(d * (1 - jitter), d]`, so that many components restarted together do
    /// not hammer the router in lock step.
    pub jitter: f64,
    /// Give up (state `Closed`) after this many failed attempts in a row; `None` retries
    /// forever.
    pub max_attempts: Option<u32>,
}

impl Default for ReconnectPolicy {
    /// Tuned for a router on the same machine or LAN: retry quickly, never give up.
    fn default() -> Self {
        ReconnectPolicy {
            enabled: true,
            initial_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
            factor: 2.0,
            jitter: 0.2,
            max_attempts: None,
        }
    }
}

impl ReconnectPolicy {
    /// No reconnects: the first failure closes the client.
    pub fn disabled() -> Self {
        ReconnectPolicy {
            enabled: false,
            ..ReconnectPolicy::default()
        }
    }

    /// Delay before reconnect attempt `attempt` (1-based) of an outage. `unit` is a
    /// uniform random sample in `[0, 1)` (injected so that the schedule is testable).
    pub fn delay(&self, attempt: u32, unit: f64) -> Duration {
        let exponent = attempt.saturating_sub(1).min(1024) as i32;
        let base = self.initial_delay.as_secs_f64() * self.factor.max(1.0).powi(exponent);
        let capped = base.min(self.max_delay.as_secs_f64());
        let jitter = self.jitter.clamp(0.0, 1.0) * unit.clamp(0.0, 1.0);
        Duration::try_from_secs_f64(capped * (1.0 - jitter)).unwrap_or(self.max_delay)
    }

    /// Whether the client stops after `failed` failed attempts in a row.
    pub fn gives_up_after(&self, failed: u32) -> bool {
        !self.enabled || self.max_attempts.is_some_and(|max| failed >= max)
    }

    /// Values that parse but make no sense.
    pub fn check(&self) -> Result<(), String> {
        if !self.factor.is_finite() || self.factor < 1.0 {
            return Err(format!(
                "reconnect factor must be >= 1, got {}",
                self.factor
            ));
        }
        if !(0.0..=1.0).contains(&self.jitter) {
            return Err(format!(
                "reconnect jitter must be in [0, 1], got {}",
                self.jitter
            ));
        }
        if self.initial_delay > self.max_delay {
            return Err(format!(
                "reconnect initial delay {:?} exceeds the max delay {:?}",
                self.initial_delay, self.max_delay
            ));
        }
        if self.enabled && self.max_delay.is_zero() {
            return Err("reconnect max delay must be above zero".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> ReconnectPolicy {
        ReconnectPolicy {
            enabled: true,
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(2),
            factor: 2.0,
            jitter: 0.5,
            max_attempts: Some(3),
        }
    }

    #[test]
    fn grows_exponentially_then_caps() {
        let p = policy();
        let ms = |a| p.delay(a, 0.0).as_millis();
        assert_eq!(
            [ms(1), ms(2), ms(3), ms(4), ms(5), ms(6)],
            [100, 200, 400, 800, 1600, 2000]
        );
        assert_eq!(ms(0), 100);
        assert_eq!(p.delay(u32::MAX, 0.0), Duration::from_secs(2));
    }

    #[test]
    fn jitter_only_shortens() {
        let p = policy();
        assert_eq!(p.delay(1, 0.999_999).as_millis(), 50);
        assert_eq!(p.delay(6, 0.5).as_millis(), 1500);
        // Out-of-range samples are clamped, never panic or exceed the cap.
        assert_eq!(p.delay(6, 7.0).as_millis(), 1000);
        assert!(p.delay(6, f64::NAN).as_millis() <= 2000);
    }

    #[test]
    fn max_attempts_and_disabled() {
        let p = policy();
        assert!(!p.gives_up_after(2));
        assert!(p.gives_up_after(3));
        let forever = ReconnectPolicy {
            max_attempts: None,
            ..policy()
        };
        assert!(!forever.gives_up_after(u32::MAX));
        assert!(ReconnectPolicy::disabled().gives_up_after(0));
    }

    #[test]
    fn check_rejects_nonsense() {
        assert!(policy().check().is_ok());
        assert!(ReconnectPolicy::default().check().is_ok());
        for bad in [
            ReconnectPolicy {
                factor: 0.5,
                ..policy()
            },
            ReconnectPolicy {
                factor: f64::NAN,
                ..policy()
            },
            ReconnectPolicy {
                jitter: 1.5,
                ..policy()
            },
            ReconnectPolicy {
                initial_delay: Duration::from_secs(10),
                ..policy()
            },
        ] {
            assert!(bad.check().is_err(), "{bad:?}");
        }
    }
}
