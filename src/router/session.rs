//! One task per connection, the async shell around the I/O-free core: before WELCOME
//! it hands every message to the [`Handshake`] and carries out the [`Step`] it
//! returns; afterwards to the realm's [`Realm`] core, and carries out its
//! [`Output`]. Plus one writer task per session. Only I/O and policy live here.
//!
//! ```text
//!   reader ──► session task ──► handshake.on_message() ─► CHALLENGE / WELCOME / ABORT
//!                  │
//!                  ├──────────► realm.lock(): handle() + dispatch(output) ──┐
//!                  │                                      encode + offer    │
//!                  │ ctrl (ping/pong)                                       ▼
//!                  └────────────────────────────────► writer task ◄── outbox (bytes,
//!                                                          │          bounded)
//!                                                          ▼
//!                                                   transport writer
//! ```
//!
//! Each session's [`Peer`] (its outbox, which is also its kill switch) lives in the
//! realm's one session table, next to the session's routing state: joining inserts
//! both, every way out hands the `Peer` back (see `realm.rs`).
//!
//! Policies:
//!
//! - **Routing under the lock.** Every input goes to the core with the realm's
//!   `std::sync::Mutex` held, and the resulting actions are carried out before it is
//!   released: each message is encoded with the receiver's serializer (once per
//!   serializer for a fan-out) and offered to its outbox, which never blocks. Nothing
//!   awaits under the lock.
//! - **Slow consumers** (`outbox.rs`). A session over its bounds (`outbound_queue`
//!   messages, `outbound_queue_bytes` encoded bytes, or behind while the router's
//!   `outbound_budget` is spent) first loses the queued events of its `drop_oldest` /
//!   `latest` subscriptions; if that is not enough it is cut: after the current action
//!   list it is removed from the realm (`leave`, freeing its subscriptions and
//!   registrations), its queue is dropped (the bytes go back to the budget at once),
//!   and its writer finishes the frame it is writing, then writes `ABORT
//!   verger.close.slow_consumer` (saying which bound) and closes (WebSocket 1008),
//!   within [`LAST_WORDS`]. The cut session's own task logs the cut, so the log line
//!   carries the cut session's span, not the publisher's. Everybody else keeps getting
//!   every message.
//! - **Message size.** Frames over the transport limit close the connection (WebSocket
//!   1009, RawSocket per spec). A message over `max_message_size` but within the
//!   transport limit: CALL, REGISTER, SUBSCRIBE and PUBLISH with `acknowledge` get ERROR
//!   `wamp.error.payload_size_exceeded`; YIELD (and an ERROR answering an INVOCATION)
//!   becomes `ERROR(INVOCATION, payload_size_exceeded)` for the core, so the caller gets
//!   that error; anything else is ABORTed with `wamp.error.payload_size_exceeded`.
//! - **Outgoing over the limit** (`max_message_size`, or less if a RawSocket peer
//!   announced less). Not sent, logged (rate-limited). A WELCOME is sent with the
//!   roles' feature lists left out (a client may announce 512 bytes); a RESULT (a meta
//!   API reply too) is replaced by `ERROR(CALL, payload_size_exceeded)`, an ERROR by the
//!   same error without payload, an INVOCATION is answered on the callee's behalf with
//!   `ERROR(INVOCATION, payload_size_exceeded)` so the caller gets that error; an EVENT
//!   is dropped for that subscriber only and counted in `dropped` of its next event.
//! - **Repeated warnings** (protocol violations, undecodable messages, cuts, oversized
//!   messages, refused connections) are rate-limited per cause (`throttle.rs`).
//! - **Keepalive.** A transport ping after `ping_interval` without traffic; after
//!   `ping_timeout` without any traffic the session leaves and the connection closes.
//! - **Shutdown.** GOODBYE `wamp.close.system_shutdown`, then wait for the peer's
//!   GOODBYE (the server enforces `shutdown_timeout`).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, trace, warn, Instrument};

use super::auth::Authenticator;
use super::config::RouterConfig;
use super::handshake::{self, Env, Handshake, Step, Welcome};
use super::outbox::{Budget, Delivered, FrameCache, Item, KillOrder, Limits, Outbox, Overflow};
use super::realm::{Action, Output, Realm, SessionId, TimerKey};
use super::throttle::{Cause, Warnings};
use super::vocab::Delivery;
use crate::transport::{
    CloseReason, Incoming, Keepalive, KeepaliveAction, Transport, TransportError, TransportKind,
    TransportWriter,
};
use crate::wamp::{code, uris, Dict, Message, Payload, Serializer, Value};

