//! The planner on hand-computed cases. The orchard is laid out in metres east (`x`) and
//! north (`y`) of an origin; trees and fixes are converted to lon/lat with a [`Frame`]
//! centred there, as real ones would be.
//!
//! The machine of these tests: nozzles 2 m behind the antenna, 0.8 m out on each side,
//! reach 2.5 m; valve latency 0.3 s, look-ahead 0.2 s, horizon 1 s, re-plan beyond 5 cm.
//! A window is ordered once its (open − 0.5 s) is within 1 s of the fix.

use geo::{coord, polygon, MultiPolygon};
use verger::orchard::{Boundary, Frame, Tree, Zone};

use super::*;

const T0: GnssMicros = 1_790_000_000_000_000;
const ORIGIN: (f64, f64) = (44.07, 1.09);

fn frame() -> Frame {
    Frame::new(ORIGIN.0, ORIGIN.1)
}

fn tree(id: &str, x: f64, y: f64, width: f64) -> Tree {
    let (lat, lon) = frame().to_wgs84(coord! {x: x, y: y});
    Tree {
        id: id.into(),
        row: None,
        lat,
        lon,
        fruit_count: Some(100.0),
        canopy_height_m: Some(3.0),
        canopy_width_m: Some(width),
        canopy_volume_m3: None,
        extra: Default::default(),
    }
}

fn section(id: &str, side: Side) -> Section {
    Section {
        id: id.into(),
        side,
        forward_m: -2.0,
        lateral_m: 0.8,
        reach_m: 2.5,
        bottom_m: None,
        top_m: None,
    }
}

fn config() -> PlanConfig {
    PlanConfig {
        sections: vec![section("left", Side::Left), section("right", Side::Right)],
        valve_latency: Duration::from_millis(300),
        lookahead: Duration::from_millis(200),
        horizon: Duration::from_secs(1),
        replan_distance_m: 0.05,
        min_quality: Quality::RtkFloat,
        min_speed_mps: 0.3,
        default_canopy_width_m: 1.0,
    }
}

/// A rectangle in local metres, as lon/lat.
fn rect(x0: f64, y0: f64, x1: f64, y1: f64) -> MultiPolygon<f64> {
    let f = frame();
    let c = |x: f64, y: f64| f.local_to_lonlat(coord! {x: x, y: y});
    MultiPolygon(vec![polygon![c(x0, y0), c(x1, y0), c(x1, y1), c(x0, y1)]])
}

fn area(zones: &[Zone]) -> Area {
    Area::new(
        Some(&Boundary {
            area: rect(-50.0, -50.0, 50.0, 200.0),
            derived: false,
        }),
        zones,
    )
}

fn fix(t_s: f64, x: f64, y: f64, speed: f64, course: f64) -> FixInput {
    let (lat, lon) = frame().to_wgs84(coord! {x: x, y: y});
    FixInput {
        time: T0 + (t_s * 1e6).round() as i64,
        lat,
        lon,
        quality: Quality::RtkFixed,
        speed_mps: Some(speed),
        course_deg: Some(course),
        heading_deg: None,
    }
}

fn secs(t: GnssMicros) -> f64 {
    (t - T0) as f64 / 1e6
}

/// Drive north along x = `x` at `speed` from y = `y0`, a fix every 0.1 s for `seconds`,
/// planning with `trees`: every action with the fix time it came from.
fn drive_north(
    p: &mut Planner,
    trees: &[Tree],
    x: f64,
    y0: f64,
    speed: f64,
    seconds: f64,
) -> Vec<(f64, Action)> {
    drive_north_from(p, trees, 0.0, x, y0, speed, seconds)
}

/// [`drive_north`] starting at `t0` seconds.
fn drive_north_from(
    p: &mut Planner,
    trees: &[Tree],
    t0: f64,
    x: f64,
    y0: f64,
    speed: f64,
    seconds: f64,
) -> Vec<(f64, Action)> {
    let mut out = Vec::new();
    let steps = (seconds * 10.0).round() as i64;
    for i in 0..=steps {
        let t = i as f64 / 10.0;
        let f = fix(t0 + t, x, y0 + speed * t, speed, 0.0);
        for a in p.on_fix(&f, trees) {
            out.push((t, a));
        }
    }
    out
}

