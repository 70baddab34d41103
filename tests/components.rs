//! Whole-binary tests of the component programs: each joins the realm given by
//! `--router`/`--realm`, and leaves with GOODBYE and exit code 0 on SIGTERM.
//!
//! The binaries belong to other workspace packages; `cargo test --workspace` builds them
//! next to `verger` before any test runs.

mod common;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use common::{start_router, test_config, within};

const COMPONENTS: [&str; 4] = ["gnss", "map", "dose", "sprayer"];

fn component_binary(name: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_BIN_EXE_verger")).with_file_name(format!("verger-{name}"));
    assert!(
        path.exists(),
        "{} is missing: run the tests with `cargo test --workspace` (or scripts/test)",
        path.display()
    );
    path
}

async fn wait_sessions(router: &verger::router::RouterHandle, want: usize) {
    within("component session count", async {
        while router.session_count("orchard") != want {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}

#[tokio::test]
async fn components_join_and_leave_cleanly_on_sigterm() {
    let router = start_router(test_config()).await;
    let mut children = Vec::new();
    for name in COMPONENTS {
        let child = tokio::process::Command::new(component_binary(name))
            .args(["--router", &router.url(), "--realm", "orchard"])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn component");
        children.push((name, child));
    }
    wait_sessions(&router, COMPONENTS.len()).await;

    for (name, child) in &mut children {
        let pid = child.id().expect("pid").to_string();
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        assert!(status.success());
        let exit = within("component exit", child.wait()).await.expect("wait");
        assert!(exit.success(), "verger-{name} exited with {exit}");
    }
    wait_sessions(&router, 0).await;
    router.shutdown().await.expect("router shutdown");
}

#[tokio::test]
async fn component_rejects_a_bad_flag_with_a_clear_message() {
    let out = within(
        "component with bad flag",
        tokio::process::Command::new(component_binary("gnss"))
            .args(["--serializer", "yaml"])
            .output(),
    )
    .await
    .expect("run");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("yaml") && stderr.contains("--serializer"),
        "{stderr}"
    );
}
