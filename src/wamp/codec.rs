//! Serializers: JSON, MessagePack, CBOR (spec: basic/building_blocks.md "Serializations",
//! advanced/serialization_binary_json.md for binary in JSON).
//!
//! `encode` never fails for a well-formed `Message`; `decode` validates the message
//! shape (element count and types per message code, then the types of well-known
//! `Options`/`Details` attributes, see [`super::validate`]) and returns a
//! `DecodeError` that names the problem. It never panics on any input (property tests
//! in this module, fuzz targets in `fuzz/`).
//!
//! How it works: bytes are decoded into one [`Value`] by a small hand-written,
//! depth-limited reader per format (`json`, `msgpack`, `cbor`), and the message list is
//! then turned into a [`Message`] by moving its elements out, without copying strings
//! or payloads. Encoding walks the message's wire elements (`Elems`) and writes them
//! straight into the output buffer.
//!
//! Transparency: every valid value of the three formats decodes (bignums, tags,
//! extensions, maps with non-string keys: see [`Value`]); across serializers each is
//! written as the conversion table in `docs/router.md` says. And
//! [`Serializer::decode_forwarding`] keeps the payload's wire bytes, so that the
//! router passes a payload between peers of one serializer exactly as sent, without
//! encoding it again.
//!
//! Wire rules worth knowing:
//!
//! - `args`/`kwargs`: if `kwargs` is `Some`, `args` is emitted (`[]` when `None`) and
//!   then `kwargs`; else `args` if `Some`; else neither. Decoding keeps that shape.
//! - Binary values: MessagePack `bin`, CBOR byte string, and in JSON the spec's
//!   `"\0" + base64` string. A JSON string starting with `"\0"` always decodes to
//!   `Bytes` (invalid base64 is an error), so a text string starting with NUL cannot
//!   travel through JSON; that is the spec's convention.
//! - IDs are integers in `[1, 2^53]`, except the request of UNSUBSCRIBED and
//!   UNREGISTERED, which is 0 when the router revokes a subscription or registration
//!   on its own. An ID out of range is named with its value (`got 0`,
//!   `got 18446744073709551616`).
//! - Payload passthru / end-to-end encryption (advanced/payload_passthru_mode.md): the
//!   spec sends the opaque payload as the single binary item of `Arguments|list`;
//!   Autobahn sends it bare in place of the list. A bare string or binary in the
//!   arguments position decodes to `args == [that value]` ([`Payload::transparent`]),
//!   and such a payload is encoded bare again when the message's Options/Details has
//!   Autobahn's `enc_algo` key, so E2EE traffic passes a verger router unchanged.
//! - Elements verger does not model are accepted and dropped: `Arguments`/
//!   `ArgumentsKw` of ABORT, and the `Options` dict some routers append to
//!   UNSUBSCRIBE/UNREGISTER.
//! - Nesting deeper than [`MAX_DEPTH`] lists/dicts/maps/tags is rejected; the keys of
//!   Options, Details and `ArgumentsKw` must be strings, and string keys unique;
//!   trailing bytes after the message are rejected.
//!
//! [`Payload::transparent`]: super::message::Payload::transparent

mod cbor;
mod json;
mod msgpack;
#[cfg(test)]
mod tests;

use super::message::{code, code_name, payload_index, Message, Payload, WireForm};
use super::value::{Dict, Id, List, Value, MAX_ID};

/// Where one element of a message list lies in the encoded bytes (start, end).
type Span = (usize, usize);

pub use super::serde_value::MAX_DEPTH;

/// A WAMP serializer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Serializer {
    /// `wamp.2.json`: JSON text, binary as `"\0" + base64` strings.
    Json,
    /// `wamp.2.msgpack`: MessagePack (version 5, with `bin` and `str` distinct).
    MsgPack,
    /// `wamp.2.cbor`: CBOR (RFC 8949).
    Cbor,
}

