//! The map's procedures through the real router: results match their schemas and the
//! map; bad arguments get an `orchard.error.*` naming the problem.

mod common;

use common::*;
use serde_json::{json, Value as Json};
use verger::client::{CallError, Client};
use verger::contract::map::*;
use verger_map::MapSettings;
use verger_testkit::{connect, schema, start_test_router, TempDir};

/// Call `uri` with `args` (kwargs); the result's kwargs, checked against its schema.
async fn call(client: &Client, uri: &str, args: Json) -> Json {
    let result: Json = client
        .call_typed(uri, &args)
        .await
        .unwrap_or_else(|e| panic!("{uri}: {e}"));
    let name = format!("{uri}.result.schema.json");
    schema::check(&name, &result).unwrap_or_else(|p| panic!("{uri}: {p:?} in {result}"));
    let call_schema = format!("{uri}.call.schema.json");
    if schema::schemas_dir().join(&call_schema).exists() {
        schema::check(&call_schema, &args).unwrap_or_else(|p| panic!("{uri} args: {p:?}"));
    }
    result
}

/// The error URI and message of a call expected to fail.
async fn error(client: &Client, uri: &str, args: Json) -> (String, String) {
    match client.call_typed::<_, Json>(uri, &args).await {
        Err(CallError::Application {
            error,
            kwargs,
            args,
            ..
        }) => {
            let message = kwargs
                .get("message")
                .and_then(|m| m.as_str())
                .map(str::to_owned)
                .or_else(|| args.first().and_then(|a| a.as_str()).map(str::to_owned))
                .unwrap_or_default();
            (error, message)
        }
        other => panic!("{uri} {args}: expected an application error, got {other:?}"),
    }
}

#[tokio::test]
async fn every_procedure_answers_from_the_map() {
    let dir = TempDir::new("map-procedures");
    let db = orchard_db(&dir);
    let router = start_test_router().await;
    let url = router.url();
    let client = connect(&url).await;
    let map = start_map(&url, db, MapSettings::default(), &client).await;
    let info = call(&client, INFO, json!({})).await;
    assert_eq!(info["trees"], 42);
    assert_eq!(info["zones"], 1);
    assert_eq!(info["boundary"], "imported");

    // trees_near: from the alley at y = 10, the two trees at (±2, 10) first, 2 m away.
    let (lat, lon) = at(0.0, 10.0);
    let near = call(
        &client,
        TREES_NEAR,
        json!({"lat": lat, "lon": lon, "radius_m": 3.0}),
    )
    .await;
    let trees = near["trees"].as_array().unwrap();
    let ids: Vec<&str> = trees.iter().map(|t| t["id"].as_str().unwrap()).collect();
    assert_eq!(&ids[..2], ["E-10.0", "W-10.0"], "{ids:?}");
    for t in trees {
        let d = t["distance_m"].as_f64().unwrap();
        assert!(d <= 3.0);
    }
    assert!((trees[0]["distance_m"].as_f64().unwrap() - 2.0).abs() < 0.01);
    let distances: Vec<f64> = trees
        .iter()
        .map(|t| t["distance_m"].as_f64().unwrap())
        .collect();
    assert!(distances.windows(2).all(|w| w[0] <= w[1]), "{distances:?}");

    // tree
    let tree = call(&client, TREE, json!({"id": "W-11.5"})).await;
    assert_eq!(tree["row"], "W");
    assert_eq!(tree["canopy_width_m"], CANOPY_M);
    let (uri, message) = error(&client, TREE, json!({"id": "nope"})).await;
    assert_eq!(uri, ERROR_NOT_FOUND);
    assert!(message.contains("nope"), "{message}");

    // zone_at: the alley, the zone, outside.
    let (lat, lon) = at(0.0, 20.0);
    let here = call(&client, ZONE_AT, json!({"lat": lat, "lon": lon})).await;
    assert_eq!(
        (here["inside_boundary"].clone(), here["sprayable"].clone()),
        (json!(true), json!(true))
    );
    let (lat, lon) = at(5.0, 40.0);
    let zone = call(&client, ZONE_AT, json!({"lat": lat, "lon": lon})).await;
    assert_eq!(
        zone["zones"],
        json!([{"id": "znt", "reason": "stream buffer"}])
    );
    assert_eq!(zone["sprayable"], false);
    let (lat, lon) = at(0.0, 100.0);
    let out = call(&client, ZONE_AT, json!({"lat": lat, "lon": lon})).await;
    assert_eq!(out["inside_boundary"], false);

    // trees_in_bbox: everything, then truncated.
    let (s, w) = at(-10.0, -10.0);
    let (n, e) = at(10.0, 60.0);
    let all = call(
        &client,
        TREES_IN_BBOX,
        json!({"south": s, "west": w, "north": n, "east": e, "limit": null}),
    )
    .await;
    assert_eq!(all["trees"].as_array().unwrap().len(), 42);
    assert_eq!(all["truncated"], false);
    let some = call(
        &client,
        TREES_IN_BBOX,
        json!({"south": s, "west": w, "north": n, "east": e, "limit": 5}),
    )
    .await;
    assert_eq!(some["trees"].as_array().unwrap().len(), 5);
    assert_eq!(some["truncated"], true);

    // Bad arguments, each named.
    for (uri, args, names) in [
        (
            TREES_NEAR,
            json!({"lat": 91.0, "lon": 1.0, "radius_m": 3.0}),
            "lat",
        ),
        (
            TREES_NEAR,
            json!({"lat": 44.0, "lon": 1.0, "radius_m": 500.0}),
            "radius_m",
        ),
        (
            TREES_NEAR,
            json!({"lat": 44.0, "lon": 1.0, "radius_m": 0.0}),
            "radius_m",
        ),
        (ZONE_AT, json!({"lat": 44.0, "lon": 181.0}), "lon"),
        (
            TREES_IN_BBOX,
            json!({"south": n, "west": w, "north": s, "east": e, "limit": null}),
            "south",
        ),
        (
            TREES_IN_BBOX,
            json!({"south": s, "west": w, "north": n, "east": e, "limit": 20000}),
            "limit",
        ),
    ] {
        let (got, message) = error(&client, uri, args.clone()).await;
        assert_eq!(got, ERROR_INVALID_ARGUMENT, "{uri} {args}");
        assert!(message.contains(names), "{uri} {args}: {message}");
    }
    // Not even the right types: WAMP's own invalid_argument, naming the field.
    let (got, message) = error(
        &client,
        TREES_NEAR,
        json!({"lat": "north", "lon": 1.0, "radius_m": 1.0}),
    )
    .await;
    assert_eq!(got, "wamp.error.invalid_argument");
    assert!(
        message.contains("lat") || message.contains("string"),
        "{message}"
    );
    map.stop().await.unwrap();
}
