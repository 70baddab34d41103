//! The public WAMP client against the embedded router (started on 127.0.0.1:0 by the
//! shared harness) and against a scripted fake router for misbehaviour. Real time with
//! short settings (real sockets do not mix with paused time); every await is bounded.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use verger::client::{
    CallError, CallOptions, CancelMode, Client, ClientConfig, ClientError, InvocationError,
    InvokePolicy, MatchPolicy, PublishError, PublishOptions, ReconnectPolicy, RegisterOptions,
    SessionState, SubscribeOptions,
};
use verger::router::{Router, RouterHandle};
use verger::transport::{self, AcceptOptions, Incoming, Transport};
use verger::wamp::{uris, Dict, Message, Payload, Serializer, Value};
use verger::{dict, list};
use verger_testkit::{
    free_port, rebind, start_router, start_router_with_unix, test_config, within, TempSocket,
};

fn config(url: &str) -> ClientConfig {
    // `RUST_LOG=verger=debug cargo test --test client` shows what the client did.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("off"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
    let mut c = ClientConfig::new(url, "orchard");
    c.reconnect = ReconnectPolicy {
        enabled: true,
        initial_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(200),
        factor: 2.0,
        jitter: 0.0,
        max_attempts: None,
    };
    c.connect_timeout = Duration::from_secs(2);
    c.startup_timeout = Duration::from_secs(4);
    c.call_timeout = Some(Duration::from_secs(4));
    c.close_timeout = Duration::from_secs(1);
    c
}

async fn client(url: &str) -> Client {
    within("client connect", Client::connect(config(url)))
        .await
        .expect("client connects")
}

async fn established(client: &Client) -> u64 {
    within("session established", client.wait_established())
        .await
        .expect("established")
}

fn restart_router(listener: TcpListener) -> RouterHandle {
    Router::start(test_config(), listener).expect("restart router")
}

fn sum_handler(
) -> impl Fn(verger::client::Invocation) -> std::future::Ready<Result<Payload, InvocationError>>
       + Send
       + Sync
       + 'static {
    |inv| {
        let sum: i64 = inv.args.iter().filter_map(Value::as_i64).sum();
        std::future::ready(Ok(Payload::args(list![sum])))
    }
}

#[tokio::test]
async fn call_and_register_over_every_transport_and_serializer() {
    let socket = TempSocket::new("client-rt");
    let router = start_router_with_unix(test_config(), &socket.0).await;
    let urls = [
        router.url(),
        router.rawsocket_url(),
        router.unix_url().expect("unix url"),
    ];
    for url in &urls {
        for serializer in Serializer::ALL {
            let mut cfg = config(url);
            cfg.serializers = vec![serializer];
            let callee = within("callee", Client::connect(cfg.clone()))
                .await
                .unwrap();
            let caller = within("caller", Client::connect(cfg)).await.unwrap();
            let procedure = format!("com.example.add2.{}", serializer.name());
            let reg = within(
                "register",
                callee.register(&procedure, RegisterOptions::default(), sum_handler()),
            )
            .await
            .unwrap();
            let result = within("call", caller.call(&procedure, list![2, 3], Dict::new()))
                .await
                .unwrap_or_else(|e| panic!("{url} {serializer:?}: {e}"));
            assert_eq!(result.args, list![5], "{url} {serializer:?}");
            within("unregister", reg.unregister()).await.unwrap();
            within("close caller", caller.close()).await.unwrap();
            within("close callee", callee.close()).await.unwrap();
        }
    }
    within("router shutdown", router.shutdown()).await.unwrap();
}

