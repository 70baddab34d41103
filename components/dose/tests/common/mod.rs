//! What the dose component's tests share: a stand-in sprayer that records the orders it
//! receives and answers like a sprayer, a stand-in map answering `orchard.map.info`,
//! orders to treat, the dose module started in-process, and calls whose results and
//! errors are read back (every payload checked against its schema).

#![allow(dead_code, unreachable_pub)]

use std::path::PathBuf;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value as Json;
use tokio::sync::mpsc;
use verger::civil::rfc3339_from_unix_micros;
use verger::client::{
    to_payload, CallError, Client, Invocation, InvocationError, RegisterOptions, Registration,
};
use verger::contract::dose::*;
use verger::contract::gnss::unix_micros;
use verger::contract::map::{InfoResult, TreePayload, WithdrawReason, INFO};
use verger::contract::sprayer::{
    ApplyRequest, ApplyResult, WithdrawRequest, WithdrawResult, APPLY, WITHDRAW,
};
use verger::contract::ContractPayload;
use verger::router::RouterHandle;
use verger::wamp::{Dict, Value};
use verger_dose::{RunError, Settings};
use verger_testkit::{
    connect, next_event, schema, start_test_router, subscribe, within, InProcess, TempDir,
};

/// The stand-in sprayer's valve latency: it switches a valve this long before `open`.
pub const LATENCY_US: i64 = 300_000;

/// How the stand-in sprayer answers.
#[derive(Clone, Debug, PartialEq)]
pub enum Answer {
    /// At once, as a sprayer that scheduled the order.
    Now,
    /// Never (a sprayer that hangs).
    Never,
    /// With this error URI and message.
    Refuse(&'static str, &'static str),
}

/// What the stand-in sprayer received, as typed payloads and as the JSON on the wire.
#[derive(Debug)]
pub struct FakeSprayer {
    pub applies: mpsc::UnboundedReceiver<(ApplyRequest, Json)>,
    pub withdrawals: mpsc::UnboundedReceiver<(WithdrawRequest, Json)>,
    registrations: Vec<Registration>,
}

fn refused(uri: &str, message: &str) -> InvocationError {
    let mut kwargs = Dict::new();
    kwargs.insert("message".into(), Value::Str(message.into()));
    InvocationError::new(uri).with_kwargs(kwargs)
}

/// A stand-in procedure `uri`: hands every request to the test (typed, and as the JSON
/// on the wire) and answers as `answer` says, with `respond(request)` when it answers.
async fn fake_procedure<Req, Res>(
    client: &Client,
    uri: &str,
    answer: Answer,
    respond: fn(Req) -> Res,
) -> (Registration, mpsc::UnboundedReceiver<(Req, Json)>)
where
    Req: DeserializeOwned + Clone + Send + 'static,
    Res: Serialize + 'static,
{
    let (tx, rx) = mpsc::unbounded_channel();
    let registration = client
        .register(uri, RegisterOptions::default(), move |inv: Invocation| {
            let (tx, answer) = (tx.clone(), answer.clone());
            async move {
                let json = schema::kwargs_json(&inv.kwargs);
                let request: Req =
                    serde_json::from_value(json.clone()).expect("a payload of the contract");
                let _ = tx.send((request.clone(), json));
                match answer {
                    Answer::Never => std::future::pending().await,
                    Answer::Refuse(uri, message) => Err(refused(uri, message)),
                    Answer::Now => Ok(to_payload(&respond(request)).unwrap()),
                }
            }
        })
        .await
        .unwrap();
    (registration, rx)
}

/// The next request `rx` received, checked against the call schema of `uri`.
async fn next_request<Req>(rx: &mut mpsc::UnboundedReceiver<(Req, Json)>, uri: &str) -> Req {
    let (request, json) = within(&format!("the sprayer receives {uri}"), rx.recv())
        .await
        .expect("fake sprayer gone");
    check_schema(uri, "call", &json);
    request
}

/// What a sprayer answers an order: scheduled, each switch [`LATENCY_US`] early.
fn scheduled(request: ApplyRequest) -> ApplyResult {
    let early = |t: &str| rfc3339_from_unix_micros(unix_micros(t).unwrap() - LATENCY_US, 3);
    ApplyResult {
        switch_on: early(&request.open),
        switch_off: early(&request.close),
        plan_id: request.plan_id,
        revision: request.revision,
        scheduled: true,
        late: false,
    }
}

