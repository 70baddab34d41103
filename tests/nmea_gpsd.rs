//! The NMEA decoder against real receiver captures.
//!
//! - gpsd regression logs: decoded epoch by epoch and compared with gpsd's own decoding
//!   (`*.log.chk`). A `.chk` interleaves each input line with the JSON reports gpsd emitted
//!   right after it; TPV reports accumulate over an epoch, so the *last* TPV carrying a
//!   given `time` is gpsd's final view of that epoch. Those are compared with our epoch of
//!   the same instant: fix ⇔ gpsd `mode` ≥ 2, lat/lon to 1e-7°, speed to 1e-3 m/s, track
//!   to 1e-3°. Deliberate divergences are asserted explicitly (see `Divergences`).
//! - hazer captures: the NMEA+UBX mix loses no sentence (checked against an independent
//!   scan of the raw bytes), and the ZED-F9P rover reports RTK float.
//!
//! The data live outside the repository, in `../shared/data/nmea` (found by
//! `verger_testkit::shared`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::Value;
use verger::nmea::framer::{checksum, Framer};
use verger::nmea::{Decoder, DecoderConfig, Epoch, EpochOutcome, NoFixReason, Quality};

fn data_dir() -> PathBuf {
    verger_testkit::shared("data/nmea")
}

fn read(name: &str) -> Vec<u8> {
    let path = data_dir().join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Decodes a capture line by line, one millisecond apart, then lets it go silent.
fn decode_lines(raw: &[u8]) -> (Vec<Epoch>, Decoder) {
    let (epochs, d, _) = decode_lines_timed(raw);
    (epochs, d)
}

/// Same, also counting the epochs returned by the very push that completed them (emitted
/// at the learned cycle ender, with no added latency).
fn decode_lines_timed(raw: &[u8]) -> (Vec<Epoch>, Decoder, usize) {
    let mut d = Decoder::new(DecoderConfig::default());
    let mut epochs = Vec::new();
    let mut immediate = 0;
    let mut at = 0;
    for line in raw.split_inclusive(|&b| b == b'\n') {
        at += 1_000;
        let before = epochs.len();
        d.push_into(line, at, &mut epochs);
        immediate += epochs[before..]
            .iter()
            .filter(|e| e.last_arrival == at)
            .count();
    }
    epochs.extend(d.poll(u64::MAX));
    (epochs, d, immediate)
}

fn time_of(e: &Epoch) -> Option<i64> {
    match &e.outcome {
        EpochOutcome::Fix(f) => Some(f.time.unix_nanos()),
        EpochOutcome::NoFix { time, .. } => time.map(|t| t.unix_nanos()),
    }
}

/// `2020-03-18T13:28:19.600Z` → Unix nanoseconds.
fn parse_gpsd_time(s: &str) -> i64 {
    let n = |a: usize, b: usize| s[a..b].parse::<i64>().unwrap();
    let t = verger::nmea::UtcTime {
        year: n(0, 4) as u16,
        month: n(5, 7) as u8,
        day: n(8, 10) as u8,
        hour: n(11, 13) as u8,
        minute: n(14, 16) as u8,
        second: n(17, 19) as u8,
        nanos: 0,
        decimals: 0,
    };
    let frac = s[19..].trim_end_matches('Z');
    let nanos = if frac.is_empty() {
        0
    } else {
        (frac[1..].parse::<f64>().unwrap() * 10f64.powi(9 - (frac.len() as i32 - 1))).round() as i64
    };
    t.unix_nanos() + nanos
}

/// gpsd's final TPV for each epoch time, from a `.chk`.
fn gpsd_epochs(chk: &[u8]) -> BTreeMap<i64, Value> {
    let mut out = BTreeMap::new();
    for line in String::from_utf8_lossy(chk).lines() {
        if !line.starts_with('{') {
            continue;
        }
        let v: Value = serde_json::from_str(line).expect("gpsd JSON");
        if v["class"] != "TPV" {
            continue;
        }
        if let Some(t) = v["time"].as_str() {
            out.insert(parse_gpsd_time(t), v);
        }
    }
    out
}

/// What we expect to differ from gpsd, per file.
#[derive(Default, Debug)]
struct Divergences {
    /// gpsd adds this to receiver times (its GPS week-rollover guess for old dates).
    time_offset_ns: i64,
}

#[derive(Default, Debug)]
struct Report {
    compared: usize,
    fixes: usize,
    no_fixes: usize,
    speed_compared: usize,
    track_compared: usize,
    /// gpsd reports a speed it derived from successive positions (no RMC/VTG speed in
    /// that epoch); we only publish what the receiver said.
    gpsd_derived_speed: usize,
    /// Our epochs with a time gpsd never reported a TPV for, as RFC 3339 + outcome.
    ours_only: Vec<String>,
    /// Epochs emitted by the push that completed them (the cycle ender's line).
    immediate: usize,
    epochs: usize,
}

fn describe(e: &Epoch) -> String {
    match &e.outcome {
        EpochOutcome::Fix(f) => format!("{} fix {}", f.time.rfc3339(), f.quality),
        EpochOutcome::NoFix { reason, time } => format!(
            "{} {}",
            time.map(|t| t.rfc3339()).unwrap_or_default(),
            reason.as_str()
        ),
    }
}

fn compare(name: &str, div: Divergences) -> Report {
    let (epochs, decoder, immediate) = decode_lines_timed(&read(name));
    let gpsd = gpsd_epochs(&read(&format!("{name}.chk")));
    let mut ours: BTreeMap<i64, &Epoch> = BTreeMap::new();
    for e in &epochs {
        if let Some(t) = time_of(e) {
            ours.insert(t + div.time_offset_ns, e);
        }
    }
    let mut r = Report::default();
    for (t, tpv) in &gpsd {
        let e = ours
            .get(t)
            .unwrap_or_else(|| panic!("{name}: no epoch of ours at gpsd time {}", tpv["time"]));
        r.compared += 1;
        let mode = tpv["mode"].as_i64().unwrap_or(0);
        match &e.outcome {
            EpochOutcome::Fix(f) => {
                assert!(
                    mode >= 2,
                    "{name}: we report a fix gpsd refuses: {f:?} vs {tpv}"
                );
                r.fixes += 1;
                let (lat, lon) = (tpv["lat"].as_f64().unwrap(), tpv["lon"].as_f64().unwrap());
                assert!((f.lat - lat).abs() < 1e-7, "{name}: lat {} vs {lat}", f.lat);
                assert!((f.lon - lon).abs() < 1e-7, "{name}: lon {} vs {lon}", f.lon);
                match (f.speed_mps, tpv["speed"].as_f64()) {
                    (Some(ours), Some(theirs)) => {
                        assert!(
                            (ours - theirs).abs() < 1e-3,
                            "{name}: speed {ours} vs {tpv}"
                        );
                        r.speed_compared += 1;
                    }
                    (None, Some(_)) => r.gpsd_derived_speed += 1,
                    (Some(s), None) => panic!("{name}: speed {s} gpsd lacks: {tpv}"),
                    (None, None) => {}
                }
                match (f.course_deg, tpv["track"].as_f64()) {
                    (Some(ours), Some(theirs)) => {
                        assert!(
                            (ours - theirs).abs() < 1e-3,
                            "{name}: track {ours} vs {tpv}"
                        );
                        r.track_compared += 1;
                    }
                    (None, None) => {}
                    (ours, _) => panic!("{name}: course {ours:?} vs gpsd {tpv}"),
                }
            }
            EpochOutcome::NoFix { reason, .. } => {
                assert!(
                    mode < 2,
                    "{name}: gpsd has a fix we refuse ({reason:?}): {tpv}"
                );
                r.no_fixes += 1;
            }
        }
    }
    r.ours_only = ours
        .iter()
        .filter(|(t, _)| !gpsd.contains_key(t))
        .map(|(_, e)| describe(e))
        .collect();
    r.immediate = immediate;
    r.epochs = epochs.len();
    let c = decoder.counters();
    println!(
        "{name}: {r:?}\n  cycle ender {:?}, {c:?}",
        decoder.cycle_ender()
    );
    assert!(r.compared > 0, "{name}: nothing compared");
    assert_eq!(c.checksum_errors, 0, "{name}");
    assert_eq!(c.parse_errors, 0, "{name}");
    r
}

#[test]
fn nmea_rtk_trimble_dgps_then_rtk_fixed() {
    let r = compare("gpsd__nmea-rtk.log", Divergences::default());
    assert!(r.fixes > 100);
    assert_eq!(r.gpsd_derived_speed, 0);
    assert!(r.ours_only.is_empty());
    // GGA+RMC at 10 Hz: RMC is learned as the ender after 3 epochs; from then on every
    // epoch leaves with its RMC line.
    assert!(r.immediate >= r.epochs - 4, "{r:?}");
    // Quality follows GGA (2 then 4) although RMC says mode D throughout.
    let (epochs, _) = decode_lines(&read("gpsd__nmea-rtk.log"));
    let q: Vec<Quality> = epochs
        .iter()
        .filter_map(|e| match &e.outcome {
            EpochOutcome::Fix(f) => Some(f.quality),
            _ => None,
        })
        .collect();
    assert_eq!(q.iter().filter(|&&q| q == Quality::Dgps).count(), 104);
    assert_eq!(q.iter().filter(|&&q| q == Quality::RtkFixed).count(), 18);
}

#[test]
fn rst39_oxts_with_1024_week_offset_in_gpsd() {
    // The log is from 2014-02-19; gpsd moves dates older than its build by 1024 GPS weeks
    // (2033-10-05). We report what the receiver said.
    let div = Divergences {
        time_offset_ns: 1024 * 7 * 86_400 * 1_000_000_000,
    };
    let r = compare("gpsd__rst39.log", div);
    assert!(r.fixes >= 40);
    // GGA-only 10 Hz epochs: gpsd derives a speed from positions, the receiver gave none.
    assert!(r.gpsd_derived_speed > 0);
    assert!(r.speed_compared >= 4);
    // gpsd skipped the first GGA-only epoch while it was still learning the cycle.
    assert_eq!(r.ours_only, ["2014-02-19T20:41:32.10Z fix dgps"]);
    // GGA ended the first 10 Hz epochs and was learned as the ender; at 20:41:33.00 HDT,
    // ZDA and RMC followed it: that epoch is emitted once more, merged (the only repeat),
    // GGA is never trusted again and RMC becomes the ender.
    assert_eq!(r.epochs, r.compared + r.ours_only.len() + 1);
}

#[test]
fn hemisphere_no_fix_then_fix_with_heading() {
    let r = compare("gpsd__hemi.log", Divergences::default());
    assert!(r.no_fixes > 0 && r.fixes > 0);
    // Quality 1 with 0 satellites (19:40:50–19:40:57): gpsd and we both refuse.
    let (epochs, _) = decode_lines(&read("gpsd__hemi.log"));
    let zero_sats = epochs
        .iter()
        .filter(|e| matches!(e.outcome, EpochOutcome::NoFix { reason: NoFixReason::Invalid, time: Some(t) } if t.hour == 19 && t.minute == 40 && (50..58).contains(&t.second)))
        .count();
    assert!(zero_sats >= 15, "{zero_sats}");
    assert!(epochs
        .iter()
        .any(|e| matches!(&e.outcome, EpochOutcome::Fix(f) if f.heading_deg.is_some())));
}

#[test]
fn nl2008u_ublox8_drive() {
    let r = compare("gpsd__nl2008u.log", Divergences::default());
    assert_eq!(r.fixes, 9);
    assert!(r.ours_only.is_empty());
    // RMC VTG GGA GSA GSA GSV.. GLL ZDA at 1 Hz: ZDA ends the cycle.
    assert!(r.immediate >= r.epochs - 4, "{r:?}");
}

#[test]
fn bt451_antaris_no_fix_stationary_moving() {
    let r = compare("gpsd__bt451.log", Divergences::default());
    assert!(r.fixes > 0 && r.no_fixes == 0);
    // 15:25:04.50 has GLL+ZDA only (gpsd: a timeless mode-2 TPV from GLL, which we do not
    // decode); the two others end a recording segment, where gpsd never saw its cycle
    // ender and reported nothing, while we close them on silence.
    assert_eq!(
        r.ours_only,
        [
            "2009-12-09T14:33:08.50Z fix autonomous",
            "2009-12-09T15:25:04.50Z no_position",
            "2009-12-09T15:25:08.50Z fix autonomous"
        ]
    );
}

#[test]
fn every_gpsd_log_is_covered() {
    let mut names: Vec<String> = std::fs::read_dir(data_dir())
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("gpsd__") && n.ends_with(".log"))
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "gpsd__bt451.log",
            "gpsd__hemi.log",
            "gpsd__nl2008u.log",
            "gpsd__nmea-rtk.log",
            "gpsd__rst39.log"
        ],
        "a new gpsd log needs its own test above"
    );
}

