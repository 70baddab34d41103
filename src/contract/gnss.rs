//! GNSS topics (`orchard.gnss.*`): URIs and their payloads as serde structs.
//!
//! `docs/contract.md` ("GNSS") documents them for integrators; the JSON Schemas are
//! `docs/schemas/orchard.gnss.fix.schema.json` and `orchard.gnss.status.schema.json`.
//! A payload travels as `kwargs` (`Client::publish_typed` maps a struct to `kwargs`).
//!
//! Wire rules the structs keep:
//! - every field is always present: an unknown value is `null` (`Option::None`), never
//!   a missing key (no `skip_serializing_if`);
//! - numbers that can be fractional are floats, counts are integers; a float that is
//!   not finite goes out as `null` (JSON has no NaN);
//! - enums are the lower-case strings of `as_str` (`rtk_fixed`, `no_fix`, ...);
//! - readers ignore fields they do not know (no `deny_unknown_fields`), so fields can
//!   be added without breaking consumers.
//!
//! **Liveness.** Both payloads carry `published_at` (the component's wall clock when it
//! published, RFC 3339 UTC). A retained fix or status may be old; [`position_usable`]
//! is the age rule `docs/contract.md` tells consumers to apply before acting on a
//! position. When the component goes away, the router publishes the status it filed as
//! its testament: `state: "gone"` with `published_at: null` ([`StatusPayload::gone`]).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::{finite, finite_or_null, ContractPayload};
use crate::nmea::{Counters, Fix, Micros, NoFixReason, Quality, UtcTime};

/// One receiver epoch that is a real position; retained.
pub const FIX_TOPIC: &str = "orchard.gnss.fix";
/// State of the GNSS component, on every change and at 1 Hz; retained.
pub const STATUS_TOPIC: &str = "orchard.gnss.status";

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
    /// The component is not running: it stopped (end of a replayed file, SIGTERM), or
    /// its session ended and the router published its testament (killed, crashed,
    /// network lost).
    Gone,
}

impl ReceiverState {
    /// Every state.
    pub const ALL: [ReceiverState; 5] = [
        ReceiverState::Fix,
        ReceiverState::NoFix,
        ReceiverState::Stale,
        ReceiverState::PortLost,
        ReceiverState::Gone,
    ];

    /// The contract's spelling: `fix`, `no_fix`, `stale`, `port_lost`, `gone`.
    pub fn as_str(self) -> &'static str {
        match self {
            ReceiverState::Fix => "fix",
            ReceiverState::NoFix => "no_fix",
            ReceiverState::Stale => "stale",
            ReceiverState::PortLost => "port_lost",
            ReceiverState::Gone => "gone",
        }
    }
}

impl std::fmt::Display for ReceiverState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

wire_enum!(ReceiverState, "state");
wire_enum!(Quality, "quality");
wire_enum!(NoFixReason, "no-fix reason");

/// Milliseconds with microsecond resolution.
pub fn micros_to_ms(us: Micros) -> f64 {
    us as f64 / 1000.0
}

