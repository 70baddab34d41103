//! The as-applied record through the real binary: `kill -9` while sprays are being
//! recorded as fast as the windows come, then the database opens, is intact, and holds
//! every spray that was reported (published on `orchard.sprayer.applied`).

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::Rig;
use nix::sys::signal::Signal;
use verger::contract::sprayer::{AppliedRecord, APPLIED_TOPIC};
use verger_testkit::{kwargs_of, next_event, subscribe};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_heavy_recording_loses_no_reported_record() {
    let mut rig = Rig::ready("", &[]).await;
    let mut applied = subscribe(&rig.client, APPLIED_TOPIC, false).await;
    // 40 ms windows every 80 ms on both sections for 4 s: 100 sprays.
    for i in 0..50u64 {
        for section in ["left", "right"] {
            let open = Duration::from_millis(500 + 80 * i);
            let order = Rig::order(
                &format!("T-{i:03}"),
                section,
                open,
                open + Duration::from_millis(40),
            );
            rig.apply(&order).await.expect("taken");
        }
    }
    let mut reported = BTreeMap::new();
    while reported.len() < 30 {
        let e = next_event(&mut applied, "sprays recorded").await;
        let r: AppliedRecord = kwargs_of(&e);
        reported.insert(r.id, r);
    }
    rig.sprayer.signal(Signal::SIGKILL);
    let _ = rig.sprayer.wait().await;
    // Whatever was already on its way is reported too.
    while let Ok(Some(e)) = tokio::time::timeout(Duration::from_millis(300), applied.recv()).await {
        let r: AppliedRecord = kwargs_of(&e);
        reported.insert(r.id, r);
    }
    rig.stop_fixes().await;
    let db = verger::records::RecordDb::create_or_open(&rig.records).expect("opens read-write");
    assert_eq!(db.integrity_check().expect("check"), Vec::<String>::new());
    let rows: BTreeMap<i64, AppliedRecord> = db
        .sprays(None, None)
        .expect("query")
        .into_iter()
        .map(|r| (r.id, r))
        .collect();
    for (id, r) in &reported {
        assert_eq!(
            rows.get(id),
            Some(r),
            "reported record {id} lost or changed"
        );
    }
    eprintln!(
        "{} sprays reported, {} in the database after kill -9",
        reported.len(),
        rows.len()
    );
}
