//! Recorded tracks for the virtual receiver, told apart by their content (never by the
//! file's extension):
//!
//! | format | recognised by | replayed as |
//! |---|---|---|
//! | `verger record` file ([`verger::record::format`]) | its first line `# verger record v1`, or any `# t=SECONDS n=LEN` record header | the receiver's own bytes, each record at its arrival time |
//! | GPX | the first thing in the file is `<` and the root element is `<gpx>` | one epoch per `<trkpt>` (`lat`, `lon`, `<ele>`, `<time>` required), written by [`crate::nmea_out`] |
//! | CSV | a first line naming the columns `time`, `lat` and `lon` (`alt` optional, other columns ignored) | one epoch per row, written by [`crate::nmea_out`] |
//! | gpsd-style NMEA log | NMEA sentences, with `#` comment lines | the receiver's own bytes, one burst per receiver epoch at the receiver's epoch times ([`verger::nmea::pace`]); comment lines left out |
//! | raw NMEA log | NMEA sentences (any other bytes, e.g. UBX, are kept) | as gpsd-style |
//!
//! Anything else is refused with [`TrackError::NotATrack`], which names the file, the
//! accepted formats ([`ACCEPTED`]) and what was found. A CSV row without the header
//! is refused as such.
//!
//! NMEA-based tracks keep every epoch as the receiver sent it: an invalid or simulated
//! epoch stays invalid or simulated. Position-only tracks (GPX, CSV) carry no quality:
//! they are written with [`TrackOptions::quality`] (RTK fixed unless said otherwise),
//! speed and course from one point to the next.
//!
//! Every track also gives its truth path ([`crate::receiver::TruthPoint`]): for NMEA
//! tracks the decoded positions of the valid epochs, for position tracks every point.
//!
//! Errors name the file and the line (or GPX point, or record) at fault: an empty track,
//! times going backwards (or, for position tracks, not forwards), coordinates out of
//! range, unreadable fields.
//!
//! Pure: [`Track::parse`] takes the file's bytes; [`Track::load`] reads the file first.

mod csv;
mod gpx;
mod nmea;
mod record;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use verger::nmea::EpochOutcome;

use crate::nmea_out::{self, EpochQuality, NmeaStyle, SimEpoch};
use crate::receiver::{step, Replay, ScheduledEpoch, TruthPoint};

/// The formats accepted, in words (for error messages and docs).
pub const ACCEPTED: &str = "an NMEA 0183 log (raw, or gpsd-style with `#` comment lines), a file written by `verger record`, a GPX track with timestamps (`<trkpt lat=.. lon=..>` with `<time>`), or a CSV with the header `time,lat,lon[,alt]` and RFC 3339 times";

/// Which kind of file a track came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TrackFormat {
    /// Raw NMEA 0183 as a receiver sent it.
    Nmea,
    /// NMEA with `#` comment lines (gpsd's regression logs).
    Gpsd,
    /// A file written by `verger record` (raw bytes with arrival times).
    Record,
    /// GPX 1.0/1.1 track points with timestamps.
    Gpx,
    /// CSV `time,lat,lon[,alt]`.
    Csv,
}

impl TrackFormat {
    /// Whether the track is the receiver's own bytes (replayed as they are), as opposed
    /// to positions written by the NMEA writer.
    pub fn is_nmea(self) -> bool {
        matches!(
            self,
            TrackFormat::Nmea | TrackFormat::Gpsd | TrackFormat::Record
        )
    }
}

impl fmt::Display for TrackFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TrackFormat::Nmea => "NMEA log",
            TrackFormat::Gpsd => "gpsd-style NMEA log",
            TrackFormat::Record => "`verger record` file",
            TrackFormat::Gpx => "GPX",
            TrackFormat::Csv => "CSV",
        })
    }
}

/// Where in a file a problem is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// A line, from 1.
    Line(usize),
    /// A GPX track point (from 1, in file order) and its line.
    Point {
        /// The point's number.
        index: usize,
        /// Its line.
        line: usize,
    },
    /// A record of a `verger record` file, from 1.
    Record(usize),
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Place::Line(l) => write!(f, "line {l}"),
            Place::Point { index, line } => write!(f, "point {index} (line {line})"),
            Place::Record(r) => write!(f, "record {r}"),
        }
    }
}

