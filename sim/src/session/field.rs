//! What the report is computed from, gathered from where it lives: the orchard from the
//! map database, the true path from the receiver's truth, the spray intervals from the
//! virtual board's log (real instants brought back to GNSS time), the intended volumes
//! from the dose decisions and the record. Everything but [`Orchard::load`] is pure.

use std::collections::BTreeMap;
use std::time::Duration;

use geo::{Closest, ClosestPoint, Coord, Point, Polygon};
use verger::orchard::{Frame, MapDb, MapError, SectionSettings};

use crate::board::OutputChange;
use crate::receiver::TruthPoint;
use crate::report::{Intended, PathPoint, SectionGeom, SprayInterval, TreeGeom};

/// The orchard in the report's local frame.
#[derive(Debug, Clone)]
pub struct Orchard {
    /// The frame (its origin: the centre of the map's extent).
    pub frame: Frame,
    /// Every tree.
    pub trees: Vec<TreeGeom>,
    /// Trees inside the boundary.
    pub in_field: usize,
    /// The boundary's polygons (a multipolygon's parts), local.
    pub boundary: Vec<Polygon<f64>>,
    /// The no-spray zones' polygons, local.
    pub zones: Vec<Polygon<f64>>,
}

/// Row spacing used for a tree with no row or a map of one row, metres.
const LONE_ROW_SPACING_M: f64 = 4.0;
/// Canopy width of a tree the survey did not measure, metres (the map's
/// `default_canopy_width_m`).
const DEFAULT_CANOPY_WIDTH_M: f64 = 1.5;

impl Orchard {
    /// Reads the map.
    pub fn load(db: &MapDb) -> Result<Orchard, MapError> {
        let info = db.info()?;
        let (lat0, lon0) = match &info.extent {
            Some(e) => ((e.south + e.north) / 2.0, (e.west + e.east) / 2.0),
            None => (0.0, 0.0),
        };
        let frame = Frame::new(lat0, lon0);
        let trees = match info.extent {
            Some(extent) => db.trees_in_bbox(extent, usize::MAX)?.trees,
            None => Vec::new(),
        };
        let rows: BTreeMap<String, Vec<Coord<f64>>> = db
            .rows()?
            .into_iter()
            .map(|r| (r.id, frame.line(&r.line).0))
            .collect();
        let boundary: Vec<Polygon<f64>> = db
            .boundary()?
            .map(|b| frame.multi_polygon(&b.area).0)
            .unwrap_or_default();
        let zones: Vec<Polygon<f64>> = db
            .zones()?
            .into_iter()
            .flat_map(|z| frame.multi_polygon(&z.area).0)
            .collect();
        let mut geoms = Vec::with_capacity(trees.len());
        let mut in_field = 0;
        for t in &trees {
            let c = frame.to_local(t.lat, t.lon);
            let inside = boundary.is_empty() || boundary.iter().any(|b| contains(b, c));
            in_field += usize::from(inside);
            let in_zone = zones.iter().any(|z| contains(z, c));
            geoms.push(TreeGeom {
                id: t.id.clone(),
                x: c.x,
                y: c.y,
                radius_m: t.canopy_width_m.unwrap_or(DEFAULT_CANOPY_WIDTH_M) / 2.0,
                row_spacing_m: row_spacing(c, t.row.as_deref(), &rows),
                sprayable: inside && !in_zone,
            });
        }
        Ok(Orchard {
            frame,
            trees: geoms,
            in_field,
            boundary,
            zones,
        })
    }
}

fn contains(p: &Polygon<f64>, c: Coord<f64>) -> bool {
    use geo::Contains;
    p.contains(&Point::from(c))
}

/// Distance from a trunk to the nearest other row's centre line.
fn row_spacing(c: Coord<f64>, own: Option<&str>, rows: &BTreeMap<String, Vec<Coord<f64>>>) -> f64 {
    let p = Point::from(c);
    rows.iter()
        .filter(|(id, _)| Some(id.as_str()) != own)
        .filter_map(|(_, line)| {
            let ls = geo::LineString::from(line.clone());
            match ls.closest_point(&p) {
                Closest::Intersection(q) | Closest::SinglePoint(q) => {
                    Some((q.x() - c.x).hypot(q.y() - c.y))
                }
                Closest::Indeterminate => None,
            }
        })
        .fold(None, |m: Option<f64>, d| Some(m.map_or(d, |m| m.min(d))))
        .filter(|d| *d > 0.5)
        .unwrap_or(LONE_ROW_SPACING_M)
}

