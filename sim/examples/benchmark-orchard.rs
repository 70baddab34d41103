//! Writes the trees of the 1,000 ha benchmark orchard (about 2 million, CSV in verger's
//! import format) to stdout, in constant memory, and its summary to stderr:
//! `cargo run --release -p verger-sim --example benchmark-orchard > benchmark-trees.csv`
//! (about 115 MB, 1.93 million trees).

use std::process::ExitCode;

fn main() -> ExitCode {
    let params = verger_sim::orchard::benchmark_1000ha();
    let result = params.summary().map_err(Into::into).and_then(|summary| {
        eprintln!("{summary:?}");
        verger_sim::orchard::write_trees_csv(&params, std::io::stdout().lock())
    });
    match result {
        Ok(trees) => {
            eprintln!("{trees} trees written");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("benchmark-orchard: {e}");
            ExitCode::FAILURE
        }
    }
}
