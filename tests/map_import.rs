//! The orchard map database as its users meet it: `MapDb::import` of GeoJSON and CSV
//! (every refusal leaves the database byte for byte as it was, and creates none), the
//! real AGRIDS vineyard, the derived boundary, export → import round trips, the queries
//! of the map component, schema versions, and `verger map` as a binary.

use std::path::{Path, PathBuf};

use geo::{Contains, Coord, Distance, Geodesic, Point};
use serde_json::{json, Value};
use verger::orchard::import::{BoundaryOutcome, ImportError};
use verger::orchard::{
    BBox, BoundaryKind, Frame, ImportOptions, ImportSummary, MapDb, MapError, SCHEMA_VERSION,
};
use verger_testkit::{run_to_end, shared, TempDir};

const VERGER: &str = env!("CARGO_BIN_EXE_verger");

/// The test orchard's origin (an apple orchard near Angers).
const LAT0: f64 = 47.35;
const LON0: f64 = -0.62;

fn frame() -> Frame {
    Frame::new(LAT0, LON0)
}

/// [lon, lat] of a point `x` metres east and `y` metres north of the origin.
fn at(x: f64, y: f64) -> [f64; 2] {
    let (lat, lon) = frame().to_wgs84(Coord { x, y });
    [lon, lat]
}

fn feature(props: Value, geometry: Value) -> Value {
    json!({"type": "Feature", "properties": props, "geometry": geometry})
}

fn polygon(corners: &[(f64, f64)]) -> Value {
    let mut ring: Vec<[f64; 2]> = corners.iter().map(|(x, y)| at(*x, *y)).collect();
    ring.push(ring[0]);
    json!({"type": "Polygon", "coordinates": [ring]})
}

fn collection(features: Vec<Value>) -> String {
    json!({"type": "FeatureCollection", "features": features}).to_string()
}

/// A small orchard: description, one block, 4 rows 3.5 m apart (R1-R3 with surveyed
/// trees every 1.5 m, R4 without), a boundary and a no-spray zone.
fn orchard_features() -> Vec<Value> {
    let mut f = vec![
        feature(
            json!({"kind": "orchard", "name": "Verger du Tertre", "crop": "apple", "eppo_code": "MABSD", "parcel_ref": "ZK-0012"}),
            Value::Null,
        ),
        feature(
            json!({"kind": "block", "id": "B1", "name": "Nord", "variety": "Gala", "planting_year": 2016}),
            polygon(&[(-2.0, -2.0), (32.0, -2.0), (32.0, 13.0), (-2.0, 13.0)]),
        ),
    ];
    for r in 0..4 {
        let y = 3.5 * r as f64;
        f.push(feature(
            json!({"kind": "row", "id": format!("R{}", r + 1), "block": "B1"}),
            json!({"type": "LineString", "coordinates": [at(0.0, y), at(30.0, y)]}),
        ));
    }
    for r in 0..3 {
        for k in 0..20 {
            let (x, y) = (0.75 + 1.5 * k as f64, 3.5 * r as f64);
            f.push(feature(
                json!({
                    "kind": "tree", "id": format!("T{}-{:02}", r + 1, k + 1), "row": format!("R{}", r + 1),
                    "fruit_count": 100 + k, "canopy_height_m": 3.2, "canopy_width_m": 1.4,
                    "canopy_volume_m3": 4.5, "health": if k % 2 == 0 { "good" } else { "scab" }, "survey": {"by": "drone"}
                }),
                json!({"type": "Point", "coordinates": at(x, y)}),
            ));
        }
    }
    f.push(feature(
        json!({"kind": "boundary"}),
        polygon(&[(-5.0, -5.0), (35.0, -5.0), (35.0, 15.0), (-5.0, 15.0)]),
    ));
    f.push(feature(
        json!({"kind": "no_spray", "id": "Z1", "reason": "well head: 5 m buffer"}),
        polygon(&[(25.0, -5.0), (35.0, -5.0), (35.0, 2.0), (25.0, 2.0)]),
    ));
    f
}

