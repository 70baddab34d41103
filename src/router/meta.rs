//! The WAMP meta API of a realm: meta procedures answered inside the core, and the
//! session details its events carry (spec: advanced/meta_api_sessions.md,
//! meta_api_subscriptions.md, meta_api_registrations.md).
//!
//! Meta *events* are raised by the realm, broker and dealer as `MetaEvent`s
//! (`vocab.rs`) and published by the realm. Meta *procedures* are answered here from a
//! read-only `MetaView` of the realm; the kill procedures return the sessions to
//! close as a value (`Kill`), which the realm carries out before the answer is sent.
//!
//! Like Crossbar.io, no subscription/registration meta events are raised for URIs
//! under the reserved `wamp.` namespace, so watching the meta API does not itself
//! produce meta events. `wamp.session.kill_all` raises no `on_leave` events, as the
//! spec says.

use crate::wamp::message::code;
use crate::wamp::uri::{is_valid as is_valid_uri, MatchPolicy};
use crate::wamp::{uris, Dict, Id, List, Message, Payload, Value};

use super::vocab::{match_policy, Catalog, Ctx, SessionId, SessionInfo};

/// The session details dict of `on_join` and `wamp.session.get`.
pub(crate) fn session_details(info: &SessionInfo) -> Dict {
    let mut d = Dict::new();
    d.insert("session".into(), info.session.into());
    d.insert("authid".into(), info.authid.as_str().into());
    d.insert("authrole".into(), info.authrole.as_str().into());
    d.insert("authmethod".into(), info.authmethod.as_str().into());
    d.insert("authprovider".into(), info.authprovider.as_str().into());
    d.insert("transport".into(), Value::Dict(info.transport.clone()));
    d
}

const PROCEDURES: &[&str] = &[
    "wamp.session.count",
    "wamp.session.list",
    "wamp.session.get",
    "wamp.session.kill",
    "wamp.session.kill_by_authid",
    "wamp.session.kill_by_authrole",
    "wamp.session.kill_all",
    // Answered by the realm from `testament.rs` (they change the caller's state).
    "wamp.session.add_testament",
    "wamp.session.flush_testaments",
    "wamp.subscription.list",
    "wamp.subscription.lookup",
    "wamp.subscription.match",
    "wamp.subscription.get",
    "wamp.subscription.list_subscribers",
    "wamp.subscription.count_subscribers",
    "wamp.registration.list",
    "wamp.registration.lookup",
    "wamp.registration.match",
    "wamp.registration.get",
    "wamp.registration.list_callees",
    "wamp.registration.count_callees",
];

pub(crate) fn is_meta_procedure(procedure: &str) -> bool {
    procedure.starts_with("wamp.") && PROCEDURES.contains(&procedure)
}

/// What the meta procedures read: the sessions and the realm's configuration, the
/// broker's subscriptions and the dealer's registrations.
#[derive(Clone, Copy)]
pub(crate) struct MetaView<'a> {
    pub(crate) ctx: Ctx<'a>,
    pub(crate) subscriptions: &'a dyn Catalog,
    pub(crate) registrations: &'a dyn Catalog,
}

/// Sessions a kill procedure closes with GOODBYE `reason`, before the caller gets
/// its answer.
#[derive(Debug, PartialEq)]
pub(crate) struct Kill {
    /// Ascending; never the caller.
    pub(crate) victims: Vec<SessionId>,
    pub(crate) reason: String,
    pub(crate) message: Option<String>,
    /// Publish `wamp.session.on_leave` for each (not for `kill_all`).
    pub(crate) on_leave: bool,
}

/// An ERROR answer: URI and human-readable message.
type Failure = (&'static str, String);

fn invalid(msg: impl Into<String>) -> Failure {
    (uris::INVALID_ARGUMENT, msg.into())
}

fn id_arg(payload: &Payload, name: &str) -> Result<Id, Failure> {
    payload
        .arg_list()
        .first()
        .and_then(Value::as_u64)
        .ok_or_else(|| invalid(format!("expected {name}|id as first argument")))
}

fn str_arg<'a>(payload: &'a Payload, name: &str) -> Result<&'a str, Failure> {
    payload
        .arg_list()
        .first()
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(format!("expected {name}|string as first argument")))
}

