//! Scheduling accuracy: the instant each valve command reaches the board against the
//! instant requested (`open`/`close` − valve latency, in GNSS time).
//!
//! The real `verger-sprayer` binary (release), a router on port 0 in this process, the
//! simulator's virtual board on a pseudo-terminal, fixes at 10 Hz stamped with the wall
//! clock (so GNSS time = wall clock, and the error measured includes the sprayer's clock
//! mapping). Orders are sent about 0.8 s ahead, like the map does; each window is 150 ms
//! on one section. The board notes the instant it read each frame's last byte.
//!
//! `cargo bench -p verger-sprayer --bench schedule` (VERGER_SCHEDULE_WINDOWS=N to change
//! the number of windows, default 300).

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio_util::sync::CancellationToken;
use verger::civil::rfc3339_from_unix_micros;
use verger::client::PublishOptions;
use verger::contract::dose::Product;
use verger::contract::gnss::{ReceiverState, FIX_TOPIC, STATUS_TOPIC};
use verger::contract::sprayer::{ApplyRequest, ApplyResult, SprayerState, SprayerStatePayload};
use verger_sim::board::{VirtualBoard, VirtualBoardConfig};
use verger_testkit::{connect, event_where, kwargs_of, start_test_router, subscribe, TempDir};

const LATENCY_MS: i64 = 300;

fn wall_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_micros() as i64
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn main() {
    let windows: usize = std::env::var("VERGER_SCHEDULE_WINDOWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    // The board on a runtime of its own, so that what it notes is when the bytes came,
    // not when this process's router and client let it run.
    let board_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("board runtime");
    let dir = TempDir::new("schedule-bench");
    let link = dir.path("valves");
    let board = {
        let _on = board_rt.enter();
        VirtualBoard::open(
            &link,
            VirtualBoardConfig {
                sections: 2,
                valve_latency: Duration::from_millis(LATENCY_MS as u64),
                ..VirtualBoardConfig::default()
            },
        )
        .expect("virtual board")
    };
    rt.block_on(run(windows, &dir, &link, &board));
}

async fn run(windows: usize, dir: &TempDir, link: &std::path::Path, board: &VirtualBoard) {
    let router = start_test_router().await;
    let config = dir.path("sprayer.toml");
    std::fs::write(
        &config,
        format!(
            "[board]\nkind = \"serial\"\nport = {link:?}\n\n[timing]\nvalve_latency = \"{LATENCY_MS}ms\"\n\n[record]\ndb = {:?}\n",
            dir.path("records.db")
        ),
    )
    .expect("settings");
    let url = router.url();
    let mut sprayer = std::process::Command::new(env!("CARGO_BIN_EXE_verger-sprayer"))
        .args([
            "--router",
            &url,
            "--config",
            config.to_str().expect("utf-8"),
        ])
        .env("RUST_LOG", "warn")
        .spawn()
        .expect("spawn verger-sprayer");
    let client = connect(&url).await;
    client
        .publish_typed(
            STATUS_TOPIC,
            &common::status(ReceiverState::Fix),
            verger::component::retained(),
        )
        .await
        .expect("status");
    let stop = CancellationToken::new();
    let fixes = {
        let client = client.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            while !stop.is_cancelled() {
                tick.tick().await;
                let _ = client
                    .publish_typed(
                        FIX_TOPIC,
                        &common::fix_at(wall_us()),
                        PublishOptions::default(),
                    )
                    .await;
            }
        })
    };
    let mut states = subscribe(&client, verger::contract::sprayer::STATE_TOPIC, true).await;
    event_where(&mut states, "sprayer ready", |e| {
        kwargs_of::<SprayerStatePayload>(e).state == SprayerState::Ready
    })
    .await;
    // Let the clock map see a few seconds of fixes.
    tokio::time::sleep(Duration::from_secs(2)).await;
    // Reference pair: a wall-clock µs and the Instant it was read at.
    let (ref_wall, ref_instant) = (wall_us(), Instant::now());
    let to_instant = |us: i64| {
        let d = us - ref_wall;
        if d >= 0 {
            ref_instant + Duration::from_micros(d as u64)
        } else {
            ref_instant - Duration::from_micros((-d) as u64)
        }
    };
    let mut wanted: Vec<(usize, bool, Instant)> = Vec::new();
    let product = Product::example();
    for i in 0..windows {
        let section = i % 2;
        // 0.8 s ahead, give or take 20 ms: windows of a section never touch.
        let ahead = 780_000 + (i as i64 % 5) * 10_000;
        let now = wall_us();
        let (open, close) = (now + ahead, now + ahead + 150_000);
        let order = ApplyRequest {
            plan_id: format!("B{i}@{section}:1"),
            revision: 1,
            section: ["left", "right"][section].into(),
            tree_id: format!("B{i}"),
            open: rfc3339_from_unix_micros(open, 6),
            close: rfc3339_from_unix_micros(close, 6),
            flow_l_min: 10.0,
            volume_l: 0.025,
            product: product.clone(),
            parcel: None,
            crop: None,
        };
        let r: ApplyResult = client
            .call_typed(verger::contract::sprayer::APPLY, &order)
            .await
            .expect("order taken");
        assert!(r.scheduled);
        wanted.push((section, true, to_instant(open - LATENCY_MS * 1000)));
        wanted.push((section, false, to_instant(close - LATENCY_MS * 1000)));
        // One window every 200 ms per section: they never overlap.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.cancel();
    let _ = fixes.await;
    let log = board.log();
    let mut errors_ms = Vec::new();
    for (section, on, at) in &wanted {
        let got = log
            .iter()
            .filter(|c| c.section == *section && c.state.is_open() == *on)
            .map(|c| c.at)
            .min_by_key(|t| if *t > *at { *t - *at } else { *at - *t })
            .expect("every switch reached the board");
        let e = if got >= *at {
            (got - *at).as_secs_f64() * 1e3
        } else {
            -(*at - got).as_secs_f64() * 1e3
        };
        errors_ms.push(e);
    }
    let mut signed = errors_ms.clone();
    signed.sort_by(f64::total_cmp);
    println!(
        "schedule: signed error p1 {:+.3} ms, p50 {:+.3} ms, p99 {:+.3} ms",
        percentile(&signed, 0.01),
        percentile(&signed, 0.5),
        percentile(&signed, 0.99)
    );
    let mut abs: Vec<f64> = errors_ms.iter().map(|e| e.abs()).collect();
    abs.sort_by(f64::total_cmp);
    let mean = errors_ms.iter().sum::<f64>() / errors_ms.len() as f64;
    println!(
        "schedule: {} switches, error at the board (board instant − requested instant): \
         mean {mean:+.3} ms; |error| p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        abs.len(),
        percentile(&abs, 0.5),
        percentile(&abs, 0.99),
        abs[abs.len() - 1],
    );
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(sprayer.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    let _ = sprayer.wait();
    let _ = router.shutdown().await;
}
