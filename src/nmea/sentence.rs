//! Sentence parsers: GGA, RMC, VTG, GNS, GST, HDT, THS and ZDA from any talker.
//!
//! Rules enforced here:
//! - The address is a two-letter talker (GP, GN, GL, GA, GB, GQ, GI, BD, ...) and a
//!   three-letter type. Proprietary (`$P...`) and other types (GSA, GSV, GLL, TXT, ...)
//!   are [`Sentence::Other`]: counted by the caller, ignored, never an error.
//! - Empty fields are `None`. A field that is present but malformed (not a number, minutes
//!   ≥ 60, latitude beyond 90°, hour 24, 31 February, hemisphere letter missing, ...) makes
//!   the whole sentence a [`ParseError`] (which still carries the sentence's time when it
//!   could be read, so the epoch it belongs to can be refused).
//! - A sentence must reach its classification field (GGA quality, RMC status, GNS mode,
//!   ...). Without a checksum a truncated line is indistinguishable from a short sentence,
//!   so then the full standard field count is required.
//! - Latitude and longitude (`ddmm.mmmmmmmm`) are read digit by digit into integers and
//!   converted once, so the 7–8 decimals of minutes of RTK receivers survive (error
//!   ~1e-15°); no text-to-float round trip through `str::parse`.
//! - No allocation: fields are slices of the framer's buffer.

/// Time of day as sent by the receiver.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TimeOfDay {
    /// Nanoseconds since midnight (a leap second 60 gives up to 86 400 s + fraction).
    pub nanos: u64,
    /// Number of decimals the receiver sent.
    pub decimals: u8,
}

/// Nanoseconds in a day.
pub const DAY_NANOS: u64 = 86_400_000_000_000;

/// A calendar date (proleptic Gregorian, UTC).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    /// Calendar year.
    pub year: u16,
    /// 1..=12.
    pub month: u8,
    /// 1..=31.
    pub day: u8,
}

impl Date {
    /// A valid date, or `None`.
    pub fn new(year: u16, month: u8, day: u8) -> Option<Date> {
        let ok = (1..=12).contains(&month) && day >= 1 && day <= days_in_month(year, month);
        ok.then_some(Date { year, month, day })
    }

    /// The day after.
    pub fn next_day(self) -> Date {
        if self.day < days_in_month(self.year, self.month) {
            Date {
                day: self.day + 1,
                ..self
            }
        } else if self.month < 12 {
            Date {
                month: self.month + 1,
                day: 1,
                ..self
            }
        } else {
            Date {
                year: self.year.saturating_add(1),
                month: 1,
                day: 1,
            }
        }
    }
}

fn days_in_month(year: u16, month: u8) -> u8 {
    crate::civil::days_in_month(i64::from(year), month)
}

/// The sentence types this module decodes (talker ignored).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Fix data.
    Gga,
    /// Recommended minimum.
    Rmc,
    /// Course and speed.
    Vtg,
    /// Multi-constellation fix data.
    Gns,
    /// Error statistics.
    Gst,
    /// True heading.
    Hdt,
    /// True heading and status.
    Ths,
    /// Time and date.
    Zda,
}

impl Kind {
    /// Number of kinds (for per-kind tables).
    pub const COUNT: usize = 8;

    /// Index in `0..COUNT`.
    pub fn index(self) -> usize {
        self as usize
    }

    fn from_type(t: &[u8]) -> Option<Kind> {
        Some(match t {
            b"GGA" => Kind::Gga,
            b"RMC" => Kind::Rmc,
            b"VTG" => Kind::Vtg,
            b"GNS" => Kind::Gns,
            b"GST" => Kind::Gst,
            b"HDT" => Kind::Hdt,
            b"THS" => Kind::Ths,
            b"ZDA" => Kind::Zda,
            _ => return None,
        })
    }

    /// Fields (address included) needed with a checksum, and without one.
    fn min_fields(self) -> (usize, usize) {
        match self {
            Kind::Gga => (7, 15),
            Kind::Rmc => (3, 12),
            Kind::Vtg => (2, 5),
            Kind::Gns => (7, 13),
            Kind::Gst => (2, 9),
            Kind::Hdt => (2, 3),
            Kind::Ths => (3, 3),
            Kind::Zda => (2, 7),
        }
    }
}