/// How long a closing session's writer gets to flush its queue.
const WRITER_GRACE: Duration = Duration::from_secs(3);
/// How long a killed writer gets to finish the frame it is writing, then its last
/// message (the ABORT of a cut), then the close. A peer that reads nothing for that
/// long only sees the connection end.
const LAST_WORDS: Duration = Duration::from_secs(5);
/// How long we keep reading after closing, so the peer gets our last frames.
const LINGER: Duration = Duration::from_secs(1);
/// Capacity of the ping/pong control channel.
const CONTROL_QUEUE: usize = 16;

/// What every session task shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub config: RouterConfig,
    pub realms: HashMap<String, Arc<RealmHandle>>,
    pub authenticator: Arc<dyn Authenticator>,
    /// Bytes queued for all sessions (`outbound_budget`).
    pub budget: Arc<Budget>,
    /// Rate limits of repeated warnings.
    pub warnings: Arc<Warnings>,
}

/// One realm: the core, whose session table also holds each session's [`Peer`],
/// under one lock.
#[derive(Debug)]
pub(crate) struct RealmHandle {
    realm: Mutex<Realm<Peer>>,
    warnings: Arc<Warnings>,
}

/// The router's side of a session: its outbound queue, which is also how to stop it.
#[derive(Debug)]
pub(crate) struct Peer {
    outbox: Arc<Outbox>,
}

#[derive(Debug)]
enum Control {
    Ping(Vec<u8>),
    Pong(Vec<u8>),
}

impl Peer {
    /// Queue a closing message behind what is queued, then close.
    fn close(&self, message: Option<Message>, reason: CloseReason) {
        self.outbox.close_with(message.as_ref(), reason);
    }

    /// Cut the session off as a slow consumer.
    fn cut(&self, overflow: Overflow) {
        self.outbox.kill(slow_consumer_order(overflow));
    }
}

/// ABORT `verger.close.slow_consumer`, saying which bound was exceeded, ahead of
/// everything still queued (which is dropped), then a Policy close.
fn slow_consumer_order(overflow: Overflow) -> KillOrder {
    KillOrder {
        message: Some(Message::Abort {
            details: details_message(format!(
                "slow consumer: the session did not read its messages fast enough ({})",
                overflow.describe()
            )),
            reason: uris::CLOSE_SLOW_CONSUMER.into(),
        }),
        reason: CloseReason::Policy,
        overflow: Some(overflow),
    }
}

impl RealmHandle {
    pub(crate) fn new(realm: Realm<Peer>, warnings: Arc<Warnings>) -> RealmHandle {
        RealmHandle {
            realm: Mutex::new(realm),
            warnings,
        }
    }

    /// The guard never leaves `with` and `session_count`, which are synchronous, so it
    /// is never held across an `.await` (`clippy::await_holding_lock`).
    fn lock(&self) -> MutexGuard<'_, Realm<Peer>> {
        // A panic in another session must not take the realm down with it.
        self.realm.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Run `f` on the realm under the lock and carry out what it produced before
    /// releasing the lock.
    pub(crate) fn with<R>(
        self: &Arc<Self>,
        f: impl FnOnce(&mut Realm<Peer>, &mut Output<Peer>) -> R,
    ) -> R {
        let mut realm = self.lock();
        let mut out = Output::new();
        let r = f(&mut realm, &mut out);
        dispatch(&mut realm, self, out);
        r
    }

    pub(crate) fn session_count(&self) -> usize {
        self.lock().session_count()
    }
}

