//! The client side of the WAMP session as a state machine, free of I/O.
//!
//! The session task feeds it commands from `Client` handles, releases from dropped
//! handles, decoded router messages and handler outputs; it answers requesters through
//! their oneshot channels and queues what must go out (`Out`) for the task to write or
//! spawn. Nothing here awaits.
//!
//! Two lifetimes meet here:
//! - *live* subscriptions, registrations and testaments (`subs`, `regs`,
//!   `testaments`) belong to the client and survive reconnects; on every new session
//!   they are sent again (testaments first of all: nothing this client publishes on a
//!   session can reach the router before the session's testament);
//! - everything in `Conn` (request ids, pending requests, router-side ids, running
//!   invocations) belongs to one session and is failed or dropped when it ends.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, warn};

use super::error::{CallError, ClientError, PublishError};
use super::options::{CancelMode, RouterFeatures};
use super::queue::{DropOldest, Pushed};
use super::testament::{flush_call, Testament, TestamentScope, ADD_TESTAMENT, FLUSH_TESTAMENTS};
use super::types::{
    CallResult, Event, Handler, Invocation, InvocationOutput, OutputKind, Progress,
};
use crate::wamp::ids::SequentialIds;
use crate::wamp::{code, uris, Dict, Id, Message, Payload, Value};

pub(crate) type Reply<T> = oneshot::Sender<T>;

/// A request from a `Client` handle (bounded channel).
pub(crate) enum Command {
    Call(CallRequest),
    Publish {
        topic: String,
        payload: Payload,
        options: Dict,
        acknowledge: bool,
        reply: Reply<Result<Option<Id>, PublishError>>,
    },
    Subscribe {
        key: u64,
        topic: String,
        options: Dict,
        queue: Arc<DropOldest<Event>>,
        reply: Reply<Result<(), ClientError>>,
    },
    Unsubscribe {
        key: u64,
        reply: Reply<Result<(), ClientError>>,
    },
    Register {
        key: u64,
        procedure: String,
        options: Dict,
        handler: Handler,
        reply: Reply<Result<(), ClientError>>,
    },
    Unregister {
        key: u64,
        reply: Reply<Result<(), ClientError>>,
    },
    AddTestament {
        key: u64,
        testament: Testament,
        reply: Reply<Result<(), ClientError>>,
    },
    FlushTestaments {
        scope: TestamentScope,
        reply: Reply<Result<(), ClientError>>,
    },
    /// Handled by the session task itself (GOODBYE handshake).
    Close {
        reply: Reply<()>,
    },
}

pub(crate) struct CallRequest {
    /// Client-wide key of the call, known to the `PendingCall` before a request id is.
    pub(crate) key: u64,
    pub(crate) procedure: String,
    pub(crate) payload: Payload,
    pub(crate) options: Dict,
    pub(crate) reply: Reply<Result<CallResult, CallError>>,
    pub(crate) progress: Option<Arc<DropOldest<Payload>>>,
}

/// Sent without waiting from `Drop` impls and `PendingCall::cancel` (unbounded channel;
/// at most one message per live handle).
#[derive(Debug)]
pub(crate) enum Release {
    Subscription(u64),
    Registration(u64),
    Cancel {
        key: u64,
        mode: CancelMode,
        /// The caller stopped waiting (timeout or dropped): discard the answer.
        abandon: bool,
    },
}

/// What the session task must do.
pub(crate) enum Out {
    Send(Message),
    /// A non-acknowledged PUBLISH: answer the publisher once it is written.
    SendPublish(Message, Reply<Result<Option<Id>, PublishError>>),
    /// Run a procedure handler in its own task.
    Spawn(InvocationJob),
}

pub(crate) struct InvocationJob {
    pub(crate) handler: Handler,
    pub(crate) invocation: Invocation,
    pub(crate) epoch: u64,
    pub(crate) request: Id,
    /// The forwarded call timeout the callee must enforce.
    pub(crate) timeout: Option<Duration>,
}

/// How a session ended, as seen by requests that were pending on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Loss {
    /// Transport failure, ping timeout, router GOODBYE or ABORT, protocol violation.
    Lost,
    /// The client is closing.
    Closed,
}

impl Loss {
    fn call_error(self) -> CallError {
        match self {
            Loss::Lost => CallError::ConnectionLost,
            Loss::Closed => CallError::Closed,
        }
    }

    fn publish_error(self) -> PublishError {
        match self {
            Loss::Lost => PublishError::ConnectionLost,
            Loss::Closed => PublishError::Closed,
        }
    }
}

struct LocalSub {
    topic: String,
    options: Dict,
    queue: Arc<DropOldest<Event>>,
    /// The `subscribe()` caller, until the first SUBSCRIBED or ERROR.
    waiter: Option<Reply<Result<(), ClientError>>>,
    router_id: Option<Id>,
}

