//! `verger sim`: one simulated run of the whole system. The run folder gets the map, the
//! `verger.toml` actually run (the demo's or the farmer's, with the virtual devices put
//! in: [`config`]), the components' output, the as-applied record, the report and the
//! as-applied map. Then:
//!
//! 1. the virtual receiver and the virtual valve board open their pseudo-terminals;
//! 2. the supervisor of `verger run` starts the router (or uses `--router`) and the
//!    components as child processes, each with `VERGER_TIME_SCALE` = the speed-up;
//! 3. once the map and dose procedures are registered, the sprayer and the GNSS
//!    component are up (seen through the router, as any module would see them), the
//!    receiver starts the drive;
//! 4. once the last epoch is written and the sprayer has closed its valves and committed
//!    its records, the components are stopped in order (sprayer first);
//! 5. the report is worked out from the truth ([`crate::report`]): the path driven and
//!    the intervals the board sprayed, its instants brought back to GNSS time
//!    ([`field::Timeline`]); the flows and intended volumes come from the record and the
//!    dose decisions.

pub mod config;
pub mod field;

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{oneshot, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use verger::client::{Client, SubscribeOptions};
use verger::component::ComponentArgs;
use verger::contract::dose::{TreatResult, DECISION_TOPIC};
use verger::contract::gnss::{
    unix_micros, ReceiverState, StatusPayload, STATUS_TOPIC as GNSS_STATUS,
};
use verger::contract::sprayer::{
    AppliedRecord, SafeReason, SprayerState, SprayerStatePayload, APPLIED_TOPIC, STATE_TOPIC,
};
use verger::orchard::{ImportOptions, MapDb};
use verger::records::RecordDb;
use verger::supervisor::config::RunConfig;
use verger::supervisor::{self, OutputTo, RunOptions};
use verger::wamp::{Dict, Value};

use crate::board::{VirtualBoard, VirtualBoardConfig};
use crate::drive::{Drive, DriveOptions};
use crate::nmea_out::EpochQuality;
use crate::receiver::{Progress, ReceiverConfig, Source, VirtualReceiver, DEFAULT_RATE_HZ};
use crate::report::render::{self, RunFacts};
use crate::report::{report, Report, ReportInput};
use crate::track::{Track, TrackOptions};
use field::{Orchard, Recorded, Timeline};

/// The demo run's `verger.toml` (`config/demo.toml`).
pub const DEMO_CONFIG: &str = include_str!("../../../config/demo.toml");

/// Default speed-up of `verger sim`.
pub const DEFAULT_SPEED: f64 = 70.0;

/// How long the components have to come up (real time).
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// How long, after the last epoch, the sprayer has to close its valves and commit its
/// records (real time).
const SETTLE_TIMEOUT: Duration = Duration::from_secs(60);

/// What to simulate.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// The map (`--map`): a map database or a file `verger map import` takes; `None`:
    /// the file's `map.db`, else the demo orchard.
    pub map: Option<PathBuf>,
    /// A recorded track (`--track`) instead of the synthetic drive.
    pub track: Option<PathBuf>,
    /// The quality position-only tracks are replayed with (`--track-quality`).
    pub track_quality: EpochQuality,
    /// The `verger.toml` to run (`--config`); `None`: the demo's.
    pub config: Option<PathBuf>,
    /// An existing router (`--router`).
    pub router: Option<String>,
    /// Speed-up (`--speed`).
    pub speed: f64,
    /// Epochs per second of the synthetic drive.
    pub rate_hz: f64,
    /// The synthetic drive.
    pub drive: DriveOptions,
    /// The run folder.
    pub run_dir: PathBuf,
    /// Show a live progress line on stderr.
    pub progress: bool,
    /// Where verger's component programs are (`None`: beside this program, as
    /// installed; a benchmark points at `target/release`).
    pub programs: Option<PathBuf>,
}

