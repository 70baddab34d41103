//! The dynamic value carried in WAMP messages (details, options, args, kwargs).
//!
//! One type for all three serializers. Binary data is a first-class variant so that a
//! payload published by a MessagePack or CBOR session reaches a JSON session as the
//! spec's `"\0" + base64` string and the other way round (see `codec`).
//!
//! A router must carry application payloads it has no reason to understand, so a
//! `Value` holds everything the three formats can carry: integers beyond 64 bits
//! ([`BigInt`]), CBOR tags ([`Value::Tagged`]), MessagePack extensions
//! ([`Value::Ext`]) and maps whose keys are not strings ([`Value::Map`]). How each
//! one is written by a serializer that has no such thing is the conversion table in
//! `docs/router.md` ("Payload transparency"). Floats are held as `f64`: every
//! half- and single-precision value is exactly representable, so no value is lost;
//! the width a peer chose survives only on the router's forwarding path (see
//! [`Payload`](super::Payload)).

use std::collections::BTreeMap;
use std::fmt;

pub use super::bigint::BigInt;

/// A WAMP ID: an integer in `[1, 2^53]`.
pub type Id = u64;

/// Largest valid WAMP ID (2^53), the largest integer a JavaScript peer holds exactly.
pub const MAX_ID: Id = 1 << 53;

/// A WAMP `dict`: string keys, sorted for deterministic encoding.
pub type Dict = BTreeMap<String, Value>;

/// A WAMP `list`.
pub type List = Vec<Value>;

/// Any value that can appear in a WAMP message.
#[derive(Clone, Debug, PartialEq, Default)]
pub enum Value {
    /// `null` (JSON), `nil` (MessagePack), `null`/`undefined` (CBOR).
    #[default]
    Null,
    /// A boolean.
    Bool(bool),
    /// A non-negative integer (all IDs are these).
    UInt(u64),
    /// A negative integer. Non-negative integers are always `UInt`.
    Int(i64),
    /// A floating point number (written as float64).
    Float(f64),
    /// A Unicode string.
    Str(String),
    /// Binary data (`"\0" + base64` in JSON).
    Bytes(Vec<u8>),
    /// A list.
    List(List),
    /// A dict with string keys.
    Dict(Dict),
    /// An integer above `u64::MAX` or below `i64::MIN`: a CBOR bignum or negative
    /// integer, or a JSON integer literal too long for 64 bits.
    BigInt(BigInt),
    /// A CBOR tag other than a bignum's (RFC 8949 §3.4: 1 epoch time, 64..=87 typed
    /// arrays, ...) and its content.
    Tagged(u64, Box<Value>),
    /// A MessagePack extension: its type and data.
    Ext(i8, Vec<u8>),
    /// A CBOR or MessagePack map with at least one key that is not a string, entries in
    /// the order they came. (Maps whose keys are all strings are `Dict`s.)
    Map(Vec<(Value, Value)>),
}

impl Value {
    /// Integer constructor that keeps the `UInt`/`Int` normal form.
    pub fn int(i: i64) -> Value {
        if i >= 0 {
            Value::UInt(i as u64)
        } else {
            Value::Int(i)
        }
    }

    /// The string, if this is a `Str`.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The boolean, if this is a `Bool`.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// A non-negative integer; floats with an exact integer value are accepted because
    /// some JSON peers (JavaScript) may send `3.0` for `3`.
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Value::UInt(u) => Some(*u),
            Value::Float(f) if *f >= 0.0 && f.fract() == 0.0 && *f <= u64::MAX as f64 => {
                Some(*f as u64)
            }
            _ => None,
        }
    }

    /// A signed integer, if the value is an integer that fits (or an integral float).
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::UInt(u) => i64::try_from(*u).ok(),
            Value::Int(i) => Some(*i),
            Value::Float(f) if f.fract() == 0.0 && f.abs() < 9.2e18 => Some(*f as i64),
            _ => None,
        }
    }

    /// Any number as a float.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::UInt(u) => Some(*u as f64),
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            _ => None,
        }
    }

    /// The list, if this is a `List`.
    pub fn as_list(&self) -> Option<&List> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }

    /// The dict, if this is a `Dict`.
    pub fn as_dict(&self) -> Option<&Dict> {
        match self {
            Value::Dict(d) => Some(d),
            _ => None,
        }
    }

    /// The binary data, if this is `Bytes`.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// True for `Null`.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// Short name of the variant, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::UInt(_) | Value::Int(_) => "integer",
            Value::Float(_) => "float",
            Value::Str(_) => "string",
            Value::Bytes(_) => "binary",
            Value::List(_) => "list",
            Value::Dict(_) => "dict",
            Value::BigInt(_) => "integer",
            Value::Tagged(..) => "tagged value",
            Value::Ext(..) => "extension",
            Value::Map(_) => "map with non-string keys",
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("null"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::UInt(u) => write!(f, "{u}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => write!(f, "{x}"),
            Value::Str(s) => write!(f, "{s:?}"),
            Value::Bytes(b) => write!(f, "<{} bytes>", b.len()),
            Value::List(l) => {
                f.write_str("[")?;
                for (i, v) in l.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
            Value::Dict(d) => {
                f.write_str("{")?;
                for (i, (k, v)) in d.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k:?}: {v}")?;
                }
                f.write_str("}")
            }
            Value::BigInt(b) => write!(f, "{b}"),
            // CBOR diagnostic notation.
            Value::Tagged(tag, v) => write!(f, "{tag}({v})"),
            Value::Ext(t, data) => write!(f, "ext({t}, <{} bytes>)", data.len()),
            Value::Map(m) => {
                f.write_str("{")?;
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k}: {v}")?;
                }
                f.write_str("}")
            }
        }
    }
}

macro_rules! from_uint {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            fn from(v: $t) -> Value { Value::UInt(v as u64) }
        }
    )*};
}
macro_rules! from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            fn from(v: $t) -> Value { Value::int(v as i64) }
        }
    )*};
}
from_uint!(u8, u16, u32, u64, usize);
from_int!(i8, i16, i32, i64, isize);

impl From<bool> for Value {
    fn from(v: bool) -> Value {
        Value::Bool(v)
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Value {
        Value::Float(v)
    }
}
impl From<f32> for Value {
    fn from(v: f32) -> Value {
        Value::Float(v as f64)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Value {
        Value::Str(v.to_owned())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Value {
        Value::Str(v)
    }
}
impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Value {
        Value::Bytes(v)
    }
}
impl From<List> for Value {
    fn from(v: List) -> Value {
        Value::List(v)
    }
}
impl From<Dict> for Value {
    fn from(v: Dict) -> Value {
        Value::Dict(v)
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Value {
        v.map_or(Value::Null, Into::into)
    }
}

/// Build a [`Dict`] from `key => value` pairs: `dict! { "acknowledge" => true }`.
#[macro_export]
macro_rules! dict {
    () => { $crate::wamp::Dict::new() };
    ($($k:expr => $v:expr),+ $(,)?) => {{
        let mut d = $crate::wamp::Dict::new();
        $( d.insert(::std::string::String::from($k), $crate::wamp::Value::from($v)); )+
        d
    }};
}

/// Build a [`List`] of values: `list![3, 5, "x"]`.
#[macro_export]
macro_rules! list {
    ($($v:expr),* $(,)?) => { vec![$($crate::wamp::Value::from($v)),*] };
}
