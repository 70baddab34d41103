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
