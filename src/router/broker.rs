//! The broker: subscriptions, event dispatch, publisher exclusion and identification,
//! subscriber black- and whitelisting, pattern-based subscriptions and event retention
//! (spec: basic/publish_subscribe.md, advanced/pubsub_*.md).
//!
//! A subscription is shared by all sessions subscribed to the same (topic, match
//! policy). Exact subscriptions are found by one hash lookup per publication; only
//! prefix and wildcard subscriptions are scanned.

use std::collections::{BTreeMap, BTreeSet};

use crate::wamp::ids::{random_id, SequentialIds};
use crate::wamp::message::code;
use crate::wamp::uri::{is_reserved, is_valid as is_valid_uri, is_valid_pattern};
use crate::wamp::uri::{MatchPolicy, Matcher};
use crate::wamp::{uris, Dict, Id, List, Message, Payload, Value};

use super::pattern::{pattern_details, Pattern, PatternIndex};
use super::vocab::{
    enum_option, error, match_policy, topic, Action, Catalog, Ctx, Delivery, MetaEvent, SessionId,
    Sessions, LIMIT_EXCEEDED,
};

/// One subscription: a (topic, match policy) and the sessions attached to it.
#[derive(Debug)]
pub(crate) struct Subscription {
    pub(crate) id: Id,
    pub(crate) uri: String,
    pub(crate) policy: MatchPolicy,
    pub(crate) created: Option<String>,
    pub(crate) subscribers: BTreeSet<SessionId>,
    /// Subscribers whose delivery policy is not the default `cut`.
    pub(crate) delivery: BTreeMap<SessionId, Delivery>,
}

impl Pattern for Subscription {
    fn uri(&self) -> &str {
        &self.uri
    }

    fn policy(&self) -> MatchPolicy {
        self.policy
    }
}

impl Subscription {
    /// `SubscriptionDetails` of the meta API.
    pub(crate) fn details(&self) -> Dict {
        pattern_details(self.id, self.created.as_deref(), &self.uri, self.policy)
    }
}

/// Who may receive a publication: publisher exclusion plus black- and whitelists.
#[derive(Clone, Debug, Default)]
pub(crate) struct Filter {
    /// The publisher, unless it published with `exclude_me: false`.
    exclude_session: Option<SessionId>,
    exclude: Vec<Id>,
    exclude_authid: Vec<String>,
    exclude_authrole: Vec<String>,
    eligible: Option<Vec<Id>>,
    eligible_authid: Option<Vec<String>>,
    eligible_authrole: Option<Vec<String>>,
}

impl Filter {
    fn by_auth(&self) -> bool {
        !self.exclude_authid.is_empty()
            || !self.exclude_authrole.is_empty()
            || self.eligible_authid.is_some()
            || self.eligible_authrole.is_some()
    }

    /// advanced/pubsub_subscriber_blackwhite_listing.md: all six conditions hold.
    fn admits(&self, sessions: &dyn Sessions, s: SessionId) -> bool {
        if self.exclude_session == Some(s) || self.exclude.contains(&s) {
            return false;
        }
        if self.eligible.as_ref().is_some_and(|e| !e.contains(&s)) {
            return false;
        }
        if !self.by_auth() {
            return true;
        }
        let Some(info) = sessions.get(s).map(|st| &st.info) else {
            return false;
        };
        let has = |list: &[String], v: &str| list.iter().any(|x| x == v);
        !has(&self.exclude_authid, &info.authid)
            && !has(&self.exclude_authrole, &info.authrole)
            && self
                .eligible_authid
                .as_ref()
                .is_none_or(|l| has(l, &info.authid))
            && self
                .eligible_authrole
                .as_ref()
                .is_none_or(|l| has(l, &info.authrole))
    }
}

/// PUBLISH options the broker acts on.
#[derive(Debug, Default)]
struct PublishOptions {
    acknowledge: bool,
    exclude_me: bool,
    disclose_me: bool,
    retain: bool,
    filter: Filter,
}

fn id_list(v: &Value) -> Option<Vec<Id>> {
    v.as_list()?.iter().map(Value::as_u64).collect()
}

fn str_list(v: &Value) -> Option<Vec<String>> {
    v.as_list()?
        .iter()
        .map(|x| x.as_str().map(str::to_owned))
        .collect()
}

fn bool_opt(v: &Value, key: &str) -> Result<bool, String> {
    v.as_bool()
        .ok_or_else(|| format!("option '{key}' must be a bool"))
}

