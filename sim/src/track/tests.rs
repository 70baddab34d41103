use std::path::Path;

use proptest::prelude::*;
use verger::nmea::Quality;

use super::*;

fn parse(text: &str) -> Result<Track, TrackError> {
    Track::parse(Path::new("t.trk"), text.as_bytes())
}

fn err(text: &str) -> String {
    parse(text).expect_err(text).to_string()
}

fn line(body: &str) -> String {
    let cs = body.bytes().fold(0u8, |a, b| a ^ b);
    format!("${body}*{cs:02X}\r\n")
}

/// Two-sentence epochs (GGA with `q`, RMC) of a receiver at 10 Hz.
fn nmea(epochs: &[(&str, u8)]) -> String {
    epochs
        .iter()
        .map(|(t, q)| {
            line(&format!(
                "GPGGA,{t},4404.20000000,N,00105.40000000,E,{q},12,0.8,100.0,M,,M,,"
            )) + &line(&format!(
                "GPRMC,{t},A,4404.20000000,N,00105.40000000,E,3.780,12.000,150425,,,R"
            ))
        })
        .collect()
}

#[test]
fn nmea_logs_replay_as_the_receivers_bytes_keeping_invalid_epochs() {
    let text = nmea(&[
        ("080000.00", 4),
        ("080000.10", 0),
        ("080000.20", 8),
        ("080000.30", 5),
    ]);
    let track = parse(&text).unwrap();
    assert_eq!(track.format(), TrackFormat::Nmea);
    let replay = track.replay(&TrackOptions::default());
    let sent: Vec<u8> = replay.epochs.iter().flat_map(|e| e.bytes.clone()).collect();
    assert_eq!(sent, text.as_bytes(), "the receiver's own bytes");
    let at: Vec<u64> = replay
        .epochs
        .iter()
        .map(|e| e.at.as_millis() as u64)
        .collect();
    assert_eq!(at, [0, 100, 200, 300]);
    let q: Vec<Option<EpochQuality>> = replay.epochs.iter().map(|e| e.quality).collect();
    assert_eq!(
        q,
        [
            Some(EpochQuality::RTK_FIXED),
            Some(EpochQuality::Invalid),
            Some(EpochQuality::Simulated),
            Some(EpochQuality::Fix(Quality::RtkFloat)),
        ]
    );
    // The truth: the valid epochs only, with the RMC's course.
    assert_eq!(replay.truth.len(), 2);
    assert_eq!(replay.truth[0].time_us, 1_744_704_000_000_000);
    assert!((replay.truth[0].lat - (44.0 + 4.2 / 60.0)).abs() < 1e-12);
    assert_eq!(replay.truth[1].course_deg, 12.0);
}

#[test]
fn gpsd_logs_leave_their_comments_out() {
    let body = nmea(&[("080000.00", 4), ("080000.10", 4)]);
    let text = format!("# Name: test\n# Chipset: none\n{body}");
    let track = parse(&text).unwrap();
    assert_eq!(track.format(), TrackFormat::Gpsd);
    let sent: Vec<u8> = track
        .replay(&TrackOptions::default())
        .epochs
        .iter()
        .flat_map(|e| e.bytes.clone())
        .collect();
    assert_eq!(sent, body.as_bytes());
}

#[test]
fn record_files_keep_their_arrival_times() {
    use verger::record::format::{write_record, FileHeader};
    let header = FileHeader {
        source: "serial:/dev/ttyUSB0@115200".into(),
        started_unix: Duration::from_secs(1_744_704_000),
    };
    let mut file = header.line().into_bytes();
    let epochs = nmea(&[("080000.00", 4), ("080000.10", 4), ("080000.20", 4)]);
    let mut lines = epochs.split_inclusive('\n');
    // Arrival times that are not the receiver's (a slow link): they are what counts.
    for t in [120, 250, 430] {
        let data = format!("{}{}", lines.next().unwrap(), lines.next().unwrap());
        write_record(Duration::from_millis(t), data.as_bytes(), &mut file);
    }
    let track = Track::parse(Path::new("r.log"), &file).unwrap();
    assert_eq!(track.format(), TrackFormat::Record);
    let replay = track.replay(&TrackOptions::default());
    let at: Vec<u128> = replay.epochs.iter().map(|e| e.at.as_millis()).collect();
    assert_eq!(at, [0, 130, 310]);
    assert_eq!(replay.truth.len(), 3);

    let mut back = header.line().into_bytes();
    write_record(Duration::from_millis(200), epochs.as_bytes(), &mut back);
    write_record(Duration::from_millis(100), b"x\n", &mut back);
    let e = Track::parse(Path::new("r.log"), &back)
        .unwrap_err()
        .to_string();
    assert!(e.contains("r.log: `verger record` file: record 2: time t=0.100000 is not after the previous t=0.200000"), "{e}");
}