/// GGA: fix data.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct Gga {
    /// UTC time of day.
    pub time: Option<TimeOfDay>,
    /// Latitude, degrees (north positive).
    pub lat: Option<f64>,
    /// Longitude, degrees (east positive).
    pub lon: Option<f64>,
    /// 0 invalid, 1 GPS, 2 DGPS, 3 PPS, 4 RTK fixed, 5 RTK float, 6 estimated,
    /// 7 manual, 8 simulation.
    pub quality: Option<u8>,
    /// Satellites used.
    pub sats: Option<u32>,
    /// Horizontal dilution of precision.
    pub hdop: Option<f64>,
    /// Altitude above mean sea level, metres.
    pub alt_m: Option<f64>,
    /// Age of differential corrections, seconds.
    pub diff_age_s: Option<f64>,
}

/// RMC: recommended minimum data.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct Rmc {
    /// UTC time of day.
    pub time: Option<TimeOfDay>,
    /// `A` valid, `V` void.
    pub status: Option<u8>,
    /// Latitude, degrees (north positive).
    pub lat: Option<f64>,
    /// Longitude, degrees (east positive).
    pub lon: Option<f64>,
    /// Speed over ground, knots.
    pub speed_kn: Option<f64>,
    /// Course over ground, degrees true.
    pub course_deg: Option<f64>,
    /// UTC date.
    pub date: Option<Date>,
    /// NMEA 2.3+ mode indicator (A D E F M N P R S).
    pub mode: Option<u8>,
}

/// VTG: course and speed over ground.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct Vtg {
    /// Course over ground, degrees true.
    pub course_deg: Option<f64>,
    /// Speed over ground, knots.
    pub speed_kn: Option<f64>,
    /// Speed over ground, km/h.
    pub speed_kmh: Option<f64>,
    /// NMEA 2.3+ mode indicator; `N` means the data are not valid.
    pub mode: Option<u8>,
}

/// GNS mode indicators, one per constellation (GPS, GLONASS, Galileo, BeiDou, QZSS, NavIC
/// in NMEA 4.11 order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct GnsModes {
    chars: [u8; GnsModes::MAX],
    len: u8,
}

impl GnsModes {
    /// Most mode characters accepted.
    pub const MAX: usize = 16;

    /// The mode characters.
    pub fn as_bytes(&self) -> &[u8] {
        &self.chars[..usize::from(self.len)]
    }

    /// From a field's bytes (`None` if too long or not letters).
    pub fn from_field(f: &[u8]) -> Option<GnsModes> {
        if f.len() > Self::MAX || !f.iter().all(u8::is_ascii_uppercase) {
            return None;
        }
        let mut m = GnsModes::default();
        m.chars[..f.len()].copy_from_slice(f);
        m.len = f.len() as u8;
        Some(m)
    }
}

/// GNS: multi-constellation fix data.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct Gns {
    /// UTC time of day.
    pub time: Option<TimeOfDay>,
    /// Latitude, degrees (north positive).
    pub lat: Option<f64>,
    /// Longitude, degrees (east positive).
    pub lon: Option<f64>,
    /// Mode indicator per constellation.
    pub modes: GnsModes,
    /// Satellites used.
    pub sats: Option<u32>,
    /// Horizontal dilution of precision.
    pub hdop: Option<f64>,
    /// Altitude above mean sea level, metres.
    pub alt_m: Option<f64>,
    /// Age of differential corrections, seconds.
    pub diff_age_s: Option<f64>,
}

/// GST: pseudorange error statistics (1-sigma, metres).
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct Gst {
    /// UTC time of day.
    pub time: Option<TimeOfDay>,
    /// 1-sigma latitude error, metres.
    pub lat_err_m: Option<f64>,
    /// 1-sigma longitude error, metres.
    pub lon_err_m: Option<f64>,
    /// 1-sigma altitude error, metres.
    pub alt_err_m: Option<f64>,
}

/// HDT: true heading.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct Hdt {
    /// Heading, degrees true.
    pub heading_deg: Option<f64>,
}

/// THS: true heading and status.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct Ths {
    /// Heading, degrees true.
    pub heading_deg: Option<f64>,
    /// A autonomous, E estimated, M manual, S simulator, V not valid.
    pub mode: Option<u8>,
}