/// `orchard.gnss.fix`: one receiver epoch that is a real position.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FixPayload {
    /// Receiver UTC time of the epoch, RFC 3339 with the receiver's sub-second digits
    /// (`2020-03-18T13:28:19.60Z`).
    pub time: String,
    /// Latitude, degrees WGS 84, north positive; full receiver precision.
    #[serde(serialize_with = "finite")]
    pub lat: f64,
    /// Longitude, degrees WGS 84, east positive; full receiver precision.
    #[serde(serialize_with = "finite")]
    pub lon: f64,
    /// Altitude above mean sea level (GGA), metres.
    #[serde(serialize_with = "finite_or_null")]
    pub alt_m: Option<f64>,
    /// Solution quality.
    pub quality: Quality,
    /// Satellites used in the solution (an integer on the wire).
    pub sats: Option<u32>,
    /// Horizontal dilution of precision (unitless).
    #[serde(serialize_with = "finite_or_null")]
    pub hdop: Option<f64>,
    /// Speed over ground, metres per second.
    #[serde(serialize_with = "finite_or_null")]
    pub speed_mps: Option<f64>,
    /// Course over ground, degrees true, 0–360.
    #[serde(serialize_with = "finite_or_null")]
    pub course_deg: Option<f64>,
    /// Heading of a dual-antenna receiver (HDT/THS), degrees true, 0–360; null
    /// without one.
    #[serde(serialize_with = "finite_or_null")]
    pub heading_deg: Option<f64>,
    /// 1-sigma latitude error (GST), metres.
    #[serde(serialize_with = "finite_or_null")]
    pub lat_err_m: Option<f64>,
    /// 1-sigma longitude error (GST), metres.
    #[serde(serialize_with = "finite_or_null")]
    pub lon_err_m: Option<f64>,
    /// 1-sigma altitude error (GST), metres.
    #[serde(serialize_with = "finite_or_null")]
    pub alt_err_m: Option<f64>,
    /// Age of the differential corrections (GGA), seconds.
    #[serde(serialize_with = "finite_or_null")]
    pub diff_age_s: Option<f64>,
    /// Milliseconds (µs resolution) from the arrival of the epoch's first byte at the
    /// component to the publication.
    #[serde(serialize_with = "finite")]
    pub age_ms: f64,
    /// When the component published it: its wall clock, RFC 3339 UTC with milliseconds
    /// ([`published_now`]). A retained fix may be old: see [`position_usable`].
    pub published_at: String,
}

impl FixPayload {
    /// The payload for `fix`, published `age_ms` after its first byte arrived, at
    /// `published_at` (RFC 3339, see [`published_now`]).
    pub fn new(fix: &Fix, age_ms: f64, published_at: String) -> FixPayload {
        FixPayload {
            time: fix.time.rfc3339(),
            lat: fix.lat,
            lon: fix.lon,
            alt_m: fix.alt_m,
            quality: fix.quality,
            sats: fix.sats,
            hdop: fix.hdop,
            speed_mps: fix.speed_mps,
            course_deg: fix.course_deg,
            heading_deg: fix.heading_deg,
            lat_err_m: fix.lat_err_m,
            lon_err_m: fix.lon_err_m,
            alt_err_m: fix.alt_err_m,
            diff_age_s: fix.diff_age_s,
            age_ms,
            published_at,
        }
    }
}

impl ContractPayload for FixPayload {
    const URI: &'static str = FIX_TOPIC;
    const SCHEMA: &'static str = "orchard.gnss.fix.schema.json";

    fn examples() -> Vec<FixPayload> {
        let full = FixPayload::new(&example_fix(), 31.2, EXAMPLE_PUBLISHED_AT.to_owned());
        let sparse = FixPayload {
            alt_m: None,
            sats: None,
            hdop: None,
            speed_mps: None,
            course_deg: None,
            heading_deg: None,
            lat_err_m: None,
            lon_err_m: None,
            alt_err_m: None,
            diff_age_s: None,
            ..full.clone()
        };
        let mut out = vec![full.clone(), sparse];
        out.extend(Quality::ALL.into_iter().map(|quality| FixPayload {
            quality,
            ..full.clone()
        }));
        out
    }
}

/// `published_at` of the examples: 41 ms after the example fix's receiver time.
const EXAMPLE_PUBLISHED_AT: &str = "2020-03-18T13:28:19.641Z";

/// An RTK rover epoch with every field known (the contract's examples).
fn example_fix() -> Fix {
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
        quality: Quality::RtkFixed,
        sats: Some(10),
        hdop: Some(0.9),
        speed_mps: Some(0.0761),
        course_deg: Some(124.888),
        heading_deg: Some(271.5),
        lat_err_m: Some(0.012),
        lon_err_m: Some(0.009),
        alt_err_m: Some(0.021),
        diff_age_s: Some(6.6),
    }
}

