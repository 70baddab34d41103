//! WAMP messages as plain values (spec: basic/messages.md, advanced/messages.md).
//!
//! `args`/`kwargs` are `Option`s so that a decoded message re-encodes to the same
//! shape: `None` means the element was absent on the wire, `Some(vec![])` that it was
//! present and empty (the encoder must emit `args` when `kwargs` is present).

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::codec::Serializer;
use super::serde_value::{self, from_dict_ref, from_list_ref, to_value, ValueError};
use super::value::{Dict, Id, List, Value};

/// The application payload of PUBLISH, EVENT, CALL, RESULT, INVOCATION, YIELD, ERROR.
///
/// Typed use goes through serde: [`Payload::from_kwargs`] / [`Payload::kwargs_as`] for
/// a struct carried as keyword arguments, [`Payload::from_args`] /
/// [`Payload::args_as`] for a tuple or `Vec` carried as positional arguments.
///
/// ```
/// # use verger::wamp::Payload;
/// #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
/// struct Dose { tree: u32, litres: f64 }
/// let p = Payload::from_kwargs(&Dose { tree: 7, litres: 0.25 }).unwrap();
/// assert_eq!(p.kwargs_as::<Dose>().unwrap(), Dose { tree: 7, litres: 0.25 });
/// let p = Payload::from_args(&(7u32, "row-3")).unwrap();
/// let (tree, row): (u32, &str) = p.args_as().unwrap();
/// assert_eq!((tree, row), (7, "row-3"));
/// ```
///
/// **Wire form.** A payload decoded by
/// [`Serializer::decode_forwarding`](super::Serializer::decode_forwarding) (the
/// router's decoder) also keeps the exact bytes its elements had on the wire, and
/// encoding it with that same serializer writes those bytes again instead of
/// `args`/`kwargs`: between peers of one serializer a payload arrives exactly as sent
/// (key order, float widths, tags, anything). Such a payload is for passing on
/// unchanged: to change it, build a new one (e.g. [`Payload::from_parts`]).
/// Equality looks at `args`/`kwargs` only.
#[derive(Clone, Default)]
pub struct Payload {
    /// Positional arguments; `None` when absent on the wire.
    pub args: Option<List>,
    /// Keyword arguments; `None` when absent on the wire.
    pub kwargs: Option<Dict>,
    pub(crate) wire: Option<WireForm>,
}

/// The payload elements of a decoded message exactly as they were on the wire.
#[derive(Clone)]
pub(crate) struct WireForm {
    /// The serializer that wrote `bytes`.
    pub(crate) serializer: Serializer,
    /// How many message elements `bytes` holds (1 or 2).
    pub(crate) elements: usize,
    /// The arguments came bare, not as a list (Payload Passthru, see `codec`).
    pub(crate) bare: bool,
    /// The elements, as the peer sent them (for JSON, with what lay between them).
    pub(crate) bytes: bytes::Bytes,
}

impl PartialEq for Payload {
    fn eq(&self, other: &Payload) -> bool {
        self.args == other.args && self.kwargs == other.kwargs
    }
}

impl std::fmt::Debug for Payload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("Payload");
        d.field("args", &self.args).field("kwargs", &self.kwargs);
        if let Some(w) = &self.wire {
            d.field(
                "wire",
                &format_args!("{} bytes of {}", w.bytes.len(), w.serializer.name()),
            );
        }
        d.finish()
    }
}

impl Payload {
    /// A payload from positional and keyword arguments; empty ones are left out.
    pub fn new(args: List, kwargs: Dict) -> Payload {
        Payload::from_parts(
            if args.is_empty() && kwargs.is_empty() {
                None
            } else {
                Some(args)
            },
            if kwargs.is_empty() {
                None
            } else {
                Some(kwargs)
            },
        )
    }

    /// A payload with exactly these elements (`None`: absent on the wire; encoding
    /// writes `[]` for `args` when only `kwargs` is present).
    pub fn from_parts(args: Option<List>, kwargs: Option<Dict>) -> Payload {
        Payload {
            args,
            kwargs,
            wire: None,
        }
    }

    /// A payload of positional arguments only.
    pub fn args(args: List) -> Payload {
        Payload::from_parts(Some(args), None)
    }

    /// True when this payload still carries the bytes it was decoded from (see
    /// "Wire form" above), so that re-encoding it with `serializer` copies them.
    pub fn forwards_wire_form(&self, serializer: Serializer) -> bool {
        self.wire
            .as_ref()
            .is_some_and(|w| w.serializer == serializer)
    }

