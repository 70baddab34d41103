//! `orchard.dose.treat` through the real router: each model on hand-computed volumes and
//! flows, the order the sprayer receives, the decision published, under-dosing,
//! withdrawals, the sprayer's errors, no product, malformed orders, the bound on orders
//! in flight.
//!
//! The window of every order is 600 ms long, predicted at 2 m/s: 1.2 m of hedge, 0.01
//! minute. The tree: 150 fruit, canopy 3 m high, 1.2 m wide, 4 m³.

mod common;

use common::*;
use serde_json::json;
use verger::client::Client;
use verger::client::Subscription;
use verger::contract::dose::*;
use verger::contract::map::WithdrawReason;
use verger_testkit::{kwargs_of, next_event, schema, subscribe};

/// The next decision published, checked against its schema.
async fn next_decision(sub: &mut Subscription) -> TreatResult {
    let event = next_event(sub, "a decision is published").await;
    let json = schema::kwargs_json(&event.kwargs);
    schema::check(DECISION_TOPIC, &json).unwrap_or_else(|p| panic!("{p:?} in {json}"));
    kwargs_of::<DecisionPayload>(&event).0
}

/// Treat `order`; the result, after checking that the sprayer received the order it
/// describes and that the same decision was published.
async fn treat_and_check(
    client: &Client,
    sprayer: &mut FakeSprayer,
    decisions: &mut Subscription,
    order: &TreatRequest,
) -> (TreatResult, verger::contract::sprayer::ApplyRequest) {
    let result = treat(client, order).await;
    let sent = sprayer.next_apply().await;
    assert_eq!(
        next_decision(decisions).await,
        result,
        "published = returned"
    );
    assert_eq!(
        (sent.plan_id.as_str(), sent.revision),
        (order.plan_id.as_str(), order.revision)
    );
    assert_eq!(sent.tree_id, order.tree.id);
    assert_eq!(sent.section, order.section.id);
    let window = order.window.as_ref().unwrap();
    assert_eq!((&sent.open, &sent.close), (&window.open, &window.close));
    assert!(close(sent.flow_l_min, result.flow_l_min) && close(sent.volume_l, result.volume_l));
    assert_eq!(result.window.as_ref(), Some(window));
    assert!(!result.withdrawn && result.cancelled.is_none());
    let answer = result.sprayer.as_ref().expect("the sprayer's answer");
    assert!(answer.scheduled);
    assert_eq!(
        answer.switch_on, "2026-04-14T09:12:33.700Z",
        "open − 300 ms"
    );
    (result, sent)
}

#[tokio::test]
async fn each_model_end_to_end() {
    let [fruit_load, _, _] = ModelSettings::examples();
    let bench = Bench::start("dose-models", settings(with_model(fruit_load))).await;
    let client = &bench.client;
    let (_map, info) = fake_map(client).await;
    let mut sprayer = FakeSprayer::start(client, Answer::Now).await;
    let mut decisions = subscribe(client, DECISION_TOPIC, false).await;

    // Fruit load: 0.05 L + 0.04 L per 100 fruit × 150 fruit = 0.11 L; over 0.01 min,
    // 11 L/min.
    let o = order(test_tree(), 600, 2.0);
    let (r, sent) = treat_and_check(client, &mut sprayer, &mut decisions, &o).await;
    assert_eq!(r.model, Some(ModelName::FruitLoad));
    assert!(
        close(r.volume_l, 0.11) && close(r.flow_l_min, 11.0),
        "{r:?}"
    );
    assert_eq!(r.model_volume_l, r.intended_volume_l);
    assert_eq!((r.clamped, r.under_dosed), (Clamp::None, false));
    // The product and the map's parcel and crop go with the order.
    assert_eq!(sent.product, Product::example());
    assert_eq!(sent.parcel, info.orchard.parcel_ref);
    assert_eq!(sent.crop, info.orchard.crop);

    // Canopy volume: 0.1 L/m³ × 4 m³ × ½ side = 0.2 L: 20 L/min.
    let patch = SettingsPatch {
        model: Some(Some(ModelSettings::CanopyVolume {
            l_per_m3: 0.1,
            missing_volume_m3: 2.0,
        })),
        ..SettingsPatch::default()
    };
    let _: SetSettingsResult = call(client, SET_SETTINGS, &patch).await;
    let (r, _) = treat_and_check(client, &mut sprayer, &mut decisions, &o).await;
    assert_eq!(r.model, Some(ModelName::CanopyVolume));
    assert!(close(r.volume_l, 0.2) && close(r.flow_l_min, 20.0), "{r:?}");
    // A top section from 2 m sprays a third of the 3 m canopy: 0.0667 L, 6.67 L/min.
    let mut top = order(test_tree(), 600, 2.0);
    top.plan_id = "B-07-042@left.top:1".into();
    top.section = SectionPayload {
        id: "left.top".into(),
        side: verger::contract::map::Side::Left,
        bottom_m: Some(2.0),
        top_m: None,
    };
    let (r, _) = treat_and_check(client, &mut sprayer, &mut decisions, &top).await;
    assert!(
        close(r.volume_l, 0.2 / 3.0) && close(r.flow_l_min, 20.0 / 3.0),
        "{r:?}"
    );

    // Constant rate: 1000 L/ha over 1.2 m × 4 m / 2 = 2.4 m² = 0.24 L: 24 L/min.
    let patch = SettingsPatch {
        model: Some(Some(ModelSettings::ConstantRate {
            l_per_ha: 1000.0,
            row_spacing_m: 4.0,
        })),
        ..SettingsPatch::default()
    };
    let _: SetSettingsResult = call(client, SET_SETTINGS, &patch).await;
    let (r, _) = treat_and_check(client, &mut sprayer, &mut decisions, &o).await;
    assert_eq!(r.model, Some(ModelName::ConstantRate));
    assert!(
        close(r.volume_l, 0.24) && close(r.flow_l_min, 24.0),
        "{r:?}"
    );
    bench.stop().await;
}

