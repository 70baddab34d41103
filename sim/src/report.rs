//! The treatment report: what a run did to the orchard, worked out from the truth (the
//! path the tractor really drove and the intervals the valve board really sprayed), not
//! from what the components believe. Pure: everything in a local metric frame (x east,
//! y north, metres; times in GNSS µs), plain values in, a [`Report`] out.
//!
//! - **Passages.** A section's nozzles move with the tractor (`forward_m` ahead of the
//!   antenna, `lateral_m` out to the section's side). A tree side is *passed* by a
//!   section while the nozzles are level with its canopy (the along-track distance from
//!   the nozzles to the trunk within the canopy's radius) and the trunk is on the
//!   section's side within `lateral reach + radius`. Each passage has the instants the
//!   nozzles reach and leave the canopy.
//! - **May be sprayed.** A passage may be sprayed when its tree is inside the boundary
//!   and outside every zone, and the ground the section would spray during it (from the
//!   nozzles out to the canopy's far side, within reach) is too: the map's own rule.
//! - **Sprays.** The board's intervals (given in pieces of one flow each) that touch or
//!   are less than [`MERGE_GAP_US`] apart are one spray.
//! - **Tree sides.** A tree side is a face of the tree (`e`, `w`...: where the nozzles
//!   passed it from), so a tree passed from both alleys has two, and a face passed twice
//!   is one side (which then gets both sprays).
//! - **Treated.** A passage is treated when spray covers at least half of it; the volume
//!   it got is the flow integrated over the part of the sprays inside it. A side that
//!   may be sprayed and is not treated is missed.
//! - **Placement error.** For each spray that touches a passage it may spray: the
//!   distance along the path (speed × time) from its start to the nearest canopy entry,
//!   and from its end to the nearest canopy exit, of that section's passages; both ends
//!   count in the percentiles, and a tree side gets the larger error of the sprays that
//!   touched it.
//! - **Safety.** A spray interval counts as outside the boundary, or in a no-spray
//!   zone, when the point it aims at (the nozzles, `reach_m / 2` further out) is, at
//!   any sample of the path during the interval; on an invalid or stale fix when it
//!   overlaps a span of time the receiver gave no valid fix.
//! - **Baseline.** What a constant-rate sprayer (`baseline_l_per_ha`) would have put on
//!   the same tree sides: for each passed side, the rate × the canopy's length along the
//!   row × half the row spacing.

use std::collections::BTreeMap;

use geo::{Contains, Coord, Point, Polygon};
use serde::Serialize;

pub mod render;

/// A tree, in the local frame.
#[derive(Debug, Clone, PartialEq)]
pub struct TreeGeom {
    /// Its id.
    pub id: String,
    /// Trunk, metres east of the frame's origin.
    pub x: f64,
    /// Trunk, metres north.
    pub y: f64,
    /// Canopy radius (half its width), metres.
    pub radius_m: f64,
    /// Distance to the neighbouring rows (for the baseline), metres.
    pub row_spacing_m: f64,
    /// May be sprayed: inside the boundary and touching no no-spray zone.
    pub sprayable: bool,
}

/// A sprayer section, as the map's settings place it.
#[derive(Debug, Clone, PartialEq)]
pub struct SectionGeom {
    /// Its id.
    pub id: String,
    /// `true` for a right-hand section.
    pub right: bool,
    /// Nozzles ahead of the antenna (negative: behind), metres.
    pub forward_m: f64,
    /// Nozzles out from the antenna towards the section's side, metres.
    pub lateral_m: f64,
    /// Canopies whose trunk is up to this far beyond the nozzles are sprayed, metres.
    pub reach_m: f64,
}

/// One sample of the true path.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PathPoint {
    /// GNSS time, µs.
    pub t: i64,
    /// Antenna, metres east.
    pub x: f64,
    /// Antenna, metres north.
    pub y: f64,
    /// Direction of travel (the body's heading), degrees clockwise from north.
    pub heading_deg: f64,
}