    /// True when there are no positional and no keyword arguments.
    pub fn is_empty(&self) -> bool {
        self.args.as_ref().is_none_or(|a| a.is_empty())
            && self.kwargs.as_ref().is_none_or(|k| k.is_empty())
    }

    /// Positional arguments, empty when absent.
    pub fn arg_list(&self) -> &[super::Value] {
        self.args.as_deref().unwrap_or(&[])
    }

    /// Keyword argument `key`, if present.
    pub fn kwarg(&self, key: &str) -> Option<&super::Value> {
        self.kwargs.as_ref().and_then(|k| k.get(key))
    }

    /// Positional arguments from anything that serializes as a sequence (a tuple, a
    /// `Vec`, a tuple struct). Use `(x,)` for a single argument.
    pub fn from_args<T: Serialize + ?Sized>(args: &T) -> Result<Payload, ValueError> {
        Ok(Payload::args(into_list(to_value(args)?)?))
    }

    /// Keyword arguments from anything that serializes as a map (a struct, a map
    /// with string keys).
    pub fn from_kwargs<T: Serialize + ?Sized>(kwargs: &T) -> Result<Payload, ValueError> {
        Ok(Payload::from_parts(
            None,
            Some(into_dict(to_value(kwargs)?)?),
        ))
    }

    /// Both positional and keyword arguments (see [`from_args`](Self::from_args) and
    /// [`from_kwargs`](Self::from_kwargs)).
    pub fn from_args_kwargs<A: Serialize + ?Sized, K: Serialize + ?Sized>(
        args: &A,
        kwargs: &K,
    ) -> Result<Payload, ValueError> {
        Ok(Payload::from_parts(
            Some(into_list(to_value(args)?)?),
            Some(into_dict(to_value(kwargs)?)?),
        ))
    }

    /// An opaque payload for Payload Passthru Mode / end-to-end encryption
    /// (advanced/payload_passthru_mode.md): the single binary item of `Arguments`.
    pub fn transparent(data: Vec<u8>) -> Payload {
        Payload::args(vec![Value::Bytes(data)])
    }

    /// The opaque payload, if this payload is exactly one binary argument and no
    /// keyword arguments (see [`transparent`](Self::transparent)).
    pub fn as_transparent(&self) -> Option<&[u8]> {
        match (self.args.as_deref(), &self.kwargs) {
            (Some([Value::Bytes(b)]), None) => Some(b),
            _ => None,
        }
    }

    /// The positional arguments as `T` (a tuple, a `Vec`, a struct read field by field
    /// in order); absent arguments read as an empty list. May borrow strings.
    pub fn args_as<'de, T: Deserialize<'de>>(&'de self) -> Result<T, ValueError> {
        from_list_ref(self.arg_list())
    }

    /// The keyword arguments as `T` (a struct, a map); absent keyword arguments read as
    /// an empty dict, so a struct whose fields are all `Option` or `#[serde(default)]`
    /// still deserializes. May borrow strings.
    pub fn kwargs_as<'de, T: Deserialize<'de>>(&'de self) -> Result<T, ValueError> {
        static EMPTY: Dict = Dict::new();
        from_dict_ref(self.kwargs.as_ref().unwrap_or(&EMPTY))
    }

    /// Positional argument `index` as `T`; a missing argument reads as `null`, so
    /// `Option<T>` gives `None`.
    pub fn arg_as<'de, T: Deserialize<'de>>(&'de self, index: usize) -> Result<T, ValueError> {
        static NULL: Value = Value::Null;
        serde_value::from_value_ref(self.arg_list().get(index).unwrap_or(&NULL))
    }

    /// Keyword argument `key` as `T`; a missing key reads as `null`, so `Option<T>`
    /// gives `None`.
    pub fn kwarg_as<'de, T: Deserialize<'de>>(&'de self, key: &str) -> Result<T, ValueError> {
        static NULL: Value = Value::Null;
        serde_value::from_value_ref(self.kwarg(key).unwrap_or(&NULL))
    }

    /// Consume the payload, moving the positional arguments into `T`.
    pub fn into_args<T: DeserializeOwned>(self) -> Result<T, ValueError> {
        serde_value::from_value(Value::List(self.args.unwrap_or_default()))
    }

    /// Consume the payload, moving the keyword arguments into `T`.
    pub fn into_kwargs<T: DeserializeOwned>(self) -> Result<T, ValueError> {
        serde_value::from_value(Value::Dict(self.kwargs.unwrap_or_default()))
    }
}

