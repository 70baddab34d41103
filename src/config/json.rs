//! Values read from JSON (a call's keyword arguments, a state file) the way the
//! configuration loader reads TOML: the error names the field at fault by its path
//! (`tree.fruit_count`, `sections[1].id`), and the exact reading refuses every key the
//! type does not read.
//!
//! serde's own messages say what was wrong but not where ("invalid type: string, expected
//! f64"); [`from_json`] walks the value itself so that each error carries the path of
//! the field it came from.

use std::fmt;

use serde::de::value::BorrowedStrDeserializer;
use serde::de::{
    self, DeserializeOwned, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor,
};
use serde::Serialize;
use serde_json::Value as Json;

use super::{plain_words, Problem, Validate};

/// Read `T` from `value`; the error names the field at fault by its dotted path (empty
/// for the value as a whole) and says what is wrong in plain words.
pub fn from_json<T: DeserializeOwned>(value: &Json) -> Result<T, Problem> {
    T::deserialize(Tracked(value)).map_err(PathError::into_problem)
}

/// [`from_json`] for a type that reads leniently (a contract payload), then refusing
/// every key of `value` the result does not write back (as `deny_unknown_fields` would)
/// and validating it: every problem at once, each named. `T` must write every field it
/// reads, as contract payloads do.
pub fn from_json_exact<T: DeserializeOwned + Serialize + Validate>(
    value: &Json,
) -> Result<T, Vec<Problem>> {
    let read: T = from_json(value).map_err(|p| vec![p])?;
    let written = serde_json::to_value(&read).unwrap_or_default();
    let mut problems: Vec<Problem> = unread_keys(value, &written)
        .into_iter()
        .map(|key| Problem::new(key, "unknown field"))
        .collect();
    if let Err(found) = read.validate() {
        problems.extend(found);
    }
    if problems.is_empty() {
        Ok(read)
    } else {
        Err(problems)
    }
}

/// The keys of `given` (dotted paths, `[i]` for list items) that `written` lacks: what a
/// lenient type ignored when it read `given` and wrote `written` back.
pub fn unread_keys(given: &Json, written: &Json) -> Vec<String> {
    let mut out = Vec::new();
    unread(given, written, "", &mut out);
    out
}

fn unread(given: &Json, written: &Json, at: &str, out: &mut Vec<String>) {
    match (given, written) {
        (Json::Object(g), Json::Object(w)) => {
            for (key, value) in g {
                let path = join(at, key);
                match w.get(key) {
                    Some(kept) => unread(value, kept, &path, out),
                    None => out.push(path),
                }
            }
        }
        (Json::Array(g), Json::Array(w)) => {
            for (i, (value, kept)) in g.iter().zip(w).enumerate() {
                unread(value, kept, &format!("{at}[{i}]"), out);
            }
        }
        _ => {}
    }
}

fn join(at: &str, key: &str) -> String {
    if at.is_empty() {
        key.to_owned()
    } else {
        format!("{at}.{key}")
    }
}

/// A deserialization error and the path it came from (innermost segment first).
#[derive(Debug)]
struct PathError {
    rev_path: Vec<String>,
    message: String,
}

impl PathError {
    /// The same error one level up, inside `segment` (`name` or `[i]`).
    fn inside(mut self, segment: String) -> PathError {
        self.rev_path.push(segment);
        self
    }

    fn into_problem(self) -> Problem {
        let mut field = String::new();
        for segment in self.rev_path.iter().rev() {
            if segment.starts_with('[') {
                field.push_str(segment);
            } else {
                field = join(&field, segment);
            }
        }
        // serde says "missing field `x`" at the level that lacks it: name `x` itself.
        if let Some(name) = self
            .message
            .strip_prefix("missing field `")
            .and_then(|rest| rest.strip_suffix('`'))
        {
            return Problem::new(join(&field, name), "missing");
        }
        Problem::new(field, plain_words(&self.message))
    }
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for PathError {}

impl de::Error for PathError {
    fn custom<T: fmt::Display>(msg: T) -> PathError {
        PathError {
            rev_path: Vec::new(),
            message: msg.to_string(),
        }
    }
}

fn untracked(e: serde_json::Error) -> PathError {
    de::Error::custom(e)
}

/// A JSON value being read, handing out its members as tracked values too.
struct Tracked<'de>(&'de Json);

