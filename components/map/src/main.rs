//! `verger-map`: the orchard map: which tree each sprayer section is about to pass. Thin: flags, then [`verger_map::run`] on the
//! shared component harness (`verger::component`).

use std::process::ExitCode;

use clap::Parser;
use verger::component::{self, ComponentArgs};

/// verger-map: the orchard map: which tree each sprayer section is about to pass.
#[derive(Debug, Parser)]
#[command(name = "verger-map", version, about)]
struct Cli {
    #[command(flatten)]
    common: ComponentArgs,
}

fn main() -> ExitCode {
    component::main("map", Cli::parse().common, verger_map::run)
}
