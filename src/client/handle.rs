//! The application-facing handles: [`Client`], [`PendingCall`], [`Subscription`],
//! [`Registration`]. They only talk to the session task through channels.

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::{timeout, timeout_at, Instant};
use tokio_util::sync::{CancellationToken, DropGuard};
use tracing::Instrument;

use super::config::ClientConfig;
use super::error::{CallError, ClientError, PublishError};
use super::options::{CallOptions, CancelMode, PublishOptions, RegisterOptions, SubscribeOptions};
use super::proto::{CallRequest, Command, Core, Release};
use super::queue::DropOldest;
use super::task::Task;
use super::testament::{Testament, TestamentScope};
use super::types::{CallResult, Event, Handler, HandlerFuture, Invocation, InvocationResult};
use super::SessionState;
use crate::wamp::{Dict, Id, List, Payload};

/// Requests waiting for the session task.
const COMMAND_QUEUE: usize = 64;
/// Handler outputs waiting for the session task.
const INVOCATION_QUEUE: usize = 256;

struct Inner {
    cmd_tx: mpsc::Sender<Command>,
    release_tx: mpsc::UnboundedSender<Release>,
    state_rx: watch::Receiver<SessionState>,
    last_error: Arc<Mutex<Option<ClientError>>>,
    next_key: AtomicU64,
    call_timeout: Option<Duration>,
    subscription_queue: usize,
    progress_queue: usize,
    shutdown: CancellationToken,
    /// Dropping the last `Client` stops the session task (it says GOODBYE first).
    _stop_on_drop: DropGuard,
}

/// A handle to one WAMP client (one session at a time, reconnecting). Cheap to clone;
/// every clone drives the same session. See the [module docs](super) for behaviour.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("state", &*self.inner.state_rx.borrow())
            .finish()
    }
}

impl Client {
    /// Start the client and return at once; it connects (and reconnects) in the
    /// background. Watch [`Client::state`] or await [`Client::wait_established`].
    /// Must be called within a Tokio runtime.
    pub fn start(config: ClientConfig) -> Result<Client, ClientError> {
        Client::spawn(config, false)
    }

    /// Start the client and wait for the first session, at most
    /// `config.startup_timeout`. Fails at once when the router aborts the first
    /// attempt (wrong realm, refused credentials) or — with reconnect disabled — when
    /// the first attempt fails; otherwise it keeps retrying until the timeout.
    pub async fn connect(config: ClientConfig) -> Result<Client, ClientError> {
        let waited = config.startup_timeout;
        let client = Client::spawn(config, true)?;
        match timeout(waited, client.wait_established()).await {
            Ok(Ok(_)) => Ok(client),
            Ok(Err(e)) => Err(e),
            Err(_) => {
                client.inner.shutdown.cancel();
                Err(ClientError::StartupTimeout {
                    waited,
                    last_error: client.last_error().map(|e| e.to_string()),
                })
            }
        }
    }

