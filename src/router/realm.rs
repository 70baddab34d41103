//! The routing state of one realm: sessions, broker, dealer and meta API, free of I/O.
//!
//! The async shell (`router::session`) owns one `Realm` per realm behind a
//! `std::sync::Mutex`, feeds it decoded messages and carries out the [`Output`] it
//! gets back. Nothing in here awaits, sleeps or touches a socket; time is passed in.
//!
//! Layout: this file holds the session table and dispatches messages; the broker
//! (`broker.rs`), the dealer (`dealer.rs`), the meta API (`meta.rs`) and the session
//! testaments (`testament.rs`) own their own state and per-session indexes, so that
//! `leave` only touches what the session owned.
//!
//! **Testaments.** Every way out of the session table goes through one function
//! (`remove_session`), which first publishes the session's testaments as broker
//! publications from that session (while it is still in the table, so `disclose_me`
//! can name it; its own subscriptions are excluded), then frees what it owned.
//!
//! **One session table.** `Realm<L>` is generic over the shell's per-session *link*
//! (`L`: the session's outbound queue and kill switch in the shell, `()` in unit
//! tests), kept in the same table entry as the session's routing state
//! (`SessionTable`, `vocab.rs`). A session joins with its link ([`Realm::join`]),
//! and every way out of the table hands the link back: [`Realm::leave`] returns it,
//! and a session the core closes itself (protocol violation, ABORT from the peer,
//! meta API kill) leaves its link in the [`Output`] next to its `Action::Close`, so
//! that the shell can still deliver what was queued for it before the close. There
//! is no second map to keep in step, and an id is free exactly when it is not in the
//! table ([`Realm::unused_id`]).

use crate::dict;
use crate::wamp::message::code;
use crate::wamp::{ids, uris, Dict, Id, Message, Payload, Value};

use super::broker::Broker;
use super::dealer::Dealer;
use super::meta::{self, MetaView};
use super::testament::{self, Testaments};
pub use super::vocab::{router_roles, Action, RealmConfig, SessionId, SessionInfo, TimerKey};
use super::vocab::{topic, Ctx, MetaEvent, SessionState, SessionTable, Sessions, Violation};

/// What handling one input produced, for the shell to carry out in order.
#[derive(Debug)]
pub struct Output<L = ()> {
    /// What to do, in order.
    pub actions: Vec<Action>,
    /// The links of the sessions this input closed, each with an `Action::Close` in
    /// `actions`. They are out of the session table already; they wait here so that
    /// the messages `actions` hold for them before the close can still be delivered.
    closed: Vec<(SessionId, L)>,
}

impl<L> Default for Output<L> {
    fn default() -> Self {
        Output {
            actions: Vec::new(),
            closed: Vec::new(),
        }
    }
}

impl<L> Output<L> {
    pub fn new() -> Output<L> {
        Output::default()
    }

    /// The link of a session this input closed, until its `Action::Close` is carried
    /// out.
    pub fn closed_link(&self, session: SessionId) -> Option<&L> {
        self.closed
            .iter()
            .find(|(s, _)| *s == session)
            .map(|(_, link)| link)
    }

    /// Take the link of a session this input closed, to carry out its `Action::Close`.
    pub fn take_closed(&mut self, session: SessionId) -> Option<L> {
        let i = self.closed.iter().position(|(s, _)| *s == session)?;
        Some(self.closed.swap_remove(i).1)
    }

    /// Close `session` (already out of the table) with `message`.
    fn close(&mut self, session: SessionId, link: L, message: Message) {
        self.closed.push((session, link));
        self.actions.push(Action::Close { session, message });
    }
}

/// The routing state of one realm; `L` is the shell's per-session link.
#[derive(Debug)]
pub struct Realm<L = ()> {
    name: String,
    config: RealmConfig,
    sessions: SessionTable<L>,
    // Visible to the router's unit tests, which inspect them.
    pub(super) broker: Broker,
    pub(super) dealer: Dealer,
    pub(super) testaments: Testaments,
    /// Scratch queue of meta events raised while handling one input.
    meta_queue: Vec<MetaEvent>,
}

