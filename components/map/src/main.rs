//! `verger-map`: the orchard map: which tree each sprayer section is about to pass.
//! Thin: flags, then [`verger_map::run`] on the shared component harness
//! (`verger::component`).

use std::process::ExitCode;

use clap::Parser;
use verger::component::{self, ComponentArgs};
use verger_map::{MapArgs, RunError};

/// mimalloc: with glibc's allocator, the churn of reading the trees around every fix
/// (2 MB of live heap) grew verger-map's resident memory to 86 MB over the demo's
/// one-hour drive; with mimalloc it stays at about 20 MB (docs/PERFORMANCE.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// verger-map: the orchard map: which tree each sprayer section is about to pass.
#[derive(Debug, Parser)]
#[command(name = "verger-map", version, about)]
struct Cli {
    #[command(flatten)]
    common: ComponentArgs,
    #[command(flatten)]
    map: MapArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let flag_db = cli.map.db;
    component::main(
        "map",
        cli.common,
        move |client, shutdown, settings: verger_map::Settings| async move {
            let db = flag_db
                .or_else(|| settings.db.clone())
                .ok_or(RunError::NoDatabase)?;
            verger_map::run(client, shutdown, settings, db).await
        },
    )
}
