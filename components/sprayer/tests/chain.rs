//! The second half of the treatment chain, end to end: the map's order
//! (`orchard.dose.treat`, played by this test) → verger-dose (in this process, through
//! the router) → the real `verger-sprayer` binary → the virtual valve board → the record.
//! The valve opens for the dose module's flow at the instant the map asked for, and the
//! record holds what the dose module decided.

mod common;

use common::{gnss_now, rfc3339, Rig};
use nix::sys::signal::Signal;
use verger::contract::dose::{
    DoseSettings, ModelSettings, Product, SectionPayload, TreatRequest, TreatResult, WindowPayload,
    SETTINGS_TOPIC, TREAT,
};
use verger::contract::map::{Side, TreePayload, WithdrawReason};
use verger::contract::sprayer::{AppliedRecord, SprayEnd, APPLIED_TOPIC};
use verger_testkit::{kwargs_of, next_event, subscribe, InProcess};

fn tree(id: &str, fruit: f64) -> TreePayload {
    TreePayload {
        id: id.into(),
        row: Some("B-07".into()),
        lat: 44.1,
        lon: 1.08,
        fruit_count: Some(fruit),
        canopy_height_m: Some(3.0),
        canopy_width_m: Some(1.2),
        canopy_volume_m3: Some(4.0),
        extra: serde_json::Map::new(),
    }
}

fn treat(tree: TreePayload, open_in_ms: i64, close_in_ms: i64) -> TreatRequest {
    let now = gnss_now();
    TreatRequest {
        plan_id: format!("{}@right:1", tree.id),
        revision: 1,
        tree,
        section: SectionPayload {
            id: "right".into(),
            side: Side::Right,
            bottom_m: None,
            top_m: None,
        },
        window: Some(WindowPayload {
            open: rfc3339(now + open_in_ms * 1000),
            close: rfc3339(now + close_in_ms * 1000),
        }),
        withdraw_reason: None,
        late: false,
        face_deg: 282.0,
        speed_mps: 1.9,
        published_at: rfc3339(now),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tree_ordered_by_the_map_is_sprayed_with_the_dose_decided_and_recorded() {
    let mut rig = Rig::ready("", &[]).await;
    let url = rig.router.as_ref().expect("router").url();
    let state = rig.dir.path("dose-settings.json");
    let settings = verger_dose::Settings {
        dose: DoseSettings {
            // The tutorial's model: 0.05 L + 0.04 L per 100 fruit, per side.
            model: ModelSettings::FruitLoad {
                base_l: 0.05,
                l_per_100_fruit: 0.04,
                missing_fruit_count: 100.0,
            },
            min_l: 0.0,
            max_l: 5.0,
            max_flow_l_min: 20.0,
            product: Product::example(),
        },
        ..verger_dose::Settings::default()
    };
    // verger-dose publishes its settings once its procedures are registered.
    let mut dose_settings = subscribe(&rig.client, SETTINGS_TOPIC, false).await;
    let dose = InProcess::start(&url, move |c, s| verger_dose::run(c, s, settings, state));
    next_event(&mut dose_settings, "verger-dose ready").await;
    let mut applied = subscribe(&rig.client, APPLIED_TOPIC, false).await;
    // 150 fruit: 0.05 + 0.06 = 0.11 L in a 600 ms window: 11 L/min (55 % of 20 L/min).
    let order = treat(tree("B-07-042", 150.0), 900, 1500);
    let decided: TreatResult = rig.client.call_typed(TREAT, &order).await.expect("treat");
    assert!((decided.volume_l - 0.11).abs() < 1e-9, "{decided:?}");
    assert!((decided.flow_l_min - 11.0).abs() < 1e-6, "{decided:?}");
    assert!(decided.sprayer.as_ref().is_some_and(|s| s.scheduled));
    rig.board
        .wait_for("right open", common::WAIT, |o| o.sections()[1].is_open())
        .await
        .expect("the right valve opens");
    assert_eq!(rig.board.outputs().sections()[1].duty(), 55);
    let record: AppliedRecord = kwargs_of(&next_event(&mut applied, "the record").await);
    assert_eq!(record.tree_id, "B-07-042");
    assert_eq!(record.end, SprayEnd::Completed);
    assert_eq!(record.authorisation, Product::example().authorisation);
    assert!((record.intended_volume_l - 0.11).abs() < 1e-9);
    // Applied: 11 L/min for the 600 ms the valve was open, within a few ms.
    assert!((record.volume_l - 0.11).abs() < 0.11 * 0.02, "{record:?}");
    // The spray reached the canopy when the map asked, to the scheduling's accuracy.
    let micros = verger::contract::gnss::unix_micros;
    let early =
        micros(&order.window.as_ref().unwrap().open).unwrap() - micros(&record.opened_at).unwrap();
    assert!(early.abs() < 20_000, "{early} µs from the window's opening");

    // A withdrawal before the window opens: nothing opens for that tree.
    let second = treat(tree("B-07-043", 200.0), 900, 1500);
    rig.client
        .call_typed::<_, TreatResult>(TREAT, &second)
        .await
        .expect("second order");
    let withdrawn: TreatResult = rig
        .client
        .call_typed(
            TREAT,
            &TreatRequest {
                revision: 2,
                window: None,
                withdraw_reason: Some(WithdrawReason::OffCourse),
                ..second.clone()
            },
        )
        .await
        .expect("withdrawal");
    assert!(withdrawn.withdrawn);
    // A third tree after the withdrawn window: the right valve opens for it, and never
    // opened for the withdrawn one.
    let third = treat(tree("B-07-044", 150.0), 1700, 2300);
    rig.client
        .call_typed::<_, TreatResult>(TREAT, &third)
        .await
        .expect("third order");
    let opened = rig
        .board
        .wait_for("right open for the third tree", common::WAIT, |o| {
            o.sections()[1].is_open()
        })
        .await
        .expect("opens");
    assert_eq!(
        rig.openings(1).len(),
        2,
        "the first and the third tree only: {:?}",
        rig.board.log()
    );
    assert_eq!(rig.openings(1)[1], opened);
    dose.stop().await.expect("dose stops");
    rig.stop_fixes().await;
    rig.sprayer.stop_with(Signal::SIGTERM).await;
}