fn orders(actions: &[(f64, Action)]) -> Vec<(f64, Order)> {
    actions
        .iter()
        .filter_map(|(t, a)| match a {
            Action::Order(o) => Some((*t, o.clone())),
            Action::Withdraw(_) => None,
        })
        .collect()
}

fn close_to(a: f64, b: f64) -> bool {
    (a - b).abs() < 0.002
}

#[test]
fn a_straight_row_each_tree_once_on_its_side_with_its_window() {
    // Antenna at y = 2t. Right tree at (2, 10), 1 m canopy: the right nozzles
    // (y = 2t − 2, x = 0.8) are level with y ∈ [9.5, 10.5] from t = 5.75 to 6.25 s,
    // 1.2 m across. Ordered when 5.75 − 0.5 − t ≤ 1, the first fix at or after 4.25 s.
    // Left tree at (−2, 20): window 10.75–11.25 s, ordered at 9.3 s.
    let trees = [tree("r1", 2.0, 10.0, 1.0), tree("l1", -2.0, 20.0, 1.0)];
    let mut p = Planner::new(config(), area(&[]));
    let actions = drive_north(&mut p, &trees, 0.0, 0.0, 2.0, 14.0);
    let orders = orders(&actions);
    assert_eq!(orders.len(), 2, "{orders:#?}");
    let (t, r) = &orders[0];
    assert_eq!((r.tree.id.as_str(), r.section), ("r1", 1));
    assert!(close_to(*t, 4.3), "ordered at {t}");
    assert!(close_to(secs(r.open), 5.75) && close_to(secs(r.close), 6.25));
    assert_eq!(
        (r.plan_id.as_str(), r.revision, r.late),
        ("r1@right:1", 1, false)
    );
    assert!(angle_between(r.face_deg, 270.0) < 0.01, "west face");
    let (t, l) = &orders[1];
    assert_eq!((l.tree.id.as_str(), l.section), ("l1", 0));
    assert!(close_to(*t, 9.3), "ordered at {t}");
    assert!(close_to(secs(l.open), 10.75) && close_to(secs(l.close), 11.25));
    assert!(angle_between(l.face_deg, 90.0) < 0.01, "east face");
    assert_eq!(p.counters().completed, 2);
    assert_eq!(p.counters().orders, 2);
    assert_eq!(p.counters().replans + p.counters().withdrawals, 0);
    assert_eq!(p.pending(), 0);
    assert_eq!(p.state(), PlanState::Planning);
}

#[test]
fn a_hedge_is_split_between_neighbours_and_a_gap_stays_dry() {
    // Canopies 1 m wide every 0.8 m overlap by 0.2 m: split in the middle. Then a
    // missing tree: the gap between 11.1 and 12.1 is not sprayed.
    let trees = [
        tree("a", 2.0, 10.0, 1.0),
        tree("b", 2.0, 10.8, 1.0),
        tree("d", 2.0, 12.4, 1.0),
    ];
    let mut p = Planner::new(config(), area(&[]));
    let orders = orders(&drive_north(&mut p, &trees, 0.0, 0.0, 2.0, 10.0));
    let spans: Vec<(&str, f64, f64)> = orders
        .iter()
        .map(|(_, o)| {
            // Back to the path: nozzle y = 2t − 2.
            let y = |t: GnssMicros| 2.0 * secs(t) - 2.0;
            (o.tree.id.as_str(), y(o.open), y(o.close))
        })
        .collect();
    assert_eq!(spans.len(), 3, "{spans:?}");
    let expect = [("a", 9.5, 10.4), ("b", 10.4, 11.3), ("d", 11.9, 12.9)];
    for ((id, a, b), (eid, ea, eb)) in spans.iter().zip(expect) {
        assert_eq!(*id, eid);
        assert!(close_to(*a, ea) && close_to(*b, eb), "{spans:?}");
    }
}