/// Every `$...*hh` with a correct checksum in the raw bytes, found without any framing
/// state: the independent oracle for "no valid sentence is lost".
fn scan_valid_sentences(raw: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for (i, _) in raw.iter().enumerate().filter(|(_, &b)| b == b'$') {
        let rest = &raw[i + 1..];
        let Some(star) = rest
            .iter()
            .take(300)
            .position(|&b| !(0x20..0x7f).contains(&b) || b == b'*' || b == b'$')
        else {
            continue;
        };
        if rest[star] != b'*' || rest.len() < star + 3 {
            continue;
        }
        let hex = std::str::from_utf8(&rest[star + 1..star + 3]).ok();
        if hex.and_then(|h| u8::from_str_radix(h, 16).ok()) == Some(checksum(&rest[..star])) {
            out.push(rest[..star].to_vec());
        }
    }
    out
}

fn frame_all(raw: &[u8], chunk: usize) -> (Vec<Vec<u8>>, verger::nmea::framer::FramerCounters) {
    let mut f = Framer::new(false);
    let mut out = Vec::new();
    for c in raw.chunks(chunk) {
        f.push(c, 0, &mut |fr| out.push(fr.body.to_vec()));
    }
    (out, f.counters())
}

#[test]
fn hazer_nmea_ubx_mix_loses_no_sentence() {
    let raw = read("hazer__gn803g_nmea_ubx_mixed.dat");
    let expected = scan_valid_sentences(&raw);
    assert!(expected.len() > 700, "{}", expected.len());
    for chunk in [1, 7, 64, raw.len()] {
        let (got, c) = frame_all(&raw, chunk);
        assert_eq!(got, expected, "chunk {chunk}");
        assert_eq!(c.checksum_errors, 0);
        println!("mixed, chunks of {chunk}: {} sentences, {c:?}", got.len());
    }
    let (epochs, d) = decode_lines(&raw);
    let fixes = epochs
        .iter()
        .filter(|e| matches!(&e.outcome, EpochOutcome::Fix(f) if f.quality == Quality::Dgps))
        .count();
    println!(
        "mixed: {} epochs, {fixes} dgps fixes, {:?}",
        epochs.len(),
        d.counters()
    );
    assert!(fixes >= 58);
}

