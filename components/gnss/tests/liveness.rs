//! A consumer that joins late must be able to tell that `verger-gnss` is gone: the
//! retained status turns `gone` however the component ends, and every payload carries
//! `published_at` for the age rule.
//!
//! - `kill -9`: the router publishes the component's testament (`gone`, undated), also
//!   after the router restarted (the client files it again on every session);
//! - SIGTERM and the end of a replayed file: the component publishes a dated `gone` with
//!   its final counters and withdraws the testament (which would replace it undated).

use std::time::{Duration, SystemTime};

use nix::sys::signal::Signal;
use verger::client::Client;
use verger::contract::gnss::{
    parse_published_at, position_usable, AgeLimits, FixPayload, NotUsable, ReceiverState,
    StatusPayload, FIX_TOPIC, STATUS_TOPIC,
};
use verger::router::RouterHandle;
use verger::source::{Pacing, SourceSpec};
use verger_gnss::GnssConfig;
use verger_testkit::*;

const BIN: &str = env!("CARGO_BIN_EXE_verger-gnss");

/// Write epochs of `gpsd__nmea-rtk.log` one every 50 ms (the receiver's output rate;
/// what the tests wait for is the fix or status it leads to).
async fn feed(pty: &mut Pty, epochs: &[(String, Vec<u8>)]) {
    for (_, bytes) in epochs {
        pty.write(bytes).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn rtk_epochs() -> Vec<(String, Vec<u8>)> {
    nmea_epochs(&nmea_capture("gpsd__nmea-rtk.log"))
}

/// What a consumer joining now gets: the retained status and fix.
async fn late_joiner(router: &RouterHandle) -> (Client, StatusPayload, Option<FixPayload>) {
    let late = connect(&router.url()).await;
    let mut status = subscribe(&late, STATUS_TOPIC, true).await;
    let e = next_event(&mut status, "the retained status").await;
    assert_eq!(
        e.details.get("retained").and_then(|v| v.as_bool()),
        Some(true)
    );
    let s: StatusPayload = kwargs_of(&e);
    let mut fixes = subscribe(&late, FIX_TOPIC, true).await;
    let fix = tokio::time::timeout(Duration::from_millis(300), fixes.recv())
        .await
        .ok()
        .flatten()
        .map(|e| kwargs_of::<FixPayload>(&e));
    (late, s, fix)
}

/// The component as a process on a pty, with one fix published.
async fn running_component(router: &RouterHandle, pty: &mut Pty, link: &str) -> Process {
    let observer = connect(&router.url()).await;
    let mut fixes = subscribe(&observer, FIX_TOPIC, false).await;
    let url = router.url();
    let gnss = Process::spawn(
        std::path::Path::new(BIN),
        ["--router", url.as_str(), "--serial", link],
    );
    sessions(router, 2).await;
    pty.opened_by_another_process().await;
    let epochs = rtk_epochs();
    within("a fix", async {
        let mut i = 0;
        loop {
            feed(pty, &epochs[i % 20..i % 20 + 1]).await;
            i += 1;
            if let Ok(Some(e)) = tokio::time::timeout(Duration::from_millis(10), fixes.recv()).await
            {
                let fix: FixPayload = kwargs_of(&e);
                assert!(parse_published_at(&fix.published_at).is_some(), "{fix:?}");
                return;
            }
        }
    })
    .await;
    observer.close().await.unwrap();
    sessions(router, 1).await;
    gnss
}

#[tokio::test]
async fn kill_9_leaves_gone_for_a_late_joiner() {
    let router = start_test_router().await;
    let dir = TempDir::new("kill9");
    let link = dir.path("ttyGNSS");
    let mut pty = Pty::open(&link);
    let mut gnss = running_component(&router, &mut pty, link.to_str().unwrap()).await;
    let (_c, before, _) = late_joiner(&router).await;
    assert!(before.published_at.is_some(), "{before:?}");

    gnss.signal(Signal::SIGKILL);
    gnss.wait().await;
    sessions(&router, 1).await;
    let (_c, status, fix) = late_joiner(&router).await;
    assert_eq!(status.state, ReceiverState::Gone, "{status:?}");
    assert_eq!(
        status.published_at, None,
        "the router's testament has no date"
    );
    assert_eq!(status.source, format!("serial:{}@115200", link.display()));
    // The last fix is still retained; the age rule refuses it.
    let fix = fix.expect("the last fix stays retained");
    assert_eq!(
        position_usable(&status, &fix, SystemTime::now(), &AgeLimits::default()),
        Err(NotUsable::State(ReceiverState::Gone))
    );
    router.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_testament_is_filed_again_after_a_router_restart() {
    let router = start_test_router().await;
    let addr = router.local_addr();
    let dir = TempDir::new("refile");
    let link = dir.path("ttyGNSS");
    let mut pty = Pty::open(&link);
    let mut gnss = running_component(&router, &mut pty, link.to_str().unwrap()).await;
    router.shutdown().await.unwrap();
    // A new router knows nothing retained and no testament but the one filed again.
    let router = restart_router(addr).await;
    sessions(&router, 1).await;
    // Let the component publish on its new session first.
    let observer = connect(&router.url()).await;
    let mut status = subscribe(&observer, STATUS_TOPIC, false).await;
    next_event(&mut status, "a status on the new session").await;
    observer.close().await.unwrap();

    gnss.signal(Signal::SIGKILL);
    gnss.wait().await;
    sessions(&router, 0).await;
    let (_c, status, _) = late_joiner(&router).await;
    assert_eq!(status.state, ReceiverState::Gone, "{status:?}");
    assert_eq!(status.published_at, None);
    router.shutdown().await.unwrap();
}

#[tokio::test]
async fn sigterm_publishes_a_dated_gone_with_the_final_counters() {
    let router = start_test_router().await;
    let dir = TempDir::new("sigterm");
    let link = dir.path("ttyGNSS");
    let mut pty = Pty::open(&link);
    let mut gnss = running_component(&router, &mut pty, link.to_str().unwrap()).await;
    let status = gnss.stop_with(Signal::SIGTERM).await;
    assert!(status.success(), "{status}");
    sessions(&router, 0).await;
    let (_c, status, _) = late_joiner(&router).await;
    assert_eq!(status.state, ReceiverState::Gone, "{status:?}");
    // Dated: the component's own last words, not replaced by the (undated) testament.
    let at = status.published_at.as_deref().expect("published_at");
    assert!(parse_published_at(at).is_some(), "{at}");
    assert!(status.counters.fixes_published >= 1, "{status:?}");
    router.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_end_of_a_file_publishes_gone() {
    let router = start_test_router().await;
    let dir = TempDir::new("eof");
    let path = dir.path("head.nmea");
    let capture = nmea_capture("gpsd__nmea-rtk.log");
    let head: Vec<u8> = capture
        .split_inclusive(|&b| b == b'\n')
        .take(20)
        .flatten()
        .copied()
        .collect();
    std::fs::write(&path, head).unwrap();
    let spec = SourceSpec::File {
        path,
        pacing: Pacing {
            speed: 0.0,
            ..Pacing::default()
        },
    };
    let gnss = InProcess::start(&router.url(), |c, s| {
        verger_gnss::run(c, GnssConfig::new(spec), s)
    });
    gnss.finished().await.expect("the replay ends cleanly");
    let (_c, status, fix) = late_joiner(&router).await;
    assert_eq!(status.state, ReceiverState::Gone, "{status:?}");
    assert!(status.published_at.is_some());
    assert!(status.counters.epochs >= 5, "{status:?}");
    assert!(fix.is_some());
    router.shutdown().await.unwrap();
}
