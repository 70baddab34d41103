//! Every command the documentation gives is run for real, so a documented command that
//! no longer works fails the test suite.
//!
//! The commands are the lines of the fenced `sh` (also `bash`, `shell`) blocks of
//! `README.md` and `docs/*.md`, and the `//! $ COMMAND` lines of every
//! `examples/*.rs`. A trailing `&` and `# comments` are removed. Each command must match
//! one rule below; it then runs with these substitutions, so that it needs no hardware,
//! no fixed port and no system folder:
//!
//! | in the docs | in this test |
//! |---|---|
//! | `verger ARGS`, `cargo run [--release] -- ARGS` | the `verger` binary of this build (`CARGO_BIN_EXE_verger`, debug) |
//! | `verger-gnss`, `verger-map`, ... (a package under `components/`) | the binary of that name next to it (missing: build the workspace first) |
//! | `cargo run --example NAME -- ARGS` | `target/debug/examples/NAME` (built by `cargo test --workspace` or `cargo build --examples`) |
//! | `cargo bench [-p PKG] --bench NAME ...` | not run (benchmarks are never run by tests): the bench must exist in PKG's `Cargo.toml` |
//! | `scripts/test` | not run (it is the suite this test is part of): the script must exist |
//! | `verger sim ARGS`, `cargo build --release --workspace && target/release/verger sim` | not run here (`sim/tests/sim_run.rs` runs whole simulations on small orchards): every flag must be one `verger-sim --help` lists |
//! | `python3 examples/...`, `node [FLAGS] examples/...` (a farmer's module) | not run here (`tests/examples_dose.rs` runs them against a router and a stand-in sprayer): the file must exist |
//! | `verger router` without `--listen` (the default and `router.toml` say 127.0.0.1:8080) | `--listen 127.0.0.1:0` appended |
//! | `--listen 127.0.0.1:8080`, `--listen 0.0.0.0:8080` | `--listen 127.0.0.1:0` |
//! | `ws://127.0.0.1:8080/ws` | the URL of a router the test starts on 127.0.0.1:0 |
//! | a component without `--router` (it would use `ws://127.0.0.1:8080/ws`) | `VERGER_ROUTER` = that router's URL |
//! | `/dev/ttyUSB0` | a pty (`verger_testkit::Pty`) linked in a temp folder, fed with the epochs of `gpsd__nmea-rtk.log` every 50 ms |
//! | `--tcp HOST:PORT` | a TCP server on 127.0.0.1:0 sending the same epochs |
//! | `--udp ADDR` | a free UDP port on 127.0.0.1, sent the same epochs as datagrams |
//! | `some-program \| COMMAND` | COMMAND with the whole capture on its stdin |
//! | `--out track.nmea` | a fresh file in a temp folder |
//! | `--file track.nmea` | the recording made by the first documented `verger record` (so every `verger record` runs first) |
//! | `gpsd.log` | a temp file with the first 30 lines of the capture (plain NMEA: about a second at 20 lines/s) |
//! | `router.toml` | the repository's `router.toml` |
//! | `/run/verger/router.sock` | a socket path in a temp folder |
//! | `--db orchard.db` (`verger map`) | a map file in a temp folder, one per documentation file (its commands run in order on it) |
//! | `../shared/PATH` | that file of the shared data folder (`verger_testkit::shared`) |
//! | `trees.csv` | a temp file of a few trees in rows of the AGRIDS vineyard (`TREES_CSV`) |
//! | `--db records.db` (`verger records`) | a record database in a temp folder, made by `RecordDb` with the contract's example sprays |
//! | `--from TIME`, `--to TIME` (RFC 3339 UTC) | themselves |
//! | `--output FILE` (`verger map export`, `verger records export`) | a fresh file in a temp folder |
//!
//! What "works" means:
//!
//! - long-running commands are started, must show an observable sign that they work,
//!   then get SIGINT or SIGTERM (alternately) and must exit with status 0: the router
//!   prints its `listening on ws://...` line and a peer joins its first realm there (and
//!   on its Unix socket, if it has one); a GNSS component on a live source publishes a
//!   fix on the test router (another component: joins it); `verger record` on a live
//!   source writes records into its file;
//! - commands that end by themselves (`verger config check`, `verger map`,
//!   `verger records`, `--file` replays, a recording of stdin, the examples) must exit
//!   with status 0 within [`verger_testkit::STEP`]; a GNSS replay must have published a
//!   fix, a recording must hold records and an export's `--output` file must not be
//!   empty.
//!
//! A command no rule matches (an unknown program, subcommand, `cargo` use or pipeline),
//! or a fixed address, URL or path left without a substitution, fails the test naming
//! the file and line: a new documented command cannot go unchecked. Teach this file the
//! new case instead. Every await is bounded; no assertion depends on wall-clock speed.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::Signal;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, UdpSocket};
use tokio::process::Command;
use tokio::task::JoinHandle;
use verger::contract::gnss::FIX_TOPIC;
use verger::contract::sprayer::AppliedRecord;
use verger::contract::ContractPayload;
use verger::records::{NewRecord, RecordDb};
use verger::wamp::Serializer;
use verger_testkit::{
    connect, eventually, newest_mtime, next_event, nmea_capture, nmea_epochs, project_root,
    start_test_router, subscribe, within, Peer, Process, Pty, TempDir,
};