impl FakeSprayer {
    /// Register `orchard.sprayer.apply` and `orchard.sprayer.withdraw` on `client`.
    pub async fn start(client: &Client, answer: Answer) -> FakeSprayer {
        let (apply, applies) = fake_procedure(client, APPLY, answer.clone(), scheduled).await;
        let (withdraw, withdrawals) =
            fake_procedure(client, WITHDRAW, answer, |r: WithdrawRequest| {
                WithdrawResult {
                    plan_id: r.plan_id,
                    withdrawn: true,
                }
            })
            .await;
        FakeSprayer {
            applies,
            withdrawals,
            registrations: vec![apply, withdraw],
        }
    }

    /// The next order received, checked against its schema.
    pub async fn next_apply(&mut self) -> ApplyRequest {
        next_request(&mut self.applies, APPLY).await
    }

    /// The next withdrawal received, checked against its schema.
    pub async fn next_withdrawal(&mut self) -> WithdrawRequest {
        next_request(&mut self.withdrawals, WITHDRAW).await
    }

    /// Unregister both procedures.
    pub async fn stop(self) {
        for r in self.registrations {
            within("the fake sprayer unregisters", r.unregister())
                .await
                .unwrap();
        }
    }

    /// Nothing received (yet).
    pub fn nothing_received(&mut self) -> bool {
        self.applies.try_recv().is_err() && self.withdrawals.try_recv().is_err()
    }
}

/// `json` against the schema of `uri`'s `role` (`call`, `result`).
pub fn check_schema(uri: &str, role: &str, json: &Json) {
    let name = format!("{uri}.{role}.schema.json");
    schema::check(&name, json).unwrap_or_else(|p| panic!("{name}: {p:?} in {json}"));
}

/// A stand-in map: `orchard.map.info` answering the contract's first example (parcel
/// `FICTITIOUS-82-0001`, crop `apple`).
pub async fn fake_map(client: &Client) -> (Registration, InfoResult) {
    let info = <InfoResult as ContractPayload>::examples().remove(0);
    let answer = info.clone();
    let registration = client
        .register_typed(INFO, RegisterOptions::default(), move |(): ()| {
            let info = answer.clone();
            async move { Ok::<_, InvocationError>(info) }
        })
        .await
        .unwrap();
    (registration, info)
}

/// A tree with these attributes.
pub fn tree(
    fruit_count: Option<f64>,
    height: Option<f64>,
    width: Option<f64>,
    volume: Option<f64>,
) -> TreePayload {
    TreePayload {
        id: "B-07-042".into(),
        row: Some("B-07".into()),
        lat: 44.070_412_3,
        lon: 1.090_218_7,
        fruit_count,
        canopy_height_m: height,
        canopy_width_m: width,
        canopy_volume_m3: volume,
        extra: serde_json::Map::new(),
    }
}

/// The test tree: 150 fruit, canopy 3 m high, 1.2 m wide, 4 m³.
pub fn test_tree() -> TreePayload {
    tree(Some(150.0), Some(3.0), Some(1.2), Some(4.0))
}

/// An order for `tree` with the right whole-side section (the contract's first example
/// otherwise), a window of `ms` milliseconds opening at 09:12:34 on 14 April 2026,
/// predicted at `speed_mps`.
pub fn order(tree: TreePayload, ms: i64, speed_mps: f64) -> TreatRequest {
    let example = <TreatRequest as ContractPayload>::examples().remove(0);
    let open = unix_micros("2026-04-14T09:12:34.000Z").unwrap();
    TreatRequest {
        plan_id: format!("{}@right:1", tree.id),
        tree,
        window: Some(WindowPayload {
            open: rfc3339_from_unix_micros(open, 3),
            close: rfc3339_from_unix_micros(open + ms * 1000, 3),
        }),
        speed_mps,
        ..example
    }
}

/// The withdrawal of `order` (revision 2) for `reason`.
pub fn withdrawal(order: &TreatRequest, reason: WithdrawReason) -> TreatRequest {
    TreatRequest {
        revision: 2,
        window: None,
        withdraw_reason: Some(reason),
        ..order.clone()
    }
}

