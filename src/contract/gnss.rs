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

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::ContractPayload;
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
}

impl ReceiverState {
    /// Every state.
    pub const ALL: [ReceiverState; 4] = [
        ReceiverState::Fix,
        ReceiverState::NoFix,
        ReceiverState::Stale,
        ReceiverState::PortLost,
    ];

    /// The contract's spelling: `fix`, `no_fix`, `stale`, `port_lost`.
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

/// Serde for an enum as its `as_str` spelling, one of `ALL`: the spelling lives in one
/// place (`as_str`), shared by logs and the wire.
macro_rules! wire_enum {
    ($ty:ty, $what:literal) => {
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<$ty, D::Error> {
                let s = String::deserialize(d)?;
                <$ty>::ALL
                    .into_iter()
                    .find(|v| v.as_str() == s)
                    .ok_or_else(|| {
                        let known: Vec<&str> = <$ty>::ALL.iter().map(|v| v.as_str()).collect();
                        serde::de::Error::custom(format_args!(
                            concat!("unknown ", $what, " `{}` (known: {})"),
                            s,
                            known.join(", ")
                        ))
                    })
            }
        }
    };
}

wire_enum!(ReceiverState, "state");
wire_enum!(Quality, "quality");
wire_enum!(NoFixReason, "no-fix reason");

/// A float as itself, or `null` when it is not finite.
fn finite<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    if v.is_finite() {
        s.serialize_f64(*v)
    } else {
        s.serialize_none()
    }
}

/// An optional float as itself, or `null` when absent or not finite.
fn finite_or_null<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(x) => finite(x, s),
        None => s.serialize_none(),
    }
}

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
}

impl FixPayload {
    /// The payload for `fix`, published `age_ms` after its first byte arrived.
    pub fn new(fix: &Fix, age_ms: f64) -> FixPayload {
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
        }
    }
}

impl ContractPayload for FixPayload {
    const URI: &'static str = FIX_TOPIC;
    const SCHEMA: &'static str = "orchard.gnss.fix.schema.json";

    fn examples() -> Vec<FixPayload> {
        let full = FixPayload::new(&example_fix(), 31.2);
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
    /// `fix`, `no_fix`, `stale` or `port_lost`.
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
        };
        let mut out = vec![base.clone()];
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
        };
        let payload = FixPayload::new(&fix, 1.25);
        assert_eq!(kwargs(&payload), want);
        assert_eq!(to_payload(&payload).unwrap(), Payload::new(vec![], want));
        // Not finite: null, as JSON has no NaN.
        fix.hdop = Some(f64::NAN);
        assert_eq!(
            kwargs(&FixPayload::new(&fix, f64::INFINITY))["hdop"],
            Value::Null
        );
        assert_eq!(
            kwargs(&FixPayload::new(&fix, f64::INFINITY))["age_ms"],
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
                })
            },
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
        };
        assert_eq!(kwargs(&status), want);
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
}
