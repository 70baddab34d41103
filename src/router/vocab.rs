//! The vocabulary of the I/O-free routing core: what the realm, broker, dealer and
//! meta API say to each other and to the shell (sessions, actions, timers, meta
//! events, option parsing, error replies).
//!
//! The lowest module of the core: it imports only `wamp`. broker, dealer and meta
//! import it (and `pattern`), never each other or `realm`; `realm` sits on top of
//! them all. The meta API reads subscriptions and registrations through [`Catalog`],
//! which the broker and dealer implement.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::dict;
use crate::wamp::uri::{MatchPolicy, UriCheck};
use crate::wamp::{Dict, Id, List, Message, Payload, Value};

pub type SessionId = Id;

/// What the router knows about a joined session (also what the meta API reports).
#[derive(Clone, Debug, PartialEq)]
pub struct SessionInfo {
    pub session: SessionId,
    pub authid: String,
    pub authrole: String,
    pub authmethod: String,
    pub authprovider: String,
    /// `HELLO.Details.roles` as the client sent it (features it announced).
    pub roles: Dict,
    /// Transport description for the meta API, e.g.
    /// `{"type": "websocket", "serializer": "msgpack", "peer": "tcp4:127.0.0.1:50123"}`.
    pub transport: Dict,
}

/// Key of a timer the core asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TimerKey {
    /// Call timeout of the router-side call id.
    CallTimeout(Id),
}

/// What the shell must do after the core handled an input.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Queue `Message` for delivery to the session.
    Send(SessionId, Message),
    /// Send `message` (ABORT or GOODBYE) to the session and close its transport. The
    /// core has already removed the session (as if `leave` had been called).
    Close {
        session: SessionId,
        message: Message,
    },
    /// Call `Realm::timer(key, ..)` after `after` unless the core no longer cares
    /// (a timer for a finished call is ignored by the core).
    Timer { key: TimerKey, after: Duration },
}

/// Per-realm settings the core needs.
#[derive(Clone, Debug)]
pub struct RealmConfig {
    pub uri_check: UriCheck,
    /// Most topics that may hold a retained event at once; a `retain` publication to a
    /// new topic beyond this is delivered but not retained (the spec lets a broker
    /// decline retention), so a peer cannot grow router memory without bound.
    pub max_retained_topics: usize,
    /// Most subscriptions one session may hold (`max_subscriptions_per_session`).
    pub max_subscriptions_per_session: usize,
    /// Most registrations one session may hold (`max_registrations_per_session`).
    pub max_registrations_per_session: usize,
    /// Wall clock for the `created` timestamp the meta API reports for subscriptions
    /// and registrations. `None` leaves `created` out. Never used for timeouts: those
    /// are `Action::Timer`s carried out by the shell.
    pub wall_clock: Option<fn() -> SystemTime>,
}

impl Default for RealmConfig {
    fn default() -> Self {
        RealmConfig {
            uri_check: Default::default(),
            max_retained_topics: 10_000,
            max_subscriptions_per_session: 1024,
            max_registrations_per_session: 1024,
            wall_clock: Some(SystemTime::now),
        }
    }
}

/// A joined session and the client features the router acts on.
#[derive(Debug)]
pub(crate) struct SessionState {
    pub(crate) info: SessionInfo,
    /// The callee announced `call_canceling`: it may be sent INTERRUPT.
    pub(crate) callee_canceling: bool,
    /// The callee announced `progressive_call_results`.
    ///
    /// Deliberate deviation, as Crossbar.io does: the spec (rpc_progressive_call_results)
    /// has the dealer disregard this feature when the callee does not also announce
    /// `call_canceling`, but Autobahn|JS callees never announce it, and a farmer's JS
    /// component that streams progress would silently lose it. The spec's concern (a
    /// backlog when the caller leaves) does not arise here: once the caller is gone the
    /// call is forgotten and every later YIELD from the callee is dropped.
    pub(crate) callee_progressive: bool,
}

impl SessionState {
    pub(crate) fn new(info: SessionInfo) -> SessionState {
        let canceling = feature(&info.roles, "callee", "call_canceling");
        let progressive = feature(&info.roles, "callee", "progressive_call_results");
        SessionState {
            callee_canceling: canceling,
            callee_progressive: progressive,
            info,
        }
    }
}