struct LocalTestament {
    testament: Testament,
    /// The `add_testament()` caller, until the router first answered.
    waiter: Option<Reply<Result<(), ClientError>>>,
}

struct LocalReg {
    procedure: String,
    options: Dict,
    handler: Handler,
    waiter: Option<Reply<Result<(), ClientError>>>,
    router_id: Option<Id>,
}

enum Pending {
    Call {
        key: u64,
        procedure: String,
        /// `None` once the caller stopped waiting; the answer is then discarded.
        reply: Option<Reply<Result<CallResult, CallError>>>,
        progress: Option<Arc<DropOldest<Payload>>>,
        cancel_sent: bool,
    },
    Publish {
        reply: Reply<Result<Option<Id>, PublishError>>,
    },
    Subscribe {
        key: u64,
        restore: bool,
    },
    Unsubscribe {
        subscription: Id,
        reply: Option<Reply<Result<(), ClientError>>>,
    },
    Register {
        key: u64,
        restore: bool,
    },
    Unregister {
        reply: Option<Reply<Result<(), ClientError>>>,
    },
    /// `wamp.session.add_testament` for a live testament.
    Testament {
        key: u64,
        restore: bool,
    },
    FlushTestaments {
        reply: Option<Reply<Result<(), ClientError>>>,
    },
}

impl Pending {
    fn kind(&self) -> &'static str {
        match self {
            Pending::Call { .. } | Pending::Testament { .. } | Pending::FlushTestaments { .. } => {
                "CALL"
            }
            Pending::Publish { .. } => "PUBLISH",
            Pending::Subscribe { .. } => "SUBSCRIBE",
            Pending::Unsubscribe { .. } => "UNSUBSCRIBE",
            Pending::Register { .. } => "REGISTER",
            Pending::Unregister { .. } => "UNREGISTER",
        }
    }
}

/// State of one WAMP session.
struct Conn {
    session: Id,
    features: RouterFeatures,
    ids: SequentialIds,
    pending: HashMap<Id, Pending>,
    call_keys: HashMap<u64, Id>,
    /// Router subscription id → local subscriptions sharing it (the router gives the
    /// same id to every SUBSCRIBE of one topic and policy from one session).
    router_subs: HashMap<Id, Vec<u64>>,
    /// Router subscriptions with an UNSUBSCRIBE in flight.
    dying_subs: HashSet<Id>,
    router_regs: HashMap<Id, u64>,
    /// Running invocations by INVOCATION request id.
    invocations: HashMap<Id, CancellationToken>,
    /// Re-subscriptions and re-registrations not answered yet.
    restoring: usize,
    announced: bool,
}

fn answer<T>(reply: Option<Reply<T>>, value: T) {
    if let Some(r) = reply {
        // The requester may have given up; that is fine.
        let _ = r.send(value);
    }
}

fn flag(d: &Dict, key: &str) -> bool {
    d.get(key).and_then(Value::as_bool).unwrap_or(false)
}

pub(crate) struct Core {
    subs: BTreeMap<u64, LocalSub>,
    regs: BTreeMap<u64, LocalReg>,
    testaments: BTreeMap<u64, LocalTestament>,
    conn: Option<Conn>,
    /// Incremented per session; outputs of invocations from older sessions are dropped.
    epoch: u64,
    out: Vec<Out>,
    inv_tx: mpsc::Sender<InvocationOutput>,
}

type Violation = String;

impl Core {
    pub(crate) fn new(inv_tx: mpsc::Sender<InvocationOutput>) -> Core {
        Core {
            subs: BTreeMap::new(),
            regs: BTreeMap::new(),
            testaments: BTreeMap::new(),
            conn: None,
            epoch: 0,
            out: Vec::new(),
            inv_tx,
        }
    }

    pub(crate) fn take_out(&mut self) -> Vec<Out> {
        std::mem::take(&mut self.out)
    }

    pub(crate) fn has_out(&self) -> bool {
        !self.out.is_empty()
    }

    #[cfg(test)]
    pub(crate) fn is_connected(&self) -> bool {
        self.conn.is_some()
    }

    /// A session was opened: file every live testament, then re-send every live
    /// subscription and registration.
    pub(crate) fn connected(&mut self, session: Id, welcome: &Dict) {
        self.epoch += 1;
        self.conn = Some(Conn {
            session,
            features: RouterFeatures::from_welcome(welcome),
            ids: SequentialIds::new(),
            pending: HashMap::new(),
            call_keys: HashMap::new(),
            router_subs: HashMap::new(),
            dying_subs: HashSet::new(),
            router_regs: HashMap::new(),
            invocations: HashMap::new(),
            restoring: 0,
            announced: false,
        });
        let testaments: Vec<u64> = self.testaments.keys().copied().collect();
        for key in testaments {
            self.send_testament(key, true);
        }
        let subs: Vec<u64> = self.subs.keys().copied().collect();
        for key in subs {
            self.send_subscribe(key, true);
        }
        let regs: Vec<u64> = self.regs.keys().copied().collect();
        for key in regs {
            self.send_register(key, true);
        }
    }

