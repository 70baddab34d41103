//! Programs under test: component binaries as child processes (signals, exit status,
//! the whole-binary check every component passes) and components run in-process on
//! the harness's shutdown token.

use std::ffi::OsStr;
use std::future::Future;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;
use verger::client::Client;
use verger::component::Shutdown;
use verger::contract::DEFAULT_REALM;
use verger::router::RouterHandle;

use crate::{eventually, start_test_router, within};

/// A program started by a test; killed if the test ends first.
#[derive(Debug)]
pub struct Process {
    pub child: Child,
    name: String,
}

impl Process {
    /// Start `program` with `args`, logging at `warn` unless `RUST_LOG` says otherwise,
    /// stdout discarded and stderr inherited (it shows in the test's output).
    pub fn spawn<I, S>(program: &Path, args: I) -> Process
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut command = Command::new(program);
        command.args(args).stdout(Stdio::null());
        Self::spawn_command(command)
    }

    /// Start a prepared command (kill on drop is added), logging at `warn` unless the
    /// command or the test's environment sets `RUST_LOG`.
    pub fn spawn_command(mut command: Command) -> Process {
        let set_here = command
            .as_std()
            .get_envs()
            .any(|(k, _)| k == std::ffi::OsStr::new("RUST_LOG"));
        if !set_here && std::env::var_os("RUST_LOG").is_none() {
            command.env("RUST_LOG", "warn");
        }
        command.kill_on_drop(true);
        let name = format!("{:?}", command.as_std().get_program());
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Process { child, name }
    }

    /// The process id (while it runs).
    pub fn pid(&self) -> Pid {
        let id = self
            .child
            .id()
            .unwrap_or_else(|| panic!("{} already exited", self.name));
        Pid::from_raw(i32::try_from(id).expect("pid fits i32"))
    }

    /// Send `signal` (SIGTERM, SIGINT, SIGKILL...).
    pub fn signal(&self, signal: Signal) {
        kill(self.pid(), signal).unwrap_or_else(|e| panic!("kill -{signal} {}: {e}", self.name));
    }

    /// Wait for the exit, failing the test after [`crate::STEP`].
    pub async fn wait(&mut self) -> ExitStatus {
        within(&format!("{} exits", self.name), self.child.wait())
            .await
            .expect("wait")
    }

    /// Wait for the exit and return the status with everything written on stderr
    /// (the command must have been spawned with `stderr(Stdio::piped())`).
    pub async fn wait_with_stderr(&mut self) -> (ExitStatus, String) {
        use tokio::io::AsyncReadExt;
        let mut stderr = self.child.stderr.take().expect("stderr piped");
        let mut text = String::new();
        within(
            &format!("{} closes stderr", self.name),
            stderr.read_to_string(&mut text),
        )
        .await
        .expect("read stderr");
        (self.wait().await, text)
    }

    /// Send `signal` and wait for the exit.
    pub async fn stop_with(&mut self, signal: Signal) -> ExitStatus {
        self.signal(signal);
        self.wait().await
    }
}