/// `roles.<role>.features.<feature> == true` in HELLO details.
pub(crate) fn feature(roles: &Dict, role: &str, feature: &str) -> bool {
    roles
        .get(role)
        .and_then(Value::as_dict)
        .and_then(|r| r.get("features"))
        .and_then(Value::as_dict)
        .and_then(|f| f.get(feature))
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

/// A joined session: the core's state and the shell's link to it, in one entry.
#[derive(Debug)]
struct Joined<L> {
    state: SessionState,
    link: L,
}

/// The realm's one session table: every joined session's state, and the shell's
/// link to it (its outbound queue and kill switch; `()` in the core's unit tests).
///
/// One map with one entry per session, so a session cannot be known to the core and
/// unknown to the shell or the other way round: [`SessionTable::insert`] takes both
/// halves, [`SessionTable::remove`] gives both back. The core never looks inside a
/// link (it stays free of I/O); it only hands it back when the session goes.
#[derive(Debug)]
pub(crate) struct SessionTable<L> {
    joined: HashMap<SessionId, Joined<L>>,
}

impl<L> Default for SessionTable<L> {
    fn default() -> Self {
        SessionTable {
            joined: HashMap::new(),
        }
    }
}

impl<L> SessionTable<L> {
    /// Add a session; the id must not be in the table (the caller removes it first).
    pub(crate) fn insert(&mut self, state: SessionState, link: L) {
        let previous = self
            .joined
            .insert(state.info.session, Joined { state, link });
        debug_assert!(previous.is_none(), "session id reused while joined");
    }

    /// Remove a session, handing back its state and link.
    pub(crate) fn remove(&mut self, id: SessionId) -> Option<(SessionState, L)> {
        self.joined.remove(&id).map(|j| (j.state, j.link))
    }

    pub(crate) fn link(&self, id: SessionId) -> Option<&L> {
        self.joined.get(&id).map(|j| &j.link)
    }

    pub(crate) fn len(&self) -> usize {
        self.joined.len()
    }

    pub(crate) fn ids(&self) -> impl Iterator<Item = SessionId> + '_ {
        self.joined.keys().copied()
    }
}

/// Read access to the joined sessions for the broker, dealer and meta API, whatever
/// the shell's link type.
pub(crate) trait Sessions {
    fn get(&self, id: SessionId) -> Option<&SessionState>;

    fn contains(&self, id: SessionId) -> bool {
        self.get(id).is_some()
    }

    /// Every joined session, in no particular order.
    fn each(&self, f: &mut dyn FnMut(&SessionState));
}

impl<L> Sessions for SessionTable<L> {
    fn get(&self, id: SessionId) -> Option<&SessionState> {
        self.joined.get(&id).map(|j| &j.state)
    }

    fn each(&self, f: &mut dyn FnMut(&SessionState)) {
        for j in self.joined.values() {
            f(&j.state);
        }
    }
}

/// Read-only context the broker, dealer and meta API need from the realm.
#[derive(Clone, Copy)]
pub(crate) struct Ctx<'a> {
    pub(crate) sessions: &'a dyn Sessions,
    pub(crate) config: &'a RealmConfig,
}

impl Ctx<'_> {
    /// `created` for a new subscription or registration, if the realm has a clock.
    pub(crate) fn created(&self) -> Option<String> {
        self.config.wall_clock.map(|now| iso8601(now()))
    }
}

/// A protocol violation by the session that sent the message (text for ABORT).
#[derive(Debug)]
pub(crate) struct Violation(pub(crate) String);

/// Topics of the meta events the router publishes itself.
pub(crate) mod topic {
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
}

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

/// What the meta API reads of the broker's subscriptions or the dealer's
/// registrations (`wamp.subscription.*` / `wamp.registration.*`).
pub(crate) trait Catalog {
    /// Ids per match policy (exact, prefix, wildcard), each ascending.
    fn list(&self) -> [Vec<Id>; 3];
    /// The entry for exactly this (uri, policy), if any.
    fn lookup(&self, uri: &str, policy: MatchPolicy) -> Option<Id>;
    /// Subscriptions: every one matching `uri` (all of them get the event).
    /// Registrations: the one a call to `uri` is routed to, if any.
    fn matching(&self, uri: &str) -> Vec<Id>;
    /// `SubscriptionDetails` / `RegistrationDetails`.
    fn details(&self, id: Id) -> Option<Dict>;
    /// The subscribers (ascending) / callees (in order of registration) of `id`.
    fn attached(&self, id: Id) -> Option<Vec<SessionId>>;
}

/// Not in the spec: a request refused because the session reached one of the
/// router's per-session caps (`max_subscriptions_per_session`, ...); the ERROR's first
/// argument names the limit.
pub(crate) const LIMIT_EXCEEDED: &str = "verger.error.limit_exceeded";

/// `SUBSCRIBE.Options.delivery` (a verger extension): what the router does when this
/// subscriber falls behind, i.e. when its outbound queue is over its bounds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub(crate) enum Delivery {
    /// Cut the session off as a slow consumer (the default, and the only policy of
    /// the spec: every event is delivered or the session ends).
    #[default]
    Cut,
    /// Drop this subscription's oldest queued events to make room; never cut.
    DropOldest,
    /// Keep only the newest queued event per topic of this subscription (conflate);
    /// when that is not enough, drop the oldest like `DropOldest`. Never cut.
    Latest,
}