#[tokio::test]
async fn tutorial_examples() {
    let router = start_router(test_config()).await;
    let backend = client(&router.url()).await;
    let frontend = client(&router.rawsocket_url()).await;

    let _move = within(
        "register move",
        backend.register(
            "com.example.move",
            RegisterOptions::default(),
            |inv| async move {
                if inv.args != list![3, 5] || inv.kwargs != dict! {"mean" => "roulades"} {
                    return Err(InvocationError::invalid_argument("unexpected arguments"));
                }
                Ok(Payload::new(list!["moved"], inv.kwargs))
            },
        ),
    )
    .await
    .unwrap();
    let _kiss = within(
        "register kiss",
        backend.register(
            "com.example.kiss",
            RegisterOptions::default(),
            |_inv| async { Ok(Payload::args(list![true])) },
        ),
    )
    .await
    .unwrap();
    let mut messages = within(
        "subscribe",
        backend.subscribe("com.example.message", SubscribeOptions::default()),
    )
    .await
    .unwrap();

    let moved = within(
        "call move",
        frontend.call(
            "com.example.move",
            list![3, 5],
            dict! {"mean" => "roulades"},
        ),
    )
    .await
    .unwrap();
    assert_eq!(moved.args, list!["moved"]);
    assert_eq!(moved.kwargs, dict! {"mean" => "roulades"});

    let kissed = within(
        "call kiss",
        frontend.call("com.example.kiss", list![], Dict::new()),
    )
    .await
    .unwrap();
    assert_eq!(kissed.first().and_then(Value::as_bool), Some(true));
    let typed: bool = within("typed kiss", frontend.call_typed("com.example.kiss", &()))
        .await
        .unwrap();
    assert!(typed);

    let publication = within(
        "publish message",
        frontend.publish(
            "com.example.message",
            Payload::args(list!["Hello, world!"]),
            PublishOptions::acknowledged(),
        ),
    )
    .await
    .unwrap()
    .expect("acknowledged publications have an id");
    let event = within("event", messages.recv()).await.expect("an event");
    assert_eq!(event.topic, "com.example.message");
    assert_eq!(event.args, list!["Hello, world!"]);
    assert_eq!(event.publication, publication);

    within("close", frontend.close()).await.unwrap();
    within("close", backend.close()).await.unwrap();
    within("router shutdown", router.shutdown()).await.unwrap();
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Spray {
    row: u32,
    litres_per_ha: f64,
    nozzles: Vec<u8>,
}

#[tokio::test]
async fn typed_arguments_and_results() {
    let router = start_router(test_config()).await;
    let c = client(&router.url()).await;
    let _reg = within(
        "register typed",
        c.register_typed(
            "com.example.spray.plan",
            RegisterOptions::default(),
            |mut s: Spray| async move {
                s.litres_per_ha *= 2.0;
                Ok(s)
            },
        ),
    )
    .await
    .unwrap();
    let plan = Spray {
        row: 12,
        litres_per_ha: 150.5,
        nozzles: vec![1, 2, 3],
    };
    let doubled: Spray = within("call typed", c.call_typed("com.example.spray.plan", &plan))
        .await
        .unwrap();
    assert_eq!(
        doubled,
        Spray {
            litres_per_ha: 301.0,
            ..plan.clone()
        }
    );
    // The struct travels as kwargs, readable by untyped peers.
    let raw = within(
        "call untyped",
        c.call(
            "com.example.spray.plan",
            list![],
            dict! {"row" => 1, "litres_per_ha" => 1.0, "nozzles" => Value::List(list![])},
        ),
    )
    .await
    .unwrap();
    assert_eq!(raw.kwargs.get("litres_per_ha"), Some(&Value::Float(2.0)));
    let back: Spray = raw.kwargs_as().unwrap();
    assert_eq!(back.row, 1);
    // Bad arguments: invalid_argument, the handler is not called.
    let err = within(
        "bad call",
        c.call("com.example.spray.plan", list!["x"], Dict::new()),
    )
    .await
    .unwrap_err();
    assert_eq!(err.error_uri(), Some(uris::INVALID_ARGUMENT));
    within("close", c.close()).await.unwrap();
    within("router shutdown", router.shutdown()).await.unwrap();
}

#[tokio::test]
async fn errors_from_callee_and_dealer() {
    let router = start_router(test_config()).await;
    let c = client(&router.url()).await;
    let _reg = within(
        "register",
        c.register(
            "com.example.fail",
            RegisterOptions::default(),
            |_inv| async {
                Err(InvocationError::new("com.example.error.too_far")
                    .with_args(list![7])
                    .with_kwargs(dict! {"limit" => 5}))
            },
        ),
    )
    .await
    .unwrap();
    let err = within(
        "call fail",
        c.call("com.example.fail", list![], Dict::new()),
    )
    .await
    .unwrap_err();
    assert_eq!(
        err,
        CallError::Application {
            error: "com.example.error.too_far".into(),
            args: list![7],
            kwargs: dict! {"limit" => 5},
        }
    );
    let err = within(
        "call missing",
        c.call("com.example.nothing", list![], Dict::new()),
    )
    .await
    .unwrap_err();
    assert_eq!(
        err,
        CallError::NoSuchProcedure("com.example.nothing".into())
    );
    // Registering twice (single policy) is refused by the dealer.
    let twice = within(
        "register twice",
        c.register(
            "com.example.fail",
            RegisterOptions::default(),
            sum_handler(),
        ),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&twice, ClientError::Rejected { error, .. } if error == uris::PROCEDURE_ALREADY_EXISTS),
        "{twice:?}"
    );
    within("close", c.close()).await.unwrap();
    within("router shutdown", router.shutdown()).await.unwrap();
}

#[tokio::test]
async fn progressive_results() {
    let router = start_router(test_config()).await;
    let c = client(&router.url()).await;
    let _reg = within(
        "register",
        c.register(
            "com.example.count",
            RegisterOptions::default(),
            |inv| async move {
                let progress = inv
                    .progress
                    .ok_or_else(|| InvocationError::new("com.example.no_progress"))?;
                for i in 0..3 {
                    progress.send(Payload::args(list![i])).await.ok();
                }
                Ok(Payload::args(list!["done"]))
            },
        ),
    )
    .await
    .unwrap();
    let mut call = within(
        "start",
        c.call_progressive(
            "com.example.count",
            Payload::default(),
            CallOptions::default(),
        ),
    )
    .await
    .unwrap();
    let mut seen = Vec::new();
    while let Some(p) = within("progress", call.next_progress()).await {
        seen.push(p.args.unwrap_or_default());
    }
    assert_eq!(seen, vec![list![0], list![1], list![2]]);
    assert_eq!(call.progress_dropped(), 0);
    let result = within("final", call.result()).await.unwrap();
    assert_eq!(result.args, list!["done"]);
    // Without asking for progress the handler gets no progress sender.
    let err = within(
        "plain call",
        c.call("com.example.count", list![], Dict::new()),
    )
    .await
    .unwrap_err();
    assert_eq!(err.error_uri(), Some("com.example.no_progress"));
    within("close", c.close()).await.unwrap();
    within("router shutdown", router.shutdown()).await.unwrap();
}