/// The map's sections as the report places them.
pub fn section_geoms(sections: &[SectionSettings]) -> Vec<SectionGeom> {
    sections
        .iter()
        .map(|s| SectionGeom {
            id: s.id.clone(),
            right: s.side == verger::contract::map::Side::Right,
            forward_m: s.forward_m,
            lateral_m: s.lateral_m,
            reach_m: s.reach_m,
        })
        .collect()
}

/// The true path in the frame: the truth's epochs (heading: the course; for a point
/// where the tractor stands, the last course it had).
pub fn path(truth: &[TruthPoint], frame: &Frame) -> Vec<PathPoint> {
    truth
        .iter()
        .map(|p| {
            let c = frame.to_local(p.lat, p.lon);
            PathPoint {
                t: p.time_us,
                x: c.x,
                y: c.y,
                heading_deg: p.course_deg,
            }
        })
        .collect()
}

/// Spans of GNSS time (µs) without a valid fix: from an epoch the receiver sent as
/// invalid (or simulated) to the next epoch, and the part of a silence between two
/// epochs beyond `stale_after` (what a fix is usable for).
pub fn invalid_spans(truth: &[TruthPoint], stale_after: Duration) -> Vec<(i64, i64)> {
    let stale = stale_after.as_micros() as i64;
    let mut spans: Vec<(i64, i64)> = Vec::new();
    let mut push = |from: i64, to: i64| match spans.last_mut() {
        Some(last) if from <= last.1 => last.1 = last.1.max(to),
        _ => spans.push((from, to)),
    };
    for w in truth.windows(2) {
        let (a, b) = (&w[0], &w[1]);
        if !a.quality.is_fix() {
            push(a.time_us, b.time_us);
        } else if b.time_us - a.time_us > stale {
            push(a.time_us + stale, b.time_us);
        }
    }
    if let Some(last) = truth.last() {
        if !last.quality.is_fix() {
            push(last.time_us, last.time_us + stale);
        }
    }
    spans
}

/// The real clock of the run against GNSS time: the receiver writes the epoch of GNSS
/// time `g0 + offset` at real instant `t0 + offset / speed`.
#[derive(Debug, Clone, Copy)]
pub struct Timeline {
    /// When the receiver started (its first epoch's instant).
    pub t0: std::time::Instant,
    /// GNSS time of that instant, µs.
    pub g0: i64,
    /// Speed-up.
    pub speed: f64,
}

impl Timeline {
    /// GNSS µs of a real instant.
    pub fn gnss_us(&self, at: std::time::Instant) -> i64 {
        let real = if at >= self.t0 {
            (at - self.t0).as_secs_f64()
        } else {
            -(self.t0 - at).as_secs_f64()
        };
        self.g0 + (real * self.speed * 1e6).round() as i64
    }
}

/// The intervals the board sprayed, in GNSS time at the canopy: each output's switch
/// brought to GNSS time, plus the valve latency (GNSS time: the valves do not speed up
/// with the simulation). Each is cut where the recorded sprays of its output start and
/// end, and each piece gets the flow of the record it lies in (the sprayer sets one flow
/// per tree; a piece no record covers gets the flow of the nearest record of its
/// output). Pieces of one board interval touch (one ends where the next starts).
pub fn spray_intervals(
    log: &[OutputChange],
    timeline: &Timeline,
    valve_latency: Duration,
    records: &[Recorded],
) -> Vec<SprayInterval> {
    let latency = valve_latency.as_micros() as i64;
    // Each output's records by opening, with the running latest closing: the records
    // around a spray are found without scanning the others.
    let mut by_output: BTreeMap<usize, Vec<&Recorded>> = BTreeMap::new();
    for r in records {
        by_output.entry(r.output).or_default().push(r);
    }
    let latest_close: BTreeMap<usize, Vec<i64>> = by_output
        .iter_mut()
        .map(|(&output, list)| {
            list.sort_by_key(|r| (r.from, r.to));
            let running = list
                .iter()
                .scan(i64::MIN, |m, r| {
                    *m = (*m).max(r.to);
                    Some(*m)
                })
                .collect();
            (output, running)
        })
        .collect();
    let mut out = Vec::new();
    for s in crate::board::sprays(log, Duration::ZERO) {
        let Some(to) = s.to else { continue };
        let from = timeline.gnss_us(s.from) + latency;
        let to = timeline.gnss_us(to) + latency;
        let all = by_output.get(&s.section).map_or(&[][..], Vec::as_slice);
        let first = latest_close
            .get(&s.section)
            .map_or(0, |m| m.partition_point(|&c| c <= from));
        // The records that overlap the spray, and the last one before it and the first
        // after it (a piece no record covers takes the nearest one's flow).
        let end = all.partition_point(|r| r.from < to);
        let mine: Vec<&Recorded> = all[first.saturating_sub(1)..(end + 1).min(all.len())].to_vec();
        let mut cuts: Vec<i64> = mine
            .iter()
            .flat_map(|r| [r.from, r.to])
            .filter(|t| *t > from && *t < to)
            .collect();
        cuts.push(from);
        cuts.push(to);
        cuts.sort_unstable();
        cuts.dedup();
        for w in cuts.windows(2) {
            let (a, b) = (w[0], w[1]);
            let mid = a + (b - a) / 2;
            let flow = mine
                .iter()
                .find(|r| r.from <= mid && mid < r.to)
                .or_else(|| {
                    mine.iter()
                        .min_by_key(|r| (r.from - mid).abs().min((r.to - mid).abs()))
                })
                .map_or(0.0, |r| r.flow_l_min);
            out.push(SprayInterval {
                section: s.section,
                from: a,
                to: b,
                flow_l_min: flow,
            });
        }
    }
    out
}

