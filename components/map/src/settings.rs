//! `verger-map`'s flags and its `--config` file (its section of `verger.toml`): the map
//! database, the sprayer's sections and the planning rules. Checked as a whole at start:
//! every wrong value is reported at once, by name.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use verger::config::{duration, Problem, Validate};
use verger::contract::gnss::FIX_MAX_AGE;
use verger::nmea::Quality;
pub use verger::orchard::SectionSettings;

use crate::plan::{PlanConfig, Section};

/// Flags of `verger-map` (a flag given wins over the file).
#[derive(Clone, Debug, clap::Args)]
pub struct MapArgs {
    /// The orchard map database (made by `verger map import`).
    #[arg(long, value_name = "PATH")]
    pub db: Option<PathBuf>,
}

/// The planner's section for one of the settings.
fn section(s: &SectionSettings) -> Section {
    Section {
        id: s.id.clone(),
        side: s.side,
        forward_m: s.forward_m,
        lateral_m: s.lateral_m,
        reach_m: s.reach_m,
        bottom_m: s.bottom_m,
        top_m: s.top_m,
    }
}

/// The planning rules (`[planning]`).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PlanningSettings {
    /// Time from a valve command to spray at the nozzles.
    #[serde(with = "duration")]
    pub valve_latency: Duration,
    /// How long before (window opening − valve latency) an order must reach the
    /// sprayer (0.1–0.5 s is typical).
    #[serde(with = "duration")]
    pub lookahead: Duration,
    /// How much earlier than that windows are ordered, so that none is missed between
    /// two fixes (re-planning corrects early orders). At least two fix intervals.
    #[serde(with = "duration")]
    pub horizon: Duration,
    /// Re-order a window whose predicted end moved by more than this, metres.
    pub replan_distance_m: f64,
    /// The poorest fix quality planned on.
    pub min_quality: Quality,
    /// Slowest speed planned on, m/s.
    pub min_speed_mps: f64,
    /// A fix older than this (the age rule of `docs/contract.md`), or no fix for this
    /// long, withdraws every window.
    #[serde(with = "duration")]
    pub max_fix_age: Duration,
    /// Canopy width assumed for a tree the map gives none, metres.
    pub default_canopy_width_m: f64,
    /// At most this many `orchard.dose.treat` calls in flight; beyond, orders are
    /// dropped and counted (`dose_busy`), planning never waits.
    pub max_in_flight: usize,
}

impl Default for PlanningSettings {
    fn default() -> PlanningSettings {
        PlanningSettings {
            valve_latency: Duration::from_millis(300),
            lookahead: Duration::from_millis(200),
            horizon: Duration::from_millis(1000),
            replan_distance_m: 0.05,
            min_quality: Quality::RtkFloat,
            min_speed_mps: 0.3,
            max_fix_age: FIX_MAX_AGE,
            default_canopy_width_m: 1.5,
            max_in_flight: 32,
        }
    }
}

/// The `--config` file of `verger-map`.
///
/// ```toml
/// db = "/var/lib/verger/orchard.db"
///
/// [planning]
/// valve_latency = "300ms"
/// lookahead = "200ms"
///
/// [[sections]]
/// id = "left"
/// side = "left"
/// forward_m = -3.5
/// lateral_m = 0.7
/// reach_m = 2.5
///
/// [[sections]]
/// id = "right"
/// side = "right"
/// forward_m = -3.5
/// lateral_m = 0.7
/// reach_m = 2.5
/// ```
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MapSettings {
    /// The map database (the `--db` flag wins).
    pub db: Option<PathBuf>,
    /// The planning rules.
    pub planning: PlanningSettings,
    /// The sprayer's sections (default: one left and one right, see
    /// [`MapSettings::default_sections`]).
    pub sections: Vec<SectionSettings>,
}

impl Default for MapSettings {
    fn default() -> MapSettings {
        MapSettings {
            db: None,
            planning: PlanningSettings::default(),
            sections: MapSettings::default_sections(),
        }
    }
}

impl MapSettings {
    /// One left and one right section ([`SectionSettings::defaults`]).
    pub fn default_sections() -> Vec<SectionSettings> {
        SectionSettings::defaults()
    }

    /// The planner's configuration.
    pub fn plan_config(&self) -> PlanConfig {
        let p = &self.planning;
        PlanConfig {
            sections: self.sections.iter().map(section).collect(),
            valve_latency: p.valve_latency,
            lookahead: p.lookahead,
            horizon: p.horizon,
            replan_distance_m: p.replan_distance_m,
            min_quality: p.min_quality,
            min_speed_mps: p.min_speed_mps,
            default_canopy_width_m: p.default_canopy_width_m,
        }
    }
}

