//! Interop with real Autobahn peers: `verger router` must serve Autobahn|Python and
//! Autobahn|JS components exactly as Crossbar.io does, so that a farmer can replace any
//! verger component with one written in Python or JavaScript.
//!
//! Each test starts the real router binary on `127.0.0.1:0`, then runs cases: one or
//! two *responders* (callee + subscriber) and one *initiator* (caller + publisher),
//! each a peer program from `tests/interop/{py,js}` (see `tests/interop/README.md`).
//! The peers check what they receive themselves, and this file checks it again from the
//! JSON lines they print, so a wrong value fails the test even if a peer is too lenient.
//!
//! The peers need `scripts/setup-test-deps` (a `.venv` with Autobahn|Python and
//! `tests/interop/js/node_modules`); without them these tests fail, they never skip.
//!
//! `VERGER_INTEROP_ROUTER=ws://HOST:PORT/PATH` runs the same cases against a router
//! that is already running (e.g. Crossbar.io with realms `interop1`..`interop64`), to
//! tell a router bug from a peer bug.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use verger_testkit::autobahn;

/// Realms every router under test serves; each case takes the next one so that
/// concurrent cases never see each other's registrations.
const REALMS: usize = 64;
/// Seconds a peer may run before it gives up by itself (`--timeout`).
const PEER_TIMEOUT: u64 = 30;
/// How long we wait for a responder's `ready` line, and for a peer to exit.
const READY_DEADLINE: Duration = Duration::from_secs(30);
const EXIT_DEADLINE: Duration = Duration::from_secs(40);
/// Cases run at once within one test (the machine has few cores).
const PARALLEL_CASES: usize = 3;

const DEFAULT_SCENARIOS: &[&str] = &["rpc", "echo", "error", "progress", "pubsub", "patterns"];

// ---------------------------------------------------------------------------------
// Child processes
// ---------------------------------------------------------------------------------

/// A child process that is killed (and reaped) when dropped, with its stdout lines
/// arriving on a channel and its stderr collected in the background.
struct ChildGuard {
    name: String,
    child: Child,
    lines: Receiver<String>,
    stdout_seen: Vec<String>,
    stderr: Arc<Mutex<String>>,
}

impl ChildGuard {
    fn spawn(name: String, mut command: Command) -> Result<ChildGuard, String> {
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .map_err(|e| format!("{name}: cannot start {command:?}: {e}"))?;
        let lines = line_channel(child.stdout.take().expect("piped stdout"));
        let stderr = Arc::new(Mutex::new(String::new()));
        let pipe = child.stderr.take().expect("piped stderr");
        let sink = Arc::clone(&stderr);
        thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                let mut text = sink.lock().unwrap();
                text.push_str(&line);
                text.push('\n');
            }
        });
        Ok(ChildGuard {
            name,
            child,
            lines,
            stdout_seen: Vec::new(),
            stderr,
        })
    }

    /// The next stdout line, or `None` at EOF or when `deadline` passes.
    fn next_line(&mut self, deadline: Instant) -> Option<String> {
        let left = deadline.saturating_duration_since(Instant::now());
        match self.lines.recv_timeout(left) {
            Ok(line) => {
                self.stdout_seen.push(line.clone());
                Some(line)
            }
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => None,
        }
    }

    /// Waits for the process to exit (killing it after `deadline`) and returns its
    /// exit code, or an error with everything it printed.
    fn wait(&mut self, deadline: Instant) -> Result<i32, String> {
        while self.next_line(deadline).is_some() {}
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return Ok(status.code().unwrap_or(-1)),
                Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(10)),
                Ok(None) => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    return Err(self.failure("did not exit in time; killed"));
                }
                Err(e) => return Err(self.failure(&format!("wait failed: {e}"))),
            }
        }
    }

    /// A failure message with the process's whole output. A peer that is failing
    /// gets a moment to finish printing why before it is killed.
    fn failure(&mut self, what: &str) -> String {
        let grace = Instant::now() + Duration::from_secs(2);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < grace {
            thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Let the reader threads drain the closed pipes.
        thread::sleep(Duration::from_millis(50));
        while let Ok(line) = self.lines.try_recv() {
            self.stdout_seen.push(line);
        }
        let stderr = self.stderr.lock().unwrap().clone();
        format!(
            "{}: {what}\n  --- stdout ---\n  {}\n  --- stderr ---\n  {}",
            self.name,
            self.stdout_seen.join("\n  "),
            stderr.trim_end().replace('\n', "\n  ")
        )
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn line_channel(stdout: ChildStdout) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

// ---------------------------------------------------------------------------------
// The router
// ---------------------------------------------------------------------------------

/// The router under test: our binary (killed on drop), or an external one.
struct Router {
    ws_url: String,
    rs_url: String,
    /// In a mutex only so that case threads can share `&Router`.
    _process: Option<Mutex<ChildGuard>>,
}

impl Router {
    fn start() -> Router {
        if let Some(url) = external_router() {
            return Router {
                rs_url: rawsocket_url(&url),
                ws_url: url,
                _process: None,
            };
        }
        let mut command = Command::new(env!("CARGO_BIN_EXE_verger"));
        command.args(["router", "--listen", "127.0.0.1:0"]);
        for n in 1..=REALMS {
            command.args(["--realm", &format!("interop{n}")]);
        }
        command.env("RUST_LOG", "warn");
        let mut process =
            ChildGuard::spawn("verger router".into(), command).unwrap_or_else(|e| panic!("{e}"));
        let banner = process
            .next_line(Instant::now() + Duration::from_secs(20))
            .unwrap_or_else(|| panic!("{}", process.failure("printed no banner line")));
        let ws_url = banner
            .split_whitespace()
            .find(|w| w.starts_with("ws://"))
            .unwrap_or_else(|| panic!("no ws:// URL in router banner {banner:?}"))
            .to_owned();
        Router {
            rs_url: rawsocket_url(&ws_url),
            ws_url,
            _process: Some(Mutex::new(process)),
        }
    }
}

impl Router {
    /// The router's state and the end of its log, for failure reports.
    fn diagnostics(&self) -> String {
        let Some(process) = &self._process else {
            return format!("external router {}", self.ws_url);
        };
        let mut process = process.lock().unwrap();
        let state = match process.child.try_wait() {
            Ok(Some(status)) => format!("verger router EXITED ({status})"),
            _ => "verger router still running".to_owned(),
        };
        let log = process.stderr.lock().unwrap().clone();
        let tail: Vec<&str> = log.lines().rev().take(40).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        format!(
            "{state}; last lines of its stderr:\n  {}",
            tail.join("\n  ")
        )
    }
}

/// `VERGER_INTEROP_ROUTER`: run against this router instead of starting ours.
fn external_router() -> Option<String> {
    std::env::var("VERGER_INTEROP_ROUTER").ok()
}

/// `ws://host:port/path` -> `rs://host:port` (RawSocket shares the TCP port).
fn rawsocket_url(ws_url: &str) -> String {
    let authority = ws_url
        .trim_start_matches("ws://")
        .split('/')
        .next()
        .unwrap_or_default();
    format!("rs://{authority}")
}

fn next_realm() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    assert!(n < REALMS, "more than {REALMS} interop cases: raise REALMS");
    format!("interop{}", n + 1)
}

// ---------------------------------------------------------------------------------
// Peers
// ---------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lang {
    Python,
    Js,
    /// `verger::client`, run in this process.
    Rust,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Transport {
    WebSocket,
    RawSocket,
}

/// One side of a case: which library, serializer and transport.
#[derive(Clone, Copy, Debug)]
struct Side {
    lang: Lang,
    serializer: &'static str,
    transport: Transport,
}

const fn ws(lang: Lang, serializer: &'static str) -> Side {
    Side {
        lang,
        serializer,
        transport: Transport::WebSocket,
    }
}

const fn rs(lang: Lang, serializer: &'static str) -> Side {
    Side {
        lang,
        serializer,
        transport: Transport::RawSocket,
    }
}

impl Side {
    fn label(&self) -> String {
        let lang = match self.lang {
            Lang::Python => "py",
            Lang::Js => "js",
            Lang::Rust => "rust",
        };
        let transport = match self.transport {
            Transport::WebSocket => "ws",
            Transport::RawSocket => "rs",
        };
        format!("{lang}/{transport}/{}", self.serializer)
    }

    /// The name the peer prints in its `peer` field (and publishes in `pubsub`).
    fn peer_name(&self) -> &'static str {
        match self.lang {
            Lang::Python => "python",
            Lang::Js => "javascript",
            Lang::Rust => "rust",
        }
    }
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Arguments for one peer besides the role-independent ones.
struct PeerArgs<'a> {
    side: Side,
    role: &'static str,
    realm: &'a str,
    scenarios: &'a [&'a str],
    id: Option<&'a str>,
}

