//! `verger-sim` (run as `verger sim`): the whole system on a simulated tractor, and its
//! treatment report. docs/simulator.md.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use tokio_util::sync::CancellationToken;
use verger_sim::nmea_out::EpochQuality;
use verger_sim::report::render;
use verger_sim::scenario::{self, Scenario};
use verger_sim::session::{self, SimOptions, DEFAULT_SPEED};

/// Run the whole system on a simulated tractor: the router and the four components as
/// their own processes, a virtual GNSS receiver driving the orchard and a virtual valve
/// board, both on pseudo-terminals; then the treatment report.
#[derive(Debug, Parser)]
#[command(name = "verger sim", bin_name = "verger sim", version)]
struct Args {
    /// The orchard: a map database, or any file `verger map import` takes [default: the
    /// file's `map.db`, else the demo orchard].
    #[arg(long, value_name = "PATH")]
    map: Option<PathBuf>,
    /// Replay a recorded track (NMEA or gpsd log, `verger record` file, GPX, CSV)
    /// instead of driving every alley of the map.
    #[arg(long, value_name = "FILE")]
    track: Option<PathBuf>,
    /// The fix quality of a track that has none (GPX, CSV): rtk_fixed, rtk_float, dgps,
    /// autonomous, dead_reckoning, invalid, simulated [default: rtk_fixed].
    #[arg(long, value_name = "QUALITY")]
    track_quality: Option<String>,
    /// The verger.toml to run (the same file as `verger run`), with the virtual receiver
    /// and board in place of the serial ports [default: config/demo.toml].
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Use an existing WAMP router (e.g. Crossbar.io) instead of the embedded one.
    #[arg(long, value_name = "URL")]
    router: Option<String>,
    /// Run N times faster than real time (1 to 1000) [default: 70].
    #[arg(long, value_name = "N")]
    speed: Option<f64>,
    /// Write the report as JSON here (the GeoJSON as-applied map goes beside it, with
    /// the extension .geojson).
    #[arg(long, value_name = "PATH")]
    report: Option<PathBuf>,
    /// A scenario file: what to run ([run], [drive]) and the limits the run must meet
    /// ([expect]); exit status 1 when it falls short.
    #[arg(long, value_name = "FILE")]
    scenario: Option<PathBuf>,
    /// The run folder (map, verger.toml run, components' output, record, report)
    /// [default: a new folder under the system's temporary folder].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// No progress line (for scripts); the report is still printed.
    #[arg(long)]
    quiet: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("verger sim: {message}");
            ExitCode::from(2)
        }
    }
}

fn run(args: Args) -> Result<ExitCode, String> {
    let scenario = match &args.scenario {
        Some(file) => Scenario::load(file).map_err(|e| e.to_string())?,
        None => Scenario::default(),
    };
    let run_dir = match &args.out {
        Some(dir) => dir.clone(),
        None => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            let stamp = verger::civil::rfc3339_from_unix(now as i64, 0, 0).replace(':', "");
            std::env::temp_dir().join(format!("verger-sim-{stamp}-{}", std::process::id()))
        }
    };
    let quality = args
        .track_quality
        .as_deref()
        .or(scenario.run.track_quality.as_deref())
        .map(|q| {
            EpochQuality::parse(q).ok_or_else(|| {
                format!(
                    "--track-quality {q}: rtk_fixed, rtk_float, dgps, autonomous, dead_reckoning, invalid or simulated"
                )
            })
        })
        .transpose()?
        .unwrap_or(EpochQuality::RTK_FIXED);
    let options = SimOptions {
        map: args.map.or(scenario.run.map.clone()),
        track: args.track.or(scenario.run.track.clone()),
        track_quality: quality,
        config: args.config.or(scenario.run.config.clone()),
        router: args.router,
        speed: args.speed.or(scenario.run.speed).unwrap_or(DEFAULT_SPEED),
        rate_hz: scenario.drive.rate_hz,
        drive: scenario.drive.options(),
        run_dir,
        progress: !args.quiet,
        programs: None,
    };
    if !(options.speed.is_finite() && (1.0..=1000.0).contains(&options.speed)) {
        return Err(format!(
            "--speed {}: must be between 1 and 1000 (times real time)",
            options.speed
        ));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let outcome = runtime.block_on(async {
        let stop = CancellationToken::new();
        let on_signal = stop.clone();
        tokio::spawn(async move {
            use tokio::signal::unix::{signal, SignalKind};
            let (Ok(mut int), Ok(mut term)) = (
                signal(SignalKind::interrupt()),
                signal(SignalKind::terminate()),
            ) else {
                return;
            };
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            on_signal.cancel();
        });
        if !args.quiet {
            eprintln!(
                "verger sim: run folder {} (components' output: components.log)",
                options.run_dir.display()
            );
        }
        session::simulate(&options, stop).await
    });
    let outcome = outcome.map_err(|e| e.to_string())?;
    print!("{}", render::table(&outcome.report, &outcome.facts));
    if outcome.interrupted {
        println!("Interrupted: the report covers the part driven.");
    }
    println!(
        "Report: {}\nAs-applied map: {}\nRecord: {}",
        outcome.report_json.display(),
        outcome.as_applied.display(),
        outcome.run_dir.join("records.db").display()
    );
    if let Some(path) = &args.report {
        session::write_json(path, &outcome.report).map_err(|e| e.to_string())?;
        let geojson = path.with_extension("geojson");
        std::fs::copy(&outcome.as_applied, &geojson)
            .map_err(|e| format!("{}: {e}", geojson.display()))?;
    }
    let shortfalls = scenario::check(&outcome.report, &scenario.expect);
    if shortfalls.is_empty() {
        if args.scenario.is_some() {
            println!("Scenario: every limit met.");
        }
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("verger sim: the run falls short of the scenario:");
        for s in &shortfalls {
            eprintln!("  {s}");
        }
        Ok(ExitCode::from(1))
    }
}
