//! The report for people and for GIS: a readable table, and the GeoJSON as-applied map
//! (every spray as a line along the path its nozzles aimed at, every passed tree side as
//! a point with what it was meant to get and what it got). Pure.

use std::fmt::Write as _;

use serde_json::{json, Value};
use verger::civil::rfc3339_from_unix_micros;
use verger::orchard::Frame;

use super::{nozzles, PathPoint, Report, SectionGeom, SprayInterval, TreeGeom};

/// What the run was, for the table's heading.
#[derive(Debug, Clone, PartialEq)]
pub struct RunFacts {
    /// What was driven (`the demo orchard, synthetic drive`, a track's file...).
    pub source: String,
    /// GNSS time driven, seconds.
    pub driven_s: f64,
    /// Distance driven, metres.
    pub distance_m: f64,
    /// Speed-up.
    pub speed: f64,
    /// Real time the run took, seconds.
    pub wall_s: f64,
    /// The constant rate of the baseline, L/ha.
    pub baseline_l_per_ha: f64,
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn minutes(s: f64) -> String {
    if s >= 60.0 {
        format!("{:.1} min", s / 60.0)
    } else {
        format!("{s:.1} s")
    }
}

/// The report as a table for a terminal.
pub fn table(report: &Report, facts: &RunFacts) -> String {
    let t = &report.trees;
    let p = &report.placement_error_cm;
    let v = &report.volume_l;
    let s = &report.safety;
    let share = |n: u64| {
        if t.passed == 0 {
            String::new()
        } else {
            format!(" ({:.1} %)", 100.0 * n as f64 / t.passed as f64)
        }
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Treatment report: {}\n  {} driven, {:.0} m, at {}× in {}",
        facts.source,
        minutes(facts.driven_s),
        facts.distance_m,
        facts.speed,
        minutes(facts.wall_s)
    );
    let row = |out: &mut String, label: &str, value: String| {
        let _ = writeln!(out, "  {label:<36} {value}");
    };
    let _ = writeln!(out, "Trees");
    row(&mut out, "trees in the field", thousands(t.in_field));
    row(&mut out, "tree sides passed", thousands(t.passed));
    row(
        &mut out,
        "treated",
        format!("{}{}", thousands(t.treated), share(t.treated)),
    );
    row(
        &mut out,
        "missed",
        format!("{}{}", thousands(t.missed), share(t.missed)),
    );
    let _ = writeln!(out, "Placement error (sprays' ends vs canopies' edges)");
    row(
        &mut out,
        "p50 / p95 / max",
        format!("{:.1} / {:.1} / {:.1} cm", p.p50, p.p95, p.max),
    );
    let _ = writeln!(out, "Volume");
    row(&mut out, "applied", format!("{:.2} L", v.applied));
    row(
        &mut out,
        "intended (dose module)",
        format!("{:.2} L", v.intended),
    );
    row(
        &mut out,
        "constant-rate baseline",
        format!(
            "{:.2} L ({} L/ha)",
            v.constant_rate_baseline, facts.baseline_l_per_ha
        ),
    );
    let _ = writeln!(out, "Safety");
    row(
        &mut out,
        "sprays outside the boundary",
        s.sprays_outside_boundary.to_string(),
    );
    row(
        &mut out,
        "sprays in no-spray zones",
        s.sprays_in_no_spray_zones.to_string(),
    );
    row(
        &mut out,
        "sprays on an invalid or stale fix",
        s.sprays_on_invalid_or_stale_fix.to_string(),
    );
    row(&mut out, "fail-safe events", s.fail_safe_events.to_string());
    if t.passed == 0 {
        let _ = writeln!(
            out,
            "Nothing was sprayed: the path never passed a tree of the map (is it the right map?)."
        );
    }
    if t.missed > 0 && facts.speed > SPEED_MAGNIFIES {
        // 1 ms of the computer's scheduling (a pty, a process woken late) is `speed` ms
        // of field time: at 7 km/h and 70×, 14 cm.
        let _ = writeln!(
            out,
            "Note: at {speed}× one millisecond of this computer's scheduling is {speed} ms in the\n  \
             field ({cm:.0} cm at {kmh:.0} km/h): a process or a pseudo-terminal woken a few ms late\n  \
             shows as a spray that late. `--speed 40` or `--speed 10` show the system's own\n  \
             precision (docs/simulator.md, \"Speed-up\").",
            speed = facts.speed,
            cm = facts.speed * 1e-3 * facts.distance_m / facts.driven_s.max(1e-9) * 100.0,
            kmh = 3.6 * facts.distance_m / facts.driven_s.max(1e-9),
        );
    }
    out
}

/// Above this speed-up a missed side is explained by the magnified scheduling of the
/// computer (at 10× and below the system's own precision shows).
const SPEED_MAGNIFIES: f64 = 10.0;

/// Where the path is at GNSS time `t` (interpolated; the ends held).
fn path_at(path: &[PathPoint], t: i64) -> Option<PathPoint> {
    let i = path.partition_point(|p| p.t <= t);
    match (i.checked_sub(1).map(|j| path[j]), path.get(i)) {
        (Some(a), Some(b)) if b.t > a.t => {
            let f = (t - a.t) as f64 / (b.t - a.t) as f64;
            Some(PathPoint {
                t,
                x: a.x + (b.x - a.x) * f,
                y: a.y + (b.y - a.y) * f,
                heading_deg: a.heading_deg,
            })
        }
        (Some(a), _) => Some(a),
        (None, Some(b)) => Some(*b),
        (None, None) => None,
    }
}

/// The GeoJSON as-applied map: a `FeatureCollection` of
/// - one `LineString` per spray (`kind: "spray"`): where its section's nozzles aimed
///   (`reach_m / 2` out from them) while it sprayed, with `section`, `from`, `to` (GNSS
///   time, RFC 3339), `flow_l_min` and `litres`;
/// - one `Point` per passed tree side (`kind: "tree_side"`) at the trunk, with
///   `tree_id`, `side`, `treated`, `intended_l`, `applied_l`, `placement_error_cm`.
pub fn write_as_applied(
    out: impl std::io::Write,
    report: &Report,
    frame: &Frame,
    trees: &[TreeGeom],
    sections: &[SectionGeom],
    path: &[PathPoint],
    sprays: &[SprayInterval],
) -> std::io::Result<()> {
    use std::io::Write as _;
    // Streamed feature by feature: an hour's drive has tens of thousands of sprays, and
    // the whole map as one JSON value would hold every coordinate in memory at once.
    let mut out = std::io::BufWriter::new(out);
    out.write_all(b"{\"type\":\"FeatureCollection\",\"features\":[")?;
    let mut first = true;
    let mut feature = |out: &mut std::io::BufWriter<_>, value: Value| -> std::io::Result<()> {
        if !std::mem::take(&mut first) {
            out.write_all(b",")?;
        }
        out.write_all(b"\n")?;
        serde_json::to_writer(&mut *out, &value).map_err(std::io::Error::from)
    };
    let lonlat = |x: f64, y: f64| {
        let (lat, lon) = frame.to_wgs84(geo::Coord { x, y });
        json!([round7(lon), round7(lat)])
    };
    for s in sprays {
        let Some(section) = sections.get(s.section) else {
            continue;
        };
        let mut coords = Vec::new();
        let mut sample = |t: i64| {
            if let Some(p) = path_at(path, t) {
                let (at, _, out) = nozzles(&p, section);
                let r = section.reach_m / 2.0;
                coords.push(lonlat(at.x + out.0 * r, at.y + out.1 * r));
            }
        };
        sample(s.from);
        // The path is in time order: the points strictly inside the spray, found by
        // binary search.
        let inside = path.partition_point(|p| p.t <= s.from)..path.partition_point(|p| p.t < s.to);
        for p in &path[inside.start..inside.end.max(inside.start)] {
            sample(p.t);
        }
        sample(s.to);
        if coords.len() < 2 {
            continue;
        }
        let litres = s.flow_l_min * (s.to - s.from) as f64 / 60e6;
        feature(
            &mut out,
            json!({
                "type": "Feature",
                "geometry": {"type": "LineString", "coordinates": coords},
                "properties": {
                    "kind": "spray",
                    "section": section.id,
                    "from": rfc3339_from_unix_micros(s.from, 3),
                    "to": rfc3339_from_unix_micros(s.to, 3),
                    "flow_l_min": round4(s.flow_l_min),
                    "litres": round4(litres),
                }
            }),
        )?;
    }
    let by_id: std::collections::BTreeMap<&str, &TreeGeom> =
        trees.iter().map(|t| (t.id.as_str(), t)).collect();
    for side in &report.per_tree {
        let Some(tree) = by_id.get(side.tree_id.as_str()) else {
            continue;
        };
        feature(
            &mut out,
            json!({
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": lonlat(tree.x, tree.y)},
                "properties": {
                    "kind": "tree_side",
                    "tree_id": side.tree_id,
                    "side": side.side,
                    "treated": side.treated,
                    "intended_l": round4(side.intended_l),
                    "applied_l": round4(side.applied_l),
                    "placement_error_cm": side.placement_error_cm.map(|e| (e * 10.0).round() / 10.0),
                }
            }),
        )?;
    }
    out.write_all(b"\n]}\n")?;
    out.flush()
}

fn round7(v: f64) -> f64 {
    (v * 1e7).round() / 1e7
}

fn round4(v: f64) -> f64 {
    (v * 1e4).round() / 1e4
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{TreeCounts, TreeSide};

    #[test]
    fn the_table_says_what_matters_and_when_nothing_was_passed() {
        let mut report = Report {
            trees: TreeCounts {
                in_field: 1200,
                passed: 2000,
                treated: 1990,
                missed: 10,
            },
            ..Report::default()
        };
        let facts = RunFacts {
            source: "the demo orchard".into(),
            driven_s: 3768.0,
            distance_m: 7322.0,
            speed: 80.0,
            wall_s: 49.0,
            baseline_l_per_ha: 1000.0,
        };
        let text = table(&report, &facts);
        assert!(
            text.contains("62.8 min driven, 7322 m, at 80× in 49.0 s"),
            "{text}"
        );
        assert!(text.contains("1,990 (99.5 %)"), "{text}");
        assert!(text.contains("1,200"), "{text}");
        assert!(!text.contains("Nothing was sprayed"));
        assert!(
            text.contains("at 80× one millisecond") && text.contains("(16 cm at 7 km/h)"),
            "{text}"
        );
        let slow = RunFacts {
            speed: 10.0,
            ..facts.clone()
        };
        assert!(!table(&report, &slow).contains("one millisecond"));
        report.trees = TreeCounts::default();
        let text = table(&report, &facts);
        assert!(text.contains("Nothing was sprayed"), "{text}");
        assert!(!text.contains("one millisecond"), "nothing missed: {text}");
    }

    #[test]
    fn sprays_are_lines_where_the_nozzles_aimed_and_tree_sides_points() {
        let frame = Frame::new(45.0, 5.0);
        let path: Vec<PathPoint> = (0..=10)
            .map(|i| PathPoint {
                t: i * 100_000,
                x: 0.0,
                y: i as f64 * 0.2,
                heading_deg: 0.0,
            })
            .collect();
        let sections = [SectionGeom {
            id: "right".into(),
            right: true,
            forward_m: 0.0,
            lateral_m: 1.0,
            reach_m: 2.0,
        }];
        let sprays = [SprayInterval {
            section: 0,
            from: 250_000,
            to: 650_000,
            flow_l_min: 6.0,
        }];
        let trees = [TreeGeom {
            id: "t1".into(),
            x: 2.0,
            y: 1.0,
            radius_m: 0.5,
            row_spacing_m: 4.0,
            sprayable: true,
        }];
        let report = Report {
            per_tree: vec![TreeSide {
                tree_id: "t1".into(),
                side: "right",
                face: "w",
                intended_l: 0.04,
                applied_l: 0.04,
                placement_error_cm: Some(1.26),
                treated: true,
                passed_at: "2025-04-15T08:00:00.250Z".into(),
                sprayable: true,
            }],
            ..Report::default()
        };
        let mut written = Vec::new();
        write_as_applied(
            &mut written,
            &report,
            &frame,
            &trees,
            &sections,
            &path,
            &sprays,
        )
        .unwrap();
        let map: Value = serde_json::from_slice(&written).unwrap();
        let features = map["features"].as_array().unwrap();
        assert_eq!(features.len(), 2);
        let spray = &features[0];
        assert_eq!(spray["properties"]["litres"], 0.04);
        assert_eq!(spray["properties"]["from"], "1970-01-01T00:00:00.250Z");
        let line = spray["geometry"]["coordinates"].as_array().unwrap();
        // From 0.25 s to 0.65 s: its two ends and the samples at 0.3 ... 0.6 s.
        assert_eq!(line.len(), 6);
        // Aimed 2 m east of the antenna (1 m out + half the reach), 0.5 m north.
        let (lat, lon) = frame.to_wgs84(geo::Coord { x: 2.0, y: 0.5 });
        assert!((line[0][0].as_f64().unwrap() - lon).abs() < 1e-7);
        assert!((line[0][1].as_f64().unwrap() - lat).abs() < 1e-7);
        assert_eq!(features[1]["properties"]["kind"], "tree_side");
        assert_eq!(features[1]["properties"]["placement_error_cm"], 1.3);
    }
}
