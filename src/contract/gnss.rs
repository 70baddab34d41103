//! GNSS topics (`orchard.gnss.*`): URIs, field names and the builders of their kwargs.
//! `docs/contract.md` ("GNSS") documents them with units; the JSON Schemas live in
//! `docs/schemas/orchard.gnss.fix.schema.json` and `orchard.gnss.status.schema.json`.

use crate::nmea::{Counters, Fix, NoFixReason, Quality};
use crate::wamp::{Dict, Value};

/// One receiver epoch that is a real position; retained.
pub const FIX_TOPIC: &str = "orchard.gnss.fix";
/// State of the GNSS component, on every change and at 1 Hz; retained.
pub const STATUS_TOPIC: &str = "orchard.gnss.status";

/// Every kwarg of `orchard.gnss.fix`, always present (null when unknown).
pub const FIX_FIELDS: [&str; 15] = [
    "time",
    "lat",
    "lon",
    "alt_m",
    "quality",
    "sats",
    "hdop",
    "speed_mps",
    "course_deg",
    "heading_deg",
    "lat_err_m",
    "lon_err_m",
    "alt_err_m",
    "diff_age_s",
    "age_ms",
];

/// Every kwarg of `orchard.gnss.status`, always present (null when not relevant).
pub const STATUS_FIELDS: [&str; 6] = [
    "state",
    "quality",
    "no_fix_reason",
    "source",
    "last_epoch_age_ms",
    "counters",
];

/// Every key of the status `counters` dict.
pub const COUNTER_FIELDS: [&str; 8] = [
    "sentences",
    "checksum_errors",
    "parse_errors",
    "discarded_bytes",
    "epochs",
    "fixes_published",
    "publish_failures",
    "fixes_late",
];

/// The `state` of `orchard.gnss.status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReceiverState {
    /// The last epoch was a real position, and it is recent.
    Fix,
    /// The last epoch was not a position (see `no_fix_reason`), and it is recent.
    NoFix,
    /// The source is open but no epoch arrived for `stale_after` (or none yet).
    Stale,
    /// The serial port or TCP connection is gone; reopening with backoff.
    PortLost,
}

impl ReceiverState {
    pub fn as_str(self) -> &'static str {
        match self {
            ReceiverState::Fix => "fix",
            ReceiverState::NoFix => "no_fix",
            ReceiverState::Stale => "stale",
            ReceiverState::PortLost => "port_lost",
        }
    }
}

impl std::fmt::Display for ReceiverState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What `orchard.gnss.status` carries.
#[derive(Clone, Debug, PartialEq)]
pub struct Status {
    pub state: ReceiverState,
    /// Quality of the last fix while `state` is `fix`.
    pub quality: Option<Quality>,
    /// Why the last epoch was no fix, while `state` is `no_fix`.
    pub no_fix_reason: Option<NoFixReason>,
    /// Where the bytes come from, e.g. `serial:/dev/ttyUSB0@115200`.
    pub source: String,
    /// Milliseconds since the last epoch (fix or not) was complete; `None` before the
    /// first one.
    pub last_epoch_age_ms: Option<f64>,
    pub counters: StatusCounters,
}

/// The decoder's counters and the component's own.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatusCounters {
    pub decoder: Counters,
    /// Fixes handed to the router.
    pub fixes_published: u64,
    /// Fixes that could not be published (router away: dropped, never queued).
    pub publish_failures: u64,
    /// Fixes dropped because they were older than the component's delay limit when
    /// their turn came (never published late).
    pub fixes_late: u64,
}

fn num(v: Option<f64>) -> Value {
    match v {
        Some(x) if x.is_finite() => Value::Float(x),
        _ => Value::Null,
    }
}

/// Milliseconds with microsecond resolution.
pub fn micros_to_ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// The kwargs of `orchard.gnss.fix` for `fix`, `age_ms` after its first byte arrived.
pub fn fix_kwargs(fix: &Fix, age_ms: f64) -> Dict {
    let mut d = Dict::new();
    d.insert("time".into(), Value::Str(fix.time.rfc3339()));
    d.insert("lat".into(), num(Some(fix.lat)));
    d.insert("lon".into(), num(Some(fix.lon)));
    d.insert("alt_m".into(), num(fix.alt_m));
    d.insert("quality".into(), Value::Str(fix.quality.as_str().into()));
    d.insert(
        "sats".into(),
        fix.sats.map_or(Value::Null, |s| Value::UInt(u64::from(s))),
    );
    d.insert("hdop".into(), num(fix.hdop));
    d.insert("speed_mps".into(), num(fix.speed_mps));
    d.insert("course_deg".into(), num(fix.course_deg));
    d.insert("heading_deg".into(), num(fix.heading_deg));
    d.insert("lat_err_m".into(), num(fix.lat_err_m));
    d.insert("lon_err_m".into(), num(fix.lon_err_m));
    d.insert("alt_err_m".into(), num(fix.alt_err_m));
    d.insert("diff_age_s".into(), num(fix.diff_age_s));
    d.insert("age_ms".into(), num(Some(age_ms)));
    d
}

