//! Decoder-level tests: the trust rules one by one, epoch assembly, cycle-ender learning,
//! midnight, and property tests (never panics, bounded memory, chunking-independent,
//! sentences recovered from garbage).

use proptest::prelude::*;

use super::framer::{checksum, Framer};
use super::sentence::Kind;
use super::*;

/// `$body*hh\r\n`.
fn s(body: &str) -> String {
    format!("${body}*{:02X}\r\n", checksum(body.as_bytes()))
}

fn gga(time: &str, quality: &str, sats: &str) -> String {
    s(&format!(
        "GPGGA,{time},4134.49795459,N,09345.03431408,W,{quality},{sats},0.9,278.161,M,-31.442,M,6.6,0133"
    ))
}

fn rmc(time: &str, status: &str, date: &str, mode: &str) -> String {
    s(&format!(
        "GPRMC,{time},{status},4134.49795459,N,09345.03431408,W,1.944,124.888,{date},11.5985,E,{mode}"
    ))
}

/// Feeds `text` one sentence per millisecond, then silence; returns every epoch.
fn decode(text: &str) -> Vec<Epoch> {
    let mut d = Decoder::new(DecoderConfig::default());
    let mut out = Vec::new();
    for (i, line) in text.split_inclusive('\n').enumerate() {
        d.push_into(line.as_bytes(), 1_000 * (i as u64 + 1), &mut out);
    }
    out.extend(d.poll(u64::MAX));
    out
}

/// The outcome of the one epoch `text` forms.
fn outcome(text: &str) -> EpochOutcome {
    let e = decode(text);
    assert_eq!(e.len(), 1, "{e:?}");
    e[0].outcome.clone()
}

fn quality(text: &str) -> Result<Quality, NoFixReason> {
    match outcome(text) {
        EpochOutcome::Fix(f) => Ok(f.quality),
        EpochOutcome::NoFix { reason, .. } => Err(reason),
    }
}

const DATE: &str = "180320";

fn with_date(gga_line: String) -> String {
    // ZDA gives the date without any say on the fix.
    gga_line + &s("GPZDA,132819.60,18,03,2020,,")
}

#[test]
fn gga_quality_table() {
    use NoFixReason::*;
    use Quality::*;
    for (q, want) in [
        ("0", Err(Invalid)),
        ("1", Ok(Autonomous)),
        ("2", Ok(Dgps)),
        ("3", Ok(Dgps)),
        ("4", Ok(RtkFixed)),
        ("5", Ok(RtkFloat)),
        ("6", Ok(DeadReckoning)),
        ("7", Err(Manual)),
        ("8", Err(Simulation)),
        ("9", Err(Invalid)),
        ("", Err(Invalid)),
    ] {
        assert_eq!(
            quality(&with_date(gga("132819.60", q, "10"))),
            want,
            "quality {q}"
        );
    }
}

#[test]
fn gga_fix_with_zero_satellites_is_refused_except_dead_reckoning() {
    let q = |qual, sats| quality(&with_date(gga("132819.60", qual, sats)));
    assert_eq!(q("1", "00"), Err(NoFixReason::Invalid));
    assert_eq!(q("4", "0"), Err(NoFixReason::Invalid));
    assert_eq!(q("6", "00"), Ok(Quality::DeadReckoning));
    assert_eq!(q("1", ""), Ok(Quality::Autonomous));
}

#[test]
fn rmc_only_epochs_use_the_mode_indicator() {
    use NoFixReason::*;
    use Quality::*;
    for (mode, want) in [
        ("A", Ok(Autonomous)),
        ("D", Ok(Dgps)),
        ("P", Ok(Dgps)),
        ("R", Ok(RtkFixed)),
        ("F", Ok(RtkFloat)),
        ("E", Ok(DeadReckoning)),
        ("N", Err(Invalid)),
        ("V", Err(Void)),
        ("M", Err(Manual)),
        ("S", Err(Simulation)),
    ] {
        assert_eq!(
            quality(&rmc("132819.60", "A", DATE, mode)),
            want,
            "mode {mode}"
        );
    }
    // NMEA 2.1 RMC without a mode field.
    let old = s("GPRMC,204132.00,A,4205.733476,N,08802.041110,W,9.415,21.404,190214,,");
    assert_eq!(quality(&old), Ok(Autonomous));
    assert_eq!(quality(&rmc("132819.60", "V", DATE, "A")), Err(Void));
    assert_eq!(quality(&rmc("132819.60", "", DATE, "A")), Err(Void));
}

