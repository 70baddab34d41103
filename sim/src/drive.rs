//! The synthetic drive: a tractor path through every alley of a map, as the virtual
//! receiver's epochs and their truth.
//!
//! # Path
//!
//! The rows are measured on a local metric frame ([`Frame`]) centred on them: their
//! mean direction gives the along-row axis `a`, and each row sits at a cross position
//! `c` (rows at the same `c`, e.g. one after the other across a headland between two
//! bands of blocks, count as one line of trees). The **alleys** are the lanes between
//! adjacent lines of trees (midway) plus one outside each outer line, at half the
//! spacing to its neighbour: every tree side of the map has an alley beside it. Each
//! alley spans the `a` range of the rows beside it, [`DriveOptions::row_end_margin_m`]
//! beyond their ends so that the last trees are passed.
//!
//! The tractor drives them in order across the orchard, serpentine (one up, the next
//! down). At each end it turns in the headland onto the next alley: a semicircle when
//! the alleys are at least two turning radii apart, else a bulb ("omega") turn of
//! three arcs of [`DriveOptions::turn_radius_m`] (out, round, back in). When a turn
//! would leave the boundary its radius is reduced step by step down to a semicircle
//! (tighter, but inside when possible). Alleys of different lengths are joined by
//! straight lines in the headland.
//!
//! # Epochs
//!
//! The path is sampled at the receiver's rate at [`DriveOptions::speed_mps`] (course
//! along the path, heading = course). The truth is the exact path; what the receiver
//! writes adds, if asked, GNSS noise (normal, σ metres per axis, larger in RTK float),
//! RTK fix/float flapping and outages (invalid epochs).
//!
//! # Determinism
//!
//! Every random draw is a splitmix64 hash of [`DriveOptions::seed`], the epoch's index
//! and what it is drawn for: the same map and options give the same bytes, whatever
//! the speed-up of the replay.

use std::f64::consts::{FRAC_PI_2, PI};
use std::time::Duration;

use geo::{Contains, Coord, MultiPolygon, Point};
use verger::orchard::{Frame, MapDb, MapError, Row};

use crate::nmea_out::{self, EpochQuality, NmeaStyle, SimEpoch};
use crate::orchard::splitmix64;
use crate::receiver::{Replay, ScheduledEpoch, TruthPoint};

/// 7 km/h in m/s.
pub const DEFAULT_SPEED_MPS: f64 = 7.0 / 3.6;

/// The default start: 2025-04-15T08:00:00Z, a spring morning (runs are reproducible).
pub const DEFAULT_START_US: i64 = 1_744_704_000_000_000;

/// Rows closer than this across the rows are one line of trees, metres.
const SAME_LINE_M: f64 = 0.5;
/// Spacing assumed for an orchard of a single row, metres.
const SINGLE_ROW_SPACING_M: f64 = 4.0;

/// RTK fix/float flapping.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Flapping {
    /// Mean number of drops to RTK float per minute of driving.
    pub per_minute: f64,
    /// How long each float episode lasts, seconds.
    pub float_s: f64,
}

/// A GNSS outage: the receiver sends invalid epochs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Outage {
    /// When it starts, seconds after the start of the drive.
    pub at_s: f64,
    /// How long it lasts, seconds.
    pub duration_s: f64,
}

/// How the tractor drives and what the receiver makes of it.
#[derive(Clone, Debug, PartialEq)]
pub struct DriveOptions {
    /// Driving speed, m/s (7 km/h).
    pub speed_mps: f64,
    /// GNSS time of the first epoch, µs since the Unix epoch ([`DEFAULT_START_US`]).
    pub start_us: i64,
    /// Turning radius of the headland turns, metres (3 m).
    pub turn_radius_m: f64,
    /// How far beyond the row ends each alley is driven, metres (2 m).
    pub row_end_margin_m: f64,
    /// GNSS noise in RTK fixed, σ metres per axis (0: none).
    pub noise_m: f64,
    /// GNSS noise in RTK float, σ metres per axis (0.15 m).
    pub float_noise_m: f64,
    /// RTK fix/float flapping, if any.
    pub flapping: Option<Flapping>,
    /// Outages.
    pub outages: Vec<Outage>,
    /// Seed of every random draw.
    pub seed: u64,
    /// Write an `HDT` heading (a dual-antenna receiver).
    pub heading: bool,
    /// Altitude written, metres.
    pub alt_m: f64,
    /// Satellites written.
    pub sats: u32,
    /// HDOP written.
    pub hdop: f64,
    /// How the sentences are written.
    pub style: NmeaStyle,
}

