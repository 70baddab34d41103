//! The session task: the async shell around [`Core`]. It owns the transport of the
//! current connection, runs the connect / session / backoff loop, and is the only
//! place that awaits I/O.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::FutureExt;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::{sleep, sleep_until, timeout, Instant};
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use super::config::ClientConfig;
use super::error::{ClientError, InvocationError, PublishError, RUNTIME_ERROR};
use super::proto::{Command, Core, InvocationJob, Loss, Out, Release};
use super::types::{InvocationOutput, OutputKind};
use super::SessionState;
use crate::transport::{
    self, ConnectOptions, Incoming, Keepalive, KeepaliveAction, Transport, TransportError,
    TransportReader, TransportWriter,
};
use crate::wamp::{uris, Dict, Id, Message, Serializer, Value};

/// Frames from the reader task. The reader runs on its own so that a full channel
/// pushes back on TCP while the session task keeps writing (`recv` itself is
/// cancel-safe: see `TransportReader::recv`).
type Frame = Result<Option<Incoming>, TransportError>;

/// Frames buffered between the reader task and the session task; when full the reader
/// stops reading and TCP flow control pushes back on the router.
const FRAME_QUEUE: usize = 64;

pub(crate) struct Task {
    pub(crate) config: Arc<ClientConfig>,
    pub(crate) cmd_rx: mpsc::Receiver<Command>,
    pub(crate) release_rx: mpsc::UnboundedReceiver<Release>,
    pub(crate) inv_rx: mpsc::Receiver<InvocationOutput>,
    pub(crate) inv_tx: mpsc::Sender<InvocationOutput>,
    pub(crate) state: watch::Sender<SessionState>,
    pub(crate) shutdown: CancellationToken,
    pub(crate) last_error: Arc<Mutex<Option<ClientError>>>,
    /// `Client::connect`: an ABORT of the very first attempt (wrong realm, refused
    /// credentials) is reported instead of retried.
    pub(crate) first_abort_fatal: bool,
    pub(crate) core: Core,
}

enum Wake<T> {
    Done(T),
    Stop(Option<oneshot::Sender<()>>),
}

enum End {
    /// The client asked to close (GOODBYE exchanged or timed out).
    Closed(Option<oneshot::Sender<()>>),
    Lost(Loss, String),
}

struct Link {
    serializer: Serializer,
    writer: TransportWriter,
    peer_max: usize,
    write_timeout: Duration,
}

enum SendError {
    TooLarge(usize),
    Io(String),
}

impl Link {
    async fn send(&mut self, msg: &Message) -> Result<(), SendError> {
        let bytes = self.serializer.encode(msg);
        if bytes.len() > self.peer_max {
            return Err(SendError::TooLarge(bytes.len()));
        }
        match timeout(self.write_timeout, self.writer.send(bytes)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(SendError::Io(e.to_string())),
            Err(_) => Err(SendError::Io(format!(
                "a write blocked for {:?}",
                self.write_timeout
            ))),
        }
    }

    /// Best effort: ABORT then close the transport.
    async fn abort(&mut self, reason: &str, message: &str) {
        let mut details = Dict::new();
        details.insert("message".into(), Value::Str(message.to_owned()));
        let _ = self
            .send(&Message::Abort {
                details,
                reason: reason.to_owned(),
            })
            .await;
        self.close().await;
    }

    async fn close(&mut self) {
        let _ = timeout(self.write_timeout, self.writer.close()).await;
    }
}

struct Connection {
    link: Link,
    reader: TransportReader,
    session: Id,
    details: Dict,
}

