//! The dose modules a grower starts from (`examples/python/dose_module.py` with
//! Autobahn|Python, `examples/js/dose_module.js` with Autobahn|JS; the guide is
//! `docs/write-your-own-module.md`), each run as its own process, as a grower runs it,
//! against a router in this process and a stand-in sprayer played by the test.
//!
//! For each: it is short (under 60 lines) and parses; it registers
//! `orchard.dose.treat`; then, tree by tree, the volume, flow and window it orders from
//! `orchard.sprayer.apply` follow the rule stated at its top, a withdrawal is passed on
//! to `orchard.sprayer.withdraw`, a refusal of the sprayer comes back to the caller as
//! the sprayer said it, and every payload it sends (its calls and its answers) matches
//! `docs/schemas/`.
//!
//! Autobahn comes from `scripts/setup-test-deps`: without it the tests fail in one line
//! saying so, they never skip.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value as Json;
use tokio::process::Command;
use tokio::sync::mpsc;
use verger::civil::rfc3339_from_unix_micros;
use verger::client::{
    to_payload, CallError, CallOptions, Client, Invocation, InvocationError, RegisterOptions,
    Registration, SubscribeOptions,
};
use verger::contract::dose::{Product, SectionPayload, TreatRequest, TreatResult, WindowPayload};
use verger::contract::dose::{ERROR_UNAVAILABLE, TREAT};
use verger::contract::gnss::unix_micros;
use verger::contract::map::{Side, TreePayload, WindowRefusal, WithdrawReason};
use verger::contract::sprayer::{
    ApplyRequest, ApplyResult, WithdrawRequest, WithdrawResult, APPLY, WITHDRAW,
};
use verger::contract::ContractPayload;
use verger::wamp::{Dict, Value};
use verger_testkit::{autobahn, connect, project_root, schema, start_test_router, within_for};
use verger_testkit::{within, Process};

/// What the examples may take to start (Autobahn|Python imports a lot; the machine may
/// be busy building).
const START: Duration = Duration::from_secs(30);
/// The most lines an example may have.
const MAX_LINES: usize = 59;
/// What the stand-in sprayer answers while it refuses orders.
const SAFE_STATE: &str = "the sprayer holds its safe state: no_fix";

/// One example module and the rule it states at its top.
struct Example {
    /// From the repository root.
    path: &'static str,
    /// Litres for one side of the tree by the example's rule; `None`: nothing to spray
    /// (the order is withdrawn instead).
    rule: fn(&TreePayload) -> Option<f64>,
    /// The interpreter with its flags (the script and the router URL follow).
    interpreter: fn() -> Command,
    /// A command that only checks the script's syntax (the script follows).
    syntax_check: fn() -> std::process::Command,
}

/// "0.03 litres per metre of canopy height on each side of a tree, 0.02 L at least; a
/// tree the survey did not measure counts as 3 m high."
fn by_canopy_height(tree: &TreePayload) -> Option<f64> {
    Some((0.03 * tree.canopy_height_m.unwrap_or(3.0)).max(0.02))
}

/// "0.5 mL per fruit on each side of a tree, 0.12 L at most; a tree the survey did not
/// count gets 0.08 L, and a tree without fruit nothing (its order is withdrawn)."
fn by_fruit(tree: &TreePayload) -> Option<f64> {
    match tree.fruit_count {
        None => Some(0.08),
        Some(fruit) => Some((0.0005 * fruit).min(0.12)).filter(|litres| *litres > 0.0),
    }
}

const PYTHON: Example = Example {
    path: "examples/python/dose_module.py",
    rule: by_canopy_height,
    interpreter: || {
        let mut python = Command::new(autobahn::python());
        python.env("PYTHONDONTWRITEBYTECODE", "1");
        python
    },
    // `python -m py_compile` without the file it writes.
    syntax_check: || {
        let mut python = std::process::Command::new(autobahn::python());
        python.args([
            "-c",
            "import sys; compile(open(sys.argv[1]).read(), sys.argv[1], 'exec')",
        ]);
        python
    },
};

const JAVASCRIPT: Example = Example {
    path: "examples/js/dose_module.js",
    rule: by_fruit,
    interpreter: || {
        let mut node = Command::from(autobahn::node());
        // A grower runs `npm install` in examples/js; the test uses the interop peers'.
        node.env("NODE_PATH", autobahn::js_modules());
        node
    },
    syntax_check: || {
        let mut node = std::process::Command::new("node");
        node.arg("--check");
        node
    },
};

#[tokio::test]
async fn the_python_dose_module_follows_its_rule() {
    check_example(&PYTHON).await;
}