impl<'de> Deserializer<'de> for Tracked<'de> {
    type Error = PathError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PathError> {
        match self.0 {
            Json::Object(map) => visitor.visit_map(TrackedMap {
                members: map.iter(),
                pending: None,
            }),
            Json::Array(items) => visitor.visit_seq(TrackedSeq {
                items: items.iter().enumerate(),
            }),
            other => other.deserialize_any(visitor).map_err(untracked),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PathError> {
        match self.0 {
            Json::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, PathError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, PathError> {
        self.0
            .deserialize_enum(name, variants, visitor)
            .map_err(untracked)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
        byte_buf unit unit_struct seq tuple tuple_struct map struct identifier ignored_any
    }
}

struct TrackedMap<'de> {
    members: serde_json::map::Iter<'de>,
    pending: Option<(&'de String, &'de Json)>,
}

impl<'de> MapAccess<'de> for TrackedMap<'de> {
    type Error = PathError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, PathError> {
        let Some((key, value)) = self.members.next() else {
            return Ok(None);
        };
        self.pending = Some((key, value));
        seed.deserialize(BorrowedStrDeserializer::new(key))
            .map(Some)
            .map_err(|e: PathError| e.inside(key.clone()))
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, PathError> {
        let (key, value) = self
            .pending
            .take()
            .ok_or_else(|| <PathError as de::Error>::custom("a value asked before its key"))?;
        seed.deserialize(Tracked(value))
            .map_err(|e| e.inside(key.clone()))
    }
}

struct TrackedSeq<'de> {
    items: std::iter::Enumerate<std::slice::Iter<'de, Json>>,
}

impl<'de> SeqAccess<'de> for TrackedSeq<'de> {
    type Error = PathError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, PathError> {
        match self.items.next() {
            None => Ok(None),
            Some((i, item)) => seed
                .deserialize(Tracked(item))
                .map(Some)
                .map_err(|e| e.inside(format!("[{i}]"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Outer {
        name: String,
        inner: Inner,
        items: Vec<Inner>,
        maybe: Option<f64>,
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Inner {
        count: u32,
    }

    impl Validate for Outer {
        fn validate(&self) -> Result<(), Vec<Problem>> {
            if self.inner.count > 10 {
                Err(vec![Problem::new("inner.count", "at most 10")])
            } else {
                Ok(())
            }
        }
    }

    fn good() -> Json {
        json!({"name": "a", "inner": {"count": 1}, "items": [{"count": 2}], "maybe": null})
    }

    #[test]
    fn a_good_value_reads() {
        let o: Outer = from_json(&good()).unwrap();
        assert_eq!(o.items[0].count, 2);
        assert_eq!(o.maybe, None);
    }

    #[test]
    fn errors_name_their_field() {
        let mut v = good();
        v["inner"]["count"] = json!("many");
        let p = from_json::<Outer>(&v).unwrap_err();
        assert_eq!(p.field, "inner.count");
        assert!(p.message.contains("whole number"), "{p}");
        let mut v = good();
        v["items"][0] = json!({});
        assert_eq!(
            from_json::<Outer>(&v).unwrap_err(),
            Problem::new("items[0].count", "missing")
        );
        let mut v = good();
        v.as_object_mut().unwrap().remove("name");
        assert_eq!(from_json::<Outer>(&v).unwrap_err().field, "name");
        let p = from_json::<Outer>(&json!("text")).unwrap_err();
        assert_eq!(p.field, "", "{p}");
    }

    #[test]
    fn the_exact_reading_refuses_unread_keys_and_validates() {
        let mut v = good();
        v["colour"] = json!("red");
        v["inner"]["count"] = json!(11);
        v["items"][0]["size"] = json!(1);
        let mut fields: Vec<String> = from_json_exact::<Outer>(&v)
            .unwrap_err()
            .into_iter()
            .map(|p| p.field)
            .collect();
        fields.sort();
        assert_eq!(fields, ["colour", "inner.count", "items[0].size"]);
        assert!(from_json_exact::<Outer>(&good()).is_ok());
    }
}