/// What is wrong at a [`Place`].
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum Problem {
    /// A required field is missing or empty.
    #[error("no `{0}`")]
    Missing(&'static str),
    /// A field that is not a finite number.
    #[error("`{field}` is not a number: `{text}`")]
    BadNumber {
        /// The field.
        field: &'static str,
        /// What it holds.
        text: String,
    },
    /// A time that is not RFC 3339.
    #[error("`time` is not an RFC 3339 time (e.g. 2025-04-15T08:00:00Z): `{0}`")]
    BadTime(String),
    /// A coordinate out of its range.
    #[error("`{field}` {value} is out of range ({range})")]
    OutOfRange {
        /// `lat` or `lon`.
        field: &'static str,
        /// The value.
        value: f64,
        /// The valid range, in words.
        range: &'static str,
    },
    /// A time before (or, for positions, equal to) the previous one.
    #[error("time {time} is not after the previous {previous}: times must go forwards")]
    TimeBackwards {
        /// This time, RFC 3339.
        time: String,
        /// The previous time, RFC 3339.
        previous: String,
    },
    /// CSV data without the header line.
    #[error("a CSV row without the header line `time,lat,lon[,alt]` (the header is required)")]
    NoHeader,
    /// A GPX file that is not well-formed XML.
    #[error("not well-formed XML: {0}")]
    Xml(String),
}

/// Why a track cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TrackError {
    /// The file cannot be read.
    #[error("{}: cannot read the track: {source}", file.display())]
    Read {
        /// The file.
        file: PathBuf,
        /// The system's error.
        source: std::io::Error,
    },
    /// The file is none of the accepted formats.
    #[error("{}: not a track: expected {ACCEPTED}; found {found}", file.display())]
    NotATrack {
        /// The file.
        file: PathBuf,
        /// What it holds instead, in words (e.g. "line 1: `hello`").
        found: String,
    },
    /// A track of a known format with nothing to replay in it.
    #[error("{}: {format} with no {what}: the track is empty", file.display())]
    Empty {
        /// The file.
        file: PathBuf,
        /// Its format.
        format: TrackFormat,
        /// What was expected (e.g. "receiver epoch").
        what: &'static str,
    },
    /// A problem at a place in the file.
    #[error("{}: {format}: {place}: {problem}", file.display())]
    At {
        /// The file.
        file: PathBuf,
        /// Its format.
        format: TrackFormat,
        /// Where.
        place: Place,
        /// What.
        problem: Problem,
    },
}

/// A point of a position-only track (GPX, CSV).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrackPoint {
    /// UTC, microseconds since 1970-01-01T00:00:00Z.
    pub time_us: i64,
    /// Latitude, degrees.
    pub lat: f64,
    /// Longitude, degrees.
    pub lon: f64,
    /// Altitude, metres, if given.
    pub alt_m: Option<f64>,
}

/// A burst of receiver bytes of an NMEA-based track.
#[derive(Clone, Debug, PartialEq)]
struct Burst {
    /// Offset from the track's start (receiver time, or arrival time for records).
    at: Duration,
    /// The bytes, verbatim.
    bytes: Vec<u8>,
    /// Where it starts in the file.
    place: Place,
    /// The last receiver epoch it completed, decoded by verger's decoder.
    outcome: Option<EpochOutcome>,
}

#[derive(Clone, Debug, PartialEq)]
enum Body {
    Nmea(Vec<Burst>),
    Points(Vec<TrackPoint>),
}

/// A loaded track (see the module docs).
#[derive(Clone, Debug, PartialEq)]
pub struct Track {
    file: PathBuf,
    format: TrackFormat,
    body: Body,
}

/// How position-only tracks become epochs (NMEA-based tracks ignore it).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrackOptions {
    /// The quality written for every point (`--track-quality`), RTK fixed by default.
    pub quality: EpochQuality,
    /// How the sentences are written.
    pub style: NmeaStyle,
    /// Satellites written.
    pub sats: u32,
    /// HDOP written.
    pub hdop: f64,
    /// Altitude written for points without one, metres.
    pub default_alt_m: f64,
    /// Write an `HDT` heading (equal to the course), as a dual-antenna receiver.
    pub heading: bool,
}