    /// The session id, once, when every live testament, subscription and registration
    /// has been answered on the current session (so `Established` means "all back").
    pub(crate) fn take_ready(&mut self) -> Option<Id> {
        let conn = self.conn.as_mut()?;
        if conn.restoring == 0 && !conn.announced {
            conn.announced = true;
            Some(conn.session)
        } else {
            None
        }
    }

    /// The session ended: fail what was pending on it, stop its invocations, keep the
    /// live subscriptions and registrations for the next session.
    pub(crate) fn disconnected(&mut self, loss: Loss) {
        let Some(conn) = self.conn.take() else {
            return;
        };
        for (_, pending) in conn.pending {
            match pending {
                Pending::Call {
                    reply, progress, ..
                } => {
                    if let Some(q) = progress {
                        q.close();
                    }
                    answer(reply, Err(loss.call_error()));
                }
                Pending::Publish { reply } => answer(Some(reply), Err(loss.publish_error())),
                // The router disposes of them with the session anyway.
                Pending::Unsubscribe { reply, .. } | Pending::Unregister { reply } => {
                    answer(reply, Ok(()))
                }
                // Still live: sent again on the next session.
                Pending::Subscribe { .. } | Pending::Register { .. } => {}
                // Kept, and filed first thing on the next session: that is the answer.
                Pending::Testament { key, .. } => {
                    if let Some(t) = self.testaments.get_mut(&key) {
                        answer(t.waiter.take(), Ok(()));
                    }
                }
                // The session ended before the router confirmed: it may have published
                // the testaments meant to be flushed.
                Pending::FlushTestaments { reply } => {
                    answer(reply, Err(ClientError::ConnectionLost))
                }
            }
        }
        for token in conn.invocations.values() {
            token.cancel();
        }
        for sub in self.subs.values_mut() {
            sub.router_id = None;
        }
        for reg in self.regs.values_mut() {
            reg.router_id = None;
        }
    }

    /// The client is closing for good: end every stream and answer every waiter.
    pub(crate) fn shutdown(&mut self) {
        self.disconnected(Loss::Closed);
        for (_, sub) in std::mem::take(&mut self.subs) {
            sub.queue.close();
            answer(sub.waiter, Err(ClientError::Closed));
        }
        for (_, reg) in std::mem::take(&mut self.regs) {
            answer(reg.waiter, Err(ClientError::Closed));
        }
        for (_, t) in std::mem::take(&mut self.testaments) {
            answer(t.waiter, Err(ClientError::Closed));
        }
        self.out.clear();
    }

    pub(crate) fn command(&mut self, cmd: Command) {
        match cmd {
            Command::Call(call) => self.call(call),
            Command::Publish {
                topic,
                payload,
                options,
                acknowledge,
                reply,
            } => {
                let Some(conn) = self.conn.as_mut() else {
                    // Never queued for later: a late event is worse than none.
                    answer(Some(reply), Err(PublishError::NotConnected));
                    return;
                };
                let request = conn.ids.next();
                let msg = Message::Publish {
                    request,
                    options,
                    topic,
                    payload,
                };
                if acknowledge {
                    conn.pending.insert(request, Pending::Publish { reply });
                    self.out.push(Out::Send(msg));
                } else {
                    self.out.push(Out::SendPublish(msg, reply));
                }
            }
            Command::Subscribe {
                key,
                topic,
                options,
                queue,
                reply,
            } => {
                self.subs.insert(
                    key,
                    LocalSub {
                        topic,
                        options,
                        queue,
                        waiter: Some(reply),
                        router_id: None,
                    },
                );
                // Offline: sent (and answered) when the next session opens.
                self.send_subscribe(key, false);
            }
            Command::Unsubscribe { key, reply } => self.unsubscribe(key, Some(reply)),
            Command::Register {
                key,
                procedure,
                options,
                handler,
                reply,
            } => {
                self.regs.insert(
                    key,
                    LocalReg {
                        procedure,
                        options,
                        handler,
                        waiter: Some(reply),
                        router_id: None,
                    },
                );
                self.send_register(key, false);
            }
            Command::Unregister { key, reply } => self.unregister(key, Some(reply)),
            Command::AddTestament {
                key,
                testament,
                reply,
            } => {
                let waiter = if self.conn.is_some() {
                    Some(reply)
                } else {
                    // Offline: kept, and filed first thing on the next session.
                    answer(Some(reply), Ok(()));
                    None
                };
                self.testaments
                    .insert(key, LocalTestament { testament, waiter });
                self.send_testament(key, false);
            }
            Command::FlushTestaments { scope, reply } => {
                self.testaments.retain(|_, t| t.testament.scope != scope);
                let Some(conn) = self.conn.as_mut() else {
                    answer(Some(reply), Ok(()));
                    return;
                };
                let request = conn.ids.next();
                conn.pending
                    .insert(request, Pending::FlushTestaments { reply: Some(reply) });
                self.out.push(Out::Send(Message::Call {
                    request,
                    options: Dict::new(),
                    procedure: FLUSH_TESTAMENTS.to_owned(),
                    payload: flush_call(scope),
                }));
            }
            Command::Close { reply } => drop(reply),
        }
    }

