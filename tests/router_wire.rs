//! The router on the wire: transports, handshakes, session lifecycle, protocol
//! violations, size limits, keepalive, slow consumers, shutdown, and the `verger`
//! binary. Everything runs on 127.0.0.1:0 with a timeout on every await.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::{
    self, client::IntoClientRequest, protocol::frame::coding::CloseCode, Message as WsMessage,
};
use verger::router::realm::router_roles;
use verger::router::RouterConfig;
use verger::transport::rawsocket::{self, FrameKind};
use verger::wamp::{code, uris, Dict, Message, Payload, Serializer, Value};
use verger_testkit::*;

fn message_detail(details: &Dict) -> String {
    details
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

const UPGRADE: &str = "GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";

// ---------------------------------------------------------------------------------
// Transports and handshakes

#[tokio::test]
async fn websocket_negotiates_each_serializer_and_welcomes() {
    let router = start_router(test_config()).await;
    for serializer in Serializer::ALL {
        let mut p = Peer::connect(&router.url(), serializer).await;
        assert_eq!(p.serializer(), serializer);
        p.send(&hello("orchard")).await;
        match p.recv().await {
            Message::Welcome { session, details } => {
                assert!((1..=verger::wamp::MAX_ID).contains(&session));
                assert_eq!(details.get("roles"), Some(&Value::Dict(router_roles())));
                assert_eq!(details.get("authrole"), Some(&Value::from("anonymous")));
                assert_eq!(details.get("authmethod"), Some(&Value::from("anonymous")));
                assert_eq!(details.get("authprovider"), Some(&Value::from("static")));
                let authid = details.get("authid").and_then(Value::as_str).unwrap();
                assert!(!authid.is_empty());
            }
            other => panic!("{serializer:?}: expected WELCOME, got {other:?}"),
        }
        p.goodbye().await;
        p.expect_closed().await;
    }
    within("shutdown", router.shutdown()).await.unwrap();
}

#[tokio::test]
async fn websocket_picks_the_clients_first_supported_subprotocol() {
    let router = start_router(test_config()).await;
    let mut req = router.url().into_client_request().unwrap();
    req.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "wamp.2.ubjson, wamp.2.cbor, wamp.2.json".parse().unwrap(),
    );
    let (_ws, resp) = within("ws connect", tokio_tungstenite::connect_async(req))
        .await
        .unwrap();
    assert_eq!(
        resp.headers().get("Sec-WebSocket-Protocol").unwrap(),
        "wamp.2.cbor"
    );
}

