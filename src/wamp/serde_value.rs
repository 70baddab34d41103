//! The serde bridge for [`Value`]: `Serialize`/`Deserialize` impls, a real serde
//! `Serializer` into a `Value` ([`to_value`]) and `Deserializer`s out of an owned or
//! borrowed `Value` ([`from_value`], [`from_value_ref`]).
//!
//! This is how a component goes from a Rust struct to WAMP `kwargs` and back without
//! a detour through JSON text. The mapping follows serde_json's conventions:
//!
//! - structs and maps become `Dict`s (map keys must serialize as strings; integer,
//!   bool and char keys are written as their decimal/text form, like serde_json);
//! - sequences, tuples and tuple structs become `List`s;
//! - `Option::None` and `()` become `Null`, `Some(x)` becomes `x`;
//! - enums are externally tagged: `"Unit"`, `{"Newtype": x}`, `{"Tuple": [..]}`,
//!   `{"Struct": {..}}`;
//! - `serde_bytes` (`serialize_bytes`) becomes `Bytes`;
//! - when deserializing, integers coerce to any integer type with a range check and
//!   to floats; floats with an exact integer value coerce to integers.
//!
//! The crate-private `WireValue` and `ValueSeed` are what the codecs use: with
//! `JSON = true` they apply the spec's `"\0" + base64` convention for binary values
//! (advanced/serialization_binary_json.md). Both are depth-limited so that hostile
//! input cannot overflow the stack.

use std::collections::btree_map;
use std::fmt;

use base64::Engine as _;
use serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor};
use serde::ser::{self, SerializeMap as _, SerializeSeq as _};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::bigint::BigInt;
use super::value::{Dict, List, Value};

/// Deepest nesting of lists and dicts accepted when decoding (the message list itself
/// counts as one level). Below serde_json's own limit so all serializers agree.
pub const MAX_DEPTH: usize = 100;

/// Base64 as the spec wants it: standard alphabet, padded when written; padding is
/// optional when read (some peers strip it).
pub(crate) const BASE64: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_encode_padding(true)
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
);

/// Why a Rust value could not be converted to or from a [`Value`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ValueError {
    message: String,
}

impl ValueError {
    /// An error with the given description.
    pub fn new(message: impl Into<String>) -> ValueError {
        ValueError {
            message: message.into(),
        }
    }

    /// The human-readable description.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl ser::Error for ValueError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        ValueError::new(msg.to_string())
    }
}

impl de::Error for ValueError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        ValueError::new(msg.to_string())
    }
}

/// Convert any serializable Rust value into a [`Value`].
///
/// ```
/// # use verger::wamp::{to_value, Value};
/// #[derive(serde::Serialize)]
/// struct Nozzle { id: u8, open: bool }
/// let v = to_value(&Nozzle { id: 3, open: true }).unwrap();
/// assert_eq!(v.as_dict().unwrap()["id"], Value::UInt(3));
/// ```
pub fn to_value<T: Serialize + ?Sized>(value: &T) -> Result<Value, ValueError> {
    value.serialize(ValueSerializer)
}

/// Convert a [`Value`] into any deserializable Rust type, moving strings and byte
/// buffers out of the value instead of copying them.
///
/// ```
/// # use verger::{dict, wamp::{from_value, Value}};
/// #[derive(serde::Deserialize, Debug, PartialEq)]
/// struct Nozzle { id: u8, open: bool }
/// let v = Value::Dict(dict! { "id" => 3u8, "open" => true });
/// assert_eq!(from_value::<Nozzle>(v).unwrap(), Nozzle { id: 3, open: true });
/// ```
pub fn from_value<T: de::DeserializeOwned>(value: Value) -> Result<T, ValueError> {
    T::deserialize(value)
}

/// Convert a borrowed [`Value`] into a deserializable Rust type; the result may borrow
/// strings and bytes from `value` (e.g. `&str` fields).
pub fn from_value_ref<'de, T: Deserialize<'de>>(value: &'de Value) -> Result<T, ValueError> {
    T::deserialize(value)
}

// ---------------------------------------------------------------------------------
// Serialize / Deserialize for Value
// ---------------------------------------------------------------------------------

/// `"\0"` followed by the base64 of `bytes`: binary data in JSON
/// (advanced/serialization_binary_json.md).
pub(crate) fn json_binary_string(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(1 + bytes.len().div_ceil(3) * 4);
    s.push('\0');
    BASE64.encode_string(bytes, &mut s);
    s
}