/// One interval a section really sprayed at one flow (at the canopy: the board's output
/// switch plus the valve latency), GNSS µs. A spray whose flow changes (one flow per
/// tree) comes as pieces that touch: one physical spray.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SprayInterval {
    /// Index of the section in [`ReportInput::sections`].
    pub section: usize,
    /// Spray reaches the canopy.
    pub from: i64,
    /// Spray stops.
    pub to: i64,
    /// Flow, L/min.
    pub flow_l_min: f64,
}

/// What the dose module decided for a tree and section (the last revision of each
/// order), with its window: the window tells which passage (which face of the tree) it
/// was for.
#[derive(Debug, Clone, PartialEq)]
pub struct Intended {
    /// The tree.
    pub tree_id: String,
    /// Index of the section in [`ReportInput::sections`].
    pub section: usize,
    /// The window's opening, GNSS µs.
    pub from: i64,
    /// Its closing.
    pub to: i64,
    /// Litres.
    pub litres: f64,
}

/// Everything the report is computed from.
#[derive(Debug, Clone, Copy)]
pub struct ReportInput<'a> {
    /// Every tree of the map.
    pub trees: &'a [TreeGeom],
    /// Inside the boundary (the trees `in_field`).
    pub trees_in_field: usize,
    /// The boundary's polygons (None: no boundary, every spray counts as outside).
    pub boundary: Option<&'a [Polygon<f64>]>,
    /// The no-spray zones.
    pub zones: &'a [Polygon<f64>],
    /// The sections.
    pub sections: &'a [SectionGeom],
    /// The true path, in time order.
    pub path: &'a [PathPoint],
    /// What the board sprayed.
    pub sprays: &'a [SprayInterval],
    /// What the dose module decided.
    pub intended: &'a [Intended],
    /// Spans (GNSS µs) when the receiver gave no valid fix (invalid epochs, outages).
    pub invalid_fix: &'a [(i64, i64)],
    /// Times the sprayer entered its safe state during the run.
    pub fail_safe_events: u64,
    /// Rate of the constant-rate baseline, L/ha.
    pub baseline_l_per_ha: f64,
}

/// Counts of trees and tree sides.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TreeCounts {
    /// Trees of the map inside the boundary.
    pub in_field: u64,
    /// Tree sides a section passed.
    pub passed: u64,
    /// Passed sides sprayed over at least half of their passage.
    pub treated: u64,
    /// Passed sides that may be sprayed and were not treated.
    pub missed: u64,
}

/// Placement error percentiles, centimetres.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Placement {
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// Largest.
    pub max: f64,
}

/// Volumes, litres.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Volumes {
    /// Sprayed by the board (flow × time).
    pub applied: f64,
    /// Decided by the dose module.
    pub intended: f64,
    /// What a constant-rate sprayer would have put on the same tree sides.
    pub constant_rate_baseline: f64,
}

/// Safety counters.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Safety {
    /// Spray intervals aiming outside the boundary at some moment.
    pub sprays_outside_boundary: u64,
    /// Spray intervals aiming into a no-spray zone at some moment.
    pub sprays_in_no_spray_zones: u64,
    /// Spray intervals overlapping a span without a valid fix.
    pub sprays_on_invalid_or_stale_fix: u64,
    /// Times the sprayer entered its safe state.
    pub fail_safe_events: u64,
}

/// One tree side.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TreeSide {
    /// The tree.
    pub tree_id: String,
    /// `left` or `right`: the side of the machine that passed it.
    pub side: &'static str,
    /// The face of the tree (where the nozzles passed it from): `n`, `ne`, `e`, `se`,
    /// `s`, `sw`, `w` or `nw`. A tree passed from both alleys has two faces, each a tree
    /// side of its own.
    pub face: &'static str,
    /// Litres decided.
    pub intended_l: f64,
    /// Litres sprayed onto it.
    pub applied_l: f64,
    /// The larger placement error of the sprays that touched it, cm (null: not sprayed).
    pub placement_error_cm: Option<f64>,
    /// Spray covered at least half of its passage.
    pub treated: bool,
    /// When the nozzles first reached its canopy (GNSS time, RFC 3339).
    pub passed_at: String,
    /// It may be sprayed (inside the boundary, its spray clear of every zone): when it
    /// is not treated, it is missed.
    pub sprayable: bool,
}