impl PublishOptions {
    /// One pass over the options. `acknowledge` is read first so that a bad option
    /// can still be answered when the publisher asked for an acknowledgement.
    fn parse(options: &Dict) -> (bool, Result<PublishOptions, String>) {
        let acknowledge = options
            .get("acknowledge")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let mut o = PublishOptions {
            acknowledge,
            exclude_me: true,
            ..Default::default()
        };
        for (k, v) in options {
            let bad = || format!("option '{k}' has an invalid value");
            match k.as_str() {
                "acknowledge" => {
                    o.acknowledge = match bool_opt(v, k) {
                        Ok(b) => b,
                        Err(e) => return (acknowledge, Err(e)),
                    }
                }
                "exclude_me" | "disclose_me" | "retain" => {
                    let b = match bool_opt(v, k) {
                        Ok(b) => b,
                        Err(e) => return (acknowledge, Err(e)),
                    };
                    match k.as_str() {
                        "exclude_me" => o.exclude_me = b,
                        "disclose_me" => o.disclose_me = b,
                        _ => o.retain = b,
                    }
                }
                "exclude" => match id_list(v) {
                    Some(l) => o.filter.exclude = l,
                    None => return (acknowledge, Err(bad())),
                },
                "eligible" => match id_list(v) {
                    Some(l) => o.filter.eligible = Some(l),
                    None => return (acknowledge, Err(bad())),
                },
                "exclude_authid" | "exclude_authrole" | "eligible_authid" | "eligible_authrole" => {
                    let Some(l) = str_list(v) else {
                        return (acknowledge, Err(bad()));
                    };
                    match k.as_str() {
                        "exclude_authid" => o.filter.exclude_authid = l,
                        "exclude_authrole" => o.filter.exclude_authrole = l,
                        "eligible_authid" => o.filter.eligible_authid = Some(l),
                        _ => o.filter.eligible_authrole = Some(l),
                    }
                }
                _ => {} // unknown options are ignored (basic/messages.md)
            }
        }
        (acknowledge, Ok(o))
    }
}

/// One publication being dispatched.
struct Publication<'a> {
    topic: &'a str,
    id: Id,
    /// EVENT details common to all receivers (publisher disclosure).
    details: &'a Dict,
    payload: &'a Payload,
    filter: &'a Filter,
}

/// The retained event of one topic.
#[derive(Debug)]
struct Retained {
    publication: Id,
    /// Publisher disclosure, if the publisher asked for it.
    details: Dict,
    payload: Payload,
    /// Eligibility of the original publication (retention spec: a subscriber only
    /// gets a retained event it would have received when it was published).
    filter: Filter,
}

/// Send `msg` to every subscriber the filter admits: one clone per receiver, the
/// last one gets the original.
fn fan_out(
    subscribers: &BTreeSet<SessionId>,
    filter: &Filter,
    sessions: &dyn Sessions,
    msg: Message,
    out: &mut Vec<Action>,
) {
    let mut prev = None;
    for &s in subscribers {
        if !filter.admits(sessions, s) {
            continue;
        }
        if let Some(p) = prev.replace(s) {
            out.push(Action::Send(p, msg.clone()));
        }
    }
    if let Some(p) = prev {
        out.push(Action::Send(p, msg));
    }
}

#[derive(Debug, Default)]
pub(crate) struct Broker {
    subs: PatternIndex<Subscription>,
    ids: SequentialIds,
    retained: BTreeMap<String, Retained>,
}

impl Broker {
    /// The subscription for exactly this (uri, policy), if any.
    pub(crate) fn lookup(&self, uri: &str, policy: MatchPolicy) -> Option<Id> {
        self.subs.lookup(uri, policy)
    }

    #[cfg(test)]
    pub(crate) fn get(&self, id: Id) -> Option<&Subscription> {
        self.subs.get(id)
    }

    /// How `session` wants the events of subscription `id` delivered when it falls
    /// behind (`SUBSCRIBE.Options.delivery`).
    pub(crate) fn delivery(&self, id: Id, session: SessionId) -> Delivery {
        self.subs
            .get(id)
            .and_then(|s| s.delivery.get(&session).copied())
            .unwrap_or_default()
    }

