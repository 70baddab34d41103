//! Type checks of the well-known `Options`/`Details` attributes, applied by
//! [`Serializer::decode`](super::Serializer::decode) after the message shape.
//!
//! The spec types these attributes (e.g. `PUBLISH.Options.acknowledge|bool`; "integers
//! MUST NOT be used instead of boolean value") and Autobahn rejects a message whose
//! attribute has the wrong type as a protocol violation; so does verger, so that the
//! router and client can read options without second-guessing them. Unknown keys are
//! ignored, as the spec requires. The rules cover the validation samples of the WAMP
//! test suite plus the options verger's router and client act upon.

use super::codec::DecodeError;
use super::message::Message;
use super::value::{Dict, Value, MAX_ID};

/// What a well-known attribute must hold.
#[derive(Clone, Copy, Debug)]
enum Rule {
    Bool,
    Str,
    Id,
    UInt,
    Dict,
    IdList,
    StrList,
    /// `forward_for`: a list of dicts (router-to-router links).
    DictList,
    OneOf(&'static [&'static str]),
    /// A standard identifier or an `x_` custom one (Autobahn's rule for `enc_algo`).
    OneOfOrCustom(&'static [&'static str]),
}

type Rules = &'static [(&'static str, Rule)];

const MATCH: Rule = Rule::OneOf(&["exact", "prefix", "wildcard"]);
const ENC_ALGO: Rule = Rule::OneOfOrCustom(&["null", "cryptobox", "mqtt", "xbr"]);
const ENC_SERIALIZER: Rule = Rule::OneOfOrCustom(&[
    "null",
    "json",
    "msgpack",
    "cbor",
    "ubjson",
    "opaque",
    "flatbuffers",
]);

const HELLO_DETAILS: Rules = &[
    ("roles", Rule::Dict),
    ("authmethods", Rule::StrList),
    ("authid", Rule::Str),
    ("authrole", Rule::Str),
    ("authextra", Rule::Dict),
];
const WELCOME_DETAILS: Rules = &[
    ("roles", Rule::Dict),
    ("authid", Rule::Str),
    ("authrole", Rule::Str),
    ("authmethod", Rule::Str),
    ("authprovider", Rule::Str),
    ("authextra", Rule::Dict),
    ("realm", Rule::Str),
];
const CLOSE_DETAILS: Rules = &[("message", Rule::Str)];
const PAYLOAD_COMMON: [(&str, Rule); 4] = [
    ("forward_for", Rule::DictList),
    ("enc_algo", ENC_ALGO),
    ("enc_serializer", ENC_SERIALIZER),
    ("enc_key", Rule::Str),
];
const ERROR_DETAILS: Rules = &PAYLOAD_COMMON;
const PUBLISH_OPTIONS: Rules = &[
    ("acknowledge", Rule::Bool),
    ("exclude_me", Rule::Bool),
    ("exclude", Rule::IdList),
    ("exclude_authid", Rule::StrList),
    ("exclude_authrole", Rule::StrList),
    ("eligible", Rule::IdList),
    ("eligible_authid", Rule::StrList),
    ("eligible_authrole", Rule::StrList),
    ("retain", Rule::Bool),
    ("disclose_me", Rule::Bool),
    ("transaction_hash", Rule::Str),
    PAYLOAD_COMMON[0],
    PAYLOAD_COMMON[1],
    PAYLOAD_COMMON[2],
    PAYLOAD_COMMON[3],
];
const SUBSCRIBE_OPTIONS: Rules = &[
    ("match", MATCH),
    ("get_retained", Rule::Bool),
    ("forward_for", Rule::DictList),
];
const UNSUBSCRIBED_DETAILS: Rules = &[("subscription", Rule::Id), ("reason", Rule::Str)];
const EVENT_DETAILS: Rules = &[
    ("publisher", Rule::Id),
    ("publisher_authid", Rule::Str),
    ("publisher_authrole", Rule::Str),
    ("topic", Rule::Str),
    ("retained", Rule::Bool),
    ("transaction_hash", Rule::Str),
    ("x_acknowledged_delivery", Rule::Bool),
    PAYLOAD_COMMON[0],
    PAYLOAD_COMMON[1],
    PAYLOAD_COMMON[2],
    PAYLOAD_COMMON[3],
];
const CALL_OPTIONS: Rules = &[
    ("receive_progress", Rule::Bool),
    ("progress", Rule::Bool),
    ("disclose_me", Rule::Bool),
    ("timeout", Rule::UInt),
    PAYLOAD_COMMON[0],
    PAYLOAD_COMMON[1],
    PAYLOAD_COMMON[2],
    PAYLOAD_COMMON[3],
];
const CANCEL_OPTIONS: Rules = &[("mode", Rule::OneOf(&["skip", "kill", "killnowait"]))];
const INTERRUPT_OPTIONS: Rules = &[
    ("mode", Rule::OneOf(&["kill", "killnowait"])),
    ("reason", Rule::Str),
];
const RESULT_DETAILS: Rules = &[
    ("progress", Rule::Bool),
    PAYLOAD_COMMON[0],
    PAYLOAD_COMMON[1],
    PAYLOAD_COMMON[2],
    PAYLOAD_COMMON[3],
];
const REGISTER_OPTIONS: Rules = &[
    ("match", MATCH),
    (
        "invoke",
        Rule::OneOf(&["single", "roundrobin", "random", "first", "last"]),
    ),
    ("disclose_caller", Rule::Bool),
    ("force_reregister", Rule::Bool),
    ("forward_for", Rule::DictList),
];
const UNREGISTERED_DETAILS: Rules = &[("registration", Rule::Id), ("reason", Rule::Str)];
const INVOCATION_DETAILS: Rules = &[
    ("caller", Rule::Id),
    ("caller_authid", Rule::Str),
    ("caller_authrole", Rule::Str),
    ("procedure", Rule::Str),
    ("receive_progress", Rule::Bool),
    ("progress", Rule::Bool),
    ("timeout", Rule::UInt),
    PAYLOAD_COMMON[0],
    PAYLOAD_COMMON[1],
    PAYLOAD_COMMON[2],
    PAYLOAD_COMMON[3],
];
const YIELD_OPTIONS: Rules = &[
    ("progress", Rule::Bool),
    PAYLOAD_COMMON[0],
    PAYLOAD_COMMON[1],
    PAYLOAD_COMMON[2],
    PAYLOAD_COMMON[3],
];