/// A callee whose handler reports when it starts and whether it saw `cancelled`.
async fn slow_callee(
    c: &Client,
    procedure: &str,
    finish_after: Duration,
) -> (
    verger::client::Registration,
    mpsc::UnboundedReceiver<&'static str>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let reg = within(
        "register slow",
        c.register(procedure, RegisterOptions::default(), move |inv| {
            let tx = tx.clone();
            async move {
                let _ = tx.send("started");
                tokio::select! {
                    _ = inv.cancelled.cancelled() => {
                        let _ = tx.send("cancelled");
                        Err(InvocationError::canceled())
                    }
                    _ = tokio::time::sleep(finish_after) => {
                        let _ = tx.send("finished");
                        Ok(Payload::args(list!["late"]))
                    }
                }
            }
        }),
    )
    .await
    .unwrap();
    (reg, rx)
}

#[tokio::test]
async fn cancel_in_each_mode() {
    let router = start_router(test_config()).await;
    let callee = client(&router.url()).await;
    let caller = client(&router.url()).await;
    let (_reg, mut events) =
        slow_callee(&callee, "com.example.slow", Duration::from_millis(600)).await;
    for (mode, interrupted) in [
        (CancelMode::Kill, true),
        (CancelMode::KillNoWait, true),
        (CancelMode::Skip, false),
    ] {
        let call = within(
            "start call",
            caller.start_call(
                "com.example.slow",
                Payload::default(),
                CallOptions::default(),
            ),
        )
        .await
        .unwrap();
        assert_eq!(
            within("handler starts", events.recv()).await,
            Some("started")
        );
        call.cancel(mode);
        let result = within("canceled result", call.result()).await;
        assert_eq!(result, Err(CallError::Canceled), "{mode:?}");
        let expected = if interrupted { "cancelled" } else { "finished" };
        assert_eq!(
            within("handler outcome", events.recv()).await,
            Some(expected),
            "{mode:?}"
        );
    }
    within("close", caller.close()).await.unwrap();
    within("close", callee.close()).await.unwrap();
    within("router shutdown", router.shutdown()).await.unwrap();
}

#[tokio::test]
async fn call_timeout_cancels_the_callee() {
    let router = start_router(test_config()).await;
    let callee = client(&router.url()).await;
    let caller = client(&router.url()).await;
    let (_reg, mut events) =
        slow_callee(&callee, "com.example.slow", Duration::from_secs(30)).await;
    let options = CallOptions {
        timeout: Some(Duration::from_millis(150)),
        ..CallOptions::default()
    };
    let result = within(
        "timed out call",
        caller.call_with("com.example.slow", Payload::default(), options),
    )
    .await;
    assert_eq!(result, Err(CallError::Timeout));
    assert_eq!(within("started", events.recv()).await, Some("started"));
    assert_eq!(
        within("interrupted", events.recv()).await,
        Some("cancelled")
    );
    // Dropping a call future cancels the call as well.
    let dropped = tokio::time::timeout(
        Duration::from_millis(100),
        caller.call("com.example.slow", list![], Dict::new()),
    )
    .await;
    assert!(dropped.is_err());
    assert_eq!(within("started", events.recv()).await, Some("started"));
    assert_eq!(
        within("interrupted", events.recv()).await,
        Some("cancelled")
    );
    within("close", caller.close()).await.unwrap();
    within("close", callee.close()).await.unwrap();
    within("router shutdown", router.shutdown()).await.unwrap();
}

#[tokio::test]
async fn pattern_subscriptions() {
    let router = start_router(test_config()).await;
    let sub = client(&router.url()).await;
    let publisher = client(&router.url()).await;
    let mut prefix = within(
        "subscribe prefix",
        sub.subscribe("com.example.orchard", SubscribeOptions::prefix()),
    )
    .await
    .unwrap();
    let mut wildcard = within(
        "subscribe wildcard",
        sub.subscribe(
            "com.example.orchard..temp",
            SubscribeOptions {
                match_policy: MatchPolicy::Wildcard,
                ..SubscribeOptions::default()
            },
        ),
    )
    .await
    .unwrap();
    for topic in [
        "com.example.orchard.row7.temp",
        "com.example.orchard.row7.wind",
    ] {
        within(
            "publish",
            publisher.publish(
                topic,
                Payload::args(list![topic]),
                PublishOptions::acknowledged(),
            ),
        )
        .await
        .unwrap();
    }
    let a = within("prefix 1", prefix.recv()).await.unwrap();
    let b = within("prefix 2", prefix.recv()).await.unwrap();
    assert_eq!(
        (a.topic.as_str(), b.topic.as_str()),
        (
            "com.example.orchard.row7.temp",
            "com.example.orchard.row7.wind"
        )
    );
    let w = within("wildcard", wildcard.recv()).await.unwrap();
    assert_eq!(w.topic, "com.example.orchard.row7.temp");
    assert!(wildcard.try_recv().is_none());
    within("unsubscribe", wildcard.unsubscribe()).await.unwrap();
    within("close", publisher.close()).await.unwrap();
    within("close", sub.close()).await.unwrap();
    within("router shutdown", router.shutdown()).await.unwrap();
}