/// The capture every source of NMEA is fed from.
const CAPTURE: &str = "gpsd__nmea-rtk.log";
/// Lines of the capture in the `gpsd.log` stand-in.
const PLAIN_LOG_LINES: usize = 30;
/// Pace of the live sources (pty, TCP, UDP).
const FEED_PERIOD: Duration = Duration::from_millis(50);
/// Records a live `verger record` must have written before it is stopped (the replays
/// of its file then have several epochs).
const MIN_RECORDS: usize = 3;
/// The `trees.csv` of the docs: surveyed trees in rows `ba20` and `ba18` of the AGRIDS
/// vineyard (ids that the trees generated along its rows do not use).
const TREES_CSV: &str =
    "id,row,lat,lon,fruit_count,canopy_height_m,canopy_width_m,canopy_volume_m3,health\n\
    S-0001,ba20,51.5972,-0.97750,14,1.6,0.5,0.3,good\n\
    S-0002,ba20,51.59719,-0.97752,11,1.5,0.5,0.3,\n\
    S-0003,ba18,51.59722,-0.97761,,1.7,0.6,0.4,mildew\n";

// ---------------------------------------------------------------------------------------
// Where the commands are

/// One command as the docs give it.
#[derive(Clone, Debug)]
struct DocCommand {
    /// Relative to the repository root.
    file: String,
    line: usize,
    text: String,
}

impl fmt::Display for DocCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: `{}`", self.file, self.line, self.text)
    }
}

/// A line without its `# comment` and trailing `&`; `None` if nothing is left.
fn clean(line: &str) -> Option<String> {
    let mut end = line.len();
    let mut prev_space = true;
    for (i, c) in line.char_indices() {
        if c == '#' && prev_space {
            end = i;
            break;
        }
        prev_space = c.is_whitespace();
    }
    let text = line[..end].trim();
    let text = text.strip_suffix('&').unwrap_or(text).trim_end();
    (!text.is_empty()).then(|| text.to_owned())
}

/// The command lines of the fenced `sh`/`bash`/`shell` blocks of a Markdown file.
fn markdown_commands(file: &str, text: &str) -> Vec<DocCommand> {
    let mut commands = Vec::new();
    let mut in_block: Option<bool> = None; // Some(is a command block)
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if let Some(info) = trimmed.strip_prefix("```") {
            in_block = match in_block {
                Some(_) => None,
                None => {
                    let lang = info.split([',', ' ']).next().unwrap_or("");
                    Some(matches!(lang, "sh" | "bash" | "shell"))
                }
            };
            continue;
        }
        if in_block == Some(true) {
            if let Some(text) = clean(line) {
                commands.push(DocCommand {
                    file: file.to_owned(),
                    line: i + 1,
                    text,
                });
            }
        }
    }
    commands
}

/// The `//! $ COMMAND` lines of an example. An example without any, or that mentions
/// `cargo run` elsewhere in its docs, is an error: its instructions would go unchecked.
fn example_commands(file: &str, text: &str) -> Result<Vec<DocCommand>, String> {
    let mut commands = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let Some(doc) = line.strip_prefix("//!") else {
            continue;
        };
        let doc = doc.trim();
        if let Some(cmd) = doc.strip_prefix("$ ") {
            if let Some(text) = clean(cmd) {
                commands.push(DocCommand {
                    file: file.to_owned(),
                    line: i + 1,
                    text,
                });
            }
        } else if doc.contains("cargo run") {
            return Err(format!(
                "{file}:{}: a run instruction that is not a `//! $ COMMAND` line, so no test runs it",
                i + 1
            ));
        }
    }
    if commands.is_empty() {
        return Err(format!(
            "{file}: no `//! $ COMMAND` lines saying how to run the example"
        ));
    }
    Ok(commands)
}

/// Files of `dir` (relative to the root) ending in `ext`, sorted.
fn files_in(dir: &str, ext: &str) -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(project_root().join(dir))
        .unwrap_or_else(|e| panic!("cannot list {dir}: {e}"))
        .map(|entry| {
            entry
                .expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name.ends_with(ext))
        .map(|name| format!("{dir}/{name}"))
        .collect();
    files.sort();
    files
}

fn read(file: &str) -> String {
    std::fs::read_to_string(project_root().join(file))
        .unwrap_or_else(|e| panic!("cannot read {file}: {e}"))
}

/// Every documented command, in file order: `README.md`, `docs/*.md`, `examples/*.rs`.
fn all_commands() -> Result<Vec<DocCommand>, Vec<String>> {
    let mut commands = Vec::new();
    let mut errors = Vec::new();
    let mut markdown = vec!["README.md".to_owned()];
    markdown.extend(files_in("docs", ".md"));
    for file in markdown {
        commands.extend(markdown_commands(&file, &read(&file)));
    }
    for file in files_in("examples", ".rs") {
        match example_commands(&file, &read(&file)) {
            Ok(c) => commands.extend(c),
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(commands)
    } else {
        Err(errors)
    }
}

// ---------------------------------------------------------------------------------------
// Rules: what each command is and how it runs here (no I/O but reading Cargo.toml files)

#[derive(Clone, Debug, PartialEq)]
enum Program {
    Verger,
    /// A component binary (`verger-gnss`, ...).
    Component(String),
    Example(String),
}

/// An argument after substitution; everything but `Lit` is filled in when it runs.
#[derive(Clone, Debug, PartialEq)]
enum Arg {
    Lit(String),
    /// `127.0.0.1:0` for a router's `--listen`.
    ListenAnyPort,
    /// The test router's URL.
    RouterUrl,
    /// The pty link standing in for the serial device.
    Serial,
    /// The local TCP server's address.
    Tcp,
    /// The free local UDP address.
    Udp,
    /// A fresh file to record into.
    RecordOut,
    /// The recording of the first documented `verger record`.
    Recording,
    /// The plain NMEA log.
    PlainLog,
    /// The repository's `router.toml`.
    RouterToml,
    /// A socket path in the temp folder.
    UnixSocket,
    /// The map file of the documentation file named (`--db orchard.db`).
    MapDb(String),
    /// A file of the shared data folder (the path under `../shared/`).
    Shared(String),
    /// The `trees.csv` stand-in.
    TreesCsv,
    /// The record database (`--db records.db`).
    RecordDb,
    /// A fresh file for `--output` (`verger map export`, `verger records export`).
    Output,
}

/// How a command shows that it works.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    /// Ends by itself with status 0.
    Finite,
    /// `verger router`: its listening line, then a peer joins.
    Router,
    /// `verger record` on a live source: records in its file.
    Recorder,
    /// A component on a live source: a fix (GNSS) or its session on the test router.
    Component,
}

