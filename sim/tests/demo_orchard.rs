//! The committed demo orchard (`maps/demo-orchard.geojson`): it is the generator's
//! output byte for byte, and the properties `maps/README.md` promises are measured on
//! the file itself, in metres through verger's local frame.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use geo::{Area, BooleanOps, Contains, Coord, Distance, Euclidean, LineString, Point, Polygon};
use serde_json::Value;
use verger::orchard::Frame;

const REGENERATE: &str =
    "cargo run -p verger-sim --example demo-orchard > maps/demo-orchard.geojson";

fn demo_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../maps/demo-orchard.geojson")
}

fn demo_text() -> String {
    std::fs::read_to_string(demo_path()).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; generate it with `{REGENERATE}`",
            demo_path().display()
        )
    })
}

#[test]
fn committed_demo_is_the_generators_output() {
    let committed = demo_text();
    let mut generated = Vec::new();
    verger_sim::orchard::write_geojson(&verger_sim::orchard::demo_orchard(), &mut generated)
        .unwrap();
    let generated = String::from_utf8(generated).unwrap();
    if committed != generated {
        let line = committed
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .map_or_else(
                || "one is a prefix of the other".to_owned(),
                |i| format!("first difference at line {}", i + 1),
            );
        panic!(
            "maps/demo-orchard.geojson is not what the generator writes ({line}); \
             regenerate it with `{REGENERATE}`"
        );
    }
}

// ---------------------------------------------------------------------------------------
// The file, read back into metres

struct TreeRec {
    id: String,
    row: String,
    /// Metres in the frame.
    at: Coord<f64>,
    /// Canopy radius, metres.
    radius: f64,
    fruit: f64,
    height: f64,
    width: f64,
    volume: f64,
}

struct RowRec {
    block: String,
    /// Metres.
    line: LineString<f64>,
}

struct Demo {
    orchard: serde_json::Map<String, Value>,
    blocks: HashMap<String, serde_json::Map<String, Value>>,
    rows: HashMap<String, RowRec>,
    trees: Vec<TreeRec>,
    boundary: Polygon<f64>,
    zones: Vec<(String, String, Polygon<f64>)>,
    /// Every `id` of every feature, with its kind.
    ids: Vec<(String, String)>,
}

fn coord(v: &Value, frame: &Frame) -> Coord<f64> {
    let lon = v[0].as_f64().expect("a longitude");
    let lat = v[1].as_f64().expect("a latitude");
    frame.to_local(lat, lon)
}

fn line(v: &Value, frame: &Frame) -> LineString<f64> {
    v.as_array()
        .expect("coordinates")
        .iter()
        .map(|c| coord(c, frame))
        .collect()
}

fn polygon(g: &Value, frame: &Frame) -> Polygon<f64> {
    assert_eq!(g["type"], "Polygon");
    let rings = g["coordinates"].as_array().expect("rings");
    Polygon::new(line(&rings[0], frame), vec![])
}

fn num(props: &Value, key: &str) -> f64 {
    props[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} is not a number in {props}"))
}

fn text(props: &Value, key: &str) -> String {
    props[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} is not a string in {props}"))
        .to_owned()
}

