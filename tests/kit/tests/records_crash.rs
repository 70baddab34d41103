//! "A kill -9 at any moment loses no record that was reported as applied, and the
//! database always opens": `verger-records-probe` commits sprays from 32 tasks and
//! prints each one once its commit returned; it is killed (SIGKILL) at varied moments,
//! round after round on the same file, and after each round the file opens (read-only
//! first, as an export after the crash would, then for writing, as the restarted
//! sprayer would), SQLite finds it sound and every record printed is in it as printed.

use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;

use nix::sys::signal::Signal;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{ChildStdout, Command};
use verger::records::{AppliedRecord, RecordDb};
use verger_testkit::{within, Process, TempDir};

const PROBE: &str = env!("CARGO_BIN_EXE_verger-records-probe");

/// When each round kills the probe: `None` as soon as it is started (while it starts,
/// opens or creates the file), `Some(n)` once it printed `ready` and then `n` records.
/// The long rounds take the write-ahead log past SQLite's checkpoint (1,000 pages,
/// about 10,000 sprays), so some kills land in or after one.
const ROUNDS: [Option<usize>; 11] = [
    None,
    Some(0),
    Some(1),
    Some(300),
    None,
    Some(40),
    Some(5_000),
    Some(0),
    Some(700),
    Some(12_000),
    Some(3),
];

/// The next line the probe printed: `None` at the end of its output, and for a line it
/// was killed in the middle of (no newline).
async fn next_line(out: &mut BufReader<ChildStdout>) -> Option<String> {
    let mut line = Vec::new();
    let n = within("the probe's next line", out.read_until(b'\n', &mut line))
        .await
        .expect("read the probe's stdout");
    (n > 0 && line.ends_with(b"\n")).then(|| {
        String::from_utf8(line)
            .expect("utf-8 line")
            .trim_end()
            .to_owned()
    })
}

fn record(line: &str) -> AppliedRecord {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"))
}

/// The file holds every reported record as reported, and SQLite finds it sound.
fn check(db: &RecordDb, reported: &[AppliedRecord], round: usize) {
    assert_eq!(
        db.integrity_check().expect("integrity check"),
        Vec::<String>::new(),
        "round {round}"
    );
    let stored: HashMap<i64, AppliedRecord> = db
        .sprays(None, None)
        .expect("read the sprays")
        .into_iter()
        .map(|r| (r.id, r))
        .collect();
    for r in reported {
        assert_eq!(stored.get(&r.id), Some(r), "round {round}: record {}", r.id);
    }
}

#[tokio::test]
async fn kill_9_at_any_moment_loses_no_reported_record() {
    let dir = TempDir::new("records-crash");
    let db = dir.path("records.db");
    let mut reported: Vec<AppliedRecord> = Vec::new();
    let mut created = false;
    for (round, kill_after) in ROUNDS.into_iter().enumerate() {
        let mut command = Command::new(PROBE);
        command
            .args(["--db", db.to_str().expect("utf-8 path"), "--tasks", "32"])
            .stdout(Stdio::piped());
        let mut probe = Process::spawn_command(command);
        let mut out = BufReader::new(probe.child.stdout.take().expect("stdout"));
        if let Some(n) = kill_after {
            assert_eq!(next_line(&mut out).await.as_deref(), Some("ready"));
            created = true;
            for _ in 0..n {
                let line = next_line(&mut out).await.expect("the probe runs");
                reported.push(record(&line));
            }
        }
        probe.signal(Signal::SIGKILL);
        let status = probe.wait().await;
        assert!(!status.success(), "round {round}: {status}");
        // What it printed before it died was committed too.
        while let Some(line) = next_line(&mut out).await {
            if line != "ready" {
                reported.push(record(&line));
            }
        }
        if created {
            check(&open_read_only(&db), &reported, round);
        }
        let writer = RecordDb::create_or_open(&db)
            .unwrap_or_else(|e| panic!("round {round}: the database does not open: {e}"));
        check(&writer, &reported, round);
    }
    let mut ids: Vec<i64> = reported.iter().map(|r| r.id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), reported.len(), "ids are unique");
    let least: usize = ROUNDS.into_iter().flatten().sum();
    assert!(
        reported.len() >= least,
        "{} records reported",
        reported.len()
    );
}

fn open_read_only(db: &Path) -> RecordDb {
    RecordDb::open_read_only(db).unwrap_or_else(|e| panic!("read-only after a kill: {e}"))
}
