//! The embeddable router: accept loop, connection cap, graceful shutdown.
//!
//! Tasks: one accept loop ([`Router::serve`]); per connection one session task
//! (`session::run`, which owns the transport reader) and one writer task; one
//! short-lived task per core timer. The accept loop tells sessions to shut down through
//! a `CancellationToken` and waits for them (at most `shutdown_timeout`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, info_span, warn, Instrument};

use super::auth::{Anonymous, Authenticator};
use super::config::{ConfigError, RouterConfig};
use super::outbox::Budget;
use super::realm::{Realm, RealmConfig};
use super::session::{self, RealmHandle, Shared};
use super::throttle::{Cause, Warnings, WARN_INTERVAL};
use crate::transport::{self, websocket, AcceptOptions};
use crate::wamp::Serializer;

/// Connections being refused at the cap at the same time; beyond that they are
/// dropped without an answer.
const MAX_PENDING_REFUSALS: usize = 32;

/// Router failures.
#[derive(Debug, thiserror::Error)]
pub enum RouterError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot listen on {what}: {source}")]
    Bind {
        what: String,
        source: std::io::Error,
    },
    #[error("the router needs at least one listener")]
    NoListener,
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    #[error("router task failed: {0}")]
    Task(String),
}

/// The listeners a router serves: the universal TCP port and/or a Unix socket.
#[derive(Debug, Default)]
pub struct Listeners {
    /// WebSocket and RawSocket on one port.
    pub tcp: Option<TcpListener>,
    /// RawSocket only.
    pub unix: Option<UnixListener>,
}

/// An embeddable WAMP router.
///
/// ```no_run
/// # async fn demo() -> Result<(), verger::router::RouterError> {
/// use verger::component::CancellationToken;
/// use verger::router::{Listeners, Router, RouterConfig};
/// let config = RouterConfig::default();
/// let listeners = Router::bind(&config).await?;
/// let shutdown = CancellationToken::new();
/// let on_ctrl_c = shutdown.clone();
/// tokio::spawn(async move {
///     let _ = tokio::signal::ctrl_c().await;
///     on_ctrl_c.cancel();
/// });
/// Router::new(config)?.serve(listeners, shutdown).await
/// # }
/// ```
#[derive(Debug)]
pub struct Router {
    config: RouterConfig,
    authenticator: Arc<dyn Authenticator>,
}

impl Router {
    /// Validate the configuration and build a router (anonymous authentication).
    pub fn new(config: RouterConfig) -> Result<Router, RouterError> {
        crate::config::check(&config, "router configuration")?;
        Ok(Router {
            config,
            authenticator: Arc::new(Anonymous),
        })
    }

    /// Replace the authenticator.
    pub fn with_authenticator(mut self, authenticator: Arc<dyn Authenticator>) -> Router {
        self.authenticator = authenticator;
        self
    }

    pub fn config(&self) -> &RouterConfig {
        &self.config
    }

    /// Bind the listeners the configuration names (`listen`, `unix_socket`). A stale
    /// Unix socket file is replaced; any other file at that path is an error.
    pub async fn bind(config: &RouterConfig) -> Result<Listeners, RouterError> {
        let tcp = TcpListener::bind(config.listen)
            .await
            .map_err(|source| RouterError::Bind {
                what: config.listen.to_string(),
                source,
            })?;
        let unix = match &config.unix_socket {
            Some(path) => Some(bind_unix(path)?),
            None => None,
        };
        Ok(Listeners {
            tcp: Some(tcp),
            unix,
        })
    }

    fn shared(self) -> Shared {
        let warnings = Arc::new(Warnings::default());
        let realms = self
            .config
            .realms
            .iter()
            .map(|name| {
                let realm = Realm::new(
                    name,
                    RealmConfig {
                        uri_check: self.config.uri_check,
                        max_subscriptions_per_session: self.config.max_subscriptions_per_session,
                        max_registrations_per_session: self.config.max_registrations_per_session,
                        ..RealmConfig::default()
                    },
                );
                (
                    name.clone(),
                    Arc::new(RealmHandle::new(realm, warnings.clone())),
                )
            })
            .collect();
        Shared {
            budget: Arc::new(Budget::new(self.config.outbound_budget)),
            config: self.config,
            realms,
            authenticator: self.authenticator,
            warnings,
        }
    }