#[test]
fn slowing_down_orders_the_window_again_and_jitter_does_not() {
    let trees = [tree("r1", 2.0, 10.0, 1.0)];
    let mut p = Planner::new(config(), area(&[]));
    // 2 m/s with ±1 cm/s of noise: one order, no re-plan.
    let mut y = 0.0;
    let mut all = Vec::new();
    for i in 0..=44 {
        let t = i as f64 / 10.0;
        let speed = 2.0 + if i % 2 == 0 { 0.01 } else { -0.01 };
        all.extend(p.on_fix(&fix(t, 0.0, y, speed, 0.0), &trees));
        y += 0.2;
    }
    assert_eq!(all.len(), 1, "{all:#?}");
    // Then 1 m/s from 4.5 s (antenna at y = 9.0): nozzles at 7.0, 2.5 m from the
    // canopy: open 7.0 s, close 8.0 s. A new revision, same plan.
    let again = p.on_fix(&fix(4.5, 0.0, 9.0, 1.0, 0.0), &trees);
    let [Action::Order(o)] = again.as_slice() else {
        panic!("{again:#?}")
    };
    assert_eq!((o.plan_id.as_str(), o.revision), ("r1@right:1", 2));
    assert!(close_to(secs(o.open), 7.0) && close_to(secs(o.close), 8.0));
    assert_eq!(p.counters().replans, 1);
}

#[test]
fn reversing_withdraws_and_orders_nothing() {
    let trees = [tree("r1", 2.0, 10.0, 1.0), tree("r2", 2.0, 3.0, 1.0)];
    let mut p = Planner::new(config(), area(&[]));
    let actions = drive_north(&mut p, &trees, 0.0, 0.0, 2.0, 4.5);
    assert_eq!(orders(&actions).len(), 2, "r2 passed, r1 ordered");
    // Stop, then back up south along the same line.
    assert!(p.on_fix(&fix(4.6, 0.0, 9.0, 0.05, 0.0), &trees).len() == 1);
    assert_eq!(p.state(), PlanState::Holding(FixRefusal::TooSlow));
    assert_eq!(p.pending(), 0, "the stop withdrew r1");
    for i in 0..30 {
        let t = 4.7 + i as f64 / 10.0;
        let acts = p.on_fix(&fix(t, 0.0, 9.0 - 0.1 * i as f64, 1.0, 180.0), &trees);
        assert!(acts.is_empty(), "{acts:#?}");
    }
    assert_eq!(p.state(), PlanState::Holding(FixRefusal::Reversing));
    assert_eq!(p.counters().fixes_refused.reversing, 30);
    assert_eq!(p.counters().withdrawals, 1);
}

#[test]
fn a_window_touching_a_no_spray_zone_is_refused_its_neighbour_is_not() {
    // The zone's edge at y = 20.3 runs through the canopy of "edge" (y 19.5–20.5).
    let zone = Zone {
        id: "znt".into(),
        reason: "water buffer".into(),
        area: rect(-50.0, 20.3, 50.0, 40.0),
    };
    let trees = [
        tree("before", 2.0, 18.0, 1.0),
        tree("edge", 2.0, 20.0, 1.0),
        tree("inside", 2.0, 25.0, 1.0),
    ];
    let mut p = Planner::new(config(), area(&[zone]));
    let orders = orders(&drive_north(&mut p, &trees, 0.0, 0.0, 2.0, 16.0));
    let ids: Vec<&str> = orders.iter().map(|(_, o)| o.tree.id.as_str()).collect();
    assert_eq!(ids, ["before"]);
    assert_eq!(
        p.counters().windows_refused.no_spray_zone,
        2,
        "each refused window counted once"
    );
}

