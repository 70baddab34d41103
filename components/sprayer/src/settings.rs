//! The sprayer's settings (`--config FILE`, its section of verger.toml): the board, the
//! sections, the timing rules and the record. Strict: an unknown key or a wrong value is
//! refused by name before anything starts.
//!
//! ```toml
//! [board]
//! kind = "serial"            # or "lc_relay"
//! port = "/dev/ttyUSB1"
//!
//! [[sections]]
//! id = "left"
//! max_flow_l_min = 20.0
//!
//! [[sections]]
//! id = "right"
//! max_flow_l_min = 20.0
//!
//! [timing]
//! valve_latency = "300ms"    # valve switch to spray at the canopy
//! max_fix_gap = "300ms"      # no fix for this long: every valve closes
//!
//! [record]
//! db = "/var/lib/verger/records.db"
//! operator = "J. Martin"
//! ```

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use verger::config::{duration, Problem, Validate};

use crate::board::{BoardKind, BoardSettings, MAX_SECTIONS};
use crate::command::{Limits, SectionSpec};
use crate::driver::DriverConfig;
use crate::schedule::Micros;

/// Flags of `verger-sprayer` (a flag given wins over the file).
#[derive(Clone, Debug, clap::Args)]
pub struct SprayerArgs {
    /// The valve board's serial port (verger's protocol; `[board]` in the file for a
    /// relay board or a baud rate).
    #[arg(long, value_name = "PATH")]
    pub board: Option<PathBuf>,
    /// The as-applied record database (created if missing).
    #[arg(long, value_name = "PATH")]
    pub records: Option<PathBuf>,
    /// Who operates the sprayer (written on every record).
    #[arg(long, value_name = "NAME")]
    pub operator: Option<String>,
}

/// One section (`[[sections]]`), in board output order.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SectionSettings {
    /// Its name, as the map and the dose module use it (`left`, `right`, `left.top`...).
    pub id: String,
    /// Most its nozzles deliver, L/min (orders above are refused; the PWM duty is the
    /// flow's share of it).
    pub max_flow_l_min: f64,
}

/// The timing rules (`[timing]`).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TimingSettings {
    /// From a valve switch to spray at (or no more spray at) the canopy.
    #[serde(with = "duration")]
    pub valve_latency: Duration,
    /// How late the receiver's output is behind its epoch (measured once per receiver;
    /// 0 when unknown: the clock map then errs on the early side by that much).
    #[serde(with = "duration")]
    pub receiver_latency: Duration,
    /// No fix for this long: every valve closes until fixes come back.
    #[serde(with = "duration")]
    pub max_fix_gap: Duration,
    /// Longest window taken (a tree is passed in about a second).
    #[serde(with = "duration")]
    pub max_window: Duration,
    /// Farthest ahead a window may open.
    #[serde(with = "duration")]
    pub max_ahead: Duration,
    /// Fixes the GNSS-to-monotonic clock map learns from (the least delayed wins).
    pub clock_fixes: usize,
}

impl Default for TimingSettings {
    fn default() -> TimingSettings {
        TimingSettings {
            valve_latency: Duration::from_millis(300),
            receiver_latency: Duration::ZERO,
            max_fix_gap: Duration::from_millis(300),
            max_window: Duration::from_secs(10),
            max_ahead: Duration::from_secs(30),
            clock_fixes: 50,
        }
    }
}

/// The as-applied record (`[record]`).
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RecordSettings {
    /// The record database (the `--records` flag wins). Required: nothing is sprayed
    /// without its record.
    pub db: Option<PathBuf>,
    /// Who operates the sprayer (the `--operator` flag wins).
    pub operator: Option<String>,
}

/// The `--config` file of `verger-sprayer` (see the module documentation).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SprayerSettings {
    /// The valve board (the `--board` flag gives a serial board's port).
    pub board: Option<BoardSettings>,
    /// The sections, in board output order (default: `left` then `right`, 20 L/min).
    pub sections: Vec<SectionSettings>,
    /// The timing rules.
    pub timing: TimingSettings,
    /// The record.
    pub record: RecordSettings,
}

impl Default for SprayerSettings {
    fn default() -> SprayerSettings {
        SprayerSettings {
            board: None,
            sections: ["left", "right"]
                .into_iter()
                .map(|id| SectionSettings {
                    id: id.into(),
                    max_flow_l_min: 20.0,
                })
                .collect(),
            timing: TimingSettings::default(),
            record: RecordSettings::default(),
        }
    }
}

fn micros(d: Duration) -> Micros {
    Micros::try_from(d.as_micros()).unwrap_or(Micros::MAX)
}

impl SprayerSettings {
    /// The settings with the flags applied (a flag wins over the file).
    pub fn with_flags(mut self, args: &SprayerArgs) -> SprayerSettings {
        if let Some(port) = &args.board {
            self.board = Some(BoardSettings {
                kind: BoardKind::Serial,
                port: port.clone(),
                baud: None,
            });
        }
        if let Some(db) = &args.records {
            self.record.db = Some(db.clone());
        }
        if let Some(op) = &args.operator {
            self.record.operator = Some(op.clone());
        }
        self
    }

