//! The map on a synthetic 1,000 ha orchard (about 1.9 million trees, from
//! `verger_sim::orchard::benchmark_1000ha`): import rate, `trees_near` in-process and over
//! the router, planning time per fix, and the component's memory with that map.
//! Plain `main`: `cargo bench -p verger-map --bench map`. Prints a Markdown table.
//! Writes about 0.5 GB in a temporary folder (removed at the end).

use std::fs::File;
use std::io::BufWriter;
use std::time::{Duration, Instant};

use serde_json::json;
use verger::client::PublishOptions;
use verger::contract::gnss::{self, ReceiverState};
use verger::contract::map::{MapStatusPayload, PlanningState, STATUS_TOPIC, TREES_NEAR};
use verger::nmea::Quality;
use verger::orchard::{Frame, ImportOptions, MapDb};
use verger_map::plan::{Area, FixInput, Planner};
use verger_map::MapSettings;
use verger_testkit::{
    connect, event_where, kwargs_of, start_test_router, subscribe, Process, TempDir,
};

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

fn summary(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    (
        percentile(&v, 0.5),
        percentile(&v, 0.99),
        *v.last().unwrap_or(&f64::NAN),
    )
}

/// A small deterministic generator (xorshift) for query points.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn rss_kib(pid: i32, key: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// The alleys of the first band of blocks: (start lat, lon) of the centre line between
/// row r and r + 1, `count` of them, and the direction of the rows.
fn alleys(params: &verger_sim::orchard::OrchardParams, count: usize) -> Vec<(f64, f64)> {
    let frame = Frame::new(params.origin_lat, params.origin_lon);
    let b = params.row_bearing_deg.to_radians();
    let along = (b.sin(), b.cos());
    // Rows follow each other to the right of the bearing (checked against the map below).
    let across = (along.1, -along.0);
    let spacing = params.blocks[0].row_spacing_m;
    (0..count)
        .map(|i| {
            let d = spacing * (i as f64 + 0.5);
            let start = -8.0; // from the headland
            frame.to_wgs84(geo::coord! {
                x: across.0 * d + along.0 * start,
                y: across.1 * d + along.1 * start,
            })
        })
        .collect()
}

fn main() {
    let dir = TempDir::new("map-bench");
    let params = verger_sim::orchard::benchmark_1000ha();
    // VERGER_MAP_BENCH_DB=PATH keeps the imported map there and reuses it on the next
    // run (skipping generation and import), for iterating on queries.
    let kept = std::env::var_os("VERGER_MAP_BENCH_DB").map(std::path::PathBuf::from);
    let db = kept.clone().unwrap_or_else(|| dir.path("orchard.db"));
    if kept.as_ref().is_some_and(|p| p.exists()) {
        eprintln!("reusing {}", db.display());
        return measure(&params, &db, None);
    }
    let csv = dir.path("trees.csv");
    let t = Instant::now();
    let trees = verger_sim::orchard::write_trees_csv(
        &params,
        BufWriter::new(File::create(&csv).expect("csv")),
    )
    .expect("generate");
    eprintln!("generated {trees} trees in {:.1?}", t.elapsed());
    let t = Instant::now();
    let summary_import = MapDb::import(
        &db,
        std::slice::from_ref(&csv),
        &ImportOptions::default(),
        &mut |_| {},
    )
    .expect("import");
    let import_s = t.elapsed().as_secs_f64();
    eprintln!("{summary_import}");
    let _ = std::fs::remove_file(&csv);
    measure(&params, &db, Some(import_s));
}