impl<L> Realm<L> {
    pub fn new(name: &str, config: RealmConfig) -> Realm<L> {
        Realm {
            name: name.to_owned(),
            config,
            sessions: SessionTable::default(),
            broker: Broker::default(),
            dealer: Dealer::default(),
            testaments: Testaments::default(),
            meta_queue: Vec::new(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn config(&self) -> &RealmConfig {
        &self.config
    }

    /// A random session id that no joined session has (spec: global scope).
    pub fn unused_id(&self) -> SessionId {
        loop {
            let id = ids::random_id();
            if !self.sessions.contains(id) {
                return id;
            }
        }
    }

    /// A session completed the handshake (the shell already queued WELCOME on `link`).
    pub fn join(&mut self, info: SessionInfo, link: L, out: &mut Output<L>) {
        let session = info.session;
        if self.sessions.contains(session) {
            // The shell never reuses a live id; if it does, start from a clean slate.
            self.leave(session, out);
        }
        let details = meta::session_details(&info);
        self.sessions.insert(SessionState::new(info), link);
        self.meta_queue.push(MetaEvent::new(
            topic::SESSION_ON_JOIN,
            vec![Value::Dict(details)],
        ));
        self.flush_meta(&mut out.actions);
    }

    /// A session is gone (GOODBYE, transport closed, cut off by the shell). Returns
    /// its link if it was joined. Idempotent.
    pub fn leave(&mut self, session: SessionId, out: &mut Output<L>) -> Option<L> {
        self.remove_session(session, true, &mut out.actions)
    }

    /// A message from an established session. GOODBYE is handled by the shell.
    pub fn handle(&mut self, session: SessionId, msg: Message, out: &mut Output<L>) {
        if !self.sessions.contains(session) {
            // Killed or closed a moment ago; the transport may still deliver a few.
            return;
        }
        let ctx = Ctx {
            sessions: &self.sessions,
            config: &self.config,
        };
        let actions = &mut out.actions;
        let result = match msg {
            Message::Publish {
                request,
                options,
                topic,
                payload,
            } => {
                self.broker
                    .publish(ctx, session, request, &options, topic, payload, actions);
                Ok(())
            }
            Message::Subscribe {
                request,
                options,
                topic,
            } => {
                self.broker.subscribe(
                    ctx,
                    session,
                    request,
                    &options,
                    topic,
                    &mut self.meta_queue,
                    actions,
                );
                Ok(())
            }
            Message::Unsubscribe {
                request,
                subscription,
            } => {
                self.broker.unsubscribe(
                    session,
                    request,
                    subscription,
                    &mut self.meta_queue,
                    actions,
                );
                Ok(())
            }
            Message::Register {
                request,
                options,
                procedure,
            } => {
                self.dealer.register(
                    ctx,
                    session,
                    request,
                    &options,
                    procedure,
                    &mut self.meta_queue,
                    actions,
                );
                Ok(())
            }
            Message::Unregister {
                request,
                registration,
            } => {
                self.dealer.unregister(
                    session,
                    request,
                    registration,
                    &mut self.meta_queue,
                    actions,
                );
                Ok(())
            }
            Message::Call {
                request,
                options,
                procedure,
                payload,
            } => {
                if meta::is_meta_procedure(&procedure) {
                    self.meta_call(session, request, &procedure, &payload, out);
                    Ok(())
                } else {
                    self.dealer.call(
                        ctx, session, request, &options, &procedure, payload, actions,
                    )
                }
            }
            Message::Cancel { request, options } => {
                self.dealer.cancel(session, request, &options, actions)
            }
            Message::Yield {
                request,
                options,
                payload,
            } => {
                self.dealer
                    .yield_(session, request, &options, payload, actions);
                Ok(())
            }
            Message::Error {
                request_type: code::INVOCATION,
                request,
                details,
                error,
                payload,
            } => {
                self.dealer
                    .invocation_error(session, request, details, error, payload, actions);
                Ok(())
            }
            Message::Error { request_type, .. } => Err(Violation(format!(
                "Received ERROR message with invalid REQUEST.Type {request_type}."
            ))),
            Message::Goodbye { .. } => {
                // The shell's job (contract); nothing to route.
                tracing::debug!(session, "GOODBYE reached the realm core; ignored");
                Ok(())
            }
            Message::Abort { .. } => {
                // The peer gave up on the session; no reply is expected, close quietly.
                if let Some(link) = self.remove_session(session, true, &mut out.actions) {
                    out.close(
                        session,
                        link,
                        Message::Abort {
                            details: dict! {"message" => "Session aborted by peer."},
                            reason: uris::CLOSE_NORMAL.to_owned(),
                        },
                    );
                }
                return;
            }
            other => Err(Violation(format!(
                "Received {} message after session was established.",
                other.name()
            ))),
        };
        if let Err(Violation(message)) = result {
            self.violation(session, message, out);
        } else {
            self.flush_meta(&mut out.actions);
        }
    }

    /// A timer asked for with `Action::Timer` fired.
    pub fn timer(&mut self, key: TimerKey, out: &mut Output<L>) {
        match key {
            TimerKey::CallTimeout(call) => self.dealer.timeout(call, &mut out.actions),
        }
    }

    /// Is `session` in the session table?
    pub fn is_joined(&self, session: SessionId) -> bool {
        self.sessions.contains(session)
    }

    /// The shell's link to a joined session.
    pub fn link(&self, session: SessionId) -> Option<&L> {
        self.sessions.link(session)
    }

    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// Ids of all joined sessions, ascending.
    pub fn session_ids(&self) -> Vec<SessionId> {
        let mut ids: Vec<SessionId> = self.sessions.ids().collect();
        ids.sort_unstable();
        ids
    }

    /// What the router knows about a joined session.
    pub fn session_info(&self, session: SessionId) -> Option<&SessionInfo> {
        self.sessions.get(session).map(|s| &s.info)
    }

    /// Answer a meta procedure call; the kill procedures close their victims first.
    fn meta_call(
        &mut self,
        caller: SessionId,
        request: Id,
        procedure: &str,
        payload: &Payload,
        out: &mut Output<L>,
    ) {
        if testament::is_testament_procedure(procedure) {
            let reply = self
                .testaments
                .call(&self.config, caller, request, procedure, payload);
            out.actions.push(Action::Send(caller, reply));
            return;
        }
        let view = MetaView {
            ctx: Ctx {
                sessions: &self.sessions,
                config: &self.config,
            },
            subscriptions: &self.broker,
            registrations: &self.dealer,
        };
        let (reply, kill) = meta::call(view, caller, request, procedure, payload);
        if let Some(k) = kill {
            for victim in k.victims {
                self.kill(victim, &k.reason, k.message.as_deref(), k.on_leave, out);
            }
        }
        // The kill procedures never kill the caller; still, never address a session
        // that is gone.
        if self.sessions.contains(caller) {
            out.actions.push(Action::Send(caller, reply));
        }
    }

    /// Abort `session` for a protocol violation: dispose of everything it owned and
    /// close it with `ABORT wamp.error.protocol_violation`.
    fn violation(&mut self, session: SessionId, message: String, out: &mut Output<L>) {
        tracing::debug!(session, %message, "protocol violation, aborting session");
        if let Some(link) = self.remove_session(session, true, &mut out.actions) {
            out.close(
                session,
                link,
                Message::Abort {
                    details: dict! {"message" => message},
                    reason: uris::PROTOCOL_VIOLATION.to_owned(),
                },
            );
        }
    }

    /// Forcefully close `session` with GOODBYE (meta API kill).
    fn kill(
        &mut self,
        session: SessionId,
        reason: &str,
        message: Option<&str>,
        on_leave: bool,
        out: &mut Output<L>,
    ) {
        let Some(link) = self.remove_session(session, on_leave, &mut out.actions) else {
            return;
        };
        let details = match message {
            Some(m) => dict! {"message" => m},
            None => Dict::new(),
        };
        out.close(
            session,
            link,
            Message::Goodbye {
                details,
                reason: reason.to_owned(),
            },
        );
    }

    /// Remove a session from all state: the one way out of the session table.
    /// Publishes its testaments first. Returns its link if it was joined.
    fn remove_session(
        &mut self,
        session: SessionId,
        on_leave: bool,
        out: &mut Vec<Action>,
    ) -> Option<L> {
        if !self.sessions.contains(session) {
            return None;
        }
        self.publish_testaments(session, out);
        let (state, link) = self.sessions.remove(session)?;
        self.dealer.leave(session, &mut self.meta_queue, out);
        self.broker.leave(session, &mut self.meta_queue);
        if on_leave {
            let info = state.info;
            self.meta_queue.push(MetaEvent::new(
                topic::SESSION_ON_LEAVE,
                vec![
                    Value::from(session),
                    Value::Str(info.authid),
                    Value::Str(info.authrole),
                ],
            ));
        }
        self.flush_meta(out);
        Some(link)
    }

    /// Publish what `session` filed to be published when it goes (it is still joined:
    /// it is the publisher, excluded from receiving it).
    fn publish_testaments(&mut self, session: SessionId, out: &mut Vec<Action>) {
        let testaments = self.testaments.take(session);
        if testaments.is_empty() {
            return;
        }
        let ctx = Ctx {
            sessions: &self.sessions,
            config: &self.config,
        };
        for t in testaments {
            tracing::debug!(session, topic = %t.topic, "publishing a testament");
            // Request 0: with `acknowledge` removed, the broker answers nobody.
            self.broker
                .publish(ctx, session, 0, &t.options, t.topic, t.payload, out);
        }
    }

    /// Publish the meta events raised so far (router-originated, no publisher).
    fn flush_meta(&mut self, out: &mut Vec<Action>) {
        if self.meta_queue.is_empty() {
            return;
        }
        let ctx = Ctx {
            sessions: &self.sessions,
            config: &self.config,
        };
        for ev in self.meta_queue.drain(..) {
            self.broker.publish_meta(ctx, ev.topic, ev.args, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use super::*;
    use crate::list;
    use crate::wamp::Payload;

    #[test]
    fn join_leave_and_ids() {
        let mut h = Harness::new();
        h.join(3);
        h.join(1);
        assert_eq!(h.realm.session_count(), 2);
        assert_eq!(h.realm.session_ids(), vec![1, 3]);
        assert_eq!(h.realm.session_info(3).unwrap().authid, "user3");
        assert!(h.leave(3).is_empty());
        assert!(h.leave(3).is_empty(), "leave is idempotent");
        assert_eq!(h.realm.session_ids(), vec![1]);
        // Messages from an unknown session are ignored.
        assert!(h.send(42, subscribe(1, "com.a")).is_empty());
    }

    #[test]
    fn router_only_messages_are_violations() {
        let forbidden = vec![
            Message::Hello {
                realm: "r".into(),
                details: Dict::new(),
            },
            Message::Welcome {
                session: 5,
                details: Dict::new(),
            },
            Message::Challenge {
                authmethod: "ticket".into(),
                extra: Dict::new(),
            },
            Message::Authenticate {
                signature: "x".into(),
                extra: Dict::new(),
            },
            Message::Published {
                request: 1,
                publication: 2,
            },
            Message::Subscribed {
                request: 1,
                subscription: 2,
            },
            Message::Unsubscribed {
                request: 1,
                details: None,
            },
            Message::Event {
                subscription: 1,
                publication: 2,
                details: Dict::new(),
                payload: Payload::default(),
            },
            Message::Result {
                request: 1,
                details: Dict::new(),
                payload: Payload::default(),
            },
            Message::Registered {
                request: 1,
                registration: 2,
            },
            Message::Unregistered {
                request: 1,
                details: None,
            },
            Message::Invocation {
                request: 1,
                registration: 2,
                details: Dict::new(),
                payload: Payload::default(),
            },
            Message::Interrupt {
                request: 1,
                options: Dict::new(),
            },
            error_msg(code::CALL, 1, "com.err"),
            error_msg(code::PUBLISH, 1, "com.err"),
        ];
        for msg in forbidden {
            let name = msg.name();
            let mut h = Harness::new();
            h.join(1);
            h.join(2);
            h.send(1, subscribe(1, "com.a"));
            let acts = h.send(1, msg);
            assert_eq!(acts.len(), 1, "{name}: {acts:?}");
            match &acts[0] {
                Action::Close {
                    session: 1,
                    message: Message::Abort { details, reason },
                } => {
                    assert_eq!(reason, uris::PROTOCOL_VIOLATION);
                    assert!(details["message"].as_str().unwrap().contains(name));
                }
                other => panic!("{name}: {other:?}"),
            }
            assert_eq!(h.realm.session_ids(), vec![2], "{name}");
            // The other session is unaffected and the violator's subscription is gone.
            let acts = h.send(2, publish_ack(1, "com.a", list![1]));
            assert_eq!(acts.len(), 1, "{name}: {acts:?}");
        }
    }

    #[test]
    fn violation_cleans_up_and_publishes_meta_events() {
        let mut h = Harness::new();
        h.join(1);
        h.join(2);
        h.send(2, subscribe(1, "wamp.session.on_leave"));
        h.send(1, register(1, "com.p"));
        let acts = h.send(
            1,
            Message::Welcome {
                session: 1,
                details: Dict::new(),
            },
        );
        let events = events_to(&acts, 2);
        assert_eq!(events.len(), 1);
        assert_eq!(
            events[0].payload.args,
            Some(list![1u64, "user1", "anonymous"])
        );
        assert!(matches!(
            acts.last(),
            Some(Action::Close { session: 1, .. })
        ));
        // The registration went with the session.
        let acts = h.send(2, call(1, "com.p", list![]));
        assert_error(&acts, 2, code::CALL, 1, uris::NO_SUCH_PROCEDURE);
    }

    #[test]
    fn abort_from_peer_closes_quietly_and_goodbye_is_ignored() {
        let mut h = Harness::new();
        h.join(1);
        let acts = h.send(
            1,
            Message::Goodbye {
                details: Dict::new(),
                reason: uris::CLOSE_CLOSE_REALM.into(),
            },
        );
        assert!(acts.is_empty());
        let acts = h.send(
            1,
            Message::Abort {
                details: Dict::new(),
                reason: "wamp.error.protocol_violation".into(),
            },
        );
        assert!(matches!(
            acts.as_slice(),
            [Action::Close { session: 1, .. }]
        ));
        assert_eq!(h.realm.session_count(), 0);
    }

    /// Every way out of the session table hands the shell's link back, and a session
    /// the core closes keeps its link until the shell carried out what came before
    /// its close.
    #[test]
    fn links_come_back_on_every_way_out() {
        let mut realm: Realm<String> = Realm::new("realm1", test_config());
        let mut out = Output::new();
        for (id, authid) in [(1, "alice"), (2, "bob"), (3, "bob"), (4, "carol")] {
            let mut info = session_info(id);
            info.authid = authid.into();
            realm.join(info, format!("link{id}"), &mut out);
        }
        assert_eq!(realm.link(2).map(String::as_str), Some("link2"));
        let fresh = realm.unused_id();
        assert!(!realm.is_joined(fresh));

        // 3 watches on_leave; alice kills both bobs: 3 hears of 2 leaving, then both
        // are closed. 3 is out of the table by then, its link is in the output.
        let mut out = Output::new();
        realm.handle(3, subscribe(1, "wamp.session.on_leave"), &mut out);
        let mut out = Output::new();
        realm.handle(
            1,
            call(5, "wamp.session.kill_by_authid", list!["bob"]),
            &mut out,
        );
        assert_eq!(realm.session_ids(), vec![1, 4]);
        assert!(!realm.is_joined(3) && realm.link(3).is_none());
        let order: Vec<String> = out
            .actions
            .iter()
            .map(|a| match a {
                Action::Send(s, m) => format!("send {} to {s}", m.name()),
                Action::Close { session, .. } => format!("close {session}"),
                Action::Timer { .. } => "timer".into(),
            })
            .collect();
        assert_eq!(
            order,
            ["send EVENT to 3", "close 2", "close 3", "send RESULT to 1"]
        );
        assert_eq!(out.closed_link(3).map(String::as_str), Some("link3"));
        assert_eq!(out.take_closed(2).as_deref(), Some("link2"));
        assert_eq!(out.take_closed(3).as_deref(), Some("link3"));
        assert_eq!(out.take_closed(3), None);

        // A protocol violation closes with the link; leaving returns it, once.
        let mut out = Output::new();
        realm.handle(
            4,
            Message::Hello {
                realm: "r".into(),
                details: Dict::new(),
            },
            &mut out,
        );
        assert_eq!(out.take_closed(4).as_deref(), Some("link4"));
        let mut out = Output::new();
        assert_eq!(realm.leave(1, &mut out).as_deref(), Some("link1"));
        assert_eq!(realm.leave(1, &mut out), None);
        assert_eq!(realm.session_count(), 0);
    }

    /// `add_testament` from `id`: the topic, kwargs `{"state": "gone"}`, retained.
    fn file_gone(h: &mut Harness, id: SessionId, topic: &str, scope: &str) {
        let kw = crate::dict! {
            "publish_options" => crate::dict!{"retain" => true},
            "scope" => scope,
        };
        let acts = h.send(
            id,
            call_kw(
                3,
                "wamp.session.add_testament",
                list![topic, Value::List(vec![]), crate::dict! {"state" => "gone"}],
                kw,
            ),
        );
        assert!(
            matches!(
                sent(&acts, id).as_slice(),
                [Message::Result { request: 3, .. }]
            ),
            "{acts:?}"
        );
    }

    fn gone_events(acts: &[Action], to: SessionId) -> usize {
        events_to(acts, to)
            .iter()
            .filter(|e| e.payload.kwarg("state") == Some(&Value::from("gone")))
            .count()
    }

    /// Every way a session leaves the table publishes its testaments, once, to the
    /// others, and retained: a later subscriber with `get_retained` gets "gone".
    #[test]
    fn testaments_are_published_on_every_way_out() {
        type Leave = fn(&mut Harness) -> Vec<Action>;
        let ways: Vec<(&str, Leave)> = vec![
            ("leave (GOODBYE, transport lost, slow consumer)", |h| {
                h.leave(1)
            }),
            ("ABORT from the peer", |h| {
                h.send(
                    1,
                    Message::Abort {
                        details: Dict::new(),
                        reason: uris::CLOSE_NORMAL.into(),
                    },
                )
            }),
            ("protocol violation", |h| {
                h.send(
                    1,
                    Message::Hello {
                        realm: "r".into(),
                        details: Dict::new(),
                    },
                )
            }),
            ("wamp.session.kill", |h| {
                h.send(2, call(9, "wamp.session.kill", list![1u64]))
            }),
            ("wamp.session.kill_all (deviation: published)", |h| {
                h.send(2, call(9, "wamp.session.kill_all", list![]))
            }),
            ("rejoin with the same id", |h| h.join(1)),
        ];
        for (name, way) in ways {
            let mut h = Harness::new();
            h.join(1);
            h.join(2);
            h.subscribe(1, Dict::new(), "orchard.gnss.status");
            h.subscribe(2, Dict::new(), "orchard.gnss.status");
            file_gone(&mut h, 1, "orchard.gnss.status", "destroyed");
            let acts = way(&mut h);
            assert_eq!(gone_events(&acts, 2), 1, "{name}: {acts:?}");
            assert_eq!(gone_events(&acts, 1), 0, "{name}: never to the leaver");
            assert!(h.realm.testaments.is_idle(), "{name}");
            // A late joiner gets it retained.
            h.join(3);
            let acts = h.send(
                3,
                subscribe_opts(
                    1,
                    crate::dict! {"get_retained" => true},
                    "orchard.gnss.status",
                ),
            );
            let evs = events_to(&acts, 3);
            assert_eq!(evs.len(), 1, "{name}");
            assert_eq!(evs[0].details["retained"], Value::from(true));
            assert_eq!(
                evs[0].payload.kwarg("state"),
                Some(&Value::from("gone")),
                "{name}"
            );
            // Published once: a later leave of the same id does nothing.
            assert!(h.leave(1).is_empty(), "{name}");
        }
    }

    #[test]
    fn testaments_come_before_on_leave_in_order_detached_first() {
        let mut h = Harness::new();
        h.join(1);
        h.join(2);
        h.subscribe(2, crate::dict! {"match" => "prefix"}, "com.");
        h.subscribe(2, Dict::new(), "wamp.session.on_leave");
        for (topic, scope) in [
            ("com.one", "destroyed"),
            ("com.two", "detached"),
            ("com.three", "destroyed"),
        ] {
            file_gone(&mut h, 1, topic, scope);
        }
        let acts = h.leave(1);
        let order: Vec<String> = events_to(&acts, 2)
            .iter()
            .map(|e| match e.details.get("topic") {
                Some(t) => t.as_str().unwrap_or_default().to_owned(),
                None => "on_leave".to_owned(),
            })
            .collect();
        assert_eq!(order, ["com.two", "com.one", "com.three", "on_leave"]);
    }

    #[test]
    fn flushed_testaments_are_not_published_and_disclose_me_names_the_leaver() {
        let mut h = Harness::new();
        h.join(1);
        h.join(2);
        h.subscribe(2, Dict::new(), "com.a");
        file_gone(&mut h, 1, "com.a", "destroyed");
        let n = h.meta_kw(
            1,
            "wamp.session.flush_testaments",
            list![],
            crate::dict! {"scope" => "destroyed"},
        );
        assert_eq!(n.arg_list(), [Value::from(1u64)]);
        assert!(events_to(&h.leave(1), 2).is_empty());

        h.join(1);
        h.send(
            1,
            call_kw(
                4,
                "wamp.session.add_testament",
                list!["com.a", list!["bye"]],
                crate::dict! {"publish_options" => crate::dict!{"disclose_me" => true}},
            ),
        );
        let evs = events_to(&h.leave(1), 2);
        assert_eq!(evs.len(), 1);
        assert_eq!(evs[0].payload, Payload::args(list!["bye"]));
        assert_eq!(evs[0].details["publisher"], Value::from(1u64));
        assert_eq!(evs[0].details["publisher_authid"], Value::from("user1"));
    }

    #[test]
    fn rejoin_with_live_id_starts_clean() {
        let mut h = Harness::new();
        h.join(1);
        h.send(1, register(1, "com.p"));
        h.join(1);
        h.join(2);
        let acts = h.send(2, call(1, "com.p", list![]));
        assert_error(&acts, 2, code::CALL, 1, uris::NO_SUCH_PROCEDURE);
    }
}

/// Random message sequences from several sessions: the core never panics, never
/// addresses a session that is gone, and forgets everything once all sessions left.
#[cfg(test)]
mod prop_tests {
    use super::super::testkit::*;
    use super::*;
    use crate::list;
    use crate::wamp::Payload;
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    enum Op {
        Join(SessionId),
        Leave(SessionId),
        Timer(Id),
        Msg(SessionId, Message),
    }

    fn uri() -> impl Strategy<Value = String> {
        prop::sample::select(vec![
            "com.a",
            "com.a.b",
            "com..b",
            "com.",
            "",
            "com..",
            "wamp.session.on_join",
            "wamp.subscription.on_create",
            "wamp.registration.on_delete",
            "wamp.session.on_leave",
        ])
        .prop_map(str::to_owned)
    }

    fn options() -> impl Strategy<Value = Dict> {
        let entries: Vec<(&str, Value)> = vec![
            ("match", "prefix".into()),
            ("match", "wildcard".into()),
            ("match", "bogus".into()),
            ("invoke", "roundrobin".into()),
            ("invoke", "random".into()),
            ("invoke", "last".into()),
            ("acknowledge", true.into()),
            ("exclude_me", false.into()),
            ("retain", true.into()),
            ("get_retained", true.into()),
            ("disclose_me", true.into()),
            ("eligible", Value::List(list![1u64, 2u64])),
            ("exclude_authid", Value::List(list!["user3"])),
            ("timeout", 10u64.into()),
            ("timeout", "x".into()),
            ("receive_progress", true.into()),
            ("progress", true.into()),
            ("mode", "skip".into()),
            ("mode", "kill".into()),
            ("mode", "killnowait".into()),
            ("forward_timeout", true.into()),
        ];
        prop::sample::subsequence(entries.clone(), 0..4).prop_map(|kv| {
            kv.into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect::<Dict>()
        })
    }

    fn meta_call() -> impl Strategy<Value = Message> {
        let procs = prop::sample::select(vec![
            "wamp.session.kill",
            "wamp.session.kill_by_authid",
            "wamp.session.kill_all",
            "wamp.session.get",
            "wamp.session.count",
            "wamp.subscription.match",
            "wamp.subscription.list_subscribers",
            "wamp.registration.match",
            "wamp.registration.get",
            "wamp.session.add_testament",
            "wamp.session.flush_testaments",
        ]);
        let arg = prop::sample::select(vec![
            Value::from(1u64),
            Value::from(2u64),
            Value::from("user2"),
            Value::from("com.a"),
            Value::Null,
        ]);
        (1..5u64, procs, prop::option::of(arg)).prop_map(|(request, p, a)| Message::Call {
            request,
            options: Dict::new(),
            procedure: p.to_owned(),
            payload: Payload::args(a.into_iter().collect()),
        })
    }

    fn message() -> impl Strategy<Value = Message> {
        let req = 1..5u64;
        let id = 1..7u64;
        prop_oneof![
            (req.clone(), options(), uri()).prop_map(|(request, options, topic)| {
                Message::Subscribe {
                    request,
                    options,
                    topic,
                }
            }),
            (req.clone(), id.clone()).prop_map(|(request, subscription)| {
                Message::Unsubscribe {
                    request,
                    subscription,
                }
            }),
            (req.clone(), options(), uri()).prop_map(|(request, options, topic)| {
                Message::Publish {
                    request,
                    options,
                    topic,
                    payload: Payload::args(list![1]),
                }
            }),
            (req.clone(), options(), uri()).prop_map(|(request, options, procedure)| {
                Message::Register {
                    request,
                    options,
                    procedure,
                }
            }),
            (req.clone(), id.clone()).prop_map(|(request, registration)| {
                Message::Unregister {
                    request,
                    registration,
                }
            }),
            (req.clone(), options(), uri()).prop_map(|(request, options, procedure)| {
                Message::Call {
                    request,
                    options,
                    procedure,
                    payload: Payload::default(),
                }
            }),
            (req.clone(), options())
                .prop_map(|(request, options)| Message::Cancel { request, options }),
            (id.clone(), options()).prop_map(|(request, options)| Message::Yield {
                request,
                options,
                payload: Payload::default(),
            }),
            (
                id.clone(),
                prop::sample::select(vec![code::INVOCATION, code::CALL])
            )
                .prop_map(|(request, t)| Message::Error {
                    request_type: t,
                    request,
                    details: Dict::new(),
                    error: "com.err".into(),
                    payload: Payload::default(),
                }),
            meta_call(),
            id.prop_map(|request| Message::Interrupt {
                request,
                options: Dict::new(),
            }),
        ]
    }

    fn op() -> impl Strategy<Value = Op> {
        let s = 1..5u64;
        prop_oneof![
            1 => s.clone().prop_map(Op::Join),
            1 => s.clone().prop_map(Op::Leave),
            1 => (1..10u64).prop_map(Op::Timer),
            12 => (s, message()).prop_map(|(s, m)| Op::Msg(s, m)),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        #[test]
        fn random_traffic_keeps_state_consistent(ops in prop::collection::vec(op(), 1..80)) {
            let mut h = Harness::new();
            for s in 1..5 {
                h.join(s);
            }
            for op in ops {
                let before = h.realm.session_ids();
                let acts = match op {
                    Op::Join(s) => h.join(s),
                    Op::Leave(s) => h.leave(s),
                    Op::Timer(c) => h.timer(TimerKey::CallTimeout(c)),
                    Op::Msg(s, m) => h.send(s, m),
                };
                let after = h.realm.session_ids();
                let mut closed = Vec::new();
                for a in &acts {
                    match a {
                        Action::Send(s, m) => {
                            prop_assert!(before.contains(s) || after.contains(s), "{m:?} to {s}");
                            prop_assert!(!closed.contains(s), "{m:?} to {s} after Close");
                        }
                        Action::Close { session, .. } => {
                            prop_assert!(!after.contains(session));
                            closed.push(*session);
                        }
                        Action::Timer { .. } => {}
                    }
                }
            }
            for s in h.realm.session_ids() {
                h.leave(s);
            }
            prop_assert_eq!(h.realm.session_count(), 0);
            prop_assert!(h.realm.broker.is_idle());
            prop_assert!(h.realm.dealer.is_idle());
            prop_assert!(h.realm.testaments.is_idle());
        }
    }
}
