//! Fuzz the simulator's track reader (`verger_sim::track`): any bytes are a track or an
//! error naming the file, never a panic; a track's replay keeps its epochs in order.
//! Always-on guard: the property tests in `sim/src/track/tests.rs`.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use verger_sim::track::{Track, TrackOptions};

fuzz_target!(|data: &[u8]| {
    match Track::parse(Path::new("fuzz.trk"), data) {
        Ok(track) => {
            let replay = track.replay(&TrackOptions::default());
            assert!(replay.epochs.windows(2).all(|w| w[0].at <= w[1].at));
            assert!(replay.truth.len() <= replay.epochs.len());
        }
        Err(e) => assert!(e.to_string().starts_with("fuzz.trk: ")),
    }
});