fn write(dir: &TempDir, name: &str, text: &str) -> PathBuf {
    let path = dir.path(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn import(
    db: &Path,
    files: &[&Path],
    options: &ImportOptions,
) -> Result<ImportSummary, ImportError> {
    let files: Vec<PathBuf> = files.iter().map(|f| f.to_path_buf()).collect();
    MapDb::import(db, &files, options, &mut |_| {})
}

fn plain() -> ImportOptions {
    ImportOptions::default()
}

/// SQLite's own check of the map's R*Tree (packed on import, or filled entry by entry).
fn assert_rtree_ok(db: &Path) {
    let conn = rusqlite::Connection::open(db).unwrap();
    let verdict: String = conn
        .query_row("SELECT rtreecheck('trees_rtree')", [], |r| r.get(0))
        .unwrap();
    assert_eq!(verdict, "ok", "{}", db.display());
    let (trees, entries): (i64, i64) = conn
        .query_row(
            "SELECT (SELECT count(*) FROM trees), (SELECT count(*) FROM trees_rtree)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(trees, entries);
}

/// The names in `dir`, sorted.
fn listing(dir: &TempDir) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(&dir.0)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

// ---------------------------------------------------------------------------------------
// Refusals

/// One bad input: its file name, its text, and what the error must say.
struct Bad {
    name: &'static str,
    text: String,
    says: Vec<&'static str>,
}

fn bad(name: &'static str, text: impl Into<String>, says: &[&'static str]) -> Bad {
    Bad {
        name,
        text: text.into(),
        says: says.to_vec(),
    }
}

fn tree(id: &str, x: f64, y: f64) -> Value {
    feature(
        json!({"kind": "tree", "id": id}),
        json!({"type": "Point", "coordinates": at(x, y)}),
    )
}

fn bad_inputs() -> Vec<Bad> {
    vec![
        bad("a.geojson", "{\"type\": \"FeatureCollection\", \"features\": [\n  {\"type\": \"Feature\",,}\n]}", &["a.geojson: not JSON: line 2, column 22: key must be a string"]),
        bad("b.geojson", r#"{"type": "Topology", "objects": {}}"#, &["b.geojson: not a GeoJSON FeatureCollection or Feature", "\"Topology\""]),
        bad(
            "c.geojson",
            json!({"type": "FeatureCollection", "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::2154"}}, "features": []}).to_string(),
            &["c.geojson: coordinate reference system \"urn:ogc:def:crs:EPSG::2154\" is not supported"],
        ),
        bad(
            "d.geojson",
            collection(vec![feature(json!({"kind": "boundary"}), json!({"type": "Polygon", "coordinates": [[at(0.0, 0.0), at(10.0, 0.0), at(10.0, 10.0), at(0.0, 10.0)]]}))]),
            &["d.geojson, features[0]: the exterior ring is not closed"],
        ),
        bad(
            "e.geojson",
            collection(vec![feature(json!({"kind": "no_spray", "id": "Z", "reason": "pond"}), json!({"type": "Polygon", "coordinates": [[at(0.0, 0.0), at(10.0, 0.0), at(0.0, 0.0)]]}))]),
            &["e.geojson, features[0] (id \"Z\"): the exterior ring has 3 positions; a ring needs at least 4"],
        ),
        bad(
            "f.geojson",
            collection(vec![feature(json!({"kind": "boundary"}), polygon(&[(0.0, 0.0), (10.0, 10.0), (10.0, 0.0), (0.0, 10.0)]))]),
            &["f.geojson, features[0]: invalid geometry", "self-intersection"],
        ),
        bad(
            "g.geojson",
            collection(vec![tree("T1", 0.0, 0.0), tree("T2", 1.0, 0.0), tree("T1", 2.0, 0.0)]),
            &["g.geojson, features[2] (id \"T1\"): tree id \"T1\" is used twice (also at ", "g.geojson, features[0] (id \"T1\"))"],
        ),
        bad("h.csv", "id,row,lon\nT1,R1,-0.62\n", &["h.csv, line 1: no `lat` column"]),
        bad("i.csv", "id,row,lat,lon,canopy_volume_m3\nT1,R1,47.35,-0.62,4.5\nT2,R1,47.35,-0.62,big\n", &["i.csv, line 3, column 5 (canopy_volume_m3): `canopy_volume_m3` must be a number, not \"big\""]),
        bad("j.csv", "id,row,lat,lon\nT1,R1,6705000.5,452000.25\n", &["j.csv, line 2: longitude 452000.25, latitude 6705000.5 is out of range", "not projected metres"]),
        bad(
            "k.geojson",
            collection(vec![feature(json!({"kind": "tree", "id": "T1"}), json!({"type": "Point", "coordinates": [452000.25, 6705000.5]}))]),
            &["k.geojson, features[0] (id \"T1\"): longitude 452000.25, latitude 6705000.5 is out of range"],
        ),
        bad(
            "l.geojson",
            collection(vec![tree("T1", 0.0, 0.0), feature(json!({"kind": "no-spray", "id": "Z1", "reason": "river"}), polygon(&[(0.0, 0.0), (5.0, 0.0), (5.0, 5.0)]))]),
            &["l.geojson, features[1] (id \"Z1\"): unknown kind \"no-spray\" (verger reads: orchard, block, row, tree, boundary, no_spray)"],
        ),
        bad(
            "m.geojson",
            collection(vec![feature(json!({"kind": "no_spray", "id": "Z1"}), polygon(&[(0.0, 0.0), (5.0, 0.0), (5.0, 5.0)]))]),
            &["m.geojson, features[0] (id \"Z1\"): a no_spray zone needs a non-empty `reason`"],
        ),
        bad(
            "n.geojson",
            collection(vec![
                feature(json!({"kind": "row", "id": "N1"}), json!({"type": "LineString", "coordinates": [at(0.0, 0.0), at(9.0, 0.0)]})),
                feature(json!({"kind": "row", "id": "N1"}), json!({"type": "LineString", "coordinates": [at(0.0, 3.0), at(9.0, 3.0)]})),
            ]),
            &["n.geojson, features[1] (id \"N1\"): row id \"N1\" is used twice (also at ", "n.geojson, features[0] (id \"N1\"))"],
        ),
    ]
}

#[test]
fn every_refusal_leaves_an_existing_map_byte_for_byte_as_it_was() {
    let dir = TempDir::new("map-refusals");
    let base = write(&dir, "orchard.geojson", &collection(orchard_features()));
    let db = dir.path("orchard.db");
    import(&db, &[&base], &plain()).unwrap();
    // Behind a good file: all files are checked before anything is written.
    let good = write(&dir, "good.csv", "id,row,lat,lon\nE1,R1,47.35,-0.62\n");
    let before = std::fs::read(&db).unwrap();
    let files_before = listing(&dir);
    for case in bad_inputs() {
        let file = write(&dir, case.name, &case.text);
        let e = import(&db, &[&good, &file], &plain()).unwrap_err();
        let text = e.to_string();
        for needle in &case.says {
            assert!(
                text.contains(needle),
                "{}: {needle:?} not in {text}",
                case.name
            );
        }
        assert!(!text.contains('\n'), "one line: {text}");
        assert_eq!(
            std::fs::read(&db).unwrap(),
            before,
            "{} changed the map",
            case.name
        );
        std::fs::remove_file(&file).unwrap();
        assert_eq!(listing(&dir), files_before, "{} left a file", case.name);
    }
}

#[test]
fn every_refusal_leaves_no_new_map_behind() {
    let dir = TempDir::new("map-refusals-new");
    for case in bad_inputs() {
        let file = write(&dir, case.name, &case.text);
        let db = dir.path("new.db");
        let e = import(&db, &[&file], &plain()).unwrap_err();
        for needle in &case.says {
            assert!(
                e.to_string().contains(needle),
                "{}: {needle:?} not in {e}",
                case.name
            );
        }
        std::fs::remove_file(&file).unwrap();
        assert_eq!(
            listing(&dir),
            Vec::<String>::new(),
            "{} left a file",
            case.name
        );
    }
    // A zero-length file (e.g. from mktemp) counts as absent, and stays empty.
    let db = write(&dir, "empty.db", "");
    let file = write(&dir, "bad.csv", "id,row,lat\n");
    import(&db, &[&file], &plain()).unwrap_err();
    assert_eq!(std::fs::read(&db).unwrap(), b"");
}

#[test]
fn ids_already_in_the_map_are_refused_unless_replacing() {
    let dir = TempDir::new("map-dup-db");
    let base = write(&dir, "orchard.geojson", &collection(orchard_features()));
    let db = dir.path("orchard.db");
    import(&db, &[&base], &plain()).unwrap();
    let before = std::fs::read(&db).unwrap();
    let more = write(
        &dir,
        "more.csv",
        "id,row,lat,lon\nX1,,47.35,-0.62\nT2-05,R2,47.35,-0.62\n",
    );
    let e = import(&db, &[&more], &plain()).unwrap_err();
    assert!(
        matches!(e, ImportError::AlreadyInMap { kind: "tree", .. }),
        "{e}"
    );
    let text = e.to_string();
    assert!(
        text.starts_with(&format!(
            "{}, line 3: tree id \"T2-05\" is already in the map {}",
            more.display(),
            db.display()
        )),
        "{text}"
    );
    assert!(text.contains("--replace"), "{text}");
    assert_eq!(std::fs::read(&db).unwrap(), before);

    // Within the files: the same tree in two files.
    let new = write(
        &dir,
        "new.csv",
        "id,row,lat,lon\nY0,,47.35,-0.62\nY1,,47.35,-0.62\n",
    );
    let again = write(&dir, "again.csv", "id,row,lat,lon\nY1,,47.35,-0.62\n");
    let e = import(&db, &[&new, &again], &plain()).unwrap_err();
    assert!(
        matches!(e, ImportError::Duplicate { kind: "tree", .. }),
        "{e}"
    );
    let text = e.to_string();
    assert!(
        text.contains("again.csv, line 2: tree id \"Y1\" is used twice (also at "),
        "{text}"
    );
    assert!(text.ends_with("new.csv, line 3)"), "{text}");
    assert_eq!(std::fs::read(&db).unwrap(), before);

    // Replacing: the map is cleared first, in the same transaction.
    let summary = import(
        &db,
        &[&more],
        &ImportOptions {
            replace: true,
            ..plain()
        },
    )
    .unwrap();
    assert!(summary.replaced);
    let map = MapDb::open(&db).unwrap();
    let info = map.info().unwrap();
    assert_eq!((info.trees, info.rows, info.zones), (2, 0, 0));
    assert!(info.orchard.is_empty());
    // No boundary imported any more: one is derived from the two trees.
    assert_eq!(info.boundary, BoundaryKind::Derived);
}

#[test]
fn what_is_not_a_map_is_refused_and_left_alone() {
    let dir = TempDir::new("map-not-a-map");
    let good = write(&dir, "t.csv", "id,row,lat,lon\nT1,,47.35,-0.62\n");
    let notes = write(
        &dir,
        "notes.txt",
        &"some notes, not a database\n".repeat(50),
    );
    let e = import(&notes, &[&good], &plain()).unwrap_err().to_string();
    assert!(
        e.contains("notes.txt is not a verger map: not an SQLite database"),
        "{e}"
    );
    assert_eq!(
        std::fs::read_to_string(&notes).unwrap(),
        "some notes, not a database\n".repeat(50)
    );

    let other = dir.path("other.sqlite");
    rusqlite::Connection::open(&other)
        .unwrap()
        .execute_batch("CREATE TABLE accounts (id INTEGER)")
        .unwrap();
    let before = std::fs::read(&other).unwrap();
    let e = import(&other, &[&good], &plain()).unwrap_err().to_string();
    assert!(
        e.contains(
            "other.sqlite is not a verger map: an SQLite database without verger's map tables"
        ),
        "{e}"
    );
    assert_eq!(std::fs::read(&other).unwrap(), before);
    assert!(matches!(MapDb::open(&other), Err(MapError::NotAMap { .. })));
}

#[test]
fn a_map_from_a_newer_verger_is_refused() {
    let dir = TempDir::new("map-newer");
    let good = write(&dir, "t.csv", "id,row,lat,lon\nT1,,47.35,-0.62\n");
    let db = dir.path("orchard.db");
    import(&db, &[&good], &plain()).unwrap();
    rusqlite::Connection::open(&db)
        .unwrap()
        .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();
    let before = std::fs::read(&db).unwrap();
    for e in [
        MapDb::open(&db).unwrap_err(),
        MapDb::open_read_only(&db).unwrap_err(),
    ] {
        assert!(matches!(e, MapError::TooNew { .. }), "{e}");
        assert!(
            e.to_string().contains("was written by a newer verger"),
            "{e}"
        );
    }
    let e = import(&db, &[&good], &plain()).unwrap_err();
    assert!(
        matches!(e, ImportError::Map(MapError::TooNew { .. })),
        "{e}"
    );
    assert_eq!(std::fs::read(&db).unwrap(), before);
}

// ---------------------------------------------------------------------------------------
// The real vineyard

fn vineyard() -> PathBuf {
    shared("data/maps/agrids__jojos_vineyard.geojson")
}

#[test]
fn the_agrids_vineyard_imports_its_rows_and_blocks() {
    let dir = TempDir::new("map-vineyard");
    let db = dir.path("vineyard.db");
    let summary = import(&db, &[&vineyard()], &plain()).unwrap();
    assert_eq!(
        (
            summary.rows,
            summary.blocks,
            summary.trees,
            summary.generated_trees
        ),
        (92, 10, 0, 0)
    );
    let skipped: Vec<(&str, u64)> = summary
        .skipped
        .iter()
        .map(|(k, v)| (k.as_str(), *v))
        .collect();
    assert_eq!(
        skipped,
        [
            ("line/drainage_line", 1),
            ("point/chemical_storage", 1),
            ("point/entrance_exit", 3),
            ("point/sceptic_tank", 1),
            ("point/toilet", 1),
            ("polygon/building", 1),
            ("polygon/conservation", 1),
        ]
    );
    assert!(
        summary
            .warnings
            .iter()
            .any(|w| w.starts_with("92 rows without trees")),
        "{:?}",
        summary.warnings
    );
    let text = summary.to_string();
    assert!(
        text.contains("skipped 9 features without a kind verger reads: line/drainage_line (1), "),
        "{text}"
    );

    let map = MapDb::open_read_only(&db).unwrap();
    let blocks = map.blocks().unwrap();
    let b = blocks.iter().find(|b| b.id == "2019-a-3").unwrap();
    assert_eq!(b.variety.as_deref(), Some("Bacchus"));
    let rows = map.rows().unwrap();
    assert_eq!(
        rows.iter()
            .filter(|r| r.block.as_deref() == Some("2019-a-3"))
            .count(),
        23
    );
    assert!(rows.iter().any(|r| r.id == "ba20"));
    // Rows 2.4 m apart: the boundary around the rows is 1.2 m wider.
    assert_eq!(summary.boundary, BoundaryOutcome::Derived);
    let margin = summary.boundary_margin_m.unwrap();
    assert!((margin - 1.2).abs() < 0.1, "{margin}");
}

#[test]
fn with_a_spacing_the_vineyard_rows_get_trees_inside_the_derived_boundary() {
    let dir = TempDir::new("map-vineyard-trees");
    let db = dir.path("vineyard.db");
    let options = ImportOptions {
        tree_spacing_m: Some(1.2),
        replace: false,
    };
    let summary = import(&db, &[&vineyard()], &options).unwrap();
    assert!(summary.generated_trees > 5000, "{summary}");
    assert!(summary.warnings.is_empty(), "{:?}", summary.warnings);
    assert_rtree_ok(&db);
    let map = MapDb::open_read_only(&db).unwrap();
    let info = map.info().unwrap();
    assert_eq!(info.trees, summary.generated_trees);
    assert_eq!(info.boundary, BoundaryKind::Derived);
    let boundary = map.boundary().unwrap().unwrap();
    assert!(boundary.derived);
    let all = map.trees_in_bbox(info.extent.unwrap(), usize::MAX).unwrap();
    assert_eq!(all.trees.len() as u64, info.trees);
    assert!(!all.trees.is_empty());
    for t in &all.trees {
        assert!(
            boundary.area.contains(&Point::new(t.lon, t.lat)),
            "{} outside",
            t.id
        );
        assert!(map.zone_at(t.lat, t.lon).unwrap().inside_boundary);
    }
    for r in map.rows().unwrap() {
        for c in r.line.coords() {
            assert!(
                boundary.area.contains(&Point::from(*c)),
                "row {} outside",
                r.id
            );
        }
    }
    // Trees of a row are 1.2 m apart, the first 0.6 m from its start.
    let row = map
        .rows()
        .unwrap()
        .into_iter()
        .find(|r| r.id == "ba20")
        .unwrap();
    let first = map.tree("ba20-001").unwrap().unwrap();
    let second = map.tree("ba20-002").unwrap().unwrap();
    let p = |t: &verger::orchard::Tree| Point::new(t.lon, t.lat);
    assert!((Geodesic.distance(Point::from(row.line.0[0]), p(&first)) - 0.6).abs() < 0.01);
    assert!((Geodesic.distance(p(&first), p(&second)) - 1.2).abs() < 0.01);
    assert_eq!(first.row.as_deref(), Some("ba20"));
}

// ---------------------------------------------------------------------------------------
// Boundary rules, CSV

#[test]
fn an_imported_boundary_replaces_a_derived_one_which_is_rederived_while_derived() {
    let dir = TempDir::new("map-boundary");
    let db = dir.path("orchard.db");
    let a = write(
        &dir,
        "a.csv",
        "id,row,lat,lon\nA1,R1,47.35,-0.62\nA2,R1,47.3501,-0.62\n",
    );
    import(&db, &[&a], &plain()).unwrap();
    let first = MapDb::open(&db).unwrap().boundary().unwrap().unwrap();
    assert!(first.derived);
    // One tree further east: the derived boundary grows to hold it.
    let b = write(&dir, "b.csv", "id,row,lat,lon\nB1,R2,47.35,-0.6199\n");
    import(&db, &[&b], &plain()).unwrap();
    let second = MapDb::open(&db).unwrap().boundary().unwrap().unwrap();
    assert!(second.derived && second.area.contains(&Point::new(-0.6199, 47.35)));
    assert!(!first.area.contains(&Point::new(-0.6199, 47.35)));
    // An imported boundary replaces it, and later imports keep it.
    let fence = write(
        &dir,
        "fence.geojson",
        &collection(vec![feature(
            json!({"kind": "boundary"}),
            polygon(&[(-50.0, -50.0), (50.0, -50.0), (50.0, 50.0), (-50.0, 50.0)]),
        )]),
    );
    let s = import(&db, &[&fence], &plain()).unwrap();
    assert_eq!(s.boundary, BoundaryOutcome::Imported);
    let c = write(&dir, "c.csv", "id,row,lat,lon\nC1,,47.3502,-0.6201\n");
    let s = import(&db, &[&c], &plain()).unwrap();
    assert_eq!(s.boundary, BoundaryOutcome::Kept);
    let kept = MapDb::open(&db).unwrap().boundary().unwrap().unwrap();
    assert!(!kept.derived);
    // The first import packed the R*Tree, the later ones added to it.
    assert_rtree_ok(&db);
}

#[test]
fn csv_trees_join_geojson_rows() {
    let dir = TempDir::new("map-csv");
    let db = dir.path("orchard.db");
    let rows = write(
        &dir,
        "rows.geojson",
        &collection(vec![
            feature(
                json!({"kind": "row", "id": "R1", "tree_spacing_m": 2.0, "canopy_height_m": 2.5}),
                json!({"type": "LineString", "coordinates": [at(0.0, 0.0), at(10.0, 0.0)]}),
            ),
            feature(
                json!({"kind": "row", "id": "R2"}),
                json!({"type": "LineString", "coordinates": [at(0.0, 4.0), at(10.0, 4.0)]}),
            ),
        ]),
    );
    let [x1, y1] = at(1.0, 4.0);
    let trees = write(
        &dir,
        "trees.csv",
        &format!("id,row,lat,lon,fruit_count,canopy_width_m,variety,age,note\nS1,R2,{y1},{x1},88,1.5,Gala,7,\nS2,R9,{y1},{x1},,,,,hail damage\n"),
    );
    let s = import(&db, &[&rows, &trees], &plain()).unwrap();
    // R1 has no surveyed tree: 5 generated at its own spacing; R2 has S1.
    assert_eq!((s.trees, s.generated_trees), (2, 5));
    assert_eq!(
        s.warnings,
        ["trees stand in 1 row the map has no line for: \"R9\""]
    );
    let map = MapDb::open(&db).unwrap();
    let s1 = map.tree("S1").unwrap().unwrap();
    assert_eq!(
        (s1.fruit_count, s1.canopy_width_m, s1.canopy_height_m),
        (Some(88.0), Some(1.5), None)
    );
    assert_eq!(
        Value::Object(s1.extra),
        json!({"variety": "Gala", "age": 7})
    );
    let s2 = map.tree("S2").unwrap().unwrap();
    assert_eq!(Value::Object(s2.extra), json!({"note": "hail damage"}));
    let r1 = map.tree("R1-003").unwrap().unwrap();
    assert_eq!(
        (r1.row.as_deref(), r1.canopy_height_m),
        (Some("R1"), Some(2.5))
    );
    assert!(map.tree("R2-001").unwrap().is_none());
}

// ---------------------------------------------------------------------------------------
// Round trips

fn export(map: &MapDb, geojson: bool) -> Vec<u8> {
    let mut out = Vec::new();
    if geojson {
        map.export_geojson(&mut out).unwrap();
    } else {
        map.export_csv(&mut out).unwrap();
    }
    out
}

#[test]
fn geojson_export_imports_back_to_the_same_map() {
    let dir = TempDir::new("map-roundtrip-geojson");
    let source = write(&dir, "orchard.geojson", &collection(orchard_features()));
    let first = dir.path("first.db");
    import(
        &first,
        &[&source],
        &ImportOptions {
            tree_spacing_m: Some(1.5),
            replace: false,
        },
    )
    .unwrap();
    let a = MapDb::open(&first).unwrap();
    let exported = export(&a, true);
    let file = dir.path("export.geojson");
    std::fs::write(&file, &exported).unwrap();
    let second = dir.path("second.db");
    let s = import(&second, &[&file], &plain()).unwrap();
    assert_eq!(
        s.generated_trees, 0,
        "the generated trees came back as trees"
    );
    let b = MapDb::open(&second).unwrap();
    assert_eq!(export(&b, true), exported);
    assert_eq!(a.orchard().unwrap(), b.orchard().unwrap());
    assert_eq!(a.blocks().unwrap(), b.blocks().unwrap());
    assert_eq!(a.rows().unwrap(), b.rows().unwrap());
    assert_eq!(a.zones().unwrap(), b.zones().unwrap());
    assert_eq!(a.boundary().unwrap(), b.boundary().unwrap());
    let all = BBox {
        south: -90.0,
        west: -180.0,
        north: 90.0,
        east: 180.0,
    };
    let (ta, tb) = (
        a.trees_in_bbox(all, 1000).unwrap(),
        b.trees_in_bbox(all, 1000).unwrap(),
    );
    assert_eq!(ta.trees.len(), 60 + 20);
    assert_eq!(ta, tb);
    assert_eq!(a.info().unwrap(), b.info().unwrap());
}

#[test]
fn a_derived_boundary_is_derived_again_after_a_round_trip() {
    let dir = TempDir::new("map-roundtrip-derived");
    let first = dir.path("first.db");
    import(
        &first,
        &[&vineyard()],
        &ImportOptions {
            tree_spacing_m: Some(1.2),
            replace: false,
        },
    )
    .unwrap();
    let a = MapDb::open(&first).unwrap();
    let file = dir.path("export.geojson");
    std::fs::write(&file, export(&a, true)).unwrap();
    let second = dir.path("second.db");
    import(&second, &[&file], &plain()).unwrap();
    let b = MapDb::open(&second).unwrap();
    assert_eq!(a.boundary().unwrap(), b.boundary().unwrap());
    assert_eq!(a.info().unwrap(), b.info().unwrap());
}

#[test]
fn csv_export_imports_back_to_the_same_trees() {
    let dir = TempDir::new("map-roundtrip-csv");
    let source = write(&dir, "orchard.geojson", &collection(orchard_features()));
    let extra = write(
        &dir,
        "extra.csv",
        "id,row,lat,lon,age,code\nX1,,47.3501,-0.6201,12,007\nX2,R4,47.3502,-0.6202,1.25,B-7\n",
    );
    let first = dir.path("first.db");
    import(&first, &[&source, &extra], &plain()).unwrap();
    let a = MapDb::open(&first).unwrap();
    let exported = export(&a, false);
    let text = String::from_utf8(exported.clone()).unwrap();
    assert!(text.starts_with("id,row,lat,lon,fruit_count,canopy_height_m,canopy_width_m,canopy_volume_m3,age,code,health,survey\n"), "{text}");
    let file = dir.path("export.csv");
    std::fs::write(&file, &exported).unwrap();
    let second = dir.path("second.db");
    import(&second, &[&file], &plain()).unwrap();
    let b = MapDb::open(&second).unwrap();
    assert_eq!(export(&b, false), exported);
    let all = BBox {
        south: -90.0,
        west: -180.0,
        north: 90.0,
        east: 180.0,
    };
    let (ta, tb) = (
        a.trees_in_bbox(all, 1000).unwrap().trees,
        b.trees_in_bbox(all, 1000).unwrap().trees,
    );
    assert_eq!(ta.len(), tb.len());
    for (x, y) in ta.iter().zip(&tb) {
        assert_eq!(
            (
                &x.id,
                &x.row,
                x.lat,
                x.lon,
                x.fruit_count,
                x.canopy_volume_m3
            ),
            (
                &y.id,
                &y.row,
                y.lat,
                y.lon,
                y.fruit_count,
                y.canopy_volume_m3
            )
        );
        // Extras that are text or numbers come back as they were (an object comes
        // back as its JSON text: CSV has only text and numbers).
        for (k, v) in &x.extra {
            match v {
                Value::Object(_) => assert_eq!(y.extra[k], Value::String(v.to_string())),
                _ => assert_eq!(&y.extra[k], v, "{} {k}", x.id),
            }
        }
    }
    // "007" reads as a number: CSV cells that look like numbers are numbers.
    assert_eq!(b.tree("X1").unwrap().unwrap().extra["code"], json!(7));
}

// ---------------------------------------------------------------------------------------
// Queries

fn query_map(dir: &TempDir) -> MapDb {
    let mut f = orchard_features();
    // Two trees on the same spot: equally near, ordered by id.
    f.push(tree("twin-b", 20.0, 7.0));
    f.push(tree("twin-a", 20.0, 7.0));
    let source = write(dir, "orchard.geojson", &collection(f));
    let db = dir.path("orchard.db");
    import(&db, &[&source], &plain()).unwrap();
    MapDb::open_read_only(&db).unwrap()
}

#[test]
fn trees_near_come_nearest_first_at_their_geodesic_distance() {
    let dir = TempDir::new("map-near");
    let map = query_map(&dir);
    let [lon, lat] = at(20.3, 6.0);
    let near = map.trees_near(lat, lon, 4.0).unwrap();
    assert!(near.len() >= 6, "{}", near.len());
    for pair in near.windows(2) {
        assert!(
            (pair[0].distance_m, &pair[0].tree.id) <= (pair[1].distance_m, &pair[1].tree.id),
            "order"
        );
    }
    let ids: Vec<&str> = near.iter().map(|n| n.tree.id.as_str()).collect();
    let a = ids.iter().position(|i| *i == "twin-a").unwrap();
    assert_eq!(ids[a + 1], "twin-b");
    for n in &near {
        let geodesic = Geodesic.distance(Point::new(lon, lat), Point::new(n.tree.lon, n.tree.lat));
        assert!(
            (n.distance_m - geodesic).abs() < 0.001,
            "{}: {} vs {geodesic}",
            n.tree.id,
            n.distance_m
        );
        assert!(n.distance_m <= 4.0);
    }
    // Every tree within the radius is there: compare with all trees.
    let all = map
        .trees_in_bbox(
            BBox {
                south: -90.0,
                west: -180.0,
                north: 90.0,
                east: 180.0,
            },
            10_000,
        )
        .unwrap();
    let within = all
        .trees
        .iter()
        .filter(|t| Geodesic.distance(Point::new(lon, lat), Point::new(t.lon, t.lat)) <= 3.999)
        .count();
    assert!(near.len() >= within && near.len() <= within + 1);
    // The surveyed attributes come along.
    let t = &near
        .iter()
        .find(|n| n.tree.id.starts_with('T'))
        .unwrap()
        .tree;
    assert_eq!(t.canopy_volume_m3, Some(4.5));
    assert_eq!(t.extra["survey"], json!({"by": "drone"}));

    assert!(map.trees_near(lat, lon, 0.0).unwrap().is_empty());
    let e = map.trees_near(lat, lon, 150.0).unwrap_err();
    assert_eq!(
        e.to_string(),
        "a radius of 150 m is above the limit of 100 m"
    );
    assert!(map.trees_near(95.0, lon, 1.0).is_err());
    assert!(map.trees_near(lat, lon, f64::NAN).is_err());
}

#[test]
fn zone_at_tells_boundary_and_zones() {
    let dir = TempDir::new("map-zone-at");
    let map = query_map(&dir);
    let check = |x: f64, y: f64| {
        let [lon, lat] = at(x, y);
        let z = map.zone_at(lat, lon).unwrap();
        (
            z.inside_boundary,
            z.zones.iter().map(|r| r.id.clone()).collect::<Vec<_>>(),
        )
    };
    assert_eq!(check(10.0, 5.0), (true, vec![]));
    assert_eq!(check(30.0, 0.0), (true, vec!["Z1".to_owned()]));
    assert_eq!(check(60.0, 0.0), (false, vec![]));
    let [lon, lat] = at(30.0, 0.0);
    assert_eq!(
        map.zone_at(lat, lon).unwrap().zones[0].reason,
        "well head: 5 m buffer"
    );
}

#[test]
fn trees_in_a_box_come_by_id_and_say_when_truncated() {
    let dir = TempDir::new("map-bbox");
    let map = query_map(&dir);
    // Row R1 only, trees T1-01 .. T1-20.
    let [w, s] = at(-1.0, -1.0);
    let [e, n] = at(31.0, 1.0);
    let bbox = BBox {
        south: s,
        west: w,
        north: n,
        east: e,
    };
    let all = map.trees_in_bbox(bbox, 100).unwrap();
    assert_eq!(all.trees.len(), 20);
    assert!(!all.truncated);
    let few = map.trees_in_bbox(bbox, 4).unwrap();
    assert!(few.truncated);
    let ids: Vec<&str> = few.trees.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, ["T1-01", "T1-02", "T1-03", "T1-04"]);
    assert!(map.trees_in_bbox(bbox, 20).map(|b| !b.truncated).unwrap());
    let swapped = BBox {
        south: n,
        north: s,
        ..bbox
    };
    assert!(map.trees_in_bbox(swapped, 5).is_err());
}