    fn spawn(config: ClientConfig, first_abort_fatal: bool) -> Result<Client, ClientError> {
        config.check().map_err(ClientError::Config)?;
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(ClientError::Config(
                "the client must be started within a Tokio runtime".into(),
            ));
        }
        let (cmd_tx, cmd_rx) = mpsc::channel(COMMAND_QUEUE);
        let (release_tx, release_rx) = mpsc::unbounded_channel();
        let (inv_tx, inv_rx) = mpsc::channel(INVOCATION_QUEUE);
        let (state_tx, state_rx) = watch::channel(SessionState::Connecting);
        let shutdown = CancellationToken::new();
        let last_error = Arc::new(Mutex::new(None));
        let span = tracing::info_span!("wamp_client", url = %config.url, realm = %config.realm);
        let inner = Inner {
            cmd_tx,
            release_tx,
            state_rx,
            last_error: last_error.clone(),
            next_key: AtomicU64::new(1),
            call_timeout: config.call_timeout,
            subscription_queue: config.subscription_queue,
            progress_queue: config.progress_queue,
            shutdown: shutdown.clone(),
            _stop_on_drop: shutdown.clone().drop_guard(),
        };
        let task = Task {
            config: Arc::new(config),
            cmd_rx,
            release_rx,
            core: Core::new(inv_tx.clone()),
            inv_rx,
            inv_tx,
            state: state_tx,
            shutdown,
            last_error,
            first_abort_fatal,
        };
        tokio::spawn(task.run().instrument(span));
        Ok(Client {
            inner: Arc::new(inner),
        })
    }

    fn next_key(&self) -> u64 {
        self.inner.next_key.fetch_add(1, Ordering::Relaxed)
    }

    /// The session state, as a watch: `borrow()` for now, `changed()` to follow it.
    pub fn state(&self) -> watch::Receiver<SessionState> {
        self.inner.state_rx.clone()
    }

    /// The current session id, when established.
    pub fn session_id(&self) -> Option<Id> {
        match &*self.inner.state_rx.borrow() {
            SessionState::Established { session } => Some(*session),
            _ => None,
        }
    }

    /// The last connection failure (for logs and startup errors).
    pub fn last_error(&self) -> Option<ClientError> {
        self.inner
            .last_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Wait until the state is `Established` (returns the session id) or `Closed`
    /// (returns the last error). Wrap in a timeout: it waits across reconnects.
    pub async fn wait_established(&self) -> Result<Id, ClientError> {
        let mut rx = self.state();
        loop {
            match &*rx.borrow_and_update() {
                SessionState::Established { session } => return Ok(*session),
                SessionState::Closed { .. } => {
                    return Err(self.last_error().unwrap_or(ClientError::Closed))
                }
                _ => {}
            }
            if rx.changed().await.is_err() {
                return Err(self.last_error().unwrap_or(ClientError::Closed));
            }
        }
    }

    /// Call `procedure` with positional and keyword arguments and default options.
    pub async fn call(
        &self,
        procedure: &str,
        args: List,
        kwargs: Dict,
    ) -> Result<CallResult, CallError> {
        self.call_with(
            procedure,
            Payload::new(args, kwargs),
            CallOptions::default(),
        )
        .await
    }

    /// Call with options; waits for the final result (progressive results, if asked
    /// for, are discarded — use [`Client::call_progressive`]).
    pub async fn call_with(
        &self,
        procedure: &str,
        payload: Payload,
        options: CallOptions,
    ) -> Result<CallResult, CallError> {
        self.start_call(procedure, payload, options)
            .await?
            .result()
            .await
    }

    /// Call with `receive_progress`: read progress with
    /// [`PendingCall::next_progress`] until `None`, then take [`PendingCall::result`].
    pub async fn call_progressive(
        &self,
        procedure: &str,
        payload: Payload,
        mut options: CallOptions,
    ) -> Result<PendingCall, CallError> {
        options.receive_progress = true;
        self.start_call(procedure, payload, options).await
    }

    /// Send a call and return a handle to cancel it or await its result. Errors here
    /// only when the client is closed; `NotConnected` and the rest come from
    /// [`PendingCall::result`].
    pub async fn start_call(
        &self,
        procedure: &str,
        payload: Payload,
        options: CallOptions,
    ) -> Result<PendingCall, CallError> {
        let timeout = options
            .timeout
            .or(self.inner.call_timeout)
            .filter(|t| !t.is_zero());
        let key = self.next_key();
        let progress = options
            .receive_progress
            .then(|| Arc::new(DropOldest::new(self.inner.progress_queue)));
        let (reply_tx, reply_rx) = oneshot::channel();
        let request = CallRequest {
            key,
            procedure: procedure.to_owned(),
            payload,
            options: options.to_dict(timeout),
            reply: reply_tx,
            progress: progress.clone(),
        };
        // Exists before the send so that dropping this future afterwards still cancels.
        let mut call = PendingCall {
            key,
            reply: reply_rx,
            progress,
            deadline: timeout.map(|t| Instant::now() + t),
            release_tx: self.inner.release_tx.clone(),
            finished: false,
        };
        if self
            .inner
            .cmd_tx
            .send(Command::Call(request))
            .await
            .is_err()
        {
            call.finished = true;
            return Err(CallError::Closed);
        }
        Ok(call)
    }

    /// Publish an event. Without `acknowledge` it returns `Ok(None)` once the event is
    /// written; with it, the publication id once the broker confirmed (bounded by the
    /// default call timeout). Offline it fails at once with `NotConnected`.
    pub async fn publish(
        &self,
        topic: &str,
        payload: Payload,
        options: PublishOptions,
    ) -> Result<Option<Id>, PublishError> {
        let (tx, rx) = oneshot::channel();
        let cmd = Command::Publish {
            topic: topic.to_owned(),
            payload,
            options: options.to_dict(),
            acknowledge: options.acknowledge,
            reply: tx,
        };
        self.inner
            .cmd_tx
            .send(cmd)
            .await
            .map_err(|_| PublishError::Closed)?;
        let answer = match self.inner.call_timeout.filter(|_| options.acknowledge) {
            Some(t) => timeout(t, rx).await.map_err(|_| PublishError::Timeout)?,
            None => rx.await,
        };
        answer.unwrap_or(Err(PublishError::Closed))
    }

    /// Subscribe to `topic`. Waits for the broker's answer; while no session exists it
    /// waits for the next one. The subscription survives reconnects; drop it or call
    /// [`Subscription::unsubscribe`] to end it.
    pub async fn subscribe(
        &self,
        topic: &str,
        options: SubscribeOptions,
    ) -> Result<Subscription, ClientError> {
        let key = self.next_key();
        let queue = Arc::new(DropOldest::new(
            options.queue_size.unwrap_or(self.inner.subscription_queue),
        ));
        let mut subscription = Subscription {
            key,
            topic: topic.to_owned(),
            queue: queue.clone(),
            cmd_tx: self.inner.cmd_tx.clone(),
            release_tx: self.inner.release_tx.clone(),
            released: false,
        };
        let (tx, rx) = oneshot::channel();
        let cmd = Command::Subscribe {
            key,
            topic: topic.to_owned(),
            options: options.to_dict(),
            queue,
            reply: tx,
        };
        if self.inner.cmd_tx.send(cmd).await.is_err() {
            subscription.released = true;
            return Err(ClientError::Closed);
        }
        match rx.await {
            Ok(Ok(())) => Ok(subscription),
            Ok(Err(e)) => {
                subscription.released = true; // the session task already forgot it
                Err(e)
            }
            Err(_) => {
                subscription.released = true;
                Err(ClientError::Closed)
            }
        }
    }

    /// Register `handler` for `procedure`. Waits for the dealer's answer (for the next
    /// session when offline). The registration survives reconnects; drop the returned
    /// handle or call [`Registration::unregister`] to end it.
    pub async fn register<F, Fut>(
        &self,
        procedure: &str,
        options: RegisterOptions,
        handler: F,
    ) -> Result<Registration, ClientError>
    where
        F: Fn(Invocation) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = InvocationResult> + Send + 'static,
    {
        let handler: Handler = Arc::new(move |inv| Box::pin(handler(inv)) as HandlerFuture);
        let key = self.next_key();
        let mut registration = Registration {
            key,
            procedure: procedure.to_owned(),
            cmd_tx: self.inner.cmd_tx.clone(),
            release_tx: self.inner.release_tx.clone(),
            released: false,
        };
        let (tx, rx) = oneshot::channel();
        let cmd = Command::Register {
            key,
            procedure: procedure.to_owned(),
            options: options.to_dict(),
            handler,
            reply: tx,
        };
        if self.inner.cmd_tx.send(cmd).await.is_err() {
            registration.released = true;
            return Err(ClientError::Closed);
        }
        match rx.await {
            Ok(Ok(())) => Ok(registration),
            Ok(Err(e)) => {
                registration.released = true;
                Err(e)
            }
            Err(_) => {
                registration.released = true;
                Err(ClientError::Closed)
            }
        }
    }

    /// File a testament: an event the router publishes on this client's behalf when
    /// the session goes away, however it goes (`wamp.session.add_testament`). The client
    /// keeps it and files it again on every new session, first thing, before the state
    /// turns `Established`: no publication sent after this call returns reaches the
    /// router on a session without it.
    ///
    /// With a session open, waits for the router's answer (an error if it refuses, e.g.
    /// a router without the testament meta API; the testament is then dropped). Offline
    /// it returns at once; a refusal on a later session is logged and drops it.
    pub async fn add_testament(&self, testament: Testament) -> Result<(), ClientError> {
        let (tx, rx) = oneshot::channel();
        let cmd = Command::AddTestament {
            key: self.next_key(),
            testament,
            reply: tx,
        };
        self.inner
            .cmd_tx
            .send(cmd)
            .await
            .map_err(|_| ClientError::Closed)?;
        rx.await.unwrap_or(Err(ClientError::Closed))
    }

    /// Forget the testaments of `scope`, here and on the router
    /// (`wamp.session.flush_testaments`), e.g. after publishing one's own last words
    /// before a clean exit. Offline it only forgets them. Fails with `ConnectionLost`
    /// if the session ended before the router confirmed (it may have published them).
    pub async fn flush_testaments(&self, scope: TestamentScope) -> Result<(), ClientError> {
        let (tx, rx) = oneshot::channel();
        self.inner
            .cmd_tx
            .send(Command::FlushTestaments { scope, reply: tx })
            .await
            .map_err(|_| ClientError::Closed)?;
        rx.await.unwrap_or(Err(ClientError::Closed))
    }

    /// Say GOODBYE, wait for the router's reply (at most `close_timeout`), stop
    /// reconnecting. Every clone of this client is closed; idempotent.
    pub async fn close(&self) -> Result<(), ClientError> {
        let (tx, rx) = oneshot::channel();
        if self
            .inner
            .cmd_tx
            .send(Command::Close { reply: tx })
            .await
            .is_ok()
        {
            // Answered when the task is done, or dropped if another close won.
            let _ = rx.await;
        }
        let mut state = self.state();
        let _ = state.wait_for(SessionState::is_closed).await;
        Ok(())
    }
}

