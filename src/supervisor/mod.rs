//! `verger run`: the embedded router, then every component as its own child process,
//! kept running and stopped in order.
//!
//! - [`config`]: `verger.toml`, read strictly: the router, the realm, the restart and
//!   stop policy, how each program is started, and each component's section (its
//!   settings file, kept on the lines of `verger.toml`).
//! - [`policy`]: the restart backoff and the stop order as pure state machines on
//!   injected time.
//! - [`output`]: a child's output cut into lines, each prefixed with its name.
//! - this file: the programs found on disk ([`programs`]), every component's own check
//!   of its section ([`check`]), and the thin async shell ([`run`]): one task per
//!   component that starts it, forwards its output and restarts it with backoff, the
//!   stop that follows the [`policy::StopPlan`], and the retained status of every
//!   program on `orchard.run.status` (`crate::contract::run`), published through the
//!   router by a client of the supervisor's own.
//!
//! Every child gets `--router URL --realm NAME`, and `--config FILE` when `verger.toml`
//! has a section for it (written to the runtime directory), runs in the folder of
//! `verger.toml` and in its own process group, so that a Ctrl-C at a terminal reaches
//! the supervisor only, which stops the components in order.

pub mod config;
pub mod output;
pub mod policy;

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::client::Client;
use crate::component::{self, ComponentArgs};
use crate::config::{ConfigError, Problem};
use crate::contract::run::{ProgramState, ProgramStatus, RunState, RunStatusPayload, STATUS_TOPIC};
use crate::router::{Router, RouterError, RouterHandle};
use config::{Program, RouterChoice, RunConfig, STOPS_FIRST};
use policy::{Backoff, RestartPolicy, StopAction, StopPlan};

/// One program to start: a component of `verger.toml` that is enabled, its program
/// found on disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Launch {
    /// The component's name.
    pub name: String,
    /// The program file.
    pub program: PathBuf,
    /// Its arguments from `command` (before the ones the supervisor adds).
    pub args: Vec<String>,
    /// Whether it is a built-in component's own binary (it takes `--check-config`).
    pub built_in: bool,
    /// When it starts again.
    pub restart: config::Restart,
    /// Its section's text, if it has one.
    pub section: Option<String>,
}

