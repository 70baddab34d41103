//! `verger-gnss`: reads NMEA 0183 from the GNSS receiver and publishes fixes. Thin:
//! flags, then [`verger_gnss::run`] on the shared component runtime (reconnecting
//! client, common flags, clean shutdown on SIGINT/SIGTERM).

use std::process::ExitCode;

use clap::Parser;
use verger::component::{self, ComponentArgs};
use verger_gnss::{GnssArgs, GnssError};

/// verger-gnss: reads NMEA 0183 from the GNSS receiver and publishes fixes.
#[derive(Debug, Parser)]
#[command(name = "verger-gnss", version, about)]
struct Cli {
    #[command(flatten)]
    common: ComponentArgs,
    #[command(flatten)]
    gnss: GnssArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let gnss = cli.gnss;
    component::main(
        "gnss",
        cli.common,
        move |client, shutdown, settings| async move {
            let config = gnss.config(&settings).map_err(GnssError::Config)?;
            verger_gnss::run(client, config, shutdown).await
        },
    )
}