impl SimOptions {
    /// The demo: its orchard, its drive, at [`DEFAULT_SPEED`], in `run_dir`.
    pub fn demo(run_dir: &Path) -> SimOptions {
        SimOptions {
            map: None,
            track: None,
            track_quality: EpochQuality::RTK_FIXED,
            config: None,
            router: None,
            speed: DEFAULT_SPEED,
            rate_hz: DEFAULT_RATE_HZ,
            drive: DriveOptions::default(),
            run_dir: run_dir.to_path_buf(),
            progress: false,
            programs: None,
        }
    }
}

/// Why a simulation could not run.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// Something about the inputs.
    #[error("{0}")]
    Input(String),
    /// The system did not come up, or failed during the run.
    #[error("{0}")]
    Run(String),
}

fn input(e: impl std::fmt::Display) -> SimError {
    SimError::Input(e.to_string())
}

/// A finished run.
#[derive(Debug)]
pub struct Outcome {
    /// The report.
    pub report: Report,
    /// What the run was.
    pub facts: RunFacts,
    /// The run folder.
    pub run_dir: PathBuf,
    /// The components' output.
    pub log: PathBuf,
    /// The as-applied map written.
    pub as_applied: PathBuf,
    /// The report's JSON written in the run folder.
    pub report_json: PathBuf,
    /// Ctrl-C cut the drive short.
    pub interrupted: bool,
    /// How late the latest epoch was written (a machine too busy for the speed-up).
    pub max_late: Duration,
    /// Real time from the first epoch to the last.
    pub drive_wall: Duration,
    /// Real time from the first epoch until the sprayer had handled the last fix (it
    /// went safe for want of more): how long the system took over the drive.
    pub system_wall: Option<Duration>,
    /// Each time the receiver lost its fix while spraying: how long until the board
    /// closed a valve ([`field::fix_loss_reactions`]).
    pub fix_loss_reactions: Vec<Duration>,
    /// The peak resident memory of this process (the embedded router, the supervisor,
    /// the virtual devices) and of each program it started, at the end of the drive.
    pub memory: Vec<ProcessMemory>,
}

/// A process's peak resident memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessMemory {
    /// Its name (`verger-map`...).
    pub name: String,
    /// Its pid.
    pub pid: u32,
    /// Peak resident set (`VmHWM`), KiB.
    pub peak_kib: u64,
}

/// This process and every process under it, with their peak resident memory (Linux
/// `/proc`; empty elsewhere).
fn memory_of_tree() -> Vec<ProcessMemory> {
    let me = std::process::id();
    let mut all: Vec<(u32, u32, ProcessMemory)> = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(status) = std::fs::read_to_string(entry.path().join("status")) else {
            continue;
        };
        let field = |key: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .map(|v| v.trim().to_owned())
        };
        let ppid = field("PPid:").and_then(|v| v.parse().ok()).unwrap_or(0);
        let peak_kib = field("VmHWM:")
            .and_then(|v| v.trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0);
        let name = field("Name:").unwrap_or_default();
        all.push((
            pid,
            ppid,
            ProcessMemory {
                name,
                pid,
                peak_kib,
            },
        ));
    }
    let mut tree = vec![me];
    let mut i = 0;
    while i < tree.len() {
        let parent = tree[i];
        tree.extend(
            all.iter()
                .filter(|(_, pp, _)| *pp == parent)
                .map(|(p, _, _)| *p),
        );
        i += 1;
    }
    tree.iter()
        .filter_map(|pid| {
            all.iter()
                .find(|(p, _, _)| p == pid)
                .map(|(_, _, m)| m.clone())
        })
        .collect()
}

/// What the observer sees through the router.
#[derive(Debug, Default)]
struct Seen {
    gnss_up: bool,
    sprayer: Option<SprayerStatePayload>,
    /// The sprayer has been ready once.
    sprayer_ready: bool,
    /// Entries into the safe state after it was ready (not at the end).
    fail_safe_events: u64,
    /// Counting stopped (the drive is over).
    frozen: bool,
    /// When the sprayer, after the drive, went safe for want of fixes: it has handled
    /// every fix.
    fixes_ended: Option<Instant>,
    applied: u64,
    treated_sides: std::collections::BTreeSet<(String, String)>,
    /// The last decision of each order: (plan, tree, section) → (window open, close,
    /// litres).
    decisions: BTreeMap<(String, String, String), (i64, i64, f64)>,
}

