use super::*;
use crate::command::SectionSpec;

const MS: Micros = 1_000;
const S: Micros = 1_000_000;
/// GNSS time of monotonic 0.
const T0: Micros = 1_790_000_000 * S;
/// Fixes reach the sprayer 40 ms after their epoch.
const DELAY: Micros = 40 * MS;

fn config() -> DriverConfig {
    DriverConfig {
        limits: Limits {
            sections: vec![
                SectionSpec {
                    id: "left".into(),
                    max_flow_l_min: 20.0,
                },
                SectionSpec {
                    id: "right".into(),
                    max_flow_l_min: 20.0,
                },
            ],
            max_window: 10 * S,
            max_ahead: 30 * S,
        },
        valve_latency: 300 * MS,
        receiver_latency: 0,
        max_fix_gap: 300 * MS,
        clock_window: 50,
        operator: Some("J. Martin".into()),
    }
}

/// A driver with fixes every 100 ms up to `until` (mono), moving north 0.1 m per fix.
struct Rig {
    d: Driver,
    next_fix: Micros,
    now: Micros,
    records: Vec<NewRecord>,
    changes: Vec<(Micros, Vec<Valve>)>,
}

impl Rig {
    fn ready() -> Rig {
        let mut d = Driver::new(config());
        d.on_connection(true);
        d.on_board(true);
        d.on_gnss_status(true);
        let mut rig = Rig {
            d,
            next_fix: 0,
            now: 0,
            records: Vec::new(),
            changes: Vec::new(),
        };
        rig.run_to(DELAY, true);
        assert_eq!(rig.d.fault(), None);
        rig
    }

    fn lat(gnss: Micros) -> f64 {
        44.0 + (gnss - T0) as f64 / S as f64 * 1e-5
    }

    /// Poll every millisecond from the last poll up to `to`; with `fixes`, the fix of each
    /// 100 ms epoch arrives DELAY after it.
    fn run_to(&mut self, to: Micros, fixes: bool) {
        let mut t = self.now;
        while t <= to {
            if fixes && t >= self.next_fix + DELAY {
                let epoch = self.next_fix;
                self.d.on_fix(t, T0 + epoch, 0, Self::lat(T0 + epoch), 1.0);
                self.next_fix += 100 * MS;
            }
            self.poll(t);
            t += MS;
        }
        self.now = to + MS;
        if !fixes {
            // The epochs missed are gone.
            while self.next_fix + DELAY <= to {
                self.next_fix += 100 * MS;
            }
        }
    }

    fn poll(&mut self, t: Micros) {
        let e = self.d.poll(t);
        if let Some(o) = e.outputs {
            self.changes.push((t, o));
        }
        self.records.extend(e.records);
    }

    fn apply(&mut self, now: Micros, order: ApplyRequest) -> Result<ApplyResult, ApplyError> {
        if now >= self.now {
            self.run_to(now, true);
        }
        let r = self.d.apply(now, &order);
        self.poll(now);
        r
    }
}

fn gnss(mono: Micros) -> String {
    // Fixes arrive DELAY after their epoch: monotonic = GNSS − T0 + DELAY.
    rfc3339(T0 + mono - DELAY)
}

fn order(plan: &str, section: &str, open: Micros, close: Micros) -> ApplyRequest {
    ApplyRequest {
        plan_id: plan.into(),
        revision: 1,
        section: section.into(),
        tree_id: plan.split('@').next().unwrap_or(plan).into(),
        open: gnss(open),
        close: gnss(close),
        flow_l_min: 12.0,
        volume_l: 0.1,
        product: Product::example(),
        parcel: Some("P-1".into()),
        crop: Some("apple".into()),
    }
}

#[test]
fn a_window_opens_and_closes_a_valve_latency_ahead_and_is_recorded() {
    let mut rig = Rig::ready();
    let r = rig
        .apply(
            1_000 * MS,
            order("t1@right:1", "right", 2_000 * MS, 2_500 * MS),
        )
        .unwrap();
    assert!(r.scheduled && !r.late);
    assert_eq!(r.switch_on, gnss(1_700 * MS));
    assert_eq!(r.switch_off, gnss(2_200 * MS));
    rig.run_to(4_000 * MS, true);
    let at: Vec<Micros> = rig.changes.iter().map(|(t, _)| *t).collect();
    assert_eq!(at, vec![1_700 * MS, 2_200 * MS], "{:?}", rig.changes);
    assert_eq!(rig.changes[0].1, vec![Valve::Closed, Valve::Open(12.0)]);
    assert_eq!(rig.changes[1].1, vec![Valve::Closed, Valve::Closed]);
    assert_eq!(rig.records.len(), 1);
    let rec = &rig.records[0];
    assert_eq!(rec.opened_at, gnss(2_000 * MS));
    assert_eq!(rec.closed_at, gnss(2_500 * MS));
    assert!((rec.volume_l - 0.1).abs() < 1e-9, "12 L/min for 0.5 s");
    assert!((rec.flow_l_min - 12.0).abs() < 1e-9);
    assert_eq!(rec.end, SprayEnd::Completed);
    assert_eq!(
        (rec.tree_id.as_str(), rec.section.as_str()),
        ("t1", "right")
    );
    assert_eq!(rec.operator.as_deref(), Some("J. Martin"));
    assert_eq!(rec.authorisation, Product::example().authorisation);
    // Positions interpolated at the GNSS instants the spray reached and left the canopy.
    let open_lat = Rig::lat(T0 + 2_000 * MS - DELAY);
    assert!((rec.open_lat.unwrap() - open_lat).abs() < 1e-12);
    let close_lat = Rig::lat(T0 + 2_500 * MS - DELAY);
    assert!((rec.close_lat.unwrap() - close_lat).abs() < 1e-12);
    assert_eq!(rig.d.pending(), 0);
    assert_eq!(rig.d.unrecorded(), 0);
}

