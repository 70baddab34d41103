//! The `verger-gnss` binary as an operator runs it: strict flags; a pty as the
//! receiver's serial port; fixes at a subscriber; SIGTERM ends it with exit code 0.
//!
//! (The shared `verger::component::check_component_binary` starts a component without
//! component flags; verger-gnss requires exactly one source, so this file does the same
//! checks with `--serial`.)

mod common;

use std::process::Stdio;

use common::*;
use verger::contract::gnss::FIX_TOPIC;

const BIN: &str = env!("CARGO_BIN_EXE_verger-gnss");

async fn run_bad(args: &[&str]) -> String {
    let out = within(
        "bad flags",
        tokio::process::Command::new(BIN).args(args).output(),
    )
    .await
    .unwrap();
    assert!(!out.status.success(), "{args:?} accepted");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test]
async fn strict_flags_with_clear_errors() {
    let e = run_bad(&["--serializer", "yaml", "--udp", "127.0.0.1:0"]).await;
    assert!(e.contains("yaml") && e.contains("--serializer"), "{e}");
    let e = run_bad(&[]).await;
    assert!(e.contains("required") && e.contains("--serial"), "{e}");
    let e = run_bad(&["--serial", "/dev/ttyUSB0", "--tcp", "h:1"]).await;
    assert!(e.contains("cannot be used with"), "{e}");
    let e = run_bad(&["--serial", "/dev/ttyUSB0", "--baud", "1200"]).await;
    assert!(e.contains("1200") && e.contains("baud"), "{e}");
    let e = run_bad(&["--udp", "0.0.0.0:9999", "--baud", "9600"]).await;
    assert!(e.contains("--baud"), "{e}");
    let e = run_bad(&["--serial", "/dev/x", "--stale-after", "10ms"]).await;
    assert!(e.contains("--stale-after"), "{e}");
    let e = run_bad(&[
        "--file",
        "/nonexistent/track.nmea",
        "--router",
        "ws://127.0.0.1:1/ws",
    ])
    .await;
    assert!(e.contains("/nonexistent/track.nmea"), "{e}");
}

#[tokio::test]
async fn binary_publishes_fixes_from_a_pty_and_leaves_on_sigterm() {
    let router = start_router().await;
    let dir = TempDir::new("binary");
    let link = dir.path("ttyGNSS");
    let mut pty = Pty::open(&link);
    let observer = connect(&router.url()).await;
    let mut fixes = subscribe(&observer, FIX_TOPIC, false).await;
    let mut child = tokio::process::Command::new(BIN)
        .args(["--router", &router.url(), "--realm", "orchard"])
        .args(["--serial", link.to_str().unwrap(), "--baud", "115200"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn verger-gnss");
    within("component joins", async {
        while router.session_count("orchard") < 2 {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await;

    let epochs = epochs_of(&nmea_capture("gpsd__nmea-rtk.log"));
    for (_, bytes) in &epochs[..5] {
        pty.write(bytes).await;
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let mut times = Vec::new();
    while times.len() < 5 {
        let e = next_event(&mut fixes, "fix from the binary").await;
        times.push(fix_of(&e).time);
    }
    let want: Vec<String> = epochs[..5]
        .iter()
        .map(|(t, _)| format!("2020-03-18T{}Z", rfc3339_time_part(t)))
        .collect();
    assert_eq!(times, want);

    let pid = child.id().unwrap().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let status = within("exit after SIGTERM", child.wait()).await.unwrap();
    assert!(status.success(), "{status}");
    within("session gone", async {
        while router.session_count("orchard") > 1 {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await;
    router.shutdown().await.unwrap();
}