/// How fast the system closes the valves when the receiver loses its fix: for each epoch
/// sent as no fix (invalid or simulated) right after a valid one, while an output was
/// open, the real time from that epoch's last byte on the receiver's pty to the first
/// output the board closed after it (none within `limit`: not counted). The path is the
/// whole system's: pty, verger-gnss, the router, verger-sprayer, the board's pty.
pub fn fix_loss_reactions(
    written: &[std::time::Instant],
    qualities: &[Option<crate::nmea_out::EpochQuality>],
    log: &[OutputChange],
    limit: Duration,
) -> Vec<Duration> {
    let mut out = Vec::new();
    let mut last_fix = false;
    for (i, q) in qualities.iter().enumerate() {
        let Some(q) = q else { continue };
        let lost = last_fix && !q.is_fix();
        last_fix = q.is_fix();
        let Some(&at) = written.get(i) else { break };
        if !lost {
            continue;
        }
        let before = log.partition_point(|c| c.at <= at);
        let mut open = [false; verger::valve_board::MAX_SECTIONS];
        for c in &log[..before] {
            if let Some(o) = open.get_mut(c.section) {
                *o = c.state.is_open();
            }
        }
        if !open.iter().any(|o| *o) {
            continue;
        }
        if let Some(close) = log[before..].iter().find(|c| !c.state.is_open()) {
            let took = close.at - at;
            if took <= limit {
                out.push(took);
            }
        }
    }
    out
}

/// A spray of the record, as the report needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    /// The tree.
    pub tree_id: String,
    /// Its section.
    pub section: String,
    /// Its section's board output.
    pub output: usize,
    /// GNSS µs the spray reached the canopy.
    pub from: i64,
    /// And stopped.
    pub to: i64,
    /// L/min.
    pub flow_l_min: f64,
    /// Litres ordered for the window.
    pub intended_l: f64,
}