impl Serializer {
    /// All serializers, in order of preference (JSON first for interop).
    pub const ALL: [Serializer; 3] = [Serializer::Json, Serializer::MsgPack, Serializer::Cbor];

    /// WebSocket subprotocol name, e.g. `wamp.2.json`.
    pub fn subprotocol(self) -> &'static str {
        match self {
            Serializer::Json => "wamp.2.json",
            Serializer::MsgPack => "wamp.2.msgpack",
            Serializer::Cbor => "wamp.2.cbor",
        }
    }

    /// The serializer of a WebSocket subprotocol name, `None` if unknown.
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

    /// The serializer of a RawSocket handshake nibble, `None` if unknown.
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

    /// The serializer of a short name (`json`, `msgpack`, `cbor`), `None` if unknown.
    pub fn from_name(s: &str) -> Option<Serializer> {
        Serializer::ALL.into_iter().find(|x| x.name() == s)
    }

    /// JSON goes in WebSocket text frames, the others in binary frames.
    pub fn is_binary(self) -> bool {
        !matches!(self, Serializer::Json)
    }

    /// Serialize `msg`. Never fails. (JSON cannot carry NaN or infinities: they are
    /// written as `null`.) A payload that kept its wire form in this serializer is
    /// copied as it came (see [`Payload`]).
    pub fn encode(self, msg: &Message) -> Vec<u8> {
        let elems = Elems::of(msg);
        let (items, raw) = elems.for_serializer(self);
        match self {
            Serializer::Json => json::encode(items, raw.map(|(bytes, _)| bytes)),
            Serializer::MsgPack => msgpack::encode(items, raw),
            Serializer::Cbor => cbor::encode(items, raw),
        }
    }

    /// Parse and validate one message. Never panics, whatever `bytes` holds.
    pub fn decode(self, bytes: &[u8]) -> Result<Message, DecodeError> {
        self.decode_message(bytes).map(|(msg, _)| msg)
    }

    /// Like [`decode`](Self::decode), and the payload keeps its wire bytes: encoding
    /// the message (or another one carrying this payload, e.g. the EVENT of this
    /// PUBLISH) with this same serializer copies them instead of encoding `args` and
    /// `kwargs` again. For a router, which passes payloads on unchanged; don't use it
    /// to decode payloads you are going to modify in place.
    pub fn decode_forwarding(self, bytes: &[u8]) -> Result<Message, DecodeError> {
        let (mut msg, spans) = self.decode_message(bytes)?;
        let from = payload_index(msg.code());
        if let (Some(from), Some(payload)) = (from, msg.payload_mut()) {
            if let (Some(first), Some(last)) = (spans.get(from), spans.last()) {
                payload.wire = bytes.get(first.0..last.1).map(|raw| WireForm {
                    serializer: self,
                    elements: spans.len() - from,
                    bare: !self.starts_list(raw),
                    bytes: bytes::Bytes::copy_from_slice(raw),
                });
            }
        }
        Ok(msg)
    }

    /// Does this encoded value start with a list (array) header?
    fn starts_list(self, bytes: &[u8]) -> bool {
        match (self, bytes.first()) {
            (Serializer::Json, Some(b)) => *b == b'[',
            (Serializer::MsgPack, Some(b)) => matches!(b, 0x90..=0x9f | 0xdc | 0xdd),
            (Serializer::Cbor, Some(b)) => b >> 5 == 4,
            (_, None) => false,
        }
    }

    /// A validated message and where each of its elements lies in `bytes`.
    fn decode_message(self, bytes: &[u8]) -> Result<(Message, Vec<Span>), DecodeError> {
        let (value, spans) = match self {
            Serializer::Json => json::decode_message(bytes),
            Serializer::MsgPack => msgpack::decode_message(bytes),
            Serializer::Cbor => cbor::decode_message(bytes),
        }
        .map_err(|detail| DecodeError::Syntax {
            serializer: self.name(),
            detail,
        })?;
        let msg = Message::from_value(value)?;
        super::validate::check_attributes(&msg)?;
        Ok((msg, spans))
    }

    /// Parse bytes into a [`Value`] (any value, not necessarily a message), with the
    /// same limits as [`decode`](Self::decode): depth, string keys, no trailing bytes.
    pub fn decode_value(self, bytes: &[u8]) -> Result<Value, DecodeError> {
        let syntax = |detail: String| DecodeError::Syntax {
            serializer: self.name(),
            detail,
        };
        match self {
            Serializer::Json => json::decode(bytes).map_err(syntax),
            Serializer::MsgPack => msgpack::decode(bytes).map_err(syntax),
            Serializer::Cbor => cbor::decode(bytes).map_err(syntax),
        }
    }

    /// Serialize any [`Value`] (not necessarily a message) with this serializer.
    pub fn encode_value(self, value: &Value) -> Vec<u8> {
        match self {
            Serializer::Json => json::encode_value(value, Vec::with_capacity(64)),
            Serializer::MsgPack => msgpack::encode_value(value, Vec::with_capacity(64)),
            Serializer::Cbor => cbor::encode_value(value, Vec::with_capacity(64)),
        }
    }
}

