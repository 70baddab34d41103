//! What the `verger sim` tests share: small orchards, running verger-sim, reading its
//! report.
#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use verger_sim::orchard::{demo_orchard, write_geojson, OrchardParams};

/// The demo orchard's first block, `rows` rows of `length_m`, no replanting gap: its
/// no-spray strip along the east edge still cuts into the last row's east face.
pub fn small_orchard(rows: u32, length_m: f64) -> OrchardParams {
    let mut p = demo_orchard();
    p.name = "small test orchard".into();
    p.row_length_m = length_m;
    p.blocks.truncate(1);
    p.blocks[0].rows = rows;
    p.replant_gaps.clear();
    p
}

pub fn write_map(dir: &Path, params: &OrchardParams) -> PathBuf {
    let file = dir.join("orchard.geojson");
    write_geojson(params, std::fs::File::create(&file).unwrap()).unwrap();
    file
}

pub fn fresh_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("verger-sim-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// One whole system at a time: five processes per run on a two-core machine are
/// enough, and timing is what these tests measure.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs `verger-sim ARGS --quiet --out DIR/run --report DIR/report.json`.
pub fn sim(args: &[&str], dir: &Path) -> (Output, Option<Value>) {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let report = dir.join("report.json");
    let _ = std::fs::remove_file(&report);
    let out = Command::new(env!("CARGO_BIN_EXE_verger-sim"))
        .args(args)
        .arg("--quiet")
        .arg("--out")
        .arg(dir.join("run"))
        .arg("--report")
        .arg(&report)
        .output()
        .expect("verger-sim runs");
    let json = std::fs::read_to_string(&report)
        .ok()
        .map(|t| serde_json::from_str(&t).expect("the report is JSON"));
    (out, json)
}

pub fn text(out: &Output) -> String {
    format!(
        "status {:?}\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

pub fn u(r: &Value, path: &str) -> u64 {
    r.pointer(path)
        .and_then(Value::as_u64)
        .unwrap_or_else(|| panic!("{path} in {r}"))
}

pub fn f(r: &Value, path: &str) -> f64 {
    r.pointer(path)
        .and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("{path} in {r}"))
}

pub fn assert_safe(r: &Value) {
    for field in [
        "/safety/sprays_outside_boundary",
        "/safety/sprays_in_no_spray_zones",
        "/safety/sprays_on_invalid_or_stale_fix",
    ] {
        assert_eq!(u(r, field), 0, "{field}");
    }
}
