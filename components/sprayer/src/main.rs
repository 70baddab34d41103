//! `verger-sprayer`: drives the valve board on time, fails safe, keeps the legal record. Thin: flags, then [`verger_sprayer::run`] on the
//! shared component harness (`verger::component`).

use std::process::ExitCode;

use clap::Parser;
use verger::component::{self, ComponentArgs};

/// verger-sprayer: drives the valve board on time, fails safe, keeps the legal record.
#[derive(Debug, Parser)]
#[command(name = "verger-sprayer", version, about)]
struct Cli {
    #[command(flatten)]
    common: ComponentArgs,
}

fn main() -> ExitCode {
    component::main("sprayer", Cli::parse().common, verger_sprayer::run)
}
