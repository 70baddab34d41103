//! Real published payloads validated against `docs/schemas/orchard.gnss.*.schema.json`
//! with a minimal validator for the subset of JSON Schema those files use (`type`,
//! `required`, `properties`, `additionalProperties`, `enum`, `minimum`, `maximum`,
//! `format: date-time`); any other keyword fails the test, so the schemas cannot
//! silently grow beyond what is checked.

mod common;

use common::*;
use serde_json::Value as Json;
use verger::contract::gnss::{FIX_TOPIC, STATUS_TOPIC};
use verger::source::{Pacing, SourceSpec};
use verger_gnss::GnssConfig;

const ANNOTATIONS: [&str; 4] = ["$schema", "$id", "title", "description"];

fn load(name: &str) -> Json {
    let path = project_root().join("docs/schemas").join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn is_type(v: &Json, t: &str) -> bool {
    match t {
        "object" => v.is_object(),
        "string" => v.is_string(),
        "number" => v.is_number(),
        "integer" => v.is_u64() || v.is_i64(),
        "null" => v.is_null(),
        "boolean" => v.is_boolean(),
        "array" => v.is_array(),
        other => panic!("unknown type {other}"),
    }
}

fn is_rfc3339_utc(s: &str) -> bool {
    let b = s.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    b.len() >= 20
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
        && b[b.len() - 1] == b'Z'
        && (b.len() == 20 || (b[19] == b'.' && b.len() > 21 && digits(20..b.len() - 1)))
}

/// Problems of `v` against `schema`, with JSON-pointer-ish paths.
fn validate(schema: &Json, v: &Json, at: &str, problems: &mut Vec<String>) {
    let schema = schema.as_object().expect("schema object");
    for (key, rule) in schema {
        match key.as_str() {
            k if ANNOTATIONS.contains(&k) => {}
            "type" => {
                let ok = match rule {
                    Json::String(t) => is_type(v, t),
                    Json::Array(ts) => ts.iter().any(|t| is_type(v, t.as_str().unwrap())),
                    _ => panic!("bad type rule"),
                };
                if !ok {
                    problems.push(format!("{at}: {v} is not {rule}"));
                }
            }
            "enum" => {
                if !rule.as_array().unwrap().contains(v) {
                    problems.push(format!("{at}: {v} not in {rule}"));
                }
            }
            "minimum" => {
                if v.as_f64().is_some_and(|x| x < rule.as_f64().unwrap()) {
                    problems.push(format!("{at}: {v} < {rule}"));
                }
            }
            "maximum" => {
                if v.as_f64().is_some_and(|x| x > rule.as_f64().unwrap()) {
                    problems.push(format!("{at}: {v} > {rule}"));
                }
            }
            "format" => {
                assert_eq!(rule, "date-time", "unsupported format");
                if v.as_str().is_some_and(|s| !is_rfc3339_utc(s)) {
                    problems.push(format!("{at}: {v} is not an RFC 3339 UTC date-time"));
                }
            }
            "required" => {
                if let Some(obj) = v.as_object() {
                    for name in rule.as_array().unwrap() {
                        if !obj.contains_key(name.as_str().unwrap()) {
                            problems.push(format!("{at}: missing {name}"));
                        }
                    }
                }
            }
            "properties" => {
                if let Some(obj) = v.as_object() {
                    for (name, sub) in rule.as_object().unwrap() {
                        if let Some(value) = obj.get(name) {
                            validate(sub, value, &format!("{at}/{name}"), problems);
                        }
                    }
                }
            }
            "additionalProperties" => {
                let known = schema
                    .get("properties")
                    .and_then(Json::as_object)
                    .cloned()
                    .unwrap_or_default();
                if let Some(obj) = v.as_object() {
                    for (name, value) in obj.iter().filter(|(n, _)| !known.contains_key(*n)) {
                        match rule {
                            Json::Bool(false) => problems.push(format!("{at}: unexpected {name}")),
                            Json::Bool(true) => {}
                            sub => validate(sub, value, &format!("{at}/{name}"), problems),
                        }
                    }
                }
            }
            other => panic!("the test validator does not support `{other}`"),
        }
    }
}

fn problems(schema: &Json, v: &Json) -> Vec<String> {
    let mut p = Vec::new();
    validate(schema, v, "", &mut p);
    p
}

#[test]
fn the_validator_catches_what_it_should() {
    let fix = load("orchard.gnss.fix.schema.json");
    let good = serde_json::json!({
        "time": "2020-03-18T13:28:19.60Z", "lat": 41.5, "lon": -93.7, "alt_m": null,
        "quality": "rtk_fixed", "sats": 12, "hdop": 0.8, "speed_mps": 1.2, "course_deg": 90.0,
        "heading_deg": null, "lat_err_m": null, "lon_err_m": null, "alt_err_m": null,
        "diff_age_s": 1.0, "age_ms": 0.4
    });
    assert_eq!(problems(&fix, &good), Vec::<String>::new());
    let mut bad = good.clone();
    bad["quality"] = "invalid".into();
    bad["lat"] = 91.0.into();
    bad["time"] = "2020-03-18 13:28:19".into();
    bad["sats"] = 1.5.into();
    bad.as_object_mut().unwrap().remove("heading_deg");
    assert_eq!(problems(&fix, &bad).len(), 5, "{:?}", problems(&fix, &bad));
}

fn to_json(kwargs: &verger::wamp::Dict) -> Json {
    serde_json::to_value(verger::wamp::Value::Dict(kwargs.clone())).unwrap()
}

/// Replay real captures through the component and validate every event published.
#[tokio::test]
async fn published_payloads_match_the_schemas() {
    let fix_schema = load("orchard.gnss.fix.schema.json");
    let status_schema = load("orchard.gnss.status.schema.json");
    let router = start_router().await;
    let observer = connect(&router.url()).await;
    let mut fixes = subscribe(&observer, FIX_TOPIC, false).await;
    let mut statuses = subscribe(&observer, STATUS_TOPIC, false).await;
    let mut fix_count = 0;
    let mut status_count = 0;
    for capture in [
        "gpsd__nmea-rtk.log",
        "gpsd__hemi.log",
        "hazer__simplertk2b_rover.dat",
    ] {
        let spec = SourceSpec::File {
            path: nmea_capture_path(capture),
            // Fast, but with some pacing so that epochs are not merged by time.
            pacing: Pacing {
                speed: 0.0,
                line_rate: 2000.0,
            },
        };
        let gnss = Component::start(&router.url(), GnssConfig::new(spec));
        gnss.finished().await.expect("replay");
        // Let the last events travel through the router.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        while let Some(e) = fixes.try_recv() {
            let p = problems(&fix_schema, &to_json(&e.kwargs));
            assert!(p.is_empty(), "{capture}: {p:?} in {:?}", e.kwargs);
            fix_count += 1;
        }
        while let Some(e) = statuses.try_recv() {
            let p = problems(&status_schema, &to_json(&e.kwargs));
            assert!(p.is_empty(), "{capture}: {p:?} in {:?}", e.kwargs);
            status_count += 1;
        }
    }
    assert!(fix_count > 100, "{fix_count} fixes");
    assert!(status_count >= 3, "{status_count} statuses");
    router.shutdown().await.unwrap();
}
