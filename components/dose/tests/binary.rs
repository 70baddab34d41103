//! The `verger-dose` binary: strict flags and settings file (an unknown key refused with
//! its line, also inside the dose settings), joins the realm, leaves cleanly on SIGTERM
//! and SIGINT; a broken state file stops it with an error naming the file.

use std::path::Path;

use verger_testkit::{free_port, run_to_end, TempDir};

const BIN: &str = env!("CARGO_BIN_EXE_verger-dose");

#[tokio::test]
async fn binary_flags_join_and_signals() {
    let dir = TempDir::new("dose-binary");
    let state = dir.path("dose-settings.json");
    verger_testkit::check_component_binary(Path::new(BIN), &["--state", state.to_str().unwrap()])
        .await;
}

#[tokio::test]
async fn unknown_dose_settings_are_refused_with_their_line() {
    let dir = TempDir::new("dose-config");
    let config = dir.path("dose.toml");
    std::fs::write(
        &config,
        "max_in_flight = 8\n\nmax_l = 0.8\nmax_litres = 2\n[product]\nname = \"X\"\nauthorisation = \"1\"\ntarget_pest = \"\"\ncolour = \"red\"\n",
    )
    .unwrap();
    let (status, stderr) = run_to_end(Path::new(BIN), ["--config", config.to_str().unwrap()]).await;
    assert!(!status.success(), "{stderr}");
    for part in [
        "dose.toml",
        "line 4: max_litres: unknown field",
        "line 9: product.colour: unknown field",
    ] {
        assert!(stderr.contains(part), "{part} in {stderr:?}");
    }
}

#[tokio::test]
async fn a_broken_state_file_stops_the_binary_naming_it() {
    let dir = TempDir::new("dose-broken-binary");
    let state = dir.path("dose-settings.json");
    std::fs::write(&state, "{\"min_l\": 0.1,").unwrap();
    let router = format!("ws://{}/ws", free_port().await);
    let (status, stderr) = run_to_end(
        Path::new(BIN),
        [
            "--router",
            router.as_str(),
            "--state",
            state.to_str().unwrap(),
        ],
    )
    .await;
    assert!(!status.success(), "{stderr}");
    assert!(
        stderr.contains(&state.display().to_string()) && stderr.contains("not JSON"),
        "{stderr}"
    );
}
