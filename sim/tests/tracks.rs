//! Tracks from real receiver captures (`../shared/data/nmea`): every one loads as an
//! NMEA track and replays as the receiver's own bytes, comment lines left out.

use verger_sim::track::{Track, TrackOptions};

#[test]
fn every_real_capture_loads_as_nmea_with_its_truth() {
    let dir = verger_testkit::shared("data/nmea");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "log" || e == "dat"))
        .collect();
    names.sort();
    assert!(names.len() >= 7, "{names:?}");
    for path in names {
        let track = Track::load(&path).unwrap_or_else(|e| panic!("{e}"));
        assert!(track.format().is_nmea());
        let replay = track.replay(&TrackOptions::default());
        // Every byte but the comment lines is sent, in order.
        let bytes = std::fs::read(&path).unwrap();
        let kept: Vec<u8> = bytes
            .split_inclusive(|&b| b == b'\n')
            .filter(|l| l.first() != Some(&b'#'))
            .flatten()
            .copied()
            .collect();
        let sent: Vec<u8> = replay.epochs.iter().flat_map(|e| e.bytes.clone()).collect();
        assert_eq!(sent, kept, "{}", path.display());
        assert!(replay.epochs.windows(2).all(|w| w[0].at <= w[1].at));
        eprintln!(
            "{}: {} bursts, {} truth points, {:?}, {:.1} m",
            path.display(),
            replay.epochs.len(),
            replay.truth.len(),
            replay.duration(),
            replay.distance_m()
        );
    }
}