#[test]
fn gga_and_rmc_disagreeing_the_stricter_wins() {
    let both = |q: &str, status: &str, mode: &str| {
        quality(&(gga("132819.60", q, "10") + &rmc("132819.60", status, DATE, mode)))
    };
    assert_eq!(both("0", "A", "A"), Err(NoFixReason::Invalid));
    assert_eq!(both("1", "V", "N"), Err(NoFixReason::Void));
    assert_eq!(both("4", "A", "N"), Err(NoFixReason::Invalid));
    assert_eq!(both("4", "A", "S"), Err(NoFixReason::Simulation));
    // RMC's mode only vetoes; the quality is GGA's (Trimble: GGA 4 with RMC D).
    assert_eq!(both("4", "A", "D"), Ok(Quality::RtkFixed));
    assert_eq!(both("5", "A", "A"), Ok(Quality::RtkFloat));
    // Order does not matter.
    let rev = rmc("132819.60", "A", DATE, "A") + &gga("132819.60", "0", "10");
    assert_eq!(quality(&rev), Err(NoFixReason::Invalid));
}

#[test]
fn gns_modes_any_valid_char_wins_but_m_or_s_refuses() {
    use NoFixReason::*;
    use Quality::*;
    let gns = |modes: &str, sats: &str| {
        quality(&with_date(s(&format!(
            "GNGNS,132819.60,4134.49795459,N,09345.03431408,W,{modes},{sats},0.75,87.3,49.5,1.0,0000,V"
        ))))
    };
    for (modes, want) in [
        ("RRNN", Ok(RtkFixed)),
        ("NRNN", Ok(RtkFixed)),
        ("FA", Ok(RtkFloat)),
        ("AD", Ok(Dgps)),
        ("ANNN", Ok(Autonomous)),
        ("EN", Ok(DeadReckoning)),
        ("NNNN", Err(Invalid)),
        ("", Err(Invalid)),
        ("RS", Err(Simulation)),
        ("AM", Err(Manual)),
    ] {
        assert_eq!(gns(modes, "14"), want, "modes {modes:?}");
    }
    assert_eq!(gns("AA", "0"), Err(Invalid));
}

#[test]
fn no_time_no_date_no_position() {
    // Position without any time.
    let notime = s("GPGGA,,4134.49795459,N,09345.03431408,W,1,10,0.9,278.161,M,-31.442,M,,");
    assert_eq!(
        outcome(&notime),
        EpochOutcome::NoFix {
            reason: NoFixReason::NoTime,
            time: None
        }
    );
    // Time of day but no date ever seen: no UTC time.
    assert_eq!(
        outcome(&gga("132819.60", "1", "10")),
        EpochOutcome::NoFix {
            reason: NoFixReason::NoTime,
            time: None
        }
    );
    // Valid quality, time, but no lat/lon.
    let nopos = with_date(s("GPGGA,132819.60,,,,,1,10,0.9,,M,,M,,"));
    let EpochOutcome::NoFix {
        reason: NoFixReason::NoPosition,
        time: Some(t),
    } = outcome(&nopos)
    else {
        panic!()
    };
    assert_eq!(t.rfc3339(), "2020-03-18T13:28:19.60Z");
    // ZDA and HDT alone.
    let zda = s("GPZDA,132819.60,18,03,2020,,") + &s("GPHDT,274.07,T");
    assert!(matches!(
        outcome(&zda),
        EpochOutcome::NoFix {
            reason: NoFixReason::NoPosition,
            ..
        }
    ));
}

#[test]
fn a_malformed_position_sentence_refuses_its_epoch() {
    let mut d = Decoder::new(DecoderConfig::default());
    let text = s("GPGGA,132819.60,4134.4x,N,09345.03,W,1,10,0.9,1,M,1,M,,")
        + &rmc("132819.60", "A", DATE, "A");
    let mut out = d.push(text.as_bytes(), 1);
    out.extend(d.poll(u64::MAX));
    assert_eq!(out.len(), 1);
    assert!(matches!(
        out[0].outcome,
        EpochOutcome::NoFix {
            reason: NoFixReason::Invalid,
            ..
        }
    ));
    assert_eq!(d.counters().parse_errors, 1);
    assert_eq!(d.counters().sentences, 2);
}