type Shared = Arc<Mutex<Seen>>;

/// Runs the simulation until the drive ends (or `stop` is cancelled: Ctrl-C), then
/// reports.
pub async fn simulate(options: &SimOptions, stop: CancellationToken) -> Result<Outcome, SimError> {
    let started = Instant::now();
    if !(options.speed.is_finite() && options.speed >= 1.0 && options.speed <= 1000.0) {
        return Err(SimError::Input(format!(
            "--speed {}: must be between 1 and 1000 (times real time)",
            options.speed
        )));
    }
    let run_dir = prepare_dir(&options.run_dir)?;
    let log = run_dir.join("components.log");

    // The configuration and the map.
    let (text, origin, base_dir) = match &options.config {
        Some(file) => {
            let text = std::fs::read_to_string(file)
                .map_err(|e| input(format!("{}: {e}", file.display())))?;
            let dir = file
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
            (text, file.display().to_string(), dir)
        }
        None => (
            DEMO_CONFIG.to_owned(),
            "config/demo.toml (built in)".to_owned(),
            run_dir.clone(),
        ),
    };
    // Its own errors first, with their lines in the file as written.
    RunConfig::from_toml_str(&text, &origin, &base_dir).map_err(input)?;
    let mut devices = config::Devices {
        gnss: run_dir.join("gnss"),
        board: run_dir.join("valve-board"),
        records: run_dir.join("records.db"),
        dose_state: run_dir.join("dose-settings.json"),
        map: None,
        router: options.router.clone(),
    };
    let first = config::prepare(&text, &origin, &devices).map_err(input)?;
    let (map_path, map_name) = resolve_map(options, &first, &base_dir, &run_dir)?;
    devices.map = Some(map_path.clone());
    let setup = config::prepare(&text, &origin, &devices).map_err(input)?;
    std::fs::write(run_dir.join("verger.toml"), &setup.text).map_err(input)?;
    let run_config = RunConfig::from_toml_str(
        &setup.text,
        &format!(
            "{origin} (as simulated: {})",
            run_dir.join("verger.toml").display()
        ),
        &base_dir,
    )
    .map_err(input)?;
    let map = MapDb::open_read_only(&map_path)
        .map_err(|e| input(format!("{}: {e}", map_path.display())))?;
    let orchard = Orchard::load(&map).map_err(|e| input(format!("{}: {e}", map_path.display())))?;

    // What the receiver sends.
    let (source, source_name) = match &options.track {
        Some(file) => {
            let track = Track::load(file).map_err(input)?;
            let name = format!(
                "track {} ({}) on {map_name}",
                file.display(),
                track.format()
            );
            (Source::Track(track), name)
        }
        None => {
            // Out of each alley until the nozzles (behind the antenna) have left the
            // last canopy, as a driver does.
            let overhang = setup
                .map_sections
                .iter()
                .map(|s| -s.forward_m)
                .fold(0.0, f64::max);
            let mut drive_options = options.drive.clone();
            drive_options.row_end_margin_m = drive_options.row_end_margin_m.max(overhang + 2.0);
            let drive = Drive::from_map(&map, drive_options.clone()).map_err(|e| {
                input(format!(
                    "{}: no drive through this map: {e}",
                    map_path.display()
                ))
            })?;
            let name = format!(
                "{map_name}, synthetic drive through its {} alleys at {:.1} km/h",
                drive.alleys().len(),
                drive_options.speed_mps * 3.6
            );
            (Source::Drive(drive), name)
        }
    };
    drop(map);
    let receiver_config = ReceiverConfig {
        rate_hz: options.rate_hz,
        speed: options.speed,
        track: TrackOptions {
            quality: options.track_quality,
            ..TrackOptions::default()
        },
    };
    let mut receiver =
        VirtualReceiver::prepare(&devices.gnss, &source, &receiver_config).map_err(input)?;
    let (g0, driven_s) = {
        let replay_first = receiver.truth().first().map(|p| p.time_us);
        (
            replay_first,
            receiver.expected_duration().as_secs_f64() * options.speed,
        )
    };
    let max = verger::valve_board::MAX_SECTIONS;
    let board_sections = u8::try_from(setup.board_sections.len())
        .ok()
        .filter(|n| (1..=max).contains(&usize::from(*n)))
        .ok_or_else(|| {
            input(format!(
                "{origin}: the sprayer has {} sections; the virtual board has 1 to {max}",
                setup.board_sections.len(),
            ))
        })?;
    let board = VirtualBoard::open(
        &devices.board,
        VirtualBoardConfig {
            sections: board_sections,
            valve_latency: setup.valve_latency.div_f64(options.speed),
            ..VirtualBoardConfig::default()
        },
    )
    .map_err(|e| input(format!("{}: {e}", devices.board.display())))?;

    // The system.
    let programs = options.programs.clone().or_else(supervisor::exe_dir);
    let launches = supervisor::check(&run_config, programs.as_deref(), &run_dir.join("check"))
        .map_err(|f| {
            SimError::Input(
                f.0.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("\n"),
            )
        })?;
    let supervisor_stop = CancellationToken::new();
    let (url_tx, url_rx) = oneshot::channel();
    let runtime_dir = run_dir.join("run");
    std::fs::create_dir_all(&runtime_dir).map_err(input)?;
    let realm = run_config.realm.clone();
    let system = {
        let stop = supervisor_stop.clone();
        let options = RunOptions {
            runtime_dir,
            stop,
            forced: CancellationToken::new(),
            output: OutputTo::File(log.clone()),
            env: vec![(
                verger::clock::TIME_SCALE_ENV.to_owned(),
                options.speed.to_string(),
            )],
            router_url: Some(url_tx),
        };
        tokio::spawn(async move { supervisor::run(&run_config, launches, options).await })
    };
    let outcome = drive_and_observe(options, &stop, url_rx, &realm, &mut receiver, &log).await;
    let memory = memory_of_tree();
    // Stop the system whatever happened: the sprayer first.
    supervisor_stop.cancel();
    let stopped = system.await;
    let (seen, interrupted, progress) = outcome?;
    match stopped {
        Ok(Ok(summary)) if summary.clean() => {}
        Ok(Ok(summary)) => {
            return Err(SimError::Run(format!(
                "the components did not stop in time: {} (see {})",
                summary.overran.join(", "),
                log.display()
            )))
        }
        Ok(Err(e)) => return Err(SimError::Run(format!("the system: {e}"))),
        Err(e) => return Err(SimError::Run(format!("the system's task: {e}"))),
    }

    // The report.
    let timeline = Timeline {
        t0: progress.started.unwrap_or(started).into_std(),
        g0: g0.unwrap_or(0),
        speed: options.speed,
    };
    let map_sections = setup.map_sections.clone();
    let section_of_output: Vec<Option<usize>> = setup
        .board_sections
        .iter()
        .map(|id| map_sections.iter().position(|s| &s.id == id))
        .collect();
    let records = read_records(&devices.records, &setup.board_sections)?;
    let log_changes = board.log();
    let mut sprays = field::spray_intervals(&log_changes, &timeline, setup.valve_latency, &records);
    // Sections the map does not plan for cannot be placed: left out (none in a sane
    // configuration: the map's and the sprayer's ids are the same).
    sprays.retain_mut(
        |s| match section_of_output.get(s.section).copied().flatten() {
            Some(i) => {
                s.section = i;
                true
            }
            None => false,
        },
    );
    let truth = receiver.truth().to_vec();
    let path = field::path(&truth, &orchard.frame);
    let intended = field::intended(&seen.decisions, &map_sections, &records);
    let sections = field::section_geoms(&map_sections);
    let invalid = field::invalid_spans(&truth, verger::contract::gnss::FIX_MAX_AGE);
    let input = ReportInput {
        trees: &orchard.trees,
        trees_in_field: orchard.in_field,
        boundary: (!orchard.boundary.is_empty()).then_some(orchard.boundary.as_slice()),
        zones: &orchard.zones,
        sections: &sections,
        path: &path,
        sprays: &sprays,
        intended: &intended,
        invalid_fix: &invalid,
        fail_safe_events: seen.fail_safe_events,
        baseline_l_per_ha: setup.baseline_l_per_ha,
    };
    let report = report(&input);
    let facts = RunFacts {
        source: source_name,
        driven_s: if interrupted {
            progress
                .gnss_time_us
                .zip(g0)
                .map_or(0.0, |(t, g)| (t - g) as f64 / 1e6)
        } else {
            driven_s
        },
        distance_m: progress.distance_m,
        speed: options.speed,
        wall_s: started.elapsed().as_secs_f64(),
        baseline_l_per_ha: setup.baseline_l_per_ha,
    };
    let as_applied = run_dir.join("as-applied.geojson");
    std::fs::File::create(&as_applied)
        .and_then(|file| {
            render::write_as_applied(
                file,
                &report,
                &orchard.frame,
                &orchard.trees,
                &sections,
                &path,
                &sprays,
            )
        })
        .map_err(|e| SimError::Run(format!("{}: {e}", as_applied.display())))?;
    let report_json = run_dir.join("report.json");
    write_json(&report_json, &report)?;
    let fix_loss_reactions = field::fix_loss_reactions(
        &receiver
            .written()
            .iter()
            .map(|i| i.into_std())
            .collect::<Vec<_>>(),
        receiver.qualities(),
        &log_changes,
        Duration::from_millis(500),
    );
    Ok(Outcome {
        report,
        facts,
        run_dir,
        log,
        as_applied,
        report_json,
        interrupted,
        max_late: progress.max_late,
        drive_wall: progress.elapsed,
        system_wall: seen
            .fixes_ended
            .zip(progress.started)
            .map(|(end, start)| end.saturating_duration_since(start)),
        fix_loss_reactions,
        memory,
    })
}

