use geo::{polygon, Polygon};

use super::*;

const S: i64 = 1_000_000;
const T0: i64 = 1_790_000_000 * S;

/// Trees east of a northward path (x = 0, 2 m/s, 10 Hz), trunks at x = 2, radius 0.5.
fn trees(ys: &[f64]) -> Vec<TreeGeom> {
    ys.iter()
        .enumerate()
        .map(|(i, y)| TreeGeom {
            id: format!("T{i}"),
            x: 2.0,
            y: *y,
            radius_m: 0.5,
            row_spacing_m: 4.0,
            sprayable: true,
        })
        .collect()
}

fn path() -> Vec<PathPoint> {
    (0..=200)
        .map(|i| PathPoint {
            t: T0 + i * S / 10,
            x: 0.0,
            y: 0.2 * i as f64,
            heading_deg: 0.0,
        })
        .collect()
}

fn right() -> Vec<SectionGeom> {
    vec![SectionGeom {
        id: "right".into(),
        right: true,
        forward_m: 0.0,
        lateral_m: 0.5,
        reach_m: 2.0,
    }]
}

/// The passage of the trunk at `y`: nozzles level with y - 0.5 .. y + 0.5 at 2 m/s.
fn window(y: f64, late_ms: i64) -> SprayInterval {
    SprayInterval {
        section: 0,
        from: T0 + ((y - 0.5) / 2.0 * 1e6) as i64 + late_ms * 1000,
        to: T0 + ((y + 0.5) / 2.0 * 1e6) as i64 + late_ms * 1000,
        flow_l_min: 12.0,
    }
}

fn field() -> Polygon<f64> {
    polygon![(x: -5.0, y: -5.0), (x: 10.0, y: -5.0), (x: 10.0, y: 45.0), (x: -5.0, y: 45.0)]
}

fn run(
    trees: &[TreeGeom],
    sprays: &[SprayInterval],
    zones: &[Polygon<f64>],
    invalid: &[(i64, i64)],
) -> Report {
    let path = path();
    let sections = right();
    let boundary = field();
    let intended: Vec<Intended> = trees
        .iter()
        .map(|t| Intended {
            tree_id: t.id.clone(),
            section: 0,
            from: 0,
            to: i64::MAX / 2,
            litres: 0.1,
        })
        .collect();
    report(&ReportInput {
        trees,
        trees_in_field: trees.len(),
        boundary: Some(std::slice::from_ref(&boundary)),
        zones,
        sections: &sections,
        path: &path,
        sprays,
        intended: &intended,
        invalid_fix: invalid,
        fail_safe_events: 0,
        baseline_l_per_ha: 1000.0,
    })
}

#[test]
fn sprays_on_the_canopies_exactly() {
    let t = trees(&[10.0, 20.0, 30.0]);
    let sprays: Vec<SprayInterval> = [10.0, 20.0, 30.0].iter().map(|y| window(*y, 0)).collect();
    let r = run(&t, &sprays, &[], &[]);
    assert_eq!(
        (
            r.trees.in_field,
            r.trees.passed,
            r.trees.treated,
            r.trees.missed
        ),
        (3, 3, 3, 0)
    );
    assert!(r.placement_error_cm.max < 0.5, "{:?}", r.placement_error_cm);
    // 12 L/min for 0.5 s each.
    assert!((r.volume_l.applied - 0.3).abs() < 1e-9);
    assert!((r.volume_l.intended - 0.3).abs() < 1e-9);
    // 1000 L/ha × 1 m of canopy × 2 m (half the row spacing) = 0.2 L per side.
    assert!((r.volume_l.constant_rate_baseline - 0.6).abs() < 1e-9);
    assert_eq!(r.per_tree.len(), 3);
    for side in &r.per_tree {
        assert_eq!(side.side, "right");
        assert!((side.applied_l - 0.1).abs() < 1e-3, "{side:?}");
        assert!((side.intended_l - 0.1).abs() < 1e-9);
    }
    assert_eq!(r.safety, Safety::default());
}

#[test]
fn late_sprays_are_measured_along_the_path() {
    let t = trees(&[10.0, 20.0]);
    let sprays = vec![window(10.0, 50), window(20.0, 50)];
    let r = run(&t, &sprays, &[], &[]);
    // 50 ms at 2 m/s: 10 cm at both ends.
    assert!(
        (r.placement_error_cm.p50 - 10.0).abs() < 0.5,
        "{:?}",
        r.placement_error_cm
    );
    assert!((r.placement_error_cm.max - 10.0).abs() < 0.5);
    assert_eq!(r.trees.treated, 2, "90 % of each canopy still covered");
    let e = r.per_tree[0].placement_error_cm.expect("sprayed");
    assert!((e - 10.0).abs() < 0.5);
}

