//! The virtual receiver's NMEA writer, pure: one [`SimEpoch`] in, the bytes a receiver
//! would send for it out (`GGA`, `RMC`, `VTG` and, with a heading, `HDT`), each with its
//! checksum and CR LF.
//!
//! What it writes, and why:
//! - Time `hhmmss.ss`: the epoch's GNSS (UTC) time rounded to the centisecond, as the
//!   Trimble capture in `../shared/data/nmea/gpsd__nmea-rtk.log` does; the date in RMC.
//! - Latitude and longitude `ddmm.mmmmmmmm` with [`NmeaStyle::coord_decimals`] decimals of
//!   minutes (8 by default, as that Trimble RTK receiver prints: 1e-8′ is 0.02 mm; a
//!   u-blox prints 5, 1.9 cm). Rounded in integer arithmetic, so `59.999999999′` never
//!   shows as `60′`.
//! - Quality: [`EpochQuality`] as GGA quality, RMC status and mode, VTG mode (the table
//!   in [`EpochQuality::gga`]). An invalid epoch has empty position fields, as real
//!   receivers send it (quality 0, status `V`, mode `N`); a simulated one keeps its
//!   position with GGA quality 8 and mode `S`, which verger's decoder refuses.
//! - Speed (knots and km/h), course and heading with 3 decimals; altitude with 3.

use std::fmt::Write as _;

use verger::civil::DateTime;
use verger::nmea::classify::KNOT_MPS;
use verger::nmea::framer::checksum;
use verger::nmea::Quality;

/// What one epoch of the virtual receiver says of its solution.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EpochQuality {
    /// A position of this quality.
    Fix(Quality),
    /// No position (GGA quality 0, RMC status `V`): an outage.
    Invalid,
    /// A position from the receiver's simulator mode (GGA quality 8, mode `S`): never to
    /// be used.
    Simulated,
}

impl EpochQuality {
    /// RTK fixed, the simulator's default.
    pub const RTK_FIXED: EpochQuality = EpochQuality::Fix(Quality::RtkFixed);

    /// `rtk_fixed`, `rtk_float`, `dgps`, `autonomous`, `dead_reckoning` (the contract's
    /// spelling), `invalid` or `simulated`.
    pub fn as_str(self) -> &'static str {
        match self {
            EpochQuality::Fix(q) => q.as_str(),
            EpochQuality::Invalid => "invalid",
            EpochQuality::Simulated => "simulated",
        }
    }

    /// Whether the epoch is a usable position.
    pub fn is_fix(self) -> bool {
        matches!(self, EpochQuality::Fix(_))
    }

    /// The GGA quality digit and the RMC/VTG mode letter:
    ///
    /// | quality | GGA | mode |
    /// |---|---|---|
    /// | `rtk_fixed` | 4 | `R` |
    /// | `rtk_float` | 5 | `F` |
    /// | `dgps` | 2 | `D` |
    /// | `autonomous` | 1 | `A` |
    /// | `dead_reckoning` | 6 | `E` |
    /// | `invalid` | 0 | `N` |
    /// | `simulated` | 8 | `S` |
    pub fn gga(self) -> (u8, char) {
        match self {
            EpochQuality::Fix(Quality::RtkFixed) => (4, 'R'),
            EpochQuality::Fix(Quality::RtkFloat) => (5, 'F'),
            EpochQuality::Fix(Quality::Dgps) => (2, 'D'),
            EpochQuality::Fix(Quality::Autonomous) => (1, 'A'),
            EpochQuality::Fix(Quality::DeadReckoning) => (6, 'E'),
            EpochQuality::Invalid => (0, 'N'),
            EpochQuality::Simulated => (8, 'S'),
        }
    }

    /// From the contract's spelling (see [`EpochQuality::as_str`]).
    pub fn parse(s: &str) -> Option<EpochQuality> {
        Quality::ALL
            .into_iter()
            .map(EpochQuality::Fix)
            .chain([EpochQuality::Invalid, EpochQuality::Simulated])
            .find(|q| q.as_str() == s)
    }

    /// Whether differential corrections are in use (GGA then carries their age).
    fn differential(self) -> bool {
        matches!(
            self,
            EpochQuality::Fix(Quality::RtkFixed | Quality::RtkFloat | Quality::Dgps)
        )
    }
}