/// Carry out the core's output. Never blocks: messages are encoded and queued, with
/// each receiver's bounds and size limit applied. Sessions over their bounds are cut
/// after the current list, and the actions their `leave` produces are carried out in
/// turn.
fn dispatch(realm: &mut Realm<Peer>, handle: &Arc<RealmHandle>, mut out: Output<Peer>) {
    let mut pending: VecDeque<Action> = std::mem::take(&mut out.actions).into();
    let mut slow: Vec<(SessionId, Overflow)> = Vec::new();
    let mut cache = FrameCache::default();
    loop {
        while let Some(action) = pending.pop_front() {
            match action {
                Action::Send(session, message) => {
                    // A session the core closed during this input still gets what
                    // was meant for it before its close.
                    let peer = realm.link(session).or_else(|| out.closed_link(session));
                    let Some(peer) = peer else {
                        trace!(session, "dropping {} for a gone session", message.name());
                        continue;
                    };
                    let delivery = match &message {
                        Message::Event { subscription, .. } => {
                            realm.broker.delivery(*subscription, session)
                        }
                        _ => Delivery::Cut,
                    };
                    let name = message.name();
                    match peer.outbox.deliver(message, delivery, &mut cache) {
                        Delivered::Queued | Delivered::Gone => {}
                        Delivered::Dropped => {
                            trace!(session, "{name} dropped for this receiver");
                        }
                        Delivered::Oversize { size, replaced } => {
                            oversize_warning(&handle.warnings, session, name, size, replaced);
                        }
                        Delivered::Overflow(overflow) => {
                            if !slow.iter().any(|(s, _)| *s == session) {
                                slow.push((session, overflow));
                            }
                        }
                        Delivered::AnswerInvocation(request) => {
                            oversize_warning(&handle.warnings, session, name, 0, true);
                            let error = Message::Error {
                                request_type: code::INVOCATION,
                                request,
                                details: details_message(
                                    "the invocation exceeds the callee's message size limit",
                                ),
                                error: uris::PAYLOAD_SIZE_EXCEEDED.into(),
                                payload: Payload::default(),
                            };
                            realm.handle(session, error, &mut out);
                            pending.extend(out.actions.drain(..));
                        }
                    }
                }
                Action::Close { session, message } => {
                    if let Some(peer) = out.take_closed(session) {
                        log_close(&handle.warnings, session, &message);
                        peer.close(Some(message), CloseReason::Normal);
                    }
                }
                Action::Timer { key, after } => spawn_timer(handle.clone(), key, after),
            }
        }
        if slow.is_empty() {
            break;
        }
        for (session, overflow) in slow.drain(..) {
            // The cut session's own task logs the cut, in its own span.
            debug!(
                cut_session = session,
                "cutting session {session} as a slow consumer: {}",
                overflow.describe()
            );
            if let Some(peer) = realm.leave(session, &mut out) {
                peer.cut(overflow);
                pending.extend(out.actions.drain(..));
            } else if let Some(peer) = out.closed_link(session) {
                peer.cut(overflow);
            }
        }
    }
}

/// The core closes a session: a protocol violation is a (rate-limited) warning.
fn log_close(warnings: &Warnings, session: SessionId, message: &Message) {
    match message {
        Message::Abort { reason, details } if reason == uris::PROTOCOL_VIOLATION => {
            if let Some(suppressed) = warnings.admit(Cause::ProtocolViolation) {
                let text = details.get("message").and_then(Value::as_str).unwrap_or("");
                warn!(
                    session,
                    suppressed, "protocol violation by session {session}, aborting it: {text}"
                );
            }
        }
        other => debug!(session, "core closes session with {}", other.name()),
    }
}

/// A message for `session` exceeds its size limit (rate-limited warning).
fn oversize_warning(
    warnings: &Warnings,
    session: SessionId,
    what: &str,
    size: usize,
    replaced: bool,
) {
    if let Some(suppressed) = warnings.admit(Cause::Oversize) {
        let instead = match (what, replaced) {
            ("INVOCATION", _) => "answered with payload_size_exceeded for the callee",
            ("RESULT" | "ERROR", true) => "ERROR payload_size_exceeded sent instead",
            ("WELCOME", true) => "sent without the feature lists",
            ("EVENT", _) => "dropped for this subscriber (counted in its next event)",
            _ => "not sent",
        };
        warn!(
            session,
            size,
            suppressed,
            "{what} for session {session} exceeds its message size limit: {instead}"
        );
    }
}

fn spawn_timer(handle: Arc<RealmHandle>, key: TimerKey, after: Duration) {
    tokio::spawn(async move {
        tokio::time::sleep(after).await;
        handle.with(|realm, out| realm.timer(key, out));
    });
}