impl Default for TrackOptions {
    /// RTK fixed, 14 satellites, HDOP 0.8, 100 m, no heading.
    fn default() -> Self {
        TrackOptions {
            quality: EpochQuality::RTK_FIXED,
            style: NmeaStyle::default(),
            sats: 14,
            hdop: 0.8,
            default_alt_m: 100.0,
            heading: false,
        }
    }
}

impl Track {
    /// Reads and parses `path` (see [`Track::parse`]).
    pub fn load(path: &Path) -> Result<Track, TrackError> {
        let bytes = std::fs::read(path).map_err(|source| TrackError::Read {
            file: path.to_path_buf(),
            source,
        })?;
        Track::parse(path, &bytes)
    }

    /// Parses the bytes of a track file; `file` names it in errors. Never panics,
    /// whatever the bytes.
    pub fn parse(file: &Path, bytes: &[u8]) -> Result<Track, TrackError> {
        let text = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let Some(start) = text.iter().position(|b| !b.is_ascii_whitespace()) else {
            return Err(not_a_track(file, "an empty file".into()));
        };
        let (format, body) = if text[start] == b'<' {
            (TrackFormat::Gpx, Body::Points(gpx::parse(file, text)?))
        } else if record::is_record(text) {
            (TrackFormat::Record, Body::Nmea(record::parse(file, text)?))
        } else if let Some(points) = csv::parse(file, text)? {
            (TrackFormat::Csv, Body::Points(points))
        } else if let Some((format, bursts)) = nmea::parse(file, text)? {
            (format, Body::Nmea(bursts))
        } else {
            return Err(not_a_track(file, describe(text)));
        };
        Ok(Track {
            file: file.to_path_buf(),
            format,
            body,
        })
    }

    /// The file it was read from.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// Its format.
    pub fn format(&self) -> TrackFormat {
        self.format
    }

    /// Bursts of bytes (NMEA-based) or points (GPX, CSV) it holds.
    pub fn len(&self) -> usize {
        match &self.body {
            Body::Nmea(b) => b.len(),
            Body::Points(p) => p.len(),
        }
    }

    /// Never true: an empty track is refused when parsed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The points of a position-only track (empty for NMEA-based tracks).
    pub fn points(&self) -> &[TrackPoint] {
        match &self.body {
            Body::Points(p) => p,
            Body::Nmea(_) => &[],
        }
    }

    /// What the virtual receiver sends, and the truth path.
    pub fn replay(&self, options: &TrackOptions) -> Replay {
        match &self.body {
            Body::Nmea(bursts) => replay_nmea(bursts),
            Body::Points(points) => replay_points(points, options),
        }
    }
}

fn not_a_track(file: &Path, found: String) -> TrackError {
    TrackError::NotATrack {
        file: file.to_path_buf(),
        found,
    }
}

/// What a file that is no track holds, in a few words.
fn describe(text: &[u8]) -> String {
    let line = text
        .split(|&b| b == b'\n')
        .enumerate()
        .find(|(_, l)| l.iter().any(|b| !b.is_ascii_whitespace()));
    let Some((i, line)) = line else {
        return "only blank lines".into();
    };
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    match std::str::from_utf8(line) {
        Ok(s) if !s.chars().any(|c| c.is_control() && c != '\t') => {
            let shown: String = s.chars().take(60).collect();
            let more = if shown.len() < s.len() { "..." } else { "" };
            format!("line {}: `{shown}{more}`", i + 1)
        }
        _ => {
            let head: Vec<String> = text.iter().take(8).map(|b| format!("{b:02X}")).collect();
            format!("binary data (first bytes {})", head.join(" "))
        }
    }
}

