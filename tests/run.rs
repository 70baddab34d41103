//! `verger run` as a whole binary: stand-in components (shell scripts that show how
//! they were started, and the test kit's shutdown probe, a real WAMP component) prove
//! the arguments and sections each child gets, the prefixed output, restarts with
//! backoff, the stop order and the choice of router; `verger config check` names the
//! line at fault, also inside a component's section; and one run of the four real
//! components on the demo orchard, with a pty for the receiver and the virtual valve
//! board, joins the router and stops cleanly.
//!
//! The component binaries and the probe come from `cargo build --workspace
//! --all-targets` (scripts/test runs it first); a test that misses one says so.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use nix::sys::signal::Signal;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use verger::contract::run::{ProgramState, RunState, RunStatusPayload, STATUS_TOPIC};
use verger::router::RouterHandle;
use verger::supervisor::config::RunConfig;
use verger_testkit::{
    connect, event_where, eventually, next_event, project_root, sessions, start_test_router,
    subscribe, within, workspace_binary, Process, Pty, TempDir,
};

const VERGER: &str = env!("CARGO_BIN_EXE_verger");

/// Every line a stream of `verger run` wrote so far, and whether it has ended.
#[derive(Clone, Debug, Default)]
struct Lines(Arc<Mutex<Vec<String>>>, Arc<std::sync::atomic::AtomicBool>);

impl Lines {
    fn collect(stream: impl AsyncRead + Unpin + Send + 'static) -> Lines {
        let lines = Lines::default();
        let into = lines.clone();
        tokio::spawn(async move {
            let mut reader = BufReader::new(stream).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                into.0.lock().unwrap().push(line);
            }
            into.1.store(true, std::sync::atomic::Ordering::SeqCst);
        });
        lines
    }

    /// Once everything written has been read (the stream is closed).
    async fn ended(&self) {
        eventually("the stream read to its end", || {
            self.1.load(std::sync::atomic::Ordering::SeqCst)
        })
        .await
    }

    fn all(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }

    fn find(&self, part: &str) -> Option<String> {
        self.all().into_iter().find(|l| l.contains(part))
    }

    fn position(&self, part: &str) -> Option<usize> {
        self.all().iter().position(|l| l.contains(part))
    }

    fn count(&self, part: &str) -> usize {
        self.all().iter().filter(|l| l.contains(part)).count()
    }

    /// The first line containing `part`, once written.
    async fn wait_for(&self, part: &str) -> String {
        eventually(&format!("a line with {part:?} in {:?}", self.all()), || {
            self.find(part).is_some()
        })
        .await;
        self.find(part).unwrap()
    }
}

/// `verger run --config FILE`, its stdout and stderr read line by line.
struct Run {
    process: Process,
    out: Lines,
    err: Lines,
}

impl Run {
    fn start(config: &Path) -> Run {
        let mut command = tokio::process::Command::new(VERGER);
        command
            .arg("run")
            .arg("--config")
            .arg(config)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut process = Process::spawn_command(command);
        let out = Lines::collect(process.child.stdout.take().unwrap());
        let err = Lines::collect(process.child.stderr.take().unwrap());
        Run { process, out, err }
    }

    /// The URL of the embedded router, once it listens.
    async fn router_url(&self) -> String {
        let line = self.out.wait_for("router listening on ").await;
        let url = line.split("listening on ").nth(1).unwrap();
        url.split(' ').next().unwrap().to_owned()
    }

    /// SIGTERM, then the exit status once everything has stopped and every line it
    /// wrote has been read.
    async fn stop(&mut self) -> std::process::ExitStatus {
        let status = self.process.stop_with(Signal::SIGTERM).await;
        self.out.ended().await;
        self.err.ended().await;
        status
    }
}