/// ZDA: time and date.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct Zda {
    /// UTC time of day.
    pub time: Option<TimeOfDay>,
    /// UTC date.
    pub date: Option<Date>,
}

/// A decoded sentence.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Sentence {
    /// GGA.
    Gga(Gga),
    /// RMC.
    Rmc(Rmc),
    /// VTG.
    Vtg(Vtg),
    /// GNS.
    Gns(Gns),
    /// GST.
    Gst(Gst),
    /// HDT.
    Hdt(Hdt),
    /// THS.
    Ths(Ths),
    /// ZDA.
    Zda(Zda),
    /// Any other type (proprietary, GSA, GSV, GLL, TXT, AIS, ...): ignored.
    Other,
}

impl Sentence {
    /// The kind, `None` for [`Sentence::Other`].
    pub fn kind(&self) -> Option<Kind> {
        Some(match self {
            Sentence::Gga(_) => Kind::Gga,
            Sentence::Rmc(_) => Kind::Rmc,
            Sentence::Vtg(_) => Kind::Vtg,
            Sentence::Gns(_) => Kind::Gns,
            Sentence::Gst(_) => Kind::Gst,
            Sentence::Hdt(_) => Kind::Hdt,
            Sentence::Ths(_) => Kind::Ths,
            Sentence::Zda(_) => Kind::Zda,
            Sentence::Other => return None,
        })
    }

    /// The UTC time of day the sentence carries, if any.
    pub fn time(&self) -> Option<TimeOfDay> {
        match self {
            Sentence::Gga(s) => s.time,
            Sentence::Rmc(s) => s.time,
            Sentence::Gns(s) => s.time,
            Sentence::Gst(s) => s.time,
            Sentence::Zda(s) => s.time,
            Sentence::Vtg(_) | Sentence::Hdt(_) | Sentence::Ths(_) | Sentence::Other => None,
        }
    }
}

/// A sentence of a known type whose fields did not parse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// The sentence type.
    pub kind: Kind,
    /// Its time of day, when that field at least was readable.
    pub time: Option<TimeOfDay>,
}

/// A field that is present but malformed.
#[derive(Debug)]
struct Bad;

type Field<T> = Result<Option<T>, Bad>;

const MAX_FIELDS: usize = 24;

/// The comma-separated fields of a body, address first (no allocation).
struct Fields<'a> {
    f: [&'a [u8]; MAX_FIELDS],
    n: usize,
}

impl<'a> Fields<'a> {
    fn split(body: &'a [u8]) -> Fields<'a> {
        let mut f: [&[u8]; MAX_FIELDS] = [&[]; MAX_FIELDS];
        let mut n = 0;
        for field in body.split(|&b| b == b',') {
            if n == MAX_FIELDS {
                break;
            }
            f[n] = field;
            n += 1;
        }
        Fields { f, n }
    }

    /// Field `i`, empty if absent.
    fn get(&self, i: usize) -> &'a [u8] {
        if i < self.n {
            self.f[i]
        } else {
            &[]
        }
    }
}

/// Parses a sentence body (between `$` and `*`); `checksummed` says whether the framer
/// verified a checksum (without one the full field count is required).
pub fn parse(body: &[u8], checksummed: bool) -> Result<Sentence, ParseError> {
    let f = Fields::split(body);
    let addr = f.get(0);
    if addr.len() != 5 || addr[0] == b'P' || !addr.iter().all(u8::is_ascii_uppercase) {
        return Ok(Sentence::Other);
    }
    let Some(kind) = Kind::from_type(&addr[2..]) else {
        return Ok(Sentence::Other);
    };
    let timed = matches!(
        kind,
        Kind::Gga | Kind::Rmc | Kind::Gns | Kind::Gst | Kind::Zda
    );
    let time = if timed { tod(f.get(1)) } else { Ok(None) };
    let readable_time = time.as_ref().ok().copied().flatten();
    let err = |time| ParseError { kind, time };
    let (min_ck, min_raw) = kind.min_fields();
    if f.n < if checksummed { min_ck } else { min_raw } {
        return Err(err(readable_time));
    }
    let time = time.map_err(|_| err(None))?;
    let parsed = match kind {
        Kind::Gga => gga(time, &f).map(Sentence::Gga),
        Kind::Rmc => rmc(time, &f).map(Sentence::Rmc),
        Kind::Vtg => vtg(&f).map(Sentence::Vtg),
        Kind::Gns => gns(time, &f).map(Sentence::Gns),
        Kind::Gst => gst(time, &f).map(Sentence::Gst),
        Kind::Hdt => angle(f.get(1)).map(|heading_deg| Sentence::Hdt(Hdt { heading_deg })),
        Kind::Ths => ths(&f).map(Sentence::Ths),
        Kind::Zda => zda(time, &f).map(Sentence::Zda),
    };
    parsed.map_err(|_| err(time))
}