/// Writes `value` as pretty JSON.
pub fn write_json(path: &Path, value: &impl serde::Serialize) -> Result<(), SimError> {
    let text = serde_json::to_string_pretty(value).map_err(|e| SimError::Run(e.to_string()))?;
    std::fs::write(path, text + "\n").map_err(|e| input(format!("{}: {e}", path.display())))
}

/// The run folder, made if needed, without what an earlier run left there.
fn prepare_dir(dir: &Path) -> Result<PathBuf, SimError> {
    std::fs::create_dir_all(dir).map_err(|e| input(format!("{}: {e}", dir.display())))?;
    let dir = std::path::absolute(dir).map_err(input)?;
    for name in [
        "records.db",
        "records.db-wal",
        "records.db-shm",
        "dose-settings.json",
        "components.log",
        "report.json",
        "as-applied.geojson",
        "verger.toml",
        "gnss",
        "valve-board",
    ] {
        let _ = std::fs::remove_file(dir.join(name));
    }
    Ok(dir)
}

/// The map database to use and what to call it: `--map` (a database as it is, another
/// file imported into the run folder), else the file's `map.db`, else the demo.
fn resolve_map(
    options: &SimOptions,
    setup: &config::SimSetup,
    base_dir: &Path,
    run_dir: &Path,
) -> Result<(PathBuf, String), SimError> {
    if let Some(file) = &options.map {
        let name = format!("map {}", file.display());
        let file = std::path::absolute(file).map_err(input)?;
        if is_sqlite(&file).map_err(|e| input(format!("{}: {e}", file.display())))? {
            return Ok((file, name));
        }
        let db = run_dir.join("map.db");
        let _ = std::fs::remove_file(&db);
        MapDb::import(
            &db,
            std::slice::from_ref(&file),
            &ImportOptions::default(),
            &mut |_| {},
        )
        .map_err(|e| input(format!("--map {}: {e}", file.display())))?;
        return Ok((db, name));
    }
    if let Some(db) = setup.file_map.as_ref().filter(|_| options.config.is_some()) {
        let path = base_dir.join(db);
        return Ok((path.clone(), format!("map {}", path.display())));
    }
    let db = run_dir.join("demo-orchard.db");
    let _ = std::fs::remove_file(&db);
    crate::orchard::import_demo(&db).map_err(input)?;
    Ok((db, "the demo orchard".to_owned()))
}