/// Bursts to epochs: each at its offset; the decoded outcomes give the GNSS time, the
/// quality and the truth.
fn replay_nmea(bursts: &[Burst]) -> Replay {
    let mut epochs = Vec::with_capacity(bursts.len());
    let mut truth: Vec<TruthPoint> = Vec::new();
    let mut distance = 0.0;
    for burst in bursts {
        let (time_us, quality) = match &burst.outcome {
            Some(EpochOutcome::Fix(fix)) => {
                let time_us = micros(fix.time.unix_nanos());
                let quality = EpochQuality::Fix(fix.quality);
                let prev = truth.last();
                let (d, bearing) = prev.map_or((0.0, None), |p| {
                    let (d, b) = step((p.lat, p.lon), (fix.lat, fix.lon));
                    (d, (d > 0.01).then_some(b))
                });
                distance += d;
                let dt = prev.map_or(0.0, |p| (time_us - p.time_us) as f64 / 1e6);
                truth.push(TruthPoint {
                    time_us,
                    lat: fix.lat,
                    lon: fix.lon,
                    course_deg: fix
                        .course_deg
                        .or(bearing)
                        .or(prev.map(|p| p.course_deg))
                        .unwrap_or(0.0),
                    speed_mps: fix.speed_mps.unwrap_or(if dt > 0.0 { d / dt } else { 0.0 }),
                    quality,
                });
                (Some(time_us), Some(quality))
            }
            Some(EpochOutcome::NoFix { reason, time }) => {
                let quality = if *reason == verger::nmea::NoFixReason::Simulation {
                    EpochQuality::Simulated
                } else {
                    EpochQuality::Invalid
                };
                (time.map(|t| micros(t.unix_nanos())), Some(quality))
            }
            None => (None, None),
        };
        epochs.push(ScheduledEpoch {
            at: burst.at,
            bytes: burst.bytes.clone(),
            time_us,
            quality,
            distance_m: distance,
        });
    }
    Replay { epochs, truth }
}

/// Runs the bursts through verger's decoder, attaching to each burst the last receiver
/// epoch it completed. The decoder sees burst `i` arriving at `i` seconds: far apart
/// enough that every burst's epoch is closed before the next burst comes, so each
/// epoch's burst is known exactly. Returns the number of sentences decoded (0: this is
/// not NMEA at all); a track with sentences but no epoch is [`TrackError::Empty`].
///
/// Times going backwards are kept: real logs have them (logs joined end to end, e.g.
/// `gpsd__bt451.log`), and the receiver's bytes are replayed as they are.
fn decode(file: &Path, format: TrackFormat, bursts: &mut [Burst]) -> Result<u64, TrackError> {
    use verger::nmea::{Decoder, DecoderConfig};
    const SPACING_US: u64 = 1_000_000;
    let mut decoder = Decoder::new(DecoderConfig::default());
    let mut out = Vec::new();
    let mut epochs = 0;
    for i in 0..bursts.len() {
        let at = i as u64 * SPACING_US;
        decoder.push_into(&bursts[i].bytes, at, &mut out);
        if let Some(deadline) = decoder.next_deadline() {
            out.extend(decoder.poll(deadline));
        }
        for epoch in out.drain(..) {
            let owner = usize::try_from(epoch.first_arrival / SPACING_US).unwrap_or(i);
            bursts[owner.min(i)].outcome = Some(epoch.outcome);
            epochs += 1;
        }
    }
    let sentences = decoder.counters().sentences;
    if sentences > 0 && epochs == 0 {
        return Err(TrackError::Empty {
            file: file.to_path_buf(),
            format,
            what: "receiver epoch (GGA, RMC or GNS)",
        });
    }
    Ok(sentences)
}

fn micros(nanos: i64) -> i64 {
    nanos.div_euclid(1000)
}