fn gga(time: Option<TimeOfDay>, f: &Fields<'_>) -> Result<Gga, Bad> {
    let (lat, lon) = position(f.get(2), f.get(3), f.get(4), f.get(5))?;
    Ok(Gga {
        time,
        lat,
        lon,
        quality: uint(f.get(6))?.map(|q| q.min(255) as u8),
        sats: uint(f.get(7))?,
        hdop: decimal(f.get(8))?,
        alt_m: decimal(f.get(9))?,
        diff_age_s: decimal(f.get(13))?,
    })
}

fn rmc(time: Option<TimeOfDay>, f: &Fields<'_>) -> Result<Rmc, Bad> {
    let (lat, lon) = position(f.get(3), f.get(4), f.get(5), f.get(6))?;
    Ok(Rmc {
        time,
        status: letter(f.get(2))?,
        lat,
        lon,
        speed_kn: non_negative(f.get(7))?,
        course_deg: angle(f.get(8))?,
        date: ddmmyy(f.get(9))?,
        mode: letter(f.get(12))?,
    })
}

fn vtg(f: &Fields<'_>) -> Result<Vtg, Bad> {
    // NMEA 2.3+: course,T,course,M,speed,N,speed,K,mode. Older: course,course,speed,speed.
    if f.get(2) == b"T" || (f.n >= 9 && f.get(2).is_empty()) {
        Ok(Vtg {
            course_deg: angle(f.get(1))?,
            speed_kn: non_negative(f.get(5))?,
            speed_kmh: non_negative(f.get(7))?,
            mode: letter(f.get(9))?,
        })
    } else {
        Ok(Vtg {
            course_deg: angle(f.get(1))?,
            speed_kn: non_negative(f.get(3))?,
            speed_kmh: non_negative(f.get(4))?,
            mode: None,
        })
    }
}

fn gns(time: Option<TimeOfDay>, f: &Fields<'_>) -> Result<Gns, Bad> {
    let (lat, lon) = position(f.get(2), f.get(3), f.get(4), f.get(5))?;
    Ok(Gns {
        time,
        lat,
        lon,
        modes: GnsModes::from_field(f.get(6)).ok_or(Bad)?,
        sats: uint(f.get(7))?,
        hdop: decimal(f.get(8))?,
        alt_m: decimal(f.get(9))?,
        diff_age_s: decimal(f.get(11))?,
    })
}

fn gst(time: Option<TimeOfDay>, f: &Fields<'_>) -> Result<Gst, Bad> {
    Ok(Gst {
        time,
        lat_err_m: non_negative(f.get(6))?,
        lon_err_m: non_negative(f.get(7))?,
        alt_err_m: non_negative(f.get(8))?,
    })
}

fn ths(f: &Fields<'_>) -> Result<Ths, Bad> {
    Ok(Ths {
        heading_deg: angle(f.get(1))?,
        mode: letter(f.get(2))?,
    })
}

fn zda(time: Option<TimeOfDay>, f: &Fields<'_>) -> Result<Zda, Bad> {
    let (d, m, y) = (uint(f.get(2))?, uint(f.get(3))?, uint(f.get(4))?);
    let date = match (d, m, y) {
        (None, None, None) => None,
        (Some(d), Some(m), Some(y)) if (1970..=2199).contains(&y) && d < 256 && m < 256 => {
            Some(Date::new(y as u16, m as u8, d as u8).ok_or(Bad)?)
        }
        _ => return Err(Bad),
    };
    Ok(Zda { time, date })
}