#[test]
fn the_record_waits_for_a_fix_past_the_spray_end() {
    let mut rig = Rig::ready();
    rig.apply(
        1_000 * MS,
        order("t1@left:1", "left", 2_000 * MS, 2_500 * MS),
    )
    .unwrap();
    rig.run_to(2_200 * MS, true);
    assert!(
        rig.records.is_empty(),
        "the spray has not reached its end yet"
    );
    rig.run_to(2_600 * MS, true);
    assert_eq!(rig.records.len(), 1, "the fix of 2.5 s covers it");
}

#[test]
fn without_fixes_after_it_the_record_goes_after_the_wait_without_its_end_position() {
    let mut rig = Rig::ready();
    rig.apply(
        1_000 * MS,
        order("t1@left:1", "left", 1_400 * MS, 1_500 * MS),
    )
    .unwrap();
    // Fixes stop at 1.15 s: the valve closed at 1.2 s by its window (before the gap
    // trips at 1.41 s).
    rig.run_to(1_150 * MS, true);
    rig.run_to(1_200 * MS + POSITION_WAIT - MS, false);
    assert!(rig.records.is_empty());
    rig.run_to(1_200 * MS + POSITION_WAIT, false);
    assert_eq!(rig.records.len(), 1);
    let rec = &rig.records[0];
    assert!(rec.open_lat.is_some(), "1.1 s is 0.3 s from the last fix");
    assert_eq!(rec.end, SprayEnd::Completed);
}

#[test]
fn orders_are_refused_while_safe_and_when_malformed() {
    let mut d = Driver::new(config());
    let o = order("t1@left:1", "left", 2_000 * MS, 2_500 * MS);
    assert_eq!(
        d.apply(0, &o),
        Err(ApplyError::Unavailable(SafeReason::Starting))
    );
    let mut rig = Rig::ready();
    let now = 1_000 * MS;
    rig.run_to(now, true);
    let mut bad = |f: &dyn Fn(&mut ApplyRequest), field: &str| {
        let mut o = order("t1@left:1", "left", 2_000 * MS, 2_500 * MS);
        f(&mut o);
        match rig.d.apply(now, &o) {
            Err(ApplyError::Invalid(m)) => assert!(m.starts_with(field), "{field}: {m}"),
            other => panic!("{field}: {other:?}"),
        }
    };
    bad(&|o| o.section = "middle".into(), "section");
    bad(&|o| o.tree_id = " ".into(), "tree_id");
    bad(&|o| o.flow_l_min = 25.0, "flow_l_min");
    bad(&|o| o.flow_l_min = f64::NAN, "flow_l_min");
    bad(&|o| o.open = "yesterday".into(), "open");
    bad(&|o| o.close = gnss(500 * MS), "close");
    bad(
        &|o| {
            // Open 100 ms ago, close in 200 ms: the valve latency (300 ms) leaves no spray.
            o.open = gnss(900 * MS);
            o.close = gnss(1_200 * MS);
        },
        "close",
    );
    bad(&|o| o.close = gnss(20_000 * MS), "close");
    bad(
        &|o| {
            o.open = gnss(60_000 * MS);
            o.close = gnss(60_500 * MS);
        },
        "open",
    );
    bad(
        &|o| o.product.authorisation = String::new(),
        "product.authorisation",
    );
    bad(&|o| o.product.name = String::new(), "product.name");
    bad(&|o| o.volume_l = -1.0, "volume_l");
    bad(&|o| o.revision = 0, "revision");
    rig.run_to(3_000 * MS, true);
    assert!(rig.changes.is_empty(), "no valve moved: {:?}", rig.changes);
}

