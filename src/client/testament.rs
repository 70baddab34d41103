//! Session testaments, client side: what [`Client::add_testament`](super::Client::add_testament)
//! files with the router (`wamp.session.add_testament`, advanced profile) and how it is
//! put on the wire. Pure values.
//!
//! A testament is an event the router publishes on the client's behalf when the
//! session goes away, however it goes (the process killed, the network lost, a clean
//! GOODBYE). A component that publishes retained state files one that says "gone", so
//! a late joiner is never left with the last words of a dead component. The client
//! keeps its testaments and files them again on every new session, before anything
//! else is sent on it (see `proto.rs`), so after a reconnect no publication goes out
//! on a session without its testament.

use serde::Serialize;

use super::options::PublishOptions;
use super::typed::to_payload;
use crate::wamp::{Dict, Payload, Value, ValueError};

/// `wamp.session.add_testament`.
pub(crate) const ADD_TESTAMENT: &str = "wamp.session.add_testament";
/// `wamp.session.flush_testaments`.
pub(crate) const FLUSH_TESTAMENTS: &str = "wamp.session.flush_testaments";

/// When the router publishes a testament. Without session resumption (verger's router,
/// Crossbar.io) both happen when the session ends, `detached` ones first.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TestamentScope {
    /// When the session is destroyed (the spec's default).
    #[default]
    Destroyed,
    /// When the session is detached from its transport.
    Detached,
}

impl TestamentScope {
    /// The spec's spelling: `destroyed`, `detached`.
    pub fn as_str(self) -> &'static str {
        match self {
            TestamentScope::Destroyed => "destroyed",
            TestamentScope::Detached => "detached",
        }
    }
}

/// An event for the router to publish when this client's session goes away.
#[derive(Clone, Debug, PartialEq)]
pub struct Testament {
    pub topic: String,
    pub payload: Payload,
    /// PUBLISH options; `retain: true` makes it what later subscribers get.
    /// `acknowledge` and `exclude_me` mean nothing for a testament (routers drop them).
    pub options: PublishOptions,
    pub scope: TestamentScope,
}

impl Testament {
    /// A testament publishing `payload` (a struct travels as `kwargs`, as with
    /// `Client::publish_typed`) on `topic`, retained, in the `destroyed` scope.
    pub fn retained<T: Serialize>(topic: &str, payload: &T) -> Result<Testament, ValueError> {
        Ok(Testament {
            topic: topic.to_owned(),
            payload: to_payload(payload)?,
            options: PublishOptions {
                retain: true,
                ..PublishOptions::default()
            },
            scope: TestamentScope::Destroyed,
        })
    }

    /// The payload of the `wamp.session.add_testament` call: `[topic, args, kwargs]`,
    /// `{publish_options, scope}`.
    pub(crate) fn add_call(&self) -> Payload {
        let args = self.payload.args.clone().unwrap_or_default();
        let kwargs = self.payload.kwargs.clone().unwrap_or_default();
        let mut options = self.options.to_dict();
        options.remove("acknowledge");
        let mut kw = Dict::new();
        kw.insert("publish_options".into(), Value::Dict(options));
        kw.insert("scope".into(), self.scope.as_str().into());
        Payload::new(
            vec![
                Value::Str(self.topic.clone()),
                Value::List(args),
                Value::Dict(kwargs),
            ],
            kw,
        )
    }
}

/// The payload of the `wamp.session.flush_testaments` call.
pub(crate) fn flush_call(scope: TestamentScope) -> Payload {
    let mut kw = Dict::new();
    kw.insert("scope".into(), scope.as_str().into());
    Payload::new(Vec::new(), kw)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{dict, list};

    #[derive(Serialize)]
    struct Status {
        state: &'static str,
    }

    #[test]
    fn calls_on_the_wire() {
        let t = Testament::retained("orchard.gnss.status", &Status { state: "gone" }).unwrap();
        assert_eq!(
            t.add_call(),
            Payload::new(
                list![
                    "orchard.gnss.status",
                    Value::List(vec![]),
                    dict! {"state" => "gone"}
                ],
                dict! {"publish_options" => dict!{"retain" => true}, "scope" => "destroyed"},
            )
        );
        let mut t = t;
        t.options.acknowledge = true;
        t.scope = TestamentScope::Detached;
        let p = t.add_call();
        assert_eq!(
            p.kwarg("publish_options"),
            Some(&Value::Dict(dict! {"retain" => true}))
        );
        assert_eq!(p.kwarg("scope"), Some(&Value::from("detached")));
        assert_eq!(
            flush_call(TestamentScope::Destroyed),
            Payload::new(vec![], dict! {"scope" => "destroyed"})
        );
    }
}
