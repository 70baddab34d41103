//! The `verger-gnss` binary: strict flags, joins the realm, leaves cleanly on SIGTERM.

#[tokio::test]
async fn binary_flags_join_and_sigterm() {
    let binary = std::path::Path::new(env!("CARGO_BIN_EXE_verger-gnss"));
    verger::component::check_component_binary(binary)
        .await
        .unwrap();
}
