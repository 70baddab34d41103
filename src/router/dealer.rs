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

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use rand::Rng;

use crate::dict;
use crate::wamp::ids::SequentialIds;
use crate::wamp::message::code;
use crate::wamp::uri::MatchPolicy;
use crate::wamp::{uris, Dict, Id, Message, Payload, Value};

use super::broker::{error, match_policy};
use super::meta::{self, MetaEvent};
use super::pattern::{is_reserved, is_valid_pattern, is_valid_uri, Wildcard};
use super::realm::{Action, Ctx, SessionId, TimerKey};

/// A protocol violation by the session that sent the message (text for ABORT).
#[derive(Debug)]
pub(crate) struct Violation(pub(crate) String);

/// `REGISTER.Options.invoke` (advanced/rpc_shared_registration.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum InvokePolicy {
    Single,
    RoundRobin,
    Random,
    First,
    Last,
}

impl InvokePolicy {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            InvokePolicy::Single => "single",
            InvokePolicy::RoundRobin => "roundrobin",
            InvokePolicy::Random => "random",
            InvokePolicy::First => "first",
            InvokePolicy::Last => "last",
        }
    }

    fn parse(options: &Dict) -> Result<InvokePolicy, String> {
        Ok(match options.get("invoke") {
            None => InvokePolicy::Single,
            Some(Value::Str(s)) => match s.as_str() {
                "single" => InvokePolicy::Single,
                "roundrobin" => InvokePolicy::RoundRobin,
                "random" => InvokePolicy::Random,
                "first" => InvokePolicy::First,
                "last" => InvokePolicy::Last,
                _ => return Err(format!("unknown invocation policy '{s}'")),
            },
            Some(v) => return Err(format!("option 'invoke' must be a string, not {}", v.kind())),
        })
    }
}

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

impl Registration {
    /// `RegistrationDetails` of the meta API.
    pub(crate) fn details(&self) -> Dict {
        let mut d = Dict::new();
        d.insert("id".into(), self.id.into());
        if let Some(c) = &self.created {
            d.insert("created".into(), c.as_str().into());
        }
        d.insert("uri".into(), self.uri.as_str().into());
        d.insert("match".into(), self.policy.as_str().into());
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
    regs: HashMap<Id, Registration>,
    exact: HashMap<String, Id>,
    prefix: BTreeMap<String, Id>,
    wildcard: BTreeMap<String, (Id, Wildcard)>,
    /// Registrations each session is a callee of (for `leave`).
    by_session: HashMap<SessionId, BTreeSet<Id>>,
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
        match policy {
            MatchPolicy::Exact => self.exact.get(uri).copied(),
            MatchPolicy::Prefix => self.prefix.get(uri).copied(),
            MatchPolicy::Wildcard => self.wildcard.get(uri).map(|(id, _)| *id),
        }
    }

    pub(crate) fn get(&self, id: Id) -> Option<&Registration> {
        self.regs.get(&id)
    }

    /// Ids of all registrations per match policy, ascending.
    pub(crate) fn list(&self) -> [Vec<Id>; 3] {
        let mut lists: [Vec<Id>; 3] = Default::default();
        for r in self.regs.values() {
            lists[r.policy as usize].push(r.id);
        }
        for l in &mut lists {
            l.sort_unstable();
        }
        lists
    }