/// The treatment report (`verger sim --report`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Report {
    /// Trees and tree sides.
    pub trees: TreeCounts,
    /// How far sprays started and stopped from the canopies' edges.
    pub placement_error_cm: Placement,
    /// Volumes.
    pub volume_l: Volumes,
    /// Safety.
    pub safety: Safety,
    /// Every passed tree side.
    pub per_tree: Vec<TreeSide>,
}

/// A section's nozzles level with a canopy.
#[derive(Debug, Clone, PartialEq)]
struct Passage {
    tree: usize,
    section: usize,
    t_in: i64,
    t_out: i64,
    face: &'static str,
}

const FACES: [&str; 8] = ["n", "ne", "e", "se", "s", "sw", "w", "nw"];

/// The compass octant of a bearing, degrees.
fn octant(bearing_deg: f64) -> &'static str {
    FACES[((bearing_deg.rem_euclid(360.0) / 45.0).round() as usize) % 8]
}

/// The face of a tree the nozzles pass: towards the machine, across the travel.
fn face_of(out: (f64, f64)) -> &'static str {
    octant((-out.0).atan2(-out.1).to_degrees())
}

fn unit(heading_deg: f64) -> (f64, f64) {
    let h = heading_deg.to_radians();
    (h.sin(), h.cos())
}

/// The nozzles of `s` at path point `p`, the travel direction and the outward normal.
fn nozzles(p: &PathPoint, s: &SectionGeom) -> (Coord<f64>, (f64, f64), (f64, f64)) {
    let d = unit(p.heading_deg);
    let right = (d.1, -d.0);
    let out = if s.right { right } else { (-right.0, -right.1) };
    let at = Coord {
        x: p.x + d.0 * s.forward_m + out.0 * s.lateral_m,
        y: p.y + d.1 * s.forward_m + out.1 * s.lateral_m,
    };
    (at, d, out)
}

/// Along-track and outward offsets of the trunk from the nozzles.
fn offsets(tree: &TreeGeom, at: Coord<f64>, d: (f64, f64), out: (f64, f64)) -> (f64, f64) {
    let (dx, dy) = (tree.x - at.x, tree.y - at.y);
    (dx * d.0 + dy * d.1, dx * out.0 + dy * out.1)
}

/// Trees by 5 m cell, for the passage search.
struct Grid {
    cells: BTreeMap<(i64, i64), Vec<usize>>,
}

const CELL: f64 = 5.0;

impl Grid {
    fn new(trees: &[TreeGeom]) -> Grid {
        let mut cells: BTreeMap<(i64, i64), Vec<usize>> = BTreeMap::new();
        for (i, t) in trees.iter().enumerate() {
            cells
                .entry(((t.x / CELL).floor() as i64, (t.y / CELL).floor() as i64))
                .or_default()
                .push(i);
        }
        Grid { cells }
    }

    fn near(&self, at: Coord<f64>, reach: f64) -> impl Iterator<Item = usize> + '_ {
        let r = (reach / CELL).ceil() as i64 + 1;
        let (cx, cy) = ((at.x / CELL).floor() as i64, (at.y / CELL).floor() as i64);
        (cx - r..=cx + r)
            .flat_map(move |x| (cy - r..=cy + r).map(move |y| (x, y)))
            .filter_map(|k| self.cells.get(&k))
            .flatten()
            .copied()
    }
}

