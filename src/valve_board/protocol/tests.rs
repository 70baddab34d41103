use proptest::prelude::*;

use super::*;

fn sec(on: bool, duty: u8) -> Section {
    Section::new(on, duty).expect("test duty in range")
}

fn three() -> Outputs {
    Outputs::new(&[sec(true, 100), sec(true, 50), sec(false, 0)]).expect("3 sections")
}

fn status() -> BoardMessage {
    BoardMessage::Status(Status {
        seq: 2,
        watchdog_period_ms: 300,
        watchdog_tripped: true,
        crc_errors: 5,
        outputs: Outputs::all_closed(3),
    })
}

/// Decodes hex written by hand ("A5 03 ...").
fn h(s: &str) -> Vec<u8> {
    s.split_whitespace()
        .map(|b| u8::from_str_radix(b, 16).expect("test hex"))
        .collect()
}

// The example frames of docs/valve-board.md, by hand.
const SET: &str = "A5 0A 01 00 01 03 01 64 01 32 00 00 2E 2D";
const HEARTBEAT: &str = "A5 03 02 00 02 51 3E";
const ALL_OFF: &str = "A5 03 03 00 03 76 2F";
const ACK: &str = "A5 0A 81 00 01 03 01 64 01 32 00 00 CA 19";
const STATUS: &str = "A5 11 82 00 02 01 2C 01 00 00 00 05 03 00 00 00 00 00 00 10 C7";
const NAK: &str = "A5 04 83 00 00 01 CE CF";

#[test]
fn crc_known_value() {
    assert_eq!(crc16_ccitt_false(b"123456789"), 0x29B1);
    assert_eq!(crc16_ccitt_false(b""), 0xFFFF);
}

#[test]
fn host_known_vectors() {
    let cases = [
        (
            HostMessage::Set {
                seq: 1,
                outputs: three(),
            },
            SET,
        ),
        (HostMessage::Heartbeat { seq: 2 }, HEARTBEAT),
        (HostMessage::AllOff { seq: 3 }, ALL_OFF),
    ];
    for (msg, wire) in cases {
        assert_eq!(encode(&msg), h(wire), "{msg:?}");
        assert_eq!(HostDecoder::new().push(&h(wire)), vec![Ok(msg)]);
    }
}

#[test]
fn board_known_vectors() {
    let cases = [
        (
            BoardMessage::Ack {
                seq: 1,
                outputs: three(),
            },
            ACK,
        ),
        (status(), STATUS),
        (
            BoardMessage::Nak {
                seq: 0,
                reason: NakReason::BadCrc,
            },
            NAK,
        ),
    ];
    for (msg, wire) in cases {
        assert_eq!(encode(&msg), h(wire), "{msg:?}");
        assert_eq!(BoardDecoder::new().push(&h(wire)), vec![Ok(msg)]);
    }
}

#[test]
fn round_trip_every_type_with_full_board() {
    let sixteen: Vec<Section> = (0..16u8).map(|i| sec(i % 2 == 0, i * 6)).collect();
    let full = Outputs::new(&sixteen).expect("16 sections");
    let host = [
        HostMessage::Set {
            seq: 0xFFFF,
            outputs: full,
        },
        HostMessage::Set {
            seq: 0,
            outputs: Outputs::default(),
        },
        HostMessage::Heartbeat { seq: 0x1234 },
        HostMessage::AllOff { seq: 7 },
    ];
    let mut wire = Vec::new();
    for m in &host {
        encode_into(m, &mut wire);
    }
    let got: Vec<_> = HostDecoder::new().push(&wire).into_iter().collect();
    assert_eq!(got, host.iter().copied().map(Ok).collect::<Vec<_>>());

    let board = [
        BoardMessage::Ack {
            seq: 9,
            outputs: full,
        },
        BoardMessage::Status(Status {
            seq: 1,
            watchdog_period_ms: 65535,
            watchdog_tripped: false,
            crc_errors: u32::MAX,
            outputs: full,
        }),
        BoardMessage::Nak {
            seq: 3,
            reason: NakReason::UnknownType,
        },
        BoardMessage::Nak {
            seq: 4,
            reason: NakReason::BadLength,
        },
        BoardMessage::Nak {
            seq: 5,
            reason: NakReason::BadSection,
        },
    ];
    let mut wire = Vec::new();
    for m in &board {
        encode_into(m, &mut wire);
    }
    assert!(
        wire.len() >= MAX_FRAME,
        "the full STATUS is the largest frame"
    );
    let got = BoardDecoder::new().push(&wire);
    assert_eq!(got, board.iter().copied().map(Ok).collect::<Vec<_>>());
}