/// Aborts the reader task when the session ends, however it ends.
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Task {
    fn set_state(&self, state: SessionState) {
        self.state.send_replace(state);
    }

    fn set_last_error(&self, e: ClientError) {
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
    }

    pub(crate) async fn run(mut self) {
        let policy = self.config.reconnect.clone();
        let mut failures: u32 = 0;
        // `Some(n)`: wait `policy.delay(n)` before the next attempt (n-th of the outage).
        let mut wait: Option<u32> = None;
        let mut first = true;
        let (reason, close_reply) = loop {
            if let Some(attempt) = wait {
                let delay = policy.delay(attempt, rand::random::<f64>());
                debug!(attempt, ?delay, "reconnecting after a pause");
                self.set_state(SessionState::Reconnecting {
                    attempt,
                    next_in: delay,
                });
                if let Wake::Stop(reply) = self.idle(sleep(delay)).await {
                    break ("closed by the client".to_owned(), reply);
                }
            }
            self.set_state(SessionState::Connecting);
            let conn = match self.idle(connect_and_join(self.config.clone())).await {
                Wake::Stop(reply) => break ("closed by the client".to_owned(), reply),
                Wake::Done(Ok(conn)) => conn,
                Wake::Done(Err(e)) => {
                    // Quiet during a long outage: attempts 1, 2, 4, 8, ... are warnings.
                    if (failures + 1).is_power_of_two() {
                        warn!(url = %self.config.url, failures = failures + 1, "router unreachable, retrying with backoff: {e}");
                    } else {
                        debug!(url = %self.config.url, failures = failures + 1, "router unreachable, retrying with backoff: {e}");
                    }
                    let fatal =
                        first && self.first_abort_fatal && matches!(e, ClientError::Aborted { .. });
                    let reason = format!("connecting failed: {e}");
                    self.set_last_error(e);
                    failures += 1;
                    first = false;
                    if fatal || policy.gives_up_after(failures) {
                        break (reason, None);
                    }
                    wait = Some(wait.map_or(1, |n| n.saturating_add(1)));
                    continue;
                }
            };
            first = false;
            failures = 0;
            info!(session = conn.session, url = %self.config.url, "session established");
            match self.session(conn).await {
                End::Closed(reply) => break ("closed by the client".to_owned(), reply),
                End::Lost(loss, why) => {
                    warn!(reason = %why, "session lost");
                    self.core.disconnected(loss);
                    self.set_last_error(ClientError::Connect(format!("session lost: {why}")));
                    if !policy.enabled {
                        break (format!("session lost: {why}"), None);
                    }
                    wait = Some(1);
                }
            }
        };
        self.core.shutdown();
        info!(%reason, "client closed");
        self.set_state(SessionState::Closed { reason });
        if let Some(reply) = close_reply {
            let _ = reply.send(());
        }
    }

    /// Wait for `fut` while no session exists, answering commands meanwhile (calls and
    /// publications fail with `NotConnected`, subscriptions wait for the next session).
    async fn idle<F: Future>(&mut self, fut: F) -> Wake<F::Output> {
        tokio::pin!(fut);
        loop {
            // Order matters: a command is always handled before a release sent after
            // it (a cancel never overtakes its call).
            tokio::select! {
                biased;
                _ = self.shutdown.cancelled() => return Wake::Stop(None),
                out = &mut fut => return Wake::Done(out),
                Some(out) = self.inv_rx.recv() => self.core.invocation_output(out),
                Some(cmd) = self.cmd_rx.recv() => match cmd {
                    Command::Close { reply } => return Wake::Stop(Some(reply)),
                    cmd => self.core.command(cmd),
                },
                Some(release) = self.release_rx.recv() => self.core.release(release),
            }
            // Without a session nothing is queued for sending.
            drop(self.core.take_out());
        }
    }

    async fn session(&mut self, conn: Connection) -> End {
        let Connection {
            mut link,
            mut reader,
            session,
            details,
        } = conn;
        let (frame_tx, mut frames) = mpsc::channel::<Frame>(FRAME_QUEUE);
        let reader_task = tokio::spawn(async move {
            loop {
                let frame = reader.recv().await;
                let last = !matches!(frame, Ok(Some(_)));
                if frame_tx.send(frame).await.is_err() || last {
                    break;
                }
            }
        });
        let _reader_guard = AbortOnDrop(reader_task.abort_handle());

        self.core.connected(session, &details);
        // Half-open detection (the transport's I/O-free helper runs on std time;
        // tokio's clock converts, so paused test time works too).
        let now = || Instant::now().into_std();
        let mut keepalive = Keepalive::new(
            self.config.ping_interval.unwrap_or(Duration::ZERO),
            self.config.ping_timeout,
            now(),
        );

        enum Step {
            Frame(Option<Frame>),
            Close(Option<oneshot::Sender<()>>),
            Tick,
            Handled,
        }
        loop {
            if let Err(e) = self.flush(&mut link).await {
                link.close().await;
                return End::Lost(Loss::Lost, e);
            }
            if let Some(session) = self.core.take_ready() {
                self.set_state(SessionState::Established { session });
            }
            let step = tokio::select! {
                biased;
                _ = self.shutdown.cancelled() => Step::Close(None),
                frame = frames.recv() => Step::Frame(frame),
                Some(out) = self.inv_rx.recv() => {
                    self.core.invocation_output(out);
                    Step::Handled
                }
                Some(cmd) = self.cmd_rx.recv() => match cmd {
                    Command::Close { reply } => Step::Close(Some(reply)),
                    cmd => {
                        self.core.command(cmd);
                        Step::Handled
                    }
                },
                Some(release) = self.release_rx.recv() => {
                    self.core.release(release);
                    Step::Handled
                }
                _ = sleep_until(keepalive.next_deadline().map_or_else(Instant::now, Instant::from_std)),
                    if keepalive.is_enabled() => Step::Tick,
            };
            match step {
                Step::Handled => {}
                Step::Close(reply) => {
                    self.goodbye(&mut link, &mut frames).await;
                    return End::Closed(reply);
                }
                Step::Tick => match keepalive.poll(now()) {
                    KeepaliveAction::Nothing => {}
                    KeepaliveAction::SendPing => {
                        let payload = keepalive.ping_payload();
                        let ping = timeout(link.write_timeout, link.writer.ping(payload));
                        if !matches!(ping.await, Ok(Ok(()))) {
                            link.close().await;
                            return End::Lost(Loss::Lost, "ping failed".into());
                        }
                    }
                    KeepaliveAction::Dead => {
                        link.close().await;
                        return End::Lost(
                            Loss::Lost,
                            format!(
                                "nothing received for {:?} (ping unanswered)",
                                self.config.ping_timeout
                            ),
                        );
                    }
                },
                Step::Frame(frame) => {
                    keepalive.on_traffic(now());
                    let bytes = match frame {
                        Some(Ok(Some(Incoming::Message(bytes)))) => bytes,
                        Some(Ok(Some(Incoming::Pong(_)))) => continue,
                        Some(Ok(Some(Incoming::Ping(payload)))) => {
                            // The reader of a transport answers pings (a no-op on
                            // WebSocket, where tungstenite already did).
                            let pong = timeout(link.write_timeout, link.writer.pong(payload));
                            if !matches!(pong.await, Ok(Ok(()))) {
                                link.close().await;
                                return End::Lost(Loss::Lost, "pong failed".into());
                            }
                            continue;
                        }
                        Some(Ok(None)) | None => {
                            return End::Lost(Loss::Lost, "the router closed the connection".into())
                        }
                        Some(Err(e)) => return End::Lost(Loss::Lost, e.to_string()),
                    };
                    let msg = match link.serializer.decode(&bytes) {
                        Ok(msg) => msg,
                        Err(e) => {
                            let why = format!("undecodable message from the router: {e}");
                            error!("{why}");
                            link.abort(uris::PROTOCOL_VIOLATION, &e.to_string()).await;
                            return End::Lost(Loss::Lost, why);
                        }
                    };
                    match msg {
                        Message::Goodbye { reason, .. } => {
                            info!(%reason, "the router closed the session");
                            let _ = link
                                .send(&Message::Goodbye {
                                    details: Dict::new(),
                                    reason: uris::CLOSE_GOODBYE_AND_OUT.into(),
                                })
                                .await;
                            link.close().await;
                            let why = format!("router said goodbye ({reason})");
                            return End::Lost(Loss::Lost, why);
                        }
                        Message::Abort { reason, details } => {
                            let message = details
                                .get("message")
                                .and_then(Value::as_str)
                                .unwrap_or_default()
                                .to_owned();
                            link.close().await;
                            let why = format!("router aborted the session: {reason} {message}");
                            return End::Lost(Loss::Lost, why);
                        }
                        msg => {
                            if let Err(violation) = self.core.message(msg) {
                                error!(%violation, "protocol violation by the router");
                                link.abort(uris::PROTOCOL_VIOLATION, &violation).await;
                                return End::Lost(
                                    Loss::Lost,
                                    format!("protocol violation: {violation}"),
                                );
                            }
                        }
                    }
                }
            }
        }
    }

    /// Write what the core queued, spawn handlers. `Err`: the transport failed.
    async fn flush(&mut self, link: &mut Link) -> Result<(), String> {
        let mut failed: Option<String> = None;
        while self.core.has_out() {
            for out in self.core.take_out() {
                match out {
                    Out::Send(msg) => {
                        if failed.is_some() {
                            continue;
                        }
                        match link.send(&msg).await {
                            Ok(()) => {}
                            Err(SendError::TooLarge(size)) => {
                                self.core.too_large(&msg, size, link.peer_max)
                            }
                            Err(SendError::Io(e)) => failed = Some(e),
                        }
                    }
                    Out::SendPublish(msg, reply) => {
                        let result = if failed.is_some() {
                            Err(PublishError::ConnectionLost)
                        } else {
                            match link.send(&msg).await {
                                Ok(()) => Ok(None),
                                Err(SendError::TooLarge(size)) => Err(PublishError::TooLarge {
                                    size,
                                    limit: link.peer_max,
                                }),
                                Err(SendError::Io(e)) => {
                                    failed = Some(e);
                                    Err(PublishError::ConnectionLost)
                                }
                            }
                        };
                        let _ = reply.send(result);
                    }
                    Out::Spawn(job) => {
                        if failed.is_none() {
                            tokio::spawn(run_invocation(job, self.inv_tx.clone()));
                        }
                    }
                }
            }
            if failed.is_some() {
                // Whatever the core queued in reaction is moot: the session is gone.
                drop(self.core.take_out());
            }
        }
        failed.map_or(Ok(()), Err)
    }

    /// Client-initiated close: GOODBYE, wait for the router's GOODBYE (bounded), close.
    async fn goodbye(&mut self, link: &mut Link, frames: &mut mpsc::Receiver<Frame>) {
        let goodbye = Message::Goodbye {
            details: Dict::new(),
            reason: uris::CLOSE_NORMAL.into(),
        };
        if link.send(&goodbye).await.is_ok() {
            let serializer = link.serializer;
            let answered = timeout(self.config.close_timeout, async {
                while let Some(Ok(Some(frame))) = frames.recv().await {
                    if let Incoming::Message(bytes) = frame {
                        if let Ok(Message::Goodbye { .. }) = serializer.decode(&bytes) {
                            return true;
                        }
                    }
                }
                false
            })
            .await;
            if !matches!(answered, Ok(true)) {
                debug!("no GOODBYE reply from the router");
            }
        }
        link.close().await;
    }
}