/// Dose settings with `model` and a product.
pub fn with_model(model: ModelSettings) -> DoseSettings {
    DoseSettings {
        model,
        min_l: 0.0,
        max_l: 5.0,
        max_flow_l_min: 30.0,
        product: Product::example(),
    }
}

/// The component's settings with `dose`.
pub fn settings(dose: DoseSettings) -> Settings {
    Settings {
        dose,
        ..Settings::default()
    }
}

/// The dose module on `url` with `settings` and its state file at `state`, once it has
/// published its settings (its procedures are registered before that); and what it
/// published.
pub async fn start_dose(
    url: &str,
    settings: Settings,
    state: PathBuf,
    observer: &Client,
) -> (InProcess<Result<(), RunError>>, DoseSettings) {
    let mut published = subscribe(observer, SETTINGS_TOPIC, false).await;
    let dose = InProcess::start(url, move |c, s| verger_dose::run(c, s, settings, state));
    let event = next_event(&mut published, "the dose module publishes its settings").await;
    let json = schema::kwargs_json(&event.kwargs);
    schema::check(SETTINGS_TOPIC, &json).unwrap_or_else(|p| panic!("{p:?} in {json}"));
    (dose, serde_json::from_value(json).unwrap())
}

/// A router, a client, and the dose module started with `settings` and a fresh state
/// file.
#[derive(Debug)]
pub struct Bench {
    pub dir: TempDir,
    pub router: RouterHandle,
    pub url: String,
    pub client: Client,
    pub dose: InProcess<Result<(), RunError>>,
    /// The settings it published at start.
    pub published: DoseSettings,
}

impl Bench {
    /// Everything up (`tag` names the temporary folder).
    pub async fn start(tag: &str, settings: Settings) -> Bench {
        let dir = TempDir::new(tag);
        let router = start_test_router().await;
        let url = router.url();
        let client = connect(&url).await;
        let (dose, published) = start_dose(&url, settings, state_path(&dir), &client).await;
        Bench {
            dir,
            router,
            url,
            client,
            dose,
            published,
        }
    }

    /// Stop the dose module (it must end well).
    pub async fn stop(self) {
        self.dose.stop().await.unwrap();
    }
}

/// A state file path in `dir`.
pub fn state_path(dir: &TempDir) -> PathBuf {
    dir.path("state/dose-settings.json")
}

/// Call `uri` with `args`; the result, checked against its schema and read as `R`.
pub async fn call<A: Serialize + ?Sized, R: DeserializeOwned>(
    client: &Client,
    uri: &str,
    args: &A,
) -> R {
    let result: Json = within(uri, client.call_typed(uri, args))
        .await
        .unwrap_or_else(|e| panic!("{uri}: {e:?}"));
    check_schema(uri, "result", &result);
    serde_json::from_value(result).unwrap()
}

/// `orchard.dose.treat` of `order`, its result checked against its schema.
pub async fn treat(client: &Client, order: &TreatRequest) -> TreatResult {
    check_schema(TREAT, "call", &serde_json::to_value(order).unwrap());
    call(client, TREAT, order).await
}

/// The settings now.
pub async fn get_settings(client: &Client) -> DoseSettings {
    call(client, GET_SETTINGS, &()).await
}

/// A refused call: its error URI, `message` kwarg and `fields` kwarg.
#[derive(Debug)]
pub struct Refusal {
    pub uri: String,
    pub message: String,
    pub fields: Vec<String>,
}

/// Call `uri` with `args`, expecting an application error.
pub async fn refusal<A: Serialize + ?Sized>(client: &Client, uri: &str, args: &A) -> Refusal {
    match within(uri, client.call_typed::<_, Json>(uri, args)).await {
        Err(CallError::Application { error, kwargs, .. }) => Refusal {
            uri: error,
            message: kwargs
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            fields: kwargs
                .get("fields")
                .and_then(Value::as_list)
                .map(|l| {
                    l.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
        },
        other => panic!("{uri}: expected an application error, got {other:?}"),
    }
}

/// Two volumes or flows equal to within rounding.
pub fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}
