//! `verger records export` and `verger records info` as a grower meets them, on record
//! databases written through `RecordDb`: both formats read back to the stored sprays,
//! the time range (from included, to excluded), an empty record, and the failures (a
//! missing file, a map given for a record, a bad time), each one line naming the file
//! or flag.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;
use verger::contract::gnss::unix_micros;
use verger::contract::sprayer::{AppliedRecord, SprayEnd};
use verger::contract::ContractPayload;
use verger::orchard::{ImportOptions, MapDb};
use verger::records::{NewRecord, RecordDb, FIELDS};
use verger_testkit::{within, TempDir};

const VERGER: &str = env!("CARGO_BIN_EXE_verger");

async fn verger(args: &[&str]) -> Output {
    within(
        &format!("verger {}", args.join(" ")),
        tokio::process::Command::new(VERGER).args(args).output(),
    )
    .await
    .expect("start verger")
}

/// Runs, succeeds, says nothing on stderr; its stdout.
async fn ok(args: &[&str]) -> String {
    let out = verger(args).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{args:?}: {stderr}");
    assert!(stderr.is_empty(), "{args:?}: {stderr}");
    String::from_utf8(out.stdout).expect("utf-8")
}

/// Fails with status `code`; its stderr.
async fn fails(args: &[&str], code: i32) -> String {
    let out = verger(args).await;
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
    assert!(out.stdout.is_empty(), "{args:?}");
    stderr
}

/// Sprays opening at these GNSS times: the first with both ends, then one end, then
/// none; text that CSV must quote.
fn sprays(times: &[&str]) -> Vec<NewRecord> {
    let template = NewRecord::from(AppliedRecord::examples().remove(0));
    times
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let closed = unix_micros(t).expect("a time") + 675_000;
            let mut r = NewRecord {
                plan_id: format!("R-{i}@left:{i}"),
                tree_id: format!("R-{i}"),
                opened_at: (*t).to_owned(),
                closed_at: verger::civil::rfc3339_from_unix_micros(closed, 3),
                end: SprayEnd::ALL[i % SprayEnd::ALL.len()],
                ..template.clone()
            };
            if i % 3 >= 1 {
                r.close_lat = None;
                r.close_lon = None;
            }
            if i % 3 == 2 {
                r.open_lat = None;
                r.open_lon = None;
                r.operator = Some("Martin, J. \"Jo\"".into());
            }
            r
        })
        .collect()
}

/// A record database holding `records`, as stored.
fn record_db(dir: &TempDir, name: &str, records: &[NewRecord]) -> (PathBuf, Vec<AppliedRecord>) {
    let path = dir.path(name);
    let mut db = RecordDb::create_or_open(&path).expect("create");
    let stored = db.insert_batch(records).expect("insert");
    db.close().expect("close");
    (path, stored)
}

fn csv_rows(text: &str) -> Vec<AppliedRecord> {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    assert_eq!(
        reader
            .headers()
            .expect("a header")
            .iter()
            .collect::<Vec<_>>(),
        FIELDS
    );
    reader
        .deserialize()
        .collect::<Result<_, _>>()
        .expect("rows read back")
}

fn geojson_sprays(text: &str) -> Vec<AppliedRecord> {
    let fc: Value = serde_json::from_str(text).expect("JSON");
    assert_eq!(fc["type"], "FeatureCollection");
    fc["features"]
        .as_array()
        .expect("features")
        .iter()
        .map(|f| serde_json::from_value(f["properties"].clone()).expect("a spray"))
        .collect()
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// `verger records export --db DB --format FORMAT` and `more`.
fn export<'a>(db: &'a Path, format: &'a str, more: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["records", "export", "--db", s(db), "--format", format];
    args.extend_from_slice(more);
    args
}

const DAY: [&str; 4] = [
    "2026-04-14T09:12:34.411Z",
    "2026-04-14T13:00:00.000Z",
    "2026-04-14T17:45:10.250Z",
    "2026-04-15T08:00:00.000Z",
];

