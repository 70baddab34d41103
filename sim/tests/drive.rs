//! The synthetic drive on the demo orchard (`maps/demo-orchard.geojson`, imported into a
//! map as `verger map import` does, by `verger_sim::orchard::import_demo`): every alley, the two outer ones included, driven
//! end to end; the path inside the boundary (+1 m) except in the headlands; the same
//! bytes for the same options; noise, flapping and outages as asked.

use geo::{Contains, Coord, Distance, Euclidean, Point};
use verger::nmea::{Decoder, DecoderConfig, EpochOutcome, Quality};
use verger::orchard::{Frame, MapDb};
use verger_sim::drive::{Drive, DriveOptions, Flapping, Outage};
use verger_sim::nmea_out::EpochQuality;
use verger_testkit::TempDir;

fn demo_map(dir: &TempDir) -> MapDb {
    verger_sim::orchard::import_demo(&dir.path("demo.db")).expect("the demo orchard imports")
}

#[test]
fn every_alley_of_the_demo_orchard_is_driven_end_to_end_inside_the_boundary() {
    let dir = TempDir::new("drive-demo");
    let map = demo_map(&dir);
    let rows = map.rows().unwrap();
    let boundary = map.boundary().unwrap().expect("a boundary").area;
    assert_eq!(rows.len(), 42);
    let drive = Drive::from_map(&map, DriveOptions::default()).unwrap();
    let replay = drive.replay(10.0);

    // Measured here, independently of the drive: the rows' direction (12°) and their
    // positions across, in a frame at the first row's start.
    let first = rows[0].line.0[0];
    let frame = Frame::new(first.y, first.x);
    let bearing = 12f64.to_radians();
    let u = Coord {
        x: bearing.sin(),
        y: bearing.cos(),
    };
    let v = Coord { x: u.y, y: -u.x };
    let dot = |a: Coord<f64>, b: Coord<f64>| a.x * b.x + a.y * b.y;
    let mut lines: Vec<(f64, f64, f64)> = rows
        .iter()
        .map(|r| {
            let l = frame.line(&r.line);
            let (a, b) = (l.0[0], *l.0.last().unwrap());
            assert!((dot(b - a, v)).abs() < 0.01, "rows run at 12°");
            (
                dot(a, v),
                dot(a, u).min(dot(b, u)),
                dot(a, u).max(dot(b, u)),
            )
        })
        .collect();
    lines.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Alleys: between neighbours, and half a spacing outside each outer row.
    let mut alleys = Vec::new();
    let n = lines.len();
    alleys.push((
        lines[0].0 - (lines[1].0 - lines[0].0) / 2.0,
        lines[0].1,
        lines[0].2,
    ));
    for w in lines.windows(2) {
        alleys.push((
            (w[0].0 + w[1].0) / 2.0,
            w[0].1.min(w[1].1),
            w[0].2.max(w[1].2),
        ));
    }
    alleys.push((
        lines[n - 1].0 + (lines[n - 1].0 - lines[n - 2].0) / 2.0,
        lines[n - 1].1,
        lines[n - 1].2,
    ));
    assert_eq!(alleys.len(), 43);
    assert_eq!(drive.alleys().len(), 43);

    let local: Vec<Coord<f64>> = replay
        .truth
        .iter()
        .map(|t| frame.to_local(t.lat, t.lon))
        .collect();
    // Every alley: the points on its centre line (within 5 cm) cover its whole length
    // with no gap longer than two epochs.
    for (k, &(c, lo, hi)) in alleys.iter().enumerate() {
        let mut along: Vec<f64> = local
            .iter()
            .filter(|p| (dot(**p, v) - c).abs() < 0.05)
            .map(|p| dot(*p, u))
            .collect();
        along.sort_by(f64::total_cmp);
        assert!(!along.is_empty(), "alley {k} never driven");
        assert!(
            along[0] <= lo && *along.last().unwrap() >= hi,
            "alley {k}: {} to {} of {lo} to {hi}",
            along[0],
            along.last().unwrap()
        );
        // (A bulb turn may cross the line beyond the rows' ends: not part of the alley.)
        along.retain(|a| (lo - 1.0..=hi + 1.0).contains(a));
        let gap = along.windows(2).map(|w| w[1] - w[0]).fold(0.0, f64::max);
        assert!(gap < 0.4, "alley {k}: a gap of {gap} m");
    }

    // Inside the boundary (+1 m) wherever the path is beside the rows; the headlands
    // (beyond the rows' ends) may be left by a turn.
    let area = frame.multi_polygon(&boundary);
    let (a_min, a_max) = lines
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), l| {
            (lo.min(l.1), hi.max(l.2))
        });
    let mut worst_headland: f64 = 0.0;
    for p in &local {
        let outside = if area.contains(&Point(*p)) {
            0.0
        } else {
            Euclidean.distance(&Point(*p), &area)
        };
        let a = dot(*p, u);
        if a >= a_min && a <= a_max {
            assert!(outside <= 1.0, "{p:?} is {outside} m outside the boundary");
        } else {
            worst_headland = worst_headland.max(outside);
        }
    }
    // Course along the path; speed 7 km/h; 10 Hz.
    assert!(replay
        .truth
        .windows(2)
        .all(|w| w[1].time_us - w[0].time_us == 100_000));
    let t = &replay.truth[5];
    assert!((t.course_deg - 12.0).abs() < 1e-3, "{t:?}");
    eprintln!(
        "demo orchard drive: {} alleys, {:.0} m, {:.0} s ({:.1} min) at 7 km/h, {} epochs at 10 Hz, headland turns at most {worst_headland:.2} m outside the boundary",
        drive.alleys().len(),
        drive.length_m(),
        drive.duration().as_secs_f64(),
        drive.duration().as_secs_f64() / 60.0,
        replay.epochs.len(),
    );
}