/// The kwargs of `orchard.gnss.status`.
pub fn status_kwargs(status: &Status) -> Dict {
    let c = &status.counters;
    let counters = crate::dict! {
        "sentences" => c.decoder.sentences,
        "checksum_errors" => c.decoder.checksum_errors,
        "parse_errors" => c.decoder.parse_errors,
        "discarded_bytes" => c.decoder.discarded_bytes,
        "epochs" => c.decoder.epochs,
        "fixes_published" => c.fixes_published,
        "publish_failures" => c.publish_failures,
        "fixes_late" => c.fixes_late,
    };
    let mut d = Dict::new();
    d.insert("state".into(), Value::Str(status.state.as_str().into()));
    d.insert(
        "quality".into(),
        status
            .quality
            .map_or(Value::Null, |q| Value::Str(q.as_str().into())),
    );
    d.insert(
        "no_fix_reason".into(),
        status
            .no_fix_reason
            .map_or(Value::Null, |r| Value::Str(r.as_str().into())),
    );
    d.insert("source".into(), Value::Str(status.source.clone()));
    d.insert("last_epoch_age_ms".into(), num(status.last_epoch_age_ms));
    d.insert("counters".into(), Value::Dict(counters));
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nmea::UtcTime;

    pub(crate) fn sample_fix() -> Fix {
        Fix {
            time: UtcTime {
                year: 2020,
                month: 3,
                day: 18,
                hour: 13,
                minute: 28,
                second: 19,
                nanos: 600_000_000,
                decimals: 2,
            },
            lat: 41.574_965_909_833_34,
            lon: -93.750_571_901_333_33,
            alt_m: Some(278.161),
            quality: Quality::Dgps,
            sats: Some(10),
            hdop: Some(0.9),
            speed_mps: Some(0.076),
            course_deg: Some(124.888),
            heading_deg: None,
            lat_err_m: None,
            lon_err_m: None,
            alt_err_m: None,
            diff_age_s: Some(6.6),
        }
    }

    #[test]
    fn fix_kwargs_have_every_field_with_nulls_for_unknowns() {
        let d = fix_kwargs(&sample_fix(), 1.25);
        let keys: Vec<&str> = d.keys().map(String::as_str).collect();
        let mut want = FIX_FIELDS.to_vec();
        want.sort_unstable();
        assert_eq!(keys, want);
        assert_eq!(d["time"], Value::Str("2020-03-18T13:28:19.60Z".into()));
        assert_eq!(d["lat"], Value::Float(41.574_965_909_833_34));
        assert_eq!(d["quality"], Value::Str("dgps".into()));
        assert_eq!(d["sats"], Value::UInt(10));
        assert_eq!(d["heading_deg"], Value::Null);
        assert_eq!(d["age_ms"], Value::Float(1.25));
        let mut nan = sample_fix();
        nan.hdop = Some(f64::NAN);
        assert_eq!(fix_kwargs(&nan, 0.0)["hdop"], Value::Null);
    }

    #[test]
    fn status_kwargs_have_every_field() {
        let status = Status {
            state: ReceiverState::NoFix,
            quality: None,
            no_fix_reason: Some(NoFixReason::Invalid),
            source: "serial:/dev/ttyUSB0@115200".into(),
            last_epoch_age_ms: Some(12.5),
            counters: StatusCounters {
                fixes_published: 3,
                ..StatusCounters::default()
            },
        };
        let d = status_kwargs(&status);
        let mut keys: Vec<&str> = d.keys().map(String::as_str).collect();
        keys.sort_unstable();
        let mut want = STATUS_FIELDS.to_vec();
        want.sort_unstable();
        assert_eq!(keys, want);
        assert_eq!(d["state"], Value::Str("no_fix".into()));
        assert_eq!(d["no_fix_reason"], Value::Str("invalid".into()));
        assert_eq!(d["quality"], Value::Null);
        let counters = d["counters"].as_dict().unwrap();
        let mut keys: Vec<&str> = counters.keys().map(String::as_str).collect();
        keys.sort_unstable();
        let mut want = COUNTER_FIELDS.to_vec();
        want.sort_unstable();
        assert_eq!(keys, want);
        assert_eq!(counters["fixes_published"], Value::UInt(3));
    }
}
