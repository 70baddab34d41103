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

pub mod gnss;

/// A payload of the orchard contract.
pub trait ContractPayload: Serialize + DeserializeOwned {
    /// The topic or procedure URI it travels on.
    const URI: &'static str;
    /// Its JSON Schema: a file name in `docs/schemas/`.
    const SCHEMA: &'static str;
    /// Representative values for tests and documentation: every optional field null,
    /// every field set, and each value of every enum field at least once.
    fn examples() -> Vec<Self>;
}

/// One payload of the contract, type-erased (see [`PayloadEntry::of`]).
#[derive(Clone, Copy, Debug)]
pub struct PayloadEntry {
    /// The topic or procedure URI.
    pub uri: &'static str,
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
];

/// The entry of `uri`, if the contract has a payload there.
pub fn payload(uri: &str) -> Option<&'static PayloadEntry> {
    PAYLOADS.iter().find(|p| p.uri == uri)
}
