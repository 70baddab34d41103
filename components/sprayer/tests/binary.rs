//! The `verger-sprayer` binary: strict flags and settings, refuses to start without a
//! board or a record database (naming what is missing or wrong, files untouched), joins
//! the realm, leaves cleanly on SIGTERM and SIGINT.

use verger_sim::board::{VirtualBoard, VirtualBoardConfig};
use verger_testkit::{run_to_end, TempDir};

fn binary() -> &'static std::path::Path {
    std::path::Path::new(env!("CARGO_BIN_EXE_verger-sprayer"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_flags_join_and_signals() {
    let dir = TempDir::new("sprayer-binary");
    let link = dir.path("valves");
    let board = VirtualBoard::open(&link, VirtualBoardConfig::default()).expect("board");
    let records = dir.path("records.db");
    verger_testkit::check_component_binary(
        binary(),
        &[
            "--board",
            link.to_str().unwrap(),
            "--records",
            records.to_str().unwrap(),
        ],
    )
    .await;
    // Each stop closed every output (ALL_OFF), and the board was driven all along.
    assert!(board.outputs().sections().iter().all(|s| !s.is_open()));
    assert!(board.stats().frames_ok > 0);
}

#[tokio::test]
async fn no_board_no_record_or_bad_ones_are_refused_by_name() {
    let dir = TempDir::new("sprayer-refusals");
    let records = dir.path("records.db");
    let r = records.to_str().unwrap();
    let router = ["--router", "ws://127.0.0.1:9/ws"];
    let (status, stderr) = run_to_end(binary(), router.iter().chain(&["--records", r])).await;
    assert!(!status.success() && stderr.contains("--board"), "{stderr}");
    let (status, stderr) =
        run_to_end(binary(), router.iter().chain(&["--board", "/dev/null"])).await;
    assert!(
        !status.success() && stderr.contains("--records"),
        "{stderr}"
    );
    let missing = dir.path("no-such-board");
    let (status, stderr) = run_to_end(
        binary(),
        router
            .iter()
            .chain(&["--board", missing.to_str().unwrap(), "--records", r]),
    )
    .await;
    assert!(
        !status.success() && stderr.contains("no-such-board"),
        "{stderr}"
    );
    let garbage = dir.path("garbage.db");
    std::fs::write(&garbage, b"this is not SQLite").unwrap();
    let (status, stderr) = run_to_end(
        binary(),
        router.iter().chain(&[
            "--board",
            "/dev/null",
            "--records",
            garbage.to_str().unwrap(),
        ]),
    )
    .await;
    assert!(
        !status.success() && stderr.contains("garbage.db"),
        "{stderr}"
    );
    assert_eq!(std::fs::read(&garbage).unwrap(), b"this is not SQLite");
}
