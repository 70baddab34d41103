//! Civil (proleptic Gregorian) calendar arithmetic in UTC, free of I/O and of any clock:
//! leap years, month lengths, days since the Unix epoch and back, and RFC 3339 text.
//!
//! The one place verger turns dates into day counts and back: the NMEA decoder (receiver
//! dates, Unix time of a fix, `orchard.gnss.fix`'s `time`) and the router's meta API
//! (`created` of a session) use it. Leap seconds are not counted, as in POSIX time; a
//! broken-down [`DateTime`] may still carry `second == 60` as a receiver sends it.
//!
//! The day arithmetic is Howard Hinnant's `days_from_civil` / `civil_from_days`
//! (<https://howardhinnant.github.io/date_algorithms.html>), exact for every year that
//! fits the `i64` arithmetic (far beyond ±10^12 years); RFC 3339 itself only has the
//! years 0000 to 9999, and other years are written with as many digits as they need.

use std::fmt::Write as _;

/// Seconds in a civil day (no leap seconds).
pub const SECS_PER_DAY: i64 = 86_400;

/// Whether `year` has a 29 February (every 4th year, except centuries not divisible
/// by 400).
pub fn is_leap_year(year: i64) -> bool {
    year.rem_euclid(4) == 0 && (year.rem_euclid(100) != 0 || year.rem_euclid(400) == 0)
}

/// Days in `month` (1..=12) of `year`; 0 for a month that does not exist.
pub fn days_in_month(year: i64, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap_year(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days from 1970-01-01 to `year`-`month`-`day` (negative before it). Meant for valid
/// dates; any other input gives some number, never a panic.
pub fn days_from_civil(year: i64, month: u8, day: u8) -> i64 {
    let (m, d) = (i64::from(month), i64::from(day));
    let y = year - i64::from(m <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400; // 0..=399
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1; // 0..=365 for valid dates
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // 0..=146_096
    era * 146_097 + doe - 719_468
}

/// The date (`year`, `month` 1..=12, `day` 1..=31) `days` after 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, u8, u8) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097; // 0..=146_096
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365; // 0..=399
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // 0..=365
    let mp = (5 * doy + 2) / 153; // 0..=11, March first
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month as u8, day as u8)
}

/// A UTC date and time of day, broken down.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DateTime {
    /// Calendar year (proleptic Gregorian; 0 is 1 BC).
    pub year: i64,
    /// 1..=12.
    pub month: u8,
    /// 1..=31.
    pub day: u8,
    /// 0..=23.
    pub hour: u8,
    /// 0..=59.
    pub minute: u8,
    /// 0..=59, or 60 for a leap second.
    pub second: u8,
    /// Fraction of the second in nanoseconds, 0..1_000_000_000.
    pub nanos: u32,
}

impl DateTime {
    /// The date-time `secs` seconds and `nanos` nanoseconds (added, may exceed one
    /// second) after 1970-01-01T00:00:00Z.
    pub fn from_unix(secs: i64, nanos: u32) -> DateTime {
        let secs = secs + i64::from(nanos / 1_000_000_000);
        let nanos = nanos % 1_000_000_000;
        let (year, month, day) = civil_from_days(secs.div_euclid(SECS_PER_DAY));
        let rem = secs.rem_euclid(SECS_PER_DAY);
        DateTime {
            year,
            month,
            day,
            hour: (rem / 3600) as u8,
            minute: (rem % 3600 / 60) as u8,
            second: (rem % 60) as u8,
            nanos,
        }
    }

    /// The date-time `micros` microseconds after (negative: before) the Unix epoch.
    pub fn from_unix_micros(micros: i64) -> DateTime {
        let secs = micros.div_euclid(1_000_000);
        let sub = micros.rem_euclid(1_000_000) as u32;
        DateTime::from_unix(secs, sub * 1000)
    }

    /// The date-time `nanos` nanoseconds after (negative: before) the Unix epoch.
    pub fn from_unix_nanos(nanos: i128) -> DateTime {
        let secs = nanos.div_euclid(1_000_000_000);
        let sub = nanos.rem_euclid(1_000_000_000) as u32;
        let secs = i64::try_from(secs).unwrap_or(if nanos < 0 { i64::MIN } else { i64::MAX });
        DateTime::from_unix(secs, sub)
    }

    /// Whole seconds since 1970-01-01T00:00:00Z (a leap second `:60` counts as the
    /// first second of the next minute, as POSIX does).
    pub fn unix_secs(&self) -> i64 {
        days_from_civil(self.year, self.month, self.day) * SECS_PER_DAY
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second)
    }

    /// RFC 3339 in UTC with `decimals` (0..=9, more are 9) digits of the fraction,
    /// truncated: `2020-03-18T13:28:19.60Z` for 2 decimals, `...:19Z` for none.
    pub fn rfc3339(&self, decimals: u8) -> String {
        let mut s = String::with_capacity(30);
        let _ = write!(
            s,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        );
        if decimals > 0 {
            let d = u32::from(decimals.min(9));
            let frac = self.nanos.min(999_999_999) / 10u32.pow(9 - d);
            let _ = write!(s, ".{:0width$}", frac, width = d as usize);
        }
        s.push('Z');
        s
    }
}