/// Why bytes could not be turned into a `Message`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecodeError {
    /// Not valid JSON / MessagePack / CBOR at all (also: nesting too deep, duplicate
    /// keys, invalid base64 after `"\0"`, trailing bytes).
    #[error("malformed {serializer} data: {detail}")]
    Syntax {
        /// Short name of the serializer (`json`, `msgpack`, `cbor`).
        serializer: &'static str,
        /// What was wrong, from the parser.
        detail: String,
    },
    /// Valid data, but not a list starting with an integer type code.
    #[error("a WAMP message must be a list whose first element is the integer message type")]
    NotAMessage,
    /// The message type code is not one this implementation knows.
    #[error("unknown WAMP message type {0}")]
    UnknownType(u64),
    /// Right type code but wrong element count or element types.
    #[error("malformed {message} message: {detail}")]
    Shape {
        /// The spec's name of the message type, e.g. `PUBLISH`.
        message: &'static str,
        /// What was wrong, naming the element or attribute.
        detail: String,
    },
}

// ---------------------------------------------------------------------------------
// Message -> wire elements
// ---------------------------------------------------------------------------------

/// One element of a message list on the wire.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Elem<'a> {
    Int(u64),
    Str(&'a str),
    Dict(&'a Dict),
    List(&'a [Value]),
    Value(&'a Value),
}

/// The elements of one message list, in wire order (at most 7: ERROR with payload).
pub(crate) struct Elems<'a> {
    items: [Elem<'a>; 7],
    len: usize,
    /// Index of the first payload element (past the end when there is none).
    payload_at: usize,
    /// The payload's wire form, if it kept one.
    wire: Option<&'a WireForm>,
    /// The payload goes bare (Payload Passthru) in this message.
    bare: bool,
}

impl<'a> Elems<'a> {
    fn new(code: u64) -> Self {
        Elems {
            items: [Elem::Int(code); 7],
            len: 1,
            payload_at: 7,
            wire: None,
            bare: false,
        }
    }

    /// What `serializer` writes: the elements, and in place of the payload's
    /// elements its wire bytes and their element count, if it has them in that format
    /// (and in the same shape: bare or as a list, which depends on this message's
    /// Options/Details).
    pub(crate) fn for_serializer(
        &self,
        serializer: Serializer,
    ) -> (&[Elem<'a>], Option<(&'a [u8], usize)>) {
        match self.wire {
            Some(w) if w.serializer == serializer && w.bare == self.bare => (
                &self.items[..self.payload_at.min(self.len)],
                Some((&w.bytes[..], w.elements)),
            ),
            _ => (self.as_slice(), None),
        }
    }

    fn push(&mut self, e: Elem<'a>) {
        if let Some(slot) = self.items.get_mut(self.len) {
            *slot = e;
            self.len += 1;
        }
    }

    fn payload(&mut self, p: &'a Payload, dict: &Dict) {
        self.payload_at = self.len;
        self.wire = p.wire.as_ref();
        match (&p.args, &p.kwargs) {
            (Some(args), None) if is_bare_payload(args, dict) => {
                self.bare = true;
                if let Some(v) = args.first() {
                    self.push(Elem::Value(v));
                }
            }
            (args, Some(kwargs)) => {
                self.push(Elem::List(args.as_deref().unwrap_or(&[])));
                self.push(Elem::Dict(kwargs));
            }
            (Some(args), None) => self.push(Elem::List(args)),
            (None, None) => {}
        }
    }

    /// The elements, in order.
    pub(crate) fn as_slice(&self) -> &[Elem<'a>] {
        &self.items[..self.len.min(self.items.len())]
    }

    /// The wire elements of `msg`.
    pub(crate) fn of(msg: &'a Message) -> Elems<'a> {
        use Elem::{Dict as D, Int as I, Str as S};
        let mut e = Elems::new(msg.code());
        match msg {
            Message::Hello { realm, details } => {
                e.push(S(realm));
                e.push(D(details));
            }
            Message::Welcome { session, details } => {
                e.push(I(*session));
                e.push(D(details));
            }
            Message::Abort { details, reason } | Message::Goodbye { details, reason } => {
                e.push(D(details));
                e.push(S(reason));
            }
            Message::Challenge { authmethod, extra } => {
                e.push(S(authmethod));
                e.push(D(extra));
            }
            Message::Authenticate { signature, extra } => {
                e.push(S(signature));
                e.push(D(extra));
            }
            Message::Error {
                request_type,
                request,
                details,
                error,
                payload,
            } => {
                e.push(I(*request_type));
                e.push(I(*request));
                e.push(D(details));
                e.push(S(error));
                e.payload(payload, details);
            }
            Message::Publish {
                request,
                options,
                topic,
                payload,
            } => {
                e.push(I(*request));
                e.push(D(options));
                e.push(S(topic));
                e.payload(payload, options);
            }
            Message::Published {
                request,
                publication,
            } => {
                e.push(I(*request));
                e.push(I(*publication));
            }
            Message::Subscribe {
                request,
                options,
                topic,
            } => {
                e.push(I(*request));
                e.push(D(options));
                e.push(S(topic));
            }
            Message::Subscribed {
                request,
                subscription,
            }
            | Message::Unsubscribe {
                request,
                subscription,
            } => {
                e.push(I(*request));
                e.push(I(*subscription));
            }
            Message::Unsubscribed { request, details }
            | Message::Unregistered { request, details } => {
                e.push(I(*request));
                if let Some(details) = details {
                    e.push(D(details));
                }
            }
            Message::Event {
                subscription,
                publication,
                details,
                payload,
            } => {
                e.push(I(*subscription));
                e.push(I(*publication));
                e.push(D(details));
                e.payload(payload, details);
            }
            Message::Call {
                request,
                options,
                procedure,
                payload,
            } => {
                e.push(I(*request));
                e.push(D(options));
                e.push(S(procedure));
                e.payload(payload, options);
            }
            Message::Cancel { request, options } | Message::Interrupt { request, options } => {
                e.push(I(*request));
                e.push(D(options));
            }
            Message::Result {
                request,
                details,
                payload,
            } => {
                e.push(I(*request));
                e.push(D(details));
                e.payload(payload, details);
            }
            Message::Register {
                request,
                options,
                procedure,
            } => {
                e.push(I(*request));
                e.push(D(options));
                e.push(S(procedure));
            }
            Message::Registered {
                request,
                registration,
            }
            | Message::Unregister {
                request,
                registration,
            } => {
                e.push(I(*request));
                e.push(I(*registration));
            }
            Message::Invocation {
                request,
                registration,
                details,
                payload,
            } => {
                e.push(I(*request));
                e.push(I(*registration));
                e.push(D(details));
                e.payload(payload, details);
            }
            Message::Yield {
                request,
                options,
                payload,
            } => {
                e.push(I(*request));
                e.push(D(options));
                e.payload(payload, options);
            }
        }
        e
    }
}

/// The Options/Details key by which Autobahn marks an end-to-end encrypted payload
/// that travels bare instead of inside `Arguments|list`.
pub(crate) const BARE_PAYLOAD_MARKER: &str = "enc_algo";

fn is_bare_payload(args: &[Value], dict: &Dict) -> bool {
    matches!(args, [Value::Str(_) | Value::Bytes(_)]) && dict.contains_key(BARE_PAYLOAD_MARKER)
}

// ---------------------------------------------------------------------------------
// Wire list -> Message
// ---------------------------------------------------------------------------------

/// Moves the elements of a message list out one by one, checking their types.
struct Reader {
    it: std::vec::IntoIter<Value>,
    message: &'static str,
    index: usize,
}

impl Reader {
    fn shape(&self, detail: String) -> DecodeError {
        DecodeError::Shape {
            message: self.message,
            detail,
        }
    }

    fn next(&mut self, what: &str) -> Result<Value, DecodeError> {
        self.index += 1;
        match self.it.next() {
            Some(v) => Ok(v),
            None => Err(self.shape(format!("missing element {} ({what})", self.index))),
        }
    }

    fn wrong(&self, what: &str, expected: &str, got: &Value) -> DecodeError {
        self.shape(format!(
            "element {} ({what}) must be {expected}, got {}",
            self.index,
            got.kind()
        ))
    }

    /// An ID: an integer in `[1, 2^53]`.
    fn id(&mut self, what: &str) -> Result<Id, DecodeError> {
        self.id_from(1, what)
    }

    /// The request of UNSUBSCRIBED/UNREGISTERED: 0 when the router revokes on its own.
    fn request_or_zero(&mut self, what: &str) -> Result<Id, DecodeError> {
        self.id_from(0, what)
    }

    fn id_from(&mut self, min: Id, what: &str) -> Result<Id, DecodeError> {
        let v = self.next(what)?;
        match v {
            Value::UInt(u) if (min..=MAX_ID).contains(&u) => Ok(u),
            Value::UInt(_) | Value::Int(_) | Value::BigInt(_) => Err(self.shape(format!(
                "element {} ({what}) must be an ID in [{min}, 2^53], got {v}",
                self.index
            ))),
            other => Err(self.wrong(what, &format!("an ID (integer in [{min}, 2^53])"), &other)),
        }
    }

    fn uint(&mut self, what: &str) -> Result<u64, DecodeError> {
        match self.next(what)? {
            Value::UInt(u) => Ok(u),
            other => Err(self.wrong(what, "a non-negative integer", &other)),
        }
    }

    fn string(&mut self, what: &str) -> Result<String, DecodeError> {
        match self.next(what)? {
            Value::Str(s) => Ok(s),
            other => Err(self.wrong(what, "a string", &other)),
        }
    }

    fn dict(&mut self, what: &str) -> Result<Dict, DecodeError> {
        match self.next(what)? {
            Value::Dict(d) => Ok(d),
            other => Err(self.wrong(what, "a dict", &other)),
        }
    }

    fn opt_dict(&mut self, what: &str) -> Result<Option<Dict>, DecodeError> {
        if self.it.len() == 0 {
            return Ok(None);
        }
        self.dict(what).map(Some)
    }

    /// `Arguments|list` and `ArgumentsKw|dict`, both optional, at the end.
    fn payload(&mut self) -> Result<Payload, DecodeError> {
        let mut payload = Payload::default();
        if self.it.len() == 0 {
            return Ok(payload);
        }
        let last = self.it.len() == 1;
        payload.args = Some(match self.next("Arguments")? {
            Value::List(l) => l,
            // Payload passthru: an opaque payload in place of the list.
            v @ (Value::Bytes(_) | Value::Str(_)) if last => vec![v],
            other => return Err(self.wrong("Arguments", "a list", &other)),
        });
        if self.it.len() > 0 {
            payload.kwargs = Some(self.dict("ArgumentsKw")?);
        }
        Ok(payload)
    }
}

/// Check the element count (including the type code) against `min..=max`.
fn check_len(message: &'static str, len: usize, min: usize, max: usize) -> Result<(), DecodeError> {
    if (min..=max).contains(&len) {
        return Ok(());
    }
    let expected = if min == max {
        format!("{min}")
    } else {
        format!("{min} to {max}")
    };
    Err(DecodeError::Shape {
        message,
        detail: format!("expected {expected} elements, got {len}"),
    })
}

impl Message {
    /// Build a message from its decoded wire form (a list starting with the type code),
    /// validating element count and types. Attribute checks of
    /// [`super::validate::check_attributes`] are not applied here.
    pub fn from_value(value: Value) -> Result<Message, DecodeError> {
        match value {
            Value::List(list) => Message::from_list(list),
            _ => Err(DecodeError::NotAMessage),
        }
    }

    /// Like [`from_value`](Self::from_value), from the message list itself.
    pub fn from_list(list: List) -> Result<Message, DecodeError> {
        let type_code = match list.first() {
            Some(Value::UInt(c)) => *c,
            _ => return Err(DecodeError::NotAMessage),
        };
        let message = code_name(type_code).ok_or(DecodeError::UnknownType(type_code))?;
        let len = list.len();
        let mut it = list.into_iter();
        it.next();
        let mut r = Reader {
            it,
            message,
            index: 0,
        };
        let msg = match type_code {
            code::HELLO => {
                check_len(message, len, 3, 3)?;
                Message::Hello {
                    realm: r.string("Realm")?,
                    details: r.dict("Details")?,
                }
            }
            code::WELCOME => {
                check_len(message, len, 3, 3)?;
                Message::Welcome {
                    session: r.id("Session")?,
                    details: r.dict("Details")?,
                }
            }
            code::ABORT => {
                check_len(message, len, 3, 5)?;
                let details = r.dict("Details")?;
                let reason = r.string("Reason")?;
                // Arguments/ArgumentsKw are allowed but not modelled: check, then drop.
                r.payload()?;
                Message::Abort { details, reason }
            }
            code::CHALLENGE => {
                check_len(message, len, 3, 3)?;
                Message::Challenge {
                    authmethod: r.string("AuthMethod")?,
                    extra: r.dict("Extra")?,
                }
            }
            code::AUTHENTICATE => {
                check_len(message, len, 3, 3)?;
                Message::Authenticate {
                    signature: r.string("Signature")?,
                    extra: r.dict("Extra")?,
                }
            }
            code::GOODBYE => {
                check_len(message, len, 3, 3)?;
                Message::Goodbye {
                    details: r.dict("Details")?,
                    reason: r.string("Reason")?,
                }
            }
            code::ERROR => {
                check_len(message, len, 5, 7)?;
                Message::Error {
                    request_type: r.uint("REQUEST.Type")?,
                    request: r.id("REQUEST.Request")?,
                    details: r.dict("Details")?,
                    error: r.string("Error")?,
                    payload: r.payload()?,
                }
            }
            code::PUBLISH => {
                check_len(message, len, 4, 6)?;
                Message::Publish {
                    request: r.id("Request")?,
                    options: r.dict("Options")?,
                    topic: r.string("Topic")?,
                    payload: r.payload()?,
                }
            }
            code::PUBLISHED => {
                check_len(message, len, 3, 3)?;
                Message::Published {
                    request: r.id("PUBLISH.Request")?,
                    publication: r.id("Publication")?,
                }
            }
            code::SUBSCRIBE => {
                check_len(message, len, 4, 4)?;
                Message::Subscribe {
                    request: r.id("Request")?,
                    options: r.dict("Options")?,
                    topic: r.string("Topic")?,
                }
            }
            code::SUBSCRIBED => {
                check_len(message, len, 3, 3)?;
                Message::Subscribed {
                    request: r.id("SUBSCRIBE.Request")?,
                    subscription: r.id("Subscription")?,
                }
            }
            code::UNSUBSCRIBE => {
                check_len(message, len, 3, 4)?;
                let msg = Message::Unsubscribe {
                    request: r.id("Request")?,
                    subscription: r.id("SUBSCRIBED.Subscription")?,
                };
                r.opt_dict("Options")?;
                msg
            }
            code::UNSUBSCRIBED => {
                check_len(message, len, 2, 3)?;
                Message::Unsubscribed {
                    request: r.request_or_zero("UNSUBSCRIBE.Request")?,
                    details: r.opt_dict("Details")?,
                }
            }
            code::EVENT => {
                check_len(message, len, 4, 6)?;
                Message::Event {
                    subscription: r.id("SUBSCRIBED.Subscription")?,
                    publication: r.id("PUBLISHED.Publication")?,
                    details: r.dict("Details")?,
                    payload: r.payload()?,
                }
            }
            code::CALL => {
                check_len(message, len, 4, 6)?;
                Message::Call {
                    request: r.id("Request")?,
                    options: r.dict("Options")?,
                    procedure: r.string("Procedure")?,
                    payload: r.payload()?,
                }
            }
            code::CANCEL => {
                check_len(message, len, 3, 3)?;
                Message::Cancel {
                    request: r.id("CALL.Request")?,
                    options: r.dict("Options")?,
                }
            }
            code::RESULT => {
                check_len(message, len, 3, 5)?;
                Message::Result {
                    request: r.id("CALL.Request")?,
                    details: r.dict("Details")?,
                    payload: r.payload()?,
                }
            }
            code::REGISTER => {
                check_len(message, len, 4, 4)?;
                Message::Register {
                    request: r.id("Request")?,
                    options: r.dict("Options")?,
                    procedure: r.string("Procedure")?,
                }
            }
            code::REGISTERED => {
                check_len(message, len, 3, 3)?;
                Message::Registered {
                    request: r.id("REGISTER.Request")?,
                    registration: r.id("Registration")?,
                }
            }
            code::UNREGISTER => {
                check_len(message, len, 3, 4)?;
                let msg = Message::Unregister {
                    request: r.id("Request")?,
                    registration: r.id("REGISTERED.Registration")?,
                };
                r.opt_dict("Options")?;
                msg
            }
            code::UNREGISTERED => {
                check_len(message, len, 2, 3)?;
                Message::Unregistered {
                    request: r.request_or_zero("UNREGISTER.Request")?,
                    details: r.opt_dict("Details")?,
                }
            }
            code::INVOCATION => {
                check_len(message, len, 4, 6)?;
                Message::Invocation {
                    request: r.id("Request")?,
                    registration: r.id("REGISTERED.Registration")?,
                    details: r.dict("Details")?,
                    payload: r.payload()?,
                }
            }
            code::INTERRUPT => {
                check_len(message, len, 3, 3)?;
                Message::Interrupt {
                    request: r.id("INVOCATION.Request")?,
                    options: r.dict("Options")?,
                }
            }
            code::YIELD => {
                check_len(message, len, 3, 5)?;
                Message::Yield {
                    request: r.id("INVOCATION.Request")?,
                    options: r.dict("Options")?,
                    payload: r.payload()?,
                }
            }
            other => return Err(DecodeError::UnknownType(other)),
        };
        Ok(msg)
    }

    /// The message's wire form as a list of values (copies the contents; the codecs
    /// do not use this, it is for tests and tools).
    pub fn to_list(&self) -> List {
        Elems::of(self)
            .as_slice()
            .iter()
            .map(|e| match *e {
                Elem::Int(i) => Value::UInt(i),
                Elem::Str(s) => Value::Str(s.to_owned()),
                Elem::Dict(d) => Value::Dict(d.clone()),
                Elem::List(l) => Value::List(l.to_vec()),
                Elem::Value(v) => v.clone(),
            })
            .collect()
    }
}
