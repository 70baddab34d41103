//! The sprayer's valve boards over real pseudo-terminals: `SerialBoard` against the
//! simulator's `VirtualBoard` (the protocol as firmware speaks it), `LcRelayBoard` against a
//! pty the test reads byte for byte. Every wait is for an event (the health channel, the
//! virtual board's record) and bounded.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::watch;
use verger_sim::board::{Cause, VirtualBoard, VirtualBoardConfig};
use verger_sprayer::board::{
    self, encode, AnyBoard, Board, BoardError, BoardHealth, BoardKind, BoardSettings, HostMessage,
    Outputs, Section, DEFAULT_WATCHDOG_PERIOD, HEARTBEAT_PERIOD,
};
use verger_testkit::{within, Pty, TempDir, STEP};

fn on(duty: u8) -> Section {
    Section::new(true, duty).expect("duty in range")
}

fn outputs(sections: &[Section]) -> Outputs {
    Outputs::new(sections).expect("few sections")
}

fn closed(o: &Outputs) -> bool {
    o.sections().iter().all(|s| !s.is_open())
}

fn settings(kind: BoardKind, port: PathBuf) -> BoardSettings {
    BoardSettings {
        kind,
        port,
        baud: None,
    }
}

/// A virtual board of `sections` sections and the sprayer's serial board on it, once the
/// `ALL_OFF` sent at opening is acknowledged.
async fn serial_pair(dir: &TempDir, sections: u8) -> (VirtualBoard, AnyBoard) {
    let config = VirtualBoardConfig {
        sections,
        ..VirtualBoardConfig::default()
    };
    let virtual_board = VirtualBoard::open(&dir.path("ttyUSB0"), config).expect("virtual board");
    let host = board::open(
        &settings(BoardKind::Serial, virtual_board.link().to_path_buf()),
        usize::from(sections),
    )
    .await
    .expect("open the serial board");
    assert_eq!(
        (host.kind(), host.sections()),
        (BoardKind::Serial, usize::from(sections))
    );
    let all_closed = Outputs::all_closed(sections);
    health_until(&mut host.health(), "the ACK of the opening ALL_OFF", |h| {
        h.answering && h.confirmed == Some(all_closed)
    })
    .await;
    (virtual_board, host)
}

/// The first health that satisfies `pred` (the current one if it does).
async fn health_until(
    rx: &mut watch::Receiver<BoardHealth>,
    what: &str,
    pred: impl FnMut(&BoardHealth) -> bool,
) -> BoardHealth {
    within(what, rx.wait_for(pred))
        .await
        .expect("the board's health channel")
        .clone()
}

/// Heartbeats at the driver's cadence until the health satisfies `pred`.
async fn heartbeats_until(
    host: &mut AnyBoard,
    what: &str,
    mut pred: impl FnMut(&BoardHealth) -> bool,
) -> BoardHealth {
    let mut health = host.health();
    let mut tick = tokio::time::interval(HEARTBEAT_PERIOD);
    within(what, async {
        loop {
            tokio::select! {
                _ = tick.tick() => host.heartbeat().await.expect("heartbeat"),
                h = health.wait_for(&mut pred) => return h.expect("the board's health channel").clone(),
            }
        }
    })
    .await
}