#[test]
fn one_epoch_merges_everything() {
    let text = gga("132819.60", "4", "19")
        + &rmc("132819.60", "A", DATE, "R")
        + &s("GPVTG,130.0,T,,M,9.0,N,16.7,K,D")
        + &s("GPGST,132819.60,0.006,0.023,0.020,273.6,0.011,0.012,0.031")
        + &s("GPHDT,274.07,T");
    let EpochOutcome::Fix(f) = outcome(&text) else {
        panic!()
    };
    assert_eq!(f.time.rfc3339(), "2020-03-18T13:28:19.60Z");
    assert_eq!(f.quality, Quality::RtkFixed);
    assert!((f.lat - 41.574965910).abs() < 1e-9 && (f.lon + 93.750571901).abs() < 1e-9);
    assert_eq!(
        (f.alt_m, f.sats, f.hdop, f.diff_age_s),
        (Some(278.161), Some(19), Some(0.9), Some(6.6))
    );
    // RMC speed/course win over VTG's.
    assert!((f.speed_mps.unwrap() - 1.0).abs() < 1e-3);
    assert_eq!(f.course_deg, Some(124.888));
    assert_eq!(f.heading_deg, Some(274.07));
    assert_eq!(
        (f.lat_err_m, f.lon_err_m, f.alt_err_m),
        (Some(0.011), Some(0.012), Some(0.031))
    );
}

#[test]
fn vtg_gives_speed_without_rmc_unless_not_valid() {
    let base = with_date(gga("132819.60", "1", "10"));
    let EpochOutcome::Fix(f) = outcome(&(base.clone() + &s("GPVTG,97.75,T,112.39,M,,N,36.0,K,A")))
    else {
        panic!()
    };
    assert_eq!((f.speed_mps, f.course_deg), (Some(10.0), Some(97.75)));
    let EpochOutcome::Fix(f) = outcome(&(base + &s("GPVTG,97.75,T,112.39,M,1.0,N,1.9,K,N"))) else {
        panic!()
    };
    assert_eq!((f.speed_mps, f.course_deg), (None, None));
}

#[test]
fn ths_heading_only_when_autonomous_or_estimated() {
    let base = with_date(gga("132819.60", "1", "10"));
    for (mode, want) in [
        ("A", Some(77.5)),
        ("E", Some(77.5)),
        ("V", None),
        ("S", None),
    ] {
        let EpochOutcome::Fix(f) = outcome(&(base.clone() + &s(&format!("GNTHS,77.5,{mode}"))))
        else {
            panic!()
        };
        assert_eq!(f.heading_deg, want, "{mode}");
    }
}

/// GGA+RMC epochs at 10 Hz starting at 12:00:00.0.
fn ten_hz(n: usize, q: impl Fn(usize) -> &'static str) -> Vec<String> {
    (0..n)
        .map(|i| {
            let t = format!("1200{:02}.{}0", i / 10, i % 10);
            gga(&t, q(i), "12") + &rmc(&t, "A", DATE, "D")
        })
        .collect()
}

#[test]
fn cycle_ender_is_learned_and_emits_without_waiting() {
    let mut d = Decoder::new(DecoderConfig::default());
    let mut at = 0;
    let mut how = Vec::new();
    for epoch in ten_hz(8, |_| "4") {
        let (g, r) = epoch.split_at(epoch.find("$GPRMC").unwrap());
        at += 1_000;
        assert!(d.push(g.as_bytes(), at).is_empty());
        at += 1_000;
        if !d.push(r.as_bytes(), at).is_empty() {
            how.push("at RMC");
        } else {
            // Not learned yet: closed after 30 ms of silence.
            assert_eq!(d.next_deadline(), Some(at + 30_000));
            assert!(d.poll(at + 30_000).is_some());
            how.push("gap");
        }
        at += 98_000; // 10 Hz
    }
    assert_eq!(d.cycle_ender(), Some(Kind::Rmc));
    assert_eq!(
        how,
        ["gap", "gap", "gap", "at RMC", "at RMC", "at RMC", "at RMC", "at RMC"]
    );
}

