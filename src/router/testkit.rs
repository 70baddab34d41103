//! The one test harness for the realm core: join sessions with literal `SessionInfo`s,
//! feed messages, and pick apart the returned `Action`s.

use std::time::{Duration, SystemTime};

use crate::dict;
use crate::wamp::{Dict, Id, List, Message, Payload, Value};

use super::realm::{Action, Output, Realm, RealmConfig, SessionId, SessionInfo, TimerKey};

/// 2024-01-02T03:04:05.678Z, so `created` timestamps are deterministic.
pub(crate) fn fixed_clock() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_millis(1_704_164_645_678)
}

pub(crate) fn test_config() -> RealmConfig {
    RealmConfig {
        wall_clock: Some(fixed_clock),
        ..RealmConfig::default()
    }
}

/// `roles` of a client that is publisher, subscriber, caller and callee, with the
/// given callee features.
pub(crate) fn callee_roles(call_canceling: bool, progressive: bool) -> Dict {
    dict! {
        "publisher" => dict!{},
        "subscriber" => dict!{},
        "caller" => dict!{"features" => dict!{"call_canceling" => true}},
        "callee" => dict!{"features" => dict!{
            "call_canceling" => call_canceling,
            "progressive_call_results" => progressive,
        }},
    }
}

/// Session `id` with authid `user<id>`, authrole `anonymous`, a callee that supports
/// canceling and progressive results.
pub(crate) fn session_info(id: SessionId) -> SessionInfo {
    SessionInfo {
        session: id,
        authid: format!("user{id}"),
        authrole: "anonymous".into(),
        authmethod: "anonymous".into(),
        authprovider: "static".into(),
        roles: callee_roles(true, true),
        transport: dict! {"type" => "websocket", "serializer" => "json"},
    }
}

#[derive(Debug)]
pub(crate) struct Harness {
    pub realm: Realm,
}

impl Harness {
    pub(crate) fn new() -> Harness {
        Harness::with_config(test_config())
    }

    pub(crate) fn with_config(config: RealmConfig) -> Harness {
        Harness {
            realm: Realm::new("realm1", config),
        }
    }

    pub(crate) fn join(&mut self, id: SessionId) -> Vec<Action> {
        self.join_info(session_info(id))
    }

    pub(crate) fn join_as(&mut self, id: SessionId, authid: &str, authrole: &str) -> Vec<Action> {
        let mut info = session_info(id);
        info.authid = authid.into();
        info.authrole = authrole.into();
        self.join_info(info)
    }

    pub(crate) fn join_info(&mut self, info: SessionInfo) -> Vec<Action> {
        let mut out = Output::new();
        self.realm.join(info, (), &mut out);
        out.actions
    }

    pub(crate) fn send(&mut self, id: SessionId, msg: Message) -> Vec<Action> {
        let mut out = Output::new();
        self.realm.handle(id, msg, &mut out);
        out.actions
    }

    pub(crate) fn leave(&mut self, id: SessionId) -> Vec<Action> {
        let mut out = Output::new();
        self.realm.leave(id, &mut out);
        out.actions
    }

    pub(crate) fn timer(&mut self, key: TimerKey) -> Vec<Action> {
        let mut out = Output::new();
        self.realm.timer(key, &mut out);
        out.actions
    }

    /// Subscribe and return the subscription id.
    pub(crate) fn subscribe(&mut self, id: SessionId, opts: Dict, topic: &str) -> Id {
        let acts = self.send(id, subscribe_opts(1, opts, topic));
        subscribed_id(&acts, id)
    }

    /// Register and return the registration id.
    pub(crate) fn register(&mut self, id: SessionId, opts: Dict, procedure: &str) -> Id {
        let acts = self.send(id, register_opts(1, opts, procedure));
        registered_id(&acts, id)
    }

