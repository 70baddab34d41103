//! `verger-sprayer`: drives the valve board on time, fails safe, keeps the legal record.
//! Thin: flags, then [`verger_sprayer::run`] on the shared component harness
//! (`verger::component`).

use std::process::ExitCode;

use clap::Parser;
use verger::component::{self, ComponentArgs};
use verger_sprayer::SprayerArgs;

/// verger-sprayer: drives the valve board on time, fails safe, keeps the legal record.
#[derive(Debug, Parser)]
#[command(name = "verger-sprayer", version, about)]
struct Cli {
    #[command(flatten)]
    common: ComponentArgs,
    #[command(flatten)]
    sprayer: SprayerArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let flags = cli.sprayer;
    component::main(
        "sprayer",
        cli.common,
        move |client, shutdown, settings: verger_sprayer::Settings| {
            verger_sprayer::run(client, shutdown, settings.with_flags(&flags))
        },
    )
}
