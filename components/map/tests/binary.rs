//! The `verger-map` binary: strict flags, refuses to start without a usable map, joins
//! the realm, leaves cleanly on SIGTERM and SIGINT.

mod common;

use verger_testkit::{run_to_end, TempDir};

#[tokio::test]
async fn binary_flags_join_and_signals() {
    let binary = std::path::Path::new(env!("CARGO_BIN_EXE_verger-map"));
    let dir = TempDir::new("map-binary");
    let db = common::orchard_db(&dir);
    verger_testkit::check_component_binary(binary, &["--db", db.to_str().unwrap()]).await;
}

#[tokio::test]
async fn no_map_or_a_bad_one_is_refused_by_name() {
    let binary = std::path::Path::new(env!("CARGO_BIN_EXE_verger-map"));
    let (status, stderr) = run_to_end(binary, ["--router", "ws://127.0.0.1:9/ws"]).await;
    assert!(!status.success() && stderr.contains("--db"), "{stderr}");
    let dir = TempDir::new("map-binary-bad");
    let missing = dir.path("missing.db");
    let (status, stderr) = run_to_end(
        binary,
        [
            "--router",
            "ws://127.0.0.1:9/ws",
            "--db",
            missing.to_str().unwrap(),
        ],
    )
    .await;
    assert!(
        !status.success() && stderr.contains("missing.db"),
        "{stderr}"
    );
    let garbage = dir.path("garbage.db");
    std::fs::write(&garbage, b"this is not SQLite").unwrap();
    let (status, stderr) = run_to_end(
        binary,
        [
            "--router",
            "ws://127.0.0.1:9/ws",
            "--db",
            garbage.to_str().unwrap(),
        ],
    )
    .await;
    assert!(
        !status.success() && stderr.contains("garbage.db"),
        "{stderr}"
    );
    // The file is untouched.
    assert_eq!(std::fs::read(&garbage).unwrap(), b"this is not SQLite");
}
