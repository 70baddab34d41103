//! Fail-safe with real processes: the `verger-sprayer` binary, a router on port 0, the
//! virtual valve board on a pseudo-terminal. Each fault is injected while a valve is
//! open, and the time from the fault to every output closed *at the board* (the
//! instant the board read the closing frame) is measured against the 200 ms target.

mod common;

use std::time::{Duration, Instant};

use common::{Rig, MAX_FIX_GAP};
use nix::sys::signal::Signal;
use verger::contract::gnss::ReceiverState;
use verger::contract::sprayer::{
    SafeReason, SprayerState, StopAllRequest, StopAllResult, STOP_ALL,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn router_killed_mid_spray() {
    // The connection closes without a goodbye, as when the router's process dies.
    let mut rig = Rig::ready_on("", &[], true).await;
    rig.spraying().await;
    let fault = Instant::now();
    rig.line.as_ref().expect("line").cut();
    rig.closes_within_200ms("router killed", fault).await;
    // For the others the sprayer's session ended: its testament says so.
    rig.state(SprayerState::Gone).await;
    rig.stop_fixes().await;
    rig.sprayer.stop_with(Signal::SIGTERM).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn router_unreachable_without_a_close() {
    // Nothing passes and nothing closes (a cable pulled between two machines): the
    // session looks alive until its keepalive gives up, but the fixes stop at once, so
    // the fix gap closes the valves.
    let mut rig = Rig::ready_on("", &[], true).await;
    rig.spraying().await;
    let fault = Instant::now();
    rig.line.as_ref().expect("line").silence();
    let closed = rig.closed("router unreachable").await;
    let took = closed.saturating_duration_since(fault);
    eprintln!("router unreachable: valves closed {took:?} after the line fell silent");
    assert!(
        took < MAX_FIX_GAP + Duration::from_millis(100 + 200),
        "{took:?}: the last fix before the silence + the gap, + 200 ms"
    );
    rig.stop_fixes().await;
    rig.sprayer.stop_with(Signal::SIGTERM).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn router_shut_down_mid_spray() {
    let mut rig = Rig::ready("", &[]).await;
    rig.spraying().await;
    let router = rig.router.take().expect("router");
    let fault = Instant::now();
    router.shutdown().await.expect("router shutdown");
    rig.closes_within_200ms("router shut down", fault).await;
    // Closed for good while the router is away (no order can correct anything).
    assert!(rig.board.outputs().sections().iter().all(|s| !s.is_open()));
    rig.stop_fixes().await;
    rig.sprayer.stop_with(Signal::SIGTERM).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fix_stream_stopped() {
    let mut rig = Rig::ready("", &[]).await;
    rig.spraying().await;
    let last = rig.stop_fixes().await;
    // The fault is "no fix for max_fix_gap": it exists from the last fix + gap on.
    let closed = rig.closed("fixes stopped").await;
    let took = closed.saturating_duration_since(last + MAX_FIX_GAP);
    eprintln!("fixes stopped: valves closed {took:?} after the gap ran out");
    assert!(took < Duration::from_millis(200), "{took:?}");
    assert!(
        closed >= last + MAX_FIX_GAP,
        "closed {:?} before the gap ran out",
        (last + MAX_FIX_GAP) - closed
    );
    let state = rig.state(SprayerState::Safe).await;
    assert_eq!(state.safe_reason, Some(SafeReason::NoFix));
    rig.sprayer.stop_with(Signal::SIGTERM).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gnss_status_leaving_fix() {
    let mut rig = Rig::ready("", &[]).await;
    rig.spraying().await;
    let fault = Instant::now();
    rig.publish_status(ReceiverState::Stale).await;
    rig.closes_within_200ms("GNSS status stale", fault).await;
    let state = rig.state(SprayerState::Safe).await;
    assert_eq!(state.safe_reason, Some(SafeReason::GnssNotFix));
    // An order is refused while it lasts, and nothing opens.
    let refused = rig
        .apply(&Rig::order(
            "T-2",
            "right",
            Duration::from_millis(400),
            Duration::from_secs(1),
        ))
        .await
        .unwrap_err();
    assert!(
        format!("{refused:?}").contains("orchard.error.unavailable"),
        "{refused:?}"
    );
    // Back to fix: ready again, and the old order does not come back.
    rig.publish_status(ReceiverState::Fix).await;
    rig.state(SprayerState::Ready).await;
    // A fresh order past the old window's opening: the left valve opens for it only.
    let sentinel = rig.sentinel("left", 0, Duration::from_millis(600)).await;
    let after_fault: Vec<Instant> = rig.openings(0).into_iter().filter(|t| *t > fault).collect();
    assert_eq!(
        after_fault,
        vec![sentinel],
        "only the fresh order opened a valve"
    );
    rig.stop_fixes().await;
    rig.sprayer.stop_with(Signal::SIGTERM).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_all_closes_and_forgets() {
    let mut rig = Rig::ready("", &[]).await;
    rig.spraying().await;
    rig.apply(&Rig::order(
        "T-3",
        "right",
        Duration::from_millis(1500),
        Duration::from_secs(3),
    ))
    .await
    .expect("second order");
    let fault = Instant::now();
    let result: StopAllResult = rig
        .client
        .call_typed(
            STOP_ALL,
            &StopAllRequest {
                reason: Some("test".into()),
            },
        )
        .await
        .expect("stop_all");
    rig.closes_within_200ms("stop_all", fault).await;
    assert_eq!(result.closed, vec!["left".to_string()]);
    assert_eq!(result.cancelled, 2);
    // The pending right-hand order was forgotten: nothing opens at its time.
    // A fresh order after its window: the right valve opens for it only.
    let sentinel = rig.sentinel("right", 1, Duration::from_millis(3200)).await;
    assert_eq!(
        rig.openings(1),
        vec![sentinel],
        "only the fresh order opened a valve"
    );
    rig.stop_fixes().await;
    rig.sprayer.stop_with(Signal::SIGTERM).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_and_sigint() {
    for signal in [Signal::SIGTERM, Signal::SIGINT] {
        let mut rig = Rig::ready("", &[]).await;
        rig.spraying().await;
        let fault = Instant::now();
        rig.sprayer.signal(signal);
        rig.closes_within_200ms(&format!("{signal}"), fault).await;
        let status = rig.sprayer.wait().await;
        assert!(status.success(), "{signal}: {status}");
        rig.stop_fixes().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_closes_the_valves_then_aborts() {
    let mut rig = Rig::ready("", &[("VERGER_SPRAYER_TEST_PANIC", "1")]).await;
    rig.apply(&Rig::order(
        "T-1",
        "left",
        Duration::from_millis(400),
        Duration::from_secs(8),
    ))
    .await
    .expect("order taken");
    // The sprayer panics right after it opened the valve: the panic hook closes it.
    let (status, stderr) = rig.sprayer.wait_with_stderr().await;
    assert!(!status.success(), "{status}");
    assert!(stderr.contains("test panic"), "{stderr}");
    let log = rig.board.log();
    let opened = log
        .iter()
        .find(|c| c.section == 0 && c.state.is_open())
        .unwrap_or_else(|| panic!("the valve never opened: {log:?}"))
        .at;
    let closed = log
        .iter()
        .find(|c| c.at >= opened && c.section == 0 && !c.state.is_open())
        .unwrap_or_else(|| panic!("the valve never closed: {log:?}"))
        .at;
    let took = closed - opened;
    eprintln!("panic: valves closed {took:?} after the panic");
    assert!(took < Duration::from_millis(200), "{took:?}");
    assert!(rig.board.outputs().sections().iter().all(|s| !s.is_open()));
    rig.stop_fixes().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_outright_the_board_watchdog_closes() {
    let mut rig = Rig::ready("", &[]).await;
    rig.spraying().await;
    let fault = Instant::now();
    rig.sprayer.signal(Signal::SIGKILL);
    let closed = rig.closed("SIGKILL").await;
    let took = closed.saturating_duration_since(fault);
    eprintln!("SIGKILL: the board's watchdog closed the valves {took:?} after");
    // The host can do nothing: the board's own watchdog (300 ms) is the backstop.
    assert!(took < Duration::from_millis(300 + 150), "{took:?}");
    assert!(rig.board.stats().watchdog_trips >= 1);
    rig.stop_fixes().await;
    let _ = rig.sprayer.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_board_that_stops_answering_is_a_safe_state() {
    let mut rig = Rig::ready("", &[]).await;
    rig.spraying().await;
    // The board still obeys but says nothing: the sprayer cannot know its outputs.
    let fault = Instant::now();
    rig.board.set_mute(true);
    let closed = rig.closed("board silent").await;
    let took = closed.saturating_duration_since(fault);
    eprintln!("board silent: valves commanded closed {took:?} after it fell silent");
    // Silence is only known after one watchdog period (300 ms) without an answer to a
    // frame, and the next frame (a heartbeat) is up to 100 ms away.
    assert!(took < Duration::from_millis(100 + 300 + 200), "{took:?}");
    let state = rig.state(SprayerState::Safe).await;
    assert_eq!(state.safe_reason, Some(SafeReason::BoardLost));
    assert!(state.board.is_some_and(|b| !b.answering));
    // It answers again: ready, and nothing reopens by itself.
    rig.board.set_mute(false);
    rig.state(SprayerState::Ready).await;
    assert!(rig.board.outputs().sections().iter().all(|s| !s.is_open()));
    rig.stop_fixes().await;
    rig.sprayer.stop_with(Signal::SIGTERM).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_board_unplugged_then_plugged_back() {
    use verger_sim::board::{VirtualBoard, VirtualBoardConfig};
    let mut rig = Rig::ready("", &[]).await;
    let link = rig.board.link().to_path_buf();
    // Unplugged: the device is gone (the board, cut from its host, closes by itself).
    drop(std::mem::replace(
        &mut rig.board,
        // A stand-in elsewhere, never opened by the sprayer.
        VirtualBoard::open(&rig.dir.path("elsewhere"), VirtualBoardConfig::default())
            .expect("stand-in"),
    ));
    let state = rig.state(SprayerState::Safe).await;
    assert_eq!(state.safe_reason, Some(SafeReason::BoardLost));
    let refused = rig
        .apply(&Rig::order(
            "T-8",
            "left",
            Duration::from_millis(500),
            Duration::from_secs(1),
        ))
        .await
        .unwrap_err();
    assert!(format!("{refused:?}").contains("board_lost"), "{refused:?}");
    // Plugged back at the same path: reopened (every second), ready, everything closed.
    rig.board = VirtualBoard::open(
        &link,
        VirtualBoardConfig {
            sections: 2,
            ..VirtualBoardConfig::default()
        },
    )
    .expect("board back");
    rig.state(SprayerState::Ready).await;
    assert!(rig.board.outputs().sections().iter().all(|s| !s.is_open()));
    rig.spraying().await;
    rig.stop_fixes().await;
    rig.sprayer.stop_with(Signal::SIGTERM).await;
}
