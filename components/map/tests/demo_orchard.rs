//! The planner on the demo orchard shipped in `maps/`: the map imported from the shipped
//! file, a sprayer driven up and down every alley (the outer ones too) at 7 km/h with a
//! fix every 200 ms (a 5 Hz receiver). Every face of every tree an alley passes is
//! ordered exactly once, except near the no-spray buffer, and nothing whose canopy
//! touches the buffer is.

use std::collections::BTreeMap;

use geo::{coord, Distance, Euclidean, Point};
use verger::nmea::Quality;
use verger::orchard::{Frame, ImportOptions, MapDb};
use verger_map::plan::{Action, Area, FixInput, Planner};
use verger_map::MapSettings;
use verger_testkit::{project_root, TempDir};

#[test]
fn every_alley_driven_treats_every_face_once_and_nothing_in_the_buffer() {
    let dir = TempDir::new("demo-drive");
    let db = dir.path("demo.db");
    MapDb::import(
        &db,
        &[project_root().join("maps/demo-orchard.geojson")],
        &ImportOptions::default(),
        &mut |_| {},
    )
    .expect("the demo orchard imports");
    let map = MapDb::open_read_only(&db).unwrap();
    let rows = map.rows().unwrap();
    let zones = map.zones().unwrap();
    let boundary = map.boundary().unwrap();
    assert!(rows.len() >= 30 && zones.len() == 1 && boundary.is_some());

    // The rows in a frame at the first row's start: direction, offsets across.
    let first = rows[0].line.0[0];
    let frame = Frame::new(first.y, first.x);
    let ends = |r: &verger::orchard::Row| {
        let line = frame.line(&r.line);
        (line.0[0], *line.0.last().unwrap())
    };
    let (a, b) = ends(&rows[0]);
    let len = ((b.x - a.x).powi(2) + (b.y - a.y).powi(2)).sqrt();
    let d = coord! {x: (b.x - a.x) / len, y: (b.y - a.y) / len};
    let n = coord! {x: d.y, y: -d.x};
    let dot = |p: geo::Coord<f64>, v: geo::Coord<f64>| p.x * v.x + p.y * v.y;
    let mut across: Vec<(f64, f64, f64)> = rows
        .iter()
        .map(|r| {
            let (s, e) = ends(r);
            let along = [dot(s, d), dot(e, d)];
            (
                (dot(s, n) + dot(e, n)) / 2.0,
                along[0].min(along[1]),
                along[0].max(along[1]),
            )
        })
        .collect();
    across.sort_by(|x, y| x.0.total_cmp(&y.0));
    // Alleys: between neighbouring rows, and half a spacing outside the outer ones.
    let mut alleys: Vec<(f64, f64, f64)> = Vec::new();
    let outer = |i: usize, j: usize| (across[j].0 - across[i].0) / 2.0;
    alleys.push((across[0].0 - outer(0, 1), across[0].1, across[0].2));
    for w in across.windows(2) {
        alleys.push((
            (w[0].0 + w[1].0) / 2.0,
            w[0].1.min(w[1].1),
            w[0].2.max(w[1].2),
        ));
    }
    let last = across.len() - 1;
    alleys.push((
        across[last].0 + outer(last - 1, last),
        across[last].1,
        across[last].2,
    ));

    let settings = MapSettings::default();
    let mut planner = Planner::new(settings.plan_config(), Area::new(boundary.as_ref(), &zones));
    let speed = 7.0 / 3.6;
    let radius = planner.config().search_radius_m(speed);
    let mut t: i64 = 1_790_000_000_000_000;
    let mut orders: BTreeMap<(String, i64), usize> = BTreeMap::new();
    let mut withdrawals = 0;
    for (k, (offset, from, to)) in alleys.iter().enumerate() {
        // Serpentine: up one alley, down the next, from 6 m into the headland.
        let (start, end, heading) = if k % 2 == 0 {
            (from - 6.0, to + 6.0, 1.0)
        } else {
            (to + 6.0, from - 6.0, -1.0)
        };
        let course = (d.x * heading)
            .atan2(d.y * heading)
            .to_degrees()
            .rem_euclid(360.0);
        let steps = ((end - start) * heading / speed * 5.0) as usize;
        for i in 0..=steps {
            let along = start + heading * speed * i as f64 / 5.0;
            let p = coord! {x: n.x * offset + d.x * along, y: n.y * offset + d.y * along};
            let (lat, lon) = frame.to_wgs84(p);
            let fix = FixInput {
                time: t,
                lat,
                lon,
                quality: Quality::RtkFixed,
                speed_mps: Some(speed),
                course_deg: Some(course),
                heading_deg: None,
            };
            let near: Vec<_> = map
                .trees_near(lat, lon, radius)
                .unwrap()
                .into_iter()
                .map(|n| n.tree)
                .collect();
            for action in planner.on_fix(&fix, &near) {
                match action {
                    Action::Order(o) if o.revision == 1 => {
                        // The face: which side of its row the nozzles are on.
                        let face = (o.face_deg / 90.0).round() as i64 % 4;
                        *orders.entry((o.tree.id.clone(), face)).or_default() += 1;
                    }
                    Action::Order(_) => {}
                    Action::Withdraw(_) => withdrawals += 1,
                }
            }
            t += 200_000;
        }
        t += 30_000_000; // the headland turn
    }
    // Expected, from the geometry alone: a tree whose canopy lies 6 m or more from
    // the buffer has both faces treated; one whose canopy touches it has none.
    let zone = frame.multi_polygon(&zones[0].area);
    let trees = map
        .trees_in_bbox(
            verger::orchard::BBox {
                south: -90.0,
                west: -180.0,
                north: 90.0,
                east: 180.0,
            },
            100_000,
        )
        .unwrap()
        .trees;
    let (mut far, mut touching, mut near_zone) = (0, 0, 0);
    for tree in &trees {
        let r = tree.canopy_width_m.unwrap() / 2.0;
        let at = Point(frame.to_local(tree.lat, tree.lon));
        let gap = Euclidean.distance(&at, &zone) - r;
        let faces: Vec<usize> = orders
            .iter()
            .filter(|((id, _), _)| *id == tree.id)
            .map(|(_, n)| *n)
            .collect();
        assert!(
            faces.iter().all(|n| *n == 1),
            "{}: ordered twice {faces:?}",
            tree.id
        );
        if gap <= 0.0 {
            touching += 1;
            assert!(
                faces.is_empty(),
                "{} touches the buffer but was ordered",
                tree.id
            );
        } else if gap >= 6.0 {
            far += 1;
            assert_eq!(faces.len(), 2, "{}: {} faces treated", tree.id, faces.len());
        } else {
            near_zone += 1;
        }
    }
    assert!(
        touching > 10,
        "the buffer should cut the outer row: {touching}"
    );
    assert!(far > 4000, "{far}");
    assert_eq!(withdrawals, 0, "a straight drive withdraws nothing");
    let c = planner.counters();
    assert_eq!(c.replans, 0, "constant speed: no re-plan");
    assert!(c.windows_refused.no_spray_zone > 0);
    eprintln!(
        "{} trees: {far} far from the buffer (both faces), {near_zone} near, {touching} touching; {} orders, {:?}",
        trees.len(),
        c.orders,
        c.windows_refused
    );
}
