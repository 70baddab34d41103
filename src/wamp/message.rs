//! WAMP messages as plain values (spec: basic/messages.md, advanced/messages.md).
//!
//! `args`/`kwargs` are `Option`s so that a decoded message re-encodes to the same
//! shape: `None` means the element was absent on the wire, `Some(vec![])` that it was
//! present and empty (the encoder must emit `args` when `kwargs` is present).

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

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
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Payload {
    /// Positional arguments; `None` when absent on the wire.
    pub args: Option<List>,
    /// Keyword arguments; `None` when absent on the wire.
    pub kwargs: Option<Dict>,
}

impl Payload {
    /// A payload from positional and keyword arguments; empty ones are left out.
    pub fn new(args: List, kwargs: Dict) -> Payload {
        Payload {
            args: if args.is_empty() && kwargs.is_empty() {
                None
            } else {
                Some(args)
            },
            kwargs: if kwargs.is_empty() {
                None
            } else {
                Some(kwargs)
            },
        }
    }

    /// A payload of positional arguments only.
    pub fn args(args: List) -> Payload {
        Payload {
            args: Some(args),
            kwargs: None,
        }
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
        Ok(Payload {
            args: None,
            kwargs: Some(into_dict(to_value(kwargs)?)?),
        })
    }

    /// Both positional and keyword arguments (see [`from_args`](Self::from_args) and
    /// [`from_kwargs`](Self::from_kwargs)).
    pub fn from_args_kwargs<A: Serialize + ?Sized, K: Serialize + ?Sized>(
        args: &A,
        kwargs: &K,
    ) -> Result<Payload, ValueError> {
        Ok(Payload {
            args: Some(into_list(to_value(args)?)?),
            kwargs: Some(into_dict(to_value(kwargs)?)?),
        })
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
#[allow(missing_docs)]
pub mod code {
    pub const HELLO: u64 = 1;
    pub const WELCOME: u64 = 2;
    pub const ABORT: u64 = 3;
    pub const CHALLENGE: u64 = 4;
    pub const AUTHENTICATE: u64 = 5;
    pub const GOODBYE: u64 = 6;
    pub const ERROR: u64 = 8;
    pub const PUBLISH: u64 = 16;
    pub const PUBLISHED: u64 = 17;
    pub const SUBSCRIBE: u64 = 32;
    pub const SUBSCRIBED: u64 = 33;
    pub const UNSUBSCRIBE: u64 = 34;
    pub const UNSUBSCRIBED: u64 = 35;
    pub const EVENT: u64 = 36;
    pub const CALL: u64 = 48;
    pub const CANCEL: u64 = 49;
    pub const RESULT: u64 = 50;
    pub const REGISTER: u64 = 64;
    pub const REGISTERED: u64 = 65;
    pub const UNREGISTER: u64 = 66;
    pub const UNREGISTERED: u64 = 67;
    pub const INVOCATION: u64 = 68;
    pub const INTERRUPT: u64 = 69;
    pub const YIELD: u64 = 70;
}

/// One WAMP message. Field names follow the spec (see basic/messages.md for the
/// meaning of each element).
#[derive(Clone, Debug, PartialEq)]
#[allow(missing_docs)]
pub enum Message {
    Hello {
        realm: String,
        details: Dict,
    },
    Welcome {
        session: Id,
        details: Dict,
    },
    Abort {
        details: Dict,
        reason: String,
    },
    Challenge {
        authmethod: String,
        extra: Dict,
    },
    Authenticate {
        signature: String,
        extra: Dict,
    },
    Goodbye {
        details: Dict,
        reason: String,
    },
    Error {
        /// Message type code of the request this answers (e.g. `code::CALL`).
        request_type: u64,
        request: Id,
        details: Dict,
        error: String,
        payload: Payload,
    },
    Publish {
        request: Id,
        options: Dict,
        topic: String,
        payload: Payload,
    },
    Published {
        request: Id,
        publication: Id,
    },
    Subscribe {
        request: Id,
        options: Dict,
        topic: String,
    },
    Subscribed {
        request: Id,
        subscription: Id,
    },
    Unsubscribe {
        request: Id,
        subscription: Id,
    },
    /// `details` is present only for a router-initiated revocation (advanced profile).
    Unsubscribed {
        request: Id,
        details: Option<Dict>,
    },
    Event {
        subscription: Id,
        publication: Id,
        details: Dict,
        payload: Payload,
    },
    Call {
        request: Id,
        options: Dict,
        procedure: String,
        payload: Payload,
    },
    Cancel {
        request: Id,
        options: Dict,
    },
    Result {
        request: Id,
        details: Dict,
        payload: Payload,
    },
    Register {
        request: Id,
        options: Dict,
        procedure: String,
    },
    Registered {
        request: Id,
        registration: Id,
    },
    Unregister {
        request: Id,
        registration: Id,
    },
    /// `details` is present only for a router-initiated revocation (advanced profile).
    Unregistered {
        request: Id,
        details: Option<Dict>,
    },
    Invocation {
        request: Id,
        registration: Id,
        details: Dict,
        payload: Payload,
    },
    Interrupt {
        request: Id,
        options: Dict,
    },
    Yield {
        request: Id,
        options: Dict,
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
