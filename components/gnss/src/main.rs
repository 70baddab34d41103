//! `verger-gnss`: reads NMEA 0183 from the GNSS receiver and publishes fixes.
//!
//! Today it joins the realm through the shared component runtime (reconnecting client,
//! `--router`/`--realm` flags, clean GOODBYE on SIGINT/SIGTERM) and stays connected;
//! its own behaviour arrives with its issue (see README, "Status").

use std::process::ExitCode;

use clap::Parser;
use verger::component::{self, ComponentArgs};

/// verger-gnss: reads NMEA 0183 from the GNSS receiver and publishes fixes.
#[derive(Debug, Parser)]
#[command(name = "verger-gnss", version, about)]
struct Cli {
    #[command(flatten)]
    common: ComponentArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    component::main("gnss", cli.common, |_client| std::future::pending())
}