    /// The single registration a call to `uri` is routed to
    /// (rpc_pattern_based_registration.md): exact, else the longest prefix, else the
    /// wildcard with the longest literal runs before each wildcard.
    pub(crate) fn best_match(&self, uri: &str) -> Option<Id> {
        if let Some(id) = self.exact.get(uri) {
            return Some(*id);
        }
        let prefix = self
            .prefix
            .iter()
            .filter(|(p, _)| uri.starts_with(p.as_str()))
            .max_by_key(|(p, _)| p.len())
            .map(|(_, id)| *id);
        if prefix.is_some() {
            return prefix;
        }
        self.wildcard
            .values()
            .filter(|(_, w)| w.matches(uri))
            .max_by(|(_, a), (_, b)| a.precedence(b))
            .map(|(id, _)| *id)
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
        let parsed = match_policy(options).and_then(|m| Ok((m, InvokePolicy::parse(options)?)));
        let (policy, invoke) = match parsed {
            Ok(p) => p,
            Err(m) => return fail(out, uris::INVALID_ARGUMENT, m),
        };
        let mut flags = [false; 2];
        for (i, key) in ["disclose_caller", "forward_timeout"].into_iter().enumerate() {
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
        let callee = Callee {
            session,
            disclose_caller: flags[0],
            forward_timeout: flags[1],
        };
        let id = match self.lookup(&procedure, policy) {
            Some(id) => {
                let Some(reg) = self.regs.get_mut(&id) else {
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
                        meta::REGISTRATION_ON_REGISTER,
                        vec![session.into(), id.into()],
                    ));
                }
                id
            }
            None => {
                let id = self.reg_ids.next();
                let reg = Registration {
                    id,
                    uri: procedure.clone(),
                    policy,
                    invoke,
                    created: ctx.created(),
                    callees: vec![callee],
                    next_rr: 0,
                };
                meta_out.push(MetaEvent::new(
                    meta::REGISTRATION_ON_CREATE,
                    vec![session.into(), Value::Dict(reg.details())],
                ));
                meta_out.push(MetaEvent::new(
                    meta::REGISTRATION_ON_REGISTER,
                    vec![session.into(), id.into()],
                ));
                match policy {
                    MatchPolicy::Exact => self.exact.insert(procedure, id),
                    MatchPolicy::Prefix => self.prefix.insert(procedure, id),
                    MatchPolicy::Wildcard => {
                        let w = Wildcard::new(&procedure);
                        self.wildcard.insert(procedure, (id, w)).map(|(id, _)| id)
                    }
                };
                self.regs.insert(id, reg);
                id
            }
        };
        self.by_session.entry(session).or_default().insert(id);
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
            .get(&registration)
            .is_some_and(|r| r.callees.iter().any(|c| c.session == session));
        if !owned {
            out.push(Action::Send(
                session,
                error(code::UNREGISTER, request, uris::NO_SUCH_REGISTRATION, None),
            ));
            return;
        }
        if let Some(set) = self.by_session.get_mut(&session) {
            set.remove(&registration);
            if set.is_empty() {
                self.by_session.remove(&session);
            }
        }
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
        let Some(reg) = self.regs.get_mut(&id) else {
            return;
        };
        let before = reg.callees.len();
        reg.callees.retain(|c| c.session != session);
        if reg.callees.len() == before {
            return;
        }
        meta_out.push(MetaEvent::new(
            meta::REGISTRATION_ON_UNREGISTER,
            vec![session.into(), id.into()],
        ));
        if !reg.callees.is_empty() {
            return;
        }
        let Some(reg) = self.regs.remove(&id) else {
            return;
        };
        match reg.policy {
            MatchPolicy::Exact => self.exact.remove(&reg.uri),
            MatchPolicy::Prefix => self.prefix.remove(&reg.uri),
            MatchPolicy::Wildcard => self.wildcard.remove(&reg.uri).map(|(id, _)| id),
        };
        meta_out.push(MetaEvent::new(
            meta::REGISTRATION_ON_DELETE,
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
            fail(out, uris::INVALID_URI, format!("invalid procedure URI '{procedure}'"));
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
                fail(out, uris::INVALID_ARGUMENT, format!("option '{k}' has an invalid value"));
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
        let Some(reg) = self.regs.get_mut(&reg_id) else {
            return Ok(());
        };
        let pattern = reg.policy != MatchPolicy::Exact;
        let Some(callee) = reg.pick() else {
            fail(out, uris::NO_SUCH_PROCEDURE, format!("no callee for '{procedure}'"));
            return Ok(());
        };
        let (interruptible, progressive) = ctx
            .sessions
            .get(&callee.session)
            .map_or((false, false), |s| (s.callee_canceling, s.callee_progressive));

        let mut details = Dict::new();
        if pattern {
            details.insert("procedure".into(), procedure.into());
        }
        if disclose_me || callee.disclose_caller {
            if let Some(s) = ctx.sessions.get(&caller) {
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
                call.timers += 1;
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
        #[derive(PartialEq)]
        enum Mode {
            Skip,
            Kill,
            KillNoWait,
        }
        let mode = match options.get("mode") {
            None => Mode::KillNoWait,
            Some(Value::Str(s)) if s == "skip" => Mode::Skip,
            Some(Value::Str(s)) if s == "kill" => Mode::Kill,
            Some(Value::Str(s)) if s == "killnowait" => Mode::KillNoWait,
            Some(v) => return Err(Violation(format!("CANCEL with invalid mode {v}"))),
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
        let mode = if call.interruptible { mode } else { Mode::Skip };
        if mode == Mode::Kill {
            if !call.killing {
                call.killing = true;
                out.push(Action::Send(
                    call.callee,
                    Message::Interrupt {
                        request: call.invocation,
                        options: dict! {"mode" => "kill"},
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
        if mode == Mode::KillNoWait {
            out.push(Action::Send(
                call.callee,
                Message::Interrupt {
                    request: call.invocation,
                    options: dict! {"mode" => "killnowait"},
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
                    options: dict! {"mode" => "killnowait", "reason" => uris::TIMEOUT},
                },
            ));
        }
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
                            options: dict! {"mode" => "killnowait"},
                        },
                    ));
                }
            }
        }
        if let Some(ids) = self.by_session.remove(&session) {
            for id in ids {
                self.detach(session, id, meta_out);
            }
        }
    }
}
