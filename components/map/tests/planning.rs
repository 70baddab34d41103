//! The map component through the real router: scripted GNSS fixes in, orders to a
//! stand-in dose module out. GNSS time in the fixes runs ahead of the wall clock (a fix
//! every 100 ms of GNSS time, published every few ms): the planner times windows on
//! GNSS time only, while the age rule checks `published_at`, which is now.

mod common;

use std::collections::BTreeMap;

use common::*;
use verger::client::{Client, PublishOptions};
use verger::contract::dose::TreatRequest;
use verger::contract::gnss::{self, ReceiverState};
use verger::contract::map::{MapStatusPayload, PlanningState, STATUS_TOPIC, TARGET_TOPIC};
use verger::nmea::Quality;
use verger_map::MapSettings;
use verger_testkit::{
    connect, event_where, kwargs_of, schema, start_test_router, subscribe, within, TempDir,
};

fn retained() -> PublishOptions {
    PublishOptions {
        retain: true,
        acknowledge: true,
        ..PublishOptions::default()
    }
}

/// The status of the map once `pred` holds for it.
async fn status_where(
    observer: &Client,
    what: &str,
    pred: impl Fn(&MapStatusPayload) -> bool,
) -> MapStatusPayload {
    let mut sub = subscribe(observer, STATUS_TOPIC, true).await;
    let e = event_where(&mut sub, what, |e| pred(&kwargs_of::<MapStatusPayload>(e))).await;
    let json = schema::kwargs_json(&e.kwargs);
    schema::check(STATUS_TOPIC, &json).unwrap_or_else(|p| panic!("{p:?} in {json}"));
    kwargs_of(&e)
}

/// A scripted GNSS: the status `fix` (again every 20 fixes, within the age rule), then
/// fixes along x = `x` heading north at `speed` from y = `y0`, one per 100 ms of GNSS
/// time from `t0`, `n` of them, published as fast as the router takes them (they queue
/// in the map's subscription, which holds them all); returns the GNSS time after the
/// last.
#[allow(clippy::too_many_arguments)]
async fn drive_north(
    gnss: &Client,
    t0: i64,
    x: f64,
    y0: f64,
    speed: f64,
    n: usize,
    quality: Quality,
) -> i64 {
    assert!(
        n <= verger_testkit::client_config("ws://x").subscription_queue,
        "more fixes than the map's subscription queue holds"
    );
    for i in 0..n {
        if i % 20 == 0 {
            gnss.publish_typed(
                gnss::STATUS_TOPIC,
                &gnss_status(ReceiverState::Fix),
                retained(),
            )
            .await
            .unwrap();
        }
        let t = t0 + i as i64 * 100_000;
        let y = y0 + speed * i as f64 * 0.1;
        gnss.publish_typed(
            gnss::FIX_TOPIC,
            &fix(t, x, y, speed, 0.0, quality),
            PublishOptions::default(),
        )
        .await
        .unwrap();
    }
    t0 + n as i64 * 100_000
}

fn drain(rx: &mut tokio::sync::mpsc::UnboundedReceiver<TreatRequest>) -> Vec<TreatRequest> {
    let mut out = Vec::new();
    while let Ok(r) = rx.try_recv() {
        out.push(r);
    }
    out
}

fn micros_of(rfc3339: &str) -> i64 {
    let t = gnss::parse_published_at(rfc3339).expect("RFC 3339");
    t.duration_since(std::time::UNIX_EPOCH).unwrap().as_micros() as i64
}

