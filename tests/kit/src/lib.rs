//! verger's one shared test kit, a dev-dependency of every crate of the workspace.
//!
//! Everything a test needs to drive verger from the outside, each in one place:
//!
//! - this file: bounded awaits ([`within`], [`eventually`]) and test logging;
//! - [`router`]: a router on 127.0.0.1:0 (TCP, Unix socket), restarted on the same
//!   port, free ports;
//! - [`peer`]: raw WAMP peers (WebSocket / RawSocket) that send and expect messages
//!   without any client logic, raw frames, HTTP exchanges, bystander sessions;
//! - [`client`]: the real `verger::client::Client` connected to a test router, with
//!   subscriptions and typed reads of events;
//! - [`process`]: component binaries as child processes (signals, exit, the common
//!   whole-binary check) and components run in-process with a shutdown token;
//! - [`pty`]: pseudo-terminal pairs standing in for serial devices;
//! - [`fixtures`]: the `../shared` data folder, the project root, temporary folders;
//! - [`schema`]: the JSON Schema check of contract payloads (`docs/schemas/`);
//! - [`autobahn`]: Autobahn|Python and Autobahn|JS programs (the interop peers, the
//!   farmer's modules of `examples/`).
//!
//! Every await of a test is bounded: a step that takes longer than [`STEP`] fails the
//! test with a message naming the step. Time-dependent logic is tested on paused
//! time or by waiting for an observable event, never with a fixed sleep.

pub mod autobahn;
pub mod client;
pub mod fixtures;
pub mod peer;
pub mod process;
pub mod pty;
pub mod router;
pub mod schema;

use std::future::Future;
use std::time::Duration;

pub use client::*;
pub use fixtures::*;
pub use peer::*;
pub use process::*;
pub use pty::*;
pub use router::*;

/// Upper bound for any single step of a test (generous: CI machines are shared).
pub const STEP: Duration = Duration::from_secs(10);

/// Await `f`, failing the test if it takes longer than [`STEP`].
pub async fn within<F: Future>(what: &str, f: F) -> F::Output {
    within_for(STEP, what, f).await
}

/// Await `f`, failing the test if it takes longer than `limit`.
pub async fn within_for<F: Future>(limit: Duration, what: &str, f: F) -> F::Output {
    match tokio::time::timeout(limit, f).await {
        Ok(v) => v,
        Err(_) => panic!("timed out after {limit:?}: {what}"),
    }
}

/// Poll `f` until it is true (every 20 ms), failing after [`STEP`]. For state that
/// has no event to wait on (a session count, a file appearing).
pub async fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    within(what, async {
        while !f() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
}

/// Logs of the code under test in the test output, filtered by `RUST_LOG` (silent by
/// default). Safe to call from every test.
pub fn init_logging() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("off")),
        )
        .with_test_writer()
        .try_init();
}
