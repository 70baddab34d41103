//! Where each sprayer section's nozzles will meet each tree: the spray windows of one
//! fix, as pure geometry on plain values.
//!
//! Frame: metres east/north of the GNSS antenna at the fix ([`Frame`] centred there, so
//! projection errors are below a micrometre). The nozzles of a section sit `forward_m`
//! ahead of the antenna (negative: behind) and `lateral_m` out to the section's side,
//! along the vehicle's body axes (dual-antenna heading when the receiver gives one,
//! else the course). They move along the course at the fix's speed. A tree is in a
//! section's lane when its centre is on the section's side of the nozzles, at most
//! `reach_m` across from them, and its canopy reaches the section's height band.
//!
//! A tree's canopy is a disc of `canopy_width_m` diameter. Its window is the stretch of
//! path along which the nozzles are level with that disc; where two neighbouring
//! canopies in a lane overlap (a hedge), the overlap is split at its middle, so each
//! stretch of hedge belongs to one tree and no two windows of a section overlap.

use geo::{Coord, Polygon};
use verger::orchard::{Frame, Tree};

use super::GnssMicros;
pub use verger::contract::map::Side;

/// +1 for the right side, −1 for the left (along the vector to the right).
fn sign(side: Side) -> f64 {
    match side {
        Side::Left => -1.0,
        Side::Right => 1.0,
    }
}

/// One sprayer section's geometry.
#[derive(Clone, Debug, PartialEq)]
pub struct Section {
    /// Its name (`left`, `right`, `left.top`...), unique on the machine.
    pub id: String,
    /// The side it sprays.
    pub side: Side,
    /// Nozzles ahead of the GNSS antenna along the body axis, metres (negative: behind).
    pub forward_m: f64,
    /// Nozzles out from the antenna towards the section's side, metres.
    pub lateral_m: f64,
    /// How far across from the nozzles a canopy centre may be to be sprayed, metres.
    pub reach_m: f64,
    /// Lowest height the section sprays, metres (a vertical section); `None`: ground.
    pub bottom_m: Option<f64>,
    /// Highest height the section sprays, metres; `None`: no limit.
    pub top_m: Option<f64>,
}

impl Section {
    /// Does a canopy of `height` reach this section's band? Unknown height: yes.
    pub fn reaches(&self, height: Option<f64>) -> bool {
        match (height, self.bottom_m) {
            (Some(h), Some(bottom)) => h > bottom,
            _ => true,
        }
    }
}

/// The motion of the vehicle at one fix.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Motion {
    /// GNSS time of the fix.
    pub time: GnssMicros,
    /// Antenna latitude, degrees.
    pub lat: f64,
    /// Antenna longitude, degrees.
    pub lon: f64,
    /// Speed over ground, m/s (> 0).
    pub speed_mps: f64,
    /// Direction of travel, degrees true.
    pub course_deg: f64,
    /// Direction the body points, degrees true (equal to the course unless a dual
    /// antenna says otherwise, e.g. crabbing on a slope).
    pub body_deg: f64,
}

/// A unit vector (east, north) for a bearing in degrees true.
pub fn unit(bearing_deg: f64) -> Coord<f64> {
    let b = bearing_deg.to_radians();
    Coord {
        x: b.sin(),
        y: b.cos(),
    }
}

/// The vector 90° clockwise (to the right when facing `v`).
fn right_of(v: Coord<f64>) -> Coord<f64> {
    Coord { x: v.y, y: -v.x }
}

fn dot(a: Coord<f64>, b: Coord<f64>) -> f64 {
    a.x * b.x + a.y * b.y
}

/// Bearing of a vector, degrees true in [0, 360).
pub fn bearing(v: Coord<f64>) -> f64 {
    v.x.atan2(v.y).to_degrees().rem_euclid(360.0)
}

