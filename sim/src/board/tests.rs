use super::*;
use verger::valve_board::encode;

const MS: Duration = Duration::from_millis(1);

fn board(sections: u8) -> (BoardCore, Instant) {
    let t0 = Instant::now();
    let config = VirtualBoardConfig {
        sections,
        ..VirtualBoardConfig::default()
    };
    (BoardCore::new(config, t0), t0)
}

fn on(duty: u8) -> Section {
    Section::new(true, duty).expect("duty in range")
}

fn set(seq: u16, sections: &[Section]) -> Vec<u8> {
    let outputs = Outputs::new(sections).expect("few sections");
    encode(&HostMessage::Set { seq, outputs })
}

fn heartbeat(seq: u16) -> Vec<u8> {
    encode(&HostMessage::Heartbeat { seq })
}

fn decode(reply: &[u8]) -> Vec<BoardMessage> {
    verger::valve_board::BoardDecoder::new()
        .push(reply)
        .into_iter()
        .map(|r| r.expect("the board sends good frames"))
        .collect()
}

fn status(reply: &[u8]) -> Status {
    match decode(reply).as_slice() {
        [BoardMessage::Status(s)] => *s,
        other => panic!("not one STATUS: {other:?}"),
    }
}

#[test]
fn set_of_the_documented_example_is_acked_as_documented() {
    let (mut b, t0) = board(3);
    let at = t0 + 5 * MS;
    // docs/valve-board.md: SET seq 1, 100 %, 50 %, off → ACK of seq 1.
    let reply = b.on_bytes(
        at,
        &[
            0xA5, 0x0A, 0x01, 0x00, 0x01, 0x03, 0x01, 0x64, 0x01, 0x32, 0x00, 0x00, 0x2E, 0x2D,
        ],
    );
    assert_eq!(
        reply,
        [0xA5, 0x0A, 0x81, 0x00, 0x01, 0x03, 0x01, 0x64, 0x01, 0x32, 0x00, 0x00, 0xCA, 0x19]
    );
    assert_eq!(
        b.log(),
        [
            OutputChange {
                at,
                section: 0,
                state: on(100),
                cause: Cause::Set
            },
            OutputChange {
                at,
                section: 1,
                state: on(50),
                cause: Cause::Set
            },
        ]
    );
    assert_eq!(b.stats().frames_ok, 1);
    assert_eq!(b.stats().last_frame, Some(at));
    assert_eq!(b.watchdog_deadline(), Some(at + DEFAULT_WATCHDOG_PERIOD));
}

#[test]
fn a_set_naming_fewer_sections_closes_the_others_and_the_ack_lists_them_all() {
    let (mut b, t0) = board(3);
    b.on_bytes(t0, &set(1, &[on(100), on(100), on(100)]));
    let reply = b.on_bytes(t0 + MS, &set(2, &[on(40)]));
    let all = Outputs::new(&[on(40), Section::CLOSED, Section::CLOSED]).expect("3");
    assert_eq!(
        decode(&reply),
        [BoardMessage::Ack {
            seq: 2,
            outputs: all
        }]
    );
    assert_eq!(b.outputs(), all);
    // A SET repeating the state in force changes (and logs) nothing.
    let before = b.log().len();
    b.on_bytes(t0 + 2 * MS, &set(3, &[on(40)]));
    assert_eq!(b.log().len(), before);
}

#[test]
fn the_documented_status_after_a_trip_and_five_bad_crcs() {
    let (mut b, t0) = board(3);
    b.on_bytes(t0, &set(1, &[on(100)]));
    b.on_tick(t0 + DEFAULT_WATCHDOG_PERIOD);
    let mut bad = set(9, &[on(1)]);
    let last = bad.len() - 1;
    bad[last] ^= 0xFF;
    for i in 0..5 {
        // docs/valve-board.md: NAK, seq 0, bad CRC.
        let reply = b.on_bytes(t0 + (400 + i) * MS, &bad);
        assert_eq!(reply, [0xA5, 0x04, 0x83, 0x00, 0x00, 0x01, 0xCE, 0xCF]);
    }
    // docs/valve-board.md: seq 2, 300 ms, tripped, 5 CRC errors, 3 sections closed.
    let reply = b.on_bytes(t0 + 500 * MS, &heartbeat(2));
    assert_eq!(
        reply,
        [
            0xA5, 0x11, 0x82, 0x00, 0x02, 0x01, 0x2C, 0x01, 0x00, 0x00, 0x00, 0x05, 0x03, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0xC7
        ]
    );
    let stats = b.stats();
    assert_eq!((stats.crc_errors, stats.naks, stats.heartbeats), (5, 5, 1));
    assert_eq!(stats.frames_ok, 2);
}

