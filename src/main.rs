//! The `verger` command line: parses arguments, loads configuration, starts logging
//! and hands over to the library. Nothing worth testing lives here.

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use verger::component;
use verger::orchard::{ImportOptions, ImportProgress, MapDb};
use verger::records::RecordDb;
use verger::router::{ConfigError, Router, RouterConfig};
use verger::supervisor::config::{RouterChoice, RunConfig};
use verger::supervisor::{self, CheckFailed, Launch};
use verger::wamp::uri::UriCheck;

#[derive(Debug, Parser)]
#[command(name = "verger", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the WAMP router (WebSocket + RawSocket on one port, optional Unix socket).
    Router(Box<RouterArgs>),
    /// Run the whole system from verger.toml: the embedded router, then every component
    /// as a child process, restarted when it fails, stopped in order (docs/run.md).
    Run(RunArgs),
    /// Work with configuration files.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Record a device's raw byte stream with arrival times (replay: verger-gnss --file).
    Record(RecordArgs),
    /// Work with the orchard map database: import, describe, export (docs/map.md).
    #[command(subcommand)]
    Map(MapCommand),
    /// Read the as-applied record of the sprays: export, describe (docs/records.md).
    #[command(subcommand)]
    Records(RecordsCommand),
    /// Run the whole system on a simulated tractor (virtual GNSS receiver and valve
    /// board) and report on the treatment; `verger sim --help` for its flags
    /// (docs/simulator.md).
    #[command(disable_help_flag = true)]
    Sim {
        /// The simulator's flags, passed to verger-sim.
        #[arg(
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "FLAGS"
        )]
        args: Vec<std::ffi::OsString>,
    },
}