#[test]
fn hazer_simplertk2b_rover_is_rtk_float() {
    let raw = read("hazer__simplertk2b_rover.dat");
    let expected = scan_valid_sentences(&raw);
    let (got, _) = frame_all(&raw, 13);
    assert_eq!(got, expected);
    let (epochs, d) = decode_lines(&raw);
    let qualities: Vec<Quality> = epochs
        .iter()
        .filter_map(|e| match &e.outcome {
            EpochOutcome::Fix(f) => Some(f.quality),
            _ => None,
        })
        .collect();
    println!(
        "rover: {} epochs, {} fixes, {:?}",
        epochs.len(),
        qualities.len(),
        d.counters()
    );
    assert_eq!(qualities.len(), 60);
    assert!(qualities.iter().all(|&q| q == Quality::RtkFloat));
}

/// The pacing the documented replay command (`verger-gnss --file LOG`, docs/gnss.md)
/// gives a capture.
fn documented_pacing(path: &std::path::Path) -> verger::source::Pacing {
    use clap::Parser;
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        source: verger::source::SourceArgs,
    }
    let cli = Cli::try_parse_from(["verger-gnss", "--file", path.to_str().unwrap()]).unwrap();
    match cli.source.spec().unwrap() {
        verger::source::SourceSpec::File { pacing, .. } => pacing,
        other => panic!("{other:?}"),
    }
}