/// One letter, or empty.
fn letter(f: &[u8]) -> Field<u8> {
    match f {
        [] => Ok(None),
        [c] if c.is_ascii_alphabetic() => Ok(Some(*c)),
        _ => Err(Bad),
    }
}

/// Unsigned integer digits.
fn uint(f: &[u8]) -> Field<u32> {
    if f.is_empty() {
        return Ok(None);
    }
    if f.len() > 9 || !f.iter().all(u8::is_ascii_digit) {
        return Err(Bad);
    }
    Ok(Some(
        f.iter().fold(0u32, |a, &d| a * 10 + u32::from(d - b'0')),
    ))
}

/// Digits before and after the point: (integer part, fraction digits as an integer, number
/// of fraction digits kept). At most 18 integer digits; fraction digits beyond 18 are
/// dropped (they are below any receiver's precision).
fn digits(f: &[u8]) -> Result<(u64, u64, u32), Bad> {
    let (int, frac) = match f.iter().position(|&b| b == b'.') {
        Some(p) => (&f[..p], &f[p + 1..]),
        None => (f, &f[f.len()..]),
    };
    if (int.is_empty() && frac.is_empty()) || int.len() > 18 {
        return Err(Bad);
    }
    let mut i = 0u64;
    for &d in int {
        if !d.is_ascii_digit() {
            return Err(Bad);
        }
        i = i * 10 + u64::from(d - b'0');
    }
    let mut fr = 0u64;
    let mut k = 0u32;
    for &d in frac {
        if !d.is_ascii_digit() {
            return Err(Bad);
        }
        if k < 18 {
            fr = fr * 10 + u64::from(d - b'0');
            k += 1;
        }
    }
    Ok((i, fr, k))
}

const POW10: [f64; 19] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18,
];

/// A plain decimal number: optional sign, digits, optional point and digits.
fn decimal(f: &[u8]) -> Field<f64> {
    let (neg, rest) = match f {
        [] => return Ok(None),
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        _ => (false, f),
    };
    let (i, fr, k) = digits(rest)?;
    let v = i as f64 + fr as f64 / POW10[k as usize];
    Ok(Some(if neg { -v } else { v }))
}

fn non_negative(f: &[u8]) -> Field<f64> {
    match decimal(f)? {
        Some(v) if v < 0.0 => Err(Bad),
        v => Ok(v),
    }
}

/// An angle in degrees, 0..=360.
fn angle(f: &[u8]) -> Field<f64> {
    match non_negative(f)? {
        Some(v) if v > 360.0 => Err(Bad),
        v => Ok(v),
    }
}

/// `hhmmss[.s...]`.
fn tod(f: &[u8]) -> Field<TimeOfDay> {
    if f.is_empty() {
        return Ok(None);
    }
    if f.len() < 6 || !f[..6].iter().all(u8::is_ascii_digit) {
        return Err(Bad);
    }
    let two = |i: usize| u64::from(f[i] - b'0') * 10 + u64::from(f[i + 1] - b'0');
    let (h, m, s) = (two(0), two(2), two(4));
    if h > 23 || m > 59 || s > 60 {
        return Err(Bad);
    }
    let mut nanos = 0u64;
    let mut decimals = 0u8;
    match &f[6..] {
        [] => {}
        [b'.', frac @ ..] if frac.len() <= 9 && frac.iter().all(u8::is_ascii_digit) => {
            for &d in frac {
                nanos = nanos * 10 + u64::from(d - b'0');
            }
            decimals = frac.len() as u8;
            nanos *= 10u64.pow(9 - u32::from(decimals));
        }
        _ => return Err(Bad),
    }
    Ok(Some(TimeOfDay {
        nanos: ((h * 60 + m) * 60 + s) * 1_000_000_000 + nanos,
        decimals,
    }))
}

/// `ddmmyy`; two-digit years 80..99 are 1980..1999, the rest 2000..2079.
fn ddmmyy(f: &[u8]) -> Field<Date> {
    if f.is_empty() {
        return Ok(None);
    }
    if f.len() != 6 || !f.iter().all(u8::is_ascii_digit) {
        return Err(Bad);
    }
    let two = |i: usize| (f[i] - b'0') * 10 + (f[i + 1] - b'0');
    let yy = u16::from(two(4));
    let year = if yy >= 80 { 1900 + yy } else { 2000 + yy };
    Date::new(year, two(2), two(0)).map(Some).ok_or(Bad)
}