#[test]
fn the_watchdog_closes_everything_one_period_after_the_last_valid_frame() {
    let (mut b, t0) = board(2);
    b.on_bytes(t0, &set(1, &[on(100), on(30)]));
    let fed = t0 + 100 * MS;
    b.on_bytes(fed, &heartbeat(2));
    // Garbage and refused frames do not feed it.
    b.on_bytes(t0 + 200 * MS, &[0x00, 0x13, 0xA5, 0x00]);
    assert_eq!(b.watchdog_deadline(), Some(fed + DEFAULT_WATCHDOG_PERIOD));
    b.on_tick(fed + DEFAULT_WATCHDOG_PERIOD - MS);
    assert!(b.outputs().sections().iter().all(Section::is_open));
    let fired = fed + DEFAULT_WATCHDOG_PERIOD;
    b.on_tick(fired);
    assert_eq!(b.outputs(), Outputs::all_closed(2));
    assert!(b.tripped());
    assert_eq!(
        b.watchdog_deadline(),
        None,
        "disarmed until the next valid frame"
    );
    let closed: Vec<_> = b.log()[2..]
        .iter()
        .map(|c| (c.at, c.section, c.cause))
        .collect();
    assert_eq!(
        closed,
        [(fired, 0, Cause::Watchdog), (fired, 1, Cause::Watchdog)]
    );
    assert_eq!(b.since(|o| o == &Outputs::all_closed(2)), Some(fired));
    // A HEARTBEAT re-arms the watchdog but reopens nothing; STATUS says tripped.
    let s = status(&b.on_bytes(fired + 50 * MS, &heartbeat(3)));
    assert!(s.watchdog_tripped);
    assert_eq!(s.outputs, Outputs::all_closed(2));
    // ALL_OFF does not clear it either; the next SET does.
    b.on_bytes(fired + 60 * MS, &encode(&HostMessage::AllOff { seq: 4 }));
    assert!(b.tripped());
    b.on_bytes(fired + 70 * MS, &set(5, &[on(100)]));
    assert!(!b.tripped());
    assert_eq!(b.stats().watchdog_trips, 1);
}

#[test]
fn a_deadline_passed_before_late_bytes_fires_before_them() {
    let (mut b, t0) = board(1);
    b.on_bytes(t0, &set(1, &[on(100)]));
    let late = t0 + 400 * MS;
    let s = status(&b.on_bytes(late, &heartbeat(2)));
    assert!(s.watchdog_tripped);
    assert_eq!(b.log()[1].cause, Cause::Watchdog);
}

#[test]
fn a_board_without_watchdog_never_trips() {
    let t0 = Instant::now();
    let config = VirtualBoardConfig {
        watchdog: Duration::ZERO,
        ..VirtualBoardConfig::default()
    };
    let mut b = BoardCore::new(config, t0);
    b.on_bytes(t0, &set(1, &[on(100)]));
    assert_eq!(b.watchdog_deadline(), None);
    assert_eq!(status(&b.on_bytes(t0, &heartbeat(2))).watchdog_period_ms, 0);
}