/// `orchard.gnss.status`: the component's state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatusPayload {
    /// `fix`, `no_fix`, `stale`, `port_lost` or `gone`.
    pub state: ReceiverState,
    /// Quality of the last fix while `state` is `fix`, else null.
    pub quality: Option<Quality>,
    /// Why the last epoch was no fix, while `state` is `no_fix`, else null.
    pub no_fix_reason: Option<NoFixReason>,
    /// Where the bytes come from, e.g. `serial:/dev/ttyUSB0@115200`.
    pub source: String,
    /// Milliseconds since the last epoch (fix or not) completed; null before the first
    /// one on this connection.
    #[serde(serialize_with = "finite_or_null")]
    pub last_epoch_age_ms: Option<f64>,
    /// Running totals since the component started.
    pub counters: StatusCounters,
    /// When the component published it (RFC 3339 UTC, [`published_now`]); `null` only
    /// in the `gone` status the router publishes as the component's testament, whose
    /// time the component could not know. A status is old after [`STATUS_MAX_AGE`].
    pub published_at: Option<String>,
}

impl StatusPayload {
    /// The `gone` status: nothing about the receiver is known any more. The component
    /// files it as its testament (`published_at: None`, `counters` as they were when
    /// it was filed) and publishes it itself when it stops (with the time and the
    /// final counters).
    pub fn gone(
        source: String,
        counters: StatusCounters,
        published_at: Option<String>,
    ) -> StatusPayload {
        StatusPayload {
            state: ReceiverState::Gone,
            quality: None,
            no_fix_reason: None,
            source,
            last_epoch_age_ms: None,
            counters,
            published_at,
        }
    }
}

impl ContractPayload for StatusPayload {
    const URI: &'static str = STATUS_TOPIC;
    const SCHEMA: &'static str = "orchard.gnss.status.schema.json";

    fn examples() -> Vec<StatusPayload> {
        let counters = StatusCounters {
            sentences: 5120,
            checksum_errors: 2,
            parse_errors: 1,
            discarded_bytes: 312,
            epochs: 2560,
            fixes_published: 2490,
            publish_failures: 12,
            fixes_late: 3,
        };
        let base = StatusPayload {
            state: ReceiverState::Stale,
            quality: None,
            no_fix_reason: None,
            source: "serial:/dev/ttyUSB0@115200".into(),
            last_epoch_age_ms: None,
            counters: StatusCounters::default(),
            published_at: Some(EXAMPLE_PUBLISHED_AT.to_owned()),
        };
        let mut out = vec![base.clone()];
        // The testament the router publishes for a component that went away.
        out.push(StatusPayload::gone(base.source.clone(), counters, None));
        out.extend(ReceiverState::ALL.into_iter().map(|state| StatusPayload {
            state,
            last_epoch_age_ms: Some(84.1),
            counters,
            ..base.clone()
        }));
        out.extend(Quality::ALL.into_iter().map(|q| StatusPayload {
            state: ReceiverState::Fix,
            quality: Some(q),
            last_epoch_age_ms: Some(12.5),
            counters,
            ..base.clone()
        }));
        out.extend(NoFixReason::ALL.into_iter().map(|r| StatusPayload {
            state: ReceiverState::NoFix,
            no_fix_reason: Some(r),
            last_epoch_age_ms: Some(0.0),
            counters,
            ..base.clone()
        }));
        out
    }
}

/// A fix whose `published_at` is older than this is not acted on: at the 5–20 Hz a
/// sprayer needs, several epochs were missed (the component stopped, froze or lost its
/// receiver). Must exceed the receiver's epoch interval plus `--max-fix-delay`.
pub const FIX_MAX_AGE: Duration = Duration::from_millis(500);
/// A status whose `published_at` is older than this is not believed: the component
/// publishes one at least every second.
pub const STATUS_MAX_AGE: Duration = Duration::from_millis(2500);
/// How far a `published_at` may lie ahead of the consumer's clock before the clocks
/// are taken to disagree (and nothing is believed).
pub const MAX_CLOCK_SKEW: Duration = Duration::from_millis(250);

/// The limits of the age rule ([`position_usable`]); the defaults are the contract's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AgeLimits {
    pub fix: Duration,
    pub status: Duration,
    pub clock_skew: Duration,
}

