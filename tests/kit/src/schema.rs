//! Contract payloads checked against the JSON Schemas in `docs/schemas/`.
//!
//! A minimal validator for the subset of JSON Schema those files use: `type`,
//! `required`, `properties`, `additionalProperties`, `items`, `enum`, `minimum`, `maximum` and
//! `format: date-time` (RFC 3339 in UTC), plus the annotations `$schema`, `$id`,
//! `title` and `description`. Any other keyword, type or format is a failure, so the
//! schemas cannot silently grow beyond what is checked.
//!
//! ```no_run
//! let payload = serde_json::json!({"state": "stale"});
//! // By URI (through `verger::contract::PAYLOADS`) or by schema file name.
//! let problems = verger_testkit::schema::check("orchard.gnss.status", &payload).unwrap_err();
//! assert!(problems.iter().any(|p| p.contains("missing")));
//! ```

use std::path::{Path, PathBuf};

use serde_json::Value as Json;

/// Keywords that only document.
const ANNOTATIONS: [&str; 4] = ["$schema", "$id", "title", "description"];

/// `docs/schemas/` of the workspace (found from this crate upwards).
pub fn schemas_dir() -> PathBuf {
    let mut dir = Some(Path::new(env!("CARGO_MANIFEST_DIR")));
    while let Some(d) = dir {
        let candidate = d.join("docs/schemas");
        if candidate.is_dir() {
            return candidate;
        }
        dir = d.parent();
    }
    panic!(
        "no docs/schemas above {}",
        Path::new(env!("CARGO_MANIFEST_DIR")).display()
    );
}

/// The file names of every schema in `docs/schemas/` (`*.schema.json`), sorted.
pub fn schema_files() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(schemas_dir())
        .expect("read docs/schemas")
        .map(|e| e.expect("docs/schemas entry").file_name())
        .filter_map(|n| n.into_string().ok())
        .filter(|n| n.ends_with(".schema.json"))
        .collect();
    names.sort();
    names
}

/// The schema file name for `uri_or_name`: a name ending in `.json` as is, a URI of
/// the contract registry its entry's schema, any other URI `URI.schema.json`.
pub fn schema_name(uri_or_name: &str) -> String {
    if uri_or_name.ends_with(".json") {
        return uri_or_name.to_owned();
    }
    match verger::contract::payload(uri_or_name) {
        Some(entry) => entry.schema.to_owned(),
        None => format!("{uri_or_name}.schema.json"),
    }
}