/// A call in flight: await [`result`](PendingCall::result), read
/// [`next_progress`](PendingCall::next_progress), or [`cancel`](PendingCall::cancel).
/// Dropping it before the result arrived cancels the call (`killnowait`).
pub struct PendingCall {
    key: u64,
    reply: oneshot::Receiver<Result<CallResult, CallError>>,
    progress: Option<Arc<DropOldest<Payload>>>,
    deadline: Option<Instant>,
    release_tx: mpsc::UnboundedSender<Release>,
    finished: bool,
}

impl fmt::Debug for PendingCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingCall")
            .field("key", &self.key)
            .field("deadline", &self.deadline)
            .finish()
    }
}

impl PendingCall {
    /// The next progressive result; `None` once the call has finished (then take
    /// [`result`](PendingCall::result)), its timeout expired, or progress was not asked
    /// for. If the consumer falls behind, the oldest progress results are dropped
    /// ([`progress_dropped`](PendingCall::progress_dropped)).
    pub async fn next_progress(&mut self) -> Option<Payload> {
        let queue = self.progress.clone()?;
        match self.deadline {
            Some(deadline) => timeout_at(deadline, queue.pop()).await.ok().flatten(),
            None => queue.pop().await,
        }
    }

    pub fn progress_dropped(&self) -> u64 {
        self.progress.as_ref().map_or(0, |q| q.dropped())
    }

