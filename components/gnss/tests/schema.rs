//! Real published payloads validated against `docs/schemas/orchard.gnss.*.schema.json`
//! with the test kit's validator (`verger_testkit::schema`), and read back as the
//! contract's typed structs. The generic check of every contract payload's examples is
//! `tests/contract_schemas.rs` at the workspace root.

use verger::client::{Event, Subscription};
use verger::contract::gnss::{FixPayload, ReceiverState, StatusPayload, FIX_TOPIC, STATUS_TOPIC};
use verger::source::{Pacing, SourceSpec};
use verger_gnss::GnssConfig;
use verger_testkit::schema;
use verger_testkit::*;

fn check(topic: &str, capture: &str, e: &Event) {
    if let Err(p) = schema::check(topic, &schema::kwargs_json(&e.kwargs)) {
        panic!("{capture}: {p:?} in {:?}", e.kwargs);
    }
}

/// Every fix and status event until `session` has left the realm. The component's
/// events were routed before its GOODBYE, so they all reached this client before the
/// `on_leave` meta event did.
async fn events_until_left(
    fixes: &mut Subscription,
    statuses: &mut Subscription,
    leaves: &mut Subscription,
    session: u64,
) -> (Vec<Event>, Vec<Event>) {
    let (mut f, mut s) = (Vec::new(), Vec::new());
    within("component leaves", async {
        loop {
            tokio::select! {
                biased;
                Some(e) = fixes.recv() => f.push(e),
                Some(e) = statuses.recv() => s.push(e),
                Some(e) = leaves.recv() => {
                    if e.arg_as::<u64>(0).ok() == Some(session) {
                        break;
                    }
                }
            }
        }
    })
    .await;
    f.extend(std::iter::from_fn(|| fixes.try_recv()));
    s.extend(std::iter::from_fn(|| statuses.try_recv()));
    (f, s)
}

/// Replay real captures through the component and validate every event published.
#[tokio::test]
async fn published_payloads_match_the_schemas() {
    let router = start_test_router().await;
    let observer = connect(&router.url()).await;
    let mut fixes = subscribe(&observer, FIX_TOPIC, false).await;
    let mut statuses = subscribe(&observer, STATUS_TOPIC, false).await;
    let mut leaves = subscribe(&observer, "wamp.session.on_leave", false).await;
    let mut fix_count = 0;
    let mut status_count = 0;
    for capture in [
        "gpsd__nmea-rtk.log",
        "gpsd__hemi.log",
        "hazer__simplertk2b_rover.dat",
    ] {
        let spec = SourceSpec::File {
            path: nmea_capture_path(capture),
            // By the receiver's epoch times, 50 times as fast.
            pacing: Pacing {
                speed: 50.0,
                ..Pacing::default()
            },
        };
        let gnss = InProcess::start(&router.url(), |c, s| {
            verger_gnss::run(c, GnssConfig::new(spec), s)
        });
        let client = gnss.client.clone();
        let session = within("component joins", client.wait_established())
            .await
            .unwrap();
        let run = async {
            let result = gnss.finished().await;
            within("component closes", client.close()).await.unwrap();
            result
        };
        let (result, (f, s)) = tokio::join!(
            run,
            events_until_left(&mut fixes, &mut statuses, &mut leaves, session)
        );
        result.expect("replay");
        for e in &f {
            check(FIX_TOPIC, capture, e);
            let fix: FixPayload = e.kwargs_as().expect("a fix payload");
            assert!(fix.age_ms >= 0.0, "{fix:?}");
        }
        for e in &s {
            check(STATUS_TOPIC, capture, e);
            let status: StatusPayload = e.kwargs_as().expect("a status payload");
            assert_eq!(status.source, format!("file:{}", spec_path(capture)));
        }
        // The last status is the one published at the end of the input, after every
        // fix: `gone`, dated, and it counts them all.
        let last: StatusPayload = s.last().expect("a status").kwargs_as().unwrap();
        assert_eq!(last.state, ReceiverState::Gone, "{capture}");
        assert!(last.published_at.is_some(), "{capture}");
        assert_eq!(last.counters.fixes_published, f.len() as u64, "{capture}");
        fix_count += f.len();
        status_count += s.len();
    }
    assert!(fix_count > 100, "{fix_count} fixes");
    assert!(status_count >= 3, "{status_count} statuses");
    router.shutdown().await.unwrap();
}

fn spec_path(capture: &str) -> String {
    nmea_capture_path(capture).display().to_string()
}