/// Generic serialization: `Bytes` go through `serialize_bytes` (a JSON serializer
/// turns them into an array of numbers; use the WAMP codec for the spec's
/// `"\0" + base64` form). A bignum is an `i128`/`u128` when it fits, else its decimal
/// text; a tagged value is its content; an extension its data; a map with non-string
/// keys a map (which serializers that only take string keys may refuse).
impl Serialize for Value {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => serializer.serialize_unit(),
            Value::Bool(b) => serializer.serialize_bool(*b),
            Value::UInt(u) => serializer.serialize_u64(*u),
            Value::Int(i) => serializer.serialize_i64(*i),
            Value::Float(f) => serializer.serialize_f64(*f),
            Value::Str(s) => serializer.serialize_str(s),
            Value::Bytes(b) | Value::Ext(_, b) => serializer.serialize_bytes(b),
            Value::List(l) => {
                let mut seq = serializer.serialize_seq(Some(l.len()))?;
                for v in l {
                    seq.serialize_element(v)?;
                }
                seq.end()
            }
            Value::Dict(d) => {
                let mut map = serializer.serialize_map(Some(d.len()))?;
                for (k, v) in d {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
            Value::BigInt(b) => match (b.to_u128(), b.to_i128()) {
                (Some(u), _) => serializer.serialize_u128(u),
                (None, Some(i)) => serializer.serialize_i128(i),
                (None, None) => serializer.serialize_str(&b.to_text()),
            },
            Value::Tagged(_, inner) => inner.serialize(serializer),
            Value::Map(m) => {
                let mut map = serializer.serialize_map(Some(m.len()))?;
                for (k, v) in m {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

/// Generic deserialization, depth-limited to [`MAX_DEPTH`]. Strings stay strings
/// (no `"\0"` binary convention; that is the JSON codec's business), map keys must be
/// strings and unique, integers beyond 64 bits become [`Value::BigInt`].
impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Value, D::Error> {
        ValueSeed::new().deserialize(deserializer)
    }
}

/// Deserializes one [`Value`] with a remaining nesting budget.
#[derive(Clone, Copy, Debug)]
struct ValueSeed {
    depth_left: usize,
}

impl ValueSeed {
    /// A seed with the full [`MAX_DEPTH`] budget.
    fn new() -> Self {
        ValueSeed {
            depth_left: MAX_DEPTH,
        }
    }

    fn enter<E: de::Error>(self) -> Result<ValueSeed, E> {
        match self.depth_left.checked_sub(1) {
            Some(depth_left) => Ok(ValueSeed { depth_left }),
            None => Err(E::custom(format_args!(
                "nesting deeper than {MAX_DEPTH} levels"
            ))),
        }
    }
}

impl<'de> DeserializeSeed<'de> for ValueSeed {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a WAMP value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::int(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::UInt(v))
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Value, E> {
        Ok(BigInt::from_i128(v))
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Value, E> {
        Ok(BigInt::from_u128(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::Str(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::Str(v))
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Value, E> {
        Ok(Value::Bytes(v.to_vec()))
    }

    fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Value, E> {
        Ok(Value::Bytes(v))
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        self.enter()?.deserialize(d)
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        self.enter()?.deserialize(d)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let inner = self.enter()?;
        // Never trust a length prefix for the allocation.
        let mut list = List::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(v) = seq.next_element_seed(inner)? {
            list.push(v);
        }
        Ok(Value::List(list))
    }

    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let inner = self.enter()?;
        let mut dict = Dict::new();
        while let Some(key) = map.next_key_seed(KeySeed)? {
            let value = map.next_value_seed(inner)?;
            match dict.entry(key) {
                btree_map::Entry::Vacant(e) => {
                    e.insert(value);
                }
                btree_map::Entry::Occupied(e) => {
                    return Err(de::Error::custom(format_args!(
                        "duplicate dict key {:?}",
                        e.key()
                    )));
                }
            }
        }
        Ok(Value::Dict(dict))
    }

    /// CBOR tags arrive as a two-element "enum" (ciborium's convention): skip the tag,
    /// keep the tagged value.
    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<Value, A::Error> {
        use de::VariantAccess as _;
        let inner = self.enter()?;
        let (_, variant) = data.variant::<de::IgnoredAny>()?;
        variant.tuple_variant(2, TaggedVisitor(inner))
    }
}

struct TaggedVisitor(ValueSeed);

impl<'de> Visitor<'de> for TaggedVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a tagged value")
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let _tag: de::IgnoredAny = seq
            .next_element()?
            .ok_or_else(|| de::Error::custom("tag without a value"))?;
        seq.next_element_seed(self.0)?
            .ok_or_else(|| de::Error::custom("tag without a value"))
    }
}

/// Map keys: strings only.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = String;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<String, D::Error> {
        deserializer.deserialize_string(self)
    }
}

impl Visitor<'_> for KeySeed {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string dict key")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_owned())
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<String, E> {
        Ok(v)
    }
}

// ---------------------------------------------------------------------------------
// Rust value -> Value
// ---------------------------------------------------------------------------------

/// The serde `Serializer` behind [`to_value`].
#[derive(Clone, Copy, Debug, Default)]
pub struct ValueSerializer;

fn variant_dict(variant: &'static str, value: Value) -> Value {
    let mut d = Dict::new();
    d.insert(variant.to_owned(), value);
    Value::Dict(d)
}

impl Serializer for ValueSerializer {
    type Ok = Value;
    type Error = ValueError;
    type SerializeSeq = SeqBuilder;
    type SerializeTuple = SeqBuilder;
    type SerializeTupleStruct = SeqBuilder;
    type SerializeTupleVariant = SeqBuilder;
    type SerializeMap = MapBuilder;
    type SerializeStruct = MapBuilder;
    type SerializeStructVariant = MapBuilder;

    fn serialize_bool(self, v: bool) -> Result<Value, ValueError> {
        Ok(Value::Bool(v))
    }
    fn serialize_i8(self, v: i8) -> Result<Value, ValueError> {
        Ok(Value::int(v.into()))
    }
    fn serialize_i16(self, v: i16) -> Result<Value, ValueError> {
        Ok(Value::int(v.into()))
    }
    fn serialize_i32(self, v: i32) -> Result<Value, ValueError> {
        Ok(Value::int(v.into()))
    }
    fn serialize_i64(self, v: i64) -> Result<Value, ValueError> {
        Ok(Value::int(v))
    }
    fn serialize_i128(self, v: i128) -> Result<Value, ValueError> {
        Ok(BigInt::from_i128(v))
    }
    fn serialize_u8(self, v: u8) -> Result<Value, ValueError> {
        Ok(Value::UInt(v.into()))
    }
    fn serialize_u16(self, v: u16) -> Result<Value, ValueError> {
        Ok(Value::UInt(v.into()))
    }
    fn serialize_u32(self, v: u32) -> Result<Value, ValueError> {
        Ok(Value::UInt(v.into()))
    }
    fn serialize_u64(self, v: u64) -> Result<Value, ValueError> {
        Ok(Value::UInt(v))
    }
    fn serialize_u128(self, v: u128) -> Result<Value, ValueError> {
        Ok(BigInt::from_u128(v))
    }
    fn serialize_f32(self, v: f32) -> Result<Value, ValueError> {
        Ok(Value::Float(v.into()))
    }
    fn serialize_f64(self, v: f64) -> Result<Value, ValueError> {
        Ok(Value::Float(v))
    }
    fn serialize_char(self, v: char) -> Result<Value, ValueError> {
        Ok(Value::Str(v.to_string()))
    }
    fn serialize_str(self, v: &str) -> Result<Value, ValueError> {
        Ok(Value::Str(v.to_owned()))
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<Value, ValueError> {
        Ok(Value::Bytes(v.to_vec()))
    }
    fn serialize_none(self) -> Result<Value, ValueError> {
        Ok(Value::Null)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Value, ValueError> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<Value, ValueError> {
        Ok(Value::Null)
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<Value, ValueError> {
        Ok(Value::Null)
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<Value, ValueError> {
        Ok(Value::Str(variant.to_owned()))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<Value, ValueError> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<Value, ValueError> {
        Ok(variant_dict(variant, value.serialize(self)?))
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<SeqBuilder, ValueError> {
        Ok(SeqBuilder {
            variant: None,
            list: List::with_capacity(len.unwrap_or(0).min(1024)),
        })
    }
    fn serialize_tuple(self, len: usize) -> Result<SeqBuilder, ValueError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<SeqBuilder, ValueError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<SeqBuilder, ValueError> {
        Ok(SeqBuilder {
            variant: Some(variant),
            list: List::with_capacity(len.min(1024)),
        })
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<MapBuilder, ValueError> {
        Ok(MapBuilder {
            variant: None,
            dict: Dict::new(),
            key: None,
        })
    }
    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<MapBuilder, ValueError> {
        self.serialize_map(None)
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<MapBuilder, ValueError> {
        Ok(MapBuilder {
            variant: Some(variant),
            dict: Dict::new(),
            key: None,
        })
    }
}

/// Collects sequence elements for [`ValueSerializer`].
#[derive(Debug)]
pub struct SeqBuilder {
    variant: Option<&'static str>,
    list: List,
}

impl SeqBuilder {
    fn push<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ValueError> {
        self.list.push(value.serialize(ValueSerializer)?);
        Ok(())
    }

    fn finish(self) -> Value {
        match self.variant {
            Some(variant) => variant_dict(variant, Value::List(self.list)),
            None => Value::List(self.list),
        }
    }
}

impl ser::SerializeSeq for SeqBuilder {
    type Ok = Value;
    type Error = ValueError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ValueError> {
        self.push(value)
    }
    fn end(self) -> Result<Value, ValueError> {
        Ok(self.finish())
    }
}

impl ser::SerializeTuple for SeqBuilder {
    type Ok = Value;
    type Error = ValueError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ValueError> {
        self.push(value)
    }
    fn end(self) -> Result<Value, ValueError> {
        Ok(self.finish())
    }
}

impl ser::SerializeTupleStruct for SeqBuilder {
    type Ok = Value;
    type Error = ValueError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ValueError> {
        self.push(value)
    }
    fn end(self) -> Result<Value, ValueError> {
        Ok(self.finish())
    }
}

impl ser::SerializeTupleVariant for SeqBuilder {
    type Ok = Value;
    type Error = ValueError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ValueError> {
        self.push(value)
    }
    fn end(self) -> Result<Value, ValueError> {
        Ok(self.finish())
    }
}

/// Collects map entries and struct fields for [`ValueSerializer`].
#[derive(Debug)]
pub struct MapBuilder {
    variant: Option<&'static str>,
    dict: Dict,
    key: Option<String>,
}

impl MapBuilder {
    fn insert(&mut self, key: String, value: Value) -> Result<(), ValueError> {
        match self.dict.entry(key) {
            btree_map::Entry::Vacant(e) => {
                e.insert(value);
                Ok(())
            }
            btree_map::Entry::Occupied(e) => {
                Err(ValueError::new(format!("duplicate dict key {:?}", e.key())))
            }
        }
    }

    fn finish(self) -> Value {
        match self.variant {
            Some(variant) => variant_dict(variant, Value::Dict(self.dict)),
            None => Value::Dict(self.dict),
        }
    }
}

impl ser::SerializeMap for MapBuilder {
    type Ok = Value;
    type Error = ValueError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), ValueError> {
        self.key = Some(key.serialize(KeySerializer)?);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ValueError> {
        let key = self
            .key
            .take()
            .ok_or_else(|| ValueError::new("map value serialized before its key"))?;
        let value = value.serialize(ValueSerializer)?;
        self.insert(key, value)
    }
    fn end(self) -> Result<Value, ValueError> {
        Ok(self.finish())
    }
}

impl ser::SerializeStruct for MapBuilder {
    type Ok = Value;
    type Error = ValueError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), ValueError> {
        let value = value.serialize(ValueSerializer)?;
        self.insert(key.to_owned(), value)
    }
    fn end(self) -> Result<Value, ValueError> {
        Ok(self.finish())
    }
}

impl ser::SerializeStructVariant for MapBuilder {
    type Ok = Value;
    type Error = ValueError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), ValueError> {
        let value = value.serialize(ValueSerializer)?;
        self.insert(key.to_owned(), value)
    }
    fn end(self) -> Result<Value, ValueError> {
        Ok(self.finish())
    }
}

/// Serializes map keys: strings, chars, unit variants, and (like serde_json) integers
/// and bools as their text form. Anything else is an error.
struct KeySerializer;

fn key_error() -> ValueError {
    ValueError::new("dict keys must be strings (or integers, bools, chars, unit variants)")
}

impl Serializer for KeySerializer {
    type Ok = String;
    type Error = ValueError;
    type SerializeSeq = ser::Impossible<String, ValueError>;
    type SerializeTuple = ser::Impossible<String, ValueError>;
    type SerializeTupleStruct = ser::Impossible<String, ValueError>;
    type SerializeTupleVariant = ser::Impossible<String, ValueError>;
    type SerializeMap = ser::Impossible<String, ValueError>;
    type SerializeStruct = ser::Impossible<String, ValueError>;
    type SerializeStructVariant = ser::Impossible<String, ValueError>;

    fn serialize_bool(self, v: bool) -> Result<String, ValueError> {
        Ok(v.to_string())
    }
    fn serialize_i8(self, v: i8) -> Result<String, ValueError> {
        Ok(v.to_string())
    }
    fn serialize_i16(self, v: i16) -> Result<String, ValueError> {
        Ok(v.to_string())
    }
    fn serialize_i32(self, v: i32) -> Result<String, ValueError> {
        Ok(v.to_string())
    }
    fn serialize_i64(self, v: i64) -> Result<String, ValueError> {
        Ok(v.to_string())
    }
    fn serialize_i128(self, v: i128) -> Result<String, ValueError> {
        Ok(v.to_string())
    }
    fn serialize_u8(self, v: u8) -> Result<String, ValueError> {
        Ok(v.to_string())
    }
    fn serialize_u16(self, v: u16) -> Result<String, ValueError> {
        Ok(v.to_string())
    }
    fn serialize_u32(self, v: u32) -> Result<String, ValueError> {
        Ok(v.to_string())
    }
    fn serialize_u64(self, v: u64) -> Result<String, ValueError> {
        Ok(v.to_string())
    }
    fn serialize_u128(self, v: u128) -> Result<String, ValueError> {
        Ok(v.to_string())
    }
    fn serialize_f32(self, _v: f32) -> Result<String, ValueError> {
        Err(key_error())
    }
    fn serialize_f64(self, _v: f64) -> Result<String, ValueError> {
        Err(key_error())
    }
    fn serialize_char(self, v: char) -> Result<String, ValueError> {
        Ok(v.to_string())
    }
    fn serialize_str(self, v: &str) -> Result<String, ValueError> {
        Ok(v.to_owned())
    }
    fn serialize_bytes(self, _v: &[u8]) -> Result<String, ValueError> {
        Err(key_error())
    }
    fn serialize_none(self) -> Result<String, ValueError> {
        Err(key_error())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, _value: &T) -> Result<String, ValueError> {
        Err(key_error())
    }
    fn serialize_unit(self) -> Result<String, ValueError> {
        Err(key_error())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<String, ValueError> {
        Err(key_error())
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<String, ValueError> {
        Ok(variant.to_owned())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<String, ValueError> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<String, ValueError> {
        Err(key_error())
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq, ValueError> {
        Err(key_error())
    }
    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple, ValueError> {
        Err(key_error())
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct, ValueError> {
        Err(key_error())
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, ValueError> {
        Err(key_error())
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, ValueError> {
        Err(key_error())
    }
    fn serialize_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStruct, ValueError> {
        Err(key_error())
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, ValueError> {
        Err(key_error())
    }
}

// ---------------------------------------------------------------------------------
// Value -> Rust value
// ---------------------------------------------------------------------------------

fn unexpected(v: &Value) -> de::Unexpected<'_> {
    match v {
        Value::Null => de::Unexpected::Unit,
        Value::Bool(b) => de::Unexpected::Bool(*b),
        Value::UInt(u) => de::Unexpected::Unsigned(*u),
        Value::Int(i) => de::Unexpected::Signed(*i),
        Value::Float(f) => de::Unexpected::Float(*f),
        Value::Str(s) => de::Unexpected::Str(s),
        Value::Bytes(b) => de::Unexpected::Bytes(b),
        Value::List(_) => de::Unexpected::Seq,
        Value::Dict(_) | Value::Map(_) => de::Unexpected::Map,
        Value::BigInt(_) => de::Unexpected::Other("an integer beyond 128 bits"),
        Value::Tagged(_, inner) => unexpected(inner),
        Value::Ext(_, b) => de::Unexpected::Bytes(b),
    }
}

fn bigint_out_of_range(b: &BigInt) -> ValueError {
    ValueError::new(format!("integer {b} is out of the 128-bit range"))
}

/// An integral float as an integer value, for integer targets (a JavaScript peer may
/// send `3.0` for `3`).
fn integral_float(f: f64) -> Option<Value> {
    if f.fract() != 0.0 || !f.is_finite() {
        None
    } else if f >= 0.0 && f < u64::MAX as f64 {
        Some(Value::UInt(f as u64))
    } else if f < 0.0 && f >= i64::MIN as f64 {
        Some(Value::Int(f as i64))
    } else {
        None
    }
}

/// Integer deserialize methods: coerce integral floats, then dispatch as usual (serde's
/// integer visitors range-check `visit_u64`/`visit_i64`).
macro_rules! integer_methods {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
            match self.as_float() {
                Some(f) => match integral_float(f) {
                    Some(Value::UInt(u)) => visitor.visit_u64(u),
                    Some(Value::Int(i)) => visitor.visit_i64(i),
                    _ => self.deserialize_any(visitor),
                },
                None => self.deserialize_any(visitor),
            }
        }
    )*};
}

trait FloatPeek {
    fn as_float(&self) -> Option<f64>;
}

impl FloatPeek for Value {
    fn as_float(&self) -> Option<f64> {
        match self {
            Value::Float(f) => Some(*f),
            _ => None,
        }
    }
}

impl FloatPeek for &Value {
    fn as_float(&self) -> Option<f64> {
        (*self).as_float()
    }
}

impl<'de> IntoDeserializer<'de, ValueError> for Value {
    type Deserializer = Value;
    fn into_deserializer(self) -> Value {
        self
    }
}

impl<'de> IntoDeserializer<'de, ValueError> for &'de Value {
    type Deserializer = &'de Value;
    fn into_deserializer(self) -> &'de Value {
        self
    }
}

/// Deserializing out of an owned `Value` moves strings, byte buffers and containers.
impl<'de> Deserializer<'de> for Value {
    type Error = ValueError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(b),
            Value::UInt(u) => visitor.visit_u64(u),
            Value::Int(i) => visitor.visit_i64(i),
            Value::Float(f) => visitor.visit_f64(f),
            Value::Str(s) => visitor.visit_string(s),
            Value::Bytes(b) | Value::Ext(_, b) => visitor.visit_byte_buf(b),
            Value::BigInt(b) => match (b.to_u128(), b.to_i128()) {
                (Some(u), _) => visitor.visit_u128(u),
                (None, Some(i)) => visitor.visit_i128(i),
                (None, None) => Err(bigint_out_of_range(&b)),
            },
            Value::Tagged(_, inner) => inner.deserialize_any(visitor),
            Value::Map(m) => {
                let mut map = de::value::MapDeserializer::new(m.into_iter());
                let out = visitor.visit_map(&mut map)?;
                map.end()?;
                Ok(out)
            }
            Value::List(l) => {
                let mut seq = de::value::SeqDeserializer::new(l.into_iter());
                let out = visitor.visit_seq(&mut seq)?;
                seq.end()?;
                Ok(out)
            }
            Value::Dict(d) => {
                let mut map =
                    de::value::MapDeserializer::new(d.into_iter().map(|(k, v)| (OwnedKey(k), v)));
                let out = visitor.visit_map(&mut map)?;
                map.end()?;
                Ok(out)
            }
        }
    }

    integer_methods!(deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64
        deserialize_i128 deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64
        deserialize_u128);

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self {
            Value::Null => visitor.visit_none(),
            other => visitor.visit_some(other),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        match self {
            Value::Str(s) => visitor.visit_enum(s.into_deserializer()),
            Value::Dict(d) if d.len() == 1 => {
                let mut it = d.into_iter();
                match it.next() {
                    Some((variant, value)) => visitor.visit_enum(EnumAccess {
                        variant: OwnedKey(variant),
                        value,
                    }),
                    None => Err(de::Error::custom("empty enum dict")),
                }
            }
            other => Err(de::Error::invalid_type(
                unexpected(&other),
                &"a string or a dict with one entry (an enum)",
            )),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        drop(self);
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool f32 f64 char str string bytes byte_buf unit unit_struct seq tuple
        tuple_struct map struct identifier
    }
}

/// Deserializing out of a borrowed `Value`; strings and bytes are lent to the visitor.
impl<'de> Deserializer<'de> for &'de Value {
    type Error = ValueError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::UInt(u) => visitor.visit_u64(*u),
            Value::Int(i) => visitor.visit_i64(*i),
            Value::Float(f) => visitor.visit_f64(*f),
            Value::Str(s) => visitor.visit_borrowed_str(s),
            Value::Bytes(b) | Value::Ext(_, b) => visitor.visit_borrowed_bytes(b),
            Value::BigInt(b) => match (b.to_u128(), b.to_i128()) {
                (Some(u), _) => visitor.visit_u128(u),
                (None, Some(i)) => visitor.visit_i128(i),
                (None, None) => Err(bigint_out_of_range(b)),
            },
            Value::Tagged(_, inner) => (&**inner).deserialize_any(visitor),
            Value::Map(m) => {
                let mut map = de::value::MapDeserializer::new(m.iter().map(|(k, v)| (k, v)));
                let out = visitor.visit_map(&mut map)?;
                map.end()?;
                Ok(out)
            }
            Value::List(l) => {
                let mut seq = de::value::SeqDeserializer::new(l.iter());
                let out = visitor.visit_seq(&mut seq)?;
                seq.end()?;
                Ok(out)
            }
            Value::Dict(d) => {
                let mut map = de::value::MapDeserializer::new(
                    d.iter().map(|(k, v)| (BorrowedKey(k.as_str()), v)),
                );
                let out = visitor.visit_map(&mut map)?;
                map.end()?;
                Ok(out)
            }
        }
    }

    integer_methods!(deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64
        deserialize_i128 deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64
        deserialize_u128);

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self {
            Value::Null => visitor.visit_none(),
            other => visitor.visit_some(other),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        match self {
            Value::Str(s) => visitor.visit_enum(BorrowedKey(s)),
            Value::Dict(d) if d.len() == 1 => match d.iter().next() {
                Some((variant, value)) => visitor.visit_enum(EnumAccess {
                    variant: BorrowedKey(variant.as_str()),
                    value,
                }),
                None => Err(de::Error::custom("empty enum dict")),
            },
            other => Err(de::Error::invalid_type(
                unexpected(other),
                &"a string or a dict with one entry (an enum)",
            )),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool f32 f64 char str string bytes byte_buf unit unit_struct seq tuple
        tuple_struct map struct identifier
    }
}

/// A borrowed dict key or variant name; integer and bool targets parse it
/// (serde_json-style keys).
#[derive(Clone, Copy)]
struct BorrowedKey<'de>(&'de str);

/// An owned dict key; integer and bool targets parse it.
struct OwnedKey(String);

impl<'de> IntoDeserializer<'de, ValueError> for BorrowedKey<'de> {
    type Deserializer = Self;
    fn into_deserializer(self) -> Self {
        self
    }
}

impl<'de> IntoDeserializer<'de, ValueError> for OwnedKey {
    type Deserializer = Self;
    fn into_deserializer(self) -> Self {
        self
    }
}

macro_rules! key_deserializer {
    ($ty:ty, $visit_str:ident, $to_enum:expr) => {
        impl<'de> Deserializer<'de> for $ty {
            type Error = ValueError;

            fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
                visitor.$visit_str(self.0)
            }

            key_deserializer!(@parse $visit_str;
                deserialize_i8 visit_i8 i8; deserialize_i16 visit_i16 i16;
                deserialize_i32 visit_i32 i32; deserialize_i64 visit_i64 i64;
                deserialize_u8 visit_u8 u8; deserialize_u16 visit_u16 u16;
                deserialize_u32 visit_u32 u32; deserialize_u64 visit_u64 u64;
                deserialize_bool visit_bool bool;
            );

            fn deserialize_enum<V: Visitor<'de>>(
                self,
                _name: &'static str,
                _variants: &'static [&'static str],
                visitor: V,
            ) -> Result<V::Value, ValueError> {
                #[allow(clippy::redundant_closure_call)]
                visitor.visit_enum(($to_enum)(self.0))
            }

            fn deserialize_newtype_struct<V: Visitor<'de>>(
                self,
                _name: &'static str,
                visitor: V,
            ) -> Result<V::Value, ValueError> {
                visitor.visit_newtype_struct(self)
            }

            serde::forward_to_deserialize_any! {
                i128 u128 f32 f64 char str string bytes byte_buf option unit unit_struct
                seq tuple tuple_struct map struct identifier ignored_any
            }
        }
    };
    (@parse $visit_str:ident; $($method:ident $visit:ident $t:ty;)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
            match self.0.parse::<$t>() {
                Ok(n) => visitor.$visit(n),
                Err(_) => visitor.$visit_str(self.0),
            }
        }
    )*};
}