#[test]
fn a_fix_gap_closes_the_valves_forgets_the_orders_and_records_the_cut() {
    let mut rig = Rig::ready();
    rig.apply(
        1_000 * MS,
        order("t1@left:1", "left", 1_500 * MS, 3_000 * MS),
    )
    .unwrap();
    rig.apply(
        1_000 * MS,
        order("t2@right:1", "right", 3_500 * MS, 4_000 * MS),
    )
    .unwrap();
    // The last fix to arrive by 1.3 s is the epoch of 1.2 s, at 1.24 s: the gap trips
    // 0.3 s later.
    rig.run_to(1_300 * MS, true);
    rig.run_to(5_000 * MS, false);
    assert_eq!(rig.d.fault(), Some(SafeReason::NoFix));
    let at: Vec<Micros> = rig.changes.iter().map(|(t, _)| *t).collect();
    assert_eq!(at, vec![1_200 * MS, 1_541 * MS]);
    assert_eq!(rig.changes[1].1, vec![Valve::Closed, Valve::Closed]);
    assert_eq!(rig.d.pending(), 0, "every order forgotten");
    assert_eq!(rig.records.len(), 1);
    assert_eq!(rig.records[0].end, SprayEnd::FailSafe);
    assert!((rig.records[0].volume_l - 12.0 * 0.341 / 60.0).abs() < 1e-9);
    // Fixes again: ready, but nothing opens without a fresh order.
    rig.next_fix = 5_000 * MS;
    rig.run_to(6_000 * MS, true);
    assert_eq!(rig.d.fault(), None);
    assert_eq!(rig.changes.len(), 2);
    rig.apply(
        6_000 * MS,
        order("t3@left:1", "left", 6_500 * MS, 7_000 * MS),
    )
    .unwrap();
    rig.run_to(7_500 * MS, true);
    assert_eq!(rig.changes.len(), 4);
}

#[test]
fn losing_the_router_the_gnss_status_or_the_board_closes_at_once() {
    type Fault = fn(&mut Driver);
    let faults: [(Fault, SafeReason); 3] = [
        (|d| d.on_connection(false), SafeReason::RouterLost),
        (|d| d.on_gnss_status(false), SafeReason::GnssNotFix),
        (|d| d.on_board(false), SafeReason::BoardLost),
    ];
    for (fault, reason) in faults {
        let mut rig = Rig::ready();
        rig.apply(
            1_000 * MS,
            order("t1@left:1", "left", 1_500 * MS, 3_000 * MS),
        )
        .unwrap();
        rig.run_to(1_500 * MS, true);
        fault(&mut rig.d);
        rig.poll(1_500 * MS);
        assert_eq!(rig.d.fault(), Some(reason));
        assert_eq!(
            rig.changes.last(),
            Some(&(1_500 * MS, vec![Valve::Closed, Valve::Closed])),
            "{reason}"
        );
        assert_eq!(
            rig.d.apply(
                1_500 * MS,
                &order("t2@left:1", "left", 2_000 * MS, 2_500 * MS)
            ),
            Err(ApplyError::Unavailable(reason))
        );
    }
}

#[test]
fn stop_all_closes_and_says_what() {
    let mut rig = Rig::ready();
    rig.apply(
        1_000 * MS,
        order("t1@left:1", "left", 1_500 * MS, 3_000 * MS),
    )
    .unwrap();
    rig.apply(
        1_000 * MS,
        order("t2@left:1", "left", 3_500 * MS, 4_000 * MS),
    )
    .unwrap();
    rig.run_to(1_500 * MS, true);
    let r = rig.d.stop_all(1_500 * MS);
    rig.poll(1_500 * MS);
    assert_eq!(r.closed, vec!["left".to_string()]);
    assert_eq!(r.cancelled, 2);
    rig.run_to(5_000 * MS, true);
    assert_eq!(rig.changes.len(), 2);
    assert_eq!(rig.changes[1].0, 1_500 * MS);
    assert_eq!(rig.records.len(), 1);
    assert_eq!(rig.records[0].end, SprayEnd::StopAll);
    assert_eq!(rig.d.fault(), None, "stop_all is not a safe state");
}

#[test]
fn a_withdrawal_closes_the_valve_and_is_recorded_as_such() {
    let mut rig = Rig::ready();
    rig.apply(
        1_000 * MS,
        order("t1@left:1", "left", 1_500 * MS, 3_000 * MS),
    )
    .unwrap();
    rig.run_to(1_600 * MS, true);
    let w = rig.d.withdraw(
        1_600 * MS,
        &WithdrawRequest {
            plan_id: "t1@left:1".into(),
            revision: 2,
            reason: Some("no_spray_zone".into()),
        },
    );
    assert!(w.withdrawn);
    rig.poll(1_600 * MS);
    rig.run_to(4_000 * MS, true);
    assert_eq!(rig.changes.len(), 2);
    assert_eq!(rig.changes[1].0, 1_600 * MS);
    assert_eq!(rig.records[0].end, SprayEnd::Withdrawn);
    let again = rig.d.withdraw(
        4_000 * MS,
        &WithdrawRequest {
            plan_id: "t1@left:1".into(),
            revision: 3,
            reason: None,
        },
    );
    assert!(!again.withdrawn);
}