#[tokio::test]
async fn clamps_and_under_dosing() {
    let [fruit_load, _, _] = ModelSettings::examples();
    let dose_settings = DoseSettings {
        max_flow_l_min: 20.0,
        ..with_model(fruit_load)
    };
    let bench = Bench::start("dose-under", settings(dose_settings)).await;
    let client = &bench.client;
    let mut sprayer = FakeSprayer::start(client, Answer::Now).await;
    let mut decisions = subscribe(client, DECISION_TOPIC, false).await;

    // 0.11 L in 300 ms would take 22 L/min; the nozzles give 20: 0.1 L, under-dosed.
    let o = order(test_tree(), 300, 2.0);
    let (r, sent) = treat_and_check(client, &mut sprayer, &mut decisions, &o).await;
    assert!(r.under_dosed, "{r:?}");
    assert!(close(r.flow_l_min, 20.0) && close(r.volume_l, 0.1), "{r:?}");
    assert!(close(r.intended_volume_l.unwrap(), 0.11));
    assert!(close(sent.flow_l_min, 20.0) && close(sent.volume_l, 0.1));
    // Without a map, parcel and crop are unknown; the order goes all the same.
    assert_eq!((sent.parcel, sent.crop), (None, None));

    // At most 0.1 L: the 0.11 L asked is lowered (600 ms: 10 L/min).
    let patch = json!({"max_l": 0.1});
    let _: SetSettingsResult = call(client, SET_SETTINGS, &patch).await;
    let (r, _) = treat_and_check(
        client,
        &mut sprayer,
        &mut decisions,
        &order(test_tree(), 600, 2.0),
    )
    .await;
    assert_eq!((r.clamped, r.under_dosed), (Clamp::Max, false));
    assert!(
        close(r.model_volume_l.unwrap(), 0.11) && close(r.volume_l, 0.1),
        "{r:?}"
    );
    bench.stop().await;
}

