//! The gnss component on the simulator's virtual receiver: a synthetic drive (with an
//! outage and RTK flapping) served on a pseudo-terminal, opened by the component as its
//! serial port exactly as a real receiver's; every published `orchard.gnss.fix` is an
//! epoch of the drive's truth, to the millimetre, with the quality the receiver sent,
//! and the outage publishes none.

use std::collections::HashMap;

use verger::contract::gnss::{FixPayload, ReceiverState, StatusPayload, FIX_TOPIC, STATUS_TOPIC};
use verger::orchard::Frame;
use verger::source::SourceSpec;
use verger_gnss::GnssConfig;
use verger_sim::drive::{parallel_rows, Drive, DriveOptions, Flapping, Outage};
use verger_sim::nmea_out::EpochQuality;
use verger_sim::receiver::{ReceiverConfig, Source, VirtualReceiver};
use verger_testkit::*;

async fn state_is(sub: &mut verger::client::Subscription, state: ReceiverState) {
    event_where(sub, &format!("status {state}"), |e| {
        kwargs_of::<StatusPayload>(e).state == state
    })
    .await;
}

#[tokio::test]
async fn published_fixes_are_the_virtual_receivers_truth() {
    let router = start_test_router().await;
    let dir = TempDir::new("virtual-receiver");
    let link = dir.path("ttyGNSS");
    let observer = connect(&router.url()).await;
    let mut fixes = subscribe(&observer, FIX_TOPIC, false).await;
    let mut status = subscribe(&observer, STATUS_TOPIC, false).await;
    // The component first, without a port: it retries until the receiver is there.
    let source = SourceSpec::Serial {
        path: link.clone(),
        baud: 115_200,
    };
    let gnss = InProcess::start(&router.url(), |c, s| {
        verger_gnss::run(c, GnssConfig::new(source), s)
    });
    state_is(&mut status, ReceiverState::PortLost).await;

    let drive = Drive::new(
        &parallel_rows((44.07, 1.09), 12.0, 2, 4.0, 8.0),
        None,
        DriveOptions {
            flapping: Some(Flapping {
                per_minute: 6.0,
                float_s: 2.0,
            }),
            outages: vec![Outage {
                at_s: 5.0,
                duration_s: 1.5,
            }],
            // No noise, even in float: the fixes are the truth.
            float_noise_m: 0.0,
            heading: true,
            seed: 7,
            ..DriveOptions::default()
        },
    )
    .unwrap();
    let speed = 10.0;
    let receiver_config = ReceiverConfig {
        speed,
        ..ReceiverConfig::default()
    };
    let mut receiver =
        VirtualReceiver::prepare(&link, &Source::Drive(drive), &receiver_config).unwrap();
    // The port is open when the component says so; only then does the receiver start.
    state_is(&mut status, ReceiverState::Stale).await;
    receiver.start();

    let truth = receiver.truth().to_vec();
    let valid: Vec<_> = truth.iter().filter(|t| t.quality.is_fix()).collect();
    assert!(valid.len() < truth.len(), "the outage");
    assert!(
        valid.iter().any(|t| t.quality != EpochQuality::RTK_FIXED),
        "some RTK float"
    );
    let by_time: HashMap<String, _> = truth
        .iter()
        .map(|t| (verger::civil::rfc3339_from_unix_micros(t.time_us, 2), t))
        .collect();
    let last = verger::civil::rfc3339_from_unix_micros(valid.last().unwrap().time_us, 2);
    let limit = receiver.expected_duration() + STEP;
    let mut published = Vec::new();
    within_for(limit, "the last fix of the drive", async {
        loop {
            let e = fixes.recv().await.expect("subscription ended");
            let fix: FixPayload = e.kwargs_as().unwrap();
            let done = fix.time == last;
            published.push(fix);
            if done {
                return;
            }
        }
    })
    .await;
    within("the receiver ends", receiver.wait()).await.unwrap();

    assert_eq!(
        published.len(),
        valid.len(),
        "one fix per valid epoch, none in the outage"
    );
    for fix in &published {
        let t = by_time
            .get(&fix.time)
            .unwrap_or_else(|| panic!("{} is no epoch of the drive", fix.time));
        assert_eq!(t.quality, EpochQuality::Fix(fix.quality), "{}", fix.time);
        let off = Frame::new(t.lat, t.lon).to_local(fix.lat, fix.lon);
        assert!(off.x.hypot(off.y) < 0.001, "{}: {off:?}", fix.time);
        assert!((fix.course_deg.unwrap() - t.course_deg).abs() < 0.001);
        assert_eq!(fix.heading_deg, fix.course_deg);
        assert!((fix.speed_mps.unwrap() - t.speed_mps).abs() < 0.001);
    }
    let times: Vec<&String> = published.iter().map(|f| &f.time).collect();
    assert!(times.windows(2).all(|w| w[0] < w[1]), "in order");
    gnss.stop().await.expect("component stops cleanly");
    router.shutdown().await.unwrap();
}
