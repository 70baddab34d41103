//! One task per connection, the async shell around the I/O-free core: before WELCOME
//! it hands every message to the [`Handshake`] and carries out the [`Step`] it
//! returns; afterwards to the realm's [`Realm`] core, and carries out its
//! [`Output`]. Plus one writer task per session. Only I/O and policy live here.
//!
//! ```text
//!   reader ──► session task ──► handshake.on_message() ─► CHALLENGE / WELCOME / ABORT
//!                  │
//!                  ├──────────► realm.lock(): handle() + dispatch(output) ──┐
//!                  │                                                        │ try_send
//!                  │ ctrl (ping/pong)                                       ▼
//!                  └────────────────────────────────► writer task ◄── outbound queue
//!                                                          │             (bounded)
//!                                                          ▼
//!                                                   transport writer
//! ```
//!
//! Each session's [`Peer`] (its outbound queue and kill switch) lives in the realm's
//! one session table, next to the session's routing state: joining inserts both,
//! every way out hands the `Peer` back (see `realm.rs`).
//!
//! Policies:
//!
//! - **Routing under the lock.** Every input goes to the core with the realm's
//!   `std::sync::Mutex` held, and the resulting actions are carried out before it is
//!   released, with `try_send` into the destination sessions' bounded queues. Nothing
//!   awaits under the lock.
//! - **Slow consumers.** A session whose queue (`outbound_queue` messages) is full is cut:
//!   after the current action list, it is removed from the realm (`leave`, freeing its
//!   subscriptions and registrations), and its writer is told to stop: it skips what is
//!   queued, tries for a second to write `ABORT verger.close.slow_consumer`, and closes.
//!   Everybody else keeps getting every message; memory per session stays bounded.
//! - **Message size.** Frames over the transport limit close the connection (WebSocket
//!   1009, RawSocket per spec). A message over `max_message_size` but within the
//!   transport limit: CALL, REGISTER, SUBSCRIBE and PUBLISH with `acknowledge` get ERROR
//!   `wamp.error.payload_size_exceeded`; YIELD (and an ERROR answering an INVOCATION)
//!   becomes `ERROR(INVOCATION, payload_size_exceeded)` for the core, so the caller gets
//!   that error; anything else is ABORTed with `wamp.error.payload_size_exceeded`.
//! - **Outgoing over a RawSocket peer's announced limit.** Not sent, logged. A WELCOME
//!   is sent with the roles' feature lists left out (a client may announce 512 bytes);
//!   a RESULT is
//!   replaced by `ERROR(CALL, payload_size_exceeded)`, an ERROR by the same error without
//!   payload (URI `payload_size_exceeded`), an INVOCATION is answered on the callee's
//!   behalf with `ERROR(INVOCATION, payload_size_exceeded)` so the caller is not left
//!   waiting; an EVENT is dropped for that subscriber only.
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
use super::realm::{Action, Output, Realm, SessionId, TimerKey};
use crate::transport::{
    CloseReason, Incoming, Keepalive, KeepaliveAction, Transport, TransportError, TransportKind,
    TransportWriter,
};
use crate::wamp::{code, uris, Dict, Message, Payload, Serializer, Value};

/// How long a closing session's writer gets to flush its queue.
const WRITER_GRACE: Duration = Duration::from_secs(3);
/// How long a killed writer gets for its last message, and for the close.
const LAST_WORDS: Duration = Duration::from_secs(1);
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
}

/// One realm: the core, whose session table also holds each session's [`Peer`],
/// under one lock.
#[derive(Debug)]
pub(crate) struct RealmHandle {
    realm: Mutex<Realm<Peer>>,
}

/// The router's side of a session: where to queue its messages and how to stop it.
#[derive(Debug)]
pub(crate) struct Peer {
    queue: mpsc::Sender<Outbound>,
    kill: Arc<watch::Sender<Option<KillOrder>>>,
}

#[derive(Debug)]
enum Outbound {
    Message(Message),
    /// Send `message` (if any) after everything queued before it, then close.
    Close {
        message: Option<Message>,
        reason: CloseReason,
    },
}

#[derive(Debug)]
enum Control {
    Ping(Vec<u8>),
    Pong(Vec<u8>),
}