    /// Call a meta procedure (or anything answered at once) and return its RESULT
    /// payload, panicking on anything else.
    pub(crate) fn meta(&mut self, id: SessionId, procedure: &str, args: List) -> Payload {
        self.meta_kw(id, procedure, args, Dict::new())
    }

    pub(crate) fn meta_kw(
        &mut self,
        id: SessionId,
        procedure: &str,
        args: List,
        kw: Dict,
    ) -> Payload {
        let acts = self.send(id, call_kw(77, procedure, args, kw));
        match sent(&acts, id).as_slice() {
            [Message::Result {
                request: 77,
                details,
                payload,
            }] if details.is_empty() => (*payload).clone(),
            other => panic!("{procedure}: {other:?}"),
        }
    }
}

// ---- message builders ----

pub(crate) fn subscribe(request: Id, topic: &str) -> Message {
    subscribe_opts(request, Dict::new(), topic)
}

pub(crate) fn subscribe_opts(request: Id, options: Dict, topic: &str) -> Message {
    Message::Subscribe {
        request,
        options,
        topic: topic.into(),
    }
}

pub(crate) fn unsubscribe(request: Id, subscription: Id) -> Message {
    Message::Unsubscribe {
        request,
        subscription,
    }
}

pub(crate) fn publish(request: Id, topic: &str, args: List) -> Message {
    publish_opts(request, Dict::new(), topic, args)
}

pub(crate) fn publish_ack(request: Id, topic: &str, args: List) -> Message {
    publish_opts(request, dict! {"acknowledge" => true}, topic, args)
}

pub(crate) fn publish_opts(request: Id, options: Dict, topic: &str, args: List) -> Message {
    Message::Publish {
        request,
        options,
        topic: topic.into(),
        payload: Payload::args(args),
    }
}

pub(crate) fn register(request: Id, procedure: &str) -> Message {
    register_opts(request, Dict::new(), procedure)
}

pub(crate) fn register_opts(request: Id, options: Dict, procedure: &str) -> Message {
    Message::Register {
        request,
        options,
        procedure: procedure.into(),
    }
}

pub(crate) fn unregister(request: Id, registration: Id) -> Message {
    Message::Unregister {
        request,
        registration,
    }
}

pub(crate) fn call(request: Id, procedure: &str, args: List) -> Message {
    call_opts(request, Dict::new(), procedure, args)
}

pub(crate) fn call_kw(request: Id, procedure: &str, args: List, kwargs: Dict) -> Message {
    Message::Call {
        request,
        options: Dict::new(),
        procedure: procedure.into(),
        payload: Payload::from_parts(Some(args), Some(kwargs)),
    }
}

pub(crate) fn call_opts(request: Id, options: Dict, procedure: &str, args: List) -> Message {
    Message::Call {
        request,
        options,
        procedure: procedure.into(),
        payload: Payload::args(args),
    }
}

pub(crate) fn cancel(request: Id, mode: Option<&str>) -> Message {
    Message::Cancel {
        request,
        options: match mode {
            Some(m) => dict! {"mode" => m},
            None => Dict::new(),
        },
    }
}

pub(crate) fn yield_(request: Id, args: List) -> Message {
    yield_opts(request, Dict::new(), args)
}

pub(crate) fn yield_progress(request: Id, args: List) -> Message {
    yield_opts(request, dict! {"progress" => true}, args)
}

pub(crate) fn yield_opts(request: Id, options: Dict, args: List) -> Message {
    Message::Yield {
        request,
        options,
        payload: Payload::args(args),
    }
}

pub(crate) fn error_msg(request_type: u64, request: Id, error: &str) -> Message {
    Message::Error {
        request_type,
        request,
        details: Dict::new(),
        error: error.into(),
        payload: Payload::default(),
    }
}

// ---- inspecting actions ----

/// Messages sent to `id`, in order.
pub(crate) fn sent(acts: &[Action], id: SessionId) -> Vec<&Message> {
    acts.iter()
        .filter_map(|a| match a {
            Action::Send(s, m) if *s == id => Some(m),
            _ => None,
        })
        .collect()
}

