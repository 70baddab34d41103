//! End to end over a real pseudo-terminal: the component opens the pty's slave (through
//! a symlink, as `/dev/ttyUSB0`) with tokio-serial; lines written to the master come
//! out as `orchard.gnss.fix` events at a subscriber on a router on 127.0.0.1:0.
//! Real sentences from `gpsd__nmea-rtk.log` (Trimble, 10 Hz, DGPS then RTK fixed).

use std::collections::HashSet;
use std::time::Duration;

use verger::contract::gnss::{FixPayload, ReceiverState, StatusPayload, FIX_TOPIC, STATUS_TOPIC};
use verger::contract::ContractPayload;
use verger::nmea::Quality;
use verger::source::{ReaderOptions, SourceSpec};
use verger_gnss::GnssConfig;
use verger_testkit::*;

const PERIOD: Duration = Duration::from_millis(50);

fn config(link: &std::path::Path) -> GnssConfig {
    let mut config = GnssConfig::new(SourceSpec::Serial {
        path: link.to_path_buf(),
        baud: 115_200,
    });
    config.reader = ReaderOptions {
        backoff_initial: Duration::from_millis(20),
        backoff_max: Duration::from_millis(100),
        queue: 64,
    };
    config
}

fn rtk_epochs() -> Vec<(String, Vec<u8>)> {
    let epochs = nmea_epochs(&nmea_capture("gpsd__nmea-rtk.log"));
    assert!(epochs.len() > 100);
    epochs
}

fn rfc3339(nmea_time: &str) -> String {
    format!("2020-03-18T{}Z", rfc3339_time_part(nmea_time))
}

/// `$body*CS\r\n`.
fn sentence(body: &str) -> Vec<u8> {
    let cs = body.bytes().fold(0u8, |a, b| a ^ b);
    format!("${body}*{cs:02X}\r\n").into_bytes()
}

/// Write epochs one per `PERIOD`.
async fn feed(pty: &mut Pty, epochs: &[(String, Vec<u8>)]) {
    for (_, bytes) in epochs {
        pty.write(bytes).await;
        tokio::time::sleep(PERIOD).await;
    }
}

/// Fix events until one with `time`; returns all their times.
async fn fixes_until(sub: &mut verger::client::Subscription, time: &str) -> Vec<String> {
    let mut times = Vec::new();
    within(&format!("fix {time}"), async {
        loop {
            let e = sub.recv().await.expect("subscription ended");
            let t = kwargs_of::<FixPayload>(&e).time;
            times.push(t.clone());
            if t == time {
                return;
            }
        }
    })
    .await;
    times
}

async fn state_is(sub: &mut verger::client::Subscription, state: ReceiverState) -> StatusPayload {
    let e = event_where(sub, &format!("status {state}"), |e| {
        kwargs_of::<StatusPayload>(e).state == state
    })
    .await;
    kwargs_of::<StatusPayload>(&e)
}

