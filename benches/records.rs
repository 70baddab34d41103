//! As-applied record benchmark: sprays committed per second to a record database in WAL
//! mode with `synchronous = FULL` (every commit synced to the disk), on a file in the
//! system's temporary folder (it must be on a real disk, not tmpfs, for the figures to
//! mean anything: the benchmark prints the folder's file system). Plain `main`:
//! `cargo bench --bench records [-- SECONDS]` (3 s per measurement by default).
//!
//! (a) one `RecordWriter::commit` at a time, each awaited before the next (a sprayer
//!     with one section closing its valves one after another);
//! (b) 64 tasks committing concurrently (group commit: each transaction takes what is
//!     queued);
//! (c) `RecordDb::insert_batch` of 256 sprays at a time, no writer thread.
//!
//! Prints a Markdown table: sprays/s, transactions/s, sprays per transaction, and the
//! latency of one commit as its caller sees it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use verger::contract::sprayer::AppliedRecord;
use verger::contract::ContractPayload;
use verger::records::{NewRecord, RecordDb, RecordWriter};
use verger_testkit::TempDir;

fn spray(n: usize) -> NewRecord {
    let mut r = NewRecord::from(AppliedRecord::examples().remove(0));
    r.tree_id = format!("B-{n:06}");
    r.plan_id = format!("B-{n:06}@right:1");
    r
}

/// Sprays and transactions of a measurement, and each commit's latency.
struct Run {
    sprays: usize,
    transactions: usize,
    secs: f64,
    latencies: Vec<Duration>,
}

/// `tasks` committers, each awaiting its commit before the next, for `limit`.
fn committers(dir: &TempDir, tasks: usize, limit: Duration) -> Run {
    let path = dir.path(&format!("committers-{tasks}.db"));
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let writer = Arc::new(RecordWriter::open(&path).expect("open"));
        let start = Instant::now();
        let handles: Vec<_> = (0..tasks)
            .map(|task| {
                let writer = writer.clone();
                tokio::spawn(async move {
                    let mut latencies = Vec::new();
                    while start.elapsed() < limit {
                        let t = Instant::now();
                        let n = task * 1_000_000 + latencies.len();
                        writer.commit(spray(n)).await.expect("commit");
                        latencies.push(t.elapsed());
                    }
                    latencies
                })
            })
            .collect();
        let mut latencies = Vec::new();
        for h in handles {
            latencies.extend(h.await.expect("task"));
        }
        let secs = start.elapsed().as_secs_f64();
        let writer = Arc::into_inner(writer).expect("one owner");
        let transactions = writer.transactions() as usize;
        writer.close().await.expect("close");
        Run {
            sprays: latencies.len(),
            transactions,
            secs,
            latencies,
        }
    })
}

fn batches(dir: &TempDir, size: usize, limit: Duration) -> Run {
    let path = dir.path("batches.db");
    let mut db = RecordDb::create_or_open(&path).expect("open");
    let start = Instant::now();
    let mut latencies = Vec::new();
    while start.elapsed() < limit {
        let batch: Vec<NewRecord> = (0..size)
            .map(|i| spray(latencies.len() * size + i))
            .collect();
        let t = Instant::now();
        db.insert_batch(&batch).expect("insert");
        latencies.push(t.elapsed());
    }
    Run {
        sprays: latencies.len() * size,
        transactions: latencies.len(),
        secs: start.elapsed().as_secs_f64(),
        latencies,
    }
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1e3)
}

fn row(name: &str, mut run: Run) {
    run.latencies.sort_unstable();
    let at = |q: f64| run.latencies[((run.latencies.len() - 1) as f64 * q).round() as usize];
    println!(
        "| {name} | {:.0} | {:.0} | {:.1} | {} | {} | {} |",
        run.sprays as f64 / run.secs,
        run.transactions as f64 / run.secs,
        run.sprays as f64 / run.transactions.max(1) as f64,
        ms(at(0.5)),
        ms(at(0.99)),
        ms(*run.latencies.last().expect("one commit at least")),
    );
}

fn main() {
    let secs: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(3);
    let limit = Duration::from_secs(secs);
    let dir = TempDir::new("records-bench");
    let fs = std::process::Command::new("df")
        .args([
            "--output=fstype,source",
            dir.0.to_str().expect("utf-8 path"),
        ])
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|t| {
            t.lines()
                .nth(1)
                .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        })
        .unwrap_or_else(|| "unknown".into());
    println!(
        "record database in {} ({fs}), WAL, synchronous = FULL, {secs} s per row",
        dir.0.display()
    );
    println!();
    println!("| measurement | sprays/s | transactions/s | sprays per transaction | commit p50 ms | p99 ms | max ms |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    row("(a) `commit`, one at a time", committers(&dir, 1, limit));
    row(
        "(b) `commit`, 64 concurrent tasks",
        committers(&dir, 64, limit),
    );
    row("(c) `insert_batch` of 256", batches(&dir, 256, limit));
}