    pub(crate) fn release(&mut self, release: Release) {
        match release {
            Release::Subscription(key) => self.unsubscribe(key, None),
            Release::Registration(key) => self.unregister(key, None),
            Release::Cancel { key, mode, abandon } => self.cancel(key, mode, abandon),
        }
    }

    fn call(&mut self, call: CallRequest) {
        let CallRequest {
            key,
            procedure,
            payload,
            options,
            reply,
            progress,
        } = call;
        let Some(conn) = self.conn.as_mut() else {
            if let Some(q) = progress {
                q.close();
            }
            answer(Some(reply), Err(CallError::NotConnected));
            return;
        };
        if reply.is_closed() {
            // The caller gave up before the call left: do not start work nobody awaits.
            return;
        }
        let request = conn.ids.next();
        conn.call_keys.insert(key, request);
        conn.pending.insert(
            request,
            Pending::Call {
                key,
                procedure: procedure.clone(),
                reply: Some(reply),
                progress,
                cancel_sent: false,
            },
        );
        self.out.push(Out::Send(Message::Call {
            request,
            options,
            procedure,
            payload,
        }));
    }

    fn cancel(&mut self, key: u64, mode: CancelMode, abandon: bool) {
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        let Some(&request) = conn.call_keys.get(&key) else {
            return; // already answered
        };
        let can_cancel = conn.features.call_canceling;
        let Some(Pending::Call {
            reply,
            progress,
            cancel_sent,
            ..
        }) = conn.pending.get_mut(&request)
        else {
            return;
        };
        if abandon {
            *reply = None;
            if let Some(q) = progress {
                q.close();
            }
        }
        if can_cancel {
            if !*cancel_sent {
                *cancel_sent = true;
                let mut options = Dict::new();
                options.insert("mode".into(), mode.as_str().into());
                self.out
                    .push(Out::Send(Message::Cancel { request, options }));
            }
        } else {
            // The dealer cannot cancel: give up locally, keep the entry to absorb the
            // late answer.
            answer(reply.take(), Err(CallError::Canceled));
            if let Some(q) = progress {
                q.close();
            }
        }
    }

    fn send_subscribe(&mut self, key: u64, restore: bool) {
        let (Some(conn), Some(sub)) = (self.conn.as_mut(), self.subs.get(&key)) else {
            return;
        };
        let request = conn.ids.next();
        conn.pending
            .insert(request, Pending::Subscribe { key, restore });
        if restore {
            conn.restoring += 1;
        }
        self.out.push(Out::Send(Message::Subscribe {
            request,
            options: sub.options.clone(),
            topic: sub.topic.clone(),
        }));
    }

    fn send_testament(&mut self, key: u64, restore: bool) {
        let (Some(conn), Some(t)) = (self.conn.as_mut(), self.testaments.get(&key)) else {
            return;
        };
        let request = conn.ids.next();
        conn.pending
            .insert(request, Pending::Testament { key, restore });
        if restore {
            conn.restoring += 1;
        }
        self.out.push(Out::Send(Message::Call {
            request,
            options: Dict::new(),
            procedure: ADD_TESTAMENT.to_owned(),
            payload: t.testament.add_call(),
        }));
    }

    fn send_register(&mut self, key: u64, restore: bool) {
        let (Some(conn), Some(reg)) = (self.conn.as_mut(), self.regs.get(&key)) else {
            return;
        };
        let request = conn.ids.next();
        conn.pending
            .insert(request, Pending::Register { key, restore });
        if restore {
            conn.restoring += 1;
        }
        self.out.push(Out::Send(Message::Register {
            request,
            options: reg.options.clone(),
            procedure: reg.procedure.clone(),
        }));
    }

    fn send_unsubscribe(
        &mut self,
        subscription: Id,
        reply: Option<Reply<Result<(), ClientError>>>,
    ) {
        let Some(conn) = self.conn.as_mut() else {
            answer(reply, Ok(()));
            return;
        };
        conn.dying_subs.insert(subscription);
        let request = conn.ids.next();
        conn.pending.insert(
            request,
            Pending::Unsubscribe {
                subscription,
                reply,
            },
        );
        self.out.push(Out::Send(Message::Unsubscribe {
            request,
            subscription,
        }));
    }

