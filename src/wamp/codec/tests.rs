//! Codec tests: literal fixtures per serializer, error cases, binary conversion,
//! depth limits, and property tests (round trips, never panicking on any bytes).

use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use proptest::strategy::Union;

use super::*;
use crate::wamp::{code, Dict, Payload, Value};
use crate::{dict, list};

const ALL: [Serializer; 3] = Serializer::ALL;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn event(payload: Payload) -> Message {
    Message::Event {
        subscription: 5512315355,
        publication: 4429313566,
        details: dict! { "publisher" => 1234u32 },
        payload,
    }
}

fn shape_detail(err: DecodeError) -> String {
    match err {
        DecodeError::Shape { detail, .. } => detail,
        other => panic!("expected a shape error, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------
// Literal fixtures
// ---------------------------------------------------------------------------------

#[test]
fn event_encodes_to_known_bytes() {
    // The WAMP test suite's EVENT with publisher identification.
    let msg = event(Payload::from_parts(
        Some(vec![]),
        Some(dict! { "color" => "orange" }),
    ));
    assert_eq!(
        Serializer::Json.encode(&msg),
        br#"[36,5512315355,4429313566,{"publisher":1234},[],{"color":"orange"}]"#
    );
    // Shortest integer forms (the suite's own MessagePack bytes use the same).
    assert_eq!(
        Serializer::MsgPack.encode(&msg),
        hex(concat!(
            "9624cf00000001488f41dbcf000000010801f61e",
            "81a97075626c6973686572cd04d2",
            "9081a5636f6c6f72a66f72616e6765"
        ))
    );
    let cbor = Serializer::Cbor.encode(&msg);
    assert_eq!(
        cbor,
        hex("8618241b00000001488f41db1b000000010801f61ea1697075626c69736865721904d280a165636f6c6f72666f72616e6765")
    );
    for s in ALL {
        assert_eq!(s.decode(&s.encode(&msg)).unwrap(), msg, "{s:?}");
    }
}

#[test]
fn payload_shape_is_kept() {
    let cases = [
        (
            Payload::default(),
            "[36,5512315355,4429313566,{\"publisher\":1234}]",
        ),
        (
            Payload::args(list![1u8]),
            "[36,5512315355,4429313566,{\"publisher\":1234},[1]]",
        ),
        (
            Payload::from_parts(Some(vec![]), None),
            "[36,5512315355,4429313566,{\"publisher\":1234},[]]",
        ),
        (
            Payload::from_parts(None, Some(Dict::new())),
            "[36,5512315355,4429313566,{\"publisher\":1234},[],{}]",
        ),
    ];
    for (payload, json) in cases {
        let msg = event(payload.clone());
        assert_eq!(
            String::from_utf8(Serializer::Json.encode(&msg)).unwrap(),
            json
        );
        let back = Serializer::Json.decode(json.as_bytes()).unwrap();
        // `kwargs` without `args` comes back with an explicit empty `args`.
        let expected_args = match (&payload.args, &payload.kwargs) {
            (None, Some(_)) => Some(vec![]),
            (args, _) => args.clone(),
        };
        match back {
            Message::Event { payload: p, .. } => {
                assert_eq!(p.args, expected_args);
                assert_eq!(p.kwargs, payload.kwargs);
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn all_message_types_decode_from_json_literals() {
    let cases: &[(&str, Message)] = &[
        (
            r#"[1,"realm1",{"roles":{"caller":{}}}]"#,
            Message::Hello {
                realm: "realm1".into(),
                details: dict! { "roles" => dict! { "caller" => dict!{} } },
            },
        ),
        (
            r#"[2,9129137332,{}]"#,
            Message::Welcome {
                session: 9129137332,
                details: dict! {},
            },
        ),
        (
            r#"[3,{"message":"no"},"wamp.error.no_such_realm"]"#,
            Message::Abort {
                details: dict! { "message" => "no" },
                reason: "wamp.error.no_such_realm".into(),
            },
        ),
        (
            r#"[4,"ticket",{}]"#,
            Message::Challenge {
                authmethod: "ticket".into(),
                extra: dict! {},
            },
        ),
        (
            r#"[5,"secret",{}]"#,
            Message::Authenticate {
                signature: "secret".into(),
                extra: dict! {},
            },
        ),
        (
            r#"[6,{},"wamp.close.normal"]"#,
            Message::Goodbye {
                details: dict! {},
                reason: "wamp.close.normal".into(),
            },
        ),
        (
            r#"[8,48,7,{},"com.err",[1],{"k":true}]"#,
            Message::Error {
                request_type: code::CALL,
                request: 7,
                details: dict! {},
                error: "com.err".into(),
                payload: Payload::from_parts(Some(list![1u8]), Some(dict! { "k" => true })),
            },
        ),
        (
            r#"[16,1,{"acknowledge":true},"com.t"]"#,
            Message::Publish {
                request: 1,
                options: dict! { "acknowledge" => true },
                topic: "com.t".into(),
                payload: Payload::default(),
            },
        ),
        (
            r#"[17,1,2]"#,
            Message::Published {
                request: 1,
                publication: 2,
            },
        ),
        (
            r#"[32,1,{"match":"prefix"},"com."]"#,
            Message::Subscribe {
                request: 1,
                options: dict! { "match" => "prefix" },
                topic: "com.".into(),
            },
        ),
        (
            r#"[33,1,2]"#,
            Message::Subscribed {
                request: 1,
                subscription: 2,
            },
        ),
        (
            r#"[34,1,2]"#,
            Message::Unsubscribe {
                request: 1,
                subscription: 2,
            },
        ),
        (
            r#"[35,1]"#,
            Message::Unsubscribed {
                request: 1,
                details: None,
            },
        ),
        (
            r#"[35,0,{"reason":"gone","subscription":2}]"#,
            Message::Unsubscribed {
                request: 0,
                details: Some(dict! { "subscription" => 2u8, "reason" => "gone" }),
            },
        ),
        (
            r#"[36,1,2,{}]"#,
            Message::Event {
                subscription: 1,
                publication: 2,
                details: dict! {},
                payload: Payload::default(),
            },
        ),
        (
            r#"[48,1,{"timeout":1000},"com.p",[-3,1.5,null]]"#,
            Message::Call {
                request: 1,
                options: dict! { "timeout" => 1000u32 },
                procedure: "com.p".into(),
                payload: Payload::args(list![-3i32, 1.5f64, Value::Null]),
            },
        ),
        (
            r#"[49,1,{"mode":"kill"}]"#,
            Message::Cancel {
                request: 1,
                options: dict! { "mode" => "kill" },
            },
        ),
        (
            r#"[50,1,{"progress":true},[]]"#,
            Message::Result {
                request: 1,
                details: dict! { "progress" => true },
                payload: Payload::args(vec![]),
            },
        ),
        (
            r#"[64,1,{"invoke":"roundrobin"},"com.p"]"#,
            Message::Register {
                request: 1,
                options: dict! { "invoke" => "roundrobin" },
                procedure: "com.p".into(),
            },
        ),
        (
            r#"[65,1,2]"#,
            Message::Registered {
                request: 1,
                registration: 2,
            },
        ),
        (
            r#"[66,1,2]"#,
            Message::Unregister {
                request: 1,
                registration: 2,
            },
        ),
        (
            r#"[67,1]"#,
            Message::Unregistered {
                request: 1,
                details: None,
            },
        ),
        (
            r#"[68,1,2,{"caller":9},[],{"a":"b"}]"#,
            Message::Invocation {
                request: 1,
                registration: 2,
                details: dict! { "caller" => 9u8 },
                payload: Payload::from_parts(Some(vec![]), Some(dict! { "a" => "b" })),
            },
        ),
        (
            r#"[69,1,{"mode":"killnowait"}]"#,
            Message::Interrupt {
                request: 1,
                options: dict! { "mode" => "killnowait" },
            },
        ),
        (
            r#"[70,1,{}]"#,
            Message::Yield {
                request: 1,
                options: dict! {},
                payload: Payload::default(),
            },
        ),
    ];
    let mut codes = std::collections::BTreeSet::new();
    for (json, expected) in cases {
        let msg = Serializer::Json
            .decode(json.as_bytes())
            .unwrap_or_else(|e| panic!("{json}: {e}"));
        assert_eq!(&msg, expected, "{json}");
        assert_eq!(Serializer::Json.encode(&msg), json.as_bytes());
        codes.insert(msg.code());
        for s in ALL {
            assert_eq!(
                &s.decode(&s.encode(&msg)).unwrap(),
                expected,
                "{s:?} {json}"
            );
        }
    }
    assert_eq!(codes.len(), 24, "every message type is covered");
}

#[test]
fn accepted_extra_elements_are_dropped() {
    let abort = Serializer::Json
        .decode(br#"[3,{},"wamp.error.x",["why"],{"k":1}]"#)
        .unwrap();
    assert_eq!(
        abort,
        Message::Abort {
            details: dict! {},
            reason: "wamp.error.x".into()
        }
    );
    let unsub = Serializer::Json
        .decode(br#"[34,1,2,{"forward_for":[]}]"#)
        .unwrap();
    assert_eq!(
        unsub,
        Message::Unsubscribe {
            request: 1,
            subscription: 2
        }
    );
    let unreg = Serializer::Json.decode(br#"[66,1,2,{}]"#).unwrap();
    assert_eq!(
        unreg,
        Message::Unregister {
            request: 1,
            registration: 2
        }
    );
}

// ---------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------

#[test]
fn not_a_message() {
    for json in [
        "{}", "[]", "[\"x\"]", "[-1]", "[1.5]", "7", "null", "[[1]]", "\"[1]\"",
    ] {
        assert_eq!(
            Serializer::Json.decode(json.as_bytes()),
            Err(DecodeError::NotAMessage),
            "{json}"
        );
    }
    assert_eq!(
        Serializer::MsgPack.decode(&[0x80]),
        Err(DecodeError::NotAMessage)
    );
    assert_eq!(
        Serializer::Cbor.decode(&[0xa0]),
        Err(DecodeError::NotAMessage)
    );
}

#[test]
fn unknown_types() {
    for (json, code) in [("[7]", 7), ("[999,1,2]", 999), ("[337,5512315355]", 337)] {
        assert_eq!(
            Serializer::Json.decode(json.as_bytes()),
            Err(DecodeError::UnknownType(code))
        );
    }
    assert_eq!(
        Serializer::MsgPack.decode(&[0x91, 0x07]),
        Err(DecodeError::UnknownType(7))
    );
    assert_eq!(
        Serializer::Cbor.decode(&[0x81, 0x07]),
        Err(DecodeError::UnknownType(7))
    );
}

#[test]
fn shape_errors_name_the_problem() {
    let cases = [
        (r#"[1,"realm"]"#, "expected 3 elements, got 2"),
        (r#"[1,"realm",{},{}]"#, "expected 3 elements, got 4"),
        (
            r#"[1,5,{}]"#,
            "element 1 (Realm) must be a string, got integer",
        ),
        (
            r#"[1,"r",[]]"#,
            "element 2 (Details) must be a dict, got list",
        ),
        (r#"[17,1,-2]"#, "element 2 (Publication) must be an ID"),
        (
            r#"[17,1,9007199254740993]"#,
            "must be an ID in [1, 2^53], got 9007199254740993",
        ),
        (r#"[17,"1",2]"#, "element 1 (PUBLISH.Request) must be an ID"),
        (
            r#"[17,1.0,2]"#,
            "must be an ID (integer in [1, 2^53]), got float",
        ),
        // The issue's cases: request 0, and 2^64 (not "got float").
        (
            r#"[33,0,2]"#,
            "element 1 (SUBSCRIBE.Request) must be an ID in [1, 2^53], got 0",
        ),
        (
            r#"[48,18446744073709551616,{},"p"]"#,
            "element 1 (Request) must be an ID in [1, 2^53], got 18446744073709551616",
        ),
        (
            r#"[48,-1,{},"p"]"#,
            "element 1 (Request) must be an ID in [1, 2^53], got -1",
        ),
        (
            r#"[36,1,2,{"publisher":0}]"#,
            "detail 'publisher' must be an ID (integer in [1, 2^53])",
        ),
        (
            r#"[16,1,{},"t",[],{"a":1}]"#,
            "", // fine: checked below that this one decodes
        ),
        (
            r#"[16,1,{},"t",{"k":1}]"#,
            "element 4 (Arguments) must be a list, got dict",
        ),
        (
            r#"[16,1,{},"t",[],[]]"#,
            "element 5 (ArgumentsKw) must be a dict, got list",
        ),
        (
            r#"[16,1,{},"t","opaque",{}]"#,
            "element 4 (Arguments) must be a list, got string",
        ),
        (
            r#"[48,1,{},"p",[],{},[]]"#,
            "expected 4 to 6 elements, got 7",
        ),
        (
            r#"[8,-1,1,{},"e"]"#,
            "element 1 (REQUEST.Type) must be a non-negative integer",
        ),
        (
            r#"[35,1,[]]"#,
            "element 2 (Details) must be a dict, got list",
        ),
        (
            r#"[16,1,{"acknowledge":1},"t"]"#,
            "option 'acknowledge' must be a bool, got integer",
        ),
        (
            r#"[32,1,{"match":"regex"},"t"]"#,
            "option 'match' must be one of",
        ),
        (
            r#"[36,1,2,{"publisher":"x"}]"#,
            "detail 'publisher' must be an ID",
        ),
    ];
    for (json, expected) in cases {
        if expected.is_empty() {
            assert!(Serializer::Json.decode(json.as_bytes()).is_ok(), "{json}");
            continue;
        }
        let err = Serializer::Json.decode(json.as_bytes()).unwrap_err();
        let detail = shape_detail(err.clone());
        assert!(
            detail.contains(expected),
            "{json}: {detail:?} lacks {expected:?}"
        );
        assert!(err.to_string().starts_with("malformed "), "{err}");
    }
}

#[test]
fn ids_are_1_to_2_pow_53_and_revocations_use_request_0() {
    let msg = Serializer::Json.decode(b"[17,1,9007199254740992]").unwrap();
    assert_eq!(
        msg,
        Message::Published {
            request: 1,
            publication: MAX_ID
        }
    );
    for s in ALL {
        for bad in [
            Message::Published {
                request: 0,
                publication: 1,
            },
            Message::Subscribed {
                request: 0,
                subscription: 2,
            },
            Message::Welcome {
                session: 0,
                details: dict! {},
            },
        ] {
            let err = s.decode(&s.encode(&bad)).unwrap_err();
            assert!(shape_detail(err).contains("got 0"), "{s:?} {bad:?}");
        }
        // A router revoking a subscription or registration on its own sends request 0.
        for ok in [
            Message::Unsubscribed {
                request: 0,
                details: Some(dict! {"subscription" => 7u64, "reason" => "gone"}),
            },
            Message::Unregistered {
                request: 0,
                details: Some(dict! {"registration" => 7u64}),
            },
        ] {
            assert_eq!(s.decode(&s.encode(&ok)).unwrap(), ok, "{s:?}");
        }
    }
    // 2^64 in CBOR (a bignum) is named with its value too.
    // [48, 2^64, {}, "p"]
    let bytes = hex("841830c249010000000000000000a06170");
    let err = Serializer::Cbor.decode(&bytes).unwrap_err();
    assert!(
        shape_detail(err.clone()).contains("got 18446744073709551616"),
        "{err:?}"
    );
}

#[test]
fn syntax_errors() {
    let json_cases: &[&[u8]] = &[
        b"",
        b"[",
        b"[1,\"r\",{}]x",
        b"[1,\"r\",{}] [",
        b"[1,'r',{}]",
        b"[1,\"r\",{\"a\":1,\"a\":2}]",
        b"[1,\"r\\ud800\",{}]",
        b"[1,\"r\xff\",{}]",
        b"[36,1,2,{},[\"\\u0000not base64!\"]]",
    ];
    for bytes in json_cases {
        let err = Serializer::Json.decode(bytes).unwrap_err();
        assert!(
            matches!(
                err,
                DecodeError::Syntax {
                    serializer: "json",
                    ..
                }
            ),
            "{:?}: {err:?}",
            String::from_utf8_lossy(bytes)
        );
    }
    // Whitespace around the message is fine.
    assert!(Serializer::Json.decode(b" \n[17,1,2]\n ").is_ok());

    let msgpack_cases: &[&[u8]] = &[
        &[],
        &[0x93, 0x11, 0x01],             // truncated
        &[0x93, 0x11, 0x01, 0x02, 0x00], // trailing byte
        &[0x92, 0x23, 0xa1, 0xff],       // invalid UTF-8 str
        &[
            0x93, 0x01, 0xa1, 0x72, 0x82, 0xa1, 0x61, 0x01, 0xa1, 0x61, 0x02,
        ], // duplicate key
        &[0x92, 0x23, 0xd4, 0x01],       // truncated extension
        &[0x92, 0x23, 0xc1],             // reserved marker
        &[0xdd, 0xff, 0xff, 0xff, 0xff, 0x01], // huge length, little data
        &[0xc6, 0xff, 0xff, 0xff, 0xff], // huge bin
    ];
    for bytes in msgpack_cases {
        let err = Serializer::MsgPack.decode(bytes).unwrap_err();
        assert!(
            matches!(
                err,
                DecodeError::Syntax {
                    serializer: "msgpack",
                    ..
                }
            ),
            "{bytes:02x?}: {err:?}"
        );
    }

    let cbor_cases: &[&[u8]] = &[
        &[],
        &[0x83, 0x11, 0x01],             // truncated
        &[0x83, 0x11, 0x01, 0x02, 0x00], // trailing byte
        &[0x82, 0x18, 0x23, 0x61, 0xff], // invalid UTF-8 text
        &[
            0x83, 0x01, 0x61, 0x72, 0xa2, 0x61, 0x61, 0x01, 0x61, 0x61, 0x02,
        ], // duplicate key
        &[0x82, 0x18, 0x23, 0xff],       // stray break
        &[0x82, 0x18, 0x23, 0x1c],       // reserved additional info
        &[0x82, 0x18, 0x23, 0x1f],       // indefinite integer
        &[0x82, 0x18, 0x23, 0xf8, 0x10], // simple value < 32 in two bytes
        &[0x82, 0x18, 0x23, 0xc2, 0x5f, 0x01, 0xff], // bignum with a bad chunk
        &[0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01], // huge length
        &[0x5f, 0x61, 0x61, 0xff],       // text chunk in a byte string
        &[0x9f, 0x01],                   // unterminated indefinite array
    ];
    // Maps with non-string keys are values, but not Options/Details.
    for (s, bytes) in [
        (
            Serializer::MsgPack,
            &[0x93, 0x01, 0xa1, 0x72, 0x81, 0x01, 0x02][..],
        ),
        (
            Serializer::MsgPack,
            &[0x93, 0x01, 0xa1, 0x72, 0x81, 0xc4, 0x01, 0x61, 0x02],
        ),
        (
            Serializer::Cbor,
            &[0x83, 0x01, 0x61, 0x72, 0xa1, 0x01, 0x02],
        ),
    ] {
        let err = s.decode(bytes).unwrap_err();
        assert!(
            shape_detail(err).contains("(Details) must be a dict, got map with non-string keys"),
            "{s:?}"
        );
    }
    for bytes in cbor_cases {
        let err = Serializer::Cbor.decode(bytes).unwrap_err();
        assert!(
            matches!(
                err,
                DecodeError::Syntax {
                    serializer: "cbor",
                    ..
                }
            ),
            "{bytes:02x?}: {err:?}"
        );
    }
}

// ---------------------------------------------------------------------------------
// Values: binary, numbers, CBOR specifics
// ---------------------------------------------------------------------------------

#[test]
fn binary_crosses_from_msgpack_to_json_and_back() {
    let data = hex("10e3ff9053075c526f5fc06d4fe37cdb");
    let msg = event(Payload::args(vec![
        Value::Bytes(data.clone()),
        "text".into(),
    ]));
    let from_msgpack = Serializer::MsgPack
        .decode(&Serializer::MsgPack.encode(&msg))
        .unwrap();
    let json = Serializer::Json.encode(&from_msgpack);
    let text = String::from_utf8(json.clone()).unwrap();
    // The spec's example: 10e3ff...db is "\0EOP/kFMHXFJvX8BtT+N82w==".
    assert!(
        text.contains(r#"["\u0000EOP/kFMHXFJvX8BtT+N82w==","text"]"#),
        "{text}"
    );
    let from_json = Serializer::Json.decode(&json).unwrap();
    assert_eq!(from_json, msg);
    let cbor = Serializer::Cbor.encode(&from_json);
    assert_eq!(Serializer::Cbor.decode(&cbor).unwrap(), msg);
}

#[test]
fn json_binary_convention_details() {
    let decode = |s: &str| Serializer::Json.decode_value(s.as_bytes());
    assert_eq!(decode(r#""\u0000""#).unwrap(), Value::Bytes(vec![]));
    assert_eq!(decode(r#""\u0000AQI=""#).unwrap(), Value::Bytes(vec![1, 2]));
    // Missing padding is tolerated when reading; we always write it.
    assert_eq!(decode(r#""\u0000AQI""#).unwrap(), Value::Bytes(vec![1, 2]));
    assert!(decode(r#""\u0000A*I=""#).is_err());
    assert!(decode(r#""\u0000AQI=x""#).is_err());
    // NUL elsewhere is just text; dict keys never become binary.
    assert_eq!(decode(r#""a\u0000""#).unwrap(), Value::Str("a\0".into()));
    assert_eq!(
        decode(r#"{"\u0000AQI=":1}"#).unwrap(),
        Value::Dict(dict! { "\0AQI=" => 1u8 })
    );
    assert_eq!(
        Serializer::Json.encode_value(&Value::Bytes(vec![1, 2])),
        br#""\u0000AQI=""#
    );
}

#[test]
fn numbers_keep_their_kind() {
    let v = Serializer::Json
        .decode_value(b"[0,-0,1,-1,18446744073709551615,-9223372036854775808,1.5,-2.0,1e300]")
        .unwrap();
    assert_eq!(
        v,
        Value::List(vec![
            Value::UInt(0),
            // serde_json reads `-0` as the float -0.0.
            Value::Float(-0.0),
            Value::UInt(1),
            Value::Int(-1),
            Value::UInt(u64::MAX),
            Value::Int(i64::MIN),
            Value::Float(1.5),
            Value::Float(-2.0),
            Value::Float(1e300),
        ])
    );
    for s in ALL {
        let bytes = s.encode_value(&v);
        assert_eq!(s.decode_value(&bytes).unwrap(), v, "{s:?}");
    }
    // MessagePack float32 and signed encodings of non-negative numbers.
    assert_eq!(
        Serializer::MsgPack
            .decode_value(&[
                0x93, 0xca, 0x3f, 0xc0, 0x00, 0x00, 0xd0, 0x05, 0xd3, 0, 0, 0, 0, 0, 0, 0, 7
            ])
            .unwrap(),
        Value::List(vec![Value::Float(1.5), Value::UInt(5), Value::UInt(7)])
    );
}

#[test]
fn cbor_reader_features() {
    let decode = |b: &[u8]| Serializer::Cbor.decode_value(b).unwrap();
    // Indefinite array, map, byte and text strings.
    assert_eq!(
        decode(&[0x9f, 0x01, 0x9f, 0xff, 0xff]),
        Value::List(vec![Value::UInt(1), Value::List(vec![])])
    );
    assert_eq!(
        decode(&[0xbf, 0x61, 0x61, 0x01, 0x7f, 0x61, 0x62, 0x61, 0x63, 0xff, 0x02, 0xff]),
        Value::Dict(dict! { "a" => 1u8, "bc" => 2u8 })
    );
    assert_eq!(
        decode(&[0x5f, 0x41, 0x01, 0x42, 0x02, 0x03, 0xff]),
        Value::Bytes(vec![1, 2, 3])
    );
    // Tags are kept (date/time string, self-described CBOR, nested tags)...
    assert_eq!(
        decode(&[0xc0, 0x61, 0x74]),
        Value::Tagged(0, Box::new(Value::Str("t".into())))
    );
    assert_eq!(
        decode(&[0xd9, 0xd9, 0xf7, 0xc1, 0x82, 0x01, 0x02]),
        Value::Tagged(
            55799,
            Box::new(Value::Tagged(
                1,
                Box::new(Value::List(vec![Value::UInt(1), Value::UInt(2)]))
            ))
        )
    );
    // ... except in front of a whole message.
    assert_eq!(
        Serializer::Cbor
            .decode(&[0xd9, 0xd9, 0xf7, 0x83, 0x11, 0x01, 0x02])
            .unwrap(),
        Message::Published {
            request: 1,
            publication: 2
        }
    );
    // Bignums that fit are integers, the others BigInts; also an indefinite one.
    assert_eq!(decode(&[0xc2, 0x42, 0x01, 0x00]), Value::UInt(256));
    assert_eq!(decode(&[0xc3, 0x41, 0x00]), Value::Int(-1));
    assert_eq!(
        decode(&[0xc2, 0x49, 1, 0, 0, 0, 0, 0, 0, 0, 0]).to_string(),
        "18446744073709551616"
    );
    assert_eq!(
        decode(&[0xc2, 0x5f, 0x41, 1, 0x48, 0, 0, 0, 0, 0, 0, 0, 0, 0xff]).to_string(),
        "18446744073709551616"
    );
    assert_eq!(
        decode(&[0x3b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]).to_string(),
        "-18446744073709551616"
    );
    // A tag 2 on something else than a byte string is just a tag.
    assert_eq!(
        decode(&[0xc2, 0x01]),
        Value::Tagged(2, Box::new(Value::UInt(1)))
    );
    // Unassigned simple values read as null.
    assert_eq!(decode(&[0xf8, 0x20]), Value::Null);
    assert_eq!(decode(&[0xf0]), Value::Null);
    // Half/single floats, undefined.
    assert_eq!(decode(&[0xf9, 0x3c, 0x00]), Value::Float(1.0));
    assert_eq!(decode(&[0xf9, 0xc4, 0x00]), Value::Float(-4.0));
    assert_eq!(
        decode(&[0xf9, 0x00, 0x01]),
        Value::Float(5.960464477539063e-8)
    );
    assert_eq!(decode(&[0xf9, 0x7c, 0x00]), Value::Float(f64::INFINITY));
    assert!(matches!(decode(&[0xf9, 0x7e, 0x00]), Value::Float(f) if f.is_nan()));
    assert_eq!(
        decode(&[0xfa, 0x47, 0xc3, 0x50, 0x00]),
        Value::Float(100000.0)
    );
    assert_eq!(decode(&[0xf7]), Value::Null);
    assert_eq!(
        decode(&[0x3b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
        Value::Int(i64::MIN)
    );
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    for depth in [MAX_DEPTH + 1, 1_000, 200_000] {
        let json = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        let mut msgpack = vec![0x91; depth - 1];
        msgpack.push(0x90);
        let mut cbor = vec![0x81; depth - 1];
        cbor.push(0x80);
        for (s, bytes) in [
            (Serializer::Json, json.into_bytes()),
            (Serializer::MsgPack, msgpack),
            (Serializer::Cbor, cbor),
        ] {
            let err = s.decode(&bytes).unwrap_err();
            assert!(matches!(err, DecodeError::Syntax { .. }), "{s:?}: {err:?}");
        }
    }
    // Dicts and payload nesting too, inside a real message.
    let deep_dict = format!(
        "[36,1,2,{{}},[{}1{}]]",
        "{\"a\":".repeat(MAX_DEPTH),
        "}".repeat(MAX_DEPTH)
    );
    assert!(Serializer::Json.decode(deep_dict.as_bytes()).is_err());
    // A long chain of CBOR tags in front of a message is a loop, not recursion; inside
    // a value every tag is a nesting level.
    let mut tags = vec![0xc6; 1_000_000];
    tags.push(0x80);
    assert_eq!(
        Serializer::Cbor.decode(&tags),
        Err(DecodeError::NotAMessage)
    );
    assert!(matches!(
        Serializer::Cbor.decode_value(&tags),
        Err(DecodeError::Syntax { .. })
    ));
    let mut in_args = vec![0x85, 0x18, 0x24, 0x01, 0x02, 0xa0, 0x81];
    in_args.extend(std::iter::repeat_n(0xc6, 200_000));
    in_args.push(0x80);
    assert!(matches!(
        Serializer::Cbor.decode(&in_args),
        Err(DecodeError::Syntax { .. })
    ));
}

#[test]
fn nesting_at_the_limit_is_accepted() {
    // The message list is one level; the deepest payload value takes the rest.
    let inner = MAX_DEPTH - 3;
    let mut v = Value::List(vec![]);
    for _ in 0..inner {
        v = Value::List(vec![v]);
    }
    let msg = event(Payload::args(vec![v]));
    for s in ALL {
        assert_eq!(s.decode(&s.encode(&msg)).unwrap(), msg, "{s:?}");
    }
    let mut too_deep = Value::List(vec![]);
    for _ in 0..=inner {
        too_deep = Value::List(vec![too_deep]);
    }
    let msg = event(Payload::args(vec![too_deep]));
    for s in ALL {
        assert!(s.decode(&s.encode(&msg)).is_err(), "{s:?}");
    }
}

#[test]
fn every_short_input_is_handled() {
    for s in ALL {
        for a in 0..=255u8 {
            let _ = s.decode(&[a]);
            for b in 0..=255u8 {
                let _ = s.decode(&[a, b]);
                let _ = s.decode(&[0x93, a, b]);
                let _ = s.decode(&[0x83, a, b]);
            }
        }
    }
}

// ---------------------------------------------------------------------------------
// Payload passthru (E2EE)
// ---------------------------------------------------------------------------------

#[test]
fn transparent_payload_travels_bare_with_enc_algo() {
    let data = vec![0x83, 0xa5, 0x63];
    let msg = Message::Publish {
        request: 1,
        options: dict! { "enc_algo" => "cryptobox", "enc_serializer" => "msgpack" },
        topic: "com.t".into(),
        payload: Payload::transparent(data.clone()),
    };
    let json = String::from_utf8(Serializer::Json.encode(&msg)).unwrap();
    assert!(json.ends_with(r#""com.t","\u0000g6Vj"]"#), "{json}");
    let msgpack = Serializer::MsgPack.encode(&msg);
    assert!(msgpack.ends_with(&[0xc4, 0x03, 0x83, 0xa5, 0x63]));
    for s in ALL {
        let back = s.decode(&s.encode(&msg)).unwrap();
        assert_eq!(back, msg);
        if let Message::Publish { payload, .. } = &back {
            assert_eq!(payload.as_transparent(), Some(&data[..]));
        }
    }
    // Without enc_algo the spec's form is used: the binary inside Arguments.
    let plain = Message::Publish {
        request: 1,
        options: dict! {},
        topic: "com.t".into(),
        payload: Payload::transparent(vec![1]),
    };
    assert_eq!(
        Serializer::Json.encode(&plain),
        br#"[16,1,{},"com.t",["\u0000AQ=="]]"#
    );
    // A bare string (Autobahn accepts it) decodes the same way.
    let msg = Serializer::Json
        .decode(br#"[36,1,2,{"enc_algo":"cryptobox"},"a1666e6f74696365"]"#)
        .unwrap();
    assert_eq!(
        msg,
        Message::Event {
            subscription: 1,
            publication: 2,
            details: dict! { "enc_algo" => "cryptobox" },
            payload: Payload::args(list!["a1666e6f74696365"]),
        }
    );
    assert_eq!(
        Serializer::Json.encode(&msg),
        br#"[36,1,2,{"enc_algo":"cryptobox"},"a1666e6f74696365"]"#
    );
}

// ---------------------------------------------------------------------------------
// Property tests
// ---------------------------------------------------------------------------------

fn arb_text() -> impl Strategy<Value = String> {
    // JSON cannot carry a text string that starts with NUL (the binary convention).
    any::<String>().prop_filter("no leading NUL", |s| !s.starts_with('\0'))
}

/// Any value in normal form (`Int` only negative), finite floats.
fn arb_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<u64>().prop_map(Value::UInt),
        (0..=MAX_ID).prop_map(Value::UInt),
        (i64::MIN..0).prop_map(Value::Int),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::Float),
        arb_text().prop_map(Value::Str),
        vec(any::<u8>(), 0..24).prop_map(Value::Bytes),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::List),
            btree_map(any::<String>(), inner, 0..6).prop_map(Value::Dict),
        ]
    })
}

/// Options/Details: top-level keys that are never one of the checked attributes.
fn arb_options() -> impl Strategy<Value = Dict> {
    btree_map("[A-Z][A-Za-z0-9_]{0,8}", arb_value(), 0..4)
}

fn arb_payload() -> impl Strategy<Value = Payload> {
    (
        proptest::option::of(vec(arb_value(), 0..5)),
        proptest::option::of(btree_map(any::<String>(), arb_value(), 0..5)),
    )
        .prop_map(|(args, kwargs)| {
            // Encoding `kwargs` alone writes `[]` for args, which decodes as Some([]).
            let args = match (&args, &kwargs) {
                (None, Some(_)) => Some(vec![]),
                _ => args,
            };
            Payload::from_parts(args, kwargs)
        })
}

fn arb_id() -> impl Strategy<Value = u64> {
    prop_oneof![1..=MAX_ID, 1..1000u64, Just(MAX_ID)]
}

fn arb_uri() -> impl Strategy<Value = String> {
    prop_oneof!["[a-z_.]{0,20}", arb_text()]
}

/// Any of the 24 message types.
fn arb_message() -> impl Strategy<Value = Message> {
    Union::new(vec![
        (arb_uri(), arb_options())
            .prop_map(|(realm, details)| Message::Hello { realm, details })
            .boxed(),
        (arb_id(), arb_options())
            .prop_map(|(session, details)| Message::Welcome { session, details })
            .boxed(),
        (arb_options(), arb_uri())
            .prop_map(|(details, reason)| Message::Abort { details, reason })
            .boxed(),
        (arb_text(), arb_options())
            .prop_map(|(authmethod, extra)| Message::Challenge { authmethod, extra })
            .boxed(),
        (arb_text(), arb_options())
            .prop_map(|(signature, extra)| Message::Authenticate { signature, extra })
            .boxed(),
        (arb_options(), arb_uri())
            .prop_map(|(details, reason)| Message::Goodbye { details, reason })
            .boxed(),
        (
            any::<u64>(),
            arb_id(),
            arb_options(),
            arb_uri(),
            arb_payload(),
        )
            .prop_map(
                |(request_type, request, details, error, payload)| Message::Error {
                    request_type,
                    request,
                    details,
                    error,
                    payload,
                },
            )
            .boxed(),
        (arb_id(), arb_options(), arb_uri(), arb_payload())
            .prop_map(|(request, options, topic, payload)| Message::Publish {
                request,
                options,
                topic,
                payload,
            })
            .boxed(),
        (arb_id(), arb_id())
            .prop_map(|(request, publication)| Message::Published {
                request,
                publication,
            })
            .boxed(),
        (arb_id(), arb_options(), arb_uri())
            .prop_map(|(request, options, topic)| Message::Subscribe {
                request,
                options,
                topic,
            })
            .boxed(),
        (arb_id(), arb_id())
            .prop_map(|(request, subscription)| Message::Subscribed {
                request,
                subscription,
            })
            .boxed(),
        (arb_id(), arb_id())
            .prop_map(|(request, subscription)| Message::Unsubscribe {
                request,
                subscription,
            })
            .boxed(),
        (arb_id(), proptest::option::of(arb_options()))
            .prop_map(|(request, details)| Message::Unsubscribed { request, details })
            .boxed(),
        (arb_id(), arb_id(), arb_options(), arb_payload())
            .prop_map(
                |(subscription, publication, details, payload)| Message::Event {
                    subscription,
                    publication,
                    details,
                    payload,
                },
            )
            .boxed(),
        (arb_id(), arb_options(), arb_uri(), arb_payload())
            .prop_map(|(request, options, procedure, payload)| Message::Call {
                request,
                options,
                procedure,
                payload,
            })
            .boxed(),
        (arb_id(), arb_options())
            .prop_map(|(request, options)| Message::Cancel { request, options })
            .boxed(),
        (arb_id(), arb_options(), arb_payload())
            .prop_map(|(request, details, payload)| Message::Result {
                request,
                details,
                payload,
            })
            .boxed(),
        (arb_id(), arb_options(), arb_uri())
            .prop_map(|(request, options, procedure)| Message::Register {
                request,
                options,
                procedure,
            })
            .boxed(),
        (arb_id(), arb_id())
            .prop_map(|(request, registration)| Message::Registered {
                request,
                registration,
            })
            .boxed(),
        (arb_id(), arb_id())
            .prop_map(|(request, registration)| Message::Unregister {
                request,
                registration,
            })
            .boxed(),
        (arb_id(), proptest::option::of(arb_options()))
            .prop_map(|(request, details)| Message::Unregistered { request, details })
            .boxed(),
        (arb_id(), arb_id(), arb_options(), arb_payload())
            .prop_map(
                |(request, registration, details, payload)| Message::Invocation {
                    request,
                    registration,
                    details,
                    payload,
                },
            )
            .boxed(),
        (arb_id(), arb_options())
            .prop_map(|(request, options)| Message::Interrupt { request, options })
            .boxed(),
        (arb_id(), arb_options(), arb_payload())
            .prop_map(|(request, options, payload)| Message::Yield {
                request,
                options,
                payload,
            })
            .boxed(),
    ])
}

/// An edit applied to a valid encoding: (kind, position, byte).
fn arb_edits() -> impl Strategy<Value = Vec<(u8, usize, u8)>> {
    vec((0..5u8, any::<usize>(), any::<u8>()), 1..6)
}

fn mutate(mut bytes: Vec<u8>, edits: &[(u8, usize, u8)]) -> Vec<u8> {
    for &(kind, pos, byte) in edits {
        let len = bytes.len();
        let at = if len == 0 { 0 } else { pos % len };
        match kind {
            0 if len > 0 => bytes[at] = byte,
            1 if len > 0 => bytes[at] ^= 1 << (byte % 8),
            2 => bytes.insert(at, byte),
            3 if len > 0 => {
                bytes.remove(at);
            }
            _ => bytes.truncate(at),
        }
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn messages_round_trip_through_every_serializer(msg in arb_message()) {
        for s in ALL {
            let bytes = s.encode(&msg);
            prop_assert_eq!(&s.decode(&bytes).unwrap(), &msg, "{:?}", s);
        }
    }

    #[test]
    fn messages_survive_serializer_changes(msg in arb_message()) {
        // A router receives in one serializer and sends in another.
        let via_msgpack = Serializer::MsgPack.decode(&Serializer::MsgPack.encode(&msg)).unwrap();
        let via_json = Serializer::Json.decode(&Serializer::Json.encode(&via_msgpack)).unwrap();
        let via_cbor = Serializer::Cbor.decode(&Serializer::Cbor.encode(&via_json)).unwrap();
        prop_assert_eq!(via_cbor, msg);
    }

    #[test]
    fn values_round_trip(v in arb_value()) {
        for s in ALL {
            prop_assert_eq!(&s.decode_value(&s.encode_value(&v)).unwrap(), &v, "{:?}", s);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..512)) {
        for s in ALL {
            let _ = s.decode(&bytes);
        }
    }

    #[test]
    fn arbitrary_text_never_panics(text in "[\\[\\]{}\",:0-9a-z\\\\. -]{0,64}") {
        let _ = Serializer::Json.decode(text.as_bytes());
    }

    #[test]
    fn mutated_encodings_never_panic_and_stay_consistent(
        msg in arb_message(),
        edits in arb_edits(),
    ) {
        for s in ALL {
            let bytes = mutate(s.encode(&msg), &edits);
            if let Ok(decoded) = s.decode(&bytes) {
                // Whatever we accept, we re-encode to something we accept identically.
                let again = s.encode(&decoded);
                let redecoded = s.decode(&again).unwrap();
                prop_assert_eq!(s.encode(&redecoded), again, "{:?}", s);
            }
        }
    }

    #[test]
    fn mutated_binary_payloads_never_panic(
        data in vec(any::<u8>(), 0..64),
        edits in arb_edits(),
    ) {
        let msg = event(Payload::args(vec![Value::Bytes(data)]));
        for s in ALL {
            let _ = s.decode(&mutate(s.encode(&msg), &edits));
        }
    }
}

// ---------------------------------------------------------------------------------
// Transparency: every value of every format, exact forwarding, conversions
// ---------------------------------------------------------------------------------

/// The issue's CBOR values: 2^64, 2^128 - 1, -2^64 - 1 as bignums, a tag 64 (uint8)
/// typed array, and a map with integer keys.
const CBOR_2_64: &str = "c249010000000000000000";
const CBOR_2_128_M1: &str = "c250ffffffffffffffffffffffffffffffff";
const CBOR_M2_64_M1: &str = "c349010000000000000000";
const CBOR_TYPED_ARRAY: &str = "d8404401020304";
const CBOR_INT_KEYS: &str = "a2016161026162";

/// `[48, 1, {}, "com.p", [args...], {"k": kwarg}]` in CBOR.
fn cbor_call(args: &[&str], kwarg: &str) -> Vec<u8> {
    let mut out = hex("86183001a065636f6d2e70");
    out.push(0x80 | args.len() as u8);
    for a in args {
        out.extend(hex(a));
    }
    out.extend(hex("a1616b"));
    out.extend(hex(kwarg));
    out
}

fn issue_cbor_call() -> Vec<u8> {
    cbor_call(
        &[CBOR_2_64, CBOR_2_128_M1, CBOR_M2_64_M1, CBOR_TYPED_ARRAY],
        CBOR_INT_KEYS,
    )
}

#[test]
fn value_stays_small() {
    assert_eq!(std::mem::size_of::<Value>(), 32);
}

#[test]
fn issue_cbor_values_round_trip_byte_for_byte() {
    let bytes = issue_cbor_call();
    // The canonical encoder reproduces them from the values...
    let msg = Serializer::Cbor.decode(&bytes).unwrap();
    assert_eq!(Serializer::Cbor.encode(&msg), bytes);
    // ... and the forwarding decoder copies them.
    let fwd = Serializer::Cbor.decode_forwarding(&bytes).unwrap();
    assert_eq!(fwd, msg);
    assert!(fwd.payload().unwrap().forwards_wire_form(Serializer::Cbor));
    assert_eq!(Serializer::Cbor.encode(&fwd), bytes);
    let Message::Call { payload, .. } = msg else {
        panic!()
    };
    let args = payload.args.unwrap();
    assert_eq!(args[0].to_string(), "18446744073709551616");
    assert_eq!(
        args[1].to_string(),
        "340282366920938463463374607431768211455"
    );
    assert_eq!(args[2].to_string(), "-18446744073709551617");
    assert_eq!(args[0].kind(), "integer");
    assert_eq!(
        args[3],
        Value::Tagged(64, Box::new(Value::Bytes(vec![1, 2, 3, 4])))
    );
    assert_eq!(
        payload.kwargs.unwrap()["k"],
        Value::Map(vec![
            (Value::UInt(1), Value::Str("a".into())),
            (Value::UInt(2), Value::Str("b".into())),
        ])
    );
}

#[test]
fn issue_cbor_values_converted_to_json_and_msgpack() {
    let msg = Serializer::Cbor.decode(&issue_cbor_call()).unwrap();
    let json = Serializer::Json.encode(&msg);
    assert_eq!(
        String::from_utf8(json.clone()).unwrap(),
        r#"[48,1,{},"com.p",[18446744073709551616,340282366920938463463374607431768211455,-18446744073709551617,"\u0000AQIDBA=="],{"k":{"1":"a","2":"b"}}]"#
    );
    // JSON back to CBOR: the integers are bignums again; tag and key types are gone.
    let back = Serializer::Cbor.encode(&Serializer::Json.decode(&json).unwrap());
    assert_eq!(
        back,
        cbor_call(
            &[CBOR_2_64, CBOR_2_128_M1, CBOR_M2_64_M1, "4401020304"],
            "a26131616161326162",
        )
    );
    let msgpack = Serializer::MsgPack.encode(&msg);
    let Message::Call { payload, .. } = Serializer::MsgPack.decode(&msgpack).unwrap() else {
        panic!()
    };
    assert_eq!(
        payload.args.unwrap(),
        vec![
            Value::Str("18446744073709551616".into()),
            Value::Str("340282366920938463463374607431768211455".into()),
            Value::Str("-18446744073709551617".into()),
            Value::Bytes(vec![1, 2, 3, 4]),
        ]
    );
    assert_eq!(
        payload.kwargs.unwrap()["k"],
        Value::Map(vec![
            (Value::UInt(1), Value::Str("a".into())),
            (Value::UInt(2), Value::Str("b".into())),
        ])
    );
}

#[test]
fn msgpack_extensions_and_non_string_keys() {
    // [36, 1, 2, {}, [ext 5 (4 bytes), timestamp ext -1, ext8 3 bytes], {"m": {1: "a", 2: "b"}}]
    let bytes = hex(concat!(
        "9624010280",
        "93d60501020304d6ff5f5e1000c703070a0b0c",
        "81a16d8201a16102a162"
    ));
    let msg = Serializer::MsgPack.decode(&bytes).unwrap();
    let Message::Event { payload, .. } = &msg else {
        panic!("{msg:?}")
    };
    assert_eq!(
        payload.args.as_deref().unwrap(),
        &[
            Value::Ext(5, vec![1, 2, 3, 4]),
            Value::Ext(-1, vec![0x5f, 0x5e, 0x10, 0x00]),
            Value::Ext(7, vec![10, 11, 12]),
        ]
    );
    assert_eq!(Serializer::MsgPack.encode(&msg), bytes);
    let fwd = Serializer::MsgPack.decode_forwarding(&bytes).unwrap();
    assert_eq!(Serializer::MsgPack.encode(&fwd), bytes);
    // Every extension size has its shortest form.
    for len in [0usize, 1, 2, 3, 4, 8, 16, 17, 255, 256, 70_000] {
        let v = Value::Ext(-7, vec![9; len]);
        let enc = Serializer::MsgPack.encode_value(&v);
        assert_eq!(Serializer::MsgPack.decode_value(&enc).unwrap(), v, "{len}");
        let header = match len {
            1 | 2 | 4 | 8 | 16 => 2,
            0..=255 => 3,
            256..=65535 => 4,
            _ => 6,
        };
        assert_eq!(enc.len(), header + len, "{len}");
    }
    // Conversions: JSON and CBOR get the data as binary.
    let json = String::from_utf8(Serializer::Json.encode(&msg)).unwrap();
    assert!(
        json.ends_with(
            r#"["\u0000AQIDBA==","\u0000X14QAA==","\u0000CgsM"],{"m":{"1":"a","2":"b"}}]"#
        ),
        "{json}"
    );
    let cbor = Serializer::Cbor
        .decode(&Serializer::Cbor.encode(&msg))
        .unwrap();
    let Message::Event { payload, .. } = cbor else {
        panic!()
    };
    assert_eq!(payload.args.unwrap()[0], Value::Bytes(vec![1, 2, 3, 4]));
}

#[test]
fn forwarding_keeps_what_values_cannot() {
    // Canonical CBOR key order ("b" before "aa"), a single float, undefined, a
    // non-shortest integer: all in a PUBLISH forwarded as the EVENT.
    // [16, 1, {}, "t", [1.5 (single), undefined, 24 (in two bytes)], {"b": 1, "aa": 2}]
    let publish = hex(concat!(
        "861001a06174",
        "83fa3fc00000f71818",
        "a261620162616102"
    ));
    let decoded = Serializer::Cbor.decode_forwarding(&publish).unwrap();
    let Message::Publish { payload, .. } = decoded else {
        panic!()
    };
    assert_eq!(
        payload.args.as_deref().unwrap(),
        &[Value::Float(1.5), Value::Null, Value::UInt(24)]
    );
    let event = Message::Event {
        subscription: 3,
        publication: 4,
        details: dict! {},
        payload: payload.clone(),
    };
    // [36, 3, 4, {}, <exactly the publisher's payload bytes>]
    let expected = [hex("8618240304a0"), publish[6..].to_vec()].concat();
    assert_eq!(Serializer::Cbor.encode(&event), expected);
    // Values alone normalize (floats as float64, sorted keys): the conversion is still exact.
    let plain = Message::Event {
        subscription: 3,
        publication: 4,
        details: dict! {},
        payload: Payload::from_parts(payload.args.clone(), payload.kwargs.clone()),
    };
    assert_ne!(Serializer::Cbor.encode(&plain), expected);
    assert_eq!(
        Serializer::Cbor
            .decode(&Serializer::Cbor.encode(&plain))
            .unwrap(),
        event
    );
    // Other serializers get the values.
    assert_eq!(
        String::from_utf8(Serializer::Json.encode(&event)).unwrap(),
        r#"[36,3,4,{},[1.5,null,24],{"aa":2,"b":1}]"#
    );

    // JSON: number spelling and whitespace of the payload survive too.
    let json = br#"[16, 1, {}, "t", [1.10, -0, 1E2, "\u00e9"] , {"b": 1, "a": 2}]"#;
    let msg = Serializer::Json.decode_forwarding(json).unwrap();
    let Message::Publish { payload, .. } = msg else {
        panic!()
    };
    let event = Message::Event {
        subscription: 3,
        publication: 4,
        details: dict! {},
        payload,
    };
    assert_eq!(
        String::from_utf8(Serializer::Json.encode(&event)).unwrap(),
        r#"[36,3,4,{},[1.10, -0, 1E2, "\u00e9"] , {"b": 1, "a": 2}]"#
    );
}

#[test]
fn payload_without_wire_form_after_a_change() {
    let bytes = issue_cbor_call();
    let msg = Serializer::Cbor.decode_forwarding(&bytes).unwrap();
    let Message::Call { payload, .. } = &msg else {
        panic!()
    };
    // Equality ignores the wire form; a rebuilt payload has none.
    let rebuilt = Payload::from_parts(payload.args.clone(), payload.kwargs.clone());
    assert_eq!(&rebuilt, payload);
    assert!(!rebuilt.forwards_wire_form(Serializer::Cbor));
    assert!(!payload.forwards_wire_form(Serializer::Json));
    assert!(format!("{payload:?}").contains("bytes of cbor"));
    // No payload, no wire form; ABORT's payload is dropped.
    let m = Serializer::Cbor
        .decode_forwarding(&hex("84183001a06170"))
        .unwrap();
    assert!(!m.payload().unwrap().forwards_wire_form(Serializer::Cbor));
}

#[test]
fn json_integers_beyond_64_bits_are_exact() {
    let v = Serializer::Json
        .decode_value(b"[18446744073709551615,18446744073709551616,-9223372036854775808,-9223372036854775809,340282366920938463463374607431768211456]")
        .unwrap();
    let Value::List(l) = &v else { panic!() };
    assert_eq!(l[0], Value::UInt(u64::MAX));
    assert_eq!(l[2], Value::Int(i64::MIN));
    for (x, text) in [
        (&l[1], "18446744073709551616"),
        (&l[3], "-9223372036854775809"),
        (&l[4], "340282366920938463463374607431768211456"),
    ] {
        assert!(matches!(x, Value::BigInt(_)), "{x:?}");
        assert_eq!(x.to_string(), text);
    }
    for s in ALL {
        let back = s.decode_value(&s.encode_value(&v)).unwrap();
        if s == Serializer::MsgPack {
            // MessagePack has no such integers: decimal text.
            assert_eq!(
                back.as_list().unwrap()[1],
                Value::Str("18446744073709551616".into())
            );
        } else {
            assert_eq!(back, v, "{s:?}");
        }
    }
    // Beyond 8192 bits decimal conversion stops: a float, which is out of range.
    let huge = format!("[{}]", "9".repeat(3000));
    assert!(Serializer::Json.decode_value(huge.as_bytes()).is_err());
    // A CBOR bignum that long travels between CBOR peers and is hexadecimal elsewhere.
    let mut long = vec![0xc2, 0x59, 0x04, 0x01];
    long.extend(vec![0xab; 1025]);
    let v = Serializer::Cbor.decode_value(&long).unwrap();
    assert_eq!(Serializer::Cbor.encode_value(&v), long);
    let json = String::from_utf8(Serializer::Json.encode_value(&v)).unwrap();
    assert!(json.starts_with("\"0xabab"), "{}", &json[..10]);
    assert_eq!(
        Serializer::MsgPack
            .decode_value(&Serializer::MsgPack.encode_value(&v))
            .unwrap()
            .as_str()
            .unwrap()
            .len(),
        2 + 2 * 1025
    );
}

#[test]
fn json_reader_follows_rfc_8259() {
    let ok = |s: &str| Serializer::Json.decode_value(s.as_bytes()).unwrap();
    let bad = |s: &str| {
        let r = Serializer::Json.decode_value(s.as_bytes());
        assert!(
            matches!(
                r,
                Err(DecodeError::Syntax {
                    serializer: "json",
                    ..
                })
            ),
            "{s:?}: {r:?}"
        );
    };
    assert_eq!(ok(" \t\r\n null \n"), Value::Null);
    assert_eq!(ok("[true,false]"), Value::List(list![true, false]));
    assert_eq!(ok("-0"), Value::Float(-0.0));
    assert_eq!(ok("-0.0"), Value::Float(-0.0));
    assert_eq!(ok("0"), Value::UInt(0));
    assert_eq!(ok("1E2"), Value::Float(100.0));
    assert_eq!(ok("1e-2"), Value::Float(0.01));
    assert_eq!(ok("2.5e+1"), Value::Float(25.0));
    assert_eq!(ok("0.1"), Value::Float(0.1));
    assert_eq!(ok("1.7976931348623157e308"), Value::Float(f64::MAX));
    assert_eq!(
        ok(r#""a\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00z""#),
        Value::Str("a\"\\/\u{8}\u{c}\n\r\té😀z".into())
    );
    assert_eq!(ok(r#"{"a":{},"b":[]}"#).as_dict().unwrap().len(), 2);
    assert_eq!(ok("\"é\""), Value::Str("é".into()));
    for s in [
        "",
        " ",
        "01",
        "-",
        "1.",
        ".5",
        "1e",
        "1e+",
        "+1",
        "1e400",
        "-1e400",
        "tru",
        "nul",
        "[1,]",
        "[,1]",
        "[1 2]",
        "{\"a\" 1}",
        "{\"a\":1,}",
        "{1:2}",
        "{\"a\":1",
        "\"abc",
        "\"\\x\"",
        "\"\\u12\"",
        "\"\\ud800\"",
        "\"\\udc00\"",
        "\"\\ud800\\u0041\"",
        "\"a\u{1}\"",
        "NaN",
        "Infinity",
        "[1]]",
        "'a'",
    ] {
        bad(s);
    }
    bad("\"\u{7f}\u{0}\"");
    let invalid_utf8: &[u8] = b"\"\xc3\x28\"";
    assert!(Serializer::Json.decode_value(invalid_utf8).is_err());
    // Writing: serde_json's escapes and float forms.
    let enc = |v: Value| String::from_utf8(Serializer::Json.encode_value(&v)).unwrap();
    assert_eq!(
        enc(Value::Str("\"\\\u{8}\u{c}\n\r\t\u{1}\u{1f}\u{7f}é/".into())),
        "\"\\\"\\\\\\b\\f\\n\\r\\t\\u0001\\u001f\u{7f}é/\""
    );
    assert_eq!(enc(Value::Float(1.0)), "1.0");
    for f in [1e16, 1e-7, 123.456, f64::MAX, 5e-324] {
        assert_eq!(enc(Value::Float(f)), serde_json::to_string(&f).unwrap());
    }
    assert_eq!(enc(Value::Float(-0.0)), "-0.0");
    assert_eq!(enc(Value::Float(f64::NAN)), "null");
    assert_eq!(enc(Value::Float(f64::NEG_INFINITY)), "null");
    assert_eq!(enc(Value::Int(i64::MIN)), "-9223372036854775808");
    // Every string survives a round trip.
    for c in (0u32..0x800).chain([0xfffd, 0x10ffff]) {
        let Some(c) = char::from_u32(c) else { continue };
        let v = Value::Str(format!("x{c}"));
        assert_eq!(ok(&enc(v.clone())), v);
    }
}

#[test]
fn map_keys_in_json() {
    let m = Value::Map(vec![
        (Value::UInt(1), "int".into()),
        (Value::Int(-2), "neg".into()),
        (Value::Bool(true), "bool".into()),
        (Value::Null, "null".into()),
        (Value::Float(1.5), "float".into()),
        (Value::Bytes(vec![1, 2]), "bytes".into()),
        (Value::List(list![1, "a"]), "list".into()),
        (Value::Tagged(1, Box::new(Value::UInt(7))), "tagged".into()),
        (Value::Str("s".into()), "str".into()),
        // Reads the same as the first key: the first entry wins.
        (Value::Str("1".into()), "dropped".into()),
    ]);
    assert_eq!(
        String::from_utf8(Serializer::Json.encode_value(&m)).unwrap(),
        r#"{"1":"int","-2":"neg","true":"bool","null":"null","1.5":"float","\u0000AQI=":"bytes","[1,\"a\"]":"list","7":"tagged","s":"str"}"#
    );
    // MessagePack and CBOR keep the keys (tags go in MessagePack).
    for s in [Serializer::MsgPack, Serializer::Cbor] {
        let back = s.decode_value(&s.encode_value(&m)).unwrap();
        let Value::Map(entries) = back else { panic!() };
        assert_eq!(entries.len(), 10, "{s:?}");
        assert_eq!(entries[0].0, Value::UInt(1));
        assert_eq!(entries[5].0, Value::Bytes(vec![1, 2]));
    }
}

/// Any value, including the ones only CBOR or MessagePack have, in normal form.
fn arb_any_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        arb_value(),
        (any::<bool>(), vec(any::<u8>(), 9..20))
            .prop_map(|(negative, n)| crate::wamp::BigInt::from_cbor(negative, &n)),
        (any::<i8>(), vec(any::<u8>(), 0..20)).prop_map(|(t, d)| Value::Ext(t, d)),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(Value::List),
            (
                any::<u64>().prop_filter("not a bignum tag", |t| *t != 2 && *t != 3),
                inner.clone()
            )
                .prop_map(|(t, v)| Value::Tagged(t, Box::new(v))),
            vec((inner.clone(), inner), 1..4).prop_map(|mut m| {
                // At least one key that is not a string.
                m[0].0 = Value::UInt(7);
                Value::Map(m)
            }),
        ]
    })
}

/// What CBOR cannot hold as such (extensions) or MessagePack (tags, bignums) replaced.
fn without(v: &Value, ext: bool, tags: bool) -> Value {
    match v {
        Value::Ext(_, d) if ext => Value::Bytes(d.clone()),
        Value::Tagged(_, inner) if tags => without(inner, ext, tags),
        Value::Tagged(t, inner) => Value::Tagged(*t, Box::new(without(inner, ext, tags))),
        Value::BigInt(b) if tags => Value::Str(b.to_text()),
        Value::List(l) => Value::List(l.iter().map(|x| without(x, ext, tags)).collect()),
        Value::Dict(d) => Value::Dict(
            d.iter()
                .map(|(k, x)| (k.clone(), without(x, ext, tags)))
                .collect(),
        ),
        Value::Map(m) => Value::Map(
            m.iter()
                .map(|(k, x)| (without(k, ext, tags), without(x, ext, tags)))
                .collect(),
        ),
        other => other.clone(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn any_value_round_trips_where_the_format_has_it(v in arb_any_value()) {
        let cbor = Serializer::Cbor;
        prop_assert_eq!(cbor.decode_value(&cbor.encode_value(&v)).unwrap(), without(&v, true, false));
        let mp = Serializer::MsgPack;
        prop_assert_eq!(mp.decode_value(&mp.encode_value(&v)).unwrap(), without(&v, false, true));
        // JSON: always valid JSON that reads back.
        let json = Serializer::Json.encode_value(&v);
        prop_assert!(Serializer::Json.decode_value(&json).is_ok(), "{}", String::from_utf8_lossy(&json));
    }

    #[test]
    fn forwarded_payloads_are_copied_exactly_and_convert(
        args in vec(arb_any_value(), 0..4),
        edits in arb_edits(),
    ) {
        let msg = event(Payload::args(args));
        for s in ALL {
            let bytes = s.encode(&msg);
            let fwd = s.decode_forwarding(&bytes).unwrap();
            prop_assert_eq!(s.encode(&fwd), bytes.clone(), "{:?}", s);
            for t in ALL {
                prop_assert!(t.decode(&t.encode(&fwd)).is_ok(), "{:?} -> {:?}", s, t);
            }
            // Mutated input: whatever is accepted forwards to something accepted.
            if let Ok(m) = s.decode_forwarding(&mutate(bytes, &edits)) {
                for t in ALL {
                    prop_assert!(t.decode(&t.encode(&m)).is_ok(), "{:?} -> {:?}", s, t);
                }
            }
        }
    }
}

#[test]
fn forwarded_bare_payload_keeps_its_shape_decided_by_the_outgoing_message() {
    // An E2EE PUBLISH: the opaque payload bare, marked by enc_algo.
    let publish = br#"[16,1,{"enc_algo":"cryptobox"},"t", "\u0000AQI="]"#;
    let Message::Publish { payload, .. } = Serializer::Json.decode_forwarding(publish).unwrap()
    else {
        panic!()
    };
    let event = |details: Dict| Message::Event {
        subscription: 3,
        publication: 4,
        details,
        payload: payload.clone(),
    };
    // With the marker the bytes are copied; without it, a list is written instead.
    assert_eq!(
        Serializer::Json.encode(&event(dict! {"enc_algo" => "cryptobox"})),
        br#"[36,3,4,{"enc_algo":"cryptobox"},"\u0000AQI="]"#
    );
    assert_eq!(
        Serializer::Json.encode(&event(dict! {})),
        br#"[36,3,4,{},["\u0000AQI="]]"#
    );
}
