//! `verger sim` end to end: the verger-sim binary runs the router and the four
//! components as processes (debug builds, beside it), the virtual receiver and board on
//! ptys, and reports. Small orchards keep each run to seconds.

mod common;

use std::path::PathBuf;

use common::{assert_safe, f, fresh_dir, sim, small_orchard, text, u, write_map};
use serde_json::Value;

#[test]
fn a_small_orchard_is_treated_tree_by_tree_and_the_zone_is_left_alone() {
    let dir = fresh_dir("small");
    let map = write_map(&dir, &small_orchard(3, 40.0));
    let (out, report) = sim(&["--map", map.to_str().unwrap(), "--speed", "10"], &dir);
    assert!(out.status.success(), "{}", text(&out));
    let r = report.expect("report written");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("Treatment report"), "{stdout}");
    // Three rows, four alleys: every tree is passed on both faces.
    assert_eq!(u(&r, "/trees/passed"), 2 * u(&r, "/trees/in_field"), "{r}");
    assert_eq!(u(&r, "/trees/missed"), 0, "{r}");
    // Part of the last row's east face lies against the no-spray strip.
    let treated = u(&r, "/trees/treated");
    assert!(treated > u(&r, "/trees/passed") * 3 / 4, "{r}");
    assert!(treated < u(&r, "/trees/passed"), "{r}");
    assert_safe(&r);
    assert_eq!(u(&r, "/safety/fail_safe_events"), 0);
    let (applied, intended) = (f(&r, "/volume_l/applied"), f(&r, "/volume_l/intended"));
    assert!(
        (applied - intended).abs() < 0.05 * intended,
        "{applied} L vs {intended} L"
    );
    assert!(f(&r, "/volume_l/constant_rate_baseline") > applied);
    // Loose: a debug build on a shared machine at 10×.
    assert!(f(&r, "/placement_error_cm/p95") < 25.0, "{r}");
    for side in r["per_tree"].as_array().unwrap() {
        for key in [
            "tree_id",
            "side",
            "intended_l",
            "applied_l",
            "placement_error_cm",
        ] {
            assert!(side.get(key).is_some(), "{key} in {side}");
        }
    }
    // The as-applied map beside the report.
    let geojson: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.geojson")).unwrap())
            .unwrap();
    let kinds: Vec<&str> = geojson["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["properties"]["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"spray") && kinds.contains(&"tree_side"));
    // The record of the run is in the run folder, not anywhere else.
    assert!(dir.join("run/records.db").exists());
}

#[test]
fn the_same_drive_at_two_speeds_gives_the_same_report() {
    let dir = fresh_dir("speeds");
    let map = write_map(&dir, &small_orchard(2, 25.0));
    let run = |speed: &str| {
        let (out, report) = sim(&["--map", map.to_str().unwrap(), "--speed", speed], &dir);
        assert!(out.status.success(), "{}", text(&out));
        report.expect("report written")
    };
    let (slow, fast) = (run("3"), run("12"));
    assert_eq!(slow["trees"], fast["trees"]);
    assert_eq!(slow["safety"], fast["safety"]);
    let sides = |r: &Value| -> Vec<(String, bool)> {
        r["per_tree"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    format!("{}/{}", s["tree_id"], s["face"]),
                    s["treated"].as_bool().unwrap(),
                )
            })
            .collect()
    };
    assert_eq!(sides(&slow), sides(&fast));
    for field in ["/volume_l/applied", "/volume_l/intended"] {
        let (a, b) = (f(&slow, field), f(&fast, field));
        assert!((a - b).abs() <= 0.03 * a.max(b), "{field}: {a} vs {b}");
    }
    assert_eq!(
        f(&slow, "/volume_l/constant_rate_baseline"),
        f(&fast, "/volume_l/constant_rate_baseline")
    );
}

