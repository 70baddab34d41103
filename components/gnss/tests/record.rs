//! `verger record` (the library behind it) from a real pty, then `--file` replay of the
//! recording through the component: same bytes, same epochs, timing preserved (scaled).
//! Time assertions are lower bounds only (sleeps never end early), so a slow machine
//! cannot make them fail.

use std::time::Duration;

use tokio::time::Instant;
use verger::contract::gnss::{FixPayload, FIX_TOPIC};
use verger::record::format::{self, Item};
use verger::source::{Pacing, ReaderOptions, SourceSpec};
use verger_gnss::GnssConfig;
use verger_testkit::*;

const GAP: Duration = Duration::from_millis(100);
const SPEED: f64 = 4.0;

/// `$body*CS\r\n`.
fn sentence(body: &str) -> Vec<u8> {
    let cs = body.bytes().fold(0u8, |a, b| a ^ b);
    format!("${body}*{cs:02X}\r\n").into_bytes()
}

/// Write a TXT sentence (as receivers send at power-up) until the recorder has put one
/// in its file: then it has the port open and records. Returns the probe sentence.
async fn wait_until_recording(pty: &mut Pty, out: &std::path::Path) -> Vec<u8> {
    let probe = sentence("GPTXT,01,01,02,verger record probe");
    within("the recorder records", async {
        loop {
            pty.write(&probe).await;
            // The recorder flushes its file every 200 ms.
            for _ in 0..10 {
                tokio::time::sleep(Duration::from_millis(50)).await;
                let file = std::fs::read(out).unwrap_or_default();
                if file.windows(probe.len()).any(|w| w == probe) {
                    return;
                }
            }
        }
    })
    .await;
    probe
}

#[tokio::test]
async fn record_then_replay_keeps_bytes_epochs_and_timing() {
    init_logging();
    let dir = TempDir::new("record");
    let link = dir.path("ttyGNSS");
    let out = dir.path("track.nmea");
    let mut pty = Pty::open(&link);
    let epochs = nmea_epochs(&nmea_capture("gpsd__nmea-rtk.log"));
    let epochs = &epochs[..8];

    let stop = verger::component::CancellationToken::new();
    let spec = SourceSpec::Serial {
        path: link.clone(),
        baud: 115_200,
    };
    let recorder = tokio::spawn({
        let out = out.clone();
        let stop = stop.clone();
        async move { verger::record::run(spec, &out, ReaderOptions::default(), stop).await }
    });
    let probe = wait_until_recording(&mut pty, &out).await;
    let mut written = Vec::new();
    for (_, bytes) in epochs {
        // Split each epoch mid-line, as a serial driver delivers it.
        let (a, b) = bytes.split_at(bytes.len() / 3);
        pty.write(a).await;
        tokio::time::sleep(Duration::from_millis(5)).await;
        pty.write(b).await;
        written.extend_from_slice(bytes);
        tokio::time::sleep(GAP).await;
    }
    stop.cancel();
    let summary = within("recorder stops", recorder)
        .await
        .unwrap()
        .expect("record");

    // The file: a header, then records whose bytes are exactly what was written (the
    // probes first), at line boundaries, with times that keep the gaps.
    let file = std::fs::read(&out).unwrap();
    assert!(file.starts_with(b"# verger record v1 source=serial:"));
    let mut all = Vec::new();
    let mut replayed = Vec::new();
    let mut times = Vec::new();
    for item in format::read_all(&file) {
        match item {
            Item::Timed { t, bytes } => {
                assert!(bytes.ends_with(b"\n"), "records end at line ends");
                all.extend_from_slice(&bytes);
                let only_probes = bytes.chunks(probe.len()).all(|c| c == probe);
                if !(replayed.is_empty() && only_probes) {
                    times.push(t);
                    replayed.extend(bytes);
                }
            }
            Item::Plain(p) => panic!("plain data in a recording: {p:?}"),
        }
    }
    assert_eq!(replayed, written);
    assert_eq!(summary.bytes, all.len() as u64);
    let span = *times.last().unwrap() - times[0];
    assert!(span >= GAP * 7, "recorded span {span:?}");
    // Line-oriented tools that skip `#` lines see exactly the NMEA lines.
    let lines: Vec<&[u8]> = file
        .split_inclusive(|&b| b == b'\n')
        .filter(|l| !l.starts_with(b"#"))
        .collect();
    assert_eq!(lines.concat(), all);

    // Replay through the component at SPEED: the same epochs, spread over at least the
    // recorded span / SPEED.
    let router = start_test_router().await;
    let observer = connect(&router.url()).await;
    let mut fixes = subscribe(&observer, FIX_TOPIC, false).await;
    let spec = SourceSpec::File {
        path: out.clone(),
        pacing: Pacing {
            speed: SPEED,
            ..Pacing::default()
        },
    };
    let started = Instant::now();
    let gnss = InProcess::start(&router.url(), |c, s| {
        verger_gnss::run(c, GnssConfig::new(spec), s)
    });
    let mut arrivals = Vec::new();
    for (t, _) in epochs {
        let e = next_event(&mut fixes, "replayed fix").await;
        arrivals.push(Instant::now());
        assert_eq!(
            kwargs_of::<FixPayload>(&e).time,
            format!("2020-03-18T{}Z", rfc3339_time_part(t))
        );
    }
    gnss.finished().await.expect("replay ends");
    // The replay slept at least the recorded span / SPEED in all ...
    let total = *arrivals.last().unwrap() - started;
    assert!(
        total >= span.div_f64(SPEED),
        "replayed in {total:?}, recorded {span:?}"
    );
    // ... and spread the epochs out (from the 2nd: the decoder may close the very first
    // epoch later, by silence, before it knows the receiver's cycle).
    let spread = *arrivals.last().unwrap() - arrivals[1];
    let want = (GAP * 6).mul_f64(0.8 / SPEED);
    assert!(
        spread >= want,
        "epochs 2..8 replayed over {spread:?}, want >= {want:?}"
    );
    router.shutdown().await.unwrap();
}
