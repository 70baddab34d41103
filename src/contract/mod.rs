//! The orchard message contract: realm, topic and procedure URIs and their payloads.
//! Documented for integrators in `docs/contract.md`.

/// The realm every verger component joins unless told otherwise.
pub const DEFAULT_REALM: &str = "orchard";

/// The router URL components connect to unless told otherwise.
pub const DEFAULT_ROUTER_URL: &str = "ws://127.0.0.1:8080/ws";

pub mod gnss;