#[tokio::test]
async fn the_javascript_dose_module_follows_its_rule() {
    check_example(&JAVASCRIPT).await;
}

/// The example's `package.json` asks for the Autobahn|JS the test runs it with.
#[test]
fn the_javascript_example_installs_the_tested_autobahn() {
    let dependencies = |path: &str| {
        let text = std::fs::read_to_string(project_root().join(path)).expect(path);
        serde_json::from_str::<Json>(&text).expect(path)["dependencies"].clone()
    };
    assert_eq!(
        dependencies("examples/js/package.json"),
        dependencies("tests/interop/js/package.json")
    );
}

async fn check_example(example: &Example) {
    autobahn::require_autobahn();
    let script = check_source(example);
    let router = start_test_router().await;
    let url = router.url();
    let client = connect(&url).await;
    let mut sprayer = FakeSprayer::start(&client).await;
    let _module = start_module(example, &script, &client, &url).await;

    let orders = orders();
    for order in &orders {
        check_order(example, &client, &mut sprayer, order).await;
    }

    // The map withdraws the first order: passed on with its revision and reason.
    let withdrawn = TreatRequest {
        revision: 2,
        window: None,
        withdraw_reason: Some(WithdrawReason::Window(WindowRefusal::NoSprayZone)),
        ..orders[0].clone()
    };
    let decision = treat(&client, &withdrawn).await;
    let withdrawal: WithdrawRequest = sprayer.next(WITHDRAW).await;
    assert_eq!(
        withdrawal,
        WithdrawRequest {
            plan_id: withdrawn.plan_id.clone(),
            revision: 2,
            reason: Some("no_spray_zone".into()),
        }
    );
    assert!(decision.withdrawn && decision.cancelled == Some(true));
    assert_eq!(decision.withdraw_reason, withdrawn.withdraw_reason);
    assert_eq!((decision.volume_l, decision.flow_l_min), (0.0, 0.0));

    // The sprayer refuses: the caller gets its error as it was.
    sprayer.refusing.store(true, Ordering::SeqCst);
    let order = TreatRequest {
        revision: 3,
        ..orders[0].clone()
    };
    let refused = within(
        TREAT,
        client.call_with(TREAT, to_payload(&order).unwrap(), CallOptions::default()),
    )
    .await;
    match refused {
        Err(CallError::Application { error, kwargs, .. }) => {
            assert_eq!(error, ERROR_UNAVAILABLE);
            assert_eq!(kwargs.get("message"), Some(&Value::Str(SAFE_STATE.into())));
        }
        other => panic!("{}: the sprayer's refusal, got {other:?}", example.path),
    }
    let _: ApplyRequest = sprayer.next(APPLY).await;
    assert!(sprayer.calls.try_recv().is_err(), "nothing else is sent");

    // A second one while the first still serves (as when verger-dose was not stopped):
    // it stops at once, saying why, instead of running without serving.
    let mut second = module_command(example, &script, &url);
    second.stderr(Stdio::piped());
    let (status, stderr) = Process::spawn_command(second).wait_with_stderr().await;
    assert!(!status.success(), "{}: {status:?}", example.path);
    assert!(
        stderr.contains("cannot register orchard.dose.treat: wamp.error.procedure_already_exists"),
        "{}: {stderr}",
        example.path
    );
}

/// The example is short and parses; its path.
fn check_source(example: &Example) -> PathBuf {
    let script = project_root().join(example.path);
    let text = std::fs::read_to_string(&script).expect("the example");
    let lines = text.lines().count();
    assert!(
        lines <= MAX_LINES,
        "{}: {lines} lines, at most {MAX_LINES}",
        example.path
    );
    let checked = (example.syntax_check)()
        .arg(&script)
        .output()
        .expect("the syntax check runs");
    assert!(
        checked.status.success(),
        "{}: {}",
        example.path,
        String::from_utf8_lossy(&checked.stderr)
    );
    script
}

