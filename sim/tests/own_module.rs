//! A farmer's own dose module in the simulated orchard: the Python example
//! (`examples/python/dose_module.py`, Autobahn|Python from `.venv`) in place of
//! verger-dose, tree by tree; and a swap from verger-dose to it while the tractor drives.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{assert_safe, fresh_dir, sim, small_orchard, text, u, write_map};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;
use verger::contract::gnss::unix_micros;
use verger_testkit::autobahn::{python, require_autobahn};
use verger_testkit::{project_root, within_for};

/// The Python module's rule: 0.03 L per metre of canopy height, 3 m when unmeasured,
/// 0.02 L at least.
fn python_rule(height: Option<f64>) -> f64 {
    (0.03 * height.unwrap_or(3.0)).max(0.02)
}

/// Canopy heights by tree id, from the map's GeoJSON.
fn heights(map: &Path) -> BTreeMap<String, Option<f64>> {
    let g: Value = serde_json::from_str(&std::fs::read_to_string(map).unwrap()).unwrap();
    g["features"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["properties"]["kind"] == "tree")
        .map(|f| {
            let p = &f["properties"];
            (
                p["id"].as_str().unwrap().to_owned(),
                p["canopy_height_m"].as_f64(),
            )
        })
        .collect()
}

fn dose_module() -> String {
    format!(
        "{} {}",
        python().display(),
        project_root()
            .join("examples/python/dose_module.py")
            .display()
    )
}

/// Every treated side of `sides` got the Python rule's volume (within 10 %: the valves'
/// switching instants carry the machine's jitter); how many were checked.
fn follows_python_rule<'a>(
    sides: impl Iterator<Item = &'a Value>,
    heights: &BTreeMap<String, Option<f64>>,
) -> usize {
    let mut checked = 0;
    for side in sides.filter(|s| s["treated"] == true) {
        let tree = side["tree_id"].as_str().unwrap();
        let want = python_rule(heights[tree]);
        let got = side["applied_l"].as_f64().unwrap();
        assert!(
            (got - want).abs() <= 0.1 * want,
            "{tree} {}: {got:.4} L applied, the module's rule gives {want:.4} L",
            side["face"]
        );
        checked += 1;
    }
    checked
}

#[test]
fn the_python_module_doses_the_simulated_orchard_tree_by_tree() {
    require_autobahn();
    let dir = fresh_dir("python");
    let map = write_map(&dir, &small_orchard(2, 25.0));
    let config = dir.join("verger.toml");
    std::fs::write(
        &config,
        format!("[components.dose]\ncommand = {:?}\n", dose_module()),
    )
    .unwrap();
    let (out, report) = sim(
        &[
            "--map",
            map.to_str().unwrap(),
            "--config",
            config.to_str().unwrap(),
            "--speed",
            "5",
        ],
        &dir,
    );
    assert!(out.status.success(), "{}", text(&out));
    let r = report.expect("report written");
    assert_safe(&r);
    assert_eq!(u(&r, "/trees/missed"), 0, "{r}");
    let checked = follows_python_rule(r["per_tree"].as_array().unwrap().iter(), &heights(&map));
    assert!(
        checked as u64 == u(&r, "/trees/treated") && checked > 50,
        "{checked} sides"
    );
    // The Python module publishes no decisions: the intended volumes come from the
    // record, and are its rule's too.
    for side in r["per_tree"].as_array().unwrap() {
        if side["treated"] == true {
            let want = python_rule(heights(&map)[side["tree_id"].as_str().unwrap()]);
            assert!((side["intended_l"].as_f64().unwrap() - want).abs() < 1e-6 * want.max(1.0));
        }
    }
}

/// Reads verger-sim's stderr: the router's URL as soon as it is named, then the rest
/// (for the failure message) when the process ends.
fn read_stderr(
    stderr: std::process::ChildStderr,
) -> (
    std::sync::mpsc::Receiver<String>,
    std::thread::JoinHandle<String>,
) {
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.strip_prefix("verger sim: router ") {
                let _ = tx.send(
                    rest.split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_owned(),
                );
            }
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    (rx, reader)
}

/// The pid of the process whose command line holds `needle`.
fn pid_of(needle: &str) -> Option<i32> {
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: i32 = e.file_name().to_str()?.parse().ok()?;
        let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
        String::from_utf8_lossy(&cmdline)
            .contains(needle)
            .then_some(pid)
    })
}

/// A child killed if the test ends before it does.
struct Killed(Option<Child>);