#[test]
fn a_new_revision_moves_the_close_without_a_second_record() {
    let mut rig = Rig::ready();
    rig.apply(
        1_000 * MS,
        order("t1@left:1", "left", 1_500 * MS, 2_000 * MS),
    )
    .unwrap();
    rig.run_to(1_300 * MS, true);
    let mut later = order("t1@left:1", "left", 1_500 * MS, 2_400 * MS);
    later.revision = 2;
    later.volume_l = 0.15;
    let r = rig.apply(1_300 * MS, later).unwrap();
    assert!(r.scheduled);
    let mut stale = order("t1@left:1", "left", 1_500 * MS, 1_700 * MS);
    stale.revision = 1;
    let r = rig.apply(1_300 * MS, stale).unwrap();
    assert!(!r.scheduled, "an older revision changes nothing");
    assert_eq!(r.revision, 2);
    rig.run_to(3_000 * MS, true);
    let at: Vec<Micros> = rig.changes.iter().map(|(t, _)| *t).collect();
    assert_eq!(at, vec![1_200 * MS, 2_100 * MS]);
    assert_eq!(rig.records.len(), 1);
    assert_eq!(rig.records[0].revision, 2);
    assert_eq!(rig.records[0].intended_volume_l, 0.15);
    assert!((rig.records[0].volume_l - 12.0 * 0.9 / 60.0).abs() < 1e-9);
}

#[test]
fn another_order_for_the_same_tree_replaces_the_running_one() {
    let mut rig = Rig::ready();
    rig.apply(
        1_000 * MS,
        order("t1@left:1", "left", 1_500 * MS, 2_000 * MS),
    )
    .unwrap();
    rig.run_to(1_300 * MS, true);
    rig.apply(
        1_300 * MS,
        order("t1@left:2", "left", 1_700 * MS, 2_200 * MS),
    )
    .unwrap();
    rig.run_to(3_000 * MS, true);
    let at: Vec<Micros> = rig.changes.iter().map(|(t, _)| *t).collect();
    assert_eq!(at, vec![1_200 * MS, 1_300 * MS, 1_400 * MS, 1_900 * MS]);
    let ends: Vec<SprayEnd> = rig.records.iter().map(|r| r.end).collect();
    assert_eq!(ends, vec![SprayEnd::Replaced, SprayEnd::Completed]);
}

#[test]
fn the_clock_is_learnt_from_the_least_delayed_of_jittery_fixes() {
    let mut d = Driver::new(config());
    d.on_connection(true);
    d.on_board(true);
    d.on_gnss_status(true);
    // Epochs every 100 ms; arrival delay 40 ms plus 0–37 ms of jitter.
    for i in 0..20 {
        let jitter = (i * 37 % 38) * MS;
        let epoch = i * 100 * MS;
        d.on_fix(epoch + DELAY + jitter, T0 + epoch, 0, 44.0, 1.0);
    }
    assert_eq!(d.clock_offset(), Some(DELAY - T0));
    // The component's own age (first byte to publication) is taken off too.
    let mut d2 = Driver::new(config());
    d2.on_fix(
        1_000 * MS + DELAY + 5 * MS,
        T0 + 1_000 * MS,
        5 * MS,
        44.0,
        1.0,
    );
    assert_eq!(d2.clock_offset(), Some(DELAY - T0));
}

#[test]
fn shutdown_closes_and_hands_out_every_record_at_once() {
    let mut rig = Rig::ready();
    rig.apply(
        1_000 * MS,
        order("t1@left:1", "left", 1_500 * MS, 3_000 * MS),
    )
    .unwrap();
    rig.run_to(1_500 * MS, true);
    rig.d.shutdown();
    rig.poll(1_500 * MS);
    assert_eq!(rig.d.fault(), Some(SafeReason::Shutdown));
    assert_eq!(rig.changes.last().unwrap().1, vec![Valve::Closed; 2]);
    assert_eq!(rig.records.len(), 1);
    assert_eq!(rig.records[0].end, SprayEnd::FailSafe);
    assert_eq!(rig.d.unrecorded(), 0);
}

#[test]
fn duty_follows_the_flow() {
    assert_eq!(duty_pct(Valve::Closed, 20.0), 0);
    assert_eq!(duty_pct(Valve::Open(12.0), 20.0), 60);
    assert_eq!(duty_pct(Valve::Open(0.01), 20.0), 1);
    assert_eq!(duty_pct(Valve::Open(20.0), 20.0), 100);
}
