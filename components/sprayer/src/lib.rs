//! `verger-sprayer`: drives the valve board on time, fails safe, keeps the legal record.
//!
//! Shape (as `verger-gnss`): a pure core (the valve scheduler and its fail-safe rules, free of I/O) with the async
//! shell [`run`] around it, and a thin `main`. The core and the component's own
//! settings arrive with issue 9 (scheduled valve commands, fail-safe, record); today [`run`] holds the session open
//! (registrations and subscriptions are restored by the client after a router restart)
//! until shutdown is requested, then returns so the harness can say GOODBYE.

pub mod board;
pub mod command;
pub mod driver;
pub mod safety;
pub mod schedule;

use std::convert::Infallible;

use verger::client::Client;
use verger::component::Shutdown;

/// The component's settings (`--config FILE`): none yet, so a file with any key is
/// refused by name.
pub use verger::component::NoSettings as Settings;

/// Run the component on `client` until `shutdown` is requested. (Nothing can fail yet.)
pub async fn run(client: Client, shutdown: Shutdown, _: Settings) -> Result<(), Infallible> {
    let _session = client;
    shutdown.requested().await;
    Ok(())
}
