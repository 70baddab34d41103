//! Latency from the last byte of an epoch written to a pty master to the
//! `orchard.gnss.fix` event at a subscriber (router on 127.0.0.1:0, all in one
//! process), over N epochs at RATE Hz; and the same path without the component (a
//! bare reader that publishes as soon as the epoch's last line end arrives), so that
//! the component's own share shows as the difference.
//!
//!     cargo bench -p verger-gnss --bench gnss_latency [-- EPOCHS RATE_HZ]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;
use verger::client::PublishOptions;
use verger::contract::gnss::FIX_TOPIC;
use verger::source::{self, ReaderOptions, SourceEvent, SourceSpec};
use verger::wamp::{Payload, Value};
use verger_gnss::GnssConfig;
use verger_testkit::*;

const BASELINE_TOPIC: &str = "bench.gnss.baseline";

fn sentence(body: &str) -> Vec<u8> {
    let cs = body.bytes().fold(0u8, |a, b| a ^ b);
    format!("${body}*{cs:02X}\r\n").into_bytes()
}

/// Epoch `i`: GGA + RMC (RTK fixed), time 13:00:00 + i × period, unique per epoch.
fn epoch(i: u64, period_ms: u64) -> (String, Vec<u8>) {
    let ms = i * period_ms;
    let t = format!(
        "{:02}{:02}{:02}.{:02}",
        13 + ms / 3_600_000,
        (ms / 60_000) % 60,
        (ms / 1000) % 60,
        (ms % 1000) / 10
    );
    let mut bytes = sentence(&format!(
        "GNGGA,{t},4134.49795459,N,09345.03431408,W,4,10,0.9,278.161,M,-31.442,M,1.0,0133"
    ));
    bytes.extend(sentence(&format!(
        "GNRMC,{t},A,4134.49795459,N,09345.03431408,W,0.148,124.888,180320,11.5985,E,R"
    )));
    (format!("2020-03-18T{}Z", rfc3339_time_part(&t)), bytes)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

type Arrivals = Arc<Mutex<HashMap<String, Instant>>>;

async fn collect(mut sub: verger::client::Subscription, arrivals: Arrivals) {
    while let Some(e) = sub.recv().await {
        let now = Instant::now();
        if let Some(t) = e.kwargs.get("time").and_then(Value::as_str) {
            arrivals.lock().unwrap().insert(t.to_owned(), now);
        }
    }
}

/// The pty → router path without the component: publish when the epoch's second line
/// end arrives.
async fn baseline(url: String, link: std::path::PathBuf) {
    let client = connect(&url).await;
    let mut reader = source::spawn(
        SourceSpec::Serial {
            path: link,
            baud: 115_200,
        },
        ReaderOptions::default(),
    );
    let mut line = Vec::new();
    let mut lines = 0;
    while let Some(ev) = reader.events.recv().await {
        if let SourceEvent::Data { bytes, .. } = ev {
            for b in bytes {
                line.push(b);
                if b == b'\n' {
                    lines += 1;
                    if lines % 2 == 0 {
                        let text = String::from_utf8_lossy(&line).to_string();
                        let t = text.split(',').nth(1).unwrap_or("").to_owned();
                        let time = format!("2020-03-18T{}Z", rfc3339_time_part(&t));
                        let kwargs = verger::dict! { "time" => time };
                        let _ = client
                            .publish(
                                BASELINE_TOPIC,
                                Payload::new(vec![], kwargs),
                                PublishOptions::default(),
                            )
                            .await;
                    }
                    line.clear();
                }
            }
        }
    }
}

async fn measure(pty: &mut Pty, arrivals: &Arrivals, n: u64, period: Duration) -> (Vec<f64>, u64) {
    let mut sent = Vec::new();
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for i in 0..n {
        tick.tick().await;
        let (time, bytes) = epoch(i, period.as_millis() as u64);
        pty.write(&bytes).await;
        sent.push((time, Instant::now()));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let arrivals = arrivals.lock().unwrap();
    let mut lat = Vec::new();
    let mut lost = 0;
    for (time, written) in sent {
        match arrivals.get(&time) {
            Some(at) => lat.push(at.saturating_duration_since(written).as_secs_f64() * 1e3),
            None => lost += 1,
        }
    }
    lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
    (lat, lost)
}

fn row(name: &str, lat: &[f64], lost: u64) -> String {
    format!(
        "| {name} | {} | {lost} | {:.3} | {:.3} | {:.3} | {:.3} |",
        lat.len(),
        percentile(lat, 0.5),
        percentile(lat, 0.99),
        lat.last().copied().unwrap_or(f64::NAN),
        lat.iter().sum::<f64>() / lat.len() as f64
    )
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let n: u64 = args.first().and_then(|a| a.parse().ok()).unwrap_or(1200);
    let rate: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(20);
    let period = Duration::from_millis(1000 / rate);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let router = start_test_router().await;
        let observer = connect(&router.url()).await;
        let dir = TempDir::new("bench");

        // 1. The component.
        let link = dir.path("ttyGNSS");
        let mut pty = Pty::open(&link);
        let arrivals: Arrivals = Arc::default();
        let sub = subscribe(&observer, FIX_TOPIC, false).await;
        let collector = tokio::spawn(collect(sub, arrivals.clone()));
        let mut config = GnssConfig::new(SourceSpec::Serial {
            path: link.clone(),
            baud: 115_200,
        });
        config.reader.backoff_initial = Duration::from_millis(10);
        let gnss = InProcess::start(&router.url(), |c, s| verger_gnss::run(c, config, s));
        within("component joins", gnss.client.wait_established()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (component, component_lost) = measure(&mut pty, &arrivals, n, period).await;
        gnss.stop().await.expect("component stops cleanly");
        collector.abort();
        drop(pty);

        // 2. Baseline: pty → bare reader → router → subscriber.
        let link = dir.path("ttyBase");
        let mut pty = Pty::open(&link);
        let arrivals: Arrivals = Arc::default();
        let sub = subscribe(&observer, BASELINE_TOPIC, false).await;
        let collector = tokio::spawn(collect(sub, arrivals.clone()));
        let base = tokio::spawn(baseline(router.url(), link));
        tokio::time::sleep(Duration::from_millis(500)).await;
        let (baseline, baseline_lost) = measure(&mut pty, &arrivals, n, period).await;
        base.abort();
        collector.abort();

        println!("\n### verger-gnss latency: last byte written to the pty master → event at a subscriber\n");
        println!("{n} epochs (GGA+RMC) at {rate} Hz, router on 127.0.0.1, one process, 2 worker threads. Milliseconds.\n");
        println!("| path | epochs | lost | p50 | p99 | max | mean |");
        println!("|---|---|---|---|---|---|---|");
        println!("{}", row("pty → verger-gnss → router → subscriber", &component, component_lost));
        println!("{}", row("pty → bare reader → router → subscriber (baseline)", &baseline, baseline_lost));
        println!(
            "| **added by verger-gnss** (difference) | | | {:.3} | {:.3} | | {:.3} |",
            percentile(&component, 0.5) - percentile(&baseline, 0.5),
            percentile(&component, 0.99) - percentile(&baseline, 0.99),
            component.iter().sum::<f64>() / component.len() as f64
                - baseline.iter().sum::<f64>() / baseline.len() as f64,
        );
        router.shutdown().await.unwrap();
    });
}