#[tokio::test]
async fn shared_registration_round_robin_across_two_clients() {
    let router = start_router(test_config()).await;
    let a = client(&router.url()).await;
    let b = client(&router.url()).await;
    let caller = client(&router.url()).await;
    let mut regs = Vec::new();
    for (c, tag) in [(&a, "a"), (&b, "b")] {
        let reg = within(
            "register shared",
            c.register(
                "com.example.shared",
                RegisterOptions::shared(InvokePolicy::RoundRobin),
                move |_inv| async move { Ok(Payload::args(list![tag])) },
            ),
        )
        .await
        .unwrap();
        regs.push(reg);
    }
    let mut tags = Vec::new();
    for _ in 0..4 {
        let r = within(
            "call shared",
            caller.call("com.example.shared", list![], Dict::new()),
        )
        .await
        .unwrap();
        tags.push(r.args[0].as_str().unwrap().to_owned());
    }
    assert_ne!(tags[0], tags[1], "{tags:?}");
    assert_eq!(tags[0], tags[2], "{tags:?}");
    assert_eq!(tags[1], tags[3], "{tags:?}");
    for c in [caller, a, b] {
        within("close", c.close()).await.unwrap();
    }
    within("router shutdown", router.shutdown()).await.unwrap();
}

#[tokio::test]
async fn publish_acknowledge_exclude_me_and_identification() {
    let router = start_router(test_config()).await;
    let c = client(&router.url()).await;
    let me = c.session_id().expect("session id");
    let mut sub = within(
        "subscribe",
        c.subscribe("com.example.echo", SubscribeOptions::default()),
    )
    .await
    .unwrap();
    // Default: the publisher is excluded.
    let id = within(
        "publish excluded",
        c.publish(
            "com.example.echo",
            Payload::args(list![1]),
            PublishOptions::acknowledged(),
        ),
    )
    .await
    .unwrap();
    assert!(id.is_some());
    let options = PublishOptions {
        exclude_me: false,
        disclose_me: true,
        ..PublishOptions::acknowledged()
    };
    within(
        "publish to self",
        c.publish("com.example.echo", Payload::args(list![2]), options),
    )
    .await
    .unwrap();
    let e = within("own event", sub.recv()).await.unwrap();
    assert_eq!(e.args, list![2], "the excluded event must not arrive");
    assert_eq!(e.publisher(), Some(me));
    // Unacknowledged: Ok(None) once written.
    let none = within(
        "publish plain",
        c.publish(
            "com.example.other",
            Payload::default(),
            PublishOptions::default(),
        ),
    )
    .await
    .unwrap();
    assert_eq!(none, None);
    within("close", c.close()).await.unwrap();
    within("router shutdown", router.shutdown()).await.unwrap();
}

#[tokio::test]
async fn retained_event_reaches_a_late_subscriber_at_once() {
    let router = start_router(test_config()).await;
    let publisher = client(&router.url()).await;
    for v in ["v1", "v2"] {
        let options = PublishOptions {
            retain: true,
            ..PublishOptions::acknowledged()
        };
        within(
            "publish retained",
            publisher.publish("com.example.fix", Payload::args(list![v]), options),
        )
        .await
        .unwrap();
    }
    let late = client(&router.url()).await;
    let mut sub = within(
        "late subscribe",
        late.subscribe(
            "com.example.fix",
            SubscribeOptions {
                get_retained: true,
                ..SubscribeOptions::default()
            },
        ),
    )
    .await
    .unwrap();
    let e = within("retained event", sub.recv()).await.unwrap();
    assert_eq!(e.args, list!["v2"]);
    assert!(e.is_retained());
    within("close", late.close()).await.unwrap();
    within("close", publisher.close()).await.unwrap();
    within("router shutdown", router.shutdown()).await.unwrap();
}

