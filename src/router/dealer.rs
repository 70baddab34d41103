//! The dealer: registrations, call routing, shared and pattern-based registrations,
//! caller identification, call timeouts, canceling and progressive results
//! (spec: basic/remote_procedure_call.md, advanced/rpc_*.md).
//!
//! A call lives from CALL until the final RESULT/ERROR reaches the caller (or the
//! call is canceled, times out, or one side leaves). Calls are indexed by the
//! caller's request id and by the callee's invocation id, per session, so a YIELD
//! or CANCEL is one lookup and `leave` only visits the calls of that session.
//!
//! Decisions the spec leaves open:
//! - A callee that unregisters keeps its pending invocations: their YIELD/ERROR still
//!   reach the caller (only new calls stop being routed to it).
//! - CANCEL without `mode` means `killnowait`; an unknown mode is a protocol violation
//!   (there is no ERROR reply to CANCEL in the spec). CANCEL of an unknown or finished
//!   call is ignored.
//! - Timeout and caller-gone INTERRUPTs use `mode: killnowait`; a timeout adds
//!   `reason: wamp.error.timeout`.

use std::collections::HashMap;
use std::time::Duration;

use rand::Rng;

use crate::dict;
use crate::wamp::ids::SequentialIds;
use crate::wamp::message::code;
use crate::wamp::uri::{is_reserved, is_valid as is_valid_uri, is_valid_pattern, MatchPolicy};
use crate::wamp::{uris, CancelMode, Dict, Id, InvokePolicy, Message, Payload, Value};

use super::pattern::{pattern_details, Pattern, PatternIndex};
use super::vocab::{
    enum_option, error, match_policy, topic, Action, Catalog, Ctx, MetaEvent, SessionId, TimerKey,
    Violation, LIMIT_EXCEEDED,
};

/// One callee attached to a registration, with its own REGISTER options.
#[derive(Clone, Copy, Debug)]
struct Callee {
    session: SessionId,
    disclose_caller: bool,
    forward_timeout: bool,
}

#[derive(Debug)]
pub(crate) struct Registration {
    pub(crate) id: Id,
    pub(crate) uri: String,
    pub(crate) policy: MatchPolicy,
    pub(crate) invoke: InvokePolicy,
    pub(crate) created: Option<String>,
    /// In order of registration (for first/last/roundrobin).
    callees: Vec<Callee>,
    next_rr: usize,
}

impl Pattern for Registration {
    fn uri(&self) -> &str {
        &self.uri
    }

    fn policy(&self) -> MatchPolicy {
        self.policy
    }
}

impl Registration {
    /// `RegistrationDetails` of the meta API.
    pub(crate) fn details(&self) -> Dict {
        let mut d = pattern_details(self.id, self.created.as_deref(), &self.uri, self.policy);
        d.insert("invoke".into(), self.invoke.as_str().into());
        d
    }

    pub(crate) fn callee_ids(&self) -> Vec<SessionId> {
        self.callees.iter().map(|c| c.session).collect()
    }

    fn pick(&mut self) -> Option<Callee> {
        let n = self.callees.len();
        if n == 0 {
            return None;
        }
        let i = match self.invoke {
            InvokePolicy::Single | InvokePolicy::First => 0,
            InvokePolicy::Last => n - 1,
            InvokePolicy::Random => rand::rng().random_range(0..n),
            InvokePolicy::RoundRobin => {
                let i = self.next_rr % n;
                self.next_rr = i + 1;
                i
            }
        };
        self.callees.get(i).copied()
    }
}

/// A call in flight.
#[derive(Debug)]
struct Call {
    caller: SessionId,
    caller_request: Id,
    callee: SessionId,
    invocation: Id,
    /// Progressive results were asked for and forwarded to the callee.
    progress: bool,
    /// The callee may be sent INTERRUPT.
    interruptible: bool,
    /// Dealer-side timeout, restarted by each progressive result.
    timeout: Option<Duration>,
    /// Timers asked for and not fired yet; only the last one to fire counts.
    timers: u32,
    /// A `kill` CANCEL was forwarded; waiting for the callee's answer.
    killing: bool,
}

/// Calls of one session, both directions.
#[derive(Debug, Default)]
struct SessionCalls {
    /// Caller side: CALL.Request -> call.
    by_request: HashMap<Id, Id>,
    /// Callee side: INVOCATION.Request -> call.
    by_invocation: HashMap<Id, Id>,
    invocation_ids: SequentialIds,
}

#[derive(Debug, Default)]
pub(crate) struct Dealer {
    regs: PatternIndex<Registration>,
    reg_ids: SequentialIds,
    calls: HashMap<Id, Call>,
    session_calls: HashMap<SessionId, SessionCalls>,
    call_ids: SequentialIds,
}

fn call_error(request: Id, uri: &str, message: Option<&str>) -> Message {
    error(code::CALL, request, uri, message.map(str::to_owned))
}

impl Dealer {
    /// The registration for exactly this (uri, policy), if any.
    pub(crate) fn lookup(&self, uri: &str, policy: MatchPolicy) -> Option<Id> {
        self.regs.lookup(uri, policy)
    }

    #[cfg(test)]
    pub(crate) fn get(&self, id: Id) -> Option<&Registration> {
        self.regs.get(id)
    }