    fn send_unregister(&mut self, registration: Id, reply: Option<Reply<Result<(), ClientError>>>) {
        let Some(conn) = self.conn.as_mut() else {
            answer(reply, Ok(()));
            return;
        };
        let request = conn.ids.next();
        conn.pending.insert(request, Pending::Unregister { reply });
        self.out.push(Out::Send(Message::Unregister {
            request,
            registration,
        }));
    }

    fn unsubscribe(&mut self, key: u64, reply: Option<Reply<Result<(), ClientError>>>) {
        let Some(sub) = self.subs.remove(&key) else {
            answer(reply, Ok(()));
            return;
        };
        sub.queue.close();
        let (Some(conn), Some(id)) = (self.conn.as_mut(), sub.router_id) else {
            // Not subscribed on this session (yet): a SUBSCRIBED still in flight finds
            // no live subscription and is undone then.
            answer(reply, Ok(()));
            return;
        };
        let last = match conn.router_subs.get_mut(&id) {
            Some(keys) => {
                keys.retain(|k| *k != key);
                keys.is_empty()
            }
            None => false,
        };
        if last {
            conn.router_subs.remove(&id);
            self.send_unsubscribe(id, reply);
        } else {
            answer(reply, Ok(()));
        }
    }

    fn unregister(&mut self, key: u64, reply: Option<Reply<Result<(), ClientError>>>) {
        let Some(reg) = self.regs.remove(&key) else {
            answer(reply, Ok(()));
            return;
        };
        let (Some(conn), Some(id)) = (self.conn.as_mut(), reg.router_id) else {
            answer(reply, Ok(()));
            return;
        };
        conn.router_regs.remove(&id);
        self.send_unregister(id, reply);
    }

    /// A message from the router on an established session. `Err` is a protocol
    /// violation: the caller must ABORT the session.
    pub(crate) fn message(&mut self, msg: Message) -> Result<(), Violation> {
        if self.conn.is_none() {
            return Err(format!("{} outside a session", msg.name()));
        }
        match msg {
            Message::Result {
                request,
                details,
                payload,
            } => self.on_result(request, details, payload),
            Message::Error {
                request_type,
                request,
                error,
                payload,
                ..
            } => self.on_error(request_type, request, error, payload),
            Message::Published {
                request,
                publication,
            } => match self.take_pending(request, "PUBLISHED")? {
                Pending::Publish { reply } => {
                    answer(Some(reply), Ok(Some(publication)));
                    Ok(())
                }
                other => Err(mismatch("PUBLISHED", request, &other)),
            },
            Message::Subscribed {
                request,
                subscription,
            } => self.on_subscribed(request, subscription),
            Message::Unsubscribed { request, details } => self.on_unsubscribed(request, details),
            Message::Event {
                subscription,
                publication,
                details,
                payload,
            } => {
                self.on_event(subscription, publication, details, payload);
                Ok(())
            }
            Message::Registered {
                request,
                registration,
            } => self.on_registered(request, registration),
            Message::Unregistered { request, details } => self.on_unregistered(request, details),
            Message::Invocation {
                request,
                registration,
                details,
                payload,
            } => self.on_invocation(request, registration, details, payload),
            Message::Interrupt { request, options } => {
                self.on_interrupt(request, &options);
                Ok(())
            }
            other => Err(format!(
                "unexpected {} in an established session",
                other.name()
            )),
        }
    }

    fn take_pending(&mut self, request: Id, what: &str) -> Result<Pending, Violation> {
        self.conn
            .as_mut()
            .ok_or_else(no_session)?
            .pending
            .remove(&request)
            .ok_or_else(|| format!("{what} for unknown request {request}"))
    }

    fn on_result(&mut self, request: Id, details: Dict, payload: Payload) -> Result<(), Violation> {
        let conn = self.conn.as_mut().ok_or_else(no_session)?;
        let is_progress = flag(&details, "progress");
        match conn.pending.get(&request) {
            Some(Pending::Call { progress, .. }) if is_progress => {
                if let Some(q) = progress {
                    if let Pushed::EvictedOldest(n) = q.push(payload) {
                        if n.is_power_of_two() {
                            warn!(
                                request,
                                dropped = n,
                                "progress consumer too slow, dropped oldest results"
                            );
                        }
                    }
                }
                Ok(())
            }
            Some(Pending::Call { .. }) => {
                let Some(Pending::Call {
                    key,
                    reply,
                    progress,
                    ..
                }) = conn.pending.remove(&request)
                else {
                    return Err("pending call vanished".into());
                };
                conn.call_keys.remove(&key);
                if let Some(q) = progress {
                    q.close();
                }
                answer(reply, Ok(CallResult::new(details, payload)));
                Ok(())
            }
            Some(Pending::Testament { .. } | Pending::FlushTestaments { .. }) => {
                match conn.pending.remove(&request) {
                    Some(Pending::Testament { key, restore }) => {
                        if restore {
                            conn.restoring = conn.restoring.saturating_sub(1);
                        }
                        if let Some(t) = self.testaments.get_mut(&key) {
                            answer(t.waiter.take(), Ok(()));
                        }
                    }
                    Some(Pending::FlushTestaments { reply }) => answer(reply, Ok(())),
                    _ => {}
                }
                Ok(())
            }
            Some(other) => Err(mismatch("RESULT", request, other)),
            None => Err(format!("RESULT for unknown call request {request}")),
        }
    }