#[tokio::test]
async fn websocket_without_a_supported_subprotocol_is_refused_with_400() {
    let router = start_router(test_config()).await;
    for offer in [Some("chat"), None] {
        let mut req = router.url().into_client_request().unwrap();
        if let Some(offer) = offer {
            req.headers_mut()
                .insert("Sec-WebSocket-Protocol", offer.parse().unwrap());
        }
        match within("ws connect", tokio_tungstenite::connect_async(req)).await {
            Err(tungstenite::Error::Http(resp)) => {
                assert_eq!(resp.status(), 400);
                let body =
                    String::from_utf8_lossy(resp.body().as_deref().unwrap_or(&[])).into_owned();
                assert!(
                    body.contains("wamp.2.json")
                        && body.contains("wamp.2.msgpack")
                        && body.contains("wamp.2.cbor"),
                    "{body}"
                );
            }
            other => panic!("offer {offer:?}: expected HTTP 400, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn wss_to_a_plain_router_fails_cleanly() {
    let router = start_router(test_config()).await;
    let url = router.url().replacen("ws://", "wss://", 1);
    let err = Peer::try_connect(&url, Serializer::Json)
        .await
        .expect_err("TLS handshake with a plain-text router must fail");
    assert!(
        matches!(
            err,
            // The TLS handshake fails on the router's plain-HTTP answer; a reset before
            // any answer is an i/o error.
            verger::transport::TransportError::Tls(_) | verger::transport::TransportError::Io(_)
        ),
        "{err}"
    );
}

#[tokio::test]
async fn plain_http_gets_426_and_wrong_path_404() {
    let router = start_router(test_config()).await;
    let addr = router.local_addr();
    let resp = http_exchange(addr, "GET /ws HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(
        resp.starts_with("HTTP/1.1 426 Upgrade Required\r\n"),
        "{resp}"
    );
    assert!(resp.contains("This is a WAMP router"), "{resp}");

    let resp = http_exchange(
        addr,
        &format!(
            "{}Sec-WebSocket-Protocol: wamp.2.json\r\n\r\n",
            UPGRADE.replace("/ws", "/other")
        ),
    )
    .await;
    assert!(resp.starts_with("HTTP/1.1 404 Not Found\r\n"), "{resp}");

    let resp = http_exchange(addr, &format!("{UPGRADE}\r\n")).await;
    assert!(resp.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{resp}");
    assert!(
        resp.contains("wamp.2.json, wamp.2.msgpack, wamp.2.cbor"),
        "{resp}"
    );

    // The router is still fine.
    let (mut p, _) = Peer::join(&router.url(), Serializer::Json, "orchard").await;
    p.goodbye().await;
}

#[tokio::test]
async fn rawsocket_handshake_for_each_serializer() {
    let config = test_config();
    let announced = rawsocket::exp_for_max_len(config.transport_limit());
    let router = start_router(config).await;
    for serializer in Serializer::ALL {
        let (stream, reply) = RawRs::handshake(
            router.local_addr(),
            rawsocket::build_handshake(serializer, 1 << 24),
        )
        .await;
        assert_eq!(
            reply,
            [0x7F, (announced << 4) | serializer.rawsocket_id(), 0, 0]
        );
        let mut raw = RawRs { stream, serializer };
        raw.send(&hello("orchard")).await;
        assert!(matches!(raw.recv().await, Some(Message::Welcome { .. })));
    }
    // And through our own client.
    for serializer in Serializer::ALL {
        let (mut p, _) = Peer::join(&router.rawsocket_url(), serializer, "orchard").await;
        p.goodbye().await;
    }
}

#[tokio::test]
async fn rawsocket_handshake_errors() {
    let router = start_router(test_config()).await;
    let addr = router.local_addr();
    for (request, reply) in [
        ([0x7F, 0xF4, 0, 0], [0x7F, 0x10, 0, 0]), // UBJSON: serializer unsupported
        ([0x7F, 0xF0, 0, 0], [0x7F, 0x10, 0, 0]), // serializer 0 is illegal
        ([0x7F, 0xF1, 0, 1], [0x7F, 0x30, 0, 0]), // reserved bits
    ] {
        let (mut stream, got) = RawRs::handshake(addr, request).await;
        assert_eq!(got, reply, "request {request:02x?}");
        let mut rest = Vec::new();
        within("close after error", stream.read_to_end(&mut rest))
            .await
            .unwrap();
        assert!(rest.is_empty());
    }
}

#[tokio::test]
async fn connection_cap_refuses_rawsocket_with_error_4_and_websocket_with_503() {
    let router = start_router(RouterConfig {
        max_sessions: 1,
        ..test_config()
    })
    .await;
    let (mut first, _) = Peer::join(&router.url(), Serializer::Json, "orchard").await;
    let (_, reply) = RawRs::handshake(
        router.local_addr(),
        rawsocket::build_handshake(Serializer::Json, 1 << 24),
    )
    .await;
    assert_eq!(reply, [0x7F, 0x40, 0, 0]);
    let resp = http_exchange(
        router.local_addr(),
        &format!("{UPGRADE}Sec-WebSocket-Protocol: wamp.2.json\r\n\r\n"),
    )
    .await;
    assert!(resp.starts_with("HTTP/1.1 503 "), "{resp}");

    // Once the first session is gone, the slot is free again.
    first.goodbye().await;
    first.expect_closed().await;
    drop(first);
    within("a free slot", async {
        loop {
            let (mut stream, reply) = RawRs::handshake(
                router.local_addr(),
                rawsocket::build_handshake(Serializer::Json, 1 << 24),
            )
            .await;
            if reply[1] & 0x0F == Serializer::Json.rawsocket_id() {
                let _ = stream.shutdown().await;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}

#[tokio::test]
async fn rawsocket_ping_is_answered_with_the_same_payload() {
    let router = start_router(test_config()).await;
    let (stream, _) = RawRs::handshake(
        router.local_addr(),
        rawsocket::build_handshake(Serializer::MsgPack, 1 << 24),
    )
    .await;
    let mut raw = RawRs {
        stream,
        serializer: Serializer::MsgPack,
    };
    let ping = rawsocket::encode_frame(FrameKind::Ping, b"are you there?").unwrap();
    raw.stream.write_all(&ping).await.unwrap();
    assert_eq!(
        raw.recv_frame().await,
        Some((FrameKind::Pong, b"are you there?".to_vec()))
    );
    // Also after joining.
    raw.send(&hello("orchard")).await;
    assert!(matches!(raw.recv().await, Some(Message::Welcome { .. })));
    let ping = rawsocket::encode_frame(FrameKind::Ping, b"").unwrap();
    raw.stream.write_all(&ping).await.unwrap();
    assert_eq!(raw.recv_frame().await, Some((FrameKind::Pong, vec![])));
}

#[tokio::test]
async fn unix_socket_sessions_talk_to_websocket_sessions() {
    let socket = TempSocket::new("unix");
    let router = start_router_with_unix(test_config(), &socket.0).await;
    let unix_url = router.unix_url().unwrap();
    let (mut ws, _) = Peer::join(&router.url(), Serializer::Json, "orchard").await;
    ws.subscribe("test.unix").await;
    for serializer in Serializer::ALL {
        let (mut p, _) = Peer::join(&unix_url, serializer, "orchard").await;
        assert_eq!(p.serializer(), serializer);
        p.publish_acked("test.unix", vec![Value::from(serializer.name())])
            .await;
        assert_eq!(
            ws.expect_event().await.arg_list(),
            &[Value::from(serializer.name())]
        );
        p.goodbye().await;
    }
    // A WebSocket request on the Unix socket is not RawSocket: the connection is failed.
    let mut s = tokio::net::UnixStream::connect(&socket.0).await.unwrap();
    s.write_all(b"GET /ws HTTP/1.1\r\n\r\n").await.unwrap();
    let mut rest = Vec::new();
    // Closed without an answer (possibly reset, as the request was not read).
    if within("unix close", s.read_to_end(&mut rest)).await.is_ok() {
        assert!(rest.is_empty());
    }
}

// ---------------------------------------------------------------------------------
// Session lifecycle and protocol violations

#[tokio::test]
async fn unknown_realm_is_aborted_with_no_such_realm() {
    let router = start_router(test_config()).await;
    let mut p = Peer::connect(&router.url(), Serializer::Json).await;
    p.send(&hello("nowhere")).await;
    let (reason, details) = p.expect_abort().await;
    assert_eq!(reason, uris::NO_SUCH_REALM);
    assert!(message_detail(&details).contains("nowhere"));
    p.expect_closed().await;
}

#[tokio::test]
async fn hello_with_bad_roles_is_aborted() {
    let router = start_router(test_config()).await;
    for details in [
        Dict::new(),
        verger::dict! { "roles" => Dict::new() },
        verger::dict! { "roles" => verger::dict! { "caller" => "yes" } },
    ] {
        let mut p = Peer::connect(&router.url(), Serializer::Json).await;
        p.send(&Message::Hello {
            realm: "orchard".into(),
            details,
        })
        .await;
        let (reason, details) = p.expect_abort().await;
        assert_eq!(reason, uris::PROTOCOL_VIOLATION);
        assert!(message_detail(&details).contains("roles"));
        p.expect_closed().await;
    }
}

#[tokio::test]
async fn protocol_violations_abort_only_the_offender() {
    let router = start_router(test_config()).await;
    let url = router.url();
    let mut by = Bystanders::start(&url).await;
    by.check().await;

    // Bad JSON.
    let (mut p, _) = Peer::join(&url, Serializer::Json, "orchard").await;
    p.send_raw(b"[16, 1, {".to_vec()).await;
    let (reason, details) = p.expect_abort().await;
    assert_eq!(reason, uris::PROTOCOL_VIOLATION);
    assert!(message_detail(&details).contains("decode"), "{details:?}");
    p.expect_closed().await;
    by.check().await;

    // Bad MessagePack.
    let (mut p, _) = Peer::join(&url, Serializer::MsgPack, "orchard").await;
    p.send_raw(vec![0xC1, 0x00]).await;
    assert_eq!(p.expect_abort().await.0, uris::PROTOCOL_VIOLATION);
    p.expect_closed().await;
    by.check().await;

    // Unknown message type.
    let (mut p, _) = Peer::join(&url, Serializer::Json, "orchard").await;
    p.send_raw(b"[999, {}]".to_vec()).await;
    let (reason, details) = p.expect_abort().await;
    assert_eq!(reason, uris::PROTOCOL_VIOLATION);
    assert!(message_detail(&details).contains("999"), "{details:?}");
    p.expect_closed().await;
    by.check().await;

    // A message before HELLO.
    let mut p = Peer::connect(&url, Serializer::Cbor).await;
    p.send(&Message::Subscribe {
        request: 1,
        options: Dict::new(),
        topic: "test.topic".into(),
    })
    .await;
    let (reason, details) = p.expect_abort().await;
    assert_eq!(reason, uris::PROTOCOL_VIOLATION);
    assert!(message_detail(&details).contains("HELLO"), "{details:?}");
    p.expect_closed().await;
    by.check().await;

    // A second HELLO; its registration is freed.
    let (mut p, _) = Peer::join(&url, Serializer::Json, "orchard").await;
    p.register("test.second_hello").await.unwrap();
    p.send(&hello("orchard")).await;
    let (reason, details) = p.expect_abort().await;
    assert_eq!(reason, uris::PROTOCOL_VIOLATION);
    assert!(message_detail(&details).contains("HELLO"), "{details:?}");
    p.expect_closed().await;
    by.check().await;
    let (mut q, _) = Peer::join(&url, Serializer::Json, "orchard").await;
    q.register("test.second_hello").await.unwrap();

    // An invalid URI is an ERROR, and the session stays.
    let (mut p, _) = Peer::join(&url, Serializer::Json, "orchard").await;
    let request = p.request();
    p.send(&Message::Subscribe {
        request,
        options: Dict::new(),
        topic: "bad topic#".into(),
    })
    .await;
    match p.recv().await {
        Message::Error {
            request_type,
            request: r,
            error,
            ..
        } => {
            assert_eq!((request_type, r), (code::SUBSCRIBE, request));
            assert_eq!(error, uris::INVALID_URI);
        }
        other => panic!("expected ERROR, got {other:?}"),
    }
    p.subscribe("test.fine").await;
    by.check().await;
}

#[tokio::test]
async fn goodbye_is_answered_and_frees_registrations() {
    let router = start_router(test_config()).await;
    let (mut p, _) = Peer::join(&router.url(), Serializer::MsgPack, "orchard").await;
    p.register("test.goodbye").await.unwrap();
    assert_eq!(router.session_count("orchard"), 1);
    p.goodbye().await;
    p.expect_closed().await;
    eventually("session gone", || router.session_count("orchard") == 0).await;
    let (mut q, _) = Peer::join(&router.url(), Serializer::Cbor, "orchard").await;
    q.register("test.goodbye").await.unwrap();
}

// ---------------------------------------------------------------------------------
// Sizes

fn small_limits() -> RouterConfig {
    RouterConfig {
        max_message_size: 4096,
        max_transport_size: Some(16384),
        ..test_config()
    }
}

#[tokio::test]
async fn oversized_requests_get_payload_size_exceeded() {
    let router = start_router(small_limits()).await;
    let url = router.url();
    let mut by = Bystanders::start(&url).await;
    let big = || vec![Value::from("x".repeat(6000))];

    let (mut p, _) = Peer::join(&url, Serializer::Json, "orchard").await;
    let expect_size_error = |m: Message, ty: u64| match m {
        Message::Error {
            request_type,
            error,
            ..
        } => {
            assert_eq!(request_type, ty);
            assert_eq!(error, uris::PAYLOAD_SIZE_EXCEEDED);
        }
        other => panic!("expected ERROR, got {other:?}"),
    };
    let m = p.call(BYSTANDER_PROC, big()).await;
    expect_size_error(m, code::CALL);

    let request = p.request();
    p.send(&Message::Publish {
        request,
        options: verger::dict! { "acknowledge" => true },
        topic: BYSTANDER_TOPIC.into(),
        payload: Payload::args(big()),
    })
    .await;
    let m = p.recv().await;
    expect_size_error(m, code::PUBLISH);

    let request = p.request();
    p.send(&Message::Register {
        request,
        options: Dict::new(),
        procedure: format!("test.{}", "p".repeat(5000)),
    })
    .await;
    let m = p.recv().await;
    expect_size_error(m, code::REGISTER);

    // The session is still usable, and so is everybody else.
    p.subscribe("test.after").await;
    by.check().await;

    // An oversized YIELD becomes an error for the caller.
    let (mut callee, _) = Peer::join(&url, Serializer::MsgPack, "orchard").await;
    callee.register("test.big_result").await.unwrap();
    let request = p.request();
    p.send(&Message::Call {
        request,
        options: Dict::new(),
        procedure: "test.big_result".into(),
        payload: Payload::default(),
    })
    .await;
    let Message::Invocation {
        request: inv_request,
        ..
    } = callee.recv().await
    else {
        panic!("expected INVOCATION")
    };
    callee
        .send(&Message::Yield {
            request: inv_request,
            options: Dict::new(),
            payload: Payload::args(big()),
        })
        .await;
    match p.recv().await {
        Message::Error {
            request_type,
            request: r,
            error,
            ..
        } => {
            assert_eq!((request_type, r), (code::CALL, request));
            assert_eq!(error, uris::PAYLOAD_SIZE_EXCEEDED);
        }
        other => panic!("expected ERROR for the caller, got {other:?}"),
    }

    // An oversized PUBLISH without acknowledge cannot be answered: ABORT.
    p.publish(BYSTANDER_TOPIC, big()).await;
    let (reason, _) = p.expect_abort().await;
    assert_eq!(reason, uris::PAYLOAD_SIZE_EXCEEDED);
    p.expect_closed().await;
    by.check().await;
}

#[tokio::test]
async fn websocket_message_over_the_transport_limit_closes_with_1009() {
    let router = start_router(small_limits()).await;
    let mut by = Bystanders::start(&router.url()).await;
    let mut req = router.url().into_client_request().unwrap();
    req.headers_mut()
        .insert("Sec-WebSocket-Protocol", "wamp.2.json".parse().unwrap());
    let (mut ws, _) = within("ws connect", tokio_tungstenite::connect_async(req))
        .await
        .unwrap();
    let hello = String::from_utf8(Serializer::Json.encode(&hello("orchard"))).unwrap();
    ws.send(WsMessage::text(hello)).await.unwrap();
    assert!(matches!(
        within("welcome", ws.next()).await,
        Some(Ok(WsMessage::Text(_)))
    ));
    let huge = format!("[16, 1, {{}}, \"test.t\", [\"{}\"]]", "x".repeat(20_000));
    ws.send(WsMessage::text(huge)).await.unwrap();
    let mut close_code = None;
    while let Some(Ok(m)) = within("close frame", ws.next()).await {
        if let WsMessage::Close(frame) = m {
            close_code = frame.map(|f| f.code);
        }
    }
    assert_eq!(close_code, Some(CloseCode::Size));
    by.check().await;
}

#[tokio::test]
async fn rawsocket_frame_over_the_announced_limit_closes_the_connection() {
    let router = start_router(small_limits()).await;
    let mut by = Bystanders::start(&router.url()).await;
    let (stream, reply) = RawRs::handshake(
        router.local_addr(),
        rawsocket::build_handshake(Serializer::Json, 1 << 24),
    )
    .await;
    let limit = rawsocket::max_len_from_exp(reply[1] >> 4);
    assert_eq!(limit, 16384);
    let mut raw = RawRs {
        stream,
        serializer: Serializer::Json,
    };
    raw.send(&hello("orchard")).await;
    assert!(matches!(raw.recv().await, Some(Message::Welcome { .. })));
    let frame = rawsocket::encode_frame(FrameKind::Message, &vec![b' '; limit + 1]).unwrap();
    let _ = raw.stream.write_all(&frame).await;
    assert_eq!(raw.recv().await, None, "the router fails the connection");
    by.check().await;
}

#[tokio::test]
async fn messages_over_a_rawsocket_peers_limit_are_not_sent() {
    let router = start_router(test_config()).await;
    // A subscriber that accepts at most 512-byte messages.
    let (stream, _) = RawRs::handshake(
        router.local_addr(),
        rawsocket::build_handshake(Serializer::Json, 512),
    )
    .await;
    let mut small = RawRs {
        stream,
        serializer: Serializer::Json,
    };
    small.send(&hello("orchard")).await;
    // The full WELCOME is larger than 512 bytes: it arrives without feature lists.
    match small.recv().await {
        Some(Message::Welcome { details, .. }) => {
            let roles = details.get("roles").and_then(Value::as_dict).unwrap();
            assert!(roles.contains_key("broker") && roles.contains_key("dealer"));
        }
        other => panic!("expected WELCOME, got {other:?}"),
    }
    small
        .send(&Message::Subscribe {
            request: 1,
            options: Dict::new(),
            topic: "test.small".into(),
        })
        .await;
    assert!(matches!(
        small.recv().await,
        Some(Message::Subscribed { .. })
    ));
    small
        .send(&Message::Register {
            request: 2,
            options: Dict::new(),
            procedure: "test.small_callee".into(),
        })
        .await;
    assert!(matches!(
        small.recv().await,
        Some(Message::Registered { .. })
    ));

    let (mut p, _) = Peer::join(&router.url(), Serializer::Json, "orchard").await;
    p.publish_acked("test.small", vec![Value::from("x".repeat(1000))])
        .await;
    p.publish_acked("test.small", vec![Value::from("small")])
        .await;
    // The big event was dropped for this subscriber only; the small one arrives.
    match small.recv().await {
        Some(Message::Event { payload, .. }) => {
            assert_eq!(payload.arg_list(), &[Value::from("small")])
        }
        other => panic!("expected the small EVENT, got {other:?}"),
    }
    // An INVOCATION too big for the callee is answered on its behalf.
    match p
        .call("test.small_callee", vec![Value::from("y".repeat(1000))])
        .await
    {
        Message::Error { error, .. } => assert_eq!(error, uris::PAYLOAD_SIZE_EXCEEDED),
        other => panic!("expected ERROR, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------
// Keepalive, slow consumers

fn short_pings() -> RouterConfig {
    RouterConfig {
        ping_interval: Duration::from_millis(100),
        ping_timeout: Duration::from_millis(400),
        ..test_config()
    }
}

#[tokio::test]
async fn half_open_peer_is_dropped_and_its_registration_freed() {
    let router = start_router(short_pings()).await;
    // A callee that registers and then goes silent (as after a network drop).
    let mut silent = RawRs::connect_small_buffer(router.local_addr(), Serializer::Json).await;
    silent.send(&hello("orchard")).await;
    assert!(matches!(silent.recv().await, Some(Message::Welcome { .. })));
    silent
        .send(&Message::Register {
            request: 1,
            options: Dict::new(),
            procedure: "test.sprayer.set_dose".into(),
        })
        .await;
    assert!(matches!(
        silent.recv().await,
        Some(Message::Registered { .. })
    ));

    // The reconnected module registers the same procedure as soon as the router has
    // given up on the silent one.
    let (mut fresh, _) = Peer::join(&router.url(), Serializer::MsgPack, "orchard").await;
    within("registration freed", async {
        loop {
            match fresh.register("test.sprayer.set_dose").await {
                Ok(_) => break,
                Err(e) => assert_eq!(e, uris::PROCEDURE_ALREADY_EXISTS),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    // The silent peer's connection was closed (after the pings it never answered).
    let mut pings = 0;
    while let Some((kind, _)) = silent.recv_frame().await {
        assert_eq!(kind, FrameKind::Ping);
        pings += 1;
    }
    assert!(pings >= 1);
}

#[tokio::test]
async fn peers_that_answer_pings_stay() {
    let router = start_router(short_pings()).await;
    let mut by = Bystanders::start(&router.url()).await;
    let (mut rs, _) = Peer::join(&router.rawsocket_url(), Serializer::Cbor, "orchard").await;
    // Idle (but reading, so pings get answered) for well over ping_timeout.
    let idle = Duration::from_millis(1200);
    let Bystanders { a, b, .. } = &mut by;
    tokio::join!(a.idle(idle), b.idle(idle), rs.idle(idle));
    by.check().await;
    rs.goodbye().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_consumer_is_cut_and_others_get_every_event() {
    let router = start_router(RouterConfig {
        outbound_queue: 8,
        ..test_config()
    })
    .await;
    let mut slow = RawRs::connect_small_buffer(router.local_addr(), Serializer::Json).await;
    slow.send(&hello("orchard")).await;
    assert!(matches!(slow.recv().await, Some(Message::Welcome { .. })));
    slow.send(&Message::Subscribe {
        request: 1,
        options: Dict::new(),
        topic: "test.flood".into(),
    })
    .await;
    assert!(matches!(
        slow.recv().await,
        Some(Message::Subscribed { .. })
    ));
    // From here on, `slow` reads nothing.

    let (mut good, _) = Peer::join(&router.url(), Serializer::MsgPack, "orchard").await;
    good.subscribe("test.flood").await;
    let (mut publisher, _) = Peer::join(&router.url(), Serializer::MsgPack, "orchard").await;
    assert_eq!(router.session_count("orchard"), 3);

    // 200 events of 64 KiB: far more than the slow peer's queue and socket buffers.
    const EVENTS: u64 = 200;
    let blob = "x".repeat(64 * 1024);
    for i in 0..EVENTS {
        publisher
            .publish(
                "test.flood",
                vec![Value::from(i), Value::from(blob.as_str())],
            )
            .await;
        let payload = good.expect_event().await;
        assert_eq!(payload.arg_list()[0], Value::from(i));
    }
    eventually("slow consumer cut", || router.session_count("orchard") == 2).await;

    // The slow peer got part of the events, then (maybe) the ABORT, then the close.
    let mut events = 0;
    let mut abort = None;
    within_for(Duration::from_secs(20), "drain the slow peer", async {
        while let Some((kind, payload)) = slow.recv_frame().await {
            if kind != FrameKind::Message {
                continue;
            }
            match Serializer::Json.decode(&payload) {
                Ok(Message::Event { .. }) => events += 1,
                Ok(Message::Abort { reason, .. }) => abort = Some(reason),
                _ => {}
            }
        }
    })
    .await;
    assert!(
        events < EVENTS,
        "the slow peer cannot have received everything"
    );
    if let Some(reason) = abort {
        assert_eq!(reason, uris::CLOSE_SLOW_CONSUMER);
    }
    // Everybody else carries on.
    publisher
        .publish_acked("test.flood", vec![Value::from("after")])
        .await;
    assert_eq!(
        good.expect_event().await.arg_list(),
        &[Value::from("after")]
    );
}

// ---------------------------------------------------------------------------------
// Shutdown

#[tokio::test]
async fn graceful_shutdown_says_goodbye_to_every_session() {
    let router = start_router(test_config()).await;
    let addr = router.local_addr();
    let (mut a, _) = Peer::join(&router.url(), Serializer::Json, "orchard").await;
    let (mut b, _) = Peer::join(&router.rawsocket_url(), Serializer::MsgPack, "orchard").await;
    let shutdown = tokio::spawn(router.shutdown());
    for p in [&mut a, &mut b] {
        match p.recv().await {
            Message::Goodbye { reason, .. } => assert_eq!(reason, uris::CLOSE_SYSTEM_SHUTDOWN),
            other => panic!("expected GOODBYE, got {other:?}"),
        }
        p.send(&Message::Goodbye {
            details: Dict::new(),
            reason: uris::CLOSE_GOODBYE_AND_OUT.into(),
        })
        .await;
        p.expect_closed().await;
    }
    within("router stops", shutdown).await.unwrap().unwrap();
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn shutdown_does_not_wait_forever_for_silent_sessions() {
    let router = start_router(RouterConfig {
        shutdown_timeout: Duration::from_millis(300),
        ..test_config()
    })
    .await;
    let (mut p, _) = Peer::join(&router.url(), Serializer::Cbor, "orchard").await;
    // A connection that never even completes its handshake.
    let _idle = tokio::net::TcpStream::connect(router.local_addr())
        .await
        .unwrap();
    within("router stops", router.shutdown()).await.unwrap();
    let seen = p.expect_closed().await;
    assert!(matches!(
        seen.first(),
        Some(Message::Goodbye { reason, .. }) if reason == uris::CLOSE_SYSTEM_SHUTDOWN
    ));
}

// ---------------------------------------------------------------------------------
// Serializer interop

#[tokio::test]
async fn binary_payload_crosses_serializers() {
    let router = start_router(test_config()).await;
    let url = router.url();
    let (mut json, _) = Peer::join(&url, Serializer::Json, "orchard").await;
    json.subscribe("test.binary").await;
    let (mut cbor, _) = Peer::join(&url, Serializer::Cbor, "orchard").await;
    cbor.subscribe("test.binary").await;
    let (mut msgpack, _) = Peer::join(&url, Serializer::MsgPack, "orchard").await;
    let bytes = vec![0u8, 1, 2, 0xFF];
    msgpack
        .publish_acked("test.binary", vec![Value::Bytes(bytes.clone())])
        .await;

    let raw = json.recv_raw().await.expect("event for the JSON session");
    let text = String::from_utf8(raw).unwrap();
    assert!(text.contains("\"\\u0000AAEC/w==\""), "{text}");
    assert_eq!(cbor.expect_event().await.arg_list(), &[Value::Bytes(bytes)]);
}

// ---------------------------------------------------------------------------------
// The binary

#[tokio::test]
async fn verger_router_binary_announces_its_port_and_stops_on_sigterm() {
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_verger"))
        .args(["router", "--listen", "127.0.0.1:0"])
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("start verger");
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let line = within("banner", lines.next_line())
        .await
        .unwrap()
        .expect("one line on stdout");
    assert!(
        line.starts_with("verger router listening on ws://127.0.0.1:")
            && line.ends_with("/ws (realms: orchard)"),
        "{line}"
    );
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("ws://"))
        .unwrap()
        .to_owned();
    let (mut p, _) = Peer::join(&url, Serializer::Json, "orchard").await;

    let pid = child.id().expect("pid").to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(status.success());
    match p.recv().await {
        Message::Goodbye { reason, .. } => assert_eq!(reason, uris::CLOSE_SYSTEM_SHUTDOWN),
        other => panic!("expected GOODBYE, got {other:?}"),
    }
    p.send(&Message::Goodbye {
        details: Dict::new(),
        reason: uris::CLOSE_GOODBYE_AND_OUT.into(),
    })
    .await;
    p.expect_closed().await;
    let status = within("verger exits", child.wait()).await.unwrap();
    assert!(status.success(), "{status:?}");
    assert_eq!(
        within("stdout end", lines.next_line()).await.unwrap(),
        None,
        "exactly one line on stdout"
    );
}

#[tokio::test]
async fn verger_binary_reports_bad_configuration_in_one_line() {
    let out = within(
        "verger",
        tokio::process::Command::new(env!("CARGO_BIN_EXE_verger"))
            .args(["router", "--listen", "127.0.0.1:0", "--realm", "bad realm"])
            .output(),
    )
    .await
    .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("realms"), "{stderr}");
    assert!(out.stdout.is_empty());

    let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/router.toml");
    let out = within(
        "verger config check",
        tokio::process::Command::new(env!("CARGO_BIN_EXE_verger"))
            .args(["config", "check", shipped])
            .output(),
    )
    .await
    .unwrap();
    assert!(out.status.success(), "{out:?}");
}

// ---------------------------------------------------------------------------------
// Payload transparency (issue 7): payloads arrive exactly as sent between peers of one
// serializer, and converted as docs/router.md says between the others.

fn unhex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// A message of `s`: the `header` elements, then `payload`, `n` elements already
/// encoded in `s` (so that the test controls every byte of them).
fn with_payload(s: Serializer, header: Vec<Value>, payload: &[u8], n: u8) -> Vec<u8> {
    let mut bytes = s.encode_value(&Value::List(header));
    if s == Serializer::Json {
        bytes.pop(); // the closing bracket
        bytes.push(b',');
        bytes.extend_from_slice(payload);
        bytes.push(b']');
    } else {
        // A short array's length lives in its first byte (CBOR 0x80 | n, MessagePack
        // 0x90 | n).
        bytes[0] += n;
        bytes.extend_from_slice(payload);
    }
    bytes
}

/// What a message carrying `payload` ends with in `s`.
fn ends_with_payload(s: Serializer, bytes: &[u8], payload: &[u8]) -> bool {
    match s {
        Serializer::Json => bytes
            .strip_suffix(b"]")
            .is_some_and(|b| b.ends_with(payload)),
        _ => bytes.ends_with(payload),
    }
}

/// Per serializer: (args and kwargs exactly as a peer may write them, element count).
fn exact_payloads() -> Vec<(Serializer, Vec<u8>)> {
    vec![
        (
            Serializer::Cbor,
            unhex(concat!(
                "87",                                 // args:
                "c249010000000000000000",             // 2^64
                "c250ffffffffffffffffffffffffffffffff", // 2^128 - 1
                "c349010000000000000000",             // -2^64 - 1
                "d8404401020304",                     // tag 64: uint8 typed array
                "c24105",                             // 5 as a bignum
                "fa3fc00000",                         // 1.5 as a single float
                "f7",                                 // undefined
                "a3",                                 // kwargs, canonical key order:
                "616201",                             // "b": 1,
                "616ba2016161026162",                 // "k": {1: "a", 2: "b"},
                "62616102",                           // "aa": 2
            )),
        ),
        (
            Serializer::MsgPack,
            unhex(
                "93 d60501020304 d6ff5f5e1000 ca3fc00000
                 83 a16d 8201a16102a162 a16201 a16102",
            ),
        ),
        (
            Serializer::Json,
            br#"[18446744073709551616, 1.10, -0, 1E2, "\u00e9", 340282366920938463463374607431768211455] , {"b": 1, "a": [-18446744073709551617]}"#
                .to_vec(),
        ),
    ]
}

#[tokio::test]
async fn same_serializer_payloads_arrive_byte_for_byte() {
    let router = start_router(test_config()).await;
    let url = router.url();
    for (s, payload) in exact_payloads() {
        let (mut callee, _) = Peer::join(&url, s, "orchard").await;
        let registration = callee.register("test.exact").await.unwrap();
        let (mut subscriber, _) = Peer::join(&url, s, "orchard").await;
        subscriber.subscribe("test.exact").await;
        let (mut caller, _) = Peer::join(&url, s, "orchard").await;

        // CALL -> INVOCATION
        let call = with_payload(
            s,
            vec![
                code::CALL.into(),
                1u64.into(),
                Dict::new().into(),
                "test.exact".into(),
            ],
            &payload,
            2,
        );
        caller.send_raw(call).await;
        let invocation = callee.recv_raw().await.expect("INVOCATION");
        assert!(
            ends_with_payload(s, &invocation, &payload),
            "{s:?}: INVOCATION {invocation:02x?}"
        );
        let request = match s.decode(&invocation).unwrap() {
            Message::Invocation {
                request,
                registration: r,
                ..
            } => {
                assert_eq!(r, registration);
                request
            }
            other => panic!("{s:?}: expected INVOCATION, got {other:?}"),
        };
        // YIELD -> RESULT
        let yield_ = with_payload(
            s,
            vec![code::YIELD.into(), request.into(), Dict::new().into()],
            &payload,
            2,
        );
        callee.send_raw(yield_).await;
        let result = caller.recv_raw().await.expect("RESULT");
        assert!(
            ends_with_payload(s, &result, &payload),
            "{s:?}: RESULT {result:02x?}"
        );
        assert!(matches!(
            s.decode(&result).unwrap(),
            Message::Result { request: 1, .. }
        ));

        // PUBLISH -> EVENT
        let publish = with_payload(
            s,
            vec![
                code::PUBLISH.into(),
                2u64.into(),
                verger::dict! {"acknowledge" => true}.into(),
                "test.exact".into(),
            ],
            &payload,
            2,
        );
        caller.send_raw(publish).await;
        assert!(matches!(
            caller.recv().await,
            Message::Published { request: 2, .. }
        ));
        let event = subscriber.recv_raw().await.expect("EVENT");
        assert!(
            ends_with_payload(s, &event, &payload),
            "{s:?}: EVENT {event:02x?}"
        );
        assert!(matches!(s.decode(&event).unwrap(), Message::Event { .. }));
    }
}

#[tokio::test]
async fn payloads_convert_across_serializers_as_documented() {
    let router = start_router(test_config()).await;
    let url = router.url();
    let mut peers = Vec::new();
    for s in Serializer::ALL {
        let (mut p, _) = Peer::join(&url, s, "orchard").await;
        p.subscribe("test.convert").await;
        peers.push(p);
    }
    let big = |text: &str| match Serializer::Json.decode_value(text.as_bytes()).unwrap() {
        v @ Value::BigInt(_) => v,
        other => panic!("{other:?}"),
    };
    let string = |text: &str| Value::Str(text.into());
    // (publisher's serializer, its args, what JSON subscribers read, what MessagePack
    // and CBOR subscribers decode; None for the publisher's own serializer).
    type Row = (
        Serializer,
        Vec<u8>,
        Option<&'static str>,
        Option<Vec<Value>>,
        Option<Vec<Value>>,
    );
    let rows: Vec<Row> = vec![
        (
            Serializer::Cbor,
            unhex(
                "89 c249010000000000000000 c250ffffffffffffffffffffffffffffffff
                 c349010000000000000000 d8404401020304 a2016161026162 f7 f97e00
                 fa3fc00000 c11a6553f100",
            ),
            Some(concat!(
                r#"[18446744073709551616,340282366920938463463374607431768211455,"#,
                r#"-18446744073709551617,"\u0000AQIDBA==",{"1":"a","2":"b"},null,null,1.5,"#,
                r#"1700000000]"#
            )),
            Some(vec![
                string("18446744073709551616"),
                string("340282366920938463463374607431768211455"),
                string("-18446744073709551617"),
                Value::Bytes(vec![1, 2, 3, 4]),
                Value::Map(vec![(1u8.into(), "a".into()), (2u8.into(), "b".into())]),
                Value::Null,
                Value::Float(f64::NAN),
                Value::Float(1.5),
                Value::UInt(1_700_000_000),
            ]),
            None,
        ),
        (
            Serializer::MsgPack,
            unhex("93 d60501020304 8101a161 ca3fc00000"),
            Some(r#"["\u0000AQIDBA==",{"1":"a"},1.5]"#),
            None,
            Some(vec![
                Value::Bytes(vec![1, 2, 3, 4]),
                Value::Map(vec![(1u8.into(), "a".into())]),
                Value::Float(1.5),
            ]),
        ),
        (
            Serializer::Json,
            br#"[18446744073709551616,-18446744073709551617,1.5]"#.to_vec(),
            None,
            Some(vec![
                string("18446744073709551616"),
                string("-18446744073709551617"),
                Value::Float(1.5),
            ]),
            Some(vec![
                big("18446744073709551616"),
                big("-18446744073709551617"),
                Value::Float(1.5),
            ]),
        ),
    ];
    let same = |a: &[Value], b: &[Value]| {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| {
            x == y
                || matches!((x, y), (Value::Float(p), Value::Float(q)) if p.is_nan() && q.is_nan())
        })
    };
    for (request, (from, args, json, msgpack, cbor)) in rows.into_iter().enumerate() {
        let publisher = Serializer::ALL.iter().position(|s| *s == from).unwrap();
        let publish = with_payload(
            from,
            vec![
                code::PUBLISH.into(),
                (request as u64 + 1).into(),
                Dict::new().into(),
                "test.convert".into(),
            ],
            &args,
            1,
        );
        peers[publisher].send_raw(publish).await;
        for (i, p) in peers.iter_mut().enumerate() {
            if i == publisher {
                continue;
            }
            let s = p.serializer();
            let raw = p.recv_raw().await.expect("EVENT");
            match s {
                Serializer::Json => {
                    let text = String::from_utf8(raw).unwrap();
                    let want = json.unwrap();
                    assert!(
                        text.ends_with(&format!("{want}]")),
                        "{from:?} -> JSON: {text}"
                    );
                }
                _ => {
                    let got = match s.decode(&raw).unwrap() {
                        Message::Event { payload, .. } => payload.args.unwrap(),
                        other => panic!("{other:?}"),
                    };
                    let want = if s == Serializer::MsgPack {
                        &msgpack
                    } else {
                        &cbor
                    };
                    let want = want.as_ref().unwrap();
                    assert!(same(&got, want), "{from:?} -> {s:?}: {got:?}");
                }
            }
        }
    }
    // A JSON integer beyond 64 bits becomes a CBOR bignum, byte for byte.
    peers[0]
        .send_raw(br#"[16,9,{},"test.convert",[18446744073709551616]]"#.to_vec())
        .await;
    peers[1].recv_raw().await.expect("EVENT (msgpack)");
    let cbor = peers[2].recv_raw().await.expect("EVENT (cbor)");
    assert!(
        cbor.ends_with(&unhex("81c249010000000000000000")),
        "{cbor:02x?}"
    );
}

#[tokio::test]
async fn ids_out_of_range_are_named_with_their_value() {
    let router = start_router(test_config()).await;
    for (bytes, expected) in [
        (
            &br#"[32,0,{},"test.t"]"#[..],
            "(Request) must be an ID in [1, 2^53], got 0",
        ),
        (
            br#"[48,18446744073709551616,{},"test.p"]"#,
            "(Request) must be an ID in [1, 2^53], got 18446744073709551616",
        ),
    ] {
        let (mut p, _) = Peer::join(&router.url(), Serializer::Json, "orchard").await;
        p.send_raw(bytes.to_vec()).await;
        let (reason, details) = p.expect_abort().await;
        assert_eq!(reason, uris::PROTOCOL_VIOLATION);
        let message = message_detail(&details);
        assert!(message.contains(expected), "{message}");
        assert!(!message.contains("float"), "{message}");
    }
}

// ---------------------------------------------------------------------------------
// WebSocket closing handshake and invalid text (issue 7)

type RawWs =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn raw_ws(url: &str) -> RawWs {
    let mut req = url.into_client_request().unwrap();
    req.headers_mut()
        .insert("Sec-WebSocket-Protocol", "wamp.2.json".parse().unwrap());
    within("ws connect", tokio_tungstenite::connect_async(req))
        .await
        .unwrap()
        .0
}

async fn ws_send_json(ws: &mut RawWs, message: &Message) {
    let text = String::from_utf8(Serializer::Json.encode(message)).unwrap();
    within("send", ws.send(WsMessage::text(text)))
        .await
        .unwrap();
}

async fn ws_recv_json(ws: &mut RawWs) -> Message {
    match within("receive", ws.next()).await {
        Some(Ok(WsMessage::Text(t))) => Serializer::Json.decode(t.as_bytes()).unwrap(),
        other => panic!("expected a WAMP message, got {other:?}"),
    }
}

/// Read up to the router's Close frame, then the end of the connection. Returns the
/// messages before it and the frame. Fails if the TCP connection ends first.
/// `we_closed`: we sent Close first, so after the answer the end must be clean.
async fn close_frame_then_eof(
    ws: &mut RawWs,
    we_closed: bool,
) -> (Vec<WsMessage>, Option<tungstenite::protocol::CloseFrame>) {
    let mut before = Vec::new();
    loop {
        match within("close frame", ws.next()).await {
            Some(Ok(WsMessage::Close(frame))) => {
                let end = within("end of the connection", ws.next()).await;
                if we_closed {
                    assert!(end.is_none(), "after the closing handshake: {end:?}");
                } else {
                    // Our answer may meet a socket the router already closed.
                    assert!(
                        matches!(end, None | Some(Err(tungstenite::Error::Io(_)))),
                        "after the router's Close: {end:?}"
                    );
                }
                return (before, frame);
            }
            Some(Ok(m)) => before.push(m),
            other => panic!("the connection ended without a Close frame: {other:?}"),
        }
    }
}

fn close_with(code: u16, reason: &str) -> WsMessage {
    WsMessage::Close(Some(tungstenite::protocol::CloseFrame {
        code: CloseCode::from(code),
        reason: reason.into(),
    }))
}

#[tokio::test]
async fn websocket_close_is_answered_before_hello_and_after_welcome() {
    let router = start_router(test_config()).await;
    let mut by = Bystanders::start(&router.url()).await;
    // Before HELLO.
    let mut ws = raw_ws(&router.url()).await;
    within("close", ws.send(close_with(4000, "bye")))
        .await
        .unwrap();
    let (before, frame) = close_frame_then_eof(&mut ws, true).await;
    assert!(before.is_empty(), "{before:?}");
    assert_eq!(frame.map(|f| u16::from(f.code)), Some(4000));

    // After WELCOME, with the usual codes.
    for code in [1000, 1001] {
        let mut ws = raw_ws(&router.url()).await;
        ws_send_json(&mut ws, &hello("orchard")).await;
        assert!(matches!(
            ws_recv_json(&mut ws).await,
            Message::Welcome { .. }
        ));
        within("close", ws.send(close_with(code, "")))
            .await
            .unwrap();
        let (before, frame) = close_frame_then_eof(&mut ws, true).await;
        assert!(before.is_empty(), "{before:?}");
        assert_eq!(frame.map(|f| u16::from(f.code)), Some(code));
    }
    // Without a status code, the answer has none either.
    let mut ws = raw_ws(&router.url()).await;
    within("close", ws.send(WsMessage::Close(None)))
        .await
        .unwrap();
    let (_, frame) = close_frame_then_eof(&mut ws, true).await;
    assert_eq!(frame, None);
    eventually("sessions left", || router.session_count("orchard") == 2).await;
    by.check().await;
}

#[tokio::test]
async fn websocket_close_is_answered_during_goodbye() {
    let router = start_router(test_config()).await;
    // After the client's GOODBYE: the router answers GOODBYE, then closes; a Close
    // from the client right after its GOODBYE meets a Close frame either way.
    let mut ws = raw_ws(&router.url()).await;
    ws_send_json(&mut ws, &hello("orchard")).await;
    assert!(matches!(
        ws_recv_json(&mut ws).await,
        Message::Welcome { .. }
    ));
    ws_send_json(
        &mut ws,
        &Message::Goodbye {
            details: Dict::new(),
            reason: uris::CLOSE_CLOSE_REALM.into(),
        },
    )
    .await;
    within("close", ws.send(close_with(1000, "")))
        .await
        .unwrap();
    let (before, frame) = close_frame_then_eof(&mut ws, true).await;
    assert!(
        matches!(before.as_slice(), [WsMessage::Text(t)] if t.contains(uris::CLOSE_GOODBYE_AND_OUT)),
        "{before:?}"
    );
    assert_eq!(frame.map(|f| f.code), Some(CloseCode::Normal));

    // While the router waits for the GOODBYE of its shutdown.
    let mut ws = raw_ws(&router.url()).await;
    ws_send_json(&mut ws, &hello("orchard")).await;
    assert!(matches!(
        ws_recv_json(&mut ws).await,
        Message::Welcome { .. }
    ));
    let shutdown = tokio::spawn(router.shutdown());
    match ws_recv_json(&mut ws).await {
        Message::Goodbye { reason, .. } => assert_eq!(reason, uris::CLOSE_SYSTEM_SHUTDOWN),
        other => panic!("expected GOODBYE, got {other:?}"),
    }
    within("close", ws.send(close_with(4001, "leaving")))
        .await
        .unwrap();
    let (before, frame) = close_frame_then_eof(&mut ws, true).await;
    assert!(before.is_empty(), "{before:?}");
    assert_eq!(frame.map(|f| u16::from(f.code)), Some(4001));
    within("router stops", shutdown).await.unwrap().unwrap();
}

fn text_frame(bytes: &[u8], fin: bool) -> WsMessage {
    use tungstenite::protocol::frame::{coding, Frame};
    WsMessage::Frame(Frame::message(
        bytes.to_vec(),
        coding::OpCode::Data(coding::Data::Text),
        fin,
    ))
}

fn continuation_frame(bytes: &[u8], fin: bool) -> WsMessage {
    use tungstenite::protocol::frame::{coding, Frame};
    WsMessage::Frame(Frame::message(
        bytes.to_vec(),
        coding::OpCode::Data(coding::Data::Continue),
        fin,
    ))
}

#[tokio::test]
async fn invalid_utf8_in_text_closes_with_1007_at_once() {
    let router = start_router(test_config()).await;
    let mut by = Bystanders::start(&router.url()).await;
    let cases: Vec<(&str, Vec<WsMessage>)> = vec![
        ("whole message", vec![text_frame(b"[1,\"\xff\",{}]", true)]),
        // Only the first fragment, already bad: no need to wait for the rest.
        (
            "first fragment",
            vec![text_frame(b"[16,1,{},\"t\",[\"\xc3\x28", false)],
        ),
        // A sequence started in one fragment and broken in the next (not final).
        (
            "across fragments",
            vec![
                text_frame(b"[16,1,{},\"t\",[\"\xe2\x82", false),
                continuation_frame(b"\x28\"]", false),
            ],
        ),
    ];
    for (what, frames) in cases {
        let mut ws = raw_ws(&router.url()).await;
        ws_send_json(&mut ws, &hello("orchard")).await;
        assert!(matches!(
            ws_recv_json(&mut ws).await,
            Message::Welcome { .. }
        ));
        for f in frames {
            within("send", ws.send(f)).await.unwrap();
        }
        let (before, frame) = close_frame_then_eof(&mut ws, false).await;
        // No ABORT or any other WAMP message first: the transport fails.
        assert!(before.is_empty(), "{what}: {before:?}");
        assert_eq!(frame.map(|f| f.code), Some(CloseCode::Invalid), "{what}");
    }
    // Valid text split anywhere, even inside a character, is fine.
    let (mut p, _) = Peer::join(&router.url(), Serializer::Json, "orchard").await;
    p.subscribe("test.utf8").await;
    let mut ws = raw_ws(&router.url()).await;
    ws_send_json(&mut ws, &hello("orchard")).await;
    assert!(matches!(
        ws_recv_json(&mut ws).await,
        Message::Welcome { .. }
    ));
    within(
        "send",
        ws.send(text_frame(b"[16,1,{},\"test.utf8\",[\"\xc3", false)),
    )
    .await
    .unwrap();
    within("send", ws.send(continuation_frame(b"\xa9\"]]", true)))
        .await
        .unwrap();
    assert_eq!(p.expect_event().await.arg_list(), &[Value::from("é")]);
    by.check().await;
}

// ---------------------------------------------------------------------------------
// Bounds in bytes (issue 7): slow consumers, delivery policies, outgoing sizes, caps

/// 256 KiB per session (messages up to 64 KiB), for floods of 32 KiB events.
fn small_queues() -> RouterConfig {
    RouterConfig {
        max_message_size: 64 * 1024,
        outbound_queue_bytes: 256 * 1024,
        ..test_config()
    }
}

/// A RawSocket subscriber with a small receive buffer (it stops reading when the test
/// stops calling `recv`), subscribed to `topic` with `options`.
async fn raw_subscriber(addr: std::net::SocketAddr, topic: &str, options: Dict) -> RawRs {
    let mut raw = RawRs::connect_small_buffer(addr, Serializer::Json).await;
    raw.send(&hello("orchard")).await;
    assert!(matches!(raw.recv().await, Some(Message::Welcome { .. })));
    raw.send(&Message::Subscribe {
        request: 1,
        options,
        topic: topic.into(),
    })
    .await;
    match raw.recv().await {
        Some(Message::Subscribed { .. }) => {}
        other => panic!("expected SUBSCRIBED, got {other:?}"),
    }
    raw
}

/// Everything a peer that stopped reading gets once it reads again, to the end of the
/// stream.
async fn drain_raw(raw: &mut RawRs) -> Vec<Message> {
    within_for(Duration::from_secs(30), "drain a slow peer", async {
        let mut seen = Vec::new();
        while let Some((kind, payload)) = raw.recv_frame().await {
            if kind == FrameKind::Message {
                seen.push(raw.serializer.decode(&payload).expect("decode"));
            }
        }
        seen
    })
    .await
}

/// (first argument, `details.dropped`) of an EVENT.
fn event_number(m: &Message) -> (u64, u64) {
    match m {
        Message::Event {
            payload, details, ..
        } => (
            payload.arg_list()[0].as_u64().expect("event number"),
            details.get("dropped").and_then(Value::as_u64).unwrap_or(0),
        ),
        other => panic!("expected EVENT, got {other:?}"),
    }
}

/// The ABORT a cut slow consumer gets last: its reason and the bound it went over.
fn assert_slow_consumer_abort(m: &Message, bound: &str) {
    match m {
        Message::Abort { reason, details } => {
            assert_eq!(reason, uris::CLOSE_SLOW_CONSUMER);
            let text = message_detail(details);
            assert!(text.contains(bound), "{text}");
        }
        other => panic!("expected ABORT last, got {other:?}"),
    }
}

/// Publish event `i` with `blob` and wait until `reader` got it: the publisher never
/// outruns the subscriber that reads, only the ones that stopped.
async fn publish_in_step(publisher: &mut Peer, reader: &mut Peer, topic: &str, i: u64, blob: &str) {
    publisher
        .publish(topic, vec![Value::from(i), Value::from(blob)])
        .await;
    loop {
        let payload = reader.expect_event().await;
        if payload.arg_list()[0] == Value::from(i) {
            break;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_slow_consumer_gets_abort_after_its_buffered_events_and_its_bytes_return() {
    let config = RouterConfig {
        outbound_budget: 1024 * 1024,
        ..small_queues()
    };
    let router = start_router(config.clone()).await;
    let mut slow = raw_subscriber(router.local_addr(), "test.flood", Dict::new()).await;
    // From here on, `slow` reads nothing.
    let (mut good, _) = Peer::join(&router.url(), Serializer::MsgPack, "orchard").await;
    good.subscribe("test.flood").await;
    let (mut publisher, _) = Peer::join(&router.url(), Serializer::MsgPack, "orchard").await;

    // 32 KiB events until the slow subscriber is cut; the good one gets every one.
    let blob = "x".repeat(32 * 1024);
    let mut sent = 0;
    while router.session_count("orchard") == 3 {
        assert!(sent < 2000, "the slow subscriber was never cut");
        publish_in_step(&mut publisher, &mut good, "test.flood", sent, &blob).await;
        sent += 1;
    }
    // Memory stayed within one session's bound (plus messages being written), far
    // below the budget, whatever the flood's length.
    let peak = router.outbound_bytes_peak();
    assert!(peak <= config.outbound_budget, "{peak}");
    assert!(
        peak <= config.outbound_queue_bytes + 4 * 40 * 1024,
        "peak {peak}"
    );

    // Reading again, the slow peer gets what its socket buffered, then the ABORT,
    // then the end of the stream: it can tell the cut from a crash.
    let seen = drain_raw(&mut slow).await;
    let (last, before) = seen.split_last().expect("messages after the cut");
    assert_slow_consumer_abort(last, "outbound_queue_bytes");
    let numbers: Vec<u64> = before.iter().map(|m| event_number(m).0).collect();
    assert!(!numbers.is_empty() && (numbers.len() as u64) < sent);
    assert!(
        numbers.windows(2).all(|w| w[0] + 1 == w[1]),
        "in order, no gap"
    );
    // Every byte queued for the cut session went back to the budget.
    eventually("the accounted bytes return to 0", || {
        router.outbound_bytes() == 0
    })
    .await;
    publisher
        .publish_acked("test.flood", vec![Value::from(u64::MAX)])
        .await;
    assert_eq!(
        good.expect_event().await.arg_list()[0],
        Value::from(u64::MAX)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_websocket_consumer_gets_abort_then_a_close_frame() {
    let router = start_router(small_queues()).await;
    // A WebSocket client with a small receive buffer, which stops reading.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = within("connect", socket.connect(router.local_addr()))
        .await
        .unwrap();
    let mut req = router.url().into_client_request().unwrap();
    req.headers_mut()
        .insert("Sec-WebSocket-Protocol", "wamp.2.json".parse().unwrap());
    let (mut ws, _) = within("ws handshake", tokio_tungstenite::client_async(req, stream))
        .await
        .unwrap();
    let text =
        |m: &Message| WsMessage::text(String::from_utf8(Serializer::Json.encode(m)).unwrap());
    ws.send(text(&hello("orchard"))).await.unwrap();
    within("welcome", ws.next()).await.unwrap().unwrap();
    ws.send(text(&Message::Subscribe {
        request: 1,
        options: Dict::new(),
        topic: "test.flood".into(),
    }))
    .await
    .unwrap();
    within("subscribed", ws.next()).await.unwrap().unwrap();

    let (mut good, _) = Peer::join(&router.url(), Serializer::MsgPack, "orchard").await;
    good.subscribe("test.flood").await;
    let (mut publisher, _) = Peer::join(&router.url(), Serializer::MsgPack, "orchard").await;
    let blob = "x".repeat(32 * 1024);
    let mut sent = 0;
    while router.session_count("orchard") == 3 {
        assert!(sent < 2000, "the slow subscriber was never cut");
        publish_in_step(&mut publisher, &mut good, "test.flood", sent, &blob).await;
        sent += 1;
    }

    let mut events = 0;
    let mut abort = None;
    let mut close = None;
    within_for(Duration::from_secs(30), "drain the WebSocket", async {
        while let Some(Ok(frame)) = ws.next().await {
            match frame {
                WsMessage::Text(t) => match Serializer::Json.decode(t.as_bytes()).unwrap() {
                    Message::Event { .. } => {
                        assert!(abort.is_none(), "no EVENT after the ABORT");
                        events += 1;
                    }
                    m @ Message::Abort { .. } => abort = Some(m),
                    other => panic!("unexpected {other:?}"),
                },
                WsMessage::Close(frame) => close = frame.map(|f| f.code),
                _ => {}
            }
        }
    })
    .await;
    assert!(events < sent);
    assert_slow_consumer_abort(&abort.expect("an ABORT"), "slow consumer");
    assert_eq!(close, Some(CloseCode::Policy));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_readers_stopping_on_500_kb_events_keep_the_router_bounded() {
    // The issue's flood, with the default bounds (4 MiB per session, 64 MiB budget).
    let config = test_config();
    let router = start_router(config.clone()).await;
    let mut slow = Vec::new();
    for _ in 0..3 {
        slow.push(raw_subscriber(router.local_addr(), "test.big", Dict::new()).await);
    }
    let mut by = Bystanders::start(&router.url()).await;
    let (mut good, _) = Peer::join(&router.url(), Serializer::MsgPack, "orchard").await;
    good.subscribe("test.big").await;
    let (mut publisher, _) = Peer::join(&router.url(), Serializer::MsgPack, "orchard").await;
    let everybody = router.session_count("orchard");

    let blob = "x".repeat(500_000);
    let mut sent = 0;
    while router.session_count("orchard") > everybody - 3 {
        assert!(sent < 500, "the slow subscribers were never cut");
        publish_in_step(&mut publisher, &mut good, "test.big", sent, &blob).await;
        sent += 1;
    }
    let peak = router.outbound_bytes_peak();
    assert!(peak < 100_000_000, "peak {peak}");
    assert!(peak <= config.outbound_budget, "peak {peak}");
    for s in &mut slow {
        let seen = drain_raw(s).await;
        assert_slow_consumer_abort(seen.last().expect("the ABORT"), "outbound_queue_bytes");
    }
    eventually("the accounted bytes return to 0", || {
        router.outbound_bytes() == 0
    })
    .await;
    by.check().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_oldest_subscriber_is_never_cut_and_counts_what_it_missed() {
    let router = start_router(small_queues()).await;
    let options = verger::dict! { "delivery" => "drop_oldest" };
    let mut slow = raw_subscriber(router.local_addr(), "test.flood", options).await;
    let (mut good, _) = Peer::join(&router.url(), Serializer::MsgPack, "orchard").await;
    good.subscribe("test.flood").await;
    let (mut publisher, _) = Peer::join(&router.url(), Serializer::MsgPack, "orchard").await;

    // Far more than the queue and the sockets hold.
    const EVENTS: u64 = 400;
    let blob = "x".repeat(32 * 1024);
    for i in 0..EVENTS {
        publish_in_step(&mut publisher, &mut good, "test.flood", i, &blob).await;
    }
    assert_eq!(router.session_count("orchard"), 3, "never cut");
    // While behind, the subscriber holds at most its bound (plus, at most, the last
    // event of the reading subscriber, until its writer has counted it as written).
    let held = router.outbound_bytes();
    assert!(held <= 256 * 1024 + 34 * 1024, "{held}");

    // Reading again: in order, the newest last, and every event either delivered or
    // counted in `dropped` of the next delivered one.
    let mut numbers = Vec::new();
    let mut accounted = 0;
    while numbers.last() != Some(&(EVENTS - 1)) {
        let (n, dropped) = event_number(&slow.recv().await.expect("an EVENT"));
        numbers.push(n);
        accounted += 1 + dropped;
    }
    assert!(numbers.windows(2).all(|w| w[0] < w[1]), "{numbers:?}");
    assert!(numbers.len() < EVENTS as usize, "some were dropped");
    assert_eq!(accounted, EVENTS);
    // Caught up, it gets the next event as usual.
    publish_in_step(&mut publisher, &mut good, "test.flood", EVENTS, "").await;
    assert_eq!(
        event_number(&slow.recv().await.expect("an EVENT")),
        (EVENTS, 0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latest_subscriber_gets_the_newest_event_per_topic() {
    let router = start_router(small_queues()).await;
    let options = verger::dict! { "delivery" => "latest", "match" => "prefix" };
    let mut slow = raw_subscriber(router.local_addr(), "test.fix.", options).await;
    let (mut good, _) = Peer::join(&router.url(), Serializer::MsgPack, "orchard").await;
    let request = good.request();
    good.send(&Message::Subscribe {
        request,
        options: verger::dict! { "match" => "prefix" },
        topic: "test.fix.".into(),
    })
    .await;
    assert!(matches!(good.recv().await, Message::Subscribed { .. }));
    let (mut publisher, _) = Peer::join(&router.url(), Serializer::MsgPack, "orchard").await;

    // Two receivers' positions, alternating: even numbers on .a, odd ones on .b.
    const EVENTS: u64 = 400;
    let blob = "x".repeat(32 * 1024);
    let topic = |i: u64| {
        if i % 2 == 0 {
            "test.fix.a"
        } else {
            "test.fix.b"
        }
    };
    for i in 0..EVENTS {
        publish_in_step(&mut publisher, &mut good, topic(i), i, &blob).await;
    }
    assert_eq!(router.session_count("orchard"), 3, "never cut");
    // Behind, it holds at most one event per topic besides the one being written
    // (plus, at most, the reading subscriber's last event).
    let held = router.outbound_bytes();
    assert!(held <= 4 * 34 * 1024, "{held}");

    let mut newest = [None, None];
    let mut accounted = 0;
    while newest != [Some(EVENTS - 2), Some(EVENTS - 1)] {
        let message = slow.recv().await.expect("an EVENT");
        let (n, dropped) = event_number(&message);
        let Message::Event { details, .. } = &message else {
            unreachable!()
        };
        assert_eq!(details["topic"], Value::from(topic(n)));
        let slot = &mut newest[(n % 2) as usize];
        assert!(slot.is_none_or(|last| last < n), "per topic in order");
        *slot = Some(n);
        accounted += 1 + dropped;
    }
    assert_eq!(accounted, EVENTS, "dropped counts add up");
}

#[tokio::test]
async fn messages_the_router_would_send_over_max_message_size_are_replaced() {
    let router = start_router(RouterConfig {
        max_message_size: 1024,
        max_transport_size: Some(4096),
        outbound_queue_bytes: 1024 * 1024,
        ..test_config()
    })
    .await;
    let url = router.url();
    let (mut json, _) = Peer::join(&url, Serializer::Json, "orchard").await;
    let (mut msgpack, _) = Peer::join(&url, Serializer::MsgPack, "orchard").await;

    // A meta API reply over the limit: ERROR payload_size_exceeded for the caller.
    for i in 0..300 {
        msgpack.register(&format!("test.p{i}")).await.unwrap();
    }
    let expect_size_error = |m: Message, request_type: u64| match m {
        Message::Error {
            request_type: t,
            error,
            ..
        } => {
            assert_eq!(t, request_type);
            assert_eq!(error, uris::PAYLOAD_SIZE_EXCEEDED);
        }
        other => panic!("expected ERROR payload_size_exceeded, got {other:?}"),
    };
    let m = json.call("wamp.registration.list", vec![]).await;
    expect_size_error(m, code::CALL);

    // 800 bytes of binary fit in MessagePack; as base64 in JSON they do not.
    let binary = || vec![Value::Bytes(vec![7; 800])];
    // An EVENT: dropped for the JSON subscriber only, and counted in its next event.
    json.subscribe("test.binary").await;
    msgpack.subscribe("test.binary").await;
    let (mut publisher, _) = Peer::join(&url, Serializer::MsgPack, "orchard").await;
    publisher.publish_acked("test.binary", binary()).await;
    assert_eq!(msgpack.expect_event().await.arg_list(), binary().as_slice());
    publisher
        .publish_acked("test.binary", vec![Value::from(2u64)])
        .await;
    assert_eq!(event_number(&json.recv().await), (2, 1));
    assert_eq!(event_number(&msgpack.recv().await), (2, 0));

    // An INVOCATION too large for a JSON callee: the caller gets the error.
    json.register("test.json_callee").await.unwrap();
    let m = msgpack.call("test.json_callee", binary()).await;
    expect_size_error(m, code::CALL);
    // A RESULT too large for a JSON caller: ERROR instead.
    let request = json.request();
    json.send(&Message::Call {
        request,
        options: Dict::new(),
        procedure: "test.p0".into(),
        payload: Payload::default(),
    })
    .await;
    let Message::Invocation {
        request: invocation,
        ..
    } = msgpack.recv().await
    else {
        panic!("expected INVOCATION")
    };
    msgpack
        .send(&Message::Yield {
            request: invocation,
            options: Dict::new(),
            payload: Payload::args(binary()),
        })
        .await;
    let m = json.recv().await;
    expect_size_error(m.clone(), code::CALL);
    assert!(matches!(m, Message::Error { request: r, .. } if r == request));
    // Everybody is still there.
    assert_eq!(router.session_count("orchard"), 3);
}

/// Send SUBSCRIBE with `options`; the router's answer.
async fn subscribe_with(p: &mut Peer, topic: &str, options: Dict) -> Message {
    let request = p.request();
    p.send(&Message::Subscribe {
        request,
        options,
        topic: topic.into(),
    })
    .await;
    p.recv().await
}

#[tokio::test]
async fn per_session_caps_and_bad_delivery_options_are_refused() {
    let router = start_router(RouterConfig {
        max_subscriptions_per_session: 3,
        max_registrations_per_session: 2,
        ..test_config()
    })
    .await;
    let (mut p, _) = Peer::join(&router.url(), Serializer::Json, "orchard").await;
    let mut ids = Vec::new();
    for t in ["test.a", "test.b", "test.c"] {
        match subscribe_with(&mut p, t, Dict::new()).await {
            Message::Subscribed { subscription, .. } => ids.push(subscription),
            other => panic!("{other:?}"),
        }
    }
    let refused = |m: Message, request_type: u64, limit: &str| match m {
        Message::Error {
            request_type: t,
            error,
            payload,
            ..
        } => {
            assert_eq!(t, request_type);
            assert_eq!(error, "verger.error.limit_exceeded");
            let text = payload.arg_list()[0].as_str().unwrap().to_owned();
            assert!(text.contains(limit), "{text}");
        }
        other => panic!("expected ERROR limit_exceeded, got {other:?}"),
    };
    refused(
        subscribe_with(&mut p, "test.d", Dict::new()).await,
        code::SUBSCRIBE,
        "max_subscriptions_per_session",
    );
    // Subscribing again to one it has is fine (and may change its delivery policy).
    let again = subscribe_with(&mut p, "test.a", verger::dict! {"delivery" => "latest"}).await;
    assert!(matches!(again, Message::Subscribed { subscription, .. } if subscription == ids[0]));
    // After an unsubscribe there is room again.
    let request = p.request();
    p.send(&Message::Unsubscribe {
        request,
        subscription: ids[1],
    })
    .await;
    assert!(matches!(p.recv().await, Message::Unsubscribed { .. }));
    assert!(matches!(
        subscribe_with(&mut p, "test.d", Dict::new()).await,
        Message::Subscribed { .. }
    ));

    p.register("test.r1").await.unwrap();
    p.register("test.r2").await.unwrap();
    let request = p.request();
    p.send(&Message::Register {
        request,
        options: Dict::new(),
        procedure: "test.r3".into(),
    })
    .await;
    refused(
        p.recv().await,
        code::REGISTER,
        "max_registrations_per_session",
    );

    // An unknown delivery policy is an invalid argument, naming the choices.
    match subscribe_with(&mut p, "test.e", verger::dict! {"delivery" => "sometimes"}).await {
        Message::Error { error, payload, .. } => {
            assert_eq!(error, uris::INVALID_ARGUMENT);
            let text = payload.arg_list()[0].as_str().unwrap().to_owned();
            assert!(
                text.contains("'sometimes'") && text.contains("drop_oldest"),
                "{text}"
            );
        }
        other => panic!("{other:?}"),
    }
    // Other sessions have their own count.
    let (mut q, _) = Peer::join(&router.url(), Serializer::MsgPack, "orchard").await;
    q.subscribe("test.d").await;
    q.register("test.q1").await.unwrap();
}

#[tokio::test]
async fn router_flags_set_the_limits_and_the_503_names_the_limit() {
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_verger"))
        .args([
            "router",
            "--listen",
            "127.0.0.1:0",
            "--max-sessions",
            "1",
            "--outbound-queue-bytes",
            "2097152",
            "--outbound-budget",
            "8388608",
            "--max-subscriptions-per-session",
            "1",
            "--ping-interval",
            "5s",
        ])
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("start verger");
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let line = within("banner", lines.next_line())
        .await
        .unwrap()
        .expect("one line on stdout");
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("ws://"))
        .unwrap()
        .to_owned();
    let addr: std::net::SocketAddr = url
        .trim_start_matches("ws://")
        .trim_end_matches("/ws")
        .parse()
        .unwrap();
    let (mut p, _) = Peer::join(&url, Serializer::Json, "orchard").await;
    p.subscribe("test.one").await;
    let request = p.request();
    p.send(&Message::Subscribe {
        request,
        options: Dict::new(),
        topic: "test.two".into(),
    })
    .await;
    assert!(
        matches!(p.recv().await, Message::Error { ref error, .. } if error == "verger.error.limit_exceeded")
    );
    let resp = http_exchange(
        addr,
        &format!("{UPGRADE}Sec-WebSocket-Protocol: wamp.2.json\r\n\r\n"),
    )
    .await;
    assert!(resp.starts_with("HTTP/1.1 503 "), "{resp}");
    assert!(
        resp.ends_with("\r\n\r\nmax_sessions = 1 reached\n"),
        "{resp}"
    );
    // A bad combination of flags is refused, naming the key.
    let out = within(
        "verger",
        tokio::process::Command::new(env!("CARGO_BIN_EXE_verger"))
            .args(["router", "--listen", "127.0.0.1:0"])
            .args([
                "--outbound-queue-bytes",
                "1000000",
                "--outbound-budget",
                "1000",
            ])
            .output(),
    )
    .await
    .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("outbound_budget"), "{stderr}");
}

/// Not a test: the numbers for docs/PERFORMANCE.md. A bystander's call round trips
/// (paced, 100 calls/s) while a publisher floods 500 KB events to one subscriber that
/// keeps up, without and then with three subscribers that stop reading (and join
/// again every 200 ms once cut, to keep the pressure on).
/// `cargo test --release --test router_wire -- --ignored --nocapture bystander_latency`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn bench_bystander_latency_under_a_flood_with_stuck_subscribers() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::Arc;
    use std::time::Instant;
    const CALLS: usize = 500;
    for stuck in [false, true, false, true] {
        let router = start_router(test_config()).await;
        let url = router.url();
        let addr = router.local_addr();
        let stop = Arc::new(AtomicBool::new(false));
        let events = Arc::new(AtomicU64::new(0));
        let flood = {
            let (stop, events, url) = (stop.clone(), events.clone(), url.clone());
            tokio::spawn(async move {
                let (mut good, _) = Peer::join(&url, Serializer::MsgPack, "orchard").await;
                good.subscribe("test.big").await;
                let (mut publisher, _) = Peer::join(&url, Serializer::MsgPack, "orchard").await;
                let blob = "x".repeat(500_000);
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    publish_in_step(&mut publisher, &mut good, "test.big", i, &blob).await;
                    i += 1;
                    events.store(i, Ordering::Relaxed);
                }
            })
        };
        let stalls = {
            let stop = stop.clone();
            tokio::spawn(async move {
                while stuck && !stop.load(Ordering::Relaxed) {
                    let mut slow = Vec::new();
                    for _ in 0..3 {
                        slow.push(raw_subscriber(addr, "test.big", Dict::new()).await);
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            })
        };
        let (mut callee, _) = Peer::join(&url, Serializer::MsgPack, "orchard").await;
        callee.register(BYSTANDER_PROC).await.unwrap();
        let (mut caller, _) = Peer::join(&url, Serializer::MsgPack, "orchard").await;
        let serve = tokio::spawn(async move {
            loop {
                callee.serve_echo_once().await;
            }
        });
        let mut rtts = Vec::with_capacity(CALLS);
        let mut tick = tokio::time::interval(Duration::from_millis(10));
        for _ in 0..CALLS {
            tick.tick().await;
            let start = Instant::now();
            let m = caller.call(BYSTANDER_PROC, vec![Value::from(1u64)]).await;
            assert!(matches!(m, Message::Result { .. }), "{m:?}");
            rtts.push(start.elapsed());
        }
        stop.store(true, Ordering::Relaxed);
        serve.abort();
        let _ = within("stalls end", stalls).await;
        let _ = within("flood ends", flood).await;
        rtts.sort();
        let pct = |p: f64| rtts[((rtts.len() as f64 * p) as usize).min(rtts.len() - 1)];
        println!(
            "stuck subscribers: {stuck:5}: {} events of 500 KB, bystander RTT p50 {:?} p99 {:?} max {:?}, outbound bytes peak {:.1} MB",
            events.load(Ordering::Relaxed),
            pct(0.5),
            pct(0.99),
            rtts[rtts.len() - 1],
            router.outbound_bytes_peak() as f64 / 1e6
        );
    }
}