#[test]
fn the_system_runs_on_an_existing_router_given_by_url() {
    use std::io::BufRead;
    let dir = fresh_dir("router");
    let map = write_map(&dir, &small_orchard(2, 25.0));
    // `verger router` in a process of its own, as Crossbar.io would be.
    let verger = std::path::Path::new(env!("CARGO_BIN_EXE_verger-sim")).with_file_name("verger");
    assert!(
        verger.is_file(),
        "{} is built with the workspace",
        verger.display()
    );
    let mut router = std::process::Command::new(&verger)
        .args(["router", "--listen", "127.0.0.1:0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(router.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("ws://"))
        .unwrap_or_else(|| panic!("the router's URL in {line:?}"))
        .to_owned();
    let (out, report) = sim(
        &[
            "--map",
            map.to_str().unwrap(),
            "--speed",
            "10",
            "--router",
            &url,
        ],
        &dir,
    );
    let _ = router.kill();
    let _ = router.wait();
    assert!(out.status.success(), "{}", text(&out));
    let r = report.expect("report written");
    assert!(u(&r, "/trees/treated") > 0, "{r}");
    assert_eq!(u(&r, "/trees/missed"), 0, "{r}");
    assert_safe(&r);
    // Every program was given that router, and none was embedded.
    let run = std::fs::read_to_string(dir.join("run/verger.toml")).unwrap();
    assert!(run.contains(&format!("router = \"{url}\"")), "{run}");
    let log = std::fs::read_to_string(dir.join("run/components.log")).unwrap();
    assert!(!log.contains("router listening"), "{log}");
    assert!(log.contains(&format!("router={url}")), "{log}");
}

#[test]
fn a_track_that_never_enters_the_orchard_sprays_nothing_and_says_so() {
    let dir = fresh_dir("elsewhere");
    let map = write_map(&dir, &small_orchard(2, 25.0));
    // A straight line 2 km north of the orchard, 30 s at 2 m/s.
    let mut csv = String::from("time,lat,lon\n");
    for i in 0..=30 {
        csv.push_str(&format!(
            "2025-04-15T09:00:{i:02}Z,{},{}\n",
            44.09 + i as f64 * 2.0 / 111_000.0,
            1.09
        ));
    }
    let track = dir.join("elsewhere.csv");
    std::fs::write(&track, csv).unwrap();
    let (out, report) = sim(
        &[
            "--map",
            map.to_str().unwrap(),
            "--track",
            track.to_str().unwrap(),
            "--speed",
            "30",
        ],
        &dir,
    );
    assert!(out.status.success(), "{}", text(&out));
    let r = report.expect("report written");
    assert_eq!(u(&r, "/trees/passed"), 0);
    assert_eq!(f(&r, "/volume_l/applied"), 0.0);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("Nothing was sprayed"),
        "{}",
        text(&out)
    );
}

#[test]
fn a_file_that_is_no_track_is_refused_by_name() {
    let dir = fresh_dir("notrack");
    let junk = dir.join("notes.txt");
    std::fs::write(&junk, "shopping list: apples\n").unwrap();
    let (out, report) = sim(&["--track", junk.to_str().unwrap()], &dir);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(report.is_none());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("notes.txt"), "{stderr}");
}

#[test]
fn a_scenario_that_falls_short_exits_non_zero_naming_the_limit() {
    let dir = fresh_dir("scenario");
    let map = write_map(&dir, &small_orchard(2, 25.0));
    let scenario = dir.join("scenario.toml");
    std::fs::write(
        &scenario,
        format!(
            "[run]\nmap = {:?}\nspeed = 12\n\n[expect]\ntreated_at_least = 100000\nmissed_max = 0\n",
            map.file_name().unwrap()
        ),
    )
    .unwrap();
    let (out, report) = sim(&["--scenario", scenario.to_str().unwrap()], &dir);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(report.is_some());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("expect.treated_at_least"), "{stderr}");
    assert!(!stderr.contains("expect.missed_max"), "{stderr}");

    std::fs::write(&scenario, "[expect]\nmised_max = 0\n").unwrap();
    let (out, _) = sim(&["--scenario", scenario.to_str().unwrap()], &dir);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("mised_max"),
        "{}",
        text(&out)
    );
}

/// Every real receiver capture of ../shared/data/nmea through the whole stack: nothing
/// crashes, nothing sprays on an invalid fix or outside the orchard (the captures were
/// made far from it, so nothing may be sprayed at all).
#[test]
fn every_real_capture_replays_through_the_whole_system() {
    let captures = verger_testkit::project_root().join("../shared/data/nmea");
    let Ok(entries) = std::fs::read_dir(&captures) else {
        eprintln!(
            "skipped: {} is missing (the shared data beside the checkout)",
            captures.display()
        );
        return;
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("log" | "dat")))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no capture in {}", captures.display());
    let dir = fresh_dir("captures");
    let map = write_map(&dir, &small_orchard(2, 25.0));
    for file in files {
        let (out, report) = sim(
            &[
                "--map",
                map.to_str().unwrap(),
                "--track",
                file.to_str().unwrap(),
                "--speed",
                "100",
            ],
            &dir,
        );
        assert!(out.status.success(), "{}: {}", file.display(), text(&out));
        let r = report.unwrap_or_else(|| panic!("{}: no report", file.display()));
        assert_safe(&r);
        assert_eq!(f(&r, "/volume_l/applied"), 0.0, "{}", file.display());
    }
}

#[test]
fn every_shipped_scenario_loads() {
    let dir = verger_testkit::project_root().join("scenarios");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("scenarios/") {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) == Some("toml") {
            let s = verger_sim::scenario::Scenario::load(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            if let Some(map) = &s.run.map {
                assert!(
                    map.is_file(),
                    "{}: {} is missing",
                    path.display(),
                    map.display()
                );
            }
            n += 1;
        }
    }
    assert!(n > 0);
}