/// RFC 3339 of a Unix time given as seconds and nanoseconds (see [`DateTime::rfc3339`]).
/// A `SystemTime` goes in as `d = t.duration_since(UNIX_EPOCH)`,
/// `rfc3339_from_unix(d.as_secs() as i64, d.subsec_nanos(), 3)` for milliseconds.
pub fn rfc3339_from_unix(secs: i64, nanos: u32, decimals: u8) -> String {
    DateTime::from_unix(secs, nanos).rfc3339(decimals)
}

/// RFC 3339 of a Unix time in microseconds.
pub fn rfc3339_from_unix_micros(micros: i64, decimals: u8) -> String {
    DateTime::from_unix_micros(micros).rfc3339(decimals)
}

/// RFC 3339 of a Unix time in nanoseconds.
pub fn rfc3339_from_unix_nanos(nanos: i128, decimals: u8) -> String {
    DateTime::from_unix_nanos(nanos).rfc3339(decimals)
}

/// Reads RFC 3339 (`2020-03-18T13:28:19.60Z`, `2020-03-18 15:28:19+02:00`): `T`, `t`
/// or a space between date and time, any number of fraction digits (beyond 9 ignored),
/// `Z`, `z` or a `±hh:mm` offset. The instant in nanoseconds since
/// 1970-01-01T00:00:00Z (a leap second `:60` counts as the next minute's first second,
/// as POSIX); `None` for anything else. Years are the four digits RFC 3339 has.
pub fn parse_rfc3339(s: &str) -> Option<i128> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<u32> {
        let part = b.get(from..to)?;
        if part.is_empty() || !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        Some(part.iter().fold(0, |n, c| n * 10 + u32::from(c - b'0')))
    };
    let (year, month, day) = (i64::from(num(0, 4)?), num(5, 7)?, num(8, 10)?);
    let (hour, minute, second) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    let month = u8::try_from(month).ok()?;
    let day = u8::try_from(day).ok()?;
    if day == 0 || day > days_in_month(year, month) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let (frac, zone) = match b[19] {
        b'.' => {
            let digits = b[20..].iter().take_while(|c| c.is_ascii_digit()).count();
            (&b[20..20 + digits], &b[20 + digits..])
        }
        _ => (&b[19..19], &b[19..]),
    };
    if b[19] == b'.' && frac.is_empty() {
        return None;
    }
    let nanos = (0..9).fold(0i128, |n, i| {
        n * 10 + frac.get(i).map_or(0, |c| i128::from(c - b'0'))
    });
    let offset_secs = match zone {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let two = |a: &u8, b: &u8| -> Option<i64> {
                (a.is_ascii_digit() && b.is_ascii_digit())
                    .then(|| i64::from((a - b'0') * 10 + (b - b'0')))
            };
            let (h, m) = (two(h1, h2)?, two(m1, m2)?);
            if h > 23 || m > 59 {
                return None;
            }
            let secs = h * 3600 + m * 60;
            if *sign == b'-' {
                -secs
            } else {
                secs
            }
        }
        _ => return None,
    };
    let local = days_from_civil(year, month, day) * SECS_PER_DAY
        + i64::from(hour) * 3600
        + i64::from(minute) * 60
        + i64::from(second);
    Some(i128::from(local - offset_secs) * 1_000_000_000 + nanos)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_dates() {
        for (date, days) in [
            ((1970, 1, 1), 0),
            ((1969, 12, 31), -1),
            ((2000, 2, 29), 11_016),
            ((2000, 3, 1), 11_017),
            ((2020, 3, 18), 18_339),
            ((2100, 3, 1), 47_541),
            ((9999, 12, 31), 2_932_896),
            ((0, 1, 1), -719_528),
        ] {
            assert_eq!(days_from_civil(date.0, date.1, date.2), days, "{date:?}");
            assert_eq!(civil_from_days(days), date, "{days}");
        }
        // 2100 is not a leap year: 28 February is followed by 1 March.
        assert_eq!(
            days_from_civil(2100, 3, 1) - days_from_civil(2100, 2, 28),
            1
        );
    }

    #[test]
    fn leap_years_and_month_lengths() {
        assert!(is_leap_year(2000));
        assert!(is_leap_year(2020));
        assert!(!is_leap_year(1900));
        assert!(!is_leap_year(2100));
        assert!(!is_leap_year(2019));
        assert!(is_leap_year(0));
        assert!(is_leap_year(-4));
        assert!(!is_leap_year(-100));
        assert_eq!(days_in_month(2000, 2), 29);
        assert_eq!(days_in_month(2100, 2), 28);
        assert_eq!(days_in_month(2019, 4), 30);
        assert_eq!(days_in_month(9999, 12), 31);
        assert_eq!(days_in_month(2019, 0), 0);
        assert_eq!(days_in_month(2019, 13), 0);
        let year: u32 = (1..=12).map(|m| u32::from(days_in_month(2024, m))).sum();
        assert_eq!(year, 366);
    }

    #[test]
    fn rfc3339_at_known_times() {
        assert_eq!(rfc3339_from_unix(0, 0, 0), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339_from_unix_micros(951_782_400_123_456, 6),
            "2000-02-29T00:00:00.123456Z"
        );
        assert_eq!(
            rfc3339_from_unix_nanos(1_584_538_099_600_000_000, 2),
            "2020-03-18T13:28:19.60Z"
        );
        assert_eq!(
            rfc3339_from_unix(4_107_542_400, 999_999_999, 3),
            "2100-03-01T00:00:00.999Z",
            "digits are truncated, never rounded up"
        );
        let last = days_from_civil(9999, 12, 31) * SECS_PER_DAY + SECS_PER_DAY - 1;
        assert_eq!(
            rfc3339_from_unix(last, 5, 9),
            "9999-12-31T23:59:59.000000005Z"
        );
        assert_eq!(
            rfc3339_from_unix_micros(-1, 6),
            "1969-12-31T23:59:59.999999Z"
        );
        assert_eq!(
            rfc3339_from_unix(1, 0, 12),
            "1970-01-01T00:00:01.000000000Z"
        );
        // A leap second as a receiver sends it.
        let leap = DateTime {
            year: 2016,
            month: 12,
            day: 31,
            hour: 23,
            minute: 59,
            second: 60,
            nanos: 500_000_000,
        };
        assert_eq!(leap.rfc3339(1), "2016-12-31T23:59:60.5Z");
        assert_eq!(leap.unix_secs(), 1_483_228_800);
    }

    #[test]
    fn rfc3339_is_read_with_offsets_and_any_precision() {
        let t = 1_584_538_099_600_000_000i128;
        for s in [
            "2020-03-18T13:28:19.60Z",
            "2020-03-18t13:28:19.6z",
            "2020-03-18 13:28:19.600000000999Z",
            "2020-03-18T15:28:19.60+02:00",
            "2020-03-18T03:58:19.6-09:30",
        ] {
            assert_eq!(parse_rfc3339(s), Some(t), "{s}");
        }
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("1969-12-31T23:59:59.5Z"), Some(-500_000_000));
        for bad in [
            "2020-03-18T13:28:19",
            "2020-03-18T13:28:19.Z",
            "2020-02-30T13:28:19Z",
            "2020-03-18T24:00:00Z",
            "2020-03-18T13:28:19+2:00",
            "2020-03-18T13:28:19+24:00",
            "2020-03-18T13:28:19Zx",
            "2020-3-18T13:28:19Z",
            "２020-03-18T13:28:19Z",
            "",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    proptest! {
        #[test]
        fn rfc3339_written_reads_back(nanos in -100_000_000_000_000_000_000i128..250_000_000_000_000_000_000, decimals in 0u8..=9) {
            let t = DateTime::from_unix_nanos(nanos);
            prop_assume!((0..=9999).contains(&t.year));
            let s = t.rfc3339(decimals);
            let step = 10i128.pow(9 - u32::from(decimals));
            prop_assert_eq!(parse_rfc3339(&s), Some(nanos - nanos.rem_euclid(step)));
        }

        #[test]
        fn any_text_is_read_without_panic(s in "\\PC{0,40}") {
            let _ = parse_rfc3339(&s);
        }

        #[test]
        fn days_round_trip(days in -1_000_000_000i64..1_000_000_000) {
            let (y, m, d) = civil_from_days(days);
            prop_assert!((1..=12).contains(&m));
            prop_assert!(d >= 1 && d <= days_in_month(y, m));
            prop_assert_eq!(days_from_civil(y, m, d), days);
        }

        #[test]
        fn dates_round_trip(year in -1_000_000i64..1_000_000, month in 1u8..=12, day in 1u8..=31) {
            prop_assume!(day <= days_in_month(year, month));
            prop_assert_eq!(civil_from_days(days_from_civil(year, month, day)), (year, month, day));
        }

        #[test]
        fn unix_times_round_trip(secs in -100_000_000_000i64..100_000_000_000, nanos in 0u32..1_000_000_000) {
            let t = DateTime::from_unix(secs, nanos);
            prop_assert_eq!(t.unix_secs(), secs);
            prop_assert_eq!(t.nanos, nanos);
            prop_assert!(t.hour < 24 && t.minute < 60 && t.second < 60);
        }
    }
}