    /// Ask the dealer to cancel the call; [`result`](PendingCall::result) then returns
    /// `CallError::Canceled` (or the result, if the callee finished first under
    /// `kill`).
    pub fn cancel(&self, mode: CancelMode) {
        if !self.finished {
            let _ = self.release_tx.send(Release::Cancel {
                key: self.key,
                mode,
                abandon: false,
            });
        }
    }

    /// The final result. On timeout sends `CANCEL` `killnowait` and returns
    /// `CallError::Timeout`.
    pub async fn result(mut self) -> Result<CallResult, CallError> {
        let answer = match self.deadline {
            Some(deadline) => match timeout_at(deadline, &mut self.reply).await {
                Ok(answer) => answer,
                Err(_) => return Err(CallError::Timeout), // Drop sends the CANCEL
            },
            None => (&mut self.reply).await,
        };
        self.finished = true;
        answer.unwrap_or(Err(CallError::Closed))
    }
}

impl Drop for PendingCall {
    fn drop(&mut self) {
        if !self.finished {
            let _ = self.release_tx.send(Release::Cancel {
                key: self.key,
                mode: CancelMode::KillNoWait,
                abandon: true,
            });
        }
    }
}

/// A live subscription: a bounded stream of [`Event`]s that survives reconnects.
/// Dropping it unsubscribes.
#[must_use = "dropping a Subscription unsubscribes"]
pub struct Subscription {
    key: u64,
    topic: String,
    queue: Arc<DropOldest<Event>>,
    cmd_tx: mpsc::Sender<Command>,
    release_tx: mpsc::UnboundedSender<Release>,
    released: bool,
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("topic", &self.topic)
            .field("dropped", &self.dropped())
            .finish()
    }
}