impl Default for DriveOptions {
    /// 7 km/h from 2025-04-15T08:00:00Z, 3 m turns, 2 m past the row ends, RTK fixed
    /// without noise, flapping or outages, no heading.
    fn default() -> Self {
        DriveOptions {
            speed_mps: DEFAULT_SPEED_MPS,
            start_us: DEFAULT_START_US,
            turn_radius_m: 3.0,
            row_end_margin_m: 2.0,
            noise_m: 0.0,
            float_noise_m: 0.15,
            flapping: None,
            outages: Vec::new(),
            seed: 1,
            heading: false,
            alt_m: 100.0,
            sats: 14,
            hdop: 0.8,
            style: NmeaStyle::default(),
        }
    }
}

/// Why a drive cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum DriveError {
    /// The map could not be read.
    #[error("cannot read the map for the drive: {0}")]
    Map(#[from] MapError),
    /// The map has no rows (with two points or more) to drive along.
    #[error("the map has no rows to drive along")]
    NoRows,
    /// An option that makes no sense.
    #[error("drive option `{field}` must be {expected}, not {value}")]
    BadOption {
        /// The option.
        field: &'static str,
        /// What it must be.
        expected: &'static str,
        /// Its value.
        value: f64,
    },
}

/// An alley as driven: its straight part beside the trees.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Alley {
    /// Where the tractor enters it (lat, lon).
    pub from: (f64, f64),
    /// Where it leaves it (lat, lon).
    pub to: (f64, f64),
    /// Its length, metres.
    pub length_m: f64,
}

/// Which part of the path a piece belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathPart {
    /// Alley `n` (from 0, across the orchard).
    Alley(usize),
    /// A headland: turns and the lines joining alleys of different lengths.
    Headland,
}

/// A piece of the path in the local frame.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Piece {
    Line {
        from: Coord<f64>,
        to: Coord<f64>,
    },
    /// Counter-clockwise for a positive sweep.
    Arc {
        centre: Coord<f64>,
        radius: f64,
        start: f64,
        sweep: f64,
    },
}

impl Piece {
    fn length(&self) -> f64 {
        match self {
            Piece::Line { from, to } => (*to - *from).x.hypot((*to - *from).y),
            Piece::Arc { radius, sweep, .. } => radius * sweep.abs(),
        }
    }

    /// Position and unit tangent `s` metres along.
    fn at(&self, s: f64) -> (Coord<f64>, Coord<f64>) {
        match *self {
            Piece::Line { from, to } => {
                let d = to - from;
                let len = d.x.hypot(d.y).max(f64::MIN_POSITIVE);
                let u = Coord {
                    x: d.x / len,
                    y: d.y / len,
                };
                (from + u * s, u)
            }
            Piece::Arc {
                centre,
                radius,
                start,
                sweep,
            } => {
                let dir = sweep.signum();
                let theta = start + dir * s / radius;
                let (sin, cos) = theta.sin_cos();
                (
                    centre + Coord { x: cos, y: sin } * radius,
                    Coord {
                        x: -sin * dir,
                        y: cos * dir,
                    },
                )
            }
        }
    }
}

/// A tractor path through every alley of a map (see the module docs).
#[derive(Clone, Debug, PartialEq)]
pub struct Drive {
    frame: Frame,
    pieces: Vec<(Piece, PathPart)>,
    alleys: Vec<Alley>,
    length_m: f64,
    options: DriveOptions,
}

fn dot(a: Coord<f64>, b: Coord<f64>) -> f64 {
    a.x * b.x + a.y * b.y
}

/// One line of trees: its cross position and along-row extent.
#[derive(Clone, Copy, Debug)]
struct Line {
    c: f64,
    lo: f64,
    hi: f64,
}

