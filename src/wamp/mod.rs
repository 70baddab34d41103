//! The WAMP protocol, free of I/O: values, messages, serializers, URIs, IDs.

pub mod codec;
pub mod ids;
pub mod message;
pub mod uri;
pub mod uris;
pub mod value;

pub use codec::{DecodeError, Serializer};
pub use message::{code, Message, Payload};
pub use value::{Dict, Id, List, Value, MAX_ID};