#[test]
fn garbage_before_and_between_frames_is_skipped() {
    let mut wire = h("00 FF 13 37");
    wire.extend(h(SET));
    wire.extend(h("42 00 5A"));
    wire.extend(h(HEARTBEAT));
    let mut d = HostDecoder::new();
    let got = d.push(&wire);
    assert_eq!(
        got,
        vec![
            Ok(HostMessage::Set {
                seq: 1,
                outputs: three()
            }),
            Ok(HostMessage::Heartbeat { seq: 2 })
        ]
    );
    assert_eq!(d.skipped_bytes(), 7);
    assert_eq!(d.crc_errors(), 0);
}

#[test]
fn frame_split_byte_by_byte() {
    let mut d = BoardDecoder::new();
    let wire = h(STATUS);
    let (last, head) = wire.split_last().expect("non-empty");
    for b in head {
        assert!(d.push(&[*b]).is_empty(), "nothing before the last byte");
    }
    assert_eq!(d.push(&[*last]), vec![Ok(status())]);
}

#[test]
fn corrupted_byte_reports_error_then_next_frame_decodes() {
    let mut bad = h(SET);
    bad[7] ^= 0x10; // a duty byte
    let mut wire = bad;
    wire.extend(h(ALL_OFF));
    let mut d = HostDecoder::new();
    let got = d.push(&wire);
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(matches!(
        got[0],
        Err(FrameError::BadCrc {
            received: 0x2E2D,
            ..
        })
    ));
    assert_eq!(
        got[0].as_ref().map_err(FrameError::nak_reason),
        Err(NakReason::BadCrc)
    );
    assert_eq!(got[1], Ok(HostMessage::AllOff { seq: 3 }));
    assert_eq!(d.crc_errors(), 1);
}

#[test]
fn corrupted_length_byte_does_not_swallow_next_frame() {
    // A length of 0x20 makes the decoder wait for the next frame's bytes, then fail the
    // CRC, then find the next frame inside what it held.
    let mut wire = h(HEARTBEAT);
    wire[1] = 0x20;
    for _ in 0..8 {
        wire.extend(h(ALL_OFF));
    }
    let got = HostDecoder::new().push(&wire);
    assert!(matches!(got[0], Err(FrameError::BadCrc { .. })), "{got:?}");
    let good = got.iter().filter(|r| r.is_ok()).count();
    // The first ALL_OFF frames overlap the bad frame's span but are rescanned.
    assert_eq!(good, 8, "{got:?}");
}

#[test]
fn over_long_length_is_refused_at_once() {
    let mut d = HostDecoder::new();
    // 0x25 = 37 > 36, the largest host payload: refused without waiting for 37 bytes.
    assert_eq!(
        d.push(&h("A5 25")),
        vec![Err(FrameError::BadLength { len: 0x25 })]
    );
    assert_eq!(
        d.push(&h(HEARTBEAT)),
        vec![Ok(HostMessage::Heartbeat { seq: 2 })]
    );
    assert_eq!(
        d.push(&h("A5 00")),
        vec![Err(FrameError::BadLength { len: 0 })]
    );
    // The board direction allows up to 43.
    let mut b = BoardDecoder::new();
    assert_eq!(
        b.push(&h("A5 2C")),
        vec![Err(FrameError::BadLength { len: 0x2C })]
    );
    assert!(b.push(&h("A5 2B")).is_empty(), "43 is a valid board length");
}

