//! What every component binary shares: the common flags (`--router`, `--realm`,
//! `--serializer`, `--tls-ca`, `--config`, `--shutdown-timeout`), logging, signal
//! handling, a reconnecting client, and a shutdown that lets the component reach its
//! safe state. A component's `main` is
//!
//! ```text
//! component::main("gnss", args, |client, shutdown, settings| async move { ... })
//! ```
//!
//! The client starts in the background, so a component comes up even when the router
//! is not there yet, and reconnects (re-registering and re-subscribing by itself) when
//! the router restarts.
//!
//! # Shutdown
//!
//! SIGINT or SIGTERM does not drop the component's future: it requests shutdown on the
//! component's [`Shutdown`] (one [`CancellationToken`], the cancellation primitive used
//! everywhere in verger) and gives the component `--shutdown-timeout` to finish its
//! own shutdown: close valves, publish a last status, flush a record. The client is
//! still connected meanwhile; GOODBYE is sent after the component's future returns.
//! A component that overruns the deadline, or a second signal, ends the process with a
//! failure status (hardware that must be safe has its own watchdog for that case).
//! A component started by `verger run` also shuts down this way when the supervisor
//! is gone (killed, so that it could not stop its children): [`SUPERVISOR_PID_ENV`].
//!
//! # Configuration
//!
//! `--config FILE` names a TOML file with the component's own [`Settings`] (its
//! section of `verger.toml` under `verger run`), read through the one loader of
//! [`crate::config`] before anything starts; [`main`] hands them to the component.
//! Flags given on the command line win over the file. A component without settings
//! yet takes [`NoSettings`], so any key in its file is refused by name. With
//! `--check-config` the component only loads its settings and exits (0: usable).

use std::future::Future;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde::de::DeserializeOwned;
use tokio::time::Instant;
use tracing_subscriber::EnvFilter;

pub use tokio_util::sync::CancellationToken;

use crate::client::{Client, ClientConfig, ClientError};
use crate::config::{ConfigError, Validate};
use crate::contract::{DEFAULT_REALM, DEFAULT_ROUTER_URL};
use crate::wamp::Serializer;

/// Set by `verger run` in each child's environment: its own pid. A component whose
/// parent is no longer that process (the supervisor was killed and the component
/// left behind) shuts down as on SIGTERM, rather than running on unsupervised.
pub const SUPERVISOR_PID_ENV: &str = "VERGER_SUPERVISOR_PID";

/// How often a supervised component looks for its supervisor.
const SUPERVISOR_CHECK: Duration = Duration::from_millis(500);

/// How long a component has, by default, to finish its shutdown after a signal.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(3);
/// How long GOODBYE may take after the component's work has ended.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// The serializer a component offers first (`--serializer`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SerializerArg {
    Json,
    Msgpack,
    Cbor,
}

impl From<SerializerArg> for Serializer {
    fn from(s: SerializerArg) -> Serializer {
        match s {
            SerializerArg::Json => Serializer::Json,
            SerializerArg::Msgpack => Serializer::MsgPack,
            SerializerArg::Cbor => Serializer::Cbor,
        }
    }
}

/// Flags every component takes.
#[derive(Debug, Clone, clap::Args)]
pub struct ComponentArgs {
    /// Router URL: ws://HOST:PORT/PATH, wss://..., rs://HOST:PORT (RawSocket) or
    /// unix:///PATH.
    #[arg(long, value_name = "URL", env = "VERGER_ROUTER", default_value = DEFAULT_ROUTER_URL)]
    pub router: String,
    /// WAMP realm to join.
    #[arg(long, value_name = "NAME", env = "VERGER_REALM", default_value = DEFAULT_REALM)]
    pub realm: String,
    /// Serializer to offer first (the others are offered as fallbacks).
    #[arg(long, value_name = "NAME", value_enum, default_value_t = SerializerArg::Msgpack)]
    pub serializer: SerializerArg,
    /// Extra CA certificate(s) (PEM file) to trust for wss://, e.g. the farm's own CA
    /// behind a TLS-terminating proxy. Repeatable; in VERGER_TLS_CA separate files
    /// with ':'.
    #[arg(
        long = "tls-ca",
        value_name = "FILE",
        env = "VERGER_TLS_CA",
        value_delimiter = ':'
    )]
    pub tls_ca: Vec<PathBuf>,
    /// The component's settings (TOML); flags given on the command line win.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// After SIGINT/SIGTERM, how long the component has to reach its safe state and
    /// leave (e.g. 3s, 500ms).
    #[arg(long, value_name = "DURATION", default_value = "3s", value_parser = crate::config::duration::parse)]
    pub shutdown_timeout: Duration,
    /// Only check the settings (the --config file, the files it names, the flags) and
    /// exit: status 0 if they can be used, else the problems on stderr. Nothing starts
    /// (`verger config check` runs every component this way).
    #[arg(long)]
    pub check_config: bool,
}