    fn on_error(
        &mut self,
        request_type: u64,
        request: Id,
        error: String,
        payload: Payload,
    ) -> Result<(), Violation> {
        let expected = match request_type {
            code::CALL => "CALL",
            code::PUBLISH => "PUBLISH",
            code::SUBSCRIBE => "SUBSCRIBE",
            code::UNSUBSCRIBE => "UNSUBSCRIBE",
            code::REGISTER => "REGISTER",
            code::UNREGISTER => "UNREGISTER",
            other => return Err(format!("ERROR for request type {other}")),
        };
        let pending = self.take_pending(request, "ERROR")?;
        if pending.kind() != expected {
            return Err(mismatch("ERROR", request, &pending));
        }
        let conn = self.conn.as_mut().ok_or_else(no_session)?;
        match pending {
            Pending::Call {
                key,
                procedure,
                reply,
                progress,
                ..
            } => {
                conn.call_keys.remove(&key);
                if let Some(q) = progress {
                    q.close();
                }
                answer(
                    reply,
                    Err(CallError::from_error(error, &procedure, payload)),
                );
            }
            Pending::Publish { reply } => answer(
                Some(reply),
                Err(PublishError::Rejected {
                    error,
                    args: payload.args.unwrap_or_default(),
                    kwargs: payload.kwargs.unwrap_or_default(),
                }),
            ),
            Pending::Subscribe { key, restore } => {
                if restore {
                    conn.restoring = conn.restoring.saturating_sub(1);
                }
                if let Some(sub) = self.subs.remove(&key) {
                    sub.queue.close();
                    if sub.waiter.is_none() {
                        error!(topic = %sub.topic, %error, "re-subscribing failed; the subscription ended");
                    }
                    answer(sub.waiter, Err(ClientError::rejected(error, payload)));
                }
            }
            Pending::Register { key, restore } => {
                if restore {
                    conn.restoring = conn.restoring.saturating_sub(1);
                }
                if let Some(reg) = self.regs.remove(&key) {
                    if reg.waiter.is_none() {
                        error!(procedure = %reg.procedure, %error, "re-registering failed; the registration ended");
                    }
                    answer(reg.waiter, Err(ClientError::rejected(error, payload)));
                }
            }
            Pending::Unsubscribe {
                subscription,
                reply,
            } => {
                conn.dying_subs.remove(&subscription);
                answer(reply, Err(ClientError::rejected(error, payload)));
            }
            Pending::Unregister { reply } => {
                answer(reply, Err(ClientError::rejected(error, payload)))
            }
            Pending::Testament { key, restore } => {
                if restore {
                    conn.restoring = conn.restoring.saturating_sub(1);
                }
                if let Some(t) = self.testaments.remove(&key) {
                    if t.waiter.is_none() {
                        error!(topic = %t.testament.topic, %error, "the router refused a testament; it is dropped");
                    }
                    answer(t.waiter, Err(ClientError::rejected(error, payload)));
                }
            }
            Pending::FlushTestaments { reply } => {
                answer(reply, Err(ClientError::rejected(error, payload)))
            }
        }
        Ok(())
    }

    fn on_subscribed(&mut self, request: Id, subscription: Id) -> Result<(), Violation> {
        let (key, restore) = match self.take_pending(request, "SUBSCRIBED")? {
            Pending::Subscribe { key, restore } => (key, restore),
            other => return Err(mismatch("SUBSCRIBED", request, &other)),
        };
        let conn = self.conn.as_mut().ok_or_else(no_session)?;
        if restore {
            conn.restoring = conn.restoring.saturating_sub(1);
        }
        if conn.dying_subs.contains(&subscription) {
            // Our UNSUBSCRIBE of this router subscription is in flight and will take it
            // down. Ask again: the router handles the new SUBSCRIBE after it.
            self.send_subscribe(key, restore);
            return Ok(());
        }
        match self.subs.get_mut(&key) {
            Some(sub) => {
                sub.router_id = Some(subscription);
                conn.router_subs.entry(subscription).or_default().push(key);
                answer(sub.waiter.take(), Ok(()));
            }
            None => {
                // Released while subscribing; undo unless another one shares it.
                if !conn.router_subs.contains_key(&subscription) {
                    self.send_unsubscribe(subscription, None);
                }
            }
        }
        Ok(())
    }