impl std::fmt::Display for EpochQuality {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One receiver epoch to write.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SimEpoch {
    /// GNSS (UTC) time, microseconds since 1970-01-01T00:00:00Z; written to the
    /// centisecond. Years 1980 to 2079 (RMC's two-digit year).
    pub time_us: i64,
    /// Latitude, degrees WGS 84, north positive.
    pub lat: f64,
    /// Longitude, degrees WGS 84, east positive.
    pub lon: f64,
    /// Altitude above mean sea level, metres.
    pub alt_m: f64,
    /// The solution.
    pub quality: EpochQuality,
    /// Satellites used.
    pub sats: u32,
    /// Horizontal dilution of precision.
    pub hdop: f64,
    /// Speed over ground, m/s (0 or more).
    pub speed_mps: f64,
    /// Course over ground, degrees true.
    pub course_deg: f64,
    /// Heading of a dual-antenna receiver, degrees true: an `HDT` is written when given.
    pub heading_deg: Option<f64>,
}

/// The talker of the sentences: `GP` (GPS) or `GN` (several constellations).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Talker {
    /// `$GP...`.
    #[default]
    Gp,
    /// `$GN...`.
    Gn,
}

impl Talker {
    fn as_str(self) -> &'static str {
        match self {
            Talker::Gp => "GP",
            Talker::Gn => "GN",
        }
    }
}

/// How the receiver writes its sentences.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NmeaStyle {
    /// The talker of GGA, RMC and VTG (HDT is always `GP`, as dual-antenna receivers send it).
    pub talker: Talker,
    /// Decimals of the minutes of latitude and longitude, 1 to 10 (8: 0.02 mm).
    pub coord_decimals: u8,
}

impl Default for NmeaStyle {
    /// `GP`, 8 decimals of minutes (as an RTK receiver).
    fn default() -> Self {
        NmeaStyle {
            talker: Talker::Gp,
            coord_decimals: 8,
        }
    }
}

/// Appends `$body*HH\r\n` to `out`.
pub fn sentence(body: &str, out: &mut Vec<u8>) {
    out.push(b'$');
    out.extend_from_slice(body.as_bytes());
    out.extend_from_slice(format!("*{:02X}\r\n", checksum(body.as_bytes())).as_bytes());
}

/// The epoch's sentences, in a receiver's order: GGA, RMC, VTG, then HDT if the epoch has
/// a heading.
pub fn write_epoch(epoch: &SimEpoch, style: &NmeaStyle, out: &mut Vec<u8>) {
    let talker = style.talker.as_str();
    // Rounded to the centisecond first, so that the carry reaches the date.
    let cs = (i128::from(epoch.time_us) + 5_000).div_euclid(10_000);
    let t = DateTime::from_unix_nanos(cs * 10_000_000);
    let hms = format!(
        "{:02}{:02}{:02}.{:02}",
        t.hour,
        t.minute,
        t.second,
        t.nanos / 10_000_000
    );
    let date = format!("{:02}{:02}{:02}", t.day, t.month, t.year.rem_euclid(100));
    let (gga_q, mode) = epoch.quality.gga();
    let valid = epoch.quality.is_fix();
    let position = if epoch.quality == EpochQuality::Invalid {
        ",,,".to_owned()
    } else {
        let d = style.coord_decimals.clamp(1, 10);
        format!(
            "{},{},{},{}",
            coordinate(epoch.lat.abs(), 2, d),
            if epoch.lat < 0.0 { 'S' } else { 'N' },
            coordinate(epoch.lon.abs(), 3, d),
            if epoch.lon < 0.0 { 'W' } else { 'E' },
        )
    };
    let mut body = String::with_capacity(96);
    let _ = write!(
        body,
        "{talker}GGA,{hms},{position},{gga_q},{:02},",
        epoch.sats
    );
    if valid || epoch.quality == EpochQuality::Simulated {
        let _ = write!(body, "{:.2},{:.3},M,,M,", epoch.hdop, epoch.alt_m);
    } else {
        body.push_str("99.99,,M,,M,");
    }
    if epoch.quality.differential() {
        body.push_str("1.0,0000");
    } else {
        body.push(',');
    }
    sentence(&body, out);

    let moving = epoch.quality != EpochQuality::Invalid;
    let speed = epoch.speed_mps.max(0.0);
    let course = epoch.course_deg.rem_euclid(360.0);
    let (kn, kmh, cog) = if moving {
        (
            format!("{:.3}", speed / KNOT_MPS),
            format!("{:.3}", speed * 3.6),
            format!("{course:.3}"),
        )
    } else {
        Default::default()
    };
    let status = if epoch.quality == EpochQuality::Invalid {
        'V'
    } else {
        'A'
    };
    body.clear();
    let _ = write!(
        body,
        "{talker}RMC,{hms},{status},{position},{kn},{cog},{date},,,{mode}"
    );
    sentence(&body, out);
    body.clear();
    let _ = write!(body, "{talker}VTG,{cog},T,,M,{kn},N,{kmh},K,{mode}");
    sentence(&body, out);
    if let Some(h) = epoch.heading_deg {
        body.clear();
        if moving {
            let _ = write!(body, "GPHDT,{:.3},T", h.rem_euclid(360.0));
        } else {
            body.push_str("GPHDT,,T");
        }
        sentence(&body, out);
    }
}