/// Optional `filter_authroles|list[string]` first argument.
fn authrole_filter(payload: &Payload) -> Result<Option<Vec<&str>>, Failure> {
    match payload.arg_list().first() {
        None | Some(Value::Null) => Ok(None),
        Some(Value::List(l)) => l
            .iter()
            .map(Value::as_str)
            .collect::<Option<Vec<&str>>>()
            .map(Some)
            .ok_or_else(|| invalid("filter_authroles must be a list of strings")),
        Some(_) => Err(invalid("filter_authroles must be a list of strings")),
    }
}

/// Optional `options|dict` second argument of `lookup`.
fn lookup_policy(payload: &Payload) -> Result<MatchPolicy, Failure> {
    match payload.arg_list().get(1) {
        None | Some(Value::Null) => Ok(MatchPolicy::Exact),
        Some(Value::Dict(d)) => match_policy(d).map_err(invalid),
        Some(_) => Err(invalid("options must be a dict")),
    }
}

fn ids(list: Vec<Id>) -> Value {
    Value::List(list.into_iter().map(Value::from).collect())
}

fn policy_lists(lists: [Vec<Id>; 3]) -> Value {
    let [exact, prefix, wildcard] = lists;
    let mut d = Dict::new();
    d.insert("exact".into(), ids(exact));
    d.insert("prefix".into(), ids(prefix));
    d.insert("wildcard".into(), ids(wildcard));
    Value::Dict(d)
}

/// `reason` and `message` keyword arguments of the kill procedures.
fn kill_options(
    view: &MetaView<'_>,
    payload: &Payload,
) -> Result<(String, Option<String>), Failure> {
    let reason = match payload.kwarg("reason") {
        None | Some(Value::Null) => uris::CLOSE_KILLED.to_owned(),
        Some(Value::Str(r)) if is_valid_uri(r, view.ctx.config.uri_check) => r.clone(),
        Some(_) => {
            return Err((
                uris::INVALID_URI,
                "reason must be a valid non-empty URI".into(),
            ))
        }
    };
    let message = match payload.kwarg("message") {
        None | Some(Value::Null) => None,
        Some(Value::Str(m)) => Some(m.clone()),
        Some(_) => return Err(invalid("message must be a string")),
    };
    Ok((reason, message))
}

/// Every session `select`ed except the caller, to be killed.
fn kill_where(
    view: &MetaView<'_>,
    caller: SessionId,
    payload: &Payload,
    on_leave: bool,
    select: impl Fn(&SessionInfo) -> bool,
) -> Result<Kill, Failure> {
    let (reason, message) = kill_options(view, payload)?;
    let mut victims = Vec::new();
    view.ctx.sessions.each(&mut |s| {
        if s.info.session != caller && select(&s.info) {
            victims.push(s.info.session);
        }
    });
    victims.sort_unstable();
    Ok(Kill {
        victims,
        reason,
        message,
        on_leave,
    })
}

/// Answer a meta procedure call from `caller`: the RESULT or ERROR for the caller,
/// and the sessions to kill first, if any.
pub(crate) fn call(
    view: MetaView<'_>,
    caller: SessionId,
    request: Id,
    procedure: &str,
    payload: &Payload,
) -> (Message, Option<Kill>) {
    let mut kill = None;
    let reply = match dispatch(&view, caller, procedure, payload, &mut kill) {
        Ok(args) => Message::Result {
            request,
            details: Dict::new(),
            payload: if args.is_empty() {
                Payload::default()
            } else {
                Payload::args(args)
            },
        },
        Err((uri, message)) => Message::Error {
            request_type: code::CALL,
            request,
            details: Dict::new(),
            error: uri.to_owned(),
            payload: Payload::args(vec![Value::Str(message)]),
        },
    };
    (reply, kill)
}