    /// Dispatch one publication to all matching subscriptions.
    fn dispatch(&self, sessions: &dyn Sessions, p: &Publication<'_>, out: &mut Vec<Action>) {
        self.subs.for_each_match(p.topic, |_, sub| {
            let mut details = p.details.clone();
            if sub.policy != MatchPolicy::Exact {
                details.insert("topic".into(), p.topic.into());
            }
            let msg = Message::Event {
                subscription: sub.id,
                publication: p.id,
                details,
                payload: p.payload.clone(),
            };
            fan_out(&sub.subscribers, p.filter, sessions, msg, out);
        });
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn publish(
        &mut self,
        ctx: Ctx<'_>,
        publisher: SessionId,
        request: Id,
        options: &Dict,
        topic: String,
        payload: Payload,
        out: &mut Vec<Action>,
    ) {
        let (ack, parsed) = PublishOptions::parse(options);
        let refuse = |out: &mut Vec<Action>, uri: &str, msg: String| {
            if ack {
                out.push(Action::Send(
                    publisher,
                    error(code::PUBLISH, request, uri, Some(msg)),
                ));
            }
        };
        if !is_valid_uri(&topic, ctx.config.uri_check) {
            return refuse(
                out,
                uris::INVALID_URI,
                format!("invalid topic URI '{topic}'"),
            );
        }
        if is_reserved(&topic) {
            return refuse(
                out,
                uris::INVALID_URI,
                format!("publish to reserved topic URI '{topic}'"),
            );
        }
        let mut o = match parsed {
            Ok(o) => o,
            Err(m) => return refuse(out, uris::INVALID_ARGUMENT, m),
        };
        if o.exclude_me {
            o.filter.exclude_session = Some(publisher);
        }
        let publication = random_id();
        if o.acknowledge {
            out.push(Action::Send(
                publisher,
                Message::Published {
                    request,
                    publication,
                },
            ));
        }
        let mut base = Dict::new();
        if o.disclose_me {
            if let Some(st) = ctx.sessions.get(publisher) {
                base.insert("publisher".into(), publisher.into());
                base.insert("publisher_authid".into(), st.info.authid.as_str().into());
                base.insert(
                    "publisher_authrole".into(),
                    st.info.authrole.as_str().into(),
                );
            }
        }
        let p = Publication {
            topic: &topic,
            id: publication,
            details: &base,
            payload: &payload,
            filter: &o.filter,
        };
        self.dispatch(ctx.sessions, &p, out);
        if o.retain
            && (self.retained.len() < ctx.config.max_retained_topics
                || self.retained.contains_key(&topic))
        {
            self.retained.insert(
                topic,
                Retained {
                    publication,
                    details: base,
                    payload,
                    filter: o.filter,
                },
            );
        }
    }

    /// A router-originated event (meta API): no publisher, nobody excluded.
    pub(crate) fn publish_meta(
        &self,
        ctx: Ctx<'_>,
        topic: &str,
        args: List,
        out: &mut Vec<Action>,
    ) {
        let p = Publication {
            topic,
            id: random_id(),
            details: &Dict::new(),
            payload: &Payload::args(args),
            filter: &Filter::default(),
        };
        self.dispatch(ctx.sessions, &p, out);
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn subscribe(
        &mut self,
        ctx: Ctx<'_>,
        session: SessionId,
        request: Id,
        options: &Dict,
        topic: String,
        meta_out: &mut Vec<MetaEvent>,
        out: &mut Vec<Action>,
    ) {
        let fail = |out: &mut Vec<Action>, uri: &str, msg: String| {
            out.push(Action::Send(
                session,
                error(code::SUBSCRIBE, request, uri, Some(msg)),
            ));
        };
        let policy = match match_policy(options) {
            Ok(p) => p,
            Err(m) => return fail(out, uris::INVALID_ARGUMENT, m),
        };
        let get_retained = match options.get("get_retained") {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                return fail(
                    out,
                    uris::INVALID_ARGUMENT,
                    "option 'get_retained' must be a bool".into(),
                )
            }
        };
        let delivery = match enum_option(options, "delivery", "delivery policy", Delivery::parse) {
            Ok(d) => d,
            Err(m) => {
                return fail(
                    out,
                    uris::INVALID_ARGUMENT,
                    format!("{m} (expected cut, drop_oldest or latest)"),
                )
            }
        };
        if !is_valid_pattern(&topic, policy, ctx.config.uri_check) {
            return fail(
                out,
                uris::INVALID_URI,
                format!(
                    "invalid topic URI '{topic}' for match policy {}",
                    policy.as_str()
                ),
            );
        }
        let existing = self.lookup(&topic, policy);
        let resubscribe = existing.is_some_and(|id| self.subs.is_attached(session, id));
        let cap = ctx.config.max_subscriptions_per_session;
        if !resubscribe && self.subs.attached_count(session) >= cap {
            return fail(
                out,
                LIMIT_EXCEEDED,
                format!(
                    "the session already has {cap} subscriptions (max_subscriptions_per_session)"
                ),
            );
        }
        let meta_events = !is_reserved(&topic);
        let id = match existing {
            Some(id) => id,
            None => {
                let id = self.ids.next();
                let sub = Subscription {
                    id,
                    uri: topic,
                    policy,
                    created: ctx.created(),
                    subscribers: BTreeSet::new(),
                    delivery: BTreeMap::new(),
                };
                if meta_events {
                    meta_out.push(MetaEvent::new(
                        topic::SUBSCRIPTION_ON_CREATE,
                        vec![session.into(), Value::Dict(sub.details())],
                    ));
                }
                self.subs.insert(id, sub);
                id
            }
        };
        let Some(sub) = self.subs.get_mut(id) else {
            return;
        };
        // Subscribing again to the same subscription updates the policy.
        if delivery.droppable() {
            sub.delivery.insert(session, delivery);
        } else {
            sub.delivery.remove(&session);
        }
        if sub.subscribers.insert(session) {
            self.subs.attach(session, id);
            if meta_events {
                meta_out.push(MetaEvent::new(
                    topic::SUBSCRIPTION_ON_SUBSCRIBE,
                    vec![session.into(), id.into()],
                ));
            }
        }
        out.push(Action::Send(
            session,
            Message::Subscribed {
                request,
                subscription: id,
            },
        ));
        if get_retained {
            self.send_retained(ctx.sessions, session, id, out);
        }
    }

    /// Retained events matching subscription `id`, to the new subscriber only.
    fn send_retained(
        &self,
        sessions: &dyn Sessions,
        session: SessionId,
        id: Id,
        out: &mut Vec<Action>,
    ) {
        let Some(sub) = self.subs.get(id) else {
            return;
        };
        let mut send = |topic: &str, r: &Retained| {
            if !r.filter.admits(sessions, session) {
                return;
            }
            let mut details = r.details.clone();
            details.insert("retained".into(), true.into());
            if sub.policy != MatchPolicy::Exact {
                details.insert("topic".into(), topic.into());
            }
            out.push(Action::Send(
                session,
                Message::Event {
                    subscription: id,
                    publication: r.publication,
                    details,
                    payload: r.payload.clone(),
                },
            ));
        };
        match sub.policy {
            MatchPolicy::Exact => {
                if let Some(r) = self.retained.get(&sub.uri) {
                    send(&sub.uri, r);
                }
            }
            MatchPolicy::Prefix => {
                // Topics with this prefix sort right after it.
                let matcher = Matcher::new(&sub.uri, MatchPolicy::Prefix);
                for (topic, r) in self.retained.range(sub.uri.clone()..) {
                    if !matcher.matches(topic) {
                        break;
                    }
                    send(topic, r);
                }
            }
            MatchPolicy::Wildcard => {
                let matcher = Matcher::new(&sub.uri, MatchPolicy::Wildcard);
                for (topic, r) in &self.retained {
                    if matcher.matches(topic) {
                        send(topic, r);
                    }
                }
            }
        }
    }

    pub(crate) fn unsubscribe(
        &mut self,
        session: SessionId,
        request: Id,
        subscription: Id,
        meta_out: &mut Vec<MetaEvent>,
        out: &mut Vec<Action>,
    ) {
        let owned = self
            .subs
            .get(subscription)
            .is_some_and(|s| s.subscribers.contains(&session));
        if !owned {
            out.push(Action::Send(
                session,
                error(code::UNSUBSCRIBE, request, uris::NO_SUCH_SUBSCRIPTION, None),
            ));
            return;
        }
        self.subs.unattach(session, subscription);
        self.detach(session, subscription, meta_out);
        out.push(Action::Send(
            session,
            Message::Unsubscribed {
                request,
                details: None,
            },
        ));
    }

    /// Remove `session` from subscription `id`, deleting the subscription when it was
    /// the last subscriber. Does not touch the session's attachments.
    fn detach(&mut self, session: SessionId, id: Id, meta_out: &mut Vec<MetaEvent>) {
        let Some(sub) = self.subs.get_mut(id) else {
            return;
        };
        if !sub.subscribers.remove(&session) {
            return;
        }
        sub.delivery.remove(&session);
        let meta_events = !is_reserved(&sub.uri);
        if meta_events {
            meta_out.push(MetaEvent::new(
                topic::SUBSCRIPTION_ON_UNSUBSCRIBE,
                vec![session.into(), id.into()],
            ));
        }
        if !sub.subscribers.is_empty() {
            return;
        }
        self.subs.remove(id);
        if meta_events {
            meta_out.push(MetaEvent::new(
                topic::SUBSCRIPTION_ON_DELETE,
                vec![session.into(), id.into()],
            ));
        }
    }

    /// No subscription and no per-session state left (retained events may remain).
    #[cfg(test)]
    pub(crate) fn is_idle(&self) -> bool {
        self.subs.is_empty()
    }

    /// Drop all subscriptions of a session that is gone.
    pub(crate) fn leave(&mut self, session: SessionId, meta_out: &mut Vec<MetaEvent>) {
        for id in self.subs.take_session(session) {
            self.detach(session, id, meta_out);
        }
    }
}

impl Catalog for Broker {
    fn list(&self) -> [Vec<Id>; 3] {
        self.subs.list()
    }