#[tokio::test]
async fn panicking_handler_yields_an_error_and_the_client_keeps_serving() {
    let router = start_router(test_config()).await;
    let c = client(&router.url()).await;
    let _reg = within(
        "register",
        c.register(
            "com.example.fragile",
            RegisterOptions::default(),
            |inv| async move {
                if inv.args.first().and_then(Value::as_str) == Some("boom") {
                    panic!("handler bug");
                }
                Ok(Payload::args(list!["fine"]))
            },
        ),
    )
    .await
    .unwrap();
    let err = within(
        "boom",
        c.call("com.example.fragile", list!["boom"], Dict::new()),
    )
    .await
    .unwrap_err();
    assert_eq!(err.error_uri(), Some(verger::client::RUNTIME_ERROR));
    let ok = within(
        "fine",
        c.call("com.example.fragile", list!["ok"], Dict::new()),
    )
    .await
    .unwrap();
    assert_eq!(ok.args, list!["fine"]);
    within("close", c.close()).await.unwrap();
    within("router shutdown", router.shutdown()).await.unwrap();
}

#[tokio::test]
async fn router_restart_restores_registrations_and_subscriptions() {
    let router = start_router(test_config()).await;
    let addr = router.local_addr();
    let url = router.url();
    let callee = client(&url).await;
    let caller = client(&url).await;
    let first_session = callee.session_id().unwrap();

    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let _echo = within(
        "register echo",
        callee.register("com.example.echo", RegisterOptions::default(), move |inv| {
            counter.fetch_add(1, Ordering::SeqCst);
            async move { Ok(Payload::args(inv.args)) }
        }),
    )
    .await
    .unwrap();
    let (_slow, mut slow_events) =
        slow_callee(&callee, "com.example.slow", Duration::from_secs(30)).await;
    let mut sub = within(
        "subscribe",
        callee.subscribe("com.example.fix", SubscribeOptions::default()),
    )
    .await
    .unwrap();

    // A call in flight when the router goes away fails at once.
    let pending = within(
        "start slow call",
        caller.start_call(
            "com.example.slow",
            Payload::default(),
            CallOptions {
                timeout: Some(Duration::from_secs(30)),
                ..CallOptions::default()
            },
        ),
    )
    .await
    .unwrap();
    assert_eq!(
        within("slow started", slow_events.recv()).await,
        Some("started")
    );
    within("router shutdown", router.shutdown()).await.unwrap();
    // The router may cancel the call when the callee leaves before the caller does
    // (`pending_call_fails_when_the_router_dies` covers an abrupt death).
    let failed = within("pending call fails", pending.result()).await;
    assert!(
        matches!(failed, Err(CallError::ConnectionLost | CallError::Canceled)),
        "{failed:?}"
    );
    assert_eq!(
        within("handler cancelled", slow_events.recv()).await,
        Some("cancelled")
    );

    // Offline: nothing is queued.
    let mut state = caller.state();
    within(
        "state leaves Established",
        state.wait_for(|s| !s.is_established()),
    )
    .await
    .unwrap();
    assert_eq!(
        within(
            "publish offline",
            caller.publish(
                "com.example.fix",
                Payload::args(list![0]),
                PublishOptions::default()
            )
        )
        .await,
        Err(PublishError::NotConnected)
    );
    assert_eq!(
        within(
            "call offline",
            caller.call("com.example.echo", list![], Dict::new())
        )
        .await,
        Err(CallError::NotConnected)
    );
    within(
        "reconnecting is visible",
        state.wait_for(|s| matches!(s, SessionState::Reconnecting { .. })),
    )
    .await
    .unwrap();

    // Same port, new router: both clients come back by themselves.
    let router = restart_router(rebind(addr).await);
    let second_session = established(&callee).await;
    established(&caller).await;
    assert_ne!(first_session, second_session);
    let r = within(
        "call after restart",
        caller.call("com.example.echo", list!["again"], Dict::new()),
    )
    .await
    .unwrap();
    assert_eq!(r.args, list!["again"]);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    within(
        "publish after restart",
        caller.publish(
            "com.example.fix",
            Payload::args(list![42]),
            PublishOptions::acknowledged(),
        ),
    )
    .await
    .unwrap();
    let e = within("event after restart", sub.recv()).await.unwrap();
    assert_eq!(e.args, list![42]);

    within("close", caller.close()).await.unwrap();
    within("close", callee.close()).await.unwrap();
    assert!(caller.state().borrow().is_closed());
    within("router shutdown", router.shutdown()).await.unwrap();
}

#[tokio::test]
async fn client_started_before_the_router_connects_when_it_appears() {
    let addr = free_port().await;
    let url = format!("ws://{addr}/ws");
    let c = Client::start(config(&url)).unwrap();
    let pending_sub = {
        let c = c.clone();
        tokio::spawn(async move {
            c.subscribe("com.example.late", SubscribeOptions::default())
                .await
        })
    };
    // Observable: the first attempt failed and the client is backing off.
    let mut state = c.state();
    within(
        "first connect attempt fails",
        state.wait_for(|s| matches!(s, SessionState::Reconnecting { .. })),
    )
    .await
    .unwrap();
    assert_eq!(
        within(
            "offline call",
            c.call("com.example.x", list![], Dict::new())
        )
        .await,
        Err(CallError::NotConnected)
    );
    let router = restart_router(rebind(addr).await);
    established(&c).await;
    let mut sub = within("subscription completes", pending_sub)
        .await
        .unwrap()
        .unwrap();
    let p = client(&url).await;
    within(
        "publish",
        p.publish(
            "com.example.late",
            Payload::args(list![1]),
            PublishOptions::acknowledged(),
        ),
    )
    .await
    .unwrap();
    assert_eq!(within("event", sub.recv()).await.unwrap().args, list![1]);
    within("close", p.close()).await.unwrap();
    within("close", c.close()).await.unwrap();
    within("router shutdown", router.shutdown()).await.unwrap();
}