/// Every passage of every section along the path.
fn passages(input: &ReportInput<'_>) -> Vec<Passage> {
    let grid = Grid::new(input.trees);
    let mut out = Vec::new();
    for (si, s) in input.sections.iter().enumerate() {
        // Open passages by tree: (entry time, face).
        let mut open: BTreeMap<usize, (i64, &'static str)> = BTreeMap::new();
        for w in input.path.windows(2) {
            let (a, b) = (&w[0], &w[1]);
            let (na, da, oa) = nozzles(a, s);
            let (nb, db, ob) = nozzles(b, s);
            let mut here: Vec<usize> = grid
                .near(na, s.reach_m + 5.0)
                .chain(grid.near(nb, s.reach_m + 5.0))
                .collect();
            here.sort_unstable();
            here.dedup();
            for ti in here {
                let t = &input.trees[ti];
                let (along_a, lat_a) = offsets(t, na, da, oa);
                let (along_b, lat_b) = offsets(t, nb, db, ob);
                let beside = |lat: f64| lat > 0.0 && lat <= s.reach_m + t.radius_m;
                if !(beside(lat_a) || beside(lat_b)) {
                    if let Some((t_in, face)) = open.remove(&ti) {
                        out.push(Passage {
                            tree: ti,
                            section: si,
                            t_in,
                            t_out: a.t,
                            face,
                        });
                    }
                    continue;
                }
                let r = t.radius_m;
                // The nozzles reach the canopy when `along` falls to +r and leave it at -r.
                let cross = |level: f64| -> Option<i64> {
                    if (along_a - level) * (along_b - level) <= 0.0 && along_a != along_b {
                        let k = (along_a - level) / (along_a - along_b);
                        Some(a.t + ((b.t - a.t) as f64 * k).round() as i64)
                    } else {
                        None
                    }
                };
                if let std::collections::btree_map::Entry::Vacant(slot) = open.entry(ti) {
                    if along_a.abs() < r && beside(lat_a) {
                        // Already level (the path starts, or comes alongside, inside it).
                        slot.insert((a.t, face_of(oa)));
                    } else if let Some(at) = cross(r) {
                        slot.insert((at, face_of(oa)));
                    }
                }
                if let Some(&(t_in, face)) = open.get(&ti) {
                    if let Some(at) = cross(-r) {
                        if at >= t_in {
                            open.remove(&ti);
                            out.push(Passage {
                                tree: ti,
                                section: si,
                                t_in,
                                t_out: at,
                                face,
                            });
                        }
                    }
                }
            }
        }
        let end = input.path.last().map_or(0, |p| p.t);
        out.extend(open.into_iter().map(|(tree, (t_in, face))| Passage {
            tree,
            section: si,
            t_in,
            t_out: end,
            face,
        }));
    }
    out.sort_by_key(|p| (p.section, p.t_in, p.tree));
    out
}

/// Time spans of one section sorted by start, with the running maximum of their ends:
/// the spans overlapping an interval are found without scanning the others.
struct Spans {
    /// (start, end, index of the item).
    items: Vec<(i64, i64, usize)>,
    max_end: Vec<i64>,
}

impl Spans {
    /// One `Spans` per section of `spans` (section, start, end, index).
    fn by_section(
        sections: usize,
        spans: impl Iterator<Item = (usize, i64, i64, usize)>,
    ) -> Vec<Spans> {
        let mut items: Vec<Vec<(i64, i64, usize)>> = vec![Vec::new(); sections];
        for (section, from, to, i) in spans {
            if let Some(list) = items.get_mut(section) {
                list.push((from, to, i));
            }
        }
        items
            .into_iter()
            .map(|mut items| {
                items.sort_unstable();
                let max_end = items
                    .iter()
                    .scan(i64::MIN, |m, it| {
                        *m = (*m).max(it.1);
                        Some(*m)
                    })
                    .collect();
                Spans { items, max_end }
            })
            .collect()
    }

    /// The indices of the spans overlapping `[from, to)` (by a positive length).
    fn overlapping(&self, from: i64, to: i64) -> impl Iterator<Item = usize> + '_ {
        let first = self.max_end.partition_point(|&m| m <= from);
        self.items[first..]
            .iter()
            .take_while(move |it| it.0 < to)
            .filter(move |it| it.1 > from)
            .map(|it| it.2)
    }
}

