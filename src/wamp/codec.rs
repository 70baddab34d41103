//! Serializers: JSON, MessagePack, CBOR (spec: basic/building_blocks.md "Serializations",
//! advanced/serialization_binary_json.md for binary in JSON).
//!
//! `encode` never fails for a well-formed `Message`; `decode` validates the message
//! shape (element count and types per message code) and returns a `DecodeError` that
//! names the problem. It must never panic on any input (fuzzed).

use super::message::Message;

/// A WAMP serializer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Serializer {
    Json,
    MsgPack,
    Cbor,
}

impl Serializer {
    pub const ALL: [Serializer; 3] = [Serializer::Json, Serializer::MsgPack, Serializer::Cbor];

    /// WebSocket subprotocol name, e.g. `wamp.2.json`.
    pub fn subprotocol(self) -> &'static str {
        match self {
            Serializer::Json => "wamp.2.json",
            Serializer::MsgPack => "wamp.2.msgpack",
            Serializer::Cbor => "wamp.2.cbor",
        }
    }

    pub fn from_subprotocol(s: &str) -> Option<Serializer> {
        Serializer::ALL.into_iter().find(|x| x.subprotocol() == s)
    }

    /// Serializer nibble of the RawSocket handshake (1 JSON, 2 MessagePack, 3 CBOR).
    pub fn rawsocket_id(self) -> u8 {
        match self {
            Serializer::Json => 1,
            Serializer::MsgPack => 2,
            Serializer::Cbor => 3,
        }
    }

    pub fn from_rawsocket_id(id: u8) -> Option<Serializer> {
        Serializer::ALL.into_iter().find(|x| x.rawsocket_id() == id)
    }

    /// Short name: `json`, `msgpack`, `cbor`.
    pub fn name(self) -> &'static str {
        match self {
            Serializer::Json => "json",
            Serializer::MsgPack => "msgpack",
            Serializer::Cbor => "cbor",
        }
    }

    pub fn from_name(s: &str) -> Option<Serializer> {
        Serializer::ALL.into_iter().find(|x| x.name() == s)
    }

    /// JSON goes in WebSocket text frames, the others in binary frames.
    pub fn is_binary(self) -> bool {
        !matches!(self, Serializer::Json)
    }

    pub fn encode(self, msg: &Message) -> Vec<u8> {
        let _ = msg;
        todo!("codec helper")
    }

    pub fn decode(self, bytes: &[u8]) -> Result<Message, DecodeError> {
        let _ = bytes;
        todo!("codec helper")
    }
}

/// Why bytes could not be turned into a `Message`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecodeError {
    /// Not valid JSON / MessagePack / CBOR at all.
    #[error("malformed {serializer} data: {detail}")]
    Syntax {
        serializer: &'static str,
        detail: String,
    },
    /// Valid data, but not a list starting with an integer type code.
    #[error("a WAMP message must be a list whose first element is the integer message type")]
    NotAMessage,
    #[error("unknown WAMP message type {0}")]
    UnknownType(u64),
    /// Right type code but wrong element count or element types.
    #[error("malformed {message} message: {detail}")]
    Shape {
        message: &'static str,
        detail: String,
    },
}