/// Why `verger.toml` cannot be run: every problem found, each naming the file (and
/// section), the line and the field.
#[derive(Debug, thiserror::Error)]
pub enum Fault {
    /// The file, a section's layout, or a program that cannot be found.
    #[error("{}", .0.report())]
    Config(#[from] ConfigError),
    /// What a component said of its own section (`--check-config`).
    #[error("{origin}: {message}")]
    Component {
        /// `verger.toml [map]`.
        origin: String,
        /// The component's own message, with the lines of `verger.toml`.
        message: String,
    },
    /// A file the check needs could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Every [`Fault`] of a `verger.toml`, one per line when displayed.
#[derive(Debug, thiserror::Error)]
#[error("{}", .0.iter().map(|f| f.to_string()).collect::<Vec<_>>().join("\n"))]
pub struct CheckFailed(pub Vec<Fault>);

/// Whether `path` is a file this user may execute.
fn executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// `word` (a command's first word) as a program file: a path (relative to `base_dir`)
/// when it has a `/`, else the first match in `path_var` (`$PATH`).
pub fn find_program(word: &str, base_dir: &Path, path_var: Option<&OsStr>) -> Option<PathBuf> {
    if word.contains('/') {
        let path = base_dir.join(word);
        return executable(&path).then_some(path);
    }
    std::env::split_paths(path_var?)
        .map(|dir| dir.join(word))
        .find(|p| executable(p))
}

/// The binary of built-in component `name`: `verger-<name>` in `exe_dir` (the folder
/// of the running `verger`), else on `path_var`.
pub fn find_built_in(
    name: &str,
    exe_dir: Option<&Path>,
    path_var: Option<&OsStr>,
) -> Option<PathBuf> {
    let file = format!("verger-{name}");
    exe_dir
        .map(|dir| dir.join(&file))
        .filter(|p| executable(p))
        .or_else(|| find_program(&file, Path::new("."), path_var))
}

/// The folder of the running executable, where the built-in components are looked
/// for first.
pub fn exe_dir() -> Option<PathBuf> {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
}

/// The enabled components of `config`, each with its program found (beside `exe_dir`
/// or on `$PATH` for a built-in one; as `command` says for the others), or every
/// program that cannot be found, with the line of its `command`.
pub fn programs(config: &RunConfig, exe_dir: Option<&Path>) -> Result<Vec<Launch>, ConfigError> {
    let path_var = std::env::var_os("PATH");
    let mut problems = Vec::new();
    let mut launches = Vec::new();
    for c in config.components.iter().filter(|c| c.enabled) {
        let (found, args, why) = match &c.program {
            Program::BuiltIn(name) => {
                let where_ = exe_dir
                    .map(|d| format!("beside verger in {} nor ", d.display()))
                    .unwrap_or_default();
                (
                    find_built_in(name, exe_dir, path_var.as_deref()),
                    Vec::new(),
                    format!(
                        "verger-{name} is found neither {where_}on PATH: install the component \
                         binaries beside verger, set `command` under [components.{name}], or \
                         `enabled = false` if it runs elsewhere"
                    ),
                )
            }
            Program::Given(words) => {
                let first = words.first().map(String::as_str).unwrap_or_default();
                (
                    find_program(first, &config.base_dir, path_var.as_deref()),
                    words[1..].to_vec(),
                    if first.contains('/') {
                        format!(
                            "`{first}` is not an executable file (relative to {})",
                            config.base_dir.display()
                        )
                    } else {
                        format!("`{first}` is not a program on PATH")
                    },
                )
            }
        };
        match found {
            Some(program) => launches.push(Launch {
                name: c.name.clone(),
                program,
                args,
                built_in: c.is_built_in(),
                restart: c.restart,
                section: c.section.as_ref().map(|s| s.text.clone()),
            }),
            None => problems.push((
                c.command_line,
                Problem::new(format!("components.{}.command", c.name), why),
            )),
        }
    }
    if problems.is_empty() {
        Ok(launches)
    } else {
        Err(ConfigError::Invalid {
            origin: config.origin.clone(),
            problems,
        })
    }
}

/// Write each section to `dir/<name>.toml`; the files by component name.
pub fn write_sections(launches: &[Launch], dir: &Path) -> Result<BTreeMap<String, PathBuf>, Fault> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| Fault::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let mut files = BTreeMap::new();
    for l in launches {
        if let Some(text) = &l.section {
            let path = dir.join(format!("{}.toml", l.name));
            std::fs::write(&path, text).map_err(io(&path))?;
            files.insert(l.name.clone(), path);
        }
    }
    Ok(files)
}

/// `verger config check` of a `verger.toml` (and the first step of `verger run`): the
/// file, the programs, and each enabled built-in component's own check of its section
/// (`verger-<name> --check-config`, run in the folder of `verger.toml`: files it names
/// must exist there), its messages given with the lines of `verger.toml`. `scratch`
/// receives the sections' files. The components to start, or every problem found.
pub fn check(
    config: &RunConfig,
    exe_dir: Option<&Path>,
    scratch: &Path,
) -> Result<Vec<Launch>, CheckFailed> {
    let launches = programs(config, exe_dir).map_err(|e| CheckFailed(vec![e.into()]))?;
    let files = write_sections(&launches, scratch).map_err(|e| CheckFailed(vec![e]))?;
    let mut faults = Vec::new();
    for l in launches.iter().filter(|l| l.built_in) {
        let mut command = std::process::Command::new(&l.program);
        command.arg("--check-config").current_dir(&config.base_dir);
        if let Some(file) = files.get(&l.name) {
            command.arg("--config").arg(file);
        }
        let origin = format!("{} [{}]", config.origin, l.name);
        match command.stdin(Stdio::null()).output() {
            Ok(out) if out.status.success() => {}
            Ok(out) => {
                let mut message = String::from_utf8_lossy(&out.stderr).trim().to_owned();
                if let Some(file) = files.get(&l.name) {
                    message = message.replace(&format!("{}: ", file.display()), "");
                }
                let message = message
                    .strip_prefix("error: ")
                    .unwrap_or(&message)
                    .to_owned();
                faults.push(Fault::Component { origin, message });
            }
            Err(e) => faults.push(Fault::Component {
                origin,
                message: format!("cannot run {}: {e}", l.program.display()),
            }),
        }
    }
    if faults.is_empty() {
        Ok(launches)
    } else {
        Err(CheckFailed(faults))
    }
}

/// Why `verger run` failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The embedded router did not start.
    #[error("the embedded router: {0}")]
    Router(#[from] RouterError),
    /// The sections could not be written.
    #[error("{0}")]
    Sections(Fault),
    /// The client that publishes `orchard.run.status` could not be made (a URL the
    /// check let through, which should not happen).
    #[error("the status client: {0}")]
    Client(crate::client::ClientError),
    /// The output file could not be opened.
    #[error("the components' output: {0}")]
    Output(std::io::Error),
}

/// How `verger run` ended.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct RunSummary {
    /// Components killed because they did not stop within `stop_timeout`.
    pub overran: Vec<String>,
    /// A second signal cut the stop short.
    pub forced: bool,
}