#[test]
fn one_tree_by_id() {
    let dir = TempDir::new("map-tree");
    let map = query_map(&dir);
    let t = map.tree("T2-07").unwrap().unwrap();
    assert_eq!(t.row.as_deref(), Some("R2"));
    assert_eq!(t.fruit_count, Some(106.0));
    assert_eq!(
        Value::Object(t.extra),
        json!({"health": "good", "survey": {"by": "drone"}})
    );
    assert!(map.tree("nope").unwrap().is_none());
    let info = map.info().unwrap();
    assert_eq!(info.orchard.eppo_code.as_deref(), Some("MABSD"));
    assert_eq!(
        (info.trees, info.rows, info.blocks, info.zones),
        (62, 4, 1, 1)
    );
    assert_eq!(info.boundary, BoundaryKind::Imported);
    // 40 m x 20 m.
    assert!((info.boundary_area_ha.unwrap() - 0.08).abs() < 0.0005);
    assert!((info.total_canopy_volume_m3 - 60.0 * 4.5).abs() < 1e-9);
}

// ---------------------------------------------------------------------------------------
// The binary

#[tokio::test]
async fn verger_map_commands_work_and_fail_in_one_line() {
    let dir = TempDir::new("map-cli");
    let program = Path::new(VERGER);
    let db = dir.path("vineyard.db");
    let db_arg = db.to_str().unwrap();
    let vineyard = vineyard();
    let out = verger_testkit::within(
        "verger map import",
        tokio::process::Command::new(program)
            .args([
                "map",
                "import",
                vineyard.to_str().unwrap(),
                "--db",
                db_arg,
                "--tree-spacing-m",
                "1.2",
            ])
            .output(),
    )
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("rows: 92, blocks: 10"), "{stdout}");
    assert!(stdout.contains("generated along rows"), "{stdout}");
    assert!(out.stderr.is_empty(), "no progress bar off a terminal");

    let out = tokio::process::Command::new(program)
        .args(["map", "info", "--db", db_arg, "--json"])
        .output()
        .await
        .unwrap();
    assert!(out.status.success());
    let info: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(info["rows"], 92);
    assert_eq!(info["boundary"], "derived");
    assert_eq!(info["schema_version"], SCHEMA_VERSION);

    let csv = dir.path("trees.csv");
    let (status, _) = run_to_end(
        program,
        [
            "map",
            "export",
            "--db",
            db_arg,
            "--format",
            "csv",
            "--output",
            csv.to_str().unwrap(),
        ],
    )
    .await;
    assert!(status.success());
    assert!(std::fs::read_to_string(&csv)
        .unwrap()
        .starts_with("id,row,lat,lon,"));

    // Failures: status 1 and one line on stderr naming what is wrong.
    let bad = write(&dir, "bad.geojson", "{\"type\": \"FeatureCollection\"");
    for (args, needle) in [
        (
            vec!["map", "import", bad.to_str().unwrap(), "--db", db_arg],
            "bad.geojson: not JSON: line 1",
        ),
        (
            vec![
                "map",
                "info",
                "--db",
                dir.path("missing.db").to_str().unwrap(),
            ],
            "no map at",
        ),
        (
            vec!["map", "info", "--db", bad.to_str().unwrap()],
            "is not a verger map: not an SQLite database",
        ),
        (
            vec![
                "map",
                "import",
                bad.to_str().unwrap(),
                "--db",
                db_arg,
                "--tree-spacing-m",
                "-1",
            ],
            "the tree spacing must be a positive number of metres, not -1",
        ),
    ] {
        let (status, stderr) = run_to_end(program, &args).await;
        assert_eq!(status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.starts_with("verger: ") && stderr.contains(needle),
            "{args:?}: {stderr}"
        );
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    }
    let (status, stderr) = run_to_end(
        program,
        ["map", "export", "--db", db_arg, "--format", "shp"],
    )
    .await;
    assert!(!status.success() && stderr.contains("shp"), "{stderr}");
}