fn dispatch(
    view: &MetaView<'_>,
    caller: SessionId,
    procedure: &str,
    payload: &Payload,
    kill: &mut Option<Kill>,
) -> Result<List, Failure> {
    let no_sub = || {
        (
            uris::NO_SUCH_SUBSCRIPTION,
            "no such subscription".to_owned(),
        )
    };
    let no_reg = || {
        (
            uris::NO_SUCH_REGISTRATION,
            "no such registration".to_owned(),
        )
    };
    let no_session = || (uris::NO_SUCH_SESSION, "no such session".to_owned());
    let sessions = view.ctx.sessions;
    Ok(match procedure {
        "wamp.session.count" | "wamp.session.list" => {
            let filter = authrole_filter(payload)?;
            let mut list = Vec::new();
            sessions.each(&mut |s| {
                if filter
                    .as_ref()
                    .is_none_or(|f| f.contains(&s.info.authrole.as_str()))
                {
                    list.push(s.info.session);
                }
            });
            if procedure == "wamp.session.count" {
                vec![Value::from(list.len())]
            } else {
                list.sort_unstable();
                vec![ids(list)]
            }
        }
        "wamp.session.get" => {
            let id = id_arg(payload, "session")?;
            let s = sessions.get(id).ok_or_else(no_session)?;
            vec![Value::Dict(session_details(&s.info))]
        }
        "wamp.session.kill" => {
            let id = id_arg(payload, "session")?;
            // "no *other* session with that ID exists" when a session kills itself.
            if id == caller || !sessions.contains(id) {
                return Err(no_session());
            }
            *kill = Some(kill_where(view, caller, payload, true, |s| {
                s.session == id
            })?);
            vec![]
        }
        "wamp.session.kill_by_authid" => {
            let authid = str_arg(payload, "authid")?;
            let k = kill_where(view, caller, payload, true, |s| s.authid == authid)?;
            let answer = vec![ids(k.victims.clone())];
            *kill = Some(k);
            answer
        }
        "wamp.session.kill_by_authrole" => {
            let authrole = str_arg(payload, "authrole")?;
            let k = kill_where(view, caller, payload, true, |s| s.authrole == authrole)?;
            let answer = vec![Value::from(k.victims.len())];
            *kill = Some(k);
            answer
        }
        "wamp.session.kill_all" => {
            let k = kill_where(view, caller, payload, false, |_| true)?;
            let answer = vec![Value::from(k.victims.len())];
            *kill = Some(k);
            answer
        }
        "wamp.subscription.list" => vec![policy_lists(view.subscriptions.list())],
        "wamp.subscription.lookup" => {
            let topic = str_arg(payload, "topic")?;
            let policy = lookup_policy(payload)?;
            vec![view.subscriptions.lookup(topic, policy).into()]
        }
        "wamp.subscription.match" => {
            let topic = str_arg(payload, "topic")?;
            let m = view.subscriptions.matching(topic);
            vec![if m.is_empty() { Value::Null } else { ids(m) }]
        }
        "wamp.subscription.get" => {
            let id = id_arg(payload, "subscription")?;
            vec![Value::Dict(
                view.subscriptions.details(id).ok_or_else(no_sub)?,
            )]
        }
        "wamp.subscription.list_subscribers" | "wamp.subscription.count_subscribers" => {
            let id = id_arg(payload, "subscription")?;
            let subscribers = view.subscriptions.attached(id).ok_or_else(no_sub)?;
            if procedure.ends_with("count_subscribers") {
                vec![Value::from(subscribers.len())]
            } else {
                vec![ids(subscribers)]
            }
        }
        "wamp.registration.list" => vec![policy_lists(view.registrations.list())],
        "wamp.registration.lookup" => {
            let uri = str_arg(payload, "procedure")?;
            let policy = lookup_policy(payload)?;
            vec![view.registrations.lookup(uri, policy).into()]
        }
        "wamp.registration.match" => {
            let uri = str_arg(payload, "procedure")?;
            vec![view.registrations.matching(uri).first().copied().into()]
        }
        "wamp.registration.get" => {
            let id = id_arg(payload, "registration")?;
            vec![Value::Dict(
                view.registrations.details(id).ok_or_else(no_reg)?,
            )]
        }
        "wamp.registration.list_callees" | "wamp.registration.count_callees" => {
            let id = id_arg(payload, "registration")?;
            let callees = view.registrations.attached(id).ok_or_else(no_reg)?;
            if procedure.ends_with("count_callees") {
                vec![Value::from(callees.len())]
            } else {
                vec![ids(callees)]
            }
        }
        _ => {
            return Err((
                uris::NO_SUCH_PROCEDURE,
                format!("no such meta procedure '{procedure}'"),
            ))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use super::super::vocab::Action;
    use crate::wamp::{message::code, uris, Dict, Message, Payload, Value};
    use crate::{dict, list};

    fn args(p: Payload) -> Vec<Value> {
        p.args.unwrap_or_default()
    }

    fn meta_err(h: &mut Harness, id: u64, procedure: &str, a: Vec<Value>, kw: Dict) -> String {
        let acts = h.send(id, call_kw(5, procedure, a, kw));
        match sent(&acts, id).as_slice() {
            [Message::Error {
                request_type: code::CALL,
                request: 5,
                error,
                ..
            }] => error.clone(),
            other => panic!("{procedure}: {other:?}"),
        }
    }

    #[test]
    fn session_join_and_leave_events() {
        let mut h = Harness::new();
        h.join(9);
        let on_join = h.subscribe(9, dict! {}, "wamp.session.on_join");
        let on_leave = h.subscribe(9, dict! {}, "wamp.session.on_leave");
        let acts = h.join_as(4, "alice", "staff");
        let evs = events_to(&acts, 9);
        assert_eq!(evs.len(), 1);
        assert_eq!(evs[0].subscription, on_join);
        assert_eq!(
            args(evs[0].payload.clone()),
            list![dict! {
                "session" => 4u64, "authid" => "alice", "authrole" => "staff",
                "authmethod" => "anonymous", "authprovider" => "static",
                "transport" => dict!{"type" => "websocket", "serializer" => "json"},
            }]
        );
        let acts = h.leave(4);
        let evs = events_to(&acts, 9);
        assert_eq!(evs.len(), 1);
        assert_eq!(evs[0].subscription, on_leave);
        assert_eq!(args(evs[0].payload.clone()), list![4u64, "alice", "staff"]);
        // A pattern subscription sees them too, with the concrete topic.
        h.subscribe(9, dict! {"match" => "prefix"}, "wamp.session.");
        let acts = h.join(5);
        let evs = events_to(&acts, 9);
        assert_eq!(evs.len(), 2);
        assert_eq!(evs[1].details, dict! {"topic" => "wamp.session.on_join"});
    }

    #[test]
    fn session_count_list_get() {
        let mut h = Harness::new();
        h.join_as(3, "a", "staff");
        h.join_as(1, "b", "manager");
        h.join_as(2, "c", "staff");
        assert_eq!(args(h.meta(1, "wamp.session.count", list![])), list![3]);
        assert_eq!(
            args(h.meta(1, "wamp.session.count", list![list!["staff"]])),
            list![2]
        );
        assert_eq!(
            args(h.meta(1, "wamp.session.count", list![list!["staff", "manager"]])),
            list![3]
        );
        assert_eq!(
            args(h.meta(1, "wamp.session.list", list![])),
            list![list![1u64, 2u64, 3u64]]
        );
        assert_eq!(
            args(h.meta(1, "wamp.session.list", list![list!["manager"]])),
            list![list![1u64]]
        );
        let got = args(h.meta(1, "wamp.session.get", list![2u64]));
        assert_eq!(got[0].as_dict().unwrap()["authid"], Value::from("c"));
        assert_eq!(got[0].as_dict().unwrap()["session"], Value::from(2u64));
        let e = meta_err(&mut h, 1, "wamp.session.get", list![99u64], dict! {});
        assert_eq!(e, uris::NO_SUCH_SESSION);
        let e = meta_err(&mut h, 1, "wamp.session.get", list!["x"], dict! {});
        assert_eq!(e, uris::INVALID_ARGUMENT);
        let e = meta_err(&mut h, 1, "wamp.session.count", list!["staff"], dict! {});
        assert_eq!(e, uris::INVALID_ARGUMENT);
    }

    #[test]
    fn session_kill() {
        let mut h = Harness::new();
        h.join(1);
        h.join(2);
        h.join(3);
        h.subscribe(3, dict! {}, "wamp.session.on_leave");
        h.register(2, dict! {}, "com.p");
        let acts = h.send(1, call_kw(8, "wamp.session.kill", list![2u64], dict! {}));
        assert!(acts.contains(&Action::Close {
            session: 2,
            message: Message::Goodbye {
                details: Dict::new(),
                reason: uris::CLOSE_KILLED.into()
            }
        }));
        assert_eq!(
            events_to(&acts, 3).len(),
            1,
            "on_leave for the killed session"
        );
        assert_eq!(
            sent(&acts, 1),
            vec![&Message::Result {
                request: 8,
                details: Dict::new(),
                payload: Payload::default()
            }]
        );
        assert_eq!(h.realm.session_ids(), vec![1, 3]);
        // Its registration went with it; the shell's later `leave` is a no-op.
        assert!(h.leave(2).is_empty());
        let acts = h.send(1, call(9, "com.p", list![]));
        assert_error(&acts, 1, code::CALL, 9, uris::NO_SUCH_PROCEDURE);

        // Reason and message.
        let kw = dict! {"reason" => "com.myapp.maintenance", "message" => "bye"};
        let acts = h.send(1, call_kw(10, "wamp.session.kill", list![3u64], kw));
        assert!(acts.contains(&Action::Close {
            session: 3,
            message: Message::Goodbye {
                details: dict! {"message" => "bye"},
                reason: "com.myapp.maintenance".into()
            }
        }));
        h.join(4);
        let e = meta_err(&mut h, 1, "wamp.session.kill", list![1u64], dict! {});
        assert_eq!(e, uris::NO_SUCH_SESSION, "killing oneself");
        let e = meta_err(&mut h, 1, "wamp.session.kill", list![77u64], dict! {});
        assert_eq!(e, uris::NO_SUCH_SESSION);
        let e = meta_err(
            &mut h,
            1,
            "wamp.session.kill",
            list![4u64],
            dict! {"reason" => "not a uri"},
        );
        assert_eq!(e, uris::INVALID_URI);
        let e = meta_err(
            &mut h,
            1,
            "wamp.session.kill",
            list![4u64],
            dict! {"message" => 3},
        );
        assert_eq!(e, uris::INVALID_ARGUMENT);
        assert_eq!(h.realm.session_ids(), vec![1, 4]);
    }

    #[test]
    fn session_kill_by_authid_authrole_and_all() {
        let mut h = Harness::new();
        h.join_as(1, "ops", "admin");
        h.join_as(2, "ops", "admin");
        h.join_as(3, "ops", "staff");
        h.join_as(4, "x", "staff");
        h.join_as(5, "y", "staff");
        h.join_as(6, "z", "guest");
        h.subscribe(6, dict! {}, "wamp.session.on_leave");
        let acts = h.send(
            1,
            call_kw(1, "wamp.session.kill_by_authid", list!["ops"], dict! {}),
        );
        assert_eq!(
            sent(&acts, 1).last().cloned(),
            Some(&result(1, Dict::new(), list![list![2u64, 3u64]]))
        );
        assert_eq!(events_to(&acts, 6).len(), 2);
        let closes = acts
            .iter()
            .filter(|a| matches!(a, Action::Close { .. }))
            .count();
        assert_eq!(closes, 2);
        assert_eq!(
            args(h.meta(1, "wamp.session.kill_by_authrole", list!["staff"])),
            list![2]
        );
        assert_eq!(h.realm.session_ids(), vec![1, 6]);
        let e = meta_err(
            &mut h,
            1,
            "wamp.session.kill_by_authrole",
            list![],
            dict! {},
        );
        assert_eq!(e, uris::INVALID_ARGUMENT);
        h.join(7);
        let acts = h.send(1, call_kw(2, "wamp.session.kill_all", list![], dict! {}));
        assert_eq!(
            sent(&acts, 1),
            vec![&result(2, Dict::new(), list![2])],
            "no on_leave events for kill_all"
        );
        assert_eq!(h.realm.session_ids(), vec![1]);
    }

    #[test]
    fn subscription_meta_events() {
        let mut h = Harness::new();
        h.join(1);
        h.join(2);
        h.join(9);
        let topics = [
            "wamp.subscription.on_create",
            "wamp.subscription.on_subscribe",
            "wamp.subscription.on_unsubscribe",
            "wamp.subscription.on_delete",
        ];
        let subs: Vec<u64> = topics.iter().map(|t| h.subscribe(9, dict! {}, t)).collect();
        let acts = h.send(1, subscribe_opts(1, dict! {"match" => "prefix"}, "com.a"));
        let id = subscribed_id(&acts, 1);
        let evs = events_to(&acts, 9);
        assert_eq!(evs.len(), 2);
        assert_eq!(evs[0].subscription, subs[0]);
        assert_eq!(
            args(evs[0].payload.clone()),
            list![
                1u64,
                dict! {"id" => id, "created" => "2024-01-02T03:04:05.678Z",
                "uri" => "com.a", "match" => "prefix"}
            ]
        );
        assert_eq!(evs[1].subscription, subs[1]);
        assert_eq!(args(evs[1].payload.clone()), list![1u64, id]);
        // Second subscriber: on_subscribe only; subscribing again: nothing.
        let acts = h.send(2, subscribe_opts(1, dict! {"match" => "prefix"}, "com.a"));
        assert_eq!(events_to(&acts, 9).len(), 1);
        let acts = h.send(2, subscribe_opts(2, dict! {"match" => "prefix"}, "com.a"));
        assert!(events_to(&acts, 9).is_empty());
        let acts = h.send(1, unsubscribe(3, id));
        let evs = events_to(&acts, 9);
        assert_eq!(evs.len(), 1);
        assert_eq!(evs[0].subscription, subs[2]);
        let acts = h.send(2, unsubscribe(3, id));
        let evs = events_to(&acts, 9);
        assert_eq!(evs.len(), 2);
        assert_eq!(evs[0].subscription, subs[2]);
        assert_eq!(evs[1].subscription, subs[3]);
        assert_eq!(args(evs[1].payload.clone()), list![2u64, id]);
        // Subscriptions to the meta API itself raise no meta events.
        let acts = h.send(1, subscribe(4, "wamp.session.on_join"));
        assert!(events_to(&acts, 9).is_empty());
    }

    #[test]
    fn subscription_procedures() {
        let mut h = Harness::new();
        h.join(1);
        h.join(2);
        let e = h.subscribe(1, dict! {}, "com.a.b");
        h.subscribe(2, dict! {}, "com.a.b");
        let p = h.subscribe(1, dict! {"match" => "prefix"}, "com.a");
        let w = h.subscribe(2, dict! {"match" => "wildcard"}, "com..b");
        assert_eq!(
            args(h.meta(1, "wamp.subscription.list", list![])),
            list![dict! {"exact" => list![e], "prefix" => list![p], "wildcard" => list![w]}]
        );
        assert_eq!(
            args(h.meta(1, "wamp.subscription.lookup", list!["com.a.b"])),
            list![e]
        );
        assert_eq!(
            args(h.meta(
                1,
                "wamp.subscription.lookup",
                list!["com.a", dict! {"match" => "prefix"}]
            )),
            list![p]
        );
        assert_eq!(
            args(h.meta(1, "wamp.subscription.lookup", list!["com.zzz"])),
            list![Value::Null]
        );
        assert_eq!(
            args(h.meta(1, "wamp.subscription.match", list!["com.a.b"])),
            list![list![e, p, w]]
        );
        assert_eq!(
            args(h.meta(1, "wamp.subscription.match", list!["org.x"])),
            list![Value::Null]
        );
        assert_eq!(
            args(h.meta(1, "wamp.subscription.get", list![w])),
            list![dict! {"id" => w, "created" => "2024-01-02T03:04:05.678Z",
            "uri" => "com..b", "match" => "wildcard"}]
        );
        assert_eq!(
            args(h.meta(1, "wamp.subscription.list_subscribers", list![e])),
            list![list![1u64, 2u64]]
        );
        assert_eq!(
            args(h.meta(1, "wamp.subscription.count_subscribers", list![e])),
            list![2]
        );
        for proc_ in [
            "wamp.subscription.get",
            "wamp.subscription.list_subscribers",
            "wamp.subscription.count_subscribers",
        ] {
            let err = meta_err(&mut h, 1, proc_, list![999u64], dict! {});
            assert_eq!(err, uris::NO_SUCH_SUBSCRIPTION, "{proc_}");
            let err = meta_err(&mut h, 1, proc_, list![], dict! {});
            assert_eq!(err, uris::INVALID_ARGUMENT, "{proc_}");
        }
        let err = meta_err(
            &mut h,
            1,
            "wamp.subscription.lookup",
            list!["com.a", dict! {"match" => "nope"}],
            dict! {},
        );
        assert_eq!(err, uris::INVALID_ARGUMENT);
    }

    #[test]
    fn registration_procedures() {
        let mut h = Harness::new();
        h.join(1);
        h.join(2);
        h.join(3);
        let e = h.register(2, dict! {"invoke" => "roundrobin"}, "com.a.b");
        h.register(3, dict! {"invoke" => "roundrobin"}, "com.a.b");
        let p = h.register(2, dict! {"match" => "prefix"}, "com.a");
        let w = h.register(3, dict! {"match" => "wildcard"}, "com..c");
        assert_eq!(
            args(h.meta(1, "wamp.registration.list", list![])),
            list![dict! {"exact" => list![e], "prefix" => list![p], "wildcard" => list![w]}]
        );
        assert_eq!(
            args(h.meta(1, "wamp.registration.lookup", list!["com.a.b"])),
            list![e]
        );
        assert_eq!(
            args(h.meta(
                1,
                "wamp.registration.lookup",
                list!["com..c", dict! {"match" => "wildcard"}]
            )),
            list![w]
        );
        assert_eq!(
            args(h.meta(1, "wamp.registration.lookup", list!["com.a.c"])),
            list![Value::Null]
        );
        for (uri, expect) in [
            ("com.a.b", Value::from(e)),
            ("com.a.c", Value::from(p)),
            ("com.x.c", Value::from(w)),
            ("org.x", Value::Null),
        ] {
            assert_eq!(
                args(h.meta(1, "wamp.registration.match", list![uri])),
                vec![expect],
                "{uri}"
            );
        }
        assert_eq!(
            args(h.meta(1, "wamp.registration.get", list![e])),
            list![dict! {"id" => e, "created" => "2024-01-02T03:04:05.678Z",
            "uri" => "com.a.b", "match" => "exact", "invoke" => "roundrobin"}]
        );
        assert_eq!(
            args(h.meta(1, "wamp.registration.list_callees", list![e])),
            list![list![2u64, 3u64]]
        );
        assert_eq!(
            args(h.meta(1, "wamp.registration.count_callees", list![e])),
            list![2]
        );
        for proc_ in [
            "wamp.registration.get",
            "wamp.registration.list_callees",
            "wamp.registration.count_callees",
        ] {
            let err = meta_err(&mut h, 1, proc_, list![999u64], dict! {});
            assert_eq!(err, uris::NO_SUCH_REGISTRATION, "{proc_}");
        }
        let err = meta_err(&mut h, 1, "wamp.registration.match", list![5], dict! {});
        assert_eq!(err, uris::INVALID_ARGUMENT);
    }

    #[test]
    fn created_is_omitted_without_a_clock() {
        let mut cfg = test_config();
        cfg.wall_clock = None;
        let mut h = Harness::with_config(cfg);
        h.join(1);
        let id = h.subscribe(1, dict! {}, "com.a");
        assert_eq!(
            args(h.meta(1, "wamp.subscription.get", list![id])),
            list![dict! {"id" => id, "uri" => "com.a", "match" => "exact"}]
        );
    }
}