impl RunSummary {
    /// Whether everything stopped cleanly, in order.
    pub fn clean(&self) -> bool {
        self.overran.is_empty() && !self.forced
    }
}

/// Every program's state, as published on `orchard.run.status`; a change wakes the
/// publisher.
#[derive(Clone, Debug)]
struct Board {
    status: std::sync::Arc<std::sync::Mutex<RunStatusPayload>>,
    changed: tokio::sync::watch::Sender<()>,
}

impl Board {
    fn new(config: &RunConfig, launches: &[Launch]) -> Board {
        let programs = config
            .components
            .iter()
            .filter(|c| !c.enabled || launches.iter().any(|l| l.name == c.name))
            .map(|c| ProgramStatus {
                name: c.name.clone(),
                state: if c.enabled {
                    ProgramState::Restarting
                } else {
                    ProgramState::Disabled
                },
                pid: None,
                restarts: 0,
                last_exit: None,
            })
            .collect();
        Board {
            status: std::sync::Arc::new(std::sync::Mutex::new(RunStatusPayload {
                state: RunState::Running,
                programs,
                published_at: None,
            })),
            changed: tokio::sync::watch::Sender::new(()),
        }
    }

    fn edit(&self, f: impl FnOnce(&mut RunStatusPayload)) {
        f(&mut self.status.lock().unwrap_or_else(|p| p.into_inner()));
        self.changed.send_replace(());
    }

    fn program(&self, name: &str, f: impl FnOnce(&mut ProgramStatus)) {
        self.edit(|s| {
            if let Some(p) = s.programs.iter_mut().find(|p| p.name == name) {
                f(p);
            }
        });
    }