/// One connection attempt: transport, HELLO, optional CHALLENGE/AUTHENTICATE, WELCOME.
async fn connect_and_join(config: Arc<ClientConfig>) -> Result<Connection, ClientError> {
    let limit = config.connect_timeout;
    let attempt = async {
        let options = ConnectOptions {
            serializers: config.serializers.clone(),
            max_message_size: config.max_message_size,
            connect_timeout: config.connect_timeout,
            tls_ca_files: config.tls_ca_files.clone(),
        };
        let Transport {
            serializer,
            peer_max_message,
            mut reader,
            writer,
            ..
        } = transport::connect(&config.url, &options)
            .await
            .map_err(|e| ClientError::Connect(e.to_string()))?;
        let mut link = Link {
            serializer,
            writer,
            peer_max: peer_max_message,
            write_timeout: config.ping_timeout,
        };
        let hello = Message::Hello {
            realm: config.realm.clone(),
            details: config.hello_details(),
        };
        send_or_fail(&mut link, &hello).await?;
        loop {
            let bytes = match reader.recv().await {
                Ok(Some(Incoming::Message(bytes))) => bytes,
                Ok(Some(Incoming::Ping(payload))) => {
                    let _ = timeout(link.write_timeout, link.writer.pong(payload)).await;
                    continue;
                }
                Ok(Some(Incoming::Pong(_))) => continue,
                Ok(None) => {
                    return Err(ClientError::Connect(
                        "the router closed the connection during the handshake".into(),
                    ))
                }
                Err(e) => return Err(ClientError::Connect(e.to_string())),
            };
            let msg = match serializer.decode(&bytes) {
                Ok(msg) => msg,
                Err(e) => {
                    link.abort(uris::PROTOCOL_VIOLATION, &e.to_string()).await;
                    return Err(ClientError::Protocol(format!(
                        "undecodable handshake message: {e}"
                    )));
                }
            };
            match msg {
                Message::Welcome { session, details } => {
                    return Ok(Connection {
                        link,
                        reader,
                        session,
                        details,
                    })
                }
                Message::Abort { details, reason } => {
                    link.close().await;
                    let message = details
                        .get("message")
                        .and_then(Value::as_str)
                        .map(str::to_owned);
                    return Err(ClientError::Aborted { reason, message });
                }
                Message::Challenge { authmethod, extra } => {
                    let signed = match &config.auth {
                        Some(auth) => auth.authenticate(&authmethod, &extra),
                        None => Err("no authenticator configured".to_owned()),
                    };
                    match signed {
                        Ok((signature, extra)) => {
                            send_or_fail(&mut link, &Message::Authenticate { signature, extra })
                                .await?
                        }
                        Err(why) => {
                            link.abort(uris::AUTHENTICATION_FAILED, &why).await;
                            return Err(ClientError::Connect(format!(
                                "cannot answer the {authmethod:?} challenge: {why}"
                            )));
                        }
                    }
                }
                other => {
                    let why = format!("{} before WELCOME", other.name());
                    link.abort(uris::PROTOCOL_VIOLATION, &why).await;
                    return Err(ClientError::Protocol(why));
                }
            }
        }
    };
    match timeout(limit, attempt).await {
        Ok(result) => result,
        Err(_) => Err(ClientError::Connect(format!("no session within {limit:?}"))),
    }
}