impl Validate for MapSettings {
    fn validate(&self) -> Result<(), Vec<Problem>> {
        let mut problems = Vec::new();
        let mut bad = |field: String, why: &str| problems.push(Problem::new(field, why));
        let p = &self.planning;
        let within = |d: Duration, max_s: u64| d <= Duration::from_secs(max_s);
        if !within(p.valve_latency, 5) {
            bad("planning.valve_latency".into(), "must be at most 5s");
        }
        if !within(p.lookahead, 5) {
            bad("planning.lookahead".into(), "must be at most 5s");
        }
        if p.horizon < Duration::from_millis(200) || !within(p.horizon, 10) {
            bad(
                "planning.horizon".into(),
                "must be between 200ms and 10s (at least two fix intervals)",
            );
        }
        if !(p.replan_distance_m > 0.0 && p.replan_distance_m <= 1.0) {
            bad(
                "planning.replan_distance_m".into(),
                "must be above 0 and at most 1 (metres)",
            );
        }
        if !(0.0..=10.0).contains(&p.min_speed_mps) {
            bad(
                "planning.min_speed_mps".into(),
                "must be between 0 and 10 (m/s)",
            );
        }
        if p.max_fix_age.is_zero() || !within(p.max_fix_age, 5) {
            bad(
                "planning.max_fix_age".into(),
                "must be above 0 and at most 5s",
            );
        }
        if !(p.default_canopy_width_m > 0.0 && p.default_canopy_width_m <= 20.0) {
            bad(
                "planning.default_canopy_width_m".into(),
                "must be above 0 and at most 20 (metres)",
            );
        }
        if !(1..=10_000).contains(&p.max_in_flight) {
            bad(
                "planning.max_in_flight".into(),
                "must be between 1 and 10000",
            );
        }
        if self.sections.is_empty() {
            bad("sections".into(), "at least one section is needed");
        }
        for (i, s) in self.sections.iter().enumerate() {
            let field = |name: &str| format!("sections[{i}].{name}");
            if s.id.trim().is_empty() {
                bad(field("id"), "must not be empty");
            } else if self.sections[..i].iter().any(|o| o.id == s.id) {
                bad(field("id"), "is used by an earlier section");
            }
            if !s.forward_m.is_finite() || s.forward_m.abs() > 30.0 {
                bad(field("forward_m"), "must be between -30 and 30 (metres)");
            }
            if !(0.0..=30.0).contains(&s.lateral_m) {
                bad(field("lateral_m"), "must be between 0 and 30 (metres)");
            }
            if !(s.reach_m > 0.0 && s.reach_m <= 30.0) {
                bad(field("reach_m"), "must be above 0 and at most 30 (metres)");
            }
            for (name, v) in [("bottom_m", s.bottom_m), ("top_m", s.top_m)] {
                if v.is_some_and(|v| !(0.0..=20.0).contains(&v)) {
                    bad(field(name), "must be between 0 and 20 (metres)");
                }
            }
            if let (Some(b), Some(t)) = (s.bottom_m, s.top_m) {
                if b >= t {
                    bad(field("top_m"), "must be above bottom_m");
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    /// The map database must exist: the component only reads it.
    fn check_files(&self) -> Result<(), Vec<Problem>> {
        match &self.db {
            Some(db) if !db.is_file() => Err(vec![Problem::new(
                "db",
                format!(
                    "no map database at {} (make it with `verger map import --db {} FILES`)",
                    db.display(),
                    db.display()
                ),
            )]),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use verger::config::{from_toml_str, ConfigError};

    #[test]
    fn defaults_and_a_full_file() {
        let s: MapSettings = from_toml_str("", "t").unwrap();
        assert_eq!(s, MapSettings::default());
        let s: MapSettings = from_toml_str(
            r#"
            db = "orchard.db"
            [planning]
            valve_latency = "250ms"
            min_quality = "rtk_fixed"
            [[sections]]
            id = "left.top"
            side = "left"
            forward_m = -3.0
            lateral_m = 0.6
            reach_m = 2.4
            bottom_m = 1.8
            "#,
            "t",
        )
        .unwrap();
        assert_eq!(s.planning.valve_latency, Duration::from_millis(250));
        assert_eq!(s.planning.min_quality, Quality::RtkFixed);
        assert_eq!(s.planning.lookahead, Duration::from_millis(200), "default");
        let c = s.plan_config();
        assert_eq!(c.sections.len(), 1);
        assert_eq!(c.sections[0].bottom_m, Some(1.8));
    }

    #[test]
    fn every_wrong_value_is_named_at_once() {
        let e = from_toml_str::<MapSettings>(
            r#"
            [planning]
            horizon = "50ms"
            replan_distance_m = 0.0
            max_in_flight = 0
            [[sections]]
            id = "left"
            side = "left"
            forward_m = -3.0
            lateral_m = -1.0
            reach_m = 2.4
            bottom_m = 2.0
            top_m = 1.0
            [[sections]]
            id = "left"
            side = "right"
            forward_m = -3.0
            lateral_m = 0.6
            reach_m = 0.0
            "#,
            "t",
        )
        .unwrap_err();
        let ConfigError::Invalid { problems, .. } = &e else {
            panic!("{e}")
        };
        let fields: Vec<&str> = problems.iter().map(|(_, p)| p.field.as_str()).collect();
        for f in [
            "planning.horizon",
            "planning.replan_distance_m",
            "planning.max_in_flight",
            "sections[0].lateral_m",
            "sections[0].top_m",
            "sections[1].id",
            "sections[1].reach_m",
        ] {
            assert!(fields.contains(&f), "{f} in {fields:?}");
        }
        let e = from_toml_str::<MapSettings>("[planning]\nmin_quality = \"good\"\n", "t")
            .unwrap_err()
            .to_string();
        assert!(e.contains("good") && e.contains("rtk_float"), "{e}");
        let e = from_toml_str::<MapSettings>("[[sections]]\nid = \"x\"\nside = \"up\"\n", "t")
            .unwrap_err()
            .to_string();
        assert!(e.contains("up"), "{e}");
    }
}