fn spawn_peer(router: &Router, args: &PeerArgs<'_>) -> Result<ChildGuard, String> {
    let mut command = match args.side.lang {
        Lang::Python => {
            let mut c = Command::new(autobahn::python());
            c.arg(repo().join("tests/interop/py/peer.py"));
            c
        }
        Lang::Js => {
            let mut c = autobahn::node();
            c.arg(repo().join("tests/interop/js/peer.js"));
            c
        }
        Lang::Rust => unreachable!("the Rust client runs in-process"),
    };
    let url = match args.side.transport {
        Transport::WebSocket => &router.ws_url,
        Transport::RawSocket => &router.rs_url,
    };
    command
        .args(["--url", url, "--realm", args.realm])
        .args(["--serializer", args.side.serializer, "--role", args.role])
        .args(["--scenarios", &args.scenarios.join(",")])
        .args(["--timeout", &PEER_TIMEOUT.to_string()])
        .env_remove("AUTOBAHN_DEBUG")
        .env("PYTHONDONTWRITEBYTECODE", "1");
    if let Some(id) = args.id {
        command.args(["--id", id]);
    }
    let name = format!(
        "{} {} {}",
        args.side.label(),
        args.role,
        args.id.unwrap_or("")
    );
    ChildGuard::spawn(name.trim_end().to_owned(), command)
}

/// Waits until a responder prints `{"event": "ready"}`.
fn wait_ready(peer: &mut ChildGuard) -> Result<(), String> {
    let deadline = Instant::now() + READY_DEADLINE;
    while let Some(line) = peer.next_line(deadline) {
        if let Ok(v) = serde_json::from_str::<Value>(&line) {
            match v["event"].as_str() {
                Some("ready") => return Ok(()),
                Some("fail") => break,
                _ => {}
            }
        }
    }
    Err(peer.failure("never became ready"))
}

/// Waits for a peer to exit 0 after `{"event": "done"}`; returns its JSON lines.
fn finish(mut peer: ChildGuard) -> Result<Vec<Value>, String> {
    let code = peer.wait(Instant::now() + EXIT_DEADLINE)?;
    let lines: Vec<Value> = peer
        .stdout_seen
        .iter()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let done = lines.last().is_some_and(|v| v["event"] == "done");
    if code != 0 || !done {
        return Err(peer.failure(&format!("exited with {code}, last line not \"done\"")));
    }
    Ok(lines)
}

// ---------------------------------------------------------------------------------
// Cases
// ---------------------------------------------------------------------------------

struct Case {
    responders: Vec<(Side, Option<&'static str>)>,
    initiator: Side,
    scenarios: &'static [&'static str],
}

impl Case {
    fn pair(responder: Side, initiator: Side) -> Case {
        Case {
            responders: vec![(responder, None)],
            initiator,
            scenarios: DEFAULT_SCENARIOS,
        }
    }

    fn name(&self) -> String {
        let responders: Vec<String> = self
            .responders
            .iter()
            .map(|(side, id)| match id {
                Some(id) => format!("{}({id})", side.label()),
                None => side.label(),
            })
            .collect();
        format!(
            "{} -> {} [{}]",
            self.initiator.label(),
            responders.join(" + "),
            self.scenarios.join(",")
        )
    }
}

/// Observations of one case, by role.
struct Observed {
    initiator: Vec<Value>,
    responders: Vec<Vec<Value>>,
}

fn run_case(router: &Router, case: &Case) -> Result<Observed, String> {
    let realm = next_realm();
    let mut responders = Vec::new();
    for (side, id) in &case.responders {
        let args = PeerArgs {
            side: *side,
            role: "responder",
            realm: &realm,
            scenarios: case.scenarios,
            id: *id,
        };
        responders.push(Running::start(router, &args)?);
    }
    for peer in &mut responders {
        peer.wait_ready()?;
    }
    let args = PeerArgs {
        side: case.initiator,
        role: "initiator",
        realm: &realm,
        scenarios: case.scenarios,
        id: None,
    };
    let initiator = Running::start(router, &args)?.finish()?;
    let responders = responders
        .into_iter()
        .map(Running::finish)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Observed {
        initiator,
        responders,
    })
}