#[tokio::test]
async fn pty_lines_become_fix_events_with_every_field() {
    let router = start_test_router().await;
    let dir = TempDir::new("fix");
    let link = dir.path("ttyGNSS");
    let mut pty = Pty::open(&link);
    let observer = connect(&router.url()).await;
    let mut fixes = subscribe(&observer, FIX_TOPIC, false).await;
    let mut status = subscribe(&observer, STATUS_TOPIC, false).await;
    let gnss = InProcess::start(&router.url(), |c, s| verger_gnss::run(c, config(&link), s));
    within("component joins", gnss.client.wait_established())
        .await
        .unwrap();

    let epochs = rtk_epochs();
    feed(&mut pty, &epochs[..10]).await;
    let times = fixes_until(&mut fixes, &rfc3339(&epochs[9].0)).await;
    let want: Vec<String> = epochs[..10].iter().map(|(t, _)| rfc3339(t)).collect();
    assert_eq!(times, want, "every epoch, in order, once");

    // The first epoch's values, as the receiver sent them.
    pty.write(&epochs[10].1).await;
    let e = next_event(&mut fixes, "fix 11").await;
    // Every field of the struct is on the wire, null or not.
    let every_field = verger::wamp::to_value(&FixPayload::examples()[0]).unwrap();
    for field in every_field.as_dict().unwrap().keys() {
        assert!(
            e.kwargs.contains_key(field),
            "missing {field}: {:?}",
            e.kwargs
        );
    }
    let fix: FixPayload = e.kwargs_as().unwrap();
    assert_eq!(fix.time, rfc3339(&epochs[10].0));
    assert_eq!(fix.quality, Quality::Dgps);
    assert!((fix.lat - 41.574_966).abs() < 1e-4, "{}", fix.lat);
    assert!((fix.lon + 93.750_57).abs() < 1e-4, "{}", fix.lon);
    assert_eq!(fix.heading_deg, None, "no dual antenna");
    assert!((0.0..1000.0).contains(&fix.age_ms), "{}", fix.age_ms);

    let s = state_is(&mut status, ReceiverState::Fix).await;
    assert_eq!(s.quality, Some(Quality::Dgps));
    assert_eq!(s.source, format!("serial:{}@115200", link.display()));
    gnss.stop().await.expect("component stops cleanly");
    router.shutdown().await.unwrap();
}

#[tokio::test]
async fn unplug_gives_port_lost_and_replug_resumes_without_restart() {
    let router = start_test_router().await;
    let dir = TempDir::new("unplug");
    let link = dir.path("ttyGNSS");
    let observer = connect(&router.url()).await;
    let mut fixes = subscribe(&observer, FIX_TOPIC, false).await;
    let mut status = subscribe(&observer, STATUS_TOPIC, false).await;
    // Missing at start: port_lost, retried.
    let gnss = InProcess::start(&router.url(), |c, s| verger_gnss::run(c, config(&link), s));
    state_is(&mut status, ReceiverState::PortLost).await;

    let epochs = rtk_epochs();
    let mut pty = Pty::open(&link);
    feed(&mut pty, &epochs[..5]).await;
    fixes_until(&mut fixes, &rfc3339(&epochs[4].0)).await;
    state_is(&mut status, ReceiverState::Fix).await;

    pty.unplug();
    let lost = state_is(&mut status, ReceiverState::PortLost).await;
    assert_eq!(lost.quality, None);
    // Unplugged for a while: the periodic status keeps saying so (the reader retries
    // in the background).
    let again = next_event(&mut status, "periodic status while unplugged").await;
    assert_eq!(
        kwargs_of::<StatusPayload>(&again).state,
        ReceiverState::PortLost
    );

    let mut pty = Pty::open(&link);
    feed(&mut pty, &epochs[5..10]).await;
    let times = fixes_until(&mut fixes, &rfc3339(&epochs[9].0)).await;
    assert!(times.len() <= 5, "{times:?}");
    state_is(&mut status, ReceiverState::Fix).await;
    gnss.stop().await.expect("component stops cleanly");
    router.shutdown().await.unwrap();
}

#[tokio::test]
async fn router_restart_drops_fixes_while_away_and_never_publishes_them_late() {
    let router = start_test_router().await;
    let addr = router.local_addr();
    let url = router.url();
    let dir = TempDir::new("restart");
    let link = dir.path("ttyGNSS");
    let mut pty = Pty::open(&link);
    let observer = connect(&url).await;
    let mut fixes = subscribe(&observer, FIX_TOPIC, false).await;
    let gnss = InProcess::start(&url, |c, s| verger_gnss::run(c, config(&link), s));
    within("component joins", gnss.client.wait_established())
        .await
        .unwrap();
    let epochs = rtk_epochs();
    feed(&mut pty, &epochs[..5]).await;
    fixes_until(&mut fixes, &rfc3339(&epochs[4].0)).await;

    router.shutdown().await.unwrap();
    let mut state = gnss.client.state();
    within("component notices", state.wait_for(|s| !s.is_established()))
        .await
        .unwrap();
    // Fixes produced while the router is away.
    feed(&mut pty, &epochs[5..15]).await;

    let router = restart_router(addr).await;
    within("component rejoins", gnss.client.wait_established())
        .await
        .unwrap();
    within("observer rejoins", observer.wait_established())
        .await
        .unwrap();
    // Let the observer's re-subscription settle before new data.
    let mut status = subscribe(&observer, STATUS_TOPIC, false).await;
    next_event(&mut status, "a status after restart").await;
    feed(&mut pty, &epochs[15..25]).await;
    let times = fixes_until(&mut fixes, &rfc3339(&epochs[24].0)).await;
    let away: HashSet<String> = epochs[5..15].iter().map(|(t, _)| rfc3339(t)).collect();
    assert!(
        times.iter().all(|t| !away.contains(t)),
        "a fix from while the router was away arrived late: {times:?}"
    );
    let s = event_where(&mut status, "failures counted", |e| {
        kwargs_of::<StatusPayload>(e).counters.publish_failures > 0
    })
    .await;
    let failures = kwargs_of::<StatusPayload>(&s).counters.publish_failures;
    assert!(failures <= 10, "{failures}");
    gnss.stop().await.expect("component stops cleanly");
    router.shutdown().await.unwrap();
}