/// Check the types (and for enumerations, the values) of the well-known attributes
/// in `msg`'s Options/Details. Returns a [`DecodeError::Shape`] naming the attribute.
pub fn check_attributes(msg: &Message) -> Result<(), DecodeError> {
    let (dict, rules, what): (&Dict, Rules, &str) = match msg {
        Message::Hello { details, .. } => (details, HELLO_DETAILS, "detail"),
        Message::Welcome { details, .. } => (details, WELCOME_DETAILS, "detail"),
        Message::Abort { details, .. } | Message::Goodbye { details, .. } => {
            (details, CLOSE_DETAILS, "detail")
        }
        Message::Error { details, .. } => (details, ERROR_DETAILS, "detail"),
        Message::Publish { options, .. } => (options, PUBLISH_OPTIONS, "option"),
        Message::Subscribe { options, .. } => (options, SUBSCRIBE_OPTIONS, "option"),
        Message::Unsubscribed {
            details: Some(details),
            ..
        } => (details, UNSUBSCRIBED_DETAILS, "detail"),
        Message::Event { details, .. } => (details, EVENT_DETAILS, "detail"),
        Message::Call { options, .. } => (options, CALL_OPTIONS, "option"),
        Message::Cancel { options, .. } => (options, CANCEL_OPTIONS, "option"),
        Message::Result { details, .. } => (details, RESULT_DETAILS, "detail"),
        Message::Register { options, .. } => (options, REGISTER_OPTIONS, "option"),
        Message::Unregistered {
            details: Some(details),
            ..
        } => (details, UNREGISTERED_DETAILS, "detail"),
        Message::Invocation { details, .. } => (details, INVOCATION_DETAILS, "detail"),
        Message::Interrupt { options, .. } => (options, INTERRUPT_OPTIONS, "option"),
        Message::Yield { options, .. } => (options, YIELD_OPTIONS, "option"),
        _ => return Ok(()),
    };
    for (key, rule) in rules {
        if let Some(v) = dict.get(*key) {
            if let Err(expected) = check(*rule, v) {
                return Err(DecodeError::Shape {
                    message: msg.name(),
                    detail: format!("{what} '{key}' must be {expected}, got {}", describe(v)),
                });
            }
        }
    }
    Ok(())
}