#[test]
fn a_tree_not_sprayed_is_missed_unless_it_may_not_be() {
    let mut t = trees(&[10.0, 20.0, 30.0]);
    let sprays = vec![window(10.0, 0), window(30.0, 0)];
    let r = run(&t, &sprays, &[], &[]);
    assert_eq!((r.trees.passed, r.trees.treated, r.trees.missed), (3, 2, 1));
    let skipped = r.per_tree.iter().find(|s| s.tree_id == "T1").unwrap();
    assert_eq!((skipped.applied_l, skipped.placement_error_cm), (0.0, None));
    t[1].sprayable = false;
    let r = run(&t, &sprays, &[], &[]);
    assert_eq!((r.trees.passed, r.trees.treated, r.trees.missed), (3, 2, 0));
}

#[test]
fn a_hedge_sprayed_in_one_interval_has_no_error_inside() {
    // Canopies of 1 m every 0.8 m: one run from 9.5 to 11.1.
    let t = trees(&[10.0, 10.8, 11.6]);
    let sprays = vec![SprayInterval {
        section: 0,
        from: T0 + (9.5 / 2.0 * 1e6) as i64,
        to: T0 + (12.1 / 2.0 * 1e6) as i64,
        flow_l_min: 12.0,
    }];
    let r = run(&t, &sprays, &[], &[]);
    assert_eq!(r.trees.treated, 3);
    assert!(r.placement_error_cm.max < 0.5, "{:?}", r.placement_error_cm);
}

#[test]
fn sprays_into_zones_outside_the_boundary_or_on_invalid_fixes_are_counted() {
    let t = trees(&[10.0, 20.0, 30.0]);
    let sprays: Vec<SprayInterval> = [10.0, 20.0, 30.0].iter().map(|y| window(*y, 0)).collect();
    // A zone over the second tree's aim point (x = 1.5).
    let zone = polygon![(x: 1.0, y: 19.0), (x: 3.0, y: 19.0), (x: 3.0, y: 21.0), (x: 1.0, y: 21.0)];
    let r = run(&t, &sprays, &[zone], &[(T0 + 14_900_000, T0 + 15_000_000)]);
    assert_eq!(r.safety.sprays_in_no_spray_zones, 1);
    assert_eq!(r.safety.sprays_on_invalid_or_stale_fix, 1);
    assert_eq!(r.safety.sprays_outside_boundary, 0);
    // Without a boundary every spray is outside it.
    let path = path();
    let sections = right();
    let r = report(&ReportInput {
        trees: &t,
        trees_in_field: 0,
        boundary: None,
        zones: &[],
        sections: &sections,
        path: &path,
        sprays: &sprays,
        intended: &[],
        invalid_fix: &[],
        fail_safe_events: 2,
        baseline_l_per_ha: 0.0,
    });
    assert_eq!(r.safety.sprays_outside_boundary, 3);
    assert_eq!(r.safety.fail_safe_events, 2);
}

#[test]
fn trees_on_the_other_side_or_out_of_reach_are_not_passed() {
    let mut t = trees(&[10.0, 20.0]);
    t[0].x = -2.0; // west of the path: the right section never passes it
    t[1].x = 4.0; // 3.5 m beyond the nozzles: reach 2 + radius 0.5 falls short
    let r = run(&t, &[], &[], &[]);
    assert_eq!(r.trees.passed, 0);
    assert!(r.per_tree.is_empty());
}

#[test]
fn the_json_has_the_documented_names() {
    let t = trees(&[10.0]);
    let r = run(&t, &[window(10.0, 0)], &[], &[]);
    let json = serde_json::to_value(&r).unwrap();
    for path in [
        "/trees/in_field",
        "/trees/passed",
        "/trees/treated",
        "/trees/missed",
        "/placement_error_cm/p50",
        "/placement_error_cm/p95",
        "/placement_error_cm/max",
        "/volume_l/applied",
        "/volume_l/intended",
        "/volume_l/constant_rate_baseline",
        "/safety/sprays_outside_boundary",
        "/safety/sprays_in_no_spray_zones",
        "/safety/sprays_on_invalid_or_stale_fix",
        "/safety/fail_safe_events",
        "/per_tree/0/tree_id",
        "/per_tree/0/side",
        "/per_tree/0/intended_l",
        "/per_tree/0/applied_l",
        "/per_tree/0/placement_error_cm",
    ] {
        assert!(json.pointer(path).is_some(), "{path} in {json}");
    }
}