#[tokio::test]
async fn a_set_is_one_frame_and_its_ack_is_confirmed_in_health() {
    let dir = TempDir::new("board-set");
    let (virtual_board, mut host) = serial_pair(&dir, 3).await;
    assert_eq!(virtual_board.stats().frames_ok, 1, "the opening ALL_OFF");

    host.set(&[on(100), on(50)]).await.expect("set");
    let want = outputs(&[on(100), on(50), Section::CLOSED]);
    let h = health_until(&mut host.health(), "the ACK of the SET", |h| {
        h.confirmed == Some(want)
    })
    .await;
    assert!(h.answering && !h.watchdog_tripped);
    assert_eq!((h.naks, h.last_error), (0, None));
    assert_eq!(virtual_board.outputs(), want);
    assert_eq!(virtual_board.stats().frames_ok, 2, "exactly one SET frame");
    let log = virtual_board.log();
    let changes: Vec<_> = log.iter().map(|c| (c.section, c.state, c.cause)).collect();
    assert_eq!(changes, [(0, on(100), Cause::Set), (1, on(50), Cause::Set)]);

    // More outputs than sections: refused, nothing written.
    let too_many = host.set(&[on(1), on(1), on(1), on(1)]).await;
    assert!(matches!(
        too_many,
        Err(BoardError::TooManyOutputs {
            given: 4,
            sections: 3
        })
    ));
    host.all_off().await.expect("all off");
    virtual_board
        .wait_for("every section closed by ALL_OFF", STEP, closed)
        .await
        .expect("closed");
    assert_eq!(
        virtual_board.log().last().map(|c| c.cause),
        Some(Cause::AllOff)
    );
    assert_eq!(virtual_board.stats().frames_ok, 3);
}

#[tokio::test]
async fn corrupted_frames_are_naked_and_the_next_status_reports_the_board_s_crc_count() {
    let dir = TempDir::new("board-crc");
    let (virtual_board, mut host) = serial_pair(&dir, 2).await;
    // Straight to the board's pty, around the host: a SET with its CRC broken.
    let mut frame = encode(&HostMessage::Set {
        seq: 40,
        outputs: outputs(&[on(100)]),
    });
    let last = frame.len() - 1;
    frame[last] ^= 0x55;
    let mut line = std::fs::OpenOptions::new()
        .write(true)
        .open(virtual_board.link())
        .expect("open the board's line");
    line.write_all(&frame).expect("write the corrupted frame");

    let h = health_until(&mut host.health(), "the NAK", |h| h.naks == 1).await;
    let said = h.last_error.expect("the NAK in words");
    assert!(
        said.contains("refused a frame it could not read: bad CRC"),
        "{said}"
    );
    assert!(closed(&virtual_board.outputs()), "nothing applied");

    host.heartbeat().await.expect("heartbeat");
    let h = health_until(&mut host.health(), "the STATUS", |h| h.crc_errors == 1).await;
    assert_eq!(h.last_error, None, "a good STATUS clears the NAK's message");
    let stats = virtual_board.stats();
    assert_eq!((stats.crc_errors, stats.naks, stats.heartbeats), (1, 1, 1));
}

#[tokio::test]
async fn garbage_from_the_board_is_reported_and_the_host_resynchronises() {
    let dir = TempDir::new("board-garbage");
    let (virtual_board, mut host) = serial_pair(&dir, 2).await;
    // Noise, then the start of a frame that never ends: the next ACK completes it with a
    // bad CRC, and the decoder finds the ACK inside.
    virtual_board.send_raw(b"\x00\xFFnoise\xA5\x09").await;
    let h = health_until(&mut host.health(), "the garbage reported", |h| {
        h.last_error.as_ref().is_some_and(|e| e.contains("garbage"))
    })
    .await;
    let said = h.last_error.expect("garbage");
    assert!(
        said.contains(&virtual_board.link().display().to_string()),
        "{said}"
    );

    host.set(&[on(70)]).await.expect("set");
    let want = outputs(&[on(70), Section::CLOSED]);
    let h = health_until(&mut host.health(), "the ACK behind the garbage", |h| {
        h.confirmed == Some(want)
    })
    .await;
    assert!(h.answering);
    assert_eq!(h.last_error, None);
}

#[tokio::test]
async fn a_board_that_stops_answering_is_reported_and_welcomed_back() {
    let dir = TempDir::new("board-mute");
    let (virtual_board, mut host) = serial_pair(&dir, 2).await;
    virtual_board.set_mute(true);
    let h = heartbeats_until(&mut host, "the board not answering", |h| !h.answering).await;
    let said = h.last_error.expect("why");
    assert!(
        said.contains("does not answer: no ACK or STATUS within 300 ms"),
        "{said}"
    );
    let stats = virtual_board.stats();
    assert!(stats.heartbeats >= 3, "the board got the frames: {stats:?}");
    assert_eq!(stats.watchdog_trips, 0, "and they fed its watchdog");

    virtual_board.set_mute(false);
    host.heartbeat().await.expect("heartbeat");
    let h = health_until(&mut host.health(), "the board answering again", |h| {
        h.answering
    })
    .await;
    assert_eq!(h.last_error, None);
}

