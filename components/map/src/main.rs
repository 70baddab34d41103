//! `verger-map`: the orchard map: which tree each sprayer section is about to pass.
//!
//! Today it joins the realm through the shared component runtime (reconnecting client,
//! `--router`/`--realm` flags, clean GOODBYE on SIGINT/SIGTERM) and stays connected;
//! its own behaviour arrives with its issue (see README, "Status").

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
    let cli = Cli::parse();
    component::main("map", cli.common, |_client| std::future::pending())
}