/// Replay `path` as `verger-gnss --file` does (the same reader task and pacing) into a
/// decoder driven like the component's shell (woken at its deadlines), on paused time.
async fn replayed_epochs(path: &std::path::Path) -> Vec<Epoch> {
    use tokio::time::{sleep_until, Duration, Instant};
    use verger::source::{spawn_replay, ReaderOptions, SourceEvent};
    let bytes = std::fs::read(path).unwrap();
    let start = Instant::now();
    let micros = |t: Instant| t.saturating_duration_since(start).as_micros() as u64;
    let mut reader = spawn_replay(
        std::io::Cursor::new(bytes),
        documented_pacing(path),
        ReaderOptions::default(),
    );
    let mut d = Decoder::new(DecoderConfig::default());
    let mut out = Vec::new();
    let mut ended = false;
    loop {
        let wake = d
            .next_deadline()
            .map(|dl| start + Duration::from_micros(dl));
        if ended && wake.is_none() {
            return out;
        }
        tokio::select! {
            biased;
            event = reader.events.recv(), if !ended => match event {
                Some(SourceEvent::Data { bytes, at }) => out.extend(d.push(&bytes, micros(at))),
                Some(SourceEvent::Opened) => {}
                Some(SourceEvent::End) | None => ended = true,
                Some(other) => panic!("{}: {other:?}", path.display()),
            },
            _ = sleep_until(wake.unwrap_or(start)), if wake.is_some() => {
                out.extend(d.poll(micros(Instant::now())));
            }
        }
    }
}