    fn snapshot(&self) -> RunStatusPayload {
        self.status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// Publish the board on `orchard.run.status` (retained) at every change and on every
/// new session, with a testament saying `gone`, until `done`; then the last words.
async fn publish_status(client: Client, board: Board, done: CancellationToken) {
    let gone = RunStatusPayload {
        state: RunState::Gone,
        programs: Vec::new(),
        published_at: None,
    };
    let testament = CancellationToken::new();
    let filing = {
        let (client, gone, token) = (client.clone(), gone.clone(), testament.clone());
        tokio::spawn(async move {
            component::file_testament(&client, STATUS_TOPIC, &gone, &token).await;
        })
    };
    let mut changed = board.changed.subscribe();
    let mut session = client.state();
    loop {
        if client.session_id().is_some() {
            let mut status = board.snapshot();
            status.published_at = Some(crate::contract::gnss::published_at(
                std::time::SystemTime::now(),
            ));
            if let Err(e) = client
                .publish_typed(STATUS_TOPIC, &status, component::retained())
                .await
            {
                tracing::debug!("{STATUS_TOPIC} not published: {e}");
            }
        }
        tokio::select! {
            r = changed.changed() => if r.is_err() { break },
            r = session.changed() => if r.is_err() { break },
            _ = done.cancelled() => break,
        }
    }
    testament.cancel();
    let _ = filing.await;
    let gone = RunStatusPayload {
        published_at: Some(crate::contract::gnss::published_at(
            std::time::SystemTime::now(),
        )),
        ..gone
    };
    component::last_words(&client, STATUS_TOPIC, &gone).await;
    let _ = tokio::time::timeout(Duration::from_secs(1), client.close()).await;
}

/// What a component's task tells the stop.
#[derive(Debug)]
struct Ended(String);

/// The handle of one component's task.
#[derive(Debug)]
struct Keeper {
    signals: mpsc::UnboundedSender<Signal>,
    /// Cancelled at the stop: no more restarts.
    stopping: CancellationToken,
}

/// Where the components' prefixed lines (and the supervisor's own announcements) go.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum OutputTo {
    /// A child's stdout to ours, its stderr to ours (`verger run`).
    #[default]
    Inherit,
    /// Both streams appended to this file (`verger sim` keeps the terminal for its
    /// progress line).
    File(PathBuf),
}

/// How [`run`] runs, besides the configuration.
#[derive(Debug)]
pub struct RunOptions {
    /// Where the sections are written.
    pub runtime_dir: PathBuf,
    /// The first SIGINT/SIGTERM: stop in order.
    pub stop: CancellationToken,
    /// A second signal: kill what is left at once.
    pub forced: CancellationToken,
    /// Where output goes.
    pub output: OutputTo,
    /// Variables added to every program's environment (`VERGER_TIME_SCALE` for the
    /// simulator).
    pub env: Vec<(String, String)>,
    /// Told the URL every program is given, once the router listens.
    pub router_url: Option<tokio::sync::oneshot::Sender<String>>,
}

impl RunOptions {
    /// `verger run`'s: output inherited, no extra environment.
    pub fn new(runtime_dir: &Path, stop: CancellationToken, forced: CancellationToken) -> Self {
        RunOptions {
            runtime_dir: runtime_dir.to_path_buf(),
            stop,
            forced,
            output: OutputTo::Inherit,
            env: Vec::new(),
            router_url: None,
        }
    }
}

/// Run `launches` (from [`check`]) as `config` says until `options.stop` is cancelled
/// (the first SIGINT/SIGTERM), then stop them in order ([`StopPlan`]) and the embedded
/// router last; `options.forced` (a second signal) kills what is left at once. The
/// router's URL is announced (on stdout, or in the output file) once it listens.
pub async fn run(
    config: &RunConfig,
    launches: Vec<Launch>,
    options: RunOptions,
) -> Result<RunSummary, RunError> {
    let RunOptions {
        runtime_dir,
        stop,
        forced,
        output,
        env,
        router_url,
    } = options;
    let files = write_sections(&launches, &runtime_dir).map_err(RunError::Sections)?;
    let writer = OutputWriter::start(&output).map_err(RunError::Output)?;
    let (router, url) = match &config.router {
        RouterChoice::Embedded(router_config) => {
            let listeners = Router::bind(router_config).await?;
            let handle = Router::new((**router_config).clone())?.start_with(listeners)?;
            let url = connect_url(&handle);
            writer
                .announce(&format!(
                    "verger run: router listening on {url} (realm {})",
                    config.realm
                ))
                .await;
            (Some(handle), url)
        }
        RouterChoice::External(url) => {
            writer
                .announce(&format!(
                    "verger run: using the router at {url} (realm {}), none embedded",
                    config.realm
                ))
                .await;
            (None, url.clone())
        }
    };
    if let Some(tx) = router_url {
        let _ = tx.send(url.clone());
    }
    let env = std::sync::Arc::new(env);
    let board = Board::new(config, &launches);
    let status_done = CancellationToken::new();
    let publisher = {
        let args = ComponentArgs {
            realm: config.realm.clone(),
            ..ComponentArgs::for_router(&url)
        };
        let client = Client::start(args.client_config("run")).map_err(RunError::Client)?;
        tokio::spawn(publish_status(client, board.clone(), status_done.clone()))
    };
    let policy = RestartPolicy {
        delay: config.supervisor.restart_delay,
        max_delay: config.supervisor.restart_max_delay,
        reset_after: config.supervisor.restart_reset_after,
    };
    let (ended_tx, mut ended) = mpsc::unbounded_channel();
    let mut keepers = BTreeMap::new();
    for l in launches {
        let (signals, signal_rx) = mpsc::unbounded_channel();
        let stopping = CancellationToken::new();
        let mut args: Vec<std::ffi::OsString> = l.args.iter().map(Into::into).collect();
        args.extend([
            "--router".into(),
            url.clone().into(),
            "--realm".into(),
            config.realm.clone().into(),
        ]);
        if let Some(file) = files.get(&l.name) {
            args.extend(["--config".into(), file.into()]);
        }
        let task = KeeperTask {
            name: l.name.clone(),
            program: l.program.clone(),
            args,
            dir: config.base_dir.clone(),
            restart: l.restart,
            backoff: Backoff::new(policy),
            signals: signal_rx,
            stopping: stopping.clone(),
            writer: writer.clone(),
            board: board.clone(),
            env: env.clone(),
        };
        let tx = ended_tx.clone();
        tokio::spawn(async move {
            let name = task.name.clone();
            task.run().await;
            let _ = tx.send(Ended(name));
        });
        keepers.insert(l.name, Keeper { signals, stopping });
    }
    drop(ended_tx);
    let mut active: BTreeSet<String> = keepers.keys().cloned().collect();
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            Some(Ended(name)) = ended.recv() => { active.remove(&name); }
        }
    }
    for k in keepers.values() {
        k.stopping.cancel();
    }
    board.edit(|s| s.state = RunState::Stopping);
    let mut plan = StopPlan::new(active, STOPS_FIRST, config.supervisor.stop_timeout);
    let mut actions = plan.start(Instant::now());
    let mut forced_seen = false;
    loop {
        for action in actions.drain(..) {
            match action {
                StopAction::Terminate(names) => {
                    if names.iter().any(|n| n == STOPS_FIRST) {
                        tracing::info!(
                            "stopping {STOPS_FIRST} first (SIGTERM): valves to their safe state"
                        );
                    } else {
                        tracing::info!("stopping {} (SIGTERM)", names.join(", "));
                    }
                    send(&keepers, &names, Signal::SIGTERM);
                }
                StopAction::Kill(names) => {
                    tracing::warn!("killing {} (SIGKILL)", names.join(", "));
                    send(&keepers, &names, Signal::SIGKILL);
                }
                StopAction::StopRouter => {}
            }
        }
        if plan.is_done() {
            break;
        }
        let deadline = plan.deadline();
        tokio::select! {
            Some(Ended(name)) = ended.recv() => actions = plan.exited(&name, Instant::now()),
            _ = sleep_until(deadline) => actions = plan.tick(Instant::now()),
            _ = forced.cancelled(), if !forced_seen => {
                forced_seen = true;
                actions = plan.force(Instant::now());
            }
        }
    }
    // Its last words go through the router, which stops after them.
    status_done.cancel();
    let _ = publisher.await;
    if let Some(router) = router {
        match router.shutdown().await {
            Ok(()) => tracing::info!("router stopped"),
            Err(e) => tracing::warn!("router stopped: {e}"),
        }
    }
    writer.close().await;
    for file in files.values() {
        let _ = std::fs::remove_file(file);
    }
    Ok(RunSummary {
        overran: plan.overran().to_vec(),
        forced: forced_seen,
    })
}