impl Delivery {
    /// The policy for an option value (`"cut"`, `"drop_oldest"`, `"latest"`); `None` for anything else.
    pub(crate) fn parse(s: &str) -> Option<Delivery> {
        match s {
            "cut" => Some(Delivery::Cut),
            "drop_oldest" => Some(Delivery::DropOldest),
            "latest" => Some(Delivery::Latest),
            _ => None,
        }
    }

    /// May the router drop this subscription's events instead of cutting the session?
    pub(crate) fn droppable(self) -> bool {
        self != Delivery::Cut
    }
}

/// Parse an enumerated string option (`what` names it in the error); absent: the
/// default.
pub(crate) fn enum_option<T: Default>(
    options: &Dict,
    key: &str,
    what: &str,
    parse: fn(&str) -> Option<T>,
) -> Result<T, String> {
    match options.get(key) {
        None => Ok(T::default()),
        Some(Value::Str(s)) => parse(s).ok_or_else(|| format!("unknown {what} '{s}'")),
        Some(v) => Err(format!("option '{key}' must be a string, not {}", v.kind())),
    }
}

/// Parse `options.match` of SUBSCRIBE or REGISTER.
pub(crate) fn match_policy(options: &Dict) -> Result<MatchPolicy, String> {
    enum_option(options, "match", "match policy", MatchPolicy::parse)
}

/// An ERROR answering (`request_type`, `request`), with `message` as its only argument.
pub(crate) fn error(request_type: u64, request: Id, uri: &str, message: Option<String>) -> Message {
    Message::Error {
        request_type,
        request,
        details: Dict::new(),
        error: uri.to_owned(),
        payload: match message {
            Some(m) => Payload::args(vec![Value::Str(m)]),
            None => Payload::default(),
        },
    }
}

/// `2024-01-02T03:04:05.678Z` (UTC, milliseconds), as the meta API's `created`.
pub(crate) fn iso8601(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
    crate::civil::rfc3339_from_unix(secs, d.subsec_nanos(), 3)
}

/// `WELCOME.Details.roles`: exactly the roles and features this router implements.
pub fn router_roles() -> Dict {
    let broker = dict! {
        "publisher_identification" => true,
        "publisher_exclusion" => true,
        "subscriber_blackwhite_listing" => true,
        "pattern_based_subscription" => true,
        "event_retention" => true,
        "session_meta_api" => true,
        "subscription_meta_api" => true,
    };
    let dealer = dict! {
        "caller_identification" => true,
        "pattern_based_registration" => true,
        "shared_registration" => true,
        "call_timeout" => true,
        "call_canceling" => true,
        "progressive_call_results" => true,
        "session_meta_api" => true,
        "registration_meta_api" => true,
        // pubsub_testament.md: announced by the dealer, which serves the procedures.
        "testament_meta_api" => true,
    };
    dict! {
        "broker" => dict! {"features" => broker},
        "dealer" => dict! {"features" => dealer},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_announce_broker_and_dealer_features() {
        let roles = router_roles();
        let b = roles["broker"].as_dict().unwrap()["features"]
            .as_dict()
            .unwrap();
        let d = roles["dealer"].as_dict().unwrap()["features"]
            .as_dict()
            .unwrap();
        assert_eq!(b.len(), 7);
        assert_eq!(d.len(), 9);
        assert!(b
            .values()
            .chain(d.values())
            .all(|v| v == &Value::Bool(true)));
        assert!(b.contains_key("event_retention") && d.contains_key("call_canceling"));
    }

    fn info(roles: Dict) -> SessionInfo {
        SessionInfo {
            session: 1,
            authid: "a".into(),
            authrole: "anonymous".into(),
            authmethod: "anonymous".into(),
            authprovider: "static".into(),
            roles,
            transport: Dict::new(),
        }
    }

    #[test]
    fn callee_features_parsed_from_roles() {
        let s = SessionState::new(info(dict! {"callee" => dict!{"features" => dict!{
            "progressive_call_results" => true,
        }}}));
        assert!(!s.callee_canceling && s.callee_progressive);
        let s = SessionState::new(info(dict! {"callee" => dict!{"features" => dict!{
            "progressive_call_results" => true,
            "call_canceling" => true,
        }}}));
        assert!(s.callee_canceling && s.callee_progressive);
        let s = SessionState::new(info(dict! {"callee" => "not a dict"}));
        assert!(!s.callee_canceling && !s.callee_progressive);
    }

    #[test]
    fn iso8601_formatting() {
        assert_eq!(iso8601(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = UNIX_EPOCH + Duration::from_millis(1_704_164_645_678);
        assert_eq!(iso8601(t), "2024-01-02T03:04:05.678Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400 + 86_399);
        assert_eq!(iso8601(leap), "2000-02-29T23:59:59.000Z");
        let y2100 = UNIX_EPOCH + Duration::from_secs(4_107_542_400);
        assert_eq!(iso8601(y2100), "2100-03-01T00:00:00.000Z");
    }
}
