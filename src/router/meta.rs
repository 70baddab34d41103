//! The WAMP meta API of a realm: session, subscription and registration meta events
//! (published by the router itself) and meta procedures (answered inside the core)
//! (spec: advanced/meta_api_sessions.md, meta_api_subscriptions.md,
//! meta_api_registrations.md).
//!
//! Like Crossbar.io, no subscription/registration meta events are raised for URIs
//! under the reserved `wamp.` namespace, so watching the meta API does not itself
//! produce meta events. `wamp.session.kill_all` raises no `on_leave` events, as the
//! spec says.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::wamp::message::code;
use crate::wamp::uri::MatchPolicy;
use crate::wamp::{uris, Dict, Id, List, Message, Payload, Value};

use super::broker::match_policy;
use super::pattern::is_valid_uri;
use super::realm::{Action, Realm, SessionId, SessionInfo};

pub(crate) const SESSION_ON_JOIN: &str = "wamp.session.on_join";
pub(crate) const SESSION_ON_LEAVE: &str = "wamp.session.on_leave";
pub(crate) const SUBSCRIPTION_ON_CREATE: &str = "wamp.subscription.on_create";
pub(crate) const SUBSCRIPTION_ON_SUBSCRIBE: &str = "wamp.subscription.on_subscribe";
pub(crate) const SUBSCRIPTION_ON_UNSUBSCRIBE: &str = "wamp.subscription.on_unsubscribe";
pub(crate) const SUBSCRIPTION_ON_DELETE: &str = "wamp.subscription.on_delete";
pub(crate) const REGISTRATION_ON_CREATE: &str = "wamp.registration.on_create";
pub(crate) const REGISTRATION_ON_REGISTER: &str = "wamp.registration.on_register";
pub(crate) const REGISTRATION_ON_UNREGISTER: &str = "wamp.registration.on_unregister";
pub(crate) const REGISTRATION_ON_DELETE: &str = "wamp.registration.on_delete";

/// A meta event to publish once the current input has been handled.
#[derive(Debug)]
pub(crate) struct MetaEvent {
    pub(crate) topic: &'static str,
    pub(crate) args: List,
}

impl MetaEvent {
    pub(crate) fn new(topic: &'static str, args: List) -> MetaEvent {
        MetaEvent { topic, args }
    }
}

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

/// `2024-01-02T03:04:05.678Z` (UTC, milliseconds), as the meta API's `created`.
pub(crate) fn iso8601(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_millis()
    )
}