/// One side of a case while it runs: a peer process, or the Rust client on a thread.
enum Running {
    Process(ChildGuard),
    InProcess {
        name: String,
        ready: Receiver<Result<(), String>>,
        done: thread::JoinHandle<Result<Vec<Value>, String>>,
    },
}

impl Running {
    fn start(router: &Router, args: &PeerArgs<'_>) -> Result<Running, String> {
        if args.side.lang != Lang::Rust {
            return spawn_peer(router, args).map(Running::Process);
        }
        let spec = rust_peer::Spec {
            url: match args.side.transport {
                Transport::WebSocket => router.ws_url.clone(),
                Transport::RawSocket => router.rs_url.clone(),
            },
            realm: args.realm.to_owned(),
            serializer: args.side.serializer,
            scenarios: args.scenarios.iter().map(|s| s.to_string()).collect(),
            id: args.id.unwrap_or("rust").to_owned(),
        };
        let (ready_tx, ready) = mpsc::channel();
        let responder = args.role == "responder";
        let done = thread::spawn(move || {
            let outcome = rust_peer::run(spec, responder, &ready_tx);
            if let Err(e) = &outcome {
                let _ = ready_tx.send(Err(e.clone())); // in case it failed before ready
            }
            outcome
        });
        Ok(Running::InProcess {
            name: format!("{} {}", args.side.label(), args.role),
            ready,
            done,
        })
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        match self {
            Running::Process(peer) => wait_ready(peer),
            Running::InProcess { name, ready, .. } => match ready.recv_timeout(READY_DEADLINE) {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(format!("{name}: never became ready: {e}")),
                Err(_) => Err(format!("{name}: never became ready")),
            },
        }
    }

    fn finish(self) -> Result<Vec<Value>, String> {
        match self {
            Running::Process(peer) => finish(peer),
            Running::InProcess { name, done, .. } => match done.join() {
                Ok(Ok(lines)) => Ok(lines),
                Ok(Err(e)) => Err(format!("{name}: {e}")),
                Err(_) => Err(format!("{name}: panicked")),
            },
        }
    }
}

/// Runs the cases a few at a time against one router, checks each, and panics with
/// every failure at the end.
fn run_cases(cases: Vec<Case>, check: fn(&Case, &Observed) -> Result<(), String>) {
    autobahn::require_autobahn();
    let router = Router::start();
    let started = Instant::now();
    let queue = Mutex::new(cases.iter());
    let failures = Mutex::new(Vec::new());
    thread::scope(|s| {
        for _ in 0..PARALLEL_CASES {
            s.spawn(|| loop {
                let Some(case) = queue.lock().unwrap().next() else {
                    break;
                };
                let t = Instant::now();
                let outcome = run_case(&router, case).and_then(|obs| check(case, &obs));
                match outcome {
                    Ok(()) => eprintln!("ok   {} ({:.1}s)", case.name(), t.elapsed().as_secs_f64()),
                    Err(e) => {
                        eprintln!("FAIL {}", case.name());
                        failures
                            .lock()
                            .unwrap()
                            .push(format!("{}:\n{e}", case.name()));
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    eprintln!(
        "{} cases against {} in {:.1}s",
        cases.len(),
        router.ws_url,
        started.elapsed().as_secs_f64()
    );
    assert!(
        failures.is_empty(),
        "{} of {} interop cases failed:\n\n{}\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n"),
        router.diagnostics()
    );
}

// ---------------------------------------------------------------------------------
// Checks: the values every scenario must produce (independent of the peers' checks)
// ---------------------------------------------------------------------------------

/// The lines of one scenario step, e.g. ("rpc", "kiss").
fn steps<'a>(lines: &'a [Value], scenario: &str, step: &str) -> Vec<&'a Value> {
    lines
        .iter()
        .filter(|v| v["scenario"] == scenario && v["step"] == step)
        .collect()
}

fn one<'a>(lines: &'a [Value], scenario: &str, step: &str) -> Result<&'a Value, String> {
    match steps(lines, scenario, step).as_slice() {
        [v] => Ok(v),
        other => Err(format!(
            "expected one {scenario}/{step} line, got {}: {lines:#?}",
            other.len()
        )),
    }
}

fn same(what: &str, got: &Value, want: &Value) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!("{what}: got {got}, expected {want}"))
    }
}

fn echo_args() -> Value {
    json!([1, -2, 3.5, "élagage 🌳", true, false, null, [1, [2, []]], {"a": {"b": [], "c": {}}},
           9007199254740991_i64, -4294967296_i64])
}

fn echo_kwargs() -> Value {
    json!({"tree": {"row": 7, "ok": false}, "empty": "", "ratio": 0.25})
}