#[test]
fn nothing_outside_the_boundary() {
    // The boundary ends at y = 200; a tree at 199.8 has a footprint past it, and the
    // antenna beyond it refuses its fixes.
    let trees = [tree("last", 2.0, 199.8, 1.0), tree("out", 2.0, 215.0, 1.0)];
    let mut p = Planner::new(config(), area(&[]));
    let actions = drive_north(&mut p, &trees, 0.0, 180.0, 2.0, 20.0);
    assert!(orders(&actions).is_empty(), "{actions:#?}");
    assert_eq!(p.counters().windows_refused.outside_boundary, 1);
    assert!(p.counters().fixes_refused.outside_boundary > 0);
}

#[test]
fn poor_slow_or_motionless_fixes_are_refused_and_counted() {
    let trees = [tree("r1", 2.0, 10.0, 1.0)];
    let mut p = Planner::new(config(), area(&[]));
    let mut dgps = fix(4.3, 0.0, 8.6, 2.0, 0.0);
    dgps.quality = Quality::Dgps;
    assert!(p.on_fix(&dgps, &trees).is_empty());
    assert_eq!(p.state(), PlanState::Holding(FixRefusal::PoorQuality));
    let mut still = fix(4.4, 0.0, 8.8, 2.0, 0.0);
    still.course_deg = None;
    assert!(p.on_fix(&still, &trees).is_empty());
    assert_eq!(p.state(), PlanState::Holding(FixRefusal::NoVelocity));
    assert!(p.on_fix(&fix(4.5, 0.0, 9.0, 0.2, 0.0), &trees).is_empty());
    assert_eq!(p.state(), PlanState::Holding(FixRefusal::TooSlow));
    let mut float = fix(4.6, 0.0, 9.2, 2.0, 0.0);
    float.quality = Quality::RtkFloat;
    assert_eq!(p.on_fix(&float, &trees).len(), 1, "rtk_float is enough");
    // The shell refuses a fix (GNSS status lost): the order is withdrawn.
    let w = p.refuse_fix(FixRefusal::GnssNotFix, float.time + 100_000);
    let [Action::Withdraw(w)] = w.as_slice() else {
        panic!("{w:#?}")
    };
    assert_eq!((w.plan_id.as_str(), w.revision), ("r1@right:1", 2));
    assert_eq!(w.reason, WithdrawReason::Fix(FixRefusal::GnssNotFix));
    let c = p.counters();
    assert_eq!(c.fixes, 4);
    assert_eq!(c.fixes_planned, 1);
    let r = &c.fixes_refused;
    assert_eq!(
        (r.poor_quality, r.no_velocity, r.too_slow, r.gnss_not_fix),
        (1, 1, 1, 1)
    );
}

#[test]
fn a_late_window_is_ordered_late_and_a_closing_one_not_at_all() {
    // First fix: antenna at y = 0, nozzles at y = −2, 2 m/s.
    // "soon": canopy y 0..1, 2 m ahead: opens at 1.0 s, 1.0 − 0.5 = 0.5 s ≤ horizon: in
    // time. "late": canopy y −1.4..−0.4, opens at 0.3 s (< latency + look-ahead), closes
    // at 0.8 s (> latency): ordered, late. "far": canopy 3.5..4.5, opens at 2.75 s,
    // beyond the horizon: not yet.
    let trees = [
        tree("soon", 2.0, 0.5, 1.0),
        tree("late", 2.0, -0.9, 1.0),
        tree("far", 2.0, 4.0, 1.0),
    ];
    let mut p = Planner::new(config(), area(&[]));
    let acts = p.on_fix(&fix(0.0, 0.0, 0.0, 2.0, 0.0), &trees);
    let mut got: Vec<(String, bool)> = acts
        .iter()
        .filter_map(|a| match a {
            Action::Order(o) => Some((o.tree.id.clone(), o.late)),
            Action::Withdraw(_) => None,
        })
        .collect();
    got.sort();
    assert_eq!(got, [("late".to_owned(), true), ("soon".to_owned(), false)]);
    assert_eq!(p.counters().late, 1);
    // "closing": canopy −2.4..−1.4, closes at 0.3 s = the valve latency: too late.
    let mut p = Planner::new(config(), area(&[]));
    let closing = [tree("closing", 2.0, -1.9, 1.0)];
    assert!(p.on_fix(&fix(0.0, 0.0, 0.0, 2.0, 0.0), &closing).is_empty());
    assert_eq!(p.counters().windows_refused.too_late, 1);
}