impl ComponentArgs {
    /// Defaults for a router URL: what a component started with only `--router URL`
    /// gets.
    pub fn for_router(url: &str) -> ComponentArgs {
        ComponentArgs {
            router: url.to_owned(),
            realm: DEFAULT_REALM.to_owned(),
            serializer: SerializerArg::Msgpack,
            tls_ca: Vec::new(),
            config: None,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            check_config: false,
        }
    }

    /// The client configuration these flags describe, with the component's name in the
    /// HELLO `agent` so the meta API shows who is who.
    pub fn client_config(&self, component: &str) -> ClientConfig {
        let mut config = ClientConfig::new(self.router.clone(), self.realm.clone());
        let first = Serializer::from(self.serializer);
        let mut serializers = vec![first];
        serializers.extend(Serializer::ALL.into_iter().filter(|s| *s != first));
        config.serializers = serializers;
        config.agent = format!("verger-{component}/{}", env!("CARGO_PKG_VERSION"));
        config.tls_ca_files = self.tls_ca.clone();
        config
    }
}

/// A component's own settings, as read from `--config FILE` by the one loader of
/// [`crate::config`]: strict TOML (`#[serde(deny_unknown_fields)]`), defaults for
/// everything, and a [`Validate`] step.
pub trait Settings: DeserializeOwned + Validate + Default + Send + 'static {}

impl<T: DeserializeOwned + Validate + Default + Send + 'static> Settings for T {}

/// The settings of a component that has none yet: a `--config` file must be empty
/// (any key is refused by name, so nothing is silently ignored).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoSettings {}

impl Validate for NoSettings {
    fn validate(&self) -> Result<(), Vec<crate::config::Problem>> {
        Ok(())
    }
}

/// The component's settings from `--config FILE`, or the defaults without one.
pub fn load_config<S: Settings>(args: &ComponentArgs) -> Result<S, ConfigError> {
    match &args.config {
        Some(path) => crate::config::load(path),
        None => Ok(S::default()),
    }
}

/// A component's shutdown: a [`CancellationToken`] that is cancelled on SIGINT/SIGTERM
/// (or by [`Shutdown::request`]), and the time the component then has to finish.
/// Clones share the same token.
#[derive(Clone, Debug)]
pub struct Shutdown {
    token: CancellationToken,
    grace: Duration,
    deadline: Arc<OnceLock<Instant>>,
}

impl Shutdown {
    /// A shutdown not requested yet; once requested, the component has `grace`.
    pub fn new(grace: Duration) -> Shutdown {
        Shutdown {
            token: CancellationToken::new(),
            grace,
            deadline: Arc::new(OnceLock::new()),
        }
    }

    /// Ask the component to stop (idempotent: the first request sets the deadline).
    pub fn request(&self) {
        self.deadline.get_or_init(|| Instant::now() + self.grace);
        self.token.cancel();
    }

    /// Completes once shutdown is requested.
    pub async fn requested(&self) {
        self.token.cancelled().await
    }

    pub fn is_requested(&self) -> bool {
        self.token.is_cancelled()
    }

    /// The token itself, for code that takes a plain [`CancellationToken`] (a child
    /// token is cancelled with it and can also be cancelled on its own).
    pub fn token(&self) -> &CancellationToken {
        &self.token
    }

    /// How long the component has after the request.
    pub fn grace(&self) -> Duration {
        self.grace
    }

    /// When the component must be done: set at the request.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline.get().copied()
    }
}