/// The intended litres of each order: the dose module's last decision when it published
/// them (`decisions`: (plan, tree, section) → (window, litres)), else, for an order it
/// published nothing about (a module of one's own that publishes no decisions), what the
/// record says was ordered.
pub fn intended(
    decisions: &BTreeMap<(String, String, String), (i64, i64, f64)>,
    sections: &[SectionSettings],
    records: &[Recorded],
) -> Vec<Intended> {
    let index = |id: &str| sections.iter().position(|s| s.id == id);
    let mut out: Vec<Intended> = decisions
        .iter()
        .filter_map(|((_, tree, section), &(from, to, litres))| {
            Some(Intended {
                tree_id: tree.clone(),
                section: index(section)?,
                from,
                to,
                litres,
            })
        })
        .collect();
    if decisions.is_empty() {
        out.extend(records.iter().filter_map(|r| {
            Some(Intended {
                tree_id: r.tree_id.clone(),
                section: index(&r.section)?,
                from: r.from,
                to: r.to,
                litres: r.intended_l,
            })
        }));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nmea_out::EpochQuality;

    fn at(t: i64, quality: EpochQuality) -> TruthPoint {
        TruthPoint {
            time_us: t,
            lat: 0.0,
            lon: 0.0,
            course_deg: 0.0,
            speed_mps: 2.0,
            quality,
        }
    }

    #[test]
    fn invalid_epochs_and_silences_are_spans_without_a_fix() {
        let ok = EpochQuality::RTK_FIXED;
        let truth = [
            at(0, ok),
            at(100_000, EpochQuality::Invalid),
            at(200_000, EpochQuality::Invalid),
            at(300_000, ok),
            at(400_000, ok),
            at(2_400_000, ok),
            at(2_500_000, EpochQuality::Simulated),
        ];
        assert_eq!(
            invalid_spans(&truth, Duration::from_millis(500)),
            vec![
                (100_000, 300_000),
                (900_000, 2_400_000),
                (2_500_000, 3_000_000)
            ]
        );
    }

    #[test]
    fn board_instants_come_back_to_gnss_time_at_any_speed() {
        let t0 = std::time::Instant::now();
        let tl = Timeline {
            t0,
            g0: 1_000_000,
            speed: 50.0,
        };
        assert_eq!(tl.gnss_us(t0 + Duration::from_millis(20)), 2_000_000);
        assert_eq!(tl.gnss_us(t0), 1_000_000);
    }

    #[test]
    fn the_reaction_to_a_lost_fix_is_timed_from_the_epoch_to_the_first_closing() {
        use crate::nmea_out::EpochQuality;
        const RTK_FIXED: EpochQuality = EpochQuality::RTK_FIXED;
        const INVALID: EpochQuality = EpochQuality::Invalid;
        let t0 = std::time::Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let change = |at: u64, section: usize, open: bool| OutputChange {
            at: ms(at),
            section,
            state: if open {
                verger::valve_board::Section::new(true, 100).unwrap()
            } else {
                verger::valve_board::Section::CLOSED
            },
            cause: crate::board::Cause::Set,
        };
        let written = [ms(0), ms(100), ms(200), ms(300), ms(400), ms(500)];
        let q = [
            Some(RTK_FIXED),
            Some(INVALID),
            Some(RTK_FIXED),
            None,
            Some(INVALID),
            Some(INVALID),
        ];
        // Open at 50 ms, closed 3 ms after the first loss; open again at 250 ms and
        // closed 4 ms after the second.
        let log = [
            change(50, 1, true),
            change(103, 1, false),
            change(250, 0, true),
            change(404, 0, false),
        ];
        assert_eq!(
            fix_loss_reactions(&written, &q, &log, Duration::from_millis(200)),
            vec![Duration::from_millis(3), Duration::from_millis(4)]
        );
    }

    #[test]
    fn board_intervals_are_cut_where_the_records_change_flow() {
        let t0 = std::time::Instant::now();
        let tl = Timeline {
            t0,
            g0: 0,
            speed: 10.0,
        };
        let change = |ms: u64, open: bool| OutputChange {
            at: t0 + Duration::from_millis(ms),
            section: 0,
            state: if open {
                verger::valve_board::Section::new(true, 100).unwrap()
            } else {
                verger::valve_board::Section::CLOSED
            },
            cause: crate::board::Cause::Set,
        };
        // Open from 10 ms to 60 ms real = 0.1 s to 0.6 s GNSS, + 0.3 s of valves.
        let log = [change(10, true), change(60, false)];
        let rec = |from, to, flow| Recorded {
            tree_id: "t".into(),
            section: "left".into(),
            output: 0,
            from,
            to,
            flow_l_min: flow,
            intended_l: 0.1,
        };
        let records = [rec(400_000, 650_000, 6.0), rec(650_000, 900_000, 3.0)];
        let got = spray_intervals(&log, &tl, Duration::from_millis(300), &records);
        let pieces: Vec<(i64, i64, f64)> =
            got.iter().map(|s| (s.from, s.to, s.flow_l_min)).collect();
        assert_eq!(
            pieces,
            vec![(400_000, 650_000, 6.0), (650_000, 900_000, 3.0)]
        );
    }

    #[test]
    fn decisions_win_over_the_record_for_the_intended_volume() {
        let sections = SectionSettings::defaults();
        let mut decisions = BTreeMap::new();
        decisions.insert(
            ("p1".to_owned(), "a".to_owned(), "right".to_owned()),
            (10, 20, 0.5),
        );
        let rec = Recorded {
            tree_id: "b".into(),
            section: "left".into(),
            output: 0,
            from: 0,
            to: 1,
            flow_l_min: 1.0,
            intended_l: 0.25,
        };
        let got = intended(&decisions, &sections, std::slice::from_ref(&rec));
        assert_eq!(
            got,
            vec![Intended {
                tree_id: "a".into(),
                section: 1,
                from: 10,
                to: 20,
                litres: 0.5
            }]
        );
        let got = intended(&BTreeMap::new(), &sections, &[rec]);
        assert_eq!((got[0].section, got[0].litres), (0, 0.25));
    }
}