// ---------------------------------------------------------------------------------------
// Speed, measured by hand (never asserted):
//   cargo test --release --test map_import -- --ignored --nocapture big_map

#[test]
#[ignore = "a measurement: builds a 2-million-tree map (about a minute in release)"]
fn big_map_import_rate_and_query_latency() {
    let dir = TempDir::new("map-big");
    let keep = std::env::var_os("VERGER_BIG_MAP_KEEP");
    let trees: usize = std::env::var("VERGER_BIG_MAP_TREES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000_000);
    // Rows 3.5 m apart, trees 1 m apart, 1,000 trees per row.
    let mut csv = String::with_capacity(trees * 64);
    csv.push_str("id,row,lat,lon,fruit_count,canopy_volume_m3\n");
    for i in 0..trees {
        let (r, k) = (i / 1000, i % 1000);
        let [lon, lat] = at(k as f64, 3.5 * r as f64);
        csv.push_str(&format!(
            "T{r:05}-{k:03},R{r:05},{lat},{lon},{},{}\n",
            50 + k % 100,
            2.0 + (k % 7) as f64 * 0.1
        ));
    }
    let file = write(&dir, "big.csv", &csv);
    drop(csv);
    let db = dir.path("big.db");
    let started = std::time::Instant::now();
    let s = import(&db, &[&file], &plain()).unwrap();
    let took = started.elapsed();
    println!(
        "import: {} trees in {took:.2?}: {:.0} trees/s (boundary {:?})",
        s.trees,
        s.trees as f64 / took.as_secs_f64(),
        s.boundary
    );

    // The queries run in a fresh process, as the map component would: its peak
    // memory is that of a reader, not of the import.
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", "--nocapture", "big_map_queries"])
        .env("VERGER_BIG_MAP_DB", &db)
        .env("VERGER_BIG_MAP_ROWS", (trees / 1000).to_string())
        .output()
        .unwrap();
    println!("{}", String::from_utf8_lossy(&out.stdout));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    if let Some(path) = keep {
        std::fs::rename(&db, &path).unwrap();
    }
}

/// The query half of the measurement above (does nothing on its own).
#[test]
#[ignore = "run by big_map_import_rate_and_query_latency"]
fn big_map_queries() {
    let Some(db) = std::env::var_os("VERGER_BIG_MAP_DB") else {
        return;
    };
    let rows: u64 = std::env::var("VERGER_BIG_MAP_ROWS")
        .unwrap()
        .parse()
        .unwrap();
    let map = MapDb::open_read_only(Path::new(&db)).unwrap();
    let mut times = Vec::new();
    let mut found = 0;
    for q in 0..20_000u64 {
        let x = (q * 7919 % 1000) as f64 + 0.3;
        let y = 3.5 * (q * 104_729 % rows) as f64 + 1.1;
        let [lon, lat] = at(x, y);
        let t = std::time::Instant::now();
        found += map.trees_near(lat, lon, 5.0).unwrap().len();
        times.push(t.elapsed());
    }
    times.sort();
    let pct = |p: f64| times[((times.len() as f64 * p) as usize).min(times.len() - 1)];
    println!(
        "trees_near 5 m: {:.1} trees per call, p50 {:?}, p90 {:?}, p99 {:?}, max {:?}",
        found as f64 / times.len() as f64,
        pct(0.5),
        pct(0.9),
        pct(0.99),
        times.last().unwrap()
    );
    // As a tractor asks: up one alley and down the next, a query every 0.2 m.
    let mut times = Vec::new();
    let mut found = 0;
    let first = rows / 2;
    for r in first..first + 20 {
        let y = 3.5 * r as f64 + 1.75;
        for k in 0..1000 {
            let x = if r % 2 == 0 { k } else { 999 - k } as f64 * 0.2;
            let [lon, lat] = at(x, y);
            let t = std::time::Instant::now();
            found += map.trees_near(lat, lon, 5.0).unwrap().len();
            times.push(t.elapsed());
        }
    }
    times.sort();
    let pct = |p: f64| times[((times.len() as f64 * p) as usize).min(times.len() - 1)];
    println!(
        "trees_near 5 m driving along rows: {:.1} trees per call, p50 {:?}, p90 {:?}, p99 {:?}, max {:?}",
        found as f64 / times.len() as f64,
        pct(0.5),
        pct(0.9),
        pct(0.99),
        times.last().unwrap()
    );
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    for line in status
        .lines()
        .filter(|l| l.starts_with("VmRSS") || l.starts_with("VmHWM"))
    {
        println!("reader process {line}");
    }
}