#[derive(Clone, Debug, PartialEq)]
struct Run {
    program: Program,
    args: Vec<Arg>,
    kind: Kind,
    /// The capture goes to stdin (`some-program | ...`).
    stdin: bool,
    /// `VERGER_ROUTER` is set to the test router (a component without `--router`).
    router_env: bool,
}

impl Run {
    fn has(&self, arg: &Arg) -> bool {
        self.args.contains(arg)
    }

    fn needs_router(&self) -> bool {
        self.router_env || self.has(&Arg::RouterUrl)
    }

    /// A GNSS component: it must publish fixes.
    fn publishes_fixes(&self) -> bool {
        self.program == Program::Component("verger-gnss".into())
    }

    fn is_record(&self) -> bool {
        self.program == Program::Verger
            && matches!(self.args.first(), Some(Arg::Lit(s)) if s == "record")
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Plan {
    Run(Run),
    /// Checked without running; the reason is the test's to say.
    Checked(&'static str),
}

/// Package names of `components/*` (the programs `verger-*` may name).
fn component_packages() -> Vec<String> {
    let mut names = Vec::new();
    for dir in files_in("components", "") {
        let manifest = project_root().join(&dir).join("Cargo.toml");
        if let Ok(text) = std::fs::read_to_string(&manifest) {
            let table: toml::Table = text.parse().expect("component Cargo.toml parses");
            if let Some(name) = table["package"]["name"].as_str() {
                names.push(name.to_owned());
            }
        }
    }
    names
}

/// Does package `package` (the root one if `None`) have a bench called `bench`?
fn bench_exists(package: Option<&str>, bench: &str) -> Result<(), String> {
    let root = project_root();
    let mut dirs = vec![root.clone(), root.join("sim")];
    dirs.extend(files_in("components", "").iter().map(|d| root.join(d)));
    for dir in dirs {
        let Ok(text) = std::fs::read_to_string(dir.join("Cargo.toml")) else {
            continue;
        };
        let table: toml::Table = text.parse().map_err(|e| format!("{e}"))?;
        let name = table
            .get("package")
            .and_then(|p| p.get("name"))
            .and_then(|n| n.as_str());
        if name != Some(package.unwrap_or("verger")) {
            continue;
        }
        let declared = table
            .get("bench")
            .and_then(|b| b.as_array())
            .is_some_and(|benches| {
                benches
                    .iter()
                    .any(|b| b.get("name").and_then(|n| n.as_str()) == Some(bench))
            });
        return if declared || dir.join("benches").join(format!("{bench}.rs")).is_file() {
            Ok(())
        } else {
            Err(format!(
                "package `{}` has no bench `{bench}`",
                package.unwrap_or("verger")
            ))
        };
    }
    Err(format!("no package `{}`", package.unwrap_or("verger")))
}

/// A literal that is an address, URL or path: it must have had a substitution.
fn looks_fixed(word: &str) -> bool {
    !word.starts_with("--")
        && word.parse::<f64>().is_err()
        && (word.contains('/') || word.contains(':') || word.contains('.'))
}

/// `verger sim ARGS` is not run here (a whole simulated system: `sim/tests/sim_run.rs`
/// runs it on small orchards); every flag it uses must be one of verger-sim's.
fn sim_flags_exist(args: &[&str]) -> Result<Plan, String> {
    let sim = verger_testkit::workspace_binary("verger-sim", &["sim/src", "src"]);
    let out = std::process::Command::new(&sim)
        .arg("--help")
        .output()
        .map_err(|e| format!("{}: {e}", sim.display()))?;
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in args.iter().filter(|a| a.starts_with("--")) {
        if !help.contains(&format!("{flag} ")) && !help.contains(&format!("{flag}\n")) {
            return Err(format!(
                "verger sim has no flag `{flag}` (`verger sim --help`)"
            ));
        }
    }
    Ok(Plan::Checked(
        "verger sim: its flags exist; sim/tests/sim_run.rs runs whole simulations",
    ))
}

/// The rule for `cmd`, or why there is none.
fn plan(cmd: &DocCommand) -> Result<Plan, String> {
    let (stdin, text) = match cmd.text.split_once(" | ") {
        None => (false, cmd.text.as_str()),
        // The docs' stand-in for "a program writing NMEA": the test writes the capture.
        Some(("some-program", rest)) => (true, rest),
        Some((left, _)) => return Err(format!("no rule for a pipeline from `{left}`")),
    };
    // The README's first command: build, then run the release build's `verger`.
    let built = text
        .strip_prefix("cargo build --release --workspace && target/release/")
        .map(str::to_owned);
    let text = built.as_deref().unwrap_or(text);
    if text.contains(['|', ';', '>', '<', '`', '$', '"', '\'']) || text.contains("&&") {
        return Err("no rule for this shell syntax".into());
    }
    let words: Vec<&str> = text.split_whitespace().collect();
    let (program, rest) = match words.as_slice() {
        ["verger", "sim", args @ ..] => return sim_flags_exist(args),
        ["scripts/test", ..] => {
            let script = project_root().join("scripts/test");
            return if script.is_file() {
                Ok(Plan::Checked(
                    "the suite itself (this test is part of it): not run",
                ))
            } else {
                Err("scripts/test does not exist".into())
            };
        }
        [interpreter @ ("python3" | "node"), args @ ..] => {
            let script = args
                .iter()
                .find(|a| a.starts_with("examples/"))
                .ok_or_else(|| format!("no rule for `{interpreter}` outside examples/"))?;
            return if project_root().join(script).is_file() {
                Ok(Plan::Checked(
                    "a farmer's module of examples/: tests/examples_dose.rs runs it",
                ))
            } else {
                Err(format!("{script} does not exist"))
            };
        }
        ["cargo", "bench", args @ ..] => {
            let mut package = None;
            let mut bench = None;
            let mut it = args.iter();
            while let Some(a) = it.next() {
                match *a {
                    "-p" | "--package" => package = it.next().copied(),
                    "--bench" => bench = it.next().copied(),
                    "--" => break,
                    other => return Err(format!("no rule for `cargo bench` option `{other}`")),
                }
            }
            let bench = bench.ok_or("`cargo bench` without `--bench NAME`")?;
            bench_exists(package, bench)?;
            return Ok(Plan::Checked(
                "a benchmark: checked that it exists, not run",
            ));
        }
        ["cargo", "run", args @ ..] => {
            let split = args.iter().position(|a| *a == "--").unwrap_or(args.len());
            let (options, rest) = (&args[..split], args.get(split + 1..).unwrap_or(&[]));
            let mut program = Program::Verger;
            let mut it = options.iter();
            while let Some(o) = it.next() {
                match *o {
                    "--release" => {}
                    "--example" => {
                        let name = it.next().ok_or("`--example` without a name")?;
                        if !project_root().join(format!("examples/{name}.rs")).is_file() {
                            return Err(format!("no example `{name}` in examples/"));
                        }
                        program = Program::Example((*name).to_owned());
                    }
                    other => return Err(format!("no rule for `cargo run` option `{other}`")),
                }
            }
            (program, rest)
        }
        ["verger", rest @ ..] => (Program::Verger, rest),
        [name, rest @ ..] if name.starts_with("verger-") => {
            if !component_packages().iter().any(|p| p == name) {
                return Err(format!("`{name}` is not a package under components/"));
            }
            (Program::Component((*name).to_owned()), rest)
        }
        [name, ..] => {
            return Err(format!(
                "unknown program `{name}`: teach tests/doc_commands.rs how to run it"
            ))
        }
        [] => return Err("empty command".into()),
    };

    // Substitute fixed addresses, devices and files.
    let mut args = Vec::new();
    let mut prev = "";
    for &word in rest {
        let arg = match (prev, word) {
            ("--listen", _) => Arg::ListenAnyPort,
            (_, "ws://127.0.0.1:8080/ws") => Arg::RouterUrl,
            ("--serial", "/dev/ttyUSB0") => Arg::Serial,
            ("--tcp", _) => Arg::Tcp,
            ("--udp", _) => Arg::Udp,
            ("--out", "track.nmea") => Arg::RecordOut,
            ("--file", "track.nmea") => Arg::Recording,
            ("--file", "gpsd.log") => Arg::PlainLog,
            ("--file", "-") if !stdin => return Err("`--file -` with nothing on stdin".into()),
            (_, "router.toml") => Arg::RouterToml,
            ("--unix", "/run/verger/router.sock") => Arg::UnixSocket,
            ("--db", "orchard.db") => Arg::MapDb(cmd.file.clone()),
            ("--db", "records.db") => Arg::RecordDb,
            ("--from" | "--to", w) if verger::contract::gnss::unix_micros(w).is_some() => {
                Arg::Lit(w.to_owned())
            }
            (_, w) if w.starts_with("../shared/") => {
                Arg::Shared(w.trim_start_matches("../shared/").to_owned())
            }
            (_, "trees.csv") => Arg::TreesCsv,
            ("--output", _) => Arg::Output,
            (_, w) if looks_fixed(w) => {
                return Err(format!(
                    "`{w}` is a fixed address, URL or path with no substitution rule"
                ))
            }
            (_, w) => Arg::Lit(w.to_owned()),
        };
        args.push(arg);
        prev = word;
    }
    let lit = |i: usize| match args.get(i) {
        Some(Arg::Lit(s)) => s.as_str(),
        _ => "",
    };
    let has_flag = |flag: &str| rest.contains(&flag);
    let live = has_flag("--serial") || has_flag("--tcp") || has_flag("--udp");
    let mut router_env = false;
    let kind = match &program {
        Program::Verger => match (lit(0), lit(1)) {
            ("router", _) => {
                if !has_flag("--listen") {
                    args.push(Arg::Lit("--listen".into()));
                    args.push(Arg::ListenAnyPort);
                }
                Kind::Router
            }
            ("config", "check") => Kind::Finite,
            ("record", _) if live => Kind::Recorder,
            ("record", _) => Kind::Finite,
            ("map", "import" | "info" | "export" | "migrate") => Kind::Finite,
            ("records", "export" | "info") => Kind::Finite,
            (sub, _) => {
                return Err(format!(
                    "no rule for `verger {sub}` (known: `router`, `config check`, `record`, `map import|info|export|migrate`, `records export|info`)"
                ))
            }
        },
        Program::Component(_) => {
            router_env = !has_flag("--router");
            if live || !has_flag("--file") {
                Kind::Component
            } else {
                Kind::Finite
            }
        }
        Program::Example(_) => Kind::Finite,
    };
    if stdin && !has_flag("--file") {
        return Err("a pipeline into a command that does not read `--file -`".into());
    }
    Ok(Plan::Run(Run {
        program,
        args,
        kind,
        stdin,
        router_env,
    }))
}

// ---------------------------------------------------------------------------------------
// Running

/// What every run shares: binaries, data and the recording.
#[derive(Debug)]
struct Env {
    verger: PathBuf,
    dir: TempDir,
    capture: Vec<u8>,
    epochs: Vec<Vec<u8>>,
    plain_log: PathBuf,
    trees_csv: PathBuf,
    records_db: PathBuf,
    recording: Mutex<Option<PathBuf>>,
}

impl Env {
    fn new() -> Env {
        let dir = TempDir::new("doc-commands");
        let capture = nmea_capture(CAPTURE);
        let epochs = nmea_epochs(&capture).into_iter().map(|(_, b)| b).collect();
        let plain_log = dir.path("gpsd.log");
        let head: Vec<&[u8]> = capture
            .split_inclusive(|&b| b == b'\n')
            .take(PLAIN_LOG_LINES)
            .collect();
        std::fs::write(&plain_log, head.concat()).expect("write gpsd.log");
        let trees_csv = dir.path("trees.csv");
        std::fs::write(&trees_csv, TREES_CSV).expect("write trees.csv");
        let records_db = dir.path("records.db");
        let sprays: Vec<NewRecord> = AppliedRecord::examples()
            .into_iter()
            .map(NewRecord::from)
            .collect();
        let mut records = RecordDb::create_or_open(&records_db).expect("create records.db");
        records
            .insert_batch(&sprays)
            .expect("record the example sprays");
        records.close().expect("close records.db");
        Env {
            verger: PathBuf::from(env!("CARGO_BIN_EXE_verger")),
            dir,
            capture,
            epochs,
            plain_log,
            trees_csv,
            records_db,
            recording: Mutex::new(None),
        }
    }

    /// The binary of `program`, checked to be there and not older than its sources.
    fn binary(&self, program: &Program) -> Result<PathBuf, String> {
        let (path, source) = match program {
            Program::Verger => return Ok(self.verger.clone()),
            Program::Component(name) => {
                let dir = self.verger.parent().expect("bin folder");
                let folder = name.strip_prefix("verger-").unwrap_or(name);
                // Its own sources only: what makes cargo rebuild it (its tests do not).
                let source = project_root().join("components").join(folder).join("src");
                (dir.join(name), source)
            }
            Program::Example(name) => {
                let test = std::env::current_exe().expect("test path");
                // target/debug/deps/doc_commands-HASH → target/debug/examples/NAME
                let profile = test.parent().and_then(Path::parent).expect("target folder");
                (
                    profile.join("examples").join(name),
                    project_root().join(format!("examples/{name}.rs")),
                )
            }
        };
        let build = "build the workspace first: `cargo build --workspace --examples` (`cargo test --workspace` and `scripts/test` do)";
        let built = std::fs::metadata(&path)
            .and_then(|m| m.modified())
            .map_err(|_| format!("{} is missing: {build}", path.display()))?;
        if newest_mtime(&source) > Some(built) {
            return Err(format!(
                "{} is older than {}: {build}",
                path.display(),
                source.display()
            ));
        }
        Ok(path)
    }
}

/// A task feeding NMEA to the command; stopped (and its source closed) when dropped.
struct Feeder(JoinHandle<()>);

impl Drop for Feeder {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Feeds start once the command reads its source (the port open, the UDP address
/// bound), so that nothing is lost to a command that starts late; between epochs they
/// wait `FEED_PERIOD`, the receiver's output rate, not a synchronisation.
fn feed_pty(mut pty: Pty, epochs: Vec<Vec<u8>>) -> Feeder {
    Feeder(tokio::spawn(async move {
        pty.opened_by_another_process().await;
        for epoch in epochs {
            pty.write(&epoch).await;
            tokio::time::sleep(FEED_PERIOD).await;
        }
    }))
}

fn feed_tcp(listener: TcpListener, epochs: Vec<Vec<u8>>) -> Feeder {
    Feeder(tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let epochs = epochs.clone();
            tokio::spawn(async move {
                for epoch in epochs {
                    if stream.write_all(&epoch).await.is_err() {
                        return;
                    }
                    tokio::time::sleep(FEED_PERIOD).await;
                }
            });
        }
    }))
}

fn feed_udp(socket: UdpSocket, to: SocketAddr, epochs: Vec<Vec<u8>>) -> Feeder {
    Feeder(tokio::spawn(async move {
        // A datagram sent before the command listens is lost: wait until it does.
        eventually(&format!("the command listens on udp {to}"), || {
            udp_bound(to)
        })
        .await;
        for epoch in epochs {
            let _ = socket.send_to(&epoch, to).await;
            tokio::time::sleep(FEED_PERIOD).await;
        }
    }))
}

/// Whether a socket is bound to `addr` (an IPv4 address), read from `/proc/net/udp`
/// (looking, not binding: a probe bind could take the port from the command).
fn udp_bound(addr: SocketAddr) -> bool {
    let SocketAddr::V4(v4) = addr else {
        return false;
    };
    let local = format!(
        "{:08X}:{:04X}",
        u32::from_le_bytes(v4.ip().octets()),
        v4.port()
    );
    std::fs::read_to_string("/proc/net/udp").is_ok_and(|table| {
        table
            .lines()
            .skip(1)
            .any(|line| line.split_whitespace().nth(1) == Some(local.as_str()))
    })
}

/// A free UDP address on 127.0.0.1 (free when asked: the command binds it next).
async fn free_udp() -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind udp");
    socket.local_addr().expect("udp addr")
}

/// Output of a child read to its end in the background.
fn collect(pipe: Option<impl tokio::io::AsyncRead + Unpin + Send + 'static>) -> JoinHandle<String> {
    tokio::spawn(async move {
        let mut text = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut text).await;
        }
        String::from_utf8_lossy(&text).into_owned()
    })
}

