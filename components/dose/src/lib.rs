//! `verger-dose`: the dose for each tree, and the order to the sprayer.
//!
//! Shape (as `verger-gnss`): a pure core (the dose models (fruit load, canopy volume, constant rate), free of I/O) with the async
//! shell [`run`] around it, and a thin `main`. The core and the component's own
//! settings arrive with issue 9 (dose models, settings); today [`run`] holds the session open
//! (registrations and subscriptions are restored by the client after a router restart)
//! until shutdown is requested, then returns so the harness can say GOODBYE.

use verger::client::Client;
use verger::component::{NoSettings, Shutdown};

/// Why [`run`] ended with an error.
#[derive(Debug, thiserror::Error)]
pub enum Error {}

/// The component's settings (`--config FILE`): none yet, so a file with any key is
/// refused by name.
pub type Settings = NoSettings;

/// Run the component on `client` until `shutdown` is requested.
pub async fn run(client: Client, shutdown: Shutdown, _settings: Settings) -> Result<(), Error> {
    let _session = client;
    shutdown.requested().await;
    Ok(())
}
