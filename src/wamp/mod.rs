//! The WAMP protocol, free of I/O: values, messages, serializers, URIs, IDs.
//!
//! - [`value`]: the dynamic [`Value`] carried in options, details and payloads;
//!   [`bigint`]: integers beyond 64 bits ([`BigInt`]).
//! - [`message`]: the 24 message types as [`Message`], and [`Payload`].
//! - [`codec`]: [`Serializer`] (JSON, MessagePack, CBOR) `encode`/`decode`.
//! - [`validate`]: type checks of well-known Options/Details attributes (used by decode).
//! - [`serde_value`]: Rust types to and from [`Value`] ([`to_value`], [`from_value`]).
//! - [`uri`]: URI validation and pattern matching; [`uris`]: the spec's error URIs.
//! - [`options`]: enumerated option values ([`InvokePolicy`], [`CancelMode`]).
//! - [`ids`]: ID generation.

#![warn(missing_docs)]

pub mod bigint;
pub mod codec;
pub mod ids;
pub mod message;
pub mod options;
pub mod serde_value;
pub mod uri;
pub mod uris;
pub mod validate;
pub mod value;

pub use codec::{DecodeError, Serializer, MAX_DEPTH};
pub use message::{code, Message, Payload};
pub use options::{CancelMode, InvokePolicy};
pub use serde_value::{from_value, from_value_ref, to_value, ValueError};
pub use value::{BigInt, Dict, Id, List, Value, MAX_ID};