fn is_sqlite(file: &Path) -> std::io::Result<bool> {
    use std::io::Read;
    let mut head = [0u8; 16];
    let mut f = std::fs::File::open(file)?;
    let n = f.read(&mut head)?;
    Ok(n == 16 && &head == b"SQLite format 3\0")
}

/// The sprays of the run's record, with their board outputs.
fn read_records(db: &Path, board_sections: &[String]) -> Result<Vec<Recorded>, SimError> {
    if !db.exists() {
        return Ok(Vec::new());
    }
    let records = RecordDb::open_read_only(db)
        .and_then(|db| db.sprays(None, None))
        .map_err(|e| SimError::Run(format!("{}: {e}", db.display())))?;
    Ok(records
        .into_iter()
        .filter_map(|r: AppliedRecord| {
            let output = board_sections.iter().position(|s| *s == r.section)?;
            Some(Recorded {
                tree_id: r.tree_id,
                section: r.section,
                output,
                from: verger::contract::gnss::unix_micros(&r.opened_at)?,
                to: verger::contract::gnss::unix_micros(&r.closed_at)?,
                flow_l_min: r.flow_l_min,
                intended_l: r.intended_volume_l,
            })
        })
        .collect())
}

/// Connect, wait for the components, drive, wait for the sprayer to settle.
async fn drive_and_observe(
    options: &SimOptions,
    stop: &CancellationToken,
    url: oneshot::Receiver<String>,
    realm: &str,
    receiver: &mut VirtualReceiver,
    log: &Path,
) -> Result<(Seen, bool, Progress), SimError> {
    let failed = |what: String| SimError::Run(format!("{what}\n{}", tail(log, 15)));
    let url = tokio::select! {
        u = url => u.map_err(|_| failed("the system stopped before its router was up".into()))?,
        _ = stop.cancelled() => return Err(SimError::Run("interrupted".into())),
    };
    if options.progress {
        // For a client of one's own (watching the run, or a module started by hand).
        eprintln!("verger sim: router {url} (realm {realm})");
    }
    let args = ComponentArgs {
        realm: realm.to_owned(),
        ..ComponentArgs::for_router(&url)
    };
    let client =
        Client::start(args.client_config("sim")).map_err(|e| SimError::Run(e.to_string()))?;
    let seen: Shared = Arc::default();
    let (changed_tx, mut changed) = watch::channel(());
    let observer = tokio::spawn(observe(client.clone(), seen.clone(), changed_tx));
    let mut progress_line = ProgressLine::new(options.progress, options.speed);

    // Wait for everything.
    let deadline = Instant::now() + READY_TIMEOUT;
    let mut missing;
    loop {
        missing = Vec::new();
        {
            let s = seen.lock().expect("observer state");
            if !s.gnss_up {
                missing.push("verger-gnss (its status on orchard.gnss.status)".to_owned());
            }
            if s.sprayer
                .as_ref()
                .is_none_or(|p| p.state == SprayerState::Gone)
            {
                missing.push("the sprayer (its state on orchard.sprayer.state)".to_owned());
            }
        }
        for (who, uri) in [
            ("the map", verger::contract::map::INFO),
            ("the dose module", verger::contract::dose::TREAT),
        ] {
            if !registered(&client, uri).await {
                missing.push(format!("{who} ({uri} registered)"));
            }
        }
        if missing.is_empty() {
            break;
        }
        progress_line.waiting(&missing);
        tokio::select! {
            _ = stop.cancelled() => {
                observer.abort();
                return Err(SimError::Run("interrupted while the components started".into()));
            }
            _ = tokio::time::sleep_until(deadline) => {
                observer.abort();
                return Err(failed(format!(
                    "the system did not come up within {READY_TIMEOUT:?}: waiting for {}",
                    missing.join(", ")
                )));
            }
            _ = changed.changed() => {}
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
    }

    // Drive.
    receiver.start();
    let mut interrupted = false;
    let mut ticker = tokio::time::interval(Duration::from_millis(200));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    // Fail-safe events stop counting the moment the last epoch is written: the sprayer
    // closing for want of fixes after it is the end of the drive, not an event.
    let finished = {
        let seen = seen.clone();
        let mut rx = receiver.progress_watch();
        tokio::spawn(async move {
            let _ = rx.wait_for(|p| p.finished).await;
            seen.lock().expect("observer state").frozen = true;
        })
    };
    let progress = loop {
        let p = receiver.progress();
        if p.finished {
            break p;
        }
        progress_line.show(&p, &seen);
        tokio::select! {
            _ = stop.cancelled() => { interrupted = true; break receiver.progress(); }
            _ = ticker.tick() => {}
        }
    };
    finished.abort();
    seen.lock().expect("observer state").frozen = true;
    progress_line.show(&progress, &seen);

    // Let the sprayer finish: every fix handled (it went safe when they stopped), valves
    // closed, records committed.
    let settle = Instant::now() + SETTLE_TIMEOUT;
    loop {
        let done = {
            let s = seen.lock().expect("observer state");
            s.sprayer.as_ref().is_some_and(|p| {
                p.valves.iter().all(|v| !v.open) && p.pending == 0 && p.records == s.applied
            }) && (s.fixes_ended.is_some() || sprayer_safe(&s))
        };
        if done || interrupted || Instant::now() >= settle {
            break;
        }
        tokio::select! {
            _ = changed.changed() => {}
            _ = tokio::time::sleep(Duration::from_millis(50)) => {}
            _ = stop.cancelled() => break,
        }
    }
    progress_line.finish();
    observer.abort();
    let _ = client.close().await;
    let seen = std::mem::take(&mut *seen.lock().expect("observer state"));
    Ok((seen, interrupted, progress))
}

/// The sprayer holds its valves closed for a fault (not at its start).
fn sprayer_safe(s: &Seen) -> bool {
    s.sprayer.as_ref().is_some_and(|p| {
        p.state == SprayerState::Safe && p.safe_reason != Some(SafeReason::Starting)
    })
}

/// Whether `uri` is registered (the meta API: verger's router, Crossbar.io...).
async fn registered(client: &Client, uri: &str) -> bool {
    let lookup = client.call(
        "wamp.registration.lookup",
        vec![Value::from(uri)],
        Dict::new(),
    );
    match tokio::time::timeout(Duration::from_secs(2), lookup).await {
        Ok(Ok(r)) => r.args.first().is_some_and(|v| !v.is_null()),
        _ => false,
    }
}

/// Follows the components through the router.
async fn observe(client: Client, seen: Shared, changed: watch::Sender<()>) {
    let retained = SubscribeOptions {
        get_retained: true,
        ..SubscribeOptions::default()
    };
    let (Ok(mut status), Ok(mut state), Ok(mut applied), Ok(mut decisions)) = (
        client.subscribe(GNSS_STATUS, retained.clone()).await,
        client.subscribe(STATE_TOPIC, retained).await,
        client
            .subscribe(APPLIED_TOPIC, SubscribeOptions::default())
            .await,
        client
            .subscribe(DECISION_TOPIC, SubscribeOptions::default())
            .await,
    ) else {
        return;
    };
    loop {
        tokio::select! {
            Some(e) = status.recv() => {
                if let Ok(p) = e.value_as::<StatusPayload>() {
                    let mut s = seen.lock().expect("observer state");
                    s.gnss_up |= !matches!(p.state, ReceiverState::Gone | ReceiverState::PortLost);
                }
            }
            Some(e) = state.recv() => {
                if let Ok(p) = e.value_as::<SprayerStatePayload>() {
                    let mut s = seen.lock().expect("observer state");
                    let was_ready = s.sprayer.as_ref().is_some_and(|o| o.state == SprayerState::Ready);
                    if p.state == SprayerState::Ready {
                        s.sprayer_ready = true;
                    }
                    let entered_safe = p.state == SprayerState::Safe
                        && p.safe_reason != Some(SafeReason::Starting);
                    if was_ready && entered_safe && s.sprayer_ready && !s.frozen {
                        s.fail_safe_events += 1;
                    }
                    if s.frozen && p.safe_reason == Some(SafeReason::NoFix) && s.fixes_ended.is_none() {
                        s.fixes_ended = Some(Instant::now());
                    }
                    s.sprayer = Some(p);
                }
            }
            Some(e) = applied.recv() => {
                if let Ok(r) = e.value_as::<AppliedRecord>() {
                    let mut s = seen.lock().expect("observer state");
                    s.applied += 1;
                    s.treated_sides.insert((r.tree_id, r.section));
                }
            }
            Some(e) = decisions.recv() => {
                if let Ok(d) = e.value_as::<TreatResult>() {
                    let mut s = seen.lock().expect("observer state");
                    let key = (d.plan_id, d.tree_id, d.section);
                    let window = d.window.as_ref().and_then(|w| {
                        Some((unix_micros(&w.open)?, unix_micros(&w.close)?))
                    });
                    match (d.intended_volume_l, window) {
                        (Some(l), Some((from, to))) if !d.withdrawn => {
                            s.decisions.insert(key, (from, to, l));
                        }
                        // Withdrawn: nothing was meant for this order after all.
                        _ if d.withdrawn => { s.decisions.remove(&key); }
                        _ => {}
                    }
                }
            }
            else => return,
        }
        let _ = changed.send(());
    }
}

/// The live progress line on stderr (a terminal only).
struct ProgressLine {
    on: bool,
    speed: f64,
    shown: bool,
}

impl ProgressLine {
    fn new(wanted: bool, speed: f64) -> ProgressLine {
        ProgressLine {
            on: wanted && std::io::stderr().is_terminal(),
            speed,
            shown: false,
        }
    }

    fn print(&mut self, line: &str) {
        if self.on {
            use std::io::Write;
            let mut e = std::io::stderr().lock();
            let _ = write!(e, "\r\x1b[2K{line}");
            let _ = e.flush();
            self.shown = true;
        }
    }

    fn waiting(&mut self, missing: &[String]) {
        self.print(&format!("starting: waiting for {}", missing.join(", ")));
    }

    fn show(&mut self, p: &Progress, seen: &Shared) {
        if !self.on {
            return;
        }
        let treated = seen.lock().expect("observer state").treated_sides.len();
        let driven = p.elapsed.as_secs_f64() * self.speed;
        let quality = p.quality.map_or("no fix yet", EpochQuality::as_str);
        self.print(&format!(
            "{:>4}:{:02} driven · {:>6.0} m · {treated} tree sides treated · {quality} · {}× · {:>3.0} %",
            (driven / 60.0) as u64,
            (driven % 60.0) as u64,
            p.distance_m,
            self.speed,
            100.0 * p.epochs_sent as f64 / p.epochs_total.max(1) as f64,
        ));
    }

    fn finish(&mut self) {
        if self.shown {
            eprintln!();
        }
    }
}

/// The last `n` lines of the components' output, to show with an error.
fn tail(log: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let from = lines.len().saturating_sub(n);
    format!(
        "last lines of {}:\n{}",
        log.display(),
        lines[from..].join("\n")
    )
}