/// A frame around `payload` with a good CRC.
fn frame(payload: &[u8]) -> Vec<u8> {
    let mut out = vec![START, payload.len() as u8];
    out.extend_from_slice(payload);
    let crc = crc16_ccitt_false(&out[1..]);
    out.extend_from_slice(&crc.to_be_bytes());
    out
}

#[test]
fn good_crc_bad_content_is_typed() {
    let mut d = HostDecoder::new();
    let cases: [(&[u8], FrameError); 7] = [
        (&[0x7F, 0, 1], FrameError::UnknownType(0x7F)),
        // A board message sent to the board (looped-back line).
        (&[0x81, 0, 1, 0], FrameError::UnknownType(0x81)),
        (&[0x02, 0, 1, 0], FrameError::BadLength { len: 4 }),
        (&[0x01, 0, 1, 2, 1, 50], FrameError::BadLength { len: 6 }),
        (
            &[0x01, 0, 1, 17],
            FrameError::BadSection {
                msg_type: 1,
                seq: 1,
            },
        ),
        (
            &[0x01, 0, 1, 1, 2, 50],
            FrameError::BadSection {
                msg_type: 1,
                seq: 1,
            },
        ),
        (
            &[0x01, 0x12, 0x34, 1, 1, 101],
            FrameError::BadSection {
                msg_type: 1,
                seq: 0x1234,
            },
        ),
    ];
    for (payload, want) in cases {
        assert_eq!(
            d.push(&frame(payload)),
            vec![Err(want.clone())],
            "{payload:02X?}"
        );
    }
    assert_eq!(
        FrameError::BadSection {
            msg_type: 1,
            seq: 7
        }
        .nak_reason(),
        NakReason::BadSection
    );
    // A board echoes the sequence number when it could read it, else sends 0.
    assert_eq!(
        FrameError::BadSection {
            msg_type: 1,
            seq: 7
        }
        .nak_seq(),
        7
    );
    assert_eq!(FrameError::BadLength { len: 0 }.nak_seq(), 0);
    assert_eq!(FrameError::UnknownType(0x7F).nak_seq(), 0);
    assert_eq!(
        FrameError::UnknownType(0).nak_reason(),
        NakReason::UnknownType
    );
    assert_eq!(
        FrameError::BadLength { len: 0 }.nak_reason(),
        NakReason::BadLength
    );

    let mut b = BoardDecoder::new();
    assert_eq!(
        b.push(&frame(&[0x83, 0, 1, 9])),
        vec![Err(FrameError::BadField {
            msg_type: 0x83,
            field: "reason"
        })]
    );
    let mut st = h(STATUS)[2..19].to_vec();
    st[5] = 2; // watchdog_tripped
    assert_eq!(
        b.push(&frame(&st)),
        vec![Err(FrameError::BadField {
            msg_type: 0x82,
            field: "watchdog_tripped"
        })]
    );
}

#[test]
fn values_are_validated() {
    assert_eq!(
        Section::new(true, 101),
        Err(ValueError::DutyOutOfRange(101))
    );
    assert!(!sec(true, 0).is_open());
    assert!(!sec(false, 80).is_open());
    assert!(sec(true, 1).is_open());
    let seventeen = [Section::CLOSED; 17];
    assert_eq!(
        Outputs::new(&seventeen),
        Err(ValueError::TooManySections(17))
    );
    assert_eq!(Outputs::all_closed(200).sections().len(), MAX_SECTIONS);
    assert_eq!(three().sections()[1], sec(true, 50));
}

#[test]
fn reset_drops_partial_frame() {
    let mut d = HostDecoder::new();
    assert!(d.push(&h("A5 03 02 00")).is_empty());
    d.reset();
    assert_eq!(
        d.push(&h(ALL_OFF)),
        vec![Ok(HostMessage::AllOff { seq: 3 })]
    );
}

fn section() -> impl Strategy<Value = Section> {
    (any::<bool>(), 0..=MAX_DUTY).prop_map(|(on, duty)| sec(on, duty))
}

