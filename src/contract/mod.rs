//! The orchard message contract: realm, topic and procedure URIs and their payloads.
//! Documented for integrators in `docs/contract.md`; every payload has a JSON Schema in
//! `docs/schemas/`.
//!
//! Every payload is a serde struct implementing [`ContractPayload`] and listed once in
//! [`PAYLOADS`]. A component publishes it with `Client::publish_typed` (a struct travels
//! as `kwargs`) and reads it with `event.kwargs_as::<T>()`; nobody builds a payload by
//! hand. The generic test `tests/contract_schemas.rs` validates the examples of every
//! entry against its schema and checks that `docs/schemas/` and [`PAYLOADS`] agree, so
//! a new payload (map, dose, sprayer) is one struct, one schema file and one line here.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::wamp::{from_value, to_value, Value, ValueError};

/// The version of the contract (`docs/contract.md`, "Versioning rules"). 2: the
/// `gone` state of `orchard.gnss.status`, `published_at` on GNSS payloads.
pub const CONTRACT_VERSION: u32 = 2;

/// The realm every verger component joins unless told otherwise.
pub const DEFAULT_REALM: &str = "orchard";

/// The router URL components connect to unless told otherwise.
pub const DEFAULT_ROUTER_URL: &str = "ws://127.0.0.1:8080/ws";

