//! What the map component's tests share: a small orchard laid out in metres, imported
//! into a map database; scripted GNSS fixes and status; a stand-in dose module.

#![allow(dead_code, unreachable_pub)]

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::json;
use tokio::sync::mpsc;
use verger::client::{Client, InvocationError, RegisterOptions, Registration};
use verger::contract::dose::{TreatRequest, TREAT};
use verger::contract::gnss::{published_now, FixPayload, StatusCounters, StatusPayload};
use verger::contract::map::{MapStatusPayload, PlanningState, STATUS_TOPIC};
use verger::nmea::Quality;
use verger::orchard::{Frame, ImportOptions, MapDb};
use verger_map::MapSettings;
use verger_testkit::{event_where, kwargs_of, subscribe, InProcess, TempDir};

pub const ORIGIN: (f64, f64) = (44.07, 1.09);

pub fn frame() -> Frame {
    Frame::new(ORIGIN.0, ORIGIN.1)
}

/// (lat, lon) of a point `x` m east and `y` m north of the origin.
pub fn at(x: f64, y: f64) -> (f64, f64) {
    frame().to_wgs84(geo::coord! {x: x, y: y})
}

fn lonlat(x: f64, y: f64) -> [f64; 2] {
    let (lat, lon) = at(x, y);
    [lon, lat]
}

fn rect(x0: f64, y0: f64, x1: f64, y1: f64) -> serde_json::Value {
    json!([[
        lonlat(x0, y0),
        lonlat(x1, y0),
        lonlat(x1, y1),
        lonlat(x0, y1),
        lonlat(x0, y0)
    ]])
}

/// The test orchard: rows "W" at x = −2 and "E" at x = +2, a tree every 1.5 m from
/// y = 10 to y = 40 (ids `W-10.0`...), canopies 1.2 m wide; the alley between them at
/// x = 0; a boundary from (−10, −10) to (10, 60); a no-spray zone over x > 1, y > 31
/// (the east row from y = 31 on).
pub fn tree_ys() -> Vec<f64> {
    (0..=20).map(|i| 10.0 + 1.5 * i as f64).collect()
}

pub const CANOPY_M: f64 = 1.2;

pub fn orchard_geojson() -> serde_json::Value {
    let mut features = vec![
        json!({"type": "Feature", "properties": {"kind": "boundary"},
               "geometry": {"type": "Polygon", "coordinates": rect(-10.0, -10.0, 10.0, 60.0)}}),
        json!({"type": "Feature", "properties": {"kind": "no_spray", "id": "znt", "reason": "stream buffer"},
               "geometry": {"type": "Polygon", "coordinates": rect(1.0, 31.0, 12.0, 70.0)}}),
    ];
    for (row, x) in [("W", -2.0), ("E", 2.0)] {
        for y in tree_ys() {
            features.push(json!({
                "type": "Feature",
                "properties": {"kind": "tree", "id": format!("{row}-{y:.1}"), "row": row,
                               "fruit_count": 100 + y as i64, "canopy_height_m": 3.0,
                               "canopy_width_m": CANOPY_M, "canopy_volume_m3": 2.2},
                "geometry": {"type": "Point", "coordinates": lonlat(x, y)}
            }));
        }
    }
    json!({"type": "FeatureCollection", "features": features})
}

/// The test orchard imported into a fresh database.
pub fn orchard_db(dir: &TempDir) -> PathBuf {
    let source = dir.path("orchard.geojson");
    std::fs::write(&source, orchard_geojson().to_string()).unwrap();
    let db = dir.path("orchard.db");
    MapDb::import(&db, &[source], &ImportOptions::default(), &mut |_| {}).unwrap();
    db
}

/// GNSS time of the test's first fix (µs since the epoch): now, so that windows are
/// realistic dates.
pub fn start_time() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64
}

/// A fix at (`x`, `y`) m, GNSS time `t` µs, published now.
pub fn fix(t: i64, x: f64, y: f64, speed: f64, course: f64, quality: Quality) -> FixPayload {
    let (lat, lon) = at(x, y);
    FixPayload {
        time: verger::civil::rfc3339_from_unix_micros(t, 3),
        lat,
        lon,
        alt_m: None,
        quality,
        sats: Some(20),
        hdop: Some(0.7),
        speed_mps: Some(speed),
        course_deg: Some(course),
        heading_deg: None,
        lat_err_m: None,
        lon_err_m: None,
        alt_err_m: None,
        diff_age_s: Some(1.0),
        age_ms: 1.0,
        published_at: published_now(),
    }
}

/// A GNSS status in `state`, published now.
pub fn gnss_status(state: verger::contract::gnss::ReceiverState) -> StatusPayload {
    StatusPayload {
        state,
        quality: (state == verger::contract::gnss::ReceiverState::Fix).then_some(Quality::RtkFixed),
        no_fix_reason: None,
        source: "test".into(),
        last_epoch_age_ms: Some(10.0),
        counters: StatusCounters::default(),
        published_at: Some(published_now()),
    }
}

/// How the stand-in dose module answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// At once, with success.
    Now,
    /// Never (a hung dose module).
    Never,
}

/// A stand-in dose module: registers `orchard.dose.treat` and hands every request to
/// the test, answering as `answer` says.
pub async fn fake_dose(
    client: &Client,
    answer: Answer,
) -> (Registration, mpsc::UnboundedReceiver<TreatRequest>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let registration = client
        .register_typed(TREAT, RegisterOptions::default(), move |r: TreatRequest| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(r);
                if answer == Answer::Never {
                    std::future::pending::<()>().await;
                }
                Ok::<_, InvocationError>(json!({"ok": true}))
            }
        })
        .await
        .unwrap();
    (registration, rx)
}

/// Settings for tests that publish fixes as fast as the router takes them: a fix may
/// wait in the map's queue behind the others before it is planned, so the age rule
/// gets the widest fix limit the settings allow (tests of staleness keep the default).
pub fn unhurried() -> MapSettings {
    let mut s = MapSettings::default();
    s.planning.max_fix_age = Duration::from_secs(5);
    s
}

/// The map component on `url` with `settings`, once its status says `waiting` (its
/// procedures are registered and its subscriptions made before that).
pub async fn start_map(
    url: &str,
    db: PathBuf,
    settings: MapSettings,
    observer: &Client,
) -> InProcess<Result<(), verger_map::RunError>> {
    let mut status = subscribe(observer, STATUS_TOPIC, true).await;
    let map = InProcess::start(url, move |c, s| verger_map::run(c, s, settings, db));
    event_where(&mut status, "map waiting", |e| {
        kwargs_of::<MapStatusPayload>(e).state == PlanningState::Waiting
    })
    .await;
    map
}