fn outputs() -> impl Strategy<Value = Outputs> {
    prop::collection::vec(section(), 0..=MAX_SECTIONS)
        .prop_map(|v| Outputs::new(&v).expect("≤ 16 sections"))
}

fn host_message() -> impl Strategy<Value = HostMessage> {
    prop_oneof![
        (any::<u16>(), outputs()).prop_map(|(seq, outputs)| HostMessage::Set { seq, outputs }),
        any::<u16>().prop_map(|seq| HostMessage::Heartbeat { seq }),
        any::<u16>().prop_map(|seq| HostMessage::AllOff { seq }),
    ]
}

fn board_message() -> impl Strategy<Value = BoardMessage> {
    let reason = prop_oneof![
        Just(NakReason::BadCrc),
        Just(NakReason::UnknownType),
        Just(NakReason::BadLength),
        Just(NakReason::BadSection),
    ];
    prop_oneof![
        (any::<u16>(), outputs()).prop_map(|(seq, outputs)| BoardMessage::Ack { seq, outputs }),
        (
            any::<u16>(),
            any::<u16>(),
            any::<bool>(),
            any::<u32>(),
            outputs()
        )
            .prop_map(
                |(seq, watchdog_period_ms, watchdog_tripped, crc_errors, outputs)| {
                    BoardMessage::Status(Status {
                        seq,
                        watchdog_period_ms,
                        watchdog_tripped,
                        crc_errors,
                        outputs,
                    })
                }
            ),
        (any::<u16>(), reason).prop_map(|(seq, reason)| BoardMessage::Nak { seq, reason }),
    ]
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 0..16)) {
        let mut hd = HostDecoder::new();
        let mut bd = BoardDecoder::new();
        for c in &chunks {
            // At most one result per byte pushed: output is bounded by input.
            prop_assert!(hd.push(c).len() <= c.len());
            prop_assert!(bd.push(c).len() <= c.len());
        }
    }

    #[test]
    fn host_messages_round_trip(msgs in prop::collection::vec(host_message(), 1..8), garbage in prop::collection::vec(any::<u8>().prop_filter("not a start byte", |b| *b != START), 0..8), split in 1usize..20) {
        let mut wire = garbage;
        for m in &msgs {
            encode_into(m, &mut wire);
        }
        let mut d = HostDecoder::new();
        let mut got = Vec::new();
        for c in wire.chunks(split) {
            got.extend(d.push(c));
        }
        prop_assert_eq!(got, msgs.into_iter().map(Ok).collect::<Vec<_>>());
    }

    #[test]
    fn board_messages_round_trip(msgs in prop::collection::vec(board_message(), 1..8), split in 1usize..20) {
        let mut wire = Vec::new();
        for m in &msgs {
            encode_into(m, &mut wire);
        }
        let mut d = BoardDecoder::new();
        let mut got = Vec::new();
        for c in wire.chunks(split) {
            got.extend(d.push(c));
        }
        prop_assert_eq!(got, msgs.into_iter().map(Ok).collect::<Vec<_>>());
    }

    #[test]
    fn one_flipped_byte_loses_at_most_that_frame(msgs in prop::collection::vec(host_message(), 2..6), which in any::<prop::sample::Index>(), flip in 1u8..=255) {
        let mut wire = Vec::new();
        let mut ends = Vec::new();
        for m in &msgs {
            encode_into(m, &mut wire);
            ends.push(wire.len());
        }
        let i = which.index(ends[0]); // corrupt a byte of the first frame
        wire[i] ^= flip;
        // A length corrupted upwards waits for bytes that, on a live line, the next frames
        // bring: model the line going on with idle filler.
        wire.extend([0u8; MAX_FRAME]);
        let got = HostDecoder::new().push(&wire);
        let good: Vec<_> = got.into_iter().filter_map(Result::ok).collect();
        // Every later frame still decodes (a corrupted start byte or length may at worst add
        // errors; CRC-16 makes a false good frame vanishingly unlikely).
        prop_assert_eq!(&good[good.len().saturating_sub(msgs.len() - 1)..], &msgs[1..]);
    }
}