#[tokio::test]
async fn both_formats_read_back_to_the_stored_sprays() {
    let dir = TempDir::new("records-cli");
    let (db, stored) = record_db(&dir, "records.db", &sprays(&DAY));

    let csv = ok(&export(&db, "csv", &[])).await;
    assert_eq!(csv_rows(&csv), stored);

    let out = dir.path("sprays.geojson");
    let stdout = ok(&export(&db, "geojson", &["--output", s(&out)])).await;
    assert!(stdout.is_empty());
    let text = std::fs::read_to_string(&out).unwrap();
    assert_eq!(geojson_sprays(&text), stored);
    let fc: Value = serde_json::from_str(&text).unwrap();
    let kinds: Vec<Value> = fc["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["geometry"]["type"].clone())
        .collect();
    let want = [
        "LineString".into(),
        "Point".into(),
        Value::Null,
        "LineString".into(),
    ];
    assert_eq!(kinds, want);

    let info = ok(&["records", "info", "--db", s(&db)]).await;
    assert!(
        info.starts_with(&format!(
            "{}\nsprays: 4\nfirst: {}\nlast: {}\n",
            db.display(),
            DAY[0],
            DAY[3]
        )),
        "{info}"
    );
    assert!(info.contains("product: Exemplar 80 WG (authorisation 2990001): 4 sprays, 0.520 L applied (0.520 L ordered)"), "{info}");
    let json: Value =
        serde_json::from_str(&ok(&["records", "info", "--db", s(&db), "--json"]).await).unwrap();
    assert_eq!(json["sprays"], 4);
    assert_eq!(json["first_opened_at"], DAY[0]);
    assert_eq!(json["products"][0]["sprays"], 4);
    assert_eq!(json["schema_version"], verger::records::SCHEMA_VERSION);
}

#[tokio::test]
async fn the_time_range_includes_from_and_excludes_to() {
    let dir = TempDir::new("records-cli-range");
    let (db, stored) = record_db(&dir, "records.db", &sprays(&DAY));
    let ids = |more: &'static [&'static str]| {
        let db = db.clone();
        async move {
            let csv = ok(&export(&db, "csv", more)).await;
            csv_rows(&csv).iter().map(|r| r.id).collect::<Vec<i64>>()
        }
    };
    let id = |i: usize| stored[i].id;
    // A bound at a spray's own opening time: --from takes it, --to leaves it out.
    assert_eq!(ids(&["--from", DAY[1]]).await, [id(1), id(2), id(3)]);
    assert_eq!(ids(&["--to", DAY[1]]).await, [id(0)]);
    assert_eq!(ids(&["--from", DAY[1], "--to", DAY[2]]).await, [id(1)]);
    // A whole day, in whole seconds; one microsecond after a spray's opening.
    let day: &[&str] = &[
        "--from",
        "2026-04-14T00:00:00Z",
        "--to",
        "2026-04-15T00:00:00Z",
    ];
    assert_eq!(ids(day).await, [id(0), id(1), id(2)]);
    let after: &[&str] = &["--from", "2026-04-14T09:12:34.411001Z"];
    assert_eq!(ids(after).await, [id(1), id(2), id(3)]);
    assert_eq!(ids(&["--from", "2026-04-16T00:00:00Z"]).await, [0i64; 0]);

    let e = fails(&export(&db, "csv", &["--from", DAY[2], "--to", DAY[2]]), 1).await;
    assert_eq!(
        e,
        "verger: --to must be later than --from (the range includes --from and excludes --to)\n"
    );
    for (flag, value) in [
        ("--from", "yesterday"),
        ("--to", "2026-04-14T09:00:00+02:00"),
        ("--from", "2026-04-14"),
    ] {
        let e = fails(&export(&db, "csv", &[flag, value]), 2).await;
        assert!(
            e.contains(&format!("invalid value '{value}' for '{flag} <TIME>'"))
                && e.contains("e.g. 2026-04-14T00:00:00Z"),
            "{e}"
        );
    }
}

#[tokio::test]
async fn an_empty_record_exports_a_header_and_an_empty_collection() {
    let dir = TempDir::new("records-cli-empty");
    let (db, _) = record_db(&dir, "empty.db", &[]);
    let csv = ok(&export(&db, "csv", &[])).await;
    assert_eq!(csv, FIELDS.join(",") + "\n");
    let geojson = ok(&export(&db, "geojson", &[])).await;
    assert!(geojson_sprays(&geojson).is_empty());
    let info = ok(&["records", "info", "--db", s(&db)]).await;
    assert_eq!(
        info,
        format!(
            "{}\nsprays: 0\nrecord schema version: {}\n",
            db.display(),
            verger::records::SCHEMA_VERSION
        )
    );
}

#[tokio::test]
async fn what_is_not_a_record_fails_in_one_line_naming_it() {
    let dir = TempDir::new("records-cli-fail");
    let trees = dir.path("trees.csv");
    std::fs::write(
        &trees,
        "id,row,lat,lon\nT-1,R1,44.1,1.08\nT-2,R1,44.10001,1.08\n",
    )
    .unwrap();
    let map = dir.path("orchard.db");
    MapDb::import(
        &map,
        std::slice::from_ref(&trees),
        &ImportOptions::default(),
        &mut |_| {},
    )
    .expect("a map");
    let map_before = std::fs::read(&map).unwrap();
    let missing = dir.path("missing.db");
    let (db, _) = record_db(&dir, "records.db", &sprays(&DAY[..1]));
    for (args, says) in [
        (
            vec!["records", "info", "--db", s(&missing)],
            format!("verger: no record database at {}\n", missing.display()),
        ),
        (
            export(&missing, "csv", &[]),
            format!("verger: no record database at {}\n", missing.display()),
        ),
        (
            export(&map, "geojson", &[]),
            format!(
                "verger: {} is not a verger record database: an SQLite database without verger's record tables\n",
                map.display()
            ),
        ),
        (
            vec!["records", "info", "--db", s(&trees), "--json"],
            format!(
                "verger: {} is not a verger record database: not an SQLite database\n",
                trees.display()
            ),
        ),
    ] {
        assert_eq!(fails(&args, 1).await, says, "{args:?}");
    }
    assert!(!missing.exists(), "nothing created");
    assert_eq!(
        std::fs::read(&map).unwrap(),
        map_before,
        "the map is left as it was"
    );

    let nowhere = dir.path("no/such/folder/out.csv");
    let e = fails(&export(&db, "csv", &["--output", s(&nowhere)]), 1).await;
    assert!(
        e.starts_with(&format!("verger: cannot create {}: ", nowhere.display())),
        "{e}"
    );
    let e = fails(&export(&db, "shp", &[]), 2).await;
    assert!(e.contains("'shp'") && e.contains("csv, geojson"), "{e}");
}