impl Subscription {
    /// The next event; `None` once the subscription ended (client closed, the router
    /// revoked it or refused it on a reconnect) and the buffer is drained.
    pub async fn recv(&mut self) -> Option<Event> {
        self.queue.pop().await
    }

    /// The events as a `futures::Stream` (ends when the subscription ends; dropping
    /// the stream unsubscribes).
    pub fn into_stream(self) -> impl futures_util::Stream<Item = Event> + Send {
        futures_util::stream::unfold(self, |mut sub| async move {
            let event = sub.recv().await?;
            Some((event, sub))
        })
    }

    /// An event if one is buffered.
    pub fn try_recv(&mut self) -> Option<Event> {
        self.queue.try_pop()
    }

    /// Events dropped (oldest first) because this consumer fell behind.
    pub fn dropped(&self) -> u64 {
        self.queue.dropped()
    }

    /// The subscribed URI or pattern.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Whether the subscription ended (buffered events may remain).
    pub fn is_ended(&self) -> bool {
        self.queue.is_closed()
    }

    /// Unsubscribe and wait for the broker's answer.
    pub async fn unsubscribe(mut self) -> Result<(), ClientError> {
        let (tx, rx) = oneshot::channel();
        let cmd = Command::Unsubscribe {
            key: self.key,
            reply: tx,
        };
        if self.cmd_tx.send(cmd).await.is_err() {
            self.released = true;
            return Ok(()); // client closed: nothing left on the router
        }
        self.released = true;
        rx.await.unwrap_or(Ok(()))
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if !self.released {
            let _ = self.release_tx.send(Release::Subscription(self.key));
        }
    }
}

/// A live registration; its handler keeps being called across reconnects. Dropping it
/// unregisters the procedure.
#[must_use = "dropping a Registration unregisters the procedure"]
pub struct Registration {
    key: u64,
    procedure: String,
    cmd_tx: mpsc::Sender<Command>,
    release_tx: mpsc::UnboundedSender<Release>,
    released: bool,
}

impl fmt::Debug for Registration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registration")
            .field("procedure", &self.procedure)
            .finish()
    }
}

impl Registration {
    pub fn procedure(&self) -> &str {
        &self.procedure
    }

    /// Unregister and wait for the dealer's answer.
    pub async fn unregister(mut self) -> Result<(), ClientError> {
        let (tx, rx) = oneshot::channel();
        let cmd = Command::Unregister {
            key: self.key,
            reply: tx,
        };
        if self.cmd_tx.send(cmd).await.is_err() {
            self.released = true;
            return Ok(());
        }
        self.released = true;
        rx.await.unwrap_or(Ok(()))
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        if !self.released {
            let _ = self.release_tx.send(Release::Registration(self.key));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}

    #[test]
    fn handles_cross_tasks() {
        send_sync::<Client>();
        send_sync::<Subscription>();
        send_sync::<Registration>();
        send::<PendingCall>();
        send::<Invocation>();
    }

    #[test]
    fn start_needs_a_runtime_and_a_valid_config() {
        let e = Client::start(ClientConfig::new("ws://127.0.0.1:1/ws", "orchard")).unwrap_err();
        assert!(matches!(e, ClientError::Config(m) if m.contains("Tokio runtime")));
        let e = Client::start(ClientConfig::new("ftp://x", "orchard")).unwrap_err();
        assert!(matches!(e, ClientError::Config(_)));
    }

    #[tokio::test(start_paused = true)]
    async fn offline_client_answers_without_a_router() {
        // Nothing listens on port 1; the client keeps retrying in the background.
        let client = Client::start(ClientConfig::new("rs://127.0.0.1:1", "orchard")).unwrap();
        assert_eq!(
            client
                .publish("t", Payload::default(), PublishOptions::default())
                .await,
            Err(PublishError::NotConnected)
        );
        assert_eq!(
            client.call("p", List::new(), Dict::new()).await,
            Err(CallError::NotConnected)
        );
        assert_eq!(client.session_id(), None);
        client.close().await.unwrap();
        assert!(client.state().borrow().is_closed());
        assert_eq!(
            client.call("p", List::new(), Dict::new()).await,
            Err(CallError::Closed)
        );
    }
}
