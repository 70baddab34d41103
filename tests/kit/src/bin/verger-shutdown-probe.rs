//! A component built on the shared harness only to prove its shutdown contract (used
//! by `tests/kit/tests/harness.rs`): after SIGINT/SIGTERM it still has its session,
//! publishes its last words, takes `settle` to "reach its safe state" and writes
//! `closed` into `--out`. With `hang = true` it never finishes, to prove the deadline.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use serde::Deserialize;
use verger::client::{Client, PublishOptions};
use verger::component::{self, ComponentArgs, Shutdown};
use verger::config::{Problem, Validate};

/// Topic of the probe's last words.
const LAST_WORDS: &str = "test.probe.last_words";

#[derive(Debug, Parser)]
#[command(name = "verger-shutdown-probe")]
struct Cli {
    #[command(flatten)]
    common: ComponentArgs,
    /// File written once the safe state is reached.
    #[arg(long)]
    out: PathBuf,
}

/// The probe's `--config` file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct ProbeConfig {
    /// Time taken to reach the safe state after the request.
    #[serde(with = "verger::config::duration::option")]
    settle: Option<Duration>,
    /// Never finish the shutdown.
    hang: bool,
}

impl Validate for ProbeConfig {
    fn validate(&self) -> Result<(), Vec<Problem>> {
        match self.settle {
            Some(d) if d > Duration::from_secs(10) => {
                Err(vec![Problem::new("settle", "at most 10s")])
            }
            _ => Ok(()),
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let out = cli.out;
    component::main(
        "shutdown-probe",
        cli.common,
        move |client, shutdown, config| work(client, shutdown, config, out),
    )
}

async fn work(
    client: Client,
    shutdown: Shutdown,
    config: ProbeConfig,
    out: PathBuf,
) -> Result<(), String> {
    shutdown.requested().await;
    let options = PublishOptions {
        acknowledge: true,
        ..PublishOptions::default()
    };
    client
        .publish_typed(LAST_WORDS, &["closing"], options)
        .await
        .map_err(|e| format!("last words not published: {e}"))?;
    if config.hang {
        std::future::pending::<()>().await;
    }
    tokio::time::sleep(config.settle.unwrap_or(Duration::from_millis(200))).await;
    tokio::fs::write(&out, b"closed")
        .await
        .map_err(|e| format!("cannot write {}: {e}", out.display()))
}