#[test]
fn refused_sets_change_nothing_and_echo_the_sequence_number() {
    let (mut b, t0) = board(2);
    // More sections than the board has.
    let reply = b.on_bytes(t0, &set(7, &[on(100), on(100), on(100)]));
    assert_eq!(
        decode(&reply),
        [BoardMessage::Nak {
            seq: 7,
            reason: NakReason::BadSection
        }]
    );
    // A duty above 100 %, written by hand (the codec refuses to encode it).
    let mut frame = vec![0xA5, 0x06, 0x01, 0x00, 0x08, 0x01, 0x01, 0x65];
    let crc = verger::valve_board::crc16_ccitt_false(&frame[1..]);
    frame.extend_from_slice(&crc.to_be_bytes());
    assert_eq!(
        decode(&b.on_bytes(t0, &frame)),
        [BoardMessage::Nak {
            seq: 8,
            reason: NakReason::BadSection
        }]
    );
    // A board → host frame looped back: unknown type, seq 0.
    let looped = encode(&BoardMessage::Nak {
        seq: 3,
        reason: NakReason::BadCrc,
    });
    assert_eq!(
        decode(&b.on_bytes(t0, &looped)),
        [BoardMessage::Nak {
            seq: 0,
            reason: NakReason::UnknownType
        }]
    );
    assert!(b.log().is_empty());
    assert_eq!(b.watchdog_deadline(), None);
    assert_eq!(b.stats().frames_ok, 0);
    assert_eq!(b.stats().naks, 3);
    assert_eq!(b.stats().crc_errors, 0);
}

#[test]
fn garbage_outside_frames_is_skipped_without_an_answer() {
    let (mut b, t0) = board(2);
    assert!(b.on_bytes(t0, b"hello\r\n").is_empty());
    let reply = b.on_bytes(t0, &[b"noise".as_slice(), &heartbeat(1)].concat());
    assert_eq!(status(&reply).seq, 1);
}

#[test]
fn a_muted_board_applies_frames_and_answers_nothing() {
    let (mut b, t0) = board(2);
    b.set_mute(true);
    assert!(b.on_bytes(t0, &set(1, &[on(100)])).is_empty());
    assert!(b.on_bytes(t0, &[0xA5, 0x01, 0x02, 0x00, 0x00]).is_empty());
    assert!(b.outputs().sections()[0].is_open());
    assert_eq!(b.stats().naks, 0, "nothing was sent");
    assert_eq!(b.stats().crc_errors, 1, "but the bad frame was counted");
    b.set_mute(false);
    assert_eq!(status(&b.on_bytes(t0, &heartbeat(2))).seq, 2);
}

#[test]
fn since_is_the_start_of_the_current_run() {
    let (mut b, t0) = board(1);
    let closed = |o: &Outputs| !o.sections()[0].is_open();
    assert_eq!(b.since(closed), Some(t0), "closed since power-on");
    b.on_bytes(t0 + MS, &set(1, &[on(100)]));
    assert_eq!(b.since(closed), None);
    b.on_bytes(t0 + 2 * MS, &set(2, &[on(50)]));
    assert_eq!(b.since(|o| o.sections()[0].is_open()), Some(t0 + MS));
    b.on_bytes(t0 + 3 * MS, &encode(&HostMessage::AllOff { seq: 3 }));
    assert_eq!(b.since(closed), Some(t0 + 3 * MS));
}

#[test]
fn sprays_follow_the_outputs_a_latency_later() {
    let t = Instant::now();
    let change = |ms: u32, section: usize, state: Section| OutputChange {
        at: t + ms * MS,
        section,
        state,
        cause: Cause::Set,
    };
    let log = [
        change(0, 0, on(100)),
        change(10, 1, on(0)), // on at 0 %: closed, no spray
        change(20, 0, on(60)),
        change(30, 1, on(80)),
        change(40, 0, Section::CLOSED),
    ];
    let l = 300 * MS;
    let spray = |section, from: u32, to: Option<u32>, duty| Spray {
        section,
        from: t + from * MS + l,
        to: to.map(|ms| t + ms * MS + l),
        duty,
    };
    assert_eq!(
        sprays(&log, l),
        [
            spray(0, 0, Some(20), 100),
            spray(0, 20, Some(40), 60),
            spray(1, 30, None, 80),
        ]
    );
}