/// Why a component ended in failure.
#[derive(Debug, thiserror::Error)]
pub enum ComponentError {
    #[error("cannot start the runtime: {0}")]
    Runtime(std::io::Error),
    #[error("cannot install signal handlers: {0}")]
    Signals(std::io::Error),
    #[error("{0}")]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Client(#[from] ClientError),
    #[error("did not finish its shutdown within {} of the signal", crate::config::duration::format(*.0))]
    ShutdownOverrun(Duration),
    #[error("second signal during shutdown: stopped before reaching a clean end")]
    Interrupted,
    /// The component's own work failed.
    #[error("{0}")]
    Work(String),
}

/// Logs to stderr, filtered by `RUST_LOG` (default `info`).
pub fn init_logging() {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

/// Spawn the signal watcher: the first SIGINT/SIGTERM requests shutdown on
/// `shutdown`, a second one cancels the returned token.
fn watch_signals(shutdown: Shutdown) -> Result<CancellationToken, ComponentError> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).map_err(ComponentError::Signals)?;
    let mut int = signal(SignalKind::interrupt()).map_err(ComponentError::Signals)?;
    let forced = CancellationToken::new();
    let second = forced.clone();
    tokio::spawn(async move {
        for n in 0..2 {
            let name = tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            };
            if n == 0 {
                tracing::info!("{name}: shutting down");
                shutdown.request();
            } else {
                tracing::warn!("{name} again: stopping now");
                second.cancel();
            }
        }
    });
    Ok(forced)
}

/// If this component was started by `verger run` ([`SUPERVISOR_PID_ENV`]), request
/// shutdown once the supervisor is no longer among its ancestors (its parent, or the
/// parent of a wrapper it was started through: `heaptrack verger-map`, `nice ...`). A
/// killed supervisor's children are taken over by init or a subreaper, which ends the
/// chain.
fn watch_supervisor(shutdown: Shutdown) {
    let Some(supervisor) = std::env::var(SUPERVISOR_PID_ENV)
        .ok()
        .and_then(|p| p.parse::<i32>().ok())
    else {
        return;
    };
    tokio::spawn(async move {
        loop {
            if !is_ancestor(supervisor) {
                tracing::warn!("verger run (pid {supervisor}) is gone: shutting down");
                shutdown.request();
                return;
            }
            tracing::debug!(supervisor, "supervisor checked: still an ancestor");
            tokio::select! {
                _ = tokio::time::sleep(SUPERVISOR_CHECK) => {}
                _ = shutdown.requested() => return,
            }
        }
    });
}

/// Whether `pid` is this process's parent, grandparent... (read from `/proc`).
fn is_ancestor(pid: i32) -> bool {
    let mut at = nix::unistd::getppid().as_raw();
    // A chain of wrappers is short; the bound only guards against a /proc that lies.
    for _ in 0..64 {
        if at == pid {
            return true;
        }
        if at <= 1 {
            return false;
        }
        match std::fs::read_to_string(format!("/proc/{at}/stat"))
            .ok()
            .and_then(|stat| parent_in_stat(&stat))
        {
            Some(parent) => at = parent,
            None => return false,
        }
    }
    false
}

/// The parent pid in the text of `/proc/PID/stat`: `PID (COMM) STATE PPID ...`, where
/// COMM may hold spaces and parentheses (so the fields are read after its last `)`).
fn parent_in_stat(stat: &str) -> Option<i32> {
    let (_, after) = stat.rsplit_once(')')?;
    after.split_whitespace().nth(1)?.parse().ok()
}

/// The multi-threaded runtime every verger binary runs on, and a [`Shutdown`] that is
/// requested on SIGINT/SIGTERM (handlers installed before anything is announced, so a
/// signal right after start-up already shuts down gracefully). The returned token is
/// cancelled by a second signal.
pub fn runtime_and_signals(
    grace: Duration,
) -> Result<(tokio::runtime::Runtime, Shutdown, CancellationToken), ComponentError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(ComponentError::Runtime)?;
    let shutdown = Shutdown::new(grace);
    let forced = {
        let _guard = runtime.enter();
        watch_signals(shutdown.clone())?
    };
    Ok((runtime, shutdown, forced))
}

/// Print one clear line on stderr and return a failing exit code.
pub fn fail(error: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {error}");
    ExitCode::FAILURE
}