/// Sleep until `deadline`, or forever without one.
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d.into()).await,
        None => std::future::pending().await,
    }
}

fn send(keepers: &BTreeMap<String, Keeper>, names: &[String], signal: Signal) {
    for name in names {
        if let Some(k) = keepers.get(name) {
            let _ = k.signals.send(signal);
        }
    }
}

/// The URL the components use to reach the embedded router: its address, with the
/// loopback address for an unspecified one (`0.0.0.0` listens everywhere, but is not
/// an address to connect to).
fn connect_url(router: &RouterHandle) -> String {
    let mut addr = router.local_addr();
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            std::net::SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    format!("ws://{addr}{}", router.config().path)
}

/// Which of the supervisor's streams a line goes to.
#[derive(Clone, Copy, Debug)]
enum Stream {
    Stdout,
    Stderr,
}

/// The one writer of the children's lines to the supervisor's stdout and stderr (whole
/// lines, never interleaved; a slow reader holds back the children, not memory).
#[derive(Clone, Debug)]
struct OutputWriter {
    lines: mpsc::Sender<(Stream, Vec<u8>)>,
    done: std::sync::Arc<tokio::sync::Mutex<Option<tokio::task::JoinHandle<()>>>>,
}

impl OutputWriter {
    fn start(to: &OutputTo) -> std::io::Result<OutputWriter> {
        let (lines, mut rx) = mpsc::channel::<(Stream, Vec<u8>)>(256);
        let mut file = match to {
            OutputTo::Inherit => None,
            OutputTo::File(path) => Some(tokio::fs::File::from_std(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|e| {
                        std::io::Error::new(e.kind(), format!("{}: {e}", path.display()))
                    })?,
            )),
        };
        let task = tokio::spawn(async move {
            let mut stdout = tokio::io::stdout();
            let mut stderr = tokio::io::stderr();
            while let Some((stream, bytes)) = rx.recv().await {
                // A closed terminal or pipe: the lines are lost, the components run on.
                let _ = match (&mut file, stream) {
                    (Some(f), _) => write_flush(f, &bytes).await,
                    (None, Stream::Stdout) => write_flush(&mut stdout, &bytes).await,
                    (None, Stream::Stderr) => write_flush(&mut stderr, &bytes).await,
                };
            }
        });
        Ok(OutputWriter {
            lines,
            done: std::sync::Arc::new(tokio::sync::Mutex::new(Some(task))),
        })
    }

    /// A line of the supervisor's own, on stdout (or in the file).
    async fn announce(&self, line: &str) {
        self.write(Stream::Stdout, format!("{line}\n").into_bytes())
            .await;
    }

    async fn write(&self, stream: Stream, bytes: Vec<u8>) {
        if !bytes.is_empty() {
            let _ = self.lines.send((stream, bytes)).await;
        }
    }

    /// Write what is queued (bounded: a child's grandchild may keep a pipe open).
    async fn close(self) {
        let task = self.done.lock().await.take();
        drop(self.lines);
        if let Some(task) = task {
            let _ = tokio::time::timeout(Duration::from_secs(1), task).await;
        }
    }
}

