//! The `verger-sprayer` binary: strict flags, joins the realm, leaves cleanly on SIGTERM
//! and SIGINT.

#[tokio::test]
async fn binary_flags_join_and_signals() {
    let binary = std::path::Path::new(env!("CARGO_BIN_EXE_verger-sprayer"));
    verger_testkit::check_component_binary(binary, &[]).await;
}