/// Run a component: logging, its settings from `--config` (refused before anything
/// starts if they do not load), runtime, a background client, then `work(client,
/// shutdown, settings)` until it returns. On SIGINT/SIGTERM the shutdown is requested
/// and `work` has `--shutdown-timeout` to return; then GOODBYE. `work` should set up
/// its registrations and subscriptions, run until `shutdown.requested()`, bring what it
/// drives to its safe state and return.
pub fn main<S, F, Fut, E>(component: &str, args: ComponentArgs, work: F) -> ExitCode
where
    S: Settings,
    F: FnOnce(Client, Shutdown, S) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    init_logging();
    match run(component, args, work) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

/// [`main`] without the logging set-up and exit code.
pub fn run<S, F, Fut, E>(
    component: &str,
    args: ComponentArgs,
    work: F,
) -> Result<(), ComponentError>
where
    S: Settings,
    F: FnOnce(Client, Shutdown, S) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    let settings: S = load_config(&args)?;
    if args.check_config {
        return Ok(());
    }
    let (runtime, shutdown, forced) = runtime_and_signals(args.shutdown_timeout)?;
    runtime.block_on(async move {
        watch_supervisor(shutdown.clone());
        let client = Client::start(args.client_config(component))?;
        // The client logs its own connects, failures (throttled) and losses.
        tracing::info!(router = %args.router, realm = %args.realm, "verger-{component} starting");
        let result = supervise(
            work(client.clone(), shutdown.clone(), settings),
            &shutdown,
            forced.cancelled_owned(),
        )
        .await;
        if tokio::time::timeout(CLOSE_TIMEOUT, client.close())
            .await
            .is_err()
        {
            tracing::warn!("GOODBYE not acknowledged within {CLOSE_TIMEOUT:?}");
        }
        result
    })
}

/// Drive `work` to its end, holding it to the shutdown deadline once shutdown is
/// requested; a second signal ends it at once.
async fn supervise<Fut, E>(
    work: Fut,
    shutdown: &Shutdown,
    second_signal: impl Future<Output = ()>,
) -> Result<(), ComponentError>
where
    Fut: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    tokio::pin!(work);
    tokio::pin!(second_signal);
    let ended = tokio::select! {
        r = &mut work => Some(r),
        _ = shutdown.requested() => None,
    };
    let result = match ended {
        Some(r) => r,
        None => {
            let deadline = shutdown
                .deadline()
                .unwrap_or_else(|| Instant::now() + shutdown.grace());
            tokio::select! {
                r = &mut work => r,
                _ = tokio::time::sleep_until(deadline) => {
                    return Err(ComponentError::ShutdownOverrun(shutdown.grace()));
                }
                _ = &mut second_signal => return Err(ComponentError::Interrupted),
            }
        }
    };
    result.map_err(|e| ComponentError::Work(e.to_string()))
}

/// How long a component's last words may take when it stops.
pub const LAST_WORDS_TIMEOUT: Duration = Duration::from_secs(1);

/// Publish options of retained state (what late subscribers get).
pub fn retained() -> crate::client::PublishOptions {
    crate::client::PublishOptions {
        retain: true,
        ..crate::client::PublishOptions::default()
    }
}

/// File `gone` as this session's testament: the router publishes it, retained, on
/// `topic` if the session ends without [`last_words`] (killed, crashed, network or
/// router lost). Gives up when `token` is cancelled first.
pub async fn file_testament<T: serde::Serialize>(
    client: &Client,
    topic: &str,
    gone: &T,
    token: &CancellationToken,
) {
    let testament = match crate::client::Testament::retained(topic, gone) {
        Ok(t) => t,
        Err(e) => return tracing::error!("cannot build the testament: {e}"),
    };
    tokio::select! {
        _ = token.cancelled() => {}
        filed = client.add_testament(testament) => if let Err(e) = filed {
            tracing::warn!(
                "the router did not take the testament ({e}): if this component dies, its \
                 last state stays retained on the router (consumers still see it age)"
            );
        }
    }
}