/// `degrees` (≥ 0) as `d…dmm.mmm…`: `deg_digits` digits of degrees, `decimals` of minutes.
fn coordinate(degrees: f64, deg_digits: usize, decimals: u8) -> String {
    let scale = 10u64.pow(u32::from(decimals));
    // Minutes × 10^decimals as an integer: exact in f64 up to 180° with 10 decimals
    // (1.08e14 < 2^53).
    let units = (degrees * 60.0 * scale as f64).round() as u64;
    let per_degree = 60 * scale;
    let (deg, rest) = (units / per_degree, units % per_degree);
    format!(
        "{deg:0deg_digits$}{:02}.{:0width$}",
        rest / scale,
        rest % scale,
        width = usize::from(decimals)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use verger::nmea::{Decoder, DecoderConfig, EpochOutcome, NoFixReason};

    fn rtk(time_us: i64) -> SimEpoch {
        SimEpoch {
            time_us,
            lat: 41.574_965_909_833,
            lon: -93.750_571_901_333,
            alt_m: 278.161,
            quality: EpochQuality::RTK_FIXED,
            sats: 10,
            hdop: 0.9,
            speed_mps: 0.148 * KNOT_MPS,
            course_deg: 124.888,
            heading_deg: None,
        }
    }

    /// 2020-03-18T13:28:19.60Z, the first epoch of the Trimble capture.
    const T0: i64 = 1_584_538_099_600_000;

    fn lines(epoch: &SimEpoch, style: &NmeaStyle) -> Vec<String> {
        let mut out = Vec::new();
        write_epoch(epoch, style, &mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(text.ends_with("\r\n"));
        text.split_terminator("\r\n").map(str::to_owned).collect()
    }

    #[test]
    fn sentences_as_a_trimble_writes_them() {
        let l = lines(&rtk(T0), &NmeaStyle::default());
        assert_eq!(
            l,
            [
                "$GPGGA,132819.60,4134.49795459,N,09345.03431408,W,4,10,0.90,278.161,M,,M,1.0,0000*71",
                "$GPRMC,132819.60,A,4134.49795459,N,09345.03431408,W,0.148,124.888,180320,,,R*5D",
                "$GPVTG,124.888,T,,M,0.148,N,0.274,K,R*1D",
            ]
        );
    }

    #[test]
    fn the_example_in_docs_simulator_md() {
        let epoch = SimEpoch {
            time_us: 1_744_704_000_000_000,
            lat: 44.07,
            lon: 1.09,
            alt_m: 100.0,
            quality: EpochQuality::RTK_FIXED,
            sats: 14,
            hdop: 0.8,
            speed_mps: 7.0 / 3.6,
            course_deg: 12.0,
            heading_deg: None,
        };
        let docs = include_str!("../../docs/simulator.md");
        for line in lines(&epoch, &NmeaStyle::default()) {
            assert!(docs.contains(&line), "{line}");
        }
    }

    #[test]
    fn invalid_epochs_have_empty_positions_and_simulated_ones_quality_8() {
        let mut e = rtk(T0);
        e.quality = EpochQuality::Invalid;
        e.heading_deg = Some(12.0);
        let l = lines(&e, &NmeaStyle::default());
        assert!(
            l[0].starts_with("$GPGGA,132819.60,,,,,0,10,99.99,,M,,M,,*"),
            "{}",
            l[0]
        );
        assert!(
            l[1].starts_with("$GPRMC,132819.60,V,,,,,,,180320,,,N*"),
            "{}",
            l[1]
        );
        assert!(l[2].starts_with("$GPVTG,,T,,M,,N,,K,N*"), "{}", l[2]);
        assert!(l[3].starts_with("$GPHDT,,T*"), "{}", l[3]);
        e.quality = EpochQuality::Simulated;
        let l = lines(&e, &NmeaStyle::default());
        assert!(l[0].contains(",W,8,10,0.90,"), "{}", l[0]);
        assert!(l[1].contains(",180320,,,S*"), "{}", l[1]);
    }

    #[test]
    fn minutes_never_round_up_to_sixty_and_time_carries_into_the_date() {
        assert_eq!(coordinate(1.999_999_999_999, 2, 8), "0200.00000000");
        assert_eq!(coordinate(0.5, 3, 5), "00030.00000");
        // 23:59:59.996 rounds to midnight of the next day.
        let mut e = rtk(1_584_575_999_996_000);
        e.quality = EpochQuality::Fix(Quality::Autonomous);
        let l = lines(
            &e,
            &NmeaStyle {
                talker: Talker::Gn,
                coord_decimals: 5,
            },
        );
        assert!(
            l[0].starts_with("$GNGGA,000000.00,4134.49795,N,09345.03431,W,1,"),
            "{}",
            l[0]
        );
        assert!(l[1].contains(",190320,"), "{}", l[1]);
    }

    #[test]
    fn qualities_parse_from_their_names() {
        for q in Quality::ALL
            .into_iter()
            .map(EpochQuality::Fix)
            .chain([EpochQuality::Invalid, EpochQuality::Simulated])
        {
            assert_eq!(EpochQuality::parse(q.as_str()), Some(q));
        }
        assert_eq!(EpochQuality::parse("fixed"), None);
    }

    fn decode(bytes: &[u8]) -> EpochOutcome {
        let mut d = Decoder::new(DecoderConfig::default());
        let mut epochs = d.push(bytes, 1_000);
        epochs.extend(d.poll(u64::MAX / 2));
        assert_eq!(epochs.len(), 1, "one epoch: {epochs:?}");
        assert_eq!(d.counters().checksum_errors, 0);
        assert_eq!(d.counters().parse_errors, 0);
        epochs.remove(0).outcome
    }

    fn quality() -> impl Strategy<Value = EpochQuality> {
        prop_oneof![
            proptest::sample::select(Quality::ALL.to_vec()).prop_map(EpochQuality::Fix),
            Just(EpochQuality::Invalid),
            Just(EpochQuality::Simulated),
        ]
    }

    fn angle_diff(a: f64, b: f64) -> f64 {
        let d = (a - b).rem_euclid(360.0);
        d.min(360.0 - d)
    }

    proptest! {
        /// What the writer writes, decoded by verger's own decoder, is the epoch: the
        /// position within 1 mm, the time exact to the centisecond, the quality, speed,
        /// course and heading to the written decimals.
        #[test]
        fn written_epochs_decode_to_themselves(
            // 1980-01-06 .. 2079-12-31, in centiseconds.
            cs in 31_553_280_000i64..347_129_000_000,
            lat in -89.999f64..89.999,
            lon in -179.999f64..179.999,
            alt_m in -400.0f64..9000.0,
            quality in quality(),
            sats in 1u32..40,
            hdop in 0.5f64..20.0,
            speed_mps in 0.0f64..60.0,
            course_deg in 0.0f64..360.0,
            heading_deg in proptest::option::of(0.0f64..360.0),
            talker in proptest::sample::select(vec![Talker::Gp, Talker::Gn]),
        ) {
            let epoch = SimEpoch {
                time_us: cs * 10_000,
                lat, lon, alt_m, quality, sats, hdop, speed_mps, course_deg, heading_deg,
            };
            let mut out = Vec::new();
            write_epoch(&epoch, &NmeaStyle { talker, coord_decimals: 8 }, &mut out);
            let want_time = verger::civil::DateTime::from_unix_micros(epoch.time_us).rfc3339(2);
            match (quality, decode(&out)) {
                (EpochQuality::Fix(q), EpochOutcome::Fix(fix)) => {
                    prop_assert_eq!(fix.quality, q);
                    prop_assert_eq!(fix.time.rfc3339(), want_time);
                    // Metres on a sphere of the Earth's mean radius (plenty at 1 mm).
                    let m_per_deg = 6_371_000f64.to_radians();
                    let dy = (fix.lat - lat) * m_per_deg;
                    let dx = (fix.lon - lon) * m_per_deg * lat.to_radians().cos();
                    prop_assert!(dx.hypot(dy) < 0.001, "{} {}", dx, dy);
                    prop_assert!((fix.alt_m.unwrap() - alt_m).abs() < 0.0006);
                    prop_assert_eq!(fix.sats, Some(sats));
                    prop_assert!((fix.speed_mps.unwrap() - speed_mps).abs() < 0.0005);
                    prop_assert!(angle_diff(fix.course_deg.unwrap(), course_deg) < 0.0006);
                    match heading_deg {
                        Some(h) => prop_assert!(angle_diff(fix.heading_deg.unwrap(), h) < 0.0006),
                        None => prop_assert_eq!(fix.heading_deg, None),
                    }
                }
                (EpochQuality::Invalid, EpochOutcome::NoFix { reason, time }) => {
                    prop_assert_eq!(reason, NoFixReason::Invalid);
                    prop_assert_eq!(time.map(|t| t.rfc3339()), Some(want_time));
                }
                (EpochQuality::Simulated, EpochOutcome::NoFix { reason, time }) => {
                    prop_assert_eq!(reason, NoFixReason::Simulation);
                    prop_assert_eq!(time.map(|t| t.rfc3339()), Some(want_time));
                }
                (q, outcome) => prop_assert!(false, "{:?} decoded as {:?}", q, outcome),
            }
        }
    }
}