key_deserializer!(BorrowedKey<'de>, visit_borrowed_str, BorrowedKey);
key_deserializer!(
    OwnedKey,
    visit_string,
    |s: String| -> de::value::StringDeserializer<ValueError> { s.into_deserializer() }
);

impl<'de> de::EnumAccess<'de> for BorrowedKey<'de> {
    type Error = ValueError;
    type Variant = UnitOnly;

    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, UnitOnly), ValueError> {
        Ok((seed.deserialize(self)?, UnitOnly))
    }
}

/// The variant of an enum given as a bare string: only unit variants fit.
struct UnitOnly;

impl<'de> de::VariantAccess<'de> for UnitOnly {
    type Error = ValueError;

    fn unit_variant(self) -> Result<(), ValueError> {
        Ok(())
    }
    fn newtype_variant_seed<T: DeserializeSeed<'de>>(
        self,
        _seed: T,
    ) -> Result<T::Value, ValueError> {
        Err(de::Error::invalid_type(
            de::Unexpected::UnitVariant,
            &"newtype variant",
        ))
    }
    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, _v: V) -> Result<V::Value, ValueError> {
        Err(de::Error::invalid_type(
            de::Unexpected::UnitVariant,
            &"tuple variant",
        ))
    }
    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        _v: V,
    ) -> Result<V::Value, ValueError> {
        Err(de::Error::invalid_type(
            de::Unexpected::UnitVariant,
            &"struct variant",
        ))
    }
}