/// Treat `order`: what the sprayer is sent follows the example's rule, and the decision
/// returned says what was sent and what the sprayer answered.
async fn check_order(
    example: &Example,
    client: &Client,
    sprayer: &mut FakeSprayer,
    order: &TreatRequest,
) {
    let decision = treat(client, order).await;
    let tree = &order.tree.id;
    match (example.rule)(&order.tree) {
        Some(litres) => {
            let apply: ApplyRequest = sprayer.next(APPLY).await;
            check_apply(&apply, order, litres);
            assert!(!decision.withdrawn, "{tree}: {decision:?}");
            assert_eq!(decision.volume_l, apply.volume_l, "{tree}");
            assert_eq!(decision.flow_l_min, apply.flow_l_min, "{tree}");
            assert_eq!(decision.window, order.window, "{tree}");
            let said = decision.sprayer.expect("what the sprayer answered");
            assert_eq!(
                (said.scheduled, &said.switch_on),
                (true, &apply.open),
                "{tree}"
            );
        }
        None => {
            let withdrawal: WithdrawRequest = sprayer.next(WITHDRAW).await;
            assert_eq!(withdrawal.plan_id, order.plan_id, "{tree}");
            assert_eq!(withdrawal.revision, order.revision, "{tree}");
            assert_eq!(withdrawal.reason.as_deref(), Some("zero_dose"), "{tree}");
            assert!(decision.withdrawn, "{tree}: {decision:?}");
            assert_eq!((decision.volume_l, decision.flow_l_min), (0.0, 0.0));
        }
    }
    assert_eq!(
        (decision.plan_id.as_str(), decision.revision),
        (order.plan_id.as_str(), order.revision)
    );
    assert_eq!(
        (&decision.tree_id, &decision.section),
        (tree, &order.section.id)
    );
}

/// Orders for four trees, between them taking every branch of both rules: counted or
/// not, measured or not, a small tree and a heavy crop, a tree without fruit; a
/// vertical section for the last one. Windows of different lengths, in GNSS time.
fn orders() -> Vec<TreatRequest> {
    let example = <TreatRequest as ContractPayload>::examples().remove(0);
    let trees = [
        ("A-01-001", Some(148.0), Some(3.1), 675),
        ("A-01-002", None, None, 500),
        ("A-01-003", Some(450.0), Some(0.2), 1200),
        ("A-01-004", Some(0.0), Some(4.2), 800),
    ];
    let first_open = unix_micros("2026-04-14T09:12:34.000Z").unwrap();
    trees
        .into_iter()
        .enumerate()
        .map(|(i, (id, fruit_count, canopy_height_m, ms))| {
            let section = if i == 3 {
                SectionPayload {
                    id: "left.top".into(),
                    side: Side::Left,
                    bottom_m: Some(1.8),
                    top_m: Some(4.0),
                }
            } else {
                example.section.clone()
            };
            let open = first_open + i as i64 * 2_000_000;
            TreatRequest {
                plan_id: format!("{id}@{}:{}", section.id, 40 + i),
                tree: TreePayload {
                    id: id.into(),
                    fruit_count,
                    canopy_height_m,
                    ..example.tree.clone()
                },
                section,
                window: Some(WindowPayload {
                    open: rfc3339_from_unix_micros(open, 3),
                    close: rfc3339_from_unix_micros(open + ms * 1000, 3),
                }),
                ..example.clone()
            }
        })
        .collect()
}

/// `apply` orders `litres` over `order`'s window, at the flow that gives them in it.
fn check_apply(apply: &ApplyRequest, order: &TreatRequest, litres: f64) {
    let tree = &order.tree.id;
    let window = order.window.as_ref().expect("an order");
    assert_eq!(
        (
            apply.plan_id.as_str(),
            apply.revision,
            apply.section.as_str()
        ),
        (
            order.plan_id.as_str(),
            order.revision,
            order.section.id.as_str()
        )
    );
    assert_eq!(&apply.tree_id, tree);
    assert_eq!((&apply.open, &apply.close), (&window.open, &window.close));
    let minutes =
        (unix_micros(&window.close).unwrap() - unix_micros(&window.open).unwrap()) as f64 / 60e6;
    assert!(
        near(apply.volume_l, litres),
        "{tree}: {} L, the rule says {litres} L",
        apply.volume_l
    );
    assert!(
        near(apply.flow_l_min, litres / minutes),
        "{tree}: {} L/min for {litres} L in {minutes} min",
        apply.flow_l_min
    );
    assert_eq!(apply.product, Product::example(), "{tree}");
    assert_eq!((&apply.parcel, &apply.crop), (&None, &None), "{tree}");
}

/// Equal but for the rounding of the other language's arithmetic.
fn near(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * b.abs().max(1.0)
}

/// Call `orchard.dose.treat` with `order`; the decision, its kwargs checked against the
/// result's schema.
async fn treat(client: &Client, order: &TreatRequest) -> TreatResult {
    let result = within(
        TREAT,
        client.call_with(TREAT, to_payload(order).unwrap(), CallOptions::default()),
    )
    .await
    .unwrap_or_else(|e| panic!("{TREAT} of {}: {e:?}", order.plan_id));
    assert!(result.args.is_empty(), "the decision comes as kwargs");
    let json = schema::kwargs_json(&result.kwargs);
    checked(&format!("{TREAT}.result.schema.json"), &json);
    serde_json::from_value(json).expect("a decision")
}