#[tokio::test]
async fn connect_errors_are_clear() {
    // Nobody listening, reconnect off: the first failure is the answer.
    let addr = free_port().await;
    let mut cfg = config(&format!("rs://{addr}"));
    cfg.reconnect = ReconnectPolicy::disabled();
    let err = within("connect refused", Client::connect(cfg))
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Connect(_)), "{err:?}");

    // Reconnect on but the router keeps failing: bounded by the startup timeout.
    let mut cfg = config(&format!("rs://{addr}"));
    cfg.startup_timeout = Duration::from_millis(300);
    let err = within("connect times out", Client::connect(cfg))
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            ClientError::StartupTimeout {
                last_error: Some(_),
                ..
            }
        ),
        "{err:?}"
    );

    // Unknown realm: ABORT with the reason URI, not retried by `connect`.
    let router = start_router(test_config()).await;
    let mut cfg = config(&router.url());
    cfg.realm = "no.such.realm".into();
    let err = within("unknown realm", Client::connect(cfg))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ClientError::Aborted { reason, .. } if reason == uris::NO_SUCH_REALM),
        "{err:?}"
    );

    // Invalid configuration never starts.
    let err = Client::start(ClientConfig::new("http://x", "orchard")).unwrap_err();
    assert!(matches!(err, ClientError::Config(_)));
    within("router shutdown", router.shutdown()).await.unwrap();
}

#[tokio::test]
async fn close_says_goodbye_and_stops() {
    let router = start_router(test_config()).await;
    let c = client(&router.url()).await;
    let mut sub = within(
        "subscribe",
        c.subscribe("com.example.x", SubscribeOptions::default()),
    )
    .await
    .unwrap();
    verger_testkit::eventually("router sees the session", || {
        router.session_count("orchard") == 1
    })
    .await;
    within("close", c.close()).await.unwrap();
    within("close twice", c.close()).await.unwrap();
    assert!(c.state().borrow().is_closed());
    assert_eq!(within("stream ends", sub.recv()).await, None);
    assert_eq!(
        within(
            "call after close",
            c.call("com.example.x", list![], Dict::new())
        )
        .await,
        Err(CallError::Closed)
    );
    verger_testkit::eventually("router forgot the session", || {
        router.session_count("orchard") == 0
    })
    .await;
    within("router shutdown", router.shutdown()).await.unwrap();
}

// ---- A scripted fake router, for what a real router never does. ----

struct FakeRouter {
    listener: TcpListener,
    url: String,
}

impl FakeRouter {
    async fn start() -> FakeRouter {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("rs://{}", listener.local_addr().unwrap());
        FakeRouter { listener, url }
    }

    /// Accept one client and complete the handshake; returns the transport.
    async fn accept(&self, session: u64) -> Transport {
        let (stream, _) = within("fake accept", self.listener.accept()).await.unwrap();
        let mut t = within(
            "fake handshake",
            transport::accept(stream, &AcceptOptions::default()),
        )
        .await
        .unwrap();
        match recv(&mut t).await {
            Some(Message::Hello { .. }) => {}
            other => panic!("expected HELLO, got {other:?}"),
        }
        let welcome = Message::Welcome {
            session,
            details: dict! {"roles" => dict! {"broker" => Dict::new(), "dealer" => Dict::new()}},
        };
        send(&mut t, &welcome).await;
        t
    }
}

async fn send(t: &mut Transport, m: &Message) {
    let bytes = t.serializer.encode(m);
    within("fake send", t.writer.send(bytes)).await.unwrap();
}

/// Next message from the client; `None` once it closed.
async fn recv(t: &mut Transport) -> Option<Message> {
    within("fake recv", async {
        loop {
            match t.reader.recv().await {
                Ok(Some(Incoming::Message(b))) => return Some(t.serializer.decode(&b).unwrap()),
                Ok(Some(Incoming::Ping(p))) => {
                    let _ = t.writer.pong(p).await;
                }
                Ok(Some(Incoming::Pong(_))) => {}
                Ok(None) | Err(_) => return None,
            }
        }
    })
    .await
}