/// The component stops by itself: publish `gone` (retained, dated, final) on `topic`,
/// then withdraw the testament, which would only repeat it without a date. Bounded by
/// [`LAST_WORDS_TIMEOUT`].
pub async fn last_words<T: serde::Serialize>(client: &Client, topic: &str, gone: &T) {
    let said = tokio::time::timeout(LAST_WORDS_TIMEOUT, async {
        client
            .publish_typed(topic, gone, retained())
            .await
            .map_err(|e| e.to_string())?;
        client
            .flush_testaments(crate::client::TestamentScope::Destroyed)
            .await
            .map_err(|e| e.to_string())
    })
    .await;
    match said {
        Ok(Ok(())) => tracing::info!("published state gone"),
        Ok(Err(e)) => tracing::debug!("last state not published ({e}); the testament says gone"),
        Err(_) => tracing::debug!("last state timed out; the testament says gone"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_parent_is_read_after_the_command_name_whatever_it_holds() {
        assert_eq!(
            parent_in_stat("4242 (verger-map) S 4200 4242 4200 0 -1"),
            Some(4200)
        );
        assert_eq!(parent_in_stat("7 (a (b) c) R 1 7 7 0"), Some(1));
        assert_eq!(parent_in_stat("7 (a) c) R"), None);
        assert_eq!(parent_in_stat(""), None);
    }

    #[test]
    fn ancestors_reach_past_a_wrapper_and_stop_at_init() {
        // This test's process: its parent and its parent's parent are ancestors.
        let parent = nix::unistd::getppid().as_raw();
        assert!(is_ancestor(parent));
        let grandparent = std::fs::read_to_string(format!("/proc/{parent}/stat"))
            .ok()
            .and_then(|s| parent_in_stat(&s));
        if let Some(g) = grandparent.filter(|g| *g > 1) {
            assert!(is_ancestor(g));
        }
        // Itself and a child-like pid are not.
        assert!(!is_ancestor(std::process::id() as i32));
        assert!(!is_ancestor(i32::MAX));
    }

    #[tokio::test(start_paused = true)]
    async fn work_gets_its_grace_after_the_request() {
        let shutdown = Shutdown::new(Duration::from_secs(2));
        let s = shutdown.clone();
        let work = async move {
            s.requested().await;
            // Reaching the safe state takes a while, within the grace.
            tokio::time::sleep(Duration::from_millis(1500)).await;
            Ok::<(), String>(())
        };
        shutdown.request();
        let r = supervise(work, &shutdown, std::future::pending()).await;
        assert!(r.is_ok(), "{r:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn overrunning_the_deadline_is_a_failure() {
        let shutdown = Shutdown::new(Duration::from_secs(2));
        let s = shutdown.clone();
        let work = async move {
            s.requested().await;
            tokio::time::sleep(Duration::from_secs(5)).await;
            Ok::<(), String>(())
        };
        let start = Instant::now();
        shutdown.request();
        let r = supervise(work, &shutdown, std::future::pending()).await;
        assert!(
            matches!(r, Err(ComponentError::ShutdownOverrun(_))),
            "{r:?}"
        );
        assert_eq!(start.elapsed(), Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn a_second_signal_ends_at_once() {
        let shutdown = Shutdown::new(Duration::from_secs(60));
        let work = std::future::pending::<Result<(), String>>();
        shutdown.request();
        let second = tokio::time::sleep(Duration::from_millis(10));
        let r = supervise(work, &shutdown, second).await;
        assert!(matches!(r, Err(ComponentError::Interrupted)), "{r:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn work_ending_by_itself_and_its_error() {
        let shutdown = Shutdown::new(Duration::from_secs(1));
        let r = supervise(
            async { Err::<(), _>("input ended badly") },
            &shutdown,
            std::future::pending(),
        )
        .await;
        assert_eq!(r.unwrap_err().to_string(), "input ended badly");
        assert!(!shutdown.is_requested());
        assert_eq!(shutdown.deadline(), None);
    }

    #[test]
    fn the_first_request_sets_the_deadline() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        rt.block_on(async {
            let shutdown = Shutdown::new(Duration::from_secs(3));
            let t0 = Instant::now();
            shutdown.request();
            tokio::time::advance(Duration::from_secs(1)).await;
            shutdown.request();
            assert_eq!(shutdown.deadline(), Some(t0 + Duration::from_secs(3)));
        });
    }
}
