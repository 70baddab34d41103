//! `verger-dose`: the dose for each tree, and the order to the sprayer. Thin: flags, the
//! settings file, then [`verger_dose::run`] on the shared component harness
//! (`verger::component`).

use std::process::ExitCode;

use clap::Parser;
use verger::component::{self, ComponentArgs, NoSettings};
use verger_dose::{DoseArgs, RunError, Settings};

/// verger-dose: the dose for each tree, and the order to the sprayer.
#[derive(Debug, Parser)]
#[command(name = "verger-dose", version, about)]
struct Cli {
    #[command(flatten)]
    common: ComponentArgs,
    #[command(flatten)]
    dose: DoseArgs,
}

fn main() -> ExitCode {
    let mut cli = Cli::parse();
    // The dose settings are the contract's payload, which reads leniently (consumers
    // ignore fields added later): the file is read here with the exact loader, which
    // refuses unknown keys by name, rather than by the harness.
    let settings = match cli.common.config.take() {
        Some(path) => match Settings::load(&path) {
            Ok(s) => s,
            Err(e) => return component::fail(e.report()),
        },
        None => Settings::default(),
    };
    let flag = cli.dose.state;
    component::main(
        "dose",
        cli.common,
        move |client, shutdown, _: NoSettings| async move {
            let state = settings.state_path(flag).ok_or(RunError::NoStateFile)?;
            verger_dose::run(client, shutdown, settings, state).await
        },
    )
}