/// Serde for an enum as its `as_str` spelling, one of `ALL`: the spelling lives in one
/// place (`as_str`), shared by logs and the wire.
macro_rules! wire_enum {
    ($ty:ty, $what:literal) => {
        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<$ty, D::Error> {
                let s = <String as serde::Deserialize>::deserialize(d)?;
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

/// A payload that is another one on another URI or role (a topic repeating a
/// procedure's arguments or result): a `#[serde(transparent)]` newtype of it, with its
/// examples.
macro_rules! same_payload {
    ($(#[$meta:meta])* $name:ident($inner:ty), $uri:expr, $schema:literal, $role:expr) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub $inner);

        impl $crate::contract::ContractPayload for $name {
            const URI: &'static str = $uri;
            const SCHEMA: &'static str = $schema;
            const ROLE: $crate::contract::Role = $role;
            fn examples() -> Vec<Self> {
                <$inner as $crate::contract::ContractPayload>::examples()
                    .into_iter()
                    .map($name)
                    .collect()
            }
        }
    };
}

/// A float as itself, or `null` when it is not finite.
pub(crate) fn finite<S: serde::Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    if v.is_finite() {
        s.serialize_f64(*v)
    } else {
        s.serialize_none()
    }
}

/// An optional float as itself, or `null` when absent or not finite.
pub(crate) fn finite_or_null<S: serde::Serializer>(
    v: &Option<f64>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match v {
        Some(x) => finite(x, s),
        None => s.serialize_none(),
    }
}

/// Error URI: an argument is missing, of the wrong type or out of range.
pub const ERROR_INVALID_ARGUMENT: &str = "orchard.error.invalid_argument";
/// Error URI: no tree with that id.
pub const ERROR_NOT_FOUND: &str = "orchard.error.not_found";
/// Error URI: the map database failed.
pub const ERROR_MAP: &str = "orchard.error.map_unavailable";
/// Error URI: no product is set, so nothing can be sprayed (a treatment cannot be
/// recorded without its product).
pub const ERROR_NOT_CONFIGURED: &str = "orchard.error.not_configured";
/// Error URI: too many orders are already waiting for the sprayer.
pub const ERROR_BUSY: &str = "orchard.error.busy";
/// Error URI: the new settings could not be saved; nothing changed.
pub const ERROR_NOT_SAVED: &str = "orchard.error.not_saved";
/// Error URI: the sprayer did not answer (none is registered, no answer in time, the
/// connection was lost during the call). The sprayer answers it
/// while it holds its safe state or stops.
pub const ERROR_UNAVAILABLE: &str = "orchard.error.unavailable";

pub mod dose;
pub mod gnss;
pub mod map;
pub mod run;
pub mod sprayer;

/// What a payload is to its URI.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// The event of a topic (schema `URI.schema.json`).
    Event,
    /// The arguments of a call to a procedure (schema `URI.call.schema.json`).
    Call,
    /// The result of a procedure (schema `URI.result.schema.json`).
    Result,
}

/// A payload of the orchard contract.
pub trait ContractPayload: Serialize + DeserializeOwned {
    /// The topic or procedure URI it travels on.
    const URI: &'static str;
    /// Its JSON Schema: a file name in `docs/schemas/`.
    const SCHEMA: &'static str;
    /// Event, call arguments or result.
    const ROLE: Role = Role::Event;
    /// Representative values for tests and documentation: every optional field null,
    /// every field set, and each value of every enum field at least once.
    fn examples() -> Vec<Self>;
}

/// One payload of the contract, type-erased (see [`PayloadEntry::of`]).
#[derive(Clone, Copy, Debug)]
pub struct PayloadEntry {
    /// The topic or procedure URI.
    pub uri: &'static str,
    /// Event, call arguments or result.
    pub role: Role,
    /// The JSON Schema file name in `docs/schemas/`.
    pub schema: &'static str,
    /// The Rust type's path, e.g. `verger::contract::gnss::FixPayload`.
    pub type_name: fn() -> &'static str,
    /// [`ContractPayload::examples`], serialized as they go on the wire.
    pub examples: fn() -> Result<Vec<Value>, ValueError>,
    /// Read a value as the payload type and serialize it again: what a Rust consumer
    /// of this version keeps of it (fields it does not know are dropped).
    pub reread: fn(Value) -> Result<Value, ValueError>,
}

impl PayloadEntry {
    /// The entry of payload type `T`.
    pub const fn of<T: ContractPayload>() -> PayloadEntry {
        PayloadEntry {
            uri: T::URI,
            role: T::ROLE,
            schema: T::SCHEMA,
            type_name: std::any::type_name::<T>,
            examples: examples_of::<T>,
            reread: reread_as::<T>,
        }
    }
}

fn examples_of<T: ContractPayload>() -> Result<Vec<Value>, ValueError> {
    T::examples().iter().map(to_value).collect()
}

fn reread_as<T: ContractPayload>(value: Value) -> Result<Value, ValueError> {
    to_value(&from_value::<T>(value)?)
}

/// Every payload of the contract. Add new ones here.
pub static PAYLOADS: &[PayloadEntry] = &[
    PayloadEntry::of::<gnss::FixPayload>(),
    PayloadEntry::of::<gnss::StatusPayload>(),
    PayloadEntry::of::<map::TreesNearCall>(),
    PayloadEntry::of::<map::TreesNearResult>(),
    PayloadEntry::of::<map::TreeCall>(),
    PayloadEntry::of::<map::TreePayload>(),
    PayloadEntry::of::<map::ZoneAtCall>(),
    PayloadEntry::of::<map::ZoneAtResult>(),
    PayloadEntry::of::<map::InfoResult>(),
    PayloadEntry::of::<map::TreesInBboxCall>(),
    PayloadEntry::of::<map::TreesInBboxResult>(),
    PayloadEntry::of::<map::MapStatusPayload>(),
    PayloadEntry::of::<dose::TargetPayload>(),
    PayloadEntry::of::<dose::TreatRequest>(),
    PayloadEntry::of::<dose::TreatResult>(),
    PayloadEntry::of::<dose::DecisionPayload>(),
    PayloadEntry::of::<dose::DoseSettings>(),
    PayloadEntry::of::<dose::SettingsPatch>(),
    PayloadEntry::of::<dose::SetSettingsResult>(),
    PayloadEntry::of::<dose::SettingsPayload>(),
    PayloadEntry::of::<sprayer::ApplyRequest>(),
    PayloadEntry::of::<sprayer::ApplyResult>(),
    PayloadEntry::of::<sprayer::WithdrawRequest>(),
    PayloadEntry::of::<sprayer::WithdrawResult>(),
    PayloadEntry::of::<sprayer::StopAllRequest>(),
    PayloadEntry::of::<sprayer::StopAllResult>(),
    PayloadEntry::of::<sprayer::SprayerStatePayload>(),
    PayloadEntry::of::<sprayer::AppliedRecord>(),
    PayloadEntry::of::<run::RunStatusPayload>(),
];

/// The event payload of topic `uri`, if the contract has one.
pub fn payload(uri: &str) -> Option<&'static PayloadEntry> {
    payload_of(uri, Role::Event)
}

/// The payload of `uri` in `role`, if the contract has one.
pub fn payload_of(uri: &str, role: Role) -> Option<&'static PayloadEntry> {
    PAYLOADS.iter().find(|p| p.uri == uri && p.role == role)
}
