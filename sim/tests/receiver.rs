//! The virtual receiver over a real pseudo-terminal, read back as a program reads its
//! serial port (`verger::tty::Tty`) and decoded by verger's own NMEA decoder.

use std::future::Future;
use std::time::{Duration, Instant};

use verger::nmea::{Decoder, DecoderConfig, Epoch, EpochOutcome, Quality};
use verger::orchard::Frame;
use verger::tty::Tty;
use verger_sim::drive::{parallel_rows, Drive, DriveOptions};
use verger_sim::receiver::{ReceiverConfig, Source, VirtualReceiver};
use verger_sim::track::Track;
use verger_testkit::{nmea_capture_path, TempDir};

async fn within<F: Future>(what: &str, f: F) -> F::Output {
    verger_testkit::within_for(Duration::from_secs(30), what, f).await
}

/// Reads the port until `epochs` receiver epochs are decoded (or the stream ends);
/// the epochs and when the last byte came.
async fn read_epochs(port: &Tty, started: Instant, epochs: usize) -> (Vec<Epoch>, Instant) {
    let mut decoder = Decoder::new(DecoderConfig::default());
    let mut out = Vec::new();
    let mut last_byte = started;
    let mut buf = [0u8; 4096];
    let since = |t: Instant| t.duration_since(started).as_micros() as u64;
    while out.len() < epochs {
        let deadline = decoder.next_deadline();
        let wait = deadline.map_or(Duration::from_secs(5), |d| {
            Duration::from_micros(d.saturating_sub(since(Instant::now())))
        });
        match tokio::time::timeout(wait, port.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => {
                last_byte = Instant::now();
                out.extend(decoder.push(&buf[..n], since(last_byte)));
            }
            Ok(_) => break,
            Err(_) => out.extend(decoder.poll(since(Instant::now()))),
        }
    }
    (out, last_byte)
}

#[tokio::test]
async fn a_short_drive_at_speed_20_reads_back_as_its_truth_on_time() {
    let dir = TempDir::new("receiver-drive");
    let link = dir.path("ttyGNSS");
    let drive = Drive::new(
        &parallel_rows((44.07, 1.09), 0.0, 3, 4.0, 12.0),
        None,
        DriveOptions::default(),
    )
    .unwrap();
    let config = ReceiverConfig {
        speed: 20.0,
        ..ReceiverConfig::default()
    };
    let mut receiver = VirtualReceiver::prepare(&link, &Source::Drive(drive), &config).unwrap();
    let port = Tty::open_serial(&link, 115_200).expect("open the receiver's port");
    let truth = receiver.truth().to_vec();
    let expected = receiver.expected_duration();
    assert!(truth.len() > 300, "{}", truth.len());
    let started = Instant::now();
    receiver.start();
    let (epochs, last_byte) = within("every epoch", read_epochs(&port, started, truth.len())).await;
    let elapsed = last_byte - started;
    let progress = within("the receiver ends", receiver.wait()).await.unwrap();

    assert_eq!(epochs.len(), truth.len());
    for (epoch, t) in epochs.iter().zip(&truth) {
        let EpochOutcome::Fix(fix) = &epoch.outcome else {
            panic!("{epoch:?}");
        };
        assert_eq!(
            fix.time.rfc3339(),
            verger::civil::rfc3339_from_unix_micros(t.time_us, 2)
        );
        let off = Frame::new(t.lat, t.lon).to_local(fix.lat, fix.lon);
        assert!(off.x.hypot(off.y) < 0.001, "{off:?}");
        assert_eq!(fix.quality, Quality::RtkFixed);
        assert!((fix.course_deg.unwrap() - t.course_deg).abs() < 0.001);
    }
    let ratio = elapsed.as_secs_f64() / expected.as_secs_f64();
    eprintln!(
        "{} epochs, {:.1} s of GNSS time at 20x: expected {expected:?}, took {elapsed:?} ({ratio:.3}), latest write {:?} after its instant",
        truth.len(),
        expected.as_secs_f64() * 20.0,
        progress.max_late
    );
    assert!((0.8..1.2).contains(&ratio), "{ratio}");
    assert!(progress.finished && progress.epochs_sent == truth.len());
    assert_eq!(progress.gnss_time_us, Some(truth.last().unwrap().time_us));
    assert_eq!(progress.quality, Some(truth[0].quality));
}

#[tokio::test]
async fn a_real_capture_is_replayed_byte_for_byte_at_its_epoch_times() {
    let dir = TempDir::new("receiver-track");
    let link = dir.path("ttyGNSS");
    let path = nmea_capture_path("gpsd__nmea-rtk.log");
    let track = Track::load(&path).unwrap();
    let config = ReceiverConfig {
        speed: 10.0,
        ..ReceiverConfig::default()
    };
    let mut receiver = VirtualReceiver::prepare(&link, &Source::Track(track), &config).unwrap();
    let port = Tty::open_serial(&link, 115_200).expect("open the receiver's port");
    let expected = receiver.expected_duration();
    let started = Instant::now();
    receiver.start();
    let want: Vec<u8> = std::fs::read(&path)
        .unwrap()
        .split_inclusive(|&b| b == b'\n')
        .filter(|l| !l.starts_with(b"#"))
        .flatten()
        .copied()
        .collect();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    within("the whole capture", async {
        while got.len() < want.len() {
            let n = port.read(&mut buf).await.unwrap();
            assert!(n > 0, "the port hung up");
            got.extend_from_slice(&buf[..n]);
        }
    })
    .await;
    let elapsed = started.elapsed();
    assert_eq!(got, want);
    let ratio = elapsed.as_secs_f64() / expected.as_secs_f64();
    assert!(
        (0.8..1.2).contains(&ratio),
        "{ratio}: {elapsed:?} for {expected:?}"
    );
    let progress = receiver.progress();
    assert_eq!(
        progress.quality,
        Some(verger_sim::nmea_out::EpochQuality::RTK_FIXED)
    );
    assert_eq!(receiver.truth().len(), 122);
}