fn check_default(case: &Case, obs: &Observed) -> Result<(), String> {
    let init = &obs.initiator;
    let resp = &obs.responders[0];

    // rpc: the tutorial's com.example.move and com.example.kiss.
    let mv = one(init, "rpc", "move")?;
    same("move result args", &mv["args"], &json!(["Mouarfarfarf !"]))?;
    same(
        "move result kwargs",
        &mv["kwargs"],
        &json!({"x": 3, "y": 5, "z": 0, "mean": "roulades"}),
    )?;
    let mv = one(resp, "rpc", "move")?;
    same("move invocation args", &mv["args"], &json!([3, 5]))?;
    same(
        "move invocation kwargs",
        &mv["kwargs"],
        &json!({"mean": "roulades"}),
    )?;
    let kisses: Vec<(Value, Value)> = steps(init, "rpc", "kiss")
        .iter()
        .map(|v| (v["type"].clone(), v["result"].clone()))
        .collect();
    same(
        "kiss results",
        &json!(kisses),
        &json!([["baveux", false], ["tendre", true]]),
    )?;
    let kiss_kwargs: Vec<&Value> = steps(resp, "rpc", "kiss")
        .iter()
        .map(|v| &v["kwargs"])
        .collect();
    same(
        "kiss invocation kwargs",
        &json!(kiss_kwargs),
        &json!([{"type": "baveux"}, {"type": "tendre"}]),
    )?;

    // echo: every value type survives, whatever the two serializers.
    for (who, lines) in [("result", init), ("invocation", resp)] {
        let echo = one(lines, "echo", "echo")?;
        same(&format!("echo {who} args"), &echo["args"], &echo_args())?;
        same(
            &format!("echo {who} kwargs"),
            &echo["kwargs"],
            &echo_kwargs(),
        )?;
    }

    // error: application error with args/kwargs, and no_such_procedure.
    let fail = one(init, "error", "com.example.fail")?;
    same(
        "error uri",
        &fail["error"],
        &json!("com.example.error.baveux"),
    )?;
    same("error args", &fail["args"], &json!(["pas de bisou", 42]))?;
    same(
        "error kwargs",
        &fail["kwargs"],
        &json!({"reason": "baveux"}),
    )?;
    one(resp, "error", "fail")?;
    let nothing = one(init, "error", "com.example.nothing")?;
    same(
        "unknown procedure error",
        &nothing["error"],
        &json!("wamp.error.no_such_procedure"),
    )?;

    // progress: three progressive results in order, then the final one, from every
    // callee. Autobahn|JS does not announce call_canceling; the spec would have the
    // dealer disregard its progressive results, but verger forwards them as Crossbar
    // does (see docs/router.md, "Deviations"), so a JS component can stream too.
    let progress = one(init, "progress", "progress")?;
    let streamed = progress["kwargs"]["streamed"].clone();
    let callee = case.responders[0].0.lang;
    if streamed != true {
        return Err(format!(
            "{callee:?} callee streamed = {streamed}, expected true"
        ));
    }
    let updates: Vec<Value> = (1..=3)
        .filter(|_| streamed == true)
        .map(|i| json!({"args": [i], "kwargs": {"step": i}}))
        .collect();
    same(
        "progressive results",
        &progress["progress"],
        &json!(updates),
    )?;
    same("final result", &progress["args"], &json!(["done", 3]))?;
    same(
        "callee saw receive_progress",
        &one(resp, "progress", "progress")?["receive_progress"],
        &streamed,
    )?;

    // pubsub: the tutorial's com.example.message, published with acknowledge.
    same(
        "publication acknowledged",
        &one(init, "pubsub", "publish")?["acknowledged"],
        &json!(true),
    )?;
    let event = one(resp, "pubsub", "event")?;
    same(
        "event args",
        &event["args"],
        &json!([
            "Ouech les potos ! Bien ou bien ?",
            case.initiator.peer_name()
        ]),
    )?;
    // Autobahn|JS fills details.topic from the subscription when the router omits it.
    if !(event["topic"].is_null() || event["topic"] == "com.example.message") {
        return Err(format!("event topic {}", event["topic"]));
    }

    // patterns: prefix and wildcard subscriptions, with details.topic.
    let mut got: Vec<(String, String)> = steps(resp, "patterns", "event")
        .iter()
        .map(|v| {
            same("pattern event args", &v["args"], &json!([v["topic"]]))
                .map(|()| (v["match"].to_string(), v["topic"].to_string()))
        })
        .collect::<Result<_, _>>()?;
    got.sort();
    let mut want: Vec<(String, String)> = [
        ("prefix", "com.example.row.7"),
        ("prefix", "com.example.row.valve"),
        ("wildcard", "com.example.row.valve"),
        ("wildcard", "com.example.sprayer.valve"),
    ]
    .iter()
    .map(|(m, t)| (json!(m).to_string(), json!(t).to_string()))
    .collect();
    want.sort();
    if got != want {
        return Err(format!(
            "pattern events (match, details.topic): got {got:?}, expected {want:?}"
        ));
    }
    Ok(())
}

fn check_shared(case: &Case, obs: &Observed) -> Result<(), String> {
    let ids = one(&obs.initiator, "shared", "calls")?["ids"].clone();
    let ids: Vec<String> = serde_json::from_value(ids).map_err(|e| e.to_string())?;
    let callees: Vec<&str> = case.responders.iter().filter_map(|(_, id)| *id).collect();
    let alternating = ids.len() == 4
        && ids.iter().all(|id| callees.contains(&id.as_str()))
        && ids.windows(2).all(|w| w[0] != w[1]);
    if !alternating {
        return Err(format!(
            "round-robin calls went to {ids:?}, expected alternation of {callees:?}"
        ));
    }
    let mut per_callee = BTreeMap::new();
    for lines in &obs.responders {
        for v in steps(lines, "shared", "invocation") {
            *per_callee.entry(v["id"].to_string()).or_insert(0) += 1;
        }
    }
    if per_callee.len() != 2 || per_callee.values().any(|n| *n != 2) {
        return Err(format!(
            "invocations per callee: {per_callee:?}, expected 2 each"
        ));
    }
    Ok(())
}

/// Session testaments: the initiator (any library) adds one, flushes it, adds one per
/// scope and leaves; the responder gets the router's two publications in order
/// (`detached` first), and a later subscription with `get_retained` the retained one.
fn check_testament(case: &Case, obs: &Observed) -> Result<(), String> {
    let added = one(&obs.initiator, "testament", "added")?;
    same(
        "add_testament returned ids",
        &added["ids_are_ints"],
        &json!(true),
    )?;
    same("flush_testaments count", &added["flushed"], &json!(1))?;
    same(
        "an unknown scope is refused",
        &one(&obs.initiator, "testament", "bad scope")?["error"],
        &json!("wamp.error.invalid_argument"),
    )?;
    let peer = case.initiator.peer_name();
    let resp = &obs.responders[0];
    let events: Vec<Value> = steps(resp, "testament", "event")
        .iter()
        .map(|v| json!([v["args"], v["kwargs"], v["retained"]]))
        .collect();
    same(
        "testaments published when the initiator left",
        &json!(events),
        &json!([
            [["detached", peer], {"state": "detached"}, false],
            [["gone", peer], {"state": "gone"}, false]
        ]),
    )?;
    let retained = one(resp, "testament", "retained")?;
    same(
        "retained testament for a later subscriber",
        &json!([
            retained["args"],
            retained["kwargs"],
            retained["retained"],
            retained["topic"]
        ]),
        &json!([["gone", peer], {"state": "gone"}, true, "com.example.testament"]),
    )
}

// ---------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------

use Lang::{Js, Python, Rust};

/// Python callee <-> JS caller, JS callee <-> Python caller, Python <-> Python and
/// JS <-> JS, each over WebSocket with json, msgpack and cbor: the tutorial RPC and
/// PubSub, errors, progressive results, pattern subscriptions and an echo of every
/// value type.
#[test]
fn autobahn_peers_over_websocket_with_each_serializer() {
    let mut cases = Vec::new();
    for ser in ["json", "msgpack", "cbor"] {
        for (responder, initiator) in [(Python, Js), (Js, Python), (Python, Python), (Js, Js)] {
            cases.push(Case::pair(ws(responder, ser), ws(initiator, ser)));
        }
    }
    run_cases(cases, check_default);
}

