//! `verger-dose`: the dose for each tree, and the order to the sprayer.
//!
//! Shape (as `verger-map`): a pure core, [`model`] (the dose models, clamps and nozzle
//! capacity, free of I/O), its [`settings`] (the `--config` file, the mapping of the
//! contract's dose settings to a model, the merge of a settings patch), the [`state`]
//! file, and the async shell [`run`] with the procedures of `service`, with a thin
//! `main`. The shell:
//!
//! - serves `orchard.dose.treat`: reads the map's order, computes the dose with the
//!   settings in force, orders the sprayer (`orchard.sprayer.apply`, at most
//!   `max_in_flight` at once; a withdrawal goes to `orchard.sprayer.withdraw`), then
//!   publishes the decision on `orchard.dose.decision` and returns it;
//! - serves `orchard.dose.get_settings` and `orchard.dose.set_settings`: a change is
//!   merged, read exactly, validated, saved to the state file, then published retained
//!   on `orchard.dose.settings` and returned;
//! - publishes the settings, retained, at start and on every new router session.
//!   Settings stay valid when the module stops: no testament, no last words.

pub mod model;
mod service;
pub mod settings;
pub mod state;

use std::path::PathBuf;
use std::sync::Arc;

use verger::client::{Client, ClientError};
use verger::component::Shutdown;

pub use settings::{DoseArgs, Settings};
pub use state::StateError;

/// Why `verger-dose` stopped.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// No state file was named and none can be found.
    #[error("no state file: give --state PATH (or `state_file` in the settings file); none of $STATE_DIRECTORY, $XDG_STATE_HOME and $HOME is set")]
    NoStateFile,
    /// The state file cannot be used.
    #[error(transparent)]
    State(#[from] StateError),
    /// The client failed for good.
    #[error(transparent)]
    Client(#[from] ClientError),
}

/// Run the component on `client` until `shutdown` is requested: the dose settings are
/// those of the state file `state_file` if it exists (the operator's last choice wins
/// over the `--config` file), else `settings.dose`.
pub async fn run(
    client: Client,
    shutdown: Shutdown,
    settings: Settings,
    state_file: PathBuf,
) -> Result<(), RunError> {
    let dose = match state::load(&state_file)? {
        Some(saved) => {
            tracing::info!(state = %state_file.display(), "settings from the state file (they win over --config)");
            saved
        }
        None => {
            tracing::info!(state = %state_file.display(), "no state file yet: settings from --config");
            settings.dose.clone()
        }
    };
    if let Some(field) = dose.product.missing() {
        tracing::warn!("no product set ({field} is empty): orders will be refused until one is set with orchard.dose.set_settings");
    }
    let service = Arc::new(service::Service::new(
        client.clone(),
        dose,
        state_file,
        settings.max_in_flight,
    ));
    let token = shutdown.token().clone();
    let _registrations = tokio::select! {
        _ = token.cancelled() => return Ok(()),
        r = service::register(&client, service.clone()) => r?,
    };
    // Retained events live in the router: publish again on every new session (a
    // restarted router has forgotten them).
    let mut states = client.state();
    let mut published_on = client.session_id();
    service.publish_settings().await;
    loop {
        tokio::select! {
            _ = token.cancelled() => return Ok(()),
            changed = states.changed() => {
                if changed.is_err() {
                    return Ok(());
                }
                let session = client.session_id();
                if session.is_some() && session != published_on {
                    published_on = session;
                    service.publish_settings().await;
                }
            }
        }
    }
}
