//! Scenario files: what to run (`[run]`, `[drive]`) and what the run must achieve
//! (`[expect]`), checked against its [`Report`], so that a scenario file is a test
//! (`verger sim --scenario FILE` exits non-zero when a run falls short). Read strictly
//! (an unknown key is refused by name, with its line); every key is optional, and a flag
//! given to `verger sim` wins over the file.
//!
//! ```toml
//! [run]
//! map = "../maps/demo-orchard.geojson"   # paths are relative to the scenario file
//! # track = "field.gpx"
//! # track_quality = "rtk_float"
//! # config = "verger.toml"
//! speed = 40
//!
//! [drive]                          # the synthetic drive (without a track)
//! speed_kmh = 7.0
//! noise_cm = 2.0                   # GNSS noise in RTK fixed, sigma per axis
//! outages = [{ at_s = 120.0, duration_s = 2.0 }]
//!
//! [expect]
//! treated_min = 1.0                # share of the sides passed that may be sprayed, treated
//! missed_max = 0
//! placement_p95_cm_max = 10.0
//! sprays_outside_boundary_max = 0  # the safety limits default to 0
//! ```

use std::path::{Path, PathBuf};

use serde::Deserialize;
use verger::config::{ConfigError, Problem, Validate};

use crate::drive::{DriveOptions, Flapping, Outage};
use crate::nmea_out::EpochQuality;
use crate::report::Report;

/// A scenario file.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Scenario {
    /// What to run.
    pub run: RunPart,
    /// The synthetic drive.
    pub drive: DrivePart,
    /// The limits.
    pub expect: Expect,
}

/// `[run]`: the same as `verger sim`'s flags (which win).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RunPart {
    /// `--map`.
    pub map: Option<PathBuf>,
    /// `--track`.
    pub track: Option<PathBuf>,
    /// `--track-quality`.
    pub track_quality: Option<String>,
    /// `--config`.
    pub config: Option<PathBuf>,
    /// `--speed`.
    pub speed: Option<f64>,
}

/// `[drive]`: the synthetic drive's options.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DrivePart {
    /// Driving speed, km/h.
    pub speed_kmh: f64,
    /// Epochs per second.
    pub rate_hz: f64,
    /// GNSS noise in RTK fixed, σ cm per axis.
    pub noise_cm: f64,
    /// Drops to RTK float per minute (0: none).
    pub flapping_per_minute: f64,
    /// How long each float episode lasts, s.
    pub float_s: f64,
    /// Outages: the receiver sends invalid epochs.
    pub outages: Vec<OutagePart>,
    /// Seed of every random draw.
    pub seed: u64,
    /// Write a heading (HDT), as a dual-antenna receiver.
    pub heading: bool,
}

/// One outage of `[drive] outages`.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutagePart {
    /// When it starts, s after the start.
    pub at_s: f64,
    /// How long it lasts, s.
    pub duration_s: f64,
}

impl Default for DrivePart {
    fn default() -> DrivePart {
        let d = DriveOptions::default();
        DrivePart {
            speed_kmh: d.speed_mps * 3.6,
            rate_hz: crate::receiver::DEFAULT_RATE_HZ,
            noise_cm: d.noise_m * 100.0,
            flapping_per_minute: 0.0,
            float_s: 5.0,
            outages: Vec::new(),
            seed: d.seed,
            heading: d.heading,
        }
    }
}

impl DrivePart {
    /// The drive's options.
    pub fn options(&self) -> DriveOptions {
        DriveOptions {
            speed_mps: self.speed_kmh / 3.6,
            noise_m: self.noise_cm / 100.0,
            flapping: (self.flapping_per_minute > 0.0).then_some(Flapping {
                per_minute: self.flapping_per_minute,
                float_s: self.float_s,
            }),
            outages: self
                .outages
                .iter()
                .map(|o| Outage {
                    at_s: o.at_s,
                    duration_s: o.duration_s,
                })
                .collect(),
            seed: self.seed,
            heading: self.heading,
            ..DriveOptions::default()
        }
    }
}

