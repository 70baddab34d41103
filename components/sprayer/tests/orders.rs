//! Orders through the real binary: scheduled on GNSS time (the valve switches at the
//! requested instant, not when the call arrives), every malformed or out-of-range order
//! refused with a WAMP error naming the field and no valve movement, and the payloads
//! the sprayer publishes valid against the contract's schemas.

mod common;

use std::time::Duration;

use common::{gnss_now, Rig, VALVE_LATENCY};
use nix::sys::signal::Signal;
use verger::client::CallError;
use verger::contract::sprayer::{
    AppliedRecord, ApplyRequest, SprayEnd, WithdrawRequest, WithdrawResult, APPLIED_TOPIC,
    STATE_TOPIC, WITHDRAW,
};
use verger::wamp::Value;
use verger_testkit::{event_where, kwargs_of, next_event, subscribe};

fn error_of(e: &CallError) -> (String, String) {
    match e {
        CallError::Application { error, kwargs, .. } => {
            let message = match kwargs.get("message") {
                Some(Value::Str(m)) => m.clone(),
                _ => String::new(),
            };
            (error.clone(), message)
        }
        other => (format!("{other:?}"), String::new()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn valves_switch_at_the_requested_gnss_instant_and_the_spray_is_recorded() {
    let mut rig = Rig::ready("", &[]).await;
    let mut applied = subscribe(&rig.client, APPLIED_TOPIC, false).await;
    let mut order = Rig::order(
        "T-9",
        "right",
        Duration::from_millis(800),
        Duration::from_millis(1300),
    );
    let open_at = verger::contract::gnss::unix_micros(&order.open).unwrap();
    order.flow_l_min = 10.0;
    let result = rig.apply(&order).await.expect("taken");
    assert!(result.scheduled && !result.late);
    let on = rig
        .board
        .wait_for("right open", common::WAIT, |o| o.sections()[1].is_open())
        .await
        .expect("opens");
    // The board's instant, in GNSS time (the wall clock here), against the requested
    // switch-on instant: open − valve latency.
    let on_gnss = gnss_now() - on.elapsed().as_micros() as i64;
    let want = open_at - VALVE_LATENCY.as_micros() as i64;
    let error_ms = (on_gnss - want) as f64 / 1000.0;
    eprintln!("switched on {error_ms:.2} ms from the requested instant");
    assert!(error_ms.abs() < 50.0, "{error_ms} ms");
    assert_eq!(
        rig.board.outputs().sections()[1].duty(),
        50,
        "10 of 20 L/min"
    );
    let e = next_event(&mut applied, "the spray's record").await;
    let record: AppliedRecord = kwargs_of(&e);
    common::valid(APPLIED_TOPIC, &e);
    assert_eq!(record.tree_id, "T-9");
    assert_eq!(record.section, "right");
    assert_eq!(record.end, SprayEnd::Completed);
    assert!(
        (record.volume_l - 10.0 * 0.5 / 60.0).abs() < 0.01,
        "{record:?}"
    );
    assert_eq!(record.operator.as_deref(), Some("Test Operator"));
    assert!(record.open_lat.is_some() && record.close_lat.is_some());
    // The record is in the database the moment it is published.
    let db = verger::records::RecordDb::open_read_only(&rig.records).expect("records");
    let rows = db.sprays(None, None).expect("query");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0], record);
    rig.stop_fixes().await;
    rig.sprayer.stop_with(Signal::SIGTERM).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_order_is_refused_by_field_and_moves_nothing() {
    let mut rig = Rig::ready("", &[]).await;
    let base = || {
        Rig::order(
            "T-1",
            "left",
            Duration::from_millis(600),
            Duration::from_millis(1100),
        )
    };
    let now = gnss_now();
    type Edit = Box<dyn Fn(&mut ApplyRequest)>;
    let cases: Vec<(&str, Edit)> = vec![
        (
            "section",
            Box::new(|o: &mut ApplyRequest| o.section = "middle".into()),
        ),
        (
            "tree_id",
            Box::new(|o: &mut ApplyRequest| o.tree_id = String::new()),
        ),
        (
            "flow_l_min",
            Box::new(|o: &mut ApplyRequest| o.flow_l_min = 21.0),
        ),
        (
            "flow_l_min",
            Box::new(|o: &mut ApplyRequest| o.flow_l_min = 0.0),
        ),
        (
            "open",
            Box::new(|o: &mut ApplyRequest| o.open = "14/04/2026 09:12".into()),
        ),
        (
            "close",
            Box::new(move |o: &mut ApplyRequest| {
                o.open = common::rfc3339(now - 2_000_000);
                o.close = common::rfc3339(now - 1_000_000);
            }),
        ),
        (
            "close",
            Box::new(move |o: &mut ApplyRequest| o.close = common::rfc3339(now + 60_000_000)),
        ),
        (
            "open",
            Box::new(move |o: &mut ApplyRequest| {
                o.open = common::rfc3339(now + 120_000_000);
                o.close = common::rfc3339(now + 121_000_000);
            }),
        ),
        (
            "close",
            Box::new(|o: &mut ApplyRequest| std::mem::swap(&mut o.open, &mut o.close)),
        ),
        (
            "product.authorisation",
            Box::new(|o: &mut ApplyRequest| o.product.authorisation.clear()),
        ),
        (
            "product.name",
            Box::new(|o: &mut ApplyRequest| o.product.name.clear()),
        ),
        (
            "volume_l",
            Box::new(|o: &mut ApplyRequest| o.volume_l = -0.5),
        ),
        ("revision", Box::new(|o: &mut ApplyRequest| o.revision = 0)),
    ];
    for (field, edit) in &cases {
        let mut order = base();
        edit(&mut order);
        let e = rig.apply(&order).await.expect_err(field);
        let (uri, message) = error_of(&e);
        assert_eq!(uri, "orchard.error.invalid_argument", "{field}: {message}");
        assert!(message.starts_with(field), "{field}: {message}");
    }
    // Not even the declared types: WAMP's own error.
    let e = rig
        .client
        .call_with(
            verger::contract::sprayer::APPLY,
            verger::client::to_payload(&serde_json::json!({"section": 3})).unwrap(),
            Default::default(),
        )
        .await
        .expect_err("garbage");
    assert!(format!("{e:?}").contains("invalid_argument"), "{e:?}");
    // A valid order after every refused window: its opening is the only one.
    let sentinel = rig.sentinel("left", 0, Duration::from_millis(1300)).await;
    assert_eq!(rig.openings(0), vec![sentinel], "{:?}", rig.board.log());
    assert!(rig.openings(1).is_empty(), "{:?}", rig.board.log());
    rig.stop_fixes().await;
    rig.sprayer.stop_with(Signal::SIGTERM).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_withdrawal_closes_and_the_state_follows_the_valves() {
    let mut rig = Rig::ready("", &[]).await;
    let mut states = subscribe(&rig.client, STATE_TOPIC, true).await;
    rig.spraying().await;
    let open = event_where(&mut states, "the state shows the left valve open", |e| {
        let s: verger::contract::sprayer::SprayerStatePayload = kwargs_of(e);
        s.valves.first().is_some_and(|v| v.open)
    })
    .await;
    common::valid(STATE_TOPIC, &open);
    let s: verger::contract::sprayer::SprayerStatePayload = kwargs_of(&open);
    assert_eq!(s.valves[0].tree_id.as_deref(), Some("T-1"));
    assert_eq!(s.valves[0].duty_pct, 60);
    let w: WithdrawResult = rig
        .client
        .call_typed(
            WITHDRAW,
            &WithdrawRequest {
                plan_id: "T-1@left:1".into(),
                revision: 2,
                reason: Some("no_spray_zone".into()),
            },
        )
        .await
        .expect("withdraw");
    assert!(w.withdrawn);
    rig.closed("withdrawn").await;
    let closed = event_where(&mut states, "the state shows it closed", |e| {
        let s: verger::contract::sprayer::SprayerStatePayload = kwargs_of(e);
        s.valves.iter().all(|v| !v.open)
    })
    .await;
    common::valid(STATE_TOPIC, &closed);
    rig.stop_fixes().await;
    rig.sprayer.stop_with(Signal::SIGTERM).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_procedures_answer_with_payloads_of_the_contract() {
    use verger::contract::sprayer::{StopAllRequest, APPLY, STOP_ALL};
    let mut rig = Rig::ready("", &[]).await;
    let call = |uri: &'static str, args: serde_json::Value| {
        let client = rig.client.clone();
        async move {
            let r = client
                .call_with(
                    uri,
                    verger::client::to_payload(&args).unwrap(),
                    Default::default(),
                )
                .await
                .unwrap_or_else(|e| panic!("{uri}: {e:?}"));
            verger_testkit::schema::kwargs_json(&r.kwargs)
        }
    };
    let check = |name: &str, json: &serde_json::Value| {
        if let Err(p) = verger_testkit::schema::check(name, json) {
            panic!("{name}: {p:?} in {json}");
        }
    };
    let order = Rig::order(
        "T-5",
        "left",
        Duration::from_millis(700),
        Duration::from_millis(900),
    );
    let args = serde_json::to_value(&order).unwrap();
    check("orchard.sprayer.apply.call.schema.json", &args);
    let r = call(APPLY, args).await;
    check("orchard.sprayer.apply.result.schema.json", &r);
    let w = serde_json::to_value(WithdrawRequest {
        plan_id: order.plan_id.clone(),
        revision: 2,
        reason: None,
    })
    .unwrap();
    check("orchard.sprayer.withdraw.call.schema.json", &w);
    let r = call(WITHDRAW, w).await;
    check("orchard.sprayer.withdraw.result.schema.json", &r);
    assert_eq!(r["withdrawn"], true);
    let s = serde_json::to_value(StopAllRequest::default()).unwrap();
    check("orchard.sprayer.stop_all.call.schema.json", &s);
    let r = call(STOP_ALL, s).await;
    check("orchard.sprayer.stop_all.result.schema.json", &r);
    // A call without any argument at all is fine too.
    let r = call(STOP_ALL, serde_json::json!({})).await;
    check("orchard.sprayer.stop_all.result.schema.json", &r);
    rig.stop_fixes().await;
    rig.sprayer.stop_with(Signal::SIGTERM).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn field_time_can_run_faster_than_real_time() {
    // The simulator's speed-up: GNSS time runs 10× faster than the real clock, and so
    // does the sprayer's field clock (VERGER_TIME_SCALE): a 300 ms valve latency is
    // 300 ms of GNSS time, 30 ms of real time.
    const SCALE: i64 = 10;
    let rig = Rig::start("", &[("VERGER_TIME_SCALE", "10")]).await;
    rig.publish_status(verger::contract::gnss::ReceiverState::Fix)
        .await;
    let (g0, r0) = (gnss_now(), std::time::Instant::now());
    let gnss = move || g0 + r0.elapsed().as_micros() as i64 * SCALE;
    let stop = tokio_util::sync::CancellationToken::new();
    let fixes = {
        let (client, stop) = (rig.client.clone(), stop.clone());
        tokio::spawn(async move {
            // 10 Hz of GNSS time: every 10 ms of real time.
            let mut tick = tokio::time::interval(Duration::from_millis(10));
            while !stop.is_cancelled() {
                tick.tick().await;
                let _ = client
                    .publish_typed(
                        verger::contract::gnss::FIX_TOPIC,
                        &common::fix_at(gnss()),
                        Default::default(),
                    )
                    .await;
            }
        })
    };
    rig.state(verger::contract::sprayer::SprayerState::Ready)
        .await;
    let mut applied = subscribe(&rig.client, APPLIED_TOPIC, false).await;
    // Spray from 3 s to 5 s of GNSS time from now: 300 to 500 ms of real time.
    let now = gnss();
    let mut order = Rig::order("T-10", "left", Duration::ZERO, Duration::ZERO);
    order.open = common::rfc3339(now + 3_000_000);
    order.close = common::rfc3339(now + 5_000_000);
    rig.apply(&order).await.expect("taken");
    let on = rig
        .board
        .wait_for("left open", common::WAIT, |o| o.sections()[0].is_open())
        .await
        .expect("opens");
    // Switched at open − 300 ms of GNSS time.
    let want = r0
        + Duration::from_micros(
            ((now + 3_000_000 - VALVE_LATENCY.as_micros() as i64 - g0) / SCALE) as u64,
        );
    let off_ms = if on >= want {
        (on - want).as_secs_f64() * 1e3
    } else {
        -(want - on).as_secs_f64() * 1e3
    };
    eprintln!("at 10×: switched on {off_ms:+.2} ms of real time from the instant asked");
    assert!(off_ms.abs() < 10.0, "{off_ms} ms");
    let record: AppliedRecord = kwargs_of(&next_event(&mut applied, "the record").await);
    // 2 s of GNSS time at 12 L/min: 0.4 L, whatever the speed-up.
    assert!((record.volume_l - 0.4).abs() < 0.4 * 0.05, "{record:?}");
    stop.cancel();
    let _ = fixes.await;
    let mut rig = rig;
    rig.sprayer.stop_with(Signal::SIGTERM).await;
}
