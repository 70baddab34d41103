//! `verger-dose`: the dose for each tree, and the order to the sprayer. Thin: flags, then [`verger_dose::run`] on the
//! shared component harness (`verger::component`).

use std::process::ExitCode;

use clap::Parser;
use verger::component::{self, ComponentArgs};

/// verger-dose: the dose for each tree, and the order to the sprayer.
#[derive(Debug, Parser)]
#[command(name = "verger-dose", version, about)]
struct Cli {
    #[command(flatten)]
    common: ComponentArgs,
}

fn main() -> ExitCode {
    component::main("dose", Cli::parse().common, verger_dose::run)
}