#[tokio::test]
async fn protocol_violations_abort_and_reconnect() {
    let fake = FakeRouter::start().await;
    let c = Client::start(config(&fake.url)).unwrap();
    let mut t = fake.accept(1).await;
    assert_eq!(established(&c).await, 1);
    // A RESULT nobody asked for.
    send(
        &mut t,
        &Message::Result {
            request: 99,
            details: Dict::new(),
            payload: Payload::default(),
        },
    )
    .await;
    match recv(&mut t).await {
        Some(Message::Abort { reason, .. }) => assert_eq!(reason, uris::PROTOCOL_VIOLATION),
        other => panic!("expected ABORT, got {other:?}"),
    }
    assert_eq!(recv(&mut t).await, None, "transport closed after ABORT");

    // It reconnects; now send bytes that are no WAMP message at all.
    let mut t = fake.accept(2).await;
    assert_eq!(established(&c).await, 2);
    within(
        "send garbage",
        t.writer.send(b"\x93\xff not a message".to_vec()),
    )
    .await
    .unwrap();
    match recv(&mut t).await {
        Some(Message::Abort { reason, .. }) => assert_eq!(reason, uris::PROTOCOL_VIOLATION),
        other => panic!("expected ABORT, got {other:?}"),
    }

    // Router-initiated GOODBYE: answered, then a new session.
    let mut t = fake.accept(3).await;
    assert_eq!(established(&c).await, 3);
    send(
        &mut t,
        &Message::Goodbye {
            details: Dict::new(),
            reason: uris::CLOSE_SYSTEM_SHUTDOWN.into(),
        },
    )
    .await;
    match recv(&mut t).await {
        Some(Message::Goodbye { reason, .. }) => assert_eq!(reason, uris::CLOSE_GOODBYE_AND_OUT),
        other => panic!("expected GOODBYE, got {other:?}"),
    }
    let _t = fake.accept(4).await;
    assert_eq!(established(&c).await, 4);
    drop(c);
}

#[tokio::test]
async fn silent_router_is_detected_by_ping_timeout() {
    let fake = FakeRouter::start().await;
    let mut cfg = config(&fake.url);
    cfg.ping_interval = Some(Duration::from_millis(100));
    cfg.ping_timeout = Duration::from_millis(200);
    let c = Client::start(cfg).unwrap();
    // Handshake, then never read again: pings go unanswered.
    let _frozen = fake.accept(1).await;
    assert_eq!(established(&c).await, 1);
    let mut state = c.state();
    within(
        "dead connection detected",
        state.wait_for(|s| !s.is_established()),
    )
    .await
    .unwrap();
    let _t = fake.accept(2).await;
    assert_eq!(established(&c).await, 2);
}

#[tokio::test]
async fn pending_call_fails_when_the_router_dies() {
    let fake = FakeRouter::start().await;
    let c = Client::start(config(&fake.url)).unwrap();
    let mut t = fake.accept(1).await;
    established(&c).await;
    let call = within(
        "start call",
        c.start_call(
            "com.example.slow",
            Payload::default(),
            CallOptions {
                timeout: Some(Duration::from_secs(60)),
                ..CallOptions::default()
            },
        ),
    )
    .await
    .unwrap();
    assert!(matches!(recv(&mut t).await, Some(Message::Call { .. })));
    drop(t); // the router process is gone: no GOODBYE, just a closed socket
    assert_eq!(
        within("fails at once", call.result()).await,
        Err(CallError::ConnectionLost)
    );
    let _t = fake.accept(2).await;
    assert_eq!(established(&c).await, 2);
}