#[tokio::test]
async fn each_tree_once_on_its_side_with_its_window_and_nothing_in_the_zone() {
    let dir = TempDir::new("map-planning");
    let db = orchard_db(&dir);
    let router = start_test_router().await;
    let url = router.url();
    let observer = connect(&url).await;
    let dose = connect(&url).await;
    let (_reg, mut requests) = fake_dose(&dose, Answer::Now).await;
    let mut targets = subscribe(&observer, TARGET_TOPIC, false).await;
    let map = start_map(&url, db, unhurried(), &observer).await;
    let gnss = connect(&url).await;
    // 0 → 50 m at 2 m/s: 251 fixes.
    let t0 = start_time();
    drive_north(&gnss, t0, 0.0, 0.0, 2.0, 251, Quality::RtkFixed).await;
    let status = status_where(&observer, "all fixes planned", |s| s.counters.fixes == 251).await;
    // Fixes stopped after the drive: 500 ms later the map holds as stale.
    assert!(
        status.state == PlanningState::Planning
            || status.holding_reason.map(|r| r.as_str()) == Some("stale_fix"),
        "{status:?}"
    );
    assert_eq!(status.counters.fixes_planned, 251);
    // The east row from y = 31 on is in the zone: 6 trees (31 to 38.5... 40).
    let east_in_zone = tree_ys().iter().filter(|y| **y >= 31.0).count() as u64;
    assert_eq!(status.counters.windows_refused.no_spray_zone, east_in_zone);
    let expected = 2 * tree_ys().len() as u64 - east_in_zone;
    assert_eq!(status.counters.orders, expected);
    assert_eq!(status.counters.completed, expected);
    assert_eq!(
        (
            status.counters.replans,
            status.counters.withdrawals,
            status.counters.dose_errors
        ),
        (0, 0, 0)
    );
    let got = within("the dose calls", async {
        let mut got = Vec::new();
        while (got.len() as u64) < expected {
            got.push(requests.recv().await.unwrap());
        }
        got
    })
    .await;
    let mut by_tree: BTreeMap<String, TreatRequest> = BTreeMap::new();
    for r in got {
        let json = serde_json::to_value(&r).unwrap();
        schema::check("orchard.dose.treat.call.schema.json", &json)
            .unwrap_or_else(|p| panic!("{p:?} in {json}"));
        assert_eq!(r.revision, 1, "{r:?}");
        let window = r.window.clone().expect("an order");
        let y: f64 = r.tree.id[2..].parse().unwrap();
        // Default sections: nozzles 3.5 m behind the antenna (y = 2t − 3.5).
        let open = t0 + ((y - CANOPY_M / 2.0 + 3.5) / 2.0 * 1e6) as i64;
        let close = t0 + ((y + CANOPY_M / 2.0 + 3.5) / 2.0 * 1e6) as i64;
        assert!(
            (micros_of(&window.open) - open).abs() <= 2_000
                && (micros_of(&window.close) - close).abs() <= 2_000,
            "{}: {window:?}, expected {} .. {}",
            r.tree.id,
            verger::civil::rfc3339_from_unix_micros(open, 3),
            verger::civil::rfc3339_from_unix_micros(close, 3)
        );
        let side = if r.tree.id.starts_with('W') {
            "left"
        } else {
            "right"
        };
        assert_eq!(r.section.id, side, "{}", r.tree.id);
        assert!(
            r.tree.id.starts_with('W') || y < 31.0,
            "{} is in the zone",
            r.tree.id
        );
        assert!(by_tree.insert(r.tree.id.clone(), r).is_none(), "twice");
    }
    assert!(drain(&mut requests).is_empty());
    // The same orders went out on orchard.map.target, matching its schema.
    for _ in 0..expected {
        let e = within("target", targets.recv()).await.unwrap();
        let json = schema::kwargs_json(&e.kwargs);
        schema::check(TARGET_TOPIC, &json).unwrap_or_else(|p| panic!("{p:?} in {json}"));
        let t: TreatRequest = kwargs_of(&e);
        assert_eq!(
            by_tree.get(&t.tree.id).map(|r| &r.plan_id),
            Some(&t.plan_id)
        );
    }
    map.stop().await.unwrap();
    let gone = status_where(&observer, "gone", |s| s.state == PlanningState::Gone).await;
    assert!(gone.published_at.is_some());
}

#[tokio::test]
async fn poor_fixes_order_nothing_and_losing_the_gnss_withdraws() {
    let dir = TempDir::new("map-refusals");
    let db = orchard_db(&dir);
    let router = start_test_router().await;
    let url = router.url();
    let observer = connect(&url).await;
    let dose = connect(&url).await;
    let (_reg, mut requests) = fake_dose(&dose, Answer::Now).await;
    let map = start_map(&url, db, unhurried(), &observer).await;
    let gnss = connect(&url).await;
    let t0 = start_time();
    // DGPS (below the default rtk_float) all the way: nothing ordered.
    let t = drive_north(&gnss, t0, 0.0, 0.0, 2.0, 40, Quality::Dgps).await;
    let s = status_where(&observer, "holding: poor quality", |s| {
        s.counters.fixes == 40
    })
    .await;
    assert_eq!(s.state, PlanningState::Holding);
    assert_eq!(s.counters.fixes_refused.poor_quality, 40);
    assert_eq!(s.counters.orders, 0);
    assert!(drain(&mut requests).is_empty());
    // RTK from y = 11 (nozzles at 7.5): the first trees (y = 10, canopy from 9.4) open
    // in 0.95 s, within latency + look-ahead + horizon: ordered at once.
    drive_north(&gnss, t, 0.0, 11.0, 2.0, 2, Quality::RtkFixed).await;
    let first = within("an order", requests.recv()).await.unwrap();
    assert!(first.window.is_some());
    // The receiver loses its fix: every pending order is withdrawn.
    gnss.publish_typed(
        gnss::STATUS_TOPIC,
        &gnss_status(ReceiverState::NoFix),
        retained(),
    )
    .await
    .unwrap();
    let withdrawn = within("a withdrawal", async {
        loop {
            let r = requests.recv().await.unwrap();
            if r.window.is_none() && r.plan_id == first.plan_id {
                return r;
            }
        }
    })
    .await;
    let json = serde_json::to_value(&withdrawn).unwrap();
    schema::check("orchard.dose.treat.call.schema.json", &json).unwrap();
    assert_eq!(withdrawn.revision, first.revision + 1);
    assert_eq!(
        withdrawn.withdraw_reason.map(|r| r.as_str()),
        Some("gnss_not_fix")
    );
    let s = status_where(&observer, "withdrawn", |s| s.counters.withdrawals > 0).await;
    assert_eq!(s.pending, 0);
    map.stop().await.unwrap();
}

