//! Session testaments (spec: advanced/pubsub_testament.md): events a session files with
//! the router, which the router publishes on the session's behalf once the session is
//! gone, however it goes (GOODBYE, ABORT, transport lost, ping timeout, meta API kill,
//! slow-consumer cut, router shutdown). A component that publishes retained state
//! files one that replaces it with "gone", so that a late joiner never takes the last
//! words of a dead component for the current state.
//!
//! The meta procedures, answered from this file's `Testaments` (the realm calls
//! `Testaments::call` for the two URIs below):
//!
//! - `wamp.session.add_testament(topic|uri, args|list, kwargs|dict)`, keyword
//!   arguments `publish_options|dict` (PUBLISH options; `acknowledge` and `exclude_me`
//!   are dropped, as Crossbar.io does) and `scope|string` (`destroyed`, the default, or
//!   `detached`). Returns an id (as Crossbar.io does; the spec returns nothing).
//!   `args` and `kwargs` may be left out or `null`.
//! - `wamp.session.flush_testaments()`, keyword argument `scope` (default
//!   `destroyed`): forgets the caller's testaments of that scope and returns how many
//!   there were.
//!
//! Semantics chosen where the spec leaves room:
//!
//! - verger has no session resumption, so a session is detached and destroyed at the
//!   same moment: `detached` testaments are published first, then `destroyed` ones,
//!   each in the order they were added (spec). A clean GOODBYE publishes them too (as
//!   Crossbar.io does): a client that leaves cleanly and wants none flushes first.
//! - `wamp.session.kill_all` publishes the victims' testaments, unlike the spec's note
//!   ("no subscribers would remain"): with `retain` a testament is for later
//!   subscribers too, and the caller itself stays. (docs/router.md, "Deviations".)
//! - The router publishes a testament as a broker publication from the leaving session,
//!   just before the session is removed: its own subscriptions never receive it
//!   (`exclude_me` is forced), `disclose_me` discloses the leaving session, `retain`
//!   makes it the topic's retained event, black/whitelists apply as in any
//!   publication. No PUBLISHED or ERROR goes anywhere (nobody is left to get them).
//! - The topic must be a valid URI outside the reserved `wamp.` namespace and the
//!   options must have their spec types, checked when the testament is added
//!   (`wamp.error.invalid_uri`, `wamp.error.invalid_argument`), so a testament cannot
//!   fail silently later. A session holds at most [`MAX_PER_SESSION`] testaments
//!   (router memory stays bounded whatever a peer does).

use std::collections::HashMap;

use crate::wamp::uri::{is_reserved, is_valid as is_valid_uri};
use crate::wamp::validate::check_attributes;
use crate::wamp::{ids, uris, Dict, Id, List, Message, Payload, Value};

use super::vocab::{RealmConfig, SessionId};

/// `wamp.session.add_testament`.
pub(crate) const ADD: &str = "wamp.session.add_testament";
/// `wamp.session.flush_testaments`.
pub(crate) const FLUSH: &str = "wamp.session.flush_testaments";

/// Most testaments one session may hold (both scopes together).
pub const MAX_PER_SESSION: usize = 64;

/// PUBLISH options a testament never keeps: nobody is left to get a PUBLISHED, and the
/// leaving session cannot receive its own testament.
const DROPPED_OPTIONS: [&str; 2] = ["acknowledge", "exclude_me"];

/// Is `procedure` one of the testament meta procedures?
pub(crate) fn is_testament_procedure(procedure: &str) -> bool {
    procedure == ADD || procedure == FLUSH
}

/// When a testament is published.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scope {
    Detached,
    Destroyed,
}

impl Scope {
    /// The `scope` keyword argument; absent or `null`: `destroyed` (spec default).
    fn from_kwargs(payload: &Payload) -> Result<Scope, String> {
        match payload.kwarg("scope") {
            None | Some(Value::Null) => Ok(Scope::Destroyed),
            Some(Value::Str(s)) if s == "destroyed" => Ok(Scope::Destroyed),
            Some(Value::Str(s)) if s == "detached" => Ok(Scope::Detached),
            Some(_) => Err("scope must be \"destroyed\" or \"detached\"".to_owned()),
        }
    }
}

/// One filed testament: what to publish.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Testament {
    pub(crate) topic: String,
    pub(crate) payload: Payload,
    /// PUBLISH options, without [`DROPPED_OPTIONS`].
    pub(crate) options: Dict,
}

#[derive(Debug, Default)]
struct Buckets {
    detached: Vec<Testament>,
    destroyed: Vec<Testament>,
}

impl Buckets {
    fn scope(&mut self, scope: Scope) -> &mut Vec<Testament> {
        match scope {
            Scope::Detached => &mut self.detached,
            Scope::Destroyed => &mut self.destroyed,
        }
    }