fn measure(
    params: &verger_sim::orchard::OrchardParams,
    db: &std::path::Path,
    import_s: Option<f64>,
) {
    let map = MapDb::open_read_only(db).expect("open");
    let info = map.info().expect("info");
    let extent = info.extent.expect("extent");
    println!("| measure | value |");
    println!("|---|---:|");
    println!("| trees | {} |", info.trees);
    if let Some(import_s) = import_s {
        println!(
            "| import (CSV, one transaction, R*Tree) | {:.0} trees/s ({import_s:.1} s) |",
            info.trees as f64 / import_s
        );
    }
    println!(
        "| database size | {:.0} MB |",
        std::fs::metadata(db).map(|m| m.len()).unwrap_or(0) as f64 / 1e6
    );

    // trees_near in-process: random points over the orchard's box, 10 m radius (a
    // planner's radius at 7 km/h is about 12 m), after 1,000 warm-up queries.
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut point = || {
        (
            extent.south + (extent.north - extent.south) * rng.next(),
            extent.west + (extent.east - extent.west) * rng.next(),
        )
    };
    for _ in 0..1000 {
        let (lat, lon) = point();
        map.trees_near(lat, lon, 10.0).expect("query");
    }
    let mut found = 0;
    let times: Vec<f64> = (0..20_000)
        .map(|_| {
            let (lat, lon) = point();
            let t = Instant::now();
            found += map.trees_near(lat, lon, 10.0).expect("query").len();
            t.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    let (p50, p99, max) = summary(times);
    println!(
        "| `trees_near` in-process at random points of the 1,000 ha, r = 10 m ({:.0} trees each on average; cold pages) | p50 {p50:.0} µs, p99 {p99:.0} µs, max {max:.0} µs |",
        found as f64 / 20_000.0
    );

    // Planning per fix: trees_near at the planner's radius + the planner, driving the
    // first 20 alleys at 7 km/h, 10 fixes a second.
    let settings = MapSettings::default();
    let mut planner = Planner::new(
        settings.plan_config(),
        Area::new(
            map.boundary().expect("boundary").as_ref(),
            &map.zones().expect("zones"),
        ),
    );
    let speed = 7.0 / 3.6;
    let radius = planner.config().search_radius_m(speed);
    let mut per_fix = Vec::new();
    let mut query_on_path = Vec::new();
    let mut planner_alone = Vec::new();
    let mut t_gnss: i64 = 1_790_000_000_000_000;
    let b = params.row_bearing_deg.to_radians();
    for (lat0, lon0) in alleys(params, 20) {
        let frame = Frame::new(lat0, lon0);
        let steps = ((params.row_length_m + 16.0) / speed * 10.0) as usize;
        for i in 0..steps {
            let d = speed * i as f64 / 10.0;
            let (lat, lon) = frame.to_wgs84(geo::coord! {x: b.sin() * d, y: b.cos() * d});
            t_gnss += 100_000;
            let fix = FixInput {
                time: t_gnss,
                lat,
                lon,
                quality: Quality::RtkFixed,
                speed_mps: Some(speed),
                course_deg: Some(params.row_bearing_deg),
                heading_deg: None,
            };
            let t = Instant::now();
            let near: Vec<_> = map
                .trees_near(lat, lon, radius)
                .expect("query")
                .into_iter()
                .map(|n| n.tree)
                .collect();
            let queried = t.elapsed();
            std::hint::black_box(planner.on_fix(&fix, &near));
            let total = t.elapsed();
            per_fix.push(total.as_secs_f64() * 1e6);
            query_on_path.push(queried.as_secs_f64() * 1e6);
            planner_alone.push((total - queried).as_secs_f64() * 1e6);
        }
        t_gnss += 60_000_000;
    }
    let orders = planner.counters().orders;
    assert!(
        orders > 1000,
        "the drive ordered only {orders} windows: the alleys are not where the bench thinks"
    );
    let fixes = per_fix.len();
    let (p50, p99, max) = summary(query_on_path);
    println!(
        "| `trees_near` in-process along a drive, r = {radius:.1} m (the planner's query) | p50 {p50:.0} µs, p99 {p99:.0} µs, max {max:.0} µs |"
    );
    let (p50, p99, max) = summary(planner_alone);
    println!("| the planner alone per fix | p50 {p50:.0} µs, p99 {p99:.0} µs, max {max:.0} µs |");
    let (p50, p99, max) = summary(per_fix);
    println!(
        "| planning per fix (query r = {radius:.1} m + planner; {fixes} fixes, {orders} orders) | p50 {p50:.0} µs, p99 {p99:.0} µs, max {max:.0} µs |"
    );
    drop(map);

    // Over the router: the verger-map binary on this database, a router in this
    // process, a client calling trees_near; then the component's memory after it
    // planned a drive.
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let router = start_test_router().await;
        let url = router.url();
        let observer = connect(&url).await;
        let mut status = subscribe(&observer, STATUS_TOPIC, true).await;
        let mut component = Process::spawn(
            std::path::Path::new(env!("CARGO_BIN_EXE_verger-map")),
            ["--router", url.as_str(), "--db", db.to_str().expect("utf-8")],
        );
        let client = connect(&url).await;
        let call = |lat: f64, lon: f64| {
            let client = client.clone();
            async move {
                client
                    .call_typed::<_, serde_json::Value>(
                        TREES_NEAR,
                        &json!({"lat": lat, "lon": lon, "radius_m": 10.0}),
                    )
                    .await
            }
        };
        // Its status says `waiting` once its procedures are registered.
        event_where(&mut status, "verger-map waiting", |e| {
            kwargs_of::<MapStatusPayload>(e).state == PlanningState::Waiting
        })
        .await;
        for _ in 0..500 {
            let (lat, lon) = point();
            call(lat, lon).await.expect("call");
        }
        let mut times = Vec::new();
        for _ in 0..5000 {
            let (lat, lon) = point();
            let t = Instant::now();
            call(lat, lon).await.expect("call");
            times.push(t.elapsed().as_secs_f64() * 1e6);
        }
        let (p50, p99, max) = summary(times);
        println!(
            "| `trees_near` over the router (JSON, WebSocket, sequential) | p50 {p50:.0} µs, p99 {p99:.0} µs, max {max:.0} µs |"
        );
        // Drive three alleys through the component.
        let gnss_client = connect(&url).await;
        let retained = PublishOptions { retain: true, ..PublishOptions::default() };
        let mut t = verger::contract::gnss::parse_published_at("2026-04-14T09:00:00Z")
            .map(|t| t.duration_since(std::time::UNIX_EPOCH).unwrap().as_micros() as i64)
            .unwrap();
        for (lat0, lon0) in alleys(params, 3) {
            let frame = Frame::new(lat0, lon0);
            for i in 0..800 {
                if i % 50 == 0 {
                    let status = status_fix();
                    gnss_client.publish_typed(gnss::STATUS_TOPIC, &status, retained.clone()).await.expect("status");
                }
                let d = speed * i as f64 / 10.0;
                let (lat, lon) = frame.to_wgs84(geo::coord! {x: b.sin() * d, y: b.cos() * d});
                t += 100_000;
                let fix = json!({
                    "time": verger::civil::rfc3339_from_unix_micros(t, 2), "lat": lat, "lon": lon,
                    "alt_m": null, "quality": "rtk_fixed", "sats": 20, "hdop": 0.7,
                    "speed_mps": speed, "course_deg": params.row_bearing_deg, "heading_deg": null,
                    "lat_err_m": null, "lon_err_m": null, "alt_err_m": null, "diff_age_s": 1.0,
                    "age_ms": 1.0, "published_at": gnss::published_now()
                });
                gnss_client.publish_typed(gnss::FIX_TOPIC, &fix, PublishOptions::default()).await.expect("fix");
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
        event_where(&mut status, "the drive planned", |e| {
            kwargs_of::<MapStatusPayload>(e).counters.fixes == 2400
        })
        .await;
        let pid = component.pid().as_raw();
        println!(
            "| verger-map RSS with this map, after the calls and a 3-alley drive | {:.1} MB (peak {:.1} MB) |",
            rss_kib(pid, "VmRSS:") as f64 / 1024.0,
            rss_kib(pid, "VmHWM:") as f64 / 1024.0
        );
        component.stop_with(nix::sys::signal::Signal::SIGTERM).await;
        let _ = router.shutdown().await;
    });
}

fn status_fix() -> gnss::StatusPayload {
    gnss::StatusPayload {
        state: ReceiverState::Fix,
        quality: Some(Quality::RtkFixed),
        no_fix_reason: None,
        source: "bench".into(),
        last_epoch_age_ms: Some(10.0),
        counters: gnss::StatusCounters::default(),
        published_at: Some(gnss::published_now()),
    }
}