/// Speed along the path at `t`, m/s.
fn speed_at(path: &[PathPoint], t: i64) -> f64 {
    let i = path
        .partition_point(|p| p.t < t)
        .clamp(1, path.len().max(2) - 1);
    let (a, b) = (&path[i - 1], &path[i.min(path.len() - 1)]);
    let dt = (b.t - a.t) as f64 / 1e6;
    if dt <= 0.0 {
        return 0.0;
    }
    ((b.x - a.x).hypot(b.y - a.y)) / dt
}

fn overlap(a: (i64, i64), b: (i64, i64)) -> i64 {
    (a.1.min(b.1) - a.0.max(b.0)).max(0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Work out the report.
pub fn report(input: &ReportInput<'_>) -> Report {
    let passages = passages(input);
    // The passages that may be sprayed.
    let clear: Vec<bool> = passages
        .iter()
        .map(|p| input.trees[p.tree].sprayable && footprint_clear(input, p))
        .collect();
    // Physical sprays: pieces that touch or are less than a merge gap apart are one.
    let sprays = merged(input.sprays);
    // Placement error of each spray: from its start to the nearest canopy entry, and
    // from its end to the nearest canopy exit, of the passages it may spray.
    let sections = input.sections.len();
    let clear_by_section = Spans::by_section(
        sections,
        passages
            .iter()
            .zip(&clear)
            .enumerate()
            .filter(|(_, (_, c))| **c)
            .map(|(i, (p, _))| (p.section, p.t_in, p.t_out, i)),
    );
    let sorted_edges = |edge: fn(&Passage) -> i64| -> Vec<Vec<i64>> {
        let mut out = vec![Vec::new(); sections];
        for (p, _) in passages.iter().zip(&clear).filter(|(_, c)| **c) {
            out[p.section].push(edge(p));
        }
        out.iter_mut().for_each(|v| v.sort_unstable());
        out
    };
    let (entries, exits) = (sorted_edges(|p| p.t_in), sorted_edges(|p| p.t_out));
    let mut errors_cm = Vec::new();
    let mut spray_error: Vec<Option<f64>> = vec![None; sprays.len()];
    for (k, s) in sprays.iter().enumerate() {
        if clear_by_section[s.section]
            .overlapping(s.from, s.to)
            .next()
            .is_none()
        {
            continue;
        }
        let cm =
            |a: i64, b: i64| (a - b).abs() as f64 / 1e6 * speed_at(input.path, a.min(b)) * 100.0;
        // The nearest edge in time is the nearest along the path.
        let nearest = |t: i64, edges: &[i64]| {
            let i = edges.partition_point(|&e| e < t);
            [i.checked_sub(1), Some(i)]
                .into_iter()
                .flatten()
                .filter_map(|j| edges.get(j))
                .map(|&e| cm(t, e))
                .fold(f64::INFINITY, f64::min)
        };
        let start = nearest(s.from, &entries[s.section]);
        let end = nearest(s.to, &exits[s.section]);
        errors_cm.push(start);
        errors_cm.push(end);
        spray_error[k] = Some(start.max(end));
    }
    errors_cm.sort_by(f64::total_cmp);
    let pieces_by_section = Spans::by_section(
        sections,
        input
            .sprays
            .iter()
            .enumerate()
            .map(|(i, s)| (s.section, s.from, s.to, i)),
    );
    let sprays_by_section = Spans::by_section(
        sections,
        sprays
            .iter()
            .enumerate()
            .map(|(i, s)| (s.section, s.from, s.to, i)),
    );
    // Per tree side (a tree's face).
    let mut sides: BTreeMap<(String, &'static str), TreeSide> = BTreeMap::new();
    let mut counts = TreeCounts {
        in_field: input.trees_in_field as u64,
        ..TreeCounts::default()
    };
    let mut baseline = 0.0;
    let mut treated_sides = std::collections::BTreeSet::new();
    let mut sprayable_sides = std::collections::BTreeSet::new();
    for (p, &clear) in passages.iter().zip(&clear) {
        let tree = &input.trees[p.tree];
        let right = input.sections[p.section].right;
        let mut covered = 0;
        let mut litres = 0.0;
        for i in pieces_by_section[p.section].overlapping(p.t_in, p.t_out) {
            let s = &input.sprays[i];
            let o = overlap((s.from, s.to), (p.t_in, p.t_out));
            covered += o;
            litres += s.flow_l_min * o as f64 / 60e6;
        }
        let mut error: Option<f64> = None;
        for k in sprays_by_section[p.section].overlapping(p.t_in, p.t_out) {
            if let Some(e) = spray_error[k] {
                error = Some(error.map_or(e, |x: f64| x.max(e)));
            }
        }
        let key = (tree.id.clone(), p.face);
        if 2 * covered >= (p.t_out - p.t_in).max(1) {
            treated_sides.insert(key.clone());
        }
        if clear {
            sprayable_sides.insert(key.clone());
        }
        let side = sides.entry(key).or_insert_with(|| {
            counts.passed += 1;
            // Each side of an alley covers half the row spacing along the canopy.
            baseline += input.baseline_l_per_ha * (2.0 * tree.radius_m) * tree.row_spacing_m
                / 2.0
                / 10_000.0;
            TreeSide {
                tree_id: tree.id.clone(),
                side: if right { "right" } else { "left" },
                face: p.face,
                intended_l: 0.0,
                applied_l: 0.0,
                placement_error_cm: None,
                treated: false,
                passed_at: verger::civil::rfc3339_from_unix_micros(p.t_in, 3),
                sprayable: false,
            }
        });
        side.applied_l += litres;
        if let Some(e) = error {
            side.placement_error_cm = Some(side.placement_error_cm.map_or(e, |x| x.max(e)));
        }
    }
    // Each decision goes to the passage of its tree and section its window is for.
    for i in input.intended {
        let passage = passages
            .iter()
            .filter(|p| p.section == i.section && input.trees[p.tree].id == i.tree_id)
            .min_by_key(|p| {
                let o = overlap((i.from, i.to), (p.t_in, p.t_out));
                let gap = (i.from - p.t_out).max(p.t_in - i.to).max(0);
                (o == 0, gap, -o)
            });
        if let Some(p) = passage {
            if let Some(side) = sides.get_mut(&(i.tree_id.clone(), p.face)) {
                side.intended_l += i.litres;
            }
        }
    }
    for (key, side) in sides.iter_mut() {
        if treated_sides.contains(key) {
            side.treated = true;
            counts.treated += 1;
        } else if sprayable_sides.contains(key) {
            counts.missed += 1;
        }
        side.sprayable = sprayable_sides.contains(key);
    }
    Report {
        trees: counts,
        placement_error_cm: Placement {
            p50: percentile(&errors_cm, 0.5),
            p95: percentile(&errors_cm, 0.95),
            max: errors_cm.last().copied().unwrap_or(0.0),
        },
        volume_l: Volumes {
            applied: input
                .sprays
                .iter()
                .map(|s| s.flow_l_min * (s.to - s.from).max(0) as f64 / 60e6)
                .sum(),
            intended: sides.values().map(|s| s.intended_l).sum(),
            constant_rate_baseline: baseline,
        },
        safety: safety(input, &sprays),
        per_tree: sides.into_values().collect(),
    }
}

/// Two canopies, or two sprays, of a section less than this apart (GNSS µs: 19 cm at
/// 7 km/h) count as one: no valve can close and re-open in between (they take a valve
/// latency, 0.3 s, to act), and whether the sprayer switches at all for such a gap
/// depends on how its switching instants fall, not on where the spray lands.
pub const MERGE_GAP_US: i64 = 100_000;

/// The physical sprays of `pieces`: per section, pieces that touch or are at most
/// [`MERGE_GAP_US`] apart are one spray. The flow of a merged spray is its pieces'
/// time-weighted mean.
fn merged(pieces: &[SprayInterval]) -> Vec<SprayInterval> {
    let mut sorted: Vec<SprayInterval> = pieces.to_vec();
    sorted.sort_by_key(|s| (s.section, s.from));
    let mut out: Vec<(SprayInterval, f64)> = Vec::new();
    for s in sorted {
        let litres = s.flow_l_min * (s.to - s.from) as f64;
        if let Some((last, l)) = out.last_mut() {
            if last.section == s.section && s.from - last.to <= MERGE_GAP_US {
                last.to = last.to.max(s.to);
                *l += litres;
                continue;
            }
        }
        out.push((s, litres));
    }
    out.into_iter()
        .map(|(mut s, litres)| {
            let span = (s.to - s.from).max(1) as f64;
            s.flow_l_min = litres / span;
            s
        })
        .collect()
}

/// Whether the section may spray through passage `p`: the ground it would spray (from
/// its nozzles out to the canopy's far side, within its reach), at every sample of the
/// path during the passage, is inside the boundary and outside every no-spray zone (the
/// map's rule for ordering a window).
fn footprint_clear(input: &ReportInput<'_>, p: &Passage) -> bool {
    let section = &input.sections[p.section];
    let tree = &input.trees[p.tree];
    let inside = |c: Coord<f64>| {
        let pt = Point::from(c);
        input
            .boundary
            .is_none_or(|b| b.iter().any(|poly| poly.contains(&pt)))
            && !input.zones.iter().any(|z| z.contains(&pt))
    };
    let first = input.path.partition_point(|q| q.t < p.t_in);
    let samples = input.path[first.saturating_sub(1)..]
        .iter()
        .take_while(|q| q.t <= p.t_out)
        .chain(input.path.get(first));
    for q in samples {
        let (at, d, out) = nozzles(q, section);
        let (_, across) = offsets(tree, at, d, out);
        let far = (across + tree.radius_m).min(section.reach_m).max(0.0);
        let edge = |k: f64| Coord {
            x: at.x + out.0 * k,
            y: at.y + out.1 * k,
        };
        if !(inside(edge(0.0)) && inside(edge(far / 2.0)) && inside(edge(far))) {
            return false;
        }
    }
    true
}

/// The safety counters.
fn safety(input: &ReportInput<'_>, sprays: &[SprayInterval]) -> Safety {
    let mut out = Safety {
        fail_safe_events: input.fail_safe_events,
        ..Safety::default()
    };
    for s in sprays {
        let section = &input.sections[s.section];
        let (mut outside, mut zone) = (false, false);
        let during = input.path.iter().filter(|p| p.t >= s.from && p.t <= s.to);
        for p in during {
            let (at, _, o) = nozzles(p, section);
            let aim = Point::new(
                at.x + o.0 * section.reach_m / 2.0,
                at.y + o.1 * section.reach_m / 2.0,
            );
            outside |= !input
                .boundary
                .is_some_and(|b| b.iter().any(|p| p.contains(&aim)));
            zone |= input.zones.iter().any(|z| z.contains(&aim));
        }
        out.sprays_outside_boundary += u64::from(outside);
        out.sprays_in_no_spray_zones += u64::from(zone);
        out.sprays_on_invalid_or_stale_fix += u64::from(
            input
                .invalid_fix
                .iter()
                .any(|span| overlap((s.from, s.to), *span) > 0),
        );
    }
    out
}

#[cfg(test)]
mod tests;
