//! The `verger-gnss` binary joins the realm and leaves cleanly on SIGTERM.

#[tokio::test]
async fn joins_the_realm_and_leaves_on_sigterm() {
    let binary = std::path::Path::new(env!("CARGO_BIN_EXE_verger-gnss"));
    verger::component::check_binary_joins_and_leaves(binary)
        .await
        .unwrap();
}

#[test]
fn rejects_a_bad_flag_with_a_clear_message() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_verger-gnss"))
        .args(["--serializer", "yaml"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("yaml") && stderr.contains("--serializer"),
        "{stderr}"
    );
}