    fn len(&self) -> usize {
        self.detached.len() + self.destroyed.len()
    }
}

/// The testaments of every joined session of a realm.
#[derive(Debug, Default)]
pub(crate) struct Testaments {
    by_session: HashMap<SessionId, Buckets>,
}

/// An ERROR answer: URI and human-readable message.
type Failure = (&'static str, String);

fn invalid(msg: impl Into<String>) -> Failure {
    (uris::INVALID_ARGUMENT, msg.into())
}

impl Testaments {
    /// Answer `wamp.session.add_testament` or `wamp.session.flush_testaments` from
    /// `caller`: the RESULT or ERROR to send back.
    pub(crate) fn call(
        &mut self,
        config: &RealmConfig,
        caller: SessionId,
        request: Id,
        procedure: &str,
        payload: &Payload,
    ) -> Message {
        let answer = match procedure {
            ADD => self.add(config, caller, payload),
            FLUSH => self.flush(caller, payload),
            _ => Err((
                uris::NO_SUCH_PROCEDURE,
                format!("no such meta procedure '{procedure}'"),
            )),
        };
        match answer {
            Ok(value) => Message::Result {
                request,
                details: Dict::new(),
                payload: Payload::args(vec![value]),
            },
            Err((uri, message)) => Message::Error {
                request_type: crate::wamp::message::code::CALL,
                request,
                details: Dict::new(),
                error: uri.to_owned(),
                payload: Payload::args(vec![Value::Str(message)]),
            },
        }
    }

    fn add(
        &mut self,
        config: &RealmConfig,
        caller: SessionId,
        payload: &Payload,
    ) -> Result<Value, Failure> {
        let args = payload.arg_list();
        let topic = match args.first() {
            Some(Value::Str(t)) => t.clone(),
            _ => return Err(invalid("expected topic|uri as first argument")),
        };
        if !is_valid_uri(&topic, config.uri_check) || is_reserved(&topic) {
            return Err((
                uris::INVALID_URI,
                format!("invalid testament topic URI '{topic}'"),
            ));
        }
        let event_args: List = match args.get(1) {
            None | Some(Value::Null) => List::new(),
            Some(Value::List(l)) => l.clone(),
            Some(_) => return Err(invalid("args must be a list")),
        };
        let event_kwargs: Dict = match args.get(2) {
            None | Some(Value::Null) => Dict::new(),
            Some(Value::Dict(d)) => d.clone(),
            Some(_) => return Err(invalid("kwargs must be a dict")),
        };
        let mut options = match payload.kwarg("publish_options") {
            None | Some(Value::Null) => Dict::new(),
            Some(Value::Dict(d)) => d.clone(),
            Some(_) => return Err(invalid("publish_options must be a dict")),
        };
        for key in DROPPED_OPTIONS {
            options.remove(key);
        }
        let testament = Testament {
            topic,
            payload: Payload::new(event_args, event_kwargs),
            options,
        };
        // The options are those of a PUBLISH: check them as the codec checks one.
        let publish = Message::Publish {
            request: 1,
            options: testament.options.clone(),
            topic: testament.topic.clone(),
            payload: Payload::default(),
        };
        if let Err(e) = check_attributes(&publish) {
            return Err(invalid(format!("publish_options: {e}")));
        }
        let scope = Scope::from_kwargs(payload).map_err(invalid)?;
        let buckets = self.by_session.entry(caller).or_default();
        if buckets.len() >= MAX_PER_SESSION {
            return Err(invalid(format!(
                "a session may hold at most {MAX_PER_SESSION} testaments"
            )));
        }
        buckets.scope(scope).push(testament);
        Ok(Value::from(ids::random_id()))
    }

    fn flush(&mut self, caller: SessionId, payload: &Payload) -> Result<Value, Failure> {
        let scope = Scope::from_kwargs(payload).map_err(invalid)?;
        let Some(buckets) = self.by_session.get_mut(&caller) else {
            return Ok(Value::from(0u64));
        };
        let flushed = std::mem::take(buckets.scope(scope)).len();
        if buckets.len() == 0 {
            self.by_session.remove(&caller);
        }
        Ok(Value::from(flushed))
    }

    /// `session` is going away: its testaments in publication order (`detached`
    /// first, then `destroyed`, each in the order added), forgotten here.
    pub(crate) fn take(&mut self, session: SessionId) -> Vec<Testament> {
        match self.by_session.remove(&session) {
            Some(mut b) => {
                let mut all = std::mem::take(&mut b.detached);
                all.append(&mut b.destroyed);
                all
            }
            None => Vec::new(),
        }
    }

    /// No testament held for anyone.
    #[cfg(test)]
    pub(crate) fn is_idle(&self) -> bool {
        self.by_session.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{dict, list};

    fn add(t: &mut Testaments, caller: SessionId, args: List, kw: Dict) -> Message {
        let payload = Payload::new(args, kw);
        t.call(&RealmConfig::default(), caller, 7, ADD, &payload)
    }

    fn error_uri(m: &Message) -> &str {
        match m {
            Message::Error { error, .. } => error,
            other => panic!("not an ERROR: {other:?}"),
        }
    }

    #[test]
    fn add_keeps_order_and_scopes_and_drops_ack_and_exclude_me() {
        let mut t = Testaments::default();
        let opts = dict! {"retain" => true, "acknowledge" => true, "exclude_me" => false};
        let r = add(
            &mut t,
            1,
            list!["com.a", list![1], dict! {"k" => "v"}],
            dict! {"publish_options" => opts},
        );
        assert!(
            matches!(&r, Message::Result { request: 7, payload, .. }
                if payload.arg_list().first().and_then(Value::as_u64).is_some()),
            "{r:?}"
        );
        add(&mut t, 1, list!["com.b"], dict! {"scope" => "detached"});
        add(
            &mut t,
            1,
            list!["com.c", Value::Null, Value::Null],
            dict! {},
        );
        let all = t.take(1);
        let topics: Vec<&str> = all.iter().map(|x| x.topic.as_str()).collect();
        assert_eq!(topics, ["com.b", "com.a", "com.c"], "detached first");
        assert_eq!(all[1].options, dict! {"retain" => true});
        assert_eq!(all[1].payload, Payload::new(list![1], dict! {"k" => "v"}));
        assert_eq!(all[2].payload, Payload::default());
        assert!(t.take(1).is_empty() && t.is_idle());
    }

    #[test]
    fn bad_arguments_are_refused_when_added() {
        let mut t = Testaments::default();
        let cases: Vec<(List, Dict, &str)> = vec![
            (list![], dict! {}, uris::INVALID_ARGUMENT),
            (list![5], dict! {}, uris::INVALID_ARGUMENT),
            (list!["not a uri!"], dict! {}, uris::INVALID_URI),
            (list!["wamp.session.on_leave"], dict! {}, uris::INVALID_URI),
            (list!["com.a", "x"], dict! {}, uris::INVALID_ARGUMENT),
            (
                list!["com.a", Value::List(vec![]), Value::List(vec![])],
                dict! {},
                uris::INVALID_ARGUMENT,
            ),
            (
                list!["com.a"],
                dict! {"scope" => "forever"},
                uris::INVALID_ARGUMENT,
            ),
            (
                list!["com.a"],
                dict! {"publish_options" => "retain"},
                uris::INVALID_ARGUMENT,
            ),
            (
                list!["com.a"],
                dict! {"publish_options" => dict!{"retain" => 1}},
                uris::INVALID_ARGUMENT,
            ),
        ];
        for (args, kw, want) in cases {
            let r = add(&mut t, 1, args.clone(), kw.clone());
            assert_eq!(error_uri(&r), want, "{args:?} {kw:?}");
        }
        assert!(t.is_idle());
    }

    #[test]
    fn flush_counts_per_scope() {
        let mut t = Testaments::default();
        let flush = |t: &mut Testaments, kw: Dict| {
            let p = Payload::new(vec![], kw);
            match t.call(&RealmConfig::default(), 1, 8, FLUSH, &p) {
                Message::Result { payload, .. } => payload.arg_list()[0].as_u64().unwrap(),
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(flush(&mut t, dict! {}), 0);
        add(&mut t, 1, list!["com.a"], dict! {});
        add(&mut t, 1, list!["com.a"], dict! {});
        add(&mut t, 1, list!["com.b"], dict! {"scope" => "detached"});
        assert_eq!(flush(&mut t, dict! {"scope" => "destroyed"}), 2);
        assert_eq!(flush(&mut t, dict! {}), 0);
        assert_eq!(t.take(1).len(), 1, "the other scope is kept");
        let r = t.call(
            &RealmConfig::default(),
            1,
            9,
            FLUSH,
            &Payload::new(vec![], dict! {"scope" => 3}),
        );
        assert_eq!(error_uri(&r), uris::INVALID_ARGUMENT);
    }

    #[test]
    fn a_session_holds_a_bounded_number() {
        let mut t = Testaments::default();
        for _ in 0..MAX_PER_SESSION {
            add(&mut t, 1, list!["com.a"], dict! {});
        }
        let r = add(&mut t, 1, list!["com.a"], dict! {"scope" => "detached"});
        assert_eq!(error_uri(&r), uris::INVALID_ARGUMENT);
        // Others are not affected.
        assert!(matches!(
            add(&mut t, 2, list!["com.a"], dict! {}),
            Message::Result { .. }
        ));
        assert_eq!(t.take(1).len(), MAX_PER_SESSION);
    }
}