#[tokio::test]
async fn the_board_s_watchdog_closes_the_outputs_a_period_after_the_heartbeats_stop() {
    let dir = TempDir::new("board-watchdog");
    let (virtual_board, mut host) = serial_pair(&dir, 2).await;
    host.set(&[on(100), on(100)]).await.expect("set");
    let opened = virtual_board
        .wait_for("both sections open", STEP, |o| {
            o.sections().iter().all(|s| s.is_open())
        })
        .await
        .expect("opened");

    // The driver's cadence: heartbeats every 100 ms keep the outputs open past a period.
    let mut tick = tokio::time::interval(HEARTBEAT_PERIOD);
    tick.tick().await;
    for _ in 0..4 {
        tick.tick().await;
        host.heartbeat().await.expect("heartbeat");
    }
    assert!(opened.elapsed() > DEFAULT_WATCHDOG_PERIOD);
    assert_eq!(
        virtual_board.stats().watchdog_trips,
        0,
        "heartbeats kept it open"
    );
    assert!(virtual_board
        .outputs()
        .sections()
        .iter()
        .all(|s| s.is_open()));

    // Then silence.
    let closed_at = virtual_board
        .wait_for("every section closed by the watchdog", STEP, closed)
        .await
        .expect("the watchdog fired");
    let last_frame = virtual_board.stats().last_frame.expect("frames came");
    let silence = closed_at - last_frame;
    assert!(
        silence >= DEFAULT_WATCHDOG_PERIOD
            && silence <= DEFAULT_WATCHDOG_PERIOD + Duration::from_millis(50),
        "closed {silence:?} after the last frame"
    );
    let log = virtual_board.log();
    assert!(log[log.len() - 2..]
        .iter()
        .all(|c| c.cause == Cause::Watchdog && c.at == closed_at));
    assert_eq!(virtual_board.stats().watchdog_trips, 1);

    // The host hears of it in the next STATUS; the next SET clears it.
    host.heartbeat().await.expect("heartbeat");
    let h = health_until(&mut host.health(), "the trip reported", |h| {
        h.watchdog_tripped
    })
    .await;
    assert_eq!(h.confirmed, Some(Outputs::all_closed(2)));
    assert!(h.last_error.is_some_and(|e| e.contains("watchdog tripped")));
    host.set(&[on(100)]).await.expect("set");
    let h = health_until(&mut host.health(), "the trip cleared", |h| {
        !h.watchdog_tripped
    })
    .await;
    assert_eq!(h.last_error, None);
    assert!(!virtual_board.tripped());
}

#[tokio::test]
async fn emergency_off_closes_everything_from_any_thread() {
    let dir = TempDir::new("board-emergency");
    let (virtual_board, mut host) = serial_pair(&dir, 2).await;
    host.set(&[on(100), on(60)]).await.expect("set");
    virtual_board
        .wait_for("both open", STEP, |o| {
            o.sections().iter().all(|s| s.is_open())
        })
        .await
        .expect("opened");

    let off = host.emergency_off().expect("emergency off");
    // As a panic hook would: no runtime, no lock, a plain thread.
    std::thread::spawn(move || off.fire()).join().expect("fire");
    virtual_board
        .wait_for(
            "every section closed by the emergency ALL_OFF",
            STEP,
            closed,
        )
        .await
        .expect("closed");
    assert_eq!(
        virtual_board.log().last().map(|c| c.cause),
        Some(Cause::AllOff)
    );
}

#[tokio::test]
async fn a_board_that_disappears_is_reported_gone() {
    let dir = TempDir::new("board-gone");
    let (virtual_board, host) = serial_pair(&dir, 2).await;
    let link = virtual_board.link().display().to_string();
    drop(virtual_board);
    let h = health_until(&mut host.health(), "the board gone", |h| h.gone).await;
    let said = h.last_error.expect("why");
    assert!(
        said.starts_with(&format!("the valve board at {link} is gone: ")),
        "{said}"
    );
}