fn into_list(v: Value) -> Result<List, ValueError> {
    match v {
        Value::List(l) => Ok(l),
        other => Err(ValueError::new(format!(
            "positional arguments must serialize as a sequence (a tuple or Vec), not a {}",
            other.kind()
        ))),
    }
}

fn into_dict(v: Value) -> Result<Dict, ValueError> {
    match v {
        Value::Dict(d) => Ok(d),
        other => Err(ValueError::new(format!(
            "keyword arguments must serialize as a map (a struct or map), not a {}",
            other.kind()
        ))),
    }
}

/// Message type codes of the spec.
pub mod code {
    /// `HELLO` = 1.
    pub const HELLO: u64 = 1;
    /// `WELCOME` = 2.
    pub const WELCOME: u64 = 2;
    /// `ABORT` = 3.
    pub const ABORT: u64 = 3;
    /// `CHALLENGE` = 4.
    pub const CHALLENGE: u64 = 4;
    /// `AUTHENTICATE` = 5.
    pub const AUTHENTICATE: u64 = 5;
    /// `GOODBYE` = 6.
    pub const GOODBYE: u64 = 6;
    /// `ERROR` = 8.
    pub const ERROR: u64 = 8;
    /// `PUBLISH` = 16.
    pub const PUBLISH: u64 = 16;
    /// `PUBLISHED` = 17.
    pub const PUBLISHED: u64 = 17;
    /// `SUBSCRIBE` = 32.
    pub const SUBSCRIBE: u64 = 32;
    /// `SUBSCRIBED` = 33.
    pub const SUBSCRIBED: u64 = 33;
    /// `UNSUBSCRIBE` = 34.
    pub const UNSUBSCRIBE: u64 = 34;
    /// `UNSUBSCRIBED` = 35.
    pub const UNSUBSCRIBED: u64 = 35;
    /// `EVENT` = 36.
    pub const EVENT: u64 = 36;
    /// `CALL` = 48.
    pub const CALL: u64 = 48;
    /// `CANCEL` = 49.
    pub const CANCEL: u64 = 49;
    /// `RESULT` = 50.
    pub const RESULT: u64 = 50;
    /// `REGISTER` = 64.
    pub const REGISTER: u64 = 64;
    /// `REGISTERED` = 65.
    pub const REGISTERED: u64 = 65;
    /// `UNREGISTER` = 66.
    pub const UNREGISTER: u64 = 66;
    /// `UNREGISTERED` = 67.
    pub const UNREGISTERED: u64 = 67;
    /// `INVOCATION` = 68.
    pub const INVOCATION: u64 = 68;
    /// `INTERRUPT` = 69.
    pub const INTERRUPT: u64 = 69;
    /// `YIELD` = 70.
    pub const YIELD: u64 = 70;
}