#[derive(Debug, Subcommand)]
enum RecordsCommand {
    /// Write the sprays as CSV or GeoJSON, all of them or those of a time range.
    Export {
        /// The record database.
        #[arg(long, value_name = "PATH")]
        db: PathBuf,
        /// The format to write.
        #[arg(long, value_enum)]
        format: verger::records::Format,
        /// Only sprays that opened at or after this GNSS time (RFC 3339 UTC, e.g.
        /// 2026-04-14T00:00:00Z).
        #[arg(long, value_name = "TIME", value_parser = gnss_time)]
        from: Option<i64>,
        /// Only sprays that opened before this GNSS time (RFC 3339 UTC, e.g.
        /// 2026-04-15T00:00:00Z).
        #[arg(long, value_name = "TIME", value_parser = gnss_time)]
        to: Option<i64>,
        /// The file to write [default: standard output].
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Say what a record holds: sprays, the first and last, the volume per product.
    Info(InfoArgs),
}

/// `verger map info`, `verger records info`.
#[derive(Debug, Args)]
struct InfoArgs {
    /// The database file.
    #[arg(long, value_name = "PATH")]
    db: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// A `--from`/`--to` value: microseconds since the Unix epoch.
fn gnss_time(s: &str) -> Result<i64, String> {
    verger::contract::gnss::unix_micros(s).ok_or_else(|| {
        "expected an RFC 3339 time in UTC, e.g. 2026-04-14T00:00:00Z or 2026-04-14T09:30:00.250Z"
            .into()
    })
}

#[derive(Debug, Subcommand)]
enum MapCommand {
    /// Import GeoJSON and CSV files into a map database (created if absent), all or
    /// nothing.
    Import(MapImportArgs),
    /// Say what a map holds.
    Info(InfoArgs),
    /// Write a map as GeoJSON (everything) or CSV (the trees).
    Export {
        /// The map database.
        #[arg(long, value_name = "PATH")]
        db: PathBuf,
        /// The format to write.
        #[arg(long, value_enum)]
        format: ExportFormat,
        /// The file to write [default: standard output].
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Bring a map written by an older verger to this verger's schema.
    Migrate {
        /// The map database.
        #[arg(long, value_name = "PATH")]
        db: PathBuf,
    },
}

#[derive(Debug, Args)]
struct MapImportArgs {
    /// GeoJSON (.geojson, .json) and CSV (.csv) files.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// The map database (created if absent).
    #[arg(long, value_name = "PATH")]
    db: PathBuf,
    /// Generate trees this many metres apart along rows no imported tree stands in
    /// (a row's own tree_spacing_m wins).
    #[arg(long, value_name = "M", allow_negative_numbers = true)]
    tree_spacing_m: Option<f64>,
    /// Clear the map first (in the same transaction).
    #[arg(long)]
    replace: bool,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum ExportFormat {
    /// Everything, as a GeoJSON FeatureCollection.
    Geojson,
    /// The trees, as CSV.
    Csv,
}

#[derive(Debug, Args)]
struct RecordArgs {
    #[command(flatten)]
    source: verger::source::SourceArgs,
    /// File to write (must not exist yet).
    #[arg(long, value_name = "PATH")]
    out: PathBuf,
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Validate a configuration file (verger.toml, or a router's, told apart by content)
    /// and print what is wrong with it, with the line.
    Check {
        /// The TOML file to check.
        file: PathBuf,
    },
}

#[derive(Debug, Args)]
struct RunArgs {
    /// The system's configuration (docs/run.md).
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
}

#[derive(Debug, Args)]
struct RouterArgs {
    /// Router configuration file (TOML); flags override its values.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// TCP address for WebSocket and RawSocket [default: 127.0.0.1:8080].
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// WebSocket path [default: /ws].
    #[arg(long, value_name = "PATH")]
    path: Option<String>,
    /// A realm to serve (repeatable; replaces the configured list) [default: orchard].
    #[arg(long = "realm", value_name = "NAME")]
    realms: Vec<String>,
    /// Also serve RawSocket on this Unix domain socket.
    #[arg(long, value_name = "PATH")]
    unix: Option<PathBuf>,
    /// URI checking for topics and procedures.
    #[arg(long, value_name = "MODE", value_parser = ["loose", "strict"])]
    uri_check: Option<String>,
    /// Largest WAMP message in bytes, received and sent [default: 1048576].
    #[arg(long, value_name = "BYTES")]
    max_message_size: Option<usize>,
    /// Hard transport limit in bytes: larger frames close the connection
    /// [default: 4 x max message size, at most 16777216].
    #[arg(long, value_name = "BYTES")]
    max_transport_size: Option<usize>,
    /// Most concurrent connections; more get RawSocket error 4 / HTTP 503 [default: 256].
    #[arg(long, value_name = "N")]
    max_sessions: Option<usize>,
    /// Messages queued per session before it is cut as a slow consumer [default: 1024].
    #[arg(long, value_name = "N")]
    outbound_queue: Option<usize>,
    /// Encoded bytes queued per session before it is cut as a slow consumer
    /// [default: 4194304].
    #[arg(long, value_name = "BYTES")]
    outbound_queue_bytes: Option<usize>,
    /// Encoded bytes queued for all sessions together [default: 67108864].
    #[arg(long, value_name = "BYTES")]
    outbound_budget: Option<usize>,
    /// Most subscriptions per session [default: 1024].
    #[arg(long, value_name = "N")]
    max_subscriptions_per_session: Option<usize>,
    /// Most registrations per session [default: 1024].
    #[arg(long, value_name = "N")]
    max_registrations_per_session: Option<usize>,
    /// Transport ping after this long without traffic ("0s": off) [default: 10s].
    #[arg(long, value_name = "DURATION", value_parser = verger::config::duration::parse)]
    ping_interval: Option<Duration>,
    /// Close a session after this long without any traffic [default: 30s].
    #[arg(long, value_name = "DURATION", value_parser = verger::config::duration::parse)]
    ping_timeout: Option<Duration>,
    /// Time sessions get to answer GOODBYE on shutdown [default: 5s].
    #[arg(long, value_name = "DURATION", value_parser = verger::config::duration::parse)]
    shutdown_timeout: Option<Duration>,
    /// Time a new connection gets for the transport handshake, then for HELLO
    /// [default: 10s].
    #[arg(long, value_name = "DURATION", value_parser = verger::config::duration::parse)]
    handshake_timeout: Option<Duration>,
}

/// How long `verger record` has to flush its file after a signal.
const RECORD_SHUTDOWN: std::time::Duration = std::time::Duration::from_secs(2);

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Config(ConfigCommand::Check { file }) => check_config(&file),
        Command::Router(args) => run_router(*args),
        Command::Run(args) => run_system(&args.config),
        Command::Record(args) => run_record(args),
        Command::Map(command) => run_map(command),
        Command::Records(command) => run_records(command),
        Command::Sim { args } => run_sim(args),
    }
}

/// Input of at least this many bytes gets a progress bar (on a terminal).
const LARGE_INPUT: u64 = 16 << 20;

fn run_map(command: MapCommand) -> ExitCode {
    match command {
        MapCommand::Import(args) => map_import(args),
        MapCommand::Info(InfoArgs { db, json }) => {
            print_info(&db, json, MapDb::open(&db).and_then(|map| map.info()))
        }
        MapCommand::Export { db, format, output } => map_export(&db, format, output.as_deref()),
        MapCommand::Migrate { db } => match MapDb::open(&db).and_then(|map| map.schema_version()) {
            Ok(v) => {
                println!("{}: map schema version {v}", db.display());
                ExitCode::SUCCESS
            }
            Err(e) => fail(e),
        },
    }
}

fn map_import(args: MapImportArgs) -> ExitCode {
    let total: u64 = args
        .files
        .iter()
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .sum();
    let bar = (std::io::stderr().is_terminal() && total >= LARGE_INPUT).then(|| {
        let bar = indicatif::ProgressBar::new(total);
        if let Ok(style) =
            indicatif::ProgressStyle::with_template("{msg:8} {wide_bar} {percent:>3}% {eta}")
        {
            bar.set_style(style);
        }
        bar
    });
    let mut progress = |p: ImportProgress| {
        let Some(bar) = &bar else { return };
        let (message, done, total) = match p {
            ImportProgress::Reading {
                bytes, total_bytes, ..
            } => ("reading", bytes, total_bytes),
            ImportProgress::Writing { items, total } => ("writing", items, total),
        };
        bar.set_message(message);
        bar.set_length(total);
        bar.set_position(done);
    };
    let options = ImportOptions {
        tree_spacing_m: args.tree_spacing_m,
        replace: args.replace,
    };
    let result = MapDb::import(&args.db, &args.files, &options, &mut progress);
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    match result {
        Ok(summary) => {
            print!("{summary}");
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

fn map_export(db: &Path, format: ExportFormat, output: Option<&Path>) -> ExitCode {
    let map = match MapDb::open(db) {
        Ok(map) => map,
        Err(e) => return fail(e),
    };
    write_output(output, |out| match format {
        ExportFormat::Geojson => map.export_geojson(out),
        ExportFormat::Csv => map.export_csv(out),
    })
}

fn run_records(command: RecordsCommand) -> ExitCode {
    match command {
        RecordsCommand::Export {
            db,
            format,
            from,
            to,
            output,
        } => {
            if let (Some(from), Some(to)) = (from, to) {
                if to <= from {
                    return fail("--to must be later than --from (the range includes --from and excludes --to)");
                }
            }
            let record = match RecordDb::open_read_only(&db) {
                Ok(record) => record,
                Err(e) => return fail(e),
            };
            write_output(output.as_deref(), |out| {
                record.export(format, from, to, out).map(drop)
            })
        }
        RecordsCommand::Info(InfoArgs { db, json }) => print_info(
            &db,
            json,
            RecordDb::open_read_only(&db).and_then(|record| record.summary()),
        ),
    }
}

/// `verger map info`, `verger records info`: what a file holds, as text under its name
/// or as JSON.
fn print_info<T, E>(db: &Path, json: bool, info: Result<T, E>) -> ExitCode
where
    T: std::fmt::Display + serde::Serialize,
    E: std::fmt::Display,
{
    let info = match info {
        Ok(info) => info,
        Err(e) => return fail(e),
    };
    if json {
        match serde_json::to_string_pretty(&info) {
            Ok(text) => println!("{text}"),
            Err(e) => return fail(e),
        }
    } else {
        println!("{}\n{info}", db.display());
    }
    ExitCode::SUCCESS
}

/// An export to `output` (removed again if the export fails) or to standard output.
fn write_output<E: std::fmt::Display>(
    output: Option<&Path>,
    write: impl FnOnce(&mut dyn Write) -> Result<(), E>,
) -> ExitCode {
    let result = match output {
        None => write(&mut std::io::stdout().lock()),
        Some(path) => match std::fs::File::create(path) {
            Ok(mut file) => {
                let result = write(&mut file);
                if result.is_err() {
                    let _ = std::fs::remove_file(path);
                }
                result
            }
            Err(e) => return fail(format!("cannot create {}: {e}", path.display())),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

fn run_record(args: RecordArgs) -> ExitCode {
    component::init_logging();
    let (runtime, shutdown, _) = match component::runtime_and_signals(RECORD_SHUTDOWN) {
        Ok(x) => x,
        Err(e) => return fail(e),
    };
    let shutdown = shutdown.token().clone();
    let spec = match args.source.spec() {
        Ok(spec) => spec,
        Err(e) => return fail(e),
    };
    let options = verger::source::ReaderOptions::default();
    match runtime.block_on(verger::record::run(spec, &args.out, options, shutdown)) {
        Ok(summary) => {
            eprintln!(
                "verger: recorded {} bytes in {} records to {}",
                summary.bytes,
                summary.records,
                args.out.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

fn check_config(file: &std::path::Path) -> ExitCode {
    if std::fs::read_to_string(file).is_ok_and(|text| RunConfig::recognise(&text)) {
        return check_run_config(file);
    }
    match RouterConfig::load(file) {
        Ok(config) => {
            println!(
                "{}: ok (listen {}, path {}, realms: {})",
                file.display(),
                config.listen,
                config.path,
                config.realms.join(", ")
            );
            ExitCode::SUCCESS
        }
        Err(e) => config_failed(&e),
    }
}

/// A configuration that cannot be used, printed the same way by every command.
fn config_failed(e: &ConfigError) -> ExitCode {
    eprintln!("verger: {}", e.report());
    ExitCode::FAILURE
}

fn fail(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("verger: {message}");
    ExitCode::FAILURE
}

fn router_config(args: RouterArgs) -> Result<RouterConfig, ConfigError> {
    let mut config = match &args.config {
        Some(file) => RouterConfig::load(file)?,
        None => RouterConfig::default(),
    };
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    if let Some(path) = args.path {
        config.path = path;
    }
    if !args.realms.is_empty() {
        config.realms = args.realms;
    }
    if let Some(unix) = args.unix {
        config.unix_socket = Some(unix);
    }
    if let Some(check) = args.uri_check {
        config.uri_check = if check == "strict" {
            UriCheck::Strict
        } else {
            UriCheck::Loose
        };
    }
    let set = |field: &mut usize, flag: Option<usize>| {
        if let Some(v) = flag {
            *field = v;
        }
    };
    set(&mut config.max_message_size, args.max_message_size);
    set(&mut config.max_sessions, args.max_sessions);
    set(&mut config.outbound_queue, args.outbound_queue);
    set(&mut config.outbound_queue_bytes, args.outbound_queue_bytes);
    set(&mut config.outbound_budget, args.outbound_budget);
    set(
        &mut config.max_subscriptions_per_session,
        args.max_subscriptions_per_session,
    );
    set(
        &mut config.max_registrations_per_session,
        args.max_registrations_per_session,
    );
    if let Some(size) = args.max_transport_size {
        config.max_transport_size = Some(size);
    }
    let set = |field: &mut Duration, flag: Option<Duration>| {
        if let Some(v) = flag {
            *field = v;
        }
    };
    set(&mut config.ping_interval, args.ping_interval);
    set(&mut config.ping_timeout, args.ping_timeout);
    set(&mut config.shutdown_timeout, args.shutdown_timeout);
    set(&mut config.handshake_timeout, args.handshake_timeout);
    verger::config::check(&config, "configuration (file and flags)")?;
    Ok(config)
}

fn run_router(args: RouterArgs) -> ExitCode {
    component::init_logging();
    let config = match router_config(args) {
        Ok(c) => c,
        Err(e) => return config_failed(&e),
    };
    let (runtime, shutdown, _) = match component::runtime_and_signals(config.shutdown_timeout) {
        Ok(x) => x,
        Err(e) => return fail(e),
    };
    let shutdown = shutdown.token().clone();
    runtime.block_on(async move {
        let router = match Router::new(config.clone()) {
            Ok(r) => r,
            Err(e) => return fail(e),
        };
        let listeners = match Router::bind(&config).await {
            Ok(l) => l,
            Err(e) => return fail(e),
        };
        let addr = match listeners.tcp.as_ref().map(|l| l.local_addr()) {
            Some(Ok(addr)) => addr,
            Some(Err(e)) => return fail(e),
            None => return fail("no TCP listener"),
        };
        let unix = config
            .unix_socket
            .as_ref()
            .map(|p| format!(" and unix://{}", p.display()))
            .unwrap_or_default();
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(
            stdout,
            "verger router listening on ws://{addr}{}{unix} (realms: {})",
            config.path,
            config.realms.join(", ")
        );
        let _ = stdout.flush();
        drop(stdout);

        let result = router.serve(listeners, shutdown).await;
        if let Some(path) = &config.unix_socket {
            let _ = std::fs::remove_file(path);
        }
        match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(e),
        }
    })
}

/// A folder for the sections handed to the components: systemd's `RuntimeDirectory=`
/// (kept), else a fresh one in the temporary folder (removed at the end).
struct RuntimeDir {
    path: PathBuf,
    remove: bool,
}

impl RuntimeDir {
    fn new(tag: &str) -> RuntimeDir {
        match std::env::var_os("RUNTIME_DIRECTORY").filter(|v| !v.is_empty()) {
            Some(dirs) => RuntimeDir {
                path: std::env::split_paths(&dirs).next().unwrap_or_default(),
                remove: false,
            },
            None => RuntimeDir {
                path: std::env::temp_dir().join(format!("verger-{tag}-{}", std::process::id())),
                remove: true,
            },
        }
    }
}

impl Drop for RuntimeDir {
    fn drop(&mut self) {
        if self.remove {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// `verger.toml`, its programs and each component's own check of its section.
fn checked_run_config(file: &Path, scratch: &Path) -> Result<(RunConfig, Vec<Launch>), ExitCode> {
    let config = RunConfig::load(file).map_err(|e| config_failed(&e))?;
    let exe_dir = supervisor::exe_dir();
    match supervisor::check(&config, exe_dir.as_deref(), scratch) {
        Ok(launches) => Ok((config, launches)),
        Err(CheckFailed(faults)) => {
            for fault in faults {
                eprintln!("verger: {fault}");
            }
            Err(ExitCode::FAILURE)
        }
    }
}

fn check_run_config(file: &Path) -> ExitCode {
    let scratch = RuntimeDir {
        path: std::env::temp_dir().join(format!("verger-check-{}", std::process::id())),
        remove: true,
    };
    let (config, launches) = match checked_run_config(file, &scratch.path) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let router = match &config.router {
        RouterChoice::Embedded(r) => format!("embedded router on {}{}", r.listen, r.path),
        RouterChoice::External(url) => format!("router {url}"),
    };
    let mut programs: Vec<String> = launches.iter().map(|l| l.name.clone()).collect();
    programs.extend(
        config
            .components
            .iter()
            .filter(|c| !c.enabled)
            .map(|c| format!("{} (disabled)", c.name)),
    );
    println!(
        "{}: ok ({router}, realm {}, components: {})",
        file.display(),
        config.realm,
        programs.join(", ")
    );
    ExitCode::SUCCESS
}

/// `verger sim`: the simulator is its own program (it needs the simulator's library),
/// installed beside `verger` as the components are; this process becomes it.
fn run_sim(args: Vec<std::ffi::OsString>) -> ExitCode {
    use std::os::unix::process::CommandExt;
    let exe_dir = supervisor::exe_dir();
    let path = std::env::var_os("PATH");
    let Some(program) = supervisor::find_built_in("sim", exe_dir.as_deref(), path.as_deref())
    else {
        return fail(
            "verger-sim is found neither beside verger nor on PATH: build it with \
             `cargo build --release --workspace` (it is the simulator's own binary)",
        );
    };
    let error = std::process::Command::new(&program).args(args).exec();
    fail(format!("cannot run {}: {error}", program.display()))
}

fn run_system(file: &Path) -> ExitCode {
    component::init_logging();
    let runtime_dir = RuntimeDir::new("run");
    let (config, launches) = match checked_run_config(file, &runtime_dir.path) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let (runtime, shutdown, forced) =
        match component::runtime_and_signals(config.supervisor.stop_timeout) {
            Ok(x) => x,
            Err(e) => return fail(e),
        };
    let stop = shutdown.token().clone();
    let result = runtime.block_on(supervisor::run(
        &config,
        launches,
        supervisor::RunOptions::new(&runtime_dir.path, stop, forced),
    ));
    match result {
        Ok(summary) if summary.clean() => ExitCode::SUCCESS,
        Ok(summary) if summary.forced => fail("stopped by a second signal before a clean end"),
        Ok(summary) => fail(format!(
            "killed after stop_timeout: {}",
            summary.overran.join(", ")
        )),
        Err(e) => fail(e),
    }
}