    /// Serve until `shutdown` is cancelled, then: stop accepting, send every session
    /// GOODBYE `wamp.close.system_shutdown`, wait for the replies (at most
    /// `shutdown_timeout`) and drop whatever is left.
    pub async fn serve(
        self,
        listeners: Listeners,
        shutdown: CancellationToken,
    ) -> Result<(), RouterError> {
        serve_shared(Arc::new(self.shared()), listeners, shutdown).await
    }

    /// Start serving `listener` in a background task (needs a tokio runtime).
    pub fn start(config: RouterConfig, listener: TcpListener) -> Result<RouterHandle, RouterError> {
        Router::new(config)?.start_with(Listeners {
            tcp: Some(listener),
            unix: None,
        })
    }

    /// Start serving in a background task; `listeners.tcp` is required.
    pub fn start_with(self, listeners: Listeners) -> Result<RouterHandle, RouterError> {
        let tcp = listeners.tcp.as_ref().ok_or(RouterError::NoListener)?;
        let local_addr = tcp.local_addr()?;
        let unix_path = match &listeners.unix {
            Some(u) => u.local_addr()?.as_pathname().map(Path::to_path_buf),
            None => None,
        };
        let shared = Arc::new(self.shared());
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(serve_shared(shared.clone(), listeners, shutdown.clone()));
        Ok(RouterHandle {
            local_addr,
            unix_path,
            shared,
            shutdown,
            task,
        })
    }
}

fn bind_unix(path: &Path) -> Result<UnixListener, RouterError> {
    use std::os::unix::fs::FileTypeExt;
    let bind_err = |source| RouterError::Bind {
        what: path.display().to_string(),
        source,
    };
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if meta.file_type().is_socket() {
            std::fs::remove_file(path).map_err(bind_err)?;
        } else {
            return Err(bind_err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "a file that is not a socket exists at this path",
            )));
        }
    }
    UnixListener::bind(path).map_err(bind_err)
}

/// A router running in a background task. Dropping the handle shuts the router down
/// too (without waiting); [`RouterHandle::shutdown`] waits for it.
#[derive(Debug)]
pub struct RouterHandle {
    local_addr: SocketAddr,
    unix_path: Option<PathBuf>,
    shared: Arc<Shared>,
    shutdown: CancellationToken,
    task: JoinHandle<Result<(), RouterError>>,
}

impl Drop for RouterHandle {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl RouterHandle {
    /// The TCP address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `ws://ADDR/PATH`.
    pub fn url(&self) -> String {
        format!("ws://{}{}", self.local_addr, self.shared.config.path)
    }

    /// `rs://ADDR` (RawSocket on the same port).
    pub fn rawsocket_url(&self) -> String {
        format!("rs://{}", self.local_addr)
    }

    /// `unix:///PATH` if a Unix listener was given.
    pub fn unix_url(&self) -> Option<String> {
        self.unix_path
            .as_ref()
            .map(|p| format!("unix://{}", p.display()))
    }

    pub fn config(&self) -> &RouterConfig {
        &self.shared.config
    }

    /// Sessions currently joined to `realm` (0 for an unknown realm).
    pub fn session_count(&self, realm: &str) -> usize {
        self.shared
            .realms
            .get(realm)
            .map_or(0, |r| r.session_count())
    }

    /// Encoded bytes queued for all sessions right now (the router's own accounting
    /// against `outbound_budget`; a message being written counts until it is).
    pub fn outbound_bytes(&self) -> usize {
        self.shared.budget.used()
    }

    /// The most [`RouterHandle::outbound_bytes`] ever was.
    pub fn outbound_bytes_peak(&self) -> usize {
        self.shared.budget.peak()
    }