/// `ddmm.mmmm,N,dddmm.mmmm,E` → signed degrees. Both parts empty → `None`; half a
/// position is malformed.
fn position(
    lat: &[u8],
    ns: &[u8],
    lon: &[u8],
    ew: &[u8],
) -> Result<(Option<f64>, Option<f64>), Bad> {
    if lat.is_empty() && lon.is_empty() {
        return Ok((None, None));
    }
    let lat = coordinate(lat, ns, b'N', b'S', 90.0)?;
    let lon = coordinate(lon, ew, b'E', b'W', 180.0)?;
    Ok((Some(lat), Some(lon)))
}

fn coordinate(v: &[u8], hemi: &[u8], pos: u8, neg: u8, max: f64) -> Result<f64, Bad> {
    let sign = match hemi {
        [c] if *c == pos => 1.0,
        [c] if *c == neg => -1.0,
        _ => return Err(Bad),
    };
    let (int, frac, k) = digits(v)?;
    let minutes = (int % 100) as f64 + frac as f64 / POW10[k as usize];
    if minutes >= 60.0 {
        return Err(Bad);
    }
    let deg = (int / 100) as f64 + minutes / 60.0;
    if deg > max {
        return Err(Bad);
    }
    Ok(sign * deg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(body: &str) -> Result<Sentence, ParseError> {
        parse(body.as_bytes(), true)
    }

    fn t(h: u64, m: u64, s: u64, ms: u64, decimals: u8) -> Option<TimeOfDay> {
        Some(TimeOfDay {
            nanos: ((h * 60 + m) * 60 + s) * 1_000_000_000 + ms * 1_000_000,
            decimals,
        })
    }

    #[test]
    fn gga_rtk_with_eight_decimal_minutes() {
        let Ok(Sentence::Gga(g)) = p("GNGGA,132819.60,4134.49795459,N,09345.03431408,W,2,10,0.9,278.161,M,-31.442,M,6.6,0133") else {
            panic!()
        };
        assert_eq!(g.time, t(13, 28, 19, 600, 2));
        // gpsd: 41.574965910, -93.750571901; exact: 41 + 34.49795459/60.
        assert!((g.lat.unwrap() - (41.0 + 34.497_954_59 / 60.0)).abs() < 1e-13);
        assert!((g.lon.unwrap() + (93.0 + 45.034_314_08 / 60.0)).abs() < 1e-13);
        assert!((g.lat.unwrap() - 41.574965910).abs() < 1e-9);
        assert_eq!((g.quality, g.sats, g.hdop), (Some(2), Some(10), Some(0.9)));
        assert_eq!((g.alt_m, g.diff_age_s), (Some(278.161), Some(6.6)));
    }

    #[test]
    fn gga_without_fix_has_empty_fields() {
        let Ok(Sentence::Gga(g)) = p("GPGGA,,,,,,0,00,99.99,,,,,,") else {
            panic!()
        };
        assert_eq!(
            g,
            Gga {
                quality: Some(0),
                sats: Some(0),
                hdop: Some(99.99),
                ..Gga::default()
            }
        );
        let Ok(Sentence::Gga(g)) = p("GPGGA,,,,,,0,,,,M,,M,,") else {
            panic!()
        };
        assert_eq!(g.quality, Some(0));
    }

    #[test]
    fn rmc_with_mode_and_nav_status() {
        let Ok(Sentence::Rmc(r)) =
            p("GNRMC,091232.000,A,4813.0535,N,00824.8697,E,0.00,0.00,101015,,,A,V")
        else {
            panic!()
        };
        assert_eq!(r.time, t(9, 12, 32, 0, 3));
        assert_eq!((r.status, r.mode), (Some(b'A'), Some(b'A')));
        assert_eq!(r.date, Date::new(2015, 10, 10));
        assert!((r.lat.unwrap() - 48.217558333).abs() < 1e-9);
        let Ok(Sentence::Rmc(r)) = p("GPRMC,,V,,,,,,,,,,N") else {
            panic!()
        };
        assert_eq!(
            (r.status, r.mode, r.lat, r.date),
            (Some(b'V'), Some(b'N'), None, None)
        );
        // NMEA 2.1: no mode field.
        let Ok(Sentence::Rmc(r)) =
            p("GPRMC,204132.00,A,4205.733476,N,08802.041110,W,9.415,21.404,190214,,")
        else {
            panic!()
        };
        assert_eq!(
            (r.mode, r.speed_kn, r.course_deg),
            (None, Some(9.415), Some(21.404))
        );
        assert_eq!(r.date, Date::new(2014, 2, 19));
    }

    #[test]
    fn vtg_new_and_old_formats() {
        let Ok(Sentence::Vtg(v)) = p("GPVTG,97.75,T,112.39,M,0.04,N,0.07,K,A") else {
            panic!()
        };
        assert_eq!(
            (v.course_deg, v.speed_kn, v.speed_kmh, v.mode),
            (Some(97.75), Some(0.04), Some(0.07), Some(b'A'))
        );
        let Ok(Sentence::Vtg(v)) = p("GPVTG,,,,,,,,,N") else {
            panic!()
        };
        assert_eq!((v.course_deg, v.speed_kn, v.mode), (None, None, Some(b'N')));
        let Ok(Sentence::Vtg(v)) = p("GPVTG,054.7,034.4,005.5,010.2") else {
            panic!()
        };
        assert_eq!(
            (v.course_deg, v.speed_kn, v.speed_kmh),
            (Some(54.7), Some(5.5), Some(10.2))
        );
    }

    #[test]
    fn gns_multi_character_mode() {
        let Ok(Sentence::Gns(g)) =
            p("GNGNS,112257.00,3844.24011,N,00908.43828,W,RRNN,14,0.75,87.3,49.5,1.0,0000,V")
        else {
            panic!()
        };
        assert_eq!(g.modes.as_bytes(), b"RRNN");
        assert_eq!(
            (g.sats, g.hdop, g.alt_m, g.diff_age_s),
            (Some(14), Some(0.75), Some(87.3), Some(1.0))
        );
        assert!(g.lon.unwrap() < -9.0);
        assert!(p("GNGNS,112257.00,3844.24011,N,00908.43828,W,R1,14,0.75,87.3,49.5,,").is_err());
    }

    #[test]
    fn gst_hdt_ths_zda() {
        let Ok(Sentence::Gst(g)) = p("GPGST,172814.0,0.006,0.023,0.020,273.6,0.023,0.020,0.031")
        else {
            panic!()
        };
        assert_eq!(
            (g.lat_err_m, g.lon_err_m, g.alt_err_m),
            (Some(0.023), Some(0.020), Some(0.031))
        );
        assert_eq!(g.time, t(17, 28, 14, 0, 1));
        assert_eq!(
            p("GPHDT,274.07,T"),
            Ok(Sentence::Hdt(Hdt {
                heading_deg: Some(274.07)
            }))
        );
        assert_eq!(p("GPHDT,,T"), Ok(Sentence::Hdt(Hdt { heading_deg: None })));
        assert_eq!(
            p("GNTHS,77.52,A"),
            Ok(Sentence::Ths(Ths {
                heading_deg: Some(77.52),
                mode: Some(b'A')
            }))
        );
        let Ok(Sentence::Zda(z)) = p("GPZDA,204133.000,19,02,2014,,") else {
            panic!()
        };
        assert_eq!(
            (z.time, z.date),
            (t(20, 41, 33, 0, 3), Date::new(2014, 2, 19))
        );
        assert_eq!(p("GPZDA,,,,,00,00"), Ok(Sentence::Zda(Zda::default())));
    }

    #[test]
    fn any_talker_proprietary_and_unknown_types() {
        for talker in ["GP", "GN", "GL", "GA", "GB", "GQ", "GI", "BD", "IN"] {
            let body = format!("{talker}HDT,1.5,T");
            assert!(matches!(p(&body), Ok(Sentence::Hdt(_))), "{talker}");
        }
        for other in [
            "PASHR,204132.000,010.51,T,+00.39,-00.79,-00.84,0.151,0.075,0.555,1,0",
            "PUBX,00,135627.00,3947.65338,N",
            "GNGSA,A,3,18,21,26,27,16,20,22,29,,,,,1.3,0.7,1.1,1",
            "GPGSV,1,1,00",
            "GPGLL,5547.82107,N,02334.14132,E,152504.50,A,A",
            "AIVDM,1,1,,A,13aEOK?P00PD2wVMdLDRhgvL289?,0",
            "GPGGAX,1",
            "gpgga,1",
            "",
        ] {
            assert_eq!(p(other), Ok(Sentence::Other), "{other}");
        }
    }

    #[test]
    fn malformed_fields_are_errors_with_the_time_when_readable() {
        let time = t(13, 28, 19, 600, 2);
        for (body, err_time) in [
            (
                "GNGGA,132819.60,4134.4x,N,09345.03,W,2,10,0.9,1,M,1,M,,",
                time,
            ),
            (
                "GNGGA,132819.60,4160.0,N,09345.03,W,2,10,0.9,1,M,1,M,,",
                time,
            ),
            (
                "GNGGA,132819.60,9100.0,N,09345.03,W,2,10,0.9,1,M,1,M,,",
                time,
            ),
            (
                "GNGGA,132819.60,4134.4,X,09345.03,W,2,10,0.9,1,M,1,M,,",
                time,
            ),
            ("GNGGA,132819.60,4134.4,N,,,2,10,0.9,1,M,1,M,,", time),
            (
                "GNGGA,132819.60,4134.4,N,18100.0,E,2,10,0.9,1,M,1,M,,",
                time,
            ),
            (
                "GNGGA,132819.60,4134.4,N,09345.03,W,x,10,0.9,1,M,1,M,,",
                time,
            ),
            (
                "GNGGA,132819.60,4134.4,N,09345.03,W,1,10,0.9,1e3,M,1,M,,",
                time,
            ),
            ("GNGGA,132819.60,4134.4,N,09345.03,W", time),
            ("GNGGA,246000,,,,,0,,,,,,,,", None),
            ("GNGGA,1328,,,,,0,,,,,,,,", None),
            ("GNRMC,132819.60,A,,,,,-1.0,,180320,,,A", time),
            ("GNRMC,132819.60,A,,,,,1.0,361,180320,,,A", time),
            ("GNRMC,132819.60,A,,,,,,,310220,,,A", time),
            ("GNRMC,132819.60,AA,,,,,,,180320,,,A", time),
            ("GPZDA,132819.60,31,02,2020,,", time),
            ("GPZDA,132819.60,1,,2020,,", time),
        ] {
            let e = p(body).expect_err(body);
            assert_eq!(e.time, err_time, "{body}");
        }
    }

    #[test]
    fn without_checksum_the_full_field_count_is_required() {
        let full = "GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,";
        assert!(parse(full.as_bytes(), false).is_ok());
        let cut = "GPGGA,123519,4807.038,N,01131.000,E,1";
        assert!(parse(cut.as_bytes(), false).is_err());
        assert!(parse(cut.as_bytes(), true).is_ok());
    }

    #[test]
    fn dates_and_leap_years() {
        assert_eq!(
            Date::new(2020, 2, 29).map(Date::next_day),
            Date::new(2020, 3, 1)
        );
        assert_eq!(Date::new(2019, 2, 29), None);
        assert!(Date::new(2000, 2, 29).is_some());
        assert_eq!(Date::new(1900, 2, 29), None);
        assert_eq!(
            Date::new(2019, 12, 31).map(Date::next_day),
            Date::new(2020, 1, 1)
        );
        assert_eq!(
            Date::new(2019, 4, 30).map(Date::next_day),
            Date::new(2019, 5, 1)
        );
        assert_eq!(ddmmyy(b"070818").unwrap(), Date::new(2018, 8, 7));
        assert_eq!(ddmmyy(b"010199").unwrap(), Date::new(1999, 1, 1));
    }

    #[test]
    fn leap_second_and_nine_decimals() {
        assert_eq!(
            tod(b"235960").unwrap().unwrap().nanos,
            86_400 * 1_000_000_000
        );
        let x = tod(b"000000.123456789").unwrap().unwrap();
        assert_eq!((x.nanos, x.decimals), (123_456_789, 9));
        assert!(tod(b"000000.1234567890").is_err());
        assert!(tod(b"000000.").is_ok());
    }
}