#[test]
fn a_type_once_followed_within_an_epoch_is_never_the_ender() {
    // GGA ends most epochs, but once RMC followed it: only RMC may end epochs.
    let mut text = gga("120000.00", "1", "9") + &rmc("120000.00", "A", DATE, "A");
    for t in [
        "120000.50",
        "120001.00",
        "120001.50",
        "120002.00",
        "120002.50",
    ] {
        text += &gga(t, "1", "9");
    }
    let mut d = Decoder::new(DecoderConfig::default());
    let mut out = Vec::new();
    for (i, line) in text.split_inclusive('\n').enumerate() {
        d.push_into(line.as_bytes(), i as u64 * 1000, &mut out);
    }
    assert_eq!(d.cycle_ender(), None);
    assert_eq!(out.len(), 5, "each closed by the next epoch's GGA");
}

#[test]
fn gap_closes_an_epoch_and_push_closes_an_overdue_one_first() {
    let mut d = Decoder::new(DecoderConfig::default());
    assert_eq!(d.next_deadline(), None);
    assert!(d
        .push(gga("120000.00", "1", "9").as_bytes(), 1_000)
        .is_empty());
    assert_eq!(d.next_deadline(), Some(31_000));
    assert_eq!(d.poll(30_999), None);
    // A sentence in progress keeps the epoch open.
    assert!(d.push(b"$GPRMC,120000.00,A", 20_000).is_empty());
    assert_eq!(d.next_deadline(), Some(50_000));
    let late = d.push(b",,,,,,,,,,A*66\r\n", 200_000);
    assert_eq!(late.len(), 1, "overdue epoch closed before new bytes");
    assert_eq!(late[0].last_arrival, 1_000);
    // The RMC of that epoch came late: the epoch is emitted again, merged.
    let again = d.poll(d.next_deadline().unwrap()).unwrap();
    assert_eq!(
        (again.first_arrival, again.last_arrival, again.sentences),
        (1_000, 200_000, 2)
    );
    assert_eq!(d.next_deadline(), None);
}

#[test]
fn flapping_rtk_fixed_float_is_reported_every_epoch() {
    let q = |i: usize| if i % 2 == 0 { "4" } else { "5" };
    let epochs = decode(&ten_hz(20, q).concat());
    let got: Vec<Quality> = epochs
        .iter()
        .map(|e| match &e.outcome {
            EpochOutcome::Fix(f) => f.quality,
            other => panic!("{other:?}"),
        })
        .collect();
    let want: Vec<Quality> = (0..20)
        .map(|i| {
            if i % 2 == 0 {
                Quality::RtkFixed
            } else {
                Quality::RtkFloat
            }
        })
        .collect();
    assert_eq!(got, want);
}