async fn write_flush<W: tokio::io::AsyncWrite + Unpin>(
    w: &mut W,
    bytes: &[u8],
) -> std::io::Result<()> {
    w.write_all(bytes).await?;
    w.flush().await
}

/// Forward one of a child's streams, line by line, prefixed with its name.
async fn forward(
    name: String,
    mut from: impl AsyncRead + Unpin,
    stream: Stream,
    writer: OutputWriter,
) {
    let mut lines = output::Prefixer::new(&name);
    let mut buf = vec![0u8; 8192];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => writer.write(stream, lines.push(&buf[..n])).await,
        }
    }
    writer.write(stream, lines.finish()).await;
}

/// One component's task: start it, forward its output, wait for its end; start it
/// again after the backoff unless it is being stopped or its restart mode says no.
struct KeeperTask {
    name: String,
    program: PathBuf,
    args: Vec<std::ffi::OsString>,
    dir: PathBuf,
    restart: config::Restart,
    backoff: Backoff,
    signals: mpsc::UnboundedReceiver<Signal>,
    stopping: CancellationToken,
    writer: OutputWriter,
    board: Board,
    env: std::sync::Arc<Vec<(String, String)>>,
}

impl KeeperTask {
    async fn run(mut self) {
        loop {
            if self.stopping.is_cancelled() {
                return;
            }
            let started = Instant::now();
            let ended = match self.spawn() {
                Ok(child) => self.wait(child).await,
                Err(e) => Err(format!("cannot start {}: {e}", self.program.display())),
            };
            let ran_for = started.elapsed();
            let last_exit = match &ended {
                Ok(status) => status.to_string(),
                Err(e) => e.clone(),
            };
            let restarts = self.backoff.restarts();
            self.board.program(&self.name, |p| {
                p.state = ProgramState::Stopped;
                p.pid = None;
                p.last_exit = Some(last_exit);
                p.restarts = restarts;
            });
            if self.stopping.is_cancelled() {
                match ended {
                    Ok(status) => tracing::info!("{} stopped ({status})", self.name),
                    Err(e) => tracing::warn!("{}: {e}", self.name),
                }
                return;
            }
            let (how, success) = match &ended {
                Ok(status) => (status.to_string(), status.success()),
                Err(e) => (e.clone(), false),
            };
            if !self.restart.restarts(success) {
                tracing::warn!(
                    "{} exited ({how}) after {}; not started again (restart = {:?})",
                    self.name,
                    crate::config::duration::format(round(ran_for)),
                    self.restart
                );
                return;
            }
            let delay = self.backoff.next_delay(ran_for);
            let restarts = self.backoff.restarts();
            self.board.program(&self.name, |p| {
                p.state = ProgramState::Restarting;
                p.restarts = restarts;
            });
            tracing::warn!(
                "{} exited ({how}) after {}; restart {} in {}",
                self.name,
                crate::config::duration::format(round(ran_for)),
                self.backoff.restarts(),
                crate::config::duration::format(delay)
            );
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = self.stopping.cancelled() => return,
            }
        }
    }

    fn spawn(&self) -> std::io::Result<tokio::process::Child> {
        let mut command = std::process::Command::new(&self.program);
        command
            .args(&self.args)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // A verger component stops if this process is killed (it cannot stop it).
            .env(
                crate::component::SUPERVISOR_PID_ENV,
                std::process::id().to_string(),
            )
            // Its own process group: a Ctrl-C at the terminal reaches the supervisor
            // only, which stops the components in order.
            .process_group(0)
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        let mut command = tokio::process::Command::from(command);
        command.kill_on_drop(true);
        let mut child = command.spawn()?;
        self.board.program(&self.name, |p| {
            p.state = ProgramState::Running;
            p.pid = child.id();
        });
        tracing::info!(
            "started {} (pid {})",
            self.name,
            child.id().map_or("?".into(), |p| p.to_string())
        );
        if let Some(out) = child.stdout.take() {
            tokio::spawn(forward(
                self.name.clone(),
                out,
                Stream::Stdout,
                self.writer.clone(),
            ));
        }
        if let Some(err) = child.stderr.take() {
            tokio::spawn(forward(
                self.name.clone(),
                err,
                Stream::Stderr,
                self.writer.clone(),
            ));
        }
        Ok(child)
    }

    /// Wait for the child's end, passing it the signals of the stop (to this child
    /// only: it is not reaped before it has ended, so its pid is still its own).
    async fn wait(&mut self, mut child: tokio::process::Child) -> Result<ExitStatus, String> {
        let pid = child
            .id()
            .and_then(|p| i32::try_from(p).ok())
            .map(Pid::from_raw);
        loop {
            tokio::select! {
                status = child.wait() => return status.map_err(|e| e.to_string()),
                Some(signal) = self.signals.recv() => {
                    if let Some(pid) = pid {
                        let _ = kill(pid, signal);
                    }
                }
            }
        }
    }
}

/// A duration to the millisecond, for messages.
fn round(d: Duration) -> Duration {
    Duration::from_millis(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