#[tokio::test]
async fn garbage_and_ubx_in_the_stream_are_skipped_and_counted() {
    let router = start_test_router().await;
    let dir = TempDir::new("garbage");
    let link = dir.path("ttyGNSS");
    let mut pty = Pty::open(&link);
    let observer = connect(&router.url()).await;
    let mut fixes = subscribe(&observer, FIX_TOPIC, false).await;
    let mut status = subscribe(&observer, STATUS_TOPIC, false).await;
    let gnss = InProcess::start(&router.url(), |c, s| verger_gnss::run(c, config(&link), s));
    let epochs = rtk_epochs();
    feed(&mut pty, &epochs[..3]).await;
    fixes_until(&mut fixes, &rfc3339(&epochs[2].0)).await;

    let mut garbage: Vec<u8> = (0..2000).map(|_| rand::random::<u8>()).collect();
    // A UBX NAV-PVT header and some payload, as a u-blox receiver interleaves it.
    garbage.extend_from_slice(&[0xB5, 0x62, 0x01, 0x07, 0x5C, 0x00]);
    garbage.extend((0..92).map(|i| i as u8));
    garbage.extend_from_slice(b"\r\n");
    pty.write(&garbage).await;
    // UBX glued to the front of a sentence, mid-epoch.
    let mut glued = vec![0xB5, 0x62, 0x05, 0x01, 0x02, 0x00, 0x06, 0x01, 0x0F, 0x38];
    glued.extend_from_slice(&epochs[3].1);
    pty.write(&glued).await;
    tokio::time::sleep(PERIOD).await;
    feed(&mut pty, &epochs[4..10]).await;
    let times = fixes_until(&mut fixes, &rfc3339(&epochs[9].0)).await;
    for (t, _) in &epochs[5..10] {
        assert!(times.contains(&rfc3339(t)), "{t} missing from {times:?}");
    }
    let s = event_where(&mut status, "counters", |e| {
        kwargs_of::<StatusPayload>(e).counters.discarded_bytes > 0
    })
    .await;
    let counters = kwargs_of::<StatusPayload>(&s).counters;
    assert!(counters.discarded_bytes >= 100, "{counters:?}");
    gnss.stop().await.expect("component stops cleanly");
    router.shutdown().await.unwrap();
}

#[tokio::test]
async fn silence_is_stale_and_data_brings_fix_back() {
    let router = start_test_router().await;
    let dir = TempDir::new("stale");
    let link = dir.path("ttyGNSS");
    let mut pty = Pty::open(&link);
    let observer = connect(&router.url()).await;
    let mut fixes = subscribe(&observer, FIX_TOPIC, false).await;
    let mut status = subscribe(&observer, STATUS_TOPIC, false).await;
    let mut cfg = config(&link);
    cfg.state.stale_after = 300_000;
    let gnss = InProcess::start(&router.url(), |c, s| verger_gnss::run(c, cfg, s));
    let epochs = rtk_epochs();
    feed(&mut pty, &epochs[..3]).await;
    state_is(&mut status, ReceiverState::Fix).await;
    fixes_until(&mut fixes, &rfc3339(&epochs[2].0)).await;
    // Silence.
    let stale = state_is(&mut status, ReceiverState::Stale).await;
    assert_eq!(stale.quality, None);
    let age = stale.last_epoch_age_ms.unwrap();
    assert!(age >= 300.0, "{age}");
    feed(&mut pty, &epochs[3..5]).await;
    state_is(&mut status, ReceiverState::Fix).await;
    fixes_until(&mut fixes, &rfc3339(&epochs[4].0)).await;
    gnss.stop().await.expect("component stops cleanly");
    router.shutdown().await.unwrap();
}