/// A stand-in component: says how it was started (its arguments and settings on
/// stdout, a line on stderr), then on SIGTERM notes it in `./order`; the sprayer takes
/// 300 ms to "close its valves" first.
const STAND_IN: &str = r#"name=$1
shift
echo "$name args: $*"
echo "$name to stderr" >&2
config=
while [ $# -gt 0 ]; do
    if [ "$1" = --config ]; then config=$2; fi
    shift
done
if [ -n "$config" ]; then grep -v '^$' "$config" | sed "s/^/$name config: /"; fi
stop() {
    echo "$name got SIGTERM" >> order
    if [ "$name" = sprayer ]; then sleep 0.3; echo "sprayer closed its valves" >> order; fi
    exit 0
}
trap stop TERM
echo "$name ready"
# Until verger is gone (a test that fails leaves nothing running).
while kill -0 "$PPID" 2>/dev/null; do sleep 0.05; done
"#;

fn probe() -> PathBuf {
    workspace_binary("verger-shutdown-probe", &["tests/kit/src", "src"])
}

/// A folder with the stand-in script, and the probe.
fn stand_ins(tag: &str) -> (TempDir, PathBuf) {
    let dir = TempDir::new(tag);
    write(&dir, "standin.sh", STAND_IN);
    (dir, probe())
}

fn write(dir: &TempDir, name: &str, text: &str) -> PathBuf {
    let path = dir.path(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test]
async fn children_get_the_router_and_their_section_and_stop_sprayer_first_router_last() {
    let (dir, probe) = stand_ins("run-order");
    let config = write(
        &dir,
        "verger.toml",
        &format!(
            r#"# The stand-ins of the four components.
[router]
listen = "127.0.0.1:0"

[components.gnss]
command = "sh standin.sh gnss"

[components.map]
command = "{probe} --out map.closed"

[components.dose]
command = "sh standin.sh dose"

[components.sprayer]
command = "sh standin.sh sprayer"

[gnss]
stale_after = "1.5s"
[gnss.source]
serial = "/dev/ttyUSB0"

[map]
settle = "100ms"

[sprayer.record]
operator = "J. Martin"
"#,
            probe = probe.display()
        ),
    );
    let mut run = Run::start(&config);
    let url = run.router_url().await;
    for name in ["gnss", "dose", "sprayer"] {
        run.out.wait_for(&format!("[{name}] {name} ready")).await;
    }
    // The probe is a real component: it joins the realm at the URL it was given.
    let client = connect(&url).await;
    drop(client);

    let gnss_args = run.out.find("[gnss] gnss args: ").unwrap();
    assert!(
        gnss_args.contains(&format!("--router {url} --realm orchard --config ")),
        "{gnss_args}"
    );
    assert!(gnss_args.ends_with("gnss.toml"), "{gnss_args}");
    let dose_args = run.out.find("[dose] dose args: ").unwrap();
    assert!(
        dose_args.ends_with(&format!("--router {url} --realm orchard")),
        "no section, no --config: {dose_args}"
    );
    // Each section is the component's own settings file, headers shortened.
    for line in [
        "[gnss] gnss config: stale_after = \"1.5s\"",
        "[gnss] gnss config: [source]",
        "[gnss] gnss config: serial = \"/dev/ttyUSB0\"",
        "[sprayer] sprayer config: [record]",
        "[sprayer] sprayer config: operator = \"J. Martin\"",
    ] {
        assert!(
            run.out.find(line).is_some(),
            "{line} in {:?}",
            run.out.all()
        );
    }
    assert!(
        run.out.find("settle").is_none(),
        "map's section is map's only"
    );
    run.err.wait_for("[sprayer] sprayer to stderr").await;

    let status = run.stop().await;
    assert!(status.success(), "{status}\n{:?}", run.err.all());
    let order = std::fs::read_to_string(dir.path("order")).unwrap();
    let order: Vec<&str> = order.lines().collect();
    assert_eq!(
        order[..2],
        ["sprayer got SIGTERM", "sprayer closed its valves"],
        "the sprayer stops alone, first: {order:?}"
    );
    let mut rest = order[2..].to_vec();
    rest.sort();
    assert_eq!(rest, ["dose got SIGTERM", "gnss got SIGTERM"]);
    // The probe published its last words through the router after its SIGTERM: the
    // router was still there.
    assert_eq!(
        std::fs::read_to_string(dir.path("map.closed")).unwrap(),
        "closed"
    );
    let err = &run.err;
    let sprayer_stopped = err.position("sprayer stopped (exit status: 0)").unwrap();
    let map_stopped = err.position("map stopped (exit status: 0)").unwrap();
    let router_stopped = err.position("router stopped").unwrap();
    assert!(
        sprayer_stopped < map_stopped && map_stopped < router_stopped,
        "{:?}",
        err.all()
    );
}

#[tokio::test]
async fn a_crashed_component_is_restarted_with_backoff_and_reported() {
    let dir = TempDir::new("run-restart");
    let config = write(
        &dir,
        "verger.toml",
        r#"[router]
listen = "127.0.0.1:0"

[supervisor]
restart_delay = "100ms"
restart_max_delay = "400ms"

[components.gnss]
enabled = false
[components.map]
enabled = false
[components.dose]
enabled = false
[components.sprayer]
enabled = false

[components.flaky]
command = "sh -c 'echo flaky up; exit 3'"

[components.once]
command = "sh -c 'echo once done'"
"#,
    );
    let mut run = Run::start(&config);
    let url = run.router_url().await;
    let client = connect(&url).await;
    let mut status = subscribe(&client, STATUS_TOPIC, true).await;
    for (n, delay) in [(1, "100ms"), (2, "200ms"), (3, "400ms"), (4, "400ms")] {
        let line = run.err.wait_for(&format!("restart {n} in {delay}")).await;
        assert!(
            line.contains("flaky exited (exit status: 3) after "),
            "{line}"
        );
    }
    assert!(
        run.out.count("[flaky] flaky up") >= 4,
        "{:?}",
        run.out.all()
    );
    // Ended well: not started again (restart = "on_failure" by default).
    run.err.wait_for("once exited (exit status: 0)").await;
    assert!(run
        .err
        .find("once exited")
        .unwrap()
        .contains("not started again"));
    // The same on orchard.run.status, retained.
    let seen = event_where(&mut status, "flaky restarted 4 times, once stopped", |e| {
        let s: RunStatusPayload = e.kwargs_as().unwrap();
        let p = |name: &str| s.programs.iter().find(|p| p.name == name).unwrap().clone();
        p("flaky").restarts >= 4 && p("once").state == ProgramState::Stopped
    })
    .await;
    let seen: RunStatusPayload = seen.kwargs_as().unwrap();
    assert_eq!(seen.state, RunState::Running);
    let names: Vec<&str> = seen.programs.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["gnss", "map", "dose", "sprayer", "flaky", "once"]);
    assert!(seen.programs[..4]
        .iter()
        .all(|p| p.state == ProgramState::Disabled && p.pid.is_none()));
    let flaky = &seen.programs[4];
    assert_eq!(flaky.last_exit.as_deref(), Some("exit status: 3"));
    assert!(matches!(
        flaky.state,
        ProgramState::Running | ProgramState::Restarting
    ));
    assert_eq!(
        seen.programs[5].last_exit.as_deref(),
        Some("exit status: 0")
    );
    assert!(seen.published_at.is_some());
    let _ = within("client close", client.close()).await;
    let status = run.stop().await;
    assert!(status.success(), "{status}\n{:?}", run.err.all());
    assert_eq!(run.out.count("[once] once done"), 1);
}

#[tokio::test]
async fn an_existing_router_is_used_and_none_embedded_and_a_disabled_component_skipped() {
    let router = start_test_router().await;
    let (dir, probe) = stand_ins("run-external");
    let config = write(
        &dir,
        "verger.toml",
        &format!(
            r#"router = "{url}"

[components.map]
command = "{probe} --out map.closed"
[components.gnss]
command = "sh standin.sh gnss"
[components.dose]
enabled = false
[components.sprayer]
enabled = false
"#,
            url = router.url(),
            probe = probe.display()
        ),
    );
    let mut run = Run::start(&config);
    run.out
        .wait_for(&format!("using the router at {}", router.url()))
        .await;
    run.out.wait_for("[gnss] gnss ready").await;
    // The probe, and verger run's own session (orchard.run.status).
    sessions(&router, 2).await;
    assert!(run.out.find("listening").is_none(), "{:?}", run.out.all());
    assert!(run.out.find("[dose]").is_none() && run.err.find("[dose]").is_none());
    assert!(run.err.find("started dose").is_none());
    let status = run.stop().await;
    assert!(status.success(), "{status}\n{:?}", run.err.all());
    sessions(&router, 0).await;
    // Its last words, retained on the router it used.
    let gone = retained_status(&router.url()).await;
    assert_eq!(gone.state, RunState::Gone);
    assert!(gone.published_at.is_some(), "dated: its own last words");
    within("router shutdown", router.shutdown()).await.unwrap();
}

/// The retained `orchard.run.status` of the router at `url`.
async fn retained_status(url: &str) -> RunStatusPayload {
    let client = connect(url).await;
    let mut sub = subscribe(&client, STATUS_TOPIC, true).await;
    let event = next_event(&mut sub, "the retained orchard.run.status").await;
    let _ = within("client close", client.close()).await;
    event.kwargs_as().unwrap()
}

/// `verger run` killed outright: its testament tells the router's other clients it is
/// gone.
#[tokio::test]
async fn a_killed_verger_run_is_reported_gone_by_its_testament() {
    let router = start_test_router().await;
    let dir = TempDir::new("run-killed");
    let config = write(
        &dir,
        "verger.toml",
        &format!(
            "router = \"{}\"\n\
             [components.gnss]\nenabled = false\n[components.map]\nenabled = false\n\
             [components.dose]\nenabled = false\n[components.sprayer]\nenabled = false\n",
            router.url()
        ),
    );
    let mut run = Run::start(&config);
    sessions(&router, 1).await;
    let running = retained_status(&router.url()).await;
    assert_eq!(running.state, RunState::Running);
    assert_eq!(running.programs.len(), 4);
    run.process.stop_with(Signal::SIGKILL).await;
    sessions(&router, 0).await;
    let gone = retained_status(&router.url()).await;
    assert_eq!(gone.state, RunState::Gone);
    assert_eq!(gone.published_at, None, "the testament is not dated");
    within("router shutdown", router.shutdown()).await.unwrap();
}

/// The probe under a shell standing in for `verger run` (its pid is the probe's
/// `VERGER_SUPERVISOR_PID`), started by `launch` (in which `"$0" "$@"` runs the probe),
/// joined to a test router; its log (the supervisor checks at debug level) in `log`.
struct Supervised {
    router: RouterHandle,
    _dir: TempDir,
    out: PathBuf,
    log: PathBuf,
    supervisor: Process,
}

async fn supervised_probe(tag: &str, launch: &str) -> Supervised {
    let router = start_test_router().await;
    let dir = TempDir::new(tag);
    let (out, log) = (dir.path("closed"), dir.path("probe.log"));
    let mut command = tokio::process::Command::new("sh");
    command
        .arg("-c")
        .arg(format!(
            "export {}=$$; {launch} & wait",
            verger::component::SUPERVISOR_PID_ENV
        ))
        .arg(probe())
        .args(["--router", &router.url(), "--out", out.to_str().unwrap()])
        .env("RUST_LOG", "warn,verger::component=debug")
        .stderr(std::fs::File::create(&log).unwrap());
    let supervisor = Process::spawn_command(command);
    sessions(&router, 1).await;
    Supervised {
        router,
        _dir: dir,
        out,
        log,
        supervisor,
    }
}

impl Supervised {
    /// Kills the stand-in supervisor (SIGKILL: it cannot stop its child) and waits for
    /// the probe to say its last words through the router and leave.
    async fn kill_supervisor_and_see_the_probe_stop(mut self) {
        self.supervisor.stop_with(Signal::SIGKILL).await;
        let out = &self.out;
        eventually("the probe stopped cleanly", || {
            std::fs::read_to_string(out).is_ok_and(|t| t == "closed")
        })
        .await;
        sessions(&self.router, 0).await;
        within("router shutdown", self.router.shutdown())
            .await
            .unwrap();
    }
}

/// A verger component started by `verger run` and left behind (the supervisor killed)
/// stops cleanly by itself.
#[tokio::test]
async fn a_component_whose_supervisor_is_gone_stops() {
    let probe = supervised_probe("run-orphan", "\"$0\" \"$@\"").await;
    probe.kill_supervisor_and_see_the_probe_stop().await;
}

/// Started through a wrapper (`heaptrack verger-map`, or here a shell that stays as the
/// component's parent), a component still finds its supervisor above the wrapper and
/// runs on; once the supervisor is killed it stops.
#[tokio::test]
async fn a_component_started_through_a_wrapper_keeps_its_supervisor() {
    let probe =
        supervised_probe("run-wrapped", "sh -c '\"$0\" \"$@\"; exit 0' \"$0\" \"$@\"").await;
    // Three of its checks passed: a probe that took the wrapper for a gone supervisor
    // would have shut down at the first.
    let log = &probe.log;
    eventually("three supervisor checks", || {
        std::fs::read_to_string(log).is_ok_and(|t| t.matches("still an ancestor").count() >= 3)
    })
    .await;
    assert!(
        !probe.out.exists(),
        "the wrapped probe stopped with its supervisor alive"
    );
    sessions(&probe.router, 1).await;
    probe.kill_supervisor_and_see_the_probe_stop().await;
}

/// The four component binaries, built and current.
fn components() -> Vec<PathBuf> {
    ["gnss", "map", "dose", "sprayer"]
        .into_iter()
        .map(|c| {
            let src = format!("components/{c}/src");
            workspace_binary(&format!("verger-{c}"), &[&src, "src"])
        })
        .collect()
}

/// `verger ARGS` to its end: (exit status 0?, stdout, stderr).
async fn verger(args: &[&str]) -> (bool, String, String) {
    let out = within(
        &format!("verger {}", args.join(" ")),
        tokio::process::Command::new(VERGER).args(args).output(),
    )
    .await
    .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

/// `verger config check FILE`.
async fn check(config: &Path) -> (bool, String, String) {
    verger(&["config", "check", config.to_str().unwrap()]).await
}

/// The demo orchard of `maps/` imported into a map database at `db`.
async fn import_demo_map(db: &Path) {
    let geojson = project_root().join("maps/demo-orchard.geojson");
    let (ok, _, stderr) = verger(&[
        "map",
        "import",
        geojson.to_str().unwrap(),
        "--db",
        db.to_str().unwrap(),
    ])
    .await;
    assert!(ok, "{stderr}");
}

/// Replace `from` with `to` in the file at `path`.
fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{from} in {text}");
    std::fs::write(path, text.replace(from, to)).unwrap();
}

#[tokio::test]
async fn config_check_names_the_line_in_verger_toml_also_inside_a_section() {
    components();
    let dir = TempDir::new("run-check");
    let config = write(
        &dir,
        "verger.toml",
        r#"# A tractor
[supervisor]
stop_timeout = "1h"

[components.dose]
command = "./no-such-dose.py"

[map]
db = "orchard.db"

[gnss]
stale_aftr = "1s"

[sprayer.timing]
valve_latency = "5s"
"#,
    );
    let (ok, _, stderr) = check(&config).await;
    assert!(!ok);
    assert!(
        stderr.contains("line 3: supervisor.stop_timeout: 1h is out of range"),
        "{stderr}"
    );
    // The file first: the programs are looked for once it reads.
    edit(&config, "\"1h\"", "\"5s\"");
    let (ok, _, stderr) = check(&config).await;
    assert!(!ok);
    assert!(
        stderr.contains(
            "line 6: components.dose.command: `./no-such-dose.py` is not an executable file"
        ),
        "{stderr}"
    );
    edit(&config, "./no-such-dose.py", "sh my_dose.sh");
    let (ok, _, stderr) = check(&config).await;
    assert!(!ok);
    let file = config.display().to_string();
    for part in [
        format!("{file} [map]: line 9: db: no map database at orchard.db"),
        format!("{file} [gnss]: line 12: stale_aftr: unknown field"),
        format!("{file} [sprayer]: line 15: timing.valve_latency: 5s is out of range"),
    ] {
        assert!(stderr.contains(&part), "{part}\nin {stderr}");
    }
    // Fixed: ok, and the map database is looked for beside verger.toml.
    import_demo_map(&dir.path("orchard.db")).await;
    edit(&config, "stale_aftr", "stale_after");
    edit(
        &config,
        "valve_latency = \"5s\"",
        "valve_latency = \"300ms\"",
    );
    let (ok, stdout, stderr) = check(&config).await;
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains(
            ": ok (embedded router on 127.0.0.1:8080/ws, realm orchard, \
             components: gnss, map, dose, sprayer)"
        ),
        "{stdout}"
    );
}