impl Default for AgeLimits {
    fn default() -> Self {
        AgeLimits {
            fix: FIX_MAX_AGE,
            status: STATUS_MAX_AGE,
            clock_skew: MAX_CLOCK_SKEW,
        }
    }
}

/// Why a consumer must not act on a position.
#[derive(Clone, Debug, PartialEq)]
pub enum NotUsable {
    /// The status is not `fix` (`gone` included). A status this version cannot read
    /// (an unknown `state`) counts as not `fix` too.
    State(ReceiverState),
    /// The status has no readable `published_at` (the router's testament has none).
    StatusUndated,
    /// The status is older than the limit (milliseconds).
    StatusTooOld { age_ms: f64 },
    /// The fix has no readable `published_at`.
    FixUndated,
    /// The fix is older than the limit (milliseconds).
    FixTooOld { age_ms: f64 },
    /// A `published_at` lies further ahead of `now` than the clock-skew limit
    /// (milliseconds ahead): the clocks disagree, so no age can be trusted.
    ClockSkew { ahead_ms: f64 },
}

impl std::fmt::Display for NotUsable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotUsable::State(s) => write!(f, "GNSS state is {s}, not fix"),
            NotUsable::StatusUndated => f.write_str("the GNSS status has no publication time"),
            NotUsable::StatusTooOld { age_ms } => {
                write!(f, "the last GNSS status is {age_ms:.0} ms old")
            }
            NotUsable::FixUndated => f.write_str("the fix has no publication time"),
            NotUsable::FixTooOld { age_ms } => write!(f, "the last fix is {age_ms:.0} ms old"),
            NotUsable::ClockSkew { ahead_ms } => write!(
                f,
                "a GNSS publication time is {ahead_ms:.0} ms in the future: clocks disagree"
            ),
        }
    }
}

/// The age rule of the contract (`docs/contract.md`, "Acting on a position"): a
/// position may be acted on at `now` only if the latest status is `fix` and at most
/// `limits.status` old, and the latest fix at most `limits.fix` old, both by their
/// `published_at`, neither in the future beyond `limits.clock_skew`.
///
/// ```
/// use std::time::Duration;
/// use verger::contract::gnss::*;
/// use verger::contract::ContractPayload;
///
/// let fix = FixPayload::examples().remove(0);
/// let mut status = StatusPayload::examples().remove(0);
/// status.state = ReceiverState::Fix;
/// let published = parse_published_at(&fix.published_at).unwrap();
/// status.published_at = Some(fix.published_at.clone());
/// let limits = AgeLimits::default();
/// let soon = published + Duration::from_millis(100);
/// assert_eq!(position_usable(&status, &fix, soon, &limits), Ok(()));
/// let late = published + Duration::from_millis(600);
/// assert!(matches!(
///     position_usable(&status, &fix, late, &limits),
///     Err(NotUsable::FixTooOld { .. })
/// ));
/// ```
pub fn position_usable(
    status: &StatusPayload,
    fix: &FixPayload,
    now: SystemTime,
    limits: &AgeLimits,
) -> Result<(), NotUsable> {
    if status.state != ReceiverState::Fix {
        return Err(NotUsable::State(status.state));
    }
    let status_at = status
        .published_at
        .as_deref()
        .and_then(parse_published_at)
        .ok_or(NotUsable::StatusUndated)?;
    let age_ms = age_of(status_at, now, limits)?;
    if age_ms > limits.status.as_secs_f64() * 1000.0 {
        return Err(NotUsable::StatusTooOld { age_ms });
    }
    let fix_at = parse_published_at(&fix.published_at).ok_or(NotUsable::FixUndated)?;
    let age_ms = age_of(fix_at, now, limits)?;
    if age_ms > limits.fix.as_secs_f64() * 1000.0 {
        return Err(NotUsable::FixTooOld { age_ms });
    }
    Ok(())
}