#[tokio::test]
async fn epochs_without_a_real_position_never_reach_the_fix_topic() {
    let router = start_test_router().await;
    let dir = TempDir::new("invalid");
    let link = dir.path("ttyGNSS");
    let mut pty = Pty::open(&link);
    let observer = connect(&router.url()).await;
    let mut fixes = subscribe(&observer, FIX_TOPIC, false).await;
    let mut status = subscribe(&observer, STATUS_TOPIC, false).await;
    let gnss = InProcess::start(&router.url(), |c, s| verger_gnss::run(c, config(&link), s));
    within("component joins", gnss.client.wait_established())
        .await
        .unwrap();

    // GGA quality 0 (invalid), 7 (manual), 8 (simulation) with RMC void / valid.
    let bad = [
        ("132900.00", "0", "V"),
        ("132900.10", "7", "A"),
        ("132900.20", "8", "A"),
        ("132900.30", "0", "V"),
    ];
    for (t, q, status_flag) in bad {
        let mut epoch = sentence(&format!(
            "GNGGA,{t},4134.49795459,N,09345.03431408,W,{q},10,0.9,278.161,M,-31.442,M,,"
        ));
        epoch.extend(sentence(&format!(
            "GNRMC,{t},{status_flag},4134.49795459,N,09345.03431408,W,0.148,124.888,180320,11.5985,E,N"
        )));
        pty.write(&epoch).await;
        tokio::time::sleep(PERIOD).await;
    }
    let no_fix = state_is(&mut status, ReceiverState::NoFix).await;
    assert!(no_fix.no_fix_reason.is_some(), "{no_fix:?}");
    // Then a real one: the first fix event is that one.
    let epochs = rtk_epochs();
    feed(&mut pty, &epochs[..1]).await;
    let e = next_event(&mut fixes, "first real fix").await;
    assert_eq!(kwargs_of::<FixPayload>(&e).time, rfc3339(&epochs[0].0));
    assert!(fixes.try_recv().is_none());
    gnss.stop().await.expect("component stops cleanly");
    router.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_late_subscriber_gets_the_last_fix_and_status_at_once() {
    let router = start_test_router().await;
    let dir = TempDir::new("retain");
    let link = dir.path("ttyGNSS");
    let mut pty = Pty::open(&link);
    let observer = connect(&router.url()).await;
    let mut fixes = subscribe(&observer, FIX_TOPIC, false).await;
    let gnss = InProcess::start(&router.url(), |c, s| verger_gnss::run(c, config(&link), s));
    within("component joins", gnss.client.wait_established())
        .await
        .unwrap();
    let epochs = rtk_epochs();
    feed(&mut pty, &epochs[..4]).await;
    let last = rfc3339(&epochs[3].0);
    fixes_until(&mut fixes, &last).await;

    let late = connect(&router.url()).await;
    let mut retained = subscribe(&late, FIX_TOPIC, true).await;
    let e = next_event(&mut retained, "retained fix").await;
    assert!(e.is_retained());
    assert_eq!(kwargs_of::<FixPayload>(&e).time, last);
    let mut status = subscribe(&late, STATUS_TOPIC, true).await;
    let s = next_event(&mut status, "retained status").await;
    assert!(s.is_retained());
    kwargs_of::<StatusPayload>(&s);
    gnss.stop().await.expect("component stops cleanly");
    router.shutdown().await.unwrap();
}
