//! A sprayer reduced to its record (used by `tests/kit/tests/records_crash.rs`): opens
//! a `RecordWriter` on `--db`, prints `ready`, then commits sprays as fast as it can from
//! `--tasks` concurrent tasks, printing each committed record as one line of JSON on
//! stdout (flushed) only once `commit` returned, as the sprayer publishes a spray only
//! once it is recorded. It runs until it is killed.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use clap::Parser;
use verger::contract::sprayer::SprayEnd;
use verger::records::{NewRecord, RecordWriter};

#[derive(Debug, Parser)]
#[command(name = "verger-records-probe")]
struct Cli {
    /// The record database (created if absent).
    #[arg(long)]
    db: PathBuf,
    /// Concurrent committers.
    #[arg(long, default_value_t = 32)]
    tasks: usize,
}

/// Spray `n` of task `task`: every field set from the two numbers, the optional ones
/// present or not, every way of ending.
fn spray(task: usize, n: usize) -> NewRecord {
    let at = 1_776_157_200_000_000 + (n * 1_000 + task) as i64 * 1_000;
    let time = |us: i64| verger::civil::rfc3339_from_unix_micros(us, 3);
    let known = !n.is_multiple_of(3);
    let lat = 44.1 + task as f64 * 1e-4 + n as f64 * 1e-7;
    NewRecord {
        plan_id: format!("P-{task}-{n}@right:{n}"),
        revision: (n % 4) as u32 + 1,
        tree_id: format!("P-{task}-{n}"),
        section: if n.is_multiple_of(2) { "left" } else { "right" }.into(),
        opened_at: time(at),
        closed_at: time(at + 650_000),
        open_lat: known.then_some(lat),
        open_lon: known.then_some(1.08 + n as f64 * 1e-7),
        close_lat: (!n.is_multiple_of(5)).then_some(lat + 1e-5),
        close_lon: (!n.is_multiple_of(5)).then_some(1.08 + n as f64 * 1e-7),
        flow_l_min: 11.6,
        volume_l: 0.125 + n as f64 * 1e-6,
        intended_volume_l: 0.13,
        product: "Exemplar 80 WG".into(),
        authorisation: "2990001".into(),
        target_pest: "apple scab (Venturia inaequalis)".into(),
        parcel: known.then(|| "FICTITIOUS-82-0001".into()),
        crop: Some("apple, \"Gala\"".into()),
        operator: (!n.is_multiple_of(7)).then(|| "J. Martin".into()),
        end: SprayEnd::ALL[n % SprayEnd::ALL.len()],
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("verger-records-probe: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let writer = match RecordWriter::open(&cli.db) {
            Ok(w) => Arc::new(w),
            Err(e) => {
                eprintln!("verger-records-probe: {e}");
                return ExitCode::FAILURE;
            }
        };
        let stdout = Arc::new(Mutex::new(std::io::stdout()));
        let say = |stdout: &Mutex<std::io::Stdout>, line: &str| {
            let mut out = stdout.lock().unwrap_or_else(|e| e.into_inner());
            writeln!(out, "{line}").and_then(|()| out.flush())
        };
        if say(&stdout, "ready").is_err() {
            return ExitCode::FAILURE;
        }
        let mut tasks = tokio::task::JoinSet::new();
        for task in 0..cli.tasks {
            let writer = writer.clone();
            let stdout = stdout.clone();
            tasks.spawn(async move {
                for n in 0.. {
                    let record = match writer.commit(spray(task, n)).await {
                        Ok(r) => r,
                        Err(e) => return Err(e.to_string()),
                    };
                    let line = serde_json::to_string(&record).map_err(|e| e.to_string())?;
                    say(&stdout, &line).map_err(|e| e.to_string())?;
                }
                Ok(())
            });
        }
        while let Some(done) = tasks.join_next().await {
            if let Ok(Err(e)) = done {
                eprintln!("verger-records-probe: {e}");
                return ExitCode::FAILURE;
            }
        }
        ExitCode::SUCCESS
    })
}