/// The schema for `uri_or_name` (see [`schema_name`]).
pub fn load(uri_or_name: &str) -> Result<Json, String> {
    let path = schemas_dir().join(schema_name(uri_or_name));
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Check `value` against the schema of `uri_or_name` (see [`schema_name`]): every
/// problem found, with a JSON-pointer-like path, or a missing/unreadable schema.
pub fn check(uri_or_name: &str, value: &Json) -> Result<(), Vec<String>> {
    let schema = load(uri_or_name).map_err(|e| vec![e])?;
    let problems = validate(&schema, value);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// WAMP keyword arguments as the JSON a JSON peer receives (integers stay integers,
/// floats stay floats).
pub fn kwargs_json(kwargs: &verger::wamp::Dict) -> Json {
    serde_json::to_value(verger::wamp::Value::Dict(kwargs.clone())).expect("kwargs as JSON")
}

/// Every problem of `value` against `schema`; empty when it conforms.
pub fn validate(schema: &Json, value: &Json) -> Vec<String> {
    let mut problems = Vec::new();
    validate_at(schema, value, "", &mut problems);
    problems
}

fn is_type(v: &Json, t: &str) -> Result<bool, String> {
    Ok(match t {
        "object" => v.is_object(),
        "string" => v.is_string(),
        "number" => v.is_number(),
        "integer" => v.is_u64() || v.is_i64(),
        "null" => v.is_null(),
        "boolean" => v.is_boolean(),
        "array" => v.is_array(),
        other => return Err(format!("unknown type `{other}`")),
    })
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction]Z`.
pub fn is_rfc3339_utc(s: &str) -> bool {
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

fn validate_at(schema: &Json, v: &Json, at: &str, problems: &mut Vec<String>) {
    let Some(schema) = schema.as_object() else {
        problems.push(format!("{at}: the schema is not an object"));
        return;
    };
    let mut bad_schema = |what: String| problems.push(format!("{at}: schema error: {what}"));
    let mut found = Vec::new();
    for (key, rule) in schema {
        match key.as_str() {
            k if ANNOTATIONS.contains(&k) => {}
            "type" => {
                let types: Vec<&Json> = match rule {
                    Json::Array(ts) => ts.iter().collect(),
                    t => vec![t],
                };
                let mut ok = false;
                for t in types {
                    match t.as_str().map(|t| is_type(v, t)) {
                        Some(Ok(true)) => ok = true,
                        Some(Ok(false)) => {}
                        Some(Err(e)) => bad_schema(e),
                        None => bad_schema(format!("bad type rule {rule}")),
                    }
                }
                if !ok {
                    found.push(format!("{at}: {v} is not {rule}"));
                }
            }
            "enum" => match rule.as_array() {
                Some(values) if !values.contains(v) => {
                    found.push(format!("{at}: {v} not in {rule}"));
                }
                Some(_) => {}
                None => bad_schema(format!("enum {rule} is not an array")),
            },
            "minimum" | "maximum" | "exclusiveMinimum" | "exclusiveMaximum" => {
                let Some(limit) = rule.as_f64() else {
                    bad_schema(format!("{key} {rule} is not a number"));
                    continue;
                };
                let (out, op) = match key.as_str() {
                    "minimum" => (v.as_f64().is_some_and(|x| x < limit), "<"),
                    "maximum" => (v.as_f64().is_some_and(|x| x > limit), ">"),
                    "exclusiveMinimum" => (v.as_f64().is_some_and(|x| x <= limit), "<="),
                    _ => (v.as_f64().is_some_and(|x| x >= limit), ">="),
                };
                if out {
                    found.push(format!("{at}: {v} {op} {rule}"));
                }
            }
            "minLength" => {
                let Some(limit) = rule.as_u64() else {
                    bad_schema(format!("minLength {rule} is not a whole number"));
                    continue;
                };
                if v.as_str()
                    .is_some_and(|s| (s.chars().count() as u64) < limit)
                {
                    found.push(format!("{at}: {v} is shorter than {limit} characters"));
                }
            }
            "format" => {
                if rule != "date-time" {
                    bad_schema(format!("unsupported format {rule}"));
                } else if v.as_str().is_some_and(|s| !is_rfc3339_utc(s)) {
                    found.push(format!("{at}: {v} is not an RFC 3339 UTC date-time"));
                }
            }
            "required" => {
                let Some(names) = rule.as_array() else {
                    bad_schema(format!("required {rule} is not an array"));
                    continue;
                };
                if let Some(obj) = v.as_object() {
                    for name in names {
                        if !name.as_str().is_some_and(|n| obj.contains_key(n)) {
                            found.push(format!("{at}: missing {name}"));
                        }
                    }
                }
            }
            "properties" => {
                let Some(props) = rule.as_object() else {
                    bad_schema(format!("properties {rule} is not an object"));
                    continue;
                };
                if let Some(obj) = v.as_object() {
                    for (name, sub) in props {
                        if let Some(value) = obj.get(name) {
                            validate_at(sub, value, &format!("{at}/{name}"), &mut found);
                        }
                    }
                }
            }
            "additionalProperties" => {
                let known = schema.get("properties").and_then(Json::as_object);
                if let Some(obj) = v.as_object() {
                    let extra = obj
                        .iter()
                        .filter(|(n, _)| !known.is_some_and(|k| k.contains_key(*n)));
                    for (name, value) in extra {
                        match rule {
                            Json::Bool(false) => found.push(format!("{at}: unexpected {name}")),
                            Json::Bool(true) => {}
                            sub => validate_at(sub, value, &format!("{at}/{name}"), &mut found),
                        }
                    }
                }
            }
            "items" => {
                if let Some(items) = v.as_array() {
                    for (i, item) in items.iter().enumerate() {
                        validate_at(rule, item, &format!("{at}/{i}"), &mut found);
                    }
                }
            }
            other => bad_schema(format!("the test validator does not support `{other}`")),
        }
    }
    problems.extend(found);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn good_fix() -> Json {
        json!({
            "time": "2020-03-18T13:28:19.60Z", "lat": 41.5, "lon": -93.7, "alt_m": null,
            "quality": "rtk_fixed", "sats": 12, "hdop": 0.8, "speed_mps": 1.2,
            "course_deg": 90.0, "heading_deg": null, "lat_err_m": null, "lon_err_m": null,
            "alt_err_m": null, "diff_age_s": 1.0, "age_ms": 0.4,
            "published_at": "2020-03-18T13:28:19.601Z"
        })
    }

    #[test]
    fn the_validator_catches_what_it_should() {
        assert_eq!(check("orchard.gnss.fix", &good_fix()), Ok(()));
        assert_eq!(check("orchard.gnss.fix.schema.json", &good_fix()), Ok(()));
        let mut bad = good_fix();
        bad["quality"] = "invalid".into();
        bad["lat"] = 91.0.into();
        bad["time"] = "2020-03-18 13:28:19".into();
        bad["sats"] = 1.5.into();
        bad.as_object_mut().unwrap().remove("heading_deg");
        let problems = check("orchard.gnss.fix", &bad).unwrap_err();
        assert_eq!(problems.len(), 5, "{problems:?}");
    }

    #[test]
    fn nested_objects_and_additional_properties() {
        let schema = json!({
            "type": "object",
            "properties": {"c": {"type": "object", "properties": {"n": {"type": "integer"}},
                                 "additionalProperties": {"type": "integer", "minimum": 0}}},
            "additionalProperties": false
        });
        assert!(validate(&schema, &json!({"c": {"n": 1, "m": 2}})).is_empty());
        let p = validate(&schema, &json!({"c": {"n": 1.5, "m": -2}, "x": 1}));
        assert_eq!(p.len(), 3, "{p:?}");
        assert!(p.iter().any(|p| p.starts_with("/c/n:")), "{p:?}");
        assert!(p.iter().any(|p| p.contains("unexpected x")), "{p:?}");
    }

    #[test]
    fn array_items() {
        let schema = json!({"type": "array", "items": {"type": "object", "required": ["id"]}});
        assert!(validate(&schema, &json!([{"id": 1}, {"id": 2}])).is_empty());
        let p = validate(&schema, &json!([{"id": 1}, {}, 3]));
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p.iter().any(|p| p.starts_with("/1:")), "{p:?}");
    }

    #[test]
    fn exclusive_bounds_and_min_length() {
        let schema = json!({"type": "object", "properties": {
            "f": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 10},
            "s": {"type": "string", "minLength": 2}}});
        assert!(validate(&schema, &json!({"f": 0.1, "s": "ab"})).is_empty());
        let p = validate(&schema, &json!({"f": 0, "s": "é"}));
        assert_eq!(p.len(), 2, "{p:?}");
        assert_eq!(validate(&schema, &json!({"f": 10})).len(), 1);
    }

    #[test]
    fn unknown_keywords_types_and_formats_fail() {
        for schema in [
            json!({"pattern": "^a"}),
            json!({"type": "decimal"}),
            json!({"format": "email"}),
            json!({"properties": {"a": {"oneOf": []}}}),
        ] {
            let p = validate(&schema, &json!({"a": "x"}));
            assert!(
                p.iter().any(|p| p.contains("schema error")),
                "{schema}: {p:?}"
            );
        }
        assert!(check("orchard.nothing", &json!({})).unwrap_err()[0].contains("orchard.nothing"));
    }

    #[test]
    fn rfc3339() {
        assert!(is_rfc3339_utc("2020-03-18T13:28:19Z"));
        assert!(is_rfc3339_utc("2020-03-18T13:28:19.123456789Z"));
        assert!(!is_rfc3339_utc("2020-03-18T13:28:19.Z"));
        assert!(!is_rfc3339_utc("2020-03-18T13:28:19+01:00"));
        assert!(!is_rfc3339_utc("2020-03-18 13:28:19Z"));
    }

    #[test]
    fn every_schema_file_parses() {
        let names = schema_files();
        assert!(names.len() >= 2, "{names:?}");
        for name in names {
            let schema = load(&name).unwrap();
            assert!(schema.is_object(), "{name}");
        }
    }
}