/// `{variant: value}` enum access, for owned and borrowed values.
struct EnumAccess<K, D> {
    variant: K,
    value: D,
}

impl<'de, K, D> de::EnumAccess<'de> for EnumAccess<K, D>
where
    K: IntoDeserializer<'de, ValueError>,
    D: Deserializer<'de, Error = ValueError> + de::VariantAccess<'de, Error = ValueError>,
{
    type Error = ValueError;
    type Variant = D;

    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, D), ValueError> {
        let variant = seed.deserialize(self.variant.into_deserializer())?;
        Ok((variant, self.value))
    }
}

impl<'de> de::VariantAccess<'de> for Value {
    type Error = ValueError;

    fn unit_variant(self) -> Result<(), ValueError> {
        match self {
            Value::Null => Ok(()),
            other => Err(de::Error::invalid_type(unexpected(&other), &"unit variant")),
        }
    }
    fn newtype_variant_seed<T: DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<T::Value, ValueError> {
        seed.deserialize(self)
    }
    fn tuple_variant<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        self.deserialize_seq(visitor)
    }
    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        self.deserialize_map(visitor)
    }
}

impl<'de> de::VariantAccess<'de> for &'de Value {
    type Error = ValueError;

    fn unit_variant(self) -> Result<(), ValueError> {
        match self {
            Value::Null => Ok(()),
            other => Err(de::Error::invalid_type(unexpected(other), &"unit variant")),
        }
    }
    fn newtype_variant_seed<T: DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<T::Value, ValueError> {
        seed.deserialize(self)
    }
    fn tuple_variant<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        self.deserialize_seq(visitor)
    }
    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        self.deserialize_map(visitor)
    }
}

