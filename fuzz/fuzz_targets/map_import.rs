//! Fuzz the map import readers: any bytes, read as GeoJSON and as CSV, must be read or
//! refused with an error naming the file, never panic (what `verger map import` does to
//! a file before it touches the database).
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use verger::orchard::import::check;

fuzz_target!(|data: &[u8]| {
    for name in ["fuzz.geojson", "fuzz.csv"] {
        if let Err(e) = check(Path::new(name), data) {
            assert!(e.to_string().contains(name), "{e}");
        }
    }
});