/// Where the session is in its lifecycle (spec: basic/sessions.md).
#[derive(Debug)]
enum State {
    /// Before WELCOME: the I/O-free handshake decides.
    Opening(Handshake),
    Established {
        realm: Arc<RealmHandle>,
        id: SessionId,
    },
    /// We sent GOODBYE (shutdown) and wait for the reply; other messages are ignored.
    ShuttingDown,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flow {
    Continue,
    Stop,
}

struct Session {
    shared: Arc<Shared>,
    serializer: Serializer,
    transport_info: Dict,
    outbox: Arc<Outbox>,
    ctrl: mpsc::Sender<Control>,
    state: State,
}

/// How the writer task ended.
#[derive(Debug)]
enum WriterEnd {
    /// Closed the transport after the queue said so.
    Closed,
    /// Told to stop by a kill order.
    Killed,
    Failed(TransportError),
}

/// Serve one established transport until the session ends. Runs inside the
/// connection's tracing span.
pub(crate) async fn run(shared: Arc<Shared>, transport: Transport, shutdown: CancellationToken) {
    let Transport {
        serializer,
        kind,
        peer,
        peer_max_message,
        mut reader,
        writer,
    } = transport;
    let config = &shared.config;
    let outbox = Arc::new(Outbox::new(
        serializer,
        Limits {
            messages: config.outbound_queue,
            bytes: config.outbound_queue_bytes,
            message_size: config.max_message_size.min(peer_max_message),
        },
        shared.budget.clone(),
    ));
    let (ctrl_tx, ctrl_rx) = mpsc::channel(CONTROL_QUEUE);
    let mut kill_rx = outbox.kill_orders();
    let mut writer_task = tokio::spawn(
        write_loop(writer, outbox.clone(), ctrl_rx).instrument(tracing::Span::current()),
    );
    // If this task is aborted (shutdown timeout), the writer goes with it.
    let _writer_guard = AbortOnDrop(writer_task.abort_handle());

    let transport_info = crate::dict! {
        "type" => match kind {
            TransportKind::WebSocket => "websocket",
            TransportKind::RawSocketTcp | TransportKind::RawSocketUnix => "rawsocket",
        },
        "serializer" => serializer.name(),
        "peer" => peer.as_str(),
    };
    let mut session = Session {
        shared: shared.clone(),
        serializer,
        transport_info,
        outbox: outbox.clone(),
        ctrl: ctrl_tx,
        state: State::Opening(Handshake::AwaitingHello),
    };
    let mut keepalive = Keepalive::new(
        config.ping_interval,
        config.ping_timeout,
        tokio::time::Instant::now().into_std(),
    );
    let hello_deadline = tokio::time::Instant::now() + config.handshake_timeout;
    let mut writer_end = None;
    let mut reader_open = true;
    let mut shutdown_seen = false;

    loop {
        let deadline = keepalive.next_deadline();
        tokio::select! {
            biased;
            order = killed(&mut kill_rx) => {
                match order.and_then(|o| o.overflow) {
                    Some(overflow) => session.log_cut(overflow),
                    None => debug!("closed by the router"),
                }
                break;
            }
            end = &mut writer_task => {
                writer_end = Some(end.unwrap_or(WriterEnd::Killed));
                break;
            }
            _ = shutdown.cancelled(), if !shutdown_seen => {
                shutdown_seen = true;
                if session.begin_shutdown() == Flow::Stop {
                    break;
                }
            }
            _ = tokio::time::sleep_until(hello_deadline), if session.is_opening() => {
                session.abort(
                    uris::TIMEOUT,
                    format!("no HELLO within {:?}", config.handshake_timeout),
                );
                break;
            }
            _ = sleep_until(deadline), if deadline.is_some() => {
                match keepalive.poll(tokio::time::Instant::now().into_std()) {
                    KeepaliveAction::Nothing => {}
                    KeepaliveAction::SendPing => {
                        trace!("ping");
                        let _ = session.ctrl.try_send(Control::Ping(keepalive.ping_payload()));
                    }
                    KeepaliveAction::Dead => {
                        info!(timeout = ?config.ping_timeout, "no traffic from the peer: closing");
                        session.leave();
                        session.kill_self(None, CloseReason::Policy);
                        break;
                    }
                }
            }
            // `TransportReader::recv` is cancel-safe: when another branch wins, a
            // frame that was half read stays in the reader for the next turn.
            incoming = reader.recv() => match incoming {
                Ok(Some(incoming)) => {
                    keepalive.on_traffic(tokio::time::Instant::now().into_std());
                    match incoming {
                        Incoming::Message(bytes) => {
                            if session.on_message(bytes) == Flow::Stop {
                                break;
                            }
                        }
                        Incoming::Ping(payload) => {
                            let _ = session.ctrl.try_send(Control::Pong(payload));
                        }
                        Incoming::Pong(_) => trace!("pong"),
                    }
                }
                Ok(None) => {
                    debug!("peer closed the connection");
                    reader_open = false;
                    session.leave();
                    session.kill_self(None, CloseReason::Normal);
                    break;
                }
                Err(TransportError::TooLarge { size, limit }) => {
                    info!(size, limit, "message over the transport limit: closing");
                    reader_open = false;
                    session.leave();
                    session.kill_self(None, CloseReason::TooLarge);
                    break;
                }
                Err(e) => {
                    debug!("transport error: {e}");
                    reader_open = false;
                    session.leave();
                    session.kill_self(None, e.close_reason());
                    break;
                }
            },
        }
    }

    // The session is over: make sure the realm forgets it, let the writer flush
    // (bounded), then read a little longer so that the peer gets our last frames.
    session.leave();
    drop(session);
    // Whatever ended the loop, the writer closes once the queue is written.
    outbox.close(None, CloseReason::Normal);
    let end = match writer_end {
        Some(end) => end,
        None => match tokio::time::timeout(WRITER_GRACE, &mut writer_task).await {
            Ok(end) => end.unwrap_or(WriterEnd::Killed),
            Err(_) => {
                debug!("writer did not finish in time: killing it");
                outbox.kill(KillOrder {
                    message: None,
                    reason: CloseReason::Policy,
                    overflow: None,
                });
                match tokio::time::timeout(LAST_WORDS + LINGER, &mut writer_task).await {
                    Ok(end) => end.unwrap_or(WriterEnd::Killed),
                    Err(_) => {
                        writer_task.abort();
                        WriterEnd::Killed
                    }
                }
            }
        },
    };
    match &end {
        WriterEnd::Failed(e) => debug!("writer failed: {e}"),
        other => trace!("writer ended: {other:?}"),
    }
    if reader_open && !matches!(end, WriterEnd::Failed(_)) {
        let _ = tokio::time::timeout(LINGER, async {
            while let Ok(Some(_)) = reader.recv().await {}
        })
        .await;
    }
    debug!("session task done");
}

/// The first kill order (the `watch` guard is not held across an await).
async fn killed(kill: &mut watch::Receiver<Option<KillOrder>>) -> Option<KillOrder> {
    let order = kill.wait_for(Option::is_some).await.ok().map(|o| o.clone());
    match order {
        Some(order) => order,
        None => std::future::pending().await,
    }
}

struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn sleep_until(deadline: Option<std::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
        None => std::future::pending().await,
    }
}