// ---------------------------------------------------------------------------------
// Helpers for Payload
// ---------------------------------------------------------------------------------

/// Deserialize `T` from a borrowed list, as if it were a `Value::List`.
pub(crate) fn from_list_ref<'de, T: Deserialize<'de>>(list: &'de [Value]) -> Result<T, ValueError> {
    T::deserialize(de::value::SeqDeserializer::<_, ValueError>::new(
        list.iter(),
    ))
}

/// Deserialize `T` from a borrowed dict, as if it were a `Value::Dict`.
pub(crate) fn from_dict_ref<'de, T: Deserialize<'de>>(dict: &'de Dict) -> Result<T, ValueError> {
    T::deserialize(de::value::MapDeserializer::<_, ValueError>::new(
        dict.iter().map(|(k, v)| (BorrowedKey(k.as_str()), v)),
    ))
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};

    use proptest::prelude::*;
    use serde::{Deserialize, Serialize};

    use super::*;
    use crate::wamp::{Payload, Serializer};
    use crate::{dict, list};

    #[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
    enum Valve {
        Closed,
        Open(f64),
        Pulse(u32, u32),
        Ramp { from: f64, to: f64 },
    }

    #[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
    struct Unit;

    #[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
    struct TreeId(u32);

    #[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
    struct Command {
        tree: TreeId,
        row: String,
        valves: Vec<Valve>,
        note: Option<String>,
        #[serde(default)]
        dry_run: bool,
        #[serde(with = "serde_bytes")]
        blob: Vec<u8>,
        by_nozzle: BTreeMap<u8, i16>,
        pair: (i8, char),
        unit: Unit,
        nothing: (),
    }

    fn command() -> Command {
        Command {
            tree: TreeId(41),
            row: "row-3".into(),
            valves: vec![
                Valve::Closed,
                Valve::Open(0.5),
                Valve::Pulse(10, 20),
                Valve::Ramp { from: 0.0, to: 1.0 },
            ],
            note: None,
            dry_run: true,
            blob: vec![0, 255, 7],
            by_nozzle: [(1, -5), (2, 300)].into_iter().collect(),
            pair: (-8, 'x'),
            unit: Unit,
            nothing: (),
        }
    }

    #[test]
    fn struct_maps_like_serde_json() {
        let v = to_value(&command()).unwrap();
        let expected = Value::Dict(dict! {
            "tree" => 41u32,
            "row" => "row-3",
            "valves" => Value::List(vec![
                Value::Str("Closed".into()),
                Value::Dict(dict! { "Open" => 0.5 }),
                Value::Dict(dict! { "Pulse" => Value::List(list![10u32, 20u32]) }),
                Value::Dict(dict! { "Ramp" => dict! { "from" => 0.0, "to" => 1.0 } }),
            ]),
            "note" => Value::Null,
            "dry_run" => true,
            "blob" => Value::Bytes(vec![0, 255, 7]),
            "by_nozzle" => dict! { "1" => -5i16, "2" => 300i16 },
            "pair" => Value::List(list![-8i8, "x"]),
            "unit" => Value::Null,
            "nothing" => Value::Null,
        });
        assert_eq!(v, expected);
        // Same shape as serde_json, apart from the bytes.
        let mut via_json = serde_json::to_value(command()).unwrap();
        via_json["blob"] = serde_json::Value::Null;
        let mut ours = v.clone();
        if let Value::Dict(d) = &mut ours {
            d.insert("blob".into(), Value::Null);
        }
        assert_eq!(
            serde_json::to_value(&ours).unwrap(),
            via_json,
            "generic Serialize for Value matches serde_json's mapping"
        );
    }

    #[test]
    fn struct_round_trips_owned_and_borrowed() {
        let v = to_value(&command()).unwrap();
        assert_eq!(from_value_ref::<Command>(&v).unwrap(), command());
        assert_eq!(from_value::<Command>(v).unwrap(), command());
    }

    #[test]
    fn struct_round_trips_through_every_serializer() {
        let payload = Payload::from_kwargs(&command()).unwrap();
        let msg = crate::wamp::Message::Result {
            request: 1,
            details: Dict::new(),
            payload,
        };
        for s in Serializer::ALL {
            match s.decode(&s.encode(&msg)).unwrap() {
                crate::wamp::Message::Result { payload, .. } => {
                    assert_eq!(payload.kwargs_as::<Command>().unwrap(), command(), "{s:?}");
                    assert_eq!(payload.into_kwargs::<Command>().unwrap(), command());
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn borrowing_deserialization() {
        #[derive(Deserialize)]
        struct View<'a> {
            name: &'a str,
            #[serde(borrow)]
            raw: &'a [u8],
        }
        let v = Value::Dict(dict! { "name" => "n1", "raw" => Value::Bytes(vec![1, 2]) });
        let view: View<'_> = from_value_ref(&v).unwrap();
        assert_eq!((view.name, view.raw), ("n1", &[1u8, 2][..]));
    }

    #[test]
    fn integer_coercion_with_range_checks() {
        assert_eq!(from_value::<i32>(Value::UInt(7)).unwrap(), 7);
        assert_eq!(from_value::<u8>(Value::UInt(255)).unwrap(), 255);
        assert!(from_value::<u8>(Value::UInt(256)).is_err());
        assert!(from_value::<u32>(Value::Int(-1)).is_err());
        assert!(from_value::<i64>(Value::UInt(u64::MAX)).is_err());
        assert_eq!(from_value::<i8>(Value::Int(-128)).unwrap(), -128);
        assert!(from_value::<i8>(Value::Int(-129)).is_err());
        assert_eq!(from_value::<u128>(Value::UInt(5)).unwrap(), 5);
        // Integers become floats; integral floats become integers.
        assert_eq!(from_value::<f64>(Value::UInt(3)).unwrap(), 3.0);
        assert_eq!(from_value::<f32>(Value::Int(-3)).unwrap(), -3.0);
        assert_eq!(from_value::<u16>(Value::Float(3.0)).unwrap(), 3);
        assert_eq!(from_value_ref::<i16>(&Value::Float(-3.0)).unwrap(), -3);
        assert!(from_value::<u16>(Value::Float(3.5)).is_err());
        assert!(from_value::<u16>(Value::Float(1e10)).is_err());
        assert!(from_value::<u64>(Value::Float(f64::NAN)).is_err());
        assert!(from_value::<u64>(Value::Str("3".into())).is_err());
        // to_value keeps the normal form.
        assert_eq!(to_value(&5i64).unwrap(), Value::UInt(5));
        assert_eq!(to_value(&-5i8).unwrap(), Value::Int(-5));
        // Beyond 64 bits: a BigInt, and back.
        let big = to_value(&u128::MAX).unwrap();
        assert!(matches!(big, Value::BigInt(_)), "{big:?}");
        assert_eq!(from_value::<u128>(big.clone()).unwrap(), u128::MAX);
        assert_eq!(from_value_ref::<u128>(&big).unwrap(), u128::MAX);
        assert!(from_value::<u64>(big).is_err());
        assert_eq!(
            from_value::<i128>(to_value(&i128::MIN).unwrap()).unwrap(),
            i128::MIN
        );
        assert_eq!(
            to_value(&(u64::MAX as u128)).unwrap(),
            Value::UInt(u64::MAX)
        );
    }

    #[test]
    fn maps_and_keys() {
        let m: HashMap<String, u8> = [("a".to_owned(), 1)].into_iter().collect();
        assert_eq!(to_value(&m).unwrap(), Value::Dict(dict! { "a" => 1u8 }));
        let k: BTreeMap<u32, bool> = [(7, true)].into_iter().collect();
        let v = to_value(&k).unwrap();
        assert_eq!(v, Value::Dict(dict! { "7" => true }));
        assert_eq!(from_value::<BTreeMap<u32, bool>>(v.clone()).unwrap(), k);
        assert_eq!(from_value_ref::<BTreeMap<u32, bool>>(&v).unwrap(), k);
        let bad: BTreeMap<Vec<u8>, u8> = [(vec![1], 1)].into_iter().collect();
        assert!(to_value(&bad).is_err());
        #[derive(Serialize)]
        struct FloatKey(f64);
        impl PartialEq for FloatKey {
            fn eq(&self, other: &Self) -> bool {
                self.0 == other.0
            }
        }
        impl Eq for FloatKey {}
        impl PartialOrd for FloatKey {
            fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
                Some(self.cmp(other))
            }
        }
        impl Ord for FloatKey {
            fn cmp(&self, other: &Self) -> std::cmp::Ordering {
                self.0.total_cmp(&other.0)
            }
        }
        let float_keys: BTreeMap<FloatKey, u8> = [(FloatKey(1.5), 1)].into_iter().collect();
        assert!(to_value(&float_keys).is_err());
    }

    #[test]
    fn enum_errors_do_not_panic() {
        assert!(from_value::<Valve>(Value::Str("Nope".into())).is_err());
        assert!(from_value::<Valve>(Value::Str("Open".into())).is_err());
        assert!(from_value::<Valve>(Value::Dict(dict! { "Closed" => 1u8 })).is_err());
        assert!(from_value::<Valve>(Value::Dict(dict! { "a" => 1u8, "b" => 2u8 })).is_err());
        assert!(from_value::<Valve>(Value::UInt(1)).is_err());
        assert!(from_value_ref::<Valve>(&Value::Dict(dict! {})).is_err());
        assert_eq!(
            from_value::<Valve>(Value::Dict(dict! { "Closed" => Value::Null })).unwrap(),
            Valve::Closed
        );
    }

    #[test]
    fn payload_helpers() {
        let p = Payload::from_args(&(3u8, "x", [1.5f64])).unwrap();
        assert_eq!(p.args, Some(list![3u8, "x", Value::List(list![1.5])]));
        let (a, b, c): (u8, String, Vec<f64>) = p.args_as().unwrap();
        assert_eq!((a, b.as_str(), c), (3, "x", vec![1.5]));
        assert_eq!(p.arg_as::<u8>(0).unwrap(), 3);
        assert_eq!(p.arg_as::<Option<u8>>(9).unwrap(), None);
        assert!(p.arg_as::<u8>(9).is_err());
        assert!(Payload::from_args(&5u8).is_err());
        assert!(Payload::from_kwargs(&(1, 2)).is_err());

        #[derive(Serialize, Deserialize, Debug, PartialEq, Default)]
        struct Opt {
            speed: Option<f64>,
        }
        assert_eq!(
            Payload::default().kwargs_as::<Opt>().unwrap(),
            Opt::default()
        );
        assert_eq!(
            Payload::default().args_as::<Vec<u8>>().unwrap(),
            Vec::<u8>::new()
        );
        let p = Payload::from_args_kwargs(&(1u8,), &Opt { speed: Some(2.5) }).unwrap();
        assert_eq!(p.kwarg_as::<f64>("speed").unwrap(), 2.5);
        assert_eq!(p.kwarg_as::<Option<f64>>("nope").unwrap(), None);
        assert_eq!(p.clone().into_args::<(u8,)>().unwrap(), (1,));
        assert_eq!(p.into_kwargs::<Opt>().unwrap().speed, Some(2.5));
        assert!(Payload::args(list![1u8]).as_transparent().is_none());
        assert_eq!(
            Payload::transparent(vec![9]).as_transparent(),
            Some(&[9u8][..])
        );
    }

    #[test]
    fn generic_deserialize_for_value() {
        let v: Value = serde_json::from_str(r#"{"a":[1,-2,2.5,"\u0000AQ==",null,true]}"#).unwrap();
        // No binary convention outside the WAMP codec.
        assert_eq!(
            v,
            Value::Dict(dict! {
                "a" => Value::List(list![1u8, -2i8, 2.5, "\0AQ==", Value::Null, true])
            })
        );
        assert!(serde_json::from_str::<Value>(r#"{"a":1,"a":2}"#).is_err());
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert!(serde_json::from_str::<Value>(&deep).is_err());
    }

    #[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
    struct Sample {
        id: u64,
        level: i32,
        ratio: f64,
        name: String,
        tags: Vec<String>,
        valve: Valve,
        maybe: Option<i16>,
        #[serde(with = "serde_bytes")]
        data: Vec<u8>,
    }

    fn arb_valve() -> impl Strategy<Value = Valve> {
        prop_oneof![
            Just(Valve::Closed),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Valve::Open),
            (any::<u32>(), any::<u32>()).prop_map(|(a, b)| Valve::Pulse(a, b)),
            (-1e9..1e9f64, -1e9..1e9f64).prop_map(|(from, to)| Valve::Ramp { from, to }),
        ]
    }

    proptest! {
        #[test]
        fn to_value_from_value_round_trip(
            id in any::<u64>(),
            level in any::<i32>(),
            ratio in -1e12..1e12f64,
            name in any::<String>(),
            tags in proptest::collection::vec(any::<String>(), 0..4),
            valve in arb_valve(),
            maybe in any::<Option<i16>>(),
            data in proptest::collection::vec(any::<u8>(), 0..16),
        ) {
            let s = Sample { id, level, ratio, name, tags, valve, maybe, data };
            let v = to_value(&s).unwrap();
            prop_assert_eq!(&from_value_ref::<Sample>(&v).unwrap(), &s);
            prop_assert_eq!(from_value::<Sample>(v).unwrap(), s);
        }

        #[test]
        fn from_value_never_panics_on_any_value(v in any::<(u8, i64, String)>()) {
            let value = to_value(&v).unwrap();
            let _ = from_value::<Sample>(value.clone());
            let _ = from_value::<Valve>(value.clone());
            let _ = from_value::<(u8, u8)>(value.clone());
            let _ = from_value::<BTreeMap<u8, Valve>>(value);
        }
    }
}