impl Killed {
    fn child(&mut self) -> &mut Child {
        self.0.as_mut().expect("running")
    }

    fn into_inner(mut self) -> Child {
        self.0.take().expect("running")
    }
}

impl Drop for Killed {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The swap a grower makes: verger-dose is stopped (SIGTERM) mid-drive and the Python
/// module started in its place. Trees passed from a moment after the new module is
/// registered are all treated, by the new module's rule; none is sprayed unsafely.
#[test]
fn the_dose_module_is_swapped_while_the_tractor_drives() {
    require_autobahn();
    let dir = fresh_dir("swap");
    let map = write_map(&dir, &small_orchard(3, 40.0));
    let run = dir.join("run");
    let report_file = dir.join("report.json");
    let sim = Killed(Some(
        Command::new(env!("CARGO_BIN_EXE_verger-sim"))
            .args(["--map", map.to_str().unwrap(), "--speed", "4", "--out"])
            .arg(&run)
            .arg("--report")
            .arg(&report_file)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("verger-sim starts"),
    ));
    let mut sim = sim;
    let (urls, stderr) = read_stderr(sim.child().stderr.take().unwrap());
    let Ok(url) = urls.recv_timeout(Duration::from_secs(60)) else {
        drop(sim);
        panic!("verger-sim named no router:\n{}", stderr.join().unwrap());
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (swap_at, module) = runtime.block_on(async {
        let client = verger_testkit::client::connect(&url).await;
        let mut applied =
            verger_testkit::client::subscribe(&client, "orchard.sprayer.applied", false).await;
        // verger-dose at work: ten trees sprayed.
        for _ in 0..10 {
            verger_testkit::client::next_event(&mut applied, "a spray of verger-dose").await;
        }
        // The grower stops it: orchard.dose.treat is gone when its registration is
        // deleted (the router's meta event).
        let mut deleted =
            verger_testkit::client::subscribe(&client, "wamp.registration.on_delete", false).await;
        let dose_config = run.join("run/dose.toml");
        let pid = pid_of(&dose_config.display().to_string()).expect("verger-dose runs");
        kill(Pid::from_raw(pid), Signal::SIGTERM).unwrap();
        within_for(
            Duration::from_secs(30),
            "verger-dose's registration deleted",
            verger_testkit::client::next_event(&mut deleted, "on_delete"),
        )
        .await;
        // ... and starts the new module, with the flags verger run would give it.
        let mut module = Killed(Some(
            Command::new(python())
                .arg(project_root().join("examples/python/dose_module.py"))
                .args(["--router", &url, "--realm", "orchard"])
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("the Python module starts"),
        ));
        let stdout = module.child().stdout.take().unwrap();
        tokio::task::spawn_blocking(move || {
            // Autobahn logs first; the module says when it is registered.
            let mut lines = BufReader::new(stdout).lines();
            while let Some(Ok(line)) = lines.next() {
                if line.contains("dose module ready") {
                    return;
                }
            }
            panic!("the Python module ended without registering");
        })
        .await
        .unwrap();
        // The swap moment: the GNSS time of the first fix after it.
        let mut fixes = verger_testkit::client::subscribe(&client, "orchard.gnss.fix", false).await;
        let fix = verger_testkit::client::next_event(&mut fixes, "a fix after the swap").await;
        let time = verger_testkit::client::kw_str(&fix, "time").to_owned();
        (unix_micros(&time).expect("fix time"), module)
    });
    let out = sim
        .into_inner()
        .wait_with_output()
        .expect("verger-sim ends");
    let out = std::process::Output {
        stderr: stderr.join().unwrap().into_bytes(),
        ..out
    };
    drop(module);
    assert!(out.status.success(), "{}", text(&out));
    let r: Value = serde_json::from_str(&std::fs::read_to_string(&report_file).unwrap()).unwrap();
    assert_safe(&r);
    // Orders for windows up to the planning horizon ahead (1 s) were sent, and failed,
    // while no module was registered: 2 s of GNSS time is the margin.
    let after: Vec<&Value> = r["per_tree"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| unix_micros(s["passed_at"].as_str().unwrap()).unwrap() > swap_at + 2_000_000)
        .collect();
    assert!(
        after.len() > 40,
        "{} sides passed after the swap",
        after.len()
    );
    for side in &after {
        assert!(
            side["treated"] == true || side["sprayable"] == false,
            "missed after the swap: {side}"
        );
    }
    let checked = follows_python_rule(after.iter().copied(), &heights(&map));
    assert!(checked > 30, "{checked}");
}