fn details_message(text: impl Into<String>) -> Dict {
    crate::dict! { "message" => text.into() }
}

impl Session {
    fn config(&self) -> &RouterConfig {
        &self.shared.config
    }

    /// Still before WELCOME?
    fn is_opening(&self) -> bool {
        matches!(self.state, State::Opening(_))
    }

    /// This session was cut as a slow consumer (rate-limited warning, in this
    /// session's span: the line names the session that was cut, not the publisher
    /// whose message overflowed its queue).
    fn log_cut(&self, overflow: Overflow) {
        if let Some(suppressed) = self.shared.warnings.admit(Cause::SlowConsumer) {
            let id = match &self.state {
                State::Established { id, .. } => Some(*id),
                _ => None,
            };
            let who = match id {
                Some(id) => format!("session {id}"),
                None => "this session".to_owned(),
            };
            let peer = self
                .transport_info
                .get("peer")
                .and_then(Value::as_str)
                .unwrap_or("?");
            warn!(
                suppressed,
                "slow consumer: {who} ({peer}) is cut off: {}",
                overflow.describe()
            );
        }
    }

    /// Queue a message for our own peer; over its bounds, we are a slow consumer.
    fn send_own(&mut self, message: Message) -> Flow {
        match self
            .outbox
            .deliver(message, Delivery::Cut, &mut FrameCache::default())
        {
            Delivered::Overflow(overflow) => {
                self.leave();
                self.outbox.kill(slow_consumer_order(overflow));
                Flow::Stop
            }
            Delivered::Gone => Flow::Stop,
            _ => Flow::Continue,
        }
    }