/// Poll an async condition every 20 ms, failing after the harness step limit.
async fn until<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    within(what, async {
        while !f().await {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
}

async fn lookup(c: &Client, what: &str, uri: &str) -> Value {
    let r = within("meta lookup", c.call(what, list![uri], Dict::new()))
        .await
        .unwrap();
    r.args.first().cloned().unwrap_or_default()
}

#[tokio::test]
async fn dropping_handles_unsubscribes_and_unregisters() {
    use futures_util::StreamExt;
    let router = start_router(test_config()).await;
    let c = client(&router.url()).await;
    let observer = client(&router.url()).await;
    let sub = within(
        "subscribe",
        c.subscribe("com.example.drop", SubscribeOptions::default()),
    )
    .await
    .unwrap();
    let reg = within(
        "register",
        c.register(
            "com.example.drop.proc",
            RegisterOptions::default(),
            sum_handler(),
        ),
    )
    .await
    .unwrap();
    assert!(
        !lookup(&observer, "wamp.subscription.lookup", "com.example.drop")
            .await
            .is_null()
    );
    assert!(!lookup(
        &observer,
        "wamp.registration.lookup",
        "com.example.drop.proc"
    )
    .await
    .is_null());

    // The stream form delivers the same events.
    let mut events = Box::pin(sub.into_stream());
    within(
        "publish",
        observer.publish(
            "com.example.drop",
            Payload::args(list![1]),
            PublishOptions::acknowledged(),
        ),
    )
    .await
    .unwrap();
    assert_eq!(
        within("stream event", events.next()).await.unwrap().args,
        list![1]
    );

    drop(events);
    drop(reg);
    until("subscription gone", || async {
        lookup(&observer, "wamp.subscription.lookup", "com.example.drop")
            .await
            .is_null()
    })
    .await;
    until("registration gone", || async {
        lookup(
            &observer,
            "wamp.registration.lookup",
            "com.example.drop.proc",
        )
        .await
        .is_null()
    })
    .await;
    within("close", observer.close()).await.unwrap();
    within("close", c.close()).await.unwrap();
    within("router shutdown", router.shutdown()).await.unwrap();
}

#[tokio::test]
async fn slow_subscriber_keeps_the_newest_events() {
    let router = start_router(test_config()).await;
    let c = client(&router.url()).await;
    let publisher = client(&router.url()).await;
    let mut sub = within(
        "subscribe",
        c.subscribe(
            "com.example.gnss",
            SubscribeOptions {
                queue_size: Some(2),
                ..SubscribeOptions::default()
            },
        ),
    )
    .await
    .unwrap();
    for i in 0..5 {
        within(
            "publish",
            publisher.publish(
                "com.example.gnss",
                Payload::args(list![i]),
                PublishOptions::acknowledged(),
            ),
        )
        .await
        .unwrap();
    }
    verger_testkit::eventually("three events dropped", || sub.dropped() == 3).await;
    assert_eq!(within("event", sub.recv()).await.unwrap().args, list![3]);
    assert_eq!(within("event", sub.recv()).await.unwrap().args, list![4]);
    assert!(sub.try_recv().is_none());
    within("close", publisher.close()).await.unwrap();
    within("close", c.close()).await.unwrap();
    within("router shutdown", router.shutdown()).await.unwrap();
}

#[tokio::test]
async fn killed_session_comes_back_with_its_registrations() {
    let router = start_router(test_config()).await;
    let victim = client(&router.url()).await;
    let admin = client(&router.url()).await;
    let _reg = within(
        "register",
        victim.register(
            "com.example.survivor",
            RegisterOptions::default(),
            sum_handler(),
        ),
    )
    .await
    .unwrap();
    let old = victim.session_id().unwrap();
    within(
        "kill",
        admin.call("wamp.session.kill", list![old], Dict::new()),
    )
    .await
    .unwrap();
    let mut state = victim.state();
    within(
        "new session",
        state.wait_for(|s| matches!(s, SessionState::Established { session } if *session != old)),
    )
    .await
    .unwrap();
    let r = within(
        "call survivor",
        admin.call("com.example.survivor", list![1, 2], Dict::new()),
    )
    .await
    .unwrap();
    assert_eq!(r.args, list![3]);
    within("close", admin.close()).await.unwrap();
    within("close", victim.close()).await.unwrap();
    within("router shutdown", router.shutdown()).await.unwrap();
}

#[tokio::test]
async fn reconnect_backs_off_and_gives_up_after_max_attempts() {
    let addr = free_port().await;
    let mut cfg = config(&format!("rs://{addr}"));
    cfg.reconnect.initial_delay = Duration::from_millis(30);
    cfg.reconnect.max_attempts = Some(3);
    let c = Client::start(cfg).unwrap();
    let mut state = c.state();
    let mut seen = Vec::new();
    let reason = within("gives up", async {
        loop {
            let s = state.borrow_and_update().clone();
            match s {
                SessionState::Closed { reason } => break reason,
                SessionState::Reconnecting { attempt, next_in }
                    if seen.last() != Some(&(attempt, next_in)) =>
                {
                    seen.push((attempt, next_in));
                }
                _ => {}
            }
            state.changed().await.unwrap();
        }
    })
    .await;
    assert!(reason.contains("connecting failed"), "{reason}");
    let expected = vec![
        (1, Duration::from_millis(30)),
        (2, Duration::from_millis(60)),
    ];
    assert_eq!(seen, expected, "jitter is off in these tests");
    assert!(matches!(c.last_error(), Some(ClientError::Connect(_))));
    assert_eq!(
        within("call after giving up", c.call("x", list![], Dict::new())).await,
        Err(CallError::Closed)
    );
}

/// `SubscribeOptions::delivery` reaches the router (which refuses unknown values), and
/// events flow as usual on a `latest` subscription of a subscriber that keeps up.
#[tokio::test]
async fn latest_delivery_subscription() {
    let router = start_router(test_config()).await;
    let sub = client(&router.url()).await;
    let publisher = client(&router.url()).await;
    let mut fixes = within(
        "subscribe latest",
        sub.subscribe(
            "com.example.fix",
            SubscribeOptions {
                delivery: verger::client::DeliveryPolicy::Latest,
                ..SubscribeOptions::default()
            },
        ),
    )
    .await
    .unwrap();
    for n in 1..=3u64 {
        within(
            "publish",
            publisher.publish(
                "com.example.fix",
                Payload::args(list![n]),
                PublishOptions::acknowledged(),
            ),
        )
        .await
        .unwrap();
        let e = within("fix", fixes.recv()).await.unwrap();
        assert_eq!(e.args, list![n]);
        assert_eq!(e.details.get("dropped"), None, "nothing dropped");
    }
    let bad = SubscribeOptions {
        extra: dict! {"delivery" => "sometimes"},
        ..SubscribeOptions::default()
    };
    assert!(within("subscribe bad", sub.subscribe("com.example.x", bad))
        .await
        .is_err());
}