const GPX: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<gpx version="1.1" creator="test" xmlns="http://www.topografix.com/GPX/1/1">
  <trk><name>t</name><trkseg>
    <trkpt lat="44.070000" lon="1.090000"><ele>101.5</ele><time>2025-04-15T08:00:00Z</time></trkpt>
    <trkpt lat="44.070010" lon="1.090000"><time>2025-04-15T08:00:01Z</time></trkpt>
    <trkpt lat="44.070020" lon="1.090010"><ele>102</ele><time>2025-04-15T10:00:02+02:00</time></trkpt>
  </trkseg></trk>
</gpx>
"#;

#[test]
fn gpx_points_become_rtk_fixed_epochs_unless_told_otherwise() {
    let track = parse(GPX).unwrap();
    assert_eq!(track.format(), TrackFormat::Gpx);
    assert_eq!(track.points().len(), 3);
    assert_eq!(track.points()[0].alt_m, Some(101.5));
    assert_eq!(track.points()[2].time_us, 1_744_704_002_000_000);
    let replay = track.replay(&TrackOptions::default());
    assert_eq!(replay.epochs.len(), 3);
    let text = String::from_utf8(replay.epochs[0].bytes.clone()).unwrap();
    assert!(
        text.starts_with("$GPGGA,080000.00,4404.20000000,N,00105.40000000,E,4,14,"),
        "{text}"
    );
    // North at 1.11 m/s.
    assert!(
        replay.truth[0].course_deg.abs() < 1e-6,
        "{:?}",
        replay.truth[0]
    );
    assert!(
        (replay.truth[0].speed_mps - 1.112).abs() < 0.01,
        "{:?}",
        replay.truth[0]
    );
    assert!(
        (replay.distance_m() - 1.112 - 1.386).abs() < 0.02,
        "{}",
        replay.distance_m()
    );
    let float = TrackOptions {
        quality: EpochQuality::Fix(Quality::RtkFloat),
        ..TrackOptions::default()
    };
    let replay = track.replay(&float);
    assert!(replay.truth.iter().all(|t| t.quality == float.quality));
    let text = String::from_utf8(replay.epochs[1].bytes.clone()).unwrap();
    assert!(text.contains(",E,5,14,"), "{text}");
}

#[test]
fn gpx_errors_name_the_point_and_its_line() {
    let e = err(&GPX.replace("lat=\"44.070010\"", "lat=\"94.5\""));
    assert!(
        e.contains("t.trk: GPX: point 2 (line 5): `lat` 94.5 is out of range (-90 to 90)"),
        "{e}"
    );
    let e = err(&GPX.replace("<time>2025-04-15T08:00:01Z</time>", ""));
    assert!(e.contains("point 2 (line 5): no `time`"), "{e}");
    let e = err(&GPX.replace("08:00:01Z", "07:59:59Z"));
    assert!(e.contains("point 2 (line 5): time 2025-04-15T07:59:59.000Z is not after the previous 2025-04-15T08:00:00.000Z"), "{e}");
    let e = err(&GPX.replace("lon=\"1.090010\"", "lon=\"east\""));
    assert!(
        e.contains("point 3 (line 6): `lon` is not a number: `east`"),
        "{e}"
    );
    let e = err("<gpx></gpx>");
    assert!(e.contains("GPX with no track point"), "{e}");
    let e = err("<kml><Document/></kml>");
    assert!(
        e.contains("not a track") && e.contains("root element is <kml>"),
        "{e}"
    );
    let e = err("<gpx><trk>");
    assert!(e.contains("GPX: line 1: not well-formed XML"), "{e}");
}