    /// Shut down gracefully and wait until the router has stopped.
    pub async fn shutdown(mut self) -> Result<(), RouterError> {
        self.shutdown.cancel();
        match (&mut self.task).await {
            Ok(r) => r,
            Err(e) => Err(RouterError::Task(e.to_string())),
        }
    }
}

enum Conn {
    Tcp(TcpStream, String),
    Unix(UnixStream),
}

async fn accept_tcp(listener: Option<&TcpListener>) -> std::io::Result<(TcpStream, SocketAddr)> {
    match listener {
        Some(l) => l.accept().await,
        None => std::future::pending().await,
    }
}

async fn accept_unix(listener: Option<&UnixListener>) -> std::io::Result<UnixStream> {
    match listener {
        Some(l) => l.accept().await.map(|(s, _)| s),
        None => std::future::pending().await,
    }
}

async fn serve_shared(
    shared: Arc<Shared>,
    listeners: Listeners,
    shutdown: CancellationToken,
) -> Result<(), RouterError> {
    let Listeners { tcp, unix } = listeners;
    if tcp.is_none() && unix.is_none() {
        return Err(RouterError::NoListener);
    }
    let config = &shared.config;
    let options = Arc::new(AcceptOptions {
        path: config.path.clone(),
        serializers: Serializer::ALL.to_vec(),
        max_message_size: config.transport_limit(),
        handshake_timeout: config.handshake_timeout,
    });
    let permits = Arc::new(Semaphore::new(config.max_sessions));
    let refusals = Arc::new(Semaphore::new(MAX_PENDING_REFUSALS));
    // Cancelled once the accept loop has stopped: every session says GOODBYE.
    let stop = CancellationToken::new();
    let mut tasks = JoinSet::new();
    let mut summaries = tokio::time::interval(WARN_INTERVAL);
    summaries.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    if let Some(l) = &tcp {
        info!(addr = %l.local_addr()?, path = config.path, realms = ?config.realms, "router listening");
    }
    if let Some(l) = &unix {
        info!(path = ?l.local_addr()?.as_pathname(), "router listening on Unix socket");
    }

    loop {
        let conn = tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            _ = summaries.tick() => {
                shared.warnings.flush();
                continue;
            }
            Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                if let Err(e) = done {
                    if e.is_panic() {
                        error!("connection task panicked: {e}");
                    }
                }
                continue;
            }
            accepted = accept_tcp(tcp.as_ref()) => match accepted {
                Ok((stream, addr)) => {
                    let peer = if addr.is_ipv4() { format!("tcp4:{addr}") } else { format!("tcp6:{addr}") };
                    Conn::Tcp(stream, peer)
                }
                Err(e) => {
                    accept_failed(e, &shared.warnings).await;
                    continue;
                }
            },
            accepted = accept_unix(unix.as_ref()) => match accepted {
                Ok(stream) => Conn::Unix(stream),
                Err(e) => {
                    accept_failed(e, &shared.warnings).await;
                    continue;
                }
            },
        };
        match permits.clone().try_acquire_owned() {
            Ok(permit) => {
                tasks.spawn(connection(
                    shared.clone(),
                    options.clone(),
                    conn,
                    permit,
                    stop.clone(),
                ));
            }
            Err(_) => {
                if let Some(suppressed) = shared.warnings.admit(Cause::Refused) {
                    warn!(
                        max_sessions = config.max_sessions,
                        suppressed,
                        "connection limit reached (max_sessions = {}): refusing a connection",
                        config.max_sessions
                    );
                }
                if let Ok(permit) = refusals.clone().try_acquire_owned() {
                    let why = format!("max_sessions = {} reached", config.max_sessions);
                    tasks.spawn(refuse(conn, options.clone(), why, permit));
                }
            }
        }
    }

    drop(tcp);
    drop(unix);
    info!(connections = tasks.len(), "shutting down");
    stop.cancel();
    let drained = tokio::time::timeout(config.shutdown_timeout, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        warn!(
            remaining = tasks.len(),
            timeout = ?config.shutdown_timeout,
            "sessions did not close in time: dropping them"
        );
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
    }
    info!("router stopped");
    Ok(())
}

