//! A plain NMEA log replayed through the component with the documented command
//! (`verger-gnss --file gpsd.log`, docs/gnss.md), in real time: one complete fix per
//! receiver epoch at a subscriber. (Every capture, on paused time, without the router:
//! `tests/nmea_gpsd.rs` at the workspace root.)

use clap::Parser;
use verger::contract::gnss::{FixPayload, FIX_TOPIC};
use verger_gnss::{GnssArgs, GnssSettings};
use verger_testkit::*;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    gnss: GnssArgs,
}

#[tokio::test]
async fn a_plain_log_replays_one_complete_fix_per_epoch() {
    const EPOCHS: usize = 20;
    let router = start_test_router().await;
    let dir = TempDir::new("replay");
    let path = dir.path("gpsd.log");
    let epochs = nmea_epochs(&nmea_capture("gpsd__nmea-rtk.log"));
    let head: Vec<u8> = epochs[..EPOCHS]
        .iter()
        .flat_map(|(_, b)| b.iter().copied())
        .collect();
    std::fs::write(&path, head).unwrap();
    let cli = Cli::try_parse_from(["verger-gnss", "--file", path.to_str().unwrap()]).unwrap();
    let config = cli.gnss.config(&GnssSettings::default()).unwrap();

    let observer = connect(&router.url()).await;
    let mut fixes = subscribe(&observer, FIX_TOPIC, false).await;
    let gnss = InProcess::start(&router.url(), |c, s| verger_gnss::run(c, config, s));
    let mut got = Vec::new();
    while got.len() < EPOCHS {
        got.push(kwargs_of::<FixPayload>(
            &next_event(&mut fixes, "a replayed fix").await,
        ));
    }
    gnss.finished().await.expect("the replay ends cleanly");
    let times: Vec<String> = got.iter().map(|f| f.time.clone()).collect();
    let want: Vec<String> = epochs[..EPOCHS]
        .iter()
        .map(|(t, _)| format!("2020-03-18T{}Z", rfc3339_time_part(t)))
        .collect();
    assert_eq!(times, want, "each epoch once, in order");
    assert!(
        got.iter()
            .all(|f| f.speed_mps.is_some() && f.course_deg.is_some()),
        "every fix complete (GGA and RMC): {got:?}"
    );
    // Nothing more: no epoch published a second time.
    assert!(
        tokio::time::timeout(std::time::Duration::from_millis(200), fixes.recv())
            .await
            .is_err()
    );
    router.shutdown().await.unwrap();
}