/// Every capture replayed with the documented command gives exactly the epochs the
/// decoder finds in the whole file at once: each receiver epoch once, complete (speed
/// and course included), none closed early and published again.
#[tokio::test(start_paused = true)]
async fn replay_gives_one_complete_epoch_per_receiver_epoch_for_every_capture() {
    let mut captures: Vec<PathBuf> = std::fs::read_dir(data_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            name.ends_with(".log") || name.ends_with(".dat")
        })
        .collect();
    captures.sort();
    assert!(captures.len() >= 7, "{captures:?}");
    for path in captures {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let mut whole = Decoder::new(DecoderConfig::default());
        let mut want = whole.push(&std::fs::read(&path).unwrap(), 0);
        want.extend(whole.poll(u64::MAX));
        let got = replayed_epochs(&path).await;
        let outcomes = |e: &[Epoch]| e.iter().map(|e| e.outcome.clone()).collect::<Vec<_>>();
        assert_eq!(
            got.len(),
            want.len(),
            "{name}: {} epochs replayed, {} in the file",
            got.len(),
            want.len()
        );
        assert_eq!(outcomes(&got), outcomes(&want), "{name}");
        let fixes: Vec<i64> = got
            .iter()
            .filter_map(|e| match &e.outcome {
                EpochOutcome::Fix(f) => Some(f.time.unix_nanos()),
                _ => None,
            })
            .collect();
        let distinct: std::collections::BTreeSet<i64> = fixes.iter().copied().collect();
        assert_eq!(distinct.len(), fixes.len(), "{name}: a fix time twice");
    }
}

/// gpsd__nmea-rtk.log: the capture of the report (243 fixes for 122 epochs with
/// `--line-rate 20`): 122 fixes, every one with speed and course.
#[tokio::test(start_paused = true)]
async fn nmea_rtk_replays_as_122_complete_fixes() {
    let epochs = replayed_epochs(&data_dir().join("gpsd__nmea-rtk.log")).await;
    let fixes: Vec<&verger::nmea::Fix> = epochs
        .iter()
        .filter_map(|e| match &e.outcome {
            EpochOutcome::Fix(f) => Some(f),
            _ => None,
        })
        .collect();
    assert_eq!(fixes.len(), 122);
    assert!(fixes
        .iter()
        .all(|f| f.speed_mps.is_some() && f.course_deg.is_some()));
}