/// The end of `text` (what a failure message shows of a program's output).
fn tail(text: &str) -> &str {
    let start = text.len().saturating_sub(2000);
    let start = (start..text.len())
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(text.len());
    &text[start..]
}

/// Count the `verger record` records in `file`.
fn records_in(file: &Path) -> usize {
    let bytes = std::fs::read(file).unwrap_or_default();
    bytes
        .split(|&b| b == b'\n')
        .filter(|line| line.starts_with(b"# t="))
        .count()
}

/// Run one planned command; `Err` says what went wrong.
async fn run(env: Arc<Env>, index: usize, run: Run) -> Result<(), String> {
    let program = env.binary(&run.program)?;
    let router = if run.needs_router() {
        Some(start_test_router().await)
    } else {
        None
    };
    let observer = match &router {
        Some(r) => Some(connect(&r.url()).await),
        None => None,
    };
    let mut fixes = match &observer {
        Some(o) if run.publishes_fixes() => Some(subscribe(o, FIX_TOPIC, false).await),
        _ => None,
    };

    let epochs = env.epochs.clone();
    let mut feeders = Vec::new();
    let mut record_out = None;
    let mut unix_socket = None;
    let mut output = None;
    let mut args = Vec::new();
    for arg in &run.args {
        let value = match arg {
            Arg::Lit(s) => s.clone(),
            Arg::ListenAnyPort => "127.0.0.1:0".into(),
            Arg::RouterUrl => router.as_ref().expect("router").url(),
            Arg::Serial => {
                let link = env.dir.path(&format!("ttyUSB0-{index}"));
                feeders.push(feed_pty(Pty::open(&link), epochs.clone()));
                link.display().to_string()
            }
            Arg::Tcp => {
                let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind tcp");
                let addr = listener.local_addr().expect("tcp addr");
                feeders.push(feed_tcp(listener, epochs.clone()));
                addr.to_string()
            }
            Arg::Udp => {
                let to = free_udp().await;
                let from = UdpSocket::bind("127.0.0.1:0").await.expect("bind udp");
                feeders.push(feed_udp(from, to, epochs.clone()));
                to.to_string()
            }
            Arg::RecordOut => {
                let out = env.dir.path(&format!("track-{index}.nmea"));
                record_out = Some(out.clone());
                out.display().to_string()
            }
            Arg::Recording => {
                let recording = env.recording.lock().expect("lock").clone();
                recording
                    .ok_or(
                        "`track.nmea` is a recording, and no documented `verger record` made one",
                    )?
                    .display()
                    .to_string()
            }
            Arg::PlainLog => env.plain_log.display().to_string(),
            Arg::RouterToml => project_root().join("router.toml").display().to_string(),
            Arg::UnixSocket => {
                let path = env.dir.path(&format!("router-{index}.sock"));
                unix_socket = Some(path.clone());
                path.display().to_string()
            }
            Arg::MapDb(doc) => {
                let name = doc.replace(['/', '.'], "-");
                env.dir.path(&format!("{name}.db")).display().to_string()
            }
            Arg::Shared(rel) => verger_testkit::shared(rel).display().to_string(),
            Arg::TreesCsv => env.trees_csv.display().to_string(),
            Arg::RecordDb => env.records_db.display().to_string(),
            Arg::Output => {
                let out = env.dir.path(&format!("export-{index}.out"));
                output = Some(out.clone());
                out.display().to_string()
            }
        };
        args.push(value);
    }

    let mut command = Command::new(&program);
    command
        .args(&args)
        .env_remove("VERGER_ROUTER")
        .env_remove("VERGER_REALM")
        .stdin(if run.stdin {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if run.router_env {
        command.env("VERGER_ROUTER", router.as_ref().expect("router").url());
    }
    let mut process = Process::spawn_command(command);
    let stderr = collect(process.child.stderr.take());
    let mut stdout_pipe = process.child.stdout.take();
    // The router's stdout is read for its listening line first, then drained.
    let mut stdout = (run.kind != Kind::Router).then(|| collect(stdout_pipe.take()));
    if let Some(mut stdin) = process.child.stdin.take() {
        let capture = env.capture.clone();
        tokio::spawn(async move {
            let _ = stdin.write_all(&capture).await;
        });
    }

    let outcome = if run.kind == Kind::Finite {
        let status = process.wait().await;
        if status.success() {
            Ok(())
        } else {
            Err(format!("ended with {status}"))
        }
    } else {
        // Long-running: wait for the sign that it works, then a signal.
        let sign = async {
            match run.kind {
                Kind::Router => {
                    let mut lines = BufReader::new(stdout_pipe.take().expect("stdout")).lines();
                    let line = within("the router prints its listening line", lines.next_line())
                        .await
                        .map_err(|e| e.to_string())?
                        .ok_or("the router closed stdout without a listening line")?;
                    stdout = Some(collect(Some(lines.into_inner())));
                    check_router(&line, unix_socket.as_deref()).await?;
                }
                Kind::Recorder => {
                    let out = record_out.clone().expect("--out");
                    eventually(&format!("{MIN_RECORDS} records in the recording"), || {
                        records_in(&out) >= MIN_RECORDS
                    })
                    .await;
                }
                Kind::Component => match (&mut fixes, &router) {
                    (Some(fixes), _) => {
                        next_event(fixes, "a fix from the component").await;
                    }
                    (None, Some(router)) => {
                        eventually("the component joins the test router", || {
                            router.session_count("orchard") >= 2
                        })
                        .await;
                    }
                    (None, None) => unreachable!("a component always has a router"),
                },
                Kind::Finite => unreachable!("finite commands have no sign"),
            }
            Ok::<(), String>(())
        };
        let sign = tokio::select! {
            r = sign => r,
            status = process.child.wait() => Err(format!("exited before it worked: {status:?}")),
        };
        match sign {
            Err(e) => {
                let _ = process.child.start_kill();
                let _ = process.wait().await;
                Err(e)
            }
            Ok(()) => {
                let signal = if index % 2 == 0 {
                    Signal::SIGINT
                } else {
                    Signal::SIGTERM
                };
                let status = process.stop_with(signal).await;
                if status.success() {
                    Ok(())
                } else {
                    Err(format!("{status} after {signal}"))
                }
            }
        }
    };
    if let Err(e) = outcome {
        let out = match stdout {
            Some(task) => within("stdout closes", task).await.unwrap_or_default(),
            None => String::new(),
        };
        let err = within("stderr closes", stderr).await.unwrap_or_default();
        return Err(format!(
            "{e}\n--- stdout:\n{}\n--- stderr:\n{}",
            tail(&out),
            tail(&err)
        ));
    }
    if run.kind == Kind::Finite {
        if let Some(fixes) = &mut fixes {
            next_event(fixes, "a fix from the replay").await;
        }
    }
    drop(feeders);

    if let Some(out) = output {
        if std::fs::metadata(&out).map_or(0, |m| m.len()) == 0 {
            return Err(format!("{} is missing or empty", out.display()));
        }
    }
    if let Some(out) = record_out {
        if records_in(&out) == 0 {
            return Err(format!("{} holds no record", out.display()));
        }
        let mut recording = env.recording.lock().expect("lock");
        if recording.is_none() {
            *recording = Some(out);
        }
    }
    drop(observer);
    if let Some(router) = router {
        within("test router shutdown", router.shutdown())
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// The router's listening line names a reachable router: a peer joins its first realm
/// there, and on the Unix socket if it has one.
async fn check_router(line: &str, unix: Option<&Path>) -> Result<(), String> {
    let bad = || format!("unexpected listening line {line:?}");
    let rest = line
        .strip_prefix("verger router listening on ")
        .ok_or_else(bad)?;
    let url = rest.split(' ').next().ok_or_else(bad)?;
    let realms = rest.split("(realms: ").nth(1).ok_or_else(bad)?;
    let realm = realms
        .trim_end_matches(')')
        .split(", ")
        .next()
        .ok_or_else(bad)?;
    let _ = Peer::join(url, Serializer::Json, realm).await;
    if let Some(path) = unix {
        let unix_url = format!("unix://{}", path.display());
        if !line.contains(&unix_url) {
            return Err(format!("the listening line does not name {unix_url}"));
        }
        let _ = Peer::join(&unix_url, Serializer::Json, realm).await;
    }
    Ok(())
}

/// Panic message of a failed task.
fn panic_text(e: tokio::task::JoinError) -> String {
    match e.try_into_panic() {
        Ok(p) => p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_else(|| "panicked".into()),
        Err(e) => e.to_string(),
    }
}

/// Every documented command with its rule, or the list of those without one.
fn planned() -> Vec<(DocCommand, Plan)> {
    let commands = all_commands().unwrap_or_else(|errors| panic!("{}", errors.join("\n")));
    let mut plans = Vec::new();
    let mut errors = Vec::new();
    for cmd in commands {
        match plan(&cmd) {
            Ok(p) => plans.push((cmd, p)),
            Err(e) => errors.push(format!("{cmd}: {e}")),
        }
    }
    assert!(
        errors.is_empty(),
        "documented commands without a rule in tests/doc_commands.rs:\n{}",
        errors.join("\n")
    );
    plans
}

#[test]
fn every_documented_command_has_a_rule() {
    let plans = planned();
    for file in [
        "README.md",
        "docs/router.md",
        "docs/gnss.md",
        "docs/map.md",
        "docs/records.md",
    ] {
        assert!(
            plans.iter().any(|(c, _)| c.file == file),
            "no commands found in {file}"
        );
    }
    for file in files_in("examples", ".rs") {
        assert!(
            plans.iter().any(|(c, _)| c.file == file),
            "no commands found in {file}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_command_runs() {
    let env = Arc::new(Env::new());
    let plans = planned();
    // Recordings first: the replays of `track.nmea` play the first one.
    let (records, others): (Vec<_>, Vec<_>) = plans
        .into_iter()
        .enumerate()
        .partition(|(_, (_, p))| matches!(p, Plan::Run(r) if r.is_record()));
    let mut failures = Vec::new();
    let mut ran = 0;
    for (index, (cmd, plan)) in records.into_iter().chain(others) {
        let r = match plan {
            Plan::Run(r) => r,
            Plan::Checked(why) => {
                println!("{cmd}: {why}");
                continue;
            }
        };
        ran += 1;
        let started = std::time::Instant::now();
        let outcome = tokio::spawn(run(env.clone(), index, r)).await;
        let error = match outcome {
            Ok(Ok(())) => {
                println!("{cmd}: ok ({:.2?})", started.elapsed());
                continue;
            }
            Ok(Err(e)) => e,
            Err(e) => panic_text(e),
        };
        failures.push(format!("{cmd}: {error}"));
    }
    assert!(
        failures.is_empty(),
        "{} of {ran} documented commands failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

// ---------------------------------------------------------------------------------------
// The rules themselves

fn doc(text: &str) -> DocCommand {
    DocCommand {
        file: "doc.md".into(),
        line: 1,
        text: text.into(),
    }
}

#[test]
fn extraction_strips_comments_and_background() {
    let md = "text\n```sh\nverger router &   # the router\n\n# a comment\nverger-gnss --file - # x\n```\n```rust\nnot_a_command()\n```\n";
    let found: Vec<(usize, String)> = markdown_commands("d.md", md)
        .into_iter()
        .map(|c| (c.line, c.text))
        .collect();
    assert_eq!(
        found,
        [
            (3, "verger router".to_owned()),
            (6, "verger-gnss --file -".to_owned())
        ]
    );
    let ex = "//! Run it:\n//!\n//! $ cargo run -- router\nfn main() {}\n";
    assert_eq!(
        example_commands("e.rs", ex).unwrap()[0].text,
        "cargo run -- router"
    );
    let e = example_commands("e.rs", "//! Run `cargo run -- x`\n").unwrap_err();
    assert!(e.contains("e.rs:1"), "{e}");
    assert!(example_commands("e.rs", "//! nothing\n").is_err());
}

#[test]
fn rules_refuse_what_they_do_not_know() {
    for (text, why) in [
        ("socat pty pty", "unknown program `socat`"),
        ("verger-nope --x", "not a package"),
        (
            "verger router --listen 1.2.3.4:5 --config /etc/verger.toml",
            "`/etc/verger.toml`",
        ),
        ("verger-gnss --serial /dev/ttyACM0", "`/dev/ttyACM0`"),
        (
            "verger-gnss --router ws://10.0.0.1:8080/ws --file track.nmea",
            "`ws://10.0.0.1:8080/ws`",
        ),
        ("verger-gnss --file other.nmea", "`other.nmea`"),
        (
            "cat x | verger record --file - --out track.nmea",
            "pipeline from `cat x`",
        ),
        ("verger sim --colour red", "no flag `--colour`"),
        ("verger simulate", "no rule for `verger simulate`"),
        ("python3 -m pip install autobahn", "outside examples/"),
        ("node examples/js/nothing.js", "does not exist"),
        ("cargo bench --bench nope", "no bench `nope`"),
        ("cargo run --bin x -- router", "option `--bin`"),
        ("RUST_LOG=debug verger router", "unknown program"),
        (
            "verger map import other.geojson --db orchard.db",
            "`other.geojson`",
        ),
        (
            "verger map info --db /var/lib/orchard.db",
            "`/var/lib/orchard.db`",
        ),
        (
            "verger map drop --db orchard.db",
            "no rule for `verger map`",
        ),
        (
            "verger records export --db /var/lib/records.db --format csv",
            "`/var/lib/records.db`",
        ),
        (
            "verger records export --db records.db --format csv --from 2026-04-14T00:00:00+02:00",
            "`2026-04-14T00:00:00+02:00`",
        ),
    ] {
        let e = plan(&doc(text)).expect_err(text);
        assert!(e.contains(why), "`{text}`: {e}");
    }
    let Ok(Plan::Run(r)) = plan(&doc("cargo run --release -- router")) else {
        panic!("cargo run is the verger binary");
    };
    assert_eq!(r.program, Program::Verger);
    assert_eq!(r.kind, Kind::Router);
    assert_eq!(r.args.last(), Some(&Arg::ListenAnyPort));
    let Ok(Plan::Run(r)) = plan(&doc("verger-gnss --serial /dev/ttyUSB0 --baud 115200")) else {
        panic!("a gnss command");
    };
    assert!(r.router_env && r.kind == Kind::Component && r.has(&Arg::Serial));
    assert!(matches!(
        plan(&doc(
            "cargo bench -p verger-gnss --bench gnss_latency -- 10 20"
        )),
        Ok(Plan::Checked(_))
    ));
    assert!(matches!(
        plan(&doc(
            "node --experimental-websocket examples/js/dose_module.js ws://127.0.0.1:8080/ws"
        )),
        Ok(Plan::Checked(_))
    ));
    let Ok(Plan::Run(r)) = plan(&doc(
        "verger map import ../shared/data/maps/x.geojson trees.csv --db orchard.db --tree-spacing-m 1.2",
    )) else {
        panic!("a map import");
    };
    assert_eq!(r.kind, Kind::Finite);
    assert!(r.has(&Arg::Shared("data/maps/x.geojson".into())));
    assert!(r.has(&Arg::TreesCsv) && r.has(&Arg::MapDb("doc.md".into())));
    let Ok(Plan::Run(r)) = plan(&doc(
        "verger records export --db records.db --format geojson --from 2026-04-14T00:00:00Z --output x.geojson",
    )) else {
        panic!("a records export");
    };
    assert_eq!(r.kind, Kind::Finite);
    assert!(r.has(&Arg::RecordDb) && r.has(&Arg::Output));
    assert!(r.has(&Arg::Lit("2026-04-14T00:00:00Z".into())));
}