/// Accept errors (e.g. out of file descriptors) must not end the loop or spin it.
async fn accept_failed(e: std::io::Error, warnings: &Warnings) {
    if let Some(suppressed) = warnings.admit(Cause::AcceptFailed) {
        error!(suppressed, "accept failed: {e}");
    }
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
}

async fn connection(
    shared: Arc<Shared>,
    options: Arc<AcceptOptions>,
    conn: Conn,
    permit: OwnedSemaphorePermit,
    stop: CancellationToken,
) {
    let peer = match &conn {
        Conn::Tcp(_, peer) => peer.clone(),
        Conn::Unix(_) => "unix".to_owned(),
    };
    let span = info_span!(
        "session",
        peer = %peer,
        session = tracing::field::Empty,
        realm = tracing::field::Empty
    );
    async move {
        let accepted = tokio::select! {
            biased;
            _ = stop.cancelled() => return,
            t = async {
                match conn {
                    Conn::Tcp(stream, _) => transport::accept(stream, &options).await,
                    Conn::Unix(stream) => transport::accept_unix(stream, &options).await,
                }
            } => t,
        };
        match accepted {
            Ok(transport) => {
                debug!(
                    kind = ?transport.kind,
                    serializer = transport.serializer.name(),
                    "transport established"
                );
                session::run(shared, transport, stop).await;
            }
            Err(e) => debug!("transport handshake failed: {e}"),
        }
        drop(permit);
    }
    .instrument(span)
    .await
}

/// Refuse a connection at the cap: RawSocket error 4 ("maximum connection count
/// reached"); a WebSocket upgrade gets HTTP 503 whose body names the limit (`why`).
async fn refuse(
    conn: Conn,
    options: Arc<AcceptOptions>,
    why: String,
    permit: OwnedSemaphorePermit,
) {
    let e = match conn {
        Conn::Tcp(stream, _) => {
            match tokio::time::timeout(
                options.handshake_timeout,
                refuse_tcp(stream, &options, &why),
            )
            .await
            {
                Ok(e) => e,
                Err(_) => "transport handshake timed out".to_owned(),
            }
        }
        Conn::Unix(stream) => transport::refuse_unix(stream, &options).await.to_string(),
    };
    debug!("refused a connection: {e}");
    drop(permit);
}

/// The universal port at the cap. RawSocket is refused by the transport; an HTTP
/// request is read and negotiated here, so that the 503 can say which limit was hit
/// (other refusals, 400/404/426, are the transport's as usual).
async fn refuse_tcp(mut stream: TcpStream, options: &AcceptOptions, why: &str) -> String {
    use tokio::io::AsyncWriteExt;
    let mut first = [0u8; 1];
    match stream.peek(&mut first).await {
        Ok(0) | Err(_) => return "closed before the handshake".to_owned(),
        Ok(_) => {}
    }
    if first[0] == transport::rawsocket::MAGIC {
        return transport::refuse(stream, options).await.to_string();
    }
    let head = match websocket::read_request_head(&mut stream).await {
        Ok(Some((head, _))) => head,
        Ok(None) => {
            let response = websocket::http_response(
                431,
                "Request Header Fields Too Large",
                &[],
                "request head too large\n",
            );
            let _ = stream.write_all(&response).await;
            let _ = stream.shutdown().await;
            return "HTTP request head too large".to_owned();
        }
        Err(e) => return e.to_string(),
    };
    let response = match websocket::negotiate(&head, &options.path, &options.serializers) {
        websocket::Negotiation::Upgrade { .. } => websocket::http_response(
            503,
            "Service Unavailable",
            &[("Retry-After", "5")],
            &format!("{why}\n"),
        ),
        websocket::Negotiation::Refuse { response, .. } => response,
    };
    let _ = stream.write_all(&response).await;
    let _ = stream.shutdown().await;
    format!("refused an HTTP request: {why}")
}