/// Milliseconds from `at` to `now`; a time ahead of `now` within the skew limit is 0.
fn age_of(at: SystemTime, now: SystemTime, limits: &AgeLimits) -> Result<f64, NotUsable> {
    match now.duration_since(at) {
        Ok(age) => Ok(age.as_secs_f64() * 1000.0),
        Err(e) if e.duration() <= limits.clock_skew => Ok(0.0),
        Err(e) => Err(NotUsable::ClockSkew {
            ahead_ms: e.duration().as_secs_f64() * 1000.0,
        }),
    }
}

/// `published_at` for a publication at `t`: RFC 3339 UTC with milliseconds.
pub fn published_at(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
    crate::civil::rfc3339_from_unix(secs, d.subsec_nanos(), 3)
}

/// `published_at` for a publication now (the wall clock).
pub fn published_now() -> String {
    published_at(SystemTime::now())
}

/// An RFC 3339 UTC time (a fix's `time`, a window's `open`...) as microseconds since the
/// Unix epoch: the one reading of GNSS instants on the wire. `None` when it is not one.
pub fn unix_micros(s: &str) -> Option<i64> {
    let d = parse_published_at(s)?.duration_since(UNIX_EPOCH).ok()?;
    i64::try_from(d.as_micros()).ok()
}

/// Read a `published_at`: RFC 3339 in UTC (`2020-03-18T13:28:19.641Z`, any number of
/// fraction digits, `Z` only). `None` for anything else or a date before 1970.
pub fn parse_published_at(s: &str) -> Option<SystemTime> {
    if !s.ends_with(['Z', 'z']) || !matches!(s.as_bytes().get(10), Some(b'T' | b't')) {
        return None;
    }
    let nanos = u128::try_from(crate::civil::parse_rfc3339(s)?).ok()?;
    let nanos = u64::try_from(nanos).ok()?;
    UNIX_EPOCH.checked_add(Duration::from_nanos(nanos))
}

/// The `counters` of `orchard.gnss.status`: the decoder's and the component's own, all
/// counts since the component started (integers on the wire).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusCounters {
    /// Well-formed NMEA sentences.
    pub sentences: u64,
    /// Sentences with a wrong checksum (dropped).
    pub checksum_errors: u64,
    /// Sentences with bad fields (dropped).
    pub parse_errors: u64,
    /// Bytes outside any sentence (noise, UBX, comments).
    pub discarded_bytes: u64,
    /// Receiver epochs completed (fix or not).
    pub epochs: u64,
    /// Fixes handed to the router.
    pub fixes_published: u64,
    /// Fixes that could not be published (router away: dropped, never queued).
    pub publish_failures: u64,
    /// Fixes dropped because they were older than the component's delay limit when
    /// their turn came (never published late).
    pub fixes_late: u64,
}

impl StatusCounters {
    /// Take the decoder's counters, keeping the component's own.
    pub fn set_decoder(&mut self, c: Counters) {
        self.sentences = c.sentences;
        self.checksum_errors = c.checksum_errors;
        self.parse_errors = c.parse_errors;
        self.discarded_bytes = c.discarded_bytes;
        self.epochs = c.epochs;
    }
}