fn load() -> Demo {
    let doc: Value = serde_json::from_str(&demo_text()).expect("valid JSON");
    assert_eq!(doc["type"], "FeatureCollection");
    let features = doc["features"].as_array().expect("features");
    // The frame is centred on the boundary's first corner: within 300 m of every point.
    let boundary_feature = features
        .iter()
        .find(|f| f["properties"]["kind"] == "boundary")
        .expect("a boundary");
    let c0 = &boundary_feature["geometry"]["coordinates"][0][0];
    let frame = Frame::new(c0[1].as_f64().unwrap(), c0[0].as_f64().unwrap());
    let mut demo = Demo {
        orchard: serde_json::Map::new(),
        blocks: HashMap::new(),
        rows: HashMap::new(),
        trees: Vec::new(),
        boundary: polygon(&boundary_feature["geometry"], &frame),
        zones: Vec::new(),
        ids: Vec::new(),
    };
    let mut orchards = 0;
    let mut boundaries = 0;
    for f in features {
        assert_eq!(f["type"], "Feature");
        let p = &f["properties"];
        let g = &f["geometry"];
        let kind = text(p, "kind");
        if let Some(id) = p.get("id") {
            demo.ids
                .push((kind.clone(), id.as_str().expect("a string id").to_owned()));
        }
        match kind.as_str() {
            "orchard" => {
                assert!(g.is_null());
                orchards += 1;
                demo.orchard = p.as_object().unwrap().clone();
            }
            "boundary" => boundaries += 1,
            "block" => {
                polygon(g, &frame);
                demo.blocks
                    .insert(text(p, "id"), p.as_object().unwrap().clone());
            }
            "row" => {
                assert_eq!(g["type"], "LineString");
                let rec = RowRec {
                    block: text(p, "block"),
                    line: line(&g["coordinates"], &frame),
                };
                assert!(demo.rows.insert(text(p, "id"), rec).is_none());
            }
            "tree" => {
                assert_eq!(g["type"], "Point");
                demo.trees.push(TreeRec {
                    id: text(p, "id"),
                    row: text(p, "row"),
                    at: coord(&g["coordinates"], &frame),
                    radius: num(p, "canopy_width_m") / 2.0,
                    fruit: num(p, "fruit_count"),
                    height: num(p, "canopy_height_m"),
                    width: num(p, "canopy_width_m"),
                    volume: num(p, "canopy_volume_m3"),
                });
            }
            "no_spray" => demo
                .zones
                .push((text(p, "id"), text(p, "reason"), polygon(g, &frame))),
            other => panic!("unknown kind {other:?}"),
        }
    }
    assert_eq!((orchards, boundaries), (1, 1));
    demo
}

/// Unit vector along a row, and its length.
fn direction(l: &LineString<f64>) -> (Coord<f64>, f64) {
    let (a, b) = (l.0[0], l.0[l.0.len() - 1]);
    let len = (b - a).x.hypot((b - a).y);
    ((b - a) / len, len)
}