#[test]
fn the_neighbouring_alley_treats_the_other_face_the_same_alley_backwards_does_not() {
    // One row at x = 2. Up the alley at x = 0 (its west face, right section), back down
    // the alley at x = 4 (east face, right section heading south), then down the
    // first alley again (west face, left section): already treated.
    let trees = [tree("t", 2.0, 10.0, 1.0)];
    let mut p = Planner::new(config(), area(&[]));
    let up = orders(&drive_north(&mut p, &trees, 0.0, 0.0, 2.0, 8.0));
    assert_eq!(up.len(), 1);
    assert!(angle_between(up[0].1.face_deg, 270.0) < 0.01);
    let mut down = Vec::new();
    let mut again = Vec::new();
    for i in 0..=80 {
        let t = 20.0 + i as f64 / 10.0;
        let y = 22.0 - 0.2 * i as f64;
        down.extend(p.on_fix(&fix(t, 4.0, y, 2.0, 180.0), &trees));
    }
    for i in 0..=80 {
        let t = 40.0 + i as f64 / 10.0;
        let y = 22.0 - 0.2 * i as f64;
        again.extend(p.on_fix(&fix(t, 0.0, y, 2.0, 180.0), &trees));
    }
    let [Action::Order(o)] = down.as_slice() else {
        panic!("{down:#?}")
    };
    assert_eq!(o.section, 1, "right side when heading south");
    assert!(angle_between(o.face_deg, 90.0) < 0.01, "east face");
    assert!(again.is_empty(), "{again:#?}");
    assert_eq!(p.counters().windows_refused.already_treated, 1);
}