/// Caller and callee (publisher and subscriber) on different serializers and
/// transports: the router must translate every value between them.
#[test]
fn autobahn_peers_across_serializers_and_rawsocket() {
    let cases = vec![
        Case::pair(ws(Python, "json"), ws(Js, "msgpack")),
        Case::pair(ws(Js, "cbor"), ws(Python, "json")),
        Case::pair(ws(Python, "msgpack"), ws(Python, "cbor")),
        // RawSocket: Autobahn|Python with each serializer; Autobahn|JS only has JSON.
        Case::pair(rs(Python, "json"), rs(Python, "json")),
        Case::pair(rs(Python, "msgpack"), rs(Python, "msgpack")),
        Case::pair(rs(Python, "cbor"), ws(Js, "cbor")),
        Case::pair(rs(Js, "json"), rs(Python, "cbor")),
        Case::pair(ws(Python, "msgpack"), rs(Js, "json")),
    ];
    run_cases(cases, check_default);
}

/// Shared registration with `invoke: roundrobin`: callees from two libraries register
/// the same procedure, and four calls alternate between them.
#[test]
fn shared_registration_round_robin_across_libraries() {
    let shared = |a: (Side, &'static str), b: (Side, &'static str), initiator: Side| Case {
        responders: vec![(a.0, Some(a.1)), (b.0, Some(b.1))],
        initiator,
        scenarios: &["shared"],
    };
    let (py, js, rust) = (
        (ws(Python, "json"), "py-callee"),
        (ws(Js, "msgpack"), "js-callee"),
        (ws(Rust, "cbor"), "rust-callee"),
    );
    run_cases(
        vec![
            shared(py, js, ws(Python, "cbor")),
            shared(py, js, ws(Js, "json")),
            shared(py, js, ws(Rust, "msgpack")),
            shared(rust, js, ws(Python, "msgpack")),
        ],
        check_shared,
    );
}

/// Session testaments (`wamp.session.add_testament`, `flush_testaments`): Autobahn
/// clients add them on our router, and what the router publishes for them when they
/// leave (retained if asked) reaches Autobahn|Python, Autobahn|JS and Rust subscribers;
/// the Rust client's own testaments (`Client::add_testament`) reach Autobahn ones.
#[test]
fn session_testaments_with_autobahn_peers() {
    let testament = |responder: Side, initiator: Side| Case {
        responders: vec![(responder, None)],
        initiator,
        scenarios: &["testament"],
    };
    run_cases(
        vec![
            testament(ws(Python, "json"), ws(Js, "msgpack")),
            testament(ws(Js, "cbor"), ws(Python, "cbor")),
            testament(ws(Python, "msgpack"), ws(Python, "json")),
            testament(ws(Js, "json"), ws(Js, "json")),
            testament(ws(Python, "cbor"), ws(Rust, "msgpack")),
            testament(ws(Js, "msgpack"), ws(Rust, "json")),
            testament(ws(Rust, "cbor"), ws(Python, "msgpack")),
            testament(rs(Python, "json"), rs(Js, "json")),
        ],
        check_testament,
    );
}

/// `verger::client` with Autobahn on the other side, both ways: a Rust callee and
/// subscriber for Python and JS callers and publishers, and a Rust caller and publisher
/// for Python and JS callees and subscribers; over WebSocket with each serializer and
/// over RawSocket.
#[test]
fn rust_client_with_autobahn_peers() {
    let cases = vec![
        Case::pair(ws(Rust, "json"), ws(Python, "json")),
        Case::pair(ws(Rust, "msgpack"), ws(Js, "msgpack")),
        Case::pair(ws(Rust, "cbor"), ws(Js, "cbor")),
        Case::pair(ws(Rust, "cbor"), ws(Python, "msgpack")),
        Case::pair(ws(Python, "cbor"), ws(Rust, "cbor")),
        Case::pair(ws(Python, "json"), ws(Rust, "msgpack")),
        Case::pair(ws(Js, "json"), ws(Rust, "json")),
        Case::pair(ws(Js, "msgpack"), ws(Rust, "cbor")),
        Case::pair(rs(Rust, "msgpack"), rs(Python, "msgpack")),
        Case::pair(rs(Python, "cbor"), rs(Rust, "json")),
        Case::pair(rs(Js, "json"), rs(Rust, "msgpack")),
    ];
    run_cases(cases, check_default);
}

// ---------------------------------------------------------------------------------
// The Rust client as a peer: the same roles and scenarios as peer.py and peer.js, its
// observations in the same shape, so that the same checks apply.
// ---------------------------------------------------------------------------------

mod rust_peer {
    use std::collections::BTreeMap;
    use std::sync::mpsc::Sender;
    use std::time::Duration;

    use serde_json::{json, Value};
    use tokio::sync::mpsc;
    use verger::client::{
        CallError, CallOptions, Client, ClientConfig, InvocationError, InvokePolicy,
        PublishOptions, ReconnectPolicy, RegisterOptions, SubscribeOptions, Subscription,
        Testament, TestamentScope,
    };
    use verger::wamp::{serde_value, Dict, List, Payload, Serializer, Value as Wamp};
    use verger::{dict, list};

    use super::{echo_args, echo_kwargs, PEER_TIMEOUT};

    /// What to connect to and which scenarios to run.
    pub(super) struct Spec {
        pub(super) url: String,
        pub(super) realm: String,
        pub(super) serializer: &'static str,
        pub(super) scenarios: Vec<String>,
        /// Answer of the shared registration.
        pub(super) id: String,
    }

    impl Spec {
        fn has(&self, scenario: &str) -> bool {
            self.scenarios.iter().any(|s| s == scenario)
        }
    }

    const TESTAMENT_TOPIC: &str = "com.example.testament";

    const PATTERN_PUBLICATIONS: [&str; 4] = [
        "com.example.other.thing",
        "com.example.row.7",
        "com.example.sprayer.valve",
        "com.example.row.valve",
    ];

