//! What every component binary shares: the `--router`/`--realm` flags, logging, signal
//! handling and a reconnecting client. A component's `main` is
//! `component::main("gnss", |client| async move { ... })`.
//!
//! The client starts in the background, so a component comes up even when the router
//! is not there yet, and reconnects (re-registering and re-subscribing by itself) when
//! the router restarts. SIGINT/SIGTERM end the component's future and close the
//! session with GOODBYE.

use std::future::Future;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use tracing_subscriber::EnvFilter;

use crate::client::{Client, ClientConfig, SessionState};
use crate::contract::{DEFAULT_REALM, DEFAULT_ROUTER_URL};
use crate::wamp::Serializer;

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
    #[arg(long, value_name = "NAME", default_value = "msgpack", value_parser = ["json", "msgpack", "cbor"])]
    pub serializer: String,
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
}

impl ComponentArgs {
    /// The client configuration these flags describe, with the component's name in the
    /// HELLO `agent` so the meta API shows who is who.
    pub fn client_config(&self, component: &str) -> ClientConfig {
        let mut config = ClientConfig::new(self.router.clone(), self.realm.clone());
        let first = Serializer::from_name(&self.serializer).unwrap_or(Serializer::MsgPack);
        let mut serializers = vec![first];
        serializers.extend(Serializer::ALL.into_iter().filter(|s| *s != first));
        config.serializers = serializers;
        config.agent = format!("verger-{component}/{}", env!("CARGO_PKG_VERSION"));
        config.tls_ca_files = self.tls_ca.clone();
        config
    }
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

/// Completes on SIGINT or SIGTERM.
pub fn shutdown_signal() -> std::io::Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
            _ = int.recv() => tracing::info!("SIGINT: shutting down"),
        }
    })
}

/// The multi-threaded runtime every verger binary runs on, and a future that completes
/// on SIGINT/SIGTERM (installed before anything is announced, so a signal right after
/// start-up already shuts down gracefully).
pub fn runtime_and_signals() -> Result<(tokio::runtime::Runtime, impl Future<Output = ()>), String>
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let shutdown = {
        let _guard = runtime.enter();
        shutdown_signal().map_err(|e| format!("cannot install signal handlers: {e}"))?
    };
    Ok((runtime, shutdown))
}

/// Print one clear line on stderr and return a failing exit code.
pub fn fail(error: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {error}");
    ExitCode::FAILURE
}

/// Run a component: logging, runtime, a background client, the component's own work
/// until it ends or a signal arrives, then GOODBYE. `work` gets the client; it should
/// set up its registrations and subscriptions and then run until cancelled.
pub fn main<F, Fut>(component: &str, args: ComponentArgs, work: F) -> ExitCode
where
    F: FnOnce(Client) -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    init_logging();
    let (runtime, shutdown) = match runtime_and_signals() {
        Ok(x) => x,
        Err(e) => return fail(e),
    };
    runtime.block_on(async move {
        let client = match Client::start(args.client_config(component)) {
            Ok(c) => c,
            Err(e) => return fail(e),
        };
        tracing::info!(router = %args.router, realm = %args.realm, "verger-{component} starting");
        let states = tokio::spawn(log_states(client.clone()));
        let result = tokio::select! {
            r = work(client.clone()) => r,
            _ = shutdown => Ok(()),
        };
        states.abort();
        let _ = client.close().await;
        match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(e),
        }
    })
}

/// Log every session state change, so an operator sees connects and reconnects.
async fn log_states(client: Client) {
    let mut state = client.state();
    loop {
        match &*state.borrow_and_update() {
            SessionState::Established { session } => tracing::info!(session, "joined"),
            SessionState::Reconnecting { attempt, next_in } => {
                tracing::warn!(attempt, ?next_in, error = ?client.last_error(), "router unreachable, retrying")
            }
            SessionState::Connecting => tracing::info!("connecting"),
            SessionState::Closed { reason } => {
                tracing::info!(%reason, "session closed");
            }
        }
        if state.changed().await.is_err() {
            return;
        }
    }
}

/// Whole-binary check every component crate runs in its tests: the program at `binary`
/// refuses a bad flag with a message naming it, joins realm `orchard` of a router on
/// 127.0.0.1:0 given by `--router`, then leaves with exit code 0 when sent SIGTERM.
/// Returns a description of what went wrong.
pub async fn check_component_binary(binary: &std::path::Path) -> Result<(), String> {
    use std::time::Duration;
    const STEP: Duration = Duration::from_secs(10);

    let out = tokio::process::Command::new(binary)
        .args(["--serializer", "yaml"])
        .output()
        .await
        .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.success() || !(stderr.contains("yaml") && stderr.contains("--serializer")) {
        return Err(format!(
            "`--serializer yaml` should fail naming the flag and value; got {} and {stderr:?}",
            out.status
        ));
    }

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("bind: {e}"))?;
    let config = crate::router::RouterConfig {
        listen: listener.local_addr().map_err(|e| e.to_string())?,
        ..Default::default()
    };
    let router = crate::router::Router::start(config, listener).map_err(|e| e.to_string())?;
    let sessions = |want: usize| {
        let router = &router;
        async move {
            tokio::time::timeout(STEP, async {
                while router.session_count(DEFAULT_REALM) != want {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            })
            .await
            .map_err(|_| format!("expected {want} session(s) in realm {DEFAULT_REALM}"))
        }
    };
    let mut child = tokio::process::Command::new(binary)
        .args(["--router", &router.url(), "--realm", DEFAULT_REALM])
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
    sessions(1).await?;
    let pid = child.id().ok_or("the component exited early")?;
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .map_err(|e| format!("kill: {e}"))?;
    if !killed.success() {
        return Err("kill -TERM failed".into());
    }
    let status = tokio::time::timeout(STEP, child.wait())
        .await
        .map_err(|_| "no exit within 10 s of SIGTERM".to_string())?
        .map_err(|e| e.to_string())?;
    if !status.success() {
        return Err(format!("exit status {status} after SIGTERM"));
    }
    sessions(0).await?;
    router.shutdown().await.map_err(|e| e.to_string())
}