impl Drive {
    /// The drive through the rows of the map at `db`, inside its boundary when possible.
    pub fn from_map(db: &MapDb, options: DriveOptions) -> Result<Drive, DriveError> {
        let rows = db.rows()?;
        let boundary = db.boundary()?;
        Drive::new(&rows, boundary.as_ref().map(|b| &b.area), options)
    }

    /// The drive through `rows` (lon/lat), turning inside `boundary` (lon/lat) when
    /// possible.
    pub fn new(
        rows: &[Row],
        boundary: Option<&MultiPolygon<f64>>,
        options: DriveOptions,
    ) -> Result<Drive, DriveError> {
        check(&options)?;
        let rows: Vec<&Row> = rows.iter().filter(|r| r.line.0.len() >= 2).collect();
        if rows.is_empty() {
            return Err(DriveError::NoRows);
        }
        let n = rows.iter().map(|r| r.line.0.len()).sum::<usize>() as f64;
        let (sum_lon, sum_lat) = rows
            .iter()
            .flat_map(|r| r.line.coords())
            .fold((0.0, 0.0), |(x, y), c| (x + c.x, y + c.y));
        let frame = Frame::new(sum_lat / n, sum_lon / n);
        let local: Vec<Vec<Coord<f64>>> = rows
            .iter()
            .map(|r| r.line.coords().map(|c| frame.lonlat_to_local(*c)).collect())
            .collect();
        // The mean row direction, every row turned the same way as the first.
        let first = local[0][local[0].len() - 1] - local[0][0];
        let sum = local.iter().fold(Coord { x: 0.0, y: 0.0 }, |acc, pts| {
            let d = pts[pts.len() - 1] - pts[0];
            if dot(d, first) < 0.0 {
                acc - d
            } else {
                acc + d
            }
        });
        let len = sum.x.hypot(sum.y);
        let u = if len > 0.0 {
            sum / len
        } else {
            Coord { x: 0.0, y: 1.0 }
        };
        // To the right of `u`.
        let v = Coord { x: u.y, y: -u.x };
        let mut lines: Vec<Line> = local
            .iter()
            .map(|pts| {
                let along = pts.iter().map(|p| dot(*p, u));
                Line {
                    c: pts.iter().map(|p| dot(*p, v)).sum::<f64>() / pts.len() as f64,
                    lo: along.clone().fold(f64::INFINITY, f64::min),
                    hi: along.fold(f64::NEG_INFINITY, f64::max),
                }
            })
            .collect();
        lines.sort_by(|a, b| a.c.total_cmp(&b.c));
        // Rows at (about) the same cross position are one line of trees.
        let mut merged: Vec<(Line, f64)> = Vec::new();
        for line in lines {
            match merged.last_mut() {
                Some((m, last_c)) if line.c - *last_c < SAME_LINE_M => {
                    m.lo = m.lo.min(line.lo);
                    m.hi = m.hi.max(line.hi);
                    *last_c = line.c;
                }
                _ => merged.push((line, line.c)),
            }
        }
        let lines: Vec<Line> = merged.into_iter().map(|(l, _)| l).collect();
        let alleys = alley_lines(&lines, options.row_end_margin_m);
        let boundary = boundary.map(|b| frame.multi_polygon(b));
        let (pieces, alleys) = path(&alleys, u, v, options.turn_radius_m, boundary.as_ref());
        let length_m = pieces.iter().map(|(p, _)| p.length()).sum();
        let alleys = alleys
            .into_iter()
            .map(|(from, to)| Alley {
                from: frame.to_wgs84(from),
                to: frame.to_wgs84(to),
                length_m: (to - from).x.hypot((to - from).y),
            })
            .collect();
        Ok(Drive {
            frame,
            pieces,
            alleys,
            length_m,
            options,
        })
    }

    /// The alleys, in the order driven.
    pub fn alleys(&self) -> &[Alley] {
        &self.alleys
    }

    /// Length of the whole path, metres.
    pub fn length_m(&self) -> f64 {
        self.length_m
    }

    /// Time the whole path takes at the driving speed (GNSS time).
    pub fn duration(&self) -> Duration {
        Duration::from_secs_f64(self.length_m / self.options.speed_mps)
    }

