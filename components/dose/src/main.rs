//! `verger-dose`: computes the dose for each tree and orders the sprayer to apply it.
//!
//! Today it joins the realm through the shared component runtime (reconnecting client,
//! `--router`/`--realm` flags, clean GOODBYE on SIGINT/SIGTERM) and stays connected;
//! its own behaviour arrives with its issue (see README, "Status").

use std::process::ExitCode;

use clap::Parser;
use verger::component::{self, ComponentArgs};

/// verger-dose: computes the dose for each tree and orders the sprayer to apply it.
#[derive(Debug, Parser)]
#[command(name = "verger-dose", version, about)]
struct Cli {
    #[command(flatten)]
    common: ComponentArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    component::main("dose", cli.common, |_client| std::future::pending())
}