fn options() -> DriveOptions {
    DriveOptions {
        noise_m: 0.02,
        float_noise_m: 0.2,
        flapping: Some(Flapping {
            per_minute: 2.0,
            float_s: 5.0,
        }),
        outages: vec![Outage {
            at_s: 30.0,
            duration_s: 4.0,
        }],
        seed: 42,
        heading: true,
        ..DriveOptions::default()
    }
}

#[test]
fn the_drive_is_deterministic_and_has_the_noise_flapping_and_outages_asked_for() {
    let dir = TempDir::new("drive-determinism");
    let map = demo_map(&dir);
    let one = Drive::from_map(&map, options()).unwrap().replay(10.0);
    let two = Drive::from_map(&map, options()).unwrap().replay(10.0);
    assert_eq!(one, two, "same map, same options: same bytes");
    let other = Drive::from_map(
        &map,
        DriveOptions {
            seed: 43,
            ..options()
        },
    )
    .unwrap()
    .replay(10.0);
    assert_ne!(one.epochs[100].bytes, other.epochs[100].bytes);
    assert_eq!(
        one.truth.len(),
        other.truth.len(),
        "the path does not depend on the seed"
    );

    // Decoded by verger's decoder: outages invalid, float episodes, noise of the asked σ.
    let mut decoder = Decoder::new(DecoderConfig::default());
    let (mut fixed, mut float, mut invalid) = (0, 0, 0);
    let mut errors = Vec::new();
    for (i, (epoch, truth)) in one.epochs.iter().zip(&one.truth).enumerate() {
        let mut out = decoder.push(&epoch.bytes, i as u64 * 100_000);
        out.extend(decoder.poll(i as u64 * 100_000 + 50_000));
        assert_eq!(out.len(), 1, "epoch {i}");
        let secs = i as f64 / 10.0;
        match &out[0].outcome {
            EpochOutcome::Fix(fix) => {
                assert!(
                    !(30.0..34.0).contains(&secs),
                    "a fix in the outage at {secs}"
                );
                assert_eq!(fix.heading_deg, fix.course_deg);
                let off = Frame::new(truth.lat, truth.lon).to_local(fix.lat, fix.lon);
                match fix.quality {
                    Quality::RtkFixed => {
                        fixed += 1;
                        errors.push(off.x);
                        errors.push(off.y);
                    }
                    Quality::RtkFloat => float += 1,
                    q => panic!("{q:?}"),
                }
                assert_eq!(EpochQuality::Fix(fix.quality), truth.quality);
            }
            EpochOutcome::NoFix { .. } => {
                assert!((30.0..34.0).contains(&secs), "no fix at {secs}");
                invalid += 1;
            }
        }
    }
    assert_eq!(invalid, 40);
    let float_share = f64::from(float) / f64::from(fixed + float);
    // 2 episodes of 5 s a minute: about a sixth of the time.
    assert!((0.08..0.25).contains(&float_share), "{float_share}");
    let sd = (errors.iter().map(|e| e * e).sum::<f64>() / errors.len() as f64).sqrt();
    assert!((sd - 0.02).abs() < 0.002, "{sd}");
}