    /// The options it was built with.
    pub fn options(&self) -> &DriveOptions {
        &self.options
    }

    /// Where the tractor is `s` metres along the path: (lat, lon), course in degrees
    /// true, and the part of the path.
    pub fn at(&self, s: f64) -> ((f64, f64), f64, PathPart) {
        let mut rest = s.max(0.0);
        let mut found = self.pieces.last().copied();
        for &(piece, part) in &self.pieces {
            let len = piece.length();
            if rest <= len {
                found = Some((piece, part));
                break;
            }
            rest -= len;
        }
        let Some((piece, part)) = found else {
            return ((self.frame.origin()), 0.0, PathPart::Headland);
        };
        let (p, t) = piece.at(rest.min(piece.length()));
        let course = t.x.atan2(t.y).to_degrees().rem_euclid(360.0);
        (self.frame.to_wgs84(p), course, part)
    }

    /// The receiver's epochs at `rate_hz` and the truth path (see the module docs).
    pub fn replay(&self, rate_hz: f64) -> Replay {
        let o = &self.options;
        let ds = o.speed_mps / rate_hz;
        let n = (self.length_m / ds).floor() as usize + 1;
        let mut epochs = Vec::with_capacity(n);
        let mut truth = Vec::with_capacity(n);
        let mut float_until: Option<f64> = None;
        // Pieces walked in order, without searching from the start every epoch.
        let mut piece = 0;
        let mut piece_start = 0.0;
        for i in 0..n {
            let s = i as f64 * ds;
            while piece + 1 < self.pieces.len() && s > piece_start + self.pieces[piece].0.length() {
                piece_start += self.pieces[piece].0.length();
                piece += 1;
            }
            let here = &self.pieces[piece].0;
            let (p, t) = here.at((s - piece_start).min(here.length()));
            let course = t.x.atan2(t.y).to_degrees().rem_euclid(360.0);
            let secs = i as f64 / rate_hz;
            let time_us = o.start_us + (secs * 1e6).round() as i64;
            let quality = self.quality(i, secs, rate_hz, &mut float_until);
            let sigma = match quality {
                EpochQuality::Fix(verger::nmea::Quality::RtkFloat) => {
                    o.float_noise_m.max(o.noise_m)
                }
                _ => o.noise_m,
            };
            let noisy = p + Coord {
                x: sigma * normal(o.seed, i as u64, Draw::NoiseEast),
                y: sigma * normal(o.seed, i as u64, Draw::NoiseNorth),
            };
            let (lat, lon) = self.frame.to_wgs84(p);
            let (nlat, nlon) = self.frame.to_wgs84(noisy);
            let epoch = SimEpoch {
                time_us,
                lat: nlat,
                lon: nlon,
                alt_m: o.alt_m,
                quality,
                sats: o.sats,
                hdop: o.hdop,
                speed_mps: o.speed_mps,
                course_deg: course,
                heading_deg: o.heading.then_some(course),
            };
            let mut bytes = Vec::with_capacity(256);
            nmea_out::write_epoch(&epoch, &o.style, &mut bytes);
            epochs.push(ScheduledEpoch {
                at: Duration::from_secs_f64(secs),
                bytes,
                time_us: Some(time_us),
                quality: Some(quality),
                distance_m: s,
            });
            truth.push(TruthPoint {
                time_us,
                lat,
                lon,
                course_deg: course,
                speed_mps: o.speed_mps,
                quality,
            });
        }
        Replay { epochs, truth }
    }

    /// The quality of epoch `i` at `secs` from the start: invalid in an outage, else RTK
    /// fixed or, while a flapping episode lasts, float.
    fn quality(
        &self,
        i: usize,
        secs: f64,
        rate_hz: f64,
        float_until: &mut Option<f64>,
    ) -> EpochQuality {
        let o = &self.options;
        if o.outages
            .iter()
            .any(|out| secs >= out.at_s && secs < out.at_s + out.duration_s)
        {
            return EpochQuality::Invalid;
        }
        if let Some(f) = o.flapping {
            if float_until.is_some_and(|until| secs >= until) {
                *float_until = None;
            }
            let p = f.per_minute / 60.0 / rate_hz;
            if float_until.is_none() && uniform(o.seed, i as u64, Draw::Flap) < p {
                *float_until = Some(secs + f.float_s);
            }
            if float_until.is_some() {
                return EpochQuality::Fix(verger::nmea::Quality::RtkFloat);
            }
        }
        EpochQuality::RTK_FIXED
    }
}

