//! Every payload of the orchard contract against its JSON Schema, generically: for each
//! entry of `verger::contract::PAYLOADS`, its examples (serialized from the typed
//! structs, as `Client::publish_typed` sends them) must be `kwargs` only, match the
//! schema in `docs/schemas/`, read back unchanged, tolerate fields added later, and
//! between them cover null and non-null for every nullable field and every value of
//! every enum. `docs/schemas/` and the registry must list the same schemas.
//!
//! A new payload needs no change here: a struct, a schema file, a line in `PAYLOADS`.

use std::collections::BTreeSet;

use serde_json::Value as Json;
use verger::client::to_payload;
use verger::contract::{PayloadEntry, Role, PAYLOADS};
use verger::wamp::Value;
use verger_testkit::schema;

/// The examples of `entry` as the JSON a JSON peer receives, after checking that each
/// travels as `kwargs` only.
fn examples_json(entry: &PayloadEntry) -> Vec<(Value, Json)> {
    let examples = (entry.examples)().unwrap_or_else(|e| panic!("{}: {e}", entry.uri));
    assert!(!examples.is_empty(), "{}: no examples", entry.uri);
    examples
        .into_iter()
        .map(|value| {
            let payload = to_payload(&value).unwrap();
            assert!(
                payload.arg_list().is_empty(),
                "{}: args {payload:?}",
                entry.uri
            );
            let kwargs = payload.kwargs.clone().expect("kwargs");
            assert_eq!(Value::Dict(kwargs.clone()), value);
            (value, schema::kwargs_json(&kwargs))
        })
        .collect()
}

#[test]
fn every_example_matches_its_schema_and_reads_back() {
    assert!(!PAYLOADS.is_empty());
    for entry in PAYLOADS {
        for (value, json) in examples_json(entry) {
            if let Err(problems) = schema::check(entry.schema, &json) {
                panic!(
                    "{} ({}): {problems:?} in {json}",
                    entry.uri,
                    (entry.type_name)()
                );
            }
            assert_eq!((entry.reread)(value.clone()), Ok(value.clone()), "{json}");
            // Consumers ignore fields added later, at the top and in nested objects
            // with declared properties (a free-form object such as a tree's `extra`
            // keeps whatever it holds).
            let schema = schema::load(entry.schema).unwrap();
            let mut extended = value.as_dict().unwrap().clone();
            for (name, nested) in extended.iter_mut() {
                let declared = schema["properties"][name.as_str()]
                    .get("properties")
                    .is_some();
                if let (Value::Dict(d), true) = (nested, declared) {
                    d.insert("added_later".into(), Value::UInt(1));
                }
            }
            extended.insert("added_later".into(), Value::Str("x".into()));
            assert_eq!(
                (entry.reread)(Value::Dict(extended)),
                Ok(value),
                "{}: a new field broke reading",
                entry.uri
            );
        }
    }
}

/// Every `(path, sub-schema)` of `schema`'s object properties, recursively; `*` in a
/// path stands for every element of an array (`items`).
fn properties<'a>(schema: &'a Json, at: &str, out: &mut Vec<(String, &'a Json)>) {
    if let Some(props) = schema.get("properties").and_then(Json::as_object) {
        for (name, sub) in props {
            let path = format!("{at}/{name}");
            out.push((path.clone(), sub));
            properties(sub, &path, out);
            if let Some(items) = sub.get("items") {
                properties(items, &format!("{path}/*"), out);
            }
        }
    }
}

/// The values at `path` in `json` (see [`properties`]: `*` takes every element).
fn values_at<'a>(json: &'a Json, path: &str, out: &mut Vec<&'a Json>) {
    let path = path.strip_prefix('/').unwrap_or(path);
    if path.is_empty() {
        out.push(json);
        return;
    }
    let (head, rest) = path.split_once('/').unwrap_or((path, ""));
    if head == "*" {
        for item in json.as_array().into_iter().flatten() {
            values_at(item, rest, out);
        }
    } else if let Some(next) = json.get(head) {
        values_at(next, rest, out);
    }
}

fn allows_null(sub: &Json) -> bool {
    let in_list = |key: &str, v: &Json| {
        sub.get(key)
            .and_then(Json::as_array)
            .is_some_and(|a| a.contains(v))
    };
    sub.get("type") == Some(&Json::from("null"))
        || in_list("type", &Json::from("null"))
        || in_list("enum", &Json::Null)
}

#[test]
fn the_examples_cover_every_nullable_field_and_every_enum_value() {
    for entry in PAYLOADS {
        let schema = schema::load(entry.schema).unwrap();
        let examples: Vec<Json> = examples_json(entry).into_iter().map(|(_, j)| j).collect();
        let mut props = Vec::new();
        properties(&schema, "", &mut props);
        for (path, sub) in props {
            let mut seen: Vec<&Json> = Vec::new();
            for e in &examples {
                values_at(e, &path, &mut seen);
            }
            assert!(
                seen.iter().any(|v| !v.is_null()),
                "{}: no example sets {path}",
                entry.uri
            );
            if allows_null(sub) {
                assert!(
                    seen.iter().any(|v| v.is_null()),
                    "{}: no example has {path} null",
                    entry.uri
                );
            }
            for value in sub
                .get("enum")
                .and_then(Json::as_array)
                .into_iter()
                .flatten()
            {
                assert!(
                    seen.contains(&value),
                    "{}: no example has {path} = {value}",
                    entry.uri
                );
            }
        }
    }
}

#[test]
fn the_registry_and_docs_schemas_list_the_same_payloads() {
    let files: BTreeSet<String> = schema::schema_files().into_iter().collect();
    let registered: BTreeSet<String> = PAYLOADS.iter().map(|e| e.schema.to_owned()).collect();
    assert_eq!(
        registered.len(),
        PAYLOADS.len(),
        "two payloads share a schema"
    );
    let uris: BTreeSet<(&str, String)> = PAYLOADS
        .iter()
        .map(|e| (e.uri, format!("{:?}", e.role)))
        .collect();
    assert_eq!(
        uris.len(),
        PAYLOADS.len(),
        "a URI is registered twice in one role"
    );
    assert_eq!(
        files, registered,
        "docs/schemas/ (left) and verger::contract::PAYLOADS (right) differ"
    );
    for entry in PAYLOADS {
        assert_eq!(
            verger::contract::payload_of(entry.uri, entry.role).map(|e| e.schema),
            Some(entry.schema)
        );
        let suffix = match entry.role {
            Role::Event => "",
            Role::Call => ".call",
            Role::Result => ".result",
        };
        assert_eq!(
            entry.schema,
            format!("{}{suffix}.schema.json", entry.uri),
            "schema files are named URI[.call|.result].schema.json"
        );
    }
}