impl From<Counters> for StatusCounters {
    /// The decoder's counters, with the component's own at zero.
    fn from(c: Counters) -> StatusCounters {
        let mut out = StatusCounters::default();
        out.set_decoder(c);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::to_payload;
    use crate::dict;
    use crate::wamp::{to_value, Dict, Payload, Value};

    fn kwargs<T: Serialize>(v: &T) -> Dict {
        let p = to_payload(v).unwrap();
        assert_eq!(p.args, Some(vec![]), "kwargs only, as before the structs");
        p.kwargs.unwrap()
    }

    /// The exact values the hand-written builders put on the wire before the structs:
    /// floats are `Float`, counts `UInt`, unknowns `Null`, every key present.
    #[test]
    fn fix_payload_is_the_same_wire_value_as_before() {
        let mut fix = example_fix();
        fix.quality = Quality::Dgps;
        fix.heading_deg = None;
        fix.lat_err_m = None;
        fix.lon_err_m = None;
        fix.alt_err_m = None;
        fix.speed_mps = Some(0.076);
        let want = dict! {
            "time" => "2020-03-18T13:28:19.60Z",
            "lat" => 41.574_965_909_833_34,
            "lon" => -93.750_571_901_333_33,
            "alt_m" => 278.161,
            "quality" => "dgps",
            "sats" => Value::UInt(10),
            "hdop" => 0.9,
            "speed_mps" => 0.076,
            "course_deg" => 124.888,
            "heading_deg" => Value::Null,
            "lat_err_m" => Value::Null,
            "lon_err_m" => Value::Null,
            "alt_err_m" => Value::Null,
            "diff_age_s" => 6.6,
            "age_ms" => 1.25,
            "published_at" => "2020-03-18T13:28:19.650Z",
        };
        let at = || "2020-03-18T13:28:19.650Z".to_owned();
        let payload = FixPayload::new(&fix, 1.25, at());
        assert_eq!(kwargs(&payload), want);
        assert_eq!(to_payload(&payload).unwrap(), Payload::new(vec![], want));
        // Not finite: null, as JSON has no NaN.
        fix.hdop = Some(f64::NAN);
        assert_eq!(
            kwargs(&FixPayload::new(&fix, f64::INFINITY, at()))["hdop"],
            Value::Null
        );
        assert_eq!(
            kwargs(&FixPayload::new(&fix, f64::INFINITY, at()))["age_ms"],
            Value::Null
        );
    }

    #[test]
    fn status_payload_is_the_same_wire_value_as_before() {
        let status = StatusPayload {
            state: ReceiverState::NoFix,
            quality: None,
            no_fix_reason: Some(NoFixReason::Manual),
            source: "serial:/dev/ttyUSB0@115200".into(),
            last_epoch_age_ms: Some(12.5),
            counters: StatusCounters {
                fixes_published: 3,
                ..StatusCounters::from(Counters {
                    sentences: 7,
                    checksum_errors: 1,
                    parse_errors: 0,
                    discarded_bytes: 9,
                    epochs: 4,
                    ..Counters::default()
                })
            },
            published_at: Some("2020-03-18T13:28:20.001Z".into()),
        };
        let want = dict! {
            "state" => "no_fix",
            "quality" => Value::Null,
            "no_fix_reason" => "manual_input",
            "source" => "serial:/dev/ttyUSB0@115200",
            "last_epoch_age_ms" => 12.5,
            "counters" => dict! {
                "sentences" => Value::UInt(7),
                "checksum_errors" => Value::UInt(1),
                "parse_errors" => Value::UInt(0),
                "discarded_bytes" => Value::UInt(9),
                "epochs" => Value::UInt(4),
                "fixes_published" => Value::UInt(3),
                "publish_failures" => Value::UInt(0),
                "fixes_late" => Value::UInt(0),
            },
            "published_at" => "2020-03-18T13:28:20.001Z",
        };
        assert_eq!(kwargs(&status), want);
        let gone = StatusPayload::gone("stdin".into(), StatusCounters::default(), None);
        let kw = kwargs(&gone);
        assert_eq!(kw["state"], Value::from("gone"));
        assert_eq!(kw["published_at"], Value::Null);
        assert_eq!(kw["last_epoch_age_ms"], Value::Null);
    }

    #[test]
    fn enums_are_spelled_as_as_str_and_read_back() {
        for q in Quality::ALL {
            assert_eq!(to_value(&q).unwrap(), Value::Str(q.as_str().into()));
            assert_eq!(
                crate::wamp::from_value::<Quality>(to_value(&q).unwrap()),
                Ok(q)
            );
        }
        for r in NoFixReason::ALL {
            assert_eq!(to_value(&r).unwrap(), Value::Str(r.as_str().into()));
        }
        for s in ReceiverState::ALL {
            assert_eq!(to_value(&s).unwrap(), Value::Str(s.as_str().into()));
        }
        let e = crate::wamp::from_value::<Quality>(Value::Str("ppp".into())).unwrap_err();
        assert!(e.message().contains("unknown quality `ppp`"), "{e}");
    }

    #[test]
    fn readers_ignore_fields_added_later() {
        let mut d = kwargs(&FixPayload::examples()[0]);
        d.insert("geoid_sep_m".into(), Value::Float(-31.4));
        let back: FixPayload = crate::wamp::from_value(Value::Dict(d)).unwrap();
        assert_eq!(back, FixPayload::examples()[0]);
    }

    #[test]
    fn published_at_is_written_and_read_back() {
        let t = UNIX_EPOCH + Duration::from_millis(1_584_538_099_641);
        assert_eq!(published_at(t), "2020-03-18T13:28:19.641Z");
        assert_eq!(parse_published_at("2020-03-18T13:28:19.641Z"), Some(t));
        assert_eq!(
            parse_published_at("2020-03-18T13:28:19Z"),
            Some(t - Duration::from_millis(641))
        );
        assert_eq!(parse_published_at("2020-03-18T13:28:19.64100000Z"), Some(t));
        assert_eq!(
            parse_published_at("2000-02-29T00:00:00.5Z"),
            Some(UNIX_EPOCH + Duration::from_millis(951_782_400_500))
        );
        for bad in [
            "",
            "2020-03-18 13:28:19Z",
            "2020-03-18T13:28:19+01:00",
            "2020-03-18T13:28:19.Z",
            "2020-02-30T00:00:00Z",
            "2020-13-01T00:00:00Z",
            "2020-03-18T24:00:00Z",
            "1969-12-31T23:59:59Z",
            "2020-03-18T13:28:1xZ",
            "20200318T132819Z",
        ] {
            assert_eq!(parse_published_at(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_age_rule() {
        let limits = AgeLimits::default();
        let t0 = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let ms = |n: u64| Duration::from_millis(n);
        let fix = |at: SystemTime| FixPayload {
            published_at: published_at(at),
            ..FixPayload::examples().remove(0)
        };
        let status = |state, at: Option<SystemTime>| StatusPayload {
            state,
            published_at: at.map(published_at),
            ..StatusPayload::examples().remove(0)
        };
        let ok = status(ReceiverState::Fix, Some(t0));
        assert_eq!(
            position_usable(&ok, &fix(t0), t0 + ms(500), &limits),
            Ok(())
        );
        assert_eq!(
            position_usable(&ok, &fix(t0), t0 + ms(501), &limits),
            Err(NotUsable::FixTooOld { age_ms: 501.0 })
        );
        let newer_fix = fix(t0 + ms(2000));
        assert_eq!(
            position_usable(&ok, &newer_fix, t0 + ms(2500), &limits),
            Ok(())
        );
        assert_eq!(
            position_usable(&ok, &newer_fix, t0 + ms(2501), &limits),
            Err(NotUsable::StatusTooOld { age_ms: 2501.0 })
        );
        for state in [
            ReceiverState::Gone,
            ReceiverState::Stale,
            ReceiverState::NoFix,
            ReceiverState::PortLost,
        ] {
            assert_eq!(
                position_usable(&status(state, Some(t0)), &fix(t0), t0, &limits),
                Err(NotUsable::State(state))
            );
        }
        assert_eq!(
            position_usable(&status(ReceiverState::Fix, None), &fix(t0), t0, &limits),
            Err(NotUsable::StatusUndated)
        );
        let mut undated = fix(t0);
        undated.published_at = "yesterday".into();
        assert_eq!(
            position_usable(&ok, &undated, t0, &limits),
            Err(NotUsable::FixUndated)
        );
        // Slightly ahead of the consumer's clock is fine, far ahead is not.
        assert_eq!(
            position_usable(&ok, &fix(t0 + ms(250)), t0, &limits),
            Ok(())
        );
        assert_eq!(
            position_usable(&ok, &fix(t0 + ms(251)), t0, &limits),
            Err(NotUsable::ClockSkew { ahead_ms: 251.0 })
        );
        assert!(NotUsable::State(ReceiverState::Gone)
            .to_string()
            .contains("gone"));
    }
}