/// `count` straight parallel rows `length_m` long, `spacing_m` apart, running towards
/// `bearing_deg` from their first points, the first row starting at `origin` (lat, lon)
/// and the others to its right: a small orchard for scenarios and tests.
pub fn parallel_rows(
    origin: (f64, f64),
    bearing_deg: f64,
    count: usize,
    spacing_m: f64,
    length_m: f64,
) -> Vec<Row> {
    let frame = Frame::new(origin.0, origin.1);
    let (sin, cos) = bearing_deg.to_radians().sin_cos();
    let u = Coord { x: sin, y: cos };
    let v = Coord { x: cos, y: -sin };
    (0..count)
        .map(|i| {
            let start = v * (spacing_m * i as f64);
            Row {
                id: format!("row-{}", i + 1),
                block: None,
                line: geo::LineString::from(vec![
                    frame.local_to_lonlat(start),
                    frame.local_to_lonlat(start + u * length_m),
                ]),
            }
        })
        .collect()
}

fn check(o: &DriveOptions) -> Result<(), DriveError> {
    let positive = "a finite number above 0";
    let non_negative = "a finite number of 0 or more";
    let mut checks = vec![
        ("speed_mps", o.speed_mps, positive, o.speed_mps > 0.0),
        (
            "turn_radius_m",
            o.turn_radius_m,
            positive,
            o.turn_radius_m > 0.0,
        ),
        (
            "row_end_margin_m",
            o.row_end_margin_m,
            non_negative,
            o.row_end_margin_m >= 0.0,
        ),
        ("noise_m", o.noise_m, non_negative, o.noise_m >= 0.0),
        (
            "float_noise_m",
            o.float_noise_m,
            non_negative,
            o.float_noise_m >= 0.0,
        ),
        ("hdop", o.hdop, non_negative, o.hdop >= 0.0),
    ];
    if let Some(f) = o.flapping {
        checks.push((
            "flapping.per_minute",
            f.per_minute,
            non_negative,
            f.per_minute >= 0.0,
        ));
        checks.push((
            "flapping.float_s",
            f.float_s,
            non_negative,
            f.float_s >= 0.0,
        ));
    }
    for out in &o.outages {
        checks.push(("outage.at_s", out.at_s, non_negative, out.at_s >= 0.0));
        checks.push((
            "outage.duration_s",
            out.duration_s,
            non_negative,
            out.duration_s >= 0.0,
        ));
    }
    for (field, value, expected, ok) in checks {
        if !(value.is_finite() && ok) {
            return Err(DriveError::BadOption {
                field,
                expected,
                value,
            });
        }
    }
    Ok(())
}

/// The alleys as lines of trees: cross position and along-row extent (margin added).
fn alley_lines(lines: &[Line], margin: f64) -> Vec<Line> {
    let half = |i: usize, j: usize| (lines[j].c - lines[i].c) / 2.0;
    let n = lines.len();
    let mut alleys = Vec::with_capacity(n + 1);
    let (first, last) = if n == 1 {
        (SINGLE_ROW_SPACING_M / 2.0, SINGLE_ROW_SPACING_M / 2.0)
    } else {
        (half(0, 1), half(n - 2, n - 1))
    };
    let widen = |l: Line, c: f64| Line {
        c,
        lo: l.lo - margin,
        hi: l.hi + margin,
    };
    alleys.push(widen(lines[0], lines[0].c - first));
    for w in lines.windows(2) {
        let span = Line {
            c: 0.0,
            lo: w[0].lo.min(w[1].lo),
            hi: w[0].hi.max(w[1].hi),
        };
        alleys.push(widen(span, (w[0].c + w[1].c) / 2.0));
    }
    alleys.push(widen(lines[n - 1], lines[n - 1].c + last));
    alleys
}

type Pieces = Vec<(Piece, PathPart)>;