/// Every configuration the repository ships reads as what it is: `router.toml` as a
/// router's, `config/*.toml` as `verger.toml` files, and the demo's passes the whole
/// check (its map imported beside it); the tractor's only misses the files that exist
/// on a tractor.
#[tokio::test]
async fn every_shipped_config_loads() {
    let root = project_root();
    let mut shipped: Vec<PathBuf> = std::fs::read_dir(root.join("config"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    shipped.sort();
    assert!(shipped.len() >= 2, "{shipped:?}");
    for path in &shipped {
        let text = std::fs::read_to_string(path).unwrap();
        assert!(RunConfig::recognise(&text), "{}", path.display());
        RunConfig::load(path).unwrap_or_else(|e| panic!("{}", e.report()));
    }
    assert!(!RunConfig::recognise(
        &std::fs::read_to_string(root.join("router.toml")).unwrap()
    ));

    components();
    // The demo: its map database is made beside it (as the simulator does).
    let dir = TempDir::new("run-shipped");
    let demo = dir.path("demo.toml");
    std::fs::copy(root.join("config/demo.toml"), &demo).unwrap();
    let db = RunConfig::load(&demo).unwrap();
    let db = db
        .component("map")
        .unwrap()
        .section
        .as_ref()
        .unwrap()
        .text
        .clone();
    let db: toml::Table = db.parse().unwrap();
    let db = dir.0.join(db["db"].as_str().unwrap());
    import_demo_map(&db).await;
    let (ok, _, stderr) = check(&demo).await;
    assert!(ok, "{stderr}");

    let (ok, _, stderr) = check(&root.join("config/verger.toml")).await;
    assert!(!ok);
    let problems: Vec<&str> = stderr.lines().collect();
    assert_eq!(problems.len(), 1, "{stderr}");
    assert!(
        problems[0].contains("[map]: line ")
            && problems[0].contains("db: no map database at /var/lib/verger/orchard.db"),
        "{stderr}"
    );
}

/// The four real components on the demo orchard, without hardware: a pty stands in for
/// the receiver's serial port and the virtual valve board for the board's.
#[tokio::test]
async fn the_four_components_join_the_router_and_stop_cleanly() {
    components();
    let dir = TempDir::new("run-real");
    import_demo_map(&dir.path("orchard.db")).await;
    let _receiver = Pty::open(&dir.path("gnss.tty"));
    let board = verger_sim::board::VirtualBoard::open(
        &dir.path("board.tty"),
        verger_sim::board::VirtualBoardConfig::default(),
    )
    .unwrap();
    let config = write(
        &dir,
        "verger.toml",
        r#"[router]
listen = "127.0.0.1:0"

[gnss.source]
serial = "gnss.tty"

[map]
db = "orchard.db"

[dose]
state_file = "dose-settings.json"
[dose.product]
name = "Captan 80 WG"
authorisation = "2010471"
target_pest = "apple scab"

[sprayer.board]
kind = "serial"
port = "board.tty"
[sprayer.record]
db = "records.db"
operator = "test"
"#,
    );
    let mut run = Run::start(&config);
    let url = run.router_url().await;
    let client = connect(&url).await;
    // Counted again at every join (subscribed first: no join is missed).
    let mut joins = subscribe(&client, "wamp.session.on_join", false).await;
    within(
        "the four components, verger run and this client in the realm",
        async {
            loop {
                let count = client
                    .call("wamp.session.count", Vec::new(), Default::default())
                    .await
                    .ok()
                    .and_then(|r| r.args.first().and_then(|v| v.as_u64()));
                if count == Some(6) {
                    break;
                }
                let _ = joins.recv().await;
            }
        },
    )
    .await;
    let _ = within("client close", client.close()).await;
    let status = run.stop().await;
    assert!(status.success(), "{status}\n{:?}", run.err.all());
    let err = &run.err;
    let sprayer = err.position("sprayer stopped (exit status: 0)").unwrap();
    for other in ["gnss", "map", "dose"] {
        let at = err
            .position(&format!("{other} stopped (exit status: 0)"))
            .unwrap_or_else(|| panic!("{other} stopped: {:?}", err.all()));
        assert!(sprayer < at, "{:?}", err.all());
    }
    assert!(
        board.outputs().sections().iter().all(|s| !s.is_open()),
        "valves closed: {:?}",
        board.outputs()
    );
}

#[test]
fn the_systemd_unit_is_valid() {
    let unit = project_root().join("deploy/verger.service");
    let text = std::fs::read_to_string(&unit).unwrap();
    let keys = unit_keys(&text);
    for (key, value) in [
        (
            "Service.ExecStart",
            "/usr/local/bin/verger run --config /etc/verger/verger.toml",
        ),
        ("Service.User", "verger"),
        ("Service.SupplementaryGroups", "dialout"),
        ("Service.StateDirectory", "verger"),
        ("Service.RuntimeDirectory", "verger"),
        ("Service.Restart", "on-failure"),
        ("Service.KillMode", "mixed"),
        ("Install.WantedBy", "multi-user.target"),
    ] {
        assert_eq!(keys.get(key).map(String::as_str), Some(value), "{key}");
    }
    let Ok(probe) = std::process::Command::new("systemd-analyze")
        .arg("--version")
        .output()
    else {
        eprintln!("systemd-analyze is not installed: the unit's keys were checked, not the unit");
        return;
    };
    assert!(probe.status.success());
    // Verified with this checkout's verger in place of the installed one.
    let dir = TempDir::new("unit");
    let copy = dir.path("verger.service");
    std::fs::write(&copy, text.replace("/usr/local/bin/verger", VERGER)).unwrap();
    let out = std::process::Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&copy)
        .output()
        .unwrap();
    let said =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    let about_the_unit: Vec<&str> = said
        .lines()
        .filter(|l| l.contains("verger.service"))
        .collect();
    assert!(about_the_unit.is_empty() && out.status.success(), "{said}");
}

/// `Section.Key` → value of a unit file (the last one set wins).
fn unit_keys(text: &str) -> std::collections::BTreeMap<String, String> {
    let mut section = String::new();
    let mut keys = std::collections::BTreeMap::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_owned();
        } else if let Some((k, v)) = line.split_once('=') {
            keys.insert(format!("{section}.{}", k.trim()), v.trim().to_owned());
        }
    }
    keys
}