    fn lookup(&self, uri: &str, policy: MatchPolicy) -> Option<Id> {
        self.subs.lookup(uri, policy)
    }

    /// Every subscription matching `topic` (exact first, then prefix, then wildcard).
    fn matching(&self, topic: &str) -> Vec<Id> {
        let mut ids = Vec::new();
        self.subs.for_each_match(topic, |id, _| ids.push(id));
        ids
    }

    fn details(&self, id: Id) -> Option<Dict> {
        self.subs.get(id).map(Subscription::details)
    }

    fn attached(&self, id: Id) -> Option<Vec<SessionId>> {
        self.subs
            .get(id)
            .map(|s| s.subscribers.iter().copied().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use super::super::vocab::Action;
    use crate::wamp::{message::code, uris, Dict, Message, Value};
    use crate::{dict, list};

    fn ev_args(e: &Ev) -> Vec<Value> {
        e.payload.args.clone().unwrap_or_default()
    }

    #[test]
    fn subscribe_publish_event_and_unsubscribe() {
        let mut h = Harness::new();
        h.join(1);
        h.join(2);
        let acts = h.send(1, subscribe(7, "com.myapp.topic1"));
        assert_eq!(
            acts,
            vec![Action::Send(
                1,
                Message::Subscribed {
                    request: 7,
                    subscription: 1
                }
            )]
        );
        let acts = h.send(2, publish(3, "com.myapp.topic1", list!["Hello, world!"]));
        let evs = events_to(&acts, 1);
        assert_eq!(acts.len(), 1);
        assert_eq!(evs[0].subscription, 1);
        assert!(evs[0].details.is_empty());
        assert_eq!(ev_args(&evs[0]), list!["Hello, world!"]);
        // Unacknowledged: nothing to the publisher.
        assert!(sent(&acts, 2).is_empty());
        // Other topics do not match exactly.
        assert!(h.send(2, publish(4, "com.myapp.topic", list![])).is_empty());
        let acts = h.send(1, unsubscribe(8, 1));
        assert_eq!(
            acts,
            vec![Action::Send(
                1,
                Message::Unsubscribed {
                    request: 8,
                    details: None
                }
            )]
        );
        assert!(h
            .send(2, publish(5, "com.myapp.topic1", list![]))
            .is_empty());
        let acts = h.send(1, unsubscribe(9, 1));
        assert_error(&acts, 1, code::UNSUBSCRIBE, 9, uris::NO_SUCH_SUBSCRIPTION);
    }

    #[test]
    fn subscription_ids_shared_per_topic_and_policy() {
        let mut h = Harness::new();
        h.join(1);
        h.join(2);
        let a = h.subscribe(1, dict! {}, "com.t");
        let again = h.subscribe(1, dict! {}, "com.t");
        let b = h.subscribe(2, dict! {}, "com.t");
        let c = h.subscribe(2, dict! {"match" => "prefix"}, "com.t");
        let d = h.subscribe(2, dict! {"match" => "exact"}, "com.u");
        assert_eq!(a, again);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, d);
        // Unsubscribe by a session not attached to it.
        h.join(3);
        let acts = h.send(3, unsubscribe(1, a));
        assert_error(&acts, 3, code::UNSUBSCRIBE, 1, uris::NO_SUCH_SUBSCRIPTION);
        // After one subscriber leaves the other still gets events on the same id.
        h.send(1, unsubscribe(2, a));
        let acts = h.send(3, publish(1, "com.t", list![]));
        let evs = events_to(&acts, 2);
        assert_eq!(evs.len(), 2, "exact and prefix subscription: {acts:?}");
        assert_eq!(evs[0].subscription, a);
        assert_eq!(evs[1].subscription, c);
        assert_eq!(evs[0].publication, evs[1].publication);
        assert!(sent(&acts, 1).is_empty());
    }

    #[test]
    fn acknowledge_and_publisher_exclusion() {
        let mut h = Harness::new();
        h.join(1);
        h.join(2);
        h.subscribe(1, dict! {}, "com.t");
        h.subscribe(2, dict! {}, "com.t");
        let acts = h.send(1, publish_ack(5, "com.t", list![1]));
        let to_pub = sent(&acts, 1);
        assert!(
            matches!(to_pub.as_slice(), [Message::Published { request: 5, publication }] if *publication >= 1)
        );
        assert_eq!(events_to(&acts, 2).len(), 1);
        let acts = h.send(
            1,
            publish_opts(6, dict! {"exclude_me" => false}, "com.t", list![1]),
        );
        assert_eq!(receivers(&acts), vec![1, 2]);
    }

    #[test]
    fn publisher_identification() {
        let mut h = Harness::new();
        h.join_as(1, "alice", "admin");
        h.join(2);
        h.subscribe(2, dict! {}, "com.t");
        let acts = h.send(
            1,
            publish_opts(1, dict! {"disclose_me" => true}, "com.t", list![]),
        );
        let evs = events_to(&acts, 2);
        assert_eq!(
            evs[0].details,
            dict! {"publisher" => 1u64, "publisher_authid" => "alice", "publisher_authrole" => "admin"}
        );
        let acts = h.send(1, publish(2, "com.t", list![]));
        assert!(events_to(&acts, 2)[0].details.is_empty());
    }

    #[test]
    fn invalid_topics_and_options() {
        let mut h = Harness::new();
        h.join(1);
        for (req, topic) in [(1, "com..t"), (2, "com.#"), (3, ""), (4, "a b")] {
            let acts = h.send(1, publish_ack(req, topic, list![]));
            assert_error(&acts, 1, code::PUBLISH, req, uris::INVALID_URI);
            assert!(h.send(1, publish(req, topic, list![])).is_empty());
        }
        let acts = h.send(1, publish_ack(5, "wamp.session.on_join", list![]));
        assert_error(&acts, 1, code::PUBLISH, 5, uris::INVALID_URI);
        let acts = h.send(
            1,
            publish_opts(
                6,
                dict! {"acknowledge" => true, "exclude" => list!["x"]},
                "com.t",
                list![],
            ),
        );
        assert_error(&acts, 1, code::PUBLISH, 6, uris::INVALID_ARGUMENT);
        let acts = h.send(1, subscribe_opts(7, dict! {"match" => "regex"}, "com.t"));
        assert_error(&acts, 1, code::SUBSCRIBE, 7, uris::INVALID_ARGUMENT);
        let acts = h.send(1, subscribe_opts(8, dict! {"match" => 3}, "com.t"));
        assert_error(&acts, 1, code::SUBSCRIBE, 8, uris::INVALID_ARGUMENT);
        let acts = h.send(1, subscribe(9, "com..t"));
        assert_error(&acts, 1, code::SUBSCRIBE, 9, uris::INVALID_URI);
        let acts = h.send(1, subscribe_opts(10, dict! {"match" => "prefix"}, "com..t"));
        assert_error(&acts, 1, code::SUBSCRIBE, 10, uris::INVALID_URI);
        let id = h.subscribe(1, dict! {"match" => "wildcard"}, "com..t");
        assert!(id > 0);
        // Strict URIs.
        let mut cfg = test_config();
        cfg.uri_check = crate::wamp::uri::UriCheck::Strict;
        let mut h = Harness::with_config(cfg);
        h.join(1);
        let acts = h.send(1, subscribe(1, "com.MyApp"));
        assert_error(&acts, 1, code::SUBSCRIBE, 1, uris::INVALID_URI);
        let acts = h.send(1, publish_ack(2, "com.my-app", list![]));
        assert_error(&acts, 1, code::PUBLISH, 2, uris::INVALID_URI);
    }

    #[test]
    fn prefix_and_wildcard_subscriptions_carry_topic() {
        let mut h = Harness::new();
        h.join(1);
        h.join(2);
        let p = h.subscribe(1, dict! {"match" => "prefix"}, "com.myapp.topic.emergency");
        let w = h.subscribe(1, dict! {"match" => "wildcard"}, "com.myapp..userevent");
        for (topic, expect) in [
            ("com.myapp.topic.emergency.11", Some(p)),
            ("com.myapp.topic.emergency-low", Some(p)),
            ("com.myapp.topic.emergency", Some(p)),
            ("com.myapp.topic.emerge", None),
            ("com.myapp.foo.userevent", Some(w)),
            ("com.myapp.foo.userevent.bar", None),
            ("com.myapp2.foo.userevent", None),
        ] {
            let acts = h.send(2, publish(1, topic, list![]));
            let evs = events_to(&acts, 1);
            match expect {
                Some(id) => {
                    assert_eq!(evs.len(), 1, "{topic}");
                    assert_eq!(evs[0].subscription, id);
                    assert_eq!(evs[0].details, dict! {"topic" => topic});
                }
                None => assert!(evs.is_empty(), "{topic}"),
            }
        }
    }

    #[test]
    fn black_and_whitelisting() {
        let mut h = Harness::new();
        h.join_as(1, "pub", "publisher");
        h.join_as(2, "alice", "staff");
        h.join_as(3, "bob", "manager");
        h.join_as(4, "carol", "staff");
        for s in 2..=4 {
            h.subscribe(s, dict! {}, "com.customer");
        }
        let cases: Vec<(Dict, Vec<u64>)> = vec![
            (dict! {}, vec![2, 3, 4]),
            (dict! {"exclude" => list![2u64, 9u64]}, vec![3, 4]),
            (dict! {"eligible" => list![2u64, 3u64]}, vec![2, 3]),
            (
                dict! {"eligible" => list![2u64, 3u64, 4u64], "exclude" => list![2u64]},
                vec![3, 4],
            ),
            (dict! {"exclude_authid" => list!["bob"]}, vec![2, 4]),
            (
                dict! {"eligible_authid" => list!["bob", "carol"]},
                vec![3, 4],
            ),
            (dict! {"exclude_authrole" => list!["staff"]}, vec![3]),
            (dict! {"eligible_authrole" => list!["staff"]}, vec![2, 4]),
            (
                dict! {"eligible_authrole" => list!["staff"], "exclude_authid" => list!["carol"]},
                vec![2],
            ),
            (dict! {"eligible" => Value::List(vec![])}, vec![]),
        ];
        for (opts, expect) in cases {
            let acts = h.send(1, publish_opts(1, opts.clone(), "com.customer", list![]));
            assert_eq!(receivers(&acts), expect, "{opts:?}");
        }
    }

    #[test]
    fn retained_event_delivered_on_get_retained() {
        let mut h = Harness::new();
        h.join_as(1, "sensor", "device");
        h.join(2);
        h.join(3);
        // Publish with retain before anyone subscribes.
        let acts = h.send(
            1,
            publish_opts(
                1,
                dict! {"retain" => true, "acknowledge" => true, "disclose_me" => true},
                "com.dc.temp",
                list![21.5],
            ),
        );
        let publication = match sent(&acts, 1)[0] {
            Message::Published { publication, .. } => *publication,
            other => panic!("{other:?}"),
        };
        h.send(
            1,
            publish_opts(2, dict! {"retain" => true}, "com.dc.hum", list![40]),
        );
        // A later plain publish does not replace the retained event.
        h.send(1, publish(3, "com.dc.temp", list![22.0]));
        // Without get_retained: nothing.
        let acts = h.send(2, subscribe(1, "com.dc.temp"));
        assert_eq!(acts.len(), 1);
        // With get_retained on the same subscription: SUBSCRIBED, then the event.
        let acts = h.send(
            2,
            subscribe_opts(2, dict! {"get_retained" => true}, "com.dc.temp"),
        );
        let msgs = sent(&acts, 2);
        assert!(matches!(msgs[0], Message::Subscribed { request: 2, .. }));
        let evs = events_to(&acts, 2);
        assert_eq!(evs.len(), 1);
        assert_eq!(evs[0].publication, publication);
        assert_eq!(ev_args(&evs[0]), list![21.5]);
        assert_eq!(
            evs[0].details,
            dict! {"retained" => true, "publisher" => 1u64,
            "publisher_authid" => "sensor", "publisher_authrole" => "device"}
        );
        // Pattern subscriptions get every matching retained topic, with `topic`.
        let acts = h.send(
            3,
            subscribe_opts(
                1,
                dict! {"get_retained" => true, "match" => "prefix"},
                "com.dc.",
            ),
        );
        let evs = events_to(&acts, 3);
        assert_eq!(evs.len(), 2);
        assert_eq!(evs[0].details["topic"], Value::from("com.dc.hum"));
        assert_eq!(evs[1].details["topic"], Value::from("com.dc.temp"));
        assert!(evs
            .iter()
            .all(|e| e.details["retained"] == Value::Bool(true)));
        let acts = h.send(
            3,
            subscribe_opts(
                2,
                dict! {"get_retained" => true, "match" => "wildcard"},
                "com..hum",
            ),
        );
        let evs = events_to(&acts, 3);
        assert_eq!(evs.len(), 1);
        assert_eq!(ev_args(&evs[0]), list![40]);
        // A newer retained publication replaces the old one.
        h.send(
            1,
            publish_opts(4, dict! {"retain" => true}, "com.dc.temp", list![23]),
        );
        let acts = h.send(
            3,
            subscribe_opts(3, dict! {"get_retained" => true}, "com.dc.temp"),
        );
        assert_eq!(ev_args(&events_to(&acts, 3)[0]), list![23]);
    }

    #[test]
    fn retained_event_honours_original_eligibility() {
        let mut h = Harness::new();
        h.join_as(1, "pub", "device");
        h.join_as(2, "alice", "staff");
        h.join_as(3, "bob", "manager");
        h.send(
            1,
            publish_opts(
                1,
                dict! {"retain" => true, "eligible_authrole" => list!["manager"]},
                "com.secret",
                list![1],
            ),
        );
        let opts = dict! {"get_retained" => true};
        let acts = h.send(2, subscribe_opts(1, opts.clone(), "com.secret"));
        assert!(events_to(&acts, 2).is_empty());
        let acts = h.send(3, subscribe_opts(1, opts.clone(), "com.secret"));
        assert_eq!(events_to(&acts, 3).len(), 1);
        // The publisher was excluded (exclude_me default) so it does not get it either.
        let acts = h.send(1, subscribe_opts(2, opts.clone(), "com.secret"));
        assert!(events_to(&acts, 1).is_empty());
        h.send(
            1,
            publish_opts(
                3,
                dict! {"retain" => true, "exclude_me" => false},
                "com.open",
                list![],
            ),
        );
        let acts = h.send(1, subscribe_opts(4, opts, "com.open"));
        assert_eq!(events_to(&acts, 1).len(), 1);
    }

    #[test]
    fn subscriptions_per_session_are_capped() {
        let mut cfg = test_config();
        cfg.max_subscriptions_per_session = 2;
        let mut h = Harness::with_config(cfg);
        h.join(1);
        h.join(2);
        let a = h.subscribe(1, dict! {}, "com.a");
        h.subscribe(1, dict! {"match" => "prefix"}, "com.a");
        let acts = h.send(1, subscribe(5, "com.b"));
        assert_error(&acts, 1, code::SUBSCRIBE, 5, "verger.error.limit_exceeded");
        // Not a new subscription for this session: fine.
        assert_eq!(h.subscribe(1, dict! {}, "com.a"), a);
        // The refused subscription was not created, and others have their own count.
        assert_eq!(
            h.realm.broker.lookup("com.b", super::MatchPolicy::Exact),
            None
        );
        h.subscribe(2, dict! {}, "com.b");
        h.send(1, unsubscribe(6, a));
        h.subscribe(1, dict! {}, "com.b");
    }

    #[test]
    fn delivery_policy_belongs_to_the_subscriber() {
        use super::super::vocab::Delivery;
        let mut h = Harness::new();
        h.join(1);
        h.join(2);
        let id = h.subscribe(1, dict! {"delivery" => "latest"}, "com.fix");
        assert_eq!(h.subscribe(2, dict! {}, "com.fix"), id);
        assert_eq!(h.realm.broker.delivery(id, 1), Delivery::Latest);
        assert_eq!(h.realm.broker.delivery(id, 2), Delivery::Cut);
        // Subscribing again changes it; leaving forgets it.
        h.subscribe(2, dict! {"delivery" => "drop_oldest"}, "com.fix");
        assert_eq!(h.realm.broker.delivery(id, 2), Delivery::DropOldest);
        h.subscribe(1, dict! {"delivery" => "cut"}, "com.fix");
        assert_eq!(h.realm.broker.delivery(id, 1), Delivery::Cut);
        h.leave(2);
        assert_eq!(h.realm.broker.delivery(id, 2), Delivery::Cut);
        for bad in [Value::from("sometimes"), Value::from(3u64)] {
            let acts = h.send(1, subscribe_opts(9, dict! {"delivery" => bad}, "com.x"));
            assert_error(&acts, 1, code::SUBSCRIBE, 9, uris::INVALID_ARGUMENT);
        }
    }

    #[test]
    fn retention_is_bounded() {
        let mut cfg = test_config();
        cfg.max_retained_topics = 1;
        let mut h = Harness::with_config(cfg);
        h.join(1);
        h.join(2);
        h.send(
            1,
            publish_opts(1, dict! {"retain" => true}, "com.a", list![1]),
        );
        h.send(
            1,
            publish_opts(2, dict! {"retain" => true}, "com.b", list![2]),
        );
        h.send(
            1,
            publish_opts(3, dict! {"retain" => true}, "com.a", list![3]),
        );
        let opts = dict! {"get_retained" => true, "match" => "prefix"};
        let acts = h.send(2, subscribe_opts(1, opts, "com."));
        let evs = events_to(&acts, 2);
        assert_eq!(evs.len(), 1);
        assert_eq!(ev_args(&evs[0]), list![3]);
    }

    #[test]
    fn leave_drops_subscriptions_with_meta_events() {
        let mut h = Harness::new();
        h.join(1);
        h.join(2);
        h.join(9);
        for (i, t) in [
            "wamp.subscription.on_unsubscribe",
            "wamp.subscription.on_delete",
        ]
        .into_iter()
        .enumerate()
        {
            h.send(9, subscribe(i as u64 + 1, t));
        }
        let shared = h.subscribe(1, dict! {}, "com.shared");
        h.subscribe(2, dict! {}, "com.shared");
        let own = h.subscribe(1, dict! {"match" => "prefix"}, "com.own");
        let acts = h.leave(1);
        let evs = events_to(&acts, 9);
        let args: Vec<Vec<Value>> = evs.iter().map(ev_args).collect();
        assert_eq!(
            args,
            vec![list![1u64, shared], list![1u64, own], list![1u64, own],],
            "{acts:?}"
        );
        // The shared subscription still delivers to 2; the prefix one is gone.
        let acts = h.send(
            2,
            publish_opts(1, dict! {"exclude_me" => false}, "com.shared", list![]),
        );
        assert_eq!(events_to(&acts, 2).len(), 1);
        assert_eq!(h.realm.broker.get(own).map(|s| s.id), None);
    }

    #[test]
    fn one_clone_per_receiver_and_multiple_receivers() {
        let mut h = Harness::new();
        h.join(100);
        for s in 1..=10 {
            h.join(s);
            h.subscribe(s, dict! {}, "com.fast");
        }
        let acts = h.send(100, publish(1, "com.fast", list![1, 2, 3]));
        assert_eq!(receivers(&acts), (1..=10).collect::<Vec<_>>());
        assert_eq!(acts.len(), 10);
    }

    /// Events per second through `Realm::handle` with 10 subscribers, one exact
    /// subscription plus a few pattern subscriptions that do not match.
    /// `cargo test --release --lib router::broker -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn bench_events_per_second() {
        use std::time::Instant;
        let mut h = Harness::new();
        h.join(100);
        for s in 1..=10 {
            h.join(s);
            h.subscribe(s, dict! {}, "com.orchard.row.gnss");
            h.subscribe(
                s,
                dict! {"match" => "prefix"},
                &format!("com.orchard.other{s}."),
            );
            h.subscribe(
                s,
                dict! {"match" => "wildcard"},
                &format!("com.orchard{s}..x"),
            );
        }
        let mut out = crate::router::realm::Output::new();
        let publications = 200_000u64;
        let start = Instant::now();
        for i in 0..publications {
            out.actions.clear();
            h.realm.handle(
                100,
                publish_opts(
                    i + 1,
                    Dict::new(),
                    "com.orchard.row.gnss",
                    list![47.1, 7.2, 1.5, i],
                ),
                &mut out,
            );
            assert_eq!(out.actions.len(), 10);
        }
        let secs = start.elapsed().as_secs_f64();
        let events = publications as f64 * 10.0;
        println!(
            "{publications} publications, {events} events in {secs:.3}s: {:.0} publications/s, {:.0} events/s",
            publications as f64 / secs,
            events / secs
        );
    }
}