fn describe(v: &Value) -> String {
    match v {
        Value::Str(s) if s.len() <= 40 => format!("{s:?}"),
        other => other.kind().to_owned(),
    }
}

fn is_id(v: &Value) -> bool {
    matches!(v, Value::UInt(u) if (1..=MAX_ID).contains(u))
}

fn check(rule: Rule, v: &Value) -> Result<(), &'static str> {
    let ok = match rule {
        Rule::Bool => matches!(v, Value::Bool(_)),
        Rule::Str => matches!(v, Value::Str(_)),
        Rule::Id => is_id(v),
        Rule::UInt => matches!(v, Value::UInt(_)),
        Rule::Dict => matches!(v, Value::Dict(_)),
        Rule::IdList => matches!(v, Value::List(l) if l.iter().all(is_id)),
        Rule::StrList => {
            matches!(v, Value::List(l) if l.iter().all(|x| matches!(x, Value::Str(_))))
        }
        Rule::DictList => {
            matches!(v, Value::List(l) if l.iter().all(|x| matches!(x, Value::Dict(_))))
        }
        Rule::OneOf(allowed) => matches!(v, Value::Str(s) if allowed.contains(&s.as_str())),
        Rule::OneOfOrCustom(allowed) => matches!(v, Value::Str(s)
            if allowed.contains(&s.as_str()) || is_custom_identifier(s)),
    };
    if ok {
        return Ok(());
    }
    Err(match rule {
        Rule::Bool => "a bool",
        Rule::Str => "a string",
        Rule::Id => "an ID (integer in [1, 2^53])",
        Rule::UInt => "a non-negative integer",
        Rule::Dict => "a dict",
        Rule::IdList => "a list of IDs",
        Rule::StrList => "a list of strings",
        Rule::DictList => "a list of dicts",
        Rule::OneOf(_) => "one of the values the spec defines",
        Rule::OneOfOrCustom(_) => "a value the spec defines or an `x_` custom identifier",
    })
}

/// Autobahn's custom attribute rule: `^x_([a-z][0-9a-z_]+)?$`.
fn is_custom_identifier(s: &str) -> bool {
    match s.strip_prefix("x_") {
        Some("") => true,
        Some(rest) => {
            let mut chars = rest.chars();
            rest.len() >= 2
                && chars.next().is_some_and(|c| c.is_ascii_lowercase())
                && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dict;
    use crate::wamp::Payload;

    fn publish(options: Dict) -> Message {
        Message::Publish {
            request: 1,
            options,
            topic: "t".into(),
            payload: Payload::default(),
        }
    }

    #[test]
    fn wrong_types_are_named() {
        let err = check_attributes(&publish(dict! { "acknowledge" => 1u8 })).unwrap_err();
        assert!(err.to_string().contains("acknowledge"), "{err}");
        assert!(check_attributes(&publish(dict! { "acknowledge" => true })).is_ok());
        assert!(check_attributes(&publish(dict! { "unknown_key" => 1u8 })).is_ok());
    }

    #[test]
    fn lists_are_checked_item_by_item() {
        let bad = dict! { "exclude" => Value::List(crate::list!["x"]) };
        assert!(check_attributes(&publish(bad)).is_err());
        let good = dict! { "exclude" => Value::List(crate::list![1u8, 2u8]) };
        assert!(check_attributes(&publish(good)).is_ok());
    }

    #[test]
    fn custom_identifiers() {
        assert!(is_custom_identifier("x_"));
        assert!(is_custom_identifier("x_my_algo2"));
        assert!(!is_custom_identifier("x_A"));
        assert!(!is_custom_identifier("x_a"));
        assert!(!is_custom_identifier("invalid"));
    }
}