/// Each alley's straight part: where the tractor enters it and leaves it.
type Driven = Vec<(Coord<f64>, Coord<f64>)>;

/// The serpentine through `alleys` (sorted by `c`), with its turns; also each alley's
/// driven straight part (entry, exit).
fn path(
    alleys: &[Line],
    u: Coord<f64>,
    v: Coord<f64>,
    radius: f64,
    boundary: Option<&MultiPolygon<f64>>,
) -> (Pieces, Driven) {
    let at = |a: f64, c: f64| u * a + v * c;
    let mut pieces: Pieces = Vec::new();
    let mut driven = Vec::with_capacity(alleys.len());
    // Where the previous turn ended (the start of this alley).
    let mut entry: Option<Coord<f64>> = None;
    for (k, alley) in alleys.iter().enumerate() {
        let up = k % 2 == 0;
        let (a_in, a_out) = if up {
            (alley.lo, alley.hi)
        } else {
            (alley.hi, alley.lo)
        };
        let start = at(a_in, alley.c);
        if let Some(e) = entry {
            if (e - start).x.hypot((e - start).y) > 1e-9 {
                pieces.push((Piece::Line { from: e, to: start }, PathPart::Headland));
            }
        }
        let end = at(a_out, alley.c);
        pieces.push((
            Piece::Line {
                from: start,
                to: end,
            },
            PathPart::Alley(k),
        ));
        driven.push((start, end));
        let Some(next) = alleys.get(k + 1) else {
            break;
        };
        // Turn at the farther of the two alleys' ends.
        let a_turn = if up {
            a_out.max(next.hi)
        } else {
            a_out.min(next.lo)
        };
        let turn_from = at(a_turn, alley.c);
        if (turn_from - end).x.hypot((turn_from - end).y) > 1e-9 {
            pieces.push((
                Piece::Line {
                    from: end,
                    to: turn_from,
                },
                PathPart::Headland,
            ));
        }
        let forward = if up { u } else { u * -1.0 };
        let d = next.c - alley.c;
        let turn = turn_inside(turn_from, forward, v, d, radius, boundary);
        pieces.extend(turn.into_iter().map(|p| (p, PathPart::Headland)));
        entry = Some(turn_from + v * d);
    }
    (pieces, driven)
}

/// The headland turn from `e` heading `f` onto the parallel alley `d` metres along `l`:
/// a semicircle if `d >= 2 radius`, else a bulb turn of `radius`, the radius reduced
/// (down to a semicircle) while the turn leaves `boundary`.
fn turn_inside(
    e: Coord<f64>,
    f: Coord<f64>,
    l: Coord<f64>,
    d: f64,
    radius: f64,
    boundary: Option<&MultiPolygon<f64>>,
) -> Vec<Piece> {
    let mut r = radius;
    loop {
        let pieces = turn(e, f, l, d, r);
        let inside = boundary.is_none_or(|b| {
            pieces.iter().all(|p| {
                let len = p.length();
                (0..=16).all(|i| b.contains(&Point(p.at(len * f64::from(i) / 16.0).0)))
            })
        });
        if inside || 2.0 * r <= d {
            return pieces;
        }
        r = (r * 0.85).max(d / 2.0);
    }
}

/// The turn's arcs (see [`turn_inside`]). Worked out in a frame `x` along `f`, `y`
/// along `l`, with `l` to the left (counter-clockwise positive); mapped back with the
/// orientation of (`f`, `l`).
fn turn(e: Coord<f64>, f: Coord<f64>, l: Coord<f64>, d: f64, r: f64) -> Vec<Piece> {
    let orientation = (f.x * l.y - f.y * l.x).signum();
    let world = |x: f64, y: f64| e + f * x + l * y;
    let arc = |cx: f64, cy: f64, radius: f64, from: (f64, f64), sweep: f64| {
        let centre = world(cx, cy);
        let start_point = world(from.0, from.1);
        let s = start_point - centre;
        Piece::Arc {
            centre,
            radius,
            start: s.y.atan2(s.x),
            sweep: sweep * orientation,
        }
    };
    if d >= 2.0 * r {
        return vec![arc(0.0, d / 2.0, d / 2.0, (0.0, 0.0), PI)];
    }
    let h = d / 2.0 + r;
    let x2 = (4.0 * r * r - h * h).sqrt();
    // Out: clockwise around (0, -r) to the tangent point with the big arc.
    let alpha = FRAC_PI_2 - h.atan2(x2);
    let t1 = (x2 / 2.0, (d / 2.0 - r) / 2.0);
    let t2 = (x2 / 2.0, d - (d / 2.0 - r) / 2.0);
    let theta_a = (-h).atan2(-x2);
    let theta_b = h.atan2(-x2);
    vec![
        arc(0.0, -r, r, (0.0, 0.0), -alpha),
        arc(x2, d / 2.0, r, t1, theta_b - theta_a),
        arc(0.0, d + r, r, t2, -alpha),
    ]
}