fn dot(a: Coord<f64>, b: Coord<f64>) -> f64 {
    a.x * b.x + a.y * b.y
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// Each row's trees, sorted along it: (distance from the row start, tree).
fn trees_by_row(demo: &Demo) -> HashMap<&str, Vec<(f64, &TreeRec)>> {
    let mut by_row: HashMap<&str, Vec<(f64, &TreeRec)>> = HashMap::new();
    for t in &demo.trees {
        let row = &demo.rows[&t.row];
        let (u, _) = direction(&row.line);
        by_row
            .entry(&t.row)
            .or_default()
            .push((dot(t.at - row.line.0[0], u), t));
    }
    for trees in by_row.values_mut() {
        trees.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    by_row
}

// ---------------------------------------------------------------------------------------
// What the README promises

#[test]
fn the_orchard_is_a_fictitious_apple_orchard_of_two_blocks() {
    let demo = load();
    let o = Value::Object(demo.orchard.clone());
    assert_eq!(o["crop"], "apple");
    assert_eq!(o["eppo_code"], "MABSD");
    assert!(!text(&o, "name").is_empty());
    assert!(text(&o, "parcel_ref").to_lowercase().contains("fictitious"));
    assert_eq!(demo.blocks.len(), 2);
    for b in demo.blocks.values() {
        let b = Value::Object(b.clone());
        assert!(!text(&b, "variety").is_empty() && !text(&b, "name").is_empty());
        let year = b["planting_year"]
            .as_i64()
            .expect("an integer planting year");
        assert!((1990..=2025).contains(&year), "{year}");
    }
    let area = demo.boundary.unsigned_area();
    assert!((25_000.0..35_000.0).contains(&area), "{area} m²");
}

#[test]
fn ids_are_unique_and_references_resolve() {
    let demo = load();
    let mut seen = HashSet::new();
    for (kind, id) in &demo.ids {
        assert!(!id.is_empty(), "an empty {kind} id");
        assert!(seen.insert(id.as_str()), "{kind} id {id} twice");
    }
    for t in &demo.trees {
        assert!(
            demo.rows.contains_key(&t.row),
            "tree {} in unknown row {}",
            t.id,
            t.row
        );
    }
    for (id, r) in &demo.rows {
        assert!(
            demo.blocks.contains_key(&r.block),
            "row {id} in unknown block {}",
            r.block
        );
    }
    let rows_per_block = |b: &str| demo.rows.values().filter(|r| r.block == b).count();
    assert!(demo.blocks.keys().all(|b| rows_per_block(b) >= 10));
}

#[test]
fn rows_are_150_m_long_3_5_to_4_5_m_apart_and_not_aligned_with_north() {
    let demo = load();
    for (id, row) in &demo.rows {
        let (u, len) = direction(&row.line);
        assert!((140.0..=160.0).contains(&len), "row {id}: {len} m");
        let bearing = u.x.atan2(u.y).to_degrees().rem_euclid(90.0);
        assert!(
            (5.0..85.0).contains(&bearing),
            "row {id} is axis-aligned ({bearing}°)"
        );
        let mid = Point((row.line.0[0] + row.line.0[1]) / 2.0);
        let spacing = demo
            .rows
            .iter()
            .filter(|(other, _)| *other != id)
            .map(|(_, r)| Euclidean.distance(&mid, &r.line))
            .fold(f64::INFINITY, f64::min);
        assert!(
            (3.5..=4.5).contains(&spacing),
            "row {id}: next row {spacing} m away"
        );
    }
}

#[test]
fn trees_stand_1_to_2_m_apart_with_missing_trees_and_a_replanting_gap() {
    let demo = load();
    let (mut positions, mut missing, mut longest_gap) = (0usize, 0usize, 0usize);
    for (row, trees) in trees_by_row(&demo) {
        let steps: Vec<f64> = trees.windows(2).map(|w| w[1].0 - w[0].0).collect();
        let spacing = median(steps.clone());
        assert!(
            (1.0..=2.0).contains(&spacing),
            "row {row}: trees {spacing} m apart"
        );
        // Trees stand on a regular grid: every step is a whole number of spacings.
        for s in steps {
            let k = (s / spacing).round();
            assert!(
                k >= 1.0 && (s - k * spacing).abs() < 0.03,
                "row {row}: step {s}"
            );
            missing += k as usize - 1;
            longest_gap = longest_gap.max(k as usize - 1);
        }
        positions += trees.len();
    }
    positions += missing;
    let rate = missing as f64 / positions as f64;
    assert!(
        (0.01..0.05).contains(&rate),
        "{missing} of {positions} missing"
    );
    assert!(
        longest_gap >= 4,
        "no replanting gap: at most {longest_gap} in a row"
    );
}

#[test]
fn trees_stand_inside_the_boundary_with_room_to_turn_at_row_ends() {
    let demo = load();
    for t in &demo.trees {
        assert!(
            demo.boundary.contains(&Point(t.at)),
            "tree {} outside",
            t.id
        );
    }
    for (id, row) in &demo.rows {
        let (u, _) = direction(&row.line);
        let (start, end) = (row.line.0[0], row.line.0[row.line.0.len() - 1]);
        for beyond in [start - u * 8.0, end + u * 8.0] {
            assert!(
                demo.boundary.contains(&Point(beyond)),
                "row {id}: headland under 8 m"
            );
        }
    }
}

#[test]
fn attributes_are_plausible_consistent_and_vary_smoothly() {
    let demo = load();
    for t in &demo.trees {
        assert!(
            (40.0..=260.0).contains(&t.fruit),
            "{}: {} fruit",
            t.id,
            t.fruit
        );
        assert!(
            (2.5..=3.6).contains(&t.height),
            "{}: {} m high",
            t.id,
            t.height
        );
        assert!(
            (0.8..=1.8).contains(&t.width),
            "{}: {} m wide",
            t.id,
            t.width
        );
    }
    let by_row = trees_by_row(&demo);
    for (row, trees) in &by_row {
        let spacing = median(trees.windows(2).map(|w| w[1].0 - w[0].0).collect());
        for (_, t) in trees {
            // The tree's share of the fruit wall above a 0.5 m trunk.
            let expected = (t.height - 0.5) * t.width * t.width.min(spacing);
            assert!(
                (t.volume - expected).abs() < 0.03,
                "row {row}, {}: {} m³, expected {expected}",
                t.id,
                t.volume
            );
        }
    }
    // A spatial trend plus noise: neighbours in a row are more alike than trees far
    // apart, and the attributes do vary.
    let fruit: Vec<f64> = demo.trees.iter().map(|t| t.fruit).collect();
    let mean = fruit.iter().sum::<f64>() / fruit.len() as f64;
    let sd = (fruit.iter().map(|f| (f - mean).powi(2)).sum::<f64>() / fruit.len() as f64).sqrt();
    assert!(sd > 20.0, "fruit counts hardly vary (sd {sd})");
    let volumes = |pairs: &mut dyn Iterator<Item = (f64, f64)>| {
        let d: Vec<f64> = pairs.map(|(a, b)| (a - b).abs()).collect();
        d.iter().sum::<f64>() / d.len() as f64
    };
    let near = volumes(
        &mut by_row
            .values()
            .flat_map(|trees| trees.windows(2).map(|w| (w[0].1.volume, w[1].1.volume))),
    );
    let n = demo.trees.len();
    let far =
        volumes(&mut (0..n / 2).map(|i| (demo.trees[i].volume, demo.trees[i + n / 2].volume)));
    assert!(
        near < 0.8 * far,
        "neighbours differ by {near} m³, distant trees by {far} m³"
    );
}

#[test]
fn the_no_spray_strip_lies_along_the_boundary_over_the_outer_alley_and_trees() {
    let demo = load();
    assert_eq!(demo.zones.len(), 1);
    let (id, reason, zone) = &demo.zones[0];
    assert!(!reason.trim().is_empty(), "zone {id} without a reason");
    // Inside the boundary or along its edge (within rounding).
    let outside = zone.difference(&demo.boundary).unsigned_area();
    assert!(
        outside < 0.05,
        "{outside} m² of zone {id} outside the boundary"
    );
    let area = zone.unsigned_area();
    assert!((700.0..1000.0).contains(&area), "zone {id}: {area} m²");

    // The outermost row on the zone's side: the row nearest to it that has no row
    // beyond it (its neighbours all lie on the other side).
    let centroid = {
        let ring = &zone.exterior().0[..zone.exterior().0.len() - 1];
        ring.iter().fold(Coord::zero(), |s, c| s + *c) / ring.len() as f64
    };
    let (outer_id, outer) = demo
        .rows
        .iter()
        .min_by(|a, b| {
            let d = |r: &RowRec| Euclidean.distance(&Point(centroid), &r.line);
            d(a.1).total_cmp(&d(b.1))
        })
        .unwrap();
    let (u, len) = direction(&outer.line);
    let normal = Coord { x: u.y, y: -u.x };
    let start = outer.line.0[0];
    let side = |p: Coord<f64>| dot(p - start, normal);
    let outward = side(centroid).signum();
    assert!(
        demo.rows
            .values()
            .all(|r| side(r.line.0[0]) * outward <= 0.01),
        "row {outer_id} is not the outermost on the zone's side"
    );
    // (1) It covers part of the outermost alley: the sprayer's path along the outer
    // face of that row (half a row spacing out) runs into the zone and out of it.
    let half_alley = 2.0;
    let path: Vec<bool> = (0..=len as usize)
        .map(|s| {
            let p = start + u * s as f64 + normal * (outward * half_alley);
            zone.contains(&Point(p))
        })
        .collect();
    let covered = path.iter().filter(|&&c| c).count();
    assert!(
        covered > 0 && covered < path.len(),
        "zone covers {covered} of {} m of the outer alley",
        path.len()
    );
    // (2) Some canopies lie entirely inside; (3) some straddle its edge.
    let mut inside = 0;
    let mut cut = 0;
    for t in &demo.trees {
        let p = Point(t.at);
        let to_edge = Euclidean.distance(&p, zone.exterior());
        if zone.contains(&p) && to_edge >= t.radius {
            inside += 1;
        } else if to_edge < t.radius {
            cut += 1;
        }
    }
    println!("zone {id}: {area:.0} m², {inside} canopies inside, {cut} cut by its edge, outer row {outer_id}, {covered} of {} m of its alley covered", path.len());
    assert!(
        inside >= 3,
        "only {inside} canopies entirely inside zone {id}"
    );
    assert!(cut >= 1, "no canopy straddles the edge of zone {id}");
}