    /// The driver's configuration.
    pub fn driver_config(&self) -> DriverConfig {
        let t = &self.timing;
        DriverConfig {
            limits: Limits {
                sections: self
                    .sections
                    .iter()
                    .map(|s| SectionSpec {
                        id: s.id.clone(),
                        max_flow_l_min: s.max_flow_l_min,
                    })
                    .collect(),
                max_window: micros(t.max_window),
                max_ahead: micros(t.max_ahead),
            },
            valve_latency: micros(t.valve_latency),
            receiver_latency: micros(t.receiver_latency),
            max_fix_gap: micros(t.max_fix_gap),
            clock_window: t.clock_fixes,
            operator: self.record.operator.clone(),
        }
    }
}

impl Validate for SprayerSettings {
    fn validate(&self) -> Result<(), Vec<Problem>> {
        let mut problems = Vec::new();
        if let Some(board) = &self.board {
            if let Err(mut p) = board.validate() {
                problems.append(&mut p);
            }
        }
        if self.sections.is_empty() {
            problems.push(Problem::new("sections", "at least one section is needed"));
        }
        if self.sections.len() > MAX_SECTIONS {
            problems.push(Problem::new(
                "sections",
                format!(
                    "{} sections: a valve board drives at most {MAX_SECTIONS}",
                    self.sections.len()
                ),
            ));
        }
        for (i, s) in self.sections.iter().enumerate() {
            if s.id.trim().is_empty() {
                problems.push(Problem::new(format!("sections[{i}].id"), "is empty"));
            }
            if self.sections[..i].iter().any(|o| o.id == s.id) {
                problems.push(Problem::new(
                    format!("sections[{i}].id"),
                    format!("{:?} is used twice", s.id),
                ));
            }
            if !(s.max_flow_l_min.is_finite()
                && s.max_flow_l_min > 0.0
                && s.max_flow_l_min <= 500.0)
            {
                problems.push(Problem::new(
                    format!("sections[{i}].max_flow_l_min"),
                    format!(
                        "{} is out of range: above 0, at most 500 L/min",
                        s.max_flow_l_min
                    ),
                ));
            }
        }
        let t = &self.timing;
        let mut within = |field: &str, d: Duration, low: Duration, high: Duration| {
            if d < low || d > high {
                problems.push(Problem::new(
                    format!("timing.{field}"),
                    format!(
                        "{} is out of range: {} to {}",
                        duration::format(d),
                        duration::format(low),
                        duration::format(high)
                    ),
                ));
            }
        };
        let ms = Duration::from_millis;
        within("valve_latency", t.valve_latency, ms(0), ms(2_000));
        within("receiver_latency", t.receiver_latency, ms(0), ms(500));
        within("max_fix_gap", t.max_fix_gap, ms(50), ms(2_000));
        within("max_window", t.max_window, ms(100), ms(60_000));
        within("max_ahead", t.max_ahead, ms(500), ms(300_000));
        if !(1..=1000).contains(&t.clock_fixes) {
            problems.push(Problem::new(
                "timing.clock_fixes",
                format!("{} is out of range: 1 to 1000", t.clock_fixes),
            ));
        }
        if let Some(op) = &self.record.operator {
            if op.chars().count() > 200 {
                problems.push(Problem::new(
                    "record.operator",
                    "is longer than 200 characters",
                ));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(toml_text: &str) -> Result<SprayerSettings, String> {
        verger::config::from_toml_str::<SprayerSettings>(toml_text, "sprayer.toml")
            .map_err(|e| e.to_string())
    }

    #[test]
    fn the_documented_example_loads() {
        let doc = include_str!("settings.rs");
        let start = doc.find("//! ```toml").expect("example");
        let end = doc[start + 10..].find("//! ```").expect("end") + start + 10;
        let text: String = doc[start..end]
            .lines()
            .skip(1)
            .map(|l| l.trim_start_matches("//!").trim_start())
            .collect::<Vec<_>>()
            .join("\n");
        let s = load(&text).expect("example loads");
        assert_eq!(s.sections.len(), 2);
        assert_eq!(s.record.operator.as_deref(), Some("J. Martin"));
        assert_eq!(s.board.expect("board").kind, BoardKind::Serial);
    }

    #[test]
    fn bad_values_are_named() {
        let e = load(
            "[[sections]]\nid = \"left\"\nmax_flow_l_min = 0\n\n[[sections]]\nid = \"left\"\nmax_flow_l_min = 10\n\n[timing]\nvalve_latency = \"5s\"\n",
        )
        .unwrap_err();
        for field in [
            "sections[0].max_flow_l_min",
            "sections[1].id",
            "timing.valve_latency",
        ] {
            assert!(e.contains(field), "{field}: {e}");
        }
        let e = load("[timing]\nvalve_latncy = \"300ms\"\n").unwrap_err();
        assert!(e.contains("valve_latncy"), "{e}");
    }

    #[test]
    fn flags_win() {
        let s = SprayerSettings::default().with_flags(&SprayerArgs {
            board: Some("/dev/ttyUSB3".into()),
            records: Some("/tmp/r.db".into()),
            operator: Some("A. B".into()),
        });
        assert_eq!(s.board.unwrap().port, PathBuf::from("/dev/ttyUSB3"));
        assert_eq!(s.record.db, Some(PathBuf::from("/tmp/r.db")));
        assert_eq!(s.record.operator.as_deref(), Some("A. B"));
    }
}