/// What a draw is for.
#[derive(Clone, Copy, Debug)]
#[repr(u64)]
enum Draw {
    NoiseEast = 1,
    NoiseNorth = 2,
    Flap = 3,
}

/// A uniform draw in [0, 1) for epoch `i`.
fn uniform(seed: u64, i: u64, draw: Draw) -> f64 {
    let mut state = seed ^ (draw as u64).wrapping_mul(0xD6E8_FEB8_6659_FD93);
    let h = splitmix64(&mut state);
    state = h ^ i;
    let h = splitmix64(&mut state);
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// A standard normal draw for epoch `i` (Box–Muller).
fn normal(seed: u64, i: u64, draw: Draw) -> f64 {
    let u1 = uniform(seed, i, draw);
    let u2 = uniform(seed, i.wrapping_add(1 << 40), draw);
    (-2.0 * (1.0 - u1).ln()).sqrt() * (2.0 * PI * u2).cos()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn length(pieces: &[Piece]) -> f64 {
        pieces.iter().map(Piece::length).sum()
    }

    /// A turn ends where the next alley starts, heading the other way, and is smooth.
    #[test]
    fn turns_join_the_next_alley_smoothly() {
        let e = Coord { x: 10.0, y: 5.0 };
        for (f, l) in [
            (Coord { x: 0.0, y: 1.0 }, Coord { x: 1.0, y: 0.0 }),
            (Coord { x: 0.0, y: -1.0 }, Coord { x: 1.0, y: 0.0 }),
            (Coord { x: 0.6, y: 0.8 }, Coord { x: 0.8, y: -0.6 }),
        ] {
            for (d, r) in [(4.0, 3.0), (3.8, 3.0), (8.0, 3.0), (4.0, 1.0)] {
                let pieces = turn(e, f, l, d, r);
                let (start, t0) = pieces[0].at(0.0);
                assert!((start - e).x.hypot((start - e).y) < 1e-9);
                assert!((t0 - f).x.hypot((t0 - f).y) < 1e-9, "{t0:?} {f:?}");
                for w in pieces.windows(2) {
                    let (p, t) = w[0].at(w[0].length());
                    let (q, s) = w[1].at(0.0);
                    assert!((p - q).x.hypot((p - q).y) < 1e-9, "{p:?} {q:?}");
                    assert!((t - s).x.hypot((t - s).y) < 1e-9, "{t:?} {s:?}");
                }
                let last = pieces.last().unwrap();
                let (end, t1) = last.at(last.length());
                let want = e + l * d;
                assert!(
                    (end - want).x.hypot((end - want).y) < 1e-9,
                    "{end:?} {want:?}"
                );
                assert!((t1 + f).x.hypot((t1 + f).y) < 1e-9, "{t1:?}");
                assert!(length(&pieces) >= PI * d / 2.0 - 1e-9);
            }
        }
    }

    #[test]
    fn draws_are_deterministic_and_normal() {
        let n = 20_000;
        let xs: Vec<f64> = (0..n).map(|i| normal(7, i, Draw::NoiseEast)).collect();
        let again: Vec<f64> = (0..n).map(|i| normal(7, i, Draw::NoiseEast)).collect();
        assert_eq!(xs, again);
        let mean = xs.iter().sum::<f64>() / n as f64;
        let sd = (xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64).sqrt();
        assert!(mean.abs() < 0.03 && (sd - 1.0).abs() < 0.03, "{mean} {sd}");
    }
}