/// Points to epochs written by the NMEA writer: course and speed towards the next point
/// (the last point keeps the last leg's).
fn replay_points(points: &[TrackPoint], options: &TrackOptions) -> Replay {
    let t0 = points.first().map_or(0, |p| p.time_us);
    let mut epochs = Vec::with_capacity(points.len());
    let mut truth = Vec::with_capacity(points.len());
    let mut distance = 0.0;
    let mut course = 0.0;
    let mut speed = 0.0;
    for (i, p) in points.iter().enumerate() {
        if let Some(next) = points.get(i + 1) {
            let (d, bearing) = step((p.lat, p.lon), (next.lat, next.lon));
            if d > 0.001 {
                course = bearing;
            }
            speed = d / ((next.time_us - p.time_us) as f64 / 1e6);
        }
        if i > 0 {
            distance += step((points[i - 1].lat, points[i - 1].lon), (p.lat, p.lon)).0;
        }
        let epoch = SimEpoch {
            time_us: p.time_us,
            lat: p.lat,
            lon: p.lon,
            alt_m: p.alt_m.unwrap_or(options.default_alt_m),
            quality: options.quality,
            sats: options.sats,
            hdop: options.hdop,
            speed_mps: speed,
            course_deg: course,
            heading_deg: options.heading.then_some(course),
        };
        let mut bytes = Vec::with_capacity(256);
        nmea_out::write_epoch(&epoch, &options.style, &mut bytes);
        epochs.push(ScheduledEpoch {
            at: Duration::from_micros(u64::try_from(p.time_us - t0).unwrap_or(0)),
            bytes,
            time_us: Some(p.time_us),
            quality: Some(options.quality),
            distance_m: distance,
        });
        truth.push(TruthPoint {
            time_us: p.time_us,
            lat: p.lat,
            lon: p.lon,
            course_deg: course,
            speed_mps: speed,
            quality: options.quality,
        });
    }
    Replay { epochs, truth }
}

/// The text of one point's fields as a format found them (`None`: absent).
#[derive(Clone, Copy, Debug, Default)]
struct PointText<'a> {
    time: Option<&'a str>,
    lat: Option<&'a str>,
    lon: Option<&'a str>,
    /// The altitude field's name in the format, and its text.
    alt: Option<(&'static str, &'a str)>,
}

/// Reads one point of a GPX or CSV track and checks it against the one before: the
/// rules both formats share (coordinates in range, times going forwards).
fn read_point(text: PointText<'_>, previous: Option<&TrackPoint>) -> Result<TrackPoint, Problem> {
    let coordinate = |field: &'static str, text: Option<&str>, max: f64, range: &'static str| {
        let value = number(field, text.unwrap_or(""))?.ok_or(Problem::Missing(field))?;
        if value.abs() > max {
            return Err(Problem::OutOfRange {
                field,
                value,
                range,
            });
        }
        Ok(value)
    };
    let lat = coordinate("lat", text.lat, 90.0, "-90 to 90")?;
    let lon = coordinate("lon", text.lon, 180.0, "-180 to 180")?;
    let time_us = time(text.time.unwrap_or(""))?;
    let alt_m = match text.alt {
        Some((field, t)) => number(field, t)?,
        None => None,
    };
    if let Some(prev) = previous.filter(|p| time_us <= p.time_us) {
        return Err(Problem::TimeBackwards {
            time: rfc3339(time_us),
            previous: rfc3339(prev.time_us),
        });
    }
    Ok(TrackPoint {
        time_us,
        lat,
        lon,
        alt_m,
    })
}

/// The points of a GPX or CSV track, or [`TrackError::Empty`] when there are none.
fn non_empty(
    file: &Path,
    format: TrackFormat,
    points: Vec<TrackPoint>,
    what: &'static str,
) -> Result<Vec<TrackPoint>, TrackError> {
    if points.is_empty() {
        return Err(TrackError::Empty {
            file: file.to_path_buf(),
            format,
            what,
        });
    }
    Ok(points)
}

fn rfc3339(time_us: i64) -> String {
    verger::civil::rfc3339_from_unix_micros(time_us, 3)
}

/// A number field: `None` when empty.
fn number(field: &'static str, text: &str) -> Result<Option<f64>, Problem> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(Some(v)),
        _ => Err(Problem::BadNumber {
            field,
            text: shorten(text),
        }),
    }
}

/// An RFC 3339 time field as microseconds (sub-microsecond digits dropped).
fn time(text: &str) -> Result<i64, Problem> {
    let text = text.trim();
    if text.is_empty() {
        return Err(Problem::Missing("time"));
    }
    verger::civil::parse_rfc3339(text)
        .and_then(|n| i64::try_from(n.div_euclid(1000)).ok())
        .ok_or_else(|| Problem::BadTime(shorten(text)))
}

fn shorten(text: &str) -> String {
    if text.chars().count() > 40 {
        format!("{}...", text.chars().take(37).collect::<String>())
    } else {
        text.to_owned()
    }
}

#[cfg(test)]
mod tests;