/// Stop now: skip the queue, try to write `message`, close.
#[derive(Clone, Debug)]
struct KillOrder {
    message: Option<Message>,
    reason: CloseReason,
}

impl Peer {
    /// Queue a closing message behind what is queued; if the queue is full, kill.
    fn close(&self, message: Option<Message>, reason: CloseReason) {
        match self.queue.try_send(Outbound::Close {
            message: message.clone(),
            reason,
        }) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => self.kill(message, reason),
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }

    fn kill(&self, message: Option<Message>, reason: CloseReason) {
        self.kill.send_if_modified(|order| {
            if order.is_none() {
                *order = Some(KillOrder { message, reason });
                true
            } else {
                false
            }
        });
    }
}

fn slow_consumer_abort() -> Message {
    Message::Abort {
        details: crate::dict! {
            "message" => "outbound queue overflow: the session did not read its messages fast enough"
        },
        reason: uris::CLOSE_SLOW_CONSUMER.into(),
    }
}

impl RealmHandle {
    pub(crate) fn new(realm: Realm<Peer>) -> RealmHandle {
        RealmHandle {
            realm: Mutex::new(realm),
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

/// Carry out the core's output. Never blocks: `try_send` only. Sessions whose queue
/// is full are cut after the current list, and the actions their `leave` produces
/// are carried out in turn.
fn dispatch(realm: &mut Realm<Peer>, handle: &Arc<RealmHandle>, mut out: Output<Peer>) {
    let mut pending: VecDeque<Action> = std::mem::take(&mut out.actions).into();
    let mut slow: Vec<SessionId> = Vec::new();
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
                    match peer.queue.try_send(Outbound::Message(message)) {
                        Ok(()) => {}
                        Err(mpsc::error::TrySendError::Full(_)) => {
                            if !slow.contains(&session) {
                                slow.push(session);
                            }
                        }
                        // The session task is ending; it leaves by itself.
                        Err(mpsc::error::TrySendError::Closed(_)) => {}
                    }
                }
                Action::Close { session, message } => {
                    if let Some(peer) = out.take_closed(session) {
                        debug!(session, "core closes session with {}", message.name());
                        peer.close(Some(message), CloseReason::Normal);
                    }
                }
                Action::Timer { key, after } => spawn_timer(handle.clone(), key, after),
            }
        }
        if slow.is_empty() {
            break;
        }
        for session in slow.drain(..) {
            if let Some(peer) = realm.leave(session, &mut out) {
                warn!(
                    session,
                    "slow consumer: outbound queue full, closing the session"
                );
                peer.kill(Some(slow_consumer_abort()), CloseReason::Policy);
                pending.extend(out.actions.drain(..));
            }
        }
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
    queue: mpsc::Sender<Outbound>,
    ctrl: mpsc::Sender<Control>,
    kill: Arc<watch::Sender<Option<KillOrder>>>,
    state: State,
}

