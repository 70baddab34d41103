//! The whole system under `verger sim`, measured (docs/PERFORMANCE.md, "The whole
//! system"): needs the release binaries (`cargo build --release --workspace`), then
//! `cargo bench -p verger-sim --bench system`.
//!
//! 1. **Reaction to a lost fix**: a drive through six rows with the receiver sending
//!    0.3 s of invalid epochs every 6 s, at 10× (the latency is measured in real time,
//!    which the speed-up does not change): from the last byte of the first invalid
//!    epoch on the receiver's pty to the first valve the board closes, through
//!    verger-gnss, the router and verger-sprayer. p50, p99, max.
//! 2. **Speed-up reached**: the demo orchard's one-hour drive (10 Hz, RTK) at 70× (the default), 60×
//!    and 80×: real time, and whether every tree side that may be sprayed still is
//!    (the treatment report's key figures).
//!
//! `VERGER_BENCH_SPEEDS=60,70` measures other speed-ups than these three.
//!
//! Each run also gives the peak resident memory of every process of the system; for the
//! demo runs the router is a `verger router` process of its own (the simulator's
//! `--router`), so that what runs on the tractor (router and the four components) is
//! measured apart from the simulator (its replay, observer and report).

use std::path::PathBuf;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use verger_sim::drive::Outage;
use verger_sim::orchard::{demo_orchard, write_geojson};
use verger_sim::session::{simulate, Outcome, SimOptions, DEFAULT_SPEED};

fn release_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the bench's path");
    let dir = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("target/<profile>/deps")
        .to_path_buf();
    for name in [
        "verger",
        "verger-gnss",
        "verger-map",
        "verger-dose",
        "verger-sprayer",
    ] {
        assert!(
            dir.join(name).is_file(),
            "{} is missing: build with `cargo build --release --workspace` first",
            dir.join(name).display()
        );
    }
    dir
}

/// `verger router` on port 0, in a process of its own.
struct Router {
    child: std::process::Child,
    url: String,
}

impl Router {
    fn start(programs: &std::path::Path) -> Router {
        use std::io::BufRead;
        let mut child = std::process::Command::new(programs.join("verger"))
            .args(["router", "--listen", "127.0.0.1:0"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("verger router");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().expect("its stdout"))
            .read_line(&mut line)
            .expect("its first line");
        // "verger router listening on ws://127.0.0.1:PORT/ws (realms: orchard)"
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("ws://"))
            .unwrap_or_else(|| panic!("no URL in {line:?}"))
            .to_owned();
        Router { child, url }
    }
}

impl Drop for Router {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run(options: &SimOptions) -> Outcome {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime
        .block_on(simulate(options, CancellationToken::new()))
        .unwrap_or_else(|e| panic!("the simulation failed: {e}"))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn memory(outcome: &Outcome) -> String {
    let total: u64 = outcome.memory.iter().map(|m| m.peak_kib).sum();
    let each: Vec<String> = outcome
        .memory
        .iter()
        .map(|m| format!("{} {:.1}", m.name, m.peak_kib as f64 / 1024.0))
        .collect();
    format!(
        "{} (total {:.1} MiB)",
        each.join(", "),
        total as f64 / 1024.0
    )
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs it too: do nothing then.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let programs = release_dir();
    let base = std::env::temp_dir().join(format!("verger-bench-system-{}", std::process::id()));
    std::fs::create_dir_all(&base).unwrap();

    // 1. Reaction to a lost fix.
    let mut six_rows = demo_orchard();
    six_rows.blocks.truncate(1);
    six_rows.blocks[0].rows = 6;
    six_rows.replant_gaps.clear();
    let map = base.join("six-rows.geojson");
    write_geojson(&six_rows, std::fs::File::create(&map).unwrap()).unwrap();
    let mut options = SimOptions::demo(&base.join("reaction"));
    options.map = Some(map);
    options.speed = 10.0;
    options.programs = Some(programs.clone());
    options.drive.outages = (0..400)
        .map(|i| Outage {
            at_s: 5.0 + 6.0 * i as f64,
            duration_s: 0.3,
        })
        .collect();
    let reaction = run(&options);
    let mut lat = reaction.fix_loss_reactions.clone();
    lat.sort();
    println!(
        "reaction to a lost fix (pty → board), {} losses while spraying: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        lat.len(),
        percentile(&lat, 0.5).as_secs_f64() * 1e3,
        percentile(&lat, 0.99).as_secs_f64() * 1e3,
        lat.last().copied().unwrap_or_default().as_secs_f64() * 1e3
    );
    println!("  memory, MiB: {}", memory(&reaction));

    // 2. and 3. The demo's one-hour drive (10 Hz, RTK) at several speed-ups: which one
    // still treats every tree side that may be sprayed, and how precisely.
    // `VERGER_BENCH_SPEEDS=60,70` measures other speed-ups.
    let speeds: Vec<f64> = match std::env::var("VERGER_BENCH_SPEEDS") {
        Ok(list) => list
            .split(',')
            .map(|s| {
                s.trim()
                    .parse()
                    .expect("VERGER_BENCH_SPEEDS: numbers, comma-separated")
            })
            .collect(),
        Err(_) => vec![DEFAULT_SPEED, 60.0, 80.0],
    };
    for speed in speeds {
        let mut options = SimOptions::demo(&base.join(format!("demo-{speed}")));
        options.speed = speed;
        options.programs = Some(programs.clone());
        // The router in a process of its own (`verger router`), so that the memory of
        // what runs on the tractor is measured apart from the simulator's.
        let router = Router::start(&programs);
        options.router = Some(router.url.clone());
        let demo = run(&options);
        // The router is the bench's child: the run measured it with the rest.
        let router_kib = demo
            .memory
            .iter()
            .find(|m| m.pid == router.child.id())
            .map_or(0, |m| m.peak_kib);
        drop(router);
        let r = &demo.report;
        println!(
            "the demo ({:.1} min) at {speed}×: {:.1} s of real time ({:.0}× over the whole run); {} of {} tree sides treated, {} missed, {} fail-safe events; placement p50 {:.1} cm, p95 {:.1} cm, max {:.1} cm; {:.1} L applied of {:.1} L intended",
            demo.facts.driven_s / 60.0,
            demo.facts.wall_s,
            demo.facts.driven_s / demo.facts.wall_s,
            r.trees.treated,
            r.trees.passed,
            r.trees.missed,
            r.safety.fail_safe_events,
            r.placement_error_cm.p50,
            r.placement_error_cm.p95,
            r.placement_error_cm.max,
            r.volume_l.applied,
            r.volume_l.intended
        );
        let system_kib: u64 = router_kib
            + demo
                .memory
                .iter()
                .filter(|m| m.name.starts_with("verger-"))
                .map(|m| m.peak_kib)
                .sum::<u64>();
        println!(
            "  peak memory, MiB: router (verger router) {:.1}; {}; router and components together {:.1} MiB",
            router_kib as f64 / 1024.0,
            memory(&demo),
            system_kib as f64 / 1024.0
        );
    }
    let _ = std::fs::remove_dir_all(&base);
}
