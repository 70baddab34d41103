//! End to end over the network inputs: NMEA from a TCP server (a receiver's Ethernet
//! port, an NTRIP box) including a dropped connection, and NMEA datagrams over UDP (as
//! AgOpenGPS's AgIO sends them). Real sentences from `gpsd__nmea-rtk.log`.

use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, UdpSocket};
use verger::contract::gnss::{FixPayload, ReceiverState, StatusPayload, FIX_TOPIC, STATUS_TOPIC};
use verger::source::{ReaderOptions, SourceSpec};
use verger_gnss::GnssConfig;
use verger_testkit::*;

const PERIOD: Duration = Duration::from_millis(50);

fn config(source: SourceSpec) -> GnssConfig {
    let mut config = GnssConfig::new(source);
    config.reader = ReaderOptions {
        backoff_initial: Duration::from_millis(20),
        backoff_max: Duration::from_millis(100),
        queue: 64,
    };
    config
}

fn rtk_epochs() -> Vec<(String, Vec<u8>)> {
    let epochs = nmea_epochs(&nmea_capture("gpsd__nmea-rtk.log"));
    assert!(epochs.len() > 20);
    epochs
}

fn rfc3339(nmea_time: &str) -> String {
    format!("2020-03-18T{}Z", rfc3339_time_part(nmea_time))
}

/// Fix events until the one with `time`.
async fn fix_with_time(sub: &mut verger::client::Subscription, time: &str) {
    within(&format!("fix {time}"), async {
        loop {
            let e = sub.recv().await.expect("subscription ended");
            if kwargs_of::<FixPayload>(&e).time == time {
                return;
            }
        }
    })
    .await;
}

#[tokio::test]
async fn tcp_source_publishes_fixes_and_reconnects_after_a_drop() {
    let router = start_test_router().await;
    let observer = connect(&router.url()).await;
    let mut fixes = subscribe(&observer, FIX_TOPIC, false).await;
    let mut status = subscribe(&observer, STATUS_TOPIC, false).await;
    let receiver = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = receiver.local_addr().unwrap().to_string();
    let component = InProcess::start(&router.url(), |c, s| {
        verger_gnss::run(c, config(SourceSpec::Tcp { addr }), s)
    });
    let epochs = rtk_epochs();

    let (mut conn, _) = within("component connects", receiver.accept())
        .await
        .unwrap();
    for (_, bytes) in &epochs[..5] {
        conn.write_all(bytes).await.unwrap();
        tokio::time::sleep(PERIOD).await;
    }
    // The epoch just before the last one written is complete (the decoder may still
    // hold the last one open until it has learned the receiver's cycle).
    fix_with_time(&mut fixes, &rfc3339(&epochs[3].0)).await;

    // The receiver drops the connection: port_lost, then the component reconnects.
    drop(conn);
    event_where(&mut status, "status port_lost", |e| {
        kwargs_of::<StatusPayload>(e).state == ReceiverState::PortLost
    })
    .await;
    let (mut conn, _) = within("component reconnects", receiver.accept())
        .await
        .unwrap();
    for (_, bytes) in &epochs[5..10] {
        conn.write_all(bytes).await.unwrap();
        tokio::time::sleep(PERIOD).await;
    }
    fix_with_time(&mut fixes, &rfc3339(&epochs[8].0)).await;
    component.stop().await.expect("component stops cleanly");
}

#[tokio::test]
async fn udp_datagrams_become_fixes() {
    let router = start_test_router().await;
    let observer = connect(&router.url()).await;
    let mut fixes = subscribe(&observer, FIX_TOPIC, false).await;
    let mut status = subscribe(&observer, STATUS_TOPIC, true).await;
    // The component binds the address it is given; find a free one on loopback.
    let bind = {
        let probe = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        probe.local_addr().unwrap()
    };
    let component = InProcess::start(&router.url(), |c, s| {
        verger_gnss::run(c, config(SourceSpec::Udp { bind }), s)
    });
    // Its first status says it is listening.
    event_where(&mut status, "first status", |_| true).await;
    let sender = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let epochs = rtk_epochs();
    for (_, bytes) in &epochs[..6] {
        // One datagram per sentence, as AgIO forwards them.
        for line in bytes.split_inclusive(|b| *b == b'\n') {
            sender.send_to(line, bind).await.unwrap();
        }
        tokio::time::sleep(PERIOD).await;
    }
    fix_with_time(&mut fixes, &rfc3339(&epochs[4].0)).await;
    component.stop().await.expect("component stops cleanly");
}
