//! Writes the demo orchard (GeoJSON, verger's import format) to stdout. The committed
//! `maps/demo-orchard.geojson` is this output, regenerated with
//! `cargo run -p verger-sim --example demo-orchard > maps/demo-orchard.geojson`
//! (a test fails when the two differ).

use std::process::ExitCode;

fn main() -> ExitCode {
    let params = verger_sim::orchard::demo_orchard();
    match verger_sim::orchard::write_geojson(&params, std::io::stdout().lock()) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("demo-orchard: {e}");
            ExitCode::FAILURE
        }
    }
}
