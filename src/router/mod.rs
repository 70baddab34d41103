//! The embedded WAMP router.
//!
//! - [`Router`], [`RouterHandle`], [`Listeners`] (`server.rs`): accept loop, connection
//!   cap, graceful shutdown; embeddable in any tokio program.
//! - [`RouterConfig`] (`config.rs`): TOML configuration and its validation.
//! - `session.rs`: one task per connection (the WAMP session state machine around
//!   the I/O-free [`realm::Realm`] core) and one writer task per session; the size,
//!   slow-consumer, keepalive and shutdown policies are documented there.
//! - [`auth`]: the authentication seam ([`Authenticator`], [`Anonymous`]).
pub mod auth;
pub mod config;
mod handshake;
mod server;
mod session;

pub use auth::{Anonymous, Authenticator};
pub use config::{ConfigError, RouterConfig};
pub use handshake::AGENT;
pub use server::{Listeners, Router, RouterError, RouterHandle};

pub mod broker;
pub mod dealer;
pub mod meta;
pub mod pattern;
pub mod realm;
mod vocab;

#[cfg(test)]
pub(crate) mod testkit;