/// Run `program` with `args` to its end; (status, stderr).
pub async fn run_to_end<I, S>(program: &Path, args: I) -> (ExitStatus, String)
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let out = within(
        "program runs to its end",
        Command::new(program).args(args).output(),
    )
    .await
    .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
    (
        out.status,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Wait until realm `orchard` of `router` has `want` sessions.
pub async fn sessions(router: &RouterHandle, want: usize) {
    eventually(
        &format!("{want} session(s) in realm {DEFAULT_REALM}"),
        || router.session_count(DEFAULT_REALM) == want,
    )
    .await
}

/// The whole-binary check every component passes: `program` refuses a bad flag
/// naming it and a `--config` file with an unknown key naming the key and its line,
/// joins realm `orchard` of a router on 127.0.0.1:0 given by `--router`
/// (with `extra` flags, e.g. a source), and leaves with exit status 0 on SIGTERM and
/// on SIGINT, its session closed.
pub async fn check_component_binary(program: &Path, extra: &[&str]) {
    let (status, stderr) = run_to_end(program, ["--serializer", "yaml"]).await;
    assert!(
        !status.success() && stderr.contains("yaml") && stderr.contains("--serializer"),
        "`--serializer yaml` should fail naming the flag and value; got {status} and {stderr:?}"
    );
    let dir = crate::TempDir::new("component-config");
    let config = dir.path("component.toml");
    std::fs::write(&config, "# settings\nno_such_setting = 1\n").expect("write config");
    let mut args = vec!["--config", config.to_str().expect("utf-8 path")];
    args.extend_from_slice(extra);
    let (status, stderr) = run_to_end(program, &args).await;
    assert!(
        !status.success()
            && stderr.contains("component.toml: line 2")
            && stderr.contains("no_such_setting"),
        "an unknown setting should be refused naming it and its line; got {status} and {stderr:?}"
    );
    let router = start_test_router().await;
    for signal in [Signal::SIGTERM, Signal::SIGINT] {
        let url = router.url();
        let mut args = vec!["--router", url.as_str(), "--realm", DEFAULT_REALM];
        args.extend_from_slice(extra);
        let mut child = Process::spawn(program, &args);
        sessions(&router, 1).await;
        let status = child.stop_with(signal).await;
        assert!(status.success(), "exit status {status} after {signal}");
        sessions(&router, 0).await;
    }
    within("router shutdown", router.shutdown())
        .await
        .expect("router shutdown");
}

/// A component running in this process as `verger::component::main` would run it:
/// its own reconnecting [`Client`] (fast reconnects, see [`crate::client_config`]) and
/// its own [`Shutdown`]. [`InProcess::stop`] requests shutdown, waits for the work to
/// end and closes the session; dropping it first aborts the work.
#[derive(Debug)]
pub struct InProcess<T> {
    pub client: Client,
    pub shutdown: Shutdown,
    task: Option<JoinHandle<T>>,
}

/// Shutdown grace of in-process components.
pub const IN_PROCESS_GRACE: Duration = Duration::from_secs(5);

impl<T: Send + 'static> InProcess<T> {
    /// Start `work(client, shutdown)` against the router at `url`.
    pub fn start<F, Fut>(url: &str, work: F) -> InProcess<T>
    where
        F: FnOnce(Client, Shutdown) -> Fut,
        Fut: Future<Output = T> + Send + 'static,
    {
        crate::init_logging();
        let client = Client::start(crate::client_config(url)).expect("client");
        let shutdown = Shutdown::new(IN_PROCESS_GRACE);
        let task = tokio::spawn(work(client.clone(), shutdown.clone()));
        InProcess {
            client,
            shutdown,
            task: Some(task),
        }
    }

    /// Wait until the work ends by itself (e.g. a replayed file is done).
    pub async fn finished(mut self) -> T {
        let task = self.task.as_mut().expect("task");
        let out = within("component finishes", task).await.expect("join");
        self.task = None;
        out
    }

    /// Request shutdown, wait for the work to end (within its grace), then leave.
    pub async fn stop(mut self) -> T {
        self.shutdown.request();
        let task = self.task.as_mut().expect("task");
        let out = within("component stops", task).await.expect("join");
        self.task = None;
        let _ = within("client close", self.client.close()).await;
        out
    }
}

impl<T> Drop for InProcess<T> {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// How to build the binaries of the whole workspace (`scripts/test` does it before the
/// tests run).
pub const BUILD_WORKSPACE: &str =
    "build them first: `cargo build --workspace --all-targets` (scripts/test does)";

/// A binary of another package of the workspace (`verger-gnss`, `verger-shutdown-probe`...)
/// in the test's own target folder, where `cargo build --workspace --all-targets` puts
/// it: a test only gets `CARGO_BIN_EXE_*` for its own package's binaries. Fails the test
/// saying how to build it when it is missing or older than the files under `sources`
/// (folders relative to the workspace root, e.g. `components/map/src`).
pub fn workspace_binary(name: &str, sources: &[&str]) -> std::path::PathBuf {
    let test = std::env::current_exe().expect("the test's path");
    // target/<profile>/deps/<test>-<hash> → target/<profile>/<name>
    let profile = test
        .parent()
        .and_then(Path::parent)
        .expect("the test runs from target/<profile>/deps");
    let path = profile.join(name);
    let built = std::fs::metadata(&path)
        .and_then(|m| m.modified())
        .unwrap_or_else(|_| panic!("{} is missing: {BUILD_WORKSPACE}", path.display()));
    for source in sources {
        let source = crate::project_root().join(source);
        if newest_mtime(&source).is_some_and(|t| t > built) {
            panic!(
                "{} is older than {}: {BUILD_WORKSPACE}",
                path.display(),
                source.display()
            );
        }
    }
    path
}

/// The newest modification time of a file or of the files under a folder (build
/// output in `target` folders left out).
pub fn newest_mtime(path: &Path) -> Option<std::time::SystemTime> {
    let meta = std::fs::metadata(path).ok()?;
    if meta.is_file() {
        return meta.modified().ok();
    }
    std::fs::read_dir(path)
        .ok()?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name() != "target")
        .filter_map(|e| newest_mtime(&e.path()))
        .max()
}