    /// Queue `message` and a close behind everything queued.
    fn close(&mut self, message: Option<Message>, reason: CloseReason) -> Flow {
        self.outbox.close_with(message.as_ref(), reason);
        Flow::Stop
    }

    fn kill_self(&self, message: Option<Message>, reason: CloseReason) {
        self.outbox.kill(KillOrder {
            message,
            reason,
            overflow: None,
        });
    }

    /// ABORT with `reason` and close.
    fn abort(&mut self, reason: &str, message: impl Into<String>) -> Flow {
        let message = message.into();
        info!(reason, "aborting session: {message}");
        self.send_abort(reason, message)
    }

    fn send_abort(&mut self, reason: &str, message: String) -> Flow {
        self.leave();
        self.close(
            Some(Message::Abort {
                details: details_message(message),
                reason: reason.into(),
            }),
            CloseReason::Normal,
        )
    }

    /// ABORT `wamp.error.protocol_violation`, with a rate-limited warning: a fuzzer
    /// must not fill the disk.
    fn protocol_violation(&mut self, cause: Cause, message: impl Into<String>) -> Flow {
        let message = message.into();
        if let Some(suppressed) = self.shared.warnings.admit(cause) {
            warn!(
                suppressed,
                "{}: aborting the session: {message}",
                cause.as_str()
            );
        }
        self.send_abort(uris::PROTOCOL_VIOLATION, message)
    }

    /// Leave the realm (if joined): remove our queue and let the core free our
    /// subscriptions and registrations. Idempotent.
    fn leave(&mut self) {
        if let State::Established { realm, id } = &self.state {
            let id = *id;
            realm.with(|realm, out| {
                realm.leave(id, out);
            });
            debug!("left the realm");
        }
        if !matches!(self.state, State::Opening(Handshake::AwaitingHello)) {
            self.state = State::ShuttingDown;
        }
    }

    /// The router is shutting down.
    fn begin_shutdown(&mut self) -> Flow {
        match self.state {
            State::Opening(_) => {
                self.kill_self(None, CloseReason::GoingAway);
                Flow::Stop
            }
            State::Established { .. } => {
                self.leave();
                self.send_own(Message::Goodbye {
                    details: details_message("The router is shutting down."),
                    reason: uris::CLOSE_SYSTEM_SHUTDOWN.into(),
                })
            }
            State::ShuttingDown => Flow::Continue,
        }
    }

    fn on_message(&mut self, bytes: Vec<u8>) -> Flow {
        let size = bytes.len();
        let message = match self.serializer.decode_forwarding(&bytes) {
            Ok(m) => m,
            Err(e) => {
                return self
                    .protocol_violation(Cause::DecodeError, format!("cannot decode message: {e}"))
            }
        };
        drop(bytes);
        trace!(size, "received {}", message.name());
        match &self.state {
            State::Opening(_) => self.on_opening(message),
            State::ShuttingDown => match message {
                Message::Goodbye { .. } | Message::Abort { .. } => {
                    debug!("peer acknowledged the shutdown");
                    self.close(None, CloseReason::GoingAway)
                }
                // Spec: while shutting down, other messages are ignored.
                _ => Flow::Continue,
            },
            State::Established { realm, id } => {
                let (realm, id) = (realm.clone(), *id);
                if let Err(violation) = handshake::check_established(&message) {
                    return self.protocol_violation(Cause::ProtocolViolation, violation);
                }
                match message {
                    Message::Abort { reason, .. } => {
                        info!(reason, "peer aborted the session");
                        self.leave();
                        self.close(None, CloseReason::Normal)
                    }
                    Message::Goodbye { reason, .. } => {
                        debug!(reason, "peer said goodbye");
                        self.leave();
                        self.close(
                            Some(Message::Goodbye {
                                details: Dict::new(),
                                reason: uris::CLOSE_GOODBYE_AND_OUT.into(),
                            }),
                            CloseReason::Normal,
                        )
                    }
                    message if size > self.config().max_message_size => {
                        self.oversize(&realm, id, message, size)
                    }
                    message => self.route(&realm, id, message),
                }
            }
        }
    }

    /// Hand a message to the core; `Stop` if the router already closed us.
    fn route(&mut self, realm: &Arc<RealmHandle>, id: SessionId, message: Message) -> Flow {
        let present = realm.with(|realm, out| {
            if realm.is_joined(id) {
                realm.handle(id, message, out);
                true
            } else {
                false
            }
        });
        if present {
            Flow::Continue
        } else {
            Flow::Stop
        }
    }

