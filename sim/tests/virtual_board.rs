//! The virtual valve board on its pty, driven by raw frames through the same `Tty` a host
//! would use. (The sprayer's `SerialBoard` against it: `components/sprayer/tests/board.rs`.)

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use verger::tty::Tty;
use verger::valve_board::{encode, BoardDecoder, BoardMessage, HostMessage, Outputs, Section};
use verger_sim::board::{Cause, VirtualBoard, VirtualBoardConfig};

const STEP: Duration = Duration::from_secs(10);

async fn within<F: Future>(what: &str, f: F) -> F::Output {
    tokio::time::timeout(STEP, f)
        .await
        .unwrap_or_else(|_| panic!("timed out after {STEP:?}: {what}"))
}

fn link(tag: &str) -> PathBuf {
    std::env::temp_dir().join(format!("verger-sim-{tag}-{}", std::process::id()))
}

/// The next message from the board.
async fn next(
    tty: &Tty,
    decoder: &mut BoardDecoder,
    pending: &mut Vec<BoardMessage>,
) -> BoardMessage {
    within("a message from the board", async {
        loop {
            if !pending.is_empty() {
                return pending.remove(0);
            }
            let mut buf = [0u8; 256];
            let n = tty.read(&mut buf).await.expect("read the pty");
            assert!(n > 0, "the board's pty closed");
            for r in decoder.push(&buf[..n]) {
                pending.push(r.expect("the board sends good frames"));
            }
        }
    })
    .await
}

#[tokio::test]
async fn a_host_sets_outputs_and_the_board_acks_logs_and_sprays() {
    let path = link("ack");
    let board = VirtualBoard::open(&path, VirtualBoardConfig::default()).expect("open the board");
    assert_eq!(board.link(), path);
    let host = Tty::open_serial(&path, 115_200).expect("open the board's port");
    let (mut decoder, mut pending) = (BoardDecoder::new(), Vec::new());

    let on = Section::new(true, 80).expect("80 %");
    let outputs = Outputs::new(&[on, Section::CLOSED]).expect("2 sections");
    host.write_all(&encode(&HostMessage::Set { seq: 1, outputs }))
        .await
        .expect("write SET");
    assert_eq!(
        next(&host, &mut decoder, &mut pending).await,
        BoardMessage::Ack { seq: 1, outputs }
    );
    let opened = board
        .wait_for("section 0 open", STEP, |o| o.sections()[0].is_open())
        .await
        .expect("opened");
    assert_eq!(board.outputs(), outputs);
    let log = board.log();
    assert_eq!(log.len(), 1);
    assert_eq!(
        (log[0].at, log[0].section, log[0].state, log[0].cause),
        (opened, 0, on, Cause::Set)
    );
    let sprays = board.sprays();
    assert_eq!(sprays.len(), 1);
    assert_eq!(sprays[0].from, opened + Duration::from_millis(300));
    assert_eq!((sprays[0].to, sprays[0].duty), (None, 80));
    assert_eq!(board.stats().last_frame, Some(opened));

    // Raw bytes reach the host as they are.
    board.send_raw(b"\x00garbage").await;
    let mut buf = [0u8; 64];
    let mut got = Vec::new();
    while got.len() < 8 {
        let n = within("raw bytes", host.read(&mut buf))
            .await
            .expect("read");
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(got, b"\x00garbage");

    // The watchdog, without heartbeats.
    let closed = board
        .wait_for("every output closed by the watchdog", STEP, |o| {
            o.sections().iter().all(|s| !s.is_open())
        })
        .await
        .expect("watchdog");
    assert!(closed >= opened + Duration::from_millis(300));
    assert!(board.tripped());
    assert_eq!(board.log().last().map(|c| c.cause), Some(Cause::Watchdog));

    // Dropped: the device is gone.
    drop(board);
    assert!(!path.exists(), "the link is removed");
    let end = within("the end of the pty", host.read(&mut buf)).await;
    assert!(matches!(end, Ok(0) | Err(_)), "{end:?}");
}

#[tokio::test]
async fn wait_for_says_what_it_waited_for() {
    let path = link("wait");
    let board = VirtualBoard::open(&path, VirtualBoardConfig::default()).expect("open the board");
    let err = board
        .wait_for("section 1 open", Duration::from_millis(20), |o| {
            o.sections()[1].is_open()
        })
        .await
        .expect_err("nothing opens it");
    assert!(err.to_string().contains("section 1 open"), "{err}");
    let bad = VirtualBoardConfig {
        sections: 17,
        ..VirtualBoardConfig::default()
    };
    assert!(VirtualBoard::open(&link("bad"), bad).is_err());
}