#[test]
fn csv_needs_its_header_and_names_the_line_at_fault() {
    let csv = "time,lat,lon,alt\n2025-04-15T08:00:00Z,44.07,1.09,100\n\n2025-04-15T08:00:00.5Z,44.07001,1.09,\n";
    let track = parse(csv).unwrap();
    assert_eq!(track.format(), TrackFormat::Csv);
    assert_eq!(track.points()[1].alt_m, None);
    assert_eq!(track.points()[1].time_us, 1_744_704_000_500_000);
    // Any order, any case, other columns ignored.
    let track = parse("LON,Lat,speed,Time\r\n1.09,44.07,3,2025-04-15T08:00:00Z\r\n").unwrap();
    assert_eq!(track.points()[0].lon, 1.09);
    let e = err("2025-04-15T08:00:00Z,44.07,1.09\n");
    assert!(
        e.contains("t.trk: CSV: line 1: a CSV row without the header line"),
        "{e}"
    );
    let e = err("time,lat,lon\n2025-04-15T08:00:00Z,44.07,1.09\n2025-04-15T08:00:01Z,44.07,200\n");
    assert!(
        e.contains("CSV: line 3: `lon` 200 is out of range (-180 to 180)"),
        "{e}"
    );
    let e = err("time,lat,lon\n2025-04-15T08:00:00Z,44.07,1.09\n2025-04-15T08:00:00Z,44.07,1.1\n");
    assert!(
        e.contains("CSV: line 3: time 2025-04-15T08:00:00.000Z is not after"),
        "{e}"
    );
    let e = err("time,lat,lon\n15/04/2025 08:00,44.07,1.09\n");
    assert!(e.contains("line 2: `time` is not an RFC 3339 time"), "{e}");
    let e = err("time,lat,lon\n2025-04-15T08:00:00Z,,1.09\n");
    assert!(e.contains("line 2: no `lat`"), "{e}");
    let e = err("time,lat,lon\n");
    assert!(e.contains("CSV with no row after the header"), "{e}");
}

#[test]
fn anything_else_is_refused_naming_what_was_found() {
    for (text, found) in [
        ("", "found an empty file"),
        ("  \n\n", "found an empty file"),
        ("hello world\nsecond", "found line 1: `hello world`"),
        ("\n\nid,row,lat,lon\n", "found line 3: `id,row,lat,lon`"),
        (
            "\u{1}\u{2}\u{3}binary",
            "found binary data (first bytes 01 02 03",
        ),
        (
            "{\"type\": \"FeatureCollection\"}",
            "found line 1: `{\"type\": \"FeatureCollection\"}`",
        ),
    ] {
        let e = err(text);
        assert!(
            e.starts_with("t.trk: not a track: expected an NMEA 0183 log"),
            "{e}"
        );
        assert!(e.contains(found), "{text:?}: {e}");
    }
    // NMEA sentences but no receiver epoch.
    let e = err(&line("GPGSV,1,1,00"));
    assert!(e.contains("t.trk: NMEA log with no receiver epoch"), "{e}");
}

#[test]
fn nmea_times_going_backwards_are_replayed_as_they_are_without_a_pause() {
    let text = nmea(&[
        ("080000.00", 4),
        ("080000.10", 4),
        ("075000.00", 4),
        ("075000.10", 4),
    ]);
    let replay = parse(&text).unwrap().replay(&TrackOptions::default());
    let at: Vec<u128> = replay.epochs.iter().map(|e| e.at.as_millis()).collect();
    assert_eq!(at, [0, 100, 100, 200]);
    let times: Vec<i64> = replay.truth.iter().map(|t| t.time_us).collect();
    let t0 = 1_744_704_000_000_000;
    let back = t0 - 600_000_000;
    assert_eq!(times, [t0, t0 + 100_000, back, back + 100_000]);
}

proptest! {
    /// Whatever the bytes: a track or an error, never a panic; errors name the file.
    #[test]
    fn any_bytes_parse_without_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        if let Err(e) = Track::parse(Path::new("any.trk"), &bytes) {
            prop_assert!(e.to_string().starts_with("any.trk: "));
        }
    }

    /// Text shaped like each format, mangled: never a panic.
    #[test]
    fn mangled_tracks_parse_without_panic(
        base in prop::sample::select(vec![0usize, 1, 2, 3]),
        cut in 0usize..2000,
        insert in "[ -~\n<>\"$*,#]{0,12}",
    ) {
        let csv = "time,lat,lon,alt\n2025-04-15T08:00:00Z,44.07,1.09,100\n2025-04-15T08:00:01Z,44.0701,1.09,100\n";
        let text = [GPX.to_owned(), csv.to_owned(), nmea(&[("080000.00", 4), ("080000.10", 0)]), format!("# t=0.1 n=20\n{}", nmea(&[("080000.00", 4)]))][base].clone();
        let mut at = cut.min(text.len());
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        let mangled = format!("{}{}{}", &text[..at], insert, &text[at..]);
        if let Ok(track) = Track::parse(Path::new("m.trk"), mangled.as_bytes()) {
            let replay = track.replay(&TrackOptions::default());
            prop_assert!(replay.epochs.windows(2).all(|w| w[0].at <= w[1].at));
        }
    }
}
