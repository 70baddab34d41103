//! Which way the vehicle faces, and whether it is reversing.
//!
//! With a dual-antenna receiver the heading says where the body points: the vehicle
//! reverses when its course is more than 90° from its heading. A single antenna only
//! gives the course (the direction of motion), so the body is tracked from it: the body
//! follows the course while the vehicle moves (above [`NOISE_MPS`], where the course is
//! meaningful) and stays put while it stands still; a course more than 120° from the
//! body, reached without turning (a stop and a change of gear), is reversing, which ends
//! when the course comes back within 60° of the body. A reversal longer than
//! [`MAX_REVERSE_M`] is taken as a mistake of this rule (the vehicle turned while too
//! slow for its course to be followed) and the body turns round: verger then plans again.
//! A vehicle that starts its job reversing is not seen as such without a dual antenna.

use super::GnssMicros;
use crate::plan::geometry::angle_between;

/// Below this speed (m/s) a receiver's course is mostly noise.
pub const NOISE_MPS: f64 = 0.1;

/// Longest reversal believed without a dual-antenna heading, metres.
pub const MAX_REVERSE_M: f64 = 25.0;

/// A gap between fixes after which the last known body direction is forgotten.
const GAP_US: GnssMicros = 5_000_000;

/// The body direction tracker.
#[derive(Debug, Default, Clone)]
pub struct Direction {
    body: Option<f64>,
    last: Option<(GnssMicros, f64, f64)>,
    reversing: bool,
    reversed_m: f64,
}

/// What the tracker makes of one fix.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Facing {
    /// Where the body points, degrees true.
    pub body_deg: f64,
    /// The vehicle moves backwards.
    pub reversing: bool,
}

impl Direction {
    /// Take one fix: its GNSS time, speed (m/s), course and dual-antenna heading.
    pub fn update(
        &mut self,
        time: GnssMicros,
        speed_mps: f64,
        course_deg: f64,
        heading_deg: Option<f64>,
    ) -> Facing {
        let step_m = match self.last {
            Some((t, s, _)) if (0..=GAP_US).contains(&(time - t)) => {
                (time - t) as f64 / 1e6 * (s + speed_mps) / 2.0
            }
            _ => {
                // First fix, or a long gap (or time going backwards): start afresh.
                self.body = None;
                self.reversing = false;
                0.0
            }
        };
        self.last = Some((time, speed_mps, course_deg));
        if let Some(heading) = heading_deg {
            self.body = Some(heading);
            self.reversing = angle_between(course_deg, heading) > 90.0;
            return Facing {
                body_deg: heading,
                reversing: self.reversing,
            };
        }
        let moving = speed_mps >= NOISE_MPS;
        match self.body {
            None => {
                if moving {
                    self.body = Some(course_deg);
                }
                self.reversing = false;
            }
            Some(body) if moving => {
                let off = angle_between(course_deg, body);
                if self.reversing {
                    self.reversed_m += step_m;
                    if off < 60.0 || self.reversed_m > MAX_REVERSE_M {
                        self.reversing = false;
                        self.body = Some(course_deg);
                    }
                } else if off > 120.0 {
                    self.reversing = true;
                    self.reversed_m = 0.0;
                } else {
                    self.body = Some(course_deg);
                }
            }
            Some(_) => {}
        }
        Facing {
            body_deg: self.body.unwrap_or(course_deg),
            reversing: self.reversing,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: GnssMicros = 1_000_000;

    #[test]
    fn a_turn_is_not_a_reversal() {
        let mut d = Direction::default();
        // A U-turn at 1.5 m/s, 10 fixes a second, 9° per fix.
        for i in 0..=20 {
            let f = d.update(i * S / 10, 1.5, i as f64 * 9.0, None);
            assert!(!f.reversing, "fix {i}");
            assert_eq!(f.body_deg, i as f64 * 9.0);
        }
    }

    #[test]
    fn stopping_and_backing_up_is_reversing_until_forward_again() {
        let mut d = Direction::default();
        let mut t = 0;
        let mut next = |d: &mut Direction, speed, course| {
            t += S / 10;
            d.update(t, speed, course, None)
        };
        assert!(!next(&mut d, 2.0, 10.0).reversing);
        assert!(!next(&mut d, 0.05, 250.0).reversing, "standing: noise");
        let f = next(&mut d, 0.8, 190.0);
        assert!(f.reversing);
        assert_eq!(f.body_deg, 10.0, "the body still points forward");
        assert!(next(&mut d, 0.8, 185.0).reversing);
        assert!(
            next(&mut d, 0.05, 100.0).reversing,
            "standing: the state holds"
        );
        assert!(
            next(&mut d, 0.04, 20.0).reversing,
            "still standing in reverse"
        );
        let f = next(&mut d, 1.0, 15.0);
        assert!(!f.reversing);
        assert_eq!(f.body_deg, 15.0);
    }

    #[test]
    fn a_long_reversal_is_taken_back() {
        let mut d = Direction::default();
        d.update(0, 2.0, 0.0, None);
        let mut t = 0;
        let mut reversing_for = 0;
        for _ in 0..200 {
            t += S / 10;
            if d.update(t, 2.0, 180.0, None).reversing {
                reversing_for += 1;
            }
        }
        // 25 m at 2 m/s = 12.5 s = 125 fixes (0.2 m each).
        assert!((120..=130).contains(&reversing_for), "{reversing_for}");
    }

    #[test]
    fn a_dual_antenna_heading_decides() {
        let mut d = Direction::default();
        let f = d.update(0, 1.0, 182.0, Some(1.0));
        assert!(f.reversing);
        assert_eq!(f.body_deg, 1.0);
        assert!(!d.update(S, 1.0, 5.0, Some(1.0)).reversing);
        // Crabbing on a slope: 20° between course and heading is forward.
        assert!(!d.update(2 * S, 1.0, 21.0, Some(1.0)).reversing);
    }

    #[test]
    fn a_gap_forgets_the_body() {
        let mut d = Direction::default();
        d.update(0, 2.0, 0.0, None);
        assert!(!d.update(10 * S, 2.0, 180.0, None).reversing);
    }
}