async fn send_or_fail(link: &mut Link, msg: &Message) -> Result<(), ClientError> {
    match link.send(msg).await {
        Ok(()) => Ok(()),
        Err(SendError::TooLarge(size)) => Err(ClientError::TooLarge {
            size,
            limit: link.peer_max,
        }),
        Err(SendError::Io(e)) => Err(ClientError::Connect(e)),
    }
}

/// Runs one procedure handler in its own task and reports its outcome.
///
/// A panic is caught and answered with `wamp.error.runtime_error` (no details go to the
/// peer). On interrupt or timeout the caller has been answered already; the handler
/// keeps running until it notices `cancelled` (so it can bring hardware to a safe
/// state) and its result is discarded.
async fn run_invocation(job: InvocationJob, tx: mpsc::Sender<InvocationOutput>) {
    let InvocationJob {
        handler,
        invocation,
        epoch,
        request,
        timeout,
    } = job;
    let token = invocation.cancelled.clone();
    let procedure = invocation.procedure.clone();
    let handler_fut = AssertUnwindSafe(handler(invocation)).catch_unwind();
    tokio::pin!(handler_fut);
    let deadline = timeout.map(|t| Instant::now() + t);
    let report = |result| InvocationOutput {
        epoch,
        request,
        kind: OutputKind::Final(result),
    };
    let finished = tokio::select! {
        biased;
        outcome = &mut handler_fut => {
            let result = outcome.unwrap_or_else(|panic| {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                error!(%procedure, panic = %what, "procedure handler panicked");
                Err(InvocationError::new(RUNTIME_ERROR))
            });
            let _ = tx.send(report(result)).await;
            true
        }
        _ = token.cancelled() => false,
        _ = sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
            token.cancel();
            let _ = tx.send(report(Err(InvocationError::new(uris::TIMEOUT)))).await;
            false
        }
    };
    if !finished {
        let _ = handler_fut.await;
    }
}