    /// Runs one role to the end on its own runtime; `ready` is told once a responder
    /// has registered and subscribed everything.
    pub(super) fn run(
        spec: Spec,
        responder: bool,
        ready: &Sender<Result<(), String>>,
    ) -> Result<Vec<Value>, String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        runtime.block_on(async {
            let work = async {
                let mut config = ClientConfig::new(spec.url.clone(), spec.realm.clone());
                config.serializers = vec![serializer(spec.serializer)];
                config.reconnect = ReconnectPolicy {
                    enabled: false,
                    ..ReconnectPolicy::default()
                };
                config.startup_timeout = Duration::from_secs(10);
                let client = Client::connect(config)
                    .await
                    .map_err(|e| format!("cannot join {} on {}: {e}", spec.realm, spec.url))?;
                let lines = if responder {
                    respond(&client, &spec, ready).await
                } else {
                    initiate(&client, &spec).await
                };
                client.close().await.map_err(|e| e.to_string())?;
                lines
            };
            tokio::time::timeout(Duration::from_secs(PEER_TIMEOUT), work)
                .await
                .unwrap_or_else(|_| Err(format!("timed out after {PEER_TIMEOUT}s")))
        })
    }

    fn serializer(name: &str) -> Serializer {
        match name {
            "json" => Serializer::Json,
            "msgpack" => Serializer::MsgPack,
            "cbor" => Serializer::Cbor,
            other => panic!("unknown serializer {other}"),
        }
    }

    fn to_json<T: serde::Serialize>(value: &T) -> Value {
        serde_json::to_value(value).expect("WAMP values convert to JSON")
    }

    fn from_json(value: &Value) -> Wamp {
        serde_value::to_value(value).expect("JSON values convert to WAMP")
    }

    fn line(role: &str, mut fields: Value) -> Value {
        fields["peer"] = json!("rust");
        fields["role"] = json!(role);
        fields
    }

    // ------------------------------------------------------------------ responder

    /// An observation, and which expectation it counts against.
    type Seen = (&'static str, Value);

    async fn respond(
        client: &Client,
        spec: &Spec,
        ready: &Sender<Result<(), String>>,
    ) -> Result<Vec<Value>, String> {
        let (tx, mut rx) = mpsc::unbounded_channel::<Seen>();
        let mut expected: BTreeMap<&str, usize> = BTreeMap::new();
        let mut registrations = Vec::new();
        let mut subscriptions = Vec::new();
        let failed = |what: &str, e: &dyn std::fmt::Display| format!("{what}: {e}");

        if spec.has("rpc") {
            let t = tx.clone();
            registrations.push(
                client
                    .register("com.example.move", RegisterOptions::default(), move |inv| {
                        let t = t.clone();
                        async move {
                            // The tutorial's proc(x, y, z=0, mean=None).
                            let arg = |i: usize, name: &str, default: Wamp| {
                                inv.args
                                    .get(i)
                                    .or_else(|| inv.kwargs.get(name))
                                    .cloned()
                                    .unwrap_or(default)
                            };
                            let (x, y) = (arg(0, "x", Wamp::Null), arg(1, "y", Wamp::Null));
                            let z = arg(2, "z", Wamp::from(0));
                            let mean = inv.kwargs.get("mean").cloned().unwrap_or(Wamp::Null);
                            let seen = json!({"scenario": "rpc", "step": "move",
                                "args": [to_json(&x), to_json(&y)],
                                "kwargs": {"mean": to_json(&mean)}, "z": to_json(&z)});
                            let _ = t.send(("move", seen));
                            Ok(Payload::new(
                                list!["Mouarfarfarf !"],
                                dict! {"x" => x, "y" => y, "z" => z, "mean" => mean},
                            ))
                        }
                    })
                    .await
                    .map_err(|e| failed("register move", &e))?,
            );
            let t = tx.clone();
            registrations.push(
                client
                    .register("com.example.kiss", RegisterOptions::default(), move |inv| {
                        let t = t.clone();
                        async move {
                            let seen = json!({"scenario": "rpc", "step": "kiss",
                                "args": to_json(&inv.args), "kwargs": to_json(&inv.kwargs)});
                            let _ = t.send(("kiss", seen));
                            let baveux = inv.kwargs.get("type") == Some(&Wamp::from("baveux"));
                            Ok(Payload::args(list![!baveux]))
                        }
                    })
                    .await
                    .map_err(|e| failed("register kiss", &e))?,
            );
            expected.insert("move", 1);
            expected.insert("kiss", 2);
        }
        if spec.has("echo") {
            let t = tx.clone();
            registrations.push(
                client
                    .register("com.example.echo", RegisterOptions::default(), move |inv| {
                        let t = t.clone();
                        async move {
                            let seen = json!({"scenario": "echo", "step": "echo",
                                "args": to_json(&inv.args), "kwargs": to_json(&inv.kwargs)});
                            let _ = t.send(("echo", seen));
                            Ok(Payload::new(inv.args, inv.kwargs))
                        }
                    })
                    .await
                    .map_err(|e| failed("register echo", &e))?,
            );
            expected.insert("echo", 1);
        }
        if spec.has("error") {
            let t = tx.clone();
            registrations.push(
                client
                    .register(
                        "com.example.fail",
                        RegisterOptions::default(),
                        move |_inv| {
                            let t = t.clone();
                            async move {
                                let _ =
                                    t.send(("fail", json!({"scenario": "error", "step": "fail"})));
                                Err(InvocationError::new("com.example.error.baveux")
                                    .with_args(list!["pas de bisou", 42])
                                    .with_kwargs(dict! {"reason" => "baveux"}))
                            }
                        },
                    )
                    .await
                    .map_err(|e| failed("register fail", &e))?,
            );
            expected.insert("fail", 1);
        }
        if spec.has("progress") {
            let t = tx.clone();
            registrations.push(
                client
                    .register(
                        "com.example.progress",
                        RegisterOptions::default(),
                        move |inv| {
                            let t = t.clone();
                            async move {
                                let n = inv.args.first().and_then(Wamp::as_u64).unwrap_or(0);
                                let streamed = inv.progress.is_some();
                                if let Some(progress) = &inv.progress {
                                    for i in 1..=n {
                                        progress
                                            .send(Payload::new(list![i], dict! {"step" => i}))
                                            .await
                                            .map_err(|e| InvocationError::new(e.to_string()))?;
                                        tokio::time::sleep(Duration::from_millis(10)).await;
                                    }
                                }
                                let seen = json!({"scenario": "progress", "step": "progress",
                                "args": [n], "receive_progress": streamed});
                                let _ = t.send(("progress", seen));
                                Ok(Payload::new(
                                    list!["done", n],
                                    dict! {"streamed" => streamed},
                                ))
                            }
                        },
                    )
                    .await
                    .map_err(|e| failed("register progress", &e))?,
            );
            expected.insert("progress", 1);
        }
        if spec.has("shared") {
            let t = tx.clone();
            let id = spec.id.clone();
            let options = RegisterOptions::shared(InvokePolicy::RoundRobin);
            registrations.push(
                client
                    .register("com.example.shared", options, move |_inv| {
                        let (t, id) = (t.clone(), id.clone());
                        async move {
                            let seen =
                                json!({"scenario": "shared", "step": "invocation", "id": id});
                            let _ = t.send(("shared", seen));
                            Ok(Payload::args(list![id]))
                        }
                    })
                    .await
                    .map_err(|e| failed("register shared", &e))?,
            );
            expected.insert("shared", 2);
        }
        if spec.has("pubsub") {
            let sub = client
                .subscribe("com.example.message", SubscribeOptions::default())
                .await
                .map_err(|e| failed("subscribe", &e))?;
            subscriptions.push(forward_events(sub, None, tx.clone()));
            expected.insert("message", 1);
        }
        if spec.has("patterns") {
            for (topic, options, name) in [
                ("com.example.row.", SubscribeOptions::prefix(), "prefix"),
                (
                    "com.example..valve",
                    SubscribeOptions::wildcard(),
                    "wildcard",
                ),
            ] {
                let sub = client
                    .subscribe(topic, options)
                    .await
                    .map_err(|e| failed("subscribe", &e))?;
                subscriptions.push(forward_events(sub, Some(name), tx.clone()));
            }
            expected.insert("pattern", 4);
        }
        if spec.has("testament") {
            let mut sub = client
                .subscribe(TESTAMENT_TOPIC, SubscribeOptions::default())
                .await
                .map_err(|e| failed("subscribe", &e))?;
            let t = tx.clone();
            subscriptions.push(tokio::spawn(async move {
                while let Some(e) = sub.recv().await {
                    let seen = json!({"scenario": "testament", "step": "event",
                        "args": to_json(&e.args), "kwargs": to_json(&e.kwargs),
                        "retained": e.is_retained()});
                    if t.send(("testament", seen)).is_err() {
                        break;
                    }
                }
            }));
            expected.insert("testament", 2);
        }
        drop(tx);

        let mut lines = vec![line("responder", json!({"event": "ready"}))];
        let _ = ready.send(Ok(()));
        while expected.values().any(|n| *n > 0) {
            let Some((key, seen)) = rx.recv().await else {
                return Err("handlers and subscriptions ended early".into());
            };
            lines.push(line("responder", seen.clone()));
            match expected.get_mut(key) {
                Some(n) if *n > 0 => *n -= 1,
                _ => return Err(format!("unexpected {key}: {seen}")),
            }
        }
        if spec.has("testament") {
            // A late subscriber gets the retained testament.
            let options = SubscribeOptions {
                get_retained: true,
                ..SubscribeOptions::prefix()
            };
            let mut sub = client
                .subscribe(TESTAMENT_TOPIC, options)
                .await
                .map_err(|e| failed("subscribe", &e))?;
            let e = sub.recv().await.ok_or("the retained subscription ended")?;
            lines.push(line(
                "responder",
                json!({"scenario": "testament", "step": "retained",
                    "args": to_json(&e.args), "kwargs": to_json(&e.kwargs),
                    "retained": e.is_retained(), "topic": e.topic}),
            ));
        }
        // Let the last YIELD leave before GOODBYE.
        tokio::time::sleep(Duration::from_millis(100)).await;
        for task in subscriptions {
            task.abort();
        }
        drop(registrations);
        lines.push(line("responder", json!({"event": "done"})));
        Ok(lines)
    }

    fn forward_events(
        mut sub: Subscription,
        pattern: Option<&'static str>,
        tx: mpsc::UnboundedSender<Seen>,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            while let Some(event) = sub.recv().await {
                let seen = match pattern {
                    None => (
                        "message",
                        json!({"scenario": "pubsub", "step": "event",
                        "topic": event.topic, "args": to_json(&event.args)}),
                    ),
                    Some(policy) => (
                        "pattern",
                        json!({"scenario": "patterns", "step": "event",
                        "match": policy, "topic": event.topic, "args": to_json(&event.args)}),
                    ),
                };
                if tx.send(seen).is_err() {
                    break;
                }
            }
        })
    }

    // ------------------------------------------------------------------ initiator

    async fn initiate(client: &Client, spec: &Spec) -> Result<Vec<Value>, String> {
        let mut lines = Vec::new();
        let mut obs = |fields: Value| lines.push(line("initiator", fields));
        let call = |procedure: &'static str, args: List, kwargs: Dict| async move {
            client
                .call(procedure, args, kwargs)
                .await
                .map_err(|e| format!("{procedure}: {e}"))
        };

        if spec.has("rpc") {
            let res = call(
                "com.example.move",
                list![3, 5],
                dict! {"mean" => "roulades"},
            )
            .await?;
            obs(json!({"scenario": "rpc", "step": "move",
                "args": to_json(&res.args), "kwargs": to_json(&res.kwargs)}));
            for kind in ["baveux", "tendre"] {
                let res = call("com.example.kiss", list![], dict! {"type" => kind}).await?;
                obs(json!({"scenario": "rpc", "step": "kiss", "type": kind,
                    "result": to_json(&res.first().cloned().unwrap_or_default())}));
            }
        }
        if spec.has("echo") {
            let (Wamp::List(args), Wamp::Dict(kwargs)) =
                (from_json(&echo_args()), from_json(&echo_kwargs()))
            else {
                return Err("echo payload is not a list and a dict".into());
            };
            let res = call("com.example.echo", args, kwargs).await?;
            obs(json!({"scenario": "echo", "step": "echo",
                "args": to_json(&res.args), "kwargs": to_json(&res.kwargs)}));
        }
        if spec.has("error") {
            for procedure in ["com.example.fail", "com.example.nothing"] {
                match client.call(procedure, list![], Dict::new()).await {
                    Ok(res) => {
                        return Err(format!("{procedure} returned {res:?} instead of failing"))
                    }
                    Err(CallError::Application {
                        error,
                        args,
                        kwargs,
                    }) => {
                        obs(
                            json!({"scenario": "error", "step": procedure, "error": error,
                            "args": to_json(&args), "kwargs": to_json(&kwargs)}),
                        );
                    }
                    Err(e @ CallError::NoSuchProcedure(_)) => {
                        obs(json!({"scenario": "error", "step": procedure,
                            "error": e.error_uri(), "args": [], "kwargs": {}}));
                    }
                    Err(e) => return Err(format!("{procedure}: {e}")),
                }
            }
        }
        if spec.has("progress") {
            let mut pending = client
                .call_progressive(
                    "com.example.progress",
                    Payload::args(list![3]),
                    CallOptions::default(),
                )
                .await
                .map_err(|e| format!("progress: {e}"))?;
            let mut progress = Vec::new();
            while let Some(update) = pending.next_progress().await {
                progress.push(json!({
                    "args": to_json(&update.args.unwrap_or_default()),
                    "kwargs": to_json(&update.kwargs.unwrap_or_default()),
                }));
            }
            let res = pending
                .result()
                .await
                .map_err(|e| format!("progress: {e}"))?;
            obs(
                json!({"scenario": "progress", "step": "progress", "progress": progress,
                "args": to_json(&res.args), "kwargs": to_json(&res.kwargs)}),
            );
        }
        if spec.has("pubsub") {
            let id = client
                .publish(
                    "com.example.message",
                    Payload::args(list!["Ouech les potos ! Bien ou bien ?", "rust"]),
                    PublishOptions::acknowledged(),
                )
                .await
                .map_err(|e| format!("publish: {e}"))?;
            obs(json!({"scenario": "pubsub", "step": "publish",
                "acknowledged": id.is_some_and(|id| id > 0)}));
        }
        if spec.has("patterns") {
            for topic in PATTERN_PUBLICATIONS {
                client
                    .publish(
                        topic,
                        Payload::args(list![topic]),
                        PublishOptions::acknowledged(),
                    )
                    .await
                    .map_err(|e| format!("publish {topic}: {e}"))?;
            }
            obs(json!({"scenario": "patterns", "step": "publish", "topics": PATTERN_PUBLICATIONS}));
        }
        if spec.has("testament") {
            // One added and flushed again by raw meta calls, then one per scope through
            // the client's own testament API; the router publishes those two when the
            // client says GOODBYE.
            let first = call(
                "wamp.session.add_testament",
                list![TESTAMENT_TOPIC, list!["flushed", "rust"], Dict::new()],
                Dict::new(),
            )
            .await?;
            let flushed = call(
                "wamp.session.flush_testaments",
                list![],
                dict! {"scope" => "destroyed"},
            )
            .await?;
            let retain = PublishOptions {
                retain: true,
                ..PublishOptions::default()
            };
            for (what, options, scope) in [
                ("gone", retain, TestamentScope::Destroyed),
                (
                    "detached",
                    PublishOptions::default(),
                    TestamentScope::Detached,
                ),
            ] {
                let testament = Testament {
                    topic: TESTAMENT_TOPIC.to_owned(),
                    payload: Payload::new(list![what, "rust"], dict! {"state" => what}),
                    options,
                    scope,
                };
                client
                    .add_testament(testament)
                    .await
                    .map_err(|e| format!("add_testament {what}: {e}"))?;
            }
            obs(json!({"scenario": "testament", "step": "added",
                "ids_are_ints": first.first().and_then(Wamp::as_u64).is_some(),
                "flushed": to_json(&flushed.first().cloned().unwrap_or_default())}));
            match client
                .call(
                    "wamp.session.add_testament",
                    list![TESTAMENT_TOPIC],
                    dict! {"scope" => "forever"},
                )
                .await
            {
                Err(e) => obs(json!({"scenario": "testament", "step": "bad scope",
                    "error": e.error_uri()})),
                Ok(res) => return Err(format!("scope 'forever' accepted: {res:?}")),
            }
        }
        if spec.has("shared") {
            let mut ids = Vec::new();
            for _ in 0..4 {
                let res = call("com.example.shared", list![], Dict::new()).await?;
                ids.push(to_json(&res.first().cloned().unwrap_or_default()));
            }
            obs(json!({"scenario": "shared", "step": "calls", "ids": ids}));
        }
        obs(json!({"event": "done"}));
        Ok(lines)
    }
}

