//! The `verger` command line as an operator meets it: `verger config check FILE` and
//! `verger router --config FILE` report a configuration the same way (every wrong value
//! at once, each with its line, in words, with an example of what is expected), and
//! each command offers only the flags that apply to it.

use verger_testkit::{run_to_end, TempDir};

const VERGER: &str = env!("CARGO_BIN_EXE_verger");

#[tokio::test]
async fn both_commands_report_every_wrong_value_the_same_way() {
    let dir = TempDir::new("cli-config");
    let file = dir.path("router.toml");
    std::fs::write(
        &file,
        "# a router for the tractor\n\
         max_sessions = \"512\"\n\
         listen = \"localhost:8080\"\n\
         realms = []\n\
         ping_interval = \"30s\"\n\
         ping_timeout = \"10s\"\n",
    )
    .unwrap();
    let path = file.to_str().unwrap();
    let program = std::path::Path::new(VERGER);
    let (status, check) = run_to_end(program, ["config", "check", path]).await;
    assert!(!status.success());
    let (status, router) = run_to_end(program, ["router", "--config", path]).await;
    assert!(!status.success());
    assert_eq!(check, router);
    for needle in [
        "invalid configuration:",
        "  - line 2: max_sessions: expected a whole number of 0 or more, e.g. 512 (write 512 without quotes)",
        "  - line 3: listen: expected an IP address and port, e.g. \"127.0.0.1:8080\"",
        "  - line 4: realms: at least one realm is required",
        "  - line 6: ping_timeout: 10s must be longer than ping_interval (30s)",
    ] {
        assert!(check.contains(needle), "{needle:?} not in {check}");
    }
}

#[tokio::test]
async fn a_good_file_is_ok_and_the_shipped_one_too() {
    let shipped = verger_testkit::project_root().join("router.toml");
    let (status, _) = run_to_end(
        std::path::Path::new(VERGER),
        ["config", "check", shipped.to_str().unwrap()],
    )
    .await;
    assert!(status.success());
}

#[tokio::test]
async fn record_offers_no_replay_flags() {
    let program = std::path::Path::new(VERGER);
    let out = verger_testkit::within(
        "verger record --help",
        tokio::process::Command::new(program)
            .args(["record", "--help"])
            .output(),
    )
    .await
    .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in ["--serial", "--tcp", "--udp", "--file", "--baud", "--out"] {
        assert!(help.contains(flag), "{flag} missing from {help}");
    }
    for flag in ["--replay-speed", "--line-rate"] {
        assert!(!help.contains(flag), "{flag} offered by {help}");
    }
    let (status, stderr) = run_to_end(
        program,
        [
            "record",
            "--udp",
            "127.0.0.1:0",
            "--line-rate",
            "5",
            "--out",
            "/nonexistent/x",
        ],
    )
    .await;
    assert!(!status.success());
    assert!(stderr.contains("--line-rate"), "{stderr}");
}