#[tokio::test]
async fn withdrawals_are_forwarded_and_errors_come_back() {
    let [fruit_load, _, _] = ModelSettings::examples();
    let bench = Bench::start("dose-withdraw", settings(with_model(fruit_load))).await;
    let client = &bench.client;
    let mut decisions = subscribe(client, DECISION_TOPIC, false).await;

    // No sprayer at all: unavailable (WAMP's own no_such_procedure would say the dose
    // module is missing), saying what was being done.
    let o = order(test_tree(), 600, 2.0);
    let e = refusal(client, TREAT, &o).await;
    assert_eq!(e.uri, ERROR_UNAVAILABLE, "{e:?}");
    assert!(
        e.message
            .starts_with("applying B-07-042@right:1 revision 1: "),
        "{e:?}"
    );

    let mut sprayer = FakeSprayer::start(client, Answer::Now).await;
    let w = withdrawal(
        &o,
        WithdrawReason::Window(verger::contract::map::WindowRefusal::NoSprayZone),
    );
    let r = treat(client, &w).await;
    let sent = sprayer.next_withdrawal().await;
    assert_eq!(
        (sent.plan_id.as_str(), sent.revision, sent.reason.as_deref()),
        ("B-07-042@right:1", 2, Some("no_spray_zone"))
    );
    assert_eq!(next_decision(&mut decisions).await, r);
    assert!(r.withdrawn && r.cancelled == Some(true) && r.sprayer.is_none());
    assert_eq!(r.withdraw_reason, w.withdraw_reason);
    assert_eq!((r.model, r.volume_l, r.flow_l_min), (None, 0.0, 0.0));
    sprayer.stop().await;

    // A sprayer that refuses: its URI, its message after what was being done.
    let mut sprayer = FakeSprayer::start(
        client,
        Answer::Refuse(
            ERROR_INVALID_ARGUMENT,
            "flow_l_min: 11 L/min is above the 10 L/min section \"right\" can deliver",
        ),
    )
    .await;
    let e = refusal(client, TREAT, &o).await;
    assert_eq!(e.uri, ERROR_INVALID_ARGUMENT);
    assert_eq!(
        e.message,
        "applying B-07-042@right:1 revision 1: flow_l_min: 11 L/min is above the 10 L/min section \"right\" can deliver"
    );
    sprayer.next_apply().await;
    let e = refusal(client, TREAT, &w).await;
    assert_eq!(e.uri, ERROR_INVALID_ARGUMENT);
    assert!(
        e.message
            .starts_with("withdrawing B-07-042@right:1 revision 2: "),
        "{e:?}"
    );
    bench.stop().await;
}

#[tokio::test]
async fn no_product_and_malformed_orders_are_refused() {
    // The defaults: no product named.
    let bench = Bench::start("dose-refused", verger_dose::Settings::default()).await;
    let client = &bench.client;
    let mut sprayer = FakeSprayer::start(client, Answer::Now).await;
    assert_eq!(bench.published.product, Product::default());
    let o = order(test_tree(), 600, 2.0);
    let e = refusal(client, TREAT, &o).await;
    assert_eq!(e.uri, ERROR_NOT_CONFIGURED);
    for part in ["product.name", "product.authorisation", SET_SETTINGS] {
        assert!(e.message.contains(part), "{part} in {e:?}");
    }
    assert!(sprayer.nothing_received(), "refused before the sprayer");

    // Malformed orders, each named.
    let mut bad = serde_json::to_value(&o).unwrap();
    bad["tree"]["fruit_count"] = json!("many");
    let e = refusal(client, TREAT, &bad).await;
    assert_eq!(
        (e.uri.as_str(), e.fields.as_slice()),
        (ERROR_INVALID_ARGUMENT, &["tree.fruit_count".to_owned()][..]),
        "{e:?}"
    );
    let mut bad = serde_json::to_value(&o).unwrap();
    bad.as_object_mut().unwrap().remove("plan_id");
    let e = refusal(client, TREAT, &bad).await;
    assert_eq!(e.fields, ["plan_id"], "{e:?}");
    assert!(e.message.contains("plan_id"), "{e:?}");
    let mut backwards = o.clone();
    let window = backwards.window.as_mut().unwrap();
    std::mem::swap(&mut window.open, &mut window.close);
    let e = refusal(client, TREAT, &backwards).await;
    assert_eq!(
        (e.uri.as_str(), e.fields.as_slice()),
        (ERROR_INVALID_ARGUMENT, &["window.close".to_owned()][..]),
        "{e:?}"
    );
    assert!(sprayer.nothing_received());
    bench.stop().await;
}

#[tokio::test]
async fn beyond_max_in_flight_orders_are_refused_as_busy() {
    let [fruit_load, _, _] = ModelSettings::examples();
    let one = verger_dose::Settings {
        max_in_flight: 1,
        ..settings(with_model(fruit_load))
    };
    let bench = Bench::start("dose-busy", one).await;
    let client = &bench.client;
    let mut sprayer = FakeSprayer::start(client, Answer::Never).await;
    let first = order(test_tree(), 600, 2.0);
    let caller = client.clone();
    let pending = tokio::spawn(async move {
        caller
            .call_typed::<_, serde_json::Value>(TREAT, &first)
            .await
    });
    // Once the sprayer holds the first order (and never answers), a second is refused.
    sprayer.next_apply().await;
    let mut second = order(test_tree(), 600, 2.0);
    second.plan_id = "B-07-042@left:1".into();
    let e = refusal(client, TREAT, &second).await;
    assert_eq!(e.uri, ERROR_BUSY, "{e:?}");
    assert!(e.message.contains("B-07-042@left:1"), "{e:?}");
    assert!(
        sprayer.nothing_received(),
        "the second order never reached the sprayer"
    );
    pending.abort();
    bench.stop().await;
}