#[tokio::test]
async fn a_port_is_for_one_board_and_a_missing_one_is_named() {
    let dir = TempDir::new("board-open");
    let (virtual_board, _host) = serial_pair(&dir, 2).await;
    let again = board::open(&settings(BoardKind::Serial, virtual_board.link().into()), 2).await;
    let Err(BoardError::Open { message, .. }) = again else {
        panic!("a second open: {again:?}");
    };
    assert!(message.contains("in use by another program"), "{message}");

    let missing = dir.path("ttyUSB9");
    for kind in [BoardKind::Serial, BoardKind::LcRelay] {
        let e = board::open(&settings(kind, missing.clone()), 2)
            .await
            .expect_err("no such port");
        let said = e.to_string();
        assert!(
            said.starts_with(&format!(
                "serial port {} does not exist: is the valve board plugged in",
                missing.display()
            )),
            "{said}"
        );
        assert!(matches!(e, BoardError::Open { port, .. } if port == missing));
    }
    let e = board::open(&settings(BoardKind::Serial, missing), 17)
        .await
        .expect_err("17 sections");
    assert!(matches!(
        e,
        BoardError::TooManySections {
            sections: 17,
            max: 16
        }
    ));
}

/// Reads exactly `n` bytes the program wrote to the pty.
async fn read_exactly(pty: &mut Pty, n: usize) -> Vec<u8> {
    let mut got = Vec::new();
    while got.len() < n {
        got.extend(pty.read().await);
    }
    got
}

/// `A0 relay state sum` for each relay switched, in order.
fn relays(switches: &[(u8, bool)]) -> Vec<u8> {
    switches
        .iter()
        .flat_map(|&(relay, on)| board::lc_relay(relay.try_into().expect("relay ≥ 1"), on))
        .collect()
}

#[tokio::test]
async fn an_lc_relay_board_gets_exactly_the_relays_that_change() {
    let dir = TempDir::new("board-relay");
    let mut pty = Pty::open(&dir.path("ttyUSB0"));
    let mut host = board::open(&settings(BoardKind::LcRelay, pty.link.clone()), 3)
        .await
        .expect("open the relay board");
    assert_eq!(host.kind(), BoardKind::LcRelay);
    let all_off = relays(&[(1, false), (2, false), (3, false)]);
    assert_eq!(
        read_exactly(&mut pty, 12).await,
        all_off,
        "every relay off at opening"
    );
    let h = host.health().borrow().clone();
    assert!(h.answering && h.confirmed.is_none() && h.last_error.is_none());

    host.set(&[on(100)]).await.expect("set");
    assert_eq!(read_exactly(&mut pty, 4).await, [0xA0, 0x01, 0x01, 0xA2]);
    // The same again, a heartbeat, then a change of relay 3 only (on at 0 % is closed):
    // what comes next is that change alone, so nothing was written in between.
    host.set(&[on(100)]).await.expect("set again");
    host.heartbeat().await.expect("heartbeat");
    host.set(&[on(100), on(0), on(20)])
        .await
        .expect("set relay 3");
    assert_eq!(read_exactly(&mut pty, 4).await, relays(&[(3, true)]));
    host.set(&[Section::CLOSED, on(10)]).await.expect("swap");
    assert_eq!(
        read_exactly(&mut pty, 12).await,
        relays(&[(1, false), (2, true), (3, false)])
    );

    host.all_off().await.expect("all off");
    assert_eq!(
        read_exactly(&mut pty, 12).await,
        all_off,
        "every relay, whatever its state"
    );
    host.emergency_off().expect("emergency off").fire();
    assert_eq!(read_exactly(&mut pty, 12).await, all_off);
    drop(host);
    assert_eq!(
        read_exactly(&mut pty, 12).await,
        all_off,
        "dropping the board closes every relay"
    );
}
