//! `orchard.dose.get_settings` and `orchard.dose.set_settings` through the real router: a
//! change is returned, published retained and persisted; a refused change (a value out
//! of range, an unknown key, a wrong type, a model without its parameters) is named and
//! changes nothing; the state file wins at restart, and a broken one stops the module.

mod common;

use common::*;
use serde_json::json;
use verger::client::Subscription;
use verger::contract::dose::*;
use verger_dose::state;
use verger_testkit::{
    connect, kwargs_of, next_event, schema, start_test_router, subscribe, InProcess, TempDir,
};

/// The next settings published, checked against their schema.
async fn next_settings(sub: &mut Subscription, what: &str) -> DoseSettings {
    let event = next_event(sub, what).await;
    let json = schema::kwargs_json(&event.kwargs);
    schema::check(SETTINGS_TOPIC, &json).unwrap_or_else(|p| panic!("{p:?} in {json}"));
    kwargs_of::<SettingsPayload>(&event).0
}

#[tokio::test]
async fn a_change_is_returned_published_and_saved_a_refusal_changes_nothing() {
    let [_, canopy, _] = ModelSettings::examples();
    let configured = with_model(canopy);
    let bench = Bench::start("dose-settings", settings(configured.clone())).await;
    let (client, state_file) = (&bench.client, state_path(&bench.dir));
    assert_eq!(bench.published, configured);
    assert_eq!(get_settings(client).await, configured);
    assert!(!state_file.exists(), "nothing to save before a change");

    let mut events = subscribe(client, SETTINGS_TOPIC, false).await;
    let patch = json!({"min_l": 0.05, "product": {"target_pest": "codling moth"}});
    check_schema(SET_SETTINGS, "call", &patch);
    let changed: SetSettingsResult = call(client, SET_SETTINGS, &patch).await;
    let expected = DoseSettings {
        min_l: 0.05,
        product: Product {
            target_pest: "codling moth".into(),
            ..Product::example()
        },
        ..configured.clone()
    };
    assert_eq!(changed.0, expected);
    assert_eq!(get_settings(client).await, expected);
    assert_eq!(
        next_settings(&mut events, "the change is published").await,
        expected
    );
    assert_eq!(state::load(&state_file).unwrap(), Some(expected.clone()));
    // Retained: a late subscriber gets it at once.
    let late = connect(&bench.url).await;
    let mut retained = subscribe(&late, SETTINGS_TOPIC, true).await;
    assert_eq!(
        next_settings(&mut retained, "the retained settings").await,
        expected
    );

    let saved = std::fs::read(&state_file).unwrap();
    for (patch, field) in [
        (json!({"min_l": -1.0}), "min_l"),
        (json!({"max_flow_l_min": 1000}), "max_flow_l_min"),
        (json!({"product": {"colour": "red"}}), "product.colour"),
        (json!({"speed": 2}), "speed"),
        (json!({"model": {"l_per_ha": 800.0}}), "model.l_per_ha"),
        (json!({"max_l": "lots"}), "max_l"),
        (
            json!({"model": {"name": "constant_rate", "l_per_ha": 800.0}}),
            "model.row_spacing_m",
        ),
    ] {
        let e = refusal(client, SET_SETTINGS, &patch).await;
        assert_eq!(e.uri, ERROR_INVALID_ARGUMENT, "{patch}: {e:?}");
        assert_eq!(e.fields, [field], "{patch}: {e:?}");
        assert!(e.message.starts_with(field), "{patch}: {e:?}");
        assert_eq!(
            get_settings(client).await,
            expected,
            "{patch} changed nothing"
        );
        assert_eq!(
            std::fs::read(&state_file).unwrap(),
            saved,
            "{patch}: file untouched"
        );
    }
    // None of them was published: the next event is the next change.
    let patch = SettingsPatch {
        model: Some(Some(ModelSettings::ConstantRate {
            l_per_ha: 800.0,
            row_spacing_m: 4.0,
        })),
        ..SettingsPatch::default()
    };
    let changed: SetSettingsResult = call(client, SET_SETTINGS, &patch).await;
    assert_eq!(changed.0.model.name(), ModelName::ConstantRate);
    assert_eq!(
        next_settings(&mut events, "the next change").await,
        changed.0
    );
    bench.stop().await;
}

#[tokio::test]
async fn the_state_file_wins_over_the_config_at_restart() {
    let dir = TempDir::new("dose-restart");
    let state_file = state_path(&dir);
    let router = start_test_router().await;
    let url = router.url();
    let client = connect(&url).await;
    let [fruit_load, _, constant_rate] = ModelSettings::examples();
    let (dose, _) = start_dose(
        &url,
        settings(with_model(fruit_load)),
        state_file.clone(),
        &client,
    )
    .await;
    let chosen: SetSettingsResult = call(&client, SET_SETTINGS, &json!({"max_l": 0.4})).await;
    dose.stop().await.unwrap();

    // Started again with another configuration: the operator's last choice stands.
    let (dose, published) = start_dose(
        &url,
        settings(with_model(constant_rate)),
        state_file.clone(),
        &client,
    )
    .await;
    assert_eq!(published, chosen.0);
    assert_eq!(get_settings(&client).await, chosen.0);
    dose.stop().await.unwrap();
}

#[tokio::test]
async fn a_broken_state_file_stops_the_module_naming_it() {
    let dir = TempDir::new("dose-broken");
    let state_file = state_path(&dir);
    std::fs::create_dir_all(state_file.parent().unwrap()).unwrap();
    std::fs::write(
        &state_file,
        r#"{"min_l": 50, "model": {"name": "fruit_load"}}"#,
    )
    .unwrap();
    let router = start_test_router().await;
    let path = state_file.clone();
    let dose = InProcess::start(&router.url(), move |c, s| {
        verger_dose::run(c, s, verger_dose::Settings::default(), path)
    });
    let e = dose.finished().await.unwrap_err().to_string();
    assert!(e.contains(&state_file.display().to_string()), "{e}");
    assert!(e.contains("model.base_l: missing"), "{e}");
}
