//! The embedded WAMP router: an async shell around an I/O-free core.
//!
//! Shell (tokio, sockets, time):
//! - [`Router`], [`RouterHandle`], [`Listeners`] (`server.rs`): accept loop, connection
//!   cap, graceful shutdown; embeddable in any tokio program.
//! - [`RouterConfig`] (`config.rs`): TOML configuration and its validation.
//! - `session.rs`: one task per connection and one writer task per session; carries
//!   out what the core decides. The size, slow-consumer, keepalive and shutdown
//!   policies are documented there.
//! - `outbox.rs`: a session's outbound queue, bounded in messages and encoded bytes,
//!   the router-wide byte budget, and the delivery policies (`cut`, `drop_oldest`,
//!   `latest`); no I/O.
//! - `throttle.rs`: rate-limited warnings (at most about one line per cause per
//!   interval, with counts).
//!
//! Core (values in, values out; no I/O, no clock):
//! - `handshake.rs`: HELLO → CHALLENGE/AUTHENTICATE → WELCOME or ABORT, with the
//!   [`auth`] seam ([`Authenticator`], [`Anonymous`]) plugged in.
//! - [`realm`]: one realm's session table (which also holds the shell's link to each
//!   session) and message dispatch to the broker, dealer and meta API.
//! - [`broker`], [`dealer`], [`meta`]: publish/subscribe, calls, the meta API.
//! - [`testament`]: session testaments (`wamp.session.add_testament`), published by
//!   the realm when a session goes.
//! - [`pattern`]: the broker's and dealer's index by URI pattern (matching itself is
//!   `wamp::uri::Matcher`).
//! - `vocab.rs`: the core's shared vocabulary (sessions, actions, timers, meta events,
//!   option parsing, error replies).
//!
//! Imports only go down, never round (`grep -n "^use super::" src/router/*.rs`):
//!
//! ```text
//!   server          ──► session, realm, auth, config, outbox, throttle
//!   session         ──► handshake, realm, auth, config, outbox, throttle
//!   handshake       ──► auth, vocab
//!   realm           ──► broker, dealer, meta, testament, vocab
//!   testament       ──► vocab
//!   broker, dealer  ──► pattern, vocab
//!   meta            ──► vocab
//!   outbox          ──► vocab
//!   pattern, vocab  ──► (wamp only)
//!   throttle        ──► (nothing)
//! ```
pub mod auth;
pub mod config;
mod handshake;
mod outbox;
mod server;
mod session;
mod throttle;

pub use auth::{Anonymous, Authenticator};
pub use config::{ConfigError, RouterConfig};
pub use handshake::AGENT;
pub use server::{Listeners, Router, RouterError, RouterHandle};

pub mod broker;
pub mod dealer;
pub mod meta;
pub mod pattern;
pub mod realm;
pub mod testament;
mod vocab;

#[cfg(test)]
pub(crate) mod testkit;
