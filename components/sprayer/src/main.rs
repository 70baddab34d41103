//! `verger-sprayer`: drives the valve board, fails safe and keeps the as-applied record.
//!
//! Today it joins the realm through the shared component runtime (reconnecting client,
//! `--router`/`--realm` flags, clean GOODBYE on SIGINT/SIGTERM) and stays connected;
//! its own behaviour arrives with its issue (see README, "Status").

use std::process::ExitCode;

use clap::Parser;
use verger::component::{self, ComponentArgs};

/// verger-sprayer: drives the valve board, fails safe and keeps the as-applied record.
#[derive(Debug, Parser)]
#[command(name = "verger-sprayer", version, about)]
struct Cli {
    #[command(flatten)]
    common: ComponentArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    component::main("sprayer", cli.common, |_client| std::future::pending())
}