    fn oversize(
        &mut self,
        realm: &Arc<RealmHandle>,
        id: SessionId,
        message: Message,
        size: usize,
    ) -> Flow {
        let limit = self.config().max_message_size;
        let text = format!("message of {size} bytes exceeds the router's limit of {limit} bytes");
        info!(size, limit, "oversized {}", message.name());
        let error = |request_type: u64, request| Message::Error {
            request_type,
            request,
            details: details_message(text.clone()),
            error: uris::PAYLOAD_SIZE_EXCEEDED.into(),
            payload: Payload::default(),
        };
        match message {
            Message::Call { request, .. } => self.send_own(error(code::CALL, request)),
            Message::Register { request, .. } => self.send_own(error(code::REGISTER, request)),
            Message::Subscribe { request, .. } => self.send_own(error(code::SUBSCRIBE, request)),
            Message::Publish {
                request, options, ..
            } if options.get("acknowledge").and_then(Value::as_bool) == Some(true) => {
                self.send_own(error(code::PUBLISH, request))
            }
            Message::Yield { request, .. }
            | Message::Error {
                request_type: code::INVOCATION,
                request,
                ..
            } => self.route(realm, id, error(code::INVOCATION, request)),
            other => self.abort(
                uris::PAYLOAD_SIZE_EXCEEDED,
                format!("{} {text}", other.name()),
            ),
        }
    }

    /// A message before WELCOME: the handshake decides, we carry it out.
    fn on_opening(&mut self, message: Message) -> Flow {
        let State::Opening(handshake) = &mut self.state else {
            return Flow::Continue;
        };
        let shared = &self.shared;
        let env = Env {
            realm_exists: &|name| shared.realms.contains_key(name),
            authenticator: &*shared.authenticator,
            transport: &self.transport_info,
        };
        let name = message.name();
        match handshake.on_message(message, &env) {
            Step::Challenge(challenge) => self.send_own(challenge),
            Step::Welcome(welcome) => self.welcome(welcome),
            Step::Abort { reason, message } if reason == uris::PROTOCOL_VIOLATION => {
                self.protocol_violation(Cause::ProtocolViolation, message)
            }
            Step::Abort { reason, message } => self.abort(&reason, message),
            Step::Close => {
                debug!("peer sent {name} before joining");
                self.close(None, CloseReason::Normal)
            }
        }
    }

    /// Join the realm with a fresh id: WELCOME first, then the realm hears of us.
    fn welcome(&mut self, welcome: Welcome) -> Flow {
        let Some(realm) = self.shared.realms.get(welcome.realm()).cloned() else {
            return self.abort(uris::NO_SUCH_REALM, "The realm does not exist.");
        };
        let realm_name = welcome.realm().to_owned();
        let authid = welcome.identity().authid.clone();
        let peer = Peer {
            outbox: self.outbox.clone(),
        };
        let outbox = self.outbox.clone();
        let id = realm.with(move |realm, out| {
            let id = realm.unused_id();
            let (message, info) = welcome.into_parts(id);
            // WELCOME goes first, before anything `join` produces for this session.
            match outbox.deliver(message, Delivery::Cut, &mut FrameCache::default()) {
                Delivered::Queued | Delivered::Oversize { replaced: true, .. } => {}
                _ => return None,
            }
            realm.join(info, peer, out);
            Some(id)
        });
        let Some(id) = id else {
            debug!("WELCOME could not be queued: closing");
            self.kill_self(None, CloseReason::Policy);
            return Flow::Stop;
        };
        tracing::Span::current().record("session", id);
        tracing::Span::current().record("realm", realm_name.as_str());
        info!(authid, "session joined");
        self.state = State::Established { realm, id };
        Flow::Continue
    }
}