/// How the writer task ended.
#[derive(Debug)]
enum WriterEnd {
    /// Closed the transport after the queue said so (or all senders were gone).
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
    let (queue_tx, queue_rx) = mpsc::channel(config.outbound_queue);
    let (ctrl_tx, ctrl_rx) = mpsc::channel(CONTROL_QUEUE);
    let (undeliverable_tx, mut undeliverable_rx) = mpsc::channel(CONTROL_QUEUE);
    let kill = Arc::new(watch::channel(None).0);
    let mut kill_rx = kill.subscribe();
    let mut writer_task = tokio::spawn(
        write_loop(
            writer,
            serializer,
            peer_max_message,
            queue_rx,
            ctrl_rx,
            kill.subscribe(),
            undeliverable_tx,
        )
        .instrument(tracing::Span::current()),
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
        queue: queue_tx,
        ctrl: ctrl_tx,
        kill: kill.clone(),
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
            _ = kill_rx.wait_for(Option::is_some) => {
                debug!("closed by the router");
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
            Some(message) = undeliverable_rx.recv() => session.undeliverable(message),
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
    let end = match writer_end {
        Some(end) => end,
        None => match tokio::time::timeout(WRITER_GRACE, &mut writer_task).await {
            Ok(end) => end.unwrap_or(WriterEnd::Killed),
            Err(_) => {
                debug!("writer did not finish in time: killing it");
                kill.send_replace(Some(KillOrder {
                    message: None,
                    reason: CloseReason::Policy,
                }));
                match tokio::time::timeout(LAST_WORDS * 3, &mut writer_task).await {
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

    /// Queue a message for our own peer; a full queue makes us a slow consumer.
    fn send_own(&mut self, message: Message) -> Flow {
        match self.queue.try_send(Outbound::Message(message)) {
            Ok(()) => Flow::Continue,
            Err(mpsc::error::TrySendError::Full(_)) => {
                warn!("slow consumer: outbound queue full, closing the session");
                self.leave();
                self.kill_self(Some(slow_consumer_abort()), CloseReason::Policy);
                Flow::Stop
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Flow::Stop,
        }
    }

    /// Queue `message` and a close behind everything queued (kill if full).
    fn close(&mut self, message: Option<Message>, reason: CloseReason) -> Flow {
        match self.queue.try_send(Outbound::Close {
            message: message.clone(),
            reason,
        }) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => self.kill_self(message, reason),
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
        Flow::Stop
    }

    fn kill_self(&self, message: Option<Message>, reason: CloseReason) {
        self.kill.send_if_modified(|order| {
            if order.is_none() {
                *order = Some(KillOrder { message, reason });
                true
            } else {
                false
            }
        });
    }

    /// ABORT with `reason` and close.
    fn abort(&mut self, reason: &str, message: impl Into<String>) -> Flow {
        let message = message.into();
        info!(reason, "aborting session: {message}");
        self.leave();
        self.close(
            Some(Message::Abort {
                details: details_message(message),
                reason: reason.into(),
            }),
            CloseReason::Normal,
        )
    }

    fn protocol_violation(&mut self, message: impl Into<String>) -> Flow {
        self.abort(uris::PROTOCOL_VIOLATION, message)
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
            Err(e) => return self.protocol_violation(format!("cannot decode message: {e}")),
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
                    return self.protocol_violation(violation);
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
            queue: self.queue.clone(),
            kill: self.kill.clone(),
        };
        let queue = self.queue.clone();
        let id = realm.with(move |realm, out| {
            let id = realm.unused_id();
            let (message, info) = welcome.into_parts(id);
            // WELCOME goes first, before anything `join` produces for this session.
            if queue.try_send(Outbound::Message(message)).is_err() {
                return None;
            }
            realm.join(info, peer, out);
            Some(id)
        });
        let Some(id) = id else {
            warn!("slow consumer: outbound queue full before WELCOME, closing");
            self.kill_self(Some(slow_consumer_abort()), CloseReason::Policy);
            return Flow::Stop;
        };
        tracing::Span::current().record("session", id);
        tracing::Span::current().record("realm", realm_name.as_str());
        info!(authid, "session joined");
        self.state = State::Established { realm, id };
        Flow::Continue
    }

    /// The writer could not send an INVOCATION to our peer (over its RawSocket limit):
    /// answer it on the callee's behalf so the caller is not left waiting.
    fn undeliverable(&mut self, message: Message) {
        if let (Message::Invocation { request, .. }, State::Established { realm, id }) =
            (&message, &self.state)
        {
            let (realm, id) = (realm.clone(), *id);
            let error = Message::Error {
                request_type: code::INVOCATION,
                request: *request,
                details: details_message("the invocation exceeds the callee's message size limit"),
                error: uris::PAYLOAD_SIZE_EXCEEDED.into(),
                payload: Payload::default(),
            };
            let _ = self.route(&realm, id, error);
        }
    }
}

/// The writer task: encodes and writes queued messages, pings and pongs; obeys kill
/// orders at once, even in the middle of a blocked write.
async fn write_loop(
    mut writer: TransportWriter,
    serializer: Serializer,
    peer_max: usize,
    mut queue: mpsc::Receiver<Outbound>,
    mut ctrl: mpsc::Receiver<Control>,
    mut kill: watch::Receiver<Option<KillOrder>>,
    undeliverable: mpsc::Sender<Message>,
) -> WriterEnd {
    enum Item {
        Out(Outbound),
        Ctrl(Control),
        Done,
        Kill(Option<KillOrder>),
    }
    loop {
        let item = tokio::select! {
            biased;
            order = kill.wait_for(Option::is_some) => Item::Kill(order.ok().and_then(|o| o.clone())),
            Some(c) = ctrl.recv() => Item::Ctrl(c),
            out = queue.recv() => match out {
                Some(o) => Item::Out(o),
                None => Item::Done,
            },
        };
        if let Item::Kill(order) = item {
            return last_words(&mut writer, serializer, order).await;
        }
        // Under load the queue holds more: buffer this message and flush with the last
        // one, one write for a burst instead of one per message.
        let flush = queue.is_empty();
        let work = async {
            match item {
                Item::Ctrl(Control::Ping(p)) => writer.ping(p).await.map(|_| false),
                Item::Ctrl(Control::Pong(p)) => writer.pong(p).await.map(|_| false),
                Item::Out(Outbound::Message(message)) => send_message(
                    &mut writer,
                    serializer,
                    peer_max,
                    message,
                    &undeliverable,
                    flush,
                )
                .await
                .map(|_| false),
                Item::Out(Outbound::Close { message, reason }) => {
                    if let Some(message) = message {
                        send_message(
                            &mut writer,
                            serializer,
                            peer_max,
                            message,
                            &undeliverable,
                            true,
                        )
                        .await?;
                    }
                    writer.close_with(reason).await.map(|_| true)
                }
                Item::Done => writer.close().await.map(|_| true),
                Item::Kill(_) => Ok(true),
            }
        };
        // A blocked write must not outlive a kill order; after an interrupted write
        // the stream may hold half a frame, so nothing more is written.
        tokio::select! {
            biased;
            _ = kill.wait_for(Option::is_some) => return WriterEnd::Killed,
            result = work => match result {
                Ok(false) => {}
                Ok(true) => return WriterEnd::Closed,
                Err(e) => return WriterEnd::Failed(e),
            },
        }
    }
}

async fn last_words(
    writer: &mut TransportWriter,
    serializer: Serializer,
    order: Option<KillOrder>,
) -> WriterEnd {
    let (message, reason) = match order {
        Some(KillOrder { message, reason }) => (message, reason),
        None => (None, CloseReason::Policy),
    };
    if let Some(message) = message {
        let _ = tokio::time::timeout(LAST_WORDS, writer.send(serializer.encode(&message))).await;
    }
    let _ = tokio::time::timeout(LAST_WORDS, writer.close_with(reason)).await;
    WriterEnd::Killed
}

/// Encode and send; apply the policy for messages over the peer's RawSocket limit.
async fn send_message(
    writer: &mut TransportWriter,
    serializer: Serializer,
    peer_max: usize,
    message: Message,
    undeliverable: &mpsc::Sender<Message>,
    flush: bool,
) -> Result<(), TransportError> {
    let bytes = serializer.encode(&message);
    if bytes.len() <= peer_max {
        writer.feed(bytes).await?;
        return if flush { writer.flush().await } else { Ok(()) };
    }
    warn!(
        size = bytes.len(),
        limit = peer_max,
        "{} exceeds the peer's message size limit: not sent",
        message.name()
    );
    let replacement = match message {
        // A client may announce as little as 512 bytes: keep the roles, drop the
        // feature lists, so that it can at least join.
        Message::Welcome {
            session,
            mut details,
        } => {
            if let Some(Value::Dict(roles)) = details.get_mut("roles") {
                for features in roles.values_mut() {
                    *features = Value::Dict(Dict::new());
                }
            }
            Some(Message::Welcome { session, details })
        }
        Message::Result { request, .. } => Some(Message::Error {
            request_type: code::CALL,
            request,
            details: details_message("the result exceeds the caller's message size limit"),
            error: uris::PAYLOAD_SIZE_EXCEEDED.into(),
            payload: Payload::default(),
        }),
        Message::Error {
            request_type,
            request,
            ..
        } => Some(Message::Error {
            request_type,
            request,
            details: details_message("the error exceeds the caller's message size limit"),
            error: uris::PAYLOAD_SIZE_EXCEEDED.into(),
            payload: Payload::default(),
        }),
        invocation @ Message::Invocation { .. } => {
            let _ = undeliverable.try_send(invocation);
            None
        }
        _ => None,
    };
    match replacement {
        Some(m) => {
            let bytes = serializer.encode(&m);
            if bytes.len() <= peer_max {
                writer.send(bytes).await
            } else {
                Ok(())
            }
        }
        None => Ok(()),
    }
}