#[tokio::test]
async fn fixes_that_stop_coming_withdraw_the_pending_windows() {
    let dir = TempDir::new("map-stale");
    let db = orchard_db(&dir);
    let router = start_test_router().await;
    let url = router.url();
    let observer = connect(&url).await;
    let dose = connect(&url).await;
    let (_reg, mut requests) = fake_dose(&dose, Answer::Now).await;
    let map = start_map(&url, db, MapSettings::default(), &observer).await;
    let gnss = connect(&url).await;
    drive_north(&gnss, start_time(), 0.0, 11.0, 2.0, 2, Quality::RtkFixed).await;
    let first = within("an order", requests.recv()).await.unwrap();
    // No more fixes: after max_fix_age (500 ms) the order is withdrawn as stale.
    let withdrawn = within("a withdrawal", async {
        loop {
            let r = requests.recv().await.unwrap();
            if r.window.is_none() && r.plan_id == first.plan_id {
                return r;
            }
        }
    })
    .await;
    assert_eq!(
        withdrawn.withdraw_reason.map(|r| r.as_str()),
        Some("stale_fix")
    );
    let s = status_where(&observer, "holding: stale", |s| {
        s.holding_reason.map(|r| r.as_str()) == Some("stale_fix")
    })
    .await;
    assert_eq!(s.counters.fixes_refused.stale_fix, 1);
    map.stop().await.unwrap();
}

#[tokio::test]
async fn an_absent_or_slow_dose_module_never_stops_planning() {
    let dir = TempDir::new("map-dose");
    let db = orchard_db(&dir);
    let router = start_test_router().await;
    let url = router.url();
    let observer = connect(&url).await;
    let mut targets = subscribe(&observer, TARGET_TOPIC, false).await;
    // No dose module at all: every call fails, every order is still planned and
    // published.
    let map = start_map(&url, db.clone(), unhurried(), &observer).await;
    let gnss = connect(&url).await;
    drive_north(&gnss, start_time(), 0.0, 0.0, 2.0, 251, Quality::RtkFixed).await;
    let s = status_where(&observer, "every dose call failed", |s| {
        s.counters.fixes == 251 && s.counters.dose_errors == s.counters.orders
    })
    .await;
    let expected = s.counters.orders;
    assert!(expected > 30, "{s:?}");
    for _ in 0..expected {
        within("target", targets.recv()).await.unwrap();
    }
    map.stop().await.unwrap();
    // A dose module that never answers, and at most 4 calls in flight: orders beyond
    // are dropped and counted, and planning goes on at full pace.
    let dose = connect(&url).await;
    let (_reg, mut requests) = fake_dose(&dose, Answer::Never).await;
    let mut settings = unhurried();
    settings.planning.max_in_flight = 4;
    let map = start_map(&url, db, settings, &observer).await;
    drive_north(&gnss, start_time(), 0.0, 0.0, 2.0, 251, Quality::RtkFixed).await;
    let s = status_where(&observer, "busy dose counted", |s| {
        s.counters.fixes == 251 && s.counters.orders == expected
    })
    .await;
    assert_eq!(s.counters.dose_busy, expected - 4, "{s:?}");
    assert_eq!(drain(&mut requests).len(), 4);
    map.stop().await.unwrap();
}

#[tokio::test]
async fn nothing_is_ordered_from_outside_the_boundary_or_too_slowly() {
    let dir = TempDir::new("map-outside");
    let db = orchard_db(&dir);
    let router = start_test_router().await;
    let url = router.url();
    let observer = connect(&url).await;
    let dose = connect(&url).await;
    let (_reg, mut requests) = fake_dose(&dose, Answer::Now).await;
    let map = start_map(&url, db, unhurried(), &observer).await;
    let gnss = connect(&url).await;
    // The boundary starts at y = −10: 30 fixes from y = −30 to −18.4, outside.
    let t = drive_north(&gnss, start_time(), 0.0, -30.0, 4.0, 30, Quality::RtkFixed).await;
    let s = status_where(&observer, "outside", |s| s.counters.fixes == 30).await;
    assert_eq!(s.counters.fixes_refused.outside_boundary, 30);
    // Creeping at 0.2 m/s right by the first trees: below the minimum speed.
    drive_north(&gnss, t, 0.0, 9.0, 0.2, 30, Quality::RtkFixed).await;
    let s = status_where(&observer, "too slow", |s| s.counters.fixes == 60).await;
    assert_eq!(s.counters.fixes_refused.too_slow, 30);
    assert_eq!(s.counters.orders, 0);
    assert!(drain(&mut requests).is_empty());
    map.stop().await.unwrap();
}