impl Validate for Scenario {
    fn validate(&self) -> Result<(), Vec<Problem>> {
        let mut problems = self.expect.validate().err().unwrap_or_default();
        let d = &self.drive;
        let mut bad = |field: &str, why: String| problems.push(Problem::new(field, why));
        if !(d.speed_kmh > 0.5 && d.speed_kmh <= 30.0) {
            bad(
                "drive.speed_kmh",
                format!("{} must be above 0.5 and at most 30 (km/h)", d.speed_kmh),
            );
        }
        if !(d.rate_hz >= 1.0 && d.rate_hz <= 50.0) {
            bad(
                "drive.rate_hz",
                format!("{} must be between 1 and 50 (Hz)", d.rate_hz),
            );
        }
        if !(0.0..=500.0).contains(&d.noise_cm) {
            bad(
                "drive.noise_cm",
                format!("{} must be between 0 and 500 (cm)", d.noise_cm),
            );
        }
        if !(0.0..=60.0).contains(&d.flapping_per_minute) {
            bad(
                "drive.flapping_per_minute",
                format!("{} must be between 0 and 60", d.flapping_per_minute),
            );
        }
        if !(d.float_s > 0.0 && d.float_s <= 600.0) {
            bad(
                "drive.float_s",
                format!("{} must be above 0 and at most 600 (s)", d.float_s),
            );
        }
        for (i, o) in d.outages.iter().enumerate() {
            if !(o.at_s >= 0.0
                && o.duration_s > 0.0
                && o.at_s.is_finite()
                && o.duration_s.is_finite())
            {
                bad(
                    &format!("drive.outages[{i}]"),
                    "at_s must be 0 or more and duration_s above 0".into(),
                );
            }
        }
        if let Some(q) = &self.run.track_quality {
            if EpochQuality::parse(q).is_none() {
                bad(
                    "run.track_quality",
                    format!("`{q}`: rtk_fixed, rtk_float, dgps, autonomous, dead_reckoning, invalid or simulated"),
                );
            }
        }
        if let Some(speed) = self.run.speed {
            if !(1.0..=1000.0).contains(&speed) {
                bad("run.speed", format!("{speed} must be between 1 and 1000"));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

impl Scenario {
    /// Reads `file` strictly; its paths made relative to its folder.
    pub fn load(file: &Path) -> Result<Scenario, ConfigError> {
        let mut s: Scenario = verger::config::load(file)?;
        let dir = file.parent().unwrap_or(Path::new("."));
        for p in [&mut s.run.map, &mut s.run.track, &mut s.run.config]
            .into_iter()
            .flatten()
        {
            *p = dir.join(&*p);
        }
        Ok(s)
    }
}

/// The limits of a run (`[expect]`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Expect {
    /// Least share (0–1) of the tree sides passed that may be sprayed (treated + missed)
    /// that must be treated.
    pub treated_min: Option<f64>,
    /// Most tree sides that may be missed.
    pub missed_max: Option<u64>,
    /// Largest placement error p95, cm.
    pub placement_p95_cm_max: Option<f64>,
    /// Largest placement error, cm.
    pub placement_max_cm_max: Option<f64>,
    /// Largest gap between the volume applied and the volume intended, % of intended.
    pub volume_gap_pct_max: Option<f64>,
    /// Most sprays aiming outside the boundary (default 0).
    pub sprays_outside_boundary_max: u64,
    /// Most sprays aiming into a no-spray zone (default 0).
    pub sprays_in_no_spray_zones_max: u64,
    /// Most sprays on an invalid or stale fix (default 0).
    pub sprays_on_invalid_or_stale_fix_max: u64,
    /// Least tree sides treated (a track that never enters the orchard: 0, and
    /// `passed_max = 0` says nothing may be passed).
    pub treated_at_least: Option<u64>,
    /// Most tree sides passed.
    pub passed_max: Option<u64>,
}

impl Validate for Expect {
    fn validate(&self) -> Result<(), Vec<Problem>> {
        let mut problems = Vec::new();
        if let Some(v) = self.treated_min {
            if !(0.0..=1.0).contains(&v) {
                problems.push(Problem::new(
                    "expect.treated_min",
                    format!("{v} is a share: 0 to 1 (1.0 = every side passed)"),
                ));
            }
        }
        for (field, v) in [
            ("expect.placement_p95_cm_max", self.placement_p95_cm_max),
            ("expect.placement_max_cm_max", self.placement_max_cm_max),
            ("expect.volume_gap_pct_max", self.volume_gap_pct_max),
        ] {
            if let Some(v) = v {
                if !(v.is_finite() && v >= 0.0) {
                    problems.push(Problem::new(field, format!("{v} must be 0 or more")));
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

/// A limit a run did not meet.
#[derive(Debug, Clone, PartialEq)]
pub struct Shortfall {
    /// The limit (`expect.missed_max`...).
    pub limit: &'static str,
    /// What the run did and what was expected, in words.
    pub message: String,
}

impl std::fmt::Display for Shortfall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.limit, self.message)
    }
}

/// Every limit of `expect` that `report` does not meet (empty: the run passes).
pub fn check(report: &Report, expect: &Expect) -> Vec<Shortfall> {
    let mut out = Vec::new();
    let mut fail = |limit: &'static str, message: String| out.push(Shortfall { limit, message });
    let t = &report.trees;
    if let Some(min) = expect.treated_min {
        // Of the sides that may be sprayed (a side against a no-spray zone is neither
        // treated nor missed).
        let sprayable = t.treated + t.missed;
        let share = if sprayable == 0 {
            1.0
        } else {
            t.treated as f64 / sprayable as f64
        };
        if share < min {
            fail(
                "expect.treated_min",
                format!(
                    "{} of the {} tree sides passed that may be sprayed were treated ({:.1} %), at least {:.1} % expected",
                    t.treated,
                    sprayable,
                    share * 100.0,
                    min * 100.0
                ),
            );
        }
    }
    if let Some(max) = expect.missed_max {
        if t.missed > max {
            fail(
                "expect.missed_max",
                format!("{} tree sides missed, at most {max} expected", t.missed),
            );
        }
    }
    if let Some(min) = expect.treated_at_least {
        if t.treated < min {
            fail(
                "expect.treated_at_least",
                format!("{} tree sides treated, at least {min} expected", t.treated),
            );
        }
    }
    if let Some(max) = expect.passed_max {
        if t.passed > max {
            fail(
                "expect.passed_max",
                format!("{} tree sides passed, at most {max} expected", t.passed),
            );
        }
    }
    let p = &report.placement_error_cm;
    if let Some(max) = expect.placement_p95_cm_max {
        if p.p95 > max {
            fail(
                "expect.placement_p95_cm_max",
                format!(
                    "placement error p95 {:.1} cm, at most {max} cm expected",
                    p.p95
                ),
            );
        }
    }
    if let Some(max) = expect.placement_max_cm_max {
        if p.max > max {
            fail(
                "expect.placement_max_cm_max",
                format!(
                    "placement error max {:.1} cm, at most {max} cm expected",
                    p.max
                ),
            );
        }
    }
    if let Some(max) = expect.volume_gap_pct_max {
        let v = &report.volume_l;
        if v.intended > 0.0 {
            let gap = (v.applied - v.intended).abs() / v.intended * 100.0;
            if gap > max {
                fail(
                    "expect.volume_gap_pct_max",
                    format!(
                        "{:.3} L applied for {:.3} L intended ({gap:.1} %), at most {max} % expected",
                        v.applied, v.intended
                    ),
                );
            }
        }
    }
    let s = &report.safety;
    for (limit, got, max) in [
        (
            "expect.sprays_outside_boundary_max",
            s.sprays_outside_boundary,
            expect.sprays_outside_boundary_max,
        ),
        (
            "expect.sprays_in_no_spray_zones_max",
            s.sprays_in_no_spray_zones,
            expect.sprays_in_no_spray_zones_max,
        ),
        (
            "expect.sprays_on_invalid_or_stale_fix_max",
            s.sprays_on_invalid_or_stale_fix,
            expect.sprays_on_invalid_or_stale_fix_max,
        ),
    ] {
        if got > max {
            fail(limit, format!("{got}, at most {max} expected"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Placement, Safety, TreeCounts, Volumes};

    fn report() -> Report {
        Report {
            trees: TreeCounts {
                in_field: 100,
                passed: 180,
                treated: 178,
                missed: 2,
            },
            placement_error_cm: Placement {
                p50: 2.0,
                p95: 6.5,
                max: 14.0,
            },
            volume_l: Volumes {
                applied: 9.8,
                intended: 10.0,
                constant_rate_baseline: 14.0,
            },
            safety: Safety::default(),
            per_tree: Vec::new(),
        }
    }

    fn expect(toml_text: &str) -> Expect {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct File {
            expect: Expect,
        }
        toml::from_str::<File>(toml_text).expect("toml").expect
    }

    #[test]
    fn a_run_within_its_limits_passes() {
        let e = expect(
            "[expect]\ntreated_min = 0.98\nmissed_max = 2\nplacement_p95_cm_max = 10\nvolume_gap_pct_max = 5\n",
        );
        assert_eq!(check(&report(), &e), Vec::new());
    }

    #[test]
    fn each_shortfall_is_named() {
        let e = expect(
            "[expect]\ntreated_min = 1.0\nmissed_max = 0\nplacement_p95_cm_max = 5\nplacement_max_cm_max = 10\nvolume_gap_pct_max = 1\n",
        );
        let mut r = report();
        r.safety.sprays_in_no_spray_zones = 1;
        let limits: Vec<&str> = check(&r, &e).iter().map(|s| s.limit).collect();
        assert_eq!(
            limits,
            vec![
                "expect.treated_min",
                "expect.missed_max",
                "expect.placement_p95_cm_max",
                "expect.placement_max_cm_max",
                "expect.volume_gap_pct_max",
                "expect.sprays_in_no_spray_zones_max",
            ]
        );
        let text = check(&r, &e)[0].to_string();
        assert!(text.contains("178 of the 180"), "{text}");
    }

    #[test]
    fn safety_limits_default_to_zero_and_a_track_outside_can_pass_nothing() {
        let mut r = report();
        r.safety.sprays_outside_boundary = 1;
        assert_eq!(check(&r, &Expect::default()).len(), 1);
        let nothing = Report::default();
        let e = expect("[expect]\npassed_max = 0\ntreated_min = 1.0\n");
        assert!(check(&nothing, &e).is_empty());
    }

    #[test]
    fn bad_limits_and_unknown_keys_are_refused() {
        let e = expect("[expect]\ntreated_min = 98\n");
        let problems = e.validate().unwrap_err();
        assert_eq!(problems.len(), 1);
        let bad = toml::from_str::<toml::Table>("[expect]\nmised_max = 0\n").unwrap();
        let e: Result<Expect, _> = bad["expect"].clone().try_into();
        assert!(e.unwrap_err().to_string().contains("mised_max"));
    }
}