    fn on_unsubscribed(&mut self, request: Id, details: Option<Dict>) -> Result<(), Violation> {
        if let (0, Some(details)) = (request, &details) {
            // Router-initiated revocation (advanced profile).
            let id = details.get("subscription").and_then(Value::as_u64);
            let reason = details.get("reason").and_then(Value::as_str).unwrap_or("");
            let conn = self.conn.as_mut().ok_or_else(no_session)?;
            if let Some(keys) = id.and_then(|id| conn.router_subs.remove(&id)) {
                for key in keys {
                    if let Some(sub) = self.subs.remove(&key) {
                        warn!(topic = %sub.topic, reason, "the router revoked a subscription");
                        sub.queue.close();
                    }
                }
            }
            return Ok(());
        }
        match self.take_pending(request, "UNSUBSCRIBED")? {
            Pending::Unsubscribe {
                subscription,
                reply,
            } => {
                self.conn
                    .as_mut()
                    .ok_or_else(no_session)?
                    .dying_subs
                    .remove(&subscription);
                answer(reply, Ok(()));
                Ok(())
            }
            other => Err(mismatch("UNSUBSCRIBED", request, &other)),
        }
    }

    fn on_event(&mut self, subscription: Id, publication: Id, details: Dict, payload: Payload) {
        let Some(conn) = self.conn.as_ref() else {
            return;
        };
        let Some(keys) = conn.router_subs.get(&subscription) else {
            // In flight while we unsubscribed.
            debug!(subscription, "event for a subscription no longer held");
            return;
        };
        let detail_topic = details
            .get("topic")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let args = payload.args.unwrap_or_default();
        let kwargs = payload.kwargs.unwrap_or_default();
        for key in keys {
            let Some(sub) = self.subs.get(key) else {
                continue;
            };
            let event = Event {
                topic: detail_topic.clone().unwrap_or_else(|| sub.topic.clone()),
                subscription,
                publication,
                args: args.clone(),
                kwargs: kwargs.clone(),
                details: details.clone(),
            };
            if let Pushed::EvictedOldest(n) = sub.queue.push(event) {
                if n.is_power_of_two() {
                    warn!(topic = %sub.topic, dropped = n, "subscriber too slow, dropped oldest events");
                }
            }
        }
    }

    fn on_registered(&mut self, request: Id, registration: Id) -> Result<(), Violation> {
        let (key, restore) = match self.take_pending(request, "REGISTERED")? {
            Pending::Register { key, restore } => (key, restore),
            other => return Err(mismatch("REGISTERED", request, &other)),
        };
        let conn = self.conn.as_mut().ok_or_else(no_session)?;
        if restore {
            conn.restoring = conn.restoring.saturating_sub(1);
        }
        match self.regs.get_mut(&key) {
            Some(reg) => {
                reg.router_id = Some(registration);
                conn.router_regs.insert(registration, key);
                answer(reg.waiter.take(), Ok(()));
            }
            None => self.send_unregister(registration, None),
        }
        Ok(())
    }

    fn on_unregistered(&mut self, request: Id, details: Option<Dict>) -> Result<(), Violation> {
        if let (0, Some(details)) = (request, &details) {
            let id = details.get("registration").and_then(Value::as_u64);
            let reason = details.get("reason").and_then(Value::as_str).unwrap_or("");
            let conn = self.conn.as_mut().ok_or_else(no_session)?;
            if let Some(key) = id.and_then(|id| conn.router_regs.remove(&id)) {
                if let Some(reg) = self.regs.remove(&key) {
                    warn!(procedure = %reg.procedure, reason, "the router revoked a registration");
                }
            }
            return Ok(());
        }
        match self.take_pending(request, "UNREGISTERED")? {
            Pending::Unregister { reply } => {
                answer(reply, Ok(()));
                Ok(())
            }
            other => Err(mismatch("UNREGISTERED", request, &other)),
        }
    }