/// An EVENT, flattened.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Ev {
    pub subscription: Id,
    pub publication: Id,
    pub details: Dict,
    pub payload: Payload,
}

pub(crate) fn events_to(acts: &[Action], id: SessionId) -> Vec<Ev> {
    sent(acts, id)
        .into_iter()
        .filter_map(|m| match m {
            Message::Event {
                subscription,
                publication,
                details,
                payload,
            } => Some(Ev {
                subscription: *subscription,
                publication: *publication,
                details: details.clone(),
                payload: payload.clone(),
            }),
            _ => None,
        })
        .collect()
}

/// Sessions that got at least one message, ascending, without duplicates.
pub(crate) fn receivers(acts: &[Action]) -> Vec<SessionId> {
    let mut ids: Vec<SessionId> = acts
        .iter()
        .filter_map(|a| match a {
            Action::Send(s, _) => Some(*s),
            _ => None,
        })
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

pub(crate) fn subscribed_id(acts: &[Action], id: SessionId) -> Id {
    sent(acts, id)
        .into_iter()
        .find_map(|m| match m {
            Message::Subscribed { subscription, .. } => Some(*subscription),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no SUBSCRIBED to {id}: {acts:?}"))
}

pub(crate) fn registered_id(acts: &[Action], id: SessionId) -> Id {
    sent(acts, id)
        .into_iter()
        .find_map(|m| match m {
            Message::Registered { registration, .. } => Some(*registration),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no REGISTERED to {id}: {acts:?}"))
}

/// An INVOCATION, flattened.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Inv {
    pub request: Id,
    pub registration: Id,
    pub details: Dict,
    pub payload: Payload,
}

/// The single INVOCATION sent to `callee`.
pub(crate) fn invocation(acts: &[Action], callee: SessionId) -> Inv {
    let invs: Vec<Inv> = sent(acts, callee)
        .into_iter()
        .filter_map(|m| match m {
            Message::Invocation {
                request,
                registration,
                details,
                payload,
            } => Some(Inv {
                request: *request,
                registration: *registration,
                details: details.clone(),
                payload: payload.clone(),
            }),
            _ => None,
        })
        .collect();
    assert_eq!(
        invs.len(),
        1,
        "expected one INVOCATION to {callee}: {acts:?}"
    );
    invs.into_iter().next().unwrap_or_else(|| unreachable!())
}

/// Assert `acts` hold an ERROR to `id` answering (`request_type`, `request`) with `uri`.
pub(crate) fn assert_error(
    acts: &[Action],
    id: SessionId,
    request_type: u64,
    request: Id,
    uri: &str,
) {
    let found = sent(acts, id).into_iter().any(|m| {
        matches!(m, Message::Error { request_type: t, request: r, error, .. }
            if *t == request_type && *r == request && error == uri)
    });
    assert!(
        found,
        "expected ERROR {uri} for {request_type}/{request} to {id}: {acts:?}"
    );
}

/// The INTERRUPTs sent to `id` as (request, mode).
pub(crate) fn interrupts(acts: &[Action], id: SessionId) -> Vec<(Id, String)> {
    sent(acts, id)
        .into_iter()
        .filter_map(|m| match m {
            Message::Interrupt { request, options } => Some((
                *request,
                options
                    .get("mode")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
            )),
            _ => None,
        })
        .collect()
}

/// The timers asked for.
pub(crate) fn timers(acts: &[Action]) -> Vec<(TimerKey, Duration)> {
    acts.iter()
        .filter_map(|a| match a {
            Action::Timer { key, after } => Some((*key, *after)),
            _ => None,
        })
        .collect()
}

pub(crate) fn result(request: Id, details: Dict, args: List) -> Message {
    Message::Result {
        request,
        details,
        payload: Payload::args(args),
    }
}