#[test]
fn midnight_with_a_stale_date_advances_the_day() {
    // RMC once a second (with the date), GGA at 2 Hz; the 00:00:00.0 RMC is missing.
    let text = gga("235959.00", "1", "9")
        + &rmc("235959.00", "A", "311219", "A")
        + &gga("235959.50", "1", "9")
        + &gga("000000.00", "1", "9")
        + &gga("000000.50", "1", "9")
        + &gga("000001.00", "1", "9")
        + &rmc("000001.00", "A", "010120", "A");
    let times: Vec<String> = decode(&text)
        .iter()
        .map(|e| match &e.outcome {
            EpochOutcome::Fix(f) => f.time.rfc3339(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        times,
        [
            "2019-12-31T23:59:59.00Z",
            "2019-12-31T23:59:59.50Z",
            "2020-01-01T00:00:00.00Z",
            "2020-01-01T00:00:00.50Z",
            "2020-01-01T00:00:01.00Z"
        ]
    );
}

#[test]
fn midnight_with_the_new_date_given_uses_it() {
    let text = rmc("235959.90", "A", "280220", "A") + &rmc("000000.00", "A", "290220", "A");
    let times: Vec<String> = decode(&text)
        .iter()
        .map(|e| match &e.outcome {
            EpochOutcome::Fix(f) => f.time.rfc3339(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        times,
        ["2020-02-28T23:59:59.90Z", "2020-02-29T00:00:00.00Z"]
    );
}

#[test]
fn late_sentences_after_a_wrong_ender_are_merged_and_reemitted() {
    // The OxTS pattern: an RMC-only epoch, then 10 Hz GGA; at full seconds also HDT, ZDA
    // and RMC after the GGA.
    let mut text = rmc("115959.90", "A", "190214", "D");
    for i in 1..13 {
        let t = format!("1200{:02}.{}0", i / 10, i % 10);
        text += &gga(&t, "2", "8");
        if i % 10 == 0 {
            text += &s("GPHDT,25.50,T");
            text += &s(&format!("GPZDA,{t},19,02,2014,,"));
            text += &rmc(&t, "A", "190214", "D");
        }
    }
    let epochs = decode(&text);
    let times: Vec<String> = epochs
        .iter()
        .map(|e| match &e.outcome {
            EpochOutcome::Fix(f) => f.time.rfc3339(),
            other => panic!("{other:?}"),
        })
        .collect();
    // 12:00:01.00 comes twice: first at its GGA (learned as the ender from the GGA-only
    // epochs), then complete with the late HDT, ZDA and RMC.
    assert_eq!(times.len(), 14, "{times:?}");
    assert_eq!(times[10], "2014-02-19T12:00:01.00Z");
    assert_eq!(times[11], "2014-02-19T12:00:01.00Z");
    let EpochOutcome::Fix(first) = &epochs[10].outcome else {
        panic!()
    };
    assert_eq!(
        (first.heading_deg, first.speed_mps, epochs[10].sentences),
        (None, None, 1)
    );
    let EpochOutcome::Fix(full) = &epochs[11].outcome else {
        panic!()
    };
    assert_eq!(full.heading_deg, Some(25.5));
    assert!(full.speed_mps.is_some());
    assert_eq!(epochs[11].sentences, 4);
    // GGA is never trusted again; no more repeats.
    assert_eq!(times[12], "2014-02-19T12:00:01.10Z");
}

/// The same OxTS pattern, each receiver epoch in one read (as a replay or a fast link
/// delivers it): the early emission at the GGA is taken back within the read, so
/// 12:00:01.00 goes out once, complete.
#[test]
fn late_sentences_in_the_same_read_replace_the_early_emission() {
    let mut reads = vec![rmc("115959.90", "A", "190214", "D")];
    for i in 1..13 {
        let t = format!("1200{:02}.{}0", i / 10, i % 10);
        let mut read = gga(&t, "2", "8");
        if i % 10 == 0 {
            read += &s("GPHDT,25.50,T");
            read += &s(&format!("GPZDA,{t},19,02,2014,,"));
            read += &rmc(&t, "A", "190214", "D");
        }
        reads.push(read);
    }
    let mut d = Decoder::new(DecoderConfig::default());
    let mut epochs = Vec::new();
    for (i, read) in reads.iter().enumerate() {
        // 100 ms apart; the shell polls at the deadlines in between.
        let at = 100_000 * (i as u64 + 1);
        epochs.extend(d.poll(at - 1));
        epochs.extend(d.push(read.as_bytes(), at));
    }
    epochs.extend(d.poll(u64::MAX));
    let times: Vec<String> = epochs
        .iter()
        .map(|e| match &e.outcome {
            EpochOutcome::Fix(f) => f.time.rfc3339(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(times.len(), 13, "{times:?}");
    assert_eq!(times[10], "2014-02-19T12:00:01.00Z");
    assert_eq!(times[11], "2014-02-19T12:00:01.10Z");
    let EpochOutcome::Fix(full) = &epochs[10].outcome else {
        panic!()
    };
    assert_eq!((full.heading_deg, epochs[10].sentences), (Some(25.5), 4));
    assert!(full.speed_mps.is_some());
    assert_eq!(
        d.counters().epochs,
        13,
        "the taken-back emission is not counted"
    );
}

#[test]
fn untimed_sentences_join_the_open_epoch_until_their_type_repeats() {
    // Hemisphere before a fix: HDT GGA(no time) VTG, ZDA once a second.
    let cycle = s("GPHDT,,T") + &s("GPGGA,,,,,,0,,,,M,,M,,") + &s("GPVTG,,T,,M,,N,,K,N");
    let text = cycle.clone() + &s("GPZDA,193913.00,07,09,2018,00,00") + &cycle + &cycle;
    let e = decode(&text);
    assert_eq!(e.len(), 3);
    assert!(matches!(
        e[0].outcome,
        EpochOutcome::NoFix {
            reason: NoFixReason::Invalid,
            time: Some(_)
        }
    ));
    assert_eq!(e[0].sentences, 4);
    assert!(matches!(
        e[1].outcome,
        EpochOutcome::NoFix {
            reason: NoFixReason::Invalid,
            time: None
        }
    ));
}

#[test]
fn reset_forgets_partial_input_and_learning() {
    let mut d = Decoder::new(DecoderConfig::default());
    for e in ten_hz(6, |_| "1") {
        d.push(e.as_bytes(), 1);
    }
    assert_eq!(d.cycle_ender(), Some(Kind::Rmc));
    d.push(b"$GPGGA,1200", 2);
    d.reset();
    assert_eq!(d.cycle_ender(), None);
    assert_eq!(d.next_deadline(), None);
    // After a reset there is no date until one is received again.
    let out = d.push(gga("120010.00", "1", "9").as_bytes(), 3);
    assert!(out.is_empty());
    assert!(matches!(
        d.poll(u64::MAX).unwrap().outcome,
        EpochOutcome::NoFix {
            reason: NoFixReason::NoTime,
            ..
        }
    ));
}

#[test]
fn arrival_times_are_first_and_last_bytes() {
    let mut d = Decoder::new(DecoderConfig::default());
    let text = gga("120000.00", "1", "9") + &rmc("120000.00", "A", DATE, "A");
    d.push(&text.as_bytes()[..10], 100);
    d.push(&text.as_bytes()[10..], 200);
    let e = d.poll(u64::MAX).unwrap();
    assert_eq!(
        (e.first_arrival, e.last_arrival, e.sentences),
        (100, 200, 2)
    );
}

#[test]
fn unix_time() {
    let t = UtcTime {
        year: 2020,
        month: 3,
        day: 18,
        hour: 13,
        minute: 28,
        second: 19,
        nanos: 600_000_000,
        decimals: 2,
    };
    assert_eq!(t.unix_nanos(), 1_584_538_099_600_000_000);
    let t = UtcTime {
        year: 1970,
        month: 1,
        day: 1,
        hour: 0,
        minute: 0,
        second: 0,
        nanos: 0,
        decimals: 0,
    };
    assert_eq!(t.unix_nanos(), 0);
}

// ---- property tests ----

/// Real sentences of several receivers, with their line ends.
fn real_lines() -> Vec<String> {
    let mut v = ten_hz(12, |i| if i % 3 == 0 { "4" } else { "5" });
    v.push(s("GPHDT,274.07,T"));
    v.push(s(
        "GNGNS,120001.20,3844.24011,N,00908.43828,W,RRNN,14,0.75,87.3,49.5,1.0,0000,V",
    ));
    v.push(s("PUBX,00,135627.00,3947.65338,N,10509.20216,W,1687.066,D3,1.6,2.1,0.026,235.21,-0.001,,0.67,1.15,0.74,19,0,0"));
    v.push(s(
        "GPGSV,4,1,15,01,37,079,32,06,02,184,27,07,28,143,47,08,00,048,24",
    ));
    v.push("$GPZDA,120001.30,19,02,2014,,\n".to_string());
    v
}

fn ubx_frame(payload: &[u8]) -> Vec<u8> {
    let mut v = vec![
        0xB5,
        0x62,
        0x01,
        0x07,
        payload.len() as u8,
        (payload.len() >> 8) as u8,
    ];
    v.extend_from_slice(payload);
    let (mut a, mut b) = (0u8, 0u8);
    for &x in &v[2..] {
        a = a.wrapping_add(x);
        b = b.wrapping_add(a);
    }
    v.extend([a, b]);
    v
}

/// Garbage: random bytes, valid UBX frames, false UBX headers, `$` fragments.
fn garbage() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..40),
            prop::collection::vec(any::<u8>(), 0..40).prop_map(|p| ubx_frame(&p)),
            (any::<u16>(), prop::collection::vec(any::<u8>(), 0..10)).prop_map(|(len, tail)| {
                let mut v = vec![0xB5, 0x62, 1, 2, len as u8, (len >> 8) as u8];
                v.extend(tail);
                v
            }),
            "[$!#A-Z0-9,.*\r\n]{0,30}".prop_map(String::into_bytes),
        ],
        0..4,
    )
    .prop_map(|parts| parts.concat())
}

/// Cut points as fractions of the input length.
fn cuts() -> impl Strategy<Value = Vec<f64>> {
    prop::collection::vec(0.0..1.0f64, 0..20)
}

fn chunked<'a>(input: &'a [u8], cuts: &[f64]) -> Vec<&'a [u8]> {
    let mut at: Vec<usize> = cuts
        .iter()
        .map(|c| (c * input.len() as f64) as usize)
        .collect();
    at.push(0);
    at.push(input.len());
    at.sort_unstable();
    at.windows(2).map(|w| &input[w[0]..w[1]]).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic_and_memory_stays_bounded(
        bytes in prop::collection::vec(any::<u8>(), 0..4096),
        cuts in cuts(),
        strict in any::<bool>(),
    ) {
        let mut d = Decoder::new(DecoderConfig { allow_missing_checksum: !strict, ..DecoderConfig::default() });
        let cap = d.buffer_capacity();
        let mut at = 0;
        for chunk in chunked(&bytes, &cuts) {
            at += 7_000;
            let _ = d.push(chunk, at);
            prop_assert_eq!(d.buffer_capacity(), cap);
            if let Some(dl) = d.next_deadline() {
                let _ = d.poll(dl);
            }
        }
        let c = d.counters();
        prop_assert!(c.discarded_bytes <= bytes.len() as u64);
    }

    #[test]
    fn chunking_within_a_read_never_changes_the_epochs(
        lines in prop::collection::vec(prop::sample::select(real_lines()), 1..30),
        junk in prop::collection::vec(garbage(), 30),
        cuts in cuts(),
        gaps in prop::collection::vec(0u64..50_000, 30),
    ) {
        // Reads ("bursts") arrive at given times; each may be handed over in any pieces.
        let bursts: Vec<Vec<u8>> = lines.iter().zip(&junk).map(|(l, j)| [j.clone(), l.clone().into_bytes()].concat()).collect();
        let run = |split: bool| {
            let mut d = Decoder::new(DecoderConfig::default());
            let mut out = Vec::new();
            let mut at = 0;
            for (b, gap) in bursts.iter().zip(&gaps) {
                at += gap;
                if split {
                    for c in chunked(b, &cuts) { d.push_into(c, at, &mut out); }
                } else {
                    d.push_into(b, at, &mut out);
                }
            }
            out.extend(d.poll(u64::MAX));
            (out, d.counters())
        };
        prop_assert_eq!(run(false), run(true));
    }

    #[test]
    fn valid_sentences_embedded_in_garbage_are_all_recovered(
        lines in prop::collection::vec(prop::sample::select(real_lines()), 1..30),
        junk in prop::collection::vec(garbage(), 31),
        cuts in cuts(),
    ) {
        let mut input = Vec::new();
        for (l, j) in lines.iter().zip(&junk) {
            input.extend_from_slice(j);
            // Only the checksummed part: what follows `*hh` may be eaten by the garbage.
            input.extend_from_slice(l.trim_end().as_bytes());
        }
        input.extend_from_slice(&junk[30]);
        let mut f = Framer::new(false);
        let mut got = Vec::new();
        for c in chunked(&input, &cuts) {
            f.push(c, 0, &mut |fr| got.push(String::from_utf8_lossy(fr.body).into_owned()));
        }
        // Every embedded sentence comes out, in order (garbage may add its own).
        let mut it = got.iter();
        for l in &lines {
            if !l.contains('*') { continue; }
            let body = &l[1..l.find('*').unwrap()];
            prop_assert!(it.any(|g| g == body), "lost {:?} from {:?}", body, got);
        }
    }
}
