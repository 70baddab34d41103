//! verger's one shared test kit, a dev-dependency of every crate of the workspace.
//!
//! - [`schema`]: the JSON Schema check of contract payloads (`docs/schemas/`).

pub mod schema;