    /// The single registration a call to `uri` is routed to
    /// (rpc_pattern_based_registration.md): exact, else the longest prefix, else the
    /// wildcard with the longest literal runs before each wildcard.
    fn best_match(&self, uri: &str) -> Option<Id> {
        self.regs.best_match(uri)
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn register(
        &mut self,
        ctx: Ctx<'_>,
        session: SessionId,
        request: Id,
        options: &Dict,
        procedure: String,
        meta_out: &mut Vec<MetaEvent>,
        out: &mut Vec<Action>,
    ) {
        let fail = |out: &mut Vec<Action>, uri: &str, msg: String| {
            out.push(Action::Send(
                session,
                error(code::REGISTER, request, uri, Some(msg)),
            ));
        };
        let parsed = match_policy(options).and_then(|m| {
            let invoke = enum_option(options, "invoke", "invocation policy", InvokePolicy::parse)?;
            Ok((m, invoke))
        });
        let (policy, invoke) = match parsed {
            Ok(p) => p,
            Err(m) => return fail(out, uris::INVALID_ARGUMENT, m),
        };
        let mut flags = [false; 2];
        for (i, key) in ["disclose_caller", "forward_timeout"]
            .into_iter()
            .enumerate()
        {
            match options.get(key) {
                None => {}
                Some(Value::Bool(b)) => flags[i] = *b,
                Some(_) => {
                    return fail(
                        out,
                        uris::INVALID_ARGUMENT,
                        format!("option '{key}' must be a bool"),
                    )
                }
            }
        }
        if !is_valid_pattern(&procedure, policy, ctx.config.uri_check) {
            return fail(
                out,
                uris::INVALID_URI,
                format!(
                    "invalid procedure URI '{procedure}' for match policy {}",
                    policy.as_str()
                ),
            );
        }
        if is_reserved(&procedure) {
            return fail(
                out,
                uris::INVALID_URI,
                format!("register for reserved procedure URI '{procedure}'"),
            );
        }
        let existing = self.lookup(&procedure, policy);
        let again = existing.is_some_and(|id| self.regs.is_attached(session, id));
        let cap = ctx.config.max_registrations_per_session;
        if !again && self.regs.attached_count(session) >= cap {
            return fail(
                out,
                LIMIT_EXCEEDED,
                format!(
                    "the session already has {cap} registrations (max_registrations_per_session)"
                ),
            );
        }
        let callee = Callee {
            session,
            disclose_caller: flags[0],
            forward_timeout: flags[1],
        };
        let id = match existing {
            Some(id) => {
                let Some(reg) = self.regs.get_mut(id) else {
                    return;
                };
                if reg.invoke == InvokePolicy::Single || reg.invoke != invoke {
                    return fail(
                        out,
                        uris::PROCEDURE_ALREADY_EXISTS,
                        format!(
                            "procedure '{procedure}' is already registered with invocation policy '{}'",
                            reg.invoke.as_str()
                        ),
                    );
                }
                if !reg.callees.iter().any(|c| c.session == session) {
                    reg.callees.push(callee);
                    meta_out.push(MetaEvent::new(
                        topic::REGISTRATION_ON_REGISTER,
                        vec![session.into(), id.into()],
                    ));
                }
                id
            }
            None => {
                let id = self.reg_ids.next();
                let reg = Registration {
                    id,
                    uri: procedure,
                    policy,
                    invoke,
                    created: ctx.created(),
                    callees: vec![callee],
                    next_rr: 0,
                };
                meta_out.push(MetaEvent::new(
                    topic::REGISTRATION_ON_CREATE,
                    vec![session.into(), Value::Dict(reg.details())],
                ));
                meta_out.push(MetaEvent::new(
                    topic::REGISTRATION_ON_REGISTER,
                    vec![session.into(), id.into()],
                ));
                self.regs.insert(id, reg);
                id
            }
        };
        self.regs.attach(session, id);
        out.push(Action::Send(
            session,
            Message::Registered {
                request,
                registration: id,
            },
        ));
    }

    pub(crate) fn unregister(
        &mut self,
        session: SessionId,
        request: Id,
        registration: Id,
        meta_out: &mut Vec<MetaEvent>,
        out: &mut Vec<Action>,
    ) {
        let owned = self
            .regs
            .get(registration)
            .is_some_and(|r| r.callees.iter().any(|c| c.session == session));
        if !owned {
            out.push(Action::Send(
                session,
                error(code::UNREGISTER, request, uris::NO_SUCH_REGISTRATION, None),
            ));
            return;
        }
        self.regs.unattach(session, registration);
        self.detach(session, registration, meta_out);
        out.push(Action::Send(
            session,
            Message::Unregistered {
                request,
                details: None,
            },
        ));
    }

    /// Remove `session` from registration `id`, deleting it after the last callee.
    fn detach(&mut self, session: SessionId, id: Id, meta_out: &mut Vec<MetaEvent>) {
        let Some(reg) = self.regs.get_mut(id) else {
            return;
        };
        let Some(pos) = reg.callees.iter().position(|c| c.session == session) else {
            return;
        };
        reg.callees.remove(pos);
        if pos < reg.next_rr {
            // Keep the round-robin cursor on the callee that was due next.
            reg.next_rr -= 1;
        }
        meta_out.push(MetaEvent::new(
            topic::REGISTRATION_ON_UNREGISTER,
            vec![session.into(), id.into()],
        ));
        if !reg.callees.is_empty() {
            return;
        }
        if self.regs.remove(id).is_none() {
            return;
        }
        meta_out.push(MetaEvent::new(
            topic::REGISTRATION_ON_DELETE,
            vec![session.into(), id.into()],
        ));
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn call(
        &mut self,
        ctx: Ctx<'_>,
        caller: SessionId,
        request: Id,
        options: &Dict,
        procedure: &str,
        payload: Payload,
        out: &mut Vec<Action>,
    ) -> Result<(), Violation> {
        if self
            .session_calls
            .get(&caller)
            .is_some_and(|c| c.by_request.contains_key(&request))
        {
            return Err(Violation(format!(
                "CALL with request id {request} while a call with that id is pending"
            )));
        }
        let fail = |out: &mut Vec<Action>, uri: &str, msg: String| {
            out.push(Action::Send(caller, call_error(request, uri, Some(&msg))));
        };
        if !is_valid_uri(procedure, ctx.config.uri_check) {
            fail(
                out,
                uris::INVALID_URI,
                format!("invalid procedure URI '{procedure}'"),
            );
            return Ok(());
        }
        let mut timeout_ms = 0u64;
        let mut receive_progress = false;
        let mut disclose_me = false;
        for (k, v) in options {
            let ok = match k.as_str() {
                "timeout" => v.as_u64().map(|t| timeout_ms = t).is_some(),
                "receive_progress" => v.as_bool().map(|b| receive_progress = b).is_some(),
                "disclose_me" => v.as_bool().map(|b| disclose_me = b).is_some(),
                _ => true,
            };
            if !ok {
                fail(
                    out,
                    uris::INVALID_ARGUMENT,
                    format!("option '{k}' has an invalid value"),
                );
                return Ok(());
            }
        }
        let Some(reg_id) = self.best_match(procedure) else {
            fail(
                out,
                uris::NO_SUCH_PROCEDURE,
                format!("no callee registered for procedure '{procedure}'"),
            );
            return Ok(());
        };
        let Some(reg) = self.regs.get_mut(reg_id) else {
            return Ok(());
        };
        let pattern = reg.policy != MatchPolicy::Exact;
        let Some(callee) = reg.pick() else {
            fail(
                out,
                uris::NO_SUCH_PROCEDURE,
                format!("no callee for '{procedure}'"),
            );
            return Ok(());
        };
        let (interruptible, progressive) = ctx
            .sessions
            .get(callee.session)
            .map_or((false, false), |s| {
                (s.callee_canceling, s.callee_progressive)
            });

        let mut details = Dict::new();
        if pattern {
            details.insert("procedure".into(), procedure.into());
        }
        if disclose_me || callee.disclose_caller {
            if let Some(s) = ctx.sessions.get(caller) {
                details.insert("caller".into(), caller.into());
                details.insert("caller_authid".into(), s.info.authid.as_str().into());
                details.insert("caller_authrole".into(), s.info.authrole.as_str().into());
            }
        }
        let progress = receive_progress && progressive;
        if progress {
            details.insert("receive_progress".into(), true.into());
        }
        let mut timeout = (timeout_ms > 0).then(|| Duration::from_millis(timeout_ms));
        if callee.forward_timeout && timeout.is_some() {
            // Callee-initiated timeout: it handles the timer itself.
            details.insert("timeout".into(), timeout_ms.into());
            timeout = None;
        }

        let callee_calls = self.session_calls.entry(callee.session).or_default();
        let invocation = callee_calls.invocation_ids.next();
        let call_id = self.call_ids.next();
        callee_calls.by_invocation.insert(invocation, call_id);
        self.session_calls
            .entry(caller)
            .or_default()
            .by_request
            .insert(request, call_id);
        self.calls.insert(
            call_id,
            Call {
                caller,
                caller_request: request,
                callee: callee.session,
                invocation,
                progress,
                interruptible,
                timeout,
                timers: u32::from(timeout.is_some()),
                killing: false,
            },
        );
        out.push(Action::Send(
            callee.session,
            Message::Invocation {
                request: invocation,
                registration: reg_id,
                details,
                payload,
            },
        ));
        if let Some(after) = timeout {
            out.push(Action::Timer {
                key: TimerKey::CallTimeout(call_id),
                after,
            });
        }
        Ok(())
    }

    /// Forget a call and its indexes.
    fn take_call(&mut self, call_id: Id) -> Option<Call> {
        let call = self.calls.remove(&call_id)?;
        for (session, caller_side) in [(call.caller, true), (call.callee, false)] {
            if let Some(sc) = self.session_calls.get_mut(&session) {
                if caller_side {
                    sc.by_request.remove(&call.caller_request);
                } else {
                    sc.by_invocation.remove(&call.invocation);
                }
            }
        }
        Some(call)
    }

    fn call_by_invocation(&self, callee: SessionId, invocation: Id) -> Option<Id> {
        self.session_calls
            .get(&callee)?
            .by_invocation
            .get(&invocation)
            .copied()
    }

    pub(crate) fn yield_(
        &mut self,
        callee: SessionId,
        invocation: Id,
        options: &Dict,
        payload: Payload,
        out: &mut Vec<Action>,
    ) {
        // Unknown invocation: the call was canceled, timed out or its caller left.
        let Some(call_id) = self.call_by_invocation(callee, invocation) else {
            return;
        };
        let progress = options.get("progress").and_then(Value::as_bool) == Some(true);
        if progress {
            let Some(call) = self.calls.get_mut(&call_id) else {
                return;
            };
            if !call.progress {
                return; // the caller did not ask for progressive results
            }
            out.push(Action::Send(
                call.caller,
                Message::Result {
                    request: call.caller_request,
                    details: dict! {"progress" => true},
                    payload,
                },
            ));
            if let Some(after) = call.timeout {
                call.timers = call.timers.saturating_add(1);
                out.push(Action::Timer {
                    key: TimerKey::CallTimeout(call_id),
                    after,
                });
            }
            return;
        }
        if let Some(call) = self.take_call(call_id) {
            out.push(Action::Send(
                call.caller,
                Message::Result {
                    request: call.caller_request,
                    details: Dict::new(),
                    payload,
                },
            ));
        }
    }

    pub(crate) fn invocation_error(
        &mut self,
        callee: SessionId,
        invocation: Id,
        details: Dict,
        error: String,
        payload: Payload,
        out: &mut Vec<Action>,
    ) {
        let Some(call_id) = self.call_by_invocation(callee, invocation) else {
            return;
        };
        if let Some(call) = self.take_call(call_id) {
            out.push(Action::Send(
                call.caller,
                Message::Error {
                    request_type: code::CALL,
                    request: call.caller_request,
                    details,
                    error,
                    payload,
                },
            ));
        }
    }

    pub(crate) fn cancel(
        &mut self,
        caller: SessionId,
        request: Id,
        options: &Dict,
        out: &mut Vec<Action>,
    ) -> Result<(), Violation> {
        let mode = match options.get("mode") {
            None => CancelMode::KillNoWait,
            Some(v) => match v.as_str().and_then(CancelMode::parse) {
                Some(m) => m,
                None => return Err(Violation(format!("CANCEL with invalid mode {v}"))),
            },
        };
        let Some(call_id) = self
            .session_calls
            .get(&caller)
            .and_then(|c| c.by_request.get(&request))
            .copied()
        else {
            return Ok(()); // already finished
        };
        let Some(call) = self.calls.get_mut(&call_id) else {
            return Ok(());
        };
        // A callee that cannot be interrupted degrades every mode to skip.
        let mode = if call.interruptible {
            mode
        } else {
            CancelMode::Skip
        };
        if mode == CancelMode::Kill {
            if !call.killing {
                call.killing = true;
                out.push(Action::Send(
                    call.callee,
                    Message::Interrupt {
                        request: call.invocation,
                        options: dict! {"mode" => CancelMode::Kill.as_str()},
                    },
                ));
            }
            return Ok(());
        }
        let Some(call) = self.take_call(call_id) else {
            return Ok(());
        };
        out.push(Action::Send(
            call.caller,
            call_error(call.caller_request, uris::CANCELED, None),
        ));
        if mode == CancelMode::KillNoWait {
            out.push(Action::Send(
                call.callee,
                Message::Interrupt {
                    request: call.invocation,
                    options: dict! {"mode" => CancelMode::KillNoWait.as_str()},
                },
            ));
        }
        Ok(())
    }

    /// A call timer fired.
    pub(crate) fn timeout(&mut self, call_id: Id, out: &mut Vec<Action>) {
        let Some(call) = self.calls.get_mut(&call_id) else {
            return; // finished already
        };
        call.timers = call.timers.saturating_sub(1);
        if call.timers > 0 {
            return; // restarted by a progressive result since this timer was set
        }
        let Some(call) = self.take_call(call_id) else {
            return;
        };
        out.push(Action::Send(
            call.caller,
            call_error(call.caller_request, uris::TIMEOUT, None),
        ));
        if call.interruptible {
            out.push(Action::Send(
                call.callee,
                Message::Interrupt {
                    request: call.invocation,
                    options: dict! {"mode" => CancelMode::KillNoWait.as_str(), "reason" => uris::TIMEOUT},
                },
            ));
        }
    }

    /// No registration, call or per-session state left.
    #[cfg(test)]
    pub(crate) fn is_idle(&self) -> bool {
        self.regs.is_empty() && self.calls.is_empty() && self.session_calls.is_empty()
    }

    /// Drop everything of a session that is gone: its pending calls in both
    /// directions and its registrations.
    pub(crate) fn leave(
        &mut self,
        session: SessionId,
        meta_out: &mut Vec<MetaEvent>,
        out: &mut Vec<Action>,
    ) {
        if let Some(sc) = self.session_calls.remove(&session) {
            let mut as_callee: Vec<Id> = sc.by_invocation.into_values().collect();
            let mut as_caller: Vec<Id> = sc.by_request.into_values().collect();
            as_callee.sort_unstable();
            as_caller.sort_unstable();
            // Callee gone: the callers get ERROR canceled (basic profile, "Callee
            // Leaving During an RPC Invocation").
            for id in as_callee {
                let Some(call) = self.take_call(id) else {
                    continue;
                };
                if call.caller != session {
                    out.push(Action::Send(
                        call.caller,
                        call_error(call.caller_request, uris::CANCELED, Some("callee left")),
                    ));
                }
            }
            // Caller gone: interrupt callees that support it, forget the call.
            for id in as_caller {
                let Some(call) = self.take_call(id) else {
                    continue;
                };
                if call.callee != session && call.interruptible {
                    out.push(Action::Send(
                        call.callee,
                        Message::Interrupt {
                            request: call.invocation,
                            options: dict! {"mode" => CancelMode::KillNoWait.as_str()},
                        },
                    ));
                }
            }
        }
        for id in self.regs.take_session(session) {
            self.detach(session, id, meta_out);
        }
    }
}

impl Catalog for Dealer {
    fn list(&self) -> [Vec<Id>; 3] {
        self.regs.list()
    }

    fn lookup(&self, uri: &str, policy: MatchPolicy) -> Option<Id> {
        self.regs.lookup(uri, policy)
    }

    /// The registration a call to `uri` is routed to, if any.
    fn matching(&self, uri: &str) -> Vec<Id> {
        self.best_match(uri).into_iter().collect()
    }

    fn details(&self, id: Id) -> Option<Dict> {
        self.regs.get(id).map(Registration::details)
    }

    fn attached(&self, id: Id) -> Option<Vec<SessionId>> {
        self.regs.get(id).map(Registration::callee_ids)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use super::super::vocab::{Action, TimerKey};
    use crate::wamp::{message::code, uris, Dict, Message, Payload, Value};
    use crate::{dict, list};
    use std::time::Duration;

    /// Sessions 1 (caller) and 2 (callee, supports canceling and progress).
    fn setup() -> Harness {
        let mut h = Harness::new();
        h.join(1);
        h.join(2);
        h
    }

    #[test]
    fn registrations_per_session_are_capped() {
        let mut cfg = test_config();
        cfg.max_registrations_per_session = 1;
        let mut h = Harness::with_config(cfg);
        h.join(1);
        h.join(2);
        let shared = dict! {"invoke" => "roundrobin"};
        let id = h.register(1, shared.clone(), "com.p");
        let acts = h.send(1, register(2, "com.q"));
        assert_error(&acts, 1, code::REGISTER, 2, "verger.error.limit_exceeded");
        // Joining the same shared registration again is not a new one.
        assert_eq!(h.register(1, shared.clone(), "com.p"), id);
        // Another session has its own count.
        assert_eq!(h.register(2, shared, "com.p"), id);
        // Unregistering makes room.
        h.send(1, unregister(3, id));
        h.register(1, dict! {}, "com.q");
    }

    #[test]
    fn register_call_yield_result() {
        let mut h = setup();
        let acts = h.send(2, register(5, "com.myapp.add2"));
        assert_eq!(
            acts,
            vec![Action::Send(
                2,
                Message::Registered {
                    request: 5,
                    registration: 1
                }
            )]
        );
        let acts = h.send(1, call(9, "com.myapp.add2", list![23, 7]));
        assert_eq!(
            acts,
            vec![Action::Send(
                2,
                Message::Invocation {
                    request: 1,
                    registration: 1,
                    details: Dict::new(),
                    payload: Payload::args(list![23, 7]),
                }
            )]
        );
        let acts = h.send(2, yield_(1, list![30]));
        assert_eq!(
            acts,
            vec![Action::Send(1, result(9, Dict::new(), list![30]))]
        );
        // Invocation ids are sequential per callee session.
        h.send(1, call(10, "com.myapp.add2", list![]));
        let acts = h.send(1, call(11, "com.myapp.add2", list![]));
        assert_eq!(invocation(&acts, 2).request, 3);
        // A late or repeated YIELD for a finished invocation is ignored.
        assert!(h.send(2, yield_(1, list![])).is_empty());
        assert!(h
            .send(2, error_msg(code::INVOCATION, 77, "com.err"))
            .is_empty());
        assert_eq!(h.realm.session_count(), 2);
    }

    #[test]
    fn callee_error_reaches_caller_unchanged() {
        let mut h = setup();
        h.register(2, dict! {}, "com.p");
        h.send(1, call(4, "com.p", list![]));
        let err = Message::Error {
            request_type: code::INVOCATION,
            request: 1,
            details: dict! {"x" => 1},
            error: "com.myapp.error.object_write_protected".into(),
            payload: Payload::from_parts(
                Some(list!["Object is write protected."]),
                Some(dict! {"severity" => 3}),
            ),
        };
        let acts = h.send(2, err);
        assert_eq!(
            acts,
            vec![Action::Send(
                1,
                Message::Error {
                    request_type: code::CALL,
                    request: 4,
                    details: dict! {"x" => 1},
                    error: "com.myapp.error.object_write_protected".into(),
                    payload: Payload::from_parts(
                        Some(list!["Object is write protected."]),
                        Some(dict! {"severity" => 3})
                    ),
                }
            )]
        );
        // The shell turns an oversized YIELD into this ERROR: routed the same way.
        h.send(1, call(5, "com.p", list![]));
        let acts = h.send(
            2,
            error_msg(code::INVOCATION, 2, uris::PAYLOAD_SIZE_EXCEEDED),
        );
        assert_error(&acts, 1, code::CALL, 5, uris::PAYLOAD_SIZE_EXCEEDED);
    }

    #[test]
    fn call_errors_before_routing() {
        let mut h = setup();
        let acts = h.send(1, call(1, "com.nothing", list![]));
        assert_error(&acts, 1, code::CALL, 1, uris::NO_SUCH_PROCEDURE);
        let acts = h.send(1, call(2, "com..bad", list![]));
        assert_error(&acts, 1, code::CALL, 2, uris::INVALID_URI);
        h.register(2, dict! {}, "com.p");
        let acts = h.send(
            1,
            call_opts(3, dict! {"timeout" => "soon"}, "com.p", list![]),
        );
        assert_error(&acts, 1, code::CALL, 3, uris::INVALID_ARGUMENT);
        let acts = h.send(1, call_opts(4, dict! {"timeout" => -5}, "com.p", list![]));
        assert_error(&acts, 1, code::CALL, 4, uris::INVALID_ARGUMENT);
        let acts = h.send(1, call(5, "wamp.no.such.meta", list![]));
        assert_error(&acts, 1, code::CALL, 5, uris::NO_SUCH_PROCEDURE);
    }

    #[test]
    fn register_errors() {
        let mut h = setup();
        let cases: Vec<(Dict, &str, &str)> = vec![
            (dict! {}, "com..p", uris::INVALID_URI),
            (dict! {}, "wamp.session.count", uris::INVALID_URI),
            (dict! {"match" => "prefix"}, "wamp.", uris::INVALID_URI),
            (dict! {"match" => "fuzzy"}, "com.p", uris::INVALID_ARGUMENT),
            (
                dict! {"invoke" => "sometimes"},
                "com.p",
                uris::INVALID_ARGUMENT,
            ),
            (dict! {"invoke" => 1}, "com.p", uris::INVALID_ARGUMENT),
            (
                dict! {"disclose_caller" => "yes"},
                "com.p",
                uris::INVALID_ARGUMENT,
            ),
        ];
        for (i, (opts, uri, err)) in cases.into_iter().enumerate() {
            let req = i as u64 + 1;
            let acts = h.send(2, register_opts(req, opts, uri));
            assert_error(&acts, 2, code::REGISTER, req, err);
        }
        let acts = h.send(2, unregister(50, 12345));
        assert_error(&acts, 2, code::UNREGISTER, 50, uris::NO_SUCH_REGISTRATION);
    }

    #[test]
    fn exact_registration_conflicts_and_shared_registrations() {
        let mut h = setup();
        h.join(3);
        let id = h.register(2, dict! {}, "com.p");
        let acts = h.send(3, register(1, "com.p"));
        assert_error(&acts, 3, code::REGISTER, 1, uris::PROCEDURE_ALREADY_EXISTS);
        // Also for the same session registering twice with `single`.
        let acts = h.send(2, register(2, "com.p"));
        assert_error(&acts, 2, code::REGISTER, 2, uris::PROCEDURE_ALREADY_EXISTS);
        // The same URI with another match policy is a different registration.
        let p = h.register(3, dict! {"match" => "prefix"}, "com.p");
        assert_ne!(id, p);

        let rr = dict! {"invoke" => "roundrobin"};
        let shared = h.register(2, rr.clone(), "com.shared");
        assert_eq!(h.register(3, rr.clone(), "com.shared"), shared);
        assert_eq!(
            h.register(3, rr, "com.shared"),
            shared,
            "same callee again: same id"
        );
        let acts = h.send(
            1,
            register_opts(9, dict! {"invoke" => "random"}, "com.shared"),
        );
        assert_error(&acts, 1, code::REGISTER, 9, uris::PROCEDURE_ALREADY_EXISTS);
        let acts = h.send(1, register(10, "com.shared"));
        assert_error(&acts, 1, code::REGISTER, 10, uris::PROCEDURE_ALREADY_EXISTS);
        assert_eq!(h.realm.dealer.get(shared).unwrap().callee_ids(), vec![2, 3]);
    }

    /// Which callee each of `n` calls to `procedure` goes to.
    fn route(h: &mut Harness, procedure: &str, n: u64) -> Vec<u64> {
        (0..n)
            .map(|i| {
                let acts = h.send(1, call(1000 + i, procedure, list![]));
                let to = receivers(&acts);
                assert_eq!(to.len(), 1, "{acts:?}");
                // Finish the call so request ids can repeat.
                let inv = invocation(&acts, to[0]);
                h.send(to[0], yield_(inv.request, list![]));
                to[0]
            })
            .collect()
    }

    #[test]
    fn shared_registration_invocation_policies() {
        let mut h = setup();
        for s in [3, 4] {
            h.join(s);
        }
        for (policy, expect) in [
            ("roundrobin", vec![2, 3, 4, 2, 3]),
            ("first", vec![2, 2, 2]),
            ("last", vec![4, 4, 4]),
        ] {
            let uri = format!("com.{policy}");
            for s in [2, 3, 4] {
                h.register(s, dict! {"invoke" => policy}, &uri);
            }
            assert_eq!(route(&mut h, &uri, expect.len() as u64), expect, "{policy}");
        }
        for s in [2, 3, 4] {
            h.register(s, dict! {"invoke" => "random"}, "com.random");
        }
        let picked = route(&mut h, "com.random", 30);
        assert!(picked.iter().all(|s| [2, 3, 4].contains(s)));

        // Hot standby: when the first callee goes away, `first` moves on.
        let first = h
            .realm
            .dealer
            .lookup("com.first", Default::default())
            .unwrap();
        h.send(2, unregister(1, first));
        assert_eq!(route(&mut h, "com.first", 2), vec![3, 3]);
        // Round robin keeps cycling over the remaining callees.
        h.leave(3);
        assert_eq!(route(&mut h, "com.roundrobin", 3), vec![4, 2, 4]);
    }

    #[test]
    fn pattern_registration_precedence_follows_spec() {
        let mut h = setup();
        let regs = [
            ("a1.b2.c3.d4.e55", "exact"),
            ("a1.b2.c3", "prefix"),
            ("a1.b2.c3.d4", "prefix"),
            ("a1.b2..d4.e5", "wildcard"),
            ("a1.b2.c33..e5", "wildcard"),
            ("a1.b2..d4.e5..g7", "wildcard"),
            ("a1.b2..d4..f6.g7", "wildcard"),
        ];
        let ids: Vec<u64> = regs
            .iter()
            .map(|(uri, m)| h.register(2, dict! {"match" => *m}, uri))
            .collect();
        for (uri, expect) in [
            ("a1.b2.c3.d4.e55", Some(0)),
            ("a1.b2.c3.d98.e74", Some(1)),
            ("a1.b2.c3.d4.e325", Some(2)),
            ("a1.b2.c55.d4.e5", Some(3)),
            // The spec's example says "no prefix match" here, but its own definition
            // makes prefix matching a string prefix (`myobject1` matches
            // `myobject1-mysubobject1`), so `a1.b2.c3` matches: Crossbar agrees.
            ("a1.b2.c33.d4.e5", Some(1)),
            ("a1.b2.c88.d4.e5.f6.g7", Some(5)),
            ("a2.b2.c2.d2.e2", None),
        ] {
            let acts = h.send(1, call(1, uri, list![]));
            match expect {
                Some(i) => {
                    let inv = invocation(&acts, 2);
                    assert_eq!(inv.registration, ids[i], "{uri}");
                    if i == 0 {
                        assert!(inv.details.is_empty());
                    } else {
                        assert_eq!(inv.details, dict! {"procedure" => uri});
                    }
                    h.send(2, yield_(inv.request, list![]));
                }
                None => assert_error(&acts, 1, code::CALL, 1, uris::NO_SUCH_PROCEDURE),
            }
        }
    }

    #[test]
    fn wildcard_precedence_without_prefixes() {
        let mut h = setup();
        let r4 = h.register(2, dict! {"match" => "wildcard"}, "a1.b2..d4.e5");
        let r5 = h.register(2, dict! {"match" => "wildcard"}, "a1.b2.c33..e5");
        for (uri, expect) in [("a1.b2.c33.d4.e5", r5), ("a1.b2.c34.d4.e5", r4)] {
            let inv = invocation(&h.send(1, call(1, uri, list![])), 2);
            assert_eq!(inv.registration, expect, "{uri}");
            h.send(2, yield_(inv.request, list![]));
        }
    }

    #[test]
    fn caller_identification() {
        let mut h = Harness::new();
        h.join_as(1, "alice", "operator");
        h.join(2);
        h.register(2, dict! {}, "com.p");
        h.register(2, dict! {"disclose_caller" => true}, "com.q");
        let who =
            dict! {"caller" => 1u64, "caller_authid" => "alice", "caller_authrole" => "operator"};
        let acts = h.send(
            1,
            call_opts(1, dict! {"disclose_me" => true}, "com.p", list![]),
        );
        assert_eq!(invocation(&acts, 2).details, who);
        let acts = h.send(1, call(2, "com.p", list![]));
        assert!(invocation(&acts, 2).details.is_empty());
        let acts = h.send(1, call(3, "com.q", list![]));
        assert_eq!(invocation(&acts, 2).details, who);
    }

    #[test]
    fn dealer_timeout_errors_caller_and_interrupts_callee() {
        let mut h = setup();
        h.register(2, dict! {}, "com.slow");
        let acts = h.send(
            1,
            call_opts(7, dict! {"timeout" => 1500}, "com.slow", list![]),
        );
        let inv = invocation(&acts, 2);
        assert!(inv.details.is_empty(), "timeout not forwarded by default");
        let t = timers(&acts);
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].1, Duration::from_millis(1500));
        let acts = h.timer(t[0].0);
        assert_eq!(acts.len(), 2);
        assert_error(&acts[..1], 1, code::CALL, 7, uris::TIMEOUT);
        assert_eq!(
            acts[1],
            Action::Send(
                2,
                Message::Interrupt {
                    request: inv.request,
                    options: dict! {"mode" => "killnowait", "reason" => uris::TIMEOUT},
                }
            )
        );
        // The callee's late answer is dropped; a second firing is ignored.
        assert!(h.send(2, yield_(inv.request, list![])).is_empty());
        assert!(h.timer(t[0].0).is_empty());

        // A call that finished before its timer: the timer is ignored.
        let acts = h.send(
            1,
            call_opts(8, dict! {"timeout" => 10}, "com.slow", list![]),
        );
        let key = timers(&acts)[0].0;
        h.send(2, yield_(invocation(&acts, 2).request, list![1]));
        assert!(h.timer(key).is_empty());
        // timeout 0 means no timeout.
        let acts = h.send(1, call_opts(9, dict! {"timeout" => 0}, "com.slow", list![]));
        assert!(timers(&acts).is_empty());
        assert!(h.timer(TimerKey::CallTimeout(9999)).is_empty());
    }

    #[test]
    fn timeout_without_canceling_callee_is_skip() {
        let mut h = setup();
        let mut info = session_info(3);
        info.roles = callee_roles(false, false);
        h.join_info(info);
        h.register(3, dict! {}, "com.old");
        let acts = h.send(1, call_opts(1, dict! {"timeout" => 5}, "com.old", list![]));
        let acts = h.timer(timers(&acts)[0].0);
        assert_eq!(receivers(&acts), vec![1]);
        assert_error(&acts, 1, code::CALL, 1, uris::TIMEOUT);
    }

    #[test]
    fn forward_timeout_lets_callee_time_out() {
        let mut h = setup();
        h.register(2, dict! {"forward_timeout" => true}, "com.fw");
        let acts = h.send(1, call_opts(1, dict! {"timeout" => 250}, "com.fw", list![]));
        assert!(timers(&acts).is_empty());
        let inv = invocation(&acts, 2);
        assert_eq!(inv.details, dict! {"timeout" => 250u64});
        let acts = h.send(2, error_msg(code::INVOCATION, inv.request, uris::TIMEOUT));
        assert_error(&acts, 1, code::CALL, 1, uris::TIMEOUT);
    }

    #[test]
    fn cancel_skip() {
        let mut h = setup();
        h.register(2, dict! {}, "com.p");
        let inv = invocation(&h.send(1, call(3, "com.p", list![])), 2);
        let acts = h.send(1, cancel(3, Some("skip")));
        assert_eq!(receivers(&acts), vec![1]);
        assert_error(&acts, 1, code::CALL, 3, uris::CANCELED);
        assert!(h.send(2, yield_(inv.request, list![])).is_empty());
        // Canceling again (or an unknown call) is ignored.
        assert!(h.send(1, cancel(3, Some("skip"))).is_empty());
    }

    #[test]
    fn cancel_kill_waits_for_callee() {
        let mut h = setup();
        h.register(2, dict! {}, "com.p");
        let inv = invocation(&h.send(1, call(3, "com.p", list![])), 2);
        let acts = h.send(1, cancel(3, Some("kill")));
        assert_eq!(interrupts(&acts, 2), vec![(inv.request, "kill".to_owned())]);
        assert_eq!(acts.len(), 1);
        assert!(
            h.send(1, cancel(3, Some("kill"))).is_empty(),
            "one INTERRUPT only"
        );
        let acts = h.send(2, error_msg(code::INVOCATION, inv.request, uris::CANCELED));
        assert_eq!(acts.len(), 1);
        assert_error(&acts, 1, code::CALL, 3, uris::CANCELED);
        // Or the callee finishes first: the caller gets the RESULT.
        let inv = invocation(&h.send(1, call(4, "com.p", list![])), 2);
        h.send(1, cancel(4, Some("kill")));
        let acts = h.send(2, yield_(inv.request, list![5]));
        assert_eq!(
            acts,
            vec![Action::Send(1, result(4, Dict::new(), list![5]))]
        );
    }

    #[test]
    fn cancel_killnowait_is_the_default() {
        for mode in [Some("killnowait"), None] {
            let mut h = setup();
            h.register(2, dict! {}, "com.p");
            let inv = invocation(&h.send(1, call(3, "com.p", list![])), 2);
            let acts = h.send(1, cancel(3, mode));
            assert_eq!(acts.len(), 2);
            assert_error(&acts[..1], 1, code::CALL, 3, uris::CANCELED);
            assert_eq!(
                interrupts(&acts, 2),
                vec![(inv.request, "killnowait".to_owned())]
            );
            assert!(h
                .send(2, error_msg(code::INVOCATION, inv.request, uris::CANCELED))
                .is_empty());
        }
    }

    #[test]
    fn cancel_degrades_to_skip_without_callee_support() {
        for mode in ["kill", "killnowait"] {
            let mut h = setup();
            let mut info = session_info(3);
            info.roles = callee_roles(false, true);
            h.join_info(info);
            h.register(3, dict! {}, "com.old");
            h.send(1, call(1, "com.old", list![]));
            let acts = h.send(1, cancel(1, Some(mode)));
            assert_eq!(receivers(&acts), vec![1], "{mode}");
            assert_error(&acts, 1, code::CALL, 1, uris::CANCELED);
        }
    }

    #[test]
    fn cancel_with_invalid_mode_is_a_violation() {
        let mut h = setup();
        h.register(2, dict! {}, "com.p");
        h.send(1, call(1, "com.p", list![]));
        let acts = h.send(1, cancel(1, Some("now")));
        assert!(matches!(
            acts.last(),
            Some(Action::Close { session: 1, .. })
        ));
        // The callee was told the caller is gone.
        assert_eq!(interrupts(&acts, 2).len(), 1);
    }

    #[test]
    fn progressive_results() {
        let mut h = setup();
        h.register(2, dict! {}, "com.stream");
        let acts = h.send(
            1,
            call_opts(
                5,
                dict! {"receive_progress" => true, "timeout" => 100},
                "com.stream",
                list![],
            ),
        );
        let inv = invocation(&acts, 2);
        assert_eq!(inv.details, dict! {"receive_progress" => true});
        let key = timers(&acts)[0].0;
        let acts = h.send(2, yield_progress(inv.request, list!["Y2010", 120]));
        assert_eq!(
            acts[0],
            Action::Send(
                1,
                result(5, dict! {"progress" => true}, list!["Y2010", 120])
            )
        );
        // Each progressive result restarts the timeout: the first timer is stale.
        assert_eq!(timers(&acts), vec![(key, Duration::from_millis(100))]);
        assert!(h.timer(key).is_empty());
        let acts = h.send(2, yield_(inv.request, list!["Total", 490]));
        assert_eq!(
            acts,
            vec![Action::Send(1, result(5, Dict::new(), list!["Total", 490]))]
        );
        assert!(h.timer(key).is_empty());
    }

    #[test]
    fn progressive_timeout_fires_after_last_result() {
        let mut h = setup();
        h.register(2, dict! {}, "com.stream");
        let opts = dict! {"receive_progress" => true, "timeout" => 100};
        let acts = h.send(1, call_opts(5, opts, "com.stream", list![]));
        let inv = invocation(&acts, 2);
        let key = timers(&acts)[0].0;
        h.send(2, yield_progress(inv.request, list![1]));
        assert!(h.timer(key).is_empty());
        let acts = h.timer(key);
        assert_error(&acts, 1, code::CALL, 5, uris::TIMEOUT);
    }

    #[test]
    fn progress_dropped_unless_asked_and_supported() {
        let mut h = setup();
        h.register(2, dict! {}, "com.stream");
        // The caller did not ask: progressive YIELDs are dropped.
        let inv = invocation(&h.send(1, call(5, "com.stream", list![])), 2);
        assert!(inv.details.is_empty());
        assert!(h.send(2, yield_progress(inv.request, list![1])).is_empty());
        let acts = h.send(2, yield_(inv.request, list![2]));
        assert_eq!(
            acts,
            vec![Action::Send(1, result(5, Dict::new(), list![2]))]
        );
        // A callee with progressive results but no call canceling (Autobahn|JS) still
        // streams: a deliberate deviation from the spec, as Crossbar.io does.
        let mut info = session_info(3);
        info.roles = callee_roles(false, true);
        h.join_info(info);
        h.register(3, dict! {}, "com.nocancel");
        let opts = dict! {"receive_progress" => true};
        let inv = invocation(&h.send(1, call_opts(6, opts, "com.nocancel", list![])), 3);
        assert_eq!(inv.details, dict! {"receive_progress" => true});
        let acts = h.send(3, yield_progress(inv.request, list![1]));
        assert_eq!(
            acts,
            vec![Action::Send(
                1,
                result(6, dict! {"progress" => true}, list![1])
            )]
        );
        // A callee that announced neither feature gets no receive_progress, and its
        // progressive YIELDs are dropped.
        let mut info = session_info(4);
        info.roles = callee_roles(false, false);
        h.join_info(info);
        h.register(4, dict! {}, "com.plain");
        let opts = dict! {"receive_progress" => true};
        let inv = invocation(&h.send(1, call_opts(7, opts, "com.plain", list![])), 4);
        assert!(inv.details.is_empty());
        assert!(h.send(4, yield_progress(inv.request, list![1])).is_empty());
    }

    #[test]
    fn callee_leaving_cancels_its_calls() {
        let mut h = setup();
        h.join(3);
        h.register(2, dict! {}, "com.p");
        h.send(1, call(1, "com.p", list![]));
        h.send(3, call(1, "com.p", list![]));
        h.send(1, call(2, "com.p", list![]));
        let acts = h.leave(2);
        let errs: Vec<_> = acts
            .iter()
            .filter(|a| matches!(a, Action::Send(_, Message::Error { .. })))
            .collect();
        assert_eq!(errs.len(), 3);
        assert_error(&acts, 1, code::CALL, 1, uris::CANCELED);
        assert_error(&acts, 1, code::CALL, 2, uris::CANCELED);
        assert_error(&acts, 3, code::CALL, 1, uris::CANCELED);
        // The caller can reuse its request ids and gets no_such_procedure now.
        let acts = h.send(1, call(1, "com.p", list![]));
        assert_error(&acts, 1, code::CALL, 1, uris::NO_SUCH_PROCEDURE);
    }

    #[test]
    fn caller_leaving_interrupts_callee() {
        let mut h = setup();
        let mut info = session_info(3);
        info.roles = callee_roles(false, false);
        h.join_info(info);
        h.register(2, dict! {}, "com.p");
        h.register(3, dict! {}, "com.q");
        let inv = invocation(&h.send(1, call(1, "com.p", list![])), 2);
        let inv3 = invocation(&h.send(1, call(2, "com.q", list![])), 3);
        let acts = h.leave(1);
        assert_eq!(
            acts,
            vec![Action::Send(
                2,
                Message::Interrupt {
                    request: inv.request,
                    options: dict! {"mode" => "killnowait"}
                }
            )]
        );
        assert!(h.send(2, yield_(inv.request, list![])).is_empty());
        assert!(h.send(3, yield_(inv3.request, list![])).is_empty());
    }

    #[test]
    fn session_calling_itself_can_leave() {
        let mut h = setup();
        h.register(2, dict! {}, "com.p");
        h.send(2, call(1, "com.p", list![]));
        let acts = h.leave(2);
        assert!(acts.is_empty(), "{acts:?}");
    }

    #[test]
    fn unregister_keeps_pending_calls() {
        let mut h = setup();
        let id = h.register(2, dict! {}, "com.p");
        let inv = invocation(&h.send(1, call(1, "com.p", list![])), 2);
        h.join(3);
        let acts = h.send(3, unregister(1, id));
        assert_error(&acts, 3, code::UNREGISTER, 1, uris::NO_SUCH_REGISTRATION);
        let acts = h.send(2, unregister(2, id));
        assert_eq!(
            acts,
            vec![Action::Send(
                2,
                Message::Unregistered {
                    request: 2,
                    details: None
                }
            )]
        );
        let acts = h.send(2, yield_(inv.request, list![1]));
        assert_eq!(
            acts,
            vec![Action::Send(1, result(1, Dict::new(), list![1]))]
        );
        let acts = h.send(1, call(2, "com.p", list![]));
        assert_error(&acts, 1, code::CALL, 2, uris::NO_SUCH_PROCEDURE);
        let acts = h.send(2, unregister(3, id));
        assert_error(&acts, 2, code::UNREGISTER, 3, uris::NO_SUCH_REGISTRATION);
    }

    #[test]
    fn duplicate_pending_call_id_is_a_violation() {
        let mut h = setup();
        h.register(2, dict! {}, "com.p");
        h.send(1, call(1, "com.p", list![]));
        let acts = h.send(1, call(1, "com.p", list![]));
        assert!(
            matches!(acts.last(), Some(Action::Close { session: 1, message: Message::Abort { reason, .. } }) if reason == uris::PROTOCOL_VIOLATION)
        );
    }

    #[test]
    fn registration_meta_events() {
        let mut h = setup();
        h.join(9);
        let topics = [
            "wamp.registration.on_create",
            "wamp.registration.on_register",
            "wamp.registration.on_unregister",
            "wamp.registration.on_delete",
        ];
        let subs: Vec<u64> = topics.iter().map(|t| h.subscribe(9, dict! {}, t)).collect();
        let acts = h.send(2, register_opts(1, dict! {"invoke" => "first"}, "com.p"));
        let id = registered_id(&acts, 2);
        let evs = events_to(&acts, 9);
        assert_eq!(evs.len(), 2);
        assert_eq!(evs[0].subscription, subs[0]);
        assert_eq!(
            evs[0].payload.args,
            Some(list![
                2u64,
                dict! {"id" => id, "created" => "2024-01-02T03:04:05.678Z",
                "uri" => "com.p", "match" => "exact", "invoke" => "first"}
            ])
        );
        assert_eq!(evs[1].subscription, subs[1]);
        assert_eq!(evs[1].payload.args, Some(list![2u64, id]));
        // A second callee: on_register only.
        let acts = h.send(1, register_opts(1, dict! {"invoke" => "first"}, "com.p"));
        let evs = events_to(&acts, 9);
        assert_eq!(evs.len(), 1);
        assert_eq!(evs[0].payload.args, Some(list![1u64, id]));
        // First callee unregisters: on_unregister only; the last leaves: both.
        let acts = h.send(2, unregister(2, id));
        assert_eq!(events_to(&acts, 9).len(), 1);
        let acts = h.leave(1);
        let evs = events_to(&acts, 9);
        let got: Vec<(u64, Option<Vec<Value>>)> = evs
            .into_iter()
            .map(|e| (e.subscription, e.payload.args))
            .collect();
        assert_eq!(
            got[..2],
            [
                (subs[2], Some(list![1u64, id])),
                (subs[3], Some(list![1u64, id]))
            ]
        );
    }
}