    fn on_invocation(
        &mut self,
        request: Id,
        registration: Id,
        details: Dict,
        payload: Payload,
    ) -> Result<(), Violation> {
        let epoch = self.epoch;
        let inv_tx = self.inv_tx.clone();
        let conn = self.conn.as_mut().ok_or_else(no_session)?;
        if conn.invocations.contains_key(&request) {
            return Err(format!("second INVOCATION with request {request}"));
        }
        let reg = conn
            .router_regs
            .get(&registration)
            .and_then(|key| self.regs.get(key));
        let Some(reg) = reg else {
            // In flight while we unregistered: answer so the caller does not hang.
            self.out.push(Out::Send(Message::Error {
                request_type: code::INVOCATION,
                request,
                details: Dict::new(),
                error: uris::NO_SUCH_REGISTRATION.into(),
                payload: Payload::default(),
            }));
            return Ok(());
        };
        let token = CancellationToken::new();
        conn.invocations.insert(request, token.clone());
        let progress = flag(&details, "receive_progress").then(|| Progress {
            tx: inv_tx,
            epoch,
            request,
        });
        let procedure = details
            .get("procedure")
            .and_then(Value::as_str)
            .unwrap_or(&reg.procedure)
            .to_owned();
        let invocation = Invocation {
            procedure,
            registration,
            args: payload.args.unwrap_or_default(),
            kwargs: payload.kwargs.unwrap_or_default(),
            details,
            progress,
            cancelled: token,
        };
        let timeout = invocation.timeout();
        let handler = reg.handler.clone();
        self.out.push(Out::Spawn(InvocationJob {
            handler,
            invocation,
            epoch,
            request,
            timeout,
        }));
        Ok(())
    }

    fn on_interrupt(&mut self, request: Id, options: &Dict) {
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        let Some(token) = conn.invocations.remove(&request) else {
            return; // already answered
        };
        token.cancel();
        let mode = options.get("mode").and_then(Value::as_str);
        if mode != Some(CancelMode::KillNoWait.as_str()) {
            // Answer now; the handler sees `cancelled` and what it returns is dropped.
            let error = options
                .get("reason")
                .and_then(Value::as_str)
                .unwrap_or(uris::CANCELED)
                .to_owned();
            self.out.push(Out::Send(Message::Error {
                request_type: code::INVOCATION,
                request,
                details: Dict::new(),
                error,
                payload: Payload::default(),
            }));
        }
    }

    /// Progress or the final outcome of a handler.
    pub(crate) fn invocation_output(&mut self, output: InvocationOutput) {
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        if output.epoch != self.epoch {
            return; // from a previous session: its request id means nothing now
        }
        let request = output.request;
        match output.kind {
            OutputKind::Progress(payload) => {
                if conn.invocations.contains_key(&request) {
                    let mut options = Dict::new();
                    options.insert("progress".into(), Value::Bool(true));
                    self.out.push(Out::Send(Message::Yield {
                        request,
                        options,
                        payload,
                    }));
                }
            }
            OutputKind::Final(result) => {
                if conn.invocations.remove(&request).is_none() {
                    return; // interrupted or timed out: already answered
                }
                self.out.push(Out::Send(match result {
                    Ok(payload) => Message::Yield {
                        request,
                        options: Dict::new(),
                        payload,
                    },
                    Err(e) => Message::Error {
                        request_type: code::INVOCATION,
                        request,
                        details: Dict::new(),
                        payload: e.payload(),
                        error: e.error,
                    },
                }));
            }
        }
    }

    /// `msg` could not be sent because it exceeds the router's message size limit.
    pub(crate) fn too_large(&mut self, msg: &Message, size: usize, limit: usize) {
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        match msg {
            Message::Call { request, .. } => {
                if let Some(Pending::Call {
                    key,
                    reply,
                    progress,
                    ..
                }) = conn.pending.remove(request)
                {
                    conn.call_keys.remove(&key);
                    if let Some(q) = progress {
                        q.close();
                    }
                    answer(reply, Err(CallError::TooLarge { size, limit }));
                }
            }
            Message::Publish { request, .. } => {
                if let Some(Pending::Publish { reply }) = conn.pending.remove(request) {
                    answer(Some(reply), Err(PublishError::TooLarge { size, limit }));
                }
            }
            Message::Yield { request, .. }
            | Message::Error {
                request_type: code::INVOCATION,
                request,
                ..
            } => {
                if let Some(token) = conn.invocations.remove(request) {
                    token.cancel();
                }
                warn!(request, size, limit, "result too large for the router");
                self.out.push(Out::Send(Message::Error {
                    request_type: code::INVOCATION,
                    request: *request,
                    details: Dict::new(),
                    error: uris::PAYLOAD_SIZE_EXCEEDED.into(),
                    payload: Payload::default(),
                }));
            }
            Message::Subscribe { request, .. } | Message::Register { request, .. } => {
                let code = msg.code();
                let _ = self.on_error(
                    code,
                    *request,
                    uris::PAYLOAD_SIZE_EXCEEDED.into(),
                    Payload::default(),
                );
            }
            _ => warn!(
                message = msg.name(),
                size, limit, "message too large for the router, dropped"
            ),
        }
    }
}

fn no_session() -> Violation {
    "no session".to_owned()
}

fn mismatch(what: &str, request: Id, pending: &Pending) -> Violation {
    format!(
        "{what} for request {request}, which is a pending {}",
        pending.kind()
    )
}

#[cfg(test)]
mod tests;