const PROCEDURES: &[&str] = &[
    "wamp.session.count",
    "wamp.session.list",
    "wamp.session.get",
    "wamp.session.kill",
    "wamp.session.kill_by_authid",
    "wamp.session.kill_by_authrole",
    "wamp.session.kill_all",
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
fn kill_options(realm: &Realm, payload: &Payload) -> Result<(String, Option<String>), Failure> {
    let reason = match payload.kwarg("reason") {
        None | Some(Value::Null) => uris::CLOSE_KILLED.to_owned(),
        Some(Value::Str(r)) if is_valid_uri(r, realm.config.uri_check) => r.clone(),
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

/// Kill every session `select`ed except the caller; returns the ids, ascending.
fn kill_where(
    realm: &mut Realm,
    caller: SessionId,
    payload: &Payload,
    on_leave: bool,
    select: impl Fn(&SessionInfo) -> bool,
    out: &mut Vec<Action>,
) -> Result<Vec<SessionId>, Failure> {
    let (reason, message) = kill_options(realm, payload)?;
    let mut victims: Vec<SessionId> = realm
        .sessions
        .values()
        .filter(|s| s.info.session != caller && select(&s.info))
        .map(|s| s.info.session)
        .collect();
    victims.sort_unstable();
    for &v in &victims {
        realm.kill(v, &reason, message.as_deref(), on_leave, out);
    }
    Ok(victims)
}

/// Answer a meta procedure call from `caller` (RESULT or ERROR to the caller).
pub(super) fn call(
    realm: &mut Realm,
    caller: SessionId,
    request: Id,
    procedure: &str,
    payload: &Payload,
    out: &mut Vec<Action>,
) {
    let result = dispatch(realm, caller, procedure, payload, out);
    let msg = match result {
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
    // The caller may have been killed meanwhile only if it killed itself, which the
    // kill procedures refuse; still, never address a session that is gone.
    if realm.sessions.contains_key(&caller) {
        out.push(Action::Send(caller, msg));
    }
}

fn dispatch(
    realm: &mut Realm,
    caller: SessionId,
    procedure: &str,
    payload: &Payload,
    out: &mut Vec<Action>,
) -> Result<List, Failure> {
    let no_sub = || (uris::NO_SUCH_SUBSCRIPTION, "no such subscription".to_owned());
    let no_reg = || (uris::NO_SUCH_REGISTRATION, "no such registration".to_owned());
    let no_session = || (uris::NO_SUCH_SESSION, "no such session".to_owned());
    Ok(match procedure {
        "wamp.session.count" | "wamp.session.list" => {
            let filter = authrole_filter(payload)?;
            let mut list: Vec<SessionId> = realm
                .sessions
                .values()
                .filter(|s| filter.as_ref().is_none_or(|f| f.contains(&s.info.authrole.as_str())))
                .map(|s| s.info.session)
                .collect();
            if procedure == "wamp.session.count" {
                vec![Value::from(list.len())]
            } else {
                list.sort_unstable();
                vec![ids(list)]
            }
        }
        "wamp.session.get" => {
            let id = id_arg(payload, "session")?;
            let s = realm.sessions.get(&id).ok_or_else(no_session)?;
            vec![Value::Dict(session_details(&s.info))]
        }
        "wamp.session.kill" => {
            let id = id_arg(payload, "session")?;
            // "no *other* session with that ID exists" when a session kills itself.
            if id == caller || !realm.sessions.contains_key(&id) {
                return Err(no_session());
            }
            kill_where(realm, caller, payload, true, |s| s.session == id, out)?;
            vec![]
        }
        "wamp.session.kill_by_authid" => {
            let authid = str_arg(payload, "authid")?.to_owned();
            let killed = kill_where(realm, caller, payload, true, |s| s.authid == authid, out)?;
            vec![ids(killed)]
        }
        "wamp.session.kill_by_authrole" => {
            let authrole = str_arg(payload, "authrole")?.to_owned();
            let killed =
                kill_where(realm, caller, payload, true, |s| s.authrole == authrole, out)?;
            vec![Value::from(killed.len())]
        }
        "wamp.session.kill_all" => {
            let killed = kill_where(realm, caller, payload, false, |_| true, out)?;
            vec![Value::from(killed.len())]
        }
        "wamp.subscription.list" => vec![policy_lists(realm.broker.list())],
        "wamp.subscription.lookup" => {
            let topic = str_arg(payload, "topic")?;
            let policy = lookup_policy(payload)?;
            vec![realm.broker.lookup(topic, policy).into()]
        }
        "wamp.subscription.match" => {
            let topic = str_arg(payload, "topic")?;
            let m = realm.broker.matching(topic);
            vec![if m.is_empty() { Value::Null } else { ids(m) }]
        }
        "wamp.subscription.get" => {
            let id = id_arg(payload, "subscription")?;
            vec![Value::Dict(realm.broker.get(id).ok_or_else(no_sub)?.details())]
        }
        "wamp.subscription.list_subscribers" | "wamp.subscription.count_subscribers" => {
            let id = id_arg(payload, "subscription")?;
            let sub = realm.broker.get(id).ok_or_else(no_sub)?;
            if procedure.ends_with("count_subscribers") {
                vec![Value::from(sub.subscribers.len())]
            } else {
                vec![ids(sub.subscribers.iter().copied().collect())]
            }
        }
        "wamp.registration.list" => vec![policy_lists(realm.dealer.list())],
        "wamp.registration.lookup" => {
            let uri = str_arg(payload, "procedure")?;
            let policy = lookup_policy(payload)?;
            vec![realm.dealer.lookup(uri, policy).into()]
        }
        "wamp.registration.match" => {
            let uri = str_arg(payload, "procedure")?;
            vec![realm.dealer.best_match(uri).into()]
        }
        "wamp.registration.get" => {
            let id = id_arg(payload, "registration")?;
            vec![Value::Dict(realm.dealer.get(id).ok_or_else(no_reg)?.details())]
        }
        "wamp.registration.list_callees" | "wamp.registration.count_callees" => {
            let id = id_arg(payload, "registration")?;
            let reg = realm.dealer.get(id).ok_or_else(no_reg)?;
            let callees = reg.callee_ids();
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
