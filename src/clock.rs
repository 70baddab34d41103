//! Field time: the clock the components' timing rules run on (valve latency, fix gaps,
//! the instants valves switch at). On the tractor it is the monotonic clock. In
//! simulation the virtual receiver runs `scale` times faster than real time (`verger sim
//! --speed N`), so GNSS time does too; every component is then started with
//! [`TIME_SCALE_ENV`] = N, and its field clock runs N times faster than the real one, so
//! that every rule keeps its meaning in GNSS time (a 300 ms valve latency is 300 ms of
//! GNSS time, 5 ms of real time at 60×). Transport timing (heartbeats, keepalives,
//! timeouts) stays on the real clock.

use std::time::{Duration, Instant};

/// The environment variable giving the field clock's speed-up (a number ≥ 1; absent: 1).
pub const TIME_SCALE_ENV: &str = "VERGER_TIME_SCALE";

/// The largest speed-up accepted.
pub const MAX_SCALE: f64 = 1000.0;

/// A speed-up that is not one.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{TIME_SCALE_ENV}={0:?} is not a speed-up: give a number from 1 to {MAX_SCALE} (e.g. 60)")]
pub struct ScaleError(pub String);

/// Field time since the clock started, running `scale` times faster than real time.
#[derive(Debug, Clone, Copy)]
pub struct FieldClock {
    origin: Instant,
    scale: f64,
}

impl FieldClock {
    /// A clock starting now at `scale` times real time (1 to [`MAX_SCALE`]).
    pub fn new(scale: f64) -> Result<FieldClock, ScaleError> {
        if !(scale.is_finite() && (1.0..=MAX_SCALE).contains(&scale)) {
            return Err(ScaleError(scale.to_string()));
        }
        Ok(FieldClock {
            origin: Instant::now(),
            scale,
        })
    }

    /// The clock [`TIME_SCALE_ENV`] asks for (real time when it is not set).
    pub fn from_env() -> Result<FieldClock, ScaleError> {
        match std::env::var(TIME_SCALE_ENV) {
            Err(_) => FieldClock::new(1.0),
            Ok(text) => match text.trim().parse::<f64>() {
                Ok(scale) => FieldClock::new(scale).map_err(|_| ScaleError(text)),
                Err(_) => Err(ScaleError(text)),
            },
        }
    }

    /// Field seconds per real second.
    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// Field time now, µs since the clock started.
    pub fn now_us(&self) -> i64 {
        self.field_us(Instant::now())
    }

    /// The field time of real instant `at`, µs.
    pub fn field_us(&self, at: Instant) -> i64 {
        let real = at.saturating_duration_since(self.origin).as_secs_f64();
        (real * self.scale * 1e6).round() as i64
    }

    /// The real instant of field time `us`.
    pub fn instant_of(&self, us: i64) -> Instant {
        self.origin + Duration::from_secs_f64(us.max(0) as f64 / 1e6 / self.scale)
    }

    /// A real duration in field time.
    pub fn to_field(&self, real: Duration) -> Duration {
        real.mul_f64(self.scale)
    }

    /// A field duration in real time.
    pub fn to_real(&self, field: Duration) -> Duration {
        field.div_f64(self.scale)
    }

    /// A `field` duration that stands against the computer's own delays (a fault
    /// timeout such as "no fix for 300 ms", or a lead time such as "orders reach the
    /// sprayer 200 ms ahead"), in real time, never shorter than [`MIN_REAL`]: sped up 80
    /// times, a 300 ms fix gap would be 3.75 ms of real time, within the scheduling
    /// jitter of a busy computer, and a simulation would see faults, or late orders,
    /// that are not there. In real time (scale 1) every such duration verger has is
    /// longer than the floor, so this changes nothing on a tractor.
    pub fn floored_real(&self, field: Duration) -> Duration {
        self.to_real(field).max(MIN_REAL)
    }

    /// [`FieldClock::floored_real`] in field time.
    pub fn floored_field(&self, field: Duration) -> Duration {
        field.max(self.to_field(MIN_REAL))
    }
}

/// The shortest real time a timeout or lead time lasts ([`FieldClock::floored_real`]).
pub const MIN_REAL: Duration = Duration::from_millis(25);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_timeouts_keep_a_real_floor_when_sped_up_only() {
        let real = FieldClock::new(1.0).unwrap();
        let ms = Duration::from_millis;
        assert_eq!(real.floored_real(ms(300)), ms(300));
        assert_eq!(real.floored_field(ms(300)), ms(300));
        let fast = FieldClock::new(80.0).unwrap();
        assert_eq!(fast.floored_real(ms(300)), MIN_REAL);
        assert_eq!(fast.floored_field(ms(300)), ms(2000));
        assert_eq!(fast.floored_field(ms(5000)), ms(5000));
    }

    #[test]
    fn field_time_runs_scale_times_faster_both_ways() {
        let c = FieldClock::new(60.0).unwrap();
        let later = c.instant_of(6_000_000);
        let real = later.duration_since(c.origin);
        assert!((real.as_secs_f64() - 0.1).abs() < 1e-9, "{real:?}");
        assert_eq!(c.field_us(later), 6_000_000);
        assert_eq!(
            c.to_field(Duration::from_millis(5)),
            Duration::from_millis(300)
        );
        let one = FieldClock::new(1.0).unwrap();
        assert_eq!(one.field_us(one.instant_of(1234)), 1234);
    }

    #[test]
    fn bad_scales_are_refused_by_name() {
        for bad in [0.5, 0.0, -3.0, f64::NAN, f64::INFINITY, 1001.0] {
            let e = FieldClock::new(bad).unwrap_err().to_string();
            assert!(e.contains(TIME_SCALE_ENV) && e.contains("1 to 1000"), "{e}");
        }
    }
}