/// One WAMP message. Field names follow the spec (see basic/messages.md for the
/// meaning of each element).
#[derive(Clone, Debug, PartialEq)]
pub enum Message {
    /// Client to router: open a session on a realm.
    Hello {
        /// Realm to attach to (a URI).
        realm: String,
        /// `Details|dict`.
        details: Dict,
    },
    /// Router to client: the session is open.
    Welcome {
        /// Session ID the router assigned (global scope).
        session: Id,
        /// `Details|dict`.
        details: Dict,
    },
    /// Either way: abort opening a session (no reply).
    Abort {
        /// `Details|dict`.
        details: Dict,
        /// Reason URI, e.g. `wamp.close.normal`.
        reason: String,
    },
    /// Router to client: authenticate with the given method.
    Challenge {
        /// Authentication method, e.g. `ticket`.
        authmethod: String,
        /// Method-specific data.
        extra: Dict,
    },
    /// Client to router: answer to a CHALLENGE.
    Authenticate {
        /// The authentication proof (e.g. the ticket, or the signed challenge).
        signature: String,
        /// Method-specific data.
        extra: Dict,
    },
    /// Either way: close an open session (echoed by the other side).
    Goodbye {
        /// `Details|dict`.
        details: Dict,
        /// Reason URI, e.g. `wamp.close.normal`.
        reason: String,
    },
    /// Error reply to a request (SUBSCRIBE, CALL, INVOCATION, ...).
    Error {
        /// Message type code of the request this answers (e.g. `code::CALL`).
        request_type: u64,
        /// Request ID (session scope); in a reply, the ID of the request it answers.
        request: Id,
        /// `Details|dict`.
        details: Dict,
        /// Error URI.
        error: String,
        /// Application payload (positional and keyword arguments).
        payload: Payload,
    },
    /// Publisher to broker: publish an event.
    Publish {
        /// Request ID (session scope); in a reply, the ID of the request it answers.
        request: Id,
        /// `Options|dict`.
        options: Dict,
        /// Topic URI (a pattern for a pattern-based SUBSCRIBE).
        topic: String,
        /// Application payload (positional and keyword arguments).
        payload: Payload,
    },
    /// Broker to publisher: acknowledged publication.
    Published {
        /// Request ID (session scope); in a reply, the ID of the request it answers.
        request: Id,
        /// Publication ID (global scope).
        publication: Id,
    },
    /// Subscriber to broker: subscribe to a topic.
    Subscribe {
        /// Request ID (session scope); in a reply, the ID of the request it answers.
        request: Id,
        /// `Options|dict`.
        options: Dict,
        /// Topic URI (a pattern for a pattern-based SUBSCRIBE).
        topic: String,
    },
    /// Broker to subscriber: the subscription exists.
    Subscribed {
        /// Request ID (session scope); in a reply, the ID of the request it answers.
        request: Id,
        /// Subscription ID (router scope).
        subscription: Id,
    },
    /// Subscriber to broker: end a subscription.
    Unsubscribe {
        /// Request ID (session scope); in a reply, the ID of the request it answers.
        request: Id,
        /// Subscription ID (router scope).
        subscription: Id,
    },
    /// Broker to subscriber: the subscription ended. `details` is present only for a
    /// router-initiated revocation (advanced profile), with request 0.
    Unsubscribed {
        /// Request ID (session scope); in a reply, the ID of the request it answers.
        request: Id,
        /// `Details|dict`.
        details: Option<Dict>,
    },
    /// Broker to subscriber: an event on a subscription.
    Event {
        /// Subscription ID (router scope).
        subscription: Id,
        /// Publication ID (global scope).
        publication: Id,
        /// `Details|dict`.
        details: Dict,
        /// Application payload (positional and keyword arguments).
        payload: Payload,
    },
    /// Caller to dealer: call a procedure.
    Call {
        /// Request ID (session scope); in a reply, the ID of the request it answers.
        request: Id,
        /// `Options|dict`.
        options: Dict,
        /// Procedure URI (a pattern for a pattern-based REGISTER).
        procedure: String,
        /// Application payload (positional and keyword arguments).
        payload: Payload,
    },
    /// Caller to dealer: cancel a pending call (advanced profile).
    Cancel {
        /// Request ID (session scope); in a reply, the ID of the request it answers.
        request: Id,
        /// `Options|dict`.
        options: Dict,
    },
    /// Dealer to caller: the (possibly progressive) result of a call.
    Result {
        /// Request ID (session scope); in a reply, the ID of the request it answers.
        request: Id,
        /// `Details|dict`.
        details: Dict,
        /// Application payload (positional and keyword arguments).
        payload: Payload,
    },
    /// Callee to dealer: register a procedure.
    Register {
        /// Request ID (session scope); in a reply, the ID of the request it answers.
        request: Id,
        /// `Options|dict`.
        options: Dict,
        /// Procedure URI (a pattern for a pattern-based REGISTER).
        procedure: String,
    },
    /// Dealer to callee: the registration exists.
    Registered {
        /// Request ID (session scope); in a reply, the ID of the request it answers.
        request: Id,
        /// Registration ID (router scope).
        registration: Id,
    },
    /// Callee to dealer: end a registration.
    Unregister {
        /// Request ID (session scope); in a reply, the ID of the request it answers.
        request: Id,
        /// Registration ID (router scope).
        registration: Id,
    },
    /// Dealer to callee: the registration ended. `details` is present only for a
    /// router-initiated revocation (advanced profile), with request 0.
    Unregistered {
        /// Request ID (session scope); in a reply, the ID of the request it answers.
        request: Id,
        /// `Details|dict`.
        details: Option<Dict>,
    },
    /// Dealer to callee: invoke a registered procedure.
    Invocation {
        /// Request ID (session scope); in a reply, the ID of the request it answers.
        request: Id,
        /// Registration ID (router scope).
        registration: Id,
        /// `Details|dict`.
        details: Dict,
        /// Application payload (positional and keyword arguments).
        payload: Payload,
    },
    /// Dealer to callee: interrupt a pending invocation (advanced profile).
    Interrupt {
        /// Request ID (session scope); in a reply, the ID of the request it answers.
        request: Id,
        /// `Options|dict`.
        options: Dict,
    },
    /// Callee to dealer: the (possibly progressive) result of an invocation.
    Yield {
        /// Request ID (session scope); in a reply, the ID of the request it answers.
        request: Id,
        /// `Options|dict`.
        options: Dict,
        /// Application payload (positional and keyword arguments).
        payload: Payload,
    },
}