/// One tree's window for one section, at one fix.
#[derive(Clone, Debug, PartialEq)]
pub struct Window<'t> {
    /// The tree.
    pub tree: &'t Tree,
    /// Distance along the path from the nozzles to where spraying starts, metres
    /// (negative: the nozzles are already level with the canopy).
    pub start_m: f64,
    /// Distance along the path from the nozzles to where spraying ends, metres (> 0).
    pub end_m: f64,
    /// Distance across from the nozzles to the canopy centre, metres.
    pub across_m: f64,
    /// Canopy radius used, metres.
    pub radius_m: f64,
    /// Bearing from the tree to the nozzles: the face of the tree sprayed, degrees.
    pub face_deg: f64,
    /// GNSS time the nozzles reach `start_m` (clamped to the fix time if already there).
    pub open: GnssMicros,
    /// GNSS time the nozzles reach `end_m`.
    pub close: GnssMicros,
    /// The ground the section sprays during the window (the nozzle path × the distance
    /// to the canopy's far side), as lon/lat.
    pub footprint: Polygon<f64>,
}

/// Where the nozzles of `section` are, relative to the antenna, in the fix's frame.
pub fn nozzle(motion: &Motion, section: &Section) -> Coord<f64> {
    let f = unit(motion.body_deg);
    let r = right_of(f);
    let s = sign(section.side);
    Coord {
        x: section.forward_m * f.x + s * section.lateral_m * r.x,
        y: section.forward_m * f.y + s * section.lateral_m * r.y,
    }
}

/// The windows of `section` at this fix: every tree of `trees` in the section's lane
/// that the nozzles have not yet passed, nearest first. `default_width_m` stands for a
/// canopy width the map lacks.
pub fn windows<'t>(
    motion: &Motion,
    section: &Section,
    trees: &'t [Tree],
    default_width_m: f64,
) -> Vec<Window<'t>> {
    let frame = Frame::new(motion.lat, motion.lon);
    let u = unit(motion.course_deg);
    let n = {
        let r = right_of(u);
        let s = sign(section.side);
        Coord {
            x: s * r.x,
            y: s * r.y,
        }
    };
    let at = nozzle(motion, section);
    struct Lane<'t> {
        tree: &'t Tree,
        along: f64,
        across: f64,
        radius: f64,
    }
    let mut lane: Vec<Lane<'t>> = trees
        .iter()
        .filter(|t| section.reaches(t.canopy_height_m))
        .filter_map(|tree| {
            let c = frame.to_local(tree.lat, tree.lon) - at;
            let across = dot(c, n);
            (across > 0.0 && across <= section.reach_m).then(|| Lane {
                tree,
                along: dot(c, u),
                across,
                radius: tree.canopy_width_m.unwrap_or(default_width_m).max(0.0) / 2.0,
            })
        })
        .collect();
    lane.sort_by(|a, b| a.along.total_cmp(&b.along).then(a.tree.id.cmp(&b.tree.id)));
    let mut spans: Vec<(f64, f64)> = lane
        .iter()
        .map(|l| (l.along - l.radius, l.along + l.radius))
        .collect();
    for i in 1..spans.len() {
        let (prev_end, next_start) = (spans[i - 1].1, spans[i].0);
        if prev_end > next_start {
            let middle = (prev_end + next_start) / 2.0;
            spans[i - 1].1 = middle;
            spans[i].0 = middle;
        }
    }
    let to_time = |d: f64| motion.time + (d.max(0.0) / motion.speed_mps * 1e6).round() as i64;
    lane.iter()
        .zip(spans)
        .filter(|(_, (start, end))| *end > 0.0 && end > start)
        .map(|(l, (start, end))| {
            let far = (l.across + l.radius).min(section.reach_m);
            let corner = |along: f64, across: f64| {
                let c = Coord {
                    x: at.x + along * u.x + across * n.x,
                    y: at.y + along * u.y + across * n.y,
                };
                frame.local_to_lonlat(c)
            };
            let footprint = Polygon::new(
                vec![
                    corner(start.max(0.0), 0.0),
                    corner(end, 0.0),
                    corner(end, far),
                    corner(start.max(0.0), far),
                    corner(start.max(0.0), 0.0),
                ]
                .into(),
                vec![],
            );
            Window {
                tree: l.tree,
                start_m: start,
                end_m: end,
                across_m: l.across,
                radius_m: l.radius,
                face_deg: bearing(Coord { x: -n.x, y: -n.y }),
                open: to_time(start),
                close: to_time(end),
                footprint,
            }
        })
        .collect()
}

/// Smallest angle between two bearings, degrees in [0, 180].
pub fn angle_between(a: f64, b: f64) -> f64 {
    let d = (a - b).rem_euclid(360.0);
    d.min(360.0 - d)
}