/// `json` matches the schema file `name`.
fn checked(name: &str, json: &Json) {
    schema::check(name, json).unwrap_or_else(|p| panic!("{name}: {p:?} in {json}"));
}

/// Start the example against `url`, once `orchard.dose.treat` is registered (watched
/// from `observer` through the router's meta events).
async fn start_module(example: &Example, script: &Path, observer: &Client, url: &str) -> Process {
    let options = SubscribeOptions::default();
    let mut created = within(
        "watch registrations",
        observer.subscribe("wamp.registration.on_create", options),
    )
    .await
    .expect("subscribe to the meta events");
    let mut module = Process::spawn_command(module_command(example, script, url));
    within_for(START, &format!("{} registers {TREAT}", example.path), async {
        loop {
            tokio::select! {
                event = created.recv() => {
                    let event = event.expect("the meta subscription ends");
                    let uri = event.args.get(1).and_then(Value::as_dict).and_then(|d| d.get("uri"));
                    if uri.and_then(Value::as_str) == Some(TREAT) {
                        return;
                    }
                }
                status = module.child.wait() => {
                    panic!("{} ended before registering {TREAT}: {status:?}", example.path)
                }
            }
        }
    })
    .await;
    module
}

/// The example run against the router at `url`, its stdout discarded.
fn module_command(example: &Example, script: &Path, url: &str) -> Command {
    let mut command = (example.interpreter)();
    command.arg(script).arg(url).stdout(Stdio::null());
    command
}

/// The sprayer as the test plays it: `orchard.sprayer.apply` and `withdraw` registered,
/// every call handed to the test (checked against its schema) and answered as a sprayer
/// with no valve latency does, or refused while `refusing`.
struct FakeSprayer {
    calls: mpsc::UnboundedReceiver<(String, Json)>,
    refusing: Arc<AtomicBool>,
    _registrations: Vec<Registration>,
}

impl FakeSprayer {
    async fn start(client: &Client) -> FakeSprayer {
        let (tx, calls) = mpsc::unbounded_channel();
        let refusing = Arc::new(AtomicBool::new(false));
        let mut registrations = Vec::new();
        for uri in [APPLY, WITHDRAW] {
            let (tx, refusing) = (tx.clone(), refusing.clone());
            let handler = move |inv: Invocation| {
                let json = schema::kwargs_json(&inv.kwargs);
                let _ = tx.send((uri.to_owned(), json.clone()));
                let answer = answer(uri, json, refusing.load(Ordering::SeqCst));
                async move { answer }
            };
            let registration = client.register(uri, RegisterOptions::default(), handler);
            registrations.push(within("register the sprayer", registration).await.unwrap());
        }
        FakeSprayer {
            calls,
            refusing,
            _registrations: registrations,
        }
    }

    /// The next call, which must be of `uri`, its kwargs checked against its schema.
    async fn next<T: serde::de::DeserializeOwned>(&mut self, uri: &str) -> T {
        let (called, json) = within(&format!("the sprayer is called ({uri})"), self.calls.recv())
            .await
            .expect("the sprayer is gone");
        assert_eq!(called, uri, "{json}");
        checked(&format!("{uri}.call.schema.json"), &json);
        serde_json::from_value(json).expect("a payload of the contract")
    }
}

/// A sprayer's answer to `uri` called with `json`.
fn answer(uri: &str, json: Json, refusing: bool) -> Result<verger::wamp::Payload, InvocationError> {
    if refusing {
        let mut kwargs = Dict::new();
        kwargs.insert("message".into(), Value::Str(SAFE_STATE.into()));
        return Err(InvocationError::new(ERROR_UNAVAILABLE).with_kwargs(kwargs));
    }
    let payload = if uri == APPLY {
        let order: ApplyRequest = serde_json::from_value(json).map_err(|e| bad(e.to_string()))?;
        to_payload(&ApplyResult {
            plan_id: order.plan_id,
            revision: order.revision,
            scheduled: true,
            switch_on: order.open,
            switch_off: order.close,
            late: false,
        })
    } else {
        let order: WithdrawRequest =
            serde_json::from_value(json).map_err(|e| bad(e.to_string()))?;
        to_payload(&WithdrawResult {
            plan_id: order.plan_id,
            withdrawn: true,
        })
    };
    Ok(payload.expect("a WAMP payload"))
}

fn bad(message: String) -> InvocationError {
    InvocationError::invalid_argument(message)
}