impl Message {
    /// The message type code (first element on the wire).
    pub fn code(&self) -> u64 {
        use code::*;
        match self {
            Message::Hello { .. } => HELLO,
            Message::Welcome { .. } => WELCOME,
            Message::Abort { .. } => ABORT,
            Message::Challenge { .. } => CHALLENGE,
            Message::Authenticate { .. } => AUTHENTICATE,
            Message::Goodbye { .. } => GOODBYE,
            Message::Error { .. } => ERROR,
            Message::Publish { .. } => PUBLISH,
            Message::Published { .. } => PUBLISHED,
            Message::Subscribe { .. } => SUBSCRIBE,
            Message::Subscribed { .. } => SUBSCRIBED,
            Message::Unsubscribe { .. } => UNSUBSCRIBE,
            Message::Unsubscribed { .. } => UNSUBSCRIBED,
            Message::Event { .. } => EVENT,
            Message::Call { .. } => CALL,
            Message::Cancel { .. } => CANCEL,
            Message::Result { .. } => RESULT,
            Message::Register { .. } => REGISTER,
            Message::Registered { .. } => REGISTERED,
            Message::Unregister { .. } => UNREGISTER,
            Message::Unregistered { .. } => UNREGISTERED,
            Message::Invocation { .. } => INVOCATION,
            Message::Interrupt { .. } => INTERRUPT,
            Message::Yield { .. } => YIELD,
        }
    }

    /// The spec's upper-case name of the message type.
    pub fn name(&self) -> &'static str {
        code_name(self.code()).unwrap_or("UNKNOWN")
    }

    /// The application payload, for the seven message types that have one.
    pub fn payload(&self) -> Option<&Payload> {
        match self {
            Message::Error { payload, .. }
            | Message::Publish { payload, .. }
            | Message::Event { payload, .. }
            | Message::Call { payload, .. }
            | Message::Result { payload, .. }
            | Message::Invocation { payload, .. }
            | Message::Yield { payload, .. } => Some(payload),
            _ => None,
        }
    }

    /// The application payload, mutable (see [`payload`](Self::payload)).
    pub fn payload_mut(&mut self) -> Option<&mut Payload> {
        match self {
            Message::Error { payload, .. }
            | Message::Publish { payload, .. }
            | Message::Event { payload, .. }
            | Message::Call { payload, .. }
            | Message::Result { payload, .. }
            | Message::Invocation { payload, .. }
            | Message::Yield { payload, .. } => Some(payload),
            _ => None,
        }
    }
}

/// Where `Arguments|list` sits in the wire list of a message type (the type code is
/// element 0), for the types that carry a payload.
pub(crate) fn payload_index(code: u64) -> Option<usize> {
    match code {
        code::ERROR => Some(5),
        code::PUBLISH | code::EVENT | code::CALL | code::INVOCATION => Some(4),
        code::RESULT | code::YIELD => Some(3),
        _ => None,
    }
}

/// Name of a message type code, `None` for codes this implementation does not know.
pub fn code_name(c: u64) -> Option<&'static str> {
    use code::*;
    Some(match c {
        HELLO => "HELLO",
        WELCOME => "WELCOME",
        ABORT => "ABORT",
        CHALLENGE => "CHALLENGE",
        AUTHENTICATE => "AUTHENTICATE",
        GOODBYE => "GOODBYE",
        ERROR => "ERROR",
        PUBLISH => "PUBLISH",
        PUBLISHED => "PUBLISHED",
        SUBSCRIBE => "SUBSCRIBE",
        SUBSCRIBED => "SUBSCRIBED",
        UNSUBSCRIBE => "UNSUBSCRIBE",
        UNSUBSCRIBED => "UNSUBSCRIBED",
        EVENT => "EVENT",
        CALL => "CALL",
        CANCEL => "CANCEL",
        RESULT => "RESULT",
        REGISTER => "REGISTER",
        REGISTERED => "REGISTERED",
        UNREGISTER => "UNREGISTER",
        UNREGISTERED => "UNREGISTERED",
        INVOCATION => "INVOCATION",
        INTERRUPT => "INTERRUPT",
        YIELD => "YIELD",
        _ => return None,
    })
}