#[test]
fn a_headland_turn_plans_the_next_alley_and_nothing_behind() {
    // Up x = 0 past the row x = 2 (trees a, b: their west faces, right section), a
    // half-circle turn of radius 2 m around (2, 16) into the alley x = 4 heading south,
    // past the same row on the right (their east faces) and a tree of the next row at
    // (6, 12) on the left.
    let trees = [
        tree("a", 2.0, 10.0, 1.0),
        tree("b", 2.0, 8.0, 1.0),
        tree("next-row", 6.0, 12.0, 1.0),
    ];
    let mut p = Planner::new(config(), area(&[]));
    let mut actions = Vec::new();
    let mut t = 0.0;
    let mut push = |p: &mut Planner, t: f64, x: f64, y: f64, course: f64| {
        for a in p.on_fix(&fix(t, x, y, 1.0, course), &trees) {
            actions.push((t, a));
        }
    };
    for i in 0..=160 {
        push(&mut p, t, 0.0, 0.1 * i as f64, 0.0);
        t += 0.1;
    }
    // Turn: 1 m/s on a 2 m radius, 0.1 s per fix = 2.865° per fix.
    let steps = (std::f64::consts::PI * 2.0 / 0.1).round() as i64;
    for i in 1..=steps {
        let a = std::f64::consts::PI * i as f64 / steps as f64;
        push(
            &mut p,
            t,
            2.0 - 2.0 * a.cos(),
            16.0 + 2.0 * a.sin(),
            a.to_degrees(),
        );
        t += 0.1;
    }
    for i in 1..=140 {
        push(&mut p, t, 4.0, 16.0 - 0.1 * i as f64, 180.0);
        t += 0.1;
    }
    let orders = orders(&actions);
    let mut got: Vec<(&str, &str)> = orders
        .iter()
        .map(|(_, o)| {
            (
                o.tree.id.as_str(),
                p.config().sections[o.section].id.as_str(),
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            ("a", "right"),
            ("a", "right"),
            ("b", "right"),
            ("b", "right"),
            ("next-row", "left"),
        ],
        "{orders:#?}"
    );
    let faces: Vec<f64> = orders
        .iter()
        .filter(|(_, o)| o.tree.id == "a")
        .map(|(_, o)| o.face_deg)
        .collect();
    assert!(angle_between(faces[0], 270.0) < 0.01 && angle_between(faces[1], 90.0) < 0.01);
    assert_eq!(p.counters().withdrawals, 0, "{actions:#?}");
}

#[test]
fn nozzles_follow_the_body_when_a_dual_antenna_says_it_crabs() {
    // Crabbing: moving north, the body turned 10° right. The right nozzles, 2 m behind
    // and 0.8 m out along the body's axes, sit at x = 0.8 cos 10° − 2 sin 10°... the
    // tree's window is the same length but shifted: check the open time against the
    // hand-computed along-track offset.
    let trees = [tree("r1", 2.0, 10.0, 1.0)];
    let mut p = Planner::new(config(), area(&[]));
    let mut f = fix(4.4, 0.0, 8.8, 2.0, 0.0);
    f.heading_deg = Some(10.0);
    let acts = p.on_fix(&f, &trees);
    let [Action::Order(o)] = acts.as_slice() else {
        panic!("{acts:#?}")
    };
    let b = 10f64.to_radians();
    // Nozzle y = 8.8 + (−2 cos b) + 0.8·(−sin b)
    let nozzle_y = 8.8 - 2.0 * b.cos() - 0.8 * b.sin();
    let open = 4.4 + (9.5 - nozzle_y) / 2.0;
    assert!(close_to(secs(o.open), open), "{} vs {open}", secs(o.open));
}

#[test]
fn a_top_section_skips_short_trees() {
    let mut cfg = config();
    let mut top = section("right.top", Side::Right);
    top.bottom_m = Some(2.0);
    cfg.sections.push(top);
    let mut short = tree("short", 2.0, 10.0, 1.0);
    short.canopy_height_m = Some(1.8);
    let tall = tree("tall", 2.0, 14.0, 1.0);
    let mut p = Planner::new(cfg, area(&[]));
    let orders = orders(&drive_north(&mut p, &[short, tall], 0.0, 0.0, 2.0, 10.0));
    let got: Vec<String> = orders.iter().map(|(_, o)| o.plan_id.clone()).collect();
    assert_eq!(got, ["short@right:1", "tall@right:2", "tall@right.top:3"]);
}

#[test]
fn a_failed_dose_call_does_not_count_the_face_as_treated() {
    let trees = [tree("t", 2.0, 10.0, 1.0)];
    let mut p = Planner::new(config(), area(&[]));
    let acts = p.on_fix(&fix(4.3, 0.0, 8.6, 2.0, 0.0), &trees);
    assert_eq!(acts.len(), 1);
    p.dose_failed("t@right:1");
    drive_north_from(&mut p, &trees, 4.4, 0.0, 8.8, 2.0, 4.0);
    // Up the same alley later: the face is still untreated, so it is ordered.
    let again = drive_north_from(&mut p, &trees, 30.0, 0.0, -20.0, 2.0, 16.0);
    assert_eq!(orders(&again).len(), 1);
}

#[test]
fn a_fix_the_shell_refuses_is_counted_as_received() {
    let mut p = Planner::new(config(), area(&[]));
    p.refuse_received_fix(FixRefusal::StaleFix, T0);
    p.refuse_fix(FixRefusal::GnssNotFix, T0 + 100_000);
    let c = p.counters();
    assert_eq!(
        (c.fixes, c.fixes_planned),
        (1, 0),
        "the status event is no fix"
    );
    assert_eq!(
        (c.fixes_refused.stale_fix, c.fixes_refused.gnss_not_fix),
        (1, 1)
    );
}
