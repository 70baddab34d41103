//! The component harness (`verger::component`) as a real process: on SIGTERM/SIGINT a
//! component keeps its session, finishes its own shutdown (here: publishes last words,
//! then writes a file) and exits 0; one that overruns `--shutdown-timeout` exits with a
//! failure naming it; a bad `--config` file is refused naming the line.

use nix::sys::signal::Signal;
use verger_testkit::*;

const PROBE: &str = env!("CARGO_BIN_EXE_verger-shutdown-probe");

fn probe() -> &'static std::path::Path {
    std::path::Path::new(PROBE)
}

#[tokio::test]
async fn a_component_finishes_its_shutdown_after_sigterm_and_sigint() {
    let router = start_test_router().await;
    let observer = connect(&router.url()).await;
    let mut last_words = subscribe(&observer, "test.probe.last_words", false).await;
    let dir = TempDir::new("harness");
    for signal in [Signal::SIGTERM, Signal::SIGINT] {
        let out = dir.path(&format!("{signal}"));
        let url = router.url();
        let mut child = Process::spawn(
            probe(),
            ["--router", url.as_str(), "--out", out.to_str().unwrap()],
        );
        sessions(&router, 2).await;
        child.signal(signal);
        // Its session still works after the signal...
        let words = next_event(&mut last_words, "last words after the signal").await;
        assert_eq!(words.args, vec![verger::wamp::Value::from("closing")]);
        // ...and the process waits for the component to reach its safe state.
        let status = child.wait().await;
        assert!(status.success(), "{signal}: {status}");
        assert_eq!(
            std::fs::read(&out).expect("written after the signal"),
            b"closed"
        );
        sessions(&router, 1).await;
    }
}

#[tokio::test]
async fn overrunning_the_shutdown_deadline_fails_naming_it() {
    let router = start_test_router().await;
    let dir = TempDir::new("harness-hang");
    let config = dir.path("probe.toml");
    std::fs::write(&config, "hang = true\n").unwrap();
    let out = dir.path("out");
    let url = router.url();
    let mut command = tokio::process::Command::new(probe());
    command
        .args(["--router", url.as_str(), "--shutdown-timeout", "300ms"])
        .arg("--config")
        .arg(&config)
        .arg("--out")
        .arg(&out)
        .stderr(std::process::Stdio::piped());
    let mut child = Process::spawn_command(command);
    sessions(&router, 1).await;
    child.signal(Signal::SIGTERM);
    let (status, stderr) = child.wait_with_stderr().await;
    assert!(!status.success());
    assert!(
        stderr.contains("did not finish its shutdown within 300ms"),
        "{stderr}"
    );
    assert!(!out.exists());
    sessions(&router, 0).await;
}

/// Run the probe with `config` as its `--config` file: it must refuse to start; stderr.
async fn refused(config: &std::path::Path) -> String {
    let (status, stderr) = run_to_end(
        probe(),
        [
            "--out",
            "/nonexistent",
            "--config",
            config.to_str().unwrap(),
        ],
    )
    .await;
    assert!(!status.success(), "{} accepted", config.display());
    stderr
}

#[tokio::test]
async fn a_bad_config_file_is_refused_naming_the_line() {
    let dir = TempDir::new("harness-config");
    let config = dir.path("probe.toml");
    std::fs::write(&config, "# probe\nsettle = \"1s\"\nhang = \"yes\"\n").unwrap();
    let stderr = refused(&config).await;
    assert!(stderr.contains("probe.toml: line 3"), "{stderr}");
    std::fs::write(&config, "settle = \"1h\"\n").unwrap();
    let stderr = refused(&config).await;
    assert!(stderr.contains("line 1: settle: at most 10s"), "{stderr}");
    let stderr = refused(std::path::Path::new("/nonexistent.toml")).await;
    assert!(stderr.contains("cannot read /nonexistent.toml"), "{stderr}");
}
