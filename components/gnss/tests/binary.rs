//! The `verger-gnss` binary as an operator runs it: strict flags; a pty as the
//! receiver's serial port; fixes at a subscriber; SIGTERM ends it with exit code 0.
//! The common whole-binary check of every component runs it with a UDP source.

use nix::sys::signal::Signal;

use verger::contract::gnss::{FixPayload, FIX_TOPIC};
use verger_testkit::*;

const BIN: &str = env!("CARGO_BIN_EXE_verger-gnss");

#[tokio::test]
async fn binary_flags_config_join_and_signals() {
    verger_testkit::check_component_binary(std::path::Path::new(BIN), &["--udp", "127.0.0.1:0"])
        .await;
}

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
    let router = start_test_router().await;
    let dir = TempDir::new("binary");
    let link = dir.path("ttyGNSS");
    let mut pty = Pty::open(&link);
    let observer = connect(&router.url()).await;
    let mut fixes = subscribe(&observer, FIX_TOPIC, false).await;
    let url = router.url();
    let mut child = Process::spawn(
        std::path::Path::new(BIN),
        [
            "--router",
            url.as_str(),
            "--realm",
            "orchard",
            "--serial",
            link.to_str().unwrap(),
            "--baud",
            "115200",
        ],
    );
    sessions(&router, 2).await;

    let epochs = nmea_epochs(&nmea_capture("gpsd__nmea-rtk.log"));
    for (_, bytes) in &epochs[..5] {
        pty.write(bytes).await;
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let mut times = Vec::new();
    while times.len() < 5 {
        let e = next_event(&mut fixes, "fix from the binary").await;
        times.push(kwargs_of::<FixPayload>(&e).time);
    }
    let want: Vec<String> = epochs[..5]
        .iter()
        .map(|(t, _)| format!("2020-03-18T{}Z", rfc3339_time_part(t)))
        .collect();
    assert_eq!(times, want);

    let status = child.stop_with(Signal::SIGTERM).await;
    assert!(status.success(), "{status}");
    sessions(&router, 1).await;
    router.shutdown().await.unwrap();
}

/// Random bytes with line ends and `$` in them, as a wrong `--file` or a wrong baud rate
/// gives: no sentence has a checksum, so nothing is accepted, and the run fails saying
/// what it read instead of succeeding quietly.
#[tokio::test]
async fn a_file_without_any_epoch_fails_saying_what_it_read() {
    let router = start_test_router().await;
    let dir = TempDir::new("noise");
    let path = dir.path("noise.bin");
    let mut x: u32 = 0x2545_F491;
    let mut noise: Vec<u8> = (0..20_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect();
    for i in (0..noise.len()).step_by(250) {
        noise[i] = b'$';
        noise[i + 1..i + 7].copy_from_slice(b"GPGGA,");
        noise[i + 40] = b'\n';
    }
    std::fs::write(&path, &noise).unwrap();
    let url = router.url();
    let mut command = tokio::process::Command::new(BIN);
    command
        .args(["--router", url.as_str(), "--file", path.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let mut child = Process::spawn_command(command);
    let (status, stderr) = child.wait_with_stderr().await;
    assert_eq!(status.code(), Some(1), "{stderr}");
    let line = stderr
        .lines()
        .find(|l| l.starts_with("error: no receiver epoch in file:"))
        .unwrap_or_else(|| panic!("no error line in {stderr:?}"));
    assert!(line.contains("read 20000 bytes in "), "{line}");
    assert!(line.contains("% binary"), "{line}");
    assert!(line.contains("0 NMEA sentences accepted"), "{line}");
    // The retained status says the component is gone.
    let late = connect(&url).await;
    let mut status = subscribe(&late, verger::contract::gnss::STATUS_TOPIC, true).await;
    let s: verger::contract::gnss::StatusPayload =
        kwargs_of(&next_event(&mut status, "retained status").await);
    assert_eq!(s.state, verger::contract::gnss::ReceiverState::Gone);
    router.shutdown().await.unwrap();
}

/// A wrong `--serial` path: the component keeps retrying (a receiver may be plugged in
/// later) but says at once, in its log, what is wrong and how to list serial ports.
/// (The reminder once a minute is tested on the state machine, by values.)
#[tokio::test]
async fn a_wrong_serial_path_is_reported_clearly() {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let router = start_test_router().await;
    let url = router.url();
    let mut command = tokio::process::Command::new(BIN);
    command
        .args([
            "--router",
            url.as_str(),
            "--serial",
            "/dev/verger-test-no-such-port",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let mut child = Process::spawn_command(command);
    let mut lines = BufReader::new(child.child.stderr.take().unwrap()).lines();
    let line = within("the port_lost warning", async {
        loop {
            let line = lines.next_line().await.unwrap().expect("stderr open");
            if line.contains("port_lost") {
                return line;
            }
        }
    })
    .await;
    assert!(
        line.contains("serial port /dev/verger-test-no-such-port does not exist")
            && line.contains("ls -l /dev/serial/by-id/")
            && line.contains("dmesg"),
        "{line}"
    );
    let status = child.stop_with(Signal::SIGTERM).await;
    assert!(status.success(), "{status}");
    router.shutdown().await.unwrap();
}