// ---------------------------------------------------------------------------------
// Payload transparency: what only CBOR carries reaches CBOR peers unchanged
// ---------------------------------------------------------------------------------

/// The `bigint` scenario's arguments as the peers print them (`describe` in
/// `peer.js` and `peer.py`): 2^64, 2^128 - 1 and -2^64 - 1 (CBOR bignums), and a
/// `Uint16Array [1, 2, 65535]` (CBOR tag 69, little-endian bytes).
fn big_args() -> Value {
    json!([
        {"$bigint": "18446744073709551616"},
        {"$bigint": "340282366920938463463374607431768211455"},
        {"$bigint": "-18446744073709551617"},
        {"$tag": 69, "$bytes": "AQACAP//"},
    ])
}

fn big_kwargs() -> Value {
    json!({"id": {"$bigint": "1267650600228229401496703205376"}})
}

fn check_bigint(_case: &Case, obs: &Observed) -> Result<(), String> {
    let result = one(&obs.initiator, "bigint", "result")?;
    same("bigecho result args", &result["args"], &big_args())?;
    same("bigecho result kwargs", &result["kwargs"], &big_kwargs())?;
    one(&obs.initiator, "bigint", "publish")?;
    for step in ["invocation", "event"] {
        let seen = one(&obs.responders[0], "bigint", step)?;
        same(&format!("{step} args"), &seen["args"], &big_args())?;
        same(&format!("{step} kwargs"), &seen["kwargs"], &big_kwargs())?;
    }
    Ok(())
}

/// Autobahn|JS calling and publishing with BigInts and a typed array over CBOR (what
/// used to get the session ABORTed): a JS or Python callee and subscriber gets them
/// intact, and the echoed result comes back as BigInts.
#[test]
fn autobahn_bigints_and_typed_arrays_over_cbor_arrive_intact() {
    let bigint = |responder: Side, initiator: Side| Case {
        responders: vec![(responder, None)],
        initiator,
        scenarios: &["bigint"],
    };
    run_cases(
        vec![
            bigint(ws(Js, "cbor"), ws(Js, "cbor")),
            bigint(ws(Python, "cbor"), ws(Js, "cbor")),
            bigint(rs(Python, "cbor"), ws(Js, "cbor")),
            bigint(ws(Js, "cbor"), ws(Python, "cbor")),
        ],
        check_bigint,
    );
}
