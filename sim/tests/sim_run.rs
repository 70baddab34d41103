//! `verger sim` end to end: the verger-sim binary runs the router and the four
//! components as processes, the virtual receiver and board on ptys, and reports.
//! A small orchard (three rows of 40 m) keeps each run to a few seconds.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use verger_sim::orchard::{demo_orchard, write_geojson, OrchardParams};

fn small_orchard() -> OrchardParams {
    let mut p = demo_orchard();
    p.name = "small test orchard".into();
    p.row_length_m = 40.0;
    p.blocks.truncate(1);
    p.blocks[0].rows = 3;
    p.replant_gaps.clear();
    p
}

fn write_map(dir: &Path, params: &OrchardParams) -> PathBuf {
    let file = dir.join("orchard.geojson");
    write_geojson(params, std::fs::File::create(&file).unwrap()).unwrap();
    file
}

fn sim(args: &[&str], dir: &Path) -> (std::process::Output, Option<Value>) {
    let report = dir.join("report.json");
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

#[test]
fn a_small_orchard_is_treated_tree_by_tree() {
    let dir = tempfile_dir("small");
    let map = write_map(&dir, &small_orchard());
    let (out, report) = sim(&["--map", map.to_str().unwrap(), "--speed", "10"], &dir);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let r = report.expect("report written");
    eprintln!("{stdout}");
    assert!(r["trees"]["passed"].as_u64().unwrap() > 0, "{r}");
}

fn tempfile_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("verger-sim-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