/// The writer task: writes what the outbox holds, pings and pongs. A kill order
/// stops it between two frames: the frame being written is finished (bounded by
/// [`LAST_WORDS`], so that no half frame is left on the wire), then the kill's message
/// and the close follow, ahead of everything that was still queued.
async fn write_loop(
    mut writer: TransportWriter,
    outbox: Arc<Outbox>,
    mut ctrl: mpsc::Receiver<Control>,
) -> WriterEnd {
    enum Step {
        Ctrl(Control),
        /// An item, and whether more wait behind it.
        Item(Item, bool),
        /// Write out what earlier steps fed without flushing.
        Flush,
    }
    enum Outcome {
        Done(Result<bool, TransportError>),
        /// Killed during a write that then finished before this deadline.
        KilledAfter(tokio::time::Instant),
        /// Killed during a write that did not finish in time.
        KilledMidWrite,
    }
    let serializer = outbox.serializer();
    let mut kill = outbox.kill_orders();
    // Fed to the transport but not flushed yet.
    let mut unflushed = false;
    // Whether the queue was empty when the last item was done with.
    let mut drained = false;
    loop {
        let step = if unflushed && drained {
            Step::Flush
        } else {
            tokio::select! {
                biased;
                order = killed(&mut kill) => {
                    let deadline = tokio::time::Instant::now() + LAST_WORDS;
                    return last_words(&mut writer, serializer, order, deadline).await;
                }
                Some(c) = ctrl.recv() => Step::Ctrl(c),
                (item, more) = outbox.next() => Step::Item(item, more),
            }
        };
        // Under load the queue holds more: feed this message and flush with the last
        // one, one write for a burst instead of one per message.
        let (size, flush) = match &step {
            Step::Item(item, more) => (item.size(), !more),
            _ => (0, true),
        };
        let outcome = {
            let work = async {
                match step {
                    Step::Ctrl(Control::Ping(p)) => writer.ping(p).await.map(|_| false),
                    Step::Ctrl(Control::Pong(p)) => writer.pong(p).await.map(|_| false),
                    Step::Flush => writer.flush().await.map(|_| false),
                    Step::Item(Item::Frame(bytes), _) => {
                        feed(&mut writer, Vec::from(bytes), flush).await
                    }
                    Step::Item(Item::Event(event), _) => {
                        feed(&mut writer, event.encode(serializer), flush).await
                    }
                    Step::Item(Item::Close { frame, reason }, _) => {
                        if let Some(frame) = frame {
                            writer.send(Vec::from(frame)).await?;
                        }
                        writer.close_with(reason).await.map(|_| true)
                    }
                }
            };
            tokio::pin!(work);
            tokio::select! {
                biased;
                result = &mut work => Outcome::Done(result),
                _ = killed(&mut kill) => {
                    let deadline = tokio::time::Instant::now() + LAST_WORDS;
                    match tokio::time::timeout_at(deadline, &mut work).await {
                        Ok(Ok(_)) => Outcome::KilledAfter(deadline),
                        _ => Outcome::KilledMidWrite,
                    }
                }
            }
        };
        drained = outbox.written(size);
        match outcome {
            Outcome::Done(Ok(false)) => {
                unflushed = size > 0 && !flush;
            }
            Outcome::Done(Ok(true)) => return WriterEnd::Closed,
            Outcome::Done(Err(e)) => return WriterEnd::Failed(e),
            Outcome::KilledAfter(deadline) => {
                let order = kill.borrow().clone();
                return last_words(&mut writer, serializer, order, deadline).await;
            }
            Outcome::KilledMidWrite => return WriterEnd::Killed,
        }
    }
}

/// Feed one message; flush unless more are waiting.
async fn feed(
    writer: &mut TransportWriter,
    bytes: Vec<u8>,
    flush: bool,
) -> Result<bool, TransportError> {
    writer.feed(bytes).await?;
    if flush {
        writer.flush().await?;
    }
    Ok(false)
}

/// The kill order's message (the ABORT of a cut) and the close, by `deadline`.
async fn last_words(
    writer: &mut TransportWriter,
    serializer: Serializer,
    order: Option<KillOrder>,
    deadline: tokio::time::Instant,
) -> WriterEnd {
    let (message, reason) = match order {
        Some(KillOrder {
            message, reason, ..
        }) => (message, reason),
        None => (None, CloseReason::Policy),
    };
    if let Some(message) = message {
        let sent = tokio::time::timeout_at(deadline, writer.send(serializer.encode(&message)));
        if !matches!(sent.await, Ok(Ok(()))) {
            return WriterEnd::Killed;
        }
    }
    let close_by = deadline.max(tokio::time::Instant::now() + Duration::from_millis(200));
    let _ = tokio::time::timeout_at(close_by, writer.close_with(reason)).await;
    WriterEnd::Killed
}
